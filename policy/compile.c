/* compile: indexes built once per load so a query touches only what can apply.
 * Rules: a tree of pattern levels; a request walks only the branches its levels can reach
 * (literal child, the shared child of '+' and substituted levels, '#' lists), so the cost
 * follows the depth of the topic and the few rules near it, not the size of the policy.
 * Identities: users by name, clients and certificates with literal keys by that key; the
 * rest are scanned. */
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>

struct pol_entry {
    const struct pol_rule *r;
    const struct pol_topic *t;
};

struct pol_vec {
    struct pol_entry *v;
    uint32_t n, cap;
};

struct pol_node {
    struct strmap lit;      /* literal level -> child */
    struct pol_node **kids; /* the same children, for a '+' in the request */
    uint32_t nkids, kcap;
    struct pol_node *var; /* '+' and substituted levels */
    struct pol_vec end;   /* patterns that end here */
    struct pol_vec hash;  /* '#' here, and restrictions a bad substitution widens from here */
    struct pol_vec all;   /* everything at or below: for a '#' in the request */
};

static int push(struct pol_vec *v, const struct pol_rule *r, const struct pol_topic *t)
{
    if (v->n == v->cap) {
        uint32_t ncap = v->cap ? v->cap * 2 : 4;
        struct pol_entry *n = realloc(v->v, ncap * sizeof(*n));
        if (!n)
            return -1;
        v->v = n;
        v->cap = ncap;
    }
    v->v[v->n++] = (struct pol_entry){r, t};
    return 0;
}

static struct pol_node *node_new(void)
{
    struct pol_node *n = calloc(1, sizeof(*n));
    if (n)
        strmap_init(&n->lit);
    return n;
}

