"""What the proxy learns about a backend and reuses at the next login to it (per
worker, worker/session/backend_facts.c): a POP3 backend whose CAPA lists PIPELINING gets USER and
PASS in one write, and CAPA is asked only at the first login; an SMTP backend gets
XCLIENT right after its greeting, and one that refuses it there gets nginx's order
(EHLO, XCLIENT, EHLO) at once and from then on. Scripted backends record what they
receive; real Dovecot and Postfix check that the short forms work against them."""

import base64
import os
import poplib
import re
import smtplib
import threading

from harness import timeout
from pop3_support import pop3_server
from smtp_support import ok_to, smtp_lines_until_last, start_fake_smtp
from harness.clients import LineClient


def _one_worker_proxy(ctx, backend_port, server):
    fa = ctx.fake_auth(respond=ok_to(backend_port))
    # One worker: what one login learns is there for the next.
    return ctx.mailproxy(auth=fa, servers=[server], main={"worker_processes": 1})


class FakePOP3:
    """A POP3 backend that records, per connection, each chunk recv() returned, so
    a test can tell commands written together from commands written apart. CAPA is
    answered with `capa` (a list of lines) or -ERR when None."""

    def __init__(self, capa, silent_pass=()):
        self.capa = capa
        self.silent_pass = set(silent_pass)   # connections whose PASS gets no answer
        self.chunks = []
        self.lock = threading.Lock()

    def handler(self, conn, server):
        with self.lock:
            mine = []
            self.chunks.append(mine)
            index = len(self.chunks) - 1
        conn.settimeout(15)
        conn.sendall(b"+OK fake pop3 ready\r\n")
        buf = b""
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                with self.lock:
                    mine.append(data)
                buf += data
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    verb = line.split(b" ", 1)[0].upper()
                    if verb == b"CAPA":
                        if self.capa is None:
                            conn.sendall(b"-ERR unknown command\r\n")
                        else:
                            conn.sendall(b"+OK\r\n" + b"".join(c + b"\r\n" for c in self.capa)
                                         + b".\r\n")
                    elif verb == b"QUIT":
                        conn.sendall(b"+OK bye\r\n")
                        return
                    elif verb == b"PASS" and index in self.silent_pass:
                        pass
                    elif verb == b"STAT":
                        conn.sendall(b"+OK 0 0\r\n")
                    else:
                        conn.sendall(b"+OK\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    def session(self, i):
        with self.lock:
            return list(self.chunks[i])


def _pop3_login(port):
    p = poplib.POP3("127.0.0.1", port, timeout=15)
    p.user("alice")
    p.pass_("alicepw")
    assert p.stat() == (0, 0)
    p.quit()


@timeout(40)
def test_pop3_capa_once_then_user_and_pass_in_one_write(ctx):
    fake = FakePOP3([b"TOP", b"PIPELINING", b"UIDL"])
    srv = ctx.fake_server("script", handler=fake.handler)
    mp = _one_worker_proxy(ctx, srv.port, pop3_server())
    for _ in range(3):
        _pop3_login(mp.ports["pop3"])
    first, second, third = fake.session(0), fake.session(1), fake.session(2)
    assert first[0] == b"CAPA\r\n", first
    assert first[1] == b"USER alice\r\nPASS alicepw\r\n", first
    for later in (second, third):
        assert later[0] == b"USER alice\r\nPASS alicepw\r\n", later
        assert not any(b"CAPA" in c for c in later), later


@timeout(40)
def test_pop3_without_pipelining_or_capa_logs_in_one_command_at_a_time(ctx):
    for capa in ([b"TOP", b"UIDL"], None):
        fake = FakePOP3(capa)
        srv = ctx.fake_server("script", handler=fake.handler)
        mp = _one_worker_proxy(ctx, srv.port, pop3_server())
        for _ in range(2):
            _pop3_login(mp.ports["pop3"])
        first, second = fake.session(0), fake.session(1)
        assert first[:3] == [b"CAPA\r\n", b"USER alice\r\n", b"PASS alicepw\r\n"], first
        assert second[:2] == [b"USER alice\r\n", b"PASS alicepw\r\n"], second
        mp.stop()


@timeout(40)
def test_pop3_pipelined_login_against_dovecot(ctx):
    """Dovecot lists PIPELINING: the second and later logins go in one write, and work."""
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    mp = ctx.mailproxy(auth=au, servers=[pop3_server()], main={"worker_processes": 1})
    for _ in range(3):
        p = poplib.POP3("127.0.0.1", mp.ports["pop3"], timeout=15)
        p.user("alice")
        assert p.pass_("alicepw").startswith(b"+OK")
        p.stat()
        p.quit()


def _smtp_login(port, user="alice"):
    c = LineClient(port)
    with c:
        assert c.readline().startswith(b"220 ")
        c.cmd("EHLO client.example")
        smtp_lines_until_last(c)
        c.cmd("AUTH PLAIN " + base64.b64encode(("\0%s\0pw" % user).encode()).decode())
        assert smtp_lines_until_last(c) == b"235 2.0.0 OK\r\n"
        c.cmd("QUIT")
        assert smtp_lines_until_last(c) == b"221 2.0.0 Bye\r\n"


XCLIENT = (b"XCLIENT PROTO=ESMTP HELO=client.example ADDR=127.0.0.1 LOGIN=alice "
           b"NAME=[UNAVAILABLE]\r\n")


@timeout(40)
def test_smtp_xclient_refused_before_ehlo_falls_back_and_is_remembered(ctx):
    fs, srv = start_fake_smtp(ctx, xclient_after_ehlo=True)
    mp = _one_worker_proxy(ctx, srv.port, {"protocol": "smtp", "server_name": "mx.proxy.test"})
    _smtp_login(mp.ports["smtp"])
    assert fs.lines(0) == [XCLIENT, b"EHLO mx.proxy.test\r\n", XCLIENT,
                           b"EHLO client.example\r\n", b"QUIT\r\n"], fs.lines(0)
    _smtp_login(mp.ports["smtp"])
    assert fs.lines(1) == [b"EHLO mx.proxy.test\r\n", XCLIENT,
                           b"EHLO client.example\r\n", b"QUIT\r\n"], fs.lines(1)


@timeout(40)
def test_smtp_xclient_first_against_postfix(ctx):
    """Postfix takes XCLIENT before EHLO: the mail arrives with the client's HELO name
    and address, and Postfix saw no command pipelining."""
    pf = ctx.postfix()
    au = ctx.auth_service(postfix=pf)
    mp = ctx.mailproxy(auth=au, servers=[{"protocol": "smtp"}], main={"worker_processes": 1})
    mark = pf.log_mark()
    for i in range(2):
        s = smtplib.SMTP("127.0.0.1", mp.ports["smtp"], timeout=15)
        s.ehlo("client.example")
        s.login("alice", "alicepw")
        marker = "facts-%d-%d" % (i, os.getpid())
        assert s.sendmail("alice@example.org", ["bob@test.example"],
                          "Subject: %s\r\n\r\nbody\r\n" % marker) == {}
        s.quit()
        msg = pf.wait_for_message(marker)
        assert b"Received: from client.example (unknown [127.0.0.1])" in msg, msg[:400]
    # qmgr's "removed" line of the last message comes after all smtpd logged for both
    qid = re.search(rb"\bwith E?SMTPS?A? id ([0-9A-Za-z]+)", msg).group(1).decode()
    pf.assert_not_logged(r"improper command pipelining", after=r"%s: removed" % qid, since=mark)



@timeout(40)
def test_pop3_facts_forgotten_after_a_login_that_goes_wrong(ctx):
    """A pipelined login that gets no answer (a server that dropped the PASS) times
    out; the next login to that backend asks CAPA again instead of trusting it."""
    fake = FakePOP3([b"PIPELINING"], silent_pass={1})
    srv = ctx.fake_server("script", handler=fake.handler)
    fa = ctx.fake_auth(respond=ok_to(srv.port))
    mp = ctx.mailproxy(auth=fa, servers=[pop3_server(timeout="1s")],
                       main={"worker_processes": 1})
    _pop3_login(mp.ports["pop3"])
    p = poplib.POP3("127.0.0.1", mp.ports["pop3"], timeout=15)
    p.user("alice")
    try:
        p.pass_("alicepw")
        raise AssertionError("a login without an answer succeeded")
    except poplib.error_proto as e:
        assert b"-ERR" in e.args[0], e
    p.close()
    _pop3_login(mp.ports["pop3"])
    assert fake.session(1)[0] == b"USER alice\r\nPASS alicepw\r\n", fake.session(1)
    assert fake.session(2)[0] == b"CAPA\r\n", fake.session(2)
