/* parse_rules: the sections that say what is allowed: topic rules, payload rules and the
 * anonymous section. */
#include "policy_int.h"

#include <stdio.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define SUBS_CLIENT                                                                                \
    (SUB_BIT(SUB_CLIENT_ID) | SUB_BIT(SUB_USERNAME) | SUB_BIT(SUB_CERT_CN) |                       \
     SUB_BIT(SUB_CERT_SERIAL) | SUB_BIT(SUB_CERT_FP))
#define SUBS_RULE (SUBS_CLIENT | SUB_BIT(SUB_IDENTITY) | SUB_BIT(SUB_GROUP))
#define SUBS_ANON SUBS_CLIENT
#define SUBS_PAYLOAD (SUBS_CLIENT | SUB_BIT(SUB_IDENTITY))

static const char *const PAYLOAD_KEYS[] = {"max_size", "format", "sealed"};
#define PAYLOAD_MAX_SIZE 268435455u /* the largest MQTT packet */

static int payload_fields(struct pol_parse *ps, const yaml_node_pair_t *pr, int i,
                          struct pol_payload *out, yaml_mark_t *sealed_mark)
{
    const yaml_node_t *k = pp_node(ps, pr->key), *v = pp_node(ps, pr->value);
    if (i == 0)
        return pp_u32(ps, v, "max_size", 1, PAYLOAD_MAX_SIZE, &out->max);
    if (i == 2) {
        *sealed_mark = k->start_mark;
        return pp_bool(ps, v, "sealed", &out->sealed);
    }
    static const char *const formats[] = {"any", "utf8", "json"};
    bool text = v->type == YAML_SCALAR_NODE && !pp_is_null(v);
    for (uint8_t f = 0; text && f < 3; f++)
        if (!strcmp(pp_str(v), formats[f]))
            return out->format = f, 0;
    if (text)
        pol_err(ps->err, v->start_mark, "'format': expected any, utf8 or json, found '%.32s'",
                pp_str(v));
    else
        pol_err(ps->err, v->start_mark, "'format': expected any, utf8 or json, found %s",
                pp_kind(v));
    return -1;
}

static int payload_check(struct pol_parse *ps, const struct pol_payload *pl, yaml_mark_t mark)
{
    if (pl->sealed && pl->format != POLICY_PAYLOAD_ANY) {
        pol_err(ps->err, mark,
                "'sealed' payloads are binary envelopes: they cannot also be utf8 or json");
        return -1;
    }
    return 0;
}

static int payload_block(struct pol_parse *ps, const yaml_node_t *n, struct pol_payload *out)
{
    if (pp_expect(ps, n, YAML_MAPPING_NODE, "payload") < 0)
        return -1;
    bool seen[ARRAY_LEN(PAYLOAD_KEYS)] = {0};
    int rc = 0;
    yaml_mark_t sealed_mark = n->start_mark;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        int i = pp_key(ps, pp_node(ps, pr->key), "payload", PAYLOAD_KEYS, ARRAY_LEN(PAYLOAD_KEYS),
                       seen);
        if (i < 0 || payload_fields(ps, pr, i, out, &sealed_mark) < 0)
            rc = -1;
    }
    if (rc == 0)
        rc = payload_check(ps, out, sealed_mark);
    return rc;
}

