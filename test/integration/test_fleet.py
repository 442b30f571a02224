"""The fleet: HAProxy (mode tcp, PROXY v2, health checks that speak the protocol) in
front of three mailproxy nodes on their own loopback addresses, one Redis, the
example auth service, Dovecot and Postfix (fleet_support.py has the rig and the
HAProxy configuration the README shows).

Shown here: the client's own address reaches the auth service, Dovecot and Postfix;
TLS sessions resume on whichever node a client lands, with shared ticket key files
(also across the documented rotation) and with ticket keys through Redis; a
failed-login limit reached through one node holds on the others; draining a node
and a rolling binary upgrade lose and refuse nothing; a node killed with kill -9
costs only its own sessions, and the balancer takes it out at its first failed
check. Every load is bounded in count and time."""

import os
import re
import signal
import smtplib
import time
import uuid

from harness import LineClient, pid_alive, timeout, wait_pid_gone, wait_until
from harness.haproxy import ADMIN_FORCED_DRAIN, OP_DOWN, OP_UP
from tls_support import self_signed
from fleet_support import (FALL, IMAP_LIMITED, LB, NAMES, NODES, Fleet, ImapSession,
                           LoginLoad, ResumeChains, client_addr, haproxy_config,
                           imap_login, ticket_key)

BACKENDS = ("imap", "imaps", "smtp")


def _rx(addr):
    return re.escape(addr)


# ---------------------------------------------------------------- the client's address

def test_fleet_client_address_reaches_auth_dovecot_and_postfix(ctx):
    fl = Fleet(ctx)
    dv, au, pf = fl.dovecot, fl.auth, fl.postfix
    src_imap, src_smtp = client_addr(1), client_addr(2)

    dv_mark = dv.log_mark()
    assert imap_login(fl.lb_ports["imap"], "alice", "alicepw", src_imap).startswith(b"OK")
    # the auth service: Client-IP is the client's
    au.wait_log(r'user="alice" protocol=imap .*client=%s .*result=OK' % _rx(src_imap))
    # Dovecot: the node forwards it in ID (x-originating-ip), Dovecot logs it as rip
    login = r"(?m)^.*imap-login: Info: Login: user=<alice>.*rip=%s,.*$" % _rx(src_imap)
    dv.wait_log(login, since=dv_mark)
    for other in (LB,) + NODES:
        dv.assert_not_logged(r"rip=%s," % _rx(other), after=login, since=dv_mark)
    # the node that served it says where the header came from (before it asked the
    # auth service, whose record is already there)
    header = r"real client address from %s, client: %s," % (_rx(LB), _rx(src_imap))
    served = wait_until(lambda: [mp for mp in fl.nodes if re.search(header, mp.log())], 20,
                        what="the PROXY header's line on a node")
    assert len(served) == 1, [mp.prefix for mp in served]

    # SMTP: XCLIENT ADDR gives Postfix the client's address
    marker = "fleet-%s" % uuid.uuid4().hex
    s = smtplib.SMTP(LB, fl.lb_ports["smtp"], timeout=15, source_address=(src_smtp, 0))
    s.ehlo("client.example")
    s.login("alice", "alicepw")
    assert s.sendmail("alice@example.org", ["bob@test.example"],
                      "Subject: %s\r\n\r\n%s\r\n" % (marker, marker)) == {}
    s.quit()
    msg = pf.wait_for_message(marker)
    assert b"[%s]" % src_smtp.encode() in msg, msg[:600]
    qid = re.search(rb"with ESMTPA id (\w+)", msg).group(1).decode()
    log = pf.wait_log("%s: client=" % qid)
    assert "%s: client=unknown[%s], sasl_method=XCLIENT" % (qid, src_smtp) in log, \
        [l for l in log.splitlines() if qid in l]
    au.wait_log(r'user="alice" protocol=smtp .*client=%s .*result=OK' % _rx(src_smtp))
    # nothing reached the auth service from the balancer's or a node's address
    sentinel = au.sentinel()
    for other in (LB,) + NODES:
        au.assert_not_logged(r"client=%s " % _rx(other), after=sentinel)

    # straight to a node, past the balancer: a header from an address that is not
    # in set_real_ip_from is read, and its address ignored
    n1, src_direct = fl.nodes[0], client_addr(5)
    with LineClient(fl.node_ports["imap"], host=NODES[0], source=(src_direct, 0)) as c:
        c.send(b"PROXY TCP4 192.0.2.99 %s 40000 143\r\n" % NODES[0].encode())
        assert c.readline().startswith(b"* OK")
        c.cmd("a1 LOGIN alice alicepw")
        assert c.read_until(b"a1 ")[-1].startswith(b"a1 OK")
    au.wait_log(r'user="alice" protocol=imap .*client=%s .*result=OK' % _rx(src_direct))
    au.assert_not_logged(r"192\.0\.2\.99", after=au.sentinel())
    # and a connection without a header is closed without a greeting (a reset: the
    # node closes with the client's line unread)
    with LineClient(fl.node_ports["imap"], host=NODES[0], source=(src_direct, 0)) as c:
        c.cmd("a1 LOGIN alice alicepw")
        try:
            got = c.readline()
        except ConnectionResetError:
            got = b""
        assert got == b"", got
    n1.wait_log(r"broken header in PROXY protocol, client: %s," % _rx(src_direct))


