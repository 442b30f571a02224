"""IMAP through the proxy, up to and including login: nginx's exact pre-login dialogue,
LOGIN in every string form, AUTHENTICATE PLAIN/LOGIN/CRAM-MD5, Auth-Wait on a wrong
password, ID (and its forwarding to Dovecot), pipelining and STARTTLS.

Real clients (imaplib, curl, raw LineClient dialogues) against the built mailproxy,
the example auth service and Debian's Dovecot, all on loopback.
See test_imap_faults.py (failures, vanishing clients, leaks) and test_imap_relay.py
(after login: SELECT/FETCH/APPEND/IDLE, a 20 MB message, curl)."""

import imaplib
import re
import time

from harness import LineClient, client_tls_context, timeout, wait_until
from imap_support import (CAPS, b64, connect, cram_md5_answer, gen_cert, imap,
                          closed_after, nothing_arrives, proxy, tagged, uniq)


def _setup(ctx, **server_kw):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    return dv, au, proxy(ctx, au, **server_kw)


# ------------------------------------------------------------ the pre-login dialogue

def test_imap_greeting_capability_noop_logout(ctx):
    _, au, mp = _setup(ctx)
    with connect(mp.ports["imap"]) as c:
        c.cmd("a1 CAPABILITY")
        assert c.readline() == CAPS + b" AUTH=PLAIN\r\n"
        assert c.readline() == b"a1 OK completed\r\n"
        c.cmd("a2 NOOP")
        assert c.readline() == b"a2 OK completed\r\n"
        c.cmd("a3 capability")                      # commands are case-insensitive
        assert c.readline().startswith(CAPS)
        assert c.readline() == b"a3 OK completed\r\n"
        c.cmd("a4 LOGOUT")
        assert c.readline() == b"* BYE\r\n"
        assert c.readline() == b"a4 OK completed\r\n"
        assert closed_after(c) == b""
    # no login, no auth request (the sentinel's line proves the log is complete)
    au.assert_not_logged(r"protocol=imap", after=au.sentinel())


def test_imap_invalid_commands_and_max_errors(ctx):
    _, au, mp = _setup(ctx)
    port = mp.ports["imap"]
    with connect(port) as c:
        # Everything but CAPABILITY/NOOP/LOGOUT/STARTTLS/LOGIN/AUTHENTICATE/ID is BAD
        # before login; the 5th invalid command (max_errors default 5) closes.
        for i, cmd in enumerate(["SELECT INBOX", "FETCH 1 BODY[]", "ENABLE UTF8=ACCEPT",
                                 'LIST "" *', "FOO"], 1):
            c.cmd("e%d %s" % (i, cmd))
            assert c.readline() == b"e%d BAD invalid command\r\n" % i
        assert closed_after(c) == b""
    mp.wait_log(r"client sent too many invalid commands")
    # A valid command in between does not reset the count, and it is per connection.
    with connect(port) as c:
        c.cmd("x1 NOOP")
        assert c.readline() == b"x1 OK completed\r\n"
        c.cmd("x2 BOGUS")
        assert c.readline() == b"x2 BAD invalid command\r\n"
    # max_errors is configurable.
    mp2 = proxy(ctx, au, max_errors=2)
    with connect(mp2.ports["imap"]) as c:
        c.cmd("y1 BOGUS")
        assert c.readline() == b"y1 BAD invalid command\r\n"
        c.cmd("y2 BOGUS")
        assert c.readline() == b"y2 BAD invalid command\r\n"
        assert closed_after(c) == b""


def test_imap_too_long_command_closes(ctx):
    """A line longer than imap_client_buffer (4k): BAD, logged, closed (nginx logs
    "client sent too long command").

    KNOWN PRODUCT BUG (fails until fixed): worker/proto/imap.c imap_input() sets
    ctx->reason = "client sent too long command" and then calls invalid(ctx, NULL),
    which overwrites the reason with NULL, so nothing is logged."""
    _, au, mp = _setup(ctx)
    with connect(mp.ports["imap"]) as c:
        c.send(b"t1 LOGIN alice " + b"x" * 6000 + b"\r\n")
        assert c.readline() == b"t1 BAD invalid command\r\n"
        assert closed_after(c) == b""
    mp.wait_log(r"client sent too long command")
    au.assert_not_logged(r"protocol=imap", after=au.sentinel())


