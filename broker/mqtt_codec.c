/* mqtt_codec: strict MQTT packet decoding and encoding (promises in mqtt_codec.h).
 * Decoding is one pass over the body with a bounds-checked reader: every length read
 * from the network is compared with what is left before anything is touched. */
#include "mqtt_codec.h"

#include <string.h>

const char *mqtt_err_str(int err)
{
    switch (err) {
    case MQTT_OK:
        return "ok";
    case MQTT_NEED_MORE:
        return "incomplete fixed header";
    case MQTT_E_MALFORMED:
        return "malformed packet";
    case MQTT_E_PROTOCOL:
        return "protocol violation";
    case MQTT_E_UTF8:
        return "invalid UTF-8 string";
    case MQTT_E_TOPIC:
        return "invalid topic name or filter";
    case MQTT_E_PROTO_NAME:
        return "unknown protocol name";
    case MQTT_E_PROTO_LEVEL:
        return "unsupported protocol level";
    case MQTT_E_TYPE:
        return "unexpected packet type";
    case MQTT_E_TOPIC_ALIAS:
        return "topic alias 0";
    }
    return "unknown error";
}

uint8_t mqtt_err_reason(int err)
{
    switch (err) {
    case MQTT_E_PROTOCOL:
    case MQTT_E_TYPE:
        return MQTT_RC_PROTOCOL_ERROR;
    case MQTT_E_TOPIC_ALIAS:
        return MQTT_RC_TOPIC_ALIAS_INVALID;
    case MQTT_E_PROTO_LEVEL:
        return MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION;
    default: /* truncation, bad UTF-8, a bad topic: the packet is not well formed */
        return MQTT_RC_MALFORMED;
    }
}

int mqtt_fixed_header(const uint8_t *buf, size_t len, uint8_t *byte0, uint32_t *remaining,
                      size_t *hdr_len)
{
    uint32_t value = 0;
    for (size_t i = 0; i < 4; i++) {
        if (len < i + 2)
            return MQTT_NEED_MORE;
        uint8_t b = buf[i + 1];
        value |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            /* Non-minimal forms (e.g. 0x80 0x00) are accepted: 3.1.1 does not forbid them. */
            *byte0 = buf[0];
            *remaining = value;
            *hdr_len = i + 2;
            return MQTT_OK;
        }
    }
    return MQTT_E_MALFORMED; /* a fifth length byte would be needed */
}

/* ---- UTF-8 ---- */

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Non-zero iff some byte of v is zero. */
static inline uint64_t has_zero(uint64_t v)
{
    return (v - ONES) & ~v & HIGHS;
}

/* Validates UTF-8 per 3.1.1 section 1.5.3 (Unicode table 3-7 shapes, no U+0000).
 * With name set, a '+' or '#' also fails, as MQTT_E_TOPIC; ill-formed UTF-8 takes
 * precedence so the answer does not depend on where the faults sit.
 * Multi-byte sequences never contain ASCII bytes, so a byte-level wildcard test is exact. */
static int utf8_scan(const uint8_t *s, size_t len, bool name)
{
    bool wild = false;
    size_t i = 0;
    while (i < len) {
        if (len - i >= 8) {
            /* Fast path: eight plain ASCII bytes at once. */
            uint64_t v;
            memcpy(&v, s + i, sizeof(v));
            uint64_t dirty = (v & HIGHS) | has_zero(v);
            if (name)
                dirty |= has_zero(v ^ (ONES * '+')) | has_zero(v ^ (ONES * '#'));
            if (!dirty) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c == 0)
                return MQTT_E_UTF8;
            if (c == '+' || c == '#')
                wild = true;
            i++;
            continue;
        }
        /* Lead byte gives the continuation count and the range of the first continuation
         * byte, which is where overlongs, surrogates and > U+10FFFF are excluded. */
        size_t n;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0xC2) {         // NOLINT(bugprone-branch-clone)
            return MQTT_E_UTF8; /* stray continuation byte or overlong 2-byte lead */
        } else if (c < 0xE0) {
            n = 1;
        } else if (c < 0xF0) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c < 0xF5) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return MQTT_E_UTF8;
        }
        if (len - i - 1 < n)
            return MQTT_E_UTF8;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return MQTT_E_UTF8;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return MQTT_E_UTF8;
        i += n + 1;
    }
    return name && wild ? MQTT_E_TOPIC : MQTT_OK;
}

bool mqtt_utf8_valid(const uint8_t *s, size_t len)
{
    return utf8_scan(s, len, false) == MQTT_OK;
}

/* Topic name (PUBLISH, will): non-empty, UTF-8, no wildcards. */
static int name_check(const struct mqtt_str *t)
{
    if (t->len == 0)
        return MQTT_E_TOPIC;
    return utf8_scan(t->p, t->len, true);
}

