#include "verify_cache.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

#define VC_DIGEST 32

struct verify_cache {
    uint32_t size, ttl_ms;
    uint8_t key[crypto_generichash_KEYBYTES];
    struct strmap entries; /* digest -> expiry (ms, stored in the pointer value) */
};

struct verify_cache *verify_cache_new(uint32_t size, uint32_t ttl_ms)
{
    if (sodium_init() < 0)
        return NULL;
    struct verify_cache *vc = calloc(1, sizeof(*vc));
    if (!vc)
        return NULL;
    vc->size = size;
    vc->ttl_ms = ttl_ms;
    randombytes_buf(vc->key, sizeof(vc->key));
    strmap_init(&vc->entries);
    return vc;
}

void verify_cache_free(struct verify_cache *vc)
{
    if (!vc)
        return;
    strmap_clear(&vc->entries);
    sodium_memzero(vc->key, sizeof(vc->key));
    free(vc);
}

/* Lengths go in too, so ("ab","c") and ("a","bc") cannot collide. */
static void digest(const struct verify_cache *vc, const uint8_t *user, size_t ulen,
                   const uint8_t *pw, size_t pwlen, const char *stored, uint8_t out[VC_DIGEST])
{
    crypto_generichash_state st;
    uint64_t lens[3] = {ulen, pwlen, strlen(stored)};
    crypto_generichash_init(&st, vc->key, sizeof(vc->key), VC_DIGEST);
    crypto_generichash_update(&st, (const uint8_t *)lens, sizeof(lens));
    crypto_generichash_update(&st, user, ulen);
    crypto_generichash_update(&st, pw, pwlen);
    crypto_generichash_update(&st, (const uint8_t *)stored, lens[2]);
    crypto_generichash_final(&st, out, VC_DIGEST);
}

bool verify_cache_hit(struct verify_cache *vc, const uint8_t *user, size_t ulen, const uint8_t *pw,
                      size_t pwlen, const char *stored, uint64_t now_ms)
{
    if (!vc || !vc->size)
        return false;
    uint8_t d[VC_DIGEST];
    digest(vc, user, ulen, pw, pwlen, stored, d);
    uintptr_t expiry = (uintptr_t)strmap_get(&vc->entries, d, sizeof(d));
    if (!expiry)
        return false;
    if (expiry <= now_ms) {
        strmap_del(&vc->entries, d, sizeof(d));
        return false;
    }
    return true;
}

static bool drop_expired(void *ctx, const void *key, size_t len, void *value)
{
    (void)key;
    (void)len;
    return (uintptr_t)value <= *(const uint64_t *)ctx;
}

void verify_cache_put(struct verify_cache *vc, const uint8_t *user, size_t ulen, const uint8_t *pw,
                      size_t pwlen, const char *stored, uint64_t now_ms)
{
    if (!vc || !vc->size)
        return;
    if (strmap_count(&vc->entries) >= vc->size) {
        strmap_each(&vc->entries, drop_expired, &now_ms);
        if (strmap_count(&vc->entries) >= vc->size)
            strmap_clear(&vc->entries); /* bounded: start over rather than grow */
    }
    uint8_t d[VC_DIGEST];
    digest(vc, user, ulen, pw, pwlen, stored, d);
    uintptr_t expiry = (uintptr_t)(now_ms + vc->ttl_ms);
    strmap_put(&vc->entries, d, sizeof(d), (void *)expiry); /* NOLINT(performance-no-int-to-ptr) */
}

void verify_cache_clear(struct verify_cache *vc)
{
    if (vc)
        strmap_clear(&vc->entries);
}

size_t verify_cache_count(const struct verify_cache *vc)
{
    return vc ? strmap_count(&vc->entries) : 0;
}
