#include "mosq_hash.h"

#include <sodium.h>
#include <stdbool.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/pwdbased.h>
#include <wolfssl/wolfcrypt/sha512.h>

#define HASH_BYTES 64u

/* A stored hash split into its fields; salt and hash decoded. */
struct parsed {
    enum mosq_hash_kind kind;
    uint32_t iterations; /* $7$ only */
    uint8_t salt[MOSQ_HASH_SALT_MAX];
    size_t salt_len;
    uint8_t hash[HASH_BYTES];
};

/* Plain decimal, no sign, no leading zero, within 1..MOSQ_HASH_MAX_ITERATIONS. */
static bool parse_iterations(const char *s, size_t len, uint32_t *out)
{
    if (len == 0 || len > 8 || s[0] == '0')
        return false; /* 8 digits hold the maximum */
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v == 0 || v > MOSQ_HASH_MAX_ITERATIONS)
        return false;
    *out = v;
    return true;
}

/* Standard base64 with padding, nothing before or after, decoding to min..max bytes. */
static bool decode(const char *s, size_t len, uint8_t *out, size_t min, size_t max, size_t *outlen)
{
    const char *end = NULL;
    size_t n = 0;
    if (len == 0 || len % 4 != 0 || len / 4 * 3 > max + 2)
        return false;
    if (sodium_base642bin(out, max, s, len, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + len || n < min || n > max)
        return false;
    *outlen = n;
    return true;
}

static bool parse(const char *stored, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    if (!stored)
        return false;
    size_t len = strnlen(stored, MOSQ_HASH_MAX_LEN + 1);
    if (len > MOSQ_HASH_MAX_LEN || len < 3 || stored[0] != '$' || stored[2] != '$')
        return false;
    if (stored[1] == '6')
        p->kind = MOSQ_HASH_SHA512;
    else if (stored[1] == '7')
        p->kind = MOSQ_HASH_PBKDF2_SHA512;
    else
        return false;
    /* The fields after "$N$", separated by '$': [iterations,] salt, hash; the last one runs
     * to the end and holds no '$'. */
    const char *field[3] = {NULL, NULL, NULL};
    size_t flen[3] = {0, 0, 0};
    size_t want = p->kind == MOSQ_HASH_PBKDF2_SHA512 ? 3 : 2;
    const char *s = stored + 3, *end = stored + len;
    for (size_t i = 0; i < want; i++) {
        const char *sep = memchr(s, '$', (size_t)(end - s));
        if ((i + 1 < want) != (sep != NULL))
            return false;
        field[i] = s;
        flen[i] = (size_t)((sep ? sep : end) - s);
        s += flen[i] + 1;
    }
    size_t salt = want - 2, hash_len = 0;
    if (p->kind == MOSQ_HASH_PBKDF2_SHA512 && !parse_iterations(field[0], flen[0], &p->iterations))
        return false;
    return decode(field[salt], flen[salt], p->salt, MOSQ_HASH_SALT_MIN, MOSQ_HASH_SALT_MAX,
                  &p->salt_len) &&
           decode(field[salt + 1], flen[salt + 1], p->hash, HASH_BYTES, HASH_BYTES, &hash_len);
}

enum mosq_hash_kind mosq_hash_kind(const char *stored)
{
    struct parsed p;
    enum mosq_hash_kind k = parse(stored, &p) ? p.kind : MOSQ_HASH_MALFORMED;
    sodium_memzero(&p, sizeof(p));
    return k;
}

/* SHA-512(pw || salt), streamed so the password is never copied. */
static int sha512_salted(const uint8_t *pw, size_t pwlen, const struct parsed *p, uint8_t *out)
{
    wc_Sha512 sha;
    if (wc_InitSha512(&sha) != 0)
        return -1;
    int rc = 0;
    if ((pwlen && wc_Sha512Update(&sha, pw, (word32)pwlen) != 0) ||
        wc_Sha512Update(&sha, p->salt, (word32)p->salt_len) != 0 || wc_Sha512Final(&sha, out) != 0)
        rc = -1;
    wc_Sha512Free(&sha);
    sodium_memzero(&sha, sizeof(sha));
    return rc;
}

int mosq_hash_verify(const char *stored, const uint8_t *pw, size_t pwlen)
{
    struct parsed p;
    if (!parse(stored, &p) || (!pw && pwlen)) {
        sodium_memzero(&p, sizeof(p));
        return -1;
    }
    if (pwlen > MOSQ_HASH_MAX_PASSWORD) {
        sodium_memzero(&p, sizeof(p));
        return 0;
    }
    static const uint8_t empty[1] = {0};
    if (!pw)
        pw = empty; /* wolfSSL wants a pointer even for an empty password */
    uint8_t got[HASH_BYTES];
    int rc;
    if (p.kind == MOSQ_HASH_PBKDF2_SHA512)
        rc = wc_PBKDF2(got, pw, (int)pwlen, p.salt, (int)p.salt_len, (int)p.iterations,
                       (int)HASH_BYTES, WC_SHA512) == 0
                 ? 0
                 : -1;
    else
        rc = sha512_salted(pw, pwlen, &p, got);
    if (rc == 0)
        rc = sodium_memcmp(got, p.hash, HASH_BYTES) == 0 ? 1 : 0;
    sodium_memzero(got, sizeof(got));
    sodium_memzero(&p, sizeof(p));
    return rc;
}
