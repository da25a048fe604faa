"""MQTT 5.0 flow control (sections 3.1.2.11, 3.3.2.3.4, 4.9, 4.13): Receive Maximum both
ways, Maximum Packet Size both ways, inbound Topic Aliases, Server Keep Alive, and the
DISCONNECT reason codes for malformed packets and protocol errors."""

import time

import pytest

import mqttraw as m

pytestmark = pytest.mark.bulwark_only


def raw5(clients, broker, client_id, **kw):
    c = m.RawClient5(broker.port)
    clients.open.append(c)
    ack = c.connect(client_id, **kw)
    assert ack.reason == 0, "CONNACK 0x%02x" % ack.reason
    return c


# ------------------------------------------------------------------ Receive Maximum


def test_client_receive_maximum_caps_inflight(broker, clients):
    """3.3.4-9: with the client's Receive Maximum 2 the server has at most 2 unacknowledged
    QoS 1/2 messages out to it; each ack lets one more go, in order."""
    sub = raw5(clients, broker, "rm-sub", props=m.props(("ReceiveMaximum", 2)))
    sub.subscribe([("rm/#", 2)])
    pub = raw5(clients, broker, "rm-pub")
    for i in range(6):
        pub.publish("rm/t", b"%d" % i, qos=1 + i % 2)
    first = [sub.expect(m.PUBLISH), sub.expect(m.PUBLISH)]
    assert [p.payload for p in first] == [b"0", b"1"]
    sub.nothing(0.4)
    got = []
    pending = first
    while pending:
        p = pending.pop(0)
        sub.ack(p)
        got.append(p.payload)
        if len(got) + len(pending) < 6:
            pending.append(sub.expect(m.PUBLISH))
    assert got == [b"%d" % i for i in range(6)]
    sub.nothing(0.2)


def test_receive_maximum_of_the_server(make_broker, clients):
    """3.3.4-8..10: the server's Receive Maximum (receive_maximum 2): a third QoS 2 message
    awaiting PUBREL gets DISCONNECT 0x93; QoS 1 beyond it too."""
    b = make_broker(limits={"receive_maximum": 2})
    c = raw5(clients, b, "rmx")
    for pid in (1, 2):
        c.send(m.publish5("rmx/t", b"x", qos=2, pid=pid))
        assert c.expect(m.PUBREC).pid == pid
    c.send(m.publish5("rmx/t", b"x", qos=2, pid=1, dup=True))  # a resend is not a new one
    assert c.expect(m.PUBREC).pid == 1
    c.send(m.publish5("rmx/t", b"x", qos=1, pid=3))
    c.expect_disconnect(0x93)
    d = raw5(clients, b, "rmx2")
    d.send(m.publish5("rmx/t", b"x", qos=2, pid=1))
    d.expect(m.PUBREC)
    d.send(m.ack5(m.PUBREL, 1))
    d.expect(m.PUBCOMP)
    for pid in (2, 3):  # completed exchanges free their place
        d.send(m.publish5("rmx/t", b"x", qos=2, pid=pid))
        d.expect(m.PUBREC)
    d.send(m.publish5("rmx/t", b"x", qos=2, pid=4))
    d.expect_disconnect(0x93)


# ------------------------------------------------------------------ Maximum Packet Size


def test_inbound_packet_too_large(make_broker, clients):
    """3.2.2.3.6: a packet over the Maximum Packet Size the server announced ends the
    connection with DISCONNECT 0x95; one at the size passes."""
    b = make_broker(limits={"max_packet_size": 256})
    c = raw5(clients, b, "big")
    n = next(n for n in range(300) if len(m.publish5("big/t", b"x" * n, qos=1, pid=1)) == 256)
    assert c.publish("big/t", b"x" * n, qos=1).reason == 0x10
    c.send(m.publish5("big/t", b"x" * (n + 1), qos=1, pid=9))
    c.expect_disconnect(0x95)


