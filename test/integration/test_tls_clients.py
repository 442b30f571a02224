"""Real TLS clients through the proxy to the real Dovecot and Postfix: openssl
s_client (implicit TLS, -starttls imap|pop3|smtp, -sess_out/-sess_in), Python's
imaplib/poplib/smtplib over TLS, curl over imaps/pop3s/smtps; SNI choosing among
servers that share one address:port; ALPN."""

import base64
import imaplib
import os
import poplib
import re
import smtplib
import socket
import ssl
import subprocess
import uuid

from harness import client_tls_context, free_port
from tls_support import (IMAP_CAPS, IMAP_GREETING, TLSLineClient, client_context,
                         port_of, s_client, self_signed, tls_greeting, tls_server)


def uniq():
    return uuid.uuid4().hex[:12]


def _all_protocols(ctx, dv=None, starttls=None, **kw):
    """Implicit-TLS IMAP, POP3 and SMTP servers (plus plaintext ones with STARTTLS when
    starttls is given) in front of Dovecot and Postfix."""
    cert, key = self_signed(ctx.path("pki"), "server", "localhost")
    dv = dv or ctx.dovecot()
    pf = ctx.postfix()
    au = ctx.auth_service(dovecot=dv, postfix=pf)
    servers = [tls_server(p, cert, key, **kw) for p in ("imap", "pop3", "smtp")]
    if starttls:
        servers += [tls_server(p, cert, key, ssl_listen=False, starttls=starttls, **kw)
                    for p in ("imap", "pop3", "smtp")]
    mp = ctx.mailproxy(servers=servers, auth=au, mail={"server_name": "mx.test"})
    return mp, dv, pf, au


# ------------------------------------------------------------ openssl s_client

def test_tls_s_client_implicit_and_starttls(ctx):
    mp, dv, pf, au = _all_protocols(ctx, starttls="on")
    imap_in = b"a LOGIN alice alicepw\nb SELECT INBOX\nc LOGOUT\n"
    pop3_in = b"USER alice\nPASS alicepw\nSTAT\nQUIT\n"
    smtp_in = b"EHLO client.example\nAUTH PLAIN %s\nQUIT\n" % \
        base64.b64encode(b"\0alice\0alicepw")
    runs = [
        ("imaps", [], imap_in, [r"\* OK IMAP4 ready", r"a OK", r"b OK", r"c OK"]),
        ("pop3s", [], pop3_in, [r"\+OK POP3 ready", r"\+OK \d+ \d+", r"\+OK"]),
        ("smtps", [], smtp_in, [r"220 mx\.test ESMTP ready", r"250 AUTH PLAIN LOGIN",
                                r"235 2\.0\.0 OK", r"221 "]),
        ("imap", ["-starttls", "imap"], imap_in, [r"a OK", r"b OK", r"c OK"]),
        ("pop3", ["-starttls", "pop3"], pop3_in, [r"\+OK \d+ \d+"]),
        ("smtp", ["-starttls", "smtp"], smtp_in, [r"250 AUTH PLAIN LOGIN", r"235 2\.0\.0 OK",
                                                  r"221 "]),
    ]
    ports = {"imaps": mp.ports["imaps"], "pop3s": mp.ports["pop3s"],
             "smtps": mp.ports["smtps"], "imap": port_of(mp, "imap"),
             "pop3": port_of(mp, "pop3"), "smtp": port_of(mp, "smtp")}
    for port_name, args, data, wants in runs:
        # (s_client's exit status is left alone: it is 1 when the server closes
        # without close_notify, which test_tls_robustness checks on its own)
        rc, out = s_client(ports[port_name], "-crlf", "-ign_eof", "-servername",
                           "localhost", *args, input=data)
        assert re.search(r"New, TLSv1\.3, Cipher is TLS_", out), (port_name, out[-1500:])
        for w in wants:
            assert re.search(w, out), (port_name, w, out[-1500:])
    mp.wait_log(r"client logged in", count=6)
    mp.stop()                       # the log is complete once the master is gone
    mp.assert_log_count(r"client logged in", 6, after=r"(?m): exit$")


