/* Unit tests for common/config.c: defaults, bulwark.yaml parsing and its error reports. */
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
#include "log.h"

/* struct config is large: never on the stack. */
static struct config *cfg, *snap;
static char dir[64];
static char path[128];
static char err[2048];

static int setup(void **state)
{
    (void)state;
    cfg = malloc(sizeof(*cfg));
    snap = malloc(sizeof(*snap));
    snprintf(dir, sizeof(dir), "/tmp/bulwark-test-config-XXXXXX");
    if (!cfg || !snap || !mkdtemp(dir)) return -1;
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

static void write_bytes(const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_conf(const char *text)
{
    write_bytes(text, strlen(text));
}

static void load_ok(const char *text)
{
    write_conf(text);
    err[0] = '\0';
    int rc = config_load_file(cfg, path, err, sizeof(err));
    if (rc != 0) fail_msg("unexpected error: %s", err);
}

/* A non-default configuration the failed load must leave alone byte for byte. */
static void prime(void)
{
    config_defaults(cfg);
    snprintf(cfg->path, sizeof(cfg->path), "previous.yaml");
    cfg->n_listeners = 1;
    snprintf(cfg->listeners[0].host, sizeof(cfg->listeners[0].host), "10.0.0.1");
    cfg->listeners[0].port = 8883;
    cfg->limits.max_inflight = 7;
    cfg->log_level = LOG_DEBUG;
    memcpy(snap, cfg, sizeof(*cfg));
}

static void check_error(int line, int col, const char *needle)
{
    prime();
    err[0] = '\0';
    assert_int_equal(config_load_file(cfg, path, err, sizeof(err)), -1);
    char want[256];
    snprintf(want, sizeof(want), "%s:%d:%d: ", path, line, col);
    if (strncmp(want, err, strlen(want)) != 0) fail_msg("wanted prefix '%s', got '%s'", want, err);
    if (!strstr(err, needle)) fail_msg("'%s' not found in '%s'", needle, err);
    assert_memory_equal(cfg, snap, sizeof(*cfg));
}

/* Writes text and expects "PATH:line:col: ...needle..." with *cfg untouched. */
static void expect_error(const char *text, int line, int col, const char *needle)
{
    write_conf(text);
    check_error(line, col, needle);
}

#define HASH "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"

static void test_defaults(void **state)
{
    (void)state;
    memset(cfg, 0xA5, sizeof(*cfg));
    config_defaults(cfg);
    assert_string_equal(cfg->path, "");
    assert_int_equal(cfg->n_listeners, 0);
    assert_false(cfg->allow_anonymous);
    assert_int_equal(cfg->n_users, 0);
    assert_int_equal(cfg->log_level, LOG_INFO);
    const struct config_limits *l = &cfg->limits;
    assert_int_equal(l->max_packet_size, 1048576);
    assert_int_equal(l->max_connections, 10000);
    assert_int_equal(l->max_inflight, 20);
    assert_int_equal(l->max_queued_messages, 1000);
    assert_int_equal(l->max_queued_bytes, 8388608);
    assert_int_equal(l->max_topic_length, 1024);
    assert_int_equal(l->max_topic_levels, 32);
    assert_int_equal(l->max_client_id_length, 256);
    assert_int_equal(l->connect_timeout_ms, 10000);
    assert_int_equal(l->auth_timeout_ms, 5000);
    assert_int_equal(l->verdict_cache_size, 256);
    assert_int_equal(l->max_inbound_qos2, 1000);
    assert_int_equal(l->max_sessions, 100000);
    assert_string_equal(cfg->sandbox.worker.user, "bulwark-worker");
    assert_string_equal(cfg->sandbox.worker.group, "bulwark");
    assert_string_equal(cfg->sandbox.auth.user, "bulwark-auth");
    assert_string_equal(cfg->sandbox.auth.group, "bulwark");
    assert_false(cfg->sandbox.allow_root);
    assert_int_equal(cfg->supervisor.max_restarts, 10);
    assert_int_equal(cfg->supervisor.restart_window_s, 300);
}

static void test_full_file(void **state)
{
    (void)state;
    prime();
    load_ok("# every key, none at its default\n"
            "listeners:\n"
            "  - host: 0.0.0.0\n"
            "    port: 1883\n"
            "  - {host: \"::1\", port: 65535}\n"
            "  - port: 0\n"
            "    host: localhost\n"
            "allow_anonymous: yes\n"
            "users:\n"
            "  - username: alice\n"
            "    password_hash: \"" HASH "\"\n"
            "  - password_hash: '$argon2i$v=19$m=4096,t=3,p=1$abc$def'\n"
            "    username: \"b\\u00f6b\"\n"
            "limits:\n"
            "  max_packet_size: 268435460\n"
            "  max_connections: 1\n"
            "  max_inflight: 65535\n"
            "  max_queued_messages: 4294967295\n"
            "  max_queued_bytes: 2\n"
            "  max_topic_length: 65535\n"
            "  max_topic_levels: 3\n"
            "  max_client_id_length: 23\n"
            "  connect_timeout_ms: 3600000\n"
            "  auth_timeout_ms: 1\n"
            "  verdict_cache_size: 5\n"
            "  max_inbound_qos2: 6\n"
            "  max_sessions: 7\n"
            "sandbox:\n"
            "  allow_root: yes\n"
            "  auth: {group: keys, user: mqtt-auth}\n"
            "  worker:\n"
            "    user: mqtt.worker_1\n"
            "    group: net\n"
            "supervisor:\n"
            "  restart_window_s: 86400\n"
            "  max_restarts: 1000\n"
            "log_level: debug\n");
    assert_string_equal(cfg->path, path);
    assert_int_equal(cfg->n_listeners, 3);
    assert_string_equal(cfg->listeners[0].host, "0.0.0.0");
    assert_int_equal(cfg->listeners[0].port, 1883);
    assert_string_equal(cfg->listeners[1].host, "::1");
    assert_int_equal(cfg->listeners[1].port, 65535);
    assert_string_equal(cfg->listeners[2].host, "localhost");
    assert_int_equal(cfg->listeners[2].port, 0);
    assert_true(cfg->allow_anonymous);
    assert_int_equal(cfg->n_users, 2);
    assert_string_equal(cfg->users[0].username, "alice");
    assert_string_equal(cfg->users[0].password_hash, HASH);
    assert_string_equal(cfg->users[1].username, "b\xc3\xb6"
                                                "b");
    assert_string_equal(cfg->users[1].password_hash, "$argon2i$v=19$m=4096,t=3,p=1$abc$def");
    const struct config_limits *l = &cfg->limits;
    assert_int_equal(l->max_packet_size, 268435460);
    assert_int_equal(l->max_connections, 1);
    assert_int_equal(l->max_inflight, 65535);
    assert_int_equal(l->max_queued_messages, 4294967295u);
    assert_int_equal(l->max_queued_bytes, 2);
    assert_int_equal(l->max_topic_length, 65535);
    assert_int_equal(l->max_topic_levels, 3);
    assert_int_equal(l->max_client_id_length, 23);
    assert_int_equal(l->connect_timeout_ms, 3600000);
    assert_int_equal(l->auth_timeout_ms, 1);
    assert_int_equal(l->verdict_cache_size, 5);
    assert_int_equal(l->max_inbound_qos2, 6);
    assert_int_equal(l->max_sessions, 7);
    assert_true(cfg->sandbox.allow_root);
    assert_string_equal(cfg->sandbox.worker.user, "mqtt.worker_1");
    assert_string_equal(cfg->sandbox.worker.group, "net");
    assert_string_equal(cfg->sandbox.auth.user, "mqtt-auth");
    assert_string_equal(cfg->sandbox.auth.group, "keys");
    assert_int_equal(cfg->supervisor.max_restarts, 1000);
    assert_int_equal(cfg->supervisor.restart_window_s, 86400);
    assert_int_equal(cfg->log_level, LOG_DEBUG);
}

/* The shipped example parses and documents exactly the built-in defaults. */
static void test_deploy_example(void **state)
{
    (void)state;
    static struct config defaults;
    config_defaults(&defaults);
    prime();
    if (config_load_file(cfg, "deploy/bulwark.yaml", err, sizeof(err)) != 0)
        fail_msg("deploy/bulwark.yaml (run from the repository root): %s", err);
    assert_string_equal(cfg->path, "deploy/bulwark.yaml");
    assert_int_equal(cfg->n_listeners, 1);
    assert_string_equal(cfg->listeners[0].host, "127.0.0.1");
    assert_int_equal(cfg->listeners[0].port, 1883);
    assert_int_equal(cfg->allow_anonymous, defaults.allow_anonymous);
    assert_int_equal(cfg->n_users, 1);
    assert_string_equal(cfg->users[0].username, "alice");
    assert_memory_equal(&cfg->limits, &defaults.limits, sizeof(defaults.limits));
    assert_memory_equal(&cfg->sandbox, &defaults.sandbox, sizeof(defaults.sandbox));
    assert_memory_equal(&cfg->supervisor, &defaults.supervisor, sizeof(defaults.supervisor));
    assert_int_equal(cfg->log_level, defaults.log_level);
}

/* Keys left out take their defaults, not whatever *cfg held before. */
static void test_partial_and_empty(void **state)
{
    (void)state;
    static struct config defaults;
    config_defaults(&defaults);

    prime();
    load_ok("limits:\n  max_topic_levels: 9\n");
    assert_int_equal(cfg->limits.max_topic_levels, 9);
    assert_int_equal(cfg->limits.max_inflight, defaults.limits.max_inflight);
    assert_int_equal(cfg->n_listeners, 0);
    assert_int_equal(cfg->log_level, LOG_INFO);

    const char *empties[] = {"",    "# only a comment\n",         "---\n",
                             "~\n", "listeners: []\nusers: []\n", "limits: {}\n"};
    for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
        prime();
        load_ok(empties[i]);
        memcpy(defaults.path, path, strlen(path) + 1);
        assert_memory_equal(cfg, &defaults, sizeof(defaults));
    }
}

static void test_booleans_and_levels(void **state)
{
    (void)state;
    const char *yes[] = {"allow_anonymous: true\n", "allow_anonymous: yes\n"};
    const char *no[] = {"allow_anonymous: false\n", "allow_anonymous: no\n"};
    for (int i = 0; i < 2; i++) {
        load_ok(yes[i]);
        assert_true(cfg->allow_anonymous);
        load_ok(no[i]);
        assert_false(cfg->allow_anonymous);
    }
    const char *levels[] = {"error", "warn", "info", "debug"};
    int want[] = {LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG};
    char text[64];
    for (int i = 0; i < 4; i++) {
        snprintf(text, sizeof(text), "log_level: %s\n", levels[i]);
        load_ok(text);
        assert_int_equal(cfg->log_level, want[i]);
    }
}

static void test_syntax_errors(void **state)
{
    (void)state;
    /* A tab cannot indent YAML. */
    expect_error("limits:\n\tmax_inflight: 5\n", 2, 1, "cannot start any token");
    /* An unclosed flow sequence. */
    expect_error("log_level: info\nlisteners: [\n  {host: 127.0.0.1, port: 1}\n", 4, 1,
                 "while parsing a flow");
    /* A key at the wrong indentation. */
    expect_error("limits:\n  max_inflight: 5\n   max_sessions: 3\n", 3, 16,
                 "mapping values are not allowed");
    /* An alias to nothing. */
    expect_error("log_level: *nowhere\n", 1, 12, "undefined alias");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    const char text[] = "log_level: info\nusers:\n  - username: a\xff\n";
    write_bytes(text, sizeof(text) - 1);
    check_error(3, 16, "UTF-8");
}

static void test_unknown_keys(void **state)
{
    (void)state;
    expect_error("log_level: info\nlistners: []\n", 2, 1,
                 "unknown key 'listners' in the top level (allowed: listeners, allow_anonymous, "
                 "users, limits, log_level, sandbox, supervisor, policy, auth)");
    expect_error("limits:\n  max_inflight: 5\n  max_infligt: 5\n", 3, 3,
                 "unknown key 'max_infligt' in limits (allowed: max_packet_size,");
    expect_error("listeners:\n  - host: 127.0.0.1\n    port: 1\n    backlog: 5\n", 4, 5,
                 "unknown key 'backlog' in a listener (allowed: host, port, tls)");
    expect_error("users:\n  - username: a\n    password: x\n", 3, 5,
                 "unknown key 'password' in a user (allowed: username, password_hash)");
    /* Keys are exact: no case folding, no embedded NUL tricks. */
    expect_error("Log_level: info\n", 1, 1, "unknown key 'Log_level'");
    expect_error("\"log_level\\0x\": info\n", 1, 1, "unknown key 'log_level'");
    /* A key that is not a scalar. */
    expect_error("? [a, b]\n: 1\n", 1, 3, "expected a scalar key");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_error("- listeners\n", 1, 1, "top level must be a mapping");
    expect_error("just text\n", 1, 1, "top level must be a mapping");
    expect_error("listeners: 5\n", 1, 12, "'listeners': expected a sequence, found a plain scalar");
    expect_error("listeners:\n", 1, 11, "'listeners': expected a sequence, found an empty value");
    expect_error("listeners:\n  - 127.0.0.1:1883\n", 2, 5, "expected a mapping");
    expect_error("users: {alice: x}\n", 1, 8, "'users': expected a sequence, found a mapping");
    expect_error("users:\n  - [alice]\n", 2, 5, "expected a mapping, found a sequence");
    expect_error("limits: [1, 2]\n", 1, 9, "'limits': expected a mapping, found a sequence");
    expect_error("listeners:\n  - host: [127.0.0.1]\n    port: 1\n", 2, 11,
                 "'host': expected a string, found a sequence");
    expect_error("users:\n  - username: {a: b}\n", 2, 15, "'username': expected a string");
    expect_error("log_level: [info]\n", 1, 12, "'log_level': expected one of error, warn, info");
    expect_error("log_level: verbose\n", 1, 12, "'log_level': expected one of error, warn, info");
}

static void test_integers(void **state)
{
    (void)state;
    const char *bad[] = {"abc", "\"20\"", "'20'", "0x10",           "+5", "-1",  "1_000",
                         "020", "1.5",    "1e3",  "20 # c\n  x: 1", "~",  "[20]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "limits:\n  max_inflight: %s\n", bad[i]);
        if (i == 10) /* the comment is fine; the unknown key after it is the error */
            expect_error(text, 3, 3, "unknown key 'x'");
        else
            expect_error(text, 2, 17, "'max_inflight': expected an integer");
    }
    expect_error("limits:\n  max_inflight: -1\n", 2, 17, "found '-1'");
    expect_error("limits:\n  max_inflight: \"20\"\n", 2, 17, "found a quoted string");
    /* Overflow of 32 and 64 bits is out of range, never wrapped. */
    expect_error("limits:\n  max_sessions: 4294967296\n", 2, 17,
                 "'max_sessions': 4294967296 is out of range (1..4294967295)");
    expect_error("limits:\n  max_sessions: 18446744073709551617\n", 2, 17, "is out of range");
    expect_error("limits:\n  max_sessions: 99999999999999999999999999999999\n", 2, 17,
                 "is out of range (1..4294967295)");
}

static void test_limit_ranges(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        const char *max, *over;
    } lim[] = {
        {"max_packet_size", "268435460", "268435461"},
        {"max_connections", "4294967295", "4294967296"},
        {"max_inflight", "65535", "65536"},
        {"max_queued_messages", "4294967295", "4294967296"},
        {"max_queued_bytes", "4294967295", "4294967296"},
        {"max_topic_length", "65535", "65536"},
        {"max_topic_levels", "4294967295", "4294967296"},
        {"max_client_id_length", "4294967295", "4294967296"},
        {"connect_timeout_ms", "3600000", "3600001"},
        {"auth_timeout_ms", "3600000", "3600001"},
        {"verdict_cache_size", "4294967295", "4294967296"},
        {"max_inbound_qos2", "4294967295", "4294967296"},
        {"max_sessions", "4294967295", "4294967296"},
    };
    char text[128], msg[128];
    for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
        snprintf(text, sizeof(text), "limits:\n  %s: %s\n", lim[i].key, lim[i].max);
        load_ok(text);
        snprintf(text, sizeof(text), "limits:\n  %s: 1\n", lim[i].key);
        load_ok(text);
        int col = 3 + (int)strlen(lim[i].key) + 2;
        snprintf(text, sizeof(text), "limits:\n  %s: 0\n", lim[i].key);
        snprintf(msg, sizeof(msg), "'%s': 0 is out of range (1..%s)", lim[i].key, lim[i].max);
        expect_error(text, 2, col, msg);
        snprintf(text, sizeof(text), "limits:\n  %s: %s\n", lim[i].key, lim[i].over);
        snprintf(msg, sizeof(msg), "'%s': %s is out of range (1..%s)", lim[i].key, lim[i].over,
                 lim[i].max);
        expect_error(text, 2, col, msg);
    }
}

