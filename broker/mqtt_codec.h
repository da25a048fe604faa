/* mqtt_codec: strict decoding and encoding of MQTT control packets.
 *
 * Promises:
 *  - mqtt_decode() never reads outside [body, body+len), never allocates, and either
 *    fills *out completely or returns an error; strings in *out point into body.
 *  - Every rule of MQTT 3.1.1 that can be checked on one packet in isolation is checked
 *    (reserved flag bits, QoS 3, UTF-8 well-formedness incl. U+0000 and surrogates,
 *    wildcards in PUBLISH topics, filter syntax, non-zero packet ids, empty SUBSCRIBE,
 *    trailing bytes). Limits (topic length/levels) are checked by the caller via topic.h.
 *  - MQTT 5.0 (level 5): every packet's properties are decoded and validated by
 *    mqtt_props.h, and so are reason codes (each against its packet's list); the 5.0
 *    wording decides between MQTT_E_MALFORMED and MQTT_E_PROTOCOL (mqtt_err_reason()).
 *    At levels 3 and 4 every props field is empty (mqtt_props_has() is false).
 *  - Encoders write into a caller buffer and return the byte count, or 0 if cap is too small.
 */
#ifndef BULWARK_MQTT_CODEC_H
#define BULWARK_MQTT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt_base.h"
#include "mqtt_props.h"

enum mqtt_proto {
    MQTT_PROTO_31 = 3,  /* "MQIsdp", accepted for old clients */
    MQTT_PROTO_311 = 4, /* "MQTT" */
    MQTT_PROTO_5 = 5,   /* "MQTT", with properties and reason codes */
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

const char *mqtt_err_str(int err);
/* The MQTT 5.0 reason code a receiver sends for a decode error (0x81, 0x82, 0x94). */
uint8_t mqtt_err_reason(int err);

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
    struct mqtt_props props;      /* 5.0 */
    struct mqtt_props will_props; /* 5.0, with the will */
};

struct mqtt_publish {
    uint8_t qos;
    bool dup;
    bool retain;
    struct mqtt_str topic;
    uint16_t packet_id; /* 0 for QoS 0 */
    struct mqtt_str payload;
    struct mqtt_props props; /* 5.0; the topic may be empty when a Topic Alias is present */
};

/* SUBSCRIBE / UNSUBSCRIBE: the list is validated whole by mqtt_decode and walked
 * with mqtt_topic_list_next(). */
struct mqtt_topic_list {
    uint16_t packet_id;
    uint16_t count; /* >= 1 */
    const uint8_t *list;
    uint32_t list_len;
    bool with_options; /* SUBSCRIBE: each filter is followed by an options byte */
    struct mqtt_props props;
};

