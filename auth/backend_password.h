/* backend_password: the username/password backend of the auth chain.
 *
 * Promises: a username it has no hash for gets NO_OPINION (after a dummy argon2id run, so
 * timing does not tell which usernames exist); a known username with a wrong or missing
 * password gets DENY; a right one ALLOW with the username as identity. Hashes are argon2id
 * strings from `bulwark passwd` or Mosquitto "$7$"/"$6$" strings (auth/mosq_hash.h). A
 * verification cache (auth/verify_cache.h), if given, spares repeated argon2id runs. */
#ifndef BULWARK_BACKEND_PASSWORD_H
#define BULWARK_BACKEND_PASSWORD_H

#include "backend.h"
#include "verify_cache.h"

/* Returns the stored hash for a username, or NULL. */
typedef const char *(*password_lookup_fn)(void *ctx, const uint8_t *user, size_t ulen);

/* Returns NULL on failure. The backend does not own lookup_ctx nor cache. */
struct auth_backend *backend_password_new(password_lookup_fn lookup, void *lookup_ctx,
                                          struct verify_cache *cache);
/* true if pw matches stored (any supported scheme). */
bool password_matches(const char *stored, const uint8_t *pw, size_t pwlen);

#endif
