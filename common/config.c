#include "config.h"

#include "readfile.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* A generous bound: 1024 users with the longest names and hashes fit many times over. */
#define CONFIG_FILE_MAX (4u * 1024u * 1024u)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->allow_anonymous = false;
    cfg->limits = (struct config_limits){
        .max_packet_size = 1048576,
        .max_connections = 10000,
        .max_inflight = 20,
        .max_queued_messages = 1000,
        .max_queued_bytes = 8388608,
        .max_topic_length = 1024,
        .max_topic_levels = 32,
        .max_client_id_length = 256,
        .connect_timeout_ms = 10000,
        .auth_timeout_ms = 5000,
        .verdict_cache_size = 256,
        .max_inbound_qos2 = 1000,
        .max_sessions = 100000,
        .max_properties = 64,
        .max_properties_size = 65536,
        .topic_alias_maximum = 10,
        .receive_maximum = 100,
        .max_keepalive = 0,
        .max_session_expiry_s = 604800,
    };
    snprintf(cfg->sandbox.worker.user, CONFIG_NAME_MAX, "bulwark-worker");
    snprintf(cfg->sandbox.worker.group, CONFIG_NAME_MAX, "bulwark");
    snprintf(cfg->sandbox.auth.user, CONFIG_NAME_MAX, "bulwark-auth");
    snprintf(cfg->sandbox.auth.group, CONFIG_NAME_MAX, "bulwark");
    cfg->sandbox.allow_root = false;
    cfg->auth.order[0] = BACKEND_PASSWORD;
    cfg->auth.order[1] = BACKEND_TOKEN;
    cfg->auth.order[2] = BACKEND_PLUGINS;
    cfg->auth.token_leeway_s = 30;
    cfg->auth.bf_free_failures = 5;
    cfg->auth.bf_base_delay_ms = 1000;
    cfg->auth.bf_max_delay_ms = 300000;
    cfg->auth.bf_window_s = 900;
    cfg->auth.bf_max_tracked = 100000;
    cfg->auth.verify_cache_size = 10000;
    cfg->auth.verify_cache_ttl_s = 300;
    cfg->supervisor.max_restarts = 10;
    cfg->supervisor.restart_window_s = 300;
    cfg->log_level = LOG_INFO;
}

/* path as seen from the configuration file conf: a relative one is put beneath conf's
 * directory. Returns snprintf's count (>= cap: did not fit). */
static int beside_config(const char *conf, const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(conf, '/');
    if (!path[0] || path[0] == '/' || !slash)
        return snprintf(out, cap, "%s", path);
    return snprintf(out, cap, "%.*s/%s", (int)(slash - conf), conf, path);
}

const char *config_policy_path(const struct config *cfg, char *out, size_t cap)
{
    beside_config(cfg->path, cfg->policy, out, cap);
    return out;
}

bool config_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= CONFIG_NAME_MAX || name[0] == '-') return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* --- values shared by the file and the command line -------------------------------------- */

static bool host_ok(const char *host)
{
    unsigned char addr[16];
    return strcmp(host, "localhost") == 0 || inet_pton(AF_INET, host, addr) == 1 ||
           inet_pton(AF_INET6, host, addr) == 1;
}

/* Decimal digits only, no sign, no leading zeros (YAML 1.1 would read them as octal).
 * Returns 1 if s is such a number (saturated at UINT64_MAX into *v), 0 otherwise. */
static int parse_decimal(const char *s, size_t len, uint64_t *v)
{
    if (len == 0 || (s[0] == '0' && len > 1)) return 0;
    uint64_t acc = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        unsigned d = (unsigned)(s[i] - '0');
        acc = acc > (UINT64_MAX - d) / 10 ? UINT64_MAX : acc * 10 + d;
    }
    *v = acc;
    return 1;
}

/* --- command line ------------------------------------------------------------------------ */

