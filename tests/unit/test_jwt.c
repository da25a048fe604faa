/* Unit tests for the EdDSA JWT backend (auth/jwt.c, auth/backend_jwt.c, auth/base64url.c):
 * tokens are signed here with fresh Ed25519 keys by a small test-only signer, and judged
 * against RFC 7519 (claims), RFC 7515 (compact JWS) and RFC 8037 (EdDSA). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_jwt.h"
#include "base64url.h"
#include "jwt.h"

#define NOW ((int64_t)1700000000)
#define HDR "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}"

struct key {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
};

/* idp: one issuer; idp2: two keys told apart by kid; rot: two keys without kid (rotation);
 * evil: a key nobody configured. */
static struct key k_idp, k_idp2a, k_idp2b, k_rot1, k_rot2, k_evil;
static struct jwt_issuer issuers[5];
static struct auth_backend *be;

static char tok[16384];
static char claims_buf[12288];

/* ---- test-only signer ------------------------------------------------------------- */

/* Signs header and payload (JSON texts, used byte for byte) into tok. */
static const char *sign_raw(const char *header, const char *payload, const struct key *k)
{
    size_t n = 0;
    int r = b64url_encode((const uint8_t *)header, strlen(header), tok, sizeof(tok));
    assert_true(r > 0);
    n = (size_t)r;
    tok[n++] = '.';
    r = b64url_encode((const uint8_t *)payload, strlen(payload), tok + n, sizeof(tok) - n);
    assert_true(r > 0);
    n += (size_t)r;
    uint8_t sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const uint8_t *)tok, n, k->sk);
    tok[n++] = '.';
    r = b64url_encode(sig, sizeof(sig), tok + n, sizeof(tok) - n);
    assert_int_equal(r, 86);
    return tok;
}

