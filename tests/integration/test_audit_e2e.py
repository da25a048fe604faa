"""The auth daemon's audit log (docs/AUDIT.md) as a real bulwarkd writes it: what is logged,
the line format and hash chain (recomputed here with Python's BLAKE2b), that no secret is ever
written, and that `bulwark audit verify` accepts the log and names a changed line.

The roles run as bulwark-auth / bulwark-worker under the sandbox, so the log lives in a
directory of its own owned by bulwark-auth (mode 0700).
"""

import hashlib
import json
import os
import re
import signal
import subprocess
import time

import pytest

import mqttraw
from broker import bulwark_hash, wait_until
from harness import Ed25519Issuer

pytestmark = pytest.mark.bulwark_only

AUDIENCE = "bulwark.audit.test"
PW = {"alice": "alice-Audit-7731", "carol": "carol-Audit-1187", "lim": "lim-Audit-4402"}
WRONG_PASSWORD = "Wr0ng-Guess-For-Alice-5519"
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
EVENT_RE = re.compile(r"^[a-z0-9_.]{1,64}$")


def policy(issuer, with_carol=True, extra_rule=""):
    users = [("alice", ""), ("lim", "    limits: {max_connections: 1}\n")]
    if with_carol:
        users.append(("carol", ""))
    text = "version: 1\nusers:\n"
    for name, extra in users:
        text += '  - name: %s\n    password: "%s"\n%s' % (name, bulwark_hash(PW[name]), extra)
    text += ('issuers:\n  - name: fleet\n    public_key: "%s"\n    audience: "%s"\n'
             % (issuer.public_key_b64, AUDIENCE))
    text += ('rules:\n  - id: alice-own\n    allow: both\n    topics: "alice/#"\n'
             '    identities: [alice]\n' + extra_rule)
    return text


def read_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data.endswith(b"\n"), "the log does not end with a whole line"
    return data.decode("ascii").splitlines()


def check_chain(lines):
    """Checks every line against docs/AUDIT.md and returns them parsed."""
    events, prev = [], "0" * 64
    for n, line in enumerate(lines, 1):
        ev = json.loads(line)
        keys = list(ev)
        assert keys[:4] == ["ts", "seq", "prev", "event"] and keys[-1] == "h", (n, keys)
        assert TS_RE.match(ev["ts"]), (n, ev["ts"])
        assert ev["seq"] == n and ev["prev"] == prev, (n, line)
        assert EVENT_RE.match(ev["event"]), (n, ev["event"])
        assert all(isinstance(ev[k], str) for k in keys[4:-1]), (n, line)
        assert HEX64.match(ev["h"])
        assert all(0x20 <= ord(ch) < 0x7F for ch in line), (n, line)
        body = line[:line.rindex(',"h":"')]
        h = hashlib.blake2b(bytes.fromhex(prev) + body.encode(), digest_size=32).hexdigest()
        assert h == ev["h"], "line %d: hash does not match" % n
        prev = ev["h"]
        events.append(ev)
    return events


def find(events, event, **fields):
    return [e for e in events if e["event"] == event
            and all(e.get(k) == v for k, v in fields.items())]


def connack(b, client_id, username=None, password=None):
    with mqttraw.RawClient(b.port) as c:
        return c.connect(client_id, username=username, password=password).rc


def verify(*args):
    return subprocess.run([os.environ["BULWARK"], "audit", "verify"] + list(args),
                          capture_output=True, text=True, timeout=60)


