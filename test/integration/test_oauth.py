"""OAUTHBEARER (RFC 7628) and XOAUTH2 through the proxy (#14 item 1), end to end: the
example auth service issues and validates HMAC-signed bearer tokens, mailproxy asks it
as freenginx does (Auth-Method oauthbearer|xoauth2, Auth-User the identity, Auth-Pass
the token), and logs in to a real Dovecot with the same mechanism and the token, which
Dovecot's oauth2 passdb checks at the service's introspection endpoint. Clients: raw
dialogues, curl --oauth2-bearer, msmtp."""

import base64
import json
import re

from harness import (TOKEN_KEY, LineClient, oauth_peers, oauthbearer, raw_b64, timeout,
                     xoauth2)

GREETING = b"* OK IMAP4 ready\r\n"
MECHS = ["plain", "oauthbearer", "xoauth2"]
SASL_ERROR = base64.b64encode(json.dumps(
    {"status": "invalid_token", "schemes": "bearer", "scope": "mail"},
    separators=(",", ":")).encode()).decode()


def _imap_proxy(ctx, au, **kw):
    srv = {"protocol": "imap", "imap_auth": MECHS,
           "imap_capabilities": ["IMAP4", "IMAP4rev1", "SASL-IR"]}
    srv.update(kw)
    return ctx.mailproxy(servers=[srv], auth=au)


def _imap(port):
    c = LineClient(port, timeout=10)
    assert c.readline() == GREETING
    return c


def _tagged(c, tag):
    lines = c.read_until(tag + " ")
    return lines[:-1], lines[-1]


# ------------------------------------------------------------------------- IMAP

def test_oauth_imap_capability_advertises_both(ctx):
    dv, au = oauth_peers(ctx)
    mp = _imap_proxy(ctx, au)
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a1 CAPABILITY")
        assert c.readline() == (b"* CAPABILITY IMAP4 IMAP4rev1 SASL-IR AUTH=PLAIN "
                                b"AUTH=OAUTHBEARER AUTH=XOAUTH2\r\n")
        assert c.readline() == b"a1 OK completed\r\n"


def test_oauth_imap_oauthbearer_initial_response_to_dovecot(ctx):
    dv, au = oauth_peers(ctx)
    mp = _imap_proxy(ctx, au)
    tok = au.token("bob")
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a1 AUTHENTICATE OAUTHBEARER " + oauthbearer("bob", tok))
        untagged, final = _tagged(c, "a1")
        assert final.startswith(b"a1 OK "), (untagged, final)
        c.cmd("a2 SELECT INBOX")
        _, final = _tagged(c, "a2")
        assert final.startswith(b"a2 OK ")
    # freenginx's request: method, identity, the token as the password
    au.wait_request(user="bob", protocol="imap", method="oauthbearer", result="OK")
    # Dovecot's oauth2 passdb checked the token at the introspection endpoint
    au.wait_log(r"introspect (POST|GET) result=active user=bob")
    dv.wait_log(r"imap-login: Info: Login: user=<bob>, method=OAUTHBEARER")


def test_oauth_imap_oauthbearer_continuation_and_xoauth2(ctx):
    """Without an initial response: the empty challenge "+ ", then the message.
    XOAUTH2 with and without one; Dovecot logs the mechanism the proxy used."""
    dv, au = oauth_peers(ctx)
    mp = _imap_proxy(ctx, au)
    tok = au.token("alice")
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a1 AUTHENTICATE OAUTHBEARER")
        assert c.readline() == b"+ \r\n"
        c.cmd(oauthbearer("alice", tok))
        _, final = _tagged(c, "a1")
        assert final.startswith(b"a1 OK ")
    with _imap(mp.ports["imap"]) as c:
        c.cmd("x1 AUTHENTICATE XOAUTH2 " + xoauth2("alice", tok))
        _, final = _tagged(c, "x1")
        assert final.startswith(b"x1 OK ")
    with _imap(mp.ports["imap"]) as c:
        c.cmd("x2 authenticate xoauth2")
        assert c.readline() == b"+ \r\n"
        c.cmd(xoauth2("alice", tok))
        _, final = _tagged(c, "x2")
        assert final.startswith(b"x2 OK ")
    au.wait_request(user="alice", protocol="imap", method="oauthbearer", result="OK")
    au.wait_request(user="alice", protocol="imap", method="xoauth2", result="OK", count=2)
    dv.wait_log(r"Info: Login: user=<alice>, method=OAUTHBEARER")
    dv.wait_log(r"Info: Login: user=<alice>, method=XOAUTH2", count=2)


