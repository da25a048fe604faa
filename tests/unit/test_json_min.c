/* Unit tests for auth/json_min.c: the strict JSON object parser behind JWT headers and
 * claims (RFC 8259 grammar plus the stricter rules json_min.h promises). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_min.h"

static struct json_doc doc;
static char err[128];

static int parse_n(const char *s, size_t n)
{
    return json_parse((const uint8_t *)s, n, &doc, err, sizeof(err));
}

static int parse(const char *s)
{
    return parse_n(s, strlen(s));
}

/* Parses s, which must be rejected with a message mentioning what. */
static void reject(const char *s, const char *what)
{
    if (parse(s) == 0)
        fail_msg("accepted: %s", s);
    if (!strstr(err, what))
        fail_msg("for %s: error '%s' does not mention '%s'", s, err, what);
}

static const struct json_value *get(const char *key)
{
    const struct json_member *m = json_get(&doc, key);
    assert_non_null(m);
    return &m->value;
}

static void test_all_types(void **state)
{
    (void)state;
    assert_int_equal(parse(" {\"s\":\"x\",\"i\":-42,\"t\":true,\"f\":false,\"n\":null,"
                           "\"a\":[1,\"b\"],\"o\":{\"k\":[]}} \n"),
                     0);
    assert_int_equal(doc.n_members, 7);
    assert_int_equal(get("s")->type, JSON_STRING);
    assert_string_equal(get("s")->str, "x");
    assert_int_equal(get("i")->type, JSON_NUMBER);
    assert_true(get("i")->is_int);
    assert_int_equal(get("i")->integer, -42);
    assert_int_equal(get("t")->type, JSON_BOOL);
    assert_true(get("t")->boolean);
    assert_false(get("f")->boolean);
    assert_int_equal(get("n")->type, JSON_NULL);
    assert_int_equal(get("o")->type, JSON_OBJECT);
    const struct json_value *a = get("a");
    assert_int_equal(a->type, JSON_ARRAY);
    assert_int_equal(a->count, 2);
    assert_int_equal(doc.items[a->first].type, JSON_NUMBER);
    assert_string_equal(doc.items[a->first + 1].str, "b");
    assert_null(json_get(&doc, "missing"));
    assert_null(json_get(&doc, "k")); /* nested keys are not top-level members */
    /* Members keep input order. */
    assert_string_equal(doc.members[0].key, "s");
    assert_string_equal(doc.members[6].key, "o");
}

static void test_empty_and_not_object(void **state)
{
    (void)state;
    assert_int_equal(parse("{}"), 0);
    assert_int_equal(doc.n_members, 0);
    assert_int_equal(parse("\t{ }\r\n"), 0);
    reject("", "object expected");
    reject("   ", "object expected");
    reject("[]", "object expected");
    reject("\"s\"", "object expected");
    reject("1", "object expected");
    reject("null", "object expected");
    reject("\xEF\xBB\xBF{}", "object expected"); /* a byte order mark */
    reject("{", "key expected");
    reject("{\"a\":1", "',' or '}' expected");
    reject("{}x", "trailing data");
    reject("{}{}", "trailing data");
    reject("{} 1", "trailing data");
    /* A NUL byte after the object is trailing data, not an end. */
    assert_int_equal(parse_n("{}\0", 3), -1);
    assert_non_null(strstr(err, "offset 2"));
}

static void test_punctuation(void **state)
{
    (void)state;
    reject("{\"a\":1,}", "key expected");
    reject("{\"a\":[1,]}", "unexpected character");
    reject("{\"a\":[,1]}", "unexpected character");
    reject("{,}", "key expected");
    reject("{\"a\" 1}", "':' expected");
    reject("{\"a\":1 \"b\":2}", "',' or '}' expected");
    reject("{\"a\":[1 2]}", "',' or ']' expected");
    reject("{\"a\":}", "unexpected character");
    reject("{a:1}", "key expected");
    reject("{'a':1}", "key expected");
    reject("{\"a\":1}}", "trailing data");
    reject("{\"a\":[1]]}", "',' or '}' expected");
    reject("{\"a\":1 /* c */}", "',' or '}' expected");
    reject("{\"a\":\v1}", "unexpected character"); /* only the four JSON blanks */
    assert_int_equal(parse("{ \"a\" :\t[ 1 , 2 ] , \"b\" : { } }"), 0);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    reject("{\"a\":1,\"a\":1}", "duplicate key");
    reject("{\"a\":1,\"b\":2,\"a\":3}", "duplicate key");
    /* The same decoded key spelled differently is still the same key. */
    reject("{\"a\":1,\"\\u0061\":2}", "duplicate key");
    reject("{\"o\":{\"x\":1,\"x\":2}}", "duplicate key");
    reject("{\"o\":[{\"x\":1,\"y\":{\"z\":0,\"z\":0}}]}", "duplicate key");
    /* Same key in different objects, or as key and value, is fine. */
    assert_int_equal(parse("{\"x\":{\"x\":{\"x\":\"x\"}},\"y\":[{\"x\":1},{\"x\":2}]}"), 0);
    /* Keys differing only in length or by a prefix are distinct. */
    assert_int_equal(parse("{\"ab\":1,\"a\":2,\"\":3}"), 0);
    assert_int_equal(get("")->integer, 3);
    /* The offset points at the second key. */
    reject("{\"a\":1, \"a\":1}", "at offset 8");
}

