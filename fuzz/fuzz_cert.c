/* fuzz_cert: what the auth daemon parses on behalf of the TLS layer, from a worker it must
 * not trust: client certificates (auth/cert_fields.h, auth/cert_check.h), handshake-signature
 * messages (common/keysign.h) and revocation lists (common/revlist.h).
 *
 * Input: one selector byte, then the data. Selector % 3:
 *   0  data is a DER certificate: cert_fields_from_der, then cert_check against a listener
 *      whose revocation list holds the serial the certificate carries (when it has one)
 *   1  data is a keysign request and a response (split at the selector's upper bits)
 *   2  data is a revocation list file
 * Oracles: no crash, leak or undefined behaviour; certificate fields are NUL-free within
 * their bounds, the serial is canonical lowercase hex and the fingerprint 64 hex digits; a
 * certificate whose serial is revoked is never CERTCHK_OK; a keysign message that decodes
 * re-encodes to the same bytes; a revocation list that loads contains each of its entries. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "cert_check.h"
#include "cert_fields.h"
#include "fuzz_util.h"
#include "keysign.h"
#include "revlist.h"

static struct config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    wolfSSL_Init();
    config_defaults(&cfg);
    cfg.n_listeners = 1;
    config_tls_defaults(&cfg.listeners[0].tls);
    cfg.listeners[0].tls.enabled = true;
    return 0;
}

static bool hex_lower(const char *s, bool canonical)
{
    if (!*s)
        return false;
    if (canonical && s[0] == '0' && s[1])
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static void one_cert(const uint8_t *d, size_t n)
{
    struct cert_fields f;
    if (cert_fields_from_der(d, n, &f) != 0)
        return;
    if (f.cert.cn)
        FUZZ_CHECK(strlen(f.cert.cn) < CERT_FIELD_MAX && f.cert.cn[0], "CN empty or too long");
    if (f.cert.serial_hex)
        FUZZ_CHECK(hex_lower(f.cert.serial_hex, true), "serial not canonical: %s",
                   f.cert.serial_hex);
    if (f.cert.fingerprint_sha256_hex)
        FUZZ_CHECK(strlen(f.cert.fingerprint_sha256_hex) == 64 &&
                       hex_lower(f.cert.fingerprint_sha256_hex, false),
                   "fingerprint not 64 lowercase hex digits");
    for (size_t i = 0; f.dns[i]; i++)
        FUZZ_CHECK(i < CERT_SANS_MAX && strlen(f.dns[i]) < CERT_FIELD_MAX,
                   "SAN list out of bounds");
    struct cert_check cc;
    memset(&cc, 0, sizeof(cc));
    if (f.cert.serial_hex && strlen(f.cert.serial_hex) <= REVLIST_SERIAL_MAX_HEX) {
        char line[REVLIST_SERIAL_MAX_HEX + 32];
        int len = snprintf(line, sizeof(line), "%s\t1\tx\n", f.cert.serial_hex);
        char err[256];
        if (revlist_parse(&cc.rev[0], "fuzz", line, (size_t)len, err, sizeof(err)) == 0) {
            struct cert_fields g;
            enum cert_verdict v = cert_check(&cc, &cfg, 0, d, n, (const uint8_t *)"id", 2, &g);
            FUZZ_CHECK(v != CERTCHK_OK && v != CERTCHK_NONE, "a revoked certificate passed");
            cert_fields_free(&g);
        }
    }
    cert_check_free(&cc);
    cert_fields_free(&f);
}

static void one_keysign(uint8_t sel, const uint8_t *d, size_t n)
{
    size_t cut = n ? (size_t)(sel >> 2) % (n + 1) : 0;
    uint8_t buf[KEYSIGN_RESP_MAX];
    struct keysign_req q;
    if (keysign_req_decode(d, cut, &q) == 0) {
        size_t m = keysign_req_encode(&q, buf, sizeof(buf));
        FUZZ_CHECK(m == cut && memcmp(buf, d, m) == 0, "request does not re-encode");
    }
    struct keysign_resp r;
    if (keysign_resp_decode(d + cut, n - cut, &r) == 0) {
        size_t m = keysign_resp_encode(&r, buf, sizeof(buf));
        FUZZ_CHECK(m == n - cut && memcmp(buf, d + cut, m) == 0, "response does not re-encode");
    }
}

static void one_revlist(const uint8_t *d, size_t n)
{
    struct revlist rl;
    char err[512];
    if (revlist_parse(&rl, "fuzz", (const char *)d, n, err, sizeof(err)) == 0) {
        for (size_t i = 0; i < rl.count; i++)
            FUZZ_CHECK(revlist_contains(&rl, rl.entries[i].serial), "entry not found");
    } else {
        FUZZ_CHECK(rl.count == 0 && strncmp(err, "fuzz:", 5) == 0, "bad error report");
    }
    revlist_free(&rl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    switch (sel % 3) {
    case 0:
        one_cert(data, size);
        break;
    case 1:
        one_keysign(sel, data, size);
        break;
    default:
        one_revlist(data, size);
        break;
    }
    return 0;
}
