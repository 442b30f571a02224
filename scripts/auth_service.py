#!/usr/bin/env python3
"""Example auth service for mailproxy: nginx's auth_http protocol, standard library only.

mailproxy (like nginx's mail module) asks an HTTP service whether a login is good
and which backend holds the mailbox. It sends one "GET <uri> HTTP/1.0" per attempt,
on a new connection, with headers such as

    Auth-Method: plain | apop | cram-md5 | external | none
    Auth-User: alice            (%-escaped: bytes < 0x20, space and '%' become %XX)
    Auth-Pass: secret           (%-escaped; the hex digest for apop / cram-md5)
    Auth-Salt: <123.456@host>   (apop and cram-md5 only)
    Auth-Protocol: imap | pop3 | smtp | sieve      (sieve: ManageSieve, RFC 5804)
    Auth-Login-Attempt: 1
    Client-IP: 192.0.2.7
    Auth-SSL-Verify / Auth-SSL-Subject   (TLS with client certificates)

and this service answers "HTTP/1.0 200 OK" with headers (the status code itself is
ignored by the proxy, only the headers count), then closes the connection:

    success:  Auth-Status: OK, Auth-Server: <IP literal>, Auth-Port: <port>
              [Auth-User: <backend login>] [Auth-Pass: <backend password>]
    failure:  Auth-Status: Invalid login or password
              [Auth-Wait: N]      while Auth-Login-Attempt <= --max-attempts, so the
                                  proxy lets the client retry after N seconds; after
                                  that no Auth-Wait, so the proxy closes the session
                                  (as it does with --wait 0: "Auth-Wait: 0" is no wait)
              [Auth-Error-Code: 535 5.7.8]   (smtp only)

Methods
  plain     check Auth-Pass against the user's salted hash (LOGIN, USER/PASS and
            AUTH PLAIN all arrive as "plain").
  apop      Auth-Salt is the POP3 timestamp "<...>", Auth-Pass the hex MD5(salt+secret).
  cram-md5  Auth-Pass is the hex HMAC-MD5(key=secret, msg=salt).
            Both need the user's CLEARTEXT secret in the users file (secret=...):
            a salted hash cannot verify a challenge-response. The secret is also
            returned as Auth-Pass, because the proxy has no password of its own to log
            into the backend with.
  external  accepted when Auth-SSL-Verify is SUCCESS and the CN of Auth-SSL-Subject
            equals Auth-User (and the user exists); Auth-Pass = the stored backend
            password (pass=, else secret=).
  none      SMTP without authentication (smtp_auth none): always OK, routed to the
            SMTP port of the --none-backend host.
  oauthbearer, xoauth2
            Auth-Pass is a bearer token this service issued (see OAuth2 below), valid
            (signature, expiry, --token-scope) and for Auth-User (the identity the client
            named in its SASL message). OK carries no Auth-Pass: the proxy logs in to the
            backend with the same mechanism and the token, and the backend (Dovecot's
            oauth2 passdb) asks /oauth/introspect. A refusal carries Auth-Error-SASL:
            base64 of {"status":"invalid_token","schemes":"bearer","scope":...} (RFC 7628
            3.2.2), which the proxy sends to the client as the SASL challenge.

OAuth2 (a small token issuer and validator; --token-key KEY, the HMAC-SHA256 key):
  tokens   "mpt1.<base64url JSON {"sub","exp","scope"}>.<base64url HMAC>", minted by
           POST /oauth/token (form grant_type=password, username, password[, scope]
           [, expires_in]) answering {"access_token", "token_type": "Bearer",
           "expires_in", "scope"}, or on the command line:
               auth_service.py token --key KEY USER [--ttl SECONDS] [--scope mail]
  introspection (RFC 7662)  POST /oauth/introspect with form token=..., or
           GET /oauth/introspect/<token> or /oauth/introspect?token=...; the answer is
           {"active": true, "username", "exp", "scope"} or {"active": false}.

Backend choice: the user's host= option if set (a backend name or an IP literal),
else the rule of nginx's example auth.php: users whose name starts with a, c, f or g
go to "mailhost01", everybody else to "mailhost02" (--letters changes the set). A
backend name maps to an IP via --backend NAME=IP[,imap=PORT][,pop3=PORT][,smtp=PORT]
[,sieve=PORT]; the port is per protocol (--imap-port 143, --pop3-port 110, --smtp-port 25,
--sieve-port 4190 by default: a ManageSieve login goes to the backend's managesieve).
Without any --backend both names map to 127.0.0.1. A name without a --backend falls
back to mailhost01, then to the first backend given.

Users file (--users FILE; re-read when its modification time changes):

    # comment
    USER:HASH[:OPTIONS]

  USER     the login name (no ':' and no whitespace).
  HASH     pbkdf2_sha256$ITERATIONS$SALT_B64$HASH_B64
           or scrypt$N$R$P$SALT_B64$HASH_B64
           or * (no password login: the user can only use apop, cram-md5 or external)
  OPTIONS  comma-separated key=value, each value %-encoded (%2C for ',', %25 for '%'):
           secret=CLEARTEXT  for apop / cram-md5, returned as Auth-Pass for them
           host=NAME|IP      backend override (a --backend name or an IP literal)
           login=NAME        backend login name, returned as Auth-User on success
           pass=PASSWORD     backend password, returned as Auth-Pass on every success
           method=plain|login|none   SMTP: returned as Auth-Method on success, the
                             backend login mailproxy makes with proxy_smtp_auth on

Create entries with

    auth_service.py hash PASSWORD [--iterations N] [--scheme pbkdf2_sha256|scrypt]
    auth_service.py adduser FILE USER PASSWORD [--secret] [--host H] [--login L] [--pass P]

(--secret also stores PASSWORD as the cleartext secret for apop / cram-md5.)
scripts/auth_users.example is a ready-made file.

Shared secret: started with --secret-header X-Auth-Key --secret VALUE (the proxy's
auth_http_header), a request without that header and value gets "HTTP/1.0 403
Forbidden" with Auth-Status "Temporary server problem, try again later" and
Auth-Error-Code "451 4.3.0" (no Auth-Wait): the proxy shows the text to the client
and closes the session, and nothing about the user is revealed. (nginx ignores the
status code; a 403 alone without Auth-Status would be an "invalid response".)

One log line per request goes to stderr: user, protocol, method, client IP, attempt,
result and backend; never a password or digest. With --log-headers a second line
'headers user="..." [[name, value], ...]' (JSON) has every request header but
Auth-Pass, Auth-Salt and Auth-SSL-Cert.

Fault injection for tests: --delay SECONDS (sleep before answering), --garbage (send
non-HTTP bytes and close), --status-500 ("HTTP/1.0 500" without any Auth-* header),
--close (close the connection without answering), --no-server (OK without
Auth-Server/Auth-Port), --oversize (a valid answer padded past 1024 bytes).

    auth_service.py --listen 127.0.0.1:9000 --users scripts/auth_users.example \\
        --backend mailhost01=127.0.0.1 --backend mailhost02=127.0.0.1 \\
        --imap-port 143 --pop3-port 110 --smtp-port 25 --sieve-port 4190

prints "listening on HOST:PORT" on stdout once it accepts connections (--listen with
port 0 picks a free port and prints it).
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import ipaddress
import json
import os
import secrets
import socket
import sys
import threading
import time
import urllib.parse

DEFAULT_ITERATIONS = 100000
STATUS_INVALID = "Invalid login or password"
STATUS_TEMP = "Temporary server problem, try again later"
PROTOCOLS = ("imap", "pop3", "smtp", "sieve")


# ----------------------------------------------------------------- password hashes

def b64(b):
    return base64.b64encode(b).decode("ascii")


def make_hash(password, scheme="pbkdf2_sha256", iterations=DEFAULT_ITERATIONS):
    salt = secrets.token_bytes(16)
    pw = password.encode("utf-8")
    if scheme == "pbkdf2_sha256":
        dk = hashlib.pbkdf2_hmac("sha256", pw, salt, iterations)
        return "pbkdf2_sha256$%d$%s$%s" % (iterations, b64(salt), b64(dk))
    if scheme == "scrypt":
        n, r, p = 16384, 8, 1
        dk = hashlib.scrypt(pw, salt=salt, n=n, r=r, p=p, dklen=32)
        return "scrypt$%d$%d$%d$%s$%s" % (n, r, p, b64(salt), b64(dk))
    raise ValueError("unknown scheme %r" % scheme)


def check_hash(stored, password):
    """True when password (bytes) matches the stored hash string."""
    parts = stored.split("$")
    try:
        if parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            salt, want = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            got = hashlib.pbkdf2_hmac("sha256", password, salt, int(parts[1]), len(want))
        elif parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            salt, want = base64.b64decode(parts[4]), base64.b64decode(parts[5])
            got = hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=len(want),
                                 maxmem=256 * 1024 * 1024)
        else:
            return False
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


class VerifyCache:
    """Remembers successful checks (keyed HMAC of the password, never the password),
    so that a benchmark does not pay the hash cost on every login."""

    def __init__(self):
        self.key = secrets.token_bytes(32)
        self.ok = {}
        self.lock = threading.Lock()

    def check(self, user, stored, password):
        tag = hmac.new(self.key, password, "sha256").digest()
        with self.lock:
            hit = self.ok.get((user, stored))
        if hit is not None and hmac.compare_digest(hit, tag):
            return True
        if not check_hash(stored, password):
            return False
        with self.lock:
            if len(self.ok) > 100000:
                self.ok.clear()
            self.ok[(user, stored)] = tag
        return True


# ----------------------------------------------------------------- OAuth2 tokens

TOKEN_PREFIX = "mpt1"


def _b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def _unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def mint_token(key, user, ttl=3600, scope="mail", now=None):
    """A bearer token for user, valid ttl seconds (negative: already expired)."""
    claims = {"sub": user, "exp": int((now or time.time()) + ttl), "scope": scope}
    body = TOKEN_PREFIX + "." + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(key.encode("utf-8"), body.encode("ascii"), "sha256").digest()
    return body + "." + _b64url(sig)


def check_token(key, token, now=None):
    """The claims of a token this key signed and that has not expired, else None."""
    if not key or not isinstance(token, str):
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    body = parts[0] + "." + parts[1]
    want = hmac.new(key.encode("utf-8"), body.encode("ascii", "replace"), "sha256").digest()
    try:
        if not hmac.compare_digest(_unb64url(parts[2]), want):
            return None
        claims = json.loads(_unb64url(parts[1]))
    except (ValueError, TypeError):
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str) \
            or not isinstance(claims.get("exp"), int):
        return None
    if claims["exp"] <= (now or time.time()):
        return None
    return claims


def sasl_error(scope):
    """Auth-Error-SASL: base64 of RFC 7628's error JSON."""
    doc = {"status": "invalid_token", "schemes": "bearer", "scope": scope}
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode("ascii")


