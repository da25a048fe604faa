"""A small raw MQTT 3.1.1 client for tests: byte-exact encoders and a decoder with deadlines.

Encoders return bytes so a test can send well-formed packets, truncate them or corrupt them.
RawClient reads whole packets from a socket and makes every wait bounded; a closed connection
is an event to observe (ConnectionClosed), not an error to hide.
"""

import socket
import struct
import time

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

NAMES = {
    CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK",
    PUBREC: "PUBREC", PUBREL: "PUBREL", PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE",
    SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE", UNSUBACK: "UNSUBACK", PINGREQ: "PINGREQ",
    PINGRESP: "PINGRESP", DISCONNECT: "DISCONNECT",
}

# Default wait for a packet the test expects; short enough to keep failures quick.
DEFAULT_TIMEOUT = 3.0


class ConnectionClosed(Exception):
    """The peer closed (or reset) the connection."""


class Timeout(Exception):
    """No complete packet arrived before the deadline."""


class ProtocolError(Exception):
    """The broker sent bytes that are not a valid MQTT packet."""


# ---------------------------------------------------------------- encoding


def remaining_length(n):
    """Variable-length integer of MQTT 3.1.1 section 2.2.3 (1..4 bytes)."""
    if not 0 <= n <= 268_435_455:
        raise ValueError("remaining length out of range: %d" % n)
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s):
    """A length-prefixed string; bytes pass through unchanged (for invalid UTF-8 tests)."""
    data = s if isinstance(s, bytes) else s.encode("utf-8")
    return struct.pack("!H", len(data)) + data


def packet(ptype, flags, body=b""):
    return bytes([(ptype << 4) | flags]) + remaining_length(len(body)) + body