/* topics: one pattern or a sequence of them. */
static int topics_value(struct pol_parse *ps, const yaml_node_t *n, uint32_t allowed,
                        struct pol_rule *r, const char *group_hint)
{
    const yaml_node_item_t *items;
    int single[1];
    size_t cnt;
    if (n->type == YAML_SCALAR_NODE && !pp_is_null(n)) {
        single[0] = (int)(n - ps->doc->nodes.start) + 1;
        items = single;
        cnt = 1;
    } else if (n->type == YAML_SEQUENCE_NODE &&
               n->data.sequence.items.top > n->data.sequence.items.start) {
        items = n->data.sequence.items.start;
        cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    } else {
        pol_err(ps->err, n->start_mark,
                "'topics': expected a topic pattern or a non-empty sequence of them, found %s",
                n->type == YAML_SEQUENCE_NODE ? "an empty sequence" : pp_kind(n));
        return -1;
    }
    if (cnt > POL_TOPICS_MAX) {
        pol_err(ps->err, n->start_mark, "'topics': more than %u patterns", POL_TOPICS_MAX);
        return -1;
    }
    r->topics = arena_alloc(&ps->p->arena, cnt * sizeof(*r->topics));
    if (!r->topics)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < cnt; i++) {
        const yaml_node_t *t = pp_node(ps, items[i]);
        if (t->type != YAML_SCALAR_NODE || pp_is_null(t)) {
            pol_err(ps->err, t->start_mark, "'topics': expected a topic pattern, found %s",
                    pp_kind(t));
            rc = -1;
            continue;
        }
        struct pol_topic *tp = &r->topics[r->ntopics];
        char why[400];
        if (pol_topic_parse(&ps->p->arena, pp_str(t), t->data.scalar.length, allowed, tp, why,
                            sizeof(why)) < 0) {
            pol_err(ps->err, t->start_mark, "topic '%.80s': %s", pp_str(t), why);
            rc = -1;
            continue;
        }
        if ((tp->subs & SUB_BIT(SUB_GROUP)) && group_hint) {
            pol_err(ps->err, t->start_mark, "topic '%.80s': %%g %s", pp_str(t), group_hint);
            rc = -1;
            continue;
        }
        tp->line = (unsigned)t->start_mark.line + 1;
        tp->column = (unsigned)t->start_mark.column + 1;
        r->ntopics++;
    }
    return rc;
}

enum {
    R_ID,
    R_ALLOW,
    R_DENY,
    R_TOPICS,
    R_QOS,
    R_RETAIN,
    R_PAYLOAD,
    R_IDENTITIES,
    R_GROUPS,
    R_EVERYONE,
    R_COUNT
};
static const char *const RULE_KEYS[R_COUNT] = {
    "id", "allow", "deny", "topics", "qos", "retain", "payload", "identities", "groups", "everyone",
};

static int action_value(struct pol_parse *ps, const yaml_node_t *v, const char *key, uint8_t *out)
{
    if (v->type == YAML_SCALAR_NODE) {
        const char *s = pp_str(v);
        if (!strcmp(s, "publish"))
            return *out = POLICY_PUBLISH, 0;
        if (!strcmp(s, "subscribe"))
            return *out = POLICY_SUBSCRIBE, 0;
        if (!strcmp(s, "both"))
            return *out = POLICY_PUBLISH | POLICY_SUBSCRIBE, 0;
    }
    if (v->type == YAML_SCALAR_NODE && !pp_is_null(v))
        pol_err(ps->err, v->start_mark, "'%s': expected publish, subscribe or both, found '%.32s'",
                key, pp_str(v));
    else
        pol_err(ps->err, v->start_mark, "'%s': expected publish, subscribe or both, found %s", key,
                pp_kind(v));
    return -1;
}

