"""3.1.1 and 5.0 clients on one broker: messages, retained messages and wills cross the
versions both ways; 5.0 properties reach only 5.0 clients, and a 3.1.1 client's strict
decoder never sees one."""

import pytest

import mqttraw as m

pytestmark = pytest.mark.bulwark_only


def raw5(clients, broker, client_id, **kw):
    c = m.RawClient5(broker.port)
    clients.open.append(c)
    ack = c.connect(client_id, **kw)
    assert ack.reason == 0
    return c


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_3_1_1_publisher_to_5_0_subscriber(broker, clients, qos):
    """A 3.1.1 message reaches a 5.0 subscriber with no properties at all."""
    sub = raw5(clients, broker, "v5-sub")
    sub.subscribe([("x/#", 2)])
    pub = clients.connect(broker, "v3-pub")
    pub.publish("x/t", b"from-3.1.1", qos=qos)
    msg = sub.receive()
    assert (msg.topic, msg.payload, msg.qos) == ("x/t", b"from-3.1.1", qos)
    assert list(msg.props) == []


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_5_0_publisher_to_3_1_1_subscriber(broker, clients, qos):
    """A 5.0 message with properties reaches a 3.1.1 subscriber as topic and payload only."""
    sub = clients.connect(broker, "v3-sub")
    sub.subscribe([("y/#", 2)])
    pub = raw5(clients, broker, "v5-pub")
    pub.publish("y/t", b"from-5.0", qos=qos,
                props=m.props(("UserProperty", ("k", "v")), ("ResponseTopic", "y/r"),
                              ("MessageExpiryInterval", 60), ("TopicAlias", 2)))
    msg = sub.receive()
    assert (msg.topic, msg.payload, msg.qos) == ("y/t", b"from-5.0", qos)


def test_both_versions_subscribed_to_one_message(broker, clients):
    """One message, one subscriber of each version: each gets its own form."""
    old = clients.connect(broker, "both-3")
    old.subscribe([("z/#", 1)])
    new = raw5(clients, broker, "both-5")
    new.subscribe([("z/#", 1)], props=m.props(("SubscriptionIdentifier", 4)))
    raw5(clients, broker, "both-pub").publish(
        "z/t", b"same", qos=1, props=m.props(("ContentType", "a/b")))
    assert old.receive().payload == b"same"
    msg = new.receive()
    assert msg.payload == b"same"
    assert list(msg.props) == [("SubscriptionIdentifier", 4), ("ContentType", "a/b")]


def test_retained_across_versions(broker, clients):
    """A retained 5.0 message is served plain to a late 3.1.1 subscriber, and a retained
    3.1.1 message to a late 5.0 subscriber, both with RETAIN set."""
    raw5(clients, broker, "r5").publish("rv/five", b"5", qos=1, retain=True,
                                        props=m.props(("UserProperty", ("v", "5"))))
    clients.connect(broker, "r3").publish("rv/three", b"3", qos=1, retain=True)
    old = clients.connect(broker, "late-3")
    old.subscribe([("rv/five", 1)])
    msg = old.receive()
    assert (msg.payload, msg.retain) == (b"5", True)
    new = raw5(clients, broker, "late-5")
    new.subscribe([("rv/three", 1)])
    msg = new.receive()
    assert (msg.payload, msg.retain, list(msg.props)) == (b"3", True, [])


def test_wills_across_versions(broker, clients):
    """A 3.1.1 client's will reaches a 5.0 watcher; a 5.0 client's will (with properties)
    reaches a 3.1.1 watcher plain and a 5.0 watcher with its properties."""
    w3 = clients.connect(broker, "w3")
    w3.subscribe([("wv/#", 1)])
    w5 = raw5(clients, broker, "w5")
    w5.subscribe([("wv/#", 1)])
    gone3 = clients.connect(broker, "gone3", will=("wv/three", b"bye-3", 1, False))
    gone3.close()
    assert w3.receive().payload == b"bye-3"
    msg = w5.receive()
    assert (msg.payload, list(msg.props)) == (b"bye-3", [])
    gone5 = raw5(clients, broker, "gone5", will=("wv/five", b"bye-5", 1, True),
                 will_props=m.props(("UserProperty", ("from", "5.0"))))
    gone5.close()
    assert w3.receive().payload == b"bye-5"
    msg = w5.receive()
    assert (msg.payload, msg.props.all("UserProperty")) == (b"bye-5", [("from", "5.0")])
    late3 = clients.connect(broker, "late-w3")
    late3.subscribe([("wv/five", 1)])
    msg = late3.receive()
    assert (msg.payload, msg.retain) == (b"bye-5", True)


def test_paho_3_1_1_and_5_0(broker):
    """paho clients of both versions on one broker."""
    import paho.mqtt.client as mqtt
    new = m.Paho5(broker.port, "paho5")
    old = mqtt.Client("paho311", protocol=mqtt.MQTTv311)
    got = []
    old.on_message = lambda c, u, msg: got.append(msg.payload)
    old.connect("127.0.0.1", broker.port)
    old.loop_start()
    try:
        r, mid = old.subscribe("pv/#", qos=1)
        assert r == 0
        assert new.subscribe("pv/#", qos=1) == [1]
        old.publish("pv/old", b"o", qos=1).wait_for_publish(3)
        new.publish("pv/new", b"n", qos=1, props=m.pprops("PUBLISH", UserProperty=[("a", "b")]))
        msgs = sorted([new.message().payload, new.message().payload])
        assert msgs == [b"n", b"o"]
        import time
        deadline = time.monotonic() + 3
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sorted(got) == [b"n", b"o"]
    finally:
        new.disconnect()
        old.disconnect()
        old.loop_stop()
