/* Unit tests for policy/: the ACL matrix of tests/unit/data/policy/acl.yaml (identities x
 * topics x actions), '$' topics, substitution injection, precedence, filter-within-filter
 * subscriptions, payload rules, limits resolution and the identity queries. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

static char data_dir[512];
static char acl_path[600];
static struct policy *acl;

/* Fixtures live next to this file; the tests run from the repository root. */
static void find_data(void)
{
    const char *f = __FILE__;
    const char *slash = strrchr(f, '/');
    int n = slash ? (int)(slash - f) : 0;
    snprintf(data_dir, sizeof(data_dir), "%.*s%sdata/policy", n, f, n ? "/" : "");
    snprintf(acl_path, sizeof(acl_path), "%s/acl.yaml", data_dir);
}

static int setup_acl(void **state)
{
    (void)state;
    find_data();
    char err[4096];
    acl = policy_load(acl_path, err, sizeof(err));
    if (!acl)
        fprintf(stderr, "%s\n", err);
    return acl ? 0 : -1;
}

static int teardown_acl(void **state)
{
    (void)state;
    policy_free(acl);
    acl = NULL;
    return 0;
}

/* Writes text to a temporary file and loads it; the path stays valid until the next call. */
static char tmp_path[64];
static struct policy *load_text(const char *text, char *err, size_t errlen)
{
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/bulwark-test-policy-XXXXXX");
    int fd = mkstemp(tmp_path);
    if (fd < 0)
        return NULL;
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        return NULL;
    }
    close(fd);
    struct policy *p = policy_load(tmp_path, err, errlen);
    unlink(tmp_path);
    return p;
}

static struct policy *must_load(const char *text)
{
    char err[4096];
    struct policy *p = load_text(text, err, sizeof(err));
    if (!p)
        fprintf(stderr, "unexpected policy error:\n%s\n", err);
    assert_non_null(p);
    return p;
}

/* --- subjects ----------------------------------------------------------------------------- */

static struct policy_subject SUBJ(const char *cid, const char *user, const char *ident) {
    return (struct policy_subject){.client_id = cid,
                                   .client_id_len = strlen(cid),
                                   .username = user,
                                   .username_len = user ? strlen(user) : 0,
                                   .identity = ident};
}

static const char *const plc_dns[] = {"plc-7.plc.example", NULL};
static const char *const other_dns[] = {"plc-8.other.example", NULL};
static const char *const evil_dns[] = {"evil.plc.example", NULL};
static const struct auth_cert plc_cert = {.cn = "plc-7", .san_dns = plc_dns};
static const struct auth_cert plc8_cert = {.cn = "plc-8", .san_dns = other_dns};
static const struct auth_cert plc_evil_cert = {.cn = "plc-x/+", .san_dns = evil_dns};
static const struct auth_cert dev_cert = {.cn = "dev-3"};
static const struct auth_cert pinned_cert = {.cn = "whatever", .serial_hex = "AB12"};

static struct policy_subject ALICE, BOB, CAROL, CAROL_WRONG_CID, SENSOR, PLC, PLC8, DEV, DEV_WRONG,
    PINNED, TRUCK, TRUCK_BAD_SUBJECT, TOKEN_ALICE, ALICE_NO_USERNAME, ANON, MALLORY;

static void make_subjects(void)
{
    ALICE = SUBJ("alice-1", "alice", "alice");
    BOB = SUBJ("bob-1", "bob", "bob");
    CAROL = SUBJ("carol-1", "carol", "carol");
    CAROL_WRONG_CID = SUBJ("x1", "carol", "carol");
    SENSOR = SUBJ("sensor-1", NULL, "sensor-1");
    PLC = SUBJ("plc-7", NULL, "plc-7");
    PLC.cert = &plc_cert;
    PLC8 = SUBJ("plc-8", NULL, "plc-8");
    PLC8.cert = &plc8_cert;
    DEV = SUBJ("dev-3", NULL, "dev-3");
    DEV.cert = &dev_cert;
    DEV_WRONG = SUBJ("dev-4", NULL, "dev-3");
    DEV_WRONG.cert = &dev_cert;
    PINNED = SUBJ("p", NULL, "whatever");
    PINNED.cert = &pinned_cert;
    TRUCK = SUBJ("truck-9", NULL, "truck-9");
    TRUCK.issuer = "fleet";
    TRUCK_BAD_SUBJECT = SUBJ("car-1", NULL, "car-1");
    TRUCK_BAD_SUBJECT.issuer = "fleet";
    TOKEN_ALICE = SUBJ("alice-1", "alice", "alice");
    TOKEN_ALICE.issuer = "fleet";
    ALICE_NO_USERNAME = SUBJ("alice-1", NULL, "alice");
    ANON = SUBJ("anon-1", NULL, NULL);
    MALLORY = SUBJ("m", NULL, "mallory");
}

static struct policy_decision ask(const struct policy *p, const struct policy_subject *s,
                                  enum policy_action a, const char *topic, uint8_t qos, bool retain)
{
    return policy_decide(p, s, a, topic, strlen(topic), qos, retain);
}

#define PUB POLICY_PUBLISH
#define SUB POLICY_SUBSCRIBE

struct row {
    const struct policy_subject *s;
    enum policy_action a;
    const char *topic;
    uint8_t qos;
    bool retain;
    bool allow;
    uint8_t max_qos;
    const char *rule; /* id of the deciding rule, "" for the default deny */
};

static void check_rows(const struct policy *p, const struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        struct policy_decision d = ask(p, r->s, r->a, r->topic, r->qos, r->retain);
        if (d.allow != r->allow || d.max_qos != r->max_qos || strcmp(d.rule_id, r->rule) != 0) {
            fprintf(stderr,
                    "row %zu: %s by %s (client %.*s) %s qos %u%s: got %s max_qos %u rule '%s', "
                    "want %s max_qos %u rule '%s'\n",
                    i, r->a == PUB ? "publish" : "subscribe",
                    r->s->identity ? r->s->identity : "(anonymous)", (int)r->s->client_id_len,
                    r->s->client_id, r->topic, r->qos, r->retain ? " retain" : "",
                    d.allow ? "allow" : "deny", d.max_qos, d.rule_id, r->allow ? "allow" : "deny",
                    r->max_qos, r->rule);
            fail();
        }
        /* The default deny names no rule; a named rule comes with its file and line. */
        if (*r->rule || d.rule_line) {
            assert_string_equal(d.rule_file, acl_path);
            assert_true(d.rule_line > 0);
        } else {
            assert_string_equal(d.rule_file, "");
        }
    }
}

