"""TLS listeners (docs/TLS.md) against a real, sandboxed bulwarkd: mosquitto_pub/sub and paho
over TLS 1.2 and 1.3, client certificates from `bulwark ca` bound to client ids, the refusals
(expired, not yet valid, wrong CA, wrong purpose, revoked, spoofed id, none), each in the audit
log, revocation of a live session on SIGHUP, protocol versions, ALPN, SNI, resumption, the
handshake timeout, and the server key's absence from the worker's memory."""

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import paho.mqtt.client as paho
import pytest

import mqttraw
from broker import Broker, wait_until
from certs import DeviceCA, readable_by_roles, run

pytestmark = pytest.mark.bulwark_only

PAST = ("20200101000000Z", "20200201000000Z")
FUTURE = ("20400101000000Z", "20410101000000Z")


@pytest.fixture
def ca(tmp_path):
    return DeviceCA(str(tmp_path))


def tls_broker(tmp_path, ca, audit_dir=None, client_certs="none", revoked=False, **tls_extra):
    crt, key = ca.server_cert()
    tls = {"cert": crt, "key": key}
    if client_certs != "none":
        tls.update({"ca": ca.crt, "client_certs": client_certs})
    tls.update(tls_extra)
    extra = ""
    if audit_dir:
        extra = "auth:\n  audit_log: %s\n" % os.path.join(audit_dir, "audit.log")
    b = Broker("bulwark", str(tmp_path), allow_anonymous=True, extra_config=extra, tls=tls)
    if revoked:
        # the auth daemon re-reads it as bulwark-auth: a copy where that user may read
        b.tls["revoked"] = readable_by_roles(ca.revoked_file, b.conf_dir)
    return b


def started(b):
    b.start()
    b.wait_ready()
    return b


def audit_events(audit_dir, event):
    path = os.path.join(audit_dir, "audit.log")
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("event") == event:
                    out.append(rec)
    return out


def field(rec, key):
    return rec.get(key, rec.get("fields", {}).get(key))


def mosq(tool, port, ca, *args, timeout=10):
    argv = [tool, "-h", "127.0.0.1", "-p", str(port), "--cafile", ca.crt] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def sub_then_pub(port, ca, sub_args=(), pub_args=(), topic="tls/t", msg="over-tls"):
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "--cafile",
                            ca.crt, "-t", topic, "-C", "1", "-W", "8"] + list(sub_args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.7)
    pub = mosq("mosquitto_pub", port, ca, "-t", topic, "-m", msg, "-q", "1", *pub_args)
    out, err = sub.communicate(timeout=15)
    return pub, out, err


def handshake_fails(port, ca, crt=None, key=None, version=None):
    """True when a TLS handshake (as the client with crt/key) is refused by the server."""
    ctx = ssl.create_default_context(cafile=ca.crt)
    if crt:
        ctx.load_cert_chain(crt, key)
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        t = ctx.wrap_socket(s, server_hostname="localhost")
        # TLS 1.3: the server's refusal of a client certificate arrives after the client's
        # handshake ended; reading shows it.
        t.sendall(b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01p")
        data = t.recv(16)
        t.close()
        return data == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, socket.timeout, OSError):
        return True


# --- server authentication only ---------------------------------------------------------------


@pytest.mark.parametrize("version", ["tlsv1.2", "tlsv1.3"])
def test_mosquitto_clients_over_tls(tmp_path, ca, version):
    b = started(tls_broker(tmp_path, ca))
    try:
        pub, out, err = sub_then_pub(b.tls_port, ca, ("--tls-version", version),
                                     ("--tls-version", version))
        assert pub.returncode == 0, pub.stderr
        assert out.strip() == "over-tls", err
    finally:
        assert b.stop() == []


