#include "sandbox_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* --- the allow-lists ----------------------------------------------------------------------
 * A name missing on an architecture (open, poll, epoll_wait on aarch64) is skipped there:
 * each entry that matters has its other-architecture spelling next to it. */

/* What the worker and the auth daemon both do once set up. */
static const struct sandbox_syscall role_common[] = {
    /* descriptors they already hold */
    {"read", SB_ANY},
    {"write", SB_ANY},
    {"close", SB_ANY},
    {"fcntl", SB_FD_FLAGS},
    {"sendto", SB_ANY},  /* send() on the worker<->auth channel */
    {"recvmsg", SB_ANY}, /* control channel: a new worker<->auth channel (SCM_RIGHTS) */
    /* memory: malloc, libsodium's argon2, the ASan runtime; never executable */
    {"brk", SB_ANY},
    {"mmap", SB_NO_EXEC},
    {"mprotect", SB_NO_EXEC},
    {"munmap", SB_ANY},
    {"mremap", SB_ANY},
    {"madvise", SB_ANY},
    /* time, randomness, the pid in log lines */
    {"clock_gettime", SB_ANY},
    {"gettimeofday", SB_ANY},
    {"getpid", SB_ANY},
    {"gettid", SB_ANY},
    {"getrandom", SB_ANY},
    {"sched_yield", SB_ANY}, /* the ASan runtime's spin locks */
    /* leaving: exit, abort(), the SIGSYS reporter (which signals only itself) */
    {"exit_group", SB_ANY},
    {"exit", SB_ANY},
    {"rt_sigreturn", SB_ANY},
    {"restart_syscall", SB_ANY},
    {"rt_sigprocmask", SB_ANY},
    {"tgkill", SB_SELF},
};

#ifdef __SANITIZE_ADDRESS__
/* Test (ASan) builds only: what the sanitizer runtime itself needs at run time and exit. None
 * of it is an operation the selftest probes, and the selftest runs against both builds. */
static const struct sandbox_syscall asan_runtime[] = {
    {"sigaltstack", SB_ANY}, /* the alternate signal stack is torn down at exit */
};
#endif

/* The worker's epoll loop. */
static const struct sandbox_syscall worker_only[] = {
    {"epoll_wait", SB_ANY},  {"epoll_pwait", SB_ANY}, /* aarch64 has no epoll_wait */
    {"epoll_ctl", SB_ANY},   {"accept4", SB_ANY},     {"setsockopt", SB_TCP_NODELAY},
    {"getpeername", SB_ANY}, /* the client's address for log lines */
    {"writev", SB_ANY},      /* one gathered write per connection and loop turn */
};

/* The auth daemon's poll loop, its configuration and policy re-read on SIGHUP (Landlock
 * confines reading to their directories) and its audit log, written through descriptors
 * opened before the sandbox. */
static const struct sandbox_syscall auth_only[] = {
    {"poll", SB_ANY},
    {"ppoll", SB_ANY}, /* aarch64 has no poll */
    {"openat", SB_READ_ONLY},
    {"pwrite64", SB_ANY},  /* the audit log's head file, opened before the sandbox */
    {"ftruncate", SB_ANY}, /* ... cut when a stale longer record was there */
};

/* The supervisor's own loop: signals, children, control channels. */
static const struct sandbox_syscall supervisor_only[] = {
    {"poll", SB_ANY},
    {"ppoll", SB_ANY},
    {"read", SB_ANY},
    {"write", SB_ANY},
    {"close", SB_ANY},
    {"fcntl", SB_ANY},
    {"socketpair", SB_UNIX},
    {"setsockopt", SB_SOCK_TIMEO}, /* the worker's wait for a handshake signature is bounded */
    {"sendmsg", SB_ANY},  /* handing a worker<->auth channel over (SCM_RIGHTS) */
    {"recvfrom", SB_ANY}, /* violation reports from the roles */
    {"clone", SB_FORK},
    {"clone3", SB_ENOSYS},
    {"execve", SB_ANY}, /* re-executing itself as a role */
    {"wait4", SB_ANY},
    {"kill", SB_ANY},
    {"tgkill", SB_ANY}, /* a role's abort() and SIGSYS reporter pass this filter too */
    {"prctl", SB_ANY},  /* PR_SET_PDEATHSIG in a new child */
    {"rt_sigprocmask", SB_ANY},
    {"set_robust_list", SB_ANY}, /* glibc's fork, in the child */
    {"clock_gettime", SB_ANY},
    {"gettimeofday", SB_ANY},
    {"getpid", SB_ANY},
    {"brk", SB_ANY},
    {"mmap", SB_ANY},
    {"munmap", SB_ANY},
    {"exit_group", SB_ANY},
    {"rt_sigreturn", SB_ANY},
    {"restart_syscall", SB_ANY},
};

