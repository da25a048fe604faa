#include "sandbox_selftest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sandbox_landlock.h"
#include "sandbox_seccomp.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define PROBE_TIMEOUT_MS 10000

/* What a probe's child holds before it enters the sandbox. */
struct env {
    char dir[64];            /* stands for the configuration directory */
    char conf[96];           /* dir/bulwark.yaml */
    char log[96];            /* dir/logs/audit.log: its directory stays writable */
    int tcp;                 /* an unbound TCP socket */
    int listener;            /* a listening TCP socket on 127.0.0.1, non-blocking */
    int pair[2];             /* a connected unix socket pair */
    int ep;                  /* an epoll instance */
    struct sockaddr_in addr; /* the listener's address */
    pid_t parent;            /* the selftest process */
};

/* Each probe returns 0 when the operation went through, -1 with errno when it was refused. */
typedef int (*probe_fn)(const struct env *e);

static char *const true_argv[] = {"true", NULL};
static char *const no_env[] = {NULL};

static int p_execve(const struct env *e)
{
    (void)e;
    return execve("/bin/true", true_argv, no_env);
}

static int p_execveat(const struct env *e)
{
    (void)e;
    return (int)syscall(SYS_execveat, AT_FDCWD, "/bin/true", true_argv, no_env, 0);
}

static int open_close(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int p_read_outside(const struct env *e)
{
    (void)e;
    return open_close("/etc/passwd", O_RDONLY);
}

static int p_read_config(const struct env *e)
{
    return open_close(e->conf, O_RDONLY);
}

static int p_write_config(const struct env *e)
{
    return open_close(e->conf, O_WRONLY);
}

static int p_create_file(const struct env *e)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/new", e->dir);
    return open_close(path, O_WRONLY | O_CREAT | O_EXCL);
}

static int p_create_log(const struct env *e)
{
    return open_close(e->log, O_RDWR | O_CREAT | O_APPEND);
}

static int p_mkdir(const struct env *e)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/sub", e->dir);
    return mkdir(path, 0700);
}

static int p_unlink(const struct env *e)
{
    return unlink(e->conf);
}

static int p_socket_inet(const struct env *e)
{
    (void)e;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int p_socket_unix(const struct env *e)
{
    (void)e;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int p_socketpair(const struct env *e)
{
    (void)e;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    close(sv[0]);
    close(sv[1]);
    return 0;
}

static int p_connect(const struct env *e)
{
    return connect(e->tcp, (const struct sockaddr *)&e->addr, sizeof(e->addr));
}

static int p_bind(const struct env *e)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return bind(e->tcp, (const struct sockaddr *)&a, sizeof(a));
}

static int p_listen(const struct env *e)
{
    return listen(e->tcp, 1);
}

static int p_accept(const struct env *e)
{
    int fd = accept4(e->listener, NULL, NULL, SOCK_NONBLOCK);
    if (fd >= 0)
        close(fd);
    return fd >= 0 || errno == EAGAIN ? 0 : -1; /* EAGAIN: nobody waiting, call made */
}

static int p_ptrace(const struct env *e)
{
    (void)e;
    return (int)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}

static int reap_child(pid_t pid)
{
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    return 0;
}

static int p_fork(const struct env *e)
{
    (void)e;
    return reap_child(fork());
}

#ifdef SYS_fork
static int p_fork_raw(const struct env *e)
{
    (void)e;
    return reap_child((pid_t)syscall(SYS_fork));
}
#endif

static void *idle_thread(void *arg)
{
    return arg;
}

static int p_thread(const struct env *e)
{
    (void)e;
    pthread_t t;
    int rc = pthread_create(&t, NULL, idle_thread, NULL);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    pthread_join(t, NULL);
    return 0;
}

static int p_clone_netns(const struct env *e)
{
    (void)e;
    return reap_child((pid_t)syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0));
}

static int p_unshare(const struct env *e)
{
    (void)e;
    return unshare(CLONE_NEWUSER);
}

static int p_kill_parent(const struct env *e)
{
    return kill(e->parent, 0);
}

static int p_tgkill_parent(const struct env *e)
{
    return (int)syscall(SYS_tgkill, e->parent, e->parent, 0);
}

static int p_vm_read(const struct env *e)
{
    char mine = 0, theirs = 0;
    struct iovec l = {&mine, 1}, r = {&theirs, 1};
    return process_vm_readv(e->parent, &l, 1, &r, 1, 0) < 0 ? -1 : 0;
}

