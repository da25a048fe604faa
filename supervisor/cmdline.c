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
            "  -h, --help            this text\n"
            "  --version             print the version\n");
}

int cmdline_parse(int argc, char **argv, struct cmdline *cl, struct config *cfg, char *err,
                  size_t errlen)
{
    memset(cl, 0, sizeof(*cl));
    cl->ctl_fd = -1;
    cl->ipc_fd = -1;
    config_defaults(cfg);
    struct config_listener extra[CONFIG_MAX_LISTENERS];
    size_t n_extra = 0;
    bool anon = false;
    int level = -1;

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
            if (!strcmp(v, "worker"))
                cl->role = ROLE_WORKER;
            else if (!strcmp(v, "auth"))
                cl->role = ROLE_AUTH;
            else {
                snprintf(err, errlen, "--role %s: unknown role", v);
                return -1;
            }
        } else if (!strcmp(a, "--ctl-fd") || !strcmp(a, "--ipc-fd") || !strcmp(a, "--listen-fd")) {
            int fd;
            if (parse_fd(v, &fd) != 0) {
                snprintf(err, errlen, "%s %s: not a descriptor number", a, v);
                return -1;
            }
            if (!strcmp(a, "--ctl-fd"))
                cl->ctl_fd = fd;
            else if (!strcmp(a, "--ipc-fd"))
                cl->ipc_fd = fd;
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
    if (cfg->n_listeners == 0) {
        snprintf(err, errlen, "no listener: give -c FILE with listeners, or --listen HOST:PORT");
        return -1;
    }
    if (cl->role != ROLE_SUPERVISOR && (cl->ctl_fd < 0 || cl->ipc_fd < 0)) {
        snprintf(err, errlen, "role %s started without its descriptors (internal use only)",
                 role_name(cl->role));
        return -1;
    }
    return 0;
}
