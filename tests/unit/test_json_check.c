/* json_check: accepted and refused JSON texts, depth bound, UTF-8 and escapes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "json_check.h"

static bool ok(const char *s)
{
    return json_check((const uint8_t *)s, strlen(s));
}

static void test_accepts(void **state)
{
    (void)state;
    const char *good[] = {
        "0", "-0", "1.5", "-12.25e+3", "1E-2", "true", "false", "null", "\"\"", "\"a\\\"b\"",
        "\"\\u00e9\\ud83d\\ude00\"", "\"\xc3\xa9\xf0\x9f\x98\x80\"", "[]", "{}", " [ ] ",
        "[1,2,[3,{\"a\":[]}]]", "{\"a\":1,\"b\":{\"c\":null}}", "\n{\"k\" : \"v\"}\r\n",
        "\"\\/\\b\\f\\n\\r\\t\"",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!ok(good[i]))
            fail_msg("refused valid JSON: %s", good[i]);
    }
}

static void test_refuses(void **state)
{
    (void)state;
    const char *bad[] = {
        "", " ", "01", "1.", ".5", "-", "+1", "1e", "1e+", "tru", "nul", "True", "\"abc",
        "\"a\nb\"", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xff\"", "[", "]", "[1,]",
        "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}", "{\"a\":1]", "[1}", "1 2",
        "{} {}", "[1]x", "{\"a\" 1}", "NaN", "[1,,2]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ok(bad[i]))
            fail_msg("accepted invalid JSON: %s", bad[i]);
    }
    const uint8_t nul[] = {'"', 'a', 0, '"'};
    assert_false(json_check(nul, sizeof(nul))); /* raw control character in a string */
}

static void test_depth_bound(void **state)
{
    (void)state;
    char buf[2 * JSON_CHECK_MAX_DEPTH + 8];
    size_t n = 0;
    for (int i = 0; i < JSON_CHECK_MAX_DEPTH; i++)
        buf[n++] = '[';
    for (int i = 0; i < JSON_CHECK_MAX_DEPTH; i++)
        buf[n++] = ']';
    assert_true(json_check((const uint8_t *)buf, n));
    n = 0;
    for (int i = 0; i <= JSON_CHECK_MAX_DEPTH; i++)
        buf[n++] = '[';
    for (int i = 0; i <= JSON_CHECK_MAX_DEPTH; i++)
        buf[n++] = ']';
    assert_false(json_check((const uint8_t *)buf, n));
}

static void test_truncation_never_accepted(void **state)
{
    (void)state;
    const char *doc = "{\"a\":[1,2.5e3,\"x\\u00e9\",{\"b\":null}],\"c\":true}";
    size_t len = strlen(doc);
    assert_true(ok(doc));
    for (size_t cut = 0; cut < len; cut++) {
        /* Every proper prefix is incomplete, except none here that is a full text. */
        if (json_check((const uint8_t *)doc, cut))
            fail_msg("accepted a prefix of %zu bytes", cut);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_refuses),
        cmocka_unit_test(test_depth_bound),
        cmocka_unit_test(test_truncation_never_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
