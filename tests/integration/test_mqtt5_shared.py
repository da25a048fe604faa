"""Shared subscriptions, $share/GROUP/FILTER (MQTT 5.0 section 4.8.2; 3.1.1 clients may use
them too): one member of a group gets each message, in turn; retained messages are not sent
on them; the filter part is what the rules decide; what waits for a member whose session
ends goes to the others."""

import collections

import pytest

import mqttraw as m
from broker import bulwark_hash

pytestmark = pytest.mark.bulwark_only


def raw5(clients, broker, client_id, **kw):
    c = m.RawClient5(broker.port)
    clients.open.append(c)
    ack = c.connect(client_id, **kw)
    assert ack.reason == 0
    return c


def drain(clients_by_name, expected_total, timeout=3.0):
    """Reads every member until expected_total messages arrived; returns name -> payloads."""
    got = collections.defaultdict(list)
    total = 0
    while total < expected_total:
        progressed = False
        for name, c in clients_by_name.items():
            try:
                msg = c.receive(timeout=0.05)
            except m.Timeout:
                continue
            got[name].append(msg.payload)
            total += 1
            progressed = True
        if not progressed:
            timeout -= 0.05 * len(clients_by_name)
            assert timeout > 0, "only %d of %d messages arrived: %r" % (
                total, expected_total, dict(got))
    for c in clients_by_name.values():
        c.nothing(0.2)
    return got


def test_each_message_to_one_member_in_turn(broker, clients):
    """4.8.2: 30 messages to a group of three: each goes to exactly one member, and turns
    balance them 10/10/10; a plain subscriber to the same filter gets all 30."""
    members = {n: raw5(clients, broker, n) for n in ("sa", "sb", "sc")}
    for c in members.values():
        assert c.subscribe([("$share/grp/sh/#", 1)]).codes == [1]
    plain = raw5(clients, broker, "plain")
    plain.subscribe([("sh/#", 1)])
    pub = raw5(clients, broker, "sh-pub")
    payloads = [b"m%02d" % i for i in range(30)]
    for p in payloads:
        assert pub.publish("sh/t", p, qos=1).reason == 0
    got = drain(members, 30)
    assert sorted(sum(got.values(), [])) == payloads
    assert sorted(len(v) for v in got.values()) == [10, 10, 10]
    for v in got.values():
        assert v == sorted(v)  # each member sees its share in order
    assert [plain.receive().payload for _ in range(30)] == payloads


def test_two_groups_each_get_every_message(broker, clients):
    """Groups are independent: each group gets each message once."""
    g1 = {n: raw5(clients, broker, n) for n in ("g1a", "g1b")}
    g2 = {"g2a": raw5(clients, broker, "g2a")}
    for c in g1.values():
        c.subscribe([("$share/one/tg/#", 0)])
    g2["g2a"].subscribe([("$share/two/tg/#", 0)])
    pub = raw5(clients, broker, "tg-pub")
    for i in range(4):
        pub.publish("tg/t", b"%d" % i)
    assert sorted(sum(drain(g1, 4).values(), [])) == [b"0", b"1", b"2", b"3"]
    assert drain(g2, 4)["g2a"] == [b"0", b"1", b"2", b"3"]


def test_no_retained_messages_on_shared_subscriptions(broker, clients):
    """4.8.2: retained messages are not sent when a shared subscription is made."""
    pub = raw5(clients, broker, "rs-pub")
    pub.publish("rs/t", b"retained", qos=1, retain=True)
    c = raw5(clients, broker, "rs")
    assert c.subscribe([("$share/g/rs/#", 1)]).codes == [1]
    c.nothing(0.3)
    pub.publish("rs/t", b"live", qos=1)
    msg = c.receive()
    assert (msg.payload, msg.retain) == (b"live", False)


def test_3_1_1_members(broker, clients):
    """3.1.1 clients may share a subscription with 5.0 clients."""
    old = clients.connect(broker, "old-member")
    assert old.subscribe([("$share/mix/mx/#", 1)]) == [1]
    new = raw5(clients, broker, "new-member")
    new.subscribe([("$share/mix/mx/#", 1)])
    pub = clients.connect(broker, "mx-pub")
    for i in range(4):
        pub.publish("mx/t", b"%d" % i, qos=1)
    got = drain({"old": old, "new": new}, 4)
    assert sorted(len(v) for v in got.values()) == [2, 2]


def test_rules_decide_on_the_filter_part(make_broker, clients):
    """The access rules see the FILTER of $share/GROUP/FILTER: allowed filters are granted
    whatever the group; others are 0x87 (5.0) and 0x80 (3.1.1)."""
    users = '  - name: "sh"\n    password: "%s"\n' % bulwark_hash("sh-Pw-42")
    pol = ("version: 1\nusers:\n" + users + "rules:\n"
           '  - {allow: both, topics: "open/#", everyone: true}\n')
    b = make_broker(allow_anonymous=False, policy=pol)
    c = raw5(clients, b, "shr", username="sh", password="sh-Pw-42")
    ack = c.subscribe([("$share/any/open/x", 1), ("$share/open/closed/x", 1), ("closed/x", 0)])
    assert ack.codes == [1, 0x87, 0x87]
    old = clients.connect(b, "shr3", username="sh", password="sh-Pw-42")
    assert old.subscribe([("$share/g/open/#", 1), ("$share/g/secret/#", 1)]) == [1, 0x80]


