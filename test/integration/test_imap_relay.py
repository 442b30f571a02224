"""IMAP after login, through the relay: SELECT, FETCH, APPEND, IDLE, LOGOUT with
imaplib and raw dialogues, a 20 MB message byte-identical both ways (and the status
counters growing with it), and curl as users run it. Real Dovecot on loopback."""

import hashlib
import os
import re
import signal
import socket
import subprocess
import threading
import time

from harness import tcp_sockets, timeout, wait_until
from smtp_support import ok_to
from imap_support import (appenduid, big_message, connect, fetch_uid_literal, imap, message,
                          proxy, tagged, totals, uniq)


def _setup(ctx, **server_kw):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    return dv, au, proxy(ctx, au, **server_kw)


def test_imap_select_fetch_append_logout(ctx):
    dv, _, mp = _setup(ctx)
    m = imap(mp.ports["imap"])
    assert m.login("alice", "alicepw")[0] == "OK"
    subject = "relay-" + uniq()
    msg = message(subject, b"line one\r\nline two\r\n\r\n-- \r\nsig\r\n")
    typ, data = m.append("INBOX", "(\\Flagged)", None, msg)
    assert typ == "OK", data
    uid = appenduid(data)
    typ, data = m.select("INBOX")
    assert typ == "OK" and int(data[0]) >= 1, data
    typ, data = m.uid("SEARCH", None, "HEADER", "Subject", subject)
    assert typ == "OK" and data[0].split() == [str(uid).encode()], data
    assert fetch_uid_literal(m, uid) == msg
    assert fetch_uid_literal(m, uid, "BODY.PEEK[HEADER.FIELDS (SUBJECT)]") == \
        b"Subject: " + subject.encode() + b"\r\n\r\n"
    typ, data = m.uid("FETCH", str(uid), "(FLAGS RFC822.SIZE)")
    assert typ == "OK" and b"\\Flagged" in data[0] and \
        b"RFC822.SIZE %d" % len(msg) in data[0], data
    # The same message as Dovecot has it, without the proxy in between.
    direct = dv.imap("alice")
    direct.select("INBOX", readonly=True)
    assert fetch_uid_literal(direct, uid) == msg
    direct.logout()
    typ, data = m.logout()
    assert typ == "BYE", (typ, data)
    mp.wait_log(r"proxied session done.*login: \"alice\"")
    mp.wait_log(r"client logged in")


def test_imap_raw_dialogue_after_login(ctx):
    """Untagged and tagged lines, literals from the server, UID commands and EXPUNGE,
    byte for byte as Dovecot sends them."""
    _, _, mp = _setup(ctx)
    box = "raw-" + uniq()
    with connect(mp.ports["imap"]) as c:
        c.cmd("a LOGIN alice alicepw")
        assert tagged(c, "a")[1].startswith(b"a OK")
        c.cmd('b CREATE "%s"' % box)
        assert tagged(c, "b")[1].startswith(b"b OK")
        msg = message(box)
        c.send(b'c APPEND "%s" {%d}\r\n' % (box.encode(), len(msg)))
        assert c.readline().startswith(b"+ ")
        c.send(msg + b"\r\n")
        assert tagged(c, "c")[1].startswith(b"c OK [APPENDUID")
        c.cmd('d SELECT "%s"' % box)
        untagged, ok = tagged(c, "d")
        assert b"* 1 EXISTS\r\n" in untagged and ok.startswith(b"d OK [READ-WRITE]"), untagged
        c.cmd("e FETCH 1 BODY.PEEK[]")
        head = c.readline()
        assert head == b"* 1 FETCH (BODY[] {%d}\r\n" % len(msg), head
        body = b""
        while len(body) < len(msg):
            body += c.readline()
        assert body[:len(msg)] == msg
        _, ok = tagged(c, "e")
        assert ok.startswith(b"e OK")
        c.cmd("f STORE 1 +FLAGS (\\Deleted)")
        assert tagged(c, "f")[1].startswith(b"f OK")
        c.cmd("g EXPUNGE")
        untagged, ok = tagged(c, "g")
        assert b"* 1 EXPUNGE\r\n" in untagged and ok.startswith(b"g OK"), untagged
        c.cmd("h CLOSE")
        assert tagged(c, "h")[1].startswith(b"h OK")
        c.cmd('i DELETE "%s"' % box)
        assert tagged(c, "i")[1].startswith(b"i OK")
        c.cmd("j LOGOUT")
        untagged, ok = tagged(c, "j")
        assert untagged == [b"* BYE Logging out\r\n"] and ok.startswith(b"j OK"), untagged
        assert c.closed(5)


