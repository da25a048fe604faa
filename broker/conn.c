/* conn: one client connection's socket, output queue and lifecycle. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "broker.h"
#include "tls.h"
#include "log.h"

#define FLUSH_IOV 256
#define OUT_FREE_MAX 4096

struct conn *conn_new(struct worker *w, int fd)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->h.kind = H_CONN;
    c->h.fd = fd;
    c->id = ++w->next_conn_id;
    c->state = CS_WAIT_CONNECT;
    c->created_ms = c->last_rx_ms = w->now;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
    return c;
}

static struct out_item *out_alloc(struct worker *w)
{
    struct out_item *it = w->out_free;
    if (it) {
        w->out_free = it->next;
        w->out_items_free_count--;
    } else {
        it = malloc(sizeof(*it));
        if (!it)
            return NULL;
    }
    memset(it, 0, sizeof(*it));
    return it;
}

static void out_release(struct worker *w, struct out_item *it)
{
    msg_unref(it->msg);
    free(it->big);
    if (it->mid != it->mid_inline)
        free(it->mid);
    if (w->out_items_free_count < OUT_FREE_MAX) {
        it->next = w->out_free;
        w->out_free = it;
        w->out_items_free_count++;
    } else {
        free(it);
    }
}

void conn_mark_dirty(struct worker *w, struct conn *c)
{
    if (!c->dirty && c->state != CS_CLOSED) {
        c->dirty = true;
        c->dirty_next = w->dirty;
        w->dirty = c;
    }
}

static void out_append(struct worker *w, struct conn *c, struct out_item *it)
{
    it->next = NULL;
    if (c->out_tail)
        c->out_tail->next = it;
    else
        c->out_head = it;
    c->out_tail = it;
    c->out_bytes += it->len;
    conn_mark_dirty(w, c);
}

bool conn_output_full(const struct worker *w, const struct conn *c)
{
    return c->out_bytes >= w->lim->max_queued_bytes;
}

int conn_send_bytes(struct worker *w, struct conn *c, const uint8_t *p, size_t len)
{
    /* An empty item would never leave the queue (a failed encoder returns 0). */
    if (c->state == CS_CLOSED || len == 0 || len > UINT32_MAX)
        return -1;
    struct out_item *it = out_alloc(w);
    if (!it)
        return -1;
    if (len <= sizeof(it->head)) {
        memcpy(it->head, p, len);
        it->head_len = (uint8_t)len;
    } else {
        it->big = malloc(len);
        if (!it->big) {
            out_release(w, it);
            return -1;
        }
        memcpy(it->big, p, len);
    }
    it->len = (uint32_t)len;
    out_append(w, c, it);
    return 0;
}

void conn_send_ack(struct worker *w, struct conn *c, uint8_t type, uint16_t pid)
{
    uint8_t b[4];
    size_t n = mqtt_encode_ack(b, sizeof(b), type, pid);
    conn_send_bytes(w, c, b, n);
}

void conn_send_ack5(struct worker *w, struct conn *c, uint8_t type, uint16_t pid, uint8_t reason)
{
    if (c->proto < MQTT_PROTO_5) {
        conn_send_ack(w, c, type, pid);
        return;
    }
    uint8_t b[8];
    size_t n = mqtt_encode_ack5(b, sizeof(b), type, pid, reason, NULL, 0);
    conn_send_bytes(w, c, b, n);
}

bool conn_send_publish(struct worker *w, struct conn *c, struct msg *m, uint8_t qos, bool dup,
                       bool retain, uint16_t pid)
{
    return conn_send_publish5(w, c, m, qos, dup, retain, pid, NULL);
}

/* Bytes of the per-delivery 5.0 properties: Message Expiry Interval (time left) and the
 * subscription identifiers. */
static size_t delivery_props_len(const struct msg *m, const struct sub_ids *ids)
{
    size_t n = m->expire_at ? 5 : 0;
    for (uint32_t i = 0; ids && i < ids->n; i++)
        n += 1 + mqtt_varint_size(ids->n == 1 ? ids->one : ids->many[i]);
    return n;
}

