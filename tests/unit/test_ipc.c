/* Unit tests for common/ipc.c: the worker <-> auth daemon frame codec and channel. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc.h"

#define BYTES(s) ((struct ipc_bytes){(const uint8_t *)(s), (uint16_t)strlen(s)})
#define BIN(a) ((struct ipc_bytes){(a), (uint16_t)sizeof(a)})
#define NOBYTES ((struct ipc_bytes){NULL, 0})

static uint8_t frame[IPC_HEADER_LEN + IPC_MAX_PAYLOAD + 16];

/* Certificates and authentication data are binary: NULs and high bytes, one per sample. */
static const uint8_t cert_conn[] = {0x30, 0x82, 0x00, 0x04, 0x02, 0x01, 0xFF, 0x00};
static const uint8_t cert_auth[] = {0x30, 0x81, 0x01, 0x00, 0xEE};
static const uint8_t cert_acl[] = {0x30, 0x03, 0x02, 0x01, 0x07};
static const uint8_t cert_check[] = {0x30, 0x00, 0x80};
static const uint8_t cert_tls[] = {0x30, 0x82, 0xFF, 0xFF, 0x00, 0x01};
static const uint8_t data_conn[] = {'n', ',', 0x00, ',', 0xC3};
static const uint8_t data_auth[] = {0xFF, 'c', '=', 0x00};
static const uint8_t data_resp[] = {0x00, 's', 0xFF, 'v', 0x01};

static void assert_bytes_eq(struct ipc_bytes a, struct ipc_bytes b)
{
    assert_int_equal(a.len, b.len);
    if (a.len)
        assert_memory_equal(a.p, b.p, a.len);
}

/* One valid message of every type, every field non-zero and distinct from its neighbours, so
 * a field dropped or swapped by the codec shows up in assert_msg_eq. */
static struct ipc_msg sample(int type)
{
    struct ipc_msg m;
    memset(&m, 0, sizeof(m));
    m.type = (uint8_t)type;
    m.req_id = 0xA1B2C3D4u;
    switch (type) {
    case IPC_HELLO:
        m.u.hello.generation = 0x01020304u;
        break;
    case IPC_GENERATION:
        m.u.generation.generation = 0xFFFFFFFFu;
        break;
    case IPC_CONNECT_REQ:
        m.u.connect_req.proto_level = 4;
        m.u.connect_req.flags = IPC_CONN_FLAGS_ALL;
        m.u.connect_req.client_id = BYTES("sensor-17");
        m.u.connect_req.username = BYTES("alice");
        m.u.connect_req.password = (struct ipc_bytes){(const uint8_t *)"p\0w", 3};
        m.u.connect_req.peer = BYTES("[::1]:50123");
        m.u.connect_req.listener = 3;
        m.u.connect_req.cert = BIN(cert_conn);
        m.u.connect_req.conv = 0xF1E2D3C4B5A69788u;
        m.u.connect_req.auth_method = BYTES("SCRAM-SHA-256");
        m.u.connect_req.auth_data = BIN(data_conn);
        break;
    case IPC_AUTH_REQ:
        m.u.connect_req.proto_level = 5;
        m.u.connect_req.flags = IPC_CONN_CLEAN | IPC_CONN_HAS_USERNAME | IPC_CONN_HAS_PASSWORD;
        m.u.connect_req.client_id = BYTES("sensor-19");
        m.u.connect_req.username = BYTES("erin");
        m.u.connect_req.password = BYTES("pw2");
        m.u.connect_req.peer = BYTES("10.1.2.3:1883");
        m.u.connect_req.listener = 6;
        m.u.connect_req.cert = BIN(cert_auth);
        m.u.connect_req.conv = 0x8000000000000001u;
        m.u.connect_req.auth_method = BYTES("SCRAM-SHA-1");
        m.u.connect_req.auth_data = BIN(data_auth);
        break;
    case IPC_CONNECT_RESP:
        m.u.connect_resp.rc = 5;
        m.u.connect_resp.generation = 7;
        m.u.connect_resp.identity = BYTES("alice@corp");
        m.u.connect_resp.limits.msgs_per_s = 0x11223344u;
        m.u.connect_resp.limits.msgs_burst = 0x55667788u;
        m.u.connect_resp.limits.bytes_per_s = 0x99AABBCCu;
        m.u.connect_resp.limits.max_subscriptions = 0xDDEEFF01u;
        m.u.connect_resp.auth_continue = true;
        m.u.connect_resp.reason5 = 0x8C;
        m.u.connect_resp.auth_data = BIN(data_resp);
        break;
    case IPC_ACL_REQ:
        m.u.acl_req.action = IPC_ACL_SUBSCRIBE;
        m.u.acl_req.qos = 2;
        m.u.acl_req.has_username = true;
        m.u.acl_req.client_id = BYTES("c1");
        m.u.acl_req.username = BYTES("bob");
        m.u.acl_req.identity = BYTES("bob-ident");
        m.u.acl_req.topic = BYTES("sensors/+/temp");
        m.u.acl_req.listener = 2;
        m.u.acl_req.cert = BIN(cert_acl);
        break;
    case IPC_ACL_RESP:
        m.u.acl_resp.allow = true;
        m.u.acl_resp.max_qos = 1;
        m.u.acl_resp.generation = 42;
        m.u.acl_resp.flags = IPC_ACL_RETAIN_OK | IPC_ACL_SEALED;
        m.u.acl_resp.payload_format = IPC_PAYLOAD_JSON;
        m.u.acl_resp.payload_max = 0xCAFEF00Du;
        break;
    case IPC_SESSION_CHECK_REQ:
        m.u.check_req.has_username = true;
        m.u.check_req.client_id = BYTES("sensor-18");
        m.u.check_req.username = BYTES("dave");
        m.u.check_req.identity = BYTES("dave@ops");
        m.u.check_req.listener = 4;
        m.u.check_req.cert = BIN(cert_check);
        break;
    case IPC_SESSION_CHECK_RESP:
        m.u.check_resp.allow = true;
        m.u.check_resp.generation = 0x80000001u;
        break;
    case IPC_SESSION_END:
        m.u.session_end.client_id = BYTES("c9");
        m.u.session_end.identity = BYTES("carol");
        break;
    case IPC_TLS_REFUSED:
        m.u.tls_refused.listener = 9;
        m.u.tls_refused.peer = BYTES("198.51.100.7:8883");
        m.u.tls_refused.reason = BYTES("certificate expired");
        m.u.tls_refused.cert = BIN(cert_tls);
        break;
    }
    return m;
}

static void assert_connect_req_eq(const struct ipc_connect_req *x, const struct ipc_connect_req *y)
{
    assert_int_equal(x->proto_level, y->proto_level);
    assert_int_equal(x->flags, y->flags);
    assert_bytes_eq(x->client_id, y->client_id);
    assert_bytes_eq(x->username, y->username);
    assert_bytes_eq(x->password, y->password);
    assert_bytes_eq(x->peer, y->peer);
    assert_int_equal(x->listener, y->listener);
    assert_bytes_eq(x->cert, y->cert);
    assert_true(x->conv == y->conv); /* all 64 bits, whatever cmocka's integer width */
    assert_bytes_eq(x->auth_method, y->auth_method);
    assert_bytes_eq(x->auth_data, y->auth_data);
}

static void assert_msg_eq(const struct ipc_msg *a, const struct ipc_msg *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->req_id, b->req_id);
    switch (a->type) {
    case IPC_HELLO:
        assert_int_equal(a->u.hello.generation, b->u.hello.generation);
        break;
    case IPC_GENERATION:
        assert_int_equal(a->u.generation.generation, b->u.generation.generation);
        break;
    case IPC_CONNECT_REQ:
    case IPC_AUTH_REQ:
        assert_connect_req_eq(&a->u.connect_req, &b->u.connect_req);
        break;
    case IPC_CONNECT_RESP: {
        const struct ipc_connect_resp *x = &a->u.connect_resp, *y = &b->u.connect_resp;
        assert_int_equal(x->rc, y->rc);
        assert_int_equal(x->generation, y->generation);
        assert_bytes_eq(x->identity, y->identity);
        assert_int_equal(x->limits.msgs_per_s, y->limits.msgs_per_s);
        assert_int_equal(x->limits.msgs_burst, y->limits.msgs_burst);
        assert_int_equal(x->limits.bytes_per_s, y->limits.bytes_per_s);
        assert_int_equal(x->limits.max_subscriptions, y->limits.max_subscriptions);
        assert_int_equal(x->auth_continue, y->auth_continue);
        assert_int_equal(x->reason5, y->reason5);
        assert_bytes_eq(x->auth_data, y->auth_data);
        break;
    }
    case IPC_ACL_REQ:
        assert_int_equal(a->u.acl_req.action, b->u.acl_req.action);
        assert_int_equal(a->u.acl_req.qos, b->u.acl_req.qos);
        assert_int_equal(a->u.acl_req.has_username, b->u.acl_req.has_username);
        assert_bytes_eq(a->u.acl_req.client_id, b->u.acl_req.client_id);
        assert_bytes_eq(a->u.acl_req.username, b->u.acl_req.username);
        assert_bytes_eq(a->u.acl_req.identity, b->u.acl_req.identity);
        assert_bytes_eq(a->u.acl_req.topic, b->u.acl_req.topic);
        assert_int_equal(a->u.acl_req.listener, b->u.acl_req.listener);
        assert_bytes_eq(a->u.acl_req.cert, b->u.acl_req.cert);
        break;
    case IPC_ACL_RESP:
        assert_int_equal(a->u.acl_resp.allow, b->u.acl_resp.allow);
        assert_int_equal(a->u.acl_resp.max_qos, b->u.acl_resp.max_qos);
        assert_int_equal(a->u.acl_resp.generation, b->u.acl_resp.generation);
        assert_int_equal(a->u.acl_resp.flags, b->u.acl_resp.flags);
        assert_int_equal(a->u.acl_resp.payload_format, b->u.acl_resp.payload_format);
        assert_int_equal(a->u.acl_resp.payload_max, b->u.acl_resp.payload_max);
        break;
    case IPC_SESSION_CHECK_REQ:
        assert_int_equal(a->u.check_req.has_username, b->u.check_req.has_username);
        assert_bytes_eq(a->u.check_req.client_id, b->u.check_req.client_id);
        assert_bytes_eq(a->u.check_req.username, b->u.check_req.username);
        assert_bytes_eq(a->u.check_req.identity, b->u.check_req.identity);
        assert_int_equal(a->u.check_req.listener, b->u.check_req.listener);
        assert_bytes_eq(a->u.check_req.cert, b->u.check_req.cert);
        break;
    case IPC_SESSION_CHECK_RESP:
        assert_int_equal(a->u.check_resp.allow, b->u.check_resp.allow);
        assert_int_equal(a->u.check_resp.generation, b->u.check_resp.generation);
        break;
    case IPC_SESSION_END:
        assert_bytes_eq(a->u.session_end.client_id, b->u.session_end.client_id);
        assert_bytes_eq(a->u.session_end.identity, b->u.session_end.identity);
        break;
    case IPC_TLS_REFUSED:
        assert_int_equal(a->u.tls_refused.listener, b->u.tls_refused.listener);
        assert_bytes_eq(a->u.tls_refused.peer, b->u.tls_refused.peer);
        assert_bytes_eq(a->u.tls_refused.reason, b->u.tls_refused.reason);
        assert_bytes_eq(a->u.tls_refused.cert, b->u.tls_refused.cert);
        break;
    default:
        fail();
    }
}

