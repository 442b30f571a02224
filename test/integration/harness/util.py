"""Small helpers shared by the harness: ports, waiting, processes, files."""

import atexit
import os
import signal
import socket
import threading
import time

LOOPBACK = "127.0.0.1"


class Skip(Exception):
    """Raise (or call ctx.skip) to report a test as SKIP with a reason."""


class TestTimeout(Exception):
    """Raised in the test's thread when its time budget is spent."""


def free_port(host=LOOPBACK):
    """A TCP port on host that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_ports(n, host=LOOPBACK):
    """n distinct free ports (all sockets are held open until every port is known)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


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


def listening_ports():
    """Set of (ip_text, port) in TCP LISTEN state, from /proc/net/tcp and tcp6."""
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


def is_listening(port, host=LOOPBACK):
    """True when something listens on host:port (or on a wildcard address for that port)."""
    wild = {"0.0.0.0", "::"}
    if host.startswith("127."):
        wild |= {"::ffff:" + host}
    for ip, p in listening_ports():
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
