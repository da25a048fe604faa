/* mqtt_props: MQTT 5.0 property decoding and building (promises in mqtt_props.h).
 * One table says, for every property id, its value type and the packets it may appear in;
 * the decoder is one bounded pass over the block driven by it. */
#include "mqtt_props.h"

#include <string.h>

#include "mqtt_codec.h"

enum ptype { PT_NONE, PT_BYTE, PT_U16, PT_U32, PT_VARINT, PT_STR, PT_BIN, PT_PAIR };

#define C(x) (1u << MQTT_PCTX_##x)
#define ACKS (C(PUBACK) | C(SUBACK) | C(UNSUBACK))

struct pdef {
    uint8_t type;
    uint16_t where; /* bit per enum mqtt_prop_ctx */
    const char *name;
};

static const struct pdef defs[0x2B] = {
    [0x01] = {PT_BYTE, C(PUBLISH) | C(WILL), "Payload Format Indicator"},
    [0x02] = {PT_U32, C(PUBLISH) | C(WILL), "Message Expiry Interval"},
    [0x03] = {PT_STR, C(PUBLISH) | C(WILL), "Content Type"},
    [0x08] = {PT_STR, C(PUBLISH) | C(WILL), "Response Topic"},
    [0x09] = {PT_BIN, C(PUBLISH) | C(WILL), "Correlation Data"},
    [0x0B] = {PT_VARINT, C(PUBLISH) | C(SUBSCRIBE), "Subscription Identifier"},
    [0x11] = {PT_U32, C(CONNECT) | C(CONNACK) | C(DISCONNECT), "Session Expiry Interval"},
    [0x12] = {PT_STR, C(CONNACK), "Assigned Client Identifier"},
    [0x13] = {PT_U16, C(CONNACK), "Server Keep Alive"},
    [0x15] = {PT_STR, C(CONNECT) | C(CONNACK) | C(AUTH), "Authentication Method"},
    [0x16] = {PT_BIN, C(CONNECT) | C(CONNACK) | C(AUTH), "Authentication Data"},
    [0x17] = {PT_BYTE, C(CONNECT), "Request Problem Information"},
    [0x18] = {PT_U32, C(WILL), "Will Delay Interval"},
    [0x19] = {PT_BYTE, C(CONNECT), "Request Response Information"},
    [0x1A] = {PT_STR, C(CONNACK), "Response Information"},
    [0x1C] = {PT_STR, C(CONNACK) | C(DISCONNECT), "Server Reference"},
    [0x1F] = {PT_STR, C(CONNACK) | ACKS | C(DISCONNECT) | C(AUTH), "Reason String"},
    [0x21] = {PT_U16, C(CONNECT) | C(CONNACK), "Receive Maximum"},
    [0x22] = {PT_U16, C(CONNECT) | C(CONNACK), "Topic Alias Maximum"},
    [0x23] = {PT_U16, C(PUBLISH), "Topic Alias"},
    [0x24] = {PT_BYTE, C(CONNACK), "Maximum QoS"},
    [0x25] = {PT_BYTE, C(CONNACK), "Retain Available"},
    [0x26] = {PT_PAIR, 0x7FF, "User Property"}, /* every packet with properties */
    [0x27] = {PT_U32, C(CONNECT) | C(CONNACK), "Maximum Packet Size"},
    [0x28] = {PT_BYTE, C(CONNACK), "Wildcard Subscription Available"},
    [0x29] = {PT_BYTE, C(CONNACK), "Subscription Identifier Available"},
    [0x2A] = {PT_BYTE, C(CONNACK), "Shared Subscription Available"},
};

const char *mqtt_prop_name(uint8_t id)
{
    return id < sizeof(defs) / sizeof(defs[0]) && defs[id].type ? defs[id].name : NULL;
}

void mqtt_props_clear(struct mqtt_props *pr)
{
    pr->present = 0;
    pr->count = pr->n_user = pr->n_sub_ids = 0;
    pr->raw.p = NULL;
    pr->raw.len = 0;
}

