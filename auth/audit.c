#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json_out.h"
#include "log.h"

#define FORMAT_NAME "bulwark-audit-1"
#define HEX_LEN (2 * AUDIT_HASH_BYTES)
#define TS_LEN 24 /* 2024-05-01T12:34:56.789Z */
#define HEAD_MAX 128

/* ------------------------------------------------------------------------------------------
 * Line format, shared by the writer and the verifier:
 *   {"ts":"<TS>","seq":<N>,"prev":"<hex>","event":"<name>"(,"<key>":"<string>")*,"h":"<hex>"}
 * The body is every byte before ,"h":" ; h = BLAKE2b-256(key?, prev bytes || body).
 * ---------------------------------------------------------------------------------------- */

static const char P_TS[] = "{\"ts\":\"";
static const char P_SEQ[] = "\",\"seq\":";
static const char P_PREV[] = ",\"prev\":\"";
static const char P_EVENT[] = "\",\"event\":\"";
static const char P_H[] = ",\"h\":\"";

struct parsed_line {
    uint64_t seq;
    uint8_t prev[AUDIT_HASH_BYTES];
    uint8_t h[AUDIT_HASH_BYTES];
    size_t body_len;
    const char *event;
    size_t event_len;
    const char *format, *chain; /* values of those fields (start lines), or NULL */
    size_t format_len, chain_len;
};

static void fmt(char *out, size_t outlen, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *out, size_t outlen, const char *f, ...)
{
    if (!out || !outlen)
        return;
    va_list ap;
    va_start(ap, f);
    vsnprintf(out, outlen, f, ap); /* NOLINT: f is always a literal of this file */
    va_end(ap);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Strict lowercase hex of exactly 2 * n digits. */
static bool parse_hex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static void to_hex(const uint8_t *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0xf];
    }
}

/* A decimal without leading zeros, 1..UINT64_MAX. Advances *p. */
static bool parse_u64(const char *s, size_t n, size_t *p, uint64_t *out)
{
    size_t i = *p;
    uint64_t v = 0;
    if (i >= n || s[i] < '1' || s[i] > '9')
        return false;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        i++;
    }
    *p = i;
    *out = v;
    return true;
}

static bool lit(const char *s, size_t n, size_t *p, const char *l)
{
    size_t ll = strlen(l);
    if (n - *p < ll || memcmp(s + *p, l, ll) != 0)
        return false;
    *p += ll;
    return true;
}

static bool ts_shape(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; i < TS_LEN; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    }
    return true;
}

static bool name_char(char c, bool dot_ok)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (dot_ok && c == '.');
}

/* A name up to the closing quote. Advances *p past the quote. */
static bool parse_name(const char *s, size_t n, size_t *p, bool dot_ok, size_t *len)
{
    size_t i = *p;
    while (i < n && i - *p < AUDIT_NAME_MAX && name_char(s[i], dot_ok))
        i++;
    if (i == *p || i >= n || s[i] != '"')
        return false;
    *len = i - *p;
    *p = i + 1;
    return true;
}

/* A string as json_out writes it, from after the opening quote to after the closing one. */
static bool parse_string(const char *s, size_t n, size_t *p)
{
    size_t i = *p;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            *p = i + 1;
            return true;
        }
        if (c < 0x20 || c > 0x7e)
            return false;
        if (c != '\\') {
            i++;
            continue;
        }
        if (i + 1 >= n)
            return false;
        char e = s[i + 1];
        if (e == 'u') {
            if (n - i < 6)
                return false;
            for (size_t k = 2; k < 6; k++)
                if (hexval(s[i + k]) < 0)
                    return false;
            i += 6;
        } else if (e && strchr("\"\\bfnrt", e)) {
            i += 2;
        } else {
            return false;
        }
    }
    return false;
}

