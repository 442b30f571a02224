"""Bad input on TLS and plaintext ports closes only that connection (a session on the
same worker goes on): a plaintext client on a TLS port, a TLS client on a plaintext
port, a ClientHello cut half-way (closed, or left hanging past `timeout`), 16 KB of
garbage; `listen ... ssl proxy_protocol` (a PROXY header, then TLS, also in one
segment); the deprecated `ssl: on`; and TLS ends with close_notify."""

import os
import re
import socket
import ssl
import struct

from harness import LineClient, free_port
from tls_support import (IMAP_GREETING, TLSLineClient, client_context, port_of, self_signed,
                         tls_greeting, tls_server)


def client_hello(server_hostname="localhost"):
    """The bytes of a real ClientHello (Python's ssl over memory BIOs)."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context().wrap_bio(inc, out, server_hostname=server_hostname)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


class BioTLS:
    """A TLS client driven over memory BIOs, so that the first bytes of the handshake
    can be sent together with a prefix (a PROXY header) in one write."""

    def __init__(self, sock, prefix=b"", context=None, timeout=10.0):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = (context or client_context()).wrap_bio(self.inc, self.out,
                                                          server_hostname="localhost")
        pending = prefix
        while True:
            try:
                self.obj.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            pending += self.out.read()
            if pending:
                self.sock.sendall(pending)
                pending = b""
            if done:
                break
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed during the handshake")
            self.inc.write(data)
        self.buf = b""

    def send(self, data):
        self.obj.write(data)
        self.sock.sendall(self.out.read())

    def readline(self):
        while b"\n" not in self.buf:
            try:
                self.buf += self.obj.read(65536)
                continue
            except ssl.SSLWantReadError:
                pass
            data = self.sock.recv(65536)
            if not data:
                break
            self.inc.write(data)
            self.sock.sendall(self.out.read()) if self.out.pending else None
        line, sep, self.buf = self.buf.partition(b"\n")
        return line + sep


def _closed(sock, timeout=5.0):
    """True when the peer closes (EOF or reset) within timeout; the bytes read are
    returned too."""
    sock.settimeout(timeout)
    got = b""
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                return True, got
            got += d
    except (ConnectionResetError, BrokenPipeError):
        return True, got
    except socket.timeout:
        return False, got


def _proxy(ctx, timeout="60s", **kw):
    cert, key = self_signed(ctx.path("pki"), "server", "localhost")
    dv = ctx.dovecot()
    fa = ctx.fake_auth(backend_port=dv.imap_port)
    mp = ctx.mailproxy(servers=[tls_server("imap", cert, key, timeout=timeout, **kw),
                                tls_server("imap", cert, key, ssl_listen=False,
                                           starttls="on", timeout=timeout)],
                       auth=fa, main={"worker_processes": 1})
    return mp, fa


def test_tls_bad_input_closes_only_that_connection(ctx):
    mp, fa = _proxy(ctx, timeout="2s")
    tls_port, plain_port = mp.ports["imaps"], port_of(mp, "imap")
    worker = mp.workers()
    assert len(worker) == 1
    # a logged-in session that must survive everything below (same worker)
    keep = TLSLineClient(tls_port, client_context(), timeout=15)
    ctx.cleanup(keep.close)
    assert keep.readline() == IMAP_GREETING
    keep.cmd("k0 LOGIN alice alicepw")
    assert keep.read_until("k0 ")[-1].startswith(b"k0 OK")
    n = [0]

    def still_alive():
        n[0] += 1
        keep.cmd("k%d NOOP" % n[0])
        assert keep.read_until("k%d " % n[0])[-1].startswith(b"k%d OK" % n[0])
        assert mp.workers() == worker, "the worker was replaced"

    # 1. a plaintext client on the TLS port
    s = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
    s.sendall(b"a LOGIN alice alicepw\r\n")
    closed, got = _closed(s)
    s.close()
    assert closed, "plaintext on a TLS port must be closed"
    assert b"* OK" not in got and b"alice" not in got, got
    still_alive()
    # 2. a TLS client on the plaintext port: the greeting is not TLS, the client fails
    raw = socket.create_connection(("127.0.0.1", plain_port), timeout=10)
    try:
        client_context().wrap_socket(raw, server_hostname="localhost")
        raise AssertionError("a TLS handshake against a plaintext greeting succeeded")
    except ssl.SSLError as e:
        print("TLS client on a plaintext port: %s" % e)
    finally:
        raw.close()
    still_alive()
    # 3. a ClientHello cut half-way, then close
    hello = client_hello()
    assert hello[:1] == b"\x16" and len(hello) > 100
    s = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
    s.sendall(hello[:len(hello) // 2])
    s.close()
    still_alive()
    # 4. half a ClientHello and then nothing: closed after `timeout` (2s)
    s = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
    s.sendall(hello[:len(hello) // 2])
    closed, got = _closed(s, timeout=15)
    s.close()
    assert closed, "a stalled handshake is not bounded by timeout"
    still_alive()
    # 5. 16 KB of garbage, once raw, once behind a plausible handshake record header
    for garbage in (os.urandom(16384), b"\x16\x03\x01\x40\x00" + os.urandom(16379),
                    b"\x16\x03\x01\x00\x40" + b"\x01\x00\x00\x3c" + os.urandom(16375)):
        s = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
        try:
            s.sendall(garbage)
        except (BrokenPipeError, ConnectionResetError):
            pass
        closed, got = _closed(s, timeout=15)
        s.close()
        assert closed, "garbage as a ClientHello must be closed"
        still_alive()
    # 6. garbage after STARTTLS
    with LineClient(plain_port) as c:
        assert c.readline() == IMAP_GREETING
        c.cmd("s STARTTLS")
        assert c.readline() == b"s OK completed\r\n"
        c.send(os.urandom(4096))
        assert c.closed(15)
    still_alive()
    keep.cmd("z LOGOUT")
    keep.read_until("z ")
    mp.stop()                  # no writer left: the log is complete (and ends in "exit")
    log = mp.wait_log(r"(?m): exit$").string
    assert "exited on signal" not in log and "[alert]" not in log and "[crit]" not in log, \
        [l for l in log.splitlines() if "signal" in l or "[alert]" in l or "[crit]" in l]
    failed = re.findall(r"TLS handshake failed: .*", log)
    print("handshake failures logged: %d, e.g. %s" % (len(failed), failed[:2]))
    assert len(failed) >= 4, log[-3000:]
    assert re.search(r"client closed connection in TLS handshake|TLS handshake failed", log)
    assert re.search(r"timed out", log), "the stalled handshake is logged as a timeout"
    # nothing of the bad connections reached the auth service
    fa.sync()
    assert [r.user for r in fa.requests] == ["alice"], [r.user for r in fa.requests]


def _proxy_v2(src, dst, sport, dport):
    addr = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(addr)) + addr


def test_tls_listen_ssl_with_proxy_protocol(ctx):
    """`listen ... ssl proxy_protocol`: the PROXY header comes first, in the clear, then
    the TLS handshake (in its own write or in the same segment); v1 and v2."""
    cert, key = self_signed(ctx.path("pki"), "server", "localhost")
    dv = ctx.dovecot()
    fa = ctx.fake_auth(backend_port=dv.imap_port)
    port = free_port()
    mp = ctx.mailproxy(servers=[{"protocol": "imap", "listen": ["127.0.0.1:%d ssl proxy_protocol"
                                                                % port],
                                 "ssl_certificate": cert, "ssl_certificate_key": key,
                                 "set_real_ip_from": "127.0.0.1", "timeout": "5s"}],
                       auth=fa, main={"worker_processes": 1})
    cases = [
        ("v1 then TLS", b"PROXY TCP4 192.0.2.9 127.0.0.1 45678 993\r\n", False, "192.0.2.9"),
        ("v1 and ClientHello in one write", b"PROXY TCP4 192.0.2.10 127.0.0.1 45679 993\r\n",
         True, "192.0.2.10"),
        ("v2 and ClientHello in one write", _proxy_v2("198.51.100.7", "127.0.0.1", 5555, 993),
         True, "198.51.100.7"),
    ]
    for name, header, together, addr in cases:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            if together:
                t = BioTLS(sock, prefix=header)
                read, send = t.readline, t.send
            else:
                sock.sendall(header)
                t = client_context().wrap_socket(sock, server_hostname="localhost")
                f = t.makefile("rb")
                read, send = f.readline, t.sendall
            assert read() == IMAP_GREETING, name
            send(b"a LOGIN alice alicepw\r\n")
            line = read()
            while line.startswith(b"* "):
                line = read()
            assert line.startswith(b"a OK"), (name, line)
            send(b"b LOGOUT\r\n")
        finally:
            sock.close()
        req = fa.requests[-1]
        assert req.header("Proxy-Protocol-Addr") == addr, (name, req)
        assert req.header("Client-IP") == addr, "set_real_ip_from 127.0.0.1: %r" % req
        assert req.header("Auth-SSL") == "on", req
    # TLS without the header: refused
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        client_context().wrap_socket(raw, server_hostname="localhost")
        ok = True
    except (ssl.SSLError, OSError):
        ok = False
    finally:
        raw.close()
    assert not ok, "a TLS handshake without the PROXY header was accepted"
    mp.wait_log(r"broken header in PROXY protocol")
    fa.sync()
    assert len(fa.requests) == len(cases)


def test_tls_deprecated_ssl_on(ctx):
    """`ssl: on` in a server makes every listen of it TLS; -t warns about it."""
    cert, key = self_signed(ctx.path("pki"), "server", "localhost")
    p1, p2 = free_port(), free_port()
    mp = ctx.mailproxy(servers=[{"protocol": "imap", "ssl": True,
                                 "listen": ["127.0.0.1:%d" % p1, "127.0.0.1:%d" % p2],
                                 "ssl_certificate": cert, "ssl_certificate_key": key}],
                       mail={"auth_http": "127.0.0.1:9/auth"})
    for p in (p1, p2):
        g, _s, _r, version = tls_greeting(p)
        assert g == IMAP_GREETING and version.startswith("TLSv1."), (p, g)
    r = mp.check()
    assert r.rc == 0, r
    assert 'the "ssl" directive is deprecated, use "listen ... ssl" instead' in r.out, r
    assert "[warn]" in r.out, r


def _clean_close(port, before_close, context=None):
    """Runs before_close(lines) on an implicit-TLS connection, then reads to the end
    with ragged EOFs not suppressed: returns "close_notify" for a proper TLS close,
    or the error text when the proxy only closed the TCP connection."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = (context or client_context()).wrap_socket(raw, server_hostname="localhost",
                                                  suppress_ragged_eofs=False)
    try:
        f = s.makefile("rwb", buffering=0)
        before_close(f)
        try:
            while s.recv(65536):
                pass
            return "close_notify"
        except ssl.SSLEOFError as e:
            return "no close_notify (%s)" % e
    finally:
        s.close()


