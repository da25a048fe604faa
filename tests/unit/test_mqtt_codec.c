/* Unit tests for broker/mqtt_codec: every encoder through the decoder, and each MQTT 3.1.1
 * rule the decoder enforces, with a packet just outside and one just inside it.
 * Bodies are decoded from exact-size heap copies so ASan flags any read past the end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mqtt_codec.h"

/* ---- helpers ---- */

/* The heap copy the last decode read from; kept alive because *out points into it. */
static uint8_t *g_body;

static int dec(uint8_t byte0, const uint8_t *body, size_t len, uint8_t level, bool server,
               struct mqtt_packet *out)
{
    free(g_body);
    g_body = malloc(len ? len : 1);
    assert_non_null(g_body);
    if (len)
        memcpy(g_body, body, len);
    return mqtt_decode(byte0, g_body, (uint32_t)len, level, server, out);
}

/* A whole encoded packet: fixed header must account for exactly n bytes. */
static int dec_whole(const uint8_t *buf, size_t n, uint8_t level, bool server,
                     struct mqtt_packet *out)
{
    uint8_t byte0;
    uint32_t rem;
    size_t hl;
    assert_int_equal(mqtt_fixed_header(buf, n, &byte0, &rem, &hl), MQTT_OK);
    assert_int_equal(hl + rem, n);
    return dec(byte0, buf + hl, rem, level, server, out);
}

#define BYTES(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

/* Decode a literal body. */
#define DEC(byte0, level, server, out, ...) dec(byte0, BYTES(__VA_ARGS__), level, server, out)

static int teardown_group(void **state)
{
    (void)state;
    free(g_body);
    g_body = NULL;
    return 0;
}

struct bld {
    uint8_t b[4096];
    size_t n;
};

static void b_u8(struct bld *b, uint8_t v)
{
    assert_true(b->n < sizeof(b->b));
    b->b[b->n++] = v;
}

static void b_u16(struct bld *b, uint16_t v)
{
    b_u8(b, (uint8_t)(v >> 8));
    b_u8(b, (uint8_t)v);
}

static void b_raw(struct bld *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof(b->b));
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

/* Length-prefixed byte string. */
static void b_lstr(struct bld *b, const void *p, size_t n)
{
    b_u16(b, (uint16_t)n);
    b_raw(b, p, n);
}

static void b_str(struct bld *b, const char *s)
{
    b_lstr(b, s, strlen(s));
}

static bool str_eq(struct mqtt_str s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.p, c, s.len) == 0;
}

/* CONNECT body up to and including keepalive 60. */
static void connect_head(struct bld *b, const char *name, uint8_t level, uint8_t flags)
{
    b_str(b, name);
    b_u8(b, level);
    b_u8(b, flags);
    b_u16(b, 60);
}

static int dec_connect(struct bld *b, struct mqtt_packet *p)
{
    return dec(0x10, b->b, b->n, 4, true, p);
}

/* ---- fixed header / remaining length ---- */

static void test_remaining_boundaries(void **state)
{
    (void)state;
    static const struct {
        uint32_t v;
        size_t n;
        uint8_t enc[4];
    } cases[] = {
        {0, 1, {0x00}},
        {127, 1, {0x7F}},
        {128, 2, {0x80, 0x01}},
        {16383, 2, {0xFF, 0x7F}},
        {16384, 3, {0x80, 0x80, 0x01}},
        {2097151, 3, {0xFF, 0xFF, 0x7F}},
        {2097152, 4, {0x80, 0x80, 0x80, 0x01}},
        {268435455, 4, {0xFF, 0xFF, 0xFF, 0x7F}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t out[4] = {0};
        assert_int_equal(mqtt_encode_remaining(out, cases[i].v), cases[i].n);
        assert_memory_equal(out, cases[i].enc, cases[i].n);

        uint8_t buf[5] = {0x30};
        memcpy(buf + 1, cases[i].enc, cases[i].n);
        uint8_t b0 = 0;
        uint32_t rem = 1;
        size_t hl = 0;
        assert_int_equal(mqtt_fixed_header(buf, 1 + cases[i].n, &b0, &rem, &hl), MQTT_OK);
        assert_int_equal(b0, 0x30);
        assert_int_equal(rem, cases[i].v);
        assert_int_equal(hl, 1 + cases[i].n);
        /* Every shorter prefix asks for more. */
        for (size_t k = 0; k < 1 + cases[i].n; k++)
            assert_int_equal(mqtt_fixed_header(buf, k, &b0, &rem, &hl), MQTT_NEED_MORE);
    }
    uint8_t out[4];
    assert_int_equal(mqtt_encode_remaining(out, MQTT_MAX_REMAINING + 1u), 0);
    assert_int_equal(mqtt_encode_remaining(out, UINT32_MAX), 0);
}

static void test_remaining_too_long(void **state)
{
    (void)state;
    uint8_t b0;
    uint32_t rem;
    size_t hl;
    /* A fifth length byte. */
    const uint8_t five[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
    assert_int_equal(mqtt_fixed_header(five, sizeof(five), &b0, &rem, &hl), MQTT_E_MALFORMED);
    const uint8_t five0[] = {0x30, 0x80, 0x80, 0x80, 0x80, 0x00};
    assert_int_equal(mqtt_fixed_header(five0, sizeof(five0), &b0, &rem, &hl), MQTT_E_MALFORMED);
    /* Known malformed as soon as the fourth byte says "continue", without a fifth. */
    assert_int_equal(mqtt_fixed_header(five, 5, &b0, &rem, &hl), MQTT_E_MALFORMED);
    /* Three continuation bytes: still possibly valid. */
    assert_int_equal(mqtt_fixed_header(five, 4, &b0, &rem, &hl), MQTT_NEED_MORE);
}

static void test_remaining_non_minimal_accepted(void **state)
{
    (void)state;
    uint8_t b0;
    uint32_t rem;
    size_t hl;
    const uint8_t buf[] = {0xC0, 0x80, 0x00};
    assert_int_equal(mqtt_fixed_header(buf, sizeof(buf), &b0, &rem, &hl), MQTT_OK);
    assert_int_equal(rem, 0);
    assert_int_equal(hl, 3);
    /* Bytes after the header are not the header's business. */
    const uint8_t more[] = {0x30, 0x05, 1, 2, 3};
    assert_int_equal(mqtt_fixed_header(more, sizeof(more), &b0, &rem, &hl), MQTT_OK);
    assert_int_equal(rem, 5);
    assert_int_equal(hl, 2);
}

/* ---- UTF-8 ---- */

struct u8case {
    const char *s;
    size_t n;
};
#define U8(lit)                                                                                    \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }

static const struct u8case utf8_good[] = {
    U8(""),
    U8("a"),
    U8("hello/world"),
    U8("\x01\x1F\x7F"),     /* control characters are allowed */
    U8("\xC2\x80"),         /* U+0080, smallest 2-byte */
    U8("\xDF\xBF"),         /* U+07FF */
    U8("\xE0\xA0\x80"),     /* U+0800, smallest 3-byte */
    U8("\xE1\x80\x80"),     /* U+1000 */
    U8("\xED\x9F\xBF"),     /* U+D7FF, just below the surrogates */
    U8("\xEE\x80\x80"),     /* U+E000, just above them */
    U8("\xEF\xBF\xBF"),     /* U+FFFF */
    U8("\xEF\xBB\xBF"),     /* U+FEFF BOM is a character */
    U8("\xF0\x90\x80\x80"), /* U+10000, smallest 4-byte */
    U8("\xF1\x80\x80\x80"), /* U+40000 */
    U8("\xF4\x8F\xBF\xBF"), /* U+10FFFF, largest */
    U8("h\xC3\xA9llo w\xC3\xB6rld \xE2\x82\xAC \xF0\x9F\x98\x80"),
    U8("abcdefg\xC3\xA9hijklmnop"),        /* 2-byte across an 8-byte chunk edge */
    U8("abcdefghijklmno\xF0\x9F\x98\x80"), /* 4-byte at the very end */
};

static const struct u8case utf8_bad[] = {
    U8("\x00"), /* U+0000 */
    U8("\x80"), /* lone continuation */
    U8("\xBF"),
    U8("\xC0\x80"),         /* overlong U+0000 */
    U8("\xC0\xAF"),         /* overlong '/' */
    U8("\xC1\xBF"),         /* overlong U+007F */
    U8("\xE0\x80\x80"),     /* overlong 3-byte */
    U8("\xE0\x9F\xBF"),     /* overlong U+07FF */
    U8("\xF0\x80\x80\x80"), /* overlong 4-byte */
    U8("\xF0\x8F\xBF\xBF"), /* overlong U+FFFF */
    U8("\xED\xA0\x80"),     /* U+D800 surrogate */
    U8("\xED\xAD\xBF"),     /* U+DB7F */
    U8("\xED\xB0\x80"),     /* U+DC00 */
    U8("\xED\xBF\xBF"),     /* U+DFFF */
    U8("\xF4\x90\x80\x80"), /* U+110000 */
    U8("\xF5\x80\x80\x80"), /* lead beyond range */
    U8("\xF7\xBF\xBF\xBF"),
    U8("\xF8\x88\x80\x80\x80"), /* 5-byte form */
    U8("\xFC\x84\x80\x80\x80\x80"),
    U8("\xFE"),
    U8("\xFF"),
    U8("\xC2"), /* truncated sequences */
    U8("\xE1\x80"),
    U8("\xE1"),
    U8("\xF1\x80\x80"),
    U8("\xF1"),
    U8("\xC2\x41"), /* continuation missing */
    U8("\xC2\xC2\x80"),
    U8("\xE1\x41\x80"),
    U8("\xE1\x80\x41"),
    U8("\xF1\x80\x80\x41"),
    U8("\xF1\x80\x41\x80"),
    U8("\xE1\x80\xC0"),
};

/* Checks s at every offset 0..17 within ASCII padding, so both the byte loop and the
 * 8-byte fast path see it, with and without trailing ASCII. */
static void check_utf8_embedded(const struct u8case *c, bool want)
{
    for (size_t pre = 0; pre < 18; pre++) {
        for (size_t post = 0; post < 10; post += 9) {
            uint8_t *buf = malloc(pre + c->n + post + 1);
            assert_non_null(buf);
            memset(buf, 'x', pre);
            memcpy(buf + pre, c->s, c->n);
            memset(buf + pre + c->n, 'y', post);
            if (mqtt_utf8_valid(buf, pre + c->n + post) != want) {
                free(buf);
                fail_msg("utf8 case %zu bytes, pre %zu post %zu: want %d", c->n, pre, post, want);
            }
            free(buf);
        }
    }
}

static void test_utf8_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(utf8_good) / sizeof(utf8_good[0]); i++) {
        uint8_t *buf = malloc(utf8_good[i].n + 1); /* exact size for ASan */
        assert_non_null(buf);
        memcpy(buf, utf8_good[i].s, utf8_good[i].n);
        assert_true(mqtt_utf8_valid(buf, utf8_good[i].n));
        free(buf);
        check_utf8_embedded(&utf8_good[i], true);
    }
    for (size_t i = 0; i < sizeof(utf8_bad) / sizeof(utf8_bad[0]); i++) {
        uint8_t *buf = malloc(utf8_bad[i].n);
        assert_non_null(buf);
        memcpy(buf, utf8_bad[i].s, utf8_bad[i].n);
        if (mqtt_utf8_valid(buf, utf8_bad[i].n)) {
            free(buf);
            fail_msg("bad utf8 case %zu accepted", i);
        }
        free(buf);
        check_utf8_embedded(&utf8_bad[i], false);
    }
    /* Only the given length is examined. */
    assert_true(mqtt_utf8_valid((const uint8_t *)"ab\0", 2));
    assert_true(mqtt_utf8_valid(NULL, 0));
}

