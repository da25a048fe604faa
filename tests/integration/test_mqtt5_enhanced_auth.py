"""MQTT 5 enhanced authentication (4.12) end to end with the method bulwark-ed25519
(docs/POLICY.md, "Device keys"): a real client written here holds an Ed25519 key made by
openssl, answers the broker's AUTH challenge with a signature, and gets CONNACK 0x00; wrong
keys, replays, foreign client ids, unknown methods and broken exchanges are refused with the
right reason codes and audited."""

import base64
import json
import os
import socket
import subprocess
import tempfile

import pytest

import mqttraw
from broker import Broker, bulwark_hash, wait_until
from mqttraw import AUTH, CONNACK, DISCONNECT, RawClient5, auth5, connect5, props

pytestmark = pytest.mark.bulwark_only

METHOD = "bulwark-ed25519"


class DeviceKey:
    """An Ed25519 key pair made by openssl; signs like a device would."""

    def __init__(self, workdir, name):
        self.path = os.path.join(workdir, name + ".pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", self.path],
                       check=True, capture_output=True, timeout=30)
        der = subprocess.run(["openssl", "pkey", "-in", self.path, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True, timeout=30).stdout
        self.public_b64 = base64.b64encode(der[-32:]).decode()

    def sign(self, data):
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", self.path,
                                  "-in", f.name], check=True, capture_output=True,
                                 timeout=30).stdout
        assert len(sig) == 64
        return sig


def message(nonce, client_id):
    return METHOD.encode() + b"\0" + nonce + client_id.encode()


@pytest.fixture
def keys(tmp_path):
    return {"plc-7": DeviceKey(str(tmp_path), "plc-7"), "rogue": DeviceKey(str(tmp_path), "rogue")}


@pytest.fixture
def eauth_broker(tmp_path, keys, audit_dir):
    policy = ("version: 1\nusers:\n"
              "  - name: plc-7\n    device_key: \"%s\"\n"
              "  - name: alice\n    password: \"%s\"\n"
              "rules:\n  - id: plc\n    allow: both\n    topics: \"plants/#\"\n"
              "    identities: [plc-7]\n" % (keys["plc-7"].public_b64, bulwark_hash("alice-pw-77")))
    b = Broker("bulwark", str(tmp_path), allow_anonymous=False, policy=policy,
               limits={"connect_timeout_ms": 1500},
               extra_config="auth:\n  audit_log: %s\n" % os.path.join(audit_dir, "audit.log"))
    b.start()
    b.wait_ready()
    b.audit_path = os.path.join(audit_dir, "audit.log")
    yield b
    assert b.stop() == []


def audit(b, event="connect"):
    with open(b.audit_path) as f:
        return [r for r in map(json.loads, f) if r["event"] == event]


def start(b, client_id="plc-7", user="plc-7", method=METHOD, data=None):
    """Sends the CONNECT; returns (client, first packet back)."""
    c = RawClient5(b.port)
    items = [("AuthenticationMethod", method)]
    if data is not None:
        items.append(("AuthenticationData", data))
    c.send(connect5(client_id, username=user, props=props(*items)))
    return c, c.recv()


def answer(c, sig, method=METHOD, reason=0x18):
    c.send(auth5(reason, props(("AuthenticationMethod", method),
                               ("AuthenticationData", sig))))
    return c.recv()


def test_device_key_login_end_to_end(eauth_broker, keys):
    c, challenge = start(eauth_broker)
    with c:
        assert challenge.type == AUTH and challenge.reason == 0x18
        assert challenge.props.get("AuthenticationMethod") == METHOD
        nonce = challenge.props.get("AuthenticationData")
        assert len(nonce) == 32
        ack = answer(c, keys["plc-7"].sign(message(nonce, "plc-7")))
        assert ack.type == CONNACK and ack.reason == 0x00, ack
        assert ack.props.get("AuthenticationMethod") == METHOD
        # the identity is the policy user: its rules apply
        sub = c.subscribe([("plants/#", 1)])
        assert sub.codes == [1]
        assert c.subscribe([("elsewhere/#", 1)]).codes == [0x87]
    acc = [r for r in audit(eauth_broker) if r.get("result") == "accepted"]
    assert acc and acc[-1]["backend"] == "device-key" and acc[-1]["identity"] == "plc-7"


def test_each_challenge_is_fresh_and_single_use(eauth_broker, keys):
    c1, ch1 = start(eauth_broker)
    c2, ch2 = start(eauth_broker, client_id="plc-7")
    with c1, c2:
        n1 = ch1.props.get("AuthenticationData")
        n2 = ch2.props.get("AuthenticationData")
        assert n1 != n2
        # the answer to the first challenge does not open the second conversation
        ack = answer(c2, keys["plc-7"].sign(message(n1, "plc-7")))
        assert ack.type == CONNACK and ack.reason == 0x86
    recs = [r for r in audit(eauth_broker) if r.get("backend") == "device-key"]
    assert any(r.get("reason") == "bad device signature" for r in recs)