@timeout(30)
def test_imap_idle_client_timed_out_before_login(ctx):
    """`timeout` bounds the pre-login dialogue; nginx closes without a word."""
    _, _, mp = _setup(ctx, timeout="1s")
    with connect(mp.ports["imap"]) as c:
        t0 = time.monotonic()
        assert closed_after(c, timeout=10) == b""
        assert time.monotonic() - t0 >= 0.9
    mp.wait_log(r"client timed out")


def test_imap_pipelined_commands_before_login_answered_in_order(ctx):
    _, _, mp = _setup(ctx)
    with connect(mp.ports["imap"]) as c:
        c.send(b"p1 CAPABILITY\r\np2 NOOP\r\np3 WHAT\r\np4 ID NIL\r\np5 NOOP\r\np6 LOGOUT\r\n")
        want = [CAPS + b" AUTH=PLAIN\r\n", b"p1 OK completed\r\n", b"p2 OK completed\r\n",
                b"p3 BAD invalid command\r\n", b"* ID NIL\r\n", b"p4 OK completed\r\n",
                b"p5 OK completed\r\n", b"* BYE\r\n", b"p6 OK completed\r\n"]
        got = [c.readline() for _ in want]
        assert got == want
        assert closed_after(c) == b""


def test_imap_pipelined_after_login_run_by_backend(ctx):
    _, _, mp = _setup(ctx)
    with connect(mp.ports["imap"]) as c:
        c.send(b"a LOGIN alice alicepw\r\nb SELECT INBOX\r\nc NOOP\r\nd LOGOUT\r\n")
        _, a = tagged(c, "a")
        assert a.startswith(b"a OK") and b"Logged in" in a, a
        untagged, b = tagged(c, "b")
        assert b.startswith(b"b OK [READ-WRITE]"), b
        assert any(re.match(rb"\* \d+ EXISTS", l) for l in untagged), untagged
        _, cc = tagged(c, "c")
        assert cc.startswith(b"c OK"), cc
        untagged, d = tagged(c, "d")
        assert untagged == [b"* BYE Logging out\r\n"] and d.startswith(b"d OK Logout"), d
        assert closed_after(c) == b""


def test_imap_id_answered_before_login(ctx):
    """nginx answers ID with BAD (Mailu #2938); mailproxy answers * ID NIL + OK."""
    _, _, mp = _setup(ctx)
    with connect(mp.ports["imap"]) as c:
        c.cmd('i1 ID ("name" "Thunderbird" "version" "115.0")')
        assert c.readline() == b"* ID NIL\r\n"
        assert c.readline() == b"i1 OK completed\r\n"
        c.cmd("i2 ID NIL")
        assert c.readline() == b"* ID NIL\r\n"
        assert c.readline() == b"i2 OK completed\r\n"
        c.cmd("i3 ID (\"odd\")")                       # an odd number of fields
        assert c.readline() == b"i3 BAD invalid command\r\n"
        c.cmd("i4 LOGIN alice alicepw")
        _, ok = tagged(c, "i4")
        assert ok.startswith(b"i4 OK"), ok
    # imaplib too (it does not know ID: register it as the reference notes say).
    imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))
    m = imap(mp.ports["imap"])
    typ, data = m._simple_command("ID", '("name" "imaplib")')
    assert typ == "OK", (typ, data)
    assert m.login("alice", "alicepw")[0] == "OK"
    m.logout()


def _dovecot_login_line(dv, offset, needle):
    """The first Dovecot 'Login:' line after offset containing needle (bounded wait)."""
    return dv.wait_log(_login_rx(needle), since=offset).group(0)


def _login_rx(needle):
    return r"(?m)^.*imap-login: Info: Login: .*%s.*$" % re.escape(needle)