/* Parses one line (without its newline). Returns NULL, or what is wrong with it. */
static const char *parse_line(const char *s, size_t n, struct parsed_line *l)
{
    size_t p = 0;
    *l = (struct parsed_line){0};
    if (!lit(s, n, &p, P_TS))
        return "does not start with {\"ts\":\"";
    if (n - p < TS_LEN || !ts_shape(s + p))
        return "bad ts";
    p += TS_LEN;
    if (!lit(s, n, &p, P_SEQ) || !parse_u64(s, n, &p, &l->seq))
        return "bad seq";
    if (!lit(s, n, &p, P_PREV) || n - p < HEX_LEN || !parse_hex(s + p, l->prev, AUDIT_HASH_BYTES))
        return "bad prev";
    p += HEX_LEN;
    if (!lit(s, n, &p, P_EVENT))
        return "bad event";
    l->event = s + p;
    if (!parse_name(s, n, &p, true, &l->event_len))
        return "bad event";
    for (;;) {
        size_t field_start = p;
        if (!lit(s, n, &p, ",\""))
            return "expected a field or h";
        const char *key = s + p;
        size_t klen;
        if (!parse_name(s, n, &p, false, &klen))
            return "bad field name";
        if (klen == 1 && key[0] == 'h') {
            l->body_len = field_start;
            if (!lit(s, n, &p, ":\"") || n - p < HEX_LEN ||
                !parse_hex(s + p, l->h, AUDIT_HASH_BYTES))
                return "bad h";
            p += HEX_LEN;
            if (!lit(s, n, &p, "\"}") || p != n)
                return "bytes after h";
            return NULL;
        }
        if (!lit(s, n, &p, ":\""))
            return "bad field";
        const char *val = s + p;
        if (!parse_string(s, n, &p))
            return "bad string value";
        size_t vlen = (size_t)(s + p - 1 - val);
        if (klen == 6 && !memcmp(key, "format", 6))
            l->format = val, l->format_len = vlen;
        if (klen == 5 && !memcmp(key, "chain", 5))
            l->chain = val, l->chain_len = vlen;
    }
}

static void line_hash(const uint8_t *key, const uint8_t prev[AUDIT_HASH_BYTES], const char *body,
                      size_t n, uint8_t out[AUDIT_HASH_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, key ? AUDIT_KEY_BYTES : 0, AUDIT_HASH_BYTES);
    crypto_generichash_update(&st, prev, AUDIT_HASH_BYTES);
    crypto_generichash_update(&st, (const unsigned char *)body, n);
    crypto_generichash_final(&st, out, AUDIT_HASH_BYTES);
    sodium_memzero(&st, sizeof(st));
}

static bool span_is(const char *s, size_t n, const char *lit_s)
{
    return s && n == strlen(lit_s) && !memcmp(s, lit_s, n);
}

/* ------------------------------------------------------------------------------------------
 * Head file: {"seq":N,"h":"<hex>"} and a newline, replaced atomically by rename(2).
 * ---------------------------------------------------------------------------------------- */

struct chain_pos {
    uint64_t seq; /* 0: nothing yet */
    uint8_t h[AUDIT_HASH_BYTES];
};

/* Returns 1 (read), 0 (no such file, or empty) or -1 with why. */
static int head_read(const char *path, struct chain_pos *pos, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        fmt(why, whylen, "cannot open: %s", strerror(errno));
        return -1;
    }
    char buf[HEAD_MAX + 1];
    ssize_t got = read(fd, buf, sizeof(buf));
    int e = errno;
    close(fd);
    if (got < 0) {
        fmt(why, whylen, "cannot read: %s", strerror(e));
        return -1;
    }
    size_t n = (size_t)got, p = 0;
    if (n == 0)
        return 0; /* created, never written: a crash right after open */
    if (n > HEAD_MAX || buf[n - 1] != '\n' || !lit(buf, n - 1, &p, "{\"seq\":") ||
        !parse_u64(buf, n - 1, &p, &pos->seq) || !lit(buf, n - 1, &p, ",\"h\":\"") ||
        n - 1 - p < HEX_LEN || !parse_hex(buf + p, pos->h, AUDIT_HASH_BYTES) ||
        (p += HEX_LEN, !lit(buf, n - 1, &p, "\"}")) || p != n - 1) {
        fmt(why, whylen, "not a head file ({\"seq\":N,\"h\":\"HEX\"})");
        return -1;
    }
    return 1;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Writer
 * ---------------------------------------------------------------------------------------- */

struct audit_log {
    int fd;
    char *path, *head_path, *dir;
    int head_fd; /* opened by audit_open: no open(2) per event, for the sandbox */
    off_t head_len;
    uint8_t key[AUDIT_KEY_BYTES];
    bool keyed, head, sync_each;
    bool broken;      /* a short write could not be undone */
    bool head_warned; /* a head failure was logged */
    off_t size;       /* bytes of whole lines in the file */
    struct chain_pos pos;
    struct json_out line;
};

static int fsync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    int rc = fsync(dfd);
    close(dfd);
    return rc;
}

/* Overwrites the head in place: one small pwrite per line (a rename per line costs a flush
 * on ext4). The record never gets shorter, as seq only grows; a stale longer file is cut. */