/* Every code point encodes to something valid; each surrogate encodes to something not. */
static void test_utf8_all_code_points(void **state)
{
    (void)state;
    for (uint32_t cp = 1; cp <= 0x10FFFF; cp++) {
        uint8_t b[4];
        size_t n;
        if (cp < 0x80) {
            b[0] = (uint8_t)cp;
            n = 1;
        } else if (cp < 0x800) {
            b[0] = (uint8_t)(0xC0 | cp >> 6);
            b[1] = (uint8_t)(0x80 | (cp & 0x3F));
            n = 2;
        } else if (cp < 0x10000) {
            b[0] = (uint8_t)(0xE0 | cp >> 12);
            b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            b[2] = (uint8_t)(0x80 | (cp & 0x3F));
            n = 3;
        } else {
            b[0] = (uint8_t)(0xF0 | cp >> 18);
            b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
            b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            b[3] = (uint8_t)(0x80 | (cp & 0x3F));
            n = 4;
        }
        bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        if (mqtt_utf8_valid(b, n) == surrogate)
            fail_msg("U+%04X judged wrongly", (unsigned)cp);
    }
}

/* ---- encoders round trip through the decoder ---- */

static void test_connack_round_trip(void **state)
{
    (void)state;
    uint8_t buf[8];
    struct mqtt_packet p;
    assert_int_equal(mqtt_encode_connack(buf, sizeof(buf), true, 0), 4);
    assert_memory_equal(buf, ((const uint8_t[]){0x20, 0x02, 0x01, 0x00}), 4);
    assert_int_equal(dec_whole(buf, 4, 4, false, &p), MQTT_OK);
    assert_int_equal(p.type, MQTT_CONNACK);
    assert_true(p.u.connack.session_present);
    assert_int_equal(p.u.connack.rc, 0);
    for (uint8_t rc = 0; rc <= MQTT_CONNACK_NOT_AUTHORIZED; rc++) {
        assert_int_equal(mqtt_encode_connack(buf, sizeof(buf), false, rc), 4);
        assert_int_equal(dec_whole(buf, 4, 4, false, &p), MQTT_OK);
        assert_false(p.u.connack.session_present);
        assert_int_equal(p.u.connack.rc, rc);
    }
    assert_int_equal(mqtt_encode_connack(buf, 3, false, 0), 0);
    assert_int_equal(mqtt_encode_connack(buf, 4, false, 0), 4);
}

static void test_ack_round_trip(void **state)
{
    (void)state;
    const uint8_t types[] = {MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP, MQTT_UNSUBACK};
    const uint16_t ids[] = {1, 0x1234, 0xFFFF};
    for (size_t t = 0; t < sizeof(types); t++) {
        for (size_t i = 0; i < 3; i++) {
            uint8_t buf[4];
            struct mqtt_packet p;
            assert_int_equal(mqtt_encode_ack(buf, sizeof(buf), types[t], ids[i]), 4);
            assert_int_equal(buf[0], types[t] << 4 | (types[t] == MQTT_PUBREL ? 2 : 0));
            assert_int_equal(buf[1], 2);
            /* Server side receives all but UNSUBACK; the client side receives all. */
            if (types[t] != MQTT_UNSUBACK) {
                assert_int_equal(dec_whole(buf, 4, 4, true, &p), MQTT_OK);
                assert_int_equal(p.type, types[t]);
                assert_int_equal(p.u.ack.packet_id, ids[i]);
            } else {
                assert_int_equal(dec_whole(buf, 4, 4, true, &p), MQTT_E_TYPE);
            }
            assert_int_equal(dec_whole(buf, 4, 4, false, &p), MQTT_OK);
            assert_int_equal(p.u.ack.packet_id, ids[i]);
            assert_int_equal(mqtt_encode_ack(buf, 3, types[t], ids[i]), 0);
        }
    }
    uint8_t buf[8];
    assert_int_equal(mqtt_encode_ack(buf, sizeof(buf), MQTT_CONNECT, 1), 0);
    assert_int_equal(mqtt_encode_ack(buf, sizeof(buf), MQTT_SUBACK, 1), 0);
    assert_int_equal(mqtt_encode_ack(buf, sizeof(buf), 0, 1), 0);
}

static void test_suback_round_trip(void **state)
{
    (void)state;
    const uint8_t codes[] = {0, 1, 2, 0x80};
    uint8_t buf[16];
    struct mqtt_packet p;
    size_t n = mqtt_encode_suback(buf, sizeof(buf), 77, codes, 4);
    assert_int_equal(n, 8);
    assert_memory_equal(buf, ((const uint8_t[]){0x90, 6, 0, 77, 0, 1, 2, 0x80}), 8);
    assert_int_equal(dec_whole(buf, n, 4, false, &p), MQTT_OK);
    assert_int_equal(p.type, MQTT_SUBACK);
    assert_int_equal(p.u.suback.packet_id, 77);
    assert_int_equal(p.u.suback.count, 4);
    assert_memory_equal(p.u.suback.codes, codes, 4);
    assert_int_equal(dec_whole(buf, n, 4, true, &p), MQTT_E_TYPE);
    assert_int_equal(mqtt_encode_suback(buf, 7, 77, codes, 4), 0);

    /* 200 codes: remaining length takes two bytes. */
    uint8_t many[200];
    memset(many, 1, sizeof(many));
    uint8_t big[256];
    n = mqtt_encode_suback(big, sizeof(big), 5, many, sizeof(many));
    assert_int_equal(n, 1 + 2 + 2 + 200);
    assert_int_equal(dec_whole(big, n, 4, false, &p), MQTT_OK);
    assert_int_equal(p.u.suback.count, 200);
}

