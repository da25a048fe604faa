/* tls_keys: the TLS listeners' private keys, held by the auth daemon alone, and the
 * handshake signatures it makes with them for the worker (common/keysign.h).
 *
 * Promises: keys are read before the sandbox closes (a key file may be root-only) and checked
 * against the listener's certificate, so a mismatch fails the start with the file names; a
 * request for a listener without a key, or a hash of the wrong size, is refused; key material
 * is wiped when freed. Only ECDSA keys (P-256, P-384, P-521). */
#ifndef BULWARK_TLS_KEYS_H
#define BULWARK_TLS_KEYS_H

#include <stddef.h>

#include "config.h"
#include "keysign.h"

struct tls_keys;

/* NULL with err filled on failure; an empty set when no listener has TLS. */
struct tls_keys *tls_keys_load(const struct config *cfg, char *err, size_t errlen);
void tls_keys_free(struct tls_keys *k);
/* Answers one request (resp->status tells). */
void tls_keys_sign(struct tls_keys *k, const struct keysign_req *req, struct keysign_resp *resp);
/* Serves every request waiting on fd (non-blocking SOCK_SEQPACKET). Returns -1 when the
 * channel is gone (EOF or error), 0 otherwise. */
int tls_keys_serve(struct tls_keys *k, int fd);

#endif
