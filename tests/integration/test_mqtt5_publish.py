"""MQTT 5.0 PUBLISH and its acknowledgements (sections 3.3 to 3.7): properties forwarded
unchanged to 5.0 subscribers and stripped for 3.1.1 ones, Payload Format Indicator checks,
the reason codes of PUBACK/PUBREC/PUBCOMP, and the DISCONNECT for a broken PUBLISH.

"Not delivered" is checked with a fence: a later allowed message from the same publisher
reaches the subscriber first (messages of one publisher are routed in order)."""

import pytest

import mqttraw as m

pytestmark = pytest.mark.bulwark_only


def raw5(clients, broker, client_id, **kw):
    c = m.RawClient5(broker.port)
    clients.open.append(c)
    ack = c.connect(client_id, **kw)
    assert ack.reason == 0
    return c


def fence(pub, sub, topic="f/x"):
    """Proves nothing else is on its way to sub: a fence message is the next one it gets."""
    pub.publish(topic, b"fence", qos=1)
    msg = sub.receive()
    assert (msg.topic, msg.payload) == (topic, b"fence"), "got %r before the fence" % msg


FORWARDED = [("PayloadFormatIndicator", 1), ("ContentType", "text/plain; charset=utf-8"),
             ("UserProperty", ("b-name", "1")), ("ResponseTopic", "reply/to/me"),
             ("UserProperty", ("a-name", "2")), ("CorrelationData", b"\x00\xffcorr"),
             ("UserProperty", ("b-name", "3"))]


def test_properties_forwarded_in_order(broker, clients):
    """3.3.2.3: Payload Format Indicator, Content Type, Response Topic, Correlation Data and
    User Properties reach a 5.0 subscriber unchanged and in their order (3.3.2-17/18, user
    properties with repeated names included); the Message Expiry Interval comes with what is
    left of it; the Topic Alias does not travel."""
    sub = raw5(clients, broker, "fw-sub")
    assert sub.subscribe([("fw/#", 1)]).codes == [1]
    pub = raw5(clients, broker, "fw-pub")
    sent = m.props(("MessageExpiryInterval", 3600), ("TopicAlias", 1), *FORWARDED)
    assert pub.publish("fw/t", "h\u00e9llo", qos=1, props=sent).reason == 0
    msg = sub.receive()
    assert (msg.topic, msg.payload) == ("fw/t", "h\u00e9llo".encode())
    expiry = msg.props.get("MessageExpiryInterval")
    assert expiry is not None and 3598 <= expiry <= 3600
    assert [p for p in msg.props if p[0] != "MessageExpiryInterval"] == FORWARDED
    assert msg.props.get("TopicAlias") is None


def test_paho_roundtrip(broker):
    """The same through paho's own encoder and decoder."""
    sub = m.Paho5(broker.port, "paho-sub")
    pub = m.Paho5(broker.port, "paho-pub")
    try:
        assert sub.subscribe("pp/#", qos=2) == [2]
        props = m.pprops("PUBLISH", ResponseTopic="pp/reply", CorrelationData=b"id-7",
                         ContentType="application/json", PayloadFormatIndicator=1,
                         MessageExpiryInterval=120,
                         UserProperty=[("trace", "abc"), ("trace", "def")])
        pub.publish("pp/x", b'{"v": 1}', qos=2, props=props)
        msg = sub.message()
        p = msg.properties
        assert (msg.topic, msg.payload, msg.qos) == ("pp/x", b'{"v": 1}', 2)
        assert (p.ResponseTopic, p.CorrelationData) == ("pp/reply", b"id-7")
        assert (p.ContentType, p.PayloadFormatIndicator) == ("application/json", 1)
        assert p.UserProperty == [("trace", "abc"), ("trace", "def")]
        assert 118 <= p.MessageExpiryInterval <= 120
    finally:
        sub.disconnect()
        pub.disconnect()


def test_3_1_1_subscriber_gets_the_plain_message(broker, clients):
    """A 3.1.1 subscriber gets the message without any 5.0 field: its strict 3.1.1 decoder
    sees exactly topic and payload."""
    old = clients.connect(broker, "plain-sub")
    assert old.subscribe([("pl/#", 1)]) == [1]
    pub = raw5(clients, broker, "pl-pub")
    pub.publish("pl/t", b"payload", qos=1, props=m.props(*FORWARDED))
    msg = old.receive()
    assert (msg.topic, msg.payload, msg.qos) == ("pl/t", b"payload", 1)