/* A role between its execve and its own filter runs under the supervisor's: the dynamic
 * loader and libc start-up, reading the configuration, the role's setup, and the sandbox's
 * own steps. (Measured with strace -f on both builds; aarch64 spellings alongside.) */
static const struct sandbox_syscall role_startup[] = {
    /* loader and libc */
    {"execve", SB_ANY},
    {"arch_prctl", SB_ANY},
    {"set_tid_address", SB_ANY},
    {"set_robust_list", SB_ANY},
    {"rseq", SB_ANY},
    {"prlimit64", SB_ANY},
    {"access", SB_ANY},
    {"faccessat", SB_ANY},
    {"openat", SB_ANY},
    {"newfstatat", SB_ANY},
    {"fstat", SB_ANY},
    {"pread64", SB_ANY},
    {"lseek", SB_ANY},
    {"mprotect", SB_ANY}, /* the loader maps libraries executable */
    /* the roles' setup */
    {"rt_sigaction", SB_ANY},
    {"signalfd4", SB_ANY},
    {"epoll_create1", SB_ANY},
    /* the sandbox: realpath() of the configuration, the user switch and its checks, the
     * filters */
    {"readlink", SB_ANY},
    {"readlinkat", SB_ANY},
    {"getcwd", SB_ANY},
    {"close_range", SB_ANY},
    {"getuid", SB_ANY},
    {"getgid", SB_ANY},
    {"getresuid", SB_ANY},
    {"getresgid", SB_ANY},
    {"getgroups", SB_ANY},
    {"setgroups", SB_ANY},
    {"setresgid", SB_ANY},
    {"setresuid", SB_ANY},
    {"setuid", SB_ANY}, /* the check that uid 0 cannot be regained */
    {"flock", SB_ANY},  /* the auth daemon's audit log: one writer only */
    {"landlock_create_ruleset", SB_ANY},
    {"landlock_add_rule", SB_ANY},
    {"landlock_restrict_self", SB_ANY},
    {"seccomp", SB_ANY},
};

#ifdef __SANITIZE_ADDRESS__
/* Test (ASan) builds only: the sanitizer runtime's start-up opens /proc files with open(). */
static const struct sandbox_syscall asan_startup[] = {
    {"open", SB_ANY},
};
#endif

struct table {
    const struct sandbox_syscall *rows;
    size_t n;
};

#define MAX_TABLES 7

/* The tables making up a role's filter; returns how many. */
static size_t tables_of(enum sandbox_role role, struct table out[MAX_TABLES])
{
    size_t n = 0;
    if (role == SANDBOX_SUPERVISOR) {
        out[n++] = (struct table){supervisor_only, N(supervisor_only)};
        out[n++] = (struct table){role_startup, N(role_startup)};
#ifdef __SANITIZE_ADDRESS__
        out[n++] = (struct table){asan_startup, N(asan_startup)};
#endif
    }
    out[n++] = (struct table){role_common, N(role_common)};
    if (role != SANDBOX_AUTH)
        out[n++] = (struct table){worker_only, N(worker_only)};
    if (role != SANDBOX_WORKER)
        out[n++] = (struct table){auth_only, N(auth_only)};
#ifdef __SANITIZE_ADDRESS__
    out[n++] = (struct table){asan_runtime, N(asan_runtime)};
#endif
    return n;
}

