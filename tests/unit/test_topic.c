/* topic.h: validation of names and filters and matching, against MQTT 3.1.1 section 4.7. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "topic.h"

static const struct topic_limits NOLIM = {0, 0};

static enum topic_check name(const char *s, const struct topic_limits *lim)
{
    return topic_name_check((const uint8_t *)s, strlen(s), lim);
}

static enum topic_check filt(const char *s, const struct topic_limits *lim)
{
    return topic_filter_check((const uint8_t *)s, strlen(s), lim);
}

static bool match(const char *f, const char *t)
{
    return topic_match((const uint8_t *)f, strlen(f), (const uint8_t *)t, strlen(t));
}

/* n copies of c, NUL-terminated, caller frees. */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_check_str(void **state)
{
    (void)state;
    const enum topic_check all[] = {
        TOPIC_OK,           TOPIC_EMPTY,   TOPIC_TOO_LONG, TOPIC_TOO_DEEP, TOPIC_WILDCARD_IN_NAME,
        TOPIC_BAD_WILDCARD, TOPIC_BAD_UTF8};
    size_t n = sizeof(all) / sizeof(all[0]);
    for (size_t i = 0; i < n; i++) {
        const char *s = topic_check_str(all[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, topic_check_str(all[j]));
    }
    assert_non_null(topic_check_str((enum topic_check)99));
}

static void test_names_valid(void **state)
{
    (void)state;
    const char *ok[] = {"sport/tennis/player1",
                        "sport",
                        "/",
                        "//",
                        "/finance",
                        "finance/",
                        "a//b",
                        "$SYS/broker/load",
                        "$",
                        "Accounts payable",
                        "caf\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x98\x80", /* é € U+1F600 */
                        "a$b/c"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_int_equal(name(ok[i], &NOLIM), TOPIC_OK);
}

static void test_empty(void **state)
{
    (void)state;
    assert_int_equal(topic_name_check((const uint8_t *)"", 0, &NOLIM), TOPIC_EMPTY);
    assert_int_equal(topic_filter_check((const uint8_t *)"", 0, &NOLIM), TOPIC_EMPTY);
}

static void test_wildcard_in_name(void **state)
{
    (void)state;
    const char *bad[] = {"+",        "#",      "sport/+", "sport/#",
                         "+/tennis", "sport+", "a#b",     "sport/ten+nis"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(name(bad[i], &NOLIM), TOPIC_WILDCARD_IN_NAME);
}

static void test_filters_valid(void **state)
{
    (void)state;
    const char *ok[] = {"#",
                        "+",
                        "+/+",
                        "/+",
                        "sport/#",
                        "sport/tennis/player1/#",
                        "sport/tennis/+",
                        "+/tennis/#",
                        "/",
                        "//",
                        "a//b",
                        "+//+",
                        "$SYS/#",
                        "$SYS/monitor/+",
                        "/#",
                        "+/+/+/+",
                        "sport",
                        "a/+/b/#"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_int_equal(filt(ok[i], &NOLIM), TOPIC_OK);
}

static void test_filters_bad_wildcard(void **state)
{
    (void)state;
    const char *bad[] = {"sport+",
                         "sport/tennis#",
                         "sport/#/ranking",
                         "#/",
                         "#a",
                         "a#",
                         "+a",
                         "a+",
                         "a/+b",
                         "a/b+",
                         "++",
                         "##",
                         "#+",
                         "+#",
                         "a/b/#/",
                         "/#/",
                         "#/#",
                         "+/#/+",
                         "sport/+x/y"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(filt(bad[i], &NOLIM), TOPIC_BAD_WILDCARD);
}

struct raw {
    const char *s;
    size_t len;
};

static void test_bad_utf8(void **state)
{
    (void)state;
    const struct raw bad[] = {
        {"\xff", 1},             /* never valid in UTF-8 */
        {"a/\xc0\xaf", 4},       /* overlong '/' */
        {"\xe0\x80\xaf", 3},     /* overlong, three bytes */
        {"\xed\xa0\x80", 3},     /* U+D800, a surrogate */
        {"a\0b", 3},             /* U+0000 */
        {"sport/\xe2\x82", 8},   /* truncated sequence */
        {"\x80", 1},             /* lone continuation byte */
        {"\xf4\x90\x80\x80", 4}, /* beyond U+10FFFF */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const uint8_t *p = (const uint8_t *)bad[i].s;
        assert_int_equal(topic_name_check(p, bad[i].len, &NOLIM), TOPIC_BAD_UTF8);
        assert_int_equal(topic_filter_check(p, bad[i].len, &NOLIM), TOPIC_BAD_UTF8);
    }
    /* '+' and '#' bytes never occur inside a multi-byte sequence: valid UTF-8 around
     * wildcards is judged on the wildcards alone. */
    assert_int_equal(filt("\xc3\xa9/+/#", &NOLIM), TOPIC_OK);
    assert_int_equal(filt("\xc3\xa9+", &NOLIM), TOPIC_BAD_WILDCARD);
}

static void test_length_limit(void **state)
{
    (void)state;
    struct topic_limits lim = {10, 0};
    assert_int_equal(name("abcdefghij", &lim), TOPIC_OK);
    assert_int_equal(name("abcdefghijk", &lim), TOPIC_TOO_LONG);
    assert_int_equal(filt("abcdefgh/#", &lim), TOPIC_OK);
    assert_int_equal(filt("abcdefghi/#", &lim), TOPIC_TOO_LONG);
    lim.max_length = 1;
    assert_int_equal(name("a", &lim), TOPIC_OK);
    assert_int_equal(filt("#", &lim), TOPIC_OK);
    assert_int_equal(name("ab", &lim), TOPIC_TOO_LONG);
    assert_int_equal(filt("+/", &lim), TOPIC_TOO_LONG);
}

/* 0, or any configured value above it, means the 65535 bytes a length prefix can carry. */
static void test_length_wire_bound(void **state)
{
    (void)state;
    char *s = repeat('a', 65536);
    const uint8_t *p = (const uint8_t *)s;
    const uint32_t configured[] = {0, 65535, 65536, 100000, UINT32_MAX};
    for (size_t i = 0; i < sizeof(configured) / sizeof(configured[0]); i++) {
        struct topic_limits lim = {configured[i], 0};
        assert_int_equal(topic_name_check(p, 65535, &lim), TOPIC_OK);
        assert_int_equal(topic_name_check(p, 65536, &lim), TOPIC_TOO_LONG);
        assert_int_equal(topic_filter_check(p, 65535, &lim), TOPIC_OK);
        assert_int_equal(topic_filter_check(p, 65536, &lim), TOPIC_TOO_LONG);
    }
    free(s);
}

static void test_level_limit(void **state)
{
    (void)state;
    struct topic_limits lim = {0, 3};
    assert_int_equal(name("a/b/c", &lim), TOPIC_OK);
    assert_int_equal(name("a/b/c/d", &lim), TOPIC_TOO_DEEP);
    assert_int_equal(name("//", &lim), TOPIC_OK); /* three empty levels */
    assert_int_equal(name("///", &lim), TOPIC_TOO_DEEP);
    assert_int_equal(name("a/b/", &lim), TOPIC_OK);
    assert_int_equal(name("a/b/c/", &lim), TOPIC_TOO_DEEP);
    assert_int_equal(filt("+/+/#", &lim), TOPIC_OK);
    assert_int_equal(filt("+/+/+/#", &lim), TOPIC_TOO_DEEP);
    lim.max_levels = 1;
    assert_int_equal(name("sport", &lim), TOPIC_OK);
    assert_int_equal(filt("#", &lim), TOPIC_OK);
    assert_int_equal(name("/", &lim), TOPIC_TOO_DEEP);
    assert_int_equal(filt("/#", &lim), TOPIC_TOO_DEEP);
}

/* With no configured level limit the cap is 65535 levels: 65534 separators pass and a
 * name made of 65535 separators (65536 empty levels, still 65535 bytes) does not. */
static void test_level_wire_bound(void **state)
{
    (void)state;
    char *s = repeat('/', 65535);
    const uint8_t *p = (const uint8_t *)s;
    const uint32_t configured[] = {0, 65535, 65536, UINT32_MAX};
    for (size_t i = 0; i < sizeof(configured) / sizeof(configured[0]); i++) {
        struct topic_limits lim = {0, configured[i]};
        assert_int_equal(topic_name_check(p, 65534, &lim), TOPIC_OK);
        assert_int_equal(topic_name_check(p, 65535, &lim), TOPIC_TOO_DEEP);
        assert_int_equal(topic_filter_check(p, 65534, &lim), TOPIC_OK);
        assert_int_equal(topic_filter_check(p, 65535, &lim), TOPIC_TOO_DEEP);
    }
    free(s);
}

struct case_ {
    const char *filter;
    const char *topic;
    bool match;
};

/* Examples and rules of section 4.7, plus the edge cases around them. */
static const struct case_ cases[] = {
    /* 4.7.1.2 multi-level wildcard */
    {"sport/tennis/player1/#", "sport/tennis/player1", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
    {"sport/tennis/player1/#", "sport/tennis/player2", false},
    {"sport/tennis/player1/#", "sport/tennis", false},
    {"sport/#", "sport", true},
    {"sport/#", "sport/", true},
    {"sport/#", "sports", false},
    {"sport/tennis/#", "sport/tennisplayer", false},
    {"a/#", "a", true},
    {"a/#", "ab", false},
    {"a/#", "b/a", false},
    {"#", "sport", true},
    {"#", "/", true},
    {"#", "/finance", true},
    {"#", "a/b/c/d/e", true},
    {"#", "a/$SYS", true},
    {"/#", "/", true},
    {"/#", "/finance", true},
    {"/#", "finance", false},
    /* 4.7.1.3 single-level wildcard */
    {"sport/tennis/+", "sport/tennis/player1", true},
    {"sport/tennis/+", "sport/tennis/player2", true},
    {"sport/tennis/+", "sport/tennis/player1/ranking", false},
    {"sport/tennis/+", "sport/tennis", false},
    {"sport/tennis/+", "sport/tennis/", true}, /* the empty level */
    {"sport/+", "sport", false},
    {"sport/+", "sport/", true},
    {"+/+", "/finance", true},
    {"/+", "/finance", true},
    {"+", "/finance", false},
    {"+/+", "/", true},
    {"+", "/", false},
    {"+", "finance", true},
    {"+/tennis/#", "sport/tennis", true},
    {"+/tennis/#", "sport/tennis/x/y", true},
    {"+/tennis/#", "sport/golf", false},
    {"+/#", "a", true},
    {"a/+/c", "a//c", true},
    {"a/+/c", "a/c", false},
    {"+/+/+", "//", true},
    {"+/+/+", "/", false},
    /* 4.7.2 topics beginning with '$' */
    {"#", "$SYS", false},
    {"#", "$SYS/broker", false},
    {"#", "$", false},
    {"+/monitor/Clients", "$SYS/monitor/Clients", false},
    {"+/monitor", "$SYS/monitor", false},
    {"+", "$SYS", false},
    {"+/#", "$SYS/x", false},
    {"$SYS/#", "$SYS/x", true},
    {"$SYS/#", "$SYS", true},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
    {"$SYS", "$SYS", true},
    {"$SYS/+", "$SYS/", true},
    {"+/$x", "a/$x", true}, /* the rule is about the first character only */
    /* 4.7.3 exact levels: case sensitive, spaces allowed, empty levels distinct */
    {"ACCOUNTS", "Accounts", false},
    {"Accounts payable", "Accounts payable", true},
    {"a", "a/", false},
    {"a/", "a", false},
    {"a//b", "a//b", true},
    {"a//b", "a/b", false},
    {"/finance", "finance", false},
    {"finance", "/finance", false},
    {"sport/tennis", "sport/tennis", true},
    {"sport/tennis", "sport/tennis2", false},
    {"caf\xc3\xa9", "caf\xc3\xa9", true},
};

static void test_match_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* every filter and name of the table is itself valid */
        assert_int_equal(filt(cases[i].filter, &NOLIM), TOPIC_OK);
        assert_int_equal(name(cases[i].topic, &NOLIM), TOPIC_OK);
        if (match(cases[i].filter, cases[i].topic) != cases[i].match)
            fail_msg("filter \"%s\" topic \"%s\": expected %s", cases[i].filter, cases[i].topic,
                     cases[i].match ? "match" : "no match");
    }
}

/* A filter without wildcards matches exactly the identical name. */
static void test_match_exact_identity(void **state)
{
    (void)state;
    const char *names[] = {"a", "a/", "/a", "a/b", "a//b", "$SYS/x", "/"};
    size_t n = sizeof(names) / sizeof(names[0]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            assert_int_equal(match(names[i], names[j]), i == j);
}

/* Lengths are honoured: bytes past them are never read or compared. */
static void test_match_lengths(void **state)
{
    (void)state;
    const uint8_t *f = (const uint8_t *)"sport/#XXXX";
    const uint8_t *t = (const uint8_t *)"sportYYYY";
    assert_true(topic_match(f, 7, t, 5));
    assert_false(topic_match(f, 5, t, 6));
    assert_true(topic_match((const uint8_t *)"a/bc", 3, (const uint8_t *)"a/bd", 3));
}

/* Deep names (65535 empty levels): matching walks levels iteratively. */
static void test_match_deep(void **state)
{
    (void)state;
    char *t = repeat('/', 65534);
    char *f = repeat('/', 65536);
    assert_true(match("#", t));
    f[65534] = '#'; /* 65534 empty levels then '#' covering the last one */
    f[65535] = '\0';
    assert_true(match(f, t));
    f[65534] = '+';
    assert_true(match(f, t));
    f[65534] = '\0'; /* identical */
    assert_true(match(f, t));
    f[65534] = '/';
    f[65535] = '#'; /* one level more, '#' matching the parent */
    assert_true(match(f, t));
    f[65535] = '+';
    assert_false(match(f, t));
    f[65535] = '\0';
    assert_false(match(f, t));
    free(f);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_str),
        cmocka_unit_test(test_names_valid),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_wildcard_in_name),
        cmocka_unit_test(test_filters_valid),
        cmocka_unit_test(test_filters_bad_wildcard),
        cmocka_unit_test(test_bad_utf8),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_length_wire_bound),
        cmocka_unit_test(test_level_limit),
        cmocka_unit_test(test_level_wire_bound),
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_match_exact_identity),
        cmocka_unit_test(test_match_lengths),
        cmocka_unit_test(test_match_deep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