static int head_write(struct audit_log *a, bool durable)
{
    char buf[HEAD_MAX], hex[HEX_LEN + 1];
    to_hex(a->pos.h, AUDIT_HASH_BYTES, hex);
    hex[HEX_LEN] = '\0';
    int n = snprintf(buf, sizeof(buf), "{\"seq\":%llu,\"h\":\"%s\"}\n",
                     (unsigned long long)a->pos.seq, hex);
    size_t len = (size_t)n;
    ssize_t w;
    do
        w = pwrite(a->head_fd, buf, len, 0);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)len) {
        if (w >= 0)
            errno = EIO;
        return -1;
    }
    if (a->head_len > (off_t)len && ftruncate(a->head_fd, (off_t)len) != 0)
        return -1;
    a->head_len = (off_t)len;
    return durable ? fdatasync(a->head_fd) : 0;
}

static void head_update(struct audit_log *a)
{
    if (a->head_fd < 0)
        return;
    if (head_write(a, a->sync_each) == 0) {
        a->head_warned = false;
    } else if (!a->head_warned) {
        log_warn("audit: cannot update %s: %s (the log itself is written)", a->head_path,
                 strerror(errno));
        a->head_warned = true;
    }
}

static void format_ts(char out[TS_LEN + 1])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long)(ts.tv_nsec / 1000000));
    memcpy(out, tmp, TS_LEN);
    out[TS_LEN] = '\0';
}

/* Builds and writes one line; no checks on the names (callers do them). */
static int emit(struct audit_log *a, const char *event, const struct audit_field *f, size_t n)
{
    if (a->broken) {
        errno = EIO;
        return -1;
    }
    struct json_out *j = &a->line;
    char ts[TS_LEN + 1], hex[HEX_LEN];
    uint8_t h[AUDIT_HASH_BYTES];
    json_out_reset(j);
    format_ts(ts);
    json_out_raw(j, P_TS, strlen(P_TS));
    json_out_raw(j, ts, TS_LEN);
    json_out_raw(j, P_SEQ, strlen(P_SEQ));
    json_out_u64(j, a->pos.seq + 1);
    json_out_raw(j, P_PREV, strlen(P_PREV));
    to_hex(a->pos.h, AUDIT_HASH_BYTES, hex);
    json_out_raw(j, hex, HEX_LEN);
    json_out_raw(j, P_EVENT, strlen(P_EVENT));
    json_out_raw(j, event, strlen(event));
    json_out_raw(j, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        json_out_raw(j, ",\"", 2);
        json_out_raw(j, f[i].key, strlen(f[i].key));
        json_out_raw(j, "\":", 2);
        json_out_str(j, f[i].value ? f[i].value : "", f[i].value ? f[i].value_len : 0);
    }
    size_t body_len = j->len;
    /* Reserve the tail before hashing so a line that cannot end is never half-built. */
    json_out_raw(j, P_H, strlen(P_H));
    json_out_raw(j, hex, HEX_LEN);
    json_out_raw(j, "\"}\n", 3);
    if (!json_out_ok(j)) {
        errno = j->overflow ? EMSGSIZE : ENOMEM;
        return -1;
    }
    line_hash(a->keyed ? a->key : NULL, a->pos.h, j->buf, body_len, h);
    to_hex(h, AUDIT_HASH_BYTES, j->buf + body_len + strlen(P_H));

    /* One write(2) in practice; a short write is continued to learn why it stopped. */
    size_t done = 0;
    while (done < j->len) {
        ssize_t w = write(a->fd, j->buf + done, j->len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            /* A partial line would break the chain for every later line: take it back. */
            if (done > 0 && ftruncate(a->fd, a->size) != 0) {
                a->broken = true;
                log_error("audit: %s has a partial line that cannot be removed: %s; no further "
                          "events are written to it",
                          a->path, strerror(errno));
            }
            errno = e;
            return -1;
        }
        done += (size_t)w;
    }
    a->size += (off_t)j->len;
    a->pos.seq++;
    memcpy(a->pos.h, h, AUDIT_HASH_BYTES);
    if (a->sync_each && fdatasync(a->fd) != 0)
        return -1;
    head_update(a);
    return 0;
}

static bool secret_looking(const char *key)
{
    static const char *const words[] = {"pass", "pwd", "token", "key", "secret", "cred"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(key, words[i]))
            return true;
    return false;
}

static bool valid_name(const char *s, bool dot_ok)
{
    size_t n = strlen(s);
    if (n == 0 || n > AUDIT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i], dot_ok))
            return false;
    return true;
}

