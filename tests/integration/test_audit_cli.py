"""`bulwark audit verify|tail|keygen` against logs written here from docs/AUDIT.md alone.

The writer below is a second, independent implementation of the format (Python's hashlib
BLAKE2b, not libsodium), so these tests also check that the document says what the C code
does. Every tamper case is run on a plain and on a keyed chain.
"""

import hashlib
import json
import os
import stat
import subprocess

import pytest

pytestmark = pytest.mark.bulwark_only

ZERO = bytes(32)
TS = "2030-01-02T03:04:05.678Z"


def bulwark(*args, **kw):
    return subprocess.run([os.environ["BULWARK"], "audit"] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=60, **kw)


def esc(value):
    """A JSON string as the audit log writes it: printable ASCII only (docs/AUDIT.md)."""
    out = ['"']
    short = {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r",
             0x09: "\\t"}
    i = 0
    while i < len(value):
        c = value[i]
        if c in short:
            out.append(short[c])
            i += 1
            continue
        if 0x20 <= c < 0x7F:
            out.append(chr(c))
            i += 1
            continue
        cp, used = None, 1
        for n in (1, 2, 3, 4):
            try:
                ch = value[i:i + n].decode("utf-8", errors="strict")
            except UnicodeDecodeError:
                continue
            if len(ch) == 1:
                cp, used = ord(ch), n
                break
        if cp is None:
            cp = 0xFFFD
        if cp >= 0x10000:
            cp -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)))
        else:
            out.append("\\u%04x" % cp)
        i += used
    out.append('"')
    return "".join(out)


class Chain:
    """Writes lines the way auth/audit.c does."""

    def __init__(self, key=None, seq=0, prev=ZERO):
        self.key = key
        self.seq = seq
        self.prev = prev

    def line(self, event, fields=(), seq=None, prev=None, key="same"):
        seq = self.seq + 1 if seq is None else seq
        prev = self.prev if prev is None else prev
        key = self.key if key == "same" else key
        body = '{"ts":"%s","seq":%d,"prev":"%s","event":"%s"' % (TS, seq, prev.hex(), event)
        for k, v in fields:
            body += ',"%s":%s' % (k, esc(v if isinstance(v, bytes) else v.encode()))
        h = hashlib.blake2b(prev + body.encode(), digest_size=32, key=key or b"").digest()
        self.seq, self.prev = seq, h
        return (body + ',"h":"%s"}\n' % h.hex()).encode()

    def start(self):
        return self.line("audit_start", [("format", "bulwark-audit-1"),
                                         ("chain", "keyed" if self.key else "plain"),
                                         ("pid", "1")])

    def head(self):
        return ('{"seq":%d,"h":"%s"}\n' % (self.seq, self.prev.hex())).encode()


def write(path, data, mode=0o600):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return str(path)


@pytest.fixture(params=["plain", "keyed"])
def keyed(request, tmp_path):
    """(key bytes or None, extra CLI args)."""
    if request.param == "plain":
        return None, []
    path = tmp_path / "audit.key"
    r = bulwark("keygen", path)
    assert r.returncode == 0, r.stderr
    key = bytes.fromhex(path.read_text().strip())
    return key, ["--key", str(path)]


def six_lines(key):
    c = Chain(key)
    lines = [c.start(),
             c.line("auth.ok", [("client_id", "alpha"), ("peer", "10.0.0.1:4242")]),
             c.line("auth.fail", [("client_id", "bravo"), ("reason", "bad password")]),
             c.line("acl.deny", [("topic", "charlie/1"), ("action", "publish")]),
             c.line("limit.hit", [("limit", "max_connections")]),
             c.line("policy.reload", [("generation", "2")])]
    return c, lines


def test_keygen_makes_a_private_key_and_never_replaces(tmp_path):
    path = tmp_path / "k"
    r = bulwark("keygen", path)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert len(text) == 65 and text.endswith("\n") and int(text[:64], 16) >= 0
    before = path.read_bytes()
    r = bulwark("keygen", path)
    assert r.returncode == 1 and "File exists" in r.stderr
    assert path.read_bytes() == before
    other = tmp_path / "k2"
    assert bulwark("keygen", other).returncode == 0
    assert other.read_bytes() != before


def test_intact_log_verifies(tmp_path, keyed):
    key, args = keyed
    c, lines = six_lines(key)
    log = write(tmp_path / "audit.log", b"".join(lines))
    write(tmp_path / "audit.log.head", c.head())
    r = bulwark("verify", *args, log)
    assert (r.returncode, r.stdout) == (0, "%s: ok, 6 lines\n" % log), r.stderr
    assert "audit.log.head: using it as the head" in r.stderr
    for line in lines:
        json.loads(line)