/* Decodes from an exact-size heap copy so ASan catches any read past len. The copy lives
 * until the next call, because decoded strings point into it. */
static int decode_exact(const uint8_t *buf, size_t len, struct ipc_msg *out, size_t *consumed)
{
    static uint8_t *copy;
    free(copy);
    copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, buf, len);
    return ipc_decode(copy, len, out, consumed);
}

/* Encodes into an exact-size heap buffer so ASan catches any write past cap. */
static size_t encode_exact(const struct ipc_msg *m, uint8_t *dst, size_t cap)
{
    uint8_t *buf = malloc(cap ? cap : 1);
    assert_non_null(buf);
    size_t n = ipc_encode(m, buf, cap);
    assert_true(n <= cap);
    if (n)
        memcpy(dst, buf, n);
    free(buf);
    return n;
}

static void assert_in(struct ipc_bytes b, const uint8_t *lo, size_t n)
{
    if (b.len == 0)
        return;
    assert_true(b.p >= lo && b.p + b.len <= lo + n);
}

static void test_round_trip_all_types(void **state)
{
    (void)state;
    for (int t = IPC_HELLO; t <= IPC_TYPE_MAX; t++) {
        struct ipc_msg m = sample(t), d;
        size_t n = ipc_encode(&m, frame, sizeof(frame));
        assert_true(n >= IPC_HEADER_LEN);
        /* Trailing bytes of a following frame are not consumed. */
        frame[n] = 0xEE;
        size_t used = 0;
        assert_int_equal(ipc_decode(frame, n + 1, &d, &used), IPC_OK);
        assert_int_equal(used, n);
        assert_msg_eq(&m, &d);
        /* Strings point into the input, no copies. */
        switch (t) {
        case IPC_CONNECT_REQ:
        case IPC_AUTH_REQ:
            assert_in(d.u.connect_req.client_id, frame, n);
            assert_in(d.u.connect_req.username, frame, n);
            assert_in(d.u.connect_req.password, frame, n);
            assert_in(d.u.connect_req.peer, frame, n);
            assert_in(d.u.connect_req.cert, frame, n);
            assert_in(d.u.connect_req.auth_method, frame, n);
            assert_in(d.u.connect_req.auth_data, frame, n);
            break;
        case IPC_CONNECT_RESP:
            assert_in(d.u.connect_resp.identity, frame, n);
            assert_in(d.u.connect_resp.auth_data, frame, n);
            break;
        case IPC_ACL_REQ:
            assert_in(d.u.acl_req.client_id, frame, n);
            assert_in(d.u.acl_req.username, frame, n);
            assert_in(d.u.acl_req.identity, frame, n);
            assert_in(d.u.acl_req.topic, frame, n);
            assert_in(d.u.acl_req.cert, frame, n);
            break;
        case IPC_SESSION_CHECK_REQ:
            assert_in(d.u.check_req.client_id, frame, n);
            assert_in(d.u.check_req.username, frame, n);
            assert_in(d.u.check_req.identity, frame, n);
            assert_in(d.u.check_req.cert, frame, n);
            break;
        case IPC_SESSION_END:
            assert_in(d.u.session_end.client_id, frame, n);
            assert_in(d.u.session_end.identity, frame, n);
            break;
        case IPC_TLS_REFUSED:
            assert_in(d.u.tls_refused.peer, frame, n);
            assert_in(d.u.tls_refused.reason, frame, n);
            assert_in(d.u.tls_refused.cert, frame, n);
            break;
        }
        /* Re-encoding what was decoded gives the same bytes. */
        static uint8_t again[256];
        assert_true(n <= sizeof(again));
        assert_int_equal(encode_exact(&d, again, n), n);
        assert_memory_equal(again, frame, n);
    }
}

/* Encodes m, decodes it from an exact-size copy and compares. */
static void round_trip(const struct ipc_msg *m)
{
    struct ipc_msg d;
    size_t n = ipc_encode(m, frame, sizeof(frame));
    assert_true(n >= IPC_HEADER_LEN);
    size_t used = 0;
    assert_int_equal(decode_exact(frame, n, &d, &used), IPC_OK);
    assert_int_equal(used, n);
    assert_msg_eq(m, &d);
}

/* CONNECT_REQ and AUTH_REQ: level, flags, four strings, listener, cert, conv, two strings. */
#define CONNECT_REQ_FIXED (2 + 4 * 2 + 1 + 2 + 8 + 2 * 2)
/* CONNECT_RESP: rc, generation, identity, limits, auth_continue, reason5, auth_data. */
#define CONNECT_RESP_FIXED (1 + 4 + 2 + 16 + 1 + 1 + 2)

static void test_round_trip_variants(void **state)
{
    (void)state;
    assert_int_equal(CONNECT_REQ_FIXED, 25);
    assert_int_equal(CONNECT_RESP_FIXED, 27);
    for (int t = IPC_CONNECT_REQ; t <= IPC_AUTH_REQ; t += IPC_AUTH_REQ - IPC_CONNECT_REQ) {
        struct ipc_msg m = sample(t);
        /* Empty strings everywhere, no flags, every protocol level. */
        for (uint8_t lvl = 3; lvl <= 5; lvl++) {
            memset(&m.u.connect_req, 0, sizeof(m.u.connect_req));
            m.u.connect_req.proto_level = lvl;
            assert_int_equal(ipc_encode(&m, frame, sizeof(frame)),
                             IPC_HEADER_LEN + CONNECT_REQ_FIXED);
            round_trip(&m);
        }
        /* Flags present with empty values are legal (MQTT allows a zero-length password). */
        m.u.connect_req.flags = IPC_CONN_HAS_USERNAME | IPC_CONN_HAS_PASSWORD;
        round_trip(&m);
        /* The listener index and the conversation id take any value. */
        m.u.connect_req.listener = 0xFF;
        m.u.connect_req.conv = UINT64_MAX;
        round_trip(&m);
        m.u.connect_req.conv = 0x0000000100000000u; /* the high half alone */
        round_trip(&m);
        m.u.connect_req.conv = 0x00000000FFFFFFFFu; /* the low half alone */
        round_trip(&m);
        /* A method without data (a first step may carry none); a certificate alone. */
        m.u.connect_req.auth_method = BYTES("K");
        round_trip(&m);
        m.u.connect_req.auth_method = NOBYTES;
        m.u.connect_req.cert = BIN(cert_conn);
        round_trip(&m);
    }

    /* AUTH_REQ carries exactly the CONNECT_REQ payload: only the type byte differs. */
    struct ipc_msg x = sample(IPC_CONNECT_REQ);
    static uint8_t as_auth[256];
    size_t xn = ipc_encode(&x, frame, sizeof(frame));
    assert_true(xn > IPC_HEADER_LEN && xn <= sizeof(as_auth));
    x.type = IPC_AUTH_REQ;
    assert_int_equal(ipc_encode(&x, as_auth, sizeof(as_auth)), xn);
    assert_int_equal(frame[1], 2);
    assert_int_equal(as_auth[1], 11);
    as_auth[1] = 2;
    assert_memory_equal(as_auth, frame, xn);
    round_trip(&x);

    /* CONNECT_RESP: every return code, anonymous identity, limits at both extremes. */
    struct ipc_msg c = sample(IPC_CONNECT_RESP);
    for (uint8_t rc = 0; rc <= 5; rc++) {
        c.u.connect_resp.rc = rc;
        round_trip(&c);
    }
    c.u.connect_resp.identity = NOBYTES;
    memset(&c.u.connect_resp.limits, 0, sizeof(c.u.connect_resp.limits));
    c.u.connect_resp.auth_continue = false;
    c.u.connect_resp.reason5 = 0;
    c.u.connect_resp.auth_data = NOBYTES;
    assert_int_equal(ipc_encode(&c, frame, sizeof(frame)), IPC_HEADER_LEN + CONNECT_RESP_FIXED);
    round_trip(&c);
    memset(&c.u.connect_resp.limits, 0xFF, sizeof(c.u.connect_resp.limits));
    c.u.connect_resp.identity = (struct ipc_bytes){(const uint8_t *)"\0\xFF", 2};
    round_trip(&c);
    /* Any reason code goes through (the worker maps it), with or without continuing. */
    for (int r5 = 0; r5 < 256; r5++) {
        c.u.connect_resp.reason5 = (uint8_t)r5;
        c.u.connect_resp.auth_continue = r5 & 1;
        round_trip(&c);
    }
    /* Server data on a final answer (for the CONNACK), and continuing without data. */
    c.u.connect_resp.auth_continue = false;
    c.u.connect_resp.auth_data = BIN(data_resp);
    round_trip(&c);
    c.u.connect_resp.auth_continue = true;
    c.u.connect_resp.auth_data = NOBYTES;
    round_trip(&c);

    struct ipc_msg a = sample(IPC_ACL_REQ);
    a.u.acl_req.action = IPC_ACL_PUBLISH;
    a.u.acl_req.qos = 0;
    a.u.acl_req.has_username = false;
    a.u.acl_req.username = NOBYTES;
    round_trip(&a);
    /* Anonymous identity; has_username with an empty username; no certificate. */
    a.u.acl_req.identity = NOBYTES;
    a.u.acl_req.has_username = true;
    a.u.acl_req.client_id = NOBYTES;
    a.u.acl_req.listener = 0;
    a.u.acl_req.cert = NOBYTES;
    assert_int_equal(ipc_encode(&a, frame, sizeof(frame)),
                     IPC_HEADER_LEN + 3 + 8 + a.u.acl_req.topic.len + 1 + 2);
    round_trip(&a);
    a.u.acl_req.listener = 0xFF;
    round_trip(&a);

    /* ACL_RESP: every flag combination and payload format, payload_max extremes. */
    struct ipc_msg r = sample(IPC_ACL_RESP);
    r.u.acl_resp.allow = false;
    r.u.acl_resp.max_qos = 0;
    for (uint8_t f = 0; f <= IPC_ACL_FLAGS_ALL; f++) {
        for (uint8_t fmt = IPC_PAYLOAD_ANY; fmt <= IPC_PAYLOAD_JSON; fmt++) {
            r.u.acl_resp.flags = f;
            r.u.acl_resp.payload_format = fmt;
            r.u.acl_resp.payload_max = f & 1 ? 0 : 0xFFFFFFFFu;
            round_trip(&r);
        }
    }

    /* SESSION_CHECK_REQ: without a username, with an empty one, all strings empty. */
    struct ipc_msg s = sample(IPC_SESSION_CHECK_REQ);
    s.u.check_req.has_username = false;
    s.u.check_req.username = NOBYTES;
    round_trip(&s);
    s.u.check_req.has_username = true;
    round_trip(&s);
    s.u.check_req.listener = 0xFF;
    s.u.check_req.cert = NOBYTES;
    round_trip(&s);
    memset(&s.u.check_req, 0, sizeof(s.u.check_req));
    assert_int_equal(ipc_encode(&s, frame, sizeof(frame)), IPC_HEADER_LEN + 1 + 6 + 1 + 2);
    round_trip(&s);

    struct ipc_msg v = sample(IPC_SESSION_CHECK_RESP);
    v.u.check_resp.allow = false;
    v.u.check_resp.generation = 0;
    round_trip(&v);

    /* SESSION_END: empty strings, and bytes the codec does not interpret. */
    struct ipc_msg e = sample(IPC_SESSION_END);
    e.u.session_end.client_id = NOBYTES;
    e.u.session_end.identity = NOBYTES;
    assert_int_equal(ipc_encode(&e, frame, sizeof(frame)), IPC_HEADER_LEN + 4);
    round_trip(&e);
    e.u.session_end.identity = (struct ipc_bytes){(const uint8_t *)"a\0\x80", 3};
    round_trip(&e);

    /* TLS_REFUSED: everything empty (no certificate was sent), any listener, any bytes. */
    struct ipc_msg t = sample(IPC_TLS_REFUSED);
    memset(&t.u.tls_refused, 0, sizeof(t.u.tls_refused));
    assert_int_equal(ipc_encode(&t, frame, sizeof(frame)), IPC_HEADER_LEN + 1 + 3 * 2);
    round_trip(&t);
    t.u.tls_refused.listener = 0xFF;
    t.u.tls_refused.reason = (struct ipc_bytes){(const uint8_t *)"\xFF\0x", 3};
    round_trip(&t);
}

