/* ca_der: the three DER pieces of a certificate that wolfSSL 5.5.4's certificate builder
 * cannot produce itself, so `bulwark ca` hands them to it ready-made:
 *  - a subject Name whose CN is longer than its 63-byte CertName field (client ids reach
 *    128 bytes);
 *  - a subjectAltName list with IP addresses and URIs next to DNS names;
 *  - basicConstraints marked critical in a CA certificate (RFC 5280 4.2.1.9), which the
 *    builder always writes as non-critical.
 *
 * Promises: every function is bounded by its output capacity and returns -1 (nothing
 * useful written) rather than truncating; input lengths are checked before any copy; the
 * TBS rewrite reads only inside the given buffer and changes nothing but the one flag. */
#ifndef BULWARK_CA_DER_H
#define BULWARK_CA_DER_H

#include <stddef.h>
#include <stdint.h>

enum ca_san_type { CA_SAN_DNS = 2, CA_SAN_URI = 6, CA_SAN_IP = 7 }; /* GeneralName tags */

struct ca_san {
    enum ca_san_type type;
    const uint8_t *value; /* text for DNS and URI, 4 or 16 address bytes for IP */
    size_t len;
};

/* The RDNSequence contents (without the outer SEQUENCE header, as wolfSSL's raw subject
 * field wants it): CN=cn and, when org is not NULL, O=org, both UTF8String. Returns the
 * length or -1. */
int ca_der_name_content(const char *cn, const char *org, uint8_t *out, size_t cap);

/* A GeneralNames SEQUENCE of the n names. Returns the length or -1 (n == 0 included). */
int ca_der_general_names(const struct ca_san *sans, size_t n, uint8_t *out, size_t cap);

/* Copies the TBSCertificate tbs into out with the basicConstraints extension marked
 * critical. Returns the new length, or -1 when tbs is malformed, has no basicConstraints
 * extension, or out is too small. */
int ca_der_bc_critical(const uint8_t *tbs, size_t len, uint8_t *out, size_t cap);

#endif
