"""Hostile volume against the sandboxed worker: 10,000 malformed packets from one client,
1,000 connections that never send CONNECT, and oversize packets. Each is refused alone:
the canary pair keeps flowing throughout, and the worker is neither killed nor restarted
(no sandbox violation, no crash)."""

import resource
import selectors
import socket
import struct

import pytest

import mqttraw as m
from harness import Canary, Clients

pytestmark = pytest.mark.bulwark_only

MALFORMED = [
    b"\x00\x00",                                 # reserved packet type 0
    b"\xf0\x00",                                 # reserved packet type 15
    b"\x30\xff\xff\xff\xff\x01",                 # remaining length of 5 bytes
    m.publish("before/connect", b"x"),           # anything but CONNECT first
    m.packet(m.CONNECT, 0, m.utf8("MQTT") + b"\x04\x02\x00\x3c"),  # no client id field
    m.packet(m.CONNECT, 0, m.utf8("MQTX") + b"\x04\x02\x00\x3c" + m.utf8("c")),  # bad name
    m.packet(m.CONNECT, 0x01, m.utf8("MQTT") + b"\x04\x02\x00\x3c" + m.utf8("c")),  # flags
    m.packet(m.CONNECT, 0, m.utf8("MQTT") + b"\x04\x03\x00\x3c" + m.utf8("c")),  # reserved bit
]


@pytest.fixture
def many_fds():
    """Room for a thousand sockets here and in the broker (which inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192)
    if want < 3000:
        pytest.skip("descriptor limit %d is too low for this test" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def blast(port, packets, total, batch=200, timeout=30.0):
    """Sends `total` packets, each on its own connection (at most `batch` open at once), and
    waits for the server to close each one. Returns how many it closed."""
    closed = 0
    sent = 0
    sel = selectors.DefaultSelector()
    while sent < total:
        socks = []
        for _ in range(min(batch, total - sent)):
            s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            s.sendall(packets[sent % len(packets)])
            sent += 1
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            socks.append(s)
        left = len(socks)
        while left:
            events = sel.select(timeout)
            assert events, "the server left %d malformed connections open" % left
            for key, _ in events:
                try:
                    data = key.fileobj.recv(4096)
                except ConnectionResetError:
                    data = b""
                except BlockingIOError:
                    continue
                if data == b"":
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    left -= 1
                    closed += 1
                else:
                    raise AssertionError("the server answered a malformed packet: %r" % data)
    sel.close()
    return closed


def test_malformed_flood_leaves_others_flowing(make_broker, clients, many_fds):
    """10,000 malformed packets (one per connection, as the first one closes it) from one
    client: every connection is closed without an answer, other clients flow meanwhile."""
    b = make_broker()
    canary = Canary(clients, b)
    worker = b.worker_pid()
    for _ in range(10):
        assert blast(b.port, MALFORMED, 1000) == 1000
        canary.check()
    assert b.worker_pid() == worker, "the worker was restarted"


def test_idle_connections_leave_others_flowing(make_broker, clients, many_fds):
    """1,000 connections that never send CONNECT stay open until connect_timeout_ms; meanwhile
    new clients connect and the canary flows; then all thousand are closed by the timeout."""
    b = make_broker(limits={"connect_timeout_ms": 60000})
    canary = Canary(clients, b)
    worker = b.worker_pid()
    idle = [socket.create_connection(("127.0.0.1", b.port), timeout=10) for _ in range(1000)]
    try:
        canary.check()
        fresh = Clients()
        try:
            late = fresh.connect(b, "late-arrival")
            assert late.subscribe([("idle/t", 0)]) == [0]
            canary.pub.publish("idle/t", b"still", qos=1)
            assert late.receive().payload == b"still"
        finally:
            fresh.close_all()
        canary.check()
    finally:
        for s in idle:
            s.close()
    canary.check()
    assert b.worker_pid() == worker


def test_oversize_packets_leave_others_flowing(make_broker, clients):
    """Packets announcing more than max_packet_size (by their length field, or by the bytes
    that follow) are refused by closing their connection; other clients flow."""
    b = make_broker(limits={"max_packet_size": 4096})
    canary = Canary(clients, b)
    worker = b.worker_pid()
    # Announced sizes from just over the limit to MQTT's largest.
    for size in (4097, 65536, 1 << 20, 268435455):
        c = clients.connect(b, "big-%d" % size)
        header = bytes([0x30]) + m.remaining_length(size)
        try:
            c.send(header + struct.pack("!H", 3) + b"a/b" + b"\x00" * 1024)
        except OSError:
            pass
        assert c.wait_closed() == []
        canary.check()
    # Streamed: a 1 MiB PUBLISH sent in full.
    c = clients.connect(b, "big-stream")
    try:
        c.send(m.publish("big/t", b"\x00" * (1 << 20)))
    except OSError:
        pass  # closed while we were still sending
    assert c.wait_closed() == []
    canary.check()
    assert b.worker_pid() == worker
