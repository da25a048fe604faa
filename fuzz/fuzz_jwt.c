/* fuzz_jwt: the strict JSON parser (auth/json_min.h) and EdDSA token verification
 * (auth/jwt.h, auth/backend_jwt.h).
 *
 * Input: one selector byte, then the data. Selector & 3:
 *   0  json_parse(data)
 *   1  jwt_verify(data) as a token, against fixed issuers
 *   2  data is "HEADER-JSON 0xFF CLAIMS-JSON": the harness encodes and signs it with a
 *      configured key (selector bit 2 picks which), so the claim checks behind the
 *      signature are reached; selector bits 3-7 pick the leeway
 *   3  the backend's authenticate() with data as the CONNECT password
 * Oracles: no crash, leak or undefined behaviour; json_parse succeeds only on a single
 * object, gives unique top-level keys, NUL-free valid UTF-8 strings and in-range array
 * items, reports failures with an offset, and answers the same twice; no token the harness
 * did not sign is ever accepted (a forgery), a NOT_JWT answer means not token-shaped; a
 * token signed here is accepted only with alg EdDSA and a sane subject, by the issuer
 * whose key signed it, is refused once its signature is altered or the issuers' keys are
 * replaced (and then never with a reason that needs a verified signature), and expires
 * at exp + leeway. */
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend_jwt.h"
#include "base64url.h"
#include "fuzz_util.h"
#include "json_min.h"
#include "jwt.h"

#define NOW ((int64_t)1700000000)
#define PART_CAP 6144 /* larger header or claims only make tokens that are too large */

static struct json_doc doc_a, doc_b;
static struct jwt_issuer issuers[2], swapped[2]; /* swapped: right names, unused key */
static uint8_t sk_a[crypto_sign_SECRETKEYBYTES], sk_b[crypto_sign_SECRETKEYBYTES];
static struct auth_backend *backend;
static char tok[2 * (PART_CAP / 3 * 4 + 4) + 96];

static void setup(void)
{
    if (backend)
        return;
    FUZZ_CHECK(sodium_init() >= 0, "sodium_init");
    /* Fixed seeds: every run sees the same keys, so crashes reproduce. */
    uint8_t seed[crypto_sign_SEEDBYTES];
    uint8_t pk_a[crypto_sign_PUBLICKEYBYTES], pk_b[crypto_sign_PUBLICKEYBYTES];
    memset(seed, 0xA5, sizeof(seed));
    crypto_sign_seed_keypair(pk_a, sk_a, seed);
    memset(seed, 0x5B, sizeof(seed));
    crypto_sign_seed_keypair(pk_b, sk_b, seed);
    issuers[0] = (struct jwt_issuer){.name = "iss-a", .audience = "aud-a"};
    memcpy(issuers[0].public_key, pk_a, sizeof(pk_a));
    issuers[1] = (struct jwt_issuer){.name = "iss-b", .audience = "aud-b", .kid = "kb"};
    memcpy(issuers[1].public_key, pk_b, sizeof(pk_b));
    /* Same names, audiences and kids, a key that signs nothing: nothing verifies. */
    uint8_t pk_c[crypto_sign_PUBLICKEYBYTES], sk_c[crypto_sign_SECRETKEYBYTES];
    memset(seed, 0xC3, sizeof(seed));
    crypto_sign_seed_keypair(pk_c, sk_c, seed);
    swapped[0] = issuers[0];
    swapped[1] = issuers[1];
    memcpy(swapped[0].public_key, pk_c, sizeof(pk_c));
    memcpy(swapped[1].public_key, pk_c, sizeof(pk_c));
    char err[256];
    FUZZ_CHECK(jwt_check_issuers(issuers, 2, JWT_DEFAULT_LEEWAY_S, err, sizeof(err)) == 0, "%s",
               err);
    backend = backend_jwt_new(issuers, 2, JWT_DEFAULT_LEEWAY_S);
    FUZZ_CHECK(backend != NULL, "backend_jwt_new");
}

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void check_string(const char *s, size_t len)
{
    FUZZ_CHECK(s != NULL, "string without text");
    FUZZ_CHECK(strlen(s) == len, "string length %zu but strlen %zu", len, strlen(s));
    FUZZ_CHECK(fz_ref_utf8((const uint8_t *)s, len), "decoded string is not valid UTF-8");
}