static void test_booleans_wrong(void **state)
{
    (void)state;
    const char *bad[] = {"True", "on", "1", "\"true\"", "y", "~"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[64];
        snprintf(text, sizeof(text), "allow_anonymous: %s\n", bad[i]);
        expect_error(text, 1, 18, "'allow_anonymous': expected a boolean (true, false, yes or no)");
    }
    expect_error("allow_anonymous: [true]\n", 1, 18, "expected a boolean");
}

static void test_listeners(void **state)
{
    (void)state;
    expect_error("listeners:\n  - host: 127.0.0.1\n    port: 65536\n", 3, 11,
                 "'port': 65536 is out of range (0..65535)");
    expect_error("listeners:\n  - host: 127.0.0.1\n    port: \"1883\"\n", 3, 11,
                 "'port': expected an integer");
    expect_error("listeners:\n  - host: example.com\n    port: 1\n", 2, 11,
                 "'host': 'example.com' is not a numeric IPv4/IPv6 address or localhost");
    expect_error("listeners:\n  - host: \"[::1]\"\n    port: 1\n", 2, 11, "is not a numeric");
    expect_error("listeners:\n  - host: \"\"\n    port: 1\n", 2, 11, "'host': must not be empty");
    expect_error("listeners:\n  - host:\n    port: 1\n", 2, 10,
                 "'host': expected a string, found an empty value");
    /* 63 bytes fit the field; 64 do not. */
    char text[256], host[65];
    memset(host, '1', 64);
    host[64] = '\0';
    snprintf(text, sizeof(text), "listeners:\n  - host: \"%s\"\n    port: 1\n", host);
    expect_error(text, 2, 11, "'host': too long (64 bytes, at most 63)");
    load_ok("listeners:\n  - host: \"0000:0000:0000:0000:0000:ffff:192.168.100.200\"\n"
            "    port: 1\n");
    assert_string_equal(cfg->listeners[0].host, "0000:0000:0000:0000:0000:ffff:192.168.100.200");
}