/* Topic filter: non-empty, UTF-8, '+' fills its level, '#' fills the last level. */
static int filter_check(const struct mqtt_str *f)
{
    if (f->len == 0)
        return MQTT_E_TOPIC;
    if (utf8_scan(f->p, f->len, false) != MQTT_OK)
        return MQTT_E_UTF8;
    const uint8_t *p = f->p;
    uint32_t n = f->len;
    for (uint32_t i = 0; i < n; i++) {
        if (p[i] != '+' && p[i] != '#')
            continue;
        if (i > 0 && p[i - 1] != '/')
            return MQTT_E_TOPIC;
        if (p[i] == '#' ? i + 1 != n : (i + 1 < n && p[i + 1] != '/'))
            return MQTT_E_TOPIC;
    }
    return MQTT_OK;
}

/* ---- bounded reader ---- */

struct rd {
    const uint8_t *p;
    uint32_t left;
};

static inline bool rd_u8(struct rd *r, uint8_t *v)
{
    if (r->left < 1)
        return false;
    *v = r->p[0];
    r->p++;
    r->left--;
    return true;
}

static inline bool rd_u16(struct rd *r, uint16_t *v)
{
    if (r->left < 2)
        return false;
    *v = (uint16_t)(r->p[0] << 8 | r->p[1]);
    r->p += 2;
    r->left -= 2;
    return true;
}

/* Two-byte length then that many bytes (UTF-8 strings and binary data alike). */
static inline bool rd_str(struct rd *r, struct mqtt_str *s)
{
    uint16_t n;
    if (!rd_u16(r, &n) || r->left < n)
        return false;
    s->p = r->p;
    s->len = n;
    r->p += n;
    r->left -= n;
    return true;
}

/* The one place where MQTT 5.0 properties are read: a property length, then that many
 * bytes decoded by mqtt_props_decode(). Levels 3 and 4 have none (an empty block). Callers
 * invoke it exactly where 5.0 places the properties. */
static int v5_fields(struct rd *r, uint8_t level, enum mqtt_prop_ctx ctx, bool from_client,
                     struct mqtt_props *pr)
{
    if (level < MQTT_PROTO_5) {
        mqtt_props_clear(pr);
        return MQTT_OK;
    }
    uint32_t plen;
    int n = mqtt_varint_decode(r->p, r->left, &plen);
    if (n <= 0 || r->left - (uint32_t)n < plen)
        return MQTT_E_MALFORMED;
    int err = mqtt_props_decode(r->p + n, plen, ctx, from_client, pr);
    r->p += (uint32_t)n + plen;
    r->left -= (uint32_t)n + plen;
    return err;
}

/* 5.0 calls some 3.1.1 protocol errors (flag bits, QoS 3) malformed packets. */
static int lvl_err(uint8_t level, int v3, int v5)
{
    return level >= MQTT_PROTO_5 ? v5 : v3;
}

/* ---- per-type decoders ---- */

static int dec_connect(struct rd *r, struct mqtt_connect *c)
{
    struct mqtt_str name;
    uint8_t level, flags;
    int err;

    *c = (struct mqtt_connect){0}; /* absent optional fields (and properties) read as empty */
    /* Name and level first, so the caller can tell "not MQTT" (close) from
     * "unsupported level" (CONNACK 0x01) even if the rest is broken. */
    if (!rd_str(r, &name))
        return MQTT_E_MALFORMED;
    bool mqtt = name.len == 4 && memcmp(name.p, "MQTT", 4) == 0;
    bool mqisdp = name.len == 6 && memcmp(name.p, "MQIsdp", 6) == 0;
    if (!mqtt && !mqisdp)
        return MQTT_E_PROTO_NAME;
    if (!rd_u8(r, &level))
        return MQTT_E_MALFORMED;
    if ((mqtt && level != MQTT_PROTO_311 && level != MQTT_PROTO_5) ||
        (mqisdp && level != MQTT_PROTO_31))
        return MQTT_E_PROTO_LEVEL;
    c->proto_level = level;

    if (!rd_u8(r, &flags))
        return MQTT_E_MALFORMED;
    if (flags & 0x01)
        return lvl_err(level, MQTT_E_PROTOCOL, MQTT_E_MALFORMED); /* 3.1.2-3 */
    c->clean_session = flags & 0x02;
    c->will = flags & 0x04;
    c->will_qos = (flags >> 3) & 0x03;
    c->will_retain = flags & 0x20;
    c->has_password = flags & 0x40;
    c->has_username = flags & 0x80;
    if (c->will_qos == 3 || (!c->will && (c->will_qos || c->will_retain)))
        return lvl_err(level, MQTT_E_PROTOCOL, MQTT_E_MALFORMED);
    if (c->has_password && !c->has_username && level < MQTT_PROTO_5)
        return MQTT_E_PROTOCOL;
    if (!rd_u16(r, &c->keepalive))
        return MQTT_E_MALFORMED;
    if ((err = v5_fields(r, level, MQTT_PCTX_CONNECT, true, &c->props)))
        return err;

    if (!rd_str(r, &c->client_id))
        return MQTT_E_MALFORMED;
    if (!mqtt_utf8_valid(c->client_id.p, c->client_id.len))
        return MQTT_E_UTF8;
    if (c->will) {
        if ((err = v5_fields(r, level, MQTT_PCTX_WILL, true, &c->will_props)))
            return err;
        if (!rd_str(r, &c->will_topic))
            return MQTT_E_MALFORMED;
        if ((err = name_check(&c->will_topic)))
            return err;
        if (!rd_str(r, &c->will_payload))
            return MQTT_E_MALFORMED;
    }
    if (c->has_username) {
        if (!rd_str(r, &c->username))
            return MQTT_E_MALFORMED;
        if (!mqtt_utf8_valid(c->username.p, c->username.len))
            return MQTT_E_UTF8;
    }
    if (c->has_password && !rd_str(r, &c->password))
        return MQTT_E_MALFORMED;
    return r->left ? MQTT_E_MALFORMED : MQTT_OK;
}

