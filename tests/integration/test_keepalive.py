"""Keep-alive (3.1.2.10): the server closes a client silent for 1.5 x its keep-alive."""

import time

import pytest


def test_silent_client_closed_after_one_and_a_half_keepalives(broker, clients, broker_kind):
    """3.1.2-24: with keep-alive 1 s and no packet, the server closes the connection after
    1.5 s, not before (and, for bulwark, promptly: within 3 s)."""
    c = clients.raw(broker)
    start = time.monotonic()
    assert c.connect("ka1", keepalive=1).rc == 0
    # mosquitto checks keep-alives on a coarse timer (about 5 s); bulwark must be prompt.
    latest = 3.0 if broker_kind == "bulwark" else 8.0
    assert c.wait_closed(timeout=latest + 1.0) == []
    elapsed = time.monotonic() - start
    assert 1.4 <= elapsed <= latest, "closed after %.2fs" % elapsed


@pytest.mark.parametrize("keep", ["pingreq", "publish"])
def test_traffic_keeps_connection_alive(broker, clients, keep):
    """3.1.2-24, 3.12.4-1: any control packet within the keep-alive window keeps the
    connection open; PINGREQ is answered with PINGRESP."""
    c = clients.connect(broker, "ka-live", keepalive=1)
    deadline = time.monotonic() + 2.6
    while time.monotonic() < deadline:
        if keep == "pingreq":
            c.ping()
        else:
            c.publish("ka/t", b"x", qos=0)
        assert c.is_open(0.5)
    c.ping()


def test_keepalive_zero_disables_timeout(broker, clients):
    """3.1.2.10: keep-alive 0 turns the mechanism off: a silent client stays connected."""
    c = clients.connect(broker, "ka0", keepalive=0)
    assert c.is_open(2.5)
    c.ping()