def test_oauth_imap_gs2_escaped_identity(ctx):
    """a=a=3Dx=2Cy is the identity "a=x,y" in Auth-User (%-escaped as nginx does)."""
    fa = ctx.fake_auth()
    mp = ctx.mailproxy(servers=[{"protocol": "imap", "imap_auth": MECHS}],
                       mail={"auth_http": fa.url})
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a1 AUTHENTICATE OAUTHBEARER " + oauthbearer("a=x,y", "tok-en.1~+/="))
        c.readline()
    r = fa.wait_requests(1)[0]
    assert r.header("Auth-Method") == "oauthbearer"
    assert r.header("Auth-User") == "a=x,y"
    assert r.header("Auth-Pass") == "tok-en.1~+/="


def _refused_with_sasl_error(c, tag, dummy=b"AQ=="):
    """The Auth-Error-SASL challenge, the dummy response, then the tagged NO."""
    assert c.readline() == b"+ " + SASL_ERROR.encode() + b"\r\n"
    c.send(dummy + b"\r\n")
    assert c.readline() == tag.encode() + b" NO Invalid login or password\r\n"


def test_oauth_imap_expired_token_sasl_error_then_no(ctx):
    dv, au = oauth_peers(ctx)
    mp = _imap_proxy(ctx, au)
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a1 AUTHENTICATE OAUTHBEARER " + oauthbearer("bob", au.token("bob", ttl=-60)))
        _refused_with_sasl_error(c, "a1")
        assert c.closed()           # Auth-Wait 0: no retry, as nginx
    au.wait_request(user="bob", protocol="imap", method="oauthbearer", result="fail")
    mp.wait_log(r'client login failed: "Invalid login or password"')
    au.assert_not_logged(r"introspect", after=au.sentinel())   # never reached Dovecot


def test_oauth_imap_wrong_user_xoauth2_empty_dummy(ctx):
    """A token of bob's, presented as alice: refused; XOAUTH2's dummy is an empty line."""
    dv, au = oauth_peers(ctx)
    mp = _imap_proxy(ctx, au)
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a1 AUTHENTICATE XOAUTH2 " + xoauth2("alice", au.token("bob")))
        _refused_with_sasl_error(c, "a1", dummy=b"")
    au.wait_request(user="alice", protocol="imap", method="xoauth2", result="fail")
    with _imap(mp.ports["imap"]) as c:          # OAUTHBEARER, a=alice, bob's token
        c.cmd("a2 AUTHENTICATE OAUTHBEARER " + oauthbearer("alice", au.token("bob")))
        _refused_with_sasl_error(c, "a2")


def test_oauth_imap_sasl_error_wait_retry_cancel_and_bad_dummy(ctx):
    """With Auth-Wait the client may try again after the error, as freenginx lets it:
    "*" cancels as the dummy does; any other line is an invalid command; then a good
    token logs in on the same connection."""
    dv, au = oauth_peers(ctx, wait=1)
    mp = _imap_proxy(ctx, au)
    bad = oauthbearer("bob", au.token("bob", ttl=-1))
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a1 AUTHENTICATE OAUTHBEARER " + bad)
        _refused_with_sasl_error(c, "a1", dummy=b"*")
        c.cmd("a2 AUTHENTICATE OAUTHBEARER " + bad)
        assert c.readline() == b"+ " + SASL_ERROR.encode() + b"\r\n"
        c.cmd("foo")
        assert c.readline() == b"a2 BAD invalid command\r\n"
        c.cmd("a3 AUTHENTICATE OAUTHBEARER " + oauthbearer("bob", au.token("bob")))
        _, final = _tagged(c, "a3")
        assert final.startswith(b"a3 OK ")


def test_oauth_imap_malformed_messages_bad_no_auth_request(ctx):
    """Malformed GS2 header, no auth=, not "Bearer", channel binding, XOAUTH2 without
    user=, non-base64: BAD invalid command, logged, and the auth service is not asked."""
    fa = ctx.fake_auth()
    mp = ctx.mailproxy(servers=[{"protocol": "imap", "imap_auth": MECHS}],
                       mail={"auth_http": fa.url})
    cases = [
        ("OAUTHBEARER", raw_b64(b"x,a=bob,\x01auth=Bearer t\x01\x01")),       # flag
        ("OAUTHBEARER", raw_b64(b"n,a=bob\x01auth=Bearer t\x01\x01")),        # no ","
        ("OAUTHBEARER", raw_b64(b"n,a=b=4Fob,\x01auth=Bearer t\x01\x01")),    # bad escape
        ("OAUTHBEARER", raw_b64(b"p=tls-unique,a=bob,\x01auth=Bearer t\x01\x01")),
        ("OAUTHBEARER", raw_b64(b"n,a=bob,\x01host=x\x01\x01")),              # no auth=
        ("OAUTHBEARER", raw_b64(b"n,a=bob,\x01auth=Basic t\x01\x01")),
        ("OAUTHBEARER", raw_b64(b"n,a=bob,\x01auth=Bearer t\x01")),           # no end
        ("XOAUTH2", raw_b64(b"auth=Bearer t\x01\x01")),                       # no user=
        ("XOAUTH2", "not*base64"),
    ]
    with _imap(mp.ports["imap"]) as c:
        for i, (mech, ir) in enumerate(cases[:4], 1):
            c.cmd("m%d AUTHENTICATE %s %s" % (i, mech, ir))
            assert c.readline() == b"m%d BAD invalid command\r\n" % i
    with _imap(mp.ports["imap"]) as c:          # max_errors 5 closes after five
        for i, (mech, ir) in enumerate(cases[4:], 5):
            c.cmd("m%d AUTHENTICATE %s %s" % (i, mech, ir))
            assert c.readline() == b"m%d BAD invalid command\r\n" % i
    mp.wait_log(r"client sent invalid SASL data", count=8)
    mp.wait_log(r"client sent too many invalid commands")
    fa.sync()
    assert fa.requests == []


