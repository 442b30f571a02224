"""Client certificates from a test CA made at test time (openssl req / ca): a good
certificate (CN=alice), an expired one, one signed by another CA. ssl_verify_client
on / optional / optional_no_ca, nginx's failure lines per protocol, the Auth-SSL-*
headers the auth service receives (compared with what `openssl x509` prints), and
AUTHENTICATE / AUTH EXTERNAL through the proxy to the real Dovecot and Postfix."""

import base64
import re
import urllib.parse

from tls_support import (CA, IMAP_CAPS, IMAP_GREETING, POP3_GREETING, TLSLineClient,
                         cert_facts, client_context, self_signed, tls_server)

SUBJECT = "/C=DE/O=Example, Inc./OU=Mail Users/CN=alice"
PASSWORDS = {"alice": "alicepw", "bob": "bobpw"}


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


class PKI:
    def __init__(self, ctx):
        d = ctx.path("pki")
        self.server = self_signed(d, "server", "localhost")
        self.ca = CA(d, "ca-a", "Test CA A")
        self.other = CA(d, "ca-b", "Test CA B")
        self.good = self.ca.issue("alice", SUBJECT)
        self.expired = self.ca.issue("alice-expired", "/O=Example/CN=alice",
                                     startdate="20200101000000Z", enddate="20210101000000Z")
        self.foreign = self.other.issue("alice-foreign", "/O=Elsewhere/CN=alice")

    def context(self, which=None):
        if which is None:
            return client_context()
        return client_context(cert=which[0], key=which[1])


def _setup(ctx, verify, protocols=("imap",), mail=None, **server_kw):
    """A proxy with one implicit-TLS server per protocol, client certificates checked
    as `verify`, asking a fake auth service that routes to Dovecot/Postfix and answers
    Auth-Pass for EXTERNAL logins."""
    pki = PKI(ctx)
    dv = ctx.dovecot()
    pf = ctx.postfix()
    ports = {"imap": dv.imap_port, "pop3": dv.pop3_port, "smtp": pf.smtp_port}

    def respond(req):
        h = [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
             ("Auth-Port", str(ports[req.header("Auth-Protocol")]))]
        if req.header("Auth-Method") == "external":
            h.append(("Auth-Pass", PASSWORDS[req.user]))
        return h

    fa = ctx.fake_auth(respond=respond)
    servers = []
    for p in protocols:
        kw = {"ssl_verify_client": verify}
        if verify != "optional_no_ca":
            kw["ssl_client_certificate"] = pki.ca.cert
        kw.update(server_kw)
        servers.append(tls_server(p, pki.server[0], pki.server[1], **kw))
    mp = ctx.mailproxy(servers=servers, auth=fa, mail=mail)
    return pki, mp, fa


def _refused(c, line):
    got = c.rest_until_closed()
    assert got == line, "expected %r then close, got %r" % (line, got)


def _imap_login(c, tag="a"):
    c.cmd("%s LOGIN alice alicepw" % tag)
    last = c.read_until(tag + " ")[-1]
    assert last.startswith(tag.encode() + b" OK"), last


def test_tls_client_cert_required(ctx):
    pki, mp, fa = _setup(ctx, "on", mail={"auth_http_pass_client_cert": True})
    port = mp.ports["imaps"]
    with TLSLineClient(port, pki.context()) as c:
        _refused(c, b"* BYE No required SSL certificate\r\n")
    with TLSLineClient(port, pki.context(pki.foreign)) as c:
        _refused(c, b"* BYE SSL certificate error\r\n")
    with TLSLineClient(port, pki.context(pki.expired)) as c:
        _refused(c, b"* BYE SSL certificate error\r\n")
    fa.sync()
    assert not fa.requests, "a refused certificate never reaches the auth service"
    mp.wait_log(r"client sent no required SSL certificate")
    # OpenSSL's last error for a leaf from an unknown CA (the callback lets the
    # verification go on, as nginx's does): 20 at first, then 21.
    mp.wait_log(r"client SSL certificate verify error: \((20:unable to get local "
                r"issuer certificate|21:unable to verify the first certificate)\)")
    mp.wait_log(r"certificate has expired")
    with TLSLineClient(port, pki.context(pki.good)) as c:
        assert c.readline() == IMAP_GREETING
        _imap_login(c)
        c.cmd("b SELECT INBOX")
        assert c.read_until("b ")[-1].startswith(b"b OK")
    req = fa.requests[-1]
    facts = cert_facts(pki.good[0])
    assert req.header("Auth-SSL") == "on"
    assert req.header("Auth-SSL-Protocol") == "TLSv1.3"
    assert req.header("Auth-SSL-Cipher", "").startswith("TLS_"), req
    assert req.header("Auth-SSL-Verify") == "SUCCESS"
    assert req.header("Auth-SSL-Subject") == facts["subject"], (req, facts)
    assert facts["subject"] == r"CN=alice,OU=Mail Users,O=Example\, Inc.,C=DE", facts
    assert req.header("Auth-SSL-Issuer") == facts["issuer"] == "CN=Test CA A,O=mailproxy tests"
    assert req.header("Auth-SSL-Serial") == facts["serial"], (req, facts)
    assert req.header("Auth-SSL-Fingerprint") == facts["fingerprint"], (req, facts)
    cert = req.header("Auth-SSL-Cert")
    assert cert and " " not in cert and "\n" not in cert, cert
    assert urllib.parse.unquote(cert).strip() == facts["pem"].strip()
    assert [k for k, _ in req.header_list].index("Auth-SSL") > \
        [k for k, _ in req.header_list].index("Client-IP"), req.header_list


