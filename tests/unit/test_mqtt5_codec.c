/* Unit tests for the MQTT 5.0 side of broker/mqtt_codec and broker/mqtt_props: every property
 * in every packet, duplicates, values out of range, truncation, the reason code lists, the
 * short forms, and every 5.0 encoder through the decoder. Bodies are decoded from exact-size
 * heap copies so ASan flags any read past the end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mqtt_codec.h"
#include "mqtt_props.h"

static uint8_t *g_body;

static int dec(uint8_t byte0, const uint8_t *body, size_t len, bool server, struct mqtt_packet *out)
{
    free(g_body);
    g_body = malloc(len ? len : 1);
    assert_non_null(g_body);
    if (len)
        memcpy(g_body, body, len);
    return mqtt_decode(byte0, g_body, (uint32_t)len, MQTT_PROTO_5, server, out);
}

static int dec_whole(const uint8_t *buf, size_t n, bool server, struct mqtt_packet *out)
{
    uint8_t byte0;
    uint32_t rem;
    size_t hl;
    assert_int_equal(mqtt_fixed_header(buf, n, &byte0, &rem, &hl), MQTT_OK);
    assert_int_equal(hl + rem, n);
    return dec(byte0, buf + hl, rem, server, out);
}

static int teardown_group(void **state)
{
    (void)state;
    free(g_body);
    g_body = NULL;
    return 0;
}

/* Decodes a bare property block (an exact-size copy) in ctx. */
static int props(const uint8_t *p, size_t len, enum mqtt_prop_ctx ctx, bool from_client,
                 struct mqtt_props *out)
{
    free(g_body);
    g_body = malloc(len ? len : 1);
    assert_non_null(g_body);
    if (len)
        memcpy(g_body, p, len);
    return mqtt_props_decode(g_body, (uint32_t)len, ctx, from_client, out);
}

#define BYTES(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})
#define PROPS(ctx, client, out, ...) props(BYTES(__VA_ARGS__), ctx, client, out)

/* One well-formed sample of each property, for the table tests. */
static size_t sample(uint8_t id, uint8_t *out)
{
    struct mqtt_pbuf b;
    mqtt_pbuf_init(&b, out, 64);
    switch (id) {
    case 0x01:
    case 0x17:
    case 0x19:
    case 0x24:
    case 0x25:
    case 0x28:
    case 0x29:
    case 0x2A:
        mqtt_pbuf_u8(&b, id, 1);
        break;
    case 0x13:
    case 0x21:
    case 0x22:
    case 0x23:
        mqtt_pbuf_u16(&b, id, 7);
        break;
    case 0x02:
    case 0x11:
    case 0x18:
    case 0x27:
        mqtt_pbuf_u32(&b, id, 70000);
        break;
    case 0x0B:
        mqtt_pbuf_varint(&b, id, 300);
        break;
    case 0x26:
        mqtt_pbuf_pair(&b, id, "k", 1, "v", 1);
        break;
    default:
        mqtt_pbuf_str(&b, id, "a/b", 3);
        break;
    }
    assert_false(b.failed);
    return b.len;
}

#define CTX_COUNT 11
/* Spec 2.2.2.2, table by hand: which contexts each id may appear in. */
static bool allowed(uint8_t id, int ctx)
{
    switch (id) {
    case 0x01:
    case 0x02:
    case 0x03:
    case 0x08:
    case 0x09:
        return ctx == MQTT_PCTX_PUBLISH || ctx == MQTT_PCTX_WILL;
    case 0x0B:
        return ctx == MQTT_PCTX_PUBLISH || ctx == MQTT_PCTX_SUBSCRIBE;
    case 0x11:
        return ctx == MQTT_PCTX_CONNECT || ctx == MQTT_PCTX_CONNACK || ctx == MQTT_PCTX_DISCONNECT;
    case 0x12:
    case 0x13:
    case 0x1A:
    case 0x24:
    case 0x25:
    case 0x28:
    case 0x29:
    case 0x2A:
        return ctx == MQTT_PCTX_CONNACK;
    case 0x15:
    case 0x16:
        return ctx == MQTT_PCTX_CONNECT || ctx == MQTT_PCTX_CONNACK || ctx == MQTT_PCTX_AUTH;
    case 0x17:
    case 0x19:
        return ctx == MQTT_PCTX_CONNECT;
    case 0x18:
        return ctx == MQTT_PCTX_WILL;
    case 0x1C:
        return ctx == MQTT_PCTX_CONNACK || ctx == MQTT_PCTX_DISCONNECT;
    case 0x1F:
        return ctx == MQTT_PCTX_CONNACK || ctx == MQTT_PCTX_PUBACK || ctx == MQTT_PCTX_SUBACK ||
               ctx == MQTT_PCTX_UNSUBACK || ctx == MQTT_PCTX_DISCONNECT || ctx == MQTT_PCTX_AUTH;
    case 0x21:
    case 0x22:
    case 0x27:
        return ctx == MQTT_PCTX_CONNECT || ctx == MQTT_PCTX_CONNACK;
    case 0x23:
        return ctx == MQTT_PCTX_PUBLISH;
    case 0x26:
        return true;
    default:
        return false;
    }
}

/* ---- properties: where each may appear ---- */

static void test_every_property_everywhere(void **state)
{
    (void)state;
    struct mqtt_props pr;
    for (unsigned id = 0; id < 0x80; id++) {
        uint8_t buf[64];
        size_t n;
        bool known = mqtt_prop_name((uint8_t)id) != NULL;
        if (known) {
            n = sample((uint8_t)id, buf);
        } else {
            buf[0] = (uint8_t)id; /* unknown id: the value does not matter */
            buf[1] = 0;
            n = 2;
        }
        for (int ctx = 0; ctx < CTX_COUNT; ctx++) {
            bool from_client = ctx != MQTT_PCTX_PUBLISH; /* a client's PUBLISH has no sub id */
            int rc = props(buf, n, (enum mqtt_prop_ctx)ctx, from_client, &pr);
            int want = known && allowed((uint8_t)id, ctx) ? MQTT_OK : MQTT_E_MALFORMED;
            if (want == MQTT_OK && id == MQTT_PROP_AUTH_DATA)
                want = MQTT_E_PROTOCOL; /* data without a method */
            if (rc != want)
                fail_msg("property 0x%02x in context %d: got %d want %d", id, ctx, rc, want);
            if (rc == MQTT_OK) {
                assert_true(mqtt_props_has(&pr, (uint8_t)id));
                assert_int_equal(pr.count, 1);
                assert_ptr_equal(pr.raw.p, g_body);
                assert_int_equal(pr.raw.len, n);
            }
        }
    }
    /* The 27 properties of the spec, no more. */
    unsigned defined = 0;
    for (unsigned id = 0; id < 256; id++)
        defined += mqtt_prop_name((uint8_t)id) != NULL;
    assert_int_equal(defined, 27);
}

