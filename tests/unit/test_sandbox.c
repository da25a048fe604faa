/* Unit tests for common/sandbox*.c: the allow-list tables on x86_64 and aarch64, the filter
 * and its SIGSYS reporter in forked children, descriptor closing, users, capabilities and
 * Landlock. (The full per-role probe table runs as `bulwarkd --sandbox-selftest ROLE` in the
 * integration suite.) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"
#include "sandbox_landlock.h"
#include "sandbox_privs.h"
#include "sandbox_seccomp.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const enum sandbox_role roles[] = {SANDBOX_SUPERVISOR, SANDBOX_WORKER, SANDBOX_AUTH};
static const uint32_t arches[] = {SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64};

/* --- the tables ------------------------------------------------------------------------ */

struct lookup {
    const char *name;
    bool found;
    enum sandbox_arg arg;
};

static void find_entry(const struct sandbox_syscall *e, void *ctx)
{
    struct lookup *l = ctx;
    if (strcmp(e->name, l->name) == 0 && (!l->found || e->arg == SB_ANY)) {
        l->found = true;
        l->arg = e->arg;
    }
}

static bool listed(enum sandbox_role role, const char *name, enum sandbox_arg *arg)
{
    struct lookup l = {.name = name};
    sandbox_seccomp_each(role, find_entry, &l);
    if (arg)
        *arg = l.arg;
    return l.found;
}

static void test_tables_build_on_both_arches(void **state)
{
    (void)state;
    char err[256];
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_true(devnull >= 0);
    for (size_t r = 0; r < N(roles); r++) {
        for (size_t a = 0; a < N(arches); a++) {
            scmp_filter_ctx ctx =
                sandbox_seccomp_build(roles[r], arches[a], 4242, err, sizeof(err));
            if (!ctx)
                fail_msg("%s on arch %#x: %s", sandbox_role_name(roles[r]), arches[a], err);
            assert_int_equal(seccomp_arch_exist(ctx, arches[a]), 0);
            assert_int_equal(seccomp_export_bpf(ctx, devnull), 0);
            seccomp_release(ctx);
        }
    }
    close(devnull);
}

static void every_name_known(const struct sandbox_syscall *e, void *ctx)
{
    (void)ctx;
    if (seccomp_syscall_resolve_name(e->name) == __NR_SCMP_ERROR)
        fail_msg("'%s' is not a system call libseccomp knows", e->name);
    bool somewhere = false;
    for (size_t a = 0; a < N(arches); a++)
        somewhere |= seccomp_syscall_resolve_name_arch(arches[a], e->name) >= 0;
    if (!somewhere)
        fail_msg("'%s' exists on neither x86_64 nor aarch64", e->name);
}

static void test_every_name_is_real(void **state)
{
    (void)state;
    for (size_t r = 0; r < N(roles); r++)
        assert_true(sandbox_seccomp_each(roles[r], every_name_known, NULL) > 20);
}

/* Each '|'-list is one thing the role does; on each arch one spelling must be allowed. */
static const char *const worker_needs[] = {
    "read",        "write",      "writev",       "close",   "epoll_wait|epoll_pwait",
    "epoll_ctl",   "accept4",    "sendto",       "recvmsg", "setsockopt",
    "getpeername", "mmap",       "munmap",       "brk",     "clock_gettime",
    "getrandom",   "exit_group", "rt_sigreturn", "tgkill",  "getpid",
};
static const char *const auth_needs[] = {
    "read",       "write",        "close",  "poll|ppoll", "openat",        "sendto",
    "recvmsg",    "mmap",         "munmap", "brk",        "clock_gettime", "getrandom",
    "exit_group", "rt_sigreturn", "tgkill", "getpid",
};
static const char *const supervisor_needs[] = {
    "poll|ppoll",
    "clone",
    "execve",
    "wait4",
    "kill",
    "socketpair",
    "sendmsg",
    "recvfrom",
    "openat",
    "newfstatat|fstat",
    "faccessat|access",
    "readlinkat|readlink",
    "signalfd4",
    "epoll_create1",
    "setgroups",
    "setresgid",
    "setresuid",
    "prctl",
    "seccomp",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "close_range",
    "epoll_wait|epoll_pwait",
    "accept4",
    "rt_sigaction",
    "getcwd",
};

