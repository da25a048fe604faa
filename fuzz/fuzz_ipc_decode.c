/* fuzz_ipc_decode: the worker <-> auth daemon frame decoder and the buffered channel.
 *
 * Input: one selector byte, then frames back to back (any message type, either direction).
 * Selector bits 0-5 seed the chunk sizes the input is written to a socketpair with; bits
 * 6-7 pick the echo channel's output bound.
 * Oracles:
 *  - ipc_decode: results come from the enum; on IPC_OK the frame re-encodes with
 *    ipc_encode to exactly the same bytes (and not into one byte less), strings point into
 *    the frame, values are in range, every strict prefix is IPC_NEED_MORE, and the frame
 *    decodes the same alone in a buffer of exactly its size (over-reads hit ASan).
 *  - ipc_encode refuses the decoded message made invalid in any one checked field, and
 *    CONNECT_REQ and AUTH_REQ, which share a payload, encode to the same bytes but the type.
 *  - ipc_chan: the same bytes written into a socket in random chunks come out of
 *    ipc_chan_read/ipc_chan_next as the same frames followed by the same final result.
 *  - ipc_chan_send/ipc_chan_flush: every decoded frame sent through a second channel
 *    arrives byte for byte, or is refused only when it exceeds the output bound. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "ipc.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool rc_known(int rc)
{
    return rc == IPC_OK || rc == IPC_NEED_MORE || (rc <= IPC_E_VERSION && rc >= IPC_E_VALUE);
}

static void check_msg(const uint8_t *f, size_t len, const struct ipc_msg *m)
{
    FUZZ_CHECK(m->type == f[1] && m->req_id == be32(f + 4), "header fields not from the frame");
    switch (m->type) {
    case IPC_CONNECT_REQ:
    case IPC_AUTH_REQ: {
        const struct ipc_connect_req *q = &m->u.connect_req;
        FUZZ_CHECK(q->proto_level >= 3 && q->proto_level <= 5, "level %u", q->proto_level);
        FUZZ_CHECK(!(q->flags & ~IPC_CONN_FLAGS_ALL), "unknown flags %x", q->flags);
        FUZZ_CHECK(fz_inside(f, len, q->client_id.p, q->client_id.len) &&
                       fz_inside(f, len, q->username.p, q->username.len) &&
                       fz_inside(f, len, q->password.p, q->password.len) &&
                       fz_inside(f, len, q->peer.p, q->peer.len) &&
                       fz_inside(f, len, q->cert.p, q->cert.len) &&
                       fz_inside(f, len, q->auth_method.p, q->auth_method.len) &&
                       fz_inside(f, len, q->auth_data.p, q->auth_data.len),
                   "CONNECT_REQ/AUTH_REQ string outside the frame");
        FUZZ_CHECK(!q->username.len || (q->flags & IPC_CONN_HAS_USERNAME), "username w/o flag");
        FUZZ_CHECK(!q->password.len || (q->flags & IPC_CONN_HAS_PASSWORD), "password w/o flag");
        FUZZ_CHECK(!q->auth_data.len || q->auth_method.len, "auth data without a method");
        /* The listener follows the peer; conv is the 8 bytes after the certificate. */
        if (q->peer.len)
            FUZZ_CHECK(q->peer.p[q->peer.len] == q->listener, "listener not after the peer");
        if (q->cert.len) {
            const uint8_t *c = q->cert.p + q->cert.len;
            FUZZ_CHECK(((uint64_t)be32(c) << 32 | be32(c + 4)) == q->conv,
                       "conv is not the 8 bytes after the certificate");
        }
        break;
    }
    case IPC_CONNECT_RESP: {
        const struct ipc_connect_resp *q = &m->u.connect_resp;
        FUZZ_CHECK(q->rc <= 5, "CONNECT_RESP rc %u", q->rc);
        FUZZ_CHECK(fz_inside(f, len, q->identity.p, q->identity.len) &&
                       fz_inside(f, len, q->auth_data.p, q->auth_data.len),
                   "CONNECT_RESP string outside the frame");
        /* rc, generation, identity, 16 bytes of limits, then the bool and the reason. */
        size_t at = IPC_HEADER_LEN + 1 + 4 + 2 + q->identity.len + 16;
        FUZZ_CHECK(at + 4 <= len && f[at] <= 1 && q->auth_continue == (f[at] == 1) &&
                       q->reason5 == f[at + 1],
                   "CONNECT_RESP auth_continue/reason5 not from the frame");
        break;
    }
    case IPC_ACL_REQ: {
        const struct ipc_acl_req *q = &m->u.acl_req;
        FUZZ_CHECK(q->action == IPC_ACL_PUBLISH || q->action == IPC_ACL_SUBSCRIBE, "action %u",
                   q->action);
        FUZZ_CHECK(q->qos <= 2 && q->topic.len > 0, "ACL_REQ qos/topic");
        FUZZ_CHECK(fz_inside(f, len, q->client_id.p, q->client_id.len) &&
                       fz_inside(f, len, q->username.p, q->username.len) &&
                       fz_inside(f, len, q->identity.p, q->identity.len) &&
                       fz_inside(f, len, q->topic.p, q->topic.len) &&
                       fz_inside(f, len, q->cert.p, q->cert.len),
                   "ACL_REQ string outside the frame");
        FUZZ_CHECK(!q->username.len || q->has_username, "username w/o flag");
        FUZZ_CHECK(q->topic.p[q->topic.len] == q->listener, "listener is not after the topic");
        break;
    }
    case IPC_ACL_RESP:
        FUZZ_CHECK(m->u.acl_resp.max_qos <= 2, "max_qos %u", m->u.acl_resp.max_qos);
        FUZZ_CHECK(!(m->u.acl_resp.flags & ~IPC_ACL_FLAGS_ALL) &&
                       m->u.acl_resp.payload_format <= IPC_PAYLOAD_JSON,
                   "ACL_RESP flags %x format %u", m->u.acl_resp.flags,
                   m->u.acl_resp.payload_format);
        break;
    case IPC_SESSION_CHECK_REQ: {
        const struct ipc_session_check_req *q = &m->u.check_req;
        FUZZ_CHECK(fz_inside(f, len, q->client_id.p, q->client_id.len) &&
                       fz_inside(f, len, q->username.p, q->username.len) &&
                       fz_inside(f, len, q->identity.p, q->identity.len) &&
                       fz_inside(f, len, q->cert.p, q->cert.len),
                   "SESSION_CHECK_REQ string outside the frame");
        FUZZ_CHECK(!q->username.len || q->has_username, "username w/o flag");
        break;
    }
    case IPC_SESSION_END:
        FUZZ_CHECK(
            fz_inside(f, len, m->u.session_end.client_id.p, m->u.session_end.client_id.len) &&
                fz_inside(f, len, m->u.session_end.identity.p, m->u.session_end.identity.len),
            "SESSION_END string outside the frame");
        break;
    case IPC_TLS_REFUSED: {
        const struct ipc_tls_refused *q = &m->u.tls_refused;
        FUZZ_CHECK(fz_inside(f, len, q->peer.p, q->peer.len) &&
                       fz_inside(f, len, q->reason.p, q->reason.len) &&
                       fz_inside(f, len, q->cert.p, q->cert.len),
                   "TLS_REFUSED string outside the frame");
        FUZZ_CHECK(f[IPC_HEADER_LEN] == q->listener, "TLS_REFUSED listener not the first byte");
        break;
    }
    case IPC_SESSION_CHECK_RESP:
    case IPC_HELLO:
    case IPC_GENERATION:
        break;
    default:
        FUZZ_FAIL("decoded unknown type %u", m->type);
    }
}

