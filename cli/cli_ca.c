#include "cli_ca.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca_issue.h"
#include "ca_store.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/wc_port.h>

/* Which options a subcommand takes. */
enum {
    OPT_NAME = 1 << 0,
    OPT_ED25519 = 1 << 1,
    OPT_DAYS = 1 << 2,
    OPT_CLIENT_ID = 1 << 3,
    OPT_OUT = 1 << 4,
    OPT_SAN = 1 << 5, /* --san-uri, --san-dns */
    OPT_CSR = 1 << 6,
    OPT_SERVER = 1 << 7, /* --dns, --ip */
    OPT_SERIAL = 1 << 8,
    OPT_JSON = 1 << 9,
    OPT_TARGET = 1 << 10, /* one positional argument */
};

struct subcommand {
    const char *name;
    unsigned opts;
    int (*run)(const struct ca_opts *o);
    const char *usage;
};

static int cmd_revoke(const struct ca_opts *o);
static int cmd_list(const struct ca_opts *o);

static const struct subcommand COMMANDS[] = {
    {"init", OPT_NAME | OPT_ED25519 | OPT_DAYS, ca_cmd_init,
     "bulwark ca init --dir DIR [--name CN] [--ed25519] [--days N]\n"
     "    make DIR (mode 0700) holding a new self-signed CA: ECDSA P-256 (Ed25519 with\n"
     "    --ed25519), CN \"bulwark device CA\" unless --name, valid N days (3650)\n"},
    {"issue", OPT_ED25519 | OPT_DAYS | OPT_CLIENT_ID | OPT_OUT | OPT_SAN, ca_cmd_issue,
     "bulwark ca issue --dir DIR --client-id ID [--out PREFIX] [--days N] [--ed25519]\n"
     "                 [--san-uri URI]... [--san-dns NAME]...\n"
     "    new device key and client certificate with CN=ID, valid N days (365, at most\n"
     "    3650); writes PREFIX.crt and PREFIX.key (mode 0600), PREFIX = DIR/issued/ID\n"},
    {"sign", OPT_DAYS | OPT_CLIENT_ID | OPT_OUT | OPT_SAN | OPT_CSR, ca_cmd_sign,
     "bulwark ca sign --dir DIR --csr FILE [--out FILE] [--days N] [--client-id ID]\n"
     "                [--san-uri URI]... [--san-dns NAME]...\n"
     "    client certificate for the key of a certificate request (its signature must\n"
     "    verify); CN = the request's CN, or ID; writes FILE (DIR/issued/CN.crt)\n"},
    {"server-cert", OPT_DAYS | OPT_OUT | OPT_SERVER, ca_cmd_server_cert,
     "bulwark ca server-cert --dir DIR --dns NAME [--dns NAME]... [--ip ADDR]...\n"
     "                       [--out PREFIX] [--days N]\n"
     "    broker key and server certificate, CN = the first NAME, valid N days (398 at\n"
     "    most); writes PREFIX.crt and PREFIX.key, PREFIX = DIR/server\n"},
    {"revoke", OPT_CLIENT_ID | OPT_SERIAL | OPT_TARGET, cmd_revoke,
     "bulwark ca revoke --dir DIR SERIAL|CLIENT-ID   (or --serial S, --client-id ID)\n"
     "    revoke one certificate, or every valid one of a client id, and rewrite\n"
     "    DIR/revoked (copy it to the broker and reload it with SIGHUP)\n"},
    {"list", OPT_JSON, cmd_list,
     "bulwark ca list --dir DIR [--json]\n"
     "    one line per certificate issued: serial, CN, not-after (UTC), status, kind\n"},
};
#define NCOMMANDS (sizeof(COMMANDS) / sizeof(COMMANDS[0]))

static void usage_all(FILE *f)
{
    fprintf(f, "usage: bulwark ca COMMAND --dir DIR [OPTIONS]   (docs/CA.md)\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %s", COMMANDS[i].usage);
}

static int usage_of(const struct subcommand *c)
{
    fprintf(stderr, "usage: %s", c->usage);
    return 2;
}

static int push(const char **list, size_t *n, const char *v, const char *opt)
{
    if (*n == CA_MULTI_MAX) {
        fprintf(stderr, "bulwark ca: %s given more than %d times\n", opt, CA_MULTI_MAX);
        return -1;
    }
    list[(*n)++] = v;
    return 0;
}

