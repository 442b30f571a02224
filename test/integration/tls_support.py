"""Helpers shared by test_tls*.py (not a test module: the runner only collects test_*.py).

Certificates are made at test time with the openssl command line in the test's temp
dir; clients are openssl s_client, curl, Python's ssl module and raw sockets. Every
wait is bounded; everything talks to loopback only."""

import json
import os
import re
import socket
import ssl
import subprocess
import time

from harness import LineClient

IMAP_GREETING = b"* OK IMAP4 ready\r\n"
POP3_GREETING = b"+OK POP3 ready"
IMAP_CAPS = b"* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS"

# "2026/11/24 16:18:00 [debug] 1234#1234: *5 TLS handshake done: TLSv1.3 TLS_AES_256_GCM_SHA384 (resumed)"
HANDSHAKE_RX = re.compile(r"\[debug\] (\d+)#\d+: \*\d+ TLS handshake done: (\S+) (\S+)( \(resumed\))?")


# ------------------------------------------------------------------ certificates

def openssl(*args, cwd=None, input=None, check=True, timeout=30):
    r = subprocess.run(["openssl"] + [str(a) for a in args], cwd=cwd, input=input,
                       capture_output=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("openssl %s failed (%d): %s" % (
            " ".join(map(str, args)), r.returncode,
            (r.stdout + r.stderr).decode("utf-8", "replace")))
    return r.stdout.decode("utf-8", "replace")


def _ec_key_args():
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def self_signed(directory, name, cn, san=None):
    """A self-signed server certificate (EC P-256): (cert, key) paths."""
    os.makedirs(directory, exist_ok=True)
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + ".key")
    san = san or "DNS:%s,DNS:localhost,IP:127.0.0.1" % cn
    openssl("req", "-x509", *_ec_key_args(), "-days", "3650", "-subj", "/CN=%s" % cn,
            "-addext", "subjectAltName=%s" % san, "-keyout", key, "-out", cert)
    return cert, key


class CA:
    """A test certificate authority in DIR/NAME/ that issues client certificates,
    with `openssl ca` so that start and end dates can be chosen (expired ones)."""

    def __init__(self, directory, name, cn):
        self.dir = os.path.join(directory, name)
        os.makedirs(os.path.join(self.dir, "newcerts"), exist_ok=True)
        self.cert = os.path.join(self.dir, "ca.pem")
        self.key = os.path.join(self.dir, "ca.key")
        self.cnf = os.path.join(self.dir, "ca.cnf")
        open(os.path.join(self.dir, "index.txt"), "w").close()
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write("%s\n" % os.urandom(8).hex().upper().replace("0", "1", 1))
        with open(self.cnf, "w") as f:
            f.write("""[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}/newcerts
serial = {d}/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
commonName = supplied
organizationName = optional
organizationalUnitName = optional
countryName = optional
[ client_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[ req ]
distinguished_name = dn
[ dn ]
""".format(d=self.dir))
        openssl("req", "-x509", *_ec_key_args(), "-days", "3650", "-subj",
                "/O=mailproxy tests/CN=%s" % cn, "-keyout", self.key, "-out", self.cert,
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, name, subject, startdate=None, enddate=None, days=365):
        """A client certificate for subject ("/C=../O=../CN=alice"): (cert, key)."""
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        cert = os.path.join(self.dir, name + ".pem")
        openssl("req", "-new", *_ec_key_args(), "-subj", subject, "-keyout", key,
                "-out", csr, "-config", self.cnf)
        args = ["ca", "-batch", "-config", self.cnf, "-cert", self.cert, "-keyfile",
                self.key, "-in", csr, "-out", cert, "-extensions", "client_ext", "-notext",
                "-preserveDN"]
        if startdate:
            args += ["-startdate", startdate]
        if enddate:
            args += ["-enddate", enddate]
        else:
            args += ["-days", str(days)]
        openssl(*args)
        return cert, key