/* --- the matrix ---------------------------------------------------------------------------- */

static void test_acl_users_and_groups(void **state)
{
    (void)state;
    const struct row rows[] = {
        /* alice: staff (site/# subscribe at QoS 1, site/+/cmd publish without retain) and her own
         * "#" at QoS 0; every matching allow applies, the first in the file is named. */
        {&ALICE, SUB, "site/a/b", 1, false, true, 0, "staff-read"},
        {&ALICE, SUB, "site/a/+", 2, false, true, 0, "staff-read"},
        {&ALICE, PUB, "site/a/cmd", 0, false, true, 0, "staff-cmd"},
        {&ALICE, PUB, "site/a/cmd", 1, false, false, 0, "staff-cmd"}, /* above max QoS */
        {&ALICE, PUB, "site/a/cmd", 0, true, false, 0, "staff-cmd"},  /* retain refused */
        {&ALICE, PUB, "anything/else", 0, true, true, 0, "alice-everything"},
        {&ALICE, SUB, "site/secret/x", 0, false, false, 0, "no-secrets"}, /* deny beats */
        {&ALICE, PUB, "site/secret", 0, false, false, 0, "no-secrets"},   /* '#' parent */
        {&ALICE, SUB, "site/#", 0, false, false, 0, "no-secrets"},        /* overlaps deny */
        {&ALICE, SUB, "#", 0, false, false, 0, "no-secrets"},
        {&ALICE, SUB, "site/secretive/x", 0, false, true, 0, "staff-read"},
        {&ALICE, PUB, "clients/alice-1/x", 0, false, true, 0, "own"},
        {&ALICE, PUB, "clients/alice-1/admin", 0, false, false, 0, "own-admin"},
        {&ALICE, PUB, "clients/bob-1/admin", 0, false, true, 0, "alice-everything"},
        {&ALICE, PUB, "groups/staff/x", 0, false, true, 0, "per-group"},
        /* '$' topics: "#" never reaches them, nor does a bob-only rule. */
        {&ALICE, PUB, "$SYS/x", 0, false, false, 0, ""},
        {&ALICE, SUB, "$SYS/broker/x", 0, false, false, 0, ""},
        {&ALICE, PUB, "$share/g/t", 0, false, false, 0, ""},
        /* bob: staff and night (retain false in limits) */
        {&BOB, SUB, "$SYS/broker/load", 2, false, true, 2, "bob-sys"},
        {&BOB, SUB, "$SYS/broker/#", 2, false, true, 2, "bob-sys"},
        {&BOB, SUB, "$SYS/#", 0, false, false, 0, ""},
        {&BOB, SUB, "$SYS/+/load", 0, false, false, 0, ""},
        {&BOB, SUB, "site/a/+", 2, false, true, 1, "staff-read"},
        {&BOB, SUB, "site/+/x", 0, false, false, 0, "no-secrets"},
        {&BOB, PUB, "site/a/cmd", 2, false, true, 2, "staff-cmd"},
        {&BOB, PUB, "users/bob/x", 0, false, true, 2, "per-user"},
        {&BOB, PUB, "users/bob/x", 0, true, false, 2, "per-user"}, /* night: no retain */
        {&BOB, PUB, "users/alice/x", 0, false, false, 0, ""},
        {&BOB, PUB, "groups/night/x", 0, false, false, 0, ""}, /* per-group: staff, devices */
        {&BOB, PUB, "anything/else", 0, false, false, 0, ""},
        /* carol: "+/status" and her client id pattern */
        {&CAROL, SUB, "a/status", 0, false, true, 2, "carol-status"},
        {&CAROL, SUB, "+/status", 0, false, true, 2, "carol-status"},
        {&CAROL, SUB, "$SYS/status", 0, false, false, 0, ""},
        {&CAROL, SUB, "a/b/status", 0, false, false, 0, ""},
        {&CAROL, SUB, "#", 0, false, false, 0, "no-secrets"},
        {&CAROL, SUB, "#/status", 0, false, false, 0, ""}, /* not a valid filter */
        {&CAROL_WRONG_CID, SUB, "a/status", 0, false, false, 0, ""},
        {&CAROL_WRONG_CID, SUB, "site/x", 0, false, false, 0, ""},
    };
    check_rows(acl, rows, sizeof(rows) / sizeof(rows[0]));
}

static void test_acl_devices_tokens_anonymous(void **state)
{
    (void)state;
    const struct row rows[] = {
        /* sensors: a client-id entry in devices (max_qos 1 in its limits) */
        {&SENSOR, PUB, "sensors/sensor-1", 1, false, true, 1, "sensor-data"},
        {&SENSOR, PUB, "sensors/sensor-1", 2, false, false, 1, "sensor-data"},
        {&SENSOR, PUB, "sensors/sensor-2", 0, false, false, 0, ""},
        {&SENSOR, PUB, "groups/devices/x", 0, false, true, 1, "per-group"},
        {&SENSOR, PUB, "groups/staff/x", 0, false, false, 0, ""},
        {&SENSOR, PUB, "certs/sensor-1/data", 0, false, false, 0, ""}, /* no certificate */
        {&SENSOR, PUB, "clients/sensor-1/a", 1, false, true, 1, "own"},
        {&SENSOR, PUB, "clients/sensor-1/a", 2, false, false, 1, "own"},
        /* certificates: CN and SAN patterns, a CN bound to the client id, a pinned serial */
        {&PLC, PUB, "certs/plc-7/data", 1, false, true, 1, "per-cert"},
        {&PLC, PUB, "certs/plc-8/data", 0, false, false, 0, ""},
        {&PLC8, PUB, "certs/plc-8/data", 0, false, false, 0, ""}, /* SAN does not match */
        {&DEV, PUB, "certs/dev-3/data", 0, false, true, 1, "per-cert"},
        {&DEV_WRONG, PUB, "certs/dev-3/data", 0, false, false, 0, ""},
        {&PINNED, PUB, "groups/devices/x", 0, false, true, 1, "per-group"},
        /* token subjects */
        {&TRUCK, PUB, "fleet/truck-9/pos", 2, true, true, 2, "truck-pos"},
        {&TRUCK, PUB, "fleet/truck-8/pos", 0, false, false, 0, ""},
        {&TRUCK_BAD_SUBJECT, PUB, "fleet/car-1/pos", 0, false, false, 0, ""},
        {&TRUCK_BAD_SUBJECT, PUB, "clients/car-1/x", 0, false, false, 0, ""},
        /* a token subject named like a user is not that user, nor is a missing username */
        {&TOKEN_ALICE, PUB, "anything/else", 0, false, false, 0, ""},
        {&ALICE_NO_USERNAME, PUB, "anything/else", 0, false, false, 0, ""},
        /* anonymous: only the anonymous section; unknown identities get nothing at all */
        {&ANON, SUB, "public/#", 2, false, true, 0, "anon-public"},
        {&ANON, SUB, "public/news", 1, false, true, 0, "anon-public"},
        {&ANON, SUB, "#", 0, false, false, 0, ""},
        {&ANON, PUB, "public/hello/anon-1", 0, false, true, 2, "anon-hello"},
        {&ANON, PUB, "public/hello/anon-1", 0, true, false, 2, "anon-hello"},
        {&ANON, PUB, "public/hello/anon-2", 0, false, false, 0, ""},
        {&ANON, PUB, "clients/anon-1/x", 0, false, false, 0, ""},
        {&MALLORY, SUB, "public/#", 0, false, false, 0, ""},
        {&MALLORY, PUB, "clients/m/x", 0, false, false, 0, ""},
    };
    check_rows(acl, rows, sizeof(rows) / sizeof(rows[0]));
}

