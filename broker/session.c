/* session: per-client-id state that may outlive a connection: subscriptions, outgoing
 * QoS 1/2 messages in flight and queued, inbound QoS 2 ids, cached publish verdicts, and
 * (5.0) its expiry and a will waiting out its delay. */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "log.h"
#include "ring.h"

/* Bookkeeping for session_sweep: the earliest time something is due. */
static void schedule(struct worker *w, uint64_t at)
{
    if (at && (!w->next_expiry || at < w->next_expiry))
        w->next_expiry = at;
}

struct session *session_new(struct worker *w, const uint8_t *id, uint16_t id_len, bool clean)
{
    if (strmap_count(&w->sessions) >= w->lim->max_sessions)
        return NULL;
    struct session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->client_id = malloc((size_t)id_len + 1);
    if (!s->client_id || strmap_put(&w->sessions, id, id_len, s) != 0) {
        free(s->client_id);
        free(s->infl);
        free(s);
        return NULL;
    }
    memcpy(s->client_id, id, id_len);
    s->client_id[id_len] = '\0';
    s->id_len = id_len;
    s->clean = clean;
    s->expiry_s = clean ? 0 : UINT32_MAX;
    s->next_pid = 1;
    s->checked_gen = w->generation; /* decided under the current policy already */
    strmap_init(&s->verdicts);
    return s;
}

void sub_ids_free(struct sub_ids *ids)
{
    if (ids->n > 1)
        free(ids->many);
    ids->n = 0;
    ids->many = NULL;
}

int sub_ids_copy(struct sub_ids *dst, const struct sub_ids *src)
{
    *dst = (struct sub_ids){0};
    if (!src || !src->n)
        return 0;
    if (src->n == 1) {
        *dst = (struct sub_ids){.n = 1, .one = src->one};
        return 0;
    }
    dst->many = malloc(sizeof(uint32_t) * src->n);
    if (!dst->many)
        return -1;
    memcpy(dst->many, src->many, sizeof(uint32_t) * src->n);
    dst->n = src->n;
    return 0;
}

static void release_delivery(struct worker *w, struct msg *m, struct sub_ids *ids,
                             struct share_group *share)
{
    msg_unref(m);
    sub_ids_free(ids);
    if (share)
        share_unref(w, share);
}

void session_destroy(struct worker *w, struct session *s)
{
    strmap_del(&w->sessions, s->client_id, s->id_len);
    /* Shared memberships first: what waits here for a group goes to its other members. */
    for (uint32_t i = 0; i < s->n_subs; i++) {
        struct sub_rec *r = &s->subs[i];
        if (r->shared)
            share_leave(w, s, (const uint8_t *)r->filter, r->len, true);
        else
            sub_tree_remove(w->subs, (const uint8_t *)r->filter, r->len, s);
        free(r->filter);
    }
    free(s->subs);
    for (uint32_t i = 0; i < s->n_infl; i++) {
        struct inflight *f = &s->infl[(s->infl_head + i) % s->cap_infl];
        release_delivery(w, f->msg, &f->ids, f->share);
    }
    free(s->infl);
    for (uint32_t i = 0; i < s->q_len; i++) {
        struct queued *q = &s->queue[(s->q_head + i) % s->q_cap];
        release_delivery(w, q->msg, &q->ids, q->share);
    }
    free(s->queue);
    free(s->qos2_in);
    msg_unref(s->will);
    session_verdicts_clear(s);
    if (s->reqs_in_flight)
        auth_client_forget_session(w, s);
    free(s->client_id);
    free(s->owner);
    free(s);
}

/* A will published on the client's behalf (a delayed one, or at the session's end). */
static void publish_parked_will(struct worker *w, struct session *s)
{
    struct msg *m = s->will;
    s->will = NULL;
    msg_start_expiry(m, w->now);
    if (m->retain && retained_set(w->retained, m) != 0)
        log_error("out of memory storing a retained will");
    route_publish(w, m);
    msg_unref(m);
}

void session_end(struct worker *w, struct session *s)
{
    if (s->will)
        publish_parked_will(w, s);
    session_destroy(w, s);
}

void session_offline(struct worker *w, struct session *s)
{
    if (s->clean) {
        session_end(w, s);
        return;
    }
    if (s->expiry_s != UINT32_MAX) {
        s->expires_at = w->now + (uint64_t)s->expiry_s * 1000u;
        if (!s->expires_at)
            s->expires_at = 1;
        schedule(w, s->expires_at);
    }
    if (s->will)
        schedule(w, s->will_at);
}