size_t sandbox_seccomp_each(enum sandbox_role role,
                            void (*fn)(const struct sandbox_syscall *e, void *ctx), void *ctx)
{
    struct table t[MAX_TABLES];
    size_t nt = tables_of(role, t), count = 0;
    for (size_t i = 0; i < nt; i++)
        for (size_t j = 0; j < t[i].n; j++, count++)
            if (fn)
                fn(&t[i].rows[j], ctx);
    return count;
}

const char *sandbox_arg_desc(enum sandbox_arg a)
{
    switch (a) {
    case SB_NO_EXEC:
        return "no-PROT_EXEC";
    case SB_SELF:
        return "self-only";
    case SB_READ_ONLY:
        return "read-only";
    case SB_FD_FLAGS:
        return "F_GETFD/F_SETFD/F_GETFL/F_SETFL";
    case SB_TCP_NODELAY:
        return "TCP_NODELAY-only";
    case SB_UNIX:
        return "AF_UNIX-only";
    case SB_FORK:
        return "no-thread/no-namespace";
    case SB_ENOSYS:
        return "ENOSYS";
    case SB_SOCK_TIMEO:
        return "SO_RCVTIMEO/SO_SNDTIMEO-only";
    default:
        return "";
    }
}

/* --- building ------------------------------------------------------------------------------ */

#define NS_FLAGS                                                                                   \
    (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |  \
     CLONE_NEWNET)

static int add_rule(scmp_filter_ctx ctx, int nr, const struct sandbox_syscall *e, pid_t self)
{
    uint32_t allow = SCMP_ACT_ALLOW;
    switch (e->arg) {
    case SB_ANY:
        return seccomp_rule_add(ctx, allow, nr, 0);
    case SB_NO_EXEC:
        return seccomp_rule_add(ctx, allow, nr, 1, SCMP_A2_32(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    case SB_SELF:
        return seccomp_rule_add(ctx, allow, nr, 2, SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)self),
                                SCMP_A1_32(SCMP_CMP_EQ, (uint32_t)self));
    case SB_READ_ONLY:
        return seccomp_rule_add(
            ctx, allow, nr, 1,
            SCMP_A2_32(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, O_RDONLY));
    case SB_FD_FLAGS: {
        static const int cmds[] = {F_GETFD, F_SETFD, F_GETFL, F_SETFL};
        for (size_t i = 0; i < N(cmds); i++) {
            int rc = seccomp_rule_add(ctx, allow, nr, 1, SCMP_A1_32(SCMP_CMP_EQ, cmds[i]));
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    case SB_TCP_NODELAY:
        return seccomp_rule_add(ctx, allow, nr, 2, SCMP_A1_32(SCMP_CMP_EQ, IPPROTO_TCP),
                                SCMP_A2_32(SCMP_CMP_EQ, TCP_NODELAY));
    case SB_UNIX:
        return seccomp_rule_add(ctx, allow, nr, 1, SCMP_A0_32(SCMP_CMP_EQ, AF_UNIX));
    case SB_FORK:
        return seccomp_rule_add(ctx, allow, nr, 1,
                                SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD | NS_FLAGS, 0));
    case SB_ENOSYS:
        return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
    case SB_SOCK_TIMEO: {
        static const int opts[] = {SO_RCVTIMEO, SO_SNDTIMEO};
        for (size_t i = 0; i < N(opts); i++) {
            int rc = seccomp_rule_add(ctx, allow, nr, 2, SCMP_A1_32(SCMP_CMP_EQ, SOL_SOCKET),
                                      SCMP_A2_32(SCMP_CMP_EQ, (uint32_t)opts[i]));
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    }
    return -EINVAL;
}

struct build {
    scmp_filter_ctx ctx;
    uint32_t arch;
    pid_t self;
    int rc;
    const char *bad; /* the entry that failed */
};

static void add_entry(const struct sandbox_syscall *e, void *arg)
{
    struct build *b = arg;
    if (b->rc != 0)
        return;
    if (seccomp_syscall_resolve_name(e->name) == __NR_SCMP_ERROR) {
        b->rc = -ENOENT;
        b->bad = e->name;
        return;
    }
    if (seccomp_syscall_resolve_name_arch(b->arch, e->name) < 0)
        return; /* not on this arch */
    /* Rules take the native (or libseccomp's pseudo) number; libseccomp maps it per arch. */
    int rc = add_rule(b->ctx, seccomp_syscall_resolve_name(e->name), e, b->self);
    if (rc != 0) {
        b->rc = rc;
        b->bad = e->name;
    }
}

scmp_filter_ctx sandbox_seccomp_build(enum sandbox_role role, uint32_t arch, pid_t self, char *err,
                                      size_t errlen)
{
    uint32_t native = seccomp_arch_native();
    if (arch == 0)
        arch = native;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    if (!ctx) {
        snprintf(err, errlen, "seccomp_init failed");
        return NULL;
    }
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc == 0 && arch != native) {
        rc = seccomp_arch_add(ctx, arch);
        if (rc == 0)
            rc = seccomp_arch_remove(ctx, native);
    }
    if (rc != 0) {
        snprintf(err, errlen, "seccomp filter setup: %s", strerror(-rc));
        seccomp_release(ctx);
        return NULL;
    }
    struct build b = {.ctx = ctx, .arch = arch, .self = self};
    sandbox_seccomp_each(role, add_entry, &b);
    if (b.rc != 0) {
        snprintf(err, errlen, "seccomp rule for '%s': %s", b.bad,
                 b.rc == -ENOENT ? "libseccomp does not know this system call" : strerror(-b.rc));
        seccomp_release(ctx);
        return NULL;
    }
    return ctx;
}

int sandbox_seccomp_load(enum sandbox_role role, char *err, size_t errlen)
{
    scmp_filter_ctx ctx = sandbox_seccomp_build(role, 0, getpid(), err, errlen);
    if (!ctx)
        return -1;
    int rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc != 0) {
        snprintf(err, errlen, "seccomp_load: %s", strerror(-rc));
        return -1;
    }
    return 0;
}

const char *sandbox_syscall_name(int32_t nr, char *buf, size_t len)
{
    char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (name) {
        snprintf(buf, len, "%s", name);
        free(name);
    } else {
        snprintf(buf, len, "#%d", (int)nr);
    }
    return buf;
}

/* --- the SIGSYS reporter ------------------------------------------------------------------- */

static int report_fd = -1;
static pid_t report_pid;
static char report_who[16];

/* Async-signal-safe decimal formatting. */
static size_t put_num(char *out, long v)
{
    char tmp[24];
    size_t n = 0, o = 0;
    if (v < 0) {
        out[o++] = '-';
        v = -v;
    }
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < sizeof(tmp));
    while (n)
        out[o++] = tmp[--n];
    return o;
}

