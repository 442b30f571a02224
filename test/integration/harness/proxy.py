"""Running the mailproxy binary: as a server (MailProxy) and one-shot (run_cli)."""

import copy
import os
import re
import signal
import subprocess
import time

from .util import (LOOPBACK, LogWaits, children_of, free_port, is_listening, listening_ports,
                   mkdir, pid_alive, read_text, register_live, send_signal, stop_pid, tail,
                   unregister_live, wait_pid_gone, wait_until)
from .yamlgen import to_yaml



class CliResult:
    """Outcome of one run of the binary: .rc, .stdout, .stderr, .out (both), .args."""

    def __init__(self, args, rc, stdout, stderr):
        self.args, self.rc, self.stdout, self.stderr = args, rc, stdout, stderr

    @property
    def out(self):
        return self.stdout + self.stderr

    def __repr__(self):
        return "CliResult(rc=%r, args=%r,\n--- stdout\n%s\n--- stderr\n%s)" % (
            self.rc, self.args, tail(self.stdout, 30), tail(self.stderr, 30))


def run_cli(binary, *args, cwd=None, timeout=20, env=None, input=None):
    """Run BINARY ARGS... to completion (bounded by timeout), capture rc/stdout/stderr."""
    argv = [binary] + [str(a) for a in args]
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(argv, cwd=cwd, env=e, input=input, capture_output=True,
                       timeout=timeout)
    return CliResult(argv, p.returncode, p.stdout.decode("utf-8", "replace"),
                     p.stderr.decode("utf-8", "replace"))


def parse_listen(item):
    """'127.0.0.1:1143 ssl' -> ('127.0.0.1', 1143, ['ssl']); a bare port means *:port."""
    parts = item.split()
    addr = parts[0]
    m = re.match(r"^\[([^\]]+)\]:(\d+)$", addr)
    if m:
        return m.group(1), int(m.group(2)), parts[1:]
    if addr.isdigit():
        return "0.0.0.0", int(addr), parts[1:]
    host, _, port = addr.rpartition(":")
    if host in ("", "*"):
        host = "0.0.0.0"
    return host, int(port), parts[1:]


class _StderrView(LogWaits):
    """LogWaits over a MailProxy's captured stdout+stderr."""

    def __init__(self, mp):
        self.mp = mp

    def log(self):
        return self.mp.stderr()

    def describe(self):
        return self.mp.describe()


