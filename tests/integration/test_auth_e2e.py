"""The authentication chain of the auth daemon end to end (docs/POLICY.md, docs/PLUGINS.md,
docs/MIGRATION.md): policy users with argon2id and Mosquitto "$7$" hashes, EdDSA tokens,
a plugin, and brute-force throttling, all through a real bulwarkd.

CONNACK codes: 4 = bad user name or password (a backend refused the credentials), 5 = not
authorized (credentials fine but the policy or a limit refuses, or throttled).
"""

import grp
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

import mqttraw
from broker import SANDBOX_USERS, bulwark_hash, wait_until
from harness import Ed25519Issuer, b64url

pytestmark = pytest.mark.bulwark_only

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLUGIN = os.path.join(REPO, "build/asan/plugins/example_plugin.so")
AUDIENCE = "bulwark.e2e.test"

PW = {"alice": "alice-Auth-5521", "mosq": "mosq-Secret-8812", "pluguser": "plug-Pw-3390",
      "victim": "victim-Pw-6617", "other": "other-Pw-2044"}


class RawFrom(mqttraw.RawClient):
    """A RawClient whose connection comes from a chosen local address (127.0.0.0/8 all
    reaches the 127.0.0.1 listener on Linux), to appear as another peer address."""

    def __init__(self, port, source, timeout=mqttraw.DEFAULT_TIMEOUT):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.closed = False
        self._next_pid = 0


def connack(b, client_id, username=None, password=None, source="127.0.0.1"):
    with RawFrom(b.port, source) as c:
        return c.connect(client_id, username=username, password=password).rc


def session(clients, b, client_id, username, password, expect_rc=0):
    return clients.connect(b, client_id, expect_rc=expect_rc, username=username,
                           password=password)


def mosquitto_hash(workdir, user, password):
    """The "$7$" hash the real mosquitto_passwd writes for user."""
    path = os.path.join(workdir, "mosquitto.passwd")
    subprocess.run(["mosquitto_passwd", "-b", "-c", path, user, password], check=True,
                   capture_output=True, timeout=30)
    with open(path) as f:
        name, _, h = f.read().strip().partition(":")
    assert name == user and h.startswith("$7$"), h
    return h


def claims(sub="truck-1", iss="fleet", aud=AUDIENCE, exp_in=600, **extra):
    now = int(time.time())
    c = {"iss": iss, "sub": sub, "aud": aud, "iat": now - 5, "exp": now + exp_in}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


POLICY = """version: 1
users:
  - name: alice
    password: "{alice}"
  - name: mosq
    password: "{mosq}"
issuers:
  - name: fleet
    public_key: "{fleet_key}"
    audience: "{aud}"
  - name: trucks-only
    public_key: "{trucks_key}"
    audience: "{aud}"
    subject: "truck-*"
clients:
  - name: plugin-users
    client_id: "dev-*"
    identity: "pluguser"
rules:
  - id: alice-own
    allow: both
    topics: "alice/#"
    identities: [alice]
  - id: token-own
    allow: both
    topics: "fleet/%{{identity}}/#"
    identities: [fleet, trucks-only]
  - id: mosq-own
    allow: both
    topics: "mosq/#"
    identities: [mosq]
  - id: plugin-own
    allow: both
    topics: "plug/%{{identity}}/#"
    identities: [plugin-users]
"""


@pytest.fixture
def keys(tmp_path):
    return {"fleet": Ed25519Issuer(str(tmp_path), "fleet"),
            "trucks-only": Ed25519Issuer(str(tmp_path), "trucks"),
            "rogue": Ed25519Issuer(str(tmp_path), "rogue")}


def auth_policy(tmp_path, keys):
    return POLICY.format(alice=bulwark_hash(PW["alice"]),
                         mosq=mosquitto_hash(str(tmp_path), "mosq", PW["mosq"]),
                         fleet_key=keys["fleet"].public_key_b64,
                         trucks_key=keys["trucks-only"].public_key_b64, aud=AUDIENCE)


