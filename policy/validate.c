/* validate: what no single entry can check alone: unique names and ids, and that every name
 * a group or rule mentions is defined. Resolved references become ids for compile.c. */
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const KIND_NAMES[] = {"user", "client", "certificate", "issuer"};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts and drops repeats; returns the new count. */
static uint32_t sort_unique(uint32_t *v, uint32_t n)
{
    if (n < 2)
        return n;
    qsort(v, n, sizeof(*v), cmp_u32);
    uint32_t k = 1;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] != v[k - 1])
            v[k++] = v[i];
    return k;
}

static int names(struct policy *p, struct pol_errors *err)
{
    int rc = 0;
    for (uint32_t i = 0; i < p->nids; i++) {
        struct pol_identity *id = &p->ids[i];
        const struct pol_identity *first = strmap_get(&p->id_by_name, id->name, strlen(id->name));
        if (first) {
            pol_err(err, id->name_mark, "duplicate identity '%s' (already a %s at line %u)",
                    id->name, KIND_NAMES[first->kind], first->line);
            rc = -1;
        } else if (strmap_put(&p->id_by_name, id->name, strlen(id->name), id) < 0) {
            return -1;
        }
    }
    for (uint32_t i = 0; i < p->ngroups; i++) {
        struct pol_group *g = &p->groups[i];
        const struct pol_group *first = strmap_get(&p->group_by_name, g->name, strlen(g->name));
        if (first) {
            pol_err(err, g->name_mark, "duplicate group '%s' (first defined at line %u)", g->name,
                    first->line);
            rc = -1;
        } else if (strmap_put(&p->group_by_name, g->name, strlen(g->name), g) < 0) {
            return -1;
        }
    }
    struct strmap ids;
    strmap_init(&ids);
    for (uint32_t i = 0; i < p->nrules; i++) {
        struct pol_rule *r = &p->rules[i];
        if (!*r->id)
            continue;
        const struct pol_rule *first = strmap_get(&ids, r->id, strlen(r->id));
        if (first) {
            pol_err(err, r->id_mark, "duplicate rule id '%s' (first used at line %u)", r->id,
                    first->line);
            rc = -1;
        } else if (strmap_put(&ids, r->id, strlen(r->id), r) < 0) {
            rc = -1;
            break;
        }
    }
    strmap_clear(&ids);
    return rc;
}

static const struct pol_identity *find_identity(const struct policy *p, const struct pol_ref *ref)
{
    return strmap_get(&p->id_by_name, ref->name, strlen(ref->name));
}

static const struct pol_group *find_group(const struct policy *p, const struct pol_ref *ref)
{
    return strmap_get(&p->group_by_name, ref->name, strlen(ref->name));
}

/* Group members, and each identity's list of groups. */
static int memberships(struct policy *p, struct pol_errors *err)
{
    int rc = 0;
    uint32_t *count = calloc(p->nids + 1, sizeof(*count));
    if (!count)
        return -1;
    for (uint32_t g = 0; g < p->ngroups; g++) {
        struct pol_group *grp = &p->groups[g];
        for (uint32_t m = 0; m < grp->nmembers; m++) {
            struct pol_ref *ref = &grp->members[m];
            const struct pol_identity *id = find_identity(p, ref);
            if (!id) {
                pol_err(err, ref->mark,
                        "unknown identity '%s' in group '%s' (identities are the names under "
                        "users, clients, certificates and issuers)",
                        ref->name, grp->name);
                rc = -1;
                continue;
            }
            ref->id = (uint32_t)(id - p->ids);
            for (uint32_t k = 0; k < m; k++)
                if (grp->members[k].id == ref->id && !strcmp(grp->members[k].name, ref->name)) {
                    pol_err(err, ref->mark, "'%s' is listed twice in group '%s'", ref->name,
                            grp->name);
                    rc = -1;
                    ref->id = UINT32_MAX;
                    break;
                }
            if (ref->id != UINT32_MAX)
                count[ref->id]++;
        }
    }
    for (uint32_t i = 0; i < p->nids; i++) {
        p->ids[i].groups = arena_alloc(&p->arena, (count[i] + 1) * sizeof(uint32_t));
        if (!p->ids[i].groups)
            rc = -1;
    }
    free(count);
    if (rc < 0)
        return rc;
    for (uint32_t g = 0; g < p->ngroups; g++)
        for (uint32_t m = 0; m < p->groups[g].nmembers; m++) {
            struct pol_identity *id = &p->ids[p->groups[g].members[m].id];
            id->groups[id->ngroups++] = g;
        }
    return 0;
}

static int rule_refs(struct policy *p, struct pol_errors *err)
{
    int rc = 0;
    for (uint32_t i = 0; i < p->nrules; i++) {
        struct pol_rule *r = &p->rules[i];
        r->principals =
            arena_alloc(&p->arena, ((size_t)r->nidents + r->ngrps + 1) * sizeof(uint32_t));
        if (!r->principals)
            return -1;
        for (uint32_t k = 0; k < r->nidents; k++) {
            const struct pol_identity *id = find_identity(p, &r->idents[k]);
            if (!id) {
                pol_err(err, r->idents[k].mark, "unknown identity '%s' in rule%s%s%s",
                        r->idents[k].name, *r->id ? " '" : "", r->id, *r->id ? "'" : "");
                rc = -1;
                continue;
            }
            r->idents[k].id = (uint32_t)(id - p->ids);
            r->principals[r->nprincipals++] = r->idents[k].id;
        }
        for (uint32_t k = 0; k < r->ngrps; k++) {
            const struct pol_group *g = find_group(p, &r->grps[k]);
            if (!g) {
                pol_err(err, r->grps[k].mark, "unknown group '%s' in rule%s%s%s", r->grps[k].name,
                        *r->id ? " '" : "", r->id, *r->id ? "'" : "");
                rc = -1;
                continue;
            }
            r->grps[k].id = (uint32_t)(g - p->groups);
            r->principals[r->nprincipals++] = p->nids + r->grps[k].id;
        }
        r->nprincipals = sort_unique(r->principals, r->nprincipals);
    }
    return rc;
}

static int issuers(struct policy *p)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->nids; i++)
        n += p->ids[i].kind == ID_ISSUER;
    p->issuers = arena_alloc(&p->arena, (n + 1) * sizeof(*p->issuers));
    if (!p->issuers)
        return -1;
    for (uint32_t i = 0; i < p->nids; i++) {
        const struct pol_identity *id = &p->ids[i];
        if (id->kind != ID_ISSUER)
            continue;
        struct policy_token_issuer *t = &p->issuers[p->nissuers++];
        t->name = id->name;
        memcpy(t->ed25519_pk, id->pk, sizeof(t->ed25519_pk));
        t->audience = id->audience ? id->audience : "";
    }
    return 0;
}

int pol_validate(struct policy *p, struct pol_errors *err)
{
    int rc = names(p, err);
    if (memberships(p, err) < 0)
        rc = -1;
    if (rule_refs(p, err) < 0)
        rc = -1;
    if (issuers(p) < 0)
        rc = -1;
    return rc;
}
