/* verify_cache: remembers recent successful password verifications, so a reconnect storm
 * of valid clients does not run argon2id for every CONNECT.
 *
 * Promises: entries are keyed hashes (BLAKE2b with a random per-process key) of the
 * username, the password and the stored hash, so the cache holds no password and an entry
 * stops matching when the stored hash changes; at most `size` entries, each valid for
 * `ttl_ms`; verify_cache_clear() drops everything (on every policy reload). */
#ifndef BULWARK_VERIFY_CACHE_H
#define BULWARK_VERIFY_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct verify_cache;

struct verify_cache *verify_cache_new(uint32_t size, uint32_t ttl_ms);
void verify_cache_free(struct verify_cache *vc);
bool verify_cache_hit(struct verify_cache *vc, const uint8_t *user, size_t ulen, const uint8_t *pw,
                      size_t pwlen, const char *stored, uint64_t now_ms);
void verify_cache_put(struct verify_cache *vc, const uint8_t *user, size_t ulen, const uint8_t *pw,
                      size_t pwlen, const char *stored, uint64_t now_ms);
void verify_cache_clear(struct verify_cache *vc);
size_t verify_cache_count(const struct verify_cache *vc);

#endif