uint64_t conn_publish_size(const struct conn *c, const struct msg *m, uint8_t qos,
                           const struct sub_ids *ids)
{
    if (c->proto < MQTT_PROTO_5)
        return 1u + 4u + 2u + m->topic_len + (qos ? 2u : 0u) + m->payload_len;
    size_t plen = delivery_props_len(m, ids) + m->props_len;
    return mqtt_publish5_size(qos, m->topic_len, plen, m->payload_len);
}

bool conn_publish_fits(const struct conn *c, const struct msg *m, uint8_t qos,
                       const struct sub_ids *ids)
{
    if (c->proto < MQTT_PROTO_5 || !c->v5.max_out_packet)
        return true;
    uint64_t size = conn_publish_size(c, m, qos, ids);
    return size && size <= c->v5.max_out_packet;
}

/* The mid segment of a 5.0 PUBLISH: packet id, property length, this delivery's properties.
 * Returns its length, or 0 on allocation failure. */
static size_t fill_mid5(struct worker *w, struct out_item *it, const struct msg *m, uint8_t qos,
                        uint16_t pid, const struct sub_ids *ids, uint32_t *plen)
{
    size_t own = delivery_props_len(m, ids);
    *plen = (uint32_t)(own + m->props_len);
    size_t need = (qos ? 2u : 0u) + mqtt_varint_size(*plen) + own;
    it->mid = need <= OUT_MID_INLINE ? it->mid_inline : malloc(need);
    if (!it->mid)
        return 0;
    struct mqtt_pbuf b;
    mqtt_pbuf_init(&b, it->mid, need);
    if (qos) {
        uint8_t id[2] = {(uint8_t)(pid >> 8), (uint8_t)pid};
        mqtt_pbuf_raw(&b, id, 2);
    }
    uint8_t vi[4];
    mqtt_pbuf_raw(&b, vi, mqtt_varint_encode(vi, *plen));
    uint32_t left = 1; /* expiring this very moment (callers skip expired ones): 1 s left */
    if (m->expire_at) {
        (void)msg_expired(m, w->now, &left);
        mqtt_pbuf_u32(&b, MQTT_PROP_MESSAGE_EXPIRY, left);
    }
    for (uint32_t i = 0; ids && i < ids->n; i++)
        mqtt_pbuf_varint(&b, MQTT_PROP_SUBSCRIPTION_ID, ids->n == 1 ? ids->one : ids->many[i]);
    /* The head already counts need bytes: anything else would corrupt the stream. */
    return b.failed || b.len != need ? 0 : b.len;
}

bool conn_send_publish5(struct worker *w, struct conn *c, struct msg *m, uint8_t qos, bool dup,
                        bool retain, uint16_t pid, const struct sub_ids *ids)
{
    if (c->state == CS_CLOSED)
        return false;
    if (qos == 0 && conn_output_full(w, c)) {
        c->dropped++;
        return false;
    }
    if (!conn_publish_fits(c, m, qos, ids)) {
        c->v5.too_large++;
        return false;
    }
    struct out_item *it = out_alloc(w);
    if (!it)
        return false;
    it->msg = msg_ref(m);
    if (c->proto >= MQTT_PROTO_5) {
        uint32_t plen;
        size_t n = fill_mid5(w, it, m, qos, pid, ids, &plen);
        if (!n || n > UINT16_MAX) { /* e.g. thousands of subscription ids: not sendable */
            out_release(w, it);
            return false;
        }
        it->v5 = true;
        it->mid_len = (uint16_t)n;
        it->head_len = (uint8_t)mqtt_encode_publish_head5(it->head, qos, dup, retain, m->topic_len,
                                                          plen, m->payload_len);
        it->len = it->head_len + m->topic_len + it->mid_len + m->props_len + m->payload_len;
    } else {
        it->mid = it->mid_inline;
        it->head_len = (uint8_t)mqtt_encode_publish_head(it->head, qos, dup, retain, m->topic_len,
                                                         m->payload_len);
        if (qos) {
            it->mid[0] = (uint8_t)(pid >> 8);
            it->mid[1] = (uint8_t)pid;
            it->mid_len = 2;
        }
        it->len = it->head_len + m->topic_len + it->mid_len + m->payload_len;
    }
    out_append(w, c, it);
    return true;
}

