/* jwt: verification of compact JWS tokens (RFC 7519) signed with EdDSA over Ed25519
 * (RFC 8037), and nothing else.
 *
 * Promises: a token is accepted only when its header says alg "EdDSA" (typ absent or
 * "JWT", no "crit"), its signature verifies with the key of a configured issuer whose name
 * equals the "iss" claim (and whose kid, when configured, equals the header's "kid"), and
 * its claims hold: "sub" a string of 1..JWT_MAX_SUB bytes without control characters, "exp"
 * an integer in the future, "nbf" and "iat" (when present) integers not in the future,
 * "aud" the issuer's audience or an array containing it; times allow leeway_s seconds of
 * clock skew. Claims are judged only after the signature verified. Inputs longer than
 * JWT_MAX_TOKEN bytes are refused before decoding; nothing is allocated or kept. */
#ifndef BULWARK_JWT_H
#define BULWARK_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JWT_MAX_TOKEN 8192
#define JWT_MAX_ISSUERS 64
#define JWT_MAX_NAME 255 /* issuer name, audience, kid */
#define JWT_MAX_SUB 127  /* fits struct auth_outcome.identity */
#define JWT_DEFAULT_LEEWAY_S 30
#define JWT_MAX_LEEWAY_S 600

struct jwt_issuer {
    const char *name;       /* the "iss" claim this key signs for */
    uint8_t public_key[32]; /* Ed25519 */
    const char *audience;   /* "aud" must equal it or, as an array, contain it */
    const char *kid;        /* NULL: any or no kid; else the header's kid must equal it */
};

enum jwt_status {
    JWT_OK,
    JWT_NOT_JWT,        /* not shaped like a token (see jwt_shaped) */
    JWT_TOO_LARGE,      /* longer than JWT_MAX_TOKEN */
    JWT_MALFORMED,      /* a part is not canonical base64url, or the signature is not 64 bytes */
    JWT_BAD_HEADER,     /* header not a strict JSON object, bad typ/kid, or crit present */
    JWT_BAD_ALG,        /* alg missing or not "EdDSA" */
    JWT_BAD_CLAIMS,     /* claims not a strict JSON object, or a claim of the wrong type */
    JWT_UNKNOWN_ISSUER, /* no configured issuer with this iss */
    JWT_UNKNOWN_KID,    /* issuer known, but none of its keys carries this kid */
    JWT_BAD_SIGNATURE,
    JWT_BAD_SUBJECT, /* sub missing, empty, too long or with control characters */
    JWT_NO_EXPIRY,   /* exp missing */
    JWT_EXPIRED,
    JWT_NOT_YET_VALID,    /* nbf in the future */
    JWT_ISSUED_IN_FUTURE, /* iat in the future */
    JWT_WRONG_AUDIENCE,
};

struct jwt_result {
    char sub[JWT_MAX_SUB + 1];
    size_t issuer; /* index of the issuer whose key verified the token */
    int64_t exp;
};

/* Three parts of base64url characters separated by two dots, the first two non-empty (the
 * signature may be empty, as in an unsigned token), the first starting with an encoded
 * '{': what a compact JWS looks like. Cheap; says nothing about validity. */
bool jwt_shaped(const uint8_t *tok, size_t len);

/* Checks an issuer list and leeway before use. Returns 0, or -1 with a message in err. */
int jwt_check_issuers(const struct jwt_issuer *iss, size_t n, uint32_t leeway_s, char *err,
                      size_t errlen);

/* Verifies tok against issuers checked by jwt_check_issuers, at time now (Unix seconds).
 * out is filled only on JWT_OK. */
enum jwt_status jwt_verify(const uint8_t *tok, size_t len, const struct jwt_issuer *iss, size_t n,
                           int64_t now, uint32_t leeway_s, struct jwt_result *out);

/* A short reason for the audit log ("token expired", ...); never secret. */
const char *jwt_status_reason(enum jwt_status st);

#endif
