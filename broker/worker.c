/* worker: the event loop of the broker role: accept, read, parse, dispatch, flush,
 * timers. Reads in large chunks into one shared buffer, handles every whole packet in
 * it, and writes each connection's output once per loop turn. */
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker.h"
#include "clock.h"
#include "fdpass.h"
#include "log.h"
#include "sandbox.h"
#include "tls.h"

#define READ_CHUNK (64u * 1024u)
#define MAX_EVENTS 256
#define SWEEP_MS 100u
#define ACCEPT_BATCH 64

static void peer_name(int fd, char *out, size_t len)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
            port = ntohs(a->sin6_port);
        }
    }
    snprintf(out, len, "%s:%u", host, port);
}

static void accept_clients(struct worker *w, struct handle *lh)
{
    int lfd = lh->fd;
    size_t idx = (size_t)(lh - w->listeners);
    static uint64_t refused;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                log_warn("accept: %s (raise the descriptor limit or lower max_connections)",
                         strerror(errno));
            return;
        }
        if (w->n_conns >= w->lim->max_connections) {
            if ((refused++ & 1023) == 0)
                log_warn("max_connections (%u) reached: refusing connections",
                         w->lim->max_connections);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = conn_new(w, fd);
        if (!c) {
            close(fd);
            continue;
        }
        peer_name(fd, c->peer, sizeof(c->peer));
        c->listener = (uint8_t)idx;
        if (tls_conn_attach(w, c, idx) != 0) {
            conn_close(w, c, "out of memory for TLS");
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->h};
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            conn_close(w, c, "epoll_ctl failed");
            continue;
        }
        c->ep_events = EPOLLIN;
    }
}

/* Handles every whole packet in buf; returns how many bytes were consumed. */
static size_t parse_packets(struct worker *w, struct conn *c, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len && c->state != CS_CLOSED && c->wait == WAIT_NONE &&
           !conn_output_full(w, c) && !c->rate_resume_ms) {
        uint8_t b0;
        uint32_t rem;
        size_t hl;
        int r = mqtt_fixed_header(buf + off, len - off, &b0, &rem, &hl);
        if (r == MQTT_NEED_MORE) break;
        if (r != MQTT_OK) {
            log_info("protocol violation from %s: bad remaining length; closing", c->peer);
            conn_close(w, c, "bad remaining length");
            return len;
        }
        uint64_t total = (uint64_t)hl + rem;
        if (total > w->lim->max_packet_size) {
            log_info("%s sent a packet of %llu bytes, over max_packet_size %u; closing", c->peer,
                     (unsigned long long)total, w->lim->max_packet_size);
            conn_disconnect(w, c, MQTT_RC_PACKET_TOO_LARGE, "packet too large");
            return len;
        }
        if (len - off < total) break;
        if ((b0 >> 4) == MQTT_PUBLISH && c->state == CS_ACTIVE && !rate_take(w, c, (uint32_t)total)) {
            conn_update_events(w, c); /* over the identity's rate: stop reading for now */
            break;
        }
        proto_handle(w, c, b0, buf + off + hl, rem);
        off += (size_t)total;
    }
    return off;
}

static int keep_rest(struct conn *c, const uint8_t *p, size_t n)
{
    if (n > c->in_cap) {
        uint8_t *nb = realloc(c->in, n);
        if (!nb) return -1;
        c->in = nb;
        c->in_cap = (uint32_t)n;
    }
    memmove(c->in, p, n);
    c->in_len = (uint32_t)n;
    return 0;
}

void worker_process_input(struct worker *w, struct conn *c)
{
    if (!c->in_len || c->state == CS_CLOSED) return;
    size_t used = parse_packets(w, c, c->in, c->in_len);
    if (c->state == CS_CLOSED) return;
    c->in_len -= (uint32_t)used;
    if (c->in_len) memmove(c->in, c->in + used, c->in_len);
    if (!c->in_len) {
        free(c->in); /* idle connections hold no input buffer */
        c->in = NULL;
        c->in_cap = 0;
    }
}

/* Room for the rest of the packet being assembled, bounded by max_packet_size. */
static int grow_input(struct worker *w, struct conn *c)
{
    size_t want = c->in_len + READ_CHUNK;
    uint8_t b0;
    uint32_t rem;
    size_t hl;
    if (mqtt_fixed_header(c->in, c->in_len, &b0, &rem, &hl) == MQTT_OK && hl + rem > want)
        want = hl + rem;
    size_t max = (size_t)w->lim->max_packet_size + READ_CHUNK;
    if (want > max) want = max;
    if (want <= c->in_cap) return 0;
    uint8_t *nb = realloc(c->in, want);
    if (!nb) return -1;
    c->in = nb;
    c->in_cap = (uint32_t)want;
    return 0;
}