static void test_missing_fields(void **state)
{
    (void)state;
    expect_error("listeners:\n  - host: 127.0.0.1\n", 2, 5, "listener is missing 'port'");
    expect_error("listeners:\n  - port: 1883\n", 2, 5, "listener is missing 'host'");
    expect_error("listeners:\n  - {}\n", 2, 5, "listener is missing 'host'");
    expect_error("users:\n  - username: alice\n", 2, 5, "user is missing 'password_hash'");
    expect_error("users:\n  - password_hash: '" HASH "'\n", 2, 5, "user is missing 'username'");
}

static void test_duplicates(void **state)
{
    (void)state;
    expect_error("log_level: info\nallow_anonymous: no\nlog_level: warn\n", 3, 1,
                 "duplicate key 'log_level' in the top level");
    expect_error("limits:\n  max_inflight: 1\n  max_inflight: 2\n", 3, 3,
                 "duplicate key 'max_inflight' in limits");
    expect_error("listeners:\n  - {host: 127.0.0.1, port: 1, port: 2}\n", 2, 32,
                 "duplicate key 'port' in a listener");
    expect_error("users:\n  - username: a\n    username: b\n", 3, 5,
                 "duplicate key 'username' in a user");
    expect_error("users:\n"
                 "  - username: alice\n"
                 "    password_hash: '" HASH "'\n"
                 "  - username: bob\n"
                 "    password_hash: '" HASH "'\n"
                 "  - password_hash: '" HASH "'\n"
                 "    username: alice\n",
                 7, 15, "duplicate username 'alice' (first defined at line 2)");
}

