"""`bulwark import mosquitto` against the real thing.

The password file is written by mosquitto_passwd and the ACL file is served by Debian's
mosquitto 2.0, started here on a free port. Every (user, client id, action, topic) of the
matrix is asked twice: `bulwark policy test` on the imported policy, and Mosquitto itself:
publish allowed = a subscriber with full rights receives it; subscribe allowed = every probe
message published to the filter arrives (Mosquitto 2.0 always grants the SUBACK and filters
at delivery, so delivery is what is measured). The answers must agree, except for the few
differences docs/MIGRATION.md lists, which are checked to go the announced way.

Synchronisation is by acknowledgement, never by sleeping: after a client's PUBLISH or the
admin's probes, a SUBSCRIBE round trip on the same connection proves Mosquitto has handled
everything sent before it, and a SUBACK arrives after every message queued before it.
"""

import base64
import hashlib
import itertools
import os
import re
import signal
import stat
import subprocess
import threading

import pytest

import paho.mqtt.client as mqtt
from broker import free_port, wait_until

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BULWARK = os.environ.get("BULWARK", os.path.join(REPO, "build/asan/bulwark"))
MOSQUITTO = "/usr/sbin/mosquitto"
WAIT = 5.0

# Users and passwords; carol gets a Mosquitto 1.x "$6$" hash.
PASSWORDS = {
    "admin": "admin secret",
    "alice": "p\u00e4ss w\u00f6rd",
    "bob": "b0b",
    "dave": "dave-pw",
    "carol": "legacy",
    "eve+1": "eve-pw",
    "ops/night": "ops-pw",
}
SHA512_USERS = {"carol"}

ACL = """\
# anonymous clients: the lines before the first user line
topic read public/#
topic write public/anon/in
topic deny public/secret

user admin
topic readwrite #

user alice
topic readwrite alice/#
topic deny alice/private/#
topic read shared/+/data
topic readwrite secret/alice
topic write devices/alice-dev/cmd
topic read docs/100%
topic read my topic/x

user bob
topic read alice/#
topic write bob/out
topic read users/alice/#
topic read users/bob/locked
topic read vault/bob/inbox

user eve+1
topic read eve/#

user ghost
topic readwrite #

user ops/night
topic write $app/ops/status

pattern read devices/%c/cmd
pattern write devices/%c/state
pattern readwrite users/%u/#
pattern deny users/%u/locked
pattern deny secret/#
pattern read inbox/%u
pattern write outbox/%c/%u
pattern read vault/%u/#
pattern deny vault/#
pattern deny public/%c/private
"""


def acl_line(text):
    """1-based line of the ACL line that is exactly text."""
    return ACL.splitlines().index(text) + 1


# (user or None for anonymous, client id, "pub" or "sub", topic or filter[, probe topics]).
ANON = (None, "anon-1")
ADMIN = ("admin", "adm-1")
ALICE = ("alice", "alice-dev")
BOB = ("bob", "bob-1")
DAVE = ("dave", "dave-1")
SENSOR = ("dave", "sensor-7")
EVE = ("eve+1", "eve-1")
OPS = ("ops/night", "ops-1")