static const char *claims(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *claims(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(claims_buf, sizeof(claims_buf), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(claims_buf));
    return claims_buf;
}

/* A token for idp with the given claims. */
static const char *sign(const char *payload)
{
    return sign_raw(HDR, payload, &k_idp);
}

/* Standard valid claims for idp, with exp/nbf/iat relative to NOW. */
static const char *good_claims(void)
{
    return claims("{\"iss\":\"https://idp.example\",\"sub\":\"dev-1\",\"aud\":\"bulwark\","
                  "\"exp\":%lld,\"iat\":%lld}",
                  (long long)NOW + 600, (long long)NOW - 10);
}

/* ---- backend helpers ---------------------------------------------------------------- */

static struct auth_outcome out;

/* Asks b, leaving out as it was before the call. */
static enum auth_result ask_keep(struct auth_backend *b, const char *password, const char *user)
{
    struct auth_request req = {
        .client_id = (const uint8_t *)"c1",
        .client_id_len = 2,
        .username = (const uint8_t *)user,
        .username_len = user ? strlen(user) : 0,
        .password = (const uint8_t *)password,
        .password_len = password ? strlen(password) : 0,
        .peer = "192.0.2.1:5000",
        .now = (time_t)NOW,
    };
    return b->authenticate(b->ctx, &req, &out);
}

static enum auth_result ask_be(struct auth_backend *b, const char *password, const char *user)
{
    memset(&out, 0, sizeof(out));
    return ask_keep(b, password, user);
}

static enum auth_result ask(const char *password)
{
    return ask_be(be, password, NULL);
}

static void expect_deny(const char *password, const char *reason)
{
    enum auth_result r = ask(password);
    if (r != AUTH_DENY)
        fail_msg("expected DENY '%s', got %d (%s)", reason, r, out.reason);
    if (strcmp(out.reason, reason) != 0)
        fail_msg("expected '%s', got '%s'", reason, out.reason);
    assert_string_equal(out.identity, "");
    assert_string_equal(out.backend, "jwt");
}

static void expect_allow(const char *password, const char *identity)
{
    enum auth_result r = ask(password);
    if (r != AUTH_ALLOW)
        fail_msg("expected ALLOW, got %d (%s)", r, out.reason);
    assert_string_equal(out.identity, identity);
    assert_string_equal(out.backend, "jwt");
}

static void keygen(struct key *k)
{
    crypto_sign_keypair(k->pk, k->sk);
}

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    keygen(&k_idp);
    keygen(&k_idp2a);
    keygen(&k_idp2b);
    keygen(&k_rot1);
    keygen(&k_rot2);
    keygen(&k_evil);
    issuers[0] = (struct jwt_issuer){.name = "https://idp.example", .audience = "bulwark"};
    memcpy(issuers[0].public_key, k_idp.pk, 32);
    issuers[1] = (struct jwt_issuer){.name = "idp2", .audience = "mqtt", .kid = "k2a"};
    memcpy(issuers[1].public_key, k_idp2a.pk, 32);
    issuers[2] = (struct jwt_issuer){.name = "idp2", .audience = "mqtt", .kid = "k2b"};
    memcpy(issuers[2].public_key, k_idp2b.pk, 32);
    issuers[3] = (struct jwt_issuer){.name = "rot", .audience = "bulwark"};
    memcpy(issuers[3].public_key, k_rot1.pk, 32);
    issuers[4] = (struct jwt_issuer){.name = "rot", .audience = "bulwark"};
    memcpy(issuers[4].public_key, k_rot2.pk, 32);
    be = backend_jwt_new(issuers, 5, JWT_DEFAULT_LEEWAY_S);
    return be ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    be->destroy(be->ctx);
    return 0;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_base64url(void **state)
{
    (void)state;
    uint8_t b[8];
    size_t n;
    char e[16];
    assert_int_equal(b64url_encode((const uint8_t *)"\xfb\xff", 2, e, sizeof(e)), 3);
    assert_string_equal(e, "-_8"); /* the URL-safe alphabet, no padding */
    assert_int_equal(b64url_decode("-_8", 3, b, sizeof(b), &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(b, "\xfb\xff", 2);
    assert_int_equal(b64url_decode("", 0, b, sizeof(b), &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(b64url_decode("+/8", 3, b, sizeof(b), &n), -1);  /* standard alphabet */
    assert_int_equal(b64url_decode("QQ==", 4, b, sizeof(b), &n), -1); /* padding */
    assert_int_equal(b64url_decode("QR", 2, b, sizeof(b), &n), -1);   /* trailing bits set */
    assert_int_equal(b64url_decode("Q", 1, b, sizeof(b), &n), -1);    /* impossible length */
    assert_int_equal(b64url_decode("QU F", 4, b, sizeof(b), &n), -1);
    assert_int_equal(b64url_decode("QUFBQUFBQUFB", 12, b, sizeof(b), &n), -1); /* 9 > 8 */
    assert_int_equal(b64url_encode((const uint8_t *)"AAA", 3, e, 4), -1);      /* needs 5 */
    assert_int_equal(b64url_encode((const uint8_t *)"AAA", 3, e, 5), 4);
}

static void test_valid(void **state)
{
    (void)state;
    expect_allow(sign(good_claims()), "dev-1");
    /* No typ, no iat, nbf in the past, extra claims and header fields ignored. */
    expect_allow(sign_raw("{\"alg\":\"EdDSA\",\"x5u\":\"https://evil\"}",
                          claims("{\"iss\":\"https://idp.example\",\"sub\":\"s\",\"aud\":"
                                 "\"bulwark\",\"exp\":%lld,\"nbf\":%lld,\"scope\":[1,{}]}",
                                 (long long)NOW + 5, (long long)NOW - 5),
                          &k_idp),
                 "s");
    struct jwt_result res;
    sign(good_claims());
    assert_int_equal(jwt_verify((const uint8_t *)tok, strlen(tok), issuers, 5, NOW, 30, &res),
                     JWT_OK);
    assert_string_equal(res.sub, "dev-1");
    assert_int_equal(res.issuer, 0);
    assert_int_equal(res.exp, NOW + 600);
}

static void test_username_rule(void **state)
{
    (void)state;
    const char *t = sign(good_claims());
    assert_int_equal(ask_be(be, t, "dev-1"), AUTH_ALLOW);
    assert_int_equal(ask_be(be, t, ""), AUTH_ALLOW);
    assert_int_equal(ask_be(be, t, NULL), AUTH_ALLOW);
    assert_int_equal(ask_be(be, t, "dev-2"), AUTH_DENY);
    assert_string_equal(out.reason, "username does not match token subject");
    assert_string_equal(out.identity, "");
    assert_int_equal(ask_be(be, t, "dev-1x"), AUTH_DENY);
    assert_int_equal(ask_be(be, t, "dev-"), AUTH_DENY);
}

static void test_not_a_token(void **state)
{
    (void)state;
    static const char *const pw[] = {
        "hunter2",
        "correct horse battery staple",
        "abc.def",        /* two parts */
        "abc.def.ghi",    /* first part does not decode to '{' */
        "my.pass.",       /* the same, with an empty third part */
        "eyJ9.e30.AA.AA", /* four parts */
        "eyJ9.e30.a.b.c", /* five parts: JWE */
        "eyJ9..sig",      /* empty payload */
        ".e30.sig",       /* empty header */
        "eyJ9.e30.si=g",  /* padding character */
        "eyJ9.e+0.sig",   /* standard alphabet */
        "eyJ9 .e30.sig",  /* blank */
        "",
    };
    for (size_t i = 0; i < sizeof(pw) / sizeof(pw[0]); i++) {
        memset(&out, 0x5a, sizeof(out));
        struct auth_outcome before = out;
        if (ask_keep(be, pw[i], NULL) != AUTH_NO_OPINION)
            fail_msg("'%s' was judged: %s", pw[i], out.reason);
        /* Without an opinion the outcome is left alone. */
        assert_memory_equal(&out, &before, sizeof(out));
    }
    assert_int_equal(ask(NULL), AUTH_NO_OPINION);
    /* A password with an embedded NUL after a token is not a token. */
    const char *t = sign(good_claims());
    char with_nul[sizeof(tok) + 2];
    size_t n = strlen(t);
    memcpy(with_nul, t, n);
    with_nul[n] = '\0';
    with_nul[n + 1] = 'A';
    struct auth_request req = {.password = (const uint8_t *)with_nul,
                               .password_len = n + 2,
                               .peer = "p",
                               .now = (time_t)NOW};
    assert_int_equal(be->authenticate(be->ctx, &req, &out), AUTH_NO_OPINION);
    assert_true(jwt_shaped((const uint8_t *)"e30.e30.", 8));   /* "{}" header */
    assert_true(jwt_shaped((const uint8_t *)"IHs.e30.x", 9));  /* " {" header */
    assert_false(jwt_shaped((const uint8_t *)"W10.e30.x", 9)); /* "[]" header */
}

static void test_expired_and_leeway(void **state)
{
    (void)state;
#define fmt "{\"iss\":\"https://idp.example\",\"sub\":\"d\",\"aud\":\"bulwark\",\"exp\":%lld}"
    /* Valid while now < exp + leeway (30 s here). */
    expect_allow(sign(claims(fmt, (long long)NOW - 29)), "d");
    expect_deny(sign(claims(fmt, (long long)NOW - 30)), "token expired");
    expect_deny(sign(claims(fmt, (long long)NOW - 3600)), "token expired");
    expect_deny(sign(claims(fmt, (long long)INT64_MIN)), "token expired");
    expect_allow(sign(claims(fmt, (long long)INT64_MAX)), "d");
    expect_deny(sign(claims("{\"iss\":\"https://idp.example\",\"sub\":\"d\",\"aud\":"
                            "\"bulwark\"}")),
                "token without expiry");

    /* With no leeway, exp == now is already expired (now must be before exp). */
    struct auth_backend *strict = backend_jwt_new(issuers, 1, 0);
    assert_non_null(strict);
    assert_int_equal(ask_be(strict, sign(claims(fmt, (long long)NOW)), NULL), AUTH_DENY);
    assert_string_equal(out.reason, "token expired");
    assert_int_equal(ask_be(strict, sign(claims(fmt, (long long)NOW + 1)), NULL), AUTH_ALLOW);
    strict->destroy(strict->ctx);

    /* The largest leeway allowed, and one more. */
    struct auth_backend *lax = backend_jwt_new(issuers, 1, JWT_MAX_LEEWAY_S);
    assert_non_null(lax);
    assert_int_equal(ask_be(lax, sign(claims(fmt, (long long)NOW - JWT_MAX_LEEWAY_S + 1)), NULL),
                     AUTH_ALLOW);
    assert_int_equal(ask_be(lax, sign(claims(fmt, (long long)NOW - JWT_MAX_LEEWAY_S)), NULL),
                     AUTH_DENY);
    lax->destroy(lax->ctx);
    assert_null(backend_jwt_new(issuers, 1, JWT_MAX_LEEWAY_S + 1));
    char err[256];
    assert_int_equal(jwt_check_issuers(issuers, 1, JWT_MAX_LEEWAY_S + 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "leeway"));
#undef fmt
}

static void test_not_yet_valid(void **state)
{
    (void)state;
#define fmt                                                                                        \
    "{\"iss\":\"https://"                                                                          \
    "idp.example\",\"sub\":\"d\",\"aud\":\"bulwark\",\"exp\":%lld,\"nbf\":%lld}"
    long long exp = NOW + 3600;
    expect_allow(sign(claims(fmt, exp, (long long)NOW)), "d");
    expect_allow(sign(claims(fmt, exp, (long long)NOW + 30)), "d");
    expect_deny(sign(claims(fmt, exp, (long long)NOW + 31)), "token not yet valid");
    expect_deny(sign(claims(fmt, exp, (long long)INT64_MAX)), "token not yet valid");
    expect_allow(sign(claims(fmt, exp, (long long)INT64_MIN)), "d");

#undef fmt
#define fmt                                                                                        \
    "{\"iss\":\"https://"                                                                          \
    "idp.example\",\"sub\":\"d\",\"aud\":\"bulwark\",\"exp\":%lld,\"iat\":%lld}"
    expect_allow(sign(claims(fmt, exp, (long long)NOW + 30)), "d");
    expect_deny(sign(claims(fmt, exp, (long long)NOW + 31)), "token issued in the future");
    expect_allow(sign(claims(fmt, exp, 0LL)), "d");
#undef fmt

    /* Clock arithmetic near the ends of int64_t does not overflow. */
    struct jwt_result res;
    sign(claims("{\"iss\":\"https://idp.example\",\"sub\":\"d\",\"aud\":\"bulwark\","
                "\"exp\":%lld,\"nbf\":%lld,\"iat\":%lld}",
                (long long)INT64_MAX, (long long)INT64_MAX, (long long)INT64_MAX));
    assert_int_equal(
        jwt_verify((const uint8_t *)tok, strlen(tok), issuers, 5, INT64_MAX - 1, 30, &res), JWT_OK);
    assert_int_equal(jwt_verify((const uint8_t *)tok, strlen(tok), issuers, 5, INT64_MIN, 30, &res),
                     JWT_NOT_YET_VALID);
}

static void test_time_claim_types(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\"1800000000\"", "1.8e9",        "1800000000.5",        "null",
        "true",           "[1800000000]", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *names[] = {"exp", "nbf", "iat"};
        for (size_t j = 0; j < 3; j++) {
            const char *c = claims("{\"iss\":\"https://idp.example\",\"sub\":\"d\",\"aud\":"
                                   "\"bulwark\",\"exp\":%lld,\"%s\":%s}",
                                   (long long)NOW + 60, names[j], bad[i]);
            /* exp twice is a duplicate key: also refused, as malformed claims. */
            expect_deny(sign(c), "malformed token claims");
        }
    }
}

static void test_audience(void **state)
{
    (void)state;
#define fmt "{\"iss\":\"https://idp.example\",\"sub\":\"d\",\"exp\":%lld%s}"
    long long exp = NOW + 60;
    expect_allow(sign(claims(fmt, exp, ",\"aud\":[\"other\",\"bulwark\"]")), "d");
    expect_allow(sign(claims(fmt, exp, ",\"aud\":[\"bulwark\"]")), "d");
    expect_deny(sign(claims(fmt, exp, ",\"aud\":\"other\"")), "wrong audience");
    expect_deny(sign(claims(fmt, exp, ",\"aud\":\"Bulwark\"")), "wrong audience");
    expect_deny(sign(claims(fmt, exp, ",\"aud\":\"bulwark \"")), "wrong audience");
    expect_deny(sign(claims(fmt, exp, ",\"aud\":\"bulwarkx\"")), "wrong audience");
    expect_deny(sign(claims(fmt, exp, ",\"aud\":\"\"")), "wrong audience");
    expect_deny(sign(claims(fmt, exp, ",\"aud\":[\"a\",\"b\"]")), "wrong audience");
    expect_deny(sign(claims(fmt, exp, ",\"aud\":[]")), "wrong audience");
    expect_deny(sign(claims(fmt, exp, "")), "wrong audience");
    expect_deny(sign(claims(fmt, exp, ",\"aud\":[[\"bulwark\"]]")), "malformed token claims");
    expect_deny(sign(claims(fmt, exp, ",\"aud\":[\"bulwark\",1]")), "malformed token claims");
    expect_deny(sign(claims(fmt, exp, ",\"aud\":{\"bulwark\":1}")), "malformed token claims");
    expect_deny(sign(claims(fmt, exp, ",\"aud\":null")), "malformed token claims");
    /* The audience is per issuer: idp2's audience does not open idp. */
    expect_deny(sign(claims(fmt, exp, ",\"aud\":\"mqtt\"")), "wrong audience");
#undef fmt
}

static void test_issuer(void **state)
{
    (void)state;
#define fmt "{%s\"sub\":\"d\",\"aud\":\"bulwark\",\"exp\":%lld}"
    long long exp = NOW + 60;
    expect_deny(sign(claims(fmt, "\"iss\":\"https://other.example\",", exp)),
                "unknown token issuer");
    expect_deny(sign(claims(fmt, "\"iss\":\"https://idp.example/\",", exp)),
                "unknown token issuer");
    expect_deny(sign(claims(fmt, "", exp)), "unknown token issuer");
    expect_deny(sign(claims(fmt, "\"iss\":7,", exp)), "malformed token claims");
    expect_deny(sign(claims(fmt, "\"iss\":[\"https://idp.example\"],", exp)),
                "malformed token claims");
    /* iss of one issuer signed by another issuer's key. */
    const char *c = claims(fmt, "\"iss\":\"https://idp.example\",", exp);
    expect_deny(sign_raw(HDR, c, &k_rot1), "bad signature");
#undef fmt
}

static void test_bad_signature(void **state)
{
    (void)state;
    expect_deny(sign_raw(HDR, good_claims(), &k_evil), "bad signature");
    /* One signature character changed, still canonical base64url. */
    sign(good_claims());
    size_t n = strlen(tok);
    char *c = &tok[n - 40];
    *c = *c == 'A' ? 'B' : 'A';
    expect_deny(tok, "bad signature");
    /* Signature of the wrong length, or not decodable. */
    sign(good_claims());
    tok[strlen(tok) - 4] = '\0'; /* 82 characters: 61 bytes */
    expect_deny(tok, "malformed token");
    sign(good_claims());
    strcat(tok, "AAAA");
    expect_deny(tok, "malformed token");
    sign(good_claims());
    tok[strlen(tok) - 1] = '\0'; /* 85 characters: impossible length */
    expect_deny(tok, "malformed token");
    /* The last character carries 2 spare bits: setting one makes it non-canonical, which
     * must not verify as an alternative spelling of the same signature. */
    sign(good_claims());
    char *last = &tok[strlen(tok) - 1];
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t v = (size_t)(strchr(alpha, *last) - alpha);
    *last = alpha[v ^ 1];
    expect_deny(tok, "malformed token");
    /* Empty signature (the shape of an unsigned token). */
    sign(good_claims());
    *strrchr(tok, '.') = '\0';
    strcat(tok, ".");
    expect_deny(tok, "malformed token");
}

static void test_tampered(void **state)
{
    (void)state;
    /* Signature of one payload glued to another (sub changed). */
    char sig_part[128];
    sign(good_claims());
    snprintf(sig_part, sizeof(sig_part), "%s", strrchr(tok, '.'));
    char other[4096];
    int hn = b64url_encode((const uint8_t *)HDR, strlen(HDR), other, sizeof(other));
    other[hn] = '.';
    const char *evil_claims = "{\"iss\":\"https://idp.example\",\"sub\":\"admin\",\"aud\":"
                              "\"bulwark\",\"exp\":1800000000}";
    int pn = b64url_encode((const uint8_t *)evil_claims, strlen(evil_claims), other + hn + 1,
                           sizeof(other) - (size_t)hn - 1);
    snprintf(other + hn + 1 + pn, sizeof(other) - (size_t)(hn + 1 + pn), "%s", sig_part);
    expect_deny(other, "bad signature");
    /* Header changed (typ dropped), signature kept. */
    sign(good_claims());
    char h2[64];
    int h2n = b64url_encode((const uint8_t *)"{\"alg\":\"EdDSA\"}", 15, h2, sizeof(h2));
    char rebuilt[sizeof(tok)];
    snprintf(rebuilt, sizeof(rebuilt), "%.*s%s", h2n, h2, strchr(tok, '.'));
    expect_deny(rebuilt, "bad signature");
    /* Whitespace added to the JSON changes the signed bytes too. */
    sign(good_claims());
    char sig2[128];
    snprintf(sig2, sizeof(sig2), "%s", strrchr(tok, '.'));
    char spaced[2048];
    snprintf(spaced, sizeof(spaced), "%s ", good_claims());
    sign(spaced);
    snprintf(strrchr(tok, '.'), 128, "%s", sig2);
    expect_deny(tok, "bad signature");
}

static void test_algorithms(void **state)
{
    (void)state;
    const char *c = good_claims();
    char copy[1024];
    snprintf(copy, sizeof(copy), "%s", c);
    static const char *const headers[] = {
        "{\"alg\":\"none\"}",
        "{\"alg\":\"none\",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"RS256\"}",
        "{\"alg\":\"ES256\"}",
        "{\"alg\":\"Ed25519\"}",
        "{\"alg\":\"eddsa\"}",
        "{\"alg\":\"EdDSA \"}",
        "{\"alg\":\"EdDSA\\u0000\"}",
        "{\"alg\":[\"EdDSA\"]}",
        "{\"alg\":null}",
        "{\"typ\":\"JWT\"}",
    };
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        /* Signed with the right key: the header alone must fail it. */
        sign_raw(headers[i], copy, &k_idp);
        const char *want =
            strstr(headers[i], "u0000") ? "bad token header" : "unsupported token algorithm";
        expect_deny(tok, want);
    }
    /* The classic unsigned token: header.payload. with an empty signature. */
    char none[2048];
    int n = b64url_encode((const uint8_t *)"{\"alg\":\"none\"}", 14, none, sizeof(none));
    none[n++] = '.';
    n += b64url_encode((const uint8_t *)copy, strlen(copy), none + n, sizeof(none) - (size_t)n);
    none[n++] = '.';
    none[n] = '\0';
    expect_deny(none, "unsupported token algorithm");
    /* HS256 "signed" with the public key as the HMAC secret (key confusion). */
    char hs[2048];
    n = b64url_encode((const uint8_t *)"{\"alg\":\"HS256\"}", 15, hs, sizeof(hs));
    hs[n++] = '.';
    n += b64url_encode((const uint8_t *)copy, strlen(copy), hs + n, sizeof(hs) - (size_t)n);
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, k_idp.pk, sizeof(k_idp.pk));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)hs, (unsigned long long)n);
    crypto_auth_hmacsha256_final(&st, mac);
    hs[n++] = '.';
    b64url_encode(mac, sizeof(mac), hs + n, sizeof(hs) - (size_t)n);
    expect_deny(hs, "unsupported token algorithm");
}

