"""TLS session resumption: across workers (reuseport or not, tickets on or off), the
shared session cache (eviction when full, expiry after ssl_session_timeout), its
contents and the ticket keys kept across HUP and across a binary upgrade, and
ssl_session_ticket_key files (the first encrypts, all decrypt).

Clients are Python's ssl module: a connection offers the session of an earlier one
(the same SSLContext) and reports session_reused. Every wait is bounded."""

import os
import signal
import socket
import threading
import time

from harness import wait_pid_gone, wait_until
from tls_support import (IMAP_GREETING, cache_stats, client_context, handshakes,
                         self_signed, status, tls_greeting, tls_server)


def _cert(ctx):
    return self_signed(ctx.path("pki"), "server", "localhost")


def _imaps(ctx, cert, key, reuseport=False, port=None, **kw):
    from harness import free_port
    listen = "127.0.0.1:%d ssl%s" % (port or free_port(), " reuseport" if reuseport else "")
    return tls_server("imap", cert, key, ssl_listen=False, listen=[listen], **kw)


def _port(mp, i=0):
    return mp.listens[i][1]


def _chain(port, cc, first, count, results, lock):
    """count connections, each offering the session of the previous one."""
    sess = first
    for _ in range(count):
        try:
            g, new, reused, _v = tls_greeting(port, cc, session=sess)
            ok = g == IMAP_GREETING
        except Exception as e:           # noqa: BLE001 - every failure is counted
            with lock:
                results.append(("error", repr(e)))
            continue
        with lock:
            results.append(("ok" if ok else "bad-greeting", reused))
        sess = new


