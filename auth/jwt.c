#include "jwt.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base64url.h"
#include "json_min.h"

/* Decoded header or claims never exceed 3/4 of the token. */
#define PART_MAX (JWT_MAX_TOKEN / 4 * 3)

static bool b64url_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Splits at the two dots: dots[0] and dots[1] are their offsets. The signature may be
 * empty, so that an unsigned ("alg":"none") token is judged, and refused, as a token. */
static bool split(const uint8_t *tok, size_t len, size_t dots[2])
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i < len; i++) {
        if (tok[i] == '.') {
            if (n == 2 || i == start)
                return false;
            dots[n++] = i;
            start = i + 1;
        } else if (!b64url_char(tok[i])) {
            return false;
        }
    }
    return n == 2;
}

bool jwt_shaped(const uint8_t *tok, size_t len)
{
    size_t dots[2];
    if (!tok || !split(tok, len, dots))
        return false;
    /* A header is a JSON object: its first bytes decode to '{' (after at most two blanks).
     * This keeps passwords that merely contain two dots away from this backend. */
    uint8_t head[3];
    size_t n = 0;
    if (b64url_decode((const char *)tok, dots[0] < 4 ? dots[0] : 4, head, sizeof(head), &n) < 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (head[i] == '{')
            return true;
        if (head[i] != ' ' && head[i] != '\t' && head[i] != '\n' && head[i] != '\r')
            break;
    }
    return false;
}

static bool name_ok(const char *s)
{
    return s && s[0] && strlen(s) <= JWT_MAX_NAME;
}

static bool str_eq(const struct json_value *v, const char *s)
{
    return v->type == JSON_STRING && v->str_len == strlen(s) && memcmp(v->str, s, v->str_len) == 0;
}

