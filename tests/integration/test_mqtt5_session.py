"""MQTT 5.0 session lifetime, message expiry and delayed wills (sections 3.1.2.11.2,
3.3.2.3.3, 3.1.3.2.2, 3.14.2.2.2, 4.1). Waits here are for the broker's own timers to pass
(expiry, will delay); they check order and presence, never speed."""

import time

import pytest

import mqttraw as m

pytestmark = pytest.mark.bulwark_only


def raw5(clients, broker, client_id, expect=0, **kw):
    c = m.RawClient5(broker.port)
    clients.open.append(c)
    c.connack = c.connect(client_id, **kw)
    assert c.connack.reason == expect, "CONNACK 0x%02x" % c.connack.reason
    return c


def expiry(seconds):
    return m.props(("SessionExpiryInterval", seconds))


# ------------------------------------------------------------------ Session Expiry Interval


def test_expiry_0_ends_the_session_with_the_connection(broker, clients):
    """3.1.2-23: without a Session Expiry Interval (0) the session ends at disconnection,
    even without Clean Start."""
    c = raw5(clients, broker, "se0", clean=False)
    c.subscribe([("se0/#", 1)])
    c.disconnect()
    c = raw5(clients, broker, "se0", clean=False)
    assert c.connack.session_present == 0
    raw5(clients, broker, "se0-pub").publish("se0/t", b"x", qos=1)
    c.nothing(0.3)


def test_session_kept_and_queued_messages_delivered(broker, clients):
    """A session with an expiry outlives its connection: its QoS 1 messages wait for it and
    Clean Start 0 resumes it (session present 1)."""
    c = raw5(clients, broker, "se60", clean=False, props=expiry(60))
    c.subscribe([("se60/#", 1)])
    c.disconnect()
    pub = raw5(clients, broker, "se60-pub")
    pub.publish("se60/t", b"waited", qos=1)
    c = raw5(clients, broker, "se60", clean=False, props=expiry(60))
    assert c.connack.session_present == 1
    assert c.receive().payload == b"waited"


def test_clean_start_discards_the_session(broker, clients):
    """3.1.2-4: Clean Start 1 starts a new session even when one exists."""
    c = raw5(clients, broker, "cs", clean=False, props=expiry(60))
    c.subscribe([("cs/#", 1)])
    c.disconnect()
    c = raw5(clients, broker, "cs", clean=True, props=expiry(60))
    assert c.connack.session_present == 0


def test_session_expires_on_time(broker, clients):
    """4.1: an offline session past its expiry is gone: Clean Start 0 finds no session."""
    c = raw5(clients, broker, "sx", clean=False, props=expiry(1))
    c.subscribe([("sx/#", 1)])
    c.disconnect()
    time.sleep(1.6)
    c = raw5(clients, broker, "sx", clean=False, props=expiry(1))
    assert c.connack.session_present == 0


def test_max_session_expiry_caps_the_lifetime(make_broker, clients):
    """max_session_expiry_s 1: a client asking for an hour is told 1 s (CONNACK) and its
    session is gone after that; a 3.1.1 persistent session keeps its meaning (no expiry)."""
    b = make_broker(limits={"max_session_expiry_s": 1})
    c = raw5(clients, b, "cap", clean=False, props=expiry(3600))
    assert c.connack.props.get("SessionExpiryInterval") == 1
    c.subscribe([("cap/#", 1)])
    c.disconnect()
    old = clients.connect(b, "cap311", clean=False)
    old.subscribe([("cap/#", 1)])
    old.disconnect()
    time.sleep(1.6)
    assert raw5(clients, b, "cap", clean=False, props=expiry(3600)).connack.session_present == 0
    assert clients.connect(b, "cap311", clean=False).connack.session_present == 1


def test_disconnect_changes_the_expiry(broker, clients):
    """3.14.2.2.2: the DISCONNECT may change the expiry: 60 -> 0 ends the session."""
    c = raw5(clients, broker, "dc", clean=False, props=expiry(60))
    c.subscribe([("dc/#", 1)])
    c.disconnect(0, m.props(("SessionExpiryInterval", 0)))
    assert raw5(clients, broker, "dc", clean=False).connack.session_present == 0


