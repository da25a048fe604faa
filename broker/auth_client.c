/* auth_client: the worker's side of the IPC channel to the auth daemon.
 *
 * The auth daemon answers in request order, so outstanding requests form a FIFO: an
 * answer must match the oldest request (id and kind) or the channel is treated as broken.
 * A request that is not answered within auth_timeout_ms fails closed at once (CONNACK 3,
 * or deny); a late answer is then dropped. When the channel is down every request fails
 * closed. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "broker.h"
#include "tls.h"
#include "log.h"
#include "ring.h"

#define AUTH_OUT_MAX (16u * 1024u * 1024u)
#define PENDING_MAX 65536u

static bool is_conn_kind(enum req_kind k)
{
    return k == REQ_CONNECT || k == REQ_WILL_ACL || k == REQ_PUBLISH_ACL || k == REQ_SUBSCRIBE_ACL;
}

/* Releases what a finished request holds. */
static void release(struct pending_req *p)
{
    if (p->conn)
        p->conn->reqs_in_flight--;
    if (p->s)
        p->s->reqs_in_flight--;
    p->conn = NULL;
    p->s = NULL;
    free(p->filter);
    p->filter = NULL;
}

/* Fails a request closed; p stays in the FIFO (or was just taken out of it). */
static void fail_one(struct worker *w, struct pending_req *p)
{
    struct conn *c = p->conn;
    enum req_kind kind = p->kind;
    uint32_t index = p->index;
    p->failed = true;
    release(p);
    /* A re-check that fails leaves the session as it is: it is re-checked on the next
     * generation, and new connections are refused meanwhile anyway. */
    if (!c || c->state == CS_CLOSED || !is_conn_kind(kind))
        return;
    if (kind == REQ_CONNECT)
        proto_connect_verdict(w, c, MQTT_CONNACK_SERVER_UNAVAILABLE, NULL);
    else
        proto_acl_verdict(w, c, (enum wait_kind)kind, index, NULL);
}

static void new_epoch(struct worker *w, uint32_t auth_generation, const char *why)
{
    w->auth_generation = auth_generation;
    w->generation++;
    if (w->generation == 0)
        w->generation = 1;
    log_info("%s (auth generation %u): cached verdicts dropped", why, auth_generation);
}

void auth_client_attach(struct worker *w, int fd)
{
    if (w->auth_up)
        auth_client_detach(w, "replaced by a new channel");
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
    w->auth_generation = 0; /* the new daemon's HELLO starts a new epoch */
    log_info("auth channel up");
}

