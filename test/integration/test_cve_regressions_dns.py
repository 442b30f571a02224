"""Regression tests of the resolver's CVEs (see test_cve_regressions.py for the
others and the shared helpers): CVE-2026-28753, PTR names with CR/LF or other odd
bytes must never reach auth_http or XCLIENT raw; CVE-2021-23017, hostile DNS answers
(compression loops, lengths past the end, wrong counts) never crash the worker nor
corrupt another session. A scripted fake DNS server (smtp_support) on loopback."""

import re
import socket
import struct

from harness import LineClient, wait_until
from smtp_support import FakeDNS, _qname, smtp_lines_until_last, start_fake_smtp
from test_cve_regressions import NONE_HEADERS, SMTP_GREETING, _raw_headers, _same_workers, b64

# What a host name may look like once it leaves the resolver (nginx 1.29.7).
SAFE_HOST = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[UNAVAILABLE\]|\[TEMPUNAVAIL\])$")
BRACKETED = ("[UNAVAILABLE]", "[TEMPUNAVAIL]")


# =============================================================== CVE-2026-28753
# nginx 1.29.6 and older: the PTR name of an SMTP client went raw into the auth_http
# request (Client-Host) and into XCLIENT NAME=, so a PTR record with CR/LF injected
# headers or commands. Every odd byte in a PTR name (and in a CNAME met by the
# forward lookup) must leave the name out: only a valid host name or a bracketed
# placeholder may reach either.

class ScriptedDNS(FakeDNS):
    """smtp_support's FakeDNS, answering with whatever `respond(query, qtype, qname)`
    returns: a list of raw packets (sent in order), or [] for silence."""

    def __init__(self, respond):
        super().__init__("good")
        self.respond = respond

    def _loop(self):
        for _ in range(1000000):
            if self._stop.is_set():
                return
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                qname, off = _qname(data, 12)
                qtype = struct.unpack("!H", data[off:off + 2])[0]
            except (IndexError, struct.error):
                continue
            self.queries.append((qtype, qname))
            for pkt in self.respond(data, qtype, qname):
                try:
                    self.sock.sendto(pkt, peer)
                except OSError:
                    pass


def start_dns(ctx, respond):
    d = ScriptedDNS(respond).start()
    ctx.cleanup(d.stop)
    return d


def wire_name(labels):
    return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"


def dns_reply(q, answers=(), ancount=None, rcode=0, qid=None, question=None, tail=b""):
    """A response to query q: answers are raw RRs; the header's counts, id and
    question may lie."""
    qid0, flags = struct.unpack("!HH", q[:4])
    _n, off = _qname(q, 12)
    if question is None:
        question = q[12:off + 4]
    body = b"".join(answers)
    return struct.pack("!HHHHHH", qid0 if qid is None else qid,
                       0x8480 | (flags & 0x0100) | rcode, 1,
                       len(answers) if ancount is None else ancount, 0, 0) + question + body + tail


def rr(rtype, rdata, name=b"\xc0\x0c", rdlength=None, ttl=60):
    return name + struct.pack("!HHIH", rtype, 1, ttl,
                              len(rdata) if rdlength is None else rdlength) + rdata


def rdata_offset(q):
    """Where the first answer's RDATA starts in a reply to q (name is a pointer)."""
    _n, off = _qname(q, 12)
    return off + 4 + 2 + 10


PTR_Q = b"1.0.0.127.in-addr.arpa"


def answer_a_for(names, addr="127.0.0.1"):
    """respond() part: A for any of `names` (lower-case bytes) -> addr."""
    def a(q, qname):
        if qname.lower() in names:
            return [dns_reply(q, [rr(1, socket.inet_aton(addr))])]
        return [dns_reply(q, rcode=3)]
    return a


def _resolver_proxy(ctx, dns):
    fs, srv = start_fake_smtp(ctx)
    fa = ctx.fake_auth(respond=lambda req: [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                                            ("Auth-Port", str(srv.port))])
    mp = ctx.mailproxy(auth=fa, main={"worker_processes": 1}, servers=[{
        "protocol": "smtp", "server_name": "mx.cve.test", "resolver": dns.address,
        "resolver_timeout": "2s", "smtp_auth": ["plain", "none"]}])
    return mp, fa, fs


