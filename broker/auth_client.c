/* auth_client: the worker's side of the IPC channel to the auth daemon.
 *
 * The auth daemon answers in request order, so outstanding requests form a FIFO: an
 * answer must match the oldest request or the channel is treated as broken. A request
 * that is not answered within auth_timeout_ms fails closed at once (CONNACK 3, or deny);
 * a late answer is then dropped. When the channel is down every request fails closed. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"

#define AUTH_OUT_MAX (16u * 1024u * 1024u)
#define PENDING_MAX 65536u

static void fail_one(struct worker *w, struct pending_req *p)
{
    struct conn *c = p->conn;
    p->conn = NULL;
    p->failed = true;
    if (!c) return;
    c->reqs_in_flight--;
    if (c->state == CS_CLOSED) return;
    if (p->kind == WAIT_CONNECT)
        proto_connect_verdict(w, c, MQTT_CONNACK_SERVER_UNAVAILABLE);
    else
        proto_acl_verdict(w, c, p->kind, p->index, false, 0);
}

void auth_client_attach(struct worker *w, int fd)
{
    if (w->auth_up) auth_client_detach(w, "replaced by a new channel");
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    if (ipc_chan_init(&w->auth, fd, AUTH_OUT_MAX) != 0) {
        close(fd);
        return;
    }
    w->auth_h.kind = H_AUTH;
    w->auth_h.fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->auth_h};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        log_error("epoll_ctl auth: %s", strerror(errno));
        ipc_chan_free(&w->auth);
        close(fd);
        return;
    }
    w->auth_up = true;
    log_info("auth channel up");
}

void auth_client_detach(struct worker *w, const char *why)
{
    if (!w->auth_up) return;
    log_warn("auth channel down (%s): new clients are refused until it is back", why);
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->auth_h.fd, NULL);
    close(w->auth_h.fd);
    ipc_chan_free(&w->auth);
    w->auth_up = false;
    w->auth_dirty = false;
    /* Fail closed: nothing waiting gets through without a verdict. */
    while (w->pend_len) {
        struct pending_req p = w->pend[w->pend_head];
        w->pend_head = (w->pend_head + 1) % w->pend_cap;
        w->pend_len--;
        fail_one(w, &p);
    }
}

static struct pending_req *push_pending(struct worker *w)
{
    if (!w->auth_up || w->pend_len >= PENDING_MAX) return NULL;
    if (w->pend_len == w->pend_cap) {
        uint32_t ncap = w->pend_cap ? w->pend_cap * 2 : 256;
        struct pending_req *n = malloc(sizeof(*n) * ncap);
        if (!n) return NULL;
        for (uint32_t i = 0; i < w->pend_len; i++)
            n[i] = w->pend[(w->pend_head + i) % w->pend_cap];
        free(w->pend);
        w->pend = n;
        w->pend_cap = ncap;
        w->pend_head = 0;
    }
    struct pending_req *p = &w->pend[(w->pend_head + w->pend_len) % w->pend_cap];
    memset(p, 0, sizeof(*p));
    p->req_id = ++w->next_req_id;
    p->deadline = w->now + w->lim->auth_timeout_ms;
    return p;
}

static int send_request(struct worker *w, struct pending_req *p, struct ipc_msg *m, struct conn *c)
{
    m->req_id = p->req_id;
    if (ipc_chan_send(&w->auth, m) != 0) return -1;
    p->conn = c;
    c->reqs_in_flight++;
    w->pend_len++;
    w->auth_dirty = true;
    return 0;
}

static struct ipc_bytes as_bytes(const uint8_t *p, size_t len)
{
    return (struct ipc_bytes){.p = p, .len = (uint16_t)len};
}

int auth_request_connect(struct worker *w, struct conn *c, const struct mqtt_connect *pk)
{
    struct pending_req *p = push_pending(w);
    if (!p) return -1;
    p->kind = WAIT_CONNECT;
    struct ipc_msg m = {.type = IPC_CONNECT_REQ};
    struct ipc_connect_req *r = &m.u.connect_req;
    r->proto_level = pk->proto_level;
    r->flags = (pk->clean_session ? IPC_CONN_CLEAN : 0) |
               (pk->has_username ? IPC_CONN_HAS_USERNAME : 0) |
               (pk->has_password ? IPC_CONN_HAS_PASSWORD : 0);
    r->client_id = as_bytes((const uint8_t *)c->client_id, c->client_id_len);
    r->username = pk->has_username ? as_bytes(pk->username.p, pk->username.len) : as_bytes(NULL, 0);
    r->password = pk->has_password ? as_bytes(pk->password.p, pk->password.len) : as_bytes(NULL, 0);
    r->peer = as_bytes((const uint8_t *)c->peer, strlen(c->peer));
    return send_request(w, p, &m, c);
}