def test_imap_id_forward_gives_dovecot_the_client_address(ctx):
    """With imap_id_forward on, the proxy sends ID with x-originating-ip/port (the
    harness's Dovecot trusts 127.0.0.0/8), so Dovecot logs the client's address as rip,
    not the proxy's; a client cannot spoof x-originating-ip itself; its other ID
    fields (x-session-id) are passed on. Without it Dovecot sees the proxy."""
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    mp = proxy(ctx, au, servers=[{"protocol": "imap", "imap_id_forward": True},
                                 {"protocol": "imap"}])
    fwd_port = mp.listens[0][1]
    plain_port = mp.listens[1][1]
    sess = "mpx" + uniq()

    off = dv.log_mark()
    with connect(fwd_port, source=("127.0.0.2", 0)) as c:
        c.cmd('i ID ("name" "t" "x-originating-ip" "192.0.2.66" "x-session-id" "%s")' % sess)
        assert c.readline() == b"* ID NIL\r\n"
        assert c.readline() == b"i OK completed\r\n"
        c.cmd("l LOGIN alice alicepw")
        _, ok = tagged(c, "l")
        assert ok.startswith(b"l OK"), ok
        c.cmd("o LOGOUT")
        tagged(c, "o")
    line = _dovecot_login_line(dv, off, "session=<%s>" % sess)
    assert "user=<alice>" in line, "client ID fields are forwarded: %s" % line
    assert "rip=127.0.0.2," in line, "the client's address reaches Dovecot: %s" % line
    # a client-sent x-originating-ip must not win (it would be in that login line)
    dv.assert_not_logged(r"192\.0\.2\.66", after=_login_rx("session=<%s>" % sess), since=off)

    off = dv.log_mark()
    with connect(plain_port, source=("127.0.0.3", 0)) as c:
        c.cmd('i ID ("x-session-id" "%s")' % (sess + "b"))
        c.read_until("i OK")
        c.cmd("l LOGIN bob bobpw")
        _, ok = tagged(c, "l")
        assert ok.startswith(b"l OK"), ok
        c.cmd("s SELECT INBOX")
        tagged(c, "s")
    # nothing is forwarded without imap_id_forward (it would be in bob's login line)
    for forwarded in ("rip=127.0.0.3", sess + "b"):
        dv.assert_not_logged(re.escape(forwarded), after=_login_rx("user=<bob>"), since=off)


# ------------------------------------------------------------ LOGIN in every form

QUSER = "carol"
QPASS = 'p w"x\\y'           # needs a quoted string: space, " and \


@timeout(60)
def test_imap_login_atom_quoted_and_literals(ctx):
    """LOGIN with atoms, a quoted string with \\" and \\\\ escapes, a synchronizing
    literal {n} (answered with "+ OK") and a non-synchronizing literal {n+}."""
    dv = ctx.dovecot(users={"alice": "alicepw", QUSER: QPASS})
    au = ctx.auth_service(dovecot=dv, users={"alice": "alicepw", QUSER: QPASS})
    mp = proxy(ctx, au)
    port = mp.ports["imap"]

    def logged_in(c, tag):
        _, ok = tagged(c, tag)
        assert ok.startswith(tag.encode() + b" OK") and b"Logged in" in ok, ok
        c.cmd("s SELECT INBOX")
        _, ok = tagged(c, "s")
        assert ok.startswith(b"s OK [READ-WRITE]"), ok
        c.cmd("z LOGOUT")
        tagged(c, "z")

    # atom
    with connect(port) as c:
        c.cmd("a1 LOGIN alice alicepw")
        logged_in(c, "a1")
    # quoted, with escapes, by hand...
    quoted = '"' + QPASS.replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert quoted == r'"p w\"x\\y"'
    with connect(port) as c:
        c.cmd('a2 LOGIN "%s" %s' % (QUSER, quoted))
        logged_in(c, "a2")
    # ... and by imaplib (which always quotes)
    m = imap(port)
    typ, data = m.login(QUSER, QPASS)
    assert typ == "OK", data
    assert m.select("INBOX")[0] == "OK"
    m.logout()
    # synchronizing literals: the proxy asks for each with "+ OK"
    pw = QPASS.encode()
    with connect(port) as c:
        c.cmd("a3 LOGIN {%d}" % len(QUSER))
        assert c.readline() == b"+ OK\r\n"
        c.send(QUSER.encode() + b" {%d}\r\n" % len(pw))
        assert c.readline() == b"+ OK\r\n"
        c.send(pw + b"\r\n")
        logged_in(c, "a3")
    # non-synchronizing literals (LITERAL+): one write, no continuation requests
    with connect(port) as c:
        c.send(b"a4 LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(QUSER), QUSER.encode(),
                                                         len(pw), pw))
        lines, ok = tagged(c, "a4")
        assert not any(l.startswith(b"+") for l in lines), lines
        assert ok.startswith(b"a4 OK") and b"Logged in" in ok, ok
    # the auth service saw the password exactly (it verified it against its hash)
    carol = re.escape('user="%s" protocol=imap method=plain' % QUSER)
    au.wait_log(carol, count=4)
    au.assert_not_logged(r"result=fail", after=carol, after_count=4)
    dv.wait_log(re.escape("Login: user=<%s>" % QUSER), count=4)