static void test_escapes(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"s\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\"}"), 0);
    assert_string_equal(get("s")->str, "q\" b\\ s/ \b\f\n\r\t");
    assert_int_equal(get("s")->str_len, strlen("q\" b\\ s/ \b\f\n\r\t"));
    assert_int_equal(parse("{\"s\":\"\\u0041\\u00e9\\u20AC\\uFFFF\"}"), 0);
    assert_string_equal(get("s")->str, "A\xC3\xA9\xE2\x82\xAC\xEF\xBF\xBF");
    /* Surrogate pairs: U+1F600 and the extremes U+10000 and U+10FFFF. */
    assert_int_equal(parse("{\"s\":\"\\ud83d\\ude00|\\uD800\\uDC00|\\uDBFF\\uDFFF\"}"), 0);
    assert_string_equal(get("s")->str, "\xF0\x9F\x98\x80|\xF0\x90\x80\x80|\xF4\x8F\xBF\xBF");
    reject("{\"s\":\"\\ud83d\"}", "unpaired high surrogate");
    reject("{\"s\":\"\\ud83dx\"}", "unpaired high surrogate");
    reject("{\"s\":\"\\ud83d\\u0041\"}", "unpaired high surrogate");
    reject("{\"s\":\"\\ud83d\\ud83d\"}", "unpaired high surrogate");
    reject("{\"s\":\"\\ude00\"}", "unpaired low surrogate");
    reject("{\"s\":\"\\ude00\\ud83d\"}", "unpaired low surrogate");
    reject("{\"s\":\"\\u0000\"}", "\\u0000");
    reject("{\"s\":\"\\u00\"}", "bad hex digit");
    reject("{\"s\":\"\\u12", "truncated \\u escape");
    reject("{\"s\":\"\\u12G4\"}", "bad hex digit");
    reject("{\"s\":\"\\x41\"}", "unknown escape");
    reject("{\"s\":\"\\a\"}", "unknown escape");
    reject("{\"s\":\"\\U0041\"}", "unknown escape");
    reject("{\"s\":\"\\'\"}", "unknown escape");
    reject("{\"s\":\"abc\\", "unterminated string");
    reject("{\"s\":\"abc", "unterminated string");
    reject("{\"s\":\"a\nb\"}", "control character");
    reject("{\"s\":\"a\tb\"}", "control character");
    reject("{\"s\":\"\x1f\"}", "control character");
    assert_int_equal(parse("{\"s\":\"\x7f\"}"), 0); /* DEL is not a JSON control character */
    assert_int_equal(parse_n("{\"s\":\"a\0b\"}", 10), -1);
    assert_non_null(strstr(err, "control character"));
}

static void test_utf8(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"s\":\"\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80"
                           "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF\"}"),
                     0);
    assert_int_equal(get("s")->str_len, 2 + 2 + 3 + 3 + 3 + 4 + 4);
    reject("{\"s\":\"\x80\"}", "invalid UTF-8");             /* lone continuation */
    reject("{\"s\":\"\xC0\x80\"}", "invalid UTF-8");         /* overlong NUL */
    reject("{\"s\":\"\xC1\xBF\"}", "invalid UTF-8");         /* overlong */
    reject("{\"s\":\"\xE0\x9F\xBF\"}", "invalid UTF-8");     /* overlong 3-byte */
    reject("{\"s\":\"\xED\xA0\x80\"}", "invalid UTF-8");     /* UTF-16 surrogate */
    reject("{\"s\":\"\xF0\x8F\xBF\xBF\"}", "invalid UTF-8"); /* overlong 4-byte */
    reject("{\"s\":\"\xF4\x90\x80\x80\"}", "invalid UTF-8"); /* above U+10FFFF */
    reject("{\"s\":\"\xF5\x80\x80\x80\"}", "invalid UTF-8");
    reject("{\"s\":\"\xFF\"}", "invalid UTF-8");
    reject("{\"s\":\"\xC3\x28\"}", "invalid UTF-8"); /* bad continuation */
    reject("{\"s\":\"\xE2\x82\x28\"}", "invalid UTF-8");
    reject("{\"s\":\"\xF0\x9F\x98\"}", "invalid UTF-8"); /* cut by the quote */
    reject("{\"s\":\"\xF0\x9F", "truncated UTF-8");      /* cut by the end */
    reject("{\"\xC3\":1}", "invalid UTF-8");             /* keys too */
}