static void node_free(struct pol_node *n)
{
    if (!n)
        return;
    for (uint32_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    node_free(n->var);
    strmap_clear(&n->lit);
    free(n->kids);
    free(n->end.v);
    free(n->hash.v);
    free(n->all.v);
    free(n);
}

static struct pol_node *lit_child(struct pol_node *n, const char *s, size_t len)
{
    struct pol_node *c = strmap_get(&n->lit, s, len);
    if (c)
        return c;
    if (n->nkids == n->kcap) {
        uint32_t ncap = n->kcap ? n->kcap * 2 : 4;
        struct pol_node **k = realloc(n->kids, ncap * sizeof(struct pol_node *));
        if (!k)
            return NULL;
        n->kids = k;
        n->kcap = ncap;
    }
    c = node_new();
    if (!c)
        return NULL;
    if (strmap_put(&n->lit, s, len, c) < 0) {
        node_free(c);
        return NULL;
    }
    n->kids[n->nkids++] = c;
    return c;
}

static int insert(struct pol_node *n, const struct pol_rule *r, const struct pol_topic *t)
{
    bool widened = false;
    for (uint32_t i = 0; i < t->nlevels; i++) {
        const struct pol_level *l = &t->levels[i];
        if (l->kind == LVL_HASH)
            return push(&n->hash, r, t);
        if (l->kind == LVL_SUBST && r->kind != RULE_ALLOW && !widened) {
            if (push(&n->hash, r, t) < 0)
                return -1;
            widened = true;
        }
        struct pol_node *next;
        if (l->kind == LVL_LIT) {
            next = lit_child(n, l->lit, l->len);
        } else {
            if (!n->var)
                n->var = node_new();
            next = n->var;
        }
        if (!next)
            return -1;
        n = next;
    }
    return push(&n->end, r, t);
}

static int append(struct pol_vec *to, const struct pol_vec *from)
{
    for (uint32_t i = 0; i < from->n; i++)
        if (push(to, from->v[i].r, from->v[i].t) < 0)
            return -1;
    return 0;
}

static int finish(struct pol_node *n)
{
    if (append(&n->all, &n->end) < 0 || append(&n->all, &n->hash) < 0)
        return -1;
    for (uint32_t i = 0; i < n->nkids; i++)
        if (finish(n->kids[i]) < 0 || append(&n->all, &n->kids[i]->all) < 0)
            return -1;
    if (n->var && (finish(n->var) < 0 || append(&n->all, &n->var->all) < 0))
        return -1;
    return 0;
}

/* Visits at least every entry whose pattern may cover or overlap the request from level
 * offset off on; the caller's exact check decides. */
static void visit(const struct pol_node *n, const char *f, size_t flen, size_t off, pol_visit_fn fn,
                  void *ctx)
{
    if (off > flen) { /* every request level consumed */
        for (uint32_t i = 0; i < n->hash.n; i++)
            fn(ctx, n->hash.v[i].r, n->hash.v[i].t);
        for (uint32_t i = 0; i < n->end.n; i++)
            fn(ctx, n->end.v[i].r, n->end.v[i].t);
        return;
    }
    const char *slash = memchr(f + off, '/', flen - off);
    size_t end = slash ? (size_t)(slash - f) : flen, len = end - off;
    if (len == 1 && f[off] == '#') {
        for (uint32_t i = 0; i < n->all.n; i++)
            fn(ctx, n->all.v[i].r, n->all.v[i].t);
        return;
    }
    for (uint32_t i = 0; i < n->hash.n; i++)
        fn(ctx, n->hash.v[i].r, n->hash.v[i].t);
    if (len == 1 && f[off] == '+') {
        for (uint32_t i = 0; i < n->nkids; i++)
            visit(n->kids[i], f, flen, end + 1, fn, ctx);
    } else {
        const struct pol_node *c = strmap_get(&n->lit, f + off, len);
        if (c)
            visit(c, f, flen, end + 1, fn, ctx);
    }
    if (n->var)
        visit(n->var, f, flen, end + 1, fn, ctx);
}

void pol_index_visit(const struct policy *p, const char *f, size_t flen, pol_visit_fn fn, void *ctx)
{
    if (p->root && flen)
        visit(p->root, f, flen, 0, fn, ctx);
}

/* --- identities --------------------------------------------------------------------------- */

/* The literal key an entry can be found by, or NULL when it must be scanned. */
static const struct pol_glob *exact_key(const struct pol_identity *id)
{
    const struct pol_glob *g = id->kind == ID_CLIENT ? id->client_id
                               : id->kind == ID_CERT ? id->cn
                                                     : NULL;
    if (!g || g->npieces != 1 || g->pieces[0].kind != PIECE_LIT)
        return NULL;
    return g;
}

static bool free_bucket(void *ctx, const void *key, size_t len, void *value)
{
    (void)ctx;
    (void)key;
    (void)len;
    free(value);
    return true;
}

static int bucket_add(struct strmap *m, const struct pol_glob *g, uint32_t id)
{
    const struct pol_piece *k = &g->pieces[0];
    struct pol_bucket *old = strmap_get(m, k->lit, k->len);
    uint32_t n = old ? old->n : 0;
    struct pol_bucket *b = malloc(sizeof(*b) + (n + 1) * sizeof(uint32_t));
    if (!b)
        return -1;
    if (old)
        memcpy(b->ids, old->ids, n * sizeof(uint32_t));
    b->n = n + 1;
    b->ids[n] = id;
    if (strmap_put(m, k->lit, k->len, b) < 0) {
        free(b);
        return -1;
    }
    free(old);
    return 0;
}

static int index_identities(struct policy *p)
{
    p->scan = calloc(p->nids + 1, sizeof(*p->scan));
    if (!p->scan)
        return -1;
    for (uint32_t i = 0; i < p->nids; i++) {
        const struct pol_identity *id = &p->ids[i];
        if (id->kind == ID_USER)
            continue; /* found by name */
        const struct pol_glob *k = exact_key(id);
        if (k) {
            if (bucket_add(id->kind == ID_CLIENT ? &p->exact_client : &p->exact_cn, k, i) < 0)
                return -1;
        } else {
            p->scan[p->nscan++] = i;
        }
    }
    return 0;
}

#define CERT_SUBS (SUB_BIT(SUB_CERT_CN) | SUB_BIT(SUB_CERT_SERIAL) | SUB_BIT(SUB_CERT_FP))

int pol_compile(struct policy *p)
{
    if (index_identities(p) < 0)
        return -1;
    p->root = node_new();
    if (!p->root)
        return -1;
    for (uint32_t i = 0; i < p->nids; i++)
        p->uses_cert |= p->ids[i].kind == ID_CERT ||
                        (p->ids[i].client_id && (p->ids[i].client_id->subs & CERT_SUBS));
    for (uint32_t i = 0; i < p->nrules; i++)
        for (uint32_t t = 0; t < p->rules[i].ntopics; t++) {
            p->uses_cert |= (p->rules[i].topics[t].subs & CERT_SUBS) != 0;
            if (insert(p->root, &p->rules[i], &p->rules[i].topics[t]) < 0)
                return -1;
        }
    return finish(p->root);
}

void pol_index_free(struct policy *p)
{
    node_free(p->root);
    p->root = NULL;
    strmap_clear(&p->id_by_name);
    strmap_clear(&p->group_by_name);
    strmap_each(&p->exact_client, free_bucket, NULL);
    strmap_each(&p->exact_cn, free_bucket, NULL);
    strmap_clear(&p->exact_client);
    strmap_clear(&p->exact_cn);
    free(p->scan);
    p->scan = NULL;
}