def test_imap_auth_service_maps_login_and_password(ctx):
    """Auth-User / Auth-Pass from the service replace what the client typed for the
    backend login (nginx: Auth-User overrides the login sent to the backend)."""
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv, users={
        "alias": {"password": "aliaspw", "login": "alice", "passwd": "alicepw"}})
    mp = proxy(ctx, au, imap_id_forward=True)
    off = dv.log_mark()
    with connect(mp.ports["imap"], source=("127.0.0.4", 0)) as c:
        c.cmd("a LOGIN alias aliaspw")
        assert tagged(c, "a")[1].startswith(b"a OK")
        c.cmd("b SELECT INBOX")
        assert tagged(c, "b")[1].startswith(b"b OK")
    line = _dovecot_login_line(dv, off, "rip=127.0.0.4,")
    assert "user=<alice>" in line, line
    # the proxy logs the client's login name
    mp.wait_log(r'client logged in.*login: "alias"')


# ------------------------------------------------------------ AUTHENTICATE

def test_imap_authenticate_plain_with_and_without_initial_response(ctx):
    _, au, mp = _setup(ctx)
    port = mp.ports["imap"]
    ir = b64("\0alice\0alicepw")
    with connect(port) as c:                         # SASL-IR
        c.cmd("a AUTHENTICATE PLAIN " + ir)
        lines, ok = tagged(c, "a")
        assert ok.startswith(b"a OK") and b"Logged in" in ok, (lines, ok)
        assert not any(l.startswith(b"+") for l in lines)
        c.cmd("n NOOP")
        assert tagged(c, "n")[1].startswith(b"n OK")
    with connect(port) as c:                         # continuation
        c.cmd("b AUTHENTICATE PLAIN")
        assert c.readline() == b"+ \r\n"
        c.cmd(b64("authz\0bob\0bobpw"))             # authzid ignored, as nginx does
        _, ok = tagged(c, "b")
        assert ok.startswith(b"b OK") and b"Logged in" in ok, ok
    with connect(port) as c:                         # not base64: BAD, still usable
        c.cmd("c AUTHENTICATE PLAIN")
        assert c.readline() == b"+ \r\n"
        c.cmd("!!!not-base64!!!")
        assert c.readline() == b"c BAD invalid command\r\n"
        c.cmd("d NOOP")
        assert c.readline() == b"d OK completed\r\n"
    # imaplib's authenticate() (no SASL-IR)
    m = imap(port)
    assert m.authenticate("PLAIN", lambda _: b"\0alice\0alicepw")[0] == "OK"
    m.logout()
    au.wait_log(r'user="bob" protocol=imap method=plain')


def test_imap_authenticate_login(ctx):
    _, au, mp = _setup(ctx)
    with connect(mp.ports["imap"]) as c:
        c.cmd("a AUTHENTICATE LOGIN")
        assert c.readline() == b"+ VXNlcm5hbWU6\r\n"        # "Username:"
        c.cmd(b64("alice"))
        assert c.readline() == b"+ UGFzc3dvcmQ6\r\n"        # "Password:"
        c.cmd(b64("alicepw"))
        _, ok = tagged(c, "a")
        assert ok.startswith(b"a OK") and b"Logged in" in ok, ok
    with connect(mp.ports["imap"]) as c:                # user as initial response
        c.cmd("b AUTHENTICATE LOGIN " + b64("bob"))
        assert c.readline() == b"+ UGFzc3dvcmQ6\r\n"
        c.cmd(b64("bobpw"))
        _, ok = tagged(c, "b")
        assert ok.startswith(b"b OK"), ok


