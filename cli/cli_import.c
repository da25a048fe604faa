/* cli_import: Mosquitto's password file and acl_file to a bulwark policy. The files are
 * tokenised the way Mosquitto 2.0 does it; the rules are translated one ACL line at a time,
 * and the one precedence bulwark lacks (a user's own allow beats a pattern deny in Mosquitto)
 * is rebuilt by leaving a pattern deny off the users whose own allows cover it. */
#include "cli_import.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mosq_hash.h"
#include "mqtt_codec.h"
#include "policy.h"
#include "strmap.h"
#include "topic.h"

#define INPUT_MAX (16u * 1024u * 1024u) /* bytes in one input file */
#define ENTRIES_MAX 100000u             /* users, ACL lines, rules: a policy section's bound */
#define NAME_MAX_BYTES 127u             /* identity names in a policy */
#define LEVELS_MAX 256u                 /* levels in a policy topic pattern */
#define TOPIC_MAX 65535u
#define MQTT_STRING_MAX 65535u /* a user name Mosquitto keeps */
#define ERRORS_MAX 50u
#define NOTE_MAX 600u
#define LOAD_ERR_MAX 32768u

enum { ACC_DENY = 0, ACC_READ = 1, ACC_WRITE = 2 }; /* Mosquitto's access bits */
#define ANON (-1)       /* owner of the lines before any `user` line: anonymous clients */
#define NO_SECTION (-2) /* a user without a `user` section */

struct user { /* a password file entry */
    char *name, *hash;
    unsigned line;
    bool imported;   /* a "$7$" hash with a name a policy can hold */
    bool dangerous;  /* '+' or '#' in the name: Mosquitto grants it no pattern at all */
    bool level_safe; /* bulwark substitutes it for %u */
    int owner;       /* its `user` section in the ACL file, or NO_SECTION */
};

struct owner { /* a `user` section; repeated sections of one name are merged, as in Mosquitto */
    char *name;
    int user;   /* index in users, -1 if the password file lacks it */
    bool noted; /* its lines were reported as skipped */
};

struct acl {
    unsigned line;
    bool pattern;
    uint8_t access;
    int owner; /* ANON or an index in owners */
    char *topic, *text;
};

struct import {
    const char *pw_path, *acl_path;
    struct user *users;
    size_t nusers, cap_users, nimported;
    struct owner *owners;
    size_t nowners, cap_owners;
    struct strmap user_ix, owner_ix; /* name -> index + 1 */
    struct acl *acls;
    size_t nacls, cap_acls;
    char **notes;
    size_t nnotes, cap_notes;
    unsigned errors;
    bool oom;
    FILE *users_out, *rules_out, *anon_out;
    size_t nrules, nanon;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: bulwark import mosquitto --passwd FILE --acl FILE [-o POLICY]\n"
            "  --passwd  a password file written by mosquitto_passwd (\"$7$\" hashes are kept)\n"
            "  --acl     a Mosquitto acl_file (user, topic and pattern lines)\n"
            "  -o        where to write the policy (default: standard output); created 0600\n"
            "The result is checked with the policy engine before it is written. Where bulwark\n"
            "cannot say exactly what Mosquitto does, the output and stderr carry a note\n"
            "(docs/MIGRATION.md). Exit 0 written, 1 input errors, 2 usage or unreadable files.\n");
}

/* --- bookkeeping ------------------------------------------------------------------------------ */

/* Appends one zeroed element; NULL when out of memory or past ENTRIES_MAX. */
static void *push(void **arr, size_t *n, size_t *cap, size_t size)
{
    if (*n == ENTRIES_MAX)
        return NULL;
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        void *p = realloc(*arr, ncap * size);
        if (!p)
            return NULL;
        *arr = p;
        *cap = ncap;
    }
    char *e = (char *)*arr + (*n)++ * size;
    memset(e, 0, size);
    return e;
}