# ----------------------------------------------------------------- users file

class User:
    def __init__(self, name, hash_, opts):
        self.name = name
        self.hash = hash_
        self.secret = opts.get("secret")
        self.host = opts.get("host")
        self.login = opts.get("login")
        self.passwd = opts.get("pass")
        self.method = opts.get("method")


def parse_users(text, path="users"):
    users = {}
    for no, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":", 2)
        if len(fields) < 2 or not fields[0] or any(c.isspace() for c in fields[0]):
            raise ValueError("%s:%d: expected USER:HASH[:OPTIONS]" % (path, no))
        opts = {}
        if len(fields) == 3 and fields[2]:
            for item in fields[2].split(","):
                key, sep, value = item.partition("=")
                if not sep or key not in ("secret", "host", "login", "pass", "method"):
                    raise ValueError("%s:%d: bad option %r" % (path, no, item))
                value = urllib.parse.unquote(value)
                if any(ord(c) < 0x20 or ord(c) == 0x7f for c in value):
                    raise ValueError("%s:%d: control character in %s" % (path, no, key))
                if key == "method" and value not in ("plain", "login", "none"):
                    raise ValueError("%s:%d: method is plain, login or none" % (path, no))
                opts[key] = value
        users[fields[0]] = User(fields[0], fields[1], opts)
    return users


