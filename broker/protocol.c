/* protocol: MQTT 3.1.1 packet handling for one connection, including the pauses while
 * the auth daemon decides a CONNECT, a will, a SUBSCRIBE or a first PUBLISH to a topic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker.h"
#include "ipc.h"
#include "json_check.h"
#include "log.h"

static void send_connack(struct worker *w, struct conn *c, bool present, uint8_t rc)
{
    uint8_t b[4];
    size_t n = mqtt_encode_connack(b, sizeof(b), present, rc);
    conn_send_bytes(w, c, b, n);
}

/* Sends what is queued (e.g. a CONNACK with an error code) and then closes. */
static void finish(struct worker *w, struct conn *c, const char *why)
{
    conn_flush(w, c);
    conn_close(w, c, why);
}

static void refuse(struct worker *w, struct conn *c, uint8_t rc, const char *why)
{
    send_connack(w, c, false, rc);
    finish(w, c, why);
}

static void violation(struct worker *w, struct conn *c, const char *why)
{
    log_info("protocol violation from %s: %s; closing", c->peer, why);
    conn_close(w, c, why);
}

static char *dup_bytes(const uint8_t *p, size_t len)
{
    char *s = malloc(len + 1);
    if (s) {
        if (len)
            memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

static void clear_pending(struct conn *c)
{
    free(c->pend);
    free(c->pend_codes);
    c->pend = NULL;
    c->pend_codes = NULL;
    c->pend_len = 0;
    c->pend_outstanding = 0;
    c->pend_count = 0;
    c->wait = WAIT_NONE;
}

static int keep_pending(struct conn *c, uint8_t byte0, const uint8_t *body, uint32_t len)
{
    c->pend = malloc(len ? len : 1);
    if (!c->pend)
        return -1;
    if (len)
        memcpy(c->pend, body, len);
    c->pend_len = len;
    c->pend_byte0 = byte0;
    return 0;
}

/* Resumes reading a connection that waited for a verdict. */
static void resume(struct worker *w, struct conn *c)
{
    if (c->state == CS_CLOSED)
        return;
    conn_update_events(w, c);
    worker_process_input(w, c);
}

static int assign_client_id(struct conn *c)
{
    static uint64_t counter;
    static uint64_t salt;
    if (!salt && getrandom(&salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
        salt = (uint64_t)(uintptr_t)c;
    char id[40];
    int n = snprintf(id, sizeof(id), "auto-%016llx", (unsigned long long)(salt ^ ++counter));
    c->client_id = dup_bytes((const uint8_t *)id, (size_t)n);
    c->client_id_len = (uint16_t)n;
    return c->client_id ? 0 : -1;
}

static bool handle_connect(struct worker *w, struct conn *c, const struct mqtt_connect *k)
{
    c->proto = k->proto_level;
    c->keepalive = k->keepalive;
    c->clean_session = k->clean_session;
    if (k->client_id.len == 0) {
        if (!k->clean_session) {
            refuse(w, c, MQTT_CONNACK_ID_REJECTED, "empty client id without clean session");
            return false;
        }
        if (assign_client_id(c) != 0) {
            refuse(w, c, MQTT_CONNACK_SERVER_UNAVAILABLE, "out of memory");
            return false;
        }
    } else if (k->client_id.len > w->lim->max_client_id_length) {
        refuse(w, c, MQTT_CONNACK_ID_REJECTED, "client id longer than max_client_id_length");
        return false;
    } else {
        c->client_id = dup_bytes(k->client_id.p, k->client_id.len);
        c->client_id_len = (uint16_t)k->client_id.len;
    }
    if (k->will) {
        enum topic_check tc = topic_name_check(k->will_topic.p, k->will_topic.len, &w->tlim);
        if (tc != TOPIC_OK) {
            violation(w, c, topic_check_str(tc));
            return false;
        }
        c->will = msg_new(k->will_topic.p, (uint16_t)k->will_topic.len, k->will_payload.p,
                          k->will_payload.len, k->will_qos, k->will_retain);
    }
    if (k->has_username) {
        c->username = dup_bytes(k->username.p, k->username.len);
        c->username_len = (uint16_t)k->username.len;
        c->has_username = true;
    }
    if (!c->client_id || (k->will && !c->will) || (k->has_username && !c->username)) {
        refuse(w, c, MQTT_CONNACK_SERVER_UNAVAILABLE, "out of memory");
        return false;
    }
    c->state = CS_AUTH;
    c->wait = WAIT_CONNECT;
    if (auth_request_connect(w, c, k) != 0) {
        refuse(w, c, MQTT_CONNACK_SERVER_UNAVAILABLE, "auth daemon unavailable");
        return false;
    }
    conn_update_events(w, c);
    return true;
}

static void finalize_connect(struct worker *w, struct conn *c)
{
    struct session *s = strmap_get(&w->sessions, c->client_id, c->client_id_len);
    if (s && s->conn) {
        log_info("client \"%.64s\" connected again from %s: closing the older connection",
                 s->client_id, c->peer);
        conn_close(w, s->conn, "session taken over");
        s = strmap_get(&w->sessions, c->client_id, c->client_id_len); /* may be gone */
    }
    /* A persistent session belongs to the identity that made it: another identity using
     * the same client id starts afresh and inherits no subscription or queued message. */
    bool foreign = s && (s->owner_len != c->identity_len ||
                         memcmp(s->owner, c->identity, c->identity_len) != 0);
    if (foreign)
        log_info("client \"%.64s\" resumed by another identity: its old session is dropped",
                 s->client_id);
    if (s && (c->clean_session || foreign)) {
        session_destroy(w, s);
        s = NULL;
    }
    bool present = s != NULL;
    if (!s) {
        s = session_new(w, (const uint8_t *)c->client_id, c->client_id_len, c->clean_session);
        if (s && session_set_owner(s, c->identity, c->identity_len) != 0) {
            session_destroy(w, s);
            s = NULL;
        }
        if (!s) {
            log_warn("cannot create a session for %s (max_sessions %u reached or no memory)",
                     c->peer, w->lim->max_sessions);
            refuse(w, c, MQTT_CONNACK_SERVER_UNAVAILABLE, "no session available");
            return;
        }
    }
    s->conn = c;
    c->session = s;
    session_verdicts_clear(s); /* a new connection may carry another identity */
    rate_init(w, c);
    c->state = CS_ACTIVE;
    c->wait = WAIT_NONE;
    c->last_rx_ms = w->now;
    send_connack(w, c, present, MQTT_CONNACK_ACCEPTED);
    session_resume(w, s);
    resume(w, c);
}

void proto_connect_verdict(struct worker *w, struct conn *c, uint8_t rc,
                           const struct ipc_connect_resp *resp)
{
    if (c->state != CS_AUTH || c->wait != WAIT_CONNECT)
        return;
    if (rc == MQTT_CONNACK_ACCEPTED && resp) {
        c->counted = true; /* from here on, its end must be reported */
        c->identity = dup_bytes(resp->identity.p, resp->identity.len);
        c->identity_len = resp->identity.len;
        c->limits = resp->limits;
        if (!c->identity) {
            refuse(w, c, MQTT_CONNACK_SERVER_UNAVAILABLE, "out of memory");
            return;
        }
    }
    if (rc != MQTT_CONNACK_ACCEPTED) {
        refuse(w, c, rc, "connect refused by the auth daemon");
        return;
    }
    if (c->will) {
        c->wait = WAIT_WILL_ACL;
        if (auth_request_acl(w, c, WAIT_WILL_ACL, 0, IPC_ACL_PUBLISH, c->will->qos,
                             (const uint8_t *)c->will->topic, c->will->topic_len) != 0)
            refuse(w, c, MQTT_CONNACK_SERVER_UNAVAILABLE, "auth daemon unavailable");
        return;
    }
    finalize_connect(w, c);
}

/* Why a publish that the policy otherwise allows is refused, or NULL. */
static const char *payload_refusal(const struct verdict *v, const struct mqtt_publish *p)
{
    if (p->qos > v->max_qos)
        return "QoS above the policy's maximum";
    if (p->retain && !(v->flags & IPC_ACL_RETAIN_OK))
        return "retain not allowed";
    if (v->payload_max && p->payload.len > v->payload_max)
        return "payload larger than the policy allows";
    if (v->payload_format == IPC_PAYLOAD_UTF8 && !mqtt_utf8_valid(p->payload.p, p->payload.len))
        return "payload is not UTF-8";
    if (v->payload_format == IPC_PAYLOAD_JSON && !json_check(p->payload.p, p->payload.len))
        return "payload is not JSON";
    return NULL;
}

static void apply_publish(struct worker *w, struct conn *c, const struct mqtt_publish *p,
                          const struct verdict *v)
{
    /* The QoS 2 id is taken before anything is delivered: a message over max_inbound_qos2
     * closes the connection undelivered, so the client's resend cannot make a duplicate. */
    if (p->qos == 2 && session_qos2_add(w, c->session, p->packet_id) != 0) {
        violation(w, c, "too many QoS 2 messages awaiting PUBREL (max_inbound_qos2)");
        return;
    }
    const char *why = !v          ? "no verdict (auth daemon unavailable)"
                      : !v->allow ? "denied by policy"
                                  : payload_refusal(v, p);
    if (!why) {
        struct msg *m = msg_new(p->topic.p, (uint16_t)p->topic.len, p->payload.p, p->payload.len,
                                p->qos, p->retain);
        if (!m) {
            conn_close(w, c, "out of memory");
            return;
        }
        if (p->retain && retained_set(w->retained, m) != 0)
            log_error("out of memory storing a retained message");
        route_publish(w, m);
        msg_unref(m);
    } else {
        char id[96], topic[160];
        log_debug("publish from \"%s\" to \"%s\" dropped: %s",
                  log_sanitize((const uint8_t *)c->client_id, c->client_id_len, id, sizeof(id)),
                  log_sanitize(p->topic.p, p->topic.len, topic, sizeof(topic)), why);
    }
    /* 3.1.1 has no negative acknowledgement: a refused message is acknowledged too. */
    if (p->qos == 1) {
        conn_send_ack(w, c, MQTT_PUBACK, p->packet_id);
    } else if (p->qos == 2) {
        conn_send_ack(w, c, MQTT_PUBREC, p->packet_id);
    }
}

static struct verdict verdict_from(struct worker *w, const struct ipc_acl_resp *r)
{
    return (struct verdict){.generation = w->generation,
                            .allow = r->allow,
                            .max_qos = r->max_qos,
                            .flags = r->flags,
                            .payload_format = r->payload_format,
                            .payload_max = r->payload_max};
}

static bool handle_publish(struct worker *w, struct conn *c, const struct mqtt_publish *p,
                           uint8_t byte0, const uint8_t *body, uint32_t len)
{
    enum topic_check tc = topic_name_check(p->topic.p, p->topic.len, &w->tlim);
    if (tc != TOPIC_OK) {
        violation(w, c, topic_check_str(tc));
        return false;
    }
    struct session *s = c->session;
    if (p->qos == 2 && session_qos2_has(s, p->packet_id)) {
        /* A resend of a QoS 2 message we already have: acknowledge, do not deliver again. */
        conn_send_ack(w, c, MQTT_PUBREC, p->packet_id);
        return true;
    }
    const struct verdict *v = session_verdict_get(w, s, p->topic.p, p->topic.len);
    if (v) {
        apply_publish(w, c, p, v);
        return c->state != CS_CLOSED;
    }
    if (keep_pending(c, byte0, body, len) != 0 ||
        auth_request_acl(w, c, WAIT_PUBLISH_ACL, 0, IPC_ACL_PUBLISH, p->qos, p->topic.p,
                         p->topic.len) != 0) {
        clear_pending(c);
        apply_publish(w, c, p, NULL); /* fail closed */
        return c->state != CS_CLOSED;
    }
    c->wait = WAIT_PUBLISH_ACL;
    conn_update_events(w, c);
    return true;
}

/* The identity's max_subscriptions: a new filter beyond it is refused; re-subscribing to a
 * filter the session already has is always fine. */
static bool sub_within_limit(const struct conn *c, const uint8_t *f, uint16_t len)
{
    const struct session *s = c->session;
    if (!c->limits.max_subscriptions || s->n_subs < c->limits.max_subscriptions)
        return true;
    for (uint32_t i = 0; i < s->n_subs; i++)
        if (s->subs[i].len == len && memcmp(s->subs[i].filter, f, len) == 0)
            return true;
    return false;
}

static void complete_subscribe(struct worker *w, struct conn *c)
{
    struct mqtt_packet pk;
    if (mqtt_decode(c->pend_byte0, c->pend, c->pend_len, c->proto, true, &pk) != MQTT_OK) {
        clear_pending(c);
        conn_close(w, c, "internal: pending SUBSCRIBE no longer decodes");
        return;
    }
    struct mqtt_topic_iter it;
    struct mqtt_str f;
    uint8_t opts;
    uint32_t i = 0;
    mqtt_topic_iter_init(&it, &pk.u.topics);
    while (mqtt_topic_iter_next(&it, &f, &opts) && i < c->pend_count) {
        if (c->pend_codes[i] != 0x80 && !sub_within_limit(c, f.p, (uint16_t)f.len))
            c->pend_codes[i] = 0x80;
        if (c->pend_codes[i] != 0x80 &&
            session_add_sub(w, c->session, f.p, (uint16_t)f.len, c->pend_codes[i]) != 0)
            c->pend_codes[i] = 0x80;
        i++;
    }
    uint32_t n = pk.u.topics.count;
    size_t cap = (size_t)n + 8;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        clear_pending(c);
        conn_close(w, c, "out of memory");
        return;
    }
    size_t len = mqtt_encode_suback(buf, cap, pk.u.topics.packet_id, c->pend_codes, n);
    conn_send_bytes(w, c, buf, len);
    free(buf);
    /* Retained messages follow the SUBACK. */
    mqtt_topic_iter_init(&it, &pk.u.topics);
    i = 0;
    while (mqtt_topic_iter_next(&it, &f, &opts) && i < n) {
        if (c->pend_codes[i] != 0x80)
            route_retained_to(w, c->session, f.p, f.len, c->pend_codes[i]);
        i++;
    }
    clear_pending(c);
}

static bool handle_subscribe(struct worker *w, struct conn *c, const struct mqtt_topic_list *tl,
                             uint8_t byte0, const uint8_t *body, uint32_t len)
{
    if (keep_pending(c, byte0, body, len) != 0 || !(c->pend_codes = calloc(tl->count, 1))) {
        clear_pending(c);
        conn_close(w, c, "out of memory");
        return false;
    }
    struct mqtt_topic_iter it;
    struct mqtt_str f;
    uint8_t opts;
    uint32_t i = 0;
    c->wait = WAIT_SUBSCRIBE_ACL;
    c->pend_count = tl->count;
    mqtt_topic_iter_init(&it, tl);
    while (mqtt_topic_iter_next(&it, &f, &opts)) {
        uint8_t qos = opts & 3;
        c->pend_codes[i] = 0x80;
        if (topic_filter_check(f.p, f.len, &w->tlim) == TOPIC_OK &&
            auth_request_acl(w, c, WAIT_SUBSCRIBE_ACL, i, IPC_ACL_SUBSCRIBE, qos, f.p, f.len) ==
                0) {
            c->pend_codes[i] = qos;
            c->pend_outstanding++;
        }
        i++;
    }
    if (c->pend_outstanding == 0) {
        complete_subscribe(w, c);
        return c->state != CS_CLOSED;
    }
    conn_update_events(w, c);
    return true;
}

void proto_acl_verdict(struct worker *w, struct conn *c, enum wait_kind kind, uint32_t index,
                       const struct ipc_acl_resp *resp)
{
    if (c->wait != kind)
        return;
    bool allow = resp && resp->allow;
    uint8_t max_qos = resp ? resp->max_qos : 0;
    struct mqtt_packet pk;
    switch (kind) {
    case WAIT_WILL_ACL: {
        /* A will is a publish made later on the client's behalf: it must pass every rule a
         * PUBLISH would (QoS, retain, payload), or the CONNECT is refused. */
        const char *why = "will topic not allowed";
        if (allow) {
            struct verdict v = verdict_from(w, resp);
            struct mqtt_publish wp = {
                .qos = c->will->qos,
                .retain = c->will->retain,
                .payload = {.p = c->will->payload, .len = c->will->payload_len}};
            why = payload_refusal(&v, &wp);
        }
        if (why)
            refuse(w, c, MQTT_CONNACK_NOT_AUTHORIZED, why);
        else
            finalize_connect(w, c);
        return;
    }
    case WAIT_PUBLISH_ACL:
        if (mqtt_decode(c->pend_byte0, c->pend, c->pend_len, c->proto, true, &pk) != MQTT_OK) {
            clear_pending(c);
            conn_close(w, c, "internal: pending PUBLISH no longer decodes");
            return;
        }
        if (resp) {
            struct verdict v = verdict_from(w, resp);
            session_verdict_put(w, c->session, pk.u.publish.topic.p, pk.u.publish.topic.len, &v);
            apply_publish(w, c, &pk.u.publish, &v);
        } else {
            apply_publish(w, c, &pk.u.publish, NULL);
        }
        clear_pending(c);
        resume(w, c);
        return;
    case WAIT_SUBSCRIBE_ACL:
        if (index < c->pend_count && c->pend_codes) {
            uint8_t req = c->pend_codes[index];
            c->pend_codes[index] = allow ? (req < max_qos ? req : max_qos) : 0x80;
        }
        if (--c->pend_outstanding == 0) {
            complete_subscribe(w, c);
            resume(w, c);
        }
        return;
    default:
        return;
    }
}

static void handle_unsubscribe(struct worker *w, struct conn *c, const struct mqtt_topic_list *tl)
{
    struct mqtt_topic_iter it;
    struct mqtt_str f;
    uint8_t opts;
    mqtt_topic_iter_init(&it, tl);
    while (mqtt_topic_iter_next(&it, &f, &opts))
        session_del_sub(w, c->session, f.p, (uint16_t)f.len);
    conn_send_ack(w, c, MQTT_UNSUBACK, tl->packet_id);
}

bool proto_handle(struct worker *w, struct conn *c, uint8_t byte0, const uint8_t *body,
                  uint32_t len)
{
    struct mqtt_packet pk;
    int rc = mqtt_decode(byte0, body, len, c->proto ? c->proto : MQTT_PROTO_311, true, &pk);
    if (c->state == CS_WAIT_CONNECT) {
        if ((byte0 >> 4) != MQTT_CONNECT) {
            violation(w, c, "first packet is not CONNECT");
            return false;
        }
        if (rc == MQTT_E_PROTO_LEVEL) {
            refuse(w, c, MQTT_CONNACK_BAD_PROTOCOL, "unsupported protocol level");
            return false;
        }
        if (rc != MQTT_OK) {
            violation(w, c, mqtt_err_str(rc));
            return false;
        }
        return handle_connect(w, c, &pk.u.connect);
    }
    if (rc != MQTT_OK) {
        violation(w, c, mqtt_err_str(rc));
        return false;
    }
    struct session *s = c->session;
    switch (pk.type) {
    case MQTT_PUBLISH:
        return handle_publish(w, c, &pk.u.publish, byte0, body, len);
    case MQTT_PUBACK:
        session_puback(w, s, pk.u.ack.packet_id);
        return true;
    case MQTT_PUBREC:
        session_pubrec(w, s, pk.u.ack.packet_id);
        return true;
    case MQTT_PUBREL:
        session_qos2_del(s, pk.u.ack.packet_id);
        conn_send_ack(w, c, MQTT_PUBCOMP, pk.u.ack.packet_id);
        return true;
    case MQTT_PUBCOMP:
        session_pubcomp(w, s, pk.u.ack.packet_id);
        return true;
    case MQTT_SUBSCRIBE:
        return handle_subscribe(w, c, &pk.u.topics, byte0, body, len);
    case MQTT_UNSUBSCRIBE:
        handle_unsubscribe(w, c, &pk.u.topics);
        return true;
    case MQTT_PINGREQ: {
        uint8_t b[2];
        conn_send_bytes(w, c, b, mqtt_encode_pingresp(b, sizeof(b)));
        return true;
    }
    case MQTT_DISCONNECT:
        c->clean_disconnect = true;
        conn_close(w, c, "client sent DISCONNECT");
        return false;
    case MQTT_CONNECT:
        violation(w, c, "second CONNECT on one connection");
        return false;
    default:
        violation(w, c, "packet type not accepted from a client");
        return false;
    }
}