static void fuzz_json(const uint8_t *data, size_t len)
{
    char err[128], err2[128];
    int rc = json_parse(data, len, &doc_a, err, sizeof(err));
    int rc2 = json_parse(data, len, &doc_b, err2, sizeof(err2));
    FUZZ_CHECK(rc == rc2, "json_parse answered %d then %d", rc, rc2);
    if (rc != 0) {
        FUZZ_CHECK(strstr(err, " at offset ") != NULL, "error without offset: %s", err);
        FUZZ_CHECK(strcmp(err, err2) == 0, "errors differ: %s / %s", err, err2);
        FUZZ_CHECK(doc_a.n_members == 0, "members left after a failure");
        return;
    }
    FUZZ_CHECK(rc == 0, "json_parse returned %d", rc);
    FUZZ_CHECK(len <= JSON_MAX_INPUT, "accepted %zu bytes", len);
    size_t a = 0, b = len;
    while (a < b && is_ws(data[a]))
        a++;
    while (b > a && is_ws(data[b - 1]))
        b--;
    FUZZ_CHECK(b - a >= 2 && data[a] == '{' && data[b - 1] == '}', "accepted a non-object");
    FUZZ_CHECK(doc_a.n_members <= JSON_MAX_KEYS && doc_a.n_items <= JSON_MAX_ITEMS,
               "tables overflowed");
    FUZZ_CHECK(doc_a.n_members == doc_b.n_members, "member counts differ");
    for (size_t i = 0; i < doc_a.n_members; i++) {
        const struct json_member *m = &doc_a.members[i];
        check_string(m->key, m->key_len);
        FUZZ_CHECK(json_get(&doc_a, m->key) == m, "key %zu is not unique", i);
        const struct json_value *v = &m->value;
        if (v->type == JSON_STRING)
            check_string(v->str, v->str_len);
        if (v->type == JSON_ARRAY) {
            FUZZ_CHECK(v->first <= doc_a.n_items && v->count <= doc_a.n_items - v->first,
                       "array items out of range");
            for (size_t k = 0; k < v->count; k++) {
                const struct json_value *it = &doc_a.items[v->first + k];
                if (it->type == JSON_STRING)
                    check_string(it->str, it->str_len);
            }
        }
        FUZZ_CHECK(m->key_len == doc_b.members[i].key_len &&
                       memcmp(m->key, doc_b.members[i].key, m->key_len) == 0,
                   "second parse gave other keys");
    }
}

/* Statuses that may only be given after a signature verified. */
static bool post_signature(enum jwt_status st)
{
    return st == JWT_OK || st == JWT_BAD_SUBJECT || st == JWT_NO_EXPIRY || st == JWT_EXPIRED ||
           st == JWT_NOT_YET_VALID || st == JWT_ISSUED_IN_FUTURE || st == JWT_WRONG_AUDIENCE;
}

static void fuzz_token(const uint8_t *data, size_t len)
{
    struct jwt_result res;
    enum jwt_status st = jwt_verify(data, len, issuers, 2, NOW, JWT_DEFAULT_LEEWAY_S, &res);
    /* Without the secret keys, nothing here can be signed: acceptance is a forgery. */
    FUZZ_CHECK(!post_signature(st), "unsigned input passed the signature check (status %d)",
               (int)st);
    if (len > JWT_MAX_TOKEN)
        FUZZ_CHECK(st == JWT_TOO_LARGE, "oversized token: status %d", st);
    if (st == JWT_NOT_JWT)
        FUZZ_CHECK(!jwt_shaped(data, len), "shaped but NOT_JWT");
    (void)jwt_status_reason(st);
}

