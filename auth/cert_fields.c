#include "cert_fields.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#define GN_DNS 2 /* GeneralName tags (RFC 5280): dNSName, uniformResourceIdentifier */
#define GN_URI 6

static void hex(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static void read_sans(WOLFSSL_X509 *x, struct cert_fields *f)
{
    WOLFSSL_STACK *sk = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    if (!sk)
        return;
    size_t nd = 0, nu = 0;
    for (int i = 0; i < wolfSSL_sk_GENERAL_NAME_num(sk); i++) {
        WOLFSSL_GENERAL_NAME *gn = wolfSSL_sk_GENERAL_NAME_value(sk, i);
        if (!gn || (gn->type != GN_DNS && gn->type != GN_URI))
            continue;
        WOLFSSL_ASN1_STRING *s =
            gn->type == GN_DNS ? gn->d.dNSName : gn->d.uniformResourceIdentifier;
        int len = s ? wolfSSL_ASN1_STRING_length(s) : -1;
        const unsigned char *data = s ? wolfSSL_ASN1_STRING_data(s) : NULL;
        if (!data || len <= 0 || len >= CERT_FIELD_MAX || memchr(data, 0, (size_t)len))
            continue;
        char **list = gn->type == GN_DNS ? f->dns : f->uri;
        size_t *n = gn->type == GN_DNS ? &nd : &nu;
        if (*n == CERT_SANS_MAX)
            continue;
        list[*n] = strndup((const char *)data, (size_t)len);
        if (list[*n])
            (*n)++;
    }
    wolfSSL_GENERAL_NAMES_free(sk);
}

static void fill(WOLFSSL_X509 *x, struct cert_fields *f)
{
    WOLFSSL_X509_NAME *name = wolfSSL_X509_get_subject_name(x);
    int n = name
                ? wolfSSL_X509_NAME_get_text_by_NID(name, NID_commonName, f->cn, (int)sizeof(f->cn))
                : -1;
    /* A CN with an embedded NUL would read shorter than it is: leave it out. */
    if (n > 0 && (size_t)n < sizeof(f->cn) && strlen(f->cn) == (size_t)n)
        f->cert.cn = f->cn;
    unsigned char serial[32];
    int slen = (int)sizeof(serial);
    if (wolfSSL_X509_get_serial_number(x, serial, &slen) == WOLFSSL_SUCCESS && slen > 0) {
        int skip = 0;
        while (skip + 1 < slen && serial[skip] == 0)
            skip++;
        hex(f->serial, serial + skip, (size_t)(slen - skip));
        if (f->serial[0] == '0' && f->serial[1])
            memmove(f->serial, f->serial + 1, strlen(f->serial));
        f->cert.serial_hex = f->serial;
    }
    int dlen = 0;
    const unsigned char *der = wolfSSL_X509_get_der(x, &dlen);
    if (der && dlen > 0) {
        unsigned char digest[crypto_hash_sha256_BYTES];
        crypto_hash_sha256(digest, der, (unsigned long long)dlen);
        hex(f->fingerprint, digest, sizeof(digest));
        f->cert.fingerprint_sha256_hex = f->fingerprint;
    }
    read_sans(x, f);
    f->cert.san_dns = (const char *const *)f->dns;
    f->cert.san_uri = (const char *const *)f->uri;
}

int cert_fields_from_der(const uint8_t *der, size_t len, struct cert_fields *f)
{
    memset(f, 0, sizeof(*f));
    if (!der || len == 0 || len > CERT_DER_MAX)
        return -1;
    WOLFSSL_X509 *x = wolfSSL_X509_d2i(NULL, der, (int)len);
    if (!x)
        return -1;
    fill(x, f);
    wolfSSL_X509_free(x);
    return 0;
}

int cert_fields_from_pem_file(const char *path, struct cert_fields *f)
{
    memset(f, 0, sizeof(*f));
    WOLFSSL_X509 *x = wolfSSL_X509_load_certificate_file(path, WOLFSSL_FILETYPE_PEM);
    if (!x)
        return -1;
    fill(x, f);
    wolfSSL_X509_free(x);
    return 0;
}

void cert_fields_free(struct cert_fields *f)
{
    for (size_t i = 0; f->dns[i]; i++)
        free(f->dns[i]);
    for (size_t i = 0; f->uri[i]; i++)
        free(f->uri[i]);
    memset(f->dns, 0, sizeof(f->dns));
    memset(f->uri, 0, sizeof(f->uri));
}