static void test_users(void **state)
{
    (void)state;
    expect_error("users:\n  - username: ''\n    password_hash: '" HASH "'\n", 2, 15,
                 "'username': must not be empty");
    expect_error("users:\n  - username:\n    password_hash: '" HASH "'\n", 2, 14,
                 "'username': expected a string, found an empty value");
    expect_error("users:\n  - username: \"a\\0b\"\n    password_hash: '" HASH "'\n", 2, 15,
                 "'username': must not contain a NUL character");
    expect_error("users:\n  - username: a\n    password_hash: 'hunter2'\n", 3, 20,
                 "'password_hash': expected an argon2 hash starting with '$argon2id$'");
    expect_error("users:\n  - username: a\n    password_hash: '$argon2d$v=19$m=1,t=1,p=1$a$b'\n", 3,
                 20, "expected an argon2 hash");
    expect_error("users:\n  - username: a\n    password_hash: '$argon2id$v=19 x'\n", 3, 20,
                 "expected an argon2 hash");

    /* Field sizes: 127 + NUL and 191 + NUL fit, one more byte does not. */
    char name[129], hash[193], text[512];
    memset(name, 'n', 128);
    name[128] = '\0';
    snprintf(hash, sizeof(hash), "$argon2id$");
    memset(hash + 10, 'h', 182);
    hash[192] = '\0';
    snprintf(text, sizeof(text), "users:\n  - username: %s\n    password_hash: '%s'\n", name, HASH);
    expect_error(text, 2, 15, "'username': too long (128 bytes, at most 127)");
    snprintf(text, sizeof(text), "users:\n  - username: a\n    password_hash: '%s'\n", hash);
    expect_error(text, 3, 20, "'password_hash': too long (192 bytes, at most 191)");
    name[127] = '\0';
    hash[191] = '\0';
    snprintf(text, sizeof(text), "users:\n  - username: %s\n    password_hash: '%s'\n", name, hash);
    load_ok(text);
    assert_int_equal(cfg->n_users, 1);
    assert_string_equal(cfg->users[0].username, name);
    assert_string_equal(cfg->users[0].password_hash, hash);
}