static void fuzz_signed(uint8_t sel, const uint8_t *data, size_t len)
{
    const uint8_t *sep = memchr(data, 0xFF, len);
    if (!sep)
        return;
    size_t hlen = (size_t)(sep - data), plen = len - hlen - 1;
    if (hlen > PART_CAP || plen > PART_CAP || plen == 0 || hlen == 0)
        return;
    const uint8_t *sk = (sel & 4) ? sk_b : sk_a;
    uint32_t leeway = (uint32_t)(sel >> 3) * 20; /* 0..620: also above the maximum */

    int n = b64url_encode(data, hlen, tok, sizeof(tok));
    FUZZ_CHECK(n > 0, "encode header");
    size_t pos = (size_t)n;
    tok[pos++] = '.';
    n = b64url_encode(sep + 1, plen, tok + pos, sizeof(tok) - pos);
    FUZZ_CHECK(n > 0, "encode claims");
    pos += (size_t)n;
    uint8_t sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const uint8_t *)tok, pos, sk);
    tok[pos++] = '.';
    n = b64url_encode(sig, sizeof(sig), tok + pos, sizeof(tok) - pos);
    FUZZ_CHECK(n == 86, "encode signature");
    pos += (size_t)n;

    const uint8_t *t = (const uint8_t *)tok;
    struct jwt_result res, res2;
    enum jwt_status st = jwt_verify(t, pos, issuers, 2, NOW, leeway, &res);
    FUZZ_CHECK(jwt_verify(t, pos, issuers, 2, NOW, leeway, &res2) == st, "not deterministic");
    enum jwt_status sw = jwt_verify(t, pos, swapped, 2, NOW, leeway, &res2);
    FUZZ_CHECK(!post_signature(sw), "verified with the wrong key (status %d)", (int)sw);
    if (st != JWT_OK)
        return;

    /* Accepted: check what was accepted. */
    FUZZ_CHECK(res.issuer == ((sel & 4) ? 1u : 0u), "accepted under issuer %zu", res.issuer);
    size_t sub_len = strlen(res.sub);
    FUZZ_CHECK(sub_len >= 1 && sub_len <= JWT_MAX_SUB, "subject length %zu", sub_len);
    for (size_t i = 0; i < sub_len; i++)
        FUZZ_CHECK((uint8_t)res.sub[i] >= 0x20 && res.sub[i] != 0x7f, "control in subject");
    FUZZ_CHECK(json_parse(data, hlen, &doc_a, NULL, 0) == 0, "accepted a bad header");
    const struct json_member *alg = json_get(&doc_a, "alg");
    FUZZ_CHECK(alg && alg->value.type == JSON_STRING && strcmp(alg->value.str, "EdDSA") == 0,
               "accepted without alg EdDSA");
    /* exp + leeway is the end: one second later it is expired. */
    FUZZ_CHECK(res.exp > NOW - (int64_t)leeway, "accepted after exp + leeway");
    if (res.exp <= INT64_MAX - (int64_t)leeway) {
        enum jwt_status later =
            jwt_verify(t, pos, issuers, 2, res.exp + (int64_t)leeway, leeway, &res2);
        FUZZ_CHECK(later == JWT_EXPIRED, "still accepted at exp + leeway (status %d)", (int)later);
    }
    /* Any change to the signature refuses it. */
    tok[pos - 10] = tok[pos - 10] == 'A' ? 'B' : 'A';
    enum jwt_status bad = jwt_verify(t, pos, issuers, 2, NOW, leeway, &res2);
    FUZZ_CHECK(bad == JWT_BAD_SIGNATURE, "altered signature gave status %d", (int)bad);
}

static void fuzz_backend(const uint8_t *data, size_t len)
{
    struct auth_request req = {
        .client_id = (const uint8_t *)"fuzz",
        .client_id_len = 4,
        .password = data,
        .password_len = len,
        .peer = "192.0.2.1:1",
        .now = (time_t)NOW,
    };
    struct auth_outcome out;
    memset(&out, 0, sizeof(out));
    enum auth_result r = backend->authenticate(backend->ctx, &req, &out);
    FUZZ_CHECK(r != AUTH_ALLOW, "unsigned password allowed as %s", out.identity);
    FUZZ_CHECK((r == AUTH_NO_OPINION) == !jwt_shaped(data, len), "opinion %d vs shape", (int)r);
    if (r == AUTH_DENY)
        FUZZ_CHECK(out.reason[0] != '\0', "deny without reason");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    switch (sel & 3) {
    case 0:
        fuzz_json(data, size);
        break;
    case 1:
        fuzz_token(data, size);
        break;
    case 2:
        fuzz_signed(sel, data, size);
        break;
    default:
        fuzz_backend(data, size);
        break;
    }
    return 0;
}
