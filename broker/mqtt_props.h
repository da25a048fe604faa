/* mqtt_props: MQTT 5.0 properties (spec section 2.2.2): decoding with every per-packet rule,
 * and a bounded builder for the properties a sender writes.
 *
 * Promises:
 *  - mqtt_props_decode() reads only [p, p+len), never allocates, and either fills *out or
 *    returns an enum mqtt_err: a truncated value, a property id not defined or not allowed
 *    in that packet, or ill-formed UTF-8 is MQTT_E_MALFORMED (0x81); a second copy of a
 *    property that may appear once, or a value the spec forbids (Receive Maximum 0, Maximum
 *    Packet Size 0, a byte flag other than 0/1, Subscription Identifier 0, a Subscription
 *    Identifier in a client's PUBLISH) is MQTT_E_PROTOCOL (0x82); Topic Alias 0 is
 *    MQTT_E_TOPIC_ALIAS (0x94). Variable byte integers must use the fewest bytes.
 *  - A decoded field is meaningful only if its bit is set in present (mqtt_props_has()).
 *    Strings point into the decoded bytes. Repeatable properties (User Property, and
 *    Subscription Identifier in a PUBLISH sent to a client) are counted and walked with
 *    mqtt_props_next() over raw, in wire order.
 *  - The builder never writes past its buffer: once a value does not fit, it stays failed.
 */
#ifndef BULWARK_MQTT_PROPS_H
#define BULWARK_MQTT_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt_base.h"

enum mqtt_prop_id {
    MQTT_PROP_PAYLOAD_FORMAT = 0x01,
    MQTT_PROP_MESSAGE_EXPIRY = 0x02,
    MQTT_PROP_CONTENT_TYPE = 0x03,
    MQTT_PROP_RESPONSE_TOPIC = 0x08,
    MQTT_PROP_CORRELATION_DATA = 0x09,
    MQTT_PROP_SUBSCRIPTION_ID = 0x0B,
    MQTT_PROP_SESSION_EXPIRY = 0x11,
    MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
    MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
    MQTT_PROP_AUTH_METHOD = 0x15,
    MQTT_PROP_AUTH_DATA = 0x16,
    MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
    MQTT_PROP_WILL_DELAY = 0x18,
    MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
    MQTT_PROP_RESPONSE_INFO = 0x1A,
    MQTT_PROP_SERVER_REFERENCE = 0x1C,
    MQTT_PROP_REASON_STRING = 0x1F,
    MQTT_PROP_RECEIVE_MAXIMUM = 0x21,
    MQTT_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
    MQTT_PROP_TOPIC_ALIAS = 0x23,
    MQTT_PROP_MAXIMUM_QOS = 0x24,
    MQTT_PROP_RETAIN_AVAILABLE = 0x25,
    MQTT_PROP_USER_PROPERTY = 0x26,
    MQTT_PROP_MAXIMUM_PACKET_SIZE = 0x27,
    MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
    MQTT_PROP_SUB_ID_AVAILABLE = 0x29,
    MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A,
};

/* Where a property block sits: each property is allowed in some of these (spec 2.2.2.2). */
enum mqtt_prop_ctx {
    MQTT_PCTX_CONNECT,
    MQTT_PCTX_CONNACK,
    MQTT_PCTX_PUBLISH,
    MQTT_PCTX_WILL,
    MQTT_PCTX_PUBACK, /* PUBACK, PUBREC, PUBREL, PUBCOMP */
    MQTT_PCTX_SUBSCRIBE,
    MQTT_PCTX_SUBACK,
    MQTT_PCTX_UNSUBSCRIBE,
    MQTT_PCTX_UNSUBACK,
    MQTT_PCTX_DISCONNECT,
    MQTT_PCTX_AUTH,
};

/* Largest Subscription Identifier (a variable byte integer of at most 4 bytes). */
#define MQTT_SUB_ID_MAX 268435455u

struct mqtt_props {
    uint64_t present;    /* bit id set: property id was present at least once */
    uint32_t count;      /* properties in the block, repeats included */
    uint32_t n_user;     /* User Property pairs */
    uint32_t n_sub_ids;  /* Subscription Identifiers */
    struct mqtt_str raw; /* the block without its length, for walking and forwarding */