int auth_request_acl(struct worker *w, struct conn *c, enum wait_kind kind, uint32_t index,
                     uint8_t action, uint8_t qos, const uint8_t *topic, size_t tlen)
{
    struct pending_req *p = push_pending(w);
    if (!p) return -1;
    p->kind = kind;
    p->index = index;
    struct ipc_msg m = {.type = IPC_ACL_REQ};
    struct ipc_acl_req *r = &m.u.acl_req;
    r->action = action;
    r->qos = qos;
    r->has_username = c->has_username;
    r->client_id = as_bytes((const uint8_t *)c->client_id, c->client_id_len);
    r->username = as_bytes((const uint8_t *)c->username, c->username_len);
    r->topic = as_bytes(topic, tlen);
    return send_request(w, p, &m, c);
}

void auth_client_forget_conn(struct worker *w, struct conn *c)
{
    for (uint32_t i = 0; i < w->pend_len && c->reqs_in_flight; i++) {
        struct pending_req *p = &w->pend[(w->pend_head + i) % w->pend_cap];
        if (p->conn == c) {
            p->conn = NULL;
            c->reqs_in_flight--;
        }
    }
}

static bool take_answer(struct worker *w, const struct ipc_msg *m, enum wait_kind *kind,
                        struct pending_req *out)
{
    if (!w->pend_len) return false;
    struct pending_req *p = &w->pend[w->pend_head];
    if (p->req_id != m->req_id) return false;
    bool is_connect = m->type == IPC_CONNECT_RESP;
    if (is_connect != (p->kind == WAIT_CONNECT)) return false;
    *out = *p;
    *kind = p->kind;
    w->pend_head = (w->pend_head + 1) % w->pend_cap;
    w->pend_len--;
    return true;
}

static bool on_message(struct worker *w, const struct ipc_msg *m)
{
    struct pending_req p;
    enum wait_kind kind;
    switch (m->type) {
    case IPC_HELLO:
    case IPC_GENERATION: {
        uint32_t g = m->type == IPC_HELLO ? m->u.hello.generation : m->u.generation.generation;
        if (g != w->generation) log_info("policy generation %u: cached verdicts dropped", g);
        w->generation = g; /* cached verdicts carry their generation: old ones miss */
        return true;
    }
    case IPC_CONNECT_RESP:
    case IPC_ACL_RESP:
        if (!take_answer(w, m, &kind, &p)) return false;
        if (m->type == IPC_CONNECT_RESP ? m->u.connect_resp.generation != w->generation
                                        : m->u.acl_resp.generation != w->generation) {
            /* Decided under another generation than we know of: take it as a bump. */
            w->generation = m->type == IPC_CONNECT_RESP ? m->u.connect_resp.generation
                                                        : m->u.acl_resp.generation;
        }
        if (!p.conn || p.failed) return true;
        p.conn->reqs_in_flight--;
        if (p.conn->state == CS_CLOSED) return true;
        if (kind == WAIT_CONNECT)
            proto_connect_verdict(w, p.conn, m->u.connect_resp.rc);
        else
            proto_acl_verdict(w, p.conn, kind, p.index, m->u.acl_resp.allow, m->u.acl_resp.max_qos);
        return true;
    default:
        return false;
    }
}

void auth_client_on_readable(struct worker *w)
{
    for (int rounds = 0; rounds < 16 && w->auth_up; rounds++) {
        long n = ipc_chan_read(&w->auth);
        if (n == 0) {
            auth_client_detach(w, "auth daemon closed the channel");
            return;
        }
        if (n == -1) {
            auth_client_detach(w, strerror(errno));
            return;
        }
        struct ipc_msg m;
        int rc = IPC_NEED_MORE;
        while (w->auth_up && (rc = ipc_chan_next(&w->auth, &m)) == IPC_OK) {
            if (!on_message(w, &m)) {
                auth_client_detach(w, "unexpected answer from the auth daemon");
                return;
            }
        }
        if (w->auth_up && rc != IPC_NEED_MORE) {
            auth_client_detach(w, ipc_err_str(rc));
            return;
        }
        if (n == -2) return;
    }
}

void auth_client_flush(struct worker *w)
{
    if (!w->auth_up || !w->auth_dirty) return;
    int r = ipc_chan_flush(&w->auth);
    if (r < 0) {
        auth_client_detach(w, strerror(errno));
        return;
    }
    w->auth_dirty = r == 1;
    struct epoll_event ev = {.events = EPOLLIN | (r == 1 ? EPOLLOUT : 0), .data.ptr = &w->auth_h};
    epoll_ctl(w->epfd, EPOLL_CTL_MOD, w->auth_h.fd, &ev);
}

void auth_client_check_timeouts(struct worker *w)
{
    for (uint32_t i = 0; i < w->pend_len; i++) {
        struct pending_req *p = &w->pend[(w->pend_head + i) % w->pend_cap];
        if (p->deadline > w->now) break; /* FIFO: later requests have later deadlines */
        if (!p->failed) {
            log_warn("auth daemon did not answer request %u in %u ms: failing closed", p->req_id,
                     w->lim->auth_timeout_ms);
            fail_one(w, p);
        }
    }
}