def test_tls_client_cert_optional(ctx):
    pki, mp, fa = _setup(ctx, "optional")
    port = mp.ports["imaps"]
    with TLSLineClient(port, pki.context()) as c:
        assert c.readline() == IMAP_GREETING, "no certificate is fine under optional"
        _imap_login(c)
    req = fa.requests[-1]
    assert req.header("Auth-SSL-Verify") == "NONE", req
    for h in ("Auth-SSL-Subject", "Auth-SSL-Issuer", "Auth-SSL-Serial",
              "Auth-SSL-Fingerprint", "Auth-SSL-Cert"):
        assert req.header(h) is None, (h, req)
    with TLSLineClient(port, pki.context(pki.good)) as c:
        assert c.readline() == IMAP_GREETING
        _imap_login(c)
    req = fa.requests[-1]
    assert req.header("Auth-SSL-Verify") == "SUCCESS"
    assert req.header("Auth-SSL-Subject") == cert_facts(pki.good[0])["subject"]
    assert req.header("Auth-SSL-Cert") is None, "auth_http_pass_client_cert is off"
    # a certificate that is presented must be good
    with TLSLineClient(port, pki.context(pki.foreign)) as c:
        _refused(c, b"* BYE SSL certificate error\r\n")
    with TLSLineClient(port, pki.context(pki.expired)) as c:
        _refused(c, b"* BYE SSL certificate error\r\n")


def test_tls_client_cert_optional_no_ca(ctx):
    """optional_no_ca: a certificate from an unknown CA is let through and the auth
    service decides: Auth-SSL-Verify is FAILED:<reason> (nginx's list of tolerated
    errors: self-signed, unknown issuer). An expired certificate is still refused."""
    pki, mp, fa = _setup(ctx, "optional_no_ca", mail={"auth_http_pass_client_cert": True})
    port = mp.ports["imaps"]
    with TLSLineClient(port, pki.context(pki.foreign)) as c:
        assert c.readline() == IMAP_GREETING, "an unknown CA is accepted"
        _imap_login(c)
    req = fa.requests[-1]
    facts = cert_facts(pki.foreign[0])
    assert req.header("Auth-SSL-Verify") in (
        "FAILED:unable to get local issuer certificate",
        "FAILED:unable to verify the first certificate"), req
    assert req.header("Auth-SSL-Subject") == facts["subject"] == "CN=alice,O=Elsewhere"
    assert req.header("Auth-SSL-Issuer") == facts["issuer"]
    assert req.header("Auth-SSL-Serial") == facts["serial"]
    assert req.header("Auth-SSL-Fingerprint") == facts["fingerprint"]
    assert urllib.parse.unquote(req.header("Auth-SSL-Cert")).strip() == facts["pem"].strip()
    with TLSLineClient(port, pki.context()) as c:
        assert c.readline() == IMAP_GREETING
        _imap_login(c)
    assert fa.requests[-1].header("Auth-SSL-Verify") == "NONE"
    # a self-signed client certificate is tolerated too
    selfc = self_signed(ctx.path("pki"), "selfsigned-client", "carol")
    with TLSLineClient(port, pki.context(selfc)) as c:
        assert c.readline() == IMAP_GREETING
        c.cmd("x NOOP")
        assert c.readline() == b"x OK completed\r\n"
    with TLSLineClient(port, pki.context(pki.expired)) as c:
        _refused(c, b"* BYE SSL certificate error\r\n")


def test_tls_client_cert_starttls_required(ctx):
    """The check runs after a STARTTLS handshake too."""
    pki, mp, fa = _setup(ctx, "on", ssl_listen=False, starttls="on")
    from harness import LineClient
    port = mp.ports["imap"]
    with LineClient(port) as c:
        assert c.readline() == IMAP_GREETING
        c.cmd("s STARTTLS")
        assert c.readline() == b"s OK completed\r\n"
        c.starttls()
        got = b""
        try:
            while True:
                line = c.readline(timeout=5)
                if not line:
                    break
                got += line
        except (ConnectionResetError, OSError):
            pass
        assert got == b"* BYE No required SSL certificate\r\n", got
    with LineClient(port) as c:
        assert c.readline() == IMAP_GREETING
        c.cmd("s STARTTLS")
        assert c.readline() == b"s OK completed\r\n"
        c.sock = pki.context(pki.good).wrap_socket(c.sock, server_hostname="localhost")
        _imap_login(c)
    assert fa.requests[-1].header("Auth-SSL-Verify") == "SUCCESS"