def test_paho_over_tls_and_plain_side_by_side(tmp_path, ca):
    b = started(tls_broker(tmp_path, ca))
    got = []
    try:
        sub = paho.Client(client_id="paho-tls-sub")
        sub.tls_set(ca_certs=ca.crt)
        sub.on_message = lambda c, u, m: got.append(m.payload)
        sub.connect("127.0.0.1", b.tls_port)
        sub.subscribe("mix/#", qos=1)
        sub.loop_start()
        time.sleep(0.5)
        plain = paho.Client(client_id="paho-plain-pub")
        plain.connect("127.0.0.1", b.port)
        plain.loop_start()
        plain.publish("mix/a", b"from-plain", qos=1).wait_for_publish()
        assert wait_until(lambda: got == [b"from-plain"], 5), got
        plain.loop_stop()
        plain.disconnect()
        sub.loop_stop()
        sub.disconnect()
    finally:
        assert b.stop() == []


def test_plain_mqtt_on_tls_port_is_dropped(tmp_path, ca):
    b = started(tls_broker(tmp_path, ca))
    try:
        with pytest.raises((mqttraw.ConnectionClosed, OSError)):
            with mqttraw.RawClient(b.tls_port, timeout=3) as c:
                c.connect("plain-on-tls", clean=True, timeout=3)
        assert b.connack_code() == 0  # everyone else is still served
        assert any("TLS handshake failed" in l for l in b.log_lines())
    finally:
        assert b.stop() == []


def test_tls_1_1_and_1_0_refused(tmp_path, ca):
    b = started(tls_broker(tmp_path, ca))
    try:
        for flag in ("-tls1_1", "-tls1"):
            r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % b.tls_port,
                                flag, "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", ca.crt],
                               input="", capture_output=True, text=True, timeout=10)
            # the handshake did not complete: no cipher was agreed
            assert "Cipher is (NONE)" in r.stdout, r.stdout
            assert r.returncode != 0
        assert b.connack_code() == 0
    finally:
        assert b.stop() == []


def test_min_version_1_3_refuses_1_2(tmp_path, ca):
    b = started(tls_broker(tmp_path, ca, min_version="1.3"))
    try:
        assert handshake_fails(b.tls_port, ca, version=ssl.TLSVersion.TLSv1_2)
        assert not handshake_fails(b.tls_port, ca, version=ssl.TLSVersion.TLSv1_3)
    finally:
        assert b.stop() == []


def s_client(port, ca, *args):
    """openssl s_client's report; it stays connected for half a second, long enough for the
    TLS 1.3 session ticket that follows the handshake to arrive."""
    p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                          "-CAfile", ca.crt] + list(args), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    out, _ = p.communicate(input="", timeout=10)
    return out


def test_alpn_sni_and_strong_defaults(tmp_path, ca):
    b = started(tls_broker(tmp_path, ca))
    try:
        out = s_client(b.tls_port, ca, "-alpn", "mqtt", "-servername", "localhost")
        assert "ALPN protocol: mqtt" in out
        assert "Verify return code: 0 (ok)" in out
        other = s_client(b.tls_port, ca, "-servername", "broker.example.org")
        assert "Cipher is (NONE)" not in other and "New, TLSv1.3" in other  # any name: served
        out12 = s_client(b.tls_port, ca, "-tls1_2")
        m = re.search(r"Cipher is (\S+)", out12)
        assert m and m.group(1).startswith("ECDHE-") and \
            ("GCM" in m.group(1) or "CHACHA20" in m.group(1)), out12
        # no static-RSA, CBC or SHA-1 suite is accepted
        bad = s_client(b.tls_port, ca, "-tls1_2", "-cipher", "AES128-SHA:ECDHE-ECDSA-AES128-SHA")
        assert "Cipher is (NONE)" in bad
    finally:
        assert b.stop() == []


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_session_resumption(tmp_path, ca, version):
    b = started(tls_broker(tmp_path, ca))
    sess = os.path.join(str(tmp_path), "sess.pem")
    try:
        first = s_client(b.tls_port, ca, version, "-sess_out", sess)
        assert "New," in first
        again = s_client(b.tls_port, ca, version, "-sess_in", sess)
        assert "Reused," in again, again
    finally:
        assert b.stop() == []


