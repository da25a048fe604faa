#include "json_check.h"

struct jc {
    const uint8_t *p;
    const uint8_t *end;
};

static void skip_ws(struct jc *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool lit(struct jc *j, const char *word)
{
    for (; *word; word++, j->p++)
        if (j->p >= j->end || *j->p != (uint8_t)*word)
            return false;
    return true;
}

static int hex4(struct jc *j)
{
    int v = 0;
    for (int i = 0; i < 4; i++, j->p++) {
        if (j->p >= j->end)
            return -1;
        uint8_t c = *j->p;
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* One UTF-8 sequence starting at j->p (first byte >= 0x80). */
static bool utf8_seq(struct jc *j)
{
    uint8_t c = *j->p++;
    int n;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2;
        if (c == 0xE0)
            lo = 0xA0; /* no overlongs */
        if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F; /* <= U+10FFFF */
    } else {
        return false;
    }
    for (int i = 0; i < n; i++, j->p++) {
        if (j->p >= j->end || *j->p < lo || *j->p > hi)
            return false;
        lo = 0x80;
        hi = 0xBF;
    }
    return true;
}

static bool string(struct jc *j)
{
    j->p++; /* opening quote */
    while (j->p < j->end) {
        uint8_t c = *j->p;
        if (c == '"') {
            j->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (++j->p >= j->end)
                return false;
            uint8_t e = *j->p++;
            if (e == 'u') {
                int u = hex4(j);
                if (u < 0)
                    return false;
                if (u >= 0xDC00 && u <= 0xDFFF)
                    return false; /* lone low surrogate */
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (!lit(j, "\\u"))
                        return false;
                    int lo = hex4(j);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return false;
                }
            } else if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' &&
                       e != 'r' && e != 't') {
                return false;
            }
        } else if (c >= 0x80) {
            if (!utf8_seq(j))
                return false;
        } else {
            j->p++;
        }
    }
    return false;
}

static bool digits(struct jc *j)
{
    const uint8_t *start = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > start;
}

static bool number(struct jc *j)
{
    if (*j->p == '-')
        j->p++;
    if (j->p >= j->end)
        return false;
    if (*j->p == '0')
        j->p++;
    else if (!digits(j))
        return false;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!digits(j))
            return false;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!digits(j))
            return false;
    }
    return true;
}

bool json_check(const uint8_t *p, size_t len)
{
    struct jc j = {p, p + len};
    /* stack[d]: 1 inside an object, 0 inside an array. */
    uint8_t stack[JSON_CHECK_MAX_DEPTH];
    int depth = 0;
    /* expect_value: a value must come next; otherwise a ',' or a closing bracket. */
    bool expect_value = true;
    bool first = false; /* just after '[' or '{': a closing bracket may come instead */
    for (;;) {
        skip_ws(&j);
        if (j.p >= j.end)
            return false;
        uint8_t c = *j.p;
        if (expect_value) {
            if ((c == ']' || c == '}') && first) {
                if (depth == 0 || (c == '}') != (stack[depth - 1] == 1))
                    return false;
                j.p++;
                depth--;
                expect_value = false;
                first = false;
            } else if (c == '[' || c == '{') {
                if (depth == JSON_CHECK_MAX_DEPTH)
                    return false;
                stack[depth++] = c == '{';
                j.p++;
                first = true;
                if (c == '{') {
                    skip_ws(&j);
                    if (j.p < j.end && *j.p == '}')
                        continue; /* empty object: handled as a closing bracket above */
                    if (j.p >= j.end || *j.p != '"' || !string(&j))
                        return false;
                    skip_ws(&j);
                    if (j.p >= j.end || *j.p++ != ':')
                        return false;
                    first = false;
                }
                continue;
            } else {
                bool ok = c == '"'                             ? string(&j)
                          : c == '-' || (c >= '0' && c <= '9') ? number(&j)
                          : c == 't'                           ? lit(&j, "true")
                          : c == 'f'                           ? lit(&j, "false")
                          : c == 'n'                           ? lit(&j, "null")
                                                               : false;
                if (!ok)
                    return false;
                expect_value = false;
                first = false;
            }
        } else {
            if (depth == 0)
                return false; /* something after the top-level value */
            if (c == ',') {
                j.p++;
                if (stack[depth - 1]) {
                    skip_ws(&j);
                    if (j.p >= j.end || *j.p != '"' || !string(&j))
                        return false;
                    skip_ws(&j);
                    if (j.p >= j.end || *j.p++ != ':')
                        return false;
                }
                expect_value = true;
                continue;
            }
            if ((c == '}') != (stack[depth - 1] == 1) || (c != '}' && c != ']'))
                return false;
            j.p++;
            depth--;
        }
        if (depth == 0 && !expect_value) {
            skip_ws(&j);
            return j.p == j.end;
        }
    }
}