static void test_values_stored(void **state)
{
    (void)state;
    uint8_t buf[512];
    struct mqtt_pbuf b;
    struct mqtt_props pr;
    mqtt_pbuf_init(&b, buf, sizeof(buf));
    mqtt_pbuf_u32(&b, MQTT_PROP_SESSION_EXPIRY, 0xFFFFFFFF);
    mqtt_pbuf_u16(&b, MQTT_PROP_RECEIVE_MAXIMUM, 65535);
    mqtt_pbuf_u32(&b, MQTT_PROP_MAXIMUM_PACKET_SIZE, 1);
    mqtt_pbuf_u16(&b, MQTT_PROP_TOPIC_ALIAS_MAXIMUM, 0);
    mqtt_pbuf_u8(&b, MQTT_PROP_REQUEST_RESPONSE_INFO, 1);
    mqtt_pbuf_u8(&b, MQTT_PROP_REQUEST_PROBLEM_INFO, 0);
    mqtt_pbuf_pair(&b, MQTT_PROP_USER_PROPERTY, "a", 1, "1", 1);
    mqtt_pbuf_pair(&b, MQTT_PROP_USER_PROPERTY, "a", 1, "", 0);
    mqtt_pbuf_str(&b, MQTT_PROP_AUTH_METHOD, "SCRAM", 5);
    mqtt_pbuf_str(&b, MQTT_PROP_AUTH_DATA, "\x00\xff", 2);
    assert_false(b.failed);
    assert_int_equal(props(buf, b.len, MQTT_PCTX_CONNECT, true, &pr), MQTT_OK);
    assert_int_equal(pr.session_expiry, 0xFFFFFFFF);
    assert_int_equal(pr.receive_maximum, 65535);
    assert_int_equal(pr.maximum_packet_size, 1);
    assert_true(mqtt_props_has(&pr, MQTT_PROP_TOPIC_ALIAS_MAXIMUM));
    assert_int_equal(pr.topic_alias_maximum, 0);
    assert_int_equal(pr.request_response_info, 1);
    assert_int_equal(pr.request_problem_info, 0);
    assert_int_equal(pr.n_user, 2);
    assert_int_equal(pr.count, 10);
    assert_memory_equal(pr.auth_method.p, "SCRAM", 5);
    assert_int_equal(pr.auth_data.len, 2);
    assert_false(mqtt_props_has(&pr, MQTT_PROP_WILL_DELAY));

    /* The walk gives every property in wire order, pairs split. */
    uint32_t off = 0;
    struct mqtt_prop pp;
    uint8_t ids[16];
    size_t k = 0;
    while (mqtt_props_next(&pr, &off, &pp)) {
        assert_true(k < 16);
        ids[k++] = pp.id;
        if (k == 8) {
            assert_int_equal(pp.a.len, 1);
            assert_int_equal(pp.b.len, 0);
        }
    }
    assert_int_equal(k, 10);
    assert_memory_equal(
        ids, ((uint8_t[]){0x11, 0x21, 0x27, 0x22, 0x19, 0x17, 0x26, 0x26, 0x15, 0x16}), 10);
    assert_int_equal(off, b.len);

    /* A client's PUBLISH, and one a server sends with several subscription ids. */
    mqtt_pbuf_init(&b, buf, sizeof(buf));
    mqtt_pbuf_u8(&b, MQTT_PROP_PAYLOAD_FORMAT, 1);
    mqtt_pbuf_u32(&b, MQTT_PROP_MESSAGE_EXPIRY, 60);
    mqtt_pbuf_str(&b, MQTT_PROP_CONTENT_TYPE, "text/plain", 10);
    mqtt_pbuf_str(&b, MQTT_PROP_RESPONSE_TOPIC, "re/ply", 6);
    mqtt_pbuf_str(&b, MQTT_PROP_CORRELATION_DATA, "\xc3\x28", 2); /* binary: any bytes */
    mqtt_pbuf_u16(&b, MQTT_PROP_TOPIC_ALIAS, 3);
    size_t client_len = b.len;
    mqtt_pbuf_varint(&b, MQTT_PROP_SUBSCRIPTION_ID, 1);
    mqtt_pbuf_varint(&b, MQTT_PROP_SUBSCRIPTION_ID, MQTT_SUB_ID_MAX);
    assert_int_equal(props(buf, client_len, MQTT_PCTX_PUBLISH, true, &pr), MQTT_OK);
    assert_int_equal(pr.payload_format, 1);
    assert_int_equal(pr.message_expiry, 60);
    assert_int_equal(pr.topic_alias, 3);
    assert_memory_equal(pr.response_topic.p, "re/ply", 6);
    assert_int_equal(pr.correlation_data.len, 2);
    assert_int_equal(props(buf, b.len, MQTT_PCTX_PUBLISH, false, &pr), MQTT_OK);
    assert_int_equal(pr.n_sub_ids, 2);
    assert_int_equal(pr.sub_id, 1);
    assert_int_equal(props(buf, b.len, MQTT_PCTX_PUBLISH, true, &pr), MQTT_E_PROTOCOL);
}

/* ---- properties: duplicates, values, truncation ---- */

static void test_duplicates(void **state)
{
    (void)state;
    struct mqtt_props pr;
    for (unsigned id = 1; id < 0x2B; id++) {
        if (!mqtt_prop_name((uint8_t)id))
            continue;
        uint8_t buf[128];
        size_t n = sample((uint8_t)id, buf);
        memcpy(buf + n, buf, n);
        for (int ctx = 0; ctx < CTX_COUNT; ctx++) {
            if (!allowed((uint8_t)id, ctx))
                continue;
            bool repeatable = id == 0x26 || (id == 0x0B && ctx == MQTT_PCTX_PUBLISH);
            bool from_client = ctx != MQTT_PCTX_PUBLISH;
            int rc = props(buf, 2 * n, (enum mqtt_prop_ctx)ctx, from_client, &pr);
            int want = repeatable ? MQTT_OK : MQTT_E_PROTOCOL;
            if (rc != want)
                fail_msg("two of 0x%02x in context %d: got %d want %d", id, ctx, rc, want);
            if (rc == MQTT_OK)
                assert_int_equal(pr.count, 2);
        }
    }
}