static void test_empty_packets_round_trip(void **state)
{
    (void)state;
    uint8_t buf[2];
    struct mqtt_packet p;
    assert_int_equal(mqtt_encode_pingreq(buf, 2), 2);
    assert_memory_equal(buf, ((const uint8_t[]){0xC0, 0}), 2);
    assert_int_equal(dec_whole(buf, 2, 4, true, &p), MQTT_OK);
    assert_int_equal(p.type, MQTT_PINGREQ);
    assert_int_equal(dec_whole(buf, 2, 4, false, &p), MQTT_E_TYPE);

    assert_int_equal(mqtt_encode_pingresp(buf, 2), 2);
    assert_memory_equal(buf, ((const uint8_t[]){0xD0, 0}), 2);
    assert_int_equal(dec_whole(buf, 2, 4, false, &p), MQTT_OK);
    assert_int_equal(p.type, MQTT_PINGRESP);
    assert_int_equal(dec_whole(buf, 2, 4, true, &p), MQTT_E_TYPE);

    assert_int_equal(mqtt_encode_disconnect(buf, 2), 2);
    assert_memory_equal(buf, ((const uint8_t[]){0xE0, 0}), 2);
    assert_int_equal(dec_whole(buf, 2, 4, true, &p), MQTT_OK);
    assert_int_equal(p.type, MQTT_DISCONNECT);
    assert_int_equal(dec_whole(buf, 2, 4, false, &p), MQTT_OK);

    assert_int_equal(mqtt_encode_pingreq(buf, 1), 0);
    assert_int_equal(mqtt_encode_pingresp(buf, 1), 0);
    assert_int_equal(mqtt_encode_disconnect(buf, 0), 0);
}

static void check_publish(uint8_t qos, bool dup, bool retain, const char *topic, uint16_t id,
                          const uint8_t *payload, size_t plen)
{
    uint8_t buf[512];
    struct mqtt_packet p;
    size_t n = mqtt_encode_publish(buf, sizeof(buf), qos, dup, retain, topic, id, payload, plen);
    size_t tlen = strlen(topic);
    size_t rl = 2 + tlen + (qos ? 2 : 0) + plen;
    assert_int_equal(n, 1 + (rl < 128 ? 1 : 2) + rl);
    assert_int_equal(dec_whole(buf, n, 4, true, &p), MQTT_OK);
    assert_int_equal(p.type, MQTT_PUBLISH);
    assert_int_equal(p.u.publish.qos, qos);
    assert_int_equal(p.u.publish.dup, dup);
    assert_int_equal(p.u.publish.retain, retain);
    assert_true(str_eq(p.u.publish.topic, topic));
    assert_int_equal(p.u.publish.packet_id, qos ? id : 0);
    assert_int_equal(p.u.publish.payload.len, plen);
    if (plen)
        assert_memory_equal(p.u.publish.payload.p, payload, plen);
    assert_int_equal(dec_whole(buf, n, 4, false, &p), MQTT_OK);

    /* The split form (head || topic || id || payload) yields the same bytes. */
    uint8_t head[8];
    size_t hl = mqtt_encode_publish_head(head, qos, dup, retain, (uint16_t)tlen, (uint32_t)plen);
    assert_true(hl >= 4 && hl <= 7);
    uint8_t cat[512];
    size_t c = 0;
    memcpy(cat, head, hl);
    c += hl;
    memcpy(cat + c, topic, tlen);
    c += tlen;
    if (qos) {
        cat[c++] = (uint8_t)(id >> 8);
        cat[c++] = (uint8_t)id;
    }
    if (plen)
        memcpy(cat + c, payload, plen);
    c += plen;
    assert_int_equal(c, n);
    assert_memory_equal(cat, buf, n);

    /* Any smaller buffer is refused whole. */
    for (size_t cap = 0; cap < n; cap++)
        assert_int_equal(mqtt_encode_publish(buf, cap, qos, dup, retain, topic, id, payload, plen),
                         0);
}

static void test_publish_round_trip(void **state)
{
    (void)state;
    const uint8_t bin[] = {0, 1, 0xFF, 0xC0, 0x80, '+', '#'};
    uint8_t big[200];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)i;
    for (uint8_t qos = 0; qos <= 2; qos++) {
        check_publish(qos, qos > 0, false, "a/b", 1, bin, sizeof(bin));
        check_publish(qos, false, true, "x", 0xFFFF, NULL, 0);
        check_publish(qos, false, false, "caf\xC3\xA9/\xF0\x9F\x98\x80/long/topic/name", 42, big,
                      sizeof(big));
        check_publish(qos, false, false, "/", 9, (const uint8_t *)"p", 1);
    }
    uint8_t buf[64];
    assert_int_equal(mqtt_encode_publish(buf, sizeof(buf), 3, false, false, "a", 1, NULL, 0), 0);
}

static void test_publish_head_sizes(void **state)
{
    (void)state;
    uint8_t h[8];
    /* Smallest: rl 2 (empty topic and payload), so byte 0 + 1 length byte + 2. */
    assert_int_equal(mqtt_encode_publish_head(h, 0, false, false, 0, 0), 4);
    assert_memory_equal(h, ((const uint8_t[]){0x30, 2, 0, 0}), 4);
    /* rl = 2 + 1 + 2 + 122 = 127 fits one byte; one more needs two. */
    assert_int_equal(mqtt_encode_publish_head(h, 1, false, false, 1, 122), 4);
    assert_memory_equal(h, ((const uint8_t[]){0x32, 127, 0, 1}), 4);
    assert_int_equal(mqtt_encode_publish_head(h, 1, false, false, 1, 123), 5);
    assert_memory_equal(h, ((const uint8_t[]){0x32, 0x80, 0x01, 0, 1}), 5);
    /* Largest: rl exactly the maximum. */
    uint32_t pl = MQTT_MAX_REMAINING - 2 - 300 - 2;
    assert_int_equal(mqtt_encode_publish_head(h, 2, true, true, 300, pl), 7);
    assert_memory_equal(h, ((const uint8_t[]){0x3D, 0xFF, 0xFF, 0xFF, 0x7F, 0x01, 0x2C}), 7);
    uint8_t b0;
    uint32_t rem;
    size_t hl;
    assert_int_equal(mqtt_fixed_header(h, 7, &b0, &rem, &hl), MQTT_OK);
    assert_int_equal(rem, MQTT_MAX_REMAINING);
    /* One more byte does not fit a remaining length. */
    assert_int_equal(mqtt_encode_publish_head(h, 2, true, true, 300, pl + 1), 0);
    assert_int_equal(mqtt_encode_publish_head(h, 0, false, false, 0xFFFF, UINT32_MAX), 0);
    assert_int_equal(mqtt_encode_publish_head(h, 3, false, false, 1, 0), 0);
}

static void test_connect_round_trip(void **state)
{
    (void)state;
    const uint8_t wp[] = {0, 0xFF, 'w'};
    struct mqtt_connect_opts o = {
        .proto_level = 0, /* default 4 */
        .clean_session = true,
        .keepalive = 0xABCD,
        .client_id = "client-\xC3\xA9",
        .username = "user",
        .password = "p\xFFss", /* binary */
        .will_topic = "will/t",
        .will_payload = wp,
        .will_payload_len = sizeof(wp),
        .will_qos = 2,
        .will_retain = true,
    };
    uint8_t buf[256];
    struct mqtt_packet p;
    size_t n = mqtt_encode_connect(buf, sizeof(buf), &o);
    assert_true(n > 0);
    assert_int_equal(buf[0], 0x10);
    assert_int_equal(dec_whole(buf, n, 0, true, &p), MQTT_OK);
    struct mqtt_connect *c = &p.u.connect;
    assert_int_equal(p.type, MQTT_CONNECT);
    assert_int_equal(c->proto_level, 4);
    assert_true(c->clean_session);
    assert_int_equal(c->keepalive, 0xABCD);
    assert_true(str_eq(c->client_id, "client-\xC3\xA9"));
    assert_true(c->will);
    assert_int_equal(c->will_qos, 2);
    assert_true(c->will_retain);
    assert_true(str_eq(c->will_topic, "will/t"));
    assert_int_equal(c->will_payload.len, sizeof(wp));
    assert_memory_equal(c->will_payload.p, wp, sizeof(wp));
    assert_true(c->has_username);
    assert_true(str_eq(c->username, "user"));
    assert_true(c->has_password);
    assert_true(str_eq(c->password, "p\xFFss"));
    assert_int_equal(dec_whole(buf, n, 4, false, &p), MQTT_E_TYPE);
    for (size_t cap = 0; cap < n; cap++)
        assert_int_equal(mqtt_encode_connect(buf, cap, &o), 0);

    /* Minimal: empty client id, nothing optional. */
    struct mqtt_connect_opts m = {.proto_level = 4};
    n = mqtt_encode_connect(buf, sizeof(buf), &m);
    assert_int_equal(n, 2 + 10 + 2);
    assert_memory_equal(
        buf, ((const uint8_t[]){0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0, 0, 0, 0, 0}), n);
    assert_int_equal(dec_whole(buf, n, 4, true, &p), MQTT_OK);
    assert_false(p.u.connect.clean_session);
    assert_false(p.u.connect.will);
    assert_false(p.u.connect.has_username);
    assert_false(p.u.connect.has_password);
    assert_int_equal(p.u.connect.client_id.len, 0);

    /* Will with empty payload, username without password. */
    struct mqtt_connect_opts w = {.client_id = "c", .will_topic = "t", .username = ""};
    n = mqtt_encode_connect(buf, sizeof(buf), &w);
    assert_int_equal(dec_whole(buf, n, 4, true, &p), MQTT_OK);
    assert_true(p.u.connect.will);
    assert_int_equal(p.u.connect.will_qos, 0);
    assert_int_equal(p.u.connect.will_payload.len, 0);
    assert_true(p.u.connect.has_username);
    assert_int_equal(p.u.connect.username.len, 0);
    assert_false(p.u.connect.has_password);

    /* "MQTT" at level 3 is the right name with an unsupported level; level 5 decodes
     * (with empty property lists: tests/unit/test_mqtt5_codec.c covers the rest). */
    struct mqtt_connect_opts l3 = {.proto_level = 3, .client_id = "c"};
    n = mqtt_encode_connect(buf, sizeof(buf), &l3);
    assert_int_equal(buf[8], 3);
    assert_int_equal(dec_whole(buf, n, 4, true, &p), MQTT_E_PROTO_LEVEL);
    struct mqtt_connect_opts l5 = {.proto_level = 5, .client_id = "c", .will_topic = "t"};
    n = mqtt_encode_connect(buf, sizeof(buf), &l5);
    assert_int_equal(buf[8], 5);
    assert_int_equal(dec_whole(buf, n, 4, true, &p), MQTT_OK);
    assert_int_equal(p.u.connect.proto_level, 5);
    assert_int_equal(p.u.connect.props.count, 0);
    assert_int_equal(p.u.connect.will_props.count, 0);

    struct mqtt_connect_opts q3 = {.client_id = "c", .will_topic = "t", .will_qos = 3};
    assert_int_equal(mqtt_encode_connect(buf, sizeof(buf), &q3), 0);
}

