#include "sandbox.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sandbox_landlock.h"
#include "sandbox_privs.h"
#include "sandbox_seccomp.h"

const char *sandbox_role_name(enum sandbox_role r)
{
    switch (r) {
    case SANDBOX_WORKER:
        return "worker";
    case SANDBOX_AUTH:
        return "auth";
    default:
        return "supervisor";
    }
}

int sandbox_enter(const struct sandbox_plan *p, char *err, size_t errlen)
{
    const char *who = sandbox_role_name(p->role);
    if (p->n_read_files > SANDBOX_MAX_PATHS || p->n_write_files > SANDBOX_MAX_PATHS) {
        snprintf(err, errlen, "too many Landlock paths");
        return -1;
    }
    if (p->n_keep > SANDBOX_MAX_KEEP || sandbox_close_fds_except(p->keep_fds, p->n_keep) != 0) {
        snprintf(err, errlen, "closing descriptors: %s", strerror(errno));
        return -1;
    }
    if (p->switch_user) {
        if (sandbox_switch_user(p->uid, p->gid, p->allow_root, err, errlen) != 0)
            return -1;
    } else if (p->role == SANDBOX_SUPERVISOR && geteuid() == 0) {
        if (sandbox_limit_caps(err, errlen) != 0)
            return -1;
    }
    /* After the switch: a uid change resets the dumpable flag. */
    if (sandbox_no_core(err, errlen) != 0)
        return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
        return -1;
    }
    const struct sandbox_paths paths = {p->read_files, p->n_read_files, p->write_files,
                                        p->n_write_files};
    int abi = sandbox_landlock(p->role, &paths, err, errlen);
    if (abi < 0)
        return -1;
    if (sandbox_sigsys_install(p->report_fd, who) != 0) {
        snprintf(err, errlen, "sigaction(SIGSYS): %s", strerror(errno));
        return -1;
    }
    char landlock[48];
    if (abi > 0)
        snprintf(landlock, sizeof(landlock), "Landlock ABI %d", abi);
    else
        snprintf(landlock, sizeof(landlock), "no Landlock (the kernel has none)");
    log_info("sandbox: uid %u gid %u, no_new_privs, %s, seccomp allow-list of %zu entries",
             (unsigned)getuid(), (unsigned)getgid(), landlock,
             sandbox_seccomp_each(p->role, NULL, NULL));
    return sandbox_seccomp_load(p->role, err, errlen);
}

int sandbox_watch(enum sandbox_role role, int report_fd)
{
    return sandbox_sigsys_install(report_fd, sandbox_role_name(role));
}

int sandbox_start_role(const struct sandbox_plan *p, bool insecure)
{
    if (insecure) {
        sandbox_warn_insecure();
        return 0;
    }
    char err[512];
    if (sandbox_enter(p, err, sizeof(err)) == 0)
        return 0;
    log_error("sandbox: %s; stopping (--insecure-no-sandbox skips the sandbox, for debugging "
              "only)",
              err);
    return -1;
}

void sandbox_warn_insecure(void)
{
    log_warn("*** --insecure-no-sandbox: this process runs WITHOUT privilege drop, seccomp or "
             "Landlock. For debugging only; never run it like this in production. ***");
}

int sandbox_report_parse(const void *buf, size_t len, int32_t *nr, uint32_t *arch)
{
    const unsigned char *b = buf;
    if (len != SANDBOX_REPORT_LEN || b[0] != SANDBOX_REPORT_TAG)
        return -1;
    memcpy(nr, b + 1, sizeof(*nr));
    memcpy(arch, b + 5, sizeof(*arch));
    return 0;
}

#ifdef BULWARK_TEST_HOOKS
void sandbox_test_violation(void)
{
    log_warn("test hook: making a forbidden system call (socket)");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        log_warn("test hook: the socket was allowed (no sandbox)");
        close(fd);
    }
}
#endif
