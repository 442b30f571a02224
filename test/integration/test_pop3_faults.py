"""POP3 through the proxy when things go wrong, against the real Dovecot: wrong
passwords with Auth-Wait and a retry on the same connection, attempts exhausted, the
auth service down, hanging or answering garbage, the backend closed, silent or
refusing (a logged-in session on another server must survive each), STLS injection
and `starttls only`.

Expected behaviour is nginx's (/work/shared/reference/nginx-mail.md sections 2-4)."""

import base64
import hashlib
import hmac
import poplib
import re
import time

from harness import free_port, make_cert, timeout
from pop3_support import (INTERNAL, INVALID, b64, closed_after, connect, multiline, pop,
                          pop3_server, setup)


# ------------------------------------------------------------ wrong passwords

@timeout(40)
def test_pop3_wrong_password_waits_then_retry_on_same_connection(ctx):
    dv, au, mp, port = setup(ctx, auth_kw={"wait": 1})
    c, _ = connect(port)
    with c:
        c.cmd("USER alice")
        assert c.readline() == b"+OK\r\n"
        t0 = time.monotonic()
        c.cmd("PASS wrongpw")
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        assert time.monotonic() - t0 >= 0.9, "Auth-Wait: 1 delays the answer"
        c.cmd("PASS alicepw")                   # back to the start state: USER first
        assert c.readline() == INVALID
        c.cmd("USER alice")
        assert c.readline() == b"+OK\r\n"
        c.cmd("PASS alicepw")
        assert c.readline().startswith(b"+OK Logged in")
        c.cmd("STAT")
        assert c.readline().startswith(b"+OK ")
    au.wait_log(r'user="alice" protocol=pop3 method=plain .*attempt=1 result=fail')
    au.wait_log(r'user="alice" protocol=pop3 method=plain .*attempt=2 result=OK')
    mp.wait_log(r'client login failed: "Invalid login or password"')
    # AUTH PLAIN retry too, and poplib sees the error text
    p = pop(port)
    p.user("alice")
    try:
        p.pass_("nope")
        raise AssertionError("a wrong password logged in")
    except poplib.error_proto as e:
        assert "Invalid login or password" in str(e)
    p.sock.close()


@timeout(40)
def test_pop3_commands_sent_during_auth_wait_are_answered_after_it(ctx):
    """A client that pipelines its retry behind the failing PASS: nginx leaves the
    input in the socket during Auth-Wait and reads it afterwards, in order."""
    dv, au, mp, port = setup(ctx, auth_kw={"wait": 1})
    c, _ = connect(port)
    with c:
        c.send(b"USER alice\r\nPASS wrong\r\nUSER alice\r\nPASS alicepw\r\nSTAT\r\n")
        assert c.readline() == b"+OK\r\n"
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        assert c.readline() == b"+OK\r\n"
        assert c.readline().startswith(b"+OK Logged in")
        assert re.match(rb"^\+OK \d+ \d+\r\n$", c.readline())


@timeout(40)
def test_pop3_apop_retry_after_failure(ctx):
    """APOP/CRAM-MD5 after a failed attempt on the same connection (nginx
    CVE-2026-27651 crashed here): the greeting's timestamp still works."""
    dv, au, mp, port = setup(ctx, auth_kw={"wait": 1}, pop3_auth=["plain", "apop", "cram-md5"])
    c, g = connect(port)
    with c:
        ts = re.search(rb"<[^>]+>", g).group(0)
        c.cmd("APOP alice " + hashlib.md5(ts + b"wrong").hexdigest())
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        c.cmd("AUTH CRAM-MD5")
        salt = base64.b64decode(c.readline()[2:].strip())
        c.cmd(b64("alice " + hmac.new(b"wrong", salt, "md5").hexdigest()))
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        c.cmd("APOP alice " + hashlib.md5(ts + b"alicepw").hexdigest())
        assert c.readline().startswith(b"+OK Logged in")
        c.cmd("STAT")
        assert c.readline().startswith(b"+OK ")
    assert mp.alive()


@timeout(40)
def test_pop3_wrong_password_attempts_exhausted_closes(ctx):
    dv, au, mp, port = setup(ctx, auth_kw={"wait": 1, "max_attempts": 1})
    c, _ = connect(port)
    with c:
        c.cmd("USER alice")
        c.readline()
        c.cmd("PASS bad1")
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        c.cmd("USER alice")
        c.readline()
        c.cmd("PASS bad2")                      # no Auth-Wait any more: error, close
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        assert closed_after(c) == b""


# ------------------------------------------------------------ faults

class Pair:
    """One worker, two POP3 servers: `good` (working auth service) and `bad`; a session
    on `good` is logged in before the fault and must still work after it."""

    def __init__(self, ctx, bad_url=None, bad_kw=None, mail=None, users=None):
        self.ctx = ctx
        self.dv = ctx.dovecot()
        self.auth = ctx.auth_service(dovecot=self.dv, users=users)
        bad = pop3_server(**(bad_kw or {}))
        if bad_url:
            bad["auth_http"] = bad_url
        self.mp = ctx.mailproxy(servers=[pop3_server(), bad], auth=self.auth, mail=mail,
                                main={"worker_processes": 1})
        self.good_port, self.bad_port = self.mp.listens[0][1], self.mp.listens[1][1]
        self.survivor = pop(self.good_port)
        self.survivor.user("alice")
        assert self.survivor.pass_("alicepw").startswith(b"+OK")

    def error(self, expect=INTERNAL, log_rx=None, user="alice", pw="alicepw"):
        c, _ = connect(self.bad_port, timeout=20)
        with c:
            t0 = time.monotonic()
            c.cmd("USER " + user)
            assert c.readline() == b"+OK\r\n"
            c.cmd("PASS " + pw)
            line = c.readline(timeout=20)
            elapsed = time.monotonic() - t0
            assert line == expect, "expected %r, got %r" % (expect, line)
            assert closed_after(c) == b""
        if log_rx:
            self.mp.wait_log(log_rx)
        # the other session and new sessions are fine
        assert self.survivor.noop().startswith(b"+OK")
        assert self.survivor.stat()[0] >= 0
        p = pop(self.good_port)
        p.user("bob")
        assert p.pass_("bobpw").startswith(b"+OK")
        p.quit()
        self.survivor.quit()
        return elapsed


