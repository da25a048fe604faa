/* decide: the answers the auth daemon asks for on its hot path. Precedence (docs/POLICY.md):
 * a matching deny wins (the first in file order is named); otherwise every matching allow
 * grants and restricts together (lowest QoS, retain only if all allow it, the strictest
 * payload rules) and the first in file order is named; otherwise the default deny. */
#include "policy_int.h"

#include <string.h>

#include "topic.h"

struct eval {
    const struct pol_ctx *c;
    unsigned action;
    const char *f;
    size_t flen;
    const struct pol_rule *deny, *allow;
    uint8_t qos;
    bool retain;
    struct pol_payload pl;
};

static bool hits(const struct pol_ctx *c, const struct pol_rule *r, const struct pol_topic *t,
                 const char *f, size_t flen)
{
    bool restrict_ = r->kind != RULE_ALLOW;
    if (!(t->subs & SUB_BIT(SUB_GROUP)))
        return restrict_ ? pol_overlaps(t, c, NULL, f, flen) : pol_covers(t, c, NULL, f, flen);
    /* %g: the rule is tried once for each of its groups the subject belongs to. */
    for (uint32_t i = 0; i < r->ngrps; i++) {
        const struct pol_group *g = &c->p->groups[r->grps[i].id];
        if (!pol_ctx_has(c, c->p->nids + r->grps[i].id))
            continue;
        if (restrict_ ? pol_overlaps(t, c, g->name, f, flen) : pol_covers(t, c, g->name, f, flen))
            return true;
    }
    return false;
}

static void payload_merge(struct pol_payload *into, const struct pol_payload *from)
{
    if (from->max && (!into->max || from->max < into->max))
        into->max = from->max;
    if (from->format > into->format)
        into->format = from->format;
    into->sealed = into->sealed || from->sealed;
}

static void on_entry(void *ctx, const struct pol_rule *r, const struct pol_topic *t)
{
    struct eval *ev = ctx;
    if (!(r->actions & ev->action))
        return;
    if (r->kind == RULE_DENY && ev->deny && ev->deny->index <= r->index)
        return;
    if (!pol_rule_applies(ev->c, r) || !hits(ev->c, r, t, ev->f, ev->flen))
        return;
    switch (r->kind) {
    case RULE_DENY:
        ev->deny = r;
        break;
    case RULE_ALLOW:
        if (!ev->allow || r->index < ev->allow->index)
            ev->allow = r;
        if (r->qos < ev->qos)
            ev->qos = r->qos;
        ev->retain = ev->retain && r->retain;
        payload_merge(&ev->pl, &r->payload);
        break;
    default:
        payload_merge(&ev->pl, &r->payload);
        break;
    }
}

struct policy_decision policy_decide(const struct policy *p, const struct policy_subject *s,
                                     enum policy_action a, const char *topic, size_t topic_len,
                                     uint8_t qos, bool retain)
{
    struct policy_decision d = {.rule_file = "", .rule_id = ""};
    if (!p || !s || !topic || (a != POLICY_PUBLISH && a != POLICY_SUBSCRIBE) || qos > 2)
        return d;
    const uint8_t *t = (const uint8_t *)topic;
    if ((a == POLICY_PUBLISH ? topic_name_check(t, topic_len, NULL)
                             : topic_filter_check(t, topic_len, NULL)) != TOPIC_OK)
        return d;
    struct pol_ctx c;
    pol_ctx_init(&c, p, s);
    struct eval ev = {
        .c = &c, .action = a, .f = topic, .flen = topic_len, .qos = 2, .retain = true};
    if (!c.oom)
        pol_index_visit(p, topic, topic_len, on_entry, &ev);
    const struct pol_rule *r = ev.deny ? ev.deny : ev.allow;
    if (r) {
        d.rule_file = p->path;
        d.rule_line = r->line;
        d.rule_id = r->id;
    }
    if (!ev.deny && ev.allow) {
        struct policy_limits lim;
        pol_limits_resolve(&c, &lim);
        d.max_qos = ev.qos < lim.max_qos ? ev.qos : lim.max_qos;
        d.retain_allowed = a == POLICY_PUBLISH && ev.retain && lim.retain_allowed;
        d.payload_max = ev.pl.max;
        d.payload_format = ev.pl.format;
        d.payload_sealed = ev.pl.sealed;
        d.allow = a == POLICY_SUBSCRIBE || (qos <= d.max_qos && (!retain || d.retain_allowed));
    }
    pol_ctx_done(&c);
    return d;
}