def test_tls_imap_authenticate_external(ctx):
    pki, mp, fa = _setup(ctx, "on", imap_auth=["plain", "external"])
    port = mp.ports["imaps"]
    with TLSLineClient(port, pki.context(pki.good)) as c:
        assert c.readline() == IMAP_GREETING
        c.cmd("c CAPABILITY")
        assert c.readline() == IMAP_CAPS + b" AUTH=PLAIN AUTH=EXTERNAL\r\n"
        assert c.readline() == b"c OK completed\r\n"
        c.cmd("a AUTHENTICATE EXTERNAL")
        assert c.readline() == b"+ VXNlcm5hbWU6\r\n"
        c.cmd(b64("alice"))
        assert c.read_until("a ")[-1].startswith(b"a OK")
        c.cmd("b SELECT INBOX")
        assert c.read_until("b ")[-1].startswith(b"b OK")
    req = fa.requests[-1]
    assert req.header("Auth-Method") == "external", req
    assert req.user == "alice" and req.password == ""
    assert req.header("Auth-SSL-Verify") == "SUCCESS"
    assert req.header("Auth-SSL-Subject") == cert_facts(pki.good[0])["subject"]
    with TLSLineClient(port, pki.context(pki.good)) as c:     # initial response
        assert c.readline() == IMAP_GREETING
        c.cmd("a AUTHENTICATE EXTERNAL " + b64("alice"))
        assert c.read_until("a ")[-1].startswith(b"a OK")
    assert fa.requests[-1].header("Auth-Method") == "external"
    mp.wait_log(r"client logged in")


def test_tls_pop3_client_cert_and_auth_external(ctx):
    pki, mp, fa = _setup(ctx, "on", protocols=("pop3",), pop3_auth=["plain", "external"])
    port = mp.ports["pop3s"]
    with TLSLineClient(port, pki.context()) as c:
        _refused(c, b"-ERR No required SSL certificate\r\n")
    with TLSLineClient(port, pki.context(pki.foreign)) as c:
        _refused(c, b"-ERR SSL certificate error\r\n")
    with TLSLineClient(port, pki.context(pki.good)) as c:
        assert c.readline().startswith(POP3_GREETING)
        c.cmd("AUTH EXTERNAL " + b64("alice"))
        assert c.readline().startswith(b"+OK")
        c.cmd("STAT")
        assert c.readline().startswith(b"+OK ")
        c.cmd("QUIT")
    req = fa.requests[-1]
    assert req.header("Auth-Method") == "external" and req.user == "alice", req
    assert req.header("Auth-Protocol") == "pop3"
    assert req.header("Auth-SSL-Verify") == "SUCCESS"
    assert req.header("Auth-SSL-Fingerprint") == cert_facts(pki.good[0])["fingerprint"]


def test_tls_smtp_client_cert_and_auth_external(ctx):
    pki, mp, fa = _setup(ctx, "on", protocols=("smtp",),
                         smtp_auth=["login", "plain", "external"], server_name="mx.test")
    port = mp.ports["smtps"]
    with TLSLineClient(port, pki.context()) as c:
        _refused(c, b"421 4.7.1 No required SSL certificate\r\n")
    with TLSLineClient(port, pki.context(pki.expired)) as c:
        _refused(c, b"421 4.7.1 SSL certificate error\r\n")
    with TLSLineClient(port, pki.context(pki.good)) as c:
        assert c.readline() == b"220 mx.test ESMTP ready\r\n"
        c.cmd("EHLO client.example")
        ehlo = b"".join(c.read_until("250 "))
        assert b"AUTH LOGIN PLAIN EXTERNAL" in ehlo or b"AUTH PLAIN LOGIN EXTERNAL" in ehlo, ehlo
        c.cmd("AUTH EXTERNAL")
        assert c.readline() == b"334 VXNlcm5hbWU6\r\n"
        c.cmd(b64("alice"))
        assert c.readline() == b"235 2.0.0 OK\r\n"
        c.cmd("QUIT")
        assert c.readline().startswith(b"221")
    req = fa.requests[-1]
    assert req.header("Auth-Method") == "external" and req.user == "alice", req
    assert req.header("Auth-Protocol") == "smtp"
    assert req.header("Auth-SSL-Verify") == "SUCCESS"
    assert req.header("Auth-SSL-Serial") == cert_facts(pki.good[0])["serial"]
