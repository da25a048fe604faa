/* subject: who is asking, resolved once per query: the values substitutions take, the
 * identity entries the subject matches and the groups those belong to. */
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>

static void set_value(struct pol_value *v, const char *s, size_t len)
{
    v->s = s;
    v->len = s ? len : 0;
    v->present = s != NULL;
    v->level = s && pol_level_safe(s, len);
}

/* Hex as a certificate field holds it (any case, maybe ':'-separated) against the policy's
 * normalised form; serial numbers also ignore leading zeros. */
static bool hex_equal(const char *norm, const char *raw, bool serial)
{
    if (!raw)
        return false;
    bool leading = serial;
    size_t k = 0;
    for (const char *c = raw; *c; c++) {
        if (*c == ':')
            continue;
        char l = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
        if (leading && l == '0') {
            const char *rest = c + 1;
            while (*rest == ':')
                rest++;
            if (*rest)
                continue; /* a zero that is not the last digit */
        }
        leading = false;
        if (norm[k] != l)
            return false;
        k++;
    }
    return norm[k] == '\0';
}

static bool any_glob(const struct pol_glob *g, const struct pol_ctx *c, const char *const *list)
{
    for (size_t i = 0; list && list[i]; i++)
        if (pol_glob_match(g, c, list[i], strlen(list[i])))
            return true;
    return false;
}

static bool cert_matches(const struct pol_identity *id, const struct pol_ctx *c)
{
    const struct auth_cert *cert = c->s->cert;
    if (!cert)
        return false;
    if (id->cn && !(cert->cn && pol_glob_match(id->cn, c, cert->cn, strlen(cert->cn))))
        return false;
    if (id->san_dns && !any_glob(id->san_dns, c, cert->san_dns))
        return false;
    if (id->san_uri && !any_glob(id->san_uri, c, cert->san_uri))
        return false;
    if (id->serial && !hex_equal(id->serial, cert->serial_hex, true))
        return false;
    if (id->fingerprint && !hex_equal(id->fingerprint, cert->fingerprint_sha256_hex, false))
        return false;
    return true;
}

/* Identity entries apply only to authenticated subjects: a client id alone is a claim. */
static bool identity_matches(const struct pol_identity *id, const struct pol_ctx *c)
{
    const struct policy_subject *s = c->s;
    switch (id->kind) {
    case ID_USER: /* established by the password backend: identity and username agree */
        if (s->issuer || strcmp(s->identity, id->name) != 0 || !s->username ||
            s->username_len != strlen(id->name) ||
            memcmp(s->username, id->name, s->username_len) != 0)
            return false;
        break;
    case ID_CLIENT:
        if (id->subject && !pol_glob_match(id->subject, c, s->identity, strlen(s->identity)))
            return false;
        break;
    case ID_CERT:
        if (!cert_matches(id, c))
            return false;
        break;
    case ID_ISSUER:
        if (!s->issuer || strcmp(s->issuer, id->name) != 0)
            return false;
        if (id->subject && !pol_glob_match(id->subject, c, s->identity, strlen(s->identity)))
            return false;
        break;
    default:
        return false;
    }
    return !id->client_id || pol_glob_match(id->client_id, c, s->client_id, s->client_id_len);
}

static void add(struct pol_ctx *c, uint32_t v)
{
    if (c->nprinc == c->cap) {
        if (c->oom)
            return;
        uint32_t ncap = c->cap * 2;
        uint32_t *n =
            c->ids == c->small ? malloc(ncap * sizeof(*n)) : realloc(c->ids, ncap * sizeof(*n));
        if (!n) {
            c->oom = true;
            return;
        }
        if (c->ids == c->small)
            memcpy(n, c->small, sizeof(c->small));
        c->ids = n;
        c->cap = ncap;
    }
    c->ids[c->nprinc++] = v;
}

static void try_identity(struct pol_ctx *c, uint32_t i)
{
    if (identity_matches(&c->p->ids[i], c))
        add(c, i);
}