void session_online(struct worker *w, struct session *s, struct conn *c)
{
    (void)w;
    (void)c;
    /* 3.1.3.2.2: a new connection before the delay is over cancels the will. */
    msg_unref(s->will);
    s->will = NULL;
    s->will_at = 0;
    s->expires_at = 0;
}

struct sweep_list {
    struct session **s;
    size_t n, cap;
};

static bool collect_due(void *ctx, const void *key, size_t len, void *value)
{
    (void)key;
    (void)len;
    struct sweep_list *l = ctx;
    struct session *s = value;
    if (!s->conn && (s->expires_at || s->will) && l->n < l->cap)
        l->s[l->n++] = s;
    return false;
}

void session_sweep(struct worker *w)
{
    if (!w->next_expiry || w->now < w->next_expiry)
        return;
    w->next_expiry = 0;
    struct sweep_list l = {.cap = strmap_count(&w->sessions)};
    l.s = malloc(sizeof(struct session *) * (l.cap ? l.cap : 1));
    if (!l.s) {
        w->next_expiry = w->now + 1000; /* try again soon */
        return;
    }
    strmap_each(&w->sessions, collect_due, &l);
    for (size_t i = 0; i < l.n; i++) {
        struct session *s = l.s[i];
        if (s->will && s->will_at <= w->now)
            publish_parked_will(w, s);
        /* Publishing may end sessions too (a will to a clean session's subscriber cannot,
         * but stay safe): a session still listed is checked in the map first. */
        if (strmap_get(&w->sessions, s->client_id, s->id_len) != s)
            continue;
        if (s->expires_at && s->expires_at <= w->now) {
            char id[96];
            log_debug("session \"%s\" expired",
                      log_sanitize((const uint8_t *)s->client_id, s->id_len, id, sizeof(id)));
            session_end(w, s);
            continue;
        }
        schedule(w, s->expires_at);
        if (s->will)
            schedule(w, s->will_at);
    }
    free(l.s);
}

int session_set_owner(struct session *s, const char *principal, uint16_t len)
{
    char *o = malloc(len ? len : 1);
    if (!o)
        return -1;
    if (len)
        memcpy(o, principal, len);
    free(s->owner);
    s->owner = o;
    s->owner_len = len;
    return 0;
}

static bool pid_in_use(const struct session *s, uint16_t pid)
{
    for (uint32_t i = 0; i < s->n_infl; i++)
        if (s->infl[(s->infl_head + i) % s->cap_infl].pid == pid)
            return true;
    return false;
}

static uint16_t next_pid(struct session *s)
{
    for (;;) {
        uint16_t pid = s->next_pid++;
        if (s->next_pid == 0)
            s->next_pid = 1;
        if (pid && !pid_in_use(s, pid))
            return pid;
    }
}

/* max_inflight, and at 5.0 the client's Receive Maximum (3.3.4-9). */
static uint32_t infl_cap(struct worker *w, const struct session *s)
{
    uint32_t cap = w->lim->max_inflight;
    const struct conn *c = s->conn;
    if (c && c->proto >= MQTT_PROTO_5 && c->v5.client_recv_max && c->v5.client_recv_max < cap)
        cap = c->v5.client_recv_max;
    return cap;
}

/* The inflight ring grows on demand up to max_inflight, so an idle session costs nothing. */
bool session_infl_room(struct worker *w, struct session *s)
{
    if (s->n_infl >= infl_cap(w, s))
        return false;
    if (s->n_infl < s->cap_infl)
        return true;
    uint32_t ncap = s->cap_infl ? s->cap_infl * 2 : 4;
    if (ncap > w->lim->max_inflight)
        ncap = w->lim->max_inflight;
    struct inflight *n =
        ring_regrow(s->infl, s->infl_head, s->n_infl, s->cap_infl, ncap, sizeof(*n));
    if (!n)
        return false;
    s->infl = n;
    s->cap_infl = ncap;
    s->infl_head = 0;
    return true;
}

/* Sends m now under a new packet id (caller checked session_infl_room). The references to
 * m and share and the ids pass to the inflight slot. */
static void send_inflight(struct worker *w, struct session *s, struct msg *m, uint8_t qos,
                          bool retain, struct sub_ids *ids, struct share_group *share)
{
    struct inflight *f = &s->infl[(s->infl_head + s->n_infl) % s->cap_infl];
    f->msg = m;
    f->pid = next_pid(s);
    f->qos = qos;
    f->retain = retain;
    f->rel_sent = false;
    f->ids = *ids;
    f->share = share;
    s->n_infl++;
    conn_send_publish5(w, s->conn, m, qos, false, retain, f->pid, &f->ids);
}