def test_tls_session_end_sends_close_notify(ctx):
    """When the proxy ends a TLS session it sends close_notify first (RFC 8446 6.1;
    nginx's ngx_ssl_shutdown): after LOGOUT before login, after the backend's LOGOUT,
    after POP3 and SMTP QUIT. An OpenSSL 3 client otherwise reports "unexpected eof
    while reading" (openssl s_client exits 1)."""
    cert, key = self_signed(ctx.path("pki"), "server", "localhost")
    dv = ctx.dovecot()
    pf = ctx.postfix()
    au = ctx.auth_service(dovecot=dv, postfix=pf)
    mp = ctx.mailproxy(servers=[tls_server(p, cert, key) for p in ("imap", "pop3", "smtp")],
                       auth=au)

    def imap_preauth(f):
        f.readline()
        f.write(b"a LOGOUT\r\n")

    def imap_relayed(f):
        f.readline()
        f.write(b"a LOGIN alice alicepw\r\n")
        while not f.readline().startswith(b"a "):
            pass
        f.write(b"b LOGOUT\r\n")

    def pop3_quit(f):
        f.readline()
        f.write(b"QUIT\r\n")

    def smtp_quit(f):
        f.readline()
        f.write(b"QUIT\r\n")

    results = {
        "imap LOGOUT before login": _clean_close(mp.ports["imaps"], imap_preauth),
        "imap LOGOUT relayed to Dovecot": _clean_close(mp.ports["imaps"], imap_relayed),
        "pop3 QUIT": _clean_close(mp.ports["pop3s"], pop3_quit),
        "smtp QUIT": _clean_close(mp.ports["smtps"], smtp_quit),
    }
    print(results)
    bad = {k: v for k, v in results.items() if v != "close_notify"}
    assert not bad, "TLS sessions closed without close_notify: %s" % bad