@pytest.mark.parametrize("case", ["other-key", "other-client-id", "truncated", "password-user"])
def test_bad_answers_get_0x86(eauth_broker, keys, case):
    user, cid = ("alice", "alice-dev") if case == "password-user" else ("plc-7", "plc-7")
    c, ch = start(eauth_broker, client_id=cid, user=user)
    with c:
        assert ch.type == AUTH  # no hint whether the user has a device key
        nonce = ch.props.get("AuthenticationData")
        if case == "other-key":
            sig = keys["rogue"].sign(message(nonce, "plc-7"))
        elif case == "other-client-id":
            sig = keys["plc-7"].sign(message(nonce, "plc-8"))
        elif case == "truncated":
            sig = keys["plc-7"].sign(message(nonce, "plc-7"))[:63]
        else:
            sig = keys["plc-7"].sign(message(nonce, cid))
        ack = answer(c, sig)
        assert ack.type == CONNACK and ack.reason == 0x86, ack
        with pytest.raises(mqttraw.ConnectionClosed):
            c.recv(timeout=2)


def test_unknown_method_gets_0x8c(eauth_broker):
    c, ack = start(eauth_broker, method="SCRAM-SHA-256", data=b"n,,n=plc-7,r=abc")
    with c:
        assert ack.type == CONNACK and ack.reason == 0x8C
    assert any(r.get("reason") == "unsupported authentication method"
               for r in audit(eauth_broker))


def test_broken_exchanges_are_protocol_errors(eauth_broker, keys):
    # another method in the answer
    c, ch = start(eauth_broker)
    with c:
        ack = answer(c, b"x" * 64, method="other-method")
        assert ack.type == CONNACK and ack.reason == 0x82
    # a PUBLISH instead of the AUTH answer
    c, ch = start(eauth_broker)
    with c:
        c.send(mqttraw.publish5("plants/x", b"early"))
        ack = c.recv()
        assert ack.type == CONNACK and ack.reason == 0x82
    # the right signature with reason Success instead of Continue
    c, ch = start(eauth_broker)
    with c:
        nonce = ch.props.get("AuthenticationData")
        ack = answer(c, keys["plc-7"].sign(message(nonce, "plc-7")), reason=0x00)
        assert ack.type == CONNACK and ack.reason == 0x82
    # authentication data without a method in CONNECT
    c = RawClient5(eauth_broker.port)
    with c:
        c.send(connect5("plc-7", username="plc-7",
                        props=props(("AuthenticationData", b"\x01\x02"))))
        ack = c.recv()
        assert ack.type == CONNACK and ack.reason == 0x82


def test_unanswered_challenge_times_out(eauth_broker):
    c, ch = start(eauth_broker)
    with c:
        assert ch.type == AUTH
        with pytest.raises(mqttraw.ConnectionClosed):
            c.recv(timeout=10)
    assert wait_until(lambda: any("did not finish CONNECT" in l
                                  for l in eauth_broker.log_lines()), 5)


def test_reauthentication_is_refused_and_others_unaffected(eauth_broker, keys):
    c, ch = start(eauth_broker)
    with c:
        nonce = ch.props.get("AuthenticationData")
        assert answer(c, keys["plc-7"].sign(message(nonce, "plc-7"))).reason == 0
        c.send(auth5(0x19, props(("AuthenticationMethod", METHOD))))
        d = c.recv()
        assert d.type == DISCONNECT and d.reason == 0x82
    # a password client on the same broker is untouched
    with mqttraw.RawClient(eauth_broker.port) as p:
        assert p.connect("alice-dev", username="alice", password="alice-pw-77").rc == 0


def test_method_needs_mqtt5(eauth_broker):
    """A 3.1.1 client cannot ask for enhanced authentication: its CONNECT has no properties,
    so a device key alone (no password) cannot log in over 3.1.1."""
    with mqttraw.RawClient(eauth_broker.port) as c:
        assert c.connect("plc-7", username="plc-7", password="anything").rc == 4
    s = socket.create_connection(("127.0.0.1", eauth_broker.port), timeout=3)
    s.close()


def test_pending_challenges_are_bounded_by_max_connections(tmp_path, keys, audit_dir):
    """At most max_connections challenges wait at once, each for connect_timeout_ms: clients
    that leave challenges unanswered fill the table, and the next CONNECT with the method gets
    CONNACK 0x89 (server busy) instead of growing it; others are untouched."""
    policy = ("version: 1\nusers:\n  - name: plc-7\n    device_key: \"%s\"\n"
              "  - name: alice\n    password: \"%s\"\n"
              % (keys["plc-7"].public_b64, bulwark_hash("alice-pw-77")))
    b = Broker("bulwark", str(tmp_path), allow_anonymous=False, policy=policy,
               limits={"max_connections": 3, "connect_timeout_ms": 60000})
    b.start()
    b.wait_ready()
    try:
        for i in range(3):  # three challenges, never answered, their connections gone
            c, ch = start(b, client_id="plc-7")
            assert ch.type == AUTH
            c.close()
        c, ack = start(b, client_id="plc-7")
        with c:
            assert ack.type == CONNACK and ack.reason == 0x89, ack
        with mqttraw.RawClient(b.port) as p:  # a password login does not need the table
            assert p.connect("alice-dev", username="alice", password="alice-pw-77").rc == 0
    finally:
        assert b.stop() == []
