/* fuzz_mqtt_decode: mqtt_fixed_header + mqtt_decode on arbitrary bytes.
 *
 * Input: one selector byte, then packets back to back. Selector bits 0-1 pick the protocol
 * level (3, 4, 5, 4) and bit 2 the side (set: server side). Each body is copied into a
 * buffer of exactly its size so any read past it is an ASan report.
 * Oracles: decode results are from the enum; a decoded packet obeys every promise of
 * mqtt_codec.h (strings inside the body, flags, ids, counts, topic rules, which side may
 * receive what); UTF-8 and filter verdicts agree with independent reference checks and
 * topic.h; every packet that can be re-encoded with the codec's encoders encodes back to
 * exactly the same bytes (5.0 included, with its property blocks passed through); every
 * 5.0 property block decodes again alone to the same fields, and its walk agrees with its
 * counts and present bits; 5.0 reason codes are from their packet's list. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "mqtt_codec.h"
#include "mqtt_props.h"
#include "topic.h"

/* NUL-terminated copy of a decoded string (the encoders take C strings). */
static char *fz_cstr(const struct mqtt_str *s)
{
    char *c = malloc((size_t)s->len + 1);
    FUZZ_CHECK(c != NULL, "out of memory");
    if (s->len)
        memcpy(c, s->p, s->len);
    c[s->len] = '\0';
    return c;
}

static bool has_nul(const struct mqtt_str *s)
{
    return s->len && memchr(s->p, 0, s->len) != NULL;
}

/* '+' and '#' each fill a level, '#' only as the last level: checked level by level. */
static bool ref_filter_ok(const uint8_t *f, size_t len)
{
    if (len == 0 || !fz_ref_utf8(f, len))
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && f[i] != '/')
            continue;
        size_t n = i - start;
        bool wild = memchr(f + start, '+', n) || memchr(f + start, '#', n);
        if (wild && n != 1)
            return false;
        if (n == 1 && f[start] == '#' && i != len)
            return false;
        start = i + 1;
    }
    return true;
}

static bool ref_name_ok(const struct mqtt_str *t)
{
    return t->len && fz_ref_utf8(t->p, t->len) && !memchr(t->p, '+', t->len) &&
           !memchr(t->p, '#', t->len);
}

/* Encoded packet e (enc_len bytes) must carry byte0 and exactly body[0..len). */
static void same_packet(const uint8_t *e, size_t enc_len, uint8_t byte0, const uint8_t *body,
                        uint32_t len, const char *what)
{
    FUZZ_CHECK(enc_len > 0, "%s: encoder refused a decoded packet", what);
    uint8_t b0;
    uint32_t rem;
    size_t hl;
    FUZZ_CHECK(mqtt_fixed_header(e, enc_len, &b0, &rem, &hl) == MQTT_OK,
               "%s: encoded header does not parse", what);
    FUZZ_CHECK(b0 == byte0, "%s: byte 0 %02x re-encodes as %02x", what, byte0, b0);
    FUZZ_CHECK(hl + rem == enc_len, "%s: encoded length disagrees with its header", what);
    FUZZ_CHECK(rem == len && (len == 0 || memcmp(e + hl, body, len) == 0),
               "%s: body does not re-encode to the same bytes", what);
}

/* A decoded property block: inside the body, its walk agrees with count, present and the
 * repeat counts, and decoding it again alone gives the same fields. */
