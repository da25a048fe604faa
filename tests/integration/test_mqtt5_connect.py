"""MQTT 5.0 CONNECT and CONNACK (OASIS MQTT 5.0 sections 3.1, 3.2, 4.13): the capabilities a
CONNACK announces, each refusal's reason code, and the server's DISCONNECTs that end an
accepted connection (session taken over, shutdown, identity revoked)."""

import pytest

import mqttraw as m
from broker import bulwark_hash

pytestmark = pytest.mark.bulwark_only


def raw5(clients, broker):
    c = m.RawClient5(broker.port)
    clients.open.append(c)
    return c


def connack(clients, broker, client_id="c5", **kw):
    return raw5(clients, broker).connect(client_id, **kw)


def refused(clients, broker, reason, client_id="c5", **kw):
    """A CONNECT refused with this reason code: no session, a reason string, then close."""
    c = raw5(clients, broker)
    ack = c.connect(client_id, **kw)
    assert ack.reason == reason, "CONNACK 0x%02x (%r), expected 0x%02x" % (
        ack.reason, ack.props.get("ReasonString"), reason)
    assert ack.session_present == 0
    assert ack.props.get("ReasonString")
    assert c.wait_closed() == []
    return ack


def test_connack_announces_capabilities(broker, clients):
    """3.2.2.3: the defaults, exactly: Receive Maximum 100, Maximum Packet Size 1 MiB, Topic
    Alias Maximum 10, retain, wildcard, subscription identifier and shared subscriptions
    available; no Maximum QoS (QoS 2 is supported), no assigned id, no keep-alive or session
    expiry change."""
    ack = connack(clients, broker)
    assert ack.reason == 0 and ack.session_present == 0
    p = ack.props
    assert p.get("ReceiveMaximum") == 100
    assert p.get("MaximumPacketSize") == 1048576
    assert p.get("TopicAliasMaximum") == 10
    assert p.get("RetainAvailable") == 1
    assert p.get("WildcardSubscriptionAvailable") == 1
    assert p.get("SubscriptionIdentifierAvailable") == 1
    assert p.get("SharedSubscriptionAvailable") == 1
    for absent in ("MaximumQoS", "AssignedClientIdentifier", "ServerKeepAlive",
                   "SessionExpiryInterval", "ReasonString"):
        assert p.get(absent) is None, absent
    assert len(p) == len(set(p.names())), "a property twice in CONNACK"


def test_connack_follows_the_limits(make_broker, clients):
    """Receive Maximum is the smaller of receive_maximum and max_inbound_qos2; Maximum Packet
    Size is max_packet_size; Topic Alias Maximum 0 is not sent (3.2.2.3.8)."""
    b = make_broker(limits={"receive_maximum": 50, "max_inbound_qos2": 7,
                            "topic_alias_maximum": 0, "max_packet_size": 4096})
    p = connack(clients, b).props
    assert p.get("ReceiveMaximum") == 7
    assert p.get("MaximumPacketSize") == 4096
    assert p.get("TopicAliasMaximum") is None
    b2 = make_broker(limits={"receive_maximum": 3, "topic_alias_maximum": 65535})
    p = connack(clients, b2).props
    assert p.get("ReceiveMaximum") == 3
    assert p.get("TopicAliasMaximum") == 65535


def test_paho_sees_the_same(broker):
    """paho's view of the CONNACK agrees (reason Success, the properties decode)."""
    c = m.Paho5(broker.port, "paho-c")
    try:
        assert c.rc.value == 0
        assert c.connack_props.ReceiveMaximum == 100
        assert c.connack_props.SharedSubscriptionAvailable == 1
    finally:
        c.disconnect()


@pytest.mark.parametrize("clean", [True, False])
def test_empty_client_id_is_assigned(broker, clients, clean):
    """3.1.3-6, 3.2.2.3.7: an empty client id is accepted at 5.0 (even without Clean Start)
    and the CONNACK names the id the server assigned; that id then works as any other."""
    ack = connack(clients, broker, "", clean=clean)
    assert ack.reason == 0 and ack.session_present == 0
    cid = ack.props.get("AssignedClientIdentifier")
    assert cid and cid.startswith("auto-")
    again = connack(clients, broker, "")
    assert again.props.get("AssignedClientIdentifier") not in (None, cid)
    assert connack(clients, broker, cid).props.get("AssignedClientIdentifier") is None


