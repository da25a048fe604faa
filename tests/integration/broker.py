"""Start, probe and stop a broker under test: bulwarkd, or Debian's mosquitto as a reference.

A Broker writes its config into a test's tmp directory, captures the broker's stderr there,
waits until a raw CONNECT gets a CONNACK other than 3 (server unavailable), and on stop checks
the exit status and that the log holds no sanitizer report.
"""

import grp
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import mqttraw

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error")
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
# The users the roles drop to when the tests run as root (scripts/ensure-users.sh makes them).
SANDBOX_USERS = {"worker": ("bulwark-worker", "bulwark"), "auth": ("bulwark-auth", "bulwark")}
SANDBOX_GROUP = "bulwark"

_hash_cache = {}


def free_port():
    """A TCP port that was free a moment ago (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.02):
    """Polls predicate until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def bulwark_hash(password):
    """argon2id hash from `bulwark passwd`, cached: hashing is slow on purpose."""
    if password not in _hash_cache:
        out = subprocess.run([os.environ["BULWARK"], "passwd"], input=password + "\n",
                             capture_output=True, text=True, timeout=60, check=True)
        _hash_cache[password] = out.stdout.strip().splitlines()[-1]
    return _hash_cache[password]


def _yaml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Broker:
    """One broker process. kind is "bulwark" or "mosquitto"."""

    def __init__(self, kind, workdir, name="broker", allow_anonymous=True, users=None,
                 limits=None, listeners=1, env=None, quick_start=False, sandbox=True,
                 sandbox_config=None, extra_config="", args=(), pass_fds=(), policy=None,
                 tls=None, tls2=None):
        self.kind = kind
        self.workdir = workdir
        self.name = name
        self.allow_anonymous = allow_anonymous
        self.users = dict(users or {})
        self.limits = dict(limits or {})
        self.env = dict(env or {})
        # bulwarkd's command-line mode (--listen, --allow-anonymous) instead of a config file
        self.quick_start = quick_start
        # False: --insecure-no-sandbox (and LeakSanitizer on); True: sandboxed, leaks unchecked
        # (LeakSanitizer needs ptrace, which no role may use)
        self.sandbox = sandbox
        # the body of bulwark's sandbox: section (YAML lines), default: SANDBOX_USERS
        self.sandbox_config = sandbox_config
        self.extra_config = extra_config  # YAML appended to bulwark's config
        self.args = list(args)            # extra bulwarkd arguments
        self.pass_fds = tuple(pass_fds)   # descriptors bulwarkd inherits
        self.policy = policy              # text of an access policy (policy: key), or None
        self.ports = [free_port() for _ in range(listeners)]
        self.port = self.ports[0]
        # tls: one more listener, with TLS: a dict with cert, key and optionally ca,
        # client_certs (none/optional/required), revoked, min_version, bind_client_id
        self.tls = dict(tls) if tls else None
        self.tls_port = free_port() if tls else None
        # tls2: a second TLS listener (bulwark only), e.g. with other client-certificate rules
        self.tls2 = dict(tls2) if tls2 else None
        self.tls2_port = free_port() if tls2 else None
        self.proc = None
        self.log_path = os.path.join(workdir, name + ".log")
        self.conf_dir = workdir
        if kind == "bulwark" and sandbox and os.geteuid() == 0:
            # The auth daemon re-reads its config as bulwark-auth, confined by Landlock to the
            # config's directory: give it a directory it may read (pytest's tmp is root-only).
            self.conf_dir = tempfile.mkdtemp(prefix="bulwark-test-conf-")
            os.chown(self.conf_dir, 0, grp.getgrnam(SANDBOX_GROUP).gr_gid)
            os.chmod(self.conf_dir, 0o750)
        self.conf_path = os.path.join(self.conf_dir,
                                      name + (".yaml" if kind == "bulwark" else ".conf"))
        # Next to the config: the auth daemon re-reads it there on SIGHUP.
        self.policy_path = os.path.join(self.conf_dir, name + ".policy.yaml")
        self.seen_children = set()
        self.stopped = False
        self.expect_violations = False  # a test that forces one sets this

    # -- configuration

    def write_config(self):
        if self.kind == "bulwark":
            text = self._bulwark_config()
        else:
            text = self._mosquitto_config()
        self._write_conf_file(self.conf_path, text)
        if self.kind == "bulwark" and self.policy is not None:
            self._write_conf_file(self.policy_path, self.policy)

    def _write_conf_file(self, path, text):
        with open(path, "w") as f:
            f.write(text)
        if self.conf_dir != self.workdir:
            os.chown(path, 0, grp.getgrnam(SANDBOX_GROUP).gr_gid)
            os.chmod(path, 0o640)

    def _bulwark_config(self):
        lines = ["listeners:"]
        for p in self.ports:
            lines += ["  - host: 127.0.0.1", "    port: %d" % p]
        for tls, port in ((self.tls, self.tls_port), (self.tls2, self.tls2_port)):
            if not tls:
                continue
            lines += ["  - host: 127.0.0.1", "    port: %d" % port, "    tls:"]
            for k, v in tls.items():
                lines.append("      %s: %s" % (k, _yaml_str(v) if isinstance(v, str) else
                                               ("true" if v is True else
                                                "false" if v is False else v)))
        lines.append("allow_anonymous: %s" % ("true" if self.allow_anonymous else "false"))
        if self.users:
            lines.append("users:")
            for user, password in self.users.items():
                lines += ["  - username: %s" % _yaml_str(user),
                          "    password_hash: %s" % _yaml_str(bulwark_hash(password))]
        if self.limits:
            lines.append("limits:")
            lines += ["  %s: %d" % kv for kv in self.limits.items()]
        lines.append("sandbox:")
        if self.sandbox_config is None:
            for role, (user, group) in SANDBOX_USERS.items():
                lines.append("  %s: {user: %s, group: %s}" % (role, user, group))
        else:
            lines.append(self.sandbox_config.rstrip("\n"))
        if self.policy is not None:
            lines.append("policy: %s" % _yaml_str(self.policy_path))
        lines.append("log_level: info")
        return "\n".join(lines) + "\n" + self.extra_config

    # bulwark limit -> mosquitto option, for the limits mosquitto shares.
    MOSQUITTO_LIMITS = {
        "max_inflight": "max_inflight_messages",
        "max_queued_messages": "max_queued_messages",
        "max_queued_bytes": "max_queued_bytes",
        "max_packet_size": "max_packet_size",
    }

    def _mosquitto_config(self):
        pwfile = os.path.join(self.workdir, self.name + ".passwd")
        with open(pwfile, "w"):
            pass
        for user, password in self.users.items():
            subprocess.run(["mosquitto_passwd", "-b", pwfile, user, password], check=True,
                           capture_output=True, timeout=30)
        lines = ["user root", "persistence false", "log_dest stderr",
                 "log_type error", "log_type warning", "log_type notice",
                 "allow_anonymous %s" % ("true" if self.allow_anonymous else "false")]
        if self.users or not self.allow_anonymous:
            lines.append("password_file %s" % pwfile)
        for key, value in self.limits.items():
            if key in self.MOSQUITTO_LIMITS:
                lines.append("%s %d" % (self.MOSQUITTO_LIMITS[key], value))
        for p in self.ports:
            lines.append("listener %d 127.0.0.1" % p)
            if "max_connections" in self.limits:
                # mosquitto 2.0.11 admits one connection more than its setting
                lines.append("max_connections %d" % (self.limits["max_connections"] - 1))
        if self.tls:
            lines += ["listener %d 127.0.0.1" % self.tls_port,
                      "certfile %s" % self.tls["cert"], "keyfile %s" % self.tls["key"]]
            if self.tls.get("client_certs", "none") != "none":
                lines += ["cafile %s" % self.tls["ca"],
                          "require_certificate %s" % (
                              "true" if self.tls["client_certs"] == "required" else "false"),
                          "use_identity_as_username true"]
        return "\n".join(lines) + "\n"

    # -- lifecycle

    def start(self):
        if self.quick_start:
            assert self.kind == "bulwark" and not (self.users or self.limits)
            argv = [os.environ["BULWARKD"]]
            for p in self.ports:
                argv += ["--listen", "127.0.0.1:%d" % p]
            if self.allow_anonymous:
                argv.append("--allow-anonymous")
        elif self.kind == "bulwark":
            self.write_config()
            argv = [os.environ["BULWARKD"], "-c", self.conf_path]
        else:
            self.write_config()
            argv = ["/usr/sbin/mosquitto", "-c", self.conf_path]
        if self.kind == "bulwark":
            argv += self.args
            if not self.sandbox:
                argv.append("--insecure-no-sandbox")
        env = dict(os.environ)
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update(self.env)
        if self.kind == "bulwark" and self.sandbox:
            env["ASAN_OPTIONS"] = ":".join(
                [o for o in env.get("ASAN_OPTIONS", "").split(":") if o] + ["detect_leaks=0"])
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     env=env, pass_fds=self.pass_fds)
        log.close()
        self.wait_ready()
        return self

    def connack_code(self, timeout=2.0):
        """CONNACK return code for an anonymous clean-session probe, None if no CONNACK."""
        try:
            with mqttraw.RawClient(self.port, timeout=timeout) as c:
                rc = c.connect("", clean=True, timeout=timeout).rc
                c.disconnect()
                return rc
        except (OSError, mqttraw.ConnectionClosed, mqttraw.Timeout):
            return None

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s during startup\n%s"
                                   % (self.kind, self.proc.returncode, self.log_tail()))
            rc = self.connack_code(timeout=1.0)
            if rc is not None and rc != 3:
                self.note_children()
                return
            time.sleep(0.05)
        raise RuntimeError("%s not ready within %.0fs\n%s" % (self.kind, timeout, self.log_tail()))

    def stop(self, sig=signal.SIGTERM):
        """Signals, waits, and returns a list of problems (empty when the shutdown was clean)."""
        if self.stopped or self.proc is None:
            self._remove_conf_dir()
            return []
        self.stopped = True
        problems = []
        self.note_children()
        if self.proc.poll() is None:
            for pid in [self.proc.pid] + [p for p in self.seen_children if self._is_ours(p)]:
                os.kill(pid, signal.SIGCONT)  # in case a test stopped one and then failed
            self.proc.send_signal(sig)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                problems.append("did not exit within %.0fs of %s" % (STOP_TIMEOUT, sig.name))
                self.proc.kill()
                self.proc.wait()
        if self.proc.returncode != 0:
            problems.append("exit status %s, expected 0" % self.proc.returncode)
        leftovers = [pid for pid in self.seen_children if self._is_ours(pid)]
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        if leftovers:
            problems.append("child processes left running: %s" % leftovers)
        bad = [l for l in self.log_lines() if any(m in l for m in SANITIZER_MARKERS)]
        if bad:
            problems.append("sanitizer reports in the log:\n" + "\n".join(bad[:20]))
        violations = [l for l in self.log_lines() if "sandbox violation" in l]
        if violations and not self.expect_violations:
            problems.append("sandbox violations in the log:\n" + "\n".join(violations[:20]))
        self._remove_conf_dir()
        return problems

    def _remove_conf_dir(self):
        if self.conf_dir != self.workdir:
            shutil.rmtree(self.conf_dir, ignore_errors=True)

    # -- inspection

    def log_lines(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []

    def log_tail(self, n=60):
        return "\n".join(["--- %s (%s) log tail ---" % (self.name, self.log_path)]
                         + self.log_lines()[-n:])

    def children(self):
        """{role: pid} of the supervisor's live children ("worker", "auth")."""
        roles = {}
        pid = self.proc.pid
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            return roles
        for kid in kids:
            argv = _cmdline(kid)
            if "--role" in argv:
                i = argv.index("--role")
                if i + 1 < len(argv):
                    roles[argv[i + 1]] = kid
        return roles

    def note_children(self):
        if self.kind == "bulwark" and self.proc.poll() is None:
            self.seen_children.update(self.children().values())

    def wait_role(self, role, not_pid=None, timeout=10.0):
        """Pid of a live child with this role, other than not_pid; None on timeout."""
        def probe():
            pid = self.children().get(role)
            if pid and pid != not_pid and proc_state(pid) not in (None, "Z"):
                return pid
            return None
        pid = wait_until(probe, timeout)
        self.note_children()
        return pid

    def _is_ours(self, pid):
        if proc_state(pid) in (None, "Z"):
            return False
        argv = _cmdline(pid)
        return bool(argv) and os.path.basename(argv[0]) == os.path.basename(self.proc.args[0])

    def worker_pid(self):
        """The process that serves clients: bulwark's worker role, or mosquitto itself."""
        if self.kind == "bulwark":
            return self.children()["worker"]
        return self.proc.pid

    @staticmethod
    def vm_kib(pid, field="VmRSS"):
        """A memory figure from /proc/PID/status in KiB (VmRSS, VmHWM, ...)."""
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise RuntimeError("no %s for pid %d" % (field, pid))

    def set_policy(self, text):
        """Rewrites the policy file and sends SIGHUP so the broker reloads it."""
        self.policy = text
        self._write_conf_file(self.policy_path, text)
        self.proc.send_signal(signal.SIGHUP)

    def set_users(self, users):
        """Rewrites the users list and sends SIGHUP so the broker reloads it."""
        self.users = dict(users)
        self.write_config()
        self.proc.send_signal(signal.SIGHUP)


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def proc_state(pid):
    """Process state letter from /proc/PID/stat, None if there is no such process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