def _resume_200(ctx, mp, port, threads=8, total=200):
    """200 connections chained from one first session, in a few concurrent chains
    (so that without reuseport too the kernel hands them to several workers).
    Returns the number resumed; asserts nothing failed."""
    cc = client_context()
    g, first, reused, _ = tls_greeting(port, cc)
    assert g == IMAP_GREETING and not reused
    results, lock = [], threading.Lock()
    per = total // threads
    ts = [threading.Thread(target=_chain, args=(port, cc, first, per, results, lock))
          for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert len(results) == per * threads, "chains did not finish: %d" % len(results)
    errors = [r for r in results if r[0] != "ok"]
    assert not errors, errors[:5]
    return sum(1 for r in results if r[1])


def _assert_spread_resumption(ctx, mp, port, total=200):
    resumed = _resume_200(ctx, mp, port, total=total)
    assert resumed >= total * 99 // 100, "only %d of %d resumed" % (resumed, total)
    wait_until(lambda: sum(1 for h in handshakes(mp.log()) if h[3]) >= resumed, 20,
               what="the handshake lines in the debug log")
    hs = handshakes(mp.log())
    res_workers = {pid for pid, _v, _c, r in hs if r}
    workers = set(mp.workers())
    assert res_workers <= workers, (res_workers, workers)
    assert len(res_workers) > 1, \
        "all resumed handshakes on one worker (%s): nothing shows resumption across " \
        "workers" % res_workers
    # Sessions made on one worker resumed on another: the first full handshake's
    # worker is not the only one resuming.
    full = [pid for pid, _v, _c, r in hs if not r]
    assert full, hs[:3]
    assert res_workers - {full[0]}, (full[0], res_workers)
    per_worker = {}
    for pid, _v, _c, r in hs:
        if r:
            per_worker[pid] = per_worker.get(pid, 0) + 1
    print("%d of %d resumed; resumed handshakes per worker: %s" % (
        resumed, total, sorted(per_worker.values(), reverse=True)))
    t = status(ctx, mp)["totals"]
    assert t["tls_handshakes"] >= total + 1 and t["tls_resumed"] >= resumed, t
    return resumed


def test_tls_resume_across_workers_reuseport_tickets(ctx):
    cert, key = _cert(ctx)
    mp = ctx.mailproxy(servers=[_imaps(ctx, cert, key, reuseport=True)],
                       mail={"auth_http": "127.0.0.1:9/auth"},
                       main={"worker_processes": 4})
    assert len(mp.workers()) == 4
    _assert_spread_resumption(ctx, mp, _port(mp))


def test_tls_resume_across_workers_reuseport_shared_cache_no_tickets(ctx):
    cert, key = _cert(ctx)
    mp = ctx.mailproxy(servers=[_imaps(ctx, cert, key, reuseport=True,
                                       ssl_session_tickets=False,
                                       ssl_session_cache="shared:RP:1m")],
                       mail={"auth_http": "127.0.0.1:9/auth"},
                       main={"worker_processes": 4})
    before = cache_stats(ctx, mp, "RP")
    resumed = _assert_spread_resumption(ctx, mp, _port(mp))
    after = cache_stats(ctx, mp, "RP")
    assert after["hits"] - before["hits"] >= resumed, (before, after)
    assert after["stores"] > before["stores"], after


def test_tls_resume_across_workers_no_reuseport_tickets(ctx):
    cert, key = _cert(ctx)
    mp = ctx.mailproxy(servers=[_imaps(ctx, cert, key)],
                       mail={"auth_http": "127.0.0.1:9/auth"},
                       main={"worker_processes": 4})
    _assert_spread_resumption(ctx, mp, _port(mp))


def test_tls_resume_across_workers_no_reuseport_shared_cache_no_tickets(ctx):
    cert, key = _cert(ctx)
    mp = ctx.mailproxy(servers=[_imaps(ctx, cert, key, ssl_session_tickets=False,
                                       ssl_session_cache="shared:NR:1m")],
                       mail={"auth_http": "127.0.0.1:9/auth"},
                       main={"worker_processes": 4})
    before = cache_stats(ctx, mp, "NR")
    resumed = _assert_spread_resumption(ctx, mp, _port(mp))
    after = cache_stats(ctx, mp, "NR")
    assert after["hits"] - before["hits"] >= resumed, (before, after)


def test_tls_session_cache_evicts_when_full(ctx):
    """A 64 KB zone and 500 full handshakes with tickets off: the oldest sessions make
    room (evictions > 0), entries stay bounded, no client ever sees an error."""
    cert, key = _cert(ctx)
    mp = ctx.mailproxy(servers=[_imaps(ctx, cert, key, ssl_session_tickets=False,
                                       ssl_session_cache="shared:S:64k")],
                       mail={"auth_http": "127.0.0.1:9/auth"},
                       main={"worker_processes": 2})
    port = _port(mp)
    n = 500
    first_cc = client_context()
    _g, first, _r, _v = tls_greeting(port, first_cc)
    peak = 0
    for i in range(n):
        g, _s, reused, _v = tls_greeting(port, client_context())   # new context: full
        assert g == IMAP_GREETING, (i, g)
        assert not reused
        if i % 100 == 99:
            st = cache_stats(ctx, mp, "S")
            peak = max(peak, st["entries"])
            assert st["entries"] <= st["blocks"], st
    st = cache_stats(ctx, mp, "S")
    assert st["stores"] >= n, st
    assert st["evictions"] > 0, "a full zone must evict the oldest sessions: %s" % st
    assert st["entries"] < n and st["entries"] <= st["blocks"], st
    # the first session was the oldest: it is gone, a newer one resumes
    _g, _s, reused, _v = tls_greeting(port, first_cc, session=first)
    assert not reused, "the oldest session should have been evicted"
    cc = client_context()
    _g, s1, _r, _v = tls_greeting(port, cc)
    assert tls_greeting(port, cc, session=s1)[2], "a fresh session resumes"
    mp.stop()                  # no writer left: the log is complete (and ends in "exit")
    log = mp.wait_log(r"(?m): exit$").string
    assert "[error]" not in log and "[crit]" not in log and "[alert]" not in log, \
        [l for l in log.splitlines() if "[error]" in l or "[crit]" in l or "[alert]" in l][:5]
    print("zone 64k: peak %d entries, %s" % (peak, st))


def test_tls_session_expires_after_timeout(ctx):
    """ssl_session_timeout 2s: a session older than that is not resumed, from the
    shared cache (tickets off; TLS 1.2 session IDs, which the client offers whatever
    their age, so the server's own check is what refuses) nor from a ticket."""
    cert, key = _cert(ctx)
    mp = ctx.mailproxy(servers=[
        _imaps(ctx, cert, key, ssl_session_tickets=False, ssl_session_cache="shared:E:1m",
               ssl_session_timeout="2s"),
        _imaps(ctx, cert, key, ssl_session_timeout="2s")],
        mail={"auth_http": "127.0.0.1:9/auth"})
    cache_port, ticket_port = _port(mp, 0), _port(mp, 1)
    old = []
    for port in (cache_port, ticket_port):
        for tls13 in (True, False):
            cc = client_context(tls13=tls13)
            _g, s0, reused, _v = tls_greeting(port, cc)
            assert not reused
            assert tls_greeting(port, cc, session=s0)[2], \
                "a fresh session resumes (port %d, tls13=%s)" % (port, tls13)
            old.append((port, tls13, cc, s0))
    before = cache_stats(ctx, mp, "E")
    time.sleep(3.2)
    for port, tls13, cc, s0 in old:
        g, _s, reused, _v = tls_greeting(port, cc, session=s0)
        assert g == IMAP_GREETING
        assert not reused, "a session older than ssl_session_timeout resumed " \
            "(port %d, tls13=%s)" % (port, tls13)
    after = cache_stats(ctx, mp, "E")
    assert after["hits"] == before["hits"], (before, after)
    assert after["misses"] + after["expired"] > before["misses"] + before["expired"], \
        "the TLS 1.2 session ID reached the cache and was refused there: %s" % after


def _new_workers(mp, old, n):
    """Waits until the master has n workers, none of them in old, and the old ones
    have exited."""
    wait_until(lambda: len(mp.workers()) == n and not set(mp.workers()) & set(old), 15,
               what="new workers after the reload")
    for w in old:
        assert wait_pid_gone(w, 15), "old worker %d still running" % w


def test_tls_sessions_and_zone_ticket_keys_survive_reload(ctx):
    """HUP keeps the zone: a session stored before the reload (tickets off, shared
    cache) and a ticket issued before it (tickets on, no key files: the keys live in
    the zone) both resume on the new workers."""
    cert, key = _cert(ctx)
    mp = ctx.mailproxy(servers=[
        _imaps(ctx, cert, key, ssl_session_tickets=False, ssl_session_cache="shared:H:1m"),
        _imaps(ctx, cert, key, ssl_session_cache="shared:T:1m")],
        mail={"auth_http": "127.0.0.1:9/auth"})
    saved = []
    for i in (0, 1):
        cc = client_context()
        _g, s0, _r, _v = tls_greeting(_port(mp, i), cc)
        assert tls_greeting(_port(mp, i), cc, session=s0)[2]
        saved.append((_port(mp, i), cc, s0))
    old = mp.workers()
    mp.reload()
    _new_workers(mp, old, 2)
    mark = len(mp.log())
    for port, cc, s0 in saved:
        g, _s, reused, _v = tls_greeting(port, cc, session=s0)
        assert g == IMAP_GREETING
        assert reused, "a session from before the reload did not resume (port %d)" % port
    hs = wait_until(lambda: (lambda h: h if len(h) >= len(saved) else None)(
        handshakes(mp.log()[mark:])), 20, what="the handshake lines after the reload")
    assert hs and all(pid not in old for pid, *_ in hs), (hs, old)
    assert cache_stats(ctx, mp, "H")["hits"] >= 2


def test_tls_sessions_and_zone_ticket_keys_survive_binary_upgrade(ctx):
    """USR2, WINCH and QUIT of the old master: the new master's workers resume a
    session cached before (tickets off) and a ticket issued before (keys in the
    zone). mailproxy passes its zones to the new binary (nginx does not)."""
    cert, key = _cert(ctx)
    mp = ctx.mailproxy(servers=[
        _imaps(ctx, cert, key, ssl_session_tickets=False, ssl_session_cache="shared:U:1m"),
        _imaps(ctx, cert, key, ssl_session_cache="shared:UT:1m")],
        mail={"auth_http": "127.0.0.1:9/auth"})
    saved = []
    for i in (0, 1):
        cc = client_context()
        _g, s0, _r, _v = tls_greeting(_port(mp, i), cc)
        saved.append((_port(mp, i), cc, s0))
    new_master, new_workers = mp.upgrade(ctx, workers=2)
    mark = len(mp.log())
    for port, cc, s0 in saved:
        g, _s, reused, _v = tls_greeting(port, cc, session=s0)
        assert g == IMAP_GREETING
        assert reused, "a session from before the upgrade did not resume (port %d)" % port
    hs = wait_until(lambda: (lambda h: h if len(h) >= len(saved) else None)(
        handshakes(mp.log()[mark:])), 20, what="the handshake lines after the upgrade")
    assert hs and all(pid in new_workers for pid, *_ in hs), (hs, new_workers)
    r = ctx.cli("-c", mp.config_path, "-s", "status")
    assert r.rc == 0 and '"U"' in r.stdout, r
    # stop the new master by the PID in the pid file
    pid = mp.pidfile_pid()
    assert pid == new_master
    os.kill(pid, signal.SIGQUIT)
    assert wait_pid_gone(pid, 15), "the new master did not stop"
    for w in new_workers:
        assert wait_pid_gone(w, 5)


def _key_file(path, size):
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    return path


def test_tls_ticket_key_files_first_encrypts_all_decrypt(ctx):
    cert, key = _cert(ctx)
    a = _key_file(ctx.path("ticket-a.key"), 80)
    b = _key_file(ctx.path("ticket-b.key"), 48)
    mp = ctx.mailproxy(servers=[_imaps(ctx, cert, key, ssl_session_ticket_key=[a])],
                       mail={"auth_http": "127.0.0.1:9/auth"})
    port = _port(mp)
    cc = client_context()
    _g, sa, _r, _v = tls_greeting(port, cc)
    assert tls_greeting(port, cc, session=sa)[2], "ticket under key A (80 bytes) resumes"
    cc12 = client_context(tls13=False)
    _g, sa12, _r, _v = tls_greeting(port, cc12)

    def set_keys(keys):
        text = open(mp.config_path).read()
        start = text.index("ssl_session_ticket_key:")
        end = text.index("\n", start)
        text = text[:start] + "ssl_session_ticket_key: [%s]" % ", ".join(
            '"%s"' % k for k in keys) + text[end:]
        with open(mp.config_path, "w") as f:
            f.write(text)
        old = mp.workers()
        mp.reload()
        _new_workers(mp, old, 2)

    set_keys([b, a])
    g, _sb, reused, _v = tls_greeting(port, cc, session=sa)
    assert g == IMAP_GREETING
    assert reused, "a ticket under key A must still decrypt when the list is [B, A]"
    assert tls_greeting(port, cc12, session=sa12)[2], "TLS 1.2 ticket under A, list [B, A]"
    _g, sb_fresh, _r, _v = tls_greeting(port, cc)          # full handshake: ticket under B
    _g, sb12, _r, _v = tls_greeting(port, cc12)
    set_keys([b])
    assert not tls_greeting(port, cc, session=sa)[2], \
        "key A is gone from the list: its ticket must not resume"
    assert tls_greeting(port, cc, session=sb_fresh)[2], \
        "the ticket issued under [B, A] was encrypted with B (the first key, 48 bytes)"
    assert tls_greeting(port, cc12, session=sb12)[2], "TLS 1.2 ticket under B"
    # a key file of the wrong size is refused by -t and by a reload
    bad = _key_file(ctx.path("ticket-bad.key"), 64)
    text = open(mp.config_path).read().replace(b, bad)
    with open(mp.config_path, "w") as f:
        f.write(text)
    r = mp.check()
    assert r.rc != 0 and "48 or 80 bytes" in r.out, r


def _zones(pid):
    names = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("/memfd:mailproxy:"):
            names.add(link[len("/memfd:mailproxy:"):].split(" ")[0])
    return names


def test_failed_reload_leaves_no_new_zone_behind(ctx):
    """A reload that creates a new shared cache zone and then fails (a certificate
    that cannot be loaded) keeps the running zones and drops the new one at once."""
    cert, key = _cert(ctx)
    mp = ctx.mailproxy(servers=[_imaps(ctx, cert, key, ssl_session_cache="shared:KEEP:1m")],
                       mail={"auth_http": "127.0.0.1:9/auth"})
    assert _zones(mp.pid) >= {"KEEP", "status"}, _zones(mp.pid)
    from harness import free_port
    bad = os.path.join(ctx.tmp, "garbage.pem")    # exists, so only building TLS fails
    with open(bad, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    with open(mp.config_path, "a") as f:
        f.write('    - protocol: imap\n'
                '      listen: ["127.0.0.1:%d ssl"]\n'
                '      ssl_certificate: "%s"\n'
                '      ssl_certificate_key: "%s"\n'
                '      ssl_session_cache: "shared:NEWZONE:1m"\n'
                % (free_port(), bad, key))
    mp.reload()
    mp.wait_log(r"reload failed")
    assert "NEWZONE" not in _zones(mp.pid), _zones(mp.pid)
    assert _zones(mp.pid) >= {"KEEP", "status"}
    with socket.create_connection(("127.0.0.1", _port(mp)), timeout=10) as raw:
        with client_context().wrap_socket(raw, server_hostname="localhost") as t:
            assert t.recv(100).startswith(b"* OK")