    uint8_t payload_format;
    uint8_t request_problem_info;
    uint8_t request_response_info;
    uint8_t maximum_qos;
    uint8_t retain_available;
    uint8_t wildcard_available;
    uint8_t sub_id_available;
    uint8_t shared_available;
    uint16_t server_keep_alive;
    uint16_t receive_maximum;
    uint16_t topic_alias_maximum;
    uint16_t topic_alias;
    uint32_t message_expiry;
    uint32_t sub_id; /* the first one */
    uint32_t session_expiry;
    uint32_t will_delay;
    uint32_t maximum_packet_size;
    struct mqtt_str content_type;
    struct mqtt_str response_topic;
    struct mqtt_str correlation_data;
    struct mqtt_str assigned_client_id;
    struct mqtt_str auth_method;
    struct mqtt_str auth_data;
    struct mqtt_str response_info;
    struct mqtt_str server_reference;
    struct mqtt_str reason_string;
};

static inline bool mqtt_props_has(const struct mqtt_props *pr, uint8_t id)
{
    return id < 64 && (pr->present >> id & 1u);
}

/* An empty block (what levels 3 and 4 carry). */
void mqtt_props_clear(struct mqtt_props *pr);

/* Variable byte integer (spec 1.5.5) from p[0..len): minimal form only, at most 4 bytes.
 * Returns bytes used (1..4), 0 when more bytes are needed than len holds, or -1 when it
 * is malformed (a fifth byte, or a longer form than needed). */
int mqtt_varint_decode(const uint8_t *p, size_t len, uint32_t *value);
/* Bytes mqtt_varint_encode() writes for v (1..4), 0 if v > MQTT_MAX_REMAINING. */
size_t mqtt_varint_size(uint32_t v);
size_t mqtt_varint_encode(uint8_t *out, uint32_t v);

/* Decodes the property block p[0..len) (its length already read) found in ctx.
 * from_client: the block is in a packet a client sent (a PUBLISH from a client may not
 * carry a Subscription Identifier; one to a client may carry several). */
int mqtt_props_decode(const uint8_t *p, uint32_t len, enum mqtt_prop_ctx ctx, bool from_client,
                      struct mqtt_props *out);

/* Walks a decoded block in wire order. *off starts at 0. For a string pair (User Property)
 * a and b are name and value; for a string or binary value a holds it; for a number value
 * holds it. Returns false after the last property. */
struct mqtt_prop {
    uint8_t id;
    uint32_t value;
    struct mqtt_str a, b;
    struct mqtt_str wire; /* the whole property, identifier included */
};
bool mqtt_props_next(const struct mqtt_props *pr, uint32_t *off, struct mqtt_prop *out);

/* The name of a property id, or NULL if it is not one. */
const char *mqtt_prop_name(uint8_t id);
/* Whether reason code rc may appear in a packet of type (enum mqtt_type) at level 5. */
bool mqtt_reason_allowed(uint8_t type, uint8_t rc);

/* ---- builder ---- */

struct mqtt_pbuf {
    uint8_t *p;
    size_t len, cap;
    bool failed; /* something did not fit: the block is incomplete and must not be sent */
};

void mqtt_pbuf_init(struct mqtt_pbuf *b, uint8_t *buf, size_t cap);
void mqtt_pbuf_u8(struct mqtt_pbuf *b, uint8_t id, uint8_t v);
void mqtt_pbuf_u16(struct mqtt_pbuf *b, uint8_t id, uint16_t v);
void mqtt_pbuf_u32(struct mqtt_pbuf *b, uint8_t id, uint32_t v);
void mqtt_pbuf_varint(struct mqtt_pbuf *b, uint8_t id, uint32_t v);
/* UTF-8 string or binary data: the same wire shape. */
void mqtt_pbuf_str(struct mqtt_pbuf *b, uint8_t id, const void *s, size_t len);
void mqtt_pbuf_pair(struct mqtt_pbuf *b, uint8_t id, const void *k, size_t klen, const void *v,
                    size_t vlen);
/* Raw bytes already in property form (forwarded properties). */
void mqtt_pbuf_raw(struct mqtt_pbuf *b, const void *p, size_t len);

/* Properties of a PUBLISH that a server forwards unchanged (spec 3.3.2.3): the block minus
 * Topic Alias, Subscription Identifier, Message Expiry Interval (re-sent with the time
 * left) and Will Delay Interval (a will's own), in wire order. Writes them to out (room
 * for at least pr->raw.len bytes) and returns their length. */
size_t mqtt_props_forwardable(const struct mqtt_props *pr, uint8_t *out);

#endif