/* ---- variable byte integers ---- */

int mqtt_varint_decode(const uint8_t *p, size_t len, uint32_t *value)
{
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i >= len)
            return 0;
        v |= (uint32_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (i > 0 && p[i] == 0)
                return -1; /* a longer form than the value needs */
            *value = v;
            return (int)i + 1;
        }
    }
    return -1;
}

size_t mqtt_varint_size(uint32_t v)
{
    return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : v <= MQTT_MAX_REMAINING ? 4 : 0;
}

size_t mqtt_varint_encode(uint8_t *out, uint32_t v)
{
    size_t n = mqtt_varint_size(v);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = v & 0x7f;
        v >>= 7;
        out[i] = i + 1 < n ? (uint8_t)(b | 0x80) : b;
    }
    return n;
}

/* ---- decoding ---- */

/* Reads one property at p[*off..len): id, value and wire span. Only the shape is checked
 * here (the id is defined, the value is all there); the rules are the caller's. */
static int read_prop(const uint8_t *p, uint32_t len, uint32_t *off, struct mqtt_prop *pp)
{
    uint32_t start = *off, id;
    int n = mqtt_varint_decode(p + start, len - start, &id);
    if (n <= 0 || id >= sizeof(defs) / sizeof(defs[0]) || !defs[id].type)
        return MQTT_E_MALFORMED;
    uint32_t o = start + (uint32_t)n, left = len - o;
    pp->id = (uint8_t)id;
    pp->value = 0;
    pp->a.p = pp->b.p = NULL;
    pp->a.len = pp->b.len = 0;
    switch (defs[id].type) {
    case PT_BYTE:
        if (left < 1)
            return MQTT_E_MALFORMED;
        pp->value = p[o];
        o += 1;
        break;
    case PT_U16:
        if (left < 2)
            return MQTT_E_MALFORMED;
        pp->value = (uint32_t)p[o] << 8 | p[o + 1];
        o += 2;
        break;
    case PT_U32:
        if (left < 4)
            return MQTT_E_MALFORMED;
        pp->value =
            (uint32_t)p[o] << 24 | (uint32_t)p[o + 1] << 16 | (uint32_t)p[o + 2] << 8 | p[o + 3];
        o += 4;
        break;
    case PT_VARINT:
        n = mqtt_varint_decode(p + o, left, &pp->value);
        if (n <= 0)
            return MQTT_E_MALFORMED;
        o += (uint32_t)n;
        break;
    default: { /* one or two length-prefixed strings */
        struct mqtt_str *s[2] = {&pp->a, &pp->b};
        int k = defs[id].type == PT_PAIR ? 2 : 1;
        for (int i = 0; i < k; i++) {
            if (len - o < 2)
                return MQTT_E_MALFORMED;
            uint32_t sl = (uint32_t)p[o] << 8 | p[o + 1];
            if (len - o - 2 < sl)
                return MQTT_E_MALFORMED;
            s[i]->p = p + o + 2;
            s[i]->len = sl;
            o += 2 + sl;
        }
        break;
    }
    }
    pp->wire.p = p + start;
    pp->wire.len = o - start;
    *off = o;
    return MQTT_OK;
}

static bool is_flag(uint8_t id)
{
    return id == MQTT_PROP_PAYLOAD_FORMAT || id == MQTT_PROP_REQUEST_PROBLEM_INFO ||
           id == MQTT_PROP_REQUEST_RESPONSE_INFO || id == MQTT_PROP_MAXIMUM_QOS ||
           id == MQTT_PROP_RETAIN_AVAILABLE || id == MQTT_PROP_WILDCARD_SUB_AVAILABLE ||
           id == MQTT_PROP_SUB_ID_AVAILABLE || id == MQTT_PROP_SHARED_SUB_AVAILABLE;
}

