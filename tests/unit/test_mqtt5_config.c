/* Unit tests for the MQTT 5.0 limits of common/config.c: each key's default, the bounds of
 * its range (0 only where it means something), and the errors just outside them. */
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

static struct config *cfg; /* large: never on the stack */
static char dir[64];
static char path[128];
static char err[2048];

static int setup(void **state)
{
    (void)state;
    cfg = malloc(sizeof(*cfg));
    snprintf(dir, sizeof(dir), "/tmp/bulwark-test-mqtt5cfg-XXXXXX");
    if (!cfg || !mkdtemp(dir))
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
    return 0;
}

/* Loads "limits:\n  KEY: VALUE\n"; returns the result, err holds the message. */
static int load_limit(const char *key, const char *value)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f, "limits:\n  %s: %s\n", key, value);
    assert_int_equal(fclose(f), 0);
    config_defaults(cfg);
    err[0] = '\0';
    return config_load_file(cfg, path, err, sizeof(err));
}

static const struct {
    const char *key;
    size_t off;
    uint32_t def, min, max;
} keys[] = {
    {"max_properties", offsetof(struct config_limits, max_properties), 64, 1, 65535},
    {"max_properties_size", offsetof(struct config_limits, max_properties_size), 65536, 1,
     268435455},
    {"topic_alias_maximum", offsetof(struct config_limits, topic_alias_maximum), 10, 0, 65535},
    {"receive_maximum", offsetof(struct config_limits, receive_maximum), 100, 1, 65535},
    {"max_keepalive", offsetof(struct config_limits, max_keepalive), 0, 0, 65535},
    {"max_session_expiry_s", offsetof(struct config_limits, max_session_expiry_s), 604800, 0,
     UINT32_MAX},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static uint32_t field(size_t off)
{
    uint32_t v;
    memcpy(&v, (const char *)&cfg->limits + off, sizeof(v));
    return v;
}

static void test_defaults(void **state)
{
    (void)state;
    config_defaults(cfg);
    for (size_t i = 0; i < NKEYS; i++)
        assert_int_equal(field(keys[i].off), keys[i].def);
}

static void test_bounds(void **state)
{
    (void)state;
    for (size_t i = 0; i < NKEYS; i++) {
        char v[32];
        /* Both ends of the range load, and only the key changes. */
        snprintf(v, sizeof(v), "%u", keys[i].min);
        if (load_limit(keys[i].key, v) != 0)
            fail_msg("%s: %s", keys[i].key, err);
        assert_int_equal(field(keys[i].off), keys[i].min);
        assert_int_equal(cfg->limits.max_inflight, 20);
        snprintf(v, sizeof(v), "%u", keys[i].max);
        if (load_limit(keys[i].key, v) != 0)
            fail_msg("%s: %s", keys[i].key, err);
        assert_int_equal(field(keys[i].off), keys[i].max);
        /* One beyond each end is refused, naming the key and the position. */
        if (keys[i].min > 0) {
            snprintf(v, sizeof(v), "%u", keys[i].min - 1);
            assert_int_equal(load_limit(keys[i].key, v), -1);
            assert_non_null(strstr(err, keys[i].key));
            assert_non_null(strstr(err, "bulwark.yaml:2:"));
        }
        snprintf(v, sizeof(v), "%llu", (unsigned long long)keys[i].max + 1);
        assert_int_equal(load_limit(keys[i].key, v), -1);
        assert_non_null(strstr(err, keys[i].key));
        assert_int_equal(load_limit(keys[i].key, "-1"), -1);
        assert_int_equal(load_limit(keys[i].key, "ten"), -1);
    }
}

static void test_listed_as_known_keys(void **state)
{
    (void)state;
    /* An unknown key's error lists the known ones: the new keys are among them. */
    assert_int_equal(load_limit("max_propertys", "1"), -1);
    for (size_t i = 0; i < NKEYS; i++)
        assert_non_null(strstr(err, keys[i].key));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_listed_as_known_keys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
