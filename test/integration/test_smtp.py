"""SMTP through the proxy with real clients (smtplib, swaks, raw sockets) against the
real Postfix (XCLIENT allowed from 127.0.0.0/8) and scripted fake SMTP backends that
record every line the proxy sends: nginx's replies before login, AUTH PLAIN/LOGIN then
delivery with the XCLIENT attributes in Postfix's log and headers, proxy_smtp_auth,
smtp_auth none relay (Auth-SMTP-* headers), smtp_greeting_delay, the exact XCLIENT
line, xclient off, STARTTLS. Wrong passwords and auth-service and backend faults are in
test_smtp_faults.py, which uses the helpers here.

Expected behaviour is nginx's (/work/shared/reference/nginx-mail.md sections 2-4) with
the README's documented XCLIENT form: "XCLIENT PROTO=ESMTP|SMTP HELO=<xtext>
ADDR=[IPV6:]<ip> [LOGIN=<xtext>] NAME=<xtext>", then HELO/EHLO again."""

import base64
import hashlib
import re
import smtplib
import subprocess
import time
import uuid

from harness import LineClient, free_port, make_cert, timeout
from smtp_support import SMTP_INTERNAL, ok_to, smtp_lines_until_last, start_fake_smtp

NAME = "mx.proxy.test"
GREETING = b"220 mx.proxy.test ESMTP ready\r\n"
INVALID = b"500 5.5.1 Invalid command\r\n"
OK = b"250 2.0.0 OK\r\n"


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def uniq():
    return uuid.uuid4().hex[:12]


def smtp_server(**kw):
    d = {"protocol": "smtp", "server_name": NAME}
    d.update(kw)
    return d


def connect(port, timeout=10.0, source=None):
    c = LineClient(port, timeout=timeout, source=source)
    assert c.readline() == GREETING
    return c


def reply(c, timeout=None):
    return smtp_lines_until_last(c, timeout)


def closed_after(c, timeout=5.0):
    assert c.closed(timeout), "connection still open; buffered %r" % c.buf
    return c.buf


def postfix_setup(ctx, auth_kw=None, mail=None, main=None, **srv):
    """Shared Postfix, the example auth service routing SMTP to it, a proxy with one
    SMTP server; returns (postfix, auth, proxy, port)."""
    pf = ctx.postfix()
    au = ctx.auth_service(postfix=pf, **(auth_kw or {}))
    mp = ctx.mailproxy(servers=[smtp_server(**srv)], auth=au, mail=mail, main=main)
    return pf, au, mp, mp.ports["smtp"]


def fake_setup(ctx, replies=None, respond=None, mail=None, **srv):
    """A scripted backend, a FakeAuth answering OK to it, a proxy; returns
    (fake smtp, fake auth, proxy, port)."""
    fs, srv_sock = start_fake_smtp(ctx, replies=replies)
    fa = ctx.fake_auth(respond=respond or ok_to(srv_sock.port))
    mp = ctx.mailproxy(servers=[smtp_server(**srv)], auth=fa, mail=mail)
    return fs, fa, mp, mp.ports["smtp"]


def mail_text(marker, sender="alice@example.org", rcpt="bob@test.example"):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\n"
            "body of %s\r\n" % (sender, rcpt, marker, marker, marker))


def queue_id(msg):
    """The Postfix queue id from the Received header of a delivered message."""
    m = re.search(rb"by mx\.test\.example \(Postfix\) with (\w+) id (\w+)", msg)
    assert m, msg[:600]
    return m.group(1).decode(), m.group(2).decode()


# ------------------------------------------------------------ dialogue before login