def cert_facts(cert):
    """What `openssl x509` prints: subject and issuer in RFC 2253 form, the serial
    (uppercase hex, as i2a_ASN1_INTEGER) and the SHA-1 fingerprint (lowercase hex,
    no colons, as nginx's ngx_hex_dump)."""
    out = openssl("x509", "-in", cert, "-noout", "-nameopt", "RFC2253", "-subject",
                  "-issuer", "-serial", "-fingerprint", "-sha1")
    facts = {}
    for line in out.splitlines():
        k, _, v = line.partition("=")
        facts[k.strip().lower()] = v.strip()
    return {"subject": facts["subject"], "issuer": facts["issuer"],
            "serial": facts["serial"],
            "fingerprint": facts["sha1 fingerprint"].replace(":", "").lower(),
            "pem": open(cert).read()}


# ------------------------------------------------------------------ proxy helpers

def tls_server(protocol, cert, key, ssl_listen=True, **kw):
    d = {"protocol": protocol, "ssl_certificate": cert, "ssl_certificate_key": key}
    if ssl_listen:
        d["ssl_listen"] = True
    d.update(kw)
    return d


def port_of(mp, protocol, ssl=False):
    """The first listen port of protocol with (ssl=True) or without implicit TLS (the
    harness's mp.ports["imap"] is the first of either kind)."""
    for _h, port, params, proto in mp.listens:
        if proto == protocol and ("ssl" in params) == ssl:
            return port
    raise KeyError((protocol, ssl))


def status(ctx, mp, config_path=None):
    r = ctx.cli("-c", config_path or mp.config_path, "-s", "status")
    assert r.rc == 0, r
    return json.loads(r.stdout)


def cache_stats(ctx, mp, name):
    caches = status(ctx, mp)["ssl_session_caches"]
    assert name in caches, caches
    return caches[name]


def handshakes(log_text):
    """[(worker_pid, version, cipher, resumed)] for every "TLS handshake done" line."""
    return [(int(m.group(1)), m.group(2), m.group(3), bool(m.group(4)))
            for m in HANDSHAKE_RX.finditer(log_text)]


# ------------------------------------------------------------------ clients

def client_context(alpn=None, cert=None, key=None, tls13=True):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    if not tls13:
        c.maximum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        c.set_alpn_protocols(alpn)
    if cert:
        c.load_cert_chain(cert, key)
    return c


def read_line(s, timeout=10.0):
    """One line from a (TLS) socket, bounded; b"" at EOF."""
    s.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        if time.monotonic() >= deadline:
            raise TimeoutError("no line within %.0fs: %r" % (timeout, data))
        chunk = s.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def tls_greeting(port, context=None, session=None, server_hostname="localhost",
                 timeout=10.0):
    """Connects with implicit TLS, reads the greeting (which also brings the TLS 1.3
    ticket), returns (greeting, session, reused, version) and closes."""
    context = context or client_context()
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s = context.wrap_socket(raw, server_hostname=server_hostname, session=session)
    except Exception:
        raw.close()
        raise
    try:
        g = read_line(s, timeout)
        return g, s.session, s.session_reused, s.version()
    finally:
        s.close()


class TLSLineClient(LineClient):
    """LineClient with implicit TLS and a chosen client context (certificate, ALPN)."""

    def __init__(self, port, context, server_hostname="localhost", timeout=10.0):
        self.timeout = timeout
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        try:
            self.sock = context.wrap_socket(raw, server_hostname=server_hostname)
        except Exception:
            raw.close()
            raise
        self.buf = b""

    def rest_until_closed(self, timeout=5.0):
        """Everything the server sends until it closes (raises if it stays open)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not self._fill(deadline):
                    out, self.buf = self.buf, b""
                    return out
            except socket.timeout:
                break
            except (ConnectionResetError, ssl.SSLError, OSError):
                out, self.buf = self.buf, b""
                return out
        raise AssertionError("connection still open after %.0fs; got %r" % (timeout, self.buf))


def s_client(port, *args, input=b"", timeout=20):
    """openssl s_client -connect 127.0.0.1:PORT ARGS..., with input on its stdin (read
    once the handshake is done; with -ign_eof it then waits for the server to close).
    Returns (exit status, stdout and stderr as text)."""
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + list(args)
    r = subprocess.run(argv, input=input, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace")
