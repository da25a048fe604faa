/* sandbox_seccomp: one seccomp allow-list per role, built with libseccomp from syscall
 * names (never numbers), so the same tables hold on x86_64 and aarch64.
 *
 * Promises:
 *  - A role's filter allows exactly its tables (a name the target architecture lacks is
 *    skipped there); anything else traps: the call is not executed and the process gets a
 *    SIGSYS it cannot ignore, block or catch twice. A foreign architecture's system call
 *    (e.g. i386 on x86_64) kills the process.
 *  - The supervisor's filter is inherited by the roles and stacks with theirs, so it allows
 *    the union of its own list, the roles' start-up list and both roles' lists.
 *  - sandbox_sigsys_install() makes a trapped call report 'S' + number + arch on report_fd
 *    and a line on stderr, then die by SIGSYS (default action, no core). */
#ifndef BULWARK_SANDBOX_SECCOMP_H
#define BULWARK_SANDBOX_SECCOMP_H

#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox.h"

enum sandbox_arg {
    SB_ANY,         /* no argument check */
    SB_NO_EXEC,     /* mmap, mprotect: prot without PROT_EXEC */
    SB_SELF,        /* tgkill: only this process's own (main) thread */
    SB_READ_ONLY,   /* openat: no write access, O_CREAT, O_TRUNC or O_APPEND */
    SB_FD_FLAGS,    /* fcntl: F_GETFD, F_SETFD, F_GETFL, F_SETFL only */
    SB_TCP_NODELAY, /* setsockopt: IPPROTO_TCP / TCP_NODELAY only */
    SB_UNIX,        /* socketpair: AF_UNIX only */
    SB_FORK,        /* clone: a child process; no thread, no new namespace */
    SB_ENOSYS,      /* answered ENOSYS, never executed (clone3: glibc falls back to clone) */
    SB_SOCK_TIMEO,  /* setsockopt: SOL_SOCKET / SO_RCVTIMEO or SO_SNDTIMEO only */
};

struct sandbox_syscall {
    const char *name; /* as libseccomp spells it */
    enum sandbox_arg arg;
};

/* Calls fn for every entry of the role's filter, in table order (an entry may repeat across
 * the supervisor's tables). Returns the number of entries. */
size_t sandbox_seccomp_each(enum sandbox_role role,
                            void (*fn)(const struct sandbox_syscall *e, void *ctx), void *ctx);

/* What an argument check means, in one word for listings ("" for SB_ANY). */
const char *sandbox_arg_desc(enum sandbox_arg a);

/* Builds the role's filter for arch (0: this machine's), with self as the pid SB_SELF
 * allows. Returns NULL with err filled on failure (e.g. a name libseccomp does not know). */
scmp_filter_ctx sandbox_seccomp_build(enum sandbox_role role, uint32_t arch, pid_t self, char *err,
                                      size_t errlen);

/* Builds and loads the role's filter into this process. Returns 0 or -1 with err. */
int sandbox_seccomp_load(enum sandbox_role role, char *err, size_t errlen);

/* Installs the SIGSYS reporter (see above); who names the role in the stderr line. */
int sandbox_sigsys_install(int report_fd, const char *who);

/* The name of system call nr on this machine's architecture, or "#nr". */
const char *sandbox_syscall_name(int32_t nr, char *buf, size_t len);

#endif
