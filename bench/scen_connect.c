/* connect-auth-cold / connect-auth-cached: login cycles. Each cycle opens a socket, sends a
 * CONNECT with a bench user's name and password, waits for CONNACK, sends DISCONNECT and
 * waits for the broker to close the connection (MQTT 3.1.1 section 3.14.4: the server
 * closes after DISCONNECT), so a cycle counts everything the broker does for one login and
 * the TIME_WAIT of each connection stays on the broker's side, not in our local ports.
 *
 * cold: cycle k logs in as bench user k, each user once, so a broker that remembers recent
 * verifications has nothing to remember: run it on a broker that has not seen these users
 * since it started (bench/run.sh starts a fresh one). cached: first one untimed login per
 * user, then every timed cycle logs in as one of those users again. */
#include "bclient.h"
#include "bench.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CYCLE_LIMIT_MS 30000u  /* a login taking longer fails the run */
#define MAX_SAMPLES 10000000ul /* latency samples kept per run */
#define KEEPALIVE_S 600

enum cstate { CS_FREE, CS_TCP, CS_CONNACK, CS_CLOSING };

struct slot {
    int fd;
    enum cstate st;
    unsigned long cycle;
    uint64_t t0;     /* socket() */
    uint64_t t_disc; /* DISCONNECT sent */
    uint8_t in[16];
    size_t inlen;
};

/* Milliseconds, at most MAX_SAMPLES of them. */
struct samples {
    double *v;
    size_t n, cap;
};

struct conn_run {
    const struct bench_opts *o;
    const char *phase; /* "warm", "cold" or "cached": part of the client ids */
    struct bloop loop; /* address, epoll set and error text */
    struct slot *slots;
    unsigned long started, done, resets;
    uint64_t t_first, t_last;
    bool timed;           /* the warm-up keeps no samples */
    struct samples login; /* socket() to CONNACK */
    struct samples close; /* DISCONNECT to the broker's close */
};

static int cfail(struct conn_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int cfail(struct conn_run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->loop.err, sizeof r->loop.err, fmt, ap);
    va_end(ap);
    return -1;
}

static void release(struct slot *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->st = CS_FREE;
    s->inlen = 0;
}

static int start_cycle(struct conn_run *r, struct slot *s, unsigned long cycle)
{
    s->cycle = cycle;
    s->inlen = 0;
    s->t0 = bench_now_ns();
    s->fd = socket(r->loop.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return cfail(r, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->st = CS_TCP;
    if (connect(s->fd, (const struct sockaddr *)&r->loop.addr, r->loop.addrlen) < 0 &&
        errno != EINPROGRESS)
        return cfail(r, "cycle %lu: connect: %s", cycle, strerror(errno));
    /* Writable once connected (also when connect() finished at once, on loopback). */
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = s};
    if (epoll_ctl(r->loop.ep, EPOLL_CTL_ADD, s->fd, &ev) < 0)
        return cfail(r, "epoll_ctl: %s", strerror(errno));
    if (r->t_first == 0)
        r->t_first = s->t0;
    r->started++;
    return 0;
}

/* A packet this small always fits an empty socket buffer: a short write is an error. */
static int send_all(struct conn_run *r, struct slot *s, const uint8_t *p, size_t n)
{
    ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);
    if (w != (ssize_t)n)
        return cfail(r, "cycle %lu: send: %s", s->cycle, w < 0 ? strerror(errno) : "short write");
    return 0;
}

static int send_connect(struct conn_run *r, struct slot *s)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0)
        return cfail(r, "cycle %lu: connect: %s", s->cycle, strerror(err));
    char id[64], user[BENCH_CRED_MAX], pw[BENCH_CRED_MAX];
    snprintf(id, sizeof id, "bb-%d-%s-%lu", (int)getpid(), r->phase, s->cycle);
    bench_user((unsigned)(s->cycle % r->o->users), user, pw);
    struct mqtt_connect_opts co = {
        .proto_level = MQTT_PROTO_311,
        .clean_session = true,
        .keepalive = KEEPALIVE_S,
        .client_id = id,
        .username = user,
        .password = pw,
    };
    uint8_t pkt[256];
    size_t n = mqtt_encode_connect(pkt, sizeof pkt, &co);
    if (n == 0)
        return cfail(r, "CONNECT does not encode");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    if (epoll_ctl(r->loop.ep, EPOLL_CTL_MOD, s->fd, &ev) < 0)
        return cfail(r, "epoll_ctl: %s", strerror(errno));
    s->st = CS_CONNACK;
    return send_all(r, s, pkt, n);
}