static void check_topics(struct mqtt_packet *p, bool with_options, uint16_t id,
                         const char *const *filters, const uint8_t *opts, size_t n)
{
    assert_int_equal(p->u.topics.packet_id, id);
    assert_int_equal(p->u.topics.count, n);
    assert_int_equal(p->u.topics.with_options, with_options);
    struct mqtt_topic_iter it;
    struct mqtt_str f;
    uint8_t o = 0xEE;
    mqtt_topic_iter_init(&it, &p->u.topics);
    for (size_t i = 0; i < n; i++) {
        assert_true(mqtt_topic_iter_next(&it, &f, &o));
        assert_true(str_eq(f, filters[i]));
        assert_int_equal(o, with_options ? opts[i] : 0);
    }
    assert_false(mqtt_topic_iter_next(&it, &f, &o));
    assert_false(mqtt_topic_iter_next(&it, &f, &o));
}

static void test_subscribe_round_trip(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct mqtt_packet p;
    for (uint8_t qos = 0; qos <= 2; qos++) {
        size_t n = mqtt_encode_subscribe(buf, sizeof(buf), 300, "a/+/#", qos);
        assert_int_equal(n, 2 + 2 + 2 + 5 + 1);
        assert_int_equal(buf[0], 0x82);
        assert_int_equal(dec_whole(buf, n, 4, true, &p), MQTT_OK);
        assert_int_equal(p.type, MQTT_SUBSCRIBE);
        const char *f[] = {"a/+/#"};
        check_topics(&p, true, 300, f, &qos, 1);
        assert_int_equal(dec_whole(buf, n, 4, false, &p), MQTT_E_TYPE);
        for (size_t cap = 0; cap < n; cap++)
            assert_int_equal(mqtt_encode_subscribe(buf, cap, 300, "a/+/#", qos), 0);
    }
    size_t n = mqtt_encode_unsubscribe(buf, sizeof(buf), 1, "x/#");
    assert_int_equal(n, 2 + 2 + 2 + 3);
    assert_int_equal(buf[0], 0xA2);
    assert_int_equal(dec_whole(buf, n, 4, true, &p), MQTT_OK);
    assert_int_equal(p.type, MQTT_UNSUBSCRIBE);
    const char *f[] = {"x/#"};
    check_topics(&p, false, 1, f, NULL, 1);
    assert_int_equal(dec_whole(buf, n, 4, false, &p), MQTT_E_TYPE);
    for (size_t cap = 0; cap < n; cap++)
        assert_int_equal(mqtt_encode_unsubscribe(buf, cap, 1, "x/#"), 0);
}

/* ---- packet types and fixed-header flags ---- */

static void test_type_gate(void **state)
{
    (void)state;
    struct mqtt_packet p;
    /* Type 0 and AUTH below 5.0 are never valid. */
    for (int s = 0; s < 2; s++) {
        assert_int_equal(dec(0x00, NULL, 0, 4, s, &p), MQTT_E_TYPE);
        assert_int_equal(dec(0xF0, NULL, 0, 4, s, &p), MQTT_E_TYPE);
        assert_int_equal(dec(0xF0, NULL, 0, 3, s, &p), MQTT_E_TYPE);
    }
    /* Server side refuses what only a server sends; the client side the reverse. */
    const uint8_t server_only[] = {MQTT_CONNECT, MQTT_SUBSCRIBE, MQTT_UNSUBSCRIBE, MQTT_PINGREQ};
    const uint8_t client_only[] = {MQTT_CONNACK, MQTT_SUBACK, MQTT_UNSUBACK, MQTT_PINGRESP};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(dec((uint8_t)(server_only[i] << 4), NULL, 0, 4, false, &p), MQTT_E_TYPE);
        assert_int_equal(dec((uint8_t)(client_only[i] << 4), NULL, 0, 4, true, &p), MQTT_E_TYPE);
    }
    /* The type check comes before the flags check. */
    assert_int_equal(dec(0x2F, NULL, 0, 4, true, &p), MQTT_E_TYPE);
    /* AUTH at 5.0 passes the gate; an empty AUTH is complete. */
    assert_int_equal(dec(0xF0, NULL, 0, 5, true, &p), MQTT_OK);
    assert_int_equal(p.type, MQTT_AUTH);
    assert_int_equal(dec(0xF0, NULL, 0, 5, false, &p), MQTT_OK);
    assert_int_equal(dec(0xF1, NULL, 0, 5, true, &p), MQTT_E_MALFORMED); /* 5.0: 2.1.3 */
}

static void test_fixed_flags(void **state)
{
    (void)state;
    struct mqtt_packet p;
    /* Types whose flags must be 0 (server side). */
    for (uint8_t f = 1; f < 16; f++) {
        assert_int_equal(DEC(0x40 | f, 4, true, &p, 0, 1), MQTT_E_PROTOCOL); /* PUBACK */
        assert_int_equal(DEC(0x50 | f, 4, true, &p, 0, 1), MQTT_E_PROTOCOL); /* PUBREC */
        assert_int_equal(DEC(0x70 | f, 4, true, &p, 0, 1), MQTT_E_PROTOCOL); /* PUBCOMP */
        assert_int_equal(dec(0xC0 | f, NULL, 0, 4, true, &p), MQTT_E_PROTOCOL);
        assert_int_equal(dec(0xE0 | f, NULL, 0, 4, true, &p), MQTT_E_PROTOCOL);
        assert_int_equal(dec(0xD0 | f, NULL, 0, 4, false, &p), MQTT_E_PROTOCOL);
        assert_int_equal(DEC(0x20 | f, 4, false, &p, 0, 0), MQTT_E_PROTOCOL);
        assert_int_equal(DEC(0x90 | f, 4, false, &p, 0, 1, 0), MQTT_E_PROTOCOL);
        assert_int_equal(DEC(0xB0 | f, 4, false, &p, 0, 1), MQTT_E_PROTOCOL);
    }
    /* Types whose flags must be 0x2. */
    for (uint8_t f = 0; f < 16; f++) {
        int want = f == 2 ? MQTT_OK : MQTT_E_PROTOCOL;
        assert_int_equal(DEC(0x60 | f, 4, true, &p, 0, 1), want);
        assert_int_equal(DEC(0x80 | f, 4, true, &p, 0, 1, 0, 1, 'a', 0), want);
        assert_int_equal(DEC(0xA0 | f, 4, true, &p, 0, 1, 0, 1, 'a'), want);
    }
    assert_int_equal(DEC(0x11, 4, true, &p, 0, 4, 'M', 'Q', 'T', 'T', 4, 0, 0, 0, 0, 0),
                     MQTT_E_PROTOCOL);
    assert_int_equal(DEC(0x10, 4, true, &p, 0, 4, 'M', 'Q', 'T', 'T', 4, 0, 0, 0, 0, 0), MQTT_OK);
}

/* ---- PUBLISH ---- */

