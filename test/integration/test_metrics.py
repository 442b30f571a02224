"""The status endpoint (status_listen) through the real binary: logins through Dovecot
and Postfix counted exactly in GET /metrics (Prometheus text format 0.0.4, accepted by
`promtool check metrics`), a real Prometheus scraping it every second during a login
load and answering the same values through its HTTP API, GET /status equal to
`-s status`, the allow-list, a slow client that costs one connection and nothing else,
oversized and bad requests, sessions by state and TLS handshakes by version, and
counters that survive a reload, a killed worker and a binary upgrade."""

import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request

from harness import LineClient, free_port, pid_alive, stop_pid, timeout, wait_until
from harness.util import register_live, unregister_live
from tls_support import client_context, self_signed, tls_server

SAMPLE_RX = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_RX = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def http_get(port, path, method="GET", host="127.0.0.1", source=None, timeout=10):
    """One request on a fresh connection: (status, headers dict, body bytes)."""
    s = socket.create_connection((host, port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    with s:
        s.sendall(("%s %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (method, path, host)).encode())
        data = read_all(s)
    return parse_response(data)


def read_all(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def parse_response(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    return status, headers, body


def parse_metrics(text):
    """{(name, frozenset(labels without worker)): value summed over workers}, and types."""
    out, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split()
            types[name] = typ
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RX.match(line)
        assert m, "not a sample line: %r" % line
        labels = dict(LABEL_RX.findall(m.group(2) or ""))
        labels.pop("worker", None)
        key = (m.group(1), frozenset(labels.items()))
        out[key] = out.get(key, 0) + float(m.group(3))
    return out, types


def metric(samples, name, **labels):
    """The sum of the samples of name whose labels include these (worker is summed)."""
    want = set(labels.items())
    return sum(v for (n, l), v in samples.items() if n == name and want <= l)


def scrape(port):
    status, headers, body = http_get(port, "/metrics")
    assert status == 200, (status, body[:200])
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return body.decode()


def imap_login(port, user, password):
    with LineClient(port) as c:
        assert c.readline().startswith(b"* OK")
        c.cmd("a LOGIN %s %s" % (user, password))
        line = c.read_until(b"a ")[-1]
        if line.startswith(b"a OK"):
            c.cmd("b LOGOUT")
            c.read_until(b"b ")
        return line


def pop3_login(port, user, password):
    with LineClient(port) as c:
        assert c.readline().startswith(b"+OK")
        c.cmd("USER " + user)
        assert c.readline().startswith(b"+OK")
        c.cmd("PASS " + password)
        line = c.readline()
        if line.startswith(b"+OK"):
            c.cmd("QUIT")
            c.readline()
        return line


def smtp_login(port, user, password):
    """One AUTH PLAIN (one mechanism: the proxy closes after a refusal)."""
    s = smtplib.SMTP("127.0.0.1", port, timeout=15)
    try:
        s.ehlo("client.example")
        s.user, s.password = user, password
        s.auth("PLAIN", s.auth_plain)
        s.quit()
        return True
    except smtplib.SMTPAuthenticationError as e:
        assert e.smtp_code == 535, e
        s.close()
        return False


def setup(ctx, main=None, workers=2, servers=("imap", "pop3", "smtp")):
    dv = ctx.dovecot()
    pf = ctx.postfix() if "smtp" in servers else None
    au = ctx.auth_service(dovecot=dv, postfix=pf)
    sport = free_port()
    m = {"worker_processes": workers, "status_listen": "127.0.0.1:%d" % sport}
    m.update(main or {})
    mp = ctx.mailproxy(auth=au, servers=[{"protocol": p} for p in servers], main=m)
    return mp, sport, au


def wait_handled(sport, n):
    """Sessions end after the client saw its last line: wait until all n are counted."""
    def done():
        s, _ = parse_metrics(scrape(sport))
        return s if metric(s, "mailproxy_connections_handled_total") >= n else None
    return wait_until(done, timeout=20, what="%d sessions handled" % n)


def test_metrics_count_logins_exactly(ctx):
    mp, sport, au = setup(ctx)
    for _ in range(3):
        assert imap_login(mp.ports["imap"], "alice", "alicepw").startswith(b"a OK")
    for _ in range(2):
        assert imap_login(mp.ports["imap"], "alice", "wrong").startswith(b"a NO")
    for _ in range(2):
        assert pop3_login(mp.ports["pop3"], "bob", "bobpw").startswith(b"+OK")
    assert pop3_login(mp.ports["pop3"], "bob", "nope").startswith(b"-ERR")
    assert smtp_login(mp.ports["smtp"], "alice", "alicepw")
    assert not smtp_login(mp.ports["smtp"], "alice", "bad")
    s = wait_handled(sport, 10)
    expect = {
        ("imap", "ok"): 3, ("imap", "failed"): 2, ("pop3", "ok"): 2, ("pop3", "failed"): 1,
        ("smtp", "ok"): 1, ("smtp", "failed"): 1,
    }
    for proto in ("imap", "pop3", "smtp"):
        for result in ("ok", "failed", "error", "limited", "backend_error"):
            got = metric(s, "mailproxy_logins_total", protocol=proto, result=result)
            assert got == expect.get((proto, result), 0), (proto, result, got)
    assert metric(s, "mailproxy_connections_accepted_total") == 10
    assert metric(s, "mailproxy_connections_handled_total") == 10
    assert metric(s, "mailproxy_connections_active") == 0
    for state in ("preauth", "auth", "relay", "login"):
        assert metric(s, "mailproxy_sessions", state=state) == 0
    # one auth_http request per login attempt, one backend login per success
    assert metric(s, "mailproxy_auth_http_duration_seconds_count") == 10
    assert metric(s, "mailproxy_auth_http_duration_seconds_bucket", le="+Inf") == 10
    assert metric(s, "mailproxy_backend_login_duration_seconds_count") == 6
    assert metric(s, "mailproxy_backend_login_duration_seconds_bucket", le="+Inf") == 6
    assert metric(s, "mailproxy_bytes_received_total") > 0
    assert metric(s, "mailproxy_bytes_sent_total") > 0
    assert metric(s, "mailproxy_auth_service_requests_total", server=au.url) == 10
    assert metric(s, "mailproxy_reloads_total") == 0
    assert metric(s, "mailproxy_worker_restarts_total") == 0
    assert metric(s, "mailproxy_worker_info", generation="0", state="running") == 2
    # HEAD: the same head, no body
    status, headers, body = http_get(sport, "/metrics", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 1000
    promtool = shutil.which("promtool")
    if promtool is None:
        ctx.skip("promtool is not installed (scripts/deps.sh test)")
    r = subprocess.run([promtool, "check", "metrics"], input=scrape(sport).encode(),
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


def test_metrics_status_is_the_json_of_dash_s_status(ctx):
    mp, sport, _ = setup(ctx, servers=("imap",))
    assert imap_login(mp.ports["imap"], "alice", "alicepw").startswith(b"a OK")
    wait_handled(sport, 1)
    status, headers, body = http_get(sport, "/status")
    assert status == 200 and headers["content-type"] == "application/json"
    web = json.loads(body)
    cli = json.loads(ctx.cli("-s", "status", "-p", mp.prefix, "-c", mp.config_path).stdout)
    assert list(web) == list(cli)
    assert web["totals"] == cli["totals"]
    assert web["totals"]["logins"]["imap"]["ok"] == 1
    for key in ("master_pid", "generation", "started", "reloads", "load_time", "worker_restarts",
                "auth_servers"):
        if key == "auth_servers":
            for url in cli[key]:
                assert web[key][url]["requests"] == cli[key][url]["requests"]
        else:
            assert web[key] == cli[key], key
    assert sorted(w["pid"] for w in web["workers"]) == sorted(w["pid"] for w in cli["workers"])
    assert web["master_pid"] == mp.pid


def test_metrics_allow_list_refuses_other_addresses(ctx):
    mp, sport, _ = setup(ctx, main={"status_allow": "127.0.0.1/32"}, servers=("imap",))
    status, _, body = http_get(sport, "/metrics", source="127.0.0.2")
    assert status == 403, (status, body)
    status, _, _ = http_get(sport, "/metrics", source="127.0.0.1")
    assert status == 200


def test_metrics_bad_requests_get_their_answer(ctx):
    mp, sport, _ = setup(ctx, servers=("imap",), workers=1)
    assert http_get(sport, "/nothing")[0] == 404
    status, headers, _ = http_get(sport, "/metrics", method="POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    with socket.create_connection(("127.0.0.1", sport), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\n" + b"X-Filler: " + b"a" * 5000 + b"\r\n\r\n")
        status, headers, _ = parse_response(read_all(s))
    assert status == 431 and headers["connection"] == "close"
    # just under the 4 KB bound, sent in pieces, is a request like any other
    with socket.create_connection(("127.0.0.1", sport), timeout=10) as s:
        head = b"GET /metrics HTTP/1.1\r\nX-Filler: " + b"a" * 3900 + b"\r\n\r\n"
        assert len(head) < 4096
        for i in range(0, len(head), 1000):
            s.sendall(head[i:i + 1000])
            time.sleep(0.05)
        assert parse_response(read_all(s))[0] == 200
    with socket.create_connection(("127.0.0.1", sport), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n")
        assert parse_response(read_all(s))[0] == 400
    # the worker goes on serving
    assert imap_login(mp.ports["imap"], "alice", "alicepw").startswith(b"a OK")
    assert http_get(sport, "/metrics")[0] == 200


@timeout(60)
def test_metrics_slow_client_costs_one_connection(ctx):
    """One worker; a client that sends nothing and one that trickles a byte per second
    hold their connections, while logins and scrapes on the same worker go on; both are
    closed after the 10 s request timeout (408)."""
    mp, sport, _ = setup(ctx, servers=("imap",), workers=1)
    silent = socket.create_connection(("127.0.0.1", sport), timeout=30)
    trickle = socket.create_connection(("127.0.0.1", sport), timeout=30)
    stop = threading.Event()

    def drip():
        for b in b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 100:
            if stop.wait(1.0):
                return
            try:
                trickle.send(bytes([b]))
            except OSError:
                return
    t = threading.Thread(target=drip, daemon=True)
    t.start()
    t0 = time.monotonic()
    try:
        for _ in range(3):
            assert imap_login(mp.ports["imap"], "alice", "alicepw").startswith(b"a OK")
            assert http_get(sport, "/metrics", timeout=5)[0] == 200
        for s in (silent, trickle):
            data = read_all(s)
            assert parse_response(data)[0] == 408, data[:200]
        assert time.monotonic() - t0 < 30
    finally:
        stop.set()
        silent.close()
        trickle.close()
        t.join(5)


def test_metrics_counters_survive_reload(ctx):
    mp, sport, _ = setup(ctx, servers=("imap",))
    for _ in range(2):
        assert imap_login(mp.ports["imap"], "alice", "alicepw").startswith(b"a OK")
    assert imap_login(mp.ports["imap"], "alice", "bad").startswith(b"a NO")
    wait_handled(sport, 3)
    mp.reload()

    def reloaded():
        s, _ = parse_metrics(scrape(sport))
        return s if (metric(s, "mailproxy_config_generation") == 1 and
                     metric(s, "mailproxy_worker_info", generation="1", state="running") == 2 and
                     metric(s, "mailproxy_worker_info", generation="0", state="running") == 0
                     ) else None
    s = wait_until(reloaded, timeout=20, what="generation 1 serving alone")
    assert metric(s, "mailproxy_reloads_total") == 1
    assert metric(s, "mailproxy_logins_total", protocol="imap", result="ok") == 2
    assert metric(s, "mailproxy_logins_total", protocol="imap", result="failed") == 1
    assert metric(s, "mailproxy_connections_accepted_total") == 3
    assert imap_login(mp.ports["imap"], "alice", "alicepw").startswith(b"a OK")
    s = wait_handled(sport, 4)
    assert metric(s, "mailproxy_logins_total", protocol="imap", result="ok") == 3


# ------------------------------------------------------------ a real Prometheus


class Prometheus:
    """Debian's prometheus on a free loopback port, scraping one target every second,
    its storage in the test's temp dir."""

    def __init__(self, ctx, target):
        self.binary = shutil.which("prometheus")
        if self.binary is None:
            ctx.skip("prometheus is not installed (scripts/deps.sh test)")
        self.dir = ctx.path("prometheus")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        conf = os.path.join(self.dir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: mailproxy\n    static_configs:\n"
                    "      - targets: ['%s']\n" % target)
        self.log_path = os.path.join(self.dir, "prometheus.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "--config.file=" + conf, "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self._token = register_live(self.stop)
        ctx.cleanup(self.stop)
        wait_until(self.ready, timeout=30, what="prometheus ready")

    def ready(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port, timeout=2) as r:
                return r.status == 200
        except OSError:
            assert self.proc.poll() is None, open(self.log_path).read()[-2000:]
            return False

    def query(self, q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.port, urllib.parse.urlencode({"query": q}))
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.loads(r.read())
        assert doc["status"] == "success", doc
        return doc["data"]["result"]

    def value(self, q):
        res = self.query(q)
        return float(res[0]["value"][1]) if res else None

    def stop(self):
        unregister_live(self._token)
        stop_pid(self.proc.pid)
        self.proc.wait(10)
        self.log.close()


@timeout(120)
def test_metrics_scraped_by_a_real_prometheus(ctx):
    mp, sport, _ = setup(ctx, servers=("imap", "pop3"))
    prom = Prometheus(ctx, "127.0.0.1:%d" % sport)
    wait_until(lambda: prom.value('up{job="mailproxy"}') == 1, timeout=30,
               what="prometheus scraped mailproxy")
    # a login load while it scrapes every second
    n = 0
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline or n < 20:
        assert imap_login(mp.ports["imap"], "alice", "alicepw").startswith(b"a OK")
        assert pop3_login(mp.ports["pop3"], "bob", "wrong").startswith(b"-ERR")
        n += 1
    wait_handled(sport, 2 * n)
    checks = {
        'sum(mailproxy_logins_total{protocol="imap",result="ok"})': n,
        'sum(mailproxy_logins_total{protocol="pop3",result="failed"})': n,
        'sum(mailproxy_connections_accepted_total)': 2 * n,
        'sum(mailproxy_auth_http_duration_seconds_count)': 2 * n,
        'sum(mailproxy_backend_login_duration_seconds_bucket{le="+Inf"})': n,
        'sum(mailproxy_connections_active)': 0,
        'mailproxy_config_generation': 0,
    }
    for q, want in checks.items():
        wait_until(lambda: prom.value(q) == want, timeout=30,
                   what="%s == %s (last %s)" % (q, want, prom.query(q)))
    # series carry the worker label of a stable slot number
    workers = {r["metric"]["worker"] for r in prom.query("mailproxy_connections_accepted_total")}
    assert "retired" in workers and len(workers) == 3, workers


def test_metrics_worker_restart_is_counted_and_loses_no_counts(ctx):
    """A worker killed by a signal is respawned (mailproxy_worker_restarts_total) and its
    counts move to worker="retired": the sums over workers stay."""
    mp, sport, _ = setup(ctx, servers=("imap",))
    for _ in range(3):
        assert imap_login(mp.ports["imap"], "alice", "alicepw").startswith(b"a OK")
    s0 = wait_handled(sport, 3)
    assert metric(s0, "mailproxy_worker_restarts_total") == 0
    victim = mp.workers()[0]
    os.kill(victim, signal.SIGKILL)

    def respawned():
        s, _ = parse_metrics(scrape(sport))
        return s if (metric(s, "mailproxy_worker_restarts_total") == 1 and
                     metric(s, "mailproxy_worker_info", state="running") == 2 and
                     metric(s, "mailproxy_worker_info", pid=str(victim)) == 0) else None
    s = wait_until(respawned, timeout=20, what="a worker respawned")
    for name, labels in (("mailproxy_connections_accepted_total", {}),
                         ("mailproxy_logins_total", {"protocol": "imap", "result": "ok"}),
                         ("mailproxy_auth_http_duration_seconds_count", {})):
        assert metric(s, name, **labels) == metric(s0, name, **labels) == 3, name


def test_metrics_survive_binary_upgrade(ctx):
    """USR2 hands the status socket and the zones to the new binary: once the old master
    quits, the same port answers from the new master's workers with the old counts."""
    mp, sport, _ = setup(ctx, servers=("imap",))
    for _ in range(2):
        assert imap_login(mp.ports["imap"], "alice", "alicepw").startswith(b"a OK")
    wait_handled(sport, 2)
    mp.signal(signal.SIGUSR2)
    wait_until(lambda: os.path.exists(mp.pid_path + ".oldbin") and
               mp.pidfile_pid() not in (None, mp.pid), 10, what="new master")
    new_master = mp.pidfile_pid()

    def stop_new():
        if pid_alive(new_master):
            os.kill(new_master, signal.SIGQUIT)
            wait_until(lambda: not pid_alive(new_master), 15, what="the new master to exit")
    ctx.cleanup(stop_new)
    os.kill(mp.pid, signal.SIGQUIT)
    wait_until(lambda: not pid_alive(mp.pid), 15, what="the old master to exit")
    doc = json.loads(http_get(sport, "/status")[2])
    assert doc["master_pid"] == new_master
    assert doc["totals"]["logins"]["imap"]["ok"] == 2
    assert imap_login(mp.ports["imap"], "alice", "alicepw").startswith(b"a OK")
    s = wait_handled(sport, 3)
    assert metric(s, "mailproxy_logins_total", protocol="imap", result="ok") == 3


def test_metrics_sessions_by_state_and_tls_by_version(ctx):
    """An open connection is counted in its state while it lasts; client TLS handshakes
    are counted per version, full or resumed (Python's client resumes a TLS 1.2 session
    by its session object; without tickets, from the shared cache, whose hit is counted
    for its zone)."""
    cert, key = self_signed(ctx.path("pki"), "server", "localhost")
    au = ctx.auth_service(dovecot=ctx.dovecot())
    sport = free_port()
    mp = ctx.mailproxy(auth=au, servers=[tls_server("imap", cert, key,
                                                    ssl_session_cache="shared:SSL:1m",
                                                    ssl_session_tickets=False)],
                       main={"worker_processes": 1, "status_listen": "127.0.0.1:%d" % sport})
    port = mp.ports["imaps"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with client_context().wrap_socket(raw, server_hostname="localhost") as s:
            assert s.recv(100).startswith(b"* OK")
            assert s.version() == "TLSv1.3"
            st, _ = parse_metrics(scrape(sport))
            assert metric(st, "mailproxy_sessions", state="preauth") == 1
            assert metric(st, "mailproxy_connections_active") == 1
    c12 = client_context(tls13=False)
    session = None
    for i in range(2):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with c12.wrap_socket(raw, server_hostname="localhost", session=session) as s:
                assert s.recv(100).startswith(b"* OK")
                assert s.version() == "TLSv1.2" and s.session_reused == (i == 1)
                session = s.session
    st = wait_handled(sport, 3)
    assert metric(st, "mailproxy_sessions", state="preauth") == 0
    for version, kind, n in (("TLSv1.3", "full", 1), ("TLSv1.3", "resumed", 0),
                             ("TLSv1.2", "full", 1), ("TLSv1.2", "resumed", 1)):
        got = metric(st, "mailproxy_tls_sessions_total", version=version, handshake=kind)
        assert got == n, (version, kind, got)
    assert metric(st, "mailproxy_tls_handshakes_total") == 3
    assert metric(st, "mailproxy_ssl_session_cache_hits_total", zone="SSL") == 1


def test_metrics_login_results_error_and_backend_error(ctx):
    """Each attempt is counted once by how it ended: an auth service that says OK for a
    backend nobody listens on is a backend_error (not ok), an auth service that cannot
    be reached is an error."""
    dead = free_port()
    fa = ctx.fake_auth(backend_port=dead)
    sport = free_port()
    mp = ctx.mailproxy(auth=fa, servers=[{"protocol": "imap"}, {"protocol": "pop3",
                                         "auth_http": "127.0.0.1:%d/auth" % free_port()}],
                       main={"worker_processes": 1, "status_listen": "127.0.0.1:%d" % sport})
    with LineClient(mp.ports["imap"]) as c:
        assert c.readline().startswith(b"* OK")
        c.cmd("a LOGIN alice alicepw")
        assert c.readline() == b"* BAD internal server error\r\n"
    assert pop3_login(mp.ports["pop3"], "bob", "bobpw").startswith(b"-ERR")
    s = wait_handled(sport, 2)
    assert metric(s, "mailproxy_logins_total", protocol="imap", result="backend_error") == 1
    assert metric(s, "mailproxy_logins_total", protocol="imap", result="ok") == 0
    assert metric(s, "mailproxy_logins_total", protocol="pop3", result="error") == 1
    assert metric(s, "mailproxy_logins_total") == 2
    assert metric(s, "mailproxy_backend_errors_total") == 1
    assert metric(s, "mailproxy_backend_login_duration_seconds_count") == 0
