"""ManageSieve logins, for run.py (`--only sieve`): nginx has no ManageSieve, so
mailproxy is compared with the same logins straight to the backend. The backend
is a real Dovecot with Pigeonhole's managesieve (the integration harness's, on
loopback, as root, in its high-performance mode: FAST), not the fake backend; the auth service is the case's own
fakeauth answering `Auth-Protocol: sieve` with that managesieve port. Each login
is a new connection: the greeting, `AUTHENTICATE "PLAIN"` with the initial
response, the OK, `LOGOUT`. The load generator is Python threads (loadgen speaks
no ManageSieve): every run is bounded by a count and by seconds. Figures: logins/s,
login p50 (connect to the OK of AUTHENTICATE), and the proxy's CPU per login
(utime+stime of master and workers over the run / the logins)."""

import base64
import os
import socket
import sys
import threading
import time

import benchlib as bl

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

USER, PASSWORD = "alice", "alicepw"
# Dovecot's high-performance mode: login and managesieve processes serve many
# sessions (every user here is the same uid). With a process started per login,
# as the test harness runs it, Dovecot makes about 10 logins/s on the 2-CPU bench
# machine, and the proxy's cost would vanish in it.
FAST = """service managesieve-login {
  service_count = 0
  process_min_avail = 2
}
service managesieve {
  service_count = 0
  process_min_avail = 2
}
protocol sieve {
  mail_max_userip_connections = 1000
}
"""
AUTH = ('AUTHENTICATE "PLAIN" "%s"\r\n' % base64.b64encode(
    ("\0%s\0%s" % (USER, PASSWORD)).encode()).decode()).encode()


def _until_status(sock, buf):
    """Reads until a line starting with OK/NO/BYE; returns (that line, rest)."""
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line[:2] == b"OK" or line[:2] == b"NO" or line[:3] == b"BYE":
                return line, buf
        chunk = sock.recv(4096)
        if not chunk:
            return b"", buf
        buf += chunk


def one_login(port):
    """One ManageSieve session; the seconds from connect to the login's OK."""
    t0 = time.monotonic()
    with socket.create_connection((bl.LOOP, port), timeout=10) as s:
        line, buf = _until_status(s, b"")
        if not line.startswith(b"OK"):
            raise RuntimeError("greeting: %r" % line)
        s.sendall(AUTH)
        line, buf = _until_status(s, buf)
        if not line.startswith(b"OK"):
            raise RuntimeError("AUTHENTICATE: %r" % line)
        took = time.monotonic() - t0
        s.sendall(b"LOGOUT\r\n")
        _until_status(s, buf)
    return took