static void test_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool is_int;
        int64_t value;
    } ok[] = {
        {"0", true, 0},
        {"-0", true, 0},
        {"7", true, 7},
        {"-12", true, -12},
        {"1700000000", true, 1700000000},
        {"9223372036854775807", true, INT64_MAX},
        {"-9223372036854775808", true, INT64_MIN},
        {"9223372036854775808", false, 0},
        {"-9223372036854775809", false, 0},
        {"18446744073709551616", false, 0},
        {"99999999999999999999999999999", false, 0},
        {"1.5", false, 0},
        {"1.0", false, 0},
        {"0.25", false, 0},
        {"1e3", false, 0},
        {"1E+3", false, 0},
        {"-2.5e-3", false, 0},
    };
    char buf[96];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"n\":%s}", ok[i].text);
        if (parse(buf) != 0)
            fail_msg("refused %s: %s", buf, err);
        const struct json_value *v = get("n");
        assert_int_equal(v->type, JSON_NUMBER);
        if (v->is_int != ok[i].is_int)
            fail_msg("is_int wrong for %s", ok[i].text);
        if (ok[i].is_int && v->integer != ok[i].value)
            fail_msg("value wrong for %s", ok[i].text);
    }
    reject("{\"n\":01}", "leading zero");
    reject("{\"n\":-01}", "leading zero");
    reject("{\"n\":00}", "leading zero");
    reject("{\"n\":1.}", "digit expected after '.'");
    reject("{\"n\":1.e5}", "digit expected after '.'");
    reject("{\"n\":.5}", "unexpected character");
    reject("{\"n\":-}", "bad number");
    reject("{\"n\":-a}", "bad number");
    reject("{\"n\":+1}", "unexpected character");
    reject("{\"n\":1e}", "digit expected in exponent");
    reject("{\"n\":1e+}", "digit expected in exponent");
    reject("{\"n\":NaN}", "unexpected character");
    reject("{\"n\":Infinity}", "unexpected character");
    reject("{\"n\":-Infinity}", "bad number");
    reject("{\"n\":0x10}", "',' or '}' expected");
    reject("{\"n\":1_000}", "',' or '}' expected");
}

static void test_literals(void **state)
{
    (void)state;
    reject("{\"b\":tru}", "unexpected character");
    reject("{\"b\":True}", "unexpected character");
    reject("{\"b\":nul", "unexpected character");
    reject("{\"b\":nulls}", "',' or '}' expected");
    reject("{\"b\":falsey}", "',' or '}' expected");
    reject("{\"b\":undefined}", "unexpected character");
    reject("{\"b\":", "value expected");
}

/* {"a": nested `levels` deep}, built with objects or arrays. */
static void nest(char *buf, size_t cap, int levels, bool arrays)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "{\"a\":");
    for (int i = 0; i < levels; i++)
        n += (size_t)snprintf(buf + n, cap - n, arrays ? "[" : "{\"a\":");
    n += (size_t)snprintf(buf + n, cap - n, "1");
    for (int i = 0; i < levels; i++)
        n += (size_t)snprintf(buf + n, cap - n, arrays ? "]" : "}");
    snprintf(buf + n, cap - n, "}");
}

static void test_depth(void **state)
{
    (void)state;
    char buf[256];
    /* The top-level object is depth 1; seven more containers reach JSON_MAX_DEPTH. */
    nest(buf, sizeof(buf), JSON_MAX_DEPTH - 1, false);
    assert_int_equal(parse(buf), 0);
    nest(buf, sizeof(buf), JSON_MAX_DEPTH - 1, true);
    assert_int_equal(parse(buf), 0);
    nest(buf, sizeof(buf), JSON_MAX_DEPTH, false);
    reject(buf, "nesting too deep");
    nest(buf, sizeof(buf), JSON_MAX_DEPTH, true);
    reject(buf, "nesting too deep");
    /* Deep input far beyond the limit stops at the limit (no unbounded recursion). */
    char deep[4096];
    memset(deep, '[', sizeof(deep));
    memcpy(deep, "{\"a\":", 5);
    assert_int_equal(parse_n(deep, sizeof(deep)), -1);
    assert_non_null(strstr(err, "nesting too deep"));
}

