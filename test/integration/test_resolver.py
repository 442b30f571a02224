"""The SMTP `resolver`: a PTR lookup of the client address, then a forward lookup of
the name that must lead back to it, against a tiny fake DNS server on 127.0.0.1. What
comes out goes to the auth service as Client-Host and to the backend as XCLIENT NAME:
the name, "[UNAVAILABLE]" (NXDOMAIN, a forward record that does not match, a PTR name
that is not a valid host name: nginx's CVE-2026-28753) or "[TEMPUNAVAIL]" (timeouts,
other errors, an answer without a PTR record or with an empty one). POP3 and IMAP
never send Client-Host (nginx)."""

import base64
import imaplib
import poplib
import socket
import struct
import time

from harness import LineClient, timeout
from smtp_support import (FakeDNS, _name, _qname, ok_to, smtp_lines_until_last,
                          start_fake_dns, start_fake_smtp)

GREETING = b"220 mx.proxy.test ESMTP ready\r\n"
PTR, A = 12, 1


def b64(s):
    return base64.b64encode(s.encode()).decode()


def lookup(ctx, dns, resolver_timeout="5s", auth="plain"):
    """A proxy whose SMTP server resolves with `dns`, a FakeAuth, a scripted backend;
    one session from 127.0.0.1 logging in. Returns (Client-Host header, XCLIENT line,
    seconds until the greeting, auth request, proxy)."""
    fs, srv = start_fake_smtp(ctx)
    fa = ctx.fake_auth(respond=ok_to(srv.port))
    mp = ctx.mailproxy(auth=fa, servers=[{
        "protocol": "smtp", "server_name": "mx.proxy.test", "resolver": dns.address,
        "resolver_timeout": resolver_timeout,
        "smtp_auth": ["plain", "none"]}])
    t0 = time.monotonic()
    with LineClient(mp.ports["smtp"], timeout=15) as c:
        assert c.readline() == GREETING
        waited = time.monotonic() - t0
        c.cmd("EHLO client.example")
        smtp_lines_until_last(c)
        if auth == "plain":
            c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
            assert smtp_lines_until_last(c) == b"235 2.0.0 OK\r\n"
        else:
            c.cmd("MAIL FROM:<a@example.org>")
            smtp_lines_until_last(c)
            c.cmd("RCPT TO:<b@test.example>")
            assert smtp_lines_until_last(c) == b"250 2.1.5 Ok\r\n"
        c.cmd("QUIT")
        smtp_lines_until_last(c)
    xclient = fs.wait_line(b"XCLIENT ")
    req = fa.requests[-1]
    return req.header("Client-Host"), xclient, waited, req, mp


def xclient_name(line):
    return line.rstrip(b"\r\n").rsplit(b" NAME=", 1)[1]


def test_resolver_good_name(ctx):
    dns = start_fake_dns(ctx, "good")
    host, xclient, _, req, mp = lookup(ctx, dns)
    assert host == "client.test.example", req
    assert xclient == b"XCLIENT PROTO=ESMTP HELO=client.example ADDR=127.0.0.1 " \
                      b"LOGIN=alice NAME=client.test.example\r\n", xclient
    assert (PTR, b"1.0.0.127.in-addr.arpa") in dns.queries, dns.queries
    assert (A, b"client.test.example") in dns.queries, dns.queries
    # header order as nginx: Client-Host right after Client-IP
    names = [k for k, _ in req.header_list]
    assert names.index("Client-Host") == names.index("Client-IP") + 1, names


def test_resolver_good_name_with_smtp_auth_none(ctx):
    dns = start_fake_dns(ctx, "good")
    host, xclient, _, req, mp = lookup(ctx, dns, auth="none")
    assert host == "client.test.example" and req.header("Auth-Method") == "none"
    assert xclient.endswith(b" NAME=client.test.example\r\n") and b"LOGIN=" not in xclient


def test_resolver_forward_mismatch_is_unavailable(ctx):
    dns = start_fake_dns(ctx, "mismatch")
    host, xclient, _, req, mp = lookup(ctx, dns)
    assert host == "[UNAVAILABLE]"
    assert xclient_name(xclient) == b"[UNAVAILABLE]"
    assert (A, b"client.test.example") in dns.queries, "the forward lookup was made"


