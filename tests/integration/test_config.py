"""bulwarkd's command line and configuration file handling."""

import os
import re
import subprocess

import pytest

from broker import free_port


def test_listeners_share_one_broker(make_broker, clients):
    """Every configured listener serves the same broker: a message published on one listener
    reaches a subscriber on another."""
    b = make_broker(listeners=2)
    sub = clients.connect(b, "on-second", port=b.ports[1])
    sub.subscribe([("multi/t", 1)])
    pub = clients.connect(b, "on-first", port=b.ports[0])
    pub.publish("multi/t", b"crossed", qos=1)
    assert sub.receive().payload == b"crossed"


@pytest.mark.bulwark_only
def test_quick_start_command_line(make_broker, clients):
    """`bulwarkd --listen HOST:PORT [--listen ...] --allow-anonymous` runs a working broker
    without a config file."""
    b = make_broker(quick_start=True, listeners=2)
    sub = clients.connect(b, "qs-sub", port=b.ports[1])
    sub.subscribe([("qs/t", 2)])
    pub = clients.connect(b, "qs-pub")
    pub.publish("qs/t", b"quick", qos=2)
    msg = sub.receive()
    assert (msg.payload, msg.qos) == (b"quick", 2)


@pytest.mark.bulwark_only
def test_quick_start_without_allow_anonymous_refuses_anonymous(make_broker, clients):
    """Anonymous access is off unless asked for: CONNACK 5 without --allow-anonymous."""
    b = make_broker(quick_start=True, allow_anonymous=False)
    c = clients.raw(b)
    assert c.connect("anon").rc == 5


BAD_CONFIGS = {
    # name: (config body after the listener, line of the error)
    "unknown-top-level-key": ("allow_anonymous: true\nbogus_key: 1\n", 5),
    "unknown-limit": ("limits:\n  max_inflight: 5\n  max_whatever: 5\n", 6),
    "wrong-type": ("limits:\n  max_inflight: many\n", 5),
    "negative-number": ("limits:\n  max_connections: -1\n", 5),
    "duplicate-key": ("allow_anonymous: true\nallow_anonymous: false\n", 5),
}


@pytest.mark.bulwark_only
@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_bad_config_is_refused_with_location(tmp_path, name):
    """config_load_file: a bad config makes bulwarkd exit non-zero before serving, with a
    FILE:LINE:COLUMN message pointing at the offending line."""
    body, line = BAD_CONFIGS[name]
    path = os.path.join(str(tmp_path), "bad.yaml")
    with open(path, "w") as f:
        f.write("listeners:\n  - host: 127.0.0.1\n    port: %d\n" % free_port() + body)
    res = subprocess.run([os.environ["BULWARKD"], "-c", path], capture_output=True, text=True,
                         timeout=20, stdin=subprocess.DEVNULL)
    assert res.returncode != 0
    found = re.search(re.escape(path) + r":(\d+):(\d+): \S", res.stderr)
    assert found, "no FILE:LINE:COLUMN message in:\n" + res.stderr
    assert int(found.group(1)) == line, res.stderr
    assert "AddressSanitizer" not in res.stderr and "runtime error" not in res.stderr


@pytest.mark.bulwark_only
def test_missing_config_file(tmp_path):
    """A config file that does not exist is an error naming the file, not a crash."""
    path = os.path.join(str(tmp_path), "nope.yaml")
    res = subprocess.run([os.environ["BULWARKD"], "-c", path], capture_output=True, text=True,
                         timeout=20, stdin=subprocess.DEVNULL)
    assert res.returncode != 0
    assert path in res.stderr
    assert "AddressSanitizer" not in res.stderr and "runtime error" not in res.stderr