def test_smtp_greeting_ehlo_helo_and_simple_commands(ctx):
    pf = ctx.postfix()
    au = ctx.auth_service(postfix=pf)
    mp = ctx.mailproxy(auth=au, servers=[
        smtp_server(max_errors=20),
        smtp_server(smtp_capabilities=["SIZE 10485760", "8BITMIME", "PIPELINING"],
                    smtp_auth=["login", "plain", "cram-md5"]),
    ])
    port, caps_port = mp.listens[0][1], mp.listens[1][1]
    with connect(port) as c:
        c.cmd("EHLO client.example")
        assert reply(c) == b"250-mx.proxy.test\r\n250 AUTH PLAIN LOGIN\r\n"
        c.cmd("HELO client.example")
        assert reply(c) == b"250 mx.proxy.test\r\n"
        c.cmd("ehlo client.example")                     # case-insensitive
        assert reply(c).startswith(b"250-mx.proxy.test\r\n")
        for bad in ("HELO", "EHLO", "EHLO a b"):
            c.cmd(bad)
            assert reply(c) == b"501 5.5.4 Invalid argument\r\n", bad
        c.cmd("MAIL FROM:<alice@example.org>")
        assert reply(c) == b"530 5.7.1 Authentication required\r\n"
        c.cmd("RCPT TO:<bob@test.example>")
        assert reply(c) == b"503 5.5.1 Bad sequence of commands\r\n"
        for cmd in ("VRFY alice", "EXPN staff", "HELP", "DATA", "XYZZY", "TURN", "BDAT 10"):
            c.cmd(cmd)
            assert reply(c) == INVALID, cmd
        c.cmd("AUTH")
        assert reply(c) == b"501 5.5.4 Invalid argument\r\n"
        c.cmd("AUTH BOGUS")
        assert reply(c) == INVALID
        c.cmd("STARTTLS")                                # starttls off
        assert reply(c) == INVALID
        c.cmd("RSET")
        assert reply(c) == OK
        c.cmd("NOOP")
        assert reply(c) == OK
        c.cmd("QUIT")
        assert reply(c) == b"221 2.0.0 Bye\r\n"
        assert closed_after(c) == b""
    mp.wait_log(r"client was rejected")
    with connect(caps_port) as c:
        c.cmd("EHLO client.example")
        assert reply(c) == (b"250-mx.proxy.test\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n"
                            b"250-PIPELINING\r\n250 AUTH PLAIN LOGIN CRAM-MD5\r\n")
        c.cmd("AUTH CRAM-MD5")
        line = reply(c)
        assert line.startswith(b"334 ")
        salt = base64.b64decode(line[4:].strip())
        assert re.match(rb"^<\d+\.\d+@mx\.proxy\.test>$", salt), salt


def test_smtp_max_errors_and_too_long_line(ctx):
    pf, au, mp, port = postfix_setup(ctx, max_errors=2, smtp_client_buffer="1k")
    with connect(port) as c:
        c.cmd("VRFY alice")
        assert reply(c) == INVALID
        c.cmd("NOOP")
        assert reply(c) == OK
        c.cmd("DATA")
        assert reply(c) == INVALID
        assert closed_after(c) == b""
    mp.wait_log(r"client sent too many invalid commands")
    with connect(port) as c:                 # 501 does not count as an error (nginx)
        for _ in range(4):
            c.cmd("HELO")
            assert reply(c) == b"501 5.5.4 Invalid argument\r\n"
        c.cmd("NOOP")
        assert reply(c) == OK
    with connect(port) as c:
        c.cmd("EHLO " + "a" * 1100)
        assert reply(c) == INVALID
        assert closed_after(c) == b""
    mp.wait_log(r"client sent too long command")


