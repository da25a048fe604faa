/* mqtt_codec: strict decoding and encoding of MQTT control packets.
 *
 * Promises:
 *  - mqtt_decode() never reads outside [body, body+len), never allocates, and either
 *    fills *out completely or returns an error; strings in *out point into body.
 *  - Every rule of MQTT 3.1.1 that can be checked on one packet in isolation is checked
 *    (reserved flag bits, QoS 3, UTF-8 well-formedness incl. U+0000 and surrogates,
 *    wildcards in PUBLISH topics, filter syntax, non-zero packet ids, empty SUBSCRIBE,
 *    trailing bytes). Limits (topic length/levels) are checked by the caller via topic.h.
 *  - The packet model carries a protocol level so MQTT 5.0 (properties, reason codes)
 *    can be added without changing callers: 5.0 fields are present but unused at level 4.
 *  - Encoders write into a caller buffer and return the byte count, or 0 if cap is too small.
 */
#ifndef BULWARK_MQTT_CODEC_H
#define BULWARK_MQTT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mqtt_type {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
    MQTT_AUTH = 15,
};

enum mqtt_proto {
    MQTT_PROTO_31 = 3,  /* "MQIsdp", accepted for old clients */
    MQTT_PROTO_311 = 4, /* "MQTT" */
    MQTT_PROTO_5 = 5,   /* "MQTT", decoded in a later issue */
};

/* 3.1.1 CONNACK return codes. */
enum mqtt_connack_rc {
    MQTT_CONNACK_ACCEPTED = 0,
    MQTT_CONNACK_BAD_PROTOCOL = 1,
    MQTT_CONNACK_ID_REJECTED = 2,
    MQTT_CONNACK_SERVER_UNAVAILABLE = 3,
    MQTT_CONNACK_BAD_CREDENTIALS = 4,
    MQTT_CONNACK_NOT_AUTHORIZED = 5,
};

enum mqtt_err {
    MQTT_OK = 0,
    MQTT_NEED_MORE = 1,      /* fixed header incomplete: read more bytes */
    MQTT_E_MALFORMED = -1,   /* bad remaining length, truncated field, trailing bytes */
    MQTT_E_PROTOCOL = -2,    /* reserved bits, QoS 3, zero packet id, empty SUBSCRIBE, ... */
    MQTT_E_UTF8 = -3,        /* ill-formed UTF-8 string, U+0000, surrogate */
    MQTT_E_TOPIC = -4,       /* wildcard in topic name, bad filter, empty topic */
    MQTT_E_PROTO_NAME = -5,  /* CONNECT protocol name not "MQTT"/"MQIsdp": close, no CONNACK */
    MQTT_E_PROTO_LEVEL = -6, /* name fine, level unsupported: CONNACK 0x01 then close */
    MQTT_E_TYPE = -7,        /* packet type 0, or a type a server never receives */
};

const char *mqtt_err_str(int err);

/* Length-delimited byte string pointing into the decoded buffer (not NUL-terminated). */
struct mqtt_str {
    const uint8_t *p;
    uint32_t len;
};

/* Largest value the 4-byte remaining length can carry. */
#define MQTT_MAX_REMAINING 268435455u

/* Parses the fixed header at buf[0..len).
 * Returns MQTT_OK and sets *byte0, *remaining and *hdr_len (2..5) when complete,
 * MQTT_NEED_MORE when more bytes are needed, MQTT_E_MALFORMED when the
 * remaining-length field is longer than 4 bytes. */
int mqtt_fixed_header(const uint8_t *buf, size_t len, uint8_t *byte0, uint32_t *remaining,
                      size_t *hdr_len);

struct mqtt_connect {
    uint8_t proto_level; /* enum mqtt_proto */
    bool clean_session;  /* 5.0: Clean Start */
    uint16_t keepalive;
    struct mqtt_str client_id;
    bool will;
    uint8_t will_qos;
    bool will_retain;
    struct mqtt_str will_topic;
    struct mqtt_str will_payload;
    bool has_username;
    struct mqtt_str username;
    bool has_password;
    struct mqtt_str password;
};

struct mqtt_publish {
    uint8_t qos;
    bool dup;
    bool retain;
    struct mqtt_str topic;
    uint16_t packet_id; /* 0 for QoS 0 */
    struct mqtt_str payload;
};

/* SUBSCRIBE / UNSUBSCRIBE: the list is validated whole by mqtt_decode and walked
 * with mqtt_topic_list_next(). */
struct mqtt_topic_list {
    uint16_t packet_id;
    uint16_t count; /* >= 1 */
    const uint8_t *list;
    uint32_t list_len;
    bool with_options; /* SUBSCRIBE: each filter is followed by an options byte */
};