static void check_props(const uint8_t *body, uint32_t len, const struct mqtt_props *pr,
                        enum mqtt_prop_ctx ctx, bool from_client, uint8_t level)
{
    if (level < MQTT_PROTO_5) {
        FUZZ_CHECK(pr->present == 0 && pr->count == 0 && pr->raw.len == 0, "properties below 5.0");
        return;
    }
    FUZZ_CHECK(pr->raw.len == 0 || fz_inside(body, len, pr->raw.p, pr->raw.len),
               "property block outside the body");
    uint32_t off = 0, n = 0, users = 0, subs = 0;
    uint64_t seen = 0;
    struct mqtt_prop pp;
    while (mqtt_props_next(pr, &off, &pp)) {
        n++;
        FUZZ_CHECK(mqtt_prop_name(pp.id) != NULL, "walk gave unknown property %u", pp.id);
        FUZZ_CHECK(fz_inside(pr->raw.p, pr->raw.len, pp.wire.p, pp.wire.len),
                   "property outside its block");
        users += pp.id == MQTT_PROP_USER_PROPERTY;
        subs += pp.id == MQTT_PROP_SUBSCRIPTION_ID;
        if (pp.id == MQTT_PROP_USER_PROPERTY)
            FUZZ_CHECK(fz_ref_utf8(pp.a.p, pp.a.len) && fz_ref_utf8(pp.b.p, pp.b.len),
                       "user property is not UTF-8");
        FUZZ_CHECK(!(seen >> pp.id & 1) || pp.id == MQTT_PROP_USER_PROPERTY ||
                       (pp.id == MQTT_PROP_SUBSCRIPTION_ID && ctx == MQTT_PCTX_PUBLISH),
                   "property %u decoded twice", pp.id);
        seen |= (uint64_t)1 << pp.id;
    }
    FUZZ_CHECK(off == pr->raw.len, "walk stopped before the end of the block");
    FUZZ_CHECK(n == pr->count && users == pr->n_user && subs == pr->n_sub_ids &&
                   seen == pr->present,
               "property counts disagree with the walk");
    if (mqtt_props_has(pr, MQTT_PROP_RECEIVE_MAXIMUM))
        FUZZ_CHECK(pr->receive_maximum > 0, "Receive Maximum 0 decoded");
    if (mqtt_props_has(pr, MQTT_PROP_MAXIMUM_PACKET_SIZE))
        FUZZ_CHECK(pr->maximum_packet_size > 0, "Maximum Packet Size 0 decoded");
    if (mqtt_props_has(pr, MQTT_PROP_TOPIC_ALIAS))
        FUZZ_CHECK(pr->topic_alias > 0, "Topic Alias 0 decoded");
    if (mqtt_props_has(pr, MQTT_PROP_SUBSCRIPTION_ID))
        FUZZ_CHECK(pr->sub_id > 0 && pr->sub_id <= MQTT_SUB_ID_MAX, "Subscription Identifier");
    if (mqtt_props_has(pr, MQTT_PROP_PAYLOAD_FORMAT))
        FUZZ_CHECK(pr->payload_format <= 1, "Payload Format Indicator %u", pr->payload_format);
    struct mqtt_props again;
    FUZZ_CHECK(mqtt_props_decode(pr->raw.p, pr->raw.len, ctx, from_client, &again) == MQTT_OK,
               "property block does not decode alone");
    /* Fields are meaningful only when present. */
    FUZZ_CHECK(again.present == pr->present && again.count == pr->count, "decodes differently");
    FUZZ_CHECK(!mqtt_props_has(pr, MQTT_PROP_MESSAGE_EXPIRY) ||
                   again.message_expiry == pr->message_expiry,
               "Message Expiry Interval decodes differently alone");
    FUZZ_CHECK(!mqtt_props_has(pr, MQTT_PROP_SESSION_EXPIRY) ||
                   again.session_expiry == pr->session_expiry,
               "Session Expiry Interval decodes differently alone");
    FUZZ_CHECK(!mqtt_props_has(pr, MQTT_PROP_SUBSCRIPTION_ID) || again.sub_id == pr->sub_id,
               "Subscription Identifier decodes differently alone");
}

/* Length of a property length field plus its block as found in the body. */
static size_t props_wire(const struct mqtt_props *pr)
{
    return mqtt_varint_size(pr->raw.len) + pr->raw.len;
}

