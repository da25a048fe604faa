/* json_out: builds one line of JSON by hand in a bounded, growable buffer.
 *
 * Promises: json_out_str turns any bytes into a JSON string made only of printable ASCII:
 * '"' and '\' are escaped, control characters and DEL become \b \f \n \r \t or \u00xx,
 * valid UTF-8 beyond ASCII becomes \uxxxx (a surrogate pair above U+FFFF), and each byte
 * that does not start a valid UTF-8 sequence becomes \ufffd. So no value can end a line,
 * close a string, or reach a terminal as a control or bidi character. The buffer never grows
 * past `max` bytes; an append that would is dropped and the writer stays failed until
 * json_out_reset. */
#ifndef BULWARK_JSON_OUT_H
#define BULWARK_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_out {
    char *buf;
    size_t len;
    size_t cap;
    size_t max;
    bool failed;   /* out of room or memory */
    bool overflow; /* failed because the line would pass max */
};

void json_out_init(struct json_out *j, size_t max);
void json_out_free(struct json_out *j);
/* Empties the line, keeps the buffer, clears the failure. */
void json_out_reset(struct json_out *j);
/* Appends bytes as they are (the caller vouches that they are JSON). */
void json_out_raw(struct json_out *j, const char *s, size_t n);
/* Appends s[0..n) as a quoted, escaped JSON string. */
void json_out_str(struct json_out *j, const void *s, size_t n);
void json_out_u64(struct json_out *j, uint64_t v);
static inline bool json_out_ok(const struct json_out *j)
{
    return !j->failed;
}

/* Decodes one UTF-8 sequence at s[0..n), n >= 1: returns its length (1..4) and sets *cp,
 * or 0 when s does not start a valid sequence (overlong, surrogate, above U+10FFFF,
 * truncated, or a stray continuation byte). */
size_t json_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);

#endif