@timeout(60)
def test_imap_idle_sees_mail_appended_by_another_session(ctx):
    _, _, mp = _setup(ctx)
    port = mp.ports["imap"]
    with connect(port) as c:
        c.cmd("a LOGIN alice alicepw")
        assert tagged(c, "a")[1].startswith(b"a OK")
        c.cmd("s SELECT INBOX")
        untagged, ok = tagged(c, "s")
        assert ok.startswith(b"s OK"), ok
        exists = [int(l.split()[1]) for l in untagged if re.match(rb"\* \d+ EXISTS", l)]
        assert len(exists) == 1, untagged
        c.cmd("i IDLE")
        assert c.readline().startswith(b"+ "), "IDLE continuation"
        # A second session through the same proxy appends.
        m = imap(port)
        m.login("alice", "alicepw")
        assert m.append("INBOX", None, None, message("idle-" + uniq()))[0] == "OK"
        m.logout()
        want = b"* %d EXISTS\r\n" % (exists[0] + 1)
        seen = []
        while want not in seen:              # bounded by LineClient's timeout
            line = c.readline(timeout=15)
            assert line, "EOF while idling: %r" % seen
            seen.append(line)
        c.cmd("DONE")
        _, ok = tagged(c, "i")
        assert ok.startswith(b"i OK"), ok
        c.cmd("z LOGOUT")
        tagged(c, "z")


@timeout(90)
def test_imap_20mb_message_byte_identical_and_counted(ctx):
    """APPEND a 20 MB literal through the proxy and FETCH it back: same sha256; the
    proxy's status counters (totals.bytes_in / bytes_out) grow by at least as much."""
    dv, _, mp = _setup(ctx)
    size = 20 * 1024 * 1024
    box = "big-" + uniq()
    data = big_message(box, size)
    want = hashlib.sha256(data).hexdigest()
    m = imap(mp.ports["imap"], timeout=60)
    assert m.login("alice", "alicepw")[0] == "OK"
    assert m.create(box)[0] == "OK"
    try:
        t0 = totals(ctx, mp)
        typ, r = m.append(box, None, None, data)
        assert typ == "OK", r
        uid = appenduid(r)
        t1 = wait_until(lambda: (lambda t: t if t["bytes_in"] - t0["bytes_in"] >= size
                                 else None)(totals(ctx, mp)), 5,
                        what="bytes_in to grow by 20 MB")
        assert m.select(box)[0] == "OK"
        got = fetch_uid_literal(m, uid)
        assert len(got) == size, len(got)
        assert hashlib.sha256(got).hexdigest() == want, "the 20 MB message changed in transit"
        t2 = wait_until(lambda: (lambda t: t if t["bytes_out"] - t1["bytes_out"] >= size
                                 else None)(totals(ctx, mp)), 5,
                        what="bytes_out to grow by 20 MB")
        print("bytes_in +%d, bytes_out +%d for a %d-byte message" % (
            t1["bytes_in"] - t0["bytes_in"], t2["bytes_out"] - t0["bytes_out"], size))
        # Dovecot stored exactly what the client sent.
        direct = dv.imap("alice")
        direct.select(box, readonly=True)
        assert hashlib.sha256(fetch_uid_literal(direct, uid)).hexdigest() == want
        direct.logout()
    finally:
        try:
            m.select("INBOX")
            m.delete(box)
            m.logout()
        except Exception:
            pass


@timeout(30)
def test_imap_proxy_timeout_closes_idle_relayed_session(ctx):
    _, _, mp = _setup(ctx, proxy_timeout="1s")
    with connect(mp.ports["imap"]) as c:
        c.cmd("a LOGIN alice alicepw")
        assert tagged(c, "a")[1].startswith(b"a OK")
        c.cmd("b NOOP")                          # activity keeps it alive
        assert tagged(c, "b")[1].startswith(b"b OK")
        t0 = time.monotonic()
        assert c.closed(10), "an idle session outlived proxy_timeout"
        assert time.monotonic() - t0 >= 0.9
    mp.wait_log(r"timed out.*login: \"alice\"")


def _curl(*args):
    r = subprocess.run(["curl", "-sS", "--max-time", "20"] + list(args), capture_output=True,
                       timeout=30)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


