#include "ipc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Each read asks for at least this much so a full frame needs few system calls. */
#define IPC_READ_CHUNK (64u * 1024u)
/* One whole frame of the largest size plus one read chunk: enough to always make progress
 * when the caller drains ipc_chan_next() between reads. */
#define IPC_IN_MAX ((size_t)IPC_HEADER_LEN + IPC_MAX_PAYLOAD + IPC_READ_CHUNK)
#define IPC_OUT_MIN 4096u

const char *ipc_err_str(int err)
{
    switch (err) {
    case IPC_OK:
        return "ok";
    case IPC_NEED_MORE:
        return "incomplete frame";
    case IPC_E_VERSION:
        return "unknown protocol version";
    case IPC_E_TYPE:
        return "unknown message type";
    case IPC_E_RESERVED:
        return "reserved or unknown flag bits set";
    case IPC_E_TOO_LONG:
        return "payload longer than the maximum";
    case IPC_E_TRUNCATED:
        return "field runs past the payload";
    case IPC_E_TRAILING:
        return "bytes left after the last field";
    case IPC_E_VALUE:
        return "field value out of range";
    default:
        return "unknown ipc error";
    }
}

/* --- decoding --------------------------------------------------------------------------- */

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A payload reader that records the first error and turns later reads into no-ops, so a
 * message decoder reads straight through and checks once. */
struct rd {
    const uint8_t *p;
    size_t left;
    int err;
};

static void rd_fail(struct rd *r, int err)
{
    if (!r->err) r->err = err;
}

static void rd_check(struct rd *r, bool ok)
{
    if (!ok) rd_fail(r, IPC_E_VALUE);
}

static bool rd_need(struct rd *r, size_t n)
{
    if (r->err) return false;
    if (r->left < n) {
        rd_fail(r, IPC_E_TRUNCATED);
        return false;
    }
    return true;
}

static uint8_t rd_u8(struct rd *r)
{
    if (!rd_need(r, 1)) return 0;
    uint8_t v = r->p[0];
    r->p++;
    r->left--;
    return v;
}

static uint32_t rd_u32(struct rd *r)
{
    if (!rd_need(r, 4)) return 0;
    uint32_t v = get_u32(r->p);
    r->p += 4;
    r->left -= 4;
    return v;
}

static uint64_t rd_u64(struct rd *r)
{
    uint64_t hi = rd_u32(r);
    return hi << 32 | rd_u32(r);
}

static struct ipc_bytes rd_str(struct rd *r)
{
    struct ipc_bytes b = {NULL, 0};
    if (!rd_need(r, 2)) return b;
    uint16_t n = get_u16(r->p);
    if (!rd_need(r, 2 + (size_t)n)) return b;
    b.p = r->p + 2;
    b.len = n;
    r->p += 2 + (size_t)n;
    r->left -= 2 + (size_t)n;
    return b;
}

static void decode_connect_req(struct rd *r, struct ipc_connect_req *q)
{
    q->proto_level = rd_u8(r);
    rd_check(r, q->proto_level >= 3 && q->proto_level <= 5);
    q->flags = rd_u8(r);
    if (q->flags & ~IPC_CONN_FLAGS_ALL) rd_fail(r, IPC_E_RESERVED);
    q->client_id = rd_str(r);
    q->username = rd_str(r);
    rd_check(r, q->username.len == 0 || (q->flags & IPC_CONN_HAS_USERNAME));
    q->password = rd_str(r);
    rd_check(r, q->password.len == 0 || (q->flags & IPC_CONN_HAS_PASSWORD));
    q->peer = rd_str(r);
    q->listener = rd_u8(r);
    q->cert = rd_str(r);
    q->conv = rd_u64(r);
    q->auth_method = rd_str(r);
    q->auth_data = rd_str(r);
    rd_check(r, q->auth_data.len == 0 || q->auth_method.len > 0);
}

