"""Regression: a relative -c path from a directory only root can read."""

import os
import shutil
import signal
import subprocess
import tempfile

import pytest

import mqttraw as m
from broker import free_port, wait_until

pytestmark = pytest.mark.bulwark_only


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start sandboxed roles as their users")
def test_relative_config_path_from_private_directory():
    """`bulwarkd -c b.yaml` run as root from a 0700 directory: the auth daemon, confined by
    Landlock after dropping to its user, used to resolve the relative path against a working
    directory it cannot read and died in a restart loop (every CONNECT got CONNACK 3). The path
    is made absolute before any role drops privileges; the config must still be readable by the
    auth user, so it lives in a group-readable directory reached by an absolute symlink-free
    path, while the working directory is private."""
    private = tempfile.mkdtemp(prefix="bulwark-private-cwd-")
    os.chmod(private, 0o700)
    confdir = tempfile.mkdtemp(prefix="bulwark-conf-")
    shutil.chown(confdir, group="bulwark")
    os.chmod(confdir, 0o750)
    port = free_port()
    conf = os.path.join(confdir, "b.yaml")
    with open(conf, "w") as f:
        f.write("listeners:\n  - host: 127.0.0.1\n    port: %d\nallow_anonymous: true\n" % port)
    os.chmod(conf, 0o640)
    shutil.chown(conf, group="bulwark")
    rel = os.path.relpath(conf, private)
    log = open(os.path.join(private, "log"), "w+")
    proc = subprocess.Popen([os.environ["BULWARKD"], "-c", rel], cwd=private, stderr=log,
                            env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    try:
        def connack():
            try:
                c = m.RawClient(port, timeout=1.0)
                try:
                    return c.connect("rel-probe", timeout=1.0).rc
                finally:
                    c.close()
            except Exception:
                return None
        assert wait_until(lambda: connack() == 0, 10.0), open(log.name).read()[-3000:]
        # A reload parses the same arguments again, inside the auth daemon's sandbox: the path
        # must not be resolved again there (realpath's readlink is not allowed).
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "configuration reloaded" in open(log.name).read(), 10.0), \
            open(log.name).read()[-3000:]
        assert "sandbox violation" not in open(log.name).read()
        assert connack() == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(confdir, ignore_errors=True)