static void test_publish_flags(void **state)
{
    (void)state;
    struct mqtt_packet p;
    /* QoS 3, with every combination of dup and retain. */
    for (uint8_t extra = 0; extra < 16; extra += 1) {
        if ((extra & 0x06) != 0x06)
            continue;
        assert_int_equal(DEC(0x30 | extra, 4, true, &p, 0, 1, 'a', 0, 1), MQTT_E_PROTOCOL);
    }
    assert_int_equal(DEC(0x38, 4, true, &p, 0, 1, 'a'), MQTT_E_PROTOCOL); /* DUP at QoS 0 */
    assert_int_equal(DEC(0x39, 4, true, &p, 0, 1, 'a'), MQTT_E_PROTOCOL);
    assert_int_equal(DEC(0x30, 4, true, &p, 0, 1, 'a'), MQTT_OK);
    assert_int_equal(DEC(0x31, 4, true, &p, 0, 1, 'a'), MQTT_OK);
    assert_true(p.u.publish.retain);
    assert_int_equal(DEC(0x3A, 4, true, &p, 0, 1, 'a', 0, 1), MQTT_OK); /* DUP at QoS 1 */
    assert_true(p.u.publish.dup);
    assert_int_equal(p.u.publish.qos, 1);
    assert_int_equal(DEC(0x3C, 4, true, &p, 0, 1, 'a', 0, 1), MQTT_OK); /* DUP at QoS 2 */
    assert_int_equal(p.u.publish.qos, 2);
    assert_int_equal(p.flags, 0xC);
}

static void test_publish_packet_id(void **state)
{
    (void)state;
    struct mqtt_packet p;
    assert_int_equal(DEC(0x32, 4, true, &p, 0, 1, 'a', 0, 0), MQTT_E_PROTOCOL);
    assert_int_equal(DEC(0x34, 4, true, &p, 0, 1, 'a', 0, 0, 'x'), MQTT_E_PROTOCOL);
    assert_int_equal(DEC(0x32, 4, true, &p, 0, 1, 'a', 0, 1), MQTT_OK);
    assert_int_equal(p.u.publish.packet_id, 1);
    assert_int_equal(p.u.publish.payload.len, 0);
    assert_int_equal(DEC(0x34, 4, true, &p, 0, 1, 'a', 0xFF, 0xFF, 'x'), MQTT_OK);
    assert_int_equal(p.u.publish.packet_id, 0xFFFF);
    assert_int_equal(p.u.publish.payload.len, 1);
    /* Missing or half a packet id. */
    assert_int_equal(DEC(0x32, 4, true, &p, 0, 1, 'a'), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0x32, 4, true, &p, 0, 1, 'a', 7), MQTT_E_MALFORMED);
    /* QoS 0: those two bytes are payload. */
    assert_int_equal(DEC(0x30, 4, true, &p, 0, 1, 'a', 0, 0), MQTT_OK);
    assert_int_equal(p.u.publish.packet_id, 0);
    assert_int_equal(p.u.publish.payload.len, 2);
}

static void test_publish_topic(void **state)
{
    (void)state;
    struct mqtt_packet p;
    static const struct {
        const char *t;
        int want;
    } cases[] = {
        {"a", MQTT_OK},
        {"/", MQTT_OK},
        {"a//b/", MQTT_OK},
        {"$SYS/x", MQTT_OK},
        {" ", MQTT_OK},
        {"sport/tennis/player1/ranking", MQTT_OK},
        {"\xE6\x97\xA5\xE6\x9C\xAC", MQTT_OK},
        {"", MQTT_E_TOPIC},
        {"+", MQTT_E_TOPIC},
        {"#", MQTT_E_TOPIC},
        {"a/+/b", MQTT_E_TOPIC},
        {"a/#", MQTT_E_TOPIC},
        {"a+b", MQTT_E_TOPIC},
        {"long/topic/level/with/a/plus+inside", MQTT_E_TOPIC},
        {"long/topic/level/with/a/hash/#", MQTT_E_TOPIC},
        {"abcdefgh+", MQTT_E_TOPIC},
        {"\xC3\xA9/+", MQTT_E_TOPIC},
        {"a\xC0\x80", MQTT_E_UTF8},
        {"a/\xED\xA0\x80/b", MQTT_E_UTF8},
        {"abcdefghijkl\xFF", MQTT_E_UTF8},
        /* Ill-formed UTF-8 wins over a wildcard wherever each sits. */
        {"+\xFF", MQTT_E_UTF8},
        {"\xFF+", MQTT_E_UTF8},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bld b = {0};
        b_str(&b, cases[i].t);
        b_raw(&b, "payload", 7);
        int rc = dec(0x30, b.b, b.n, 4, true, &p);
        if (rc != cases[i].want)
            fail_msg("topic case %zu: got %d want %d", i, rc, cases[i].want);
        if (rc == MQTT_OK) {
            assert_true(str_eq(p.u.publish.topic, cases[i].t));
            assert_int_equal(p.u.publish.payload.len, 7);
        }
    }
    /* U+0000 inside a topic. */
    assert_int_equal(DEC(0x30, 4, true, &p, 0, 3, 'a', 0, 'b'), MQTT_E_UTF8);
}

static void test_publish_truncation(void **state)
{
    (void)state;
    struct mqtt_packet p;
    assert_int_equal(dec(0x30, NULL, 0, 4, true, &p), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0x30, 4, true, &p, 0), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0x30, 4, true, &p, 0, 2, 'a'), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0x30, 4, true, &p, 0xFF, 0xFF, 'a'), MQTT_E_MALFORMED);
    /* Topic length exactly the body: empty payload. */
    assert_int_equal(DEC(0x30, 4, true, &p, 0, 2, 'a', 'b'), MQTT_OK);
    assert_int_equal(p.u.publish.payload.len, 0);
}

/* ---- CONNECT ---- */

static void test_connect_name_level(void **state)
{
    (void)state;
    struct mqtt_packet p;
    static const struct {
        const char *name;
        uint8_t level;
        int want;
    } cases[] = {
        {"MQTT", 4, MQTT_OK},
        {"MQIsdp", 3, MQTT_OK},
        {"MQTT", 3, MQTT_E_PROTO_LEVEL},
        {"MQTT", 5, MQTT_E_MALFORMED}, /* 5.0: the body lacks its property length */
        {"MQTT", 0, MQTT_E_PROTO_LEVEL},
        {"MQTT", 6, MQTT_E_PROTO_LEVEL},
        {"MQTT", 0x84, MQTT_E_PROTO_LEVEL},
        {"MQIsdp", 4, MQTT_E_PROTO_LEVEL},
        {"MQIsdp", 5, MQTT_E_PROTO_LEVEL},
        {"mqtt", 4, MQTT_E_PROTO_NAME},
        {"MQT", 4, MQTT_E_PROTO_NAME},
        {"MQTTT", 4, MQTT_E_PROTO_NAME},
        {"MQIsdp!", 3, MQTT_E_PROTO_NAME},
        {"", 4, MQTT_E_PROTO_NAME},
        {"HTTP", 4, MQTT_E_PROTO_NAME},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bld b = {0};
        connect_head(&b, cases[i].name, cases[i].level, 0x02);
        b_str(&b, "id");
        int rc = dec_connect(&b, &p);
        if (rc != cases[i].want)
            fail_msg("name case %zu: got %d want %d", i, rc, cases[i].want);
        if (rc == MQTT_OK)
            assert_int_equal(p.u.connect.proto_level, cases[i].level);
    }
    /* The name and level are judged before anything after them. */
    assert_int_equal(DEC(0x10, 4, true, &p, 0, 4, 'M', 'Q', 'T', 'T', 6), MQTT_E_PROTO_LEVEL);
    assert_int_equal(DEC(0x10, 4, true, &p, 0, 4, 'M', 'Q', 'T', 'T', 5), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0x10, 4, true, &p, 0, 4, 'M', 'Q', 'T', 'T', 3, 0xFF, 0xFF),
                     MQTT_E_PROTO_LEVEL);
    assert_int_equal(DEC(0x10, 4, true, &p, 0, 4, 'M', 'Q', 'T', 'X'), MQTT_E_PROTO_NAME);
    /* ... and the connection's level does not matter for CONNECT. */
    struct bld b = {0};
    connect_head(&b, "MQTT", 4, 0);
    b_str(&b, "id");
    assert_int_equal(dec(0x10, b.b, b.n, 0, true, &p), MQTT_OK);
    assert_int_equal(dec(0x10, b.b, b.n, 5, true, &p), MQTT_OK);
    /* Truncated name or missing level. */
    assert_int_equal(DEC(0x10, 4, true, &p, 0, 4, 'M', 'Q'), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0x10, 4, true, &p, 0, 4, 'M', 'Q', 'T', 'T'), MQTT_E_MALFORMED);
}