static void test_sandbox_keys(void **state)
{
    (void)state;
    static struct config defaults;
    config_defaults(&defaults);
    /* One role given: the other keeps its default; a role's group may be left out. */
    load_ok("sandbox:\n  auth:\n    user: other\n");
    assert_string_equal(cfg->sandbox.auth.user, "other");
    assert_string_equal(cfg->sandbox.auth.group, "bulwark");
    assert_memory_equal(&cfg->sandbox.worker, &defaults.sandbox.worker,
                        sizeof(defaults.sandbox.worker));
    load_ok("sandbox: {}\nsupervisor: {}\n");
    assert_memory_equal(&cfg->sandbox, &defaults.sandbox, sizeof(defaults.sandbox));
    assert_memory_equal(&cfg->supervisor, &defaults.supervisor, sizeof(defaults.supervisor));

    expect_error("sandbox:\n  workers: {user: a}\n", 2, 3,
                 "unknown key 'workers' in sandbox (allowed: worker, auth, allow_root)");
    expect_error("sandbox:\n  worker: {user: a, uid: 5}\n", 2, 21,
                 "unknown key 'uid' in sandbox.worker (allowed: user, group)");
    expect_error("sandbox:\n  auth: {user: a, user: b}\n", 2, 19,
                 "duplicate key 'user' in sandbox.auth");
    expect_error("sandbox:\n  worker: bulwark-worker\n", 2, 11,
                 "'sandbox.worker': expected a mapping, found a plain scalar");
    expect_error("sandbox: [worker]\n", 1, 10, "'sandbox': expected a mapping, found a sequence");
    expect_error("sandbox:\n  allow_root: 1\n", 2, 15, "'allow_root': expected a boolean");
    expect_error("sandbox:\n  worker: {user: ''}\n", 2, 18, "'user': must not be empty");
    expect_error("sandbox:\n  worker: {user: -rf}\n", 2, 18,
                 "'user': '-rf' is not a user or group name");
    expect_error("sandbox:\n  worker: {group: 'a b'}\n", 2, 19,
                 "'group': 'a b' is not a user or group name");
    expect_error("sandbox:\n  worker: {user: 'a/../b'}\n", 2, 18, "is not a user or group name");
    expect_error("sandbox:\n  auth: {user: [a]}\n", 2, 16, "'user': expected a string");

    /* 63 bytes of name fit, 64 do not. */
    char name[65], text[160];
    memset(name, 'u', 64);
    name[64] = '\0';
    snprintf(text, sizeof(text), "sandbox:\n  worker: {user: %s}\n", name);
    expect_error(text, 2, 18, "'user': too long (64 bytes, at most 63)");
    name[63] = '\0';
    snprintf(text, sizeof(text), "sandbox:\n  worker: {user: %s}\n", name);
    load_ok(text);
    assert_string_equal(cfg->sandbox.worker.user, name);
}