static void check_needs(enum sandbox_role role, const char *const *needs, size_t n)
{
    for (size_t a = 0; a < N(arches); a++) {
        for (size_t i = 0; i < n; i++) {
            char alts[128];
            snprintf(alts, sizeof(alts), "%s", needs[i]);
            bool ok = false;
            char *save = NULL;
            for (char *name = strtok_r(alts, "|", &save); name; name = strtok_r(NULL, "|", &save))
                ok |= listed(role, name, NULL) &&
                      seccomp_syscall_resolve_name_arch(arches[a], name) >= 0;
            if (!ok)
                fail_msg("%s on arch %#x: nothing allows %s", sandbox_role_name(role), arches[a],
                         needs[i]);
        }
    }
}

static void test_what_each_role_needs_on_both_arches(void **state)
{
    (void)state;
    check_needs(SANDBOX_WORKER, worker_needs, N(worker_needs));
    check_needs(SANDBOX_AUTH, auth_needs, N(auth_needs));
    check_needs(SANDBOX_SUPERVISOR, supervisor_needs, N(supervisor_needs));
}

/* The list, and more: none of these may ever appear on a role's list. */
static const char *const never_in_roles[] = {
    "execve",
    "execveat",
    "open",
    "creat",
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "ptrace",
    "fork",
    "vfork",
    "clone",
    "clone3",
    "process_vm_readv",
    "process_vm_writev",
    "kexec_load",
    "kexec_file_load",
    "mount",
    "umount2",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setgroups",
    "setfsuid",
    "capset",
    "prctl",
    "seccomp",
    "rt_sigaction",
    "ioctl",
    "unshare",
    "setns",
    "memfd_create",
    "bpf",
    "io_uring_setup",
    "userfaultfd",
    "perf_event_open",
    "init_module",
    "finit_module",
    "delete_module",
    "chroot",
    "pivot_root",
    "keyctl",
    "add_key",
    "mknod",
    "mknodat",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "fchownat",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "mkdir",
    "mkdirat",
    "truncate",
    "kill",
    "tkill",
    "reboot",
    "swapon",
    "settimeofday",
    "clock_settime",
    "name_to_handle_at",
    "open_by_handle_at",
    "pidfd_open",
    "pidfd_getfd",
    "landlock_restrict_self",
};
static const char *const never_in_supervisor[] = {
    "socket",
    "connect",
    "bind",
    "listen",
    "accept",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kexec_load",
    "kexec_file_load",
    "mount",
    "umount2",
    "unshare",
    "setns",
    "memfd_create",
    "bpf",
    "io_uring_setup",
    "userfaultfd",
    "perf_event_open",
    "init_module",
    "finit_module",
    "delete_module",
    "chroot",
    "pivot_root",
    "keyctl",
    "add_key",
    "reboot",
    "swapon",
    "settimeofday",
    "clock_settime",
    "execveat",
    "open_by_handle_at",
    "pidfd_getfd",
    "ioctl",
    "mknod",
    "mknodat",
};

static void test_forbidden_calls_are_never_listed(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(never_in_roles); i++) {
        if (listed(SANDBOX_WORKER, never_in_roles[i], NULL))
            fail_msg("the worker may call %s", never_in_roles[i]);
        if (listed(SANDBOX_AUTH, never_in_roles[i], NULL))
            fail_msg("the auth daemon may call %s", never_in_roles[i]);
    }
    /* The worker opens no file at all and writes none; the auth daemon only reads, and
     * writes only the audit log it opened before. */
    assert_false(listed(SANDBOX_WORKER, "openat", NULL));
    assert_false(listed(SANDBOX_WORKER, "ftruncate", NULL));
    assert_false(listed(SANDBOX_WORKER, "pwrite64", NULL));
    enum sandbox_arg arg;
    assert_true(listed(SANDBOX_AUTH, "openat", &arg));
    assert_int_equal(arg, SB_READ_ONLY);
    assert_false(listed(SANDBOX_AUTH, "accept4", NULL));
    for (size_t i = 0; i < N(never_in_supervisor); i++)
        if (listed(SANDBOX_SUPERVISOR, never_in_supervisor[i], NULL))
            fail_msg("the supervisor may call %s", never_in_supervisor[i]);
    /* Argument checks that matter. */
    const char *no_exec[] = {"mmap", "mprotect"};
    for (size_t i = 0; i < N(no_exec); i++) {
        assert_true(listed(SANDBOX_WORKER, no_exec[i], &arg));
        assert_int_equal(arg, SB_NO_EXEC);
        assert_true(listed(SANDBOX_AUTH, no_exec[i], &arg));
        assert_int_equal(arg, SB_NO_EXEC);
    }
    assert_true(listed(SANDBOX_WORKER, "tgkill", &arg));
    assert_int_equal(arg, SB_SELF);
    assert_true(listed(SANDBOX_WORKER, "setsockopt", &arg));
    assert_int_equal(arg, SB_TCP_NODELAY);
    assert_true(listed(SANDBOX_SUPERVISOR, "socketpair", &arg));
    assert_int_equal(arg, SB_UNIX);
    assert_true(listed(SANDBOX_SUPERVISOR, "clone", &arg));
    assert_int_equal(arg, SB_FORK);
}

