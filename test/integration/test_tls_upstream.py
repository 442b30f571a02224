"""TLS towards the backends: proxy_ssl (implicit TLS) and proxy_starttls to a Dovecot
that refuses plaintext logins (ssl = required), certificate verification
(proxy_ssl_verify, proxy_ssl_trusted_certificate, proxy_ssl_name) and its clean
failure, session reuse towards the backend, and the POP3 / SMTP equivalents (SMTP
against a Postfix with smtpd_tls_security_level = encrypt).

Dovecot treats a connection from its own address, or from login_trusted_networks,
as secured and then allows plaintext logins even with ssl = required. So the
Dovecot here also listens on 127.0.0.2 and trusts no network; the auth service
routes to 127.0.0.2, which the proxy reaches from 127.0.0.1: without TLS its login
is refused."""

import re
import ssl
import uuid

import harness.postfix
from harness import LineClient
from tls_support import IMAP_GREETING, POP3_GREETING, cert_facts, self_signed

BACKEND = "127.0.0.2"


def _dovecot(ctx):
    dv = ctx.dovecot(ssl="required",
                     extra_conf="login_trusted_networks =\nlisten = 127.0.0.1, 127.0.0.2\n")
    assert cert_facts(dv.cert)["subject"] == "CN=localhost", "the harness's Dovecot cert"
    return dv


def _route(ctx, port, host=BACKEND):
    return ctx.fake_auth(respond=lambda req: [
        ("Auth-Status", "OK"), ("Auth-Server", host), ("Auth-Port", str(port))])


def _read_reply(c, tag):
    """Lines up to the tagged reply of tag, or to EOF."""
    lines = []
    while True:
        line = c.readline()
        if not line:
            return lines
        lines.append(line)
        if line.startswith(tag.encode() + b" "):
            return lines


def _imap_login(port, user="alice", password="alicepw"):
    """Logs in through the proxy; returns the tagged reply line, or everything that
    came before the proxy closed (the session is closed afterwards)."""
    with LineClient(port) as c:
        assert c.readline() == IMAP_GREETING
        c.cmd("a LOGIN %s %s" % (user, password))
        lines = _read_reply(c, "a")
        if not lines or not lines[-1].startswith(b"a OK"):
            return b"".join(lines)
        c.cmd("b SELECT INBOX")
        assert c.read_until("b ")[-1].startswith(b"b OK")
        c.cmd("c LOGOUT")
        c.read_until("c ")
        return lines[-1]


def _imap_refused(port):
    """The login fails with nginx's internal-error line and the connection closes."""
    with LineClient(port) as c:
        assert c.readline() == IMAP_GREETING
        c.cmd("a LOGIN alice alicepw")
        assert c.readline() == b"* BAD internal server error\r\n"
        assert c.closed(15)


DOVECOT_TLS_LOGIN = r"imap-login: Info: Login: user=<alice>.*\bTLS\b"


def test_tls_upstream_dovecot_refuses_plaintext_login(ctx):
    """The premise of the tests below: without TLS to it, this Dovecot refuses."""
    dv = _dovecot(ctx)
    mp = ctx.mailproxy(servers=[{"protocol": "imap"}], auth=_route(ctx, dv.imap_port))
    got = _imap_login(mp.ports["imap"])
    assert b"a OK" not in got and got.endswith(b"* BAD internal server error\r\n"), got
    mp.wait_log(r"upstream refused the login: \"a NO \[PRIVACYREQUIRED\]")


def test_tls_upstream_imap_proxy_ssl(ctx):
    dv = _dovecot(ctx)
    mp = ctx.mailproxy(servers=[{"protocol": "imap", "proxy_ssl": True}],
                       auth=_route(ctx, dv.imaps_port))
    port = mp.ports["imap"]
    for _ in range(2):
        line = _imap_login(port)
        assert line.startswith(b"a OK"), line
    mp.wait_log(r"upstream TLS: TLSv1\.[23] \S+")
    mp.wait_log(r"upstream TLS: TLSv1\.3")
    dv.wait_log(DOVECOT_TLS_LOGIN, count=2)


