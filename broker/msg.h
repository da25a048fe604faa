/* msg: an immutable application message shared by reference.
 *
 * Promises: one allocation holds the header, topic, 5.0 properties and payload; the topic
 * is NUL-terminated for convenience (topic_len excludes the NUL) and the properties sit
 * right before the payload, so both go out in one write segment. A message is shared by
 * every subscriber queue, retained store and session that holds it, each holding one
 * reference; the last msg_unref() frees it. Single-threaded (the worker has one loop).
 * The properties kept are those a server forwards unchanged (Payload Format Indicator,
 * Content Type, Response Topic, Correlation Data, User Properties, in their order); the
 * Message Expiry Interval is kept as a deadline so the time left can be sent. */
#ifndef BULWARK_MSG_H
#define BULWARK_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mqtt_props;

struct msg {
    uint32_t refs;
    uint8_t qos; /* QoS it was published with */
    bool retain; /* retain flag it was published with */
    uint16_t topic_len;
    uint32_t payload_len;
    uint32_t props_len; /* forwarded 5.0 properties, in property form */
    uint32_t expiry_s;  /* 5.0 Message Expiry Interval as published (0: none) */
    uint64_t expire_at; /* worker clock (ms) when it expires; 0: never */
    char *topic;        /* points into this allocation */
    uint8_t *props;     /* points into this allocation; payload follows it */
    uint8_t *payload;   /* points into this allocation */
};

/* NULL on allocation failure. */
struct msg *msg_new(const uint8_t *topic, uint16_t topic_len, const uint8_t *payload,
                    uint32_t payload_len, uint8_t qos, bool retain);
/* A 5.0 message: pr (may be NULL) gives the properties to forward and the expiry interval,
 * which starts counting at now_ms (0: the deadline is set later with msg_start_expiry). */
struct msg *msg_new5(const uint8_t *topic, uint16_t topic_len, const struct mqtt_props *pr,
                     const uint8_t *payload, uint32_t payload_len, uint8_t qos, bool retain,
                     uint64_t now_ms);
/* Starts the expiry clock of a message not yet shared (a will, when it is published). */
void msg_start_expiry(struct msg *m, uint64_t now_ms);
/* Whether m has expired at now_ms; *left_s gets the seconds left (rounded up) if not. */
bool msg_expired(const struct msg *m, uint64_t now_ms, uint32_t *left_s);
struct msg *msg_ref(struct msg *m);
void msg_unref(struct msg *m);

/* Bytes the message costs in memory (for queue accounting). */
size_t msg_cost(const struct msg *m);

#endif
