#include "revlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "readfile.h"

const char *serial_normalize(const char *in, char *out, size_t cap)
{
    if (!in || !out || cap < 2)
        return NULL;
    size_t n = 0;
    bool prev_digit = false, any = false;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == ':') {
            /* only between two digits: "0a:1b" yes, ":0a", "0a:", "0a::1b" no */
            if (!prev_digit || p[1] == '\0' || p[1] == ':')
                return NULL;
            prev_digit = false;
            continue;
        }
        char lower;
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
            lower = c;
        else if (c >= 'A' && c <= 'F')
            lower = (char)(c - 'A' + 'a');
        else
            return NULL;
        prev_digit = any = true;
        if (n == 0 && lower == '0')
            continue; /* leading zero */
        if (n >= REVLIST_SERIAL_MAX_HEX || n + 1 >= cap)
            return NULL;
        out[n++] = lower;
    }
    if (!any)
        return NULL;
    if (n == 0)
        out[n++] = '0';
    out[n] = '\0';
    return out;
}

static int serial_cmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(a, b);
}

static int entry_cmp(const void *a, const void *b)
{
    return serial_cmp(((const struct revlist_entry *)a)->serial,
                      ((const struct revlist_entry *)b)->serial);
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. Rejects overlong forms,
 * surrogates and code points above U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

struct line_ctx {
    const char *name;
    size_t lineno;
    char *err;
    size_t errlen;
};

static int fail(const struct line_ctx *lc, size_t col, const char *msg)
{
    snprintf(lc->err, lc->errlen, "%s:%zu:%zu: %s", lc->name, lc->lineno, col, msg);
    return -1;
}

/* Parses one entry line (no newline, no CR) into e. e->cn is allocated on success. */
static int parse_entry(const struct line_ctx *lc, const char *line, size_t len,
                       struct revlist_entry *e)
{
    const char *tab1 = memchr(line, '\t', len);
    if (!tab1)
        return fail(lc, len + 1, "expected SERIAL<TAB>REVOKED_AT<TAB>CN");
    const char *rest = tab1 + 1;
    size_t rest_len = len - (size_t)(rest - line);
    const char *tab2 = memchr(rest, '\t', rest_len);
    if (!tab2)
        return fail(lc, len + 1, "expected SERIAL<TAB>REVOKED_AT<TAB>CN");

    /* serial */
    size_t slen = (size_t)(tab1 - line);
    char raw[3 * REVLIST_SERIAL_MAX_HEX + 2];
    if (slen == 0)
        return fail(lc, 1, "empty serial");
    if (slen >= sizeof(raw))
        return fail(lc, 1, "serial too long");
    memcpy(raw, line, slen);
    raw[slen] = '\0';
    if (!serial_normalize(raw, e->serial, sizeof(e->serial)))
        return fail(lc, 1,
                    "serial must be hexadecimal (':' allowed between digits), at most "
                    "64 significant digits");
    if (strcmp(e->serial, "0") == 0)
        return fail(lc, 1, "serial 0 is not a certificate serial");

    /* revoked_at: plain decimal, no sign, no spaces */
    size_t tcol = (size_t)(rest - line) + 1;
    size_t tlen = (size_t)(tab2 - rest);
    if (tlen == 0)
        return fail(lc, tcol, "empty revocation time");
    if (tlen > 18)
        return fail(lc, tcol, "revocation time out of range");
    int64_t t = 0;
    for (size_t i = 0; i < tlen; i++) {
        if (rest[i] < '0' || rest[i] > '9')
            return fail(lc, tcol + i, "revocation time must be decimal Unix seconds");
        t = t * 10 + (rest[i] - '0');
    }
    e->revoked_at = t;

    /* cn: everything after the second tab */
    const char *cn = tab2 + 1;
    size_t cnlen = len - (size_t)(cn - line);
    size_t ccol = (size_t)(cn - line) + 1;
    if (cnlen > REVLIST_CN_MAX)
        return fail(lc, ccol, "CN longer than 256 bytes");
    for (size_t i = 0; i < cnlen;) {
        unsigned char c = (unsigned char)cn[i];
        if (c == '\t')
            return fail(lc, ccol + i, "too many fields (a CN cannot hold a tab)");
        if (c < 0x20 || c == 0x7f)
            return fail(lc, ccol + i, "control byte in CN");
        size_t k = utf8_seq((const unsigned char *)cn + i, cnlen - i);
        if (k == 0)
            return fail(lc, ccol + i, "invalid UTF-8 in CN");
        i += k;
    }
    e->cn = malloc(cnlen + 1);
    if (!e->cn)
        return fail(lc, ccol, "out of memory");
    memcpy(e->cn, cn, cnlen);
    e->cn[cnlen] = '\0';
    return 0;
}

static bool blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (line[i] != ' ' && line[i] != '\t')
            return false;
    }
    return true;
}

