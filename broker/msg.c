#include "msg.h"

#include <stdlib.h>
#include <string.h>

struct msg *msg_new(const uint8_t *topic, uint16_t topic_len, const uint8_t *payload,
                    uint32_t payload_len, uint8_t qos, bool retain)
{
    struct msg *m = malloc(sizeof(*m) + (size_t)topic_len + 1 + payload_len);
    if (!m)
        return NULL;
    m->refs = 1;
    m->qos = qos;
    m->retain = retain;
    m->topic_len = topic_len;
    m->payload_len = payload_len;
    m->topic = (char *)(m + 1);
    memcpy(m->topic, topic, topic_len);
    m->topic[topic_len] = '\0';
    m->payload = (uint8_t *)m->topic + topic_len + 1;
    if (payload_len)
        memcpy(m->payload, payload, payload_len);
    return m;
}

struct msg *msg_ref(struct msg *m)
{
    m->refs++;
    return m;
}

void msg_unref(struct msg *m)
{
    if (m && --m->refs == 0)
        free(m);
}

size_t msg_cost(const struct msg *m)
{
    return sizeof(*m) + m->topic_len + 1 + m->payload_len;
}
