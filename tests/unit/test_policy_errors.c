/* Unit tests for policy_load's error reports: every message with its exact
 * FILE:LINE:COLUMN, all errors of a file in position order, and the bounds of the report. */
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

static char tmp_dir[64], tmp_path[96];

static int setup(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/bulwark-test-policy-XXXXXX");
    if (!mkdtemp(tmp_dir))
        return -1;
    snprintf(tmp_path, sizeof(tmp_path), "%s/policy.yaml", tmp_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(tmp_path);
    rmdir(tmp_dir);
    return 0;
}

/* Loads text from the test's policy file (one fixed path, so reports compare whole). */
static struct policy *load_text(const char *text, size_t len, char *err, size_t errlen)
{
    FILE *f = fopen(tmp_path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    return policy_load(tmp_path, err, errlen);
}

/* The report must be exactly the expected lines, each prefixed by the file name. */
static void expect(const char *name, const char *text, size_t len, const char *want)
{
    static char err[16384], full[16384];
    memset(err, 'x', sizeof(err));
    struct policy *p = load_text(text, len, err, sizeof(err));
    if (p) {
        fprintf(stderr, "%s: loaded, expected errors:\n%s\n", name, want);
        policy_free(p);
        fail();
    }
    size_t off = 0;
    for (const char *line = want; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        off += (size_t)snprintf(full + off, sizeof(full) - off, "%s%s:%.*s", off ? "\n" : "",
                                tmp_path, (int)n, line);
        line += n + (nl != NULL);
    }
    if (strcmp(err, full) != 0) {
        fprintf(stderr, "%s:\n--- got\n%s\n--- want\n%s\n", name, err, full);
        fail();
    }
}

static const struct {
    const char *name, *text, *want;
} CASES[] = {
    {"syntax", "rules: [\n",
     "2:1: did not find expected node content (while parsing a flow node at line 2 column 1)"},
    {"tab",
     "rules:\n"
     "\t- a\n",
     "2:1: found character that cannot start any token (while scanning for the next token at line "
     "2 column 1)"},
    {"alias",
     "users: &u []\n"
     "clients: *u\n",
     "2:10: YAML aliases (*u) are not allowed in a policy: write the value out"},
    {"two_docs",
     "rules: []\n"
     "---\n"
     "rules: []\n",
     "2:1: only one YAML document is allowed in a policy"},
    {"empty", "",
     "1:1: empty policy (write the sections: users, groups, rules, ...; a policy that allows "
     "nothing is `rules: []`)"},
    {"comment_only", "# nothing\n",
     "1:1: empty policy (write the sections: users, groups, rules, ...; a policy that allows "
     "nothing is `rules: []`)"},
    {"root_seq", "- rules\n",
     "1:1: the policy must be a mapping of sections (users, groups, rules, ...), found a sequence"},
    {"root_scalar", "hello\n",
     "1:1: the policy must be a mapping of sections (users, groups, rules, ...), found a scalar"},
    {"unknown_top",
     "rules: []\n"
     "rule: []\n",
     "2:1: unknown key 'rule' in the policy (allowed: version, users, clients, certificates, "
     "issuers, groups, default_limits, rules, payloads, anonymous)"},
    {"dup_top",
     "rules: []\n"
     "rules: []\n",
     "2:1: duplicate key 'rules' in the policy"},
    {"version", "version: 2\n", "1:10: 'version': 2 is out of range (1..1)"},
    {"version_quoted", "version: \"1\"\n",
     "1:10: 'version': expected a number, found a quoted string"},
    {"users_map",
     "users:\n"
     "  alice: x\n",
     "2:3: 'users': expected a sequence, found a mapping"},
    {"user_scalar",
     "users:\n"
     "  - alice\n",
     "2:5: 'users': expected a mapping, found a scalar"},
    {"user_missing",
     "users:\n"
     "  - name: alice\n"
     "  - password: \"$7$101$c2FsdA$aGFzaA\"\n",
     "2:5: users entry: missing required key 'password' (or 'device_key' for a device that "
     "authenticates with its Ed25519 key)\n"
     "3:5: users entry: missing required key 'name'"},
    {"user_unknown_key",
     "users:\n"
     "  - name: alice\n"
     "    password: \"$7$101$c2FsdA$aGFzaA\"\n"
     "    groups: [x]\n",
     "4:5: unknown key 'groups' in users entry (allowed: name, password, client_id, limits, device_key)"},
    {"user_plain_pw",
     "users:\n"
     "  - name: alice\n"
     "    password: hunter2\n",
     "3:15: 'password': expected a password hash: \"$argon2id$...\" from `bulwark passwd` or a "
     "Mosquitto \"$7$...\" hash (never a plain password)"},
    {"user_short_argon",
     "users:\n"
     "  - name: alice\n"
     "    password: \"$argon2id$v=19$m=65536$salt\"\n",
     "3:15: 'password': expected a password hash: \"$argon2id$...\" from `bulwark passwd` or a "
     "Mosquitto \"$7$...\" hash (never a plain password)"},
    {"user_7_iter",
     "users:\n"
     "  - name: alice\n"
     "    password: \"$7$abc$salt$hash\"\n",
     "3:15: 'password': expected a password hash: \"$argon2id$...\" from `bulwark passwd` or a "
     "Mosquitto \"$7$...\" hash (never a plain password)"},
    {"name_ctrl",
     "users:\n"
     "  - name: \"al\\tice\"\n"
     "    password: \"$7$101$c2FsdA$aGFzaA\"\n",
     "2:11: 'name': control characters are not allowed"},
    {"name_long",
     "users:\n"
     "  - name: "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
     "    password: \"$7$101$c2FsdA$aGFzaA\"\n",
     "2:11: 'name': longer than 127 bytes"},
    {"name_empty",
     "users:\n"
     "  - name: \"\"\n"
     "    password: \"$7$101$c2FsdA$aGFzaA\"\n",
     "2:11: 'name': must not be empty"},
    {"name_null",
     "users:\n"
     "  - name:\n"
     "    password: \"$7$101$c2FsdA$aGFzaA\"\n",
     "2:10: 'name': expected a string, found an empty value"},
    {"dup_identity",
     "users:\n"
     "  - name: alice\n"
     "    password: \"$7$101$c2FsdA$aGFzaA\"\n"
     "clients:\n"
     "  - name: alice\n"
     "    client_id: \"a*\"\n",
     "5:11: duplicate identity 'alice' (already a user at line 2)"},
    {"client_no_cid",
     "clients:\n"
     "  - name: c\n",
     "2:5: clients entry: missing required key 'client_id'"},
    {"client_empty_cid",
     "clients:\n"
     "  - name: c\n"
     "    client_id: \"\"\n",
     "3:16: 'client_id': empty pattern (use \"*\" for any)"},
    {"client_cid_self",
     "clients:\n"
     "  - name: c\n"
     "    client_id: \"%c-x\"\n",
     "3:16: 'client_id': substitution '%c' cannot be used here (allowed here: %u, %{identity}, "
     "%{cert.cn}, %{cert.serial}, %{cert.fingerprint})"},
    {"client_cid_unknown",
     "clients:\n"
     "  - name: c\n"
     "    client_id: \"%{cert.ou}\"\n",
     "3:16: 'client_id': unknown substitution '%{cert.ou}' (known: %c, %u, %g, %{client_id}, "
     "%{username}, %{group}, %{identity}, %{cert.cn}, %{cert.serial}, %{cert.fingerprint}; write "
     "%% for a literal '%')"},
    {"cert_nothing",
     "certificates:\n"
     "  - name: c\n"
     "    client_id: \"x\"\n",
     "2:5: certificates entry: give at least one of cn, san_dns, san_uri, serial or fingerprint"},
    {"cert_fp_len",
     "certificates:\n"
     "  - name: c\n"
     "    fingerprint: \"ab:cd\"\n",
     "3:18: 'fingerprint': expected 64 hexadecimal digits, found 4"},
    {"cert_fp_hex",
     "certificates:\n"
     "  - name: c\n"
     "    fingerprint: \"zz\"\n",
     "3:18: 'fingerprint': expected hexadecimal digits (':' between bytes allowed), found 'z'"},
    {"cert_serial_long",
     "certificates:\n"
     "  - name: c\n"
     "    serial: \"11111111111111111111111111111111111111111\"\n",
     "3:13: 'serial': expected 1 to 40 hexadecimal digits, found 41"},
    {"cert_cn_sub",
     "certificates:\n"
     "  - name: c\n"
     "    cn: \"%u\"\n",
     "3:9: 'cn': substitution '%u' cannot be used here (allowed here: none)"},
    {"issuer_b64",
     "issuers:\n"
     "  - name: i\n"
     "    public_key: \"not base64!\"\n"
     "    audience: a\n",
     "3:17: 'public_key': not base64 (expected the 32-byte Ed25519 public key in base64, 44 "
     "characters with padding)"},
    {"issuer_len",
     "issuers:\n"
     "  - name: i\n"
     "    public_key: \"AAAA\"\n"
     "    audience: a\n",
     "3:17: 'public_key': decodes to 3 bytes, an Ed25519 public key has 32"},
    {"issuer_missing",
     "issuers:\n"
     "  - name: i\n",
     "2:5: issuers entry: missing required key 'public_key'\n"
     "2:5: issuers entry: missing required key 'audience'"},
    {"group_name",
     "groups:\n"
     "  - name: \"a/b\"\n"
     "    members: []\n"
     "  - name: \"$x\"\n"
     "    members: []\n"
     "  - name: \"..\"\n"
     "    members: []\n",
     "2:11: 'name': 'a/b' cannot be a topic level (no '/', '+', '#' or '$', not '.' or '..')\n"
     "4:11: 'name': '$x' cannot be a topic level (no '/', '+', '#' or '$', not '.' or '..')\n"
     "6:11: 'name': '..' cannot be a topic level (no '/', '+', '#' or '$', not '.' or '..')"},
    {"group_members",
     "users:\n"
     "  - name: alice\n"
     "    password: \"$7$101$c2FsdA$aGFzaA\"\n"
     "groups:\n"
     "  - name: g\n"
     "    members: [alice, bob, alice]\n"
     "  - name: h\n",
     "6:22: unknown identity 'bob' in group 'g' (identities are the names under users, clients, "
     "certificates and issuers)\n"
     "6:27: 'alice' is listed twice in group 'g'\n"
     "7:5: groups entry: missing required key 'members'"},
    {"group_dup",
     "groups:\n"
     "  - name: g\n"
     "    members: []\n"
     "  - name: g\n"
     "    members: []\n",
     "4:11: duplicate group 'g' (first defined at line 2)"},
    {"limits_bad",
     "default_limits:\n"
     "  max_connections: -1\n"
     "  messages_per_second: 010\n"
     "  bytes_per_second: 4294967296\n"
     "  max_qos: 3\n"
     "  retain: yes\n"
     "  max_subscriptions: many\n"
     "  foo: 1\n",
     "2:20: 'max_connections': expected a whole number (digits only, no sign or leading zero), "
     "found '-1'\n"
     "3:24: 'messages_per_second': expected a whole number (digits only, no sign or leading zero), "
     "found '010'\n"
     "4:21: 'bytes_per_second': 4294967296 is out of range (0..4294967295)\n"
     "5:12: 'max_qos': 3 is out of range (0..2)\n"
     "6:11: 'retain': expected true or false, found 'yes'\n"
     "7:22: 'max_subscriptions': expected a whole number (digits only, no sign or leading zero), "
     "found 'many'\n"
     "8:3: unknown key 'foo' in default_limits (allowed: max_connections, messages_per_second, "
     "burst, bytes_per_second, max_subscriptions, max_qos, retain)"},
    {"limits_burst",
     "default_limits:\n"
     "  burst: 10\n",
     "2:3: 'burst' needs 'messages_per_second' in the same limits block"},
    {"limits_type", "default_limits: 5\n",
     "1:17: 'default_limits': expected a mapping, found a scalar"},
    {"rules_map",
     "rules:\n"
     "  a: b\n",
     "2:3: 'rules': expected a sequence, found a mapping"},
    {"rule_scalar",
     "rules:\n"
     "  - allow\n",
     "2:5: 'rules': expected a mapping, found a scalar"},
    {"rule_both",
     "rules:\n"
     "  - allow: publish\n"
     "    deny: publish\n"
     "    topics: a\n"
     "    everyone: true\n",
     "3:5: a rule has either 'allow' or 'deny', not both"},
    {"rule_neither",
     "rules:\n"
     "  - topics: a\n"
     "    everyone: true\n",
     "2:5: rule: missing 'allow' or 'deny' (publish, subscribe or both)"},
    {"rule_action",
     "rules:\n"
     "  - allow: write\n"
     "    topics: a\n"
     "    everyone: true\n",
     "2:12: 'allow': expected publish, subscribe or both, found 'write'"},
    {"rule_no_topics",
     "rules:\n"
     "  - allow: publish\n"
     "    everyone: true\n",
     "2:5: rule: missing required key 'topics'"},
    {"rule_empty_topics",
     "rules:\n"
     "  - allow: publish\n"
     "    topics: []\n"
     "    everyone: true\n",
     "3:13: 'topics': expected a topic pattern or a non-empty sequence of them, found an empty "
     "sequence"},
    {"rule_topic_map",
     "rules:\n"
     "  - allow: publish\n"
     "    topics: [{a: b}]\n"
     "    everyone: true\n",
     "3:14: 'topics': expected a topic pattern, found a mapping"},
    {"rule_nobody",
     "rules:\n"
     "  - allow: publish\n"
     "    topics: a\n",
     "2:5: rule applies to nobody: give identities, groups or everyone: true"},
    {"rule_everyone_false",
     "rules:\n"
     "  - allow: publish\n"
     "    topics: a\n"
     "    everyone: false\n",
     "2:5: rule applies to nobody: give identities, groups or everyone: true"},
    {"rule_refs",
     "rules:\n"
     "  - id: r1\n"
     "    allow: publish\n"
     "    topics: a\n"
     "    identities: [ghost]\n"
     "    groups: [phantom]\n",
     "5:18: unknown identity 'ghost' in rule 'r1'\n"
     "6:14: unknown group 'phantom' in rule 'r1'"},
    {"rule_deny_extras",
     "rules:\n"
     "  - deny: publish\n"
     "    topics: a\n"
     "    everyone: true\n"
     "    qos: 1\n"
     "    retain: true\n"
     "    payload: {sealed: true}\n",
     "5:5: 'qos' has no meaning in a deny rule (a deny grants nothing)\n"
     "6:5: 'retain' has no meaning in a deny rule (a deny grants nothing)\n"
     "7:5: 'payload' has no meaning in a deny rule (a deny grants nothing)"},
    {"rule_sub_extras",
     "rules:\n"
     "  - allow: subscribe\n"
     "    topics: a\n"
     "    everyone: true\n"
     "    retain: false\n"
     "    payload: {max_size: 1}\n",
     "5:5: 'retain' applies to publishing: this rule only allows subscribe\n"
     "6:5: 'payload' applies to publishing: this rule only allows subscribe"},
    {"rule_dup_id",
     "rules:\n"
     "  - id: x\n"
     "    allow: publish\n"
     "    topics: a\n"
     "    everyone: true\n"
     "  - id: x\n"
     "    allow: publish\n"
     "    topics: b\n"
     "    everyone: true\n",
     "6:9: duplicate rule id 'x' (first used at line 2)"},
    {"patterns",
     "rules:\n"
     "  - allow: both\n"
     "    everyone: true\n"
     "    topics:\n"
     "      - \"a/b+\"\n"
     "      - \"a/#/b\"\n"
     "      - \"#a\"\n"
     "      - \"\"\n"
     "      - \"%x/y\"\n"
     "      - \"a/%{cert.cn\"\n"
     "      - \"a/%\"\n"
     "      - \"a\\0b\"\n",
     "5:9: topic 'a/b+': '+' must fill a whole level (level 2 is 'b+')\n"
     "6:9: topic 'a/#/b': '#' must be the whole last level\n"
     "7:9: topic '#a': '#' must be the whole last level\n"
     "8:9: topic '': empty topic pattern\n"
     "9:9: topic '%x/y': unknown substitution '%x' (known: %c, %u, %g, %{client_id}, %{username}, "
     "%{group}, %{identity}, %{cert.cn}, %{cert.serial}, %{cert.fingerprint}; write %% for a "
     "literal '%')\n"
     "10:9: topic 'a/%{cert.cn': unknown substitution '%{cert.cn' (known: %c, %u, %g, "
     "%{client_id}, %{username}, %{group}, %{identity}, %{cert.cn}, %{cert.serial}, "
     "%{cert.fingerprint}; write %% for a literal '%')\n"
     "11:9: topic 'a/%': unknown substitution '%' (known: %c, %u, %g, %{client_id}, %{username}, "
     "%{group}, %{identity}, %{cert.cn}, %{cert.serial}, %{cert.fingerprint}; write %% for a "
     "literal '%')\n"
     "12:9: topic 'a': topic pattern is not valid UTF-8 or holds a NUL character"},
    {"pattern_g_nogroups",
     "rules:\n"
     "  - allow: both\n"
     "    everyone: true\n"
     "    topics: \"%g/x\"\n",
     "4:13: topic '%g/x': %g needs a rule that names groups"},
    {"pattern_g_mixed",
     "users:\n"
     "  - name: u\n"
     "    password: \"$7$101$c2FsdA$aGFzaA\"\n"
     "groups:\n"
     "  - name: g\n"
     "    members: [u]\n"
     "rules:\n"
     "  - allow: both\n"
     "    identities: [u]\n"
     "    groups: [g]\n"
     "    topics: \"%g/x\"\n",
     "11:13: topic '%g/x': %g needs a rule that applies through groups only (this one also names "
     "identities or everyone)"},
    {"pattern_levels",
     "rules:\n"
     "  - allow: both\n"
     "    everyone: true\n"
     "    topics: "
     "\"a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/"
     "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/"
     "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/"
     "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/"
     "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/"
     "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a\"\n",
     "4:13: topic "
     "'a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/': topic "
     "pattern has more than 256 levels"},
    {"anon_identity",
     "anonymous:\n"
     "  rules:\n"
     "    - allow: publish\n"
     "      topics: \"%{identity}/x\"\n",
     "4:15: topic '%{identity}/x': substitution '%{identity}' cannot be used here (allowed here: "
     "%c, %u, %{cert.cn}, %{cert.serial}, %{cert.fingerprint})"},
    {"anon_refs",
     "anonymous:\n"
     "  rules:\n"
     "    - allow: publish\n"
     "      topics: a\n"
     "      everyone: true\n"
     "  extra: 1\n",
     "5:7: unknown key 'everyone' in anonymous rule (allowed: id, allow, deny, topics, qos, "
     "retain, payload)\n"
     "6:3: unknown key 'extra' in anonymous (allowed: rules, limits)"},
    {"anon_type", "anonymous: [1]\n", "1:12: 'anonymous': expected a mapping, found a sequence"},
    {"payload_bad",
     "rules:\n"
     "  - allow: publish\n"
     "    everyone: true\n"
     "    topics: a\n"
     "    payload: {max_size: 0, format: xml, zip: true}\n",
     "5:25: 'max_size': 0 is out of range (1..268435455)\n"
     "5:36: 'format': expected any, utf8 or json, found 'xml'\n"
     "5:41: unknown key 'zip' in payload (allowed: max_size, format, sealed)"},
    {"payload_sealed_json",
     "rules:\n"
     "  - allow: publish\n"
     "    everyone: true\n"
     "    topics: a\n"
     "    payload:\n"
     "      format: json\n"
     "      sealed: true\n",
     "7:7: 'sealed' payloads are binary envelopes: they cannot also be utf8 or json"},
    {"payloads_entry",
     "payloads:\n"
     "  - id: p\n"
     "  - topics: \"%g\"\n"
     "    sealed: true\n"
     "  - topics: a\n"
     "    sealed: true\n"
     "    format: utf8\n",
     "2:5: payloads entry: missing required key 'topics'\n"
     "2:5: payloads entry: give at least one of max_size, format or sealed\n"
     "3:13: topic '%g': substitution '%g' cannot be used here (allowed here: %c, %u, %{identity}, "
     "%{cert.cn}, %{cert.serial}, %{cert.fingerprint})\n"
     "6:5: 'sealed' payloads are binary envelopes: they cannot also be utf8 or json"},
};

static void test_each_error(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++)
        expect(CASES[i].name, CASES[i].text, strlen(CASES[i].text), CASES[i].want);
}

/* Bytes that are not UTF-8 are libyaml's to find; its position is a byte offset turned into
 * a line and column. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char text[] = "rules:\n  - id: \"ok\xff\"\n";
    expect("utf8", text, sizeof(text) - 1, "2:12: invalid leading UTF-8 octet");
    static const char nul[] = "rules: []\n\0\n";
    expect("nul", nul, sizeof(nul) - 1, "2:1: control characters are not allowed");
}

/* Errors found while parsing and while resolving names come out in file order. */
static void test_errors_sorted_across_phases(void **state)
{
    (void)state;
    static const char text[] = "rules:\n"
                               "  - allow: publish\n"
                               "    groups: [nope]\n"
                               "    topics: a\n"
                               "users:\n"
                               "  - name: u\n"
                               "    password: x\n"
                               "  - name: u\n"
                               "    password: \"$7$1$c2FsdA$aGFzaA\"\n";
    expect("sorted", text, sizeof(text) - 1,
           "3:14: unknown group 'nope' in rule\n"
           "7:15: 'password': expected a password hash: \"$argon2id$...\" from `bulwark passwd` "
           "or a Mosquitto \"$7$...\" hash (never a plain password)\n"
           "8:11: duplicate identity 'u' (already a user at line 6)");
}

/* A file with very many errors reports the first 64 and says there are more. */
static void test_too_many_errors(void **state)
{
    (void)state;
    static char text[8192];
    size_t off = (size_t)snprintf(text, sizeof(text), "rules:\n");
    for (int i = 0; i < 70; i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off,
                                "  - {allow: write, topics: a, everyone: true}\n");
    static char err[32768];
    assert_null(load_text(text, off, err, sizeof(err)));
    unsigned lines = 1;
    for (const char *c = err; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 65);
    char first[200], more[200];
    snprintf(first, sizeof(first), "%s:2:13: 'allow': expected publish", tmp_path);
    snprintf(more, sizeof(more), "\n%s: more than 64 errors, the rest not shown", tmp_path);
    assert_true(strncmp(err, first, strlen(first)) == 0);
    assert_non_null(strstr(err, more));
    assert_non_null(strstr(err, ":65:13: 'allow'"));
    assert_null(strstr(err, ":66:13: 'allow'"));
}

/* A short buffer holds whole lines, and always the (maybe cut) first error. */
static void test_report_bounds(void **state)
{
    (void)state;
    static const char text[] = "version: 2\nbogus: 1\n";
    char big[1024], small[40];
    assert_null(load_text(text, sizeof(text) - 1, big, sizeof(big)));
    char *nl = strchr(big, '\n');
    assert_non_null(nl);
    size_t first_len = (size_t)(nl - big);
    /* room for the first line only: the second is left out, not cut */
    char *fit = malloc(first_len + 10);
    assert_non_null(fit);
    assert_null(load_text(text, sizeof(text) - 1, fit, first_len + 10));
    assert_int_equal(strlen(fit), first_len);
    assert_true(strncmp(fit, big, first_len) == 0);
    free(fit);
    /* less room than the first line: it is cut, NUL-terminated */
    assert_null(load_text(text, sizeof(text) - 1, small, sizeof(small)));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_true(strncmp(small, big, sizeof(small) - 1) == 0);
    /* no buffer at all is allowed */
    assert_null(load_text(text, sizeof(text) - 1, NULL, 0));
}

static void test_unreadable_files(void **state)
{
    (void)state;
    char err[512];
    assert_null(policy_load("/nonexistent/bulwark-policy.yaml", err, sizeof(err)));
    assert_string_equal(err, "/nonexistent/bulwark-policy.yaml: cannot open: No such file or "
                             "directory");
    assert_null(policy_load("/", err, sizeof(err)));
    assert_string_equal(err, "/: cannot read: Is a directory");
    assert_null(policy_load(NULL, err, sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_error),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_errors_sorted_across_phases),
        cmocka_unit_test(test_too_many_errors),
        cmocka_unit_test(test_report_bounds),
        cmocka_unit_test(test_unreadable_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