def test_server_keep_alive(make_broker, clients):
    """3.2.2.3.14: with max_keepalive 30, a client asking 0 or more than 30 is told 30; one
    asking less keeps its own and no Server Keep Alive is sent."""
    b = make_broker(limits={"max_keepalive": 30})
    assert connack(clients, b, "k0", keepalive=0).props.get("ServerKeepAlive") == 30
    assert connack(clients, b, "k1", keepalive=60).props.get("ServerKeepAlive") == 30
    assert connack(clients, b, "k2", keepalive=30).props.get("ServerKeepAlive") is None
    assert connack(clients, b, "k3", keepalive=10).props.get("ServerKeepAlive") is None


def test_session_expiry_capped(make_broker, clients):
    """max_session_expiry_s lowers what a client asks for, and the CONNACK says so
    (3.2.2.3.2); a value within the cap is not repeated."""
    b = make_broker(limits={"max_session_expiry_s": 5})
    p = connack(clients, b, "s1", props=m.props(("SessionExpiryInterval", 100))).props
    assert p.get("SessionExpiryInterval") == 5
    p = connack(clients, b, "s2", props=m.props(("SessionExpiryInterval", 0xFFFFFFFF))).props
    assert p.get("SessionExpiryInterval") == 5
    p = connack(clients, b, "s3", props=m.props(("SessionExpiryInterval", 3))).props
    assert p.get("SessionExpiryInterval") is None


def test_refused_bad_credentials(make_broker, clients):
    """3.2.2.2: a wrong password or an unknown user is 0x86; no credentials where anonymous
    clients are not allowed is 0x87."""
    b = make_broker(allow_anonymous=False, users={"u5": "pw-5-right"})
    refused(clients, b, 0x86, username="u5", password="wrong")
    refused(clients, b, 0x86, username="nobody", password="x")
    refused(clients, b, 0x87)
    assert connack(clients, b, username="u5", password="pw-5-right").reason == 0


def test_refused_client_id_too_long(make_broker, clients):
    """A client id over max_client_id_length is 0x85 (Client Identifier not valid)."""
    b = make_broker(limits={"max_client_id_length": 8})
    refused(clients, b, 0x85, client_id="123456789")
    assert connack(clients, b, "12345678").reason == 0


def test_refused_will_not_authorized(broker, clients):
    """A will the rules forbid (clients may not publish to '$' topics) is 0x87."""
    refused(clients, broker, 0x87, will=("$SYS/gone", b"x", 0, False))


@pytest.mark.parametrize("props,reason", [
    (m.props(("TopicAlias", 1)), 0x81),                                     # not in CONNECT
    (m.props(("WillDelayInterval", 1)), 0x81),                              # a will's own
    (b"\x2b\x00", 0x81),                                                    # unknown id
    (m.props(("SessionExpiryInterval", 1)) + b"\x11\x00", 0x81),            # truncated
    (m.props(("SessionExpiryInterval", 1), ("SessionExpiryInterval", 2)), 0x82),  # twice
    (m.props(("ReceiveMaximum", 0)), 0x82),
    (m.props(("MaximumPacketSize", 0)), 0x82),
    (m.props(("RequestProblemInformation", 2)), 0x82),
    (m.props(("AuthenticationData", b"x")), 0x82),                          # data, no method
    (m.props(("AuthenticationMethod", "SCRAM-SHA-1")), 0x8C),               # not supported
    (m.props(*[("UserProperty", ("k", "v"))] * 65), 0x97),                  # > max_properties
], ids=["alias", "will-delay", "unknown", "truncated", "duplicate", "recv-max-0",
        "max-packet-0", "problem-info-2", "auth-data-alone", "auth-method", "too-many"])
def test_refused_properties(broker, clients, props, reason):
    """Properties that break a rule get the reason code the spec names (2.2.2.2, 3.1.2.11)."""
    refused(clients, broker, reason, props=props)


def test_sixty_four_user_properties_are_fine(broker, clients):
    """max_properties (64) is a bound, not an off-by-one."""
    ack = connack(clients, broker, props=m.props(*[("UserProperty", ("k", "v"))] * 64))
    assert ack.reason == 0