static void test_payload_rules(void **state)
{
    (void)state;
    /* sensor-data (max 128, utf8) and the payloads entry json-only (max 1024, json): the
     * strictest of each. */
    struct policy_decision d = ask(acl, &SENSOR, PUB, "sensors/sensor-1", 0, false);
    assert_true(d.allow);
    assert_int_equal(d.payload_max, 128);
    assert_int_equal(d.payload_format, POLICY_PAYLOAD_JSON);
    assert_false(d.payload_sealed);
    /* payloads entries bind whoever publishes there, whatever rule allowed it */
    d = ask(acl, &ALICE, PUB, "sensors/x", 0, false);
    assert_true(d.allow);
    assert_string_equal(d.rule_id, "alice-everything");
    assert_int_equal(d.payload_max, 1024);
    assert_int_equal(d.payload_format, POLICY_PAYLOAD_JSON);
    d = ask(acl, &TRUCK, PUB, "fleet/truck-9/pos", 0, false);
    assert_true(d.payload_sealed);
    assert_int_equal(d.payload_max, 0);
    assert_int_equal(d.payload_format, POLICY_PAYLOAD_ANY);
    /* no payload rule on the topic */
    d = ask(acl, &ALICE, PUB, "other/x", 0, false);
    assert_int_equal(d.payload_max, 0);
    assert_int_equal(d.payload_format, POLICY_PAYLOAD_ANY);
    assert_false(d.payload_sealed);
    /* denied: no payload facts */
    d = ask(acl, &BOB, PUB, "sensors/x", 0, false);
    assert_false(d.allow);
    assert_int_equal(d.payload_max, 0);
    /* subscribe decisions never carry payload rules nor retain */
    d = ask(acl, &ALICE, SUB, "sensors/x", 0, false);
    assert_true(d.allow);
    assert_int_equal(d.payload_format, POLICY_PAYLOAD_ANY);
    assert_false(d.retain_allowed);
}

/* --- substitution injection ---------------------------------------------------------------- */

/* Bob holds "own" (clients/%c/#), "per-user" (users/%u/#) and the deny own-admin
 * (clients/%c/admin), and nothing under clients/ or users/ otherwise. */
static void test_injection_client_id(void **state)
{
    (void)state;
    static const struct {
        const char *cid;
        const char *topics[6]; /* publish and subscribe attempts, all must be denied */
    } cases[] = {
        {"a/+", {"clients/a/+/x", "clients/a/b/x", "clients/a/+", "clients/+/x", "clients/#"}},
        {"#", {"clients/#", "clients/a", "clients/#/x", "clients/+/#"}},
        {"+", {"clients/+/x", "clients/+", "clients/a/x", "clients/+/#"}},
        {"$SYS", {"clients/$SYS/x", "clients/$SYS/#", "$SYS/x", "clients/+/x"}},
        {"x/../y", {"clients/x/../y/z", "clients/x/#", "clients/x/../y", "clients/../y"}},
        {"", {"clients//x", "clients/+/x", "clients//#", "clients/#"}},
        {"..", {"clients/../x", "clients/+/x"}},
        {".", {"clients/./x"}},
        {"a/b", {"clients/a/b/x", "clients/a/#", "clients/a/b/admin"}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct policy_subject s = BOB;
        s.client_id = cases[i].cid;
        s.client_id_len = strlen(cases[i].cid);
        for (size_t k = 0; k < 6 && cases[i].topics[k]; k++) {
            const char *t = cases[i].topics[k];
            for (int a = PUB; a <= SUB; a++) {
                struct policy_decision d = ask(acl, &s, (enum policy_action)a, t, 0, false);
                if (d.allow)
                    fprintf(stderr, "client id '%s' was allowed to %s '%s' by rule '%s'\n",
                            cases[i].cid, a == PUB ? "publish" : "subscribe", t, d.rule_id);
                assert_false(d.allow);
            }
        }
        /* What bob holds without substitution stays: only the pattern with %c is lost. */
        assert_true(ask(acl, &s, PUB, "site/a/cmd", 0, false).allow);
        assert_true(ask(acl, &s, SUB, "site/a/b", 0, false).allow);
    }
    /* A NUL inside the client id is not a level either. */
    struct policy_subject s = BOB;
    s.client_id = "a\0b";
    s.client_id_len = 3;
    assert_false(ask(acl, &s, PUB, "clients/a/x", 0, false).allow);
    /* and a good id still works */
    assert_true(ask(acl, &BOB, PUB, "clients/bob-1/x", 0, false).allow);
}

static void test_injection_username_cert_identity(void **state)
{
    (void)state;
    /* Sensors need no username: whatever they send is only ever one literal level. */
    static const char *const users[] = {"a/#", "#", "+", "$SYS", "x/../y", "", ".."};
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        struct policy_subject s = SENSOR;
        s.username = users[i];
        s.username_len = strlen(users[i]);
        static const char *const topics[] = {"users/#",      "users/+/x", "users/a/#", "users/a/b",
                                             "users/$SYS/x", "users//x",  "users/../x"};
        for (size_t k = 0; k < sizeof(topics) / sizeof(topics[0]); k++) {
            assert_false(ask(acl, &s, SUB, topics[k], 0, false).allow);
            assert_false(ask(acl, &s, PUB, topics[k], 0, false).allow);
        }
    }
    struct policy_subject s = SENSOR;
    s.username = "sam";
    s.username_len = 3;
    assert_true(ask(acl, &s, PUB, "users/sam/x", 0, false).allow);

    /* A CN "plc-x/+" matches the plcs pattern, but never as a topic wildcard. */
    struct policy_subject evil = SUBJ("plc-x", NULL, "plc-x/+");
    evil.cert = &plc_evil_cert;
    assert_true(policy_knows(acl, &evil));
    assert_false(ask(acl, &evil, PUB, "certs/plc-x/y/data", 0, false).allow);
    assert_false(ask(acl, &evil, PUB, "certs/plc-x/+/data", 0, false).allow);
    assert_true(ask(acl, &evil, PUB, "groups/devices/x", 0, false).allow);

    /* A token subject "truck-a/b" fits "truck-*" and gets nothing from fleet/%{identity}. */
    struct policy_subject t = SUBJ("truck-a", NULL, "truck-a/b");
    t.issuer = "fleet";
    assert_true(policy_knows(acl, &t));
    assert_false(ask(acl, &t, PUB, "fleet/truck-a/b/pos", 0, false).allow);
    assert_false(ask(acl, &t, PUB, "fleet/truck-a/pos", 0, false).allow);
}

