/* fuzz_session: the broker worker driven in-process through a script of client bytes,
 * auth daemon answers, lost auth channels, closing clients and passing time.
 *
 * The worker is real (worker_init, conn_new, worker_conn_event, auth_client_*,
 * worker_end_turn, worker_sweep, worker_fini) and so is its epoll set: every step runs loop
 * turns the way worker_main does, dispatching what epoll_wait reports, so client bytes go
 * through the socket and the worker's own read path. Clients are socketpairs registered as
 * accept_clients registers sockets. The auth daemon is played by the harness on the other
 * end of an IPC socketpair, answering with acl_decide or as the script says.
 *
 * Input: a selector byte (limits), then steps. Step byte: bits 0-1 client slot (3 -> 0),
 * bits 2-7 the action (mod 10):
 *   0-2 FEED: length byte (bit 7 set: 15-bit length with the next byte), then that many
 *       bytes written by the client (a connection is opened first if the slot has none)
 *   3 AUTH ANSWER: two bytes, see auth_answer (how many, refusals, ACL verdicts, limits,
 *       payload rules, a wrong answer the worker must drop the channel for, generations)
 *   4 TIME: arg picks how far w->now moves; then worker_sweep
 *   5 CLOSE: the client closes its socket
 *   6 OPEN: the client reconnects (old socket closed, new one accepted)
 *   7 READ: toggle whether the client reads what the broker sends
 *   8 AUTH CHANNEL: arg bit 0 set: drop it; clear: (re)attach a new one (HELLO, generation arg)
 *   9 GENERATION: the auth daemon announces generation arg
 * At most MAX_STEPS steps, MAX_CHANNELS channel changes and MAX_OPENS client connections
 * per input (further ones are ignored), which bounds the cost of one input.
 * Oracles: ASan/UBSan, no leak (libFuzzer build), every byte the broker sends to a client
 * decodes as a valid client-side packet of the client's protocol level (5.0 when its
 * CONNECT said "MQTT" level 5) in a valid order (CONNACK first, once, nothing after a
 * refusal or a server DISCONNECT), every IPC frame the worker sends decodes and has a rising
 * request id, a misbehaving auth answer gets the channel dropped, the loop goes quiet, and the
 * worker's own bookkeeping holds after every step (connection list and count, output byte
 * counts, sessions and their bounds, pending auth requests pointing at live connections,
 * subscription counts). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acl.h"
#include "broker.h"
#include "fuzz_rand.h"
#include "fuzz_util.h"
#include "ipc.h"
#include "log.h"

#define SLOTS 3
#define MAX_STEPS 256
/* Socketpairs and their buffers are the expensive part of a step under ASan: bound them per
 * input so a script of hundreds of reconnects does not slow the whole campaign down. */
#define MAX_CHANNELS 16          /* auth channel drops and attaches */
#define MAX_OPENS 48             /* client connections */
#define READ_CHUNK (64u * 1024u) /* worker.c: input beyond a packet is at most one chunk */
#define PUMP_ROUNDS 64
#define OUT_MAX (4u << 20) /* client-side buffer of unparsed broker output */
#define T0 1000000u

struct slot {
    int peer;         /* client end, -1: none */
    uint64_t conn_id; /* the worker's connection, 0: none */
    bool deaf;        /* not reading what the broker sends */
    bool connack, refused;
    uint8_t head[16]; /* first bytes the client wrote on this connection: its level */
    size_t head_len;
    uint8_t *obuf;
    size_t olen, ocap;
};

struct answer {
    uint32_t id;
    uint8_t type; /* the request: IPC_CONNECT_REQ, IPC_AUTH_REQ, IPC_ACL_REQ or
                     IPC_SESSION_CHECK_REQ */
    bool method;  /* CONNECT_REQ with an Authentication Method: may be answered "continue" */
    struct acl_verdict v;
    uint8_t identity[32]; /* CONNECT: the username, as the real daemon names identities */
    uint16_t identity_len;
};

struct auth_side {
    int fd; /* harness end, -1: dropped */
    struct ipc_chan ch;
    struct answer *q; /* requests not yet answered, oldest first */
    size_t qh, qn, qcap;
    uint32_t last_id;
    uint32_t generation;
    bool expect_drop; /* a bad answer was sent: the worker must drop the channel */
};