def test_tls_s_client_session_resumption(ctx):
    """-sess_out then -sess_in: "Reused", with tickets (default) and with the shared
    cache and tickets off (TLS 1.3 and TLS 1.2 session IDs)."""
    cert, key = self_signed(ctx.path("pki"), "server", "localhost")
    mp = ctx.mailproxy(servers=[
        tls_server("imap", cert, key),
        tls_server("imap", cert, key, ssl_session_tickets=False,
                   ssl_session_cache="shared:SC:1m")],
        mail={"auth_http": "127.0.0.1:9/auth"})
    for i, extra in ((0, []), (1, []), (1, ["-tls1_2"]), (0, ["-tls1_2"])):
        port = mp.listens[i][1]
        sess = ctx.path("sess-%d-%s.pem" % (i, "".join(extra)))
        rc, out = s_client(port, "-crlf", "-ign_eof", "-sess_out", sess, *extra,
                           input=b"a LOGOUT\n")
        assert "New, TLSv1." in out and "a OK completed" in out, out[-1500:]
        assert os.path.getsize(sess) > 0
        rc, out = s_client(port, "-crlf", "-ign_eof", "-sess_in", sess, *extra,
                           input=b"a LOGOUT\n")
        assert "a OK completed" in out, out[-1500:]
        assert re.search(r"^Reused, TLSv1\.[23]", out, re.M), \
            "server %d %s did not resume:\n%s" % (i, extra, out[-1500:])
    mp.wait_log(r"\(resumed\)")


# ------------------------------------------------------------ Python ssl

def test_tls_python_clients(ctx):
    mp, dv, pf, au = _all_protocols(ctx, starttls="on")
    tctx = client_tls_context()
    marker = "py-%s" % uniq()
    m = imaplib.IMAP4_SSL("127.0.0.1", mp.ports["imaps"], ssl_context=tctx, timeout=15)
    assert m.login("alice", "alicepw")[0] == "OK"
    assert m.select("INBOX")[0] == "OK"
    m.logout()
    m = imaplib.IMAP4("127.0.0.1", port_of(mp, "imap"), timeout=15)
    assert m.starttls(ssl_context=tctx)[0] == "OK"
    assert m.login("bob", "bobpw")[0] == "OK"
    m.logout()
    p = poplib.POP3_SSL("127.0.0.1", mp.ports["pop3s"], context=tctx, timeout=15)
    p.user("alice")
    assert p.pass_("alicepw").startswith(b"+OK")
    p.stat()
    p.quit()
    p = poplib.POP3("127.0.0.1", port_of(mp, "pop3"), timeout=15)
    assert p.stls(context=tctx).startswith(b"+OK")
    p.user("bob")
    assert p.pass_("bobpw").startswith(b"+OK")
    p.quit()
    with smtplib.SMTP_SSL("127.0.0.1", mp.ports["smtps"], context=tctx, timeout=15) as s:
        s.ehlo("client.example")
        assert s.has_extn("auth") and not s.has_extn("starttls")
        s.login("alice", "alicepw")
        s.sendmail("alice@test.example", ["bob@test.example"],
                   "Subject: %s\r\n\r\nimplicit TLS\r\n" % marker)
    with smtplib.SMTP("127.0.0.1", port_of(mp, "smtp"), timeout=15) as s:
        s.ehlo("client.example")
        assert s.has_extn("starttls")
        s.starttls(context=tctx)
        s.ehlo("client.example")
        s.login("bob", "bobpw")
        s.sendmail("bob@test.example", ["alice@test.example"],
                   "Subject: %s-starttls\r\n\r\nSTARTTLS\r\n" % marker)
    pf.wait_for_message(marker + "-starttls")
    assert marker.encode() in pf.wait_for_message(marker)


# ------------------------------------------------------------ curl

def curl(*args, input=None, timeout=30):
    r = subprocess.run(["curl", "-sS", "-k", "--max-time", "20"] + list(args),
                       capture_output=True, timeout=timeout, input=input)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8",
                                                                                "replace")


