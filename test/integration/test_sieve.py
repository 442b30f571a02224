"""ManageSieve (RFC 5804, `protocol: sieve`) through the proxy to the real Dovecot with
Pigeonhole's managesieve: the greeting and CAPABILITY lines the configuration asks
for, the real client sieve-connect (STARTTLS) listing, uploading, activating,
downloading (byte-identical) and deleting a script, the uploaded script filing a
message that Postfix delivers through Dovecot's LMTP, literals {n+} pipelined behind
AUTHENTICATE, SASL continuations and cancels, OAUTHBEARER and XOAUTH2, STARTTLS with
pipelined bytes discarded, `starttls only`, implicit TLS with ALPN, TLS to the
backend, `max_errors`, `max_commands`, `timeout`, `sieve_client_buffer`, a wrong
password (no backend login), the auth service down, and the client's address at the
auth service and the backend (PROXY protocol, XCLIENT).

Every test here needs a mailproxy built with `protocol: sieve`: against a binary
without it the proxy refuses the configuration and the test fails (it is not
skipped). Each test has users of its own (sieve_support.fresh_user), so scripts of
one test never show in another."""

import imaplib
import re
import smtplib
import ssl
import uuid

from harness import free_port, oauth_peers, oauthbearer, timeout, xoauth2
from sieve_support import (FILTER, SieveClient, active_script, b64, backend_login_rx,
                           check_sieve_connect, fresh_user, literal, need_sieve, plain,
                           quoted, script_files, setup, sieve_connect, sieve_server,
                           tls_client)
from tls_support import self_signed

LOGGED_IN = r"client logged in"


def _tls(ctx, **kw):
    cert, key = self_signed(ctx.path("pki"), "server", "localhost")
    d = {"ssl_certificate": cert, "ssl_certificate_key": key}
    d.update(kw)
    return d


def _logout(c):
    r = c.command("LOGOUT")
    assert r.ok, r
    assert c.closed(10), "the session stays open after LOGOUT"


def _backend_rx(user):
    """Any line of Dovecot's managesieve-login about user: a login ("Login:") or a
    refused one ("Disconnected (auth failed ...)"); one per connection that reached
    the backend with that user's credentials."""
    return r"managesieve-login: Info: .*\buser=<%s>" % re.escape(user)


def _sieve_disconnect_rx(user):
    """Dovecot's line when user's managesieve session ends (after its login line)."""
    return r"managesieve\(%s\)<\d+><[^>]*>: Info: Disconnected" % re.escape(user)


# ------------------------------------------------------------ the greeting

def test_sieve_greeting_and_capability_follow_the_config(ctx):
    """Default lines; configured lines with SASL from sieve_auth and STARTTLS from
    starttls; CAPABILITY repeats the greeting; after STARTTLS (the NOOP pipelined
    behind it discarded) the list comes again without STARTTLS, and a login works;
    after it CAPABILITY is the backend's."""
    dv, au, mp, port, [(user, pw)] = setup(ctx)
    mp2 = ctx.mailproxy(auth=au, servers=[sieve_server(**_tls(
        ctx, starttls="on", sieve_auth=["plain", "login"],
        sieve_capabilities=["IMPLEMENTATION Example Sieve 1.2", "SIEVE fileinto vacation",
                            "NOTIFY mailto", "VERSION 1.0"]))])

    with SieveClient(port) as c:
        caps = c.greeting().capabilities()
        assert caps["IMPLEMENTATION"] == "mailproxy", caps
        assert set(caps["SIEVE"].split()) >= {"fileinto", "vacation", "envelope"}, caps
        assert caps["VERSION"] == "1.0", caps
        assert caps["SASL"] == "PLAIN", caps          # sieve_auth's default
        assert "STARTTLS" not in caps, "STARTTLS without a certificate: %r" % caps
        again = c.command("CAPABILITY")
        assert again.ok and again.capabilities() == caps, again
        _logout(c)

    want = {"IMPLEMENTATION": "Example Sieve 1.2", "SIEVE": "fileinto vacation",
            "NOTIFY": "mailto", "VERSION": "1.0", "SASL": "PLAIN LOGIN", "STARTTLS": None}
    with SieveClient(mp2.ports["sieve"]) as c:
        g = c.greeting()
        assert g.capabilities() == want, g
        assert g.capabilities() == c.command("CAPABILITY").capabilities()
        c.send(b'STARTTLS\r\nNOOP "injected"\r\n')
        r = c.response()
        assert r.ok and not r.lines, r
        after = c.starttls_now().capabilities()
        del want["STARTTLS"]
        assert after == want, after
        noop = c.command('NOOP "after-tls"')
        assert noop.ok and b'"after-tls"' in noop.status, \
            "the NOOP pipelined before TLS was answered: %r" % noop
        r = c.authenticate(user, pw)
        assert r.ok, r
        r = c.command("LISTSCRIPTS")
        assert r.ok and r.lines == [], r
        # logged in, the session is relayed: the backend answers CAPABILITY
        caps = c.command("CAPABILITY").capabilities()
        assert "Pigeonhole" in caps["IMPLEMENTATION"] and "STARTTLS" not in caps, caps
        assert c.command('HAVESPACE "x" 100').ok
        _logout(c)
    mp2.wait_log(LOGGED_IN)
    dv.wait_log(backend_login_rx(user))