/* read(2) for plain connections; plaintext out of wolfSSL for TLS ones (errno EAGAIN when
 * nothing is there yet, including a handshake still under way). */
static ssize_t conn_recv(struct worker *w, struct conn *c, uint8_t *buf, size_t cap)
{
    if (!c->tls)
        return read(c->h.fd, buf, cap);
    ssize_t n = tls_read(w, c, buf, cap);
    if (n > 0)
        return n;
    errno = EAGAIN; /* 0: waiting; -1: already closed, which the caller sees */
    return -1;
}

static void on_readable(struct worker *w, struct conn *c)
{
    if (c->wait != WAIT_NONE || conn_output_full(w, c)) {
        conn_update_events(w, c);
        return;
    }
    ssize_t n;
    if (c->in_len == 0) {
        n = conn_recv(w, c, w->rbuf, w->rbuf_cap);
        if (n > 0) {
            c->last_rx_ms = w->now;
            size_t used = parse_packets(w, c, w->rbuf, (size_t)n);
            if (c->state != CS_CLOSED && used < (size_t)n &&
                keep_rest(c, w->rbuf + used, (size_t)n - used) != 0)
                conn_close(w, c, "out of memory");
            return;
        }
    } else {
        if (grow_input(w, c) != 0) {
            conn_close(w, c, "out of memory");
            return;
        }
        n = conn_recv(w, c, c->in + c->in_len, c->in_cap - c->in_len);
        if (n > 0) {
            c->last_rx_ms = w->now;
            c->in_len += (uint32_t)n;
            worker_process_input(w, c);
            return;
        }
    }
    if (n == 0)
        conn_close(w, c, "connection closed by peer");
    else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        conn_close(w, c, strerror(errno));
}

void worker_conn_event(struct worker *w, struct conn *c, uint32_t events)
{
    if (c->state == CS_CLOSED)
        return;
    /* HUP/ERR fire even without EPOLLIN: a paused connection (waiting for a
     * verdict or for its output to drain) would spin on them, so close it. */
    if ((events & (EPOLLHUP | EPOLLERR)) && !(c->ep_events & EPOLLIN))
        conn_close(w, c, "connection lost");
    else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(w, c);
    if ((events & EPOLLOUT) && c->state != CS_CLOSED)
        conn_mark_dirty(w, c);
}

void worker_publish_will(struct worker *w, struct conn *c)
{
    struct msg *m = c->will;
    c->will = NULL;
    struct session *s = c->session;
    /* 5.0 Will Delay Interval: the will waits in a session that outlives the connection and
     * goes out at the earlier of the delay and the session's end (3.1.3.2.2). */
    if (c->proto >= MQTT_PROTO_5 && c->v5.will_delay && s && s->conn == c && !s->clean) {
        msg_unref(s->will);
        s->will = m;
        s->will_at = w->now + (uint64_t)c->v5.will_delay * 1000u;
        return;
    }
    msg_start_expiry(m, w->now);
    if (m->retain && retained_set(w->retained, m) != 0)
        log_error("out of memory storing a retained will");
    route_publish(w, m);
    msg_unref(m);
}

void worker_sweep(struct worker *w)
{
    struct conn *next;
    for (struct conn *c = w->conns; c; c = next) {
        next = c->next;
        if (!tls_handshake_done(c) &&
            w->now - c->created_ms >= w->cfg->listeners[c->listener].tls.handshake_timeout_ms) {
            log_info("%s: TLS handshake not done within %u ms; closing", c->peer,
                     w->cfg->listeners[c->listener].tls.handshake_timeout_ms);
            conn_close(w, c, "TLS handshake timeout");
        } else if ((c->state == CS_WAIT_CONNECT || c->v5.auth_challenged) &&
                   w->now - c->created_ms >= w->lim->connect_timeout_ms) {
            log_info("%s did not finish CONNECT within %u ms; closing", c->peer,
                     w->lim->connect_timeout_ms);
            conn_close(w, c, "connect timeout");
        } else if (c->state == CS_ACTIVE && c->keepalive &&
                   w->now - c->last_rx_ms > (uint64_t)c->keepalive * 1500u) {
            log_info("%s: keep-alive of %u s expired; closing", c->peer, c->keepalive);
            conn_disconnect(w, c, MQTT_RC_KEEP_ALIVE_TIMEOUT, "keep-alive expired");
        } else if (c->rate_resume_ms && w->now >= c->rate_resume_ms) {
            c->rate_resume_ms = 0;
            c->last_rx_ms = w->now; /* it did send: its bytes waited in the socket for us */
            conn_update_events(w, c);
            worker_process_input(w, c);
        }
    }
    auth_client_check_timeouts(w);
    session_sweep(w);
    recheck_continue(w);
}