def test_audit_log_records_decisions_without_secrets(make_broker, clients, audit_dir, tmp_path):
    """Accepted and refused connects (password, token, unknown user, max_connections), ACL
    denials of a publish and a subscribe, a reload and the disconnect it causes all appear as
    hash-chained JSON lines with the documented layout and fields; no password or token sent
    by any client appears in the log, its head file or the broker's own log; `bulwark audit
    verify` says ok."""
    fleet = Ed25519Issuer(str(tmp_path), "fleet")
    log = os.path.join(audit_dir, "audit.log")
    b = make_broker(allow_anonymous=False, policy=policy(fleet),
                    extra_config="auth:\n  audit_log: \"%s\"\n" % log)
    now = int(time.time())
    token = fleet.sign({"iss": "fleet", "sub": "truck-1", "aud": AUDIENCE, "exp": now + 600})
    expired = fleet.sign({"iss": "fleet", "sub": "truck-2", "aud": AUDIENCE, "exp": now - 3600})

    alice = clients.connect(b, "alice-1", username="alice", password=PW["alice"])
    assert connack(b, "alice-2", "alice", WRONG_PASSWORD) == 4
    assert connack(b, "mallory-1", "mallory", WRONG_PASSWORD + "-m") == 4
    assert connack(b, "truck-1", "", token) == 0
    assert connack(b, "truck-2", "", expired) == 4
    lim = clients.connect(b, "lim-1", username="lim", password=PW["lim"])
    assert connack(b, "lim-2", "lim", PW["lim"]) == 5
    carol = clients.connect(b, "carol-1", username="carol", password=PW["carol"])
    alice.publish("forbidden/x", b"no", qos=1)
    assert alice.subscribe([("forbidden/#", 1)]) == [0x80]
    b.set_policy(policy(fleet, with_carol=False))
    assert carol.wait_closed(timeout=3.0) == []
    lim.ping()
    alice.disconnect()
    assert b.stop() == []

    events = check_chain(read_lines(log))
    start = events[0]
    assert start["event"] == "audit_start"
    assert (start["format"], start["chain"]) == ("bulwark-audit-1", "plain")
    assert start["pid"].isdigit()

    ok = find(events, "connect", client_id="alice-1", result="accepted")
    assert len(ok) == 1
    assert (ok[0]["username"], ok[0]["backend"], ok[0]["identity"]) == ("alice", "password",
                                                                        "alice")
    assert re.match(r"^127\.0\.0\.1:\d+$", ok[0]["peer"]), ok[0]
    bad = find(events, "connect", client_id="alice-2", result="denied")
    assert len(bad) == 1 and bad[0]["username"] == "alice" and bad[0]["reason"], bad
    assert find(events, "connect", client_id="mallory-1", username="mallory", result="denied")
    tok_ok = find(events, "connect", client_id="truck-1", result="accepted")
    assert len(tok_ok) == 1 and tok_ok[0]["identity"] == "truck-1", tok_ok
    tok_bad = find(events, "connect", client_id="truck-2", result="denied")
    assert len(tok_bad) == 1 and "expired" in tok_bad[0]["reason"], tok_bad
    limit = find(events, "connect", client_id="lim-2", result="limit")
    assert len(limit) == 1 and limit[0]["reason"] == "max_connections", limit
    pub = find(events, "deny", client_id="alice-1", action="publish", topic="forbidden/x")
    sub = find(events, "deny", client_id="alice-1", action="subscribe", topic="forbidden/#")
    assert len(pub) == 1 and len(sub) == 1, (pub, sub)
    assert pub[0]["identity"] == "alice" and pub[0]["rule"] == "default deny"
    reload_ = find(events, "reload", generation="2")
    assert len(reload_) == 1 and reload_[0]["policy"] == b.policy_path, reload_
    gone = find(events, "disconnect", client_id="carol-1", identity="carol")
    assert len(gone) == 1, gone
    assert events.index(reload_[0]) < events.index(gone[0])

    secrets = list(PW.values()) + [WRONG_PASSWORD, WRONG_PASSWORD + "-m", token, expired,
                                   token.rsplit(".", 1)[1], expired.rsplit(".", 1)[1]]
    for path in (log, log + ".head", b.log_path):
        with open(path, "rb") as f:
            data = f.read()
        for s in secrets:
            assert s.encode() not in data, "a secret (%s...) is in %s" % (s[:6], path)

    r = verify(log)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "%s: ok, %d lines" % (log, len(events))


def test_audit_verify_names_a_changed_line(make_broker, audit_dir, tmp_path):
    """After one byte of one line of a log written by the broker is changed, `bulwark audit
    verify` fails (exit 1) and names that line; the untouched log still verifies."""
    fleet = Ed25519Issuer(str(tmp_path), "fleet")
    log = os.path.join(audit_dir, "audit.log")
    b = make_broker(allow_anonymous=False, policy=policy(fleet),
                    extra_config="auth:\n  audit_log: \"%s\"\n" % log)
    for i in range(3):
        assert connack(b, "alice-%d" % i, "alice", PW["alice"]) == 0
    assert connack(b, "alice-x", "alice", WRONG_PASSWORD) == 4
    assert b.stop() == []
    lines = read_lines(log)
    target = next(n for n, l in enumerate(lines, 1) if '"client_id":"alice-1"' in l)
    assert target < len(lines), "the changed line should not be the last one"
    for n, (old, new) in enumerate([(b'"alice-1"', b'"alice-7"'), (b'"seq":', b'"seq": ')]):
        copy = os.path.join(str(tmp_path), "tampered-%d.log" % n)
        with open(log, "rb") as f:
            data = f.read().split(b"\n")
        data[target - 1] = data[target - 1].replace(old, new, 1)
        with open(copy, "wb") as f:
            f.write(b"\n".join(data))
        r = verify(copy)
        assert r.returncode == 1, r.stdout + r.stderr
        assert re.search(r"\bline %d\b" % target, r.stdout + r.stderr), r.stdout + r.stderr
    r = verify(log)
    assert r.returncode == 0, r.stdout + r.stderr


def test_refused_reload_is_audited(make_broker, audit_dir, tmp_path):
    """A SIGHUP whose policy file is invalid is itself an audited reload attempt: a reload line
    appears that does not announce a new generation."""
    fleet = Ed25519Issuer(str(tmp_path), "fleet")
    log = os.path.join(audit_dir, "audit.log")
    b = make_broker(allow_anonymous=False, policy=policy(fleet),
                    extra_config="auth:\n  audit_log: \"%s\"\n" % log)
    before = len(read_lines(log))
    b.set_policy(policy(fleet) + "bogus_key: 1\n")
    assert wait_until(lambda: any("reload failed" in l for l in b.log_lines()), 5.0)
    b.proc.send_signal(signal.SIGHUP)  # harmless second attempt, same file
    time.sleep(0.3)
    events = check_chain(read_lines(log))[before:]
    attempts = [e for e in events if "reload" in e["event"]]
    assert attempts, "no audit line for the refused reload"
    assert all(e.get("generation") in (None, "1") for e in attempts), attempts
    assert all(e.get("result") == "refused" for e in attempts), attempts
    assert any(":" in e.get("reason", "") and "bogus_key" in e["reason"] for e in attempts), \
        attempts
