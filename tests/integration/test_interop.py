"""Interoperability with real clients: mosquitto_pub/mosquitto_sub and paho-mqtt."""

import queue
import re
import signal
import subprocess
import threading
import time

import paho.mqtt.client as paho
import pytest

TIMEOUT = 10.0


class MosquittoSub:
    """mosquitto_sub in debug mode, its stdout lines collected by a thread."""

    def __init__(self, broker, *args):
        # stdbuf: line-buffered stdout, so debug lines arrive while it runs, not at exit
        argv = ["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port),
                "-d", "-v"]
        self.proc = subprocess.Popen(argv + list(args), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern, timeout=TIMEOUT):
        """The first new output line matching the regex; fails with the output so far."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError("mosquitto_sub never printed /%s/; output:\n%s"
                                     % (pattern, "\n".join(self.seen)))
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def mosquitto_sub():
    subs = []

    def start(broker, *args):
        s = MosquittoSub(broker, *args)
        subs.append(s)
        return s

    yield start
    for s in subs:
        s.stop()


def mosquitto_pub(broker, *args):
    argv = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port)] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_pub_to_mosquitto_sub(broker, mosquitto_sub, qos):
    """mosquitto_pub -q N reaches mosquitto_sub -q N through the broker at QoS N."""
    sub = mosquitto_sub(broker, "-t", "interop/q", "-q", str(qos), "-C", "1")
    sub.wait_for(r"received SUBACK")
    res = mosquitto_pub(broker, "-t", "interop/q", "-q", str(qos), "-m", "hello-%d" % qos)
    assert res.returncode == 0, res.stderr
    head = sub.wait_for(r"received PUBLISH \(d(\d), q(\d), r(\d)")
    assert head.groups() == ("0", str(qos), "0")
    sub.wait_for(r"^interop/q hello-%d$" % qos)
    assert sub.proc.wait(TIMEOUT) == 0


def test_mosquitto_retained(broker, mosquitto_sub):
    """mosquitto_pub -r stores a retained message that a later mosquitto_sub gets with r1."""
    res = mosquitto_pub(broker, "-t", "interop/r", "-q", "1", "-r", "-m", "kept")
    assert res.returncode == 0, res.stderr
    sub = mosquitto_sub(broker, "-t", "interop/#", "-q", "1", "-C", "1")
    head = sub.wait_for(r"received PUBLISH \(d\d, q(\d), r(\d)")
    assert head.groups() == ("1", "1")
    sub.wait_for(r"^interop/r kept$")


def test_mosquitto_clients_with_password(make_broker, mosquitto_sub, bad_credentials_rc):
    """-u/-P: the right password lets mosquitto_pub and mosquitto_sub in; a wrong one makes
    mosquitto_pub fail with the broker's CONNACK code."""
    b = make_broker(allow_anonymous=False, users={"alice": "secret"})
    sub = mosquitto_sub(b, "-u", "alice", "-P", "secret", "-t", "auth/t", "-q", "1", "-C", "1")
    sub.wait_for(r"received SUBACK")
    ok = mosquitto_pub(b, "-u", "alice", "-P", "secret", "-t", "auth/t", "-q", "1", "-m", "in")
    assert ok.returncode == 0, ok.stderr
    sub.wait_for(r"^auth/t in$")
    bad = mosquitto_pub(b, "-u", "alice", "-P", "nope", "-t", "auth/t", "-m", "x")
    assert bad.returncode == bad_credentials_rc, bad.stderr
    anon = mosquitto_pub(b, "-t", "auth/t", "-m", "x")
    assert anon.returncode == 5, anon.stderr


def test_mosquitto_sub_will(broker, mosquitto_sub):
    """A will set with mosquitto_sub --will-topic is published when that client is killed."""
    watcher = mosquitto_sub(broker, "-t", "interop/will", "-q", "1", "-C", "1")
    watcher.wait_for(r"received SUBACK")
    doomed = mosquitto_sub(broker, "-t", "interop/none", "--will-topic", "interop/will",
                           "--will-payload", "bye", "--will-qos", "1")
    doomed.wait_for(r"received SUBACK")
    doomed.proc.send_signal(signal.SIGKILL)
    head = watcher.wait_for(r"received PUBLISH \(d\d, q(\d), r(\d)")
    assert head.groups() == ("1", "0")
    watcher.wait_for(r"^interop/will bye$")


class PahoClient:
    """A paho client on its own network thread; received messages land in a queue."""

    def __init__(self, broker, client_id, protocol):
        self.messages = queue.Queue()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.client = paho.Client(client_id=client_id, protocol=protocol)
        self.client.on_connect = lambda c, u, f, rc: rc == 0 and self.connected.set()
        self.client.on_subscribe = lambda c, u, mid, granted: self.subscribed.set()
        self.client.on_message = lambda c, u, msg: self.messages.put(msg)
        self.client.connect("127.0.0.1", broker.port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(TIMEOUT), "%s did not connect" % client_id

    def subscribe(self, topic, qos):
        self.subscribed.clear()
        self.client.subscribe(topic, qos)
        assert self.subscribed.wait(TIMEOUT)

    def publish(self, topic, payload, qos):
        info = self.client.publish(topic, payload, qos)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published()

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def test_paho_v311_and_v31_exchange(broker):
    """paho clients speaking MQTT 3.1.1 and MQTT 3.1 (MQIsdp) publish to each other at QoS 1
    and 2."""
    new = PahoClient(broker, "paho-v311", paho.MQTTv311)
    old = PahoClient(broker, "paho-v31", paho.MQTTv31)
    try:
        new.subscribe("paho/to311", 2)
        old.subscribe("paho/to31", 2)
        new.publish("paho/to31", b"from 3.1.1", 2)
        old.publish("paho/to311", b"from 3.1", 1)
        got_old = old.messages.get(timeout=TIMEOUT)
        got_new = new.messages.get(timeout=TIMEOUT)
        assert (got_old.topic, got_old.payload, got_old.qos) == ("paho/to31", b"from 3.1.1", 2)
        assert (got_new.topic, got_new.payload, got_new.qos) == ("paho/to311", b"from 3.1", 1)
    finally:
        new.stop()
        old.stop()