static void check_connect(uint8_t byte0, const uint8_t *body, uint32_t len,
                          const struct mqtt_connect *k)
{
    FUZZ_CHECK(k->proto_level == MQTT_PROTO_31 || k->proto_level == MQTT_PROTO_311 ||
                   k->proto_level == MQTT_PROTO_5,
               "CONNECT level %u", k->proto_level);
    FUZZ_CHECK(fz_inside(body, len, k->client_id.p, k->client_id.len), "client id outside body");
    FUZZ_CHECK(fz_ref_utf8(k->client_id.p, k->client_id.len), "client id is not UTF-8");
    FUZZ_CHECK(k->will_qos <= 2, "will QoS %u", k->will_qos);
    if (!k->will) {
        FUZZ_CHECK(!k->will_qos && !k->will_retain && !k->will_topic.len && !k->will_payload.len,
                   "will fields without the will flag");
    } else {
        FUZZ_CHECK(fz_inside(body, len, k->will_topic.p, k->will_topic.len) &&
                       fz_inside(body, len, k->will_payload.p, k->will_payload.len),
                   "will outside body");
        FUZZ_CHECK(ref_name_ok(&k->will_topic), "will topic is not a valid topic name");
    }
    if (k->has_username) {
        FUZZ_CHECK(fz_inside(body, len, k->username.p, k->username.len), "username outside body");
        FUZZ_CHECK(fz_ref_utf8(k->username.p, k->username.len), "username is not UTF-8");
    } else {
        FUZZ_CHECK(!k->username.len, "username without the flag");
    }
    if (k->has_password)
        FUZZ_CHECK(fz_inside(body, len, k->password.p, k->password.len), "password outside body");
    else
        FUZZ_CHECK(!k->password.len, "password without the flag");
    if (k->proto_level < MQTT_PROTO_5)
        FUZZ_CHECK(!k->has_password || k->has_username, "password without username below 5.0");
    check_props(body, len, &k->props, MQTT_PCTX_CONNECT, true, k->proto_level);
    check_props(body, len, &k->will_props, MQTT_PCTX_WILL, true, k->will ? k->proto_level : 0);

    /* Re-encode. The encoder always writes the name "MQTT" and takes C strings. */
    if (has_nul(&k->password) || has_nul(&k->client_id) || has_nul(&k->username) ||
        has_nul(&k->will_topic))
        return;
    char *cid = fz_cstr(&k->client_id), *user = fz_cstr(&k->username);
    char *pass = fz_cstr(&k->password), *wt = fz_cstr(&k->will_topic);
    struct mqtt_connect_opts o = {
        .proto_level = k->proto_level,
        .clean_session = k->clean_session,
        .keepalive = k->keepalive,
        .client_id = cid,
        .username = k->has_username ? user : NULL,
        .password = k->has_password ? pass : NULL,
        .will_topic = k->will ? wt : NULL,
        .will_payload = k->will_payload.p,
        .will_payload_len = k->will_payload.len,
        .will_qos = k->will_qos,
        .will_retain = k->will_retain,
        .props = k->props.raw.p,
        .props_len = k->props.raw.len,
        .will_props = k->will_props.raw.p,
        .will_props_len = k->will_props.raw.len,
    };
    size_t cap = (size_t)len + 16;
    uint8_t *e = malloc(cap);
    FUZZ_CHECK(e != NULL, "out of memory");
    size_t n = mqtt_encode_connect(e, cap, &o);
    if (k->proto_level != MQTT_PROTO_31) {
        same_packet(e, n, byte0, body, len, "CONNECT");
    } else {
        /* "MQIsdp" (8 bytes with its length) where the encoder wrote "MQTT" (6). */
        uint8_t b0;
        uint32_t rem;
        size_t hl;
        FUZZ_CHECK(n && mqtt_fixed_header(e, n, &b0, &rem, &hl) == MQTT_OK && b0 == byte0 &&
                       rem + 2 == len && memcmp(e + hl + 6, body + 8, len - 8) == 0,
                   "CONNECT 3.1 does not re-encode to the same fields");
    }
    free(e);
    free(cid);
    free(user);
    free(pass);
    free(wt);
}

