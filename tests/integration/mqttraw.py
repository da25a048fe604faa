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


# ================================================================ MQTT 5.0 (additions)
#
# Property blocks are built and checked byte for byte, so tests can also send what no well-
# behaved client would (unknown ids, duplicates, truncated values). Encoders take a property
# block without its length (bytes from props()); the length is added here.

AUTH = 15
NAMES[AUTH] = "AUTH"

# property id -> (name, type); types: byte, u16, u32, varint, str, bin, pair
PROPS = {
    0x01: ("PayloadFormatIndicator", "byte"), 0x02: ("MessageExpiryInterval", "u32"),
    0x03: ("ContentType", "str"), 0x08: ("ResponseTopic", "str"),
    0x09: ("CorrelationData", "bin"), 0x0B: ("SubscriptionIdentifier", "varint"),
    0x11: ("SessionExpiryInterval", "u32"), 0x12: ("AssignedClientIdentifier", "str"),
    0x13: ("ServerKeepAlive", "u16"), 0x15: ("AuthenticationMethod", "str"),
    0x16: ("AuthenticationData", "bin"), 0x17: ("RequestProblemInformation", "byte"),
    0x18: ("WillDelayInterval", "u32"), 0x19: ("RequestResponseInformation", "byte"),
    0x1A: ("ResponseInformation", "str"), 0x1C: ("ServerReference", "str"),
    0x1F: ("ReasonString", "str"), 0x21: ("ReceiveMaximum", "u16"),
    0x22: ("TopicAliasMaximum", "u16"), 0x23: ("TopicAlias", "u16"),
    0x24: ("MaximumQoS", "byte"), 0x25: ("RetainAvailable", "byte"),
    0x26: ("UserProperty", "pair"), 0x27: ("MaximumPacketSize", "u32"),
    0x28: ("WildcardSubscriptionAvailable", "byte"),
    0x29: ("SubscriptionIdentifierAvailable", "byte"),
    0x2A: ("SharedSubscriptionAvailable", "byte"),
}
PROP_IDS = {name: pid for pid, (name, _) in PROPS.items()}


def varint(n):
    """Variable byte integer (5.0 section 1.5.5), the same encoding as remaining_length."""
    return remaining_length(n)


def _bytes(v):
    return v if isinstance(v, bytes) else v.encode("utf-8")


def prop(name_or_id, value):
    """One property: identifier and value in the wire form its type has."""
    pid = PROP_IDS[name_or_id] if isinstance(name_or_id, str) else name_or_id
    kind = PROPS[pid][1]
    if kind == "byte":
        return bytes([pid, value])
    if kind == "u16":
        return bytes([pid]) + struct.pack("!H", value)
    if kind == "u32":
        return bytes([pid]) + struct.pack("!I", value)
    if kind == "varint":
        return bytes([pid]) + varint(value)
    if kind == "pair":
        return bytes([pid]) + utf8(_bytes(value[0])) + utf8(_bytes(value[1]))
    return bytes([pid]) + utf8(_bytes(value))


def props(*items):
    """A property block from (name, value) pairs, in order (repeats allowed)."""
    return b"".join(prop(n, v) for n, v in items)


def with_len(block):
    return varint(len(block)) + block


