/* parse_ids: the sections that say who is asking: users, clients, certificates, issuers,
 * groups, and the limits any of them may carry. */
#include "policy_int.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* --- limits ------------------------------------------------------------------------------- */

static const char *const LIMIT_KEYS[LIM_COUNT] = {
    [LIM_CONNECTIONS] = "max_connections",
    [LIM_MSGS] = "messages_per_second",
    [LIM_BURST] = "burst",
    [LIM_BYTES] = "bytes_per_second",
    [LIM_SUBS] = "max_subscriptions",
    [LIM_QOS] = "max_qos",
    [LIM_RETAIN] = "retain",
};

int pp_limits(struct pol_parse *ps, const yaml_node_t *n, const char *where, struct pol_limits *out)
{
    memset(out, 0, sizeof(*out));
    if (pp_expect(ps, n, YAML_MAPPING_NODE, where) < 0)
        return -1;
    bool seen[LIM_COUNT] = {0};
    int rc = 0;
    yaml_mark_t burst_mark = n->start_mark;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = pp_node(ps, pr->key), *v = pp_node(ps, pr->value);
        int i = pp_key(ps, k, where, LIMIT_KEYS, LIM_COUNT, seen);
        if (i < 0) {
            rc = -1;
            continue;
        }
        int r;
        if (i == LIM_RETAIN) {
            bool b = true;
            r = pp_bool(ps, v, LIMIT_KEYS[i], &b);
            out->v[i] = b;
        } else {
            r = pp_u32(ps, v, LIMIT_KEYS[i], 0, i == LIM_QOS ? 2 : UINT32_MAX, &out->v[i]);
        }
        if (i == LIM_BURST)
            burst_mark = k->start_mark;
        if (r < 0)
            rc = -1;
        else
            out->set |= 1u << i;
    }
    if ((out->set & (1u << LIM_BURST)) && !(out->set & (1u << LIM_MSGS))) {
        pol_err(ps->err, burst_mark,
                "'burst' needs 'messages_per_second' in the same limits block");
        rc = -1;
    }
    return rc;
}

/* --- identities --------------------------------------------------------------------------- */

static const char *const USER_KEYS[] = {"name", "password", "client_id", "limits", "device_key"};
static const char *const CLIENT_KEYS[] = {"name", "client_id", "identity", "limits"};
static const char *const CERT_KEYS[] = {"name",   "cn",          "san_dns",   "san_uri",
                                        "serial", "fingerprint", "client_id", "limits"};
static const char *const ISSUER_KEYS[] = {"name",    "public_key", "audience",
                                          "subject", "client_id",  "limits"};

static const struct {
    const char *section, *entry;
    const char *const *keys;
    size_t nkeys;
} KINDS[] = {
    [ID_USER] = {"users", "users entry", USER_KEYS, ARRAY_LEN(USER_KEYS)},
    [ID_CLIENT] = {"clients", "clients entry", CLIENT_KEYS, ARRAY_LEN(CLIENT_KEYS)},
    [ID_CERT] = {"certificates", "certificates entry", CERT_KEYS, ARRAY_LEN(CERT_KEYS)},
    [ID_ISSUER] = {"issuers", "issuers entry", ISSUER_KEYS, ARRAY_LEN(ISSUER_KEYS)},
};

/* Client ids may be bound to what authentication established; %c would be circular and a
 * group is not known before the identity is. */
#define GLOB_CLIENT_SUBS                                                                           \
    (SUB_BIT(SUB_USERNAME) | SUB_BIT(SUB_IDENTITY) | SUB_BIT(SUB_CERT_CN) |                        \
     SUB_BIT(SUB_CERT_SERIAL) | SUB_BIT(SUB_CERT_FP))

static int glob_value(struct pol_parse *ps, const yaml_node_t *v, const char *key, uint32_t subs,
                      bool nocase, struct pol_glob **out)
{
    if (v->type != YAML_SCALAR_NODE || pp_is_null(v)) {
        pol_err(ps->err, v->start_mark, "'%s': expected a pattern, found %s", key, pp_kind(v));
        return -1;
    }
    struct pol_glob *g = arena_alloc(&ps->p->arena, sizeof(*g));
    char why[300];
    if (!g)
        return -1;
    if (pol_glob_parse(&ps->p->arena, pp_str(v), v->data.scalar.length, subs, g, why, sizeof(why)) <
        0) {
        pol_err(ps->err, v->start_mark, "'%s': %s", key, why);
        return -1;
    }
    g->nocase = nocase;
    *out = g;
    return 0;
}

static bool hash_fields(const char *s, size_t len, unsigned want, bool digits_third)
{
    unsigned parts = 1;
    size_t start = 1;
    for (size_t i = 1; i <= len; i++) {
        if (i < len && s[i] != '$')
            continue;
        if (i == start)
            return false; /* empty field */
        if (digits_third && parts == 2)
            for (size_t k = start; k < i; k++)
                if (s[k] < '0' || s[k] > '9')
                    return false;
        parts++;
        start = i + 1;
    }
    return parts == want;
}

