/* policy_int: the policy model shared by the policy/ files, never by their users.
 *
 * Life cycle: load.c reads the YAML, parse*.c fill the model (strings and arrays from the
 * policy's arena), validate.c resolves names, compile.c builds the indexes; after that the
 * model is only read (subject.c, match.c, decide.c, explain.c). */
#ifndef BULWARK_POLICY_INT_H
#define BULWARK_POLICY_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "policy.h"
#include "strmap.h"

/* --- bounds ------------------------------------------------------------------------------ */
#define POL_FILE_MAX (8u * 1024u * 1024u)
#define POL_NAME_MAX 127u      /* identity, group and rule names (auth_outcome.identity) */
#define POL_PATTERN_MAX 65535u /* bytes in a topic pattern: the MQTT wire limit */
#define POL_LEVELS_MAX 256u    /* levels in a topic pattern (bounds the index depth) */
#define POL_GLOB_MAX 256u      /* bytes in a client id / certificate field pattern */
#define POL_ITEMS_MAX 100000u  /* entries in one section */
#define POL_TOPICS_MAX 1024u   /* patterns in one rule */
#define POL_ERRORS_MAX 64u     /* errors collected before giving up */
#define POL_HASH_MAX 512u      /* bytes in a password hash */

/* --- arena: everything the model holds lives until policy_free ---------------------------- */
struct pol_chunk;
struct pol_arena {
    struct pol_chunk *head;
    bool failed; /* an allocation failed: the load reports out of memory */
};
void *arena_alloc(struct pol_arena *a, size_t size); /* zeroed; NULL (and failed) on failure */
char *arena_strndup(struct pol_arena *a, const char *s, size_t len);
void arena_free(struct pol_arena *a);

/* --- errors: collected, sorted by position, rendered one per line ------------------------ */
struct pol_error {
    size_t line, column; /* 1-based */
    unsigned seq;
    char msg[240];
};
struct pol_errors {
    const char *path;
    struct pol_error list[POL_ERRORS_MAX];
    unsigned count;
    bool overflow;
};
__attribute__((format(printf, 3, 4))) void pol_err(struct pol_errors *e, yaml_mark_t mark,
                                                   const char *fmt, ...);
void pol_err_render(struct pol_errors *e, char *out, size_t outlen);

/* --- substitutions and patterns ----------------------------------------------------------- */
enum pol_sub {
    SUB_CLIENT_ID,
    SUB_USERNAME,
    SUB_GROUP,
    SUB_IDENTITY,
    SUB_CERT_CN,
    SUB_CERT_SERIAL,
    SUB_CERT_FP,
    SUB_COUNT
};
#define SUB_BIT(s) (1u << (s))
const char *pol_sub_name(enum pol_sub s); /* "%c", "%{cert.cn}", ... */

enum pol_piece_kind { PIECE_LIT, PIECE_SUB, PIECE_STAR };
struct pol_piece {
    uint8_t kind;
    uint8_t sub; /* PIECE_SUB */
    uint32_t len;
    const char *lit; /* PIECE_LIT */
};

enum pol_level_kind { LVL_LIT, LVL_PLUS, LVL_HASH, LVL_SUBST };
struct pol_level {
    uint8_t kind;
    bool dollar; /* LVL_LIT / LVL_SUBST whose text starts with '$' */
    uint32_t len;
    const char *lit; /* LVL_LIT, unescaped */
    struct pol_piece *pieces;
    uint32_t npieces;
};

struct pol_topic {
    const char *src; /* as written */
    struct pol_level *levels;
    uint32_t nlevels;
    uint32_t subs; /* SUB_BIT set of substitutions used */
    unsigned line, column;
};

/* Client id / certificate field patterns: '*' runs and, for client ids, substitutions. */
struct pol_glob {
    const char *src;
    struct pol_piece *pieces;
    uint32_t npieces;
    uint32_t subs;
    bool nocase; /* DNS names */
};

/* Parses a topic pattern; allowed_subs is the set the context permits. On error writes a
 * message (no position) to why and returns -1. */
int pol_topic_parse(struct pol_arena *a, const char *s, size_t len, uint32_t allowed_subs,
                    struct pol_topic *out, char *why, size_t whylen);
int pol_glob_parse(struct pol_arena *a, const char *s, size_t len, uint32_t allowed_subs,
                   struct pol_glob *out, char *why, size_t whylen);

