"""Retained messages (3.3.1.3)."""

import mqttraw as m


def test_retained_delivered_to_new_subscriber(broker, clients):
    """3.3.1-5/6: a retained message is stored and sent to a new matching subscriber with the
    retain flag set."""
    pub = clients.connect(broker, "ret-pub")
    pub.publish("ret/a", b"v1", qos=1, retain=True)
    sub = clients.connect(broker, "ret-sub")
    sub.subscribe([("ret/a", 1)])
    msg = sub.receive()
    assert (msg.topic, msg.payload, msg.retain, msg.qos) == ("ret/a", b"v1", True, 1)
    sub.nothing(0.2)


def test_retained_is_replaced(broker, clients):
    """3.3.1-5: a new retained message on a topic replaces the previous one."""
    pub = clients.connect(broker, "rep-pub")
    pub.publish("ret/b", b"old", qos=1, retain=True)
    pub.publish("ret/b", b"new", qos=1, retain=True)
    sub = clients.connect(broker, "rep-sub")
    sub.subscribe([("ret/b", 1)])
    msg = sub.receive()
    assert (msg.payload, msg.retain) == (b"new", True)
    sub.nothing(0.2)


def test_empty_retained_clears(broker, clients):
    """3.3.1-10/11: a retained PUBLISH with a zero-byte payload removes the retained message;
    current subscribers still get it (as a normal message), new subscribers get nothing."""
    live = clients.connect(broker, "clr-live")
    live.subscribe([("ret/c", 1)])
    pub = clients.connect(broker, "clr-pub")
    pub.publish("ret/c", b"keep", qos=1, retain=True)
    assert live.receive().payload == b"keep"
    pub.publish("ret/c", b"", qos=1, retain=True)
    msg = live.receive()
    assert (msg.payload, msg.retain) == (b"", False)

    sub = clients.connect(broker, "clr-sub")
    sub.subscribe([("ret/c", 1), ("ret/#", 1)])
    sub.nothing()


def test_live_forwarding_clears_retain_flag(broker, clients):
    """3.3.1-9: a retained message forwarded to an existing subscription has retain 0."""
    live = clients.connect(broker, "fwd-live")
    live.subscribe([("ret/d", 2)])
    pub = clients.connect(broker, "fwd-pub")
    pub.publish("ret/d", b"x", qos=2, retain=True)
    msg = live.receive()
    assert (msg.payload, msg.retain, msg.qos) == (b"x", False, 2)


def test_retained_for_wildcard_filters(broker, clients):
    """3.3.1-6: retained messages are sent for every matching topic of a wildcard filter."""
    pub = clients.connect(broker, "wr-pub")
    for topic in ("rw/a", "rw/b/c", "other/a"):
        pub.publish(topic, topic, qos=1, retain=True)
    sub = clients.connect(broker, "wr-hash")
    sub.subscribe([("rw/#", 1)])
    got = sorted((p.topic, p.payload, p.retain) for p in (sub.receive(), sub.receive()))
    assert got == [("rw/a", b"rw/a", True), ("rw/b/c", b"rw/b/c", True)]
    sub.nothing(0.2)

    plus = clients.connect(broker, "wr-plus")
    plus.subscribe([("+/a", 0)])
    got = sorted((p.topic, p.retain, p.qos) for p in (plus.receive(), plus.receive()))
    assert got == [("other/a", True, 0), ("rw/a", True, 0)]
    plus.nothing(0.2)


def test_retained_qos_is_min_of_stored_and_granted(broker, clients):
    """3.3.5, 3.8.4: a retained message is sent at min(its QoS, the granted QoS)."""
    pub = clients.connect(broker, "rq-pub")
    pub.publish("rq/one", b"1", qos=1, retain=True)
    pub.publish("rq/two", b"2", qos=2, retain=True)
    sub = clients.connect(broker, "rq-sub")
    sub.subscribe([("rq/one", 2), ("rq/two", 1)])
    got = sorted((p.topic, p.qos) for p in (sub.receive(), sub.receive()))
    assert got == [("rq/one", 1), ("rq/two", 1)]


def test_non_retained_publish_keeps_retained(broker, clients):
    """3.3.1-12: a PUBLISH with retain 0 neither stores nor replaces the retained message."""
    pub = clients.connect(broker, "nr-pub")
    pub.publish("ret/e", b"stored", qos=1, retain=True)
    pub.publish("ret/e", b"transient", qos=1)
    sub = clients.connect(broker, "nr-sub")
    sub.subscribe([("ret/e", 1)])
    msg = sub.receive()
    assert (msg.payload, msg.retain) == (b"stored", True)
    sub.nothing(0.2)


def test_retained_resent_on_repeated_subscribe(broker, clients):
    """3.8.4-3: re-subscribing to an identical filter re-sends the retained messages."""
    pub = clients.connect(broker, "rr-pub")
    pub.publish("ret/f", b"again", qos=0, retain=True)
    sub = clients.connect(broker, "rr-sub")
    sub.subscribe([("ret/f", 0)])
    assert sub.receive().payload == b"again"
    sub.subscribe([("ret/f", 0)])
    msg = sub.receive()
    assert (msg.payload, msg.retain) == (b"again", True)


def test_retained_qos0_with_empty_payload_clears(broker, clients):
    """3.3.1-10: the zero-byte clear works at QoS 0 too."""
    pub = clients.connect(broker, "c0-pub")
    pub.publish("ret/g", b"v", qos=0, retain=True)
    pub.send(m.publish("ret/g", b"", qos=0, retain=True))
    pub.ping()  # the broker has handled both publishes before answering
    sub = clients.connect(broker, "c0-sub")
    sub.subscribe([("ret/g", 0)])
    sub.nothing()
