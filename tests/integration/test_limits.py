"""Resource limits: connections, CONNECT timeout, in-flight window, slow consumers."""

import os
import threading
import time

import pytest

import mqttraw as m
from broker import Broker, wait_until
from harness import Canary


def connect_retrying(clients, broker, client_id, timeout=3.0):
    """Connects, retrying while the broker may still count a just-closed connection."""
    def attempt():
        try:
            return clients.connect(broker, client_id)
        except (m.ConnectionClosed, OSError):
            return None
    c = wait_until(attempt, timeout, interval=0.05)
    assert c is not None, "could not connect %s" % client_id
    return c


def test_max_connections(make_broker, clients):
    """max_connections N: the N+1th connection is closed without CONNACK while the first N
    keep working; once one leaves, a new client gets its slot."""
    b = make_broker(limits={"max_connections": 3})
    first = [connect_retrying(clients, b, "slot%d" % i) for i in range(3)]

    extra = clients.raw(b)
    try:
        extra.send(m.connect("one-too-many"))
    except OSError:
        pass  # the broker may close it before reading anything
    assert extra.wait_closed() == []

    first[0].subscribe([("mc/t", 1)])
    first[1].publish("mc/t", b"still here", qos=1)
    assert first[0].receive().payload == b"still here"
    first[2].ping()

    first[2].disconnect()
    connect_retrying(clients, b, "slot-reused").ping()


@pytest.mark.bulwark_only
def test_connect_timeout(make_broker, clients):
    """connect_timeout_ms: a socket that sends no CONNECT (or only part of one) is closed after
    the timeout; a client that connected in time is not affected."""
    b = make_broker(limits={"connect_timeout_ms": 500})
    good = clients.connect(b, "in-time", keepalive=0)
    idle = clients.raw(b)
    partial = clients.raw(b)
    partial.send(m.connect("slow")[:5])
    start = time.monotonic()
    assert idle.wait_closed() == []
    assert partial.wait_closed() == []
    elapsed = time.monotonic() - start
    assert 0.4 <= elapsed <= 3.0, "closed after %.2fs" % elapsed
    assert good.is_open(0.3)
    good.ping()


# mosquitto 2.0.11 sends the first N, but lets N+1 be in flight once acks start coming.
@pytest.mark.bulwark_only
def test_max_inflight_window(make_broker, clients):
    """max_inflight N: a subscriber that does not acknowledge receives at most N QoS 1
    PUBLISHes; the rest follow, in order, as it acknowledges."""
    b = make_broker(limits={"max_inflight": 3})
    sub = clients.connect(b, "window")
    sub.subscribe([("win/t", 1)])
    pub = clients.connect(b, "window-pub")
    for i in range(10):
        pub.publish("win/t", b"%d" % i, qos=1)

    received = []
    while len(received) < 10:
        batch = [sub.receive(ack=False) for _ in range(min(3, 10 - len(received)))]
        sub.nothing(0.3)  # the window is full: nothing more until an ack
        received += batch
        for p in batch:
            sub.send(m.puback(p.pid))
    assert [p.payload for p in received] == [b"%d" % i for i in range(10)]
    sub.nothing(0.2)


def _drain_until(client, marker, result):
    """Reader thread: counts PUBLISHes until the marker payload, acking QoS 1."""
    count = 0
    try:
        while True:
            p = client.receive(timeout=30.0)
            if p.payload == marker:
                result["marker"] = True
                break
            count += 1
    except Exception as e:  # reported by the main thread
        result["error"] = repr(e)
    result["count"] = count


def test_slow_subscriber_is_bounded(make_broker, clients, broker_kind):
    """max_queued_bytes: a subscriber that never reads neither stalls the publisher nor other
    subscribers, and the worker's memory stays bounded (~48 MiB of QoS 0 are published,
    the worker's peak RSS grows by far less). The memory bound is bulwark's claim: mosquitto
    2.0.11 queues QoS 0 for a slow reader without limit."""
    env = {}
    if broker_kind == "bulwark":
        # ASan keeps freed memory in a 256 MiB quarantine by default, which would look like
        # unbounded growth; a small quarantine makes RSS track live memory.
        env["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                     "quarantine_size_mb=4"]))
    b = make_broker(limits={"max_queued_bytes": 1 << 20}, env=env)
    canary = Canary(clients, b)

    slow = clients.raw(b, rcvbuf=4096)
    assert slow.connect("slow").rc == 0
    assert slow.subscribe([("flood/t", 0)]) == [0]
    fast = clients.connect(b, "fast")
    assert fast.subscribe([("flood/t", 1)]) == [1]
    pub = clients.raw(b, timeout=20.0)
    assert pub.connect("flooder").rc == 0

    worker = b.worker_pid()
    base_rss = Broker.vm_kib(worker, "VmRSS")
    result = {}
    reader = threading.Thread(target=_drain_until, args=(fast, b"END", result), daemon=True)
    reader.start()

    chunk = m.publish("flood/t", b"f" * (64 * 1024))
    total = 48 << 20
    for i in range(total // len(chunk)):
        pub.send(chunk)  # a 20 s socket timeout: a stalled publisher fails here
        if i % 128 == 127:
            pub.ping(timeout=20.0)
            canary.check()
    pub.publish("flood/t", b"END", qos=1, timeout=20.0)
    reader.join(40.0)

    assert not reader.is_alive(), "fast subscriber never got the end marker"
    assert result.get("marker"), "fast subscriber failed: %s" % result.get("error")
    assert result["count"] > 0
    canary.check()
    if broker_kind != "bulwark":
        return
    peak = Broker.vm_kib(worker, "VmHWM")
    growth_mib = (peak - base_rss) / 1024
    assert growth_mib < 24, "worker peak RSS grew by %.1f MiB" % growth_mib
    assert b.worker_pid() == worker, "worker restarted"
