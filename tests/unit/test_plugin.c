/* Unit tests for the plugin ABI (auth/plugin.h) and loader (auth/plugin_loader.c), against
 * the built example plugin and a test plugin.
 *
 * This file is two programs. Built with -DBULWARK_TEST_PLUGIN -fPIC -shared it is the test
 * plugin (build/asan/plugins/test_plugin.so): the environment variable
 * BULWARK_TEST_PLUGIN_MODE, read when the loader calls its entry point, picks a broken
 * descriptor (another ABI version, no name, ...), and the CONNECT username picks its answer.
 * Built normally it is the cmocka test, which finds the plugins in $BULWARK_PLUGIN_DIR or
 * in ../plugins next to its own executable (build/asan/tests -> build/asan/plugins). */
#ifdef BULWARK_TEST_PLUGIN

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

static char config_seen[128];

static int t_init(const char *config, void **ctx)
{
    if (strcmp(config, "fail") == 0)
        return 3;
    snprintf(config_seen, sizeof(config_seen), "%s", config);
    *ctx = config_seen;
    return 0;
}

static void t_destroy(void *ctx)
{
    /* "marker=PATH": prove destroy ran with our ctx by creating PATH. */
    const char *cfg = ctx;
    if (strncmp(cfg, "marker=", 7) == 0) {
        FILE *f = fopen(cfg + 7, "w");
        if (f)
            fclose(f);
    }
}

static int t_authenticate(void *ctx, const struct bulwark_plugin_request *req,
                          struct bulwark_plugin_outcome *out)
{
    const char *u = req->username ? req->username : "";
    if (strcmp(u, "noop") == 0)
        return BULWARK_PLUGIN_NO_OPINION;
    if (strcmp(u, "deny") == 0) {
        snprintf(out->reason, sizeof(out->reason), "nope");
        return BULWARK_PLUGIN_DENY;
    }
    if (strcmp(u, "deny-silent") == 0)
        return BULWARK_PLUGIN_DENY;
    if (strcmp(u, "badrc") == 0)
        return 7;
    if (strcmp(u, "noid") == 0)
        return BULWARK_PLUGIN_ALLOW;
    if (strcmp(u, "ctl") == 0) {
        snprintf(out->identity, sizeof(out->identity), "a\nb");
        return BULWARK_PLUGIN_ALLOW;
    }
    if (strcmp(u, "unterminated") == 0) {
        memset(out->identity, 'x', sizeof(out->identity));
        return BULWARK_PLUGIN_ALLOW;
    }
    if (strcmp(u, "longreason") == 0) {
        memset(out->reason, 'r', sizeof(out->reason));
        out->reason[0] = '\x1b';
        out->reason[1] = '\n';
        return BULWARK_PLUGIN_DENY;
    }
    if (strcmp(u, "cfg") == 0) {
        snprintf(out->identity, sizeof(out->identity), "%s", (const char *)ctx);
        return BULWARK_PLUGIN_ALLOW;
    }
    if (strcmp(u, "echo") == 0) {
        /* What arrived, for the test to compare: where the password lives, sizes, fields. */
        snprintf(out->identity, sizeof(out->identity), "%s|%s|%s|%s|%s|%" PRId64, req->client_id,
                 req->peer, req->cert_cn ? req->cert_cn : "-",
                 req->cert_fingerprint_sha256 ? req->cert_fingerprint_sha256 : "-",
                 req->password ? "pw" : "nopw", req->now);
        snprintf(out->reason, sizeof(out->reason), "%p|%zu|%zu|%u|%d", (const void *)req->password,
                 req->password_len, req->client_id_len, (unsigned)req->struct_size,
                 req->password && req->password[req->password_len] == '\0');
        return BULWARK_PLUGIN_ALLOW;
    }
    snprintf(out->identity, sizeof(out->identity), "%s", u);
    return BULWARK_PLUGIN_ALLOW;
}

static struct bulwark_plugin desc;

