#include "json_min.h"

#include <stdio.h>
#include <string.h>

struct parser {
    const uint8_t *p;
    size_t len;
    size_t pos;
    struct json_doc *doc;
    uint32_t next_owner;
    char *err;
    size_t errlen;
};

static int fail(struct parser *ps, const char *what)
{
    if (ps->errlen)
        snprintf(ps->err, ps->errlen, "%s at offset %zu", what, ps->pos);
    return -1;
}

static void skip_ws(struct parser *ps)
{
    while (ps->pos < ps->len) {
        uint8_t c = ps->p[ps->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        ps->pos++;
    }
}

/* Next byte, or -1 at the end. */
static int peek(const struct parser *ps)
{
    return ps->pos < ps->len ? ps->p[ps->pos] : -1;
}

static int emit(struct parser *ps, const uint8_t *b, size_t n)
{
    struct json_doc *d = ps->doc;
    /* Decoded text is never longer than its source, so this only guards the arithmetic. */
    if (n > sizeof(d->arena) - d->arena_used)
        return fail(ps, "document too large");
    memcpy(d->arena + d->arena_used, b, n);
    d->arena_used += n;
    return 0;
}

static int emit_codepoint(struct parser *ps, uint32_t cp)
{
    uint8_t b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xC0 | (cp >> 6));
        b[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xE0 | (cp >> 12));
        b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xF0 | (cp >> 18));
        b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return emit(ps, b, n);
}

static int hex4(struct parser *ps, uint32_t *out)
{
    if (ps->len - ps->pos < 4)
        return fail(ps, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = ps->p[ps->pos + (size_t)i];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = c - (uint32_t)'0';
        else if (c >= 'a' && c <= 'f')
            d = c - (uint32_t)'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - (uint32_t)'A' + 10;
        else
            return fail(ps, "bad hex digit in \\u escape");
        v = v << 4 | d;
    }
    ps->pos += 4;
    *out = v;
    return 0;
}

/* At the byte after a backslash. */
static int parse_escape(struct parser *ps)
{
    if (ps->pos >= ps->len)
        return fail(ps, "unterminated string");
    uint8_t c = ps->p[ps->pos++];
    uint8_t out;
    switch (c) {
    case '"':
        out = '"';
        break;
    case '\\':
        out = '\\';
        break;
    case '/':
        out = '/';
        break;
    case 'b':
        out = '\b';
        break;
    case 'f':
        out = '\f';
        break;
    case 'n':
        out = '\n';
        break;
    case 'r':
        out = '\r';
        break;
    case 't':
        out = '\t';
        break;
    case 'u': {
        uint32_t cp = 0;
        if (hex4(ps, &cp) < 0)
            return -1;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail(ps, "unpaired low surrogate");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (ps->len - ps->pos < 2 || ps->p[ps->pos] != '\\' || ps->p[ps->pos + 1] != 'u')
                return fail(ps, "unpaired high surrogate");
            ps->pos += 2;
            if (hex4(ps, &lo) < 0)
                return -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return fail(ps, "unpaired high surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp == 0)
            return fail(ps, "\\u0000 in string");
        return emit_codepoint(ps, cp);
    }
    default:
        ps->pos--;
        return fail(ps, "unknown escape");
    }
    return emit(ps, &out, 1);
}

/* One UTF-8 sequence starting at a byte >= 0x80 (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). */
static int copy_utf8(struct parser *ps)
{
    const uint8_t *s = ps->p + ps->pos;
    size_t left = ps->len - ps->pos;
    uint8_t c = s[0];
    size_t n;
    uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        return fail(ps, "invalid UTF-8");
    }
    if (left < n)
        return fail(ps, "truncated UTF-8");
    if (s[1] < lo || s[1] > hi)
        return fail(ps, "invalid UTF-8");
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return fail(ps, "invalid UTF-8");
    if (emit(ps, s, n) < 0)
        return -1;
    ps->pos += n;
    return 0;
}

