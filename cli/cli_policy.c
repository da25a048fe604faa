#include "cli_policy.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "policy.h"

#define ERR_MAX 32768
#define CERT_FIELD_MAX 256
#define CERT_SANS_MAX 32
#define GN_DNS 2 /* GeneralName tags (RFC 5280): dNSName, uniformResourceIdentifier */
#define GN_URI 6

static void usage(void)
{
    fprintf(stderr,
            "usage: bulwark policy check FILE\n"
            "       bulwark policy test FILE --client-id ID [SUBJECT] (--publish|--subscribe) "
            "TOPIC\n"
            "                           [--qos N] [--retain]\n"
            "       bulwark policy explain FILE --client-id ID [SUBJECT]\n"
            "SUBJECT: [--user NAME] [--identity NAME] [--issuer NAME] [--cert PEM] "
            "[--anonymous]\n"
            "  --user      the CONNECT user name; also the identity unless --identity is given\n"
            "  --identity  the name authentication established (default: --user, else the\n"
            "              certificate CN); none makes the client anonymous\n"
            "  --issuer    the token issuer that established --identity (a token subject)\n"
            "  --cert      a PEM client certificate: CN, SANs, serial and fingerprint\n"
            "  --anonymous no identity even with --user or --cert\n"
            "test exits 0 for allow, 1 for deny, 2 for usage or file errors.\n");
}

/* --- certificate fields, read with wolfSSL ------------------------------------------------ */

/* What the TLS layer will hand the auth daemon, filled from a PEM file. */
struct cert_fields {
    struct auth_cert cert;
    char cn[CERT_FIELD_MAX];
    char serial[2 * 32 + 1];
    char fingerprint[2 * crypto_hash_sha256_BYTES + 1];
    char *dns[CERT_SANS_MAX + 1], *uri[CERT_SANS_MAX + 1];
};

static void hex(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* SANs with an embedded NUL or beyond the bounds are dropped, never truncated. */
static void read_sans(WOLFSSL_X509 *x, struct cert_fields *f)
{
    WOLFSSL_STACK *sk = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    if (!sk)
        return;
    size_t nd = 0, nu = 0;
    for (int i = 0; i < wolfSSL_sk_GENERAL_NAME_num(sk); i++) {
        WOLFSSL_GENERAL_NAME *gn = wolfSSL_sk_GENERAL_NAME_value(sk, i);
        if (!gn || (gn->type != GN_DNS && gn->type != GN_URI))
            continue;
        WOLFSSL_ASN1_STRING *s =
            gn->type == GN_DNS ? gn->d.dNSName : gn->d.uniformResourceIdentifier;
        int len = s ? wolfSSL_ASN1_STRING_length(s) : -1;
        const unsigned char *data = s ? wolfSSL_ASN1_STRING_data(s) : NULL;
        if (!data || len <= 0 || len >= CERT_FIELD_MAX || memchr(data, 0, (size_t)len))
            continue;
        char **list = gn->type == GN_DNS ? f->dns : f->uri;
        size_t *n = gn->type == GN_DNS ? &nd : &nu;
        if (*n == CERT_SANS_MAX)
            continue;
        list[*n] = strndup((const char *)data, (size_t)len);
        if (list[*n])
            (*n)++;
    }
    wolfSSL_GENERAL_NAMES_free(sk);
}

static int load_cert(const char *path, struct cert_fields *f)
{
    memset(f, 0, sizeof(*f));
    if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
        fprintf(stderr, "bulwark policy: wolfSSL failed to initialise\n");
        return -1;
    }
    WOLFSSL_X509 *x = wolfSSL_X509_load_certificate_file(path, WOLFSSL_FILETYPE_PEM);
    if (!x) {
        fprintf(stderr, "bulwark policy: %s: not a readable PEM certificate\n", path);
        wolfSSL_Cleanup();
        return -1;
    }
    WOLFSSL_X509_NAME *name = wolfSSL_X509_get_subject_name(x);
    int n = name
                ? wolfSSL_X509_NAME_get_text_by_NID(name, NID_commonName, f->cn, (int)sizeof(f->cn))
                : -1;
    /* A CN with an embedded NUL would read shorter than it is: leave it out. */
    if (n > 0 && (size_t)n < sizeof(f->cn) && strlen(f->cn) == (size_t)n)
        f->cert.cn = f->cn;
    unsigned char serial[32];
    int slen = (int)sizeof(serial);
    if (wolfSSL_X509_get_serial_number(x, serial, &slen) == WOLFSSL_SUCCESS && slen > 0) {
        hex(f->serial, serial, (size_t)slen);
        f->cert.serial_hex = f->serial;
    }
    int dlen = 0;
    const unsigned char *der = wolfSSL_X509_get_der(x, &dlen);
    if (der && dlen > 0) {
        unsigned char digest[crypto_hash_sha256_BYTES];
        crypto_hash_sha256(digest, der, (unsigned long long)dlen);
        hex(f->fingerprint, digest, sizeof(digest));
        f->cert.fingerprint_sha256_hex = f->fingerprint;
    }
    read_sans(x, f);
    f->cert.san_dns = (const char *const *)f->dns;
    f->cert.san_uri = (const char *const *)f->uri;
    wolfSSL_X509_free(x);
    wolfSSL_Cleanup();
    return 0;
}