def test_refused_bad_will(broker, clients):
    """A will property out of place is malformed (0x81); a will that says it is UTF-8 but is
    not is 0x99 (3.1.3.2.3); a will topic with a wildcard is malformed."""
    refused(clients, broker, 0x81, will=("w/t", b"x", 0, False),
            will_props=m.props(("SessionExpiryInterval", 1)))
    refused(clients, broker, 0x99, will=("w/t", b"\xff\xfe", 0, False),
            will_props=m.props(("PayloadFormatIndicator", 1)))
    refused(clients, broker, 0x81, will=("w/+", b"x", 0, False))
    ok = connack(clients, broker, will=("w/t", "caf\u00e9".encode(), 0, False),
                 will_props=m.props(("PayloadFormatIndicator", 1)))
    assert ok.reason == 0


def test_malformed_connect_gets_connack(broker, clients):
    """4.13.1: a 5.0 CONNECT with a broken body gets CONNACK 0x81 before the close; a reserved
    flag too (3.1.2-3)."""
    c = raw5(clients, broker)
    c.send(m.packet(m.CONNECT, 0, m.utf8("MQTT") + bytes([5, 2, 0, 60]) + b"\x05\x11\x00"))
    ack = c.expect(m.CONNACK)
    assert ack.reason == 0x81
    assert c.wait_closed() == []
    c = raw5(clients, broker)
    c.send(m.packet(m.CONNECT, 0, m.utf8("MQTT") + bytes([5, 3, 0, 60, 0]) + m.utf8("x")))
    assert c.expect(m.CONNACK).reason == 0x81
    assert c.wait_closed() == []


def test_unknown_level_still_gets_3_1_1_connack(broker, clients):
    """A level the server does not speak is answered in 3.1.1 form (0x01), as it cannot know
    the client's format (3.1.2-2)."""
    c = clients.raw(broker)
    assert c.connect("l6", level=6).rc == 1
    assert c.wait_closed() == []


def test_password_without_username(broker, clients):
    """3.1.2.9: at 5.0 a password may come without a user name (anonymous here)."""
    assert connack(clients, broker, password="secret").reason == 0


def test_session_taken_over(broker, clients):
    """3.1.4-3: the older connection of a client id gets DISCONNECT 0x8E, then the close."""
    old = raw5(clients, broker)
    assert old.connect("twin").reason == 0
    new = raw5(clients, broker)
    assert new.connect("twin").reason == 0
    pkt = old.expect_disconnect(0x8E)
    assert pkt.props.get("ReasonString") == "session taken over"
    new.ping()


def test_takeover_of_a_3_1_1_connection(broker, clients):
    """A 3.1.1 connection taken over by a 5.0 one is simply closed (3.1.1 has no server
    DISCONNECT)."""
    old = clients.connect(broker, "mixed-twin")
    assert raw5(clients, broker).connect("mixed-twin").reason == 0
    assert old.wait_closed() == []


def test_shutdown_sends_server_shutting_down(make_broker, clients):
    """A stopping broker tells 5.0 clients 0x8B before closing."""
    b = make_broker()
    c = raw5(clients, b)
    assert c.connect("bye").reason == 0
    assert b.stop() == []
    c.expect_disconnect(0x8B)


def test_revoked_identity_gets_not_authorized(make_broker, clients):
    """A live session whose identity a reloaded policy no longer knows gets DISCONNECT 0x87."""
    def policy(users):
        entries = "".join('  - name: "%s"\n    password: "%s"\n' % (u, bulwark_hash(u + "-Pw-51"))
                          for u in users)
        return ("version: 1\nusers:\n" + entries + "rules:\n"
                '  - {allow: both, topics: "x/#", everyone: true}\n')
    b = make_broker(allow_anonymous=False, policy=policy(["keep5", "gone5"]))
    gone = raw5(clients, b)
    assert gone.connect("g5", username="gone5", password="gone5-Pw-51").reason == 0
    keep = raw5(clients, b)
    assert keep.connect("k5", username="keep5", password="keep5-Pw-51").reason == 0
    b.set_policy(policy(["keep5"]))
    gone.expect_disconnect(0x87, timeout=10)
    keep.ping()
