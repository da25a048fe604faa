"""The access policy (docs/POLICY.md) enforced end to end by a real bulwarkd: ACL decisions,
payload rules, client-id bindings, per-identity limits and reloads.

Every test starts its own broker with a policy file next to its config, logs in with users
from that policy (argon2id hashes from `bulwark passwd`) and observes only what MQTT clients
see: CONNACK codes, SUBACK codes, acknowledgements and deliveries.

"Not delivered" is checked with a fence: after the refused publish, the same connection
publishes an allowed message that the watching subscriber also gets. A publisher's packets
are decided and routed in order, so if the refused message had been delivered it would arrive
before the fence; the watcher's next message being the fence proves it was not.
"""

import itertools
import time

import pytest

import mqttraw
from broker import bulwark_hash, wait_until

pytestmark = pytest.mark.bulwark_only

PASSWORDS = {
    "alice": "alice-Pw-4417",
    "bob": "bob-Pw-9021",
    "carol": "carol-Pw-3310",
    "watcher": "watcher-Pw-7755",
    "capped": "capped-Pw-1208",
    "ev/+": "ev-Pw-6634",
    "dana": "dana-Pw-5150",
    "lim": "lim-Pw-2781",
    "subs": "subs-Pw-8843",
    "fast": "fast-Pw-3129",
}


def user_entry(name, extra=""):
    """One `users:` entry (YAML lines) with the user's argon2id hash."""
    text = '  - name: "%s"\n    password: "%s"\n' % (name, bulwark_hash(PASSWORDS[name]))
    return text + extra


def login(clients, b, user, client_id=None, expect_rc=0, **kw):
    """A connected raw client of user (password from PASSWORDS)."""
    return clients.connect(b, client_id or user.replace("/", "_") + "-c", expect_rc=expect_rc,
                           username=user, password=PASSWORDS[user], **kw)


def connack(b, user, client_id, password=None):
    """CONNACK return code for one login attempt."""
    with mqttraw.RawClient(b.port) as c:
        return c.connect(client_id, username=user,
                         password=PASSWORDS[user] if password is None else password).rc


def publish_to_self(c, topic, payload):
    """QoS 1 publish by a client subscribed to topic: its PUBACK and its own copy may come in
    either order. Returns the copy (acknowledged)."""
    pid = c.next_pid()
    c.send(mqttraw.publish(topic, payload, qos=1, pid=pid))
    got = {}
    for _ in range(2):
        pkt = c.recv()
        assert pkt.type not in got, "two %s packets" % mqttraw.NAMES[pkt.type]
        got[pkt.type] = pkt
    assert got[mqttraw.PUBACK].pid == pid
    c.ack(got[mqttraw.PUBLISH])
    return got[mqttraw.PUBLISH]


class Watcher:
    """A subscriber to everything ("#" and "$SYS/#") that checks what reaches it."""

    def __init__(self, clients, b):
        self.c = login(clients, b, "watcher")
        assert self.c.subscribe([("#", 2), ("$SYS/#", 2)]) == [2, 2]
        self.n = itertools.count()

    def expect(self, topic, payload):
        msg = self.c.receive(ack=False)
        assert (msg.topic, msg.payload) == (topic, payload), "watcher got %r" % msg
        self.c.ack(msg)
        return msg

    def fence(self, pub, qos=1):
        """pub publishes an allowed message; it must be the watcher's next one."""
        payload = b"fence-%d" % next(self.n)
        pub.publish("fence/x", payload, qos=qos)
        self.expect("fence/x", payload)


