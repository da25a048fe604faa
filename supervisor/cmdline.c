#include "cmdline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

const char *role_name(enum role r)
{
    switch (r) {
    case ROLE_WORKER:
        return "worker";
    case ROLE_AUTH:
        return "auth";
    default:
        return "supervisor";
    }
}

static int parse_fd(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || v > 1 << 20) return -1;
    *out = (int)v;
    return 0;
}

static int parse_role(const char *s, enum role *out)
{
    static const enum role roles[] = {ROLE_SUPERVISOR, ROLE_WORKER, ROLE_AUTH};
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        if (strcmp(s, role_name(roles[i])) == 0) {
            *out = roles[i];
            return 0;
        }
    }
    return -1;
}

/* "UID:GID", both decimal. */
static int parse_ids(const char *s, uint32_t *uid, uint32_t *gid)
{
    char *end;
    errno = 0;
    unsigned long u = strtoul(s, &end, 10);
    if (errno || end == s || *end != ':' || u > UINT32_MAX - 1) return -1;
    const char *g = end + 1;
    unsigned long v = strtoul(g, &end, 10);
    if (errno || end == g || *end || v > UINT32_MAX - 1 || s[0] == '-' || g[0] == '-') return -1;
    *uid = (uint32_t)u;
    *gid = (uint32_t)v;
    return 0;
}