/* Parses argv (argv[0] is the subcommand) into o. Returns 0, or 2 for a usage error. */
static int parse(const struct subcommand *c, int argc, char **argv, struct ca_opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned need = 0;
        bool takes_value = true;
        if (!strcmp(a, "--dir")) {
            need = 0;
        } else if (!strcmp(a, "--name")) {
            need = OPT_NAME;
        } else if (!strcmp(a, "--days")) {
            need = OPT_DAYS;
        } else if (!strcmp(a, "--client-id")) {
            need = OPT_CLIENT_ID;
        } else if (!strcmp(a, "--out")) {
            need = OPT_OUT;
        } else if (!strcmp(a, "--san-uri") || !strcmp(a, "--san-dns")) {
            need = OPT_SAN;
        } else if (!strcmp(a, "--csr")) {
            need = OPT_CSR;
        } else if (!strcmp(a, "--dns") || !strcmp(a, "--ip")) {
            need = OPT_SERVER;
        } else if (!strcmp(a, "--serial")) {
            need = OPT_SERIAL;
        } else if (!strcmp(a, "--ed25519")) {
            need = OPT_ED25519;
            takes_value = false;
        } else if (!strcmp(a, "--json")) {
            need = OPT_JSON;
            takes_value = false;
        } else if (a[0] != '-' && (c->opts & OPT_TARGET) && !o->target) {
            o->target = a;
            continue;
        } else {
            fprintf(stderr, "bulwark ca %s: unknown option or extra argument '%s'\n", c->name, a);
            return usage_of(c);
        }
        if (need && !(c->opts & need)) {
            fprintf(stderr, "bulwark ca %s: %s does not apply here\n", c->name, a);
            return usage_of(c);
        }
        if (!takes_value) {
            if (need == OPT_ED25519)
                o->ed25519 = true;
            else
                o->json = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "bulwark ca %s: %s needs a value\n", c->name, a);
            return usage_of(c);
        }
        i++;
        int rc = 0;
        if (!strcmp(a, "--dir")) {
            o->dir = v;
        } else if (!strcmp(a, "--name")) {
            o->name = v;
        } else if (!strcmp(a, "--client-id")) {
            o->client_id = v;
        } else if (!strcmp(a, "--out")) {
            o->out = v;
        } else if (!strcmp(a, "--csr")) {
            o->csr = v;
        } else if (!strcmp(a, "--serial")) {
            o->serial = v;
        } else if (!strcmp(a, "--san-uri")) {
            rc = push(o->san_uri, &o->n_san_uri, v, a);
        } else if (!strcmp(a, "--san-dns")) {
            rc = push(o->san_dns, &o->n_san_dns, v, a);
        } else if (!strcmp(a, "--dns")) {
            rc = push(o->dns, &o->n_dns, v, a);
        } else if (!strcmp(a, "--ip")) {
            rc = push(o->ip, &o->n_ip, v, a);
        } else { /* --days */
            char *end;
            errno = 0;
            long d = strtol(v, &end, 10);
            if (errno || end == v || *end || d < 1) {
                fprintf(stderr, "bulwark ca %s: --days takes a positive number of days\n", c->name);
                return 2;
            }
            o->days = d > 100000 ? 100000 : d; /* the command bounds it further */
        }
        if (rc != 0)
            return 2;
    }
    if (!o->dir || !o->dir[0]) {
        fprintf(stderr, "bulwark ca %s: --dir DIR is required\n", c->name);
        return usage_of(c);
    }
    bool missing =
        (!strcmp(c->name, "issue") && !o->client_id) || (!strcmp(c->name, "sign") && !o->csr) ||
        (!strcmp(c->name, "server-cert") && o->n_dns == 0) ||
        (!strcmp(c->name, "revoke") && (!!o->target + !!o->serial + !!o->client_id) != 1);
    if (missing)
        return usage_of(c);
    return 0;
}

/* --- revoke ------------------------------------------------------------------------------ */