/* A deny or payload pattern with a value that is not one level grows instead of vanishing. */
static void test_restrictions_widen(void **state)
{
    (void)state;
    struct policy *p = must_load("rules:\n"
                                 "  - allow: both\n"
                                 "    topics: [\"clients/#\", \"$SYS/#\", \"secure/#\"]\n"
                                 "    everyone: true\n"
                                 "  - id: no-admin\n"
                                 "    deny: publish\n"
                                 "    topics: \"clients/%c/admin\"\n"
                                 "    everyone: true\n"
                                 "  - id: root-deny\n"
                                 "    deny: subscribe\n"
                                 "    topics: \"%u/#\"\n"
                                 "    everyone: true\n"
                                 "payloads:\n"
                                 "  - topics: \"secure/%c\"\n"
                                 "    sealed: true\n"
                                 "clients:\n"
                                 "  - name: all\n"
                                 "    client_id: \"*\"\n");
    struct policy_subject good = SUBJ("good", "good", "good");
    assert_false(ask(p, &good, PUB, "clients/good/admin", 0, false).allow);
    assert_true(ask(p, &good, PUB, "clients/other/admin", 0, false).allow);
    assert_true(ask(p, &good, PUB, "clients/good/x", 0, false).allow);
    assert_true(ask(p, &good, PUB, "secure/good", 0, false).payload_sealed);
    assert_false(ask(p, &good, PUB, "secure/other", 0, false).payload_sealed);
    assert_true(ask(p, &good, PUB, "secure/other", 0, false).allow);
    assert_true(ask(p, &good, SUB, "$SYS/x", 0, false).allow);
    assert_false(ask(p, &good, SUB, "good/x", 0, false).allow);

    struct policy_subject bad = SUBJ("a/b", "x/+", "bad");
    struct policy_decision d = ask(p, &bad, PUB, "clients/a/b/admin", 0, false);
    assert_false(d.allow);
    assert_string_equal(d.rule_id, "no-admin");
    assert_false(ask(p, &bad, PUB, "clients/zzz", 0, false).allow);
    assert_true(ask(p, &bad, PUB, "clients", 0, false).allow); /* above the substituted level */
    d = ask(p, &bad, PUB, "secure/zzz", 0, false);
    assert_true(d.allow);
    assert_true(d.payload_sealed);
    assert_true(ask(p, &bad, PUB, "secure/a/b", 0, false).payload_sealed);
    assert_false(ask(p, &bad, PUB, "secure", 0, false).payload_sealed);
    /* the widened subscribe deny at the first level reaches '$' topics too */
    assert_false(ask(p, &bad, SUB, "$SYS/x", 0, false).allow);
    assert_false(ask(p, &bad, SUB, "clients/#", 0, false).allow);
    policy_free(p);
}

/* --- precedence ---------------------------------------------------------------------------- */

static void test_precedence(void **state)
{
    (void)state;
    struct policy *p = must_load("clients:\n"                                 /* 1 */
                                 "  - name: c\n"                              /* 2 */
                                 "    client_id: \"c*\"\n"                    /* 3 */
                                 "rules:\n"                                   /* 4 */
                                 "  - id: allow-late-deny\n"                  /* 5 */
                                 "    allow: both\n"                          /* 6 */
                                 "    topics: \"a/#\"\n"                      /* 7 */
                                 "    everyone: true\n"                       /* 8 */
                                 "  - deny: both\n"                           /* 9 */
                                 "    topics: \"a/b/#\"\n"                    /* 10 */
                                 "    everyone: true\n"                       /* 11 */
                                 "  - id: deny-first\n"                       /* 12 */
                                 "    deny: publish\n"                        /* 13 */
                                 "    topics: \"x/+\"\n"                      /* 14 */
                                 "    everyone: true\n"                       /* 15 */
                                 "  - id: then-allow\n"                       /* 16 */
                                 "    allow: publish\n"                       /* 17 */
                                 "    topics: [\"x/#\", \"q/#\"]\n"           /* 18 */
                                 "    everyone: true\n"                       /* 19 */
                                 "  - id: second-deny\n"                      /* 20 */
                                 "    deny: publish\n"                        /* 21 */
                                 "    topics: \"x/y\"\n"                      /* 22 */
                                 "    everyone: true\n"                       /* 23 */
                                 "  - id: q-low\n"                            /* 24 */
                                 "    allow: publish\n"                       /* 25 */
                                 "    topics: \"q/+/low\"\n"                  /* 26 */
                                 "    everyone: true\n"                       /* 27 */
                                 "    qos: 0\n"                               /* 28 */
                                 "    retain: false\n"                        /* 29 */
                                 "    payload: {max_size: 10}\n"              /* 30 */
                                 "  - id: q-mid\n"                            /* 31 */
                                 "    allow: publish\n"                       /* 32 */
                                 "    topics: \"q/a/+\"\n"                    /* 33 */
                                 "    everyone: true\n"                       /* 34 */
                                 "    qos: 1\n"                               /* 35 */
                                 "    payload: {max_size: 5, format: utf8}\n" /* 36 */
                                 "  - id: sub-wide\n"                         /* 37 */
                                 "    allow: subscribe\n"                     /* 38 */
                                 "    topics: \"s/#\"\n"                      /* 39 */
                                 "    everyone: true\n"                       /* 40 */
                                 "  - id: sub-narrow\n"                       /* 41 */
                                 "    allow: subscribe\n"                     /* 42 */
                                 "    topics: \"s/a/b\"\n"                    /* 43 */
                                 "    everyone: true\n"                       /* 44 */
                                 "    qos: 0\n");                             /* 45 */
    struct policy_subject s = SUBJ("c1", NULL, "someone");
    /* deny after allow in the file still wins; it has no id: named by its line */
    struct policy_decision d = ask(p, &s, PUB, "a/b/c", 0, false);
    assert_false(d.allow);
    assert_int_equal(d.rule_line, 9);
    assert_string_equal(d.rule_id, "");
    assert_true(ask(p, &s, PUB, "a/c", 0, false).allow);
    /* two denies: the first in the file is named */
    d = ask(p, &s, PUB, "x/y", 0, false);
    assert_false(d.allow);
    assert_int_equal(d.rule_line, 12);
    assert_string_equal(d.rule_id, "deny-first");
    d = ask(p, &s, PUB, "x/y/z", 0, false);
    assert_true(d.allow);
    assert_int_equal(d.rule_line, 16);
    /* all matching allows apply: lowest QoS, retain only if all allow it, strictest payload;
     * the first in the file is named */
    d = ask(p, &s, PUB, "q/a/low", 0, false);
    assert_true(d.allow);
    assert_string_equal(d.rule_id, "then-allow");
    assert_int_equal(d.rule_line, 16);
    assert_int_equal(d.max_qos, 0);
    assert_false(d.retain_allowed);
    assert_int_equal(d.payload_max, 5);
    assert_int_equal(d.payload_format, POLICY_PAYLOAD_UTF8);
    d = ask(p, &s, PUB, "q/a/mid", 1, true);
    assert_true(d.allow);
    assert_int_equal(d.max_qos, 1);
    assert_true(d.retain_allowed);
    d = ask(p, &s, PUB, "q/b/c", 2, true);
    assert_true(d.allow);
    assert_int_equal(d.max_qos, 2);
    /* subscribe: only rules that cover the filter grant it; an allow that only overlaps
     * (s/a/b inside s/#) does not lower the QoS of s/# */
    d = ask(p, &s, SUB, "s/#", 2, false);
    assert_true(d.allow);
    assert_int_equal(d.max_qos, 2);
    d = ask(p, &s, SUB, "s/a/b", 2, false);
    assert_true(d.allow);
    assert_int_equal(d.max_qos, 0);
    assert_string_equal(d.rule_id, "sub-wide");
    /* subscribe QoS above the maximum is granted lower, never refused */
    d = ask(p, &s, SUB, "s/a/b", 2, false);
    assert_true(d.allow);
    policy_free(p);
}

