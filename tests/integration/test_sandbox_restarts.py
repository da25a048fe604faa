"""A role that dies, by SIGKILL or by a sandbox violation, takes only itself down: the
supervisor logs the role and the system call, restarts it with backoff, gives up after
supervisor.max_restarts deaths in restart_window_s; nothing gets in, and no subscription or
first publication gets through, without a verdict from a live auth daemon.

The forced violation uses the test hook of the ASan build (BULWARK_TEST_HOOKS): SIGUSR2
makes the worker or the auth daemon open a TCP socket, which neither may do."""

import itertools
import os
import signal
import subprocess
import threading
import time

import pytest

import mqttraw as m
from broker import proc_state, wait_until
from harness import Canary

pytestmark = pytest.mark.bulwark_only

RESTART_TIMEOUT = 15.0
_ids = itertools.count()


class Load:
    """A publisher and a subscriber in a thread: rounds of 20 QoS 0 messages and a QoS 1
    marker, round-tripped; reconnects with fresh client ids whenever its connections fail."""

    def __init__(self, broker, topic="load/t"):
        self.broker = broker
        self.topic = topic
        self.rounds = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(10)

    def _connect(self):
        n = next(_ids)
        sub = m.RawClient(self.broker.port, timeout=5.0)
        pub = None
        try:
            assert sub.connect("load-sub-%d" % n).rc == 0
            assert sub.subscribe([(self.topic, 1)]) == [1]
            pub = m.RawClient(self.broker.port, timeout=5.0)
            assert pub.connect("load-pub-%d" % n).rc == 0
            return sub, pub
        except BaseException:
            sub.close()
            if pub:
                pub.close()
            raise

    def _run(self):
        sub = pub = None
        while not self._stop.is_set():
            try:
                if sub is None:
                    sub, pub = self._connect()
                for i in range(20):
                    pub.publish(self.topic, b"load-%d" % i)
                pub.publish(self.topic, b"mark", qos=1)
                while sub.receive(timeout=5.0).payload != b"mark":
                    pass
                self.rounds += 1
            except (OSError, AssertionError, m.ConnectionClosed, m.Timeout, m.ProtocolError):
                self.failures += 1
                for c in (sub, pub):
                    if c:
                        c.close()
                sub = pub = None
                time.sleep(0.05)
        for c in (sub, pub):
            if c:
                c.close()

    def wait_rounds(self, n, timeout=RESTART_TIMEOUT):
        """True once n more rounds have gone through."""
        target = self.rounds + n
        return wait_until(lambda: self.rounds >= target, timeout)


def log_line(broker, *needles, timeout=10.0):
    """The first log line holding every needle, waiting for it to appear."""
    def find():
        hits = [l for l in broker.log_lines() if all(n in l for n in needles)]
        return hits[0] if hits else None
    line = wait_until(find, timeout)
    assert line, "no log line with %r\n%s" % (needles, broker.log_tail())
    return line


@pytest.fixture
def load(request):
    loads = []

    def make(broker, **kw):
        ld = Load(broker, **kw).start()
        loads.append(ld)
        return ld
    yield make
    for ld in loads:
        ld.stop()


