/* audit + json_out: escaping, the chain, every tamper case, head, rotation, keys, bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "json_out.h"

static char dir[64];
static char logp[128], headp[160];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_audit.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(logp, sizeof(logp), "%s/audit.log", dir);
    snprintf(headp, sizeof(headp), "%s/audit.log.head", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
    return 0;
}

static char *path_in(const char *name)
{
    static char p[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
    return p[i];
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_file(const char *path, const char *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/* The file split into lines (each with its newline, the last maybe without). */
struct lines {
    char *buf;
    size_t total;
    size_t n;
    const char *p[64];
    size_t len[64];
};

static void split(const char *path, struct lines *l)
{
    size_t len;
    l->buf = read_file(path, &len);
    l->total = len;
    l->n = 0;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (l->buf[i] != '\n')
            continue;
        assert_true(l->n < 64);
        l->p[l->n] = l->buf + start;
        l->len[l->n++] = i + 1 - start;
        start = i + 1;
    }
    if (start < len) {
        l->p[l->n] = l->buf + start;
        l->len[l->n++] = len - start;
    }
}

/* A copy of the file with one byte of line i changed: at `at` bytes into `needle`. */
static char *mutate(const struct lines *l, size_t i, const char *needle, size_t at, char to)
{
    char *c = malloc(l->total + 1);
    assert_non_null(c);
    memcpy(c, l->buf, l->total + 1);
    char *p = strstr(c + (l->p[i] - l->buf), needle);
    assert_non_null(p);
    assert_true(p < c + (l->p[i] - l->buf) + l->len[i]);
    p[at] = p[at] == to ? (char)(to + 1) : to;
    return c;
}

/* Writes the lines of l in the order given by idx (-1 ends the list) to path. */
static void join(const char *path, const struct lines *l, const int *idx)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (; *idx >= 0; idx++)
        assert_int_equal(fwrite(l->p[*idx], 1, l->len[*idx], f), l->len[*idx]);
    fclose(f);
}

static struct audit_log *open_log(const uint8_t *key, bool no_head)
{
    char err[512];
    struct audit_options o = {.key = key, .no_head = no_head};
    struct audit_log *a = audit_open_opts(logp, &o, err, sizeof(err));
    if (!a)
        fail_msg("audit_open: %s", err);
    return a;
}

static void event(struct audit_log *a, const char *name, const char *k, const char *v)
{
    struct audit_field f[] = {{k, v, strlen(v)}};
    assert_int_equal(audit_event(a, name, f, 1), 0);
}

/* A log of six lines: audit_start and five events. */
static void make_log(const uint8_t *key)
{
    struct audit_log *a = open_log(key, false);
    event(a, "auth.ok", "client_id", "alpha");
    event(a, "auth.fail", "client_id", "bravo");
    event(a, "acl.deny", "topic", "charlie/1");
    event(a, "limit.hit", "limit", "max_connections");
    event(a, "policy.reload", "generation", "2");
    audit_close(a);
}

/* Verifies files (NULL-terminated) with key and head; returns the verdict, msg, lines. */
static int verify(const char *const *files, const uint8_t *key, const char *head, char *msg,
                  size_t msglen, uint64_t *lines)
{
    struct audit_verifier v;
    audit_verifier_init(&v, key);
    uint64_t total = 0, n;
    if (head && audit_verifier_head(&v, head, msg, msglen) != 0)
        return 1;
    for (; *files; files++) {
        if (audit_verifier_file(&v, *files, &n, msg, msglen) != 0) {
            audit_verifier_finish(&v, NULL, 0);
            if (lines)
                *lines = total + n;
            return 1;
        }
        total += n;
    }
    if (lines)
        *lines = total;
    return audit_verifier_finish(&v, msg, msglen);
}

static int verify1(const char *file, const uint8_t *key, const char *head, char *msg, size_t msglen)
{
    const char *files[] = {file, NULL};
    return verify(files, key, head, msg, msglen, NULL);
}

static void expect_bad(const char *file, const uint8_t *key, const char *head, const char *want1,
                       const char *want2)
{
    char msg[512];
    assert_int_equal(verify1(file, key, head, msg, sizeof(msg)), 1);
    if (!strstr(msg, want1) || (want2 && !strstr(msg, want2)))
        fail_msg("verify message \"%s\" lacks \"%s\" / \"%s\"", msg, want1, want2 ? want2 : "");
}

static void hex(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", in[i]);
}