def test_stalled_handshake_times_out(tmp_path, ca):
    b = tls_broker(tmp_path, ca, handshake_timeout_ms=300)
    b.limits = {"connect_timeout_ms": 60000}
    started(b)
    try:
        s = socket.create_connection(("127.0.0.1", b.tls_port), timeout=10)
        s.sendall(b"\x16\x03\x01\x00\x80\x01")  # the start of a ClientHello, then nothing
        assert s.recv(100) == b""  # closed by the broker, long before connect_timeout_ms
        assert wait_until(lambda: any("TLS handshake not done" in l for l in b.log_lines()), 10)
        s.close()
    finally:
        assert b.stop() == []


# --- client certificates -------------------------------------------------------------------


def test_device_cert_identity_bound_to_client_id(tmp_path, ca, audit_dir):
    b = started(tls_broker(tmp_path, ca, audit_dir, client_certs="required"))
    crt, key = ca.issue("dev-1")
    try:
        pub, out, err = sub_then_pub(b.tls_port, ca,
                                     ("-i", "dev-1-sub-no", "--cert", crt, "--key", key),
                                     ("-i", "dev-1", "--cert", crt, "--key", key))
        # the subscriber used another id with dev-1's certificate: refused
        assert out.strip() == ""
        assert pub.returncode == 0, pub.stderr
        acc = [r for r in audit_events(audit_dir, "connect") if field(r, "result") == "accepted"]
        assert any(field(r, "identity") == "dev-1" and field(r, "backend") == "certificate"
                   for r in acc), acc
        refused = [r for r in audit_events(audit_dir, "connect")
                   if field(r, "reason") == "client id does not match the certificate"]
        assert refused and field(refused[0], "cert_cn") == "dev-1"
        assert field(refused[0], "client_id") == "dev-1-sub-no"
        # with matching ids a message goes from one device to another
        crt2, key2 = ca.issue("dev-2")
        pub, out, err = sub_then_pub(b.tls_port, ca, ("-i", "dev-2", "--cert", crt2, "--key", key2),
                                     ("-i", "dev-1", "--cert", crt, "--key", key))
        assert out.strip() == "over-tls", err
    finally:
        assert b.stop() == []


def test_paho_mutual_tls(tmp_path, ca):
    b = started(tls_broker(tmp_path, ca, client_certs="required"))
    crt, key = ca.issue("paho-dev")
    rc = []
    try:
        c = paho.Client(client_id="paho-dev")
        c.tls_set(ca_certs=ca.crt, certfile=crt, keyfile=key)
        c.on_connect = lambda cl, u, f, r: rc.append(r)
        c.connect("127.0.0.1", b.tls_port)
        c.loop_start()
        assert wait_until(lambda: rc, 5)
        assert rc == [0]
        c.loop_stop()
        c.disconnect()
    finally:
        assert b.stop() == []


REFUSALS = {
    "expired": lambda ca, other: ca.openssl_cert("old-dev", *PAST),
    "not-yet-valid": lambda ca, other: ca.openssl_cert("future-dev", *FUTURE),
    "wrong-eku": lambda ca, other: ca.openssl_cert("srv-dev", "20240101000000Z",
                                                    "20990101000000Z", eku="serverAuth"),
    "wrong-ca": lambda ca, other: other.issue("stranger"),
}


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_bad_client_certs_refused_and_audited(tmp_path, ca, audit_dir, kind):
    other = DeviceCA(str(tmp_path), name="other-ca")
    crt, key = REFUSALS[kind](ca, other)
    b = started(tls_broker(tmp_path, ca, audit_dir, client_certs="required"))
    try:
        assert handshake_fails(b.tls_port, ca, crt, key)
        good_crt, good_key = ca.issue("good-dev")
        assert not handshake_fails(b.tls_port, ca, good_crt, good_key)
        assert wait_until(lambda: audit_events(audit_dir, "tls"), 5)
        recs = audit_events(audit_dir, "tls")
        assert all(field(r, "result") == "refused" for r in recs)
        assert field(recs[0], "reason"), recs
        if kind != "wrong-ca":
            cn = {"expired": "old-dev", "not-yet-valid": "future-dev", "wrong-eku": "srv-dev"}
            assert field(recs[0], "cert_cn") == cn[kind], recs
        if kind == "wrong-eku":  # wolfSSL's words: "Ext Key Use server/client auth not set"
            assert "client auth" in field(recs[0], "reason")
    finally:
        assert b.stop() == []


