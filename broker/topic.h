/* topic: MQTT topic names and filters, validation and matching.
 *
 * Promises: pure functions over (pointer, length) byte strings, no allocation.
 * Rules (MQTT 3.1.1 section 4.7): '/' separates levels, empty levels are allowed,
 * '+' matches exactly one level and must fill its level, '#' matches the parent and
 * any number of levels and must be last and fill its level, topic names hold no
 * wildcards, and a filter starting with a wildcard never matches a name starting with '$'.
 * Length and level limits are the caller's, passed in (config limits). */
#ifndef BULWARK_TOPIC_H
#define BULWARK_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct topic_limits {
    uint32_t max_length; /* bytes */
    uint32_t max_levels; /* '/'-separated levels */
};

enum topic_check {
    TOPIC_OK = 0,
    TOPIC_EMPTY = 1,
    TOPIC_TOO_LONG = 2,
    TOPIC_TOO_DEEP = 3,
    TOPIC_WILDCARD_IN_NAME = 4,
    TOPIC_BAD_WILDCARD = 5, /* '+' or '#' not alone in its level, '#' not last */
    TOPIC_BAD_UTF8 = 6,
};

const char *topic_check_str(enum topic_check c);

/* Topic name of a PUBLISH (or a will). Checks UTF-8 too. */
enum topic_check topic_name_check(const uint8_t *t, size_t len, const struct topic_limits *lim);
/* Topic filter of a SUBSCRIBE/UNSUBSCRIBE. Checks UTF-8 too. */
enum topic_check topic_filter_check(const uint8_t *f, size_t len, const struct topic_limits *lim);

/* Does valid filter f match valid topic name t? */
bool topic_match(const uint8_t *f, size_t flen, const uint8_t *t, size_t tlen);

#endif