static int dec_publish(struct rd *r, uint8_t flags, uint8_t level, bool server_side,
                       struct mqtt_publish *p)
{
    int err;
    p->packet_id = 0;
    p->qos = (flags >> 1) & 0x03;
    p->dup = flags & 0x08;
    p->retain = flags & 0x01;
    if (p->qos == 3)
        return lvl_err(level, MQTT_E_PROTOCOL, MQTT_E_MALFORMED); /* 3.3.1-4 */
    if (p->dup && p->qos == 0)
        return MQTT_E_PROTOCOL;
    if (!rd_str(r, &p->topic))
        return MQTT_E_MALFORMED;
    /* 5.0: an empty topic stands for the one a Topic Alias names (checked below). */
    if ((p->topic.len || level < MQTT_PROTO_5) && (err = name_check(&p->topic)))
        return err;
    if (p->qos) {
        if (!rd_u16(r, &p->packet_id))
            return MQTT_E_MALFORMED;
        if (p->packet_id == 0)
            return MQTT_E_PROTOCOL;
    }
    if ((err = v5_fields(r, level, MQTT_PCTX_PUBLISH, server_side, &p->props)))
        return err;
    if (!p->topic.len && !mqtt_props_has(&p->props, MQTT_PROP_TOPIC_ALIAS))
        return MQTT_E_PROTOCOL; /* 3.3.4: no topic name and no alias */
    p->payload.p = r->p;
    p->payload.len = r->left;
    return MQTT_OK;
}

static int sub_options_check(uint8_t o, uint8_t level)
{
    if (level < MQTT_PROTO_5)
        return (o & 0xFC) || (o & 0x03) == 3 ? MQTT_E_PROTOCOL : MQTT_OK;
    /* 5.0: bits 2-5 are No Local, Retain As Published, Retain Handling; 6-7 reserved. */
    if (o & 0xC0)
        return MQTT_E_MALFORMED; /* 3.8.3-5 */
    if ((o & 0x03) == 3 || (o >> 4) == 3)
        return MQTT_E_PROTOCOL; /* 3.8.3.1 */
    return MQTT_OK;
}

/* SUBSCRIBE (with_options) and UNSUBSCRIBE: the whole list is validated here so the
 * iterator can walk it without checks failing half-way. */
static int dec_topics(struct rd *r, bool with_options, uint8_t level, struct mqtt_topic_list *tl)
{
    int err;
    if (!rd_u16(r, &tl->packet_id))
        return MQTT_E_MALFORMED;
    if (tl->packet_id == 0)
        return MQTT_E_PROTOCOL;
    enum mqtt_prop_ctx ctx = with_options ? MQTT_PCTX_SUBSCRIBE : MQTT_PCTX_UNSUBSCRIBE;
    if ((err = v5_fields(r, level, ctx, true, &tl->props)))
        return err;
    if (r->left == 0)
        return MQTT_E_PROTOCOL; /* 3.8.3-3 / 3.10.3-2: at least one filter */
    tl->list = r->p;
    tl->list_len = r->left;
    tl->with_options = with_options;
    uint32_t count = 0;
    while (r->left) {
        struct mqtt_str f;
        uint8_t o;
        if (!rd_str(r, &f))
            return MQTT_E_MALFORMED;
        if ((err = filter_check(&f)))
            return err;
        if (with_options) {
            if (!rd_u8(r, &o))
                return MQTT_E_MALFORMED;
            if ((err = sub_options_check(o, level)))
                return err;
        }
        if (++count > UINT16_MAX)
            return MQTT_E_PROTOCOL; /* our bound: the count must fit the model */
    }
    tl->count = (uint16_t)count;
    return MQTT_OK;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP, and UNSUBACK below level 5: a packet id, then at 5.0
 * an optional reason code and optional properties (3.4.2.1). */
static int dec_ack(struct rd *r, uint8_t type, uint8_t level, struct mqtt_ack *a)
{
    int err;
    a->reason = 0;
    mqtt_props_clear(&a->props);
    if (!rd_u16(r, &a->packet_id))
        return MQTT_E_MALFORMED;
    if (level >= MQTT_PROTO_5 && r->left) {
        (void)rd_u8(r, &a->reason);
        if (!mqtt_reason_allowed(type, a->reason))
            return MQTT_E_PROTOCOL;
        if (r->left && (err = v5_fields(r, level, MQTT_PCTX_PUBACK, false, &a->props)))
            return err;
    }
    if (r->left)
        return MQTT_E_MALFORMED;
    return a->packet_id ? MQTT_OK : MQTT_E_PROTOCOL;
}

/* Each byte of a reason code list is allowed in a packet of this type. */
static bool codes_ok(uint8_t type, uint8_t level, const uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        bool ok =
            level >= MQTT_PROTO_5 ? mqtt_reason_allowed(type, p[i]) : p[i] <= 2 || p[i] == 0x80;
        if (!ok)
            return false;
    }
    return true;
}