static void decode_acl_req(struct rd *r, struct ipc_acl_req *q)
{
    q->action = rd_u8(r);
    rd_check(r, q->action == IPC_ACL_PUBLISH || q->action == IPC_ACL_SUBSCRIBE);
    q->qos = rd_u8(r);
    rd_check(r, q->qos <= 2);
    uint8_t has = rd_u8(r);
    rd_check(r, has <= 1);
    q->has_username = has == 1;
    q->client_id = rd_str(r);
    q->username = rd_str(r);
    rd_check(r, q->username.len == 0 || q->has_username);
    q->identity = rd_str(r);
    q->topic = rd_str(r);
    rd_check(r, q->topic.len > 0);
    q->listener = rd_u8(r);
    q->cert = rd_str(r);
}

static bool rd_bool(struct rd *r)
{
    uint8_t v = rd_u8(r);
    rd_check(r, v <= 1);
    return v == 1;
}

static void decode_limits(struct rd *r, struct ipc_limits *l)
{
    l->msgs_per_s = rd_u32(r);
    l->msgs_burst = rd_u32(r);
    l->bytes_per_s = rd_u32(r);
    l->max_subscriptions = rd_u32(r);
}

int ipc_decode(const uint8_t *buf, size_t len, struct ipc_msg *out, size_t *consumed)
{
    if (consumed) *consumed = 0;
    if (len < IPC_HEADER_LEN) return IPC_NEED_MORE;
    if (buf[0] != IPC_VERSION) return IPC_E_VERSION;
    uint8_t type = buf[1];
    if (type < IPC_HELLO || type > IPC_TYPE_MAX) return IPC_E_TYPE;
    if (get_u16(buf + 2) != 0) return IPC_E_RESERVED;
    uint32_t plen = get_u32(buf + 8);
    /* Checked before waiting for the payload: a peer cannot make us buffer more. */
    if (plen > IPC_MAX_PAYLOAD) return IPC_E_TOO_LONG;
    if (len - IPC_HEADER_LEN < plen) return IPC_NEED_MORE;

    memset(out, 0, sizeof(*out));
    out->type = type;
    out->req_id = get_u32(buf + 4);
    struct rd r = {buf + IPC_HEADER_LEN, plen, 0};
    switch (type) {
    case IPC_HELLO:
        out->u.hello.generation = rd_u32(&r);
        break;
    case IPC_GENERATION:
        out->u.generation.generation = rd_u32(&r);
        break;
    case IPC_CONNECT_REQ:
    case IPC_AUTH_REQ:
        decode_connect_req(&r, &out->u.connect_req);
        break;
    case IPC_CONNECT_RESP:
        out->u.connect_resp.rc = rd_u8(&r);
        rd_check(&r, out->u.connect_resp.rc <= 5);
        out->u.connect_resp.generation = rd_u32(&r);
        out->u.connect_resp.identity = rd_str(&r);
        decode_limits(&r, &out->u.connect_resp.limits);
        out->u.connect_resp.auth_continue = rd_bool(&r);
        out->u.connect_resp.reason5 = rd_u8(&r);
        out->u.connect_resp.auth_data = rd_str(&r);
        break;
    case IPC_ACL_REQ:
        decode_acl_req(&r, &out->u.acl_req);
        break;
    case IPC_ACL_RESP: {
        struct ipc_acl_resp *a = &out->u.acl_resp;
        a->allow = rd_bool(&r);
        a->max_qos = rd_u8(&r);
        rd_check(&r, a->max_qos <= 2);
        a->generation = rd_u32(&r);
        a->flags = rd_u8(&r);
        if (a->flags & ~IPC_ACL_FLAGS_ALL) rd_fail(&r, IPC_E_RESERVED);
        a->payload_format = rd_u8(&r);
        rd_check(&r, a->payload_format <= IPC_PAYLOAD_JSON);
        a->payload_max = rd_u32(&r);
        break;
    }
    case IPC_SESSION_CHECK_REQ: {
        struct ipc_session_check_req *q = &out->u.check_req;
        q->has_username = rd_bool(&r);
        q->client_id = rd_str(&r);
        q->username = rd_str(&r);
        rd_check(&r, q->username.len == 0 || q->has_username);
        q->identity = rd_str(&r);
        q->listener = rd_u8(&r);
        q->cert = rd_str(&r);
        break;
    }
    case IPC_SESSION_CHECK_RESP:
        out->u.check_resp.allow = rd_bool(&r);
        out->u.check_resp.generation = rd_u32(&r);
        break;
    case IPC_SESSION_END:
        out->u.session_end.client_id = rd_str(&r);
        out->u.session_end.identity = rd_str(&r);
        break;
    case IPC_TLS_REFUSED:
        out->u.tls_refused.listener = rd_u8(&r);
        out->u.tls_refused.peer = rd_str(&r);
        out->u.tls_refused.reason = rd_str(&r);
        out->u.tls_refused.cert = rd_str(&r);
        break;
    }
    if (r.err) return r.err;
    if (r.left != 0) return IPC_E_TRAILING;
    if (consumed) *consumed = IPC_HEADER_LEN + (size_t)plen;
    return IPC_OK;
}