# ---------------------------------------------------------------- TLS resumption

def _resume_report(what, fl, chains, since=None):
    other, other_resumed, per_node = chains.across_nodes(fl, since=since)
    print("%s: %s; %d connections landed on another node than their ticket's, %d of "
          "them resumed; resumed per node %s" % (
              what, chains.summary(), other, other_resumed, sorted(per_node.items())))
    assert not chains.errors, chains.errors[:5]
    assert chains.total and chains.resumed * 100 >= chains.total * 99, chains.summary()
    assert other >= chains.total // 3, "too few connections changed node: %d" % other
    assert other_resumed * 100 >= other * 99, (other, other_resumed)
    assert set(per_node) == set(NAMES), per_node


@timeout(150)
def test_fleet_tls_resumption_with_shared_key_files_and_their_rotation(ctx):
    """Every node has the same ssl_session_ticket_key files: a client resumes on
    whichever node it lands. The README's rotation (B added second, reload all; B
    made first, reload all; A dropped, reload all), node by node under load, keeps
    resuming: the old key still decrypts while any node may issue under it."""
    a = ticket_key(ctx.path("ticket-a.key"))
    b = ticket_key(ctx.path("ticket-b.key"))
    fl = Fleet(ctx)
    # first without key files: each node's own keys, as nginx's; a ticket resumes
    # only on the node that issued it
    alone = ResumeChains(fl.lb_ports["imaps"], chains=2, first_client=60).start()
    try:
        alone.wait_more(60)
    finally:
        alone.stop()
    other, other_resumed, _per_node = alone.across_nodes(fl)
    print("each node's own keys: %s; %d landed on another node than their ticket's, "
          "%d of them resumed" % (alone.summary(), other, other_resumed))
    assert other and other_resumed == 0, (other, other_resumed)
    mark = fl.access_marks()
    for mp in fl.nodes:
        fl.set_imaps(mp, ssl_session_ticket_key=[a])
        fl.reload_node(mp)
    chains = ResumeChains(fl.lb_ports["imaps"], chains=4).start()
    try:
        chains.wait_more(200)
        for keys in ([a, b], [b, a], [b]):
            for mp in fl.nodes:
                fl.set_imaps(mp, ssl_session_ticket_key=keys)
                fl.reload_node(mp)
                chains.wait_more(30)
            chains.wait_more(60)
    finally:
        chains.stop()
    _resume_report("key files, rotated A -> B", fl, chains, since=mark)


PERIOD = 3
STORE_PREFIX = "fleet:tickets:"


def _store_check(fl, store):
    """-t of a node configuration with the store (a binary without it refuses it)."""
    mp = fl.nodes[0]
    fl.set_imaps(mp, ssl_session_cache="shared:MAIL:1m", ssl_session_ticket_key_store=store)
    r = mp.check()
    fl.set_imaps(mp, ssl_session_cache=None, ssl_session_ticket_key_store=None)
    return r


