"""ssl_session_ticket_key_store: TLS session ticket keys shared by a fleet through a
real Redis started by the harness.

Three mailproxy nodes on 127.0.0.2, .3 and .4 (one worker each, one IMAPS server,
the same certificate files) share one Redis. A client takes a session from one node
and offers it to the next one, round the fleet: TLS 1.2 tickets and TLS 1.3 tickets
resume on whichever node the connection lands (the figure is printed). With a 1 s
period the keys rotate under the clients and a ticket from the previous period
still resumes on another node. Redis stopped: every connection and login still
succeeds (full handshakes across nodes), the metrics say local/error and the log
says so once; Redis back: the nodes fetch the fleet's keys again and resume across
nodes. Clients are Python's ssl module; every wait is bounded."""

import re
import shutil
import socket
import subprocess
import time

from harness import free_port, wait_until
from test_metrics import http_get, parse_metrics
from tls_support import IMAP_GREETING, client_context, read_line, self_signed, status

HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
PREFIX = "fleet:tk:"


def greet(host, port, cc, session=None, login=None):
    """Implicit TLS to host:port, the greeting (and with it the TLS 1.3 ticket), a
    LOGIN when login=(user, password). Returns (greeting, session, reused, login
    reply)."""
    raw = socket.create_connection((host, port), timeout=10)
    try:
        s = cc.wrap_socket(raw, server_hostname="localhost", session=session)
    except Exception:
        raw.close()
        raise
    with s:
        g = read_line(s)
        reply = None
        if login is not None:
            s.sendall(b"a1 LOGIN %s %s\r\n" % (login[0].encode(), login[1].encode()))
            while reply is None or not reply.startswith(b"a1 "):
                reply = read_line(s)
                assert reply, "the connection closed before the LOGIN answer"
            s.sendall(b"a2 LOGOUT\r\n")
        return g, s.session, s.session_reused, reply


# The README's ACL: the prefix and the three commands, nothing else.
ACL = "user tickets on >S3cret resetkeys ~%s* resetchannels -@all +set +mget +select\n" % PREFIX


def fleet(ctx, period="1h", auth="127.0.0.1:9/auth", redis=None, store_extra=""):
    pki = ctx.path("pki")
    cert, key = self_signed(pki, "server", "localhost")
    rd = redis or ctx.redis()
    nodes = []
    for host in HOSTS:
        port, sport = free_port(), free_port()
        srv = {"protocol": "imap", "listen": ["%s:%d ssl" % (host, port)],
               "ssl_certificate": cert, "ssl_certificate_key": key,
               "ssl_session_cache": "shared:TK:1m",
               "ssl_session_ticket_key_store":
                   ("redis 127.0.0.1:%d prefix=%s period=%s %s"
                    % (rd.port, PREFIX, period, store_extra)).strip()}
        mp = ctx.mailproxy(servers=[srv], mail={"auth_http": auth},
                           main={"worker_processes": 1,
                                 "status_listen": "127.0.0.1:%d" % sport})
        mp.sport, mp.host, mp.port = sport, host, port
        nodes.append(mp)
    for mp in nodes:
        mp.wait_log(r"ssl_session_ticket_key_store redis 127\.0\.0\.1:\d+: tickets are "
                    r"encrypted with the fleet's key")
    return rd, nodes


def metrics(mp):
    st, _h, body = http_get(mp.sport, "/metrics")
    assert st == 200
    values, _types = parse_metrics(body.decode())
    return values


def metric(values, name, **labels):
    want = frozenset(labels.items())
    return sum(v for (n, ls), v in values.items() if n == name and want <= ls)


def round_the_fleet(nodes, cc, count):
    """count connections, each to the next node with the previous one's session.
    Returns how many resumed."""
    g, sess, reused, _ = greet(nodes[0].host, nodes[0].port, cc)
    assert g == IMAP_GREETING and not reused
    resumed = 0
    for i in range(count):
        mp = nodes[(i + 1) % len(nodes)]
        g, new, reused, _ = greet(mp.host, mp.port, cc, session=sess)
        assert g == IMAP_GREETING, (mp.host, g)
        resumed += bool(reused)
        sess = new
    return resumed


def test_tickets_resume_across_nodes_tls12_and_tls13(ctx):
    # Through the README's ACL user, limited to the prefix.
    rd, nodes = fleet(ctx, redis=ctx.redis(extra_conf=ACL),
                      store_extra="user=tickets password=S3cret")
    count = 100
    for name, cc in (("TLS 1.2", client_context(tls13=False)), ("TLS 1.3", client_context())):
        resumed = round_the_fleet(nodes, cc, count)
        print("%s: %d of %d connections resumed on another node (%.1f %%)"
              % (name, resumed, count, 100.0 * resumed / count))
        assert resumed >= count * 99 // 100, "%s: only %d of %d resumed" % (name, resumed, count)
    # One key per period in Redis, under the prefix, nginx's 80-byte key format.
    keys = rd.keys(PREFIX + "*")
    assert 2 <= len(keys) <= 3, keys
    for k in keys:
        assert re.fullmatch(re.escape(PREFIX).encode() + rb"\d+", k), k
        assert len(rd.cmd("GET", k)) == 80
        assert 0 < rd.cmd("TTL", k) <= 3 * 3600
    for mp in nodes:
        m = metrics(mp)
        assert metric(m, "mailproxy_ticket_key_source", source="redis") == 1, m
        assert metric(m, "mailproxy_ticket_key_source", source="local") == 0
        assert metric(m, "mailproxy_ticket_key_store_fetches_total", result="ok") >= 1
        assert metric(m, "mailproxy_ticket_key_store_fetches_total", result="error") == 0
    # The new families are well-formed exposition text.
    promtool = shutil.which("promtool")
    if promtool is not None:
        body = http_get(nodes[0].sport, "/metrics")[2]
        r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                           timeout=30)
        assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
        assert b"mailproxy_ticket_key_source{" in body


