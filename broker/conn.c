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
    if (c->state == CS_CLOSED)
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

bool conn_send_publish(struct worker *w, struct conn *c, struct msg *m, uint8_t qos, bool dup,
                       bool retain, uint16_t pid)
{
    if (c->state == CS_CLOSED)
        return false;
    if (qos == 0 && conn_output_full(w, c)) {
        c->dropped++;
        return false;
    }
    struct out_item *it = out_alloc(w);
    if (!it)
        return false;
    it->msg = msg_ref(m);
    it->head_len =
        (uint8_t)mqtt_encode_publish_head(it->head, qos, dup, retain, m->topic_len, m->payload_len);
    if (qos) {
        it->pid[0] = (uint8_t)(pid >> 8);
        it->pid[1] = (uint8_t)pid;
        it->pid_len = 2;
    }
    it->len = it->head_len + m->topic_len + it->pid_len + m->payload_len;
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
            if (it->pid_len)
                seg[n++] = (struct iovec){(void *)it->pid, it->pid_len};
            if (it->msg->payload_len)
                seg[n++] = (struct iovec){it->msg->payload, it->msg->payload_len};
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

int conn_flush(struct worker *w, struct conn *c)
{
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
        size_t left = (size_t)wr;
        c->out_bytes -= left;
        while (left && c->out_head) {
            struct out_item *it = c->out_head;
            size_t rest = it->len - it->sent;
            if (left < rest) {
                it->sent += (uint32_t)left;
                break;
            }
            left -= rest;
            c->out_head = it->next;
            if (!c->out_head)
                c->out_tail = NULL;
            out_release(w, it);
        }
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
    if (c->out_head)
        want |= EPOLLOUT;
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
        worker_publish_will(w, c);
    char id[96] = "";
    if (c->session)
        log_sanitize((const uint8_t *)c->session->client_id, c->session->id_len, id, sizeof(id));
    log_debug("closing connection %s client=\"%s\": %s", c->peer, id, why);
    c->state = CS_CLOSED;
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
        if (s->clean)
            session_destroy(w, s);
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

void conn_free(struct worker *w, struct conn *c)
{
    struct out_item *it = c->out_head;
    while (it) {
        struct out_item *n = it->next;
        out_release(w, it);
        it = n;
    }
    msg_unref(c->will);
    free(c->in);
    free(c->pend);
    free(c->pend_codes);
    free(c->username);
    free(c->client_id);
    free(c->identity);
    free(c);
}