static void test_supervisor_keys(void **state)
{
    (void)state;
    load_ok("supervisor:\n  max_restarts: 1\n  restart_window_s: 1\n");
    assert_int_equal(cfg->supervisor.max_restarts, 1);
    assert_int_equal(cfg->supervisor.restart_window_s, 1);
    expect_error("supervisor:\n  max_restarts: 0\n", 2, 17,
                 "'max_restarts': 0 is out of range (1..1000)");
    expect_error("supervisor:\n  max_restarts: 1001\n", 2, 17,
                 "'max_restarts': 1001 is out of range (1..1000)");
    expect_error("supervisor:\n  restart_window_s: 0\n", 2, 21,
                 "'restart_window_s': 0 is out of range (1..86400)");
    expect_error("supervisor:\n  restart_window_s: 86401\n", 2, 21,
                 "'restart_window_s': 86401 is out of range (1..86400)");
    expect_error("supervisor:\n  max_restart: 3\n", 2, 3,
                 "unknown key 'max_restart' in supervisor (allowed: max_restarts, "
                 "restart_window_s)");
    expect_error("supervisor: 5\n", 1, 13, "'supervisor': expected a mapping");
}

static void test_policy_and_auth_keys(void **state)
{
    (void)state;
    load_ok("policy: policy.yaml\n"
            "auth:\n"
            "  backends: [token, password]\n"
            "  plugins:\n"
            "    - path: /usr/lib/bulwark/example.so\n"
            "      config: \"users=/etc/bulwark/users\"\n"
            "  token_leeway_s: 0\n"
            "  audit_log: /var/log/bulwark/audit.log\n"
            "  audit_key: /etc/bulwark/audit.key\n"
            "  bf_free_failures: 0\n"
            "  bf_base_delay_ms: 10\n"
            "  bf_max_delay_ms: 10\n"
            "  bf_window_s: 1\n"
            "  bf_max_tracked: 1\n"
            "  verify_cache_size: 0\n"
            "  verify_cache_ttl_s: 86400\n");
    assert_string_equal(cfg->policy, "policy.yaml");
    assert_int_equal(cfg->auth.order[0], BACKEND_TOKEN);
    assert_int_equal(cfg->auth.order[1], BACKEND_PASSWORD);
    assert_int_equal(cfg->auth.order[2], 0); /* plugins not listed: not asked */
    assert_int_equal(cfg->auth.n_plugins, 1);
    assert_string_equal(cfg->auth.plugins[0].path, "/usr/lib/bulwark/example.so");
    assert_string_equal(cfg->auth.plugins[0].config, "users=/etc/bulwark/users");
    assert_int_equal(cfg->auth.token_leeway_s, 0);
    assert_string_equal(cfg->auth.audit_log, "/var/log/bulwark/audit.log");
    assert_int_equal(cfg->auth.bf_max_tracked, 1);
    assert_int_equal(cfg->auth.verify_cache_size, 0);
    assert_int_equal(cfg->auth.verify_cache_ttl_s, 86400);
    /* Defaults: every backend, in the order password, token, plugins. */
    load_ok("log_level: info\n");
    assert_int_equal(cfg->auth.order[0], BACKEND_PASSWORD);
    assert_int_equal(cfg->auth.order[1], BACKEND_TOKEN);
    assert_int_equal(cfg->auth.order[2], BACKEND_PLUGINS);
    assert_int_equal(cfg->auth.bf_free_failures, 5);
    expect_error("auth:\n  backends: [password, ldap]\n", 2, 24,
                 "'auth.backends': expected password, token or plugins");
    expect_error("auth:\n  backends: [password, password]\n", 2, 24,
                 "'password' is listed twice");
    expect_error("auth:\n  plugins:\n    - path: relative.so\n", 3, 13,
                 "a plugin path must be absolute");
    expect_error("auth:\n  plugins:\n    - config: x\n", 3, 7, "a plugin needs 'path'");
    expect_error("auth:\n  token_leeway_s: 601\n", 2, 19,
                 "'token_leeway_s': 601 is out of range (0..600)");
    expect_error("auth:\n  bf_base_delay_ms: 100\n  bf_max_delay_ms: 10\n", 2, 3,
                 "bf_max_delay_ms must be at least bf_base_delay_ms");
    expect_error("auth:\n  audit: x\n", 2, 3, "unknown key 'audit' in auth (allowed: backends,");
    expect_error("policy: [a]\n", 1, 9, "'policy'");
}