static void test_header_fields(void **state)
{
    (void)state;
    const char *c = good_claims();
    char copy[1024];
    snprintf(copy, sizeof(copy), "%s", c);
    expect_allow(sign_raw("{\"alg\":\"EdDSA\"}", copy, &k_idp), "dev-1");
    expect_allow(sign_raw(" {\"typ\":\"JWT\", \"alg\":\"EdDSA\"} ", copy, &k_idp), "dev-1");
    expect_deny(sign_raw("{\"alg\":\"EdDSA\",\"typ\":\"jwt\"}", copy, &k_idp), "bad token header");
    expect_deny(sign_raw("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}", copy, &k_idp),
                "bad token header");
    expect_deny(sign_raw("{\"alg\":\"EdDSA\",\"typ\":1}", copy, &k_idp), "bad token header");
    expect_deny(sign_raw("{\"alg\":\"EdDSA\",\"crit\":[\"exp\"],\"exp\":1}", copy, &k_idp),
                "bad token header");
    expect_deny(sign_raw("{\"alg\":\"EdDSA\",\"kid\":5}", copy, &k_idp), "bad token header");
    expect_deny(sign_raw("{\"alg\":\"EdDSA\",\"alg\":\"EdDSA\"}", copy, &k_idp),
                "bad token header");
    expect_deny(sign_raw("{\"alg\":\"none\",\"alg\":\"EdDSA\"}", copy, &k_idp), "bad token header");
    expect_deny(sign_raw("{\"alg\":\"EdDSA\",}", copy, &k_idp), "bad token header");
    expect_deny(sign_raw("{\"alg\":\"EdDSA\"}x", copy, &k_idp), "bad token header");
    /* A header that is not base64url-canonical: 16 bytes leave 4 spare bits in the last
     * character; setting one must not decode to the same header. */
    sign_raw("{\"alg\":\"EdDSA\"} ", copy, &k_idp);
    char *last = strchr(tok, '.') - 1;
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    *last = alpha[(size_t)(strchr(alpha, *last) - alpha) ^ 1];
    expect_deny(tok, "malformed token");
    /* Without a decodable '{' at the start it is not even token-shaped. */
    sign_raw("{}", copy, &k_idp);
    tok[2] = '1'; /* "e30" -> "e31" */
    assert_int_equal(ask(tok), AUTH_NO_OPINION);
    struct jwt_result res;
    assert_int_equal(jwt_verify((const uint8_t *)tok, strlen(tok), issuers, 5, NOW, 30, &res),
                     JWT_MALFORMED);
}