/* The value rules of spec 3.x for one property already known to be allowed here. */
static int check_value(const struct mqtt_prop *pp, enum mqtt_prop_ctx ctx, bool from_client)
{
    uint8_t t = defs[pp->id].type;
    if ((t == PT_STR || t == PT_PAIR) && !mqtt_utf8_valid(pp->a.p, pp->a.len))
        return MQTT_E_MALFORMED;
    if (t == PT_PAIR && !mqtt_utf8_valid(pp->b.p, pp->b.len))
        return MQTT_E_MALFORMED;
    if (is_flag(pp->id) && pp->value > 1)
        return MQTT_E_PROTOCOL;
    switch (pp->id) {
    case MQTT_PROP_RECEIVE_MAXIMUM:
    case MQTT_PROP_MAXIMUM_PACKET_SIZE:
        return pp->value ? MQTT_OK : MQTT_E_PROTOCOL;
    case MQTT_PROP_TOPIC_ALIAS:
        return pp->value ? MQTT_OK : MQTT_E_TOPIC_ALIAS;
    case MQTT_PROP_SUBSCRIPTION_ID:
        if (ctx == MQTT_PCTX_PUBLISH && from_client)
            return MQTT_E_PROTOCOL; /* 3.3.4-6 */
        return pp->value ? MQTT_OK : MQTT_E_PROTOCOL;
    case MQTT_PROP_RESPONSE_TOPIC:
        /* 3.3.2-14: a topic name, so never empty and never a wildcard. */
        if (!pp->a.len || memchr(pp->a.p, '+', pp->a.len) || memchr(pp->a.p, '#', pp->a.len))
            return MQTT_E_PROTOCOL;
        return MQTT_OK;
    default:
        return MQTT_OK;
    }
}

static void store(struct mqtt_props *pr, const struct mqtt_prop *pp)
{
    uint32_t v = pp->value;
    switch (pp->id) {
    case MQTT_PROP_PAYLOAD_FORMAT:
        pr->payload_format = (uint8_t)v;
        break;
    case MQTT_PROP_MESSAGE_EXPIRY:
        pr->message_expiry = v;
        break;
    case MQTT_PROP_CONTENT_TYPE:
        pr->content_type = pp->a;
        break;
    case MQTT_PROP_RESPONSE_TOPIC:
        pr->response_topic = pp->a;
        break;
    case MQTT_PROP_CORRELATION_DATA:
        pr->correlation_data = pp->a;
        break;
    case MQTT_PROP_SUBSCRIPTION_ID:
        if (!pr->n_sub_ids)
            pr->sub_id = v;
        pr->n_sub_ids++;
        break;
    case MQTT_PROP_SESSION_EXPIRY:
        pr->session_expiry = v;
        break;
    case MQTT_PROP_ASSIGNED_CLIENT_ID:
        pr->assigned_client_id = pp->a;
        break;
    case MQTT_PROP_SERVER_KEEP_ALIVE:
        pr->server_keep_alive = (uint16_t)v;
        break;
    case MQTT_PROP_AUTH_METHOD:
        pr->auth_method = pp->a;
        break;
    case MQTT_PROP_AUTH_DATA:
        pr->auth_data = pp->a;
        break;
    case MQTT_PROP_REQUEST_PROBLEM_INFO:
        pr->request_problem_info = (uint8_t)v;
        break;
    case MQTT_PROP_WILL_DELAY:
        pr->will_delay = v;
        break;
    case MQTT_PROP_REQUEST_RESPONSE_INFO:
        pr->request_response_info = (uint8_t)v;
        break;
    case MQTT_PROP_RESPONSE_INFO:
        pr->response_info = pp->a;
        break;
    case MQTT_PROP_SERVER_REFERENCE:
        pr->server_reference = pp->a;
        break;
    case MQTT_PROP_REASON_STRING:
        pr->reason_string = pp->a;
        break;
    case MQTT_PROP_RECEIVE_MAXIMUM:
        pr->receive_maximum = (uint16_t)v;
        break;
    case MQTT_PROP_TOPIC_ALIAS_MAXIMUM:
        pr->topic_alias_maximum = (uint16_t)v;
        break;
    case MQTT_PROP_TOPIC_ALIAS:
        pr->topic_alias = (uint16_t)v;
        break;
    case MQTT_PROP_MAXIMUM_QOS:
        pr->maximum_qos = (uint8_t)v;
        break;
    case MQTT_PROP_RETAIN_AVAILABLE:
        pr->retain_available = (uint8_t)v;
        break;
    case MQTT_PROP_USER_PROPERTY:
        pr->n_user++;
        break;
    case MQTT_PROP_MAXIMUM_PACKET_SIZE:
        pr->maximum_packet_size = v;
        break;
    case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
        pr->wildcard_available = (uint8_t)v;
        break;
    case MQTT_PROP_SUB_ID_AVAILABLE:
        pr->sub_id_available = (uint8_t)v;
        break;
    case MQTT_PROP_SHARED_SUB_AVAILABLE:
        pr->shared_available = (uint8_t)v;
        break;
    default:
        break;
    }
}

