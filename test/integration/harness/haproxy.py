"""Debian's haproxy as a test peer: started on loopback from a generated config in its
own directory, followed by its PID, and driven through its runtime API (a unix
socket at level admin)."""

import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from .util import (LogWaits, Skip, is_listening, listening_ports, mkdir, read_text,
                   register_live, tail, unregister_live, wait_until)

HAPROXY = "haproxy"

# show servers state: srv_op_state and the srv_admin_state bits the tests look at
OP_DOWN, OP_STARTING, OP_UP, OP_STOPPING = 0, 1, 2, 3
ADMIN_FORCED_DRAIN = 0x08


class HAProxy(LogWaits):
    """haproxy -db -f WORKDIR/haproxy.cfg: `global` is written here (the admin socket,
    logs to stderr, which is captured in WORKDIR/haproxy.log); `config` is the rest
    of the file (defaults, frontends, backends), verbatim.

    start() waits until every `bind` address of `config` listens and the runtime API
    answers; stop() sends SIGUSR1 (soft stop), then SIGTERM and SIGKILL, by PID.
    cmd(line) runs one runtime API command and returns its output; servers(backend)
    reads `show servers state`, stat() `show stat`; set_state(backend, server, state)
    is `set server B/S state ready|drain|maint`.
    """

    def __init__(self, workdir, config, global_extra=""):
        if shutil.which(HAPROXY) is None:
            raise Skip("haproxy is not installed (scripts/deps.sh test)")
        self.dir = mkdir(os.path.abspath(workdir))
        self.conf_path = os.path.join(self.dir, "haproxy.cfg")
        self.log_path = os.path.join(self.dir, "haproxy.log")
        # a unix socket path is limited to 108 bytes: a short directory of its own,
        # made by start() and removed when it stops
        self._sockdir = None
        self.socket_path = None
        self.config = config
        self.global_extra = global_extra
        self.binds = [(h, int(p)) for h, p in
                      re.findall(r"(?m)^\s*bind\s+([0-9.]+):(\d+)", config)]
        self.proc = None
        self._log = None
        self._token = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def text(self):
        return ("global\n"
                "    stats socket %s mode 600 level admin\n"
                "    log stderr format raw local0 info\n"
                "%s\n%s" % (self.socket_path, self.global_extra, self.config))

    def _check(self):
        with open(self.conf_path, "w") as f:
            f.write(self.text())
        r = subprocess.run([HAPROXY, "-c", "-f", self.conf_path], capture_output=True,
                           timeout=20)
        return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")

    def check(self):
        """haproxy -c of the configuration: (exit status, output)."""
        if self._sockdir is not None:
            return self._check()
        self.socket_path = "/tmp/mpha-check/admin.sock"     # never bound by -c
        try:
            return self._check()
        finally:
            self.socket_path = None

    def start(self, timeout=10.0):
        self._sockdir = tempfile.mkdtemp(prefix="mpha-", dir="/tmp")
        self.socket_path = os.path.join(self._sockdir, "admin.sock")
        rc, out = self._check()
        if rc != 0:
            self._done()
            raise RuntimeError("haproxy -c refused the configuration:\n%s\n--- %s\n%s" % (
                out, self.conf_path, self.text()))
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.conf_path], cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._token = register_live(self.stop)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self._done()
                raise RuntimeError("haproxy exited with %s during start-up\n%s" % (
                    self.proc.returncode, self.describe()))
            now = listening_ports()
            if all(is_listening(p, h, now) for h, p in self.binds) and self._answers():
                return self
            if time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError("haproxy did not listen on %s within %.0fs\n%s" % (
                    self.binds, timeout, self.describe()))
            time.sleep(0.05)

    def _answers(self):
        try:
            return "Version" in self.cmd("show info", timeout=1.0)
        except OSError:
            return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _done(self):
        if self._token:
            unregister_live(self._token)
            self._token = None
        if self._log:
            self._log.close()
            self._log = None
        if self._sockdir is not None:
            shutil.rmtree(self._sockdir, ignore_errors=True)
            self._sockdir = None

    def stop(self, timeout=10.0):
        """Soft stop (SIGUSR1: stop listening, let sessions end), bounded by timeout,
        then SIGTERM and SIGKILL. Returns the exit status."""
        if self.proc is None:
            return None
        for sig, t in ((signal.SIGUSR1, timeout), (signal.SIGTERM, 5.0),
                       (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            try:
                self.proc.wait(t)
            except subprocess.TimeoutExpired:
                continue
        self._done()
        return self.proc.returncode

    # -- runtime API
    def cmd(self, line, timeout=5.0):
        """One runtime API command on a fresh connection; its whole output."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.socket_path)
            s.sendall(line.encode() + b"\n")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        return out.decode("utf-8", "replace")

    def servers(self, backend):
        """{server name: row of `show servers state BACKEND`} with the documented
        column names (srv_op_state, srv_admin_state, ... as ints where numeric)."""
        out = self.cmd("show servers state %s" % backend)
        lines = out.splitlines()
        head = next((l for l in lines if l.startswith("# be_id")), None)
        if head is None:
            raise RuntimeError("unexpected show servers state output: %r" % out)
        names = head[2:].split()
        rows = {}
        for line in lines:
            vals = line.split()
            if line.startswith("#") or len(vals) < 5:     # the first line is the format version
                continue
            row = {}
            for k, v in zip(names, vals):
                row[k] = int(v) if re.fullmatch(r"-?\d+", v) else v
            rows[row["srv_name"]] = row
        return rows

    def stat(self):
        """`show stat` as a list of dicts (the CSV header's column names)."""
        out = self.cmd("show stat")
        if out.startswith("# "):
            out = out[2:]
        return [r for r in csv.DictReader(io.StringIO(out)) if r.get("pxname")]

    def server_stat(self, backend, server):
        for r in self.stat():
            if r["pxname"] == backend and r["svname"] == server:
                return r
        raise KeyError((backend, server))

    def set_state(self, backend, server, state):
        out = self.cmd("set server %s/%s state %s" % (backend, server, state))
        if out.strip():
            raise RuntimeError("set server %s/%s state %s: %s" % (backend, server, state, out))

    def wait_server(self, backend, server, pred, timeout=20.0, what=None):
        """Wait until pred(row of show servers state) is true; returns the row."""
        def ok():
            row = self.servers(backend).get(server)
            return row if row is not None and pred(row) else None
        return wait_until(ok, timeout, interval=0.05,
                          what=what or "%s/%s in show servers state" % (backend, server))

    # -- output
    def log(self):
        return read_text(self.log_path)

    def describe(self, lines=30):
        return "--- %s\n%s\n--- haproxy log (tail)\n%s" % (
            self.conf_path, self.text().rstrip(), tail(self.log(), lines))

