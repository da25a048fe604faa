#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/cryptocb.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include "cert_eckey.h"
#include "keysign.h"
#include "log.h"
#include "readfile.h"

/* wolfCrypt device id that marks "the private key lives elsewhere": its callback declines
 * every operation, and the signature itself goes through the PK callback below. */
#define KEYREF_DEVID 0x62776b /* "bwk" */
#define STAGE_MAX 16384u      /* one TLS record of plaintext */
#define PEM_MAX (1024u * 1024u)
#define CERT_DER_MAX 16384u
#define REASON_MAX 96

/* TLS 1.3 suites, then ECDHE with AEAD only for TLS 1.2: forward secrecy, no CBC, no RSA key
 * exchange, no SHA-1 MACs. */
static const char default_ciphers[] =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";

static const char alpn_mqtt[] = "mqtt";

struct tls_server {
    WOLFSSL_CTX *ctx;
    size_t idx;
    const struct config_tls *cfg;
};

struct tls_conn {
    WOLFSSL *ssl;
    const struct config_tls *cfg; /* the listener's */
    bool ready;
    bool want_write;
    bool kicked;
    struct conn *kick_next;
    uint8_t *stage; /* plaintext of a write wolfSSL has not finished, offered again */
    uint32_t stage_len;
    uint8_t *cert; /* DER of the verified client certificate */
    uint16_t cert_len;
    /* What the verify callback saw wrong, for the log and the audit entry. */
    char reason[REASON_MAX];
    uint8_t *bad_cert;
    uint16_t bad_cert_len;
};

static int key_fd = -1;
static struct conn *handshaking; /* the connection inside wolfSSL_accept (one thread) */
static bool initialised;

void tls_set_key_channel(int fd)
{
    if (key_fd >= 0)
        close(key_fd);
    key_fd = fd;
}

/* --- callbacks ------------------------------------------------------------------------------ */

static int decline_all(int devId, wc_CryptoInfo *info, void *ctx)
{
    (void)devId;
    (void)info;
    (void)ctx;
    return CRYPTOCB_UNAVAILABLE;
}

static int sign_by_auth(WOLFSSL *ssl, const unsigned char *in, unsigned int in_len,
                        unsigned char *out, word32 *out_len, const unsigned char *key,
                        unsigned int key_len, void *ctx)
{
    (void)ssl;
    (void)key;
    (void)key_len;
    size_t len = *out_len;
    const struct tls_server *s = ctx;
    uint8_t idx = (uint8_t)s->idx;
    if (keysign_call(key_fd, idx, in, in_len, out, &len) != 0) {
        log_error("listener %u: the auth daemon did not sign the handshake", (unsigned)idx);
        return WC_HW_E;
    }
    *out_len = (word32)len;
    return 0;
}

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    (void)ssl;
    const struct conn *c = ctx;
    for (;;) {
        ssize_t n = read(c->h.fd, buf, (size_t)sz);
        if (n > 0)
            return (int)n;
        if (n == 0)
            return WOLFSSL_CBIO_ERR_CONN_CLOSE;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return WOLFSSL_CBIO_ERR_WANT_READ;
        return errno == ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_RST : WOLFSSL_CBIO_ERR_GENERAL;
    }
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    (void)ssl;
    const struct conn *c = ctx;
    for (;;) {
        ssize_t n = write(c->h.fd, buf, (size_t)sz);
        if (n >= 0)
            return (int)n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return WOLFSSL_CBIO_ERR_WANT_WRITE;
        return errno == EPIPE || errno == ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_RST
                                                     : WOLFSSL_CBIO_ERR_GENERAL;
    }
}

static void keep_bad_cert(struct tls_conn *t, WOLFSSL_X509 *x)
{
    if (!x || t->bad_cert)
        return;
    int len = 0;
    const unsigned char *der = wolfSSL_X509_get_der(x, &len);
    if (!der || len <= 0 || (unsigned)len > CERT_DER_MAX)
        return;
    t->bad_cert = malloc((size_t)len);
    if (t->bad_cert) {
        memcpy(t->bad_cert, der, (size_t)len);
        t->bad_cert_len = (uint16_t)len;
    }
}

