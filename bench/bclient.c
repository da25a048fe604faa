/* Non-blocking MQTT client sockets on one epoll loop, for the load generator. */
#include "bclient.h"
#include "bench.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define KEEPALIVE_S 600 /* longer than any run: no PINGREQ traffic in the figures */
#define READS_PER_WAKE 8

static int fail(struct bloop *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct bloop *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err, sizeof l->err, fmt, ap);
    va_end(ap);
    return -1;
}

int bloop_init(struct bloop *l, const char *host, uint16_t port)
{
    memset(l, 0, sizeof *l);
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, portstr, &hints, &ai);
    if (rc != 0)
        return fail(l, "resolve %s: %s", host, gai_strerror(rc));
    memcpy(&l->addr, ai->ai_addr, ai->ai_addrlen);
    l->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0)
        return fail(l, "epoll_create1: %s", strerror(errno));
    return 0;
}

void bloop_fini(struct bloop *l)
{
    if (l->ep >= 0)
        close(l->ep);
    l->ep = -1;
}

static int bbuf_init(struct bbuf *b, size_t cap, size_t max)
{
    memset(b, 0, sizeof *b);
    b->p = malloc(cap);
    if (!b->p)
        return -1;
    b->cap = cap;
    b->max = max;
    return 0;
}

int bclient_init(struct bclient *c, unsigned idx, const char *id, size_t in_cap, size_t out_max)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->idx = idx;
    snprintf(c->id, sizeof c->id, "%s", id);
    size_t out_cap = out_max < 4096 ? out_max : 4096;
    if (bbuf_init(&c->in, in_cap, in_cap) < 0)
        return -1;
    if (bbuf_init(&c->out, out_cap, out_max) < 0) {
        free(c->in.p);
        c->in.p = NULL;
        return -1;
    }
    return 0;
}

void bclient_set_sub(struct bclient *c, const char *filter, uint8_t qos)
{
    snprintf(c->filter, sizeof c->filter, "%s", filter ? filter : "");
    c->sub_qos = qos;
}

void bclient_set_auth(struct bclient *c, const char *user, const char *pass)
{
    snprintf(c->user, sizeof c->user, "%s", user ? user : "");
    snprintf(c->pass, sizeof c->pass, "%s", user && pass ? pass : "");
}

void bclient_close(struct bclient *c)
{
    if (c->fd >= 0) {
        if (c->st == BC_READY) {
            uint8_t d[2];
            size_t n = mqtt_encode_disconnect(d, sizeof d);
            /* Best effort: a full socket buffer just means the broker sees a plain close. */
            (void)send(c->fd, d, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        close(c->fd); /* also leaves the epoll set */
    }
    c->fd = -1;
    c->st = BC_CLOSED;
    free(c->in.p);
    free(c->out.p);
    c->in.p = c->out.p = NULL;
}

static int watch(struct bloop *l, struct bclient *c, bool want_out, int op)
{
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(l->ep, op, c->fd, &ev) < 0)
        return fail(l, "%s: epoll_ctl: %s", c->id, strerror(errno));
    c->out_watched = want_out;
    return 0;
}

bool bclient_out_pending(const struct bclient *c)
{
    return c->out.len > c->out.off;
}

uint8_t *bclient_reserve(struct bclient *c, size_t n)
{
    struct bbuf *b = &c->out;
    if (b->cap - b->len >= n)
        return b->p + b->len;
    if (b->off > 0) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= n)
            return b->p + b->len;
    }
    if (n > b->max - b->len)
        return NULL;
    size_t cap = b->cap;
    while (cap - b->len < n)
        cap = cap * 2 > b->max ? b->max : cap * 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return NULL;
    b->p = p;
    b->cap = cap;
    return b->p + b->len;
}

void bclient_commit(struct bclient *c, size_t n)
{
    c->out.len += n;
}

