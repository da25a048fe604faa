/* fuzz_topic: topic validation and matching (topic.h) and the subscription index and
 * retained store (topic_tree.h), each checked against a naive reference written here.
 *
 * Input: one selector byte (limits), then records separated by 0xFF (a byte that never
 * appears in UTF-8, so no valid topic is lost). A record is an op byte and a string:
 *   op & 7: 0, 1, 7 check only; 2 subscribe; 3 unsubscribe; 4 route (match a name);
 *           5 retain (op bit 3: empty payload, i.e. clear); 6 retained lookup (a filter)
 *   op bits 3-6: subscriber (one of sixteen, so one filter can hold enough entries to
 *   shrink its array again); bits 5-7: subscription options.
 * Oracles: topic_name_check/topic_filter_check return what a level-splitting reference
 * returns (same precedence: empty, length, UTF-8, wildcards, depth); topic_match agrees
 * with the reference matcher on every valid (filter, name) pair among recent records;
 * sub_tree and retained_store answer add/remove/match/count exactly as a flat list does,
 * each matching entry visited once; message reference counts are exact. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_rand.h"
#include "fuzz_util.h"
#include "msg.h"
#include "topic.h"
#include "topic_tree.h"

#define MAX_RECORDS 256
#define MAX_SUBS 64
#define MAX_RETAINED 64
#define PAIR_WINDOW 12

struct str {
    const uint8_t *p;
    size_t len;
};

/* ---- reference ------------------------------------------------------------------ */

/* Splits s into '/'-separated levels; the caller frees the array. */
static struct str *split(struct str s, size_t *n)
{
    size_t cnt = 1;
    for (size_t i = 0; i < s.len; i++)
        cnt += s.p[i] == '/';
    struct str *lv = malloc(cnt * sizeof(*lv));
    FUZZ_CHECK(lv != NULL, "out of memory");
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= s.len; i++) {
        if (i < s.len && s.p[i] != '/')
            continue;
        lv[k++] = (struct str){s.p + start, i - start};
        start = i + 1;
    }
    *n = cnt;
    return lv;
}

static bool lv_is(struct str l, char c)
{
    return l.len == 1 && l.p[0] == c;
}

