#include "topic_tree.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Both indexes are trees of '/'-separated levels. Exact children of a node sit in an
 * open-addressed table hashed with a per-tree secret key (SipHash-1-3), so clients
 * choosing topic names cannot force collisions. Walks use an explicit stack owned by
 * the tree, sized at insertion to the deepest path, so matching never allocates and
 * never recurses however deep a topic is. Callbacks must not modify the tree they are
 * called from. */

#define WIRE_MAX 65535u

enum node_kind { NODE_ROOT, NODE_EXACT, NODE_PLUS, NODE_HASH };

struct sub_entry {
    void *subscriber;
    uint32_t sub_id;
    uint8_t options;
};

/* The hash sits beside the pointer so probing does not touch the child nodes. */
struct slot {
    struct node *n; /* NULL: free */
    uint32_t hash;
};

struct node {
    struct node *parent;
    struct slot *kids; /* exact children, open addressing */
    uint32_t kcap;     /* 0 or a power of two */
    uint32_t nkids;
    uint32_t hash; /* of key */
    uint16_t klen;
    uint8_t kind;
    union {
        struct {
            struct node *plus;
            struct node *hash;
            struct sub_entry *v;
            uint32_t n;
            uint32_t cap;
        } s;             /* subscription tree */
        struct msg *msg; /* retained store */
    } u;
    uint8_t key[];
};

struct frame {
    struct node *n;
    uint32_t off; /* start of the next level to match; len + 1 once all are consumed */
    uint32_t idx; /* sub_tree_match: depth; retained_match: next child slot for '+' */
};

struct lvtree {
    struct node *root;
    uint64_t k0, k1;
    struct frame *stack;
    uint32_t stack_cap;
    bool retained;
    size_t count;
};

struct sub_tree {
    struct lvtree b;
};

struct retained_store {
    struct lvtree b;
};

/* ---- keyed hash ---------------------------------------------------------------- */

static inline uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = rotl(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = rotl(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = rotl(v2, 32);                                                                         \
    } while (0)

static uint32_t level_hash(const struct lvtree *b, const uint8_t *p, size_t len)
{
    uint64_t v0 = b->k0 ^ 0x736f6d6570736575ull;
    uint64_t v1 = b->k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = b->k0 ^ 0x6c7967656e657261ull;
    uint64_t v3 = b->k1 ^ 0x7465646279746573ull;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t m;
        memcpy(&m, p + i, 8);
        m = le64toh(m);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t j = 0; i + j < len; j++)
        last |= (uint64_t)p[i + j] << (8 * j);
    v3 ^= last;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    uint64_t h = v0 ^ v1 ^ v2 ^ v3;
    return (uint32_t)(h ^ (h >> 32));
}

static void random_key(struct lvtree *b)
{
    uint64_t k[2];
    if (getrandom(k, sizeof(k), GRND_NONBLOCK) == (ssize_t)sizeof(k)) {
        b->k0 = k[0];
        b->k1 = k[1];
        return;
    }
    /* No entropy yet: weak but still per-process and per-tree. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)getpid() ^
                 (uint64_t)(uintptr_t)b;
    for (int i = 0; i < 2; i++) {
        x += 0x9e3779b97f4a7c15ull;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        k[i] = z ^ (z >> 31);
    }
    b->k0 = k[0];
    b->k1 = k[1];
}

/* ---- exact-children table ------------------------------------------------------ */

static struct node *kid_find(const struct node *n, const uint8_t *key, size_t klen, uint32_t h)
{
    if (n->nkids == 0) return NULL;
    uint32_t mask = n->kcap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        const struct slot *sl = &n->kids[i];
        if (!sl->n) return NULL;
        if (sl->hash == h && sl->n->klen == klen && memcmp(sl->n->key, key, klen) == 0)
            return sl->n;
    }
}

static void kid_place(struct slot *slots, uint32_t cap, struct node *c)
{
    uint32_t mask = cap - 1;
    uint32_t i = c->hash & mask;
    while (slots[i].n)
        i = (i + 1) & mask;
    slots[i] = (struct slot){c, c->hash};
}