static void check_publish(uint8_t byte0, const uint8_t *body, uint32_t len, uint8_t level,
                          bool server_side, const struct mqtt_publish *p)
{
    FUZZ_CHECK(p->qos <= 2 && p->qos == ((byte0 >> 1) & 3), "PUBLISH QoS %u", p->qos);
    FUZZ_CHECK(p->dup == !!(byte0 & 8) && p->retain == !!(byte0 & 1), "PUBLISH flags");
    FUZZ_CHECK(!p->dup || p->qos, "DUP set on QoS 0");
    FUZZ_CHECK((p->packet_id != 0) == (p->qos != 0), "packet id %u at QoS %u", p->packet_id,
               p->qos);
    FUZZ_CHECK(fz_inside(body, len, p->topic.p, p->topic.len), "topic outside body");
    check_props(body, len, &p->props, MQTT_PCTX_PUBLISH, server_side, level);
    if (p->topic.len || level < MQTT_PROTO_5) {
        FUZZ_CHECK(ref_name_ok(&p->topic), "PUBLISH topic is not a valid topic name");
        FUZZ_CHECK(topic_name_check(p->topic.p, p->topic.len, NULL) == TOPIC_OK,
                   "codec and topic.h disagree on a topic name");
    } else {
        FUZZ_CHECK(mqtt_props_has(&p->props, MQTT_PROP_TOPIC_ALIAS),
                   "empty topic without a Topic Alias");
    }
    FUZZ_CHECK(fz_inside(body, len, p->payload.p, p->payload.len) &&
                   (len == 0 || p->payload.p + p->payload.len == body + len),
               "payload is not the rest of the body");

    char *t = fz_cstr(&p->topic);
    size_t cap = (size_t)len + 16;
    uint8_t *e = malloc(cap);
    FUZZ_CHECK(e != NULL, "out of memory");
    bool v5 = level >= MQTT_PROTO_5;
    size_t n =
        v5 ? mqtt_encode_publish5(e, cap, p->qos, p->dup, p->retain, t, p->packet_id,
                                  p->props.raw.p, p->props.raw.len, p->payload.p, p->payload.len)
           : mqtt_encode_publish(e, cap, p->qos, p->dup, p->retain, t, p->packet_id, p->payload.p,
                                 p->payload.len);
    same_packet(e, n, byte0, body, len, "PUBLISH");
    if (v5)
        FUZZ_CHECK(mqtt_publish5_size(p->qos, p->topic.len, p->props.raw.len, p->payload.len) == n,
                   "mqtt_publish5_size disagrees with the encoding");
    uint8_t head[8];
    size_t hn =
        v5 ? mqtt_encode_publish_head5(head, p->qos, p->dup, p->retain, (uint16_t)p->topic.len,
                                       p->props.raw.len, p->payload.len)
           : mqtt_encode_publish_head(head, p->qos, p->dup, p->retain, (uint16_t)p->topic.len,
                                      p->payload.len);
    FUZZ_CHECK(hn >= 4 && hn <= 7 && hn <= n && memcmp(head, e, hn) == 0,
               "publish head differs from the whole encoding");
    free(e);
    free(t);
}