int revlist_parse(struct revlist *rl, const char *name, const char *text, size_t len, char *err,
                  size_t errlen)
{
    rl->entries = NULL;
    rl->count = 0;
    struct line_ctx lc = {name, 0, err, errlen};
    size_t cap = 0, pos = 0;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3; /* a byte-order mark some editors add */
    while (pos < len) {
        lc.lineno++;
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - line) : len - pos;
        pos += llen + (nl ? 1 : 0);
        const char *nul = memchr(line, '\0', llen);
        if (nul) {
            fail(&lc, (size_t)(nul - line) + 1, "NUL byte");
            goto bad;
        }
        if (llen && line[llen - 1] == '\r')
            llen--;
        if (llen == 0 || line[0] == '#' || blank(line, llen))
            continue;
        if (rl->count == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct revlist_entry *ne = realloc(rl->entries, ncap * sizeof(*ne));
            if (!ne) {
                fail(&lc, 1, "out of memory");
                goto bad;
            }
            rl->entries = ne;
            cap = ncap;
        }
        struct revlist_entry *e = &rl->entries[rl->count];
        if (parse_entry(&lc, line, llen, e) != 0)
            goto bad;
        e->line = lc.lineno;
        rl->count++;
    }
    if (rl->count > 1) {
        qsort(rl->entries, rl->count, sizeof(*rl->entries), entry_cmp);
        for (size_t i = 1; i < rl->count; i++) {
            const struct revlist_entry *a = &rl->entries[i - 1], *b = &rl->entries[i];
            if (serial_cmp(a->serial, b->serial) == 0) {
                size_t first = a->line < b->line ? a->line : b->line;
                size_t again = a->line < b->line ? b->line : a->line;
                snprintf(err, errlen, "%s:%zu:1: duplicate serial %s (first on line %zu)", name,
                         again, a->serial, first);
                goto bad;
            }
        }
    }
    return 0;
bad:
    revlist_free(rl);
    return -1;
}

int revlist_load(struct revlist *rl, const char *path, char *err, size_t errlen)
{
    rl->entries = NULL;
    rl->count = 0;
    size_t len = 0;
    char *text = read_file_bounded(path, REVLIST_MAX_BYTES, &len, err, errlen);
    if (!text)
        return -1;
    int rc = revlist_parse(rl, path, text, len, err, errlen);
    free(text);
    return rc;
}

const struct revlist_entry *revlist_find(const struct revlist *rl, const char *serial_hex)
{
    char want[REVLIST_SERIAL_MAX_HEX + 1];
    if (!rl || !serial_normalize(serial_hex, want, sizeof(want)))
        return NULL;
    size_t lo = 0, hi = rl->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = serial_cmp(rl->entries[mid].serial, want);
        if (c == 0)
            return &rl->entries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool revlist_contains(const struct revlist *rl, const char *serial_hex)
{
    return revlist_find(rl, serial_hex) != NULL;
}

void revlist_free(struct revlist *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < rl->count; i++)
        free(rl->entries[i].cn);
    free(rl->entries);
    rl->entries = NULL;
    rl->count = 0;
}