ACL_POLICY = """version: 1
users:
{users}
rules:
  - id: alice-no-secret
    deny: both
    topics: "data/secret/#"
    identities: [alice]
  - id: alice-data
    allow: both
    topics: "data/#"
    identities: [alice]
  - id: bob-read
    allow: subscribe
    topics: ["data/+/temp", "data/public/#"]
    identities: [bob]
  - id: own-client
    allow: both
    topics: "clients/%c/#"
    everyone: true
  - id: own-user
    allow: both
    topics: "users/%u/#"
    everyone: true
  - id: own-root
    allow: both
    topics: "%c/#"
    everyone: true
  - id: fences
    allow: publish
    topics: "fence/#"
    everyone: true
  - id: watch
    allow: subscribe
    topics: ["#", "$SYS/#"]
    identities: [watcher]
  - id: sys-granted
    allow: both
    topics: "$SYS/#"
    identities: [alice]
  - id: qos-one
    allow: both
    topics: "q1/#"
    identities: [alice, capped]
    qos: 1
  - id: no-retain
    allow: both
    topics: "nr/#"
    identities: [alice]
    retain: false
  - id: payloads-open
    allow: publish
    topics: "pl/#"
    identities: [alice]
  - id: rule-payload
    allow: publish
    topics: "rp/#"
    identities: [alice]
    payload: {{max_size: 12, format: json}}
payloads:
  - id: small
    topics: "pl/small/#"
    max_size: 16
  - id: text
    topics: "pl/text/#"
    format: utf8
  - id: json
    topics: "pl/json/#"
    format: json
"""


@pytest.fixture
def acl_broker(make_broker):
    users = "".join(user_entry(u) for u in ("alice", "bob", "watcher", "ev/+"))
    users += user_entry("capped", "    limits: {max_qos: 0}\n")
    return make_broker(allow_anonymous=False, policy=ACL_POLICY.format(users=users.rstrip("\n")))


# ------------------------------------------------------------------ publish and subscribe


def test_allowed_publish_delivered_denied_publish_acked_not_delivered(acl_broker, clients):
    """A publish a rule allows is delivered; a publish no rule allows is still acknowledged
    at QoS 1 (PUBACK) and QoS 2 (PUBREC/PUBCOMP), since 3.1.1 has no negative ack, but is not
    delivered, and the publisher stays connected."""
    w = Watcher(clients, acl_broker)
    alice = login(clients, acl_broker, "alice")
    bob = login(clients, acl_broker, "bob")
    alice.publish("data/room1/temp", b"21.5", qos=1)
    w.expect("data/room1/temp", b"21.5")
    for qos in (0, 1, 2):
        bob.publish("data/room1/temp", b"forged-%d" % qos, qos=qos)  # bob may only read data/
        w.fence(bob)
    alice.publish("data/room1/temp", b"22.0", qos=2)
    w.expect("data/room1/temp", b"22.0")


def test_denied_filter_gets_suback_0x80_and_nothing_delivered(acl_broker, clients):
    """In one SUBSCRIBE, a filter no rule allows gets 0x80 while the allowed one is granted,
    and messages on the refused filter never reach the client."""
    bob = login(clients, acl_broker, "bob")
    alice = login(clients, acl_broker, "alice")
    assert bob.subscribe([("data/public/news", 1), ("private/#", 1), ("data/x/humidity", 0)]) \
        == [1, 0x80, 0x80]
    alice.publish("data/x/humidity", b"55", qos=1)
    alice.publish("data/public/news", b"hello", qos=1)
    msg = bob.receive()
    assert (msg.topic, msg.payload) == ("data/public/news", b"hello")
    bob.nothing(0.3)


def test_filter_within_filter(acl_broker, clients):
    """A subscription is granted only when one allow pattern covers every topic the filter can
    match (bob may read data/+/temp and data/public/#): narrower filters and equal ones are
    granted, wider or crossing ones refused; a granted wildcard filter receives."""
    bob = login(clients, acl_broker, "bob")
    granted = ["data/room1/temp", "data/+/temp", "data/public", "data/public/#",
               "data/public/a/+", "data/public/a/b/c"]
    refused = ["data/#", "data/+/+", "+/+/temp", "data/+/#", "#", "data/room1/#", "+/public/#",
               "data/room1/temp/#"]
    codes = bob.subscribe([(f, 1) for f in granted + refused])
    assert codes == [1] * len(granted) + [0x80] * len(refused), list(zip(granted + refused,
                                                                            codes))
    alice = login(clients, acl_broker, "alice")
    alice.publish("data/cellar/temp", b"12", qos=1)
    msg = bob.receive()
    assert (msg.topic, msg.payload) == ("data/cellar/temp", b"12")