__attribute__((format(printf, 4, 5))) static int listen_err(const char *spec, char *err,
                                                            size_t errlen, const char *fmt, ...)
{
    int n = snprintf(err, errlen, "listen address '%.80s': ", spec);
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        /* ap is started just above; the analyzer says otherwise only when a file with
         * wolfSSL's headers precedes this one in the same clang-tidy run. */
        // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int config_parse_listen(struct config_listener *l, const char *spec, char *err, size_t errlen)
{
    const char *host, *port;
    size_t hlen;
    bool bracketed = spec[0] == '[';
    if (bracketed) {
        const char *end = strchr(spec, ']');
        if (!end) return listen_err(spec, err, errlen, "missing ']' (expected [ADDRESS]:PORT)");
        host = spec + 1;
        hlen = (size_t)(end - host);
        if (end[1] != ':')
            return listen_err(spec, err, errlen, "missing port (expected [ADDRESS]:PORT)");
        port = end + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon) return listen_err(spec, err, errlen, "missing port (expected HOST:PORT)");
        if (memchr(spec, ':', (size_t)(colon - spec)))
            return listen_err(spec, err, errlen, "an IPv6 address needs brackets, e.g. [::1]:1883");
        host = spec;
        hlen = (size_t)(colon - spec);
        port = colon + 1;
    }
    char h[sizeof(l->host)];
    if (hlen == 0) return listen_err(spec, err, errlen, "missing host");
    if (hlen >= sizeof(h))
        return listen_err(spec, err, errlen, "host is too long (at most %zu bytes)", sizeof(h) - 1);
    memcpy(h, host, hlen);
    h[hlen] = '\0';
    unsigned char addr[16];
    if (bracketed ? inet_pton(AF_INET6, h, addr) != 1 : !host_ok(h))
        return listen_err(spec, err, errlen,
                          bracketed ? "'%s' is not a numeric IPv6 address"
                                    : "'%s' is not a numeric IPv4 address or localhost",
                          h);
    uint64_t v;
    if (*port == '\0') return listen_err(spec, err, errlen, "missing port");
    if (!parse_decimal(port, strlen(port), &v) || v > 65535)
        return listen_err(spec, err, errlen, "bad port '%.16s' (expected 0..65535)", port);
    memcpy(l->host, h, hlen + 1);
    l->port = (uint16_t)v;
    config_tls_defaults(&l->tls); /* --listen is plain MQTT */
    return 0;
}

/* --- file -------------------------------------------------------------------------------- */

struct parse {
    const char *path;
    yaml_document_t *doc;
    char *err;
    size_t errlen;
    struct config cfg; /* filled here, copied to the caller only on success */
    yaml_mark_t user_marks[CONFIG_MAX_USERS];
};

__attribute__((format(printf, 3, 4))) static int fail(struct parse *p, yaml_mark_t mark,
                                                      const char *fmt, ...)
{
    int n = snprintf(p->err, p->errlen, "%s:%zu:%zu: ", p->path, mark.line + 1, mark.column + 1);
    if (n >= 0 && (size_t)n < p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        /* as in listen_err */
        // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
        vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const yaml_node_t *node_at(struct parse *p, int index)
{
    return yaml_document_get_node(p->doc, index);
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = sval(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static const char *kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a sequence";
    case YAML_SCALAR_NODE:
        if (is_null(n)) return "an empty value";
        return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "a plain scalar"
                                                               : "a quoted string";
    default:
        return "nothing";
    }
}

static int want_type(struct parse *p, const yaml_node_t *n, yaml_node_type_t t, const char *key)
{
    if (n->type == t) return 0;
    const char *what = t == YAML_MAPPING_NODE    ? "a mapping"
                       : t == YAML_SEQUENCE_NODE ? "a sequence"
                                                 : "a scalar";
    return fail(p, n->start_mark, "'%s': expected %s, found %s", key, what, kind(n));
}

/* Looks a mapping key up in names[]; reports unknown and repeated keys. */
static int map_key(struct parse *p, const yaml_node_t *k, const char *where,
                   const char *const *names, size_t n, bool *seen)
{
    if (k->type != YAML_SCALAR_NODE)
        return fail(p, k->start_mark, "%s: expected a scalar key, found %s", where, kind(k));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(sval(k), names[i]) != 0 || strlen(names[i]) != k->data.scalar.length) continue;
        if (seen[i]) return fail(p, k->start_mark, "duplicate key '%s' in %s", names[i], where);
        seen[i] = true;
        return (int)i;
    }
    char allowed[512];
    size_t off = 0;
    allowed[0] = '\0';
    for (size_t i = 0; i < n && off < sizeof(allowed); i++) {
        int w = snprintf(allowed + off, sizeof(allowed) - off, "%s%s", i ? ", " : "", names[i]);
        if (w < 0) break;
        off += (size_t)w;
    }
    return fail(p, k->start_mark, "unknown key '%.64s' in %s (allowed: %s)", sval(k), where,
                allowed);
}