def test_missing_client_cert_refused_when_required(tmp_path, ca, audit_dir):
    b = started(tls_broker(tmp_path, ca, audit_dir, client_certs="required"))
    try:
        assert handshake_fails(b.tls_port, ca)
        assert wait_until(lambda: any(field(r, "reason") == "no client certificate"
                                      for r in audit_events(audit_dir, "tls")), 5)
    finally:
        assert b.stop() == []


def test_optional_client_certs(tmp_path, ca):
    b = started(tls_broker(tmp_path, ca, client_certs="optional"))
    crt, key = ca.issue("opt-dev")
    try:
        assert not handshake_fails(b.tls_port, ca)
        assert not handshake_fails(b.tls_port, ca, crt, key)
        other = DeviceCA(str(tmp_path), name="other-ca")
        ocrt, okey = other.issue("opt-stranger")
        assert handshake_fails(b.tls_port, ca, ocrt, okey)  # presented: it must verify
    finally:
        assert b.stop() == []


def test_revocation_refuses_and_ends_live_session(tmp_path, ca, audit_dir):
    crt, key = ca.issue("rev-dev")
    keep_crt, keep_key = ca.issue("keep-dev")
    b = started(tls_broker(tmp_path, ca, audit_dir, client_certs="required", revoked=True))
    states = {"rev-dev": [], "keep-dev": []}
    clients = []
    try:
        for cid, (c_crt, c_key) in (("rev-dev", (crt, key)), ("keep-dev", (keep_crt, keep_key))):
            c = paho.Client(client_id=cid)
            c.tls_set(ca_certs=ca.crt, certfile=c_crt, keyfile=c_key)
            c.on_connect = lambda cl, u, f, r, cid=cid: states[cid].append(("up", r))
            c.on_disconnect = lambda cl, u, r, cid=cid: states[cid].append(("down", r))
            c.connect("127.0.0.1", b.tls_port)
            c.loop_start()
            clients.append(c)
        assert wait_until(lambda: states["rev-dev"] and states["keep-dev"], 5)
        ca.revoke("rev-dev")
        readable_by_roles(ca.revoked_file, b.conf_dir)
        os.kill(b.proc.pid, signal.SIGHUP)
        assert wait_until(lambda: ("down", 1) in states["rev-dev"] or
                          any(s[0] == "down" for s in states["rev-dev"]), 10), states
        for c in clients:
            c.reconnect_delay_set(60, 60)  # no automatic reconnect races in what follows
        assert not any(s[0] == "down" for s in states["keep-dev"]), states
        # a new connection with the revoked certificate is refused at CONNECT
        r = mosq("mosquitto_pub", b.tls_port, ca, "-i", "rev-dev", "--cert", crt, "--key", key,
                 "-t", "x", "-m", "y")
        assert r.returncode != 0
        recs = [r for r in audit_events(audit_dir, "connect")
                if field(r, "reason") == "certificate revoked"]
        assert recs and field(recs[-1], "cert_cn") == "rev-dev"
        assert field(recs[-1], "cert_serial") == ca.serial_of(crt)
        assert any(field(r, "reason") == "certificate revoked"
                   for r in audit_events(audit_dir, "disconnect"))
    finally:
        for c in clients:
            c.loop_stop()
            c.disconnect()
        assert b.stop() == []


# --- the private key stays out of the worker --------------------------------------------------


def private_scalar(key_path):
    out = run(["openssl", "ec", "-in", key_path, "-noout", "-text"])
    m = re.search(r"priv:\s*\n((?:\s+[0-9a-f:]+\n)+)", out)
    hexdigits = re.sub(r"[^0-9a-f]", "", m.group(1))
    raw = bytes.fromhex(hexdigits)
    return raw[-32:] if len(raw) > 32 else raw


def memory_holds(pid, needle):
    found = False
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if not perms.startswith("r"):
                continue
            lo, hi = (int(x, 16) for x in addr.split("-"))
            if hi - lo > 1 << 30:
                continue
            try:
                mem.seek(lo)
                chunk = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            if needle in chunk:
                found = True
                break
    return found


