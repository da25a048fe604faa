/* policy: the YAML access policy (docs/POLICY.md): identities, groups, topic rules, payload
 * rules, per-identity limits and what anonymous clients may do.
 *
 * Promises: policy_load either returns a complete, compiled policy or NULL with every problem
 * it found as "FILE:LINE:COLUMN: message" lines (sorted by position); nothing half-loaded is
 * ever returned. A loaded policy is immutable: every query below takes it const, allocates
 * nothing in the common case and may run from several threads at once. Deny by default: a
 * request no rule grants is denied, an explicit deny beats any allow, and substituted client
 * data (client id, username, certificate fields) is only ever compared as one literal topic
 * level, so it can never widen what a rule grants. */
#ifndef BULWARK_POLICY_H
#define BULWARK_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "backend.h"

struct policy; /* compiled, immutable, shared read-only */

/* Loads and compiles FILE. On error returns NULL and writes "FILE:LINE:COLUMN: message" (all
 * errors, one per line, up to errlen; the first at least). */
struct policy *policy_load(const char *path, char *err, size_t errlen);
void policy_free(struct policy *p);

/* Who is asking. identity: the name an authentication backend established (user name, token
 * subject, cert CN) or NULL for anonymous. */
struct policy_subject {
    const char *client_id;
    size_t client_id_len;
    const char *username; /* as sent in CONNECT, NULL if none */
    size_t username_len;
    const char *identity;         /* NUL-terminated, NULL = anonymous */
    const struct auth_cert *cert; /* NULL if none */
    /* Addition to the contract: the name of the policy's token issuer whose key verified the
     * token that established identity (the token subject), NULL when no token did. Without it a
     * token subject could not be told apart from a user of the same name. */
    const char *issuer;
};

enum policy_action { POLICY_PUBLISH = 1, POLICY_SUBSCRIBE = 2 };

/* allow answers this exact request: a PUBLISH above max_qos, or retained when retain is not
 * allowed, is denied (the granting rule is still named). A SUBSCRIBE is never denied for its
 * QoS: the caller grants min(requested, max_qos). max_qos and retain_allowed do not depend on
 * the requested qos and retain, so a caller caching per topic may ask once with qos 0 and
 * retain false and compare later requests itself. */
struct policy_decision {
    bool allow;
    uint8_t max_qos;       /* 0..2 */
    bool retain_allowed;   /* publish only */
    const char *rule_file; /* file that decided (the policy path), "" for the default deny */
    unsigned rule_line;    /* line of the rule that decided, 0 for the default deny */
    const char *rule_id;   /* the rule's name/id if it has one, else "" */
    /* payload rules of the matching publish rule */
    uint32_t payload_max;   /* 0 = no limit beyond the broker's */
    uint8_t payload_format; /* 0 any, 1 utf8, 2 json */
    bool payload_sealed;    /* the topic carries only sealed envelopes (payload-encryption issue) */
};

enum { POLICY_PAYLOAD_ANY = 0, POLICY_PAYLOAD_UTF8 = 1, POLICY_PAYLOAD_JSON = 2 };

struct policy_decision policy_decide(const struct policy *p, const struct policy_subject *s,
                                     enum policy_action a, const char *topic, size_t topic_len,
                                     uint8_t qos, bool retain);

/* Per-identity limits (0 = unlimited / broker default), except max_qos (0..2, 2 when nothing
 * limits it) and retain_allowed (true when nothing forbids it). */
struct policy_limits {
    uint32_t max_connections;
    uint32_t msgs_per_s;
    uint32_t msgs_burst;
    uint32_t bytes_per_s;
    uint32_t max_subscriptions;
    uint8_t max_qos;
    bool retain_allowed;
};
void policy_limits_for(const struct policy *p, const struct policy_subject *s,
                       struct policy_limits *out);

/* Identities known to the policy. Users with password hashes (argon2id "$argon2id$..." from
 * `bulwark passwd`, or Mosquitto "$7$..." PBKDF2-SHA512 strings, kept opaque here: verification
 * is the auth daemon's): */
/* Whether any decision can depend on a client certificate (a certificates entry or a
 * %{cert.*} substitution): without one the auth daemon need not read the certificate for a
 * publish or subscribe decision. */
bool policy_uses_certificates(const struct policy *p);
/* The Ed25519 device key of a user entry (`device_key:`), for the enhanced authentication
 * method bulwark-ed25519 (docs/POLICY.md). False when the user has none. */
bool policy_user_device_key(const struct policy *p, const char *username, size_t len,
                            uint8_t pk[32]);
const char *policy_user_password_hash(const struct policy *p, const char *username,
                                      size_t len); /* NULL if none */

/* Token issuers: name, Ed25519 public key (32 bytes), audience; for the JWT backend. */
struct policy_token_issuer {
    const char *name;
    uint8_t ed25519_pk[32];
    const char *audience;
};
size_t policy_token_issuers(const struct policy *p, const struct policy_token_issuer **out);

/* Does this subject match an identity entry at all (client-id pattern / certificate subject
 * match / user / issuer)? Used to decide whether a connected client is still known after a
 * reload. An anonymous subject is known when the policy has an anonymous section. */
bool policy_knows(const struct policy *p, const struct policy_subject *s);

/* Additions for `bulwark policy check` and `explain`. */
size_t policy_identity_count(const struct policy *p);
size_t policy_rule_count(const struct policy *p); /* topic rules, anonymous ones included */
/* Writes what the subject matches, the rules that apply to it in precedence order (with
 * FILE:LINE and the patterns as substituted for it), the payload rules and its limits. */
void policy_explain(const struct policy *p, const struct policy_subject *s, FILE *out);

#endif