static int p_mount(const struct env *e)
{
    (void)e;
    return mount("none", "/nonexistent-bulwark-selftest", "tmpfs", 0, NULL);
}

static int p_setuid(const struct env *e)
{
    (void)e;
    return setuid(0);
}

static int p_dumpable(const struct env *e)
{
    (void)e;
    return prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

static int p_ignore_sigsys(const struct env *e)
{
    (void)e;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGSYS, &sa, NULL);
}

static int p_mprotect_exec(const struct env *e)
{
    (void)e;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    return mprotect(p, 4096, PROT_READ | PROT_EXEC);
}

static int p_mmap_exec(const struct env *e)
{
    (void)e;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? -1 : 0;
}

static int p_memfd(const struct env *e)
{
    (void)e;
    return (int)syscall(SYS_memfd_create, "x", 0) < 0 ? -1 : 0;
}

static int p_io_uring(const struct env *e)
{
    (void)e;
    return (int)syscall(SYS_io_uring_setup, 1, NULL);
}

static int p_bpf(const struct env *e)
{
    (void)e;
    return (int)syscall(SYS_bpf, 0, NULL, 0);
}

static int p_perf(const struct env *e)
{
    (void)e;
    return (int)syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
}

static int p_userfaultfd(const struct env *e)
{
    (void)e;
    return (int)syscall(SYS_userfaultfd, 0) < 0 ? -1 : 0;
}

static int p_kexec(const struct env *e)
{
    (void)e;
    return (int)syscall(SYS_kexec_load, 0, 0, NULL, 0);
}

static int p_init_module(const struct env *e)
{
    (void)e;
    return (int)syscall(SYS_init_module, NULL, 0, "");
}

static int p_chroot(const struct env *e)
{
    return chroot(e->dir);
}

static int p_setns(const struct env *e)
{
    (void)e;
    return setns(-1, 0);
}

static int p_keyctl(const struct env *e)
{
    (void)e;
    return (int)syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0) < 0 ? -1 : 0;
}

static int p_reboot(const struct env *e)
{
    (void)e;
    return (int)syscall(SYS_reboot, 0, 0, 0, NULL); /* bad magic: EINVAL if it ran */
}

static int p_clock_settime(const struct env *e)
{
    (void)e;
    struct timespec ts = {0, 0};
    return clock_settime(CLOCK_MONOTONIC, &ts); /* EINVAL if it ran */
}

static int p_ioctl(const struct env *e)
{
    int n = 0;
    return ioctl(e->pair[0], FIONREAD, &n);
}

static int p_read_write(const struct env *e)
{
    char c = 'x';
    if (write(e->pair[0], &c, 1) != 1)
        return -1;
    return read(e->pair[1], &c, 1) == 1 ? 0 : -1;
}

static int p_getrandom(const struct env *e)
{
    (void)e;
    char b[8];
    return getrandom(b, sizeof(b), 0) == (ssize_t)sizeof(b) ? 0 : -1;
}

static int p_epoll_wait(const struct env *e)
{
    struct epoll_event ev;
    return epoll_wait(e->ep, &ev, 1, 0) < 0 ? -1 : 0;
}

static int p_poll(const struct env *e)
{
    struct pollfd p = {.fd = e->pair[0], .events = POLLIN};
    return poll(&p, 1, 0) < 0 ? -1 : 0;
}

/* want, per role (supervisor, worker, auth): 'K' killed by seccomp, 'L' refused by Landlock
 * (or killed), 'W' works, '-' not tried (the role may legitimately do it). */
struct probe {
    const char *what;
    /* The report must name one of these ('|'-separated). NULL: any call, and no report is
     * needed (glibc's pthread_create blocks every signal around clone, so the kernel kills
     * the process without running the reporter). */
    const char *calls;
    probe_fn run;
    const char want[4];
};

