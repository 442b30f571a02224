"""The fleet rig of test_fleet.py (not a test module): HAProxy in mode tcp in front of
three mailproxy nodes, each on its own loopback address, with one Redis, the example
auth service, Dovecot and Postfix behind them; bounded client loads through the
balancer.

    balancer   127.0.0.10   HAProxy: imap, imaps and smtp frontends, PROXY v2 to the
                            nodes, health checks that send PROXY v2 and expect the
                            greeting; runtime API on a unix socket (level admin)
    nodes      127.0.0.11-13  mailproxy, listen ... proxy_protocol, set_real_ip_from
                            the balancer; failed-login limits shared through Redis
    clients    127.0.0.100-  each client binds its own source address

HAPROXY_TEMPLATE is the configuration the README's "Running a fleet" shows: the rig
fills it with loopback addresses and free ports, the README with example ones
(test_fleet checks that both come from this text)."""

import os
import re
import socket
import ssl
import threading
import time

from harness import LineClient, free_port, to_yaml, wait_pid_gone, wait_until
from harness.util import bindable, read_text
from harness.haproxy import OP_UP
from tls_support import IMAP_GREETING, client_context, read_line, self_signed

LB = "127.0.0.10"
NODES = ("127.0.0.11", "127.0.0.12", "127.0.0.13")
NAMES = ("n1", "n2", "n3")
RULE = "1/m burst=2 block=10m"
IMAP_LIMITED = b"NO [UNAVAILABLE] Temporary authentication failure\r\n"

# One check every CHECK_INTER; FALL failed checks take a node out, RISE good ones
# bring it back.
CHECK_INTER_MS = 500
FALL = 1
RISE = 1

HAPROXY_TEMPLATE = """\
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    # above IMAP IDLE's 29 minutes
    timeout client 30m
    timeout server 30m
    timeout check 2s
    # a connection refused by a node (it just died) is tried again on another one
    retries 3
    option redispatch 1
    # every server: PROXY v2 with the client's address, and health checks that
    # send a PROXY v2 header too (the nodes' listeners require one)
    default-server send-proxy-v2 check check-send-proxy inter {inter} fall {fall} rise {rise}

frontend imap
    bind {lb_bind}:{imap_lb}
    default_backend imap
frontend imaps
    bind {lb_bind}:{imaps_lb}
    default_backend imaps
frontend smtp
    bind {lb_bind}:{smtp_lb}
    default_backend smtp

backend imap
    # IMAP sessions last hours: count them, not turns
    balance leastconn
    # the address the nodes trust in set_real_ip_from
    source {lb}
    option tcp-check
    tcp-check expect string "* OK"
    tcp-check send "c LOGOUT\\r\\n"
    tcp-check expect string "* BYE"
{servers_imap}
backend imaps
    balance leastconn
    source {lb}
    option tcp-check
    tcp-check expect string "* OK"
    tcp-check send "c LOGOUT\\r\\n"
    tcp-check expect string "* BYE"
{servers_imaps}
backend smtp
    balance leastconn
    source {lb}
    option tcp-check
    tcp-check expect string "220 "
    tcp-check send "QUIT\\r\\n"
    tcp-check expect string "221 "
{servers_smtp}
"""


def haproxy_config(lb, lb_bind, nodes, ports, inter="%dms" % CHECK_INTER_MS):
    """HAPROXY_TEMPLATE filled in: lb the balancer's source address, lb_bind where it
    listens, nodes [(name, address)], ports {"imap_lb", "imaps_lb", "smtp_lb", "imap",
    "imaps", "smtp"} (the balancer's and the nodes')."""
    def servers(kind, extra=""):
        return "\n".join("    server %s %s:%d%s" % (name, addr, ports[kind], extra)
                         for name, addr in nodes)
    return HAPROXY_TEMPLATE.format(
        lb=lb, lb_bind=lb_bind, inter=inter, fall=FALL, rise=RISE,
        imap_lb=ports["imap_lb"], imaps_lb=ports["imaps_lb"], smtp_lb=ports["smtp_lb"],
        servers_imap=servers("imap"),
        servers_imaps=servers("imaps", " check-ssl verify none"),
        servers_smtp=servers("smtp"))


def common_port(hosts):
    """A free port bindable on every host (the nodes listen on the same port, as
    machines of a fleet do)."""
    for _ in range(200):
        p = free_port(hosts[0])
        if all(bindable(h, p) for h in hosts[1:]):
            return p
    raise RuntimeError("no port free on all of %s" % (hosts,))


