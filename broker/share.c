/* share: shared subscriptions ($share/GROUP/FILTER, MQTT 5.0 section 4.8.2; 3.1.1 clients
 * may use them too, as with mosquitto). A group sits in the topic tree as one subscriber
 * marked SUBOPT_SHARED_GROUP; each message it matches goes to one member, chosen in turn,
 * preferring members that are online and have inflight room. The group stays alive while
 * it has members or deliveries queued through it (references). */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "log.h"

struct share_member {
    struct session *s;
    uint8_t qos;
    uint8_t opts;
    uint32_t sub_id;
};

struct share_group {
    char *key; /* "$share/GROUP/FILTER" */
    uint16_t key_len;
    uint16_t foff; /* the FILTER part starts here */
    struct share_member *m;
    uint32_t n, cap;
    uint32_t next; /* round-robin position */
    uint32_t refs; /* one while indexed (members), one per delivery waiting through it */
};

#define SHARE_PREFIX "$share/"
#define SHARE_PREFIX_LEN 7

int share_parse(const uint8_t *f, size_t len, struct mqtt_str *group, struct mqtt_str *filter)
{
    if (len < SHARE_PREFIX_LEN || memcmp(f, SHARE_PREFIX, SHARE_PREFIX_LEN) != 0)
        return 0;
    const uint8_t *g = f + SHARE_PREFIX_LEN;
    size_t rest = len - SHARE_PREFIX_LEN;
    const uint8_t *slash = memchr(g, '/', rest);
    if (!slash)
        return -1; /* 4.8.2-2: the share name must be followed by '/' and a filter */
    size_t glen = (size_t)(slash - g);
    if (glen == 0 || memchr(g, '+', glen) || memchr(g, '#', glen))
        return -1; /* 4.8.2-1, 4.8.2-2 */
    if (glen + 1 == rest)
        return -1;
    group->p = g;
    group->len = (uint32_t)glen;
    filter->p = slash + 1;
    filter->len = (uint32_t)(rest - glen - 1);
    return 1;
}

struct share_group *share_ref(struct share_group *g)
{
    g->refs++;
    return g;
}

void share_unref(struct worker *w, struct share_group *g)
{
    (void)w;
    if (--g->refs == 0) {
        free(g->m);
        free(g->key);
        free(g);
    }
}

static struct share_group *group_new(struct worker *w, const uint8_t *full, uint16_t len,
                                     uint16_t foff)
{
    struct share_group *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->key = malloc(len);
    if (!g->key) {
        free(g);
        return NULL;
    }
    memcpy(g->key, full, len);
    g->key_len = len;
    g->foff = foff;
    g->refs = 1;
    if (sub_tree_add(w->subs, full + foff, len - foff, g, SUBOPT_SHARED_GROUP, 0) < 0 ||
        strmap_put(&w->shares, full, len, g) != 0) {
        sub_tree_remove(w->subs, full + foff, len - foff, g);
        share_unref(w, g);
        return NULL;
    }
    return g;
}

int share_join(struct worker *w, struct session *s, const uint8_t *full, uint16_t len, uint8_t qos,
               uint8_t opts, uint32_t sub_id)
{
    struct mqtt_str group, filter;
    if (share_parse(full, len, &group, &filter) != 1)
        return -1;
    struct share_group *g = strmap_get(&w->shares, full, len);
    if (!g && !(g = group_new(w, full, len, (uint16_t)(filter.p - full))))
        return -1;
    for (uint32_t i = 0; i < g->n; i++) {
        if (g->m[i].s == s) {
            g->m[i] = (struct share_member){s, qos, opts, sub_id};
            return 0;
        }
    }
    if (g->n == g->cap) {
        uint32_t ncap = g->cap ? g->cap * 2 : 4;
        struct share_member *m = realloc(g->m, sizeof(*m) * ncap);
        if (!m) {
            if (!g->n) {
                strmap_del(&w->shares, full, len);
                sub_tree_remove(w->subs, full + g->foff, len - g->foff, g);
                share_unref(w, g);
            }
            return -1;
        }
        g->m = m;
        g->cap = ncap;
    }
    g->m[g->n++] = (struct share_member){s, qos, opts, sub_id};
    return 1;
}

bool share_leave(struct worker *w, struct session *s, const uint8_t *full, uint16_t len,
                 bool session_ending)
{
    struct share_group *g = strmap_get(&w->shares, full, len);
    if (!g)
        return false;
    uint32_t i = 0;
    while (i < g->n && g->m[i].s != s)
        i++;
    if (i == g->n)
        return false;
    memmove(&g->m[i], &g->m[i + 1], sizeof(g->m[0]) * (g->n - i - 1));
    g->n--;
    if (g->next > i)
        g->next--;
    share_ref(g); /* kept while its messages move on */
    if (g->n == 0) {
        strmap_del(&w->shares, full, len);
        sub_tree_remove(w->subs, full + g->foff, len - g->foff, g);
        share_unref(w, g); /* no longer indexed */
    }
    session_release_share(w, s, g, session_ending);
    share_unref(w, g);
    return true;
}

/* Next member in turn, best first: online with inflight room, then online, then any. */
static struct share_member *pick(struct worker *w, struct share_group *g, uint8_t qos)
{
    int best_rank = -1;
    uint32_t best = 0;
    for (uint32_t k = 0; k < g->n; k++) {
        uint32_t i = (g->next + k) % g->n;
        struct session *s = g->m[i].s;
        bool online = s->conn && s->conn->state == CS_ACTIVE;
        int rank = !online ? 0 : (qos == 0 || session_infl_room(w, s)) ? 2 : 1;
        if (rank > best_rank) {
            best_rank = rank;
            best = i;
            if (rank == 2)
                break;
        }
    }
    g->next = (best + 1) % g->n;
    return &g->m[best];
}

bool share_deliver(struct worker *w, struct share_group *g, struct msg *m)
{
    if (!g->n)
        return false;
    struct share_member *mb = pick(w, g, m->qos);
    uint8_t qos = m->qos < mb->qos ? m->qos : mb->qos;
    bool retain = (mb->opts & SUBOPT_RETAIN_AS_PUBLISHED) && m->retain;
    struct sub_ids ids = {.n = mb->sub_id ? 1 : 0, .one = mb->sub_id};
    session_deliver5(w, mb->s, m, qos, retain, &ids, g);
    return true;
}

static bool drop_group(void *ctx, const void *key, size_t len, void *value)
{
    (void)key;
    (void)len;
    struct worker *w = ctx;
    struct share_group *g = value;
    g->n = 0;
    share_unref(w, g);
    return true;
}

void share_fini(struct worker *w)
{
    strmap_each(&w->shares, drop_group, w);
    strmap_clear(&w->shares);
}
