"""Helpers shared by test_smtp.py and test_resolver.py (not a test module: the runner
only collects test_*.py): a scripted fake SMTP backend that records every line the
proxy sends it, and a tiny fake DNS server (UDP on 127.0.0.1) for the `resolver`.

Everything listens on loopback only and every wait is bounded."""

import socket
import struct
import threading
import time

from harness import wait_until

SMTP_INTERNAL = b"451 4.3.2 Internal server error\r\n"


class FakeSMTP:
    """A scripted SMTP backend for ctx.fake_server(mode="script", handler=fs.handler).

    It greets with 220, answers EHLO with a multi-line 250 that offers XCLIENT, XCLIENT
    with 220 (Postfix restarts the session), AUTH with 235, MAIL/RCPT with 250, DATA
    with 354 and the dot with 250, QUIT with 221; `replies` overrides the reply to a
    verb (e.g. {"XCLIENT": "550 5.7.0 insufficient authorization"}), `greeting`
    the banner; `xclient_after_ehlo` refuses XCLIENT before EHLO with 503, as some
    servers might. .sessions is a list (one per connection) of the lines received
    (bytes, with their CRLF)."""

    def __init__(self, replies=None, greeting=b"220 fake.backend ESMTP\r\n", drip=False,
                 xclient_after_ehlo=False):
        self.replies = dict(replies or {})
        self.xclient_after_ehlo = xclient_after_ehlo
        self.drip = drip
        self.greeting = greeting
        self.sessions = []
        self._done = []                # per session: the handler has returned
        self.lock = threading.Lock()

    def handler(self, conn, server):
        with self.lock:
            lines = []
            self.sessions.append(lines)
            index = len(self._done)
            self._done.append(False)
        conn.settimeout(15)
        f = conn.makefile("rb")
        send = conn.sendall
        if self.drip:                  # every reply one byte per TCP segment
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def send(data):
                for i in range(len(data)):
                    conn.sendall(data[i:i + 1])
                    time.sleep(0.002)
        try:
            send(self.greeting)
            in_data = False
            ehlo_seen = False
            while True:
                line = f.readline(65536)
                if not line:
                    return
                with self.lock:
                    lines.append(line)
                if in_data:
                    if line == b".\r\n":
                        in_data = False
                        send(b"250 2.0.0 Ok: queued as FAKE\r\n")
                    continue
                verb = line.split(b" ", 1)[0].strip().upper().decode("ascii", "replace")
                if verb in self.replies:
                    r = self.replies[verb]
                    if r is None:          # close without answering
                        return
                    send(r.encode() + b"\r\n")
                    continue
                if verb == "XCLIENT" and self.xclient_after_ehlo and not ehlo_seen:
                    send(b"503 5.5.1 Error: send HELO/EHLO first\r\n")
                    continue
                if verb == "EHLO":
                    ehlo_seen = True
                    send(b"250-fake.backend\r\n250-PIPELINING\r\n"
                         b"250-XCLIENT NAME ADDR PROTO HELO LOGIN\r\n250 8BITMIME\r\n")
                elif verb == "HELO":
                    send(b"250 fake.backend\r\n")
                elif verb == "XCLIENT":
                    send(b"220 fake.backend ESMTP\r\n")
                elif verb == "AUTH":
                    send(b"235 2.7.0 Authentication successful\r\n")
                elif verb == "MAIL":
                    send(b"250 2.1.0 Ok\r\n")
                elif verb == "RCPT":
                    send(b"250 2.1.5 Ok\r\n")
                elif verb == "DATA":
                    in_data = True
                    send(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                elif verb == "QUIT":
                    send(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    send(b"250 2.0.0 Ok\r\n")
        except OSError:
            pass
        finally:
            try:
                f.close()
                conn.close()
            except OSError:
                pass
            with self.lock:
                self._done[index] = True

    def wait_closed(self, i=-1, timeout=20.0):
        """Wait until session i has ended (the proxy closed it, or QUIT): all it will
        ever receive is in lines(i) then. Use before asserting a line was NOT sent."""
        def done():
            with self.lock:
                return bool(self._done) and self._done[i]
        wait_until(done, timeout, what="backend session %d to end (lines %r)" % (
            i, self.lines(i)))

    def lines(self, i=-1):
        with self.lock:
            return list(self.sessions[i]) if self.sessions else []

    def wait_line(self, prefix, timeout=10.0, i=-1):
        """The first line of session i starting with prefix (bytes), waiting for it."""
        def find():
            for line in self.lines(i):
                if line.startswith(prefix):
                    return line
            return None
        return wait_until(find, timeout, what="backend line %r (have %r)" % (
            prefix, self.lines(i)))


def start_fake_smtp(ctx, **kw):
    """(FakeSMTP, FakeServer) started on a free loopback port, stopped at teardown."""
    fs = FakeSMTP(**kw)
    srv = ctx.fake_server("script", handler=fs.handler)
    return fs, srv


def ok_to(port, host="127.0.0.1", extra=()):
    """An auth_http respond() function answering OK to host:port."""
    def respond(req):
        return [("Auth-Status", "OK"), ("Auth-Server", host), ("Auth-Port", str(port))] + \
            list(extra)
    return respond


def smtp_lines_until_last(c, timeout=None):
    """Lines of one SMTP reply (up to the 'NNN ' line), joined."""
    out = []
    while True:
        line = c.readline(timeout)
        if not line:
            raise AssertionError("EOF inside a reply; got %r" % out)
        out.append(line)
        if len(line) >= 4 and line[3:4] == b" ":
            return b"".join(out)


# ------------------------------------------------------------------ fake DNS

def _qname(data, off):
    labels = []
    while True:
        n = data[off]
        off += 1
        if n == 0:
            return b".".join(labels), off
        labels.append(data[off:off + n])
        off += n


def _name(labels):
    """DNS wire form of a name given as a list of raw label bytes."""
    return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"


class FakeDNS:
    """A UDP DNS server on 127.0.0.1 answering PTR for the client address and A for the
    name it returns.

    mode  "good"      PTR -> ptr_name, A ptr_name -> a_addr (127.0.0.1 by default)
          "mismatch"  as good, but the A record is 127.0.0.2
          "nxdomain"  NXDOMAIN (RCODE 3) to everything
          "servfail"  SERVFAIL (RCODE 2) to everything
          "silent"    never answers
    ptr_labels  the PTR target as raw labels (bytes may be anything: CR, LF, space)
    a_rcode     answer A queries with this RCODE instead (e.g. 2 = SERVFAIL)
    .queries: [(qtype, qname bytes)] received."""

    def __init__(self, mode="good", ptr_labels=(b"client", b"test", b"example"),
                 a_addr="127.0.0.1", a_rcode=None):
        self.mode = mode
        self.a_rcode = a_rcode
        self.ptr_labels = [bytes(l) for l in ptr_labels]
        self.a_addr = "127.0.0.2" if mode == "mismatch" else a_addr
        self.queries = []
        self._synced = set()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def sync(self, timeout=20.0):
        """Send a sentinel query straight to this server and wait until it has read it:
        every query that reached the server before is in .queries now (the sentinel is
        kept out of it). Use before asserting that something was NOT looked up."""
        token = b"sentinel-%d" % time.monotonic_ns()
        q = struct.pack("!HHHHHH", 0x5e5e, 0x0100, 1, 0, 0, 0) + \
            _name([token, b"invalid"]) + struct.pack("!HH", 1, 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(q, ("127.0.0.1", self.port))
        wait_until(lambda: token in self._synced, timeout,
                   what="the fake DNS server to read its queries")

    def _loop(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if data[13:22] == b"sentinel-":            # sync()'s query: noted, not answered
                self._synced.add(data[13:13 + data[12]])
                continue
            try:
                ans = self._answer(data)
            except (IndexError, struct.error):
                continue
            if ans is not None:
                try:
                    self.sock.sendto(ans, peer)
                except OSError:
                    pass

    def _answer(self, q):
        qid, flags, qd = struct.unpack("!HHH", q[:6])
        qname, off = _qname(q, 12)
        qtype, qclass = struct.unpack("!HH", q[off:off + 4])
        question = q[12:off + 4]
        self.queries.append((qtype, qname))
        if self.mode == "silent":
            return None
        rd = flags & 0x0100
        if self.mode in ("nxdomain", "servfail"):
            rcode = 3 if self.mode == "nxdomain" else 2
            return struct.pack("!HHHHHH", qid, 0x8080 | rd | rcode, 1, 0, 0, 0) + question
        if qtype == 1 and self.a_rcode is not None:
            return struct.pack("!HHHHHH", qid, 0x8080 | rd | self.a_rcode, 1, 0, 0, 0) + \
                question
        answers = []
        if qtype == 12 and qname.lower() == b"1.0.0.127.in-addr.arpa":
            rdata = _name(self.ptr_labels)
            answers.append(b"\xc0\x0c" + struct.pack("!HHIH", 12, 1, 60, len(rdata)) + rdata)
        elif qtype == 1 and qname.lower() == b".".join(self.ptr_labels).lower():
            rdata = socket.inet_aton(self.a_addr)
            answers.append(b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + rdata)
        if not answers:
            # the name exists only for the types above: NOERROR without answers
            return struct.pack("!HHHHHH", qid, 0x8480 | rd, 1, 0, 0, 0) + question
        return struct.pack("!HHHHHH", qid, 0x8480 | rd, 1, len(answers), 0, 0) + \
            question + b"".join(answers)


def start_fake_dns(ctx, mode="good", **kw):
    d = FakeDNS(mode, **kw).start()
    ctx.cleanup(d.stop)
    return d