static int rule_entry(struct pol_parse *ps, const yaml_node_t *m, bool anonymous)
{
    const char *where = anonymous ? "anonymous rule" : "rule";
    if (pp_expect(ps, m, YAML_MAPPING_NODE, anonymous ? "anonymous rules" : "rules") < 0)
        return -1;
    struct pol_rule *r = &ps->p->rules[ps->p->nrules];
    *r = (struct pol_rule){.index = ps->p->nrules,
                           .anonymous = anonymous,
                           .qos = 2,
                           .retain = true,
                           .id = "",
                           .line = (unsigned)m->start_mark.line + 1,
                           .column = (unsigned)m->start_mark.column + 1};
    ps->p->nrules++;
    ps->p->ntopic_rules++;
    bool seen[R_COUNT] = {0};
    const yaml_node_t *val[R_COUNT] = {0}, *key[R_COUNT] = {0};
    size_t nkeys = anonymous ? R_IDENTITIES : R_COUNT; /* anonymous rules name nobody */
    int rc = 0;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = pp_node(ps, pr->key);
        int i = pp_key(ps, k, where, RULE_KEYS, nkeys, seen);
        if (i < 0) {
            rc = -1;
            continue;
        }
        key[i] = k;
        val[i] = pp_node(ps, pr->value);
    }
    if (val[R_ID] && pp_name(ps, val[R_ID], "id", false, &r->id) == 0)
        r->id_mark = val[R_ID]->start_mark;
    else if (val[R_ID])
        rc = -1;
    if (val[R_ALLOW] && val[R_DENY]) {
        const yaml_node_t *later = key[R_ALLOW]->start_mark.index > key[R_DENY]->start_mark.index
                                       ? key[R_ALLOW]
                                       : key[R_DENY];
        pol_err(ps->err, later->start_mark, "a rule has either 'allow' or 'deny', not both");
        rc = -1;
    } else if (!val[R_ALLOW] && !val[R_DENY]) {
        pol_err(ps->err, m->start_mark,
                "%s: missing 'allow' or 'deny' (publish, subscribe or both)", where);
        rc = -1;
    } else {
        r->kind = val[R_DENY] ? RULE_DENY : RULE_ALLOW;
        int a = val[R_DENY] ? R_DENY : R_ALLOW;
        if (action_value(ps, val[a], RULE_KEYS[a], &r->actions) < 0)
            rc = -1;
    }
    if (r->kind == RULE_DENY)
        for (int i = R_QOS; i <= R_PAYLOAD; i++)
            if (key[i]) {
                pol_err(ps->err, key[i]->start_mark,
                        "'%s' has no meaning in a deny rule (a deny grants nothing)", RULE_KEYS[i]);
                rc = -1;
            }
    if (r->kind == RULE_ALLOW && r->actions == POLICY_SUBSCRIBE)
        for (int i = R_RETAIN; i <= R_PAYLOAD; i++)
            if (key[i]) {
                pol_err(ps->err, key[i]->start_mark,
                        "'%s' applies to publishing: this rule only allows subscribe",
                        RULE_KEYS[i]);
                rc = -1;
            }
    uint32_t q = 2;
    if (val[R_QOS] && pp_u32(ps, val[R_QOS], "qos", 0, 2, &q) < 0)
        rc = -1;
    r->qos = (uint8_t)q;
    if (val[R_RETAIN] && pp_bool(ps, val[R_RETAIN], "retain", &r->retain) < 0)
        rc = -1;
    if (val[R_PAYLOAD] && payload_block(ps, val[R_PAYLOAD], &r->payload) < 0)
        rc = -1;
    if (val[R_IDENTITIES] &&
        pp_refs(ps, val[R_IDENTITIES], "identities", &r->idents, &r->nidents) < 0)
        rc = -1;
    if (val[R_GROUPS] && pp_refs(ps, val[R_GROUPS], "groups", &r->grps, &r->ngrps) < 0)
        rc = -1;
    bool everyone_bad = false;
    if (val[R_EVERYONE] && pp_bool(ps, val[R_EVERYONE], "everyone", &r->everyone) < 0) {
        everyone_bad = true; /* already reported: no second error about whom it applies to */
        rc = -1;
    }
    if (!anonymous && !r->everyone && !everyone_bad && !val[R_IDENTITIES] && !val[R_GROUPS]) {
        pol_err(ps->err, m->start_mark,
                "rule applies to nobody: give identities, groups or everyone: true");
        rc = -1;
    }
    const char *hint = NULL;
    if (!anonymous && !val[R_GROUPS])
        hint = "needs a rule that names groups";
    else if (!anonymous && (val[R_IDENTITIES] || r->everyone))
        hint = "needs a rule that applies through groups only (this one also names identities "
               "or everyone)";
    if (!val[R_TOPICS]) {
        pol_err(ps->err, m->start_mark, "%s: missing required key 'topics'", where);
        rc = -1;
    } else if (topics_value(ps, val[R_TOPICS], anonymous ? SUBS_ANON : SUBS_RULE, r, hint) < 0) {
        rc = -1;
    }
    return rc;
}