/* DISCONNECT and AUTH at 5.0: reason code and properties, both optional (3.14.2.1). */
static int dec_reason(struct rd *r, uint8_t type, bool server_side, struct mqtt_reason *d)
{
    d->reason = 0;
    mqtt_props_clear(&d->props);
    if (!r->left)
        return MQTT_OK;
    (void)rd_u8(r, &d->reason);
    if (!mqtt_reason_allowed(type, d->reason))
        return MQTT_E_PROTOCOL;
    enum mqtt_prop_ctx ctx = type == MQTT_AUTH ? MQTT_PCTX_AUTH : MQTT_PCTX_DISCONNECT;
    int err = r->left ? v5_fields(r, MQTT_PROTO_5, ctx, server_side, &d->props) : MQTT_OK;
    if (err)
        return err;
    return r->left ? MQTT_E_MALFORMED : MQTT_OK;
}

static int dec_connack(struct rd *r, uint8_t level, struct mqtt_connack *c)
{
    uint8_t ack_flags;
    int err;
    if (!rd_u8(r, &ack_flags) || !rd_u8(r, &c->rc))
        return MQTT_E_MALFORMED;
    if ((err = v5_fields(r, level, MQTT_PCTX_CONNACK, false, &c->props)))
        return err;
    if (r->left)
        return MQTT_E_MALFORMED;
    if (ack_flags & 0xFE)
        return lvl_err(level, MQTT_E_PROTOCOL, MQTT_E_MALFORMED);
    c->session_present = ack_flags & 0x01;
    /* 3.2.2-4 (5.0: 3.2.2-6): a refusal carries Session Present 0; other codes are
     * reserved (3.1.1: 6..255; 5.0: those not in its list). */
    bool known = level >= MQTT_PROTO_5 ? mqtt_reason_allowed(MQTT_CONNACK, c->rc)
                                       : c->rc <= MQTT_CONNACK_NOT_AUTHORIZED;
    if (!known || (c->rc && c->session_present))
        return MQTT_E_PROTOCOL;
    return MQTT_OK;
}

/* SUBACK, and UNSUBACK at 5.0: packet id, properties, a reason code per filter. */
static int dec_suback(struct rd *r, uint8_t type, uint8_t level, struct mqtt_suback *s)
{
    int err;
    if (!rd_u16(r, &s->packet_id))
        return MQTT_E_MALFORMED;
    if (s->packet_id == 0)
        return MQTT_E_PROTOCOL;
    enum mqtt_prop_ctx ctx = type == MQTT_SUBACK ? MQTT_PCTX_SUBACK : MQTT_PCTX_UNSUBACK;
    if ((err = v5_fields(r, level, ctx, false, &s->props)))
        return err;
    if (r->left == 0)
        return MQTT_E_PROTOCOL;
    if (!codes_ok(type, level, r->p, r->left))
        return MQTT_E_PROTOCOL;
    s->codes = r->p;
    s->count = r->left;
    return MQTT_OK;
}

/* Which packets each side may receive (3.1.1 table 2.1, plus AUTH at 5.0). */
static bool type_allowed(uint8_t type, uint8_t level, bool server_side)
{
    switch (type) {
    case MQTT_PUBLISH:
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_DISCONNECT:
        return true;
    case MQTT_CONNECT:
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
    case MQTT_PINGREQ:
        return server_side;
    case MQTT_CONNACK:
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
    case MQTT_PINGRESP:
        return !server_side;
    case MQTT_AUTH:
        return level >= MQTT_PROTO_5;
    default:
        return false;
    }
}