def ticket_key(path):
    """An 80-byte ssl_session_ticket_key file (AES-256), as `openssl rand 80` makes."""
    with open(path, "wb") as f:
        f.write(os.urandom(80))
    os.chmod(path, 0o600)
    return path


class Fleet:
    """The running rig: .lb (HAProxy), .nodes [MailProxy] (n1, n2, n3), .redis, .auth,
    .dovecot, .postfix, .lb_ports {"imap", "imaps", "smtp"}, .node_ports (the same
    on every node), .cert/.key."""

    def __init__(self, ctx, dovecot=None, imaps=None, workers=2, node_mail=None):
        self.ctx = ctx
        self.dovecot = dovecot or ctx.dovecot()
        self.postfix = ctx.postfix()
        self.redis = ctx.redis()
        self.auth = ctx.auth_service(dovecot=self.dovecot, postfix=self.postfix)
        self.cert, self.key = self_signed(ctx.path("pki"), "mail", "mail.example")
        self.node_ports = {k: common_port(NODES) for k in ("imap", "imaps", "smtp")}
        self.lb_ports = {k: free_port(LB) for k in ("imap", "imaps", "smtp")}
        self.imaps = dict(imaps or {})
        self.nodes = [ctx.mailproxy(config=self.node_config(addr, workers, node_mail))
                      for addr in NODES]
        ports = dict(self.node_ports)
        ports.update({k + "_lb": v for k, v in self.lb_ports.items()})
        self.haproxy_text = haproxy_config(LB, LB, list(zip(NAMES, NODES)), ports)
        self.lb = ctx.haproxy(self.haproxy_text)
        for be in ("imap", "imaps", "smtp"):
            for name in NAMES:
                self.lb.wait_server(be, name, lambda r: r["srv_op_state"] == OP_UP,
                                    what="%s/%s up (its first health check)" % (be, name))

    def node_config(self, addr, workers, node_mail):
        imaps = {"protocol": "imap",
                 "listen": ["%s:%d ssl proxy_protocol" % (addr, self.node_ports["imaps"])],
                 "ssl_certificate": self.cert, "ssl_certificate_key": self.key}
        imaps.update(self.imaps)
        mail = {
            "auth_http": self.auth.url,
            "set_real_ip_from": [LB],
            "imap_id_forward": True,
            "xclient": True,
            "login_limit_zone": "shared:logins:1m",
            "login_limit_store": "redis %s:%d" % (self.redis.host, self.redis.port),
            "login_limit_addr": RULE,
            "login_limit_tarpit": "0s",
            "servers": [
                {"protocol": "imap",
                 "listen": ["%s:%d proxy_protocol" % (addr, self.node_ports["imap"])]},
                imaps,
                {"protocol": "smtp", "smtp_auth": "login plain",
                 "listen": ["%s:%d proxy_protocol" % (addr, self.node_ports["smtp"])]},
            ],
        }
        # one line per session with the client's own address and port (from the
        # PROXY header) and when it ended: where each connection landed, in the
        # node's own words (across_nodes())
        mail["log_format"] = {"fleet": "$remote_addr:$remote_port $msec"}
        mail["access_log"] = "%s fleet" % self.access_log_path(addr)
        mail.update(node_mail or {})
        return {"worker_processes": workers, "events": {"worker_connections": 1024},
                "mail": mail}

    def access_log_path(self, addr):
        return self.ctx.path("access-%s.log" % addr)

    def access_marks(self):
        """{node name: the length of its access log now} (for across_nodes(since=))."""
        return {n: len(read_text(self.access_log_path(a))) for n, a in zip(NAMES, NODES)}

    def access_entries(self, since=None):
        """[(end time, client (address, port), node name)] from the nodes' access logs
        (from the offsets of since), in the order the sessions ended."""
        rx = re.compile(r"(?m)^([0-9.]+):(\d+) ([0-9.]+)$")
        out = []
        for n, a in zip(NAMES, NODES):
            text = read_text(self.access_log_path(a))[(since or {}).get(n, 0):]
            out += [(float(m.group(3)), (m.group(1), int(m.group(2))), n)
                    for m in rx.finditer(text)]
        return sorted(out)

    def node(self, name):
        return self.nodes[NAMES.index(name)]

    def set_imaps(self, mp, **kw):
        """Change the imaps server's settings in mp's configuration file (a reload
        applies them)."""
        for s in mp.config["mail"]["servers"]:
            if any(" ssl " in l + " " for l in s["listen"]):
                s.update(kw)
        mp.yaml = to_yaml(mp.config) + "\n"
        with open(mp.config_path, "w") as f:
            f.write(mp.yaml)

    def reload_node(self, mp):
        """HUP, then wait until the master runs only new workers (the old ones
        leave as soon as their sessions have ended)."""
        old = set(mp.workers())
        n = len(old)
        mark = mp.log_mark()
        mp.reload()
        mp.wait_log(r"reconfiguring", since=mark)
        wait_until(lambda: len(set(mp.workers()) - old) == n, 15,
                   what="the new workers of %s" % mp.prefix)
        for w in old:
            assert wait_pid_gone(w, 15), "old worker %d still running" % w

    def sessions(self):
        """{client (ip, port): server name} for the balancer's current imap sessions
        (`show sess`)."""
        out = self.lb.cmd("show sess")
        got = {}
        for m in re.finditer(r"src=([0-9.]+):(\d+) fe=(\S+) be=(\S+) srv=(\S+)", out):
            got[(m.group(1), int(m.group(2)))] = m.group(5)
        return got

    def server_states(self, backend="imap"):
        return {n: r["srv_op_state"] for n, r in self.lb.servers(backend).items()}