BULWARK_PLUGIN_EXPORT const struct bulwark_plugin *bulwark_plugin_v1(void)
{
    const char *mode = getenv("BULWARK_TEST_PLUGIN_MODE");
    if (!mode)
        mode = "good";
    desc = (struct bulwark_plugin){
        .abi_version = BULWARK_PLUGIN_ABI_VERSION,
        .struct_size = sizeof(desc),
        .name = "testplug",
        .init = t_init,
        .authenticate = t_authenticate,
        .destroy = t_destroy,
    };
    if (strcmp(mode, "null") == 0)
        return NULL;
    if (strcmp(mode, "abi2") == 0)
        desc.abi_version = 2;
    if (strcmp(mode, "abi0") == 0)
        desc.abi_version = 0;
    if (strcmp(mode, "small") == 0)
        desc.struct_size = 8;
    if (strcmp(mode, "badname") == 0)
        desc.name = "bad name!";
    if (strcmp(mode, "longname") == 0)
        desc.name = "a-name-of-twenty-five-chr";
    if (strcmp(mode, "noname") == 0)
        desc.name = NULL;
    if (strcmp(mode, "noauth") == 0)
        desc.authenticate = NULL;
    if (strcmp(mode, "noinit") == 0)
        desc.init = NULL, desc.destroy = NULL;
    return &desc;
}

#else /* the test program */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin.h"
#include "plugin_loader.h"