/* m encodes to exactly want, and want decodes back to m. */
static void expect_wire(const struct ipc_msg *m, const uint8_t *want, size_t n)
{
    assert_int_equal(encode_exact(m, frame, n), n);
    assert_memory_equal(frame, want, n);
    struct ipc_msg d;
    size_t used = 0;
    assert_int_equal(decode_exact(want, n, &d, &used), IPC_OK);
    assert_int_equal(used, n);
    assert_msg_eq(m, &d);
}

/* The byte layouts are written out by hand (type codes as numbers) so the wire format is
 * pinned independently of the code under test. */
static void test_wire_layout(void **state)
{
    (void)state;
    struct ipc_msg h = sample(IPC_HELLO);
    const uint8_t want_h[] = {1, 1, 0, 0, 0xA1, 0xB2, 0xC3, 0xD4, 0, 0, 0, 4, 1, 2, 3, 4};
    expect_wire(&h, want_h, sizeof(want_h));

    /* CONNECT_RESP: rc, generation, identity, four limits, auth_continue, reason5, data. */
    struct ipc_msg m = sample(IPC_CONNECT_RESP);
    m.u.connect_resp.identity = BYTES("id");
    m.u.connect_resp.limits = (struct ipc_limits){1, 0x0203, 0x04050607, 0xFFFFFFFFu};
    m.u.connect_resp.reason5 = 0x18;
    m.u.connect_resp.auth_data = BYTES("ad");
    const uint8_t want[] = {1, 3, 0, 0,    0xA1, 0xB2, 0xC3, 0xD4, 0,    0, 0, 31,  5,  0, 0,
                            0, 7, 0, 2,    'i',  'd',  0,    0,    0,    1, 0, 0,   2,  3, 4,
                            5, 6, 7, 0xFF, 0xFF, 0xFF, 0xFF, 1,    0x18, 0, 2, 'a', 'd'};
    expect_wire(&m, want, sizeof(want));
    m.u.connect_resp.auth_continue = false;
    m.u.connect_resp.reason5 = 0;
    m.u.connect_resp.auth_data = NOBYTES;
    const uint8_t want_b[] = {1, 3, 0, 0, 0xA1, 0xB2, 0xC3, 0xD4, 0,    0, 0, 29, 5, 0,
                              0, 0, 7, 0, 2,    'i',  'd',  0,    0,    0, 1, 0,  0, 2,
                              3, 4, 5, 6, 7,    0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0,  0};
    expect_wire(&m, want_b, sizeof(want_b));

    /* ACL_REQ: action, qos, has_username, four strings, listener, cert. */
    struct ipc_msg q = sample(IPC_ACL_REQ);
    q.u.acl_req.client_id = BYTES("c");
    q.u.acl_req.username = BYTES("u");
    q.u.acl_req.identity = BYTES("i");
    q.u.acl_req.topic = BYTES("a/b");
    q.u.acl_req.listener = 9;
    q.u.acl_req.cert = (struct ipc_bytes){(const uint8_t *)"\x30\x00", 2};
    const uint8_t want2[] = {1, 4, 0,   0,   0xA1, 0xB2, 0xC3, 0xD4, 0,    0,   0, 22,
                             2, 2, 1,   0,   1,    'c',  0,    1,    'u',  0,   1, 'i',
                             0, 3, 'a', '/', 'b',  9,    0,    2,    0x30, 0x00};
    expect_wire(&q, want2, sizeof(want2));

    /* CONNECT_REQ: level, flags, client id, username, password, peer, listener, cert,
     * conv (u64), auth method, auth data. */
    struct ipc_msg c = sample(IPC_CONNECT_REQ);
    c.u.connect_req.proto_level = 3;
    c.u.connect_req.flags = IPC_CONN_CLEAN | IPC_CONN_HAS_PASSWORD;
    c.u.connect_req.client_id = BYTES("id");
    c.u.connect_req.username = NOBYTES;
    c.u.connect_req.password = BYTES("pw");
    c.u.connect_req.peer = BYTES("p");
    c.u.connect_req.listener = 0xFE;
    c.u.connect_req.cert = (struct ipc_bytes){(const uint8_t *)"\x30\x01\xFF", 3};
    c.u.connect_req.conv = 0x0102030405060708u;
    c.u.connect_req.auth_method = BYTES("m");
    c.u.connect_req.auth_data = (struct ipc_bytes){(const uint8_t *)"\x00\x7F", 2};
    const uint8_t want3[] = {1, 2, 0,   0,    0xA1, 0xB2, 0xC3, 0xD4, 0,    0, 0,    36,
                             3, 5, 0,   2,    'i',  'd',  0,    0,    0,    2, 'p',  'w',
                             0, 1, 'p', 0xFE, 0,    3,    0x30, 0x01, 0xFF, 1, 2,    3,
                             4, 5, 6,   7,    8,    0,    1,    'm',  0,    2, 0x00, 0x7F};
    expect_wire(&c, want3, sizeof(want3));

    /* AUTH_REQ: the same layout under type 11. */
    struct ipc_msg au = sample(IPC_AUTH_REQ);
    memset(&au.u.connect_req, 0, sizeof(au.u.connect_req));
    au.u.connect_req.proto_level = 5;
    au.u.connect_req.client_id = BYTES("c");
    au.u.connect_req.conv = 0xFFFFFFFF00000001u;
    au.u.connect_req.auth_method = BYTES("M");
    au.u.connect_req.auth_data = BYTES("d");
    const uint8_t want3b[] = {1,    11,   0,   0, 0xA1, 0xB2, 0xC3, 0xD4, 0,   0, 0, 28, 5,    0,
                              0,    1,    'c', 0, 0,    0,    0,    0,    0,   0, 0, 0,  0xFF, 0xFF,
                              0xFF, 0xFF, 0,   0, 0,    1,    0,    1,    'M', 0, 1, 'd'};
    expect_wire(&au, want3b, sizeof(want3b));

    /* ACL_RESP: allow, max_qos, generation, flags (RETAIN_OK = 1, SEALED = 2), format, max. */
    struct ipc_msg r = sample(IPC_ACL_RESP);
    r.u.acl_resp.flags = IPC_ACL_SEALED;
    r.u.acl_resp.payload_format = IPC_PAYLOAD_UTF8;
    r.u.acl_resp.payload_max = 0x00010203u;
    const uint8_t want4[] = {1, 5, 0, 0, 0xA1, 0xB2, 0xC3, 0xD4, 0, 0, 0, 12,
                             1, 1, 0, 0, 0,    42,   2,    1,    0, 1, 2, 3};
    expect_wire(&r, want4, sizeof(want4));
    r.u.acl_resp.allow = false;
    r.u.acl_resp.max_qos = 2;
    r.u.acl_resp.flags = IPC_ACL_RETAIN_OK;
    r.u.acl_resp.payload_format = IPC_PAYLOAD_JSON;
    r.u.acl_resp.payload_max = 0xFFFFFFFEu;
    const uint8_t want5[] = {1, 5, 0, 0, 0xA1, 0xB2, 0xC3, 0xD4, 0,    0,    0,    12,
                             0, 2, 0, 0, 0,    42,   1,    2,    0xFF, 0xFF, 0xFF, 0xFE};
    expect_wire(&r, want5, sizeof(want5));

    /* SESSION_CHECK_REQ: has_username, client id, username, identity, listener, cert. */
    struct ipc_msg s = sample(IPC_SESSION_CHECK_REQ);
    s.u.check_req.client_id = BYTES("c");
    s.u.check_req.username = BYTES("u");
    s.u.check_req.identity = BYTES("id");
    s.u.check_req.listener = 3;
    s.u.check_req.cert = BYTES("\x30");
    const uint8_t want6[] = {1, 7,   0, 0, 0xA1, 0xB2, 0xC3, 0xD4, 0,   0, 0, 15, 1,   0,
                             1, 'c', 0, 1, 'u',  0,    2,    'i',  'd', 3, 0, 1,  0x30};
    expect_wire(&s, want6, sizeof(want6));
    s.u.check_req.has_username = false;
    s.u.check_req.username = NOBYTES;
    s.u.check_req.identity = NOBYTES;
    s.u.check_req.listener = 0;
    s.u.check_req.cert = NOBYTES;
    const uint8_t want7[] = {1, 7, 0, 0,   0xA1, 0xB2, 0xC3, 0xD4, 0, 0, 0, 11,
                             0, 0, 1, 'c', 0,    0,    0,    0,    0, 0, 0};
    expect_wire(&s, want7, sizeof(want7));

    struct ipc_msg v = sample(IPC_SESSION_CHECK_RESP);
    v.u.check_resp.allow = false;
    const uint8_t want8[] = {1, 8, 0, 0, 0xA1, 0xB2, 0xC3, 0xD4, 0, 0, 0, 5, 0, 0x80, 0, 0, 1};
    expect_wire(&v, want8, sizeof(want8));

    struct ipc_msg e = sample(IPC_SESSION_END);
    e.u.session_end.client_id = BYTES("cid");
    e.u.session_end.identity = BYTES("x");
    const uint8_t want9[] = {1, 9, 0, 0, 0xA1, 0xB2, 0xC3, 0xD4, 0, 0,
                             0, 8, 0, 3, 'c',  'i',  'd',  0,    1, 'x'};
    expect_wire(&e, want9, sizeof(want9));

    struct ipc_msg g = sample(IPC_GENERATION);
    g.req_id = 0;
    const uint8_t want10[] = {1, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0xFF, 0xFF, 0xFF, 0xFF};
    expect_wire(&g, want10, sizeof(want10));

    /* TLS_REFUSED: listener, peer, reason, cert. */
    struct ipc_msg t = sample(IPC_TLS_REFUSED);
    t.req_id = 0x00000102u;
    t.u.tls_refused.listener = 2;
    t.u.tls_refused.peer = BYTES("h:1");
    t.u.tls_refused.reason = BYTES("bad");
    t.u.tls_refused.cert = (struct ipc_bytes){(const uint8_t *)"\x30\x80", 2};
    const uint8_t want11[] = {1, 10,  0,   0,   0, 0, 1,   2,   0,   0, 0, 15,   2,   0,
                              3, 'h', ':', '1', 0, 3, 'b', 'a', 'd', 0, 2, 0x30, 0x80};
    expect_wire(&t, want11, sizeof(want11));
    memset(&t.u.tls_refused, 0, sizeof(t.u.tls_refused));
    const uint8_t want12[] = {1, 10, 0, 0, 0, 0, 1, 2, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0};
    expect_wire(&t, want12, sizeof(want12));
}

static void refused(const struct ipc_msg *m)
{
    assert_int_equal(ipc_encode(m, frame, sizeof(frame)), 0);
}