static int parse_level(const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

void cmdline_usage(void)
{
    fprintf(stderr,
            "usage: bulwarkd -c FILE\n"
            "       bulwarkd --listen HOST:PORT [--listen HOST:PORT ...] [--allow-anonymous]\n"
            "options:\n"
            "  -c, --config FILE     server configuration (bulwark.yaml)\n"
            "  --listen HOST:PORT    plain MQTT listener (repeatable; adds to the file's)\n"
            "  --allow-anonymous     accept clients without a username\n"
            "  --log-level LEVEL     error, warn, info or debug\n"
            "  --user NAME           run the worker and auth roles as NAME (and its group)\n"
            "                        instead of sandbox.*.user (when started as root)\n"
            "  --insecure-no-sandbox no privilege drop, seccomp or Landlock: debugging only\n"
            "  --sandbox-selftest ROLE  try what ROLE (worker, auth, supervisor) must not do\n"
            "                        under its real sandbox, print the outcomes and exit\n"
            "  -h, --help            this text\n"
            "  --version             print the version\n");
}

int cmdline_parse(int argc, char **argv, struct cmdline *cl, struct config *cfg, char *err,
                  size_t errlen)
{
    memset(cl, 0, sizeof(*cl));
    cl->ctl_fd = -1;
    cl->ipc_fd = -1;
    cl->key_fd = -1;
    config_defaults(cfg);
    struct config_listener extra[CONFIG_MAX_LISTENERS];
    size_t n_extra = 0;
    bool anon = false;
    int level = -1;
    const char *user = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes_value = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cl->help = true;
            takes_value = false;
        } else if (!strcmp(a, "--version")) {
            cl->version = true;
            takes_value = false;
        } else if (!strcmp(a, "--allow-anonymous")) {
            anon = true;
            takes_value = false;
        } else if (!strcmp(a, "--insecure-no-sandbox")) {
            cl->no_sandbox = true;
            takes_value = false;
        } else if (!v) {
            snprintf(err, errlen, "option %s needs a value (see --help)", a);
            return -1;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
            cl->config_path = v;
        } else if (!strcmp(a, "--listen")) {
            if (n_extra == CONFIG_MAX_LISTENERS) {
                snprintf(err, errlen, "at most %d listeners", CONFIG_MAX_LISTENERS);
                return -1;
            }
            char lerr[256];
            if (config_parse_listen(&extra[n_extra], v, lerr, sizeof(lerr)) != 0) {
                snprintf(err, errlen, "--listen %s: %s", v, lerr);
                return -1;
            }
            n_extra++;
        } else if (!strcmp(a, "--log-level")) {
            level = parse_level(v);
            if (level < 0) {
                snprintf(err, errlen, "--log-level %s: use error, warn, info or debug", v);
                return -1;
            }
        } else if (!strcmp(a, "--role")) {
            if (parse_role(v, &cl->role) != 0 || cl->role == ROLE_SUPERVISOR) {
                snprintf(err, errlen, "--role %s: unknown role", v);
                return -1;
            }
        } else if (!strcmp(a, "--sandbox-selftest")) {
            if (parse_role(v, &cl->selftest_role) != 0) {
                snprintf(err, errlen, "--sandbox-selftest %s: use worker, auth or supervisor", v);
                return -1;
            }
            cl->selftest = true;
        } else if (!strcmp(a, "--user")) {
            if (!config_name_ok(v)) {
                snprintf(err, errlen, "--user %.64s: not a user name", v);
                return -1;
            }
            user = v;
        } else if (!strcmp(a, "--run-as")) {
            if (parse_ids(v, &cl->run_uid, &cl->run_gid) != 0) {
                snprintf(err, errlen, "--run-as %s: expected UID:GID", v);
                return -1;
            }
            cl->run_as = true;
        } else if (!strcmp(a, "--ctl-fd") || !strcmp(a, "--ipc-fd") || !strcmp(a, "--key-fd") ||
                   !strcmp(a, "--listen-fd")) {
            int fd;
            if (parse_fd(v, &fd) != 0) {
                snprintf(err, errlen, "%s %s: not a descriptor number", a, v);
                return -1;
            }
            if (!strcmp(a, "--ctl-fd"))
                cl->ctl_fd = fd;
            else if (!strcmp(a, "--ipc-fd"))
                cl->ipc_fd = fd;
            else if (!strcmp(a, "--key-fd"))
                cl->key_fd = fd;
            else if (cl->n_listen_fds < CONFIG_MAX_LISTENERS)
                cl->listen_fds[cl->n_listen_fds++] = fd;
            else {
                snprintf(err, errlen, "too many --listen-fd");
                return -1;
            }
        } else {
            snprintf(err, errlen, "unknown option %s (see --help)", a);
            return -1;
        }
        if (takes_value) i++;
    }
    if (cl->help || cl->version) return 0;
    /* Absolute from here on: a role that has dropped privileges (and Landlock) may not be
     * able to resolve a path relative to a working directory only root can read.
     * Resolved once: a reload parses the same arguments again inside the sandbox, where
     * realpath's readlink calls are not allowed. */
    static char given[4096], abs_config[4096];
    if (cl->config_path && abs_config[0] && strcmp(cl->config_path, given) == 0) {
        cl->config_path = abs_config;
    } else if (cl->config_path && strlen(cl->config_path) < sizeof(given) &&
               realpath(cl->config_path, abs_config)) {
        snprintf(given, sizeof(given), "%s", cl->config_path);
        cl->config_path = abs_config;
    }
    if (cl->config_path && config_load_file(cfg, cl->config_path, err, errlen) != 0) return -1;
    for (size_t i = 0; i < n_extra; i++) {
        if (cfg->n_listeners == CONFIG_MAX_LISTENERS) {
            snprintf(err, errlen, "at most %d listeners", CONFIG_MAX_LISTENERS);
            return -1;
        }
        cfg->listeners[cfg->n_listeners++] = extra[i];
    }
    if (anon) cfg->allow_anonymous = true;
    if (level >= 0) cfg->log_level = level;
    if (user) {
        struct config_role_user ru = {.group = ""};
        snprintf(ru.user, sizeof(ru.user), "%s", user);
        cfg->sandbox.worker = ru;
        cfg->sandbox.auth = ru;
    }
    if (cl->selftest) return 0;
    if (cfg->n_listeners == 0) {
        snprintf(err, errlen, "no listener: give -c FILE with listeners, or --listen HOST:PORT");
        return -1;
    }
    if (cl->role != ROLE_SUPERVISOR && (cl->ctl_fd < 0 || cl->ipc_fd < 0 || cl->key_fd < 0)) {
        snprintf(err, errlen, "role %s started without its descriptors (internal use only)",
                 role_name(cl->role));
        return -1;
    }
    if (cl->role == ROLE_SUPERVISOR && cl->run_as) {
        snprintf(err, errlen, "--run-as is for roles only (internal use); see --user");
        return -1;
    }
    return 0;
}