static const struct probe probes[] = {
    {"execve /bin/true", "execve", p_execve, "WKK"},
    {"execveat /bin/true", "execveat", p_execveat, "KKK"},
    {"open /etc/passwd read-only", "openat|open", p_read_outside, "-KL"},
    {"open the configuration read-only", "openat|open", p_read_config, "-KW"},
    {"open the configuration for writing", "openat|open", p_write_config, "LKK"},
    {"create a file in the config directory", "openat|open", p_create_file, "LKK"},
    {"create the audit log in its directory", "openat|open", p_create_log, "WKK"},
    {"mkdir in the config directory", "mkdir|mkdirat", p_mkdir, "LKK"},
    {"unlink the configuration", "unlink|unlinkat", p_unlink, "LKK"},
    {"socket(AF_INET)", "socket", p_socket_inet, "KKK"},
    {"socket(AF_UNIX)", "socket", p_socket_unix, "KKK"},
    {"socketpair(AF_UNIX)", "socketpair", p_socketpair, "WKK"},
    {"connect a TCP socket", "connect", p_connect, "KKK"},
    {"bind a TCP socket", "bind", p_bind, "KKK"},
    {"listen on a TCP socket", "listen", p_listen, "KKK"},
    {"accept4 on a listener", "accept4", p_accept, "-WK"},
    {"ptrace(PTRACE_TRACEME)", "ptrace", p_ptrace, "KKK"},
    {"fork", "clone|fork", p_fork, "WKK"},
#ifdef SYS_fork
    {"fork (raw system call)", "fork", p_fork_raw, "KKK"},
#endif
    {"pthread_create", NULL, p_thread, "KKK"},
    {"clone into a new network namespace", "clone", p_clone_netns, "KKK"},
    {"unshare(CLONE_NEWUSER)", "unshare", p_unshare, "KKK"},
    {"kill the parent (signal 0)", "kill", p_kill_parent, "-KK"},
    {"tgkill the parent (signal 0)", "tgkill", p_tgkill_parent, "-KK"},
    {"process_vm_readv the parent", "process_vm_readv", p_vm_read, "KKK"},
    {"mount tmpfs", "mount", p_mount, "KKK"},
    {"setuid(0)", "setuid", p_setuid, "-KK"},
    {"prctl(PR_SET_DUMPABLE, 1)", "prctl", p_dumpable, "-KK"},
    {"ignore SIGSYS", "rt_sigaction", p_ignore_sigsys, "-KK"},
    {"mprotect to PROT_EXEC", "mprotect", p_mprotect_exec, "-KK"},
    {"mmap with PROT_EXEC", "mmap", p_mmap_exec, "-KK"},
    {"memfd_create", "memfd_create", p_memfd, "KKK"},
    {"io_uring_setup", "io_uring_setup", p_io_uring, "KKK"},
    {"bpf", "bpf", p_bpf, "KKK"},
    {"perf_event_open", "perf_event_open", p_perf, "KKK"},
    {"userfaultfd", "userfaultfd", p_userfaultfd, "KKK"},
    {"kexec_load", "kexec_load", p_kexec, "KKK"},
    {"init_module", "init_module", p_init_module, "KKK"},
    {"chroot", "chroot", p_chroot, "KKK"},
    {"setns", "setns", p_setns, "KKK"},
    {"keyctl", "keyctl", p_keyctl, "KKK"},
    {"reboot", "reboot", p_reboot, "KKK"},
    {"clock_settime", "clock_settime", p_clock_settime, "KKK"},
    {"ioctl(FIONREAD)", "ioctl", p_ioctl, "KKK"},
    {"read and write a held socket", NULL, p_read_write, "WWW"},
    {"getrandom", NULL, p_getrandom, "WWW"},
    {"epoll_wait", NULL, p_epoll_wait, "-W-"},
    {"poll", NULL, p_poll, "W-W"},
};

/* --- the child ------------------------------------------------------------------------------ */

static int prepare(struct env *e)
{
    e->tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    e->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    e->ep = epoll_create1(EPOLL_CLOEXEC);
    if (e->tcp < 0 || e->listener < 0 || e->ep < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, e->pair) != 0)
        return -1;
    e->addr =
        (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(e->addr);
    if (bind(e->listener, (struct sockaddr *)&e->addr, sizeof(e->addr)) != 0 ||
        listen(e->listener, 4) != 0 ||
        getsockname(e->listener, (struct sockaddr *)&e->addr, &len) != 0)
        return -1;
    return 0;
}

static void run_child(enum sandbox_role role, const struct probe *p, struct env *e, int report)
{
    if (prepare(e) != 0) {
        fprintf(stderr, "selftest: preparing the probe: %s\n", strerror(errno));
        _exit(2);
    }
    int keep[] = {report, e->tcp, e->listener, e->ep, e->pair[0], e->pair[1]};
    struct sandbox_plan plan = {.role = role,
                                .keep_fds = keep,
                                .n_keep = N(keep),
                                .read_files = {e->conf},
                                .n_read_files = 1,
                                .write_files = {e->log},
                                .n_write_files = 1,
                                .report_fd = report};
    char err[512];
    if (sandbox_enter(&plan, err, sizeof(err)) != 0) {
        fprintf(stderr, "selftest: entering the sandbox: %s\n", err);
        _exit(2);
    }
    int rc = p->run(e);
    int code = rc == 0 ? 0 : 100 + (errno > 0 && errno < 150 ? errno : 150);
    _exit(code);
}