int mqtt_props_decode(const uint8_t *p, uint32_t len, enum mqtt_prop_ctx ctx, bool from_client,
                      struct mqtt_props *out)
{
    mqtt_props_clear(out);
    out->raw.p = p;
    out->raw.len = len;
    uint32_t off = 0;
    int err;
    while (off < len) {
        struct mqtt_prop pp;
        if ((err = read_prop(p, len, &off, &pp)))
            return err;
        if (!(defs[pp.id].where & (1u << ctx)))
            return MQTT_E_MALFORMED; /* 2.2.2.2: not valid for this packet */
        bool repeatable = pp.id == MQTT_PROP_USER_PROPERTY ||
                          (pp.id == MQTT_PROP_SUBSCRIPTION_ID && ctx == MQTT_PCTX_PUBLISH);
        if (mqtt_props_has(out, pp.id) && !repeatable)
            return MQTT_E_PROTOCOL;
        if ((err = check_value(&pp, ctx, from_client)))
            return err;
        out->present |= (uint64_t)1 << pp.id;
        out->count++;
        store(out, &pp);
    }
    if (mqtt_props_has(out, MQTT_PROP_AUTH_DATA) && !mqtt_props_has(out, MQTT_PROP_AUTH_METHOD))
        return MQTT_E_PROTOCOL; /* 3.1.2.11.10, 3.2.2.3.18, 3.15.2.2.3 */
    return MQTT_OK;
}

bool mqtt_props_next(const struct mqtt_props *pr, uint32_t *off, struct mqtt_prop *out)
{
    /* The block was validated by mqtt_props_decode: this only keeps a misuse in bounds. */
    if (*off >= pr->raw.len)
        return false;
    return read_prop(pr->raw.p, pr->raw.len, off, out) == MQTT_OK;
}

size_t mqtt_props_forwardable(const struct mqtt_props *pr, uint8_t *out)
{
    size_t n = 0;
    uint32_t off = 0;
    struct mqtt_prop pp;
    while (mqtt_props_next(pr, &off, &pp)) {
        if (pp.id == MQTT_PROP_TOPIC_ALIAS || pp.id == MQTT_PROP_SUBSCRIPTION_ID ||
            pp.id == MQTT_PROP_MESSAGE_EXPIRY || pp.id == MQTT_PROP_WILL_DELAY)
            continue;
        memcpy(out + n, pp.wire.p, pp.wire.len);
        n += pp.wire.len;
    }
    return n;
}

/* ---- reason codes ---- */