def test_imap_authenticate_cram_md5(ctx):
    """imap_auth [plain, cram-md5]: advertised; the challenge is nginx's
    <random.time@server_name>; the client's HMAC-MD5 is checked by the auth service
    with the cleartext secret, which comes back as Auth-Pass for the Dovecot login."""
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    mp = proxy(ctx, au, imap_auth=["plain", "cram-md5"])
    port = mp.ports["imap"]
    with connect(port) as c:
        c.cmd("c CAPABILITY")
        assert c.readline() == CAPS + b" AUTH=PLAIN AUTH=CRAM-MD5\r\n"
        assert c.readline() == b"c OK completed\r\n"
        c.cmd("a AUTHENTICATE CRAM-MD5")
        answer, challenge = cram_md5_answer("alice", "alicepw", c.readline())
        assert re.match(rb"^<[^<>@\s]+@[^<>\s]+>$", challenge), challenge
        c.send(answer + b"\r\n")
        _, ok = tagged(c, "a")
        assert ok.startswith(b"a OK") and b"Logged in" in ok, ok
        c.cmd("s SELECT INBOX")
        assert tagged(c, "s")[1].startswith(b"s OK")
    au.wait_log(r'user="alice" protocol=imap method=cram-md5 .* result=OK')
    # A wrong digest is refused by the auth service.
    with connect(port) as c:
        c.cmd("b AUTHENTICATE CRAM-MD5")
        answer, _ = cram_md5_answer("alice", "wrong", c.readline())
        c.send(answer + b"\r\n")
        _, no = tagged(c, "b")
        assert no == b"b NO Invalid login or password\r\n", no
    # imaplib's login_cram_md5 works through the proxy too.
    m = imap(port)
    assert m.login_cram_md5("bob", "bobpw")[0] == "OK"
    assert m.select("INBOX")[0] == "OK"
    m.logout()


def test_imap_cram_md5_refused_unless_enabled(ctx):
    _, _, mp = _setup(ctx)
    with connect(mp.ports["imap"]) as c:
        c.cmd("a AUTHENTICATE CRAM-MD5")
        assert c.readline() == b"a BAD invalid command\r\n"
        # PLAIN and LOGIN are always accepted, even when only one is advertised.
        c.cmd("b AUTHENTICATE LOGIN")
        assert c.readline() == b"+ VXNlcm5hbWU6\r\n"


# ------------------------------------------------------------ wrong passwords

@timeout(40)
def test_imap_wrong_password_waits_then_allows_retry(ctx):
    """Auth-Wait: 1 -> "<tag> NO Invalid login or password" after the wait, and the
    same connection can log in next (Auth-Login-Attempt: 2)."""
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv, wait=1)
    mp = proxy(ctx, au)
    with connect(mp.ports["imap"]) as c:
        t0 = time.monotonic()
        c.cmd("a LOGIN alice wrongpw")
        assert c.readline() == b"a NO Invalid login or password\r\n"
        waited = time.monotonic() - t0
        assert waited >= 0.9, "Auth-Wait: 1 must delay the answer (%.2fs)" % waited
        c.cmd("b LOGIN alice alicepw")
        _, ok = tagged(c, "b")
        assert ok.startswith(b"b OK") and b"Logged in" in ok, ok
        c.cmd("c SELECT INBOX")
        assert tagged(c, "c")[1].startswith(b"c OK")
    au.wait_log(r'user="alice" .*attempt=1 result=fail')
    au.wait_log(r'user="alice" .*attempt=2 result=OK')
    mp.wait_log(r'client login failed: "Invalid login or password"')
    # imaplib sees the NO as an error with the service's text.
    m = imap(mp.ports["imap"])
    try:
        m.login("alice", "nope")
        raise AssertionError("login with a wrong password succeeded")
    except imaplib.IMAP4.error as e:
        assert "Invalid login or password" in str(e)
    m.shutdown()


@timeout(40)
def test_imap_wrong_password_attempts_exhausted_closes(ctx):
    """Once the service stops sending Auth-Wait (max_attempts=1), NO and close."""
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv, wait=1, max_attempts=1)
    mp = proxy(ctx, au)
    with connect(mp.ports["imap"]) as c:
        c.cmd("a LOGIN alice wrong1")
        assert c.readline() == b"a NO Invalid login or password\r\n"
        c.cmd("b LOGIN alice wrong2")
        assert c.readline() == b"b NO Invalid login or password\r\n"
        assert closed_after(c) == b""
    t = time.monotonic()
    with connect(mp.ports["imap"]) as c:         # a new connection starts at attempt 1
        c.cmd("x LOGIN bob bad")
        assert c.readline() == b"x NO Invalid login or password\r\n"
        assert time.monotonic() - t >= 0.9
        c.cmd("y LOGIN bob bobpw")
        assert tagged(c, "y")[1].startswith(b"y OK")