static void test_values_out_of_range(void **state)
{
    (void)state;
    struct mqtt_props pr;
    /* Receive Maximum and Maximum Packet Size 0 are protocol errors, 1 is fine. */
    assert_int_equal(PROPS(MQTT_PCTX_CONNECT, true, &pr, 0x21, 0, 0), MQTT_E_PROTOCOL);
    assert_int_equal(PROPS(MQTT_PCTX_CONNECT, true, &pr, 0x21, 0, 1), MQTT_OK);
    assert_int_equal(PROPS(MQTT_PCTX_CONNACK, false, &pr, 0x21, 0, 0), MQTT_E_PROTOCOL);
    assert_int_equal(PROPS(MQTT_PCTX_CONNECT, true, &pr, 0x27, 0, 0, 0, 0), MQTT_E_PROTOCOL);
    assert_int_equal(PROPS(MQTT_PCTX_CONNECT, true, &pr, 0x27, 0, 0, 0, 1), MQTT_OK);
    /* Byte flags are 0 or 1. */
    const uint8_t flags[][2] = {
        {0x01, MQTT_PCTX_PUBLISH}, {0x01, MQTT_PCTX_WILL},    {0x17, MQTT_PCTX_CONNECT},
        {0x19, MQTT_PCTX_CONNECT}, {0x24, MQTT_PCTX_CONNACK}, {0x25, MQTT_PCTX_CONNACK},
        {0x28, MQTT_PCTX_CONNACK}, {0x29, MQTT_PCTX_CONNACK}, {0x2A, MQTT_PCTX_CONNACK}};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        for (unsigned v = 0; v < 256; v++) {
            uint8_t b[2] = {flags[i][0], (uint8_t)v};
            int rc = props(b, 2, (enum mqtt_prop_ctx)flags[i][1], true, &pr);
            assert_int_equal(rc, v <= 1 ? MQTT_OK : MQTT_E_PROTOCOL);
        }
    }
    /* Topic Alias 0 has its own reason code (0x94). */
    assert_int_equal(PROPS(MQTT_PCTX_PUBLISH, true, &pr, 0x23, 0, 0), MQTT_E_TOPIC_ALIAS);
    assert_int_equal(mqtt_err_reason(MQTT_E_TOPIC_ALIAS), 0x94);
    assert_int_equal(PROPS(MQTT_PCTX_PUBLISH, true, &pr, 0x23, 0xFF, 0xFF), MQTT_OK);
    /* Subscription Identifier: 1..268435455, not 0, never from a publishing client. */
    assert_int_equal(PROPS(MQTT_PCTX_SUBSCRIBE, true, &pr, 0x0B, 0), MQTT_E_PROTOCOL);
    assert_int_equal(PROPS(MQTT_PCTX_SUBSCRIBE, true, &pr, 0x0B, 1), MQTT_OK);
    assert_int_equal(PROPS(MQTT_PCTX_SUBSCRIBE, true, &pr, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F), MQTT_OK);
    assert_int_equal(pr.sub_id, MQTT_SUB_ID_MAX);
    assert_int_equal(PROPS(MQTT_PCTX_SUBSCRIBE, true, &pr, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01),
                     MQTT_E_MALFORMED);
    assert_int_equal(PROPS(MQTT_PCTX_SUBSCRIBE, true, &pr, 0x0B, 0x81, 0x00), MQTT_E_MALFORMED);
    assert_int_equal(PROPS(MQTT_PCTX_PUBLISH, true, &pr, 0x0B, 1), MQTT_E_PROTOCOL);
    assert_int_equal(PROPS(MQTT_PCTX_PUBLISH, false, &pr, 0x0B, 1), MQTT_OK);
    /* Response Topic is a topic name: no wildcard, not empty. */
    assert_int_equal(PROPS(MQTT_PCTX_PUBLISH, true, &pr, 0x08, 0, 3, 'a', '/', '+'),
                     MQTT_E_PROTOCOL);
    assert_int_equal(PROPS(MQTT_PCTX_WILL, true, &pr, 0x08, 0, 1, '#'), MQTT_E_PROTOCOL);
    assert_int_equal(PROPS(MQTT_PCTX_PUBLISH, true, &pr, 0x08, 0, 0), MQTT_E_PROTOCOL);
    /* Authentication Data needs an Authentication Method, in any order. */
    assert_int_equal(PROPS(MQTT_PCTX_CONNECT, true, &pr, 0x16, 0, 1, 'x'), MQTT_E_PROTOCOL);
    assert_int_equal(PROPS(MQTT_PCTX_AUTH, true, &pr, 0x16, 0, 0), MQTT_E_PROTOCOL);
    assert_int_equal(PROPS(MQTT_PCTX_CONNECT, true, &pr, 0x16, 0, 1, 'x', 0x15, 0, 1, 'm'),
                     MQTT_OK);
}

static void test_strings_and_truncation(void **state)
{
    (void)state;
    struct mqtt_props pr;
    /* UTF-8 strings must be well formed (malformed packet); binary data need not. */
    assert_int_equal(PROPS(MQTT_PCTX_PUBLISH, true, &pr, 0x03, 0, 1, 0xC3), MQTT_E_MALFORMED);
    assert_int_equal(PROPS(MQTT_PCTX_PUBLISH, true, &pr, 0x03, 0, 1, 0x00), MQTT_E_MALFORMED);
    assert_int_equal(PROPS(MQTT_PCTX_PUBLISH, true, &pr, 0x03, 0, 3, 0xED, 0xA0, 0x80),
                     MQTT_E_MALFORMED);
    assert_int_equal(PROPS(MQTT_PCTX_PUBLISH, true, &pr, 0x09, 0, 2, 0xC3, 0x00), MQTT_OK);
    assert_int_equal(PROPS(MQTT_PCTX_PUBLISH, true, &pr, 0x26, 0, 1, 'k', 0, 1, 0xFF),
                     MQTT_E_MALFORMED);
    assert_int_equal(PROPS(MQTT_PCTX_PUBLISH, true, &pr, 0x26, 0, 1, 0xFF, 0, 1, 'v'),
                     MQTT_E_MALFORMED);
    assert_int_equal(PROPS(MQTT_PCTX_DISCONNECT, true, &pr, 0x1F, 0, 2, 0xC3, 0xA9), MQTT_OK);
    /* Every truncation of a well-formed block is malformed. */
    uint8_t buf[256];
    struct mqtt_pbuf b;
    mqtt_pbuf_init(&b, buf, sizeof(buf));
    mqtt_pbuf_u8(&b, 0x01, 1);
    mqtt_pbuf_u32(&b, 0x02, 5);
    mqtt_pbuf_str(&b, 0x03, "ct", 2);
    mqtt_pbuf_u16(&b, 0x23, 9);
    mqtt_pbuf_pair(&b, 0x26, "key", 3, "value", 5);
    assert_int_equal(props(buf, b.len, MQTT_PCTX_PUBLISH, true, &pr), MQTT_OK);
    size_t ends[] = {2, 7, 12, 15, 28};
    for (size_t cut = 1; cut < b.len; cut++) {
        bool at_end = false;
        for (size_t i = 0; i < 5; i++)
            at_end |= ends[i] == cut;
        int rc = props(buf, cut, MQTT_PCTX_PUBLISH, true, &pr);
        assert_int_equal(rc, at_end ? MQTT_OK : MQTT_E_MALFORMED);
    }
    /* Identifiers are variable byte integers: a longer form of a valid id is malformed. */
    assert_int_equal(PROPS(MQTT_PCTX_PUBLISH, true, &pr, 0x81, 0x00, 1), MQTT_E_MALFORMED);
    assert_int_equal(PROPS(MQTT_PCTX_PUBLISH, true, &pr, 0x80), MQTT_E_MALFORMED);
    /* An empty block is fine anywhere. */
    for (int ctx = 0; ctx < CTX_COUNT; ctx++) {
        assert_int_equal(props(NULL, 0, (enum mqtt_prop_ctx)ctx, true, &pr), MQTT_OK);
        assert_int_equal(pr.count, 0);
        assert_int_equal(pr.present, 0);
    }
}

