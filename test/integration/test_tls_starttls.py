"""STARTTLS / STLS through the proxy to the real Dovecot and Postfix: plaintext
pipelined behind the STARTTLS command is discarded, never answered after the
handshake (IMAP, POP3, and SMTP, where the injected EHLO is forgotten too:
CVE-2014-3556), and `starttls only` refuses logins before TLS with nginx's lines
and advertises accordingly."""

import base64

from harness import LineClient
from tls_support import IMAP_CAPS, IMAP_GREETING, POP3_GREETING, self_signed


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def nothing_arrives(c, seconds=0.7):
    """True when neither a byte nor EOF arrives within `seconds`."""
    try:
        c.readline(timeout=seconds)
    except TimeoutError:
        return not c.buf
    return False


def _setup(ctx, protocol, mode, fake=False, **kw):
    cert, key = self_signed(ctx.path("pki"), "server", "localhost")
    dv = ctx.dovecot()
    pf = ctx.postfix()
    if fake:
        auth = ctx.fake_auth(respond=lambda req: [
            ("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
            ("Auth-Port", str(pf.smtp_port))])
    else:
        auth = ctx.auth_service(dovecot=dv, postfix=pf)
    srv = {"protocol": protocol, "starttls": mode, "ssl_certificate": cert,
           "ssl_certificate_key": key, "server_name": "mx.test"}
    srv.update(kw)
    mp = ctx.mailproxy(servers=[srv], auth=auth)
    return mp, mp.ports[protocol], auth


def _lines_until(c, last):
    return b"".join(c.read_until(last))


# ------------------------------------------------------------ injection

def test_tls_imap_starttls_discards_pipelined_command(ctx):
    mp, port, au = _setup(ctx, "imap", "on")
    with LineClient(port) as c:
        assert c.readline() == IMAP_GREETING
        c.send(b"a STARTTLS\r\nb CAPABILITY\r\n")
        assert c.readline() == b"a OK completed\r\n"
        c.starttls()
        assert nothing_arrives(c), "plaintext sent before the handshake was answered " \
            "after it: %r" % c.buf
        c.cmd("c CAPABILITY")
        caps = c.readline()
        assert caps.startswith(IMAP_CAPS) and b"STARTTLS" not in caps and \
            b"AUTH=PLAIN" in caps, caps
        assert c.readline() == b"c OK completed\r\n"
        c.cmd("d LOGIN alice alicepw")
        assert c.read_until("d ")[-1].startswith(b"d OK")
        c.cmd("e LOGOUT")
        assert c.read_until("e ")[-1].startswith(b"e OK")
    # the session's last line comes after anything it logged
    mp.assert_not_logged(r"b CAPABILITY", after=r"proxied session done")


def test_tls_pop3_stls_discards_pipelined_command(ctx):
    mp, port, au = _setup(ctx, "pop3", "on")
    with LineClient(port) as c:
        assert c.readline().startswith(POP3_GREETING)
        c.send(b"STLS\r\nCAPA\r\n")
        assert c.readline() == b"+OK\r\n"
        c.starttls()
        assert nothing_arrives(c), "CAPA sent before the handshake was answered: %r" % c.buf
        c.cmd("CAPA")
        caps = _lines_until(c, ".\r\n")
        assert caps.startswith(b"+OK") and b"\r\nSTLS\r\n" not in caps and \
            b"\r\nUSER\r\n" in caps, caps
        c.cmd("USER alice")
        assert c.readline() == b"+OK\r\n"
        c.cmd("PASS alicepw")
        assert c.readline().startswith(b"+OK")
        c.cmd("STAT")
        assert c.readline().startswith(b"+OK ")
        c.cmd("QUIT")
        assert c.readline().startswith(b"+OK")


def test_tls_smtp_starttls_discards_pipelined_ehlo_and_forgets_helo(ctx):
    """STARTTLS\\r\\nEHLO x in one write: after the handshake nothing answers that EHLO,
    and the session forgets it (RFC 3207): a relay-only session (smtp_auth none) that
    goes on without a new EHLO sends no HELO to the auth service; after a new EHLO the
    reply lists AUTH and no STARTTLS."""
    mp, port, fa = _setup(ctx, "smtp", "on", fake=True, smtp_auth=["none", "plain"])
    with LineClient(port) as c:
        assert c.readline() == b"220 mx.test ESMTP ready\r\n"
        c.cmd("EHLO before.example")
        ehlo = _lines_until(c, "250 ")
        assert b"250 STARTTLS\r\n" in ehlo, ehlo
        c.send(b"STARTTLS\r\nEHLO injected.example\r\n")
        assert c.readline() == b"220 2.0.0 Start TLS\r\n"
        c.starttls()
        assert nothing_arrives(c), "the EHLO sent before the handshake was answered: %r" \
            % c.buf
        c.cmd("MAIL FROM:<alice@test.example>")
        assert c.readline() == b"250 2.0.0 OK\r\n"
        c.cmd("RCPT TO:<bob@test.example>")
        assert c.readline().startswith(b"250"), "the relayed RCPT answer"
        c.cmd("QUIT")
    assert fa.requests, "the auth service was asked"
    req = fa.requests[-1]
    assert req.header("Auth-Method") == "none"
    assert req.header("Auth-SSL") == "on", req
    assert req.header("Auth-SMTP-Helo") == "", req
    assert "injected" not in req.raw.decode("latin-1") and \
        "before.example" not in req.raw.decode("latin-1"), \
        "a HELO from before STARTTLS reached the auth service: %r" % req.raw
    # a new EHLO after TLS: AUTH, and no STARTTLS any more
    with LineClient(port) as c:
        c.expect("220 ")
        c.send(b"STARTTLS\r\nEHLO injected.example\r\n")
        assert c.readline() == b"220 2.0.0 Start TLS\r\n"
        c.starttls()
        assert nothing_arrives(c)
        c.cmd("EHLO after.example")
        ehlo = _lines_until(c, "250 ")
        assert ehlo.startswith(b"250-mx.test\r\n") and b"AUTH PLAIN" in ehlo and \
            b"STARTTLS" not in ehlo, ehlo
        c.cmd("STARTTLS")
        assert c.readline().startswith(b"5"), "STARTTLS twice is refused"


# ------------------------------------------------------------ starttls only

def test_tls_imap_starttls_only(ctx):
    mp, port, au = _setup(ctx, "imap", "only", imap_auth=["plain", "login"])
    with LineClient(port) as c:
        assert c.readline() == IMAP_GREETING
        c.cmd("c CAPABILITY")
        assert c.readline() == IMAP_CAPS + b" STARTTLS LOGINDISABLED\r\n"
        assert c.readline() == b"c OK completed\r\n"
        c.cmd("a LOGIN alice alicepw")
        assert c.readline() == b"a BAD invalid command\r\n"
        c.cmd("b AUTHENTICATE PLAIN " + b64("\0alice\0alicepw"))
        assert c.readline() == b"b BAD invalid command\r\n"
        c.cmd("b2 AUTHENTICATE LOGIN")
        assert c.readline() == b"b2 BAD invalid command\r\n"
        c.cmd("s STARTTLS")
        assert c.readline() == b"s OK completed\r\n"
        c.starttls()
        c.cmd("d CAPABILITY")
        caps = c.readline()
        assert caps == IMAP_CAPS + b" AUTH=PLAIN AUTH=LOGIN\r\n", caps
        assert c.readline() == b"d OK completed\r\n"
        c.cmd("e LOGIN alice alicepw")
        assert c.read_until("e ")[-1].startswith(b"e OK")
    # nothing reached the auth service before TLS
    au.assert_log_count(r"result=OK", 1, after=au.sentinel())


def test_tls_pop3_starttls_only(ctx):
    mp, port, au = _setup(ctx, "pop3", "only")
    with LineClient(port) as c:
        assert c.readline().startswith(POP3_GREETING)
        c.cmd("CAPA")
        caps = _lines_until(c, ".\r\n")
        assert b"\r\nSTLS\r\n" in caps, caps
        assert b"\r\nUSER\r\n" not in caps and b"SASL" not in caps, caps
        c.cmd("USER alice")
        assert c.readline() == b"-ERR invalid command\r\n"
        c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
        assert c.readline() == b"-ERR invalid command\r\n"
        c.cmd("APOP alice 0123456789abcdef0123456789abcdef")
        assert c.readline() == b"-ERR invalid command\r\n"
        c.cmd("STLS")
        assert c.readline() == b"+OK\r\n"
        c.starttls()
        c.cmd("CAPA")
        caps = _lines_until(c, ".\r\n")
        assert b"\r\nUSER\r\n" in caps and b"SASL PLAIN" in caps and \
            b"STLS" not in caps, caps
        c.cmd("USER alice")
        assert c.readline() == b"+OK\r\n"
        c.cmd("PASS alicepw")
        assert c.readline().startswith(b"+OK")
        c.cmd("QUIT")
    au.assert_log_count(r"protocol=pop3 .*result=", 1, after=au.sentinel())


def test_tls_smtp_starttls_only(ctx):
    mp, port, au = _setup(ctx, "smtp", "only")
    with LineClient(port) as c:
        assert c.readline() == b"220 mx.test ESMTP ready\r\n"
        c.cmd("EHLO client.example")
        ehlo = _lines_until(c, "250 ")
        assert ehlo == b"250-mx.test\r\n250 STARTTLS\r\n", ehlo
        c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
        refusal = c.readline()
        print("AUTH before TLS under starttls only: %r" % refusal)
        assert refusal == b"500 5.5.1 Invalid command\r\n", refusal
        c.cmd("AUTH LOGIN")
        assert c.readline() == b"500 5.5.1 Invalid command\r\n"
        c.cmd("MAIL FROM:<alice@test.example>")
        assert c.readline().startswith(b"530 5.7.1"), "no relaying without login"
        c.cmd("STARTTLS")
        assert c.readline() == b"220 2.0.0 Start TLS\r\n"
        c.starttls()
        c.cmd("EHLO client.example")
        ehlo = _lines_until(c, "250 ")
        assert b"250 AUTH PLAIN LOGIN\r\n" in ehlo and b"STARTTLS" not in ehlo, ehlo
        c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
        assert c.readline() == b"235 2.0.0 OK\r\n"
        c.cmd("QUIT")
        assert c.readline().startswith(b"221")
    au.assert_log_count(r"protocol=smtp .*result=", 1, after=au.sentinel())
