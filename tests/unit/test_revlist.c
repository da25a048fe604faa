/* revlist: the revoked-serials file shared by `bulwark ca` and the auth daemon; serial
 * normalisation, parsing, errors with positions, lookup. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "revlist.h"

static const char *norm(const char *in)
{
    static char out[REVLIST_SERIAL_MAX_HEX + 1];
    return serial_normalize(in, out, sizeof(out));
}

static void test_normalize_forms(void **state)
{
    (void)state;
    assert_string_equal(norm("7f1a"), "7f1a");
    assert_string_equal(norm("7F1A"), "7f1a");
    assert_string_equal(norm("007F1a"), "7f1a");
    assert_string_equal(norm("00:7F:1A"), "7f1a");
    assert_string_equal(norm("0:0:7:f"), "7f");
    assert_string_equal(norm("0"), "0");
    assert_string_equal(norm("0000"), "0");
    assert_string_equal(norm("00:00"), "0");
    assert_string_equal(norm("abcdef0123456789ABCDEF"), "abcdef0123456789abcdef");
}

static void test_normalize_refuses(void **state)
{
    (void)state;
    assert_null(norm(""));
    assert_null(norm(":"));
    assert_null(norm(":7f"));
    assert_null(norm("7f:"));
    assert_null(norm("7f::1a"));
    assert_null(norm("7g"));
    assert_null(norm("0x7f"));
    assert_null(norm(" 7f"));
    assert_null(norm("7f "));
    assert_null(norm("-7f"));
    assert_null(norm("7f\t"));
    assert_null(serial_normalize(NULL, (char[8]){0}, 8));
}

static void test_normalize_bounds(void **state)
{
    (void)state;
    char in[200], out[REVLIST_SERIAL_MAX_HEX + 1];
    /* exactly 64 significant digits fit, 65 do not; leading zeros do not count */
    memset(in, 'a', 64);
    in[64] = '\0';
    assert_non_null(serial_normalize(in, out, sizeof(out)));
    assert_int_equal(strlen(out), 64);
    memset(in, 'a', 65);
    in[65] = '\0';
    assert_null(serial_normalize(in, out, sizeof(out)));
    memset(in, '0', 100);
    memset(in + 100, 'b', 64);
    in[164] = '\0';
    assert_non_null(serial_normalize(in, out, sizeof(out)));
    /* the output buffer bounds the result too */
    char small[4];
    assert_string_equal(serial_normalize("0abc", small, sizeof(small)), "abc");
    assert_null(serial_normalize("abcd", small, sizeof(small)));
    assert_null(serial_normalize("a", small, 1));
}

static int parse(struct revlist *rl, const char *text, char *err, size_t errlen)
{
    return revlist_parse(rl, "revoked", text, strlen(text), err, errlen);
}