def test_oauth_imap_token_with_cr_lf_refused(ctx):
    fa = ctx.fake_auth()
    mp = ctx.mailproxy(servers=[{"protocol": "imap", "imap_auth": MECHS}],
                       mail={"auth_http": fa.url})
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a1 AUTHENTICATE OAUTHBEARER " + oauthbearer("bob", b"abc\r\nA1 LOGOUT"))
        assert c.readline() == b"a1 BAD invalid command\r\n"
        c.cmd("a2 AUTHENTICATE XOAUTH2")
        assert c.readline() == b"+ \r\n"
        c.cmd(xoauth2("bob", b"abc\ndef"))
        assert c.readline() == b"a2 BAD invalid command\r\n"
    mp.wait_log(r"client sent credentials with CR, LF or NUL", count=2)
    fa.sync()
    assert fa.requests == []


def test_oauth_imap_16k_token_fits_default_buffer(ctx):
    """A 16 KB token with imap_client_buffer at its default (4 KB): the client buffer of
    a server with an OAuth mechanism is 24 KB. The auth service gets all of it; here it
    answers with Auth-Pass, so the backend login is the usual LOGIN."""
    dv = ctx.dovecot()
    fa = ctx.fake_auth(lambda req: [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                                    ("Auth-Port", str(dv.imap_port)), ("Auth-Pass", "bobpw")])
    mp = ctx.mailproxy(servers=[{"protocol": "imap", "imap_auth": MECHS}],
                       mail={"auth_http": fa.url})
    tok = "T" * 16384
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a1 AUTHENTICATE OAUTHBEARER " + oauthbearer("bob", tok))
        _, final = _tagged(c, "a1")
        assert final.startswith(b"a1 OK "), final
    r = fa.wait_requests(1)[0]
    assert (r.header("Auth-Method"), r.user, r.password) == ("oauthbearer", "bob", tok)


def test_oauth_imap_6k_token_reaches_dovecot(ctx):
    """The token itself to Dovecot (no Auth-Pass). Dovecot 2.3 takes SASL responses up
    to 8 KB ("Authentication response too large" past that), so 6 KB here."""
    dv, au = oauth_peers(ctx)
    mp = _imap_proxy(ctx, au)
    tok = au.token("bob", scope="mail " + "x" * 4500)
    assert 6000 <= len(tok) <= 6200, len(tok)
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a1 AUTHENTICATE OAUTHBEARER " + oauthbearer("bob", tok))
        _, final = _tagged(c, "a1")
        assert final.startswith(b"a1 OK "), final
    au.wait_request(user="bob", protocol="imap", method="oauthbearer", result="OK")
    dv.wait_log(r"Info: Login: user=<bob>, method=OAUTHBEARER")


def test_oauth_imap_oversized_token_too_long_command(ctx):
    """A line past the 24 KB buffer: BAD, "client sent too long command", closed."""
    fa = ctx.fake_auth()
    mp = ctx.mailproxy(servers=[{"protocol": "imap", "imap_auth": MECHS}],
                       mail={"auth_http": fa.url})
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a1 AUTHENTICATE OAUTHBEARER " + oauthbearer("bob", "t" * 20000))
        assert c.readline() == b"a1 BAD invalid command\r\n"
        assert c.closed()
    mp.wait_log(r"client sent too long command")
    fa.sync()
    assert fa.requests == []
    assert mp.alive()


