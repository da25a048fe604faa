"""Last Will and Testament (3.1.2.5 to 3.1.2.7)."""

import pytest

import mqttraw as m

WILL = ("will/t", b"last words", 1, True)


def will_watcher(broker, clients):
    w = clients.connect(broker, "will-watch")
    assert w.subscribe([("will/t", 2)]) == [2]
    return w


def assert_will_published(broker, clients, watcher, timeout=m.DEFAULT_TIMEOUT):
    msg = watcher.receive(timeout=timeout)
    # Its QoS is kept (granted 2), the live copy has retain 0 (3.3.1-9)...
    assert (msg.topic, msg.payload, msg.qos, msg.retain) == ("will/t", b"last words", 1, False)
    # ...and, being a retained will, it is stored for later subscribers.
    late = clients.connect(broker, "will-late")
    late.subscribe([("will/t", 1)])
    stored = late.receive()
    assert (stored.payload, stored.retain) == (b"last words", True)


def test_will_on_socket_close(broker, clients):
    """3.1.2-8, 3.1.2-14..17: a connection lost without DISCONNECT publishes the will with its
    QoS and retain flag."""
    watcher = will_watcher(broker, clients)
    c = clients.connect(broker, "dies", will=WILL)
    c.close()
    assert_will_published(broker, clients, watcher)


def test_will_on_keepalive_expiry(broker, clients):
    """3.1.2-24, 3.1.2-8: a client silent past 1.5 x keepalive is disconnected and its will
    published."""
    watcher = will_watcher(broker, clients)
    c = clients.connect(broker, "silent", keepalive=1, will=WILL)
    # Generous: the timing itself is checked in test_keepalive.py (mosquitto is coarse).
    assert_will_published(broker, clients, watcher, timeout=8.0)
    assert c.wait_closed() == []


@pytest.mark.parametrize("violation", [
    m.packet(0, 0),                               # reserved packet type
    m.publish("will/+", b"x"),                    # wildcard in a PUBLISH topic
    m.packet(m.PUBLISH, 0x06, m.utf8("a/b") + b"\x00\x01"),  # QoS 3
], ids=["reserved-type", "wildcard-topic", "qos3"])
def test_will_on_protocol_violation(broker, clients, violation):
    """3.1.2-8, 4.8: a connection closed by the server for a protocol violation publishes the
    will."""
    watcher = will_watcher(broker, clients)
    c = clients.connect(broker, "bad", will=WILL)
    c.send(violation)
    assert c.wait_closed() == []
    assert_will_published(broker, clients, watcher)


def test_no_will_after_disconnect(broker, clients):
    """3.1.2-10, 3.14.4-3: after DISCONNECT the will is discarded, never published or
    retained."""
    watcher = will_watcher(broker, clients)
    c = clients.connect(broker, "polite", will=WILL)
    c.disconnect()
    watcher.nothing(0.5)
    pub = clients.connect(broker, "marker")
    pub.publish("will/t", b"marker", qos=1)
    assert watcher.receive().payload == b"marker"
    late = clients.connect(broker, "will-late")
    late.subscribe([("will/t", 1)])
    late.nothing()
