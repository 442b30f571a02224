"""POP3 through the proxy with real clients (poplib, curl, raw sockets) against the real
Dovecot: every login method (USER/PASS, APOP, AUTH PLAIN/LOGIN/CRAM-MD5 with and
without initial response), CAPA variants, a 5 MB RETR byte for byte, DELE persisted,
nginx's error replies and limits, wrong passwords with a retry, auth-service and
backend faults, STLS injection and `starttls only`.

Expected behaviour is nginx's (/work/shared/reference/nginx-mail.md sections 2-4) plus
the README's documented differences (pop3_client_buffer instead of 128 bytes)."""

import base64
import hashlib
import hmac
import imaplib
import poplib
import re
import subprocess
import time
import uuid

from harness import LineClient, free_port, make_cert, timeout, wait_until

GREETING = b"+OK POP3 ready"
INVALID = b"-ERR invalid command\r\n"
INTERNAL = b"-ERR internal server error\r\n"
CAPA_HEAD = b"+OK Capability list follows\r\n"


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def uniq():
    return uuid.uuid4().hex[:10]


def pop3_server(**kw):
    d = {"protocol": "pop3"}
    d.update(kw)
    return d


def setup(ctx, users=None, auth_kw=None, mail=None, main=None, **srv):
    """Shared Dovecot, the example auth service routing to it, a proxy with one POP3
    server; returns (dovecot, auth, proxy, port)."""
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv, users=users, **(auth_kw or {}))
    mp = ctx.mailproxy(servers=[pop3_server(**srv)], auth=au, mail=mail, main=main)
    return dv, au, mp, mp.ports["pop3"]


_pool = {"dv": None, "users": []}


def _can_login(dv, name):
    try:
        dv.imap(name).logout()
        return True
    except (imaplib.IMAP4.error, OSError):
        return False


def fresh_user(dv, prefix="pop"):
    """A new Dovecot user with an empty mailbox (the shared Dovecot keeps mail).
    Dovecot looks at a changed passwd-file at most once a second, so users are made
    in batches of 10 with one write and one wait."""
    if _pool["dv"] is not dv or not _pool["users"]:
        batch = [("pop%s" % uniq(), "pw%s" % uniq()) for _ in range(10)]
        for name, pw in batch[:-1]:
            dv.users[name] = pw
        dv.add_user(*batch[-1])
        wait_until(lambda: _can_login(dv, batch[-1][0]), 5, interval=0.1,
                   what="Dovecot to see the new users")
        _pool["dv"], _pool["users"] = dv, batch
    return _pool["users"].pop()


def connect(port, timeout=10.0):
    """A LineClient that has read the greeting; returns (client, greeting line)."""
    c = LineClient(port, timeout=timeout)
    g = c.readline()
    assert g.startswith(GREETING), g
    return c, g


def multiline(c, timeout=None):
    """A multi-line POP3 answer up to and including '.'."""
    return b"".join(c.read_until(b".\r\n", timeout))


def closed_after(c, timeout=5.0):
    """The server closes: returns whatever it still sent first (expected b"")."""
    assert c.closed(timeout), "connection still open; buffered %r" % c.buf
    return c.buf


def message(subject, body_lines=3):
    return ("From: tester@example.org\r\nTo: someone@test.example\r\nSubject: %s\r\n\r\n"
            % subject + "".join("line %d of %s\r\n" % (i, subject)
                                for i in range(body_lines))).encode()


def pop(port, timeout=15):
    return poplib.POP3("127.0.0.1", port, timeout=timeout)


# ------------------------------------------------------------ dialogue before login

