"""The access log (log_format / access_log, nginx stream's): one line per session,
written when it ends, through the real binary, the example auth service, Dovecot
and Postfix. Exact field values for IMAP, POP3 and SMTP logins (addresses, login,
upstream, byte counts), every way a session ends ($status), the TLS facts over
implicit TLS and STARTTLS, escape=default and json against a hostile login, several
logs per server and "off", buffer=/flush=, reopening on USR1 and a syslog target.
The password, and an OAuth bearer token, never reach the file."""

import base64
import json
import os
import re
import socket

from harness import LineClient, free_port, oauth_peers, oauthbearer, wait_until
from tls_support import TLSLineClient, client_context, self_signed

FIELDS = ("$remote_addr|$remote_port|$server_addr|$server_port|$protocol|$login|"
          "$upstream_addr|$status|$bytes_received|$bytes_sent|$ssl_protocol|"
          "$ssl_cipher|$ssl_session_reused|$ssl_server_name|$connection")
NAMES = ("remote_addr remote_port server_addr server_port protocol login upstream_addr "
         "status bytes_received bytes_sent ssl_protocol ssl_cipher ssl_session_reused "
         "ssl_server_name connection").split()


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def wait_lines(path, n, timeout=20):
    """The first n lines of path, once it has them (bytes, without newlines)."""
    return wait_until(lambda: read(path).count(b"\n") >= n and read(path).split(b"\n")[:n],
                      timeout, what="%d line(s) in %s: %r" % (n, path, read(path)))


def fields(line):
    parts = line.decode().split("|")
    assert len(parts) == len(NAMES), line
    return dict(zip(NAMES, parts))


def setup(ctx, servers, log=None, auth=None, mail=None, dovecot=None):
    log = log or ctx.path("access.log")
    m = {"log_format": {"f": FIELDS}, "access_log": "%s f" % log}
    m.update(mail or {})
    if auth is None:
        dv = dovecot or ctx.dovecot()
        auth = ctx.auth_service(dovecot=dv, postfix=ctx.postfix())
    mp = ctx.mailproxy(auth=auth, servers=servers, mail=m)
    return mp, log


class Counted(LineClient):
    """A LineClient that counts the bytes it sends and receives."""

    def __init__(self, port, **kw):
        super().__init__(port, **kw)
        self.sent = 0
        self.got = 0

    def send(self, data):
        data = data.encode() if isinstance(data, str) else data
        self.sent += len(data)
        super().send(data)

    def cmd(self, line):
        self.send(line + "\r\n")

    def drain(self):
        """Reads to EOF; the total of bytes received, buffered ones included."""
        total = self.got + len(self.buf)
        self.buf = b""
        self.sock.settimeout(10)
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return total
            total += len(chunk)

    def readline(self, *a, **kw):
        line = super().readline(*a, **kw)
        self.got += len(line)
        return line


def assert_no_secret(path, *secrets):
    data = read(path)
    for s in secrets:
        assert s.encode() not in data, "%r in the access log" % s


# ------------------------------------------------------------------ logins: exact fields

def test_access_log_imap_pop3_smtp_ok_exact_fields(ctx):
    dv = ctx.dovecot()
    pf = ctx.postfix()
    au = ctx.auth_service(dovecot=dv, postfix=pf)
    mp, log = setup(ctx, [{"protocol": "imap"}, {"protocol": "pop3"}, {"protocol": "smtp"}],
                    auth=au)
    got = []

    c = Counted(mp.ports["imap"])
    assert c.readline().startswith(b"* OK")
    c.cmd("a LOGIN alice alicepw")
    assert c.read_until(b"a ")[-1].startswith(b"a OK")
    c.cmd("b LOGOUT")
    got.append(("imap", c.sock.getsockname()[1], c.sent, c.drain(), dv.imap_port))
    c.close()

    c = Counted(mp.ports["pop3"])
    assert c.readline().startswith(b"+OK")
    c.cmd("USER alice")
    assert c.readline().startswith(b"+OK")
    c.cmd("PASS alicepw")
    assert c.readline().startswith(b"+OK")
    c.cmd("QUIT")
    got.append(("pop3", c.sock.getsockname()[1], c.sent, c.drain(), dv.pop3_port))
    c.close()

    c = Counted(mp.ports["smtp"])
    assert c.readline().startswith(b"220")
    c.cmd("EHLO client.test")
    c.read_until(b"250 ")
    c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
    assert c.readline().startswith(b"235")
    c.cmd("QUIT")
    got.append(("smtp", c.sock.getsockname()[1], c.sent, c.drain(), pf.smtp_port))
    c.close()

    for i, (proto, cport, sent, received, bport) in enumerate(got):
        f = fields(wait_lines(log, i + 1)[i])
        assert f == {
            "remote_addr": "127.0.0.1", "remote_port": str(cport),
            "server_addr": "127.0.0.1", "server_port": str(mp.ports[proto]),
            "protocol": proto, "login": "alice",
            "upstream_addr": "127.0.0.1:%d" % bport, "status": "ok",
            "bytes_received": str(sent), "bytes_sent": str(received),
            "ssl_protocol": "-", "ssl_cipher": "-", "ssl_session_reused": "-",
            "ssl_server_name": "-", "connection": f["connection"]}, (proto, sent, received, f)
        # $connection is the number of the error log's "*N" lines of that session
        mp.wait_log(r"\*%s client logged in, client: 127\.0\.0\.1" % f["connection"])
    mp.stop()
    assert read(log).count(b"\n") == 3
    assert_no_secret(log, "alicepw", b64("\0alice\0alicepw"))


