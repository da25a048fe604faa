/* Unit tests for the `tls:` block of a listener in common/config.c: defaults, relative paths,
 * choices, the rules between keys, and FILE:LINE:COLUMN errors that leave *cfg untouched. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static struct config *cfg, *snap;
static char dir[64], path[128], err[2048];

static int setup(void **state)
{
    (void)state;
    cfg = malloc(sizeof(*cfg));
    snap = malloc(sizeof(*snap));
    snprintf(dir, sizeof(dir), "/tmp/bulwark-test-tls-XXXXXX");
    if (!cfg || !snap || !mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/bulwark.yaml", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    free(cfg);
    free(snap);
    return 0;
}

static int load(const char *tls_block)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "listeners:\n  - host: 127.0.0.1\n    port: 8883\n    tls:\n%s", tls_block);
    fclose(f);
    config_defaults(cfg);
    memcpy(snap, cfg, sizeof(*cfg));
    err[0] = '\0';
    return config_load_file(cfg, path, err, sizeof(err));
}

static void expect_error(const char *block, int line, int col, const char *needle)
{
    assert_int_equal(load(block), -1);
    char want[256];
    snprintf(want, sizeof(want), "%s:%d:%d: ", path, line, col);
    if (strncmp(want, err, strlen(want)) != 0)
        fail_msg("wanted prefix '%s', got '%s'", want, err);
    if (!strstr(err, needle))
        fail_msg("'%s' not found in '%s'", needle, err);
    assert_memory_equal(cfg, snap, sizeof(*cfg));
}

static void test_minimal_block_and_defaults(void **state)
{
    (void)state;
    assert_int_equal(load("      cert: s.crt\n      key: /etc/k.key\n"), 0);
    const struct config_tls *t = &cfg->listeners[0].tls;
    assert_true(t->enabled);
    char want[256];
    snprintf(want, sizeof(want), "%s/s.crt", dir); /* relative to the file's directory */
    assert_string_equal(t->cert, want);
    assert_string_equal(t->key, "/etc/k.key"); /* absolute stays */
    assert_int_equal(t->client_certs, CLIENT_CERTS_NONE);
    assert_int_equal(t->min_version, 12);
    assert_true(t->bind_client_id);
    assert_int_equal(t->handshake_timeout_ms, 10000);
    assert_string_equal(t->ca, "");
    assert_string_equal(t->ciphers, "");
}

static void test_full_block(void **state)
{
    (void)state;
    assert_int_equal(load("      cert: a.crt\n      key: a.key\n      ca: ca.crt\n"
                          "      client_certs: required\n      revoked: rev/revoked\n"
                          "      min_version: \"1.3\"\n      bind_client_id: false\n"
                          "      handshake_timeout_ms: 100\n"
                          "      ciphers: TLS13-AES128-GCM-SHA256\n"),
                     0);
    const struct config_tls *t = &cfg->listeners[0].tls;
    assert_int_equal(t->client_certs, CLIENT_CERTS_REQUIRED);
    assert_int_equal(t->min_version, 13);
    assert_false(t->bind_client_id);
    assert_int_equal(t->handshake_timeout_ms, 100);
    assert_string_equal(t->ciphers, "TLS13-AES128-GCM-SHA256");
    char want[256];
    snprintf(want, sizeof(want), "%s/rev/revoked", dir);
    assert_string_equal(t->revoked, want);
    assert_int_equal(
        load("      cert: a\n      key: b\n      ca: c\n      client_certs: optional\n"), 0);
    assert_int_equal(cfg->listeners[0].tls.client_certs, CLIENT_CERTS_OPTIONAL);
}

static void test_plain_listener_has_tls_off(void **state)
{
    (void)state;
    struct config_listener l;
    memset(&l, 0x5a, sizeof(l));
    assert_int_equal(config_parse_listen(&l, "127.0.0.1:1883", err, sizeof(err)), 0);
    assert_false(l.tls.enabled);
    assert_string_equal(l.tls.cert, "");
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("      cert: a\n", 5, 7, "'cert' and 'key' are both required");
    expect_error("      cert: a\n      key: b\n      client_certs: required\n", 5, 7, "needs 'ca'");
    expect_error("      cert: a\n      key: b\n      revoked: r\n", 5, 7,
                 "'revoked' only applies with client_certs");
    expect_error("      cert: a\n      key: b\n      min_version: \"1.1\"\n", 7, 20,
                 "expected one of 1.2, 1.3");
    expect_error("      cert: a\n      key: b\n      client_certs: yes-please\n", 7, 21,
                 "expected one of none, optional, required");
    expect_error("      cert: a\n      key: b\n      handshake_timeout_ms: 99\n", 7, 29,
                 "out of range (100..600000)");
    expect_error("      cert: a\n      key: b\n      cert: c\n", 7, 7, "duplicate key 'cert'");
    expect_error("      cert: a\n      key: b\n      alpn: mqtt\n", 7, 7, "unknown key 'alpn'");
    expect_error("      cert: \"\"\n      key: b\n", 5, 13, "must not be empty");
    expect_error("      cert: a\n      key: b\n      bind_client_id: maybe\n", 7, 23,
                 "expected a boolean");
}

static void test_long_relative_path_refused(void **state)
{
    (void)state;
    char block[1200];
    char name[CONFIG_PATH_MAX];
    memset(name, 'p', sizeof(name) - 20);
    name[sizeof(name) - 20] = '\0';
    /* fits on its own, not once the configuration's directory is put in front */
    snprintf(block, sizeof(block), "      cert: %s\n      key: b\n", name);
    expect_error(block, 5, 13, "path too long");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_block_and_defaults), cmocka_unit_test(test_full_block),
        cmocka_unit_test(test_plain_listener_has_tls_off), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_long_relative_path_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
