"""What the auth service receives and what its answer chooses (issue #14 items 3, 5, 6):
auth_http_header values with variables ($remote_addr, $remote_port, $server_addr,
$server_port, $ssl_server_name, $protocol, $$), expanded per login and seen by the
example auth service (--log-headers); Client-Port, also behind a PROXY protocol header;
Auth-SSL-Fingerprint-SHA256 for a verified client certificate; -T printing the value as
written and -t refusing an unknown variable at file:line:column; and "Auth-Method:
login|none" in an answer, which makes the SMTP backend login AUTH LOGIN (seen by the real
Postfix, authenticating against the real Dovecot) or no AUTH at all."""

import base64
import hashlib
import ssl

from harness import LineClient, free_port
from smtp_support import SMTP_INTERNAL, ok_to, smtp_lines_until_last, start_fake_smtp
from tls_support import CA, IMAP_GREETING, TLSLineClient, client_context, self_signed, \
    tls_server

VARS = {
    "X-Client": "$remote_addr:${remote_port}",
    "X-Server": "[$server_addr]:$server_port",
    "X-Sni": "<$ssl_server_name>",
    "X-Proto": "${protocol}-login",
    "X-Key": "pa$$word",
}


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def imap_login(c, user="alice", password="alicepw"):
    c.cmd("a LOGIN %s %s" % (user, password))
    last = c.read_until(b"a ")[-1]
    assert last.startswith(b"a OK"), last


def headers_of(au, user, **kw):
    """The request headers (a dict; each name once) the service logged for user."""
    hl = au.request_headers(user, **kw)
    d = dict(hl)
    assert len(d) == len(hl), "a header sent twice: %r" % hl
    return d


# ------------------------------------------------------------ header variables

def test_header_variables_expanded_per_login(ctx):
    """Each login's own addresses and protocol in the configured headers; plain text and
    $$ as written; the value is the same as Client-IP/Client-Port say."""
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv, log_headers=True)
    mp = ctx.mailproxy(auth=au, mail={"auth_http_header": VARS},
                       servers=[{"protocol": "imap"}, {"protocol": "pop3"}])
    imap, pop3 = mp.ports["imap"], mp.ports["pop3"]
    with LineClient(imap) as c:
        assert c.readline().startswith(b"* OK")
        imap_login(c)
        port = c.sock.getsockname()[1]
    names = [k for k, _ in au.request_headers("alice")]
    assert names.index("Client-Port") == names.index("Client-IP") + 1, \
        "no Client-Host (IMAP): right after Client-IP %r" % names
    h = headers_of(au, "alice")
    assert h["Client-IP"] == "127.0.0.1" and h["Client-Port"] == str(port), h
    assert h["X-Client"] == "127.0.0.1:%d" % port, h
    assert h["X-Server"] == "[127.0.0.1]:%d" % imap, h
    assert h["X-Sni"] == "<>", "no TLS, no SNI: empty"
    assert h["X-Proto"] == "imap-login"
    assert h["X-Key"] == "pa$word"
    with LineClient(pop3) as c:
        assert c.readline().startswith(b"+OK")
        c.cmd("USER bob")
        assert c.readline().startswith(b"+OK")
        c.cmd("PASS bobpw")
        assert c.readline().startswith(b"+OK"), "logged in to Dovecot"
        port = c.sock.getsockname()[1]
    h = headers_of(au, "bob")
    assert (h["X-Client"], h["X-Server"], h["X-Proto"]) == (
        "127.0.0.1:%d" % port, "[127.0.0.1]:%d" % pop3, "pop3-login"), h
    assert h["Client-Port"] == str(port)