def test_disconnect_may_extend_a_nonzero_expiry(broker, clients):
    """0 < expiry in CONNECT: the DISCONNECT may raise it (1 -> 60 outlives 1 s)."""
    c = raw5(clients, broker, "dx", clean=False, props=expiry(1))
    c.subscribe([("dx/#", 1)])
    c.disconnect(0, m.props(("SessionExpiryInterval", 60)))
    time.sleep(1.6)
    assert raw5(clients, broker, "dx", clean=False).connack.session_present == 1


def test_disconnect_cannot_raise_a_zero_expiry(broker, clients):
    """3.14.2.2.2: CONNECT with 0 then DISCONNECT with a non-zero expiry is a protocol error:
    the server answers DISCONNECT 0x82, and the session still ends."""
    c = raw5(clients, broker, "dz", clean=False)
    c.subscribe([("dz/#", 1)])
    c.send(m.disconnect5(0, m.props(("SessionExpiryInterval", 30))))
    c.expect_disconnect(0x82)
    assert raw5(clients, broker, "dz", clean=False).connack.session_present == 0


# ------------------------------------------------------------------ Message Expiry Interval


def test_queued_message_expires(broker, clients):
    """3.3.2-5: a message waiting for an offline session past its expiry is not delivered;
    one without expiry is."""
    c = raw5(clients, broker, "me", clean=False, props=expiry(60))
    c.subscribe([("me/#", 1)])
    c.disconnect()
    pub = raw5(clients, broker, "me-pub")
    pub.publish("me/t", b"short", qos=1, props=m.props(("MessageExpiryInterval", 1)))
    pub.publish("me/t", b"long", qos=1)
    time.sleep(1.6)
    c = raw5(clients, broker, "me", clean=False, props=expiry(60))
    assert c.receive().payload == b"long"
    c.nothing(0.3)


def test_remaining_expiry_is_forwarded(broker, clients):
    """3.3.2-6: the Message Expiry Interval sent on is what is left of it."""
    c = raw5(clients, broker, "mr", clean=False, props=expiry(60))
    c.subscribe([("mr/#", 1)])
    c.disconnect()
    raw5(clients, broker, "mr-pub").publish("mr/t", b"x", qos=1,
                                             props=m.props(("MessageExpiryInterval", 30)))
    time.sleep(1.2)
    c = raw5(clients, broker, "mr", clean=False, props=expiry(60))
    left = c.receive().props.get("MessageExpiryInterval")
    assert left is not None and 1 <= left <= 29


def test_retained_message_expires(broker, clients):
    """A retained message past its expiry is no longer sent to new subscribers (and is
    dropped from the store); before that it is, with the time left."""
    pub = raw5(clients, broker, "rx-pub")
    pub.publish("rx/t", b"soon-gone", qos=1, retain=True,
                props=m.props(("MessageExpiryInterval", 1)))
    early = raw5(clients, broker, "rx-early")
    early.subscribe([("rx/#", 1)])
    msg = early.receive()
    assert (msg.payload, msg.retain) == (b"soon-gone", True)
    assert msg.props.get("MessageExpiryInterval") == 1
    time.sleep(1.6)
    late = raw5(clients, broker, "rx-late")
    late.subscribe([("rx/#", 1)])
    late.nothing(0.3)
    late.unsubscribe(["rx/#"])
    late.subscribe([("rx/#", 1)])  # still nothing: the store forgot it
    late.nothing(0.3)


# ------------------------------------------------------------------ wills


def watcher(clients, broker, topic="will/#"):
    w = raw5(clients, broker, "will-watch-" + topic.replace("/", "_").replace("#", "h"))
    w.subscribe([(topic, 1)])
    return w


def test_will_delay(broker, clients):
    """3.1.3.2.2: the will is published once its delay has passed, not at the close."""
    w = watcher(clients, broker)
    c = raw5(clients, broker, "wd", props=expiry(60), will=("will/wd", b"late", 1, False),
             will_props=m.props(("WillDelayInterval", 1)))
    c.close()
    w.nothing(0.5)
    assert w.receive(timeout=5).payload == b"late"