static void in_supervisor(const struct sandbox_syscall *e, void *ctx)
{
    (void)ctx;
    if (!listed(SANDBOX_SUPERVISOR, e->name, NULL))
        fail_msg("%s is allowed to a role but not by the supervisor's filter it inherits", e->name);
}

static void test_supervisor_filter_covers_the_roles(void **state)
{
    (void)state;
    sandbox_seccomp_each(SANDBOX_WORKER, in_supervisor, NULL);
    sandbox_seccomp_each(SANDBOX_AUTH, in_supervisor, NULL);
}

/* --- the filter and its reporter, in children ---------------------------------------------- */

struct outcome {
    int status;
    bool reported;
    int32_t nr;
    uint32_t arch;
    bool went_on; /* the child ran past the forbidden call */
};

/* Forks; the child loads role's filter (with the reporter unless no_reporter) and calls fn,
 * then writes 'A' on the report socket and exits 0. */
static struct outcome in_child(enum sandbox_role role, void (*fn)(void), bool no_reporter)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[256];
        close(sv[0]);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            _exit(3);
        if (!no_reporter && sandbox_sigsys_install(sv[1], "test") != 0)
            _exit(4);
        if (sandbox_seccomp_load(role, err, sizeof(err)) != 0)
            _exit(5);
        fn();
        ssize_t w = write(sv[1], "A", 1);
        _exit(w == 1 ? 0 : 6);
    }
    close(sv[1]);
    struct outcome o = {0};
    assert_int_equal(waitpid(pid, &o.status, 0), pid);
    unsigned char buf[64];
    ssize_t n;
    while ((n = recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
        if (n == 1 && buf[0] == 'A')
            o.went_on = true;
        if (sandbox_report_parse(buf, (size_t)n, &o.nr, &o.arch) == 0)
            o.reported = true;
    }
    close(sv[0]);
    return o;
}

static void make_tcp_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0)
        close(fd);
}

static void block_sigsys_then_socket(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    sigprocmask(SIG_BLOCK, &set, NULL);
    make_tcp_socket();
}

static void allowed_work(void)
{
    char c = 'x';
    void *big = malloc(8u << 20); /* mmap and munmap */
    if (!big)
        _exit(7);
    memset(big, 1, 8u << 20);
    free(big);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (getpid() <= 0 || write(STDERR_FILENO, &c, 0) != 0)
        _exit(8);
}

static void test_forbidden_call_is_reported_and_never_runs(void **state)
{
    (void)state;
    struct outcome o = in_child(SANDBOX_WORKER, make_tcp_socket, false);
    assert_true(WIFSIGNALED(o.status));
    assert_int_equal(WTERMSIG(o.status), SIGSYS);
    assert_false(o.went_on);
    assert_true(o.reported);
    assert_int_equal(o.nr, SCMP_SYS(socket));
    assert_int_equal(o.arch, seccomp_arch_native());
    char name[64];
    assert_string_equal(sandbox_syscall_name(o.nr, name, sizeof(name)), "socket");
    /* The same for the auth daemon's filter. */
    o = in_child(SANDBOX_AUTH, make_tcp_socket, false);
    assert_true(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGSYS);
    assert_true(o.reported && o.nr == SCMP_SYS(socket));
}