def test_header_variables_with_sni(ctx):
    """Over implicit TLS $ssl_server_name is the name the client asked for."""
    d = ctx.path("pki")
    cert, key = self_signed(d, "server", "mail.example.org")
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv, log_headers=True)
    mp = ctx.mailproxy(auth=au, mail={"auth_http_header": VARS},
                       servers=[tls_server("imap", cert, key)])
    port = mp.ports["imap"]
    with TLSLineClient(port, client_context(), server_hostname="mail.example.org") as c:
        assert c.readline() == IMAP_GREETING
        imap_login(c)
    h = headers_of(au, "alice")
    assert h["X-Sni"] == "<mail.example.org>", h
    assert h["X-Server"] == "[127.0.0.1]:%d" % port
    assert h["Auth-SSL"] == "on"


def test_header_variables_behind_proxy_protocol(ctx):
    """From a set_real_ip_from source, $remote_addr/$remote_port are the PROXY header's
    client, as Client-IP and Client-Port are; $server_addr/$server_port stay the address
    the connection reached (nginx's meaning), the header's own is in
    Proxy-Protocol-Server-*. From an untrusted source all of them are the peer's."""
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv, log_headers=True)
    trusted, untrusted = free_port(), free_port()
    mp = ctx.mailproxy(auth=au, mail={"auth_http_header": VARS}, servers=[
        {"protocol": "imap", "listen": "127.0.0.1:%d proxy_protocol" % trusted,
         "set_real_ip_from": "127.0.0.1"},
        {"protocol": "imap", "listen": "127.0.0.1:%d proxy_protocol" % untrusted}])
    with LineClient(trusted) as c:
        c.send(b"PROXY TCP4 192.0.2.9 198.51.100.4 40001 993\r\n")
        assert c.readline().startswith(b"* OK")
        imap_login(c)
    h = headers_of(au, "alice")
    assert (h["Client-IP"], h["Client-Port"]) == ("192.0.2.9", "40001"), h
    assert h["X-Client"] == "192.0.2.9:40001", h
    assert h["X-Server"] == "[127.0.0.1]:%d" % trusted, h
    assert (h["Proxy-Protocol-Server-Addr"], h["Proxy-Protocol-Server-Port"]) == \
        ("198.51.100.4", "993"), h
    with LineClient(untrusted) as c:
        c.send(b"PROXY TCP4 192.0.2.9 198.51.100.4 40001 993\r\n")
        assert c.readline().startswith(b"* OK")
        imap_login(c, "bob", "bobpw")
        port = c.sock.getsockname()[1]
    h = headers_of(au, "bob")
    assert (h["Client-IP"], h["Client-Port"]) == ("127.0.0.1", str(port)), h
    assert h["X-Client"] == "127.0.0.1:%d" % port, h
    assert h["Proxy-Protocol-Addr"] == "192.0.2.9"


def _write(ctx, name, text):
    path = ctx.path(name)
    with open(path, "w") as f:
        f.write(text)
    return path


CONF = ("mail:\n"
        "  auth_http: 127.0.0.1:9000/mail/auth\n"
        "  auth_http_header:\n"
        "    X-Client: \"$remote_addr:${remote_port}\"\n"
        "    X-Key: pa$$word\n"
        "  servers:\n"
        "    - listen: [\"127.0.0.1:%d\"]\n"
        "      protocol: imap\n")


def test_dump_prints_values_as_written(ctx):
    cf = _write(ctx, "vars.yaml", CONF % free_port())
    r = ctx.cli("-T", "-c", cf, "-p", ctx.path("."))
    assert r.rc == 0, r
    line = [l for l in r.stdout.splitlines() if l.strip().startswith("auth_http_header:")]
    assert line == ['  auth_http_header: ["X-Client $remote_addr:${remote_port}", '
                    '"X-Key pa$$word"]'], r.stdout
    again = _write(ctx, "dumped.yaml", r.stdout)
    r2 = ctx.cli("-T", "-c", again, "-p", ctx.path("."))
    assert r2.rc == 0, r2
    assert line[0] in r2.stdout.splitlines(), "the dump reads back the same: %s" % r2.stdout