static void test_connect_flags(void **state)
{
    (void)state;
    struct mqtt_packet p;
    /* Each flag combination with a body that carries whatever the flags announce. */
    for (unsigned f = 0; f < 256; f++) {
        struct bld b = {0};
        connect_head(&b, "MQTT", 4, (uint8_t)f);
        b_str(&b, "cid");
        if (f & 0x04) {
            b_str(&b, "wt");
            b_lstr(&b, "\x00\xFF", 2);
        }
        if (f & 0x80)
            b_str(&b, "u");
        if (f & 0x40)
            b_lstr(&b, "\x00", 1);
        bool will = f & 0x04;
        uint8_t wq = (f >> 3) & 3;
        bool bad =
            (f & 0x01) || wq == 3 || (!will && (wq || (f & 0x20))) || ((f & 0x40) && !(f & 0x80));
        int rc = dec_connect(&b, &p);
        if (rc != (bad ? MQTT_E_PROTOCOL : MQTT_OK))
            fail_msg("flags 0x%02x: got %d", f, rc);
        if (!bad) {
            struct mqtt_connect *c = &p.u.connect;
            assert_int_equal(c->clean_session, (f & 0x02) != 0);
            assert_int_equal(c->will, will);
            assert_int_equal(c->will_qos, wq);
            assert_int_equal(c->will_retain, (f & 0x20) != 0);
            assert_int_equal(c->has_username, (f & 0x80) != 0);
            assert_int_equal(c->has_password, (f & 0x40) != 0);
            assert_int_equal(c->keepalive, 60);
            assert_true(str_eq(c->client_id, "cid"));
            if (will) {
                assert_true(str_eq(c->will_topic, "wt"));
                assert_int_equal(c->will_payload.len, 2);
            }
        }
    }
    /* The same password rule under 3.1. */
    struct bld b = {0};
    connect_head(&b, "MQIsdp", 3, 0x40);
    b_str(&b, "cid");
    b_str(&b, "pw");
    assert_int_equal(dec_connect(&b, &p), MQTT_E_PROTOCOL);
    b = (struct bld){0};
    connect_head(&b, "MQIsdp", 3, 0xC0);
    b_str(&b, "cid");
    b_str(&b, "u");
    b_str(&b, "pw");
    assert_int_equal(dec_connect(&b, &p), MQTT_OK);
    assert_int_equal(p.u.connect.proto_level, 3);
}

static void test_connect_strings(void **state)
{
    (void)state;
    struct mqtt_packet p;
    struct bld b;

    /* Client id: empty is the caller's call; ill-formed UTF-8 or U+0000 is not. */
    b = (struct bld){0};
    connect_head(&b, "MQTT", 4, 0x02);
    b_str(&b, "");
    assert_int_equal(dec_connect(&b, &p), MQTT_OK);
    const char *bad_ids[] = {"\xC0\x80", "id\xED\xBF\xBF", "\xF4\x90\x80\x80"};
    for (size_t i = 0; i < 3; i++) {
        b = (struct bld){0};
        connect_head(&b, "MQTT", 4, 0x02);
        b_str(&b, bad_ids[i]);
        assert_int_equal(dec_connect(&b, &p), MQTT_E_UTF8);
    }
    b = (struct bld){0};
    connect_head(&b, "MQTT", 4, 0x02);
    b_lstr(&b, "a\0b", 3);
    assert_int_equal(dec_connect(&b, &p), MQTT_E_UTF8);
    b = (struct bld){0};
    connect_head(&b, "MQTT", 4, 0x02);
    b_str(&b, "\x01\x1F ctrl ok \xE2\x82\xAC");
    assert_int_equal(dec_connect(&b, &p), MQTT_OK);

    /* Will topic: a topic name. */
    static const struct {
        const char *t;
        int want;
    } wt[] = {
        {"w", MQTT_OK},        {"a/b/c", MQTT_OK},        {"/", MQTT_OK},
        {"", MQTT_E_TOPIC},    {"a/+", MQTT_E_TOPIC},     {"#", MQTT_E_TOPIC},
        {"x+y", MQTT_E_TOPIC}, {"\xC1\x81", MQTT_E_UTF8}, {"\xED\xA0\x80", MQTT_E_UTF8},
    };
    for (size_t i = 0; i < sizeof(wt) / sizeof(wt[0]); i++) {
        b = (struct bld){0};
        connect_head(&b, "MQTT", 4, 0x0E); /* will, qos 1 */
        b_str(&b, "id");
        b_str(&b, wt[i].t);
        b_str(&b, "payload");
        int rc = dec_connect(&b, &p);
        if (rc != wt[i].want)
            fail_msg("will topic case %zu: got %d", i, rc);
    }
    /* Will payload and password are binary. */
    b = (struct bld){0};
    connect_head(&b, "MQTT", 4, 0xC4);
    b_str(&b, "id");
    b_str(&b, "t");
    b_lstr(&b, "\x00\xC0\x80\xFF", 4);
    b_str(&b, "user");
    b_lstr(&b, "\x00\xED\xA0\x80\xFF", 5);
    assert_int_equal(dec_connect(&b, &p), MQTT_OK);
    assert_int_equal(p.u.connect.will_payload.len, 4);
    assert_int_equal(p.u.connect.password.len, 5);
    assert_memory_equal(p.u.connect.password.p, "\x00\xED\xA0\x80\xFF", 5);

    /* Username is UTF-8. */
    b = (struct bld){0};
    connect_head(&b, "MQTT", 4, 0x80);
    b_str(&b, "id");
    b_str(&b, "us\xFF"
              "er");
    assert_int_equal(dec_connect(&b, &p), MQTT_E_UTF8);
    b = (struct bld){0};
    connect_head(&b, "MQTT", 4, 0x80);
    b_str(&b, "id");
    b_lstr(&b, "\0", 1);
    assert_int_equal(dec_connect(&b, &p), MQTT_E_UTF8);
    b = (struct bld){0};
    connect_head(&b, "MQTT", 4, 0x80);
    b_str(&b, "id");
    b_str(&b, "\xC3\xBCser");
    assert_int_equal(dec_connect(&b, &p), MQTT_OK);
}

static void test_connect_trailing_and_missing(void **state)
{
    (void)state;
    struct mqtt_packet p;
    struct bld b = {0};
    connect_head(&b, "MQTT", 4, 0xC4);
    b_str(&b, "id");
    b_str(&b, "t");
    b_str(&b, "m");
    b_str(&b, "u");
    b_str(&b, "p");
    assert_int_equal(dec_connect(&b, &p), MQTT_OK);
    b_u8(&b, 0);
    assert_int_equal(dec_connect(&b, &p), MQTT_E_MALFORMED);

    /* Flags announce a username the body does not hold. */
    b = (struct bld){0};
    connect_head(&b, "MQTT", 4, 0x80);
    b_str(&b, "id");
    assert_int_equal(dec_connect(&b, &p), MQTT_E_MALFORMED);
    /* A length running past the end. */
    b = (struct bld){0};
    connect_head(&b, "MQTT", 4, 0x00);
    b_u16(&b, 3);
    b_raw(&b, "ab", 2);
    assert_int_equal(dec_connect(&b, &p), MQTT_E_MALFORMED);
}

/* Every proper prefix of a valid CONNECT is an error, and never a read past its end. */
static void test_connect_truncation_every_offset(void **state)
{
    (void)state;
    const uint8_t wp[] = {1, 2, 3};
    struct mqtt_connect_opts o = {
        .clean_session = true,
        .keepalive = 30,
        .client_id = "truncation-test",
        .username = "user",
        .password = "secret",
        .will_topic = "a/will",
        .will_payload = wp,
        .will_payload_len = sizeof(wp),
        .will_qos = 1,
    };
    uint8_t buf[256];
    struct mqtt_packet p;
    size_t n = mqtt_encode_connect(buf, sizeof(buf), &o);
    assert_true(n > 2 && buf[1] == n - 2);
    assert_int_equal(dec(buf[0], buf + 2, n - 2, 4, true, &p), MQTT_OK);
    for (size_t len = 0; len < n - 2; len++) {
        int rc = dec(buf[0], buf + 2, len, 4, true, &p);
        if (rc >= 0)
            fail_msg("prefix of %zu bytes accepted (%d)", len, rc);
    }
    /* And as a stream: any prefix of the packet is either an incomplete header or a
     * header promising more than is there. */
    for (size_t len = 0; len < n; len++) {
        uint8_t b0;
        uint32_t rem;
        size_t hl;
        int rc = mqtt_fixed_header(buf, len, &b0, &rem, &hl);
        assert_true(rc == MQTT_NEED_MORE || (rc == MQTT_OK && hl + rem > len));
    }
}

/* ---- SUBSCRIBE / UNSUBSCRIBE ---- */

static const struct {
    const char *f;
    int want;
} filters[] = {
    {"a", MQTT_OK},
    {"#", MQTT_OK},
    {"+", MQTT_OK},
    {"/", MQTT_OK},
    {"a/#", MQTT_OK},
    {"/#", MQTT_OK},
    {"+/#", MQTT_OK},
    {"+/+", MQTT_OK},
    {"/+", MQTT_OK},
    {"+/", MQTT_OK},
    {"a/+/b", MQTT_OK},
    {"a//b", MQTT_OK},
    {"sport/tennis/+/ranking/#", MQTT_OK},
    {"$SYS/#", MQTT_OK},
    {"\xC3\xA9t\xC3\xA9/+", MQTT_OK},
    {"", MQTT_E_TOPIC},
    {"a#", MQTT_E_TOPIC},
    {"#a", MQTT_E_TOPIC},
    {"a/#/b", MQTT_E_TOPIC},
    {"#/", MQTT_E_TOPIC},
    {"#/a", MQTT_E_TOPIC},
    {"##", MQTT_E_TOPIC},
    {"a+", MQTT_E_TOPIC},
    {"+a", MQTT_E_TOPIC},
    {"a/+b", MQTT_E_TOPIC},
    {"a/b+/c", MQTT_E_TOPIC},
    {"++", MQTT_E_TOPIC},
    {"+#", MQTT_E_TOPIC},
    {"sport/tennis#", MQTT_E_TOPIC},
    {"a\xFF", MQTT_E_UTF8},
    {"\xED\xA0\x80/#", MQTT_E_UTF8},
    {"\xC0\xAF", MQTT_E_UTF8},
};