/* Adds the unsent part of one item to iov; returns the number of entries used. */
static int item_iov(const struct out_item *it, struct iovec *iov, int room)
{
    struct iovec seg[4];
    int n = 0;
    if (it->big) {
        seg[n++] = (struct iovec){it->big, it->len};
    } else {
        seg[n++] = (struct iovec){(void *)it->head, it->head_len};
        if (it->msg) {
            seg[n++] = (struct iovec){it->msg->topic, it->msg->topic_len};
            if (it->mid_len)
                seg[n++] = (struct iovec){it->mid, it->mid_len};
            /* 5.0: the message's properties lie right before its payload: one segment. */
            const uint8_t *body = it->v5 ? it->msg->props : it->msg->payload;
            size_t blen = it->msg->payload_len + (it->v5 ? it->msg->props_len : 0);
            if (blen)
                seg[n++] = (struct iovec){(void *)body, blen};
        }
    }
    size_t skip = it->sent;
    int out = 0;
    for (int i = 0; i < n && out < room; i++) {
        if (skip >= seg[i].iov_len) {
            skip -= seg[i].iov_len;
            continue;
        }
        iov[out].iov_base = (uint8_t *)seg[i].iov_base + skip;
        iov[out].iov_len = seg[i].iov_len - skip;
        skip = 0;
        out++;
    }
    return out;
}

/* Drops the first n queued bytes: they were written (or handed to TLS). */
static void out_consume(struct worker *w, struct conn *c, size_t n)
{
    c->out_bytes -= n;
    while (n && c->out_head) {
        struct out_item *it = c->out_head;
        size_t rest = it->len - it->sent;
        if (n < rest) {
            it->sent += (uint32_t)n;
            break;
        }
        n -= rest;
        c->out_head = it->next;
        if (!c->out_head)
            c->out_tail = NULL;
        out_release(w, it);
    }
}

size_t conn_take_output(struct worker *w, struct conn *c, uint8_t *dst, size_t cap)
{
    struct iovec iov[FLUSH_IOV];
    int n = 0;
    for (struct out_item *it = c->out_head; it && n + 4 <= FLUSH_IOV; it = it->next)
        n += item_iov(it, iov + n, FLUSH_IOV - n);
    size_t got = 0;
    for (int i = 0; i < n && got < cap; i++) {
        size_t k = iov[i].iov_len < cap - got ? iov[i].iov_len : cap - got;
        memcpy(dst + got, iov[i].iov_base, k);
        got += k;
    }
    out_consume(w, c, got);
    return got;
}

int conn_flush(struct worker *w, struct conn *c)
{
    if (c->tls)
        return tls_flush(w, c);
    while (c->out_head && c->state != CS_CLOSED) {
        struct iovec iov[FLUSH_IOV];
        int n = 0;
        for (struct out_item *it = c->out_head; it && n + 4 <= FLUSH_IOV; it = it->next)
            n += item_iov(it, iov + n, FLUSH_IOV - n);
        size_t asked = 0;
        for (int i = 0; i < n; i++)
            asked += iov[i].iov_len;
        ssize_t wr = writev(c->h.fd, iov, n);
        if (wr < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_close(w, c, strerror(errno));
            return -1;
        }
        out_consume(w, c, (size_t)wr);
        if ((size_t)wr < asked)
            break; /* socket buffer is full: wait for EPOLLOUT */
    }
    conn_update_events(w, c);
    return 0;
}