@timeout(150)
def test_fleet_tls_resumption_with_ticket_keys_in_redis(ctx):
    """ssl_session_ticket_key_store: one node creates each period's key in Redis,
    every node fetches it, the previous one keeps decrypting: a client resumes on
    whichever node it lands, before and after a rotation (period 3 s)."""
    fl = Fleet(ctx)
    store = "redis %s:%d prefix=%s period=%ds" % (fl.redis.host, fl.redis.port,
                                                 STORE_PREFIX, PERIOD)
    r = _store_check(fl, store)
    if r.rc != 0:
        ctx.skip("this binary refuses ssl_session_ticket_key_store: %s" % r.out.strip()[-300:])
    for mp in fl.nodes:
        fl.set_imaps(mp, ssl_session_cache="shared:MAIL:1m", ssl_session_ticket_key_store=store)
        fl.reload_node(mp)

    def period_keys():
        return {int(k[len(STORE_PREFIX):]) for k in fl.redis.keys(STORE_PREFIX + "*")}
    p0 = int(time.time() // PERIOD)
    wait_until(lambda: {p0, p0 + 1} <= period_keys(), 10,
               what="this period's and the next period's keys in Redis")
    chains = ResumeChains(fl.lb_ports["imaps"], chains=4).start()
    try:
        chains.wait_more(150)
        # a rotation: a later period begins, its successor's key is made ahead
        p1 = int(time.time() // PERIOD) + 1
        wait_until(lambda: p1 + 1 in period_keys(), 4 * PERIOD + 10,
                   what="period %d's key (the period after the next rotation)" % (p1 + 1))
        chains.wait_more(150)
    finally:
        chains.stop()
    print("periods of the keys in Redis: %s (the test began in %d)" % (
        sorted(period_keys()), p0))
    _resume_report("keys through Redis, across a rotation", fl, chains)


# ---------------------------------------------------------------- login limits

def _only(fl, name, backend="imap"):
    """Send the balancer's new imap connections to node `name` only."""
    for n in NAMES:
        fl.lb.set_state(backend, n, "ready" if n == name else "maint")
    fl.lb.wait_server(backend, name, lambda r: r["srv_op_state"] == OP_UP and
                      r["srv_admin_state"] == 0)


def test_fleet_failed_login_limit_on_one_node_holds_on_the_others(ctx):
    fl = Fleet(ctx)
    port, src = fl.lb_ports["imap"], client_addr(3)
    n1, n2, n3 = fl.nodes
    _only(fl, "n1")
    for _ in range(3):
        assert imap_login(port, "alice", "wrong", src) == b"NO Invalid login or password\r\n"
    n1.wait_log(r"login limit: address %s over the limit with 3 failures on all nodes"
                % _rx(src))
    for name, mp in (("n2", n2), ("n3", n3)):
        _only(fl, name)
        # the right password too: blocked, without asking the auth service
        assert imap_login(port, "bob", "bobpw", src) == IMAP_LIMITED
        mp.wait_log(r"login limit: address %s blocked for \d+ s more" % _rx(src))
        assert imap_login(port, "bob", "bobpw", client_addr(4)).startswith(b"OK")
    fl.auth.assert_log_count(r'user="bob" protocol=imap .*client=%s ' % _rx(src), 0,
                             after=fl.auth.sentinel())
    for mp in (n2, n3):
        mp.assert_not_logged(r"client logged in, client: %s," % _rx(src),
                             after=r"client logged in, client: %s," % _rx(client_addr(4)))


# ---------------------------------------------------------------- drain

def _open_sessions(fl, n, first_client):
    return [ImapSession(fl.lb_ports["imap"], "bob", "bobpw", client_addr(first_client + i))
            for i in range(n)]


def _by_node(fl, sessions):
    where = fl.sessions()
    out = {name: [] for name in NAMES}
    for s in sessions:
        out[where[s.src]].append(s)
    return out


@timeout(120)
def test_fleet_drain_finishes_every_session(ctx):
    """set server .../n1 state drain, then QUIT to n1's master: its sessions go on to
    their end, new logins go to n2 and n3; nothing lost, nothing refused."""
    fl = Fleet(ctx)
    n1 = fl.node("n1")
    sessions = _open_sessions(fl, 9, 10)
    by_node = _by_node(fl, sessions)
    assert all(by_node[n] for n in NAMES), {k: len(v) for k, v in by_node.items()}
    load = LoginLoad(fl.lb_ports["imap"], threads=3, first_client=30).start()
    try:
        load.wait_more(20)
        for be in BACKENDS:
            fl.lb.set_state(be, "n1", "drain")
        fl.lb.wait_server("imap", "n1", lambda r: r["srv_admin_state"] & ADMIN_FORCED_DRAIN)
        stot = fl.lb.server_stat("imap", "n1")["stot"]
        n1_workers = n1.workers()
        n1.signal(signal.SIGQUIT)
        n1.wait_log(r"gracefully shutting down")
        load.wait_more(30)
        # n1's sessions are still served, after the QUIT
        for s in sessions:
            s.noop()
        assert n1.alive(), "n1 left with sessions open"
        for s in by_node["n1"]:
            s.logout()
        assert n1.wait_exit(15) is not None, "n1 did not exit once its sessions ended"
        for w in n1_workers:
            assert wait_pid_gone(w, 10), w
        fl.lb.wait_server("imap", "n1", lambda r: r["srv_op_state"] == OP_DOWN,
                          what="n1 down at the balancer once it stopped listening")
        load.wait_more(30)
    finally:
        load.stop()
    print("drain: %s; sessions on n1/n2/n3: %s" % (
        load.summary(), [len(by_node[n]) for n in NAMES]))
    for s in by_node["n2"] + by_node["n3"]:
        s.noop()
        s.logout()
    assert load.failed == {"refused": 0, "reset": 0, "other": 0}, (load.summary(), load.errors)
    assert n1.returncode == 0, n1.returncode
    assert fl.lb.server_stat("imap", "n1")["stot"] == stot, "n1 got sessions after the drain"


# ---------------------------------------------------------------- rolling upgrade

@timeout(150)
def test_fleet_rolling_binary_upgrade_under_load(ctx):
    """USR2, WINCH, QUIT on each node in turn while clients keep logging in through
    the balancer: nothing refused, nothing reset, no health check ever failed."""
    fl = Fleet(ctx)
    load = LoginLoad(fl.lb_ports["imap"], threads=4, first_client=50).start()
    upgraded = []
    try:
        load.wait_more(40)
        for mp in fl.nodes:
            mark = mp.log_mark()
            master, workers = mp.upgrade(ctx, workers=2)
            upgraded.append((mp, master, workers, mark))
            load.wait_more(30)
    finally:
        load.stop()
    print("rolling upgrade: %s" % load.summary())
    assert load.failed == {"refused": 0, "reset": 0, "other": 0}, (load.summary(), load.errors)
    for mp, master, workers, mark in upgraded:
        assert pid_alive(master) and master != mp.pid
        # the new workers served logins
        def served():
            return {int(p) for p in re.findall(r"\] (\d+)#\d+: \*\d+ client logged in",
                                               mp.log()[mark:])} & set(workers)
        wait_until(served, 20, what="a login served by a new worker of %s" % mp.prefix)
    for be in BACKENDS:
        for name in NAMES:
            st = fl.lb.server_stat(be, name)
            assert st["status"] == "UP" and st["chkfail"] == "0" and st["chkdown"] == "0", \
                (be, name, st["status"], st["chkfail"], st["chkdown"])


# ---------------------------------------------------------------- node loss

@timeout(120)
def test_fleet_node_killed_only_its_sessions_end(ctx):
    """kill -9 of n2's master and workers under load: n2's sessions end, the others
    go on; the balancer marks n2 down at its first failed check (chkfail == fall in
    show stat) and sends it nothing more (its stot stays); every login after that
    succeeds. Logins that reached n2 before are
    retried on another node by the balancer (retries, option redispatch): counted."""
    fl = Fleet(ctx)
    n2 = fl.node("n2")
    sessions = _open_sessions(fl, 9, 70)
    by_node = _by_node(fl, sessions)
    assert all(by_node[n] for n in NAMES), {k: len(v) for k, v in by_node.items()}
    load = LoginLoad(fl.lb_ports["imap"], threads=4, first_client=90).start()
    try:
        load.wait_more(40)
        # the master first: killed after a worker, it would start a new one at once
        pids = [n2.pid] + n2.workers()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        for pid in pids:
            assert wait_pid_gone(pid, 10), pid
        t_dead = time.monotonic()
        fl.lb.wait_server("imap", "n2", lambda r: r["srv_op_state"] == OP_DOWN,
                          what="n2 down at the balancer")
        t_down = time.monotonic()
        stot_down = fl.lb.server_stat("imap", "n2")["stot"]
        load.wait_more(60)
    finally:
        load.stop()
    st = fl.lb.server_stat("imap", "n2")
    redispatched = sum(int(fl.lb.server_stat("imap", n)["wredis"] or 0) for n in NAMES)
    failed = [(t0, t) for t0, t, ok in load.log if not ok]
    in_flight = [f for f in failed if f[0] < t_dead]
    before_down = [f for f in failed if t_dead <= f[0] < t_down]
    after_down = [f for f in failed if f[0] >= t_down]
    print("node killed: %s (%s); failed logins: %d in progress while it was killed, %d "
          "started between its death and the balancer's mark-down %.2f s later, %d "
          "after; n2: "
          "status %s, chkfail %s, chkdown %s, check %s; connections redispatched by the "
          "balancer: %d" % (
              load.summary(), load.errors[:4], len(in_flight), len(before_down),
              t_down - t_dead, len(after_down), st["status"], st["chkfail"], st["chkdown"],
              st["check_status"], redispatched))
    assert st["status"] == "DOWN" and st["chkdown"] == "1", st
    assert int(st["chkfail"]) == FALL, "n2 taken out after %s failed checks, fall is %d" % (
        st["chkfail"], FALL)
    assert st["stot"] == stot_down, "the balancer sent connections to n2 after marking it down"
    assert not after_down, (load.summary(), load.errors)
    assert load.failed["refused"] == 0, load.errors
    # only n2's sessions ended
    for s in by_node["n2"]:
        try:
            s.noop()
        except (AssertionError, OSError, TimeoutError):
            continue
        raise AssertionError("a session on the killed node still answers: %s" % (s.src,))
    for s in by_node["n1"] + by_node["n3"]:
        s.noop()
        s.logout()


# ---------------------------------------------------------------- the README

def test_fleet_readme_configurations(ctx):
    """The README's HAProxy block is fleet_support's template with example addresses,
    and its node configuration passes -t (with the key and certificate files made
    here)."""
    text = open(os.path.join(ctx.repo, "README.md")).read()
    sec = text[text.index("\n## Running a fleet"):]
    sec = sec[:sec.index("\n## ", 1)]
    m = re.search(r"```haproxy\n(.*?)```", sec, re.S)
    assert m, "no ```haproxy block in the README's Running a fleet"
    nodes = [("n%d" % (i + 1), "10.0.0.%d" % (11 + i)) for i in range(3)]
    ports = {"imap": 143, "imaps": 993, "smtp": 587,
             "imap_lb": 143, "imaps_lb": 993, "smtp_lb": 587}
    body = haproxy_config("10.0.0.10", "", nodes, ports)
    assert m.group(1).endswith(body), \
        "the README's block differs from fleet_support.HAPROXY_TEMPLATE:\n" + body
    m = re.search(r"```yaml\n(.*?)```", sec, re.S)
    assert m, "no ```yaml block in the README's Running a fleet"
    etc = ctx.path("etc")
    os.makedirs(etc)
    cert, key = self_signed(etc, "mail", "mail.example")
    for name in ("ticket-1.key", "ticket-2.key"):
        ticket_key(os.path.join(etc, name))
    conf = ctx.path("node.yaml")
    with open(conf, "w") as f:
        f.write('daemon: off\npid: "%s"\nerror_log: "%s"\n' % (
            ctx.path("pid"), ctx.path("error.log")))
        f.write(m.group(1).replace("/etc/mailproxy/", etc + "/")
                .replace("/run/mailproxy/", etc + "/"))
    r = ctx.cli("-t", "-c", conf)
    assert r.rc == 0, r