static struct config cfg;
static struct worker w;
static struct slot slots[SLOTS];
static struct auth_side au;
static bool small_sndbuf;   /* selector bit: a small send buffer, for back-pressure */
static int channels, opens; /* used up in this input */
static bool trace;          /* FUZZ_TRACE=1: narrate the script and the worker's log (triage) */

#define TRACE(...)                                                                                 \
    do {                                                                                           \
        if (trace)                                                                                 \
            fprintf(stderr, "fuzz_session: " __VA_ARGS__);                                         \
    } while (0)

/* ---- checks on the worker's bookkeeping ------------------------------------------- */

struct sess_walk {
    size_t subs;
    bool deep;
};

static bool check_session(void *ctx, const void *key, size_t len, void *value)
{
    struct sess_walk *sw = ctx;
    const struct session *s = value;
    FUZZ_CHECK(s->id_len == len && memcmp(s->client_id, key, len) == 0, "session key");
    FUZZ_CHECK(s->n_infl <= s->cap_infl && s->cap_infl <= w.lim->max_inflight, "inflight %u/%u",
               s->n_infl, s->cap_infl);
    FUZZ_CHECK(s->q_len <= w.lim->max_queued_messages && s->q_len <= s->q_cap, "queue %u",
               s->q_len);
    FUZZ_CHECK(s->n_qos2_in <= w.lim->max_inbound_qos2, "inbound QoS 2 %u", s->n_qos2_in);
    FUZZ_CHECK(s->n_subs <= s->cap_subs, "subs");
    if (s->conn) {
        FUZZ_CHECK(s->conn->session == s && s->conn->state == CS_ACTIVE,
                   "session's connection does not point back");
    } else {
        FUZZ_CHECK(!s->clean, "offline clean session kept");
    }
    if (sw->deep && s->qos2_in) {
        uint32_t bits = 0;
        for (size_t i = 0; i < 8192; i++)
            bits += (uint32_t)__builtin_popcount(s->qos2_in[i]);
        FUZZ_CHECK(bits == s->n_qos2_in, "QoS 2 bitmap holds %u ids, count says %u", bits,
                   s->n_qos2_in);
    }
    uint32_t reqs = 0;
    for (uint32_t i = 0; i < w.pend_len; i++)
        reqs += w.pend[(w.pend_head + i) % w.pend_cap].s == s;
    FUZZ_CHECK(reqs == s->reqs_in_flight, "session names %u requests, %u pending",
               s->reqs_in_flight, reqs);
    if (s->will)
        FUZZ_CHECK(!s->conn && s->will_at, "a parked will on an online session");
    if (s->expires_at)
        FUZZ_CHECK(!s->conn && w.next_expiry && w.next_expiry <= s->expires_at,
                   "an offline session's end is not scheduled");
    for (uint32_t i = 0; i < s->n_subs; i++) {
        /* Plain subscriptions are tree entries; shared ones are group members. */
        if (!s->subs[i].shared)
            sw->subs++;
        else
            FUZZ_CHECK(strmap_get(&w.shares, s->subs[i].filter, s->subs[i].len) != NULL,
                       "shared subscription without its group");
    }
    return false;
}