def _smtp_session(mp, fa, fs, none=False):
    """One SMTP login from 127.0.0.1; returns (auth request, backend lines)."""
    nreq, nsess = len(fa.requests), len(fs.sessions)
    with LineClient(mp.ports["smtp"], timeout=20) as c:
        assert c.readline() == SMTP_GREETING
        c.cmd("EHLO client.example")
        smtp_lines_until_last(c)
        if none:
            c.cmd("MAIL FROM:<a@example.org>")
            assert c.readline() == b"250 2.0.0 OK\r\n"
            c.cmd("RCPT TO:<b@test.example>")
            assert c.readline() == b"250 2.1.5 Ok\r\n"
        else:
            c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
            assert smtp_lines_until_last(c) == b"235 2.0.0 OK\r\n"
        c.cmd("QUIT")
        smtp_lines_until_last(c)
    fa.sync()
    assert len(fa.requests) == nreq + 1, fa.requests[nreq:]
    wait_until(lambda: len(fs.sessions) == nsess + 1, 10, what="the backend session")
    xclient = fs.wait_line(b"XCLIENT ", i=nsess)
    return fa.requests[-1], fs.lines(nsess), xclient


def _assert_no_injection(req, lines, xclient, host_want=None):
    """Client-Host and XCLIENT NAME= are one safe token, the same in both; nothing
    else came along (no extra header, no extra backend line)."""
    host = req.header("Client-Host")
    assert host is not None and SAFE_HOST.match(host), "Client-Host %r" % host
    names = [n for n, _v in _raw_headers(req)]
    assert names.count("Client-Host") == 1, names
    assert set(names) <= set(NONE_HEADERS), names
    assert re.match(rb"^XCLIENT PROTO=ESMTP HELO=client\.example ADDR=127\.0\.0\.1 "
                    rb"(LOGIN=alice )?NAME=(\S+)\r\n$", xclient), xclient
    assert xclient.rstrip(b"\r\n").rsplit(b" NAME=", 1)[1] == host.encode(), (xclient, host)
    for line in lines:
        assert not re.search(rb"evil|injected", line, re.I), "backend got %r" % line
        assert line.endswith(b"\r\n") and b"\r" not in line[:-2], line
    assert not re.search(rb"evil|injected", req.raw, re.I), req.raw
    if host_want is not None:
        assert host == host_want, (host, host_want)
    return host


def test_cve_2026_28753_ptr_names_never_reach_auth_http_or_xclient_raw(ctx):
    state = {"ptr": None, "a": None}

    def respond(q, qtype, qname):
        if qtype == 12 and qname.lower() == PTR_Q:
            return [dns_reply(q, [rr(12, wire_name(state["ptr"]))])]
        if qtype == 1:
            return state["a"](q, qname)
        return [dns_reply(q, rcode=3)]

    dns = start_dns(ctx, respond)
    mp, fa, fs = _resolver_proxy(ctx, dns)
    workers = sorted(mp.workers())
    hostile = [
        [b"evil", b"example\r\nX-Injected: 1"],
        [b"evil\r\nMAIL FROM:<injected@x>", b"example"],
        [b"evil\nX-Injected: 1", b"example"],
        [b"evil\rX-Injected: 1", b"example"],
        [b"evil\x00injected", b"example"],
        [b"evil host", b"example"],
        [b"evil\thost", b"example"],
        [b"evil%0d%0aX-Injected:", b"example"],
        [b"evil:1", b"example"],
        [b"ev\xc3\xa9l", b"example"],
        [b"evil\x7f", b"example"],
        [b"evil.example\r\nX-Injected: 1", b"x"],       # a dot inside a label
        [b"evil_host", b"example"],
        [b"evil/host", b"example"],
        [b"*", b"evil", b"example"],
    ]
    for labels in hostile:
        name = b".".join(labels).lower()
        state["ptr"] = labels
        state["a"] = answer_a_for({name, name.rstrip(b".")})
        for none in (False, True):
            req, lines, xclient = _smtp_session(mp, fa, fs, none=none)
            host = _assert_no_injection(req, lines, xclient)
            assert host in BRACKETED, (labels, host)
    # A good PTR name whose forward lookup goes through a CNAME to a hostile name:
    # what reaches the auth service must still be a valid host name.
    good = [b"client", b"test", b"example"]
    for target in ([b"evil\r\nX-Injected: 1", b"example"], [b"evil host", b"example"],
                   [b"evil_host", b"example"], [b"ev\xc3\xa9l", b"example"]):
        state["ptr"] = good

        def a_cname(q, qname, target=target):
            if qname.lower() == b"client.test.example":
                return [dns_reply(q, [rr(5, wire_name(target)),
                                      rr(1, socket.inet_aton("127.0.0.1"),
                                         name=wire_name(target))])]
            return [dns_reply(q, rcode=3)]
        state["a"] = a_cname
        req, lines, xclient = _smtp_session(mp, fa, fs)
        _assert_no_injection(req, lines, xclient)
    # and the plain good name still comes through, exactly
    state["ptr"] = good
    state["a"] = answer_a_for({b"client.test.example"})
    req, lines, xclient = _smtp_session(mp, fa, fs)
    _assert_no_injection(req, lines, xclient, host_want="client.test.example")
    _same_workers(mp, workers)