static void test_parse_and_lookup(void **state)
{
    (void)state;
    struct revlist rl;
    char err[256];
    const char *text = "# bulwark revoked certificates\n"
                       "\n"
                       "7f00aa\t1700000000\tdev-1\n"
                       "   \t \n"
                       "00:1B:2c\t1700000001\tsensor 7\r\n"
                       "#another comment\n"
                       "5\t0\t\n"
                       "ffffffffffffffffffffffffffffffffffffffff\t1\tk\xc3\xa4ser"; /* no newline */
    assert_int_equal(parse(&rl, text, err, sizeof(err)), 0);
    assert_int_equal(rl.count, 4);
    /* sorted by numeric value */
    assert_string_equal(rl.entries[0].serial, "5");
    assert_string_equal(rl.entries[1].serial, "1b2c");
    assert_string_equal(rl.entries[2].serial, "7f00aa");
    assert_true(revlist_contains(&rl, "7f00aa"));
    assert_true(revlist_contains(&rl, "7F00AA"));
    assert_true(revlist_contains(&rl, "00:7f:00:aa"));
    assert_true(revlist_contains(&rl, "1b2c"));
    assert_true(revlist_contains(&rl, "05"));
    assert_true(revlist_contains(&rl, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"));
    assert_false(revlist_contains(&rl, "7f00ab"));
    assert_false(revlist_contains(&rl, "7f00"));
    assert_false(revlist_contains(&rl, "6"));
    assert_false(revlist_contains(&rl, ""));
    assert_false(revlist_contains(&rl, "zz"));
    assert_false(revlist_contains(&rl, NULL));
    const struct revlist_entry *e = revlist_find(&rl, "1B:2C");
    assert_non_null(e);
    assert_int_equal(e->revoked_at, 1700000001);
    assert_string_equal(e->cn, "sensor 7");
    assert_int_equal(e->line, 5);
    e = revlist_find(&rl, "5");
    assert_string_equal(e->cn, "");
    assert_int_equal(e->revoked_at, 0);
    e = revlist_find(&rl, "ffffffffffffffffffffffffffffffffffffffff");
    assert_string_equal(e->cn, "k\xc3\xa4ser");
    revlist_free(&rl);
    assert_int_equal(rl.count, 0);
    assert_null(rl.entries);
    assert_false(revlist_contains(&rl, "5"));
    revlist_free(&rl); /* twice is harmless */
}

static void test_empty_inputs(void **state)
{
    (void)state;
    struct revlist rl;
    char err[256];
    assert_int_equal(parse(&rl, "", err, sizeof(err)), 0);
    assert_int_equal(rl.count, 0);
    assert_false(revlist_contains(&rl, "1"));
    revlist_free(&rl);
    assert_int_equal(parse(&rl, "# only a comment\n\n\n", err, sizeof(err)), 0);
    assert_int_equal(rl.count, 0);
    revlist_free(&rl);
    assert_int_equal(parse(&rl,
                           "\xef\xbb\xbf"
                           "a\t1\tx\n",
                           err, sizeof(err)),
                     0);
    assert_int_equal(rl.count, 1);
    assert_true(revlist_contains(&rl, "a"));
    revlist_free(&rl);
}

/* Each malformed input fails whole, with the expected "revoked:LINE:COL: ..." prefix. */
static void expect_error(const char *text, size_t len, const char *prefix, const char *word)
{
    struct revlist rl;
    char err[256] = "";
    assert_int_equal(revlist_parse(&rl, "revoked", text, len, err, sizeof(err)), -1);
    assert_int_equal(rl.count, 0);
    assert_null(rl.entries);
    if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, word))
        fail_msg("for %s: got '%s', want prefix '%s' and '%s'", text, err, prefix, word);
    revlist_free(&rl);
}

#define EXPECT(text, prefix, word) expect_error(text, sizeof(text) - 1, prefix, word)

static void test_errors_name_line_and_column(void **state)
{
    (void)state;
    EXPECT("7f\n", "revoked:1:3: ", "expected");
    EXPECT("7f\t1\n", "revoked:1:5: ", "expected");
    EXPECT("#c\n7f\t1\tdev\nzz\t1\tx\n", "revoked:3:1: ", "hexadecimal");
    EXPECT("\t1\tx\n", "revoked:1:1: ", "empty serial");
    EXPECT("0\t1\tx\n", "revoked:1:1: ", "serial 0");
    EXPECT("00:00\t1\tx\n", "revoked:1:1: ", "serial 0");
    EXPECT("7f:\t1\tx\n", "revoked:1:1: ", "hexadecimal");
    EXPECT("7f\t\tx\n", "revoked:1:4: ", "empty revocation time");
    EXPECT("7f\t-1\tx\n", "revoked:1:4: ", "decimal");
    EXPECT("7f\t12a4\tx\n", "revoked:1:6: ", "decimal");
    EXPECT("7f\t 1\tx\n", "revoked:1:4: ", "decimal");
    EXPECT("7f\t1234567890123456789\tx\n", "revoked:1:4: ", "out of range");
    EXPECT("7f\t1\tdev\textra\n", "revoked:1:9: ", "too many fields");
    EXPECT("7f\t1\tde\x01v\n", "revoked:1:8: ", "control");
    EXPECT("7f\t1\tde\x7fv\n", "revoked:1:8: ", "control");
    EXPECT("7f\t1\tx\xc3\n", "revoked:1:7: ", "UTF-8");
    EXPECT("7f\t1\t\xc0\xaf\n", "revoked:1:6: ", "UTF-8");         /* overlong '/' */
    EXPECT("7f\t1\t\xed\xa0\x80\n", "revoked:1:6: ", "UTF-8");     /* surrogate */
    EXPECT("7f\t1\t\xf4\x90\x80\x80\n", "revoked:1:6: ", "UTF-8"); /* above U+10FFFF */
    EXPECT("7f\t1\tab\0c\n", "revoked:1:8: ", "NUL");
    EXPECT("1\t1\ta\n2\t1\tb\n01\t5\tc\n", "revoked:3:1: ", "first on line 1");
    EXPECT("aa\t1\ta\n\n00:AA\t5\tc\n", "revoked:3:1: ", "duplicate serial aa");
    /* CN bounds: 256 bytes pass, 257 fail */
    char line[400];
    int n = snprintf(line, sizeof(line), "1\t1\t");
    memset(line + n, 'c', 256);
    line[n + 256] = '\n';
    struct revlist rl;
    char err[256];
    assert_int_equal(revlist_parse(&rl, "r", line, (size_t)n + 257, err, sizeof(err)), 0);
    assert_int_equal(strlen(rl.entries[0].cn), 256);
    revlist_free(&rl);
    memset(line + n, 'c', 257);
    line[n + 257] = '\n';
    assert_int_equal(revlist_parse(&rl, "r", line, (size_t)n + 258, err, sizeof(err)), -1);
    assert_string_equal(err, "r:1:5: CN longer than 256 bytes");
}