def test_hostile_values_are_json_and_verify(tmp_path, keyed):
    key, args = keyed
    c = Chain(key)
    hostile = [("quote", b'","h":"00"}'), ("nl", b"x\n{}\r\n"), ("ls", "a\u2028b\u2029".encode()),
               ("nul", b"a\x00b"), ("invalid", b"\xc0\xaf\xed\xa0\x80\xff\x80"),
               ("emoji", "\U0001f600".encode()), ("bidi", "\u202eevil".encode()),
               ("big", bytes(range(256)) * 256)]
    data = c.start() + c.line("connect", hostile)
    for line in data.splitlines():
        assert all(0x20 <= b < 0x7F for b in line)
    decoded = json.loads(data.splitlines()[1])
    assert decoded["quote"] == '","h":"00"}'
    assert decoded["nl"] == "x\n{}\r\n"
    assert decoded["ls"] == "a\u2028b\u2029"
    assert decoded["nul"] == "a\x00b"
    assert decoded["invalid"] == "\ufffd" * 7
    assert decoded["emoji"] == "\U0001f600"
    log = write(tmp_path / "audit.log", data)
    r = bulwark("verify", *args, log)
    assert r.returncode == 0, r.stdout + r.stderr


def tampered(lines, order):
    return b"".join(lines[i] for i in order)


def mutate(line, old, new):
    assert old in line
    return line.replace(old, new, 1)


TAMPER = {
    # name: (function of (chain, lines) -> bytes, message fragments)
    "changed-value": (lambda c, ls: tampered(ls[:3] + [mutate(ls[3], b"charlie", b"dharlie")]
                                             + ls[4:], range(6)),
                      ["line 4 (seq 4): hash mismatch"]),
    "changed-hash": (lambda c, ls: tampered(ls[:3] + [ls[3][:-10] + (b"0" if ls[3][-10:-9] != b"0"
                                                                      else b"1") + ls[3][-9:]]
                                            + ls[4:], range(6)),
                     ["line 4 (seq 4): hash mismatch"]),
    "changed-seq": (lambda c, ls: tampered(ls[:3] + [mutate(ls[3], b'"seq":4', b'"seq":9')]
                                           + ls[4:], range(6)),
                    ["line 4 (seq 9): hash mismatch"]),
    "inserted-copy": (lambda c, ls: tampered(ls, [0, 1, 2, 2, 3, 4, 5]),
                      ["line 4: seq gap", "seq 3 follows seq 3"]),
    "reordered": (lambda c, ls: tampered(ls, [0, 1, 3, 2, 4, 5]),
                  ["line 3: seq gap", "seq 4 follows seq 2"]),
    "deleted-middle": (lambda c, ls: tampered(ls, [0, 1, 2, 4, 5]),
                       ["line 4: seq gap", "seq 5 follows seq 3"]),
    "deleted-first": (lambda c, ls: tampered(ls, [1, 2, 3, 4, 5]),
                      ["line 1: not a chain start"]),
    "truncated-line": (lambda c, ls: b"".join(ls)[:-7],
                       ["line 6: truncated final line"]),
    "not-json": (lambda c, ls: tampered(ls[:2] + [b"hello world\n"] + ls[3:], range(6)),
                 ["line 3: not JSON-shaped as written"]),
    "raw-newline-in-value": (lambda c, ls: tampered(ls[:1] + [mutate(ls[1], b"alpha", b"al\nha")]
                                                    + ls[2:], range(6)),
                             ["line 2: not JSON-shaped as written"]),
}


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_tampering_is_reported(tmp_path, keyed, case):
    """The first bad line is named and the exit status is 1 (the head is not needed)."""
    key, args = keyed
    c, lines = six_lines(key)
    make, fragments = TAMPER[case]
    log = write(tmp_path / "audit.log", make(c, lines))
    r = bulwark("verify", "--no-head", *args, log)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.startswith(log + ": line ")
    for f in fragments:
        assert f in r.stdout, r.stdout


def test_deleted_last_line_needs_the_head(tmp_path, keyed):
    key, args = keyed
    c, lines = six_lines(key)
    log = write(tmp_path / "audit.log", b"".join(lines[:5]))
    head = write(tmp_path / "audit.log.head", c.head())
    r = bulwark("verify", "--no-head", *args, log)
    assert r.returncode == 0
    assert "lines deleted from the end cannot be detected" in r.stderr
    for extra in ([], ["--head", head]):
        r = bulwark("verify", *args, *extra, log)
        assert r.returncode == 1, r.stdout
        assert "records seq 6, but the chain ends at seq 5" in r.stdout
        assert "deleted from the end" in r.stdout


def test_an_older_head_copy_still_verifies(tmp_path, keyed):
    """The head is a lower bound: a copy kept elsewhere earlier stays valid as the log grows."""
    key, args = keyed
    c, lines = six_lines(key)
    early = write(tmp_path / "early.head", ('{"seq":3,"h":"%s"}\n' % lines[2][-67:-3].decode())
                  .encode())
    log = write(tmp_path / "audit.log", b"".join(lines))
    r = bulwark("verify", *args, "--head", early, log)
    assert r.returncode == 0, r.stdout
    # A head whose hash is not the log's at that seq: the log was rewritten.
    wrong = write(tmp_path / "wrong.head", ('{"seq":3,"h":"%s"}\n' % ("ab" * 32)).encode())
    r = bulwark("verify", *args, "--head", wrong, log)
    assert r.returncode == 1 and "line 3 (seq 3): hash differs from the one in" in r.stdout