# =============================================================== CVE-2021-23017
# nginx 0.6.18-1.20.0: a 1-byte overwrite in the DNS response parser (names with
# compression pointers), CVE-2016-0742/0746/0747 before it (bad pointers, CNAME
# loops). mailproxy parses answers with c-ares; hostile answers must end in a
# placeholder or the right name, never a crash or a corrupted name, and the worker
# goes on resolving correctly afterwards.

def _ptr_cases():
    """(label, respond-to-PTR, names acceptable besides the placeholders)."""
    c = []

    def ptr_raw(rdata, **kw):
        return lambda q: [dns_reply(q, [rr(12, rdata(q) if callable(rdata) else rdata)], **kw)]

    def self_loop(q):
        o = rdata_offset(q)
        return bytes([0xC0 | (o >> 8), o & 0xFF])

    def loop_via_label(q):
        o = rdata_offset(q)
        return b"\x01a" + bytes([0xC0 | (o >> 8), o & 0xFF])

    def pointer_to_pointer_chain(q):
        o = rdata_offset(q)
        # 120 pointers, each to the next; the last one to a real name
        chain = b""
        for i in range(120):
            nxt = o + 2 * (i + 1)
            chain += bytes([0xC0 | (nxt >> 8), nxt & 0xFF])
        return chain + wire_name([b"chain", b"test", b"example"])

    c.append(("compression pointer to itself", ptr_raw(self_loop), set()))
    c.append(("compression loop through a label", ptr_raw(loop_via_label), set()))
    c.append(("pointer beyond the message", ptr_raw(b"\xc3\xff"), set()))
    c.append(("pointer into the header", ptr_raw(b"\xc0\x02"), set()))
    c.append(("120 chained pointers", ptr_raw(pointer_to_pointer_chain),
              {"chain.test.example"}))
    c.append(("label length 64 (reserved type)", ptr_raw(b"\x40" + b"a" * 64 + b"\0"), set()))
    c.append(("label length 0x80 (reserved type)", ptr_raw(b"\x80" + b"a" * 20 + b"\0"), set()))
    c.append(("label running past the end", ptr_raw(b"\x3fabc"), set()))
    c.append(("no terminating zero", ptr_raw(b"\x03abc"), set()))
    c.append(("name of 320 bytes", ptr_raw(wire_name([b"a" * 63] * 5)), set()))
    c.append(("name of 254 characters", ptr_raw(wire_name([b"a" * 63] * 3 + [b"b" * 62])), set()))
    c.append(("RDLENGTH past the end", lambda q: [dns_reply(
        q, [rr(12, wire_name([b"x", b"example"]), rdlength=400)])], set()))
    c.append(("RDLENGTH shorter than the name", lambda q: [dns_reply(
        q, [rr(12, wire_name([b"short", b"test", b"example"]), rdlength=3)])],
        {"short.test.example"}))
    c.append(("ANCOUNT 5, one answer", lambda q: [dns_reply(
        q, [rr(12, wire_name([b"one", b"test", b"example"]))], ancount=5)],
        {"one.test.example"}))
    c.append(("ANCOUNT 65535, no answer", lambda q: [dns_reply(q, [], ancount=65535)], set()))
    c.append(("40 PTR answers", lambda q: [dns_reply(
        q, [rr(12, wire_name([b"n%d" % i, b"test", b"example"])) for i in range(40)])],
        {"n%d.test.example" % i for i in range(40)}))
    c.append(("answers larger than asked (3 KB of extra records)", lambda q: [dns_reply(
        q, [rr(12, wire_name([b"big", b"test", b"example"]))] +
        [rr(16, b"\xff" + b"t" * 255) for _ in range(12)])], {"big.test.example"}))
    c.append(("truncated header", lambda q: [q[:2] + b"\x84"], set()))
    c.append(("junk and wrong ids first, then the answer", lambda q: [
        b"", b"\x00" * 5, dns_reply(q, [rr(12, wire_name([b"evil\r\n", b"x"]))],
                                    qid=(struct.unpack("!H", q[:2])[0] ^ 0x5555)),
        dns_reply(q, [rr(12, wire_name([b"spoofed", b"example"]))], question=b"\x03bad\x00"
                  b"\x00\x0c\x00\x01"),
        dns_reply(q, [rr(12, wire_name([b"real", b"test", b"example"]))])],
        {"real.test.example"}))
    c.append(("only a mismatched id", lambda q: [dns_reply(
        q, [rr(12, wire_name([b"spoofed", b"example"]))],
        qid=(struct.unpack("!H", q[:2])[0] ^ 1))], set()))
    c.append(("a PTR answer of length 0", lambda q: [dns_reply(q, [rr(12, b"")])], set()))
    return c


