/* session: per-client-id state that may outlive a connection: subscriptions, outgoing
 * QoS 1/2 messages in flight and queued, inbound QoS 2 ids, cached publish verdicts. */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "log.h"
#include "ring.h"

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
    s->next_pid = 1;
    s->checked_gen = w->generation; /* decided under the current policy already */
    strmap_init(&s->verdicts);
    return s;
}

void session_destroy(struct worker *w, struct session *s)
{
    strmap_del(&w->sessions, s->client_id, s->id_len);
    for (uint32_t i = 0; i < s->n_subs; i++) {
        sub_tree_remove(w->subs, (const uint8_t *)s->subs[i].filter, s->subs[i].len, s);
        free(s->subs[i].filter);
    }
    free(s->subs);
    for (uint32_t i = 0; i < s->n_infl; i++)
        msg_unref(s->infl[(s->infl_head + i) % s->cap_infl].msg);
    free(s->infl);
    for (uint32_t i = 0; i < s->q_len; i++)
        msg_unref(s->queue[(s->q_head + i) % s->q_cap].msg);
    free(s->queue);
    free(s->qos2_in);
    session_verdicts_clear(s);
    if (s->reqs_in_flight)
        auth_client_forget_session(w, s);
    free(s->client_id);
    free(s->owner);
    free(s);
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

/* The inflight ring grows on demand up to max_inflight, so an idle session costs nothing. */
static bool infl_room(struct worker *w, struct session *s)
{
    if (s->n_infl >= w->lim->max_inflight)
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

/* Sends m now under a new packet id (caller checked infl_room). */
static void send_inflight(struct worker *w, struct session *s, struct msg *m, uint8_t qos,
                          bool retain)
{
    struct inflight *f = &s->infl[(s->infl_head + s->n_infl) % s->cap_infl];
    f->msg = m; /* the reference passes to the inflight slot */
    f->pid = next_pid(s);
    f->qos = qos;
    f->retain = retain;
    f->rel_sent = false;
    s->n_infl++;
    conn_send_publish(w, s->conn, m, qos, false, retain, f->pid);
}

static bool queue_push(struct worker *w, struct session *s, struct msg *m, uint8_t qos, bool retain)
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
    s->queue[(s->q_head + s->q_len) % s->q_cap] =
        (struct queued){.msg = msg_ref(m), .qos = qos, .retain = retain};
    s->q_len++;
    return true;
}

static void pump(struct worker *w, struct session *s)
{
    while (s->conn && s->conn->state == CS_ACTIVE && s->q_len && infl_room(w, s)) {
        struct queued q = s->queue[s->q_head];
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
        send_inflight(w, s, q.msg, q.qos, q.retain);
    }
}

void session_deliver(struct worker *w, struct session *s, struct msg *m, uint8_t qos, bool retain)
{
    bool online = s->conn && s->conn->state == CS_ACTIVE;
    if (qos == 0) {
        if (online)
            conn_send_publish(w, s->conn, m, 0, false, retain, 0);
        return; /* QoS 0 is never queued for an offline session */
    }
    if (online && s->q_len == 0 && infl_room(w, s))
        send_inflight(w, s, msg_ref(m), qos, retain);
    else
        queue_push(w, s, m, qos, retain);
}

void session_resume(struct worker *w, struct session *s)
{
    for (uint32_t i = 0; i < s->n_infl; i++) {
        struct inflight *f = &s->infl[(s->infl_head + i) % s->cap_infl];
        if (f->rel_sent)
            conn_send_ack(w, s->conn, MQTT_PUBREL, f->pid);
        else
            conn_send_publish(w, s->conn, f->msg, f->qos, true, f->retain, f->pid);
    }
    pump(w, s);
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

static void remove_inflight(struct session *s, uint32_t pos)
{
    struct inflight *f = &s->infl[(s->infl_head + pos) % s->cap_infl];
    msg_unref(f->msg);
    /* Acks usually come in order: removing the head is O(1); otherwise close the gap. */
    for (uint32_t i = pos; i > 0; i--)
        s->infl[(s->infl_head + i) % s->cap_infl] = s->infl[(s->infl_head + i - 1) % s->cap_infl];
    s->infl_head = (s->infl_head + 1) % s->cap_infl;
    s->n_infl--;
}

void session_puback(struct worker *w, struct session *s, uint16_t pid)
{
    uint32_t pos;
    struct inflight *f = find_inflight(s, pid, &pos);
    if (f && f->qos == 1) {
        remove_inflight(s, pos);
        pump(w, s);
    }
}

void session_pubrec(struct worker *w, struct session *s, uint16_t pid)
{
    uint32_t pos;
    struct inflight *f = find_inflight(s, pid, &pos);
    if (!f || f->qos != 2)
        return;
    if (!f->rel_sent) {
        f->rel_sent = true;
        msg_unref(f->msg); /* delivered: only the id matters now */
        f->msg = NULL;
    }
    conn_send_ack(w, s->conn, MQTT_PUBREL, pid);
}

void session_pubcomp(struct worker *w, struct session *s, uint16_t pid)
{
    uint32_t pos;
    struct inflight *f = find_inflight(s, pid, &pos);
    if (f && f->qos == 2 && f->rel_sent) {
        remove_inflight(s, pos);
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

int session_add_sub(struct worker *w, struct session *s, const uint8_t *f, uint16_t len,
                    uint8_t qos)
{
    int r = sub_tree_add(w->subs, f, len, s, qos, 0);
    if (r < 0)
        return -1;
    for (uint32_t i = 0; i < s->n_subs; i++) {
        if (s->subs[i].len == len && memcmp(s->subs[i].filter, f, len) == 0) {
            s->subs[i].qos = qos;
            return 0;
        }
    }
    if (s->n_subs == s->cap_subs) {
        uint32_t ncap = s->cap_subs ? s->cap_subs * 2 : 4;
        struct sub_rec *n = realloc(s->subs, sizeof(*n) * ncap);
        if (!n) {
            sub_tree_remove(w->subs, f, len, s);
            return -1;
        }
        s->subs = n;
        s->cap_subs = ncap;
    }
    char *copy = malloc(len ? len : 1);
    if (!copy) {
        sub_tree_remove(w->subs, f, len, s);
        return -1;
    }
    memcpy(copy, f, len);
    s->subs[s->n_subs++] = (struct sub_rec){.filter = copy, .len = len, .qos = qos};
    return 0;
}

bool session_del_sub(struct worker *w, struct session *s, const uint8_t *f, uint16_t len)
{
    bool removed = sub_tree_remove(w->subs, f, len, s);
    for (uint32_t i = 0; i < s->n_subs; i++) {
        if (s->subs[i].len == len && memcmp(s->subs[i].filter, f, len) == 0) {
            free(s->subs[i].filter);
            s->subs[i] = s->subs[--s->n_subs];
            break;
        }
    }
    return removed;
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