/* --- filter within filter ------------------------------------------------------------------- */

struct fcase {
    const char *filter;
    bool allow;
};

static void check_filters(const char *rule_yaml, const struct fcase *c, size_t n)
{
    char text[1024];
    snprintf(text, sizeof(text), "clients:\n  - name: c\n    client_id: \"*\"\nrules:\n%s",
             rule_yaml);
    struct policy *p = must_load(text);
    struct policy_subject s = SUBJ("c1", NULL, "someone");
    for (size_t i = 0; i < n; i++) {
        bool got = ask(p, &s, SUB, c[i].filter, 0, false).allow;
        if (got != c[i].allow)
            fprintf(stderr, "rules:\n%sfilter '%s': got %s, want %s\n", rule_yaml, c[i].filter,
                    got ? "allow" : "deny", c[i].allow ? "allow" : "deny");
        assert_true(got == c[i].allow);
    }
    policy_free(p);
}

#define ALLOW_SUB(t) "  - allow: subscribe\n    everyone: true\n    topics: \"" t "\"\n"
#define DENY_SUB(t) "  - deny: subscribe\n    everyone: true\n    topics: \"" t "\"\n"
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_filter_within_filter(void **state)
{
    (void)state;
    static const struct fcase hash[] = {
        {"a/b/+", true}, {"a/#", true},  {"a", true},    {"a/+", true},  {"a/b/#", true},
        {"#", false},    {"+/b", false}, {"b/#", false}, {"+/#", false}, {"a/+/c/#", true},
    };
    check_filters(ALLOW_SUB("a/#"), hash, N(hash));
    static const struct fcase plus[] = {
        {"a/#", false},   {"a/b", true},  {"a/+", true},    {"a", false},
        {"a/b/c", false}, {"+/b", false}, {"a/+/c", false}, {"a/", true},
    };
    check_filters(ALLOW_SUB("a/+"), plus, N(plus));
    static const struct fcase all[] = {
        {"#", true}, {"+/#", true}, {"$SYS/x", false}, {"$SYS/#", false},   {"a/b", true},
        {"+", true}, {"/", true},   {"+/+/+", true},   {"$share/x", false}, {"a/$b", true},
    };
    check_filters(ALLOW_SUB("#"), all, N(all));
    static const struct fcase plus_hash[] = {
        {"#", true}, {"a", true}, {"$SYS/a", false}, {"+", true}, {"a/b/c", true},
    };
    check_filters(ALLOW_SUB("+/#"), plus_hash, N(plus_hash));
    static const struct fcase two_plus_hash[] = {
        {"#", false}, {"a/b", true}, {"a/#", false}, {"a/b/#", true}, {"a", false}, {"+/+", true},
    };
    check_filters(ALLOW_SUB("+/+/#"), two_plus_hash, N(two_plus_hash));
    static const struct fcase sys[] = {
        {"$SYS/broker/+", true}, {"$SYS/#", true}, {"#", false},
        {"+/broker", false},     {"$SYS", true},   {"$SYSX/a", false},
    };
    check_filters(ALLOW_SUB("$SYS/#"), sys, N(sys));
    static const struct fcase exact[] = {
        {"a/b", true},   {"a/+", false},   {"a/#", false},
        {"a/b/", false}, {"a/b/#", false}, {"+/b", false},
    };
    check_filters(ALLOW_SUB("a/b"), exact, N(exact));
    static const struct fcase empty_levels[] = {
        {"a//b", true},
        {"a/+/b", true},
        {"a/x/b", true},
        {"/a", false},
    };
    check_filters(ALLOW_SUB("a/+/b"), empty_levels, N(empty_levels));
    static const struct fcase leading_slash[] = {
        {"/a", true}, {"/+", true}, {"+/a", false}, {"/#", true}, {"a", false},
    };
    check_filters(ALLOW_SUB("/#"), leading_slash, N(leading_slash));
}