int mqtt_decode(uint8_t byte0, const uint8_t *body, uint32_t len, uint8_t proto_level,
                bool server_side, struct mqtt_packet *out)
{
    uint8_t type = byte0 >> 4;
    uint8_t flags = byte0 & 0x0F;
    struct rd r = {body, len};

    if (!type_allowed(type, proto_level, server_side))
        return MQTT_E_TYPE;
    if (type != MQTT_PUBLISH) {
        /* 2.2.2: fixed flag values; PUBREL, SUBSCRIBE, UNSUBSCRIBE carry 0x2. */
        uint8_t want =
            (type == MQTT_PUBREL || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE) ? 0x2 : 0;
        if (flags != want)
            return lvl_err(proto_level, MQTT_E_PROTOCOL, MQTT_E_MALFORMED);
    }
    /* No memset of *out: on the PUBLISH path it cost a third of the decode time. Each
     * decoder below sets every field of its own union member instead. */
    out->type = type;
    out->flags = flags;

    switch (type) {
    case MQTT_CONNECT:
        return dec_connect(&r, &out->u.connect);
    case MQTT_PUBLISH:
        return dec_publish(&r, flags, proto_level, server_side, &out->u.publish);
    case MQTT_SUBSCRIBE:
        return dec_topics(&r, true, proto_level, &out->u.topics);
    case MQTT_UNSUBSCRIBE:
        return dec_topics(&r, false, proto_level, &out->u.topics);
    case MQTT_UNSUBACK:
        /* 5.0 UNSUBACK always has properties and reason codes after the id. */
        if (proto_level >= MQTT_PROTO_5)
            return dec_suback(&r, type, proto_level, &out->u.suback);
        return dec_ack(&r, type, proto_level, &out->u.ack);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        return dec_ack(&r, type, proto_level, &out->u.ack);
    case MQTT_CONNACK:
        return dec_connack(&r, proto_level, &out->u.connack);
    case MQTT_SUBACK:
        return dec_suback(&r, type, proto_level, &out->u.suback);
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        /* 5.0: an optional reason code and properties. */
        if (proto_level >= MQTT_PROTO_5)
            return dec_reason(&r, type, server_side, &out->u.reason);
        out->u.reason.reason = 0;
        mqtt_props_clear(&out->u.reason.props);
        return len ? MQTT_E_MALFORMED : MQTT_OK;
    default: /* PINGREQ, PINGRESP */
        return len ? MQTT_E_MALFORMED : MQTT_OK;
    }
}

void mqtt_topic_iter_init(struct mqtt_topic_iter *it, const struct mqtt_topic_list *tl)
{
    it->tl = tl;
    it->off = 0;
}

bool mqtt_topic_iter_next(struct mqtt_topic_iter *it, struct mqtt_str *filter, uint8_t *options)
{
    const struct mqtt_topic_list *tl = it->tl;
    uint8_t o = 0;
    /* The list was validated by mqtt_decode; the checks only keep a misuse in bounds. */
    if (it->off >= tl->list_len)
        return false;
    struct rd r = {tl->list + it->off, tl->list_len - it->off};
    if (!rd_str(&r, filter))
        return false;
    if (tl->with_options && !rd_u8(&r, &o))
        return false;
    *options = o;
    it->off = tl->list_len - r.left;
    return true;
}

/* ---- encoders ---- */

/* Bytes mqtt_encode_remaining() writes for v (v <= MQTT_MAX_REMAINING). */
static size_t remaining_size(uint32_t v)
{
    return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : 4;
}

size_t mqtt_encode_remaining(uint8_t *out, uint32_t value)
{
    if (value > MQTT_MAX_REMAINING)
        return 0;
    size_t n = 0;
    do {
        uint8_t b = value & 0x7f;
        value >>= 7;
        out[n++] = value ? (uint8_t)(b | 0x80) : b;
    } while (value);
    return n;
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

/* Length-prefixed string; len is known to fit 16 bits. */
static uint8_t *put_str(uint8_t *p, const void *s, size_t len)
{
    p = put16(p, (uint16_t)len);
    if (len)
        memcpy(p, s, len);
    return p + len;
}

/* A property length and the block (plen fits a variable byte integer). */
static uint8_t *put_props(uint8_t *p, const uint8_t *props, size_t plen)
{
    p += mqtt_varint_encode(p, (uint32_t)plen);
    if (plen)
        memcpy(p, props, plen);
    return p + plen;
}

/* Bytes a property length field and its block take, or > MQTT_MAX_REMAINING if too big. */
static uint64_t props_size(size_t plen)
{
    return plen > MQTT_MAX_REMAINING ? (uint64_t)MQTT_MAX_REMAINING + 1
                                     : mqtt_varint_size((uint32_t)plen) + (uint64_t)plen;
}

/* Writes byte 0 and the remaining length when the whole packet fits cap; returns the
 * header length, or 0 (nothing written) when it does not fit or rl is too large. */
static size_t put_head(uint8_t *out, size_t cap, uint8_t byte0, uint64_t rl)
{
    if (rl > MQTT_MAX_REMAINING)
        return 0;
    size_t hl = 1 + remaining_size((uint32_t)rl);
    if (cap < hl || cap - hl < rl)
        return 0;
    out[0] = byte0;
    mqtt_encode_remaining(out + 1, (uint32_t)rl);
    return hl;
}

size_t mqtt_encode_connack(uint8_t *out, size_t cap, bool session_present, uint8_t rc)
{
    size_t hl = put_head(out, cap, MQTT_CONNACK << 4, 2);
    if (!hl)
        return 0;
    out[hl] = session_present ? 1 : 0;
    out[hl + 1] = rc;
    return hl + 2;
}

size_t mqtt_encode_ack(uint8_t *out, size_t cap, uint8_t type, uint16_t packet_id)
{
    if (type < MQTT_PUBACK || (type > MQTT_PUBCOMP && type != MQTT_UNSUBACK))
        return 0; /* not an id-only ack */
    uint8_t byte0 = (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 0x2 : 0));
    size_t hl = put_head(out, cap, byte0, 2);
    if (!hl)
        return 0;
    put16(out + hl, packet_id);
    return hl + 2;
}