def test_member_that_unsubscribes_gets_no_more(broker, clients):
    """A member that leaves the group gets nothing more from it; the others get it all."""
    a = raw5(clients, broker, "ua")
    b = raw5(clients, broker, "ub")
    for c in (a, b):
        c.subscribe([("$share/u/un/#", 1)])
    assert a.unsubscribe(["$share/u/un/#"]).codes == [0]
    pub = raw5(clients, broker, "un-pub")
    for i in range(4):
        pub.publish("un/t", b"%d" % i, qos=1)
    assert [b.receive().payload for _ in range(4)] == [b"0", b"1", b"2", b"3"]
    a.nothing(0.3)


def test_unacknowledged_qos1_goes_to_another_member(broker, clients):
    """4.8.2: a QoS 1 message sent to a member whose session then ends unacknowledged goes to
    a remaining member."""
    a = raw5(clients, broker, "qa", props=m.props(("ReceiveMaximum", 1)))
    a.subscribe([("$share/q/q1/#", 1)])
    b = raw5(clients, broker, "qb")
    pub = raw5(clients, broker, "q1-pub")
    pub.publish("q1/t", b"first", qos=1)
    held = a.expect(m.PUBLISH)  # not acknowledged
    assert held.payload == b"first"
    b.subscribe([("$share/q/q1/#", 1)])
    a.close()  # Session Expiry 0: the session ends with the connection
    msg = b.receive()
    assert msg.payload == b"first"


def test_sent_qos2_is_not_given_to_another_member(broker, clients):
    """4.8.2-5: a QoS 2 message already on its way to a member whose session ends is not
    sent to anyone else; later messages go to the remaining member."""
    a = raw5(clients, broker, "q2a")
    a.subscribe([("$share/q2/q2/#", 2)])
    pub = raw5(clients, broker, "q2-pub")
    pub.publish("q2/t", b"only-a", qos=2)
    assert a.expect(m.PUBLISH).payload == b"only-a"
    b = raw5(clients, broker, "q2b")
    b.subscribe([("$share/q2/q2/#", 2)])
    a.close()
    b.nothing(0.5)
    pub.publish("q2/t", b"next", qos=2)
    assert b.receive().payload == b"next"


def test_queued_messages_of_an_ended_session_move_on(broker, clients):
    """Messages queued for an offline member whose session ends (here: a Clean Start
    reconnection) go to the other members instead of being lost."""
    expiry = m.props(("SessionExpiryInterval", 60))
    a = raw5(clients, broker, "wa", clean=False, props=expiry)
    b = raw5(clients, broker, "wb", clean=False, props=expiry)
    for c in (a, b):
        c.subscribe([("$share/w/wq/#", 1)])
        c.disconnect()
    pub = raw5(clients, broker, "wq-pub")
    for i in range(6):
        pub.publish("wq/t", b"%d" % i, qos=1)
    raw5(clients, broker, "wb", clean=True).disconnect()  # b's session (and its share) ends
    a = raw5(clients, broker, "wa", clean=False, props=expiry)
    got = sorted(a.receive().payload for _ in range(6))
    assert got == [b"%d" % i for i in range(6)]
    a.nothing(0.3)


def test_shared_subscription_identifier(broker, clients):
    """A member's Subscription Identifier comes with the messages it gets from the group."""
    c = raw5(clients, broker, "sid")
    c.subscribe([("$share/i/si/#", 1)], props=m.props(("SubscriptionIdentifier", 12)))
    raw5(clients, broker, "si-pub").publish("si/t", b"x", qos=1)
    assert c.receive().props.all("SubscriptionIdentifier") == [12]


def test_malformed_share_names(broker, clients):
    """4.8.2-1/2: a share name must be non-empty and followed by '/' and a filter: 0x8F."""
    c = raw5(clients, broker, "bad-share")
    ack = c.subscribe([("$share//x", 0), ("$share/g", 0), ("$share/g/", 0), ("$share/g/x", 0)])
    assert ack.codes == [0x8F, 0x8F, 0x8F, 0]


def test_paho_shared(broker):
    """paho clients in one group share the messages."""
    a = m.Paho5(broker.port, "pa")
    b = m.Paho5(broker.port, "pb")
    pub = m.Paho5(broker.port, "pp")
    try:
        for c in (a, b):
            assert c.subscribe("$share/p/ps/#", qos=1) == [1]
        for i in range(4):
            pub.publish("ps/t", b"%d" % i, qos=1)
        got = sorted([a.message().payload, a.message().payload,
                      b.message().payload, b.message().payload])
        assert got == [b"0", b"1", b"2", b"3"]
    finally:
        for c in (a, b, pub):
            c.disconnect()