struct mqtt_topic_iter {
    const struct mqtt_topic_list *tl;
    uint32_t off;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP (and UNSUBACK below 5.0). CONNACK, SUBACK and UNSUBACK
 * are decoded too, for the fuzz/bench/test clients that speak the client side. */
struct mqtt_ack {
    uint16_t packet_id;
    uint8_t reason; /* 5.0; 0 when absent */
    struct mqtt_props props;
};

struct mqtt_connack {
    bool session_present;
    uint8_t rc; /* 3.1.1 return code, or 5.0 reason code */
    struct mqtt_props props;
};

/* SUBACK, and UNSUBACK at 5.0 (a reason code per filter). */
struct mqtt_suback {
    uint16_t packet_id;
    const uint8_t *codes;
    uint32_t count;
    struct mqtt_props props;
};

/* DISCONNECT and AUTH at 5.0 (reason 0 and no properties when the body is empty). */
struct mqtt_reason {
    uint8_t reason;
    struct mqtt_props props;
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
        struct mqtt_suback suback; /* SUBACK; UNSUBACK at 5.0 */
        struct mqtt_reason reason; /* DISCONNECT, AUTH */
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
 * At 5.0 options carries No Local (0x04), Retain As Published (0x08), Retain Handling
 * (bits 4-5) beside the QoS; reserved bits are always 0.
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

/* 5.0 encoders. props/plen is a property block (mqtt_pbuf) without its length; the
 * encoders write the length. The short forms of 5.0 are used where the spec allows:
 * an ack with reason 0 and no properties is the 2-byte 3.1.1 form, with a reason but no
 * properties it is 3 bytes; a DISCONNECT or AUTH with reason 0 and none is empty. */
size_t mqtt_encode_connack5(uint8_t *out, size_t cap, bool session_present, uint8_t reason,
                            const uint8_t *props, size_t plen);
/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
size_t mqtt_encode_ack5(uint8_t *out, size_t cap, uint8_t type, uint16_t packet_id, uint8_t reason,
                        const uint8_t *props, size_t plen);
/* SUBACK or UNSUBACK with one reason code per filter. */
size_t mqtt_encode_suback5(uint8_t *out, size_t cap, uint8_t type, uint16_t packet_id,
                           const uint8_t *props, size_t plen, const uint8_t *codes, size_t n);
/* DISCONNECT or AUTH. */
size_t mqtt_encode_reason5(uint8_t *out, size_t cap, uint8_t type, uint8_t reason,
                           const uint8_t *props, size_t plen);
/* Bytes of a whole 5.0 PUBLISH (the value to compare with a Maximum Packet Size), or 0
 * when it cannot be encoded. */
uint64_t mqtt_publish5_size(uint8_t qos, size_t topic_len, size_t plen, size_t payload_len);

/* PUBLISH is sent as: header || topic || [packet id] || payload, so the topic and payload
 * of a shared message need not be copied. This writes the header part: byte 0,
 * remaining length, topic length (2 bytes). Returns its length (4..7). */
size_t mqtt_encode_publish_head(uint8_t out[8], uint8_t qos, bool dup, bool retain,
                                uint16_t topic_len, uint32_t payload_len);
/* The same at 5.0, where the remaining length also counts the property length field and
 * plen bytes of properties (written by the caller after the packet id). */
size_t mqtt_encode_publish_head5(uint8_t out[8], uint8_t qos, bool dup, bool retain,
                                 uint16_t topic_len, uint32_t plen, uint32_t payload_len);
/* A whole PUBLISH in one buffer (client side, tests, fuzz seeds). */
size_t mqtt_encode_publish(uint8_t *out, size_t cap, uint8_t qos, bool dup, bool retain,
                           const char *topic, uint16_t packet_id, const uint8_t *payload,
                           size_t payload_len);
/* A whole 5.0 PUBLISH; topic may be "" with a Topic Alias in props. */
size_t mqtt_encode_publish5(uint8_t *out, size_t cap, uint8_t qos, bool dup, bool retain,
                            const char *topic, uint16_t packet_id, const uint8_t *props,
                            size_t plen, const uint8_t *payload, size_t payload_len);
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
    /* 5.0 only: CONNECT and will property blocks (NULL/0: empty). */
    const uint8_t *props;
    size_t props_len;
    const uint8_t *will_props;
    size_t will_props_len;
};
size_t mqtt_encode_connect(uint8_t *out, size_t cap, const struct mqtt_connect_opts *o);
size_t mqtt_encode_subscribe(uint8_t *out, size_t cap, uint16_t packet_id, const char *filter,
                             uint8_t qos);
size_t mqtt_encode_unsubscribe(uint8_t *out, size_t cap, uint16_t packet_id, const char *filter);
/* 5.0 forms: a property block, and the whole options byte for SUBSCRIBE. */
size_t mqtt_encode_subscribe5(uint8_t *out, size_t cap, uint16_t packet_id, const uint8_t *props,
                              size_t plen, const char *filter, uint8_t options);
size_t mqtt_encode_unsubscribe5(uint8_t *out, size_t cap, uint16_t packet_id, const uint8_t *props,
                                size_t plen, const char *filter);

#endif