def test_smtp_starttls_ehlo_variants_injection_and_only(ctx):
    pf = ctx.postfix()
    au = ctx.auth_service(postfix=pf)
    cert, key = make_cert(ctx.tmp)
    tls = {"ssl_certificate": cert, "ssl_certificate_key": key}
    mp = ctx.mailproxy(auth=au, servers=[smtp_server(starttls="on", **tls),
                                         smtp_server(starttls="only", **tls)])
    on_port, only_port = mp.listens[0][1], mp.listens[1][1]
    marker = "starttls-%s" % uniq()
    with connect(on_port) as c:
        c.cmd("EHLO client.example")
        assert reply(c) == b"250-mx.proxy.test\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n"
        # plaintext pipelined behind STARTTLS must never be answered after the handshake
        c.send("STARTTLS\r\nAUTH PLAIN %s\r\nMAIL FROM:<mallory@example.org>\r\n"
               % b64("\0mallory\0evil"))
        assert reply(c) == b"220 2.0.0 Start TLS\r\n"
        c.starttls()
        try:
            line = c.readline(timeout=0.8)
            raise AssertionError("plaintext injected before the handshake was answered "
                                 "after it: %r" % line)
        except TimeoutError:
            pass
        c.cmd("EHLO client.example")
        assert reply(c) == b"250-mx.proxy.test\r\n250 AUTH PLAIN LOGIN\r\n"
        c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
        assert reply(c) == b"235 2.0.0 OK\r\n"
        c.cmd("MAIL FROM:<alice@example.org>")
        assert reply(c).startswith(b"250 2.1.0")
        c.cmd("RCPT TO:<bob@test.example>")
        assert reply(c).startswith(b"250 2.1.5")
        c.cmd("DATA")
        assert reply(c).startswith(b"354")
        c.send(mail_text(marker) + ".\r\n")
        assert reply(c).startswith(b"250 2.0.0 Ok: queued")
        c.cmd("QUIT")
        assert reply(c).startswith(b"221")
    # the injected AUTH never reached the auth service
    au.assert_not_logged(r"mallory", after=au.sentinel())
    msg = pf.wait_for_message(marker)
    assert b"(Authenticated sender: alice)" in msg
    # starttls only: no AUTH before TLS
    with connect(only_port) as c:
        c.cmd("EHLO client.example")
        assert reply(c) == b"250-mx.proxy.test\r\n250 STARTTLS\r\n"
        c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
        assert reply(c) == INVALID
        c.cmd("AUTH LOGIN")
        assert reply(c) == INVALID
        c.cmd("MAIL FROM:<alice@example.org>")
        assert reply(c) == b"530 5.7.1 Authentication required\r\n"
        c.cmd("STARTTLS")
        assert reply(c) == b"220 2.0.0 Start TLS\r\n"
        c.starttls()
        c.cmd("EHLO client.example")
        assert reply(c) == b"250-mx.proxy.test\r\n250 AUTH PLAIN LOGIN\r\n"
        c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
        assert reply(c) == b"235 2.0.0 OK\r\n"
    au.assert_log_count(r"protocol=smtp method=plain .*result=OK", 2, after=au.sentinel())


@timeout(40)
def test_smtp_greeting_delay(ctx):
    pf, au, mp, port = postfix_setup(ctx, smtp_greeting_delay="1s")
    # a client that talks first is refused
    with LineClient(port) as c:
        c.send(b"EHLO early.example\r\n")
        assert c.readline() == b"503 5.5.0 Improper use of SMTP command pipelining\r\n"
        assert closed_after(c) == b""
    mp.wait_log(r"client was rejected before greeting")
    # a polite client waits and is greeted
    t0 = time.monotonic()
    with LineClient(port) as c:
        assert c.readline(timeout=10) == GREETING
        assert time.monotonic() - t0 >= 0.9, "greeted before smtp_greeting_delay"
        c.cmd("EHLO polite.example")
        assert reply(c).startswith(b"250-mx.proxy.test")
    # smtplib waits for the greeting as well
    s = smtplib.SMTP("127.0.0.1", port, timeout=10)
    s.ehlo("client.example")
    s.login("alice", "alicepw")
    marker = "delay-%s" % uniq()
    assert s.sendmail("alice@example.org", ["bob@test.example"], mail_text(marker)) == {}
    s.quit()
    pf.wait_for_message(marker)


# ------------------------------------------------------------ delivery through Postfix

def _check_xclient_delivery(pf, marker, login="alice", helo="client.example"):
    msg = pf.wait_for_message(marker)
    proto, qid = queue_id(msg)
    assert proto == "ESMTPA", msg[:400]
    assert b"(Authenticated sender: %s)" % login.encode() in msg, msg[:600]
    assert b"Received: from %s (unknown [127.0.0.1])" % helo.encode() in msg, msg[:400]
    log = pf.wait_log("%s: client=" % qid)
    assert "%s: client=unknown[127.0.0.1], sasl_method=XCLIENT, sasl_username=%s" % (
        qid, login) in log, [l for l in log.splitlines() if qid in l]
    return msg


def test_smtp_auth_plain_and_login_deliver_with_xclient(ctx):
    pf, au, mp, port = postfix_setup(ctx)
    markers = []
    for mech in ("PLAIN", "LOGIN"):
        for initial in (True, False):
            marker = "auth-%s-%s-%s" % (mech.lower(), initial, uniq())
            s = smtplib.SMTP("127.0.0.1", port, timeout=15)
            code, _ = s.ehlo("client.example")
            assert code == 250
            assert s.esmtp_features.get("auth", "").split() == ["PLAIN", "LOGIN"]
            s.user, s.password = "alice", "alicepw"
            code, resp = s.auth(mech, getattr(s, "auth_" + mech.lower()),
                                initial_response_ok=initial)
            assert (code, resp) == (235, b"2.0.0 OK"), (code, resp)
            assert s.sendmail("alice@example.org", ["bob@test.example"],
                              mail_text(marker)) == {}
            s.quit()
            markers.append(marker)
    for marker in markers:
        _check_xclient_delivery(pf, marker)
    au.assert_log_count(r'user="alice" protocol=smtp method=plain .*result=OK', 4,
                        after=au.sentinel())
    # each session's "proxied session done" comes after its "client logged in"
    mp.assert_log_count(r"client logged in", 4, after=r"proxied session done", after_count=4)


