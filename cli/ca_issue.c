#include "ca_issue.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ca_store.h"
#include "ca_x509.h"
#include "readfile.h"

#include <wolfssl/wolfcrypt/wc_port.h>

#define DAY 86400
#define SKEW_S 300     /* notBefore this far in the past: devices with a slow clock */
#define CA_NAME_MAX 64 /* X.520 upper bound for a CN */
#define URI_MAX 512
#define DNS_MAX 253

struct days_rule {
    long def, max;
};
static const struct days_rule DAYS_CA = {3650, 10950};
static const struct days_rule DAYS_CLIENT = {365, 3650};
static const struct days_rule DAYS_SERVER = {398, 398}; /* what browsers' rules allow */

static int failf(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int failf(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bulwark ca %s: ", cmd);
    vfprintf(stderr, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): false positive */
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

bool ca_valid_client_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > CA_CN_MAX || id[0] == ' ' || id[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c < 0x20 || c > 0x7e || c == '/' || c == '+' || c == '#')
            return false;
    }
    return true;
}

static bool valid_ca_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CA_NAME_MAX || s[0] == ' ' || s[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    }
    return true;
}

/* A host name of letters, digits and '-' labels (RFC 1123), or "*." and such a name. */
static bool valid_dns(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > DNS_MAX)
        return false;
    if (s[0] == '*' && s[1] == '.' && strchr(s + 2, '.'))
        s += 2; /* a wildcard covers one label, and not a whole top-level domain */
    for (;;) {
        size_t len = strcspn(s, ".");
        if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
            return false;
        for (size_t i = 0; i < len; i++) {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-'))
                return false;
        }
        if (s[len] == '\0')
            return true;
        s += len + 1;
    }
}