static void free_cert(struct cert_fields *f)
{
    for (size_t i = 0; f->dns[i]; i++)
        free(f->dns[i]);
    for (size_t i = 0; f->uri[i]; i++)
        free(f->uri[i]);
}

/* --- the commands ----------------------------------------------------------------------------- */

struct args {
    const char *file, *client_id, *user, *identity, *issuer, *cert, *topic;
    int action; /* 0, POLICY_PUBLISH or POLICY_SUBSCRIBE */
    unsigned qos;
    bool retain, anonymous;
};

static int parse_args(int argc, char **argv, bool test, struct args *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **dst = !strcmp(o, "--client-id")  ? &a->client_id
                           : !strcmp(o, "--user")     ? &a->user
                           : !strcmp(o, "--identity") ? &a->identity
                           : !strcmp(o, "--issuer")   ? &a->issuer
                           : !strcmp(o, "--cert")     ? &a->cert
                                                      : NULL;
        if (dst || (test && (!strcmp(o, "--publish") || !strcmp(o, "--subscribe") ||
                             !strcmp(o, "--qos")))) {
            if (!v) {
                fprintf(stderr, "bulwark policy: %s needs a value\n", o);
                return -1;
            }
            i++;
            if (dst) {
                *dst = v;
            } else if (!strcmp(o, "--qos")) {
                if (strlen(v) != 1 || v[0] < '0' || v[0] > '2') {
                    fprintf(stderr, "bulwark policy: --qos must be 0, 1 or 2\n");
                    return -1;
                }
                a->qos = (unsigned)(v[0] - '0');
            } else {
                if (a->action) {
                    fprintf(stderr, "bulwark policy: give one of --publish or --subscribe\n");
                    return -1;
                }
                a->action = !strcmp(o, "--publish") ? POLICY_PUBLISH : POLICY_SUBSCRIBE;
                a->topic = v;
            }
        } else if (test && !strcmp(o, "--retain")) {
            a->retain = true;
        } else if (!strcmp(o, "--anonymous")) {
            a->anonymous = true;
        } else if (o[0] == '-' || a->file) {
            fprintf(stderr, "bulwark policy: unexpected argument '%s'\n", o);
            return -1;
        } else {
            a->file = o;
        }
    }
    if (!a->file || !a->client_id || (test && !a->action)) {
        fprintf(stderr, "bulwark policy: %s\n",
                !a->file        ? "missing FILE"
                : !a->client_id ? "missing --client-id"
                                : "missing --publish TOPIC or --subscribe TOPIC");
        return -1;
    }
    if (a->issuer && !a->identity) {
        fprintf(stderr, "bulwark policy: --issuer needs --identity (the token subject)\n");
        return -1;
    }
    return 0;
}

static struct policy *load(const char *file)
{
    char *err = malloc(ERR_MAX);
    if (!err)
        return NULL;
    struct policy *p = policy_load(file, err, ERR_MAX);
    if (!p)
        fprintf(stderr, "%s\n", err);
    free(err);
    return p;
}