static void test_claims_strictness(void **state)
{
    (void)state;
    long long exp = NOW + 60;
    /* Duplicate claims: which sub would win is exactly the ambiguity to refuse. */
    expect_deny(sign(claims("{\"iss\":\"https://idp.example\",\"sub\":\"user\",\"sub\":\"admin\","
                            "\"aud\":\"bulwark\",\"exp\":%lld}",
                            exp)),
                "malformed token claims");
    expect_deny(sign(claims("{\"iss\":\"https://idp.example\",\"sub\":\"d\",\"aud\":\"bulwark\","
                            "\"exp\":%lld,\"exp\":%lld}",
                            exp, exp)),
                "malformed token claims");
    expect_deny(sign(claims("{\"iss\":\"https://idp.example\",\"\\u0073ub\":\"x\",\"sub\":\"d\","
                            "\"aud\":\"bulwark\",\"exp\":%lld}",
                            exp)),
                "malformed token claims");
    expect_deny(sign(claims("{\"iss\":\"https://idp.example\",\"sub\":\"d\",\"aud\":\"bulwark\","
                            "\"exp\":%lld,}",
                            exp)),
                "malformed token claims");
    expect_deny(sign("[\"https://idp.example\"]"), "malformed token claims");
    expect_deny(sign("not json"), "malformed token claims");
    expect_deny(sign("{\"iss\":\"https://idp.example\"} {}"), "malformed token claims");
}

