/* pattern: topic patterns and identity globs, checked and split once at load so matching
 * never re-reads the text. */
#include "policy_int.h"

#include <stdio.h>
#include <string.h>

#include "mqtt_codec.h"

static const struct {
    const char *name; /* as written after '%' */
    size_t len;
    enum pol_sub sub;
} SUBS[] = {
    {"c", 1, SUB_CLIENT_ID},
    {"u", 1, SUB_USERNAME},
    {"g", 1, SUB_GROUP},
    {"{client_id}", 11, SUB_CLIENT_ID},
    {"{username}", 10, SUB_USERNAME},
    {"{group}", 7, SUB_GROUP},
    {"{identity}", 10, SUB_IDENTITY},
    {"{cert.cn}", 9, SUB_CERT_CN},
    {"{cert.serial}", 13, SUB_CERT_SERIAL},
    {"{cert.fingerprint}", 18, SUB_CERT_FP},
};

const char *pol_sub_name(enum pol_sub s)
{
    static const char *const names[SUB_COUNT] = {
        [SUB_CLIENT_ID] = "%c",
        [SUB_USERNAME] = "%u",
        [SUB_GROUP] = "%g",
        [SUB_IDENTITY] = "%{identity}",
        [SUB_CERT_CN] = "%{cert.cn}",
        [SUB_CERT_SERIAL] = "%{cert.serial}",
        [SUB_CERT_FP] = "%{cert.fingerprint}",
    };
    return (unsigned)s < SUB_COUNT ? names[s] : "?";
}

static void allowed_list(uint32_t allowed, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int s = 0; s < SUB_COUNT; s++) {
        if (!(allowed & SUB_BIT(s)))
            continue;
        int w = snprintf(buf + off, cap - off, "%s%s", off ? ", " : "", pol_sub_name(s));
        if (w < 0 || (size_t)w >= cap - off)
            break;
        off += (size_t)w;
    }
    if (!off)
        snprintf(buf, cap, "none");
}

/* At s[i] == '%': the escape "%%" (returns 1 with *sub = SUB_COUNT) or a substitution; its
 * length in *used. Returns -1 with a message in why. */
static int read_percent(const char *s, size_t len, size_t i, uint32_t allowed, size_t *used,
                        int *sub, char *why, size_t whylen)
{
    if (i + 1 < len && s[i + 1] == '%') {
        *used = 2;
        *sub = SUB_COUNT;
        return 0;
    }
    for (size_t k = 0; k < sizeof(SUBS) / sizeof(SUBS[0]); k++) {
        if (len - i - 1 < SUBS[k].len || memcmp(s + i + 1, SUBS[k].name, SUBS[k].len) != 0)
            continue;
        char list[160];
        if (!(allowed & SUB_BIT(SUBS[k].sub))) {
            allowed_list(allowed, list, sizeof(list));
            snprintf(why, whylen, "substitution '%%%s' cannot be used here (allowed here: %s)",
                     SUBS[k].name, list);
            return -1;
        }
        *used = 1 + SUBS[k].len;
        *sub = (int)SUBS[k].sub;
        return 0;
    }
    size_t show = 1;
    if (i + 1 < len) {
        show = 2;
        if (s[i + 1] == '{') {
            const char *end = memchr(s + i, '}', len - i);
            show = end ? (size_t)(end - (s + i)) + 1 : len - i;
        }
    }
    if (show > 40)
        show = 40;
    snprintf(why, whylen,
             "unknown substitution '%.*s' (known: %%c, %%u, %%g, %%{client_id}, %%{username}, "
             "%%{group}, %%{identity}, %%{cert.cn}, %%{cert.serial}, %%{cert.fingerprint}; "
             "write %%%% for a literal '%%')",
             (int)show, s + i);
    return -1;
}

