"""Regression tests for bugs found in bulwarkd, one per bug, named after what broke."""

import os
import signal
import socket
import struct
import time

import pytest

import mqttraw as m
from broker import wait_until

pytestmark = pytest.mark.bulwark_only


def _cpu_seconds(pid):
    """User + system CPU time of a process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def test_reset_while_waiting_for_verdict_does_not_spin(make_broker):
    """A connection reset while it waits for the auth daemon's verdict must be closed, not
    polled: level-triggered EPOLLHUP fires even when the worker has stopped reading, and the
    worker used to spin on it at 100% CPU until the verdict came."""
    b = make_broker(limits={"auth_timeout_ms": 20000})
    worker = b.worker_pid()
    auth = b.children()["auth"]
    os.kill(auth, signal.SIGSTOP)  # the CONNECT below waits for a verdict that does not come
    try:
        s = socket.create_connection(("127.0.0.1", b.port))
        s.sendall(m.connect("reset-while-paused"))
        time.sleep(0.3)  # let the worker read the CONNECT and pause the connection
        # Reset (not FIN): the worker's socket gets EPOLLHUP|EPOLLERR.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        time.sleep(0.2)
        before = _cpu_seconds(worker)
        time.sleep(1.0)
        used = _cpu_seconds(worker) - before
        assert used < 0.5, "worker used %.2f s of CPU in 1 s while idle" % used
    finally:
        os.kill(auth, signal.SIGCONT)
    assert wait_until(lambda: b.connack_code() == 0, 10.0)