/* Called for every certificate of the client's chain (WOLFSSL_ALWAYS_VERIFY_CB). wolfSSL
 * checks signature, dates, the CA and the leaf's extended key usage (clientAuth on a server);
 * this only remembers why it refused, for the log and the audit entry. */
static int verify_peer(int ok, WOLFSSL_X509_STORE_CTX *store)
{
    struct conn *c = handshaking;
    if (!c || !c->tls)
        return ok;
    struct tls_conn *t = c->tls;
    WOLFSSL_X509 *x = wolfSSL_X509_STORE_CTX_get_current_cert(store);
    if (!ok) {
        if (!t->reason[0]) {
            int e = wolfSSL_X509_STORE_CTX_get_error(store);
            snprintf(t->reason, sizeof(t->reason), "%s",
                     e ? wolfSSL_X509_verify_cert_error_string(e) : "certificate refused");
        }
        keep_bad_cert(t, x);
    }
    return ok;
}

/* --- setup ------------------------------------------------------------------------------------ */

/* The size of the EC key in the leaf certificate: wolfSSL needs it for a key held elsewhere. */
static int leaf_ec_key_size(const uint8_t *pem, size_t len, char *err, size_t errlen,
                            const char *path)
{
    ecc_key k;
    int size = -1;
    if (cert_eckey_from_pem(pem, len, &k) == 0) {
        size = wc_ecc_size(&k);
        wc_ecc_free(&k);
    }
    if (size <= 0)
        snprintf(err, errlen,
                 "%s: the server certificate must have an ECDSA key (P-256 or P-384; "
                 "`bulwark ca server-cert` makes one)",
                 path);
    return size;
}

static int server_new(struct tls_server *s, const struct config_tls *t, size_t idx, char *err,
                      size_t errlen)
{
    s->idx = idx;
    s->cfg = t;
    s->ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
    if (!s->ctx) {
        snprintf(err, errlen, "wolfSSL_CTX_new failed");
        return -1;
    }
    int minv = t->min_version == 13 ? WOLFSSL_TLSV1_3 : WOLFSSL_TLSV1_2;
    if (wolfSSL_CTX_SetMinVersion(s->ctx, minv) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_set_cipher_list(s->ctx, t->ciphers[0] ? t->ciphers : default_ciphers) !=
            WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "listener %zu: tls: bad min_version or ciphers '%s'", idx,
                 t->ciphers);
        return -1;
    }
    /* X25519 first: with Debian's wolfSSL it is several times cheaper than P-256. */
    int groups[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_SECP384R1};
    if (wolfSSL_CTX_set_groups(s->ctx, groups, 3) != WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "listener %zu: wolfSSL refused the key exchange groups", idx);
        return -1;
    }
    size_t len;
    char rerr[256];
    uint8_t *pem = (uint8_t *)read_file_bounded(t->cert, PEM_MAX, &len, rerr, sizeof(rerr));
    if (!pem) {
        snprintf(err, errlen, "tls cert: %s", rerr);
        return -1;
    }
    int keysz = leaf_ec_key_size(pem, len, err, errlen, t->cert);
    int rc = keysz > 0 ? wolfSSL_CTX_use_certificate_chain_buffer(s->ctx, pem, (long)len) : 0;
    free(pem);
    if (keysz <= 0)
        return -1;
    if (rc != WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "%s: not a usable PEM certificate chain", t->cert);
        return -1;
    }
    /* The key by reference: an id wolfSSL keeps, and signatures from the auth daemon. */
    char id[32];
    int idlen = snprintf(id, sizeof(id), "bulwark-listener-%zu", idx);
    if (wolfSSL_CTX_use_PrivateKey_id(s->ctx, (const unsigned char *)id, idlen, KEYREF_DEVID,
                                      keysz) != WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "listener %zu: wolfSSL refused the key reference", idx);
        return -1;
    }
    wolfSSL_CTX_SetEccSignCb(s->ctx, sign_by_auth);
    wolfSSL_CTX_SetEccSignCtx(s->ctx, s);
    wolfSSL_CTX_SetIORecv(s->ctx, io_recv);
    wolfSSL_CTX_SetIOSend(s->ctx, io_send);
    if (t->client_certs != CLIENT_CERTS_NONE) {
        uint8_t *ca = (uint8_t *)read_file_bounded(t->ca, PEM_MAX, &len, rerr, sizeof(rerr));
        if (!ca) {
            snprintf(err, errlen, "tls ca: %s", rerr);
            return -1;
        }
        rc = wolfSSL_CTX_load_verify_buffer(s->ctx, ca, (long)len, WOLFSSL_FILETYPE_PEM);
        free(ca);
        if (rc != WOLFSSL_SUCCESS) {
            snprintf(err, errlen, "%s: no usable PEM CA certificate", t->ca);
            return -1;
        }
        int mode = WOLFSSL_VERIFY_PEER;
        if (t->client_certs == CLIENT_CERTS_REQUIRED)
            mode |= WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        wolfSSL_CTX_set_verify(s->ctx, mode, verify_peer);
        /* wolfSSL's TLS 1.2 session cache is one per process (a session from a listener
         * without client certificates would resume here, unverified) and its TLS 1.2 tickets
         * do not keep the client certificate: on a listener that checks certificates every
         * TLS 1.2 handshake is full. TLS 1.3 tickets keep the certificate and are per
         * listener (each context has its own ticket key). */
        wolfSSL_CTX_set_session_cache_mode(s->ctx, WOLFSSL_SESS_CACHE_OFF);
        wolfSSL_CTX_NoTicketTLSv12(s->ctx);
    } else {
        wolfSSL_CTX_set_verify(s->ctx, WOLFSSL_VERIFY_NONE, NULL);
    }
    return 0;
}