def test_pop3_greeting_capa_noop_quit_and_auth_list(ctx):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    cert, key = make_cert(ctx.tmp)
    tls = {"ssl_certificate": cert, "ssl_certificate_key": key}
    mp = ctx.mailproxy(auth=au, servers=[
        pop3_server(),
        pop3_server(pop3_auth=["plain", "apop", "cram-md5"], server_name="pop.test"),
        pop3_server(pop3_capabilities=["TOP", "UIDL", "PIPELINING"], pop3_auth=["apop"]),
        pop3_server(starttls="on", **tls),
        pop3_server(starttls="only", **tls),
    ])
    plain, cram, custom, stls, only = [l[1] for l in mp.listens]

    # default: no timestamp, nginx's CAPA, AUTH list, NOOP, QUIT closes
    c, g = connect(plain)
    with c:
        assert g == b"+OK POP3 ready\r\n"
        c.cmd("CAPA")
        assert multiline(c) == CAPA_HEAD + b"TOP\r\nUSER\r\nUIDL\r\nSASL PLAIN LOGIN\r\n.\r\n"
        c.cmd("capa")                                   # commands are case-insensitive
        assert multiline(c).startswith(CAPA_HEAD)
        c.cmd("AUTH")
        assert multiline(c) == b"+OK methods supported:\r\nPLAIN\r\nLOGIN\r\n.\r\n"
        c.cmd("NOOP")
        assert c.readline() == b"+OK\r\n"
        c.cmd("QUIT")
        assert c.readline() == b"+OK\r\n"
        assert closed_after(c) == b""

    # apop/cram-md5 enabled: the greeting carries <random.time@server_name>
    c, g = connect(cram)
    with c:
        assert re.match(rb"^\+OK POP3 ready <\d+\.\d+@pop\.test>\r\n$", g), g
        c.cmd("CAPA")
        assert multiline(c) == CAPA_HEAD + \
            b"TOP\r\nUSER\r\nUIDL\r\nSASL PLAIN LOGIN CRAM-MD5\r\n.\r\n"
        c.cmd("AUTH")
        assert multiline(c) == b"+OK methods supported:\r\nPLAIN\r\nLOGIN\r\nCRAM-MD5\r\n.\r\n"
    # every connection gets its own timestamp
    (c2, g2), (c3, g3) = connect(cram), connect(cram)
    c2.close()
    c3.close()
    assert g2 != g3, (g2, g3)

    # pop3_capabilities replaces the list; apop alone advertises no SASL mechanism
    c, g = connect(custom)
    with c:
        assert b"<" in g, "apop enabled: a timestamp in %r" % g
        c.cmd("CAPA")
        caps = multiline(c)
        assert caps.startswith(CAPA_HEAD + b"TOP\r\nUIDL\r\nPIPELINING\r\n"), caps
        assert b"USER\r\n" not in caps and b"PLAIN" not in caps, caps
        assert caps.endswith(b".\r\n")

    # starttls on: STLS advertised (before USER only, as nginx)
    c, g = connect(stls)
    with c:
        c.cmd("CAPA")
        assert multiline(c) == CAPA_HEAD + \
            b"TOP\r\nUSER\r\nUIDL\r\nSASL PLAIN LOGIN\r\nSTLS\r\n.\r\n"
        c.cmd("USER alice")
        assert c.readline() == b"+OK\r\n"
        c.cmd("CAPA")
        assert multiline(c) == CAPA_HEAD + b"TOP\r\nUSER\r\nUIDL\r\nSASL PLAIN LOGIN\r\n.\r\n"

    # starttls only: no USER, no SASL, STLS
    c, g = connect(only)
    with c:
        c.cmd("CAPA")
        assert multiline(c) == CAPA_HEAD + b"TOP\r\nUIDL\r\nSTLS\r\n.\r\n"


def test_pop3_invalid_commands_and_max_errors(ctx):
    dv, au, mp, port = setup(ctx, max_errors=3)
    c, _ = connect(port)
    with c:
        # mailbox commands before login, unknown verbs, PASS without USER, bad args
        c.cmd("STAT")
        assert c.readline() == INVALID
        c.cmd("XYZZY")
        assert c.readline() == INVALID
        c.cmd("NOOP")                                  # a good command in between
        assert c.readline() == b"+OK\r\n"
        c.cmd("PASS alicepw")                          # third error: reply, then close
        assert c.readline() == INVALID
        assert closed_after(c) == b""
    mp.wait_log(r"client sent too many invalid commands")
    # each of these counts as one error (max_errors 3 again on a new connection)
    c, _ = connect(port)
    with c:
        for cmd in ("RETR 1", "LIST", "UIDL", "TOP 1 0", "DELE 1", "APOP alice x", "STLS",
                    "USER", "AUTH BOGUS"):
            c.cmd(cmd)
            assert c.readline() == INVALID, cmd
            if c.closed(0.05):
                break
        else:
            raise AssertionError("max_errors 3 did not close the connection")


def test_pop3_line_longer_than_client_buffer(ctx):
    dv, au, mp, port = setup(ctx, pop3_client_buffer="1k")
    c, _ = connect(port)
    with c:
        c.cmd("USER " + "a" * 1200)
        assert c.readline() == INVALID
        assert closed_after(c) == b""
    mp.wait_log(r"client sent too long command")
    # a line that fits is fine
    c, _ = connect(port)
    with c:
        c.cmd("USER " + "a" * 900)
        assert c.readline() == b"+OK\r\n"


