/* match: a pattern against a requested topic name or filter, level by level, without
 * building the substituted string. Substituted values are compared as bytes, never parsed,
 * so a value holding '+', '#' or '/' can only make a pattern match less, never more. */
#include "policy_int.h"

#include <string.h>

bool pol_level_safe(const char *s, size_t len)
{
    if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '/' || s[i] == '+' || s[i] == '#' || s[i] == '$' || s[i] == '\0')
            return false;
    return true;
}

static const struct pol_value *value_of(const struct pol_ctx *c, uint8_t sub, const char *group,
                                        struct pol_value *tmp)
{
    if (sub != SUB_GROUP)
        return &c->v[sub];
    *tmp = (struct pol_value){.s = group, .len = group ? strlen(group) : 0};
    tmp->present = group != NULL;
    tmp->level = group && pol_level_safe(group, tmp->len);
    return tmp;
}

enum { CMP_NO = 0, CMP_YES = 1, CMP_BAD = -1 };

/* A substituted level against the request level s. CMP_BAD: a value is not one level. */
static int subst_equal(const struct pol_level *l, const struct pol_ctx *c, const char *group,
                       const char *s, size_t len)
{
    size_t pos = 0;
    int result = CMP_YES;
    for (uint32_t i = 0; i < l->npieces; i++) {
        const struct pol_piece *pc = &l->pieces[i];
        const char *t = pc->lit;
        size_t tl = pc->len;
        if (pc->kind == PIECE_SUB) {
            struct pol_value tmp;
            const struct pol_value *v = value_of(c, pc->sub, group, &tmp);
            if (!v->present || !v->level)
                return CMP_BAD;
            t = v->s;
            tl = v->len;
        }
        if (result == CMP_NO || tl > len - pos || memcmp(s + pos, t, tl) != 0)
            result = CMP_NO; /* keep going: a bad value later still counts */
        else
            pos += tl;
    }
    return result == CMP_YES && pos == len ? CMP_YES : CMP_NO;
}

/* Request levels: [off, end) of f; off > flen once every level is consumed, which keeps
 * "a" (one level) apart from "a/" (two, the second empty). */
struct req {
    const char *f;
    size_t flen, off, end;
    uint32_t index;
};

static void req_start(struct req *r, const char *f, size_t flen)
{
    *r = (struct req){.f = f, .flen = flen};
    const char *slash = memchr(f, '/', flen);
    r->end = slash ? (size_t)(slash - f) : flen;
}

static bool req_done(const struct req *r)
{
    return r->off > r->flen;
}

static void req_next(struct req *r)
{
    r->off = r->end + 1;
    r->index++;
    if (r->off > r->flen)
        return;
    const char *slash = memchr(r->f + r->off, '/', r->flen - r->off);
    r->end = slash ? (size_t)(slash - r->f) : r->flen;
}

static bool req_is(const struct req *r, char wild)
{
    return r->end - r->off == 1 && r->f[r->off] == wild;
}

static bool req_dollar(const struct req *r)
{
    return r->index == 0 && r->end > r->off && r->f[r->off] == '$';
}

/* One pattern level against one request level other than '#'. */
static bool level_covers(const struct pol_level *l, const struct req *q, const struct pol_ctx *c,
                         const char *group)
{
    if (l->kind == LVL_PLUS)
        return !req_dollar(q);
    if (req_is(q, '+'))
        return false; /* a literal level cannot cover every value of '+' */
    if (l->kind == LVL_LIT)
        return l->len == q->end - q->off && memcmp(l->lit, q->f + q->off, l->len) == 0;
    return subst_equal(l, c, group, q->f + q->off, q->end - q->off) == CMP_YES;
}

bool pol_covers(const struct pol_topic *t, const struct pol_ctx *c, const char *group,
                const char *f, size_t flen)
{
    struct req q;
    req_start(&q, f, flen);
    for (uint32_t i = 0;; i++) {
        if (i == t->nlevels)
            return req_done(&q);
        const struct pol_level *l = &t->levels[i];
        /* '#' covers the rest and the parent, but a leading wildcard never reaches '$'. */
        if (l->kind == LVL_HASH)
            return !(i == 0 && !req_done(&q) && req_dollar(&q));
        if (req_done(&q))
            return false;
        if (req_is(&q, '#'))
            /* At the first level "#" matches no parent, so "+/#" covers it too. */
            return i == 0 && l->kind == LVL_PLUS && i + 1 < t->nlevels &&
                   t->levels[i + 1].kind == LVL_HASH;
        if (!level_covers(l, &q, c, group))
            return false;
        req_next(&q);
    }
}

