"""Helpers for test_sieve.py (not a test module: the runner only collects test_*.py):
the proxy set-up against the shared Dovecot's managesieve, fresh users (each test's
scripts are its own), a raw ManageSieve client (RFC 5804: capability lines, quoted
strings and literals in answers, OK/NO/BYE with response codes) and the real client
sieve-connect (Debian's, STARTTLS only: implicit TLS is tested with Python's ssl)."""

import base64
import os
import re
import shutil
import socket
import subprocess
import time
import uuid

from harness import LineClient, Skip, client_tls_context

# One Sieve script that files a marked message into a folder of its own. The folder
# is made by the delivery (:create), so nothing has to exist beforehand.
FILTER = """require ["fileinto", "mailbox"];
# filed by mailproxy's ManageSieve test
if header :contains "subject" "%(marker)s" {
  fileinto :create "%(folder)s";
  stop;
}
"""

STATUS_RX = re.compile(rb"^(OK|NO|BYE)\b", re.I)
LITERAL_RX = re.compile(rb"\{(\d+)\+?\}\r\n$")


def uniq():
    return uuid.uuid4().hex[:10]


def b64(data):
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def plain(user, password):
    """The SASL PLAIN message, base64 (RFC 4616: no authorization identity)."""
    return b64("\0%s\0%s" % (user, password))


def quoted(s):
    """A ManageSieve quoted string (RFC 5804 4: '\\' and '"' escaped)."""
    if isinstance(s, bytes):
        s = s.decode()
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def literal(data):
    """A non-synchronizing literal {n+} with its data (what clients send)."""
    if isinstance(data, str):
        data = data.encode()
    return b"{%d+}\r\n" % len(data) + data


def sieve_server(**kw):
    d = {"protocol": "sieve"}
    d.update(kw)
    return d


def need_sieve(dv):
    if not dv.sieve_port:
        raise Skip("the Dovecot has no managesieve (scripts/deps.sh test: "
                   "dovecot-managesieved dovecot-sieve dovecot-lmtpd)")
    return dv


def setup(ctx, auth_kw=None, mail=None, main=None, users=1, **srv):
    """Shared Dovecot (with managesieve), fresh users, the example auth service routing
    sieve to it, a proxy with one sieve server. Returns (dovecot, auth, proxy, port,
    [(user, password)])."""
    dv = need_sieve(ctx.dovecot())
    accounts = [fresh_user(dv) for _ in range(users)]
    au = ctx.auth_service(dovecot=dv, users=dict(accounts), **(auth_kw or {}))
    mp = ctx.mailproxy(servers=[sieve_server(**srv)], auth=au, mail=mail, main=main)
    return dv, au, mp, mp.ports["sieve"], accounts


def fresh_user(dv):
    """A new Dovecot user with no scripts and an empty mailbox (Dovecot.fresh_user)."""
    return dv.fresh_user("sv")


class Response:
    """One ManageSieve answer: .lines (each logical line, literals cut out), .literals
    (the data of each literal, in order), .status (the OK/NO/BYE line, b"" at EOF),
    .kind (b"OK", b"NO", b"BYE" or b"")."""

    def __init__(self, lines, literals, status):
        self.lines, self.literals, self.status = lines, literals, status
        m = STATUS_RX.match(status)
        self.kind = m.group(1).upper() if m else b""

    @property
    def ok(self):
        return self.kind == b"OK"

    def code(self):
        """The response code of the status line: b"TRYLATER" for 'NO (TRYLATER) ...'."""
        m = re.match(rb"^\w+ \(([^)]*)\)", self.status)
        return m.group(1) if m else None

    def capabilities(self):
        """{NAME: value or None} of a capability answer (names upper-cased)."""
        caps = {}
        for line in self.lines:
            m = re.match(rb'^"([^"]*)"(?: "((?:[^"\\]|\\.)*)")?\r\n$', line)
            assert m, "not a capability line: %r" % line
            caps[m.group(1).decode().upper()] = m.group(2).decode() \
                if m.group(2) is not None else None
        return caps

    def __repr__(self):
        return "Response(lines=%r, literals=%r, status=%r)" % (self.lines, self.literals,
                                                               self.status)