def test_sieve_commands_before_login(ctx):
    """NOOP with and without a tag, UNAUTHENTICATE and script commands refused before
    login, an unclosed quoted string refused, LOGOUT closing; then, as for IMAP
    (test_imap_invalid_commands_and_max_errors), the fifth invalid command (max_errors'
    default) is answered and the connection closes (a BYE may come first), without
    waiting for another command. The auth service is never asked."""
    dv, au, mp, port, _ = setup(ctx)
    with SieveClient(port) as c:
        c.greeting()
        r = c.command("NOOP")
        assert r.ok and r.code() is None, r
        r = c.command('NOOP "t1"')
        assert r.ok and r.code() == b'TAG "t1"', r
        for cmd in ("UNAUTHENTICATE", "LISTSCRIPTS", 'AUTHENTICATE "PLAIN" "unclosed'):
            r = c.command(cmd)
            assert r.kind == b"NO", (cmd, r)
        _logout(c)
    with SieveClient(port) as c:
        c.greeting()
        for cmd in ("XYZZY", 'GETSCRIPT "x"', "XYZZY", "NOOP x y z", "XYZZY"):
            r = c.command(cmd)
            assert r.kind == b"NO", (cmd, r)
        assert c.closed(5), "open after the fifth invalid command; buffered %r" % c.buf
        assert c.buf in (b"", b'BYE "Too many invalid commands."\r\n'), c.buf
    mp.wait_log(r"client sent too many invalid commands")
    au.assert_not_logged(r"protocol=sieve", after=au.sentinel())


def test_sieve_timeout_and_max_commands(ctx):
    """`timeout` closes an idle client before login (at most a BYE line first; the
    other protocols close silently); `max_commands` answers the command past the cap with BYE and
    closes."""
    dv, au, mp, port, _ = setup(ctx, timeout="1s", max_commands=3)
    with SieveClient(port) as c:
        c.greeting()
        assert c.closed(15), "an idle client is not closed by timeout: 1s"
        assert c.buf == b"" or (c.buf.startswith(b"BYE ") and c.buf.count(b"\n") == 1), c.buf
    mp.wait_log(r"client timed out")
    with SieveClient(port) as c:
        c.greeting()
        for _ in range(3):
            assert c.command("NOOP").ok
        r = c.command("NOOP")
        assert r.kind == b"BYE", r
        assert c.closed(10)
    mp.wait_log(r"client sent too many commands")


# ------------------------------------------------------------ the real client