static bool valid_key(const char *k)
{
    static const char *const reserved[] = {"ts", "seq", "prev", "event", "h"};
    if (!k || !valid_name(k, false) || secret_looking(k))
        return false;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (!strcmp(k, reserved[i]))
            return false;
    return true;
}

int audit_event(struct audit_log *a, const char *event, const struct audit_field *f, size_t n)
{
    if (!a || !event || !valid_name(event, true) || !strncmp(event, "audit_", 6) ||
        n > AUDIT_FIELDS_MAX || (n && !f)) {
        errno = EINVAL;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!valid_key(f[i].key) || (!f[i].value && f[i].value_len)) {
            errno = EINVAL;
            return -1;
        }
        for (size_t k = 0; k < i; k++) {
            if (!strcmp(f[i].key, f[k].key)) {
                errno = EINVAL;
                return -1;
            }
        }
    }
    return emit(a, event, f, n);
}

int audit_sync(struct audit_log *a)
{
    if (fdatasync(a->fd) != 0)
        return -1;
    if (a->head_fd >= 0 && head_write(a, true) != 0)
        return -1;
    return fsync_dir(a->dir); /* the names of a new log and head */
}

uint64_t audit_last_seq(const struct audit_log *a)
{
    return a->pos.seq;
}

void audit_last_hash(const struct audit_log *a, uint8_t out[AUDIT_HASH_BYTES])
{
    memcpy(out, a->pos.h, AUDIT_HASH_BYTES);
}