def test_client_id_substitution(acl_broker, clients):
    """%c grants a client its own level only: publish and subscribe below clients/<own id> work,
    another client's level is refused."""
    w = Watcher(clients, acl_broker)
    a = login(clients, acl_broker, "alice", client_id="dev-a1")
    assert a.subscribe([("clients/dev-a1/#", 1), ("clients/dev-a2/#", 1), ("clients/+/x", 1)]) \
        == [1, 0x80, 0x80]
    assert publish_to_self(a, "clients/dev-a1/state", b"mine").payload == b"mine"
    w.expect("clients/dev-a1/state", b"mine")
    a.publish("clients/dev-a2/state", b"theirs", qos=1)
    w.fence(a)


@pytest.mark.parametrize("client_id", ["a/+", "#", "a/b", "+"])
def test_client_id_injection_grants_nothing(acl_broker, clients, client_id):
    """A client id holding '/', '+' or '#' is never spliced into a pattern: clients/%c/# then
    matches nothing, so neither the wildcard it would form nor any concrete topic it would
    cover is granted."""
    w = Watcher(clients, acl_broker)
    c = login(clients, acl_broker, "bob", client_id=client_id)
    # what pasting the id into clients/%c/# and %c/# would give, where that is a valid filter
    spliced = ["clients/%s/#" % client_id, client_id + "/#"] if client_id != "#" \
        else ["clients/#", "#"]
    filters = spliced + ["clients/#", "clients/a/#", "clients/+/#", "clients/a/b/c", "a/#",
                         "+/#", "a/b/c"]
    assert c.subscribe([(f, 0) for f in filters]) == [0x80] * len(filters)
    for topic in ("clients/a/b/c", "clients/a/x", "clients/x", "a/b/c", "a/x"):
        c.publish(topic, b"injected", qos=1)
        w.fence(c)


def test_client_id_dollar_cannot_reach_sys(acl_broker, clients):
    """A client id "$SYS" does not turn %c/# into $SYS/#: its subscriptions there are refused,
    while an ordinary client id gets its own tree from the same rule."""
    c = login(clients, acl_broker, "bob", client_id="$SYS")
    assert c.subscribe([("$SYS/#", 0), ("$SYS/broker/load", 0), ("$SYS", 0)]) == [0x80] * 3
    ok = login(clients, acl_broker, "bob", client_id="bob-root")
    assert ok.subscribe([("bob-root/#", 0)]) == [0]


def test_username_substitution_and_injection(acl_broker, clients):
    """%u grants a user its own level; a user name holding '/' and '+' ("ev/+") gets nothing
    from users/%u/#, not even users/ev/+/#."""
    alice = login(clients, acl_broker, "alice")
    assert alice.subscribe([("users/alice/#", 1), ("users/bob/#", 1)]) == [1, 0x80]
    ev = login(clients, acl_broker, "ev/+")
    assert ev.subscribe([("users/ev/+/#", 1), ("users/ev/#", 1), ("users/#", 1)]) \
        == [0x80] * 3
    w = Watcher(clients, acl_broker)
    ev.publish("users/ev/x/y", b"injected", qos=1)
    w.fence(ev)


def test_deny_beats_allow(acl_broker, clients):
    """alice may use data/# but a deny rule covers data/secret/#: publishing there is dropped,
    subscribing there is refused, and so is any filter overlapping it (data/#, data/+/x)."""
    w = Watcher(clients, acl_broker)
    alice = login(clients, acl_broker, "alice")
    assert alice.subscribe([("data/secret/key", 1), ("data/#", 1), ("data/+/key", 1),
                            ("data/open/#", 1)]) == [0x80, 0x80, 0x80, 1]
    alice.publish("data/secret/key", b"leak", qos=1)
    w.fence(alice)
    assert publish_to_self(alice, "data/open/x", b"fine").payload == b"fine"
    w.expect("data/open/x", b"fine")


