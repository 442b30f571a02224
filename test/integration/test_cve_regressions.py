"""One regression test (or more) per published CVE of a mail proxy's class, each named
after its CVE id: nginx's mail-module CVEs (CVE-2014-3556, CVE-2025-53859,
CVE-2026-27651, CVE-2026-28753, CVE-2021-23017, CVE-2026-1642, CVE-2025-23419 /
CVE-2014-3616) and Dovecot's pre-login ones (CVE-2026-27857 / CVE-2026-42006,
CVE-2025-59028). mailproxy was never affected by most of them; each test drives the
real binary into the situation of the CVE and asserts the safe behaviour, so that a
regression fails here (and, run with --sanitizer, under ASan+UBSan).

Peers: the shared Dovecot for IMAP/POP3 logins, a recording fake auth service
(harness FakeAuth), a scripted SMTP backend and a fake DNS server (smtp_support), and
TLS backends written here. Everything is on loopback; no assertion measures time:
"the worker was not stalled" is proved by the order of events (another client's
login completes while the hostile one is mid-command). The machine-level halves are
in test/unit/test_cve_classes.c."""

import base64
import hashlib
import hmac
import os
import re
import socket
import ssl
import struct
import threading
import time
import uuid

from harness import LineClient, free_port, wait_until
from smtp_support import FakeDNS, _qname, smtp_lines_until_last, start_fake_smtp
from tls_support import CA, IMAP_GREETING, POP3_GREETING, client_context, self_signed

SMTP_GREETING = b"220 mx.cve.test ESMTP ready\r\n"
IMAP_INTERNAL = b"* BAD internal server error\r\n"
POP3_INTERNAL = b"-ERR internal server error\r\n"
SMTP_INTERNAL = b"451 4.3.2 Internal server error\r\n"
# What a host name may look like once it leaves the resolver (nginx 1.29.7).
SAFE_HOST = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[UNAVAILABLE\]|\[TEMPUNAVAIL\])$")
BRACKETED = ("[UNAVAILABLE]", "[TEMPUNAVAIL]")


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def unb64(line):
    return base64.b64decode(line.strip())


def uniq():
    return uuid.uuid4().hex[:12]


