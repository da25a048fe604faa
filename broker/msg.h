/* msg: an immutable application message shared by reference.
 *
 * Promises: one allocation holds the header, topic and payload; the topic is
 * NUL-terminated for convenience (topic_len excludes the NUL). A message is shared by
 * every subscriber queue, retained store and session that holds it, each holding one
 * reference; the last msg_unref() frees it. Single-threaded (the worker has one loop). */
#ifndef BULWARK_MSG_H
#define BULWARK_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msg {
    uint32_t refs;
    uint8_t qos; /* QoS it was published with */
    bool retain; /* retain flag it was published with */
    uint16_t topic_len;
    uint32_t payload_len;
    char *topic;      /* points into this allocation */
    uint8_t *payload; /* points into this allocation */
};

/* NULL on allocation failure. */
struct msg *msg_new(const uint8_t *topic, uint16_t topic_len, const uint8_t *payload,
                    uint32_t payload_len, uint8_t qos, bool retain);
struct msg *msg_ref(struct msg *m);
void msg_unref(struct msg *m);

/* Bytes the message costs in memory (for queue accounting). */
size_t msg_cost(const struct msg *m);

#endif