def test_pop3_pipelined_commands_answered_in_order(ctx):
    dv, au, mp, port = setup(ctx)
    c, _ = connect(port)
    with c:
        c.send(b"NOOP\r\nCAPA\r\nUSER alice\r\nPASS alicepw\r\nSTAT\r\nQUIT\r\n")
        assert c.readline() == b"+OK\r\n"
        assert multiline(c).startswith(CAPA_HEAD)
        assert c.readline() == b"+OK\r\n"
        assert c.readline().startswith(b"+OK Logged in"), "Dovecot's reply to PASS"
        assert re.match(rb"^\+OK \d+ \d+\r\n$", c.readline()), "STAT relayed to Dovecot"
        assert c.readline().startswith(b"+OK"), "QUIT"


# ------------------------------------------------------------ logins against Dovecot

def test_pop3_user_pass_stat_list_retr_with_poplib(ctx):
    dv = ctx.dovecot()
    user, pw = fresh_user(dv)
    subj = "poplib-%s" % uniq()
    dv.append(user, message(subj))
    _, au, mp, port = setup(ctx, users={"alice": "alicepw", user: pw})
    p = pop(port)
    assert p.getwelcome() == b"+OK POP3 ready"
    assert p.user(user) == b"+OK"
    assert p.pass_(pw).startswith(b"+OK Logged in"), "Dovecot's answer to PASS is relayed"
    count, size = p.stat()
    assert count == 1 and size > 0, (count, size)
    resp, listing, _ = p.list()
    assert listing == [b"1 %d" % size], listing
    resp, lines, octets = p.retr(1)
    assert resp.startswith(b"+OK")
    assert b"Subject: " + subj.encode() in lines, lines
    resp, top, _ = p.top(1, 0)
    assert b"Subject: " + subj.encode() in top and b"line 0 of" not in b"\n".join(top)
    assert p.uidl()[0].startswith(b"+OK")
    assert p.quit().startswith(b"+OK")
    mp.wait_log(r'client logged in, client: 127\.0\.0\.1, server: [^,]+, login: "%s"' % user)
    assert re.search(r'user="%s" protocol=pop3 method=plain .*result=OK' % user, au.log())
    assert re.search(r"pop3-login: Info: Login: user=<%s>, method=PLAIN" % user, dv.log())


def test_pop3_apop(ctx):
    dv = ctx.dovecot()
    user, pw = fresh_user(dv, "apop")
    subj = "apop-%s" % uniq()
    dv.append(user, message(subj))
    _, au, mp, port = setup(ctx, users={user: pw}, pop3_auth=["plain", "apop"])
    p = pop(port)
    m = re.match(rb"^\+OK POP3 ready (<[^>]+>)$", p.getwelcome())
    assert m, p.getwelcome()
    # poplib computes MD5(timestamp + secret) from the greeting
    assert p.apop(user, pw).startswith(b"+OK Logged in")
    assert p.stat()[0] == 1
    assert b"Subject: " + subj.encode() in p.retr(1)[1]
    p.quit()
    assert re.search(r'user="%s" protocol=pop3 method=apop .*result=OK' % user, au.log())
    # by hand: a wrong digest is refused by the auth service, then a good one works
    c, g = connect(port)
    with c:
        ts = g.split(b" ")[-1].strip()
        c.cmd("APOP %s %s" % (user, "0" * 32))
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        c.cmd("APOP %s %s" % (user, hashlib.md5(ts + pw.encode()).hexdigest()))
        assert c.readline().startswith(b"+OK Logged in")
        c.cmd("STAT")
        assert c.readline().startswith(b"+OK 1 ")
    # APOP is refused unless enabled (-ERR invalid command)
    c2 = ctx.mailproxy(servers=[pop3_server()], auth=au)
    c, g = connect(c2.ports["pop3"])
    with c:
        assert g == b"+OK POP3 ready\r\n"
        c.cmd("APOP %s %s" % (user, "0" * 32))
        assert c.readline() == INVALID


