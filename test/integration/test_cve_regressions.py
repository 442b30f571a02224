"""One regression test (or more) per published CVE of a mail proxy's class, each named
after its CVE id: nginx's mail-module CVEs (CVE-2014-3556, CVE-2025-53859,
CVE-2026-27651) and Dovecot's pre-login ones (CVE-2026-27857 / CVE-2026-42006,
CVE-2025-59028); the resolver's (CVE-2026-28753, CVE-2021-23017) are in
test_cve_regressions_dns.py, the TLS ones (CVE-2026-1642, CVE-2025-23419 /
CVE-2014-3616) in test_cve_regressions_tls.py, which share this module's helpers. mailproxy was never affected by most of them; each test drives the
real binary into the situation of the CVE and asserts the safe behaviour, so that a
regression fails here (and, run with --sanitizer, under ASan+UBSan).

Peers: the shared Dovecot for IMAP/POP3 logins, a recording fake auth service
(harness FakeAuth) and a scripted SMTP backend (smtp_support). Everything is on loopback; no assertion measures time:
"the worker was not stalled" is proved by the order of events (another client's
login completes while the hostile one is mid-command). The machine-level halves are
in test/unit/test_cve_classes.c."""

import base64
import hashlib
import hmac
import re
import ssl
import uuid

from harness import LineClient
from smtp_support import smtp_lines_until_last, start_fake_smtp
from tls_support import IMAP_GREETING, POP3_GREETING, self_signed

SMTP_GREETING = b"220 mx.cve.test ESMTP ready\r\n"


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
                "Auth-Login-Attempt", "Client-IP", "Client-Host", "Client-Port", "Auth-SMTP-Helo",
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