def test_oauth_imap_refused_token_counts_for_login_limits(ctx):
    """A refused OAuth login is a failed login for login_limit_*: the third from one
    address blocks it, and the auth service is not asked again."""
    dv, au = oauth_peers(ctx)
    mp = ctx.mailproxy(auth=au, servers=[{
        "protocol": "imap", "imap_auth": MECHS, "login_limit_zone": "shared:logins:1m",
        "login_limit_tarpit": "0s", "login_limit_addr": "1/m burst=2 block=10m"}])
    bad = oauthbearer("bob", au.token("bob", ttl=-60))
    for i in range(3):
        with _imap(mp.ports["imap"]) as c:
            c.cmd("a%d AUTHENTICATE OAUTHBEARER %s" % (i, bad))
            _refused_with_sasl_error(c, "a%d" % i)
    mp.wait_log(r"login limit: address 127\.0\.0\.1 over the limit")
    with _imap(mp.ports["imap"]) as c:
        c.cmd("b1 AUTHENTICATE OAUTHBEARER " + oauthbearer("bob", au.token("bob")))
        assert c.readline() == b"b1 NO [UNAVAILABLE] Temporary authentication failure\r\n"
    au.assert_log_count(r'user="bob" protocol=imap method=oauthbearer', 3,
                        after=au.sentinel())


def _curl(*args):
    import subprocess
    r = subprocess.run(["curl", "-sS", "--max-time", "20"] + list(args), capture_output=True,
                       timeout=30)
    return r.returncode, r.stdout, r.stderr


def test_oauth_imap_curl_oauthbearer_and_xoauth2(ctx):
    """curl --oauth2-bearer: OAUTHBEARER (with host= and port= pairs), and XOAUTH2
    where only that is offered; both list the mailboxes via Dovecot."""
    dv, au = oauth_peers(ctx)
    mp = _imap_proxy(ctx, au)
    url = "imap://127.0.0.1:%d/" % mp.ports["imap"]
    rc, out, err = _curl(url, "-u", "bob:", "--oauth2-bearer", au.token("bob"))
    assert rc == 0, err
    assert b"INBOX" in out
    # curl 7.88 takes OAUTHBEARER whenever it is offered, --login-options
    # AUTH=XOAUTH2 or not: a server offering only XOAUTH2 gets XOAUTH2.
    mp2 = _imap_proxy(ctx, au, imap_auth=["plain", "xoauth2"])
    rc, out, err = _curl("imap://127.0.0.1:%d/" % mp2.ports["imap"], "-u", "bob:",
                         "--oauth2-bearer", au.token("bob"), "--login-options", "AUTH=XOAUTH2")
    assert rc == 0, err
    assert b"INBOX" in out
    dv.wait_log(r"Info: Login: user=<bob>, method=OAUTHBEARER")
    dv.wait_log(r"Info: Login: user=<bob>, method=XOAUTH2")
    rc, out, err = _curl(url, "-u", "bob:", "--oauth2-bearer", au.token("bob", ttl=-5))
    assert rc == 67, (rc, err)          # CURLE_LOGIN_DENIED


# ------------------------------------------------------------------------- POP3

def _pop3_proxy(ctx, au, **kw):
    srv = {"protocol": "pop3", "pop3_auth": MECHS}
    srv.update(kw)
    return ctx.mailproxy(servers=[srv], auth=au)


def _pop3(port):
    c = LineClient(port, timeout=10)
    assert c.readline() == b"+OK POP3 ready\r\n"
    return c


def _multiline(c):
    return b"".join(c.read_until(b".\r\n"))


def test_oauth_pop3_capa_auth_list_and_logins_to_dovecot(ctx):
    """CAPA's SASL line and the AUTH list name both; OAUTHBEARER and XOAUTH2, with and
    without an initial response, log in to Dovecot with the token."""
    dv, au = oauth_peers(ctx)
    mp = _pop3_proxy(ctx, au)
    port = mp.ports["pop3"]
    tok = au.token("alice")
    with _pop3(port) as c:
        c.cmd("CAPA")
        assert _multiline(c) == (b"+OK Capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\n"
                                 b"SASL PLAIN LOGIN OAUTHBEARER XOAUTH2\r\n.\r\n")
        c.cmd("AUTH")
        assert _multiline(c) == (b"+OK methods supported:\r\nPLAIN\r\nLOGIN\r\n"
                                 b"OAUTHBEARER\r\nXOAUTH2\r\n.\r\n")
        c.cmd("AUTH OAUTHBEARER " + oauthbearer("alice", tok))
        assert c.readline().startswith(b"+OK")
        c.cmd("STAT")
        assert c.readline().startswith(b"+OK ")
    with _pop3(port) as c:
        c.cmd("AUTH OAUTHBEARER")
        assert c.readline() == b"+ \r\n"
        c.cmd(oauthbearer("alice", tok))
        assert c.readline().startswith(b"+OK")
    with _pop3(port) as c:
        c.cmd("AUTH XOAUTH2 " + xoauth2("alice", tok))
        assert c.readline().startswith(b"+OK")
    with _pop3(port) as c:
        c.cmd("AUTH XOAUTH2")
        assert c.readline() == b"+ \r\n"
        c.cmd(xoauth2("alice", tok))
        assert c.readline().startswith(b"+OK")
    dv.wait_log(r"pop3-login: Info: Login: user=<alice>, method=OAUTHBEARER", count=2)
    dv.wait_log(r"pop3-login: Info: Login: user=<alice>, method=XOAUTH2", count=2)
    au.wait_request(user="alice", protocol="pop3", method="xoauth2", result="OK", count=2)


