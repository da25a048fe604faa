/* json_min: a small, strict, bounded parser for one JSON object (RFC 8259), made for JWT
 * headers and claim sets and nothing bigger.
 *
 * Promises: json_parse reads at most JSON_MAX_INPUT bytes, allocates nothing, recurses at
 * most JSON_MAX_DEPTH levels and accepts only a document that is exactly one object, with
 * optional surrounding whitespace. It refuses: trailing commas, duplicate keys (at any
 * depth), invalid UTF-8, raw control characters, unknown or broken escapes, unpaired
 * surrogates, \u0000 (so every decoded string is also a C string), leading zeros, NaN,
 * Infinity and anything after the object. On success the top-level members (and the
 * scalar elements of top-level arrays) are available decoded; nested values are checked,
 * not kept. On failure err says what was wrong and at which byte offset. */
#ifndef BULWARK_JSON_MIN_H
#define BULWARK_JSON_MIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_INPUT 8192
#define JSON_MAX_DEPTH 8  /* the top-level object is depth 1 */
#define JSON_MAX_KEYS 64  /* object members counted over the whole document */
#define JSON_MAX_ITEMS 32 /* elements of top-level arrays, over the whole document */

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_value {
    enum json_type type;
    bool boolean;    /* JSON_BOOL */
    bool is_int;     /* JSON_NUMBER: no fraction or exponent and within int64_t */
    int64_t integer; /* JSON_NUMBER with is_int */
    const char *str; /* JSON_STRING: decoded UTF-8, NUL-terminated, inside the doc */
    size_t str_len;
    size_t first, count; /* JSON_ARRAY at top level: doc->items[first .. first + count) */
};

struct json_member {
    const char *key; /* decoded, NUL-terminated */
    size_t key_len;
    struct json_value value;
};

/* One parsed document (about 15 KiB). */
struct json_doc {
    size_t n_members;
    struct json_member members[JSON_MAX_KEYS]; /* top level, in input order */
    size_t n_items;
    struct json_value items[JSON_MAX_ITEMS]; /* nested arrays/objects: type only */
    /* internal: every decoded string, and each object key's owner for duplicate checks */
    size_t n_keys;
    struct {
        const char *key;
        size_t len;
        uint32_t owner;
    } keys[JSON_MAX_KEYS];
    size_t arena_used;
    char arena[JSON_MAX_INPUT];
};

/* Parses in[0..len) into doc. Returns 0, or -1 with a message in err (always
 * NUL-terminated when errlen > 0). The single entry point a fuzz harness needs. */
int json_parse(const uint8_t *in, size_t len, struct json_doc *doc, char *err, size_t errlen);

/* The top-level member named key (exact bytes), or NULL. */
const struct json_member *json_get(const struct json_doc *doc, const char *key);

#endif
