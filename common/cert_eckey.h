/* cert_eckey: the ECDSA public key of a PEM certificate (the first one of a chain, its leaf),
 * read with wolfSSL. The worker needs its size to hold the key by reference; the auth daemon
 * checks that the private key it loads belongs to it.
 *
 * Promises: 0 with *k initialised (the caller wc_ecc_free()s it), or -1 with *k untouched
 * when the buffer holds no certificate or its key is not ECDSA. wolfSSL_Init() first. */
#ifndef BULWARK_CERT_ECKEY_H
#define BULWARK_CERT_ECKEY_H

#include <stddef.h>
#include <stdint.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>

int cert_eckey_from_pem(const uint8_t *pem, size_t len, ecc_key *k);

#endif