bool pol_overlaps(const struct pol_topic *t, const struct pol_ctx *c, const char *group,
                  const char *f, size_t flen)
{
    struct req q;
    req_start(&q, f, flen);
    for (uint32_t i = 0;; i++) {
        if (i == t->nlevels)
            return req_done(&q) || req_is(&q, '#');
        const struct pol_level *l = &t->levels[i];
        if (l->kind == LVL_HASH)
            return !(i == 0 && !req_done(&q) && req_dollar(&q));
        if (req_done(&q))
            return false;
        int eq = CMP_YES;
        if (l->kind == LVL_SUBST) {
            eq = req_is(&q, '+') || req_is(&q, '#')
                     ? CMP_YES
                     : subst_equal(l, c, group, f + q.off, q.end - q.off);
            /* Check the values even against a wildcard: a bad one widens the restriction
             * to every topic with this level, '$' topics included. */
            for (uint32_t k = 0; k < l->npieces && eq != CMP_BAD; k++) {
                struct pol_value tmp;
                const struct pol_value *v = l->pieces[k].kind == PIECE_SUB
                                                ? value_of(c, l->pieces[k].sub, group, &tmp)
                                                : NULL;
                if (v && (!v->present || !v->level))
                    eq = CMP_BAD;
            }
            if (eq == CMP_BAD)
                return true;
        }
        if (req_is(&q, '#'))
            return !(i == 0 && l->dollar);
        if (l->kind == LVL_PLUS) {
            if (req_dollar(&q))
                return false;
        } else if (req_is(&q, '+')) {
            if (i == 0 && l->dollar)
                return false;
        } else if (l->kind == LVL_LIT) {
            if (l->len != q.end - q.off || memcmp(l->lit, f + q.off, l->len) != 0)
                return false;
        } else if (eq != CMP_YES) {
            return false;
        }
        req_next(&q);
    }
}

/* --- identity globs ----------------------------------------------------------------------- */

static bool bytes_equal(const char *a, const char *b, size_t n, bool nocase)
{
    if (!nocase)
        return memcmp(a, b, n) == 0;
    for (size_t i = 0; i < n; i++) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] - 'A' + 'a') : a[i];
        char y = b[i] >= 'A' && b[i] <= 'Z' ? (char)(b[i] - 'A' + 'a') : b[i];
        if (x != y)
            return false;
    }
    return true;
}

/* Does the run of pieces [from, to) (no stars) match s at pos? Its length in *used. */
static bool run_at(const struct pol_glob *g, const struct pol_ctx *c, uint32_t from, uint32_t to,
                   const char *s, size_t len, size_t pos, size_t *used)
{
    size_t start = pos;
    for (uint32_t i = from; i < to; i++) {
        const struct pol_piece *pc = &g->pieces[i];
        const char *t = pc->lit;
        size_t tl = pc->len;
        if (pc->kind == PIECE_SUB) {
            const struct pol_value *v = &c->v[pc->sub];
            if (!v->present || v->len == 0)
                return false;
            t = v->s;
            tl = v->len;
        }
        if (tl > len - pos || !bytes_equal(s + pos, t, tl, g->nocase))
            return false;
        pos += tl;
    }
    *used = pos - start;
    return true;
}

static size_t run_len(const struct pol_glob *g, const struct pol_ctx *c, uint32_t from, uint32_t to)
{
    size_t n = 0;
    for (uint32_t i = from; i < to; i++)
        n += g->pieces[i].kind == PIECE_SUB ? c->v[g->pieces[i].sub].len : g->pieces[i].len;
    return n;
}

/* '*' runs match any bytes: the first run is anchored at the start, the last at the end,
 * and each run between takes its leftmost place, which is enough when '*' is the only
 * wildcard. */
bool pol_glob_match(const struct pol_glob *g, const struct pol_ctx *c, const char *s, size_t len)
{
    if (!s)
        return false;
    uint32_t n = g->npieces, first_star = n, last_star = n;
    for (uint32_t i = 0; i < n; i++)
        if (g->pieces[i].kind == PIECE_STAR) {
            if (first_star == n)
                first_star = i;
            last_star = i;
        }
    size_t used;
    if (first_star == n)
        return run_at(g, c, 0, n, s, len, 0, &used) && used == len;
    size_t pos = 0;
    if (!run_at(g, c, 0, first_star, s, len, 0, &pos))
        return false;
    size_t tail = run_len(g, c, last_star + 1, n);
    if (tail > len - pos)
        return false;
    size_t tail_pos = len - tail;
    if (!run_at(g, c, last_star + 1, n, s, len, tail_pos, &used))
        return false;
    uint32_t from = first_star + 1;
    while (from < last_star) {
        uint32_t to = from;
        while (to < last_star && g->pieces[to].kind != PIECE_STAR)
            to++;
        bool found = false;
        for (size_t at = pos; at <= tail_pos && !found; at++)
            if (run_at(g, c, from, to, s, tail_pos, at, &used)) {
                pos = at + used;
                found = true;
            }
        if (!found)
            return false;
        from = to + 1;
    }
    return pos <= tail_pos;
}