def test_pop3_auth_plain_and_login_with_and_without_initial_response(ctx):
    dv, au, mp, port = setup(ctx)

    def logged_in(c):
        assert c.readline().startswith(b"+OK Logged in")
        c.cmd("STAT")
        assert re.match(rb"^\+OK \d+ \d+\r\n$", c.readline())
        c.cmd("QUIT")
        assert c.readline().startswith(b"+OK")

    c, _ = connect(port)
    with c:                                                    # PLAIN with IR
        c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
        logged_in(c)
    c, _ = connect(port)
    with c:                                                    # PLAIN without IR
        c.cmd("AUTH PLAIN")
        assert c.readline() == b"+ \r\n"
        c.cmd(b64("\0alice\0alicepw"))
        logged_in(c)
    c, _ = connect(port)
    with c:                                                    # PLAIN with an authzid
        c.cmd("AUTH PLAIN " + b64("admin\0alice\0alicepw"))
        logged_in(c)
    c, _ = connect(port)
    with c:                                                    # LOGIN without IR
        c.cmd("AUTH LOGIN")
        assert c.readline() == b"+ VXNlcm5hbWU6\r\n"
        c.cmd(b64("alice"))
        assert c.readline() == b"+ UGFzc3dvcmQ6\r\n"
        c.cmd(b64("alicepw"))
        logged_in(c)
    c, _ = connect(port)
    with c:                                                    # LOGIN with IR
        c.cmd("AUTH LOGIN " + b64("alice"))
        assert c.readline() == b"+ UGFzc3dvcmQ6\r\n"
        c.cmd(b64("alicepw"))
        logged_in(c)
    c, _ = connect(port)
    with c:                                                    # bad base64
        c.cmd("AUTH PLAIN !!!notbase64")
        assert c.readline() == INVALID
        c.cmd("AUTH LOGIN")
        assert c.readline() == b"+ VXNlcm5hbWU6\r\n"
        c.cmd("*")
        assert c.readline() == INVALID
    assert len(re.findall(r'user="alice" protocol=pop3 method=plain .*result=OK',
                          au.log())) == 5, au.log()


def test_pop3_auth_cram_md5(ctx):
    dv, au, mp, port = setup(ctx, pop3_auth=["plain", "cram-md5"])
    c, g = connect(port)
    with c:
        ts = re.search(rb"<[^>]+>", g).group(0)
        c.cmd("AUTH CRAM-MD5")
        line = c.readline()
        assert line.startswith(b"+ "), line
        salt = base64.b64decode(line[2:].strip())
        assert salt == ts, "the challenge is the greeting's timestamp: %r %r" % (salt, ts)
        digest = hmac.new(b"alicepw", salt, "md5").hexdigest()
        c.cmd(b64("alice " + digest))
        assert c.readline().startswith(b"+OK Logged in")
        c.cmd("STAT")
        assert c.readline().startswith(b"+OK ")
    assert re.search(r'user="alice" protocol=pop3 method=cram-md5 .*result=OK', au.log())
    # a wrong digest
    c, g = connect(port)
    with c:
        c.cmd("AUTH CRAM-MD5")
        c.readline()
        c.cmd(b64("alice " + "0" * 32))
        assert c.readline() == b"-ERR Invalid login or password\r\n"
    # not enabled -> invalid command
    mp2 = ctx.mailproxy(servers=[pop3_server()], auth=au)
    c, g = connect(mp2.ports["pop3"])
    with c:
        c.cmd("AUTH CRAM-MD5")
        assert c.readline() == INVALID


def test_pop3_oauth_sized_auth_plain_fits_default_buffer(ctx):
    """A 3 KB AUTH PLAIN initial response (an OAuth bearer token in the password
    field) is accepted with the default pop3_client_buffer; nginx's fixed 128-byte
    buffer refuses it, and so does pop3_client_buffer: 128."""
    dv = ctx.dovecot()
    token = "ya29." + "A1b2C3d4" * 280                       # ~2.2 KB of token

    def respond(req):
        if req.password == token and req.user == "alice":
            return [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                    ("Auth-Port", str(dv.pop3_port)), ("Auth-Pass", "alicepw")]
        return [("Auth-Status", "Invalid login or password")]

    fa = ctx.fake_auth(respond=respond)
    mp = ctx.mailproxy(auth=fa, servers=[pop3_server(), pop3_server(pop3_client_buffer=128)])
    default_port, small_port = mp.listens[0][1], mp.listens[1][1]
    ir = b64("\0alice\0" + token)
    assert len("AUTH PLAIN " + ir) > 2900, len(ir)
    c, _ = connect(default_port)
    with c:
        c.cmd("AUTH PLAIN " + ir)
        assert c.readline().startswith(b"+OK Logged in")
        c.cmd("STAT")
        assert c.readline().startswith(b"+OK ")
    assert fa.requests[-1].password == token
    c, _ = connect(small_port)
    with c:
        c.cmd("AUTH PLAIN " + ir)
        assert c.readline() == INVALID
        assert closed_after(c) == b""
    assert len(fa.requests) == 1, "the too-long line never reached the auth service"