static void test_varint(void **state)
{
    (void)state;
    static const struct {
        uint32_t v;
        uint8_t n;
        uint8_t b[4];
    } cases[] = {{0, 1, {0}},
                 {127, 1, {0x7F}},
                 {128, 2, {0x80, 0x01}},
                 {16383, 2, {0xFF, 0x7F}},
                 {16384, 3, {0x80, 0x80, 0x01}},
                 {2097151, 3, {0xFF, 0xFF, 0x7F}},
                 {2097152, 4, {0x80, 0x80, 0x80, 0x01}},
                 {268435455, 4, {0xFF, 0xFF, 0xFF, 0x7F}}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t out[4];
        uint32_t v = 1234;
        assert_int_equal(mqtt_varint_size(cases[i].v), cases[i].n);
        assert_int_equal(mqtt_varint_encode(out, cases[i].v), cases[i].n);
        assert_memory_equal(out, cases[i].b, cases[i].n);
        assert_int_equal(mqtt_varint_decode(cases[i].b, cases[i].n, &v), cases[i].n);
        assert_int_equal(v, cases[i].v);
        assert_int_equal(mqtt_varint_decode(cases[i].b, cases[i].n - 1u, &v), 0);
    }
    uint32_t v;
    assert_int_equal(mqtt_varint_size(268435456u), 0);
    assert_int_equal(mqtt_varint_decode((const uint8_t[]){0x80, 0x80, 0x80, 0x80, 0x01}, 5, &v),
                     -1);
    assert_int_equal(mqtt_varint_decode((const uint8_t[]){0x80, 0x00}, 2, &v), -1);
    assert_int_equal(mqtt_varint_decode((const uint8_t[]){0xFF, 0x80, 0x00}, 3, &v), -1);
}

static void test_builder_bounds(void **state)
{
    (void)state;
    uint8_t buf[8];
    struct mqtt_pbuf b;
    mqtt_pbuf_init(&b, buf, 5);
    mqtt_pbuf_u32(&b, 0x02, 1);
    assert_false(b.failed);
    assert_int_equal(b.len, 5);
    mqtt_pbuf_u8(&b, 0x01, 1);
    assert_true(b.failed);
    assert_int_equal(b.len, 5);
    mqtt_pbuf_init(&b, buf, 8);
    mqtt_pbuf_str(&b, 0x03, "123456", 6);
    assert_true(b.failed); /* 9 bytes do not fit 8 */
    mqtt_pbuf_u8(&b, 0x01, 1);
    assert_true(b.failed); /* failed stays failed */
    assert_int_equal(b.len, 0);
    mqtt_pbuf_init(&b, buf, 8);
    mqtt_pbuf_varint(&b, 0x0B, 268435456u);
    assert_true(b.failed);
}

static void test_forwardable(void **state)
{
    (void)state;
    uint8_t buf[256], fw[256];
    struct mqtt_pbuf b;
    struct mqtt_props pr;
    mqtt_pbuf_init(&b, buf, sizeof(buf));
    mqtt_pbuf_pair(&b, 0x26, "z", 1, "1", 1);
    mqtt_pbuf_u16(&b, 0x23, 4);
    mqtt_pbuf_u32(&b, 0x02, 30);
    mqtt_pbuf_str(&b, 0x08, "r", 1);
    mqtt_pbuf_pair(&b, 0x26, "a", 1, "2", 1);
    mqtt_pbuf_u8(&b, 0x01, 1);
    assert_int_equal(props(buf, b.len, MQTT_PCTX_PUBLISH, true, &pr), MQTT_OK);
    size_t n = mqtt_props_forwardable(&pr, fw);
    /* Alias and expiry gone; the rest in order, user properties included. */
    const uint8_t want[] = {0x26, 0,    1, 'z', 0,   1, '1', 0x08, 0,    1,
                            'r',  0x26, 0, 1,   'a', 0, 1,   '2',  0x01, 1};
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(fw, want, n);
    /* A will's delay is its own, too. */
    mqtt_pbuf_init(&b, buf, sizeof(buf));
    mqtt_pbuf_u32(&b, 0x18, 10);
    mqtt_pbuf_str(&b, 0x03, "c", 1);
    assert_int_equal(props(buf, b.len, MQTT_PCTX_WILL, true, &pr), MQTT_OK);
    assert_int_equal(mqtt_props_forwardable(&pr, fw), 4);
    assert_int_equal(fw[0], 0x03);
}

/* ---- reason codes ---- */

