"""PUBLISH flows for QoS 0, 1 and 2 in both directions (3.3 to 3.7, 4.3)."""

import pytest

import mqttraw as m


@pytest.mark.parametrize("pub_qos", [0, 1, 2])
def test_publish_flow_and_delivered_qos(broker, clients, pub_qos):
    """3.3.5, 4.3: the publisher sees the QoS flow of its own QoS (none / PUBACK /
    PUBREC-PUBREL-PUBCOMP with its packet id); each subscriber gets the message at
    min(published QoS, granted QoS) and completes that flow with the broker's packet id."""
    subs = []
    for granted in (0, 1, 2):
        s = clients.connect(broker, "sub-q%d" % granted)
        assert s.subscribe([("flow/t", granted)]) == [granted]
        subs.append(s)
    pub = clients.connect(broker, "pub")

    pid = 0x1234
    pub.send(m.publish("flow/t", b"payload", qos=pub_qos, pid=pid if pub_qos else None))
    if pub_qos == 1:
        assert pub.expect(m.PUBACK).pid == pid
    elif pub_qos == 2:
        assert pub.expect(m.PUBREC).pid == pid
        pub.send(m.pubrel(pid))
        assert pub.expect(m.PUBCOMP).pid == pid
    pub.nothing(0.1)

    for granted, s in enumerate(subs):
        msg = s.expect(m.PUBLISH)
        want = min(pub_qos, granted)
        assert (msg.topic, msg.payload, msg.qos, msg.dup, msg.retain) == (
            "flow/t", b"payload", want, False, False)
        if want == 0:
            assert msg.pid is None
            continue
        assert msg.pid != 0  # 2.3.1-1
        if want == 1:
            s.send(m.puback(msg.pid))
        else:
            s.send(m.pubrec(msg.pid))
            assert s.expect(m.PUBREL).pid == msg.pid
            s.send(m.pubcomp(msg.pid))
    for s in subs:
        s.nothing(0.2)  # exactly one copy each, no retransmission after the ack
        s.ping()


def test_puback_without_subscribers(broker, clients):
    """4.3.2/4.3.3: QoS 1 and 2 publishes are acknowledged even when nobody subscribes."""
    pub = clients.connect(broker, "lonely")
    pub.publish("nobody/listens", b"x", qos=1)
    pub.publish("nobody/listens", b"x", qos=2)


def test_outgoing_packet_ids_are_distinct_while_inflight(broker, clients):
    """2.3.1-2: while QoS 1 messages to a client are unacknowledged, each uses a distinct
    non-zero packet id."""
    sub = clients.connect(broker, "ids")
    sub.subscribe([("ids/t", 1)])
    pub = clients.connect(broker, "ids-pub")
    for i in range(5):
        pub.publish("ids/t", b"%d" % i, qos=1)
    got = [sub.receive(ack=False) for _ in range(5)]
    pids = [p.pid for p in got]
    assert 0 not in pids and len(set(pids)) == 5, pids
    assert [p.payload for p in got] == [b"%d" % i for i in range(5)]


def test_order_preserved_per_topic(broker, clients):
    """4.6: messages of one publisher on one topic arrive in the order they were sent."""
    sub = clients.connect(broker, "order")
    sub.subscribe([("order/t", 1)])
    pub = clients.connect(broker, "order-pub")
    for i in range(30):
        pub.send(m.publish("order/t", b"%d" % i, qos=i % 2, pid=(i + 1) if i % 2 else None))
    got = [sub.receive().payload for _ in range(30)]
    assert got == [b"%d" % i for i in range(30)]


@pytest.mark.parametrize("payload", [b"", bytes(range(256)) * 4, b"\x00" * 200_000],
                         ids=["empty", "all-bytes", "200k"])
def test_payload_is_opaque(broker, clients, payload):
    """3.3.3: the payload is application data: empty, binary and large payloads arrive intact."""
    sub = clients.connect(broker, "opaque")
    sub.subscribe([("opaque/t", 1)])
    pub = clients.connect(broker, "opaque-pub")
    pub.publish("opaque/t", payload, qos=1)
    assert sub.receive().payload == payload


def test_inbound_qos2_exactly_once(broker, clients):
    """4.3.3, 4.4: a QoS 2 PUBLISH resent with DUP=1 and the same packet id before PUBREL is
    delivered once; PUBREL gets PUBCOMP with that id; afterwards the id is free and a new
    PUBLISH with it is a new message."""
    sub = clients.connect(broker, "eo-sub")
    sub.subscribe([("eo/t", 2)])
    pub = clients.connect(broker, "eo-pub")

    pub.send(m.publish("eo/t", b"first", qos=2, pid=7))
    assert pub.expect(m.PUBREC).pid == 7
    pub.send(m.publish("eo/t", b"first", qos=2, pid=7, dup=True))
    assert pub.expect(m.PUBREC).pid == 7
    pub.send(m.pubrel(7))
    assert pub.expect(m.PUBCOMP).pid == 7

    assert sub.receive().payload == b"first"
    sub.nothing(0.3)

    pub.send(m.publish("eo/t", b"second", qos=2, pid=7))
    assert pub.expect(m.PUBREC).pid == 7
    pub.send(m.pubrel(7))
    assert pub.expect(m.PUBCOMP).pid == 7
    assert sub.receive().payload == b"second"
    sub.nothing(0.2)


def test_pubrel_for_unknown_id_gets_pubcomp(broker, clients):
    """4.3.3: a PUBREL for a packet id that is not pending is answered with PUBCOMP (the
    sender may be retrying after the broker already completed it)."""
    pub = clients.connect(broker, "stray-rel")
    pub.send(m.pubrel(99))
    assert pub.expect(m.PUBCOMP).pid == 99
    pub.ping()