def test_sys_publish_refused_even_when_granted(acl_broker, clients):
    """A rule may grant "$SYS/#" (alice can subscribe to it), but a client publish to $SYS is
    never delivered: acknowledged and dropped."""
    w = Watcher(clients, acl_broker)
    alice = login(clients, acl_broker, "alice")
    assert alice.subscribe([("$SYS/#", 1)]) == [1]
    for qos in (0, 1, 2):
        alice.publish("$SYS/broker/uptime", b"forged", qos=qos)
    w.fence(alice)
    alice.nothing(0.2)


def test_max_qos_of_a_rule(acl_broker, clients):
    """A rule with qos 1: a publish at QoS 2 is acknowledged (PUBREC/PUBCOMP) but refused, QoS 1
    is delivered; a SUBSCRIBE at QoS 2 is granted at QoS 1 and receives at QoS 1."""
    w = Watcher(clients, acl_broker)
    alice = login(clients, acl_broker, "alice")
    assert alice.subscribe([("q1/#", 2)]) == [1]
    alice.publish("q1/x", b"too high", qos=2)
    w.fence(alice)
    msg = publish_to_self(alice, "q1/x", b"ok")
    assert (msg.payload, msg.qos) == (b"ok", 1)
    w.expect("q1/x", b"ok")


def test_max_qos_of_identity_limits(acl_broker, clients):
    """An identity with limits max_qos 0: subscribing at QoS 2 is granted at 0; a QoS 1 publish
    is refused (still PUBACKed), a QoS 0 one delivered."""
    w = Watcher(clients, acl_broker)
    capped = login(clients, acl_broker, "capped")
    assert capped.subscribe([("q1/#", 2)]) == [0]
    capped.publish("q1/y", b"qos1", qos=1)
    w.fence(capped, qos=0)
    capped.publish("q1/y", b"qos0", qos=0)
    msg = capped.receive()
    assert (msg.payload, msg.qos) == (b"qos0", 0)
    w.expect("q1/y", b"qos0")


def test_retain_not_allowed(acl_broker, clients):
    """With retain: false, a retained publish is refused as a whole: not delivered and not
    stored for later subscribers; the same publish without retain is delivered. Where retain is
    allowed the retained message is stored (control)."""
    w = Watcher(clients, acl_broker)
    alice = login(clients, acl_broker, "alice")
    alice.publish("nr/state", b"retained", qos=1, retain=True)
    w.fence(alice)
    alice.publish("data/r/state", b"kept", qos=1, retain=True)
    w.expect("data/r/state", b"kept")
    alice.publish("nr/state", b"live", qos=1)
    w.expect("nr/state", b"live")
    late = login(clients, acl_broker, "alice", client_id="alice-late")
    assert late.subscribe([("nr/#", 1), ("data/r/#", 1)]) == [1, 1]
    msg = late.receive()
    assert (msg.topic, msg.payload, msg.retain) == ("data/r/state", b"kept", True)
    late.nothing(0.3)


def test_payload_max_size(acl_broker, clients):
    """payloads max_size 16: 16 bytes are delivered, 17 are not (QoS 1 still acknowledged)."""
    w = Watcher(clients, acl_broker)
    alice = login(clients, acl_broker, "alice")
    alice.publish("pl/small/a", b"x" * 17, qos=1)
    w.fence(alice)
    alice.publish("pl/small/a", b"y" * 16, qos=1)
    w.expect("pl/small/a", b"y" * 16)
    alice.publish("pl/other", b"z" * 1000, qos=1)  # no payload rule there
    w.expect("pl/other", b"z" * 1000)


