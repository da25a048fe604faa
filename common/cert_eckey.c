#include "cert_eckey.h"

#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>

int cert_eckey_from_pem(const uint8_t *pem, size_t len, ecc_key *k)
{
    if (len > INT32_MAX)
        return -1;
    WOLFSSL_X509 *x = wolfSSL_X509_load_certificate_buffer(pem, (int)len, WOLFSSL_FILETYPE_PEM);
    if (!x)
        return -1;
    unsigned char pub[512];
    int plen = (int)sizeof(pub);
    int rc = -1;
    if (wolfSSL_X509_get_pubkey_type(x) == ECDSAk &&
        wolfSSL_X509_get_pubkey_buffer(x, pub, &plen) == WOLFSSL_SUCCESS && wc_ecc_init(k) == 0) {
        word32 idx = 0;
        rc = wc_EccPublicKeyDecode(pub, &idx, k, (word32)plen) == 0 ? 0 : -1;
        if (rc != 0)
            wc_ecc_free(k);
    }
    wolfSSL_X509_free(x);
    return rc;
}