static char *write_temp(const char *text, size_t len)
{
    static char path[64];
    strcpy(path, "/tmp/test_revlist_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_load_file(void **state)
{
    (void)state;
    struct revlist rl;
    char err[512];
    const char text[] = "# header\nAB:CD\t1700000000\tdev-9\n";
    char *path = write_temp(text, sizeof(text) - 1);
    assert_int_equal(revlist_load(&rl, path, err, sizeof(err)), 0);
    assert_true(revlist_contains(&rl, "abcd"));
    revlist_free(&rl);

    /* errors carry the path */
    const char bad[] = "# header\nAB:CD\t17x\tdev-9\n";
    path = write_temp(bad, sizeof(bad) - 1);
    assert_int_equal(revlist_load(&rl, path, err, sizeof(err)), -1);
    char want[128];
    snprintf(want, sizeof(want), "%s:2:9: ", path);
    assert_memory_equal(err, want, strlen(want));
    unlink(path);

    assert_int_equal(revlist_load(&rl, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot open"));
    assert_int_equal(rl.count, 0);
    revlist_free(&rl);
}

static void test_load_refuses_oversized_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_revlist_big_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)REVLIST_MAX_BYTES + 1), 0);
    close(fd);
    struct revlist rl;
    char err[512];
    assert_int_equal(revlist_load(&rl, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "larger than"));
    unlink(path);
}

static void test_many_entries(void **state)
{
    (void)state;
    /* 20000 entries in shuffled order: every one found, neighbours not */
    size_t n = 20000, cap = n * 32;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t v = (i * 7919) % n; /* a permutation, since 7919 is prime to 20000 */
        len += (size_t)snprintf(text + len, cap - len, "%zx\t%zu\tdev-%zu\n", 2 * v + 2, v, v);
    }
    struct revlist rl;
    char err[256];
    assert_int_equal(revlist_parse(&rl, "big", text, len, err, sizeof(err)), 0);
    assert_int_equal(rl.count, n);
    char s[32];
    for (size_t v = 0; v < n; v++) {
        snprintf(s, sizeof(s), "%zX", 2 * v + 2);
        assert_true(revlist_contains(&rl, s));
        snprintf(s, sizeof(s), "%zx", 2 * v + 3);
        assert_false(revlist_contains(&rl, s));
    }
    assert_false(revlist_contains(&rl, "1"));
    revlist_free(&rl);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_forms),  cmocka_unit_test(test_normalize_refuses),
        cmocka_unit_test(test_normalize_bounds), cmocka_unit_test(test_parse_and_lookup),
        cmocka_unit_test(test_empty_inputs),     cmocka_unit_test(test_errors_name_line_and_column),
        cmocka_unit_test(test_load_file),        cmocka_unit_test(test_load_refuses_oversized_file),
        cmocka_unit_test(test_many_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
