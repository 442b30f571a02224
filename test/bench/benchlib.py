"""Pieces of the side-by-side benchmark (run.py): starting and stopping the
processes, the two proxies' configurations, reading CPU time and memory from
/proc. Standard library only. Every wait is bounded; only what was started
here is stopped, by PID."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time

LOOP = "127.0.0.1"


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind((LOOP, 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def wait_port(port, host=LOOP, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %s:%d after %.0fs" % (host, port, timeout))


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


def cpu_seconds(pids):
    """User + system CPU seconds of the given processes (ticks of 10 ms)."""
    tot = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            tot += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return tot / float(os.sysconf("SC_CLK_TCK"))


def user_cpu_seconds(pids):
    """User-mode CPU seconds only (utime): the proxy's own code, without the kernel's TCP."""
    tot = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                tot += int(f.read().rsplit(")", 1)[1].split()[11])
        except (OSError, IndexError, ValueError):
            pass
    return tot / float(os.sysconf("SC_CLK_TCK"))


def box_cpu_seconds():
    """CPU seconds the whole machine spent busy (every process and the kernel's
    softirq work for loopback TCP), from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = sum(v[:8]) - v[3] - (v[4] if len(v) > 4 else 0)   # all but idle and iowait
    return busy / float(os.sysconf("SC_CLK_TCK"))


def pss_kb(pids):
    """Sum of the proportional set size of the processes, from smaps_rollup."""
    tot = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        tot += int(line.split()[1])
                        break
        except OSError:
            pass
    return tot


class Proc:
    """A started process, stopped by PID."""

    def __init__(self, argv, log, env=None, ready=None, timeout=10.0):
        self.argv = argv
        self.log = log
        self.out = open(log, "wb")
        e = dict(os.environ)
        e.update(env or {})
        self.p = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=e)
        if ready is not None:
            deadline = time.monotonic() + timeout
            while ready not in self.text():
                if self.p.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("%s did not start:\n%s" % (argv[0], self.text()[-2000:]))
                time.sleep(0.02)

    @property
    def pid(self):
        return self.p.pid

    def text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.p.poll() is None:
            try:
                self.p.send_signal(sig)
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self.out.close()


