/* topic_tree.h: subscription index and retained store, checked against MQTT 3.1.1
 * section 4.7 matching (topic.h) and against their own promises: one visit per entry,
 * pruning, reference counts, consistency after allocation failure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* Everything topic_tree.c includes, ahead of the allocator macros further down. */
#include <endian.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "topic.h"
#include "topic_tree.h"

/* ---- heap accounting: pruning is visible as memory returning to a baseline ---- */

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

/* ASan counts live bytes exactly; glibc's own figures include its per-thread caches of
 * freed chunks, so without ASan the heap comparisons are skipped (the structural
 * checks below still see every node). */
#ifdef HAVE_ASAN
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_in_use(void)
{
    return __sanitizer_get_current_allocated_bytes();
}
#define assert_heap_equal(a, b) assert_int_equal((a), (b))
#define assert_heap_above(a, b) assert_true((a) > (b))
#else
static size_t heap_in_use(void)
{
    return 0;
}
#define assert_heap_equal(a, b) ((void)(a), (void)(b))
#define assert_heap_above(a, b) ((void)(a), (void)(b))
#endif

/* ---- a second copy of topic_tree.c whose allocations fail on demand ------------
 * Public names get an fi_ prefix so it links beside the real object; the allocator
 * fails once, on the call fi_countdown reaches zero. */

static long fi_countdown = -1;

static bool fi_fail(void)
{
    if (fi_countdown < 0) return false;
    return fi_countdown-- == 0;
}

/* unused while topic_tree.c allocates only with calloc and realloc */
__attribute__((unused)) static void *fi_malloc(size_t n)
{
    return fi_fail() ? NULL : malloc(n);
}

static void *fi_calloc(size_t n, size_t s)
{
    return fi_fail() ? NULL : calloc(n, s);
}

static void *fi_realloc(void *p, size_t n)
{
    return fi_fail() ? NULL : realloc(p, n);
}

#define sub_tree_new fi_sub_tree_new
#define sub_tree_free fi_sub_tree_free
#define sub_tree_add fi_sub_tree_add
#define sub_tree_remove fi_sub_tree_remove
#define sub_tree_match fi_sub_tree_match
#define sub_tree_count fi_sub_tree_count
#define retained_new fi_retained_new
#define retained_free fi_retained_free
#define retained_set fi_retained_set
#define retained_match fi_retained_match
#define retained_count fi_retained_count
#define malloc(n) fi_malloc(n)
#define calloc(n, s) fi_calloc(n, s)
#define realloc(p, n) fi_realloc(p, n)
#include "topic_tree.c"
#undef malloc
#undef calloc
#undef realloc
#undef sub_tree_new
#undef sub_tree_free
#undef sub_tree_add
#undef sub_tree_remove
#undef sub_tree_match
#undef sub_tree_count
#undef retained_new
#undef retained_free
#undef retained_set
#undef retained_match
#undef retained_count

struct sub_api {
    struct sub_tree *(*new_)(void);
    void (*free_)(struct sub_tree *);
    int (*add)(struct sub_tree *, const uint8_t *, size_t, void *, uint8_t, uint32_t);
    bool (*remove)(struct sub_tree *, const uint8_t *, size_t, void *);
    void (*match)(struct sub_tree *, const uint8_t *, size_t, sub_visit_fn, void *);
    size_t (*count)(const struct sub_tree *);
};

static const struct sub_api REAL_SUB = {sub_tree_new,    sub_tree_free,  sub_tree_add,
                                        sub_tree_remove, sub_tree_match, sub_tree_count};
static const struct sub_api FI_SUB = {fi_sub_tree_new,    fi_sub_tree_free,  fi_sub_tree_add,
                                      fi_sub_tree_remove, fi_sub_tree_match, fi_sub_tree_count};

struct ret_api {
    struct retained_store *(*new_)(void);
    void (*free_)(struct retained_store *);
    int (*set)(struct retained_store *, struct msg *);
    void (*match)(struct retained_store *, const uint8_t *, size_t, retained_visit_fn, void *);
    size_t (*count)(const struct retained_store *);
};

static const struct ret_api REAL_RET = {retained_new, retained_free, retained_set, retained_match,
                                        retained_count};
static const struct ret_api FI_RET = {fi_retained_new, fi_retained_free, fi_retained_set,
                                      fi_retained_match, fi_retained_count};

/* ---- helpers ------------------------------------------------------------------- */

static char subscribers[64]; /* their addresses stand for sessions */
#define SUB(i) ((void *)&subscribers[i])

#define U8(s) ((const uint8_t *)(s))

#define MAXV 512

struct rec {
    size_t n;
    struct {
        void *sub;
        uint8_t opt;
        uint32_t id;
    } v[MAXV];
};

static void rec_fn(void *ctx, void *sub, uint8_t opt, uint32_t id)
{
    struct rec *r = ctx;
    if (r->n < MAXV) {
        r->v[r->n].sub = sub;
        r->v[r->n].opt = opt;
        r->v[r->n].id = id;
    }
    r->n++;
}

static void count_fn(void *ctx, void *sub, uint8_t opt, uint32_t id)
{
    (void)sub;
    (void)opt;
    (void)id;
    ++*(size_t *)ctx;
}

static int add(struct sub_tree *t, const char *f, void *sub, uint8_t opt, uint32_t id)
{
    return sub_tree_add(t, U8(f), strlen(f), sub, opt, id);
}

static bool rm(struct sub_tree *t, const char *f, void *sub)
{
    return sub_tree_remove(t, U8(f), strlen(f), sub);
}

static void smatch(const struct sub_api *api, struct sub_tree *t, const char *topic, struct rec *r)
{
    r->n = 0;
    api->match(t, U8(topic), strlen(topic), rec_fn, r);
    assert_true(r->n <= MAXV);
}

/* Number of visits carrying sub_id id. */
static size_t visits_of(const struct rec *r, uint32_t id)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += r->v[i].id == id;
    return n;
}

/* A reference model: the entries that should be in the tree. */
struct ent {
    char filter[96];
    void *sub;
    uint8_t opt;
    uint32_t id;
    bool live;
};

/* Every topic visits exactly the live entries whose filter topic_match()es it, each
 * once, with its current options. */
