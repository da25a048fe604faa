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
#include "sandbox.h"
#include "sandbox_privs.h"
#include "sandbox_seccomp.h"

#define BACKOFF_MIN_MS 200u
#define BACKOFF_MAX_MS 30000u
#define STABLE_AFTER_MS 30000u /* a role alive this long gets its backoff reset */
#define STOP_GRACE_MS 5000u

struct role_slot {
    enum role role;
    pid_t pid;      /* 0 when not running */
    int ctl;        /* supervisor's end of the control channel, -1 when not running */
    bool ctl_eof;   /* the role closed its end: stop polling it */
    int pending[2]; /* ends of worker<->auth pairs (enum chan) waiting for this role's start */
    uint32_t backoff_ms;
    uint64_t started_at;
    uint64_t restart_at; /* 0: no restart scheduled */
    bool run_as;         /* start it with --run-as uid:gid */
    uid_t uid;
    gid_t gid;
    bool reported;     /* the running instance reported a sandbox violation */
    int32_t violation; /* ... of this system call */
    uint64_t deaths[CONFIG_MAX_RESTARTS_MAX + 1]; /* ring of the latest death times */
    size_t death_head, n_deaths;
};

struct supervisor {
    int argc;
    char **argv;
    const struct config *cfg;
    bool sandbox;
    int listen_fds[CONFIG_MAX_LISTENERS];
    size_t n_listen;
    struct role_slot roles[3]; /* indexed by enum role; [ROLE_SUPERVISOR] unused */
    int sigfd;
    bool give_up; /* crash-loop limit reached */
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

/* The two worker<->auth channels: requests and verdicts (a byte stream, common/ipc.h) and
 * handshake signatures (datagrams, common/keysign.h). */
enum chan { CHAN_IPC = 0, CHAN_KEY = 1 };
static const char chan_tag[2] = {'P', 'K'};

/* Gives the starting role one end of a worker<->auth channel and makes sure the peer
 * holds the other end: handed over now if the peer runs, or kept for its next start. */
static int chan_end_for(struct supervisor *s, enum role r, enum chan ch)
{
    struct role_slot *me = &s->roles[r];
    struct role_slot *peer = &s->roles[peer_of(r)];
    if (me->pending[ch] >= 0) {
        int fd = me->pending[ch];
        me->pending[ch] = -1;
        return fd;
    }
    int pair[2];
    int type = ch == CHAN_IPC ? SOCK_STREAM : SOCK_SEQPACKET;
    if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, pair) != 0)
        return -1;
    if (ch == CHAN_KEY) {
        /* The worker waits for a signature in the middle of a handshake: bounded by
         * auth_timeout_ms, set here because its sandbox cannot on a channel handed over
         * later. */
        uint32_t ms = s->cfg->limits.auth_timeout_ms;
        struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
        int worker_end = r == ROLE_WORKER ? pair[0] : pair[1];
        setsockopt(worker_end, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(worker_end, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    if (peer->pid > 0 && peer->ctl >= 0) {
        if (fdpass_send(peer->ctl, chan_tag[ch], pair[1]) != 0)
            log_warn("could not hand a new channel to %s: %s", role_name(peer->role),
                     strerror(errno));
        close(pair[1]);
    } else {
        if (peer->pending[ch] >= 0)
            close(peer->pending[ch]);
        peer->pending[ch] = pair[1];
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
    int ipc = chan_end_for(s, r, CHAN_IPC);
    int key = ipc >= 0 ? chan_end_for(s, r, CHAN_KEY) : -1;
    if (ipc < 0 || key < 0) {
        log_error("socketpair: %s", strerror(errno));
        close(ctl[0]);
        close(ctl[1]);
        if (ipc >= 0)
            close(ipc);
        slot->restart_at = clock_ms() + slot->backoff_ms;
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork %s: %s", role_name(r), strerror(errno));
        close(ctl[0]);
        close(ctl[1]);
        close(ipc);
        close(key);
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
        char idbuf[32];
        char keybuf[16];
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
        snprintf(keybuf, sizeof(keybuf), "%d", key);
        args[n++] = "--key-fd";
        args[n++] = keybuf;
        set_cloexec(key, false);
        if (slot->run_as) {
            snprintf(idbuf, sizeof(idbuf), "%u:%u", (unsigned)slot->uid, (unsigned)slot->gid);
            args[n++] = "--run-as";
            args[n++] = idbuf;
        }
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
    close(key);
    slot->pid = pid;
    slot->ctl = ctl[0];
    slot->ctl_eof = false;
    slot->reported = false;
    slot->started_at = clock_ms();
    slot->restart_at = 0;
    log_info("started %s (pid %d)", role_name(r), (int)pid);
}

/* Reads what a role sent on its control channel: only violation reports are expected. A role
 * is not trusted: at most a few messages per call, anything else is ignored. */
static void drain_ctl(struct role_slot *slot)
{
    for (int i = 0; i < 16 && slot->ctl >= 0 && !slot->ctl_eof; i++) {
        unsigned char buf[64];
        ssize_t n = recv(slot->ctl, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) {
            slot->ctl_eof = true; /* closed, or broken: the death will follow */
            return;
        }
        int32_t nr;
        uint32_t arch;
        if (sandbox_report_parse(buf, (size_t)n, &nr, &arch) == 0) {
            slot->reported = true;
            slot->violation = nr;
        }
    }
}

static void describe_exit(const struct role_slot *slot, int status, char *buf, size_t len)
{
    if (WIFEXITED(status)) {
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) {
        char name[64];
        if (slot->reported)
            snprintf(buf, len, "killed by signal %d (%s): sandbox violation: system call %s (%d)",
                     SIGSYS, strsignal(SIGSYS),
                     sandbox_syscall_name(slot->violation, name, sizeof(name)),
                     (int)slot->violation);
        else
            snprintf(buf, len,
                     "killed by signal %d (%s): sandbox violation (not reported: SIGSYS was "
                     "blocked, or the role had not installed its reporter yet)",
                     SIGSYS, strsignal(SIGSYS));
    } else if (WIFSIGNALED(status)) {
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    } else {
        snprintf(buf, len, "stopped (status 0x%x)", status);
    }
}

/* Records a death; true when it is one more than max_restarts within restart_window_s. */
static bool crash_loop(struct role_slot *slot, const struct config_supervisor *lim, uint64_t now)
{
    size_t cap = (size_t)lim->max_restarts + 1;
    slot->deaths[slot->death_head] = now;
    slot->death_head = (slot->death_head + 1) % cap;
    if (slot->n_deaths < cap) slot->n_deaths++;
    if (slot->n_deaths < cap) return false;
    /* The ring is full: the head is the oldest of the last cap deaths. */
    return now - slot->deaths[slot->death_head] <= (uint64_t)lim->restart_window_s * 1000u;
}

static void reap(struct supervisor *s, bool stopping)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int r = ROLE_WORKER; r <= ROLE_AUTH; r++) {
            struct role_slot *slot = &s->roles[r];
            if (slot->pid != pid) continue;
            char why[192];
            drain_ctl(slot); /* a violation report is written before the death */
            describe_exit(slot, status, why, sizeof(why));
            slot->pid = 0;
            if (slot->ctl >= 0) close(slot->ctl);
            slot->ctl = -1;
            if (stopping) {
                log_info("%s (pid %d) %s", role_name(slot->role), (int)pid, why);
                break;
            }
            uint64_t now = clock_ms();
            if (crash_loop(slot, &s->cfg->supervisor, now)) {
                log_error("%s (pid %d) %s; it died %u times within %u s "
                          "(supervisor.max_restarts, supervisor.restart_window_s): giving up, "
                          "stopping everything",
                          role_name(slot->role), (int)pid, why, s->cfg->supervisor.max_restarts + 1,
                          s->cfg->supervisor.restart_window_s);
                s->give_up = true;
                break;
            }
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

/* Root: each role needs a usable user of its own (checked now, so a bad one fails the
 * start). Not root: the roles cannot switch users and keep ours. */
static int plan_users(struct supervisor *s, const struct config *cfg)
{
    if (geteuid() != 0) {
        log_info("running as uid %u: the roles keep it (start as root to give them their own "
                 "users); no_new_privs, Landlock and seccomp still apply",
                 (unsigned)geteuid());
        return 0;
    }
    const struct config_role_user *ru[3] = {NULL, &cfg->sandbox.worker, &cfg->sandbox.auth};
    static const char *const key[3] = {NULL, "sandbox.worker", "sandbox.auth"};
    for (int r = ROLE_WORKER; r <= ROLE_AUTH; r++) {
        struct role_slot *slot = &s->roles[r];
        char err[512];
        if (sandbox_resolve_ids(key[r], ru[r]->user, ru[r]->group, cfg->sandbox.allow_root,
                                &slot->uid, &slot->gid, err, sizeof(err)) != 0) {
            log_error("%s", err);
            return -1;
        }
        slot->run_as = true;
        log_info("%s will run as %s (uid %u, gid %u)", role_name((enum role)r), ru[r]->user,
                 (unsigned)slot->uid, (unsigned)slot->gid);
    }
    if (s->roles[ROLE_WORKER].uid == s->roles[ROLE_AUTH].uid)
        log_warn("the worker and the auth daemon share uid %u: a compromised worker could "
                 "signal the auth daemon; give them distinct users",
                 (unsigned)s->roles[ROLE_WORKER].uid);
    return 0;
}

static int confine_self(struct supervisor *s)
{
    int keep[CONFIG_MAX_LISTENERS + 1];
    size_t n = 0;
    for (size_t i = 0; i < s->n_listen; i++)
        keep[n++] = s->listen_fds[i];
    keep[n++] = s->sigfd;
    struct sandbox_plan plan = {
        .role = SANDBOX_SUPERVISOR, .keep_fds = keep, .n_keep = n, .report_fd = -1};
    /* The auth daemon creates and appends to its audit log before its own sandbox. */
    if (s->cfg->auth.audit_log[0]) plan.write_files[plan.n_write_files++] = s->cfg->auth.audit_log;
    char err[512];
    if (sandbox_enter(&plan, err, sizeof(err)) != 0) {
        log_error("sandbox: %s (--insecure-no-sandbox skips it, for debugging only)", err);
        return -1;
    }
    return 0;
}

/* One poll over the signalfd and the control channels of the running roles. */
static int wait_events(struct supervisor *s, int timeout, bool *signals)
{
    struct pollfd p[3] = {{.fd = s->sigfd, .events = POLLIN}};
    for (int r = ROLE_WORKER; r <= ROLE_AUTH; r++) {
        struct role_slot *slot = &s->roles[r];
        p[r].fd = slot->ctl >= 0 && !slot->ctl_eof ? slot->ctl : -1;
        p[r].events = POLLIN;
    }
    int n = poll(p, 3, timeout);
    if (n <= 0) return n;
    for (int r = ROLE_WORKER; r <= ROLE_AUTH; r++)
        if (p[r].revents) drain_ctl(&s->roles[r]);
    *signals = p[0].revents != 0;
    return n;
}

int supervisor_main(int argc, char **argv, const struct cmdline *cl, const struct config *cfg)
{
    static struct supervisor s;
    s.argc = argc;
    s.argv = argv;
    s.cfg = cfg;
    s.sandbox = !cl->no_sandbox;
    for (int r = 0; r < 3; r++) {
        s.roles[r] = (struct role_slot){
            .role = (enum role)r, .ctl = -1, .pending = {-1, -1}, .backoff_ms = BACKOFF_MIN_MS};
    }
    if (!s.sandbox)
        sandbox_warn_insecure();
    else if (plan_users(&s, cfg) != 0)
        return 1;
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
    if (s.sandbox && confine_self(&s) != 0) return 1;
    start_role(&s, ROLE_AUTH);
    start_role(&s, ROLE_WORKER);
    log_info("bulwarkd supervisor running (pid %d)", (int)getpid());

    while (!s.give_up) {
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
        bool signals = false;
        int n = wait_events(&s, timeout, &signals);
        if (n < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            break;
        }
        if (!signals) continue;
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
    return s.give_up ? 1 : 0;
}