static size_t put_str(char *out, const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        out[n] = s[n];
    return n;
}

static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    int saved = errno;
    int32_t nr = si->si_syscall;
    uint32_t arch = si->si_arch;
    unsigned char msg[SANDBOX_REPORT_LEN];
    msg[0] = SANDBOX_REPORT_TAG;
    memcpy(msg + 1, &nr, sizeof(nr));
    memcpy(msg + 5, &arch, sizeof(arch));
    if (report_fd >= 0) {
        ssize_t w = write(report_fd, msg, sizeof(msg));
        (void)w;
    }
    char line[128];
    size_t n = put_str(line, report_who);
    line[n++] = '[';
    n += put_num(line + n, report_pid);
    n += put_str(line + n, "]: sandbox violation: system call ");
    n += put_num(line + n, nr);
    n += put_str(line + n, " is not allowed; the process is killed\n");
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
    /* SA_RESETHAND restored the default action and SIGSYS stays blocked until this handler
     * returns: the signal then kills the process before the code after the forbidden call
     * runs. Should tgkill itself be refused, the kernel forces the default action. */
    syscall(SYS_tgkill, report_pid, report_pid, sig);
    errno = saved;
}

int sandbox_sigsys_install(int fd, const char *who)
{
    report_fd = fd;
    report_pid = getpid();
    snprintf(report_who, sizeof(report_who), "%s", who);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigfillset(&sa.sa_mask);
    return sigaction(SIGSYS, &sa, NULL);
}