static void check_subs(const struct sub_api *api, struct sub_tree *t, const struct ent *m,
                       size_t nm, const char *const *topics, size_t nt)
{
    static struct rec r;
    size_t live = 0;
    for (size_t i = 0; i < nm; i++)
        live += m[i].live;
    assert_int_equal(api->count(t), live);
    for (size_t k = 0; k < nt; k++) {
        smatch(api, t, topics[k], &r);
        size_t expect = 0;
        for (size_t i = 0; i < nm; i++) {
            if (!m[i].live || !topic_match(U8(m[i].filter), strlen(m[i].filter), U8(topics[k]),
                                           strlen(topics[k])))
                continue;
            expect++;
            size_t seen = 0;
            for (size_t j = 0; j < r.n; j++) {
                if (r.v[j].id != m[i].id) continue;
                seen++;
                assert_ptr_equal(r.v[j].sub, m[i].sub);
                assert_int_equal(r.v[j].opt, m[i].opt);
            }
            if (seen != 1)
                fail_msg("topic \"%s\" filter \"%s\": %zu visits", topics[k], m[i].filter, seen);
        }
        if (r.n != expect)
            fail_msg("topic \"%s\": %zu visits, %zu expected", topics[k], r.n, expect);
    }
}

/* Records an add in the model; returns what sub_tree_add() must have answered. */
static int model_note(struct ent *m, size_t *nm, const char *f, void *sub, uint8_t opt, uint32_t id)
{
    struct ent *e = NULL;
    for (size_t i = 0; i < *nm; i++)
        if (m[i].live && m[i].sub == sub && strcmp(m[i].filter, f) == 0) e = &m[i];
    int rc = e ? 0 : 1;
    if (!e) {
        e = &m[(*nm)++];
        snprintf(e->filter, sizeof(e->filter), "%s", f);
        e->sub = sub;
        e->live = true;
    }
    e->opt = opt;
    e->id = id;
    return rc;
}

static void model_add(const struct sub_api *api, struct sub_tree *t, struct ent *m, size_t *nm,
                      const char *f, void *sub, uint8_t opt, uint32_t id)
{
    int rc = api->add(t, U8(f), strlen(f), sub, opt, id);
    assert_int_equal(rc, model_note(m, nm, f, sub, opt, id));
}

/* Deterministic generator for the randomised cross-checks. */
static uint64_t rng_state;

static uint32_t rng(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static const char *const name_levels[] = {"a", "b", "", "$x"};

static void random_filter(char *out, size_t cap, uint32_t max_levels)
{
    static const char *const levels[] = {"a", "b", "", "$x", "+", "+"};
    uint32_t n = 1 + rng(max_levels);
    out[0] = '\0';
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen(out);
        const char *l = i + 1 == n && rng(3) == 0 ? "#" : levels[rng(6)];
        snprintf(out + len, cap - len, "%s%s", i ? "/" : "", l);
    }
    if (out[0] == '\0') /* one empty level: not a filter */
        snprintf(out, cap, "+");
}

/* All names of one to three levels over name_levels, plus a few deeper ones. */
static char all_names[4 + 16 + 64 + 4][16];
static const char *all_name_ptrs[sizeof(all_names) / sizeof(all_names[0])];
static const size_t n_all_names = sizeof(all_names) / sizeof(all_names[0]);

static void build_names(void)
{
    size_t k = 0;
    for (int depth = 1; depth <= 3; depth++) {
        int total = 1 << (2 * depth);
        for (int code = 0; code < total; code++) {
            char *s = all_names[k];
            s[0] = '\0';
            for (int d = 0; d < depth; d++) {
                size_t len = strlen(s);
                snprintf(s + len, sizeof(all_names[0]) - len, "%s%s", d ? "/" : "",
                         name_levels[(code >> (2 * d)) & 3]);
            }
            if (s[0] == '\0') /* one empty level: not a name */
                snprintf(s, sizeof(all_names[0]), "c");
            k++;
        }
    }
    const char *deep[] = {"a/b/a/b", "a///", "$x/a/b/a", "b/b/b/b"};
    for (size_t i = 0; i < 4; i++)
        snprintf(all_names[k++], sizeof(all_names[0]), "%s", deep[i]);
    for (size_t i = 0; i < n_all_names; i++)
        all_name_ptrs[i] = all_names[i];
}

/* ---- structure: the included copy exposes the node layout ----------------------
 * Checks what matching alone cannot see: every non-root node holds an entry, a message
 * or a child (pruning), tables are well formed, and the node count is exactly the
 * number of distinct level prefixes of the live filters or names. */

static size_t shape_walk(const struct lvtree *b, const struct node *n, size_t *entries)
{
    size_t nodes = 1;
    if (n->kind != NODE_ROOT) assert_false(node_empty(b, n));
    uint32_t used = 0;
    for (uint32_t i = 0; i < n->kcap; i++) {
        const struct node *c = n->kids[i].n;
        if (!c) continue;
        assert_int_equal(n->kids[i].hash, c->hash);
        used++;
        assert_ptr_equal(c->parent, n);
        assert_int_equal(c->kind, NODE_EXACT);
        assert_int_equal(c->hash, level_hash(b, c->key, c->klen));
        assert_ptr_equal(kid_find(n, c->key, c->klen, c->hash), c);
        nodes += shape_walk(b, c, entries);
    }
    assert_int_equal(used, n->nkids);
    if (n->kcap) {
        assert_int_equal(n->kcap & (n->kcap - 1), 0);
        assert_true((uint64_t)n->nkids * 4 <= (uint64_t)n->kcap * 3);
    } else {
        assert_null(n->kids);
    }
    if (b->retained) {
        *entries += n->u.msg != NULL;
        return nodes;
    }
    const struct node *w[2] = {n->u.s.plus, n->u.s.hash};
    for (int i = 0; i < 2; i++) {
        if (!w[i]) continue;
        assert_ptr_equal(w[i]->parent, n);
        assert_int_equal(w[i]->kind, i ? NODE_HASH : NODE_PLUS);
        nodes += shape_walk(b, w[i], entries);
    }
    assert_true(n->u.s.n <= n->u.s.cap);
    for (uint32_t i = 0; i < n->u.s.n; i++)
        for (uint32_t j = 0; j < i; j++)
            assert_ptr_not_equal(n->u.s.v[i].subscriber, n->u.s.v[j].subscriber);
    *entries += n->u.s.n;
    return nodes;
}