def load(port, count, conc, seconds):
    """count logins, conc at once, for at most seconds: rate, p50, ok, errors."""
    lock = threading.Lock()
    state = {"left": count, "ok": 0, "errors": 0, "first_error": None}
    lat = []
    deadline = time.monotonic() + seconds

    def worker():
        while time.monotonic() < deadline:
            with lock:
                if state["left"] <= 0:
                    return
                state["left"] -= 1
            try:
                t = one_login(port)
                with lock:
                    state["ok"] += 1
                    lat.append(t)
            except (OSError, RuntimeError) as e:
                with lock:
                    state["errors"] += 1
                    state["first_error"] = state["first_error"] or repr(e)
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 15)
    took = time.monotonic() - t0
    lat.sort()
    return {"rate": state["ok"] / took, "p50_ms": lat[len(lat) // 2] * 1e3 if lat else None,
            "ok": state["ok"], "errors": state["errors"], "first_error": state["first_error"]}


def proxy_conf(d, port, auth_url, keepalive):
    ka = "  auth_http_keepalive: %d\n" % keepalive if keepalive else ""
    return """daemon: off
worker_processes: 2
worker_rlimit_nofile: 20000
error_log: %(d)s/error.log crit
pid: %(d)s/mailproxy.pid
events: {worker_connections: 20000}
mail:
  auth_http: %(auth)s
%(ka)s  servers:
    - {listen: "127.0.0.1:%(port)d", protocol: sieve}
""" % dict(d=d, port=port, auth=auth_url, ka=ka)


def bench_sieve(b):
    from harness.dovecot import Dovecot, sieve_installed
    if not sieve_installed() or os.geteuid() != 0:
        b.notes.append("sieve: skipped (needs root and Dovecot's managesieve: "
                       "scripts/deps.sh test)")
        return
    n = 500 if b.a.quick else 2000
    conc = 16
    os.chmod(b.tmp, 0o755)     # mkdtemp's 0700 keeps Dovecot's auth (user dovecot) out
    dv = Dovecot(os.path.join(b.tmp, "sieve-dovecot"), sieve=True, extra_conf=FAST).start()
    auth = None
    try:
        aport = bl.free_ports(1)[0]
        auth = bl.Proc([os.path.join(b.tools, "fakeauth"), "--listen", "127.0.0.1:%d" % aport,
                        "--sieve", "127.0.0.1:%d" % dv.sieve_port],
                       os.path.join(b.tmp, "sieve-auth.log"), ready="listening")
        auth_url = "127.0.0.1:%d/auth" % aport
        one_login(dv.sieve_port)                 # the first login warms Dovecot up
        res = {"direct": [], "mailproxy": [], "mailproxy+ka": []}
        for _ in range(b.a.rounds):
            res["direct"].append(load(dv.sieve_port, n, conc, 60))
            for name, ka in (("mailproxy", 0), ("mailproxy+ka", 32)):
                d = os.path.join(b.tmp, "sieve-" + name)
                os.makedirs(d, exist_ok=True)
                port = bl.free_ports(1)[0]
                conf = os.path.join(d, "mailproxy.yaml")
                with open(conf, "w") as f:
                    f.write(proxy_conf(d, port, auth_url, ka))
                px = bl.Proxy(name, "mailproxy", d)
                px.proc = bl.Proc([b.bin, "-c", conf], os.path.join(d, "stdout.log"))
                try:
                    bl.wait_port(port)
                    procs = px.pids()
                    c0 = bl.cpu_seconds(procs)
                    r = load(port, n, conc, 60)
                    r["proxy_cpu_us"] = (bl.cpu_seconds(px.pids()) - c0) / max(r["ok"], 1) * 1e6
                finally:
                    px.stop()
                res[name].append(r)
        for name, runs in res.items():
            errs = sum(r["errors"] for r in runs)
            if errs:
                b.notes.append("sieve %s: %d errors (%s)" % (
                    name, errs, next(r["first_error"] for r in runs if r["errors"])))
        med = {k: {f: bl.median([r.get(f) for r in v]) for f in
                   ("rate", "p50_ms", "proxy_cpu_us")} for k, v in res.items()}
        b.add("sieve", "ManageSieve logins/s", "/s",
              {k: v["rate"] for k, v in med.items()})
        b.add("sieve", "ManageSieve login p50", "ms",
              {k: v["p50_ms"] for k, v in med.items()}, better="lower")
        b.add("sieve", "ManageSieve proxy CPU per login", "us",
              {k: v["proxy_cpu_us"] for k, v in med.items()}, better="lower")
        d = med["direct"]
        b.notes.append("sieve (nginx has no ManageSieve): straight to Dovecot's managesieve "
                       "%.0f logins/s, p50 %.1f ms; through mailproxy %.2f of that rate "
                       "(%.2f with auth_http_keepalive); %d logins per run, %d at once" % (
                           d["rate"], d["p50_ms"] or 0,
                           (med["mailproxy"]["rate"] or 0) / max(d["rate"] or 0, 1e-9),
                           (med["mailproxy+ka"]["rate"] or 0) / max(d["rate"] or 0, 1e-9),
                           n, conc))
    finally:
        if auth is not None:
            auth.stop()
        dv.stop()