int jwt_check_issuers(const struct jwt_issuer *iss, size_t n, uint32_t leeway_s, char *err,
                      size_t errlen)
{
    if (n == 0 || n > JWT_MAX_ISSUERS) {
        snprintf(err, errlen, "between 1 and %d token issuers are needed, not %zu", JWT_MAX_ISSUERS,
                 n);
        return -1;
    }
    if (leeway_s > JWT_MAX_LEEWAY_S) {
        snprintf(err, errlen, "token leeway %u s is above the maximum of %d s", leeway_s,
                 JWT_MAX_LEEWAY_S);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct jwt_issuer *is = &iss[i];
        if (!name_ok(is->name) || !name_ok(is->audience) || (is->kid && !name_ok(is->kid))) {
            snprintf(err, errlen,
                     "token issuer %zu: name and audience (and kid, if given) must be 1..%d "
                     "bytes",
                     i + 1, JWT_MAX_NAME);
            return -1;
        }
        /* Refuses small-order and off-curve keys, for which forgeries are easy. */
        if (!crypto_core_ed25519_is_valid_point(is->public_key)) {
            snprintf(err, errlen, "token issuer '%s': the public key is not a valid Ed25519 key",
                     is->name);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (is->kid && iss[j].kid && strcmp(is->kid, iss[j].kid) == 0 &&
                strcmp(is->name, iss[j].name) == 0) {
                snprintf(err, errlen, "token issuer '%s': kid '%s' is configured twice", is->name,
                         is->kid);
                return -1;
            }
    }
    return 0;
}

/* Header checks; copies the kid (if any) into kid. */
static enum jwt_status check_header(const struct json_doc *h, char *kid, size_t kid_cap,
                                    bool *has_kid)
{
    const struct json_member *alg = json_get(h, "alg");
    if (!alg || !str_eq(&alg->value, "EdDSA"))
        return JWT_BAD_ALG;
    const struct json_member *typ = json_get(h, "typ");
    if (typ && !str_eq(&typ->value, "JWT"))
        return JWT_BAD_HEADER;
    /* Extensions we would have to understand: we understand none. */
    if (json_get(h, "crit"))
        return JWT_BAD_HEADER;
    const struct json_member *k = json_get(h, "kid");
    *has_kid = k != NULL;
    if (k) {
        if (k->value.type != JSON_STRING || k->value.str_len >= kid_cap)
            return JWT_BAD_HEADER;
        memcpy(kid, k->value.str, k->value.str_len + 1);
    }
    return JWT_OK;
}

/* An integer NumericDate, or absent (*present false). */
static bool get_time(const struct json_doc *c, const char *name, int64_t *t, bool *present)
{
    const struct json_member *m = json_get(c, name);
    *present = m != NULL;
    if (!m)
        return true;
    if (m->value.type != JSON_NUMBER || !m->value.is_int)
        return false;
    *t = m->value.integer;
    return true;
}

static enum jwt_status check_audience(const struct json_doc *c, const char *want)
{
    const struct json_member *aud = json_get(c, "aud");
    if (!aud)
        return JWT_WRONG_AUDIENCE;
    if (aud->value.type == JSON_STRING)
        return str_eq(&aud->value, want) ? JWT_OK : JWT_WRONG_AUDIENCE;
    if (aud->value.type != JSON_ARRAY)
        return JWT_BAD_CLAIMS;
    bool found = false;
    for (size_t i = 0; i < aud->value.count; i++) {
        const struct json_value *v = &c->items[aud->value.first + i];
        if (v->type != JSON_STRING)
            return JWT_BAD_CLAIMS;
        found = found || str_eq(v, want);
    }
    return found ? JWT_OK : JWT_WRONG_AUDIENCE;
}

static bool subject_ok(const struct json_member *sub)
{
    if (!sub || sub->value.type != JSON_STRING)
        return false;
    if (sub->value.str_len == 0 || sub->value.str_len > JWT_MAX_SUB)
        return false;
    for (size_t i = 0; i < sub->value.str_len; i++) {
        uint8_t ch = (uint8_t)sub->value.str[i];
        if (ch < 0x20 || ch == 0x7f)
            return false;
    }
    return true;
}

/* Is t more than leeway seconds after now? Written without overflow for any int64_t. */
static bool after(int64_t t, int64_t now, uint32_t leeway)
{
    return t > now && (uint64_t)t - (uint64_t)now > leeway;
}

/* Claims other than iss, once the signature verified. */
static enum jwt_status check_claims(const struct json_doc *c, const struct jwt_issuer *is,
                                    int64_t now, uint32_t leeway, struct jwt_result *out)
{
    int64_t exp = 0, nbf = 0, iat = 0;
    bool has_exp, has_nbf, has_iat;
    if (!get_time(c, "exp", &exp, &has_exp) || !get_time(c, "nbf", &nbf, &has_nbf) ||
        !get_time(c, "iat", &iat, &has_iat))
        return JWT_BAD_CLAIMS;
    const struct json_member *sub = json_get(c, "sub");
    if (!subject_ok(sub))
        return JWT_BAD_SUBJECT;
    enum jwt_status st = check_audience(c, is->audience);
    if (st != JWT_OK)
        return st;
    if (!has_exp)
        return JWT_NO_EXPIRY;
    /* Valid while now < exp + leeway. */
    if (now >= exp && (uint64_t)now - (uint64_t)exp >= leeway)
        return JWT_EXPIRED;
    if (has_nbf && after(nbf, now, leeway))
        return JWT_NOT_YET_VALID;
    if (has_iat && after(iat, now, leeway))
        return JWT_ISSUED_IN_FUTURE;
    memcpy(out->sub, sub->value.str, sub->value.str_len + 1);
    out->exp = exp;
    return JWT_OK;
}

enum jwt_status jwt_verify(const uint8_t *tok, size_t len, const struct jwt_issuer *iss, size_t n,
                           int64_t now, uint32_t leeway_s, struct jwt_result *out)
{
    if (!tok)
        return JWT_NOT_JWT;
    if (len > JWT_MAX_TOKEN)
        return JWT_TOO_LARGE;
    size_t dots[2];
    if (!split(tok, len, dots))
        return JWT_NOT_JWT;
    const char *text = (const char *)tok;

    uint8_t buf[PART_MAX];
    uint8_t sig[crypto_sign_BYTES];
    size_t blen, slen;
    struct json_doc doc;
    char jerr[96];
    char kid[JWT_MAX_NAME + 1];
    bool has_kid = false;

    if (b64url_decode(text, dots[0], buf, sizeof(buf), &blen) < 0)
        return JWT_MALFORMED;
    if (json_parse(buf, blen, &doc, jerr, sizeof(jerr)) < 0)
        return JWT_BAD_HEADER;
    enum jwt_status st = check_header(&doc, kid, sizeof(kid), &has_kid);
    if (st != JWT_OK)
        return st;

    size_t sig_off = dots[1] + 1;
    if (b64url_decode(text + sig_off, len - sig_off, sig, sizeof(sig), &slen) < 0 ||
        slen != sizeof(sig))
        return JWT_MALFORMED;

    size_t pay_off = dots[0] + 1;
    if (b64url_decode(text + pay_off, dots[1] - pay_off, buf, sizeof(buf), &blen) < 0)
        return JWT_MALFORMED;
    if (json_parse(buf, blen, &doc, jerr, sizeof(jerr)) < 0)
        return JWT_BAD_CLAIMS;

    /* The key is chosen by the (not yet verified) iss and kid; iss is then trusted only
     * because that issuer's key signed it. */
    const struct json_member *claim_iss = json_get(&doc, "iss");
    if (!claim_iss)
        return JWT_UNKNOWN_ISSUER;
    if (claim_iss->value.type != JSON_STRING)
        return JWT_BAD_CLAIMS;
    bool named = false, tried = false;
    for (size_t i = 0; i < n; i++) {
        const struct jwt_issuer *is = &iss[i];
        if (!str_eq(&claim_iss->value, is->name))
            continue;
        named = true;
        if (is->kid && (!has_kid || strcmp(is->kid, kid) != 0))
            continue;
        tried = true;
        if (crypto_sign_verify_detached(sig, tok, dots[1], is->public_key) != 0)
            continue;
        st = check_claims(&doc, is, now, leeway_s, out);
        if (st == JWT_OK)
            out->issuer = i;
        return st;
    }
    if (!named)
        return JWT_UNKNOWN_ISSUER;
    return tried ? JWT_BAD_SIGNATURE : JWT_UNKNOWN_KID;
}

const char *jwt_status_reason(enum jwt_status st)
{
    switch (st) {
    case JWT_OK:
        return "token valid";
    case JWT_NOT_JWT:
        return "not a token";
    case JWT_TOO_LARGE:
        return "token too large";
    case JWT_MALFORMED:
        return "malformed token";
    case JWT_BAD_HEADER:
        return "bad token header";
    case JWT_BAD_ALG:
        return "unsupported token algorithm";
    case JWT_BAD_CLAIMS:
        return "malformed token claims";
    case JWT_UNKNOWN_ISSUER:
        return "unknown token issuer";
    case JWT_UNKNOWN_KID:
        return "unknown token key id";
    case JWT_BAD_SIGNATURE:
        return "bad signature";
    case JWT_BAD_SUBJECT:
        return "bad token subject";
    case JWT_NO_EXPIRY:
        return "token without expiry";
    case JWT_EXPIRED:
        return "token expired";
    case JWT_NOT_YET_VALID:
        return "token not yet valid";
    case JWT_ISSUED_IN_FUTURE:
        return "token issued in the future";
    case JWT_WRONG_AUDIENCE:
        return "wrong audience";
    }
    return "token refused";
}