static void test_reason_lists(void **state)
{
    (void)state;
    /* A few members and non-members of each list (spec 2.4 and each packet's table). */
    assert_true(mqtt_reason_allowed(MQTT_CONNACK, 0x84));
    assert_true(mqtt_reason_allowed(MQTT_CONNACK, 0x9F));
    assert_false(mqtt_reason_allowed(MQTT_CONNACK, 0x01));
    assert_false(mqtt_reason_allowed(MQTT_CONNACK, 0x8E));
    assert_true(mqtt_reason_allowed(MQTT_PUBACK, 0x10));
    assert_true(mqtt_reason_allowed(MQTT_PUBREC, 0x99));
    assert_false(mqtt_reason_allowed(MQTT_PUBACK, 0x92));
    assert_true(mqtt_reason_allowed(MQTT_PUBREL, 0x92));
    assert_true(mqtt_reason_allowed(MQTT_PUBCOMP, 0x00));
    assert_false(mqtt_reason_allowed(MQTT_PUBCOMP, 0x80));
    assert_true(mqtt_reason_allowed(MQTT_SUBACK, 0xA2));
    assert_false(mqtt_reason_allowed(MQTT_SUBACK, 0x11));
    assert_true(mqtt_reason_allowed(MQTT_UNSUBACK, 0x11));
    assert_false(mqtt_reason_allowed(MQTT_UNSUBACK, 0x01));
    assert_true(mqtt_reason_allowed(MQTT_DISCONNECT, 0x04));
    assert_true(mqtt_reason_allowed(MQTT_DISCONNECT, 0x8E));
    assert_false(mqtt_reason_allowed(MQTT_DISCONNECT, 0x84));
    assert_true(mqtt_reason_allowed(MQTT_AUTH, 0x19));
    assert_false(mqtt_reason_allowed(MQTT_AUTH, 0x80));
    assert_false(mqtt_reason_allowed(MQTT_PUBLISH, 0x00));
    /* Counting each list whole. */
    const uint8_t types[] = {MQTT_CONNACK,  MQTT_PUBACK,     MQTT_PUBREL, MQTT_SUBACK,
                             MQTT_UNSUBACK, MQTT_DISCONNECT, MQTT_AUTH};
    const unsigned sizes[] = {22, 9, 2, 12, 7, 29, 3};
    for (size_t t = 0; t < sizeof(types); t++) {
        unsigned n = 0;
        for (unsigned rc = 0; rc < 256; rc++)
            n += mqtt_reason_allowed(types[t], (uint8_t)rc);
        assert_int_equal(n, sizes[t]);
    }
    assert_int_equal(mqtt_err_reason(MQTT_E_MALFORMED), 0x81);
    assert_int_equal(mqtt_err_reason(MQTT_E_UTF8), 0x81);
    assert_int_equal(mqtt_err_reason(MQTT_E_TOPIC), 0x81);
    assert_int_equal(mqtt_err_reason(MQTT_E_PROTOCOL), 0x82);
    assert_int_equal(mqtt_err_reason(MQTT_E_TYPE), 0x82);
}

/* ---- packets ---- */

static void test_connect5(void **state)
{
    (void)state;
    uint8_t cp[64], wp[64], buf[512];
    struct mqtt_pbuf b, w;
    struct mqtt_packet p;
    mqtt_pbuf_init(&b, cp, sizeof(cp));
    mqtt_pbuf_u32(&b, MQTT_PROP_SESSION_EXPIRY, 120);
    mqtt_pbuf_u16(&b, MQTT_PROP_RECEIVE_MAXIMUM, 5);
    mqtt_pbuf_pair(&b, MQTT_PROP_USER_PROPERTY, "k", 1, "v", 1);
    mqtt_pbuf_init(&w, wp, sizeof(wp));
    mqtt_pbuf_u32(&w, MQTT_PROP_WILL_DELAY, 9);
    mqtt_pbuf_u8(&w, MQTT_PROP_PAYLOAD_FORMAT, 1);
    struct mqtt_connect_opts o = {.proto_level = 5,
                                  .client_id = "cid",
                                  .keepalive = 30,
                                  .password = "pw", /* 5.0: a password without a username */
                                  .will_topic = "w/t",
                                  .will_payload = (const uint8_t *)"bye",
                                  .will_payload_len = 3,
                                  .will_qos = 1,
                                  .props = cp,
                                  .props_len = b.len,
                                  .will_props = wp,
                                  .will_props_len = w.len};
    size_t n = mqtt_encode_connect(buf, sizeof(buf), &o);
    assert_true(n > 0);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_OK);
    const struct mqtt_connect *k = &p.u.connect;
    assert_int_equal(k->proto_level, 5);
    assert_int_equal(k->keepalive, 30);
    assert_int_equal(k->props.session_expiry, 120);
    assert_int_equal(k->props.receive_maximum, 5);
    assert_int_equal(k->props.n_user, 1);
    assert_int_equal(k->will_props.will_delay, 9);
    assert_int_equal(k->will_props.payload_format, 1);
    assert_true(k->has_password);
    assert_false(k->has_username);
    assert_memory_equal(k->will_payload.p, "bye", 3);

    /* A property of the wrong place: Will Delay in CONNECT, Session Expiry in a will. */
    mqtt_pbuf_init(&b, cp, sizeof(cp));
    mqtt_pbuf_u32(&b, MQTT_PROP_WILL_DELAY, 1);
    o.props_len = b.len;
    n = mqtt_encode_connect(buf, sizeof(buf), &o);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_E_MALFORMED);
    assert_int_equal(p.u.connect.proto_level, 5); /* known before the error: CONNACK 5.0 */
    o.props_len = 0;
    mqtt_pbuf_init(&w, wp, sizeof(wp));
    mqtt_pbuf_u32(&w, MQTT_PROP_SESSION_EXPIRY, 1);
    o.will_props_len = w.len;
    n = mqtt_encode_connect(buf, sizeof(buf), &o);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_E_MALFORMED);
    /* Duplicates in either block. */
    mqtt_pbuf_init(&w, wp, sizeof(wp));
    mqtt_pbuf_u32(&w, MQTT_PROP_WILL_DELAY, 1);
    mqtt_pbuf_u32(&w, MQTT_PROP_WILL_DELAY, 2);
    o.will_props_len = w.len;
    n = mqtt_encode_connect(buf, sizeof(buf), &o);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_E_PROTOCOL);
}

static void test_connect5_flags(void **state)
{
    (void)state;
    struct mqtt_packet p;
    /* 5.0 calls a set reserved flag and bad will bits malformed (3.1.2-3, 3.1.2-11..13). */
    const uint8_t head[] = {0, 4, 'M', 'Q', 'T', 'T', 5};
    uint8_t body[32];
    const uint8_t bad_flags[] = {0x01, 0x03, 0x18, 0x08, 0x20, 0x1C};
    for (size_t i = 0; i < sizeof(bad_flags); i++) {
        size_t n = 0;
        memcpy(body, head, sizeof(head));
        n = sizeof(head);
        body[n++] = bad_flags[i];
        body[n++] = 0;
        body[n++] = 10;
        body[n++] = 0; /* properties */
        body[n++] = 0;
        body[n++] = 1;
        body[n++] = 'c';
        assert_int_equal(dec(0x10, body, n, true, &p), MQTT_E_MALFORMED);
    }
    /* A property length running past the body. */
    assert_int_equal(
        dec(0x10, BYTES(0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 10, 5, 0x11, 0, 0, 0), true, &p),
        MQTT_E_MALFORMED);
}