/* 1 (the root) + distinct prefixes ending at a level boundary of the given strings. */
static size_t expected_nodes(const char *const *s, size_t n)
{
    size_t count = 1;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(s[i]);
        for (size_t end = 0; end <= len; end++) {
            if (end < len && s[i][end] != '/') continue;
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                seen = strlen(s[j]) >= end && strncmp(s[j], s[i], end) == 0 &&
                       (s[j][end] == '\0' || s[j][end] == '/');
            count += !seen;
        }
    }
    return count;
}

static void check_shape(const struct lvtree *b, const char *const *s, size_t n, size_t entries)
{
    size_t got = 0;
    assert_int_equal(shape_walk(b, b->root, &got), expected_nodes(s, n));
    assert_int_equal(got, entries);
    assert_int_equal(b->count, entries);
}

static void check_sub_shape(const struct sub_tree *t, const struct ent *m, size_t nm)
{
    static const char *live[4096];
    size_t n = 0;
    for (size_t i = 0; i < nm; i++)
        if (m[i].live) live[n++] = m[i].filter;
    check_shape(&t->b, live, n, n);
}

/* ---- subscriptions ------------------------------------------------------------- */

static void test_add_replace_remove(void **state)
{
    (void)state;
    struct sub_tree *t = sub_tree_new();
    assert_non_null(t);
    struct rec r;
    assert_int_equal(sub_tree_count(t), 0);
    smatch(&REAL_SUB, t, "a/b", &r);
    assert_int_equal(r.n, 0);

    assert_int_equal(add(t, "a/b", SUB(1), 1, 0), 1);
    assert_int_equal(add(t, "a/b", SUB(1), 2, 7), 0); /* replaces the options */
    assert_int_equal(sub_tree_count(t), 1);
    smatch(&REAL_SUB, t, "a/b", &r);
    assert_int_equal(r.n, 1);
    assert_ptr_equal(r.v[0].sub, SUB(1));
    assert_int_equal(r.v[0].opt, 2);
    assert_int_equal(r.v[0].id, 7);

    assert_int_equal(add(t, "a/b", SUB(2), 0, 8), 1);
    assert_int_equal(add(t, "a/+", SUB(1), 1, 9), 1);
    assert_int_equal(sub_tree_count(t), 3);
    smatch(&REAL_SUB, t, "a/b", &r);
    assert_int_equal(r.n, 3);
    smatch(&REAL_SUB, t, "a/c", &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.v[0].id, 9);

    assert_false(rm(t, "a/c", SUB(1)));   /* no such filter */
    assert_false(rm(t, "a/b", SUB(3)));   /* filter without this subscriber */
    assert_false(rm(t, "a", SUB(1)));     /* interior node, no entry */
    assert_false(rm(t, "a/b/c", SUB(1))); /* below a leaf */
    assert_int_equal(sub_tree_count(t), 3);
    assert_true(rm(t, "a/b", SUB(1)));
    assert_false(rm(t, "a/b", SUB(1)));
    assert_int_equal(sub_tree_count(t), 2);
    smatch(&REAL_SUB, t, "a/b", &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(visits_of(&r, 8), 1);
    assert_int_equal(visits_of(&r, 9), 1);
    assert_true(rm(t, "a/+", SUB(1)));
    assert_true(rm(t, "a/b", SUB(2)));
    assert_int_equal(sub_tree_count(t), 0);
    smatch(&REAL_SUB, t, "a/b", &r);
    assert_int_equal(r.n, 0);
    /* the subscriber pointer is opaque: NULL is an ordinary key */
    assert_int_equal(add(t, "x", NULL, 0, 1), 1);
    smatch(&REAL_SUB, t, "x", &r);
    assert_int_equal(r.n, 1);
    assert_null(r.v[0].sub);
    assert_true(rm(t, "x", NULL));
    sub_tree_free(t);
}

/* Options are opaque beyond QoS: every bit and the full sub_id range survive. */
static void test_options_preserved(void **state)
{
    (void)state;
    struct sub_tree *t = sub_tree_new();
    assert_non_null(t);
    struct rec r;
    assert_int_equal(add(t, "+/x", SUB(1), 0xff, UINT32_MAX), 1);
    smatch(&REAL_SUB, t, "q/x", &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.v[0].opt, 0xff);
    assert_int_equal(r.v[0].id, UINT32_MAX);
    sub_tree_free(t);
}

static void test_visited_once(void **state)
{
    (void)state;
    struct sub_tree *t = sub_tree_new();
    assert_non_null(t);
    struct rec r;
    for (int i = 0; i < 5; i++)
        assert_int_equal(add(t, "a/#", SUB(1), 1, 42), i == 0 ? 1 : 0);
    assert_int_equal(sub_tree_count(t), 1);
    smatch(&REAL_SUB, t, "a/b/c", &r);
    assert_int_equal(r.n, 1);
    smatch(&REAL_SUB, t, "a", &r); /* reached as the parent level, still once */
    assert_int_equal(r.n, 1);
    sub_tree_free(t);
}

/* One subscriber with many overlapping filters gets one visit per matching filter. */
static void test_overlapping_filters(void **state)
{
    (void)state;
    static const char *const hit[] = {"a/b", "a/+",   "+/b", "+/+",  "#",
                                      "a/#", "a/b/#", "+/#", "+/+/#"};
    static const char *const miss[] = {"a",     "a/c",   "b/#",  "+",   "a/b/c",
                                       "+/+/+", "a/b/+", "/a/b", "a/b/"};
    struct sub_tree *t = sub_tree_new();
    assert_non_null(t);
    struct rec r;
    size_t nh = sizeof(hit) / sizeof(hit[0]), nmiss = sizeof(miss) / sizeof(miss[0]);
    for (size_t i = 0; i < nh; i++)
        assert_int_equal(add(t, hit[i], SUB(1), 1, (uint32_t)(100 + i)), 1);
    for (size_t i = 0; i < nmiss; i++)
        assert_int_equal(add(t, miss[i], SUB(1), 1, (uint32_t)(200 + i)), 1);
    assert_int_equal(sub_tree_count(t), nh + nmiss);
    smatch(&REAL_SUB, t, "a/b", &r);
    assert_int_equal(r.n, nh);
    for (size_t i = 0; i < nh; i++)
        assert_int_equal(visits_of(&r, (uint32_t)(100 + i)), 1);
    sub_tree_free(t);
}

struct case_ {
    const char *filter;
    const char *topic;
    bool match;
};

/* Examples of section 4.7, each on a tree holding that filter alone. */
static const struct case_ spec_cases[] = {
    {"sport/tennis/player1/#", "sport/tennis/player1", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
    {"sport/#", "sport", true},
    {"a/#", "a", true},
    {"a/#", "ab", false},
    {"#", "sport", true},
    {"#", "/", true},
    {"sport/tennis/+", "sport/tennis/player1", true},
    {"sport/tennis/+", "sport/tennis/player1/ranking", false},
    {"sport/+", "sport", false},
    {"sport/+", "sport/", true},
    {"+/+", "/finance", true},
    {"/+", "/finance", true},
    {"+", "/finance", false},
    {"+/+", "/", true},
    {"a/+/c", "a//c", true},
    {"#", "$SYS/x", false},
    {"#", "$SYS", false},
    {"+/monitor/Clients", "$SYS/monitor/Clients", false},
    {"+/monitor", "$SYS/monitor", false},
    {"+", "$SYS", false},
    {"$SYS/#", "$SYS/x", true},
    {"$SYS/#", "$SYS", true},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
    {"+/$x", "a/$x", true},
    {"ACCOUNTS", "Accounts", false},
    {"a", "a/", false},
    {"a/", "a", false},
    {"a//b", "a/b", false},
};

static void test_spec_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(spec_cases) / sizeof(spec_cases[0]); i++) {
        struct sub_tree *t = sub_tree_new();
        assert_non_null(t);
        struct rec r;
        assert_int_equal(add(t, spec_cases[i].filter, SUB(1), 0, 1), 1);
        smatch(&REAL_SUB, t, spec_cases[i].topic, &r);
        if (r.n != (spec_cases[i].match ? 1u : 0u))
            fail_msg("filter \"%s\" topic \"%s\": %zu visits", spec_cases[i].filter,
                     spec_cases[i].topic, r.n);
        sub_tree_free(t);
    }
}