class UserDB:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.mtime = None
        self.users = {}
        self.load()

    def load(self):
        if self.path is None:
            return
        st = os.stat(self.path)
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        if key == self.mtime:
            return
        with open(self.path, encoding="utf-8") as f:
            users = parse_users(f.read(), self.path)
        self.users, self.mtime = users, key

    def get(self, name):
        with self.lock:
            try:
                self.load()
            except (OSError, ValueError) as e:
                log("users file not reloaded: %s" % e)
            return self.users.get(name)


def format_options(secret=None, host=None, login=None, passwd=None, method=None):
    q = lambda v: urllib.parse.quote(v, safe="")
    opts = []
    for key, value in (("secret", secret), ("host", host), ("login", login), ("pass", passwd),
                       ("method", method)):
        if value is not None:
            opts.append("%s=%s" % (key, q(value)))
    return ",".join(opts)


def user_line(name, password, secret=None, host=None, login=None, passwd=None,
              iterations=DEFAULT_ITERATIONS, scheme="pbkdf2_sha256", method=None):
    """One users-file line (also used by the test harness)."""
    h = make_hash(password, scheme, iterations) if password is not None else "*"
    opts = format_options(secret, host, login, passwd, method)
    return "%s:%s%s" % (name, h, ":" + opts if opts else "")