static void check_topics(uint8_t byte0, const uint8_t *body, uint32_t len, uint8_t level,
                         const struct mqtt_topic_list *tl)
{
    uint8_t type = byte0 >> 4;
    FUZZ_CHECK(tl->packet_id != 0, "SUBSCRIBE/UNSUBSCRIBE packet id 0");
    FUZZ_CHECK(tl->count >= 1, "empty topic list decoded");
    FUZZ_CHECK(tl->with_options == (type == MQTT_SUBSCRIBE), "with_options wrong");
    FUZZ_CHECK(fz_inside(body, len, tl->list, tl->list_len) &&
                   tl->list + tl->list_len == body + len,
               "list is not the rest of the body");
    struct mqtt_topic_iter it;
    struct mqtt_str f;
    uint8_t opts;
    uint32_t n = 0, start = 0;
    bool v5 = level >= MQTT_PROTO_5;
    check_props(body, len, &tl->props,
                type == MQTT_SUBSCRIBE ? MQTT_PCTX_SUBSCRIBE : MQTT_PCTX_UNSUBSCRIBE, true, level);
    size_t pw = v5 ? props_wire(&tl->props) : 0; /* bytes between the packet id and the list */
    mqtt_topic_iter_init(&it, tl);
    while (mqtt_topic_iter_next(&it, &f, &opts)) {
        n++;
        FUZZ_CHECK(n <= tl->count, "iterator yields more than count %u", tl->count);
        FUZZ_CHECK(fz_inside(tl->list, tl->list_len, f.p, f.len), "filter outside the list");
        FUZZ_CHECK(ref_filter_ok(f.p, f.len), "decoded filter breaks the filter rules");
        FUZZ_CHECK(topic_filter_check(f.p, f.len, NULL) == TOPIC_OK,
                   "codec and topic.h disagree on a filter");
        if (type == MQTT_SUBSCRIBE) {
            FUZZ_CHECK((opts & 3) != 3, "subscription QoS 3 decoded");
            if (level < MQTT_PROTO_5)
                FUZZ_CHECK(!(opts & 0xFC), "reserved option bits decoded");
            else
                FUZZ_CHECK(!(opts & 0xC0) && (opts >> 4) != 3, "reserved option bits decoded");
        } else {
            FUZZ_CHECK(opts == 0, "UNSUBSCRIBE entry with options");
        }
        /* One entry re-encoded alone is packet id || exactly that entry's bytes. */
        char *fc = fz_cstr(&f);
        size_t cap = (size_t)f.len + tl->props.raw.len + 16;
        uint8_t *e = malloc(cap);
        FUZZ_CHECK(e != NULL, "out of memory");
        const uint8_t *pp = tl->props.raw.p;
        size_t pl = tl->props.raw.len;
        size_t en = type == MQTT_SUBSCRIBE
                        ? (v5 ? mqtt_encode_subscribe5(e, cap, tl->packet_id, pp, pl, fc, opts)
                              : mqtt_encode_subscribe(e, cap, tl->packet_id, fc, opts))
                        : (v5 ? mqtt_encode_unsubscribe5(e, cap, tl->packet_id, pp, pl, fc)
                              : mqtt_encode_unsubscribe(e, cap, tl->packet_id, fc));
        uint8_t b0;
        uint32_t rem;
        size_t hl;
        FUZZ_CHECK(en && mqtt_fixed_header(e, en, &b0, &rem, &hl) == MQTT_OK && b0 == byte0 &&
                       rem == 2 + pw + (it.off - start) && memcmp(e + hl, body, 2 + pw) == 0 &&
                       memcmp(e + hl + 2 + pw, tl->list + start, it.off - start) == 0,
                   "topic list entry %u does not re-encode to the same bytes", n);
        free(e);
        free(fc);
        start = it.off;
    }
    FUZZ_CHECK(n == tl->count, "iterator yields %u entries, count says %u", n, tl->count);
    FUZZ_CHECK(start == tl->list_len, "iterator stopped before the end of the list");
    FUZZ_CHECK(!mqtt_topic_iter_next(&it, &f, &opts), "iterator restarted after the end");
}

/* 5.0 packets whose short forms have several encodings: re-encode, decode again, and
 * compare the fields (the long forms must re-encode byte for byte). */