/* A line made outside the module, the way an attacker would (seq, prev hex, event). */
static size_t forge(char *out, size_t cap, const uint8_t *key, uint64_t seq, const char *prev_hex,
                    const char *rest)
{
    uint8_t prev[32], h[32];
    assert_int_equal(sodium_hex2bin(prev, 32, prev_hex, 64, NULL, NULL, NULL), 0);
    int n =
        snprintf(out, cap, "{\"ts\":\"2030-01-01T00:00:00.000Z\",\"seq\":%llu,\"prev\":\"%s\",%s",
                 (unsigned long long)seq, prev_hex, rest);
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, key ? 32 : 0, 32);
    crypto_generichash_update(&st, prev, 32);
    crypto_generichash_update(&st, (const unsigned char *)out, (size_t)n);
    crypto_generichash_final(&st, h, 32);
    char hx[65];
    hex(h, 32, hx);
    n += snprintf(out + n, cap - (size_t)n, ",\"h\":\"%s\"}\n", hx);
    return (size_t)n;
}

/* The value of "name":"..." (hex fields) in a line. */
static void field(const char *line, const char *name, char out[65])
{
    char pat[32];
    snprintf(pat, sizeof(pat), "\"%s\":\"", name);
    const char *p = strstr(line, pat);
    assert_non_null(p);
    memcpy(out, p + strlen(pat), 64);
    out[64] = '\0';
}