def test_pop3_credentials_with_crlf_or_nul_refused(ctx):
    """Refused before they reach the auth service or the backend's USER line (README:
    nginx passes them on and writes them raw)."""
    fa = ctx.fake_auth(backend_port=free_port())
    mp = ctx.mailproxy(auth=fa, servers=[pop3_server(max_errors=20)])
    c, _ = connect(mp.ports["pop3"])
    with c:
        for creds in ("\0ali\r\nce\0pw", "\0alice\0p\nw", "\0al\0ice\0pw"):
            c.cmd("AUTH PLAIN " + b64(creds))
            assert c.readline() == INVALID, creds
        c.cmd("AUTH LOGIN")
        c.readline()
        c.cmd(b64("alice\nPASS x"))
        assert c.readline() == INVALID
        c.cmd("USER al\rice")                          # a lone CR in a command line
        assert c.readline() == INVALID
    assert fa.requests == [], fa.requests


def test_pop3_no_client_host_header(ctx):
    """nginx sends Client-Host for SMTP only."""
    dv = ctx.dovecot()
    fa = ctx.fake_auth(backend_port=dv.pop3_port)
    mp = ctx.mailproxy(auth=fa, servers=[pop3_server()])
    p = pop(mp.ports["pop3"])
    p.user("alice")
    assert p.pass_("alicepw").startswith(b"+OK")
    p.quit()
    req = fa.requests[-1]
    assert [k for k, _ in req.header_list] == [
        "Host", "Auth-Method", "Auth-User", "Auth-Pass", "Auth-Protocol",
        "Auth-Login-Attempt", "Client-IP"], req.header_list
    assert req.header("Auth-Protocol") == "pop3" and req.header("Client-IP") == "127.0.0.1"
    assert req.header("Client-Host") is None


# ------------------------------------------------------------ relay

def big_message(subject, size):
    """A message of exactly `size` bytes, CRLF lines of 76 pseudo-random characters,
    some starting with '.' (dot-stuffing on the wire)."""
    head = ("From: big@example.org\r\nTo: someone@test.example\r\nSubject: %s\r\n\r\n"
            % subject).encode()
    out = [head]
    have = len(head)
    i = 0
    while have < size:
        seed = hashlib.sha256(b"%d" % i).digest()
        line = base64.b64encode(seed + seed)[:76]
        if i % 97 == 0:
            line = b"." + line[1:]
        chunk = line + b"\r\n"
        if have + len(chunk) > size:
            chunk = (b"x" * (size - have - 2) + b"\r\n") if size - have >= 2 else b""
            if not chunk:
                break
        out.append(chunk)
        have += len(chunk)
        i += 1
    data = b"".join(out)
    assert len(data) == size, (len(data), size)
    return data


def raw_retr(port, user, pw, n):
    """RETR over a raw socket; returns the exact bytes after the +OK line up to and
    including the terminating '.\\r\\n'."""
    c = LineClient(port, timeout=30)
    with c:
        assert c.readline().startswith(b"+OK")
        c.cmd("USER " + user)
        assert c.readline().startswith(b"+OK")
        c.cmd("PASS " + pw)
        assert c.readline().startswith(b"+OK")
        c.cmd("RETR %d" % n)
        first = c.readline()
        assert first.startswith(b"+OK"), first
        data = bytearray()
        deadline = time.monotonic() + 60
        while not data.endswith(b"\r\n.\r\n"):
            assert time.monotonic() < deadline, "RETR did not finish"
            line = c.readline(timeout=30)
            assert line, "EOF during RETR after %d bytes" % len(data)
            data += line
        c.cmd("QUIT")
        c.readline()
        return first, bytes(data)


@timeout(90)
def test_pop3_retr_5mb_byte_identical(ctx):
    dv = ctx.dovecot()
    user, pw = fresh_user(dv, "big")
    subj = "big-%s" % uniq()
    msg = big_message(subj, 5 * 1024 * 1024)
    dv.append(user, msg)
    _, au, mp, port = setup(ctx, users={user: pw})
    # poplib: the message, undotted, equals what was appended
    p = pop(port, timeout=60)
    p.user(user)
    p.pass_(pw)
    assert p.stat()[0] == 1
    resp, lines, octets = p.retr(1)
    got = b"\r\n".join(lines) + b"\r\n"
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(msg).hexdigest(), \
        "RETR through the proxy differs: %d bytes vs %d" % (len(got), len(msg))
    p.quit()
    # raw: the wire bytes (dot-stuffed) equal what Dovecot sends directly
    first_p, via_proxy = raw_retr(port, user, pw, 1)
    first_d, direct = raw_retr(dv.pop3_port, user, pw, 1)
    assert first_p == first_d, (first_p, first_d)
    assert hashlib.sha256(via_proxy).digest() == hashlib.sha256(direct).digest(), \
        "%d vs %d bytes" % (len(via_proxy), len(direct))
    assert b"\r\n.." in via_proxy, "dot-stuffed lines went through as they are"