MATRIX = [
    # anonymous clients: their own lines, patterns without %u
    (ANON, "pub", "public/anon/in"),
    (ANON, "pub", "public/x"),
    (ANON, "sub", "public/x"),
    (ANON, "sub", "public/secret"),
    (ANON, "sub", "public/#", ["public/x", "public/secret", "public/a/b"]),
    (ANON, "sub", "public/+/b", ["public/a/b", "public/c/b"]),
    (ANON, "pub", "devices/anon-1/state"),
    (ANON, "pub", "devices/other/state"),
    (ANON, "sub", "devices/anon-1/cmd"),
    (ANON, "sub", "users/x/y"),
    (ANON, "pub", "users/x/y"),
    (ANON, "sub", "secret/x"),
    (ANON, "sub", "public/anon-1/private"),  # own read beats the pattern deny
    (ANON, "pub", "public/anon-1/private"),
    (ANON, "sub", "vault/x"),
    # admin: its own allow beats every pattern deny
    (ADMIN, "pub", "secret/x"),
    (ADMIN, "sub", "secret/x"),
    (ADMIN, "pub", "users/admin/locked"),
    (ADMIN, "sub", "alice/private/x"),
    (ADMIN, "sub", "vault/x"),
    (ADMIN, "pub", "public/adm-1/private"),
    (ADMIN, "sub", "#", ["alice/x", "secret/x", "public/secret", "vault/y"]),
    # alice: own lines, own deny, patterns by %u and %c
    (ALICE, "pub", "alice/x"),
    (ALICE, "pub", "alice/private/x"),
    (ALICE, "sub", "alice/private"),
    (ALICE, "sub", "alice/#", ["alice/x", "alice/private/y"]),
    (ALICE, "sub", "alice/+", ["alice/x", "alice/private"]),
    (ALICE, "sub", "shared/x/data"),
    (ALICE, "pub", "shared/x/data"),
    (ALICE, "sub", "shared/#", ["shared/x/data", "shared/y"]),
    (ALICE, "sub", "shared/+/data", ["shared/a/data", "shared/b/data"]),
    (ALICE, "pub", "secret/alice"),
    (ALICE, "sub", "secret/alice"),
    (ALICE, "pub", "secret/other"),
    (ALICE, "pub", "users/alice/x"),
    (ALICE, "sub", "users/alice/x"),
    (ALICE, "pub", "users/alice/locked"),
    (ALICE, "sub", "users/alice/#", ["users/alice/x", "users/alice/locked"]),
    (ALICE, "pub", "users/bob/x"),
    (ALICE, "pub", "devices/alice-dev/state"),
    (ALICE, "sub", "devices/alice-dev/cmd"),
    (ALICE, "pub", "devices/alice-dev/cmd"),
    (ALICE, "pub", "devices/other/cmd"),
    (ALICE, "sub", "inbox/alice"),
    (ALICE, "sub", "inbox/bob"),
    (ALICE, "pub", "outbox/alice-dev/alice"),
    (ALICE, "pub", "outbox/alice-dev/bob"),
    (ALICE, "sub", "docs/100%"),
    (ALICE, "sub", "my topic/x"),
    (ALICE, "sub", "vault/alice/x"),
    # bob: reads alice's space (her deny is hers alone), a read-only exception to a deny
    (BOB, "sub", "alice/#", ["alice/x", "alice/private/y"]),
    (BOB, "pub", "alice/x"),
    (BOB, "pub", "bob/out"),
    (BOB, "sub", "users/alice/x"),
    (BOB, "sub", "users/alice/locked"),
    (BOB, "sub", "users/bob/locked"),
    (BOB, "pub", "users/bob/locked"),
    (BOB, "pub", "users/bob/x"),
    (BOB, "sub", "secret/bob"),
    (BOB, "sub", "vault/bob/other"),
    # dave: patterns only; the same user under another client id
    (DAVE, "pub", "users/dave/x"),
    (DAVE, "sub", "users/dave/x"),
    (DAVE, "pub", "users/dave/locked"),
    (DAVE, "pub", "devices/dave-1/state"),
    (DAVE, "pub", "devices/dave-2/state"),
    (DAVE, "sub", "secret/x"),
    (DAVE, "pub", "alice/x"),
    (DAVE, "sub", "vault/dave/x"),
    (DAVE, "sub", "public/x"),
    (SENSOR, "pub", "devices/sensor-7/state"),
    (SENSOR, "pub", "devices/dave-1/state"),
    (SENSOR, "pub", "outbox/sensor-7/dave"),
    # eve+1: '+' in the name, so Mosquitto applies no pattern to it
    (EVE, "sub", "eve/x"),
    (EVE, "pub", "devices/eve-1/state"),
    (EVE, "sub", "devices/eve-1/cmd"),
    # ops/night: %c patterns still apply
    (OPS, "pub", "devices/ops-1/state"),
    (OPS, "sub", "users/ops/x"),
]