/* Splits text into literal, '*' (when star) and substitution pieces. */
static int split_pieces(struct pol_arena *a, const char *s, size_t len, bool star, uint32_t allowed,
                        struct pol_piece **out, uint32_t *count, uint32_t *subs, char *why,
                        size_t whylen)
{
    /* Worst case one piece per byte; pieces are few in practice and the arena is freed
     * with the policy. */
    struct pol_piece *pc = arena_alloc(a, (len + 1) * sizeof(*pc));
    char *lit = arena_alloc(a, len + 1);
    if (!pc || !lit) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    uint32_t n = 0;
    size_t litlen = 0;
    bool in_lit = false;
    for (size_t i = 0; i < len;) {
        int sub = -1;
        size_t used = 1;
        if (s[i] == '%') {
            if (read_percent(s, len, i, allowed, &used, &sub, why, whylen) < 0)
                return -1;
        }
        if (sub == SUB_COUNT || (sub < 0 && !(star && s[i] == '*'))) {
            if (!in_lit) {
                pc[n++] = (struct pol_piece){.kind = PIECE_LIT, .lit = lit + litlen};
                in_lit = true;
            }
            lit[litlen++] = s[i]; /* '%' of "%%", or the byte itself */
            pc[n - 1].len++;
        } else if (sub < 0) {
            if (!n || pc[n - 1].kind != PIECE_STAR)
                pc[n++] = (struct pol_piece){.kind = PIECE_STAR};
            in_lit = false;
        } else {
            pc[n++] = (struct pol_piece){.kind = PIECE_SUB, .sub = (uint8_t)sub};
            *subs |= SUB_BIT(sub);
            in_lit = false;
        }
        i += used;
    }
    *out = pc;
    *count = n;
    return 0;
}

int pol_topic_parse(struct pol_arena *a, const char *s, size_t len, uint32_t allowed_subs,
                    struct pol_topic *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof(*out));
    if (len == 0) {
        snprintf(why, whylen, "empty topic pattern");
        return -1;
    }
    if (len > POL_PATTERN_MAX) {
        snprintf(why, whylen, "topic pattern longer than %u bytes", POL_PATTERN_MAX);
        return -1;
    }
    if (!mqtt_utf8_valid((const uint8_t *)s, len)) {
        snprintf(why, whylen, "topic pattern is not valid UTF-8 or holds a NUL character");
        return -1;
    }
    uint32_t nlevels = 1;
    for (size_t i = 0; i < len; i++)
        nlevels += s[i] == '/';
    if (nlevels > POL_LEVELS_MAX) {
        snprintf(why, whylen, "topic pattern has more than %u levels", POL_LEVELS_MAX);
        return -1;
    }
    out->levels = arena_alloc(a, nlevels * sizeof(*out->levels));
    out->src = arena_strndup(a, s, len);
    if (!out->levels || !out->src) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    size_t off = 0;
    for (uint32_t l = 0; l < nlevels; l++) {
        const char *slash = memchr(s + off, '/', len - off);
        size_t end = slash ? (size_t)(slash - s) : len;
        const char *t = s + off;
        size_t tl = end - off;
        struct pol_level *lv = &out->levels[l];
        bool plus = memchr(t, '+', tl) != NULL, hash = memchr(t, '#', tl) != NULL;
        if (plus && tl != 1) {
            snprintf(why, whylen, "'+' must fill a whole level (level %u is '%.*s')", l + 1,
                     (int)(tl > 40 ? 40 : tl), t);
            return -1;
        }
        if (hash && (tl != 1 || l + 1 != nlevels)) {
            snprintf(why, whylen, "'#' must be the whole last level");
            return -1;
        }
        if (plus) {
            lv->kind = LVL_PLUS;
        } else if (hash) {
            lv->kind = LVL_HASH;
        } else {
            uint32_t subs = 0;
            if (split_pieces(a, t, tl, false, allowed_subs, &lv->pieces, &lv->npieces, &subs, why,
                             whylen) < 0)
                return -1;
            out->subs |= subs;
            if (subs) {
                lv->kind = LVL_SUBST;
            } else {
                lv->kind = LVL_LIT;
                lv->lit = lv->npieces ? lv->pieces[0].lit : "";
                lv->len = lv->npieces ? lv->pieces[0].len : 0;
            }
            lv->dollar = lv->npieces && lv->pieces[0].kind == PIECE_LIT && lv->pieces[0].len &&
                         lv->pieces[0].lit[0] == '$';
        }
        off = end + 1;
    }
    out->nlevels = nlevels;
    return 0;
}

int pol_glob_parse(struct pol_arena *a, const char *s, size_t len, uint32_t allowed_subs,
                   struct pol_glob *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof(*out));
    if (len == 0) {
        snprintf(why, whylen, "empty pattern (use \"*\" for any)");
        return -1;
    }
    if (len > POL_GLOB_MAX) {
        snprintf(why, whylen, "pattern longer than %u bytes", POL_GLOB_MAX);
        return -1;
    }
    if (!mqtt_utf8_valid((const uint8_t *)s, len)) {
        snprintf(why, whylen, "pattern is not valid UTF-8 or holds a NUL character");
        return -1;
    }
    out->src = arena_strndup(a, s, len);
    if (!out->src) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    return split_pieces(a, s, len, true, allowed_subs, &out->pieces, &out->npieces, &out->subs, why,
                        whylen);
}