/* --- encoding --------------------------------------------------------------------------- */

static bool str_ok(struct ipc_bytes b)
{
    return b.len == 0 || b.p != NULL;
}

/* Validates m exactly as the decoder would and returns its payload size, or -1. Keeping the
 * two in step guarantees that whatever we send, the other side accepts. */
static long payload_size(const struct ipc_msg *m)
{
    switch (m->type) {
    case IPC_HELLO:
    case IPC_GENERATION:
        return 4;
    case IPC_CONNECT_REQ:
    case IPC_AUTH_REQ: {
        const struct ipc_connect_req *q = &m->u.connect_req;
        if (q->proto_level < 3 || q->proto_level > 5 || (q->flags & ~IPC_CONN_FLAGS_ALL)) return -1;
        if ((q->username.len && !(q->flags & IPC_CONN_HAS_USERNAME)) ||
            (q->password.len && !(q->flags & IPC_CONN_HAS_PASSWORD)))
            return -1;
        if (!str_ok(q->client_id) || !str_ok(q->username) || !str_ok(q->password) ||
            !str_ok(q->peer) || !str_ok(q->cert) || !str_ok(q->auth_method) ||
            !str_ok(q->auth_data) || (q->auth_data.len && !q->auth_method.len))
            return -1;
        return 3 + 10L + 8 + 4 + q->client_id.len + q->username.len + q->password.len +
               q->peer.len + q->cert.len + q->auth_method.len + q->auth_data.len;
    }
    case IPC_CONNECT_RESP: {
        const struct ipc_connect_resp *q = &m->u.connect_resp;
        if (q->rc > 5 || !str_ok(q->identity) || !str_ok(q->auth_data)) return -1;
        return 5 + 2L + q->identity.len + 16 + 2 + 2 + q->auth_data.len;
    }
    case IPC_ACL_REQ: {
        const struct ipc_acl_req *q = &m->u.acl_req;
        if ((q->action != IPC_ACL_PUBLISH && q->action != IPC_ACL_SUBSCRIBE) || q->qos > 2)
            return -1;
        if (q->topic.len == 0 || (q->username.len && !q->has_username)) return -1;
        if (!str_ok(q->client_id) || !str_ok(q->username) || !str_ok(q->identity) ||
            !str_ok(q->topic) || !str_ok(q->cert))
            return -1;
        return 4 + 10L + q->client_id.len + q->username.len + q->identity.len + q->topic.len +
               q->cert.len;
    }
    case IPC_ACL_RESP: {
        const struct ipc_acl_resp *a = &m->u.acl_resp;
        if (a->max_qos > 2 || (a->flags & ~IPC_ACL_FLAGS_ALL) ||
            a->payload_format > IPC_PAYLOAD_JSON)
            return -1;
        return 12;
    }
    case IPC_SESSION_CHECK_REQ: {
        const struct ipc_session_check_req *q = &m->u.check_req;
        if ((q->username.len && !q->has_username) || !str_ok(q->client_id) ||
            !str_ok(q->username) || !str_ok(q->identity) || !str_ok(q->cert))
            return -1;
        return 2 + 8L + q->client_id.len + q->username.len + q->identity.len + q->cert.len;
    }
    case IPC_SESSION_CHECK_RESP:
        return 5;
    case IPC_SESSION_END: {
        const struct ipc_session_end *q = &m->u.session_end;
        if (!str_ok(q->client_id) || !str_ok(q->identity)) return -1;
        return 4L + q->client_id.len + q->identity.len;
    }
    case IPC_TLS_REFUSED: {
        const struct ipc_tls_refused *q = &m->u.tls_refused;
        if (!str_ok(q->peer) || !str_ok(q->reason) || !str_ok(q->cert)) return -1;
        return 1 + 6L + q->peer.len + q->reason.len + q->cert.len;
    }
    default:
        return -1;
    }
}