static bool queue_push(struct worker *w, struct session *s, struct msg *m, uint8_t qos, bool retain,
                       const struct sub_ids *ids, struct share_group *share)
{
    if (s->q_len >= w->lim->max_queued_messages) {
        s->q_dropped++;
        if ((s->q_dropped & (s->q_dropped - 1)) == 0) /* log at powers of two, not per drop */
            log_warn("session queue full for client \"%.64s\": %llu messages dropped", s->client_id,
                     (unsigned long long)s->q_dropped);
        return false;
    }
    if (s->q_len == s->q_cap) {
        uint32_t ncap = s->q_cap ? s->q_cap * 2 : 16;
        if (ncap > w->lim->max_queued_messages)
            ncap = w->lim->max_queued_messages;
        struct queued *nq = ring_regrow(s->queue, s->q_head, s->q_len, s->q_cap, ncap, sizeof(*nq));
        if (!nq)
            return false;
        s->queue = nq;
        s->q_cap = ncap;
        s->q_head = 0;
    }
    struct queued q = {.msg = m, .qos = qos, .retain = retain};
    if (sub_ids_copy(&q.ids, ids) != 0)
        return false;
    msg_ref(m);
    q.share = share ? share_ref(share) : NULL;
    s->queue[(s->q_head + s->q_len) % s->q_cap] = q;
    s->q_len++;
    return true;
}

/* 3.3.2.3.3: a message past its expiry that has not started on its way is dropped; so is one
 * now too large for the client (3.1.2.11.4: as if it had been sent). */
static bool still_sendable(struct worker *w, struct session *s, struct msg *m, uint8_t qos,
                           const struct sub_ids *ids)
{
    uint32_t left;
    if (msg_expired(m, w->now, &left))
        return false;
    if (s->conn && !conn_publish_fits(s->conn, m, qos, ids)) {
        s->too_large++;
        return false;
    }
    return true;
}

static void pump(struct worker *w, struct session *s)
{
    while (s->conn && s->conn->state == CS_ACTIVE && s->q_len && session_infl_room(w, s)) {
        struct queued q = s->queue[s->q_head];
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
        if (!still_sendable(w, s, q.msg, q.qos, &q.ids)) {
            release_delivery(w, q.msg, &q.ids, q.share);
            continue;
        }
        send_inflight(w, s, q.msg, q.qos, q.retain, &q.ids, q.share);
    }
}

void session_deliver5(struct worker *w, struct session *s, struct msg *m, uint8_t qos, bool retain,
                      const struct sub_ids *ids, struct share_group *share)
{
    bool online = s->conn && s->conn->state == CS_ACTIVE;
    if (!still_sendable(w, s, m, qos, ids))
        return;
    if (qos == 0) {
        if (online)
            conn_send_publish5(w, s->conn, m, 0, false, retain, 0, ids);
        return; /* QoS 0 is never queued for an offline session */
    }
    if (online && s->q_len == 0 && session_infl_room(w, s)) {
        struct sub_ids copy;
        if (sub_ids_copy(&copy, ids) != 0)
            return;
        send_inflight(w, s, msg_ref(m), qos, retain, &copy, share ? share_ref(share) : NULL);
    } else {
        queue_push(w, s, m, qos, retain, ids, share);
    }
}

void session_deliver(struct worker *w, struct session *s, struct msg *m, uint8_t qos, bool retain)
{
    session_deliver5(w, s, m, qos, retain, NULL, NULL);
}

static struct inflight *find_inflight(struct session *s, uint16_t pid, uint32_t *pos)
{
    for (uint32_t i = 0; i < s->n_infl; i++) {
        struct inflight *f = &s->infl[(s->infl_head + i) % s->cap_infl];
        if (f->pid == pid) {
            *pos = i;
            return f;
        }
    }
    return NULL;
}

static void remove_inflight(struct worker *w, struct session *s, uint32_t pos)
{
    struct inflight *f = &s->infl[(s->infl_head + pos) % s->cap_infl];
    release_delivery(w, f->msg, &f->ids, f->share);
    /* Acks usually come in order: removing the head is O(1); otherwise close the gap. */
    for (uint32_t i = pos; i > 0; i--)
        s->infl[(s->infl_head + i) % s->cap_infl] = s->infl[(s->infl_head + i - 1) % s->cap_infl];
    s->infl_head = (s->infl_head + 1) % s->cap_infl;
    s->n_infl--;
}

