"""SMTP through the proxy when things go wrong (see test_smtp.py for the dialogue,
delivery, proxy_smtp_auth and XCLIENT, and for the helpers shared here): wrong
passwords with Auth-Wait and a retry on the same connection, attempts exhausted, the
default error code; an auth service that is down, hangs or answers garbage; a backend
whose port is closed, that stays silent, refuses XCLIENT or greets badly."""

import smtplib
import time

from harness import free_port, timeout
from smtp_support import SMTP_INTERNAL, ok_to, start_fake_smtp
from test_smtp import (_check_xclient_delivery, b64, closed_after, connect, mail_text,
                       postfix_setup, reply, smtp_server, uniq)

# ------------------------------------------------------------ wrong passwords

@timeout(40)
def test_smtp_wrong_password_waits_then_retry_on_same_connection(ctx):
    """The example auth service answers a failure with Auth-Error-Code "535 5.7.8"
    and Auth-Wait; the proxy answers after the wait and lets the client retry."""
    pf, au, mp, port = postfix_setup(ctx, auth_kw={"wait": 1})
    r = au.request(method="plain", user="alice", password="bad", protocol="smtp")
    assert r.header("Auth-Error-Code") == "535 5.7.8" and r.header("Auth-Wait") == "1", r
    marker = "retry-%s" % uniq()
    with connect(port) as c:
        c.cmd("EHLO client.example")
        reply(c)
        t0 = time.monotonic()
        c.cmd("AUTH PLAIN " + b64("\0alice\0wrong"))
        assert reply(c) == b"535 5.7.8 Invalid login or password\r\n"
        assert time.monotonic() - t0 >= 0.9, "Auth-Wait: 1 delays the answer"
        c.cmd("AUTH LOGIN")
        assert reply(c) == b"334 VXNlcm5hbWU6\r\n"
        c.cmd(b64("alice"))
        assert reply(c) == b"334 UGFzc3dvcmQ6\r\n"
        c.cmd(b64("alicepw"))
        assert reply(c) == b"235 2.0.0 OK\r\n"
        c.cmd("MAIL FROM:<alice@example.org>")
        assert reply(c).startswith(b"250 ")
        c.cmd("RCPT TO:<bob@test.example>")
        assert reply(c).startswith(b"250 ")
        c.cmd("DATA")
        assert reply(c).startswith(b"354 ")
        c.send(mail_text(marker) + ".\r\n")
        assert reply(c).startswith(b"250 2.0.0 Ok: queued")
    _check_xclient_delivery(pf, marker)
    au.wait_log(r'user="alice" protocol=smtp method=plain .*attempt=1 result=fail')
    au.wait_log(r'user="alice" protocol=smtp method=plain .*attempt=2 result=OK')
    # smtplib sees the 535
    s = smtplib.SMTP("127.0.0.1", port, timeout=15)
    s.ehlo("client.example")
    try:
        s.login("alice", "nope")
        raise AssertionError("a wrong password logged in")
    except smtplib.SMTPAuthenticationError as e:
        assert e.smtp_code == 535 and e.smtp_error == b"5.7.8 Invalid login or password"
    s.close()


@timeout(40)
def test_smtp_wrong_password_attempts_exhausted_closes(ctx):
    pf, au, mp, port = postfix_setup(ctx, auth_kw={"wait": 1, "max_attempts": 1})
    with connect(port) as c:
        c.cmd("AUTH PLAIN " + b64("\0alice\0bad1"))
        assert reply(c) == b"535 5.7.8 Invalid login or password\r\n"
        c.cmd("AUTH PLAIN " + b64("\0alice\0bad2"))
        assert reply(c) == b"535 5.7.8 Invalid login or password\r\n"
        assert closed_after(c) == b""


def test_smtp_default_error_code_without_auth_error_code(ctx):
    """Without Auth-Error-Code nginx's default prefix is 535 5.7.0."""
    fa = ctx.fake_auth(respond=lambda req: [("Auth-Status", "Go away")])
    mp = ctx.mailproxy(auth=fa, servers=[smtp_server()])
    with connect(mp.ports["smtp"]) as c:
        c.cmd("AUTH PLAIN " + b64("\0alice\0x"))
        assert reply(c) == b"535 5.7.0 Go away\r\n"
        assert closed_after(c) == b""


# ------------------------------------------------------------ faults