static void test_deny_overlap(void **state)
{
    (void)state;
    static const struct fcase abc[] = {
        {"a/#", false}, {"a/+/c", false},  {"a/+/d", true},  {"+/+/+", false},
        {"+/#", false}, {"b/#", true},     {"a/b", true},    {"a/b/#", false},
        {"#", false},   {"a/b/c/d", true}, {"+/b/+", false}, {"a/b/c", false},
    };
    check_filters(ALLOW_SUB("#") DENY_SUB("a/b/c"), abc, N(abc));
    static const struct fcase ahash[] = {
        {"a", false}, {"+", false}, {"#", false}, {"b", true}, {"a/x", false}, {"b/+", true},
    };
    check_filters(ALLOW_SUB("#") DENY_SUB("a/#"), ahash, N(ahash));
    static const struct fcase aplus[] = {
        {"a", true}, {"a/#", false}, {"a/b/c", true}, {"+/b", false}, {"+", true},
    };
    check_filters(ALLOW_SUB("#") DENY_SUB("a/+"), aplus, N(aplus));
    /* deny rules are wildcards too: they never reach '$' topics unless they start with it */
    static const struct fcase dollar[] = {
        {"#", false}, {"$SYS/x", true}, {"$SYS/#", true},
        {"a", false}, {"+/x", false},   {"$SYS", true},
    };
    check_filters(ALLOW_SUB("#") ALLOW_SUB("$SYS/#") DENY_SUB("#"), dollar, N(dollar));
    static const struct fcase plus_b[] = {
        {"$SYS/b", true},
        {"x/b", false},
        {"$SYS/+", true},
        {"$SYS/#", true},
    };
    check_filters(ALLOW_SUB("#") ALLOW_SUB("$SYS/#") DENY_SUB("+/b"), plus_b, N(plus_b));
    static const struct fcase sys_deny[] = {
        {"#", true},
        {"$SYS/#", false},
        {"$SYS/a", false},
        {"+/a", true},
    };
    check_filters(ALLOW_SUB("#") ALLOW_SUB("$SYS/#") DENY_SUB("$SYS/#"), sys_deny, N(sys_deny));
}

/* Publishing is matching a name against patterns: the same engine, names only. */
static void test_publish_matching(void **state)
{
    (void)state;
    struct policy *p = must_load("clients:\n  - name: c\n    client_id: \"*\"\n"
                                 "rules:\n"
                                 "  - allow: publish\n    everyone: true\n"
                                 "    topics: [\"a/+\", \"b/#\", \"/x\", \"c//d\", \"e/\", "
                                 "\"100%%/%c\", \"$SYS/+\"]\n");
    struct policy_subject s = SUBJ("c1", NULL, "someone");
    static const struct fcase names[] = {
        {"a/b", true},    {"a", false},    {"a/b/c", false}, {"a/", true},      {"b", true},
        {"b/x/y", true},  {"bb", false},   {"/x", true},     {"x", false},      {"c//d", true},
        {"c/d", false},   {"e/", true},    {"e", false},     {"100%/c1", true}, {"100%/c2", false},
        {"$SYS/x", true}, {"$SYS", false}, {"a/+", false},   {"a/#", false},    {"", false},
    };
    for (size_t i = 0; i < N(names); i++) {
        bool got = ask(p, &s, PUB, names[i].filter, 0, false).allow;
        if (got != names[i].allow)
            fprintf(stderr, "publish '%s'\n", names[i].filter);
        assert_true(got == names[i].allow);
    }
    /* a name with invalid UTF-8 or a NUL is no topic */
    assert_false(policy_decide(p, &s, PUB, "a/\xff", 3, 0, false).allow);
    assert_false(policy_decide(p, &s, PUB, "a/\0", 3, 0, false).allow);
    /* bad arguments fail closed */
    assert_false(policy_decide(p, &s, PUB, "a/b", 3, 3, false).allow);
    assert_false(policy_decide(p, &s, (enum policy_action)3, "a/b", 3, 0, false).allow);
    assert_false(policy_decide(p, NULL, PUB, "a/b", 3, 0, false).allow);
    assert_false(policy_decide(NULL, &s, PUB, "a/b", 3, 0, false).allow);
    assert_false(policy_decide(p, &s, PUB, NULL, 0, 0, false).allow);
    policy_free(p);
}

/* %g takes each of the rule's groups the subject is in, one at a time. */
static void test_group_substitution(void **state)
{
    (void)state;
    struct policy *p = must_load("users:\n"
                                 "  - name: u\n"
                                 "    password: \"$7$1$c2FsdA$aGFzaA\"\n"
                                 "groups:\n"
                                 "  - name: red\n    members: [u]\n"
                                 "  - name: blue\n    members: [u]\n"
                                 "  - name: green\n    members: []\n"
                                 "rules:\n"
                                 "  - allow: both\n"
                                 "    topics: \"teams/%g/#\"\n"
                                 "    groups: [red, green]\n"
                                 "  - deny: publish\n"
                                 "    topics: \"teams/%{group}/locked\"\n"
                                 "    groups: [red]\n");
    struct policy_subject s = SUBJ("u1", "u", "u");
    assert_true(ask(p, &s, PUB, "teams/red/x", 0, false).allow);
    assert_true(ask(p, &s, SUB, "teams/red/#", 0, false).allow);
    assert_false(ask(p, &s, PUB, "teams/blue/x", 0, false).allow);  /* not in the rule */
    assert_false(ask(p, &s, PUB, "teams/green/x", 0, false).allow); /* not a member */
    assert_false(ask(p, &s, PUB, "teams/red/locked", 0, false).allow);
    assert_false(ask(p, &s, SUB, "teams/+/x", 0, false).allow);
    policy_free(p);
}

/* --- limits -------------------------------------------------------------------------------- */