static const uint8_t key1[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const uint8_t key2[32] = {9, 9, 9};

/* ---------------------------------------------------------------------------------------- */

static void check_escape(const void *in, size_t n, const char *want)
{
    struct json_out j;
    json_out_init(&j, 1 << 20);
    json_out_str(&j, in, n);
    assert_true(json_out_ok(&j));
    if (j.len != strlen(want) || memcmp(j.buf, want, j.len) != 0)
        fail_msg("escaped as %.*s, want %s", (int)j.len, j.buf, want);
    json_out_free(&j);
}

static void test_json_escaping(void **state)
{
    (void)state;
    check_escape("plain text 123", 14, "\"plain text 123\"");
    check_escape("", 0, "\"\"");
    check_escape("a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\"");
    check_escape("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
    check_escape("\x00\x01\x1f\x7f", 4, "\"\\u0000\\u0001\\u001f\\u007f\"");
    check_escape("x\x00y", 3, "\"x\\u0000y\"");
    /* Non-ASCII leaves as \u escapes: the log stays printable ASCII. */
    check_escape("\xc3\xa9", 2, "\"\\u00e9\"");
    check_escape("\xe2\x80\xa8\xe2\x80\xa9", 6, "\"\\u2028\\u2029\"");
    check_escape("\xe2\x80\xae", 3, "\"\\u202e\""); /* bidi override */
    check_escape("\xef\xbf\xbf", 3, "\"\\uffff\"");
    check_escape("\xf0\x9f\x98\x80", 4, "\"\\ud83d\\ude00\""); /* U+1F600 */
    check_escape("\xf4\x8f\xbf\xbf", 4, "\"\\udbff\\udfff\""); /* U+10FFFF */
    /* Invalid UTF-8: one \ufffd per byte that does not start a valid sequence. */
    check_escape("\xff", 1, "\"\\ufffd\"");
    check_escape("\x80z", 2, "\"\\ufffdz\"");                     /* stray continuation */
    check_escape("\xc0\x80", 2, "\"\\ufffd\\ufffd\"");            /* overlong NUL */
    check_escape("\xe0\x80\xaf", 3, "\"\\ufffd\\ufffd\\ufffd\""); /* overlong '/' */
    check_escape("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate D800 */
    check_escape("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > U+10FFFF */
    check_escape("\xe2\x82", 2, "\"\\ufffd\\ufffd\"");                       /* truncated */
    check_escape("\xe2\x82x", 3, "\"\\ufffd\\ufffdx\"");
    check_escape("\xc3", 1, "\"\\ufffd\"");
    check_escape("a\xc3\xa9\xff"
                 "b",
                 5, "\"a\\u00e9\\ufffdb\"");
}

static void test_json_bounds(void **state)
{
    (void)state;
    struct json_out j;
    json_out_init(&j, 16);
    json_out_raw(&j, "0123456789", 10);
    json_out_str(&j, "\n\n", 2); /* 6 bytes: fits exactly */
    assert_true(json_out_ok(&j));
    assert_int_equal(j.len, 16);
    json_out_raw(&j, "x", 1);
    assert_false(json_out_ok(&j));
    assert_true(j.overflow);
    assert_int_equal(j.len, 16);
    json_out_reset(&j);
    assert_true(json_out_ok(&j));
    assert_int_equal(j.len, 0);
    json_out_free(&j);
    json_out_init(&j, 64);
    json_out_u64(&j, 0);
    json_out_raw(&j, " ", 1);
    json_out_u64(&j, UINT64_MAX);
    assert_int_equal(j.len, 22);
    assert_memory_equal(j.buf, "0 18446744073709551615", 22);
    json_out_free(&j);
}

static void test_line_shape_and_hash(void **state)
{
    (void)state;
    struct audit_log *a = open_log(NULL, false);
    event(a, "auth.ok", "client_id", "dev-1");
    assert_int_equal(audit_last_seq(a), 2);
    uint8_t last[32];
    audit_last_hash(a, last);
    audit_close(a);
    struct stat st;
    assert_int_equal(stat(logp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(headp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    struct lines l;
    split(logp, &l);
    assert_int_equal(l.n, 2);
    char z[65];
    memset(z, '0', 64);
    z[64] = '\0';
    char want0[256];
    snprintf(want0, sizeof(want0),
             "\",\"seq\":1,\"prev\":\"%s\",\"event\":\"audit_start\","
             "\"format\":\"bulwark-audit-1\",\"chain\":\"plain\",\"pid\":\"%d\",\"h\":\"",
             z, (int)getpid());
    assert_memory_equal(l.p[0], "{\"ts\":\"", 7);
    assert_memory_equal(l.p[0] + 7 + 24, want0, strlen(want0));
    /* ts: RFC 3339 UTC with milliseconds. */
    assert_int_equal(l.p[0][7 + 10], 'T');
    assert_int_equal(l.p[0][7 + 19], '.');
    assert_int_equal(l.p[0][7 + 23], 'Z');

    /* h = BLAKE2b-256(prev bytes || every byte before ,"h":"), and prev links to it. */
    char h0[65], prev1[65], h1[65];
    field(l.p[0], "h", h0);
    field(l.p[1], "prev", prev1);
    field(l.p[1], "h", h1);
    assert_string_equal(h0, prev1);
    const char *cut = strstr(l.p[1], ",\"h\":\"");
    uint8_t prev[32], h[32];
    assert_int_equal(sodium_hex2bin(prev, 32, prev1, 64, NULL, NULL, NULL), 0);
    crypto_generichash_state s;
    crypto_generichash_init(&s, NULL, 0, 32);
    crypto_generichash_update(&s, prev, 32);
    crypto_generichash_update(&s, (const unsigned char *)l.p[1], (size_t)(cut - l.p[1]));
    crypto_generichash_final(&s, h, 32);
    char hx[65];
    hex(h, 32, hx);
    assert_string_equal(hx, h1);
    hex(last, 32, hx);
    assert_string_equal(hx, h1);
    assert_true(strstr(l.p[1], "\"seq\":2,") != NULL);
    assert_true(strstr(l.p[1], "\"event\":\"auth.ok\",\"client_id\":\"dev-1\",\"h\"") != NULL);

    /* The head records the last seq and hash. */
    size_t hl;
    char *head = read_file(headp, &hl);
    char wanth[128];
    snprintf(wanth, sizeof(wanth), "{\"seq\":2,\"h\":\"%s\"}\n", h1);
    assert_string_equal(head, wanth);
    free(head);
    free(l.buf);

    char msg[256];
    uint64_t n = 0;
    assert_int_equal(audit_verify_file(logp, msg, sizeof(msg), &n), 0);
    assert_int_equal(n, 2);
}

static void test_hostile_values(void **state)
{
    (void)state;
    struct audit_log *a = open_log(NULL, false);
    static char big[65536];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7 + 1); /* every byte value, control and invalid UTF-8 too */
    static char huge_invalid[65536];
    memset(huge_invalid, 0xff, sizeof(huge_invalid)); /* 64 KiB of \ufffd: 384 KiB escaped */
    struct audit_field f[] = {
        {"quote", "\",\"h\":\"0000\"}", 13},         /* tries to end the line early */
        {"newline", "x\n{\"ts\":\"forged\"}\n", 18}, /* tries to start a line */
        {"ls", "a\xe2\x80\xa8z", 5},
        {"nul", "a\0b\0", 4},
        {"invalid", "\xc0\xaf\xed\xa0\x80\xff", 6},
        {"empty", NULL, 0},
        {"big", big, sizeof(big)},
        {"huge", huge_invalid, sizeof(huge_invalid)},
    };
    assert_int_equal(audit_event(a, "connect", f, sizeof(f) / sizeof(f[0])), 0);
    audit_close(a);

    struct lines l;
    split(logp, &l);
    assert_int_equal(l.n, 2); /* one event, one line */
    const char *s = l.p[1];
    for (size_t i = 0; i + 1 < l.len[1]; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            fail_msg("byte 0x%02x at %zu is not printable ASCII", (unsigned char)s[i], i);
    assert_int_equal(s[l.len[1] - 1], '\n');
    assert_non_null(strstr(s, "\"quote\":\"\\\",\\\"h\\\":\\\"0000\\\"}\""));
    assert_non_null(strstr(s, "\"newline\":\"x\\n{\\\"ts\\\":\\\"forged\\\"}\\n\""));
    assert_non_null(strstr(s, "\"ls\":\"a\\u2028z\""));
    assert_non_null(strstr(s, "\"nul\":\"a\\u0000b\\u0000\""));
    assert_non_null(strstr(s, "\"invalid\":\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\""));
    assert_non_null(strstr(s, "\"empty\":\"\""));
    assert_true(l.len[1] > 6 * 65536);
    free(l.buf);

    char msg[256];
    uint64_t n;
    assert_int_equal(audit_verify_file(logp, msg, sizeof(msg), &n), 0);
    assert_int_equal(n, 2);
}

static void test_line_too_long_is_refused_cleanly(void **state)
{
    (void)state;
    struct audit_log *a = open_log(NULL, false);
    size_t len = 200 * 1024; /* 1.2 MiB once escaped as \u0001 */
    char *v = malloc(len);
    assert_non_null(v);
    memset(v, 1, len);
    struct stat before, after;
    assert_int_equal(stat(logp, &before), 0);
    struct audit_field f[] = {{"topic", v, len}};
    errno = 0;
    assert_int_equal(audit_event(a, "acl.deny", f, 1), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(stat(logp, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(audit_last_seq(a), 1);
    event(a, "after", "x", "y");
    audit_close(a);
    free(v);
    char msg[256];
    uint64_t n;
    assert_int_equal(audit_verify_file(logp, msg, sizeof(msg), &n), 0);
    assert_int_equal(n, 2);
}

static void expect_einval(struct audit_log *a, const char *name, const struct audit_field *f,
                          size_t n)
{
    errno = 0;
    assert_int_equal(audit_event(a, name, f, n), -1);
    assert_int_equal(errno, EINVAL);
}

static void test_secret_and_bad_names_refused(void **state)
{
    (void)state;
    struct audit_log *a = open_log(NULL, false);
    static const char *const secret[] = {"password",   "passwd",  "pass",         "user_password",
                                         "pwd",        "token",   "access_token", "key",
                                         "api_key",    "keyfile", "secret",       "client_secret",
                                         "credential", "creds"};
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
        struct audit_field f[] = {{"client_id", "c", 1}, {secret[i], "hunter2", 7}};
        expect_einval(a, "auth.fail", f, 2);
    }
    static const char *const bad[] = {
        "ts",     "seq",  "prev",
        "event",  "h",    "",
        "Client", "a-b",  "a.b",
        "a b",    "a\"b", "x1234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct audit_field f[] = {{bad[i], "v", 1}};
        expect_einval(a, "auth.fail", f, 1);
    }
    struct audit_field nullkey[] = {{NULL, "v", 1}};
    expect_einval(a, "auth.fail", nullkey, 1);
    struct audit_field dup[] = {{"topic", "a", 1}, {"peer", "p", 1}, {"topic", "b", 1}};
    expect_einval(a, "acl.deny", dup, 3);
    struct audit_field nullval[] = {{"topic", NULL, 3}};
    expect_einval(a, "acl.deny", nullval, 1);
    expect_einval(a, "audit_start", NULL, 0);
    expect_einval(a, "audit_resume", NULL, 0);
    expect_einval(a, "", NULL, 0);
    expect_einval(a, "Auth", NULL, 0);
    expect_einval(a, "auth fail", NULL, 0);
    expect_einval(a, "auth\nfail", NULL, 0);
    expect_einval(a, NULL, NULL, 0);
    expect_einval(a, "x", NULL, 1);
    struct audit_field many[AUDIT_FIELDS_MAX + 1];
    char names[AUDIT_FIELDS_MAX + 1][8];
    for (size_t i = 0; i <= AUDIT_FIELDS_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "f%zu", i);
        many[i] = (struct audit_field){names[i], "v", 1};
    }
    expect_einval(a, "many", many, AUDIT_FIELDS_MAX + 1);
    assert_int_equal(audit_event(a, "many", many, AUDIT_FIELDS_MAX), 0);
    /* A 64-byte key is the longest allowed; keys that merely resemble words are fine. */
    struct audit_field ok[] = {
        {"x123456789012345678901234567890123456789012345678901234567890123", "v", 1},
        {"keepalive", "60", 2},
        {"username", "u", 1}};
    assert_int_equal(audit_event(a, "auth.ok", ok, 3), 0);
    assert_int_equal(audit_last_seq(a), 3);
    audit_close(a);

    size_t len;
    char *all = read_file(logp, &len);
    assert_null(strstr(all, "hunter2"));
    free(all);
}

static void test_reopen_appends_and_continues(void **state)
{
    (void)state;
    make_log(NULL);
    struct audit_log *a = open_log(NULL, false);
    assert_int_equal(audit_last_seq(a), 7); /* 6 lines + audit_resume */
    event(a, "auth.ok", "client_id", "delta");
    assert_int_equal(audit_sync(a), 0);
    audit_close(a);
    a = open_log(NULL, false);
    event(a, "auth.ok", "client_id", "echo");
    audit_close(a);

    struct lines l;
    split(logp, &l);
    assert_int_equal(l.n, 10);
    assert_non_null(strstr(l.p[6], "\"seq\":7,"));
    assert_non_null(strstr(l.p[6], "\"event\":\"audit_resume\""));
    assert_non_null(strstr(l.p[8], "\"event\":\"audit_resume\""));
    assert_non_null(strstr(l.p[9], "\"seq\":10,"));
    free(l.buf);
    char msg[256];
    uint64_t n;
    assert_int_equal(verify((const char *[]){logp, NULL}, NULL, headp, msg, sizeof(msg), &n), 0);
    assert_int_equal(n, 10);
}

static void test_single_writer(void **state)
{
    (void)state;
    struct audit_log *a = open_log(NULL, false);
    char err[256];
    assert_null(audit_open(logp, err, sizeof(err)));
    assert_non_null(strstr(err, "another process is writing"));
    audit_close(a);
    a = audit_open(logp, err, sizeof(err));
    assert_non_null(a);
    audit_close(a);
}

/* Every tamper case, on a plain and on a keyed chain. */
static void tamper_cases(const uint8_t *key)
{
    make_log(key);
    char msg[512];
    uint64_t n;
    assert_int_equal(verify((const char *[]){logp, NULL}, key, headp, msg, sizeof(msg), &n), 0);
    assert_int_equal(n, 6);
    struct lines l;
    split(logp, &l);
    assert_int_equal(l.n, 6);
    const char *t = path_in("t.log");
    const char *all = l.buf;
    size_t len = l.total;

    /* One changed byte in line 4: in a value, a field name, seq, prev, h. */
    static const struct {
        const char *needle;
        size_t at;
        char to;
    } edits[] = {{"charlie", 0, 'd'},
                 {"\"topic\"", 5, 'x'},
                 {"\"seq\":4", 6, '5'},
                 {"\"prev\":\"", 12, '0'},
                 {"\"h\":\"", 9, '0'}};
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        char *c = mutate(&l, 3, edits[i].needle, edits[i].at, edits[i].to);
        write_file(t, c, len);
        expect_bad(t, key, NULL, "line 4 (seq ", "): hash mismatch");
        free(c);
    }
    /* A byte changed so that the line is no longer JSON as written. */
    char *c = mutate(&l, 2, "\"}\n", 1, ']');
    write_file(t, c, len);
    expect_bad(t, key, NULL, "line 3: not JSON-shaped as written", NULL);
    free(c);
    /* A control byte slipped into a value. */
    c = mutate(&l, 1, "alpha", 0, '\x1b');
    write_file(t, c, len);
    expect_bad(t, key, NULL, "line 2: not JSON-shaped", NULL);
    free(c);

    /* Inserted: a copy of line 3 after it. */
    join(t, &l, (const int[]){0, 1, 2, 2, 3, 4, 5, -1});
    expect_bad(t, key, NULL, "line 4: seq gap", "seq 3 follows seq 3");
    /* Reordered: lines 3 and 4 swapped. */
    join(t, &l, (const int[]){0, 1, 3, 2, 4, 5, -1});
    expect_bad(t, key, NULL, "line 3: seq gap", "seq 4 follows seq 2");
    /* Deleted in the middle. */
    join(t, &l, (const int[]){0, 1, 2, 4, 5, -1});
    expect_bad(t, key, NULL, "line 4: seq gap", "seq 5 follows seq 3");
    /* Deleted at the beginning. */
    join(t, &l, (const int[]){1, 2, 3, 4, 5, -1});
    expect_bad(t, key, NULL, "line 1: not a chain start", NULL);
    /* Deleted at the end: invisible in the file alone, caught by the head. */
    join(t, &l, (const int[]){0, 1, 2, 3, 4, -1});
    assert_int_equal(verify1(t, key, NULL, msg, sizeof(msg)), 0);
    expect_bad(t, key, headp, "records seq 6, but the chain ends at seq 5", "deleted from the end");
    /* Truncated final line. */
    write_file(t, all, len - 10);
    expect_bad(t, key, NULL, "line 6: truncated final line", NULL);
    write_file(t, all, len - 1); /* only the newline lost */
    expect_bad(t, key, NULL, "line 6: truncated final line", NULL);
    /* Empty. */
    write_file(t, "", 0);
    expect_bad(t, key, NULL, "empty file", NULL);

    /* Appended forged line made without the key (right seq and prev). */
    char h6[65], line[512];
    field(l.p[5], "h", h6);
    size_t fl = forge(line, sizeof(line), NULL, 7, h6, "\"event\":\"auth.ok\",\"client_id\":\"x\"");
    char *app = malloc(len + fl);
    memcpy(app, all, len);
    memcpy(app + len, line, fl);
    write_file(t, app, len + fl);
    if (key)
        expect_bad(t, key, NULL, "line 7 (seq 7): hash mismatch", NULL);
    else
        assert_int_equal(verify1(t, NULL, NULL, msg, sizeof(msg)), 0); /* the known limit */
    free(app);

    /* A line replaced by one with the right seq but a made-up prev: broken link. */
    fl = forge(line, sizeof(line), key, 4,
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
               "\"event\":\"acl.deny\",\"topic\":\"x\"");
    FILE *f = fopen(t, "wb");
    for (int i = 0; i < 6; i++) {
        if (i == 3)
            fwrite(line, 1, fl, f);
        else
            fwrite(l.p[i], 1, l.len[i], f);
    }
    fclose(f);
    expect_bad(t, key, NULL, "line 4 (seq 4): broken prev link", NULL);

    /* Verified with the wrong key, or without the key, or a plain log with a key. */
    if (key) {
        expect_bad(logp, key2, NULL, "line 1 (seq 1): hash mismatch", NULL);
        expect_bad(logp, NULL, NULL, "line 1: the chain is keyed", NULL);
    } else {
        expect_bad(logp, key1, NULL, "line 1: the chain is not keyed", NULL);
    }
    free(l.buf);
}

static void test_tamper_plain(void **state)
{
    (void)state;
    tamper_cases(NULL);
}

static void test_tamper_keyed(void **state)
{
    (void)state;
    tamper_cases(key1);
}

/* Without a key anyone can rebuild the whole chain: only a head kept elsewhere catches it.
 * With a key, the rebuilt chain fails at its first line. */
static void test_rewritten_chain(void **state)
{
    (void)state;
    make_log(NULL);
    struct lines l;
    split(logp, &l);
    const char *rest[] = {
        "\"event\":\"audit_start\",\"format\":\"bulwark-audit-1\",\"chain\":\"plain\"",
        "\"event\":\"auth.ok\",\"client_id\":\"mallory\""};
    char prev[65], line[2][512];
    memset(prev, '0', 64);
    prev[64] = '\0';
    size_t n0 = forge(line[0], sizeof(line[0]), NULL, 1, prev, rest[0]);
    field(line[0], "h", prev);
    size_t n1 = forge(line[1], sizeof(line[1]), NULL, 2, prev, rest[1]);
    const char *t = path_in("rewritten.log");
    FILE *f = fopen(t, "wb");
    fwrite(line[0], 1, n0, f);
    fwrite(line[1], 1, n1, f);
    fclose(f);
    char msg[256];
    assert_int_equal(verify1(t, NULL, NULL, msg, sizeof(msg)), 0);
    /* The head (a copy kept elsewhere) records seq 6 and its hash: the chain is short. */
    expect_bad(t, NULL, headp, "records seq 6, but the chain ends at seq 2", NULL);
    /* Rebuilt up to the head's seq: the hash at that seq differs. */
    char cur[65];
    field(line[1], "h", cur);
    f = fopen(t, "ab");
    for (uint64_t s = 3; s <= 6; s++) {
        size_t k = forge(line[0], sizeof(line[0]), NULL, s, cur, "\"event\":\"x\"");
        fwrite(line[0], 1, k, f);
        field(line[0], "h", cur);
    }
    fclose(f);
    expect_bad(t, NULL, headp, "line 6 (seq 6): hash differs from the one in", NULL);
    free(l.buf);
}

static void test_head_is_a_lower_bound(void **state)
{
    (void)state;
    make_log(NULL);
    const char *old_head = path_in("old.head");
    size_t hl;
    char *h = read_file(headp, &hl);
    write_file(old_head, h, hl);
    free(h);
    struct audit_log *a = open_log(NULL, false);
    event(a, "later", "n", "1");
    audit_close(a);
    /* An older copy of the head still verifies: the chain went past it. */
    char msg[256];
    assert_int_equal(verify1(logp, NULL, old_head, msg, sizeof(msg)), 0);
    assert_int_equal(verify1(logp, NULL, headp, msg, sizeof(msg)), 0);
    /* A malformed or missing head is an error, not a pass. */
    write_file(old_head, "{\"seq\":6}\n", 10);
    expect_bad(logp, NULL, old_head, "not a head file", NULL);
    expect_bad(logp, NULL, path_in("missing.head"), "no such file", NULL);
}

static void test_open_refuses_bad_tail(void **state)
{
    (void)state;
    make_log(key1);
    struct lines l;
    split(logp, &l);
    const char *all = l.buf;
    size_t len = l.total;
    char err[512];
    struct audit_options o = {.key = key1};

    /* Lines deleted at the end: behind the head. */
    join(logp, &l, (const int[]){0, 1, 2, 3, -1});
    assert_null(audit_open_opts(logp, &o, err, sizeof(err)));
    assert_non_null(strstr(err, "ends at seq 4 but the chain reached seq 6"));
    /* The last line changed. */
    char *c = mutate(&l, 5, "\"2\"", 0, '#');
    write_file(logp, c, len);
    assert_null(audit_open_opts(logp, &o, err, sizeof(err)));
    assert_non_null(strstr(err, "not JSON-shaped"));
    free(c);
    c = mutate(&l, 5, "{\"ts\":\"2", 7, '1'); /* a digit of the year */
    write_file(logp, c, len);
    assert_null(audit_open_opts(logp, &o, err, sizeof(err)));
    assert_non_null(strstr(err, "hash does not verify"));
    free(c);
    /* A partial last line. */
    write_file(logp, all, len - 5);
    assert_null(audit_open_opts(logp, &o, err, sizeof(err)));
    assert_non_null(strstr(err, "truncated"));
    /* Another key. */
    write_file(logp, all, len);
    o.key = key2;
    assert_null(audit_open_opts(logp, &o, err, sizeof(err)));
    assert_non_null(strstr(err, "hash does not verify"));
    o.key = NULL;
    assert_null(audit_open_opts(logp, &o, err, sizeof(err)));
    /* A malformed head. */
    o.key = key1;
    write_file(headp, "garbage\n", 8);
    assert_null(audit_open_opts(logp, &o, err, sizeof(err)));
    assert_non_null(strstr(err, "not a head file"));
    unlink(headp);
    /* The right key and no head: continues. */
    struct audit_log *a = audit_open_opts(logp, &o, err, sizeof(err));
    assert_non_null(a);
    audit_close(a);
    free(l.buf);
    char msg[256];
    assert_int_equal(verify1(logp, key1, headp, msg, sizeof(msg)), 0);
}

static void test_rotation(void **state)
{
    (void)state;
    const char *rot1 = path_in("audit.log.1"), *rot2 = path_in("audit.log.2");
    struct audit_log *a = open_log(key1, false);
    event(a, "one", "n", "1");
    /* Nothing renamed: reopen is a no-op. */
    char err[256];
    assert_int_equal(audit_reopen(a, err, sizeof(err)), 0);
    assert_int_equal(audit_last_seq(a), 2);
    /* logrotate renames the file, then the daemon reopens. */
    assert_int_equal(rename(logp, rot1), 0);
    assert_int_equal(audit_reopen(a, err, sizeof(err)), 0);
    event(a, "two", "n", "2");
    audit_close(a);
    /* Renamed while the daemon was down: the new file continues from the head. */
    assert_int_equal(rename(logp, rot2), 0);
    a = open_log(key1, false);
    event(a, "three", "n", "3");
    audit_close(a);

    char msg[512];
    uint64_t n;
    assert_int_equal(
        verify((const char *[]){rot1, rot2, logp, NULL}, key1, headp, msg, sizeof(msg), &n), 0);
    assert_int_equal(n, 2 + 2 + 2);
    /* Alone, a later file verifies with a note that its predecessor was not checked. */
    struct audit_verifier v;
    audit_verifier_init(&v, key1);
    assert_int_equal(audit_verifier_file(&v, logp, &n, msg, sizeof(msg)), 0);
    assert_non_null(strstr(msg, "continues a chain up to seq 4"));
    audit_verifier_finish(&v, msg, sizeof(msg));
    /* A file missing from the sequence, or files out of order, break the link. */
    assert_int_equal(verify((const char *[]){rot1, logp, NULL}, key1, NULL, msg, sizeof(msg), &n),
                     1);
    assert_non_null(strstr(msg, "line 1: seq gap"));
    assert_int_equal(verify((const char *[]){rot2, rot1, NULL}, key1, NULL, msg, sizeof(msg), &n),
                     1);
    assert_non_null(strstr(msg, "line 1:"));
    /* The old file alone against the current head: the end is missing. */
    assert_int_equal(verify((const char *[]){rot1, NULL}, key1, headp, msg, sizeof(msg), &n), 1);
    assert_non_null(strstr(msg, "deleted from the end"));
}

static void test_failed_write_leaves_no_partial_line(void **state)
{
    (void)state;
    struct audit_log *a = open_log(NULL, true);
    struct stat st;
    assert_int_equal(stat(logp, &st), 0);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)st.st_size + 100; /* the next line gets cut after 100 bytes */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char v[400];
    memset(v, 'v', sizeof(v));
    struct audit_field f[] = {{"topic", v, sizeof(v)}};
    errno = 0;
    int rc = audit_event(a, "acl.deny", f, 1);
    int e = errno;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, -1);
    assert_int_equal(e, EFBIG);
    struct stat after;
    assert_int_equal(stat(logp, &after), 0);
    assert_int_equal(after.st_size, st.st_size);
    assert_int_equal(audit_last_seq(a), 1);
    event(a, "after", "x", "y");
    audit_close(a);
    char msg[256];
    uint64_t n;
    assert_int_equal(audit_verify_file(logp, msg, sizeof(msg), &n), 0);
    assert_int_equal(n, 2);
}

static void test_open_edge_cases(void **state)
{
    (void)state;
    char err[256];
    assert_null(audit_open("", err, sizeof(err)));
    assert_null(audit_open(NULL, err, sizeof(err)));
    audit_close(NULL);
    /* A symlink at the log path is refused (O_NOFOLLOW). */
    const char *target = path_in("target.log");
    write_file(target, "", 0);
    assert_int_equal(symlink(target, logp), 0);
    assert_null(audit_open(logp, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot open"));
    unlink(logp);
    /* A head that cannot be kept refuses the open: the end would go unanchored. */
    unlink(headp); /* the refused open above created it empty */
    assert_int_equal(mkdir(headp, 0700), 0);
    assert_null(audit_open(logp, err, sizeof(err)));
    assert_non_null(strstr(err, "audit.log.head"));
    rmdir(headp);
    unlink(logp);
    /* An empty head (created, then a crash before its first write) counts as no head. */
    write_file(headp, "", 0);
    struct audit_options o = {.sync_each = true};
    struct audit_log *a = audit_open_opts(logp, &o, err, sizeof(err));
    assert_non_null(a);
    event(a, "synced", "n", "1");
    assert_int_equal(audit_sync(a), 0);
    audit_close(a);
    char msg[256];
    assert_int_equal(verify1(logp, NULL, headp, msg, sizeof(msg)), 0);
    /* Without a head the file alone decides; a stale head is not touched. */
    o = (struct audit_options){.no_head = true};
    a = audit_open_opts(logp, &o, err, sizeof(err));
    assert_non_null(a);
    event(a, "unanchored", "n", "2");
    audit_close(a);
    size_t hl;
    char *h = read_file(headp, &hl);
    assert_non_null(strstr(h, "{\"seq\":2,"));
    free(h);
    assert_int_equal(verify1(logp, NULL, headp, msg, sizeof(msg)), 0);
}

static void test_key_files(void **state)
{
    (void)state;
    const char *kp = path_in("audit.key");
    char err[256];
    uint8_t k[32], zero[32] = {0};
    assert_int_equal(audit_key_generate(kp, err, sizeof(err)), 0);
    struct stat st;
    assert_int_equal(stat(kp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65);
    assert_int_equal(audit_key_generate(kp, err, sizeof(err)), -1); /* never replaces */
    assert_int_equal(audit_key_load(kp, k, err, sizeof(err)), 0);
    assert_memory_not_equal(k, zero, 32);
    assert_int_equal(chmod(kp, 0640), 0);
    assert_int_equal(audit_key_load(kp, k, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "chmod 600"));

    const char *bp = path_in("bad.key");
    static const char *const bad[] = {
        "", "abc\n", "zz23456789012345678901234567890123456789012345678901234567890123\n",
        "0123456789012345678901234567890123456789012345678901234567890123\n\n",
        "012345678901234567890123456789012345678901234567890123456789012\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unlink(bp);
        int fd = open(bp, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
        close(fd);
        assert_int_equal(audit_key_load(bp, k, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "not an audit key"));
    }
    unlink(bp);
    int fd = open(bp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    const char *good = "000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f";
    assert_int_equal(write(fd, good, 64), 64);
    close(fd);
    assert_int_equal(audit_key_load(bp, k, err, sizeof(err)), 0);
    for (int i = 0; i < 32; i++)
        assert_int_equal(k[i], i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_json_bounds),
        cmocka_unit_test_setup_teardown(test_line_shape_and_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_line_too_long_is_refused_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_and_bad_names_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_appends_and_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_keyed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewritten_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_is_a_lower_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_bad_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_leaves_no_partial_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_edge_cases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