static void test_policy_path(void **state)
{
    (void)state;
    static struct config c;
    char out[CONFIG_PATH_MAX + 512];
    config_defaults(&c);
    assert_string_equal(config_policy_path(&c, out, sizeof(out)), "");
    snprintf(c.path, sizeof(c.path), "/etc/bulwark/bulwark.yaml");
    assert_string_equal(config_policy_path(&c, out, sizeof(out)), "");
    snprintf(c.policy, sizeof(c.policy), "policy.yaml");
    assert_string_equal(config_policy_path(&c, out, sizeof(out)), "/etc/bulwark/policy.yaml");
    snprintf(c.policy, sizeof(c.policy), "../p/policy.yaml");
    assert_string_equal(config_policy_path(&c, out, sizeof(out)), "/etc/bulwark/../p/policy.yaml");
    snprintf(c.policy, sizeof(c.policy), "/srv/policy.yaml");
    assert_string_equal(config_policy_path(&c, out, sizeof(out)), "/srv/policy.yaml");
    snprintf(c.path, sizeof(c.path), "bulwark.yaml"); /* a bare name: the current directory */
    snprintf(c.policy, sizeof(c.policy), "policy.yaml");
    assert_string_equal(config_policy_path(&c, out, sizeof(out)), "policy.yaml");
    /* Truncated to the buffer, never overrun. */
    snprintf(c.path, sizeof(c.path), "/etc/bulwark/bulwark.yaml");
    char small[8];
    assert_string_equal(config_policy_path(&c, small, sizeof(small)), "/etc/bu");
}