static void check_ack5(uint8_t byte0, const uint8_t *body, uint32_t len,
                       const struct mqtt_packet *pk)
{
    const struct mqtt_ack *a = &pk->u.ack;
    uint8_t type = byte0 >> 4;
    FUZZ_CHECK(a->packet_id != 0, "ack with packet id 0");
    FUZZ_CHECK(mqtt_reason_allowed(type, a->reason), "ack reason %x", a->reason);
    check_props(body, len, &a->props, MQTT_PCTX_PUBACK, false, MQTT_PROTO_5);
    uint8_t *e = malloc((size_t)len + 16);
    FUZZ_CHECK(e != NULL, "out of memory");
    size_t n = mqtt_encode_ack5(e, (size_t)len + 16, type, a->packet_id, a->reason, a->props.raw.p,
                                a->props.raw.len);
    if (a->props.raw.len)
        same_packet(e, n, byte0, body, len, "ack 5.0");
    struct mqtt_packet again;
    uint8_t b0;
    uint32_t rem;
    size_t hl;
    FUZZ_CHECK(n && mqtt_fixed_header(e, n, &b0, &rem, &hl) == MQTT_OK &&
                   mqtt_decode(b0, e + hl, rem, MQTT_PROTO_5, false, &again) == MQTT_OK &&
                   again.u.ack.packet_id == a->packet_id && again.u.ack.reason == a->reason &&
                   again.u.ack.props.count == a->props.count,
               "ack 5.0 does not survive a re-encoding");
    free(e);
}

static void check_connack5(uint8_t byte0, const uint8_t *body, uint32_t len,
                           const struct mqtt_connack *c)
{
    FUZZ_CHECK(mqtt_reason_allowed(MQTT_CONNACK, c->rc), "CONNACK reason %x", c->rc);
    FUZZ_CHECK(c->rc < 0x80 || !c->session_present, "refusal with session present");
    check_props(body, len, &c->props, MQTT_PCTX_CONNACK, false, MQTT_PROTO_5);
    uint8_t *e = malloc((size_t)len + 16);
    FUZZ_CHECK(e != NULL, "out of memory");
    size_t n = mqtt_encode_connack5(e, (size_t)len + 16, c->session_present, c->rc, c->props.raw.p,
                                    c->props.raw.len);
    same_packet(e, n, byte0, body, len, "CONNACK 5.0");
    free(e);
}

static void check_suback5(uint8_t byte0, const uint8_t *body, uint32_t len,
                          const struct mqtt_suback *s)
{
    uint8_t type = byte0 >> 4;
    FUZZ_CHECK(s->packet_id && s->count >= 1 && fz_inside(body, len, s->codes, s->count) &&
                   s->codes + s->count == body + len,
               "SUBACK/UNSUBACK 5.0 fields");
    for (uint32_t i = 0; i < s->count; i++)
        FUZZ_CHECK(mqtt_reason_allowed(type, s->codes[i]), "reason code %x", s->codes[i]);
    check_props(body, len, &s->props, type == MQTT_SUBACK ? MQTT_PCTX_SUBACK : MQTT_PCTX_UNSUBACK,
                false, MQTT_PROTO_5);
    uint8_t *e = malloc((size_t)len + 16);
    FUZZ_CHECK(e != NULL, "out of memory");
    size_t n = mqtt_encode_suback5(e, (size_t)len + 16, type, s->packet_id, s->props.raw.p,
                                   s->props.raw.len, s->codes, s->count);
    same_packet(e, n, byte0, body, len, "SUBACK/UNSUBACK 5.0");
    free(e);
}

static void check_reason5(uint8_t byte0, const uint8_t *body, uint32_t len, bool server_side,
                          const struct mqtt_reason *d)
{
    uint8_t type = byte0 >> 4;
    FUZZ_CHECK(mqtt_reason_allowed(type, d->reason), "reason %x", d->reason);
    check_props(body, len, &d->props, type == MQTT_AUTH ? MQTT_PCTX_AUTH : MQTT_PCTX_DISCONNECT,
                server_side, MQTT_PROTO_5);
    uint8_t *e = malloc((size_t)len + 16);
    FUZZ_CHECK(e != NULL, "out of memory");
    size_t n =
        mqtt_encode_reason5(e, (size_t)len + 16, type, d->reason, d->props.raw.p, d->props.raw.len);
    if (d->props.raw.len)
        same_packet(e, n, byte0, body, len, "DISCONNECT/AUTH 5.0");
    FUZZ_CHECK(n && n <= (size_t)len + 2 + 4, "DISCONNECT/AUTH 5.0 re-encoding");
    free(e);
}