static int kids_resize(struct node *n, uint32_t cap)
{
    struct slot *slots = calloc(cap, sizeof(*slots));
    if (!slots) return -1;
    for (uint32_t i = 0; i < n->kcap; i++)
        if (n->kids[i].n) kid_place(slots, cap, n->kids[i].n);
    free(n->kids);
    n->kids = slots;
    n->kcap = cap;
    return 0;
}

/* Load stays at most 3/4 so probe runs stay short. */
static int kid_insert(struct node *n, struct node *c)
{
    if ((uint64_t)(n->nkids + 1) * 4 > (uint64_t)n->kcap * 3) {
        if (n->kcap > UINT32_MAX / 2) return -1;
        if (kids_resize(n, n->kcap ? n->kcap * 2 : 2) != 0) return -1;
    }
    kid_place(n->kids, n->kcap, c);
    n->nkids++;
    return 0;
}

static uint32_t kid_slot(const struct node *n, const struct node *c)
{
    uint32_t mask = n->kcap - 1;
    uint32_t i = c->hash & mask;
    while (n->kids[i].n != c)
        i = (i + 1) & mask;
    return i;
}

/* Backward-shift deletion keeps every probe run unbroken without tombstones. */
static void kid_remove(struct node *n, struct node *c)
{
    uint32_t mask = n->kcap - 1;
    uint32_t hole = kid_slot(n, c);
    n->kids[hole].n = NULL;
    for (uint32_t j = (hole + 1) & mask; n->kids[j].n; j = (j + 1) & mask) {
        uint32_t home = n->kids[j].hash & mask;
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            n->kids[hole] = n->kids[j];
            n->kids[j].n = NULL;
            hole = j;
        }
    }
    n->nkids--;
    if (n->nkids == 0) {
        free(n->kids);
        n->kids = NULL;
        n->kcap = 0;
    } else if (n->kcap > 2 && (uint64_t)n->nkids * 4 < n->kcap) {
        (void)kids_resize(n, n->kcap / 2); /* on failure the larger table still works */
    }
}

/* Next child at slot >= *idx, skipping '$' levels when asked; advances *idx past it. */
static struct node *kid_next(const struct node *n, uint32_t *idx, bool skip_dollar)
{
    for (uint32_t i = *idx; i < n->kcap; i++) {
        struct node *c = n->kids[i].n;
        if (c && !(skip_dollar && c->klen > 0 && c->key[0] == '$')) {
            *idx = i + 1;
            return c;
        }
    }
    *idx = n->kcap;
    return NULL;
}

/* ---- shared tree mechanics ----------------------------------------------------- */

static struct node *node_new(struct node *parent, enum node_kind kind, const uint8_t *key,
                             size_t klen, uint32_t h)
{
    struct node *n = calloc(1, sizeof(*n) + klen);
    if (!n) return NULL;
    n->parent = parent;
    n->kind = (uint8_t)kind;
    n->klen = (uint16_t)klen;
    n->hash = h;
    if (klen) memcpy(n->key, key, klen);
    return n;
}

static int tree_init(struct lvtree *b, bool retained)
{
    b->retained = retained;
    random_key(b);
    b->root = node_new(NULL, NODE_ROOT, NULL, 0, 0);
    b->stack_cap = 16;
    b->stack = calloc(b->stack_cap, sizeof(*b->stack));
    if (!b->root || !b->stack) {
        free(b->root);
        free(b->stack);
        return -1;
    }
    return 0;
}

static size_t count_levels(const uint8_t *s, size_t len)
{
    size_t levels = 1;
    for (const uint8_t *p = s, *end = s + len; (p = memchr(p, '/', (size_t)(end - p))); p++)
        levels++;
    return levels;
}

/* A walk holds at most one frame per depth plus one, so depth + 2 always suffices. */
static int stack_reserve(struct lvtree *b, size_t levels)
{
    size_t need = levels + 2;
    if (need <= b->stack_cap) return 0;
    struct frame *s = realloc(b->stack, need * sizeof(*s));
    if (!s) return -1;
    b->stack = s;
    b->stack_cap = (uint32_t)need;
    return 0;
}