def test_resolver_nxdomain_is_unavailable(ctx):
    dns = start_fake_dns(ctx, "nxdomain")
    host, xclient, _, req, mp = lookup(ctx, dns)
    assert host == "[UNAVAILABLE]"
    assert xclient_name(xclient) == b"[UNAVAILABLE]"


def test_resolver_servfail_is_tempunavail(ctx):
    """SERVFAIL to the PTR query is a temporary error, not "no name" (nginx: any
    resolver error but NXDOMAIN gives [TEMPUNAVAIL])."""
    dns = start_fake_dns(ctx, "servfail")
    host, xclient, _, req, mp = lookup(ctx, dns)
    assert host == "[TEMPUNAVAIL]"
    assert xclient_name(xclient) == b"[TEMPUNAVAIL]"


def test_resolver_forward_servfail_is_tempunavail(ctx):
    dns = start_fake_dns(ctx, "good", a_rcode=2)
    host, xclient, _, req, mp = lookup(ctx, dns)
    assert host == "[TEMPUNAVAIL]"
    assert xclient_name(xclient) == b"[TEMPUNAVAIL]"
    assert (A, b"client.test.example") in dns.queries


@timeout(40)
def test_resolver_timeout_is_tempunavail(ctx):
    """A DNS server that never answers: after resolver_timeout 1s the greeting comes
    (the client waits for the lookup, as in nginx) and the name is [TEMPUNAVAIL]."""
    dns = start_fake_dns(ctx, "silent")
    host, xclient, waited, req, mp = lookup(ctx, dns, resolver_timeout="1s")
    assert host == "[TEMPUNAVAIL]"
    assert xclient_name(xclient) == b"[TEMPUNAVAIL]"
    assert waited >= 0.9, "greeted %.2fs after connecting, before the lookup ended" % waited
    dns.sync()
    assert dns.queries and dns.queries[0][0] == PTR


def _bad_name(ctx, labels):
    dns = start_fake_dns(ctx, "good", ptr_labels=labels)
    host, xclient, _, req, mp = lookup(ctx, dns)
    raw = req.raw.decode("latin-1")
    assert host == "[UNAVAILABLE]", (labels, req)
    assert xclient_name(xclient) == b"[UNAVAILABLE]", xclient
    assert "X-Injected" not in raw and "evil" not in raw, raw
    dns.sync()
    assert not any(q[0] == A for q in dns.queries), \
        "an invalid PTR name must not be looked up forward: %r" % dns.queries
    return req


def test_resolver_ptr_with_crlf_injection_is_unavailable(ctx):
    req = _bad_name(ctx, [b"evil", b"example\r\nX-Injected: 1"])
    assert req.header("X-Injected") is None


def test_resolver_ptr_with_space_is_unavailable(ctx):
    _bad_name(ctx, [b"evil host", b"example"])


def test_resolver_ptr_with_lf_only_is_unavailable(ctx):
    _bad_name(ctx, [b"evil\nX-Injected: 1", b"example"])


def test_resolver_ptr_with_underscore_is_unavailable(ctx):
    _bad_name(ctx, [b"evil_host", b"example"])


class OddPTRDNS(FakeDNS):
    """A FakeDNS whose answer to the PTR query is odd (A queries as in "good"):
    "empty"       one PTR record with zero-length RDATA
    "empty_then"  that, followed by an A record (a reader that does not bound the
                  PTR name by RDLENGTH takes the next record's owner for it)
    "cname"       only a CNAME, to a name that has no PTR in this answer
    "a"           only an A record
    """

    def __init__(self, kind):
        super().__init__("good")
        self.kind = kind

    def _answer(self, q):
        qid, flags, _ = struct.unpack("!HHH", q[:6])
        qname, off = _qname(q, 12)
        qtype = struct.unpack("!H", q[off:off + 2])[0]
        if qtype != PTR:
            return super()._answer(q)
        self.queries.append((qtype, qname))
        question = q[12:off + 4]

        def rr(rtype, rdata):
            return b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 60, len(rdata)) + rdata

        a = rr(A, socket.inet_aton("127.0.0.1"))
        answers = {"empty": [rr(PTR, b"")],
                   "empty_then": [rr(PTR, b""), a],
                   "cname": [rr(5, _name([b"alias", b"test", b"example"]))],
                   "a": [a]}[self.kind]
        return struct.pack("!HHHHHH", qid, 0x8480 | (flags & 0x0100), 1, len(answers), 0, 0) + \
            question + b"".join(answers)