static void try_bucket(struct pol_ctx *c, const struct pol_bucket *b)
{
    for (uint32_t i = 0; b && i < b->n; i++)
        try_identity(c, b->ids[i]);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void sort_unique(struct pol_ctx *c, uint32_t from)
{
    uint32_t n = c->nprinc - from, *v = c->ids + from;
    if (n < 2)
        return;
    qsort(v, n, sizeof(*v), cmp_u32);
    uint32_t k = 1;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] != v[k - 1])
            v[k++] = v[i];
    c->nprinc = from + k;
}

void pol_ctx_init(struct pol_ctx *c, const struct policy *p, const struct policy_subject *s)
{
    memset(c, 0, sizeof(*c));
    c->p = p;
    c->s = s;
    c->ids = c->small;
    c->cap = sizeof(c->small) / sizeof(c->small[0]);
    c->anonymous = s->identity == NULL;
    set_value(&c->v[SUB_CLIENT_ID], s->client_id, s->client_id_len);
    set_value(&c->v[SUB_USERNAME], s->username, s->username_len);
    set_value(&c->v[SUB_IDENTITY], s->identity, s->identity ? strlen(s->identity) : 0);
    const struct auth_cert *cert = s->cert;
    const char *cn = cert ? cert->cn : NULL, *serial = cert ? cert->serial_hex : NULL,
               *fp = cert ? cert->fingerprint_sha256_hex : NULL;
    set_value(&c->v[SUB_CERT_CN], cn, cn ? strlen(cn) : 0);
    set_value(&c->v[SUB_CERT_SERIAL], serial, serial ? strlen(serial) : 0);
    set_value(&c->v[SUB_CERT_FP], fp, fp ? strlen(fp) : 0);
    if (c->anonymous)
        return;

    const struct pol_identity *user = strmap_get(&p->id_by_name, s->identity, strlen(s->identity));
    if (user && user->kind == ID_USER)
        try_identity(c, (uint32_t)(user - p->ids));
    if (s->client_id)
        try_bucket(c, strmap_get(&p->exact_client, s->client_id, s->client_id_len));
    if (cn)
        try_bucket(c, strmap_get(&p->exact_cn, cn, strlen(cn)));
    for (uint32_t i = 0; i < p->nscan; i++)
        try_identity(c, p->scan[i]);
    sort_unique(c, 0);
    c->nmatch = c->nprinc;
    for (uint32_t i = 0; i < c->nmatch; i++) {
        const struct pol_identity *id = &p->ids[c->ids[i]];
        for (uint32_t g = 0; g < id->ngroups; g++)
            add(c, p->nids + id->groups[g]);
    }
    sort_unique(c, c->nmatch);
    c->known = c->nmatch > 0 && !c->oom;
}

void pol_ctx_done(struct pol_ctx *c)
{
    if (c->ids != c->small)
        free(c->ids);
    c->ids = c->small;
}

static bool in_sorted(const uint32_t *v, uint32_t n, uint32_t x)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v[mid] == x)
            return true;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

bool pol_ctx_has(const struct pol_ctx *c, uint32_t principal)
{
    return in_sorted(c->ids, c->nprinc, principal);
}

bool pol_rule_applies(const struct pol_ctx *c, const struct pol_rule *r)
{
    if (r->kind == RULE_PAYLOAD)
        return true; /* payload rules bind every publisher */
    if (r->anonymous)
        return c->anonymous;
    if (!c->known)
        return false;
    if (r->everyone)
        return true;
    /* Both lists are sorted: walk the shorter, search the longer. */
    if (c->nprinc <= r->nprincipals) {
        for (uint32_t i = 0; i < c->nprinc; i++)
            if (in_sorted(r->principals, r->nprincipals, c->ids[i]))
                return true;
    } else {
        for (uint32_t i = 0; i < r->nprincipals; i++)
            if (in_sorted(c->ids, c->nprinc, r->principals[i]))
                return true;
    }
    return false;
}
