/* backend: the contract of an authentication backend in the auth daemon's chain.
 *
 * Promises: backends are asked in configured order; each answers ALLOW, DENY or
 * NO_OPINION for one CONNECT. The first ALLOW or DENY decides; if every backend has no
 * opinion the client is refused (deny by default). A backend never logs a password, token
 * or key, and never keeps request bytes after it returns. Backends run only in the auth
 * daemon (never in the worker). */
#ifndef BULWARK_BACKEND_H
#define BULWARK_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum auth_result { AUTH_NO_OPINION = 0, AUTH_ALLOW = 1, AUTH_DENY = 2 };

/* Certificate fields of a verified client certificate (filled by the TLS issue; all NULL
 * until then). Strings are NUL-terminated. */
struct auth_cert {
    const char *cn;
    const char *const *san_dns; /* NULL-terminated list, or NULL */
    const char *const *san_uri;
    const char *serial_hex;
    const char *fingerprint_sha256_hex;
};

struct auth_request {
    const uint8_t *client_id;
    size_t client_id_len;
    const uint8_t *username; /* NULL when the CONNECT had no username */
    size_t username_len;
    const uint8_t *password; /* NULL when the CONNECT had no password; may hold a token */
    size_t password_len;
    const char *peer; /* "address:port" */
    const struct auth_cert *cert; /* NULL without a client certificate */
    time_t now;
};

/* What an ALLOW establishes: the identity the policy decides on. */
struct auth_outcome {
    char identity[128]; /* user name / token subject / certificate CN the policy matches on */
    char backend[32];   /* which backend decided, for the audit log */
    char issuer[128];   /* token issuer whose key vouched for identity, "" if none */
    char reason[128];   /* short, never secret: "bad password", "token expired", ... */
};

struct auth_backend {
    const char *name;
    void *ctx;
    enum auth_result (*authenticate)(void *ctx, const struct auth_request *req,
                                     struct auth_outcome *out);
    /* Releases everything the backend holds, the struct auth_backend included. */
    void (*destroy)(void *ctx);
};

#endif
