#include "ca_x509.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#define KEY_DER_MAX 512
#define KEY_PEM_MAX 2048
#define PUBKEY_MAX 256

const char *ca_alg_name(enum ca_alg alg)
{
    switch (alg) {
    case CA_ALG_P256:
        return "ECDSA P-256";
    case CA_ALG_P384:
        return "ECDSA P-384";
    case CA_ALG_ED25519:
        return "Ed25519";
    default:
        return "none";
    }
}

static int wolf_fail(char *err, size_t errlen, const char *what, int rc)
{
    snprintf(err, errlen, "%s failed: %s (%d)", what, wc_GetErrorString(rc), rc);
    return -1;
}

static bool is_ecc(enum ca_alg alg)
{
    return alg == CA_ALG_P256 || alg == CA_ALG_P384;
}

/* wolfCrypt's key type constant and key object for k. */
static int key_type(const struct ca_key *k)
{
    return is_ecc(k->alg) ? ECC_TYPE : ED25519_TYPE;
}

static void *key_obj(struct ca_key *k)
{
    return is_ecc(k->alg) ? (void *)&k->ecc : (void *)&k->ed;
}

int ca_key_generate(struct ca_key *k, enum ca_alg alg, WC_RNG *rng, char *err, size_t errlen)
{
    memset(k, 0, sizeof(*k));
    int rc;
    if (alg == CA_ALG_P256) {
        if ((rc = wc_ecc_init(&k->ecc)) != 0)
            return wolf_fail(err, errlen, "ECC init", rc);
        k->alg = alg;
        rc = wc_ecc_make_key_ex(rng, 32, &k->ecc, ECC_SECP256R1);
    } else if (alg == CA_ALG_ED25519) {
        if ((rc = wc_ed25519_init(&k->ed)) != 0)
            return wolf_fail(err, errlen, "Ed25519 init", rc);
        k->alg = alg;
        rc = wc_ed25519_make_key(rng, ED25519_KEY_SIZE, &k->ed);
    } else {
        snprintf(err, errlen, "cannot generate %s keys", ca_alg_name(alg));
        return -1;
    }
    if (rc != 0) {
        ca_key_free(k);
        return wolf_fail(err, errlen, "key generation", rc);
    }
    k->has_private = true;
    return 0;
}

void ca_key_free(struct ca_key *k)
{
    if (is_ecc(k->alg))
        wc_ecc_free(&k->ecc);
    else if (k->alg == CA_ALG_ED25519)
        wc_ed25519_free(&k->ed);
    k->alg = CA_ALG_NONE;
    k->has_private = false;
}

void ca_secret_free(char *buf, size_t len)
{
    if (!buf)
        return;
    sodium_memzero(buf, len);
    free(buf);
}

char *ca_key_pem(struct ca_key *k, size_t *len, char *err, size_t errlen)
{
    uint8_t der[KEY_DER_MAX];
    int n;
    if (!k->has_private) {
        snprintf(err, errlen, "no private key to write");
        return NULL;
    }
    if (is_ecc(k->alg)) {
        word32 dl = sizeof(der);
        n = wc_EccKeyToPKCS8(&k->ecc, der, &dl);
        if (n > 0)
            n = (int)dl;
    } else {
        /* RFC 8410 form without the public key, which is what OpenSSL reads */
        n = wc_Ed25519PrivateKeyToDer(&k->ed, der, sizeof(der));
    }
    if (n <= 0) {
        sodium_memzero(der, sizeof(der));
        wolf_fail(err, errlen, "private key encoding", n);
        return NULL;
    }
    char *pem = malloc(KEY_PEM_MAX);
    int pl = pem ? wc_DerToPem(der, (word32)n, (byte *)pem, KEY_PEM_MAX - 1, PKCS8_PRIVATEKEY_TYPE)
                 : MEMORY_E;
    sodium_memzero(der, sizeof(der));
    if (pl <= 0) {
        ca_secret_free(pem, KEY_PEM_MAX);
        wolf_fail(err, errlen, "PEM encoding", pl);
        return NULL;
    }
    pem[pl] = '\0';
    *len = (size_t)pl;
    return pem;
}