def test_client_maximum_packet_size_skips_only_that_subscriber(broker, clients):
    """3.1.2-24/25: a message larger than a client's Maximum Packet Size is not sent to it
    (as if delivered); other subscribers get it; smaller ones still reach it."""
    small = raw5(clients, broker, "mps-small", props=m.props(("MaximumPacketSize", 64)))
    small.subscribe([("mps/#", 1)])
    other = raw5(clients, broker, "mps-other")
    other.subscribe([("mps/#", 1)])
    pub = raw5(clients, broker, "mps-pub")
    pub.publish("mps/t", b"B" * 100, qos=1)
    pub.publish("mps/t", b"s", qos=1)
    assert other.receive().payload == b"B" * 100
    assert other.receive().payload == b"s"
    assert small.receive().payload == b"s"
    small.nothing(0.2)


def test_client_maximum_packet_size_counts_properties(broker, clients):
    """The limit is on the whole packet: properties count too."""
    small = raw5(clients, broker, "mpp", props=m.props(("MaximumPacketSize", 40)))
    small.subscribe([("p/#", 0)])
    pub = raw5(clients, broker, "mpp-pub")
    pub.publish("p/t", b"x", props=m.props(("UserProperty", ("k", "v" * 30))))
    pub.publish("p/t", b"y")
    assert small.receive().payload == b"y"


# ------------------------------------------------------------------ Topic Alias


def test_topic_alias_set_and_used(broker, clients):
    """3.3.2.3.4: a PUBLISH with a topic and an alias sets it; an empty topic with the alias
    uses it; setting it again moves it. Subscribers see full topic names."""
    sub = raw5(clients, broker, "ta-sub")
    sub.subscribe([("ta/#", 1)])
    pub = raw5(clients, broker, "ta-pub")
    pub.publish("ta/one", b"1", qos=1, props=m.props(("TopicAlias", 1)))
    pub.publish("", b"2", qos=1, props=m.props(("TopicAlias", 1)))
    pub.publish("ta/two", b"3", qos=1, props=m.props(("TopicAlias", 1)))
    pub.publish("", b"4", qos=1, props=m.props(("TopicAlias", 1)))
    pub.publish("ta/ten", b"5", qos=0, props=m.props(("TopicAlias", 10)))
    pub.publish("", b"6", qos=0, props=m.props(("TopicAlias", 10)))
    got = [(p.topic, p.payload) for p in (sub.receive() for _ in range(6))]
    assert got == [("ta/one", b"1"), ("ta/one", b"2"), ("ta/two", b"3"), ("ta/two", b"4"),
                   ("ta/ten", b"5"), ("ta/ten", b"6")]
    for p in got:
        assert p[0]


def test_topic_alias_while_waiting_for_a_verdict(make_broker, clients):
    """An aliased PUBLISH whose topic has no cached verdict waits for the auth daemon and is
    then routed to the topic the alias named (verdict_cache_size 1 forgets the first)."""
    b = make_broker(limits={"verdict_cache_size": 1})
    sub = raw5(clients, b, "tv-sub")
    sub.subscribe([("tv/#", 1)])
    pub = raw5(clients, b, "tv-pub")
    pub.publish("tv/a", b"1", qos=1, props=m.props(("TopicAlias", 2)))
    pub.publish("tv/b", b"2", qos=1)
    pub.publish("", b"3", qos=1, props=m.props(("TopicAlias", 2)))
    assert [(p.topic, p.payload) for p in (sub.receive() for _ in range(3))] == [
        ("tv/a", b"1"), ("tv/b", b"2"), ("tv/a", b"3")]


@pytest.mark.parametrize("alias,topic,reason", [
    (11, "ta/x", 0x94),  # above Topic Alias Maximum 10
    (0, "ta/x", 0x94),   # 3.3.2-8: 0 is not an alias
    (5, "", 0x82),       # never set on this connection
])
def test_topic_alias_errors(broker, clients, alias, topic, reason):
    c = raw5(clients, broker, "tae")
    c.send(m.publish5(topic, b"x", props=m.props(("TopicAlias", alias))))
    c.expect_disconnect(reason)


def test_topic_aliases_are_per_connection(broker, clients):
    """3.3.2-9/10: aliases belong to one network connection: a new one starts with none."""
    c = raw5(clients, broker, "tap", clean=False)
    c.publish("tap/t", b"x", qos=1, props=m.props(("TopicAlias", 3)))
    c.disconnect()
    c = raw5(clients, broker, "tap", clean=False)
    c.send(m.publish5("", b"x", props=m.props(("TopicAlias", 3))))
    c.expect_disconnect(0x82)