int pp_rules(struct pol_parse *ps, const yaml_node_t *n, bool anonymous)
{
    if (pp_is_null(n))
        return 0;
    if (pp_expect(ps, n, YAML_SEQUENCE_NODE, "rules") < 0)
        return -1;
    int rc = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
        if (rule_entry(ps, pp_node(ps, *it), anonymous) < 0)
            rc = -1;
    return rc;
}

static const char *const PAYLOADS_KEYS[] = {"id", "topics", "max_size", "format", "sealed"};

int pp_payloads(struct pol_parse *ps, const yaml_node_t *n)
{
    if (pp_is_null(n))
        return 0;
    if (pp_expect(ps, n, YAML_SEQUENCE_NODE, "payloads") < 0)
        return -1;
    int rc = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        const yaml_node_t *m = pp_node(ps, *it);
        if (pp_expect(ps, m, YAML_MAPPING_NODE, "payloads") < 0) {
            rc = -1;
            continue;
        }
        struct pol_rule *r = &ps->p->rules[ps->p->nrules];
        *r = (struct pol_rule){.index = ps->p->nrules,
                               .kind = RULE_PAYLOAD,
                               .actions = POLICY_PUBLISH,
                               .id = "",
                               .line = (unsigned)m->start_mark.line + 1,
                               .column = (unsigned)m->start_mark.column + 1};
        ps->p->nrules++;
        bool seen[ARRAY_LEN(PAYLOADS_KEYS)] = {0};
        yaml_mark_t sealed_mark = m->start_mark;
        for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top;
             pr++) {
            const yaml_node_t *v = pp_node(ps, pr->value);
            int i = pp_key(ps, pp_node(ps, pr->key), "payloads entry", PAYLOADS_KEYS,
                           ARRAY_LEN(PAYLOADS_KEYS), seen);
            int res = -1;
            if (i == 0) {
                res = pp_name(ps, v, "id", false, &r->id);
                r->id_mark = v->start_mark;
            } else if (i == 1) {
                res = topics_value(ps, v, SUBS_PAYLOAD, r, NULL);
            } else if (i >= 2) {
                res = payload_fields(ps, pr, i - 2, &r->payload, &sealed_mark);
            }
            if (res < 0)
                rc = -1;
        }
        if (!seen[1]) {
            pol_err(ps->err, m->start_mark, "payloads entry: missing required key 'topics'");
            rc = -1;
        }
        if (!seen[2] && !seen[3] && !seen[4]) {
            pol_err(ps->err, m->start_mark,
                    "payloads entry: give at least one of max_size, format or sealed");
            rc = -1;
        }
        if (payload_check(ps, &r->payload, sealed_mark) < 0)
            rc = -1;
    }
    return rc;
}

static const char *const ANON_KEYS[] = {"rules", "limits"};

int pp_anonymous(struct pol_parse *ps, const yaml_node_t *n)
{
    ps->p->has_anonymous = true;
    if (pp_is_null(n))
        return 0;
    if (pp_expect(ps, n, YAML_MAPPING_NODE, "anonymous") < 0)
        return -1;
    bool seen[ARRAY_LEN(ANON_KEYS)] = {0};
    int rc = 0;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        const yaml_node_t *v = pp_node(ps, pr->value);
        int i =
            pp_key(ps, pp_node(ps, pr->key), "anonymous", ANON_KEYS, ARRAY_LEN(ANON_KEYS), seen);
        int res = -1;
        if (i == 0)
            res = pp_rules(ps, v, true);
        else if (i == 1)
            res = pp_limits(ps, v, "limits", &ps->p->anon_limits);
        if (res < 0)
            rc = -1;
    }
    return rc;
}
