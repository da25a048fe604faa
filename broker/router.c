/* router: fan a published message out to every matching session, once each, at the
 * highest QoS any of its matching subscriptions granted (capped by the message's). */
#include <stdlib.h>

#include "broker.h"
#include "log.h"

static void collect(void *ctx, void *subscriber, uint8_t options, uint32_t sub_id)
{
    (void)sub_id;
    struct worker *w = ctx;
    struct session *s = subscriber;
    uint8_t qos = options & 3;
    if (s->match_stamp == w->match_stamp) {
        struct delivery *d = &w->deliv[s->match_slot];
        if (qos > d->qos)
            d->qos = qos;
        return;
    }
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
    w->deliv[w->n_deliv++] = (struct delivery){.s = s, .qos = qos};
}

void route_publish(struct worker *w, struct msg *m)
{
    w->match_stamp++;
    w->n_deliv = 0;
    sub_tree_match(w->subs, (const uint8_t *)m->topic, m->topic_len, collect, w);
    for (uint32_t i = 0; i < w->n_deliv; i++) {
        struct delivery *d = &w->deliv[i];
        session_deliver(w, d->s, m, d->qos < m->qos ? d->qos : m->qos, false);
    }
}

struct retained_ctx {
    struct worker *w;
    struct session *s;
    uint8_t granted;
};

static void deliver_retained(void *ctx, struct msg *m)
{
    struct retained_ctx *rc = ctx;
    session_deliver(rc->w, rc->s, m, m->qos < rc->granted ? m->qos : rc->granted, true);
}

void route_retained_to(struct worker *w, struct session *s, const uint8_t *filter, size_t flen,
                       uint8_t granted)
{
    struct retained_ctx rc = {.w = w, .s = s, .granted = granted};
    retained_match(w->retained, filter, flen, deliver_retained, &rc);
}