static void test_subject(void **state)
{
    (void)state;
#define fmt "{\"iss\":\"https://idp.example\",%s\"aud\":\"bulwark\",\"exp\":%lld}"
    long long exp = NOW + 60;
    char sub[JWT_MAX_SUB + 2];
    char member[JWT_MAX_SUB + 16];
    memset(sub, 'a', sizeof(sub));
    sub[JWT_MAX_SUB] = '\0';
    snprintf(member, sizeof(member), "\"sub\":\"%s\",", sub);
    expect_allow(sign(claims(fmt, member, exp)), sub); /* 127 bytes: the most that fits */
    sub[JWT_MAX_SUB] = 'a';
    sub[JWT_MAX_SUB + 1] = '\0';
    snprintf(member, sizeof(member), "\"sub\":\"%s\",", sub);
    expect_deny(sign(claims(fmt, member, exp)), "bad token subject");
    expect_deny(sign(claims(fmt, "", exp)), "bad token subject");
    expect_deny(sign(claims(fmt, "\"sub\":\"\",", exp)), "bad token subject");
    expect_deny(sign(claims(fmt, "\"sub\":\"a\\nb\",", exp)), "bad token subject");
    expect_deny(sign(claims(fmt, "\"sub\":\"a\\u007fb\",", exp)), "bad token subject");
    expect_deny(sign(claims(fmt, "\"sub\":\"\\u001b[31m\",", exp)), "bad token subject");
    expect_deny(sign(claims(fmt, "\"sub\":42,", exp)), "bad token subject");
    expect_deny(sign(claims(fmt, "\"sub\":null,", exp)), "bad token subject");
    /* Escapes are decoded: the identity is the decoded text. */
    expect_allow(sign(claims(fmt, "\"sub\":\"ger\\u00e4t/\\\"1\\\"\",", exp)),
                 "ger\xC3\xA4t/\"1\"");
#undef fmt
}

