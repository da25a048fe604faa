"""CONNECT and CONNACK (MQTT 3.1.1 sections 3.1 and 3.2)."""

import pytest

import mqttraw as m

# CONNACK 3 (server unavailable) is checked in test_failclosed.py.


def test_valid_connect_is_accepted(broker, clients):
    """3.2.2.3: a valid CONNECT gets CONNACK 0; a clean session has session present 0."""
    c = clients.connect(broker, "plain", clean=True)
    assert c.connack.session_present == 0
    c.ping()


def test_mqisdp_level_3_is_accepted(broker, clients):
    """MQTT 3.1 clients (protocol name MQIsdp, level 3) are accepted with CONNACK 0."""
    c = clients.raw(broker)
    ack = c.connect("legacy31", proto_name="MQIsdp", level=3)
    assert ack.rc == 0
    c.ping()


@pytest.mark.parametrize("level", [
    6,
    0,
    # Level 5 is MQTT 5.0, accepted since: tests/integration/test_mqtt5_connect.py.
])
def test_unsupported_protocol_level_gets_rc1_then_close(broker, clients, level):
    """3.1.2-2: an unsupported protocol level gets CONNACK 1, then the server closes."""
    c = clients.raw(broker)
    ack = c.connect("lvl", level=level)
    assert ack.rc == 1
    assert ack.session_present == 0
    assert c.wait_closed() == []


def test_unknown_protocol_name_is_closed_without_connack(broker, clients):
    """3.1.2-1: a protocol name other than MQTT/MQIsdp: the connection is closed, no CONNACK."""
    c = clients.raw(broker)
    c.send(m.connect("name", proto_name="MQTX"))
    assert c.wait_closed() == []


def test_connect_reserved_flag_closes(broker, clients):
    """3.1.2-3: the reserved CONNECT flag must be 0, otherwise the client is disconnected."""
    c = clients.raw(broker)
    c.send(m.connect("reserved", reserved_flag=True))
    assert c.wait_closed() == []


def test_empty_client_id_with_clean_session_is_accepted(broker, clients):
    """3.1.3-6/7: a zero-byte client id with clean session 1 is accepted (server assigns one)."""
    c = clients.connect(broker, "", clean=True)
    assert c.connack.session_present == 0
    c.ping()


def test_empty_client_id_without_clean_session_is_rejected(broker, clients):
    """3.1.3-8: a zero-byte client id with clean session 0 gets CONNACK 2, then close."""
    c = clients.raw(broker)
    ack = c.connect("", clean=False)
    assert ack.rc == 2
    assert c.wait_closed() == []


@pytest.mark.bulwark_only
def test_client_id_length_bound(make_broker, clients):
    """3.1.3-9: ids over max_client_id_length get CONNACK 2; an id at the bound is accepted."""
    b = make_broker(limits={"max_client_id_length": 16})
    assert clients.connect(b, "x" * 16).connack.rc == 0
    c = clients.raw(b)
    assert c.connect("x" * 17).rc == 2
    assert c.wait_closed() == []


@pytest.fixture
def auth_broker(make_broker):
    return make_broker(allow_anonymous=False, users={"alice": "secret", "bob": "hunter2"})


def test_password_auth_success(auth_broker, clients):
    """3.1.3.4-5: the right user name and password are accepted (CONNACK 0)."""
    a = clients.connect(auth_broker, "alice-c", username="alice", password="secret")
    b = clients.connect(auth_broker, "bob-c", username="bob", password="hunter2")
    assert b.subscribe([("auth/t", 1)]) == [1]
    a.publish("auth/t", b"hi", qos=1)
    assert b.receive().payload == b"hi"


@pytest.mark.parametrize("creds", [
    {"username": "alice", "password": "wrong"},
    {"username": "alice", "password": "hunter2"},  # another user's password
    {"username": "mallory", "password": "secret"},
    {"username": "alice", "password": ""},
])
def test_bad_credentials_rc4(auth_broker, clients, bad_credentials_rc, creds):
    """3.2.2.3: a wrong password or an unknown user gets CONNACK 4 (bad user name or password)."""
    c = clients.raw(auth_broker)
    ack = c.connect("bad", **creds)
    assert ack.rc == bad_credentials_rc
    assert c.wait_closed() == []


def test_anonymous_refused_rc5(auth_broker, clients):
    """3.2.2.3: no user name while allow_anonymous is false gets CONNACK 5 (not authorized)."""
    c = clients.raw(auth_broker)
    ack = c.connect("anon")
    assert ack.rc == 5
    assert c.wait_closed() == []


def test_session_present_flag(broker, clients):
    """3.2.2-1..3: session present is 0 for a clean session or a new one, 1 when resumed."""
    c = clients.connect(broker, "sp", clean=False)
    assert c.connack.session_present == 0  # no session existed
    assert c.subscribe([("sp/t", 1)]) == [1]
    c.disconnect()
    c = clients.connect(broker, "sp", clean=False)
    assert c.connack.session_present == 1
    c.disconnect()
    c = clients.connect(broker, "sp", clean=True)
    assert c.connack.session_present == 0
    c.disconnect()
    c = clients.connect(broker, "sp", clean=False)
    assert c.connack.session_present == 0  # the clean session discarded it


def test_second_connect_closes_connection(broker, clients):
    """3.1.0-2: a second CONNECT on the same connection is a protocol violation: closed."""
    c = clients.connect(broker, "twice")
    c.send(m.connect("twice"))
    assert c.wait_closed() == []


@pytest.mark.parametrize("first", [
    m.pingreq(),
    m.publish("early/t", b"x"),
    m.subscribe(1, [("early/t", 0)]),
    m.disconnect(),
], ids=["pingreq", "publish", "subscribe", "disconnect"])
def test_first_packet_must_be_connect(broker, clients, first):
    """3.1.0-1: the first packet from a client must be CONNECT, otherwise the server closes."""
    c = clients.raw(broker)
    c.send(first)
    assert c.wait_closed() == []