static void test_encode_refuses(void **state)
{
    (void)state;
    struct ipc_msg m;

    /* Every type: a buffer one byte short is refused without writing past it. */
    for (int t = IPC_HELLO; t <= IPC_TYPE_MAX; t++) {
        m = sample(t);
        size_t n = ipc_encode(&m, frame, sizeof(frame));
        assert_true(n > IPC_HEADER_LEN);
        assert_int_equal(encode_exact(&m, frame, n - 1), 0);
        assert_int_equal(encode_exact(&m, frame, IPC_HEADER_LEN), 0);
        assert_int_equal(encode_exact(&m, frame, 0), 0);
        assert_int_equal(encode_exact(&m, frame, n), n);
        assert_int_equal(ipc_encode(&m, NULL, 100), 0);
    }

    m = sample(IPC_HELLO);
    m.type = 0;
    refused(&m);
    m.type = IPC_TYPE_MAX + 1;
    refused(&m);
    m.type = 12;
    refused(&m);
    m.type = 0xFF;
    refused(&m);

    /* The same checks for both payloads of struct ipc_connect_req. */
    for (int t = IPC_CONNECT_REQ; t <= IPC_AUTH_REQ; t += IPC_AUTH_REQ - IPC_CONNECT_REQ) {
        m = sample(t);
        m.u.connect_req.proto_level = 2;
        refused(&m);
        m.u.connect_req.proto_level = 6;
        refused(&m);
        m = sample(t);
        m.u.connect_req.flags = 0x08 | IPC_CONN_FLAGS_ALL;
        refused(&m);
        m = sample(t);
        m.u.connect_req.flags = IPC_CONN_HAS_PASSWORD; /* username given without its flag */
        refused(&m);
        m = sample(t);
        m.u.connect_req.flags = IPC_CONN_HAS_USERNAME; /* password given without its flag */
        refused(&m);
        m = sample(t);
        m.u.connect_req.peer = (struct ipc_bytes){NULL, 3};
        refused(&m);
        m = sample(t);
        m.u.connect_req.cert = (struct ipc_bytes){NULL, 3};
        refused(&m);
        m = sample(t);
        m.u.connect_req.auth_method = (struct ipc_bytes){NULL, 3};
        refused(&m);
        m = sample(t);
        m.u.connect_req.auth_data = (struct ipc_bytes){NULL, 3};
        refused(&m);
        /* Authentication data without a method means nothing. */
        m = sample(t);
        m.u.connect_req.auth_method = NOBYTES;
        refused(&m);
        m.u.connect_req.auth_data = NOBYTES;
        assert_true(ipc_encode(&m, frame, sizeof(frame)) > 0);
    }

    m = sample(IPC_CONNECT_RESP);
    m.u.connect_resp.rc = 6;
    refused(&m);
    m.u.connect_resp.rc = 0xFF;
    refused(&m);
    m = sample(IPC_CONNECT_RESP);
    m.u.connect_resp.identity = (struct ipc_bytes){NULL, 3};
    refused(&m);
    m = sample(IPC_CONNECT_RESP);
    m.u.connect_resp.auth_data = (struct ipc_bytes){NULL, 3};
    refused(&m);

    m = sample(IPC_ACL_REQ);
    m.u.acl_req.action = 0;
    refused(&m);
    m.u.acl_req.action = 3;
    refused(&m);
    m = sample(IPC_ACL_REQ);
    m.u.acl_req.qos = 3;
    refused(&m);
    m = sample(IPC_ACL_REQ);
    m.u.acl_req.topic = NOBYTES;
    refused(&m);
    m = sample(IPC_ACL_REQ);
    m.u.acl_req.has_username = false;
    refused(&m);
    m = sample(IPC_ACL_REQ);
    m.u.acl_req.identity = (struct ipc_bytes){NULL, 1};
    refused(&m);
    m = sample(IPC_ACL_REQ);
    m.u.acl_req.cert = (struct ipc_bytes){NULL, 1};
    refused(&m);

    m = sample(IPC_ACL_RESP);
    m.u.acl_resp.max_qos = 3;
    refused(&m);
    for (int bit = 2; bit < 8; bit++) {
        m = sample(IPC_ACL_RESP);
        m.u.acl_resp.flags = (uint8_t)(1u << bit);
        refused(&m);
        m.u.acl_resp.flags |= IPC_ACL_FLAGS_ALL;
        refused(&m);
    }
    m = sample(IPC_ACL_RESP);
    m.u.acl_resp.payload_format = 3;
    refused(&m);
    m.u.acl_resp.payload_format = 0xFF;
    refused(&m);

    m = sample(IPC_SESSION_CHECK_REQ);
    m.u.check_req.has_username = false; /* username given without has_username */
    refused(&m);
    m = sample(IPC_SESSION_CHECK_REQ);
    m.u.check_req.client_id = (struct ipc_bytes){NULL, 2};
    refused(&m);
    m = sample(IPC_SESSION_CHECK_REQ);
    m.u.check_req.username = (struct ipc_bytes){NULL, 2};
    refused(&m);
    m = sample(IPC_SESSION_CHECK_REQ);
    m.u.check_req.identity = (struct ipc_bytes){NULL, 2};
    refused(&m);
    m = sample(IPC_SESSION_CHECK_REQ);
    m.u.check_req.cert = (struct ipc_bytes){NULL, 2};
    refused(&m);

    m = sample(IPC_SESSION_END);
    m.u.session_end.client_id = (struct ipc_bytes){NULL, 1};
    refused(&m);
    m = sample(IPC_SESSION_END);
    m.u.session_end.identity = (struct ipc_bytes){NULL, 1};
    refused(&m);

    m = sample(IPC_TLS_REFUSED);
    m.u.tls_refused.peer = (struct ipc_bytes){NULL, 1};
    refused(&m);
    m = sample(IPC_TLS_REFUSED);
    m.u.tls_refused.reason = (struct ipc_bytes){NULL, 1};
    refused(&m);
    m = sample(IPC_TLS_REFUSED);
    m.u.tls_refused.cert = (struct ipc_bytes){NULL, 1};
    refused(&m);
}

static uint8_t bigbuf[65535];

static struct ipc_bytes big_bytes(size_t n)
{
    assert_true(n <= sizeof(bigbuf));
    return (struct ipc_bytes){bigbuf, (uint16_t)n};
}

/* The largest payload encodes and decodes; one byte more is refused. */
static void test_max_payload(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bigbuf); i++)
        bigbuf[i] = (uint8_t)(i * 7 + 3);

    /* CONNECT_REQ and AUTH_REQ have seven strings, so they can exceed the bound: once with
     * the old strings at their maximum, once with the new ones. */
    const size_t fill = IPC_MAX_PAYLOAD - CONNECT_REQ_FIXED - 3 * 65535;
    for (int t = IPC_CONNECT_REQ; t <= IPC_AUTH_REQ; t += IPC_AUTH_REQ - IPC_CONNECT_REQ) {
        struct ipc_msg m = sample(t);
        m.u.connect_req.client_id = big_bytes(65535);
        m.u.connect_req.username = big_bytes(65535);
        m.u.connect_req.password = big_bytes(65535);
        m.u.connect_req.cert = NOBYTES;
        m.u.connect_req.auth_method = NOBYTES;
        m.u.connect_req.auth_data = NOBYTES;
        m.u.connect_req.peer = big_bytes(fill);
        assert_int_equal(ipc_encode(&m, frame, sizeof(frame)), IPC_HEADER_LEN + IPC_MAX_PAYLOAD);
        round_trip(&m);
        m.u.connect_req.peer.len++;
        refused(&m);

        m = sample(t);
        m.u.connect_req.client_id = NOBYTES;
        m.u.connect_req.username = NOBYTES;
        m.u.connect_req.password = NOBYTES;
        m.u.connect_req.cert = big_bytes(65535);
        m.u.connect_req.auth_method = big_bytes(65535);
        m.u.connect_req.auth_data = big_bytes(65535);
        m.u.connect_req.peer = big_bytes(fill);
        assert_int_equal(ipc_encode(&m, frame, sizeof(frame)), IPC_HEADER_LEN + IPC_MAX_PAYLOAD);
        round_trip(&m);
        m.u.connect_req.peer.len++;
        refused(&m);
        /* Every string at its maximum: far over, refused. */
        m = sample(t);
        m.u.connect_req.client_id = m.u.connect_req.username = big_bytes(65535);
        m.u.connect_req.password = m.u.connect_req.peer = big_bytes(65535);
        m.u.connect_req.cert = m.u.connect_req.auth_method = big_bytes(65535);
        m.u.connect_req.auth_data = big_bytes(65535);
        refused(&m);
    }

    /* ACL_REQ has five strings: 3 + 5 * 2 + 1 fixed bytes. */
    const size_t acl_fill = IPC_MAX_PAYLOAD - 14 - 3 * 65535;
    struct ipc_msg a = sample(IPC_ACL_REQ);
    a.u.acl_req.client_id = big_bytes(65535);
    a.u.acl_req.username = big_bytes(65535);
    a.u.acl_req.identity = big_bytes(65535);
    a.u.acl_req.cert = NOBYTES;
    a.u.acl_req.topic = big_bytes(acl_fill);
    assert_int_equal(ipc_encode(&a, frame, sizeof(frame)), IPC_HEADER_LEN + IPC_MAX_PAYLOAD);
    round_trip(&a);
    a.u.acl_req.topic.len++;
    refused(&a);
    a = sample(IPC_ACL_REQ);
    a.u.acl_req.client_id = big_bytes(65535);
    a.u.acl_req.username = NOBYTES;
    a.u.acl_req.identity = big_bytes(65535);
    a.u.acl_req.cert = big_bytes(65535);
    a.u.acl_req.topic = big_bytes(acl_fill);
    assert_int_equal(ipc_encode(&a, frame, sizeof(frame)), IPC_HEADER_LEN + IPC_MAX_PAYLOAD);
    round_trip(&a);
    a.u.acl_req.topic.len++;
    refused(&a);

    /* SESSION_CHECK_REQ has four strings now: 2 + 4 * 2 fixed bytes, 4 * 65535 is over. */
    struct ipc_msg s = sample(IPC_SESSION_CHECK_REQ);
    s.u.check_req.client_id = big_bytes(65535);
    s.u.check_req.username = big_bytes(65535);
    s.u.check_req.identity = big_bytes(65535);
    s.u.check_req.cert = big_bytes(IPC_MAX_PAYLOAD - 10 - 3 * 65535);
    assert_int_equal(ipc_encode(&s, frame, sizeof(frame)), IPC_HEADER_LEN + IPC_MAX_PAYLOAD);
    round_trip(&s);
    s.u.check_req.cert.len++;
    refused(&s);
    s.u.check_req.cert = big_bytes(65535);
    refused(&s);

    /* The other string-carrying types fit with every string at its maximum. */
    struct ipc_msg c = sample(IPC_CONNECT_RESP);
    c.u.connect_resp.identity = big_bytes(65535);
    c.u.connect_resp.auth_data = big_bytes(65535);
    assert_int_equal(ipc_encode(&c, frame, sizeof(frame)),
                     IPC_HEADER_LEN + CONNECT_RESP_FIXED + 2 * 65535);
    round_trip(&c);
    struct ipc_msg e = sample(IPC_SESSION_END);
    e.u.session_end.client_id = big_bytes(65535);
    e.u.session_end.identity = big_bytes(65535);
    assert_int_equal(ipc_encode(&e, frame, sizeof(frame)), IPC_HEADER_LEN + 2 * 65537);
    round_trip(&e);
    struct ipc_msg t = sample(IPC_TLS_REFUSED);
    t.u.tls_refused.peer = big_bytes(65535);
    t.u.tls_refused.reason = big_bytes(65535);
    t.u.tls_refused.cert = big_bytes(65535);
    assert_int_equal(ipc_encode(&t, frame, sizeof(frame)), IPC_HEADER_LEN + 1 + 3 * 65537);
    round_trip(&t);
}

