#include "cli_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "cert_fields.h"
#include "policy.h"

#define ERR_MAX 32768

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

static int load_cert(const char *path, struct cert_fields *f)
{
    if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
        fprintf(stderr, "bulwark policy: wolfSSL failed to initialise\n");
        return -1;
    }
    int rc = cert_fields_from_pem_file(path, f);
    if (rc != 0)
        fprintf(stderr, "bulwark policy: %s: not a readable PEM certificate\n", path);
    wolfSSL_Cleanup();
    return rc;
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
        cert_fields_free(&cf);
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
    cert_fields_free(&cf);
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