static void test_kid_selection(void **state)
{
    (void)state;
    const char *c = claims("{\"iss\":\"idp2\",\"sub\":\"k\",\"aud\":\"mqtt\",\"exp\":%lld}",
                           (long long)NOW + 60);
    char copy[512];
    snprintf(copy, sizeof(copy), "%s", c);
    struct jwt_result res;
    sign_raw("{\"alg\":\"EdDSA\",\"kid\":\"k2b\"}", copy, &k_idp2b);
    assert_int_equal(jwt_verify((const uint8_t *)tok, strlen(tok), issuers, 5, NOW, 30, &res),
                     JWT_OK);
    assert_int_equal(res.issuer, 2);
    expect_allow(tok, "k");
    sign_raw("{\"alg\":\"EdDSA\",\"kid\":\"k2a\"}", copy, &k_idp2a);
    assert_int_equal(jwt_verify((const uint8_t *)tok, strlen(tok), issuers, 5, NOW, 30, &res),
                     JWT_OK);
    assert_int_equal(res.issuer, 1);
    /* The kid picks the key: k2a's kid with k2b's signature fails. */
    expect_deny(sign_raw("{\"alg\":\"EdDSA\",\"kid\":\"k2a\"}", copy, &k_idp2b), "bad signature");
    expect_deny(sign_raw("{\"alg\":\"EdDSA\",\"kid\":\"k2c\"}", copy, &k_idp2b),
                "unknown token key id");
    expect_deny(sign_raw("{\"alg\":\"EdDSA\",\"kid\":\"K2B\"}", copy, &k_idp2b),
                "unknown token key id");
    /* idp2's keys all have a kid: a token without one matches none of them. */
    expect_deny(sign_raw("{\"alg\":\"EdDSA\"}", copy, &k_idp2b), "unknown token key id");
    /* A kid does not let one issuer's key speak for another issuer. */
    c = claims("{\"iss\":\"https://idp.example\",\"sub\":\"k\",\"aud\":\"bulwark\","
               "\"exp\":%lld}",
               (long long)NOW + 60);
    snprintf(copy, sizeof(copy), "%s", c);
    expect_deny(sign_raw("{\"alg\":\"EdDSA\",\"kid\":\"k2b\"}", copy, &k_idp2b), "bad signature");
    /* Rotation without kids: either configured key of "rot" verifies, a kid is ignored. */
    c = claims("{\"iss\":\"rot\",\"sub\":\"r\",\"aud\":\"bulwark\",\"exp\":%lld}",
               (long long)NOW + 60);
    snprintf(copy, sizeof(copy), "%s", c);
    sign_raw(HDR, copy, &k_rot2);
    assert_int_equal(jwt_verify((const uint8_t *)tok, strlen(tok), issuers, 5, NOW, 30, &res),
                     JWT_OK);
    assert_int_equal(res.issuer, 4);
    sign_raw("{\"alg\":\"EdDSA\",\"kid\":\"whatever\"}", copy, &k_rot1);
    assert_int_equal(jwt_verify((const uint8_t *)tok, strlen(tok), issuers, 5, NOW, 30, &res),
                     JWT_OK);
    assert_int_equal(res.issuer, 3);
    expect_deny(sign_raw(HDR, copy, &k_idp), "bad signature");
    /* A kid longer than any configured one is refused, not truncated. */
    char hdr[400];
    char longkid[JWT_MAX_NAME + 2];
    memset(longkid, 'k', sizeof(longkid) - 1);
    longkid[sizeof(longkid) - 1] = '\0';
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", longkid);
    expect_deny(sign_raw(hdr, copy, &k_rot1), "bad token header");
}