def test_smtp_cram_md5_with_smtplib_delivers(ctx):
    """smtplib prefers CRAM-MD5 when it is advertised; the example auth service checks
    the HMAC against the user's secret."""
    pf, au, mp, port = postfix_setup(ctx, smtp_auth=["plain", "login", "cram-md5"])
    marker = "cram-%s" % uniq()
    s = smtplib.SMTP("127.0.0.1", port, timeout=15)
    s.ehlo("client.example")
    assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN", "CRAM-MD5"]
    assert s.login("alice", "alicepw") == (235, b"2.0.0 OK")
    assert s.sendmail("alice@example.org", ["bob@test.example"], mail_text(marker)) == {}
    s.quit()
    _check_xclient_delivery(pf, marker)
    au.wait_log(r'user="alice" protocol=smtp method=cram-md5 .*result=OK')


def test_smtp_pipelined_commands_before_login_reach_the_backend(ctx):
    """What the client sent after AUTH in the same write is forwarded to the backend
    once the login is done, in order (nginx)."""
    fs, fa, mp, port = fake_setup(ctx)
    with connect(port) as c:
        c.send("EHLO client.example\r\nAUTH PLAIN %s\r\nMAIL FROM:<alice@example.org>\r\n"
               "RCPT TO:<bob@test.example>\r\n" % b64("\0alice\0alicepw"))
        assert reply(c).startswith(b"250-mx.proxy.test")
        assert reply(c) == b"235 2.0.0 OK\r\n"
        assert reply(c) == b"250 2.1.0 Ok\r\n"
        assert reply(c) == b"250 2.1.5 Ok\r\n"
    assert fs.lines()[-2:] == [b"MAIL FROM:<alice@example.org>\r\n",
                               b"RCPT TO:<bob@test.example>\r\n"], fs.lines()


def test_smtp_credentials_with_crlf_or_nul_refused(ctx):
    """Refused before they reach the auth service (README: a difference from nginx)."""
    fs, fa, mp, port = fake_setup(ctx)
    with connect(port) as c:
        for creds in ("\0ali\r\nce\0pw", "\0alice\0p\nw", "\0al\0ice\0pw"):
            c.cmd("AUTH PLAIN " + b64(creds))
            assert reply(c) == INVALID, creds
        c.cmd("AUTH LOGIN " + b64("ali\rce"))
        assert reply(c) == INVALID
    fa.sync()
    assert fa.requests == [], fa.requests
    assert fs.sessions == []          # no auth answer, no backend address to connect to


@timeout(60)
def test_smtp_3mb_message_relayed_intact(ctx):
    pf, au, mp, port = postfix_setup(ctx)
    marker = "big-%s" % uniq()
    body = b"".join(b"%06d %s\r\n" % (i, hashlib.sha256(b"%d" % i).hexdigest().encode())
                    for i in range(3 * 1024 * 1024 // 72))
    msg = ("From: alice@example.org\r\nTo: bob@test.example\r\nSubject: %s\r\n\r\n"
           % marker).encode() + body
    s = smtplib.SMTP("127.0.0.1", port, timeout=60)
    s.ehlo("client.example")
    s.login("alice", "alicepw")
    assert s.sendmail("alice@example.org", ["bob@test.example"], msg) == {}
    s.quit()
    got = pf.wait_for_message(marker, timeout=30)
    got_body = got.replace(b"\r\n", b"\n").split(b"\n\n", 1)[1]
    assert hashlib.sha256(got_body).hexdigest() == \
        hashlib.sha256(body.replace(b"\r\n", b"\n")).hexdigest(), \
        "%d vs %d bytes" % (len(got_body), len(body))


def test_smtp_swaks(ctx):
    pf, au, mp, port = postfix_setup(ctx)
    for mech in ("PLAIN", "LOGIN"):
        marker = "swaks-%s-%s" % (mech, uniq())
        r = subprocess.run(
            ["swaks", "--server", "127.0.0.1:%d" % port, "--auth", mech, "--auth-user",
             "alice", "--auth-password", "alicepw", "--to", "bob@test.example", "--from",
             "alice@example.org", "--ehlo", "client.example", "--header",
             "Subject: %s" % marker, "--timeout", "20"],
            capture_output=True, timeout=60)
        out = r.stdout.decode("utf-8", "replace")
        assert r.returncode == 0, out + r.stderr.decode()
        assert "<-  235 2.0.0 OK" in out, out
        assert re.search(r"<-  250 2\.0\.0 Ok: queued as \w+", out), out
        _check_xclient_delivery(pf, marker)
    # a wrong password: swaks reports the 535
    r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, "--auth", "PLAIN",
                        "--auth-user", "alice", "--auth-password", "wrong", "--to",
                        "bob@test.example", "--from", "alice@example.org", "--timeout", "20"],
                       capture_output=True, timeout=60)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode != 0 and "535 5.7.8 Invalid login or password" in out, out


