"""The sandbox of every role (docs/HARDENING.md): the selftest of the real filters in both
builds, what /proc shows of each running role, descriptor hygiene, the user checks at start,
and --insecure-no-sandbox."""

import os
import pwd
import re
import subprocess

import pytest

from broker import SANDBOX_USERS, wait_until

pytestmark = pytest.mark.bulwark_only

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLES = ("worker", "auth", "supervisor")
# The release build: the selftest must hold there too (the tests otherwise run the ASan one).
RELEASE = os.environ.get("BULWARKD_RELEASE", os.path.join(REPO, "build", "bulwarkd"))
# Capabilities the supervisor keeps when root: CAP_DAC_OVERRIDE(1), CAP_DAC_READ_SEARCH(2),
# CAP_KILL(5), CAP_SETGID(6), CAP_SETUID(7).
SUPERVISOR_CAPS = (1 << 1) | (1 << 2) | (1 << 5) | (1 << 6) | (1 << 7)


def status(pid):
    """/proc/PID/status as a dict of field -> text."""
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def fd_targets(pid):
    """What each descriptor of pid points at, by number."""
    base = "/proc/%d/fd" % pid
    return {int(fd): os.readlink(os.path.join(base, fd)) for fd in os.listdir(base)}


def run_selftest(binary, role):
    res = subprocess.run([binary, "--sandbox-selftest", role], capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL,
                         env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    return res.returncode, res.stdout + res.stderr


@pytest.mark.parametrize("build", ["asan", "release"])
@pytest.mark.parametrize("role", ROLES)
def test_selftest_stops_every_forbidden_operation(role, build):
    """--sandbox-selftest ROLE loads the role's real sandbox in a child per operation: every
    forbidden operation is killed by SIGSYS (the report names the system call) or refused by
    Landlock, and what the role needs still works; in the ASan build and the release build."""
    binary = os.environ["BULWARKD"] if build == "asan" else RELEASE
    if not os.access(binary, os.X_OK):
        pytest.fail("%s is missing: build it with make build/bulwarkd" % binary)
    rc, out = run_selftest(binary, role)
    lines = [l for l in out.splitlines() if l.startswith("  ")]
    assert rc == 0, out
    assert not [l for l in lines if "FAIL" in l], out
    assert re.search(r"^%s: (\d+) of \1 checks passed: PASS$" % role, out, re.M), out
    killed = [l for l in lines if "killed (SIGSYS" in l]
    works = [l for l in lines if l.rstrip().endswith("works") or "works (" in l]
    assert len(killed) >= (25 if role == "supervisor" else 35), out
    assert len(works) >= 2, out
    # What the issue names, checked by name (the outcome column of the matching line).
    def outcome(what):
        hit = [l for l in lines if l.strip().startswith(what)]
        assert hit, "no line for %r in\n%s" % (what, out)
        return hit[0]
    for what in ("socket(AF_INET)", "connect a TCP socket", "bind a TCP socket",
                 "ptrace(PTRACE_TRACEME)", "execveat /bin/true"):
        assert "killed (SIGSYS, reported" in outcome(what), out
    if role in ("worker", "auth"):
        for what in ("execve /bin/true", "fork", "pthread_create", "setuid(0)",
                     "ignore SIGSYS", "mprotect to PROT_EXEC"):
            assert "killed (SIGSYS" in outcome(what), out
    if role == "worker":
        assert "reported openat" in outcome("open /etc/passwd read-only"), out
    if role == "auth":
        assert re.search(r"refused \(EACCES, Landlock\)|SKIPPED",
                         outcome("open /etc/passwd read-only")), out
        assert "works" in outcome("open the configuration read-only"), out
        assert "killed" in outcome("open the configuration for writing"), out


def allow_list(text):
    """The names (with argument checks) between "allowed system calls (N):" and the next line
    not indented, as a selftest prints them."""
    m = re.search(r"^allowed system calls \((\d+)\):\n((?:    .*\n)+)", text, re.M)
    assert m, text
    names = m.group(2).split()
    assert len(names) == int(m.group(1))
    return names


@pytest.mark.parametrize("role", ROLES)
def test_hardening_doc_lists_the_real_allow_lists(role):
    """docs/HARDENING.md shows each role's allow-list exactly as the release build has it."""
    if not os.access(RELEASE, os.X_OK):
        pytest.fail("%s is missing: build it with make build/bulwarkd" % RELEASE)
    _, out = run_selftest(RELEASE, role)
    with open(os.path.join(REPO, "docs", "HARDENING.md")) as f:
        doc = f.read()
    m = re.search(r"<!-- allow-list %s -->\n```\n(.*?)```" % role, doc, re.S)
    assert m, "no allow-list block for %s in docs/HARDENING.md" % role
    assert m.group(1).split() == allow_list(out)


def test_roles_are_confined(broker):
    """/proc/PID/status of every process: seccomp filter mode (2) and no_new_privs; as root,
    each role runs as its own configured user (the worker and the auth daemon apart) and the
    supervisor keeps only the capabilities it needs to start them."""
    roles = broker.children()
    assert sorted(roles) == ["auth", "worker"]
    root = os.geteuid() == 0
    uids = {}
    for role, pid in roles.items():
        st = status(pid)
        assert st["Seccomp"].strip() == "2", (role, st["Seccomp"])
        assert st["NoNewPrivs"].strip() == "1", (role, st["NoNewPrivs"])
        real, eff, saved, fs = (int(x) for x in st["Uid"].split())
        assert real == eff == saved == fs, (role, st["Uid"])
        assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0, (role, st)
        uids[role] = real
        if root:
            user, group = SANDBOX_USERS[role]
            pw = pwd.getpwnam(user)
            assert real == pw.pw_uid, (role, real, user)
            assert st["Gid"].split()[0] == str(pw.pw_gid)
            assert st["Groups"].strip() == "", (role, st["Groups"])
        else:
            assert real == os.geteuid()
    assert all(u != 0 for u in uids.values()) or not root
    if root:
        assert uids["worker"] != uids["auth"], "the worker could signal the auth daemon"
    sup = status(broker.proc.pid)
    assert sup["Seccomp"].strip() == "2"
    assert sup["NoNewPrivs"].strip() == "1"
    if root:
        assert int(sup["CapEff"], 16) & ~SUPERVISOR_CAPS == 0, sup["CapEff"]
        assert int(sup["CapBnd"], 16) & ~SUPERVISOR_CAPS == 0, sup["CapBnd"]


def fd_kinds(pid):
    """What the descriptors above 2 of pid are, sorted, without inode numbers."""
    return sorted(re.sub(r"\[\d+\]$", "", t) for fd, t in fd_targets(pid).items() if fd > 2)


def test_roles_hold_only_their_descriptors(make_broker, tmp_path):
    """Every descriptor a process does not need is closed before its filter loads, even one
    bulwarkd inherited from whoever started it: above 0-2 the supervisor holds its signalfd,
    the listener and two control sockets; the worker its epoll, signalfd and sockets
    (listener, control, auth channel, signature channel); the auth daemon its signalfd and
    three sockets (control, auth channel, signature channel)."""
    leak_path = os.path.join(str(tmp_path), "inherited")
    leak = os.open(leak_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        b = make_broker(pass_fds=(leak,))
    finally:
        os.close(leak)
    roles = b.children()
    want = {
        b.proc.pid: ["anon_inode:[signalfd]", "socket:", "socket:", "socket:"],
        roles["worker"]: ["anon_inode:[eventpoll]", "anon_inode:[signalfd]",
                          "socket:", "socket:", "socket:", "socket:"],
        roles["auth"]: ["anon_inode:[signalfd]", "socket:", "socket:", "socket:"],
    }
    for pid, kinds in want.items():
        # The readiness probe's connection may still be closing in the worker.
        assert wait_until(lambda: fd_kinds(pid) == kinds, 5.0), (pid, fd_targets(pid))
        assert leak_path not in fd_targets(pid).values()


def test_insecure_no_sandbox_is_loud_and_leak_free(make_broker, clients):
    """--insecure-no-sandbox (debugging only): every role warns at start, none is confined;
    this run keeps LeakSanitizer on (it needs ptrace, which the sandbox forbids), so a clean
    shutdown here also means no leak."""
    b = make_broker(sandbox=False)
    sub = clients.connect(b, "insecure-sub")
    assert sub.subscribe([("insecure/t", 1)]) == [1]
    pub = clients.connect(b, "insecure-pub")
    pub.publish("insecure/t", b"x", qos=1)
    assert sub.receive().payload == b"x"
    for pid in [b.proc.pid] + list(b.children().values()):
        assert status(pid)["Seccomp"].strip() == "0"
    warned = {m.group(1) for m in (re.search(r" (supervisor|worker|auth)\[\d+\] warn: \*\*\* "
                                             r"--insecure-no-sandbox", l)
                                   for l in b.log_lines()) if m}
    assert warned == {"supervisor", "worker", "auth"}, b.log_tail()
    assert b.stop() == []
    assert not [l for l in b.log_lines() if "LeakSanitizer" in l]


def start_fails(tmp_path, sandbox_yaml, extra_args=()):
    """Runs bulwarkd with this sandbox: section; returns (exit status, output)."""
    path = os.path.join(str(tmp_path), "refused.yaml")
    with open(path, "w") as f:
        f.write("listeners:\n  - {host: 127.0.0.1, port: 0}\nallow_anonymous: true\n"
                "sandbox:\n" + sandbox_yaml)
    res = subprocess.run([os.environ["BULWARKD"], "-c", path] + list(extra_args),
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                         env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    return res.returncode, res.stdout + res.stderr


root_only = pytest.mark.skipif(os.geteuid() != 0, reason="user switching needs root")


@root_only
def test_missing_user_refuses_start(tmp_path):
    """Started as root, a role whose configured user does not exist refuses the start with a
    message naming the key and how to create the user; nothing is left running."""
    rc, out = start_fails(tmp_path, "  worker: {user: bulwark-no-such-user, group: bulwark}\n")
    assert rc != 0
    assert "sandbox.worker.user: there is no user 'bulwark-no-such-user'" in out, out
    assert "scripts/ensure-users.sh" in out and "useradd --system" in out, out
    assert "started" not in out, out
    rc, out = start_fails(tmp_path, "  auth: {user: bulwark-auth, group: no-such-group}\n")
    assert rc != 0
    assert "sandbox.auth.group: there is no group 'no-such-group'" in out, out


@root_only
def test_root_role_refused_unless_allowed(tmp_path, make_broker):
    """A role configured as root is refused (sandbox.allow_root: false by default) ...; with
    allow_root: true it runs as root, still under no_new_privs and seccomp."""
    rc, out = start_fails(tmp_path, "  worker: {user: root, group: bulwark}\n")
    assert rc != 0
    assert "sandbox.worker.user: 'root' is uid 0" in out and "sandbox.allow_root" in out, out
    rc, out = start_fails(tmp_path, "  auth: {user: bulwark-auth, group: root}\n")
    assert rc != 0 and "sandbox.auth.group: gid 0" in out, out
    b = make_broker(sandbox_config="  allow_root: true\n  worker: {user: root, group: root}\n")
    st = status(b.children()["worker"])
    assert st["Uid"].split()[0] == "0"
    assert st["Seccomp"].strip() == "2" and st["NoNewPrivs"].strip() == "1"


@root_only
def test_user_option_runs_both_roles_as_that_user(make_broker):
    """--user NAME (the quick start's way): both roles run as NAME with its primary group."""
    b = make_broker(args=["--user", "nobody"])
    pw = pwd.getpwnam("nobody")
    for role, pid in b.children().items():
        st = status(pid)
        assert st["Uid"].split()[0] == str(pw.pw_uid), role
        assert st["Gid"].split()[0] == str(pw.pw_gid), role
    assert any("share uid" in l for l in b.log_lines()), "no warning about a shared uid"


def test_systemd_unit_verifies(tmp_path):
    """deploy/bulwarkd.service is a valid unit (systemd-analyze verify), pointed at the
    release binary."""
    tool = "/usr/bin/systemd-analyze"
    if not os.access(tool, os.X_OK):
        pytest.skip("systemd-analyze is not installed")
    with open(os.path.join(REPO, "deploy", "bulwarkd.service")) as f:
        unit = f.read()
    assert "ExecStart=/usr/local/sbin/bulwarkd " in unit
    path = os.path.join(str(tmp_path), "bulwarkd.service")
    with open(path, "w") as f:
        f.write(unit.replace("/usr/local/sbin/bulwarkd", RELEASE))
    res = subprocess.run([tool, "verify", path], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "bulwarkd.service" not in res.stdout + res.stderr, res.stdout + res.stderr
    for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                    "CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_KILL\n",
                    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                    "SystemCallFilter=@system-service seccomp landlock_create_ruleset "
                    "landlock_add_rule landlock_restrict_self\n"):
        assert setting in unit, setting