def test_access_log_default_format_and_timings(ctx):
    log = ctx.path("access.log")
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    mp = ctx.mailproxy(auth=au, servers=[{"protocol": "imap"}], mail={
        "log_format": {"t": "$session_time $auth_time $upstream_connect_time $time_iso8601 "
                            "$msec $pid"},
        "access_log": ["%s" % log, "%s t" % log]})
    with LineClient(mp.ports["imap"]) as c:
        c.readline()
        c.cmd("a LOGIN alice alicepw")
        c.read_until(b"a ")
        port = c.sock.getsockname()[1]
        c.cmd("b LOGOUT")
        c.read_until(b"b ")
    default, timings = wait_lines(log, 2)
    # the predefined "combined" format
    assert re.fullmatch(
        (r'127\.0\.0\.1:%d \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] imap "alice" ok '
         r'\d+ \d+ \d+\.\d{3} "127\.0\.0\.1:%d"' % (port, dv.imap_port)).encode(), default), default
    m = re.fullmatch(rb"(\d+\.\d{3}) (\d+\.\d{3}) (\d+\.\d{3}) "
                     rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d \d+\.\d{3} (\d+)", timings)
    assert m, timings
    assert float(m.group(2)) <= float(m.group(1)) and float(m.group(3)) <= float(m.group(1))
    assert int(m.group(4)) in mp.workers()


# ------------------------------------------------------------------ how sessions end

def imap_session(port, *cmds, source="127.0.0.1"):
    """Greeting, then each command and its tagged reply; returns the last reply."""
    with LineClient(port, source=(source, 0)) as c:
        assert c.readline().startswith(b"* OK")
        last = None
        for i, cmd in enumerate(cmds):
            tag = "t%d" % i
            c.cmd("%s %s" % (tag, cmd))
            last = c.read_until(tag.encode() + b" ")[-1]
        return last


def statuses(path, n):
    return [fields(line)["status"] for line in wait_lines(path, n)]


def test_access_log_auth_failed_and_client_closed(ctx):
    only_login = ctx.path("if.log")
    log = ctx.path("access.log")
    mp, _ = setup(ctx, [{"protocol": "imap"}], log=log,
                  mail={"access_log": ["%s f" % log, "%s f if=$login" % only_login]})
    # without Auth-Wait a refusal ends the session, as in nginx
    assert imap_session(mp.ports["imap"], "LOGIN alice wrongpw").startswith(b"t0 NO")
    assert imap_session(mp.ports["imap"]) is None     # greeting, then gone
    lines = wait_lines(log, 2)
    f = fields(lines[0])
    assert (f["status"], f["login"], f["upstream_addr"]) == ("auth-failed", "alice", "-")
    assert fields(lines[1])["status"] == "client-closed"
    assert fields(lines[1])["login"] == "-"
    # if=$login: no line for the session without a login
    mp.stop()
    assert [fields(x)["status"] for x in read(only_login).splitlines()] == ["auth-failed"]
    assert_no_secret(log, "wrongpw", "alicepw")


def test_access_log_auth_error_service_down(ctx):
    down = "127.0.0.1:%d/auth" % free_port()
    mp, log = setup(ctx, [{"protocol": "pop3"}], auth=None,
                    mail={"auth_http": down}, dovecot=ctx.dovecot())
    with LineClient(mp.ports["pop3"]) as c:
        c.readline()
        c.cmd("USER bob")
        c.readline()
        c.cmd("PASS bobpw")
        assert c.readline().startswith(b"-ERR")
    f = fields(wait_lines(log, 1)[0])
    assert (f["status"], f["login"], f["protocol"]) == ("auth-error", "bob", "pop3")
    assert_no_secret(log, "bobpw")


def test_access_log_backend_error(ctx):
    dead = free_port()
    fa = ctx.fake_auth(backend_port=dead)
    mp, log = setup(ctx, [{"protocol": "imap"}], auth=fa)
    with LineClient(mp.ports["imap"]) as c:
        c.readline()
        c.cmd("a LOGIN alice alicepw")
        assert c.readline() == b"* BAD internal server error\r\n"
    f = fields(wait_lines(log, 1)[0])
    assert (f["status"], f["login"], f["upstream_addr"]) == \
        ("backend-error", "alice", "127.0.0.1:%d" % dead)


def test_access_log_timeout(ctx):
    mp, log = setup(ctx, [{"protocol": "imap", "timeout": "1s"}])
    with LineClient(mp.ports["imap"]) as c:
        c.readline()
        assert c.closed(timeout=15)
    assert statuses(log, 1) == ["timeout"]


def test_access_log_limited(ctx):
    mp, log = setup(ctx, [{"protocol": "imap", "login_limit_zone": "shared:al:1m",
                           "login_limit_tarpit": "100ms",
                           "login_limit_addr": "1/m burst=2 block=10m"}])
    for _ in range(3):
        imap_session(mp.ports["imap"], "LOGIN alice wrong", source="127.0.0.31")
    assert imap_session(mp.ports["imap"], "LOGIN alice alicepw",
                        source="127.0.0.31").startswith(b"t0 NO [UNAVAILABLE]")
    st = statuses(log, 4)
    assert st == ["auth-failed"] * 3 + ["limited"], st
    assert fields(wait_lines(log, 4)[3])["remote_addr"] == "127.0.0.31"


# ------------------------------------------------------------------ TLS

def test_access_log_tls_implicit_and_starttls(ctx):
    cert, key = self_signed(ctx.path("pki"), "server", "localhost")
    srv = {"protocol": "imap", "ssl_certificate": cert, "ssl_certificate_key": key,
           "starttls": "on"}
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    log = ctx.path("access.log")
    mp = ctx.mailproxy(auth=au, servers=[dict(srv), dict(srv, ssl_listen=True)], mail={
        "log_format": {"f": FIELDS}, "access_log": "%s f" % log})
    ssl_port = [p for _h, p, params, _pr in mp.listens if "ssl" in params][0]
    with TLSLineClient(ssl_port, client_context(), server_hostname="mx.test") as c:
        assert c.readline().startswith(b"* OK")
        c.cmd("a LOGIN alice alicepw")
        assert c.read_until(b"a ")[-1].startswith(b"a OK")
        cipher, version = c.sock.cipher()[0], c.sock.version()
        c.cmd("b LOGOUT")
        c.read_until(b"b ")
    f = fields(wait_lines(log, 1)[0])
    assert (f["ssl_protocol"], f["ssl_cipher"], f["ssl_session_reused"],
            f["ssl_server_name"], f["status"], f["server_port"]) == \
        (version, cipher, ".", "mx.test", "ok", str(ssl_port))

    with LineClient(mp.ports["imap"]) as c:
        c.readline()
        c.cmd("a STARTTLS")
        assert c.readline().startswith(b"a OK")
        c.starttls()
        c.cmd("b LOGIN alice alicepw")
        assert c.read_until(b"b ")[-1].startswith(b"b OK")
        cipher, version = c.sock.cipher()[0], c.sock.version()
    f = fields(wait_lines(log, 2)[1])
    assert (f["ssl_protocol"], f["ssl_cipher"], f["ssl_session_reused"], f["status"]) == \
        (version, cipher, ".", "ok")
    assert_no_secret(log, "alicepw")


# ------------------------------------------------------------------ escaping

HOSTILE = 'ev"il\\ \x01\t\x7f\u00e9} x'


def test_access_log_escape_json_and_default_hostile_login(ctx):
    jlog, dlog = ctx.path("j.log"), ctx.path("d.log")
    token = "ya29." + "Tok3n" * 20
    mp, _ = setup(ctx, [{"protocol": "imap"}], log=dlog, mail={
        "log_format": {"j": 'escape=json {"login":"$login","status":"$status","sni":"$ssl_server_name"}',
                       "d": "[$login] $status"},
        "access_log": ["%s j" % jlog, "%s d" % dlog]})
    with LineClient(mp.ports["imap"]) as c:
        c.readline()
        c.cmd("a AUTHENTICATE PLAIN " + b64(("\0" + HOSTILE + "\0" + token).encode()))
        assert c.read_until(b"a ")[-1].startswith(b"a NO")
    rec = json.loads(wait_lines(jlog, 1)[0].decode("utf-8"))
    assert rec == {"login": HOSTILE, "status": "auth-failed", "sni": ""}
    # nginx's default escape: \xHH for '"', '\', control bytes and bytes >= 0x7f
    want = b"".join(b"\\x%02X" % ch if ch in b'"\\' or ch < 0x20 or ch >= 0x7f else bytes([ch])
                    for ch in HOSTILE.encode())
    assert wait_lines(dlog, 1)[0] == b"[" + want + b"] auth-failed"
    assert read(jlog).count(b"\n") == 1 and read(dlog).count(b"\n") == 1
    mp.stop()
    assert_no_secret(jlog, token, "Tok3nTok3n")
    assert_no_secret(dlog, token, "Tok3nTok3n")


# ------------------------------------------------------------------ several logs, off

def test_access_log_several_and_off(ctx):
    a, b = ctx.path("a.log"), ctx.path("b.log")
    mp, _ = setup(ctx, [{"protocol": "imap"},
                        {"protocol": "pop3", "access_log": "off"},
                        {"protocol": "smtp", "access_log": "%s f" % b}],
                  log=a, mail={"access_log": ["%s f" % a, "%s f" % b]})
    imap_session(mp.ports["imap"], "LOGOUT")
    with LineClient(mp.ports["pop3"]) as c:
        c.readline()
        c.cmd("QUIT")
        c.readline()
    with LineClient(mp.ports["smtp"]) as c:
        c.readline()
        c.cmd("QUIT")
        c.readline()
    mp.stop()
    la, lb = read(a).splitlines(), read(b).splitlines()
    assert [fields(x)["protocol"] for x in la] == ["imap"], la
    assert [fields(x)["protocol"] for x in lb] == ["imap", "smtp"], lb


# ------------------------------------------------------------------ buffering

def test_access_log_buffer_flush_and_exit(ctx):
    flushed, held = ctx.path("flushed.log"), ctx.path("held.log")
    mp, _ = setup(ctx, [{"protocol": "imap"}], log=flushed, mail={
        "access_log": ["%s f buffer=64k flush=1s" % flushed, "%s f buffer=64k" % held]})
    imap_session(mp.ports["imap"], "LOGOUT")
    # flush= writes it out by itself
    assert fields(wait_lines(flushed, 1)[0])["status"] == "client-closed"
    # without flush=, the line waits in the buffer until the worker exits
    assert read(held) == b""
    mp.stop()
    assert read(held) == read(flushed)


# ------------------------------------------------------------------ USR1

def test_access_log_reopen_on_usr1(ctx):
    mp, log = setup(ctx, [{"protocol": "imap"}])
    imap_session(mp.ports["imap"], "LOGOUT")
    wait_lines(log, 1)
    os.rename(log, log + ".1")
    r = ctx.cli("-c", mp.config_path, "-s", "reopen")
    assert r.rc == 0, r
    wait_until(lambda: os.path.exists(log), 20, what="the master reopening the access log")
    mp.wait_log(r"reopening logs", count=1 + len(mp.workers()))
    imap_session(mp.ports["imap"], "LOGIN alice alicepw", "LOGOUT")
    assert fields(wait_lines(log, 1)[0])["login"] == "alice"
    mp.stop()
    assert read(log).count(b"\n") == 1
    old = read(log + ".1").splitlines()
    assert len(old) == 1 and fields(old[0])["status"] == "client-closed"


# ------------------------------------------------------------------ reload

def test_access_log_reload_moves_to_the_new_file(ctx):
    a, b = ctx.path("a.log"), ctx.path("b.log")
    mp, _ = setup(ctx, [{"protocol": "imap"}], log=a)
    imap_session(mp.ports["imap"], "LOGOUT")
    wait_lines(a, 1)
    yaml = open(mp.config_path).read()
    assert yaml.count(a) == 1, yaml
    with open(mp.config_path, "w") as f:
        f.write(yaml.replace(a, b))
    mp.reload()
    mp.wait_log(r"configuration generation 1 is running")
    wait_until(lambda: len(mp.workers()) == 2 and os.path.exists(b), 20,
               what="new workers with the new access log")
    imap_session(mp.ports["imap"], "LOGIN alice alicepw", "LOGOUT")
    assert fields(wait_lines(b, 1)[0])["login"] == "alice"
    mp.stop()
    assert read(a).count(b"\n") == 1 and read(b).count(b"\n") == 1


# ------------------------------------------------------------------ syslog

def test_access_log_syslog_target(ctx):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(20)
    ctx.cleanup(sock.close)
    port = sock.getsockname()[1]
    mp, _ = setup(ctx, [{"protocol": "imap"}], mail={
        "access_log": "syslog:server=127.0.0.1:%d,facility=local3,tag=mpaccess,severity=notice,"
                      "nohostname f" % port})
    imap_session(mp.ports["imap"], "LOGIN alice alicepw", "LOGOUT")
    data = sock.recv(65536)
    # <PRI> is facility local3 (19) * 8 + notice (5)
    m = re.fullmatch(rb"<157>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d mpaccess: (.*)", data)
    assert m, data
    f = fields(m.group(1))
    assert (f["login"], f["status"], f["protocol"]) == ("alice", "ok", "imap")


# ------------------------------------------------------------------ configuration errors

def check_config(ctx, mail_yaml):
    path = ctx.path("bad.yaml")
    with open(path, "w") as f:
        f.write("daemon: off\nerror_log: stderr\nmail:\n  auth_http: 127.0.0.1:9/a\n" + mail_yaml +
                "  servers:\n    - listen: [\"127.0.0.1:%d\"]\n      protocol: imap\n" % free_port())
    r = ctx.cli("-t", "-c", path)
    return r, path


def test_access_log_config_errors(ctx):
    r, p = check_config(ctx, "  log_format: {x: \"$remote_addr $nosuch\"}\n")
    assert r.rc == 1 and '%s:5:33: "log_format": x: unknown variable "$nosuch"' % p in r.out, r.out
    r, p = check_config(ctx, "  log_format: {x: \"escape=yaml $login\"}\n")
    assert r.rc == 1 and 'unknown escape "yaml" (expected default, json or none)' in r.out, r.out
    r, p = check_config(ctx, "  access_log: /tmp/x.log nosuch\n")
    assert r.rc == 1 and '%s:5:15: "access_log": unknown log format "nosuch"' % p in r.out, r.out
    r, p = check_config(ctx, "  access_log: \"/tmp/x.log combined buffer=64k\"\n"
                             "  auth_http_header: {X-User: \"$login\"}\n")
    assert r.rc == 1 and 'unknown variable "$login" (only log_format has it)' in r.out, r.out
    r, p = check_config(ctx, "  access_log: \"syslog:server=127.0.0.1 combined buffer=4k\"\n")
    assert r.rc == 1 and "not supported with syslog" in r.out, r.out
    r, p = check_config(ctx, "  log_format: {combined: \"$login\"}\n")
    assert r.rc == 1 and "predefined format" in r.out, r.out
    r, p = check_config(ctx, "  log_format: {x: \"$login\"}\n  access_log: [\"/tmp/a x\", off]\n")
    assert r.rc == 1, r.out


def test_access_log_oauth_login_is_the_identity_never_the_token(ctx):
    """An OAUTHBEARER login through to Dovecot's oauth2 passdb: $login is the GS2
    identity, the status ok, and neither the bearer token nor the SASL message that
    carries it reaches the file."""
    dv, au = oauth_peers(ctx)
    log = ctx.path("access.log")
    mp = ctx.mailproxy(auth=au, mail={"log_format": {"f": FIELDS}, "access_log": "%s f" % log},
                       servers=[{"protocol": "imap", "imap_auth": ["plain", "oauthbearer"],
                                 "imap_capabilities": ["IMAP4rev1", "SASL-IR"]}])
    tok = au.token("bob")
    msg = oauthbearer("bob", tok)
    with LineClient(mp.ports["imap"], timeout=10) as c:
        c.readline()
        c.cmd("a1 AUTHENTICATE OAUTHBEARER " + msg)
        final = c.read_until("a1 ")[-1]
        assert final.startswith(b"a1 OK "), final
        c.cmd("a2 LOGOUT")
        c.read_until("a2 ")
    f = fields(wait_lines(log, 1)[0])
    assert (f["login"], f["status"], f["protocol"]) == ("bob", "ok", "imap"), f
    assert f["upstream_addr"] == "127.0.0.1:%d" % dv.imap_port, f
    assert_no_secret(log, tok, msg)