def connect5(client_id="", clean=True, keepalive=60, props=b"", will=None, will_props=b"",
             username=None, password=None, level=5):
    """5.0 CONNECT. will is (topic, payload, qos, retain); props and will_props are blocks."""
    flags = 0x02 if clean else 0
    payload = utf8(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += with_len(will_props) + utf8(topic) + utf8(_bytes(message))
    if username is not None:
        flags |= 0x80
        payload += utf8(username)
    if password is not None:
        flags |= 0x40
        payload += utf8(password)
    body = (utf8("MQTT") + bytes([level, flags]) + struct.pack("!H", keepalive)
            + with_len(props) + payload)
    return packet(CONNECT, 0, body)


def publish5(topic, payload=b"", qos=0, retain=False, dup=False, pid=None, props=b""):
    payload = _bytes(payload)
    flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = utf8(topic)
    if qos:
        if pid is None:
            raise ValueError("QoS > 0 PUBLISH needs a packet id")
        body += struct.pack("!H", pid)
    return packet(PUBLISH, flags, body + with_len(props) + payload)


def subscribe5(pid, filters, props=b""):
    """filters: list of (filter, options byte)."""
    body = struct.pack("!H", pid) + with_len(props)
    body += b"".join(utf8(f) + bytes([o]) for f, o in filters)
    return packet(SUBSCRIBE, 0x02, body)


def unsubscribe5(pid, filters, props=b""):
    body = struct.pack("!H", pid) + with_len(props) + b"".join(utf8(f) for f in filters)
    return packet(UNSUBSCRIBE, 0x02, body)


def ack5(ptype, pid, reason=None, props=None):
    """PUBACK/PUBREC/PUBREL/PUBCOMP, short forms when reason/props are None."""
    body = struct.pack("!H", pid)
    if reason is not None:
        body += bytes([reason])
        if props is not None:
            body += with_len(props)
    return packet(ptype, 0x02 if ptype == PUBREL else 0, body)


def disconnect5(reason=None, props=None):
    body = b""
    if reason is not None:
        body = bytes([reason]) + (with_len(props) if props is not None else b"")
    return packet(DISCONNECT, 0, body)


def auth5(reason=0x18, props=b""):
    return packet(AUTH, 0, bytes([reason]) + with_len(props))


def sub_options(qos=0, no_local=False, rap=False, rh=0):
    return qos | (0x04 if no_local else 0) | (0x08 if rap else 0) | (rh << 4)


def parse_varint(b, pos):
    """(value, next position); raises ProtocolError when malformed or not minimal."""
    value, shift = 0, 0
    for i in range(4):
        if pos + i >= len(b):
            raise ProtocolError("truncated variable byte integer")
        byte = b[pos + i]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if i and byte == 0:
                raise ProtocolError("variable byte integer not minimal")
            return value, pos + i + 1
    raise ProtocolError("variable byte integer longer than 4 bytes")


def parse_props(b, pos):
    """(list of (name, value) in order, next position) for the property block at pos."""
    length, pos = parse_varint(b, pos)
    end = pos + length
    if end > len(b):
        raise ProtocolError("property block runs past the packet")
    out = []
    while pos < end:
        pid, pos = parse_varint(b, pos)
        if pid not in PROPS:
            raise ProtocolError("unknown property 0x%02x" % pid)
        name, kind = PROPS[pid]

        def take(n):
            nonlocal pos
            if pos + n > end:
                raise ProtocolError("truncated property %s" % name)
            v = b[pos:pos + n]
            pos += n
            return v

        def lstr():
            return take(struct.unpack("!H", take(2))[0])

        if kind == "byte":
            v = take(1)[0]
        elif kind == "u16":
            v = struct.unpack("!H", take(2))[0]
        elif kind == "u32":
            v = struct.unpack("!I", take(4))[0]
        elif kind == "varint":
            v, pos = parse_varint(b[:end], pos)
        elif kind == "pair":
            v = (lstr().decode("utf-8"), lstr().decode("utf-8"))
        elif kind == "str":
            v = lstr().decode("utf-8")
        else:
            v = bytes(lstr())
        out.append((name, v))
    return out, end


class Props(list):
    """Decoded properties in wire order; get() for single ones, all() for repeats."""

    def get(self, name, default=None):
        for n, v in self:
            if n == name:
                return v
        return default

    def all(self, name):
        return [v for n, v in self if n == name]

    def names(self):
        return [n for n, _ in self]


class Packet5(Packet):
    """A decoded 5.0 packet: reason codes and properties besides the 3.1.1 fields."""

    def __init__(self, ptype, flags, body):
        self.reason = None
        self.props = Props()
        super().__init__(ptype, flags, body)

    def _parse(self):
        t, b = self.type, self.body
        if t != PUBLISH:
            self._need(self.flags == (0x02 if t == PUBREL else 0))
        if t == CONNACK:
            self._need(len(b) >= 3 and b[0] & 0xFE == 0)
            self.session_present = b[0] & 1
            self.rc = self.reason = b[1]
            p, end = parse_props(b, 2)
            self._need(end == len(b))
            self.props = Props(p)
        elif t == PUBLISH:
            self.qos = (self.flags >> 1) & 3
            self.dup = bool(self.flags & 0x08)
            self.retain = bool(self.flags & 0x01)
            self._need(self.qos != 3 and len(b) >= 2)
            tlen = struct.unpack("!H", b[:2])[0]
            pos = 2 + tlen
            self._need(len(b) >= pos)
            self.topic = b[2:pos].decode("utf-8")
            if self.qos:
                self.pid = struct.unpack("!H", b[pos:pos + 2])[0]
                self._need(self.pid != 0)
                pos += 2
            p, pos = parse_props(b, pos)
            self.props = Props(p)
            self.payload = b[pos:]
        elif t in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            self._need(len(b) >= 2)
            self.pid = struct.unpack("!H", b[:2])[0]
            self.reason = b[2] if len(b) > 2 else 0
            if len(b) > 3:
                p, end = parse_props(b, 3)
                self._need(end == len(b))
                self.props = Props(p)
        elif t in (SUBACK, UNSUBACK):
            self._need(len(b) >= 3)
            self.pid = struct.unpack("!H", b[:2])[0]
            p, pos = parse_props(b, 2)
            self.props = Props(p)
            self.codes = list(b[pos:])
            self._need(len(self.codes) >= 1)
        elif t in (DISCONNECT, AUTH):
            self.reason = b[0] if b else 0
            if len(b) > 1:
                p, end = parse_props(b, 1)
                self._need(end == len(b))
                self.props = Props(p)
        elif t == PINGRESP:
            self._need(len(b) == 0)
        else:
            raise ProtocolError("server sent a %s packet" % NAMES.get(t, t))

    def __repr__(self):
        base = super().__repr__()
        if self.reason is not None:
            base = base[:-1] + " reason=0x%02x>" % self.reason
        return base


class RawClient5(RawClient):
    """A raw 5.0 client: the same plumbing, packets decoded as 5.0."""

    def _take_packet(self):
        """The next whole packet from the buffer, decoded as 5.0, or None."""
        if len(self.buf) < 2:
            return None
        try:
            length, pos = parse_varint(self.buf, 1)
        except ProtocolError:
            if len(self.buf) < 5:
                return None  # the length itself is not all here yet
            raise
        if len(self.buf) < pos + length:
            return None
        header = self.buf[0]
        body = bytes(self.buf[pos:pos + length])
        del self.buf[:pos + length]
        return Packet5(header >> 4, header & 0x0F, body)

    def connect(self, client_id="", timeout=DEFAULT_TIMEOUT, **kw):
        self.send(connect5(client_id, **kw))
        return self.expect(CONNACK, timeout)

    def subscribe(self, filters, timeout=DEFAULT_TIMEOUT, props=b""):
        """filters: list of (filter, options). Returns the SUBACK packet."""
        pid = self.next_pid()
        self.send(subscribe5(pid, filters, props))
        ack = self.expect(SUBACK, timeout)
        assert ack.pid == pid
        assert len(ack.codes) == len(filters)
        return ack

    def unsubscribe(self, filters, timeout=DEFAULT_TIMEOUT, props=b""):
        pid = self.next_pid()
        self.send(unsubscribe5(pid, filters, props))
        ack = self.expect(UNSUBACK, timeout)
        assert ack.pid == pid
        return ack

    def publish(self, topic, payload=b"", qos=0, retain=False, timeout=DEFAULT_TIMEOUT,
                props=b""):
        """Publishes; returns the PUBACK/PUBREC (QoS 1/2) so its reason can be checked."""
        pid = self.next_pid() if qos else None
        self.send(publish5(topic, payload, qos, retain, pid=pid, props=props))
        if qos == 1:
            ack = self.expect(PUBACK, timeout)
        elif qos == 2:
            ack = self.expect(PUBREC, timeout)
            if ack.reason < 0x80:
                self.send(ack5(PUBREL, pid))
                assert self.expect(PUBCOMP, timeout).pid == pid
        else:
            return None
        assert ack.pid == pid
        return ack

    def ack(self, pkt, timeout=DEFAULT_TIMEOUT):
        if pkt.qos == 1:
            self.send(ack5(PUBACK, pkt.pid))
        elif pkt.qos == 2:
            self.send(ack5(PUBREC, pkt.pid))
            assert self.expect(PUBREL, timeout).pid == pkt.pid
            self.send(ack5(PUBCOMP, pkt.pid))

    def disconnect(self, reason=None, props=None):
        try:
            self.send(disconnect5(reason, props))
        except OSError:
            pass
        self.close()

    def expect_disconnect(self, reason, timeout=DEFAULT_TIMEOUT):
        """The server's DISCONNECT with this reason, then the close. Returns the packet."""
        pkt = self.expect(DISCONNECT, timeout)
        assert pkt.reason == reason, "DISCONNECT reason 0x%02x, expected 0x%02x (%r)" % (
            pkt.reason, reason, pkt.props.get("ReasonString"))
        assert self.wait_closed(timeout) == []
        return pkt


class Paho5:
    """A paho-mqtt 1.6.1 client speaking MQTT 5.0, made synchronous for tests: connect()
    waits for CONNACK, subscribe() for SUBACK, publish() for the end of its QoS flow, and
    messages and server DISCONNECTs are queued for message()/disconnected()."""

    def __init__(self, port, client_id, clean_start=True, properties=None, will=None,
                 username=None, password=None, keepalive=60, timeout=DEFAULT_TIMEOUT):
        import queue

        import paho.mqtt.client as mqtt
        self.mqtt = mqtt
        self.timeout = timeout
        self.msgs = queue.Queue()
        self.acks = queue.Queue()
        self.subacks = queue.Queue()
        self.disconnects = queue.Queue()
        self.c = mqtt.Client(client_id, protocol=mqtt.MQTTv5, reconnect_on_failure=False)
        if username is not None:
            self.c.username_pw_set(username, password)
        if will is not None:  # (topic, payload, qos, retain, Properties or None)
            self.c.will_set(*will)
        self.c.on_connect = lambda c, u, flags, rc, props=None: self.acks.put((flags, rc, props))
        self.c.on_message = lambda c, u, msg: self.msgs.put(msg)
        self.c.on_subscribe = lambda c, u, mid, codes, props=None: self.subacks.put(
            (mid, codes, props))
        self.c.on_disconnect = lambda c, u, rc, props=None: self.disconnects.put((rc, props))
        self.c.connect("127.0.0.1", port, keepalive, clean_start=clean_start,
                       properties=properties)
        self.c.loop_start()
        self.flags, self.rc, self.connack_props = self.acks.get(timeout=timeout)

    def subscribe(self, topic, qos=0, no_local=False, rap=False, rh=0, sub_id=None):
        """Returns the SUBACK reason codes (ints)."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        from paho.mqtt.subscribeoptions import SubscribeOptions
        props = None
        if sub_id is not None:
            props = Properties(PacketTypes.SUBSCRIBE)
            props.SubscriptionIdentifier = sub_id
        opts = SubscribeOptions(qos=qos, noLocal=no_local, retainAsPublished=rap,
                                retainHandling=rh)
        rc, mid = self.c.subscribe(topic, options=opts, properties=props)
        assert rc == self.mqtt.MQTT_ERR_SUCCESS
        got_mid, codes, _ = self.subacks.get(timeout=self.timeout)
        assert got_mid == mid
        return [c.value for c in codes]

    def publish(self, topic, payload=b"", qos=0, retain=False, props=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=props)
        info.wait_for_publish(self.timeout)
        assert info.is_published(), "publish to %s not completed" % topic
        return info

    def message(self, timeout=None):
        import queue
        try:
            return self.msgs.get(timeout=timeout or self.timeout)
        except queue.Empty:
            raise Timeout("no message within %.1fs" % (timeout or self.timeout)) from None

    def no_message(self, timeout=0.3):
        import queue
        try:
            msg = self.msgs.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError("expected no message, got %r on %s" % (msg.payload, msg.topic))

    def disconnected(self, timeout=None):
        """(reason code int, Properties) of the disconnection."""
        rc, props = self.disconnects.get(timeout=timeout or self.timeout)
        return (rc.value if hasattr(rc, "value") else rc), props

    def disconnect(self, reason=None, props=None):
        if reason is not None:
            from paho.mqtt.reasoncodes import ReasonCodes
            from paho.mqtt.packettypes import PacketTypes
            reason = ReasonCodes(PacketTypes.DISCONNECT, identifier=reason)
        self.c.disconnect(reasoncode=reason, properties=props)
        self.c.loop_stop()

    def close(self):
        """Drops the connection without DISCONNECT (the will applies)."""
        self.c.loop_stop()
        try:
            self.c.socket().close()
        except (AttributeError, OSError):
            pass


def pprops(packet_type, **values):
    """paho Properties for packet_type (a PacketTypes name like "PUBLISH") with values."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    p = Properties(getattr(PacketTypes, packet_type))
    for k, v in values.items():
        setattr(p, k, v)
    return p