static void test_blocking_sigsys_does_not_help(void **state)
{
    (void)state;
    /* Blocked: the kernel forces the default action; the process dies without a report. */
    struct outcome o = in_child(SANDBOX_WORKER, block_sigsys_then_socket, false);
    assert_true(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGSYS);
    assert_false(o.went_on);
    assert_false(o.reported);
    /* No reporter at all: dies the same way. */
    o = in_child(SANDBOX_WORKER, make_tcp_socket, true);
    assert_true(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGSYS);
    assert_false(o.went_on);
}

static void test_allowed_calls_work(void **state)
{
    (void)state;
    for (size_t r = 0; r < N(roles); r++) {
        struct outcome o = in_child(roles[r], allowed_work, false);
        if (!WIFEXITED(o.status) || WEXITSTATUS(o.status) != 0)
            fail_msg("%s: status %#x, report %d (nr %d)", sandbox_role_name(roles[r]), o.status,
                     o.reported, (int)o.nr);
        assert_true(o.went_on);
    }
}

static void test_report_parse_bounds(void **state)
{
    (void)state;
    unsigned char msg[SANDBOX_REPORT_LEN + 1] = {SANDBOX_REPORT_TAG};
    int32_t nr = 41, got;
    uint32_t arch = 0xc000003e, got_arch;
    memcpy(msg + 1, &nr, 4);
    memcpy(msg + 5, &arch, 4);
    assert_int_equal(sandbox_report_parse(msg, SANDBOX_REPORT_LEN, &got, &got_arch), 0);
    assert_int_equal(got, 41);
    assert_int_equal(got_arch, 0xc000003e);
    assert_int_equal(sandbox_report_parse(msg, SANDBOX_REPORT_LEN - 1, &got, &got_arch), -1);
    assert_int_equal(sandbox_report_parse(msg, SANDBOX_REPORT_LEN + 1, &got, &got_arch), -1);
    assert_int_equal(sandbox_report_parse(msg, 0, &got, &got_arch), -1);
    msg[0] = 'P';
    assert_int_equal(sandbox_report_parse(msg, SANDBOX_REPORT_LEN, &got, &got_arch), -1);
}

/* --- privileges ------------------------------------------------------------------------------ */