static int pread_all(int fd, char *buf, size_t len, off_t off)
{
    while (len) {
        ssize_t r = pread(fd, buf, len, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        buf += r;
        len -= (size_t)r;
        off += r;
    }
    return 0;
}

/* Reads and checks the last line of a non-empty log: whole, JSON-shaped, hash verifies. */
static int read_tail(struct audit_log *a, int fd, off_t size, struct chain_pos *last, char *err,
                     size_t errlen)
{
    size_t want = (uint64_t)size > AUDIT_LINE_MAX + 1u ? AUDIT_LINE_MAX + 1u : (size_t)size;
    char *buf = calloc(1, want);
    if (!buf) {
        fmt(err, errlen, "%s: out of memory", a->path);
        return -1;
    }
    int rc = -1;
    struct parsed_line l;
    const char *why;
    if (pread_all(fd, buf, want, size - (off_t)want) != 0) {
        fmt(err, errlen, "%s: cannot read the last line: %s", a->path, strerror(errno));
        goto out;
    }
    if (buf[want - 1] != '\n') {
        fmt(err, errlen,
            "%s: the last line is truncated (no newline); move the file aside (a new file "
            "continues the chain from %s) and check it with `bulwark audit verify`",
            a->path, a->head_path);
        goto out;
    }
    const char *nl = want > 1 ? memrchr(buf, '\n', want - 1) : NULL;
    if (!nl && (off_t)want < size) {
        fmt(err, errlen, "%s: the last line is longer than %u bytes: not an audit log", a->path,
            AUDIT_LINE_MAX);
        goto out;
    }
    const char *start = nl ? nl + 1 : buf;
    size_t len = (size_t)(buf + want - 1 - start);
    if ((why = parse_line(start, len, &l)) != NULL) {
        fmt(err, errlen, "%s: the last line is not JSON-shaped as written (%s)", a->path, why);
        goto out;
    }
    uint8_t h[AUDIT_HASH_BYTES];
    line_hash(a->keyed ? a->key : NULL, l.prev, start, l.body_len, h);
    if (sodium_memcmp(h, l.h, AUDIT_HASH_BYTES) != 0) {
        fmt(err, errlen,
            "%s: the last line's hash does not verify (the line was changed, or the log was "
            "written with %s); check it with `bulwark audit verify`, or move it aside",
            a->path, a->keyed ? "another key or none" : "a key");
        goto out;
    }
    last->seq = l.seq;
    memcpy(last->h, l.h, AUDIT_HASH_BYTES);
    rc = 0;
out:
    free(buf);
    return rc;
}

/* Takes fd as the log: continues a non-empty file after checking its tail against `known`
 * (a lower bound of the chain's end), or starts a new file continuing `known`. */
static int adopt(struct audit_log *a, int fd, const struct chain_pos *known, char *err,
                 size_t errlen)
{
    struct stat st;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fmt(err, errlen, "%s: %s", a->path,
            errno == EWOULDBLOCK ? "another process is writing this audit log" : strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fmt(err, errlen, "%s: not a regular file", a->path);
        return -1;
    }
    struct chain_pos pos = {0};
    if (st.st_size > 0) {
        if (read_tail(a, fd, st.st_size, &pos, err, errlen) != 0)
            return -1;
        if (known && known->seq > pos.seq) {
            fmt(err, errlen,
                "%s ends at seq %llu but the chain reached seq %llu (%s): lines were deleted "
                "from the end, or this is an older copy; check it with `bulwark audit verify "
                "--head`",
                a->path, (unsigned long long)pos.seq, (unsigned long long)known->seq, a->head_path);
            return -1;
        }
        if (known && known->seq == pos.seq &&
            sodium_memcmp(known->h, pos.h, AUDIT_HASH_BYTES) != 0) {
            fmt(err, errlen, "%s: the last line (seq %llu) differs from %s: the log was rewritten",
                a->path, (unsigned long long)pos.seq, a->head_path);
            return -1;
        }
    } else if (known) {
        pos = *known;
    }
    int old_fd = a->fd;
    struct chain_pos old_pos = a->pos;
    off_t old_size = a->size;
    bool old_broken = a->broken;
    a->fd = fd;
    a->pos = pos;
    a->size = st.st_size;
    a->broken = false; /* a half line left in a rotated-away file stays there */
    char pid[24];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    int rc;
    if (st.st_size > 0) {
        struct audit_field f[] = {{"pid", pid, strlen(pid)}};
        rc = emit(a, "audit_resume", f, 1);
    } else {
        const char *chain = a->keyed ? "keyed" : "plain";
        struct audit_field f[] = {{"format", FORMAT_NAME, strlen(FORMAT_NAME)},
                                  {"chain", chain, strlen(chain)},
                                  {"pid", pid, strlen(pid)}};
        rc = emit(a, "audit_start", f, 3);
    }
    if (rc != 0) {
        fmt(err, errlen, "%s: cannot write: %s", a->path, strerror(errno));
        a->fd = old_fd;
        a->pos = old_pos;
        a->size = old_size;
        a->broken = old_broken;
        return -1;
    }
    return 0;
}

static int open_log_fd(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
    if (fd < 0)
        fmt(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return fd;
}

static char *concat(const char *a, const char *b)
{
    size_t len = strlen(a) + strlen(b) + 1;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s%s", a, b);
    return s;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return concat(".", "");
    if (slash == path)
        return concat("/", "");
    char *d = malloc((size_t)(slash - path) + 1);
    if (d) {
        memcpy(d, path, (size_t)(slash - path));
        d[slash - path] = '\0';
    }
    return d;
}

struct audit_log *audit_open_opts(const char *path, const struct audit_options *o, char *err,
                                  size_t errlen)
{
    static const struct audit_options defaults = {0};
    if (!o)
        o = &defaults;
    if (!path || !*path) {
        fmt(err, errlen, "no audit log path");
        return NULL;
    }
    if (sodium_init() < 0) {
        fmt(err, errlen, "libsodium failed to initialise");
        return NULL;
    }
    struct audit_log *a = calloc(1, sizeof(*a));
    if (!a) {
        fmt(err, errlen, "out of memory");
        return NULL;
    }
    a->fd = -1;
    a->head_fd = -1;
    a->path = concat(path, "");
    a->head_path = concat(path, ".head");
    a->dir = dir_of(path);
    a->keyed = o->key != NULL;
    if (o->key)
        memcpy(a->key, o->key, AUDIT_KEY_BYTES);
    a->head = !o->no_head;
    a->sync_each = o->sync_each;
    json_out_init(&a->line, AUDIT_LINE_MAX);
    if (!a->path || !a->head_path || !a->dir) {
        fmt(err, errlen, "out of memory");
        audit_close(a);
        return NULL;
    }
    struct chain_pos head;
    const struct chain_pos *known = NULL;
    if (a->head) {
        char why[128];
        int hr = head_read(a->head_path, &head, why, sizeof(why));
        if (hr < 0) {
            fmt(err, errlen, "%s: %s; check the log with `bulwark audit verify`, then remove it",
                a->head_path, why);
            audit_close(a);
            return NULL;
        }
        if (hr == 1)
            known = &head;
        struct stat st;
        a->head_fd = open(a->head_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (a->head_fd < 0 || fstat(a->head_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            fmt(err, errlen, "%s: cannot open as a regular file: %s", a->head_path,
                a->head_fd < 0 ? strerror(errno) : "wrong type");
            audit_close(a);
            return NULL;
        }
        a->head_len = st.st_size;
    }
    int fd = open_log_fd(path, err, errlen);
    if (fd < 0 || adopt(a, fd, known, err, errlen) != 0) {
        if (fd >= 0)
            close(fd);
        audit_close(a);
        return NULL;
    }
    if (a->sync_each && fsync_dir(a->dir) != 0)
        log_warn("audit: cannot fsync the directory of %s: %s", a->path, strerror(errno));
    return a;
}

struct audit_log *audit_open(const char *path, char *err, size_t errlen)
{
    return audit_open_opts(path, NULL, err, errlen);
}

int audit_reopen(struct audit_log *a, char *err, size_t errlen)
{
    struct stat cur, now;
    if (fstat(a->fd, &cur) == 0 && lstat(a->path, &now) == 0 && cur.st_dev == now.st_dev &&
        cur.st_ino == now.st_ino)
        return 0;
    int fd = open_log_fd(a->path, err, errlen);
    if (fd < 0)
        return -1;
    int old = a->fd;
    struct chain_pos known = a->pos;
    if (adopt(a, fd, &known, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    close(old);
    return 0;
}

void audit_close(struct audit_log *a)
{
    if (!a)
        return;
    if (a->fd >= 0)
        close(a->fd);
    if (a->head_fd >= 0)
        close(a->head_fd);
    sodium_memzero(a->key, sizeof(a->key));
    json_out_free(&a->line);
    free(a->path);
    free(a->head_path);
    free(a->dir);
    free(a);
}

/* ------------------------------------------------------------------------------------------
 * Keys
 * ---------------------------------------------------------------------------------------- */

int audit_key_load(const char *path, uint8_t key[AUDIT_KEY_BYTES], char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        fmt(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    char buf[HEX_LEN + 2];
    ssize_t n = -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fmt(err, errlen, "%s: not a regular file", path);
    } else if (st.st_mode & 077) {
        fmt(err, errlen, "%s: readable by group or others (mode %03o); chmod 600 it", path,
            (unsigned)(st.st_mode & 0777));
    } else if ((n = read(fd, buf, sizeof(buf))) < 0) {
        fmt(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    }
    close(fd);
    if (n < 0)
        return -1;
    int rc = 0;
    for (ssize_t i = 0; i < n && i < HEX_LEN; i++)
        if (buf[i] >= 'A' && buf[i] <= 'F')
            buf[i] = (char)(buf[i] - 'A' + 'a');
    if (!((n == HEX_LEN) || (n == HEX_LEN + 1 && buf[HEX_LEN] == '\n')) ||
        !parse_hex(buf, key, AUDIT_KEY_BYTES)) {
        fmt(err, errlen, "%s: not an audit key (64 hex digits and a newline)", path);
        sodium_memzero(key, AUDIT_KEY_BYTES);
        rc = -1;
    }
    sodium_memzero(buf, sizeof(buf));
    return rc;
}

int audit_key_generate(const char *path, char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        fmt(err, errlen, "libsodium failed to initialise");
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fmt(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    uint8_t key[AUDIT_KEY_BYTES];
    char hex[HEX_LEN + 1];
    randombytes_buf(key, sizeof(key));
    to_hex(key, sizeof(key), hex);
    hex[HEX_LEN] = '\n';
    int rc = write_all(fd, hex, sizeof(hex)) == 0 && fsync(fd) == 0 ? 0 : -1;
    if (rc != 0)
        fmt(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    close(fd);
    if (rc != 0)
        unlink(path);
    sodium_memzero(key, sizeof(key));
    sodium_memzero(hex, sizeof(hex));
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * Verifier
 * ---------------------------------------------------------------------------------------- */

void audit_verifier_init(struct audit_verifier *v, const uint8_t *key)
{
    /* generichash needs no initialisation; sodium_init only picks faster code paths. */
    int ready = sodium_init();
    (void)ready;
    *v = (struct audit_verifier){0};
    if (key) {
        memcpy(v->key, key, AUDIT_KEY_BYTES);
        v->keyed = true;
    }
}

int audit_verifier_head(struct audit_verifier *v, const char *head_path, char *msg, size_t msglen)
{
    struct chain_pos pos;
    char why[128];
    int hr = head_read(head_path, &pos, why, sizeof(why));
    if (hr <= 0) {
        fmt(msg, msglen, "%s", hr == 0 ? "no such file, or empty: no head recorded" : why);
        return 1;
    }
    v->expect = true;
    v->expect_seen = false;
    v->expect_seq = pos.seq;
    memcpy(v->expect_h, pos.h, AUDIT_HASH_BYTES);
    fmt(v->expect_path, sizeof(v->expect_path), "%s", head_path);
    return 0;
}

/* Reads lines of at most AUDIT_LINE_MAX bytes, newline included. */
struct line_reader {
    int fd;
    char *buf;
    size_t start, end;
    bool eof;
};

/* Returns 1 with a line (complete: it had its newline), 0 at the end, -1 on a read error,
 * -2 for a line too long. */
static int next_line(struct line_reader *r, const char **line, size_t *len, bool *complete)
{
    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl || (r->eof && r->end > r->start)) {
            *line = r->buf + r->start;
            *len = nl ? (size_t)(nl - *line) : r->end - r->start;
            *complete = nl != NULL;
            r->start += *len + (nl ? 1 : 0);
            return 1;
        }
        if (r->eof)
            return 0;
        if (r->start > 0) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        if (r->end == AUDIT_LINE_MAX)
            return -2;
        ssize_t n = read(r->fd, r->buf + r->end, AUDIT_LINE_MAX - r->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            r->eof = true;
        r->end += (size_t)n;
    }
}

static const uint8_t zero_hash[AUDIT_HASH_BYTES];

/* Checks one line against the chain so far. Returns 0, or 1 with msg. */
static int check_line(struct audit_verifier *v, const char *s, size_t len, uint64_t lineno,
                      char *msg, size_t msglen, char *note, size_t notelen)
{
    struct parsed_line l;
    const char *why = parse_line(s, len, &l);
    if (why) {
        fmt(msg, msglen, "line %llu: not JSON-shaped as written (%s)", (unsigned long long)lineno,
            why);
        return 1;
    }
    bool start = span_is(l.event, l.event_len, "audit_start");
    if (lineno == 1 && !start) {
        fmt(msg, msglen,
            "line 1: not a chain start (event \"%.*s\"): lines were deleted from the beginning, "
            "or this is not an audit log",
            (int)l.event_len, l.event);
        return 1;
    }
    if (start) {
        if (!span_is(l.format, l.format_len, FORMAT_NAME)) {
            fmt(msg, msglen, "line %llu: unknown format (expected %s)", (unsigned long long)lineno,
                FORMAT_NAME);
            return 1;
        }
        bool keyed = span_is(l.chain, l.chain_len, "keyed");
        if (!keyed && !span_is(l.chain, l.chain_len, "plain")) {
            fmt(msg, msglen, "line %llu: chain is neither keyed nor plain",
                (unsigned long long)lineno);
            return 1;
        }
        if (keyed != v->keyed) {
            fmt(msg, msglen,
                keyed ? "line %llu: the chain is keyed: verify it with its key"
                      : "line %llu: the chain is not keyed, yet a key was given: was the log "
                        "rewritten without the key?",
                (unsigned long long)lineno);
            return 1;
        }
    }
    uint8_t h[AUDIT_HASH_BYTES];
    line_hash(v->keyed ? v->key : NULL, l.prev, s, l.body_len, h);
    if (sodium_memcmp(h, l.h, AUDIT_HASH_BYTES) != 0) {
        fmt(msg, msglen, "line %llu (seq %llu): hash mismatch: the line was changed%s",
            (unsigned long long)lineno, (unsigned long long)l.seq,
            v->keyed ? ", or forged without the key, or the key is not the log's" : "");
        return 1;
    }
    if (v->started) {
        if (l.seq != v->last_seq + 1) {
            fmt(msg, msglen,
                "line %llu: seq gap: seq %llu follows seq %llu: lines were deleted, inserted or "
                "reordered%s",
                (unsigned long long)lineno, (unsigned long long)l.seq,
                (unsigned long long)v->last_seq,
                lineno == 1 ? " (this file does not continue the previous one)" : "");
            return 1;
        }
        if (sodium_memcmp(l.prev, v->last_h, AUDIT_HASH_BYTES) != 0) {
            fmt(msg, msglen,
                "line %llu (seq %llu): broken prev link: prev is not the hash of the line "
                "before: a line was replaced or inserted%s",
                (unsigned long long)lineno, (unsigned long long)l.seq,
                lineno == 1 ? " (this file does not continue the previous one)" : "");
            return 1;
        }
    } else {
        bool fresh = sodium_memcmp(l.prev, zero_hash, AUDIT_HASH_BYTES) == 0;
        if (fresh && l.seq != 1) {
            fmt(msg, msglen, "line %llu: a new chain starts at seq 1, not %llu",
                (unsigned long long)lineno, (unsigned long long)l.seq);
            return 1;
        }
        if (!fresh)
            fmt(note, notelen,
                "continues a chain up to seq %llu that was not given (pass the older files "
                "first to check the link)",
                (unsigned long long)(l.seq - 1));
        v->first_seq = l.seq;
    }
    if (v->expect && l.seq == v->expect_seq) {
        if (sodium_memcmp(l.h, v->expect_h, AUDIT_HASH_BYTES) != 0) {
            fmt(msg, msglen,
                "line %llu (seq %llu): hash differs from the one in %s: the log was rewritten "
                "from here on, or the head belongs to another log",
                (unsigned long long)lineno, (unsigned long long)l.seq, v->expect_path);
            return 1;
        }
        v->expect_seen = true;
    }
    v->started = true;
    v->last_seq = l.seq;
    memcpy(v->last_h, l.h, AUDIT_HASH_BYTES);
    return 0;
}

int audit_verifier_file(struct audit_verifier *v, const char *path, uint64_t *lines, char *msg,
                        size_t msglen)
{
    uint64_t ok = 0;
    if (msg && msglen)
        msg[0] = '\0';
    if (lines)
        *lines = 0;
    struct line_reader r = {.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)};
    if (r.fd < 0) {
        fmt(msg, msglen, "cannot open: %s", strerror(errno));
        return 1;
    }
    r.buf = calloc(1, AUDIT_LINE_MAX); /* zeroed: analyzers do not model read(2) */
    if (!r.buf) {
        close(r.fd);
        fmt(msg, msglen, "out of memory");
        return 1;
    }
    char note[200] = "";
    int rc = 0;
    for (;;) {
        const char *s;
        size_t len;
        bool complete;
        int got = next_line(&r, &s, &len, &complete);
        if (got == 0)
            break;
        uint64_t lineno = ok + 1;
        if (got == -1) {
            fmt(msg, msglen, "line %llu: read error: %s", (unsigned long long)lineno,
                strerror(errno));
        } else if (got == -2) {
            fmt(msg, msglen, "line %llu: longer than %u bytes: not JSON-shaped as written",
                (unsigned long long)lineno, AUDIT_LINE_MAX);
        } else if (!complete) {
            fmt(msg, msglen, "line %llu: truncated final line (no newline at the end)",
                (unsigned long long)lineno);
        } else if (check_line(v, s, len, lineno, msg, msglen, note, sizeof(note)) == 0) {
            ok++;
            continue;
        }
        rc = 1;
        break;
    }
    if (rc == 0 && ok == 0) {
        fmt(msg, msglen, "line 1: empty file: no chain start");
        rc = 1;
    }
    if (rc == 0)
        fmt(msg, msglen, "%s", note);
    close(r.fd);
    free(r.buf);
    if (lines)
        *lines = ok;
    return rc;
}

int audit_verifier_finish(struct audit_verifier *v, char *msg, size_t msglen)
{
    int rc = 0;
    if (msg && msglen)
        msg[0] = '\0';
    if (v->expect && !v->expect_seen) {
        if (!v->started) {
            fmt(msg, msglen, "%s: no lines were checked against it", v->expect_path);
            rc = 1;
        } else if (v->expect_seq > v->last_seq) {
            fmt(msg, msglen,
                "%s records seq %llu, but the chain ends at seq %llu: lines were deleted from "
                "the end (or the newest file is missing)",
                v->expect_path, (unsigned long long)v->expect_seq, (unsigned long long)v->last_seq);
            rc = 1;
        } else {
            fmt(msg, msglen,
                "%s records seq %llu, before the first line given (seq %llu): not compared",
                v->expect_path, (unsigned long long)v->expect_seq,
                (unsigned long long)v->first_seq);
        }
    }
    sodium_memzero(v->key, sizeof(v->key));
    return rc;
}

int audit_verify_file(const char *path, char *msg, size_t msglen, uint64_t *lines_ok)
{
    struct audit_verifier v;
    audit_verifier_init(&v, NULL);
    int rc = audit_verifier_file(&v, path, lines_ok, msg, msglen);
    char fin[8];
    audit_verifier_finish(&v, fin, sizeof(fin));
    return rc;
}

size_t audit_fds(const struct audit_log *a, int *out, size_t cap)
{
    size_t n = 0;
    if (a && a->fd >= 0 && n < cap)
        out[n++] = a->fd;
    if (a && a->head_fd >= 0 && n < cap)
        out[n++] = a->head_fd;
    return n;
}
