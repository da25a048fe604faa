"""`bulwark policy check|test|explain`: the real CLI ($BULWARK) on real policy files."""

import os
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLE = os.path.join(REPO, "deploy", "policy.yaml")
CERTS = os.path.join(REPO, "tests", "unit", "data", "policy")
HASH = "$7$101$c2FsdA$aGFzaA"

pytestmark = pytest.mark.bulwark_only

POLICY = """\
users:
  - name: alice
    password: "%(hash)s"
  - name: bob
    password: "%(hash)s"
    client_id: "bob-*"
    limits: {max_connections: 3}
certificates:
  - name: plcs
    cn: "plc-*"
    san_dns: "*.plc.example"
    client_id: "%%{cert.cn}"
groups:
  - name: staff
    members: [alice, bob]
    limits: {messages_per_second: 50, max_qos: 1}
rules:
  - id: staff-read
    allow: subscribe
    topics: "site/#"
    groups: [staff]
  - id: no-secrets
    deny: both
    topics: "site/secret/#"
    everyone: true
  - id: own
    allow: both
    topics: "clients/%%c/#"
    everyone: true
    retain: false
  - allow: publish
    topics: "certs/%%{cert.cn}/data"
    identities: [plcs]
anonymous:
  rules:
    - id: anon
      allow: subscribe
      topics: "public/#"
      qos: 0
""" % {"hash": HASH}


def bulwark(*args):
    exe = os.environ["BULWARK"]
    return subprocess.run([exe] + list(args), capture_output=True, text=True, timeout=60)


@pytest.fixture
def policy(tmp_path):
    path = str(tmp_path / "policy.yaml")
    with open(path, "w") as f:
        f.write(POLICY)
    return path


def write(tmp_path, text, name="p.yaml"):
    path = str(tmp_path / name)
    with open(path, "w") as f:
        f.write(text)
    return path


# --- check ---------------------------------------------------------------------------------------

def test_check_valid_policy(policy):
    r = bulwark("policy", "check", policy)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "%s: ok (3 identities, 5 rules)\n" % policy
    assert r.stderr == ""


def test_check_shipped_example():
    """deploy/policy.yaml is valid as shipped."""
    r = bulwark("policy", "check", EXAMPLE)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "%s: ok (6 identities, 11 rules)\n" % EXAMPLE


def test_check_reports_every_error_with_position(tmp_path):
    path = write(tmp_path, (
        "users:\n"
        "  - name: alice\n"
        "    password: hunter2\n"
        "rules:\n"
        "  - allow: publish\n"
        "    topics: \"a/#/b\"\n"
        "    groups: [ghosts]\n"
        "  - deny: subscribe\n"
        "    topics: \"%x\"\n"
        "    everyone: true\n"
        "colour: blue\n"))
    r = bulwark("policy", "check", path)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        "%s:3:15: 'password': expected a password hash: \"$argon2id$...\" from `bulwark "
        "passwd` or a Mosquitto \"$7$...\" hash (never a plain password)" % path,
        "%s:6:13: topic 'a/#/b': '#' must be the whole last level" % path,
        "%s:7:14: unknown group 'ghosts' in rule" % path,
        "%s:9:13: topic '%%x': unknown substitution '%%x' (known: %%c, %%u, %%g, %%{client_id}, "
        "%%{username}, %%{group}, %%{identity}, %%{cert.cn}, %%{cert.serial}, "
        "%%{cert.fingerprint}; write %%%% for a literal '%%')" % path,
        "%s:11:1: unknown key 'colour' in the policy (allowed: version, users, clients, "
        "certificates, issuers, groups, default_limits, rules, payloads, anonymous)" % path,
    ]


def test_check_yaml_syntax_error(tmp_path):
    path = write(tmp_path, "rules:\n  - allow: publish\n   topics: a\n")
    r = bulwark("policy", "check", path)
    assert r.returncode == 1
    assert r.stderr.startswith(path + ":3:")