def test_pop3_auth_service_down(ctx):
    p = Pair(ctx, bad_url="127.0.0.1:%d/mail/auth" % free_port())
    p.error(log_rx=r"auth http|connect")


@timeout(40)
def test_pop3_auth_service_hanging(ctx):
    hung = ctx.fake_server("silent")
    p = Pair(ctx, bad_url=hung.url, bad_kw={"auth_http_timeout": "1s"})
    elapsed = p.error(log_rx=r"auth http server timed out")
    assert elapsed >= 0.9, "auth_http_timeout 1s: answered after %.2fs" % elapsed


def test_pop3_auth_service_garbage(ctx):
    bad = ctx.auth_service(garbage=True)
    p = Pair(ctx, bad_url=bad.url)
    p.error(log_rx=r"auth http server")


def test_pop3_backend_port_closed(ctx):
    dead = free_port()
    fa = ctx.fake_auth(backend_port=dead)
    p = Pair(ctx, bad_url=fa.url)
    p.error(log_rx=r"connect\(\) to upstream failed")


@timeout(40)
def test_pop3_backend_silent_times_out(ctx):
    """A backend that accepts and never greets: after `timeout` the client gets nginx's
    internal error line (nginx: "upstream timed out" -> internal server error)."""
    silent = ctx.fake_server("silent")
    fa = ctx.fake_auth(backend_port=silent.port)
    p = Pair(ctx, bad_url=fa.url, bad_kw={"timeout": "1s"})
    elapsed = p.error(log_rx=r"upstream timed out")
    assert elapsed >= 0.9


def test_pop3_backend_refuses_login(ctx):
    """Dovecot refuses the password the auth service hands over: internal error by
    default, Dovecot's own line with proxy_pass_error_message on."""
    users = {"alice": "alicepw", "bob": "bobpw",
             "carol": {"password": "carolpw", "login": "alice", "passwd": "not-alices"}}
    p = Pair(ctx, users=users)
    p.error(user="carol", pw="carolpw", log_rx=r"upstream refused the login")
    p2 = Pair(ctx, users=users, bad_kw={"proxy_pass_error_message": True})
    line = None
    c, _ = connect(p2.bad_port)
    with c:
        c.cmd("USER carol")
        c.readline()
        c.cmd("PASS carolpw")
        line = c.readline(timeout=15)
        assert closed_after(c) == b""
    assert line.startswith(b"-ERR ") and b"Authentication failed" in line, line
    p2.survivor.quit()


# ------------------------------------------------------------ STLS

def test_pop3_stls_discards_pipelined_plaintext(ctx):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    cert, key = make_cert(ctx.tmp)
    mp = ctx.mailproxy(auth=au, servers=[pop3_server(starttls="on", ssl_certificate=cert,
                                                     ssl_certificate_key=key)])
    c, _ = connect(mp.ports["pop3"])
    with c:
        c.send(b"STLS\r\nUSER mallory\r\nPASS evil\r\n")
        assert c.readline() == b"+OK\r\n"
        c.starttls()
        try:
            line = c.readline(timeout=0.8)
            raise AssertionError("plaintext injected before the handshake was answered "
                                 "after it: %r" % line)
        except TimeoutError:
            pass
        c.cmd("PASS evil")              # USER mallory was discarded: PASS is out of place
        assert c.readline() == INVALID
        c.cmd("STLS")                   # no second STLS
        assert c.readline() == INVALID
        c.cmd("USER alice")
        assert c.readline() == b"+OK\r\n"
        c.cmd("PASS alicepw")
        assert c.readline().startswith(b"+OK Logged in")
    au.assert_not_logged(r"mallory", after=au.sentinel())


def test_pop3_starttls_only_refuses_login_before_tls(ctx):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    cert, key = make_cert(ctx.tmp)
    mp = ctx.mailproxy(auth=au, servers=[pop3_server(
        starttls="only", ssl_certificate=cert, ssl_certificate_key=key,
        pop3_auth=["plain", "apop"])])
    c, g = connect(mp.ports["pop3"])
    with c:
        ts = re.search(rb"<[^>]+>", g).group(0)
        for cmd in ("USER alice", "AUTH PLAIN " + b64("\0alice\0alicepw"), "AUTH",
                    "APOP alice " + hashlib.md5(ts + b"alicepw").hexdigest()):
            c.cmd(cmd)
            assert c.readline() == INVALID, cmd
        c.cmd("NOOP")
        assert c.readline() == b"+OK\r\n"
        c.cmd("STLS")
        assert c.readline() == b"+OK\r\n"
        c.starttls()
        c.cmd("CAPA")
        caps = multiline(c)
        assert b"USER\r\n" in caps and b"SASL PLAIN LOGIN\r\n" in caps and b"STLS" not in caps
        c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
        assert c.readline().startswith(b"+OK Logged in")
    au.assert_log_count(r"result=OK", 1, after=au.sentinel())     # only the TLS login asked