/* --- the parent ------------------------------------------------------------------------------ */

static bool names_match(const char *alternatives, const char *name)
{
    size_t n = strlen(name);
    for (const char *a = alternatives; a && *a;) {
        const char *bar = strchr(a, '|');
        size_t len = bar ? (size_t)(bar - a) : strlen(a);
        if (len == n && strncmp(a, name, n) == 0)
            return true;
        a = bar ? bar + 1 : NULL;
    }
    return false;
}

static int wait_deadline(pid_t pid, int *status)
{
    for (int waited = 0; waited < PROBE_TIMEOUT_MS; waited += 5) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, status, 0);
    return -1;
}

/* Runs one probe; prints its line; returns true if it passed (or was skipped). */
static bool run_probe(enum sandbox_role role, const struct probe *p, const char *dir, int abi)
{
    char want = p->want[role];
    struct env e;
    memset(&e, 0, sizeof(e));
    e.parent = getpid();
    snprintf(e.dir, sizeof(e.dir), "%s", dir);
    snprintf(e.conf, sizeof(e.conf), "%s/bulwark.yaml", dir);
    snprintf(e.log, sizeof(e.log), "%s/logs/audit.log", dir);
    int rep[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rep) != 0) {
        printf("  %-44s FAIL: socketpair: %s\n", p->what, strerror(errno));
        return false;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(rep[0]);
        run_child(role, p, &e, rep[1]);
    }
    close(rep[1]);
    int status = 0;
    bool done = pid > 0 && wait_deadline(pid, &status) == 0;
    unsigned char buf[32];
    ssize_t got = recv(rep[0], buf, sizeof(buf), MSG_DONTWAIT);
    close(rep[0]);
    int32_t nr = -1;
    uint32_t arch = 0;
    char name[64] = "";
    if (got > 0 && sandbox_report_parse(buf, (size_t)got, &nr, &arch) == 0)
        sandbox_syscall_name(nr, name, sizeof(name));

    char verdict[160];
    bool ok = false;
    if (!done) {
        snprintf(verdict, sizeof(verdict), "FAIL: %s", pid < 0 ? "fork failed" : "hung");
    } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) {
        if (want == 'W') {
            snprintf(verdict, sizeof(verdict), "FAIL: killed at %s, but the role needs this",
                     name[0] ? name : "an unreported call");
        } else if (!name[0] && p->calls) {
            snprintf(verdict, sizeof(verdict), "FAIL: killed by SIGSYS without a report");
        } else if (!name[0]) {
            snprintf(verdict, sizeof(verdict), "killed (SIGSYS, signals blocked: no report)");
            ok = true;
        } else if (p->calls && !names_match(p->calls, name)) {
            snprintf(verdict, sizeof(verdict), "FAIL: killed at %s, expected %s", name, p->calls);
        } else {
            snprintf(verdict, sizeof(verdict), "killed (SIGSYS, reported %s)", name);
            ok = true;
        }
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        if (want == 'W') {
            snprintf(verdict, sizeof(verdict), "works");
            ok = true;
        } else if (want == 'L' && abi == 0) {
            snprintf(verdict, sizeof(verdict), "SKIPPED: went through, the kernel has no Landlock");
            ok = true;
        } else {
            snprintf(verdict, sizeof(verdict), "FAIL: went through");
        }
    } else if (WIFEXITED(status) && WEXITSTATUS(status) >= 100) {
        int e_no = WEXITSTATUS(status) - 100;
        if (want == 'L' && e_no == EACCES) {
            snprintf(verdict, sizeof(verdict), "refused (EACCES, Landlock)");
            ok = true;
        } else if (want == 'W' && e_no != EPERM && e_no != EACCES) {
            snprintf(verdict, sizeof(verdict), "works (%s)", strerror(e_no));
            ok = true;
        } else {
            snprintf(verdict, sizeof(verdict), "FAIL: the kernel ran it and answered %s",
                     strerror(e_no));
        }
    } else if (WIFSIGNALED(status)) {
        snprintf(verdict, sizeof(verdict), "FAIL: killed by signal %d", WTERMSIG(status));
    } else {
        snprintf(verdict, sizeof(verdict), "FAIL: setup failed (exit %d)", WEXITSTATUS(status));
    }
    printf("  %-44s %s\n", p->what, verdict);
    return ok;
}

