"""Configured limits tested at their bound: max_sessions and max_inbound_qos2."""

import pytest

import mqttraw as m

pytestmark = pytest.mark.bulwark_only


def test_max_sessions(make_broker, clients):
    """max_sessions counts online and offline sessions: with 2, a third client id gets
    CONNACK 3 (server unavailable) while an offline persistent session holds its place; a
    client resuming its own session still gets in, and ending a session frees a place."""
    b = make_broker(limits={"max_sessions": 2})
    kept = clients.connect(b, "persistent-1", clean=False)
    kept.disconnect()  # offline, but its session stays
    clients.connect(b, "online-2")
    clients.connect(b, "third-3", expect_rc=3)
    again = clients.connect(b, "persistent-1", clean=False)
    assert again.connack.session_present
    # A clean start of that client id ends the old session: the place it held is free again.
    again.disconnect()
    clean = clients.connect(b, "persistent-1", clean=True)
    clean.disconnect()
    clients.connect(b, "third-3")


def test_max_inbound_qos2(make_broker, clients):
    """max_inbound_qos2 bounds QoS 2 ids awaiting PUBREL per session: with 2, two unreleased
    PUBLISHes are PUBRECed and the third closes only that connection, undelivered (a client
    resending it must not make a duplicate); a PUBREL frees a slot."""
    b = make_broker(limits={"max_inbound_qos2": 2})
    other = clients.connect(b, "bystander")
    other.subscribe([("q2/#", 1)])
    c = clients.connect(b, "hoarder")
    for pid in (1, 2):
        c.send(m.publish("q2/t", b"x", qos=2, pid=pid))
        assert c.expect(m.PUBREC).pid == pid
    c.send(m.pubrel(1))  # frees one slot
    assert c.expect(m.PUBCOMP).pid == 1
    c.send(m.publish("q2/t", b"x", qos=2, pid=3))
    assert c.expect(m.PUBREC).pid == 3
    c.send(m.publish("q2/t", b"x", qos=2, pid=4))  # third id awaiting PUBREL: over the bound
    assert c.wait_closed(timeout=3.0) == []
    # The three accepted messages arrived, the refused fourth did not; the bystander is fine.
    assert [other.receive().payload for _ in range(3)] == [b"x", b"x", b"x"]
    other.nothing(timeout=0.5)
    other.ping()