static void check_packet(uint8_t byte0, const uint8_t *body, uint32_t len, uint8_t level,
                         bool server_side, const struct mqtt_packet *pk)
{
    uint8_t type = byte0 >> 4;
    uint8_t e[16];
    size_t n;
    FUZZ_CHECK(pk->type == type && pk->flags == (byte0 & 15), "type/flags not from byte 0");
    switch (type) {
    case MQTT_CONNECT:
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
    case MQTT_PINGREQ:
        FUZZ_CHECK(server_side, "client side accepted a type only servers receive");
        break;
    case MQTT_CONNACK:
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
    case MQTT_PINGRESP:
        FUZZ_CHECK(!server_side, "server side accepted a type only clients receive");
        break;
    case MQTT_AUTH:
        FUZZ_CHECK(level >= MQTT_PROTO_5, "AUTH accepted below 5.0");
        break;
    default:
        FUZZ_CHECK(type != 0, "packet type 0 accepted");
    }
    if (type != MQTT_PUBLISH) {
        uint8_t want = type == MQTT_PUBREL || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE;
        FUZZ_CHECK((byte0 & 15) == (want ? 2 : 0), "reserved flags %x accepted", byte0 & 15);
    }
    switch (type) {
    case MQTT_CONNECT:
        check_connect(byte0, body, len, &pk->u.connect);
        break;
    case MQTT_PUBLISH:
        check_publish(byte0, body, len, level, server_side, &pk->u.publish);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        check_topics(byte0, body, len, level, &pk->u.topics);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        if (level >= MQTT_PROTO_5) {
            check_ack5(byte0, body, len, pk);
            break;
        }
        /* fall through */
    case MQTT_UNSUBACK:
        if (type == MQTT_UNSUBACK && level >= MQTT_PROTO_5) {
            check_suback5(byte0, body, len, &pk->u.suback);
            break;
        }
        FUZZ_CHECK(pk->u.ack.packet_id != 0, "ack with packet id 0");
        n = mqtt_encode_ack(e, sizeof(e), type, pk->u.ack.packet_id);
        same_packet(e, n, byte0, body, len, "ack");
        break;
    case MQTT_CONNACK:
        if (level >= MQTT_PROTO_5) {
            check_connack5(byte0, body, len, &pk->u.connack);
            break;
        }
        FUZZ_CHECK(pk->u.connack.rc <= MQTT_CONNACK_NOT_AUTHORIZED, "CONNACK rc %u",
                   pk->u.connack.rc);
        FUZZ_CHECK(!pk->u.connack.rc || !pk->u.connack.session_present,
                   "refusal with session present");
        n = mqtt_encode_connack(e, sizeof(e), pk->u.connack.session_present, pk->u.connack.rc);
        same_packet(e, n, byte0, body, len, "CONNACK");
        break;
    case MQTT_SUBACK: {
        const struct mqtt_suback *s = &pk->u.suback;
        if (level >= MQTT_PROTO_5) {
            check_suback5(byte0, body, len, s);
            break;
        }
        FUZZ_CHECK(s->packet_id && s->count >= 1 && s->count + 2 == len &&
                       fz_inside(body, len, s->codes, s->count),
                   "SUBACK fields");
        for (uint32_t i = 0; i < s->count; i++)
            FUZZ_CHECK(s->codes[i] <= 2 || s->codes[i] == 0x80, "SUBACK code %x", s->codes[i]);
        uint8_t *b = malloc((size_t)len + 8);
        FUZZ_CHECK(b != NULL, "out of memory");
        n = mqtt_encode_suback(b, (size_t)len + 8, s->packet_id, s->codes, s->count);
        same_packet(b, n, byte0, body, len, "SUBACK");
        free(b);
        break;
    }
    case MQTT_PINGREQ:
        same_packet(e, mqtt_encode_pingreq(e, sizeof(e)), byte0, body, len, "PINGREQ");
        break;
    case MQTT_PINGRESP:
        same_packet(e, mqtt_encode_pingresp(e, sizeof(e)), byte0, body, len, "PINGRESP");
        break;
    case MQTT_DISCONNECT:
        if (level >= MQTT_PROTO_5) {
            check_reason5(byte0, body, len, server_side, &pk->u.reason);
            break;
        }
        same_packet(e, mqtt_encode_disconnect(e, sizeof(e)), byte0, body, len, "DISCONNECT");
        break;
    case MQTT_AUTH:
        check_reason5(byte0, body, len, server_side, &pk->u.reason);
        break;
    default:
        break;
    }
}