def test_forged_line_without_the_key(tmp_path, keyed):
    """An appended line with the right seq and prev but hashed without the key."""
    key, args = keyed
    c, lines = six_lines(key)
    forged = c.line("auth.ok", [("client_id", "mallory")], key=None)
    log = write(tmp_path / "audit.log", b"".join(lines) + forged)
    r = bulwark("verify", "--no-head", *args, log)
    if key:
        assert r.returncode == 1 and "line 7 (seq 7): hash mismatch" in r.stdout
    else:
        assert r.returncode == 0  # the documented limit of a plain chain


def test_keyed_log_needs_its_key(tmp_path):
    kpath = tmp_path / "k"
    assert bulwark("keygen", kpath).returncode == 0
    other = tmp_path / "other"
    assert bulwark("keygen", other).returncode == 0
    key = bytes.fromhex(kpath.read_text().strip())
    c, lines = six_lines(key)
    log = write(tmp_path / "audit.log", b"".join(lines))
    r = bulwark("verify", log)
    assert r.returncode == 1 and "line 1: the chain is keyed" in r.stdout
    r = bulwark("verify", "--key", other, log)
    assert r.returncode == 1 and "line 1 (seq 1): hash mismatch" in r.stdout
    # A plain chain presented where a keyed one is expected (rewritten without the key).
    c2, plain = six_lines(None)
    write(log, b"".join(plain))
    r = bulwark("verify", "--key", kpath, log)
    assert r.returncode == 1 and "the chain is not keyed, yet a key was given" in r.stdout
    os.chmod(kpath, 0o644)
    r = bulwark("verify", "--key", kpath, log)
    assert r.returncode == 1 and "chmod 600" in r.stderr


def test_rotated_files_verify_as_one_chain(tmp_path, keyed):
    key, args = keyed
    c = Chain(key)
    first = write(tmp_path / "audit.log.1", c.start() + c.line("a", [("n", "1")]))
    second = write(tmp_path / "audit.log", c.start() + c.line("b", [("n", "2")]))
    write(tmp_path / "audit.log.head", c.head())
    r = bulwark("verify", *args, first, second)
    assert r.returncode == 0, r.stdout
    assert r.stdout == "%s: ok, 2 lines\n%s: ok, 2 lines\n" % (first, second)
    r = bulwark("verify", *args, second)
    assert r.returncode == 0
    assert "continues a chain up to seq 2 that was not given" in r.stderr
    r = bulwark("verify", *args, second, first)
    assert r.returncode == 1 and "\n" + first + ": line 1: seq gap" in r.stdout
    # A middle file missing.
    mid = Chain(key, seq=c.seq, prev=c.prev)
    third = write(tmp_path / "audit.log.3", mid.start())
    r = bulwark("verify", "--no-head", *args, first, third)
    assert r.returncode == 1 and "seq gap" in r.stdout


def test_overlong_line_is_refused_with_bounded_memory(tmp_path):
    log = write(tmp_path / "audit.log", b"x" * (3 << 20))
    r = bulwark("verify", log)
    assert r.returncode == 1 and "line 1: longer than 1048576 bytes" in r.stdout


def test_missing_and_empty_files(tmp_path):
    r = bulwark("verify", tmp_path / "nope.log")
    assert r.returncode == 1 and "cannot open" in r.stdout
    log = write(tmp_path / "empty.log", b"")
    r = bulwark("verify", log)
    assert r.returncode == 1 and "empty file" in r.stdout


def test_usage_errors_exit_2(tmp_path):
    for args in ([], ["verify"], ["verify", "--key"], ["verify", "--bogus", "x"],
                 ["verify", "--head", "h", "--no-head", "x"], ["tail"], ["tail", "-n", "0", "x"],
                 ["tail", "-n", "abc", "x"], ["keygen"], ["frobnicate"]):
        r = bulwark(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "usage" in r.stderr or "bulwark audit" in r.stderr


def test_tail_prints_the_last_lines_safely(tmp_path):
    c, lines = six_lines(None)
    log = write(tmp_path / "audit.log", b"".join(lines))
    r = bulwark("tail", "-n", "2", log)
    assert r.returncode == 0 and r.stdout.encode() == lines[4] + lines[5]
    r = bulwark("tail", log)
    assert r.stdout.encode() == b"".join(lines)
    r = bulwark("tail", "-n", "100", log)
    assert r.stdout.encode() == b"".join(lines)
    # A tampered log cannot send escape sequences to the terminal; a cut line still ends.
    write(log, b"ok\n\x1b]0;owned\x07\xff\xfe done")
    r = subprocess.run([os.environ["BULWARK"], "audit", "tail", "-n", "1", log],
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout == b"?]0;owned??? done\n"