static void add_sample(const struct conn_run *r, struct samples *sm, uint64_t ns)
{
    if (!r->timed)
        return;
    if (sm->n == sm->cap) {
        if (sm->cap >= MAX_SAMPLES)
            return;
        size_t cap = sm->cap ? sm->cap * 2 : 1024;
        double *p = realloc(sm->v, cap * sizeof *p);
        if (!p)
            return;
        sm->v = p;
        sm->cap = cap;
    }
    sm->v[sm->n++] = (double)ns / 1e6;
}

/* Reads the CONNACK: anything else, a refusal, or more bytes than one CONNACK fails. */
static int on_connack(struct conn_run *r, struct slot *s)
{
    ssize_t n = recv(s->fd, s->in + s->inlen, sizeof s->in - s->inlen, 0);
    if (n == 0)
        return cfail(r, "cycle %lu: broker closed the connection before CONNACK", s->cycle);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        return cfail(r, "cycle %lu: recv: %s", s->cycle, strerror(errno));
    }
    uint64_t now = bench_now_ns();
    s->inlen += (size_t)n;
    uint8_t byte0;
    uint32_t rem;
    size_t hl;
    int rc = mqtt_fixed_header(s->in, s->inlen, &byte0, &rem, &hl);
    if (rc == MQTT_NEED_MORE)
        return 0;
    if (rc != MQTT_OK || rem > sizeof s->in - hl)
        return cfail(r, "cycle %lu: bad packet from broker before CONNACK", s->cycle);
    if (s->inlen < hl + rem)
        return 0;
    if (s->inlen > hl + rem)
        return cfail(r, "cycle %lu: more than a CONNACK before DISCONNECT", s->cycle);
    struct mqtt_packet p;
    rc = mqtt_decode(byte0, s->in + hl, rem, MQTT_PROTO_311, false, &p);
    if (rc != MQTT_OK || p.type != MQTT_CONNACK)
        return cfail(r, "cycle %lu: expected CONNACK, got packet type %u", s->cycle, byte0 >> 4);
    if (p.u.connack.rc != MQTT_CONNACK_ACCEPTED)
        return cfail(r, "cycle %lu: CONNACK refused, code %u (user bench-u%lu)", s->cycle,
                     p.u.connack.rc, s->cycle % r->o->users);
    add_sample(r, &r->login, now - s->t0);
    uint8_t d[2];
    size_t dn = mqtt_encode_disconnect(d, sizeof d);
    s->st = CS_CLOSING;
    s->t_disc = bench_now_ns();
    return send_all(r, s, d, dn);
}

/* After DISCONNECT only the broker's close may come. */
static int on_closing(struct conn_run *r, struct slot *s)
{
    uint8_t b[16];
    ssize_t n = recv(s->fd, b, sizeof b, 0);
    if (n > 0)
        return cfail(r, "cycle %lu: data from the broker after DISCONNECT", s->cycle);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        if (errno != ECONNRESET)
            return cfail(r, "cycle %lu: recv: %s", s->cycle, strerror(errno));
        r->resets++;
    }
    r->done++;
    r->t_last = bench_now_ns();
    add_sample(r, &r->close, r->t_last - s->t_disc);
    release(s);
    return 0;
}

static int handle(struct conn_run *r, struct slot *s, uint32_t events)
{
    switch (s->st) {
    case CS_TCP:
        return send_connect(r, s);
    case CS_CONNACK:
        if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
            return 0;
        return on_connack(r, s);
    case CS_CLOSING:
        return on_closing(r, s);
    case CS_FREE:
        break;
    }
    return 0;
}