static int get_u32(struct parse *p, const yaml_node_t *n, const char *key, uint32_t min,
                   uint32_t max, uint32_t *out)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
        is_null(n))
        return fail(p, n->start_mark, "'%s': expected an integer, found %s", key, kind(n));
    uint64_t v;
    if (!parse_decimal(sval(n), n->data.scalar.length, &v))
        return fail(p, n->start_mark,
                    "'%s': expected an integer (decimal digits, no sign or leading zeros), "
                    "found '%.32s'",
                    key, sval(n));
    if (v < min || v > max)
        return fail(p, n->start_mark, "'%s': %.32s is out of range (%u..%u)", key, sval(n),
                    (unsigned)min, (unsigned)max);
    *out = (uint32_t)v;
    return 0;
}

static int get_bool(struct parse *p, const yaml_node_t *n, const char *key, bool *out)
{
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        const char *s = sval(n);
        if (!strcmp(s, "true") || !strcmp(s, "yes")) {
            *out = true;
            return 0;
        }
        if (!strcmp(s, "false") || !strcmp(s, "no")) {
            *out = false;
            return 0;
        }
    }
    if (n->type == YAML_SCALAR_NODE && !is_null(n))
        return fail(p, n->start_mark,
                    "'%s': expected a boolean (true, false, yes or no), found '%.32s'", key,
                    sval(n));
    return fail(p, n->start_mark, "'%s': expected a boolean (true, false, yes or no), found %s",
                key, kind(n));
}

/* A non-empty string that fits dst with its NUL. */
static int get_str(struct parse *p, const yaml_node_t *n, const char *key, char *dst, size_t cap)
{
    if (n->type != YAML_SCALAR_NODE || is_null(n))
        return fail(p, n->start_mark, "'%s': expected a string, found %s", key, kind(n));
    size_t len = n->data.scalar.length;
    if (len == 0) return fail(p, n->start_mark, "'%s': must not be empty", key);
    if (strlen(sval(n)) != len)
        return fail(p, n->start_mark, "'%s': must not contain a NUL character", key);
    if (len >= cap)
        return fail(p, n->start_mark, "'%s': too long (%zu bytes, at most %zu)", key, len, cap - 1);
    memcpy(dst, sval(n), len + 1);
    return 0;
}

/* A path from the file: a relative one is made relative to the file's directory, so every
 * role (and a reload from another working directory) opens the same file. */
static int get_path(struct parse *p, const yaml_node_t *n, const char *key, char *dst, size_t cap)
{
    char raw[CONFIG_PATH_MAX] = "";
    if (get_str(p, n, key, raw, sizeof(raw)) < 0) return -1;
    int w = beside_config(p->path, raw, dst, cap);
    if (w < 0 || (size_t)w >= cap)
        return fail(p, n->start_mark, "'%s': path too long (at most %zu bytes)", key, cap - 1);
    return 0;
}

static int get_choice(struct parse *p, const yaml_node_t *n, const char *key,
                      const char *const *choices, size_t nchoices, uint8_t *out)
{
    if (n->type == YAML_SCALAR_NODE && !is_null(n))
        for (size_t i = 0; i < nchoices; i++)
            if (!strcmp(sval(n), choices[i])) {
                *out = (uint8_t)i;
                return 0;
            }
    char allowed[128] = "";
    for (size_t i = 0, off = 0; i < nchoices && off < sizeof(allowed); i++) {
        int w = snprintf(allowed + off, sizeof(allowed) - off, "%s%s", i ? ", " : "", choices[i]);
        if (w < 0) break;
        off += (size_t)w;
    }
    return fail(p, n->start_mark, "'%s': expected one of %s, found %s%.32s%s", key, allowed,
                n->type == YAML_SCALAR_NODE ? "'" : kind(n),
                n->type == YAML_SCALAR_NODE ? sval(n) : "",
                n->type == YAML_SCALAR_NODE ? "'" : "");
}