/* Writes a header with an arbitrary payload length. */
static void header(uint8_t *p, uint8_t type, uint32_t plen)
{
    p[0] = IPC_VERSION;
    p[1] = type;
    p[2] = p[3] = 0;
    p[4] = 0, p[5] = 0, p[6] = 0, p[7] = 9;
    p[8] = (uint8_t)(plen >> 24);
    p[9] = (uint8_t)(plen >> 16);
    p[10] = (uint8_t)(plen >> 8);
    p[11] = (uint8_t)plen;
}

/* The strings added with certificates and enhanced authentication, by type and place. */
struct str_field {
    int type;
    size_t off; /* of the struct ipc_bytes inside struct ipc_msg */
};

#define STR_FIELD(t, f)                                                                            \
    {                                                                                              \
        (t), offsetof(struct ipc_msg, u.f)                                                         \
    }

static const struct str_field new_strings[] = {
    STR_FIELD(IPC_CONNECT_REQ, connect_req.cert),
    STR_FIELD(IPC_CONNECT_REQ, connect_req.auth_method),
    STR_FIELD(IPC_CONNECT_REQ, connect_req.auth_data),
    STR_FIELD(IPC_AUTH_REQ, connect_req.cert),
    STR_FIELD(IPC_AUTH_REQ, connect_req.auth_method),
    STR_FIELD(IPC_AUTH_REQ, connect_req.auth_data),
    STR_FIELD(IPC_CONNECT_RESP, connect_resp.auth_data),
    STR_FIELD(IPC_ACL_REQ, acl_req.cert),
    STR_FIELD(IPC_SESSION_CHECK_REQ, check_req.cert),
    STR_FIELD(IPC_TLS_REFUSED, tls_refused.peer),
    STR_FIELD(IPC_TLS_REFUSED, tls_refused.reason),
    STR_FIELD(IPC_TLS_REFUSED, tls_refused.cert),
};

static struct ipc_bytes *str_at(struct ipc_msg *m, size_t off)
{
    return (struct ipc_bytes *)((char *)m + off);
}

/* Each new string holds up to 65535 bytes behind a u16 length of 0xFFFF, and a length that
 * runs one byte past the payload is truncated, not read beyond. */
static void test_new_string_bound(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bigbuf); i++)
        bigbuf[i] = (uint8_t)(i * 13 + 1);
    for (size_t i = 0; i < sizeof(new_strings) / sizeof(new_strings[0]); i++) {
        struct ipc_msg m = sample(new_strings[i].type), d;
        size_t n0 = ipc_encode(&m, frame, sizeof(frame));
        assert_true(n0 > 0);
        struct ipc_bytes *f = str_at(&m, new_strings[i].off);
        assert_true(f->len > 0); /* the sample fills it */
        size_t old = f->len;
        *f = big_bytes(65535);
        size_t n = ipc_encode(&m, frame, sizeof(frame));
        assert_int_equal(n, n0 - old + 65535);
        size_t used = 0;
        assert_int_equal(decode_exact(frame, n, &d, &used), IPC_OK);
        assert_int_equal(used, n);
        assert_msg_eq(&m, &d);
        const struct ipc_bytes *g = str_at(&d, new_strings[i].off);
        assert_int_equal(g->len, 65535);
        assert_memory_equal(g->p, bigbuf, 65535);
        assert_int_equal(g->p[-2], 0xFF);
        assert_int_equal(g->p[-1], 0xFF);

        /* The payload ends one byte inside the string: truncated, whatever follows. */
        struct ipc_msg in_place;
        assert_int_equal(ipc_decode(frame, n, &in_place, NULL), IPC_OK);
        size_t pos = (size_t)(str_at(&in_place, new_strings[i].off)->p - frame);
        assert_true(pos >= IPC_HEADER_LEN + 2 && pos + 65535 <= n);
        header(frame, (uint8_t)new_strings[i].type, (uint32_t)(pos + 65534 - IPC_HEADER_LEN));
        used = 3;
        assert_int_equal(decode_exact(frame, pos + 65534, &d, &used), IPC_E_TRUNCATED);
        assert_int_equal(used, 0);
    }
}

/* Builds a frame from a payload and decodes it exactly. */
static int decode_payload(uint8_t type, const uint8_t *payload, size_t plen)
{
    uint8_t buf[IPC_HEADER_LEN + 64];
    assert_true(plen <= 64);
    header(buf, type, (uint32_t)plen);
    if (plen)
        memcpy(buf + IPC_HEADER_LEN, payload, plen);
    struct ipc_msg m;
    size_t used = 99;
    int rc = decode_exact(buf, IPC_HEADER_LEN + plen, &m, &used);
    if (rc != IPC_OK)
        assert_int_equal(used, 0);
    else
        assert_int_equal(used, IPC_HEADER_LEN + plen);
    return rc;
}

static void test_decode_header_errors(void **state)
{
    (void)state;
    struct ipc_msg m = sample(IPC_HELLO), d;
    size_t n = ipc_encode(&m, frame, sizeof(frame));
    assert_int_equal(n, IPC_HEADER_LEN + 4);

    frame[0] = 2;
    assert_int_equal(decode_exact(frame, n, &d, NULL), IPC_E_VERSION);
    frame[0] = 0;
    assert_int_equal(decode_exact(frame, n, &d, NULL), IPC_E_VERSION);
    frame[0] = IPC_VERSION;

    frame[1] = 0;
    assert_int_equal(decode_exact(frame, n, &d, NULL), IPC_E_TYPE);
    frame[1] = IPC_TYPE_MAX + 1;
    assert_int_equal(decode_exact(frame, n, &d, NULL), IPC_E_TYPE);
    frame[1] = 0xFF;
    assert_int_equal(decode_exact(frame, n, &d, NULL), IPC_E_TYPE);
    frame[1] = IPC_HELLO;

    frame[2] = 0x80;
    assert_int_equal(decode_exact(frame, n, &d, NULL), IPC_E_RESERVED);
    frame[2] = 0;
    frame[3] = 0x01;
    assert_int_equal(decode_exact(frame, n, &d, NULL), IPC_E_RESERVED);
    frame[3] = 0;

    assert_int_equal(decode_exact(frame, n, &d, NULL), IPC_OK);

    /* Every type byte: types 1..11 are known and all have fields, so an empty payload is
     * truncated; any other value is an unknown type. */
    assert_int_equal(IPC_TLS_REFUSED, 10);
    assert_int_equal(IPC_AUTH_REQ, 11);
    assert_int_equal(IPC_TYPE_MAX, 11);
    for (int t = 0; t < 256; t++) {
        int want = t >= 1 && t <= 11 ? IPC_E_TRUNCATED : IPC_E_TYPE;
        assert_int_equal(decode_payload((uint8_t)t, NULL, 0), want);
    }
}

static void test_decode_too_long_at_once(void **state)
{
    (void)state;
    uint8_t h[IPC_HEADER_LEN];
    struct ipc_msg d;
    /* Only the header is present: an over-long length is refused without waiting. */
    for (int t = IPC_HELLO; t <= IPC_TYPE_MAX; t++) {
        header(h, (uint8_t)t, IPC_MAX_PAYLOAD + 1);
        assert_int_equal(decode_exact(h, sizeof(h), &d, NULL), IPC_E_TOO_LONG);
        header(h, (uint8_t)t, 0xFFFFFFFFu);
        assert_int_equal(decode_exact(h, sizeof(h), &d, NULL), IPC_E_TOO_LONG);
        /* Exactly the maximum is a legal length, so we wait for it. */
        header(h, (uint8_t)t, IPC_MAX_PAYLOAD);
        assert_int_equal(decode_exact(h, sizeof(h), &d, NULL), IPC_NEED_MORE);
    }
}