def test_payload_utf8(acl_broker, clients):
    """format utf8: invalid UTF-8 (a stray continuation byte, an overlong form, a surrogate) is
    not delivered; valid UTF-8 including multi-byte characters is."""
    w = Watcher(clients, acl_broker)
    alice = login(clients, acl_broker, "alice")
    for bad in (b"caf\xe9", b"\x80abc", b"\xc0\xaf", b"\xed\xa0\x80"):
        alice.publish("pl/text/t", bad, qos=1)
        w.fence(alice)
    good = "caf\u00e9 \u2603 \U0001F600".encode()
    alice.publish("pl/text/t", good, qos=1)
    w.expect("pl/text/t", good)


def test_payload_json(acl_broker, clients):
    """format json (a payloads entry, and a rule's own payload with max_size 12): invalid JSON
    is not delivered, valid JSON is; the rule's size bound holds for valid JSON too."""
    w = Watcher(clients, acl_broker)
    alice = login(clients, acl_broker, "alice")
    for bad in (b"{a:1}", b'{"a":1', b"", b"not json", b'{"a":1}}'):
        alice.publish("pl/json/j", bad, qos=1)
        w.fence(alice)
    alice.publish("pl/json/j", b'{"a": [1, 2.5, "x", null, true]}', qos=1)
    w.expect("pl/json/j", b'{"a": [1, 2.5, "x", null, true]}')
    alice.publish("rp/j", b"{oops}", qos=1)
    w.fence(alice)
    alice.publish("rp/j", b'{"long": 12345}', qos=1)  # valid JSON, 15 bytes > 12
    w.fence(alice)
    alice.publish("rp/j", b'{"a":1}', qos=1)
    w.expect("rp/j", b'{"a":1}')


@pytest.mark.parametrize("will", [("nr/w", b"retained will", 1, True),
                                  ("q1/w", b"qos 2 will", 2, False),
                                  ("pl/json/w", b"{not json", 0, False),
                                  ("pl/small/w", b"x" * 17, 0, False)],
                         ids=["retain-not-allowed", "qos-above-max", "not-json", "too-large"])
def test_will_obeys_the_publish_rules(acl_broker, clients, will):
    """A will is a publish by its client: one that the same PUBLISH would be refused for
    (retain not allowed, QoS above the rule's maximum, payload not JSON, payload over
    max_size) is either refused at CONNECT (CONNACK 5) or never published nor stored as a
    retained message. The will is triggered by a takeover, which publishes it before the new
    connection's CONNACK, so the fence that follows is ordered after it."""
    topic = will[0]
    w = Watcher(clients, acl_broker)
    first = clients.raw(acl_broker)
    rc = first.connect("alice-will", username="alice", password=PASSWORDS["alice"], will=will).rc
    assert rc in (0, 5), rc
    again = login(clients, acl_broker, "alice", client_id="alice-will")
    if rc == 0:
        assert first.wait_closed() == []
    w.fence(again)
    again.publish("data/r2/x", b"kept", qos=1, retain=True)
    w.expect("data/r2/x", b"kept")
    late = login(clients, acl_broker, "watcher", client_id="watcher-late")
    assert late.subscribe([(topic, 1), ("data/r2/#", 1)]) == [1, 1]
    msg = late.receive()  # a retained will would come first
    assert (msg.topic, msg.payload) == ("data/r2/x", b"kept"), msg


def test_taking_over_another_identitys_session_grants_nothing(acl_broker, clients):
    """Subscriptions are granted to an identity: bob resuming (clean session 0) a persistent
    session that alice created under the same client id must not receive what alice's
    subscriptions cover and bob may not read, neither the messages queued for it nor new
    ones."""
    alice = login(clients, acl_broker, "alice", client_id="shared-id", clean=False)
    assert alice.subscribe([("data/open/#", 1)]) == [1]
    alice.disconnect()
    pub = login(clients, acl_broker, "alice", client_id="alice-pub")
    pub.publish("data/open/queued", b"for alice", qos=1)
    bob = login(clients, acl_broker, "bob", client_id="shared-id", clean=False)
    seen = []
    bob.send(mqttraw.subscribe(bob.next_pid(), [("data/public/#", 1)]))
    while True:
        pkt = bob.recv()
        if pkt.type == mqttraw.SUBACK:
            assert pkt.codes == [1]
            break
        assert pkt.type == mqttraw.PUBLISH, pkt
        bob.ack(pkt)
        seen.append(pkt)
    pub.publish("data/open/live", b"for alice", qos=1)
    pub.publish("data/public/fence", b"fence", qos=1)
    while True:
        pkt = bob.receive()
        if pkt.topic == "data/public/fence":
            break
        seen.append(pkt)
    assert [(p.topic, p.payload) for p in seen] == [], "bob got alice's messages"