void session_resume(struct worker *w, struct session *s)
{
    for (uint32_t i = 0; i < s->n_infl;) {
        struct inflight *f = &s->infl[(s->infl_head + i) % s->cap_infl];
        if (f->rel_sent) {
            conn_send_ack(w, s->conn, MQTT_PUBREL, f->pid);
        } else if (!conn_publish_fits(s->conn, f->msg, f->qos, &f->ids)) {
            s->too_large++; /* the reconnected client takes less now: as if delivered */
            remove_inflight(w, s, i);
            continue;
        } else {
            conn_send_publish5(w, s->conn, f->msg, f->qos, true, f->retain, f->pid, &f->ids);
        }
        i++;
    }
    pump(w, s);
}

void session_puback(struct worker *w, struct session *s, uint16_t pid)
{
    uint32_t pos;
    struct inflight *f = find_inflight(s, pid, &pos);
    if (f && f->qos == 1) {
        remove_inflight(w, s, pos);
        pump(w, s);
    }
}

void session_pubrec5(struct worker *w, struct session *s, uint16_t pid, uint8_t reason)
{
    uint32_t pos;
    struct inflight *f = find_inflight(s, pid, &pos);
    if (!f || f->qos != 2)
        return;
    if (reason >= 0x80 && !f->rel_sent) {
        /* 4.3.3: a refusal ends the exchange; nothing more is sent for this id, and a
         * shared subscription does not try another member (4.8.2-6). */
        remove_inflight(w, s, pos);
        pump(w, s);
        return;
    }
    if (!f->rel_sent) {
        f->rel_sent = true;
        msg_unref(f->msg); /* delivered: only the id matters now */
        f->msg = NULL;
    }
    conn_send_ack(w, s->conn, MQTT_PUBREL, pid);
}

void session_pubrec(struct worker *w, struct session *s, uint16_t pid)
{
    session_pubrec5(w, s, pid, 0);
}

void session_pubcomp(struct worker *w, struct session *s, uint16_t pid)
{
    uint32_t pos;
    struct inflight *f = find_inflight(s, pid, &pos);
    if (f && f->qos == 2 && f->rel_sent) {
        remove_inflight(w, s, pos);
        pump(w, s);
    }
}

bool session_qos2_has(struct session *s, uint16_t pid)
{
    return s->qos2_in && (s->qos2_in[pid >> 3] & (1u << (pid & 7)));
}

int session_qos2_add(struct worker *w, struct session *s, uint16_t pid)
{
    if (session_qos2_has(s, pid))
        return 0;
    if (s->n_qos2_in >= w->lim->max_inbound_qos2)
        return -1;
    if (!s->qos2_in && !(s->qos2_in = calloc(8192, 1)))
        return -1;
    s->qos2_in[pid >> 3] |= (uint8_t)(1u << (pid & 7));
    s->n_qos2_in++;
    return 0;
}

void session_qos2_del(struct session *s, uint16_t pid)
{
    if (session_qos2_has(s, pid)) {
        s->qos2_in[pid >> 3] &= (uint8_t) ~(1u << (pid & 7));
        s->n_qos2_in--;
    }
}

static struct sub_rec *find_sub(struct session *s, const uint8_t *f, uint16_t len)
{
    for (uint32_t i = 0; i < s->n_subs; i++)
        if (s->subs[i].len == len && memcmp(s->subs[i].filter, f, len) == 0)
            return &s->subs[i];
    return NULL;
}

/* The tree (or the shared group) entry of one subscription. */
static int index_sub(struct worker *w, struct session *s, const uint8_t *f, uint16_t len,
                     bool shared, uint8_t qos, uint8_t opts, uint32_t sub_id)
{
    if (shared)
        return share_join(w, s, f, len, qos, opts, sub_id);
    return sub_tree_add(w->subs, f, len, s, (uint8_t)(qos | opts), sub_id);
}

static void unindex_sub(struct worker *w, struct session *s, const uint8_t *f, uint16_t len,
                        bool shared)
{
    if (shared)
        share_leave(w, s, f, len, false);
    else
        sub_tree_remove(w->subs, f, len, s);
}