class MailProxy(LogWaits):
    """One mailproxy master (daemon: off) running from a private prefix directory.

    config   a dict (turned into YAML), or YAML text written verbatim.
    servers  list of server dicts, appended to config["mail"]["servers"]; a server
             without "listen" gets a free 127.0.0.1 port (with "ssl" appended when the
             dict has ssl_listen=True, which is removed).
    mail     dict merged into config["mail"].
    auth     an AuthService / FakeAuth (anything with .url): sets mail.auth_http
             when it is not set.
    main     dict of main-context directives merged into config (e.g. {"user": ...}).
    wait_ports  ports to wait for (default: every listen port found in the config).
    env      extra environment for the binary.
    args     extra command-line arguments.
    Defaults filled in (unless given): daemon off, pid PREFIX/mailproxy.pid,
    error_log "PREFIX/error.log debug", worker_processes 2.
    """

    def __init__(self, binary, prefix, config=None, servers=None, mail=None, auth=None,
                 main=None, wait_ports=None, env=None, args=()):
        self.binary = binary
        self.prefix = mkdir(os.path.abspath(prefix))
        self.config_path = os.path.join(self.prefix, "mailproxy.yaml")
        self.pid_path = os.path.join(self.prefix, "mailproxy.pid")
        self.error_log_path = os.path.join(self.prefix, "error.log")
        self.stderr_path = os.path.join(self.prefix, "stderr.log")
        self.env = dict(env or {})
        self.args = list(args)
        self.proc = None
        self.returncode = None
        self.ports = {}          # protocol -> first listen port of that protocol
        self.listens = []        # [(host, port, params, protocol)]
        self._token = None
        self.started = False     # True once start() saw every listen port
        self._known_workers = set()
        self._pid_known = False   # the config names the pid file (start() waits for it)
        if isinstance(config, str):
            self.config = None
            self.yaml = config
            self._scan_text(config)
        else:
            self.config = self._build(config or {}, servers, mail, auth, main)
            self.yaml = to_yaml(self.config) + "\n"
        self.wait_ports = list(wait_ports) if wait_ports is not None else \
            [(h, p) for h, p, _, _ in self.listens]
        with open(self.config_path, "w") as f:
            f.write(self.yaml)

    # -- configuration
    def _build(self, config, servers, mail, auth, main):
        cf = copy.deepcopy(config)
        for k, v in (main or {}).items():
            cf[k] = v
        cf.setdefault("daemon", False)
        cf.setdefault("pid", self.pid_path)
        cf.setdefault("error_log", "%s debug" % self.error_log_path)
        cf.setdefault("worker_processes", 2)
        m = cf.setdefault("mail", {})
        for k, v in (mail or {}).items():
            m[k] = v
        if auth is not None:
            m.setdefault("auth_http", auth.url)
        srv = m.setdefault("servers", [])
        srv.extend(copy.deepcopy(list(servers or [])))
        for s in srv:
            ssl = s.pop("ssl_listen", False)
            if "listen" not in s:
                s["listen"] = ["%s:%d%s" % (LOOPBACK, free_port(), " ssl" if ssl else "")]
            if isinstance(s["listen"], str):
                s["listen"] = [s["listen"]]
            for item in s["listen"]:
                host, port, params = parse_listen(item)
                proto = s.get("protocol") or {143: "imap", 993: "imap", 110: "pop3",
                                              995: "pop3", 4190: "sieve"}.get(port, "smtp")
                self.listens.append((host, port, params, proto))
                self.ports.setdefault(proto, port)
                if "ssl" in params:
                    self.ports.setdefault(proto + "s", port)
        if cf.get("pid"):
            self.pid_path = os.path.join(self.prefix, cf["pid"])
            self._pid_known = True
        el = cf.get("error_log")
        for item in ([el] if isinstance(el, str) else list(el or [])):
            if isinstance(item, str) and not item.startswith(("stderr", "syslog:")):
                self.error_log_path = os.path.join(self.prefix, item.split()[0])
                break
        return cf

    def _scan_text(self, text):
        """Find listen items (and their server's protocol) in hand-written YAML."""
        block, proto = [], None

        def flush():
            for host, port, params in block:
                p = proto or {143: "imap", 993: "imap", 110: "pop3",
                              995: "pop3", 4190: "sieve"}.get(port, "smtp")
                self.listens.append((host, port, params, p))
                self.ports.setdefault(p, port)
            block.clear()

        for line in text.splitlines():
            if re.match(r"^\s*-\s", line):        # a new server mapping begins
                flush()
                proto = None
            m = re.search(r"protocol:\s*[\"']?(imap|pop3|smtp|sieve)", line)
            if m:
                proto = m.group(1)
            m = re.search(r"listen:\s*(.*)$", line)
            if m:
                for item in re.findall(r"\"([^\"]+)\"|'([^']+)'", m.group(1)):
                    block.append(parse_listen(item[0] or item[1]))
        flush()
        for line in text.splitlines():
            m = re.match(r"\s*error_log:\s*\"?([^\s\"]+)", line)
            if m and not m.group(1).startswith(("stderr", "syslog:", "[")):
                self.error_log_path = os.path.join(self.prefix, m.group(1))
                break
        for line in text.splitlines():
            m = re.match(r"pid:\s*\"?([^\s\"]+)", line)
            if m:
                self.pid_path = os.path.join(self.prefix, m.group(1))
                self._pid_known = True

    def check(self, *extra, timeout=20):
        """Run BINARY -t -p PREFIX -c CONFIG (plus extra args); a CliResult."""
        return run_cli(self.binary, "-t", "-p", self.prefix, "-c", self.config_path, *extra,
                       env=self.env, timeout=timeout)

    # -- life cycle
    def start(self, timeout=10.0):
        """Start the master and wait until every listen port is in LISTEN state (the
        kernel then accepts connections; no probe connection is made, so the log has
        no empty sessions)."""
        env = dict(os.environ)
        env.update(self.env)
        argv = [self.binary, "-p", self.prefix, "-c", self.config_path] + self.args
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(argv, cwd=self.prefix, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._stderr, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._token = register_live(self.stop)
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                unregister_live(self._token)
                self._stderr.close()
                raise RuntimeError("mailproxy exited with %s during start-up\n%s" % (
                    rc, self.describe()))
            now_listening = listening_ports()
            pending = [(h, p) for h, p in self.wait_ports
                       if not is_listening(p, h if h not in ("0.0.0.0", "::") else LOOPBACK,
                                           now_listening)]
            # The master listens before it writes its pid file and forks its
            # workers: wait for those too (the pid file when the config names one,
            # worker_processes when it is a number), so -s commands, pidfile_pid() and
            # workers() are right at once. Not fatal: a test may break them on purpose.
            up_pending = (self._pid_known and self.pidfile_pid() != self.proc.pid) or \
                len(children_of(self.proc.pid)) < self._expected_workers()
            if not pending and (not up_pending or time.monotonic() >= deadline):
                self.started = True
                self._note_workers()
                return self
            if pending and time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError("mailproxy did not listen on %s within %.0fs\n%s" % (
                    pending, timeout, self.describe()))
            time.sleep(0.05)

    def _expected_workers(self):
        cf = self.config
        if not isinstance(cf, dict) or cf.get("master_process") is False:
            return 0
        n = cf.get("worker_processes")
        return n if isinstance(n, int) and not isinstance(n, bool) else 0

    def _note_workers(self):
        if self.proc is not None and self.alive():
            self._known_workers.update(children_of(self.proc.pid))

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def workers(self):
        """PIDs of the master's current child processes."""
        if not self.alive():
            return []
        w = children_of(self.proc.pid)
        self._known_workers.update(w)
        return w

    def pidfile_pid(self):
        """The PID written into the pid file, or None."""
        try:
            return int(read_text(self.pid_path).strip())
        except ValueError:
            return None

    def signal(self, sig):
        """Send sig to the master."""
        if self.proc is not None and self.proc.poll() is None:
            self._note_workers()
            os.kill(self.proc.pid, sig)

    def reload(self):
        self.signal(signal.SIGHUP)

    def upgrade_start(self, ctx, workers):
        """USR2, then wait for the new master and its workers; returns (the new
        master's PID, its workers). ctx stops the new master and its workers at
        cleanup, waking any a test holds with SIGSTOP."""
        new_master = [None]

        def stop_new():
            pid = new_master[0]
            if pid and pid_alive(pid):
                kids = children_of(pid)
                for k in kids:
                    send_signal(k, signal.SIGCONT)
                stop_pid(pid, signal.SIGQUIT, timeout=10)
                for k in kids:
                    stop_pid(k, signal.SIGTERM, timeout=5)
        ctx.cleanup(stop_new)
        self.signal(signal.SIGUSR2)
        wait_until(lambda: os.path.exists(self.pid_path + ".oldbin") and
                   self.pidfile_pid() not in (None, self.pid), 20, what="the new master")
        new_master[0] = self.pidfile_pid()
        wait_until(lambda: len(children_of(new_master[0])) == workers, 20, what="the new workers")
        return new_master[0], children_of(new_master[0])

    def upgrade(self, ctx, workers):
        """Binary upgrade as an operator does it: USR2, wait for the new master and
        its workers, WINCH (the old workers go), QUIT (the old master goes). Returns
        (the new master's PID, its workers); ctx stops the new master at cleanup."""
        old_workers = self.workers()
        new_master, new_workers = self.upgrade_start(ctx, workers)
        self.signal(signal.SIGWINCH)
        for w in old_workers:
            assert wait_pid_gone(w, 15), "old worker %d still running after WINCH" % w
        self.signal(signal.SIGQUIT)
        assert self.wait_exit(15) is not None, "the old master did not leave"
        return new_master, new_workers

    def wait_exit(self, timeout=10.0):
        """Wait for the master to exit by itself; its exit status (None on timeout)."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, timeout=10.0):
        """Graceful stop: SIGQUIT, after timeout SIGTERM, then SIGKILL; waits for the
        PID, then stops any worker the master left behind (by PID). Returns the exit
        status of the master."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self._note_workers()
            for sig, t in ((signal.SIGQUIT, timeout), (signal.SIGTERM, 5.0),
                           (signal.SIGKILL, 5.0)):
                try:
                    os.kill(self.proc.pid, sig)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(t)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.returncode = self.proc.poll()
        for w in sorted(self._known_workers):
            if pid_alive(w) and not wait_pid_gone(w, 2.0):
                stop_pid(w, signal.SIGTERM, timeout=2.0)
        self._known_workers.clear()
        if self._token:
            unregister_live(self._token)
            self._token = None
        if not self._stderr.closed:
            self._stderr.close()
        return self.returncode

    # -- output
    def log(self):
        """Text of the error log."""
        return read_text(self.error_log_path)

    def stderr(self):
        """Everything the master and workers wrote to stdout/stderr."""
        return read_text(self.stderr_path)

    # wait_log(pattern, timeout=20, count=1, since=0), assert_not_logged(pattern,
    # after=...), assert_log_count(pattern, n, after=...), log_mark(): util.LogWaits
    # on the error log. wait_stderr(pattern, ...): the same on stdout+stderr.
    def wait_stderr(self, pattern, timeout=20.0, count=1, since=0):
        """Wait until stdout+stderr match pattern count times; the count-th match."""
        return _StderrView(self).wait_log(pattern, timeout=timeout, count=count, since=since)

    def log_files(self):
        return [self.stderr_path, self.error_log_path]

    def describe(self, lines=40):
        return "--- %s (config)\n%s\n--- stderr (tail)\n%s\n--- error log (tail)\n%s" % (
            self.config_path, self.yaml.rstrip(), tail(self.stderr(), lines),
            tail(self.log(), lines))