def _odd_ptr(ctx, kind):
    dns = OddPTRDNS(kind).start()
    ctx.cleanup(dns.stop)
    host, xclient, waited, req, mp = lookup(ctx, dns)
    assert host == "[TEMPUNAVAIL]", (kind, req)
    # nginx sends its s->host to the backend as it is: XCLIENT NAME=[TEMPUNAVAIL]
    assert xclient_name(xclient) == b"[TEMPUNAVAIL]", xclient
    dns.sync()
    assert not any(q[0] == A for q in dns.queries), \
        "no name, no forward lookup: %r" % dns.queries
    assert waited < 4, "answered at once, not after resolver_timeout (%.1fs)" % waited


def test_resolver_empty_ptr_rdata_is_tempunavail(ctx):
    """A PTR record with zero-length RDATA holds no name: nginx's resolver gives no
    answer for it and the lookup fails as a timeout, [TEMPUNAVAIL], not as "no such
    name"; mailproxy says so at once."""
    _odd_ptr(ctx, "empty")


def test_resolver_empty_ptr_rdata_before_another_record_is_tempunavail(ctx):
    _odd_ptr(ctx, "empty_then")


def test_resolver_cname_without_ptr_is_tempunavail(ctx):
    """An answer section with records but no PTR (a CNAME whose target is not
    answered, an A record) is a temporary failure; only NXDOMAIN or an empty answer
    is [UNAVAILABLE]."""
    _odd_ptr(ctx, "cname")


def test_resolver_other_type_without_ptr_is_tempunavail(ctx):
    _odd_ptr(ctx, "a")


def test_resolver_empty_answer_is_unavailable(ctx):
    """NOERROR with no answer at all is "no such name" to nginx's resolver
    (NGX_RESOLVE_NXDOMAIN): [UNAVAILABLE]."""
    dns = start_fake_dns(ctx, "good")
    dns.ptr_labels = [b"unused"]

    def empty(q, orig=dns._answer):
        qid, flags, _ = struct.unpack("!HHH", q[:6])
        qname, off = _qname(q, 12)
        dns.queries.append((struct.unpack("!H", q[off:off + 2])[0], qname))
        return struct.pack("!HHHHHH", qid, 0x8480 | (flags & 0x0100), 1, 0, 0, 0) + q[12:off + 4]
    dns._answer = empty
    host, xclient, _, req, mp = lookup(ctx, dns)
    assert host == "[UNAVAILABLE]", req
    assert xclient_name(xclient) == b"[UNAVAILABLE]"


def test_pop3_and_imap_send_no_client_host(ctx):
    """Even with a resolver configured for the whole mail block, POP3 and IMAP do not
    look the client up and send no Client-Host (nginx)."""
    dns = start_fake_dns(ctx, "good")
    dv = ctx.dovecot()

    def respond(req):
        port = dv.pop3_port if req.header("Auth-Protocol") == "pop3" else dv.imap_port
        return [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"), ("Auth-Port", str(port))]

    fa = ctx.fake_auth(respond=respond)
    mp = ctx.mailproxy(auth=fa, mail={"resolver": dns.address, "resolver_timeout": "2s"},
                       servers=[{"protocol": "pop3"}, {"protocol": "imap"}])
    p = poplib.POP3("127.0.0.1", mp.ports["pop3"], timeout=10)
    p.user("alice")
    assert p.pass_("alicepw").startswith(b"+OK")
    p.quit()
    m = imaplib.IMAP4("127.0.0.1", mp.ports["imap"], timeout=10)
    assert m.login("alice", "alicepw")[0] == "OK"
    m.logout()
    assert [r.header("Auth-Protocol") for r in fa.requests] == ["pop3", "imap"]
    for r in fa.requests:
        assert r.header("Client-Host") is None, r
        assert r.header("Client-IP") == "127.0.0.1"
    dns.sync()
    assert dns.queries == [], "POP3/IMAP clients were looked up: %r" % dns.queries
