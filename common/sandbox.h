/* sandbox: confines a role once its setup is done (docs/HARDENING.md).
 *
 * Promises: sandbox_enter() runs these steps in order and stops at the first failure:
 *  1. closes every descriptor above 2 that is not in keep_fds;
 *  2. switches to the planned uid and gid for good (no supplementary groups; uid or gid 0
 *     only with allow_root), or keeps the current ids when switch_user is false; the
 *     supervisor, when root, keeps only the capabilities it needs to start the roles;
 *  3. sets RLIMIT_CORE to 0, makes the process non-dumpable, sets no_new_privs;
 *  4. confines file access, TCP bind/connect and signals with Landlock where the kernel
 *     has it (logged and skipped where it does not);
 *  5. installs the SIGSYS reporter and loads the role's seccomp allow-list. A system call
 *     not on the list is never executed: the process reports its number on report_fd and
 *     dies by SIGSYS.
 * On failure it returns -1 with err filled: the caller must exit, never run unconfined.
 * Nothing here allocates after the filter is loaded. */
#ifndef BULWARK_SANDBOX_H
#define BULWARK_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Same numbers as enum role (supervisor/cmdline.h). */
enum sandbox_role { SANDBOX_SUPERVISOR = 0, SANDBOX_WORKER = 1, SANDBOX_AUTH = 2 };

#define SANDBOX_MAX_KEEP 64
#define SANDBOX_MAX_PATHS 8

struct sandbox_plan {
    enum sandbox_role role;
    bool switch_user; /* false: keep the current ids (bulwarkd was not started as root) */
    uid_t uid;
    gid_t gid;
    bool allow_root;     /* sandbox.allow_root: uid/gid 0 accepted */
    const int *keep_fds; /* descriptors above 2 that stay open */
    size_t n_keep;       /* at most SANDBOX_MAX_KEEP */
    /* Landlock: files the auth daemon re-reads (the configuration, the policy): reading
     * beneath each one's directory stays allowed. */
    const char *read_files[SANDBOX_MAX_PATHS];
    size_t n_read_files;
    /* Landlock: files a role creates or writes before its own sandbox (the audit log): the
     * supervisor keeps writing beneath each one's directory allowed for the whole tree. */
    const char *write_files[SANDBOX_MAX_PATHS];
    size_t n_write_files;
    int report_fd; /* SIGSYS reports ('S' messages) go here; -1: none */
};

int sandbox_enter(const struct sandbox_plan *p, char *err, size_t errlen);

/* Installs the violation reporter at once, so that a forbidden call during a role's setup
 * (under the supervisor's inherited filter) is reported too. Returns 0 or -1 (errno). */
int sandbox_watch(enum sandbox_role role, int report_fd);

/* A role's entry point: with insecure (--insecure-no-sandbox) only the loud warning;
 * otherwise sandbox_enter(), logging the error. Returns 0, or -1: the role must exit. */
int sandbox_start_role(const struct sandbox_plan *p, bool insecure);

/* Logs, as a warning, that this process runs with no sandbox at all (--insecure-no-sandbox). */
void sandbox_warn_insecure(void);

const char *sandbox_role_name(enum sandbox_role r);

/* A violation report on a control channel: tag 'S', then the system call number and the
 * AUDIT_ARCH value, each 4 bytes in host order (both ends are the same binary). */
#define SANDBOX_REPORT_TAG 'S'
#define SANDBOX_REPORT_LEN 9
/* Returns 0 and fills *nr and *arch if buf holds exactly one report, -1 otherwise. */
int sandbox_report_parse(const void *buf, size_t len, int32_t *nr, uint32_t *arch);

/* The ASan build is the test build: it alone carries the test hooks. */
#if defined(__SANITIZE_ADDRESS__) && !defined(BULWARK_TEST_HOOKS)
#define BULWARK_TEST_HOOKS 1
#endif

#ifdef BULWARK_TEST_HOOKS
/* Test builds only: makes a system call no role may make (a TCP socket), as an exploit
 * would, so tests can watch the sandbox kill the role and the supervisor restart it. */
void sandbox_test_violation(void);
#endif

#endif
