"""scripts/auth_service.py as a test peer, and a raw HTTP/1.0 client that speaks to an
auth service the way nginx / mailproxy do."""

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

from .util import LOOPBACK, LogWaits, mkdir, read_text, register_live, tail, unregister_live

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
AUTH_SCRIPT = os.path.join(REPO, "scripts", "auth_service.py")

_mod = None


def auth_module():
    """scripts/auth_service.py imported as a module (for user_line, make_hash, ...)."""
    global _mod
    if _mod is None:
        spec = importlib.util.spec_from_file_location("auth_service", AUTH_SCRIPT)
        _mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_mod)
    return _mod


DEFAULT_USERS = {"alice": "alicepw", "bob": "bobpw"}


class AuthService(LogWaits):
    """scripts/auth_service.py started on a free loopback port.

    users      {name: password} -> the password is also stored as the cleartext
               secret (so APOP/CRAM-MD5 work), or {name: {"password": ..., "secret":
               ..., "host": ..., "login": ..., "passwd": ..., "method": ...}} (password
               None = "*"; method: the Auth-Method an SMTP success returns).
               Default alice/alicepw, bob/bobpw (the Dovecot users).
    dovecot / postfix   take imap_port/pop3_port (sieve_port when it runs managesieve;
               and smtp_port) from these peers.
    imap_port, pop3_port, smtp_port, sieve_port   explicit ports (default
               143/110/25/4190).
    backends   {name: ip or "ip,imap=P,..."} (default mailhost01 = mailhost02 =
               127.0.0.1); passed as --backend NAME=SPEC.
    wait       Auth-Wait seconds on failure (default 0); max_attempts (default 10).
    secret     ("X-Auth-Key", "value") -> --secret-header/--secret.
    delay, garbage, status_500, close, no_server, oversize, always_pass, log_headers:
    the flags (log_headers: see request_headers()).
    letters, none_backend: routing knobs; extra_args: more command-line arguments.
    token_key  the HMAC key of its OAuth2 tokens (--token-key): oauthbearer/xoauth2
               logins, /oauth/token and /oauth/introspect; mint tokens with token().
    Attributes after start(): host, port, url ("127.0.0.1:PORT/mail/auth", for
    auth_http), pid, users_file, log_path.
    """

    def __init__(self, workdir, users=None, dovecot=None, postfix=None, imap_port=None,
                 pop3_port=None, smtp_port=None, sieve_port=None, backends=None, wait=0, max_attempts=10,
                 secret=None, delay=None, garbage=False, status_500=False, close=False,
                 no_server=False, oversize=False, always_pass=False, letters=None,
                 none_backend=None, log_headers=False, extra_args=(), token_key=None):
        self.dir = mkdir(os.path.abspath(workdir))
        self.users_file = os.path.join(self.dir, "users")
        self.log_path = os.path.join(self.dir, "auth_service.log")
        self.host = LOOPBACK
        self.port = None
        self.proc = None
        self._token = None
        self.users = dict(DEFAULT_USERS if users is None else users)
        if dovecot is not None:
            imap_port = imap_port or dovecot.imap_port
            pop3_port = pop3_port or dovecot.pop3_port
            sieve_port = sieve_port or getattr(dovecot, "sieve_port", None)
        if postfix is not None:
            smtp_port = smtp_port or postfix.smtp_port
        a = []
        for name, spec in (backends or {}).items():
            a += ["--backend", "%s=%s" % (name, spec)]
        for flag, v in (("--imap-port", imap_port), ("--pop3-port", pop3_port),
                        ("--smtp-port", smtp_port), ("--sieve-port", sieve_port),
                        ("--wait", wait),
                        ("--max-attempts", max_attempts), ("--delay", delay),
                        ("--letters", letters), ("--none-backend", none_backend)):
            if v is not None:
                a += [flag, str(v)]
        if secret is not None:
            a += ["--secret-header", secret[0], "--secret", secret[1]]
        for flag, on in (("--garbage", garbage), ("--status-500", status_500),
                         ("--close", close), ("--no-server", no_server),
                         ("--oversize", oversize), ("--always-pass", always_pass),
                         ("--log-headers", log_headers)):
            if on:
                a.append(flag)
        self.token_key = token_key
        if token_key is not None:
            a += ["--token-key", token_key]
        self.args = a + list(extra_args)
        self.write_users()

    def token(self, user, ttl=3600, scope="mail"):
        """A bearer token this service accepts (ttl < 0: expired)."""
        return auth_module().mint_token(self.token_key, user, ttl, scope)

    @property
    def introspect_url(self):
        return "http://%s:%d/oauth/introspect" % (self.host, self.port)

    def write_users(self):
        m = auth_module()
        lines = []
        for name, spec in self.users.items():
            if isinstance(spec, dict):
                lines.append(m.user_line(name, spec.get("password"), spec.get("secret"),
                                         spec.get("host"), spec.get("login"),
                                         spec.get("passwd"), iterations=1000,
                                         method=spec.get("method")))
            else:
                lines.append(m.user_line(name, spec, spec, iterations=1000))
        tmp = self.users_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, self.users_file)

    def add_user(self, name, spec):
        """Add/replace a user (the service re-reads the file when it changes)."""
        self.users[name] = spec
        self.write_users()

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def url(self):
        return "%s:%d/mail/auth" % (self.host, self.port)

    def start(self, timeout=10.0):
        argv = [sys.executable, AUTH_SCRIPT, "--listen", "%s:0" % self.host,
                "--users", self.users_file] + self.args
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._log, start_new_session=True)
        self._token = register_live(self.stop)
        line = []
        t = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()),
                             daemon=True)
        t.start()
        t.join(timeout)
        text = line[0].decode("utf-8", "replace").strip() if line else ""
        if not text.startswith("listening on "):
            self.stop()
            raise RuntimeError("auth_service did not start: %r\n%s" % (text, self.describe()))
        self.port = int(text.rsplit(":", 1)[1])
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=5.0):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        if self._token:
            unregister_live(self._token)
            self._token = None
        self._log.close()

    def log(self):
        """The service's stderr: one line per request, 'user="U" protocol=P method=M
        client=IP attempt=N result=R ...'. Wait for lines with wait_log() and friends
        (util.LogWaits)."""
        return read_text(self.log_path)

    def sentinel(self):
        """Send one request straight to the service (user "sentinel-<hex>", protocol
        "sentinel"; logged with result=fail) and wait for its log line; return a regex
        for that line, for after= of assert_not_logged() / assert_log_count(). Use it
        once the events under test are over: their lines, if any, are then in the log.
        Keep the asserted pattern from matching the sentinel's own line."""
        name = "sentinel-%s" % uuid.uuid4().hex[:12]
        self.request(user=name, password="x", protocol="sentinel")
        pat = r'user="%s" protocol=sentinel ' % name
        self.wait_log(pat)
        return pat

    def wait_request(self, user=None, protocol=None, method=None, result=None,
                     timeout=20.0, count=1, since=0):
        """Wait until count request lines match the given fields (None: any); return
        the count-th match (re.Match of the line)."""
        rx = r'(?m)^.*user="%s" protocol=%s method=%s .* result=%s\b.*$' % tuple(
            r'[^"]*' if v is None and f == "user" else r"\S+" if v is None else re.escape(v)
            for f, v in (("user", user), ("protocol", protocol), ("method", method),
                         ("result", result)))
        return self.wait_log(rx, timeout=timeout, count=count, since=since)

    def request_headers(self, user, timeout=20.0, count=1, since=0):
        """With log_headers: the headers of the count-th request for user (its escaped
        Auth-User), as the service received them: a list of (name, value), in order."""
        m = self.wait_log(r'(?m)^.*headers user="%s" (\[.*\])$' % re.escape(user),
                          timeout=timeout, count=count, since=since)
        return [tuple(kv) for kv in json.loads(m.group(1))]

    def describe(self, lines=30):
        return "--- auth_service log (tail)\n%s" % tail(self.log(), lines)

    def request(self, **kw):
        """auth_request() against this service."""
        return auth_request(self.port, host=self.host, **kw)