def test_pop3_dele_quit_persists(ctx):
    dv = ctx.dovecot()
    user, pw = fresh_user(dv, "dele")
    subjects = ["dele-%d-%s" % (i, uniq()) for i in range(3)]
    for s in subjects:
        dv.append(user, message(s))
    _, au, mp, port = setup(ctx, users={user: pw})
    p = pop(port)
    p.user(user)
    p.pass_(pw)
    assert p.stat()[0] == 3
    first = b"\n".join(p.retr(1)[1])
    assert p.dele(1).startswith(b"+OK")
    assert p.stat()[0] == 2, "deleted messages are hidden at once"
    assert p.quit().startswith(b"+OK")
    # a dropped session (no QUIT) does not delete
    p = pop(port)
    p.user(user)
    p.pass_(pw)
    assert p.stat()[0] == 2, "DELE + QUIT persisted: one message fewer"
    remaining = [b"\n".join(p.retr(i)[1]) for i in (1, 2)]
    assert first not in remaining
    p.dele(1)
    p.sock.close()                       # no QUIT: the UPDATE state is never reached
    p = pop(port)
    p.user(user)
    p.pass_(pw)
    assert p.stat()[0] == 2, "DELE without QUIT must not delete"
    p.quit()
    assert wait_until(lambda: len(dv.messages(user)) == 2, 5, what="2 messages on disk")


