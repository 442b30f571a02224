"""Regression tests of the TLS CVEs (see test_cve_regressions.py for the others and
the shared helpers): CVE-2026-1642, plain text a TLS backend sends before or right
after its handshake is never taken as its answer; CVE-2025-23419 / CVE-2014-3616, no
TLS session resumes into a server whose client-certificate check it never passed.
TLS backends written here, the shared Dovecot, a recording fake auth; all on loopback."""

import os
import re
import socket
import ssl
import threading
import time

from harness import LineClient, free_port
from smtp_support import smtp_lines_until_last
from test_cve_regressions import SMTP_GREETING, _read_reply, _same_workers, b64
from tls_support import CA, IMAP_GREETING, POP3_GREETING, client_context, self_signed

IMAP_INTERNAL = b"* BAD internal server error\r\n"
POP3_INTERNAL = b"-ERR internal server error\r\n"
SMTP_INTERNAL = b"451 4.3.2 Internal server error\r\n"


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