# ------------------------------------------------------------------ identities and limits


def test_client_id_binding(make_broker):
    """A user bound to a client-id pattern connects only with a matching client id; any other
    id gets CONNACK 5 (not authorized) even with the right password. %u binds to the user."""
    users = user_entry("bob", '    client_id: "dashboard-*"\n')
    users += user_entry("dana", '    client_id: "dev-%u"\n')
    users += user_entry("alice")
    pol = "version: 1\nusers:\n" + users + 'rules: []\n'
    b = make_broker(allow_anonymous=False, policy=pol)
    assert connack(b, "bob", "dashboard-7") == 0
    assert connack(b, "bob", "dashboard-") == 0
    for cid in ("other", "xdashboard-1", "dashboard", "Dashboard-1"):
        assert connack(b, "bob", cid) == 5, cid
    assert connack(b, "dana", "dev-dana") == 0
    assert connack(b, "dana", "dev-alice") == 5
    assert connack(b, "dana", "dev-dana2") == 5
    assert connack(b, "alice", "anything-at-all") == 0  # no binding


def test_max_connections_and_takeover(make_broker, clients):
    """max_connections 2: the third concurrent connection of the identity gets CONNACK 5, a
    reconnect with a client id already connected is a takeover and is accepted (the older
    connection closed), and once a connection ends a new client id fits again. Other
    identities are not affected."""
    users = user_entry("lim", "    limits: {max_connections: 2}\n") + user_entry("alice")
    b = make_broker(allow_anonymous=False, policy="version: 1\nusers:\n" + users + "rules: []\n")
    c1 = login(clients, b, "lim", client_id="lim-1")
    c2 = login(clients, b, "lim", client_id="lim-2")
    assert connack(b, "lim", "lim-3") == 5
    c1b = login(clients, b, "lim", client_id="lim-1")  # takeover of lim-1
    assert c1.wait_closed(timeout=3.0) == []
    assert c2.is_open(0.1)
    assert connack(b, "lim", "lim-3") == 5  # still two: the takeover took its own place
    login(clients, b, "alice", client_id="alice-1")
    c2.disconnect()
    assert wait_until(lambda: connack(b, "lim", "lim-3") == 0, 5.0), \
        "a freed connection slot was never given back"
    c1b.ping()


def test_max_subscriptions(make_broker, clients):
    """max_subscriptions 2: the filter beyond the limit gets 0x80 (and receives nothing);
    re-subscribing to a filter already held is fine; after an UNSUBSCRIBE a new one fits."""
    users = user_entry("subs", "    limits: {max_subscriptions: 2}\n") + user_entry("alice")
    pol = ("version: 1\nusers:\n" + users + "rules:\n"
           '  - {allow: subscribe, topics: "s/#", identities: [subs]}\n'
           '  - {allow: publish, topics: "s/#", identities: [alice]}\n')
    b = make_broker(allow_anonymous=False, policy=pol)
    s = login(clients, b, "subs")
    assert s.subscribe([("s/1", 1), ("s/2", 1), ("s/3", 1)]) == [1, 1, 0x80]
    assert s.subscribe([("s/1", 0)]) == [0]
    assert s.subscribe([("s/4", 1)]) == [0x80]
    alice = login(clients, b, "alice")
    alice.publish("s/3", b"three", qos=1)
    alice.publish("s/1", b"one", qos=1)
    msg = s.receive()
    assert (msg.topic, msg.payload) == ("s/1", b"one")
    s.unsubscribe(["s/2"])
    assert s.subscribe([("s/4", 1)]) == [1]