/* Decodes a private key PEM (PKCS#8 or SEC1) into k, public half included. */
static int key_from_pem(struct ca_key *k, const char *pem, size_t len, char *err, size_t errlen)
{
    memset(k, 0, sizeof(*k));
    DerBuffer *der = NULL;
    int format = 0;
    int rc = wc_PemToDer((const unsigned char *)pem, (long)len, PRIVATEKEY_TYPE, &der, NULL, NULL,
                         &format);
    if (rc != 0 || !der)
        return wolf_fail(err, errlen, "reading the private key PEM", rc);
    word32 idx = 0;
    if (format == ECDSAk) {
        if ((rc = wc_ecc_init(&k->ecc)) == 0) {
            k->alg = CA_ALG_P256; /* for ca_key_free; the curve is checked below */
            rc = wc_EccPrivateKeyDecode(der->buffer, &idx, &k->ecc, der->length);
        }
        if (rc == 0 && k->ecc.dp && k->ecc.dp->id == ECC_SECP384R1)
            k->alg = CA_ALG_P384;
        else if (rc == 0 && (!k->ecc.dp || k->ecc.dp->id != ECC_SECP256R1))
            rc = ECC_CURVE_OID_E;
        if (rc == 0)
            rc = wc_ecc_check_key(&k->ecc);
    } else if (format == ED25519k) {
        uint8_t priv[ED25519_KEY_SIZE], pub[ED25519_PUB_KEY_SIZE];
        word32 plen = sizeof(priv);
        ed25519_key tmp;
        if ((rc = wc_ed25519_init(&tmp)) == 0) {
            rc = wc_Ed25519PrivateKeyDecode(der->buffer, &idx, &tmp, der->length);
            /* the file holds only the private half: derive the public one */
            if (rc == 0)
                rc = wc_ed25519_make_public(&tmp, pub, sizeof(pub));
            if (rc == 0)
                rc = wc_ed25519_export_private_only(&tmp, priv, &plen);
            wc_ed25519_free(&tmp);
        }
        if (rc == 0 && (rc = wc_ed25519_init(&k->ed)) == 0) {
            k->alg = CA_ALG_ED25519;
            rc = wc_ed25519_import_private_key(priv, plen, pub, sizeof(pub), &k->ed);
        }
        sodium_memzero(priv, sizeof(priv));
    } else {
        snprintf(err, errlen, "the private key is neither ECDSA nor Ed25519");
        wc_FreeDer(&der);
        return -1;
    }
    wc_FreeDer(&der);
    if (rc != 0) {
        ca_key_free(k);
        return wolf_fail(err, errlen, "decoding the private key", rc);
    }
    k->has_private = true;
    return 0;
}

/* The public key in the form wolfSSL's certificate parser holds it (DecodedCert.publicKey):
 * the SubjectPublicKeyInfo for ECDSA, the 32 raw bytes for Ed25519. Returns the length or
 * -1. */
static int key_public_parsed_form(struct ca_key *k, uint8_t *out, size_t cap)
{
    if (is_ecc(k->alg)) {
        int n = wc_EccPublicKeyToDer(&k->ecc, out, (word32)cap, 1);
        return n > 0 ? n : -1;
    }
    word32 len = (word32)cap;
    return wc_ed25519_export_public(&k->ed, out, &len) == 0 ? (int)len : -1;
}

/* X.509 Time for t: UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5), as
 * tag, length and text, which is what wolfSSL's raw date fields hold. */