/* "FILE:LINE: message" with control characters shown as '?': the text quotes the inputs. */
static void format_at(char *msg, size_t cap, const char *file, unsigned line, const char *fmt,
                      va_list ap)
{
    int off = snprintf(msg, cap, "%s:%u: ", file, line);
    if (off > 0 && (size_t)off < cap)
        vsnprintf(msg + off, cap - (size_t)off, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized) */
    for (char *c = msg; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
}

__attribute__((format(printf, 4, 5))) static void error_at(struct import *im, const char *file,
                                                           unsigned line, const char *fmt, ...)
{
    if (im->errors++ >= ERRORS_MAX) {
        if (im->errors == ERRORS_MAX + 1)
            fprintf(stderr, "bulwark import: more errors follow\n");
        return;
    }
    char msg[NOTE_MAX];
    va_list ap;
    va_start(ap, fmt);
    format_at(msg, sizeof(msg), file, line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", msg);
}

/* A place where the policy says less than the input: kept for the output's header. */
__attribute__((format(printf, 4, 5))) static void note_at(struct import *im, const char *file,
                                                          unsigned line, const char *fmt, ...)
{
    char msg[NOTE_MAX];
    va_list ap;
    va_start(ap, fmt);
    format_at(msg, sizeof(msg), file, line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", msg);
    char **slot = push((void **)&im->notes, &im->nnotes, &im->cap_notes, sizeof(char *));
    if (!slot || !(*slot = strdup(msg))) {
        if (slot)
            im->nnotes--;
        im->oom = true;
    }
}

static char *dup_or_flag(struct import *im, const char *s)
{
    char *d = strdup(s);
    if (!d)
        im->oom = true;
    return d;
}

/* --- reading ---------------------------------------------------------------------------------- */

static char *read_input(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "bulwark import: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(INPUT_MAX + 1);
    size_t n = 0;
    while (buf && n <= INPUT_MAX) {
        ssize_t r = read(fd, buf + n, INPUT_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r < 0) {
                fprintf(stderr, "bulwark import: %s: %s\n", path, strerror(errno));
                free(buf);
                buf = NULL;
            }
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    if (!buf)
        return NULL;
    if (n > INPUT_MAX) {
        fprintf(stderr, "bulwark import: %s: larger than %u bytes\n", path, INPUT_MAX);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Splits buf into lines in place (the '\n' becomes NUL). Returns NULL at the end. */
struct lines {
    char *p, *end;
    unsigned no;
};

static char *next_line(struct lines *l, size_t *len)
{
    if (l->p >= l->end)
        return NULL;
    char *s = l->p, *nl = memchr(s, '\n', (size_t)(l->end - s));
    char *e = nl ? nl : l->end;
    *e = '\0';
    l->p = e + 1;
    l->no++;
    *len = (size_t)(e - s);
    return s;
}

static bool space(char c)
{
    return isspace((unsigned char)c) != 0;
}

static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n && space(s[n - 1]))
        s[--n] = '\0';
}

/* Mosquitto's misc__trimblanks: blanks off both ends. */
static char *trim(char *s)
{
    while (space(*s))
        s++;
    rtrim(s);
    return s;
}

/* A line Mosquitto would see whole: no NUL inside (it reads lines as C strings) and UTF-8,
 * as every MQTT string is. */
static bool line_ok(struct import *im, const char *file, unsigned no, const char *s, size_t len)
{
    if (strlen(s) != len) {
        error_at(im, file, no, "a NUL byte in the line");
        return false;
    }
    if (!mqtt_utf8_valid((const uint8_t *)s, len)) {
        error_at(im, file, no, "not valid UTF-8");
        return false;
    }
    return true;
}

/* bulwark's rule for a value substituted as one topic level (policy.h). */
static bool level_safe(const char *s)
{
    if (!*s || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    return strpbrk(s, "/+#$") == NULL;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_BYTES)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* Index + 1 in a name map, 0 when absent. */
static size_t lookup(const struct strmap *m, const char *name)
{
    return (size_t)(uintptr_t)strmap_get(m, name, strlen(name));
}

static bool remember(struct import *im, struct strmap *m, const char *name, size_t index)
{
    if (strmap_put(m, name, strlen(name), (void *)(uintptr_t)(index + 1)) == 0) /* NOLINT */
        return true;
    im->oom = true;
    return false;
}

static void add_user(struct import *im, unsigned no, const char *name, const char *hash)
{
    const char *pw = im->pw_path;
    if (strlen(name) > MQTT_STRING_MAX) {
        note_at(im, pw, no, "user name longer than %u bytes: skipped, as Mosquitto does",
                MQTT_STRING_MAX);
        return;
    }
    if (lookup(&im->user_ix, name)) {
        error_at(im, pw, no, "user '%s' is listed twice (which line Mosquitto uses is not defined)",
                 name);
        return;
    }
    struct user *u = push((void **)&im->users, &im->nusers, &im->cap_users, sizeof(*u));
    if (!u) {
        error_at(im, pw, no, "more than %u users", ENTRIES_MAX);
        return;
    }
    u->name = dup_or_flag(im, name);
    u->hash = dup_or_flag(im, hash);
    if (!u->name || !remember(im, &im->user_ix, u->name, im->nusers - 1))
        return;
    u->line = no;
    u->owner = NO_SECTION;
    u->dangerous = strpbrk(name, "+#") != NULL;
    u->level_safe = level_safe(name);
    enum mosq_hash_kind kind = mosq_hash_kind(hash);
    if (!name_ok(name))
        note_at(im, pw, no,
                "user '%.80s' not imported: a policy name holds 1 to %u bytes and no control "
                "characters",
                name, NAME_MAX_BYTES);
    else if (kind == MOSQ_HASH_SHA512)
        note_at(im, pw, no,
                "user '%s' not imported: its \"$6$\" hash (Mosquitto 1.x SHA-512) cannot go into "
                "a policy; give it a new password with `bulwark passwd` or `mosquitto_passwd`",
                name);
    else if (kind != MOSQ_HASH_PBKDF2_SHA512 &&
             (!strncmp(hash, "$6$", 3) || !strncmp(hash, "$7$", 3)))
        note_at(im, pw, no, "user '%s' not imported: malformed hash (Mosquitto drops it too)",
                name);
    else if (kind != MOSQ_HASH_PBKDF2_SHA512)
        note_at(im, pw, no,
                "user '%s' not imported: not a Mosquitto hash (Mosquitto drops it too; a plain "
                "password file needs `mosquitto_passwd -U` first)",
                name);
    else
        u->imported = true;
    im->nimported += u->imported;
}

/* mosquitto 2.0 pwfile__parse: '#' in the first column comments, lines without ':' are
 * skipped, "name:hash[:ignored]" with blanks trimmed off both. */
static void parse_passwd(struct import *im, char *buf, size_t len)
{
    struct lines l = {.p = buf, .end = buf + len};
    const char *pw = im->pw_path;
    size_t n;
    for (char *s = next_line(&l, &n); s; s = next_line(&l, &n)) {
        if (s[0] == '#')
            continue;
        if (!line_ok(im, pw, l.no, s, n))
            continue;
        if (!strchr(s, ':')) {
            if (*trim(s))
                note_at(im, pw, l.no, "no ':' in the line: skipped, as Mosquitto does");
            continue;
        }
        char *save = NULL, *name = strtok_r(s, ":", &save);
        char *hash = name ? strtok_r(NULL, ":", &save) : NULL;
        char *rest = hash ? strtok_r(NULL, "", &save) : NULL;
        if (name)
            name = trim(name);
        if (hash)
            hash = trim(hash);
        if (!name || !*name || !hash || !*hash) {
            note_at(im, pw, l.no, "a user name or hash is missing: skipped, as Mosquitto does");
            continue;
        }
        if (rest && *trim(rest))
            note_at(im, pw, l.no, "text after the hash's ':' ignored, as Mosquitto does");
        add_user(im, l.no, name, hash);
    }
}

static int owner_of(struct import *im, const char *name)
{
    size_t known = lookup(&im->owner_ix, name);
    if (known)
        return (int)(known - 1);
    struct owner *o = push((void **)&im->owners, &im->nowners, &im->cap_owners, sizeof(*o));
    if (!o)
        return NO_SECTION;
    o->name = dup_or_flag(im, name);
    if (!o->name || !remember(im, &im->owner_ix, o->name, im->nowners - 1))
        return NO_SECTION;
    o->user = (int)lookup(&im->user_ix, name) - 1;
    if (o->user >= 0)
        im->users[o->user].owner = (int)(im->nowners - 1);
    return (int)(im->nowners - 1);
}

static bool topic_ok(struct import *im, unsigned no, const char *topic)
{
    static const struct topic_limits lim = {.max_length = TOPIC_MAX, .max_levels = LEVELS_MAX};
    enum topic_check c = topic_filter_check((const uint8_t *)topic, strlen(topic), &lim);
    if (c == TOPIC_OK)
        return true;
    if (c == TOPIC_TOO_DEEP)
        error_at(im, im->acl_path, no, "topic has more than %u levels (a policy's limit)",
                 LEVELS_MAX);
    else
        error_at(im, im->acl_path, no, "invalid topic '%.80s': %s (Mosquitto refuses it too)",
                 topic, topic_check_str(c));
    return false;
}

static void acl_topic_line(struct import *im, unsigned no, bool pattern, char **save,
                           const char *text, int owner)
{
    const char *acl = im->acl_path;
    char *access_s = strtok_r(NULL, " ", save);
    if (!access_s) {
        error_at(im, acl, no, "'%s' without a topic", pattern ? "pattern" : "topic");
        return;
    }
    char *rest = strtok_r(NULL, "", save);
    char *topic = rest ? trim(rest) : access_s;
    uint8_t access = ACC_READ | ACC_WRITE;
    if (rest) {
        if (!strcmp(access_s, "read"))
            access = ACC_READ;
        else if (!strcmp(access_s, "write"))
            access = ACC_WRITE;
        else if (!strcmp(access_s, "readwrite"))
            access = ACC_READ | ACC_WRITE;
        else if (!strcmp(access_s, "deny"))
            access = ACC_DENY;
        else {
            error_at(im, acl, no, "unknown access '%.40s' (read, write, readwrite or deny)",
                     access_s);
            return;
        }
    } else if (!strcmp(topic, "read") || !strcmp(topic, "write") || !strcmp(topic, "readwrite") ||
               !strcmp(topic, "deny")) {
        note_at(im, acl, no,
                "Mosquitto reads this line as readwrite on the topic '%s' (no topic follows); "
                "imported the same way",
                topic);
    }
    if (!topic_ok(im, no, topic))
        return;
    struct acl *a = push((void **)&im->acls, &im->nacls, &im->cap_acls, sizeof(*a));
    if (!a) {
        error_at(im, acl, no, "more than %u ACL lines", ENTRIES_MAX);
        return;
    }
    *a = (struct acl){.line = no, .pattern = pattern, .access = access, .owner = owner};
    a->topic = dup_or_flag(im, topic);
    a->text = dup_or_flag(im, text);
}

/* mosquitto 2.0 aclfile__parse: trailing blanks trimmed, '#' in the first column comments,
 * tokens split at spaces only (a tab is part of a token). */
static void parse_acl(struct import *im, char *buf, size_t len)
{
    struct lines l = {.p = buf, .end = buf + len};
    const char *acl = im->acl_path;
    int owner = ANON;
    size_t n;
    for (char *s = next_line(&l, &n); s; s = next_line(&l, &n)) {
        if (s[0] == '#')
            continue;
        if (!line_ok(im, acl, l.no, s, n))
            continue;
        rtrim(s);
        char *text = dup_or_flag(im, s);
        if (!text)
            break;
        char *save = NULL, *tok = strtok_r(s, " ", &save);
        if (!tok) {
            free(text);
            continue;
        }
        if (!strcmp(tok, "topic") || !strcmp(tok, "pattern")) {
            acl_topic_line(im, l.no, tok[0] == 'p', &save, text, owner);
        } else if (!strcmp(tok, "user")) {
            char *name = strtok_r(NULL, "", &save);
            if (!name || !*(name = trim(name))) {
                error_at(im, acl, l.no, "'user' without a user name");
            } else if (strlen(name) > MQTT_STRING_MAX) {
                error_at(im, acl, l.no, "user name longer than %u bytes", MQTT_STRING_MAX);
            } else {
                int o = owner_of(im, name);
                if (o == NO_SECTION)
                    error_at(im, acl, l.no, "more than %u user sections", ENTRIES_MAX);
                else
                    owner = o;
            }
        } else {
            error_at(im, acl, l.no,
                     "expected 'user', 'topic', 'pattern' or a '#' comment in the first column "
                     "(Mosquitto refuses this line too)");
        }
        free(text);
    }
}

/* --- what a pattern deny leaves to a client's own allows -------------------------------------- */

enum { L_LIT, L_PLUS, L_HASH, L_ANY };
struct lvl {
    uint8_t kind;
    const char *s;
    size_t len;
};
struct levels {
    struct lvl v[LEVELS_MAX];
    size_t n;
    char *scratch; /* the expanded pattern */
};

/* Levels of a topic line, or of a pattern as Mosquitto expands it for the user name user
 * (NULL: none). A level holding %c, or %u when the name is not one safe level, is L_ANY:
 * any one level. The topic has at most LEVELS_MAX levels (topic_ok). */
static bool split(const char *t, bool pattern, const char *user, struct levels *out)
{
    size_t tlen = strlen(t), ulen = user ? strlen(user) : 0, subs = 0;
    bool use_user = user && level_safe(user);
    out->n = 0;
    out->scratch = NULL;
    for (const char *p = t; pattern && use_user && (p = strstr(p, "%u")); p += 2)
        subs++;
    if (pattern && !(out->scratch = malloc(tlen + subs * ulen + 1)))
        return false;
    char *w = out->scratch;
    for (const char *s = t;;) {
        const char *e = strchr(s, '/');
        if (!e)
            e = t + tlen;
        size_t len = (size_t)(e - s);
        struct lvl *l = &out->v[out->n++];
        *l = (struct lvl){.kind = L_LIT, .s = s, .len = len};
        if (len == 1 && *s == '+') {
            l->kind = L_PLUS;
        } else if (len == 1 && *s == '#') {
            l->kind = L_HASH;
        } else if (pattern) {
            /* Mosquitto's expansion: left to right, "%c" and "%u" replaced, any other '%'
             * kept. */
            char *start = w;
            for (size_t i = 0; i < len; i++) {
                bool sub = s[i] == '%' && i + 1 < len && (s[i + 1] == 'c' || s[i + 1] == 'u');
                if (sub && (s[i + 1] == 'c' || !use_user)) {
                    l->kind = L_ANY;
                } else if (sub) {
                    memcpy(w, user, ulen); /* NOLINT(bugprone-not-null-terminated-result) */
                    w += ulen;
                } else {
                    *w++ = s[i];
                    continue;
                }
                i++;
            }
            l->s = start;
            l->len = (size_t)(w - start);
        }
        if (!*e)
            return true;
        s = e + 1;
    }
}

static bool dollar(const struct lvl *l)
{
    return l->kind == L_LIT && l->len && l->s[0] == '$';
}

static bool lit_equal(const struct lvl *x, const struct lvl *y)
{
    return x->len == y->len && memcmp(x->s, y->s, x->len) == 0;
}

/* Every topic d matches is matched by a (a topic line's filter, no substitutions). A leading
 * wildcard never matches a '$' topic. */
static bool covers(const struct levels *a, const struct levels *d)
{
    for (size_t i = 0;; i++) {
        if (i == a->n)
            return i == d->n;
        const struct lvl *x = &a->v[i];
        if (x->kind == L_HASH)
            return !(i == 0 && dollar(&d->v[0])); /* '#' takes the parent too */
        if (i == d->n)
            return false;
        const struct lvl *y = &d->v[i];
        if (y->kind == L_HASH)
            return false;
        if (x->kind == L_PLUS) {
            if (i == 0 && dollar(y))
                return false;
        } else if (y->kind != L_LIT || !lit_equal(x, y)) {
            return false;
        }
    }
}

/* Some topic matches both. */
static bool overlaps(const struct levels *a, const struct levels *d)
{
    for (size_t i = 0;; i++) {
        bool ae = i == a->n, de = i == d->n;
        if (ae && de)
            return true;
        if (ae)
            return d->v[i].kind == L_HASH;
        if (de)
            return a->v[i].kind == L_HASH;
        const struct lvl *x = &a->v[i], *y = &d->v[i];
        bool xw = x->kind == L_PLUS || x->kind == L_HASH,
             yw = y->kind == L_PLUS || y->kind == L_HASH;
        if (i == 0 && ((dollar(x) && yw) || (dollar(y) && xw)))
            return false;
        if (x->kind == L_HASH || y->kind == L_HASH)
            return true;
        if (x->kind == L_LIT && y->kind == L_LIT && !lit_equal(x, y))
            return false;
    }
}

/* The allow lines of each section, for the precedence check: first[owner + 1] and next[i]
 * chain indexes into acls, SIZE_MAX ends a chain. */
struct allow_index {
    size_t *first, *next;
};

static bool index_allows(const struct import *im, struct allow_index *ix)
{
    ix->first = malloc((im->nowners + 1) * sizeof(size_t));
    ix->next = malloc((im->nacls + 1) * sizeof(size_t));
    if (!ix->first || !ix->next)
        return false;
    for (size_t i = 0; i <= im->nowners; i++)
        ix->first[i] = SIZE_MAX;
    for (size_t i = im->nacls; i-- > 0;) {
        const struct acl *a = &im->acls[i];
        ix->next[i] = SIZE_MAX;
        if (a->pattern || a->access == ACC_DENY)
            continue;
        ix->next[i] = ix->first[a->owner + 1];
        ix->first[a->owner + 1] = i;
    }
    return true;
}

/* How the section's own allows with access acc meet d: 2 one covers it, 1 one overlaps it
 * (its line in *line), 0 neither. */
static int own_allows(const struct import *im, const struct allow_index *ix, int owner, uint8_t acc,
                      const struct levels *d, unsigned *line)
{
    if (owner == NO_SECTION)
        return 0;
    int found = 0;
    struct levels a;
    for (size_t i = ix->first[owner + 1]; i != SIZE_MAX; i = ix->next[i]) {
        const struct acl *l = &im->acls[i];
        if (!(l->access & acc))
            continue;
        split(l->topic, false, NULL, &a);
        if (covers(&a, d))
            return 2;
        if (!found && overlaps(&a, d)) {
            found = 1;
            *line = l->line;
        }
    }
    return found;
}

/* --- writing YAML ------------------------------------------------------------------------------
 */

/* One code point at p: its value and length, or 0 when the bytes are not valid UTF-8 (paths
 * and truncated quotes can hold anything; a NUL is never a continuation byte). */
static size_t utf8_next(const unsigned char *p, unsigned *cp)
{
    size_t n = p[0] < 0x80                   ? 1
               : p[0] >= 0xc2 && p[0] < 0xe0 ? 2
               : p[0] >= 0xe0 && p[0] < 0xf0 ? 3
               : p[0] >= 0xf0 && p[0] < 0xf5 ? 4
                                             : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if (!n || !mqtt_utf8_valid(p, n))
        return 0;
    static const unsigned mask[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    *cp = p[0] & mask[n];
    for (size_t i = 1; i < n; i++)
        *cp = *cp << 6 | (p[i] & 0x3fu);
    return n;
}

/* Controls, and what YAML 1.1 takes for a line break or a byte order mark. */
static bool special(unsigned cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0xfeff;
}

/* A double-quoted scalar: the value comes back byte for byte. */
static void yaml_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned cp = '?';
        size_t n = utf8_next(p, &cp);
        if (!n) {
            fputc('?', f); /* not reached: quoted values come from checked lines */
            p++;
            continue;
        }
        if (cp == '"' || cp == '\\')
            fprintf(f, "\\%c", (char)cp);
        else if (special(cp))
            fprintf(f, "\\u%04x", cp);
        else
            fwrite(p, 1, n, f);
        p += n;
    }
    fputc('"', f);
}

/* Text inside a comment: specials become '?', so the comment cannot end early. */
static void comment_text(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned cp = 0;
        size_t n = utf8_next(p, &cp);
        if (!n || special(cp))
            fputc('?', f), n = n ? n : 1;
        else
            fwrite(p, 1, n, f);
        p += n;
    }
}

/* The topic in policy syntax: '%' is literal except %c and %u of a pattern line. */
static char *policy_topic(struct import *im, const char *t, bool pattern)
{
    size_t n = strlen(t);
    char *out = malloc(2 * n + 1), *w = out;
    if (!out) {
        im->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        *w++ = t[i];
        if (t[i] != '%')
            continue;
        if (pattern && (t[i + 1] == 'c' || t[i + 1] == 'u'))
            *w++ = t[++i];
        else
            *w++ = '%';
    }
    *w = '\0';
    return out;
}

static void source_comment(struct import *im, FILE *f, const char *indent, const struct acl *a)
{
    fprintf(f, "%s# ", indent);
    comment_text(f, im->acl_path);
    fprintf(f, ":%u: ", a->line);
    if (!a->pattern && a->owner != ANON) {
        fprintf(f, "(user ");
        comment_text(f, im->owners[a->owner].name);
        fprintf(f, ") ");
    }
    comment_text(f, a->text);
    fputc('\n', f);
}

/* Whom a rule applies to: anonymous clients, every identity, or the listed users. */
struct who {
    bool anonymous, everyone;
    const size_t *users;
    size_t n;
};

static const char *actions(uint8_t acc)
{
    return acc == (ACC_READ | ACC_WRITE) ? "both" : acc == ACC_READ ? "subscribe" : "publish";
}

/* One rule. acc: the Mosquitto access it grants or, for a deny, the actions it denies. */
static void emit_rule(struct import *im, const struct acl *a, const char *suffix, bool deny,
                      uint8_t acc, const char *topic, const struct who *w)
{
    FILE *f = w->anonymous ? im->anon_out : im->rules_out;
    const char *in = w->anonymous ? "    " : "  ";
    if (im->nrules + im->nanon == ENTRIES_MAX) {
        error_at(im, im->acl_path, a->line, "more than %u rules in the policy", ENTRIES_MAX);
        return;
    }
    *(w->anonymous ? &im->nanon : &im->nrules) += 1;
    fprintf(f, "%s- id: acl-%u%s\n%s  %s: %s\n%s  topics: ", in, a->line, suffix, in,
            deny ? "deny" : "allow", actions(acc), in);
    yaml_str(f, topic);
    fputc('\n', f);
    if (w->anonymous)
        return;
    if (w->everyone) {
        fprintf(f, "%s  everyone: true\n", in);
        return;
    }
    fprintf(f, "%s  identities:", in);
    for (size_t i = 0; i < w->n; i++) {
        fprintf(f, "\n%s    - ", in);
        yaml_str(f, im->users[w->users[i]].name);
    }
    fputc('\n', f);
}

static void note_dollar_publish(struct import *im, const struct acl *a)
{
    if (a->access != ACC_DENY && (a->access & ACC_WRITE) && a->topic[0] == '$')
        note_at(im, im->acl_path, a->line,
                "publishing to a '$' topic: Mosquitto allows it (outside $SYS) when the ACL does; "
                "bulwark's broker refuses client publishes to '$' topics, so this grant may have "
                "no effect");
}

static void emit_users(struct import *im)
{
    FILE *f = im->users_out;
    for (size_t i = 0; i < im->nusers; i++) {
        const struct user *u = &im->users[i];
        fprintf(f, "  # ");
        comment_text(f, im->pw_path);
        fprintf(f, ":%u", u->line);
        if (!u->imported) {
            fprintf(f, ": user '");
            comment_text(f, u->name);
            fprintf(f, "' not imported (see the notes at the top)\n");
            continue;
        }
        if (u->dangerous)
            fprintf(f, ": '+' or '#' in the name: no pattern line applies to it, as in Mosquitto");
        fprintf(f, "\n  - name: ");
        yaml_str(f, u->name);
        fprintf(f, "\n    password: ");
        yaml_str(f, u->hash);
        fputc('\n', f);
    }
}

static void topic_line(struct import *im, const struct acl *a)
{
    bool anon = a->owner == ANON;
    FILE *f = anon ? im->anon_out : im->rules_out;
    source_comment(im, f, anon ? "    " : "  ", a);
    size_t uid = 0;
    if (!anon) {
        struct owner *o = &im->owners[a->owner];
        if (o->user < 0 || !im->users[o->user].imported) {
            fprintf(f, "  # skipped: user not %s\n",
                    o->user < 0 ? "in the password file" : "imported");
            if (o->user < 0 && !o->noted)
                note_at(im, im->acl_path, a->line,
                        "user '%s' is not in the password file (Mosquitto would not let it log "
                        "in): its lines are skipped",
                        o->name);
            o->noted = true;
            return;
        }
        uid = (size_t)o->user;
    }
    note_dollar_publish(im, a);
    char *t = policy_topic(im, a->topic, false);
    if (!t)
        return;
    struct who w = {.anonymous = anon, .users = &uid, .n = 1};
    bool deny = a->access == ACC_DENY;
    emit_rule(im, a, "", deny, deny ? ACC_READ | ACC_WRITE : a->access, t, &w);
    free(t);
}

/* Emits the deny rules of a pattern for one audience: both actions for lists[0], publish only
 * for lists[1], subscribe only for lists[2]. */
static void emit_denies(struct import *im, const struct acl *a, const char *t, bool anonymous,
                        size_t *const lists[3], const size_t counts[3])
{
    static const char *const suffix[2][3] = {
        {"", "-publish", "-subscribe"},
        {"-anonymous", "-anonymous-publish", "-anonymous-subscribe"}};
    static const uint8_t acc[3] = {ACC_READ | ACC_WRITE, ACC_WRITE, ACC_READ};
    for (int k = 0; k < 3; k++) {
        if (!counts[k])
            continue;
        struct who w = {.anonymous = anonymous,
                        .everyone = !anonymous && counts[k] == im->nimported,
                        .users = lists[k],
                        .n = counts[k]};
        emit_rule(im, a, suffix[anonymous][k], true, acc[k], t, &w);
    }
}

/* Does a pattern allow with access acc that reaches user's clients (user NULL: anonymous ones)
 * overlap d? Its line in *line. */
static bool pattern_allows(struct import *im, uint8_t acc, const char *user, const struct levels *d,
                           unsigned *line)
{
    struct levels p;
    for (size_t i = 0; i < im->nacls; i++) {
        const struct acl *l = &im->acls[i];
        if (!l->pattern || !(l->access & acc) || (!user && strstr(l->topic, "%u")))
            continue;
        if (!split(l->topic, true, user, &p)) {
            im->oom = true;
            return true;
        }
        bool hit = overlaps(&p, d);
        free(p.scratch);
        if (hit) {
            *line = l->line;
            return true;
        }
    }
    return false;
}

/* Must pattern deny a still be applied for access acc to the clients of owner (user: their
 * name, NULL for anonymous ones)? In Mosquitto their own allows come first: where those cover
 * the deny, it never applies; where none touches it, it always does; where they overlap it
 * partly, leaving the deny out is still exact unless a pattern allow could grant something
 * in it, and otherwise the deny stays (stricter than Mosquitto) with a note. */
static bool deny_applies(struct import *im, const struct allow_index *ix, const struct acl *a,
                         int owner, const char *user, uint8_t acc, const struct levels *d,
                         const char *who)
{
    unsigned own = 0, pat = 0;
    int r = own_allows(im, ix, owner, acc, d, &own);
    if (r != 1)
        return r == 0;
    if (!pattern_allows(im, acc, user, d, &pat))
        return false;
    note_at(im, im->acl_path, a->line,
            "%s: its own allow at line %u overlaps this pattern deny, and so does the pattern "
            "allow at line %u; Mosquitto lets the own allow win where they overlap, this policy "
            "denies there (%s)",
            who, own, pat, acc == ACC_WRITE ? "publish" : "subscribe");
    return true;
}

/* Which actions of pattern deny a still deny the owner's clients: k = 0 both, 1 publish only,
 * 2 subscribe only, 3 none. */
static int deny_reach(struct import *im, const struct allow_index *ix, const struct acl *a,
                      int owner, const char *user, const char *who)
{
    struct levels d;
    if (!split(a->topic, true, user, &d)) {
        im->oom = true;
        return 0;
    }
    bool pub = deny_applies(im, ix, a, owner, user, ACC_WRITE, &d, who);
    bool sub = deny_applies(im, ix, a, owner, user, ACC_READ, &d, who);
    free(d.scratch);
    return pub ? (sub ? 0 : 1) : (sub ? 2 : 3);
}

static void pattern_line(struct import *im, const struct allow_index *ix, const struct acl *a)
{
    bool has_u = strstr(a->topic, "%u") != NULL, deny = a->access == ACC_DENY;
    char *t = policy_topic(im, a->topic, true);
    size_t *lists[3] = {NULL, NULL, NULL}, counts[3] = {0, 0, 0}, dropped = 0;
    for (int k = 0; k < 3 && t; k++)
        if (!(lists[k] = malloc((im->nusers + 1) * sizeof(size_t))))
            im->oom = true;
    if (!t || im->oom)
        goto out;
    source_comment(im, im->rules_out, "  ", a);
    note_dollar_publish(im, a);
    for (size_t i = 0; i < im->nusers; i++) {
        const struct user *u = &im->users[i];
        if (!u->imported || u->dangerous)
            continue;
        if (has_u && !u->level_safe)
            note_at(im, im->acl_path, a->line,
                    "user '%s': %%u only stands for a name that is one topic level ('/', '+', "
                    "'#' and '$' are not); Mosquitto would expand it",
                    u->name);
        char who[NAME_MAX_BYTES + 16];
        snprintf(who, sizeof(who), "user '%s'", u->name);
        int k = deny ? deny_reach(im, ix, a, u->owner, u->name, who) : 0;
        if (k == 3) {
            fprintf(im->rules_out, "  # left out for user ");
            comment_text(im->rules_out, u->name);
            fprintf(im->rules_out, ": this deny changes nothing for it in Mosquitto (its own "
                                   "allows come first)\n");
            dropped++;
        } else {
            lists[k][counts[k]++] = i;
        }
    }
    if (deny)
        emit_denies(im, a, t, false, lists, counts);
    else if (counts[0])
        emit_rule(im, a, "", false, a->access, t,
                  &(struct who){
                      .everyone = counts[0] == im->nimported, .users = lists[0], .n = counts[0]});
    if (!counts[0] && !counts[1] && !counts[2] && !dropped)
        fprintf(im->rules_out, "  # no imported user gets this pattern\n");

    /* Anonymous clients: Mosquitto skips %u patterns for them (they have no user name). */
    source_comment(im, im->anon_out, "    ", a);
    if (has_u) {
        fprintf(im->anon_out, "    # not for anonymous clients: Mosquitto skips %%u patterns "
                              "for clients without a user name\n");
        goto out;
    }
    int k = deny ? deny_reach(im, ix, a, ANON, NULL, "anonymous clients") : 0;
    if (k == 3) {
        fprintf(im->anon_out, "    # left out: this deny changes nothing for anonymous clients in "
                              "Mosquitto (their own allows come first)\n");
        goto out;
    }
    size_t none[3] = {0, 0, 0};
    none[k] = 1;
    if (deny)
        emit_denies(im, a, t, true, lists, none);
    else
        emit_rule(im, a, "-anonymous", false, a->access, t, &(struct who){.anonymous = true});
out:
    for (int k2 = 0; k2 < 3; k2++)
        free(lists[k2]);
    free(t);
}

/* --- the whole file ----------------------------------------------------------------------------
 */

static void header(const struct import *im, FILE *f)
{
    fprintf(f, "# bulwark access policy imported from Mosquitto by `bulwark import mosquitto`.\n"
               "#   password file: ");
    comment_text(f, im->pw_path);
    fprintf(f, "\n#   acl_file:      ");
    comment_text(f, im->acl_path);
    fprintf(f,
            "\n# Check it: bulwark policy check FILE. Each rule is named after its ACL line.\n"
            "#\n"
            "# The mapping (docs/MIGRATION.md): read -> subscribe (and so receive), write ->\n"
            "# publish, readwrite -> both, deny -> deny both. `user` sections become rules for\n"
            "# that identity; the lines before the first `user` line, and every pattern line\n"
            "# without %%u, make up the anonymous section (whether anonymous clients may connect\n"
            "# is bulwark.yaml's allow_anonymous); pattern lines apply to every user. Here a\n"
            "# deny beats every allow; in Mosquitto a user's own allow beats a pattern deny, so\n"
            "# a pattern deny leaves out the users whose own allows cover it.\n"
            "#\n"
            "# Always different from Mosquitto: a subscription is checked as a whole filter when\n"
            "# it is made (Mosquitto accepts it and checks each message on delivery), so a\n"
            "# wildcard subscription that reaches past the allowed topics or into a denied one is\n"
            "# refused instead of delivering the allowed part; %%c and %%u stand for one whole\n"
            "# topic level only: a client id or user name holding '/', '+', '#' or '$' gets\n"
            "# nothing from them (Mosquitto expands '/' into several levels).\n");
    if (im->nnotes) {
        fprintf(f, "#\n# Notes on this input (%zu):\n", im->nnotes);
        for (size_t i = 0; i < im->nnotes; i++) {
            fprintf(f, "#   - ");
            comment_text(f, im->notes[i]);
            fputc('\n', f);
        }
    }
    fprintf(f, "\nversion: 1\n");
}

struct buf {
    char *p;
    size_t n;
};

static void assemble(const struct import *im, FILE *f, const struct buf *users,
                     const struct buf *rules, const struct buf *anon)
{
    header(im, f);
    fprintf(f, "\nusers:%s\n", im->nusers ? "" : " []");
    fwrite(users->p, 1, users->n, f);
    fprintf(f, "\nrules:%s\n", im->nrules ? "" : " []");
    if (im->nrules)
        fwrite(rules->p, 1, rules->n, f);
    if (im->nanon) {
        fprintf(f, "\nanonymous:\n  rules:\n");
        fwrite(anon->p, 1, anon->n, f);
    }
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Writes text next to out (or in /tmp for stdout), loads it with the policy engine and only
 * then renames it into place (or prints it). */
static int write_checked(const char *out, const char *text, size_t len)
{
    char tmp[4096];
    const char *slash = out ? strrchr(out, '/') : NULL;
    const char *dir = !out ? "/tmp" : slash ? out : ".";
    int dl = !out ? 4 : slash ? (int)(slash - out) : 1;
    if (snprintf(tmp, sizeof(tmp), "%.*s/.bulwark-import-XXXXXX", dl, dir) >= (int)sizeof(tmp)) {
        fprintf(stderr, "bulwark import: %s: path too long\n", out);
        return 2;
    }
    int fd = mkstemp(tmp); /* 0600 */
    if (fd < 0) {
        fprintf(stderr, "bulwark import: cannot create %s: %s\n", tmp, strerror(errno));
        return 2;
    }
    bool ok = write_all(fd, text, len) && fsync(fd) == 0;
    int err = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        fprintf(stderr, "bulwark import: cannot write %s: %s\n", tmp, strerror(err));
        unlink(tmp);
        return 2;
    }
    char *msg = malloc(LOAD_ERR_MAX);
    struct policy *p = msg ? policy_load(tmp, msg, LOAD_ERR_MAX) : NULL;
    if (!p) {
        fprintf(stderr,
                "bulwark import: the policy engine refuses the result (a bug in the importer, or "
                "an input bulwark cannot express); nothing written:\n%s\n",
                msg ? msg : "out of memory");
        free(msg);
        unlink(tmp);
        return 1;
    }
    policy_free(p);
    free(msg);
    int rc = 0;
    if (!out) {
        if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)
            rc = 2;
        unlink(tmp);
    } else if (rename(tmp, out) != 0) {
        fprintf(stderr, "bulwark import: cannot replace %s: %s\n", out, strerror(errno));
        unlink(tmp);
        rc = 2;
    }
    return rc;
}

static int generate(struct import *im, const char *out)
{
    struct buf users = {0}, rules = {0}, anon = {0}, all = {0};
    struct allow_index ix = {0};
    int rc = 1;
    im->users_out = open_memstream(&users.p, &users.n);
    im->rules_out = open_memstream(&rules.p, &rules.n);
    im->anon_out = open_memstream(&anon.p, &anon.n);
    if (!im->users_out || !im->rules_out || !im->anon_out || !index_allows(im, &ix)) {
        im->oom = true;
    } else {
        emit_users(im);
        for (size_t i = 0; i < im->nacls && !im->oom; i++) {
            if (im->acls[i].pattern)
                pattern_line(im, &ix, &im->acls[i]);
            else
                topic_line(im, &im->acls[i]);
        }
    }
    FILE **streams[3] = {&im->users_out, &im->rules_out, &im->anon_out};
    for (int i = 0; i < 3; i++)
        if (*streams[i] && fclose(*streams[i]) != 0)
            im->oom = true;
    FILE *f = im->oom || im->errors ? NULL : open_memstream(&all.p, &all.n);
    if (f) {
        assemble(im, f, &users, &rules, &anon);
        if (fclose(f) != 0)
            im->oom = true;
    }
    if (im->oom)
        fprintf(stderr, "bulwark import: out of memory\n");
    else if (im->errors)
        fprintf(stderr, "bulwark import: %u error%s; nothing written\n", im->errors,
                im->errors == 1 ? "" : "s");
    else if ((rc = write_checked(out, all.p, all.n)) == 0)
        fprintf(stderr,
                "bulwark import: %s: %zu users, %zu rules, %zu anonymous rules, %zu notes\n",
                out ? out : "(stdout)", im->nimported, im->nrules, im->nanon, im->nnotes);
    free(users.p);
    free(rules.p);
    free(anon.p);
    free(all.p);
    free(ix.first);
    free(ix.next);
    return rc;
}

static void release(struct import *im)
{
    for (size_t i = 0; i < im->nusers; i++) {
        free(im->users[i].name);
        free(im->users[i].hash);
    }
    for (size_t i = 0; i < im->nowners; i++)
        free(im->owners[i].name);
    for (size_t i = 0; i < im->nacls; i++) {
        free(im->acls[i].topic);
        free(im->acls[i].text);
    }
    for (size_t i = 0; i < im->nnotes; i++)
        free(im->notes[i]);
    strmap_clear(&im->user_ix);
    strmap_clear(&im->owner_ix);
    free(im->users);
    free(im->owners);
    free(im->acls);
    free(im->notes);
}

int cli_import(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage();
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "mosquitto") != 0) {
        fprintf(stderr, "bulwark import: the only source is 'mosquitto'\n");
        usage();
        return 2;
    }
    const char *pw = NULL, *acl = NULL, *out = NULL;
    for (int i = 2; i < argc; i++) {
        const char **dst = !strcmp(argv[i], "--passwd")                             ? &pw
                           : !strcmp(argv[i], "--acl")                              ? &acl
                           : !strcmp(argv[i], "-o") || !strcmp(argv[i], "--output") ? &out
                                                                                    : NULL;
        if (!dst || i + 1 >= argc || *dst) {
            fprintf(stderr, "bulwark import: %s '%s'\n",
                    !dst   ? "unexpected argument"
                    : *dst ? "repeated option"
                           : "missing value for",
                    argv[i]);
            usage();
            return 2;
        }
        *dst = argv[++i];
    }
    if (!pw || !acl) {
        fprintf(stderr, "bulwark import: give both --passwd FILE and --acl FILE\n");
        usage();
        return 2;
    }
    size_t pwlen = 0, acllen = 0;
    char *pwbuf = read_input(pw, &pwlen);
    char *aclbuf = pwbuf ? read_input(acl, &acllen) : NULL;
    if (!pwbuf || !aclbuf) {
        free(pwbuf);
        return 2;
    }
    struct import im = {.pw_path = pw, .acl_path = acl};
    strmap_init(&im.user_ix);
    strmap_init(&im.owner_ix);
    parse_passwd(&im, pwbuf, pwlen);
    parse_acl(&im, aclbuf, acllen);
    int rc = generate(&im, out);
    release(&im);
    free(pwbuf);
    free(aclbuf);
    return rc;
}
