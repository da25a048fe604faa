/* credentials: username/password checks against the configured argon2id hashes.
 *
 * Promises: the time taken does not reveal whether a username exists (an unknown user is
 * checked against a dummy hash), passwords are never logged or kept after the call. */
#ifndef BULWARK_CREDENTIALS_H
#define BULWARK_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Prepares libsodium and the dummy hash. Returns 0 or -1. */
int credentials_init(void);
/* Returns true if username/password match a configured user. */
bool credentials_check(const struct config *cfg, const uint8_t *user, size_t user_len,
                       const uint8_t *pass, size_t pass_len);

/* Is username one of the configured users (no password check)? */
bool credentials_known(const struct config *cfg, const uint8_t *user, size_t user_len);

#endif
