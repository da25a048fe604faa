/* ca_x509: keys, certificates and certificate requests for `bulwark ca`, made and checked
 * with wolfCrypt (docs/CA.md).
 *
 * Promises:
 *  - Keys are ECDSA P-256 or Ed25519 from wolfCrypt's RNG; private keys leave this module
 *    only as PKCS#8 PEM in a buffer the caller wipes (ca_secret_free).
 *  - Every certificate made is parsed back before it is returned: subject CN, serial,
 *    CA flag and the issuer's signature over it must all be what was asked for, or the
 *    call fails and nothing is returned.
 *  - A certificate request is accepted only when its own signature verifies and its key
 *    is P-256, P-384 or Ed25519; its requested extensions are ignored.
 *  - Inputs are bounded: PEM/DER inputs by CA_INPUT_MAX, names by CA_CN_MAX. */
#ifndef BULWARK_CA_X509_H
#define BULWARK_CA_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/random.h>

#include "ca_der.h"

#define CA_CN_MAX 128      /* bytes in a subject CN */
#define CA_SERIAL_BYTES 16 /* random serial numbers */
#define CA_CERT_MAX 32768  /* DER of one certificate we make or read */
#define CA_INPUT_MAX 65536 /* a PEM or DER file we read */

enum ca_alg { CA_ALG_NONE, CA_ALG_P256, CA_ALG_P384, CA_ALG_ED25519 };
enum ca_kind { CA_KIND_CA, CA_KIND_CLIENT, CA_KIND_SERVER };

struct ca_key {
    enum ca_alg alg; /* CA_ALG_NONE: nothing held */
    bool has_private;
    ecc_key ecc;
    ed25519_key ed;
};

struct ca_cert_spec {
    enum ca_kind kind;
    const char *cn;  /* 1..CA_CN_MAX bytes */
    const char *org; /* NULL: no O attribute */
    uint8_t serial[CA_SERIAL_BYTES];
    int64_t not_before, not_after; /* Unix seconds */
    const struct ca_san *sans;
    size_t nsans;
};

/* The signing CA: its key and certificate. */
struct ca_issuer {
    struct ca_key key;
    uint8_t der[CA_CERT_MAX];
    size_t der_len;
    int64_t not_after;
    char cn[CA_CN_MAX + 1];
};

const char *ca_alg_name(enum ca_alg alg);

int ca_key_generate(struct ca_key *k, enum ca_alg alg, WC_RNG *rng, char *err, size_t errlen);
/* PKCS#8 PEM of the private key, or NULL. Free with ca_secret_free. */
char *ca_key_pem(struct ca_key *k, size_t *len, char *err, size_t errlen);
void ca_key_free(struct ca_key *k);
void ca_secret_free(char *buf, size_t len);

/* Makes a certificate for subject's public key, signed by issuer, or self-signed by
 * subject (which then holds its private key) when issuer is NULL. Returns 0 with the DER in
 * out[0..*out_len), or -1 with err set. */
int ca_cert_make(const struct ca_cert_spec *spec, struct ca_key *subject, struct ca_issuer *issuer,
                 WC_RNG *rng, uint8_t *out, size_t cap, size_t *out_len, char *err, size_t errlen);
/* PEM of a DER certificate (malloc'd), or NULL. */
char *ca_cert_pem(const uint8_t *der, size_t len, size_t *pem_len);

/* Loads the CA from the texts of ca.crt and ca.key: the certificate must be a CA
 * certificate and the key must be its key. Returns 0 or -1 with err set. */
int ca_issuer_load(struct ca_issuer *is, const char *crt, size_t crt_len, const char *key,
                   size_t key_len, char *err, size_t errlen);
void ca_issuer_free(struct ca_issuer *is);

/* Reads a PKCS#10 request (PEM or DER): verifies its self-signature and returns its public
 * key in pub and its subject CN in cn (empty when it has none or one that does not fit
 * cncap). Returns 0 or -1 with err set. */
int ca_csr_load(const uint8_t *data, size_t len, struct ca_key *pub, char *cn, size_t cncap,
                char *err, size_t errlen);

#endif
