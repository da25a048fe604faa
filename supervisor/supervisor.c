#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "fdpass.h"
#include "log.h"

#define BACKOFF_MIN_MS 200u
#define BACKOFF_MAX_MS 30000u
#define STABLE_AFTER_MS 30000u /* a role alive this long gets its backoff reset */
#define STOP_GRACE_MS 5000u

struct role_slot {
    enum role role;
    pid_t pid;       /* 0 when not running */
    int ctl;         /* supervisor's end of the control channel, -1 when not running */
    int pending_ipc; /* end of a worker<->auth pair waiting for this role's next start */
    uint32_t backoff_ms;
    uint64_t started_at;
    uint64_t restart_at; /* 0: no restart scheduled */
};

struct supervisor {
    int argc;
    char **argv;
    int listen_fds[CONFIG_MAX_LISTENERS];
    size_t n_listen;
    struct role_slot roles[3]; /* indexed by enum role; [ROLE_SUPERVISOR] unused */
    int sigfd;
};

static int set_cloexec(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0) return -1;
    return fcntl(fd, F_SETFD, on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC);
}

static int bind_listener(const struct config_listener *l)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%u", l->port);
    int rc = getaddrinfo(l->host, port, &hints, &res);
    if (rc != 0) {
        log_error("listener %s:%u: %s", l->host, l->port, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0) break;
        log_error("listener %s:%u: %s", l->host, l->port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) log_info("listening on %s:%u", l->host, l->port);
    return fd;
}

static enum role peer_of(enum role r)
{
    return r == ROLE_WORKER ? ROLE_AUTH : ROLE_WORKER;
}

/* Gives the starting role one end of a worker<->auth channel and makes sure the peer
 * holds the other end: handed over now if the peer runs, or kept for its next start. */
static int ipc_end_for(struct supervisor *s, enum role r)
{
    struct role_slot *me = &s->roles[r];
    struct role_slot *peer = &s->roles[peer_of(r)];
    if (me->pending_ipc >= 0) {
        int fd = me->pending_ipc;
        me->pending_ipc = -1;
        return fd;
    }
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return -1;
    if (peer->pid > 0 && peer->ctl >= 0) {
        if (fdpass_send(peer->ctl, 'P', pair[1]) != 0)
            log_warn("could not hand a new channel to %s: %s", role_name(peer->role),
                     strerror(errno));
        close(pair[1]);
    } else {
        if (peer->pending_ipc >= 0) close(peer->pending_ipc);
        peer->pending_ipc = pair[1];
    }
    return pair[0];
}

static void start_role(struct supervisor *s, enum role r)
{
    struct role_slot *slot = &s->roles[r];
    int ctl[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) != 0) {
        log_error("socketpair: %s", strerror(errno));
        slot->restart_at = clock_ms() + slot->backoff_ms;
        return;
    }
    int ipc = ipc_end_for(s, r);
    if (ipc < 0) {
        log_error("socketpair: %s", strerror(errno));
        close(ctl[0]);
        close(ctl[1]);
        slot->restart_at = clock_ms() + slot->backoff_ms;
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork %s: %s", role_name(r), strerror(errno));
        close(ctl[0]);
        close(ctl[1]);
        close(ipc);
        slot->restart_at = clock_ms() + slot->backoff_ms;
        return;
    }
    if (pid == 0) {
        /* Child: a role never outlives the supervisor. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        char fdbuf[3 + CONFIG_MAX_LISTENERS][16];
        char *args[256];
        int n = 0;
        for (int i = 0; i < s->argc && n < 200; i++)
            args[n++] = s->argv[i];
        args[n++] = "--role";
        args[n++] = (char *)role_name(r);
        snprintf(fdbuf[0], sizeof(fdbuf[0]), "%d", ctl[1]);
        args[n++] = "--ctl-fd";
        args[n++] = fdbuf[0];
        snprintf(fdbuf[1], sizeof(fdbuf[1]), "%d", ipc);
        args[n++] = "--ipc-fd";
        args[n++] = fdbuf[1];
        set_cloexec(ctl[1], false);
        set_cloexec(ipc, false);
        if (r == ROLE_WORKER) {
            for (size_t i = 0; i < s->n_listen; i++) {
                snprintf(fdbuf[2 + i], sizeof(fdbuf[2 + i]), "%d", s->listen_fds[i]);
                args[n++] = "--listen-fd";
                args[n++] = fdbuf[2 + i];
                set_cloexec(s->listen_fds[i], false);
            }
        }
        args[n] = NULL;
        /* Re-exec for a fresh address-space layout per role. */
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(ctl[1]);
    close(ipc);
    slot->pid = pid;
    slot->ctl = ctl[0];
    slot->started_at = clock_ms();
    slot->restart_at = 0;
    log_info("started %s (pid %d)", role_name(r), (int)pid);
}