def test_retained_message_keeps_its_properties(broker, clients):
    """A retained message is stored with its properties: a later 5.0 subscriber gets them,
    with RETAIN set (3.3.1-9)."""
    pub = raw5(clients, broker, "rt-pub")
    pub.publish("rt/t", b"kept", qos=1, retain=True,
                props=m.props(("UserProperty", ("k", "v")), ("ContentType", "c/t")))
    sub = raw5(clients, broker, "rt-sub")
    sub.subscribe([("rt/#", 1)])
    msg = sub.receive()
    assert (msg.payload, msg.retain) == (b"kept", True)
    assert list(msg.props) == [("UserProperty", ("k", "v")), ("ContentType", "c/t")]


def test_no_matching_subscribers(broker, clients):
    """3.4.2.1: a QoS 1/2 message nobody subscribes to is acknowledged with 0x10; with a
    subscriber, 0x00."""
    pub = raw5(clients, broker, "nm-pub")
    assert pub.publish("nobody/here", b"x", qos=1).reason == 0x10
    assert pub.publish("nobody/here", b"x", qos=2).reason == 0x10
    sub = raw5(clients, broker, "nm-sub")
    sub.subscribe([("nobody/#", 0)])
    assert pub.publish("nobody/here", b"x", qos=1).reason == 0


def test_denied_publish_is_not_authorized(broker, clients):
    """A publish the rules refuse ('$' topics, for clients) gets 0x87 in PUBACK/PUBREC and
    is not delivered; the QoS 2 exchange ends at the PUBREC (its id is free again)."""
    watch = raw5(clients, broker, "dn-watch")
    watch.subscribe([("$SYS/#", 2), ("f/#", 1)])
    pub = raw5(clients, broker, "dn-pub")
    assert pub.publish("$SYS/forged", b"x", qos=1).reason == 0x87
    pub.send(m.publish5("$SYS/forged", b"x", qos=2, pid=77))
    rec = pub.expect(m.PUBREC)
    assert (rec.pid, rec.reason) == (77, 0x87)
    pub.send(m.ack5(m.PUBREL, 77))
    assert pub.expect(m.PUBCOMP).reason == 0x92  # nothing was waiting for this PUBREL
    fence(pub, watch)


def test_payload_format_indicator_checked(broker, clients):
    """3.3.2.3.2: a payload said to be UTF-8 that is not gets 0x99 at QoS 1 and 2 and is not
    delivered; at QoS 0 the connection ends with DISCONNECT 0x99."""
    sub = raw5(clients, broker, "pf-sub")
    sub.subscribe([("pf/#", 2), ("f/#", 1)])
    pub = raw5(clients, broker, "pf-pub")
    utf = m.props(("PayloadFormatIndicator", 1))
    assert pub.publish("pf/t", b"\xc3\x28", qos=1, props=utf).reason == 0x99
    assert pub.publish("pf/t", b"\xed\xa0\x80", qos=2, props=utf).reason == 0x99
    assert pub.publish("pf/t", b"\xc3\x28", qos=1,
                       props=m.props(("PayloadFormatIndicator", 0))).reason == 0
    assert sub.receive().payload == b"\xc3\x28"  # format 0: unchecked bytes
    fence(pub, sub)
    pub.send(m.publish5("pf/t", b"\xff", props=utf))
    pub.expect_disconnect(0x99)
    fence(raw5(clients, broker, "pf-pub2"), sub)


def test_pubrel_for_unknown_id(broker, clients):
    """3.7.2.1: PUBREL for an id the server does not hold is answered PUBCOMP 0x92."""
    c = raw5(clients, broker, "rel")
    c.send(m.ack5(m.PUBREL, 4242))
    comp = c.expect(m.PUBCOMP)
    assert (comp.pid, comp.reason) == (4242, 0x92)
    c.send(m.publish5("rel/t", b"x", qos=2, pid=5))
    assert c.expect(m.PUBREC).pid == 5
    c.send(m.ack5(m.PUBREL, 5))
    comp = c.expect(m.PUBCOMP)
    assert (comp.pid, comp.reason) == (5, 0)


def test_pubrec_refusal_ends_the_exchange(make_broker, clients):
    """4.3.3: a subscriber's PUBREC with 0x80 or more ends the QoS 2 exchange: no PUBREL, and
    its inflight slot is free (max_inflight 1: the next message comes)."""
    b = make_broker(limits={"max_inflight": 1})
    sub = raw5(clients, b, "rec-sub")
    sub.subscribe([("rec/#", 2)])
    pub = raw5(clients, b, "rec-pub")
    pub.publish("rec/1", b"one", qos=2)
    pub.publish("rec/2", b"two", qos=2)
    first = sub.expect(m.PUBLISH)
    assert first.payload == b"one"
    sub.nothing(0.3)  # inflight window of 1
    sub.send(m.ack5(m.PUBREC, first.pid, 0x80))
    second = sub.expect(m.PUBLISH)
    assert second.payload == b"two"
    sub.ack(second)