static void test_connack5(void **state)
{
    (void)state;
    uint8_t pb[64], buf[128];
    struct mqtt_pbuf b;
    struct mqtt_packet p;
    mqtt_pbuf_init(&b, pb, sizeof(pb));
    mqtt_pbuf_u16(&b, MQTT_PROP_RECEIVE_MAXIMUM, 20);
    mqtt_pbuf_u32(&b, MQTT_PROP_MAXIMUM_PACKET_SIZE, 1048576);
    mqtt_pbuf_u8(&b, MQTT_PROP_RETAIN_AVAILABLE, 1);
    mqtt_pbuf_str(&b, MQTT_PROP_ASSIGNED_CLIENT_ID, "auto-1", 6);
    mqtt_pbuf_u16(&b, MQTT_PROP_SERVER_KEEP_ALIVE, 60);
    size_t n = mqtt_encode_connack5(buf, sizeof(buf), true, 0, pb, b.len);
    assert_int_equal(dec_whole(buf, n, false, &p), MQTT_OK);
    assert_true(p.u.connack.session_present);
    assert_int_equal(p.u.connack.props.receive_maximum, 20);
    assert_int_equal(p.u.connack.props.server_keep_alive, 60);
    assert_memory_equal(p.u.connack.props.assigned_client_id.p, "auto-1", 6);
    /* Refusals: every code of the list decodes without a session; others do not. */
    for (unsigned rc = 0; rc < 256; rc++) {
        n = mqtt_encode_connack5(buf, sizeof(buf), false, (uint8_t)rc, NULL, 0);
        int want = mqtt_reason_allowed(MQTT_CONNACK, (uint8_t)rc) ? MQTT_OK : MQTT_E_PROTOCOL;
        assert_int_equal(dec_whole(buf, n, false, &p), want);
    }
    n = mqtt_encode_connack5(buf, sizeof(buf), true, 0x87, NULL, 0);
    assert_int_equal(dec_whole(buf, n, false, &p), MQTT_E_PROTOCOL);
    /* CONNACK has no short form: the property length is required. */
    assert_int_equal(dec(0x20, BYTES(0, 0), false, &p), MQTT_E_MALFORMED);
    assert_int_equal(dec(0x20, BYTES(2, 0, 0), false, &p), MQTT_E_MALFORMED);
    /* The encoder refuses what does not fit. */
    assert_int_equal(mqtt_encode_connack5(buf, 5, false, 0, NULL, 0), 5);
    assert_int_equal(mqtt_encode_connack5(buf, 4, false, 0, NULL, 0), 0);
}

static void test_publish5(void **state)
{
    (void)state;
    uint8_t pb[64], buf[256];
    struct mqtt_pbuf b;
    struct mqtt_packet p;
    mqtt_pbuf_init(&b, pb, sizeof(pb));
    mqtt_pbuf_u32(&b, MQTT_PROP_MESSAGE_EXPIRY, 10);
    mqtt_pbuf_u16(&b, MQTT_PROP_TOPIC_ALIAS, 2);
    size_t n = mqtt_encode_publish5(buf, sizeof(buf), 1, false, true, "a/b", 7, pb, b.len,
                                    (const uint8_t *)"hi", 2);
    assert_int_equal(mqtt_publish5_size(1, 3, b.len, 2), n);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_OK);
    assert_int_equal(p.u.publish.packet_id, 7);
    assert_int_equal(p.u.publish.props.message_expiry, 10);
    assert_int_equal(p.u.publish.props.topic_alias, 2);
    assert_memory_equal(p.u.publish.payload.p, "hi", 2);
    /* The head encoder agrees with the whole encoding. */
    uint8_t head[8];
    size_t hn = mqtt_encode_publish_head5(head, 1, false, true, 3, (uint32_t)b.len, 2);
    assert_memory_equal(head, buf, hn);
    /* An empty topic stands for an alias; without one it is a protocol error. */
    n = mqtt_encode_publish5(buf, sizeof(buf), 0, false, false, "", 0, pb, b.len, NULL, 0);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_OK);
    assert_int_equal(p.u.publish.topic.len, 0);
    n = mqtt_encode_publish5(buf, sizeof(buf), 0, false, false, "", 0, pb, 5, NULL, 0);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_E_PROTOCOL);
    /* Properties that have no place in PUBLISH. */
    mqtt_pbuf_init(&b, pb, sizeof(pb));
    mqtt_pbuf_u32(&b, MQTT_PROP_SESSION_EXPIRY, 10);
    n = mqtt_encode_publish5(buf, sizeof(buf), 0, false, false, "t", 0, pb, b.len, NULL, 0);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_E_MALFORMED);
    /* A server's PUBLISH to a client may carry several subscription identifiers. */
    mqtt_pbuf_init(&b, pb, sizeof(pb));
    mqtt_pbuf_varint(&b, MQTT_PROP_SUBSCRIPTION_ID, 5);
    mqtt_pbuf_varint(&b, MQTT_PROP_SUBSCRIPTION_ID, 6);
    n = mqtt_encode_publish5(buf, sizeof(buf), 0, false, false, "t", 0, pb, b.len, NULL, 0);
    assert_int_equal(dec_whole(buf, n, false, &p), MQTT_OK);
    assert_int_equal(p.u.publish.props.n_sub_ids, 2);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_E_PROTOCOL);
    /* Without the property length the body is malformed. */
    assert_int_equal(dec(0x30, BYTES(0, 1, 't'), true, &p), MQTT_E_MALFORMED);
    assert_int_equal(dec(0x32, BYTES(0, 1, 't', 0, 1), true, &p), MQTT_E_MALFORMED);
}

static void test_acks5(void **state)
{
    (void)state;
    uint8_t pb[64], buf[128];
    struct mqtt_pbuf b;
    struct mqtt_packet p;
    const uint8_t types[] = {MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP};
    mqtt_pbuf_init(&b, pb, sizeof(pb));
    mqtt_pbuf_str(&b, MQTT_PROP_REASON_STRING, "why", 3);
    mqtt_pbuf_pair(&b, MQTT_PROP_USER_PROPERTY, "k", 1, "v", 1);
    for (size_t t = 0; t < 4; t++) {
        uint8_t ok_rc = types[t] <= MQTT_PUBREC ? 0x10 : 0x92;
        /* The short form, reason only, reason and properties. */
        size_t n = mqtt_encode_ack5(buf, sizeof(buf), types[t], 9, 0, NULL, 0);
        assert_int_equal(n, 4);
        assert_int_equal(dec_whole(buf, n, true, &p), MQTT_OK);
        assert_int_equal(p.u.ack.reason, 0);
        n = mqtt_encode_ack5(buf, sizeof(buf), types[t], 9, ok_rc, NULL, 0);
        assert_int_equal(n, 5);
        assert_int_equal(dec_whole(buf, n, true, &p), MQTT_OK);
        assert_int_equal(p.u.ack.reason, ok_rc);
        n = mqtt_encode_ack5(buf, sizeof(buf), types[t], 9, ok_rc, pb, b.len);
        assert_int_equal(dec_whole(buf, n, false, &p), MQTT_OK);
        assert_int_equal(p.u.ack.packet_id, 9);
        assert_memory_equal(p.u.ack.props.reason_string.p, "why", 3);
        assert_int_equal(p.u.ack.props.n_user, 1);
        /* Codes of another packet's list are refused. */
        n = mqtt_encode_ack5(buf, sizeof(buf), types[t], 9, 0x8E, NULL, 0);
        assert_int_equal(dec_whole(buf, n, true, &p), MQTT_E_PROTOCOL);
        /* A property no ack carries, and trailing bytes. */
        uint8_t byte0 = (uint8_t)(types[t] << 4 | (types[t] == MQTT_PUBREL ? 2 : 0));
        assert_int_equal(dec(byte0, BYTES(0, 9, 0, 2, 0x23, 0), true, &p), MQTT_E_MALFORMED);
        assert_int_equal(dec(byte0, BYTES(0, 9, 0, 0, 0), true, &p), MQTT_E_MALFORMED);
        assert_int_equal(dec(byte0, BYTES(0, 0, 0), true, &p), MQTT_E_PROTOCOL);
    }
    assert_int_equal(mqtt_encode_ack5(buf, sizeof(buf), MQTT_UNSUBACK, 1, 0, NULL, 0), 0);
}

