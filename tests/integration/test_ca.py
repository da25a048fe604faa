"""`bulwark ca`: the real CLI ($BULWARK) making a CA, device and server certificates, checked
with Debian's openssl and used by a real mosquitto and its clients."""

import calendar
import json
import os
import re
import shutil
import stat
import subprocess
import threading
import time

import pytest

from broker import free_port, wait_until

pytestmark = pytest.mark.bulwark_only

DAY = 86400
SKEW = 300  # notBefore lies five minutes before the moment of issue


def bulwark(*args, umask=None):
    exe = os.environ["BULWARK"]
    pre = (lambda: os.umask(umask)) if umask is not None else None
    r = subprocess.run([exe] + list(args), capture_output=True, text=True, timeout=120,
                       preexec_fn=pre)
    # under ASan a leak or UB report exits 1 too: never let it pass for a refusal
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    return r


def ok(*args):
    r = bulwark(*args)
    assert r.returncode == 0, "bulwark %s: %s" % (" ".join(args), r.stderr)
    return r


def openssl(*args, check=True, input=None):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, timeout=60,
                       input=input)
    if check:
        assert r.returncode == 0, "openssl %s: %s" % (" ".join(args), r.stderr)
    return r


def cert_text(path):
    return openssl("x509", "-in", path, "-noout", "-text").stdout


def cert_serial(path):
    """openssl's uppercase serial, canonicalised the way bulwark writes it."""
    out = openssl("x509", "-in", path, "-noout", "-serial").stdout.strip()
    return out.split("=", 1)[1].lower().lstrip("0")


def cert_dates(path):
    out = openssl("x509", "-in", path, "-noout", "-startdate", "-enddate").stdout
    d = dict(line.split("=", 1) for line in out.strip().splitlines())
    parse = lambda s: calendar.timegm(time.strptime(s, "%b %d %H:%M:%S %Y GMT"))
    return parse(d["notBefore"]), parse(d["notAfter"])