def test_unknown_variable_refused_with_position(ctx):
    port = free_port()
    cases = (
        ("$remote_adr", "vars.yaml:4:15: \"auth_http_header\": \"X-Client\": unknown variable "
                        "\"$remote_adr\""),
        ("\"ip ${remote_addr\"", "vars.yaml:4:19: \"auth_http_header\": \"X-Client\": \"${\" "
                                 "without its closing \"}\""),
        ("\"cost 5$\"", "vars.yaml:4:22: \"auth_http_header\": \"X-Client\": a variable name "
                        "must follow \"$\" (\"$$\" is a literal \"$\")"),
    )
    for value, want in cases:
        cf = _write(ctx, "vars.yaml", (CONF % port).replace(
            "\"$remote_addr:${remote_port}\"", value))
        r = ctx.cli("-t", "-c", cf, "-p", ctx.path("."))
        assert r.rc == 1, r
        assert want in r.stderr, (want, r)


# ------------------------------------------------------------ Client-Port, SHA-256 fingerprint

def test_client_certificate_sha256_fingerprint(ctx):
    """A verified client certificate: Auth-SSL-Fingerprint-SHA256 (freenginx 1.27.4), the
    SHA-256 of the DER certificate in lower-case hex, right after the SHA-1 one; none
    without a certificate."""
    d = ctx.path("pki")
    server = self_signed(d, "server", "localhost")
    ca = CA(d, "ca-a", "Test CA A")
    good = ca.issue("alice", "/O=Example/CN=alice")
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv, log_headers=True)
    mp = ctx.mailproxy(auth=au, servers=[tls_server(
        "imap", server[0], server[1], ssl_verify_client="optional",
        ssl_client_certificate=ca.cert)])
    port = mp.ports["imap"]
    with TLSLineClient(port, client_context(cert=good[0], key=good[1])) as c:
        assert c.readline() == IMAP_GREETING
        imap_login(c)
    der = ssl.PEM_cert_to_DER_cert(open(good[0]).read())
    hl = au.request_headers("alice")
    h = dict(hl)
    assert h["Auth-SSL-Verify"] == "SUCCESS"
    assert h["Auth-SSL-Fingerprint"] == hashlib.sha1(der).hexdigest(), h
    assert h["Auth-SSL-Fingerprint-SHA256"] == hashlib.sha256(der).hexdigest(), h
    names = [k for k, _ in hl]
    assert names.index("Auth-SSL-Fingerprint-SHA256") == names.index("Auth-SSL-Fingerprint") + 1
    with TLSLineClient(port, client_context()) as c:
        assert c.readline() == IMAP_GREETING
        imap_login(c, "bob", "bobpw")
    h = headers_of(au, "bob")
    assert h["Auth-SSL-Verify"] == "NONE"
    assert "Auth-SSL-Fingerprint-SHA256" not in h and "Auth-SSL-Fingerprint" not in h, h


# ------------------------------------------------------------ Auth-Method for SMTP

NAME = "mx.proxy.test"


def smtp_login(port, user, password):
    c = LineClient(port)
    assert c.readline() == b"220 %s ESMTP ready\r\n" % NAME.encode()
    c.cmd("EHLO client.example")
    smtp_lines_until_last(c)
    c.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (user, password)))
    return c