/* Whole frame size, or 0 when m cannot be sent. */
static size_t frame_size(const struct ipc_msg *m)
{
    long p = payload_size(m);
    if (p < 0 || (unsigned long)p > IPC_MAX_PAYLOAD) return 0;
    return IPC_HEADER_LEN + (size_t)p;
}

static uint8_t *put_u8(uint8_t *p, uint8_t v)
{
    *p = v;
    return p + 1;
}

static uint8_t *put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    return put_u32(put_u32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

static uint8_t *put_str(uint8_t *p, struct ipc_bytes b)
{
    p = put_u16(p, b.len);
    if (b.len) memcpy(p, b.p, b.len);
    return p + b.len;
}

size_t ipc_encode(const struct ipc_msg *m, uint8_t *out, size_t cap)
{
    size_t n = frame_size(m);
    if (n == 0 || out == NULL || cap < n) return 0;
    uint8_t *p = out;
    p = put_u8(p, IPC_VERSION);
    p = put_u8(p, m->type);
    p = put_u16(p, 0);
    p = put_u32(p, m->req_id);
    p = put_u32(p, (uint32_t)(n - IPC_HEADER_LEN));
    switch (m->type) {
    case IPC_HELLO:
        p = put_u32(p, m->u.hello.generation);
        break;
    case IPC_GENERATION:
        p = put_u32(p, m->u.generation.generation);
        break;
    case IPC_CONNECT_REQ:
    case IPC_AUTH_REQ: {
        const struct ipc_connect_req *q = &m->u.connect_req;
        p = put_u8(p, q->proto_level);
        p = put_u8(p, q->flags);
        p = put_str(p, q->client_id);
        p = put_str(p, q->username);
        p = put_str(p, q->password);
        p = put_str(p, q->peer);
        p = put_u8(p, q->listener);
        p = put_str(p, q->cert);
        p = put_u64(p, q->conv);
        p = put_str(p, q->auth_method);
        p = put_str(p, q->auth_data);
        break;
    }
    case IPC_CONNECT_RESP: {
        const struct ipc_connect_resp *q = &m->u.connect_resp;
        p = put_u8(p, q->rc);
        p = put_u32(p, q->generation);
        p = put_str(p, q->identity);
        p = put_u32(p, q->limits.msgs_per_s);
        p = put_u32(p, q->limits.msgs_burst);
        p = put_u32(p, q->limits.bytes_per_s);
        p = put_u32(p, q->limits.max_subscriptions);
        p = put_u8(p, q->auth_continue ? 1 : 0);
        p = put_u8(p, q->reason5);
        p = put_str(p, q->auth_data);
        break;
    }
    case IPC_ACL_REQ: {
        const struct ipc_acl_req *q = &m->u.acl_req;
        p = put_u8(p, q->action);
        p = put_u8(p, q->qos);
        p = put_u8(p, q->has_username ? 1 : 0);
        p = put_str(p, q->client_id);
        p = put_str(p, q->username);
        p = put_str(p, q->identity);
        p = put_str(p, q->topic);
        p = put_u8(p, q->listener);
        p = put_str(p, q->cert);
        break;
    }
    case IPC_ACL_RESP: {
        const struct ipc_acl_resp *a = &m->u.acl_resp;
        p = put_u8(p, a->allow ? 1 : 0);
        p = put_u8(p, a->max_qos);
        p = put_u32(p, a->generation);
        p = put_u8(p, a->flags);
        p = put_u8(p, a->payload_format);
        p = put_u32(p, a->payload_max);
        break;
    }
    case IPC_SESSION_CHECK_REQ: {
        const struct ipc_session_check_req *q = &m->u.check_req;
        p = put_u8(p, q->has_username ? 1 : 0);
        p = put_str(p, q->client_id);
        p = put_str(p, q->username);
        p = put_str(p, q->identity);
        p = put_u8(p, q->listener);
        p = put_str(p, q->cert);
        break;
    }
    case IPC_SESSION_CHECK_RESP:
        p = put_u8(p, m->u.check_resp.allow ? 1 : 0);
        p = put_u32(p, m->u.check_resp.generation);
        break;
    case IPC_SESSION_END:
        p = put_str(p, m->u.session_end.client_id);
        p = put_str(p, m->u.session_end.identity);
        break;
    case IPC_TLS_REFUSED:
        p = put_u8(p, m->u.tls_refused.listener);
        p = put_str(p, m->u.tls_refused.peer);
        p = put_str(p, m->u.tls_refused.reason);
        p = put_str(p, m->u.tls_refused.cert);
        break;
    }
    return (size_t)(p - out);
}

/* --- channel ---------------------------------------------------------------------------- */

int ipc_chan_init(struct ipc_chan *c, int fd, size_t out_max)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->out_max = out_max;
    if (fd < 0) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

void ipc_chan_free(struct ipc_chan *c)
{
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
    c->in_len = c->in_cap = c->in_off = 0;
    c->out_len = c->out_cap = c->out_off = 0;
}

/* Makes room for one read chunk after the buffered bytes, within IPC_IN_MAX. */
static int in_reserve(struct ipc_chan *c)
{
    if (c->in_off == c->in_len) {
        c->in_off = c->in_len = 0;
    } else if (c->in_off > 0 &&
               (c->in_off >= c->in_cap / 2 || c->in_cap - c->in_len < IPC_READ_CHUNK)) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    if (c->in_cap - c->in_len >= IPC_READ_CHUNK) return 0;
    size_t want = c->in_len + IPC_READ_CHUNK;
    if (want > IPC_IN_MAX) {
        /* Only possible when the caller reads without draining ipc_chan_next(). */
        errno = ENOBUFS;
        return -1;
    }
    size_t ncap = c->in_cap ? c->in_cap * 2 : 2 * IPC_READ_CHUNK;
    if (ncap < want) ncap = want;
    if (ncap > IPC_IN_MAX) ncap = IPC_IN_MAX;
    uint8_t *n = realloc(c->in, ncap);
    if (!n) return -1;
    c->in = n;
    c->in_cap = ncap;
    return 0;
}

long ipc_chan_read(struct ipc_chan *c)
{
    if (in_reserve(c) < 0) return -1;
    for (;;) {
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n >= 0) {
            c->in_len += (size_t)n;
            return (long)n;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return -2;
        return -1;
    }
}

int ipc_chan_next(struct ipc_chan *c, struct ipc_msg *m)
{
    if (c->in == NULL || c->in_off == c->in_len) return IPC_NEED_MORE;
    size_t used = 0;
    int rc = ipc_decode(c->in + c->in_off, c->in_len - c->in_off, m, &used);
    if (rc == IPC_OK) c->in_off += used;
    return rc;
}

int ipc_chan_send(struct ipc_chan *c, const struct ipc_msg *m)
{
    size_t need = frame_size(m);
    if (need == 0) {
        errno = EINVAL;
        return -1;
    }
    size_t queued = c->out_len - c->out_off;
    if (need > c->out_max || queued > c->out_max - need) {
        errno = ENOBUFS;
        return -1;
    }
    if (c->out_cap - c->out_len < need && c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, queued);
        c->out_len = queued;
        c->out_off = 0;
    }
    if (c->out_cap - c->out_len < need) {
        size_t ncap = c->out_cap ? c->out_cap : IPC_OUT_MIN;
        while (ncap < c->out_len + need)
            ncap *= 2;
        if (ncap > c->out_max) ncap = c->out_max; /* still >= out_len + need, checked above */
        uint8_t *n = realloc(c->out, ncap);
        if (!n) return -1;
        c->out = n;
        c->out_cap = ncap;
    }
    c->out_len += ipc_encode(m, c->out + c->out_len, c->out_cap - c->out_len);
    return 0;
}

int ipc_chan_flush(struct ipc_chan *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 1;
            return -1;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

bool ipc_chan_pending_output(const struct ipc_chan *c)
{
    return c->out_off < c->out_len;
}