def ext(text, name):
    """The lines of extension `name` in openssl's -text output: header, then values."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(name):
            return line.strip(), lines[i + 1].strip()
    return None


def pubkey_of_cert(path):
    return openssl("x509", "-in", path, "-noout", "-pubkey").stdout


def pubkey_of_key(path):
    return openssl("pkey", "-in", path, "-pubout").stdout


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def index_lines(ca):
    with open(os.path.join(ca, "index.tsv")) as f:
        return [line.rstrip("\n").split("\t") for line in f if not line.startswith("#")]


def revoked_entries(ca):
    with open(os.path.join(ca, "revoked")) as f:
        return [line.rstrip("\n").split("\t") for line in f
                if line.strip() and not line.startswith("#")]


def list_json(ca):
    return json.loads(ok("ca", "list", "--dir", ca, "--json").stdout)


def verify(ca, cert, purpose):
    return openssl("verify", "-CAfile", os.path.join(ca, "ca.crt"), "-purpose", purpose, cert,
                   check=False)


@pytest.fixture
def ca(tmp_path):
    d = str(tmp_path / "ca")
    ok("ca", "init", "--dir", d)
    return d


def make_csr(tmp_path, cn, name="dev", newkey=("ec", "-pkeyopt", "ec_paramgen_curve:P-256")):
    key, csr = str(tmp_path / (name + ".key")), str(tmp_path / (name + ".csr"))
    openssl("req", "-new", "-newkey", *newkey, "-nodes", "-keyout", key, "-subj", "/CN=" + cn,
            "-out", csr)
    return key, csr


# --- init ---------------------------------------------------------------------------------------

def test_init_makes_a_ca_with_the_promised_extensions(ca):
    assert mode(ca) == 0o700
    assert mode(os.path.join(ca, "ca.key")) == 0o600
    assert mode(os.path.join(ca, "ca.crt")) == 0o644
    assert mode(os.path.join(ca, "revoked")) == 0o644
    assert mode(os.path.join(ca, "issued")) == 0o700
    for name in ("index.tsv", "serial-state"):
        assert os.path.isfile(os.path.join(ca, name))
    assert index_lines(ca) == []
    assert revoked_entries(ca) == []
    assert ok("ca", "list", "--dir", ca).stdout == ""

    crt = os.path.join(ca, "ca.crt")
    text = cert_text(crt)
    assert "Subject: CN = bulwark device CA, O = bulwark" in text
    assert "Issuer: CN = bulwark device CA, O = bulwark" in text
    assert "Signature Algorithm: ecdsa-with-SHA256" in text
    assert "NIST CURVE: P-256" in text
    assert ext(text, "X509v3 Basic Constraints") == ("X509v3 Basic Constraints: critical",
                                                     "CA:TRUE")
    assert ext(text, "X509v3 Key Usage") == ("X509v3 Key Usage: critical",
                                             "Certificate Sign, CRL Sign")
    assert ext(text, "X509v3 Subject Key Identifier") is not None
    assert "Extended Key Usage" not in text
    # self-signed and usable as a trust anchor
    assert verify(ca, crt, "any").returncode == 0
    assert pubkey_of_cert(crt) == pubkey_of_key(os.path.join(ca, "ca.key"))
    # ten years, starting five minutes back
    before, after = cert_dates(crt)
    assert after - before == 3650 * DAY + SKEW


def test_init_serial_is_16_random_positive_bytes(tmp_path):
    serials = set()
    for i in range(4):
        d = str(tmp_path / ("ca%d" % i))
        ok("ca", "init", "--dir", d)
        s = cert_serial(os.path.join(d, "ca.crt"))
        value = int(s, 16)
        assert 1 << 120 <= value < 1 << 127  # first byte non-zero, top bit clear
        serials.add(s)
    assert len(serials) == 4


def test_init_name_days_and_ed25519(tmp_path):
    d = str(tmp_path / "ed")
    r = ok("ca", "init", "--dir", d, "--name", "Plant 7 devices", "--ed25519", "--days", "30")
    assert "Ed25519" in r.stdout
    text = cert_text(os.path.join(d, "ca.crt"))
    assert "Subject: CN = Plant 7 devices, O = bulwark" in text
    assert "Signature Algorithm: ED25519" in text
    assert ext(text, "X509v3 Basic Constraints")[0].endswith("critical")
    before, after = cert_dates(os.path.join(d, "ca.crt"))
    assert after - before == 30 * DAY + SKEW


def test_init_refuses_to_overwrite(ca):
    with open(os.path.join(ca, "ca.key"), "rb") as f:
        key = f.read()
    r = bulwark("ca", "init", "--dir", ca)
    assert r.returncode == 1
    assert "already holds a CA" in r.stderr
    with open(os.path.join(ca, "ca.key"), "rb") as f:
        assert f.read() == key


def test_init_into_an_existing_empty_directory_tightens_it(tmp_path):
    d = tmp_path / "empty"
    d.mkdir(mode=0o755)
    ok("ca", "init", "--dir", str(d))
    assert mode(str(d)) == 0o700


@pytest.mark.parametrize("umask", [0o000, 0o077])
def test_init_modes_do_not_depend_on_the_umask(tmp_path, umask):
    d = str(tmp_path / "ca")
    r = bulwark("ca", "init", "--dir", d, umask=umask)
    assert r.returncode == 0, r.stderr
    assert mode(os.path.join(d, "ca.key")) == 0o600
    assert mode(os.path.join(d, "ca.crt")) == 0o644
    assert mode(d) == 0o700
    r = bulwark("ca", "issue", "--dir", d, "--client-id", "dev", umask=umask)
    assert r.returncode == 0, r.stderr
    assert mode(os.path.join(d, "issued", "dev.key")) == 0o600
    assert mode(os.path.join(d, "issued", "dev.crt")) == 0o644


def test_init_refusals_and_usage(tmp_path):
    d = str(tmp_path / "x")
    assert bulwark("ca", "init").returncode == 2
    assert bulwark("ca", "init", "--dir").returncode == 2
    assert bulwark("ca", "init", "--dir", d, "--days", "ten").returncode == 2
    assert bulwark("ca", "init", "--dir", d, "--days", "0").returncode == 2
    assert bulwark("ca", "init", "--dir", d, "--client-id", "x").returncode == 2
    assert bulwark("ca", "init", "--dir", d, "--frobnicate").returncode == 2
    r = bulwark("ca", "init", "--dir", d, "--name", "n" * 65)
    assert r.returncode == 1 and "--name" in r.stderr
    assert bulwark("ca", "init", "--dir", d, "--name", "tab\there").returncode == 1
    assert bulwark("ca", "init", "--dir", d, "--days", "10951").returncode == 1
    assert not os.path.exists(os.path.join(d, "ca.key"))
    plain = tmp_path / "file"
    plain.write_text("x")
    assert bulwark("ca", "init", "--dir", str(plain)).returncode == 1


# --- issue --------------------------------------------------------------------------------------

def test_issue_client_certificate(ca):
    r = ok("ca", "issue", "--dir", ca, "--client-id", "dev-1")
    crt = os.path.join(ca, "issued", "dev-1.crt")
    key = os.path.join(ca, "issued", "dev-1.key")
    assert mode(key) == 0o600 and mode(crt) == 0o644
    assert verify(ca, crt, "sslclient").returncode == 0
    # a client certificate is no server certificate
    assert verify(ca, crt, "sslserver").returncode != 0
    text = cert_text(crt)
    assert "Subject: CN = dev-1\n" in text
    assert "Issuer: CN = bulwark device CA, O = bulwark" in text
    assert ext(text, "X509v3 Key Usage") == ("X509v3 Key Usage: critical", "Digital Signature")
    assert ext(text, "X509v3 Extended Key Usage")[1] == "TLS Web Client Authentication"
    assert ext(text, "X509v3 Basic Constraints")[1] == "CA:FALSE"
    ca_ski = ext(cert_text(os.path.join(ca, "ca.crt")), "X509v3 Subject Key Identifier")[1]
    assert ext(text, "X509v3 Authority Key Identifier")[1].replace("keyid:", "") == ca_ski
    assert ext(text, "X509v3 Subject Key Identifier") is not None
    assert "Subject Alternative Name" not in text
    assert "NIST CURVE: P-256" in text
    assert pubkey_of_cert(crt) == pubkey_of_key(key)
    before, after = cert_dates(crt)
    assert after - before == 365 * DAY + SKEW
    serial = cert_serial(crt)
    assert serial in r.stdout
    assert index_lines(ca) == [[serial, "client", index_lines(ca)[0][2], str(after), "0",
                                "dev-1"]]
    assert ok("ca", "list", "--dir", ca).stdout.split("\t") == [
        serial, "dev-1", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(after)), "valid",
        "client\n"]


def test_issue_serials_are_canonical_and_distinct(ca):
    for i in range(12):
        ok("ca", "issue", "--dir", ca, "--client-id", "d%d" % i)
    rows = index_lines(ca)
    assert len({r[0] for r in rows}) == 12
    for i, row in enumerate(rows):
        assert re.fullmatch(r"[1-9a-f][0-9a-f]{30,31}", row[0]), row[0]
        assert cert_serial(os.path.join(ca, "issued", "d%d.crt" % i)) == row[0]
        assert int(row[0], 16) < 1 << 127


def test_issue_ed25519_key_and_out_prefix(tmp_path):
    # The longest client validity (3650 days) needs a CA that outlives it: the default CA
    # (3650 days) expires a few seconds too early once a second has passed since init.
    ca = str(tmp_path / "ca")
    ok("ca", "init", "--dir", ca, "--days", "3660")
    prefix = str(tmp_path / "elsewhere" / "sensor")
    os.mkdir(os.path.dirname(prefix))
    ok("ca", "issue", "--dir", ca, "--client-id", "sensor-7", "--ed25519", "--out", prefix,
       "--days", "3650")
    crt, key = prefix + ".crt", prefix + ".key"
    assert verify(ca, crt, "sslclient").returncode == 0
    assert "Public Key Algorithm: ED25519" in cert_text(crt)
    assert pubkey_of_cert(crt) == pubkey_of_key(key)
    assert mode(key) == 0o600
    before, after = cert_dates(crt)
    assert after - before == 3650 * DAY + SKEW


def test_issue_subject_alternative_names(ca):
    ok("ca", "issue", "--dir", ca, "--client-id", "pump-3", "--san-uri",
       "urn:bulwark:client:pump-3", "--san-uri", "spiffe://plant/pump-3", "--san-dns",
       "pump-3.plant.example")
    text = cert_text(os.path.join(ca, "issued", "pump-3.crt"))
    assert ext(text, "X509v3 Subject Alternative Name")[1] == (
        "URI:urn:bulwark:client:pump-3, URI:spiffe://plant/pump-3, DNS:pump-3.plant.example")
    assert "Subject: CN = pump-3\n" in text


def test_issue_san_bounds(ca):
    many = []
    for i in range(9):
        many += ["--san-uri", "urn:x:%d" % i]
    assert bulwark("ca", "issue", "--dir", ca, "--client-id", "a", *many).returncode == 2
    ok("ca", "issue", "--dir", ca, "--client-id", "a", *many[:16])
    for bad in ["no-scheme", "1x:y", "urn:", ":x", "urn:has space", "urn:" + "x" * 600]:
        r = bulwark("ca", "issue", "--dir", ca, "--client-id", "b", "--san-uri", bad)
        assert r.returncode == 1, bad
    for bad in ["-x.example", "a..b", "under_score.example", "x" * 64 + ".example", "*"]:
        r = bulwark("ca", "issue", "--dir", ca, "--client-id", "b", "--san-dns", bad)
        assert r.returncode == 1, bad
    assert not os.path.exists(os.path.join(ca, "issued", "b.crt"))
    assert len(index_lines(ca)) == 1


@pytest.mark.parametrize("client_id", ["", "a/b", "a+b", "a#b", " lead", "trail ", "tab\tx",
                                       "nl\nx", "x" * 129, "caf\u00e9", "del\x7f"])
def test_issue_refuses_bad_client_ids(ca, client_id):
    r = bulwark("ca", "issue", "--dir", ca, "--client-id", client_id)
    assert r.returncode == 1
    assert "client id" in r.stderr
    assert os.listdir(os.path.join(ca, "issued")) == []
    assert index_lines(ca) == []


@pytest.mark.parametrize("client_id", ["x" * 128, "dev 7", 'a.b-c_d@e:f=g,h"i\\j', "..", "-x",
                                       "$SYS"])
def test_issue_accepts_edge_client_ids(ca, tmp_path, client_id):
    prefix = str(tmp_path / "out")
    ok("ca", "issue", "--dir", ca, "--client-id", client_id, "--out", prefix)
    crt = prefix + ".crt"
    assert verify(ca, crt, "sslclient").returncode == 0
    subject = openssl("x509", "-in", crt, "-noout", "-subject", "-nameopt",
                      "sep_multiline,utf8").stdout
    assert subject == "subject=\n    CN=%s\n" % client_id
    assert index_lines(ca)[0][5] == client_id


def test_issue_never_overwrites(ca):
    ok("ca", "issue", "--dir", ca, "--client-id", "dev")
    crt = os.path.join(ca, "issued", "dev.crt")
    with open(crt) as f:
        before = f.read()
    r = bulwark("ca", "issue", "--dir", ca, "--client-id", "dev")
    assert r.returncode == 1 and "exists" in r.stderr
    with open(crt) as f:
        assert f.read() == before
    assert len(index_lines(ca)) == 1
    # a leftover key alone also blocks the pair
    os.unlink(crt)
    assert bulwark("ca", "issue", "--dir", ca, "--client-id", "dev").returncode == 1


def test_issue_validity_bounds(tmp_path):
    d = str(tmp_path / "ca")
    ok("ca", "init", "--dir", d)
    assert bulwark("ca", "issue", "--dir", d, "--client-id", "a", "--days", "3651").returncode \
        == 1
    assert bulwark("ca", "issue", "--dir", d, "--client-id", "a", "--days", "-1").returncode \
        == 2
    ok("ca", "issue", "--dir", d, "--client-id", "a", "--days", "1")
    before, after = cert_dates(os.path.join(d, "issued", "a.crt"))
    assert after - before == DAY + SKEW
    # nothing may outlive its CA
    short = str(tmp_path / "short")
    ok("ca", "init", "--dir", short, "--days", "30")
    r = bulwark("ca", "issue", "--dir", short, "--client-id", "a")
    assert r.returncode == 1 and "outlive" in r.stderr
    ok("ca", "issue", "--dir", short, "--client-id", "a", "--days", "29")


def test_issue_needs_a_ca(tmp_path):
    r = bulwark("ca", "issue", "--dir", str(tmp_path / "none"), "--client-id", "a")
    assert r.returncode == 1
    assert bulwark("ca", "issue", "--dir", str(tmp_path)).returncode == 2


def test_issue_refuses_a_readable_ca_key(ca):
    os.chmod(os.path.join(ca, "ca.key"), 0o640)
    r = bulwark("ca", "issue", "--dir", ca, "--client-id", "a")
    assert r.returncode == 1 and "chmod 600" in r.stderr
    assert os.listdir(os.path.join(ca, "issued")) == []


def test_issue_refuses_a_key_that_is_not_the_cas(ca, tmp_path):
    other = str(tmp_path / "other")
    ok("ca", "init", "--dir", other)
    shutil.copy(os.path.join(other, "ca.key"), os.path.join(ca, "ca.key"))
    r = bulwark("ca", "issue", "--dir", ca, "--client-id", "a")
    assert r.returncode == 1 and "not the key of ca.crt" in r.stderr


def test_parallel_issues_get_distinct_serials(ca):
    results = []

    def run(i):
        results.append(bulwark("ca", "issue", "--dir", ca, "--client-id", "p%d" % i))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results]
    rows = index_lines(ca)
    assert sorted(r[5] for r in rows) == ["p%d" % i for i in range(8)]
    assert len({r[0] for r in rows}) == 8
    with open(os.path.join(ca, "serial-state")) as f:
        assert "issued 8\n" in f.read()


def test_truncated_index_is_refused(ca):
    for i in range(3):
        ok("ca", "issue", "--dir", ca, "--client-id", "d%d" % i)
    path = os.path.join(ca, "index.tsv")
    with open(path) as f:
        lines = f.readlines()
    with open(path, "w") as f:
        f.writelines(lines[:-1])
    r = bulwark("ca", "list", "--dir", ca)
    assert r.returncode == 1 and "truncated" in r.stderr
    assert bulwark("ca", "issue", "--dir", ca, "--client-id", "d9").returncode == 1
    with open(path, "w") as f:
        f.writelines(lines[:-1] + [lines[-1].replace("\tclient\t", "\tbogus\t")])
    r = bulwark("ca", "list", "--dir", ca)
    assert r.returncode == 1 and "index.tsv:5: malformed" in r.stderr


# --- sign ---------------------------------------------------------------------------------------

def test_sign_csr_keeps_the_device_key(ca, tmp_path):
    key, csr = make_csr(tmp_path, "dev-csr")
    r = ok("ca", "sign", "--dir", ca, "--csr", csr)
    crt = os.path.join(ca, "issued", "dev-csr.crt")
    assert not os.path.exists(os.path.join(ca, "issued", "dev-csr.key"))
    assert verify(ca, crt, "sslclient").returncode == 0
    assert pubkey_of_cert(crt) == pubkey_of_key(key)
    text = cert_text(crt)
    assert "Subject: CN = dev-csr\n" in text
    assert ext(text, "X509v3 Key Usage") == ("X509v3 Key Usage: critical", "Digital Signature")
    assert ext(text, "X509v3 Extended Key Usage")[1] == "TLS Web Client Authentication"
    assert ext(text, "X509v3 Basic Constraints")[1] == "CA:FALSE"
    assert cert_serial(crt) in r.stdout
    assert [row[5] for row in index_lines(ca)] == ["dev-csr"]


def test_sign_client_id_overrides_and_out(ca, tmp_path):
    key, csr = make_csr(tmp_path, "whatever\\/the\\+device#says")  # openssl -subj escapes
    out = str(tmp_path / "signed.pem")
    # the request's CN is no valid client id: refused unless overridden
    r = bulwark("ca", "sign", "--dir", ca, "--csr", csr)
    assert r.returncode == 1 and "--client-id" in r.stderr
    ok("ca", "sign", "--dir", ca, "--csr", csr, "--client-id", "plc-9", "--out", out, "--days",
       "90", "--san-uri", "urn:bulwark:client:plc-9")
    text = cert_text(out)
    assert "Subject: CN = plc-9\n" in text
    assert "URI:urn:bulwark:client:plc-9" in text
    before, after = cert_dates(out)
    assert after - before == 90 * DAY + SKEW
    assert verify(ca, out, "sslclient").returncode == 0


def test_sign_ed25519_request(ca, tmp_path):
    key, csr = make_csr(tmp_path, "ed-dev", newkey=("ed25519",))
    ok("ca", "sign", "--dir", ca, "--csr", csr)
    crt = os.path.join(ca, "issued", "ed-dev.crt")
    assert verify(ca, crt, "sslclient").returncode == 0
    assert pubkey_of_cert(crt) == pubkey_of_key(key)


def test_sign_der_request(ca, tmp_path):
    key, csr = make_csr(tmp_path, "der-dev")
    der = str(tmp_path / "req.der")
    openssl("req", "-in", csr, "-outform", "DER", "-out", der)
    ok("ca", "sign", "--dir", ca, "--csr", der)
    assert verify(ca, os.path.join(ca, "issued", "der-dev.crt"), "sslclient").returncode == 0


def _tamper(csr_path, out_path, what):
    r = subprocess.run(["openssl", "req", "-in", csr_path, "-outform", "DER"],
                       capture_output=True, timeout=60, check=True)
    der = bytearray(r.stdout)
    if what == "subject":
        i = der.find(b"victim")
        der[i] = ord("V")  # the signed part changed: the signature no longer matches
    else:
        der[-5] ^= 0x01  # a bit of the signature itself
    with open(out_path, "wb") as f:
        f.write(der)


@pytest.mark.parametrize("what", ["subject", "signature"])
def test_sign_refuses_a_bad_signature(ca, tmp_path, what):
    key, csr = make_csr(tmp_path, "victim")
    bad = str(tmp_path / "bad.der")
    _tamper(csr, bad, what)
    r = bulwark("ca", "sign", "--dir", ca, "--csr", bad, "--client-id", "victim")
    assert r.returncode == 1
    assert "signature" in r.stderr
    assert os.listdir(os.path.join(ca, "issued")) == []
    assert index_lines(ca) == []


def test_sign_refuses_other_inputs(ca, tmp_path):
    _, rsa_csr = make_csr(tmp_path, "rsa-dev", name="rsa", newkey=("rsa:2048",))
    r = bulwark("ca", "sign", "--dir", ca, "--csr", rsa_csr)
    assert r.returncode == 1 and "neither" in r.stderr
    garbage = tmp_path / "garbage.csr"
    garbage.write_text("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                       "-----END CERTIFICATE REQUEST-----\n")
    assert bulwark("ca", "sign", "--dir", ca, "--csr", str(garbage)).returncode == 1
    # a certificate is not a request
    r = bulwark("ca", "sign", "--dir", ca, "--csr", os.path.join(ca, "ca.crt"))
    assert r.returncode == 1
    big = tmp_path / "big.csr"
    big.write_bytes(b"0" * 70000)
    r = bulwark("ca", "sign", "--dir", ca, "--csr", str(big))
    assert r.returncode == 1 and "larger than" in r.stderr
    assert bulwark("ca", "sign", "--dir", ca, "--csr", str(tmp_path / "none")).returncode == 1
    assert bulwark("ca", "sign", "--dir", ca).returncode == 2
    assert index_lines(ca) == []


# --- server-cert --------------------------------------------------------------------------------

def test_server_cert(ca):
    r = ok("ca", "server-cert", "--dir", ca, "--dns", "localhost", "--dns", "mqtt.example",
           "--ip", "127.0.0.1", "--ip", "::1")
    crt, key = os.path.join(ca, "server.crt"), os.path.join(ca, "server.key")
    assert mode(key) == 0o600
    assert verify(ca, crt, "sslserver").returncode == 0
    assert verify(ca, crt, "sslclient").returncode != 0
    for flag, value in (("-verify_hostname", "localhost"), ("-verify_hostname", "mqtt.example"),
                        ("-verify_ip", "127.0.0.1"), ("-verify_ip", "::1")):
        assert openssl("verify", "-CAfile", os.path.join(ca, "ca.crt"), flag, value, crt,
                       check=False).returncode == 0, value
    assert openssl("verify", "-CAfile", os.path.join(ca, "ca.crt"), "-verify_hostname",
                   "other.example", crt, check=False).returncode != 0
    text = cert_text(crt)
    assert "Subject: CN = localhost\n" in text
    assert ext(text, "X509v3 Subject Alternative Name")[1] == (
        "DNS:localhost, DNS:mqtt.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1")
    assert ext(text, "X509v3 Extended Key Usage")[1] == "TLS Web Server Authentication"
    assert ext(text, "X509v3 Key Usage") == ("X509v3 Key Usage: critical", "Digital Signature")
    assert pubkey_of_cert(crt) == pubkey_of_key(key)
    before, after = cert_dates(crt)
    assert after - before == 398 * DAY + SKEW
    assert cert_serial(crt) in r.stdout
    assert [(row[1], row[5]) for row in index_lines(ca)] == [("server", "localhost")]


def test_server_cert_refusals(ca, tmp_path):
    assert bulwark("ca", "server-cert", "--dir", ca).returncode == 2
    assert bulwark("ca", "server-cert", "--dir", ca, "--ip", "127.0.0.1").returncode == 2
    for bad in (["--dns", "bad_name"], ["--dns", "ok.example", "--ip", "300.1.1.1"],
                ["--dns", "ok.example", "--ip", "localhost"], ["--dns", "x", "--days", "399"],
                ["--dns", "x" * 129]):
        r = bulwark("ca", "server-cert", "--dir", ca, *bad)
        assert r.returncode == 1, bad
    assert bulwark("ca", "server-cert", "--dir", ca, "--dns", "x", "--ed25519").returncode == 2
    assert index_lines(ca) == []
    ok("ca", "server-cert", "--dir", ca, "--dns", "*.plant.example", "--days", "30")
    assert verify(ca, os.path.join(ca, "server.crt"), "sslserver").returncode == 0
    # the default files exist now: a second one needs --out
    assert bulwark("ca", "server-cert", "--dir", ca, "--dns", "x").returncode == 1
    ok("ca", "server-cert", "--dir", ca, "--dns", "x", "--out", str(tmp_path / "next"))


def test_ed25519_ca_end_to_end(tmp_path):
    d = str(tmp_path / "edca")
    ok("ca", "init", "--dir", d, "--ed25519")
    ok("ca", "issue", "--dir", d, "--client-id", "p256-dev")
    ok("ca", "issue", "--dir", d, "--client-id", "ed-dev", "--ed25519")
    _, csr = make_csr(tmp_path, "csr-dev")
    ok("ca", "sign", "--dir", d, "--csr", csr)
    ok("ca", "server-cert", "--dir", d, "--dns", "localhost")
    for name in ("p256-dev", "ed-dev", "csr-dev"):
        crt = os.path.join(d, "issued", name + ".crt")
        assert verify(d, crt, "sslclient").returncode == 0, name
        assert "Signature Algorithm: ED25519" in cert_text(crt)
    assert verify(d, os.path.join(d, "server.crt"), "sslserver").returncode == 0


# --- revoke and list ----------------------------------------------------------------------------

def test_revoke_by_client_id_and_serial(ca, tmp_path):
    ok("ca", "issue", "--dir", ca, "--client-id", "dev-a")
    ok("ca", "issue", "--dir", ca, "--client-id", "dev-a", "--out", str(tmp_path / "a2"))
    ok("ca", "issue", "--dir", ca, "--client-id", "dev-b")
    ok("ca", "server-cert", "--dir", ca, "--dns", "localhost")
    a1 = cert_serial(os.path.join(ca, "issued", "dev-a.crt"))
    a2 = cert_serial(str(tmp_path / "a2.crt"))
    b = cert_serial(os.path.join(ca, "issued", "dev-b.crt"))

    r = ok("ca", "revoke", "--dir", ca, "dev-a")
    assert a1 in r.stdout and a2 in r.stdout and b not in r.stdout
    entries = revoked_entries(ca)
    assert sorted(e[0] for e in entries) == sorted([a1, a2])
    for e in entries:
        assert len(e) == 3 and e[2] == "dev-a" and e[1].isdigit()
    assert mode(os.path.join(ca, "revoked")) == 0o644
    status = {e["serial"]: e["status"] for e in list_json(ca)}
    assert status == {a1: "revoked", a2: "revoked", b: "valid",
                      index_lines(ca)[3][0]: "valid"}

    # openssl's form of a serial: uppercase with colons and a leading zero
    shown = ":".join(re.findall("..", ("0" + b.upper()) if len(b) % 2 else "00" + b.upper()))
    r = ok("ca", "revoke", "--dir", ca, "--serial", shown)
    assert b in r.stdout
    assert sorted(e[0] for e in revoked_entries(ca)) == sorted([a1, a2, b])
    # again: nothing changes, not an error
    r = ok("ca", "revoke", "--dir", ca, "dev-b")
    assert "nothing to revoke" in r.stdout
    assert len(revoked_entries(ca)) == 3


def test_revoke_unknown_is_an_error(ca):
    ok("ca", "issue", "--dir", ca, "--client-id", "dev")
    for args in (["nobody"], ["--serial", "1234abcd"], ["--client-id", "nobody"],
                 ["--serial", "not-hex"]):
        r = bulwark("ca", "revoke", "--dir", ca, *args)
        assert r.returncode == 1, args
        assert "no certificate" in r.stderr
    assert revoked_entries(ca) == []
    assert bulwark("ca", "revoke", "--dir", ca).returncode == 2
    assert bulwark("ca", "revoke", "--dir", ca, "a", "b").returncode == 2
    assert bulwark("ca", "revoke", "--dir", ca, "dev", "--serial", "12").returncode == 2


def test_revoke_ambiguous_argument(ca, tmp_path):
    ok("ca", "issue", "--dir", ca, "--client-id", "first")
    serial = index_lines(ca)[0][0]
    # a device whose client id is the other certificate's serial
    ok("ca", "issue", "--dir", ca, "--client-id", serial, "--out", str(tmp_path / "twin"))
    r = bulwark("ca", "revoke", "--dir", ca, serial)
    assert r.returncode == 1 and "both" in r.stderr
    ok("ca", "revoke", "--dir", ca, "--client-id", serial)
    assert [e[2] for e in revoked_entries(ca)] == [serial]
    ok("ca", "revoke", "--dir", ca, "--serial", serial)
    assert sorted(e[2] for e in revoked_entries(ca)) == sorted([serial, "first"])


def test_list_statuses_and_json(ca):
    ok("ca", "issue", "--dir", ca, "--client-id", "fresh")
    ok("ca", "issue", "--dir", ca, "--client-id", 'quo"te\\s')
    ok("ca", "issue", "--dir", ca, "--client-id", "old")
    ok("ca", "server-cert", "--dir", ca, "--dns", "localhost")
    ok("ca", "revoke", "--dir", ca, "fresh")
    # make "old" expired: its not-after a day in the past
    path = os.path.join(ca, "index.tsv")
    with open(path) as f:
        text = f.read()
    past = str(int(time.time()) - DAY)
    rows = [line.split("\t") for line in text.splitlines()]
    for row in rows:
        if row[-1] == "old":
            row[3] = past
    with open(path, "w") as f:
        f.write("\n".join("\t".join(r) for r in rows) + "\n")

    got = list_json(ca)
    assert [(e["cn"], e["status"], e["kind"]) for e in got] == [
        ("fresh", "revoked", "client"), ('quo"te\\s', "valid", "client"),
        ("old", "expired", "client"), ("localhost", "valid", "server")]
    assert "revoked_at" in got[0] and "revoked_at" not in got[1]
    assert got[2]["not_after"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(past)))
    lines = ok("ca", "list", "--dir", ca).stdout.splitlines()
    assert [line.split("\t")[3] for line in lines] == ["revoked", "valid", "expired", "valid"]
    # an expired certificate is not "still valid": revoking its id changes nothing
    r = ok("ca", "revoke", "--dir", ca, "old")
    assert "nothing to revoke" in r.stdout
    assert ok("ca", "list", "--dir", ca, "--json").stdout.count("revoked_at") == 1


def test_help_and_dispatch(ca):
    r = bulwark("ca", "--help")
    assert r.returncode == 0
    for word in ("init", "issue", "sign", "server-cert", "revoke", "list"):
        assert "bulwark ca " + word in r.stdout
    r = bulwark("ca", "issue", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: bulwark ca issue")
    assert bulwark("ca").returncode == 2
    assert bulwark("ca", "frobnicate", "--dir", ca).returncode == 2
    assert "  ca " in bulwark("--help").stderr + bulwark("--help").stdout


# --- mosquitto as the peer ----------------------------------------------------------------------

class Mosquitto:
    """Debian's mosquitto with one TLS listener that requires a client certificate."""

    def __init__(self, workdir, cafile, certfile, keyfile):
        self.port = free_port()
        self.conf = os.path.join(workdir, "mosquitto.conf")
        self.log = os.path.join(workdir, "mosquitto.log")
        with open(self.conf, "w") as f:
            if os.geteuid() == 0:
                f.write("user root\n")  # the CA directory is 0700: stay able to read it
            f.write("per_listener_settings false\nallow_anonymous false\n"
                    "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
                    "require_certificate true\nuse_identity_as_username true\n"
                    "log_dest stderr\nlog_type all\n" % (self.port, cafile, certfile, keyfile))
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        ready = wait_until(lambda: self.proc.poll() is not None or self._listening(), 10)
        assert ready and self.proc.poll() is None, self.log_text()

    def _listening(self):
        import socket
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def log_text(self):
        with open(self.log) as f:
            return f.read()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.logf.close()