int tls_setup(struct worker *w, const struct config *cfg, int fd, char *err, size_t errlen)
{
    bool any = false;
    for (size_t i = 0; i < cfg->n_listeners; i++)
        any |= cfg->listeners[i].tls.enabled;
    key_fd = fd;
    if (!any)
        return 0;
    if (!initialised) {
        if (wolfSSL_Init() != WOLFSSL_SUCCESS ||
            wc_CryptoCb_RegisterDevice(KEYREF_DEVID, decline_all, NULL) != 0) {
            snprintf(err, errlen, "wolfSSL failed to initialise");
            return -1;
        }
        initialised = true;
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        if (!cfg->listeners[i].tls.enabled)
            continue;
        struct tls_server *s = calloc(1, sizeof(*s));
        if (!s) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        w->tls[i] = s;
        char e[600];
        if (server_new(s, &cfg->listeners[i].tls, i, e, sizeof(e)) != 0) {
            snprintf(err, errlen, "listener %s:%u: %s", cfg->listeners[i].host,
                     cfg->listeners[i].port, e);
            return -1;
        }
    }
    return 0;
}

void tls_teardown(struct worker *w)
{
    for (size_t i = 0; i < CONFIG_MAX_LISTENERS; i++) {
        if (!w->tls[i])
            continue;
        wolfSSL_CTX_free(w->tls[i]->ctx);
        free(w->tls[i]);
        w->tls[i] = NULL;
    }
}

/* --- connections ------------------------------------------------------------------------------ */

int tls_conn_attach(struct worker *w, struct conn *c, size_t idx)
{
    struct tls_server *s = idx < CONFIG_MAX_LISTENERS ? w->tls[idx] : NULL;
    if (!s)
        return 0;
    struct tls_conn *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    t->ssl = wolfSSL_new(s->ctx);
    if (!t->ssl) {
        free(t);
        return -1;
    }
    wolfSSL_SetIOReadCtx(t->ssl, c);
    wolfSSL_SetIOWriteCtx(t->ssl, c);
    t->cfg = s->cfg;
    /* ALPN: "mqtt" is what we speak; a client asking for something else is not turned away
     * (most MQTT clients send no ALPN at all). */
    wolfSSL_UseALPN(t->ssl, (char *)alpn_mqtt, sizeof(alpn_mqtt) - 1,
                    WOLFSSL_ALPN_CONTINUE_ON_MISMATCH);
    c->tls = t;
    return 0;
}