static int parse_tls(struct parse *p, const yaml_node_t *m, struct config_tls *t)
{
    static const char *const names[] = {"cert",         "key",     "ca",
                                        "client_certs", "revoked", "min_version",
                                        "ciphers",      "bind_client_id", "handshake_timeout_ms"};
    static const char *const certs[] = {"none", "optional", "required"};
    static const char *const versions[] = {"1.2", "1.3"};
    bool seen[ARRAY_LEN(names)] = {false};
    if (want_type(p, m, YAML_MAPPING_NODE, "tls") < 0) return -1;
    t->enabled = true;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
        int i = map_key(p, k, "tls", names, ARRAY_LEN(names), seen);
        int rc = -1;
        uint8_t ver = 0;
        switch (i) {
        case 0:
            rc = get_path(p, v, "cert", t->cert, sizeof(t->cert));
            break;
        case 1:
            rc = get_path(p, v, "key", t->key, sizeof(t->key));
            break;
        case 2:
            rc = get_path(p, v, "ca", t->ca, sizeof(t->ca));
            break;
        case 3:
            rc = get_choice(p, v, "client_certs", certs, ARRAY_LEN(certs), &t->client_certs);
            break;
        case 4:
            rc = get_path(p, v, "revoked", t->revoked, sizeof(t->revoked));
            break;
        case 5:
            rc = get_choice(p, v, "min_version", versions, ARRAY_LEN(versions), &ver);
            t->min_version = ver ? 13 : 12;
            break;
        case 6:
            rc = get_str(p, v, "ciphers", t->ciphers, sizeof(t->ciphers));
            break;
        case 7:
            rc = get_bool(p, v, "bind_client_id", &t->bind_client_id);
            break;
        case 8:
            rc = get_u32(p, v, "handshake_timeout_ms", 100, 600000, &t->handshake_timeout_ms);
            break;
        default:
            break;
        }
        if (rc < 0) return -1;
    }
    if (!seen[0] || !seen[1])
        return fail(p, m->start_mark, "tls: 'cert' and 'key' are both required");
    if (t->client_certs != CLIENT_CERTS_NONE && !t->ca[0])
        return fail(p, m->start_mark, "tls: client_certs: %s needs 'ca' (the client CA)",
                    certs[t->client_certs]);
    if (t->revoked[0] && t->client_certs == CLIENT_CERTS_NONE)
        return fail(p, m->start_mark, "tls: 'revoked' only applies with client_certs");
    return 0;
}

void config_tls_defaults(struct config_tls *t)
{
    memset(t, 0, sizeof(*t));
    t->min_version = 12;
    t->bind_client_id = true;
    t->handshake_timeout_ms = 10000;
}

static int parse_listener(struct parse *p, const yaml_node_t *m, struct config_listener *l)
{
    static const char *const names[] = {"host", "port", "tls"};
    bool seen[ARRAY_LEN(names)] = {false};
    if (want_type(p, m, YAML_MAPPING_NODE, "listeners[]") < 0) return -1;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
        int i = map_key(p, k, "a listener", names, ARRAY_LEN(names), seen);
        if (i < 0) return -1;
        if (i == 0) {
            if (get_str(p, v, "host", l->host, sizeof(l->host)) < 0) return -1;
            if (!host_ok(l->host))
                return fail(p, v->start_mark,
                            "'host': '%s' is not a numeric IPv4/IPv6 address or localhost",
                            l->host);
        } else if (i == 2) {
            if (parse_tls(p, v, &l->tls) < 0) return -1;
        } else {
            uint32_t port = 0;
            if (get_u32(p, v, "port", 0, 65535, &port) < 0) return -1;
            l->port = (uint16_t)port;
        }
    }
    for (size_t i = 0; i < 2; i++)
        if (!seen[i]) return fail(p, m->start_mark, "listener is missing '%s'", names[i]);
    return 0;
}

static bool hash_ok(const char *h)
{
    if (strncmp(h, "$argon2id$", 10) != 0 && strncmp(h, "$argon2i$", 9) != 0) return false;
    for (; *h; h++)
        if (*h <= ' ' || *h > '~') return false;
    return true;
}

static int parse_user(struct parse *p, const yaml_node_t *m, size_t idx)
{
    static const char *const names[] = {"username", "password_hash"};
    bool seen[ARRAY_LEN(names)] = {false};
    struct config_user *u = &p->cfg.users[idx];
    yaml_mark_t name_mark = m->start_mark;
    if (want_type(p, m, YAML_MAPPING_NODE, "users[]") < 0) return -1;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
        int i = map_key(p, k, "a user", names, ARRAY_LEN(names), seen);
        if (i < 0) return -1;
        if (i == 0) {
            if (get_str(p, v, "username", u->username, sizeof(u->username)) < 0) return -1;
            name_mark = v->start_mark;
        } else {
            if (get_str(p, v, "password_hash", u->password_hash, sizeof(u->password_hash)) < 0)
                return -1;
            if (!hash_ok(u->password_hash))
                return fail(p, v->start_mark,
                            "'password_hash': expected an argon2 hash starting with "
                            "'$argon2id$' (make one with `bulwark passwd`)");
        }
    }
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        if (!seen[i]) return fail(p, m->start_mark, "user is missing '%s'", names[i]);
    for (size_t j = 0; j < idx; j++)
        if (strcmp(p->cfg.users[j].username, u->username) == 0)
            return fail(p, name_mark, "duplicate username '%s' (first defined at line %zu)",
                        u->username, p->user_marks[j].line + 1);
    p->user_marks[idx] = name_mark;
    return 0;
}

