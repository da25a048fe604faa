/* example_plugin: an example bulwark authentication plugin (docs/PLUGINS.md). It shows the
 * shape of a plugin; it is not a recommendation over the built-in password file.
 *
 * Config string: "users=/absolute/path [client_prefix=PREFIX]", words separated by blanks.
 * The users file holds one "name:hash" per line, hash being an argon2id string as
 * `bulwark passwd` prints it; blank lines and lines starting with '#' are ignored.
 * Answers: no opinion when the CONNECT has no username or one not in the file (another
 * backend may know it); deny a listed user whose password is missing or wrong, or, with
 * client_prefix, whose client id does not start with the prefix; otherwise allow with the
 * username as identity.
 *
 * Built as a shared object that needs only auth/plugin.h, libc and libsodium:
 *   cc -std=c17 -fPIC -shared -Iauth auth/plugins/example_plugin.c -o example_plugin.so -lsodium */
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

#define MAX_USERS 1024
#define MAX_NAME 64
#define MAX_LINE 512
#define MAX_PREFIX 64

struct user {
    char name[MAX_NAME + 1];
    char hash[crypto_pwhash_STRBYTES];
};

struct example {
    size_t n_users;
    struct user *users;
    char prefix[MAX_PREFIX + 1];
    size_t prefix_len;
};

static void destroy(void *ctx)
{
    struct example *ex = ctx;
    if (!ex)
        return;
    if (ex->users) {
        sodium_memzero(ex->users, ex->n_users * sizeof(*ex->users));
        free(ex->users);
    }
    free(ex);
}

/* Plugins have no error channel but their exit code: say why on stderr, which the auth
 * daemon's log captures. */
static int refuse(const char *file, unsigned line, const char *what)
{
    if (line)
        fprintf(stderr, "example_plugin: %s:%u: %s\n", file, line, what);
    else
        fprintf(stderr, "example_plugin: %s%s%s\n", file, file[0] ? ": " : "", what);
    return -1;
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* One "name:hash" line, without its newline. */
static int add_user(struct example *ex, const char *path, unsigned lineno, char *line)
{
    char *colon = strchr(line, ':');
    if (!colon)
        return refuse(path, lineno, "expected name:hash");
    *colon = '\0';
    const char *hash = colon + 1;
    size_t name_len = strlen(line);
    if (!name_ok(line, name_len))
        return refuse(path, lineno, "user name must be 1..64 characters, no blanks");
    if (strncmp(hash, "$argon2id$", 10) != 0 || strlen(hash) >= crypto_pwhash_STRBYTES)
        return refuse(path, lineno, "hash must be an argon2id string (bulwark passwd)");
    for (size_t i = 0; i < ex->n_users; i++)
        if (strcmp(ex->users[i].name, line) == 0)
            return refuse(path, lineno, "user listed twice");
    if (ex->n_users == MAX_USERS)
        return refuse(path, lineno, "more than 1024 users");
    struct user *u = &ex->users[ex->n_users++];
    memcpy(u->name, line, name_len + 1);
    memcpy(u->hash, hash, strlen(hash) + 1);
    return 0;
}

static int load_users(struct example *ex, const char *path)
{
    if (path[0] != '/')
        return refuse(path, 0, "users file path must be absolute");
    FILE *f = fopen(path, "re");
    if (!f)
        return refuse(path, 0, "cannot open the users file");
    ex->users = calloc(MAX_USERS, sizeof(*ex->users));
    if (!ex->users) {
        fclose(f);
        return refuse(path, 0, "out of memory");
    }
    char line[MAX_LINE + 2];
    unsigned lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n')
            line[--n] = '\0';
        else if (!feof(f))
            rc = refuse(path, lineno, "line longer than 512 bytes");
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        if (rc == 0 && n > 0 && line[0] != '#')
            rc = add_user(ex, path, lineno, line);
    }
    if (rc == 0 && ferror(f))
        rc = refuse(path, 0, "read error");
    sodium_memzero(line, sizeof(line));
    fclose(f);
    return rc;
}

static int init(const char *config, void **ctx)
{
    if (sodium_init() < 0)
        return refuse("", 0, "libsodium failed to initialise");
    struct example *ex = calloc(1, sizeof(*ex));
    if (!ex)
        return refuse("", 0, "out of memory");
    char users_path[4096] = "";
    const char *p = config;
    int rc = 0;
    while (rc == 0 && *p) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, " \t");
        if (n == 0)
            break;
        if (n > 6 && strncmp(p, "users=", 6) == 0 && n - 6 < sizeof(users_path)) {
            memcpy(users_path, p + 6, n - 6);
            users_path[n - 6] = '\0';
        } else if (n > 14 && strncmp(p, "client_prefix=", 14) == 0 && n - 14 <= MAX_PREFIX) {
            memcpy(ex->prefix, p + 14, n - 14);
            ex->prefix_len = n - 14;
            ex->prefix[ex->prefix_len] = '\0';
        } else {
            rc = refuse("", 0, "config: expected users=PATH [client_prefix=PREFIX]");
        }
        p += n;
    }
    if (rc == 0 && !users_path[0])
        rc = refuse("", 0, "config: users=PATH is required");
    if (rc == 0)
        rc = load_users(ex, users_path);
    if (rc != 0) {
        destroy(ex);
        return rc;
    }
    *ctx = ex;
    return 0;
}

static int authenticate(void *ctx, const struct bulwark_plugin_request *req,
                        struct bulwark_plugin_outcome *out)
{
    const struct example *ex = ctx;
    if (!req->username)
        return BULWARK_PLUGIN_NO_OPINION;
    const struct user *u = NULL;
    for (size_t i = 0; i < ex->n_users; i++) {
        const struct user *c = &ex->users[i];
        if (strlen(c->name) == req->username_len &&
            memcmp(c->name, req->username, req->username_len) == 0) {
            u = c;
            break;
        }
    }
    if (!u) {
        /* Spend the time a known user costs, so that timing does not list the users. */
        if (ex->n_users && req->password &&
            crypto_pwhash_str_verify(ex->users[0].hash, (const char *)req->password,
                                     req->password_len) == 0)
            return BULWARK_PLUGIN_NO_OPINION; /* same answer either way */
        return BULWARK_PLUGIN_NO_OPINION;
    }
    if (ex->prefix_len && (req->client_id_len < ex->prefix_len ||
                           memcmp(req->client_id, ex->prefix, ex->prefix_len) != 0)) {
        snprintf(out->reason, sizeof(out->reason), "client id outside %s*", ex->prefix);
        return BULWARK_PLUGIN_DENY;
    }
    if (!req->password) {
        snprintf(out->reason, sizeof(out->reason), "no password");
        return BULWARK_PLUGIN_DENY;
    }
    if (crypto_pwhash_str_verify(u->hash, (const char *)req->password, req->password_len) != 0) {
        snprintf(out->reason, sizeof(out->reason), "bad password");
        return BULWARK_PLUGIN_DENY;
    }
    snprintf(out->identity, sizeof(out->identity), "%s", u->name);
    snprintf(out->reason, sizeof(out->reason), "password ok");
    return BULWARK_PLUGIN_ALLOW;
}

static const struct bulwark_plugin plugin = {
    .abi_version = BULWARK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct bulwark_plugin),
    .name = "example",
    .init = init,
    .authenticate = authenticate,
    .destroy = destroy,
};

BULWARK_PLUGIN_EXPORT const struct bulwark_plugin *bulwark_plugin_v1(void)
{
    return &plugin;
}