static void test_limits(void **state)
{
    (void)state;
    struct policy_limits l;
    /* alice: staff (100/s, 50 subs); defaults give max_connections 5; burst follows the rate */
    policy_limits_for(acl, &ALICE, &l);
    assert_int_equal(l.max_connections, 5);
    assert_int_equal(l.msgs_per_s, 100);
    assert_int_equal(l.msgs_burst, 100);
    assert_int_equal(l.bytes_per_s, 0);
    assert_int_equal(l.max_subscriptions, 50);
    assert_int_equal(l.max_qos, 2);
    assert_true(l.retain_allowed);
    /* bob: staff (100/s) and night (20/s, no retain): the strictest of the groups */
    policy_limits_for(acl, &BOB, &l);
    assert_int_equal(l.msgs_per_s, 20);
    assert_false(l.retain_allowed);
    assert_int_equal(l.max_subscriptions, 50);
    /* carol: her own entry beats her groups, even to set "unlimited" (0) */
    policy_limits_for(acl, &CAROL, &l);
    assert_int_equal(l.max_connections, 2);
    assert_int_equal(l.msgs_per_s, 0);
    assert_int_equal(l.max_subscriptions, 50);
    /* sensor: devices */
    policy_limits_for(acl, &SENSOR, &l);
    assert_int_equal(l.msgs_per_s, 10);
    assert_int_equal(l.max_qos, 1);
    assert_int_equal(l.max_subscriptions, 10); /* defaults */
    /* truck: a group without limits, so the defaults */
    policy_limits_for(acl, &TRUCK, &l);
    assert_int_equal(l.max_connections, 5);
    assert_int_equal(l.msgs_per_s, 0);
    assert_int_equal(l.max_qos, 2);
    /* anonymous: the anonymous section's limits only */
    policy_limits_for(acl, &ANON, &l);
    assert_int_equal(l.max_connections, 50);
    assert_int_equal(l.msgs_per_s, 1);
    assert_int_equal(l.msgs_burst, 1);
    assert_int_equal(l.max_subscriptions, 0);

    struct policy *p = must_load("users:\n"
                                 "  - name: u\n"
                                 "    password: \"$7$1$c2FsdA$aGFzaA\"\n"
                                 "    limits: {max_qos: 1, burst: 7, messages_per_second: 3}\n"
                                 "rules:\n"
                                 "  - allow: both\n    topics: \"#\"\n    identities: [u]\n");
    struct policy_subject s = SUBJ("u1", "u", "u");
    policy_limits_for(p, &s, &l);
    assert_int_equal(l.msgs_per_s, 3);
    assert_int_equal(l.msgs_burst, 7);
    assert_int_equal(l.max_qos, 1);
    /* limits cap decisions too: max QoS is the lowest of what applies */
    struct policy_decision d = ask(p, &s, SUB, "a", 2, false);
    assert_true(d.allow);
    assert_int_equal(d.max_qos, 1);
    assert_false(ask(p, &s, PUB, "a", 2, false).allow);
    /* no anonymous section: nothing; no limits set anywhere: broker defaults */
    struct policy_subject anon = SUBJ("x", NULL, NULL);
    policy_limits_for(p, &anon, &l);
    assert_int_equal(l.max_connections, 0);
    assert_int_equal(l.max_qos, 2);
    assert_true(l.retain_allowed);
    assert_false(ask(p, &anon, SUB, "a", 0, false).allow);
    policy_free(p);
}

/* --- identity queries ---------------------------------------------------------------------- */

static void test_knows(void **state)
{
    (void)state;
    assert_true(policy_knows(acl, &ALICE));
    assert_true(policy_knows(acl, &CAROL));
    assert_false(policy_knows(acl, &CAROL_WRONG_CID));
    assert_true(policy_knows(acl, &SENSOR));
    assert_true(policy_knows(acl, &PLC));
    assert_false(policy_knows(acl, &PLC8));
    assert_true(policy_knows(acl, &DEV));
    assert_false(policy_knows(acl, &DEV_WRONG));
    assert_true(policy_knows(acl, &PINNED));
    assert_true(policy_knows(acl, &TRUCK));
    assert_false(policy_knows(acl, &TRUCK_BAD_SUBJECT));
    assert_false(policy_knows(acl, &TOKEN_ALICE));
    assert_false(policy_knows(acl, &ALICE_NO_USERNAME));
    assert_false(policy_knows(acl, &MALLORY));
    assert_true(policy_knows(acl, &ANON)); /* the policy has an anonymous section */
    /* certificate serials and fingerprints: any case, ':' or not, leading zeros or not */
    static const char *const serials[] = {"ab12", "AB:12", "00ab12", "0:0:a:b:1:2"};
    for (size_t i = 0; i < N(serials); i++) {
        struct auth_cert c = {.cn = "q", .serial_hex = serials[i]};
        struct policy_subject s = SUBJ("p", NULL, "q");
        s.cert = &c;
        assert_true(policy_knows(acl, &s));
    }
    struct auth_cert wrong = {.cn = "q", .serial_hex = "ab120"};
    struct policy_subject s = SUBJ("p", NULL, "q");
    s.cert = &wrong;
    assert_false(policy_knows(acl, &s));
    wrong.serial_hex = NULL;
    assert_false(policy_knows(acl, &s));
    /* a certificate alone, without an identity, is anonymous */
    s.cert = &plc_cert;
    s.identity = NULL;
    assert_true(policy_knows(acl, &s)); /* as anonymous */
    assert_false(ask(acl, &s, PUB, "certs/plc-7/data", 0, false).allow);

    /* a clients entry may say which identities can claim its client ids */
    struct policy *p = must_load("clients:\n"
                                 "  - name: gw\n"
                                 "    client_id: \"gw-*\"\n"
                                 "    identity: \"gateway-*\"\n");
    struct policy_subject gw = SUBJ("gw-1", NULL, "gateway-1");
    assert_true(policy_knows(p, &gw));
    gw.identity = "alice";
    assert_false(policy_knows(p, &gw));
    gw.identity = "gateway-1";
    gw.client_id = "x-1";
    gw.client_id_len = 3;
    assert_false(policy_knows(p, &gw));
    policy_free(p);

    p = must_load("rules: []\n");
    assert_false(policy_knows(p, &ANON));
    assert_false(policy_knows(p, &ALICE));
    assert_int_equal(policy_identity_count(p), 0);
    assert_int_equal(policy_rule_count(p), 0);
    policy_free(p);
    p = must_load("anonymous:\n");
    assert_true(policy_knows(p, &ANON));
    policy_free(p);
}

static void test_fingerprint_and_san_uri(void **state)
{
    (void)state;
    struct policy *p = must_load(
        "certificates:\n"
        "  - name: fp\n"
        "    fingerprint: \"80:8A:78:79:54:48:87:B0:69:5F:CF:7B:66:C7:DE:38:9A:94:AF:13:DF:08:2E:"
        "CF:1A:66:8D:89:00:3F:03:D5\"\n"
        "  - name: uri\n"
        "    san_uri: \"urn:plant:*\"\n"
        "    san_dns: \"*.Alt.EXAMPLE\"\n"
        "rules: []\n");
    struct auth_cert c = {.cn = "x",
                          .fingerprint_sha256_hex =
                              "808a7879544887b0695fcf7b66c7de389a94af13df082ecf1a668d89003f03d5"};
    struct policy_subject s = SUBJ("p", NULL, "x");
    s.cert = &c;
    assert_true(policy_knows(p, &s));
    c.fingerprint_sha256_hex = "808a7879544887b0695fcf7b66c7de389a94af13df082ecf1a668d89003f03d6";
    assert_false(policy_knows(p, &s));
    static const char *const uris[] = {"mailto:x", "urn:plant:plc-7", NULL};
    static const char *const dns[] = {"plc-7.alt.example", NULL};
    c.san_uri = uris;
    assert_false(policy_knows(p, &s)); /* both fields of the entry must match */
    c.san_dns = dns;
    assert_true(policy_knows(p, &s));
    policy_free(p);
}