static int parse_listeners(struct parse *p, const yaml_node_t *seq)
{
    if (want_type(p, seq, YAML_SEQUENCE_NODE, "listeners") < 0) return -1;
    size_t n = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++, n++) {
        const yaml_node_t *item = node_at(p, *it);
        if (n == CONFIG_MAX_LISTENERS)
            return fail(p, item->start_mark, "too many listeners (at most %d)",
                        CONFIG_MAX_LISTENERS);
        config_tls_defaults(&p->cfg.listeners[n].tls);
        if (parse_listener(p, item, &p->cfg.listeners[n]) < 0) return -1;
    }
    p->cfg.n_listeners = n;
    return 0;
}

static int parse_users(struct parse *p, const yaml_node_t *seq)
{
    if (want_type(p, seq, YAML_SEQUENCE_NODE, "users") < 0) return -1;
    size_t n = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++, n++) {
        const yaml_node_t *item = node_at(p, *it);
        if (n == CONFIG_MAX_USERS)
            return fail(p, item->start_mark, "too many users (at most %d)", CONFIG_MAX_USERS);
        if (parse_user(p, item, n) < 0) return -1;
    }
    p->cfg.n_users = n;
    return 0;
}

#define TIMEOUT_MAX 3600000u
static const char *const limit_names[] = {
    "max_packet_size",    "max_connections",  "max_inflight",         "max_queued_messages",
    "max_queued_bytes",   "max_topic_length", "max_topic_levels",     "max_client_id_length",
    "connect_timeout_ms", "auth_timeout_ms",  "verdict_cache_size",   "max_inbound_qos2",
    "max_sessions",       "max_properties",   "max_properties_size",  "topic_alias_maximum",
    "receive_maximum",    "max_keepalive",    "max_session_expiry_s",
};
/* In the order of limit_names. */
static const struct {
    size_t off;
    uint32_t max;
} limit_fields[] = {
    {offsetof(struct config_limits, max_packet_size), 268435460u}, /* MQTT's largest packet */
    {offsetof(struct config_limits, max_connections), UINT32_MAX},
    {offsetof(struct config_limits, max_inflight), 65535u}, /* packet ids are 16 bits */
    {offsetof(struct config_limits, max_queued_messages), UINT32_MAX},
    {offsetof(struct config_limits, max_queued_bytes), UINT32_MAX},
    {offsetof(struct config_limits, max_topic_length), 65535u}, /* MQTT string length */
    {offsetof(struct config_limits, max_topic_levels), UINT32_MAX},
    {offsetof(struct config_limits, max_client_id_length), UINT32_MAX},
    {offsetof(struct config_limits, connect_timeout_ms), TIMEOUT_MAX},
    {offsetof(struct config_limits, auth_timeout_ms), TIMEOUT_MAX},
    {offsetof(struct config_limits, verdict_cache_size), UINT32_MAX},
    {offsetof(struct config_limits, max_inbound_qos2), UINT32_MAX},
    {offsetof(struct config_limits, max_sessions), UINT32_MAX},
    {offsetof(struct config_limits, max_properties), 65535u},
    {offsetof(struct config_limits, max_properties_size), 268435455u}, /* a varint's range */
    {offsetof(struct config_limits, topic_alias_maximum), 65535u},
    {offsetof(struct config_limits, receive_maximum), 65535u}, /* a 16-bit property */
    {offsetof(struct config_limits, max_keepalive), 65535u},
    {offsetof(struct config_limits, max_session_expiry_s), UINT32_MAX},
};

/* Limits are at least 1, except these, where 0 means something: no topic aliases, no
 * keep-alive cap, no 5.0 session kept after its connection. */