size_t mqtt_encode_suback(uint8_t *out, size_t cap, uint16_t packet_id, const uint8_t *codes,
                          size_t n)
{
    if (n > MQTT_MAX_REMAINING)
        return 0;
    size_t hl = put_head(out, cap, MQTT_SUBACK << 4, 2 + (uint64_t)n);
    if (!hl)
        return 0;
    uint8_t *p = put16(out + hl, packet_id);
    if (n)
        memcpy(p, codes, n);
    return hl + 2 + n;
}

static size_t encode_empty(uint8_t *out, size_t cap, uint8_t type)
{
    return put_head(out, cap, (uint8_t)(type << 4), 0);
}

size_t mqtt_encode_pingresp(uint8_t *out, size_t cap)
{
    return encode_empty(out, cap, MQTT_PINGRESP);
}

size_t mqtt_encode_pingreq(uint8_t *out, size_t cap)
{
    return encode_empty(out, cap, MQTT_PINGREQ);
}

size_t mqtt_encode_disconnect(uint8_t *out, size_t cap)
{
    return encode_empty(out, cap, MQTT_DISCONNECT);
}

static uint8_t publish_byte0(uint8_t qos, bool dup, bool retain)
{
    return (uint8_t)(MQTT_PUBLISH << 4 | (dup ? 0x08 : 0) | qos << 1 | (retain ? 0x01 : 0));
}

/* Fixed header and topic length of a PUBLISH whose packet id and topic are followed by rest
 * bytes (payload, and at 5.0 the properties before it). */
static size_t publish_head(uint8_t out[8], uint8_t qos, bool dup, bool retain, uint16_t topic_len,
                           uint64_t rest)
{
    if (qos > 2)
        return 0;
    uint64_t rl = 2u + (uint64_t)topic_len + (qos ? 2u : 0u) + rest;
    /* cap is unbounded here: out[8] always holds the 4..7 header bytes
     * (the header says 3..7, but byte 0 + length + topic length is at least 4). */
    size_t hl = put_head(out, SIZE_MAX, publish_byte0(qos, dup, retain), rl);
    if (!hl)
        return 0;
    put16(out + hl, topic_len);
    return hl + 2;
}

size_t mqtt_encode_publish_head(uint8_t out[8], uint8_t qos, bool dup, bool retain,
                                uint16_t topic_len, uint32_t payload_len)
{
    return publish_head(out, qos, dup, retain, topic_len, payload_len);
}

size_t mqtt_encode_publish(uint8_t *out, size_t cap, uint8_t qos, bool dup, bool retain,
                           const char *topic, uint16_t packet_id, const uint8_t *payload,
                           size_t payload_len)
{
    size_t tlen = strlen(topic);
    if (qos > 2 || tlen > UINT16_MAX || payload_len > MQTT_MAX_REMAINING)
        return 0;
    uint64_t rl = 2u + (uint64_t)tlen + (qos ? 2u : 0u) + payload_len;
    size_t hl = put_head(out, cap, publish_byte0(qos, dup, retain), rl);
    if (!hl)
        return 0;
    uint8_t *p = put_str(out + hl, topic, tlen);
    if (qos)
        p = put16(p, packet_id);
    if (payload_len)
        memcpy(p, payload, payload_len);
    return hl + (size_t)rl;
}

/* Level 4 (or 3) gives a 3.1.1-layout CONNECT with name "MQTT"; level 3 under that name
 * is deliberately "right name, wrong level", for tests of CONNACK 0x01. Level 5 adds
 * empty property lists so the packet is still well-formed 5.0. */