/* Re-encodes m and compares with the frame it came from. */
static void check_reencode(const uint8_t *f, size_t len, const struct ipc_msg *m)
{
    uint8_t *e = malloc(len);
    FUZZ_CHECK(e != NULL, "out of memory");
    FUZZ_CHECK(ipc_encode(m, e, len) == len && memcmp(e, f, len) == 0,
               "type %u frame does not re-encode to the same %zu bytes", m->type, len);
    FUZZ_CHECK(ipc_encode(m, e, len - 1) == 0, "encoded into a buffer one byte short");
    free(e);
}

/* The encoder validates exactly as the decoder: a decoded message made invalid in one field
 * must be refused, even with room for the largest frame. */
static void expect_refused(const struct ipc_msg *m, const char *what)
{
    static uint8_t e[IPC_HEADER_LEN + IPC_MAX_PAYLOAD];
    FUZZ_CHECK(ipc_encode(m, e, sizeof(e)) == 0 && ipc_encode(m, NULL, 0) == 0,
               "ipc_encode accepted a message with %s", what);
}

/* CONNECT_REQ and AUTH_REQ carry the same payload: the other type gives the same bytes but
 * the type byte. */
static void check_twin(const uint8_t *f, size_t len, const struct ipc_msg *m)
{
    struct ipc_msg t = *m;
    t.type = m->type == IPC_CONNECT_REQ ? IPC_AUTH_REQ : IPC_CONNECT_REQ;
    uint8_t *e = malloc(len);
    FUZZ_CHECK(e != NULL, "out of memory");
    FUZZ_CHECK(ipc_encode(&t, e, len) == len && e[1] == t.type && e[0] == f[0] &&
                   memcmp(e + 2, f + 2, len - 2) == 0,
               "CONNECT_REQ and AUTH_REQ payloads differ");
    free(e);
}