def test_tls_curl_imaps_pop3s_smtps(ctx):
    dv = ctx.dovecot(users={"alice": "alicepw", "bob": "bobpw"})   # a fresh mailbox
    mp, dv, pf, au = _all_protocols(ctx, dv=dv, starttls="on")
    marker = "curl-%s" % uniq()
    dv.append("alice", "From: bob@test.example\r\nSubject: %s\r\n\r\nbody %s\r\n" % (
        marker, marker))
    base = "imaps://127.0.0.1:%d" % mp.ports["imaps"]
    rc, out, err = curl("%s/INBOX" % base, "-u", "alice:alicepw")
    assert rc == 0, (rc, err)
    rc, out, err = curl("%s/INBOX?SUBJECT%%20%s" % (base, marker), "-u", "alice:alicepw")
    assert rc == 0 and re.search(r"\* SEARCH \d+", out), (rc, out, err)
    n = re.search(r"\* SEARCH (\d+)", out).group(1)
    rc, out, err = curl("%s/INBOX;MAILINDEX=%s" % (base, n), "-u", "alice:alicepw")
    assert rc == 0 and ("body %s" % marker) in out, (rc, out, err)
    # pop3s: LIST, then RETR of the one message
    rc, out, err = curl("pop3s://127.0.0.1:%d/" % mp.ports["pop3s"], "-u", "alice:alicepw")
    assert rc == 0 and re.match(r"1 \d+", out), (rc, out, err)
    rc, out, err = curl("pop3s://127.0.0.1:%d/1" % mp.ports["pop3s"], "-u", "alice:alicepw")
    assert rc == 0 and ("body %s" % marker) in out, (rc, out, err)
    # smtps, and SMTP with STARTTLS (--ssl-reqd)
    for url, tag in (("smtps://127.0.0.1:%d" % mp.ports["smtps"], "smtps"),
                     ("smtp://127.0.0.1:%d" % port_of(mp, "smtp"), "starttls")):
        body = ctx.path("mail-%s.txt" % tag)
        with open(body, "w") as f:
            f.write("From: alice@test.example\r\nTo: bob@test.example\r\n"
                    "Subject: %s-%s\r\n\r\nsent by curl\r\n" % (marker, tag))
        args = [url, "--mail-from", "alice@test.example", "--mail-rcpt", "bob@test.example",
                "-T", body, "-u", "alice:alicepw"]
        if tag == "starttls":
            args.append("--ssl-reqd")
        rc, out, err = curl(*args)
        assert rc == 0, (tag, rc, out, err)
        assert b"sent by curl" in pf.wait_for_message("%s-%s" % (marker, tag))
    # IMAP and POP3 with STARTTLS too
    rc, out, err = curl("imap://127.0.0.1:%d/INBOX?SUBJECT%%20%s" % (port_of(mp, "imap"), marker),
                        "--ssl-reqd", "-u", "alice:alicepw")
    assert rc == 0 and "* SEARCH" in out, (rc, out, err)
    rc, out, err = curl("pop3://127.0.0.1:%d/1" % port_of(mp, "pop3"), "--ssl-reqd",
                        "-u", "alice:alicepw")
    assert rc == 0 and marker in out, (rc, out, err)
    mp.wait_log(r"TLS handshake done: TLSv1\.3", count=9)


# ------------------------------------------------------------ SNI

def _subject_cn(out):
    m = re.search(r"^subject=.*CN ?= ?([^,\n]+)", out, re.M)
    return m.group(1).strip() if m else None