def test_message_rate_is_enforced_by_back_pressure(make_broker, clients):
    """messages_per_second 20 with burst 20: 80 QoS 1 messages sent at once all arrive, in
    order, none lost; acknowledging them takes at least ~(80-20)/20 = 3 s. This is a rate
    check with a loose bound (2.5 s), not a performance assertion."""
    users = user_entry("fast", "    limits: {messages_per_second: 20, burst: 20}\n")
    users += user_entry("watcher")
    pol = ("version: 1\nusers:\n" + users + "rules:\n"
           '  - {allow: publish, topics: "rate/#", identities: [fast]}\n'
           '  - {allow: subscribe, topics: "rate/#", identities: [watcher]}\n')
    b = make_broker(allow_anonymous=False, policy=pol)
    sub = login(clients, b, "watcher")
    assert sub.subscribe([("rate/#", 1)]) == [1]
    pub = login(clients, b, "fast")
    n = 80
    start = time.monotonic()
    pub.send(b"".join(mqttraw.publish("rate/t", b"m%d" % i, qos=1, pid=i + 1)
                      for i in range(n)))
    acked = []
    while len(acked) < n:
        acked.append(pub.expect(mqttraw.PUBACK, timeout=10.0).pid)
    elapsed = time.monotonic() - start
    assert acked == list(range(1, n + 1))
    got = [sub.receive(timeout=5.0).payload for _ in range(n)]
    assert got == [b"m%d" % i for i in range(n)]
    assert elapsed >= 2.5, "80 messages at 20/s (burst 20) acknowledged in %.2f s" % elapsed


# ------------------------------------------------------------------ reload (SIGHUP)

RELOAD_V1 = """version: 1
users:
{users}
rules:
  - id: alice-writes
    allow: publish
    topics: ["news/#", "other/#"]
    identities: [alice]
  - id: bob-news
    allow: subscribe
    topics: "news/#"
    identities: [bob]
  - id: bob-other
    allow: subscribe
    topics: "other/#"
    identities: [bob]
  - id: carol-own
    allow: both
    topics: "c/#"
    identities: [{carol}]
"""


def reload_policy(users, bob_news=True, carol=True, news_qos=None):
    """The reload tests' policy; version 2 drops bob's news/# and/or user carol, or lowers the
    QoS of bob's news/#."""
    text = RELOAD_V1.format(
        users="".join(user_entry(u) for u in users + (["carol"] if carol else [])).rstrip("\n"),
        carol="carol" if carol else "alice")
    if news_qos is not None:
        text = text.replace('    topics: "news/#"\n    identities: [bob]\n',
                            '    topics: "news/#"\n    identities: [bob]\n    qos: %d\n'
                            % news_qos)
    if not bob_news:
        text = text.replace('  - id: bob-news\n    allow: subscribe\n    topics: "news/#"\n'
                            '    identities: [bob]\n', "")
    return text


@pytest.fixture
def reload_broker(make_broker):
    return make_broker(allow_anonymous=False, policy=reload_policy(["alice", "bob"]))


def delivered(pub, sub, topic, payload):
    """Publishes payload on topic then a fence on other/fence; True if sub got the payload."""
    pub.publish(topic, payload, qos=1)
    pub.publish("other/fence", payload, qos=1)
    first = sub.receive()
    if first.topic == "other/fence":
        return False
    assert (first.topic, first.payload) == (topic, payload)
    assert sub.receive().topic == "other/fence"
    return True


