/* msg: shared immutable messages (promises in msg.h). */
#include "msg.h"

#include <stdlib.h>
#include <string.h>

#include "mqtt_props.h"

static struct msg *alloc_msg(const uint8_t *topic, uint16_t topic_len, size_t props_room,
                             uint32_t payload_len, uint8_t qos, bool retain)
{
    struct msg *m = malloc(sizeof(*m) + (size_t)topic_len + 1 + props_room + payload_len);
    if (!m)
        return NULL;
    m->refs = 1;
    m->qos = qos;
    m->retain = retain;
    m->topic_len = topic_len;
    m->payload_len = payload_len;
    m->props_len = 0;
    m->expiry_s = 0;
    m->expire_at = 0;
    m->topic = (char *)(m + 1);
    memcpy(m->topic, topic, topic_len);
    m->topic[topic_len] = '\0';
    m->props = (uint8_t *)m->topic + topic_len + 1;
    m->payload = m->props;
    return m;
}

struct msg *msg_new(const uint8_t *topic, uint16_t topic_len, const uint8_t *payload,
                    uint32_t payload_len, uint8_t qos, bool retain)
{
    return msg_new5(topic, topic_len, NULL, payload, payload_len, qos, retain, 0);
}

struct msg *msg_new5(const uint8_t *topic, uint16_t topic_len, const struct mqtt_props *pr,
                     const uint8_t *payload, uint32_t payload_len, uint8_t qos, bool retain,
                     uint64_t now_ms)
{
    /* What is forwarded is never longer than the block it comes from. */
    size_t room = pr ? pr->raw.len : 0;
    struct msg *m = alloc_msg(topic, topic_len, room, payload_len, qos, retain);
    if (!m)
        return NULL;
    if (pr && pr->count) {
        m->props_len = (uint32_t)mqtt_props_forwardable(pr, m->props);
        if (mqtt_props_has(pr, MQTT_PROP_MESSAGE_EXPIRY))
            m->expiry_s = pr->message_expiry;
    }
    m->payload = m->props + m->props_len;
    if (payload_len)
        memcpy(m->payload, payload, payload_len);
    if (now_ms)
        msg_start_expiry(m, now_ms);
    return m;
}

void msg_start_expiry(struct msg *m, uint64_t now_ms)
{
    m->expire_at = m->expiry_s ? now_ms + (uint64_t)m->expiry_s * 1000u : 0;
}

bool msg_expired(const struct msg *m, uint64_t now_ms, uint32_t *left_s)
{
    if (!m->expire_at) {
        *left_s = 0;
        return false;
    }
    if (now_ms >= m->expire_at)
        return true;
    *left_s = (uint32_t)((m->expire_at - now_ms + 999u) / 1000u);
    return false;
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
    return sizeof(*m) + m->topic_len + 1 + m->props_len + m->payload_len;
}