def test_check_missing_file_and_usage(tmp_path):
    missing = str(tmp_path / "none.yaml")
    r = bulwark("policy", "check", missing)
    assert r.returncode == 2
    assert r.stderr == "%s: cannot open: No such file or directory\n" % missing
    assert bulwark("policy", "check").returncode == 2
    assert bulwark("policy", "check", missing, "extra").returncode == 2
    assert bulwark("policy").returncode == 2
    assert bulwark("policy", "lint", missing).returncode == 2


# --- test ----------------------------------------------------------------------------------------

def test_allow_names_rule_and_qos(policy):
    r = bulwark("policy", "test", policy, "--client-id", "alice-1", "--user", "alice",
                "--subscribe", "site/a/+", "--qos", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "allow\nmax_qos 1\nrule %s:18 (staff-read)\n" % policy


def test_deny_beats_allow(policy):
    r = bulwark("policy", "test", policy, "--client-id", "alice-1", "--user", "alice",
                "--subscribe", "site/#")
    assert r.returncode == 1
    assert r.stdout == "deny\nmax_qos 0\nrule %s:22 (no-secrets)\n" % policy


def test_default_deny(policy):
    r = bulwark("policy", "test", policy, "--client-id", "alice-1", "--user", "alice",
                "--publish", "site/a")
    assert r.returncode == 1
    assert r.stdout == "deny\nmax_qos 0\ndefault deny\n"


def test_publish_details_and_refusals(policy):
    base = ["policy", "test", policy, "--client-id", "alice-1", "--user", "alice",
            "--publish", "clients/alice-1/x"]
    r = bulwark(*base)
    assert r.returncode == 0
    assert r.stdout == "allow\nmax_qos 1\nrule %s:26 (own)\nretain not allowed\n" % policy
    r = bulwark(*(base + ["--qos", "2"]))
    assert r.returncode == 1
    assert r.stdout.splitlines()[0] == "deny"
    assert r.stdout.splitlines()[-1] == "reason: QoS 2 is above the allowed 1"
    r = bulwark(*(base + ["--retain"]))
    assert r.returncode == 1
    assert r.stdout.splitlines()[-1] == "reason: retain is not allowed"


def test_subject_variants(policy):
    # bob is pinned to bob-* client ids: elsewhere he is unknown
    r = bulwark("policy", "test", policy, "--client-id", "laptop", "--user", "bob",
                "--subscribe", "site/x")
    assert (r.returncode, r.stdout.splitlines()[-1]) == (1, "default deny")
    r = bulwark("policy", "test", policy, "--client-id", "bob-2", "--user", "bob",
                "--subscribe", "site/x")
    assert r.returncode == 0
    # anonymous: no --user/--identity, or --anonymous
    r = bulwark("policy", "test", policy, "--client-id", "x", "--subscribe", "public/news")
    assert r.returncode == 0
    assert r.stdout == "allow\nmax_qos 0\nrule %s:36 (anon)\n" % policy
    r = bulwark("policy", "test", policy, "--client-id", "alice-1", "--user", "alice",
                "--anonymous", "--subscribe", "site/x")
    assert r.returncode == 1
    # a token subject named alice is not the user alice
    r = bulwark("policy", "test", policy, "--client-id", "alice-1", "--user", "alice",
                "--identity", "alice", "--issuer", "fleet", "--subscribe", "site/x")
    assert r.returncode == 1


@pytest.mark.parametrize("client_id", ["a/+", "#", "+", "$SYS", "x/../y", "a/b", ".."])
def test_client_id_injection_never_widens(policy, client_id):
    """A client id holding '/', '+', '#' or '$' makes "clients/%c/#" match nothing."""
    for action, topic in [("--subscribe", "clients/#"), ("--subscribe", "clients/+/x"),
                          ("--publish", "clients/a/b/c"), ("--subscribe", "$SYS/#"),
                          ("--publish", "clients/x/../y/z")]:
        r = bulwark("policy", "test", policy, "--client-id", client_id, "--user", "alice",
                    action, topic)
        assert r.returncode == 1, (client_id, topic, r.stdout)


def test_certificate_fields(policy):
    plc = os.path.join(CERTS, "plc-7.pem")
    r = bulwark("policy", "test", policy, "--client-id", "plc-7", "--cert", plc,
                "--publish", "certs/plc-7/data")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[2] == "rule %s:31" % policy
    # the certificate binds the client id
    r = bulwark("policy", "test", policy, "--client-id", "plc-8", "--cert", plc,
                "--publish", "certs/plc-7/data")
    assert r.returncode == 1
    # a CN "a/+" is never a wildcard
    evil = os.path.join(CERTS, "evil-cn.pem")
    r = bulwark("policy", "test", policy, "--client-id", "a", "--cert", evil,
                "--subscribe", "certs/#")
    assert r.returncode == 1
    r = bulwark("policy", "test", policy, "--client-id", "plc-7", "--cert",
                os.path.join(CERTS, "missing.pem"), "--publish", "certs/plc-7/data")
    assert r.returncode == 2
    assert "not a readable PEM certificate" in r.stderr


def test_usage_errors(policy, tmp_path):
    cases = [
        ["policy", "test", policy, "--publish", "a"],                       # no --client-id
        ["policy", "test", policy, "--client-id", "c"],                     # no action
        ["policy", "test", policy, "--client-id", "c", "--publish", "a", "--subscribe", "b"],
        ["policy", "test", policy, "--client-id", "c", "--publish", "a", "--qos", "3"],
        ["policy", "test", policy, "--client-id", "c", "--publish", "a", "--bogus"],
        ["policy", "test", policy, "--client-id"],
        ["policy", "test", "--client-id", "c", "--publish", "a"],            # no FILE
        ["policy", "test", policy, "--client-id", "c", "--issuer", "i", "--publish", "a"],
    ]
    for args in cases:
        r = bulwark(*args)
        assert r.returncode == 2, args
        assert "usage: bulwark policy" in r.stderr
    bad = write(tmp_path, "rules: 1\n", "bad.yaml")
    r = bulwark("policy", "test", bad, "--client-id", "c", "--publish", "a")
    assert r.returncode == 2
    assert r.stderr.startswith(bad + ":1:8: ")


# --- explain -------------------------------------------------------------------------------------

def test_explain_lists_rules_in_precedence_order(policy):
    r = bulwark("policy", "explain", policy, "--client-id", "alice-1", "--user", "alice")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == 'subject: client id "alice-1", username "alice", identity "alice"'
    assert lines[1] == "identity entries: user alice (%s:2)" % policy
    assert lines[2] == "groups: staff (%s:14)" % policy
    rules = [l for l in lines if l.startswith("  ")]
    assert [l.split()[0] for l in rules] == ["deny", "allow", "allow"]
    assert rules[0].endswith("rule %s:22 (no-secrets)" % policy)
    assert "site/#" in rules[1] and rules[1].endswith("rule %s:18 (staff-read)" % policy)
    assert "clients/alice-1/# [clients/%c/#]" in rules[2]
    assert "retain no" in rules[2]
    assert lines[-1] == ("limits: max_connections unlimited, messages_per_second 50, burst 50, "
                         "bytes_per_second unlimited, max_subscriptions unlimited, max_qos 1, "
                         "retain allowed")


def test_explain_identity_limits_and_unknown(policy):
    r = bulwark("policy", "explain", policy, "--client-id", "bob-1", "--user", "bob")
    assert r.returncode == 0
    assert "max_connections 3," in r.stdout.splitlines()[-1]
    r = bulwark("policy", "explain", policy, "--client-id", "a/+", "--user", "alice")
    assert r.returncode == 0
    assert ("clients/%c/# [%c is missing or not one topic level for this client: never "
            "matches]") in r.stdout
    r = bulwark("policy", "explain", policy, "--client-id", "m", "--identity", "mallory")
    assert r.returncode == 0
    assert "not known to the policy" in r.stdout
    assert "  none: every publish and subscribe is denied" in r.stdout
    r = bulwark("policy", "explain", policy, "--client-id", "x")
    assert r.returncode == 0
    assert "anonymous: governed by the anonymous section" in r.stdout
    assert "public/#" in r.stdout
    assert bulwark("policy", "explain", policy).returncode == 2