def loadgen(tools, args, timeout):
    """Runs loadgen to the end; its JSON result (the last stdout line)."""
    r = subprocess.run([os.path.join(tools, "loadgen")] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout)
    for line in reversed(r.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("loadgen gave no result: %s %s" % (r.stdout[-500:], r.stderr[-500:]))


def loadgen_start(tools, args, log):
    """Starts loadgen in the background (stdout and stderr to log); see loadgen_result."""
    return Proc([os.path.join(tools, "loadgen")] + [str(a) for a in args], log)


def loadgen_result(proc, timeout):
    """Waits (bounded) for a loadgen from loadgen_start; its JSON result."""
    try:
        proc.p.wait(timeout)
    finally:
        proc.stop()
    for line in reversed(proc.text().strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("loadgen gave no result: %s" % proc.text()[-800:])


def auth_stats(port):
    """fakeauth's counters (GET /stats): dict of requests, ok, fail, bad, timeout."""
    with socket.create_connection((LOOP, port), timeout=5) as s:
        s.sendall(b"GET /stats HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    body = data.decode().split("\r\n\r\n", 1)[1]
    return {k: int(v) for k, v in (f.split("=") for f in body.split())}


# The failed-login limits of the credential-stuffing case (mailproxy only). The
# tarpit is 0: a tarpit holds the attacker's session open (a timer and an idle
# session) and slows only an attacker that waits for the answer; with 0 every
# refusal is answered at once, so the attack keeps its full rate and the figures
# are the proxy's own cost per refused login.
STUFFING_LIMITS = """  login_limit_zone: "shared:logins:10m"
  login_limit_addr: "10/m burst=5 block=10m"
  login_limit_user: "30/m burst=50 block=10m"
  login_limit_pair: "5/m burst=5 block=10m"
  login_limit_tarpit: 0s
"""


# ---------------------------------------------------------------- Redis

class Redis:
    """A private redis-server on 127.0.0.1 for the login_limit_store case: a free
    port, its own directory, nothing persisted (save "", appendonly no), stopped by
    PID (stop(), also when it did not come up)."""

    def __init__(self, workdir, binary="redis-server", timeout=10.0):
        if shutil.which(binary) is None:
            raise RuntimeError("%s not found (scripts/deps.sh bench installs it)" % binary)
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = free_ports(1)[0]
        conf = os.path.join(workdir, "redis.conf")
        with open(conf, "w") as f:
            f.write("bind 127.0.0.1\nport %d\nsave \"\"\nappendonly no\ndaemonize no\n"
                    "protected-mode no\ndir %s\nlogfile \"\"\n" % (self.port, workdir))
        self.proc = Proc([binary, conf], os.path.join(workdir, "redis.log"))
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.call("PING", timeout=1.0) == "PONG":
                    break
            except (OSError, RuntimeError):
                pass
            if self.proc.p.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not answer PING on port %d:\n%s" % (
                    self.port, self.proc.text()[-2000:]))
            time.sleep(0.05)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        self.proc.stop()

    def call(self, *args, timeout=5.0):
        return resp_call(self.port, *args, timeout=timeout)

    def info(self, section):
        """INFO SECTION as a dict of its name:value lines (values as text)."""
        out = {}
        for line in self.call("INFO", section).splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = v
        return out

    def counts(self):
        """total_commands_processed, and the calls of each command (INFO commandstats:
        'evalsha', 'hget', ...), read before the INFO that reads them is counted."""
        total = int(self.info("stats")["total_commands_processed"])
        calls = {}
        for k, v in self.info("commandstats").items():
            if k.startswith("cmdstat_"):
                calls[k[8:]] = int(dict(f.split("=", 1) for f in v.split(","))["calls"])
        return {"total": total, "calls": calls}


def resp_call(port, *args, timeout=5.0):
    """One Redis command on a fresh loopback connection (RESP2). Returns the reply:
    str for a status or bulk string, int, list, None; raises RuntimeError for an
    error reply."""
    req = b"*%d\r\n" % len(args)
    for a in args:
        a = str(a).encode()
        req += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection((LOOP, port), timeout=timeout) as s:
        s.sendall(req)
        f = s.makefile("rb")

        def reply():
            line = f.readline()
            if not line.endswith(b"\r\n"):
                raise OSError("redis closed mid-reply")
            kind, rest = line[:1], line[1:-2].decode()
            if kind == b"+":
                return rest
            if kind == b"-":
                raise RuntimeError("redis: " + rest)
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                if n < 0:
                    return None
                data = f.read(n + 2)
                if len(data) != n + 2:
                    raise OSError("redis closed mid-reply")
                return data[:-2].decode("utf-8", "replace")
            if kind == b"*":
                n = int(rest)
                return None if n < 0 else [reply() for _ in range(n)]
            raise OSError("not RESP: %r" % line[:80])
        return reply()


def mailproxy_status(binary, conf):
    """`mailproxy -s status -c CONF`: the running server's counters (JSON)."""
    r = subprocess.run([binary, "-s", "status", "-c", conf], capture_output=True, text=True,
                       timeout=20)
    out = r.stdout
    if r.returncode != 0 or "{" not in out:
        raise RuntimeError("mailproxy -s status: %s %s" % (out[-500:], r.stderr[-500:]))
    return json.loads(out[out.index("{"):])


def limit_zone_status(binary, conf):
    """The first login_limit_zone of -s status (entries, failures, blocks,
    blocked_logins, store_answers, fallbacks, ...), with the workers' total of
    limit_blocked (every login the limits refused, whoever decided)."""
    st = mailproxy_status(binary, conf)
    zones = st["login_limit_zones"]
    out = dict(zones[0] if isinstance(zones, list) else next(iter(zones.values())))
    out["limit_blocked"] = st["totals"]["limit_blocked"]
    return out


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2.0


class Proxy:
    """One proxy under test (nginx or mailproxy) with its listeners."""

    def __init__(self, name, kind, workdir):
        self.name, self.kind, self.dir = name, kind, workdir
        os.makedirs(workdir, exist_ok=True)
        self.proc = None
        self.ports = {}
        self.conf = None

    def pids(self):
        if self.proc is None:
            return []
        return [self.proc.pid] + children(self.proc.pid)

    def workers(self):
        return children(self.proc.pid) if self.proc else []

    def stop(self):
        if self.proc is not None:
            # Fast stop: TERM for both (nginx and mailproxy alike).
            self.proc.stop(signal.SIGTERM, timeout=15)
            self.proc = None


def nginx_conf(d, ports, auth_url, cert, key, workers, conns, affinity=None):
    """affinity: worker_cpu_affinity's value ("auto", masks), or None for none."""
    aff = "worker_cpu_affinity %s;\n" % affinity if affinity else ""
    return """load_module /usr/lib/nginx/modules/ngx_mail_module.so;
worker_processes %(workers)d;
%(aff)sworker_rlimit_nofile 20000;
error_log %(d)s/error.log crit;
pid %(d)s/nginx.pid;
daemon off;
events { worker_connections %(conns)d; }
mail {
    auth_http %(auth)s;
    ssl_certificate %(cert)s;
    ssl_certificate_key %(key)s;
    ssl_session_cache shared:SSL:10m;
    ssl_protocols TLSv1.2 TLSv1.3;
    server { listen 127.0.0.1:%(imap)d; protocol imap; }
    server { listen 127.0.0.1:%(pop3)d; protocol pop3; }
    server { listen 127.0.0.1:%(smtp)d; protocol smtp; }
    server { listen 127.0.0.1:%(imaps)d ssl; protocol imap; }
    server { listen 127.0.0.1:%(imapsnt)d ssl; protocol imap; ssl_session_tickets off; }
}
""" % dict(d=d, workers=workers, conns=conns, auth=auth_url, cert=cert, key=key, aff=aff,
           **ports)


def mailproxy_conf(d, ports, auth_url, cert, key, workers, conns, keepalive, extra="",
                   affinity=None, main="", listen=""):
    """extra: more settings of the mail block, as YAML lines indented by 2;
    affinity: worker_cpu_affinity's value ("auto", masks), or None for none;
    main: more top-level settings, as YAML lines; listen: parameters added to
    every listen (" reuseport=cpu")."""
    ka = "  auth_http_keepalive: %d\n" % keepalive if keepalive else ""
    ka += extra
    aff = "worker_cpu_affinity: \"%s\"\n" % affinity if affinity else ""
    aff += main
    return """daemon: off
worker_processes: %(workers)d
%(aff)sworker_rlimit_nofile: 20000
error_log: %(d)s/error.log crit
pid: %(d)s/mailproxy.pid
events: {worker_connections: %(conns)d}
mail:
  auth_http: %(auth)s
%(ka)s  ssl_certificate: %(cert)s
  ssl_certificate_key: %(key)s
  ssl_session_cache: "shared:SSL:10m"
  ssl_protocols: TLSv1.2 TLSv1.3
  servers:
    - {listen: "127.0.0.1:%(imap)d%(lp)s", protocol: imap}
    - {listen: "127.0.0.1:%(pop3)d%(lp)s", protocol: pop3}
    - {listen: "127.0.0.1:%(smtp)d%(lp)s", protocol: smtp}
    - {listen: "127.0.0.1:%(imaps)d ssl%(lp)s", protocol: imap}
    - {listen: "127.0.0.1:%(imapsnt)d ssl%(lp)s", protocol: imap, ssl_session_tickets: off}
""" % dict(d=d, workers=workers, conns=conns, auth=auth_url, cert=cert, key=key, ka=ka,
           aff=aff, lp=listen, **ports)


def start_proxy(px, binary, auth_url, cert, key, workers=2, conns=20000, keepalive=0,
                extra="", affinity=None, cpus=None, main="", listen=""):
    """cpus: a CPU list ("0-7") the proxy starts on (taskset, which execs it: the
    PID stays the proxy's), so that worker_cpu_affinity auto picks among those."""
    names = ("imap", "pop3", "smtp", "imaps", "imapsnt")
    px.ports = dict(zip(names, free_ports(len(names))))
    if px.kind == "nginx":
        conf = os.path.join(px.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(px.dir, px.ports, auth_url, cert, key, workers, conns,
                               affinity))
        argv = ["nginx", "-p", px.dir, "-c", conf]
    else:
        conf = os.path.join(px.dir, "mailproxy.yaml")
        px.conf = conf
        with open(conf, "w") as f:
            f.write(mailproxy_conf(px.dir, px.ports, auth_url, cert, key, workers, conns,
                                   keepalive, extra, affinity, main, listen))
        argv = [binary, "-c", conf]
    if cpus:
        argv = ["taskset", "-c", cpus] + argv
    px.proc = Proc(argv, os.path.join(px.dir, "stdout.log"))
    for p in px.ports.values():
        wait_port(p)
    deadline = time.monotonic() + 10
    while len(px.workers()) < workers and time.monotonic() < deadline:
        time.sleep(0.05)
    return px