static bool limit_zero_ok(size_t off)
{
    return off == offsetof(struct config_limits, topic_alias_maximum) ||
           off == offsetof(struct config_limits, max_keepalive) ||
           off == offsetof(struct config_limits, max_session_expiry_s);
}
_Static_assert(ARRAY_LEN(limit_names) == ARRAY_LEN(limit_fields), "limit tables out of step");
_Static_assert(ARRAY_LEN(limit_names) * sizeof(uint32_t) == sizeof(struct config_limits),
               "every limit needs a key");

static int parse_limits(struct parse *p, const yaml_node_t *m)
{
    bool seen[ARRAY_LEN(limit_names)] = {false};
    if (want_type(p, m, YAML_MAPPING_NODE, "limits") < 0) return -1;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
        int i = map_key(p, k, "limits", limit_names, ARRAY_LEN(limit_names), seen);
        if (i < 0) return -1;
        uint32_t *field = (uint32_t *)((char *)&p->cfg.limits + limit_fields[i].off);
        uint32_t min = limit_zero_ok(limit_fields[i].off) ? 0 : 1;
        if (get_u32(p, v, limit_names[i], min, limit_fields[i].max, field) < 0)
            return -1;
    }
    return 0;
}

/* A system user or group name. */
static int get_name(struct parse *p, const yaml_node_t *n, const char *key, char *dst)
{
    if (get_str(p, n, key, dst, CONFIG_NAME_MAX) < 0) return -1;
    if (!config_name_ok(dst))
        return fail(p, n->start_mark,
                    "'%s': '%.64s' is not a user or group name (letters, digits, '_', '.', '-', "
                    "not starting with '-')",
                    key, dst);
    return 0;
}

static int parse_role_user(struct parse *p, const yaml_node_t *m, const char *where,
                           struct config_role_user *ru)
{
    static const char *const names[] = {"user", "group"};
    bool seen[ARRAY_LEN(names)] = {false};
    if (want_type(p, m, YAML_MAPPING_NODE, where) < 0) return -1;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
        int i = map_key(p, k, where, names, ARRAY_LEN(names), seen);
        if (i < 0) return -1;
        if (get_name(p, v, names[i], i == 0 ? ru->user : ru->group) < 0) return -1;
    }
    return 0;
}

static int parse_sandbox(struct parse *p, const yaml_node_t *m)
{
    static const char *const names[] = {"worker", "auth", "allow_root"};
    bool seen[ARRAY_LEN(names)] = {false};
    if (want_type(p, m, YAML_MAPPING_NODE, "sandbox") < 0) return -1;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
        int i = map_key(p, k, "sandbox", names, ARRAY_LEN(names), seen);
        int rc = -1;
        if (i == 0) rc = parse_role_user(p, v, "sandbox.worker", &p->cfg.sandbox.worker);
        if (i == 1) rc = parse_role_user(p, v, "sandbox.auth", &p->cfg.sandbox.auth);
        if (i == 2) rc = get_bool(p, v, "allow_root", &p->cfg.sandbox.allow_root);
        if (rc < 0) return -1;
    }
    return 0;
}

#define RESTART_WINDOW_MAX 86400u
static int parse_supervisor(struct parse *p, const yaml_node_t *m)
{
    static const char *const names[] = {"max_restarts", "restart_window_s"};
    bool seen[ARRAY_LEN(names)] = {false};
    if (want_type(p, m, YAML_MAPPING_NODE, "supervisor") < 0) return -1;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
        int i = map_key(p, k, "supervisor", names, ARRAY_LEN(names), seen);
        int rc = -1;
        if (i == 0)
            rc = get_u32(p, v, names[0], 1, CONFIG_MAX_RESTARTS_MAX,
                         &p->cfg.supervisor.max_restarts);
        if (i == 1)
            rc = get_u32(p, v, names[1], 1, RESTART_WINDOW_MAX,
                         &p->cfg.supervisor.restart_window_s);
        if (rc < 0) return -1;
    }
    return 0;
}