/* --- the allow-list, printed once per name ------------------------------------------------- */

struct row {
    const struct sandbox_syscall *e;
};

struct listing {
    struct row rows[256];
    size_t n;
};

static void collect(const struct sandbox_syscall *e, void *ctx)
{
    struct listing *l = ctx;
    if (l->n < N(l->rows))
        l->rows[l->n++].e = e;
}

static int by_name(const void *a, const void *b)
{
    const struct sandbox_syscall *x = ((const struct row *)a)->e;
    const struct sandbox_syscall *y = ((const struct row *)b)->e;
    int c = strcmp(x->name, y->name);
    return c ? c : (int)x->arg - (int)y->arg; /* SB_ANY first: it wins over any check */
}

static void print_allow_list(enum sandbox_role role)
{
    static struct listing l;
    l.n = 0;
    sandbox_seccomp_each(role, collect, &l);
    qsort(l.rows, l.n, sizeof(struct row), by_name);
    size_t distinct = 0;
    for (size_t i = 0; i < l.n; i++)
        if (i == 0 || strcmp(l.rows[i].e->name, l.rows[i - 1].e->name) != 0)
            distinct++;
    printf("allowed system calls (%zu):", distinct);
    size_t col = 100;
    for (size_t i = 0; i < l.n; i++) {
        if (i > 0 && strcmp(l.rows[i].e->name, l.rows[i - 1].e->name) == 0)
            continue;
        /* One item per name; checked variants of it are joined: "setsockopt(A|B)". */
        char item[160];
        const char *desc = sandbox_arg_desc(l.rows[i].e->arg);
        int w = snprintf(item, sizeof(item), desc[0] ? "%s(%s" : "%s", l.rows[i].e->name, desc);
        for (size_t j = i + 1; desc[0] && j < l.n && !strcmp(l.rows[j].e->name, l.rows[i].e->name);
             j++)
            if (l.rows[j].e->arg != l.rows[j - 1].e->arg && w > 0 && (size_t)w < sizeof(item))
                w += snprintf(item + w, sizeof(item) - (size_t)w, "|%s",
                              sandbox_arg_desc(l.rows[j].e->arg));
        if (desc[0] && w > 0 && (size_t)w < sizeof(item) - 1)
            snprintf(item + w, sizeof(item) - (size_t)w, ")");
        if (col + strlen(item) + 1 > 96) {
            printf("\n   ");
            col = 3;
        }
        printf(" %s", item);
        col += strlen(item) + 1;
    }
    printf("\neverything else: killed by SIGSYS after a report to the supervisor\n");
}

int sandbox_selftest(enum sandbox_role role)
{
    const char *who = sandbox_role_name(role);
    char dir[] = "/tmp/bulwark-selftest-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "selftest: mkdtemp: %s\n", strerror(errno));
        return 2;
    }
    char conf[96], logs[96], log[128];
    snprintf(conf, sizeof(conf), "%s/bulwark.yaml", dir);
    snprintf(logs, sizeof(logs), "%s/logs", dir);
    snprintf(log, sizeof(log), "%s/audit.log", logs);
    if (mkdir(logs, 0700) != 0) {
        fprintf(stderr, "selftest: mkdir %s: %s\n", logs, strerror(errno));
        return 2;
    }
    FILE *f = fopen(conf, "w");
    if (!f || fputs("log_level: info\n", f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "selftest: writing %s failed\n", conf);
        return 2;
    }
    log_set_level(LOG_WARN); /* one "sandbox: ..." line per probe would drown the table */
    int abi = sandbox_landlock_abi();
    printf("bulwarkd sandbox selftest: role %s, Landlock ABI %d%s\n", who, abi,
           abi ? "" : " (none: file confinement is not checked)");
    print_allow_list(role);
    size_t tried = 0, passed = 0;
    for (size_t i = 0; i < N(probes); i++) {
        if (probes[i].want[role] == '-')
            continue;
        tried++;
        if (run_probe(role, &probes[i], dir, abi))
            passed++;
    }
    /* Probes may have left these behind when a sandbox let them through. */
    char path[128];
    snprintf(path, sizeof(path), "%s/new", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/sub", dir);
    rmdir(path);
    unlink(log);
    rmdir(logs);
    unlink(conf);
    rmdir(dir);
    printf("%s: %zu of %zu checks passed: %s\n", who, passed, tried,
           passed == tried ? "PASS" : "FAIL");
    return passed == tried ? 0 : 1;
}