/* A valid idp token of exactly want bytes (padding claim and header blanks adjusted). */
static bool sized_token(size_t want)
{
    static char pad[JWT_MAX_TOKEN + 16];
    static char hdr[64];
    for (size_t blanks = 0; blanks < 3; blanks++) {
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"EdDSA\"}%.*s", (int)blanks, "   ");
        for (size_t p = 0; p + 1 < sizeof(pad); p++) {
            memset(pad, 'p', p);
            pad[p] = '\0';
            sign_raw(hdr,
                     claims("{\"iss\":\"https://idp.example\",\"sub\":\"big\",\"aud\":"
                            "\"bulwark\",\"exp\":%lld,\"pad\":\"%s\"}",
                            (long long)NOW + 60, pad),
                     &k_idp);
            if (strlen(tok) == want)
                return true;
            if (strlen(tok) > want)
                break;
        }
    }
    return false;
}

static void test_oversized(void **state)
{
    (void)state;
    assert_true(sized_token(JWT_MAX_TOKEN));
    expect_allow(tok, "big");
    assert_true(sized_token(JWT_MAX_TOKEN + 1));
    expect_deny(tok, "token too large");
    /* A token-shaped password near the MQTT maximum is refused by size, not parsed. */
    size_t n = 65000;
    char *huge = malloc(n + 1);
    assert_non_null(huge);
    memset(huge, 'A', n);
    memcpy(huge, "eyJh", 4);
    huge[100] = '.';
    huge[200] = '.';
    huge[n] = '\0';
    expect_deny(huge, "token too large");
    free(huge);
}