def mosq_client(tool, port, cafile, cert, key, *args):
    return subprocess.run([tool, "-h", "127.0.0.1", "-p", str(port), "--cafile", cafile,
                           "--cert", cert, "--key", key] + list(args),
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def tls_world(tmp_path):
    ca_dir = str(tmp_path / "ca")
    ok("ca", "init", "--dir", ca_dir)
    ok("ca", "server-cert", "--dir", ca_dir, "--dns", "localhost", "--ip", "127.0.0.1")
    ok("ca", "issue", "--dir", ca_dir, "--client-id", "publisher")
    ok("ca", "issue", "--dir", ca_dir, "--client-id", "subscriber")
    m = Mosquitto(str(tmp_path), os.path.join(ca_dir, "ca.crt"),
                  os.path.join(ca_dir, "server.crt"), os.path.join(ca_dir, "server.key"))
    yield ca_dir, m
    m.stop()


def test_mosquitto_carries_a_message_between_issued_devices(tls_world, tmp_path):
    ca_dir, m = tls_world
    cafile = os.path.join(ca_dir, "ca.crt")
    issued = os.path.join(ca_dir, "issued")
    # retained, so the subscriber gets it whenever it subscribes
    r = mosq_client("mosquitto_pub", m.port, cafile, os.path.join(issued, "publisher.crt"),
                    os.path.join(issued, "publisher.key"), "-t", "plant/line1", "-m",
                    "hello over TLS", "-r", "-q", "1")
    assert r.returncode == 0, r.stderr + m.log_text()
    r = mosq_client("mosquitto_sub", m.port, cafile, os.path.join(issued, "subscriber.crt"),
                    os.path.join(issued, "subscriber.key"), "-t", "plant/line1", "-C", "1",
                    "-W", "15")
    assert r.returncode == 0, r.stderr + m.log_text()
    assert r.stdout == "hello over TLS\n"
    # mosquitto took each certificate's CN as the user name
    log = m.log_text()
    assert "u'publisher'" in log and "u'subscriber'" in log

    # a device that brought its own key through a CSR works the same way
    key, csr = make_csr(tmp_path, "csr-device")
    ok("ca", "sign", "--dir", ca_dir, "--csr", csr)
    r = mosq_client("mosquitto_sub", m.port, cafile, os.path.join(issued, "csr-device.crt"),
                    key, "-t", "plant/line1", "-C", "1", "-W", "15")
    assert r.returncode == 0, r.stderr + m.log_text()
    assert r.stdout == "hello over TLS\n"


def test_mosquitto_refuses_a_certificate_from_another_ca(tls_world, tmp_path):
    ca_dir, m = tls_world
    other = str(tmp_path / "other")
    ok("ca", "init", "--dir", other)
    ok("ca", "issue", "--dir", other, "--client-id", "intruder")
    r = mosq_client("mosquitto_pub", m.port, os.path.join(ca_dir, "ca.crt"),
                    os.path.join(other, "issued", "intruder.crt"),
                    os.path.join(other, "issued", "intruder.key"), "-t", "plant/line1", "-m",
                    "forged")
    assert r.returncode != 0
    assert "certificate verify failed" in m.log_text()
    assert "u'intruder'" not in m.log_text()
    # and a client that trusts only the other CA refuses the broker
    r = mosq_client("mosquitto_pub", m.port, os.path.join(other, "ca.crt"),
                    os.path.join(ca_dir, "issued", "publisher.crt"),
                    os.path.join(ca_dir, "issued", "publisher.key"), "-t", "x", "-m", "y")
    assert r.returncode != 0