/* --- limits -------------------------------------------------------------------------------- */

/* Stricter of two set values: the lower number, where 0 means unlimited; for retain, false. */
static uint32_t stricter(int field, uint32_t a, uint32_t b)
{
    if (field == LIM_QOS || field == LIM_RETAIN)
        return a < b ? a : b;
    if (!a)
        return b;
    if (!b)
        return a;
    return a < b ? a : b;
}

/* The most specific level that sets a field decides it (identity entries, then groups, then
 * the defaults); within a level the strictest value wins. */
void pol_limits_resolve(const struct pol_ctx *c, struct policy_limits *out)
{
    const struct policy *p = c->p;
    uint32_t v[LIM_COUNT] = {[LIM_QOS] = 2, [LIM_RETAIN] = 1};
    for (int f = 0; f < LIM_COUNT; f++) {
        bool found = false;
        uint32_t val = 0;
        for (uint32_t i = 0; i < c->nprinc && c->known; i++) {
            if (i == c->nmatch && found)
                break; /* identity level decided */
            uint32_t id = c->ids[i];
            const struct pol_limits *l =
                id < p->nids ? &p->ids[id].limits : &p->groups[id - p->nids].limits;
            if (!(l->set & (1u << f)))
                continue;
            val = found ? stricter(f, val, l->v[f]) : l->v[f];
            found = true;
        }
        const struct pol_limits *base = c->anonymous ? &p->anon_limits : &p->defaults;
        if (!found && (base->set & (1u << f))) {
            val = base->v[f];
            found = true;
        }
        if (found)
            v[f] = val;
    }
    *out = (struct policy_limits){
        .max_connections = v[LIM_CONNECTIONS],
        .msgs_per_s = v[LIM_MSGS],
        .msgs_burst = v[LIM_BURST] ? v[LIM_BURST] : v[LIM_MSGS],
        .bytes_per_s = v[LIM_BYTES],
        .max_subscriptions = v[LIM_SUBS],
        .max_qos = (uint8_t)v[LIM_QOS],
        .retain_allowed = v[LIM_RETAIN] != 0,
    };
}

void policy_limits_for(const struct policy *p, const struct policy_subject *s,
                       struct policy_limits *out)
{
    *out = (struct policy_limits){.max_qos = 2, .retain_allowed = true};
    if (!p || !s)
        return;
    struct pol_ctx c;
    pol_ctx_init(&c, p, s);
    pol_limits_resolve(&c, out);
    pol_ctx_done(&c);
}

/* --- identities ---------------------------------------------------------------------------- */

bool policy_knows(const struct policy *p, const struct policy_subject *s)
{
    if (!p || !s)
        return false;
    if (!s->identity)
        return p->has_anonymous;
    struct pol_ctx c;
    pol_ctx_init(&c, p, s);
    bool known = c.known;
    pol_ctx_done(&c);
    return known;
}

const char *policy_user_password_hash(const struct policy *p, const char *username, size_t len)
{
    if (!p || !username)
        return NULL;
    const struct pol_identity *id = strmap_get(&p->id_by_name, username, len);
    return id && id->kind == ID_USER ? id->password : NULL;
}

bool policy_uses_certificates(const struct policy *p)
{
    return p && p->uses_cert;
}

bool policy_user_device_key(const struct policy *p, const char *username, size_t len,
                            uint8_t pk[32])
{
    if (!p || !username)
        return false;
    const struct pol_identity *id = strmap_get(&p->id_by_name, username, len);
    if (!id || id->kind != ID_USER || !id->has_device_key)
        return false;
    memcpy(pk, id->pk, 32);
    return true;
}

size_t policy_token_issuers(const struct policy *p, const struct policy_token_issuer **out)
{
    if (out)
        *out = p ? p->issuers : NULL;
    return p ? p->nissuers : 0;
}

size_t policy_identity_count(const struct policy *p)
{
    return p ? p->nids : 0;
}

size_t policy_rule_count(const struct policy *p)
{
    return p ? p->ntopic_rules : 0;
}