def test_acks_with_reason_and_properties_accepted(broker, clients):
    """A subscriber's PUBACK with a reason code and properties completes the flow like a
    plain one."""
    sub = raw5(clients, broker, "ackp-sub")
    sub.subscribe([("ackp/#", 1)])
    pub = raw5(clients, broker, "ackp-pub")
    pub.publish("ackp/1", b"1", qos=1)
    msg = sub.expect(m.PUBLISH)
    sub.send(m.ack5(m.PUBACK, msg.pid, 0x10, m.props(("ReasonString", "fine"),
                                                      ("UserProperty", ("k", "v")))))
    pub.publish("ackp/2", b"2", qos=1)
    assert sub.receive().payload == b"2"
    sub.ping()


@pytest.mark.parametrize("props,reason", [
    (m.props(("SessionExpiryInterval", 1)), 0x81),            # not a PUBLISH property
    (b"\x02\x00\x00", 0x81),                                   # truncated expiry
    (m.props(("ContentType", "a"), ("ContentType", "b")), 0x82),
    (m.props(("SubscriptionIdentifier", 1)), 0x82),            # 3.3.4-6: never from a client
    (m.props(("PayloadFormatIndicator", 2)), 0x82),
    (m.props(("ResponseTopic", "r/+")), 0x82),                 # 3.3.2-14
    (m.props(("ContentType", b"\xc3")), 0x81),                 # ill-formed UTF-8
    (m.props(*[("UserProperty", ("k", "v"))] * 65), 0x97),     # over max_properties
], ids=["session-expiry", "truncated", "twice", "sub-id", "format-2", "wild-response",
        "bad-utf8", "too-many"])
def test_broken_publish_properties_disconnect(broker, clients, props, reason):
    """After CONNACK a broken PUBLISH ends the connection with DISCONNECT and the reason the
    spec names (4.13.1), the will is published, and others are not disturbed."""
    watch = raw5(clients, broker, "bp-watch")
    watch.subscribe([("bp/will", 0)])
    c = raw5(clients, broker, "bp", will=("bp/will", b"gone", 0, False))
    c.send(m.publish5("bp/t", b"x", qos=1, pid=1, props=props))
    pkt = c.expect_disconnect(reason)
    assert pkt.props.get("ReasonString")
    assert watch.receive().payload == b"gone"


def test_user_properties_up_to_the_limit(broker, clients):
    """64 user properties (max_properties) are forwarded, all of them, in order."""
    sub = raw5(clients, broker, "up-sub")
    sub.subscribe([("up/#", 0)])
    pub = raw5(clients, broker, "up-pub")
    pairs = [("UserProperty", ("k%02d" % i, "v" * i)) for i in range(64)]
    pub.publish("up/t", b"x", props=m.props(*pairs))
    assert list(sub.receive().props) == pairs


def test_properties_size_limit(make_broker, clients):
    """max_properties_size bounds the bytes of one packet's properties (0x97 beyond)."""
    b = make_broker(limits={"max_properties_size": 64})
    sub = raw5(clients, b, "ps-sub")
    sub.subscribe([("ps/#", 0)])
    pub = raw5(clients, b, "ps-pub")
    ok = m.props(("UserProperty", ("k", "v" * 58)))  # 64 bytes
    assert len(ok) == 64
    pub.publish("ps/t", b"x", props=ok)
    assert sub.receive().props.get("UserProperty") == ("k", "v" * 58)
    pub.send(m.publish5("ps/t", b"x", props=m.props(("UserProperty", ("k", "v" * 59)))))
    pub.expect_disconnect(0x97)


def test_empty_topic_without_alias(broker, clients):
    """3.3.4: an empty topic with no Topic Alias is a protocol error."""
    c = raw5(clients, broker, "et")
    c.send(m.publish5("", b"x"))
    c.expect_disconnect(0x82)


def test_topic_too_long_is_refused_per_message(make_broker, clients):
    """A topic over max_topic_length: at QoS 1/2 the PUBACK/PUBREC says 0x90 (Topic Name
    invalid) and the connection stays; at QoS 0 it ends with DISCONNECT 0x90."""
    b = make_broker(limits={"max_topic_length": 8})
    c = raw5(clients, b, "tl")
    assert c.publish("123456789", b"x", qos=1).reason == 0x90
    assert c.publish("123456789", b"x", qos=2).reason == 0x90
    assert c.publish("12345678", b"x", qos=1).reason == 0x10
    c.send(m.publish5("123456789", b"x"))
    c.expect_disconnect(0x90)
