/* backend_password + verify_cache + chain: outcomes, Mosquitto hashes, the cache. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <string.h>

#include "backend_password.h"
#include "chain.h"
#include "verify_cache.h"

static char alice_hash[crypto_pwhash_STRBYTES];

static const char *lookup(void *ctx, const uint8_t *user, size_t ulen)
{
    (void)ctx;
    if (ulen == 5 && memcmp(user, "alice", 5) == 0)
        return alice_hash;
    return NULL;
}

static struct auth_request req(const char *user, const char *pw)
{
    struct auth_request r = {
        .client_id = (const uint8_t *)"c", .client_id_len = 1, .peer = "127.0.0.1:1"};
    if (user) {
        r.username = (const uint8_t *)user;
        r.username_len = strlen(user);
    }
    if (pw) {
        r.password = (const uint8_t *)pw;
        r.password_len = strlen(pw);
    }
    return r;
}

static int setup(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    assert_int_equal(crypto_pwhash_str(alice_hash, "s3cret", 6, crypto_pwhash_OPSLIMIT_MIN,
                                       crypto_pwhash_MEMLIMIT_MIN),
                     0);
    return 0;
}

static void test_outcomes(void **state)
{
    (void)state;
    struct auth_backend *b = backend_password_new(lookup, NULL, NULL);
    assert_non_null(b);
    struct auth_outcome out;
    struct auth_request r = req("alice", "s3cret");
    memset(&out, 0, sizeof(out));
    assert_int_equal(b->authenticate(b->ctx, &r, &out), AUTH_ALLOW);
    assert_string_equal(out.identity, "alice");
    r = req("alice", "wrong");
    assert_int_equal(b->authenticate(b->ctx, &r, &out), AUTH_DENY);
    assert_string_equal(out.reason, "bad password");
    r = req("alice", NULL);
    assert_int_equal(b->authenticate(b->ctx, &r, &out), AUTH_DENY);
    r = req("nobody", "s3cret");
    assert_int_equal(b->authenticate(b->ctx, &r, &out), AUTH_NO_OPINION);
    r = req(NULL, NULL);
    assert_int_equal(b->authenticate(b->ctx, &r, &out), AUTH_NO_OPINION);
    /* A password with a NUL byte is not the same password. */
    r = req("alice", "s3cret");
    r.password = (const uint8_t *)"s3cret\0x";
    r.password_len = 8;
    assert_int_equal(b->authenticate(b->ctx, &r, &out), AUTH_DENY);
    b->destroy(b->ctx);
}

static void test_cache_hits_and_respects_hash_change(void **state)
{
    (void)state;
    struct verify_cache *vc = verify_cache_new(4, 60000);
    const uint8_t *u = (const uint8_t *)"alice", *pw = (const uint8_t *)"s3cret";
    assert_false(verify_cache_hit(vc, u, 5, pw, 6, alice_hash, 1000));
    verify_cache_put(vc, u, 5, pw, 6, alice_hash, 1000);
    assert_true(verify_cache_hit(vc, u, 5, pw, 6, alice_hash, 2000));
    assert_false(verify_cache_hit(vc, u, 5, (const uint8_t *)"s3cre", 5, alice_hash, 2000));
    assert_false(verify_cache_hit(vc, u, 5, pw, 6, "$argon2id$other", 2000)); /* new hash */
    assert_false(verify_cache_hit(vc, (const uint8_t *)"alicea", 6, pw, 6, alice_hash, 2000));
    assert_false(verify_cache_hit(vc, u, 5, pw, 6, alice_hash, 61001)); /* expired */
    for (int i = 0; i < 50; i++) {
        uint8_t name[2] = {'a', (uint8_t)i};
        verify_cache_put(vc, name, 2, pw, 6, alice_hash, 3000);
    }
    assert_true(verify_cache_count(vc) <= 4);
    verify_cache_clear(vc);
    assert_int_equal(verify_cache_count(vc), 0);
    verify_cache_free(vc);
}

static void test_backend_uses_cache(void **state)
{
    (void)state;
    struct verify_cache *vc = verify_cache_new(16, 60000);
    struct auth_backend *b = backend_password_new(lookup, NULL, vc);
    struct auth_outcome out;
    struct auth_request r = req("alice", "s3cret");
    assert_int_equal(b->authenticate(b->ctx, &r, &out), AUTH_ALLOW);
    assert_int_equal(verify_cache_count(vc), 1);
    assert_int_equal(b->authenticate(b->ctx, &r, &out), AUTH_ALLOW);
    r = req("alice", "wrong"); /* failures are never cached */
    assert_int_equal(b->authenticate(b->ctx, &r, &out), AUTH_DENY);
    assert_int_equal(verify_cache_count(vc), 1);
    b->destroy(b->ctx);
    verify_cache_free(vc);
}

static enum auth_result fixed(void *ctx, const struct auth_request *r, struct auth_outcome *o)
{
    (void)r;
    strcpy(o->identity, "fixed");
    return (enum auth_result)(uintptr_t)ctx;
}

static void destroy_nothing(void *ctx)
{
    (void)ctx;
}

static void test_chain_order(void **state)
{
    (void)state;
    static struct auth_backend none = {"none", (void *)AUTH_NO_OPINION, fixed, destroy_nothing};
    static struct auth_backend deny = {"deny", (void *)AUTH_DENY, fixed, destroy_nothing};
    static struct auth_backend allow = {"allow", (void *)AUTH_ALLOW, fixed, destroy_nothing};
    struct auth_chain c = {0};
    struct auth_outcome out;
    struct auth_request r = req("x", "y");
    assert_int_equal(chain_run(&c, &r, &out), AUTH_NO_OPINION); /* empty: no opinion */
    chain_add(&c, &none);
    assert_int_equal(chain_run(&c, &r, &out), AUTH_NO_OPINION);
    chain_add(&c, &deny);
    chain_add(&c, &allow);
    assert_int_equal(chain_run(&c, &r, &out), AUTH_DENY); /* first opinion decides */
    assert_string_equal(out.backend, "deny");
    chain_clear(&c);
    chain_add(&c, &allow);
    chain_add(&c, &deny);
    assert_int_equal(chain_run(&c, &r, &out), AUTH_ALLOW);
    chain_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_cache_hits_and_respects_hash_change),
        cmocka_unit_test(test_backend_uses_cache),
        cmocka_unit_test(test_chain_order),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