/* --- model -------------------------------------------------------------------------------- */
enum { LIM_CONNECTIONS, LIM_MSGS, LIM_BURST, LIM_BYTES, LIM_SUBS, LIM_QOS, LIM_RETAIN, LIM_COUNT };
struct pol_limits {
    uint32_t v[LIM_COUNT]; /* LIM_RETAIN: 0 or 1 */
    uint32_t set;          /* bit per field given in the file */
};

struct pol_payload {
    uint32_t max;
    uint8_t format;
    bool sealed;
};

enum pol_id_kind { ID_USER, ID_CLIENT, ID_CERT, ID_ISSUER };
struct pol_identity {
    uint8_t kind;
    const char *name;
    yaml_mark_t name_mark;
    unsigned line, column;
    const char *password;       /* ID_USER */
    struct pol_glob *client_id; /* optional constraint (required for ID_CLIENT) */
    struct pol_glob *cn, *san_dns, *san_uri;
    struct pol_glob *subject;         /* ID_ISSUER subject, ID_CLIENT identity */
    const char *serial, *fingerprint; /* normalised: lowercase hex, no ':' or leading zeros */
    uint8_t pk[32];                   /* ID_ISSUER; ID_USER with has_device_key */
    bool has_device_key;
    const char *audience;
    struct pol_limits limits;
    uint32_t *groups; /* ids of the groups it is a member of, ascending */
    uint32_t ngroups;
};

struct pol_ref { /* a name written in the file, resolved by validate.c */
    const char *name;
    yaml_mark_t mark;
    uint32_t id;
};

struct pol_group {
    const char *name;
    yaml_mark_t name_mark;
    unsigned line, column;
    struct pol_ref *members;
    uint32_t nmembers;
    struct pol_limits limits;
};

enum pol_rule_kind { RULE_ALLOW, RULE_DENY, RULE_PAYLOAD };
struct pol_rule {
    uint32_t index; /* precedence within its kind: file order */
    uint8_t kind;
    uint8_t actions; /* POLICY_PUBLISH | POLICY_SUBSCRIBE */
    bool anonymous;  /* from the anonymous section */
    bool everyone;
    uint8_t qos;
    bool retain;
    struct pol_payload payload;
    unsigned line, column;
    const char *id; /* "" when none */
    yaml_mark_t id_mark;
    struct pol_ref *idents, *grps;
    uint32_t nidents, ngrps;
    uint32_t *principals; /* identity ids, then group ids + nidentities: ascending */
    uint32_t nprincipals;
    struct pol_topic *topics;
    uint32_t ntopics;
};

struct pol_node;
struct pol_bucket {
    uint32_t n;
    uint32_t ids[];
};

struct policy {
    struct pol_arena arena;
    const char *path;
    struct pol_identity *ids;
    uint32_t nids;
    struct pol_group *groups;
    uint32_t ngroups;
    struct pol_rule *rules; /* topic rules, anonymous rules, then payload rules */
    uint32_t nrules, ntopic_rules;
    struct pol_limits defaults, anon_limits;
    bool has_anonymous;
    struct policy_token_issuer *issuers;
    uint32_t nissuers;
    /* indexes (compile.c) */
    struct strmap id_by_name;    /* identity name -> struct pol_identity * */
    struct strmap group_by_name; /* group name -> struct pol_group * */
    struct strmap exact_client;  /* literal client_id of clients entries -> struct pol_bucket * */
    struct strmap exact_cn;      /* literal cn of certificate entries -> struct pol_bucket * */
    uint32_t *scan;              /* every other clients, certificates and issuers entry */
    uint32_t nscan;
    struct pol_node *root;
    bool uses_cert; /* a certificates entry, or a %{cert.*} substitution somewhere */
};

/* parse.c / parse_rules.c: the YAML document into the model. */
struct pol_parse {
    struct policy *p;
    yaml_document_t *doc;
    struct pol_errors *err;
};
int pol_parse_root(struct pol_parse *ps, yaml_node_t *root);

/* Helpers shared by the parse files. */
yaml_node_t *pp_node(struct pol_parse *ps, int index);
const char *pp_str(const yaml_node_t *n);
bool pp_is_null(const yaml_node_t *n);
const char *pp_kind(const yaml_node_t *n);
/* A key of a mapping: returns its index in names[], or -1 (reported: not a scalar, unknown,
 * repeated). */