static int child_status(pid_t pid)
{
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void test_close_fds_except(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fds[6];
        for (int i = 0; i < 6; i++)
            if ((fds[i] = open("/dev/null", O_RDONLY)) < 0)
                _exit(2);
        int keep[] = {fds[4], -1, fds[1], 1, fds[1]}; /* unsorted, negative, 0..2, repeats */
        if (sandbox_close_fds_except(keep, N(keep)) != 0)
            _exit(3);
        for (int i = 0; i < 6; i++) {
            bool open_now = fcntl(fds[i], F_GETFD) >= 0;
            if (open_now != (i == 1 || i == 4))
                _exit(10 + i);
        }
        for (int fd = 0; fd <= 2; fd++)
            if (fcntl(fd, F_GETFD) < 0)
                _exit(20 + fd);
        int many[SANDBOX_MAX_KEEP + 1] = {0};
        errno = 0;
        if (sandbox_close_fds_except(many, N(many)) != -1 || errno != EINVAL)
            _exit(30);
        _exit(0);
    }
    int st = child_status(pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("child status %#x", st);
}

static void test_resolve_ids(void **state)
{
    (void)state;
    char err[512];
    uid_t u = 7;
    gid_t g = 7;
    assert_int_equal(
        sandbox_resolve_ids("sandbox.worker", "root", "", false, &u, &g, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "sandbox.worker.user: 'root' is uid 0"));
    assert_non_null(strstr(err, "sandbox.allow_root"));
    assert_int_equal(u, 7);
    assert_int_equal(
        sandbox_resolve_ids("sandbox.worker", "root", "", true, &u, &g, err, sizeof(err)), 0);
    assert_int_equal(u, 0);
    assert_int_equal(g, 0);
    assert_int_equal(sandbox_resolve_ids("sandbox.auth", "bulwark-no-such-user-x", "", false, &u,
                                         &g, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "sandbox.auth.user: there is no user 'bulwark-no-such-user-x'"));
    assert_non_null(strstr(err, "scripts/ensure-users.sh"));
    assert_non_null(strstr(err, "useradd --system"));
    struct passwd *nobody = getpwnam("nobody");
    if (!nobody)
        return;
    assert_int_equal(
        sandbox_resolve_ids("sandbox.auth", "nobody", "", false, &u, &g, err, sizeof(err)), 0);
    assert_int_equal(u, nobody->pw_uid);
    assert_int_equal(g, nobody->pw_gid); /* "" group: the user's primary group */
    assert_int_equal(sandbox_resolve_ids("sandbox.auth", "nobody", "bulwark-no-such-group", false,
                                         &u, &g, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "sandbox.auth.group: there is no group 'bulwark-no-such-group'"));
    assert_int_equal(
        sandbox_resolve_ids("sandbox.auth", "nobody", "root", false, &u, &g, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "sandbox.auth.group: gid 0"));
}

static void test_switch_user(void **state)
{
    (void)state;
    char err[256];
    /* uid or gid 0 is refused before anything changes. */
    assert_int_equal(sandbox_switch_user(0, 65534, false, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "sandbox.allow_root"));
    assert_int_equal(sandbox_switch_user(65534, 0, false, err, sizeof(err)), -1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = sandbox_switch_user(65534, 65534, false, err, sizeof(err));
        if (geteuid() != 0 && getuid() != 65534)
            _exit(rc == -1 && strstr(err, "cannot switch") ? 0 : 2);
        if (rc != 0)
            _exit(3);
        uid_t r, e, s;
        gid_t rg, eg, sg;
        if (getresuid(&r, &e, &s) != 0 || r != 65534 || e != 65534 || s != 65534)
            _exit(4);
        if (getresgid(&rg, &eg, &sg) != 0 || rg != 65534 || eg != 65534 || sg != 65534)
            _exit(5);
        if (getgroups(0, NULL) != 0)
            _exit(6);
        if (setuid(0) == 0)
            _exit(7);
        _exit(0);
    }
    int st = child_status(pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("child status %#x", st);
}

/* What systemd's CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_KILL leaves a root
 * service: those three, in every set; no CAP_SETPCAP to drop more with. */
static int systemd_like_caps(void)
{
    uint32_t keep = (1u << CAP_SETUID) | (1u << CAP_SETGID) | (1u << CAP_KILL);
    for (unsigned cap = 0; cap < 64; cap++) {
        int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (in < 0)
            break;
        bool kept = cap < 32 && (keep & (1u << cap));
        if (in == 1 && cap != CAP_SETPCAP && !kept && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
            return -1;
    }
    if (prctl(PR_CAPBSET_DROP, CAP_SETPCAP, 0, 0, 0) != 0)
        return -1;
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    d[0].effective = d[0].permitted = keep;
    return (int)syscall(SYS_capset, &h, d);
}

/* In a child: sandbox_limit_caps, then the checks; exit code = first failed check. */
static int limit_caps_child(bool systemd)
{
    char err[256];
    if (systemd && systemd_like_caps() != 0)
        return 9;
    if (sandbox_limit_caps(err, sizeof(err)) != 0)
        return 2;
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0)
        return 3;
    uint32_t want = (1u << CAP_SETUID) | (1u << CAP_SETGID) | (1u << CAP_KILL) |
                    (1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH);
    if ((d[0].effective & ~want) || d[1].effective || (d[0].permitted & ~want))
        return 4;
    if (!(d[0].effective & (1u << CAP_SETUID)))
        return 5;
    if (prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0)
        return 6;
    if (prctl(PR_CAPBSET_READ, CAP_NET_ADMIN, 0, 0, 0) != 0)
        return 7;
    if (prctl(PR_CAPBSET_READ, CAP_SETUID, 0, 0, 0) != 1)
        return 8;
    return 0;
}

static void test_limit_caps(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    for (int systemd = 0; systemd <= 1; systemd++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(limit_caps_child(systemd));
        int st = child_status(pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("%s: check %d failed", systemd ? "under systemd's set" : "as root",
                     WEXITSTATUS(st));
    }
}

/* --- Landlock ---------------------------------------------------------------------------- */

static char ll_dir[64], ll_file[96], ll_logs[96], ll_log[128];

static int open_err(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return errno;
}

static int tcp_bind_err(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

/* In a child: Landlock for role, then the checks; exit code = first failed check. The read
 * path is ll_file (the configuration), the write paths ll_log (an audit log, in its own
 * directory) and one in a directory that does not exist (skipped). */
static int landlock_child(enum sandbox_role role)
{
    char err[256], other[128];
    const char *reads[] = {ll_file};
    const char *writes[] = {ll_log, "/nonexistent-bulwark-dir/audit.log"};
    struct sandbox_paths paths = {reads, 1, writes, 2};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return 2;
    int abi = sandbox_landlock(role, &paths, err, sizeof(err));
    if (abi <= 0)
        return 3;
    snprintf(other, sizeof(other), "%s/created", ll_dir);
    switch (role) {
    case SANDBOX_AUTH:
        if (open_err(ll_file, O_RDONLY) != 0)
            return 10;
        if (open_err("/etc/passwd", O_RDONLY) != EACCES)
            return 11;
        if (open_err(ll_file, O_WRONLY) != EACCES)
            return 12;
        if (open_err(other, O_WRONLY | O_CREAT) != EACCES)
            return 13;
        if (open_err(ll_log, O_WRONLY | O_CREAT | O_APPEND) != EACCES)
            return 14; /* write paths are the supervisor's */
        break;
    case SANDBOX_WORKER:
        if (open_err(ll_file, O_RDONLY) != EACCES)
            return 20;
        if (open_err("/etc/passwd", O_RDONLY) != EACCES)
            return 21;
        if (open_err(ll_log, O_WRONLY | O_CREAT | O_APPEND) != EACCES)
            return 22;
        break;
    default:
        if (open_err(ll_file, O_RDONLY) != 0)
            return 30;
        if (open_err("/etc/passwd", O_RDONLY) != 0)
            return 31;
        if (open_err(ll_file, O_WRONLY) != EACCES)
            return 32;
        if (open_err(other, O_WRONLY | O_CREAT) != EACCES)
            return 33;
        if (unlink(ll_file) == 0 || errno != EACCES)
            return 34;
        if (open_err(ll_log, O_RDWR | O_CREAT | O_APPEND) != 0)
            return 35; /* the audit log's directory stays writable */
        if (open_err(ll_log, O_WRONLY | O_TRUNC) != 0)
            return 36;
        if (unlink(ll_log) == 0 || errno != EACCES)
            return 37; /* ... for writing and creating, not removing */
        break;
    }
    if (abi >= 4 && tcp_bind_err() != EACCES)
        return 40;
    return 0;
}

static void test_landlock_per_role(void **state)
{
    (void)state;
    if (sandbox_landlock_abi() <= 0)
        skip();
    snprintf(ll_dir, sizeof(ll_dir), "/tmp/bulwark-test-landlock-XXXXXX");
    assert_non_null(mkdtemp(ll_dir));
    snprintf(ll_file, sizeof(ll_file), "%s/bulwark.yaml", ll_dir);
    snprintf(ll_logs, sizeof(ll_logs), "%s/logs", ll_dir);
    snprintf(ll_log, sizeof(ll_log), "%s/audit.log", ll_logs);
    assert_int_equal(mkdir(ll_logs, 0700), 0);
    int fd = open(ll_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    for (size_t r = 0; r < N(roles); r++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(landlock_child(roles[r]));
        int st = child_status(pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("%s: check %d failed", sandbox_role_name(roles[r]), WEXITSTATUS(st));
    }
    char other[128];
    snprintf(other, sizeof(other), "%s/created", ll_dir);
    assert_int_equal(access(other, F_OK), -1); /* nothing was created there */
    assert_int_equal(access(ll_log, F_OK), 0); /* the supervisor created the log */
    unlink(ll_log);
    rmdir(ll_logs);
    unlink(ll_file);
    rmdir(ll_dir);
}

int main(void)
{
    log_init("test", LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables_build_on_both_arches),
        cmocka_unit_test(test_every_name_is_real),
        cmocka_unit_test(test_what_each_role_needs_on_both_arches),
        cmocka_unit_test(test_forbidden_calls_are_never_listed),
        cmocka_unit_test(test_supervisor_filter_covers_the_roles),
        cmocka_unit_test(test_forbidden_call_is_reported_and_never_runs),
        cmocka_unit_test(test_blocking_sigsys_does_not_help),
        cmocka_unit_test(test_allowed_calls_work),
        cmocka_unit_test(test_report_parse_bounds),
        cmocka_unit_test(test_close_fds_except),
        cmocka_unit_test(test_resolve_ids),
        cmocka_unit_test(test_switch_user),
        cmocka_unit_test(test_limit_caps),
        cmocka_unit_test(test_landlock_per_role),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