# The differences docs/MIGRATION.md announces: (case, mosquitto, bulwark, why).
EXPECTED_DIFFERENCES = [
    ((BOB, "sub", "vault/bob/inbox"), True, False,
     "bob's own read overlaps `pattern deny vault/#` and `pattern read vault/%u/#` overlaps it "
     "too: the deny stays (noted in the output)"),
    ((OPS, "pub", "users/ops/night/x"), True, False,
     "%u never expands a '/' in a user name into levels (noted in the output)"),
    ((("dave", "d/1"), "pub", "devices/d/1/state"), True, False,
     "%c never expands a '/' in a client id into levels"),
    ((("dave", "c+1"), "pub", "users/dave/x"), False, True,
     "Mosquitto refuses every pattern to a client id holding '+' or '#'; bulwark compares the "
     "substituted values as literal levels, so patterns that do not use the client id still "
     "apply"),
]


# --------------------------------------------------------------------------- the brokers


class Client:
    """A paho client with blocking connect, subscribe and sync."""

    _ids = itertools.count()

    def __init__(self, port, client_id, user=None):
        self.c = mqtt.Client(client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311)
        if user is not None:
            self.c.username_pw_set(user, PASSWORDS[user])
        self.cv = threading.Condition()
        self.rc = None
        self.topics = []
        self.acks = {}
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        with self.cv:
            self.cv.wait_for(lambda: self.rc is not None, WAIT)
        assert self.rc == 0, "CONNECT %s/%s refused: %s" % (user, client_id, self.rc)

    def _on_connect(self, client, userdata, flags, rc):
        with self.cv:
            self.rc = rc
            self.cv.notify_all()

    def _on_message(self, client, userdata, msg):
        with self.cv:
            self.topics.append(msg.topic)
            self.cv.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted):
        with self.cv:
            self.acks[mid] = granted
            self.cv.notify_all()

    def subscribe(self, topic_filter):
        rc, mid = self.c.subscribe(topic_filter, 0)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        with self.cv:
            assert self.cv.wait_for(lambda: mid in self.acks, WAIT), "no SUBACK"
        return self.acks[mid]

    def sync(self):
        """Returns once the broker has handled everything this client sent before."""
        self.subscribe("zz-sync/%d" % next(self._ids))

    def publish(self, topic):
        assert self.c.publish(topic, b"m", 0).rc == mqtt.MQTT_ERR_SUCCESS

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


class Mosquitto:
    def __init__(self, workdir, passwd, acl):
        self.port = free_port()
        self.conf = os.path.join(workdir, "mosquitto.conf")
        self.log = os.path.join(workdir, "mosquitto.log")
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npassword_file %s\n"
                    "acl_file %s\npersistence false\nlog_dest stderr\nlog_type error\n"
                    "log_type warning\nuser root\n" % (self.port, passwd, acl))
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        assert wait_until(self._ready, 10), "mosquitto did not start:\n" + self.log_text()
        self.observer = Client(self.port, "observer", "admin")
        self.observer.subscribe("#")

    def _ready(self):
        if self.proc.poll() is not None:
            return True
        try:
            Client(self.port, "probe-ready").close()
            return True
        except (OSError, AssertionError):
            return False

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def may_publish(self, user, client_id, topic):
        c = Client(self.port, client_id, user)
        self.observer.topics.clear()
        c.publish(topic)
        c.sync()
        self.observer.sync()
        c.close()
        return topic in self.observer.topics

    def may_subscribe(self, user, client_id, topic_filter, probes):
        c = Client(self.port, client_id, user)
        c.subscribe(topic_filter)
        for t in probes:
            self.observer.publish(t)
        self.observer.sync()
        c.sync()
        got = set(c.topics)
        c.close()
        return all(t in got for t in probes), sorted(got)

    def stop(self):
        try:
            self.observer.close()
        finally:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)


# --------------------------------------------------------------------------- fixtures


def import_policy(workdir, passwd, acl, out="policy.yaml"):
    out = os.path.join(workdir, out) if out else None
    argv = [BULWARK, "import", "mosquitto", "--passwd", passwd, "--acl", acl]
    if out:
        argv += ["-o", out]
    return out, subprocess.run(argv, capture_output=True, text=True, timeout=60)