@timeout(90)
def test_sieve_connect_upload_activate_download_delete_and_delivery(ctx):
    """sieve-connect over STARTTLS through the proxy: upload, list, activate, download
    byte for byte; the active script files a message Postfix delivers (LMTP to the
    same Dovecot) into its folder; then deactivate and delete."""
    dv, au, mp, port, [(user, pw)] = setup(ctx, **_tls(ctx, starttls="on"))
    pf = ctx.postfix(lmtp=dv)
    marker = "sieve-%s" % uuid.uuid4().hex[:12]
    folder = "Filed-%s" % marker[6:]
    local = ctx.path("filter.sieve")
    with open(local, "w") as f:
        f.write(FILTER % {"marker": marker, "folder": folder})
    text = open(local, "rb").read()

    def sc(*action):
        return check_sieve_connect(sieve_connect(port, user, pw, *action), action[0])

    def session(*commands):
        """One sieve-connect session running commands (its --exec: a Perl start
        costs about a second, so the steps share sessions)."""
        path = ctx.path("commands-%s" % uuid.uuid4().hex[:6])
        with open(path, "w") as f:
            f.write("".join(c + "\n" for c in commands))
        return [line for line in sc("--exec", path).splitlines() if line]

    sc("--upload", "--localsieve", local, "--remotesieve", "filing")
    assert script_files(dv, user) == {"filing": text}
    got = ctx.path("downloaded.sieve")
    out = session("list", "activate filing", "list", "get filing %s" % got)
    assert out == ['"filing"', '"filing" ACTIVE'], out
    assert active_script(dv, user) == "filing"
    assert open(got, "rb").read() == text

    with smtplib.SMTP(pf.host, pf.smtp_port, timeout=15) as s:
        s.sendmail("sender@example.org", ["%s@test.example" % user],
                   "From: sender@example.org\r\nTo: %s@test.example\r\nSubject: %s\r\n\r\n"
                   "filed by the script uploaded through mailproxy\r\n" % (user, marker))
    dv.wait_log(r"lmtp\(%s\)<\d+><[^>]*>: Info: sieve: .*fileinto action: stored mail "
                r"into mailbox '%s'" % (re.escape(user), re.escape(folder)))
    m = dv.imap(user)
    try:
        typ, _ = m.select('"%s"' % folder, readonly=True)
        assert typ == "OK"
        typ, data = m.search(None, "SUBJECT", marker)
        assert typ == "OK" and len(data[0].split()) == 1, data
        m.close()
        typ, _ = m.select("INBOX", readonly=True)
        typ, data = m.search(None, "SUBJECT", marker)
        assert data[0].split() == [], "also in INBOX: %r" % data
    finally:
        try:
            m.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    out = session("deactivate", "list", "delete filing")
    assert out == ['"filing"'], out
    assert active_script(dv, user) is None
    assert script_files(dv, user) == {}
    assert sc("--list").strip() == ""
    mp.wait_log(LOGGED_IN, count=4)
    dv.wait_log(backend_login_rx(user), count=4)


def test_sieve_connect_wrong_password_fails(ctx):
    dv, au, mp, port, [(user, pw)] = setup(ctx, **_tls(ctx, starttls="on"))
    r = sieve_connect(port, user, pw + "x", "--list")
    assert r.returncode != 0, (r.stdout, r.stderr)
    au.wait_request(user=user, protocol="sieve", result="fail")
    assert check_sieve_connect(sieve_connect(port, user, pw, "--list"), "list") == ""
    dv.assert_log_count(_backend_rx(user), 1, after=_sieve_disconnect_rx(user))


# ------------------------------------------------------------ raw dialogues

def test_sieve_literals_pipelined_behind_authenticate(ctx):
    """One write: AUTHENTICATE with a {n+} literal, PUTSCRIPT with a {n+} literal,
    SETACTIVE, GETSCRIPT, LISTSCRIPTS, LOGOUT; every answer comes, in order, and the
    script comes back byte for byte (CRLFs, a NUL-free UTF-8 line, a quote)."""
    dv, au, mp, port, [(user, pw)] = setup(ctx)
    script = ('require "fileinto";\r\n# "quoted" and \xfcmlaut\r\n'
              'if header :is "x-spam" "yes" { fileinto "Junk"; }\r\n').encode()
    with SieveClient(port) as c:
        c.greeting()
        c.send(b'AUTHENTICATE "PLAIN" ' + literal(plain(user, pw)) + b"\r\n" +
               b'PUTSCRIPT "my script" ' + literal(script) + b"\r\n" +
               b'SETACTIVE "my script"\r\nGETSCRIPT "my script"\r\n'
               b"LISTSCRIPTS\r\nLOGOUT\r\n")
        auth = c.response()
        assert auth.ok, auth
        for what in ("PUTSCRIPT", "SETACTIVE"):
            r = c.response()
            assert r.ok, (what, r)
        r = c.response()
        assert r.ok and r.literals == [script], r
        r = c.response()
        assert r.ok and r.lines == [b'"my script" ACTIVE\r\n'], r
        assert c.response().ok
        assert c.closed(10)
    assert script_files(dv, user) == {"my script": script}
    assert active_script(dv, user) == "my script"
    mp.wait_log(LOGGED_IN)


