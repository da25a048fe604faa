"""Sessions: takeover, redelivery on reconnect, offline queues (3.1.2.4, 3.1.4, 4.4)."""

import pytest

import mqttraw as m


@pytest.mark.parametrize("clean", [
    True,
    # mosquitto skips the will when both sessions are persistent; bulwark always publishes it.
    pytest.param(False, marks=pytest.mark.bulwark_only),
], ids=["clean", "persistent"])
def test_takeover_closes_first_and_publishes_its_will(broker, clients, clean):
    """3.1.4-2: a CONNECT with a client id already connected disconnects the existing client;
    that connection ended without DISCONNECT, so its will is published (3.1.2-8)."""
    watcher = clients.connect(broker, "watcher")
    assert watcher.subscribe([("will/first", 1)]) == [1]
    first = clients.connect(broker, "same-id", clean=clean, will=("will/first", b"gone", 1, False))
    second = clients.connect(broker, "same-id", clean=clean)
    assert first.wait_closed() == []
    will = watcher.receive()
    assert (will.topic, will.payload, will.qos) == ("will/first", b"gone", 1)
    second.ping()
    assert second.is_open()


def test_takeover_keeps_persistent_session(broker, clients):
    """3.1.2.4: taking over a persistent session resumes it: session present 1, subscriptions
    kept."""
    first = clients.connect(broker, "resume", clean=False)
    assert first.subscribe([("resume/t", 1)]) == [1]
    second = clients.connect(broker, "resume", clean=False)
    assert second.connack.session_present == 1
    first.wait_closed()
    pub = clients.connect(broker, "resume-pub")
    pub.publish("resume/t", b"after-takeover", qos=1)
    assert second.receive().payload == b"after-takeover"


def _persistent_subscriber(broker, clients, client_id, topic, qos):
    sub = clients.connect(broker, client_id, clean=False)
    assert sub.subscribe([(topic, qos)]) == [qos]
    return sub


def test_qos1_redelivered_with_dup_after_reconnect(broker, clients):
    """4.4-1, 3.3.1-1: an unacknowledged QoS 1 PUBLISH is resent on reconnect with its
    original packet id and DUP=1; once PUBACKed it is not sent again."""
    sub = _persistent_subscriber(broker, clients, "dup1", "dup/1", 1)
    pub = clients.connect(broker, "dup1-pub")
    pub.publish("dup/1", b"once", qos=1)
    first = sub.receive(ack=False)
    assert (first.qos, first.dup, first.payload) == (1, False, b"once")
    sub.disconnect()

    sub = clients.connect(broker, "dup1", clean=False)
    assert sub.connack.session_present == 1
    again = sub.receive(ack=False)
    assert (again.qos, again.dup, again.pid, again.payload) == (1, True, first.pid, b"once")
    sub.send(m.puback(again.pid))
    sub.nothing()
    sub.disconnect()

    sub = clients.connect(broker, "dup1", clean=False)
    sub.nothing()


def test_qos2_redelivered_with_dup_before_pubrec(broker, clients):
    """4.4-1, 3.3.1-1: a QoS 2 PUBLISH not yet PUBRECed is resent on reconnect with DUP=1 and
    the same packet id; the flow then completes once."""
    sub = _persistent_subscriber(broker, clients, "dup2", "dup/2", 2)
    pub = clients.connect(broker, "dup2-pub")
    pub.publish("dup/2", b"twice?", qos=2)
    first = sub.receive(ack=False)
    assert (first.qos, first.dup) == (2, False)
    sub.disconnect()

    sub = clients.connect(broker, "dup2", clean=False)
    again = sub.receive(ack=False)
    assert (again.qos, again.dup, again.pid, again.payload) == (2, True, first.pid, b"twice?")
    sub.send(m.pubrec(again.pid))
    assert sub.expect(m.PUBREL).pid == again.pid
    sub.send(m.pubcomp(again.pid))
    sub.nothing()


def test_pubrel_resent_after_reconnect(broker, clients):
    """4.4-1, 4.3.3: after PUBREC but before PUBCOMP, the broker resends PUBREL (not the
    PUBLISH) on reconnect, with the same packet id."""
    sub = _persistent_subscriber(broker, clients, "rel2", "rel/2", 2)
    pub = clients.connect(broker, "rel2-pub")
    pub.publish("rel/2", b"payload", qos=2)
    msg = sub.receive(ack=False)
    sub.send(m.pubrec(msg.pid))
    assert sub.expect(m.PUBREL).pid == msg.pid
    sub.disconnect()

    sub = clients.connect(broker, "rel2", clean=False)
    rel = sub.recv()
    assert rel.type == m.PUBREL and rel.pid == msg.pid, "expected PUBREL %d, got %r" % (
        msg.pid, rel)
    sub.send(m.pubcomp(msg.pid))
    sub.nothing()


def test_offline_messages_delivered_on_reconnect(broker, clients):
    """3.1.2.4: a persistent session keeps QoS 1 and 2 messages published while it is offline
    and delivers them on reconnect; QoS 0 messages are not queued (bulwark's choice)."""
    sub = _persistent_subscriber(broker, clients, "offline", "off/#", 2)
    sub.disconnect()
    pub = clients.connect(broker, "offline-pub")
    pub.publish("off/q0", b"zero", qos=0)
    pub.publish("off/q1", b"one", qos=1)
    pub.publish("off/q2", b"two", qos=2)

    sub = clients.connect(broker, "offline", clean=False)
    assert sub.connack.session_present == 1
    got = [sub.receive() for _ in range(2)]
    assert [(p.topic, p.qos, p.payload) for p in got] == [
        ("off/q1", 1, b"one"), ("off/q2", 2, b"two")]
    sub.nothing()


def test_offline_queue_is_bounded(make_broker, clients):
    """max_queued_messages N: a persistent session offline keeps only N messages; bulwark
    drops the newest when full, so the first N are delivered on reconnect, in order, and the
    session keeps working afterwards."""
    b = make_broker(limits={"max_queued_messages": 5})
    sub = _persistent_subscriber(b, clients, "bounded", "bound/t", 1)
    sub.disconnect()
    pub = clients.connect(b, "bounded-pub")
    for i in range(12):
        pub.publish("bound/t", b"m%d" % i, qos=1)

    sub = clients.connect(b, "bounded", clean=False)
    got = [sub.receive().payload for _ in range(5)]
    assert got == [b"m%d" % i for i in range(5)]
    sub.nothing(0.5)
    pub.publish("bound/t", b"live", qos=1)  # the session still works once drained
    assert sub.receive().payload == b"live"


def test_clean_session_discards_old_session(broker, clients):
    """3.1.2-6: clean session 1 discards the previous session: no queued messages, no
    subscriptions, session present 0."""
    sub = _persistent_subscriber(broker, clients, "discard", "disc/t", 1)
    sub.disconnect()
    pub = clients.connect(broker, "discard-pub")
    pub.publish("disc/t", b"while-offline", qos=1)

    sub = clients.connect(broker, "discard", clean=True)
    assert sub.connack.session_present == 0
    sub.nothing()
    pub.publish("disc/t", b"after", qos=1)
    sub.nothing()