def test_smtp_auth_none_relay_through_postfix(ctx):
    """smtp_auth none: MAIL and RCPT stand in for a login. The auth service sees
    Auth-Method none and the client's HELO, MAIL and RCPT lines; Postfix gets XCLIENT
    without LOGIN, then MAIL and RCPT replayed, and its RCPT reply goes to the client."""
    pf = ctx.postfix()
    fa = ctx.fake_auth(respond=ok_to(pf.smtp_port))
    mp = ctx.mailproxy(auth=fa, servers=[smtp_server(smtp_auth=["none"])])
    port = mp.ports["smtp"]
    marker = "none-%s" % uniq()
    with connect(port) as c:
        c.cmd("EHLO relay-client.example")
        assert reply(c) == b"250 mx.proxy.test\r\n", "no AUTH line with none only"
        c.cmd("MAIL FROM:<sender@example.org>")
        assert reply(c) == OK
        c.cmd("MAIL FROM:<other@example.org>")
        assert reply(c) == b"503 5.5.1 Bad sequence of commands\r\n"
        c.cmd("RSET")
        assert reply(c) == OK
        c.cmd("MAIL FROM:<sender@example.org>  BODY=8BITMIME")
        assert reply(c) == OK
        c.cmd("RCPT TO:<bob@test.example>")
        assert reply(c) == b"250 2.1.5 Ok\r\n", "Postfix's RCPT reply, relayed"
        c.cmd("RCPT TO:<carol@test.example>")           # now straight to Postfix
        assert reply(c) == b"250 2.1.5 Ok\r\n"
        c.cmd("DATA")
        assert reply(c).startswith(b"354 ")
        c.send(mail_text(marker, sender="sender@example.org") + ".\r\n")
        assert reply(c).startswith(b"250 2.0.0 Ok: queued as ")
        c.cmd("QUIT")
        assert reply(c).startswith(b"221 ")
    fa.sync()
    assert len(fa.requests) == 1
    req = fa.requests[0]
    h = dict(req.header_list)
    assert h["Auth-Method"] == "none" and h["Auth-User"] == "" and h["Auth-Pass"] == ""
    assert h["Auth-Protocol"] == "smtp" and h["Auth-Login-Attempt"] == "1"
    assert h["Client-IP"] == "127.0.0.1" and h["Client-Host"] == "[UNAVAILABLE]"
    assert h["Auth-SMTP-Helo"] == "relay-client.example"
    assert h["Auth-SMTP-From"] == "MAIL FROM:<sender@example.org>  BODY=8BITMIME", h
    assert h["Auth-SMTP-To"] == "RCPT TO:<bob@test.example>"
    msg = pf.wait_for_message(marker)
    proto, qid = queue_id(msg)
    assert proto == "ESMTP" and b"Authenticated sender" not in msg, msg[:600]
    assert b"Received: from relay-client.example (unknown [127.0.0.1])" in msg
    log = pf.wait_log("%s: client=" % qid)
    assert "%s: client=unknown[127.0.0.1]\n" % qid in log, \
        [l for l in log.splitlines() if qid in l]
    assert "to=<carol@test.example>" in pf.wait_log("to=<carol@test.example>")
    # smtplib as a relay client
    marker2 = "none-smtplib-%s" % uniq()
    s = smtplib.SMTP("127.0.0.1", port, timeout=15)
    assert s.sendmail("sender@example.org", ["bob@test.example"], mail_text(marker2)) == {}
    s.quit()
    pf.wait_for_message(marker2)
    assert fa.requests[-1].header("Auth-SMTP-From") == "mail FROM:<sender@example.org>"


