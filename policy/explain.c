/* explain: what a subject may do, in the order the decision uses, for `bulwark policy
 * explain` and for people reading logs. Read-only over the compiled policy. */
#include "policy_int.h"

#include <string.h>

static const char *const KIND_NAMES[] = {"user", "client", "certificate", "issuer"};

static void quoted(FILE *out, const char *s, size_t len)
{
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
            fprintf(out, "\\x%02x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static const char *action_name(uint8_t a)
{
    return a == POLICY_PUBLISH ? "publish" : a == POLICY_SUBSCRIBE ? "subscribe" : "both";
}

/* The pattern as this subject sees it, or why a substituted value changes its meaning. */
static void resolved(FILE *out, const struct pol_topic *t, const struct pol_ctx *c,
                     const char *group, bool restrict_)
{
    char buf[1024] = "";
    size_t n = 0;
    const char *bad = NULL;
    for (uint32_t i = 0; i < t->nlevels && !bad; i++) {
        const struct pol_level *l = &t->levels[i];
        if (i && n < sizeof(buf))
            buf[n++] = '/';
        if (l->kind == LVL_PLUS || l->kind == LVL_HASH) {
            if (n < sizeof(buf))
                buf[n++] = l->kind == LVL_PLUS ? '+' : '#';
            continue;
        }
        if (l->kind == LVL_LIT) {
            size_t k = l->len < sizeof(buf) - n ? l->len : sizeof(buf) - n;
            memcpy(buf + n, l->lit, k);
            n += k;
            continue;
        }
        for (uint32_t k = 0; k < l->npieces && !bad; k++) {
            const struct pol_piece *pc = &l->pieces[k];
            const char *s = pc->lit;
            size_t len = pc->len;
            if (pc->kind == PIECE_SUB) {
                if (pc->sub == SUB_GROUP) {
                    if (!group) {
                        bad = pol_sub_name(pc->sub);
                        break;
                    }
                    s = group;
                    len = strlen(group);
                } else if (!c->v[pc->sub].present || !c->v[pc->sub].level) {
                    bad = pol_sub_name(pc->sub);
                    break;
                } else {
                    s = c->v[pc->sub].s;
                    len = c->v[pc->sub].len;
                }
            }
            size_t m = len < sizeof(buf) - n ? len : sizeof(buf) - n;
            memcpy(buf + n, s, m);
            n += m;
        }
    }
    if (!bad) {
        fprintf(out, "%.*s", (int)n, buf);
        if (n != strlen(t->src) || memcmp(t->src, buf, n) != 0)
            fprintf(out, " [%s]", t->src);
        return;
    }
    fprintf(out, "%s [%s is missing or not one topic level for this client: %s]", t->src, bad,
            restrict_ ? "widened to every topic from that level down" : "never matches");
}

static void rule_line(FILE *out, const struct policy *p, const struct pol_rule *r,
                      const struct pol_ctx *c)
{
    const char *verb = r->kind == RULE_DENY ? "deny" : r->kind == RULE_ALLOW ? "allow" : "payload";
    for (uint32_t i = 0; i < r->ntopics; i++) {
        const struct pol_topic *t = &r->topics[i];
        uint32_t rounds = 1;
        if (t->subs & SUB_BIT(SUB_GROUP))
            rounds = r->ngrps;
        for (uint32_t g = 0; g < rounds; g++) {
            const char *group = NULL;
            if (t->subs & SUB_BIT(SUB_GROUP)) {
                if (!pol_ctx_has(c, p->nids + r->grps[g].id))
                    continue;
                group = p->groups[r->grps[g].id].name;
            }
            fprintf(out, "  %-7s %-9s ", verb,
                    r->kind == RULE_PAYLOAD ? "" : action_name(r->actions));
            resolved(out, t, c, group, r->kind != RULE_ALLOW);
            const char *sep = "  ";
            if (r->kind == RULE_ALLOW) {
                fprintf(out, "%sqos %u", sep, r->qos);
                if (r->actions & POLICY_PUBLISH)
                    fprintf(out, ", retain %s", r->retain ? "yes" : "no");
                sep = ", ";
            }
            const struct pol_payload *pl = &r->payload;
            if (pl->max)
                fprintf(out, "%spayload max %u bytes", sep, pl->max), sep = ", ";
            if (pl->format)
                fprintf(out, "%spayload %s", sep,
                        pl->format == POLICY_PAYLOAD_JSON ? "json" : "utf8"),
                    sep = ", ";
            if (pl->sealed)
                fprintf(out, "%spayload sealed", sep);
            fprintf(out, "  rule %s:%u", p->path, r->line);
            if (*r->id)
                fprintf(out, " (%s)", r->id);
            fputc('\n', out);
        }
    }
}

static void limit(FILE *out, const char *name, uint32_t v, bool last)
{
    if (v)
        fprintf(out, "%s %u%s", name, v, last ? "" : ", ");
    else
        fprintf(out, "%s unlimited%s", name, last ? "" : ", ");
}

void policy_explain(const struct policy *p, const struct policy_subject *s, FILE *out)
{
    if (!p || !s || !out)
        return;
    struct pol_ctx c;
    pol_ctx_init(&c, p, s);
    fprintf(out, "subject: client id ");
    quoted(out, s->client_id ? s->client_id : "", s->client_id ? s->client_id_len : 0);
    if (s->username) {
        fprintf(out, ", username ");
        quoted(out, s->username, s->username_len);
    }
    if (s->identity) {
        fprintf(out, ", identity ");
        quoted(out, s->identity, strlen(s->identity));
    } else {
        fprintf(out, ", anonymous");
    }
    if (s->issuer)
        fprintf(out, ", token issuer %s", s->issuer);
    if (s->cert && s->cert->cn) {
        fprintf(out, ", certificate CN ");
        quoted(out, s->cert->cn, strlen(s->cert->cn));
    }
    fprintf(out, "\n");

    if (c.anonymous) {
        fprintf(out, "anonymous: %s\n",
                p->has_anonymous ? "governed by the anonymous section"
                                 : "the policy has no anonymous section: everything is denied");
    } else if (!c.known) {
        fprintf(out, "identity entries: none match: this client is not known to the policy, "
                     "everything is denied\n");
    } else {
        fprintf(out, "identity entries:");
        for (uint32_t i = 0; i < c.nmatch; i++) {
            const struct pol_identity *id = &p->ids[c.ids[i]];
            fprintf(out, "%s %s %s (%s:%u)", i ? "," : "", KIND_NAMES[id->kind], id->name, p->path,
                    id->line);
        }
        fprintf(out, "\ngroups:");
        if (c.nprinc == c.nmatch)
            fprintf(out, " none");
        for (uint32_t i = c.nmatch; i < c.nprinc; i++) {
            const struct pol_group *g = &p->groups[c.ids[i] - p->nids];
            fprintf(out, "%s %s (%s:%u)", i > c.nmatch ? "," : "", g->name, p->path, g->line);
        }
        fprintf(out, "\n");
    }

    fprintf(out, "rules in precedence order (a matching deny wins; otherwise every matching "
                 "allow applies and the first is named):\n");
    unsigned shown = 0;
    for (int kind = RULE_DENY; kind >= RULE_ALLOW; kind--)
        for (uint32_t i = 0; i < p->nrules; i++) {
            const struct pol_rule *r = &p->rules[i];
            if (r->kind != kind || !pol_rule_applies(&c, r))
                continue;
            rule_line(out, p, r, &c);
            shown++;
        }
    if (!shown)
        fprintf(out, "  none: every publish and subscribe is denied\n");
    bool header = false;
    for (uint32_t i = 0; i < p->nrules; i++) {
        const struct pol_rule *r = &p->rules[i];
        if (r->kind != RULE_PAYLOAD)
            continue;
        if (!header)
            fprintf(out, "payload rules for every publisher:\n");
        header = true;
        rule_line(out, p, r, &c);
    }
    struct policy_limits l;
    pol_limits_resolve(&c, &l);
    fprintf(out, "limits: ");
    limit(out, "max_connections", l.max_connections, false);
    limit(out, "messages_per_second", l.msgs_per_s, false);
    limit(out, "burst", l.msgs_burst, false);
    limit(out, "bytes_per_second", l.bytes_per_s, false);
    limit(out, "max_subscriptions", l.max_subscriptions, false);
    fprintf(out, "max_qos %u, retain %s\n", l.max_qos, l.retain_allowed ? "allowed" : "denied");
    pol_ctx_done(&c);
}
