#include "ca_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "readfile.h"

#define STATE_MAX_BYTES 4096
#define INDEX_FIELDS 6

static const char INDEX_HEADER[] =
    "# bulwark ca index v1: one line per certificate issued\n"
    "# serial\tkind\tissued_at\tnot_after\trevoked_at\tcn  (Unix seconds; revoked_at 0: not "
    "revoked)\n";
static const char STATE_HEADER[] =
    "# bulwark ca serial state: certificates issued so far and the last serial\n";
static const char REVOKED_HEADER[] =
    "# bulwark revoked certificates, written by `bulwark ca revoke`; read by the auth daemon\n"
    "# SERIALHEX<TAB>REVOKED_AT_UNIX<TAB>CN\n";

const char *ca_rec_kind_name(enum ca_rec_kind k)
{
    return k == CA_REC_SERVER ? "server" : "client";
}

const char *ca_rec_status(const struct ca_record *r, int64_t now)
{
    if (r->revoked_at != 0)
        return "revoked";
    return r->not_after < now ? "expired" : "valid";
}

void ca_iso8601(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) ||
        strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) /* only fails on a tiny cap */
        snprintf(out, cap, "?");
}

int ca_lock(const char *dir, bool exclusive, char *err, size_t errlen)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
        if (errno != EINTR) {
            snprintf(err, errlen, "%s: cannot lock: %s", dir, strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

void ca_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing releases the flock */
}

static int path_join(char *out, size_t cap, const char *dir, const char *name, char *err,
                     size_t errlen)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fsync of the directory holding path, so a new name survives a crash. */
static int sync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n >= sizeof(dir))
        return -1;
    if (slash && n == 0)
        n = 1; /* "/name" */
    if (slash)
        memcpy(dir, path, n);
    else
        dir[n++] = '.';
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int ca_write_new(const char *path, const void *data, size_t len, mode_t mode, char *err,
                 size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path,
                 errno == EEXIST ? "already exists; not overwritten" : strerror(errno));
        return -1;
    }
    /* the umask may have taken bits away from a public file's mode; never adds any */
    if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    if (close(fd) != 0 || sync_parent(path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

int ca_write_atomic(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
                    char *err, size_t errlen)
{
    char path[4096], tmp[4096];
    if (path_join(path, sizeof(path), dir, name, err, errlen) != 0)
        return -1;
    int n = snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 until the fchmod */
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create a temporary file: %s", dir, strerror(errno));
        return -1;
    }
    if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (sync_parent(path) != 0) {
        snprintf(err, errlen, "%s: cannot sync the directory: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* A growing text buffer. */
struct text {
    char *buf;
    size_t len, cap;
    bool oom;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        char *at = t->buf ? t->buf + t->len : NULL;
        size_t room = t->buf ? t->cap - t->len : 0;
        int n = vsnprintf(at, room, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized) */
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if (t->buf && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t ncap = t->cap ? t->cap * 2 : 4096;
        while (ncap - t->len <= (size_t)n)
            ncap *= 2;
        char *nb = realloc(t->buf, ncap);
        if (!nb) {
            t->oom = true;
            return;
        }
        t->buf = nb;
        t->cap = ncap;
    }
}

static bool valid_cn(const char *s, size_t len)
{
    if (len == 0 || len > CA_STORE_CN_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    }
    return true;
}

/* A decimal field of 1..18 digits. */
static bool parse_num(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool parse_serial(const char *s, size_t len, char *out)
{
    char raw[REVLIST_SERIAL_MAX_HEX + 1];
    if (len == 0 || len > REVLIST_SERIAL_MAX_HEX)
        return false;
    memcpy(raw, s, len);
    raw[len] = '\0';
    /* the index holds canonical serials only */
    return serial_normalize(raw, out, REVLIST_SERIAL_MAX_HEX + 1) && strcmp(raw, out) == 0 &&
           strcmp(out, "0") != 0;
}

static int parse_index_line(const char *line, size_t len, struct ca_record *r)
{
    const char *f[INDEX_FIELDS];
    size_t fl[INDEX_FIELDS];
    size_t nf = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || line[i] == '\t') {
            if (nf == INDEX_FIELDS)
                return -1;
            f[nf] = line + start;
            fl[nf++] = i - start;
            start = i + 1;
        }
    }
    if (nf != INDEX_FIELDS || !parse_serial(f[0], fl[0], r->serial))
        return -1;
    if (fl[1] == 6 && memcmp(f[1], "client", 6) == 0)
        r->kind = CA_REC_CLIENT;
    else if (fl[1] == 6 && memcmp(f[1], "server", 6) == 0)
        r->kind = CA_REC_SERVER;
    else
        return -1;
    if (!parse_num(f[2], fl[2], &r->issued_at) || !parse_num(f[3], fl[3], &r->not_after) ||
        !parse_num(f[4], fl[4], &r->revoked_at) || !valid_cn(f[5], fl[5]))
        return -1;
    memcpy(r->cn, f[5], fl[5]);
    r->cn[fl[5]] = '\0';
    return 0;
}

static int load_state(const char *dir, struct ca_index *ix, char *err, size_t errlen)
{
    char path[4096];
    if (path_join(path, sizeof(path), dir, "serial-state", err, errlen) != 0)
        return -1;
    size_t len;
    char *text = read_file_bounded(path, STATE_MAX_BYTES, &len, err, errlen);
    if (!text)
        return -1;
    text[len] = '\0';
    bool have_issued = false, have_last = false;
    int rc = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        int64_t v;
        if (line[0] == '#') {
            continue;
        } else if (!strncmp(line, "issued ", 7) && !have_issued &&
                   parse_num(line + 7, strlen(line + 7), &v)) {
            ix->issued = (uint64_t)v;
            have_issued = true;
        } else if (!strcmp(line, "last -") && !have_last) {
            ix->last[0] = '\0';
            have_last = true;
        } else if (!strncmp(line, "last ", 5) && !have_last &&
                   parse_serial(line + 5, strlen(line + 5), ix->last)) {
            have_last = true;
        } else {
            snprintf(err, errlen, "%s: unexpected line '%.40s'", path, line);
            rc = -1;
        }
    }
    if (rc == 0 && (!have_issued || !have_last)) {
        snprintf(err, errlen, "%s: incomplete (needs 'issued N' and 'last SERIAL')", path);
        rc = -1;
    }
    free(text);
    return rc;
}

int ca_index_add(struct ca_index *ix, const struct ca_record *r, char *err, size_t errlen)
{
    if (ca_index_find(ix, r->serial)) {
        snprintf(err, errlen, "serial %s is already in the index", r->serial);
        return -1;
    }
    if (ix->count == ix->cap) {
        size_t ncap = ix->cap ? ix->cap * 2 : 64;
        struct ca_record **nr = realloc(ix->recs, ncap * sizeof(struct ca_record *));
        if (!nr) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        ix->recs = nr;
        ix->cap = ncap;
    }
    struct ca_record *copy = malloc(sizeof(*copy));
    if (!copy || strmap_put(&ix->by_serial, r->serial, strlen(r->serial), copy) != 0) {
        free(copy);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *copy = *r;
    ix->recs[ix->count++] = copy;
    ix->issued++;
    snprintf(ix->last, sizeof(ix->last), "%s", r->serial);
    return 0;
}

const struct ca_record *ca_index_find(const struct ca_index *ix, const char *serial)
{
    return strmap_get(&ix->by_serial, serial, strlen(serial));
}

void ca_index_init(struct ca_index *ix)
{
    memset(ix, 0, sizeof(*ix));
    strmap_init(&ix->by_serial);
}

int ca_index_load(const char *dir, struct ca_index *ix, char *err, size_t errlen)
{
    ca_index_init(ix);
    if (load_state(dir, ix, err, errlen) != 0)
        return -1;
    /* the entries are counted afresh below and compared with serial-state's view */
    uint64_t issued = ix->issued;
    char last[sizeof(ix->last)];
    memcpy(last, ix->last, sizeof(last));
    ix->issued = 0;
    ix->last[0] = '\0';

    char path[4096];
    if (path_join(path, sizeof(path), dir, "index.tsv", err, errlen) != 0)
        return -1;
    size_t len;
    char *text = read_file_bounded(path, CA_INDEX_MAX_BYTES, &len, err, errlen);
    if (!text)
        return -1;
    size_t pos = 0, lineno = 0;
    int rc = 0;
    while (pos < len && rc == 0) {
        lineno++;
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        if (!nl) {
            snprintf(err, errlen, "%s:%zu: last line has no newline (truncated?)", path, lineno);
            rc = -1;
            break;
        }
        size_t llen = (size_t)(nl - line);
        pos += llen + 1;
        if (llen == 0 || line[0] == '#')
            continue;
        struct ca_record r;
        char aerr[160];
        if (parse_index_line(line, llen, &r) != 0) {
            snprintf(err, errlen, "%s:%zu: malformed entry", path, lineno);
            rc = -1;
        } else if (ca_index_add(ix, &r, aerr, sizeof(aerr)) != 0) {
            snprintf(err, errlen, "%s:%zu: %s", path, lineno, aerr);
            rc = -1;
        }
    }
    free(text);
    if (rc != 0) {
        ca_index_free(ix);
        return -1;
    }
    if (ix->count < issued || (last[0] && !ca_index_find(ix, last))) {
        snprintf(err, errlen,
                 "%s lists %zu certificates but serial-state counts %llu issued (last %s): the "
                 "index was truncated or replaced; restore it from a backup",
                 path, ix->count, (unsigned long long)issued, last[0] ? last : "-");
        ca_index_free(ix);
        return -1;
    }
    /* more entries than counted means a crash between the two writes: the index wins */
    return 0;
}

void ca_index_free(struct ca_index *ix)
{
    for (size_t i = 0; i < ix->count; i++)
        free(ix->recs[i]);
    free(ix->recs);
    strmap_clear(&ix->by_serial);
    ca_index_init(ix);
}

int ca_index_save(const char *dir, const struct ca_index *ix, char *err, size_t errlen)
{
    struct text idx = {0}, state = {0}, rev = {0};
    text_add(&idx, "%s", INDEX_HEADER);
    text_add(&rev, "%s", REVOKED_HEADER);
    for (size_t i = 0; i < ix->count; i++) {
        const struct ca_record *r = ix->recs[i];
        text_add(&idx, "%s\t%s\t%lld\t%lld\t%lld\t%s\n", r->serial, ca_rec_kind_name(r->kind),
                 (long long)r->issued_at, (long long)r->not_after, (long long)r->revoked_at, r->cn);
        if (r->revoked_at != 0)
            text_add(&rev, "%s\t%lld\t%s\n", r->serial, (long long)r->revoked_at, r->cn);
    }
    text_add(&state, "%sissued %llu\nlast %s\n", STATE_HEADER, (unsigned long long)ix->issued,
             ix->last[0] ? ix->last : "-");
    int rc = -1;
    if (idx.oom || state.oom || rev.oom)
        snprintf(err, errlen, "out of memory");
    else if (ca_write_atomic(dir, "index.tsv", idx.buf, idx.len, 0600, err, errlen) == 0 &&
             ca_write_atomic(dir, "serial-state", state.buf, state.len, 0600, err, errlen) == 0 &&
             ca_write_atomic(dir, "revoked", rev.buf, rev.len, 0644, err, errlen) == 0)
        rc = 0;
    free(idx.buf);
    free(state.buf);
    free(rev.buf);
    return rc;
}

int ca_store_init(const char *dir, char *err, size_t errlen)
{
    struct ca_index empty;
    ca_index_init(&empty);
    return ca_index_save(dir, &empty, err, errlen);
}