static int check(int argc, char **argv)
{
    if (argc != 3) {
        usage();
        return 2;
    }
    char *err = malloc(ERR_MAX);
    if (!err)
        return 2;
    struct policy *p = policy_load(argv[2], err, ERR_MAX);
    int rc = 0;
    if (!p) {
        fprintf(stderr, "%s\n", err);
        /* A file that cannot be read is a usage problem, not an invalid policy. */
        size_t n = strlen(argv[2]);
        rc = strncmp(err, argv[2], n) == 0 && err[n] == ':' && err[n + 1] == ' ' ? 2 : 1;
    } else {
        printf("%s: ok (%zu identities, %zu rules)\n", argv[2], policy_identity_count(p),
               policy_rule_count(p));
    }
    policy_free(p);
    free(err);
    return rc;
}

/* d answers the request; topic answers the same topic at QoS 0 without retain, which tells a
 * topic no rule grants from a request refused for its QoS or retain flag. */
static void print_decision(const struct policy_decision *d, const struct policy_decision *topic,
                           const struct args *a)
{
    printf("%s\nmax_qos %u\n", d->allow ? "allow" : "deny", d->max_qos);
    if (d->rule_line) {
        printf("rule %s:%u", d->rule_file, d->rule_line);
        if (*d->rule_id)
            printf(" (%s)", d->rule_id);
        printf("\n");
    } else {
        printf("default deny\n");
    }
    if (!topic->allow || a->action != POLICY_PUBLISH)
        return;
    printf("retain %s\n", d->retain_allowed ? "allowed" : "not allowed");
    if (d->payload_max || d->payload_format || d->payload_sealed) {
        printf("payload");
        if (d->payload_max)
            printf(" max %u bytes", d->payload_max);
        if (d->payload_format)
            printf(" %s", d->payload_format == POLICY_PAYLOAD_JSON ? "json" : "utf8");
        if (d->payload_sealed)
            printf(" sealed");
        printf("\n");
    }
    if (!d->allow && a->qos > d->max_qos)
        printf("reason: QoS %u is above the allowed %u\n", a->qos, d->max_qos);
    else if (!d->allow)
        printf("reason: retain is not allowed\n");
}

static int run(int argc, char **argv, bool test)
{
    struct args a;
    if (parse_args(argc, argv, test, &a) < 0) {
        usage();
        return 2;
    }
    struct cert_fields cf;
    memset(&cf, 0, sizeof(cf));
    if (a.cert && load_cert(a.cert, &cf) < 0)
        return 2;
    struct policy *p = load(a.file);
    if (!p) {
        free_cert(&cf);
        return 2;
    }
    const char *identity = a.identity ? a.identity : a.user ? a.user : cf.cert.cn;
    struct policy_subject s = {
        .client_id = a.client_id,
        .client_id_len = strlen(a.client_id),
        .username = a.user,
        .username_len = a.user ? strlen(a.user) : 0,
        .identity = a.anonymous ? NULL : identity,
        .cert = a.cert ? &cf.cert : NULL,
        .issuer = a.anonymous ? NULL : a.issuer,
    };
    int rc = 0;
    if (test) {
        enum policy_action act = (enum policy_action)a.action;
        size_t len = strlen(a.topic);
        struct policy_decision d =
            policy_decide(p, &s, act, a.topic, len, (uint8_t)a.qos, a.retain);
        struct policy_decision t = policy_decide(p, &s, act, a.topic, len, 0, false);
        print_decision(&d, &t, &a);
        rc = d.allow ? 0 : 1;
    } else {
        policy_explain(p, &s, stdout);
    }
    policy_free(p);
    free_cert(&cf);
    return rc;
}

int cli_policy(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 2;
    }
    if (!strcmp(argv[1], "check"))
        return check(argc, argv);
    if (!strcmp(argv[1], "test"))
        return run(argc, argv, true);
    if (!strcmp(argv[1], "explain"))
        return run(argc, argv, false);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage();
        return 0;
    }
    fprintf(stderr, "bulwark policy: unknown command '%s'\n", argv[1]);
    usage();
    return 2;
}