def test_oauth_pop3_sasl_error_dummy_then_err(ctx):
    """Expired token: "+ <Auth-Error-SASL>", the dummy, then "-ERR <Auth-Status>"; with
    Auth-Wait the client may go on; a wrong dummy is an invalid command."""
    dv, au = oauth_peers(ctx, wait=1)
    mp = _pop3_proxy(ctx, au)
    bad = au.token("bob", ttl=-60)
    with _pop3(mp.ports["pop3"]) as c:
        c.cmd("AUTH OAUTHBEARER " + oauthbearer("bob", bad))
        assert c.readline() == b"+ " + SASL_ERROR.encode() + b"\r\n"
        c.cmd("AQ==")
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        c.cmd("AUTH XOAUTH2 " + xoauth2("bob", au.token("alice")))      # wrong user
        assert c.readline() == b"+ " + SASL_ERROR.encode() + b"\r\n"
        c.cmd("AQ==")                   # XOAUTH2's dummy is an empty line
        assert c.readline() == b"-ERR invalid command\r\n"
        c.cmd("AUTH OAUTHBEARER " + oauthbearer("bob", au.token("bob")))
        assert c.readline().startswith(b"+OK")
    au.wait_request(user="bob", protocol="pop3", method="xoauth2", result="fail")


def test_oauth_pop3_malformed_and_oversized(ctx):
    fa = ctx.fake_auth()
    mp = ctx.mailproxy(servers=[{"protocol": "pop3", "pop3_auth": MECHS}],
                       mail={"auth_http": fa.url})
    with _pop3(mp.ports["pop3"]) as c:
        c.cmd("AUTH OAUTHBEARER " + raw_b64(b"n,a=bob,auth=Bearer t\x01\x01"))
        assert c.readline() == b"-ERR invalid command\r\n"
        c.cmd("AUTH OAUTHBEARER " + oauthbearer("bob", b"a\rb"))
        assert c.readline() == b"-ERR invalid command\r\n"
        c.cmd("AUTH OAUTHBEARER " + oauthbearer("bob", "t" * 20000))
        assert c.readline() == b"-ERR invalid command\r\n"
        assert c.closed()
    mp.wait_log(r"client sent invalid SASL data")
    mp.wait_log(r"client sent credentials with CR, LF or NUL")
    mp.wait_log(r"client sent too long command")
    fa.sync()
    assert fa.requests == []


def test_oauth_pop3_curl(ctx):
    dv, au = oauth_peers(ctx)
    mp = _pop3_proxy(ctx, au)
    rc, out, err = _curl("pop3://127.0.0.1:%d/" % mp.ports["pop3"], "-u", "bob:",
                         "--oauth2-bearer", au.token("bob"))
    assert rc == 0, err
    dv.wait_log(r"pop3-login: Info: Login: user=<bob>, method=OAUTHBEARER")
    rc, out, err = _curl("pop3://127.0.0.1:%d/" % mp.ports["pop3"], "-u", "bob:",
                         "--oauth2-bearer", au.token("bob", ttl=-5))
    assert rc == 67, (rc, err)


# ------------------------------------------------------------------------- SMTP
# The shared Postfix offers no SMTP AUTH: there the SMTP login is checked by the auth
# service alone and the session goes to Postfix with XCLIENT LOGIN=<user>, as SMTP
# normally works through the proxy. proxy_smtp_auth's AUTH with the token goes to a
# scripted backend that records what it receives, and, at the end, to a private
# Postfix whose SMTP AUTH is Dovecot SASL with the oauth2 passdb.

SMTP_GREETING = b"220 mx.proxy.test ESMTP ready\r\n"


def _smtp_setup(ctx, **auth_kw):
    pf = ctx.postfix()
    au = ctx.auth_service(postfix=pf, token_key=TOKEN_KEY, **auth_kw)
    mp = ctx.mailproxy(auth=au, servers=[{
        "protocol": "smtp", "server_name": "mx.proxy.test",
        "smtp_auth": ["plain", "login", "oauthbearer", "xoauth2"]}])
    return pf, au, mp


def _smtp(port):
    c = LineClient(port, timeout=10)
    assert c.readline() == SMTP_GREETING
    c.cmd("EHLO client.example")
    lines = c.read_until(b"250 ")
    return c, lines


def _uniq():
    import uuid
    return uuid.uuid4().hex[:12]