def test_pop3_curl(ctx):
    dv = ctx.dovecot()
    user, pw = fresh_user(dv, "curl")
    subj = "curl-%s" % uniq()
    dv.append(user, message(subj))
    dv.append(user, message(subj + "-2"))
    _, au, mp, port = setup(ctx, users={user: pw})
    url = "pop3://127.0.0.1:%d/" % port

    def curl(*args):
        r = subprocess.run(["curl", "-s", "-S", "--max-time", "20"] + list(args),
                           capture_output=True, timeout=30)
        assert r.returncode == 0, (r.returncode, r.stderr)
        return r.stdout

    got = curl(url + "1", "-u", "%s:%s" % (user, pw))
    assert b"Subject: " + subj.encode() + b"\r\n" in got, got
    assert b"line 2 of %s" % subj.encode() in got
    listing = curl(url, "-u", "%s:%s" % (user, pw))                  # LIST
    assert re.match(rb"^1 \d+\r\n2 \d+\r\n$", listing), listing
    # -X STAT with -I (curl's "no body": a one-line answer): the reply shows in the
    # verbose trace
    r = subprocess.run(["curl", "-s", "-v", "--max-time", "20", url, "-u",
                        "%s:%s" % (user, pw), "-X", "STAT", "-I"], capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert re.search(rb"< \+OK 2 \d+", r.stderr), r.stderr
    # a wrong password: curl fails with a login error
    r = subprocess.run(["curl", "-s", "--max-time", "20", url + "1", "-u", "%s:bad" % user],
                       capture_output=True, timeout=30)
    assert r.returncode == 67, (r.returncode, r.stderr)      # CURLE_LOGIN_DENIED


# ------------------------------------------------------------ wrong passwords

@timeout(40)
def test_pop3_wrong_password_waits_then_retry_on_same_connection(ctx):
    dv, au, mp, port = setup(ctx, auth_kw={"wait": 1})
    c, _ = connect(port)
    with c:
        c.cmd("USER alice")
        assert c.readline() == b"+OK\r\n"
        t0 = time.monotonic()
        c.cmd("PASS wrongpw")
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        assert time.monotonic() - t0 >= 0.9, "Auth-Wait: 1 delays the answer"
        c.cmd("PASS alicepw")                   # back to the start state: USER first
        assert c.readline() == INVALID
        c.cmd("USER alice")
        assert c.readline() == b"+OK\r\n"
        c.cmd("PASS alicepw")
        assert c.readline().startswith(b"+OK Logged in")
        c.cmd("STAT")
        assert c.readline().startswith(b"+OK ")
    log = au.log()
    assert re.search(r'user="alice" protocol=pop3 method=plain .*attempt=1 result=fail', log)
    assert re.search(r'user="alice" protocol=pop3 method=plain .*attempt=2 result=OK', log)
    assert 'client login failed: "Invalid login or password"' in mp.log()
    # AUTH PLAIN retry too, and poplib sees the error text
    p = pop(port)
    p.user("alice")
    try:
        p.pass_("nope")
        raise AssertionError("a wrong password logged in")
    except poplib.error_proto as e:
        assert "Invalid login or password" in str(e)
    p.sock.close()


@timeout(40)
def test_pop3_commands_sent_during_auth_wait_are_answered_after_it(ctx):
    """A client that pipelines its retry behind the failing PASS: nginx leaves the
    input in the socket during Auth-Wait and reads it afterwards, in order."""
    dv, au, mp, port = setup(ctx, auth_kw={"wait": 1})
    c, _ = connect(port)
    with c:
        c.send(b"USER alice\r\nPASS wrong\r\nUSER alice\r\nPASS alicepw\r\nSTAT\r\n")
        assert c.readline() == b"+OK\r\n"
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        assert c.readline() == b"+OK\r\n"
        assert c.readline().startswith(b"+OK Logged in")
        assert re.match(rb"^\+OK \d+ \d+\r\n$", c.readline())


@timeout(40)
def test_pop3_apop_retry_after_failure(ctx):
    """APOP/CRAM-MD5 after a failed attempt on the same connection (nginx
    CVE-2026-27651 crashed here): the greeting's timestamp still works."""
    dv, au, mp, port = setup(ctx, auth_kw={"wait": 1}, pop3_auth=["plain", "apop", "cram-md5"])
    c, g = connect(port)
    with c:
        ts = re.search(rb"<[^>]+>", g).group(0)
        c.cmd("APOP alice " + hashlib.md5(ts + b"wrong").hexdigest())
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        c.cmd("AUTH CRAM-MD5")
        salt = base64.b64decode(c.readline()[2:].strip())
        c.cmd(b64("alice " + hmac.new(b"wrong", salt, "md5").hexdigest()))
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        c.cmd("APOP alice " + hashlib.md5(ts + b"alicepw").hexdigest())
        assert c.readline().startswith(b"+OK Logged in")
        c.cmd("STAT")
        assert c.readline().startswith(b"+OK ")
    assert mp.alive()


@timeout(40)
def test_pop3_wrong_password_attempts_exhausted_closes(ctx):
    dv, au, mp, port = setup(ctx, auth_kw={"wait": 1, "max_attempts": 1})
    c, _ = connect(port)
    with c:
        c.cmd("USER alice")
        c.readline()
        c.cmd("PASS bad1")
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        c.cmd("USER alice")
        c.readline()
        c.cmd("PASS bad2")                      # no Auth-Wait any more: error, close
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        assert closed_after(c) == b""


# ------------------------------------------------------------ faults

class Pair:
    """One worker, two POP3 servers: `good` (working auth service) and `bad`; a session
    on `good` is logged in before the fault and must still work after it."""

    def __init__(self, ctx, bad_url=None, bad_kw=None, mail=None, users=None):
        self.ctx = ctx
        self.dv = ctx.dovecot()
        self.auth = ctx.auth_service(dovecot=self.dv, users=users)
        bad = pop3_server(**(bad_kw or {}))
        if bad_url:
            bad["auth_http"] = bad_url
        self.mp = ctx.mailproxy(servers=[pop3_server(), bad], auth=self.auth, mail=mail,
                                main={"worker_processes": 1})
        self.good_port, self.bad_port = self.mp.listens[0][1], self.mp.listens[1][1]
        self.survivor = pop(self.good_port)
        self.survivor.user("alice")
        assert self.survivor.pass_("alicepw").startswith(b"+OK")

    def error(self, expect=INTERNAL, log_rx=None, user="alice", pw="alicepw"):
        c, _ = connect(self.bad_port, timeout=20)
        with c:
            t0 = time.monotonic()
            c.cmd("USER " + user)
            assert c.readline() == b"+OK\r\n"
            c.cmd("PASS " + pw)
            line = c.readline(timeout=20)
            elapsed = time.monotonic() - t0
            assert line == expect, "expected %r, got %r" % (expect, line)
            assert closed_after(c) == b""
        if log_rx:
            self.mp.wait_log(log_rx, timeout=5)
        # the other session and new sessions are fine
        assert self.survivor.noop().startswith(b"+OK")
        assert self.survivor.stat()[0] >= 0
        p = pop(self.good_port)
        p.user("bob")
        assert p.pass_("bobpw").startswith(b"+OK")
        p.quit()
        self.survivor.quit()
        return elapsed


def test_pop3_auth_service_down(ctx):
    p = Pair(ctx, bad_url="127.0.0.1:%d/mail/auth" % free_port())
    p.error(log_rx=r"auth http|connect")


@timeout(40)
def test_pop3_auth_service_hanging(ctx):
    hung = ctx.fake_server("silent")
    p = Pair(ctx, bad_url=hung.url, bad_kw={"auth_http_timeout": "1s"})
    elapsed = p.error(log_rx=r"auth http server timed out")
    assert elapsed >= 0.9, "auth_http_timeout 1s: answered after %.2fs" % elapsed


def test_pop3_auth_service_garbage(ctx):
    bad = ctx.auth_service(garbage=True)
    p = Pair(ctx, bad_url=bad.url)
    p.error(log_rx=r"auth http server")


def test_pop3_backend_port_closed(ctx):
    dead = free_port()
    fa = ctx.fake_auth(backend_port=dead)
    p = Pair(ctx, bad_url=fa.url)
    p.error(log_rx=r"connect\(\) to upstream failed")


@timeout(40)
def test_pop3_backend_silent_times_out(ctx):
    """A backend that accepts and never greets: after `timeout` the client gets nginx's
    internal error line (nginx: "upstream timed out" -> internal server error)."""
    silent = ctx.fake_server("silent")
    fa = ctx.fake_auth(backend_port=silent.port)
    p = Pair(ctx, bad_url=fa.url, bad_kw={"timeout": "1s"})
    elapsed = p.error(log_rx=r"upstream timed out")
    assert elapsed >= 0.9


def test_pop3_backend_refuses_login(ctx):
    """Dovecot refuses the password the auth service hands over: internal error by
    default, Dovecot's own line with proxy_pass_error_message on."""
    users = {"alice": "alicepw", "bob": "bobpw",
             "carol": {"password": "carolpw", "login": "alice", "passwd": "not-alices"}}
    p = Pair(ctx, users=users)
    p.error(user="carol", pw="carolpw", log_rx=r"upstream refused the login")
    p2 = Pair(ctx, users=users, bad_kw={"proxy_pass_error_message": True})
    line = None
    c, _ = connect(p2.bad_port)
    with c:
        c.cmd("USER carol")
        c.readline()
        c.cmd("PASS carolpw")
        line = c.readline(timeout=15)
        assert closed_after(c) == b""
    assert line.startswith(b"-ERR ") and b"Authentication failed" in line, line
    p2.survivor.quit()


# ------------------------------------------------------------ STLS

def test_pop3_stls_discards_pipelined_plaintext(ctx):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    cert, key = make_cert(ctx.tmp)
    mp = ctx.mailproxy(auth=au, servers=[pop3_server(starttls="on", ssl_certificate=cert,
                                                     ssl_certificate_key=key)])
    c, _ = connect(mp.ports["pop3"])
    with c:
        c.send(b"STLS\r\nUSER mallory\r\nPASS evil\r\n")
        assert c.readline() == b"+OK\r\n"
        c.starttls()
        try:
            line = c.readline(timeout=0.8)
            raise AssertionError("plaintext injected before the handshake was answered "
                                 "after it: %r" % line)
        except TimeoutError:
            pass
        c.cmd("PASS evil")              # USER mallory was discarded: PASS is out of place
        assert c.readline() == INVALID
        c.cmd("STLS")                   # no second STLS
        assert c.readline() == INVALID
        c.cmd("USER alice")
        assert c.readline() == b"+OK\r\n"
        c.cmd("PASS alicepw")
        assert c.readline().startswith(b"+OK Logged in")
    assert "mallory" not in au.log()


def test_pop3_starttls_only_refuses_login_before_tls(ctx):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    cert, key = make_cert(ctx.tmp)
    mp = ctx.mailproxy(auth=au, servers=[pop3_server(
        starttls="only", ssl_certificate=cert, ssl_certificate_key=key,
        pop3_auth=["plain", "apop"])])
    c, g = connect(mp.ports["pop3"])
    with c:
        ts = re.search(rb"<[^>]+>", g).group(0)
        for cmd in ("USER alice", "AUTH PLAIN " + b64("\0alice\0alicepw"), "AUTH",
                    "APOP alice " + hashlib.md5(ts + b"alicepw").hexdigest()):
            c.cmd(cmd)
            assert c.readline() == INVALID, cmd
        c.cmd("NOOP")
        assert c.readline() == b"+OK\r\n"
        c.cmd("STLS")
        assert c.readline() == b"+OK\r\n"
        c.starttls()
        c.cmd("CAPA")
        caps = multiline(c)
        assert b"USER\r\n" in caps and b"SASL PLAIN LOGIN\r\n" in caps and b"STLS" not in caps
        c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
        assert c.readline().startswith(b"+OK Logged in")
    assert len(re.findall(r"result=OK", au.log())) == 1, "only the TLS login asked"