def test_cve_2021_23017_hostile_dns_answers_never_crash_or_corrupt(ctx):
    state = {"ptr": None, "a": None}

    def respond(q, qtype, qname):
        if qtype == 12 and qname.lower() == PTR_Q:
            return state["ptr"](q)
        if qtype == 1:
            return state["a"](q, qname)
        return [dns_reply(q, rcode=3)]

    dns = start_dns(ctx, respond)
    mp, fa, fs = _resolver_proxy(ctx, dns)
    workers = sorted(mp.workers())
    max_name = [b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 61]            # 253 characters
    good_a = answer_a_for({b"chain.test.example", b"short.test.example", b"one.test.example",
                           b"big.test.example", b"real.test.example",
                           b".".join(max_name)} |
                          {b"n%d.test.example" % i for i in range(40)})
    results = []
    for label, ptr, allowed in _ptr_cases():
        state["ptr"], state["a"] = ptr, good_a
        req, lines, xclient = _smtp_session(mp, fa, fs)
        host = _assert_no_injection(req, lines, xclient)
        results.append((label, host))
        assert host in BRACKETED or host in allowed, (label, host)
    # hostile answers to the forward lookup
    ok_ptr = lambda q: [dns_reply(q, [rr(12, wire_name([b"fwd", b"test", b"example"]))])]
    fwd = [
        ("A of 3 bytes", lambda q, n: [dns_reply(q, [rr(1, b"\x7f\x00\x00")])]),
        ("A of 16 bytes", lambda q, n: [dns_reply(q, [rr(1, b"\x7f\x00\x00\x01" * 4)])]),
        ("CNAME to itself", lambda q, n: [dns_reply(q, [rr(5, b"\xc0\x0c")])]),
        ("CNAME loop a->b->a", lambda q, n: [dns_reply(q, [
            rr(5, wire_name([b"b", b"example"])),
            rr(5, b"\xc0\x0c", name=wire_name([b"b", b"example"]))])]),
        ("200 A records, the match last", lambda q, n: [dns_reply(
            q, [rr(1, socket.inet_aton("10.0.%d.%d" % (i // 250, i % 250 + 1)))
                for i in range(200)] + [rr(1, socket.inet_aton("127.0.0.1"))])]),
    ]
    for label, a in fwd:
        state["ptr"], state["a"] = ok_ptr, a
        req, lines, xclient = _smtp_session(mp, fa, fs)
        host = _assert_no_injection(req, lines, xclient)
        results.append((label, host))
        # (a 3 KB UDP answer without EDNS may be refused: a placeholder then)
        want = ("fwd.test.example",) if label.startswith("200") else ()
        assert host in BRACKETED + want, (label, host)
    print("\n".join("%-55s %s" % r for r in results))
    # the longest valid name comes through whole, and plain lookups still work
    state["ptr"] = lambda q: [dns_reply(q, [rr(12, wire_name(max_name))])]
    state["a"] = good_a
    req, lines, xclient = _smtp_session(mp, fa, fs)
    _assert_no_injection(req, lines, xclient, host_want=".".join(
        l.decode() for l in max_name))
    state["ptr"] = lambda q: [dns_reply(q, [rr(12, wire_name([b"real", b"test",
                                                                b"example"]))])]
    req, lines, xclient = _smtp_session(mp, fa, fs, none=True)
    _assert_no_injection(req, lines, xclient, host_want="real.test.example")
    _same_workers(mp, workers)