@pytest.fixture
def test_hooks():
    """The forced violation needs the test build (make build/asan/bulwarkd)."""
    out = subprocess.run([os.environ["BULWARKD"], "--version"], capture_output=True, text=True,
                         timeout=30, env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0")).stdout
    if "test build" not in out:
        pytest.skip("%s has no test hooks (a release build)" % os.environ["BULWARKD"])


def test_worker_violation_kills_only_the_worker(make_broker, load, test_hooks):
    """A forbidden system call in the worker: the kernel kills it (SIGSYS) before the call
    runs, the supervisor logs the role and the call by name and restarts it; the auth daemon
    is untouched and traffic flows again through the new worker."""
    b = make_broker()
    b.expect_violations = True
    ld = load(b)
    assert ld.wait_rounds(3), "no load before the violation"
    roles = b.children()
    os.kill(roles["worker"], signal.SIGUSR2)
    line = log_line(b, "worker (pid %d) killed by signal %d" % (roles["worker"], signal.SIGSYS))
    assert "sandbox violation: system call socket (" in line, line
    assert "restarting in" in line, line
    log_line(b, "worker[%d]: sandbox violation: system call" % roles["worker"])
    assert b.wait_role("worker", not_pid=roles["worker"], timeout=RESTART_TIMEOUT)
    assert ld.wait_rounds(3), "load did not flow through the restarted worker"
    assert ld.failures >= 1  # its connections were the old worker's
    assert b.children()["auth"] == roles["auth"]
    assert not [l for l in b.log_lines() if "test hook: the socket was allowed" in l]


def test_auth_violation_only_delays_connects(make_broker, clients, load, test_hooks):
    """A forbidden system call in the auth daemon: it is killed and restarted; meanwhile live
    connections keep flowing on cached verdicts (the load never drops) and the worker stays;
    CONNECTs are refused only until the new auth daemon is up."""
    b = make_broker(limits={"auth_timeout_ms": 1000})
    b.expect_violations = True
    canary = Canary(clients, b)
    canary.check()
    ld = load(b)
    assert ld.wait_rounds(3)
    failures = ld.failures
    roles = b.children()
    os.kill(roles["auth"], signal.SIGUSR2)
    line = log_line(b, "auth (pid %d) killed by signal %d" % (roles["auth"], signal.SIGSYS))
    assert "sandbox violation: system call socket (" in line, line
    canary.check()
    assert b.wait_role("auth", not_pid=roles["auth"], timeout=RESTART_TIMEOUT)
    assert wait_until(lambda: b.connack_code() == 0, RESTART_TIMEOUT), "CONNECT never accepted"
    assert ld.wait_rounds(3)
    canary.check()
    assert ld.failures == failures, "live connections were disturbed by the auth restart"
    assert b.children()["worker"] == roles["worker"]


@pytest.mark.parametrize("role", ["worker", "auth"])
def test_kill9_under_load(make_broker, clients, load, role):
    """kill -9 of a role under load: the supervisor restarts it; after a worker restart the
    load reconnects and flows (the worker's connections are lost), an auth restart does not
    disturb live connections; the other role keeps its pid."""
    b = make_broker(limits={"auth_timeout_ms": 1000})
    ld = load(b)
    assert ld.wait_rounds(3)
    failures = ld.failures
    roles = b.children()
    other = "auth" if role == "worker" else "worker"
    os.kill(roles[role], signal.SIGKILL)
    line = log_line(b, "%s (pid %d) killed by signal 9" % (role, roles[role]))
    assert "restarting in" in line
    assert b.wait_role(role, not_pid=roles[role], timeout=RESTART_TIMEOUT)
    assert wait_until(lambda: b.connack_code() == 0, RESTART_TIMEOUT)
    assert ld.wait_rounds(3), "no load after the %s restarted" % role
    if role == "auth":
        assert ld.failures == failures, "an auth restart disturbed live connections"
    else:
        assert ld.failures > failures
    assert b.children()[other] == roles[other]
    sub = clients.connect(b, "after-kill")
    assert sub.subscribe([("after/kill", 1)]) == [1]


def test_kill9_supervisor_takes_every_role_down(make_broker, load):
    """kill -9 of the supervisor under load: no role outlives it (PR_SET_PDEATHSIG), so no
    worker serves clients without a supervisor; the listener goes away with them."""
    b = make_broker()
    ld = load(b)
    assert ld.wait_rounds(3)
    roles = b.children()
    os.kill(b.proc.pid, signal.SIGKILL)
    b.proc.wait(10)
    assert wait_until(lambda: all(proc_state(p) in (None, "Z") for p in roles.values()), 10.0), \
        "roles outlived the supervisor"
    assert b.connack_code(timeout=1.0) is None
    assert b.stop() == ["exit status -9, expected 0"]


def test_crash_loop_limit_stops_everything(make_broker):
    """supervisor.max_restarts: a role dying more often than that within restart_window_s
    makes the supervisor stop the other role and exit with status 1 (for systemd to take
    over), logging why."""
    b = make_broker(extra_config="supervisor:\n  max_restarts: 2\n  restart_window_s: 600\n")
    roles = b.children()
    pid = roles["worker"]
    for i in range(3):
        os.kill(pid, signal.SIGKILL)
        if i < 2:
            nxt = b.wait_role("worker", not_pid=pid, timeout=RESTART_TIMEOUT)
            assert nxt, "worker not restarted after death %d" % (i + 1)
            pid = nxt
    assert b.proc.wait(RESTART_TIMEOUT) == 1
    line = log_line(b, "giving up")
    assert "died 3 times within 600 s" in line and "supervisor.max_restarts" in line, line
    assert proc_state(roles["auth"]) in (None, "Z"), "auth left running"
    assert b.stop() == ["exit status 1, expected 0"]


@pytest.mark.parametrize("how", ["killed", "hung"])
def test_nothing_passes_without_a_live_auth_daemon(make_broker, clients, how):
    """Fail closed: with the auth daemon dead (or hung past auth_timeout_ms) a new CONNECT gets
    CONNACK 3, a SUBSCRIBE to a new filter gets 0x80 and a first PUBLISH to a topic reaches
    nobody (QoS 1 is still acknowledged: 3.1.1 has no negative PUBACK), while traffic on
    verdicts the worker already holds flows on. Once the daemon is back, all of it works."""
    b = make_broker(limits={"auth_timeout_ms": 500})
    watcher = clients.connect(b, "watcher")
    assert watcher.subscribe([("#", 1)]) == [1]
    canary = Canary(clients, b)
    canary.check()
    assert watcher.receive().topic == canary.topic
    actor = clients.connect(b, "actor")
    auth = b.children()["auth"]
    stopped = b.proc.pid if how == "killed" else auth
    os.kill(stopped, signal.SIGSTOP)  # a stopped supervisor does not restart the auth daemon
    try:
        if how == "killed":
            os.kill(auth, signal.SIGKILL)
            assert wait_until(lambda: proc_state(auth) == "Z", 5.0)
        late = m.RawClient(b.port, timeout=5.0)
        clients.open.append(late)
        assert late.connect("late", timeout=5.0).rc == 3
        assert actor.subscribe([("fresh/filter", 1)], timeout=5.0) == [0x80]
        actor.publish("fresh/topic", b"unchecked", qos=1, timeout=5.0)
        canary.check()
        pkt = watcher.receive()
        assert pkt.topic == canary.topic, "a publication got through without a verdict"
        watcher.nothing(0.3)
    finally:
        os.kill(stopped, signal.SIGCONT)
    if how == "killed":
        assert b.wait_role("auth", not_pid=auth, timeout=RESTART_TIMEOUT)
    assert wait_until(lambda: b.connack_code() == 0, RESTART_TIMEOUT)
    assert actor.subscribe([("fresh/filter", 1)]) == [1]
    actor.publish("fresh/topic", b"checked", qos=1)
    assert watcher.receive().payload == b"checked"