static int set_time(uint8_t *out, int *out_len, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return -1;
    char text[24];
    int year = tm.tm_year + 1900;
    if (year < 1950 || year > 9999)
        return -1;
    /* two-digit years only before 2050, where RFC 5280 says UTCTime */
    int n = snprintf(text, sizeof(text), "%0*d%02d%02d%02d%02d%02dZ", year < 2050 ? 2 : 4,
                     year < 2050 ? year % 100 : year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
    out[0] = year < 2050 ? 0x17 : 0x18;
    if (n <= 0 || n + 2 > CTC_DATE_SIZE)
        return -1;
    out[1] = (uint8_t)n;
    memcpy(out + 2, text, (size_t)n);
    *out_len = n + 2;
    return 0;
}

static int fill_cert(Cert *c, const struct ca_cert_spec *spec, struct ca_key *subject,
                     struct ca_issuer *issuer, char *err, size_t errlen)
{
    int rc = wc_InitCert(c);
    if (rc != 0)
        return wolf_fail(err, errlen, "certificate init", rc);
    struct ca_key *signer = issuer ? &issuer->key : subject;
    c->sigType = is_ecc(signer->alg) ? CTC_SHA256wECDSA : CTC_ED25519;
    c->selfSigned = issuer ? 0 : 1;
    memcpy(c->serial, spec->serial, CA_SERIAL_BYTES);
    c->serialSz = CA_SERIAL_BYTES;
    if (set_time(c->beforeDate, &c->beforeDateSz, spec->not_before) != 0 ||
        set_time(c->afterDate, &c->afterDateSz, spec->not_after) != 0) {
        snprintf(err, errlen, "validity dates out of range");
        return -1;
    }

    /* Subject, raw: wolfSSL wraps it in the Name SEQUENCE and reads it up to the first 0. */
    uint8_t name[2 * CA_CN_MAX + 64];
    int nl = ca_der_name_content(spec->cn, spec->org, name, sizeof(name));
    if (nl <= 0 || (size_t)nl >= sizeof(c->sbjRaw) || memchr(name, 0, (size_t)nl)) {
        snprintf(err, errlen, "subject name cannot be encoded");
        return -1;
    }
    memset(c->sbjRaw, 0, sizeof(c->sbjRaw));
    memcpy(c->sbjRaw, name, (size_t)nl);
    if (issuer) {
        if ((rc = wc_SetIssuerRaw(c, issuer->der, (int)issuer->der_len)) != 0)
            return wolf_fail(err, errlen, "setting the issuer", rc);
        if ((rc = wc_SetAuthKeyIdFromCert(c, issuer->der, (int)issuer->der_len)) != 0)
            return wolf_fail(err, errlen, "setting the authority key id", rc);
    } else {
        memset(c->issRaw, 0, sizeof(c->issRaw));
        memcpy(c->issRaw, name, (size_t)nl);
        if ((rc = wc_SetAuthKeyIdFromPublicKey_ex(c, key_type(subject), key_obj(subject))) != 0)
            return wolf_fail(err, errlen, "setting the authority key id", rc);
    }
    if ((rc = wc_SetSubjectKeyIdFromPublicKey_ex(c, key_type(subject), key_obj(subject))) != 0)
        return wolf_fail(err, errlen, "setting the subject key id", rc);

    const char *ku = "digitalSignature", *eku = NULL;
    if (spec->kind == CA_KIND_CA) {
        c->isCA = 1;
        ku = "keyCertSign,cRLSign";
    } else {
        c->basicConstSet = 1; /* CA:FALSE written out */
        eku = spec->kind == CA_KIND_SERVER ? "serverAuth" : "clientAuth";
    }
    if ((rc = wc_SetKeyUsage(c, ku)) != 0)
        return wolf_fail(err, errlen, "setting the key usage", rc);
    if (eku && (rc = wc_SetExtKeyUsage(c, eku)) != 0)
        return wolf_fail(err, errlen, "setting the extended key usage", rc);
    if (spec->nsans) {
        int sl = ca_der_general_names(spec->sans, spec->nsans, c->altNames, sizeof(c->altNames));
        if (sl <= 0) {
            snprintf(err, errlen, "subject alternative names do not fit");
            return -1;
        }
        c->altNamesSz = sl;
    }
    return 0;
}

/* Parses a fresh certificate and checks it says what spec asked, signed by the key
 * signer_key (in the parser's form, see key_public_parsed_form). */
static int check_made(const uint8_t *der, size_t len, const struct ca_cert_spec *spec,
                      const uint8_t *signer_key, word32 signer_key_len, int signer_oid, char *err,
                      size_t errlen)
{
    DecodedCert dc;
    wc_InitDecodedCert(&dc, der, (word32)len, NULL);
    int rc = wc_ParseCert(&dc, CERT_TYPE, NO_VERIFY, NULL);
    const char *why = NULL;
    size_t cnlen = strlen(spec->cn);
    if (rc != 0)
        why = "it does not parse";
    else if (!dc.subjectCN || (size_t)dc.subjectCNLen != cnlen ||
             memcmp(dc.subjectCN, spec->cn, cnlen) != 0)
        why = "its CN differs";
    else if (dc.serialSz != CA_SERIAL_BYTES ||
             memcmp(dc.serial, spec->serial, CA_SERIAL_BYTES) != 0)
        why = "its serial differs";
    else if ((spec->kind == CA_KIND_CA) != (dc.isCA != 0) ||
             (spec->kind == CA_KIND_CA && !dc.extBasicConstCrit))
        why = "its basic constraints differ";
    wc_FreeDecodedCert(&dc);
    if (!why) {
        rc = wc_CheckCertSigPubKey(der, (word32)len, NULL, signer_key, signer_key_len, signer_oid);
        if (rc != 0)
            why = "its signature does not verify";
    }
    if (why) {
        snprintf(err, errlen, "internal error: the certificate made is wrong: %s", why);
        return -1;
    }
    return 0;
}

int ca_cert_make(const struct ca_cert_spec *spec, struct ca_key *subject, struct ca_issuer *issuer,
                 WC_RNG *rng, uint8_t *out, size_t cap, size_t *out_len, char *err, size_t errlen)
{
    struct ca_key *signer = issuer ? &issuer->key : subject;
    if (!signer->has_private) {
        snprintf(err, errlen, "no private key to sign with");
        return -1;
    }
    Cert *c = malloc(sizeof(*c)); /* 25 KB: not for the stack */
    uint8_t *tbs = malloc(CA_CERT_MAX);
    int rc = -1;
    if (!c || !tbs) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (fill_cert(c, spec, subject, issuer, err, errlen) != 0)
        goto out;
    int body = wc_MakeCert_ex(c, tbs, CA_CERT_MAX, key_type(subject), key_obj(subject), rng);
    if (body <= 0) {
        wolf_fail(err, errlen, "building the certificate", body);
        goto out;
    }
    int n = body;
    if (spec->kind == CA_KIND_CA) {
        n = ca_der_bc_critical(tbs, (size_t)body, out, cap);
        if (n <= 0) {
            snprintf(err, errlen, "internal error: cannot mark basicConstraints critical");
            goto out;
        }
    } else {
        if ((size_t)body > cap) {
            snprintf(err, errlen, "certificate too large");
            goto out;
        }
        memcpy(out, tbs, (size_t)body);
    }
    int total =
        wc_SignCert_ex(n, c->sigType, out, (word32)cap, key_type(signer), key_obj(signer), rng);
    if (total <= 0) {
        wolf_fail(err, errlen, "signing the certificate", total);
        goto out;
    }

    /* The signer's public key as wolfSSL's own parser holds it, to check the signature. */
    const uint8_t *signer_der = issuer ? issuer->der : out;
    size_t signer_len = issuer ? issuer->der_len : (size_t)total;
    DecodedCert sc;
    wc_InitDecodedCert(&sc, signer_der, (word32)signer_len, NULL);
    if (wc_ParseCert(&sc, CERT_TYPE, NO_VERIFY, NULL) != 0) {
        wc_FreeDecodedCert(&sc);
        snprintf(err, errlen, "internal error: the signing certificate does not parse");
        goto out;
    }
    rc = check_made(out, (size_t)total, spec, sc.publicKey, sc.pubKeySize, (int)sc.keyOID, err,
                    errlen);
    wc_FreeDecodedCert(&sc);
    if (rc == 0)
        *out_len = (size_t)total;
out:
    free(c);
    free(tbs);
    return rc;
}

char *ca_cert_pem(const uint8_t *der, size_t len, size_t *pem_len)
{
    size_t cap = len * 2 + 128;
    char *pem = malloc(cap);
    if (!pem)
        return NULL;
    int n = wc_DerToPem(der, (word32)len, (byte *)pem, (word32)cap - 1, CERT_TYPE);
    if (n <= 0) {
        free(pem);
        return NULL;
    }
    pem[n] = '\0';
    *pem_len = (size_t)n;
    return pem;
}

/* Unix time of an X.509 date as wolfSSL's parser holds it (tag, length, text). */
static int date_to_unix(const byte *date, int len, int64_t *out)
{
    const byte *text;
    byte format;
    int tlen;
    struct tm tm;
    if (!date || wc_GetDateInfo(date, len, &text, &format, &tlen) != 0 ||
        wc_GetDateAsCalendarTime(text, tlen, format, &tm) != 0)
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

int ca_issuer_load(struct ca_issuer *is, const char *crt, size_t crt_len, const char *key,
                   size_t key_len, char *err, size_t errlen)
{
    memset(is, 0, sizeof(*is));
    int n = wc_CertPemToDer((const unsigned char *)crt, (int)crt_len, is->der, sizeof(is->der),
                            CERT_TYPE);
    if (n <= 0) {
        snprintf(err, errlen, "ca.crt: not a PEM certificate (%s)", wc_GetErrorString(n));
        return -1;
    }
    is->der_len = (size_t)n;
    DecodedCert dc;
    wc_InitDecodedCert(&dc, is->der, (word32)is->der_len, NULL);
    int rc = wc_ParseCert(&dc, CERT_TYPE, NO_VERIFY, NULL);
    if (rc != 0) {
        wc_FreeDecodedCert(&dc);
        return wolf_fail(err, errlen, "ca.crt: parsing", rc);
    }
    bool ok = dc.isCA && date_to_unix(dc.afterDate, dc.afterDateLen, &is->not_after) == 0;
    if (dc.subjectCN && dc.subjectCNLen > 0 && (size_t)dc.subjectCNLen <= CA_CN_MAX) {
        memcpy(is->cn, dc.subjectCN, (size_t)dc.subjectCNLen);
        is->cn[dc.subjectCNLen] = '\0';
    }
    uint8_t cert_pub[PUBKEY_MAX];
    word32 cert_pub_len = dc.pubKeySize;
    if (!dc.publicKey || cert_pub_len > sizeof(cert_pub))
        ok = false;
    else
        memcpy(cert_pub, dc.publicKey, cert_pub_len);
    wc_FreeDecodedCert(&dc);
    if (!ok) {
        snprintf(err, errlen, "ca.crt: not a CA certificate");
        return -1;
    }
    char kerr[200];
    if (key_from_pem(&is->key, key, key_len, kerr, sizeof(kerr)) != 0) {
        snprintf(err, errlen, "ca.key: %s", kerr);
        return -1;
    }
    uint8_t own_pub[PUBKEY_MAX];
    int kl = key_public_parsed_form(&is->key, own_pub, sizeof(own_pub));
    if (kl <= 0 || (word32)kl != cert_pub_len || memcmp(own_pub, cert_pub, cert_pub_len) != 0) {
        ca_key_free(&is->key);
        snprintf(err, errlen, "ca.key is not the key of ca.crt");
        return -1;
    }
    return 0;
}

void ca_issuer_free(struct ca_issuer *is)
{
    ca_key_free(&is->key);
}

int ca_csr_load(const uint8_t *data, size_t len, struct ca_key *pub, char *cn, size_t cncap,
                char *err, size_t errlen)
{
    memset(pub, 0, sizeof(*pub));
    cn[0] = '\0';
    if (len == 0 || len > CA_INPUT_MAX) {
        snprintf(err, errlen, "empty or larger than %d bytes", CA_INPUT_MAX);
        return -1;
    }
    DerBuffer *pem_der = NULL;
    const uint8_t *der = data;
    word32 der_len = (word32)len;
    if (data[0] != 0x30) { /* not DER: PEM */
        int rc = wc_PemToDer(data, (long)len, CERTREQ_TYPE, &pem_der, NULL, NULL, NULL);
        if (rc != 0 || !pem_der) {
            snprintf(err, errlen, "not a certificate request (PEM \"CERTIFICATE REQUEST\" or DER)");
            return -1;
        }
        der = pem_der->buffer;
        der_len = pem_der->length;
    }
    DecodedCert dc;
    wc_InitDecodedCert(&dc, der, der_len, NULL);
    int rc = wc_ParseCert(&dc, CERTREQ_TYPE, VERIFY, NULL);
    int ret = -1;
    if (rc == ASN_SIG_CONFIRM_E || rc == SIG_VERIFY_E) {
        snprintf(err, errlen, "its signature does not verify: refused");
        goto out;
    }
    if (rc != 0) {
        wolf_fail(err, errlen, "parsing the request", rc);
        goto out;
    }
    if (!dc.isCSR) {
        snprintf(err, errlen, "not a certificate request");
        goto out;
    }
    word32 idx = 0;
    if (!dc.publicKey || dc.pubKeySize == 0) {
        snprintf(err, errlen, "it holds no public key");
        goto out;
    }
    if (dc.keyOID == ECDSAk &&
        (dc.pkCurveOID == ECC_SECP256R1_OID || dc.pkCurveOID == ECC_SECP384R1_OID)) {
        if ((rc = wc_ecc_init(&pub->ecc)) != 0) {
            wolf_fail(err, errlen, "ECC init", rc);
            goto out;
        }
        pub->alg = dc.pkCurveOID == ECC_SECP256R1_OID ? CA_ALG_P256 : CA_ALG_P384;
        /* the parser holds an ECDSA key as its SubjectPublicKeyInfo */
        rc = wc_EccPublicKeyDecode(dc.publicKey, &idx, &pub->ecc, dc.pubKeySize);
        if (rc == 0)
            rc = wc_ecc_check_key(&pub->ecc); /* the point is on the curve */
    } else if (dc.keyOID == ED25519k) {
        if ((rc = wc_ed25519_init(&pub->ed)) != 0) {
            wolf_fail(err, errlen, "Ed25519 init", rc);
            goto out;
        }
        pub->alg = CA_ALG_ED25519;
        /* ... and an Ed25519 key as its 32 raw bytes */
        rc = wc_ed25519_import_public(dc.publicKey, dc.pubKeySize, &pub->ed);
    } else {
        snprintf(err, errlen, "its key is neither ECDSA P-256/P-384 nor Ed25519: refused");
        goto out;
    }
    if (rc != 0) {
        ca_key_free(pub);
        wolf_fail(err, errlen, "reading its public key", rc);
        goto out;
    }
    if (dc.subjectCN && dc.subjectCNLen > 0 && (size_t)dc.subjectCNLen < cncap &&
        !memchr(dc.subjectCN, 0, (size_t)dc.subjectCNLen)) {
        memcpy(cn, dc.subjectCN, (size_t)dc.subjectCNLen);
        cn[dc.subjectCNLen] = '\0';
    }
    ret = 0;
out:
    wc_FreeDecodedCert(&dc);
    wc_FreeDer(&pem_der);
    return ret;
}