def _fake_tls_imap(ctx, cert, key):
    """An IMAP backend speaking implicit TLS (Python's ssl, one context, so its session
    tickets resume): accepts any LOGIN; .seen = [(session_reused, version)]."""
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    seen = []

    def handler(conn, server):
        conn.settimeout(10)
        try:
            t = sctx.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            return
        seen.append((t.session_reused, t.version()))
        buf = [b""]

        def line():
            while b"\n" not in buf[0]:
                d = t.recv(4096)
                if not d:
                    raise EOFError
                buf[0] += d
            l, _, buf[0] = buf[0].partition(b"\n")
            return l.rstrip(b"\r")
        try:
            t.sendall(b"* OK fake ready\r\n")
            tag = line().split()[0]            # "a LOGIN {5}"
            t.sendall(b"+ go\r\n")
            line()                             # "alice {7}"
            t.sendall(b"+ go\r\n")
            line()                             # the password
            t.sendall(tag + b" OK logged in\r\n")
            while True:
                l = line()
                parts = l.split()
                if len(parts) >= 2 and parts[1].upper() == b"LOGOUT":
                    t.sendall(b"* BYE\r\n" + parts[0] + b" OK bye\r\n")
                    break
                if parts:
                    t.sendall(parts[0] + b" OK done\r\n")
        except (EOFError, OSError, ssl.SSLError):
            pass
        finally:
            t.close()

    fake = ctx.fake_server("script", handler=handler)
    fake.seen = seen
    return fake


def test_tls_upstream_session_reuse(ctx):
    """proxy_ssl_session_reuse (on by default): the proxy offers the backend the
    session of its previous connection there, with TLS 1.3 (the ticket arrives after
    the handshake) and TLS 1.2; off: every handshake is a full one. (Dovecot resumes
    no session at all, hence a Python backend.)"""
    cert, key = self_signed(ctx.path("pki"), "backend", "localhost")
    backends = [_fake_tls_imap(ctx, cert, key) for _ in range(3)]
    servers = []
    for fake, kw in zip(backends, ({}, {"proxy_ssl_protocols": "TLSv1.2"},
                                   {"proxy_ssl_session_reuse": False})):
        a = _route(ctx, fake.port, host="127.0.0.1")
        srv = {"protocol": "imap", "proxy_ssl": True, "auth_http": a.url}
        srv.update(kw)
        servers.append(srv)
    mp = ctx.mailproxy(servers=servers, mail={"auth_http": servers[0]["auth_http"]},
                       main={"worker_processes": 1})    # the sessions are kept per worker
    for i, fake in enumerate(backends):
        for _ in range(3):
            line = _imap_login(mp.listens[i][1])
            assert line.startswith(b"a OK"), line
    print("backend handshakes (reused, version): %s" % [f.seen for f in backends])
    assert [v for _r, v in backends[1].seen] == ["TLSv1.2"] * 3
    assert [r for r, _v in backends[1].seen] == [False, True, True], \
        "TLS 1.2: %s" % backends[1].seen
    assert [r for r, _v in backends[2].seen] == [False, False, False], \
        "proxy_ssl_session_reuse off: %s" % backends[2].seen
    assert [v for _r, v in backends[0].seen] == ["TLSv1.3"] * 3
    assert [r for r, _v in backends[0].seen] == [False, True, True], \
        "TLS 1.3: the proxy must keep the session that carries the ticket: %s; log:\n%s" % (
            backends[0].seen, "\n".join(l for l in mp.log().splitlines()
                                         if "upstream TLS" in l))


def test_tls_upstream_imap_proxy_starttls(ctx):
    dv = _dovecot(ctx)
    mp = ctx.mailproxy(servers=[{"protocol": "imap", "proxy_starttls": True}],
                       auth=_route(ctx, dv.imap_port))
    line = _imap_login(mp.ports["imap"])
    assert line.startswith(b"a OK"), line
    mp.wait_log(r"upstream TLS: TLSv1\.3")
    dv.wait_log(DOVECOT_TLS_LOGIN)