def _backend_router(dv=None, smtp_port=None, passwd=None):
    """respond() for FakeAuth: OK to Dovecot (IMAP/POP3) or the SMTP backend, with
    Auth-Pass when the proxy has no password of its own (APOP, CRAM-MD5)."""
    def respond(req):
        proto = req.header("Auth-Protocol")
        port = {"imap": dv and dv.imap_port, "pop3": dv and dv.pop3_port,
                "smtp": smtp_port}[proto]
        h = [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"), ("Auth-Port", str(port))]
        if passwd is not None:
            h.append(("Auth-Pass", passwd))
        return h
    return respond


def _same_workers(mp, before):
    """The master is alive and its workers are the ones from `before`: none of them
    died (and was replaced) on the way."""
    assert mp.alive(), "the master is gone:\n%s" % mp.describe()
    now = sorted(mp.workers())
    assert now == before, "a worker died and was respawned: %s -> %s\n%s" % (
        before, now, mp.describe())


def _read_reply(c, tag):
    """IMAP lines up to the tagged reply of `tag` (bytes), or up to EOF."""
    lines = []
    for _ in range(1000):
        line = c.readline()
        if not line:
            return lines
        lines.append(line)
        if line.startswith(tag + b" "):
            return lines
    raise AssertionError("no tagged reply to %r in 1000 lines" % tag)


def _imap_login_ok(port, user="alice", password="alicepw"):
    """A whole IMAP login through the proxy (to Dovecot) on a new connection."""
    with LineClient(port) as c:
        assert c.readline() == IMAP_GREETING
        c.cmd("g1 LOGIN %s %s" % (user, password))
        last = _read_reply(c, b"g1")[-1]
        assert last.startswith(b"g1 OK"), last
        c.cmd("g2 LOGOUT")
        _read_reply(c, b"g2")


def _pop3_login_ok(port, user="alice", password="alicepw"):
    with LineClient(port) as c:
        assert c.readline().startswith(POP3_GREETING)
        c.cmd("USER " + user)
        assert c.readline() == b"+OK\r\n"
        c.cmd("PASS " + password)
        line = c.readline()
        assert line.startswith(b"+OK"), line
        c.cmd("QUIT")
        c.readline()


def _smtp_login_ok(port):
    with LineClient(port) as c:
        assert c.readline().startswith(b"220 ")
        c.cmd("EHLO good.example")
        smtp_lines_until_last(c)
        c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
        assert smtp_lines_until_last(c) == b"235 2.0.0 OK\r\n"
        c.cmd("QUIT")
        smtp_lines_until_last(c)


# =============================================================== CVE-2014-3556
# nginx 1.5.6-1.7.3: SMTP commands pipelined after STARTTLS in the same plaintext
# packet were executed inside the TLS session. The three protocols: the injected
# command would be answered first after the handshake, or reach the auth service.

def _starttls_proxy(ctx, protocol):
    cert, key = self_signed(ctx.path("pki"), "server", "localhost")
    dv = ctx.dovecot()
    fs, srv = start_fake_smtp(ctx)
    fa = ctx.fake_auth(respond=_backend_router(dv, srv.port))
    mp = ctx.mailproxy(auth=fa, servers=[{
        "protocol": protocol, "starttls": True, "ssl_certificate": cert,
        "ssl_certificate_key": key, "server_name": "mx.cve.test",
        "smtp_auth": ["plain", "none"]}])
    return mp, fa, mp.ports[protocol]


def _handshake_or_refused(c):
    """STARTTLS on a LineClient whose plaintext injection came in a later segment: the
    proxy either discarded it (the handshake works) or read it as the start of the
    handshake (which then fails). Returns True when TLS is up."""
    try:
        c.starttls()
        return True
    except (ssl.SSLError, OSError):
        return False


def test_cve_2014_3556_imap_pipelined_after_starttls(ctx):
    mp, fa, port = _starttls_proxy(ctx, "imap")
    with LineClient(port) as c:
        assert c.readline() == IMAP_GREETING
        c.send(b"a STARTTLS\r\nb LOGIN alice alicepw\r\nb2 CAPABILITY\r\n")
        assert c.readline() == b"a OK completed\r\n"
        c.starttls()
        c.cmd("c NOOP")
        first = c.readline()
        assert first == b"c OK completed\r\n", \
            "the first reply inside TLS answers an injected command: %r" % first
        c.cmd("d LOGIN alice alicepw")
        assert _read_reply(c, b"d")[-1].startswith(b"d OK")
        c.cmd("e LOGOUT")
        _read_reply(c, b"e")
    fa.sync()
    assert len(fa.requests) == 1, "the injected LOGIN reached the auth service: %r" % \
        fa.requests
    assert fa.requests[0].header("Auth-SSL") == "on"
    # the injection in its own write, racing the STARTTLS answer
    with LineClient(port) as c:
        assert c.readline() == IMAP_GREETING
        c.send(b"a STARTTLS\r\n")
        c.send(b"b LOGIN alice alicepw\r\n")
        assert c.readline() == b"a OK completed\r\n"
        if _handshake_or_refused(c):
            c.cmd("c NOOP")
            assert c.readline() == b"c OK completed\r\n"
    fa.sync()
    assert len(fa.requests) == 1, fa.requests
    _imap_login_ok(port)        # the proxy is fine (and this one is plaintext)
    fa.sync()
    assert len(fa.requests) == 2 and fa.requests[1].header("Auth-SSL") is None


def test_cve_2014_3556_pop3_pipelined_after_stls(ctx):
    mp, fa, port = _starttls_proxy(ctx, "pop3")
    with LineClient(port) as c:
        assert c.readline().startswith(POP3_GREETING)
        c.send(b"STLS\r\nUSER mallory\r\nPASS injected\r\n")
        assert c.readline() == b"+OK\r\n"
        c.starttls()
        # Had the injected USER been taken, this PASS would log in as mallory.
        c.cmd("PASS alicepw")
        first = c.readline()
        assert first == b"-ERR invalid command\r\n", \
            "PASS right after the handshake must find no USER: %r" % first
        c.cmd("USER alice")
        assert c.readline() == b"+OK\r\n"
        c.cmd("PASS alicepw")
        assert c.readline().startswith(b"+OK")
        c.cmd("QUIT")
        c.readline()
    fa.sync()
    assert [r.user for r in fa.requests] == ["alice"], fa.requests
    assert "mallory" not in fa.requests[0].raw.decode("latin-1")
    with LineClient(port) as c:
        assert c.readline().startswith(POP3_GREETING)
        c.send(b"STLS\r\n")
        c.send(b"USER mallory\r\nPASS injected\r\n")
        assert c.readline() == b"+OK\r\n"
        if _handshake_or_refused(c):
            c.cmd("PASS alicepw")
            assert c.readline() == b"-ERR invalid command\r\n"
    fa.sync()
    assert len(fa.requests) == 1, fa.requests


def test_cve_2014_3556_smtp_pipelined_after_starttls(ctx):
    """smtp_auth none: an injected MAIL/RCPT pair would reach the auth service and
    the backend; the RCPT sent first after the handshake must find no MAIL."""
    mp, fa, port = _starttls_proxy(ctx, "smtp")
    with LineClient(port) as c:
        assert c.readline() == SMTP_GREETING
        c.cmd("EHLO before.example")
        smtp_lines_until_last(c)
        c.send(b"STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n"
               b"RCPT TO:<victim@test.example>\r\n")
        assert c.readline() == b"220 2.0.0 Start TLS\r\n"
        c.starttls()
        c.cmd("RCPT TO:<bob@test.example>")
        first = c.readline()
        assert first == b"503 5.5.1 Bad sequence of commands\r\n", \
            "an injected MAIL was taken inside TLS: %r" % first
        c.cmd("EHLO after.example")
        ehlo = smtp_lines_until_last(c)
        assert ehlo.startswith(b"250-mx.cve.test\r\n") and b"STARTTLS" not in ehlo, ehlo
        c.cmd("MAIL FROM:<alice@test.example>")
        assert c.readline() == b"250 2.0.0 OK\r\n"
        c.cmd("RCPT TO:<bob@test.example>")
        assert c.readline() == b"250 2.1.5 Ok\r\n"
        c.cmd("QUIT")
    fa.sync()
    assert len(fa.requests) == 1, fa.requests
    req = fa.requests[0]
    assert req.header("Auth-Method") == "none" and req.header("Auth-SSL") == "on"
    assert req.header("Auth-SMTP-Helo") == "after.example"
    assert req.header("Auth-SMTP-From") == "MAIL FROM:<alice@test.example>"
    assert req.header("Auth-SMTP-To") == "RCPT TO:<bob@test.example>"
    assert b"evil" not in req.raw and b"victim" not in req.raw and b"before" not in req.raw
    with LineClient(port) as c:
        assert c.readline() == SMTP_GREETING
        c.send(b"STARTTLS\r\n")
        c.send(b"MAIL FROM:<injected@evil.example>\r\n")
        assert c.readline() == b"220 2.0.0 Start TLS\r\n"
        if _handshake_or_refused(c):
            c.cmd("RCPT TO:<bob@test.example>")
            assert c.readline() == b"503 5.5.1 Bad sequence of commands\r\n"
    fa.sync()
    assert len(fa.requests) == 1, fa.requests


# =============================================================== CVE-2025-53859
# nginx 1.29.0 and older, smtp_auth none: a crafted AUTH left login/password state
# behind that pointed into freed or foreign memory, and the MAIL/RCPT "login" then
# sent those bytes to the auth service. Here every header of the none request must
# be exactly what this client sent, after every kind of abandoned AUTH, with long
# and odd HELO/MAIL/RCPT arguments, while other sessions send secrets meanwhile.

# Without a resolver, SMTP's Client-Host is "[UNAVAILABLE]" (nginx).
NONE_HEADERS = ["Host", "Auth-Method", "Auth-User", "Auth-Pass", "Auth-Protocol",
                "Auth-Login-Attempt", "Client-IP", "Client-Host", "Auth-SMTP-Helo",
                "Auth-SMTP-From", "Auth-SMTP-To"]


def _raw_headers(req):
    """[(name, value bytes)] of a recorded request, values exactly as sent."""
    head = req.raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    out = []
    for line in head:
        name, sep, value = line.partition(b":")
        assert sep, "a header line without a colon: %r" % line
        assert value.startswith(b" "), line
        out.append((name.decode("ascii"), value[1:]))
    return out


def test_cve_2025_53859_smtp_auth_none_sends_only_what_the_client_sent(ctx):
    fs, srv = start_fake_smtp(ctx)

    def respond(req):
        if req.header("Auth-Method") == "none":
            return [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                    ("Auth-Port", str(srv.port))]
        if req.header("Auth-User").startswith("mallory"):
            # Auth-Wait: 1 keeps the session for the next try (0 would close it, as nginx)
            return [("Auth-Status", "Invalid login or password"), ("Auth-Wait", "1")]
        return [("Auth-Status", "Invalid login or password")]

    fa = ctx.fake_auth(respond=respond)
    mp = ctx.mailproxy(auth=fa, main={"worker_processes": 1}, servers=[{
        "protocol": "smtp", "server_name": "mx.cve.test",
        "smtp_auth": ["none", "plain", "login", "cram-md5"]}])
    port = mp.ports["smtp"]
    workers = sorted(mp.workers())
    secrets = []

    def other_session(i):
        """Concurrent sessions on the same worker that send a secret password (no
        Auth-Wait: each is answered and closed)."""
        secret = "S3cr3t-%s-%s" % (i, uniq())
        secrets.append(secret)
        with LineClient(port) as o:
            o.readline()
            o.cmd("AUTH PLAIN " + b64("\0otheruser%d\0%s" % (i, secret)))
            assert smtp_lines_until_last(o).startswith(b"535 ")
            assert o.closed()
        with LineClient(port) as o:
            o.readline()
            o.cmd("AUTH LOGIN " + b64("otherlogin%d" % i))
            assert o.readline() == b"334 UGFzc3dvcmQ6\r\n"
            o.cmd(b64(secret + "-login"))
            assert smtp_lines_until_last(o).startswith(b"535 ")

    # long, odd and near-limit arguments (the client buffer is a page, 4 KB)
    cases = [
        (b"client.example", b"MAIL FROM:<alice@example.org>", b"RCPT TO:<bob@test.example>"),
        (b"h\xc3\xa9llo-" + b"x" * 230 + b".example",
         b"MAIL FROM:<sender+tag@example.org>   SIZE=12345   BODY=8BITMIME",
         b'RCPT TO:<"odd local"@test.example> NOTIFY=NEVER ORCPT=rfc822;x+40y'),
        (b"[127.0.0.1]", b"MAIL FROM:<>", b"RCPT TO:<postmaster>"),
        (b"h" * 1000, b"MAIL FROM:<" + b"m" * 3900 + b"@example.org>",
         b"RCPT TO:<" + b"r" * 3900 + b"@test.example>"),
        (b"%41%0d%0a\x7f\xff", b"MAIL FROM:<%0d%0aX-Evil:@example.org>",
         b"RCPT TO:<\x01\x02@test.example>"),
    ]
    for i, (helo, mail, rcpt) in enumerate(cases):
        before = len(fa.requests)
        with LineClient(port) as c:
            assert c.readline() == SMTP_GREETING
            c.send(b"EHLO " + helo + b"\r\n")
            assert smtp_lines_until_last(c).startswith(b"250-mx.cve.test\r\n")
            # a complete AUTH PLAIN that fails (Auth-Wait 1: the client may go on)
            c.cmd("AUTH PLAIN " + b64("authz\0mallory%d\0pw-%s" % (i, uniq())))
            assert smtp_lines_until_last(c) == b"535 5.7.0 Invalid login or password\r\n"
            other_session(i)
            # AUTH LOGIN abandoned after the user name, with garbage
            c.cmd("AUTH LOGIN")
            assert c.readline() == b"334 VXNlcm5hbWU6\r\n"
            c.cmd(b64("mallory-login-%d" % i))
            assert c.readline() == b"334 UGFzc3dvcmQ6\r\n"
            c.cmd("*not base64*")
            assert c.readline().startswith(b"5")
            # CRAM-MD5 with an answer that is not "user digest"
            c.cmd("AUTH CRAM-MD5")
            assert c.readline().startswith(b"334 ")
            c.cmd(b64("x" * 300))
            assert c.readline().startswith(b"5")
            # PLAIN without the password part, PLAIN with NUL in the password
            c.cmd("AUTH PLAIN " + b64("\0" + "A" * 300))
            assert c.readline().startswith(b"5")
            c.cmd("AUTH PLAIN " + b64(b"\0mallory\0pw\0tail"))
            assert c.readline().startswith(b"5")
            # MAIL, RSET, MAIL again: only the last one counts
            c.cmd("MAIL FROM:<first-%d@example.org>" % i)
            assert c.readline() == b"250 2.0.0 OK\r\n"
            c.cmd("RSET")
            assert c.readline() == b"250 2.0.0 OK\r\n"
            c.send(mail + b"\r\n")
            assert c.readline() == b"250 2.0.0 OK\r\n"
            c.send(rcpt + b"\r\n")
            assert c.readline() == b"250 2.1.5 Ok\r\n", "the backend's RCPT answer"
            c.cmd("QUIT")
        reqs = fa.requests[before:]
        none = [r for r in reqs if r.header("Auth-Method") == "none"]
        assert len(none) == 1, reqs
        req = none[0]
        headers = _raw_headers(req)
        assert [n for n, _v in headers] == NONE_HEADERS, headers
        values = dict(headers)
        assert values["Auth-User"] == b"" and values["Auth-Pass"] == b"", headers
        assert values["Auth-Protocol"] == b"smtp" and values["Client-IP"] == b"127.0.0.1"
        assert values["Client-Host"] == b"[UNAVAILABLE]" and values["Host"] == b"127.0.0.1"
        assert values["Auth-Login-Attempt"] == b"2", "the failed PLAIN was attempt 1"
        assert values["Auth-SMTP-Helo"] == helo, (values["Auth-SMTP-Helo"], helo)
        assert values["Auth-SMTP-From"] == mail, values["Auth-SMTP-From"][:200]
        assert values["Auth-SMTP-To"] == rcpt, values["Auth-SMTP-To"][:200]
        assert req.raw.endswith(b"\r\n\r\n") and req.raw.count(b"\r\n") == \
            len(NONE_HEADERS) + 2, req.raw[-300:]
        for leftover in [b"mallory", b"pw-", b"authz", b"first-%d@" % i, b"A" * 50] + \
                [s.encode() for s in secrets] + [b"otheruser", b"otherlogin"]:
            assert leftover not in req.raw, "%r reached the none request: %r" % (
                leftover, req.raw[:600])
        # the backend got the same MAIL and RCPT lines, verbatim
        lines = fs.lines(-1)
        assert mail + b"\r\n" in lines and rcpt + b"\r\n" in lines, lines
    _same_workers(mp, workers)


# =============================================================== CVE-2026-27651
# nginx 1.29.6 and older: with CRAM-MD5 or APOP and an auth service that makes the
# client wait and retry (Auth-Wait), the retry used a password/salt state that the
# failed attempt had half cleared: a segfault. Both retry paths are driven: the
# error with Auth-Wait (the client tries again on the same connection) and
# "Auth-Status: WAIT" (the proxy asks again by itself after Auth-Wait seconds).

class AuthPlan:
    """A FakeAuth respond(): checks CRAM-MD5 / APOP digests against the Auth-Salt it
    was sent (password `secret`); `steps` decides each answer in turn:
      "check"     OK (with Auth-Pass for the backend) if the digest or password is
                  right, else an error with Auth-Wait: 0
      "fail-wait" an error with Auth-Wait: 1, whatever was sent
      "wait"      Auth-Status: WAIT, Auth-Wait: 1 (the proxy must ask again)"""

    def __init__(self, ports, secret="alicepw"):
        self.ports, self.secret = ports, secret
        self.steps = []
        self.seen = []

    def good(self, req):
        method, salt, pw = req.header("Auth-Method"), req.header("Auth-Salt"), req.password
        if method == "cram-md5":
            return salt is not None and pw == hmac.new(self.secret.encode(), salt.encode(),
                                                      "md5").hexdigest()
        if method == "apop":
            return salt is not None and pw == hashlib.md5((salt + self.secret).encode()
                                                          ).hexdigest()
        return pw == self.secret

    def __call__(self, req):
        step = self.steps.pop(0) if self.steps else "check"
        self.seen.append((step, req))
        if step == "wait":
            return [("Auth-Status", "WAIT"), ("Auth-Wait", "1")]
        if step == "check" and self.good(req):
            return [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                    ("Auth-Port", str(self.ports[req.header("Auth-Protocol")])),
                    ("Auth-Pass", self.secret)]
        return [("Auth-Status", "Invalid login or password"),
                ("Auth-Wait", "1" if step == "fail-wait" else "0")]


def _cram(challenge_line, prefix, user, secret):
    salt = unb64(challenge_line[len(prefix):])
    assert re.match(rb"^<[^>]+>$", salt), salt
    return salt, b64("%s %s" % (user, hmac.new(secret.encode(), salt, "md5").hexdigest()))


def _same_attempt(a, b):
    """The proxy's second request after Auth-Status: WAIT is the same attempt again."""
    for h in ("Auth-Method", "Auth-User", "Auth-Pass", "Auth-Salt", "Auth-Login-Attempt"):
        assert a.header(h) == b.header(h), (h, a, b)


def _plan_proxy(ctx, protocol, **server):
    dv = ctx.dovecot()
    fs, srv = start_fake_smtp(ctx)
    plan = AuthPlan({"imap": dv.imap_port, "pop3": dv.pop3_port, "smtp": srv.port})
    fa = ctx.fake_auth(respond=plan)
    s = {"protocol": protocol, "server_name": "mx.cve.test"}
    s.update(server)
    mp = ctx.mailproxy(auth=fa, main={"worker_processes": 1}, servers=[s])
    return mp, plan, mp.ports[protocol]


def test_cve_2026_27651_imap_cram_md5_auth_wait_retry(ctx):
    mp, plan, port = _plan_proxy(ctx, "imap", imap_auth=["plain", "login", "cram-md5"])
    workers = sorted(mp.workers())
    with LineClient(port) as c:
        assert c.readline() == IMAP_GREETING
        # 1. a wrong digest: error + Auth-Wait, the client tries again
        plan.steps = ["fail-wait"]
        c.cmd("a AUTHENTICATE CRAM-MD5")
        salt1, answer = _cram(c.readline(), b"+ ", "alice", "wrong")
        c.cmd(answer)
        assert c.readline() == b"a NO Invalid login or password\r\n"
        # 2. the right one, answered WAIT first: the proxy asks again by itself
        plan.steps = ["wait", "check"]
        c.cmd("b AUTHENTICATE CRAM-MD5")
        salt2, answer = _cram(c.readline(), b"+ ", "alice", "alicepw")
        c.cmd(answer)
        assert _read_reply(c, b"b")[-1].startswith(b"b OK"), "logged in to Dovecot"
        c.cmd("c SELECT INBOX")
        assert _read_reply(c, b"c")[-1].startswith(b"c OK")
        c.cmd("d LOGOUT")
        _read_reply(c, b"d")
    steps = [(s, r.header("Auth-Salt"), r.header("Auth-Login-Attempt")) for s, r in plan.seen]
    assert steps == [("fail-wait", salt1.decode(), "1"), ("wait", salt2.decode(), "2"),
                     ("check", salt2.decode(), "2")], steps
    _same_attempt(plan.seen[1][1], plan.seen[2][1])
    assert plan.seen[1][1].user == "alice"
    # CRAM-MD5 failing with Auth-Wait, then LOGIN: no salt may follow a plain login;
    # LOGIN failing, then CRAM-MD5: the salt is this exchange's challenge.
    plan.seen = []
    with LineClient(port) as c:
        assert c.readline() == IMAP_GREETING
        plan.steps = ["fail-wait", "fail-wait", "wait", "check"]
        c.cmd("a AUTHENTICATE CRAM-MD5")
        salt1, answer = _cram(c.readline(), b"+ ", "alice", "wrong")
        c.cmd(answer)
        assert c.readline() == b"a NO Invalid login or password\r\n"
        c.cmd("b LOGIN alice wrong")
        assert c.readline() == b"b NO Invalid login or password\r\n"
        c.cmd("c AUTHENTICATE CRAM-MD5")
        salt3, answer = _cram(c.readline(), b"+ ", "alice", "alicepw")
        c.cmd(answer)
        assert _read_reply(c, b"c")[-1].startswith(b"c OK")
        c.cmd("d LOGOUT")
        _read_reply(c, b"d")
    methods = [(r.header("Auth-Method"), r.header("Auth-Salt")) for _s, r in plan.seen]
    assert methods == [("cram-md5", salt1.decode()), ("plain", None),
                       ("cram-md5", salt3.decode()), ("cram-md5", salt3.decode())], methods
    assert plan.seen[1][1].password == "wrong"
    _same_attempt(plan.seen[2][1], plan.seen[3][1])
    _same_workers(mp, workers)


def test_cve_2026_27651_pop3_apop_and_cram_md5_auth_wait_retry(ctx):
    mp, plan, port = _plan_proxy(ctx, "pop3", pop3_auth=["plain", "apop", "cram-md5"])
    workers = sorted(mp.workers())

    def apop(ts, secret):
        return "APOP alice " + hashlib.md5(ts + secret.encode()).hexdigest()

    # APOP wrong (error + Auth-Wait), APOP right answered WAIT then OK
    with LineClient(port) as c:
        g = c.readline()
        ts = re.search(rb"<[^>]+>", g).group(0)
        plan.steps = ["fail-wait", "wait", "check"]
        c.cmd(apop(ts, "wrong"))
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        c.cmd(apop(ts, "alicepw"))
        assert c.readline().startswith(b"+OK"), "logged in to Dovecot"
        c.cmd("STAT")
        assert c.readline().startswith(b"+OK ")
        c.cmd("QUIT")
        c.readline()
    salts = [(s, r.header("Auth-Method"), r.header("Auth-Salt")) for s, r in plan.seen]
    assert salts == [("fail-wait", "apop", ts.decode()), ("wait", "apop", ts.decode()),
                     ("check", "apop", ts.decode())], salts
    _same_attempt(plan.seen[1][1], plan.seen[2][1])
    # CRAM-MD5 wrong, then APOP: the greeting's timestamp, not the CRAM challenge;
    # APOP wrong, then CRAM-MD5: that exchange's challenge.
    plan.seen = []
    with LineClient(port) as c:
        g = c.readline()
        ts = re.search(rb"<[^>]+>", g).group(0)
        plan.steps = ["fail-wait", "wait", "check"]
        c.cmd("AUTH CRAM-MD5")
        salt1, answer = _cram(c.readline(), b"+ ", "alice", "wrong")
        c.cmd(answer)
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        c.cmd(apop(ts, "alicepw"))
        assert c.readline().startswith(b"+OK")
        c.cmd("QUIT")
        c.readline()
    got = [(r.header("Auth-Method"), r.header("Auth-Salt")) for _s, r in plan.seen]
    assert got == [("cram-md5", salt1.decode()), ("apop", ts.decode()),
                   ("apop", ts.decode())], got
    plan.seen = []
    with LineClient(port) as c:
        g = c.readline()
        ts = re.search(rb"<[^>]+>", g).group(0)
        plan.steps = ["fail-wait", "wait", "check"]
        c.cmd(apop(ts, "wrong"))
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        c.cmd("AUTH CRAM-MD5")
        salt2, answer = _cram(c.readline(), b"+ ", "alice", "alicepw")
        c.cmd(answer)
        assert c.readline().startswith(b"+OK")
        c.cmd("QUIT")
        c.readline()
    got = [(r.header("Auth-Method"), r.header("Auth-Salt")) for _s, r in plan.seen]
    assert got == [("apop", ts.decode()), ("cram-md5", salt2.decode()),
                   ("cram-md5", salt2.decode())], got
    _same_attempt(plan.seen[1][1], plan.seen[2][1])
    _same_workers(mp, workers)


def test_cve_2026_27651_smtp_cram_md5_auth_wait_retry(ctx):
    mp, plan, port = _plan_proxy(ctx, "smtp", smtp_auth=["plain", "login", "cram-md5"])
    workers = sorted(mp.workers())
    with LineClient(port) as c:
        assert c.readline() == SMTP_GREETING
        c.cmd("EHLO client.example")
        assert b"CRAM-MD5" in smtp_lines_until_last(c)
        plan.steps = ["fail-wait", "fail-wait", "wait", "check"]
        c.cmd("AUTH CRAM-MD5")
        salt1, answer = _cram(c.readline(), b"334 ", "alice", "wrong")
        c.cmd(answer)
        assert c.readline() == b"535 5.7.0 Invalid login or password\r\n"
        c.cmd("AUTH LOGIN " + b64("alice"))
        assert c.readline() == b"334 UGFzc3dvcmQ6\r\n"
        c.cmd(b64("wrong"))
        assert c.readline() == b"535 5.7.0 Invalid login or password\r\n"
        c.cmd("AUTH CRAM-MD5")
        salt3, answer = _cram(c.readline(), b"334 ", "alice", "alicepw")
        c.cmd(answer)
        assert c.readline() == b"235 2.0.0 OK\r\n"
        c.cmd("QUIT")
    got = [(s, r.header("Auth-Method"), r.header("Auth-Salt")) for s, r in plan.seen]
    assert got == [("fail-wait", "cram-md5", salt1.decode()), ("fail-wait", "plain", None),
                   ("wait", "cram-md5", salt3.decode()),
                   ("check", "cram-md5", salt3.decode())], got
    _same_attempt(plan.seen[2][1], plan.seen[3][1])
    _same_workers(mp, workers)


# =============================================================== CVE-2026-28753
# nginx 1.29.6 and older: the PTR name of an SMTP client went raw into the auth_http
# request (Client-Host) and into XCLIENT NAME=, so a PTR record with CR/LF injected
# headers or commands. Every odd byte in a PTR name (and in a CNAME met by the
# forward lookup) must leave the name out: only a valid host name or a bracketed
# placeholder may reach either.

class ScriptedDNS(FakeDNS):
    """smtp_support's FakeDNS, answering with whatever `respond(query, qtype, qname)`
    returns: a list of raw packets (sent in order), or [] for silence."""

    def __init__(self, respond):
        super().__init__("good")
        self.respond = respond

    def _loop(self):
        for _ in range(1000000):
            if self._stop.is_set():
                return
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                qname, off = _qname(data, 12)
                qtype = struct.unpack("!H", data[off:off + 2])[0]
            except (IndexError, struct.error):
                continue
            self.queries.append((qtype, qname))
            for pkt in self.respond(data, qtype, qname):
                try:
                    self.sock.sendto(pkt, peer)
                except OSError:
                    pass


def start_dns(ctx, respond):
    d = ScriptedDNS(respond).start()
    ctx.cleanup(d.stop)
    return d


def wire_name(labels):
    return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"


def dns_reply(q, answers=(), ancount=None, rcode=0, qid=None, question=None, tail=b""):
    """A response to query q: answers are raw RRs; the header's counts, id and
    question may lie."""
    qid0, flags = struct.unpack("!HH", q[:4])
    _n, off = _qname(q, 12)
    if question is None:
        question = q[12:off + 4]
    body = b"".join(answers)
    return struct.pack("!HHHHHH", qid0 if qid is None else qid,
                       0x8480 | (flags & 0x0100) | rcode, 1,
                       len(answers) if ancount is None else ancount, 0, 0) + question + body + tail


def rr(rtype, rdata, name=b"\xc0\x0c", rdlength=None, ttl=60):
    return name + struct.pack("!HHIH", rtype, 1, ttl,
                              len(rdata) if rdlength is None else rdlength) + rdata


def rdata_offset(q):
    """Where the first answer's RDATA starts in a reply to q (name is a pointer)."""
    _n, off = _qname(q, 12)
    return off + 4 + 2 + 10


PTR_Q = b"1.0.0.127.in-addr.arpa"


def answer_a_for(names, addr="127.0.0.1"):
    """respond() part: A for any of `names` (lower-case bytes) -> addr."""
    def a(q, qname):
        if qname.lower() in names:
            return [dns_reply(q, [rr(1, socket.inet_aton(addr))])]
        return [dns_reply(q, rcode=3)]
    return a


def _resolver_proxy(ctx, dns):
    fs, srv = start_fake_smtp(ctx)
    fa = ctx.fake_auth(respond=lambda req: [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                                            ("Auth-Port", str(srv.port))])
    mp = ctx.mailproxy(auth=fa, main={"worker_processes": 1}, servers=[{
        "protocol": "smtp", "server_name": "mx.cve.test", "resolver": dns.address,
        "resolver_timeout": "2s", "smtp_auth": ["plain", "none"]}])
    return mp, fa, fs


def _smtp_session(mp, fa, fs, none=False):
    """One SMTP login from 127.0.0.1; returns (auth request, backend lines)."""
    nreq, nsess = len(fa.requests), len(fs.sessions)
    with LineClient(mp.ports["smtp"], timeout=20) as c:
        assert c.readline() == SMTP_GREETING
        c.cmd("EHLO client.example")
        smtp_lines_until_last(c)
        if none:
            c.cmd("MAIL FROM:<a@example.org>")
            assert c.readline() == b"250 2.0.0 OK\r\n"
            c.cmd("RCPT TO:<b@test.example>")
            assert c.readline() == b"250 2.1.5 Ok\r\n"
        else:
            c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
            assert smtp_lines_until_last(c) == b"235 2.0.0 OK\r\n"
        c.cmd("QUIT")
        smtp_lines_until_last(c)
    fa.sync()
    assert len(fa.requests) == nreq + 1, fa.requests[nreq:]
    wait_until(lambda: len(fs.sessions) == nsess + 1, 10, what="the backend session")
    xclient = fs.wait_line(b"XCLIENT ", i=nsess)
    return fa.requests[-1], fs.lines(nsess), xclient


def _assert_no_injection(req, lines, xclient, host_want=None):
    """Client-Host and XCLIENT NAME= are one safe token, the same in both; nothing
    else came along (no extra header, no extra backend line)."""
    host = req.header("Client-Host")
    assert host is not None and SAFE_HOST.match(host), "Client-Host %r" % host
    names = [n for n, _v in _raw_headers(req)]
    assert names.count("Client-Host") == 1, names
    assert set(names) <= set(NONE_HEADERS), names
    assert re.match(rb"^XCLIENT PROTO=ESMTP HELO=client\.example ADDR=127\.0\.0\.1 "
                    rb"(LOGIN=alice )?NAME=(\S+)\r\n$", xclient), xclient
    assert xclient.rstrip(b"\r\n").rsplit(b" NAME=", 1)[1] == host.encode(), (xclient, host)
    for line in lines:
        assert not re.search(rb"evil|injected", line, re.I), "backend got %r" % line
        assert line.endswith(b"\r\n") and b"\r" not in line[:-2], line
    assert not re.search(rb"evil|injected", req.raw, re.I), req.raw
    if host_want is not None:
        assert host == host_want, (host, host_want)
    return host


def test_cve_2026_28753_ptr_names_never_reach_auth_http_or_xclient_raw(ctx):
    state = {"ptr": None, "a": None}

    def respond(q, qtype, qname):
        if qtype == 12 and qname.lower() == PTR_Q:
            return [dns_reply(q, [rr(12, wire_name(state["ptr"]))])]
        if qtype == 1:
            return state["a"](q, qname)
        return [dns_reply(q, rcode=3)]

    dns = start_dns(ctx, respond)
    mp, fa, fs = _resolver_proxy(ctx, dns)
    workers = sorted(mp.workers())
    hostile = [
        [b"evil", b"example\r\nX-Injected: 1"],
        [b"evil\r\nMAIL FROM:<injected@x>", b"example"],
        [b"evil\nX-Injected: 1", b"example"],
        [b"evil\rX-Injected: 1", b"example"],
        [b"evil\x00injected", b"example"],
        [b"evil host", b"example"],
        [b"evil\thost", b"example"],
        [b"evil%0d%0aX-Injected:", b"example"],
        [b"evil:1", b"example"],
        [b"ev\xc3\xa9l", b"example"],
        [b"evil\x7f", b"example"],
        [b"evil.example\r\nX-Injected: 1", b"x"],       # a dot inside a label
        [b"evil_host", b"example"],
        [b"evil/host", b"example"],
        [b"*", b"evil", b"example"],
    ]
    for labels in hostile:
        name = b".".join(labels).lower()
        state["ptr"] = labels
        state["a"] = answer_a_for({name, name.rstrip(b".")})
        for none in (False, True):
            req, lines, xclient = _smtp_session(mp, fa, fs, none=none)
            host = _assert_no_injection(req, lines, xclient)
            assert host in BRACKETED, (labels, host)
    # A good PTR name whose forward lookup goes through a CNAME to a hostile name:
    # what reaches the auth service must still be a valid host name.
    good = [b"client", b"test", b"example"]
    for target in ([b"evil\r\nX-Injected: 1", b"example"], [b"evil host", b"example"],
                   [b"evil_host", b"example"], [b"ev\xc3\xa9l", b"example"]):
        state["ptr"] = good

        def a_cname(q, qname, target=target):
            if qname.lower() == b"client.test.example":
                return [dns_reply(q, [rr(5, wire_name(target)),
                                      rr(1, socket.inet_aton("127.0.0.1"),
                                         name=wire_name(target))])]
            return [dns_reply(q, rcode=3)]
        state["a"] = a_cname
        req, lines, xclient = _smtp_session(mp, fa, fs)
        _assert_no_injection(req, lines, xclient)
    # and the plain good name still comes through, exactly
    state["ptr"] = good
    state["a"] = answer_a_for({b"client.test.example"})
    req, lines, xclient = _smtp_session(mp, fa, fs)
    _assert_no_injection(req, lines, xclient, host_want="client.test.example")
    _same_workers(mp, workers)


# =============================================================== CVE-2021-23017
# nginx 0.6.18-1.20.0: a 1-byte overwrite in the DNS response parser (names with
# compression pointers), CVE-2016-0742/0746/0747 before it (bad pointers, CNAME
# loops). mailproxy parses answers with c-ares; hostile answers must end in a
# placeholder or the right name, never a crash or a corrupted name, and the worker
# goes on resolving correctly afterwards.

def _ptr_cases():
    """(label, respond-to-PTR, names acceptable besides the placeholders)."""
    c = []

    def ptr_raw(rdata, **kw):
        return lambda q: [dns_reply(q, [rr(12, rdata(q) if callable(rdata) else rdata)], **kw)]

    def self_loop(q):
        o = rdata_offset(q)
        return bytes([0xC0 | (o >> 8), o & 0xFF])

    def loop_via_label(q):
        o = rdata_offset(q)
        return b"\x01a" + bytes([0xC0 | (o >> 8), o & 0xFF])

    def pointer_to_pointer_chain(q):
        o = rdata_offset(q)
        # 120 pointers, each to the next; the last one to a real name
        chain = b""
        for i in range(120):
            nxt = o + 2 * (i + 1)
            chain += bytes([0xC0 | (nxt >> 8), nxt & 0xFF])
        return chain + wire_name([b"chain", b"test", b"example"])

    c.append(("compression pointer to itself", ptr_raw(self_loop), set()))
    c.append(("compression loop through a label", ptr_raw(loop_via_label), set()))
    c.append(("pointer beyond the message", ptr_raw(b"\xc3\xff"), set()))
    c.append(("pointer into the header", ptr_raw(b"\xc0\x02"), set()))
    c.append(("120 chained pointers", ptr_raw(pointer_to_pointer_chain),
              {"chain.test.example"}))
    c.append(("label length 64 (reserved type)", ptr_raw(b"\x40" + b"a" * 64 + b"\0"), set()))
    c.append(("label length 0x80 (reserved type)", ptr_raw(b"\x80" + b"a" * 20 + b"\0"), set()))
    c.append(("label running past the end", ptr_raw(b"\x3fabc"), set()))
    c.append(("no terminating zero", ptr_raw(b"\x03abc"), set()))
    c.append(("name of 320 bytes", ptr_raw(wire_name([b"a" * 63] * 5)), set()))
    c.append(("name of 254 characters", ptr_raw(wire_name([b"a" * 63] * 3 + [b"b" * 62])), set()))
    c.append(("RDLENGTH past the end", lambda q: [dns_reply(
        q, [rr(12, wire_name([b"x", b"example"]), rdlength=400)])], set()))
    c.append(("RDLENGTH shorter than the name", lambda q: [dns_reply(
        q, [rr(12, wire_name([b"short", b"test", b"example"]), rdlength=3)])],
        {"short.test.example"}))
    c.append(("ANCOUNT 5, one answer", lambda q: [dns_reply(
        q, [rr(12, wire_name([b"one", b"test", b"example"]))], ancount=5)],
        {"one.test.example"}))
    c.append(("ANCOUNT 65535, no answer", lambda q: [dns_reply(q, [], ancount=65535)], set()))
    c.append(("40 PTR answers", lambda q: [dns_reply(
        q, [rr(12, wire_name([b"n%d" % i, b"test", b"example"])) for i in range(40)])],
        {"n%d.test.example" % i for i in range(40)}))
    c.append(("answers larger than asked (3 KB of extra records)", lambda q: [dns_reply(
        q, [rr(12, wire_name([b"big", b"test", b"example"]))] +
        [rr(16, b"\xff" + b"t" * 255) for _ in range(12)])], {"big.test.example"}))
    c.append(("truncated header", lambda q: [q[:2] + b"\x84"], set()))
    c.append(("junk and wrong ids first, then the answer", lambda q: [
        b"", b"\x00" * 5, dns_reply(q, [rr(12, wire_name([b"evil\r\n", b"x"]))],
                                    qid=(struct.unpack("!H", q[:2])[0] ^ 0x5555)),
        dns_reply(q, [rr(12, wire_name([b"spoofed", b"example"]))], question=b"\x03bad\x00"
                  b"\x00\x0c\x00\x01"),
        dns_reply(q, [rr(12, wire_name([b"real", b"test", b"example"]))])],
        {"real.test.example"}))
    c.append(("only a mismatched id", lambda q: [dns_reply(
        q, [rr(12, wire_name([b"spoofed", b"example"]))],
        qid=(struct.unpack("!H", q[:2])[0] ^ 1))], set()))
    c.append(("a PTR answer of length 0", lambda q: [dns_reply(q, [rr(12, b"")])], set()))
    return c


def test_cve_2021_23017_hostile_dns_answers_never_crash_or_corrupt(ctx):
    state = {"ptr": None, "a": None}

    def respond(q, qtype, qname):
        if qtype == 12 and qname.lower() == PTR_Q:
            return state["ptr"](q)
        if qtype == 1:
            return state["a"](q, qname)
        return [dns_reply(q, rcode=3)]

    dns = start_dns(ctx, respond)
    mp, fa, fs = _resolver_proxy(ctx, dns)
    workers = sorted(mp.workers())
    max_name = [b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 61]            # 253 characters
    good_a = answer_a_for({b"chain.test.example", b"short.test.example", b"one.test.example",
                           b"big.test.example", b"real.test.example",
                           b".".join(max_name)} |
                          {b"n%d.test.example" % i for i in range(40)})
    results = []
    for label, ptr, allowed in _ptr_cases():
        state["ptr"], state["a"] = ptr, good_a
        req, lines, xclient = _smtp_session(mp, fa, fs)
        host = _assert_no_injection(req, lines, xclient)
        results.append((label, host))
        assert host in BRACKETED or host in allowed, (label, host)
    # hostile answers to the forward lookup
    ok_ptr = lambda q: [dns_reply(q, [rr(12, wire_name([b"fwd", b"test", b"example"]))])]
    fwd = [
        ("A of 3 bytes", lambda q, n: [dns_reply(q, [rr(1, b"\x7f\x00\x00")])]),
        ("A of 16 bytes", lambda q, n: [dns_reply(q, [rr(1, b"\x7f\x00\x00\x01" * 4)])]),
        ("CNAME to itself", lambda q, n: [dns_reply(q, [rr(5, b"\xc0\x0c")])]),
        ("CNAME loop a->b->a", lambda q, n: [dns_reply(q, [
            rr(5, wire_name([b"b", b"example"])),
            rr(5, b"\xc0\x0c", name=wire_name([b"b", b"example"]))])]),
        ("200 A records, the match last", lambda q, n: [dns_reply(
            q, [rr(1, socket.inet_aton("10.0.%d.%d" % (i // 250, i % 250 + 1)))
                for i in range(200)] + [rr(1, socket.inet_aton("127.0.0.1"))])]),
    ]
    for label, a in fwd:
        state["ptr"], state["a"] = ok_ptr, a
        req, lines, xclient = _smtp_session(mp, fa, fs)
        host = _assert_no_injection(req, lines, xclient)
        results.append((label, host))
        # (a 3 KB UDP answer without EDNS may be refused: a placeholder then)
        want = ("fwd.test.example",) if label.startswith("200") else ()
        assert host in BRACKETED + want, (label, host)
    print("\n".join("%-55s %s" % r for r in results))
    # the longest valid name comes through whole, and plain lookups still work
    state["ptr"] = lambda q: [dns_reply(q, [rr(12, wire_name(max_name))])]
    state["a"] = good_a
    req, lines, xclient = _smtp_session(mp, fa, fs)
    _assert_no_injection(req, lines, xclient, host_want=".".join(
        l.decode() for l in max_name))
    state["ptr"] = lambda q: [dns_reply(q, [rr(12, wire_name([b"real", b"test",
                                                                b"example"]))])]
    req, lines, xclient = _smtp_session(mp, fa, fs, none=True)
    _assert_no_injection(req, lines, xclient, host_want="real.test.example")
    _same_workers(mp, workers)


# =============================================================== CVE-2026-1642
# nginx 1.29.4 and older (http upstream): bytes a TLS backend sent in plain text
# before its handshake were parsed as its answer. Here proxy_ssl (implicit TLS)
# and proxy_starttls backends that send plain text first, or inject it right after
# agreeing to STARTTLS, must fail the login; the plain text is never taken as the
# greeting or as a login result, and no credential goes out unencrypted.

class FakeTLSBackend:
    """A backend for ctx.fake_server("script", handler=...). mode:
      "tls"            implicit TLS, then a working IMAP login (the control)
      "plain-then-tls" sends `plain` in the clear, then tries a TLS handshake
      "plain-only"     sends `plain` and answers every line with `answer`, never TLS
      "starttls-same"  IMAP/POP3/SMTP greeting, then to STARTTLS: the go-ahead and
                       `plain` in one write, then a TLS handshake, then `refuse` to
                       every line (so a login can only succeed by the plain text)
      "starttls-later" the same with `plain` in a later write
    .first: the first bytes the proxy sent (peeked before any TLS), .received: every
    byte read in the clear, .handshakes: completed TLS handshakes."""

    def __init__(self, cert, key, mode, plain=b"", greeting=b"", go_ahead=b"", answer=b"",
                 refuse=b""):
        self.sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.sctx.load_cert_chain(cert, key)
        self.mode, self.plain, self.greeting = mode, plain, greeting
        self.go_ahead, self.answer, self.refuse = go_ahead, answer, refuse
        self.first, self.received, self.handshakes = [], b"", 0
        self.lock = threading.Lock()
        self.done = threading.Event()          # the (one) connection was handled

    def _recv_line(self, conn, buf):
        for _ in range(10000):
            if b"\n" in buf[0]:
                line, _, buf[0] = buf[0].partition(b"\n")
                return line + b"\n"
            d = conn.recv(4096)
            if not d:
                raise EOFError
            with self.lock:
                if not isinstance(conn, ssl.SSLSocket):
                    self.received += d
            buf[0] += d
        raise EOFError

    def _tls(self, conn):
        t = self.sctx.wrap_socket(conn, server_side=True)
        with self.lock:
            self.handshakes += 1
        return t

    def _imap_after_tls(self, t):
        buf = [b""]
        t.sendall(b"* OK fake ready\r\n")
        tag = self._recv_line(t, buf).split()[0]       # "a LOGIN {5}"
        t.sendall(b"+ go\r\n")
        self._recv_line(t, buf)                         # "alice {7}"
        t.sendall(b"+ go\r\n")
        self._recv_line(t, buf)                         # the password
        t.sendall(tag + b" OK logged in\r\n")
        for _ in range(100):
            parts = self._recv_line(t, buf).split()
            if len(parts) >= 2 and parts[1].upper() == b"LOGOUT":
                t.sendall(b"* BYE\r\n" + parts[0] + b" OK bye\r\n")
                return
            if parts:
                t.sendall(parts[0] + b" OK done\r\n")

    def handler(self, conn, server):
        conn.settimeout(10)
        try:
            if self.mode == "tls":
                self.first.append(conn.recv(5, socket.MSG_PEEK))
                self._imap_after_tls(self._tls(conn))
                return
            if self.mode in ("plain-then-tls", "plain-only"):
                conn.sendall(self.plain)
                self.first.append(conn.recv(5, socket.MSG_PEEK))
                if self.mode == "plain-then-tls":
                    self._tls(conn)
                    return
                buf = [b""]
                for _ in range(50):
                    self._recv_line(conn, buf)
                    conn.sendall(self.answer)
                return
            conn.sendall(self.greeting)
            buf = [b""]
            for _ in range(20):                  # up to STARTTLS / STLS
                line = self._recv_line(conn, buf)
                if line.split()[-1:] in ([b"STARTTLS"], [b"STLS"]):
                    break
                if line.upper().startswith(b"EHLO"):
                    conn.sendall(b"250-fake.backend\r\n250 STARTTLS\r\n")
                else:
                    conn.sendall(b"+OK\r\n")
            else:
                return
            if self.mode == "starttls-same":
                conn.sendall(self.go_ahead + self.plain)
            else:
                conn.sendall(self.go_ahead)
                time.sleep(0.3)                  # a separate segment (not an assertion)
                conn.sendall(self.plain)
            t = self._tls(conn)
            buf = [b""]
            for _ in range(50):
                self._recv_line(t, buf)
                t.sendall(self.refuse)
        except (EOFError, OSError, ssl.SSLError):
            pass
        finally:
            conn.close()
            self.done.set()


def test_cve_2026_1642_tls_backend_plaintext_before_handshake(ctx):
    cert, key = self_signed(ctx.path("pki"), "backend", "localhost")
    imap_fake = b"* OK [CAPABILITY IMAP4rev1 LITERAL+] plaintext greeting\r\n" \
                b"a OK LOGIN completed\r\n"
    variants = [
        # (name, protocol, server settings, backend)
        ("control", "imap", {"proxy_ssl": True}, FakeTLSBackend(cert, key, "tls")),
        ("imap greeting then TLS", "imap", {"proxy_ssl": True},
         FakeTLSBackend(cert, key, "plain-then-tls", plain=imap_fake)),
        ("imap plain text only", "imap", {"proxy_ssl": True},
         FakeTLSBackend(cert, key, "plain-only", plain=imap_fake,
                        answer=b"a OK LOGIN completed\r\n")),
        ("pop3 greeting then TLS", "pop3", {"proxy_ssl": True},
         FakeTLSBackend(cert, key, "plain-then-tls", plain=b"+OK plaintext\r\n+OK\r\n+OK\r\n")),
        ("smtp greeting then TLS", "smtp", {"proxy_ssl": True},
         FakeTLSBackend(cert, key, "plain-then-tls",
                        plain=b"220 plaintext ESMTP\r\n250 plaintext\r\n220 go\r\n")),
        # The injected plain text is every answer a login needs; over TLS the backend
        # refuses everything.
        ("imap STARTTLS + plain text in one write", "imap", {"proxy_starttls": True},
         FakeTLSBackend(cert, key, "starttls-same", greeting=b"* OK [CAPABILITY IMAP4rev1 "
                        b"STARTTLS] ready\r\n", go_ahead=b"mpst OK begin TLS\r\n",
                        plain=b"+ go\r\n+ go\r\na OK LOGIN completed\r\n",
                        refuse=b"a NO refused\r\n")),
        ("imap STARTTLS, plain text in a later write", "imap", {"proxy_starttls": True},
         FakeTLSBackend(cert, key, "starttls-later", greeting=b"* OK ready\r\n",
                        go_ahead=b"mpst OK begin TLS\r\n",
                        plain=b"+ go\r\n+ go\r\na OK LOGIN completed\r\n",
                        refuse=b"a NO refused\r\n")),
        ("pop3 STLS + plain text in one write", "pop3", {"proxy_starttls": True},
         FakeTLSBackend(cert, key, "starttls-same", greeting=b"+OK ready\r\n",
                        go_ahead=b"+OK begin TLS\r\n",
                        plain=b"+OK capa\r\n.\r\n+OK\r\n+OK logged in\r\n",
                        refuse=b"-ERR refused\r\n")),
        ("smtp STARTTLS + plain text in one write", "smtp", {"proxy_starttls": True,
                                                            "xclient": False},
         FakeTLSBackend(cert, key, "starttls-same", greeting=b"220 fake ESMTP\r\n",
                        go_ahead=b"220 go ahead\r\n", plain=b"250 fake\r\n235 ok\r\n",
                        refuse=b"554 refused\r\n")),
    ]
    servers, fakes = [], []
    for name, proto, kw, be in variants:
        fake = ctx.fake_server("script", handler=be.handler)
        fakes.append(fake)
        fa = ctx.fake_auth(respond=lambda req, p=fake.port: [
            ("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"), ("Auth-Port", str(p)),
            ("Auth-Pass", "alicepw")])
        s = {"protocol": proto, "auth_http": fa.url, "server_name": "mx.cve.test"}
        s.update(kw)
        servers.append(s)
    mp = ctx.mailproxy(servers=servers, mail={"auth_http": servers[0]["auth_http"]},
                       main={"worker_processes": 1})
    workers = sorted(mp.workers())
    for i, (name, proto, kw, be) in enumerate(variants):
        port = mp.listens[i][1]
        with LineClient(port) as c:
            if proto == "imap":
                assert c.readline() == IMAP_GREETING
                c.cmd("a LOGIN alice alicepw")
                got = _read_reply(c, b"a")
                if name == "control":
                    assert got[-1] == b"a OK logged in\r\n", got
                    c.cmd("b LOGOUT")
                    _read_reply(c, b"b")
                    continue
                assert got == [IMAP_INTERNAL], (name, got)
            elif proto == "pop3":
                assert c.readline().startswith(POP3_GREETING)
                c.cmd("USER alice")
                assert c.readline() == b"+OK\r\n"
                c.cmd("PASS alicepw")
                got = c.readline()
                assert got == POP3_INTERNAL, (name, got)
            else:
                assert c.readline() == SMTP_GREETING
                c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
                got = smtp_lines_until_last(c)
                assert got == SMTP_INTERNAL, (name, got)
            assert c.closed(10), name
        assert be.done.wait(15), "%s: the backend is still talking" % name
        with be.lock:
            clear = be.received
        assert not re.search(rb"LOGIN|USER|PASS|AUTH|XCLIENT|alicepw|YWxpY2Vw", clear), \
            "credentials went out in the clear to %s: %r" % (name, clear)
        if kw.get("proxy_ssl"):
            assert be.first and be.first[0][:1] == b"\x16", \
                "%s: the proxy did not start with a TLS handshake: %r" % (name, be.first)
    control = variants[0][3]
    assert control.handshakes == 1 and control.first[0][:1] == b"\x16"
    mp.wait_log(re.escape("upstream sent data after agreeing to STARTTLS"), count=3)
    _same_workers(mp, workers)


# =============================================================== CVE-2025-23419 / CVE-2014-3616
# nginx: a TLS session (by the shared cache or a ticket) made in one server resumed
# in another one of the same address (CVE-2014-3616: contexts sharing a cache or a
# ticket key; CVE-2025-23419: TLS 1.3 and SNI), so the second server's client
# certificate check (ssl_verify_client) was skipped. Here: two servers on one
# address:port told apart by SNI share one session cache zone and one ticket key
# file; one requires a client certificate (of CA B). A session made in the other
# (no certificate, or a certificate of CA A) must never be accepted by it.

def _sni_server(name, cert, key, caps, auth, verify=None, ca=None, **kw):
    s = {"protocol": "imap", "server_name": name, "ssl_certificate": cert,
         "ssl_certificate_key": key, "imap_capabilities": ["IMAP4rev1", caps.decode()],
         "auth_http": auth.url}
    if verify:
        s["ssl_verify_client"] = verify
        s["ssl_client_certificate"] = ca
    s.update(kw)
    return s


def _connect_tls(port, cc, name, session=None):
    """(client or None, reused, error): an implicit-TLS connection, not yet read."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        t = cc.wrap_socket(raw, server_hostname=name, session=session)
    except (ssl.SSLError, OSError) as e:
        raw.close()
        return None, False, e
    c = LineClient.__new__(LineClient)          # a LineClient over this TLS socket
    c.timeout, c.sock, c.buf = 10.0, t, b""
    return c, t.session_reused, None


def _get_session(port, cc, name, caps):
    """A full handshake and login in server `name`; returns the session (the TLS 1.3
    ticket comes with the greeting)."""
    c, reused, err = _connect_tls(port, cc, name)
    assert c is not None, err
    with c:
        assert c.readline() == IMAP_GREETING
        c.cmd("x CAPABILITY")
        assert c.readline().startswith(b"* CAPABILITY IMAP4rev1 " + caps), name
        _read_reply(c, b"x")
        c.cmd("y LOGIN alice alicepw")
        assert _read_reply(c, b"y")[-1].startswith(b"y OK"), name
        session = c.sock.session
    return session


def _offer(port, cc, name, sess):
    """Offers sess to the server `name` at port, then logs in if greeted. Returns
    (what happened, resumed, the server that answered CAPABILITY or None)."""
    c, reused, err = _connect_tls(port, cc, name, session=sess)
    if c is None:
        return "handshake refused (%s)" % err, False, None
    with c:
        try:
            first = c.readline()
        except (ssl.SSLError, OSError) as e:
            return "closed (%s)" % e, reused, None
        if first != IMAP_GREETING:
            assert first in (b"* BYE No required SSL certificate\r\n",
                             b"* BYE SSL certificate error\r\n", b""), first
            return first.strip().decode() or "closed", reused, None
        c.cmd("x CAPABILITY")
        caps = c.readline()
        _read_reply(c, b"x")
        c.cmd("y LOGIN alice alicepw")
        last = _read_reply(c, b"y")
        assert last and last[-1].startswith(b"y OK"), last
        m = re.match(rb"\* CAPABILITY IMAP4rev1 (XSERVER\w)", caps)
        assert m, caps
        return "logged in", reused, m.group(1).decode()


def test_cve_2025_23419_and_cve_2014_3616_no_session_resumes_past_client_cert_check(ctx):
    d = ctx.path("pki")
    cert_a, key_a = self_signed(d, "a", "a.test", san="DNS:a.test")
    cert_b, key_b = self_signed(d, "b", "b.test", san="DNS:b.test")
    ca_a, ca_b = CA(d, "ca-a", "CVE CA A"), CA(d, "ca-b", "CVE CA B")
    alice_a = ca_a.issue("alice-a", "/O=A/CN=alice")
    alice_b = ca_b.issue("alice-b", "/O=B/CN=alice")
    dv = ctx.dovecot()
    fa_a = ctx.fake_auth(backend_port=dv.imap_port)
    fa_b = ctx.fake_auth(backend_port=dv.imap_port)
    ticket_key = ctx.path("ticket.key")
    with open(ticket_key, "wb") as f:
        f.write(os.urandom(80))
    # Server A checks no certificate, or CA A's; server B requires CA B's. Every
    # server shares one session cache zone and one ticket key file. They listen on
    # one address told apart by SNI, in both orders (the first one is the
    # default: CVE-2025-23419), or on two addresses (CVE-2014-3616); with tickets,
    # or with the shared cache alone.
    layouts, servers = [], []
    for a_verify in (None, "on"):
        for order in ("a-first", "b-first", "two-ports"):
            for tickets in (True, False):
                pa = free_port()
                pb = pa if order != "two-ports" else free_port()
                sa = _sni_server("a.test", cert_a, key_a, b"XSERVERA", fa_a, verify=a_verify,
                                 ca=ca_a.cert, listen=["127.0.0.1:%d ssl" % pa],
                                 ssl_session_tickets=tickets)
                sb = _sni_server("b.test", cert_b, key_b, b"XSERVERB", fa_b, verify="on",
                                 ca=ca_b.cert, listen=["127.0.0.1:%d ssl" % pb],
                                 ssl_session_tickets=tickets)
                servers += [sb, sa] if order == "b-first" else [sa, sb]
                layouts.append((pa, pb, a_verify, order, tickets))
    mp = ctx.mailproxy(servers=servers, mail={
        "auth_http": fa_a.url, "ssl_session_cache": "shared:CVE:1m",
        "ssl_session_ticket_key": [ticket_key]}, main={"worker_processes": 1})
    outcomes, bypass = [], []
    for pa, pb, a_verify, order, tickets in layouts:
        for tls13 in (True, False):
            cc = client_context(tls13=tls13, cert=alice_a[0] if a_verify else None,
                                key=alice_a[1] if a_verify else None)
            sess = _get_session(pa, cc, "a.test", b"XSERVERA")
            # The session resumes in its own server (else this would prove nothing).
            what, own, server = _offer(pa, cc, "a.test", sess)
            assert (what, own, server) == ("logged in", True, "XSERVERA"), \
                (pa, a_verify, order, tickets, tls13, what, own, server)
            # ... and is offered to server B, by its name and (two ports) by A's.
            for name in ("b.test", "a.test") if order == "two-ports" else ("b.test",):
                where = "a_verify=%s %s tickets=%s tls13=%s SNI %s" % (
                    a_verify, order, tickets, tls13, name)
                nb = len(fa_b.requests)
                what, reused, server = _offer(pb, cc, name, sess)
                outcomes.append((where, what, server, reused))
                # Served: only by server A (TLS 1.2 resumption keeps the session's
                # name), never by B without its own certificate check.
                if server == "XSERVERB" or len(fa_b.requests) != nb:
                    bypass.append(where)
    print("\n".join("%s: %s by %s (resumed=%s)" % o for o in outcomes))
    assert not bypass, "server B accepted a session made in server A, skipping its " \
        "client certificate check: %s" % bypass
    assert not fa_b.requests, fa_b.requests
    # Control: B itself works with its own CA's certificate (and resumes its own
    # sessions); A's certificate is refused in a full handshake.
    for pa, pb, a_verify, order, tickets in layouts:
        cc = client_context(cert=alice_b[0], key=alice_b[1])
        sess = _get_session(pb, cc, "b.test", b"XSERVERB")
        assert fa_b.requests[-1].header("Auth-SSL-Verify") == "SUCCESS"
        assert fa_b.requests[-1].header("Auth-SSL-Issuer") == "CN=CVE CA B,O=mailproxy tests"
        what, own, server = _offer(pb, cc, "b.test", sess)
        assert (what, own, server) == ("logged in", True, "XSERVERB"), \
            (order, tickets, what, own, server)
    what, _r, server = _offer(layouts[0][1], client_context(cert=alice_a[0], key=alice_a[1]),
                              "b.test", None)
    assert what == "* BYE SSL certificate error" and server is None, what
    mp.wait_log(r"client offered a TLS session of a server with other client certificate "
                r"settings")


# =============================================================== CVE-2026-27857 / CVE-2026-42006
# Dovecot 2.4.2 and older (imap-login): parentheses and braces before login (in ID
# and elsewhere) made the pre-login parser allocate without bound. mailproxy keeps a
# command within its client buffer: a flood is answered BAD (or closes when it can
# never fit), memory stays bounded, and the one worker goes on serving logins.

def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def test_cve_2026_27857_and_cve_2026_42006_imap_paren_and_brace_floods(ctx):
    dv = ctx.dovecot()
    fa = ctx.fake_auth(respond=_backend_router(dv))
    mp = ctx.mailproxy(auth=fa, main={"worker_processes": 1}, servers=[{"protocol": "imap"}])
    port = mp.ports["imap"]
    workers = sorted(mp.workers())
    bad = b"BAD invalid command\r\n"

    def fresh():
        c = LineClient(port)
        assert c.readline() == IMAP_GREETING
        return c

    # 1. A flood that fits the buffer, in ID: BAD, and the connection goes on.
    for flood in (b"a ID " + b"(" * 3000 + b"\r\n",
                  b"a ID " + b"(" * 1500 + b")" * 1500 + b"\r\n",
                  b'a ID ((("name" "x")))\r\n',
                  b"a ID (" + b'"k" ' * 1000 + b")\r\n",
                  b"a LOGIN " + b"(" * 3000 + b" x\r\n",
                  b"a " + b"(" * 3000 + b"\r\n",
                  b"a ID (" + b"{1}" * 1000 + b")\r\n",
                  b"a ID {" + b"9" * 40 + b"}\r\n",
                  b"a ID ({4294967296}\r\n",
                  b"a ID ({5000}\r\n"):
        with fresh() as c:
            c.send(flood)
            assert c.readline() == b"a " + bad, flood[:40]
            c.cmd("n NOOP")
            assert c.readline() == b"n OK completed\r\n", flood[:40]
    # 2. Longer than the buffer: BAD and close.
    with fresh() as c:
        c.send(b"a ID " + b"(" * 20000 + b"\r\n")
        assert c.readline() == b"a " + bad
        assert c.closed(10)
    # 3. Literals: many synchronizing ones, each answered "+ OK", then too many
    #    tokens; a non-synchronizing literal in a bad line cannot be skipped: close.
    with fresh() as c:
        c.send(b"a ID (")
        got = []
        for i in range(80):
            c.send(b'"k%d" {1}\r\n' % i)
            line = c.readline()
            got.append(line)
            if line != b"+ OK\r\n":
                break
            c.send(b"v ")
        assert got[-1].endswith(bad) or got[-1] == b"", got[-3:]
        assert len(got) < 80, "66 tokens at most per command"
    with fresh() as c:
        c.send(b"a ID ((" + b'"k" {1+}\r\nv ' * 50 + b"))\r\n")
        assert c.readline() == b"a " + bad
        assert c.closed(10), "a bad line ending in {n+} cannot be skipped"
    # 4. Twenty clients each holding a nearly full buffer of "(" (no line end yet):
    #    another client logs in meanwhile; then each flood ends and gets BAD.
    rss0 = _rss_kb(workers[0])
    holders = []
    try:
        for _ in range(20):
            c = fresh()
            c.send(b"a ID " + b"(" * 4000)
            holders.append(c)
        _imap_login_ok(port)
        for c in holders:
            c.send(b"\r\n")
        for c in holders:
            assert c.readline() == b"a " + bad
    finally:
        for c in holders:
            c.close()
    # 5. 200 more flood connections one after the other: the worker does not grow.
    for _ in range(200):
        with fresh() as c:
            c.send(b"a ID " + b"(" * 4000 + b"\r\nb LOGOUT\r\n")
            assert c.readline() == b"a " + bad
            assert c.readline() == b"* BYE\r\n"
    rss1 = _rss_kb(workers[0])
    print("worker RSS %d kB -> %d kB" % (rss0, rss1))
    assert rss1 - rss0 < 16 * 1024, "the worker grew by %d kB" % (rss1 - rss0)
    _imap_login_ok(port)
    fa.sync()
    assert [r.user for r in fa.requests] == ["alice", "alice"], fa.requests
    _same_workers(mp, workers)


# =============================================================== CVE-2025-59028
# Dovecot 2.4.2 and older: invalid base64 in a SASL exchange made the auth process
# stall the other logins. mailproxy decodes base64 in the worker, in line, so the
# bad client gets its error at once; proved by order on one worker: another client
# logs in while the bad one is mid-line, and the garbage never reaches the auth
# service.

GARBAGE = [b"!!!not base64!!!", b"====", b"QQ", b"Q=Q=", b"*" * 3000,
           b"AGFsaWNlAGFsaWNlcHc", b"\x80\xff\xfe", b"QUFB QUFB", b"AGFsaWNl=AGFsaWNlcHc="]


def _sasl_proxy(ctx):
    dv = ctx.dovecot()
    fs, srv = start_fake_smtp(ctx)
    fa = ctx.fake_auth(respond=_backend_router(dv, srv.port))
    mp = ctx.mailproxy(auth=fa, main={"worker_processes": 1}, servers=[
        {"protocol": "imap"}, {"protocol": "pop3"},
        {"protocol": "smtp", "server_name": "mx.cve.test"}])
    return mp, fa


def _bad_sasl_dialogues():
    """For each protocol: (start, answer prefix, error prefix, greeting check)."""
    return {
        "imap": (b"a AUTHENTICATE PLAIN\r\n", b"+ ", b"a BAD invalid command\r\n",
                 lambda g: g == IMAP_GREETING, b"a AUTHENTICATE PLAIN "),
        "pop3": (b"AUTH PLAIN\r\n", b"+ ", b"-ERR invalid command\r\n",
                 lambda g: g.startswith(POP3_GREETING), b"AUTH PLAIN "),
        "smtp": (b"AUTH PLAIN\r\n", b"334 ", b"500 5.5.1 Invalid command\r\n",
                 lambda g: g == SMTP_GREETING, b"AUTH PLAIN "),
    }


def test_cve_2025_59028_invalid_base64_in_sasl_stalls_no_other_login(ctx):
    mp, fa = _sasl_proxy(ctx)
    workers = sorted(mp.workers())
    good = {"imap": _imap_login_ok, "pop3": _pop3_login_ok, "smtp": _smtp_login_ok}
    logins = 0
    for proto, (start, prompt, error, greeted, ir) in _bad_sasl_dialogues().items():
        port = mp.ports[proto]
        for junk in GARBAGE:
            with LineClient(port) as c:
                assert greeted(c.readline())
                c.send(start)
                assert c.readline() == prompt + b"\r\n", proto
                # half a line of garbage: another client logs in meanwhile
                c.send(junk[:len(junk) // 2])
                good[proto](port)
                logins += 1
                c.send(junk[len(junk) // 2:] + b"\r\n")
                assert c.readline() == error, (proto, junk[:20])
                # the same client, garbage as an initial response, then a good login
                c.send(ir + junk + b"\r\n")
                assert c.readline() == error, (proto, junk[:20], "initial response")
                c.send(ir + b64("\0alice\0alicepw").encode() + b"\r\n")
                line = c.readline()
                assert line.startswith({"imap": b"a OK", "pop3": b"+OK",
                                        "smtp": b"235 "}[proto]), (proto, line)
                logins += 1
        # twenty bad clients at once, each mid-garbage; a login meanwhile
        bad = []
        try:
            for _ in range(20):
                c = LineClient(port)
                assert greeted(c.readline())
                c.send(start)
                assert c.readline() == prompt + b"\r\n"
                c.send(b"*" * 2000)
                bad.append(c)
            good[proto](port)
            logins += 1
            for c in bad:
                c.send(b"\r\n")
            for c in bad:
                assert c.readline() == error
        finally:
            for c in bad:
                c.close()
    fa.sync()
    assert len(fa.requests) == logins, "garbage reached the auth service: %d requests " \
        "for %d logins" % (len(fa.requests), logins)
    assert all(r.user == "alice" and r.password == "alicepw" for r in fa.requests)
    _same_workers(mp, workers)
