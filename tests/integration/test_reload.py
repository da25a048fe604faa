"""SIGHUP reloads the users list."""

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