static void unkick(struct worker *w, struct conn *c)
{
    for (struct conn **pp = &w->tls_kick; *pp; pp = &(*pp)->tls->kick_next) {
        if (*pp == c) {
            *pp = c->tls->kick_next;
            break;
        }
    }
    c->tls->kicked = false;
}

void tls_conn_free(struct worker *w, struct conn *c)
{
    struct tls_conn *t = c->tls;
    if (!t)
        return;
    if (t->kicked)
        unkick(w, c);
    wolfSSL_free(t->ssl);
    free(t->stage);
    free(t->cert);
    free(t->bad_cert);
    free(t);
    c->tls = NULL;
}

void tls_close_notify(struct conn *c)
{
    if (c->tls && c->tls->ready)
        wolfSSL_shutdown(c->tls->ssl); /* one non-blocking try; the socket closes next */
}

bool tls_handshake_done(const struct conn *c)
{
    return !c->tls || c->tls->ready;
}

bool tls_wants_write(const struct conn *c)
{
    return c->tls && (c->tls->want_write || c->tls->stage_len);
}

const uint8_t *tls_peer_cert(const struct conn *c, uint16_t *len)
{
    if (!c->tls || !c->tls->cert) {
        *len = 0;
        return NULL;
    }
    *len = c->tls->cert_len;
    return c->tls->cert;
}

static void keep_peer_cert(struct conn *c)
{
    struct tls_conn *t = c->tls;
    WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(t->ssl);
    if (!x)
        return;
    int len = 0;
    const unsigned char *der = wolfSSL_X509_get_der(x, &len);
    if (der && len > 0 && (unsigned)len <= CERT_DER_MAX) {
        t->cert = malloc((size_t)len);
        if (t->cert) {
            memcpy(t->cert, der, (size_t)len);
            t->cert_len = (uint16_t)len;
        }
    }
    wolfSSL_X509_free(x);
}

static void fail(struct worker *w, struct conn *c, int e)
{
    struct tls_conn *t = c->tls;
    char buf[WOLFSSL_MAX_ERROR_SZ];
    const char *why = t->reason[0] ? t->reason : wolfSSL_ERR_error_string((unsigned long)e, buf);
    if (!t->ready && (t->reason[0] || e == NO_PEER_CERT)) {
        if (!t->reason[0])
            snprintf(t->reason, sizeof(t->reason), "no client certificate");
        why = t->reason;
        auth_report_tls_refused(w, c, t->reason, t->bad_cert, t->bad_cert_len);
    }
    log_info("%s: TLS %s failed: %s", c->peer, t->ready ? "connection" : "handshake", why);
    conn_close(w, c, t->ready ? "TLS error" : "TLS handshake failed");
}

/* Returns 1 when the handshake is done, 0 when it waits for the socket, -1 when it failed
 * (c is closed). */
static int handshake(struct worker *w, struct conn *c)
{
    struct tls_conn *t = c->tls;
    handshaking = c;
    int r = wolfSSL_accept(t->ssl);
    handshaking = NULL;
    if (r == WOLFSSL_SUCCESS) {
        t->ready = true;
        t->want_write = false;
        keep_peer_cert(c);
        /* Whatever the way in (a resumed session included), no certificate, no client. */
        if (t->cfg->client_certs == CLIENT_CERTS_REQUIRED && !t->cert) {
            snprintf(t->reason, sizeof(t->reason), "no client certificate (resumed session)");
            auth_report_tls_refused(w, c, t->reason, NULL, 0);
            log_info("%s: TLS handshake refused: %s", c->peer, t->reason);
            conn_close(w, c, "TLS handshake failed");
            return -1;
        }
        log_debug("%s: %s %s%s", c->peer, wolfSSL_get_version(t->ssl),
                  wolfSSL_get_cipher_name(t->ssl),
                  wolfSSL_session_reused(t->ssl) ? " (resumed)" : "");
        conn_update_events(w, c);
        return 1;
    }
    int e = wolfSSL_get_error(t->ssl, r);
    if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE) {
        t->want_write = e == WOLFSSL_ERROR_WANT_WRITE;
        conn_update_events(w, c);
        return 0;
    }
    fail(w, c, e);
    return -1;
}