def test_reconnect_within_the_delay_cancels_the_will(broker, clients):
    """3.1.3.2.2: a new connection of the session before the delay is over: no will."""
    w = watcher(clients, broker)
    c = raw5(clients, broker, "wc", clean=False, props=expiry(60),
             will=("will/wc", b"never", 1, False), will_props=m.props(("WillDelayInterval", 1)))
    c.close()
    c = raw5(clients, broker, "wc", clean=False, props=expiry(60))
    assert c.connack.session_present == 1
    time.sleep(1.6)
    w.nothing(0.3)


def test_will_at_session_end_before_the_delay(broker, clients):
    """The will goes at the earlier of its delay and the session's end: expiry 1 s, delay
    1 h: it comes when the session ends."""
    w = watcher(clients, broker)
    c = raw5(clients, broker, "we", props=expiry(1), will=("will/we", b"at-end", 1, False),
             will_props=m.props(("WillDelayInterval", 3600)))
    c.close()
    assert w.receive(timeout=5).payload == b"at-end"


def test_will_delay_without_a_session_is_immediate(broker, clients):
    """Session Expiry 0: the session ends at the close, and so does the wait."""
    w = watcher(clients, broker)
    c = raw5(clients, broker, "wi", will=("will/wi", b"now", 1, False),
             will_props=m.props(("WillDelayInterval", 3600)))
    c.close()
    assert w.receive().payload == b"now"


def test_clean_start_takeover_ends_the_old_session_with_its_will(broker, clients):
    """A new connection with Clean Start 1 ends the old session: its delayed will goes."""
    w = watcher(clients, broker)
    c = raw5(clients, broker, "wt", props=expiry(60), will=("will/wt", b"ended", 1, False),
             will_props=m.props(("WillDelayInterval", 3600)))
    c.close()
    w.nothing(0.3)
    raw5(clients, broker, "wt", clean=True)
    assert w.receive().payload == b"ended"


@pytest.mark.parametrize("reason,published", [(0x00, False), (0x04, True), (0x80, True)])
def test_disconnect_reason_decides_the_will(broker, clients, reason, published):
    """3.14.4-3: DISCONNECT 0x00 discards the will; 0x04 asks for it; an error reason
    publishes it too."""
    w = watcher(clients, broker)
    c = raw5(clients, broker, "dw", will=("will/dw", b"w", 1, False))
    c.disconnect(reason)
    if published:
        assert w.receive().payload == b"w"
    else:
        w.nothing(0.5)


def test_will_properties_forwarded(broker, clients):
    """3.1.3.2.3..8: the will's properties travel with it (the delay does not)."""
    w = watcher(clients, broker)
    wp = m.props(("WillDelayInterval", 0), ("ContentType", "text/plain"),
                 ("ResponseTopic", "will/reply"), ("UserProperty", ("why", "lost")),
                 ("MessageExpiryInterval", 120))
    c = raw5(clients, broker, "wp", will=("will/wp", b"bye", 1, False), will_props=wp)
    c.close()
    msg = w.receive()
    assert msg.payload == b"bye"
    assert msg.props.get("ContentType") == "text/plain"
    assert msg.props.get("ResponseTopic") == "will/reply"
    assert msg.props.all("UserProperty") == [("why", "lost")]
    assert 119 <= msg.props.get("MessageExpiryInterval") <= 120
    assert msg.props.get("WillDelayInterval") is None


def test_paho_will_with_delay(broker):
    """paho's will_set with 5.0 properties: the delay is honoured."""
    w = m.Paho5(broker.port, "pw-watch")
    try:
        assert w.subscribe("pwill/#", qos=1) == [1]
        c = m.Paho5(broker.port, "pw", properties=m.pprops("CONNECT", SessionExpiryInterval=60),
                    will=("pwill/x", b"paho-will", 1, False,
                          m.pprops("WILLMESSAGE", WillDelayInterval=1,
                                   UserProperty=[("a", "b")])))
        c.close()
        w.no_message(0.5)
        msg = w.message(timeout=5)
        assert msg.payload == b"paho-will"
        assert msg.properties.UserProperty == [("a", "b")]
    finally:
        w.disconnect()