/* scheme ":" rest (RFC 3986 scheme), visible ASCII only. */
static bool valid_uri(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > URI_MAX)
        return false;
    size_t colon = strcspn(s, ":");
    if (colon == 0 || colon == n || colon + 1 == n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c <= 0x20 || c > 0x7e)
            return false;
        if (i == 0 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return false;
        if (i > 0 && i < colon &&
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static int pick_days(const char *cmd, long given, const struct days_rule *r, long *out)
{
    if (given == 0) {
        *out = r->def;
        return 0;
    }
    if (given < 1 || given > r->max)
        return failf(cmd, "--days must be 1..%ld here", r->max);
    *out = given;
    return 0;
}

static int join(char *out, size_t cap, const char *a, const char *b, const char *c)
{
    int n = snprintf(out, cap, "%s%s%s", a, b, c);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 || errno != ENOENT;
}

/* Reads the CA of dir; refuses a ca.key that others may read. */
static int load_ca(const char *cmd, const char *dir, struct ca_issuer *is)
{
    char crt_path[4096], key_path[4096], err[512];
    if (join(crt_path, sizeof(crt_path), dir, "/ca.crt", "") ||
        join(key_path, sizeof(key_path), dir, "/ca.key", ""))
        return failf(cmd, "%s: path too long", dir);
    struct stat st;
    if (stat(key_path, &st) != 0)
        return failf(cmd, "%s: %s (is %s a CA directory? see bulwark ca init)", key_path,
                     strerror(errno), dir);
    if (st.st_mode & 077)
        return failf(cmd, "%s has mode %04o: others could read the CA key; chmod 600 it", key_path,
                     (unsigned)(st.st_mode & 07777));
    size_t crt_len, key_len;
    char *crt = read_file_bounded(crt_path, CA_INPUT_MAX, &crt_len, err, sizeof(err));
    if (!crt)
        return failf(cmd, "%s", err);
    char *key = read_file_bounded(key_path, CA_INPUT_MAX, &key_len, err, sizeof(err));
    if (!key) {
        free(crt);
        return failf(cmd, "%s", err);
    }
    int rc = ca_issuer_load(is, crt, crt_len, key, key_len, err, sizeof(err));
    free(crt);
    ca_secret_free(key, CA_INPUT_MAX + 1);
    if (rc != 0)
        return failf(cmd, "%s: %s", dir, err);
    return 0;
}

/* 16 random bytes, positive (top bit clear) and without a leading zero byte, unused in ix. */
static int new_serial(WC_RNG *rng, const struct ca_index *ix, uint8_t *serial, char *hex)
{
    for (int attempt = 0; attempt < 64; attempt++) {
        if (wc_RNG_GenerateBlock(rng, serial, CA_SERIAL_BYTES) != 0)
            return -1;
        serial[0] &= 0x7f;
        if (serial[0] == 0)
            continue;
        char raw[2 * CA_SERIAL_BYTES + 1];
        for (size_t i = 0; i < CA_SERIAL_BYTES; i++)
            snprintf(raw + 2 * i, 3, "%02x", serial[i]);
        /* canonical text: a first byte below 0x10 leaves no leading '0' */
        if (serial_normalize(raw, hex, 2 * CA_SERIAL_BYTES + 1) && !ca_index_find(ix, hex))
            return 0;
    }
    return -1;
}

static int write_cert_file(const char *path, const uint8_t *der, size_t len, char *err,
                           size_t errlen)
{
    size_t pem_len;
    char *pem = ca_cert_pem(der, len, &pem_len);
    if (!pem) {
        snprintf(err, errlen, "PEM encoding failed");
        return -1;
    }
    int rc = ca_write_new(path, pem, pem_len, 0644, err, errlen);
    free(pem);
    return rc;
}

int ca_cmd_init(const struct ca_opts *o)
{
    const char *cmd = "init";
    const char *name = o->name ? o->name : "bulwark device CA";
    long days = 0;
    if (!valid_ca_name(name))
        return failf(cmd, "--name must be 1..%d printable ASCII characters", CA_NAME_MAX);
    if (pick_days(cmd, o->days, &DAYS_CA, &days))
        return 1;

    if (mkdir(o->dir, 0700) != 0) {
        struct stat st;
        if (errno != EEXIST || stat(o->dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return failf(cmd, "%s: cannot create the directory: %s", o->dir,
                         errno == EEXIST ? "exists and is no directory" : strerror(errno));
    }
    char err[512], crt_path[4096], key_path[4096], issued[4096];
    if (join(crt_path, sizeof(crt_path), o->dir, "/ca.crt", "") ||
        join(key_path, sizeof(key_path), o->dir, "/ca.key", "") ||
        join(issued, sizeof(issued), o->dir, "/issued", ""))
        return failf(cmd, "%s: path too long", o->dir);
    int lock = ca_lock(o->dir, true, err, sizeof(err));
    if (lock < 0)
        return failf(cmd, "%s", err);
    static const char *const parts[] = {"ca.crt", "ca.key", "index.tsv", "serial-state", "revoked"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        char p[4096];
        if (join(p, sizeof(p), o->dir, "/", parts[i]) || exists(p)) {
            ca_unlock(lock);
            return failf(cmd, "%s already holds a CA (%s exists); refusing to overwrite it", o->dir,
                         parts[i]);
        }
    }
    /* The directory will hold the CA key: nobody else may look inside. */
    if (chmod(o->dir, 0700) != 0) {
        ca_unlock(lock);
        return failf(cmd, "%s: %s", o->dir, strerror(errno));
    }

    WC_RNG rng;
    struct ca_key key = {0};
    uint8_t der[CA_CERT_MAX];
    size_t der_len = 0, pem_len = 0;
    char *key_pem = NULL;
    char hex[2 * CA_SERIAL_BYTES + 1];
    int rc = 1;
    if (wc_InitRng(&rng) != 0) {
        ca_unlock(lock);
        return failf(cmd, "cannot initialise the random number generator");
    }
    struct ca_index none;
    ca_index_init(&none);
    int64_t now = (int64_t)time(NULL);
    struct ca_cert_spec spec = {
        .kind = CA_KIND_CA,
        .cn = name,
        .org = "bulwark",
        .not_before = now - SKEW_S,
        .not_after = now + days * DAY,
    };
    if (new_serial(&rng, &none, spec.serial, hex) != 0) {
        failf(cmd, "random number generator failed");
        goto out;
    }
    if (ca_key_generate(&key, o->ed25519 ? CA_ALG_ED25519 : CA_ALG_P256, &rng, err, sizeof(err)) !=
            0 ||
        ca_cert_make(&spec, &key, NULL, &rng, der, sizeof(der), &der_len, err, sizeof(err)) != 0 ||
        !(key_pem = ca_key_pem(&key, &pem_len, err, sizeof(err)))) {
        failf(cmd, "%s", err);
        goto out;
    }
    if (ca_write_new(key_path, key_pem, pem_len, 0600, err, sizeof(err)) != 0) {
        failf(cmd, "%s", err);
        goto out;
    }
    bool written = write_cert_file(crt_path, der, der_len, err, sizeof(err)) == 0 &&
                   ca_store_init(o->dir, err, sizeof(err)) == 0;
    if (!written)
        failf(cmd, "%s", err);
    else if (mkdir(issued, 0700) != 0 && errno != EEXIST) {
        failf(cmd, "%s: %s", issued, strerror(errno));
        written = false;
    }
    if (!written) {
        /* leave no half CA behind, which a second init would refuse to replace */
        for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
            char p[4096];
            if (!join(p, sizeof(p), o->dir, "/", parts[i]))
                unlink(p);
        }
        goto out;
    }
    char until[32];
    ca_iso8601(spec.not_after, until, sizeof(until));
    printf("created CA \"%s\" (%s) in %s, valid until %s\n"
           "  certificate %s  (mode 0644: give it to brokers and devices)\n"
           "  key         %s  (mode 0600: keep it secret, ideally offline)\n",
           name, ca_alg_name(key.alg), o->dir, until, crt_path, key_path);
    rc = 0;
out:
    ca_secret_free(key_pem, pem_len);
    ca_key_free(&key);
    wc_FreeRng(&rng);
    ca_unlock(lock);
    return rc;
}

/* What issue, sign and server-cert have in common. */
struct leaf {
    const char *cmd;
    enum ca_kind kind;
    const char *cn;
    struct ca_san sans[4 * CA_MULTI_MAX];
    size_t nsans;
    uint8_t ip[CA_MULTI_MAX][16];
    long days;
    struct ca_key *subject; /* NULL: generate a P-256 or Ed25519 key */
    bool ed25519;
    char crt_path[4096], key_path[4096]; /* key_path "" for sign */
    bool default_dir;                    /* the paths are under DIR/issued */
};

static int add_sans(struct leaf *l, const struct ca_opts *o)
{
    for (size_t i = 0; i < o->n_san_uri; i++) {
        if (!valid_uri(o->san_uri[i]))
            return failf(l->cmd,
                         "--san-uri '%s' is not a URI (scheme:rest, at most %d visible "
                         "ASCII characters)",
                         o->san_uri[i], URI_MAX);
        l->sans[l->nsans++] =
            (struct ca_san){CA_SAN_URI, (const uint8_t *)o->san_uri[i], strlen(o->san_uri[i])};
    }
    for (size_t i = 0; i < o->n_san_dns; i++) {
        if (!valid_dns(o->san_dns[i]))
            return failf(l->cmd, "--san-dns '%s' is not a host name", o->san_dns[i]);
        l->sans[l->nsans++] =
            (struct ca_san){CA_SAN_DNS, (const uint8_t *)o->san_dns[i], strlen(o->san_dns[i])};
    }
    return 0;
}

/* PREFIX.crt and PREFIX.key (or just FILE for sign), refusing existing files up front so a
 * failure cannot leave half a pair. */
static int set_paths(struct leaf *l, const struct ca_opts *o, const char *def_prefix, bool with_key)
{
    char prefix[4096];
    if (o->out) {
        if (join(prefix, sizeof(prefix), o->out, "", ""))
            return failf(l->cmd, "--out: path too long");
    } else if (join(prefix, sizeof(prefix), o->dir, "/", def_prefix)) {
        return failf(l->cmd, "%s: path too long", o->dir);
    }
    l->default_dir = !o->out && l->kind == CA_KIND_CLIENT;
    if (!with_key) {
        /* sign: --out names the certificate file itself */
        if (join(l->crt_path, sizeof(l->crt_path), prefix, o->out ? "" : ".crt", ""))
            return failf(l->cmd, "path too long");
        l->key_path[0] = '\0';
    } else if (join(l->crt_path, sizeof(l->crt_path), prefix, ".crt", "") ||
               join(l->key_path, sizeof(l->key_path), prefix, ".key", "")) {
        return failf(l->cmd, "path too long");
    }
    if (exists(l->crt_path))
        return failf(l->cmd, "%s exists; not overwritten (remove it or choose --out)", l->crt_path);
    if (l->key_path[0] && exists(l->key_path))
        return failf(l->cmd, "%s exists; not overwritten (remove it or choose --out)", l->key_path);
    return 0;
}

static int issue_leaf(struct leaf *l, const struct ca_opts *o)
{
    const char *cmd = l->cmd;
    char err[512];
    int lock = ca_lock(o->dir, true, err, sizeof(err));
    if (lock < 0)
        return failf(cmd, "%s", err);
    struct ca_issuer *is = calloc(1, sizeof(*is));
    struct ca_index ix;
    ca_index_init(&ix);
    struct ca_key own = {0};
    uint8_t *der = malloc(CA_CERT_MAX);
    size_t der_len = 0, pem_len = 0;
    char *key_pem = NULL;
    bool key_written = false;
    WC_RNG rng;
    bool rng_ok = false;
    int rc = 1;
    if (!is || !der) {
        failf(cmd, "out of memory");
        goto out;
    }
    if (load_ca(cmd, o->dir, is) != 0)
        goto out;
    if (ca_index_load(o->dir, &ix, err, sizeof(err)) != 0) {
        failf(cmd, "%s", err);
        goto out;
    }
    int64_t now = (int64_t)time(NULL);
    char ca_until[32];
    ca_iso8601(is->not_after, ca_until, sizeof(ca_until));
    if (is->not_after <= now) {
        failf(cmd, "the CA certificate expired on %s; rotate it (docs/CA.md)", ca_until);
        goto out;
    }
    struct ca_cert_spec spec = {
        .kind = l->kind,
        .cn = l->cn,
        .not_before = now - SKEW_S,
        .not_after = now + l->days * DAY,
        .sans = l->sans,
        .nsans = l->nsans,
    };
    if (spec.not_after > is->not_after) {
        failf(cmd,
              "a certificate for %ld days would outlive the CA, which expires on %s (%lld "
              "days left); use a smaller --days or rotate the CA (docs/CA.md)",
              l->days, ca_until, (long long)((is->not_after - now) / DAY));
        goto out;
    }
    if (wc_InitRng(&rng) != 0) {
        failf(cmd, "cannot initialise the random number generator");
        goto out;
    }
    rng_ok = true;
    char hex[2 * CA_SERIAL_BYTES + 1];
    if (new_serial(&rng, &ix, spec.serial, hex) != 0) {
        failf(cmd, "cannot draw an unused serial number");
        goto out;
    }
    struct ca_key *subject = l->subject;
    if (!subject) {
        if (ca_key_generate(&own, l->ed25519 ? CA_ALG_ED25519 : CA_ALG_P256, &rng, err,
                            sizeof(err)) != 0 ||
            !(key_pem = ca_key_pem(&own, &pem_len, err, sizeof(err)))) {
            failf(cmd, "%s", err);
            goto out;
        }
        subject = &own;
    }
    if (ca_cert_make(&spec, subject, is, &rng, der, CA_CERT_MAX, &der_len, err, sizeof(err))) {
        failf(cmd, "%s", err);
        goto out;
    }
    if (l->default_dir) {
        char issued[4096];
        if (join(issued, sizeof(issued), o->dir, "/issued", "") ||
            (mkdir(issued, 0700) != 0 && errno != EEXIST)) {
            failf(cmd, "%s/issued: %s", o->dir, strerror(errno));
            goto out;
        }
    }
    if (key_pem) {
        if (ca_write_new(l->key_path, key_pem, pem_len, 0600, err, sizeof(err)) != 0) {
            failf(cmd, "%s", err);
            goto out;
        }
        key_written = true;
    }
    if (write_cert_file(l->crt_path, der, der_len, err, sizeof(err)) != 0) {
        failf(cmd, "%s", err);
        goto out;
    }
    struct ca_record rec = {
        .kind = l->kind == CA_KIND_SERVER ? CA_REC_SERVER : CA_REC_CLIENT,
        .issued_at = now,
        .not_after = spec.not_after,
    };
    snprintf(rec.serial, sizeof(rec.serial), "%s", hex);
    snprintf(rec.cn, sizeof(rec.cn), "%s", l->cn);
    if (ca_index_add(&ix, &rec, err, sizeof(err)) != 0 ||
        ca_index_save(o->dir, &ix, err, sizeof(err)) != 0) {
        failf(cmd, "%s", err);
        unlink(l->crt_path);
        goto out;
    }
    key_written = false; /* kept */
    char until[32];
    ca_iso8601(spec.not_after, until, sizeof(until));
    printf("issued a %s certificate for \"%s\" (%s key)\n"
           "  serial      %s\n"
           "  valid until %s\n"
           "  certificate %s\n",
           l->kind == CA_KIND_SERVER ? "server" : "client", l->cn, ca_alg_name(subject->alg), hex,
           until, l->crt_path);
    if (key_pem)
        printf("  key         %s  (mode 0600)\n", l->key_path);
    rc = 0;
out:
    if (key_written)
        unlink(l->key_path);
    ca_secret_free(key_pem, pem_len);
    ca_key_free(&own);
    if (rng_ok)
        wc_FreeRng(&rng);
    if (is)
        ca_issuer_free(is);
    free(is);
    free(der);
    ca_index_free(&ix);
    ca_unlock(lock);
    return rc;
}

static int refuse_id(const char *cmd, const char *id)
{
    return failf(cmd,
                 "client id '%s' refused: 1..%d printable ASCII characters, no '/', '+' or "
                 "'#', no space at either end",
                 id, CA_CN_MAX);
}

int ca_cmd_issue(const struct ca_opts *o)
{
    const char *cmd = "issue";
    if (!ca_valid_client_id(o->client_id))
        return refuse_id(cmd, o->client_id);
    struct leaf *l = calloc(1, sizeof(*l));
    if (!l)
        return failf(cmd, "out of memory");
    l->cmd = cmd;
    l->kind = CA_KIND_CLIENT;
    l->cn = o->client_id;
    l->ed25519 = o->ed25519;
    char def[CA_CN_MAX + 16];
    snprintf(def, sizeof(def), "issued/%s", o->client_id);
    int rc = 1;
    if (!pick_days(cmd, o->days, &DAYS_CLIENT, &l->days) && !add_sans(l, o) &&
        !set_paths(l, o, def, true))
        rc = issue_leaf(l, o);
    free(l);
    return rc;
}

int ca_cmd_sign(const struct ca_opts *o)
{
    const char *cmd = "sign";
    if (o->client_id && !ca_valid_client_id(o->client_id))
        return refuse_id(cmd, o->client_id);
    char err[512], cn[CA_CN_MAX + 1];
    size_t len;
    char *data = read_file_bounded(o->csr, CA_INPUT_MAX, &len, err, sizeof(err));
    if (!data)
        return failf(cmd, "%s", err);
    struct ca_key pub;
    int rc = ca_csr_load((const uint8_t *)data, len, &pub, cn, sizeof(cn), err, sizeof(err));
    free(data);
    if (rc != 0)
        return failf(cmd, "%s: %s", o->csr, err);
    rc = 1;
    struct leaf *l = calloc(1, sizeof(*l));
    if (!l) {
        failf(cmd, "out of memory");
        goto out;
    }
    l->cmd = cmd;
    l->kind = CA_KIND_CLIENT;
    l->subject = &pub;
    l->cn = o->client_id ? o->client_id : cn;
    if (!o->client_id && !ca_valid_client_id(cn)) {
        /* the CN comes from the device: shown with anything unprintable as '?' */
        for (char *p = cn; *p; p++) {
            if (*p < 0x20 || *p > 0x7e)
                *p = '?';
        }
        failf(cmd,
              "%s: the request's CN '%s' is no valid client id (1..%d printable ASCII "
              "characters, no '/', '+' or '#'%s); give --client-id",
              o->csr, cn, CA_CN_MAX, cn[0] ? "" : "; it has none, or a longer one");
        goto out;
    }
    char def[CA_CN_MAX + 16];
    snprintf(def, sizeof(def), "issued/%s", l->cn);
    if (!pick_days(cmd, o->days, &DAYS_CLIENT, &l->days) && !add_sans(l, o) &&
        !set_paths(l, o, def, false))
        rc = issue_leaf(l, o);
out:
    ca_key_free(&pub);
    free(l);
    return rc;
}

int ca_cmd_server_cert(const struct ca_opts *o)
{
    const char *cmd = "server-cert";
    struct leaf *l = calloc(1, sizeof(*l));
    if (!l)
        return failf(cmd, "out of memory");
    l->cmd = cmd;
    l->kind = CA_KIND_SERVER;
    l->cn = o->dns[0];
    int rc = 1;
    for (size_t i = 0; i < o->n_dns; i++) {
        if (!valid_dns(o->dns[i]) || (i == 0 && strlen(o->dns[i]) > CA_CN_MAX)) {
            failf(cmd, "--dns '%s' is not a host name%s", o->dns[i],
                  i == 0 ? " of at most 128 characters (it becomes the CN)" : "");
            goto out;
        }
        l->sans[l->nsans++] =
            (struct ca_san){CA_SAN_DNS, (const uint8_t *)o->dns[i], strlen(o->dns[i])};
    }
    for (size_t i = 0; i < o->n_ip; i++) {
        size_t n = 0;
        if (inet_pton(AF_INET, o->ip[i], l->ip[i]) == 1)
            n = 4;
        else if (inet_pton(AF_INET6, o->ip[i], l->ip[i]) == 1)
            n = 16;
        if (n == 0) {
            failf(cmd, "--ip '%s' is not an IPv4 or IPv6 address", o->ip[i]);
            goto out;
        }
        l->sans[l->nsans++] = (struct ca_san){CA_SAN_IP, l->ip[i], n};
    }
    if (pick_days(cmd, o->days, &DAYS_SERVER, &l->days) || set_paths(l, o, "server", true))
        goto out;
    rc = issue_leaf(l, o);
out:
    free(l);
    return rc;
}