bool mqtt_reason_allowed(uint8_t type, uint8_t rc)
{
    static const uint8_t connack[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                                      0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                                      0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
    static const uint8_t puback[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
    static const uint8_t pubrel[] = {0x00, 0x92};
    static const uint8_t suback[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                     0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
    static const uint8_t unsuback[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
    static const uint8_t disconnect[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                                         0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                                         0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
    static const uint8_t auth[] = {0x00, 0x18, 0x19};
    const uint8_t *set;
    size_t n;
    switch (type) {
    case MQTT_CONNACK:
        set = connack, n = sizeof(connack);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
        set = puback, n = sizeof(puback);
        break;
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        set = pubrel, n = sizeof(pubrel);
        break;
    case MQTT_SUBACK:
        set = suback, n = sizeof(suback);
        break;
    case MQTT_UNSUBACK:
        set = unsuback, n = sizeof(unsuback);
        break;
    case MQTT_DISCONNECT:
        set = disconnect, n = sizeof(disconnect);
        break;
    case MQTT_AUTH:
        set = auth, n = sizeof(auth);
        break;
    default:
        return false;
    }
    return memchr(set, rc, n) != NULL;
}

/* ---- builder ---- */

void mqtt_pbuf_init(struct mqtt_pbuf *b, uint8_t *buf, size_t cap)
{
    b->p = buf;
    b->len = 0;
    b->cap = cap;
    b->failed = false;
}

/* Room for n more bytes, or the builder fails for good. */
static uint8_t *room(struct mqtt_pbuf *b, size_t n)
{
    if (b->failed || b->cap - b->len < n) {
        b->failed = true;
        return NULL;
    }
    uint8_t *at = b->p + b->len;
    b->len += n;
    return at;
}

void mqtt_pbuf_u8(struct mqtt_pbuf *b, uint8_t id, uint8_t v)
{
    uint8_t *q = room(b, 2);
    if (q) {
        q[0] = id;
        q[1] = v;
    }
}

void mqtt_pbuf_u16(struct mqtt_pbuf *b, uint8_t id, uint16_t v)
{
    uint8_t *q = room(b, 3);
    if (q) {
        q[0] = id;
        q[1] = (uint8_t)(v >> 8);
        q[2] = (uint8_t)v;
    }
}

void mqtt_pbuf_u32(struct mqtt_pbuf *b, uint8_t id, uint32_t v)
{
    uint8_t *q = room(b, 5);
    if (q) {
        q[0] = id;
        q[1] = (uint8_t)(v >> 24);
        q[2] = (uint8_t)(v >> 16);
        q[3] = (uint8_t)(v >> 8);
        q[4] = (uint8_t)v;
    }
}

void mqtt_pbuf_varint(struct mqtt_pbuf *b, uint8_t id, uint32_t v)
{
    size_t n = mqtt_varint_size(v);
    uint8_t *q = n ? room(b, 1 + n) : NULL;
    if (!n)
        b->failed = true;
    if (q) {
        q[0] = id;
        mqtt_varint_encode(q + 1, v);
    }
}

static void put_lstr(uint8_t *q, const void *s, size_t len)
{
    q[0] = (uint8_t)(len >> 8);
    q[1] = (uint8_t)len;
    if (len)
        memcpy(q + 2, s, len);
}

void mqtt_pbuf_str(struct mqtt_pbuf *b, uint8_t id, const void *s, size_t len)
{
    uint8_t *q = len <= UINT16_MAX ? room(b, 3 + len) : NULL;
    if (len > UINT16_MAX)
        b->failed = true;
    if (q) {
        q[0] = id;
        put_lstr(q + 1, s, len);
    }
}

void mqtt_pbuf_pair(struct mqtt_pbuf *b, uint8_t id, const void *k, size_t klen, const void *v,
                    size_t vlen)
{
    bool fits = klen <= UINT16_MAX && vlen <= UINT16_MAX;
    uint8_t *q = fits ? room(b, 5 + klen + vlen) : NULL;
    if (!fits)
        b->failed = true;
    if (q) {
        q[0] = id;
        put_lstr(q + 1, k, klen);
        put_lstr(q + 3 + klen, v, vlen);
    }
}

void mqtt_pbuf_raw(struct mqtt_pbuf *b, const void *p, size_t len)
{
    uint8_t *q = room(b, len);
    if (q && len)
        memcpy(q, p, len);
}
