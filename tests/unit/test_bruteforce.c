/* bruteforce: free failures, doubling lock-outs, per-address and per-user keys, bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "bruteforce.h"

static const struct bf_config cfg = {.free_failures = 3,
                                     .base_delay_ms = 1000,
                                     .max_delay_ms = 8000,
                                     .window_s = 60,
                                     .max_tracked = 100};

#define U(s) (const uint8_t *)(s), strlen(s)

static void test_free_failures_then_doubling(void **state)
{
    (void)state;
    struct bruteforce *bf = bf_new(&cfg);
    uint64_t t = 1000000;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(bf_check(bf, "10.0.0.1:5000", U("alice"), t), 0);
        bf_failure(bf, "10.0.0.1:5000", U("alice"), t);
    }
    assert_int_equal(bf_check(bf, "10.0.0.1:5000", U("alice"), t), 0); /* 3 free failures */
    bf_failure(bf, "10.0.0.1:5000", U("alice"), t);
    assert_int_equal(bf_check(bf, "10.0.0.1:6000", U("alice"), t), 1000); /* any port */
    t += 1000;
    assert_int_equal(bf_check(bf, "10.0.0.1:5000", U("alice"), t), 0);
    bf_failure(bf, "10.0.0.1:5000", U("alice"), t);
    assert_int_equal(bf_check(bf, "10.0.0.1:5000", U("alice"), t), 2000);
    for (int i = 0; i < 10; i++) {
        t += 9000;
        bf_failure(bf, "10.0.0.1:5000", U("alice"), t);
    }
    assert_int_equal(bf_check(bf, "10.0.0.1:5000", U("alice"), t), 8000); /* capped */
    bf_free(bf);
}

static void test_user_and_address_are_separate_keys(void **state)
{
    (void)state;
    struct bruteforce *bf = bf_new(&cfg);
    uint64_t t = 5000;
    /* One address guessing many users: the address locks. */
    char user[16];
    for (int i = 0; i < 4; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        bf_failure(bf, "192.0.2.7:1", U(user), t);
    }
    assert_true(bf_check(bf, "192.0.2.7:2", U("someone-else"), t) > 0);
    assert_int_equal(bf_check(bf, "192.0.2.8:2", U("someone-else"), t), 0);
    /* Many addresses guessing one user: the user locks, from anywhere. */
    for (int i = 0; i < 4; i++) {
        char peer[32];
        snprintf(peer, sizeof(peer), "198.51.100.%d:1", i);
        bf_failure(bf, peer, U("carol"), t);
    }
    assert_true(bf_check(bf, "203.0.113.1:1", U("carol"), t) > 0);
    assert_int_equal(bf_check(bf, "203.0.113.1:1", U("dave"), t), 0);
    /* IPv6 peers: the address without brackets and port is the key. */
    for (int i = 0; i < 4; i++)
        bf_failure(bf, "[2001:db8::1]:1234", NULL, 0, t);
    assert_true(bf_check(bf, "[2001:db8::1]:999", NULL, 0, t) > 0);
    bf_free(bf);
}

static void test_success_clears_user_not_address(void **state)
{
    (void)state;
    struct bruteforce *bf = bf_new(&cfg);
    uint64_t t = 10;
    for (int i = 0; i < 5; i++)
        bf_failure(bf, "10.1.1.1:1", U("erin"), t);
    bf_success(bf, U("erin"));
    assert_true(bf_check(bf, "10.1.1.1:1", U("erin"), t) > 0); /* the address still waits */
    assert_int_equal(bf_check(bf, "10.9.9.9:1", U("erin"), t), 0);
    bf_free(bf);
}

static void test_window_forgets(void **state)
{
    (void)state;
    struct bruteforce *bf = bf_new(&cfg);
    uint64_t t = 0;
    for (int i = 0; i < 3; i++)
        bf_failure(bf, "10.2.2.2:1", U("f"), t);
    t += 61000; /* a whole quiet window later the count starts over */
    bf_failure(bf, "10.2.2.2:1", U("f"), t);
    assert_int_equal(bf_check(bf, "10.2.2.2:1", U("f"), t), 0);
    bf_free(bf);
}

static void test_tracked_bound(void **state)
{
    (void)state;
    struct bruteforce *bf = bf_new(&cfg);
    char peer[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(peer, sizeof(peer), "10.3.%d.%d:1", i / 256, i % 256);
        bf_failure(bf, peer, NULL, 0, (uint64_t)i);
    }
    assert_true(bf_tracked(bf) <= cfg.max_tracked);
    bf_free(bf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_free_failures_then_doubling),
        cmocka_unit_test(test_user_and_address_are_separate_keys),
        cmocka_unit_test(test_success_clears_user_not_address),
        cmocka_unit_test(test_window_forgets),
        cmocka_unit_test(test_tracked_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
