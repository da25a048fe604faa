/* router: fan a published message out to every matching session, once each, at the
 * highest QoS any of its matching subscriptions granted (capped by the message's), with
 * every matching subscription identifier (5.0, 3.3.4-4), and to one member of each matching
 * shared subscription group. No Local keeps a message from the session that published it;
 * Retain As Published keeps its retain flag. */
#include <stdlib.h>

#include "broker.h"
#include "log.h"

/* Appends a subscription id to delivery d's list (bounded by the subscriptions matched). */
static void add_id(struct worker *w, struct delivery *d, uint32_t id)
{
    if (w->n_id_links == w->cap_id_links) {
        uint32_t ncap = w->cap_id_links ? w->cap_id_links * 2 : 64;
        struct id_link *n = realloc(w->id_links, sizeof(*n) * ncap);
        if (!n) {
            log_error("out of memory routing a message; a subscription identifier is missing");
            return;
        }
        w->id_links = n;
        w->cap_id_links = ncap;
    }
    w->id_links[w->n_id_links] = (struct id_link){.id = id, .next = d->ids};
    d->ids = ++w->n_id_links;
    d->n_ids++;
}

static void add_share_hit(struct worker *w, struct share_group *g)
{
    /* A group is one tree entry per filter: each is matched at most once per message. */
    if (w->n_share_hits == w->cap_share_hits) {
        uint32_t ncap = w->cap_share_hits ? w->cap_share_hits * 2 : 16;
        struct share_group **n = realloc(w->share_hits, sizeof(struct share_group *) * ncap);
        if (!n) {
            log_error("out of memory routing a message; a shared subscription is skipped");
            return;
        }
        w->share_hits = n;
        w->cap_share_hits = ncap;
    }
    w->share_hits[w->n_share_hits++] = g;
}

struct route_ctx {
    struct worker *w;
    const struct session *from;
};

static void collect(void *ctx, void *subscriber, uint8_t options, uint32_t sub_id)
{
    struct route_ctx *rc = ctx;
    struct worker *w = rc->w;
    if (options & SUBOPT_SHARED_GROUP) {
        add_share_hit(w, subscriber);
        return;
    }
    struct session *s = subscriber;
    if ((options & SUBOPT_NO_LOCAL) && s == rc->from)
        return; /* 3.8.3-3 */
    uint8_t qos = options & 3;
    bool rap = options & SUBOPT_RETAIN_AS_PUBLISHED;
    struct delivery *d;
    if (s->match_stamp == w->match_stamp) {
        d = &w->deliv[s->match_slot];
        if (qos > d->qos)
            d->qos = qos;
        d->retain |= rap;
    } else {
        if (w->n_deliv == w->cap_deliv) {
            uint32_t ncap = w->cap_deliv ? w->cap_deliv * 2 : 64;
            struct delivery *n = realloc(w->deliv, sizeof(*n) * ncap);
            if (!n) {
                log_error("out of memory routing a message; subscriber skipped");
                return;
            }
            w->deliv = n;
            w->cap_deliv = ncap;
        }
        s->match_stamp = w->match_stamp;
        s->match_slot = w->n_deliv;
        d = &w->deliv[w->n_deliv++];
        *d = (struct delivery){.s = s, .qos = qos, .retain = rap};
    }
    if (sub_id)
        add_id(w, d, sub_id);
}

/* The ids of d as a struct sub_ids; many points into buf when there are several. */
static void gather_ids(const struct worker *w, const struct delivery *d, struct sub_ids *ids,
                       uint32_t *buf)
{
    *ids = (struct sub_ids){.n = d->n_ids};
    uint32_t k = d->n_ids;
    for (uint32_t l = d->ids; l && k; l = w->id_links[l - 1].next)
        buf[--k] = w->id_links[l - 1].id; /* the list is newest first */
    if (k != 0) /* the list is shorter than its count: never, but deliver without ids then */
        ids->n = 0;
    else if (d->n_ids == 1)
        ids->one = buf[0];
    else if (d->n_ids > 1)
        ids->many = buf;
}

uint32_t route_publish_from(struct worker *w, struct msg *m, const struct session *from)
{
    struct route_ctx rc = {w, from};
    w->match_stamp++;
    w->n_deliv = 0;
    w->n_id_links = 0;
    w->n_share_hits = 0;
    sub_tree_match(w->subs, (const uint8_t *)m->topic, m->topic_len, collect, &rc);
    uint32_t *buf = NULL;
    if (w->n_id_links > 1 && !(buf = malloc(sizeof(uint32_t) * w->n_id_links)))
        log_error("out of memory routing a message; subscription identifiers are missing");
    uint32_t one;
    for (uint32_t i = 0; i < w->n_deliv; i++) {
        struct delivery *d = &w->deliv[i];
        struct sub_ids ids = {0};
        if (d->n_ids == 1 || (d->n_ids > 1 && buf))
            gather_ids(w, d, &ids, d->n_ids == 1 ? &one : buf);
        /* 3.3.1-12/13: the live copy keeps its retain flag only with Retain As Published. */
        session_deliver5(w, d->s, m, d->qos < m->qos ? d->qos : m->qos, d->retain && m->retain,
                         &ids, NULL);
    }
    free(buf);
    /* Copy the hits: delivering may route nothing else, but keep the list stable anyway. */
    uint32_t hits = w->n_share_hits, sent = w->n_deliv;
    for (uint32_t i = 0; i < hits; i++)
        sent += share_deliver(w, w->share_hits[i], m);
    return sent;
}

void route_publish(struct worker *w, struct msg *m)
{
    route_publish_from(w, m, NULL);
}

#define EXPIRED_BATCH 64

struct retained_ctx {
    struct worker *w;
    struct session *s;
    uint8_t granted;
    uint32_t sub_id;
    struct msg *expired[EXPIRED_BATCH]; /* found on the way: removed after the walk */
    uint32_t n_expired;
};

static void deliver_retained(void *ctx, struct msg *m)
{
    struct retained_ctx *rc = ctx;
    uint32_t left;
    if (msg_expired(m, rc->w->now, &left)) {
        if (rc->n_expired < EXPIRED_BATCH)
            rc->expired[rc->n_expired++] = msg_ref(m);
        return;
    }
    struct sub_ids ids = {.n = rc->sub_id ? 1 : 0, .one = rc->sub_id};
    /* 3.3.1-9: a retained message sent for a new subscription has RETAIN set. */
    session_deliver5(rc->w, rc->s, m, m->qos < rc->granted ? m->qos : rc->granted, true, &ids,
                     NULL);
}

void route_retained_to(struct worker *w, struct session *s, const uint8_t *filter, size_t flen,
                       uint8_t granted)
{
    route_retained_to5(w, s, filter, flen, granted, 0);
}

void route_retained_to5(struct worker *w, struct session *s, const uint8_t *filter, size_t flen,
                        uint8_t granted, uint32_t sub_id)
{
    struct retained_ctx rc = {.w = w, .s = s, .granted = granted, .sub_id = sub_id};
    retained_match(w->retained, filter, flen, deliver_retained, &rc);
    /* The store may not change during its walk: expired messages go now (3.3.2.3.3). */
    for (uint32_t i = 0; i < rc.n_expired; i++) {
        struct msg *old = rc.expired[i];
        struct msg *clear = msg_new((const uint8_t *)old->topic, old->topic_len, NULL, 0, 0, true);
        if (clear && retained_set(w->retained, clear) != 0)
            log_error("out of memory clearing an expired retained message");
        msg_unref(clear);
        msg_unref(old);
    }
}