static int password_value(struct pol_parse *ps, const yaml_node_t *v, const char **out)
{
    const char *s;
    if (pp_string(ps, v, "password", POL_HASH_MAX, &s) < 0)
        return -1;
    size_t len = strlen(s);
    bool printable = true;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= ' ' || s[i] > '~')
            printable = false;
    bool ok = printable && ((!strncmp(s, "$argon2id$", 10) && hash_fields(s, len, 6, false)) ||
                            (!strncmp(s, "$7$", 3) && hash_fields(s, len, 5, true)));
    if (!ok) {
        pol_err(ps->err, v->start_mark,
                "'password': expected a password hash: \"$argon2id$...\" from `bulwark passwd` "
                "or a Mosquitto \"$7$...\" hash (never a plain password)");
        return -1;
    }
    *out = s;
    return 0;
}

/* Hex with optional ':' separators, normalised to lowercase without separators; serial
 * numbers also lose their leading zeros (DER adds one when the high bit is set). */
static int hex_value(struct pol_parse *ps, const yaml_node_t *v, const char *key, bool serial,
                     size_t maxdigits, const char **out)
{
    const char *s;
    if (pp_string(ps, v, key, 256, &s) < 0)
        return -1;
    char buf[257];
    size_t n = 0;
    for (const char *c = s; *c; c++) {
        if (*c == ':')
            continue;
        char l = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
        if (!((l >= '0' && l <= '9') || (l >= 'a' && l <= 'f'))) {
            pol_err(ps->err, v->start_mark,
                    "'%s': expected hexadecimal digits (':' between bytes allowed), found '%c'",
                    key, *c);
            return -1;
        }
        buf[n++] = l;
    }
    size_t skip = 0;
    while (serial && skip + 1 < n && buf[skip] == '0')
        skip++;
    n -= skip;
    if (serial ? n == 0 || n > maxdigits : n != maxdigits) {
        pol_err(ps->err, v->start_mark, "'%s': expected %s%zu hexadecimal digits, found %zu", key,
                serial ? "1 to " : "", maxdigits, n);
        return -1;
    }
    *out = arena_strndup(&ps->p->arena, buf + skip, n);
    return *out ? 0 : -1;
}