static void test_subscribe_filters(void **state)
{
    (void)state;
    struct mqtt_packet p;
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        struct bld b = {0};
        b_u16(&b, 10);
        b_str(&b, filters[i].f);
        b_u8(&b, 1);
        int rc = dec(0x82, b.b, b.n, 4, true, &p);
        if (rc != filters[i].want)
            fail_msg("subscribe filter %zu: got %d want %d", i, rc, filters[i].want);
        b = (struct bld){0};
        b_u16(&b, 10);
        b_str(&b, filters[i].f);
        rc = dec(0xA2, b.b, b.n, 4, true, &p);
        if (rc != filters[i].want)
            fail_msg("unsubscribe filter %zu: got %d want %d", i, rc, filters[i].want);
    }
    /* U+0000 in a filter. */
    assert_int_equal(DEC(0x82, 4, true, &p, 0, 1, 0, 1, 0, 0), MQTT_E_UTF8);
}

static void test_subscribe_options(void **state)
{
    (void)state;
    struct mqtt_packet p;
    for (unsigned o = 0; o < 256; o++) {
        int want = o <= 2 ? MQTT_OK : MQTT_E_PROTOCOL;
        assert_int_equal(DEC(0x82, 4, true, &p, 0, 1, 0, 1, 'a', (uint8_t)o), want);
    }
}

static void test_subscribe_structure(void **state)
{
    (void)state;
    struct mqtt_packet p;
    /* Packet id 0, no filter, truncated parts. */
    assert_int_equal(DEC(0x82, 4, true, &p, 0, 0, 0, 1, 'a', 0), MQTT_E_PROTOCOL);
    assert_int_equal(DEC(0x82, 4, true, &p, 0, 1), MQTT_E_PROTOCOL);
    assert_int_equal(dec(0x82, NULL, 0, 4, true, &p), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0x82, 4, true, &p, 0), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0x82, 4, true, &p, 0, 1, 0, 1, 'a'), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0x82, 4, true, &p, 0, 1, 0, 2, 'a'), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0x82, 4, true, &p, 0, 1, 0, 1, 'a', 0, 0), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0x82, 4, true, &p, 0, 1, 0, 1, 'a', 0, 0, 1), MQTT_E_MALFORMED);
    /* A later bad entry spoils the whole packet. */
    assert_int_equal(DEC(0x82, 4, true, &p, 0, 1, 0, 1, 'a', 0, 0, 2, 'b', '#', 0), MQTT_E_TOPIC);
    assert_int_equal(DEC(0x82, 4, true, &p, 0, 1, 0, 1, 'a', 0, 0, 1, 'b', 3), MQTT_E_PROTOCOL);

    /* Several filters, walked in order. */
    assert_int_equal(
        DEC(0x82, 4, true, &p, 0x12, 0x34, 0, 3, 'a', '/', '#', 2, 0, 1, '+', 0, 0, 2, 'x', 'y', 1),
        MQTT_OK);
    const char *f[] = {"a/#", "+", "xy"};
    const uint8_t o[] = {2, 0, 1};
    check_topics(&p, true, 0x1234, f, o, 3);

    /* UNSUBSCRIBE: same shape without options. */
    assert_int_equal(DEC(0xA2, 4, true, &p, 0, 0, 0, 1, 'a'), MQTT_E_PROTOCOL);
    assert_int_equal(DEC(0xA2, 4, true, &p, 0, 1), MQTT_E_PROTOCOL);
    assert_int_equal(DEC(0xA2, 4, true, &p, 0, 1, 0, 1, 'a', 0), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0xA2, 4, true, &p, 0, 1, 0, 3, 'a'), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0xA2, 4, true, &p, 0, 9, 0, 1, 'a', 0, 3, 'b', '/', '+', 0, 0),
                     MQTT_E_TOPIC);
    assert_int_equal(DEC(0xA2, 4, true, &p, 0, 9, 0, 1, 'a', 0, 3, 'b', '/', '+'), MQTT_OK);
    const char *uf[] = {"a", "b/+"};
    check_topics(&p, false, 9, uf, NULL, 2);
}

/* The count must fit 16 bits: 65535 filters pass, 65536 do not. */
static void test_subscribe_count_bound(void **state)
{
    (void)state;
    struct mqtt_packet p;
    const size_t per = 4; /* 00 01 'a' qos */
    size_t len = 2 + 65536 * per;
    uint8_t *b = malloc(len);
    assert_non_null(b);
    b[0] = 0;
    b[1] = 1;
    for (size_t i = 0; i < 65536; i++)
        memcpy(b + 2 + i * per,
               "\x00\x01"
               "a\x01",
               per);
    assert_int_equal(dec(0x82, b, len - per, 4, true, &p), MQTT_OK);
    assert_int_equal(p.u.topics.count, 65535);
    assert_int_equal(dec(0x82, b, len, 4, true, &p), MQTT_E_PROTOCOL);
    free(b);
}

/* ---- acks, CONNACK, SUBACK, empty packets ---- */

static void test_acks(void **state)
{
    (void)state;
    struct mqtt_packet p;
    const uint8_t b0s[] = {0x40, 0x50, 0x62, 0x70};
    for (size_t i = 0; i < sizeof(b0s); i++) {
        assert_int_equal(dec(b0s[i], NULL, 0, 4, true, &p), MQTT_E_MALFORMED);
        assert_int_equal(DEC(b0s[i], 4, true, &p, 0), MQTT_E_MALFORMED);
        assert_int_equal(DEC(b0s[i], 4, true, &p, 0, 1, 0), MQTT_E_MALFORMED);
        assert_int_equal(DEC(b0s[i], 3, true, &p, 0, 1, 0, 0), MQTT_E_MALFORMED);
        assert_int_equal(DEC(b0s[i], 4, true, &p, 0, 0), MQTT_E_PROTOCOL);
        assert_int_equal(DEC(b0s[i], 4, true, &p, 0, 1), MQTT_OK);
        assert_int_equal(p.u.ack.packet_id, 1);
        assert_int_equal(DEC(b0s[i], 3, false, &p, 0xFF, 0xFF), MQTT_OK);
        assert_int_equal(p.u.ack.packet_id, 0xFFFF);
    }
    /* UNSUBACK (client side). */
    assert_int_equal(DEC(0xB0, 4, false, &p, 0, 0), MQTT_E_PROTOCOL);
    assert_int_equal(DEC(0xB0, 4, false, &p, 0, 5, 0), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0xB0, 4, false, &p, 0), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0xB0, 4, false, &p, 0, 5), MQTT_OK);
    assert_int_equal(p.u.ack.packet_id, 5);
}

static void test_empty_bodies(void **state)
{
    (void)state;
    struct mqtt_packet p;
    assert_int_equal(DEC(0xC0, 4, true, &p, 0), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0xE0, 4, true, &p, 0), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0xD0, 4, false, &p, 0), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0xE0, 3, false, &p, 0), MQTT_E_MALFORMED);
    assert_int_equal(dec(0xC0, NULL, 0, 3, true, &p), MQTT_OK);
    assert_int_equal(dec(0xE0, NULL, 0, 3, true, &p), MQTT_OK);
}

static void test_connack(void **state)
{
    (void)state;
    struct mqtt_packet p;
    assert_int_equal(DEC(0x20, 4, false, &p, 0), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0x20, 4, false, &p, 0, 0, 0), MQTT_E_MALFORMED);
    assert_int_equal(dec(0x20, NULL, 0, 4, false, &p), MQTT_E_MALFORMED);
    for (unsigned f = 2; f < 256; f++)
        assert_int_equal(DEC(0x20, 4, false, &p, (uint8_t)f, 0), MQTT_E_PROTOCOL);
    assert_int_equal(DEC(0x20, 4, false, &p, 1, 0), MQTT_OK);
    assert_true(p.u.connack.session_present);
    /* Reserved return codes; a refusal never claims a session. */
    assert_int_equal(DEC(0x20, 4, false, &p, 0, 5), MQTT_OK);
    assert_int_equal(p.u.connack.rc, 5);
    assert_int_equal(DEC(0x20, 4, false, &p, 0, 6), MQTT_E_PROTOCOL);
    assert_int_equal(DEC(0x20, 4, false, &p, 0, 0xFF), MQTT_E_PROTOCOL);
    assert_int_equal(DEC(0x20, 4, false, &p, 1, 1), MQTT_E_PROTOCOL);
}