def test_imap_curl_list_and_fetch_by_uid(ctx):
    dv, _, mp = _setup(ctx)
    port = mp.ports["imap"]
    rc, out, err = _curl("imap://127.0.0.1:%d/INBOX" % port, "-u", "alice:alicepw")
    assert rc == 0, err
    assert re.search(rb'^\* LIST \([^)]*\) "\." INBOX\r?$', out, re.M), out
    subject = "curl-" + uniq()
    msg = message(subject, b"fetched by curl\r\n")
    uid = appenduid(dv.append("alice", msg))
    rc, out, err = _curl("imap://127.0.0.1:%d/INBOX/;UID=%d" % (port, uid), "-u",
                         "alice:alicepw")
    assert rc == 0, err
    assert out == msg, out
    rc, out, err = _curl("imap://127.0.0.1:%d/INBOX" % port, "-u", "alice:wrong")
    assert rc != 0 and out == b"", (rc, out)
    mp.assert_log_count(r"client logged in", 2, after=r"client login failed")


@timeout(60)
def test_imap_many_small_segments_while_worker_busy_all_relayed(ctx):
    """Commands that pile up in many small TCP segments while the worker is busy
    (stopped here) are all relayed once it runs: a read that stops short because
    the kernel's pipe ran out of slots must not be taken for a drained socket,
    which would leave the rest waiting for data that never comes. 60 segments stay
    under the first plain read; 900 overflow it into the spliced path."""
    _, _, mp = _setup(ctx)
    with connect(mp.ports["imap"]) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.cmd("a LOGIN alice alicepw")
        assert tagged(c, "a")[1].startswith(b"a OK")
        for count in (60, 900):
            workers = mp.workers()
            for w in workers:
                os.kill(w, signal.SIGSTOP)
            try:
                for i in range(count):
                    c.send(b"n%d NOOP\r\n" % i)      # one segment each (TCP_NODELAY)
                    time.sleep(0.0005)
            finally:
                for w in workers:
                    os.kill(w, signal.SIGCONT)
            for i in range(count):
                _, ok = tagged(c, "n%d" % i, timeout=10)
                assert ok.startswith(b"n%d OK" % i), ok
        c.cmd("z LOGOUT")
        assert tagged(c, "z")[1].startswith(b"z OK")


@timeout(60)
def test_imap_backend_closes_while_client_sends_no_reset(ctx):
    """The backend ends the session (autologout: "* BYE" and close) while the client's
    next command is on its way: the client gets the BYE and a clean end of stream,
    never a reset, because the proxy does not close() on input it has not read."""
    closing = threading.Event()
    closed = threading.Event()

    def backend(conn, server):
        f = conn.makefile("rb")
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 LITERAL+] fake ready\r\n")
        line = first = f.readline()
        while line.rstrip().endswith(b"+}"):   # LOGIN with non-synchronizing literals
            line = f.readline()
        conn.sendall(first.split(b" ")[0] + b" OK LOGIN done\r\n")
        closing.wait(20)
        conn.sendall(b"* BYE Autologout\r\n")
        f.close()
        conn.close()
        closed.set()

    srv = ctx.fake_server("script", handler=backend)
    fa = ctx.fake_auth(respond=ok_to(srv.port))
    mp = ctx.mailproxy(servers=[{"protocol": "imap"}], auth=fa, main={"worker_processes": 1})
    with connect(mp.ports["imap"]) as c:
        c.cmd("a LOGIN alice alicepw")
        assert tagged(c, "a")[1].startswith(b"a OK")
        workers = mp.workers()
        for w in workers:
            os.kill(w, signal.SIGSTOP)
        try:
            closing.set()                    # the backend closes first ...
            assert closed.wait(20)
            wait_until(lambda: any(t["remote"][1] == srv.port and t["state"] == "CLOSE_WAIT"
                                   and t["rx"] > 0 for t in tcp_sockets()), 20,
                       what="the BYE and the backend's FIN queued at the proxy")
            c.send(b"b NOOP\r\n")            # ... then the client's command arrives
            me = c.sock.getsockname()
            wait_until(lambda: any(t["remote"] == me and t["local"][1] == mp.ports["imap"]
                                   and t["rx"] >= 8 for t in tcp_sockets()), 20,
                       what="the NOOP queued at the proxy")
        finally:
            for w in workers:
                os.kill(w, signal.SIGCONT)
        assert c.readline(timeout=10) == b"* BYE Autologout\r\n"
        c.sock.settimeout(10)
        assert c.sock.recv(100) == b"", "expected a clean end of stream"