def client_addr(i):
    """The source address of client i (127.0.0.100 and up)."""
    return "127.0.0.%d" % (100 + i % 150)


# ------------------------------------------------------------------ IMAP clients

def imap_login(port, user, password, source, host=LB, logout=True):
    """One IMAP login through the balancer from source; the tagged reply without the
    tag (LOGOUT afterwards when logout)."""
    with LineClient(port, host=host, source=(source, 0)) as c:
        assert c.readline().startswith(b"* OK")
        c.cmd("a1 LOGIN %s %s" % (user, password))
        line = c.read_until(b"a1 ")[-1]
        if logout and line.startswith(b"a1 OK"):
            c.cmd("a2 LOGOUT")
            c.read_until(b"a2 ")
        return line[3:]


class ImapSession:
    """A logged-in IMAP session through the balancer, kept open: noop(), logout(),
    .src (its client address and port)."""

    def __init__(self, port, user, password, source):
        self.c = LineClient(port, host=LB, source=(source, 0), timeout=15)
        self.src = self.c.sock.getsockname()
        self.n = 0
        g = self.c.readline()
        assert g.startswith(b"* OK"), g
        self._cmd("LOGIN %s %s" % (user, password))

    def _cmd(self, text):
        self.n += 1
        tag = "s%d" % self.n
        self.c.cmd("%s %s" % (tag, text))
        line = self.c.read_until(tag.encode() + b" ")[-1]
        if not line.startswith(tag.encode() + b" OK"):
            raise AssertionError("%s: %r" % (text.split()[0], line))
        return line

    def noop(self):
        return self._cmd("NOOP")

    def logout(self):
        self._cmd("LOGOUT")
        self.c.close()

    def close(self):
        self.c.close()


def classify(e):
    """What a failed client connection saw: refused, reset, or other."""
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return "reset"
    return "other"


class _Threads:
    """self.nthreads threads running self._run(i) until stop() or their own bounds."""

    def start(self):
        self._ts = [threading.Thread(target=self._run, args=(i,), daemon=True)
                    for i in range(self.nthreads)]
        for t in self._ts:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self._ts:
            t.join(60)
        assert not any(t.is_alive() for t in self._ts), \
            "%s threads did not stop" % type(self).__name__
        return self


class LoginLoad(_Threads):
    """threads clients each logging in and out through the balancer in a loop, as
    long as it runs, bounded by max_each logins per thread and max_seconds. Counts
    ok and failures by kind (refused, reset, other: a NO, an EOF, a timeout) and
    keeps the first few errors."""

    def __init__(self, port, threads=4, max_each=2000, max_seconds=90, first_client=0,
                 user="alice", password="alicepw"):
        self.port, self.nthreads, self.max_each, self.max_seconds = \
            port, threads, max_each, max_seconds
        self.first_client, self.user, self.password = first_client, user, password
        self.ok = 0
        self.failed = {"refused": 0, "reset": 0, "other": 0}
        self.errors = []
        self.log = []              # (started, ended, ok) for every attempt
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ts = []

    def _run(self, i):
        source = client_addr(self.first_client + i)
        deadline = time.monotonic() + self.max_seconds
        for _ in range(self.max_each):
            if self._stop.is_set() or time.monotonic() >= deadline:
                return
            t0 = time.monotonic()
            try:
                r = imap_login(self.port, self.user, self.password, source)
                good = r.startswith(b"OK")
                kind = None if good else "other"
                err = None if good else r
            except Exception as e:      # noqa: BLE001 - every failure is counted
                kind, err = classify(e), e
            with self._lock:
                self.log.append((t0, time.monotonic(), kind is None))
                if kind is None:
                    self.ok += 1
                else:
                    self.failed[kind] += 1
                    if len(self.errors) < 10:
                        self.errors.append("%s: %r" % (kind, err))

    def count(self):
        with self._lock:
            return self.ok + sum(self.failed.values())

    def wait_more(self, n, timeout=30):
        """Wait until n more logins were attempted (the load is really running)."""
        target = self.count() + n
        wait_until(lambda: self.count() >= target, timeout, what="%d more logins" % n)

    def summary(self):
        return "%d logins ok, failed %s" % (self.ok, self.failed)