static void describe_exit(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)),
                 WTERMSIG(status) == SIGSYS ? ": sandbox violation" : "");
    else
        snprintf(buf, len, "stopped (status 0x%x)", status);
}

static void reap(struct supervisor *s, bool stopping)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int r = ROLE_WORKER; r <= ROLE_AUTH; r++) {
            struct role_slot *slot = &s->roles[r];
            if (slot->pid != pid) continue;
            char why[128];
            describe_exit(status, why, sizeof(why));
            slot->pid = 0;
            if (slot->ctl >= 0) close(slot->ctl);
            slot->ctl = -1;
            if (stopping) {
                log_info("%s (pid %d) %s", role_name(slot->role), (int)pid, why);
                break;
            }
            uint64_t now = clock_ms();
            if (now - slot->started_at >= STABLE_AFTER_MS) slot->backoff_ms = BACKOFF_MIN_MS;
            slot->restart_at = now + slot->backoff_ms;
            log_error("%s (pid %d) %s; restarting in %u ms", role_name(slot->role), (int)pid, why,
                      slot->backoff_ms);
            slot->backoff_ms =
                slot->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : slot->backoff_ms * 2;
        }
    }
}

static void stop_all(struct supervisor *s)
{
    for (int r = ROLE_WORKER; r <= ROLE_AUTH; r++)
        if (s->roles[r].pid > 0) kill(s->roles[r].pid, SIGTERM);
    uint64_t deadline = clock_ms() + STOP_GRACE_MS;
    for (;;) {
        reap(s, true);
        if (s->roles[ROLE_WORKER].pid == 0 && s->roles[ROLE_AUTH].pid == 0) return;
        if (clock_ms() >= deadline) break;
        struct pollfd p = {.fd = s->sigfd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            struct signalfd_siginfo si;
            while (read(s->sigfd, &si, sizeof(si)) == sizeof(si)) {
            }
        }
    }
    for (int r = ROLE_WORKER; r <= ROLE_AUTH; r++) {
        if (s->roles[r].pid > 0) {
            log_warn("%s did not stop in time; killing it", role_name((enum role)r));
            kill(s->roles[r].pid, SIGKILL);
            waitpid(s->roles[r].pid, NULL, 0);
            s->roles[r].pid = 0;
        }
    }
}

int supervisor_main(int argc, char **argv, const struct config *cfg)
{
    static struct supervisor s;
    s.argc = argc;
    s.argv = argv;
    for (int r = 0; r < 3; r++) {
        s.roles[r] = (struct role_slot){
            .role = (enum role)r, .ctl = -1, .pending_ipc = -1, .backoff_ms = BACKOFF_MIN_MS};
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        int fd = bind_listener(&cfg->listeners[i]);
        if (fd < 0) return 1;
        s.listen_fds[s.n_listen++] = fd;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    s.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s.sigfd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return 1;
    }
    start_role(&s, ROLE_AUTH);
    start_role(&s, ROLE_WORKER);
    log_info("bulwarkd supervisor running (pid %d)", (int)getpid());

    for (;;) {
        uint64_t now = clock_ms();
        int timeout = -1;
        for (int r = ROLE_WORKER; r <= ROLE_AUTH; r++) {
            struct role_slot *slot = &s.roles[r];
            if (slot->pid == 0 && slot->restart_at) {
                if (slot->restart_at <= now)
                    start_role(&s, (enum role)r);
                else if (timeout < 0 || slot->restart_at - now < (uint64_t)timeout)
                    timeout = (int)(slot->restart_at - now);
            }
        }
        struct pollfd p = {.fd = s.sigfd, .events = POLLIN};
        int n = poll(&p, 1, timeout);
        if (n < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            break;
        }
        if (n <= 0) continue;
        struct signalfd_siginfo si;
        bool stop = false;
        while (read(s.sigfd, &si, sizeof(si)) == sizeof(si)) {
            if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                log_info("signal %u: stopping", si.ssi_signo);
                stop = true;
            } else if (si.ssi_signo == SIGHUP) {
                log_info("SIGHUP: asking the auth daemon to reload");
                if (s.roles[ROLE_AUTH].pid > 0) kill(s.roles[ROLE_AUTH].pid, SIGHUP);
            }
        }
        if (stop) break;
        reap(&s, false);
    }
    stop_all(&s);
    log_info("stopped");
    return 0;
}