def test_smtp_auth_none_rcpt_refused_by_backend_is_relayed(ctx):
    """The backend's reply to the replayed RCPT reaches the client whatever it says,
    and from then on Postfix answers."""
    pf = ctx.postfix()
    fa = ctx.fake_auth(respond=ok_to(pf.smtp_port))
    mp = ctx.mailproxy(auth=fa, servers=[smtp_server(smtp_auth=["none"])])
    with connect(mp.ports["smtp"]) as c:
        c.cmd("HELO relay-client.example")
        assert reply(c) == b"250 mx.proxy.test\r\n"
        c.cmd("MAIL FROM:<sender@example.org>")
        assert reply(c) == OK
        c.cmd("RCPT TO:<bad address>")
        line = reply(c)
        assert line.startswith(b"501 5.1.3 ") and b"Bad recipient address syntax" in line, line
        c.cmd("VRFY bob@test.example")                 # Postfix's answer, not the proxy's
        line = reply(c)
        assert line != INVALID and line[:1] in b"2345", line
        c.cmd("QUIT")
        assert reply(c).startswith(b"221 2.0.0 Bye")
    req = fa.requests[0]
    assert req.header("Auth-SMTP-Helo") == "relay-client.example"
    assert req.header("Auth-SMTP-To") == "RCPT TO:<bad address>"


# ------------------------------------------------------------ proxy_smtp_auth

def test_smtp_proxy_smtp_auth_sends_auth_plain(ctx):
    """proxy_smtp_auth on: XCLIENT without LOGIN, then AUTH PLAIN with the login and
    password the auth service returns (Auth-User/Auth-Pass) or the client's."""
    def respond(req):
        hdrs = [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                ("Auth-Port", str(srv.port))]
        if req.user == "carol":
            hdrs += [("Auth-User", "backend-carol"), ("Auth-Pass", "backend pw")]
        return hdrs

    fs, srv = start_fake_smtp(ctx)
    fa = ctx.fake_auth(respond=respond)
    mp = ctx.mailproxy(auth=fa, servers=[smtp_server(proxy_smtp_auth=True)])
    port = mp.ports["smtp"]
    for user, pw, be_user, be_pw in (("alice", "alicepw", "alice", "alicepw"),
                                     ("carol", "carolpw", "backend-carol", "backend pw")):
        with connect(port) as c:
            c.cmd("EHLO client.example")
            reply(c)
            c.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (user, pw)))
            assert reply(c) == b"235 2.0.0 OK\r\n"
            c.cmd("MAIL FROM:<x@example.org>")
            assert reply(c) == b"250 2.1.0 Ok\r\n", "relayed to the backend after login"
        assert fs.lines() == [
            b"XCLIENT PROTO=ESMTP HELO=client.example ADDR=127.0.0.1 NAME=[UNAVAILABLE]\r\n",
            b"EHLO client.example\r\n",
            ("AUTH PLAIN %s\r\n" % b64("\0%s\0%s" % (be_user, be_pw))).encode(),
            b"MAIL FROM:<x@example.org>\r\n"], fs.lines()


def test_smtp_proxy_smtp_auth_against_postfix_without_sasl(ctx):
    """The harness Postfix has no SASL: it refuses the AUTH PLAIN ("503 5.5.1 Error:
    authentication not enabled"); the client gets the internal error, or Postfix's
    line with proxy_pass_error_message on."""
    pf = ctx.postfix()
    au = ctx.auth_service(postfix=pf)
    mp = ctx.mailproxy(auth=au, servers=[
        smtp_server(proxy_smtp_auth=True),
        smtp_server(proxy_smtp_auth=True, proxy_pass_error_message=True)])
    for port, want in ((mp.listens[0][1], SMTP_INTERNAL),
                       (mp.listens[1][1], b"503 5.5.1 Error: authentication not enabled\r\n")):
        with connect(port) as c:
            c.cmd("EHLO client.example")
            reply(c)
            c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
            assert c.readline(timeout=15) == want
            assert closed_after(c) == b""
    mp.wait_log(r"upstream refused the login: \"503 5\.5\.1 Error: authentication not enabled\"")


