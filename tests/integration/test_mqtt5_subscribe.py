"""MQTT 5.0 subscriptions (sections 3.8 to 3.11): No Local, Retain As Published, Retain
Handling, Subscription Identifiers, and the reason codes of SUBACK and UNSUBACK."""

import pytest

import mqttraw as m
from broker import bulwark_hash

pytestmark = pytest.mark.bulwark_only

opt = m.sub_options


def raw5(clients, broker, client_id, **kw):
    c = m.RawClient5(broker.port)
    clients.open.append(c)
    ack = c.connect(client_id, **kw)
    assert ack.reason == 0
    return c


def test_no_local(broker, clients):
    """3.8.3-3: with No Local a client does not get its own messages; another client's
    messages and its subscriptions without No Local still reach it."""
    c = raw5(clients, broker, "nl")
    assert c.subscribe([("nl/a", opt(1, no_local=True)), ("nl/b", opt(1))]).codes == [1, 1]
    c.send(m.publish5("nl/a", b"own-a", qos=1, pid=1))
    assert c.expect(m.PUBACK).reason == 0x10  # nobody else wanted it
    c.send(m.publish5("nl/b", b"own-b", qos=1, pid=2))
    got = [c.recv(), c.recv()]
    assert sorted(p.type for p in got) == [m.PUBLISH, m.PUBACK]
    msg = [p for p in got if p.type == m.PUBLISH][0]
    c.ack(msg)
    assert msg.payload == b"own-b"
    raw5(clients, broker, "nl-other").publish("nl/a", b"other", qos=1)
    assert c.receive().payload == b"other"


def test_no_local_with_an_overlapping_subscription(broker, clients):
    """No Local on one filter does not stop a copy through another filter of the session."""
    c = raw5(clients, broker, "nlo")
    c.subscribe([("nlo/#", opt(0, no_local=True)), ("nlo/x", opt(0))])
    c.publish("nlo/x", b"mine")
    assert c.receive().payload == b"mine"
    c.publish("nlo/y", b"mine-too")
    c.nothing(0.3)


def test_retain_as_published(broker, clients):
    """3.3.1-12/13: a live message keeps its RETAIN flag only for a subscription with Retain
    As Published."""
    rap = raw5(clients, broker, "rap")
    rap.subscribe([("rap/#", opt(1, rap=True))])
    plain = raw5(clients, broker, "norap")
    plain.subscribe([("rap/#", opt(1))])
    pub = raw5(clients, broker, "rap-pub")
    pub.publish("rap/t", b"r", qos=1, retain=True)
    pub.publish("rap/t", b"n", qos=1, retain=False)
    assert [(p.payload, p.retain) for p in (rap.receive(), rap.receive())] == [
        (b"r", True), (b"n", False)]
    assert [(p.payload, p.retain) for p in (plain.receive(), plain.receive())] == [
        (b"r", False), (b"n", False)]


def test_retain_handling(broker, clients):
    """3.3.1-9..11: Retain Handling 0 sends retained messages at every subscribe, 1 only when
    the subscription is new, 2 never."""
    pub = raw5(clients, broker, "rh-pub")
    pub.publish("rh/t", b"kept", qos=1, retain=True)
    for rh, first, again in [(0, True, True), (1, True, False), (2, False, False)]:
        c = raw5(clients, broker, "rh%d" % rh)
        for expected in (first, again):
            assert c.subscribe([("rh/#", opt(1, rh=rh))]).codes == [1]
            if expected:
                msg = c.receive()
                assert (msg.payload, msg.retain) == (b"kept", True)
            c.nothing(0.2)


def test_subscription_identifiers(broker, clients):
    """3.8.2.1.2, 3.3.4-3/4: each subscription's identifier comes with the messages it
    matches; one copy for overlapping ones carries all of them; a subscription without one
    adds none; subscribing again replaces it."""
    c = raw5(clients, broker, "sid")
    c.subscribe([("sid/#", opt(1))], props=m.props(("SubscriptionIdentifier", 5)))
    c.subscribe([("sid/x", opt(1))], props=m.props(("SubscriptionIdentifier", 268435455)))
    c.subscribe([("sid/+", opt(0))])
    pub = raw5(clients, broker, "sid-pub")
    pub.publish("sid/x", b"both", qos=1)
    msg = c.receive()
    assert msg.payload == b"both" and msg.qos == 1
    assert sorted(msg.props.all("SubscriptionIdentifier")) == [5, 268435455]
    pub.publish("sid/y", b"one", qos=1)
    assert c.receive().props.all("SubscriptionIdentifier") == [5]
    c.subscribe([("sid/#", opt(1))], props=m.props(("SubscriptionIdentifier", 9)))
    pub.publish("sid/y", b"changed", qos=1)
    assert c.receive().props.all("SubscriptionIdentifier") == [9]
    c.subscribe([("sid/#", opt(1))])
    pub.publish("sid/y", b"none", qos=1)
    assert c.receive().props.all("SubscriptionIdentifier") == []


