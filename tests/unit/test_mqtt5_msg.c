/* Unit tests for the 5.0 pieces of the broker's data model: shared subscription names
 * (share.c:share_parse) and messages with forwarded properties and an expiry (msg.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "broker.h"

static int parse(const char *f, struct mqtt_str *g, struct mqtt_str *flt)
{
    return share_parse((const uint8_t *)f, strlen(f), g, flt);
}

static void test_share_parse(void **state)
{
    (void)state;
    struct mqtt_str g, f;
    assert_int_equal(parse("$share/grp/a/b", &g, &f), 1);
    assert_int_equal(g.len, 3);
    assert_memory_equal(g.p, "grp", 3);
    assert_int_equal(f.len, 3);
    assert_memory_equal(f.p, "a/b", 3);
    assert_int_equal(parse("$share/g/#", &g, &f), 1);
    assert_memory_equal(f.p, "#", 1);
    assert_int_equal(parse("$share/g//", &g, &f), 1); /* the filter "/" is a filter */
    assert_int_equal(f.len, 1);
    /* Not shared at all. */
    const char *plain[] = {"a/b", "$share", "$shar/g/a", "$SHARE/g/a", "share/g/a", "#"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        assert_int_equal(parse(plain[i], &g, &f), 0);
    /* 4.8.2-1/2: a name of at least one character without '/', '+', '#', then '/' and a
     * filter. */
    const char *bad[] = {"$share/",     "$share//a",  "$share/g",    "$share/g/",
                         "$share/g+/a", "$share/#/a", "$share/a#b/c"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], &g, &f), -1);
}

static void test_msg_forwarded_properties(void **state)
{
    (void)state;
    uint8_t block[128];
    struct mqtt_pbuf b;
    mqtt_pbuf_init(&b, block, sizeof(block));
    mqtt_pbuf_u16(&b, MQTT_PROP_TOPIC_ALIAS, 2);
    mqtt_pbuf_u32(&b, MQTT_PROP_MESSAGE_EXPIRY, 10);
    mqtt_pbuf_pair(&b, MQTT_PROP_USER_PROPERTY, "k", 1, "v", 1);
    mqtt_pbuf_str(&b, MQTT_PROP_CONTENT_TYPE, "ct", 2);
    struct mqtt_props pr;
    assert_int_equal(mqtt_props_decode(block, (uint32_t)b.len, MQTT_PCTX_PUBLISH, true, &pr),
                     MQTT_OK);
    struct msg *m =
        msg_new5((const uint8_t *)"a/b", 3, &pr, (const uint8_t *)"pay", 3, 1, true, 5000);
    assert_non_null(m);
    assert_string_equal(m->topic, "a/b");
    /* Alias and expiry are not forwarded as they came; the rest is, in order, and the
     * payload follows the properties directly (one write segment). */
    const uint8_t want[] = {0x26, 0, 1, 'k', 0, 1, 'v', 0x03, 0, 2, 'c', 't'};
    assert_int_equal(m->props_len, sizeof(want));
    assert_memory_equal(m->props, want, sizeof(want));
    assert_ptr_equal(m->payload, m->props + m->props_len);
    assert_memory_equal(m->payload, "pay", 3);
    assert_int_equal(m->expiry_s, 10);
    assert_int_equal(m->expire_at, 15000);
    assert_int_equal(msg_cost(m), sizeof(*m) + 4 + sizeof(want) + 3);
    uint32_t left = 0;
    assert_false(msg_expired(m, 5000, &left));
    assert_int_equal(left, 10);
    assert_false(msg_expired(m, 5001, &left));
    assert_int_equal(left, 10); /* rounded up: never 0 while alive */
    assert_false(msg_expired(m, 14999, &left));
    assert_int_equal(left, 1);
    assert_true(msg_expired(m, 15000, &left));
    msg_unref(m);
}

static void test_msg_without_properties(void **state)
{
    (void)state;
    struct msg *m = msg_new((const uint8_t *)"t", 1, (const uint8_t *)"x", 1, 0, false);
    assert_non_null(m);
    assert_int_equal(m->props_len, 0);
    assert_ptr_equal(m->payload, m->props);
    uint32_t left = 7;
    assert_false(msg_expired(m, UINT64_MAX, &left)); /* no expiry: never */
    assert_int_equal(left, 0);
    msg_unref(m);
    /* A will: the expiry starts when it is published. */
    struct mqtt_props pr;
    const uint8_t blk[] = {0x02, 0, 0, 0, 3, 0x18, 0, 0, 0, 9};
    assert_int_equal(mqtt_props_decode(blk, sizeof(blk), MQTT_PCTX_WILL, true, &pr), MQTT_OK);
    m = msg_new5((const uint8_t *)"w", 1, &pr, NULL, 0, 0, false, 0);
    assert_non_null(m);
    assert_int_equal(m->props_len, 0); /* Will Delay is the will's own */
    assert_int_equal(m->expire_at, 0);
    msg_start_expiry(m, 100);
    assert_int_equal(m->expire_at, 3100);
    msg_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_share_parse),
        cmocka_unit_test(test_msg_forwarded_properties),
        cmocka_unit_test(test_msg_without_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