def _send_mail(c, marker):
    for cmd, want in (("MAIL FROM:<bob@example.org>", b"250 "),
                      ("RCPT TO:<alice@test.example>", b"250 "), ("DATA", b"354 ")):
        c.cmd(cmd)
        assert c.read_until(want)[-1].startswith(want)
    c.send(("Subject: %s\r\n\r\nbody %s\r\n.\r\n" % (marker, marker)).encode())
    assert c.read_until(b"250 ")[-1].startswith(b"250 ")
    c.cmd("QUIT")


def test_oauth_smtp_ehlo_and_both_mechanisms_deliver_via_xclient(ctx):
    pf, au, mp = _smtp_setup(ctx)
    port = mp.ports["smtp"]
    tok = au.token("bob")
    markers = []
    for mech, msg in (("OAUTHBEARER", oauthbearer("bob", tok)), ("XOAUTH2", xoauth2("bob", tok))):
        for initial in (True, False):
            c, ehlo = _smtp(port)
            with c:
                assert ehlo == [b"250-mx.proxy.test\r\n",
                                b"250 AUTH PLAIN LOGIN OAUTHBEARER XOAUTH2\r\n"], ehlo
                if initial:
                    c.cmd("AUTH %s %s" % (mech, msg))
                else:
                    c.cmd("AUTH " + mech)
                    assert c.readline() == b"334 \r\n"
                    c.cmd(msg)
                assert c.readline() == b"235 2.0.0 OK\r\n"
                marker = "oauth-%s-%s-%s" % (mech.lower(), initial, _uniq())
                _send_mail(c, marker)
                markers.append(marker)
    for marker in markers:
        msg = pf.wait_for_message(marker)
        assert b"(Authenticated sender: bob)" in msg, msg[:600]
    au.wait_request(user="bob", protocol="smtp", method="oauthbearer", result="OK", count=2)
    au.wait_request(user="bob", protocol="smtp", method="xoauth2", result="OK", count=2)


def test_oauth_smtp_sasl_error_334_dummy_then_535(ctx):
    pf, au, mp = _smtp_setup(ctx, wait=1)
    c, _ = _smtp(mp.ports["smtp"])
    with c:
        c.cmd("AUTH OAUTHBEARER " + oauthbearer("bob", au.token("bob", ttl=-60)))
        assert c.readline() == b"334 " + SASL_ERROR.encode() + b"\r\n"
        c.cmd("AQ==")
        assert c.readline() == b"535 5.7.8 Invalid login or password\r\n"
        c.cmd("AUTH XOAUTH2 " + xoauth2("alice", au.token("bob")))       # wrong user
        assert c.readline() == b"334 " + SASL_ERROR.encode() + b"\r\n"
        c.cmd("")
        assert c.readline() == b"535 5.7.8 Invalid login or password\r\n"
        c.cmd("AUTH XOAUTH2 " + xoauth2("alice", au.token("bob")))
        assert c.readline() == b"334 " + SASL_ERROR.encode() + b"\r\n"
        c.cmd("foo")
        assert c.readline() == b"500 5.5.1 Invalid command\r\n"
        c.cmd("AUTH OAUTHBEARER " + raw_b64(b"n,,\x01auth=Bearer a\nb\x01\x01"))
        assert c.readline() == b"500 5.5.1 Invalid command\r\n"
        c.cmd("AUTH XOAUTH2 " + raw_b64(b"user=bob\x01auth=bearer\x01\x01"))
        assert c.readline() == b"500 5.5.1 Invalid command\r\n"
    au.wait_request(user="alice", protocol="smtp", method="xoauth2", result="fail", count=2)


def test_oauth_smtp_proxy_smtp_auth_sends_token_and_answers_backend_error(ctx):
    """proxy_smtp_auth without Auth-Pass: AUTH <mechanism> with a message rebuilt from
    Auth-User and the token; a 334 error challenge from the backend gets the dummy and
    the login is refused."""
    from smtp_support import start_fake_smtp

    def respond(req):
        return [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                ("Auth-Port", str(srv.port)), ("Auth-User", "be,bob")]

    fs, srv = start_fake_smtp(ctx)
    fa = ctx.fake_auth(respond=respond)
    mp = ctx.mailproxy(auth=fa, servers=[{
        "protocol": "smtp", "server_name": "mx.proxy.test", "proxy_smtp_auth": True,
        "smtp_auth": ["plain", "oauthbearer", "xoauth2"]}])
    c, _ = _smtp(mp.ports["smtp"])
    with c:
        c.cmd("AUTH XOAUTH2 " + xoauth2("bob", "tok123"))
        assert c.readline() == b"235 2.0.0 OK\r\n"
    fs.wait_line(b"AUTH ")
    assert (b"AUTH XOAUTH2 " + xoauth2("be,bob", "tok123").encode() + b"\r\n") in fs.lines()
    c, _ = _smtp(mp.ports["smtp"])
    with c:
        c.cmd("AUTH OAUTHBEARER " + oauthbearer("bob", "tok123"))
        assert c.readline() == b"235 2.0.0 OK\r\n"
    fs.wait_line(b"AUTH ")
    assert (b"AUTH OAUTHBEARER " + oauthbearer("be,bob", "tok123").encode() + b"\r\n") \
        in fs.lines()

    fs2, srv = start_fake_smtp(ctx, replies={"AUTH": "334 " + SASL_ERROR,
                                             "AQ==": "535 5.7.8 bad token"})
    c, _ = _smtp(mp.ports["smtp"])
    with c:
        c.cmd("AUTH OAUTHBEARER " + oauthbearer("bob", "tok123"))
        assert c.readline() == b"451 4.3.2 Internal server error\r\n"
    fs2.wait_line(b"AQ==\r\n")


