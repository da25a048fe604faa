#include "enhanced_auth.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

struct challenge {
    uint8_t nonce[EAUTH_NONCE_BYTES];
    uint64_t expires_ms;
};

struct eauth {
    struct strmap pending; /* 8-byte conversation id -> struct challenge */
    uint32_t max, ttl_ms;
};

struct eauth *eauth_new(uint32_t max, uint32_t ttl_ms)
{
    struct eauth *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    strmap_init(&e->pending);
    e->max = max;
    e->ttl_ms = ttl_ms;
    return e;
}

static bool free_one(void *ctx, const void *key, size_t len, void *value)
{
    (void)ctx;
    (void)key;
    (void)len;
    sodium_memzero(value, sizeof(struct challenge));
    free(value);
    return false;
}

void eauth_free(struct eauth *e)
{
    if (!e)
        return;
    strmap_each(&e->pending, free_one, NULL);
    strmap_clear(&e->pending);
    free(e);
}

bool eauth_method_known(const uint8_t *method, size_t len)
{
    return len == strlen(EAUTH_METHOD) && memcmp(method, EAUTH_METHOD, len) == 0;
}

static void conv_key(uint64_t conv, uint8_t key[8])
{
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(conv >> (56 - 8 * i));
}

/* strmap_each removes the entries this returns true for: the expired ones, freed here. */
static bool drop_expired(void *ctx, const void *key, size_t len, void *value)
{
    const uint64_t *now = ctx;
    const struct challenge *c = value;
    if (c->expires_ms > *now)
        return false;
    free_one(NULL, key, len, value);
    return true;
}

/* Drops expired conversations (clients that never answered). */
static void sweep(struct eauth *e, uint64_t now)
{
    strmap_each(&e->pending, drop_expired, &now);
}

int eauth_challenge(struct eauth *e, uint64_t conv, uint64_t now_ms,
                    uint8_t nonce[EAUTH_NONCE_BYTES])
{
    uint8_t key[8];
    conv_key(conv, key);
    struct challenge *c = strmap_get(&e->pending, key, 8);
    if (!c) {
        if (strmap_count(&e->pending) >= e->max)
            sweep(e, now_ms);
        if (strmap_count(&e->pending) >= e->max)
            return -1;
        c = malloc(sizeof(*c));
        if (!c || strmap_put(&e->pending, key, 8, c) != 0) {
            free(c);
            return -1;
        }
    }
    randombytes_buf(c->nonce, sizeof(c->nonce));
    c->expires_ms = now_ms + e->ttl_ms;
    memcpy(nonce, c->nonce, EAUTH_NONCE_BYTES);
    return 0;
}

size_t eauth_message(const uint8_t nonce[EAUTH_NONCE_BYTES], const uint8_t *client_id,
                     size_t client_id_len, uint8_t *out, size_t cap)
{
    size_t ml = strlen(EAUTH_METHOD) + 1;
    if (cap < ml + EAUTH_NONCE_BYTES + client_id_len)
        return 0;
    memcpy(out, EAUTH_METHOD, ml); /* with its NUL: the separator */
    memcpy(out + ml, nonce, EAUTH_NONCE_BYTES);
    if (client_id_len)
        memcpy(out + ml + EAUTH_NONCE_BYTES, client_id, client_id_len);
    return ml + EAUTH_NONCE_BYTES + client_id_len;
}

enum eauth_result eauth_verify(struct eauth *e, uint64_t conv, uint64_t now_ms, const uint8_t *pk,
                               const uint8_t *client_id, size_t client_id_len, const uint8_t *sig,
                               size_t sig_len)
{
    uint8_t key[8];
    conv_key(conv, key);
    struct challenge *c = strmap_get(&e->pending, key, 8);
    if (!c)
        return EAUTH_NO_CHALLENGE;
    strmap_del(&e->pending, key, 8);
    struct challenge mine = *c;
    free_one(NULL, NULL, 0, c);
    if (mine.expires_ms <= now_ms)
        return EAUTH_NO_CHALLENGE;
    size_t cap = sizeof(EAUTH_METHOD) + EAUTH_NONCE_BYTES + client_id_len;
    uint8_t *msg = malloc(cap);
    size_t ml = msg ? eauth_message(mine.nonce, client_id, client_id_len, msg, cap) : 0;
    sodium_memzero(&mine, sizeof(mine));
    bool ok = pk && ml && sig_len == EAUTH_SIG_BYTES &&
              crypto_sign_verify_detached(sig, msg, ml, pk) == 0;
    free(msg);
    return ok ? EAUTH_OK : EAUTH_BAD_SIGNATURE;
}

size_t eauth_pending(const struct eauth *e)
{
    return strmap_count(&e->pending);
}