static bool want_more(const struct conn_run *r, unsigned long n, bool timed)
{
    if (r->started < n)
        return true;
    if (!timed || r->o->min_ms == 0 || r->t_first == 0)
        return false;
    return bench_now_ns() - r->t_first < (uint64_t)r->o->min_ms * 1000000u;
}

/* Runs cycles 0..n-1 (timed: more until --min-ms has passed), o->parallel at a time. */
static int cycles(struct conn_run *r, unsigned long n, bool timed)
{
    unsigned w = r->o->parallel;
    uint64_t limit = (uint64_t)CYCLE_LIMIT_MS * 1000000u;
    for (;;) {
        bool more = want_more(r, n, timed);
        unsigned busy = 0;
        for (unsigned i = 0; i < w; i++) {
            struct slot *s = &r->slots[i];
            if (s->st == CS_FREE && more) {
                if (start_cycle(r, s, r->started) < 0)
                    return -1;
                more = want_more(r, n, timed);
            }
            if (s->st != CS_FREE)
                busy++;
        }
        if (busy == 0)
            return 0;
        struct epoll_event evs[64];
        int k = epoll_wait(r->loop.ep, evs, 64, 100);
        if (k < 0 && errno != EINTR)
            return cfail(r, "epoll_wait: %s", strerror(errno));
        for (int i = 0; i < k; i++) {
            if (handle(r, evs[i].data.ptr, evs[i].events) < 0)
                return -1;
        }
        uint64_t now = bench_now_ns();
        for (unsigned i = 0; i < w; i++) {
            struct slot *s = &r->slots[i];
            if (s->st != CS_FREE && now - s->t0 > limit)
                return cfail(r, "cycle %lu: no %s after %u ms", s->cycle,
                             s->st == CS_CLOSING ? "close after DISCONNECT" : "CONNACK",
                             CYCLE_LIMIT_MS);
        }
    }
}

int scen_connect(const struct bench_opts *o, bool cached)
{
    const char *name = cached ? "connect-auth-cached" : "connect-auth-cold";
    struct conn_run r = {.o = o};
    if (bloop_init(&r.loop, o->host, o->port) < 0) {
        bench_note("%s", r.loop.err);
        return 1;
    }
    int rc = 1;
    r.slots = calloc(o->parallel, sizeof *r.slots);
    if (!r.slots)
        goto out;
    for (unsigned i = 0; i < o->parallel; i++)
        r.slots[i].fd = -1;
    if (cached) {
        r.phase = "warm";
        if (cycles(&r, o->users, false) < 0) {
            bench_note("%s: warm-up: %s", name, r.loop.err);
            goto out;
        }
    }
    /* Cycle k logs in as user k mod users: cold runs cycles 0..users-1, each user once;
     * cached numbers on from the warm-up, so its client ids do not repeat either. */
    unsigned long n = cached ? r.started + o->connects : o->users;
    r.phase = cached ? "cached" : "cold";
    r.t_first = r.t_last = 0;
    r.done = 0;
    r.timed = true;
    if (cycles(&r, n, cached) < 0) {
        bench_note("%s: %s (%lu cycles done)", name, r.loop.err, r.done);
        goto out;
    }
    double secs = (double)(r.t_last - r.t_first) / 1e9;
    bench_result(name, "connects_per_s", secs > 0 ? (double)r.done / secs : 0, "higher");
    bench_result(name, "connack_p50_ms", bench_median(r.login.v, r.login.n), "lower");
    bench_note("%s: %lu logins as %u user(s), %u at a time, in %.3f s; median DISCONNECT to "
               "close %.2f ms%s",
               name, r.done, o->users, o->parallel, secs, bench_median(r.close.v, r.close.n),
               r.resets ? "; some connections reset after DISCONNECT" : "");
    rc = 0;
out:
    for (unsigned i = 0; r.slots && i < o->parallel; i++)
        release(&r.slots[i]);
    bloop_fini(&r.loop);
    free(r.slots);
    free(r.login.v);
    free(r.close.v);
    return rc;
}