static void test_subscribe5(void **state)
{
    (void)state;
    uint8_t pb[32], buf[128];
    struct mqtt_pbuf b;
    struct mqtt_packet p;
    mqtt_pbuf_init(&b, pb, sizeof(pb));
    mqtt_pbuf_varint(&b, MQTT_PROP_SUBSCRIPTION_ID, 42);
    /* Every options byte: reserved bits malformed, QoS 3 and Retain Handling 3 protocol
     * errors, the rest decode and come back whole from the iterator. */
    for (unsigned o = 0; o < 256; o++) {
        size_t n = mqtt_encode_subscribe5(buf, sizeof(buf), 3, pb, b.len, "a/+", (uint8_t)o);
        int want = (o & 0xC0)                      ? MQTT_E_MALFORMED
                   : (o & 3) == 3 || (o >> 4) == 3 ? MQTT_E_PROTOCOL
                                                   : MQTT_OK;
        assert_int_equal(dec_whole(buf, n, true, &p), want);
        if (want == MQTT_OK) {
            struct mqtt_topic_iter it;
            struct mqtt_str f;
            uint8_t opts;
            assert_int_equal(p.u.topics.props.sub_id, 42);
            mqtt_topic_iter_init(&it, &p.u.topics);
            assert_true(mqtt_topic_iter_next(&it, &f, &opts));
            assert_int_equal(opts, o);
            assert_false(mqtt_topic_iter_next(&it, &f, &opts));
        }
    }
    /* Two subscription identifiers, or one of 0. */
    mqtt_pbuf_varint(&b, MQTT_PROP_SUBSCRIPTION_ID, 43);
    size_t n = mqtt_encode_subscribe5(buf, sizeof(buf), 3, pb, b.len, "a", 0);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_E_PROTOCOL);
    n = mqtt_encode_subscribe5(buf, sizeof(buf), 3, BYTES(0x0B, 0), "a", 0);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_E_PROTOCOL);
    /* UNSUBSCRIBE takes user properties only. */
    n = mqtt_encode_unsubscribe5(buf, sizeof(buf), 4, BYTES(0x26, 0, 1, 'k', 0, 0), "a/#");
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_OK);
    assert_int_equal(p.u.topics.props.n_user, 1);
    assert_int_equal(p.u.topics.count, 1);
    n = mqtt_encode_unsubscribe5(buf, sizeof(buf), 4, BYTES(0x0B, 1), "a/#");
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_E_MALFORMED);
    /* Missing property length. */
    assert_int_equal(dec(0x82, BYTES(0, 1), true, &p), MQTT_E_MALFORMED);
    assert_int_equal(dec(0x82, BYTES(0, 1, 0), true, &p), MQTT_E_PROTOCOL);
}

static void test_suback_unsuback5(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct mqtt_packet p;
    const uint8_t codes[] = {0x00, 0x01, 0x02, 0x87, 0x8F, 0x97, 0x9E, 0xA1, 0xA2};
    size_t n = mqtt_encode_suback5(buf, sizeof(buf), MQTT_SUBACK, 5, BYTES(0x1F, 0, 1, 'x'), codes,
                                   sizeof(codes));
    assert_int_equal(dec_whole(buf, n, false, &p), MQTT_OK);
    assert_int_equal(p.u.suback.count, sizeof(codes));
    assert_memory_equal(p.u.suback.codes, codes, sizeof(codes));
    assert_int_equal(p.u.suback.props.reason_string.len, 1);
    n = mqtt_encode_suback5(buf, sizeof(buf), MQTT_SUBACK, 5, NULL, 0, BYTES(0x11));
    assert_int_equal(dec_whole(buf, n, false, &p), MQTT_E_PROTOCOL);
    const uint8_t ucodes[] = {0x00, 0x11, 0x87};
    n = mqtt_encode_suback5(buf, sizeof(buf), MQTT_UNSUBACK, 6, NULL, 0, ucodes, 3);
    assert_int_equal(dec_whole(buf, n, false, &p), MQTT_OK);
    assert_int_equal(p.u.suback.packet_id, 6);
    assert_int_equal(p.u.suback.count, 3);
    n = mqtt_encode_suback5(buf, sizeof(buf), MQTT_UNSUBACK, 6, NULL, 0, BYTES(0x01));
    assert_int_equal(dec_whole(buf, n, false, &p), MQTT_E_PROTOCOL);
    /* No codes at all, or no property length. */
    assert_int_equal(dec(0xB0, BYTES(0, 6, 0), false, &p), MQTT_E_PROTOCOL);
    assert_int_equal(dec(0x90, BYTES(0, 6), false, &p), MQTT_E_MALFORMED);
    assert_int_equal(mqtt_encode_suback5(buf, sizeof(buf), MQTT_PUBACK, 6, NULL, 0, codes, 1), 0);
}