size_t mqtt_encode_connect(uint8_t *out, size_t cap, const struct mqtt_connect_opts *o)
{
    uint8_t level = o->proto_level ? o->proto_level : MQTT_PROTO_311;
    bool v5 = level >= MQTT_PROTO_5;
    const char *cid = o->client_id ? o->client_id : "";
    size_t cid_len = strlen(cid);
    size_t wt_len = o->will_topic ? strlen(o->will_topic) : 0;
    size_t u_len = o->username ? strlen(o->username) : 0;
    size_t pw_len = o->password ? strlen(o->password) : 0;
    size_t wp_len = o->will_topic ? o->will_payload_len : 0;

    if (cid_len > UINT16_MAX || wt_len > UINT16_MAX || u_len > UINT16_MAX || pw_len > UINT16_MAX ||
        wp_len > UINT16_MAX || o->will_qos > 2)
        return 0;

    uint8_t flags = o->clean_session ? 0x02 : 0;
    if (o->will_topic)
        flags |= (uint8_t)(0x04 | o->will_qos << 3 | (o->will_retain ? 0x20 : 0));
    if (o->password)
        flags |= 0x40;
    if (o->username)
        flags |= 0x80;

    size_t pl = v5 ? o->props_len : 0, wpl = v5 && o->will_topic ? o->will_props_len : 0;
    if (pl > MQTT_MAX_REMAINING || wpl > MQTT_MAX_REMAINING)
        return 0;
    uint64_t rl = 10u + (v5 ? mqtt_varint_size((uint32_t)pl) + pl : 0u) + 2u + cid_len;
    if (o->will_topic)
        rl += (v5 ? mqtt_varint_size((uint32_t)wpl) + wpl : 0u) + 2u + wt_len + 2u + wp_len;
    if (o->username)
        rl += 2u + u_len;
    if (o->password)
        rl += 2u + pw_len;

    size_t hl = put_head(out, cap, MQTT_CONNECT << 4, rl);
    if (!hl)
        return 0;
    uint8_t *p = put_str(out + hl, "MQTT", 4);
    *p++ = level;
    *p++ = flags;
    p = put16(p, o->keepalive);
    if (v5)
        p = put_props(p, o->props, pl);
    p = put_str(p, cid, cid_len);
    if (o->will_topic) {
        if (v5)
            p = put_props(p, o->will_props, wpl);
        p = put_str(p, o->will_topic, wt_len);
        p = put_str(p, o->will_payload, wp_len);
    }
    if (o->username)
        p = put_str(p, o->username, u_len);
    if (o->password)
        (void)put_str(p, o->password, pw_len);
    return hl + (size_t)rl;
}

size_t mqtt_encode_subscribe(uint8_t *out, size_t cap, uint16_t packet_id, const char *filter,
                             uint8_t qos)
{
    size_t flen = strlen(filter);
    if (flen > UINT16_MAX)
        return 0;
    uint64_t rl = 2u + 2u + flen + 1u;
    size_t hl = put_head(out, cap, MQTT_SUBSCRIBE << 4 | 0x2, rl);
    if (!hl)
        return 0;
    uint8_t *p = put16(out + hl, packet_id);
    p = put_str(p, filter, flen);
    *p = qos;
    return hl + (size_t)rl;
}

size_t mqtt_encode_unsubscribe(uint8_t *out, size_t cap, uint16_t packet_id, const char *filter)
{
    size_t flen = strlen(filter);
    if (flen > UINT16_MAX)
        return 0;
    uint64_t rl = 2u + 2u + flen;
    size_t hl = put_head(out, cap, MQTT_UNSUBSCRIBE << 4 | 0x2, rl);
    if (!hl)
        return 0;
    uint8_t *p = put16(out + hl, packet_id);
    put_str(p, filter, flen);
    return hl + (size_t)rl;
}

/* ---- 5.0 encoders ---- */

size_t mqtt_encode_connack5(uint8_t *out, size_t cap, bool session_present, uint8_t reason,
                            const uint8_t *props, size_t plen)
{
    size_t hl = put_head(out, cap, MQTT_CONNACK << 4, 2u + props_size(plen));
    if (!hl)
        return 0;
    uint8_t *p = out + hl;
    *p++ = session_present ? 1 : 0;
    *p++ = reason;
    p = put_props(p, props, plen);
    return (size_t)(p - out);
}

size_t mqtt_encode_ack5(uint8_t *out, size_t cap, uint8_t type, uint16_t packet_id, uint8_t reason,
                        const uint8_t *props, size_t plen)
{
    if (type < MQTT_PUBACK || type > MQTT_PUBCOMP)
        return 0;
    if (reason == 0 && plen == 0)
        return mqtt_encode_ack(out, cap, type, packet_id);
    uint8_t byte0 = (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 0x2 : 0));
    size_t hl = put_head(out, cap, byte0, 3u + (plen ? props_size(plen) : 0u));
    if (!hl)
        return 0;
    uint8_t *p = put16(out + hl, packet_id);
    *p++ = reason;
    if (plen)
        p = put_props(p, props, plen);
    return (size_t)(p - out);
}

