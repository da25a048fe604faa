"""Client-side helpers shared by tests: tracked raw clients, a canary pub/sub pair, and an
EdDSA token issuer."""

import base64
import itertools
import json
import os
import subprocess
import tempfile

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


def b64url(data):
    """Unpadded base64url, as JWS uses it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Ed25519Issuer:
    """A token issuer with a fresh Ed25519 key made by openssl; signs compact JWS (EdDSA)."""

    def __init__(self, workdir, name="issuer"):
        self.key_path = os.path.join(workdir, name + ".pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", self.key_path],
                       check=True, capture_output=True, timeout=30)
        der = subprocess.run(["openssl", "pkey", "-in", self.key_path, "-pubout", "-outform",
                              "DER"], check=True, capture_output=True, timeout=30).stdout
        # SubjectPublicKeyInfo for Ed25519 ends with the raw 32-byte key
        self.public_key_b64 = base64.b64encode(der[-32:]).decode()

    def sign(self, claims, header=None):
        """The token for claims (a dict, or bytes used as the encoded claims verbatim)."""
        header = header or {"alg": "EdDSA", "typ": "JWT"}
        body = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
        signing_input = b64url(json.dumps(header).encode()) + "." + b64url(body)
        with tempfile.NamedTemporaryFile() as f:
            f.write(signing_input.encode())
            f.flush()
            sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey",
                                  self.key_path, "-in", f.name], check=True,
                                 capture_output=True, timeout=30).stdout
        assert len(sig) == 64, "an Ed25519 signature is 64 bytes, openssl gave %d" % len(sig)
        return signing_input + "." + b64url(sig)