void conn_update_events(struct worker *w, struct conn *c)
{
    if (c->state == CS_CLOSED)
        return;
    uint32_t want = 0;
    /* Stop reading while waiting for a verdict (packets must be handled in order) or
     * while the client does not read what we send (back-pressure). */
    if (c->wait == WAIT_NONE && !conn_output_full(w, c) && !c->rate_resume_ms)
        want |= EPOLLIN;
    if (c->out_head || tls_wants_write(c))
        want |= EPOLLOUT;
    if (c->tls && (want & EPOLLIN))
        tls_reading_resumed(w, c); /* plaintext wolfSSL already holds raises no event */
    if (want == c->ep_events)
        return;
    struct epoll_event ev = {.events = want, .data.ptr = &c->h};
    if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->h.fd, &ev) == 0)
        c->ep_events = want;
}

void conn_close(struct worker *w, struct conn *c, const char *why)
{
    if (c->state == CS_CLOSED)
        return;
    bool was_active = c->state == CS_ACTIVE;
    if (was_active && !c->clean_disconnect && c->will)
        worker_publish_will(w, c); /* now, or parked in the session for its Will Delay */
    char id[96] = "";
    if (c->session)
        log_sanitize((const uint8_t *)c->session->client_id, c->session->id_len, id, sizeof(id));
    log_debug("closing connection %s client=\"%s\": %s", c->peer, id, why);
    c->state = CS_CLOSED;
    if (c->tls)
        tls_close_notify(c);
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->h.fd, NULL);
    close(c->h.fd);
    c->h.fd = -1;
    if (c->reqs_in_flight)
        auth_client_forget_conn(w, c);
    if (c->counted)
        auth_notify_session_end(w, c);
    struct session *s = c->session;
    if (s && s->conn == c) {
        s->conn = NULL;
        session_offline(w, s); /* ends it now if clean, else starts its expiry */
    }
    c->session = NULL;
    /* Unlink now; free after the loop turn, since callers up the stack may hold c. */
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->n_conns--;
    c->next = w->graveyard;
    w->graveyard = c;
}

void conn_disconnect(struct worker *w, struct conn *c, uint8_t reason, const char *why)
{
    if (c->state == CS_CLOSED)
        return;
    if (c->state == CS_ACTIVE && c->proto >= MQTT_PROTO_5) {
        /* 3.14: a server may send DISCONNECT only after CONNACK, and only at 5.0. The reason
         * string goes along when it fits the client's Maximum Packet Size (3.14.2.2.3). */
        uint8_t props[132], pkt[144];
        struct mqtt_pbuf b;
        size_t wlen = strlen(why);
        if (!mqtt_reason_allowed(MQTT_DISCONNECT, reason))
            reason = MQTT_RC_UNSPECIFIED; /* a caller's slip must not become a bad packet */
        mqtt_pbuf_init(&b, props, sizeof(props));
        mqtt_pbuf_str(&b, MQTT_PROP_REASON_STRING, why, wlen < 128 ? wlen : 128);
        size_t n = mqtt_encode_reason5(pkt, sizeof(pkt), MQTT_DISCONNECT, reason, props, b.len);
        if (c->v5.max_out_packet && n > c->v5.max_out_packet)
            n = mqtt_encode_reason5(pkt, sizeof(pkt), MQTT_DISCONNECT, reason, NULL, 0);
        conn_send_bytes(w, c, pkt, n);
        conn_flush(w, c);
    }
    if (c->state != CS_CLOSED)
        conn_close(w, c, why);
}

void conn_free(struct worker *w, struct conn *c)
{
    struct out_item *it = c->out_head;
    while (it) {
        struct out_item *n = it->next;
        out_release(w, it);
        it = n;
    }
    msg_unref(c->will);
    for (uint32_t i = 0; c->v5.aliases && i < c->v5.alias_max; i++)
        free(c->v5.aliases[i]);
    free(c->v5.aliases);
    free(c->v5.alias_lens);
    free(c->v5.pend_topic);
    free(c->v5.auth_method);
    tls_conn_free(w, c);
    free(c->in);
    free(c->pend);
    free(c->pend_codes);
    free(c->username);
    free(c->client_id);
    free(c->identity);
    free(c);
}
