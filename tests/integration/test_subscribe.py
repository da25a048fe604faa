"""SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK (3.8 to 3.11)."""

import pytest

import mqttraw as m


def test_granted_qos_as_requested(broker, clients):
    """3.8.4-5, 3.9.3: SUBACK carries one code per filter, in order, granting the QoS asked."""
    c = clients.connect(broker, "grant")
    assert c.subscribe([("g/0", 0), ("g/1", 1), ("g/2", 2), ("g/+/x", 1), ("g/#", 2)]) == [
        0, 1, 2, 1, 2]


def test_suback_has_subscribe_packet_id(broker, clients):
    """3.8.4-2: SUBACK has the packet id of the SUBSCRIBE it acknowledges."""
    c = clients.connect(broker, "sid")
    c.send(m.subscribe(0xBEEF, [("sid/t", 1)]))
    ack = c.expect(m.SUBACK)
    assert (ack.pid, ack.codes) == (0xBEEF, [1])


@pytest.mark.bulwark_only
def test_oversized_filters_fail_alone(make_broker, clients):
    """3.9.3: a filter over max_topic_length or max_topic_levels gets 0x80 in its slot while the
    other filters of the same SUBSCRIBE are granted (and work); filters at the bounds pass."""
    b = make_broker(limits={"max_topic_length": 32, "max_topic_levels": 4})
    c = clients.connect(b, "limits")
    filters = [
        ("ok/1", 1),
        ("x" * 33, 1),          # one byte over the length
        ("a/b/c/d/e", 0),       # five levels
        ("a/b/c/d", 2),         # four levels: at the bound
        ("y" * 32, 0),          # at the length bound
        ("a/+/+/+/#", 1),       # five levels with wildcards
    ]
    assert c.subscribe(filters) == [1, 0x80, 0x80, 2, 0, 0x80]
    pub = clients.connect(b, "limits-pub")
    for topic in ("ok/1", "a/b/c/d", "y" * 32):
        pub.publish(topic, b"v", qos=1)
    assert [c.receive().topic for _ in range(3)] == ["ok/1", "a/b/c/d", "y" * 32]


def test_unsubscribe_stops_delivery(broker, clients):
    """3.10.4-2..5: after UNSUBACK (same packet id) no more messages for that filter arrive;
    other subscriptions of the client keep working."""
    c = clients.connect(broker, "unsub")
    c.subscribe([("u/a", 1), ("u/b", 1)])
    pub = clients.connect(broker, "unsub-pub")
    pub.publish("u/a", b"1", qos=1)
    assert c.receive().payload == b"1"

    c.send(m.unsubscribe(0x4242, ["u/a"]))
    assert c.expect(m.UNSUBACK).pid == 0x4242
    pub.publish("u/a", b"2", qos=1)
    pub.publish("u/b", b"3", qos=1)
    msg = c.receive()
    assert (msg.topic, msg.payload) == ("u/b", b"3")
    c.nothing()


def test_unsubscribe_unknown_filter_is_acknowledged(broker, clients):
    """3.10.4-5: UNSUBACK is sent even if no filter matched an existing subscription."""
    c = clients.connect(broker, "unsub-none")
    c.unsubscribe(["never/subscribed", "x/#"])
    c.ping()


def test_overlapping_subscriptions_one_copy_at_highest_qos(broker, clients):
    """3.3.5-1: a message matching several subscriptions of one client is delivered respecting
    the highest granted QoS; bulwark sends one copy."""
    c = clients.connect(broker, "overlap")
    assert c.subscribe([("ov/#", 1), ("ov/x", 2), ("+/x", 0)]) == [1, 2, 0]
    pub = clients.connect(broker, "overlap-pub")
    pub.publish("ov/x", b"once", qos=2)
    msg = c.receive()
    assert (msg.topic, msg.qos, msg.payload) == ("ov/x", 2, b"once")
    c.nothing()


def test_resubscribe_replaces_qos(broker, clients):
    """3.8.4-3: subscribing again to an identical filter replaces the subscription; its QoS
    is the new one and messages are not duplicated."""
    c = clients.connect(broker, "resub")
    assert c.subscribe([("rs/t", 2)]) == [2]
    assert c.subscribe([("rs/t", 0)]) == [0]
    pub = clients.connect(broker, "resub-pub")
    pub.publish("rs/t", b"x", qos=2)
    msg = c.receive()
    assert msg.qos == 0
    c.nothing()