def policy_decision(policy, user, client_id, action, topic):
    argv = [BULWARK, "policy", "test", policy, "--client-id", client_id]
    if user is not None:
        argv += ["--user", user]
    argv += ["--publish" if action == "pub" else "--subscribe", topic]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode in (0, 1), "policy test failed: %s\n%s" % (argv, r.stderr)
    return r.returncode == 0


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("import"))
    passwd = os.path.join(work, "passwd")
    for i, (user, password) in enumerate(PASSWORDS.items()):
        argv = ["mosquitto_passwd"] + (["-H", "sha512"] if user in SHA512_USERS else [])
        argv += (["-c"] if i == 0 else []) + ["-b", passwd, user, password]
        subprocess.run(argv, check=True, capture_output=True, timeout=30)
    acl = os.path.join(work, "acl")
    with open(acl, "w") as f:
        f.write(ACL)
    out, r = import_policy(work, passwd, acl)
    assert r.returncode == 0, r.stderr
    broker = Mosquitto(work, passwd, acl)
    yield {"work": work, "passwd": passwd, "acl": acl, "policy": out, "stderr": r.stderr,
           "mosquitto": broker}
    broker.stop()


def text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# --------------------------------------------------------------------------- tests


def test_output_is_a_valid_policy(setup):
    r = subprocess.run([BULWARK, "policy", "check", setup["policy"]], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(setup["policy"]).st_mode) == 0o600


def test_hashes_are_kept_verbatim_and_verify(setup):
    """Each "$7$" line of the password file is in the policy byte for byte and checks out
    as PBKDF2-HMAC-SHA512 of the user's password (computed here independently)."""
    policy = text(setup["policy"])
    found = dict(re.findall(r'- name: "([^"]*)"\n\s+password: "([^"]*)"', policy))
    from_file = dict(line.split(":", 1) for line in text(setup["passwd"]).splitlines())
    assert set(found) == set(PASSWORDS) - SHA512_USERS
    for user, stored in found.items():
        assert stored == from_file[user]
        _, scheme, iterations, salt, digest = stored.split("$")
        assert scheme == "7"
        derived = hashlib.pbkdf2_hmac("sha512", PASSWORDS[user].encode(),
                                      base64.b64decode(salt), int(iterations), 64)
        assert derived == base64.b64decode(digest), user
    assert from_file["carol"].startswith("$6$")


def test_rules_are_named_after_their_source_line(setup):
    policy = text(setup["policy"]).splitlines()
    ids = [(i, m.group(1)) for i, line in enumerate(policy)
           for m in [re.match(r"\s+- id: acl-(\d+)", line)] if m]
    assert len(ids) > 20
    for i, line in ids:
        comments = [p for p in policy[:i] if p.lstrip().startswith("# " + setup["acl"] + ":")]
        assert comments and comments[-1].lstrip().startswith(
            "# %s:%s: " % (setup["acl"], line)), policy[i]


def test_notes_name_what_cannot_be_said_exactly(setup):
    policy, stderr, acl, pw = text(setup["policy"]), setup["stderr"], setup["acl"], setup["passwd"]
    carol = list(PASSWORDS).index("carol") + 1
    expected = [
        "%s:%d: user 'carol' not imported" % (pw, carol),
        "%s:%d: user 'ghost' is not in the password file" % (acl, acl_line("user ghost") + 1),
        "%s:%d: publishing to a '$' topic: Mosquitto allows it (outside $SYS)"
        % (acl, acl_line("topic write $app/ops/status")),
        "%s:%d: user 'bob': its own allow at line %d overlaps this pattern deny"
        % (acl, acl_line("pattern deny vault/#"), acl_line("topic read vault/bob/inbox")),
        "%s:%d: user 'ops/night': %%u only stands for a name that is one topic level"
        % (acl, acl_line("pattern readwrite users/%u/#")),
    ]
    for e in expected:
        assert e in stderr, e
        assert "#   - " + e in policy, e