/* At the opening quote. With keep false the decoded text is dropped after checking. */
static int parse_string(struct parser *ps, bool keep, const char **str, size_t *slen)
{
    struct json_doc *d = ps->doc;
    size_t start = d->arena_used;
    ps->pos++;
    for (;;) {
        if (ps->pos >= ps->len)
            return fail(ps, "unterminated string");
        uint8_t c = ps->p[ps->pos];
        int rc;
        if (c == '"') {
            ps->pos++;
            break;
        }
        if (c < 0x20)
            return fail(ps, "control character in string");
        if (c == '\\') {
            ps->pos++;
            rc = parse_escape(ps);
        } else if (c < 0x80) {
            rc = emit(ps, &c, 1);
            ps->pos++;
        } else {
            rc = copy_utf8(ps);
        }
        if (rc < 0)
            return -1;
    }
    const uint8_t nul = 0;
    if (emit(ps, &nul, 1) < 0)
        return -1;
    if (!keep) {
        d->arena_used = start;
        return 0;
    }
    *str = d->arena + start;
    *slen = d->arena_used - start - 1;
    return 0;
}

static int parse_number(struct parser *ps, struct json_value *v)
{
    bool neg = false, is_int = true, overflow = false;
    uint64_t mag = 0;
    if (peek(ps) == '-') {
        neg = true;
        ps->pos++;
    }
    int c = peek(ps);
    if (c == '0') {
        ps->pos++;
        c = peek(ps);
        if (c >= '0' && c <= '9')
            return fail(ps, "leading zero in number");
    } else if (c >= '1' && c <= '9') {
        while ((c = peek(ps)) >= '0' && c <= '9') {
            uint64_t d = (uint64_t)(c - '0');
            if (mag > (UINT64_MAX - d) / 10)
                overflow = true;
            else
                mag = mag * 10 + d;
            ps->pos++;
        }
    } else {
        return fail(ps, "bad number");
    }
    if (peek(ps) == '.') {
        is_int = false;
        ps->pos++;
        if (!((c = peek(ps)) >= '0' && c <= '9'))
            return fail(ps, "digit expected after '.'");
        while ((c = peek(ps)) >= '0' && c <= '9')
            ps->pos++;
    }
    if (peek(ps) == 'e' || peek(ps) == 'E') {
        is_int = false;
        ps->pos++;
        if (peek(ps) == '+' || peek(ps) == '-')
            ps->pos++;
        if (!((c = peek(ps)) >= '0' && c <= '9'))
            return fail(ps, "digit expected in exponent");
        while ((c = peek(ps)) >= '0' && c <= '9')
            ps->pos++;
    }
    v->type = JSON_NUMBER;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    v->is_int = is_int && !overflow && mag <= limit;
    if (v->is_int)
        v->integer = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

static int parse_literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);
    if (ps->len - ps->pos < n || memcmp(ps->p + ps->pos, word, n) != 0)
        return fail(ps, "unexpected character");
    ps->pos += n;
    return 0;
}

static int parse_object(struct parser *ps, int depth, bool top);
static int parse_array(struct parser *ps, int depth, bool record, struct json_value *v);

/* A value inside a container at depth; keep/record: the value is a top-level member (keep
 * its string, record its array's elements) or an element of a top-level array (keep). */
static int parse_value(struct parser *ps, int depth, bool keep, bool record, struct json_value *v)
{
    memset(v, 0, sizeof(*v));
    switch (peek(ps)) {
    case '{':
        if (depth + 1 > JSON_MAX_DEPTH)
            return fail(ps, "nesting too deep");
        v->type = JSON_OBJECT;
        return parse_object(ps, depth + 1, false);
    case '[':
        if (depth + 1 > JSON_MAX_DEPTH)
            return fail(ps, "nesting too deep");
        v->type = JSON_ARRAY;
        return parse_array(ps, depth + 1, record, v);
    case '"':
        v->type = JSON_STRING;
        return parse_string(ps, keep, &v->str, &v->str_len);
    case 't':
        v->type = JSON_BOOL;
        v->boolean = true;
        return parse_literal(ps, "true");
    case 'f':
        v->type = JSON_BOOL;
        return parse_literal(ps, "false");
    case 'n':
        v->type = JSON_NULL;
        return parse_literal(ps, "null");
    case -1:
        return fail(ps, "value expected");
    default:
        if (peek(ps) == '-' || (peek(ps) >= '0' && peek(ps) <= '9'))
            return parse_number(ps, v);
        return fail(ps, "unexpected character");
    }
}