def test_auth_method_login_against_postfix(ctx):
    """The auth service answers "Auth-Method: login" for alice: the proxy logs in to the
    real Postfix with AUTH LOGIN (Postfix asks the real Dovecot), and the mail goes
    through; Postfix logs the mechanism. bob has none set: AUTH PLAIN, as before.
    carol gets "Auth-Method: none" (and Dovecot does not know her): no AUTH, Postfix
    takes her login from XCLIENT."""
    sasl_port = free_port()
    dv = ctx.dovecot(extra_conf="service auth {\n  inet_listener {\n    address = 127.0.0.1\n"
                                "    port = %d\n  }\n}\n" % sasl_port)
    pf = ctx.postfix(extra_main_cf="smtpd_sasl_auth_enable = yes\n"
                                   "smtpd_sasl_type = dovecot\n"
                                   "smtpd_sasl_path = inet:127.0.0.1:%d\n" % sasl_port)
    au = ctx.auth_service(postfix=pf, users={
        "alice": {"password": "alicepw", "method": "login"}, "bob": "bobpw",
        "carol": {"password": "carolpw", "method": "none"}})
    mp = ctx.mailproxy(auth=au, servers=[{"protocol": "smtp", "server_name": NAME,
                                          "proxy_smtp_auth": True}])
    for user, mech in (("alice", "LOGIN"), ("bob", "PLAIN"), ("carol", "XCLIENT")):
        with smtp_login(mp.ports["smtp"], user, user + "pw") as c:
            assert smtp_lines_until_last(c, 15) == b"235 2.0.0 OK\r\n"
            c.cmd("MAIL FROM:<%s@example.org>" % user)
            assert smtp_lines_until_last(c).startswith(b"250 "), "relayed to Postfix"
            c.cmd("RCPT TO:<inbox@test.example>")
            assert smtp_lines_until_last(c).startswith(b"250 ")
            c.cmd("DATA")
            assert smtp_lines_until_last(c).startswith(b"354 ")
            c.send(b"Subject: auth-method %s\r\n\r\nbody\r\n.\r\n" % user.encode())
            assert smtp_lines_until_last(c).startswith(b"250 ")
        pf.wait_log_rx(r"sasl_method=%s, sasl_username=%s" % (mech, user))


def test_auth_method_dialogues_recorded(ctx):
    """The exact backend dialogue per Auth-Method, on a recording backend: login gives
    AUTH LOGIN, the user and the password each after a 334; none gives no AUTH and the
    login in XCLIENT; plain and no header give AUTH PLAIN."""
    user_b64, pass_b64 = b64("backend-carol"), b64("backend pw")
    # One backend that challenges as AUTH LOGIN does (the fake keys replies on the
    # upper-cased first word), one that takes any AUTH at once.
    fs_login, srv_login = start_fake_smtp(ctx, replies={
        "AUTH": "334 VXNlcm5hbWU6", user_b64.upper(): "334 UGFzc3dvcmQ6",
        pass_b64.upper(): "235 2.7.0 Authentication successful"})
    fs_other, srv_other = start_fake_smtp(ctx)
    method = {}

    def respond(req):
        port = srv_login.port if method.get("v") == "login" else srv_other.port
        hdrs = ok_to(port)(req) + [("Auth-User", "backend-carol"), ("Auth-Pass", "backend pw")]
        if method.get("v"):
            hdrs.append(("Auth-Method", method["v"]))
        return hdrs

    fa = ctx.fake_auth(respond=respond)
    mp = ctx.mailproxy(auth=fa, servers=[{"protocol": "smtp", "server_name": NAME,
                                          "proxy_smtp_auth": True}])
    xclient = b"XCLIENT PROTO=ESMTP HELO=client.example ADDR=127.0.0.1 NAME=[UNAVAILABLE]\r\n"
    want = {
        "login": [xclient, b"EHLO client.example\r\n", b"AUTH LOGIN\r\n",
                  user_b64.encode() + b"\r\n", pass_b64.encode() + b"\r\n"],
        "none": [b"XCLIENT PROTO=ESMTP HELO=client.example ADDR=127.0.0.1 "
                 b"LOGIN=backend-carol NAME=[UNAVAILABLE]\r\n", b"EHLO client.example\r\n"],
        "plain": [xclient, b"EHLO client.example\r\n",
                  ("AUTH PLAIN %s\r\n" % b64("\0backend-carol\0backend pw")).encode()],
        None: [xclient, b"EHLO client.example\r\n",
               ("AUTH PLAIN %s\r\n" % b64("\0backend-carol\0backend pw")).encode()],
    }
    for m, lines in want.items():
        method["v"] = m
        with smtp_login(mp.ports["smtp"], "carol", "carolpw") as c:
            assert smtp_lines_until_last(c, 15) == b"235 2.0.0 OK\r\n", m
            c.cmd("MAIL FROM:<x@example.org>")
            assert smtp_lines_until_last(c) == b"250 2.1.0 Ok\r\n", m
        fs = fs_login if m == "login" else fs_other
        assert fs.lines() == lines + [b"MAIL FROM:<x@example.org>\r\n"], (m, fs.lines())