/* An Ed25519 public key in base64 (issuers' public_key, users' device_key). */
static int key_value(struct pol_parse *ps, const yaml_node_t *v, const char *key, uint8_t pk[32])
{
    const char *s;
    if (pp_string(ps, v, key, 128, &s) < 0)
        return -1;
    static const int variants[] = {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_URLSAFE,
                                   sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    unsigned char bin[96];
    for (size_t i = 0; i < ARRAY_LEN(variants); i++) {
        size_t binlen = 0;
        const char *end = NULL;
        if (sodium_base642bin(bin, sizeof(bin), s, strlen(s), NULL, &binlen, &end, variants[i]) ||
            *end)
            continue;
        if (binlen != 32) {
            pol_err(ps->err, v->start_mark,
                    "'%s': decodes to %zu bytes, an Ed25519 public key has 32", key, binlen);
            return -1;
        }
        memcpy(pk, bin, 32);
        return 0;
    }
    pol_err(ps->err, v->start_mark,
            "'%s': not base64 (expected the 32-byte Ed25519 public key in base64, 44 "
            "characters with padding)",
            key);
    return -1;
}

static int identity_entry(struct pol_parse *ps, const yaml_node_t *m, uint8_t kind)
{
    const char *where = KINDS[kind].entry;
    if (pp_expect(ps, m, YAML_MAPPING_NODE, KINDS[kind].section) < 0)
        return -1;
    struct pol_identity id = {.kind = kind,
                              .line = (unsigned)m->start_mark.line + 1,
                              .column = (unsigned)m->start_mark.column + 1};
    bool seen[8] = {0};
    int rc = 0;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = pp_node(ps, pr->key), *v = pp_node(ps, pr->value);
        int i = pp_key(ps, k, where, KINDS[kind].keys, KINDS[kind].nkeys, seen);
        if (i < 0) {
            rc = -1;
            continue;
        }
        const char *key = KINDS[kind].keys[i];
        int r = 0;
        if (!strcmp(key, "name")) {
            r = pp_name(ps, v, key, false, &id.name);
            id.name_mark = v->start_mark;
        } else if (!strcmp(key, "password"))
            r = password_value(ps, v, &id.password);
        else if (!strcmp(key, "client_id"))
            r = glob_value(ps, v, key, GLOB_CLIENT_SUBS, false, &id.client_id);
        else if (!strcmp(key, "limits"))
            r = pp_limits(ps, v, "limits", &id.limits);
        else if (!strcmp(key, "cn"))
            r = glob_value(ps, v, key, 0, false, &id.cn);
        else if (!strcmp(key, "san_dns"))
            r = glob_value(ps, v, key, 0, true, &id.san_dns);
        else if (!strcmp(key, "san_uri"))
            r = glob_value(ps, v, key, 0, false, &id.san_uri);
        else if (!strcmp(key, "serial"))
            r = hex_value(ps, v, key, true, 40, &id.serial);
        else if (!strcmp(key, "fingerprint"))
            r = hex_value(ps, v, key, false, 64, &id.fingerprint);
        else if (!strcmp(key, "public_key"))
            r = key_value(ps, v, key, id.pk);
        else if (!strcmp(key, "device_key")) {
            r = key_value(ps, v, key, id.pk);
            id.has_device_key = r == 0;
        }
        else if (!strcmp(key, "audience"))
            r = pp_string(ps, v, key, POL_NAME_MAX, &id.audience);
        else if (!strcmp(key, "subject") || !strcmp(key, "identity"))
            r = glob_value(ps, v, key, 0, false, &id.subject);
        if (r < 0)
            rc = -1;
    }
    /* Required keys, reported at the entry. */
    static const char *const required[][3] = {
        [ID_USER] = {"name", NULL, NULL}, /* and a password or a device_key, below */
        [ID_CLIENT] = {"name", "client_id", NULL},
        [ID_CERT] = {"name", NULL, NULL},
        [ID_ISSUER] = {"name", "public_key", "audience"},
    };
    for (size_t r = 0; r < 3 && required[kind][r]; r++) {
        size_t i = 0;
        while (strcmp(KINDS[kind].keys[i], required[kind][r]) != 0)
            i++;
        if (!seen[i]) {
            pol_err(ps->err, m->start_mark, "%s: missing required key '%s'", where,
                    required[kind][r]);
            rc = -1;
        }
    }
    if (kind == ID_USER && !seen[1] && !seen[4]) {
        pol_err(ps->err, m->start_mark,
                "%s: missing required key 'password' (or 'device_key' for a device that "
                "authenticates with its Ed25519 key)",
                where);
        rc = -1;
    }
    if (kind == ID_CERT && !seen[1] && !seen[2] && !seen[3] && !seen[4] && !seen[5]) {
        pol_err(ps->err, m->start_mark,
                "%s: give at least one of cn, san_dns, san_uri, serial or fingerprint", where);
        rc = -1;
    }
    /* Keep named entries even when broken, so references to them do not pile up errors. */
    if (id.name)
        ps->p->ids[ps->p->nids++] = id;
    return rc;
}

int pp_identities(struct pol_parse *ps, const yaml_node_t *n, uint8_t kind)
{
    if (pp_is_null(n))
        return 0;
    if (pp_expect(ps, n, YAML_SEQUENCE_NODE, KINDS[kind].section) < 0)
        return -1;
    int rc = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
        if (identity_entry(ps, pp_node(ps, *it), kind) < 0)
            rc = -1;
    return rc;
}

/* --- groups ------------------------------------------------------------------------------- */

static const char *const GROUP_KEYS[] = {"name", "members", "limits"};

int pp_groups(struct pol_parse *ps, const yaml_node_t *n)
{
    if (pp_is_null(n))
        return 0;
    if (pp_expect(ps, n, YAML_SEQUENCE_NODE, "groups") < 0)
        return -1;
    int rc = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        const yaml_node_t *m = pp_node(ps, *it);
        if (pp_expect(ps, m, YAML_MAPPING_NODE, "groups") < 0) {
            rc = -1;
            continue;
        }
        struct pol_group g = {.line = (unsigned)m->start_mark.line + 1,
                              .column = (unsigned)m->start_mark.column + 1};
        bool seen[ARRAY_LEN(GROUP_KEYS)] = {0};
        for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top;
             pr++) {
            const yaml_node_t *k = pp_node(ps, pr->key), *v = pp_node(ps, pr->value);
            int i = pp_key(ps, k, "groups entry", GROUP_KEYS, ARRAY_LEN(GROUP_KEYS), seen);
            int r = -1;
            if (i == 0) {
                r = pp_name(ps, v, "name", true, &g.name);
                g.name_mark = v->start_mark;
            } else if (i == 1)
                r = pp_refs(ps, v, "members", &g.members, &g.nmembers);
            else if (i == 2)
                r = pp_limits(ps, v, "limits", &g.limits);
            if (r < 0)
                rc = -1;
        }
        for (size_t i = 0; i < 2; i++) {
            if (seen[i])
                continue;
            pol_err(ps->err, m->start_mark, "groups entry: missing required key '%s'",
                    GROUP_KEYS[i]);
            rc = -1;
        }
        if (g.name)
            ps->p->groups[ps->p->ngroups++] = g;
    }
    return rc;
}
