"""Topic filters and wildcards (4.7), including the '$' rule (4.7.2)."""

import pytest

import mqttraw as m

SENTINEL = "zz/sentinel"

# filter -> topics it must match / must not match (4.7.1 and its examples).
CASES = [
    ("sport/tennis/player1/#",
     ["sport/tennis/player1", "sport/tennis/player1/ranking",
      "sport/tennis/player1/score/wimbledon"],
     ["sport/tennis/player2", "sport/tennis/player10"]),
    ("sport/#", ["sport", "sport/x", "sport/x/y"], ["sports", "spor"]),
    ("sport/+/player1", ["sport/tennis/player1", "sport//player1"],
     ["sport/tennis/player1/x", "sport/player1", "sport/a/b/player1"]),
    ("+/+", ["/finance", "a/b", "a/"], ["finance", "a/b/c"]),
    ("/+", ["/finance", "/"], ["finance", "a/b"]),
    ("+", ["finance", "x"], ["/finance", "a/b"]),
    ("#", ["anything", "a/b/c", "/"], ["$foo/x", "$SYS/broker/x"]),
    ("+/x", ["a/x", "/x"], ["$foo/x", "a/b/x"]),
    ("case/T", ["case/T"], ["case/t", "CASE/T"]),
    ("a/b/", ["a/b/"], ["a/b"]),
]


def collect_until_sentinel(client):
    """Topics received before the sentinel message (the publisher sends it last)."""
    topics = []
    while True:
        msg = client.receive()
        if msg.topic == SENTINEL:
            return topics
        topics.append(msg.topic)


@pytest.mark.parametrize("filt,matching,other", CASES, ids=[c[0] for c in CASES])
def test_filter_matching(broker, clients, filt, matching, other):
    """4.7.1, 4.7.2-1: '+' matches exactly one level (possibly empty), '#' matches the parent
    and any number of levels, matching is case sensitive, and filters starting with a wildcard
    do not match topics starting with '$'."""
    sub = clients.connect(broker, "wild")
    assert sub.subscribe([(filt, 1)]) == [1]
    if filt != "#":
        assert sub.subscribe([(SENTINEL, 1)]) == [1]
    pub = clients.connect(broker, "wild-pub")
    for topic in other + matching:
        pub.publish(topic, topic, qos=1)
    pub.publish(SENTINEL, b"", qos=1)
    assert collect_until_sentinel(sub) == matching


@pytest.mark.bulwark_only
def test_client_publish_to_dollar_topic_is_not_delivered(broker, clients):
    """4.7.2: '$' topics are for the server: bulwark denies client publishes to them. QoS 1 and
    2 publishes are still acknowledged, the client stays connected, and a subscriber to
    "$foo/#" is granted but receives nothing from clients."""
    sub = clients.connect(broker, "dollar-sub")
    assert sub.subscribe([("$foo/#", 1), ("$SYS/#", 1), ("#", 1)]) == [1, 1, 1]
    pub = clients.connect(broker, "dollar-pub")
    pub.publish("$foo/bar", b"q0", qos=0)
    pub.publish("$foo/bar", b"q1", qos=1)
    pub.publish("$foo/bar", b"q2", qos=2)
    pub.publish("$SYS/fake", b"spoof", qos=1)
    pub.publish("normal/t", b"marker", qos=1)
    msg = sub.receive()
    assert (msg.topic, msg.payload) == ("normal/t", b"marker")
    sub.nothing()
    pub.ping()


def test_dollar_filter_can_be_subscribed(broker, clients):
    """4.7.2: a filter starting with '$' is a valid filter and is granted."""
    sub = clients.connect(broker, "dollar-ok")
    assert sub.subscribe([("$foo/#", 2), ("$SYS/+/x", 0)]) == [2, 0]
    sub.ping()


def test_single_level_wildcard_does_not_cross_levels(broker, clients):
    """4.7.1.3: '+' in the middle of a filter stands for exactly one level."""
    sub = clients.connect(broker, "plus")
    sub.subscribe([("p/+/z", 0)])
    pub = clients.connect(broker, "plus-pub")
    pub.publish("p/a/b/z", b"no", qos=1)
    pub.publish("p/a/z", b"yes", qos=1)
    msg = sub.receive()
    assert (msg.topic, msg.payload) == ("p/a/z", b"yes")
    sub.nothing(0.2)


def test_publish_with_wildcard_topic_not_delivered_to_literal_subscriber(broker, clients,
                                                                        canary):
    """3.3.2-2: a PUBLISH topic must not contain wildcards; the offender is disconnected and
    nothing reaches a subscriber to the literal filter."""
    sub = clients.connect(broker, "lit")
    sub.subscribe([("lit/+", 0), ("lit/#", 0)])
    bad = clients.connect(broker, "lit-bad")
    bad.send(m.publish("lit/+", b"x"))
    assert bad.wait_closed() == []
    sub.nothing(0.2)
    canary.check()
