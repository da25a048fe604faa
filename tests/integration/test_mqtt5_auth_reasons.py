"""5.0 CONNACK reason codes the auth daemon adds where a 3.1.1 return code cannot say it
(reason5 on the IPC channel, docs/MQTT5.md): a brute-force lock-out is 0x8A Banned, an
identity over its max_connections 0x97 Quota exceeded; a 3.1.1 client still gets 5."""

import pytest

import mqttraw
from broker import bulwark_hash
from mqttraw import CONNACK, RawClient5, connect5

pytestmark = pytest.mark.bulwark_only

PW = "rightpassword-5"


def connack5(b, client_id, user, password):
    with RawClient5(b.port) as c:
        c.send(connect5(client_id, username=user, password=password))
        ack = c.expect(CONNACK)
        return ack.reason


def connack311(b, client_id, user, password):
    with mqttraw.RawClient(b.port) as c:
        return c.connect(client_id, username=user, password=password).rc


def test_bruteforce_lockout_is_banned(make_broker):
    pol = ('version: 1\nusers:\n  - name: victim\n    password: "%s"\n'
           'rules:\n  - {allow: both, topics: "x/#", identities: [victim]}\n' % bulwark_hash(PW))
    b = make_broker(allow_anonymous=False, policy=pol, extra_config=(
        "auth:\n  bf_free_failures: 1\n  bf_base_delay_ms: 60000\n  bf_max_delay_ms: 60000\n"))
    assert connack5(b, "v", "victim", "wrong-1") == 0x86
    assert connack5(b, "v", "victim", "wrong-2") == 0x86
    assert connack5(b, "v", "victim", PW) == 0x8A        # locked out: banned, for now
    assert connack311(b, "v", "victim", PW) == 5          # 3.1.1 has only "not authorized"


def test_identity_max_connections_is_quota_exceeded(make_broker):
    pol = ('version: 1\nusers:\n  - name: one\n    password: "%s"\n'
           '    limits: {max_connections: 1}\n'
           'rules:\n  - {allow: both, topics: "x/#", identities: [one]}\n' % bulwark_hash(PW))
    b = make_broker(allow_anonymous=False, policy=pol)
    first = RawClient5(b.port)
    with first:
        first.send(connect5("one-a", username="one", password=PW))
        assert first.expect(CONNACK).reason == 0
        assert connack5(b, "one-b", "one", PW) == 0x97
        assert connack311(b, "one-c", "one", PW) == 5