def test_tls_upstream_verify(ctx):
    """proxy_ssl_verify with Dovecot's self-signed certificate as the trust anchor and
    proxy_ssl_name localhost (its CN) succeeds; a wrong name, an unrelated CA, or the
    default name (the backend address 127.0.0.2, not in its SAN) fail cleanly."""
    dv = _dovecot(ctx)
    other_ca, _k = self_signed(ctx.path("pki"), "unrelated", "localhost")
    good = {"proxy_ssl_verify": True, "proxy_ssl_trusted_certificate": dv.cert,
            "proxy_ssl_name": "localhost"}
    variants = [
        ("good", dict(good, proxy_ssl=True, proxy_ssl_server_name=True), dv.imaps_port),
        ("good-starttls", dict(good, proxy_starttls=True), dv.imap_port),
        ("wrong-name", dict(good, proxy_ssl=True, proxy_ssl_name="wrong.example"),
         dv.imaps_port),
        ("unrelated-ca", dict(good, proxy_ssl=True, proxy_ssl_trusted_certificate=other_ca),
         dv.imaps_port),
        ("default-name", dict(good, proxy_ssl=True, proxy_ssl_name=None), dv.imaps_port),
        ("starttls-wrong-name", dict(good, proxy_starttls=True,
                                     proxy_ssl_name="wrong.example"), dv.imap_port),
    ]
    servers = []
    auths = []
    for name, kw, port in variants:
        a = _route(ctx, port)
        auths.append(a)
        srv = {"protocol": "imap", "auth_http": a.url}
        srv.update({k: v for k, v in kw.items() if v is not None})
        servers.append(srv)
    mp = ctx.mailproxy(servers=servers, mail={"auth_http": auths[0].url})
    ports = {name: mp.listens[i][1] for i, (name, _kw, _p) in enumerate(variants)}
    for name in ("good", "good-starttls"):
        line = _imap_login(ports[name])
        assert line.startswith(b"a OK"), (name, line)
    for name in ("wrong-name", "unrelated-ca", "default-name", "starttls-wrong-name"):
        mark = mp.log_mark()
        _imap_refused(ports[name])
        mp.wait_log(r"\[error\] \d+#\d+: \*\d+ upstream SSL certificate verify error: "
                    r"\(\d+:[^)]+\)", since=mark)
    mp.wait_log(r"hostname mismatch")
    mp.wait_log(r"IP address mismatch")
    mp.wait_log(r"verify error: \((18|19|20|21):")                 # the unrelated CA
    mp.stop()                  # no writer left: the log is complete (and ends in "exit")
    log = mp.wait_log(r"(?m): exit$").string
    assert "[crit]" not in log and "[alert]" not in log


def test_tls_upstream_pop3_proxy_ssl_and_starttls(ctx):
    """POP3: implicit TLS to Dovecot's pop3s port, and STLS on its plain port."""
    dv = _dovecot(ctx)
    a_ssl = _route(ctx, dv.pop3s_port)
    a_stls = _route(ctx, dv.pop3_port)
    mp = ctx.mailproxy(servers=[
        {"protocol": "pop3", "proxy_ssl": True, "auth_http": a_ssl.url},
        {"protocol": "pop3", "proxy_starttls": True, "auth_http": a_stls.url,
         "proxy_ssl_verify": True, "proxy_ssl_trusted_certificate": dv.cert,
         "proxy_ssl_name": "localhost"}],
        mail={"auth_http": a_ssl.url})
    results = {}
    for name, port in (("proxy_ssl", mp.listens[0][1]), ("proxy_starttls", mp.listens[1][1])):
        with LineClient(port) as c:
            assert c.readline().startswith(POP3_GREETING)
            c.cmd("USER alice")
            assert c.readline() == b"+OK\r\n"
            c.cmd("PASS alicepw")
            results[name] = c.readline()
            if results[name].startswith(b"+OK"):
                c.cmd("STAT")
                assert c.readline().startswith(b"+OK ")
                c.cmd("QUIT")
    assert results["proxy_ssl"].startswith(b"+OK"), results
    assert results["proxy_starttls"].startswith(b"+OK"), \
        "POP3 STLS towards the backend (proxy_starttls on): %r; log:\n%s" % (
            results, "\n".join(mp.log().splitlines()[-15:]))
    dv.wait_log(r"pop3-login: Info: Login: user=<alice>.*\bTLS\b", count=2)