static bool node_empty(const struct lvtree *b, const struct node *n)
{
    if (n->nkids) return false;
    if (b->retained) return !n->u.msg;
    return !n->u.s.plus && !n->u.s.hash && n->u.s.n == 0;
}

/* Frees n and every ancestor left empty by that, so memory follows the live set. */
static void prune(struct lvtree *b, struct node *n)
{
    while (n->kind != NODE_ROOT && node_empty(b, n)) {
        struct node *p = n->parent;
        if (n->kind == NODE_EXACT)
            kid_remove(p, n);
        else if (n->kind == NODE_PLUS)
            p->u.s.plus = NULL;
        else
            p->u.s.hash = NULL;
        if (!b->retained) free(n->u.s.v);
        free(n);
        n = p;
    }
}

/* Exact child of n for key, created when missing and create is set. On allocation
 * failure returns NULL with *failed set; the caller prunes what it created. */
static struct node *exact_child(struct lvtree *b, struct node *n, const uint8_t *key, size_t klen,
                                bool create, bool *failed)
{
    uint32_t h = level_hash(b, key, klen);
    struct node *c = kid_find(n, key, klen, h);
    if (c || !create) return c;
    c = node_new(n, NODE_EXACT, key, klen, h);
    if (!c || kid_insert(n, c) != 0) {
        free(c);
        *failed = true;
        return NULL;
    }
    return c;
}

static struct node *wild_child(struct node *n, enum node_kind kind, bool create, bool *failed)
{
    struct node **slot = kind == NODE_PLUS ? &n->u.s.plus : &n->u.s.hash;
    if (*slot || !create) return *slot;
    *slot = node_new(n, kind, NULL, 0, 0);
    if (!*slot) *failed = true;
    return *slot;
}

/* Node for a whole filter (or topic name when !wild). Returns NULL when absent and
 * !create, or on allocation failure with the partial path already pruned. */
static struct node *path(struct lvtree *b, const uint8_t *s, size_t len, bool wild, bool create)
{
    struct node *n = b->root;
    size_t off = 0;
    for (;;) {
        const uint8_t *slash = memchr(s + off, '/', len - off);
        size_t end = slash ? (size_t)(slash - s) : len;
        size_t klen = end - off;
        bool failed = false;
        struct node *c;
        if (wild && klen == 1 && s[off] == '+')
            c = wild_child(n, NODE_PLUS, create, &failed);
        else if (wild && klen == 1 && s[off] == '#')
            c = wild_child(n, NODE_HASH, create, &failed);
        else
            c = exact_child(b, n, s + off, klen, create, &failed);
        if (failed) prune(b, n);
        if (!c) return NULL;
        n = c;
        if (end == len) return n;
        off = end + 1;
    }
}

/* Releases every node without recursion: descend to any child, detaching it, and free
 * a node once it has none left. The children table shrinks as it is consumed. */
static void tree_destroy(struct lvtree *b)
{
    struct node *n = b->root;
    while (n) {
        struct node *c = NULL;
        if (!b->retained && n->u.s.plus) {
            c = n->u.s.plus;
            n->u.s.plus = NULL;
        } else if (!b->retained && n->u.s.hash) {
            c = n->u.s.hash;
            n->u.s.hash = NULL;
        } else {
            while (n->kcap && !c)
                c = n->kids[--n->kcap].n;
        }
        if (c) {
            n = c;
            continue;
        }
        struct node *p = n->parent;
        if (b->retained)
            msg_unref(n->u.msg);
        else
            free(n->u.s.v);
        free(n->kids);
        free(n);
        n = p;
    }
    free(b->stack);
}

static bool valid_len(size_t len)
{
    return len > 0 && len <= WIRE_MAX;
}

/* ---- subscriptions ------------------------------------------------------------- */