static int parse_backends(struct parse *p, const yaml_node_t *n)
{
    static const char *const kinds[] = {"password", "token", "plugins"};
    if (want_type(p, n, YAML_SEQUENCE_NODE, "auth.backends") < 0) return -1;
    uint8_t order[3] = {0};
    size_t k = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        const yaml_node_t *v = node_at(p, *it);
        int found = -1;
        for (size_t i = 0; v->type == YAML_SCALAR_NODE && i < ARRAY_LEN(kinds); i++)
            if (strcmp(sval(v), kinds[i]) == 0) found = (int)i;
        if (found < 0)
            return fail(p, v->start_mark, "'auth.backends': expected password, token or plugins");
        for (size_t j = 0; j < k; j++)
            if (order[j] == found + 1)
                return fail(p, v->start_mark, "'auth.backends': '%s' is listed twice",
                            kinds[found]);
        order[k++] = (uint8_t)(found + 1);
    }
    memcpy(p->cfg.auth.order, order, sizeof(order));
    return 0;
}

static int parse_plugins(struct parse *p, const yaml_node_t *n)
{
    static const char *const names[] = {"path", "config"};
    if (want_type(p, n, YAML_SEQUENCE_NODE, "auth.plugins") < 0) return -1;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        const yaml_node_t *m = node_at(p, *it);
        if (p->cfg.auth.n_plugins == CONFIG_MAX_PLUGINS)
            return fail(p, m->start_mark, "at most %d plugins", CONFIG_MAX_PLUGINS);
        struct config_plugin *pl = &p->cfg.auth.plugins[p->cfg.auth.n_plugins];
        bool seen[ARRAY_LEN(names)] = {false};
        if (want_type(p, m, YAML_MAPPING_NODE, "auth.plugins[]") < 0) return -1;
        for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top;
             pr++) {
            const yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
            int i = map_key(p, k, "a plugin", names, ARRAY_LEN(names), seen);
            if (i < 0) return -1;
            if (i == 0 && get_str(p, v, "path", pl->path, sizeof(pl->path)) < 0) return -1;
            if (i == 0 && pl->path[0] != '/')
                return fail(p, v->start_mark, "'path': a plugin path must be absolute");
            if (i == 1 && get_str(p, v, "config", pl->config, sizeof(pl->config)) < 0) return -1;
        }
        if (!seen[0]) return fail(p, m->start_mark, "a plugin needs 'path'");
        p->cfg.auth.n_plugins++;
    }
    return 0;
}

static int parse_auth(struct parse *p, const yaml_node_t *m)
{
    static const char *const names[] = {
        "backends",         "plugins",       "token_leeway_s",     "audit_log",
        "audit_key",        "bf_free_failures", "bf_base_delay_ms", "bf_max_delay_ms",
        "bf_window_s",      "bf_max_tracked", "verify_cache_size", "verify_cache_ttl_s"};
    struct config_auth *a = &p->cfg.auth;
    bool seen[ARRAY_LEN(names)] = {false};
    if (want_type(p, m, YAML_MAPPING_NODE, "auth") < 0) return -1;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
        int i = map_key(p, k, "auth", names, ARRAY_LEN(names), seen);
        int rc = -1;
        switch (i) {
        case 0: rc = parse_backends(p, v); break;
        case 1: rc = parse_plugins(p, v); break;
        case 2: rc = get_u32(p, v, names[i], 0, 600, &a->token_leeway_s); break;
        case 3: rc = get_str(p, v, names[i], a->audit_log, sizeof(a->audit_log)); break;
        case 4: rc = get_str(p, v, names[i], a->audit_key, sizeof(a->audit_key)); break;
        case 5: rc = get_u32(p, v, names[i], 0, 1000, &a->bf_free_failures); break;
        case 6: rc = get_u32(p, v, names[i], 1, 3600000, &a->bf_base_delay_ms); break;
        case 7: rc = get_u32(p, v, names[i], 1, 86400000, &a->bf_max_delay_ms); break;
        case 8: rc = get_u32(p, v, names[i], 1, 86400, &a->bf_window_s); break;
        case 9: rc = get_u32(p, v, names[i], 1, 10000000, &a->bf_max_tracked); break;
        case 10: rc = get_u32(p, v, names[i], 0, 10000000, &a->verify_cache_size); break;
        case 11: rc = get_u32(p, v, names[i], 1, 86400, &a->verify_cache_ttl_s); break;
        }
        if (rc < 0) return -1;
    }
    if (a->bf_max_delay_ms < a->bf_base_delay_ms)
        return fail(p, m->start_mark, "'auth': bf_max_delay_ms must be at least bf_base_delay_ms");
    return 0;
}

static int parse_log_level(struct parse *p, const yaml_node_t *n)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    if (n->type == YAML_SCALAR_NODE) {
        for (size_t i = 0; i < ARRAY_LEN(levels); i++) {
            if (strcmp(sval(n), levels[i]) == 0) {
                p->cfg.log_level = (int)i; /* same order as enum log_level */
                return 0;
            }
        }
    }
    return fail(p, n->start_mark, "'log_level': expected one of error, warn, info, debug");
}

