/* backend_jwt: the signed-token backend of the auth chain (auth/backend.h), EdDSA JWTs
 * carried in the CONNECT password (rules in jwt.h).
 *
 * Promises: a password that is not shaped like a compact JWS gets NO_OPINION (it may be a
 * password for the next backend); a token that fails any check gets DENY with a short
 * reason; a valid token gets ALLOW with identity = its "sub". The CONNECT username must be
 * absent, empty, or equal to "sub", so the name a client presents cannot differ from the
 * identity it is given. The issuer list is copied; the token is not kept. */
#ifndef BULWARK_BACKEND_JWT_H
#define BULWARK_BACKEND_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "jwt.h"

/* A backend over a copy of iss[0..n), or NULL when the list fails jwt_check_issuers (call
 * it first for the message) or memory runs out. b->destroy(b->ctx) frees the backend,
 * including b itself. */
struct auth_backend *backend_jwt_new(const struct jwt_issuer *iss, size_t n, uint32_t leeway_s);

#endif