def test_oauth_smtp_curl_and_msmtp(ctx):
    """curl --oauth2-bearer smtp:// and msmtp with auth oauthbearer / xoauth2 and a
    passwordeval minting the token: each message is delivered by Postfix."""
    import shutil
    import subprocess
    pf, au, mp = _smtp_setup(ctx)
    port = mp.ports["smtp"]
    marker = "curl-%s" % _uniq()
    mail = ctx.path("mail.txt")
    with open(mail, "w") as f:
        f.write("Subject: %s\r\n\r\nbody %s\r\n" % (marker, marker))
    rc, out, err = _curl("smtp://127.0.0.1:%d" % port, "-u", "bob:", "--oauth2-bearer",
                         au.token("bob"), "--mail-from", "bob@example.org",
                         "--mail-rcpt", "alice@test.example", "--upload-file", mail)
    assert rc == 0, err
    assert b"(Authenticated sender: bob)" in pf.wait_for_message(marker)
    if shutil.which("msmtp") is None:
        ctx.skip("msmtp is not installed (scripts/deps.sh test)")
    script = ctx.path("token.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexec %s %s token --key %s bob\n" % (
            __import__("sys").executable, __import__("harness").AUTH_SCRIPT, TOKEN_KEY))
    import os
    os.chmod(script, 0o755)
    for mech in ("oauthbearer", "xoauth2"):
        marker = "msmtp-%s-%s" % (mech, _uniq())
        r = subprocess.run(["msmtp", "--host=127.0.0.1", "--port=%d" % port, "--auth=" + mech,
                            "--user=bob", "--passwordeval=" + script, "--tls=off",
                            "--from=bob@example.org", "alice@test.example"],
                           input=("Subject: %s\r\n\r\nbody\r\n" % marker).encode(),
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert b"(Authenticated sender: bob)" in pf.wait_for_message(marker)
    au.wait_request(user="bob", protocol="smtp", method="oauthbearer", result="OK", count=2)
    au.wait_request(user="bob", protocol="smtp", method="xoauth2", result="OK")


# ------------------------------------------------------------ Auth-Error-SASL checks

def test_oauth_invalid_auth_error_sasl_is_internal_error_and_plain_ignores_it(ctx):
    """An Auth-Error-SASL that is not bounded base64 makes the answer invalid (internal
    error, as any invalid answer); a PLAIN login refused with one gets the plain NO."""
    def respond(req):
        if req.header("Auth-Method") == "oauthbearer":
            return [("Auth-Status", "Invalid token"), ("Auth-Error-SASL", "not base64 !")]
        return [("Auth-Status", "Invalid login"), ("Auth-Error-SASL", SASL_ERROR)]

    fa = ctx.fake_auth(respond=respond)
    mp = ctx.mailproxy(servers=[{"protocol": "imap", "imap_auth": MECHS}],
                       mail={"auth_http": fa.url})
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a1 AUTHENTICATE OAUTHBEARER " + oauthbearer("bob", "tok"))
        assert c.readline() == b"* BAD internal server error\r\n"
        assert c.closed()
    mp.wait_log(r"auth http server sent invalid Auth-Error-SASL")
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a2 LOGIN bob wrong")
        assert c.readline() == b"a2 NO Invalid login\r\n"


def test_oauth_smtp_proxy_smtp_auth_to_postfix_with_dovecot_sasl(ctx):
    """proxy_smtp_auth against a Postfix that offers SMTP AUTH through Dovecot SASL:
    the auth service answers without Auth-Pass, the proxy logs in to Postfix with the
    client's mechanism and the token, Dovecot's oauth2 passdb asks the introspection
    endpoint, and Postfix delivers as the SASL user; an expired token is refused by the
    auth service first (334 challenge, dummy, 535)."""
    from harness import oauth_smtp_peers
    dv, pf, au = oauth_smtp_peers(ctx)
    mp = ctx.mailproxy(auth=au, servers=[{
        "protocol": "smtp", "server_name": "mx.proxy.test", "proxy_smtp_auth": True,
        "smtp_auth": ["plain", "oauthbearer", "xoauth2"]}])
    port = mp.ports["smtp"]
    markers = []
    for mech, msg in (("XOAUTH2", xoauth2("bob", au.token("bob"))),
                      ("OAUTHBEARER", oauthbearer("bob", au.token("bob")))):
        c, _ = _smtp(port)
        with c:
            c.cmd("AUTH %s %s" % (mech, msg))
            assert c.readline() == b"235 2.0.0 OK\r\n"
            marker = "pf-sasl-%s-%s" % (mech.lower(), _uniq())
            _send_mail(c, marker)
            markers.append((mech, marker))
    for mech, marker in markers:
        msg = pf.wait_for_message(marker)
        assert b"(Authenticated sender: bob)" in msg, msg[:600]
        pf.wait_log("sasl_method=%s, sasl_username=bob" % mech)
    au.wait_log(r"introspect (POST|GET) result=active user=bob", count=2)
    c, _ = _smtp(port)
    with c:
        c.cmd("AUTH XOAUTH2 " + xoauth2("bob", au.token("bob", ttl=-5)))
        assert c.readline() == b"334 " + SASL_ERROR.encode() + b"\r\n"
        c.cmd("")
        assert c.readline() == b"535 5.7.8 Invalid login or password\r\n"


# ------------------------------------------------------------ the example token issuer

def test_oauth_token_endpoint_and_introspection_get_mode(ctx):
    """POST /oauth/token (password grant) issues a token; Dovecot with introspection_mode
    get (GET <url><token>) accepts it through the proxy; a wrong password gets no token;
    an unknown token introspects as inactive."""
    import urllib.error
    import urllib.parse
    import urllib.request
    dv, au = oauth_peers(ctx, mode="get")
    mp = _imap_proxy(ctx, au)
    base = "http://127.0.0.1:%d" % au.port

    def post(path, **form):
        data = urllib.parse.urlencode(form).encode()
        try:
            with urllib.request.urlopen(base + path, data=data, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    code, doc = post("/oauth/token", grant_type="password", username="alice",
                     password="wrong")
    assert (code, doc) == (401, {"error": "invalid_grant"})
    code, doc = post("/oauth/token", grant_type="password", username="alice",
                     password="alicepw", expires_in="600")
    assert code == 200 and doc["token_type"] == "Bearer" and doc["expires_in"] == 600, doc
    tok = doc["access_token"]
    code, info = post("/oauth/introspect", token=tok)
    assert info["active"] is True and info["username"] == "alice" and info["scope"] == "mail"
    assert post("/oauth/introspect", token=tok + "x")[1] == {"active": False}
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a1 AUTHENTICATE XOAUTH2 " + xoauth2("alice", tok))
        _, final = _tagged(c, "a1")
        assert final.startswith(b"a1 OK "), final
    dv.wait_log(r"Info: Login: user=<alice>, method=XOAUTH2")
    au.wait_log(r"introspect POST result=active user=alice")      # ours, above
    au.wait_log(r"introspect GET result=active user=alice")       # Dovecot's


def test_oauth_smtp_16k_fits_and_oversized_closes(ctx):
    """SMTP with smtp_client_buffer at its default: a 16 KB token reaches the auth
    service whole; a line past the 24 KB buffer is "500 5.5.1 Invalid command" and
    closes ("client sent too long command"), the auth service not asked."""
    from smtp_support import start_fake_smtp
    fs, srv = start_fake_smtp(ctx)
    fa = ctx.fake_auth(respond=lambda req: [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                                            ("Auth-Port", str(srv.port))])
    mp = ctx.mailproxy(auth=fa, servers=[{
        "protocol": "smtp", "server_name": "mx.proxy.test",
        "smtp_auth": ["plain", "oauthbearer", "xoauth2"]}])
    tok = "Z" * 16384
    c, _ = _smtp(mp.ports["smtp"])
    with c:
        c.cmd("AUTH XOAUTH2 " + xoauth2("bob", tok))
        assert c.readline() == b"235 2.0.0 OK\r\n"
    r = fa.wait_requests(1)[0]
    assert (r.header("Auth-Method"), r.user, r.password) == ("xoauth2", "bob", tok)
    c, _ = _smtp(mp.ports["smtp"])
    with c:
        c.cmd("AUTH XOAUTH2 " + xoauth2("bob", "Z" * 20000))
        assert c.readline() == b"500 5.5.1 Invalid command\r\n"
        assert c.closed()
    mp.wait_log(r"client sent too long command")
    fa.sync()
    assert len(fa.requests) == 1
