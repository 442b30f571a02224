"""Small helpers shared by the harness: ports, waiting, processes, files."""

import atexit
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

LOOPBACK = "127.0.0.1"


class Skip(Exception):
    """Raise (or call ctx.skip) to report a test as SKIP with a reason."""


class TestTimeout(Exception):
    """Raised in the test's thread when its time budget is spent."""


# Ports handed out by free_port() come from below the kernel's ephemeral range: a
# port picked there (by binding to port 0) can be taken, before the peer binds it, as
# the local port of any outgoing connection or bind-to-0 of the machine, which runs
# other tests at the same time. Below the range only an explicit bind takes a port;
# each is handed out once per run and checked to be bindable.
_handed_out = set()
_port_lock = threading.Lock()
_rng = random.SystemRandom()


def _port_window():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    high = low - 1
    return max(1024, high - 12000), high


def bindable(host, port):
    """Whether a TCP socket can bind (host, port) now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def free_port(host=LOOPBACK):
    """A TCP port on host that was free a moment ago, from below the ephemeral range
    (see above) and not handed out before in this run."""
    low, high = _port_window()
    with _port_lock:
        if high - low >= 1000:
            for _ in range(500):
                p = _rng.randint(low, high)
                if p not in _handed_out and bindable(host, p):
                    _handed_out.add(p)
                    return p
        for _ in range(1000):              # no usable window: the kernel's choice
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((host, 0))
                p = s.getsockname()[1]
            if p not in _handed_out:
                break
        _handed_out.add(p)
        return p


def free_ports(n, host=LOOPBACK):
    """n distinct free ports."""
    return [free_port(host) for _ in range(n)]


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Poll pred() until it returns a true value (returned) or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def pid_alive(pid):
    """True when pid exists and is not a zombie (PID 1 here may not reap orphans)."""
    if not pid or pid <= 0:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        state = stat[stat.rindex(")") + 2]
        if state in "ZX":
            _reap(pid)
            return False
        return True
    except (OSError, ValueError, IndexError):
        pass
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    except OSError:
        pass


def wait_pid_gone(pid, timeout=10.0):
    """Wait until pid has exited; True if it did within timeout."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def send_signal(pid, sig):
    """Signal one PID; False if it is already gone."""
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def stop_pid(pid, first=signal.SIGTERM, timeout=10.0, kill_after=5.0):
    """Send `first` to pid, wait up to timeout, then SIGTERM/SIGKILL. True if it is gone."""
    if not pid_alive(pid):
        return True
    send_signal(pid, first)
    if wait_pid_gone(pid, timeout):
        return True
    if first != signal.SIGTERM:
        send_signal(pid, signal.SIGTERM)
        if wait_pid_gone(pid, kill_after):
            return True
    send_signal(pid, signal.SIGKILL)
    return wait_pid_gone(pid, 5.0)


