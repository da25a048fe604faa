/* protocol: MQTT 3.1.1 and 5.0 packet handling for one connection, including the pauses
 * while the auth daemon decides a CONNECT, a will, a SUBSCRIBE or a first PUBLISH to a
 * topic. At 5.0 every refusal carries its reason code: in CONNACK before the connection is
 * accepted, in the acks, and in a DISCONNECT before the server closes an accepted one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker.h"
#include "ipc.h"
#include "json_check.h"
#include "log.h"

/* Longest Authentication Method name taken (ours is "bulwark-ed25519"). */
#define AUTH_METHOD_MAX 64

static bool is_v5(const struct conn *c)
{
    return c->proto >= MQTT_PROTO_5;
}

/* The auth daemon answers with 3.1.1 return codes; 5.0 clients get the reason code of the
 * same meaning (3.2.2.2). */
static uint8_t connack_reason5(uint8_t rc)
{
    switch (rc) {
    case MQTT_CONNACK_ACCEPTED:
        return MQTT_RC_SUCCESS;
    case MQTT_CONNACK_BAD_PROTOCOL:
        return MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION;
    case MQTT_CONNACK_ID_REJECTED:
        return MQTT_RC_CLIENT_ID_NOT_VALID;
    case MQTT_CONNACK_SERVER_UNAVAILABLE:
        return MQTT_RC_SERVER_UNAVAILABLE;
    case MQTT_CONNACK_BAD_CREDENTIALS:
        return MQTT_RC_BAD_USERNAME_OR_PASSWORD;
    case MQTT_CONNACK_NOT_AUTHORIZED:
        return MQTT_RC_NOT_AUTHORIZED;
    default:
        return MQTT_RC_UNSPECIFIED;
    }
}

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

/* A 5.0 CONNACK refusal, with why as its Reason String when the client takes that size. */
static void refuse5(struct worker *w, struct conn *c, uint8_t reason, const char *why)
{
    uint8_t props[132], pkt[144];
    struct mqtt_pbuf b;
    size_t wlen = strlen(why);
    mqtt_pbuf_init(&b, props, sizeof(props));
    mqtt_pbuf_str(&b, MQTT_PROP_REASON_STRING, why, wlen < 128 ? wlen : 128);
    size_t n = mqtt_encode_connack5(pkt, sizeof(pkt), false, reason, props, b.len);
    if (c->v5.max_out_packet && n > c->v5.max_out_packet)
        n = mqtt_encode_connack5(pkt, sizeof(pkt), false, reason, NULL, 0);
    conn_send_bytes(w, c, pkt, n);
    finish(w, c, why);
}

/* rc is a 3.1.1 return code; a 5.0 client gets its reason code. */
static void refuse(struct worker *w, struct conn *c, uint8_t rc, const char *why)
{
    if (is_v5(c)) {
        refuse5(w, c, connack_reason5(rc), why);
        return;
    }
    send_connack(w, c, false, rc);
    finish(w, c, why);
}

static void violation(struct worker *w, struct conn *c, const char *why)
{
    log_info("protocol violation from %s: %s; closing", c->peer, why);
    conn_close(w, c, why);
}

