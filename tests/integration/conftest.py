"""Fixtures for the integration suite: a fresh broker per test, raw clients, a canary pair.

Run: BULWARKD=build/asan/bulwarkd BULWARK=build/asan/bulwark /usr/bin/python3 -m pytest -q \
         tests/integration
BROKER_UNDER_TEST=bulwark (default) runs $BULWARKD (default build/asan/bulwarkd);
BROKER_UNDER_TEST=mosquitto runs Debian's mosquitto as a reference to validate the tests,
and skips tests marked bulwark_only.
"""

import itertools
import os
import sys

import pytest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(__file__))

from broker import SANDBOX_USERS, Broker  # noqa: E402
from harness import Canary, Clients  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KIND = os.environ.get("BROKER_UNDER_TEST", "bulwark")


def pytest_configure(config):
    if KIND not in ("bulwark", "mosquitto"):
        raise pytest.UsageError("BROKER_UNDER_TEST must be bulwark or mosquitto, not %r" % KIND)
    if KIND == "bulwark":
        os.environ.setdefault("BULWARKD", os.path.join(REPO, "build/asan/bulwarkd"))
        os.environ.setdefault("BULWARK", os.path.join(REPO, "build/asan/bulwark"))
        for var in ("BULWARKD", "BULWARK"):
            if not os.access(os.environ[var], os.X_OK):
                raise pytest.UsageError("%s=%s is not an executable; build it with make "
                                        "build/asan/bulwarkd build/asan/bulwark"
                                        % (var, os.environ[var]))
        if os.geteuid() == 0:
            # As root the roles drop to their own users: they must exist.
            import pwd
            try:
                for user, _ in SANDBOX_USERS.values():
                    pwd.getpwnam(user)
            except KeyError as e:
                raise pytest.UsageError("%s; run scripts/ensure-users.sh (make test does)" % e)


def pytest_report_header(config):
    if KIND == "bulwark":
        return "broker under test: bulwark (%s)" % os.environ.get("BULWARKD")
    return "broker under test: mosquitto (reference run, bulwark_only tests skipped)"


def pytest_collection_modifyitems(config, items):
    if KIND != "mosquitto":
        return
    skip = pytest.mark.skip(reason="bulwark_only: not a mosquitto behaviour")
    for item in items:
        if "bulwark_only" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attaches the log tail of every broker the test used to a failing report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for b in getattr(item, "_brokers", []):
            rep.sections.append(("broker log: " + b.name, b.log_tail()))


@pytest.fixture
def broker_kind():
    return KIND


@pytest.fixture
def bad_credentials_rc(broker_kind):
    """CONNACK code for a wrong password or unknown user."""
    # bulwark answers 4 (bad user name or password); mosquitto 2.0.11 answers 5 in 3.1.1.
    return 4 if broker_kind == "bulwark" else 5


@pytest.fixture
def make_broker(request, tmp_path):
    """Factory: make_broker(allow_anonymous=..., users={name: password}, limits={...})."""
    brokers = []
    request.node._brokers = brokers
    counter = itertools.count()

    def make(**kw):
        b = Broker(KIND, str(tmp_path), name="broker%d" % next(counter), **kw)
        brokers.append(b)
        return b.start()

    yield make
    problems = []
    for b in brokers:
        problems += ["%s: %s" % (b.name, p) for p in b.stop()]
    if problems:
        pytest.fail("unclean broker shutdown:\n" + "\n".join(problems)
                    + "\n" + "\n".join(b.log_tail() for b in brokers), pytrace=False)


@pytest.fixture
def broker(make_broker):
    """A broker with default limits that accepts anonymous clients."""
    return make_broker()


@pytest.fixture
def clients():
    cs = Clients()
    yield cs
    cs.close_all()


@pytest.fixture
def canary(clients, broker):
    return Canary(clients, broker)


@pytest.fixture
def audit_dir():
    """A directory only the auth role's user (and root) may use, for an audit log."""
    import grp
    import pwd
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="bulwark-audit-")
    user, group = SANDBOX_USERS["auth"]
    os.chown(d, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
    os.chmod(d, 0o700)
    yield d
    shutil.rmtree(d, ignore_errors=True)