def test_reload_removes_a_subscription_no_longer_allowed(reload_broker, clients):
    """After SIGHUP with a policy that no longer lets bob read news/#, his existing news/#
    subscription stops receiving within about 2 s, while his connection and his other, still
    allowed subscription keep working; subscribing to news/# again is refused."""
    b = reload_broker
    bob = login(clients, b, "bob")
    assert bob.subscribe([("news/#", 1), ("other/#", 1)]) == [1, 1]
    alice = login(clients, b, "alice")
    assert delivered(alice, bob, "news/a", b"before")
    b.set_policy(reload_policy(["alice", "bob"], bob_news=False))
    sent = time.monotonic()
    counter = itertools.count()
    assert wait_until(lambda: not delivered(alice, bob, "news/a", b"p%d" % next(counter)), 2.5,
                      interval=0.1), "news/# still delivered 2.5 s after the reload"
    stopped_after = time.monotonic() - sent
    assert stopped_after < 2.5
    assert not delivered(alice, bob, "news/b", b"after")
    assert bob.subscribe([("news/#", 1)]) == [0x80]
    assert bob.subscribe([("other/#", 1)]) == [1]


def test_reload_downgrades_a_subscription_whose_qos_dropped(reload_broker, clients):
    """After SIGHUP with a policy that caps bob's news/# at QoS 0, his QoS 1 subscription is
    kept but downgraded: within about 2 s messages arrive at QoS 0, and subscribing again
    is granted QoS 0."""
    b = reload_broker
    bob = login(clients, b, "bob")
    assert bob.subscribe([("news/#", 1), ("other/#", 1)]) == [1, 1]
    alice = login(clients, b, "alice")
    alice.publish("news/q", b"before", qos=1)
    assert bob.receive().qos == 1
    b.set_policy(reload_policy(["alice", "bob"], news_qos=0))

    def qos_now():
        alice.publish("news/q", b"probe", qos=1)
        msg = bob.receive()
        assert (msg.topic, msg.payload) == ("news/q", b"probe")
        return msg.qos == 0
    assert wait_until(qos_now, 2.5, interval=0.1), "still delivered at QoS 1 after 2.5 s"
    assert bob.subscribe([("news/#", 1)]) == [0]


def test_reload_disconnects_an_identity_removed_from_the_policy(reload_broker, clients):
    """After SIGHUP with a policy without user carol, carol's live connection is closed and she
    can no longer log in (CONNACK 4); other identities stay connected and keep their rights."""
    b = reload_broker
    carol = login(clients, b, "carol")
    assert carol.subscribe([("c/#", 1)]) == [1]
    bob = login(clients, b, "bob")
    assert bob.subscribe([("news/#", 1), ("other/#", 1)]) == [1, 1]
    b.set_policy(reload_policy(["alice", "bob"], carol=False))
    assert carol.wait_closed(timeout=3.0) == []
    assert connack(b, "carol", "carol-2") == 4
    alice = login(clients, b, "alice")
    assert delivered(alice, bob, "news/x", b"still")


def test_reload_with_an_invalid_policy_keeps_the_old_one(reload_broker, clients):
    """SIGHUP with an invalid policy file (an unknown key) changes nothing: connected clients
    keep their subscriptions and connections, removed-in-the-bad-file users still log in, and
    the broker log names the error as FILE:LINE:COLUMN."""
    b = reload_broker
    carol = login(clients, b, "carol")
    bob = login(clients, b, "bob")
    assert bob.subscribe([("news/#", 1), ("other/#", 1)]) == [1, 1]
    # The bad file would also drop bob's news/# and carol, were it (partly) applied.
    bad = reload_policy(["alice", "bob"], bob_news=False, carol=False).splitlines()
    at = next(i for i, l in enumerate(bad) if l.strip() == "allow: subscribe") + 1
    bad.insert(at, "    qos_max: 1")
    where = "%s:%d:5:" % (b.policy_path, at + 1)
    b.set_policy("\n".join(bad) + "\n")
    assert wait_until(lambda: any(where in l for l in b.log_lines()), 5.0), \
        "no log line names %s" % where
    line = next(l for l in b.log_lines() if where in l)
    assert "qos_max" in line
    alice = login(clients, b, "alice")
    assert delivered(alice, bob, "news/x", b"kept")
    assert bob.subscribe([("news/+", 1)]) == [1]
    assert carol.is_open(0.5)
    carol.ping()
    assert connack(b, "carol", "carol-2") == 0