class Pair:
    """One worker, two SMTP servers: `good` (working auth service, Postfix) and `bad`;
    a session on `good` is logged in before the fault and must still work after it."""

    def __init__(self, ctx, bad_url=None, bad_kw=None):
        self.ctx = ctx
        self.pf = ctx.postfix()
        self.auth = ctx.auth_service(postfix=self.pf)
        bad = smtp_server(**(bad_kw or {}))
        if bad_url:
            bad["auth_http"] = bad_url
        self.mp = ctx.mailproxy(servers=[smtp_server(), bad], auth=self.auth,
                                main={"worker_processes": 1})
        self.good_port, self.bad_port = self.mp.listens[0][1], self.mp.listens[1][1]
        self.survivor = smtplib.SMTP("127.0.0.1", self.good_port, timeout=15)
        self.survivor.ehlo("survivor.example")
        self.survivor.login("alice", "alicepw")

    def error(self, expect=SMTP_INTERNAL, log_rx=None):
        with connect(self.bad_port, timeout=20) as c:
            c.cmd("EHLO client.example")
            reply(c)
            t0 = time.monotonic()
            c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
            line = c.readline(timeout=20)
            elapsed = time.monotonic() - t0
            assert line == expect, "expected %r, got %r" % (expect, line)
            assert closed_after(c) == b""
        if log_rx:
            self.mp.wait_log(log_rx)
        marker = "survivor-%s" % uniq()
        assert self.survivor.noop()[0] == 250
        assert self.survivor.sendmail("alice@example.org", ["bob@test.example"],
                                      mail_text(marker)) == {}
        self.survivor.quit()
        s = smtplib.SMTP("127.0.0.1", self.good_port, timeout=15)
        s.login("bob", "bobpw")
        s.quit()
        self.pf.wait_for_message(marker)
        return elapsed


def test_smtp_auth_service_down(ctx):
    Pair(ctx, bad_url="127.0.0.1:%d/mail/auth" % free_port()).error(log_rx=r"auth http")


@timeout(40)
def test_smtp_auth_service_hanging(ctx):
    hung = ctx.fake_server("silent")
    p = Pair(ctx, bad_url=hung.url, bad_kw={"auth_http_timeout": "1s"})
    assert p.error(log_rx=r"auth http server timed out") >= 0.9


def test_smtp_auth_service_garbage(ctx):
    bad = ctx.auth_service(garbage=True)
    Pair(ctx, bad_url=bad.url).error(log_rx=r"auth http server")


def test_smtp_backend_port_closed(ctx):
    fa = ctx.fake_auth(backend_port=free_port())
    Pair(ctx, bad_url=fa.url).error(log_rx=r"connect\(\) to upstream failed")


@timeout(40)
def test_smtp_backend_silent_times_out(ctx):
    silent = ctx.fake_server("silent")
    fa = ctx.fake_auth(backend_port=silent.port)
    p = Pair(ctx, bad_url=fa.url, bad_kw={"timeout": "1s"})
    assert p.error(log_rx=r"upstream timed out") >= 0.9


def test_smtp_backend_refuses_xclient(ctx):
    """A backend that does not trust the proxy (550 to XCLIENT, Mailu #828): internal
    error by default, the backend's line with proxy_pass_error_message on."""
    refuse = {"XCLIENT": "550 5.7.0 Error: insufficient authorization"}
    fs, srv = start_fake_smtp(ctx, replies=refuse)
    fa = ctx.fake_auth(respond=ok_to(srv.port))
    p = Pair(ctx, bad_url=fa.url)
    p.error(log_rx=r'upstream refused the login: "550 5\.7\.0 Error: insufficient')
    p2 = Pair(ctx, bad_url=fa.url, bad_kw={"proxy_pass_error_message": True})
    p2.error(expect=b"550 5.7.0 Error: insufficient authorization\r\n")


def test_smtp_backend_bad_greeting(ctx):
    fs, srv = start_fake_smtp(ctx)
    fs.greeting = b"554 5.3.2 not today\r\n"
    fa = ctx.fake_auth(respond=ok_to(srv.port))
    fs2, srv2 = start_fake_smtp(ctx)
    fs2.greeting = b"hello, I am not SMTP\r\n"
    fa2 = ctx.fake_auth(respond=ok_to(srv2.port))
    mp = ctx.mailproxy(auth=fa, servers=[smtp_server(proxy_pass_error_message=True),
                                         smtp_server(auth_http=fa2.url)])
    with connect(mp.listens[0][1]) as c:
        c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
        assert c.readline() == b"554 5.3.2 not today\r\n"
        assert closed_after(c) == b""
    with connect(mp.listens[1][1]) as c:
        c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
        assert c.readline() == SMTP_INTERNAL
        assert closed_after(c) == b""
    mp.wait_log(r"upstream sent invalid response")