static void test_dollar_rule(void **state)
{
    (void)state;
    struct sub_tree *t = sub_tree_new();
    assert_non_null(t);
    struct rec r;
    const char *filters[] = {"#",    "+/monitor/Clients", "$SYS/#", "$SYS/monitor/+", "+", "+/#",
                             "+/+/+"};
    for (uint32_t i = 0; i < 7; i++)
        assert_int_equal(add(t, filters[i], SUB(i), 0, i + 1), 1);
    smatch(&REAL_SUB, t, "$SYS/monitor/Clients", &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(visits_of(&r, 3), 1);
    assert_int_equal(visits_of(&r, 4), 1);
    smatch(&REAL_SUB, t, "$SYS", &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(visits_of(&r, 3), 1);
    smatch(&REAL_SUB, t, "x/monitor/Clients", &r); /* the same shape without '$' */
    assert_int_equal(r.n, 4);
    assert_int_equal(visits_of(&r, 1), 1);
    assert_int_equal(visits_of(&r, 2), 1);
    assert_int_equal(visits_of(&r, 6), 1);
    assert_int_equal(visits_of(&r, 7), 1);
    smatch(&REAL_SUB, t, "x/$SYS", &r); /* '$' below the first level is ordinary */
    assert_int_equal(r.n, 2);
    assert_int_equal(visits_of(&r, 1), 1);
    assert_int_equal(visits_of(&r, 6), 1);
    sub_tree_free(t);
}

/* Random filters over a small alphabet, checked against topic_match() on every name
 * of up to three levels, then again after removing about half. */
static void test_random_cross_check(void **state)
{
    (void)state;
    static struct ent m[600];
    size_t nm = 0;
    rng_state = 0x9e3779b97f4a7c15ull;
    struct sub_tree *t = sub_tree_new();
    assert_non_null(t);
    for (uint32_t i = 0; i < 500; i++) {
        char f[64];
        random_filter(f, sizeof(f), 4);
        model_add(&REAL_SUB, t, m, &nm, f, SUB(rng(6)), (uint8_t)rng(3), i + 1);
    }
    assert_true(nm < 500); /* some (filter, subscriber) pairs repeated */
    check_subs(&REAL_SUB, t, m, nm, all_name_ptrs, n_all_names);
    check_sub_shape(t, m, nm);
    for (size_t i = 0; i < nm; i++) {
        if (rng(2)) {
            assert_true(rm(t, m[i].filter, m[i].sub));
            m[i].live = false;
        }
    }
    check_subs(&REAL_SUB, t, m, nm, all_name_ptrs, n_all_names);
    check_sub_shape(t, m, nm);
    for (size_t i = 0; i < nm; i++) {
        assert_int_equal(rm(t, m[i].filter, m[i].sub), m[i].live);
        m[i].live = false;
    }
    check_subs(&REAL_SUB, t, m, nm, all_name_ptrs, n_all_names);
    sub_tree_free(t);
}

/* Removing every entry returns the heap to where it was: empty nodes, child tables and
 * entry arrays are all released, not just unlinked. */
static void test_prune_releases_memory(void **state)
{
    (void)state;
    static struct ent m[2100];
    size_t nm = 0;
    rng_state = 12345;
    struct sub_tree *t = sub_tree_new();
    assert_non_null(t);
    /* the walk stack grows to the deepest filter and stays: size it before measuring */
    assert_int_equal(add(t, "1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20", SUB(0), 0, 0), 1);
    assert_true(rm(t, "1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20", SUB(0)));
    size_t base = heap_in_use();
    for (uint32_t i = 0; i < 2000; i++) {
        char f[96];
        switch (rng(3)) {
        case 0:
            random_filter(f, sizeof(f), 6);
            break;
        case 1:
            snprintf(f, sizeof(f), "dev/%u/%s", rng(300), rng(2) ? "temp" : "+");
            break;
        default:
            snprintf(f, sizeof(f), "%u/%u/#", rng(40), rng(40));
            break;
        }
        model_add(&REAL_SUB, t, m, &nm, f, SUB(rng(40)), 1, i + 1);
    }
    assert_heap_above(heap_in_use(), base);
    check_sub_shape(t, m, nm);
    /* remove in an order unrelated to insertion */
    for (size_t step = 0; step < nm; step++) {
        size_t i = (step * 7919) % nm;
        assert_true(rm(t, m[i].filter, m[i].sub));
    }
    assert_int_equal(sub_tree_count(t), 0);
    check_shape(&t->b, NULL, 0, 0); /* the root alone */
    assert_heap_equal(heap_in_use(), base);
    /* and the pruned tree works as new */
    struct rec r;
    assert_int_equal(add(t, "dev/1/temp", SUB(1), 1, 5), 1);
    smatch(&REAL_SUB, t, "dev/1/temp", &r);
    assert_int_equal(r.n, 1);
    sub_tree_free(t);
}

/* 10k distinct filters under one level plus overlapping wildcards. */
static void test_10k_topics(void **state)
{
    (void)state;
    enum { N = 10000 };
    static char ids[N]; /* one subscriber per device */
    struct sub_tree *t = sub_tree_new();
    assert_non_null(t);
    size_t base = heap_in_use();
    char f[64];
    for (uint32_t i = 0; i < N; i++) {
        snprintf(f, sizeof(f), "dev/%u/temp", i);
        assert_int_equal(add(t, f, &ids[i], 1, i), 1);
        if (i % 100 == 0) {
            snprintf(f, sizeof(f), "dev/%u/#", i);
            assert_int_equal(add(t, f, &ids[i], 2, i), 1);
        }
    }
    assert_int_equal(add(t, "dev/+/temp", SUB(1), 0, 100001), 1);
    assert_int_equal(add(t, "dev/#", SUB(2), 0, 100002), 1);
    assert_int_equal(sub_tree_count(t), N + N / 100 + 2);
    struct rec r;
    for (uint32_t i = 0; i < N; i++) {
        snprintf(f, sizeof(f), "dev/%u/temp", i);
        smatch(&REAL_SUB, t, f, &r);
        size_t own = 0;
        for (size_t j = 0; j < r.n; j++) {
            if (r.v[j].sub == &ids[i])
                own++;
            else
                assert_true(r.v[j].sub == SUB(1) || r.v[j].sub == SUB(2));
        }
        assert_int_equal(own, i % 100 == 0 ? 2 : 1);
        assert_int_equal(r.n, own + 2);
        snprintf(f, sizeof(f), "dev/%u/humidity", i);
        smatch(&REAL_SUB, t, f, &r);
        assert_int_equal(r.n, i % 100 == 0 ? 2 : 1);
    }
    smatch(&REAL_SUB, t, "dev/10000/temp", &r);
    assert_int_equal(r.n, 2);
    smatch(&REAL_SUB, t, "dev", &r); /* "dev/#" at its parent level */
    assert_int_equal(r.n, 1);
    smatch(&REAL_SUB, t, "devices/1/temp", &r);
    assert_int_equal(r.n, 0);
    for (uint32_t i = 0; i < N; i++) {
        snprintf(f, sizeof(f), "dev/%u/temp", i);
        assert_true(rm(t, f, &ids[i]));
        if (i % 100 == 0) {
            snprintf(f, sizeof(f), "dev/%u/#", i);
            assert_true(rm(t, f, &ids[i]));
        }
    }
    assert_int_equal(sub_tree_count(t), 2);
    smatch(&REAL_SUB, t, "dev/5/temp", &r);
    assert_int_equal(r.n, 2);
    assert_true(rm(t, "dev/+/temp", SUB(1)));
    assert_true(rm(t, "dev/#", SUB(2)));
    assert_int_equal(sub_tree_count(t), 0);
    check_shape(&t->b, NULL, 0, 0); /* the root alone */
    assert_heap_equal(heap_in_use(), base);
    sub_tree_free(t);
}

/* Thousands of subscribers on one filter: entry arrays grow and shrink. */
static void test_many_subscribers_one_filter(void **state)
{
    (void)state;
    enum { N = 3000 };
    static char who[N];
    struct sub_tree *t = sub_tree_new();
    assert_non_null(t);
    assert_int_equal(add(t, "x", SUB(0), 0, 0), 1);
    assert_true(rm(t, "x", SUB(0)));
    size_t base = heap_in_use();
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(add(t, "a/+", &who[i], 0, i), 1);
    size_t seen = 0;
    sub_tree_match(t, U8("a/b"), 3, count_fn, &seen);
    assert_int_equal(seen, N);
    for (uint32_t i = 0; i < N; i += 2)
        assert_true(rm(t, "a/+", &who[i]));
    seen = 0;
    sub_tree_match(t, U8("a/b"), 3, count_fn, &seen);
    assert_int_equal(seen, N / 2);
    for (uint32_t i = 1; i < N; i += 2)
        assert_true(rm(t, "a/+", &who[i]));
    check_shape(&t->b, NULL, 0, 0);
    assert_heap_equal(heap_in_use(), base);
    sub_tree_free(t);
}

/* A filter of 65536 empty levels (65535 bytes): no recursion, walks stay bounded. */
static void test_deep_filter(void **state)
{
    (void)state;
    char *deep = malloc(65536);
    assert_non_null(deep);
    memset(deep, '/', 65535);
    deep[65535] = '\0';
    struct sub_tree *t = sub_tree_new();
    assert_non_null(t);
    assert_int_equal(sub_tree_add(t, U8(deep), 65535, SUB(1), 0, 1), 1);
    assert_int_equal(add(t, "#", SUB(2), 0, 2), 1);
    assert_int_equal(add(t, "+/+/#", SUB(3), 0, 3), 1);
    struct rec r;
    smatch(&REAL_SUB, t, deep, &r);
    assert_int_equal(r.n, 3);
    r.n = 0;
    sub_tree_match(t, U8(deep), 65534, rec_fn, &r); /* one level short */
    assert_int_equal(r.n, 2);
    assert_int_equal(visits_of(&r, 1), 0);
    assert_true(sub_tree_remove(t, U8(deep), 65535, SUB(1)));
    smatch(&REAL_SUB, t, deep, &r);
    assert_int_equal(r.n, 2);
    /* freed with a deep path still present, too */
    assert_int_equal(sub_tree_add(t, U8(deep), 65535, SUB(1), 0, 1), 1);
    sub_tree_free(t);
    free(deep);
}

/* Lengths a valid topic can never have are refused, not walked. */
static void test_length_bounds(void **state)
{
    (void)state;
    char *big = malloc(65537);
    assert_non_null(big);
    memset(big, 'a', 65536);
    big[65536] = '\0';
    struct sub_tree *t = sub_tree_new();
    assert_non_null(t);
    assert_int_equal(sub_tree_add(t, U8(big), 0, SUB(1), 0, 1), -1);
    assert_int_equal(sub_tree_add(t, U8(big), 65536, SUB(1), 0, 1), -1);
    assert_int_equal(sub_tree_count(t), 0);
    assert_int_equal(sub_tree_add(t, U8(big), 65535, SUB(1), 0, 1), 1);
    assert_int_equal(add(t, "#", SUB(2), 0, 2), 1);
    struct rec r = {0};
    sub_tree_match(t, U8(big), 0, rec_fn, &r);
    sub_tree_match(t, U8(big), 65536, rec_fn, &r);
    assert_int_equal(r.n, 0);
    sub_tree_match(t, U8(big), 65535, rec_fn, &r);
    assert_int_equal(r.n, 2);
    assert_false(sub_tree_remove(t, U8(big), 65536, SUB(1)));
    assert_true(sub_tree_remove(t, U8(big), 65535, SUB(1)));
    sub_tree_free(t);
    free(big);
}

static const char *const probe_topics[] = {
    "a/b", "a",      "a/b/c/d", "x/y/z",
    "r3",  "$SYS/q", "z/q/w",   "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t"};

/* Every allocation of every operation is made to fail in turn: the failed call returns
 * -1 and leaves the tree as it was; retrying then succeeds; nothing leaks. */
static void test_sub_alloc_failure(void **state)
{
    (void)state;
    static const char *const pre[] = {"a/b", "a/+", "#", "a/b/c/d"};
    static const char *const ops[] = {
        "a/b", "x/y/z", "+/q/#", "r0", "r1", "r2", "r3",
        "r4",  "r5",    "r6",    "r7", "r8", "r9", "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t",
        "a/b"};
    size_t nops = sizeof(ops) / sizeof(ops[0]);
    size_t nprobe = sizeof(probe_topics) / sizeof(probe_topics[0]);
    size_t failures = 0;
    for (long k = 0;; k++) {
        static struct ent m[32];
        size_t nm = 0;
        fi_countdown = -1;
        struct sub_tree *t = FI_SUB.new_();
        assert_non_null(t);
        for (uint32_t i = 0; i < 4; i++)
            model_add(&FI_SUB, t, m, &nm, pre[i], SUB(i), 1, i + 1);
        fi_countdown = k;
        bool failed = false;
        for (uint32_t i = 0; i < nops; i++) {
            void *sub = SUB(i % 3 == 0 ? 1 : 5);
            uint8_t opt = (uint8_t)(i & 3);
            int rc = FI_SUB.add(t, U8(ops[i]), strlen(ops[i]), sub, opt, 100 + i);
            if (rc == -1) {
                failed = true;
                failures++;
                assert_int_equal(fi_countdown, -1); /* only the injected failure */
                check_subs(&FI_SUB, t, m, nm, probe_topics, nprobe);
                check_sub_shape(t, m, nm); /* nothing half-built left behind */
                rc = FI_SUB.add(t, U8(ops[i]), strlen(ops[i]), sub, opt, 100 + i);
            }
            assert_int_equal(rc, model_note(m, &nm, ops[i], sub, opt, 100 + i));
        }
        check_subs(&FI_SUB, t, m, nm, probe_topics, nprobe);
        check_sub_shape(t, m, nm);
        FI_SUB.free_(t);
        if (!failed) break;
    }
    assert_true(failures > 10);
}

/* ---- retained messages --------------------------------------------------------- */

static struct msg *mk(const char *topic, const char *payload)
{
    struct msg *m = msg_new(U8(topic), (uint16_t)strlen(topic), U8(payload),
                            (uint32_t)strlen(payload), 1, true);
    assert_non_null(m);
    return m;
}

#define MAXM 512

struct mrec {
    size_t n;
    struct msg *v[MAXM];
};

static void mrec_fn(void *ctx, struct msg *m)
{
    struct mrec *r = ctx;
    if (r->n < MAXM) r->v[r->n] = m;
    r->n++;
}

static void rmatch(const struct ret_api *api, struct retained_store *s, const char *filter,
                   struct mrec *r)
{
    r->n = 0;
    api->match(s, U8(filter), strlen(filter), mrec_fn, r);
    assert_true(r->n <= MAXM);
}

static void mcount_fn(void *ctx, struct msg *m)
{
    (void)m;
    ++*(size_t *)ctx;
}

static size_t rcount(struct retained_store *s, const char *filter)
{
    size_t n = 0;
    retained_match(s, U8(filter), strlen(filter), mcount_fn, &n);
    return n;
}

static size_t mvisits(const struct mrec *r, const struct msg *m)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += r->v[i] == m;
    return n;
}

/* Every filter visits exactly the stored messages whose topic it matches, once each. */
static void check_retained(const struct ret_api *api, struct retained_store *s,
                           struct msg *const *stored, size_t ns, const char *const *filters,
                           size_t nf)
{
    static struct mrec r;
    assert_int_equal(api->count(s), ns);
    for (size_t k = 0; k < nf; k++) {
        rmatch(api, s, filters[k], &r);
        size_t expect = 0;
        for (size_t i = 0; i < ns; i++) {
            bool hit = topic_match(U8(filters[k]), strlen(filters[k]), U8(stored[i]->topic),
                                   stored[i]->topic_len);
            expect += hit;
            if (mvisits(&r, stored[i]) != (hit ? 1u : 0u))
                fail_msg("filter \"%s\" topic \"%s\": %zu visits", filters[k], stored[i]->topic,
                         mvisits(&r, stored[i]));
        }
        if (r.n != expect)
            fail_msg("filter \"%s\": %zu visits, %zu expected", filters[k], r.n, expect);
    }
}

static void check_ret_shape(const struct retained_store *s, struct msg *const *stored, size_t ns)
{
    static const char *names[4096];
    for (size_t i = 0; i < ns; i++)
        names[i] = stored[i]->topic;
    check_shape(&s->b, names, ns, ns);
}

static void test_retained_set_replace_clear(void **state)
{
    (void)state;
    struct retained_store *s = retained_new();
    assert_non_null(s);
    struct mrec r;
    struct msg *m1 = mk("a/b", "one"), *m2 = mk("a/b", "two"), *clr = mk("a/b", "");
    assert_int_equal(retained_count(s), 0);

    assert_int_equal(retained_set(s, m1), 0);
    assert_int_equal(retained_count(s), 1);
    assert_int_equal(m1->refs, 2);
    rmatch(&REAL_RET, s, "a/b", &r);
    assert_int_equal(r.n, 1);
    assert_ptr_equal(r.v[0], m1);

    assert_int_equal(retained_set(s, m2), 0); /* replaces */
    assert_int_equal(retained_count(s), 1);
    assert_int_equal(m1->refs, 1);
    assert_int_equal(m2->refs, 2);
    rmatch(&REAL_RET, s, "a/b", &r);
    assert_int_equal(r.n, 1);
    assert_ptr_equal(r.v[0], m2);

    assert_int_equal(retained_set(s, m2), 0); /* the same message again */
    assert_int_equal(m2->refs, 2);
    assert_int_equal(retained_count(s), 1);

    assert_int_equal(retained_set(s, clr), 0); /* zero-length payload clears */
    assert_int_equal(retained_count(s), 0);
    assert_int_equal(m2->refs, 1);
    assert_int_equal(clr->refs, 1); /* never stored */
    rmatch(&REAL_RET, s, "a/b", &r);
    assert_int_equal(r.n, 0);
    rmatch(&REAL_RET, s, "#", &r);
    assert_int_equal(r.n, 0);

    assert_int_equal(retained_set(s, clr), 0); /* clearing what is absent */
    struct msg *clr2 = mk("x/y/z", "");
    assert_int_equal(retained_set(s, clr2), 0);
    assert_int_equal(retained_count(s), 0);
    check_ret_shape(s, NULL, 0);

    /* clearing a parent or child topic leaves its neighbour alone */
    struct msg *pa = mk("p", "parent"), *ch = mk("p/c", "child");
    struct msg *clr_p = mk("p", "");
    assert_int_equal(retained_set(s, pa), 0);
    assert_int_equal(retained_set(s, ch), 0);
    assert_int_equal(retained_set(s, clr_p), 0);
    rmatch(&REAL_RET, s, "p/#", &r);
    assert_int_equal(r.n, 1);
    assert_ptr_equal(r.v[0], ch);
    assert_int_equal(pa->refs, 1);
    struct msg *only[] = {ch};
    check_ret_shape(s, only, 1);

    retained_free(s);
    assert_int_equal(ch->refs, 1);
    msg_unref(m1);
    msg_unref(m2);
    msg_unref(clr);
    msg_unref(clr2);
    msg_unref(pa);
    msg_unref(ch);
    msg_unref(clr_p);
}

static const char *const ret_topics[] = {
    "a",    "a/b",  "a/b/c",  "a/c",      "ab", "a/",   "/",     "/x",
    "b//c", "$SYS", "$SYS/x", "$SYS/x/y", "$",  "x/$y", "sport", "sport/tennis/player1"};

static void test_retained_wildcards(void **state)
{
    (void)state;
    enum { N = sizeof(ret_topics) / sizeof(ret_topics[0]) };
    struct retained_store *s = retained_new();
    assert_non_null(s);
    struct msg *m[N];
    for (size_t i = 0; i < N; i++) {
        m[i] = mk(ret_topics[i], "p");
        assert_int_equal(retained_set(s, m[i]), 0);
    }
    struct mrec r;
    /* anchors straight from section 4.7 */
    rmatch(&REAL_RET, s, "#", &r);
    assert_int_equal(r.n, N - 4); /* all but the four '$' names */
    rmatch(&REAL_RET, s, "a/#", &r);
    assert_int_equal(r.n, 5); /* a, a/b, a/b/c, a/c, a/ */
    assert_int_equal(mvisits(&r, m[0]), 1);
    rmatch(&REAL_RET, s, "+", &r);
    assert_int_equal(r.n, 3); /* a, ab, sport */
    rmatch(&REAL_RET, s, "+/+", &r);
    assert_int_equal(r.n, 6); /* a/b, a/c, a/, /, /x, x/$y */
    rmatch(&REAL_RET, s, "$SYS/#", &r);
    assert_int_equal(r.n, 3);
    rmatch(&REAL_RET, s, "+/x", &r);
    assert_int_equal(r.n, 1); /* "/x", not "$SYS/x" */
    assert_ptr_equal(r.v[0], m[7]);
    rmatch(&REAL_RET, s, "sport/tennis/player1/#", &r);
    assert_int_equal(r.n, 1);
    rmatch(&REAL_RET, s, "sport/#", &r);
    assert_int_equal(r.n, 2);

    static const char *const filters[] = {"#",         "+",
                                          "+/+",       "+/+/+",
                                          "a/#",       "a/+",
                                          "a/+/c",     "+/b",
                                          "/+",        "/#",
                                          "+/#",       "$SYS/#",
                                          "$SYS/+",    "$SYS",
                                          "$",         "+/$y",
                                          "x/#",       "b/+/c",
                                          "b/#",       "ab/#",
                                          "a",         "a/",
                                          "nope/#",    "+/+/#",
                                          "$SYS/x/#",  "sport/+/player1",
                                          "+/tennis/#"};
    check_retained(&REAL_RET, s, m, N, filters, sizeof(filters) / sizeof(filters[0]));
    check_ret_shape(s, m, N);
    retained_free(s);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(m[i]->refs, 1);
        msg_unref(m[i]);
    }
}