static void test_name_ok(void **state)
{
    (void)state;
    const char *good[] = {"bulwark", "bulwark-auth", "a", "A.b_c-9", "nobody", "_x"};
    const char *bad[] = {"", "-a", "a b", "a/b", "a:b", "\xc3\xa9", "a\n", "a$"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!config_name_ok(good[i])) fail_msg("'%s' refused", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (config_name_ok(bad[i])) fail_msg("'%s' accepted", bad[i]);
    char name[CONFIG_NAME_MAX + 1];
    memset(name, 'n', CONFIG_NAME_MAX);
    name[CONFIG_NAME_MAX] = '\0';
    assert_false(config_name_ok(name));
    name[CONFIG_NAME_MAX - 1] = '\0';
    assert_true(config_name_ok(name));
}

static char *big_text(size_t n, int listeners)
{
    size_t cap = 64 + n * 200;
    char *t = malloc(cap);
    assert_non_null(t);
    size_t off = (size_t)snprintf(t, cap, listeners ? "listeners:\n" : "users:\n");
    for (size_t i = 0; i < n; i++) {
        if (listeners)
            off += (size_t)snprintf(t + off, cap - off, "  - host: 127.0.0.1\n    port: %zu\n",
                                    1000 + i);
        else
            off += (size_t)snprintf(t + off, cap - off,
                                    "  - username: user%zu\n    password_hash: '%s'\n", i, HASH);
    }
    return t;
}

static void test_too_many(void **state)
{
    (void)state;
    char *t = big_text(CONFIG_MAX_LISTENERS, 1);
    load_ok(t);
    assert_int_equal(cfg->n_listeners, CONFIG_MAX_LISTENERS);
    assert_int_equal(cfg->listeners[CONFIG_MAX_LISTENERS - 1].port,
                     1000 + CONFIG_MAX_LISTENERS - 1);
    free(t);
    t = big_text(CONFIG_MAX_LISTENERS + 1, 1);
    expect_error(t, 2 + 2 * CONFIG_MAX_LISTENERS, 5, "too many listeners (at most 16)");
    free(t);

    t = big_text(CONFIG_MAX_USERS, 0);
    load_ok(t);
    assert_int_equal(cfg->n_users, CONFIG_MAX_USERS);
    assert_string_equal(cfg->users[CONFIG_MAX_USERS - 1].username, "user1023");
    free(t);
    t = big_text(CONFIG_MAX_USERS + 1, 0);
    expect_error(t, 2 + 2 * CONFIG_MAX_USERS, 5, "too many users (at most 1024)");
    free(t);
}

static void test_documents_and_aliases(void **state)
{
    (void)state;
    expect_error("log_level: info\n---\nlog_level: debug\n", 3, 1,
                 "only one YAML document is allowed");
    /* A self-referencing alias is refused by shape, never walked forever. */
    expect_error("listeners: &l [*l]\n", 1, 12, "expected a mapping, found a sequence");
    /* Aliases of valid values are fine. */
    load_ok("listeners:\n  - &a {host: 127.0.0.1, port: 1}\n  - *a\n");
    assert_int_equal(cfg->n_listeners, 2);
}

static void test_file_errors(void **state)
{
    (void)state;
    prime();
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/nope.yaml", dir);
    assert_int_equal(config_load_file(cfg, missing, err, sizeof(err)), -1);
    char want[200];
    snprintf(want, sizeof(want), "%s: cannot open: ", missing);
    assert_memory_equal(err, want, strlen(want));
    assert_memory_equal(cfg, snap, sizeof(*cfg));

    /* A tiny error buffer is truncated, never overrun. */
    write_conf("bogus: 1\n");
    char small[8];
    memset(small, 'Z', sizeof(small));
    assert_int_equal(config_load_file(cfg, path, small, 5), -1);
    assert_int_equal(strlen(small), 4);
    assert_int_equal(small[5], 'Z');
}

static void test_parse_listen(void **state)
{
    (void)state;
    struct config_listener l;
    assert_int_equal(config_parse_listen(&l, "127.0.0.1:1883", err, sizeof(err)), 0);
    assert_string_equal(l.host, "127.0.0.1");
    assert_int_equal(l.port, 1883);
    assert_int_equal(config_parse_listen(&l, "localhost:0", err, sizeof(err)), 0);
    assert_string_equal(l.host, "localhost");
    assert_int_equal(l.port, 0);
    assert_int_equal(config_parse_listen(&l, "[::1]:65535", err, sizeof(err)), 0);
    assert_string_equal(l.host, "::1");
    assert_int_equal(l.port, 65535);
    assert_int_equal(config_parse_listen(&l, "[fe80::1:2]:8883", err, sizeof(err)), 0);
    assert_string_equal(l.host, "fe80::1:2");

    static const struct {
        const char *spec, *msg;
    } bad[] = {
        {"127.0.0.1", "missing port"},
        {"127.0.0.1:", "missing port"},
        {"[::1]", "missing port"},
        {"[::1]:", "missing port"},
        {"[::1", "missing ']'"},
        {"::1:1883", "needs brackets"},
        {":1883", "missing host"},
        {"[]:1883", "missing host"},
        {"127.0.0.1:65536", "bad port"},
        {"127.0.0.1:-1", "bad port"},
        {"127.0.0.1:+1", "bad port"},
        {"127.0.0.1:0x10", "bad port"},
        {"127.0.0.1:01883", "bad port"},
        {"127.0.0.1:1883 ", "bad port"},
        {"127.0.0.1:99999999999999999999999", "bad port"},
        {"example.com:1883", "not a numeric IPv4 address or localhost"},
        {"[127.0.0.1]:1883", "not a numeric IPv6 address"},
        {"[localhost]:1883", "not a numeric IPv6 address"},
        {"1234567890123456789012345678901234567890123456789012345678901234:1", "too long"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&l, 0x5A, sizeof(l));
        struct config_listener before = l;
        err[0] = '\0';
        assert_int_equal(config_parse_listen(&l, bad[i].spec, err, sizeof(err)), -1);
        if (!strstr(err, bad[i].msg))
            fail_msg("%s: wanted '%s' in '%s'", bad[i].spec, bad[i].msg, err);
        assert_memory_equal(&l, &before, sizeof(l));
    }
    /* 63 bytes of host fit. */
    char spec[80];
    snprintf(spec, sizeof(spec), "[%s]:1", "0000:0000:0000:0000:0000:ffff:192.168.100.200");
    assert_int_equal(config_parse_listen(&l, spec, err, sizeof(err)), 0);
    assert_int_equal(strlen(l.host), 45);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_deploy_example),
        cmocka_unit_test(test_partial_and_empty),
        cmocka_unit_test(test_booleans_and_levels),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_limit_ranges),
        cmocka_unit_test(test_booleans_wrong),
        cmocka_unit_test(test_listeners),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_users),
        cmocka_unit_test(test_too_many),
        cmocka_unit_test(test_documents_and_aliases),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_parse_listen),
        cmocka_unit_test(test_sandbox_keys),
        cmocka_unit_test(test_supervisor_keys),
        cmocka_unit_test(test_policy_and_auth_keys),
        cmocka_unit_test(test_name_ok),
        cmocka_unit_test(test_policy_path),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