# ------------------------------------------------------------------ TLS clients

def tls_greeting_via(port, context, session, source, host=LB, timeout=10.0):
    """Implicit TLS through the balancer from source: (greeting, session, reused,
    the client's (address, port))."""
    raw = socket.create_connection((host, port), timeout=timeout, source_address=(source, 0))
    src = raw.getsockname()
    try:
        s = context.wrap_socket(raw, server_hostname="mail.example", session=session)
    except Exception:
        raw.close()
        raise
    try:
        g = read_line(s, timeout)
        return g, s.session, s.session_reused, src
    finally:
        s.close()


class ResumeChains(_Threads):
    """chains concurrent clients, each connecting again and again through the balancer
    and offering the session of its previous connection (bounded by max_each and
    max_seconds); counts connections, resumed ones and errors. The first connection
    of each chain is a full handshake and is not counted. .conns lists every
    connection as (chain, client (address, port), resumed) in order, so that the
    nodes' access logs can tell on which node each one landed (across_nodes())."""

    def __init__(self, port, chains=4, max_each=2500, max_seconds=90, first_client=40,
                 tls13=True):
        self.port, self.nthreads, self.max_each, self.max_seconds = \
            port, chains, max_each, max_seconds
        self.first_client, self.tls13 = first_client, tls13
        self.total = self.resumed = 0
        self.errors = []
        self.conns = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ts = []

    def _run(self, i):
        cc = client_context(tls13=self.tls13)
        source = client_addr(self.first_client + i)
        sess = None
        deadline = time.monotonic() + self.max_seconds
        for _ in range(self.max_each + 1):
            if self._stop.is_set() or time.monotonic() >= deadline:
                return
            try:
                g, new, reused, src = tls_greeting_via(self.port, cc, sess, source)
                ok = g == IMAP_GREETING
            except (OSError, ssl.SSLError) as e:
                with self._lock:
                    self.errors.append(repr(e))
                continue
            with self._lock:
                self.conns.append((i, src, bool(reused)))
                if not ok:
                    self.errors.append("greeting %r" % g)
                elif sess is not None:
                    self.total += 1
                    self.resumed += bool(reused)
            sess = new

    def count(self):
        with self._lock:
            return self.total

    def wait_more(self, n, timeout=60):
        target = self.count() + n
        try:
            wait_until(lambda: self.count() >= target, timeout,
                       what="%d more TLS connections" % n)
        except TimeoutError as e:
            with self._lock:
                raise TimeoutError("%s; %d counted, %d errors, the last: %s" % (
                    e, self.total, len(self.errors), self.errors[-5:])) from None

    def percent(self):
        return 100.0 * self.resumed / self.total if self.total else 0.0

    def summary(self):
        return "%d of %d connections resumed (%.2f %%), %d errors" % (
            self.resumed, self.total, self.percent(), len(self.errors))

    def across_nodes(self, fleet, since=None):
        """From the nodes' access logs (a line per session, when it ends; from the
        offsets of since, Fleet.access_marks(); waits until every connection is
        there): (the connections whose previous one in the chain landed on another
        node, how many of those resumed, {node: resumed there})."""
        mine = {src for _chain, src, _reused in self.conns}

        def landed():
            seen = {}
            for _t, src, node in fleet.access_entries(since):
                if src in mine:
                    seen.setdefault(src, []).append(node)
            return seen if sum(map(len, seen.values())) >= len(self.conns) else None
        seen = wait_until(landed, 30, what="%d connections in the nodes' access logs"
                          % len(self.conns))
        prev, other, other_resumed, per_node = {}, 0, 0, {}
        for chain, src, reused in self.conns:
            node = seen[src].pop(0)
            if reused:
                per_node[node] = per_node.get(node, 0) + 1
            if chain in prev and prev[chain] != node:
                other += 1
                other_resumed += reused
            prev[chain] = node
        return other, other_resumed, per_node
