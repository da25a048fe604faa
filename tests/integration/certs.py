"""Certificates for the TLS tests: a device CA made with `bulwark ca` (the product's own tool),
and the certificates it would never issue (expired, not yet valid, wrong purpose) signed with
the same CA key by Debian's `openssl ca`."""

import grp
import os
import shutil
import subprocess

from broker import SANDBOX_GROUP


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (argv, r.returncode, r.stdout, r.stderr))
    return r.stdout


class DeviceCA:
    """A CA directory made by `bulwark ca init` under workdir/name."""

    def __init__(self, workdir, name="ca", ed25519=False):
        self.dir = os.path.join(workdir, name)
        self.bulwark = os.environ["BULWARK"]
        argv = [self.bulwark, "ca", "init", "--dir", self.dir, "--name", "test " + name]
        if ed25519:
            argv.append("--ed25519")
        run(argv)
        self.crt = os.path.join(self.dir, "ca.crt")
        self.key = os.path.join(self.dir, "ca.key")
        self._n = 0

    def issue(self, client_id, out=None):
        """(crt, key) of a new device certificate with CN = client_id."""
        out = out or os.path.join(self.dir, "dev-%s" % client_id)
        run([self.bulwark, "ca", "issue", "--dir", self.dir, "--client-id", client_id,
             "--out", out])
        return out + ".crt", out + ".key"

    def server_cert(self, out=None):
        out = out or os.path.join(self.dir, "server")
        run([self.bulwark, "ca", "server-cert", "--dir", self.dir, "--dns", "localhost",
             "--ip", "127.0.0.1", "--out", out])
        return out + ".crt", out + ".key"

    def revoke(self, what):
        run([self.bulwark, "ca", "revoke", "--dir", self.dir, what])

    @property
    def revoked_file(self):
        return os.path.join(self.dir, "revoked")

    def serial_of(self, crt):
        out = run(["openssl", "x509", "-noout", "-serial", "-in", crt])
        return out.strip().split("=", 1)[1].lower().lstrip("0") or "0"

    def openssl_cert(self, cn, start, end, eku="clientAuth"):
        """A certificate signed by this CA's key with openssl ca: start/end as
        YYYYMMDDHHMMSSZ, eku the extendedKeyUsage value. Returns (crt, key)."""
        self._n += 1
        d = os.path.join(self.dir, "openssl-%d" % self._n)
        os.makedirs(os.path.join(d, "new"))
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("%02X\n" % (0x40 + self._n))
        cnf = os.path.join(d, "ca.cnf")
        with open(cnf, "w") as f:
            f.write("[ca]\ndefault_ca = c\n[c]\ndir = %s\ndatabase = $dir/index.txt\n"
                    "new_certs_dir = $dir/new\nserial = $dir/serial\ndefault_md = sha256\n"
                    "policy = p\nunique_subject = no\n[p]\ncommonName = supplied\n"
                    "[ext]\nbasicConstraints = CA:FALSE\n"
                    "keyUsage = critical, digitalSignature\nextendedKeyUsage = %s\n" % (d, eku))
        key = os.path.join(d, "dev.key")
        csr = os.path.join(d, "dev.csr")
        crt = os.path.join(d, "dev.crt")
        run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", key, "-subj", "/CN=%s" % cn, "-out", csr])
        run(["openssl", "ca", "-batch", "-notext", "-config", cnf, "-extensions", "ext",
             "-cert", self.crt, "-keyfile", self.key, "-in", csr, "-out", crt,
             "-startdate", start, "-enddate", end])
        return crt, key


def readable_by_roles(path, dest_dir):
    """A copy of path in dest_dir the sandboxed roles' group may read; returns the copy."""
    dest = os.path.join(dest_dir, os.path.basename(path))
    shutil.copyfile(path, dest)
    os.chown(dest, 0, grp.getgrnam(SANDBOX_GROUP).gr_gid)
    os.chmod(dest, 0o640)
    return dest