static int parse_root(struct parse *p, const yaml_node_t *root)
{
    static const char *const names[] = {"listeners", "allow_anonymous", "users",  "limits",
                                        "log_level", "sandbox",         "supervisor", "policy",
                                        "auth"};
    bool seen[ARRAY_LEN(names)] = {false};
    if (!root || is_null(root)) return 0; /* an empty file: every default */
    if (root->type != YAML_MAPPING_NODE)
        return fail(p, root->start_mark, "the top level must be a mapping of settings, found %s",
                    kind(root));
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top;
         pr++) {
        const yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
        int i = map_key(p, k, "the top level", names, ARRAY_LEN(names), seen);
        int rc = -1;
        switch (i) {
        case 0:
            rc = parse_listeners(p, v);
            break;
        case 1:
            rc = get_bool(p, v, "allow_anonymous", &p->cfg.allow_anonymous);
            break;
        case 2:
            rc = parse_users(p, v);
            break;
        case 3:
            rc = parse_limits(p, v);
            break;
        case 4:
            rc = parse_log_level(p, v);
            break;
        case 5:
            rc = parse_sandbox(p, v);
            break;
        case 6:
            rc = parse_supervisor(p, v);
            break;
        case 7:
            rc = get_str(p, v, "policy", p->cfg.policy, sizeof(p->cfg.policy));
            break;
        case 8:
            rc = parse_auth(p, v);
            break;
        }
        if (rc < 0) return -1;
    }
    return 0;
}

static int yaml_fail(struct parse *p, const yaml_parser_t *y, const char *text, size_t len)
{
    if (y->error == YAML_MEMORY_ERROR) return fail(p, y->mark, "out of memory while reading YAML");
    yaml_mark_t mark = y->problem_mark;
    if (y->error == YAML_READER_ERROR) {
        /* Reader errors carry a byte offset, not a mark: count lines up to it. */
        memset(&mark, 0, sizeof(mark));
        for (size_t i = 0; i < y->problem_offset && i < len; i++) {
            if (text[i] == '\n') {
                mark.line++;
                mark.column = 0;
            } else {
                mark.column++;
            }
        }
    }
    const char *problem = y->problem ? y->problem : "invalid YAML";
    if (y->context)
        return fail(p, mark, "%s (%s, line %zu column %zu)", problem, y->context,
                    y->context_mark.line + 1, y->context_mark.column + 1);
    return fail(p, mark, "%s", problem);
}


int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
    if (strlen(path) >= sizeof(cfg->path)) {
        snprintf(err, errlen, "%.64s...: path too long (at most %zu bytes)", path,
                 sizeof(cfg->path) - 1);
        return -1;
    }
    size_t len = 0;
    char *text = read_file_bounded(path, CONFIG_FILE_MAX, &len, err, errlen);
    if (!text) return -1;
    struct parse *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(text);
        return -1;
    }
    p->path = path;
    p->err = err;
    p->errlen = errlen;
    config_defaults(&p->cfg);

    yaml_parser_t y;
    yaml_document_t doc, extra;
    int rc = -1;
    if (!yaml_parser_initialize(&y)) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out_free;
    }
    yaml_parser_set_input_string(&y, (const unsigned char *)text, len);
    if (!yaml_parser_load(&y, &doc)) {
        yaml_fail(p, &y, text, len);
        goto out_parser;
    }
    p->doc = &doc;
    rc = parse_root(p, yaml_document_get_root_node(&doc));
    if (rc == 0) {
        /* A second document would be silently ignored: refuse it. */
        if (!yaml_parser_load(&y, &extra)) {
            rc = yaml_fail(p, &y, text, len);
        } else {
            const yaml_node_t *r2 = yaml_document_get_root_node(&extra);
            if (r2) rc = fail(p, r2->start_mark, "only one YAML document is allowed");
            yaml_document_delete(&extra);
        }
    }
    yaml_document_delete(&doc);
    if (rc == 0) {
        memcpy(p->cfg.path, path, strlen(path) + 1);
        memcpy(cfg, &p->cfg, sizeof(*cfg));
    }
out_parser:
    yaml_parser_delete(&y);
out_free:
    free(p);
    free(text);
    return rc;
}