static void test_size_limit(void **state)
{
    (void)state;
    char *buf = malloc(JSON_MAX_INPUT + 2);
    assert_non_null(buf);
    /* {"s":"xxxx...x"} exactly JSON_MAX_INPUT bytes. */
    memset(buf, 'x', JSON_MAX_INPUT + 1);
    memcpy(buf, "{\"s\":\"", 6);
    memcpy(buf + JSON_MAX_INPUT - 2, "\"}", 2);
    assert_int_equal(parse_n(buf, JSON_MAX_INPUT), 0);
    assert_int_equal(get("s")->str_len, JSON_MAX_INPUT - 8);
    /* One byte more (a trailing blank, otherwise valid) is refused. */
    buf[JSON_MAX_INPUT] = ' ';
    assert_int_equal(parse_n(buf, JSON_MAX_INPUT + 1), -1);
    assert_non_null(strstr(err, "larger than 8192"));
    free(buf);
}

static void test_key_and_item_limits(void **state)
{
    (void)state;
    char buf[2048];
    size_t n = 0;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{");
    for (int i = 0; i < JSON_MAX_KEYS; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"k%d\":%d", i ? "," : "", i, i);
    snprintf(buf + n, sizeof(buf) - n, "}");
    assert_int_equal(parse(buf), 0);
    assert_int_equal(doc.n_members, JSON_MAX_KEYS);
    assert_int_equal(get("k63")->integer, 63);
    snprintf(buf + n, sizeof(buf) - n, ",\"x\":1}");
    reject(buf, "too many keys");
    /* Keys of nested objects count too: 33 members with one nested key each is 66. */
    n = (size_t)snprintf(buf, sizeof(buf), "{");
    for (int i = 0; i < JSON_MAX_KEYS / 2 + 1; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"k%d\":{\"a\":1}", i ? "," : "", i);
    snprintf(buf + n, sizeof(buf) - n, "}");
    reject(buf, "too many keys");

    n = (size_t)snprintf(buf, sizeof(buf), "{\"a\":[");
    for (int i = 0; i < JSON_MAX_ITEMS; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"v%d\"", i ? "," : "", i);
    snprintf(buf + n, sizeof(buf) - n, "]}");
    assert_int_equal(parse(buf), 0);
    const struct json_value *a = get("a");
    assert_int_equal(a->count, JSON_MAX_ITEMS);
    assert_string_equal(doc.items[a->first + JSON_MAX_ITEMS - 1].str, "v31");
    snprintf(buf + n, sizeof(buf) - n, ",\"w\"]}");
    reject(buf, "too many array elements");
    /* Elements of nested arrays are checked, not kept, so they do not count. */
    n = (size_t)snprintf(buf, sizeof(buf), "{\"a\":[[");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%d", i ? "," : "", i);
    snprintf(buf + n, sizeof(buf) - n, "]]}");
    assert_int_equal(parse(buf), 0);
    assert_int_equal(get("a")->count, 1);
    assert_int_equal(doc.items[get("a")->first].type, JSON_ARRAY);
}

static void test_two_arrays(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"a\":[\"x\",[\"in\"],\"y\"],\"b\":[],\"c\":[null,\"z\"]}"), 0);
    const struct json_value *a = get("a"), *b = get("b"), *c = get("c");
    assert_int_equal(a->count, 3);
    assert_string_equal(doc.items[a->first].str, "x");
    assert_int_equal(doc.items[a->first + 1].type, JSON_ARRAY);
    assert_string_equal(doc.items[a->first + 2].str, "y");
    assert_int_equal(b->count, 0);
    assert_int_equal(c->count, 2);
    assert_int_equal(doc.items[c->first].type, JSON_NULL);
    assert_string_equal(doc.items[c->first + 1].str, "z");
}

static void test_failure_clears_members(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"a\":1}"), 0);
    assert_int_equal(parse("{\"a\":1,\"a\":2}"), -1);
    assert_int_equal(doc.n_members, 0);
    assert_null(json_get(&doc, "a"));
    /* A tiny error buffer is still NUL-terminated. */
    char small[8];
    assert_int_equal(json_parse((const uint8_t *)"[", 1, &doc, small, sizeof(small)), -1);
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_types),
        cmocka_unit_test(test_empty_and_not_object),
        cmocka_unit_test(test_punctuation),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_key_and_item_limits),
        cmocka_unit_test(test_two_arrays),
        cmocka_unit_test(test_failure_clears_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
