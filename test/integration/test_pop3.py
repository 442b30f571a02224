"""POP3 through the proxy with real clients (poplib, curl, raw sockets) against the real
Dovecot: the dialogue before login (CAPA variants, nginx's error replies and limits),
every login method (USER/PASS, APOP, AUTH PLAIN/LOGIN/CRAM-MD5 with and without
initial response), a 5 MB RETR byte for byte, DELE persisted. Wrong passwords,
faults and STLS are in test_pop3_faults.py.

Expected behaviour is nginx's (/work/shared/reference/nginx-mail.md sections 2-4) plus
the README's documented differences (pop3_client_buffer instead of 128 bytes)."""

import base64
import hashlib
import hmac
import re
import subprocess
import time

from harness import LineClient, free_port, make_cert, timeout, wait_until
from pop3_support import (CAPA_HEAD, INVALID, b64, closed_after, connect, fresh_user,
                          message, multiline, pop, pop3_server, setup, uniq)


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
    au.wait_log(r'user="%s" protocol=pop3 method=plain .*result=OK' % user)
    dv.wait_log(r"pop3-login: Info: Login: user=<%s>, method=PLAIN" % user)


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
    au.wait_log(r'user="%s" protocol=pop3 method=apop .*result=OK' % user)
    # by hand: a wrong digest is refused by the auth service (Auth-Wait: 0, so
    # the session closes, as nginx), then a good one works
    c, g = connect(port)
    with c:
        c.cmd("APOP %s %s" % (user, "0" * 32))
        assert c.readline() == b"-ERR Invalid login or password\r\n"
        assert c.closed()
    c, g = connect(port)
    with c:
        ts = g.split(b" ")[-1].strip()
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
    au.assert_log_count(r'user="alice" protocol=pop3 method=plain .*result=OK', 5,
                        after=au.sentinel())


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
    au.wait_log(r'user="alice" protocol=pop3 method=cram-md5 .*result=OK')
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
    fa.sync()
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
    fa.sync()
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
        "Auth-Login-Attempt", "Client-IP", "Client-Port"], req.header_list
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