def test_tls_sni_selects_server(ctx):
    """Two servers on one address:port with their own certificates (a.test, b.test),
    server_name a.test and *.b.test, their own auth services and capabilities; the
    first server takes connections without SNI or with an unknown name."""
    d = ctx.path("pki")
    cert_a, key_a = self_signed(d, "a", "a.test", san="DNS:a.test")
    cert_b, key_b = self_signed(d, "b", "b.test", san="DNS:b.test,DNS:*.b.test")
    dv = ctx.dovecot()
    auth_a = ctx.fake_auth(backend_port=dv.imap_port)
    auth_b = ctx.fake_auth(backend_port=dv.imap_port)
    port = free_port()
    listen = ["127.0.0.1:%d ssl" % port]
    mp = ctx.mailproxy(servers=[
        {"protocol": "imap", "listen": listen, "server_name": "a.test",
         "ssl_certificate": cert_a, "ssl_certificate_key": key_a, "auth_http": auth_a.url},
        {"protocol": "imap", "listen": listen, "server_name": "*.b.test",
         "ssl_certificate": cert_b, "ssl_certificate_key": key_b, "auth_http": auth_b.url,
         "imap_capabilities": ["IMAP4rev1", "XSERVERB"]}],
        mail={"auth_http": auth_a.url})
    for name, want in (("a.test", "a.test"), ("mail.b.test", "b.test"),
                       ("deep.mail.b.test", "b.test"), ("c.test", "a.test"),
                       ("b.test", "a.test"), (None, "a.test")):
        args = ["-servername", name] if name else ["-noservername"]
        rc, out = s_client(port, "-crlf", "-ign_eof", *args, input=b"x LOGOUT\n")
        assert "x OK completed" in out, out[-1500:]
        assert _subject_cn(out) == want, (name, _subject_cn(out), out[:1500])
    # the chosen server's own configuration and auth service
    for name, auth, other, caps in (("imap.b.test", auth_b, auth_a, b"* CAPABILITY IMAP4rev1 XSERVERB"),
                                    ("a.test", auth_a, auth_b, IMAP_CAPS),
                                    (None, auth_a, auth_b, IMAP_CAPS)):
        n_other = len(other.requests)
        with TLSLineClient(port, client_context(), server_hostname=name) as c:
            assert c.readline() == IMAP_GREETING
            c.cmd("c CAPABILITY")
            assert c.readline().startswith(caps)
            c.read_until("c ")
            c.cmd("a LOGIN alice alicepw")
            assert c.read_until("a ")[-1].startswith(b"a OK")
        assert auth.requests and auth.requests[-1].user == "alice"
        other.sync()
        assert len(other.requests) == n_other, "the other server's auth service was asked"
    auth_a.sync()
    auth_b.sync()
    assert len(auth_b.requests) == 1 and len(auth_a.requests) == 2


# ------------------------------------------------------------ ALPN

def test_tls_alpn(ctx):
    cert, key = self_signed(ctx.path("pki"), "server", "localhost")
    mp = ctx.mailproxy(servers=[tls_server("imap", cert, key), tls_server("pop3", cert, key),
                                tls_server("smtp", cert, key)],
                       mail={"auth_http": "127.0.0.1:9/auth"})
    for proto, port in (("imap", mp.ports["imaps"]), ("pop3", mp.ports["pop3s"]),
                        ("smtp", mp.ports["smtps"])):
        cc = client_context(alpn=["h2", proto])
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        s = cc.wrap_socket(raw, server_hostname="localhost")
        assert s.selected_alpn_protocol() == proto
        s.close()
        others = [p for p in ("imap", "pop3", "smtp", "http/1.1") if p != proto]
        try:
            g = tls_greeting(port, client_context(alpn=others))
        except (ssl.SSLError, ConnectionResetError, OSError) as e:
            assert "no_application_protocol" in str(e) or "NO_APPLICATION_PROTOCOL" in \
                str(e) or isinstance(e, ssl.SSLError), e
        else:
            raise AssertionError("ALPN %s without %s was accepted: %r" % (others, proto, g))
        # no ALPN at all is fine
        assert tls_greeting(port, client_context())[0]
    rc, out = s_client(mp.ports["imaps"], "-alpn", "imap", "-ign_eof", input=b"a LOGOUT\r\n")
    assert "ALPN protocol: imap" in out, out[-1500:]
    rc, out = s_client(mp.ports["imaps"], "-alpn", "pop3", input=b"")
    assert rc != 0 and "no application protocol" in out.lower(), out[-1500:]
    mp.wait_log(r"TLS handshake failed")
