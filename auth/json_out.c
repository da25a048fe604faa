#include "json_out.h"

#include <stdlib.h>
#include <string.h>

void json_out_init(struct json_out *j, size_t max)
{
    *j = (struct json_out){.max = max};
}

void json_out_free(struct json_out *j)
{
    free(j->buf);
    *j = (struct json_out){.max = j->max};
}

void json_out_reset(struct json_out *j)
{
    j->len = 0;
    j->failed = j->overflow = false;
}

/* Makes room for n more bytes; false (and failed) when that would pass max. */
static bool reserve(struct json_out *j, size_t n)
{
    if (j->failed)
        return false;
    if (n > j->max - j->len) {
        j->failed = j->overflow = true;
        return false;
    }
    if (j->len + n <= j->cap)
        return true;
    size_t cap = j->cap ? j->cap : (j->max < 256 ? j->max : 256);
    while (cap < j->len + n)
        cap = cap > j->max / 2 ? j->max : cap * 2;
    char *p = realloc(j->buf, cap);
    if (!p) {
        j->failed = true;
        return false;
    }
    j->buf = p;
    j->cap = cap;
    return true;
}

void json_out_raw(struct json_out *j, const char *s, size_t n)
{
    if (!reserve(j, n))
        return;
    memcpy(j->buf + j->len, s, n);
    j->len += n;
}

void json_out_u64(struct json_out *j, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    json_out_raw(j, tmp + i, sizeof(tmp) - i);
}

size_t json_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2, v = c & 0x1fu, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, v = c & 0x0fu, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0; /* continuation byte, C0/C1 (always overlong) or F5..FF */
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

static void put_u16_escape(char *out, uint32_t u)
{
    static const char hex[] = "0123456789abcdef";
    out[0] = '\\';
    out[1] = 'u';
    out[2] = hex[(u >> 12) & 0xf];
    out[3] = hex[(u >> 8) & 0xf];
    out[4] = hex[(u >> 4) & 0xf];
    out[5] = hex[u & 0xf];
}

void json_out_str(struct json_out *j, const void *sv, size_t n)
{
    const uint8_t *s = sv;
    json_out_raw(j, "\"", 1);
    size_t i = 0;
    while (i < n && !j->failed) {
        /* Copy the longest run that needs no escaping in one go. */
        size_t run = i;
        while (run < n && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            json_out_raw(j, (const char *)s + i, run - i);
            i = run;
            continue;
        }
        char esc[12];
        size_t elen = 2;
        uint8_t c = s[i];
        esc[0] = '\\';
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default: {
            uint32_t cp;
            size_t used = json_utf8_decode(s + i, n - i, &cp);
            if (used == 0) {
                cp = 0xfffd;
                used = 1;
            }
            if (cp >= 0x10000) {
                cp -= 0x10000;
                put_u16_escape(esc, 0xd800 + (cp >> 10));
                put_u16_escape(esc + 6, 0xdc00 + (cp & 0x3ff));
                elen = 12;
            } else {
                put_u16_escape(esc, cp);
                elen = 6;
            }
            i += used - 1;
        }
        }
        json_out_raw(j, esc, elen);
        i++;
    }
    json_out_raw(j, "\"", 1);
}
