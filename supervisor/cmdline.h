/* cmdline: bulwarkd's command line, shared by every role.
 *
 * Promises: the supervisor re-executes the binary with its own arguments plus the
 * role arguments (--role, --ctl-fd, --ipc-fd, --key-fd, --listen-fd, --run-as), so every role loads
 * the same configuration the same way. Errors are written into err, ready for the user. */
#ifndef BULWARK_CMDLINE_H
#define BULWARK_CMDLINE_H

#include "config.h"

enum role { ROLE_SUPERVISOR = 0, ROLE_WORKER = 1, ROLE_AUTH = 2 };

struct cmdline {
    enum role role;
    const char *config_path; /* -c FILE, or NULL */
    int ctl_fd;              /* control channel to the supervisor (roles only) */
    int ipc_fd;              /* worker <-> auth channel (roles only) */
    int key_fd;              /* worker <-> auth handshake-signature channel (roles only) */
    int listen_fds[CONFIG_MAX_LISTENERS];
    size_t n_listen_fds;
    bool help;
    bool version;
    bool no_sandbox;         /* --insecure-no-sandbox: debugging only, warned in every role */
    bool selftest;           /* --sandbox-selftest ROLE: run the sandbox selftest and exit */
    enum role selftest_role; /* ... for this role */
    bool run_as;             /* --run-as UID:GID (roles only): the ids to drop to */
    uint32_t run_uid;
    uint32_t run_gid;
};

const char *role_name(enum role r);
/* Parses argv and loads the configuration into *cfg (file first, then command-line
 * listeners and flags on top). Returns 0 or -1 with err filled. */
int cmdline_parse(int argc, char **argv, struct cmdline *cl, struct config *cfg, char *err,
                  size_t errlen);
void cmdline_usage(void);

#endif
