/* mqtt_base: the vocabulary shared by the MQTT codec and its property module: packet types,
 * decode errors, MQTT 5.0 reason codes and the byte-string view into a decoded buffer. */
#ifndef BULWARK_MQTT_BASE_H
#define BULWARK_MQTT_BASE_H

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
    MQTT_E_TOPIC_ALIAS = -8, /* 5.0: Topic Alias 0 (reason 0x94) */
};

/* MQTT 5.0 reason codes (spec 2.4). */
enum mqtt_rc {
    MQTT_RC_SUCCESS = 0x00, /* also Normal disconnection, Granted QoS 0 */
    MQTT_RC_GRANTED_QOS1 = 0x01,
    MQTT_RC_GRANTED_QOS2 = 0x02,
    MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
    MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    MQTT_RC_CONTINUE_AUTH = 0x18,
    MQTT_RC_REAUTHENTICATE = 0x19,
    MQTT_RC_UNSPECIFIED = 0x80,
    MQTT_RC_MALFORMED = 0x81,
    MQTT_RC_PROTOCOL_ERROR = 0x82,
    MQTT_RC_IMPLEMENTATION_SPECIFIC = 0x83,
    MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION = 0x84,
    MQTT_RC_CLIENT_ID_NOT_VALID = 0x85,
    MQTT_RC_BAD_USERNAME_OR_PASSWORD = 0x86,
    MQTT_RC_NOT_AUTHORIZED = 0x87,
    MQTT_RC_SERVER_UNAVAILABLE = 0x88,
    MQTT_RC_SERVER_BUSY = 0x89,
    MQTT_RC_BANNED = 0x8A,
    MQTT_RC_SERVER_SHUTTING_DOWN = 0x8B,
    MQTT_RC_BAD_AUTH_METHOD = 0x8C,
    MQTT_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
    MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
    MQTT_RC_TOPIC_FILTER_INVALID = 0x8F,
    MQTT_RC_TOPIC_NAME_INVALID = 0x90,
    MQTT_RC_PACKET_ID_IN_USE = 0x91,
    MQTT_RC_PACKET_ID_NOT_FOUND = 0x92,
    MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED = 0x93,
    MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
    MQTT_RC_PACKET_TOO_LARGE = 0x95,
    MQTT_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
    MQTT_RC_QUOTA_EXCEEDED = 0x97,
    MQTT_RC_ADMINISTRATIVE_ACTION = 0x98,
    MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
    MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
    MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
    MQTT_RC_USE_ANOTHER_SERVER = 0x9C,
    MQTT_RC_SERVER_MOVED = 0x9D,
    MQTT_RC_SHARED_SUBS_NOT_SUPPORTED = 0x9E,
    MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
    MQTT_RC_MAXIMUM_CONNECT_TIME = 0xA0,
    MQTT_RC_SUB_IDS_NOT_SUPPORTED = 0xA1,
    MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED = 0xA2,
};

/* Length-delimited byte string pointing into the decoded buffer (not NUL-terminated). */
struct mqtt_str {
    const uint8_t *p;
    uint32_t len;
};

/* Largest value the 4-byte remaining length can carry. */
#define MQTT_MAX_REMAINING 268435455u

#endif