def test_invalid_auth_method_is_an_error(ctx):
    """An Auth-Method the proxy cannot follow: the client gets the internal error and
    nothing reaches the backend; the log names the header."""
    fs, srv = start_fake_smtp(ctx)
    fa = ctx.fake_auth(respond=ok_to(srv.port, extra=[("Auth-Method", "cram-md5")]))
    mp = ctx.mailproxy(auth=fa, servers=[{"protocol": "smtp", "server_name": NAME,
                                          "proxy_smtp_auth": True}])
    with smtp_login(mp.ports["smtp"], "alice", "alicepw") as c:
        assert c.readline(timeout=15) == SMTP_INTERNAL
    mp.wait_log(r"auth http server sent invalid Auth-Method")
    assert srv.connections == 0, "no backend connection"


def test_auth_service_method_option(ctx):
    """The example service's users-file option: plain, login or none, else refused."""
    from harness.auth import auth_module
    m = auth_module()
    line = m.user_line("alice", "pw", method="login", iterations=1000)
    assert line.endswith(":method=login"), line
    assert m.parse_users(line)["alice"].method == "login"
    assert m.parse_users("bob:*")["bob"].method is None
    try:
        m.parse_users("carol:*:method=cram-md5", "u")
    except ValueError as e:
        assert str(e) == "u:1: method is plain, login or none", e
    else:
        raise AssertionError("method=cram-md5 accepted")


def test_auth_method_survives_the_auth_cache(ctx):
    """With auth_http_cache, the second login is answered from the cache: it must log in
    to the backend with the Auth-Method the service chose (AUTH LOGIN), not fall back
    to AUTH PLAIN. The recording backend sees the LOGIN dialogue both times; the auth
    service got one request."""
    user_b64, pass_b64 = b64("backend-carol"), b64("backend pw")
    fs, srv = start_fake_smtp(ctx, replies={
        "AUTH": "334 VXNlcm5hbWU6", user_b64.upper(): "334 UGFzc3dvcmQ6",
        pass_b64.upper(): "235 2.7.0 Authentication successful"})
    asked = []

    def respond(req):
        asked.append(1)
        return ok_to(srv.port)(req) + [("Auth-User", "backend-carol"),
                                       ("Auth-Pass", "backend pw"), ("Auth-Method", "login")]

    fa = ctx.fake_auth(respond=respond)
    mp = ctx.mailproxy(auth=fa, mail={"auth_http_cache": "shared:ac:1m valid=60s"},
                       servers=[{"protocol": "smtp", "server_name": NAME,
                                 "proxy_smtp_auth": True}])
    xclient = b"XCLIENT PROTO=ESMTP HELO=client.example ADDR=127.0.0.1 NAME=[UNAVAILABLE]\r\n"
    login = [xclient, b"EHLO client.example\r\n", b"AUTH LOGIN\r\n",
             user_b64.encode() + b"\r\n", pass_b64.encode() + b"\r\n"]
    for _ in range(2):
        with smtp_login(mp.ports["smtp"], "carol", "carolpw") as c:
            assert smtp_lines_until_last(c, 15) == b"235 2.0.0 OK\r\n"
            c.cmd("MAIL FROM:<x@example.org>")
            assert smtp_lines_until_last(c) == b"250 2.1.0 Ok\r\n"
        # The fake keeps the dialogue of its last connection.
        assert fs.lines() == login + [b"MAIL FROM:<x@example.org>\r\n"], fs.lines()
    assert len(asked) == 1, "the second login came from the cache"