static void check_refusals(const struct ipc_msg *m)
{
    struct ipc_msg b = *m;
    static const uint8_t one = 'x';
    b.type = 0;
    expect_refused(&b, "type 0");
    b.type = IPC_TYPE_MAX + 1;
    expect_refused(&b, "an unknown type");
    b = *m;
    switch (m->type) {
    case IPC_CONNECT_REQ:
    case IPC_AUTH_REQ:
        b.u.connect_req.proto_level = 6;
        expect_refused(&b, "protocol level 6");
        b = *m;
        b.u.connect_req.flags |= 0x80;
        expect_refused(&b, "an unknown flag");
        b = *m;
        b.u.connect_req.flags &= (uint8_t)~IPC_CONN_HAS_USERNAME;
        b.u.connect_req.username = (struct ipc_bytes){&one, 1};
        expect_refused(&b, "a username without its flag");
        b = *m;
        b.u.connect_req.peer = (struct ipc_bytes){NULL, 1};
        expect_refused(&b, "a string without bytes");
        b = *m;
        b.u.connect_req.cert = (struct ipc_bytes){NULL, 1};
        expect_refused(&b, "a certificate without bytes");
        b = *m;
        b.u.connect_req.auth_method = (struct ipc_bytes){NULL, 0};
        if (!b.u.connect_req.auth_data.len)
            b.u.connect_req.auth_data = (struct ipc_bytes){&one, 1};
        expect_refused(&b, "auth data without a method");
        break;
    case IPC_CONNECT_RESP:
        b.u.connect_resp.rc = 6;
        expect_refused(&b, "CONNACK code 6");
        b = *m;
        b.u.connect_resp.auth_data = (struct ipc_bytes){NULL, 1};
        expect_refused(&b, "auth data without bytes");
        break;
    case IPC_ACL_REQ:
        b.u.acl_req.action = 3;
        expect_refused(&b, "action 3");
        b = *m;
        b.u.acl_req.qos = 3;
        expect_refused(&b, "QoS 3");
        b = *m;
        b.u.acl_req.topic.len = 0;
        expect_refused(&b, "an empty topic");
        b = *m;
        b.u.acl_req.cert = (struct ipc_bytes){NULL, 1};
        expect_refused(&b, "a certificate without bytes");
        break;
    case IPC_ACL_RESP:
        b.u.acl_resp.max_qos = 3;
        expect_refused(&b, "max QoS 3");
        b = *m;
        b.u.acl_resp.flags = 0x80;
        expect_refused(&b, "an unknown ACL flag");
        b = *m;
        b.u.acl_resp.payload_format = IPC_PAYLOAD_JSON + 1;
        expect_refused(&b, "an unknown payload format");
        break;
    case IPC_SESSION_CHECK_REQ:
        b.u.check_req.has_username = false;
        b.u.check_req.username = (struct ipc_bytes){&one, 1};
        expect_refused(&b, "a username without its flag");
        b = *m;
        b.u.check_req.cert = (struct ipc_bytes){NULL, 1};
        expect_refused(&b, "a certificate without bytes");
        break;
    case IPC_SESSION_END:
        b.u.session_end.identity = (struct ipc_bytes){NULL, 1};
        expect_refused(&b, "a string without bytes");
        break;
    case IPC_TLS_REFUSED:
        b.u.tls_refused.peer = (struct ipc_bytes){NULL, 1};
        expect_refused(&b, "a peer without bytes");
        b = *m;
        b.u.tls_refused.reason = (struct ipc_bytes){NULL, 1};
        expect_refused(&b, "a reason without bytes");
        b = *m;
        b.u.tls_refused.cert = (struct ipc_bytes){NULL, 1};
        expect_refused(&b, "a certificate without bytes");
        break;
    default:
        break;
    }
    FUZZ_CHECK(ipc_err_str(IPC_E_VALUE)[0] && ipc_err_str(12345)[0], "empty error text");
}

