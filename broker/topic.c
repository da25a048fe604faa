#include "topic.h"

#include <string.h>

#include "mqtt_codec.h"

/* The wire carries a 16-bit length, so nothing longer can be a topic, and 65535
 * is also the level cap when the configuration sets none. */
#define TOPIC_WIRE_MAX 65535u

const char *topic_check_str(enum topic_check c)
{
    switch (c) {
    case TOPIC_OK:
        return "ok";
    case TOPIC_EMPTY:
        return "empty topic";
    case TOPIC_TOO_LONG:
        return "topic too long";
    case TOPIC_TOO_DEEP:
        return "topic has too many levels";
    case TOPIC_WILDCARD_IN_NAME:
        return "wildcard in topic name";
    case TOPIC_BAD_WILDCARD:
        return "misplaced wildcard in topic filter";
    case TOPIC_BAD_UTF8:
        return "topic is not valid UTF-8";
    }
    return "unknown topic error";
}

static uint32_t effective(uint32_t configured)
{
    return configured == 0 || configured > TOPIC_WIRE_MAX ? TOPIC_WIRE_MAX : configured;
}

/* Checks shared by names and filters. '/', '+' and '#' are ASCII, so the byte-wise
 * structural passes that follow are sound once the string is known to be UTF-8. */
static enum topic_check check_common(const uint8_t *s, size_t len, const struct topic_limits *lim)
{
    if (len == 0) return TOPIC_EMPTY;
    if (len > effective(lim ? lim->max_length : 0)) return TOPIC_TOO_LONG;
    if (!mqtt_utf8_valid(s, len)) return TOPIC_BAD_UTF8;
    return TOPIC_OK;
}

static enum topic_check check_depth(size_t levels, const struct topic_limits *lim)
{
    return levels > effective(lim ? lim->max_levels : 0) ? TOPIC_TOO_DEEP : TOPIC_OK;
}

enum topic_check topic_name_check(const uint8_t *t, size_t len, const struct topic_limits *lim)
{
    enum topic_check c = check_common(t, len, lim);
    if (c != TOPIC_OK) return c;
    size_t levels = 1;
    for (size_t i = 0; i < len; i++) {
        if (t[i] == '+' || t[i] == '#') return TOPIC_WILDCARD_IN_NAME;
        levels += t[i] == '/';
    }
    return check_depth(levels, lim);
}

enum topic_check topic_filter_check(const uint8_t *f, size_t len, const struct topic_limits *lim)
{
    enum topic_check c = check_common(f, len, lim);
    if (c != TOPIC_OK) return c;
    size_t levels = 1;
    for (size_t i = 0; i < len; i++) {
        bool level_start = i == 0 || f[i - 1] == '/';
        bool level_end = i + 1 == len || f[i + 1] == '/';
        if (f[i] == '/') {
            levels++;
        } else if (f[i] == '+') {
            if (!level_start || !level_end) return TOPIC_BAD_WILDCARD;
        } else if (f[i] == '#') {
            if (!level_start || i + 1 != len) return TOPIC_BAD_WILDCARD;
        }
    }
    return check_depth(levels, lim);
}

/* End of the level starting at off: the next '/' or len. */
static size_t level_end(const uint8_t *s, size_t len, size_t off)
{
    const uint8_t *slash = memchr(s + off, '/', len - off);
    return slash ? (size_t)(slash - s) : len;
}

/* Walks both strings level by level. An offset of len + 1 means "all levels consumed",
 * which keeps "a" (one level) apart from "a/" (two levels, the second empty). */
bool topic_match(const uint8_t *f, size_t flen, const uint8_t *t, size_t tlen)
{
    if (flen == 0 || tlen == 0) return false;
    if (t[0] == '$' && (f[0] == '+' || f[0] == '#')) return false;
    size_t fo = 0, to = 0;
    for (;;) {
        if (fo > flen) return to > tlen;
        size_t fe = level_end(f, flen, fo);
        if (fe - fo == 1 && f[fo] == '#')
            return true; /* the parent level and any number below it */
        if (to > tlen) return false;
        size_t te = level_end(t, tlen, to);
        bool plus = fe - fo == 1 && f[fo] == '+';
        if (!plus && (fe - fo != te - to || memcmp(f + fo, t + to, fe - fo) != 0)) return false;
        fo = fe + 1;
        to = te + 1;
    }
}
