/* cert_fields: what the policy and the audit log know of a client certificate (CN, SAN DNS
 * names and URIs, serial, SHA-256 fingerprint), read from its DER or a PEM file with wolfSSL.
 *
 * Promises: fields that hold an embedded NUL or exceed their bounds are left out, never
 * truncated (a truncated name could match another identity's rule); the serial is lowercase
 * hex without leading zeros, the fingerprint lowercase hex of SHA-256 over the DER. */
#ifndef BULWARK_CERT_FIELDS_H
#define BULWARK_CERT_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

#define CERT_FIELD_MAX 256
#define CERT_SANS_MAX 32
#define CERT_DER_MAX 16384 /* a client certificate larger than this is refused */

struct cert_fields {
    struct auth_cert cert; /* points into the buffers below */
    char cn[CERT_FIELD_MAX];
    char serial[2 * 32 + 1];
    char fingerprint[2 * 32 + 1];
    char *dns[CERT_SANS_MAX + 1], *uri[CERT_SANS_MAX + 1];
};

/* Return 0 with *f filled (free with cert_fields_free) or -1 when the input is no certificate.
 * wolfSSL_Init() must have been called. */
int cert_fields_from_der(const uint8_t *der, size_t len, struct cert_fields *f);
int cert_fields_from_pem_file(const char *path, struct cert_fields *f);
void cert_fields_free(struct cert_fields *f);

#endif