def test_decisions_match_mosquitto(setup):
    """The matrix: every answer of the imported policy equals what Mosquitto does."""
    m = setup["mosquitto"]
    rows, mismatches = [], []
    cases = [case for case in MATRIX] + [c for c, _, _, _ in EXPECTED_DIFFERENCES]
    expected = {c: (mq, bw) for c, mq, bw, _ in EXPECTED_DIFFERENCES}
    for case in cases:
        (user, cid), action, topic = case[0], case[1], case[2]
        probes = case[3] if len(case) > 3 else [topic]
        if action == "pub":
            mosq, got = m.may_publish(user, cid, topic), None
        else:
            mosq, got = m.may_subscribe(user, cid, topic, probes)
        bw = policy_decision(setup["policy"], user, cid, action, topic)
        key = case[:3]
        rows.append("%-10s %-10s %-3s %-26s mosquitto=%-5s bulwark=%-5s%s" % (
            user or "(anon)", cid, action, topic, mosq, bw,
            "" if got is None or len(probes) == 1 else "  delivered=%s" % got))
        want = expected.get(key)
        if (want is None and mosq != bw) or (want is not None and (mosq, bw) != want):
            mismatches.append(rows[-1])
    print("\n".join(rows))
    assert not mismatches, "decisions differ:\n" + "\n".join(mismatches)
    # The matrix must exercise both answers for both actions.
    assert {r.split("mosquitto=")[1][:5].strip() for r in rows} == {"True", "False"}


BAD_ACL = [
    ("topic read a/#/b\n", 1, "invalid topic"),
    ("user alice\ntopic read a+\n", 2, "invalid topic"),
    ("topic bogus a\n", 1, "unknown access"),
    ("  # an indented comment is not a comment\n", 1, "expected 'user'"),
    ("topic read x\n\ttopic read y\n", 2, "expected 'user'"),
    ("user\n", 1, "'user' without a user name"),
    ("topic\n", 1, "'topic' without a topic"),
    ("Topic read x\n", 1, "expected 'user'"),
]


@pytest.mark.parametrize("content,line,message", BAD_ACL)
def test_acl_errors_name_file_and_line(setup, tmp_path, content, line, message):
    """What Mosquitto refuses to start with, the import refuses with FILE:LINE."""
    acl = str(tmp_path / "bad.acl")
    with open(acl, "w") as f:
        f.write(content)
    out, r = import_policy(str(tmp_path), setup["passwd"], acl)
    assert r.returncode == 1
    assert "%s:%d: " % (acl, line) in r.stderr and message in r.stderr, r.stderr
    assert not os.path.exists(out) and os.listdir(str(tmp_path)) == ["bad.acl"]
    conf = str(tmp_path / "m.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nacl_file %s\nuser root\n" % (free_port(), acl))
    mq = subprocess.run([MOSQUITTO, "-c", conf], capture_output=True, text=True, timeout=10)
    assert mq.returncode != 0 and "acl" in mq.stderr.lower(), mq.stderr


def test_passwd_problems(setup, tmp_path):
    pw = str(tmp_path / "passwd")
    alice = [l for l in text(setup["passwd"]).splitlines() if l.startswith("alice:")][0]
    with open(pw, "w") as f:
        f.write("# comment\n\nno colon here\n%s\nbob:plaintext\nalice:%s\n"
                % (alice, alice.split(":", 1)[1]))
    acl = str(tmp_path / "acl")
    with open(acl, "w") as f:
        f.write("user alice\ntopic read a\n")
    out, r = import_policy(str(tmp_path), pw, acl)
    assert r.returncode == 1
    assert "%s:6: user 'alice' is listed twice" % pw in r.stderr
    assert "%s:5: user 'bob' not imported: not a Mosquitto hash" % pw in r.stderr
    assert "%s:3: no ':' in the line" % pw in r.stderr
    assert not os.path.exists(out)


def test_stdout_and_file_agree(setup, tmp_path):
    _, r = import_policy(str(tmp_path), setup["passwd"], setup["acl"], out=None)
    assert r.returncode == 0, r.stderr
    assert r.stdout == text(setup["policy"])


def test_usage_errors(setup, tmp_path):
    def run(*args):
        return subprocess.run([BULWARK, "import"] + list(args), capture_output=True, text=True,
                              timeout=30).returncode
    assert run() == 2
    assert run("mosquitto", "--acl", setup["acl"]) == 2
    assert run("mosquitto", "--passwd", setup["passwd"]) == 2
    assert run("hivemq", "--passwd", setup["passwd"], "--acl", setup["acl"]) == 2
    assert run("mosquitto", "--passwd", str(tmp_path / "missing"), "--acl", setup["acl"]) == 2
    assert run("mosquitto", "--passwd", setup["passwd"], "--acl", setup["acl"], "--extra") == 2