static int cmd_revoke(const struct ca_opts *o)
{
    char err[512];
    int lock = ca_lock(o->dir, true, err, sizeof(err));
    if (lock < 0) {
        fprintf(stderr, "bulwark ca revoke: %s\n", err);
        return 1;
    }
    struct ca_index ix;
    if (ca_index_load(o->dir, &ix, err, sizeof(err)) != 0) {
        fprintf(stderr, "bulwark ca revoke: %s\n", err);
        ca_unlock(lock);
        return 1;
    }
    /* A bare argument may be either: it is a serial if one matches, a client id if a CN
     * matches, and refused as ambiguous if both do. */
    const char *serial_arg = o->serial ? o->serial : o->target;
    const char *id = o->client_id ? o->client_id : o->target ? o->target : "";
    char canon[REVLIST_SERIAL_MAX_HEX + 1];
    const struct ca_record *by_serial = NULL;
    if (serial_arg && serial_normalize(serial_arg, canon, sizeof(canon)))
        by_serial = ca_index_find(&ix, canon);
    size_t id_matches = 0;
    for (size_t i = 0; !o->serial && i < ix.count; i++)
        id_matches += strcmp(ix.recs[i]->cn, id) == 0;
    int rc = 1;
    if (o->target && by_serial && id_matches) {
        fprintf(stderr,
                "bulwark ca revoke: '%s' is both a serial and a client id; say --serial or "
                "--client-id\n",
                o->target);
        goto out;
    }
    bool use_serial = o->serial || (o->target && by_serial);
    if (use_serial ? !by_serial : id_matches == 0) {
        fprintf(stderr, "bulwark ca revoke: no certificate with %s '%s' in %s/index.tsv\n",
                o->serial   ? "serial"
                : o->target ? "serial or client id"
                            : "client id",
                use_serial || o->target ? serial_arg : id, o->dir);
        goto out;
    }
    int64_t now = (int64_t)time(NULL);
    size_t changed = 0, already = 0;
    for (size_t i = 0; i < ix.count; i++) {
        struct ca_record *r = ix.recs[i];
        if (use_serial ? r != by_serial : strcmp(r->cn, id) != 0)
            continue;
        if (r->revoked_at != 0) {
            already++;
            continue;
        }
        /* by client id: every still-valid certificate; by serial: that one, even expired */
        if (!use_serial && r->not_after < now)
            continue;
        r->revoked_at = now;
        changed++;
        printf("revoked %s (%s \"%s\")\n", r->serial, ca_rec_kind_name(r->kind), r->cn);
    }
    if (changed == 0) {
        printf("nothing to revoke: %s %s\n", use_serial ? "serial" : "client id",
               already ? "already revoked" : "has only expired certificates");
        rc = 0;
        goto out;
    }
    if (ca_index_save(o->dir, &ix, err, sizeof(err)) != 0) {
        fprintf(stderr, "bulwark ca revoke: %s\n", err);
        goto out;
    }
    printf("%s/revoked rewritten: copy it where the broker reads it and send SIGHUP\n", o->dir);
    rc = 0;
out:
    ca_index_free(&ix);
    ca_unlock(lock);
    return rc;
}

/* --- list -------------------------------------------------------------------------------- */

/* CNs are printable ASCII (checked on load): only '"' and '\' need escaping in JSON. */
static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        putchar(*s);
    }
    putchar('"');
}

static int cmd_list(const struct ca_opts *o)
{
    char err[512];
    int lock = ca_lock(o->dir, false, err, sizeof(err));
    if (lock < 0) {
        fprintf(stderr, "bulwark ca list: %s\n", err);
        return 1;
    }
    struct ca_index ix;
    int rc = ca_index_load(o->dir, &ix, err, sizeof(err));
    ca_unlock(lock);
    if (rc != 0) {
        fprintf(stderr, "bulwark ca list: %s\n", err);
        return 1;
    }
    int64_t now = (int64_t)time(NULL);
    if (o->json)
        printf("[");
    for (size_t i = 0; i < ix.count; i++) {
        const struct ca_record *r = ix.recs[i];
        char until[32];
        ca_iso8601(r->not_after, until, sizeof(until));
        if (!o->json) {
            printf("%s\t%s\t%s\t%s\t%s\n", r->serial, r->cn, until, ca_rec_status(r, now),
                   ca_rec_kind_name(r->kind));
            continue;
        }
        printf("%s\n  {\"serial\": \"%s\", \"cn\": ", i ? "," : "", r->serial);
        json_string(r->cn);
        printf(", \"not_after\": \"%s\", \"status\": \"%s\", \"kind\": \"%s\"", until,
               ca_rec_status(r, now), ca_rec_kind_name(r->kind));
        if (r->revoked_at) {
            char when[32];
            ca_iso8601(r->revoked_at, when, sizeof(when));
            printf(", \"revoked_at\": \"%s\"", when);
        }
        printf("}");
    }
    if (o->json)
        printf("%s]\n", ix.count ? "\n" : "");
    ca_index_free(&ix);
    return fflush(stdout) == 0 ? 0 : 1;
}

int cli_ca(int argc, char **argv)
{
    if (argc < 2) {
        usage_all(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage_all(stdout);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const struct subcommand *c = &COMMANDS[i];
        if (strcmp(argv[1], c->name) != 0)
            continue;
        for (int j = 2; j < argc; j++) {
            if (!strcmp(argv[j], "-h") || !strcmp(argv[j], "--help")) {
                printf("usage: %s", c->usage);
                return 0;
            }
        }
        struct ca_opts o;
        int rc = parse(c, argc - 1, argv + 1, &o);
        if (rc != 0)
            return rc;
        if (wolfCrypt_Init() != 0) {
            fprintf(stderr, "bulwark ca: wolfCrypt failed to initialise\n");
            return 1;
        }
        rc = c->run(&o);
        wolfCrypt_Cleanup();
        fflush(stdout);
        return rc;
    }
    fprintf(stderr, "bulwark ca: unknown subcommand '%s'\n", argv[1]);
    usage_all(stderr);
    return 2;
}