def test_tls_upstream_pop3_verify_failure(ctx):
    dv = _dovecot(ctx)
    mp = ctx.mailproxy(servers=[{"protocol": "pop3", "proxy_ssl": True,
                                 "proxy_ssl_verify": True,
                                 "proxy_ssl_trusted_certificate": dv.cert,
                                 "proxy_ssl_name": "wrong.example"}],
                       auth=_route(ctx, dv.pop3s_port))
    with LineClient(mp.ports["pop3"]) as c:
        assert c.readline().startswith(POP3_GREETING)
        c.cmd("USER alice")
        c.readline()
        c.cmd("PASS alicepw")
        assert c.readline() == b"-ERR internal server error\r\n"
        assert c.closed(15)
    mp.wait_log(r"upstream SSL certificate verify error")


def test_tls_upstream_smtp_proxy_starttls(ctx):
    """SMTP: STARTTLS to a Postfix that demands it (smtpd_tls_security_level =
    encrypt) before XCLIENT and the mail; the message is delivered."""
    cert, key = self_signed(ctx.path("pki"), "postfix", "localhost")
    # Postfix's smtpd takes its TLS entropy from tlsmgr, which the harness's
    # master.cf leaves out ("no entropy for TLS key generation: disabling TLS").
    saved = harness.postfix.MASTER_CF_SERVICES
    harness.postfix.MASTER_CF_SERVICES = saved + \
        "tlsmgr    unix  -       -       n       1000?   1       tlsmgr\n"
    try:
        pf = ctx.postfix(extra_main_cf="smtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n"
                         "smtpd_tls_security_level = encrypt\n" % (cert, key))
    finally:
        harness.postfix.MASTER_CF_SERVICES = saved
    fa = _route(ctx, pf.smtp_port, host="127.0.0.1")
    mp = ctx.mailproxy(servers=[
        {"protocol": "smtp", "server_name": "mx.test"},
        {"protocol": "smtp", "server_name": "mx.test", "proxy_starttls": True,
         "proxy_ssl_verify": True, "proxy_ssl_trusted_certificate": cert,
         "proxy_ssl_name": "localhost"}], auth=fa)

    def send(port, marker):
        """None when the message was accepted, else (step, reply)."""
        with LineClient(port) as c:
            c.expect("220 mx.test")
            c.cmd("EHLO client.example")
            c.read_until("250 ")
            steps = [("AUTH PLAIN AGFsaWNlAGFsaWNlcHc=", b"235"),
                     ("MAIL FROM:<alice@test.example>", b"250"),
                     ("RCPT TO:<bob@test.example>", b"250"), ("DATA", b"354"),
                     ("Subject: %s\r\n\r\nover TLS\r\n." % marker, b"250")]
            for cmd, want in steps:
                c.cmd(cmd)
                reply = c.readline()
                if not reply.startswith(want):
                    return cmd.split()[0], reply
            c.cmd("QUIT")
            return None

    plain = send(mp.listens[0][1], "plain-%s" % uuid.uuid4().hex)
    assert plain is not None, "premise: this Postfix refuses mail before STARTTLS"
    print("without proxy_starttls: %r" % (plain,))
    marker = "tls-%s" % uuid.uuid4().hex
    failed = send(mp.listens[1][1], marker)
    assert failed is None, \
        "SMTP STARTTLS towards the backend (proxy_starttls on): %r; log:\n%s\nmaillog:\n%s" % (
            failed, "\n".join(mp.log().splitlines()[-12:]),
            "\n".join(pf.maillog().splitlines()[-8:]))
    assert marker.encode() in pf.wait_for_message(marker)
    mp.wait_log(r"upstream TLS: TLSv1\.3")