def ppid_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        return int(stat[stat.rindex(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def children_of(pid):
    """Direct children of pid (scan of /proc)."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and ppid_of(int(name)) == pid:
            out.append(int(name))
    return sorted(out)


def cmdline_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _ss_listening():
    """Set of (ip_text, port) in TCP LISTEN state from `ss -Hltn`, or None without ss.
    The kernel filters by state (inet_diag): a table of 100,000 TIME_WAIT sockets
    left by a benchmark costs nothing, where /proc/net/tcp lists every one."""
    try:
        r = subprocess.run(["ss", "-Hltn"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    out = set()
    for line in r.stdout.decode("ascii", "replace").splitlines():
        parts = line.split()
        if len(parts) < 4 or ":" not in parts[3]:
            continue
        host, _, port = parts[3].rpartition(":")
        host = host.strip("[]").split("%")[0]
        if not port.isdigit():
            continue
        for ip in (("0.0.0.0", "::") if host == "*" else (host,)):
            out.add((ip, int(port)))
    return out


def listening_ports():
    """Set of (ip_text, port) in TCP LISTEN state, from ss or /proc/net/tcp and tcp6."""
    out = _ss_listening()
    if out is not None:
        return out
    out = set()
    for path, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            with open(path) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 4 or parts[3] != "0A":      # 0A = LISTEN
                continue
            addr, port = parts[1].split(":")
            raw = bytes.fromhex(addr)
            if v6:
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                ip = socket.inet_ntop(socket.AF_INET6, raw)
            else:
                ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
            out.add((ip, int(port, 16)))
    return out


TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN"}


def tcp_sockets():
    """IPv4 TCP sockets from /proc/net/tcp: dicts with local (ip, port), remote (ip,
    port), state (name, or the hex code), tx and rx (bytes queued)."""
    out = []
    try:
        with open("/proc/net/tcp") as f:
            lines = f.readlines()[1:]
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) < 5:
            continue

        def addr(text):
            a, p = text.split(":")
            return socket.inet_ntop(socket.AF_INET, bytes.fromhex(a)[::-1]), int(p, 16)
        tx, rx = parts[4].split(":")
        out.append({"local": addr(parts[1]), "remote": addr(parts[2]),
                    "state": TCP_STATES.get(parts[3], parts[3]), "tx": int(tx, 16),
                    "rx": int(rx, 16)})
    return out


def is_listening(port, host=LOOPBACK, listening=None):
    """True when something listens on host:port (or on a wildcard address for that
    port); listening: a listening_ports() result to look in, to ask the kernel once
    for many ports."""
    wild = {"0.0.0.0", "::"}
    if host.startswith("127."):
        wild |= {"::ffff:" + host}
    for ip, p in (listening if listening is not None else listening_ports()):
        if p == port and (ip == host or ip in wild):
            return True
    return False


def can_connect(port, host=LOOPBACK, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def read_text(path, default=""):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return default


def tail(text, n=40):
    lines = text.splitlines()
    return "\n".join(lines[-n:])


def _rx(pattern):
    return pattern if hasattr(pattern, "finditer") else re.compile(pattern)


class LogWaits:
    """Waiting reads of a log that another process writes (mixed into MailProxy,
    Dovecot, Postfix, AuthService; the class provides log() and describe()).

    A peer writes its log after, not before, what a client sees (Dovecot even through
    a separate log process), so a log is never read once right after an event:
      - something IS logged:      wait_log(pattern, count=n)
      - something is NOT logged:  assert_not_logged(pattern, after=SENTINEL), where
        SENTINEL is the line of a later event (proof the log has caught up)
      - exactly n times:          assert_log_count(pattern, n, after=SENTINEL)
    Patterns are regular expressions (str or compiled); re.escape() literal text.
    since=OFFSET (from log_mark()) looks only at what was logged after the mark.
    """

    def log_mark(self):
        """An offset for since=: the current length of the log text."""
        return len(self.log())

    def log_count(self, pattern, since=0):
        """How often pattern matches now (a snapshot: wait before trusting it)."""
        return sum(1 for _ in _rx(pattern).finditer(self.log()[since:]))

    def wait_log(self, pattern, timeout=20.0, count=1, since=0):
        """Wait until pattern matches at least count times in the log (from since);
        return the count-th match (its .string is the log text searched). Raises
        TimeoutError with the log tail."""
        rx = _rx(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()[since:]
            n = 0
            for m in rx.finditer(text):
                n += 1
                if n >= count:
                    return m
            if time.monotonic() >= deadline:
                raise TimeoutError("%s: %r matched %d of %d times within %.1fs\n%s" % (
                    type(self).__name__, rx.pattern, n, count, timeout, self.describe()))
            time.sleep(0.05)

    def assert_not_logged(self, pattern, after, timeout=20.0, since=0, after_count=1):
        """Wait for the sentinel `after` (after_count times), then assert that pattern
        is nowhere in the log (from since). Returns the log text."""
        self.wait_log(after, timeout=timeout, count=after_count, since=since)
        text = self.log()[since:]
        m = _rx(pattern).search(text)
        if m:
            line = text[text.rfind("\n", 0, m.start()) + 1:].split("\n", 1)[0]
            raise AssertionError("%s: %r is logged: %r\n%s" % (
                type(self).__name__, _rx(pattern).pattern, line, self.describe()))
        return text

    def assert_log_count(self, pattern, n, after, timeout=20.0, since=0, after_count=1):
        """Wait until pattern matched n times and the sentinel `after` is logged
        (after_count times), then assert exactly n matches. Returns the log text."""
        if n:
            self.wait_log(pattern, timeout=timeout, count=n, since=since)
        self.wait_log(after, timeout=timeout, count=after_count, since=since)
        text = self.log()[since:]
        got = sum(1 for _ in _rx(pattern).finditer(text))
        if got != n:
            raise AssertionError("%s: %r matched %d times, expected %d\n%s" % (
                type(self).__name__, _rx(pattern).pattern, got, n, self.describe()))
        return text


def mkdir(path, mode=0o755):
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)
    return path


# Emergency cleanup: everything the harness starts registers a stop function here
# and removes it when stopped normally; whatever is left is stopped at exit (also
# after Ctrl-C or SIGTERM of the runner).
_live = {}
_live_lock = threading.Lock()
_next_id = [0]


def register_live(stop_fn):
    with _live_lock:
        _next_id[0] += 1
        _live[_next_id[0]] = stop_fn
        return _next_id[0]


def unregister_live(token):
    with _live_lock:
        _live.pop(token, None)


def stop_all_live():
    while True:
        with _live_lock:
            if not _live:
                return
            token = max(_live)
            fn = _live.pop(token)
        try:
            fn()
        except Exception as e:       # keep stopping the others
            print("harness: cleanup error: %r" % (e,), flush=True)


atexit.register(stop_all_live)


def timeout(seconds):
    """Decorator: give one test its own time limit (default is the runner's --timeout)."""
    def deco(fn):
        fn.timeout = seconds
        return fn
    return deco