/* A frame alone, in a heap block of exactly its size, and its strict prefixes. */
static void check_alone(const uint8_t *f, size_t len)
{
    uint8_t *b = malloc(len);
    FUZZ_CHECK(b != NULL, "out of memory");
    memcpy(b, f, len);
    struct ipc_msg m;
    size_t used = 1;
    FUZZ_CHECK(ipc_decode(b, len, &m, &used) == IPC_OK && used == len, "frame alone differs");
    size_t cuts[3] = {len - 1, IPC_HEADER_LEN, IPC_HEADER_LEN - 1};
    for (size_t i = 0; i < 3; i++) {
        if (cuts[i] >= len)
            continue;
        used = 1;
        FUZZ_CHECK(ipc_decode(b, cuts[i], &m, &used) == IPC_NEED_MORE && used == 0,
                   "prefix of %zu bytes is not NEED_MORE", cuts[i]);
    }
    free(b);
}

struct frame {
    size_t off, len;
};

static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* Mostly small chunks, now and then a large one. */
static size_t chunk_size(uint32_t *rng)
{
    uint32_t r = xorshift(rng);
    return (r & 3) ? 1 + (r >> 8) % 17 : 1 + (r >> 8) % 70000;
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Drains rx and matches what comes out with the expected frames. Returns false once the
 * channel reported an error (checked against final_rc). */
static bool drain_chan(struct ipc_chan *rx, const uint8_t *buf, const struct frame *fr, size_t nfr,
                       size_t *k, int final_rc)
{
    for (;;) {
        long r = ipc_chan_read(rx);
        FUZZ_CHECK(r != 0 && r != -1, "ipc_chan_read: %ld (%s)", r, strerror(errno));
        struct ipc_msg m;
        int rc;
        while ((rc = ipc_chan_next(rx, &m)) == IPC_OK) {
            FUZZ_CHECK(*k < nfr, "channel yields more frames than the decoder");
            check_reencode(buf + fr[*k].off, fr[*k].len, &m);
            (*k)++;
        }
        if (rc != IPC_NEED_MORE) {
            FUZZ_CHECK(rc == final_rc && *k == nfr,
                       "channel error %d after %zu frames; direct %d "
                       "after %zu",
                       rc, *k, final_rc, nfr);
            return false;
        }
        if (r == -2)
            return true;
    }
}

static void chan_roundtrip(const uint8_t *buf, size_t n, const struct frame *fr, size_t nfr,
                           int final_rc, uint8_t sel)
{
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    set_nonblock(sv[0]);
    set_nonblock(sv[1]);
    struct ipc_chan rx;
    FUZZ_CHECK(ipc_chan_init(&rx, sv[0], 1u << 20) == 0, "ipc_chan_init");
    uint32_t rng = 0x9e3779b9u ^ (uint32_t)(sel & 0x3f) * 2654435761u;
    size_t off = 0, k = 0;
    bool alive = true;
    while (off < n && alive) {
        size_t want = chunk_size(&rng);
        if (want > n - off)
            want = n - off;
        ssize_t w = write(sv[1], buf + off, want);
        FUZZ_CHECK(w > 0 || errno == EAGAIN, "write: %s", strerror(errno));
        if (w > 0)
            off += (size_t)w;
        alive = drain_chan(&rx, buf, fr, nfr, &k, final_rc);
    }
    if (alive) {
        FUZZ_CHECK(k == nfr && final_rc == IPC_NEED_MORE,
                   "channel gave %zu frames and no error; direct decode gave %zu then %d", k, nfr,
                   final_rc);
    }
    ipc_chan_free(&rx);
    close(sv[0]);
    close(sv[1]);
}

/* Sends every decoded frame through ipc_chan_send/flush and reads it back. */
static void send_roundtrip(const uint8_t *buf, const struct frame *fr, size_t nfr, uint8_t sel)
{
    static const size_t bounds[4] = {64, 4096, 300000, 16u << 20};
    size_t out_max = bounds[sel >> 6];
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    set_nonblock(sv[0]);
    set_nonblock(sv[1]);
    struct ipc_chan tx, rx;
    FUZZ_CHECK(ipc_chan_init(&tx, sv[0], out_max) == 0 && ipc_chan_init(&rx, sv[1], 1u << 20) == 0,
               "ipc_chan_init");
    for (size_t i = 0; i < nfr; i++) {
        struct ipc_msg m;
        size_t used;
        FUZZ_CHECK(ipc_decode(buf + fr[i].off, fr[i].len, &m, &used) == IPC_OK, "re-decode");
        if (ipc_chan_send(&tx, &m) != 0) {
            FUZZ_CHECK(fr[i].len > out_max, "send of %zu bytes refused under a bound of %zu",
                       fr[i].len, out_max);
            continue;
        }
        FUZZ_CHECK(ipc_chan_pending_output(&tx), "queued frame not pending");
        size_t k = 0;
        for (int rounds = 0; k == 0; rounds++) {
            FUZZ_CHECK(rounds < 1000, "frame of %zu bytes never arrives", fr[i].len);
            int f = ipc_chan_flush(&tx);
            FUZZ_CHECK(f == 0 || f == 1, "ipc_chan_flush: %d", f);
            FUZZ_CHECK((f == 1) == ipc_chan_pending_output(&tx), "pending_output disagrees");
            long r = ipc_chan_read(&rx);
            FUZZ_CHECK(r > 0 || r == -2, "echo read %ld", r);
            struct ipc_msg back;
            int rc = ipc_chan_next(&rx, &back);
            FUZZ_CHECK(rc == IPC_OK || rc == IPC_NEED_MORE, "echo decode %d", rc);
            if (rc == IPC_OK) {
                check_reencode(buf + fr[i].off, fr[i].len, &back);
                k = 1;
            }
        }
    }
    ipc_chan_free(&tx);
    ipc_chan_free(&rx);
    close(sv[0]);
    close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    uint8_t sel = data[0];
    size_t n = size - 1;
    uint8_t *buf = malloc(n ? n : 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    if (n)
        memcpy(buf, data + 1, n);

    size_t cap = n / IPC_HEADER_LEN + 1, nfr = 0, off = 0;
    struct frame *fr = malloc(cap * sizeof(*fr));
    FUZZ_CHECK(fr != NULL, "out of memory");
    int final_rc = IPC_NEED_MORE;
    while (off < n) {
        struct ipc_msg m;
        size_t used = 12345;
        int rc = ipc_decode(buf + off, n - off, &m, &used);
        FUZZ_CHECK(rc_known(rc) && ipc_err_str(rc)[0], "ipc_decode returned %d", rc);
        if (rc != IPC_OK) {
            FUZZ_CHECK(used == 0, "consumed set on %d", rc);
            if (rc == IPC_NEED_MORE) {
                size_t left = n - off;
                FUZZ_CHECK(left < IPC_HEADER_LEN || (be32(buf + off + 8) <= IPC_MAX_PAYLOAD &&
                                                     left - IPC_HEADER_LEN < be32(buf + off + 8)),
                           "NEED_MORE with a whole frame present");
            }
            final_rc = rc;
            break;
        }
        FUZZ_CHECK(used == IPC_HEADER_LEN + (size_t)be32(buf + off + 8) && used <= n - off,
                   "consumed %zu for a frame of %u payload bytes", used, be32(buf + off + 8));
        check_msg(buf + off, used, &m);
        check_reencode(buf + off, used, &m);
        check_refusals(&m);
        if (m.type == IPC_CONNECT_REQ || m.type == IPC_AUTH_REQ)
            check_twin(buf + off, used, &m);
        check_alone(buf + off, used);
        fr[nfr++] = (struct frame){off, used};
        off += used;
    }
    chan_roundtrip(buf, n, fr, nfr, final_rc, sel);
    send_roundtrip(buf, fr, nfr, sel);
    free(fr);
    free(buf);
    return 0;
}