int bclient_flush(struct bloop *l, struct bclient *c)
{
    struct bbuf *b = &c->out;
    while (b->len > b->off) {
        ssize_t w = send(c->fd, b->p + b->off, b->len - b->off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return fail(l, "%s: send: %s", c->id, strerror(errno));
        }
        b->off += (size_t)w;
    }
    if (b->off == b->len)
        b->off = b->len = 0;
    bool want = b->len > b->off;
    if (want != c->out_watched)
        return watch(l, c, want, EPOLL_CTL_MOD);
    return 0;
}

static int send_packet(struct bloop *l, struct bclient *c, const uint8_t *pkt, size_t n)
{
    uint8_t *dst = bclient_reserve(c, n);
    if (!dst)
        return fail(l, "%s: write backlog full", c->id);
    memcpy(dst, pkt, n);
    bclient_commit(c, n);
    return bclient_flush(l, c);
}

static uint8_t proto_level = MQTT_PROTO_311;

void bclient_set_proto(uint8_t level)
{
    proto_level = level;
}

uint8_t bclient_proto(void)
{
    return proto_level;
}

size_t bclient_encode_publish(uint8_t *out, size_t cap, uint8_t qos, const char *topic,
                              uint16_t packet_id, const uint8_t *payload, size_t payload_len)
{
    if (proto_level >= MQTT_PROTO_5)
        return mqtt_encode_publish5(out, cap, qos, false, false, topic, packet_id, NULL, 0, payload,
                                    payload_len);
    return mqtt_encode_publish(out, cap, qos, false, false, topic, packet_id, payload, payload_len);
}

static int send_connect(struct bloop *l, struct bclient *c)
{
    struct mqtt_connect_opts o = {
        .proto_level = proto_level,
        .clean_session = true,
        .keepalive = KEEPALIVE_S,
        .client_id = c->id,
        .username = c->user[0] ? c->user : NULL,
        .password = c->user[0] ? c->pass : NULL,
    };
    uint8_t pkt[256];
    size_t n = mqtt_encode_connect(pkt, sizeof pkt, &o);
    if (n == 0)
        return fail(l, "%s: CONNECT does not encode", c->id);
    c->st = BC_CONNACK;
    return send_packet(l, c, pkt, n);
}

static void became_ready(struct bloop *l, struct bclient *c)
{
    c->st = BC_READY;
    l->handshaking--;
    l->ready++;
}

/* Setup replies move the handshake on; everything else goes to the scenario. */
static int dispatch(struct bloop *l, struct bclient *c, const struct mqtt_packet *p)
{
    if (c->st == BC_CONNACK) {
        if (p->type != MQTT_CONNACK)
            return fail(l, "%s: expected CONNACK, got type %u", c->id, p->type);
        if (p->u.connack.rc != MQTT_CONNACK_ACCEPTED)
            return fail(l, "%s: CONNACK refused, code %u", c->id, p->u.connack.rc);
        if (c->filter[0] == '\0') {
            became_ready(l, c);
            return 0;
        }
        uint8_t pkt[128];
        size_t n = proto_level >= MQTT_PROTO_5
                       ? mqtt_encode_subscribe5(pkt, sizeof pkt, 1, NULL, 0, c->filter, c->sub_qos)
                       : mqtt_encode_subscribe(pkt, sizeof pkt, 1, c->filter, c->sub_qos);
        if (n == 0)
            return fail(l, "%s: SUBSCRIBE does not encode", c->id);
        c->st = BC_SUBACK;
        return send_packet(l, c, pkt, n);
    }
    if (c->st == BC_SUBACK && p->type == MQTT_SUBACK) {
        if (p->u.suback.packet_id != 1 || p->u.suback.count != 1)
            return fail(l, "%s: SUBACK does not match the SUBSCRIBE", c->id);
        if (p->u.suback.codes[0] >= 0x80)
            return fail(l, "%s: subscription to %s refused", c->id, c->filter);
        became_ready(l, c);
        return 0;
    }
    if (p->type == MQTT_PINGRESP)
        return 0;
    if (c->on_packet)
        c->on_packet(c, p, c->ctx);
    return 0;
}