/* Random set/replace/clear checked against topic_match() over many filters, then
 * clearing everything returns the heap to its baseline. */
static void test_retained_random(void **state)
{
    (void)state;
    enum { SLOTS = 84 };
    struct msg *cur[SLOTS] = {0}; /* stored message per name of all_names */
    rng_state = 777;
    struct retained_store *s = retained_new();
    assert_non_null(s);
    struct msg *warm = mk("1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18", "w");
    struct msg *unwarm = mk("1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18", "");
    assert_int_equal(retained_set(s, warm), 0);
    assert_int_equal(retained_set(s, unwarm), 0);
    msg_unref(warm);
    msg_unref(unwarm);
    size_t base = heap_in_use();
    static char filters[300][64];
    static const char *fptr[300];
    for (size_t i = 0; i < 300; i++) {
        random_filter(filters[i], sizeof(filters[i]), 4);
        fptr[i] = filters[i];
    }
    for (int round = 0; round < 6; round++) {
        for (int op = 0; op < 120; op++) {
            uint32_t k = rng(SLOTS);
            bool clear = rng(4) == 0;
            struct msg *m = mk(all_names[k], clear ? "" : "payload");
            assert_int_equal(retained_set(s, m), 0);
            if (cur[k]) msg_unref(cur[k]);
            cur[k] = NULL;
            if (!clear) cur[k] = msg_ref(m);
            msg_unref(m);
        }
        struct msg *stored[SLOTS];
        size_t ns = 0;
        for (size_t k = 0; k < SLOTS; k++) {
            if (cur[k]) {
                assert_int_equal(cur[k]->refs, 2); /* ours and the store's */
                stored[ns++] = cur[k];
            }
        }
        check_retained(&REAL_RET, s, stored, ns, fptr, 300);
        check_ret_shape(s, stored, ns);
    }
    for (size_t k = 0; k < SLOTS; k++) {
        struct msg *c = mk(all_names[k], "");
        assert_int_equal(retained_set(s, c), 0);
        msg_unref(c);
        if (cur[k]) {
            assert_int_equal(cur[k]->refs, 1);
            msg_unref(cur[k]);
        }
    }
    assert_int_equal(retained_count(s), 0);
    check_shape(&s->b, NULL, 0, 0);
    assert_heap_equal(heap_in_use(), base);
    retained_free(s);
}