static void flush_dirty(struct worker *w)
{
    while (w->dirty) {
        struct conn *c = w->dirty;
        w->dirty = c->dirty_next;
        c->dirty = false;
        if (c->state == CS_CLOSED) continue;
        if (conn_flush(w, c) != 0) continue;
        /* Input parked while the output queue was full can go on now. */
        if (c->in_len && c->wait == WAIT_NONE && !conn_output_full(w, c))
            worker_process_input(w, c);
    }
}

static void bury(struct worker *w)
{
    while (w->graveyard) {
        struct conn *c = w->graveyard;
        w->graveyard = c->next;
        conn_free(w, c);
    }
}

static void on_ctl(struct worker *w)
{
    char tag;
    int fd;
    int r = fdpass_recv(w->ctl.fd, &tag, &fd);
    if (r == 0 || (r < 0 && errno != EAGAIN)) {
        log_info("supervisor gone; stopping");
        w->stopping = true;
        return;
    }
    if (r > 0 && tag == 'P' && fd >= 0)
        auth_client_attach(w, fd);
    else if (r > 0 && tag == 'K' && fd >= 0)
        tls_set_key_channel(fd);
    else if (r > 0 && fd >= 0)
        close(fd);
}

struct session_list {
    struct session **s;
    size_t n;
};

static bool collect_session(void *ctx, const void *key, size_t len, void *value)
{
    (void)key;
    (void)len;
    struct session_list *l = ctx;
    l->s[l->n++] = value;
    return false;
}

/* session_destroy takes a session out of the map: list them first, then destroy. */
static void destroy_sessions(struct worker *w)
{
    size_t n = strmap_count(&w->sessions) + 1;
    struct session_list l = {.s = malloc(sizeof(struct session *) * n)};
    if (!l.s)
        return; /* at exit: the process ends anyway */
    strmap_each(&w->sessions, collect_session, &l);
    for (size_t i = 0; i < l.n; i++)
        session_destroy(w, l.s[i]);
    free(l.s);
}

void worker_fini(struct worker *w)
{
    while (w->conns) {
        w->conns->clean_disconnect = true; /* the broker is stopping: no wills */
        conn_disconnect(w, w->conns, MQTT_RC_SERVER_SHUTTING_DOWN, "broker stopping");
    }
    flush_dirty(w);
    bury(w);
    if (w->auth_up) auth_client_detach(w, "stopping");
    destroy_sessions(w);
    strmap_clear(&w->sessions);
    share_fini(w);
    sub_tree_free(w->subs);
    retained_free(w->retained);
    while (w->out_free) {
        struct out_item *it = w->out_free;
        w->out_free = it->next;
        free(it);
    }
    free(w->pend);
    free(w->deliv);
    free(w->id_links);
    free(w->share_hits);
    free(w->rbuf);
    tls_teardown(w);
    close(w->epfd);
}