/* At the '['. With record set, the elements go to doc->items. */
static int parse_array(struct parser *ps, int depth, bool record, struct json_value *v)
{
    struct json_doc *d = ps->doc;
    ps->pos++;
    v->first = d->n_items;
    v->count = 0;
    skip_ws(ps);
    if (peek(ps) == ']') {
        ps->pos++;
        return 0;
    }
    for (;;) {
        skip_ws(ps);
        struct json_value tmp;
        if (record) {
            if (d->n_items == JSON_MAX_ITEMS)
                return fail(ps, "too many array elements");
            if (parse_value(ps, depth, true, false, &d->items[d->n_items]) < 0)
                return -1;
            d->n_items++;
            v->count++;
        } else if (parse_value(ps, depth, false, false, &tmp) < 0) {
            return -1;
        }
        skip_ws(ps);
        int c = peek(ps);
        ps->pos++;
        if (c == ']')
            return 0;
        if (c != ',') {
            ps->pos--;
            return fail(ps, "',' or ']' expected");
        }
    }
}

static int add_key(struct parser *ps, uint32_t owner, const char *key, size_t len)
{
    struct json_doc *d = ps->doc;
    for (size_t i = 0; i < d->n_keys; i++)
        if (d->keys[i].owner == owner && d->keys[i].len == len &&
            memcmp(d->keys[i].key, key, len) == 0)
            return fail(ps, "duplicate key");
    if (d->n_keys == JSON_MAX_KEYS)
        return fail(ps, "too many keys");
    d->keys[d->n_keys].key = key;
    d->keys[d->n_keys].len = len;
    d->keys[d->n_keys].owner = owner;
    d->n_keys++;
    return 0;
}

/* At the '{'. The top-level object's members go to doc->members. */
static int parse_object(struct parser *ps, int depth, bool top)
{
    struct json_doc *d = ps->doc;
    uint32_t owner = ps->next_owner++;
    ps->pos++;
    skip_ws(ps);
    if (peek(ps) == '}') {
        ps->pos++;
        return 0;
    }
    for (;;) {
        skip_ws(ps);
        if (peek(ps) != '"')
            return fail(ps, "key expected");
        const char *key = "";
        size_t key_len = 0;
        size_t key_pos = ps->pos;
        if (parse_string(ps, true, &key, &key_len) < 0)
            return -1;
        size_t after_key = ps->pos;
        ps->pos = key_pos;
        if (add_key(ps, owner, key, key_len) < 0)
            return -1;
        ps->pos = after_key;
        skip_ws(ps);
        if (peek(ps) != ':')
            return fail(ps, "':' expected");
        ps->pos++;
        skip_ws(ps);
        struct json_value tmp;
        if (top) {
            struct json_member *m = &d->members[d->n_members];
            if (parse_value(ps, depth, true, true, &m->value) < 0)
                return -1;
            m->key = key;
            m->key_len = key_len;
            d->n_members++;
        } else if (parse_value(ps, depth, false, false, &tmp) < 0) {
            return -1;
        }
        skip_ws(ps);
        int c = peek(ps);
        ps->pos++;
        if (c == '}')
            return 0;
        if (c != ',') {
            ps->pos--;
            return fail(ps, "',' or '}' expected");
        }
    }
}

int json_parse(const uint8_t *in, size_t len, struct json_doc *doc, char *err, size_t errlen)
{
    struct parser ps = {.p = in, .len = len, .doc = doc, .err = err, .errlen = errlen};
    doc->n_members = doc->n_items = doc->n_keys = doc->arena_used = 0;
    if (errlen)
        err[0] = '\0';
    int rc;
    if (len > JSON_MAX_INPUT) {
        rc = fail(&ps, "document larger than 8192 bytes");
    } else {
        skip_ws(&ps);
        if (peek(&ps) != '{')
            rc = fail(&ps, "object expected");
        else
            rc = parse_object(&ps, 1, true);
        skip_ws(&ps);
        if (rc == 0 && ps.pos != len)
            rc = fail(&ps, "trailing data after the object");
    }
    if (rc < 0)
        doc->n_members = doc->n_items = 0;
    return rc;
}

const struct json_member *json_get(const struct json_doc *doc, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < doc->n_members; i++) {
        const struct json_member *m = &doc->members[i];
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            return m;
    }
    return NULL;
}