static void test_decode_truncated_and_trailing(void **state)
{
    (void)state;
    /* HELLO with 3 bytes of a u32. */
    uint8_t p1[] = {0, 0, 1};
    assert_int_equal(decode_payload(IPC_HELLO, p1, sizeof(p1)), IPC_E_TRUNCATED);
    /* HELLO with a byte after the generation. */
    uint8_t p2[] = {0, 0, 0, 1, 0};
    assert_int_equal(decode_payload(IPC_HELLO, p2, sizeof(p2)), IPC_E_TRAILING);
    assert_int_equal(decode_payload(IPC_GENERATION, p2, sizeof(p2)), IPC_E_TRAILING);
    /* SESSION_CHECK_RESP is exactly allow + generation. */
    uint8_t p2b[] = {1, 0, 0, 0, 1, 0};
    assert_int_equal(decode_payload(IPC_SESSION_CHECK_RESP, p2b, sizeof(p2b)), IPC_E_TRAILING);
    assert_int_equal(decode_payload(IPC_SESSION_CHECK_RESP, p2b, 5), IPC_OK);
    assert_int_equal(decode_payload(IPC_SESSION_CHECK_RESP, p2b, 4), IPC_E_TRUNCATED);
    /* CONNECT_RESP with the generation cut short. */
    uint8_t p3[] = {0, 0, 0, 0};
    assert_int_equal(decode_payload(IPC_CONNECT_RESP, p3, sizeof(p3)), IPC_E_TRUNCATED);
    /* CONNECT_RESP in the old 5-byte layout (no identity, no limits). */
    uint8_t p3b[] = {0, 0, 0, 0, 1};
    assert_int_equal(decode_payload(IPC_CONNECT_RESP, p3b, sizeof(p3b)), IPC_E_TRUNCATED);
    /* CONNECT_RESP: rc, generation, identity "", limits, auth_continue, reason5, data "x",
     * then one byte over. The layout before enhanced authentication (23 bytes, limits last)
     * is truncated, and so is every step of the new fields. */
    uint8_t p3c[29] = {0, 0, 0, 0, 1};
    p3c[23] = 1;
    p3c[24] = 0x18;
    p3c[26] = 1;
    p3c[27] = 'x';
    assert_int_equal(decode_payload(IPC_CONNECT_RESP, p3c, 22), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_CONNECT_RESP, p3c, 23), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_CONNECT_RESP, p3c, 24), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_CONNECT_RESP, p3c, 25), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_CONNECT_RESP, p3c, 26), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_CONNECT_RESP, p3c, 27), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_CONNECT_RESP, p3c, 28), IPC_OK);
    assert_int_equal(decode_payload(IPC_CONNECT_RESP, p3c, 29), IPC_E_TRAILING);
    /* CONNECT_REQ whose client id says 5 bytes but the payload ends after 2. */
    uint8_t p4[] = {4, 0, 0, 5, 'a', 'b'};
    assert_int_equal(decode_payload(IPC_CONNECT_REQ, p4, sizeof(p4)), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_AUTH_REQ, p4, sizeof(p4)), IPC_E_TRUNCATED);
    /* CONNECT_REQ with the string length itself cut (one byte of the u16). */
    uint8_t p5[] = {4, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(decode_payload(IPC_CONNECT_REQ, p5, sizeof(p5)), IPC_E_TRUNCATED);
    /* A complete CONNECT_REQ (all 25 bytes, strings empty) with one extra byte; the old
     * 10-byte layout and every cut inside the new fields (listener, cert, the two halves of
     * conv, auth method, auth data) are truncated. The same for AUTH_REQ. */
    uint8_t p6[CONNECT_REQ_FIXED + 1] = {4};
    p6[CONNECT_REQ_FIXED] = 'z';
    static const size_t cuts[] = {10, 11, 12, 13, 17, 20, 21, 22, 23, 24};
    for (int t = IPC_CONNECT_REQ; t <= IPC_AUTH_REQ; t += IPC_AUTH_REQ - IPC_CONNECT_REQ) {
        assert_int_equal(decode_payload((uint8_t)t, p6, sizeof(p6)), IPC_E_TRAILING);
        assert_int_equal(decode_payload((uint8_t)t, p6, sizeof(p6) - 1), IPC_OK);
        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
            assert_int_equal(decode_payload((uint8_t)t, p6, cuts[i]), IPC_E_TRUNCATED);
    }
    /* ACL_REQ: topic string runs past the end. */
    uint8_t p7[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 't'};
    assert_int_equal(decode_payload(IPC_ACL_REQ, p7, sizeof(p7)), IPC_E_TRUNCATED);
    /* ACL_REQ in an old layout: "t" is read as the identity and the topic is missing. */
    uint8_t p7b[] = {1, 0, 0, 0, 0, 0, 0, 0, 1, 't'};
    assert_int_equal(decode_payload(IPC_ACL_REQ, p7b, sizeof(p7b)), IPC_E_TRUNCATED);
    /* ACL_REQ: the layout without listener and cert (12 bytes) is truncated; the cert's
     * byte missing, complete, one byte over. */
    uint8_t p7c[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 't', 5, 0, 1, 0x30, 0};
    assert_int_equal(decode_payload(IPC_ACL_REQ, p7c, 12), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_ACL_REQ, p7c, 13), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_ACL_REQ, p7c, 14), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_ACL_REQ, p7c, 15), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_ACL_REQ, p7c, 16), IPC_OK);
    assert_int_equal(decode_payload(IPC_ACL_REQ, p7c, 17), IPC_E_TRAILING);
    /* ACL_RESP with two bytes of trailing garbage; the old 6-byte layout is too short. */
    uint8_t p8[] = {1, 2, 0, 0, 0, 1, IPC_ACL_FLAGS_ALL, IPC_PAYLOAD_JSON, 0, 0, 1, 0, 0xAB, 0xCD};
    assert_int_equal(decode_payload(IPC_ACL_RESP, p8, sizeof(p8)), IPC_E_TRAILING);
    assert_int_equal(decode_payload(IPC_ACL_RESP, p8, 12), IPC_OK);
    assert_int_equal(decode_payload(IPC_ACL_RESP, p8, 11), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_ACL_RESP, p8, 6), IPC_E_TRUNCATED);
    /* SESSION_CHECK_REQ: identity missing, identity running past the end, the layout
     * without listener and cert (11 bytes), cert length cut, complete, one byte over. */
    uint8_t p9[] = {1, 0, 1, 'c', 0, 1, 'u', 0, 2, 'i', 'd', 7, 0, 0, 0};
    assert_int_equal(decode_payload(IPC_SESSION_CHECK_REQ, p9, 7), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_SESSION_CHECK_REQ, p9, 10), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_SESSION_CHECK_REQ, p9, 11), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_SESSION_CHECK_REQ, p9, 12), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_SESSION_CHECK_REQ, p9, 13), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_SESSION_CHECK_REQ, p9, 14), IPC_OK);
    assert_int_equal(decode_payload(IPC_SESSION_CHECK_REQ, p9, 15), IPC_E_TRAILING);
    /* SESSION_END: only the client id, then both, then a third string. */
    uint8_t p10[] = {0, 1, 'c', 0, 0, 0, 0};
    assert_int_equal(decode_payload(IPC_SESSION_END, p10, 3), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_SESSION_END, p10, 4), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_SESSION_END, p10, 5), IPC_OK);
    assert_int_equal(decode_payload(IPC_SESSION_END, p10, 7), IPC_E_TRAILING);
    /* TLS_REFUSED: listener only, peer cut, cert missing, cert cut, complete, one over. */
    uint8_t p11[] = {7, 0, 1, 'p', 0, 1, 'r', 0, 1, 0x30, 0};
    assert_int_equal(decode_payload(IPC_TLS_REFUSED, p11, 1), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_TLS_REFUSED, p11, 3), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_TLS_REFUSED, p11, 7), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_TLS_REFUSED, p11, 9), IPC_E_TRUNCATED);
    assert_int_equal(decode_payload(IPC_TLS_REFUSED, p11, 10), IPC_OK);
    assert_int_equal(decode_payload(IPC_TLS_REFUSED, p11, 11), IPC_E_TRAILING);
}

/* Every type: a payload that is a prefix of a valid one (the header saying so) is truncated;
 * a byte appended is trailing. */
static void test_payload_cut_and_extended(void **state)
{
    (void)state;
    static uint8_t buf[512];
    for (int t = IPC_HELLO; t <= IPC_TYPE_MAX; t++) {
        struct ipc_msg m = sample(t), d;
        size_t n = ipc_encode(&m, buf, sizeof(buf) - 1);
        assert_true(n > IPC_HEADER_LEN);
        size_t plen = n - IPC_HEADER_LEN;
        for (size_t k = 0; k < plen; k++) {
            header(buf, (uint8_t)t, (uint32_t)k);
            size_t used = 5;
            assert_int_equal(decode_exact(buf, IPC_HEADER_LEN + k, &d, &used), IPC_E_TRUNCATED);
            assert_int_equal(used, 0);
        }
        for (int extra = 0; extra < 256; extra += 0x55) {
            header(buf, (uint8_t)t, (uint32_t)plen + 1);
            buf[n] = (uint8_t)extra;
            assert_int_equal(decode_exact(buf, n + 1, &d, NULL), IPC_E_TRAILING);
        }
        header(buf, (uint8_t)t, (uint32_t)plen);
        assert_int_equal(decode_exact(buf, n, &d, NULL), IPC_OK);
    }
}

/* A bool field: 0 and 1 decode, any other byte is a value error. */
static void expect_bool_only(uint8_t type, uint8_t *payload, size_t plen, size_t at)
{
    uint8_t keep = payload[at];
    for (int v = 0; v < 256; v++) {
        payload[at] = (uint8_t)v;
        int want = v <= 1 ? IPC_OK : IPC_E_VALUE;
        assert_int_equal(decode_payload(type, payload, plen), want);
    }
    payload[at] = keep;
}

/* Any byte at payload[at] decodes. */
static void expect_any_byte(uint8_t type, uint8_t *payload, size_t plen, size_t at)
{
    uint8_t keep = payload[at];
    for (int v = 0; v < 256; v++) {
        payload[at] = (uint8_t)v;
        assert_int_equal(decode_payload(type, payload, plen), IPC_OK);
    }
    payload[at] = keep;
}

/* A level-5 CONNECT_REQ/AUTH_REQ payload: the four strings empty, listener 0x7F, a one-byte
 * certificate 0x80, conv all ones, then the given method and data. Returns its length. */