def connect(client_id="", clean=True, keepalive=60, username=None, password=None, will=None,
            proto_name="MQTT", level=4, reserved_flag=False):
    """CONNECT. will is (topic, payload, qos, retain)."""
    flags = 0x02 if clean else 0
    payload = utf8(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += utf8(topic) + utf8(message if isinstance(message, bytes) else message.encode())
    if username is not None:
        flags |= 0x80
        payload += utf8(username)
    if password is not None:
        flags |= 0x40
        payload += utf8(password)
    if reserved_flag:
        flags |= 0x01
    body = utf8(proto_name) + bytes([level, flags]) + struct.pack("!H", keepalive) + payload
    return packet(CONNECT, 0, body)


def publish(topic, payload=b"", qos=0, retain=False, dup=False, pid=None):
    if isinstance(payload, str):
        payload = payload.encode()
    flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = utf8(topic)
    if qos:
        if pid is None:
            raise ValueError("QoS > 0 PUBLISH needs a packet id")
        body += struct.pack("!H", pid)
    return packet(PUBLISH, flags, body + payload)


def subscribe(pid, filters, flags=0x02):
    """SUBSCRIBE; filters is a list of (filter, qos)."""
    body = struct.pack("!H", pid) + b"".join(utf8(f) + bytes([q]) for f, q in filters)
    return packet(SUBSCRIBE, flags, body)


def unsubscribe(pid, filters):
    return packet(UNSUBSCRIBE, 0x02, struct.pack("!H", pid) + b"".join(utf8(f) for f in filters))


def puback(pid):
    return packet(PUBACK, 0, struct.pack("!H", pid))


def pubrec(pid):
    return packet(PUBREC, 0, struct.pack("!H", pid))


def pubrel(pid):
    return packet(PUBREL, 0x02, struct.pack("!H", pid))


def pubcomp(pid):
    return packet(PUBCOMP, 0, struct.pack("!H", pid))


def pingreq():
    return packet(PINGREQ, 0)


def disconnect():
    return packet(DISCONNECT, 0)


# ---------------------------------------------------------------- decoding


class Packet:
    """A decoded incoming packet. Fields that do not apply to the type stay None."""

    def __init__(self, ptype, flags, body):
        self.type = ptype
        self.flags = flags
        self.body = body
        self.pid = None
        self.rc = None
        self.session_present = None
        self.topic = None
        self.payload = None
        self.qos = None
        self.dup = None
        self.retain = None
        self.codes = None
        self._parse()

    def _parse(self):
        """Decodes the body, holding the server to the same rules it enforces on clients."""
        t, b = self.type, self.body
        if t != PUBLISH:
            self._need(self.flags == (0x02 if t == PUBREL else 0))  # 2.2.2-1
        if t == CONNACK:
            self._need(len(b) == 2)
            self._need(b[0] & 0xFE == 0)
            self.session_present = b[0] & 1
            self.rc = b[1]
        elif t == PUBLISH:
            self.qos = (self.flags >> 1) & 3
            self.dup = bool(self.flags & 0x08)
            self.retain = bool(self.flags & 0x01)
            self._need(self.qos != 3 and len(b) >= 2)
            tlen = struct.unpack("!H", b[:2])[0]
            pos = 2 + tlen
            self._need(len(b) >= pos)
            try:
                self.topic = b[2:pos].decode("utf-8")
            except UnicodeDecodeError:
                self._need(False)
            self._need(self.topic and "\0" not in self.topic and "+" not in self.topic
                       and "#" not in self.topic)
            if self.qos:
                self._need(len(b) >= pos + 2)
                self.pid = struct.unpack("!H", b[pos:pos + 2])[0]
                self._need(self.pid != 0)  # 2.3.1-1
                pos += 2
            self.payload = b[pos:]
        elif t in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK):
            self._need(len(b) == 2)
            self.pid = struct.unpack("!H", b)[0]
        elif t == SUBACK:
            self._need(len(b) >= 3)
            self.pid = struct.unpack("!H", b[:2])[0]
            self.codes = list(b[2:])
            self._need(all(c in (0, 1, 2, 0x80) for c in self.codes))  # 3.9.3-2
        elif t == PINGRESP:
            self._need(len(b) == 0)
        else:
            raise ProtocolError("server sent a %s packet" % NAMES.get(t, t))

    def _need(self, ok):
        if not ok:
            raise ProtocolError("malformed %s: flags=%#x body=%r"
                                % (NAMES.get(self.type, self.type), self.flags, self.body))

    def __repr__(self):
        name = NAMES.get(self.type, str(self.type))
        if self.type == PUBLISH:
            return "<PUBLISH %r qos=%d dup=%d retain=%d pid=%s payload=%r>" % (
                self.topic, self.qos, self.dup, self.retain, self.pid, self.payload[:40])
        if self.type == CONNACK:
            return "<CONNACK sp=%d rc=%d>" % (self.session_present, self.rc)
        if self.type == SUBACK:
            return "<SUBACK pid=%d codes=%s>" % (self.pid, self.codes)
        if self.pid is not None:
            return "<%s pid=%d>" % (name, self.pid)
        return "<%s>" % name