static void check_worker(bool deep)
{
    uint32_t n = 0;
    for (struct conn *c = w.conns; c; c = c->next) {
        n++;
        FUZZ_CHECK(c->state != CS_CLOSED, "closed connection still linked");
        FUZZ_CHECK(!c->next || c->next->prev == c, "connection list links");
        size_t bytes = 0;
        for (struct out_item *it = c->out_head; it; it = it->next) {
            FUZZ_CHECK(it->sent < it->len || (it->len == 0 && it->sent == 0), "item sent %u/%u",
                       it->sent, it->len);
            bytes += it->len - it->sent;
            FUZZ_CHECK(it->next || it == c->out_tail, "output tail");
        }
        FUZZ_CHECK(bytes == c->out_bytes, "out_bytes %zu, queued %zu", c->out_bytes, bytes);
        FUZZ_CHECK(c->in_len <= c->in_cap && c->in_len <= w.lim->max_packet_size + READ_CHUNK,
                   "input buffer %u/%u", c->in_len, c->in_cap);
        if (c->state == CS_ACTIVE)
            FUZZ_CHECK(c->session && c->session->conn == c, "active connection without session");
        uint32_t reqs = 0;
        for (uint32_t i = 0; i < w.pend_len; i++)
            reqs += w.pend[(w.pend_head + i) % w.pend_cap].conn == c;
        FUZZ_CHECK(reqs == c->reqs_in_flight, "connection names %u requests, %u pending",
                   c->reqs_in_flight, reqs);
    }
    FUZZ_CHECK(n == w.n_conns, "n_conns %u, list holds %u", w.n_conns, n);
    for (uint32_t i = 0; i < w.pend_len; i++) {
        const struct conn *pc = w.pend[(w.pend_head + i) % w.pend_cap].conn;
        if (!pc)
            continue;
        bool live = false;
        for (struct conn *c = w.conns; c && !live; c = c->next)
            live = c == pc;
        FUZZ_CHECK(live, "pending auth request names a connection that is gone");
    }
    for (uint32_t i = 0; i < w.pend_len; i++) {
        const struct session *ps = w.pend[(w.pend_head + i) % w.pend_cap].s;
        if (ps) /* a freed session is an ASan report right here */
            FUZZ_CHECK(strmap_get(&w.sessions, ps->client_id, ps->id_len) == ps,
                       "pending re-check names a session that is gone");
    }
    FUZZ_CHECK(w.auth_up || w.pend_len == 0, "requests pending without an auth channel");
    FUZZ_CHECK(strmap_count(&w.sessions) <= w.lim->max_sessions, "sessions over max_sessions");
    struct sess_walk sw = {0, deep};
    strmap_each(&w.sessions, check_session, &sw);
    sw.subs += strmap_count(&w.shares); /* one tree entry per group */
    FUZZ_CHECK(sub_tree_count(w.subs) == sw.subs, "sub_tree holds %zu entries, sessions %zu",
               sub_tree_count(w.subs), sw.subs);
}

/* ---- clients ---------------------------------------------------------------------- */

