/* parse: the YAML document into the policy model: the top-level sections, and the
 * typed-value helpers every section uses. Each problem is reported where it is and parsing
 * goes on, so one run shows them all. */
#include "policy_int.h"

#include <stdio.h>
#include <string.h>

#include "mqtt_codec.h"

/* --- typed values ------------------------------------------------------------------------ */

yaml_node_t *pp_node(struct pol_parse *ps, int index)
{
    return yaml_document_get_node(ps->doc, index);
}

const char *pp_str(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

bool pp_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = pp_str(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

const char *pp_kind(const yaml_node_t *n)
{
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a sequence";
    if (pp_is_null(n))
        return "an empty value";
    return "a scalar";
}

int pp_key(struct pol_parse *ps, const yaml_node_t *k, const char *where, const char *const *names,
           size_t n, bool *seen)
{
    if (k->type != YAML_SCALAR_NODE) {
        pol_err(ps->err, k->start_mark, "%s: expected a key, found %s", where, pp_kind(k));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (strlen(names[i]) != k->data.scalar.length || strcmp(pp_str(k), names[i]) != 0)
            continue;
        if (seen[i]) {
            pol_err(ps->err, k->start_mark, "duplicate key '%s' in %s", names[i], where);
            return -1;
        }
        seen[i] = true;
        return (int)i;
    }
    char allowed[400];
    size_t off = 0;
    allowed[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(allowed + off, sizeof(allowed) - off, "%s%s", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= sizeof(allowed) - off)
            break;
        off += (size_t)w;
    }
    pol_err(ps->err, k->start_mark, "unknown key '%.64s' in %s (allowed: %s)", pp_str(k), where,
            allowed);
    return -1;
}

int pp_expect(struct pol_parse *ps, const yaml_node_t *n, yaml_node_type_t t, const char *key)
{
    if (n->type == t && !(t == YAML_SCALAR_NODE && pp_is_null(n)))
        return 0;
    const char *want = t == YAML_MAPPING_NODE    ? "a mapping"
                       : t == YAML_SEQUENCE_NODE ? "a sequence"
                                                 : "a value";
    pol_err(ps->err, n->start_mark, "'%s': expected %s, found %s", key, want, pp_kind(n));
    return -1;
}

int pp_string(struct pol_parse *ps, const yaml_node_t *n, const char *key, size_t maxlen,
              const char **out)
{
    if (n->type != YAML_SCALAR_NODE || pp_is_null(n)) {
        pol_err(ps->err, n->start_mark, "'%s': expected a string, found %s", key, pp_kind(n));
        return -1;
    }
    size_t len = n->data.scalar.length;
    if (len > maxlen) {
        pol_err(ps->err, n->start_mark, "'%s': longer than %zu bytes", key, maxlen);
        return -1;
    }
    if (!mqtt_utf8_valid((const uint8_t *)pp_str(n), len)) {
        pol_err(ps->err, n->start_mark, "'%s': not valid UTF-8 or holds a NUL character", key);
        return -1;
    }
    *out = arena_strndup(&ps->p->arena, pp_str(n), len);
    return *out ? 0 : -1;
}

/* Names are shown in logs and explanations and group names are substituted for %g, so they
 * hold no control characters, and group names are usable as one topic level. */
int pp_name(struct pol_parse *ps, const yaml_node_t *n, const char *key, bool level_safe,
            const char **out)
{
    const char *s;
    if (pp_string(ps, n, key, POL_NAME_MAX, &s) < 0)
        return -1;
    size_t len = strlen(s);
    if (len == 0) {
        pol_err(ps->err, n->start_mark, "'%s': must not be empty", key);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            pol_err(ps->err, n->start_mark, "'%s': control characters are not allowed", key);
            return -1;
        }
    }
    if (level_safe && !pol_level_safe(s, len)) {
        pol_err(ps->err, n->start_mark,
                "'%s': '%s' cannot be a topic level (no '/', '+', '#' or '$', not '.' or '..')",
                key, s);
        return -1;
    }
    *out = s;
    return 0;
}

/* Decimal digits only: YAML 1.1 would read a leading zero as octal and a sign is never
 * meant. */
int pp_u32(struct pol_parse *ps, const yaml_node_t *n, const char *key, uint32_t min, uint32_t max,
           uint32_t *out)
{
    if (n->type != YAML_SCALAR_NODE || pp_is_null(n)) {
        pol_err(ps->err, n->start_mark, "'%s': expected a number, found %s", key, pp_kind(n));
        return -1;
    }
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        pol_err(ps->err, n->start_mark, "'%s': expected a number, found a quoted string", key);
        return -1;
    }
    const char *s = pp_str(n);
    size_t len = n->data.scalar.length;
    bool digits = len > 0 && !(s[0] == '0' && len > 1);
    uint64_t v = 0;
    for (size_t i = 0; digits && i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            digits = false;
        else if (v <= UINT32_MAX)
            v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (!digits) {
        pol_err(ps->err, n->start_mark,
                "'%s': expected a whole number (digits only, no sign or leading zero), found "
                "'%.32s'",
                key, s);
        return -1;
    }
    if (v < min || v > max) {
        pol_err(ps->err, n->start_mark, "'%s': %.32s is out of range (%u..%u)", key, s,
                (unsigned)min, (unsigned)max);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int pp_bool(struct pol_parse *ps, const yaml_node_t *n, const char *key, bool *out)
{
    bool plain = n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (plain && !strcmp(pp_str(n), "true"))
        return *out = true, 0;
    if (plain && !strcmp(pp_str(n), "false"))
        return *out = false, 0;
    if (n->type == YAML_SCALAR_NODE && !pp_is_null(n))
        pol_err(ps->err, n->start_mark, "'%s': expected true or false, found '%.32s'", key,
                pp_str(n));
    else
        pol_err(ps->err, n->start_mark, "'%s': expected true or false, found %s", key, pp_kind(n));
    return -1;
}

int pp_refs(struct pol_parse *ps, const yaml_node_t *n, const char *key, struct pol_ref **out,
            uint32_t *count)
{
    const yaml_node_item_t *items;
    size_t cnt;
    int single[1];
    if (n->type == YAML_SCALAR_NODE && !pp_is_null(n)) {
        single[0] = (int)(n - ps->doc->nodes.start) + 1;
        items = single;
        cnt = 1;
    } else if (n->type == YAML_SEQUENCE_NODE) {
        items = n->data.sequence.items.start;
        cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    } else {
        pol_err(ps->err, n->start_mark, "'%s': expected a name or a sequence of names, found %s",
                key, pp_kind(n));
        return -1;
    }
    if (cnt > POL_ITEMS_MAX) {
        pol_err(ps->err, n->start_mark, "'%s': more than %u names", key, POL_ITEMS_MAX);
        return -1;
    }
    struct pol_ref *r = arena_alloc(&ps->p->arena, (cnt ? cnt : 1) * sizeof(*r));
    if (!r)
        return -1;
    int rc = 0;
    uint32_t k = 0;
    for (size_t i = 0; i < cnt; i++) {
        const yaml_node_t *it = pp_node(ps, items[i]);
        if (pp_name(ps, it, key, false, &r[k].name) < 0) {
            rc = -1;
            continue;
        }
        r[k].mark = it->start_mark;
        k++;
    }
    *out = r;
    *count = k;
    return rc;
}

/* --- the document ------------------------------------------------------------------------- */

enum {
    K_VERSION,
    K_USERS,
    K_CLIENTS,
    K_CERTS,
    K_ISSUERS,
    K_GROUPS,
    K_DEFAULTS,
    K_RULES,
    K_PAYLOADS,
    K_ANONYMOUS,
    K_COUNT
};
static const char *const ROOT_KEYS[K_COUNT] = {
    "version", "users",          "clients", "certificates", "issuers",
    "groups",  "default_limits", "rules",   "payloads",     "anonymous",
};

static size_t seq_len(const yaml_node_t *n)
{
    return n->type == YAML_SEQUENCE_NODE
               ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
               : 0;
}

/* Sizes the model's arrays before filling them. */
static int size_model(struct pol_parse *ps, const yaml_node_t *root)
{
    size_t ids = 0, groups = 0, rules = 0;
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top;
         pr++) {
        const yaml_node_t *k = pp_node(ps, pr->key), *v = pp_node(ps, pr->value);
        if (k->type != YAML_SCALAR_NODE)
            continue;
        const char *s = pp_str(k);
        size_t n = seq_len(v);
        if (n > POL_ITEMS_MAX) {
            pol_err(ps->err, v->start_mark, "'%s': more than %u entries", s, POL_ITEMS_MAX);
            return -1;
        }
        if (!strcmp(s, "users") || !strcmp(s, "clients") || !strcmp(s, "certificates") ||
            !strcmp(s, "issuers"))
            ids += n;
        else if (!strcmp(s, "groups"))
            groups += n;
        else if (!strcmp(s, "rules") || !strcmp(s, "payloads"))
            rules += n;
        else if (!strcmp(s, "anonymous") && v->type == YAML_MAPPING_NODE)
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
                 q++) {
                const yaml_node_t *k2 = pp_node(ps, q->key);
                if (k2->type == YAML_SCALAR_NODE && !strcmp(pp_str(k2), "rules"))
                    rules += seq_len(pp_node(ps, q->value));
            }
    }
    struct policy *p = ps->p;
    p->ids = arena_alloc(&p->arena, (ids + 1) * sizeof(*p->ids));
    p->groups = arena_alloc(&p->arena, (groups + 1) * sizeof(*p->groups));
    p->rules = arena_alloc(&p->arena, (rules + 1) * sizeof(*p->rules));
    return p->ids && p->groups && p->rules ? 0 : -1;
}

int pol_parse_root(struct pol_parse *ps, yaml_node_t *root)
{
    if (!root || pp_is_null(root)) {
        yaml_mark_t start = {0};
        pol_err(ps->err, root ? root->start_mark : start,
                "empty policy (write the sections: users, groups, rules, ...; a policy that "
                "allows nothing is `rules: []`)");
        return -1;
    }
    if (root->type != YAML_MAPPING_NODE) {
        pol_err(ps->err, root->start_mark,
                "the policy must be a mapping of sections (%s, %s, %s, ...), found %s",
                ROOT_KEYS[1], ROOT_KEYS[5], ROOT_KEYS[7], pp_kind(root));
        return -1;
    }
    if (size_model(ps, root) < 0)
        return -1;
    bool seen[K_COUNT] = {0};
    int rc = 0;
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top;
         pr++) {
        const yaml_node_t *k = pp_node(ps, pr->key), *v = pp_node(ps, pr->value);
        int r = -1;
        uint32_t version;
        switch (pp_key(ps, k, "the policy", ROOT_KEYS, K_COUNT, seen)) {
        case K_VERSION:
            r = pp_u32(ps, v, "version", 1, 1, &version);
            break;
        case K_USERS:
            r = pp_identities(ps, v, ID_USER);
            break;
        case K_CLIENTS:
            r = pp_identities(ps, v, ID_CLIENT);
            break;
        case K_CERTS:
            r = pp_identities(ps, v, ID_CERT);
            break;
        case K_ISSUERS:
            r = pp_identities(ps, v, ID_ISSUER);
            break;
        case K_GROUPS:
            r = pp_groups(ps, v);
            break;
        case K_DEFAULTS:
            r = pp_limits(ps, v, "default_limits", &ps->p->defaults);
            break;
        case K_RULES:
            r = pp_rules(ps, v, false);
            break;
        case K_PAYLOADS:
            r = pp_payloads(ps, v);
            break;
        case K_ANONYMOUS:
            r = pp_anonymous(ps, v);
            break;
        }
        if (r < 0)
            rc = -1;
    }
    return rc;
}