struct sub_tree *sub_tree_new(void)
{
    struct sub_tree *t = calloc(1, sizeof(*t));
    if (t && tree_init(&t->b, false) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

void sub_tree_free(struct sub_tree *t)
{
    if (!t) return;
    tree_destroy(&t->b);
    free(t);
}

int sub_tree_add(struct sub_tree *t, const uint8_t *filter, size_t flen, void *subscriber,
                 uint8_t options, uint32_t sub_id)
{
    if (!valid_len(flen) || stack_reserve(&t->b, count_levels(filter, flen)) != 0) return -1;
    struct node *n = path(&t->b, filter, flen, true, true);
    if (!n) return -1;
    for (uint32_t i = 0; i < n->u.s.n; i++) {
        if (n->u.s.v[i].subscriber == subscriber) {
            n->u.s.v[i].options = options;
            n->u.s.v[i].sub_id = sub_id;
            return 0;
        }
    }
    if (n->u.s.n == n->u.s.cap) {
        uint32_t cap = n->u.s.cap ? n->u.s.cap * 2 : 1;
        struct sub_entry *v =
            n->u.s.cap > UINT32_MAX / 2 ? NULL : realloc(n->u.s.v, (size_t)cap * sizeof(*v));
        if (!v) {
            prune(&t->b, n);
            return -1;
        }
        n->u.s.v = v;
        n->u.s.cap = cap;
    }
    n->u.s.v[n->u.s.n++] = (struct sub_entry){subscriber, sub_id, options};
    t->b.count++;
    return 1;
}

bool sub_tree_remove(struct sub_tree *t, const uint8_t *filter, size_t flen, void *subscriber)
{
    if (!valid_len(flen)) return false;
    struct node *n = path(&t->b, filter, flen, true, false);
    if (!n) return false;
    for (uint32_t i = 0; i < n->u.s.n; i++) {
        if (n->u.s.v[i].subscriber != subscriber) continue;
        n->u.s.v[i] = n->u.s.v[--n->u.s.n];
        t->b.count--;
        if (n->u.s.n == 0) {
            free(n->u.s.v);
            n->u.s.v = NULL;
            n->u.s.cap = 0;
            prune(&t->b, n);
        } else if (n->u.s.cap >= 8 && (uint64_t)n->u.s.n * 4 <= n->u.s.cap) {
            struct sub_entry *v = realloc(n->u.s.v, (size_t)(n->u.s.cap / 2) * sizeof(*v));
            if (v) {
                n->u.s.v = v;
                n->u.s.cap /= 2;
            }
        }
        return true;
    }
    return false;
}

static inline void emit_subs(const struct node *n, sub_visit_fn fn, void *ctx)
{
    for (uint32_t i = 0; i < n->u.s.n; i++)
        fn(ctx, n->u.s.v[i].subscriber, n->u.s.v[i].options, n->u.s.v[i].sub_id);
}

/* Depth-first over the nodes whose filter prefix matches the topic prefix. Each node is
 * reached by exactly one path, so each entry is visited once. A node's '#' child is
 * emitted when the node is reached, with levels left (they are the '#' levels) or
 * without (the parent-level match). The exact and '+' branches look up the same levels,
 * so the hashes of the first HASH_CACHE levels are computed once per call. */
#define HASH_CACHE 64

void sub_tree_match(struct sub_tree *t, const uint8_t *topic, size_t tlen, sub_visit_fn fn,
                    void *ctx)
{
    if (!valid_len(tlen)) return;
    struct lvtree *b = &t->b;
    struct frame *st = b->stack;
    uint32_t cap = b->stack_cap, sp = 0;
    uint32_t hc[HASH_CACHE];
    uint64_t hashed = 0; /* bit d: hc[d] holds the hash of level d */
    bool dollar = topic[0] == '$';
    st[sp++] = (struct frame){b->root, 0, 0};
    while (sp) {
        struct frame f = st[--sp]; /* f.idx is the depth: the topic level to match */
        struct node *n = f.n;
        if (f.off > tlen) {
            emit_subs(n, fn, ctx);
            if (n->u.s.hash) emit_subs(n->u.s.hash, fn, ctx);
            continue;
        }
        const uint8_t *slash = memchr(topic + f.off, '/', tlen - f.off);
        uint32_t end = slash ? (uint32_t)(slash - topic) : (uint32_t)tlen;
        if (!(dollar && n == b->root)) {
            if (n->u.s.hash) emit_subs(n->u.s.hash, fn, ctx);
            if (n->u.s.plus && sp < cap) st[sp++] = (struct frame){n->u.s.plus, end + 1, f.idx + 1};
        }
        if (n->nkids) {
            uint32_t h, d = f.idx;
            if (d < HASH_CACHE && (hashed >> d & 1)) {
                h = hc[d];
            } else {
                h = level_hash(b, topic + f.off, end - f.off);
                if (d < HASH_CACHE) {
                    hc[d] = h;
                    hashed |= (uint64_t)1 << d;
                }
            }
            struct node *c = kid_find(n, topic + f.off, end - f.off, h);
            if (c && sp < cap) st[sp++] = (struct frame){c, end + 1, f.idx + 1};
        }
    }
}

size_t sub_tree_count(const struct sub_tree *t)
{
    return t->b.count;
}

/* ---- retained messages --------------------------------------------------------- */

struct retained_store *retained_new(void)
{
    struct retained_store *r = calloc(1, sizeof(*r));
    if (r && tree_init(&r->b, true) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

void retained_free(struct retained_store *r)
{
    if (!r) return;
    tree_destroy(&r->b);
    free(r);
}

int retained_set(struct retained_store *r, struct msg *m)
{
    const uint8_t *topic = (const uint8_t *)m->topic;
    if (!valid_len(m->topic_len)) return -1;
    if (m->payload_len == 0) {
        struct node *n = path(&r->b, topic, m->topic_len, false, false);
        if (n && n->u.msg) {
            msg_unref(n->u.msg);
            n->u.msg = NULL;
            r->b.count--;
            prune(&r->b, n);
        }
        return 0;
    }
    if (stack_reserve(&r->b, count_levels(topic, m->topic_len)) != 0) return -1;
    struct node *n = path(&r->b, topic, m->topic_len, false, true);
    if (!n) return -1;
    struct msg *old = n->u.msg;
    n->u.msg = msg_ref(m);
    if (old)
        msg_unref(old);
    else
        r->b.count++;
    return 0;
}

/* Every message below top, top excluded; iterative through the parent links. */
static void emit_subtree(struct node *top, bool skip_dollar, retained_visit_fn fn, void *ctx)
{
    struct node *n = top;
    uint32_t idx = 0;
    for (;;) {
        struct node *c = kid_next(n, &idx, skip_dollar && n == top);
        if (c) {
            if (c->u.msg) fn(ctx, c->u.msg);
            n = c;
            idx = 0;
            continue;
        }
        if (n == top) return;
        idx = kid_slot(n->parent, n) + 1;
        n = n->parent;
    }
}

/* Frames are (node, filter level to match against its children); a '+' frame stays on
 * the stack and advances through the children one by one, so the stack holds one frame
 * per depth. */
void retained_match(struct retained_store *r, const uint8_t *filter, size_t flen,
                    retained_visit_fn fn, void *ctx)
{
    if (!valid_len(flen)) return;
    struct lvtree *b = &r->b;
    struct frame *st = b->stack;
    uint32_t cap = b->stack_cap, sp = 0;
    st[sp++] = (struct frame){b->root, 0, 0};
    while (sp) {
        struct frame *f = &st[sp - 1];
        struct node *n = f->n, *c;
        const uint8_t *slash = memchr(filter + f->off, '/', flen - f->off);
        uint32_t end = slash ? (uint32_t)(slash - filter) : (uint32_t)flen;
        uint32_t klen = end - f->off;
        bool at_root = n == b->root;
        if (klen == 1 && filter[f->off] == '#') {
            sp--;
            if (n->u.msg) fn(ctx, n->u.msg);
            emit_subtree(n, at_root, fn, ctx);
            continue;
        }
        if (klen == 1 && filter[f->off] == '+') {
            c = kid_next(n, &f->idx, at_root);
            if (!c) {
                sp--;
                continue;
            }
        } else {
            sp--;
            c = kid_find(n, filter + f->off, klen, level_hash(b, filter + f->off, klen));
            if (!c) continue;
        }
        if (end == flen) {
            if (c->u.msg) fn(ctx, c->u.msg);
        } else if (sp < cap) {
            st[sp++] = (struct frame){c, end + 1, 0};
        }
    }
}

size_t retained_count(const struct retained_store *r)
{
    return r->b.count;
}