def test_server_key_never_in_worker_memory(tmp_path, ca):
    b = started(tls_broker(tmp_path, ca))
    try:
        for v in ("tlsv1.2", "tlsv1.3"):
            pub = mosq("mosquitto_pub", b.tls_port, ca, "--tls-version", v, "-t", "k", "-m", "v")
            assert pub.returncode == 0, pub.stderr
        scalar = private_scalar(b.tls["key"])
        assert len(scalar) == 32
        roles = b.children()
        # the search works: the auth daemon, which signs, holds the scalar
        assert memory_holds(roles["auth"], scalar)
        assert not memory_holds(roles["worker"], scalar)
        with open(b.tls["key"], "rb") as f:
            pem_line = f.read().split(b"\n")[1][:40]
        assert not memory_holds(roles["worker"], pem_line)
    finally:
        assert b.stop() == []


# --- configuration errors ----------------------------------------------------------------------


def test_key_that_does_not_match_the_certificate_fails_the_start(tmp_path, ca):
    other = DeviceCA(str(tmp_path), name="other-ca")
    _, wrong_key = other.server_cert()
    b = tls_broker(tmp_path, ca)
    b.tls["key"] = wrong_key
    with pytest.raises(RuntimeError) as e:
        b.start()
        b.wait_ready(timeout=10)
    b.stop()
    assert "does not belong to the certificate" in str(e.value) or \
        any("does not belong to the certificate" in l for l in b.log_lines())


