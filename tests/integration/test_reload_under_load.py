"""A policy reload under load: allowed traffic flows through it without a loss."""

import signal
import threading

import pytest

from broker import wait_until

pytestmark = pytest.mark.bulwark_only

POLICY = """version: 1
anonymous:
  rules:
    - id: load
      allow: both
      topics: "load/#"
"""

MESSAGES = 1500


def test_reload_under_load_loses_nothing(make_broker, clients):
    """Ten SIGHUP reloads of a valid policy while a publisher sends QoS 1 messages as fast as
    it can: every reload bumps the generation (cached verdicts are dropped, live sessions and
    subscriptions re-checked), yet the subscriber receives every message, in order."""
    b = make_broker(allow_anonymous=True, policy=POLICY)
    sub = clients.connect(b, "load-sub")
    assert sub.subscribe([("load/#", 1)]) == [1]
    pub = clients.connect(b, "load-pub")
    received = []
    errors = []

    def consume():
        try:
            for _ in range(MESSAGES):
                received.append(int(sub.receive(timeout=15.0).payload))
        except Exception as e:  # reported below, with what arrived
            errors.append(e)

    reader = threading.Thread(target=consume)
    reader.start()
    reloads = 0
    for i in range(MESSAGES):
        pub.publish("load/t%d" % (i % 7), b"%d" % i, qos=1, timeout=15.0)
        if i % (MESSAGES // 10) == MESSAGES // 20:
            b.proc.send_signal(signal.SIGHUP)
            reloads += 1
            # Go on only once the worker has taken the new generation, so every reload lands
            # in the middle of the stream.
            assert wait_until(lambda: _worker_reloads(b) >= reloads, 10.0), "reload %d" % reloads
    reader.join(timeout=30.0)
    assert not errors, "subscriber stopped after %d messages: %r" % (len(received), errors[0])
    assert received == list(range(MESSAGES))
    assert reloads == 10


def _worker_reloads(b):
    return sum("policy reloaded" in line for line in b.log_lines())