void auth_client_detach(struct worker *w, const char *why)
{
    if (!w->auth_up)
        return;
    if (!w->stopping)
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

uint32_t auth_client_outstanding(const struct worker *w)
{
    return w->pend_len;
}

static struct pending_req *push_pending(struct worker *w)
{
    if (!w->auth_up || w->pend_len >= PENDING_MAX)
        return NULL;
    if (w->pend_len == w->pend_cap) {
        uint32_t ncap = w->pend_cap ? w->pend_cap * 2 : 256;
        struct pending_req *n =
            ring_regrow(w->pend, w->pend_head, w->pend_len, w->pend_cap, ncap, sizeof(*n));
        if (!n)
            return NULL;
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

/* Sends m for the slot p reserved; on success the slot joins the FIFO. */
static int send_request(struct worker *w, struct pending_req *p, struct ipc_msg *m)
{
    m->req_id = p->req_id;
    if (ipc_chan_send(&w->auth, m) != 0)
        return -1;
    if (p->conn)
        p->conn->reqs_in_flight++;
    if (p->s)
        p->s->reqs_in_flight++;
    w->pend_len++;
    w->auth_dirty = true;
    return 0;
}

static struct ipc_bytes as_bytes(const void *p, size_t len)
{
    return (struct ipc_bytes){.p = p, .len = (uint16_t)len};
}

/* The client certificate goes with every question: the policy may match on its fields. */
static struct ipc_bytes cert_of(const struct conn *c)
{
    uint16_t len = 0;
    const uint8_t *der = c ? tls_peer_cert(c, &len) : NULL;
    return as_bytes(der, len);
}

/* CONNECT_REQ and AUTH_REQ carry what the connection holds since its CONNECT, plus this
 * step's password (CONNECT only) and authentication data. */
static int send_login_step(struct worker *w, struct conn *c, uint8_t type, bool has_password,
                           struct ipc_bytes password, struct ipc_bytes auth_data)
{
    struct pending_req *p = push_pending(w);
    if (!p)
        return -1;
    p->kind = REQ_CONNECT;
    p->conn = c;
    struct ipc_msg m = {.type = type};
    struct ipc_connect_req *r = &m.u.connect_req;
    r->proto_level = c->proto;
    r->flags = (c->clean_session ? IPC_CONN_CLEAN : 0) |
               (c->has_username ? IPC_CONN_HAS_USERNAME : 0) |
               (has_password ? IPC_CONN_HAS_PASSWORD : 0);
    r->client_id = as_bytes(c->client_id, c->client_id_len);
    r->username = as_bytes(c->username, c->username_len);
    r->password = password;
    r->peer = as_bytes(c->peer, strlen(c->peer));
    r->listener = c->listener;
    r->cert = cert_of(c);
    r->conv = c->id;
    r->auth_method = as_bytes(c->v5.auth_method, c->v5.auth_method_len);
    r->auth_data = c->v5.auth_method ? auth_data : as_bytes(NULL, 0);
    return send_request(w, p, &m);
}

int auth_request_connect(struct worker *w, struct conn *c, const struct mqtt_connect *pk)
{
    return send_login_step(w, c, IPC_CONNECT_REQ, pk->has_password,
                           pk->has_password ? as_bytes(pk->password.p, pk->password.len)
                                            : as_bytes(NULL, 0),
                           as_bytes(pk->props.auth_data.p, pk->props.auth_data.len));
}

int auth_request_auth_step(struct worker *w, struct conn *c, const uint8_t *data, size_t len)
{
    return send_login_step(w, c, IPC_AUTH_REQ, false, as_bytes(NULL, 0), as_bytes(data, len));
}

int auth_request_acl(struct worker *w, struct conn *c, enum wait_kind kind, uint32_t index,
                     uint8_t action, uint8_t qos, const uint8_t *topic, size_t tlen)
{
    struct pending_req *p = push_pending(w);
    if (!p)
        return -1;
    p->kind = (enum req_kind)kind;
    p->index = index;
    p->conn = c;
    struct ipc_msg m = {.type = IPC_ACL_REQ};
    struct ipc_acl_req *r = &m.u.acl_req;
    r->action = action;
    r->qos = qos;
    r->has_username = c->has_username;
    r->client_id = as_bytes(c->client_id, c->client_id_len);
    r->username = as_bytes(c->username, c->username_len);
    r->identity = as_bytes(c->identity, c->identity_len);
    r->topic = as_bytes(topic, tlen);
    r->listener = c->listener;
    r->cert = cert_of(c);
    return send_request(w, p, &m);
}

int auth_request_session_check(struct worker *w, struct session *s)
{
    struct conn *c = s->conn;
    struct pending_req *p = push_pending(w);
    if (!p || !c)
        return -1;
    p->kind = REQ_RECHECK_SESSION;
    p->s = s;
    struct ipc_msg m = {.type = IPC_SESSION_CHECK_REQ};
    struct ipc_session_check_req *r = &m.u.check_req;
    r->has_username = c->has_username;
    r->client_id = as_bytes(s->client_id, s->id_len);
    r->username = as_bytes(c->username, c->username_len);
    r->identity = as_bytes(c->identity, c->identity_len);
    r->listener = c->listener;
    r->cert = cert_of(c);
    return send_request(w, p, &m);
}

int auth_request_sub_check(struct worker *w, struct session *s, const char *filter, uint16_t len,
                           uint8_t qos)
{
    struct conn *c = s->conn;
    struct pending_req *p = push_pending(w);
    if (!p)
        return -1;
    p->kind = REQ_RECHECK_SUB;
    p->s = s;
    p->filter = malloc(len ? len : 1);
    if (!p->filter)
        return -1;
    memcpy(p->filter, filter, len);
    p->filter_len = len;
    struct ipc_msg m = {.type = IPC_ACL_REQ};
    struct ipc_acl_req *r = &m.u.acl_req;
    r->action = IPC_ACL_SUBSCRIBE;
    r->qos = qos;
    /* An offline session is re-checked under its client id alone: its identity returns
     * with its next CONNECT, which is decided afresh. */
    r->has_username = c && c->has_username;
    r->client_id = as_bytes(s->client_id, s->id_len);
    r->username = c ? as_bytes(c->username, c->username_len) : as_bytes(NULL, 0);
    r->identity = c ? as_bytes(c->identity, c->identity_len) : as_bytes(NULL, 0);
    r->topic = as_bytes(filter, len);
    r->listener = c ? c->listener : 0;
    r->cert = cert_of(c);
    if (send_request(w, p, &m) != 0) {
        free(p->filter);
        p->filter = NULL;
        return -1;
    }
    return 0;
}

void auth_notify_session_end(struct worker *w, struct conn *c)
{
    if (!w->auth_up)
        return;
    struct ipc_msg m = {.type = IPC_SESSION_END};
    m.u.session_end.client_id = as_bytes(c->client_id, c->client_id_len);
    m.u.session_end.identity = as_bytes(c->identity, c->identity_len);
    if (ipc_chan_send(&w->auth, &m) == 0)
        w->auth_dirty = true;
}

void auth_report_tls_refused(struct worker *w, struct conn *c, const char *reason,
                             const uint8_t *der, uint16_t der_len)
{
    if (!w->auth_up)
        return;
    struct ipc_msg m = {.type = IPC_TLS_REFUSED};
    m.u.tls_refused.listener = c->listener;
    m.u.tls_refused.peer = as_bytes(c->peer, strlen(c->peer));
    m.u.tls_refused.reason = as_bytes(reason, strlen(reason));
    m.u.tls_refused.cert = as_bytes(der, der_len);
    if (ipc_chan_send(&w->auth, &m) == 0)
        w->auth_dirty = true;
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

void auth_client_forget_session(struct worker *w, struct session *s)
{
    for (uint32_t i = 0; i < w->pend_len && s->reqs_in_flight; i++) {
        struct pending_req *p = &w->pend[(w->pend_head + i) % w->pend_cap];
        if (p->s == s) {
            p->s = NULL;
            s->reqs_in_flight--;
        }
    }
}

static enum ipc_type answer_type(enum req_kind k)
{
    switch (k) {
    case REQ_CONNECT:
        return IPC_CONNECT_RESP;
    case REQ_RECHECK_SESSION:
        return IPC_SESSION_CHECK_RESP;
    default:
        return IPC_ACL_RESP;
    }
}

static uint32_t answer_generation(const struct ipc_msg *m)
{
    switch (m->type) {
    case IPC_CONNECT_RESP:
        return m->u.connect_resp.generation;
    case IPC_SESSION_CHECK_RESP:
        return m->u.check_resp.generation;
    default:
        return m->u.acl_resp.generation;
    }
}

/* Hands an answer to whoever asked. p has left the FIFO. */
static void deliver(struct worker *w, struct pending_req *p, const struct ipc_msg *m)
{
    struct conn *c = p->conn;
    struct session *s = p->s;
    bool dead = p->failed || (is_conn_kind(p->kind) ? !c || c->state == CS_CLOSED : !s);
    char *filter = p->filter;
    p->filter = NULL;
    release(p);
    if (!dead) {
        switch (p->kind) {
        case REQ_CONNECT:
            proto_connect_verdict(w, c, m->u.connect_resp.rc, &m->u.connect_resp);
            break;
        case REQ_RECHECK_SESSION:
            recheck_session_verdict(w, s, m->u.check_resp.allow);
            break;
        case REQ_RECHECK_SUB:
            recheck_sub_verdict(w, s, filter, p->filter_len, &m->u.acl_resp);
            break;
        default:
            proto_acl_verdict(w, c, (enum wait_kind)p->kind, p->index, &m->u.acl_resp);
            break;
        }
    }
    free(filter);
}

static bool on_message(struct worker *w, const struct ipc_msg *m)
{
    switch (m->type) {
    case IPC_HELLO:
    case IPC_GENERATION: {
        uint32_t g = m->type == IPC_HELLO ? m->u.hello.generation : m->u.generation.generation;
        if (g != w->auth_generation) {
            bool reload = w->auth_generation != 0 || m->type == IPC_GENERATION;
            new_epoch(w, g, m->type == IPC_HELLO ? "auth daemon attached" : "policy reloaded");
            if (reload || w->generation > 1)
                recheck_start(w);
        }
        return true;
    }
    case IPC_CONNECT_RESP:
    case IPC_ACL_RESP:
    case IPC_SESSION_CHECK_RESP: {
        if (!w->pend_len)
            return false;
        struct pending_req *head = &w->pend[w->pend_head];
        if (head->req_id != m->req_id || answer_type(head->kind) != m->type)
            return false;
        struct pending_req p = *head;
        w->pend_head = (w->pend_head + 1) % w->pend_cap;
        w->pend_len--;
        uint32_t g = answer_generation(m);
        if (g != w->auth_generation) {
            /* Decided under a generation we have not been told of: take it as a reload. */
            new_epoch(w, g, "policy generation changed");
            recheck_start(w);
        }
        deliver(w, &p, m);
        return true;
    }
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
                auth_client_detach(w, "unexpected message from the auth daemon");
                return;
            }
        }
        if (w->auth_up && rc != IPC_NEED_MORE) {
            auth_client_detach(w, ipc_err_str(rc));
            return;
        }
        if (n == -2)
            return;
    }
}

void auth_client_flush(struct worker *w)
{
    if (!w->auth_up || !w->auth_dirty)
        return;
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
        if (p->deadline > w->now)
            break; /* FIFO: later requests have later deadlines */
        if (!p->failed) {
            log_warn("auth daemon did not answer request %u in %u ms: failing closed", p->req_id,
                     w->lim->auth_timeout_ms);
            fail_one(w, p);
        }
    }
}