int session_add_sub5(struct worker *w, struct session *s, const uint8_t *f, uint16_t len,
                     uint8_t qos, uint8_t opts, uint32_t sub_id, bool *existed)
{
    struct mqtt_str g, flt;
    bool shared = share_parse(f, len, &g, &flt) == 1;
    opts &= SUBOPT_NO_LOCAL | SUBOPT_RETAIN_AS_PUBLISHED | 0x30;
    struct sub_rec *r = find_sub(s, f, len);
    *existed = r != NULL;
    if (index_sub(w, s, f, len, shared, qos, opts, sub_id) < 0)
        return -1;
    if (r) {
        r->qos = qos;
        r->opts = opts;
        r->sub_id = sub_id;
        return 0;
    }
    if (s->n_subs == s->cap_subs) {
        uint32_t ncap = s->cap_subs ? s->cap_subs * 2 : 4;
        struct sub_rec *n = realloc(s->subs, sizeof(*n) * ncap);
        if (!n) {
            unindex_sub(w, s, f, len, shared);
            return -1;
        }
        s->subs = n;
        s->cap_subs = ncap;
    }
    char *copy = malloc(len ? len : 1);
    if (!copy) {
        unindex_sub(w, s, f, len, shared);
        return -1;
    }
    memcpy(copy, f, len);
    s->subs[s->n_subs++] = (struct sub_rec){
        .filter = copy, .len = len, .qos = qos, .opts = opts, .sub_id = sub_id, .shared = shared};
    return 0;
}

int session_add_sub(struct worker *w, struct session *s, const uint8_t *f, uint16_t len,
                    uint8_t qos)
{
    /* A change of QoS alone (a re-check's downgrade) keeps the 5.0 options and identifier. */
    const struct sub_rec *r = find_sub(s, f, len);
    bool existed;
    return session_add_sub5(w, s, f, len, qos, r ? r->opts : 0, r ? r->sub_id : 0, &existed);
}

bool session_del_sub(struct worker *w, struct session *s, const uint8_t *f, uint16_t len)
{
    struct sub_rec *r = find_sub(s, f, len);
    if (!r)
        return false;
    unindex_sub(w, s, f, len, r->shared);
    free(r->filter);
    *r = s->subs[--s->n_subs];
    return true;
}

const struct verdict *session_verdict_get(struct worker *w, struct session *s, const uint8_t *t,
                                          size_t len)
{
    const struct verdict *v = strmap_get(&s->verdicts, t, len);
    return v && v->generation == w->generation ? v : NULL;
}

static bool free_verdict(void *ctx, const void *key, size_t len, void *value)
{
    (void)ctx;
    (void)key;
    (void)len;
    free(value);
    return true;
}

void session_verdicts_clear(struct session *s)
{
    strmap_each(&s->verdicts, free_verdict, NULL);
    strmap_clear(&s->verdicts);
}

void session_verdict_put(struct worker *w, struct session *s, const uint8_t *t, size_t len,
                         const struct verdict *v)
{
    struct verdict *old = strmap_get(&s->verdicts, t, len);
    if (old) {
        *old = *v;
        return;
    }
    if (strmap_count(&s->verdicts) >= w->lim->verdict_cache_size)
        session_verdicts_clear(s); /* bounded: start over rather than grow */
    struct verdict *n = malloc(sizeof(*n));
    if (!n)
        return;
    *n = *v;
    if (strmap_put(&s->verdicts, t, len, n) != 0)
        free(n);
}

void session_release_share(struct worker *w, struct session *s, struct share_group *g, bool ending)
{
    /* Take the entries out first, then hand them on: delivering may touch other sessions
     * only, but the rings here must be consistent before anything else runs. */
    uint32_t kept = 0, n = s->q_len;
    struct queued *moved = malloc(sizeof(*moved) * (n + s->n_infl + 1));
    uint32_t n_moved = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct queued q = s->queue[(s->q_head + i) % s->q_cap];
        if (q.share == g && moved)
            moved[n_moved++] = q;
        else
            s->queue[(s->q_head + kept++) % s->q_cap] = q;
    }
    s->q_len = kept;
    for (uint32_t i = 0; ending && moved && i < s->n_infl;) {
        struct inflight *f = &s->infl[(s->infl_head + i) % s->cap_infl];
        if (f->share == g && f->qos == 1 && f->msg) {
            moved[n_moved++] = (struct queued){.msg = msg_ref(f->msg), .qos = 1};
            remove_inflight(w, s, i);
            continue;
        }
        i++;
    }
    for (uint32_t i = 0; i < n_moved; i++) {
        share_deliver(w, g, moved[i].msg);
        release_delivery(w, moved[i].msg, &moved[i].ids, moved[i].share);
    }
    free(moved);
}