# ----------------------------------------------------------------- the service

def log(msg):
    sys.stderr.write("%s auth_service: %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), msg))
    sys.stderr.flush()


def unescape(value):
    """Header value (http.server decodes it as latin-1) -> raw bytes, %XX undone."""
    return urllib.parse.unquote_to_bytes(value.encode("latin-1", "replace"))


def has_ctl(s):
    return any(ord(c) < 0x20 or ord(c) == 0x7f for c in s)


def subject_cn(subject):
    """CN of an RFC 2253 subject such as "CN=alice,O=Example" (simple: no escapes)."""
    for rdn in subject.replace("/", ",").split(","):
        k, sep, v = rdn.strip().partition("=")
        if sep and k.strip().upper() == "CN":
            return v.strip()
    return None


class Decision:
    def __init__(self, ok, status=None, user=None, backend=None):
        self.ok = ok
        self.status = status or ("OK" if ok else STATUS_INVALID)
        self.user = user
        self.backend = backend      # (ip, port)
        self.headers = []           # extra response headers (name, value)


class Service:
    def __init__(self, args):
        self.args = args
        self.db = UserDB(args.users)
        self.cache = VerifyCache()
        self.backends = {}
        for spec in args.backend or []:
            name, _, rest = spec.partition("=")
            items = rest.split(",")
            ip = items[0]
            ipaddress.ip_address(ip)          # an IP literal, as the proxy requires
            ports = {}
            for it in items[1:]:
                proto, _, port = it.partition("=")
                if proto not in PROTOCOLS:
                    raise ValueError("--backend %s: unknown protocol %r" % (spec, proto))
                ports[proto] = int(port)
            self.backends[name] = (ip, ports)
        if not self.backends:
            self.backends = {"mailhost01": ("127.0.0.1", {}), "mailhost02": ("127.0.0.1", {})}
        self.default_ports = {"imap": args.imap_port, "pop3": args.pop3_port,
                              "smtp": args.smtp_port, "sieve": args.sieve_port}

    def port_for(self, ports, protocol):
        return ports.get(protocol, self.default_ports.get(protocol, 0))

    def resolve(self, name, protocol):
        """Backend name or IP literal -> (ip, port)."""
        if name not in self.backends:
            try:
                ipaddress.ip_address(name)
                return (name, self.default_ports.get(protocol, 0))
            except ValueError:
                pass
            name = "mailhost01" if "mailhost01" in self.backends else next(iter(self.backends))
        ip, ports = self.backends[name]
        return (ip, self.port_for(ports, protocol))

    def route(self, user, protocol):
        if user.host:
            return self.resolve(user.host, protocol)
        first = user.name[:1].lower()
        name = "mailhost01" if first and first in self.args.letters else "mailhost02"
        return self.resolve(name, protocol)

    def decide(self, h):
        method = h.get("auth-method", "").lower()
        protocol = h.get("auth-protocol", "").lower()
        login = unescape(h.get("auth-user", "")).decode("utf-8", "surrogateescape")
        passwd = unescape(h.get("auth-pass", ""))
        salt = h.get("auth-salt", "").strip()

        if method == "none":
            d = Decision(True, user=login)
            d.backend = self.resolve(self.args.none_backend, "smtp")
            return d
        if method in ("oauthbearer", "xoauth2"):
            return self.decide_oauth(login, passwd, protocol)
        if protocol not in PROTOCOLS or not login or has_ctl(login) \
                or b"\r" in passwd or b"\n" in passwd or b"\0" in passwd:
            return Decision(False, user=login)
        user = self.db.get(login)
        if user is None:
            return Decision(False, user=login)

        backend_pass = user.passwd
        if method in ("plain", "login"):
            if user.hash == "*" or not self.cache.check(user.name, user.hash, passwd):
                return Decision(False, user=login)
            if backend_pass is None and self.args.always_pass:
                backend_pass = passwd.decode("utf-8", "surrogateescape")
        elif method in ("apop", "cram-md5"):
            if user.secret is None or not salt:
                return Decision(False, user=login)
            secret = user.secret.encode("utf-8")
            if method == "apop":
                want = hashlib.md5(salt.encode("utf-8") + secret).hexdigest()
            else:
                want = hmac.new(secret, salt.encode("utf-8"), "md5").hexdigest()
            if not hmac.compare_digest(want.encode("ascii"), passwd.lower()):
                return Decision(False, user=login)
            if backend_pass is None:
                backend_pass = user.secret
        elif method == "external":
            if h.get("auth-ssl-verify", "") != "SUCCESS" \
                    or subject_cn(h.get("auth-ssl-subject", "")) != user.name:
                return Decision(False, user=login)
            if backend_pass is None:
                backend_pass = user.secret
        else:
            return Decision(False, user=login)

        d = Decision(True, user=login)
        d.backend = self.route(user, protocol)
        if user.login:
            d.headers.append(("Auth-User", user.login))
        if backend_pass is not None:
            if has_ctl(backend_pass):
                return Decision(False, user=login)
            d.headers.append(("Auth-Pass", backend_pass))
        if user.method and protocol == "smtp":
            d.headers.append(("Auth-Method", user.method))
        return d


    def decide_oauth(self, login, token, protocol):
        """A bearer token: good, for login (an empty login takes the token's user),
        with the scope; OK without Auth-Pass, so the backend checks the token too."""
        a = self.args
        claims = check_token(a.token_key, token.decode("utf-8", "replace"))
        scopes = (claims or {}).get("scope", "")
        if claims is None or (login and claims["sub"] != login) or \
                protocol not in PROTOCOLS or \
                a.token_scope not in str(scopes).split():
            d = Decision(False, user=login)
            d.headers.append(("Auth-Error-SASL", sasl_error(a.token_scope)))
            return d
        user = self.db.get(claims["sub"]) or User(claims["sub"], "*", {})
        d = Decision(True, user=claims["sub"])
        d.backend = self.route(user, protocol)
        if not login or user.login:
            d.headers.append(("Auth-User", user.login or claims["sub"]))
        return d


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server_version = "mailproxy-auth/1.0"
    service = None  # set by main()

    def log_message(self, fmt, *args):   # the default access log is replaced by ours
        pass

    def send_raw(self, data):
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            pass

    def json_answer(self, code, doc):
        body = json.dumps(doc).encode("utf-8")
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized"}.get(code, "Status")
        self.send_raw(b"HTTP/1.0 %d %s\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % (code, reason.encode(), len(body)) + body)

    def introspect(self, token):
        """RFC 7662: what Dovecot's oauth2 passdb asks."""
        claims = check_token(self.service.args.token_key, token)
        log("introspect %s result=%s user=%s" % (self.command, "active" if claims else "inactive",
                                               claims["sub"] if claims else "-"))
        if claims is None:
            self.json_answer(200, {"active": False})
        else:
            self.json_answer(200, {"active": True, "username": claims["sub"],
                                   "exp": claims["exp"], "scope": claims["scope"]})

    def do_POST(self):
        self.close_connection = True
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            n = 0
        if n < 0 or n > 65536:
            self.json_answer(400, {"error": "invalid_request"})
            return
        form = urllib.parse.parse_qs(self.rfile.read(n).decode("utf-8", "replace"))
        first = lambda k, dflt="": form.get(k, [dflt])[0]
        path = self.path.split("?", 1)[0]
        if path == "/oauth/introspect":
            self.introspect(first("token"))
            return
        if path != "/oauth/token":
            self.json_answer(400, {"error": "invalid_request"})
            return
        a = self.service.args
        user = self.service.db.get(first("username"))
        if first("grant_type") != "password" or not a.token_key or user is None or \
                user.hash == "*" or not self.service.cache.check(
                    user.name, user.hash, first("password").encode("utf-8")):
            log('token user="%s" result=refused' % first("username"))
            self.json_answer(401, {"error": "invalid_grant"})
            return
        try:
            ttl = max(1, min(int(first("expires_in", "3600")), 86400))
        except ValueError:
            ttl = 3600
        scope = first("scope", a.token_scope)
        log('token user="%s" result=issued ttl=%d' % (user.name, ttl))
        self.json_answer(200, {"access_token": mint_token(a.token_key, user.name, ttl, scope),
                               "token_type": "Bearer", "expires_in": ttl, "scope": scope})

    def do_GET(self):
        svc = self.service
        a = svc.args
        if self.path.startswith("/oauth/introspect"):
            self.close_connection = True
            path, _, query = self.path.partition("?")
            # Dovecot's get mode appends the token, then "&client_id=...&client_secret=..."
            token = urllib.parse.parse_qs(query).get("token", [""])[0] or \
                urllib.parse.unquote(path[len("/oauth/introspect"):].lstrip("/").split("&")[0])
            self.introspect(token)
            return
        self.close_connection = True
        h = {k.lower(): v.strip() for k, v in self.headers.items()}
        what = 'user="%s" protocol=%s method=%s client=%s attempt=%s' % (
            unescape(h.get("auth-user", "")).decode("utf-8", "backslashreplace")
            .encode("unicode_escape").decode("ascii"),
            h.get("auth-protocol", "-"), h.get("auth-method", "-"),
            h.get("client-ip", "-"), h.get("auth-login-attempt", "-"))
        if a.log_headers:
            log('headers user="%s" %s' % (h.get("auth-user", ""), json.dumps(
                [[k, v] for k, v in self.headers.items()
                 if k.lower() not in ("auth-pass", "auth-salt", "auth-ssl-cert")])))

        if a.delay:
            time.sleep(a.delay)
        if a.close:
            log(what + " result=fault:close")
            return
        if a.garbage:
            log(what + " result=fault:garbage")
            self.send_raw(b"\x00\x01garbage \xff\xfe not http at all\r\n\r\n")
            return
        if a.status_500:
            log(what + " result=fault:status-500")
            self.send_raw(b"HTTP/1.0 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
            return

        if a.secret_header and h.get(a.secret_header.lower()) != a.secret:
            log(what + " result=forbidden(shared secret) backend=-")
            self.answer(403, [("Auth-Status", STATUS_TEMP), ("Auth-Error-Code", "451 4.3.0")])
            return

        d = svc.decide(h)
        if d.ok:
            ip, port = d.backend
            if a.no_server:
                hdrs = [("Auth-Status", "OK")]
            else:
                hdrs = [("Auth-Status", "OK"), ("Auth-Server", ip), ("Auth-Port", str(port))]
            hdrs += d.headers
            log("%s result=OK backend=%s" % (what, "[%s]:%d" % (ip, port) if ":" in ip
                                              else "%s:%d" % (ip, port)))
        else:
            hdrs = [("Auth-Status", d.status)]
            try:
                attempt = int(h.get("auth-login-attempt", "1"))
            except ValueError:
                attempt = 1
            if attempt <= a.max_attempts:
                hdrs.append(("Auth-Wait", str(a.wait)))
            if h.get("auth-protocol", "").lower() == "smtp":
                hdrs.append(("Auth-Error-Code", "535 5.7.8"))
            hdrs += d.headers
            log("%s result=fail backend=-" % what)
        if a.cache_valid is not None:
            hdrs.append(("Auth-Cache-Valid", str(a.cache_valid)))
        if a.oversize:
            hdrs.append(("X-Padding", "x" * 1100))
        self.answer(200, hdrs)

    def answer(self, code, hdrs):
        reason = {200: "OK", 403: "Forbidden"}.get(code, "Status")
        out = ["HTTP/1.0 %d %s" % (code, reason)]
        out += ["%s: %s" % kv for kv in hdrs]
        self.send_raw(("\r\n".join(out) + "\r\n\r\n").encode("utf-8", "surrogateescape"))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    tls = None  # ssl.SSLContext with --tls-cert: HTTPS

    def handle_error(self, request, client_address):
        log("error while answering %s: %s" % (client_address[0], sys.exc_info()[1]))

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the request's thread, so a silent client
        # blocks nobody; each connection logs its SNI and whether it resumed.
        if self.tls is None:
            return super().finish_request(request, client_address)
        conn = self.tls.wrap_socket(request, server_side=True)
        log("tls connection sni=%s resumed=%d" % (getattr(conn, "sni", None) or "-",
                                                  int(conn.session_reused)))
        try:
            super().finish_request(conn, client_address)
        finally:
            conn.close()


def serve(argv):
    p = argparse.ArgumentParser(prog="auth_service.py", description="nginx auth_http service "
                                "for mailproxy (see the top of this file)")
    p.add_argument("--listen", default="127.0.0.1:9000", help="HOST:PORT (port 0: any free port)")
    p.add_argument("--users", help="users file (see the top of this file)")
    p.add_argument("--backend", action="append",
                   metavar="NAME=IP[,imap=P][,pop3=P][,smtp=P][,sieve=P]")
    p.add_argument("--imap-port", type=int, default=143)
    p.add_argument("--pop3-port", type=int, default=110)
    p.add_argument("--smtp-port", type=int, default=25)
    p.add_argument("--sieve-port", type=int, default=4190, help="ManageSieve (Auth-Protocol: sieve)")
    p.add_argument("--letters", default="acfg", help="first letters routed to mailhost01")
    p.add_argument("--none-backend", default="mailhost01",
                   help="backend for Auth-Method none (SMTP without auth)")
    p.add_argument("--always-pass", action="store_true",
                   help="return Auth-Pass on every success (plain: the client's password)")
    p.add_argument("--wait", type=int, default=2, help="Auth-Wait seconds on failure")
    p.add_argument("--max-attempts", type=int, default=10,
                   help="send Auth-Wait while Auth-Login-Attempt <= this")
    p.add_argument("--secret-header", help="header carrying the shared secret, e.g. X-Auth-Key")
    p.add_argument("--secret", help="the shared secret's value")
    p.add_argument("--log-headers", action="store_true",
                   help="log every request header but the password (for tests)")
    p.add_argument("--token-key", help="HMAC key of the OAuth2 tokens this service issues "
                   "and validates (oauthbearer, xoauth2, /oauth/*)")
    p.add_argument("--token-scope", default="mail", help="scope a token needs for mail")
    p.add_argument("--delay", type=float, default=0.0, help="fault: sleep before answering")
    p.add_argument("--garbage", action="store_true", help="fault: answer non-HTTP bytes")
    p.add_argument("--status-500", action="store_true", help="fault: HTTP 500, no Auth-Status")
    p.add_argument("--close", action="store_true", help="fault: close without answering")
    p.add_argument("--no-server", action="store_true", help="fault: OK without server/port")
    p.add_argument("--oversize", action="store_true", help="fault: answer longer than 1024 bytes")
    p.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM, chain)")
    p.add_argument("--tls-key", help="key of --tls-cert (default: in the same file)")
    p.add_argument("--cache-valid", type=int, metavar="SECONDS",
                   help="send Auth-Cache-Valid: SECONDS with every answer (mailproxy's "
                        "auth_http_cache; 0 forbids caching it)")
    a = p.parse_args(argv)
    if bool(a.secret_header) != (a.secret is not None):
        p.error("--secret-header and --secret go together")
    host, _, port = a.listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        svc = Service(a)
    except (OSError, ValueError) as e:
        p.error(str(e))
    Handler.service = svc
    Server.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    httpd = Server((host, int(port)), Handler)
    if a.tls_cert:
        import ssl
        httpd.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        httpd.tls.load_cert_chain(a.tls_cert, a.tls_key)

        def sni(conn, name, _ctx):
            conn.sni = name
        httpd.tls.sni_callback = sni
    bound = httpd.server_address
    print("listening on %s:%d" % (("[%s]" % bound[0]) if ":" in bound[0] else bound[0],
                                  bound[1]), flush=True)
    log("serving %d users from %s; backends %s" % (
        len(svc.db.users), a.users or "(none)",
        " ".join("%s=%s" % (k, v[0]) for k, v in svc.backends.items())))
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


def main(argv):
    if argv and argv[0] == "hash":
        p = argparse.ArgumentParser(prog="auth_service.py hash")
        p.add_argument("password")
        p.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS)
        p.add_argument("--scheme", default="pbkdf2_sha256", choices=["pbkdf2_sha256", "scrypt"])
        a = p.parse_args(argv[1:])
        print(make_hash(a.password, a.scheme, a.iterations))
        return 0
    if argv and argv[0] == "adduser":
        p = argparse.ArgumentParser(prog="auth_service.py adduser")
        p.add_argument("file")
        p.add_argument("user")
        p.add_argument("password", help='the login password ("*" for no password login)')
        p.add_argument("--secret", action="store_true",
                       help="also store PASSWORD as cleartext secret (for apop / cram-md5)")
        p.add_argument("--host")
        p.add_argument("--login")
        p.add_argument("--pass", dest="passwd")
        p.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS)
        p.add_argument("--scheme", default="pbkdf2_sha256", choices=["pbkdf2_sha256", "scrypt"])
        a = p.parse_args(argv[1:])
        if ":" in a.user or any(c.isspace() for c in a.user):
            p.error("a user name cannot contain ':' or whitespace")
        pw = None if a.password == "*" else a.password
        line = user_line(a.user, pw, a.password if a.secret else None, a.host, a.login,
                         a.passwd, a.iterations, a.scheme)
        lines = []
        if os.path.exists(a.file):
            with open(a.file, encoding="utf-8") as f:
                lines = [l for l in f.read().splitlines()
                         if l.split(":", 1)[0].strip() != a.user]
        lines.append(line)
        with open(a.file + ".tmp", "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(a.file + ".tmp", a.file)
        return 0
    if argv and argv[0] == "token":
        p = argparse.ArgumentParser(prog="auth_service.py token")
        p.add_argument("--key", required=True, help="the service's --token-key")
        p.add_argument("user")
        p.add_argument("--ttl", type=int, default=3600, help="seconds (negative: expired)")
        p.add_argument("--scope", default="mail")
        a = p.parse_args(argv[1:])
        print(mint_token(a.key, a.user, a.ttl, a.scope))
        return 0
    if argv and argv[0] == "serve":
        argv = argv[1:]
    return serve(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