class AuthResponse:
    """.raw (bytes), .status_line, .code (int or None), .headers (dict, lower-case
    names -> value), .header(name), .elapsed (seconds), .closed (server closed after)."""

    def __init__(self, raw, elapsed, closed):
        self.raw, self.elapsed, self.closed = raw, elapsed, closed
        head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        lines = head.split("\r\n")
        self.status_line = lines[0] if lines else ""
        parts = self.status_line.split()
        self.code = int(parts[1]) if len(parts) > 1 and parts[0].startswith("HTTP/") \
            and parts[1].isdigit() else None
        self.headers = {}
        for l in lines[1:]:
            k, sep, v = l.partition(":")
            if sep:
                self.headers[k.strip().lower()] = v.strip()

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    @property
    def status(self):
        return self.header("Auth-Status")

    def __repr__(self):
        return "AuthResponse(%r)" % self.raw[:600]


def escape(value):
    """nginx's NGX_ESCAPE_MAIL_AUTH: bytes < 0x20, space and '%' -> %XX; returns bytes
    (bytes >= 0x7f are left alone, as nginx does)."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    return b"".join(b"%%%02X" % b if b < 0x20 or b in (0x20, 0x25) else bytes([b])
                    for b in value)


def _b(v):
    return v if isinstance(v, bytes) else str(v).encode("utf-8")


def auth_request(port, host=LOOPBACK, method="plain", user="", password="", protocol="imap",
                 attempt=1, client_ip="192.0.2.7", salt=None, extra=None, uri="/mail/auth",
                 timeout=10.0, raw_escape=True):
    """Send one nginx-style auth_http request (HTTP/1.0, one request per connection) and
    read the whole answer until the server closes. user/password are escaped as nginx
    does (raw_escape=False sends them verbatim). extra: list of (name, value) or dict of
    extra headers (e.g. the shared secret, Auth-SSL-Verify). Values may be str or bytes."""
    hdrs = [("Host", "localhost"), ("Auth-Method", method),
            ("Auth-User", escape(user) if raw_escape else user),
            ("Auth-Pass", escape(password) if raw_escape else password)]
    if salt is not None:
        hdrs.append(("Auth-Salt", salt))
    hdrs += [("Auth-Protocol", protocol), ("Auth-Login-Attempt", str(attempt)),
             ("Client-IP", client_ip)]
    if isinstance(extra, dict):
        extra = list(extra.items())
    hdrs += list(extra or [])
    req = b"GET " + _b(uri) + b" HTTP/1.0\r\n" + \
        b"".join(_b(k) + b": " + _b(v) + b"\r\n" for k, v in hdrs) + b"\r\n"
    t0 = time.monotonic()
    data = b""
    closed = False
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(req)
        s.settimeout(timeout)
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                closed = True
                break
            data += chunk
    return AuthResponse(data, time.monotonic() - t0, closed)


def unescape(value):
    """Undo escape(): an Auth-User/Auth-Pass header value -> bytes."""
    return urllib.parse.unquote_to_bytes(value)
