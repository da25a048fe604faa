"""Malformed input closes only the offending connection (4.8, 1.5.3, 2.2, 3.3 to 3.10).

Every case keeps a canary publisher/subscriber pair connected meanwhile and checks it still
flows afterwards.
"""

import struct

import pytest

import mqttraw as m
from harness import Canary

BAD_PACKETS = {
    "topic-invalid-utf8": m.publish(b"bad/\xff\xfe", b"x"),
    "topic-utf16-surrogate": m.publish(b"bad/\xed\xa0\x80", b"x"),  # 1.5.3-1
    "topic-overlong-utf8": m.publish(b"bad/\xc0\xaf", b"x"),
    "topic-nul": m.publish(b"bad/\x00/x", b"x"),                     # 1.5.3-2
    "topic-plus": m.publish("bad/+", b"x"),                          # 3.3.2-2
    "topic-hash": m.publish("bad/#", b"x"),
    "topic-empty": m.publish("", b"x"),                              # 4.7.3-1
    "publish-qos3": m.packet(m.PUBLISH, 0x06, m.utf8("bad/q") + b"\x00\x01"),  # 3.3.1-4
    "publish-qos1-pid0": m.publish("bad/p", b"x", qos=1, pid=0),     # 2.3.1-1
    "publish-qos2-pid0": m.publish("bad/p", b"x", qos=2, pid=0),
    "publish-truncated-topic": m.packet(m.PUBLISH, 0, b"\x00\x10abc"),
    "subscribe-flags-0": m.subscribe(1, [("ok/t", 0)], flags=0),      # 3.8.1-1
    "subscribe-no-filters": m.packet(m.SUBSCRIBE, 0x02, struct.pack("!H", 1)),  # 3.8.3-3
    "subscribe-qos3": m.packet(m.SUBSCRIBE, 0x02,
                               struct.pack("!H", 1) + m.utf8("ok/t") + b"\x03"),  # 3.8.3-4
    "subscribe-pid0": m.subscribe(0, [("ok/t", 0)]),
    "subscribe-nul-filter": m.subscribe(1, [(b"ok/\x00", 0)]),
    "unsubscribe-flags-0": m.packet(m.UNSUBSCRIBE, 0, struct.pack("!H", 1) + m.utf8("ok/t")),
    "unsubscribe-no-filters": m.packet(m.UNSUBSCRIBE, 0x02, struct.pack("!H", 1)),  # 3.10.3-2
    "pubrel-flags-0": m.packet(m.PUBREL, 0, struct.pack("!H", 1)),    # 3.6.1-1
    "pingreq-flags": m.packet(m.PINGREQ, 0x01),
    "pingreq-with-body": m.packet(m.PINGREQ, 0, b"\x00"),
    "puback-short": m.packet(m.PUBACK, 0, b"\x01"),
    "reserved-type-0": m.packet(0, 0),
    "reserved-type-15": m.packet(15, 0),
    "server-only-connack": m.packet(m.CONNACK, 0, b"\x00\x00"),
    "remaining-length-5-bytes": bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),  # 2.2.3
    "disconnect-flags": m.packet(m.DISCONNECT, 0x02),
}


# mosquitto 2.0.11 answers these instead of closing; 2.2.2-2 requires closing on bad flags.
MOSQUITTO_LENIENT = {"pingreq-flags", "pingreq-with-body"}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[pytest.mark.bulwark_only] if n in MOSQUITTO_LENIENT else [])
    for n in sorted(BAD_PACKETS)])
def test_malformed_packet_closes_only_offender(broker, clients, canary, name):
    """4.8, 1.5.3, 2.2: a malformed or forbidden packet makes the server close that connection,
    without forwarding anything; other clients keep flowing."""
    watcher = clients.connect(broker, "watch-all")
    assert watcher.subscribe([("#", 2)]) == [2]
    canary.check()
    assert watcher.receive().topic == canary.topic

    bad = clients.connect(broker, "offender")
    bad.send(BAD_PACKETS[name])
    assert bad.wait_closed() == []
    canary.check()
    # the canary message is the only thing any subscriber sees
    assert watcher.receive().topic == canary.topic
    watcher.nothing(0.1)


def test_packet_over_max_packet_size_closes(make_broker, clients):
    """max_packet_size: a packet larger than the limit closes that connection; a smaller one
    passes, and other clients keep flowing."""
    b = make_broker(limits={"max_packet_size": 4096})
    canary = Canary(clients, b)
    ok = clients.connect(b, "small")
    ok.publish("size/t", b"x" * 3000, qos=1)
    bad = clients.connect(b, "big")
    bad.send(m.publish("size/t", b"x" * 5000, qos=1, pid=1))
    assert bad.wait_closed() == []
    canary.check()


@pytest.mark.bulwark_only
def test_max_packet_size_counts_whole_packet(make_broker, clients):
    """max_packet_size counts the whole packet (fixed header included): a packet of exactly
    the limit is accepted, one byte more closes the connection."""
    limit = 1000
    b = make_broker(limits={"max_packet_size": limit})
    topic = "size/t"
    # fixed header 1 + 2-byte remaining length, topic 2+6, pid 2
    payload_len = limit - (1 + 2 + 2 + len(topic) + 2)
    exact = m.publish(topic, b"x" * payload_len, qos=1, pid=1)
    assert len(exact) == limit
    c = clients.connect(b, "at-bound")
    c.send(exact)
    assert c.expect(m.PUBACK).pid == 1
    over = m.publish(topic, b"x" * (payload_len + 1), qos=1, pid=2)
    c.send(over)
    assert c.wait_closed() == []


@pytest.mark.bulwark_only
def test_publish_topic_over_max_topic_length_closes(make_broker, clients):
    """max_topic_length: a PUBLISH topic longer than the limit closes the connection; a topic
    at the limit is delivered; other clients keep flowing."""
    b = make_broker(limits={"max_topic_length": 32})
    canary = Canary(clients, b)
    sub = clients.connect(b, "len-sub")
    sub.subscribe([("#", 1)])
    pub = clients.connect(b, "len-pub")
    pub.publish("t" * 32, b"ok", qos=1)
    assert sub.receive().topic == "t" * 32
    pub.send(m.publish("t" * 33, b"too long", qos=1, pid=9))
    assert pub.wait_closed() == []
    canary.check()
    assert sub.receive().topic == canary.topic
    sub.nothing(0.1)


@pytest.mark.bulwark_only
def test_publish_topic_over_max_topic_levels_closes(make_broker, clients):
    """max_topic_levels: a PUBLISH topic with more levels than the limit closes the connection;
    a topic at the limit is delivered."""
    b = make_broker(limits={"max_topic_levels": 4})
    sub = clients.connect(b, "lvl-sub")
    sub.subscribe([("#", 1)])
    pub = clients.connect(b, "lvl-pub")
    pub.publish("a/b/c/d", b"ok", qos=1)
    assert sub.receive().topic == "a/b/c/d"
    pub.send(m.publish("a/b/c/d/e", b"deep", qos=1, pid=9))
    assert pub.wait_closed() == []
    sub.nothing(0.2)


def test_partial_packet_then_close_leaves_broker_healthy(broker, clients, canary):
    """A connection that dies in the middle of a packet is dropped cleanly."""
    bad = clients.connect(broker, "half")
    bad.send(m.publish("half/t", b"x" * 100)[:20])
    bad.close()
    canary.check()