def test_subscription_identifier_on_retained_and_queued(broker, clients):
    """The identifier also comes with retained messages sent for the subscription, and with
    messages that waited for an offline session."""
    pub = raw5(clients, broker, "sq-pub")
    pub.publish("sq/r", b"retained", qos=1, retain=True)
    c = raw5(clients, broker, "sq", clean=False, props=m.props(("SessionExpiryInterval", 60)))
    c.subscribe([("sq/#", opt(1))], props=m.props(("SubscriptionIdentifier", 77)))
    msg = c.receive()
    assert (msg.payload, msg.props.all("SubscriptionIdentifier")) == (b"retained", [77])
    c.disconnect()
    pub.publish("sq/q", b"queued", qos=1)
    c = raw5(clients, broker, "sq", clean=False, props=m.props(("SessionExpiryInterval", 60)))
    msg = c.receive()
    assert (msg.payload, msg.props.all("SubscriptionIdentifier")) == (b"queued", [77])


def test_paho_subscribe_options(broker):
    """The same options through paho: No Local, Retain As Published, identifiers."""
    c = m.Paho5(broker.port, "po")
    try:
        assert c.subscribe("po/a", qos=1, no_local=True, sub_id=3) == [1]
        assert c.subscribe("po/b", qos=2, rap=True, sub_id=4) == [2]
        c.publish("po/a", b"own", qos=1)
        c.publish("po/b", b"ret", qos=1, retain=True)
        msg = c.message()
        assert (msg.topic, msg.payload, msg.retain) == ("po/b", b"ret", True)
        assert msg.properties.SubscriptionIdentifier == [4]
        c.no_message(0.3)
    finally:
        c.disconnect()


def test_suback_reason_codes(make_broker, clients):
    """3.9.3: granted QoS (capped by the rules), 0x87 Not authorized, 0x8F Topic Filter
    invalid (over max_topic_levels, or a malformed share), 0x97 Quota exceeded
    (max_subscriptions); a 3.1.1 client gets 0x80 for each of them."""
    users = "".join('  - name: "%s"\n    password: "%s"\n%s' % (
        u, bulwark_hash(u + "-Pw-88"), extra) for u, extra in (
            ("s5", "    limits: {max_subscriptions: 3}\n"), ("s3", "")))
    pol = ("version: 1\nusers:\n" + users + "rules:\n"
           '  - {allow: subscribe, topics: "ok/#", everyone: true}\n'
           '  - {allow: subscribe, topics: "low/#", everyone: true, qos: 1}\n')
    b = make_broker(allow_anonymous=False, policy=pol, limits={"max_topic_levels": 4})
    c = raw5(clients, b, "sa", username="s5", password="s5-Pw-88")
    ack = c.subscribe([("ok/a", opt(2)), ("low/a", opt(2)), ("no/a", opt(1)),
                       ("ok/1/2/3/4", opt(0)), ("$share//ok/x", opt(0)), ("$share/g", opt(0)),
                       ("ok/b", opt(1)), ("ok/c", opt(1))])
    assert ack.codes == [2, 1, 0x87, 0x8F, 0x8F, 0x8F, 1, 0x97]
    assert c.subscribe([("ok/a", opt(0))]).codes == [0]  # already held: within the quota
    old = clients.connect(b, "s3c", username="s3", password="s3-Pw-88")
    assert old.subscribe([("ok/a", 1), ("no/a", 1), ("ok/1/2/3/4", 0)]) == [1, 0x80, 0x80]


def test_unsuback_reason_codes(broker, clients):
    """3.11.3: 0x00 for a removed subscription, 0x11 where none existed, per filter."""
    c = raw5(clients, broker, "ua")
    c.subscribe([("ua/a", opt(0)), ("$share/g/ua/s", opt(0))])
    ack = c.unsubscribe(["ua/a", "ua/none", "$share/g/ua/s", "ua/a"])
    assert ack.codes == [0x00, 0x11, 0x00, 0x11]
    raw5(clients, broker, "ua-pub").publish("ua/a", b"x")
    c.nothing(0.3)


def test_no_local_on_a_shared_subscription(broker, clients):
    """3.8.3-4: No Local on a shared subscription is a protocol error."""
    c = raw5(clients, broker, "nls")
    c.send(m.subscribe5(1, [("ok/x", 0), ("$share/g/x", opt(0, no_local=True))]))
    c.expect_disconnect(0x82)


def test_two_subscription_identifiers(broker, clients):
    """3.8.2.1.2: one SUBSCRIBE carries at most one Subscription Identifier."""
    c = raw5(clients, broker, "two")
    c.send(m.subscribe5(1, [("a", 0)], m.props(("SubscriptionIdentifier", 1),
                                               ("SubscriptionIdentifier", 2))))
    c.expect_disconnect(0x82)


def test_many_filters_in_one_packet(broker, clients):
    """One SUBSCRIBE with 300 filters gets a SUBACK with 300 codes (5.0 and 3.1.1), and one
    UNSUBSCRIBE an UNSUBACK with 300."""
    filters = ["many/%d" % i for i in range(300)]
    c = raw5(clients, broker, "many5")
    assert c.subscribe([(f, opt(i % 3)) for i, f in enumerate(filters)]).codes == [
        i % 3 for i in range(300)]
    assert c.unsubscribe(filters[:150] + ["many/none"] * 150).codes == [0] * 150 + [0x11] * 150
    old = clients.connect(broker, "many3")
    assert old.subscribe([(f, 1) for f in filters]) == [1] * 300
    old.unsubscribe(filters)
