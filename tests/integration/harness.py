"""Client-side helpers shared by tests: tracked raw clients and a canary pub/sub pair."""

import itertools

import mqttraw


class Clients:
    """Opens raw clients and closes whatever a test left open."""

    def __init__(self):
        self.open = []
        self.ids = itertools.count()

    def raw(self, broker, port=None, **kw):
        """A raw client on broker's first listener (or the given port), not yet connected."""
        c = mqttraw.RawClient(port or broker.port, **kw)
        self.open.append(c)
        return c

    def connect(self, broker, client_id=None, expect_rc=0, port=None, **kw):
        """A raw client whose CONNECT got CONNACK with expect_rc."""
        c = self.raw(broker, port)
        if client_id is None:
            client_id = "c%d" % next(self.ids)
        ack = c.connect(client_id, **kw)
        assert ack.rc == expect_rc, "CONNACK rc %d, expected %d" % (ack.rc, expect_rc)
        c.client_id = client_id
        c.connack = ack
        return c

    def close_all(self):
        for c in self.open:
            c.close()


class Canary:
    """A subscriber and a publisher on their own connections: proves other traffic still flows."""

    def __init__(self, clients, broker, topic="canary/flow"):
        self.topic = topic
        self.sub = clients.connect(broker, "canary-sub")
        assert self.sub.subscribe([(topic, 1)]) == [1]
        self.pub = clients.connect(broker, "canary-pub")
        self.n = 0

    def check(self):
        self.n += 1
        payload = b"canary-%d" % self.n
        self.pub.publish(self.topic, payload, qos=1)
        msg = self.sub.receive()
        assert (msg.topic, msg.payload) == (self.topic, payload), "canary traffic disturbed"
