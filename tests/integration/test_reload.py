"""SIGHUP reloads the users list."""

import pytest

from broker import wait_until


def test_sighup_reloads_users(make_broker, clients, bad_credentials_rc):
    """After SIGHUP with a changed users list, a newly added user can connect and a removed
    user cannot (CONNACK 4); a user kept in the list keeps its connection."""
    b = make_broker(allow_anonymous=False, users={"alice": "secret", "carol": "pw"})
    kept = clients.connect(b, "carol-old", username="carol", password="pw")

    def rc(user, password):
        with clients.raw(b) as c:
            return c.connect("probe-" + user, username=user, password=password).rc

    assert rc("bob", "hunter2") == bad_credentials_rc
    b.set_users({"bob": "hunter2", "carol": "pw"})
    assert wait_until(lambda: rc("bob", "hunter2") == 0, 10.0), "bob never accepted"
    assert rc("alice", "secret") == bad_credentials_rc
    assert rc("bob", "wrong") == bad_credentials_rc
    assert rc("carol", "pw") == 0
    kept.ping()


def test_reload_disconnects_removed_user_and_keeps_others(make_broker, clients):
    """A reload that removes a user closes that user's live connection within a second and
    drops its persistent session; connections of users still in the list keep working."""
    b = make_broker(allow_anonymous=False, users={"alice": "secret", "carol": "pw"})
    if b.kind != "bulwark":
        pytest.skip("disconnecting removed users is bulwark's behaviour")
    gone = clients.connect(b, "alice-1", username="alice", password="secret", clean=False)
    kept = clients.connect(b, "carol-1", username="carol", password="pw")
    kept.subscribe([("reload/t", 1)])
    b.set_users({"carol": "pw"})
    assert gone.wait_closed(timeout=3.0) == []
    assert kept.is_open(timeout=0.5)
    with clients.raw(b) as pub:
        pub.connect("carol-pub", username="carol", password="pw")
        pub.publish("reload/t", b"still here", qos=1)
    assert kept.receive().payload == b"still here"
    # alice's persistent session went with her identity: re-adding her gives a fresh session.
    b.set_users({"alice": "secret", "carol": "pw"})
    assert wait_until(lambda: _connack(clients, b, "alice-probe", "alice", "secret") == (0, False), 10.0)
    with clients.raw(b) as again:
        ack = again.connect("alice-1", username="alice", password="secret", clean=False)
        assert ack.rc == 0 and not ack.session_present


def test_reload_disabling_anonymous_disconnects_anonymous_clients(make_broker, clients):
    """Turning allow_anonymous off by a reload closes the anonymous clients still connected."""
    b = make_broker(allow_anonymous=True, users={"carol": "pw"})
    if b.kind != "bulwark":
        pytest.skip("disconnecting removed identities is bulwark's behaviour")
    anon = clients.connect(b, "anon-1")
    kept = clients.connect(b, "carol-1", username="carol", password="pw")
    b.allow_anonymous = False
    b.set_users({"carol": "pw"})
    assert anon.wait_closed(timeout=3.0) == []
    assert kept.is_open(timeout=0.5)


def _connack(clients, b, client_id, user, password):
    with clients.raw(b) as c:
        ack = c.connect(client_id, username=user, password=password)
        return ack.rc, bool(ack.session_present)