/* A '+' level with many children and a deep name: the walks are iterative. */
static void test_retained_wide_and_deep(void **state)
{
    (void)state;
    enum { W = 5000, D = 3000 };
    struct retained_store *s = retained_new();
    assert_non_null(s);
    char t[32];
    for (uint32_t i = 0; i < W; i++) {
        snprintf(t, sizeof(t), "w/%u/v", i);
        struct msg *m = mk(t, "x");
        assert_int_equal(retained_set(s, m), 0);
        msg_unref(m); /* the store's reference keeps it alive */
    }
    char *deep = malloc(2 * D);
    assert_non_null(deep);
    for (size_t i = 0; i < D; i++) {
        deep[2 * i] = 'd';
        deep[2 * i + 1] = '/';
    }
    deep[2 * D - 1] = '\0'; /* "d/d/.../d", D levels */
    struct msg *dm = mk(deep, "deep");
    assert_int_equal(retained_set(s, dm), 0);
    assert_int_equal(retained_count(s), W + 1);
    assert_int_equal(rcount(s, "w/+/v"), W);
    assert_int_equal(rcount(s, "w/+"), 0);
    assert_int_equal(rcount(s, "w/#"), W);
    assert_int_equal(rcount(s, "+/+/v"), W);
    assert_int_equal(rcount(s, "#"), W + 1);
    assert_int_equal(rcount(s, "w/4999/v"), 1);
    assert_int_equal(rcount(s, "w/5000/v"), 0);
    struct mrec r;
    rmatch(&REAL_RET, s, deep, &r);
    assert_int_equal(r.n, 1);
    assert_ptr_equal(r.v[0], dm);
    for (size_t i = 0; i < D; i++)
        deep[2 * i] = '+';
    rmatch(&REAL_RET, s, deep, &r);
    assert_int_equal(r.n, 1);
    deep[2 * D - 2] = '#';
    rmatch(&REAL_RET, s, deep, &r);
    assert_int_equal(r.n, 1);
    retained_free(s);
    assert_int_equal(dm->refs, 1);
    msg_unref(dm);
    free(deep);
}

