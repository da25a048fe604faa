/* plugin.h: the ABI between bulwark's auth daemon and an authentication plugin, a shared
 * object loaded with dlopen in the auth daemon only (never in the worker). See
 * docs/PLUGINS.md.
 *
 * Self-contained on purpose: a plugin includes this header and libc headers, nothing else
 * of bulwark. Rules that keep old plugins working when this file grows:
 * - abi_version is and stays the first member of struct bulwark_plugin. A change that
 *   breaks existing plugins bumps BULWARK_PLUGIN_ABI_VERSION and the entry point's name.
 * - Within one ABI version, members are only ever appended to the structs below, and every
 *   struct starts with struct_size, set by whoever fills it: a reader must not use a member
 *   that lies beyond the struct_size it was given. */
#ifndef BULWARK_PLUGIN_H
#define BULWARK_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define BULWARK_PLUGIN_ABI_VERSION 1
#define BULWARK_PLUGIN_ENTRY "bulwark_plugin_v1"

/* Answers of authenticate(). Anything else is taken as DENY ("plugin error"). */
#define BULWARK_PLUGIN_NO_OPINION 0
#define BULWARK_PLUGIN_ALLOW 1
#define BULWARK_PLUGIN_DENY 2

#define BULWARK_PLUGIN_NAME_MAX 24      /* [A-Za-z0-9_.-], 1..24 characters */
#define BULWARK_PLUGIN_IDENTITY_MAX 128 /* including the NUL */
#define BULWARK_PLUGIN_REASON_MAX 128   /* including the NUL */

/* One CONNECT to judge. Every pointer refers to a private copy made for this call only: it
 * is wiped and freed when authenticate() returns, so a plugin must copy what it keeps. Each
 * copy is NUL-terminated (the password may also hold NUL bytes: use its length). */
struct bulwark_plugin_request {
    uint32_t struct_size;
    const char *client_id; /* UTF-8 */
    size_t client_id_len;
    const char *username; /* NULL when the CONNECT had none */
    size_t username_len;
    const uint8_t *password; /* NULL when the CONNECT had none; bytes, may be a token */
    size_t password_len;
    const char *peer;                    /* "address:port" */
    const char *cert_cn;                 /* NULL without a verified client certificate */
    const char *cert_serial_hex;         /* NULL if unknown */
    const char *cert_fingerprint_sha256; /* lower-case hex, NULL if unknown */
    int64_t now;                         /* Unix time, seconds */
};

/* What the plugin reports. Zeroed (struct_size set) before each call. */
struct bulwark_plugin_outcome {
    uint32_t struct_size;
    /* ALLOW: the identity the policy decides on. Required, NUL-terminated, no control
     * characters; an ALLOW without a valid identity becomes DENY. */
    char identity[BULWARK_PLUGIN_IDENTITY_MAX];
    /* Optional, short, for the audit log. Never put a secret here. */
    char reason[BULWARK_PLUGIN_REASON_MAX];
};

struct bulwark_plugin {
    uint32_t abi_version; /* BULWARK_PLUGIN_ABI_VERSION */
    uint32_t struct_size; /* sizeof(struct bulwark_plugin) */
    const char *name;     /* shown in logs as "plugin:<name>" */
    /* Optional. Called once at load with the configured string (never NULL; may be "");
     * stores the plugin's state in *ctx. Returns 0, or non-zero to refuse loading. */
    int (*init)(const char *config, void **ctx);
    /* Required. Returns BULWARK_PLUGIN_NO_OPINION, _ALLOW or _DENY. Runs in the auth
     * daemon's only thread, which answers every connection: keep it quick. */
    int (*authenticate)(void *ctx, const struct bulwark_plugin_request *req,
                        struct bulwark_plugin_outcome *out);
    /* Optional. Called once before the plugin is unloaded. */
    void (*destroy)(void *ctx);
};

/* The entry point's type. The returned struct must stay valid until unload. */
typedef const struct bulwark_plugin *(*bulwark_plugin_entry_fn)(void);

/* Put before the entry point's definition, so that it is exported even when the plugin is
 * built with -fvisibility=hidden. */
#define BULWARK_PLUGIN_EXPORT __attribute__((visibility("default")))

/* What a plugin defines. */
const struct bulwark_plugin *bulwark_plugin_v1(void);

#endif