static void test_config(void **state)
{
    (void)state;
    char err[256];
    struct jwt_issuer bad = issuers[0];
    assert_int_equal(jwt_check_issuers(issuers, 5, 30, err, sizeof(err)), 0);
    assert_int_equal(jwt_check_issuers(issuers, 0, 30, err, sizeof(err)), -1);
    assert_null(backend_jwt_new(issuers, 0, 30));
    assert_null(backend_jwt_new(NULL, 1, 30));

    memset(bad.public_key, 0, 32); /* not a point in the main subgroup */
    assert_int_equal(jwt_check_issuers(&bad, 1, 30, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a valid Ed25519 key"));
    assert_null(backend_jwt_new(&bad, 1, 30));
    bad.public_key[0] = 1; /* the neutral element: small order, every signature "verifies" */
    assert_int_equal(jwt_check_issuers(&bad, 1, 30, err, sizeof(err)), -1);

    bad = issuers[0];
    bad.name = "";
    assert_int_equal(jwt_check_issuers(&bad, 1, 30, err, sizeof(err)), -1);
    bad.name = NULL;
    assert_int_equal(jwt_check_issuers(&bad, 1, 30, err, sizeof(err)), -1);
    bad = issuers[0];
    bad.audience = NULL;
    assert_int_equal(jwt_check_issuers(&bad, 1, 30, err, sizeof(err)), -1);
    bad = issuers[0];
    bad.kid = "";
    assert_int_equal(jwt_check_issuers(&bad, 1, 30, err, sizeof(err)), -1);

    struct jwt_issuer two[2] = {issuers[1], issuers[1]};
    assert_int_equal(jwt_check_issuers(two, 2, 30, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "configured twice"));
    two[1].name = "idp3"; /* the same kid under another issuer name is another key */
    assert_int_equal(jwt_check_issuers(two, 2, 30, err, sizeof(err)), 0);

    struct jwt_issuer many[JWT_MAX_ISSUERS + 1];
    for (size_t i = 0; i < JWT_MAX_ISSUERS + 1; i++)
        many[i] = issuers[0];
    assert_int_equal(jwt_check_issuers(many, JWT_MAX_ISSUERS, 30, err, sizeof(err)), 0);
    assert_int_equal(jwt_check_issuers(many, JWT_MAX_ISSUERS + 1, 30, err, sizeof(err)), -1);
}

static void test_issuers_are_copied(void **state)
{
    (void)state;
    struct jwt_issuer is = issuers[0];
    is.name = strdup("https://idp.example");
    is.audience = strdup("bulwark");
    is.kid = strdup("only");
    struct auth_backend *b = backend_jwt_new(&is, 1, 30);
    assert_non_null(b);
    free((char *)is.name);
    free((char *)is.audience);
    free((char *)is.kid);
    memset(is.public_key, 0, 32);
    sign_raw("{\"alg\":\"EdDSA\",\"kid\":\"only\"}", good_claims(), &k_idp);
    assert_int_equal(ask_be(b, tok, NULL), AUTH_ALLOW);
    assert_string_equal(out.identity, "dev-1");
    b->destroy(b->ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64url),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_username_rule),
        cmocka_unit_test(test_not_a_token),
        cmocka_unit_test(test_expired_and_leeway),
        cmocka_unit_test(test_not_yet_valid),
        cmocka_unit_test(test_time_claim_types),
        cmocka_unit_test(test_audience),
        cmocka_unit_test(test_issuer),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_algorithms),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_claims_strictness),
        cmocka_unit_test(test_subject),
        cmocka_unit_test(test_kid_selection),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_issuers_are_copied),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