static bool lv_eq(struct str a, struct str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static uint32_t eff(uint32_t v)
{
    return v == 0 || v > 65535 ? 65535 : v;
}

static enum topic_check ref_check(struct str s, const struct topic_limits *lim, bool filter)
{
    if (s.len == 0)
        return TOPIC_EMPTY;
    if (s.len > eff(lim ? lim->max_length : 0))
        return TOPIC_TOO_LONG;
    if (!fz_ref_utf8(s.p, s.len))
        return TOPIC_BAD_UTF8;
    size_t n;
    struct str *lv = split(s, &n);
    enum topic_check r = TOPIC_OK;
    for (size_t i = 0; i < n && r == TOPIC_OK; i++) {
        bool wild = memchr(lv[i].p, '+', lv[i].len) || memchr(lv[i].p, '#', lv[i].len);
        if (!wild)
            continue;
        if (!filter)
            r = TOPIC_WILDCARD_IN_NAME;
        else if (lv[i].len != 1 || (lv[i].p[0] == '#' && i + 1 != n))
            r = TOPIC_BAD_WILDCARD;
    }
    if (r == TOPIC_OK && n > eff(lim ? lim->max_levels : 0))
        r = TOPIC_TOO_DEEP;
    free(lv);
    return r;
}

static bool ref_match(struct str f, struct str t)
{
    if (t.len && t.p[0] == '$' && f.len && (f.p[0] == '+' || f.p[0] == '#'))
        return false;
    size_t nf, nt;
    struct str *fl = split(f, &nf), *tl = split(t, &nt);
    bool r = false;
    for (size_t i = 0;; i++) {
        if (i == nf) {
            r = i == nt;
            break;
        }
        if (lv_is(fl[i], '#')) {
            r = true; /* this level's parent and everything below */
            break;
        }
        if (i == nt || (!lv_is(fl[i], '+') && !lv_eq(fl[i], tl[i])))
            break;
    }
    free(fl);
    free(tl);
    return r;
}

static bool valid_name(struct str s)
{
    return ref_check(s, NULL, false) == TOPIC_OK;
}

static bool valid_filter(struct str s)
{
    return ref_check(s, NULL, true) == TOPIC_OK;
}

/* ---- state of one input --------------------------------------------------------- */

struct ref_sub {
    struct str filter;
    int subscriber;
    uint8_t options;
    uint32_t sub_id; /* unique per live entry: identifies visits */
};

struct ref_ret {
    struct str name;
    struct msg *m;
};

struct state {
    struct sub_tree *subs;
    struct retained_store *ret;
    struct ref_sub rs[MAX_SUBS];
    size_t nrs;
    struct ref_ret rr[MAX_RETAINED];
    size_t nrr;
    struct msg *all[MAX_RECORDS]; /* every message made, one reference held here */
    size_t nall;
    uint32_t next_id;
    /* visits of the current match */
    uint32_t seen_ids[MAX_SUBS + 1];
    size_t nseen;
    struct msg *seen_msgs[MAX_RETAINED + 1];
    size_t nseen_msgs;
};

static int subscribers[16];

static int sub_index(const void *p)
{
    for (int i = 0; i < 16; i++)
        if (p == &subscribers[i])
            return i;
    return -1;
}

static struct state *cur;

static void on_sub(void *ctx, void *subscriber, uint8_t options, uint32_t sub_id)
{
    struct state *s = ctx;
    FUZZ_CHECK(s == cur, "visit with a foreign context");
    FUZZ_CHECK(s->nseen <= MAX_SUBS, "more visits than entries");
    size_t i = 0;
    while (i < s->nrs && s->rs[i].sub_id != sub_id)
        i++;
    FUZZ_CHECK(i < s->nrs, "visit of an entry that does not exist (id %u)", sub_id);
    FUZZ_CHECK(sub_index(subscriber) == s->rs[i].subscriber && options == s->rs[i].options,
               "visit carries the wrong subscriber or options");
    for (size_t k = 0; k < s->nseen; k++)
        FUZZ_CHECK(s->seen_ids[k] != sub_id, "entry %u visited twice", sub_id);
    s->seen_ids[s->nseen++] = sub_id;
}

static void on_retained(void *ctx, struct msg *m)
{
    struct state *s = ctx;
    FUZZ_CHECK(s->nseen_msgs <= MAX_RETAINED, "more retained visits than messages");
    for (size_t k = 0; k < s->nseen_msgs; k++)
        FUZZ_CHECK(s->seen_msgs[k] != m, "retained message visited twice");
    s->seen_msgs[s->nseen_msgs++] = m;
}

static void op_subscribe(struct state *s, struct str f, int who, uint8_t options)
{
    if (!valid_filter(f))
        return;
    size_t i = 0;
    while (i < s->nrs && !(s->rs[i].subscriber == who && lv_eq(s->rs[i].filter, f)))
        i++;
    if (i == s->nrs && s->nrs == MAX_SUBS)
        return;
    uint32_t id = ++s->next_id;
    int r = sub_tree_add(s->subs, f.p, f.len, &subscribers[who], options, id);
    FUZZ_CHECK(r == (i == s->nrs ? 1 : 0), "sub_tree_add returned %d", r);
    if (i == s->nrs)
        s->nrs++;
    s->rs[i] = (struct ref_sub){f, who, options, id};
}

static void op_unsubscribe(struct state *s, struct str f, int who)
{
    if (!valid_filter(f))
        return;
    size_t i = 0;
    while (i < s->nrs && !(s->rs[i].subscriber == who && lv_eq(s->rs[i].filter, f)))
        i++;
    bool r = sub_tree_remove(s->subs, f.p, f.len, &subscribers[who]);
    FUZZ_CHECK(r == (i < s->nrs), "sub_tree_remove returned %d", r);
    if (i < s->nrs)
        s->rs[i] = s->rs[--s->nrs];
}

static void op_route(struct state *s, struct str t)
{
    if (!valid_name(t))
        return;
    s->nseen = 0;
    sub_tree_match(s->subs, t.p, t.len, on_sub, s);
    size_t want = 0;
    for (size_t i = 0; i < s->nrs; i++) {
        if (!ref_match(s->rs[i].filter, t))
            continue;
        want++;
        bool found = false;
        for (size_t k = 0; k < s->nseen && !found; k++)
            found = s->seen_ids[k] == s->rs[i].sub_id;
        FUZZ_CHECK(found, "matching subscription %zu not visited", i);
    }
    FUZZ_CHECK(want == s->nseen, "%zu visits for %zu matching subscriptions", s->nseen, want);
}

static void op_retain(struct state *s, struct str t, bool clear)
{
    if (!valid_name(t) || t.len > 65535 || s->nall == MAX_RECORDS)
        return;
    size_t i = 0;
    while (i < s->nrr && !lv_eq(s->rr[i].name, t))
        i++;
    if (!clear && i == s->nrr && s->nrr == MAX_RETAINED)
        return;
    static const uint8_t payload[] = "retained";
    struct msg *m = msg_new(t.p, (uint16_t)t.len, payload, clear ? 0 : sizeof(payload), 1, true);
    FUZZ_CHECK(m != NULL, "out of memory");
    s->all[s->nall++] = m;
    FUZZ_CHECK(retained_set(s->ret, m) == 0, "retained_set failed");
    if (clear) {
        if (i < s->nrr)
            s->rr[i] = s->rr[--s->nrr];
    } else {
        if (i == s->nrr)
            s->nrr++;
        s->rr[i] = (struct ref_ret){t, m};
    }
}

static void op_lookup(struct state *s, struct str f)
{
    if (!valid_filter(f))
        return;
    s->nseen_msgs = 0;
    retained_match(s->ret, f.p, f.len, on_retained, s);
    size_t want = 0;
    for (size_t i = 0; i < s->nrr; i++) {
        if (!ref_match(f, s->rr[i].name))
            continue;
        want++;
        bool found = false;
        for (size_t k = 0; k < s->nseen_msgs && !found; k++)
            found = s->seen_msgs[k] == s->rr[i].m;
        FUZZ_CHECK(found, "matching retained message %zu not visited", i);
    }
    FUZZ_CHECK(want == s->nseen_msgs, "%zu retained visits for %zu matches", s->nseen_msgs, want);
}

/* Reference counts: one held here, one more while the store holds the message. */
static void check_refs(const struct state *s)
{
    for (size_t i = 0; i < s->nall; i++) {
        uint32_t want = 1;
        for (size_t k = 0; k < s->nrr; k++)
            want += s->rr[k].m == s->all[i];
        FUZZ_CHECK(s->all[i]->refs == want, "message %zu has %u references, expected %u", i,
                   s->all[i]->refs, want);
    }
    FUZZ_CHECK(sub_tree_count(s->subs) == s->nrs, "sub_tree_count %zu, expected %zu",
               sub_tree_count(s->subs), s->nrs);
    FUZZ_CHECK(retained_count(s->ret) == s->nrr, "retained_count %zu, expected %zu",
               retained_count(s->ret), s->nrr);
}

static void check_strings(struct str s, const struct topic_limits *lim, const struct str *prev,
                          size_t nprev)
{
    enum topic_check n = topic_name_check(s.p, s.len, lim), rn = ref_check(s, lim, false);
    enum topic_check f = topic_filter_check(s.p, s.len, lim), rf = ref_check(s, lim, true);
    FUZZ_CHECK(n == rn, "topic_name_check %d (%s), reference %d", n, topic_check_str(n), rn);
    FUZZ_CHECK(f == rf, "topic_filter_check %d (%s), reference %d", f, topic_check_str(f), rf);
    bool vf = valid_filter(s), vn = valid_name(s);
    for (size_t i = 0; i < nprev; i++) {
        struct str o = prev[i];
        if (vf && valid_name(o))
            FUZZ_CHECK(topic_match(s.p, s.len, o.p, o.len) == ref_match(s, o),
                       "topic_match(filter=new, name=old) disagrees with the reference");
        if (vn && valid_filter(o))
            FUZZ_CHECK(topic_match(o.p, o.len, s.p, s.len) == ref_match(o, s),
                       "topic_match(filter=old, name=new) disagrees with the reference");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t lengths[4] = {0, 8, 64, 65535};
    static const uint32_t depths[4] = {0, 1, 3, 32};
    if (size < 1 || size > (1u << 20))
        return 0;
    fz_rand_reset();
    struct topic_limits lim = {lengths[data[0] & 3], depths[(data[0] >> 2) & 3]};
    const struct topic_limits *limp = (data[0] & 0x10) ? NULL : &lim;

    /* One heap block per record, exactly its size, so over-reads hit ASan. */
    uint8_t *recs[MAX_RECORDS];
    struct str strs[MAX_RECORDS];
    uint8_t ops[MAX_RECORDS];
    size_t nrec = 0, off = 1;
    while (off < size && nrec < MAX_RECORDS) {
        const uint8_t *sep = memchr(data + off, 0xFF, size - off);
        size_t end = sep ? (size_t)(sep - data) : size;
        if (end > off) {
            ops[nrec] = data[off];
            size_t len = end - off - 1;
            recs[nrec] = malloc(len ? len : 1);
            FUZZ_CHECK(recs[nrec] != NULL, "out of memory");
            if (len)
                memcpy(recs[nrec], data + off + 1, len);
            strs[nrec] = (struct str){recs[nrec], len};
            nrec++;
        }
        off = end + 1;
    }

    struct state *s = calloc(1, sizeof(*s));
    FUZZ_CHECK(s != NULL, "out of memory");
    cur = s;
    s->subs = sub_tree_new();
    s->ret = retained_new();
    FUZZ_CHECK(s->subs && s->ret, "out of memory");
    for (size_t i = 0; i < nrec; i++) {
        uint8_t op = ops[i];
        struct str t = strs[i];
        size_t from = i > PAIR_WINDOW ? i - PAIR_WINDOW : 0;
        check_strings(t, limp, strs + from, i - from);
        int who = (op >> 3) & 15;
        switch (op & 7) {
        case 2:
            op_subscribe(s, t, who, (uint8_t)(op >> 5));
            break;
        case 3:
            op_unsubscribe(s, t, who);
            break;
        case 4:
            op_route(s, t);
            break;
        case 5:
            op_retain(s, t, op & 8);
            break;
        case 6:
            op_lookup(s, t);
            break;
        default:
            break;
        }
        check_refs(s);
    }
    sub_tree_free(s->subs);
    retained_free(s->ret);
    for (size_t i = 0; i < s->nall; i++) {
        FUZZ_CHECK(s->all[i]->refs == 1, "retained_free left a reference on message %zu", i);
        msg_unref(s->all[i]);
    }
    free(s);
    cur = NULL;
    for (size_t i = 0; i < nrec; i++)
        free(recs[i]);
    return 0;
}