static void test_passwords_and_issuers(void **state)
{
    (void)state;
    const char *h = policy_user_password_hash(acl, "alice", 5);
    assert_non_null(h);
    assert_true(strncmp(h, "$argon2id$v=19$", 15) == 0);
    h = policy_user_password_hash(acl, "bob", 3);
    assert_non_null(h);
    assert_string_equal(h, "$7$101$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA==");
    assert_non_null(policy_user_password_hash(acl, "alicex", 5)); /* the length decides */
    assert_null(policy_user_password_hash(acl, "alic", 4));
    assert_null(policy_user_password_hash(acl, "sensors", 7)); /* not a user */
    assert_null(policy_user_password_hash(acl, "fleet", 5));
    assert_null(policy_user_password_hash(acl, "nobody", 6));
    assert_null(policy_user_password_hash(NULL, "alice", 5));

    const struct policy_token_issuer *iss = NULL;
    assert_int_equal(policy_token_issuers(acl, &iss), 1);
    assert_non_null(iss);
    assert_string_equal(iss[0].name, "fleet");
    assert_string_equal(iss[0].audience, "bulwark");
    static const uint8_t pk[32] = {0x0e, 0x0e, 0x06, 0x32, 0xb6, 0x8a, 0x40, 0x02, 0xea, 0x46, 0x68,
                                   0x5a, 0x68, 0x25, 0x52, 0xaa, 0x86, 0x03, 0xe3, 0xa1, 0xd1, 0x74,
                                   0xa7, 0x5a, 0x16, 0x59, 0x8c, 0x3d, 0x76, 0xda, 0x7b, 0xf2};
    assert_memory_equal(iss[0].ed25519_pk, pk, 32);
    assert_int_equal(policy_identity_count(acl), 8);
    assert_int_equal(policy_rule_count(acl), 15);
}

/* URL-safe and unpadded base64 keys decode to the same bytes. */
static void test_key_encodings(void **state)
{
    (void)state;
    static const char *const keys[] = {"Dg4GMraKQALqRmhaaCVSqoYD46HRdKdaFlmMPXbae/I=",
                                       "Dg4GMraKQALqRmhaaCVSqoYD46HRdKdaFlmMPXbae/I",
                                       "Dg4GMraKQALqRmhaaCVSqoYD46HRdKdaFlmMPXbae_I="};
    for (size_t i = 0; i < N(keys); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "issuers:\n  - name: t\n    public_key: \"%s\"\n    audience: a\n", keys[i]);
        struct policy *p = must_load(text);
        const struct policy_token_issuer *iss;
        assert_int_equal(policy_token_issuers(p, &iss), 1);
        assert_int_equal(iss[0].ed25519_pk[0], 0x0e);
        assert_int_equal(iss[0].ed25519_pk[31], 0xf2);
        policy_free(p);
    }
}

/* The shipped example is a valid policy and says what its comments claim. */
static void test_deploy_example(void **state)
{
    (void)state;
    char path[700], err[4096];
    snprintf(path, sizeof(path), "%s/../../../../deploy/policy.yaml", data_dir);
    struct policy *p = policy_load(path, err, sizeof(err));
    if (!p)
        fprintf(stderr, "%s\n", err);
    assert_non_null(p);
    struct policy_subject alice = SUBJ("ops", "alice", "alice");
    assert_true(ask(p, &alice, SUB, "plant/#", 1, false).allow);
    assert_true(ask(p, &alice, SUB, "$SYS/broker/load", 0, false).allow);
    assert_false(ask(p, &alice, SUB, "$SYS/#", 0, false).allow);
    struct policy_subject bob_wrong = SUBJ("laptop", "bob", "bob");
    assert_false(policy_knows(p, &bob_wrong));
    struct policy_subject gw = SUBJ("gw-1", NULL, "gateway-1");
    assert_false(ask(p, &gw, PUB, "plant/l1/gw-1/cmd", 0, false).allow);
    /* a user picking a gateway's client id does not become a gateway */
    struct policy_subject alice_gw = SUBJ("gw-1", "alice", "alice");
    assert_false(ask(p, &alice_gw, PUB, "plant/l1/gw-1/telemetry", 0, false).allow);
    struct policy_decision d = ask(p, &gw, PUB, "plant/l1/gw-1/telemetry", 1, false);
    assert_true(d.allow);
    assert_int_equal(d.payload_format, POLICY_PAYLOAD_JSON);
    struct policy_subject anon = SUBJ("a", NULL, NULL);
    assert_true(ask(p, &anon, SUB, "public/announcements/#", 0, false).allow);
    assert_true(ask(p, &alice, PUB, "ward/3/x", 0, false).allow == false);
    policy_free(p);
}

/* Loading twice gives two independent policies; freeing NULL is fine. */
static void test_independent_loads(void **state)
{
    (void)state;
    char err[4096];
    struct policy *a = policy_load(acl_path, err, sizeof(err));
    struct policy *b = policy_load(acl_path, err, sizeof(err));
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a != b);
    policy_free(a);
    assert_true(ask(b, &ALICE, SUB, "site/a/b", 0, false).allow);
    policy_free(b);
    policy_free(NULL);
}

int main(void)
{
    make_subjects();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acl_users_and_groups),
        cmocka_unit_test(test_acl_devices_tokens_anonymous),
        cmocka_unit_test(test_payload_rules),
        cmocka_unit_test(test_injection_client_id),
        cmocka_unit_test(test_injection_username_cert_identity),
        cmocka_unit_test(test_restrictions_widen),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_filter_within_filter),
        cmocka_unit_test(test_deny_overlap),
        cmocka_unit_test(test_publish_matching),
        cmocka_unit_test(test_group_substitution),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_knows),
        cmocka_unit_test(test_fingerprint_and_san_uri),
        cmocka_unit_test(test_passwords_and_issuers),
        cmocka_unit_test(test_key_encodings),
        cmocka_unit_test(test_deploy_example),
        cmocka_unit_test(test_independent_loads),
    };
    return cmocka_run_group_tests(tests, setup_acl, teardown_acl);
}