def wait_period_start(period, margin=0.3):
    """Sleeps until just after a period boundary; returns the new period's number."""
    now = time.time()
    nxt = (int(now // period) + 1) * period
    time.sleep(nxt - now + margin)
    return int(time.time() // period)


def test_rotation_keeps_resuming_across_nodes(ctx):
    period = 1
    rd, nodes = fleet(ctx, period="%ds" % period)
    for cc in (client_context(tls13=False), client_context()):
        # A ticket made early in period p by node A ...
        p = wait_period_start(period)
        g, sess, reused, _ = greet(nodes[0].host, nodes[0].port, cc)
        assert g == IMAP_GREETING and not reused
        # ... resumes on node B during p + 1, decrypted with the previous key.
        q = wait_period_start(period)
        assert q == p + 1, (p, q)
        g, _s, reused, _ = greet(nodes[1].host, nodes[1].port, cc, session=sess)
        assert g == IMAP_GREETING and reused, "a ticket of the previous period did not resume"
        assert rd.cmd("GET", PREFIX + str(p)) != rd.cmd("GET", PREFIX + str(q)), \
            "the key did not change with the period"
    # Round the fleet across several boundaries: every connection resumes.
    cc = client_context()
    resumed, count, start = 0, 0, time.time()
    g, sess, _r, _ = greet(nodes[0].host, nodes[0].port, cc)
    while time.time() - start < 2.5 * period and count < 400:
        mp = nodes[(count + 1) % 3]
        g, sess, reused, _ = greet(mp.host, mp.port, cc, session=sess)
        assert g == IMAP_GREETING
        resumed += bool(reused)
        count += 1
        time.sleep(0.02)
    print("rotation (period %ds): %d of %d resumed across %d boundaries"
          % (period, resumed, count, int(time.time() // period) - int(start // period)))
    assert resumed >= count * 99 // 100, (resumed, count)


def test_redis_down_full_handshakes_then_back(ctx):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    period = 1
    rd, nodes = fleet(ctx, period="%ds" % period, auth=au.url)
    a, b = nodes[0], nodes[1]
    cc = client_context()
    rd.stop()
    # The keys fetched last cover this period and the next; then each node makes its own.
    for mp in nodes:
        mp.wait_log(r"ssl_session_ticket_key_store redis 127\.0\.0\.1:\d+: no key from Redis "
                    r"for this period, tickets are encrypted with a local key", timeout=4 * period + 5)
    # Logged once per change of state, not per attempt (one every period/8).
    for mp in nodes:
        local = r"tickets are encrypted with a local key"
        mp.assert_log_count(r"fetching the ticket keys failed", 1, after=local)
        mp.assert_log_count(r"the ticket keys stay as they are while their period lasts", 1,
                            after=local)
    # Logins succeed everywhere; a ticket from A is a full handshake on B, never an error.
    full = 0
    for i in range(10):
        g, sess, _r, reply = greet(a.host, a.port, cc, login=("alice", "alicepw"))
        assert g == IMAP_GREETING and reply.startswith(b"a1 OK"), reply
        g, _s, reused, reply = greet(b.host, b.port, cc, session=sess,
                                     login=("alice", "alicepw"))
        assert g == IMAP_GREETING and reply.startswith(b"a1 OK"), reply
        full += not reused
    assert full == 10, "a local key of A was accepted by B"
    # ... and on A itself its own tickets still resume.
    g, sess, _r, _ = greet(a.host, a.port, cc)
    assert greet(a.host, a.port, cc, session=sess)[2]
    m = metrics(a)
    assert metric(m, "mailproxy_ticket_key_source", source="local") == 1, m
    tk = status(ctx, a)["ticket_keys"]["TK"]
    assert tk["source"] == "local" and tk["fetches_error"] >= 1, tk
    assert metric(m, "mailproxy_ticket_key_source", source="redis") == 0
    assert metric(m, "mailproxy_ticket_key_store_fetches_total", result="error") >= 1
    # Redis back (empty): the fleet agrees on new keys and resumes across nodes again.
    rd.start()
    for mp in nodes:
        mp.wait_log(r"tickets are encrypted with the fleet's key again", timeout=4 * period + 5)
        mp.wait_log(r"ticket keys fetched again")
    resumed = round_the_fleet(nodes, cc, 30)
    assert resumed >= 29, resumed
    m = metrics(a)
    assert metric(m, "mailproxy_ticket_key_source", source="redis") == 1, m
    wait_until(lambda: metric(metrics(a), "mailproxy_ticket_key_store_fetches_total",
                              result="ok") > 0, 5, what="an ok fetch counted")


def test_config_refusals(ctx):
    pki = ctx.path("pki")
    cert, key = self_signed(pki, "server", "localhost")
    base = {"protocol": "imap", "listen": ["127.0.0.1:%d ssl" % free_port()],
            "ssl_certificate": cert, "ssl_certificate_key": key,
            "ssl_session_ticket_key_store": "redis 127.0.0.1:6379 period=1m"}
    mp = ctx.mailproxy(servers=[dict(base)], mail={"auth_http": "127.0.0.1:9/auth"},
                       start=False)
    r = mp.check()
    assert r.rc != 0 and re.search(r"mailproxy\.yaml:\d+:\d+: \"ssl_session_ticket_key_store\": "
                                   r"needs \"ssl_session_cache shared:NAME:SIZE\"", r.out), r.out
    keyfile = ctx.path("ticket.key")
    with open(keyfile, "wb") as f:
        f.write(bytes(80))
    mp = ctx.mailproxy(servers=[dict(base, ssl_session_cache="shared:X:1m",
                                     ssl_session_ticket_key=keyfile)],
                       mail={"auth_http": "127.0.0.1:9/auth"}, start=False)
    r = mp.check()
    assert r.rc != 0 and re.search(r"mailproxy\.yaml:\d+:\d+: \"ssl_session_ticket_key_store\": "
                                   r"cannot be used with \"ssl_session_ticket_key\"", r.out), r.out


def test_key_files_rotation_procedure_without_redis(ctx):
    """The README's procedure for a fleet without Redis: the new file second on
    every node, reload all; then first, reload all; then the old one dropped. At
    every step a session from one node resumes on the other."""
    pki = ctx.path("pki")
    cert, key = self_signed(pki, "server", "localhost")
    old, new = ctx.path("old.key"), ctx.path("new.key")
    for path, byte in ((old, 1), (new, 2)):
        with open(path, "wb") as f:
            f.write(bytes([byte]) * 16 + bytes(range(64)))
    nodes = []
    for host in HOSTS[:2]:
        port = free_port()
        srv = {"protocol": "imap", "listen": ["%s:%d ssl" % (host, port)],
               "ssl_certificate": cert, "ssl_certificate_key": key,
               "ssl_session_ticket_key": [old]}
        mp = ctx.mailproxy(servers=[srv], mail={"auth_http": "127.0.0.1:9/auth"},
                           main={"worker_processes": 1})
        mp.host, mp.port = host, port
        nodes.append(mp)

    def step(keys):
        for mp in nodes:
            mark = mp.log_mark()
            text = open(mp.config_path).read()
            text = re.sub(r"ssl_session_ticket_key: .*", "ssl_session_ticket_key: [%s]"
                          % ", ".join('"%s"' % k for k in keys), text)
            with open(mp.config_path, "w") as f:
                f.write(text)
            mp.reload()
            mp.wait_log(r"start worker process", since=mark)
            mp.wait_log(r"worker process \d+ exited", since=mark)
        for cc in (client_context(tls13=False), client_context()):
            resumed = round_the_fleet(nodes, cc, 20)
            assert resumed == 20, (keys, resumed)

    step([old])
    step([old, new])
    step([new, old])
    # A session made under the new key before the old one goes.
    cc = client_context()
    g, sess, _r, _ = greet(nodes[0].host, nodes[0].port, cc)
    step([new])
    assert greet(nodes[1].host, nodes[1].port, cc, session=sess)[2], \
        "a ticket under the new key did not resume once the old key was dropped"


def test_keys_kept_across_reload_and_upgrade_while_redis_is_down(ctx):
    """The ring lives in a zone of its own that a reload keeps and a new binary
    inherits: with Redis gone, a ticket from before still resumes on the other node
    after each node reloaded and then upgraded its binary."""
    rd, nodes = fleet(ctx, period="1h")
    a, b = nodes[0], nodes[1]
    cc = client_context()
    g, sess, _r, _ = greet(a.host, a.port, cc)
    rd.stop()
    for mp in (a, b):
        mark = mp.log_mark()
        mp.reload()
        mp.wait_log(r"start worker process", since=mark)
        mp.wait_log(r"worker process \d+ exited", since=mark)
    g, _s, reused, _ = greet(b.host, b.port, cc, session=sess)
    assert g == IMAP_GREETING and reused, "the fleet's key was lost by a reload"
    for mp in (a, b):
        mp.upgrade(ctx, 1)
    g, _s, reused, _ = greet(b.host, b.port, cc, session=sess)
    assert g == IMAP_GREETING and reused, "the fleet's key was lost by a binary upgrade"
    for mp in (a, b):
        assert metric(metrics(mp), "mailproxy_ticket_key_source", source="redis") == 1