static char plugin_dir[PATH_MAX + 16];
static char example_so[PATH_MAX + 32];
static char test_so[PATH_MAX + 32];
static char tmpdir[64];
static char users_path[128];
static char err[512];
static struct auth_outcome out;

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    const char *env = getenv("BULWARK_PLUGIN_DIR");
    if (env) {
        snprintf(plugin_dir, sizeof(plugin_dir), "%s", env);
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0)
            return -1;
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        *slash = '\0';
        snprintf(plugin_dir, sizeof(plugin_dir), "%s/../plugins", exe);
    }
    char resolved[PATH_MAX];
    if (!realpath(plugin_dir, resolved)) {
        fprintf(stderr, "no plugin directory %s (build the plugins first)\n", plugin_dir);
        return -1;
    }
    snprintf(example_so, sizeof(example_so), "%s/example_plugin.so", resolved);
    snprintf(test_so, sizeof(test_so), "%s/test_plugin.so", resolved);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/bulwark-test-plugin-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(users_path, sizeof(users_path), "%s/users", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static enum auth_result ask_full(struct auth_backend *b, const char *client_id, const char *user,
                                 const void *pw, size_t pw_len)
{
    struct auth_request req = {
        .client_id = (const uint8_t *)client_id,
        .client_id_len = strlen(client_id),
        .username = (const uint8_t *)user,
        .username_len = user ? strlen(user) : 0,
        .password = pw,
        .password_len = pw_len,
        .peer = "198.51.100.7:40000",
        .now = 1700000000,
    };
    memset(&out, 0, sizeof(out));
    return b->authenticate(b->ctx, &req, &out);
}

static enum auth_result ask(struct auth_backend *b, const char *client_id, const char *user,
                            const char *pw)
{
    return ask_full(b, client_id, user, pw, pw ? strlen(pw) : 0);
}

static struct auth_backend *load_mode(const char *mode, const char *config)
{
    setenv("BULWARK_TEST_PLUGIN_MODE", mode, 1);
    struct auth_backend *b = plugin_backend_load(test_so, config, err, sizeof(err));
    unsetenv("BULWARK_TEST_PLUGIN_MODE");
    return b;
}

static void expect_refused(struct auth_backend *b, const char *what)
{
    if (b) {
        b->destroy(b->ctx);
        fail_msg("loaded, expected an error mentioning '%s'", what);
    }
    if (!strstr(err, what))
        fail_msg("error '%s' does not mention '%s'", err, what);
}

/* A users file with the given lines; hashes made with the cheapest argon2id limits. */
static void write_users(const char *text)
{
    FILE *f = fopen(users_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void hash_line(char *dst, size_t cap, const char *name, const void *pw, size_t len)
{
    char hash[crypto_pwhash_STRBYTES];
    assert_int_equal(
        crypto_pwhash_str(hash, pw, len, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN),
        0);
    snprintf(dst, cap, "%s:%s\n", name, hash);
}

/* ---- loader: files and descriptors ---------------------------------------------------- */

static void test_file_checks(void **state)
{
    (void)state;
    expect_refused(
        plugin_backend_load("build/asan/plugins/example_plugin.so", "", err, sizeof(err)),
        "must be absolute");
    expect_refused(plugin_backend_load("example_plugin.so", "", err, sizeof(err)),
                   "must be absolute");
    expect_refused(plugin_backend_load(NULL, "", err, sizeof(err)), "no plugin path");
    char path[256];
    snprintf(path, sizeof(path), "%s/missing.so", tmpdir);
    expect_refused(plugin_backend_load(path, "", err, sizeof(err)), "No such file");
    expect_refused(plugin_backend_load(tmpdir, "", err, sizeof(err)), "not a regular file");

    /* Not a shared object at all. */
    snprintf(path, sizeof(path), "%s/text.so", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not an ELF file\n", f);
    fclose(f);
    chmod(path, 0644);
    expect_refused(plugin_backend_load(path, "", err, sizeof(err)), "cannot load plugin");

    /* A copy of the test plugin: loads while only we may write it, not otherwise. */
    snprintf(path, sizeof(path), "%s/copy.so", tmpdir);
    FILE *in = fopen(test_so, "rb"), *cp = fopen(path, "wb");
    assert_non_null(in);
    assert_non_null(cp);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, cp), n);
    fclose(in);
    fclose(cp);
    chmod(path, 0755);
    struct auth_backend *b = plugin_backend_load(path, "", err, sizeof(err));
    if (!b)
        fail_msg("copy refused: %s", err);
    b->destroy(b->ctx);
    chmod(path, 0775);
    expect_refused(plugin_backend_load(path, "", err, sizeof(err)), "writable by group or others");
    chmod(path, 0757);
    expect_refused(plugin_backend_load(path, "", err, sizeof(err)), "writable by group or others");
    /* Owned by another user (only root can arrange that here). */
    chmod(path, 0755);
    if (geteuid() == 0) {
        assert_int_equal(chown(path, 65534, 65534), 0);
        expect_refused(plugin_backend_load(path, "", err, sizeof(err)), "owned by uid 65534");
    }
    unlink(path);
}

static void test_missing_symbol(void **state)
{
    (void)state;
    /* A real shared object that is not a plugin: the libsodium we are linked with. */
    Dl_info info;
    assert_true(dladdr((void *)sodium_init, &info) != 0);
    assert_non_null(info.dli_fname);
    char path[PATH_MAX];
    assert_non_null(realpath(info.dli_fname, path));
    expect_refused(plugin_backend_load(path, "", err, sizeof(err)),
                   "does not export bulwark_plugin_v1()");
}

static void test_abi_mismatch(void **state)
{
    (void)state;
    expect_refused(load_mode("abi2", ""),
                   "speaks plugin ABI version 2, this bulwark speaks version 1");
    expect_refused(load_mode("abi0", ""), "ABI version 0");
    expect_refused(load_mode("small", ""), "descriptor of 8 bytes");
    expect_refused(load_mode("null", ""), "bulwark_plugin_v1() returned NULL");
    expect_refused(load_mode("noname", ""), "its name must be");
    expect_refused(load_mode("badname", ""), "its name must be");
    expect_refused(load_mode("longname", ""), "its name must be");
    expect_refused(load_mode("noauth", ""), "no authenticate function");
    /* The test plugin's descriptor itself is fine. */
    struct auth_backend *b = load_mode("good", "");
    if (!b)
        fail_msg("good plugin refused: %s", err);
    assert_string_equal(b->name, "plugin:testplug");
    b->destroy(b->ctx);
}

static void test_init_and_destroy(void **state)
{
    (void)state;
    expect_refused(load_mode("good", "fail"), "init refused its configuration (3)");
    /* The config string is not repeated in the error: it may be secret. */
    assert_null(strstr(err, "fail'"));

    char marker[128], cfg[160];
    snprintf(marker, sizeof(marker), "%s/destroyed", tmpdir);
    snprintf(cfg, sizeof(cfg), "marker=%s", marker);
    struct auth_backend *b = load_mode("good", cfg);
    assert_non_null(b);
    assert_int_equal(ask(b, "c", "cfg", NULL), AUTH_ALLOW);
    assert_string_equal(out.identity, cfg); /* init got the config string */
    assert_int_equal(access(marker, F_OK), -1);
    b->destroy(b->ctx);
    assert_int_equal(access(marker, F_OK), 0);

    /* NULL config reaches init as "". */
    b = load_mode("good", NULL);
    assert_non_null(b);
    assert_int_equal(ask(b, "c", "cfg", NULL), AUTH_DENY); /* empty identity */
    b->destroy(b->ctx);

    /* init and destroy are optional. */
    b = load_mode("noinit", "ignored");
    if (!b)
        fail_msg("refused: %s", err);
    assert_int_equal(ask(b, "c", "someone", NULL), AUTH_ALLOW);
    assert_string_equal(out.identity, "someone");
    b->destroy(b->ctx);
}

/* ---- loader: answers ------------------------------------------------------------------ */

static void test_answers(void **state)
{
    (void)state;
    struct auth_backend *b = load_mode("good", "");
    assert_non_null(b);

    memset(&out, 0, sizeof(out));
    assert_int_equal(ask(b, "c", "noop", "x"), AUTH_NO_OPINION);
    assert_string_equal(out.identity, "");

    assert_int_equal(ask(b, "c", "deny", "x"), AUTH_DENY);
    assert_string_equal(out.reason, "nope");
    assert_string_equal(out.backend, "plugin:testplug");
    assert_string_equal(out.identity, "");

    assert_int_equal(ask(b, "c", "deny-silent", "x"), AUTH_DENY);
    assert_string_equal(out.reason, "denied by plugin");

    assert_int_equal(ask(b, "c", "alice", "x"), AUTH_ALLOW);
    assert_string_equal(out.identity, "alice");
    assert_string_equal(out.reason, "allowed by plugin");
    assert_string_equal(out.backend, "plugin:testplug");

    /* Answers outside the ABI fail closed. */
    assert_int_equal(ask(b, "c", "badrc", "x"), AUTH_DENY);
    assert_string_equal(out.reason, "plugin error (answer 7)");
    assert_int_equal(ask(b, "c", "noid", "x"), AUTH_DENY);
    assert_string_equal(out.reason, "plugin allowed without a valid identity");
    assert_string_equal(out.identity, "");
    assert_int_equal(ask(b, "c", "ctl", "x"), AUTH_DENY);
    assert_string_equal(out.identity, "");
    assert_int_equal(ask(b, "c", "unterminated", "x"), AUTH_DENY);
    assert_string_equal(out.identity, "");

    /* An unterminated reason with control characters is cut and cleaned. */
    assert_int_equal(ask(b, "c", "longreason", "x"), AUTH_DENY);
    assert_int_equal(strlen(out.reason), sizeof(out.reason) - 1);
    assert_memory_equal(out.reason, "??rrr", 5);
    b->destroy(b->ctx);
}

static void test_request_is_copied(void **state)
{
    (void)state;
    struct auth_backend *b = load_mode("good", "");
    assert_non_null(b);
    static const char pw[] = "s3cr\0t";
    struct auth_cert cert = {.cn = "device-7", .fingerprint_sha256_hex = "ab12"};
    struct auth_request req = {
        .client_id = (const uint8_t *)"cid-1",
        .client_id_len = 5,
        .username = (const uint8_t *)"echo",
        .username_len = 4,
        .password = (const uint8_t *)pw,
        .password_len = 6,
        .peer = "198.51.100.7:40000",
        .cert = &cert,
        .now = 1700000123,
    };
    memset(&out, 0, sizeof(out));
    assert_int_equal(b->authenticate(b->ctx, &req, &out), AUTH_ALLOW);
    assert_string_equal(out.identity, "cid-1|198.51.100.7:40000|device-7|ab12|pw|1700000123");
    char want_tail[64];
    snprintf(want_tail, sizeof(want_tail), "|6|5|%zu|1", sizeof(struct bulwark_plugin_request));
    char *bar = strchr(out.reason, '|');
    assert_non_null(bar);
    assert_string_equal(bar, want_tail);
    /* The plugin saw a copy of the password, not the caller's buffer. */
    char mine[32];
    snprintf(mine, sizeof(mine), "%p", (const void *)pw);
    *bar = '\0';
    assert_string_not_equal(out.reason, mine);

    /* Absent username and password stay absent. */
    req.username = NULL;
    req.username_len = 0;
    req.password = NULL;
    req.password_len = 0;
    req.cert = NULL;
    assert_int_equal(b->authenticate(b->ctx, &req, &out), AUTH_DENY); /* identity "" */

    /* Oversized fields are refused before the plugin sees them. */
    req.username = (const uint8_t *)"echo";
    req.username_len = 4;
    req.client_id_len = 65536;
    memset(&out, 0, sizeof(out));
    assert_int_equal(b->authenticate(b->ctx, &req, &out), AUTH_DENY);
    assert_string_equal(out.reason, "request too large for a plugin");
    b->destroy(b->ctx);
}

/* ---- the example plugin ----------------------------------------------------------------- */

static void test_example_plugin(void **state)
{
    (void)state;
    char lines[1024], line[256];
    hash_line(lines, sizeof(lines), "alice", "wonderland", 10);
    hash_line(line, sizeof(line), "bob", "b\0b", 3); /* a password with a NUL byte */
    char text[2048];
    snprintf(text, sizeof(text), "# users\n\n%s%s", lines, line);
    write_users(text);
    char cfg[256];
    snprintf(cfg, sizeof(cfg), "users=%s client_prefix=dev-", users_path);
    struct auth_backend *b = plugin_backend_load(example_so, cfg, err, sizeof(err));
    if (!b)
        fail_msg("example plugin refused: %s", err);
    assert_string_equal(b->name, "plugin:example");

    assert_int_equal(ask(b, "dev-1", "alice", "wonderland"), AUTH_ALLOW);
    assert_string_equal(out.identity, "alice");
    assert_string_equal(out.backend, "plugin:example");
    assert_int_equal(ask(b, "dev-1", "alice", "wonderlanD"), AUTH_DENY);
    assert_string_equal(out.reason, "bad password");
    assert_int_equal(ask(b, "dev-1", "alice", "wonderland "), AUTH_DENY);
    assert_int_equal(ask(b, "dev-1", "alice", ""), AUTH_DENY);
    assert_int_equal(ask(b, "dev-1", "alice", NULL), AUTH_DENY);
    assert_string_equal(out.reason, "no password");
    assert_int_equal(ask(b, "srv-1", "alice", "wonderland"), AUTH_DENY);
    assert_string_equal(out.reason, "client id outside dev-*");
    assert_int_equal(ask(b, "dev", "alice", "wonderland"), AUTH_DENY);
    assert_int_equal(ask(b, "dev-", "alice", "wonderland"), AUTH_ALLOW);

    /* Not ours to judge: someone the file does not list, or no username. */
    assert_int_equal(ask(b, "dev-1", "mallory", "wonderland"), AUTH_NO_OPINION);
    assert_int_equal(ask(b, "dev-1", "alic", "wonderland"), AUTH_NO_OPINION);
    assert_int_equal(ask(b, "dev-1", "alice2", "wonderland"), AUTH_NO_OPINION);
    assert_int_equal(ask(b, "dev-1", NULL, "wonderland"), AUTH_NO_OPINION);

    /* The password's length travels with it: bytes after a NUL count. */
    assert_int_equal(ask_full(b, "dev-2", "bob", "b\0b", 3), AUTH_ALLOW);
    assert_string_equal(out.identity, "bob");
    assert_int_equal(ask_full(b, "dev-2", "bob", "b\0b", 1), AUTH_DENY);
    assert_int_equal(ask_full(b, "dev-2", "bob", "b\0c", 3), AUTH_DENY);
    b->destroy(b->ctx);

    /* Without client_prefix any client id will do. */
    snprintf(cfg, sizeof(cfg), "  users=%s  ", users_path);
    b = plugin_backend_load(example_so, cfg, err, sizeof(err));
    if (!b)
        fail_msg("example plugin refused: %s", err);
    assert_int_equal(ask(b, "anything", "alice", "wonderland"), AUTH_ALLOW);
    b->destroy(b->ctx);
}

static void test_example_plugin_config(void **state)
{
    (void)state;
    char line[256], text[1024], cfg[256];
    hash_line(line, sizeof(line), "alice", "pw", 2);
    write_users(line);
    snprintf(cfg, sizeof(cfg), "users=%s", users_path);
    struct auth_backend *b = plugin_backend_load(example_so, cfg, err, sizeof(err));
    assert_non_null(b);
    b->destroy(b->ctx);

    static const char *const bad_cfg[] = {"",
                                          "users=",
                                          "users=relative/file",
                                          "users=/nonexistent/file",
                                          "user=/etc/passwd",
                                          "client_prefix=dev-"};
    for (size_t i = 0; i < sizeof(bad_cfg) / sizeof(bad_cfg[0]); i++)
        expect_refused(plugin_backend_load(example_so, bad_cfg[i], err, sizeof(err)),
                       "init refused");
    snprintf(cfg, sizeof(cfg), "users=%s colour=blue", users_path);
    expect_refused(plugin_backend_load(example_so, cfg, err, sizeof(err)), "init refused");

    /* Bad users files: no colon, a hash that is not argon2id, a user twice, blanks in a
     * name, an over-long line. */
    snprintf(cfg, sizeof(cfg), "users=%s", users_path);
    static const char *const bad_files[] = {
        "alice\n",
        "alice:$2y$10$abcdefghijklmnopqrstuv\n",
        "alice:plaintext\n",
        ":$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA\n",
        "al ice:$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA\n",
    };
    for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
        write_users(bad_files[i]);
        expect_refused(plugin_backend_load(example_so, cfg, err, sizeof(err)), "init refused");
    }
    snprintf(text, sizeof(text), "%s%s", line, line);
    write_users(text);
    expect_refused(plugin_backend_load(example_so, cfg, err, sizeof(err)), "init refused");
    char longline[700];
    memset(longline, 'a', sizeof(longline) - 2);
    longline[sizeof(longline) - 2] = '\n';
    longline[sizeof(longline) - 1] = '\0';
    write_users(longline);
    expect_refused(plugin_backend_load(example_so, cfg, err, sizeof(err)), "init refused");
    /* An empty file is a valid, if useless, list: every answer is no opinion. */
    write_users("# nobody yet\n");
    b = plugin_backend_load(example_so, cfg, err, sizeof(err));
    assert_non_null(b);
    assert_int_equal(ask(b, "c", "alice", "pw"), AUTH_NO_OPINION);
    b->destroy(b->ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_checks),    cmocka_unit_test(test_missing_symbol),
        cmocka_unit_test(test_abi_mismatch),   cmocka_unit_test(test_init_and_destroy),
        cmocka_unit_test(test_answers),        cmocka_unit_test(test_request_is_copied),
        cmocka_unit_test(test_example_plugin), cmocka_unit_test(test_example_plugin_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

#endif
