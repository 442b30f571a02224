"""The harness checks itself: real Dovecot/Postfix/Redis peers, the example auth
service (every method and fault flag), the fake servers (and the fake Redis), the
RESP codec, HAProxy and the MailProxy wrapper."""

import hashlib
import hmac
import imaplib
import os
import poplib
import re
import smtplib
import socket
import subprocess
import sys
import time
import uuid

from harness import (AUTH_SCRIPT, ClosedError, Incomplete, LineClient, ProtocolError,
                     RedisError, Status, auth_module, auth_request, client_tls_context,
                     decode, encode, encode_command, free_port, free_ports, is_listening,
                     pid_alive, resp_call, wait_until)


def uniq():
    return uuid.uuid4().hex[:12]


# ------------------------------------------------------------------ harness basics

def test_free_port(ctx):
    p = free_port()
    assert 1024 <= p <= 65535
    s = socket.socket()
    s.bind(("127.0.0.1", p))            # really free
    s.listen(1)
    try:
        assert wait_until(lambda: is_listening(p), 2, what="LISTEN in /proc/net/tcp")
    finally:
        s.close()
    ports = free_ports(5)
    assert len(set(ports)) == 5


# ------------------------------------------------------------------ Dovecot

def test_dovecot_imap_login_append_fetch(ctx):
    dv = ctx.dovecot()
    subject = "imap-%s" % uniq()
    dv.append("alice", "Subject: %s\r\n\r\nhello\r\n" % subject)
    m = imaplib.IMAP4("127.0.0.1", dv.imap_port, timeout=10)
    try:
        assert m.welcome.startswith(b"* OK")
        typ, _ = m.login("alice", "alicepw")
        assert typ == "OK"
        typ, data = m.select("INBOX")
        assert typ == "OK" and int(data[0]) >= 1
        typ, data = m.search(None, "SUBJECT", subject)
        assert typ == "OK" and data[0].split(), data
        typ, data = m.fetch(data[0].split()[-1], "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert subject.encode() in data[0][1]
    finally:
        m.logout()
    assert any(subject.encode() in msg for msg in dv.messages("alice"))


def test_dovecot_pop3_user_pass(ctx):
    dv = ctx.dovecot()
    dv.append("bob", "Subject: pop-%s\r\n\r\nbody\r\n" % uniq())
    p = poplib.POP3("127.0.0.1", dv.pop3_port, timeout=10)
    try:
        assert p.getwelcome().startswith(b"+OK")
        assert p.user("bob").startswith(b"+OK")
        assert p.pass_("bobpw").startswith(b"+OK")
        count, size = p.stat()
        assert count >= 1 and size > 0
    finally:
        p.quit()


def test_dovecot_apop_cram_md5_and_bad_password(ctx):
    dv = ctx.dovecot()
    p = poplib.POP3("127.0.0.1", dv.pop3_port, timeout=10)
    try:
        assert re.search(rb"<[^>]+>", p.getwelcome()), "no APOP timestamp in banner"
        assert p.apop("alice", "alicepw").startswith(b"+OK")
    finally:
        p.quit()
    m = imaplib.IMAP4("127.0.0.1", dv.imap_port, timeout=10)
    try:
        typ, _ = m.login_cram_md5("bob", "bobpw")
        assert typ == "OK"
    finally:
        m.logout()
    m = imaplib.IMAP4("127.0.0.1", dv.imap_port, timeout=10)
    t0 = time.monotonic()
    try:
        m.login("alice", "wrong")
        raise AssertionError("bad password accepted")
    except imaplib.IMAP4.error as e:
        assert "AUTHENTICATIONFAILED" in str(e) or "failed" in str(e).lower()
    finally:
        m.logout()
    assert time.monotonic() - t0 < 3, "auth failure delay not disabled"


def test_dovecot_private_instance_with_tls(ctx):
    dv = ctx.dovecot(users={"carol": "carolpw"}, ssl="yes")
    assert dv.imaps_port and dv.pop3s_port
    m = dv.imap("carol", tls=True)
    m.logout()
    m = imaplib.IMAP4("127.0.0.1", dv.imap_port, timeout=10)
    try:
        assert "STARTTLS" in m.capabilities
        m.starttls(ssl_context=client_tls_context())
        assert m.login("carol", "carolpw")[0] == "OK"
    finally:
        m.logout()
    pid = dv.pid
    dv.stop()
    assert not pid_alive(pid)


# ------------------------------------------------------------------ Postfix

def test_postfix_delivers_to_maildir(ctx):
    pf = ctx.postfix()
    subject = "smtp-%s" % uniq()
    with smtplib.SMTP("127.0.0.1", pf.smtp_port, timeout=10) as s:
        code, _ = s.ehlo("client.example")
        assert code == 250
        refused = s.sendmail("sender@example.org", ["alice@test.example"],
                             "From: sender@example.org\r\nTo: alice@test.example\r\n"
                             "Subject: %s\r\n\r\nhi\r\n" % subject)
        assert refused == {}
    msg = pf.wait_for_message(subject)
    assert b"Delivered-To: alice@test.example" in msg or b"alice@test.example" in msg


def test_postfix_xclient(ctx):
    pf = ctx.postfix()
    subject = "xclient-%s" % uniq()
    with smtplib.SMTP("127.0.0.1", pf.smtp_port, timeout=10) as s:
        s.ehlo("proxy.local")
        assert s.has_extn("xclient"), s.esmtp_features
        code, msg = s.docmd("XCLIENT", "ADDR=192.0.2.7 LOGIN=alice NAME=client.example")
        assert code == 220, (code, msg)
        s.ehlo_resp = s.helo_resp = None
        s.esmtp_features = {}
        s.ehlo("proxy.local")
        s.sendmail("alice@example.org", ["bob@test.example"],
                   "Subject: %s\r\n\r\nvia xclient\r\n" % subject)
    msg = pf.wait_for_message(subject)
    assert b"Authenticated sender: alice" in msg, msg[:800]
    assert b"192.0.2.7" in msg
    pf.wait_log("sasl_username=alice")
    pf.wait_log("client.example[192.0.2.7]")


def test_dovecot_managesieve_and_lmtp_filing(ctx):
    """The sieve peers without the proxy: the shared Dovecot's managesieve (a script
    stored and activated by hand over the protocol), and a private Postfix delivering
    through its LMTP, where the script files the message."""
    import sieve_support as ss
    dv = ss.need_sieve(ctx.dovecot())
    user, pw = ss.fresh_user(dv)
    marker, folder = "lmtp-%s" % uniq(), "Sel-%s" % uniq()
    script = ss.FILTER % {"marker": marker, "folder": folder}
    with ss.SieveClient(dv.sieve_port) as c:
        caps = c.greeting().capabilities()
        assert "fileinto" in caps["SIEVE"].split() and "XCLIENT" in caps, caps
        assert c.authenticate(user, pw).ok
        assert c.command(b'PUTSCRIPT "f" ' + ss.literal(script)).ok
        assert c.command('SETACTIVE "f"').ok
        assert c.command("LOGOUT").ok
    assert ss.script_files(dv, user) == {"f": script.encode()}
    assert ss.active_script(dv, user) == "f"
    pf = ctx.postfix(lmtp=dv)
    with smtplib.SMTP("127.0.0.1", pf.smtp_port, timeout=10) as s:
        s.sendmail("sender@example.org", ["%s@test.example" % user],
                   "Subject: %s\r\n\r\nfiled\r\n" % marker)
    pf.wait_log("relay=127.0.0.1[127.0.0.1]:%d" % dv.lmtp_port)
    dv.wait_log(r"fileinto action: stored mail into mailbox '%s'" % re.escape(folder))
    m = dv.imap(user)
    assert m.select('"%s"' % folder, readonly=True)[0] == "OK"
    assert len(m.search(None, "SUBJECT", marker)[1][0].split()) == 1
    m.logout()
    assert pf.messages() == [], "nothing went to Postfix's own Maildir"


# ------------------------------------------------------------------ auth service

PORTS = dict(imap_port=1143, pop3_port=1110, smtp_port=1025)


def test_auth_plain_ok(ctx):
    auth = ctx.auth_service(**PORTS)
    r = auth.request(user="alice", password="alicepw", protocol="imap")
    assert r.code == 200 and r.status == "OK", r
    assert r.header("Auth-Server") == "127.0.0.1"
    assert r.header("Auth-Port") == "1143"
    assert r.header("Auth-Pass") is None and r.header("Auth-Wait") is None
    assert r.raw.startswith(b"HTTP/1.0 200")
    assert r.closed, "the service must close after one answer"
    for proto, port in (("pop3", "1110"), ("smtp", "1025")):
        r = auth.request(user="alice", password="alicepw", protocol=proto)
        assert r.status == "OK" and r.header("Auth-Port") == port, r
    auth.wait_log(re.escape('user="alice" protocol=imap method=plain client=192.0.2.7 '
                            'attempt=1 result=OK backend=127.0.0.1:1143'))
    auth.assert_not_logged(r"alicepw", after=r'user="alice" protocol=smtp ')


def test_auth_sieve_protocol(ctx):
    """Auth-Protocol: sieve gets the ManageSieve port: --sieve-port, 4190 by default,
    a --backend's sieve=P."""
    auth = ctx.auth_service(sieve_port=14190, **PORTS)
    r = auth.request(user="alice", password="alicepw", protocol="sieve")
    assert r.status == "OK" and r.header("Auth-Port") == "14190", r
    r = auth.request(user="alice", password="wrong", protocol="sieve")
    assert r.status == "Invalid login or password" and r.header("Auth-Error-Code") is None, r
    plain = ctx.auth_service(backends={"mailhost01": "127.0.0.3,sieve=24190",
                                       "mailhost02": "127.0.0.4"})
    r = plain.request(user="alice", password="alicepw", protocol="sieve")
    assert (r.header("Auth-Server"), r.header("Auth-Port")) == ("127.0.0.3", "24190"), r
    r = plain.request(user="bob", password="bobpw", protocol="sieve")
    assert (r.header("Auth-Server"), r.header("Auth-Port")) == ("127.0.0.4", "4190"), r
    auth.wait_log(re.escape('user="alice" protocol=sieve method=plain client=192.0.2.7 '
                            'attempt=1 result=OK backend=127.0.0.1:14190'))


def test_auth_plain_failures_and_wait(ctx):
    auth = ctx.auth_service(wait=1, max_attempts=3, **PORTS)
    r = auth.request(user="bob", password="wrong", protocol="imap", attempt=1)
    assert r.status == "Invalid login or password", r
    assert r.header("Auth-Wait") == "1"
    assert r.header("Auth-Server") is None and r.header("Auth-Error-Code") is None
    r = auth.request(user="bob", password="wrong", protocol="imap", attempt=3)
    assert r.header("Auth-Wait") == "1"
    r = auth.request(user="bob", password="wrong", protocol="imap", attempt=4)
    assert r.status == "Invalid login or password" and r.header("Auth-Wait") is None, r
    r = auth.request(user="bob", password="wrong", protocol="smtp")
    assert r.header("Auth-Error-Code") == "535 5.7.8", r
    r = auth.request(user="nobody-here", password="x")
    assert r.status == "Invalid login or password"
    r = auth.request(user="alice", password="")
    assert r.status == "Invalid login or password"
    r = auth.request(user="alice", password="alicepw", method="bogus")
    assert r.status == "Invalid login or password"
    auth.assert_not_logged(r"wrong", after=r'user="alice" protocol=imap method=bogus ')


def test_auth_routing_by_first_letter_and_overrides(ctx):
    users = {"alice": "a", "bob": "b", "carol": "c", "frank": "f", "gina": "g", "zed": "z",
             "dave": {"password": "d", "host": "mailhost01"},
             "ivan": {"password": "i", "host": "127.0.0.9"},
             "Alice2": "x"}
    auth = ctx.auth_service(users=users, backends={
        "mailhost01": "127.0.0.1", "mailhost02": "127.0.0.2,imap=2143"}, **PORTS)
    want = {"alice": ("127.0.0.1", "1143"), "carol": ("127.0.0.1", "1143"),
            "frank": ("127.0.0.1", "1143"), "gina": ("127.0.0.1", "1143"),
            "bob": ("127.0.0.2", "2143"), "zed": ("127.0.0.2", "2143"),
            "dave": ("127.0.0.1", "1143"), "ivan": ("127.0.0.9", "1143"),
            "Alice2": ("127.0.0.1", "1143")}
    for name, (ip, port) in want.items():
        pw = users[name] if isinstance(users[name], str) else users[name]["password"]
        r = auth.request(user=name, password=pw)
        assert r.status == "OK", (name, r)
        assert (r.header("Auth-Server"), r.header("Auth-Port")) == (ip, port), (name, r)
    r = auth.request(user="bob", password="b", protocol="pop3")
    assert (r.header("Auth-Server"), r.header("Auth-Port")) == ("127.0.0.2", "1110")


def test_auth_cram_md5_and_apop(ctx):
    auth = ctx.auth_service(**PORTS)
    salt = "<12345.1700000000@mail.example>"
    digest = hmac.new(b"alicepw", salt.encode(), "md5").hexdigest()
    r = auth.request(method="cram-md5", user="alice", password=digest, salt=salt)
    assert r.status == "OK", r
    assert r.header("Auth-Pass") == "alicepw", "CRAM-MD5 needs the backend password"
    r = auth.request(method="cram-md5", user="alice", password=digest.upper(), salt=salt)
    assert r.status == "OK", r
    r = auth.request(method="cram-md5", user="alice", password="0" * 32, salt=salt)
    assert r.status == "Invalid login or password" and r.header("Auth-Pass") is None
    r = auth.request(method="cram-md5", user="alice", password=digest, salt="<other@x>")
    assert r.status != "OK"

    apop = hashlib.md5(salt.encode() + b"bobpw").hexdigest()
    r = auth.request(method="apop", user="bob", password=apop, salt=salt, protocol="pop3")
    assert r.status == "OK" and r.header("Auth-Pass") == "bobpw", r
    assert r.header("Auth-Port") == "1110"
    r = auth.request(method="apop", user="bob", password=apop, salt=salt + "x",
                     protocol="pop3")
    assert r.status != "OK"
    # the salt header as nginx sends it (it carries its own CRLF) is trimmed
    r = auth.request(method="apop", user="bob", password=apop, salt=salt + " ",
                     protocol="pop3")
    assert r.status == "OK", r
    # a user without a stored cleartext secret cannot use challenge-response
    auth.add_user("nosecret", {"password": "pw"})
    d = hmac.new(b"pw", salt.encode(), "md5").hexdigest()
    r = auth.request(method="cram-md5", user="nosecret", password=d, salt=salt)
    assert r.status == "Invalid login or password", r


def test_auth_external_none_and_backend_identity(ctx):
    users = {"alice": "alicepw",
             "erin": {"password": None, "login": "erin@test.example", "passwd": "erinpw"},
             "bob": {"password": "bobpw", "login": "robert"}}
    auth = ctx.auth_service(users=users, **PORTS)
    ok = {"Auth-SSL": "on", "Auth-SSL-Verify": "SUCCESS",
          "Auth-SSL-Subject": "CN=erin,O=Test"}
    r = auth.request(method="external", user="erin", extra=ok)
    assert r.status == "OK", r
    assert r.header("Auth-User") == "erin@test.example" and r.header("Auth-Pass") == "erinpw"
    r = auth.request(method="external", user="erin",
                     extra=dict(ok, **{"Auth-SSL-Verify": "FAILED:certificate has expired"}))
    assert r.status != "OK"
    r = auth.request(method="external", user="erin", extra=dict(ok, **{
        "Auth-SSL-Subject": "CN=alice,O=Test"}))
    assert r.status != "OK"
    r = auth.request(method="external", user="erin")
    assert r.status != "OK"
    # "*" means: no password login for that user
    r = auth.request(user="erin", password="*")
    assert r.status != "OK"
    # Auth-User rename on a plain login
    r = auth.request(user="bob", password="bobpw")
    assert r.status == "OK" and r.header("Auth-User") == "robert", r
    # none: SMTP without authentication goes to the SMTP backend
    r = auth.request(method="none", protocol="smtp",
                     extra={"Auth-SMTP-Helo": "client.example",
                            "Auth-SMTP-From": "MAIL FROM:<a@example.org>",
                            "Auth-SMTP-To": "RCPT TO:<alice@test.example>"})
    assert r.status == "OK" and r.header("Auth-Port") == "1025", r
    assert r.header("Auth-Pass") is None


def test_auth_escaping_and_always_pass(ctx):
    pw = "p w%d+é"
    auth = ctx.auth_service(users={"alice": pw}, always_pass=True, **PORTS)
    r = auth.request(user="alice", password=pw)          # sent as p%20w%25d+é
    assert r.status == "OK", r
    assert r.header("Auth-Pass") == pw
    r = auth.request(user="alice", password="p w%d+e")
    assert r.status != "OK"
    # CR/LF smuggled through SASL never comes back as a header
    r = auth.request(user="alice", password=pw + "\r\nAuth-Status: OK")
    assert r.status != "OK" and b"\r\nAuth-Status: OK\r\nAuth-Status" not in r.raw


def test_auth_shared_secret(ctx):
    auth = ctx.auth_service(secret=("X-Auth-Key", "s3cret"), **PORTS)
    r = auth.request(user="alice", password="alicepw")
    assert r.code == 403, r
    assert r.status == "Temporary server problem, try again later"
    assert r.header("Auth-Server") is None and r.header("Auth-Wait") is None
    r = auth.request(user="alice", password="alicepw", extra={"X-Auth-Key": "wrong"})
    assert r.code == 403
    r = auth.request(user="alice", password="alicepw", extra={"X-Auth-Key": "s3cret"})
    assert r.code == 200 and r.status == "OK", r


def test_auth_fault_flags(ctx):
    a = ctx.auth_service(delay=1.0, **PORTS)
    r = a.request(user="alice", password="alicepw")
    assert r.status == "OK" and r.elapsed >= 0.95, r.elapsed

    a = ctx.auth_service(garbage=True, **PORTS)
    r = a.request(user="alice", password="alicepw")
    assert r.raw and not r.raw.startswith(b"HTTP/") and r.status is None and r.closed, r

    a = ctx.auth_service(status_500=True, **PORTS)
    r = a.request(user="alice", password="alicepw")
    assert r.code == 500 and r.status is None and r.closed, r

    a = ctx.auth_service(close=True, **PORTS)
    r = a.request(user="alice", password="alicepw")
    assert r.raw == b"" and r.closed, r

    a = ctx.auth_service(no_server=True, **PORTS)
    r = a.request(user="alice", password="alicepw")
    assert r.status == "OK" and r.header("Auth-Server") is None and r.header("Auth-Port") is None

    a = ctx.auth_service(oversize=True, **PORTS)
    r = a.request(user="alice", password="alicepw")
    assert r.status == "OK" and len(r.raw) > 1024


def test_auth_users_file_reload_and_cli(ctx):
    auth = ctx.auth_service(**PORTS)
    assert auth.request(user="newbie", password="np").status != "OK"
    time.sleep(0.02)
    auth.add_user("newbie", "np")
    assert auth.request(user="newbie", password="np").status == "OK"

    out = subprocess.run([sys.executable, AUTH_SCRIPT, "hash", "pw1", "--iterations", "1000"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    h = out.stdout.strip()
    assert h.startswith("pbkdf2_sha256$1000$")
    m = auth_module()
    assert m.check_hash(h, b"pw1") and not m.check_hash(h, b"pw2")
    s = m.make_hash("pw3", "scrypt")
    assert m.check_hash(s, b"pw3") and not m.check_hash(s, b"pw4")

    f = ctx.path("users")
    for args in (["u1", "pw1", "--secret", "--iterations", "1000"],
                 ["u2", "pw2", "--host", "mailhost02", "--login", "u,2", "--iterations", "1000"],
                 ["u1", "pw9", "--iterations", "1000"]):
        r = subprocess.run([sys.executable, AUTH_SCRIPT, "adduser", f] + args,
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr
    users = m.parse_users(open(f).read())
    assert set(users) == {"u1", "u2"}
    assert users["u1"].secret is None and m.check_hash(users["u1"].hash, b"pw9")
    assert users["u2"].host == "mailhost02" and users["u2"].login == "u,2"
    # the shipped example parses, and its documented passwords are right
    ex = m.parse_users(open(os.path.join(ctx.repo, "scripts", "auth_users.example")).read())
    assert m.check_hash(ex["alice"].hash, b"alicepw") and ex["alice"].secret == "alicepw"
    assert m.check_hash(ex["bob"].hash, b"bobpw") and ex["dave"].host == "mailhost01"


def test_auth_service_concurrent_requests(ctx):
    import threading
    auth = ctx.auth_service(delay=0.5, **PORTS)
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        auth.request(user="alice", password="alicepw").status)) for _ in range(8)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == ["OK"] * 8
    assert time.monotonic() - t0 < 3, "requests were not served concurrently"


# ------------------------------------------------------------------ fakes

def test_fake_servers(ctx):
    silent = ctx.fake_server("silent")
    with LineClient(silent.port, timeout=0.5) as c:
        c.send(b"hello\r\n")
        assert not c.closed(timeout=0.4)
    assert wait_until(lambda: silent.received and silent.received[0] == b"hello\r\n", 2)

    closing = ctx.fake_server("close")
    with LineClient(closing.port, timeout=2) as c:
        assert c.closed(timeout=2)
    assert closing.connections == 1

    banner = ctx.fake_server("banner", banner=b"* OK fake\r\n", then="close")
    with LineClient(banner.port) as c:
        c.expect("* OK fake")
        assert c.closed(timeout=2)

    fa = ctx.fake_auth(backend_port=4143)
    r = auth_request(fa.port, user="a b", password="p%q", attempt=2,
                     extra={"X-Auth-Key": "k"})
    assert r.status == "OK" and r.header("Auth-Port") == "4143"
    req = fa.requests[0]
    assert req.line == "GET /mail/auth HTTP/1.0"
    assert req.header("Auth-User") == "a%20b" and req.user == "a b"
    assert req.password == "p%q" and req.header("Auth-Login-Attempt") == "2"
    assert req.header("x-auth-key") == "k"

    hung = ctx.fake_auth(respond=lambda req: None)
    r = auth_request(hung.port, user="x", password="y", timeout=2)
    assert r.raw == b""


# ------------------------------------------------------------------ Redis

def raises(exc, fn, *args, **kw):
    """The exception fn(*args, **kw) raised; AssertionError unless it is an exc."""
    try:
        got = fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%s not raised (got %r)" % (exc, got))


def test_resp_codec(ctx):
    assert encode_command("SET", "k", 12, b"\x00") == \
        b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n$1\r\n\x00\r\n"
    value = [1, b"a\r\nb", None, [Status(b"OK"), -7], []]
    raw = encode(value)
    assert decode(raw) == (value, len(raw))
    assert decode(b"*-1\r\n$0\r\n\r\n") == (None, 5)
    assert decode(b"*-1\r\n$0\r\n\r\n", 5) == (b"", 11)
    err, _ = decode(b"-WRONGPASS invalid username-password pair\r\n")
    assert isinstance(err, RedisError) and err.code == "WRONGPASS"
    for partial in (b"", b"*3\r\n:1\r\n", b"$5\r\nab", b":12"):
        raises(Incomplete, decode, partial)
    for bad in (b"@@nonsense\r\n", b":1x\r\n", b"$2\r\nabc\r\n", b"$-2\r\n"):
        raises(ProtocolError, decode, bad)


def test_redis_commands_and_log(ctx):
    r = ctx.redis()
    assert pid_alive(r.pid) and is_listening(r.port, "127.0.0.1")
    assert r.cmd("PING") == b"PONG"
    assert r.cmd("SET", "k", "v") == b"OK" and r.cmd("GET", "k") == b"v"
    assert r.cmd("GET", "missing") is None
    assert r.cmd("INCR", "n") == 1 and r.cmd("RPUSH", "l", "a", "b") == 2
    assert r.cmd("LRANGE", "l", 0, -1) == [b"a", b"b"]
    assert r.keys() == [b"k", b"l", b"n"] and r.keys("l*") == [b"l"]
    assert raises(RedisError, r.cmd, "NOSUCHCOMMAND").code == "ERR"
    assert raises(RedisError, r.cmd, "INCR", "k").code == "ERR"
    assert r.flushall() == b"OK" and r.keys() == []
    assert r.cmd("CONFIG", "GET", "save") == [b"save", b""]
    assert r.cmd("CONFIG", "GET", "appendonly") == [b"appendonly", b"no"]
    r.wait_log(r"Ready to accept connections")
    assert r.stop() == 0 and not pid_alive(r.pid)


def test_redis_password_and_acl_user(ctx):
    r = ctx.redis(password='pw with "quotes" and spaces')
    assert r.cmd("SET", "k", "v") == b"OK" and r.cmd("GET", "k") == b"v"
    assert raises(RedisError, r.cmd, "GET", "k", auth=None).code == "NOAUTH"
    assert raises(RedisError, r.cmd, "PING", auth="wrong").code == "WRONGPASS"
    assert resp_call(r.port, "PING", auth=r.password) == b"PONG"

    a = ctx.redis(acl_user=("limits", "lim pw"))
    assert a.cmd("ACL", "WHOAMI") == b"limits"
    assert a.cmd("SET", "k", "v") == b"OK" and a.keys() == [b"k"]
    assert raises(RedisError, a.cmd, "GET", "k", auth=None).code == "NOAUTH"
    assert raises(RedisError, a.cmd, "PING", auth=("limits", "wrong")).code == "WRONGPASS"
    assert raises(RedisError, a.cmd, "PING", auth=("default", "")).code == "WRONGPASS"
    assert raises(RedisError, a.cmd, "PING", auth="lim pw").code == "WRONGPASS"


def test_redis_kill_restart_same_port(ctx):
    r = ctx.redis()
    port, pid = r.port, r.pid
    r.cmd("SET", "k", "v")
    r.kill()
    assert not pid_alive(pid) and not r.alive()
    raises(ConnectionRefusedError, r.cmd, "PING", timeout=2)
    r.restart()
    assert r.port == port and r.pid != pid and r.cmd("PING") == b"PONG"
    assert r.cmd("GET", "k") is None            # nothing persisted
    pid = r.pid
    r.restart()                                 # from running: stop, then start
    assert r.port == port and not pid_alive(pid) and r.cmd("PING") == b"PONG"

    fixed = free_port()
    f = ctx.redis(port=fixed, start=False)
    assert f.port == fixed and f.pid is None
    f.start()
    assert f.cmd("PING") == b"PONG"


def test_redis_freeze_thaw(ctx):
    r = ctx.redis(acl_user=("u", "p"))
    r.freeze()
    assert pid_alive(r.pid)
    raises(TimeoutError, r.cmd, "PING", timeout=0.5)   # connects (backlog), no answer
    r.thaw()
    assert r.cmd("PING") == b"PONG"
    r.freeze()                                  # stop() works on a frozen server too
    pid = r.pid
    assert r.stop() == 0 and not pid_alive(pid)


def test_fake_redis_modes(ctx):
    garbage = ctx.fake_redis("garbage")
    raises(ProtocolError, resp_call, garbage.port, "PING", timeout=2)
    with LineClient(garbage.port, timeout=2) as c:
        c.send(encode_command("GET", "k"))
        assert c.readline() == b"@@nonsense\r\n"
    garbage.wait_connections(2)
    garbage.wait_received(b"GET")

    half = ctx.fake_redis("half")
    e = raises(ClosedError, resp_call, half.port, "INCR", "k", timeout=2)
    assert e.data == b"*3\r\n:1\r\n"
    half.wait_received(b"INCR")

    hang = ctx.fake_redis("hang")
    raises(TimeoutError, resp_call, hang.port, "PING", timeout=0.5)
    hang.wait_received(b"PING")

    closing = ctx.fake_redis("close")
    with LineClient(closing.port, timeout=2) as c:
        assert c.closed(timeout=2)
    raises(ConnectionError, resp_call, closing.port, "PING", timeout=2)
    closing.wait_connections(2)
    assert closing.received == [b"", b""]            # closed before reading anything


def test_haproxy_runtime_api_and_checks(ctx):
    """HAProxy from a generated config: a health check that expects a greeting, a
    client through the frontend, the runtime API's server state, stat and set
    server state; a config haproxy -c refuses raises with its output."""
    from harness import HAProxy
    from harness.haproxy import ADMIN_FORCED_DRAIN, OP_DOWN, OP_UP
    fake = ctx.fake_server("banner", banner=b"* OK fake\r\n", then="close")
    port, dead = free_port(), free_port()
    h = ctx.haproxy(
        "defaults\n    mode tcp\n    option tcplog\n    log global\n"
        "    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n"
        "frontend f\n    bind 127.0.0.1:%d\n    default_backend b\n"
        "backend b\n    option tcp-check\n    tcp-check expect string \"* OK\"\n"
        "    server s1 127.0.0.1:%d check inter 200ms fall 1 rise 1\n"
        "    server s2 127.0.0.1:%d check inter 200ms fall 1 rise 1\n"
        % (port, fake.port, dead))
    h.wait_server("b", "s1", lambda r: r["srv_op_state"] == OP_UP)
    h.wait_server("b", "s2", lambda r: r["srv_op_state"] == OP_DOWN)
    with LineClient(port, timeout=5, source=("127.0.0.7", 0)) as c:
        assert c.readline() == b"* OK fake\r\n"
    st = h.server_stat("b", "s2")
    assert st["status"] == "DOWN" and st["check_status"] == "L4CON", st
    h.wait_log(r"(?m)^127\.0\.0\.7:\d+ \[[^\]]+\] f b/s1 ")
    h.set_state("b", "s1", "drain")
    assert h.servers("b")["s1"]["srv_admin_state"] & ADMIN_FORCED_DRAIN
    h.set_state("b", "s1", "ready")
    h.wait_server("b", "s1", lambda r: r["srv_admin_state"] == 0)
    e = raises(RuntimeError, HAProxy(ctx.path("bad"), "frontend f\n    bogus 1\n").start)
    assert "bogus" in str(e), e
    pid = h.pid
    assert h.stop() is not None and not pid_alive(pid)


# ------------------------------------------------------------------ the proxy wrapper

def test_mailproxy_config_generation(ctx):
    auth = ctx.fake_auth()
    mp = ctx.mailproxy(start=False, auth=auth, servers=[
        {"protocol": "imap"}, {"protocol": "pop3", "ssl_listen": True},
        {"protocol": "smtp", "smtp_auth": ["login", "plain"], "xclient": False}],
        mail={"auth_http_header": {"X-Auth-Key": "k"}, "timeout": "5s"})
    assert set(mp.ports) >= {"imap", "pop3", "pop3s", "smtp"}
    text = open(mp.config_path).read()
    assert "daemon: off" in text and "worker_processes: 2" in text
    assert '"%s debug"' % mp.error_log_path in text
    assert '"127.0.0.1:%d ssl"' % mp.ports["pop3"] in text
    assert 'auth_http: "%s"' % auth.url in text
    # the generated YAML is accepted by the binary's own checker (certs aside)
    text = text.replace('"127.0.0.1:%d ssl"' % mp.ports["pop3"],
                        '"127.0.0.1:%d"' % mp.ports["pop3"])
    open(mp.config_path, "w").write(text)
    r = ctx.cli("-t", "-p", mp.prefix, "-c", mp.config_path)
    assert r.rc == 0, r
    assert mp.check().rc == 0
    # YAML text is used verbatim, and its listen ports are found for the wait
    port = free_port()
    mp2 = ctx.mailproxy(start=False, config='mail:\n  auth_http: "%s"\n  servers:\n'
                        '    - listen: ["127.0.0.1:%d"]\n      protocol: pop3\n'
                        % (auth.url, port))
    assert mp2.wait_ports == [("127.0.0.1", port)] and mp2.listens[0][3] == "pop3"
    assert "daemon" not in mp2.yaml


def test_mailproxy_lifecycle(ctx):
    """Start, reload and stop a real master."""
    auth = ctx.fake_auth()
    mp = ctx.mailproxy(auth=auth, servers=[{"protocol": "imap"}, {"protocol": "pop3"},
                                           {"protocol": "smtp"}])
    for port in mp.ports.values():
        assert is_listening(port), port
    assert wait_until(lambda: mp.pidfile_pid() == mp.pid, 5, what="pid file")
    wait_until(lambda: len(mp.workers()) >= 2, 5, what="2 workers")
    with LineClient(mp.ports["imap"]) as c:
        c.expect("* OK")
    old = set(mp.workers())
    mp.reload()
    wait_until(lambda: mp.workers() and not (set(mp.workers()) & old), 10,
               what="new workers after HUP")
    with LineClient(mp.ports["imap"]) as c:
        c.expect("* OK")
    workers = mp.workers()
    assert mp.stop() == 0
    assert not any(pid_alive(w) for w in workers)


def test_end_to_end_imap_login_through_proxy(ctx):
    """The whole chain the harness exists for: imaplib -> mailproxy -> auth_service ->
    Dovecot."""
    dv = ctx.dovecot()
    subject = "e2e-%s" % uniq()
    dv.append("alice", "Subject: %s\r\n\r\nthrough the proxy\r\n" % subject)
    auth = ctx.auth_service(dovecot=dv)
    mp = ctx.mailproxy(auth=auth, servers=[{"protocol": "imap"}])
    m = imaplib.IMAP4("127.0.0.1", mp.ports["imap"], timeout=10)
    try:
        assert m.login("alice", "alicepw")[0] == "OK"
        assert m.select("INBOX")[0] == "OK"
        typ, data = m.search(None, "SUBJECT", subject)
        assert typ == "OK" and data[0].split(), data
    finally:
        m.logout()
    auth.wait_log(r'user="alice" protocol=imap method=plain')
    mp.wait_log(r'client logged in.*login: "alice"')