def test_sieve_authenticate_forms(ctx):
    """PLAIN as a quoted initial response, as a {n+} literal sent in two writes, and
    with no initial response (the empty challenge, answered by a quoted string, or
    by "*", which cancels); LOGIN with its two challenges; a literal announced past
    sieve_client_buffer ends the session with BYE."""
    dv, au, mp, port, [(user, pw)] = setup(ctx, sieve_auth=["plain", "login"])
    with SieveClient(port) as c:
        c.greeting()
        assert c.authenticate(user, pw, form="quoted").ok
        assert c.command("LISTSCRIPTS").ok
        _logout(c)
    with SieveClient(port) as c:
        c.greeting()
        data = literal(plain(user, pw))            # {n+} split across two writes
        c.send(b'AUTHENTICATE "PLAIN" ' + data[:len(data) // 2])
        c.send(data[len(data) // 2:] + b"\r\n")
        assert c.response().ok
        assert c.command('PUTSCRIPT "k" ' + quoted("keep;")).ok
        _logout(c)
    with SieveClient(port) as c:
        c.greeting()
        for _ in range(6):             # "*" cancels: NO, and not an error (max_errors 5)
            c.cmd('AUTHENTICATE "PLAIN"')
            assert c.readline() == b'""\r\n'
            r = c.command('"*"')
            assert r.kind == b"NO", r
        assert c.authenticate(user, pw, form="continuation").ok
        _logout(c)
    with SieveClient(port) as c:
        c.greeting()
        c.cmd('AUTHENTICATE "LOGIN"')
        prompts = []
        for answer in (user, pw):
            line = c.readline()
            prompts.append(line)
            assert line.startswith(b'"') or line.startswith(b"{"), line
            c.cmd(quoted(b64(answer)))
        r = c.response()
        assert r.ok, (prompts, r)
        r = c.command('GETSCRIPT "k"')
        assert r.ok and r.literals == [b"keep;"], r
        _logout(c)
    # a literal announced past sieve_client_buffer (1k here) closes at once
    small = ctx.mailproxy(auth=au, servers=[sieve_server(sieve_client_buffer="1k")])
    with SieveClient(small.ports["sieve"]) as c:
        c.greeting()
        c.send(b'AUTHENTICATE "PLAIN" {5000+}\r\n' + b"A" * 1500)
        r = c.response()
        assert r.kind == b"BYE", r
        assert c.closed(10)
    # LOGIN reaches the auth service as Auth-Method plain, as nginx sends it
    au.wait_request(user=user, protocol="sieve", method="plain", result="OK", count=4)
    dv.wait_log(backend_login_rx(user), count=4)


def test_sieve_oauthbearer_and_xoauth2(ctx):
    """sieve_auth with the OAuth mechanisms: SASL lists them; an expired token is
    refused (after the RFC 7628 error challenge for OAUTHBEARER) without a backend
    login; a token the auth service issued logs in with each (Dovecot's oauth2 passdb
    checks it again)."""
    dv, au = oauth_peers(ctx, sieve=True)
    mp = ctx.mailproxy(auth=au, servers=[sieve_server(
        sieve_auth=["plain", "oauthbearer", "xoauth2"])])
    port = mp.ports["sieve"]
    with SieveClient(port) as c:
        caps = c.greeting().capabilities()
        assert caps["SASL"].split() == ["PLAIN", "OAUTHBEARER", "XOAUTH2"], caps
        c.cmd('AUTHENTICATE "OAUTHBEARER" "%s"' % oauthbearer("alice", au.token("alice", -60)))
        line = c.readline()
        if line.startswith((b'"', b"{")):        # the error challenge: answer, then NO
            c.cmd('"AQ=="')
        else:
            c.buf = line + c.buf
        r = c.response()
        assert r.kind == b"NO", (line, r)
    au.wait_request(user="alice", protocol="sieve", method="oauthbearer", result="fail")
    token = au.token("alice")
    for mech, msg in (("OAUTHBEARER", oauthbearer("alice", token)),
                      ("XOAUTH2", xoauth2("alice", token))):
        with SieveClient(port) as c:
            c.greeting()
            r = c.command('AUTHENTICATE "%s" "%s"' % (mech, msg))
            assert r.ok, (mech, r)
            assert c.command("LISTSCRIPTS").ok
            _logout(c)
    # Dovecot logs in order: the XOAUTH2 login vouches for everything before it
    dv.assert_log_count(r"managesieve-login: Info: Login: user=<alice>, method=OAUTHBEARER",
                        1, after=r"managesieve-login: Info: Login: user=<alice>, "
                                 r"method=XOAUTH2")


# ------------------------------------------------------------ TLS

def test_sieve_starttls_only_and_implicit_tls(ctx):
    """starttls only: the greeting offers STARTTLS, AUTHENTICATE before it is refused
    without asking the auth service, sieve-connect logs in after it. An ssl listen:
    ALPN "managesieve" chosen (offered without it, the handshake is refused), no
    STARTTLS offered, a login over TLS."""
    dv, au, mp, port, [(user, pw)] = setup(ctx, users=1, **_tls(ctx, starttls="only"))
    with SieveClient(port) as c:
        caps = c.greeting().capabilities()
        assert "STARTTLS" in caps and caps["SASL"] == "", caps    # no mechanism yet
        r = c.authenticate(user, pw)
        assert r.kind == b"NO", "login before STARTTLS under starttls only: %r" % r
        assert c.command("STARTTLS").ok
        caps = c.starttls_now().capabilities()
        assert "STARTTLS" not in caps and caps["SASL"] == "PLAIN", caps
        assert c.authenticate(user, pw).ok
        _logout(c)
    assert check_sieve_connect(sieve_connect(port, user, pw, "--list"), "list") == ""
    au.wait_request(user=user, protocol="sieve", result="OK", count=2)
    au.assert_log_count(r'user="%s" protocol=sieve ' % re.escape(user), 2,
                        after=au.sentinel())

    mp2 = ctx.mailproxy(auth=au, servers=[sieve_server(ssl_listen=True, **_tls(ctx))])
    with tls_client(mp2.ports["sieves"], alpn=["h2", "managesieve"]) as c:
        assert c.sock.selected_alpn_protocol() == "managesieve"
        caps = c.greeting().capabilities()
        assert "STARTTLS" not in caps and caps["SASL"] == "PLAIN", caps
        assert c.command("STARTTLS").kind == b"NO"
        assert c.authenticate(user, pw, form="literal").ok
        assert c.command('PUTSCRIPT "tls" ' + quoted("keep;")).ok
        _logout(c)
    assert script_files(dv, user) == {"tls": b"keep;"}
    mp2.wait_log(LOGGED_IN)
    try:                              # ALPN offered without managesieve: refused
        with tls_client(mp2.ports["sieves"], alpn=["imap", "sieve"]) as c:
            got = c.greeting()
    except (ssl.SSLError, OSError):
        pass
    else:
        raise AssertionError("ALPN imap, sieve was accepted: %r" % got)
    mp2.wait_log(r"TLS handshake failed")


def test_sieve_tls_to_the_backend(ctx):
    """proxy_ssl to Dovecot's implicit-TLS managesieve and proxy_starttls to its plain
    one, with a Dovecot that trusts no network, so a login without TLS is refused."""
    dv = ctx.dovecot(ssl="required", sieve=True,
                     extra_conf="login_trusted_networks =\nlisten = 127.0.0.1, 127.0.0.2\n")
    routes = {"ssl": dv.sieves_port, "starttls": dv.sieve_port, "plain": dv.sieve_port}
    auths = {k: ctx.fake_auth(respond=lambda req, p=p: [
        ("Auth-Status", "OK"), ("Auth-Server", "127.0.0.2"), ("Auth-Port", str(p))])
        for k, p in routes.items()}
    mp = ctx.mailproxy(servers=[
        sieve_server(proxy_ssl=True, auth_http=auths["ssl"].url),
        sieve_server(proxy_starttls=True, auth_http=auths["starttls"].url,
                     proxy_ssl_verify=True, proxy_ssl_trusted_certificate=dv.cert,
                     proxy_ssl_name="localhost"),
        sieve_server(auth_http=auths["plain"].url)], mail={"auth_http": auths["ssl"].url})
    results = {}
    for (name, _), (_, port, _, _) in zip(routes.items(), mp.listens):
        with SieveClient(port) as c:
            c.greeting()
            r = c.authenticate("alice", "alicepw")
            results[name] = r
            if r.ok:
                assert c.command("LISTSCRIPTS").ok
                _logout(c)
    assert results["ssl"].ok and results["starttls"].ok, results
    assert not results["plain"].ok, "Dovecot let a plaintext login in: %r" % results
    dv.wait_log(backend_login_rx("alice", tls=True), count=2)
    mp.wait_log(r"upstream TLS: TLSv1\.[23]")


# ------------------------------------------------------------ failures

def test_sieve_wrong_password_no_backend_login(ctx):
    """NO to a wrong password, the auth service asked, no login at Dovecot. With
    Auth-Wait: 1 the same connection then logs in; with Auth-Wait: 0 (no wait, as
    nginx reads it) the proxy closes after the NO."""
    dv, au, mp, port, [(user, pw)] = setup(ctx, auth_kw={"wait": 1})
    with SieveClient(port) as c:
        c.greeting()
        r = c.authenticate(user, "wrong")
        assert r.kind == b"NO", r
        au.wait_request(user=user, protocol="sieve", method="plain", result="fail")
        r = c.authenticate(user, pw)
        assert r.ok, "a retry on the same connection: %r" % r
        _logout(c)
    au.wait_request(user=user, protocol="sieve", method="plain", result="OK")
    dv.assert_log_count(_backend_rx(user), 1, after=_sieve_disconnect_rx(user))
    mp.wait_log(r'client login failed: "Invalid login or password"')

    au0 = ctx.auth_service(dovecot=dv, users={user: pw}, wait=0)
    mp0 = ctx.mailproxy(auth=au0, servers=[sieve_server()])
    with SieveClient(mp0.ports["sieve"]) as c:
        c.greeting()
        r = c.authenticate(user, "wrong")
        assert r.kind == b"NO", r
        assert c.closed(10)
    with SieveClient(mp0.ports["sieve"]) as c:     # Dovecot's sentinel: a later login
        c.greeting()
        assert c.authenticate(user, pw).ok
        _logout(c)
    dv.assert_log_count(_backend_rx(user), 2, after=_sieve_disconnect_rx(user),
                        after_count=2)


@timeout(60)
def test_sieve_auth_service_down(ctx):
    """Nothing listens at auth_http: a TRYLATER answer (NO or BYE), then the session
    either goes on or is closed (never hangs), twice; the proxy lives on."""
    dv, au, mp, port, [(user, pw)] = setup(ctx)
    dead = "127.0.0.1:%d/mail/auth" % free_port()
    mp2 = ctx.mailproxy(servers=[sieve_server()], mail={"auth_http": dead})
    for _ in range(2):
        with SieveClient(mp2.ports["sieve"]) as c:
            c.greeting()
            r = c.authenticate(user, pw)
            assert r.kind in (b"NO", b"BYE") and r.code() == b"TRYLATER", r
            if r.kind == b"BYE":
                assert c.closed(10)
                continue
            try:                          # after NO: the session goes on, or it ends
                noop = c.command("NOOP")
            except (BrokenPipeError, ConnectionResetError):
                continue
            if noop.kind == b"":
                assert c.closed(10)
            else:
                assert noop.ok, noop
                _logout(c)
    mp2.wait_log(r"connect\(\) to auth http server failed")
    assert mp2.alive()
    with SieveClient(port) as c:                  # the other proxy is untouched
        c.greeting()
        assert c.authenticate(user, pw).ok
        _logout(c)


# ------------------------------------------------------------ the client's address

def test_sieve_client_address_reaches_auth_and_backend(ctx):
    """A client on 127.0.0.2: Client-IP at the auth service; at Dovecot through the
    PROXY protocol (its managesieve listener that takes the header), and through
    XCLIENT, which Dovecot's managesieve announces to its login_trusted_networks; with
    `xclient: off` Dovecot sees the proxy's address."""
    dv = need_sieve(ctx.dovecot())
    user, pw = fresh_user(dv)
    au_pp = ctx.auth_service(users={user: pw}, sieve_port=dv.sieve_haproxy_port)
    au = ctx.auth_service(users={user: pw}, dovecot=dv)
    mp = ctx.mailproxy(auth=au, servers=[
        sieve_server(proxy_protocol=True, auth_http=au_pp.url), sieve_server(),
        sieve_server(xclient=False)])
    rips = []
    for _, port, _, _ in mp.listens:
        with SieveClient(port, source=("127.0.0.2", 0)) as c:
            c.greeting()
            assert c.authenticate(user, pw).ok
            assert c.command("LISTSCRIPTS").ok
            _logout(c)
        m = dv.wait_log(r"managesieve-login: Info: Login: user=<%s>, method=PLAIN, "
                        r"rip=([\d.]+)," % re.escape(user), count=len(rips) + 1)
        rips.append(m.group(1))
    assert rips == ["127.0.0.2", "127.0.0.2", "127.0.0.1"], \
        "PROXY protocol, XCLIENT, xclient off: %r" % rips
    for a in (au_pp, au):
        a.wait_log(r'user="%s" protocol=sieve method=plain client=127\.0\.0\.2 .*result=OK'
                   % re.escape(user))