struct mqtt_topic_iter {
    const struct mqtt_topic_list *tl;
    uint32_t off;
};

/* Acks carrying only a packet id (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK), CONNACK,
 * SUBACK: decoded too, for the fuzz/bench/test clients that speak the client side. */
struct mqtt_ack {
    uint16_t packet_id;
};

struct mqtt_connack {
    bool session_present;
    uint8_t rc;
};

struct mqtt_suback {
    uint16_t packet_id;
    const uint8_t *codes;
    uint32_t count;
};

struct mqtt_packet {
    uint8_t type;  /* enum mqtt_type */
    uint8_t flags; /* low nibble of byte 0 */
    union {
        struct mqtt_connect connect;
        struct mqtt_publish publish;
        struct mqtt_topic_list topics; /* SUBSCRIBE, UNSUBSCRIBE */
        struct mqtt_ack ack;
        struct mqtt_connack connack;
        struct mqtt_suback suback;
    } u;
};

/* Decodes one whole packet whose fixed header has been parsed.
 * proto_level is the connection's negotiated level (ignored for CONNECT).
 * server_side: true when decoding what a client sent to a server (rejects CONNACK,
 * SUBACK, UNSUBACK, PINGRESP with MQTT_E_TYPE); false for client-side use.
 * Returns MQTT_OK or a negative enum mqtt_err. */
int mqtt_decode(uint8_t byte0, const uint8_t *body, uint32_t len, uint8_t proto_level,
                bool server_side, struct mqtt_packet *out);

/* Next entry of a validated SUBSCRIBE/UNSUBSCRIBE list; *options is 0 for UNSUBSCRIBE.
 * Returns false after the last one. */
void mqtt_topic_iter_init(struct mqtt_topic_iter *it, const struct mqtt_topic_list *tl);
bool mqtt_topic_iter_next(struct mqtt_topic_iter *it, struct mqtt_str *filter, uint8_t *options);

/* UTF-8 rules of MQTT 3.1.1 section 1.5.3: well-formed, no U+0000, no surrogates
 * (well-formed UTF-8 cannot hold them), and no overlong forms. */
bool mqtt_utf8_valid(const uint8_t *s, size_t len);

/* Encoders. Each returns bytes written or 0 when cap is too small. */
size_t mqtt_encode_remaining(uint8_t *out, uint32_t value); /* 1..4 bytes, out has >= 4 */
size_t mqtt_encode_connack(uint8_t *out, size_t cap, bool session_present, uint8_t rc);
/* PUBACK, PUBREC, PUBREL (flags 0x2 added), PUBCOMP, UNSUBACK. */
size_t mqtt_encode_ack(uint8_t *out, size_t cap, uint8_t type, uint16_t packet_id);
size_t mqtt_encode_suback(uint8_t *out, size_t cap, uint16_t packet_id, const uint8_t *codes,
                          size_t n);
size_t mqtt_encode_pingresp(uint8_t *out, size_t cap);
size_t mqtt_encode_pingreq(uint8_t *out, size_t cap);
size_t mqtt_encode_disconnect(uint8_t *out, size_t cap);

/* PUBLISH is sent as: header || topic || [packet id] || payload, so the topic and payload
 * of a shared message need not be copied. This writes the header part: byte 0,
 * remaining length, topic length (2 bytes). Returns its length (4..7). */
size_t mqtt_encode_publish_head(uint8_t out[8], uint8_t qos, bool dup, bool retain,
                                uint16_t topic_len, uint32_t payload_len);
/* A whole PUBLISH in one buffer (client side, tests, fuzz seeds). */
size_t mqtt_encode_publish(uint8_t *out, size_t cap, uint8_t qos, bool dup, bool retain,
                           const char *topic, uint16_t packet_id, const uint8_t *payload,
                           size_t payload_len);
/* Client side CONNECT / SUBSCRIBE / UNSUBSCRIBE with one filter each (bench, fuzz seeds). */
struct mqtt_connect_opts {
    uint8_t proto_level;
    bool clean_session;
    uint16_t keepalive;
    const char *client_id;
    const char *username;   /* NULL: absent */
    const char *password;   /* NULL: absent */
    const char *will_topic; /* NULL: no will */
    const uint8_t *will_payload;
    size_t will_payload_len;
    uint8_t will_qos;
    bool will_retain;
};
size_t mqtt_encode_connect(uint8_t *out, size_t cap, const struct mqtt_connect_opts *o);
size_t mqtt_encode_subscribe(uint8_t *out, size_t cap, uint16_t packet_id, const char *filter,
                             uint8_t qos);
size_t mqtt_encode_unsubscribe(uint8_t *out, size_t cap, uint16_t packet_id, const char *filter);

#endif