static struct conn *find_conn(uint64_t id)
{
    if (!id)
        return NULL;
    for (struct conn *c = w.conns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

/* The level the broker answers a connection at: 5.0 when its CONNECT was "MQTT" level 5
 * (what the broker itself goes by), else 3.1.1. */
static uint8_t slot_level(const struct slot *s)
{
    const uint8_t *h = s->head;
    size_t n = s->head_len, i = 1;
    if (n < 2 || h[0] != 0x10)
        return MQTT_PROTO_311;
    while (i < n && i < 5 && (h[i] & 0x80))
        i++;
    i++; /* past the remaining length */
    if (n < i + 7 || memcmp(h + i, "\x00\x04MQTT", 6) != 0)
        return MQTT_PROTO_311;
    return h[i + 6] == MQTT_PROTO_5 ? MQTT_PROTO_5 : MQTT_PROTO_311;
}

/* What the broker sent must decode as client-side packets in a legal order. */
static void parse_output(struct slot *s)
{
    size_t off = 0;
    while (off < s->olen) {
        uint8_t b0;
        uint32_t rem;
        size_t hl;
        int r = mqtt_fixed_header(s->obuf + off, s->olen - off, &b0, &rem, &hl);
        FUZZ_CHECK(r != MQTT_E_MALFORMED, "broker sent a bad remaining length");
        if (r == MQTT_NEED_MORE || s->olen - off - hl < rem)
            break;
        struct mqtt_packet pk;
        int rc = mqtt_decode(b0, s->obuf + off + hl, rem, slot_level(s), false, &pk);
        FUZZ_CHECK(rc == MQTT_OK,
                   "broker sent a packet (byte 0 %02x, %u bytes) that does not "
                   "decode: %s",
                   b0, rem, mqtt_err_str(rc));
        TRACE("slot %d <- type %u (%u bytes)%s\n", (int)(s - slots), pk.type, rem,
              pk.type == MQTT_CONNACK ? (pk.u.connack.rc ? " refused" : " accepted") : "");
        FUZZ_CHECK(!s->refused, "broker sent more after refusing the connection");
        if (pk.type == MQTT_CONNACK) {
            FUZZ_CHECK(!s->connack, "second CONNACK");
            s->connack = true;
            s->refused = pk.u.connack.rc != 0;
        } else if (pk.type == MQTT_AUTH) {
            /* Only the challenge of an enhanced authentication, between CONNECT and CONNACK
             * (the stand-in auth daemon answers a method with "continue"). */
            FUZZ_CHECK(!s->connack && slot_level(s) == MQTT_PROTO_5 &&
                           pk.u.reason.reason == MQTT_RC_CONTINUE_AUTH,
                       "AUTH outside an enhanced-authentication exchange");
        } else {
            FUZZ_CHECK(s->connack, "packet type %u before CONNACK", pk.type);
            s->refused = pk.type == MQTT_DISCONNECT; /* the last thing a server sends */
        }
        off += hl + rem;
    }
    memmove(s->obuf, s->obuf + off, s->olen - off);
    s->olen -= off;
}

static void slot_reset(struct slot *s)
{
    if (s->peer >= 0)
        close(s->peer);
    s->peer = -1;
    s->conn_id = 0;
    s->connack = s->refused = false;
    s->olen = 0;
    s->head_len = 0;
}

/* Reads what the broker sent. Returns true if anything came. */
static bool slot_drain(struct slot *s)
{
    bool got = false;
    while (s->peer >= 0 && !s->deaf) {
        if (s->ocap - s->olen < 4096) {
            FUZZ_CHECK(s->ocap < OUT_MAX, "broker output piles up unparsed");
            size_t ncap = s->ocap ? s->ocap * 2 : 16384;
            s->obuf = realloc(s->obuf, ncap);
            FUZZ_CHECK(s->obuf != NULL, "out of memory");
            s->ocap = ncap;
        }
        ssize_t n = read(s->peer, s->obuf + s->olen, s->ocap - s->olen);
        if (n > 0) {
            s->olen += (size_t)n;
            got = true;
            parse_output(s);
            continue;
        }
        if (n == 0)
            slot_reset(s); /* the broker closed the connection */
        break;
    }
    return got;
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* A new client socket, registered as accept_clients does. */
static void slot_open(struct slot *s, int idx)
{
    slot_reset(s);
    if (opens++ >= MAX_OPENS)
        return;
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0,
               "socketpair: %s", strerror(errno));
    s->peer = sv[1];
    if (w.n_conns >= w.lim->max_connections) {
        close(sv[0]); /* refused: the client just sees the socket close */
        return;
    }
    if (small_sndbuf) {
        int sz = 1; /* the kernel's minimum */
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    struct conn *c = conn_new(&w, sv[0]);
    FUZZ_CHECK(c != NULL, "conn_new failed");
    snprintf(c->peer, sizeof(c->peer), "fuzz-client-%d:%u", idx, (unsigned)c->id);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->h};
    FUZZ_CHECK(epoll_ctl(w.epfd, EPOLL_CTL_ADD, sv[0], &ev) == 0, "epoll_ctl");
    c->ep_events = EPOLLIN;
    s->conn_id = c->id;
}

/* ---- the auth daemon side ---------------------------------------------------------- */

static void auth_forget(void)
{
    au.qh = au.qn = 0;
    au.expect_drop = false;
}

static void auth_close(void)
{
    if (au.fd < 0)
        return;
    ipc_chan_free(&au.ch);
    close(au.fd);
    au.fd = -1;
    auth_forget();
}

static void auth_push(const struct answer *a)
{
    if (au.qn == au.qcap) {
        size_t ncap = au.qcap ? au.qcap * 2 : 64;
        struct answer *n = malloc(ncap * sizeof(*n));
        FUZZ_CHECK(n != NULL, "out of memory");
        for (size_t i = 0; i < au.qn; i++)
            n[i] = au.q[(au.qh + i) % au.qcap];
        free(au.q);
        au.q = n;
        au.qcap = ncap;
        au.qh = 0;
    }
    au.q[(au.qh + au.qn++) % au.qcap] = *a;
}

static void auth_send(const struct ipc_msg *m)
{
    FUZZ_CHECK(ipc_chan_send(&au.ch, m) == 0, "auth side cannot queue a frame");
    FUZZ_CHECK(ipc_chan_flush(&au.ch) >= 0, "auth side flush: %s", strerror(errno));
}

/* Reads the worker's requests. Returns true if anything came. */
static bool auth_drain(void)
{
    bool got = false;
    while (au.fd >= 0) {
        if (ipc_chan_pending_output(&au.ch))
            FUZZ_CHECK(ipc_chan_flush(&au.ch) >= 0, "auth side flush: %s", strerror(errno));
        long r = ipc_chan_read(&au.ch);
        if (r == 0 || r == -1) { /* the worker dropped the channel */
            auth_close();
            return true;
        }
        struct ipc_msg m;
        int rc;
        while ((rc = ipc_chan_next(&au.ch, &m)) == IPC_OK) {
            got = true;
            if (m.type == IPC_SESSION_END) { /* a notice, never answered */
                FUZZ_CHECK(m.u.session_end.client_id.len > 0, "SESSION_END without a client id");
                TRACE("auth <- session end\n");
                continue;
            }
            FUZZ_CHECK(m.type == IPC_CONNECT_REQ || m.type == IPC_AUTH_REQ ||
                           m.type == IPC_ACL_REQ || m.type == IPC_SESSION_CHECK_REQ,
                       "worker sent IPC type %u", m.type);
            FUZZ_CHECK(m.req_id > au.last_id, "request id %u after %u", m.req_id, au.last_id);
            au.last_id = m.req_id;
            struct answer a = {.id = m.req_id, .type = m.type, .v = {true, 2}};
            if (m.type == IPC_ACL_REQ) {
                a.v = acl_decide(&m.u.acl_req);
                FUZZ_CHECK(topic_filter_check(m.u.acl_req.topic.p, m.u.acl_req.topic.len,
                                              &w.tlim) == TOPIC_OK,
                           "ACL request for a topic the worker should have refused");
            } else if (m.type == IPC_CONNECT_REQ || m.type == IPC_AUTH_REQ) {
                const struct ipc_connect_req *q = &m.u.connect_req;
                FUZZ_CHECK(m.type == IPC_CONNECT_REQ || q->auth_method.len,
                           "AUTH_REQ outside enhanced authentication");
                a.method = m.type == IPC_CONNECT_REQ && q->auth_method.len;
                /* Ids the broker assigns ("auto-...") are not bound by max_client_id_length. */
                bool assigned = q->client_id.len > 5 && memcmp(q->client_id.p, "auto-", 5) == 0;
                FUZZ_CHECK(q->client_id.len > 0 &&
                               (q->client_id.len <= w.lim->max_client_id_length || assigned) &&
                               (q->proto_level >= 3 && q->proto_level <= 5),
                           "CONNECT_REQ fields");
                a.identity_len =
                    q->username.len < sizeof(a.identity) ? q->username.len : sizeof(a.identity);
                if (a.identity_len)
                    memcpy(a.identity, q->username.p, a.identity_len);
            }
            TRACE("auth <- request %u (type %u)\n", m.req_id, m.type);
            auth_push(&a);
        }
        FUZZ_CHECK(rc == IPC_NEED_MORE, "worker sent an undecodable frame: %s", ipc_err_str(rc));
        if (r == -2)
            break;
    }
    return got;
}

static void auth_attach(uint8_t generation)
{
    auth_close();
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    auth_client_attach(&w, sv[0]);
    set_nonblock(sv[1]);
    au.fd = sv[1];
    FUZZ_CHECK(ipc_chan_init(&au.ch, sv[1], 16u << 20) == 0, "ipc_chan_init");
    au.generation = generation;
    struct ipc_msg m = {.type = IPC_HELLO, .u.hello.generation = generation};
    auth_send(&m);
}

/* arg: bits 0-2 how many (0: all); bit 3 refuse (CONNECT rc from bits 5-7, session
 * re-check denied); bits 4-5 ACL: decide / deny / max QoS 0 / max QoS 1; bit 6 misbehave
 * (first answer has the wrong id, or with bit 3 the wrong kind); bit 7 new generation.
 * extra: bits 0-1 per-identity limits preset; bit 2 no retain; bit 3 sealed payloads;
 * bits 4-5 payload format; bits 6-7 payload size limit preset. */
static void auth_answer(uint8_t arg, uint8_t extra)
{
    static const uint8_t refusals[8] = {5, 4, 3, 2, 1, 5, 4, 5};
    static const struct acl_verdict modes[4] = {{true, 2}, {false, 0}, {true, 0}, {true, 1}};
    static const struct ipc_limits limits[4] = {
        {0, 0, 0, 0}, {1, 1, 64, 1}, {10, 5, 1000, 4}, {0, 0, 0, 1}};
    static const uint32_t payload_max[4] = {0, 4, 64, 1024};
    if (au.fd < 0)
        return;
    size_t count = (arg & 7) ? (size_t)(arg & 7) : au.qn;
    if (arg & 0x80)
        au.generation++;
    for (size_t i = 0; i < count && au.qn; i++) {
        struct answer a = au.q[au.qh];
        au.qh = (au.qh + 1) % au.qcap;
        au.qn--;
        bool bad = (arg & 0x40) && i == 0;
        uint8_t type = a.type == IPC_CONNECT_REQ || a.type == IPC_AUTH_REQ ? IPC_CONNECT_RESP
                       : a.type == IPC_ACL_REQ                             ? IPC_ACL_RESP
                                                                           : IPC_SESSION_CHECK_RESP;
        struct ipc_msg m = {.req_id = a.id};
        if (bad && (arg & 8)) /* the wrong kind of answer */
            type = type == IPC_CONNECT_RESP ? IPC_ACL_RESP : IPC_CONNECT_RESP;
        else if (bad)
            m.req_id = a.id + 1 + (arg >> 4);
        m.type = type;
        if (type == IPC_CONNECT_RESP) {
            struct ipc_connect_resp *r = &m.u.connect_resp;
            r->rc = (arg & 8) && !bad ? refusals[arg >> 5] : 0;
            r->generation = au.generation;
            r->identity = (struct ipc_bytes){a.identity, a.identity_len};
            r->limits = limits[extra & 3];
            /* Enhanced authentication: a challenge first, when the CONNECT named a method. */
            static const uint8_t challenge[32] = {1, 2, 3};
            if (a.method && !(arg & 8) && (extra & 0x10)) {
                r->auth_continue = true;
                r->auth_data = (struct ipc_bytes){challenge, sizeof(challenge)};
            } else if (a.method && (arg & 8)) {
                r->reason5 = 0x8C;
            }
        } else if (type == IPC_ACL_RESP) {
            struct acl_verdict v = ((arg >> 4) & 3) ? modes[(arg >> 4) & 3] : a.v;
            struct ipc_acl_resp *r = &m.u.acl_resp;
            r->allow = v.allow;
            r->max_qos = v.max_qos;
            r->generation = au.generation;
            r->flags =
                (uint8_t)((extra & 4 ? 0 : IPC_ACL_RETAIN_OK) | (extra & 8 ? IPC_ACL_SEALED : 0));
            r->payload_format = (uint8_t)(((extra >> 4) & 3) % 3);
            r->payload_max = payload_max[extra >> 6];
        } else {
            m.u.check_resp.allow = !(arg & 8);
            m.u.check_resp.generation = au.generation;
        }
        TRACE("auth -> answer %u (type %u) to %u%s\n", m.req_id, m.type, a.id,
              bad ? " (wrong on purpose)" : "");
        auth_send(&m);
        if (bad) {
            au.expect_drop = true;
            break;
        }
    }
}

/* ---- the loop ---------------------------------------------------------------------- */

static bool dispatch(void)
{
    struct epoll_event evs[32];
    int n = epoll_wait(w.epfd, evs, 32, 0);
    FUZZ_CHECK(n >= 0, "epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
        struct handle *h = evs[i].data.ptr;
        uint32_t e = evs[i].events;
        if (h->kind == H_CONN) {
            worker_conn_event(&w, (struct conn *)h, e);
        } else if (h->kind == H_AUTH) {
            if (e & (EPOLLIN | EPOLLHUP | EPOLLERR))
                auth_client_on_readable(&w);
            if ((e & EPOLLOUT) && w.auth_up)
                w.auth_dirty = true;
        } else {
            FUZZ_FAIL("unexpected handle kind %d", h->kind);
        }
    }
    return n > 0;
}

/* Runs loop turns until neither side has anything left to do. */
static void pump(void)
{
    int round = 0;
    for (;; round++) {
        bool busy = dispatch();
        worker_end_turn(&w);
        for (int i = 0; i < SLOTS; i++)
            busy |= slot_drain(&slots[i]);
        busy |= auth_drain();
        check_worker(false);
        if (!busy)
            break;
        FUZZ_CHECK(round < PUMP_ROUNDS, "the loop does not go quiet after %d turns", round);
    }
    if (au.expect_drop) {
        FUZZ_CHECK(!w.auth_up, "worker kept an auth channel that sent a wrong answer");
        auth_close();
    }
}

static void feed(struct slot *s, int idx, const uint8_t *p, size_t n)
{
    if (s->peer < 0 || !find_conn(s->conn_id)) {
        slot_drain(s);
        slot_open(s, idx);
        pump();
    }
    size_t keep = n < sizeof(s->head) - s->head_len ? n : sizeof(s->head) - s->head_len;
    memcpy(s->head + s->head_len, p, keep);
    s->head_len += keep;
    size_t off = 0;
    for (int tries = 0; off < n && s->peer >= 0 && tries < 8; tries++) {
        ssize_t r = write(s->peer, p + off, n - off);
        if (r > 0)
            off += (size_t)r;
        else if (errno != EAGAIN)
            break; /* the broker closed it */
        pump();
    }
}

static void init_once(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    signal(SIGPIPE, SIG_IGN); /* as worker_main: writes to closed sockets return EPIPE */
    trace = getenv("FUZZ_TRACE") != NULL;
    log_init("fuzz", trace ? LOG_DEBUG : LOG_ERROR);
    au.fd = -1;
    for (int i = 0; i < SLOTS; i++)
        slots[i].peer = -1;
}

static void setup(uint8_t sel)
{
    static const uint32_t packet[4] = {64, 512, 4096, 1u << 20};
    config_defaults(&cfg);
    struct config_limits *l = &cfg.limits;
    l->max_packet_size = packet[sel & 3];
    l->max_queued_bytes = (sel & 4) ? 8u << 20 : 1024;
    l->max_inflight = (sel & 8) ? 20 : 2;
    l->max_queued_messages = (sel & 8) ? 1000 : 4;
    l->max_sessions = (sel & 16) ? 100 : 2;
    l->max_connections = (sel & 16) ? 100 : 3; /* one more than sessions: both limits bite */
    l->verdict_cache_size = (sel & 32) ? 256 : 2;
    l->max_inbound_qos2 = (sel & 32) ? 1000 : 2;
    l->max_topic_length = (sel & 64) ? 1024 : 16;
    l->max_topic_levels = (sel & 64) ? 32 : 3;
    l->max_client_id_length = (sel & 64) ? 256 : 8;
    l->connect_timeout_ms = 1000;
    l->auth_timeout_ms = 500;
    small_sndbuf = sel & 128;
    FUZZ_CHECK(worker_init(&w, &cfg) == 0, "worker_init failed");
    w.now = T0;
    au.last_id = 0; /* request ids count per worker, across auth channels */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t steps_ms[8] = {1, 99, 100, 499, 501, 1000, 1501, 60000};
    if (size < 1)
        return 0;
    init_once();
    fz_rand_reset();
    channels = opens = 0;
    struct fz f = {data, size};
    setup(fz_u8(&f));
    auth_attach(0);
    pump();
    for (int step = 0; step < MAX_STEPS && !fz_done(&f); step++) {
        uint8_t op = fz_u8(&f);
        int idx = (op & 3) == 3 ? 0 : op & 3;
        struct slot *s = &slots[idx];
        TRACE("step %d: action %d slot %d\n", step, (op >> 2) % 10, idx);
        switch ((op >> 2) % 10) {
        case 0:
        case 1:
        case 2: {
            size_t len = fz_u8(&f), got;
            if (len & 0x80)
                len = (len & 0x7f) << 8 | fz_u8(&f);
            const uint8_t *p = fz_take(&f, len, &got);
            feed(s, idx, p, got);
            break;
        }
        case 3: {
            uint8_t arg = fz_u8(&f);
            auth_answer(arg, fz_u8(&f));
            break;
        }
        case 4: {
            uint8_t a = fz_u8(&f);
            w.now += (uint64_t)steps_ms[a & 7] * (1u + (a >> 3));
            worker_sweep(&w);
            break;
        }
        case 5:
            slot_reset(s);
            break;
        case 6:
            slot_open(s, idx);
            break;
        case 7:
            s->deaf = !s->deaf;
            break;
        case 8: {
            uint8_t a = fz_u8(&f);
            if (channels++ >= MAX_CHANNELS)
                break;
            if (a & 1)
                auth_close();
            else
                auth_attach(a);
            break;
        }
        case 9: {
            uint8_t a = fz_u8(&f);
            if (au.fd >= 0) {
                au.generation = a; /* a policy reload: later answers carry it */
                struct ipc_msg m = {.type = IPC_GENERATION, .u.generation.generation = a};
                auth_send(&m);
            }
            break;
        }
        }
        pump();
    }
    check_worker(true);
    worker_fini(&w);
    auth_close();
    for (int i = 0; i < SLOTS; i++) {
        slot_reset(&slots[i]);
        slots[i].deaf = false;
    }
    return 0;
}
