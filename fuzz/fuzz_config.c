/* fuzz_config: config_load_file on arbitrary file contents, and config_parse_listen on the
 * first line.
 *
 * The input is written to a memfd and loaded through /proc/self/fd/N, so the real file path
 * (open, bounded read, libyaml) is exercised without touching the disk.
 * Oracles: no crash or leak; on failure the message is "PATH:LINE:COLUMN: text" with
 * LINE, COLUMN >= 1 and the caller's struct is untouched; on success every field is within
 * the bounds config.h and the limits table promise, and a second load gives the same
 * result. config_parse_listen either fills a valid listener or leaves it untouched and
 * explains itself. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_util.h"

static int memfd = -1;
static char path[64];

static struct config *cfg_a, *cfg_b;

static void setup(void)
{
    if (memfd >= 0)
        return;
    memfd = memfd_create("bulwark-fuzz-config", MFD_CLOEXEC);
    FUZZ_CHECK(memfd >= 0, "memfd_create: %s", strerror(errno));
    snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
    cfg_a = malloc(sizeof(*cfg_a));
    cfg_b = malloc(sizeof(*cfg_b));
    FUZZ_CHECK(cfg_a && cfg_b, "out of memory");
}

/* "PATH:LINE:COLUMN: " with positive decimal numbers. */
static void check_error_format(const char *err)
{
    size_t pl = strlen(path);
    FUZZ_CHECK(strncmp(err, path, pl) == 0 && err[pl] == ':',
               "error does not start with the "
               "path: \"%s\"",
               err);
    const char *p = err + pl + 1;
    for (int field = 0; field < 2; field++) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(p, &end, 10);
        FUZZ_CHECK(end != p && *p >= '1' && *p <= '9' && errno == 0 && v >= 1 && *end == ':',
                   "error lacks LINE:COLUMN: \"%s\"", err);
        p = end + 1;
    }
    FUZZ_CHECK(*p == ' ' && p[1] != '\0', "error has no text after the position: \"%s\"", err);
}

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static void check_config(const struct config *c)
{
    FUZZ_CHECK(strcmp(c->path, path) == 0, "path not recorded");
    FUZZ_CHECK(c->n_listeners <= CONFIG_MAX_LISTENERS, "%zu listeners", c->n_listeners);
    for (size_t i = 0; i < c->n_listeners; i++)
        FUZZ_CHECK(terminated(c->listeners[i].host, sizeof(c->listeners[i].host)) &&
                       c->listeners[i].host[0],
                   "listener %zu host", i);
    FUZZ_CHECK(c->n_users <= CONFIG_MAX_USERS, "%zu users", c->n_users);
    for (size_t i = 0; i < c->n_users; i++) {
        const struct config_user *u = &c->users[i];
        FUZZ_CHECK(terminated(u->username, sizeof(u->username)) && u->username[0] &&
                       terminated(u->password_hash, sizeof(u->password_hash)) &&
                       strncmp(u->password_hash, "$argon2", 7) == 0,
                   "user %zu", i);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(c->users[j].username, u->username) != 0, "duplicate user accepted");
    }
    const struct config_limits *l = &c->limits;
    const uint32_t *v = (const uint32_t *)l;
    /* Every limit is at least 1, except the three where 0 means "none" or "no cap". */
    for (size_t i = 0; i < sizeof(*l) / sizeof(uint32_t); i++) {
        size_t off = i * sizeof(uint32_t);
        bool zero_ok = off == offsetof(struct config_limits, topic_alias_maximum) ||
                       off == offsetof(struct config_limits, max_keepalive) ||
                       off == offsetof(struct config_limits, max_session_expiry_s);
        FUZZ_CHECK(zero_ok || v[i] >= 1, "limit %zu is 0", i);
    }
    for (size_t i = 0; i < c->n_listeners; i++) {
        const struct config_tls *t = &c->listeners[i].tls;
        if (!t->enabled)
            continue;
        FUZZ_CHECK(t->cert[0] && t->key[0] && terminated(t->cert, sizeof(t->cert)) &&
                       terminated(t->key, sizeof(t->key)) && terminated(t->ca, sizeof(t->ca)) &&
                       terminated(t->revoked, sizeof(t->revoked)),
                   "listener %zu: tls paths", i);
        FUZZ_CHECK((t->min_version == 12 || t->min_version == 13) &&
                       t->client_certs <= CLIENT_CERTS_REQUIRED &&
                       (t->client_certs == CLIENT_CERTS_NONE || t->ca[0]) &&
                       (!t->revoked[0] || t->client_certs != CLIENT_CERTS_NONE) &&
                       t->handshake_timeout_ms >= 100 && t->handshake_timeout_ms <= 600000,
                   "listener %zu: tls settings out of their rules", i);
    }
    FUZZ_CHECK(l->max_inflight <= 65535 && l->max_topic_length <= 65535 &&
                   l->max_packet_size <= 268435460u && l->connect_timeout_ms <= 3600000u &&
                   l->auth_timeout_ms <= 3600000u,
               "limit over its bound");
    FUZZ_CHECK(c->log_level >= 0 && c->log_level <= 3, "log level %d", c->log_level);
}

static void fuzz_listen(const uint8_t *data, size_t size)
{
    char spec[160];
    size_t n = 0;
    while (n < size && n < sizeof(spec) - 1 && data[n] != '\n' && data[n] != '\0')
        n++;
    memcpy(spec, data, n);
    spec[n] = '\0';
    struct config_listener l, before;
    memset(&l, 0xA5, sizeof(l));
    before = l;
    char err[256] = "";
    if (config_parse_listen(&l, spec, err, sizeof(err)) == 0) {
        FUZZ_CHECK(terminated(l.host, sizeof(l.host)) && l.host[0], "listen host");
        FUZZ_CHECK(strchr(spec, ':') != NULL, "listen address without a port accepted");
    } else {
        FUZZ_CHECK(memcmp(&l, &before, sizeof(l)) == 0, "failed parse changed the listener");
        FUZZ_CHECK(strncmp(err, "listen address '", 16) == 0, "listen error: \"%s\"", err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    setup();
    fuzz_listen(data, size);
    FUZZ_CHECK(ftruncate(memfd, 0) == 0, "ftruncate");
    FUZZ_CHECK(size == 0 || pwrite(memfd, data, size, 0) == (ssize_t)size, "pwrite");

    char err[512];
    memset(cfg_a, 0x5A, sizeof(*cfg_a));
    memcpy(cfg_b, cfg_a, sizeof(*cfg_b));
    err[0] = '\0';
    int rc = config_load_file(cfg_a, path, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -1, "config_load_file returned %d", rc);
    if (rc != 0) {
        check_error_format(err);
        FUZZ_CHECK(memcmp(cfg_a, cfg_b, sizeof(*cfg_a)) == 0, "failed load changed the config");
        return 0;
    }
    check_config(cfg_a);
    char err2[512] = "";
    FUZZ_CHECK(config_load_file(cfg_b, path, err2, sizeof(err2)) == 0 &&
                   memcmp(cfg_a, cfg_b, sizeof(*cfg_a)) == 0,
               "a second load of the same file differs");
    return 0;
}