def test_tls_config_errors_name_file_line_column(tmp_path):
    conf = tmp_path / "bad.yaml"
    conf.write_text("listeners:\n  - host: 127.0.0.1\n    port: 1\n    tls:\n"
                    "      cert: a.crt\n      key: a.key\n      client_certs: required\n")
    r = subprocess.run([os.environ["BULWARKD"], "-c", str(conf), "--insecure-no-sandbox"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "%s:5:7:" % conf in r.stderr and "needs 'ca'" in r.stderr, r.stderr
    conf.write_text("listeners:\n  - host: 127.0.0.1\n    port: 1\n    tls:\n"
                    "      cert: a.crt\n      key: a.key\n      min_version: \"1.1\"\n")
    r = subprocess.run([os.environ["BULWARKD"], "-c", str(conf), "--insecure-no-sandbox"],
                       capture_output=True, text=True, timeout=10)
    assert "%s:7:20:" % conf in r.stderr and "1.2, 1.3" in r.stderr, r.stderr


@pytest.mark.parametrize("role", ["auth", "worker"])
def test_handshakes_go_on_after_a_role_restart(tmp_path, ca, role):
    """The signature channel is handed over again when either role restarts (supervisor
    'K' message): TLS handshakes work with the new auth daemon or the new worker."""
    b = started(tls_broker(tmp_path, ca))
    b.expect_violations = False
    try:
        assert mosq("mosquitto_pub", b.tls_port, ca, "-t", "r", "-m", "before").returncode == 0
        old = b.children()[role]
        os.kill(old, signal.SIGKILL)
        assert b.wait_role(role, not_pid=old, timeout=15)
        ok = wait_until(lambda: mosq("mosquitto_pub", b.tls_port, ca, "-t", "r",
                                     "-m", "after").returncode == 0, 15, interval=0.3)
        assert ok, b.log_tail()
    finally:
        b.stop()


# --- resumption must not skip the certificate checks (regressions) -----------------------------


def tls12_context(ca, crt=None, key=None, tickets=True):
    ctx = ssl.create_default_context(cafile=ca.crt)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET  # resumption by session id instead
    if crt:
        ctx.load_cert_chain(crt, key)
    return ctx


def connect_over(port, ctx, client_id, session=None):
    """(resumed, session, first bytes back or b"" when closed) for one CONNECT over TLS."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        t = ctx.wrap_socket(s, server_hostname="localhost", session=session)
    except (ssl.SSLError, OSError):
        s.close()
        return False, None, b""
    resumed, sess = t.session_reused, t.session
    try:
        t.sendall(mqttraw.connect(client_id))
        data = t.recv(16)
    except (ssl.SSLError, OSError):
        data = b""
    t.close()
    return resumed, sess, data


CONNACK_OK = b"\x20\x02\x00\x00"


@pytest.mark.parametrize("tickets", [True, False], ids=["ticket", "session-id"])
def test_resumed_tls12_session_keeps_the_client_id_binding(tmp_path, ca, tickets):
    """Regression: wolfSSL's TLS 1.2 tickets do not carry the client certificate, so a
    resumed session arrived without one and a device could take another client id."""
    b = started(tls_broker(tmp_path, ca, client_certs="required"))
    crt, key = ca.issue("dev-1")
    ctx = tls12_context(ca, crt, key, tickets)
    try:
        _, sess, first = connect_over(b.tls_port, ctx, "dev-1")
        assert first == CONNACK_OK
        _, _, again = connect_over(b.tls_port, ctx, "not-dev-1", session=sess)
        assert again != CONNACK_OK, "a resumed session escaped the client-id binding"
    finally:
        assert b.stop() == []


def test_session_from_another_listener_does_not_skip_client_certs(tmp_path, ca):
    """Regression: the TLS 1.2 session cache is one per process; a session made without a
    certificate on a listener that asks for none resumed on a client_certs: required one."""
    crt, key = ca.server_cert()
    b = Broker("bulwark", str(tmp_path), allow_anonymous=True,
               tls={"cert": crt, "key": key, "ca": ca.crt, "client_certs": "required"},
               tls2={"cert": crt, "key": key})
    b.start()
    b.wait_ready()
    try:
        for tickets in (False, True):
            ctx = tls12_context(ca, tickets=tickets)  # no client certificate at all
            _, sess, first = connect_over(b.tls2_port, ctx, "anon-1")
            assert first == CONNACK_OK
            resumed, _, second = connect_over(b.tls_port, ctx, "anon-1", session=sess)
            assert second != CONNACK_OK, "client_certs: required bypassed (resumed=%s)" % resumed
    finally:
        assert b.stop() == []


def test_slow_tls_reader_gets_every_byte_in_order(tmp_path, ca):
    """A TLS subscriber that stops reading fills the socket: wolfSSL's writes then wait
    (WANT_WRITE) and must be offered the same bytes again; when it reads again every message
    arrives whole and in order."""
    b = started(tls_broker(tmp_path, ca))
    n, size = 2000, 1000
    try:
        ctx = ssl.create_default_context(cafile=ca.crt)
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", b.tls_port))
        t = ctx.wrap_socket(raw, server_hostname="localhost")
        t.sendall(mqttraw.connect("slow-tls-reader"))
        assert t.recv(4) == CONNACK_OK
        t.sendall(mqttraw.packet(mqttraw.SUBSCRIBE, 0x02,
                                 b"\x00\x01" + mqttraw.utf8("slow/#") + b"\x00"))
        assert t.recv(5)[0] == 0x90
        with mqttraw.RawClient(b.port) as pub:
            pub.connect("slow-pub")
            for i in range(n):
                pub.send(mqttraw.packet(mqttraw.PUBLISH, 0, mqttraw.utf8("slow/t") +
                                        (b"%06d" % i) + b"x" * (size - 6)))
            pub.ping()
        time.sleep(1.0)  # the broker's writes to us are blocked meanwhile
        t.settimeout(10)
        buf, got = b"", []
        while len(got) < n:
            chunk = t.recv(65536)
            assert chunk, "connection closed after %d messages" % len(got)
            buf += chunk
            while len(buf) >= 2:
                length, pos = mqttraw.parse_varint(buf, 1)
                if len(buf) < pos + length:
                    break
                body = buf[pos:pos + length]
                buf = buf[pos + length:]
                got.append(body[2 + 6:2 + 6 + 6])
        assert got == [b"%06d" % i for i in range(n)]
        t.close()
    finally:
        assert b.stop() == []


def test_policy_decides_on_certificate_fields(tmp_path, ca):
    """A certificates entry and %{cert.cn} in a rule: the auth daemon reads the certificate
    the worker sends with every publish and subscribe decision (only because this policy
    looks at certificates) and grants each device its own subtree only."""
    b = tls_broker(tmp_path, ca, client_certs="required")
    b.policy = ('version: 1\ncertificates:\n  - name: fleet\n    cn: "dev-*"\n'
                'rules:\n  - id: own\n    allow: both\n    topics: "fleet/%{cert.cn}/#"\n'
                '    identities: [fleet]\n')
    b.allow_anonymous = False
    started(b)
    dev2 = ca.issue("dev-2")
    try:
        def pub(topic):
            r = mosq("mosquitto_pub", b.tls_port, ca, "-V", "mqttv5", "-i", "dev-2", "--cert",
                     dev2[0], "--key", dev2[1], "-t", topic, "-m", "x", "-q", "1", "-d")
            return r.stdout + r.stderr
        mine, theirs = pub("fleet/dev-2/t"), pub("fleet/dev-1/t")
        # 0x10: allowed, nobody subscribed; 0x87 (135): not authorized
        assert "received PUBACK (Mid: 1, RC:16)" in mine, mine
        assert "received PUBACK (Mid: 1, RC:135)" in theirs, theirs
    finally:
        assert b.stop() == []


def test_signature_wait_is_bounded_by_auth_timeout(tmp_path, ca):
    """The worker waits for a handshake signature at most auth_timeout_ms: with the auth
    daemon stopped (SIGSTOP) a TLS handshake fails after that and the worker goes on serving
    its clients; once the daemon runs again, handshakes work (its late answer is skipped)."""
    b = tls_broker(tmp_path, ca)
    b.limits = {"auth_timeout_ms": 500}
    started(b)
    auth = b.children()["auth"]
    try:
        with mqttraw.RawClient(b.port) as sub, mqttraw.RawClient(b.port) as pub:
            sub.connect("sig-sub")
            assert sub.subscribe([("sig/#", 0)]) == [0]
            pub.connect("sig-pub")
            pub.publish("sig/a", b"before")  # the verdict for sig/a is cached from here on
            assert sub.receive().payload == b"before"
            os.kill(auth, signal.SIGSTOP)
            try:
                assert handshake_fails(b.tls_port, ca)
                pub.publish("sig/a", b"during")  # the worker did not stay stuck in the wait
                assert sub.receive().payload == b"during"
            finally:
                os.kill(auth, signal.SIGCONT)
        assert wait_until(lambda: not handshake_fails(b.tls_port, ca), 10, interval=0.3)
    finally:
        assert b.stop() == []


def test_tls13_ticket_from_another_listener_is_not_resumed(tmp_path, ca):
    """TLS 1.3 tickets are sealed with a key of their listener: a ticket earned with a
    certificate of the CA another listener trusts does not resume where that CA is unknown
    (it would carry a certificate this listener never verified)."""
    other = DeviceCA(str(tmp_path), name="other-ca")
    crt, key = ca.server_cert()
    b = Broker("bulwark", str(tmp_path), allow_anonymous=False,
               tls={"cert": crt, "key": key, "ca": ca.crt, "client_certs": "required"},
               tls2={"cert": crt, "key": key, "ca": other.crt, "client_certs": "required"})
    b.start()
    b.wait_ready()
    try:
        dcrt, dkey = other.issue("stranger")
        ctx = ssl.create_default_context(cafile=ca.crt)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(dcrt, dkey)
        # the ticket follows the handshake: take the session after the CONNACK
        t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", b.tls2_port), timeout=5),
                            server_hostname="localhost")
        t.sendall(mqttraw.connect("stranger"))
        assert t.recv(16) == CONNACK_OK  # trusted there: authenticated by the certificate
        sess = t.session
        t.close()
        assert sess is not None and sess.has_ticket
        resumed, _, second = connect_over(b.tls_port, ctx, "stranger", session=sess)
        assert not resumed and second != CONNACK_OK, (resumed, second)
        # where it was issued, the ticket does resume (and keeps the certificate)
        resumed, _, third = connect_over(b.tls2_port, ctx, "stranger", session=sess)
        assert resumed and third == CONNACK_OK, (resumed, third)
    finally:
        assert b.stop() == []