def test_topic_aliases_off(make_broker, clients):
    """topic_alias_maximum 0: no Topic Alias Maximum in CONNACK, and any alias is 0x94."""
    b = make_broker(limits={"topic_alias_maximum": 0})
    c = m.RawClient5(b.port)
    clients.open.append(c)
    assert c.connect("taoff").props.get("TopicAliasMaximum") is None
    c.send(m.publish5("t", b"x", props=m.props(("TopicAlias", 1))))
    c.expect_disconnect(0x94)


# ------------------------------------------------------------------ Keep Alive


def test_server_keep_alive_is_enforced(make_broker, clients):
    """3.2.2.3.14: the client asked 60 s, the server said 1 s: silent past 1.5 x 1 s, it gets
    DISCONNECT 0x8D (keep alive timeout)."""
    b = make_broker(limits={"max_keepalive": 1})
    c = m.RawClient5(b.port)
    clients.open.append(c)
    assert c.connect("ka", keepalive=60).props.get("ServerKeepAlive") == 1
    start = time.monotonic()
    c.expect_disconnect(0x8D, timeout=6)
    assert time.monotonic() - start >= 1.4  # not before 1.5 x the keep-alive


# ------------------------------------------------------------------ malformed and protocol errors


@pytest.mark.parametrize("data,reason", [
    (m.packet(m.PUBACK, 1, b"\x00\x01"), 0x81),                  # reserved flags (2.1.3)
    (m.packet(m.PUBLISH, 0, m.utf8("t") + b"\x05\x01"), 0x81),  # property length past the end
    (m.packet(m.PUBLISH, 6, m.utf8("t") + b"\x00\x01\x00"), 0x81),  # QoS 3 (3.3.1-4)
    (m.packet(0, 0), 0x82),                                      # reserved packet type
    (m.connect5("again"), 0x82),                                 # 3.1.0-2: second CONNECT
    # regression (fuzz_session): a second CONNECT with an unknown level once produced a
    # DISCONNECT with 0x84, a CONNACK-only reason
    (m.connect5("again", level=6), 0x82),
    (m.auth5(0x18, m.props(("AuthenticationMethod", "X"))), 0x82),  # no auth was started
    (m.subscribe5(1, [("a", 0xC0)]), 0x81),                      # reserved option bits
    (m.subscribe5(1, [("a", 0x30)]), 0x82),                      # Retain Handling 3
    (m.subscribe5(1, [("a", 3)]), 0x82),                         # QoS 3
    (m.subscribe5(1, [("a", 0)], m.props(("SubscriptionIdentifier", 0))), 0x82),
    (m.subscribe5(1, [], b""), 0x82),                            # no filter
    (m.ack5(m.PUBACK, 1, 0x92), 0x82),                           # not a PUBACK reason
    (m.disconnect5(0x8E, b"\x21\x00\x01"), 0x81),                # DISCONNECT property
    (m.unsubscribe5(1, ["a"], m.props(("SubscriptionIdentifier", 1))), 0x81),
], ids=["flags", "props-length", "qos3", "type0", "connect", "connect-bad-level", "auth",
        "sub-reserved",
        "sub-rh3", "sub-qos3", "sub-id-0", "sub-empty", "puback-reason", "disconnect-prop",
        "unsub-prop"])
def test_broken_packets_get_disconnect_reason(broker, clients, data, reason):
    """4.13.1: a malformed packet is 0x81, a protocol error 0x82, sent in DISCONNECT before
    the server closes."""
    c = raw5(clients, broker, "broken")
    c.send(data)
    c.expect_disconnect(reason)


def test_client_disconnect_with_bad_reason_is_refused(broker, clients):
    """A client's DISCONNECT with a reason code that does not exist is itself a protocol
    error: the will is published (it was not a normal disconnection)."""
    watch = raw5(clients, broker, "bd-w")
    watch.subscribe([("bd/will", 0)])
    c = raw5(clients, broker, "bd", will=("bd/will", b"w", 0, False))
    c.send(m.disconnect5(0x01))
    c.expect_disconnect(0x82)
    assert watch.receive().payload == b"w"