class SieveClient(LineClient):
    """A raw ManageSieve client. SieveClient(port, tls=False, source=None): connects
    (implicit TLS with tls=True; from the address source=(ip, 0) if given).
      .response()      -> Response: reads lines (and literals) up to OK/NO/BYE
      .command(data)   -> sends data (+ CRLF) and returns response()
      .greeting()      -> the greeting (a Response of capability lines)
      .starttls_now()  -> after an OK to STARTTLS: TLS, then the capability response
                          the server must send again (RFC 5804 2.2)
      .authenticate(user, password, form="quoted"|"literal"|"continuation")
    """

    def __init__(self, port, host="127.0.0.1", timeout=10.0, tls=False, source=None):
        super().__init__(port, host=host, timeout=timeout, tls=tls, source=source)

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            if time.monotonic() >= deadline:
                raise TimeoutError("literal of %d bytes: have %r" % (n, self.buf))
            try:
                if not self._fill(deadline):
                    raise AssertionError("EOF inside a literal of %d bytes: %r" % (n,
                                                                                 self.buf))
            except socket.timeout:
                raise TimeoutError("literal of %d bytes: have %r" % (n, self.buf))
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def logical_line(self, timeout=None):
        """A line with its literals read: (line with b"{n}" markers, [literal data])."""
        line = self.readline(timeout)
        parts, lits = [], []
        while True:
            m = LITERAL_RX.search(line)
            if not m:
                parts.append(line)
                return b"".join(parts), lits
            parts.append(line[:m.start()] + b"{%d}" % int(m.group(1)))
            lits.append(self.read_exact(int(m.group(1)), timeout))
            line = self.readline(timeout)

    def response(self, timeout=None):
        lines, lits = [], []
        while True:
            line, got = self.logical_line(timeout)
            lits += got
            if not line or STATUS_RX.match(line):
                return Response(lines, lits, line)
            lines.append(line)

    def command(self, data, timeout=None):
        self.send((data.encode() if isinstance(data, str) else data) + b"\r\n")
        return self.response(timeout)

    def greeting(self):
        g = self.response()
        assert g.ok, "greeting: %r" % g
        return g

    def starttls_now(self):
        self.starttls()
        caps = self.response()
        assert caps.ok, "capabilities after STARTTLS: %r" % caps
        return caps

    def authenticate(self, user, password, form="quoted", mech="PLAIN"):
        msg = plain(user, password)
        if form == "quoted":
            return self.command('AUTHENTICATE "%s" "%s"' % (mech, msg))
        if form == "literal":
            return self.command(b'AUTHENTICATE "%s" ' % mech.encode() + literal(msg))
        # no initial response: the server sends an empty challenge, the client answers
        self.cmd('AUTHENTICATE "%s"' % mech)
        challenge = self.readline()
        assert challenge in (b'""\r\n', b"{0}\r\n"), "PLAIN challenge: %r" % challenge
        return self.command(quoted(msg))


def sieve_connect(port, user, password, *action, tls=True, timeout=30, mech="PLAIN"):
    """Run Debian's sieve-connect against 127.0.0.1:port (STARTTLS unless tls=False,
    the certificate not verified; the password on fd 0). Returns CompletedProcess
    with str stdout/stderr."""
    if shutil.which("sieve-connect") is None:
        raise Skip("sieve-connect is not installed (scripts/deps.sh test)")
    argv = ["sieve-connect", "--nosrv", "--server", "127.0.0.1", "--port", str(port),
            "--user", user, "--passwordfd", "0", "--authmech", mech]
    argv += ["--notlsverify"] if tls else ["--clearchan"]
    r = subprocess.run(argv + list(action), input=(password + "\n").encode(),
                       capture_output=True, timeout=timeout,
                       env=dict(os.environ, HOME="/nonexistent"))
    r.stdout = r.stdout.decode("utf-8", "replace")
    r.stderr = r.stderr.decode("utf-8", "replace")
    return r


def check_sieve_connect(r, what):
    assert r.returncode == 0, "sieve-connect %s: rc %d\nstdout: %s\nstderr: %s" % (
        what, r.returncode, r.stdout, r.stderr)
    return r.stdout


def tls_client(port, source=None, alpn=None):
    """A SieveClient over implicit TLS (certificate not verified; offering the ALPN
    protocols alpn, a list, if given)."""
    c = SieveClient(port, source=source)
    ctx = client_tls_context()
    if alpn:
        ctx.set_alpn_protocols(alpn)
    c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
    return c


def script_files(dv, user):
    """{name: bytes} of the user's scripts as Dovecot stored them (mail/USER/sieve)."""
    d = os.path.join(dv.mail_dir, user, "sieve")
    out = {}
    if os.path.isdir(d):
        for f in os.listdir(d):
            if f.endswith(".sieve"):
                with open(os.path.join(d, f), "rb") as fh:
                    out[f[:-len(".sieve")]] = fh.read()
    return out


def active_script(dv, user):
    """The name of the user's active script (the ~/.dovecot.sieve symlink), or None."""
    link = os.path.join(dv.mail_dir, user, ".dovecot.sieve")
    if not os.path.islink(link):
        return None
    return os.path.basename(os.readlink(link))[:-len(".sieve")]


def backend_login_rx(user, tls=False):
    """Dovecot's log line for a managesieve login of user."""
    return r"managesieve-login: Info: Login: user=<%s>,%s" % (
        re.escape(user), r".*\bTLS\b" if tls else "")