/* Decodes every complete packet in the read buffer. */
static int parse(struct bloop *l, struct bclient *c)
{
    struct bbuf *b = &c->in;
    while (b->len > b->off) {
        uint8_t byte0;
        uint32_t rem;
        size_t hl;
        const uint8_t *p = b->p + b->off;
        size_t avail = b->len - b->off;
        int rc = mqtt_fixed_header(p, avail, &byte0, &rem, &hl);
        if (rc == MQTT_NEED_MORE)
            break;
        if (rc != MQTT_OK)
            return fail(l, "%s: bad fixed header from broker", c->id);
        if (rem > b->cap - hl)
            return fail(l, "%s: %u-byte packet exceeds the read buffer", c->id, rem);
        if (avail - hl < rem)
            break;
        struct mqtt_packet pkt;
        rc = mqtt_decode(byte0, p + hl, rem, proto_level, false, &pkt);
        if (rc != MQTT_OK)
            return fail(l, "%s: packet type %u from broker: %s", c->id, byte0 >> 4,
                        mqtt_err_str(rc));
        b->off += hl + rem;
        if (dispatch(l, c, &pkt) < 0)
            return -1;
    }
    if (b->off == b->len) {
        b->off = b->len = 0;
    } else if (b->off > 0) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    return 0;
}

static int on_readable(struct bloop *l, struct bclient *c)
{
    struct bbuf *b = &c->in;
    for (int i = 0; i < READS_PER_WAKE; i++) {
        size_t room = b->cap - b->len;
        ssize_t r = recv(c->fd, b->p + b->len, room, 0);
        if (r == 0)
            return fail(l, "%s: broker closed the connection", c->id);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return fail(l, "%s: recv: %s", c->id, strerror(errno));
        }
        c->rx_at = bench_now_ns();
        b->len += (size_t)r;
        if (parse(l, c) < 0)
            return -1;
        if ((size_t)r < room)
            break; /* drained: level-triggered epoll reports any later data */
    }
    if (bclient_out_pending(c))
        return bclient_flush(l, c);
    return 0;
}

static int on_connected(struct bloop *l, struct bclient *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0)
        return fail(l, "%s: connect: %s", c->id, strerror(err));
    return send_connect(l, c);
}

static int start(struct bloop *l, struct bclient *c)
{
    c->fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return fail(l, "%s: socket: %s", c->id, strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    l->handshaking++;
    c->st = BC_TCP;
    if (connect(c->fd, (const struct sockaddr *)&l->addr, l->addrlen) == 0) {
        if (watch(l, c, false, EPOLL_CTL_ADD) < 0)
            return -1;
        return send_connect(l, c);
    }
    if (errno != EINPROGRESS)
        return fail(l, "%s: connect: %s", c->id, strerror(errno));
    return watch(l, c, true, EPOLL_CTL_ADD);
}

int bloop_connect_all(struct bloop *l, struct bclient **cs, size_t n, unsigned max_pending,
                      unsigned timeout_ms)
{
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
    unsigned target = l->ready + (unsigned)n;
    size_t next = 0;
    while (l->ready < target) {
        while (next < n && l->handshaking < max_pending) {
            if (start(l, cs[next++]) < 0)
                return -1;
        }
        if (bloop_poll(l, 50 * 1000000) < 0)
            return -1;
        if (bench_now_ns() > deadline)
            return fail(l, "setup timed out: %u of %zu clients ready",
                        l->ready - (target - (unsigned)n), n);
    }
    return 0;
}

static int handle(struct bloop *l, struct bclient *c, uint32_t events)
{
    if (c->st == BC_TCP) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return 0;
        return on_connected(l, c);
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        if (on_readable(l, c) < 0)
            return -1;
    }
    if ((events & EPOLLOUT) && bclient_out_pending(c))
        return bclient_flush(l, c);
    return 0;
}

int bloop_poll(struct bloop *l, int64_t timeout_ns)
{
    struct epoll_event evs[256];
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    int n = epoll_pwait2(l->ep, evs, 256, tsp, NULL);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        return fail(l, "epoll_pwait2: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        if (handle(l, evs[i].data.ptr, evs[i].events) < 0)
            return -1;
    }
    return n;
}
