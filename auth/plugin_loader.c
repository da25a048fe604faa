#include "plugin_loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin.h"

/* MQTT strings and binary data are at most 65535 bytes; certificate strings are ours. */
#define FIELD_MAX 65535
#define CERT_FIELD_MAX 4096

/* The auth_backend is the first member, so ctx and the backend are one allocation. */
struct plugin_backend {
    struct auth_backend base;
    void *handle;
    void *pctx;
    int (*authenticate)(void *ctx, const struct bulwark_plugin_request *req,
                        struct bulwark_plugin_outcome *out);
    void (*destroy)(void *ctx);
    char name[sizeof("plugin:") + BULWARK_PLUGIN_NAME_MAX];
};

__attribute__((format(printf, 3, 4))) static void seterr(char *err, size_t errlen, const char *fmt,
                                                         ...)
{
    if (!errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): a false positive of clang 14 */
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool name_ok(const char *name)
{
    size_t n = name ? strnlen(name, BULWARK_PLUGIN_NAME_MAX + 1) : 0;
    if (n == 0 || n > BULWARK_PLUGIN_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* Refuses files another user could replace the code of. This checks the file, not its
 * directories: keep plugins in a root-owned directory. */
static int check_file(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (path[0] != '/') {
        seterr(err, errlen, "plugin path '%s' must be absolute", path);
        return -1;
    }
    if (stat(path, &st) != 0) {
        seterr(err, errlen, "plugin %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        seterr(err, errlen, "plugin %s is not a regular file", path);
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        seterr(err, errlen, "plugin %s is writable by group or others: chmod go-w it", path);
        return -1;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        seterr(err, errlen, "plugin %s is owned by uid %u, not by root or by us (uid %u)", path,
               (unsigned)st.st_uid, (unsigned)geteuid());
        return -1;
    }
    return 0;
}

/* Copies a field into the call's buffer at *pos; NULL stays NULL. */
static const char *put(char *buf, size_t *pos, const void *src, size_t len)
{
    if (!src)
        return NULL;
    char *dst = buf + *pos;
    memcpy(dst, src, len);
    dst[len] = '\0';
    *pos += len + 1;
    return dst;
}

static size_t cert_len(const char *s)
{
    return s ? strnlen(s, CERT_FIELD_MAX) : 0;
}

/* The identity a plugin wrote: NUL-terminated in its array, non-empty, no controls. */
static bool identity_ok(const char *id)
{
    const char *end = memchr(id, '\0', BULWARK_PLUGIN_IDENTITY_MAX);
    if (!end || end == id)
        return false;
    for (const char *p = id; p < end; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static void copy_reason(char *dst, size_t cap, const char *src, const char *fallback)
{
    size_t n = strnlen(src, BULWARK_PLUGIN_REASON_MAX);
    if (n == BULWARK_PLUGIN_REASON_MAX)
        n--; /* not terminated: cut */
    if (n == 0) {
        snprintf(dst, cap, "%s", fallback);
        return;
    }
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    dst[n] = '\0';
}

static enum auth_result plugin_authenticate(void *ctx, const struct auth_request *req,
                                            struct auth_outcome *out)
{
    struct plugin_backend *pb = ctx;
    const struct auth_cert *cert = req->cert;
    snprintf(out->backend, sizeof(out->backend), "%s", pb->name);
    if (req->client_id_len > FIELD_MAX || req->username_len > FIELD_MAX ||
        req->password_len > FIELD_MAX) {
        snprintf(out->reason, sizeof(out->reason), "request too large for a plugin");
        return AUTH_DENY;
    }
    const char *peer = req->peer ? req->peer : "";
    const char *cn = cert ? cert->cn : NULL;
    const char *serial = cert ? cert->serial_hex : NULL;
    const char *fp = cert ? cert->fingerprint_sha256_hex : NULL;
    size_t peer_len = strnlen(peer, CERT_FIELD_MAX);
    size_t total = req->client_id_len + req->username_len + req->password_len + peer_len +
                   cert_len(cn) + cert_len(serial) + cert_len(fp) + 7;
    char *buf = malloc(total);
    if (!buf) {
        snprintf(out->reason, sizeof(out->reason), "out of memory");
        return AUTH_DENY;
    }
    size_t pos = 0;
    struct bulwark_plugin_request r = {.struct_size = sizeof(r), .now = (int64_t)req->now};
    r.client_id =
        put(buf, &pos, req->client_id ? req->client_id : (const uint8_t *)"", req->client_id_len);
    r.client_id_len = req->client_id_len;
    r.username = put(buf, &pos, req->username, req->username_len);
    r.username_len = req->username ? req->username_len : 0;
    r.password = (const uint8_t *)put(buf, &pos, req->password, req->password_len);
    r.password_len = req->password ? req->password_len : 0;
    r.peer = put(buf, &pos, peer, peer_len);
    r.cert_cn = put(buf, &pos, cn, cert_len(cn));
    r.cert_serial_hex = put(buf, &pos, serial, cert_len(serial));
    r.cert_fingerprint_sha256 = put(buf, &pos, fp, cert_len(fp));

    struct bulwark_plugin_outcome po;
    memset(&po, 0, sizeof(po));
    po.struct_size = sizeof(po);
    int rc = pb->authenticate(pb->pctx, &r, &po);
    sodium_memzero(buf, total);
    free(buf);

    switch (rc) {
    case BULWARK_PLUGIN_NO_OPINION:
        return AUTH_NO_OPINION;
    case BULWARK_PLUGIN_ALLOW:
        if (!identity_ok(po.identity)) {
            snprintf(out->reason, sizeof(out->reason), "plugin allowed without a valid identity");
            return AUTH_DENY;
        }
        snprintf(out->identity, sizeof(out->identity), "%s", po.identity);
        copy_reason(out->reason, sizeof(out->reason), po.reason, "allowed by plugin");
        return AUTH_ALLOW;
    case BULWARK_PLUGIN_DENY:
        copy_reason(out->reason, sizeof(out->reason), po.reason, "denied by plugin");
        return AUTH_DENY;
    default:
        snprintf(out->reason, sizeof(out->reason), "plugin error (answer %d)", rc);
        return AUTH_DENY;
    }
}

static void plugin_destroy(void *ctx)
{
    struct plugin_backend *pb = ctx;
    if (!pb)
        return;
    if (pb->destroy)
        pb->destroy(pb->pctx);
    dlclose(pb->handle);
    free(pb);
}

/* Checks the descriptor the entry point returned. */
static int check_descriptor(const struct bulwark_plugin *p, const char *path, char *err,
                            size_t errlen)
{
    if (!p) {
        seterr(err, errlen, "plugin %s: %s() returned NULL", path, BULWARK_PLUGIN_ENTRY);
        return -1;
    }
    if (p->abi_version != BULWARK_PLUGIN_ABI_VERSION) {
        seterr(err, errlen,
               "plugin %s speaks plugin ABI version %u, this bulwark speaks version %d: "
               "rebuild it against this bulwark's auth/plugin.h",
               path, (unsigned)p->abi_version, BULWARK_PLUGIN_ABI_VERSION);
        return -1;
    }
    if (p->struct_size < sizeof(struct bulwark_plugin)) {
        seterr(err, errlen, "plugin %s: descriptor of %u bytes, ABI version %d needs %zu", path,
               (unsigned)p->struct_size, BULWARK_PLUGIN_ABI_VERSION, sizeof(struct bulwark_plugin));
        return -1;
    }
    if (!name_ok(p->name)) {
        seterr(err, errlen, "plugin %s: its name must be 1..%d characters of [A-Za-z0-9_.-]", path,
               BULWARK_PLUGIN_NAME_MAX);
        return -1;
    }
    if (!p->authenticate) {
        seterr(err, errlen, "plugin %s (%s) has no authenticate function", path, p->name);
        return -1;
    }
    return 0;
}

struct auth_backend *plugin_backend_load(const char *path, const char *config, char *err,
                                         size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    if (!path) {
        seterr(err, errlen, "no plugin path");
        return NULL;
    }
    if (check_file(path, err, errlen) < 0)
        return NULL;
    if (sodium_init() < 0) {
        seterr(err, errlen, "libsodium failed to initialise");
        return NULL;
    }
    dlerror();
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        seterr(err, errlen, "cannot load plugin: %s", why ? why : path);
        return NULL;
    }
    void *sym = dlsym(handle, BULWARK_PLUGIN_ENTRY);
    if (!sym) {
        seterr(err, errlen, "%s is not a bulwark plugin of ABI version %d: it does not export %s()",
               path, BULWARK_PLUGIN_ABI_VERSION, BULWARK_PLUGIN_ENTRY);
        dlclose(handle);
        return NULL;
    }
    /* POSIX guarantees that a dlsym result converts to a function pointer. */
    bulwark_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof(entry));
    const struct bulwark_plugin *p = entry();
    if (check_descriptor(p, path, err, errlen) < 0) {
        dlclose(handle);
        return NULL;
    }
    struct plugin_backend *pb = calloc(1, sizeof(*pb));
    if (!pb) {
        seterr(err, errlen, "out of memory");
        dlclose(handle);
        return NULL;
    }
    pb->handle = handle;
    pb->authenticate = p->authenticate;
    pb->destroy = p->destroy;
    snprintf(pb->name, sizeof(pb->name), "plugin:%s", p->name);
    if (p->init) {
        int rc = p->init(config ? config : "", &pb->pctx);
        if (rc != 0) {
            /* The config string is not echoed: it may hold a secret. */
            seterr(err, errlen, "plugin %s (%s): init refused its configuration (%d)", path,
                   p->name, rc);
            dlclose(handle);
            free(pb);
            return NULL;
        }
    }
    pb->base.name = pb->name;
    pb->base.ctx = pb;
    pb->base.authenticate = plugin_authenticate;
    pb->base.destroy = plugin_destroy;
    return &pb->base;
}