size_t mqtt_encode_suback5(uint8_t *out, size_t cap, uint8_t type, uint16_t packet_id,
                           const uint8_t *props, size_t plen, const uint8_t *codes, size_t n)
{
    if ((type != MQTT_SUBACK && type != MQTT_UNSUBACK) || n > MQTT_MAX_REMAINING)
        return 0;
    size_t hl = put_head(out, cap, (uint8_t)(type << 4), 2u + props_size(plen) + (uint64_t)n);
    if (!hl)
        return 0;
    uint8_t *p = put16(out + hl, packet_id);
    p = put_props(p, props, plen);
    if (n)
        memcpy(p, codes, n);
    return (size_t)(p + n - out);
}

size_t mqtt_encode_reason5(uint8_t *out, size_t cap, uint8_t type, uint8_t reason,
                           const uint8_t *props, size_t plen)
{
    if (type != MQTT_DISCONNECT && type != MQTT_AUTH)
        return 0;
    uint64_t rl = reason == 0 && plen == 0 ? 0u : 1u + (plen ? props_size(plen) : 0u);
    size_t hl = put_head(out, cap, (uint8_t)(type << 4), rl);
    if (!hl)
        return 0;
    uint8_t *p = out + hl;
    if (rl)
        *p++ = reason;
    if (plen)
        p = put_props(p, props, plen);
    return (size_t)(p - out);
}

uint64_t mqtt_publish5_size(uint8_t qos, size_t topic_len, size_t plen, size_t payload_len)
{
    if (topic_len > UINT16_MAX || payload_len > MQTT_MAX_REMAINING)
        return 0;
    uint64_t rl = 2u + (uint64_t)topic_len + (qos ? 2u : 0u) + props_size(plen) + payload_len;
    if (rl > MQTT_MAX_REMAINING)
        return 0;
    return 1u + remaining_size((uint32_t)rl) + rl;
}

size_t mqtt_encode_publish_head5(uint8_t out[8], uint8_t qos, bool dup, bool retain,
                                 uint16_t topic_len, uint32_t plen, uint32_t payload_len)
{
    return publish_head(out, qos, dup, retain, topic_len, props_size(plen) + (uint64_t)payload_len);
}

size_t mqtt_encode_publish5(uint8_t *out, size_t cap, uint8_t qos, bool dup, bool retain,
                            const char *topic, uint16_t packet_id, const uint8_t *props,
                            size_t plen, const uint8_t *payload, size_t payload_len)
{
    size_t tlen = strlen(topic);
    if (qos > 2 || tlen > UINT16_MAX || payload_len > MQTT_MAX_REMAINING)
        return 0;
    uint64_t rl = 2u + (uint64_t)tlen + (qos ? 2u : 0u) + props_size(plen) + payload_len;
    size_t hl = put_head(out, cap, publish_byte0(qos, dup, retain), rl);
    if (!hl)
        return 0;
    uint8_t *p = put_str(out + hl, topic, tlen);
    if (qos)
        p = put16(p, packet_id);
    p = put_props(p, props, plen);
    if (payload_len)
        memcpy(p, payload, payload_len);
    return hl + (size_t)rl;
}

size_t mqtt_encode_subscribe5(uint8_t *out, size_t cap, uint16_t packet_id, const uint8_t *props,
                              size_t plen, const char *filter, uint8_t options)
{
    size_t flen = strlen(filter);
    if (flen > UINT16_MAX)
        return 0;
    uint64_t rl = 2u + props_size(plen) + 2u + flen + 1u;
    size_t hl = put_head(out, cap, MQTT_SUBSCRIBE << 4 | 0x2, rl);
    if (!hl)
        return 0;
    uint8_t *p = put16(out + hl, packet_id);
    p = put_props(p, props, plen);
    p = put_str(p, filter, flen);
    *p = options;
    return hl + (size_t)rl;
}

size_t mqtt_encode_unsubscribe5(uint8_t *out, size_t cap, uint16_t packet_id, const uint8_t *props,
                                size_t plen, const char *filter)
{
    size_t flen = strlen(filter);
    if (flen > UINT16_MAX)
        return 0;
    uint64_t rl = 2u + props_size(plen) + 2u + flen;
    size_t hl = put_head(out, cap, MQTT_UNSUBSCRIBE << 4 | 0x2, rl);
    if (!hl)
        return 0;
    uint8_t *p = put16(out + hl, packet_id);
    p = put_props(p, props, plen);
    put_str(p, filter, flen);
    return hl + (size_t)rl;
}