def test_auth_wait_zero_answers_and_closes_as_nginx(ctx):
    """nginx treats "Auth-Wait: 0" as no wait at all: the error, then the close
    (ngx_mail_auth_http_module: a zero sleep sets s->quit). All three protocols."""
    fa = ctx.fake_auth(respond=lambda req: [("Auth-Status", "Invalid login or password"),
                                            ("Auth-Wait", "0")])
    mp = ctx.mailproxy(auth=fa, servers=[{"protocol": "imap"}, {"protocol": "pop3"},
                                         {"protocol": "smtp", "smtp_auth": ["plain"]}])
    with connect(mp.ports["imap"]) as c:
        c.cmd("a LOGIN alice wrong")
        assert c.readline() == b"a NO Invalid login or password\r\n"
        assert closed_after(c) == b""
    with LineClient(mp.ports["pop3"]) as c:
        assert c.readline().startswith(b"+OK")
        c.cmd("USER alice")
        assert c.readline() == b"+OK\r\n"
        c.cmd("PASS wrong")
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        assert c.closed(5.0) and c.buf == b""
    with LineClient(mp.ports["smtp"]) as c:
        assert c.readline().startswith(b"220 ")
        c.cmd("EHLO client.test")
        c.read_until(b"250 ")
        c.cmd("AUTH PLAIN " + b64("\0alice\0wrong"))
        assert c.readline() == b"535 5.7.0 Invalid login or password\r\n"
        assert c.closed(5.0) and c.buf == b""
    assert len(fa.requests) == 3


# ------------------------------------------------------------ STARTTLS

def _tls_server(ctx, mode):
    cert, key = gen_cert(ctx)
    return {"protocol": "imap", "starttls": mode, "ssl_certificate": cert,
            "ssl_certificate_key": key}


def test_imap_starttls_discards_pipelined_plaintext(ctx):
    """'a STARTTLS\\r\\nb CAPABILITY\\r\\n' in one write: b is plaintext injected before
    the handshake and must never be answered (CVE-2011-0411 class)."""
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    mp = proxy(ctx, au, servers=[_tls_server(ctx, "on")])
    port = mp.ports["imap"]
    with connect(port) as c:
        c.cmd("c CAPABILITY")
        assert c.readline() == CAPS + b" AUTH=PLAIN STARTTLS\r\n"
        assert c.readline() == b"c OK completed\r\n"
        c.send(b"a STARTTLS\r\nb CAPABILITY\r\n")
        assert c.readline() == b"a OK completed\r\n"
        c.starttls()                       # asserts nothing else came in plaintext
        assert nothing_arrives(c, 0.7), "pipelined plaintext answered after STARTTLS: %r" \
            % c.buf
        c.cmd("d CAPABILITY")                # after TLS: no STARTTLS, AUTH= listed
        assert c.readline() == CAPS + b" AUTH=PLAIN\r\n"
        assert c.readline() == b"d OK completed\r\n"
        c.cmd("e STARTTLS")                  # not twice
        assert c.readline() == b"e BAD invalid command\r\n"
        c.cmd("f LOGIN alice alicepw")
        assert tagged(c, "f")[1].startswith(b"f OK")
        c.cmd("g SELECT INBOX")
        assert tagged(c, "g")[1].startswith(b"g OK")
    # imaplib's starttls() through the proxy
    m = imap(port)
    assert m.starttls(ssl_context=client_tls_context())[0] == "OK"
    assert m.login("bob", "bobpw")[0] == "OK"
    m.logout()


def test_imap_starttls_only_refuses_login_before_tls(ctx):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    mp = proxy(ctx, au, servers=[_tls_server(ctx, "only")])
    with connect(mp.ports["imap"]) as c:
        c.cmd("c CAPABILITY")
        assert c.readline() == CAPS + b" STARTTLS LOGINDISABLED\r\n"
        assert c.readline() == b"c OK completed\r\n"
        c.cmd("a LOGIN alice alicepw")
        assert c.readline() == b"a BAD invalid command\r\n"
        c.cmd("b AUTHENTICATE PLAIN " + b64("\0alice\0alicepw"))
        assert c.readline() == b"b BAD invalid command\r\n"
        c.cmd("s STARTTLS")
        assert c.readline() == b"s OK completed\r\n"
        c.starttls()
        c.cmd("d CAPABILITY")
        assert c.readline() == CAPS + b" AUTH=PLAIN\r\n"
        assert c.readline() == b"d OK completed\r\n"
        c.cmd("e LOGIN alice alicepw")
        assert tagged(c, "e")[1].startswith(b"e OK")
    # nothing reached the auth service before TLS: one request, after it
    au.wait_log(r'user="alice" .*result=OK')
    au.assert_log_count(r"protocol=imap", 1, after=au.sentinel())