static void test_disconnect_auth5(void **state)
{
    (void)state;
    uint8_t pb[64], buf[128];
    struct mqtt_pbuf b;
    struct mqtt_packet p;
    /* Empty body: reason 0; one byte: a reason alone. */
    size_t n = mqtt_encode_reason5(buf, sizeof(buf), MQTT_DISCONNECT, 0, NULL, 0);
    assert_int_equal(n, 2);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_OK);
    assert_int_equal(p.u.reason.reason, 0);
    n = mqtt_encode_reason5(buf, sizeof(buf), MQTT_DISCONNECT, 0x04, NULL, 0);
    assert_int_equal(n, 3);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_OK);
    assert_int_equal(p.u.reason.reason, 4);
    mqtt_pbuf_init(&b, pb, sizeof(pb));
    mqtt_pbuf_u32(&b, MQTT_PROP_SESSION_EXPIRY, 0);
    mqtt_pbuf_str(&b, MQTT_PROP_REASON_STRING, "bye", 3);
    n = mqtt_encode_reason5(buf, sizeof(buf), MQTT_DISCONNECT, 0, pb, b.len);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_OK);
    assert_true(mqtt_props_has(&p.u.reason.props, MQTT_PROP_SESSION_EXPIRY));
    assert_int_equal(p.u.reason.props.session_expiry, 0);
    /* A server's DISCONNECT may name another server. */
    n = mqtt_encode_reason5(buf, sizeof(buf), MQTT_DISCONNECT, 0x9C, BYTES(0x1C, 0, 1, 'h'));
    assert_int_equal(dec_whole(buf, n, false, &p), MQTT_OK);
    /* Codes outside the list; properties of another packet; trailing bytes. */
    for (unsigned rc = 0; rc < 256; rc++) {
        n = mqtt_encode_reason5(buf, sizeof(buf), MQTT_DISCONNECT, (uint8_t)rc, NULL, 0);
        int want = mqtt_reason_allowed(MQTT_DISCONNECT, (uint8_t)rc) ? MQTT_OK : MQTT_E_PROTOCOL;
        assert_int_equal(dec_whole(buf, n, true, &p), want);
    }
    assert_int_equal(dec(0xE0, BYTES(0, 2, 0x21, 0), true, &p), MQTT_E_MALFORMED);
    assert_int_equal(dec(0xE0, BYTES(0, 0, 0), true, &p), MQTT_E_MALFORMED);
    assert_int_equal(dec(0xE0, BYTES(0, 5), true, &p), MQTT_E_MALFORMED);
    assert_int_equal(dec(0xE1, NULL, 0, true, &p), MQTT_E_MALFORMED);
    /* AUTH: method and data, continue and re-authenticate. */
    mqtt_pbuf_init(&b, pb, sizeof(pb));
    mqtt_pbuf_str(&b, MQTT_PROP_AUTH_METHOD, "SCRAM-SHA-1", 11);
    mqtt_pbuf_str(&b, MQTT_PROP_AUTH_DATA, "\x01\x02", 2);
    n = mqtt_encode_reason5(buf, sizeof(buf), MQTT_AUTH, 0x18, pb, b.len);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_OK);
    assert_int_equal(p.type, MQTT_AUTH);
    assert_int_equal(p.u.reason.reason, 0x18);
    assert_int_equal(p.u.reason.props.auth_data.len, 2);
    assert_int_equal(dec_whole(buf, n, false, &p), MQTT_OK);
    n = mqtt_encode_reason5(buf, sizeof(buf), MQTT_AUTH, 0x19, NULL, 0);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_OK);
    n = mqtt_encode_reason5(buf, sizeof(buf), MQTT_AUTH, 0x87, NULL, 0);
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_E_PROTOCOL);
    n = mqtt_encode_reason5(buf, sizeof(buf), MQTT_AUTH, 0x18, BYTES(0x11, 0, 0, 0, 1));
    assert_int_equal(dec_whole(buf, n, true, &p), MQTT_E_MALFORMED);
    assert_int_equal(mqtt_encode_reason5(buf, sizeof(buf), MQTT_PUBACK, 0, NULL, 0), 0);
}

/* Every 5.0 decoder on single-byte corruptions of valid packets: an answer from the enum,
 * never a read outside the body (ASan). */
static void test_mutations5(void **state)
{
    (void)state;
    uint8_t pb[128], seeds[8][256];
    size_t lens[8];
    struct mqtt_pbuf b;
    mqtt_pbuf_init(&b, pb, sizeof(pb));
    mqtt_pbuf_u32(&b, MQTT_PROP_MESSAGE_EXPIRY, 10);
    mqtt_pbuf_pair(&b, MQTT_PROP_USER_PROPERTY, "k", 1, "v", 1);
    mqtt_pbuf_str(&b, MQTT_PROP_CONTENT_TYPE, "c", 1);
    struct mqtt_connect_opts o = {.proto_level = 5,
                                  .client_id = "c",
                                  .will_topic = "w",
                                  .props = BYTES(0x11, 0, 0, 0, 9),
                                  .will_props = pb,
                                  .will_props_len = b.len};
    lens[0] = mqtt_encode_connect(seeds[0], 256, &o);
    lens[1] = mqtt_encode_publish5(seeds[1], 256, 1, false, false, "a", 1, pb, b.len,
                                   (const uint8_t *)"x", 1);
    lens[2] = mqtt_encode_subscribe5(seeds[2], 256, 1, BYTES(0x0B, 7), "a/#", 0x2D);
    lens[3] = mqtt_encode_ack5(seeds[3], 256, MQTT_PUBREC, 1, 0x10, BYTES(0x1F, 0, 1, 'r'));
    lens[4] = mqtt_encode_reason5(seeds[4], 256, MQTT_DISCONNECT, 4, BYTES(0x11, 0, 0, 0, 1));
    lens[5] = mqtt_encode_reason5(seeds[5], 256, MQTT_AUTH, 0x18, BYTES(0x15, 0, 1, 'm'));
    lens[6] = mqtt_encode_connack5(seeds[6], 256, false, 0, BYTES(0x12, 0, 1, 'a'));
    lens[7] = mqtt_encode_suback5(seeds[7], 256, MQTT_UNSUBACK, 1, NULL, 0, BYTES(0x11));
    for (size_t s = 0; s < 8; s++) {
        assert_true(lens[s] > 0);
        uint8_t byte0;
        uint32_t rem;
        size_t hl;
        assert_int_equal(mqtt_fixed_header(seeds[s], lens[s], &byte0, &rem, &hl), MQTT_OK);
        for (size_t i = hl; i < lens[s]; i++) {
            for (unsigned v = 0; v < 256; v += 17) {
                uint8_t m[256];
                memcpy(m, seeds[s], lens[s]);
                m[i] = (uint8_t)v;
                struct mqtt_packet p;
                for (int side = 0; side < 2; side++) {
                    int rc = dec(byte0, m + hl, rem, side, &p);
                    assert_true(rc == MQTT_OK ||
                                (rc <= MQTT_E_MALFORMED && rc >= MQTT_E_TOPIC_ALIAS));
                }
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_property_everywhere),
        cmocka_unit_test(test_values_stored),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_values_out_of_range),
        cmocka_unit_test(test_strings_and_truncation),
        cmocka_unit_test(test_varint),
        cmocka_unit_test(test_builder_bounds),
        cmocka_unit_test(test_forwardable),
        cmocka_unit_test(test_reason_lists),
        cmocka_unit_test(test_connect5),
        cmocka_unit_test(test_connect5_flags),
        cmocka_unit_test(test_connack5),
        cmocka_unit_test(test_publish5),
        cmocka_unit_test(test_acks5),
        cmocka_unit_test(test_subscribe5),
        cmocka_unit_test(test_suback_unsuback5),
        cmocka_unit_test(test_disconnect_auth5),
        cmocka_unit_test(test_mutations5),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_group);
}
