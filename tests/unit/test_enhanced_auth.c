/* Unit tests for auth/enhanced_auth.c: the bulwark-ed25519 challenge/response with real
 * libsodium keys: success, replay, wrong key, wrong client id, truncated signature, expiry
 * and the bound on conversations in progress. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <string.h>

#include "enhanced_auth.h"

static uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
static uint8_t pk2[crypto_sign_PUBLICKEYBYTES], sk2[crypto_sign_SECRETKEYBYTES];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(pk2, sk2);
    return 0;
}

static void sign(const uint8_t *key, const uint8_t nonce[EAUTH_NONCE_BYTES], const char *cid,
                 uint8_t sig[EAUTH_SIG_BYTES])
{
    uint8_t msg[256];
    size_t n = eauth_message(nonce, (const uint8_t *)cid, strlen(cid), msg, sizeof(msg));
    assert_true(n == sizeof(EAUTH_METHOD) + EAUTH_NONCE_BYTES + strlen(cid));
    crypto_sign_detached(sig, NULL, msg, n, key);
}

static void test_method_names(void **state)
{
    (void)state;
    assert_true(eauth_method_known((const uint8_t *)"bulwark-ed25519", 15));
    assert_false(eauth_method_known((const uint8_t *)"bulwark-ed25519x", 16));
    assert_false(eauth_method_known((const uint8_t *)"SCRAM-SHA-256", 13));
    assert_false(eauth_method_known((const uint8_t *)"", 0));
}

static void test_round_trip_and_replay(void **state)
{
    (void)state;
    struct eauth *e = eauth_new(8, 1000);
    uint8_t nonce[EAUTH_NONCE_BYTES], nonce2[EAUTH_NONCE_BYTES], sig[EAUTH_SIG_BYTES];
    assert_int_equal(eauth_challenge(e, 7, 100, nonce), 0);
    assert_int_equal(eauth_challenge(e, 8, 100, nonce2), 0);
    assert_memory_not_equal(nonce, nonce2, sizeof(nonce)); /* fresh per conversation */
    sign(sk, nonce, "dev-7", sig);
    assert_int_equal(eauth_verify(e, 7, 200, pk, (const uint8_t *)"dev-7", 5, sig, sizeof(sig)),
                     EAUTH_OK);
    /* the same answer again: the challenge is gone */
    assert_int_equal(eauth_verify(e, 7, 200, pk, (const uint8_t *)"dev-7", 5, sig, sizeof(sig)),
                     EAUTH_NO_CHALLENGE);
    /* conversation 8's nonce is not conversation 7's */
    assert_int_equal(eauth_verify(e, 8, 200, pk, (const uint8_t *)"dev-7", 5, sig, sizeof(sig)),
                     EAUTH_BAD_SIGNATURE);
    assert_int_equal(eauth_pending(e), 0);
    eauth_free(e);
}

static void test_refusals(void **state)
{
    (void)state;
    struct eauth *e = eauth_new(8, 1000);
    uint8_t nonce[EAUTH_NONCE_BYTES], sig[EAUTH_SIG_BYTES];
    const uint8_t *cid = (const uint8_t *)"dev-1";
    /* another device's key */
    assert_int_equal(eauth_challenge(e, 1, 0, nonce), 0);
    sign(sk2, nonce, "dev-1", sig);
    assert_int_equal(eauth_verify(e, 1, 1, pk, cid, 5, sig, sizeof(sig)), EAUTH_BAD_SIGNATURE);
    /* signed for another client id */
    assert_int_equal(eauth_challenge(e, 1, 0, nonce), 0);
    sign(sk, nonce, "dev-2", sig);
    assert_int_equal(eauth_verify(e, 1, 1, pk, cid, 5, sig, sizeof(sig)), EAUTH_BAD_SIGNATURE);
    /* truncated signature, and a user without a device key */
    assert_int_equal(eauth_challenge(e, 1, 0, nonce), 0);
    sign(sk, nonce, "dev-1", sig);
    assert_int_equal(eauth_verify(e, 1, 1, pk, cid, 5, sig, 63), EAUTH_BAD_SIGNATURE);
    assert_int_equal(eauth_challenge(e, 1, 0, nonce), 0);
    sign(sk, nonce, "dev-1", sig);
    assert_int_equal(eauth_verify(e, 1, 1, NULL, cid, 5, sig, sizeof(sig)), EAUTH_BAD_SIGNATURE);
    /* a new challenge for the same conversation replaces the old nonce */
    uint8_t old[EAUTH_NONCE_BYTES];
    assert_int_equal(eauth_challenge(e, 1, 0, old), 0);
    assert_int_equal(eauth_challenge(e, 1, 0, nonce), 0);
    sign(sk, old, "dev-1", sig);
    assert_int_equal(eauth_verify(e, 1, 1, pk, cid, 5, sig, sizeof(sig)), EAUTH_BAD_SIGNATURE);
    /* an answer after the time to live */
    assert_int_equal(eauth_challenge(e, 2, 0, nonce), 0);
    sign(sk, nonce, "dev-1", sig);
    assert_int_equal(eauth_verify(e, 2, 1000, pk, cid, 5, sig, sizeof(sig)), EAUTH_NO_CHALLENGE);
    eauth_free(e);
}

static void test_bound(void **state)
{
    (void)state;
    struct eauth *e = eauth_new(3, 1000);
    uint8_t nonce[EAUTH_NONCE_BYTES];
    for (uint64_t c = 0; c < 3; c++)
        assert_int_equal(eauth_challenge(e, c, 0, nonce), 0);
    assert_int_equal(eauth_challenge(e, 99, 500, nonce), -1); /* full, none expired */
    assert_int_equal(eauth_pending(e), 3);
    assert_int_equal(eauth_challenge(e, 99, 1000, nonce), 0); /* the expired ones make room */
    assert_int_equal(eauth_pending(e), 1);
    eauth_free(e); /* frees what is still pending (LeakSanitizer checks) */
}

/* Regression: the sweep of expired conversations once removed (without freeing) every entry
 * after the 64th expired one it met, live ones included, then wrote through a NULL pointer:
 * any client could crash the auth daemon by leaving 4096 challenges unanswered. */
static void test_sweep_many_expired_keeps_live_ones(void **state)
{
    (void)state;
    struct eauth *e = eauth_new(100, 1000);
    uint8_t nonce[EAUTH_NONCE_BYTES], live[EAUTH_NONCE_BYTES], sig[EAUTH_SIG_BYTES];
    for (uint64_t c = 0; c < 80; c++)
        assert_int_equal(eauth_challenge(e, c, 0, nonce), 0); /* expire at 1000 */
    for (uint64_t c = 80; c < 100; c++)
        assert_int_equal(eauth_challenge(e, c, 500, c == 90 ? live : nonce), 0); /* at 1500 */
    assert_int_equal(eauth_challenge(e, 1000, 1200, nonce), 0); /* full: the sweep runs */
    assert_int_equal(eauth_pending(e), 21);
    sign(sk, live, "dev-90", sig);
    assert_int_equal(eauth_verify(e, 90, 1300, pk, (const uint8_t *)"dev-90", 6, sig, sizeof(sig)),
                     EAUTH_OK);
    eauth_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_names),
        cmocka_unit_test(test_round_trip_and_replay),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_sweep_many_expired_keeps_live_ones),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