static void check_fixed_header(const uint8_t *p, size_t n, int r, uint8_t b0, uint32_t rem,
                               size_t hl)
{
    size_t cont = 0; /* leading length bytes with the continuation bit */
    while (cont < 4 && cont + 1 < n && (p[cont + 1] & 0x80))
        cont++;
    if (r == MQTT_NEED_MORE) {
        FUZZ_CHECK(cont + 1 == n && cont < 4, "NEED_MORE with a complete header");
        return;
    }
    if (r == MQTT_E_MALFORMED) {
        FUZZ_CHECK(cont == 4, "MALFORMED with a length of %zu bytes", cont + 1);
        return;
    }
    FUZZ_CHECK(r == MQTT_OK, "mqtt_fixed_header returned %d", r);
    FUZZ_CHECK(hl == cont + 2 && hl <= 5 && b0 == p[0], "header length %zu", hl);
    uint32_t v = 0;
    for (size_t i = 0; i + 2 <= hl; i++)
        v |= (uint32_t)(p[i + 1] & 0x7f) << (7 * i);
    FUZZ_CHECK(v == rem && rem <= MQTT_MAX_REMAINING, "remaining length %u, expected %u", rem, v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t levels[4] = {MQTT_PROTO_31, MQTT_PROTO_311, MQTT_PROTO_5, MQTT_PROTO_311};
    if (size < 1)
        return 0;
    uint8_t level = levels[data[0] & 3];
    bool server_side = data[0] & 4;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    while (n > 0) {
        uint8_t b0 = 0;
        uint32_t rem = 0;
        size_t hl = 0;
        int r = mqtt_fixed_header(p, n, &b0, &rem, &hl);
        check_fixed_header(p, n, r, b0, rem, hl);
        if (r != MQTT_OK)
            break;
        /* A truncated last packet is decoded with what is there: one more body shape. */
        uint32_t blen = rem <= n - hl ? rem : (uint32_t)(n - hl);
        uint8_t *body = malloc(blen ? blen : 1);
        FUZZ_CHECK(body != NULL, "out of memory");
        if (blen)
            memcpy(body, p + hl, blen);
        struct mqtt_packet pk;
        int rc = mqtt_decode(b0, body, blen, level, server_side, &pk);
        FUZZ_CHECK(rc == MQTT_OK || (rc <= MQTT_E_MALFORMED && rc >= MQTT_E_TOPIC_ALIAS),
                   "mqtt_decode returned %d", rc);
        FUZZ_CHECK(strcmp(mqtt_err_str(rc), "unknown error") != 0, "no text for %d", rc);
        if (rc < 0)
            FUZZ_CHECK(mqtt_err_reason(rc) >= 0x80, "reason %x for error %d", mqtt_err_reason(rc),
                       rc);
        if (rc == MQTT_OK)
            check_packet(b0, body, blen, level, server_side, &pk);
        FUZZ_CHECK(mqtt_utf8_valid(body, blen) == fz_ref_utf8(body, blen),
                   "mqtt_utf8_valid disagrees with the reference on %u bytes", blen);
        free(body);
        p += hl + blen;
        n -= hl + blen;
    }
    return 0;
}