@pytest.fixture
def auth_broker(make_broker, tmp_path, keys):
    return make_broker(allow_anonymous=False, policy=auth_policy(tmp_path, keys))


# ------------------------------------------------------------------ passwords


def test_policy_user_with_argon2id(auth_broker, clients):
    """A policy user with a `bulwark passwd` hash logs in with the right password and gets its
    rules; a wrong, empty or missing password, or an unknown user, gets CONNACK 4."""
    b = auth_broker
    alice = session(clients, b, "alice-1", "alice", PW["alice"])
    assert alice.subscribe([("alice/#", 1), ("mosq/#", 1)]) == [1, 0x80]
    assert connack(b, "alice-2", "alice", PW["alice"] + "x") == 4
    assert connack(b, "alice-2", "alice", PW["alice"][:-1]) == 4
    assert connack(b, "alice-2", "alice", "") == 4
    assert connack(b, "alice-2", "alice") == 4
    assert connack(b, "alice-2", "nobody", PW["alice"]) == 4
    assert connack(b, "anon-1") == 5  # no credentials, anonymous refused


def test_mosquitto_passwd_hash_accepted(auth_broker, clients):
    """A "$7$" hash written by the real mosquitto_passwd, copied into the policy, accepts its
    password (and gives that user's rights) and refuses another."""
    b = auth_broker
    m = session(clients, b, "mosq-1", "mosq", PW["mosq"])
    assert m.subscribe([("mosq/#", 1), ("alice/#", 1)]) == [1, 0x80]
    assert connack(b, "mosq-2", "mosq", PW["mosq"].upper()) == 4
    assert connack(b, "mosq-2", "mosq", PW["alice"]) == 4


# ------------------------------------------------------------------ tokens


def test_valid_token_accepted_with_its_issuers_rights(auth_broker, keys, clients):
    """An EdDSA token signed by a policy issuer's key, given as the password (user name empty or
    equal to the subject), is accepted; the identity is the subject, with the issuer's rules:
    fleet/<subject>/# only. An audience array holding ours is accepted too, and so is a token
    that expired less than the default 30 s leeway ago."""
    b = auth_broker
    tok = keys["fleet"].sign(claims(sub="truck-1"))
    t = session(clients, b, "t-1", "", tok)
    assert t.subscribe([("fleet/truck-1/#", 1), ("fleet/truck-2/#", 1), ("alice/#", 1)]) \
        == [1, 0x80, 0x80]
    assert connack(b, "t-2", "truck-1", tok) == 0
    tok2 = keys["fleet"].sign(claims(sub="truck-2", aud=["other", AUDIENCE]))
    assert connack(b, "t-3", "", tok2) == 0
    tok3 = keys["fleet"].sign(claims(sub="truck-3", exp_in=-10))  # within the 30 s leeway
    assert connack(b, "t-4", "", tok3) == 0


# what the refusal's audit reason must mention, per case
BAD_TOKEN_REASONS = {"expired": "expir", "wrong-audience": "audience", "unknown-issuer": "issuer",
                     "wrong-key": "signature", "tampered-claims": "signature",
                     "tampered-signature": "signature", "no-expiry": "expir",
                     "not-yet-valid": "not yet", "alg-none": "algorithm",
                     "alg-hs256": "algorithm", "user-mismatch": "subject"}