ssize_t tls_read(struct worker *w, struct conn *c, uint8_t *buf, size_t cap)
{
    struct tls_conn *t = c->tls;
    if (!t->ready) {
        int h = handshake(w, c);
        if (h <= 0)
            return h;
    }
    int n = wolfSSL_read(t->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (n > 0) {
        if (wolfSSL_has_pending(t->ssl))
            tls_reading_resumed(w, c);
        return n;
    }
    int e = wolfSSL_get_error(t->ssl, n);
    if (e == WOLFSSL_ERROR_WANT_READ)
        return 0;
    if (e == WOLFSSL_ERROR_WANT_WRITE) {
        t->want_write = true;
        conn_update_events(w, c);
        return 0;
    }
    if (e == WOLFSSL_ERROR_ZERO_RETURN || e == SOCKET_PEER_CLOSED_E || e == SOCKET_ERROR_E) {
        conn_close(w, c, "connection closed by peer");
        return -1;
    }
    fail(w, c, e);
    return -1;
}

int tls_flush(struct worker *w, struct conn *c)
{
    struct tls_conn *t = c->tls;
    if (!t->ready) {
        int h = handshake(w, c);
        if (h < 0)
            return -1;
        if (h == 0)
            return 0;
    }
    if (t->want_write && !t->stage_len && !c->out_head) {
        /* wolfSSL holds a record of its own (e.g. a KeyUpdate answer a read produced): a
         * zero-length write sends what it buffered. */
        static const uint8_t nothing;
        int r = wolfSSL_write(t->ssl, &nothing, 0);
        int e = r < 0 ? wolfSSL_get_error(t->ssl, r) : WOLFSSL_ERROR_NONE;
        if (e != WOLFSSL_ERROR_NONE && e != WOLFSSL_ERROR_WANT_WRITE &&
            e != WOLFSSL_ERROR_WANT_READ) {
            fail(w, c, e);
            return -1;
        }
        t->want_write = e == WOLFSSL_ERROR_WANT_WRITE;
    }
    /* Plaintext is gathered into one buffer shared by all connections (one thread); only a
     * write wolfSSL could not finish keeps its bytes in the connection, since it must be
     * offered the same bytes again. */
    static uint8_t plain[STAGE_MAX];
    while (c->state != CS_CLOSED) {
        const uint8_t *data = t->stage; /* non-NULL exactly while stage_len > 0 */
        uint32_t len = t->stage_len;
        if (!data) {
            if (!c->out_head)
                break;
            len = (uint32_t)conn_take_output(w, c, plain, sizeof(plain));
            if (!len)
                break;
            data = plain;
        }
        int r = wolfSSL_write(t->ssl, data, (int)len);
        if (r > 0) {
            free(t->stage);
            t->stage = NULL;
            t->stage_len = 0;
            t->want_write = false;
            continue;
        }
        int e = wolfSSL_get_error(t->ssl, r);
        if (e != WOLFSSL_ERROR_WANT_WRITE && e != WOLFSSL_ERROR_WANT_READ) {
            fail(w, c, e);
            return -1;
        }
        if (!t->stage) {
            t->stage = malloc(len);
            if (!t->stage) {
                conn_close(w, c, "out of memory");
                return -1;
            }
            memcpy(t->stage, data, len);
            t->stage_len = len;
        }
        t->want_write = e == WOLFSSL_ERROR_WANT_WRITE;
        break;
    }
    conn_update_events(w, c);
    return 0;
}

void tls_reading_resumed(struct worker *w, struct conn *c)
{
    struct tls_conn *t = c->tls;
    if (!t || t->kicked || !t->ready || c->state == CS_CLOSED || !wolfSSL_has_pending(t->ssl))
        return;
    t->kicked = true;
    t->kick_next = w->tls_kick;
    w->tls_kick = c;
}

void tls_run_kicks(struct worker *w, void (*on_readable)(struct worker *, struct conn *))
{
    struct conn *list = w->tls_kick;
    w->tls_kick = NULL;
    while (list) {
        struct conn *c = list;
        list = c->tls->kick_next;
        c->tls->kicked = false;
        c->tls->kick_next = NULL;
        if (c->state != CS_CLOSED && (c->ep_events & EPOLLIN))
            on_readable(w, c);
    }
}