int pp_key(struct pol_parse *ps, const yaml_node_t *k, const char *where, const char *const *names,
           size_t n, bool *seen);
int pp_expect(struct pol_parse *ps, const yaml_node_t *n, yaml_node_type_t t, const char *key);
int pp_string(struct pol_parse *ps, const yaml_node_t *n, const char *key, size_t maxlen,
              const char **out);
int pp_name(struct pol_parse *ps, const yaml_node_t *n, const char *key, bool level_safe,
            const char **out);
int pp_u32(struct pol_parse *ps, const yaml_node_t *n, const char *key, uint32_t min, uint32_t max,
           uint32_t *out);
int pp_bool(struct pol_parse *ps, const yaml_node_t *n, const char *key, bool *out);
int pp_limits(struct pol_parse *ps, const yaml_node_t *n, const char *where,
              struct pol_limits *out);
int pp_refs(struct pol_parse *ps, const yaml_node_t *n, const char *key, struct pol_ref **out,
            uint32_t *count);
int pp_identities(struct pol_parse *ps, const yaml_node_t *n, uint8_t kind);
int pp_groups(struct pol_parse *ps, const yaml_node_t *n);
int pp_rules(struct pol_parse *ps, const yaml_node_t *n, bool anonymous);
int pp_payloads(struct pol_parse *ps, const yaml_node_t *n);
int pp_anonymous(struct pol_parse *ps, const yaml_node_t *n);

/* validate.c: unique names, references, cross-field rules. */
int pol_validate(struct policy *p, struct pol_errors *err);
/* compile.c: name indexes and the rule index. Returns -1 on allocation failure. */
int pol_compile(struct policy *p);
void pol_index_free(struct policy *p);

/* --- queries ------------------------------------------------------------------------------ */

/* A request level: what the subject substitutes for one pattern. */
struct pol_value {
    const char *s;
    size_t len;
    bool present; /* the subject has it */
    bool level;   /* usable as one literal topic level */
};

/* A subject resolved against the policy: computed once per query. */
struct pol_ctx {
    const struct policy *p;
    const struct policy_subject *s;
    bool anonymous;
    bool known;
    struct pol_value v[SUB_COUNT];
    uint32_t *ids;   /* matched identity ids, then group ids + p->nids; ascending, unique */
    uint32_t nmatch; /* identity ids at the start of ids */
    uint32_t nprinc, cap;
    bool oom; /* could not hold the list: the subject is treated as unknown (fail closed) */
    uint32_t small[64];
};
void pol_ctx_init(struct pol_ctx *c, const struct policy *p, const struct policy_subject *s);
void pol_ctx_done(struct pol_ctx *c);
bool pol_ctx_has(const struct pol_ctx *c, uint32_t principal);
/* Does the rule apply to the subject (by identity, group, everyone or anonymity)? */
bool pol_rule_applies(const struct pol_ctx *c, const struct pol_rule *r);
/* Is s acceptable as one literal topic level after substitution? */
bool pol_level_safe(const char *s, size_t len);

/* match.c. group: the value of %g (NULL when the pattern has none). f is a valid filter or
 * topic name. */
/* For allow rules: every topic f can match is matched by the pattern. A substitution that is
 * not one literal level makes the pattern match nothing. */
bool pol_covers(const struct pol_topic *t, const struct pol_ctx *c, const char *group,
                const char *f, size_t flen);
/* For deny and payload rules: some topic f can match is matched by the pattern. A substitution
 * that is not one literal level makes the pattern match every topic with that level, '$'
 * topics included (a restriction only grows). */
bool pol_overlaps(const struct pol_topic *t, const struct pol_ctx *c, const char *group,
                  const char *f, size_t flen);
bool pol_glob_match(const struct pol_glob *g, const struct pol_ctx *c, const char *s, size_t len);

/* compile.c: calls fn for every (rule, pattern) whose pattern may cover or overlap the
 * request filter f (a superset: fn makes the exact check). */
typedef void (*pol_visit_fn)(void *ctx, const struct pol_rule *r, const struct pol_topic *t);
void pol_index_visit(const struct policy *p, const char *f, size_t flen, pol_visit_fn fn,
                     void *ctx);

/* decide.c */
void pol_limits_resolve(const struct pol_ctx *c, struct policy_limits *out);

#endif
