"""Process model and fail-closed behaviour of bulwarkd's supervisor, worker and auth roles."""

import os
import signal

import pytest

import mqttraw as m
from broker import proc_state, wait_until
from harness import Canary

pytestmark = pytest.mark.bulwark_only

RESTART_TIMEOUT = 10.0


def _exe(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None


def refused_unavailable(broker, client_id):
    """A CONNECT that must be answered with CONNACK 3, after which the server closes."""
    c = m.RawClient(broker.port, timeout=8.0)
    try:
        ack = c.connect(client_id, timeout=8.0)
        assert ack.rc == 3, "CONNACK %d while the auth daemon is down, expected 3" % ack.rc
        assert c.wait_closed() == []
    finally:
        c.close()


def test_process_model(broker):
    """The supervisor runs exactly two children, the same binary re-executed as --role worker
    and --role auth."""
    roles = broker.children()
    assert sorted(roles) == ["auth", "worker"]
    with open("/proc/%d/task/%d/children" % (broker.proc.pid, broker.proc.pid)) as f:
        assert len(f.read().split()) == 2
    sup_exe = _exe(broker.proc.pid)
    for pid in roles.values():
        assert _exe(pid) in (None, sup_exe)


def test_auth_daemon_killed_fails_closed(make_broker, clients):
    """Fail closed: while the auth daemon is dead, new CONNECTs get CONNACK 3 (server
    unavailable) and existing connections keep flowing; after the supervisor restarts it, new
    CONNECTs are accepted again."""
    b = make_broker(limits={"auth_timeout_ms": 1000})
    canary = Canary(clients, b)
    canary.check()  # live traffic runs on verdicts the worker already holds
    auth = b.children()["auth"]
    # Holding the supervisor stopped keeps the auth daemon dead for as long as we look.
    os.kill(b.proc.pid, signal.SIGSTOP)
    try:
        os.kill(auth, signal.SIGKILL)
        assert wait_until(lambda: proc_state(auth) == "Z", 5.0), "auth daemon did not die"
        refused_unavailable(b, "while-down-1")
        canary.check()
        refused_unavailable(b, "while-down-2")
    finally:
        os.kill(b.proc.pid, signal.SIGCONT)
    assert b.wait_role("auth", not_pid=auth, timeout=RESTART_TIMEOUT), "auth not restarted"
    assert wait_until(lambda: b.connack_code() == 0, RESTART_TIMEOUT), \
        "CONNECT not accepted after the auth daemon restarted"
    canary.check()
    fresh = clients.connect(b, "after-restart")
    fresh.subscribe([("canary/flow", 0)])
    canary.check()
    assert fresh.receive().topic == "canary/flow"


def test_auth_daemon_unresponsive_times_out(make_broker, clients):
    """auth_timeout_ms: a CONNECT waiting longer for a hung auth daemon gets CONNACK 3; other
    clients keep flowing; once the daemon answers again, CONNECTs are accepted (late verdicts
    for refused CONNECTs are ignored)."""
    b = make_broker(limits={"auth_timeout_ms": 500})
    canary = Canary(clients, b)
    canary.check()  # live traffic runs on verdicts the worker already holds
    auth = b.children()["auth"]
    os.kill(auth, signal.SIGSTOP)
    try:
        refused_unavailable(b, "hung-1")
        canary.check()
    finally:
        os.kill(auth, signal.SIGCONT)
    assert wait_until(lambda: b.connack_code() == 0, RESTART_TIMEOUT)
    canary.check()


def test_worker_killed_is_restarted(broker, clients):
    """The supervisor restarts a dead worker: its clients are dropped, new clients connect and
    exchange messages with the new worker."""
    worker = broker.children()["worker"]
    old = clients.connect(broker, "old")
    os.kill(worker, signal.SIGKILL)
    assert old.wait_closed(timeout=5.0) == []
    assert broker.wait_role("worker", not_pid=worker, timeout=RESTART_TIMEOUT), \
        "worker not restarted"
    assert wait_until(lambda: broker.connack_code() == 0, RESTART_TIMEOUT), \
        "no CONNACK 0 from the restarted worker"
    sub = clients.connect(broker, "new-sub")
    sub.subscribe([("restart/t", 1)])
    pub = clients.connect(broker, "new-pub")
    pub.publish("restart/t", b"alive", qos=1)
    assert sub.receive().payload == b"alive"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_everything(broker, clients, sig):
    """SIGTERM/SIGINT to the supervisor stop every role: exit status 0, no child left behind,
    connected clients see their connection closed."""
    c = clients.connect(broker, "bystander")
    roles = broker.children()
    assert broker.stop(sig) == []
    assert c.wait_closed(timeout=5.0) == []
    for pid in roles.values():
        assert proc_state(pid) is None, "role pid %d still exists" % pid