class RawClient:
    """One TCP connection speaking raw MQTT. All reads have deadlines."""

    def __init__(self, port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # set before connecting so the TCP window starts small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.closed = False
        self._next_pid = 0

    # -- plumbing

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def next_pid(self):
        self._next_pid = self._next_pid % 65535 + 1
        return self._next_pid

    def _take_packet(self):
        """A complete packet from the buffer, or None if more bytes are needed."""
        if len(self.buf) < 2:
            return None
        length, mult, pos = 0, 1, 1
        while True:
            if pos >= len(self.buf):
                return None
            byte = self.buf[pos]
            length += (byte & 0x7F) * mult
            pos += 1
            if not byte & 0x80:
                break
            mult *= 128
            if pos > 4:
                raise ProtocolError("remaining length longer than 4 bytes")
        if len(self.buf) < pos + length:
            return None
        header = self.buf[0]
        body = bytes(self.buf[pos:pos + length])
        del self.buf[:pos + length]
        return Packet(header >> 4, header & 0x0F, body)

    def _fill(self, timeout):
        """Waits up to timeout for bytes and appends them to the buffer; notes EOF."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
        self.buf += data

    def recv(self, timeout=DEFAULT_TIMEOUT):
        """Next packet; raises Timeout or ConnectionClosed."""
        deadline = time.monotonic() + timeout
        while True:
            pkt = self._take_packet()
            if pkt is not None:
                return pkt
            if self.closed:
                raise ConnectionClosed("connection closed (%d stray bytes)" % len(self.buf))
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("no packet within %.1fs" % timeout)
            self._fill(left)

    def expect(self, ptype, timeout=DEFAULT_TIMEOUT):
        pkt = self.recv(timeout)
        if pkt.type != ptype:
            raise AssertionError("expected %s, got %r" % (NAMES[ptype], pkt))
        return pkt

    def nothing(self, timeout=0.3):
        """Asserts no packet arrives within timeout (the connection may stay open)."""
        try:
            pkt = self.recv(timeout)
        except Timeout:
            return
        raise AssertionError("expected no packet, got %r" % pkt)

    def wait_closed(self, timeout=DEFAULT_TIMEOUT):
        """Reads until the peer closes; returns the packets seen before. Raises Timeout."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                seen.append(self.recv(max(0.0, deadline - time.monotonic())))
            except ConnectionClosed:
                return seen

    def is_open(self, timeout=0.2):
        """True if the peer has not closed within timeout; bytes read meanwhile stay buffered."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            self._fill(left)
        return False

    # -- flows

    def connect(self, client_id="", timeout=DEFAULT_TIMEOUT, **kw):
        """Sends CONNECT and returns the CONNACK packet."""
        self.send(connect(client_id, **kw))
        return self.expect(CONNACK, timeout)

    def subscribe(self, filters, timeout=DEFAULT_TIMEOUT):
        """filters: list of (filter, qos), or one filter string (QoS 0). Returns SUBACK codes."""
        if isinstance(filters, str):
            filters = [(filters, 0)]
        pid = self.next_pid()
        self.send(subscribe(pid, filters))
        ack = self.expect(SUBACK, timeout)
        assert ack.pid == pid, "SUBACK pid %d != SUBSCRIBE pid %d" % (ack.pid, pid)
        assert len(ack.codes) == len(filters), "SUBACK has %d codes for %d filters" % (
            len(ack.codes), len(filters))
        return ack.codes

    def unsubscribe(self, filters, timeout=DEFAULT_TIMEOUT):
        pid = self.next_pid()
        self.send(unsubscribe(pid, filters))
        assert self.expect(UNSUBACK, timeout).pid == pid

    def publish(self, topic, payload=b"", qos=0, retain=False, timeout=DEFAULT_TIMEOUT):
        """Publishes and completes the QoS flow as a sender; returns the packet id used."""
        pid = self.next_pid() if qos else None
        self.send(publish(topic, payload, qos, retain, pid=pid))
        if qos == 1:
            assert self.expect(PUBACK, timeout).pid == pid
        elif qos == 2:
            assert self.expect(PUBREC, timeout).pid == pid
            self.send(pubrel(pid))
            assert self.expect(PUBCOMP, timeout).pid == pid
        return pid

    def receive(self, timeout=DEFAULT_TIMEOUT, ack=True):
        """Next PUBLISH; with ack, completes its QoS flow as a receiver."""
        pkt = self.expect(PUBLISH, timeout)
        if ack:
            self.ack(pkt, timeout)
        return pkt

    def ack(self, pkt, timeout=DEFAULT_TIMEOUT):
        if pkt.qos == 1:
            self.send(puback(pkt.pid))
        elif pkt.qos == 2:
            self.send(pubrec(pkt.pid))
            assert self.expect(PUBREL, timeout).pid == pkt.pid
            self.send(pubcomp(pkt.pid))

    def ping(self, timeout=DEFAULT_TIMEOUT):
        self.send(pingreq())
        self.expect(PINGRESP, timeout)

    def disconnect(self):
        try:
            self.send(disconnect())
        except OSError:
            pass
        self.close()