/* Allocation failures in retained_set(): -1, store unchanged, the message not kept. */
static void test_retained_alloc_failure(void **state)
{
    (void)state;
    static const char *const pre[] = {"a/b", "a/c", "$SYS/x"};
    static const char *const ops[] = {"a/b",
                                      "x/y/z",
                                      "a/b/c/d",
                                      "r0",
                                      "r1",
                                      "r2",
                                      "r3",
                                      "r4",
                                      "r5",
                                      "r6",
                                      "r7",
                                      "$SYS/y",
                                      "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t",
                                      "a/c"};
    static const char *const filters[] = {"#", "+/+", "a/#", "$SYS/#", "+", "x/+/z", "r5"};
    enum { NPRE = 3, NOPS = sizeof(ops) / sizeof(ops[0]) };
    size_t failures = 0;
    for (long k = 0;; k++) {
        struct msg *all[NPRE + NOPS];
        struct msg *stored[NPRE + NOPS];
        size_t nall = 0;
        fi_countdown = -1;
        struct retained_store *s = FI_RET.new_();
        assert_non_null(s);
        for (size_t i = 0; i < NPRE; i++) {
            all[nall] = mk(pre[i], "pre");
            assert_int_equal(FI_RET.set(s, all[nall]), 0);
            nall++;
        }
        fi_countdown = k;
        bool failed = false;
        for (size_t i = 0; i < NOPS; i++) {
            struct msg *m = all[nall++] = mk(ops[i], "op");
            int rc = FI_RET.set(s, m);
            if (rc == -1) {
                failed = true;
                failures++;
                assert_int_equal(fi_countdown, -1);
                assert_int_equal(m->refs, 1);
                /* the store is what it was before this call */
                size_t ns = 0;
                for (size_t j = 0; j + 1 < nall; j++)
                    if (all[j]->refs == 2) stored[ns++] = all[j];
                check_retained(&FI_RET, s, stored, ns, filters,
                               sizeof(filters) / sizeof(filters[0]));
                check_ret_shape(s, stored, ns);
                rc = FI_RET.set(s, m);
            }
            assert_int_equal(rc, 0);
            assert_int_equal(m->refs, 2);
        }
        size_t ns = 0;
        for (size_t j = 0; j < nall; j++)
            if (all[j]->refs == 2) stored[ns++] = all[j];
        assert_int_equal(ns, 15); /* "a/b" and "a/c" were replaced */
        check_retained(&FI_RET, s, stored, ns, filters, sizeof(filters) / sizeof(filters[0]));
        FI_RET.free_(s);
        for (size_t j = 0; j < nall; j++) {
            assert_int_equal(all[j]->refs, 1);
            msg_unref(all[j]);
        }
        if (!failed) break;
    }
    assert_true(failures > 10);
}

int main(void)
{
    build_names();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_replace_remove),
        cmocka_unit_test(test_options_preserved),
        cmocka_unit_test(test_visited_once),
        cmocka_unit_test(test_overlapping_filters),
        cmocka_unit_test(test_spec_cases),
        cmocka_unit_test(test_dollar_rule),
        cmocka_unit_test(test_random_cross_check),
        cmocka_unit_test(test_prune_releases_memory),
        cmocka_unit_test(test_10k_topics),
        cmocka_unit_test(test_many_subscribers_one_filter),
        cmocka_unit_test(test_deep_filter),
        cmocka_unit_test(test_length_bounds),
        cmocka_unit_test(test_sub_alloc_failure),
        cmocka_unit_test(test_retained_set_replace_clear),
        cmocka_unit_test(test_retained_wildcards),
        cmocka_unit_test(test_retained_random),
        cmocka_unit_test(test_retained_wide_and_deep),
        cmocka_unit_test(test_retained_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
