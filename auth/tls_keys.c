#include "tls_keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#include "cert_eckey.h"
#include "log.h"
#include "readfile.h"

#define KEY_FILE_MAX (64u * 1024u)
#define SERVE_BATCH 64

struct tls_keys {
    WC_RNG rng;
    bool rng_ok;
    ecc_key *key[CONFIG_MAX_LISTENERS]; /* NULL: no TLS on that listener */
};

/* The public point of the certificate's key, X9.63 encoded. */
static int cert_point(const char *path, uint8_t *out, word32 *len, char *err, size_t errlen)
{
    size_t n;
    char rerr[256];
    uint8_t *pem = (uint8_t *)read_file_bounded(path, 1024u * 1024u, &n, rerr, sizeof(rerr));
    if (!pem) {
        snprintf(err, errlen, "%s", rerr);
        return -1;
    }
    ecc_key k;
    int rc = cert_eckey_from_pem(pem, n, &k);
    free(pem);
    if (rc == 0) {
        rc = wc_ecc_export_x963(&k, out, len) == 0 ? 0 : -1;
        wc_ecc_free(&k);
    }
    if (rc != 0)
        snprintf(err, errlen, "%s: not a PEM certificate with an ECDSA key", path);
    return rc;
}

static ecc_key *load_key(const struct config_tls *t, char *err, size_t errlen)
{
    size_t n;
    char rerr[256];
    uint8_t *pem = (uint8_t *)read_file_bounded(t->key, KEY_FILE_MAX, &n, rerr, sizeof(rerr));
    if (!pem) {
        snprintf(err, errlen, "tls key: %s", rerr);
        return NULL;
    }
    uint8_t *der = malloc(n);
    ecc_key *k = calloc(1, sizeof(*k));
    int dlen = der ? wc_KeyPemToDer(pem, (int)n, der, (int)n, NULL) : -1;
    memset(pem, 0, n);
    free(pem);
    word32 idx = 0;
    if (!k || dlen <= 0 || wc_ecc_init(k) != 0 ||
        wc_EccPrivateKeyDecode(der, &idx, k, (word32)dlen) != 0) {
        if (der)
            memset(der, 0, n);
        free(der);
        if (k)
            wc_ecc_free(k);
        free(k);
        snprintf(err, errlen, "%s: not a PEM ECDSA private key (the TLS listener needs one)",
                 t->key);
        return NULL;
    }
    memset(der, 0, n);
    free(der);
    uint8_t mine[200], theirs[200];
    word32 ml = sizeof(mine), tl = sizeof(theirs);
    char cerr[600];
    if (wc_ecc_make_pub(k, NULL) != 0 || wc_ecc_export_x963(k, mine, &ml) != 0 ||
        cert_point(t->cert, theirs, &tl, cerr, sizeof(cerr)) != 0 || ml != tl ||
        memcmp(mine, theirs, ml) != 0) {
        wc_ecc_free(k);
        free(k);
        snprintf(err, errlen, "%s does not belong to the certificate %s", t->key, t->cert);
        return NULL;
    }
    return k;
}

struct tls_keys *tls_keys_load(const struct config *cfg, char *err, size_t errlen)
{
    struct tls_keys *k = calloc(1, sizeof(*k));
    if (!k) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    bool any = false;
    for (size_t i = 0; i < cfg->n_listeners; i++)
        any |= cfg->listeners[i].tls.enabled;
    if (!any)
        return k;
    if (wolfSSL_Init() != WOLFSSL_SUCCESS || wc_InitRng(&k->rng) != 0) {
        snprintf(err, errlen, "wolfSSL failed to initialise");
        free(k);
        return NULL;
    }
    k->rng_ok = true;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        if (!cfg->listeners[i].tls.enabled)
            continue;
        char e[1200];
        k->key[i] = load_key(&cfg->listeners[i].tls, e, sizeof(e));
        if (!k->key[i]) {
            snprintf(err, errlen, "listener %s:%u: %s", cfg->listeners[i].host,
                     cfg->listeners[i].port, e);
            tls_keys_free(k);
            return NULL;
        }
    }
    return k;
}

void tls_keys_free(struct tls_keys *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < CONFIG_MAX_LISTENERS; i++) {
        if (k->key[i]) {
            wc_ecc_free(k->key[i]); /* wolfCrypt zeroes the private scalar */
            free(k->key[i]);
        }
    }
    if (k->rng_ok)
        wc_FreeRng(&k->rng);
    free(k);
}

void tls_keys_sign(struct tls_keys *k, const struct keysign_req *req, struct keysign_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->seq = req->seq;
    resp->status = KEYSIGN_ERROR;
    ecc_key *key = req->listener < CONFIG_MAX_LISTENERS ? k->key[req->listener] : NULL;
    /* The hash must be one a TLS signature scheme uses: SHA-256, -384 or -512. */
    if (!key || (req->hash_len != 32 && req->hash_len != 48 && req->hash_len != 64))
        return;
    word32 len = sizeof(resp->sig);
    if (wc_ecc_sign_hash(req->hash, req->hash_len, resp->sig, &len, &k->rng, key) != 0)
        return;
    resp->sig_len = (uint16_t)len;
    resp->status = KEYSIGN_OK;
}

int tls_keys_serve(struct tls_keys *k, int fd)
{
    for (int i = 0; i < SERVE_BATCH; i++) {
        uint8_t buf[KEYSIGN_RESP_MAX];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n == 0)
            return -1;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        struct keysign_req req;
        struct keysign_resp resp;
        if (keysign_req_decode(buf, (size_t)n, &req) != 0) {
            log_warn("malformed signature request from the worker; ignored");
            continue;
        }
        tls_keys_sign(k, &req, &resp);
        if (resp.status != KEYSIGN_OK)
            log_warn("signature request for listener %u refused", (unsigned)req.listener);
        size_t out = keysign_resp_encode(&resp, buf, sizeof(buf));
        if (out && write(fd, buf, out) != (ssize_t)out)
            return -1;
    }
    return 0;
}