static int add_handle(struct worker *w, struct handle *h, int fd, enum handle_kind kind)
{
    h->kind = kind;
    h->fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = h};
    return epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int worker_init(struct worker *w, const struct config *cfg)
{
    memset(w, 0, sizeof(*w));
    w->cfg = cfg;
    w->lim = &cfg->limits;
    w->tlim.max_length = cfg->limits.max_topic_length;
    w->tlim.max_levels = cfg->limits.max_topic_levels;
    w->now = clock_ms();
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->rbuf_cap = READ_CHUNK;
    w->rbuf = malloc(w->rbuf_cap);
    w->subs = sub_tree_new();
    w->retained = retained_new();
    strmap_init(&w->sessions);
    strmap_init(&w->shares);
    if (w->epfd < 0 || !w->rbuf || !w->subs || !w->retained) {
        log_error("worker setup failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void worker_end_turn(struct worker *w)
{
    if (w->tls_kick)
        tls_run_kicks(w, on_readable);
    flush_dirty(w);
    auth_client_flush(w);
    bury(w);
}

int worker_main(const struct cmdline *cl, const struct config *cfg)
{
    static struct worker w;
    if (!cl->no_sandbox) sandbox_watch(SANDBOX_WORKER, cl->ctl_fd);
    if (worker_init(&w, cfg) != 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
#ifdef BULWARK_TEST_HOOKS
    sigaddset(&mask, SIGUSR2); /* tests: make a forbidden system call */
#endif
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return 1;
    }
    fcntl(cl->ctl_fd, F_SETFD, FD_CLOEXEC);
    fcntl(cl->ctl_fd, F_SETFL, fcntl(cl->ctl_fd, F_GETFL) | O_NONBLOCK);
    if (add_handle(&w, &w.sig, sfd, H_SIGNAL) != 0 ||
        add_handle(&w, &w.ctl, cl->ctl_fd, H_CTL) != 0) {
        log_error("epoll_ctl: %s", strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < cl->n_listen_fds; i++) {
        int fd = cl->listen_fds[i];
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (add_handle(&w, &w.listeners[w.n_listeners++], fd, H_LISTENER) != 0) {
            log_error("epoll_ctl listener: %s", strerror(errno));
            return 1;
        }
    }
    fcntl(cl->ipc_fd, F_SETFD, FD_CLOEXEC);
    auth_client_attach(&w, cl->ipc_fd);
    fcntl(cl->key_fd, F_SETFD, FD_CLOEXEC);
    char terr[1024];
    if (tls_setup(&w, cfg, cl->key_fd, terr, sizeof(terr)) != 0) {
        log_error("TLS: %s", terr);
        return 1;
    }

    /* Setup is done: from here on no file, no new socket, no process (docs/HARDENING.md). */
    int keep[CONFIG_MAX_LISTENERS + 5];
    size_t n_keep = 0;
    keep[n_keep++] = cl->key_fd;
    keep[n_keep++] = w.epfd;
    keep[n_keep++] = sfd;
    keep[n_keep++] = cl->ctl_fd;
    if (w.auth_up) keep[n_keep++] = w.auth_h.fd;
    for (size_t i = 0; i < w.n_listeners; i++)
        keep[n_keep++] = w.listeners[i].fd;
    struct sandbox_plan plan = {.role = SANDBOX_WORKER,
                                .switch_user = cl->run_as,
                                .uid = cl->run_uid,
                                .gid = cl->run_gid,
                                .allow_root = cfg->sandbox.allow_root,
                                .keep_fds = keep,
                                .n_keep = n_keep,
                                .report_fd = cl->ctl_fd};
    if (sandbox_start_role(&plan, cl->no_sandbox) != 0) return 1;
    log_info("worker ready: %zu listeners", w.n_listeners);

    uint64_t next_sweep = w.now + SWEEP_MS;
    struct epoll_event evs[MAX_EVENTS];
    while (!w.stopping) {
        int timeout = w.tls_kick ? 0 : (int)(next_sweep > w.now ? next_sweep - w.now : 0);
        int n = epoll_wait(w.epfd, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            log_error("epoll_wait: %s", strerror(errno));
            break;
        }
        w.now = clock_ms();
        for (int i = 0; i < n; i++) {
            struct handle *h = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            switch (h->kind) {
            case H_LISTENER:
                accept_clients(&w, h);
                break;
            case H_CONN:
                worker_conn_event(&w, (struct conn *)h, e);
                break;
            case H_AUTH:
                if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) auth_client_on_readable(&w);
                if ((e & EPOLLOUT) && w.auth_up) w.auth_dirty = true;
                break;
            case H_CTL:
                on_ctl(&w);
                break;
            case H_SIGNAL: {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
#ifdef BULWARK_TEST_HOOKS
                    if (si.ssi_signo == SIGUSR2) {
                        sandbox_test_violation();
                        continue;
                    }
#endif
                    w.stopping = true;
                }
                break;
            }
            }
        }
        if (w.now >= next_sweep) {
            worker_sweep(&w);
            next_sweep = w.now + SWEEP_MS;
        }
        worker_end_turn(&w);
    }
    log_info("stopping");
    worker_fini(&w);
    close(sfd);
    return 0;
}