static size_t auth_payload(uint8_t *p, const char *method, const char *data)
{
    static const uint8_t head[] = {5, 0, 0,    0,    0,    0,    0,    0,    0,    0,    0x7F,
                                   0, 1, 0x80, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    size_t ml = strlen(method), dl = strlen(data), n = sizeof(head);
    memcpy(p, head, n);
    p[n++] = 0;
    p[n++] = (uint8_t)ml;
    memcpy(p + n, method, ml);
    n += ml;
    p[n++] = 0;
    p[n++] = (uint8_t)dl;
    memcpy(p + n, data, dl);
    return n + dl;
}

static void test_decode_values(void **state)
{
    (void)state;
    for (int t = IPC_CONNECT_REQ; t <= IPC_AUTH_REQ; t += IPC_AUTH_REQ - IPC_CONNECT_REQ) {
        uint8_t type = (uint8_t)t;
        /* CONNECT_REQ / AUTH_REQ: proto_level 3..5 only. Offsets: level 0, flags 1, client id
         * 2, username 4, password 6, peer 8, listener 10, cert 11, conv 13, method 21,
         * data 23. */
        uint8_t c[CONNECT_REQ_FIXED] = {4};
        for (int lvl = 0; lvl < 256; lvl++) {
            c[0] = (uint8_t)lvl;
            int want = lvl >= 3 && lvl <= 5 ? IPC_OK : IPC_E_VALUE;
            assert_int_equal(decode_payload(type, c, sizeof(c)), want);
        }
        c[0] = 4;
        /* Unknown flag bits are reserved bits. */
        for (int bit = 3; bit < 8; bit++) {
            c[1] = (uint8_t)(1u << bit);
            assert_int_equal(decode_payload(type, c, sizeof(c)), IPC_E_RESERVED);
        }
        c[1] = IPC_CONN_FLAGS_ALL;
        assert_int_equal(decode_payload(type, c, sizeof(c)), IPC_OK);
        /* The listener index and every byte of conv take any value. */
        expect_any_byte(type, c, sizeof(c), 10);
        for (size_t i = 13; i < 21; i++)
            expect_any_byte(type, c, sizeof(c), i);
        /* A username without HAS_USERNAME, a password without HAS_PASSWORD. */
        uint8_t u[CONNECT_REQ_FIXED + 1] = {4, IPC_CONN_HAS_PASSWORD, 0, 0, 0, 1, 'u'};
        assert_int_equal(decode_payload(type, u, sizeof(u)), IPC_E_VALUE);
        u[1] = IPC_CONN_HAS_USERNAME;
        assert_int_equal(decode_payload(type, u, sizeof(u)), IPC_OK);
        uint8_t pw[CONNECT_REQ_FIXED + 1] = {4, IPC_CONN_HAS_USERNAME, 0, 0, 0, 0, 0, 1, 'p'};
        assert_int_equal(decode_payload(type, pw, sizeof(pw)), IPC_E_VALUE);
        pw[1] = IPC_CONN_HAS_PASSWORD;
        assert_int_equal(decode_payload(type, pw, sizeof(pw)), IPC_OK);
        /* Authentication data needs a method; a method alone, or neither, is fine. */
        uint8_t ea[40];
        assert_int_equal(decode_payload(type, ea, auth_payload(ea, "", "d\xFF")), IPC_E_VALUE);
        assert_int_equal(decode_payload(type, ea, auth_payload(ea, "m", "d\xFF")), IPC_OK);
        assert_int_equal(decode_payload(type, ea, auth_payload(ea, "m", "")), IPC_OK);
        assert_int_equal(decode_payload(type, ea, auth_payload(ea, "", "")), IPC_OK);
    }

    /* CONNECT_RESP: rc 0..5 (the MQTT 3.1.1 CONNACK return codes); limits take any value;
     * auth_continue is a bool; reason5 any byte. Offsets: rc 0, generation 1, identity 5,
     * limits 8, auth_continue 24, reason5 25, auth data 26. */
    uint8_t r[1 + 4 + 3 + 16 + 1 + 1 + 2] = {0, 0, 0, 0, 1, 0, 1, 'i'};
    for (int rc = 0; rc < 256; rc++) {
        r[0] = (uint8_t)rc;
        int want = rc <= 5 ? IPC_OK : IPC_E_VALUE;
        assert_int_equal(decode_payload(IPC_CONNECT_RESP, r, sizeof(r)), want);
    }
    r[0] = 0;
    memset(r + 8, 0xFF, 16);
    assert_int_equal(decode_payload(IPC_CONNECT_RESP, r, sizeof(r)), IPC_OK);
    expect_bool_only(IPC_CONNECT_RESP, r, sizeof(r), 24);
    expect_any_byte(IPC_CONNECT_RESP, r, sizeof(r), 25);
    /* Server data with and without continuing. */
    uint8_t rd[sizeof(r) + 2];
    memcpy(rd, r, sizeof(r));
    rd[27] = 2;
    rd[28] = 0x00;
    rd[29] = 0xFF;
    expect_bool_only(IPC_CONNECT_RESP, rd, sizeof(rd), 24);

    /* ACL_REQ: action, qos, has_username, empty topic, stray username; listener any byte.
     * Offsets: action 0, qos 1, has_username 2, client id 3, username 5, identity 8,
     * topic 11, listener 14, cert 15. */
    uint8_t a[] = {1, 0, 1, 0, 0, 0, 1, 'u', 0, 1, 'i', 0, 1, 't', 0, 0, 0};
    assert_int_equal(decode_payload(IPC_ACL_REQ, a, sizeof(a)), IPC_OK);
    expect_any_byte(IPC_ACL_REQ, a, sizeof(a), 14);
    a[0] = 0;
    assert_int_equal(decode_payload(IPC_ACL_REQ, a, sizeof(a)), IPC_E_VALUE);
    a[0] = 3;
    assert_int_equal(decode_payload(IPC_ACL_REQ, a, sizeof(a)), IPC_E_VALUE);
    a[0] = 2;
    a[1] = 3;
    assert_int_equal(decode_payload(IPC_ACL_REQ, a, sizeof(a)), IPC_E_VALUE);
    a[1] = 2;
    a[2] = 2;
    assert_int_equal(decode_payload(IPC_ACL_REQ, a, sizeof(a)), IPC_E_VALUE);
    a[2] = 0; /* username present but has_username == 0 */
    assert_int_equal(decode_payload(IPC_ACL_REQ, a, sizeof(a)), IPC_E_VALUE);
    /* has_username without a username is a bool: 0 and 1 only. */
    uint8_t a0[] = {1, 0, 1, 0, 0, 0, 0, 0, 1, 'i', 0, 1, 't', 3, 0, 1, 0x30};
    expect_bool_only(IPC_ACL_REQ, a0, sizeof(a0), 2);
    /* Empty topic, even with an identity and a certificate present. */
    uint8_t e[] = {1, 1, 0, 0, 0, 0, 0, 0, 1, 'i', 0, 0, 0, 0, 1, 0x30};
    assert_int_equal(decode_payload(IPC_ACL_REQ, e, sizeof(e)), IPC_E_VALUE);

    /* ACL_RESP: allow 0/1, max_qos 0..2, flags only the known bits, payload_format 0..2,
     * payload_max any u32. */
    uint8_t v[] = {1, 2, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF};
    assert_int_equal(decode_payload(IPC_ACL_RESP, v, sizeof(v)), IPC_OK);
    expect_bool_only(IPC_ACL_RESP, v, sizeof(v), 0);
    v[0] = 0;
    v[1] = 3;
    assert_int_equal(decode_payload(IPC_ACL_RESP, v, sizeof(v)), IPC_E_VALUE);
    v[1] = 0;
    for (int f = 0; f < 256; f++) {
        v[6] = (uint8_t)f;
        int want = f & ~IPC_ACL_FLAGS_ALL ? IPC_E_RESERVED : IPC_OK;
        assert_int_equal(decode_payload(IPC_ACL_RESP, v, sizeof(v)), want);
    }
    v[6] = IPC_ACL_FLAGS_ALL;
    for (int fmt = 0; fmt < 256; fmt++) {
        v[7] = (uint8_t)fmt;
        int want = fmt <= IPC_PAYLOAD_JSON ? IPC_OK : IPC_E_VALUE;
        assert_int_equal(decode_payload(IPC_ACL_RESP, v, sizeof(v)), want);
    }

    /* SESSION_CHECK_REQ: has_username 0/1; a username needs has_username; listener any. */
    uint8_t s[] = {1, 0, 1, 'c', 0, 1, 'u', 0, 1, 'i', 0, 0, 0};
    uint8_t s0[] = {1, 0, 1, 'c', 0, 0, 0, 1, 'i', 0, 0, 1, 0x30};
    for (int has = 0; has < 256; has++) {
        s[0] = s0[0] = (uint8_t)has;
        int want = has == 1 ? IPC_OK : IPC_E_VALUE;
        assert_int_equal(decode_payload(IPC_SESSION_CHECK_REQ, s, sizeof(s)), want);
        want = has <= 1 ? IPC_OK : IPC_E_VALUE;
        assert_int_equal(decode_payload(IPC_SESSION_CHECK_REQ, s0, sizeof(s0)), want);
    }
    s[0] = 1;
    expect_any_byte(IPC_SESSION_CHECK_REQ, s, sizeof(s), 10);

    /* SESSION_CHECK_RESP: allow 0/1, generation any u32. */
    uint8_t k[] = {0, 0xFF, 0xFF, 0xFF, 0xFF};
    expect_bool_only(IPC_SESSION_CHECK_RESP, k, sizeof(k), 0);

    /* SESSION_END: both strings may be empty or hold any bytes. */
    uint8_t z[] = {0, 0, 0, 3, 0, 0xFF, 0x80};
    assert_int_equal(decode_payload(IPC_SESSION_END, z, sizeof(z)), IPC_OK);
    uint8_t z0[] = {0, 0, 0, 0};
    assert_int_equal(decode_payload(IPC_SESSION_END, z0, sizeof(z0)), IPC_OK);

    /* TLS_REFUSED: any listener; strings empty or any bytes. */
    uint8_t tl[] = {0, 0, 2, 'p', 0xFF, 0, 1, 0x80, 0, 3, 0x30, 0, 0xFF};
    expect_any_byte(IPC_TLS_REFUSED, tl, sizeof(tl), 0);
    uint8_t tl0[] = {0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(decode_payload(IPC_TLS_REFUSED, tl0, sizeof(tl0)), IPC_OK);
}

/* Decoder and encoder accept the same set: every single-byte change to every sample frame
 * either is rejected by the decoder, or decodes to a message that encodes back to exactly
 * the bytes consumed (so nothing is normalised or dropped on the way). */
static void test_decode_accepts_only_encodable(void **state)
{
    (void)state;
    static uint8_t orig[256], again[256];
    for (int t = IPC_HELLO; t <= IPC_TYPE_MAX; t++) {
        struct ipc_msg m = sample(t), d;
        size_t n = ipc_encode(&m, orig, sizeof(orig));
        assert_true(n > 0);
        /* Exact size, and alive while the decoded strings are re-encoded. */
        uint8_t *mut = malloc(n);
        assert_non_null(mut);
        int accepted = 0, rejected = 0;
        for (size_t pos = 0; pos < n; pos++) {
            for (int v = 0; v < 256; v++) {
                memcpy(mut, orig, n);
                mut[pos] = (uint8_t)v;
                size_t used = 0;
                int rc = ipc_decode(mut, n, &d, &used);
                if (rc != IPC_OK) {
                    assert_true(rc == IPC_NEED_MORE || (rc <= IPC_E_VERSION && rc >= IPC_E_VALUE));
                    assert_int_equal(used, 0);
                    rejected++;
                    continue;
                }
                accepted++;
                assert_true(used >= IPC_HEADER_LEN && used <= n);
                assert_int_equal(encode_exact(&d, again, used), used);
                assert_memory_equal(again, mut, used);
            }
        }
        free(mut);
        assert_true(accepted > 0 && rejected > 0);
    }
}

/* A whole frame cut at every offset is "need more", read from an exact-size buffer. */
static void test_truncation_every_offset(void **state)
{
    (void)state;
    for (int t = IPC_HELLO; t <= IPC_TYPE_MAX; t++) {
        struct ipc_msg m = sample(t), d;
        size_t n = ipc_encode(&m, frame, sizeof(frame));
        assert_true(n > 0);
        for (size_t k = 0; k < n; k++) {
            size_t used = 77;
            assert_int_equal(decode_exact(frame, k, &d, &used), IPC_NEED_MORE);
            assert_int_equal(used, 0);
        }
        assert_int_equal(decode_exact(frame, n, &d, NULL), IPC_OK);
        assert_msg_eq(&m, &d);
    }
}

static void test_err_str(void **state)
{
    (void)state;
    int codes[] = {IPC_OK,         IPC_NEED_MORE,   IPC_E_VERSION,  IPC_E_TYPE,  IPC_E_RESERVED,
                   IPC_E_TOO_LONG, IPC_E_TRUNCATED, IPC_E_TRAILING, IPC_E_VALUE, -100};
    size_t n = sizeof(codes) / sizeof(codes[0]);
    for (size_t i = 0; i < n; i++) {
        const char *s = ipc_err_str(codes[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, ipc_err_str(codes[j]));
    }
}

/* --- channel ---------------------------------------------------------------------------- */

struct pair {
    int fd[2];
    struct ipc_chan a, b;
};

static void pair_open(struct pair *p, size_t out_max_a, size_t out_max_b)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(fcntl(p->fd[i], F_SETFL, fcntl(p->fd[i], F_GETFL) | O_NONBLOCK), 0);
    assert_int_equal(ipc_chan_init(&p->a, p->fd[0], out_max_a), 0);
    assert_int_equal(ipc_chan_init(&p->b, p->fd[1], out_max_b), 0);
}

static void pair_close(struct pair *p)
{
    ipc_chan_free(&p->a);
    ipc_chan_free(&p->b);
    if (p->fd[0] >= 0)
        close(p->fd[0]);
    if (p->fd[1] >= 0)
        close(p->fd[1]);
}

#define IN_BOUND ((size_t)IPC_HEADER_LEN + IPC_MAX_PAYLOAD + 64 * 1024)

/* Moves everything queued in a to b, decoding into msgs[]; returns messages received.
 * Single-threaded: alternates flush and read until the writer has nothing left. */
static size_t pump(struct pair *p, struct ipc_msg *msgs, size_t max, int *saw_partial)
{
    size_t got = 0;
    for (int guard = 0; guard < 1000000; guard++) {
        int f = ipc_chan_flush(&p->a);
        assert_true(f >= 0);
        if (f == 1 && saw_partial)
            *saw_partial = 1;
        long r = ipc_chan_read(&p->b);
        assert_true(r > 0 || r == -2);
        assert_true(p->b.in_cap <= IN_BOUND);
        int rc;
        while ((rc = ipc_chan_next(&p->b, &msgs[got % max])) == IPC_OK) {
            /* Caller sees messages in order; check it before the next read. */
            got++;
        }
        assert_int_equal(rc, IPC_NEED_MORE);
        if (f == 0 && r == -2)
            return got;
    }
    fail_msg("pump made no progress");
    return got;
}

static void test_chan_many_frames(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, 16u << 20, 4096);
    int small = 8192;
    assert_int_equal(setsockopt(p.fd[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    const size_t count = 20000;
    char id[32];
    for (size_t i = 0; i < count; i++) {
        struct ipc_msg m = sample(IPC_HELLO + (int)(i % IPC_TYPE_MAX));
        m.req_id = (uint32_t)i;
        if (m.type == IPC_CONNECT_REQ || m.type == IPC_AUTH_REQ) {
            snprintf(id, sizeof(id), "client-%zu", i);
            m.u.connect_req.client_id = BYTES(id);
        }
        assert_int_equal(ipc_chan_send(&p.a, &m), 0);
    }
    assert_true(ipc_chan_pending_output(&p.a));
    size_t got = 0;
    int partial = 0;
    for (int guard = 0; got < count && guard < 1000000; guard++) {
        int f = ipc_chan_flush(&p.a);
        assert_true(f >= 0);
        if (f == 1)
            partial = 1;
        long r = ipc_chan_read(&p.b);
        assert_true(r > 0 || r == -2);
        struct ipc_msg d;
        int rc;
        while ((rc = ipc_chan_next(&p.b, &d)) == IPC_OK) {
            struct ipc_msg want = sample(IPC_HELLO + (int)(got % IPC_TYPE_MAX));
            want.req_id = (uint32_t)got;
            if (want.type == IPC_CONNECT_REQ || want.type == IPC_AUTH_REQ) {
                snprintf(id, sizeof(id), "client-%zu", got);
                want.u.connect_req.client_id = BYTES(id);
            }
            assert_msg_eq(&want, &d);
            got++;
        }
        assert_int_equal(rc, IPC_NEED_MORE);
    }
    assert_int_equal(got, count);
    assert_true(partial); /* ~900 KB cannot fit a socket buffer in one go */
    assert_int_equal(ipc_chan_flush(&p.a), 0);
    assert_false(ipc_chan_pending_output(&p.a));
    assert_int_equal(ipc_chan_read(&p.b), -2);
    pair_close(&p);
}

/* Maximum-size frames through a small socket buffer: partial writes and reads mid-frame. */
static void test_chan_partial_writes(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, 8u << 20, 4096);
    int small = 4096;
    assert_int_equal(setsockopt(p.fd[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    static uint8_t chunks[4][65535];
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < sizeof(chunks[k]); i++)
            chunks[k][i] = (uint8_t)(i * 31 + (size_t)k * 7);
    /* Frames of nearly IPC_MAX_PAYLOAD: three strings at 65535, the peer fills the rest. */
    const size_t peer_max = IPC_MAX_PAYLOAD - CONNECT_REQ_FIXED - 3 * 65535 - 1;
    const int frames = 12;
    for (int i = 0; i < frames; i++) {
        struct ipc_msg m = sample(i % 2 ? IPC_AUTH_REQ : IPC_CONNECT_REQ);
        m.req_id = (uint32_t)i;
        m.u.connect_req.client_id = (struct ipc_bytes){chunks[0], 65535};
        m.u.connect_req.username = NOBYTES;
        m.u.connect_req.password = NOBYTES;
        m.u.connect_req.cert = (struct ipc_bytes){chunks[1], 65535};
        m.u.connect_req.auth_method = BYTES("M");
        m.u.connect_req.auth_data = (struct ipc_bytes){chunks[2], 65535};
        m.u.connect_req.peer = (struct ipc_bytes){chunks[3], (uint16_t)(peer_max - (size_t)i)};
        assert_int_equal(ipc_chan_send(&p.a, &m), 0);
    }
    /* The first flush cannot write 3 MB into the socket. */
    assert_int_equal(ipc_chan_flush(&p.a), 1);
    assert_true(ipc_chan_pending_output(&p.a));

    int got = 0, need_more_mid_frame = 0;
    for (int guard = 0; got < frames && guard < 1000000; guard++) {
        int f = ipc_chan_flush(&p.a);
        assert_true(f >= 0);
        long r = ipc_chan_read(&p.b);
        assert_true(r > 0 || r == -2);
        assert_true(p.b.in_cap <= IN_BOUND);
        struct ipc_msg d;
        int rc;
        while ((rc = ipc_chan_next(&p.b, &d)) == IPC_OK) {
            assert_int_equal(d.req_id, (uint32_t)got);
            assert_int_equal(d.type, got % 2 ? IPC_AUTH_REQ : IPC_CONNECT_REQ);
            assert_int_equal(d.u.connect_req.client_id.len, 65535);
            assert_memory_equal(d.u.connect_req.client_id.p, chunks[0], 65535);
            assert_int_equal(d.u.connect_req.cert.len, 65535);
            assert_memory_equal(d.u.connect_req.cert.p, chunks[1], 65535);
            assert_int_equal(d.u.connect_req.auth_data.len, 65535);
            assert_memory_equal(d.u.connect_req.auth_data.p, chunks[2], 65535);
            assert_int_equal(d.u.connect_req.peer.len, peer_max - (size_t)got);
            assert_memory_equal(d.u.connect_req.peer.p, chunks[3], peer_max - (size_t)got);
            got++;
        }
        assert_int_equal(rc, IPC_NEED_MORE);
        if (p.b.in_len > p.b.in_off)
            need_more_mid_frame = 1;
    }
    assert_int_equal(got, frames);
    assert_true(need_more_mid_frame);
    assert_int_equal(ipc_chan_flush(&p.a), 0);
    pair_close(&p);
}

static void test_chan_out_max(void **state)
{
    (void)state;
    struct pair p;
    struct ipc_msg m = sample(IPC_ACL_RESP); /* 24 bytes on the wire */
    size_t fsz = ipc_encode(&m, frame, sizeof(frame));
    assert_int_equal(fsz, 24);
    pair_open(&p, 5 * fsz + 3, 4096);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ipc_chan_send(&p.a, &m), 0);
    errno = 0;
    assert_int_equal(ipc_chan_send(&p.a, &m), -1);
    assert_true(p.a.out_len - p.a.out_off <= p.a.out_max);
    assert_true(p.a.out_cap <= p.a.out_max);
    /* An invalid message is refused too, and queues nothing. */
    size_t before = p.a.out_len;
    struct ipc_msg bad = sample(IPC_ACL_RESP);
    bad.u.acl_resp.max_qos = 9;
    assert_int_equal(ipc_chan_send(&p.a, &bad), -1);
    assert_int_equal(p.a.out_len, before);
    bad = sample(IPC_ACL_RESP);
    bad.u.acl_resp.flags = 0x80;
    assert_int_equal(ipc_chan_send(&p.a, &bad), -1);
    assert_int_equal(p.a.out_len, before);

    /* Once flushed there is room again. */
    assert_int_equal(ipc_chan_flush(&p.a), 0);
    assert_int_equal(ipc_chan_send(&p.a, &m), 0);
    assert_int_equal(ipc_chan_flush(&p.a), 0);
    struct ipc_msg got[8];
    assert_int_equal(pump(&p, got, 8, NULL), 6);

    /* A frame larger than out_max never fits. */
    struct pair q;
    pair_open(&q, fsz - 1, 4096);
    assert_int_equal(ipc_chan_send(&q.a, &m), -1);
    assert_false(ipc_chan_pending_output(&q.a));
    pair_close(&q);
    pair_close(&p);
}

/* out_max also bounds what is still queued after a partial write. */
static void test_chan_out_max_with_backlog(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, 64 * 1024, 4096);
    struct ipc_msg m = sample(IPC_ACL_REQ);
    size_t sent = 0;
    int blocked = 0;
    for (int i = 0; i < 1000000 && !blocked; i++) {
        if (ipc_chan_send(&p.a, &m) < 0) {
            /* Bound reached: flush what the socket takes; blocked once it takes too little. */
            int f = ipc_chan_flush(&p.a);
            assert_true(f >= 0);
            if (f == 1 && ipc_chan_send(&p.a, &m) < 0)
                blocked = 1;
            else if (f == 1)
                sent++;
        } else {
            sent++;
        }
        assert_true(p.a.out_len - p.a.out_off <= 64 * 1024);
        assert_true(p.a.out_cap <= 64 * 1024);
    }
    assert_true(blocked);
    struct ipc_msg got[4];
    size_t received = pump(&p, got, 4, NULL);
    assert_false(ipc_chan_pending_output(&p.a));
    assert_int_equal(received, sent);
    pair_close(&p);
}

static void test_chan_eof_and_empty(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, 4096, 4096);
    struct ipc_msg d;
    assert_int_equal(ipc_chan_next(&p.b, &d), IPC_NEED_MORE);
    assert_int_equal(ipc_chan_read(&p.b), -2);

    /* Half a frame, then the writer goes away. */
    struct ipc_msg m = sample(IPC_GENERATION);
    size_t n = ipc_encode(&m, frame, sizeof(frame));
    assert_int_equal(write(p.fd[0], frame, n - 1), (ssize_t)(n - 1));
    close(p.fd[0]);
    p.fd[0] = -1;
    assert_int_equal(ipc_chan_read(&p.b), (long)(n - 1));
    assert_int_equal(ipc_chan_next(&p.b, &d), IPC_NEED_MORE);
    assert_int_equal(ipc_chan_read(&p.b), 0);
    assert_int_equal(ipc_chan_read(&p.b), 0);

    /* Writing to a closed peer is an error, not SIGPIPE. */
    assert_int_equal(ipc_chan_send(&p.b, &m), 0);
    assert_int_equal(ipc_chan_flush(&p.b), -1);
    assert_int_equal(errno, EPIPE);
    pair_close(&p);
}

static void test_chan_bad_frame(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, 4096, 4096);
    struct ipc_msg m = sample(IPC_HELLO), d;
    size_t n = ipc_encode(&m, frame, sizeof(frame));
    /* A good frame followed by one declaring a huge payload: the first is delivered, the
     * second rejected as soon as its header arrives. */
    header(frame + n, IPC_ACL_RESP, 0x7FFFFFFFu);
    assert_int_equal(write(p.fd[0], frame, n + IPC_HEADER_LEN), (ssize_t)(n + IPC_HEADER_LEN));
    assert_true(ipc_chan_read(&p.b) > 0);
    assert_int_equal(ipc_chan_next(&p.b, &d), IPC_OK);
    assert_msg_eq(&m, &d);
    assert_int_equal(ipc_chan_next(&p.b, &d), IPC_E_TOO_LONG);
    assert_int_equal(ipc_chan_next(&p.b, &d), IPC_E_TOO_LONG);
    pair_close(&p);
}

/* A reader that never drains ipc_chan_next() gets an error, not unbounded memory. */
static void test_chan_input_bound(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, 4096, 4096);
    int big = 1 << 20;
    setsockopt(p.fd[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    memset(frame, 0, sizeof(frame));
    size_t total = 0;
    long r = 0;
    for (int guard = 0; guard < 100000; guard++) {
        ssize_t w = write(p.fd[0], frame, 65536);
        if (w > 0)
            total += (size_t)w;
        r = ipc_chan_read(&p.b);
        if (r == -1)
            break;
        assert_true(r > 0 || r == -2);
        assert_true(p.b.in_cap <= IN_BOUND);
    }
    assert_int_equal(r, -1);
    assert_int_equal(errno, ENOBUFS);
    assert_true(total >= IN_BOUND - 64 * 1024);
    assert_true(p.b.in_cap <= IN_BOUND);
    pair_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_all_types),
        cmocka_unit_test(test_round_trip_variants),
        cmocka_unit_test(test_wire_layout),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_max_payload),
        cmocka_unit_test(test_new_string_bound),
        cmocka_unit_test(test_decode_header_errors),
        cmocka_unit_test(test_decode_too_long_at_once),
        cmocka_unit_test(test_decode_truncated_and_trailing),
        cmocka_unit_test(test_payload_cut_and_extended),
        cmocka_unit_test(test_decode_values),
        cmocka_unit_test(test_decode_accepts_only_encodable),
        cmocka_unit_test(test_truncation_every_offset),
        cmocka_unit_test(test_err_str),
        cmocka_unit_test(test_chan_many_frames),
        cmocka_unit_test(test_chan_partial_writes),
        cmocka_unit_test(test_chan_out_max),
        cmocka_unit_test(test_chan_out_max_with_backlog),
        cmocka_unit_test(test_chan_eof_and_empty),
        cmocka_unit_test(test_chan_bad_frame),
        cmocka_unit_test(test_chan_input_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