static void test_suback(void **state)
{
    (void)state;
    struct mqtt_packet p;
    for (unsigned c = 0; c < 256; c++) {
        int want = (c <= 2 || c == 0x80) ? MQTT_OK : MQTT_E_PROTOCOL;
        assert_int_equal(DEC(0x90, 4, false, &p, 0, 1, 0, (uint8_t)c), want);
    }
    assert_int_equal(DEC(0x90, 4, false, &p, 0, 1), MQTT_E_PROTOCOL);
    assert_int_equal(DEC(0x90, 4, false, &p, 0, 0, 0), MQTT_E_PROTOCOL);
    assert_int_equal(DEC(0x90, 4, false, &p, 0), MQTT_E_MALFORMED);
    assert_int_equal(dec(0x90, NULL, 0, 4, false, &p), MQTT_E_MALFORMED);
}

/* ---- level 5: properties follow where 5.0 places them (details: test_mqtt5_codec.c) ---- */

static void test_level5_seam(void **state)
{
    (void)state;
    struct mqtt_packet p;
    /* Bodies with an empty property list decode ... */
    assert_int_equal(DEC(0x30, 5, true, &p, 0, 1, 'a', 0), MQTT_OK);
    assert_int_equal(p.u.publish.payload.len, 0);
    assert_int_equal(DEC(0x82, 5, true, &p, 0, 1, 0, 0, 1, 'a', 0), MQTT_OK);
    assert_int_equal(DEC(0x40, 5, true, &p, 0, 1, 0x10), MQTT_OK);
    assert_int_equal(p.u.ack.reason, 0x10);
    assert_int_equal(DEC(0xE0, 5, true, &p, 0), MQTT_OK);
    assert_int_equal(DEC(0xF0, 5, true, &p, 0x18, 0), MQTT_OK);
    assert_int_equal(p.u.reason.reason, 0x18);
    /* ... a property length running past the body does not ... */
    assert_int_equal(DEC(0x30, 5, true, &p, 0, 1, 'a', 1), MQTT_E_MALFORMED);
    /* ... and the forms without them are plain. */
    assert_int_equal(DEC(0x40, 5, true, &p, 0, 1), MQTT_OK);
    assert_int_equal(p.u.ack.reason, 0);
    assert_int_equal(dec(0xE0, NULL, 0, 5, true, &p), MQTT_OK);
    assert_int_equal(dec(0xC0, NULL, 0, 5, true, &p), MQTT_OK);
    /* Checks that do not depend on the level still come first (QoS 3 is malformed at 5.0). */
    assert_int_equal(DEC(0x36, 5, true, &p, 0, 1, 'a', 0, 1, 0), MQTT_E_MALFORMED);
    assert_int_equal(DEC(0x30, 5, true, &p, 0, 1, '#', 0), MQTT_E_TOPIC);
}

/* ---- robustness ---- */

/* Single-byte corruptions and random bodies never crash nor return an unknown code. */
static void test_mutations(void **state)
{
    (void)state;
    uint8_t seeds[6][128];
    size_t lens[6];
    struct mqtt_connect_opts o = {
        .client_id = "c", .username = "u", .password = "p", .will_topic = "w", .will_qos = 1};
    lens[0] = mqtt_encode_connect(seeds[0], 128, &o);
    lens[1] = mqtt_encode_publish(seeds[1], 128, 1, false, true, "a/b", 3, (const uint8_t *)"x", 1);
    lens[2] = mqtt_encode_subscribe(seeds[2], 128, 4, "a/+/#", 1);
    lens[3] = mqtt_encode_unsubscribe(seeds[3], 128, 4, "a/+");
    lens[4] = mqtt_encode_ack(seeds[4], 128, MQTT_PUBREL, 9);
    const uint8_t codes[] = {0, 0x80};
    lens[5] = mqtt_encode_suback(seeds[5], 128, 4, codes, 2);
    struct mqtt_packet p;
    for (size_t s = 0; s < 6; s++) {
        assert_true(lens[s] > 2 && lens[s] < 128);
        size_t bl = lens[s] - 2;
        for (size_t i = 0; i < lens[s]; i++) {
            for (unsigned v = 0; v < 256; v++) {
                uint8_t m[128];
                memcpy(m, seeds[s], lens[s]);
                m[i] = (uint8_t)v;
                for (int side = 0; side < 2; side++) {
                    int rc = dec(m[0], m + 2, bl, 4, side, &p);
                    assert_true(rc <= MQTT_OK && rc >= MQTT_E_TYPE);
                }
            }
        }
    }
    uint32_t x = 2463534242u; /* xorshift: deterministic */
    for (int iter = 0; iter < 20000; iter++) {
        uint8_t m[64] = {0};
        size_t n = 0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        n = x % sizeof(m);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            m[i] = (uint8_t)(x % 5 == 0 ? 0 : x);
        }
        int rc = dec((uint8_t)(x >> 8), m, n, (uint8_t)(3 + iter % 3), iter & 1, &p);
        assert_true(rc <= MQTT_OK && rc >= MQTT_E_TYPE);
    }
}

/* Fields a packet does not carry read as zero/empty even if *out held something else. */
static void test_decode_overwrites_stale(void **state)
{
    (void)state;
    struct mqtt_packet p;
    memset(&p, 0xA5, sizeof(p));
    assert_int_equal(DEC(0x30, 4, true, &p, 0, 1, 'a'), MQTT_OK);
    assert_int_equal(p.u.publish.packet_id, 0);
    assert_false(p.u.publish.dup);
    assert_false(p.u.publish.retain);
    assert_int_equal(p.u.publish.payload.len, 0);

    memset(&p, 0xA5, sizeof(p));
    struct bld b = {0};
    connect_head(&b, "MQTT", 4, 0x00);
    b_str(&b, "id");
    assert_int_equal(dec_connect(&b, &p), MQTT_OK);
    struct mqtt_connect *c = &p.u.connect;
    assert_false(c->will);
    assert_false(c->has_username);
    assert_false(c->has_password);
    assert_int_equal(c->will_topic.len, 0);
    assert_int_equal(c->will_payload.len, 0);
    assert_int_equal(c->username.len, 0);
    assert_int_equal(c->password.len, 0);

    memset(&p, 0xA5, sizeof(p));
    assert_int_equal(DEC(0x20, 4, false, &p, 0, 0), MQTT_OK);
    assert_false(p.u.connack.session_present);
    assert_int_equal(p.u.connack.rc, 0);
    assert_int_equal(p.type, MQTT_CONNACK);
    assert_int_equal(p.flags, 0);
}

static void test_err_str(void **state)
{
    (void)state;
    const int codes[] = {MQTT_OK,           MQTT_NEED_MORE,     MQTT_E_MALFORMED,
                         MQTT_E_PROTOCOL,   MQTT_E_UTF8,        MQTT_E_TOPIC,
                         MQTT_E_PROTO_NAME, MQTT_E_PROTO_LEVEL, MQTT_E_TYPE};
    const size_t n = sizeof(codes) / sizeof(codes[0]);
    for (size_t i = 0; i < n; i++) {
        const char *s = mqtt_err_str(codes[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(s, mqtt_err_str(codes[k]));
    }
    assert_non_null(mqtt_err_str(-100));
    assert_non_null(mqtt_err_str(42));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remaining_boundaries),
        cmocka_unit_test(test_remaining_too_long),
        cmocka_unit_test(test_remaining_non_minimal_accepted),
        cmocka_unit_test(test_utf8_table),
        cmocka_unit_test(test_utf8_all_code_points),
        cmocka_unit_test(test_connack_round_trip),
        cmocka_unit_test(test_ack_round_trip),
        cmocka_unit_test(test_suback_round_trip),
        cmocka_unit_test(test_empty_packets_round_trip),
        cmocka_unit_test(test_publish_round_trip),
        cmocka_unit_test(test_publish_head_sizes),
        cmocka_unit_test(test_connect_round_trip),
        cmocka_unit_test(test_subscribe_round_trip),
        cmocka_unit_test(test_type_gate),
        cmocka_unit_test(test_fixed_flags),
        cmocka_unit_test(test_publish_flags),
        cmocka_unit_test(test_publish_packet_id),
        cmocka_unit_test(test_publish_topic),
        cmocka_unit_test(test_publish_truncation),
        cmocka_unit_test(test_connect_name_level),
        cmocka_unit_test(test_connect_flags),
        cmocka_unit_test(test_connect_strings),
        cmocka_unit_test(test_connect_trailing_and_missing),
        cmocka_unit_test(test_connect_truncation_every_offset),
        cmocka_unit_test(test_subscribe_filters),
        cmocka_unit_test(test_subscribe_options),
        cmocka_unit_test(test_subscribe_structure),
        cmocka_unit_test(test_subscribe_count_bound),
        cmocka_unit_test(test_acks),
        cmocka_unit_test(test_empty_bodies),
        cmocka_unit_test(test_connack),
        cmocka_unit_test(test_suback),
        cmocka_unit_test(test_level5_seam),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_decode_overwrites_stale),
        cmocka_unit_test(test_err_str),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_group);
}