def test_smtp_proxy_smtp_auth_without_password_is_internal_error(ctx):
    """proxy_smtp_auth on and a login with no password for the backend (AUTH EXTERNAL,
    the auth service sends no Auth-Pass): nginx logs "no password available" (error)
    and gives the client its internal error instead of AUTH to the backend; with an
    Auth-Pass the login goes on with AUTH PLAIN."""
    def respond(req):
        hdrs = [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                ("Auth-Port", str(srv.port))]
        if req.user == "carol":
            hdrs.append(("Auth-Pass", "carol backend pw"))
        return hdrs

    fs, srv = start_fake_smtp(ctx)
    fa = ctx.fake_auth(respond=respond)
    mp = ctx.mailproxy(auth=fa, servers=[smtp_server(proxy_smtp_auth=True,
                                                     smtp_auth=["plain", "external"])])
    with connect(mp.ports["smtp"]) as c:
        c.cmd("EHLO client.example")
        reply(c)
        c.cmd("AUTH EXTERNAL " + b64("alice"))
        assert c.readline(timeout=15) == SMTP_INTERNAL
        assert closed_after(c) == b""
    assert fa.requests[-1].header("Auth-Method") == "external"
    mp.wait_log(r"\[error\] .*no password available, client: 127\.0\.0\.1, "
                r"server: [^,]+, login: \"alice\", upstream: 127\.0\.0\.1:%d" % srv.port)
    fs.wait_closed()                    # the backend session is over: all its lines are in
    assert not any(l.startswith(b"AUTH") for l in fs.lines()), fs.lines()
    with connect(mp.ports["smtp"]) as c:
        c.cmd("EHLO client.example")
        reply(c)
        c.cmd("AUTH EXTERNAL " + b64("carol"))
        assert reply(c) == b"235 2.0.0 OK\r\n"
    assert fs.wait_line(b"AUTH PLAIN ") == \
        ("AUTH PLAIN %s\r\n" % b64("\0carol\0carol backend pw")).encode()


# ------------------------------------------------------------ the XCLIENT line

def test_smtp_xclient_exact_lines(ctx):
    def respond(req):
        hdrs = [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                ("Auth-Port", str(srv.port))]
        if req.user == "renamed":
            hdrs.append(("Auth-User", "real-user@example.org"))
        return hdrs

    fs, srv = start_fake_smtp(ctx)
    fa = ctx.fake_auth(respond=respond)
    mp = ctx.mailproxy(auth=fa, servers=[
        smtp_server(), smtp_server(listen=["[::1]:%d" % free_port()])])
    port, port6 = mp.listens[0][1], mp.listens[1][1]

    def session(greet, user, source=None, p=port, host="127.0.0.1"):
        c = LineClient(p, host=host, source=source)
        with c:
            assert c.readline() == GREETING
            if greet:
                c.cmd(greet)
                reply(c)
            c.cmd("AUTH PLAIN " + b64("\0%s\0pw" % user))
            assert reply(c) == b"235 2.0.0 OK\r\n"
            c.cmd("QUIT")
            assert reply(c) == b"221 2.0.0 Bye\r\n"
        return fs.lines()

    # XCLIENT right after the greeting (the backend takes it there: see test_backend_facts)
    assert session("EHLO client.example", "alice") == [
        b"XCLIENT PROTO=ESMTP HELO=client.example ADDR=127.0.0.1 LOGIN=alice "
           b"NAME=[UNAVAILABLE]\r\n", b"EHLO client.example\r\n", b"QUIT\r\n"]
    assert session("HELO old.example", "alice") == [
        b"XCLIENT PROTO=SMTP HELO=old.example ADDR=127.0.0.1 LOGIN=alice "
           b"NAME=[UNAVAILABLE]\r\n", b"HELO old.example\r\n", b"QUIT\r\n"]
    # no HELO from the client: no HELO= and the proxy's own name afterwards
    assert session(None, "alice") == [
        b"XCLIENT PROTO=ESMTP ADDR=127.0.0.1 LOGIN=alice NAME=[UNAVAILABLE]\r\n",
        b"EHLO mx.proxy.test\r\n", b"QUIT\r\n"]
    # xtext: '+', '=' and space in the login (and in the HELO name)
    assert session("EHLO a=b+c", "a+b=c d") == [
        b"XCLIENT PROTO=ESMTP HELO=a+3Db+2Bc ADDR=127.0.0.1 LOGIN=a+2Bb+3Dc+20d "
           b"NAME=[UNAVAILABLE]\r\n", b"EHLO a=b+c\r\n", b"QUIT\r\n"]
    # Auth-User from the auth service is the login the backend sees
    assert session("EHLO client.example", "renamed")[0] == \
        b"XCLIENT PROTO=ESMTP HELO=client.example ADDR=127.0.0.1 " \
        b"LOGIN=real-user@example.org NAME=[UNAVAILABLE]\r\n"
    # another loopback address, and IPv6
    assert session("EHLO client.example", "alice", source=("127.0.0.2", 0))[0] == \
        b"XCLIENT PROTO=ESMTP HELO=client.example ADDR=127.0.0.2 LOGIN=alice " \
        b"NAME=[UNAVAILABLE]\r\n"
    assert fa.requests[-1].header("Client-IP") == "127.0.0.2"
    assert session("EHLO client.example", "alice", p=port6, host="::1")[0] == \
        b"XCLIENT PROTO=ESMTP HELO=client.example ADDR=IPV6:::1 LOGIN=alice " \
        b"NAME=[UNAVAILABLE]\r\n"
    assert fa.requests[-1].header("Client-IP") == "::1"
    # the auth service got the client's name of the host: unavailable without resolver
    assert {r.header("Client-Host") for r in fa.requests} == {"[UNAVAILABLE]"}