/* A broken rule after CONNACK: at 5.0 the client is told why (DISCONNECT reason). */
static void violation5(struct worker *w, struct conn *c, uint8_t reason, const char *why)
{
    log_info("protocol violation from %s: %s; closing", c->peer, why);
    conn_disconnect(w, c, reason, why);
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
    free(c->v5.pend_topic);
    c->pend = NULL;
    c->pend_codes = NULL;
    c->v5.pend_topic = NULL;
    c->v5.pend_topic_len = 0;
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

/* Our bounds on one packet's properties (limits.max_properties, max_properties_size). */
static bool props_within(const struct worker *w, const struct mqtt_props *pr)
{
    return pr->count <= w->lim->max_properties && pr->raw.len <= w->lim->max_properties_size;
}

static uint16_t cap16(uint32_t v)
{
    return v > UINT16_MAX ? UINT16_MAX : (uint16_t)v;
}

/* The 5.0 parts of CONNECT: what the client takes, what we grant. Returns a CONNACK reason
 * code when the connection must be refused, 0 when it may go on. */
static uint8_t negotiate5(struct worker *w, struct conn *c, const struct mqtt_connect *k)
{
    const struct mqtt_props *p = &k->props;
    const struct config_limits *lim = w->lim;
    if (!props_within(w, p) || !props_within(w, &k->will_props))
        return MQTT_RC_QUOTA_EXCEEDED;
    if (mqtt_props_has(p, MQTT_PROP_AUTH_METHOD)) {
        /* Enhanced authentication (4.12): the auth daemon knows the methods; a name longer
         * than any of them cannot be one. */
        if (p->auth_method.len > AUTH_METHOD_MAX)
            return MQTT_RC_BAD_AUTH_METHOD;
        c->v5.auth_method = dup_bytes(p->auth_method.p, p->auth_method.len);
        if (!c->v5.auth_method)
            return MQTT_RC_UNSPECIFIED;
        c->v5.auth_method_len = (uint16_t)p->auth_method.len;
    } else if (mqtt_props_has(p, MQTT_PROP_AUTH_DATA)) {
        return MQTT_RC_PROTOCOL_ERROR; /* data without a method (3.1.2.11.10) */
    }
    c->v5.client_recv_max =
        mqtt_props_has(p, MQTT_PROP_RECEIVE_MAXIMUM) ? p->receive_maximum : UINT16_MAX;
    c->v5.max_out_packet =
        mqtt_props_has(p, MQTT_PROP_MAXIMUM_PACKET_SIZE) ? p->maximum_packet_size : 0;
    uint32_t asked = mqtt_props_has(p, MQTT_PROP_SESSION_EXPIRY) ? p->session_expiry : 0;
    c->v5.expiry_was_zero = asked == 0;
    c->v5.session_expiry = asked < lim->max_session_expiry_s ? asked : lim->max_session_expiry_s;
    c->v5.expiry_lowered = c->v5.session_expiry != asked;
    c->v5.recv_max = cap16(lim->receive_maximum < lim->max_inbound_qos2 ? lim->receive_maximum
                                                                        : lim->max_inbound_qos2);
    c->v5.alias_max = cap16(lim->topic_alias_maximum);
    if (lim->max_keepalive && (k->keepalive == 0 || k->keepalive > lim->max_keepalive)) {
        c->keepalive = (uint16_t)lim->max_keepalive; /* 3.2.2.3.14 */
        c->v5.keepalive_set = true;
    }
    if (k->will) {
        const struct mqtt_props *wp = &k->will_props;
        c->v5.will_delay = mqtt_props_has(wp, MQTT_PROP_WILL_DELAY) ? wp->will_delay : 0;
        /* 3.1.3.2.3: a will that says it is UTF-8 must be. */
        if (mqtt_props_has(wp, MQTT_PROP_PAYLOAD_FORMAT) && wp->payload_format == 1 &&
            !mqtt_utf8_valid(k->will_payload.p, k->will_payload.len))
            return MQTT_RC_PAYLOAD_FORMAT_INVALID;
    }
    return 0;
}

static bool handle_connect(struct worker *w, struct conn *c, const struct mqtt_connect *k)
{
    c->proto = k->proto_level;
    c->keepalive = k->keepalive;
    c->clean_session = k->clean_session;
    if (is_v5(c)) {
        uint8_t reason = negotiate5(w, c, k);
        if (reason) {
            refuse5(w, c, reason, "CONNECT refused");
            return false;
        }
    }
    if (k->client_id.len == 0) {
        /* 3.1.1 takes an empty id only with a clean session; 5.0 always (3.1.3-6). */
        if (!k->clean_session && !is_v5(c)) {
            refuse(w, c, MQTT_CONNACK_ID_REJECTED, "empty client id without clean session");
            return false;
        }
        if (assign_client_id(c) != 0) {
            refuse(w, c, MQTT_CONNACK_SERVER_UNAVAILABLE, "out of memory");
            return false;
        }
        c->v5.id_assigned = is_v5(c);
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
            if (is_v5(c))
                refuse5(w, c, MQTT_RC_TOPIC_NAME_INVALID, topic_check_str(tc));
            else
                violation(w, c, topic_check_str(tc));
            return false;
        }
        /* The will's expiry starts when it is published (3.1.3.2.4). */
        c->will = msg_new5(k->will_topic.p, (uint16_t)k->will_topic.len, &k->will_props,
                           k->will_payload.p, k->will_payload.len, k->will_qos, k->will_retain, 0);
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

/* The truthful capabilities of this server (3.2.2.3). */
static void send_connack5(struct worker *w, struct conn *c, bool present)
{
    uint8_t props[256 + 64], pkt[384];
    struct mqtt_pbuf b;
    mqtt_pbuf_init(&b, props, sizeof(props));
    if (c->v5.expiry_lowered)
        mqtt_pbuf_u32(&b, MQTT_PROP_SESSION_EXPIRY, c->v5.session_expiry);
    mqtt_pbuf_u16(&b, MQTT_PROP_RECEIVE_MAXIMUM, c->v5.recv_max);
    mqtt_pbuf_u32(&b, MQTT_PROP_MAXIMUM_PACKET_SIZE, w->lim->max_packet_size);
    if (c->v5.alias_max)
        mqtt_pbuf_u16(&b, MQTT_PROP_TOPIC_ALIAS_MAXIMUM, c->v5.alias_max);
    mqtt_pbuf_u8(&b, MQTT_PROP_RETAIN_AVAILABLE, 1);
    mqtt_pbuf_u8(&b, MQTT_PROP_WILDCARD_SUB_AVAILABLE, 1);
    mqtt_pbuf_u8(&b, MQTT_PROP_SUB_ID_AVAILABLE, 1);
    mqtt_pbuf_u8(&b, MQTT_PROP_SHARED_SUB_AVAILABLE, 1);
    if (c->v5.id_assigned)
        mqtt_pbuf_str(&b, MQTT_PROP_ASSIGNED_CLIENT_ID, c->client_id, c->client_id_len);
    if (c->v5.keepalive_set)
        mqtt_pbuf_u16(&b, MQTT_PROP_SERVER_KEEP_ALIVE, c->keepalive);
    if (c->v5.auth_method) /* 3.2.2.3.17: the method the client authenticated with */
        mqtt_pbuf_str(&b, MQTT_PROP_AUTH_METHOD, c->v5.auth_method, c->v5.auth_method_len);
    size_t n = mqtt_encode_connack5(pkt, sizeof(pkt), present, 0, props, b.len);
    conn_send_bytes(w, c, pkt, n);
}

static void finalize_connect(struct worker *w, struct conn *c)
{
    struct session *s = strmap_get(&w->sessions, c->client_id, c->client_id_len);
    if (s && s->conn) {
        log_info("client \"%.64s\" connected again from %s: closing the older connection",
                 s->client_id, c->peer);
        conn_disconnect(w, s->conn, MQTT_RC_SESSION_TAKEN_OVER, "session taken over");
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
        session_end(w, s); /* its delayed will, if any, goes out now */
        s = NULL;
    }
    /* 3.1.1: a clean session ends with its connection, another never; 5.0: its expiry. */
    uint32_t expiry = is_v5(c) ? c->v5.session_expiry : c->clean_session ? 0 : UINT32_MAX;
    bool present = s != NULL;
    if (!s) {
        s = session_new(w, (const uint8_t *)c->client_id, c->client_id_len, expiry == 0);
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
    s->expiry_s = expiry;
    s->clean = expiry == 0;
    session_online(w, s, c);
    s->conn = c;
    c->session = s;
    session_verdicts_clear(s); /* a new connection may carry another identity */
    rate_init(w, c);
    c->state = CS_ACTIVE;
    c->wait = WAIT_NONE;
    c->last_rx_ms = w->now;
    if (is_v5(c))
        send_connack5(w, c, present);
    else
        send_connack(w, c, present, MQTT_CONNACK_ACCEPTED);
    session_resume(w, s);
    resume(w, c);
}

/* An AUTH packet to the client (4.12): the method and the auth daemon's data. */
static int send_auth(struct worker *w, struct conn *c, uint8_t reason, struct ipc_bytes data)
{
    size_t cap = 16u + c->v5.auth_method_len + data.len;
    uint8_t *props = malloc(cap), *pkt = malloc(cap + 16);
    struct mqtt_pbuf b;
    size_t n = 0;
    if (props && pkt) {
        mqtt_pbuf_init(&b, props, cap);
        mqtt_pbuf_str(&b, MQTT_PROP_AUTH_METHOD, c->v5.auth_method, c->v5.auth_method_len);
        if (data.len)
            mqtt_pbuf_str(&b, MQTT_PROP_AUTH_DATA, data.p, data.len);
        if (!b.failed)
            n = mqtt_encode_reason5(pkt, cap + 16, MQTT_AUTH, reason, props, b.len);
    }
    int rc = n ? conn_send_bytes(w, c, pkt, n) : -1;
    free(props);
    free(pkt);
    return rc;
}

/* The client's answer to our AUTH challenge: the same method, reason Continue (4.12.0-2). */
static bool handle_auth_answer(struct worker *w, struct conn *c, const struct mqtt_packet *pk)
{
    const struct mqtt_reason *a = &pk->u.reason;
    if (pk->type == MQTT_DISCONNECT) {
        conn_close(w, c, "client gave up authenticating");
        return false;
    }
    if (pk->type != MQTT_AUTH || !c->v5.auth_challenged) {
        refuse5(w, c, MQTT_RC_PROTOCOL_ERROR, "only AUTH may answer an AUTH challenge");
        return false;
    }
    if (a->reason != MQTT_RC_CONTINUE_AUTH || !mqtt_props_has(&a->props, MQTT_PROP_AUTH_METHOD) ||
        a->props.auth_method.len != c->v5.auth_method_len ||
        memcmp(a->props.auth_method.p, c->v5.auth_method, c->v5.auth_method_len) != 0) {
        refuse5(w, c, MQTT_RC_PROTOCOL_ERROR, "AUTH with another method or reason");
        return false;
    }
    c->v5.auth_challenged = false;
    c->wait = WAIT_CONNECT;
    if (auth_request_auth_step(w, c, a->props.auth_data.p, a->props.auth_data.len) != 0) {
        refuse(w, c, MQTT_CONNACK_SERVER_UNAVAILABLE, "auth daemon unavailable");
        return false;
    }
    conn_update_events(w, c);
    return true;
}

void proto_connect_verdict(struct worker *w, struct conn *c, uint8_t rc,
                           const struct ipc_connect_resp *resp)
{
    if (c->state != CS_AUTH || c->wait != WAIT_CONNECT)
        return;
    if (resp && resp->auth_continue) {
        /* The method wants another round trip: challenge the client, then read its AUTH. */
        if (!is_v5(c) || !c->v5.auth_method ||
            send_auth(w, c, MQTT_RC_CONTINUE_AUTH, resp->auth_data) != 0) {
            refuse(w, c, MQTT_CONNACK_SERVER_UNAVAILABLE, "cannot continue authentication");
            return;
        }
        c->v5.auth_challenged = true;
        c->wait = WAIT_NONE;
        conn_update_events(w, c);
        return;
    }
    if (resp && resp->reason5 && rc != MQTT_CONNACK_ACCEPTED && is_v5(c) &&
        mqtt_reason_allowed(MQTT_CONNACK, resp->reason5)) {
        refuse5(w, c, resp->reason5, "connect refused by the auth daemon");
        return;
    }
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

/* Why a publish that the policy otherwise allows is refused, or NULL; *reason gets the 5.0
 * PUBACK/PUBREC code (3.4.2.1). */
static const char *payload_refusal(const struct verdict *v, const struct mqtt_publish *p,
                                   uint8_t *reason)
{
    *reason = MQTT_RC_NOT_AUTHORIZED;
    if (p->qos > v->max_qos)
        return "QoS above the policy's maximum";
    if (p->retain && !(v->flags & IPC_ACL_RETAIN_OK))
        return "retain not allowed";
    *reason = MQTT_RC_QUOTA_EXCEEDED;
    if (v->payload_max && p->payload.len > v->payload_max)
        return "payload larger than the policy allows";
    *reason = MQTT_RC_PAYLOAD_FORMAT_INVALID;
    if (v->payload_format == IPC_PAYLOAD_UTF8 && !mqtt_utf8_valid(p->payload.p, p->payload.len))
        return "payload is not UTF-8";
    if (v->payload_format == IPC_PAYLOAD_JSON && !json_check(p->payload.p, p->payload.len))
        return "payload is not JSON";
    *reason = MQTT_RC_SUCCESS;
    return NULL;
}

static void ack_publish(struct worker *w, struct conn *c, const struct mqtt_publish *p,
                        uint8_t reason)
{
    if (p->qos == 1) {
        conn_send_ack5(w, c, MQTT_PUBACK, p->packet_id, reason);
    } else if (p->qos == 2) {
        if (reason >= 0x80)
            session_qos2_del(c->session, p->packet_id); /* 4.3.3: the exchange ends here */
        conn_send_ack5(w, c, MQTT_PUBREC, p->packet_id, reason);
    }
}

static void apply_publish(struct worker *w, struct conn *c, const struct mqtt_publish *p,
                          const struct verdict *v)
{
    /* The QoS 2 id is taken before anything is delivered: a message over max_inbound_qos2
     * closes the connection undelivered, so the client's resend cannot make a duplicate. */
    if (p->qos == 2 && session_qos2_add(w, c->session, p->packet_id) != 0) {
        violation5(w, c, MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED,
                   "too many QoS 2 messages awaiting PUBREL (max_inbound_qos2)");
        return;
    }
    uint8_t reason = MQTT_RC_UNSPECIFIED;
    const char *why = !v ? "no verdict (auth daemon unavailable)" : NULL;
    if (v && !v->allow) {
        why = "denied by policy";
        reason = MQTT_RC_NOT_AUTHORIZED;
    } else if (v) {
        why = payload_refusal(v, p, &reason);
    }
    if (!why) {
        struct msg *m = msg_new5(p->topic.p, (uint16_t)p->topic.len, is_v5(c) ? &p->props : NULL,
                                 p->payload.p, p->payload.len, p->qos, p->retain, w->now);
        if (!m) {
            conn_close(w, c, "out of memory");
            return;
        }
        if (p->retain && retained_set(w->retained, m) != 0)
            log_error("out of memory storing a retained message");
        if (route_publish_from(w, m, c->session) == 0)
            reason = MQTT_RC_NO_MATCHING_SUBSCRIBERS; /* 3.4.2.1: accepted, no one to get it */
        msg_unref(m);
    } else {
        char id[96], topic[160];
        log_debug("publish from \"%s\" to \"%s\" dropped: %s",
                  log_sanitize((const uint8_t *)c->client_id, c->client_id_len, id, sizeof(id)),
                  log_sanitize(p->topic.p, p->topic.len, topic, sizeof(topic)), why);
    }
    /* 3.1.1 has no negative acknowledgement: a refused message is acknowledged too. 5.0
     * says why. */
    ack_publish(w, c, p, reason);
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

/* 5.0 Topic Alias (3.3.2.3.4): a topic with an alias sets it, an empty topic uses it.
 * Returns false when the connection was closed. */
static bool resolve_alias(struct worker *w, struct conn *c, struct mqtt_publish *p)
{
    if (!mqtt_props_has(&p->props, MQTT_PROP_TOPIC_ALIAS))
        return true;
    uint16_t a = p->props.topic_alias;
    if (a > c->v5.alias_max) {
        violation5(w, c, MQTT_RC_TOPIC_ALIAS_INVALID, "topic alias above the maximum");
        return false;
    }
    if (!c->v5.aliases) {
        c->v5.aliases = calloc(c->v5.alias_max, sizeof(char *));
        c->v5.alias_lens = calloc(c->v5.alias_max, sizeof(uint16_t));
        if (!c->v5.aliases || !c->v5.alias_lens) {
            conn_close(w, c, "out of memory");
            return false;
        }
    }
    if (p->topic.len == 0) {
        if (!c->v5.aliases[a - 1]) {
            violation5(w, c, MQTT_RC_PROTOCOL_ERROR, "topic alias not set");
            return false;
        }
        p->topic.p = (const uint8_t *)c->v5.aliases[a - 1];
        p->topic.len = c->v5.alias_lens[a - 1];
        return true;
    }
    char *t = dup_bytes(p->topic.p, p->topic.len);
    if (!t) {
        conn_close(w, c, "out of memory");
        return false;
    }
    free(c->v5.aliases[a - 1]);
    c->v5.aliases[a - 1] = t;
    c->v5.alias_lens[a - 1] = (uint16_t)p->topic.len;
    return true;
}

/* 5.0 checks of a PUBLISH before its verdict. Returns false when it goes no further (the
 * connection closed, or the message was refused with a reason code). */
static bool check_publish5(struct worker *w, struct conn *c, const struct mqtt_publish *p)
{
    struct session *s = c->session;
    if (p->qos && !(p->qos == 2 && session_qos2_has(s, p->packet_id)) &&
        s->n_qos2_in >= c->v5.recv_max) {
        violation5(w, c, MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED, "receive maximum exceeded");
        return false;
    }
    /* 3.3.2.3.2: a payload that says it is UTF-8 must be. */
    if (mqtt_props_has(&p->props, MQTT_PROP_PAYLOAD_FORMAT) && p->props.payload_format == 1 &&
        !mqtt_utf8_valid(p->payload.p, p->payload.len)) {
        if (p->qos == 0) {
            violation5(w, c, MQTT_RC_PAYLOAD_FORMAT_INVALID, "payload is not UTF-8");
        } else {
            if (p->qos == 2 && session_qos2_add(w, s, p->packet_id) != 0) {
                violation5(w, c, MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED, "receive maximum exceeded");
                return false;
            }
            ack_publish(w, c, p, MQTT_RC_PAYLOAD_FORMAT_INVALID);
        }
        return false;
    }
    return true;
}

static bool handle_publish(struct worker *w, struct conn *c, const struct mqtt_publish *in,
                           uint8_t byte0, const uint8_t *body, uint32_t len)
{
    struct mqtt_publish pub = *in;
    struct mqtt_publish *p = &pub;
    if (is_v5(c) && !resolve_alias(w, c, p))
        return false;
    enum topic_check tc = topic_name_check(p->topic.p, p->topic.len, &w->tlim);
    if (tc != TOPIC_OK) {
        if (!is_v5(c)) {
            violation(w, c, topic_check_str(tc));
            return false;
        }
        if (p->qos == 0) {
            violation5(w, c, MQTT_RC_TOPIC_NAME_INVALID, topic_check_str(tc));
            return false;
        }
        conn_send_ack5(w, c, p->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, p->packet_id,
                       MQTT_RC_TOPIC_NAME_INVALID);
        return true;
    }
    struct session *s = c->session;
    if (p->qos == 2 && session_qos2_has(s, p->packet_id)) {
        /* A resend of a QoS 2 message we already have: acknowledge, do not deliver again. */
        conn_send_ack(w, c, MQTT_PUBREC, p->packet_id);
        return true;
    }
    if (is_v5(c) && !check_publish5(w, c, p))
        return c->state != CS_CLOSED;
    const struct verdict *v = session_verdict_get(w, s, p->topic.p, p->topic.len);
    if (v) {
        apply_publish(w, c, p, v);
        return c->state != CS_CLOSED;
    }
    bool aliased = in->topic.len == 0;
    if (keep_pending(c, byte0, body, len) != 0 ||
        (aliased && !(c->v5.pend_topic = dup_bytes(p->topic.p, p->topic.len))) ||
        auth_request_acl(w, c, WAIT_PUBLISH_ACL, 0, IPC_ACL_PUBLISH, p->qos, p->topic.p,
                         p->topic.len) != 0) {
        clear_pending(c);
        apply_publish(w, c, p, NULL); /* fail closed */
        return c->state != CS_CLOSED;
    }
    c->v5.pend_topic_len = aliased ? (uint16_t)p->topic.len : 0;
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

/* 3.1.1 knows one failure code. */
static uint8_t suback_code(const struct conn *c, uint8_t code)
{
    return code >= 0x80 && !is_v5(c) ? 0x80 : code;
}

static void complete_subscribe(struct worker *w, struct conn *c)
{
    struct mqtt_packet pk;
    if (mqtt_decode(c->pend_byte0, c->pend, c->pend_len, c->proto, true, &pk) != MQTT_OK) {
        clear_pending(c);
        conn_close(w, c, "internal: pending SUBSCRIBE no longer decodes");
        return;
    }
    const struct mqtt_props *pr = &pk.u.topics.props;
    uint32_t sub_id = mqtt_props_has(pr, MQTT_PROP_SUBSCRIPTION_ID) ? pr->sub_id : 0;
    uint32_t n = pk.u.topics.count;
    bool *existed = calloc(n, sizeof(bool));
    size_t cap = 2 * (size_t)n + 16; /* the codes, then the packet holding them */
    uint8_t *buf = malloc(cap);
    if (!existed || !buf) {
        free(existed);
        free(buf);
        clear_pending(c);
        conn_close(w, c, "out of memory");
        return;
    }
    struct mqtt_topic_iter it;
    struct mqtt_str f;
    uint8_t opts;
    uint32_t i = 0;
    mqtt_topic_iter_init(&it, &pk.u.topics);
    while (mqtt_topic_iter_next(&it, &f, &opts) && i < c->pend_count) {
        uint8_t *code = &c->pend_codes[i];
        if (*code < 0x80 && !sub_within_limit(c, f.p, (uint16_t)f.len))
            *code = MQTT_RC_QUOTA_EXCEEDED;
        if (*code < 0x80 && session_add_sub5(w, c->session, f.p, (uint16_t)f.len, *code,
                                             opts & 0x3C, sub_id, &existed[i]) != 0)
            *code = MQTT_RC_UNSPECIFIED;
        i++;
    }
    for (i = 0; i < n; i++)
        buf[i] = suback_code(c, c->pend_codes[i]);
    size_t len = is_v5(c) ? mqtt_encode_suback5(buf + n, cap - n, MQTT_SUBACK,
                                                pk.u.topics.packet_id, NULL, 0, buf, n)
                          : mqtt_encode_suback(buf + n, cap - n, pk.u.topics.packet_id, buf, n);
    conn_send_bytes(w, c, buf + n, len);
    free(buf);
    /* Retained messages follow the SUBACK, as Retain Handling says (3.3.1.3); never for a
     * shared subscription (4.8.2). */
    mqtt_topic_iter_init(&it, &pk.u.topics);
    i = 0;
    while (mqtt_topic_iter_next(&it, &f, &opts) && i < n) {
        struct mqtt_str g, flt;
        uint8_t rh = SUBOPT_RETAIN_HANDLING(opts);
        bool send = c->pend_codes[i] < 0x80 && rh != 2 && !(rh == 1 && existed[i]) &&
                    share_parse(f.p, f.len, &g, &flt) == 0;
        if (send)
            route_retained_to5(w, c->session, f.p, f.len, c->pend_codes[i], sub_id);
        i++;
    }
    free(existed);
    clear_pending(c);
}

static bool handle_subscribe(struct worker *w, struct conn *c, const struct mqtt_topic_list *tl,
                             uint8_t byte0, const uint8_t *body, uint32_t len)
{
    struct mqtt_topic_iter it;
    struct mqtt_str f, g, flt;
    uint8_t opts;
    /* 3.8.3-4: No Local on a shared subscription breaks the whole packet. */
    mqtt_topic_iter_init(&it, tl);
    while (is_v5(c) && mqtt_topic_iter_next(&it, &f, &opts)) {
        if ((opts & SUBOPT_NO_LOCAL) && share_parse(f.p, f.len, &g, &flt) == 1) {
            violation5(w, c, MQTT_RC_PROTOCOL_ERROR, "No Local on a shared subscription");
            return false;
        }
    }
    if (keep_pending(c, byte0, body, len) != 0 || !(c->pend_codes = calloc(tl->count, 1))) {
        clear_pending(c);
        conn_close(w, c, "out of memory");
        return false;
    }
    uint32_t i = 0;
    c->wait = WAIT_SUBSCRIBE_ACL;
    c->pend_count = tl->count;
    mqtt_topic_iter_init(&it, tl);
    while (mqtt_topic_iter_next(&it, &f, &opts)) {
        uint8_t qos = opts & 3;
        /* A shared subscription is decided on its filter part (4.8.2). */
        int sh = share_parse(f.p, f.len, &g, &flt);
        const struct mqtt_str *target = sh == 1 ? &flt : &f;
        c->pend_codes[i] = MQTT_RC_TOPIC_FILTER_INVALID;
        if (sh >= 0 && topic_filter_check(target->p, target->len, &w->tlim) == TOPIC_OK) {
            c->pend_codes[i] = MQTT_RC_UNSPECIFIED;
            if (auth_request_acl(w, c, WAIT_SUBSCRIBE_ACL, i, IPC_ACL_SUBSCRIBE, qos, target->p,
                                 target->len) == 0) {
                c->pend_codes[i] = qos;
                c->pend_outstanding++;
            }
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
        uint8_t reason = MQTT_RC_NOT_AUTHORIZED;
        if (allow) {
            struct verdict v = verdict_from(w, resp);
            struct mqtt_publish wp = {
                .qos = c->will->qos,
                .retain = c->will->retain,
                .payload = {.p = c->will->payload, .len = c->will->payload_len}};
            why = payload_refusal(&v, &wp, &reason);
        }
        if (why && is_v5(c))
            refuse5(w, c, reason, why);
        else if (why)
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
        if (c->v5.pend_topic) { /* its topic came from an alias */
            pk.u.publish.topic.p = (const uint8_t *)c->v5.pend_topic;
            pk.u.publish.topic.len = c->v5.pend_topic_len;
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
            c->pend_codes[index] = allow  ? (req < max_qos ? req : max_qos)
                                   : resp ? MQTT_RC_NOT_AUTHORIZED
                                          : MQTT_RC_UNSPECIFIED;
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
    uint8_t *codes = is_v5(c) ? malloc((size_t)tl->count * 2 + 16) : NULL;
    uint32_t i = 0;
    mqtt_topic_iter_init(&it, tl);
    while (mqtt_topic_iter_next(&it, &f, &opts)) {
        bool had = session_del_sub(w, c->session, f.p, (uint16_t)f.len);
        if (codes)
            codes[i++] = had ? MQTT_RC_SUCCESS : MQTT_RC_NO_SUBSCRIPTION_EXISTED;
    }
    if (!is_v5(c)) {
        conn_send_ack(w, c, MQTT_UNSUBACK, tl->packet_id);
        return;
    }
    if (!codes) {
        conn_close(w, c, "out of memory");
        return;
    }
    size_t n = mqtt_encode_suback5(codes + i, (size_t)tl->count + 16, MQTT_UNSUBACK, tl->packet_id,
                                   NULL, 0, codes, i);
    conn_send_bytes(w, c, codes + i, n);
    free(codes);
}

/* Client DISCONNECT (3.14.4): only reason 0 discards the will; 5.0 may change the session's
 * expiry, unless CONNECT asked for 0 (3.14.2.2.2). */
static void handle_disconnect(struct worker *w, struct conn *c, const struct mqtt_reason *d)
{
    if (is_v5(c) && mqtt_props_has(&d->props, MQTT_PROP_SESSION_EXPIRY)) {
        uint32_t asked = d->props.session_expiry;
        if (c->v5.expiry_was_zero && asked != 0) {
            violation5(w, c, MQTT_RC_PROTOCOL_ERROR, "session expiry set after 0 in CONNECT");
            return;
        }
        uint32_t cap = w->lim->max_session_expiry_s;
        struct session *s = c->session;
        c->v5.session_expiry = asked < cap ? asked : cap;
        s->expiry_s = c->v5.session_expiry;
        s->clean = s->expiry_s == 0;
    }
    c->clean_disconnect = !is_v5(c) || d->reason == MQTT_RC_SUCCESS;
    conn_close(w, c, "client sent DISCONNECT");
}

/* Properties of a packet within our bounds (5.0; always true below). */
static bool packet_props_ok(const struct worker *w, const struct mqtt_packet *pk)
{
    switch (pk->type) {
    case MQTT_PUBLISH:
        return props_within(w, &pk->u.publish.props);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        return props_within(w, &pk->u.ack.props);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return props_within(w, &pk->u.topics.props);
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        return props_within(w, &pk->u.reason.props);
    default:
        return true;
    }
}

bool proto_handle(struct worker *w, struct conn *c, uint8_t byte0, const uint8_t *body,
                  uint32_t len)
{
    struct mqtt_packet pk;
    pk.u.connect.proto_level = 0; /* read on a CONNECT that failed before its level */
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
        if (rc != MQTT_OK && pk.u.connect.proto_level == MQTT_PROTO_5) {
            /* 3.1.4-1: a broken 5.0 CONNECT may get a CONNACK saying why (4.13.1). */
            c->proto = MQTT_PROTO_5;
            refuse5(w, c, mqtt_err_reason(rc), mqtt_err_str(rc));
            return false;
        }
        if (rc != MQTT_OK) {
            violation(w, c, mqtt_err_str(rc));
            return false;
        }
        return handle_connect(w, c, &pk.u.connect);
    }
    if (c->state == CS_AUTH) { /* between our AUTH challenge and CONNACK */
        if (rc != MQTT_OK) {
            refuse5(w, c, MQTT_RC_MALFORMED, mqtt_err_str(rc));
            return false;
        }
        return handle_auth_answer(w, c, &pk);
    }
    if (rc != MQTT_OK) {
        /* A second CONNECT with a bad level is a protocol error, not a version question. */
        uint8_t reason = mqtt_err_reason(rc);
        if (!mqtt_reason_allowed(MQTT_DISCONNECT, reason))
            reason = MQTT_RC_PROTOCOL_ERROR;
        violation5(w, c, reason, mqtt_err_str(rc));
        return false;
    }
    if (is_v5(c) && !packet_props_ok(w, &pk)) {
        violation5(w, c, MQTT_RC_QUOTA_EXCEEDED, "too many or too large properties");
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
        session_pubrec5(w, s, pk.u.ack.packet_id, pk.u.ack.reason);
        return true;
    case MQTT_PUBREL: {
        /* 5.0: an id we do not hold is named in PUBCOMP (3.7.2.1). */
        bool known = session_qos2_has(s, pk.u.ack.packet_id);
        session_qos2_del(s, pk.u.ack.packet_id);
        conn_send_ack5(w, c, MQTT_PUBCOMP, pk.u.ack.packet_id,
                       known ? MQTT_RC_SUCCESS : MQTT_RC_PACKET_ID_NOT_FOUND);
        return true;
    }
    case MQTT_PUBCOMP:
        session_pubcomp(w, s, pk.u.ack.packet_id);
        return true;
    case MQTT_SUBSCRIBE:
        return handle_subscribe(w, c, &pk.u.topics, byte0, body, len);
    case MQTT_UNSUBSCRIBE:
        handle_unsubscribe(w, c, &pk.u.topics);
        return c->state != CS_CLOSED;
    case MQTT_PINGREQ: {
        uint8_t b[2];
        conn_send_bytes(w, c, b, mqtt_encode_pingresp(b, sizeof(b)));
        return true;
    }
    case MQTT_DISCONNECT:
        handle_disconnect(w, c, &pk.u.reason);
        return false;
    case MQTT_AUTH:
        /* Without a method in CONNECT AUTH is a protocol error (4.12-1); re-authentication
         * (reason 0x19) is not offered. */
        violation5(w, c, MQTT_RC_PROTOCOL_ERROR,
                   c->v5.auth_method ? "re-authentication is not supported"
                                     : "AUTH without an authentication method");
        return false;
    case MQTT_CONNECT:
        violation5(w, c, MQTT_RC_PROTOCOL_ERROR, "second CONNECT on one connection");
        return false;
    default:
        violation5(w, c, MQTT_RC_PROTOCOL_ERROR, "packet type not accepted from a client");
        return false;
    }
}