@pytest.fixture
def audit_log():
    """An audit log path in a directory of the auth role's user."""
    d = tempfile.mkdtemp(prefix="bulwark-audit-")
    user, group = SANDBOX_USERS["auth"]
    os.chown(d, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
    os.chmod(d, 0o700)
    yield os.path.join(d, "audit.log")
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("case", sorted(BAD_TOKEN_REASONS))
def test_bad_token_refused(make_broker, tmp_path, keys, audit_log, case):
    """A token that fails any check gets CONNACK 4, for that reason (as the audit log says):
    expired (beyond the 30 s leeway), another audience, an issuer not in the policy, signed
    by a key that is not the issuer's, claims or signature changed after signing, no exp, nbf
    in the future, alg other than EdDSA, or a user name other than the subject."""
    b = make_broker(allow_anonymous=False, policy=auth_policy(tmp_path, keys),
                    extra_config="auth:\n  audit_log: \"%s\"\n" % audit_log)
    fleet, user = keys["fleet"], ""
    if case == "expired":
        tok = fleet.sign(claims(exp_in=-3600))
    elif case == "wrong-audience":
        tok = fleet.sign(claims(aud="someone.else"))
    elif case == "unknown-issuer":
        tok = fleet.sign(claims(iss="not-in-policy"))
    elif case == "wrong-key":
        tok = keys["rogue"].sign(claims())
    elif case == "tampered-claims":
        h, _, s = fleet.sign(claims(sub="truck-1")).split(".")
        forged = b64url(b'{"iss":"fleet","sub":"truck-9","aud":"%s","exp":%d}'
                        % (AUDIENCE.encode(), int(time.time()) + 600))
        tok = ".".join([h, forged, s])
    elif case == "tampered-signature":
        h, c, s = fleet.sign(claims()).split(".")
        tok = ".".join([h, c, ("B" if s[0] == "A" else "A") + s[1:]])
    elif case == "no-expiry":
        c = claims()
        del c["exp"]
        tok = fleet.sign(c)
    elif case == "not-yet-valid":
        tok = fleet.sign(claims(nbf=int(time.time()) + 3600))
    elif case == "alg-none":
        tok = (b64url(b'{"alg":"none","typ":"JWT"}') + "."
               + b64url(json.dumps(claims()).encode()) + ".")
    elif case == "alg-hs256":
        tok = fleet.sign(claims(), header={"alg": "HS256", "typ": "JWT"})
    else:
        tok, user = fleet.sign(claims(sub="truck-1")), "truck-2"
    good = fleet.sign(claims())
    assert connack(b, "t-ok", "", good) == 0  # control: the setup works
    assert connack(b, "t-bad", user, tok) == 4
    with open(audit_log) as f:
        refusals = [e for e in map(json.loads, f) if e.get("client_id") == "t-bad"]
    assert len(refusals) == 1 and refusals[0].get("result") == "denied", refusals
    assert BAD_TOKEN_REASONS[case] in refusals[0].get("reason", ""), refusals


def test_issuer_subject_pattern(auth_broker, keys):
    """An issuer with subject "truck-*" vouches only for such subjects: its valid token for
    "car-1" authenticates but the policy knows no such identity (CONNACK 5)."""
    tr = keys["trucks-only"]
    assert connack(auth_broker, "t-1", "", tr.sign(claims(iss="trucks-only", sub="truck-7"))) == 0
    assert connack(auth_broker, "t-2", "", tr.sign(claims(iss="trucks-only", sub="car-1"))) == 5


def test_token_subject_named_like_a_user_gets_no_user_rights(auth_broker, keys, clients):
    """A valid token whose subject is "alice" is the fleet's alice, not the policy user alice:
    it gets fleet/alice/# and not alice/#."""
    tok = keys["fleet"].sign(claims(sub="alice"))
    t = session(clients, auth_broker, "t-alice", "", tok)
    assert t.subscribe([("alice/#", 1), ("fleet/alice/#", 1)]) == [0x80, 1]


def test_token_first_chain_with_user_name_of_a_user(make_broker, tmp_path, keys, clients):
    """With backends [token, password], a token for subject "alice" sent with user name "alice"
    is decided by the token backend; it still does not get the user alice's rights, while alice
    with her password (token backend has no opinion on a non-token) still does."""
    b = make_broker(allow_anonymous=False, policy=auth_policy(tmp_path, keys),
                    extra_config="auth:\n  backends: [token, password]\n")
    tok = keys["fleet"].sign(claims(sub="alice"))
    t = session(clients, b, "t-alice", "alice", tok)
    assert t.subscribe([("alice/#", 1), ("fleet/alice/#", 1)]) == [0x80, 1]
    a = session(clients, b, "alice-1", "alice", PW["alice"])
    assert a.subscribe([("alice/#", 1), ("fleet/alice/#", 1)]) == [1, 0x80]


# ------------------------------------------------------------------ plugin


def test_plugin_login(make_broker, tmp_path, keys, clients):
    """The example plugin configured in auth: plugins authenticates a user from its own file:
    right password and client id prefix accepted with the plugin's identity and the policy's
    rules for it; wrong password and a client id outside the prefix refused (CONNACK 4); users
    it does not know fall through to the next backend."""
    assert os.path.isfile(PLUGIN), "%s is missing: build it with make asan" % PLUGIN
    users_file = os.path.join(str(tmp_path), "plugin-users")
    with open(users_file, "w") as f:
        f.write("# name:hash\n\npluguser:%s\n" % bulwark_hash(PW["pluguser"]))
    os.chmod(users_file, 0o644)
    b = make_broker(allow_anonymous=False, policy=auth_policy(tmp_path, keys),
                    extra_config=("auth:\n  plugins:\n    - path: \"%s\"\n"
                                  "      config: \"users=%s client_prefix=dev-\"\n"
                                  % (PLUGIN, users_file)))
    p = session(clients, b, "dev-1", "pluguser", PW["pluguser"])
    assert p.subscribe([("plug/pluguser/#", 1), ("alice/#", 1)]) == [1, 0x80]
    assert connack(b, "dev-2", "pluguser", PW["pluguser"] + "!") == 4
    assert connack(b, "x-1", "pluguser", PW["pluguser"]) == 4
    assert connack(b, "dev-3", "pluguser") == 4
    assert connack(b, "alice-1", "alice", PW["alice"]) == 0
    assert connack(b, "dev-4", "stranger", PW["pluguser"]) == 4


# ------------------------------------------------------------------ brute force


def test_brute_force_throttling(make_broker, clients):
    """With bf_free_failures 2 and a 1.5 s delay: after the third wrong password for a user, the
    right password is refused with CONNACK 5 until the delay has passed, then accepted. The
    lock-out holds per user name (also from another address) and per address (another user
    from the same address is refused too; the same user from elsewhere is refused, another
    user from elsewhere is not). Throttled attempts are not failures: they do not extend the
    lock-out. A success clears the user, not the address that was guessing."""
    users = "".join('  - name: %s\n    password: "%s"\n' % (u, bulwark_hash(PW[u]))
                    for u in ("victim", "other"))
    pol = ("version: 1\nusers:\n" + users +
           "rules:\n  - {allow: both, topics: \"x/#\", identities: [victim, other]}\n")
    b = make_broker(allow_anonymous=False, policy=pol, extra_config=(
        "auth:\n  bf_free_failures: 2\n  bf_base_delay_ms: 1500\n  bf_max_delay_ms: 1500\n"
        "  bf_window_s: 60\n"))
    for i in range(3):
        assert connack(b, "v", "victim", "guess-%d" % i) == 4
    locked_at = time.monotonic()
    assert connack(b, "v", "victim", PW["victim"]) == 5
    assert connack(b, "o", "other", PW["other"]) == 5                     # same address
    assert connack(b, "v", "victim", PW["victim"], source="127.0.0.2") == 5  # same user
    assert time.monotonic() - locked_at < 1.5, "too slow to observe the lock-out"
    assert connack(b, "o", "other", PW["other"], source="127.0.0.2") == 0
    assert wait_until(lambda: connack(b, "v", "victim", PW["victim"]) == 0, 5.0, interval=0.1)
    assert time.monotonic() - locked_at >= 1.4
    # The address is still on its third failure: one more wrong guess locks it again,
    # although victim logged in meanwhile.
    assert connack(b, "o", "other", "wrong") == 4
    assert connack(b, "v", "victim", PW["victim"]) == 5
    assert connack(b, "v", "victim", PW["victim"], source="127.0.0.3") == 0