def test_smtp_backend_replies_in_single_bytes(ctx):
    """Every backend reply arrives one byte per segment (multi-line EHLO included):
    the login goes through all the same."""
    fs, srv = start_fake_smtp(ctx, drip=True)
    fa = ctx.fake_auth(respond=ok_to(srv.port))
    mp = ctx.mailproxy(auth=fa, servers=[smtp_server()])
    with connect(mp.ports["smtp"], timeout=20) as c:
        c.cmd("EHLO client.example")
        reply(c)
        c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
        assert reply(c) == b"235 2.0.0 OK\r\n"
        c.cmd("MAIL FROM:<alice@example.org>")
        assert reply(c) == b"250 2.1.0 Ok\r\n"
    assert fs.lines()[:2] == [
        b"XCLIENT PROTO=ESMTP HELO=client.example ADDR=127.0.0.1 LOGIN=alice "
        b"NAME=[UNAVAILABLE]\r\n", b"EHLO client.example\r\n"]


def test_smtp_xclient_off_sends_the_clients_helo(ctx):
    fs, fa, mp, port = fake_setup(ctx, xclient=False)

    def session(greet):
        with connect(port) as c:
            if greet:
                c.cmd(greet)
                reply(c)
            c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
            assert reply(c) == b"235 2.0.0 OK\r\n"
            c.cmd("MAIL FROM:<alice@example.org>")
            assert reply(c) == b"250 2.1.0 Ok\r\n"
        return fs.lines()

    assert session("EHLO client.example") == [b"EHLO client.example\r\n",
                                              b"MAIL FROM:<alice@example.org>\r\n"]
    assert session("HELO old.example") == [b"HELO old.example\r\n",
                                           b"MAIL FROM:<alice@example.org>\r\n"]
    assert session(None) == [b"EHLO mx.proxy.test\r\n", b"MAIL FROM:<alice@example.org>\r\n"]
    assert not any(l.startswith(b"XCLIENT") for s in fs.sessions for l in s)


def test_smtp_xclient_off_against_postfix(ctx):
    """Without XCLIENT Postfix sees the proxy, not the client, and no login."""
    pf, au, mp, port = postfix_setup(ctx, xclient=False)
    marker = "noxclient-%s" % uniq()
    s = smtplib.SMTP("127.0.0.1", port, timeout=15)
    s.ehlo("client.example")
    s.login("alice", "alicepw")
    assert s.sendmail("alice@example.org", ["bob@test.example"], mail_text(marker)) == {}
    s.quit()
    msg = pf.wait_for_message(marker)
    proto, qid = queue_id(msg)
    assert proto == "ESMTP" and b"Authenticated sender" not in msg
    assert b"Received: from client.example (unknown [127.0.0.1])" in msg, msg[:400]
    assert "%s: client=unknown[127.0.0.1]\n" % qid in pf.wait_log("%s: client=" % qid)
