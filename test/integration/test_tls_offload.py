"""TLS 1.3 records of relayed sessions sealed and opened by mailproxy itself once
OpenSSL's per-connection state is freed (worker/tls/utls.c): real clients (Python ssl,
openssl s_client with each TLS 1.3 cipher suite, STARTTLS) through the proxy to the
real Dovecot, big transfers both ways, KeyUpdate from the client with and without a
requested answer, records that arrive a byte at a time, a forged record, and TLS 1.2
staying with OpenSSL, and a KeyUpdate before each of 10,000 commands sent in one burst
(tools/keyupdate_client.c, built here: Python's ssl cannot send a KeyUpdate). `-s
status` counts the sessions taken over (tls_offloaded)."""

import hashlib
import imaplib
import os
import shlex
import socket
import ssl
import subprocess
import time

from harness import timeout, wait_until
from tls_support import client_context, port_of, self_signed, status, tls_server


def _setup(ctx, main=None, **kw):
    cert, key = self_signed(ctx.path("pki"), "server", "localhost")
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    servers = [tls_server("imap", cert, key, **kw),
               tls_server("imap", cert, key, ssl_listen=False, starttls="on", **kw)]
    mp = ctx.mailproxy(servers=servers, auth=au, main=main)
    return mp, dv


def _offloaded(ctx, mp):
    return status(ctx, mp)["totals"]["tls_offloaded"]


def _message(n):
    body = b"".join(b"line %07d of a big message through TLS 1.3\r\n" % i for i in range(n))
    return b"From: a@example.org\r\nSubject: offload\r\n\r\n" + body


@timeout(90)
def test_tls13_relay_after_takeover_big_transfers_both_ways(ctx):
    mp, _ = _setup(ctx)
    before = _offloaded(ctx, mp)
    m = imaplib.IMAP4_SSL("127.0.0.1", port_of(mp, "imap", ssl=True), ssl_context=client_context(),
                          timeout=30)
    assert m.sock.version() == "TLSv1.3"
    assert m.login("alice", "alicepw")[0] == "OK"
    wait_until(lambda: _offloaded(ctx, mp) == before + 1, 10, what="tls_offloaded")
    msg = _message(120000)           # about 6 MB up, then down
    box = "offload%d" % os.getpid()
    m.create(box)
    typ, data = m.append(box, None, None, msg)
    assert typ == "OK", data
    m.select(box)
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    assert typ == "OK"
    got = data[0][1]
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(msg).hexdigest(), len(got)
    for i in range(200):             # many small records each way
        assert m.noop()[0] == "OK"
    m.close()
    m.delete(box)
    typ, _ = m.logout()
    assert typ == "BYE"


def _s_client(port, args, lines, expect, timeout_s=20):
    """openssl s_client fed line by line (waiting for each expected reply), so that
    its interactive commands (k, K) are honoured; returns everything it printed."""
    p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                          "-servername", "localhost", "-tls1_3"] + args,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out = b""
    os.set_blocking(p.stdout.fileno(), False)
    try:
        for line, want in zip(lines, expect):
            start = len(out)
            p.stdin.write(line + b"\n")
            p.stdin.flush()
            deadline = time.monotonic() + timeout_s
            # Only what came after this line counts; waiting for it also keeps
            # s_client from reading two lines at once (a "K" line would swallow
            # the next).
            while want not in out[start:]:
                exited = p.poll() is not None
                chunk = p.stdout.read(65536)
                if chunk:
                    out += chunk
                    continue
                if time.monotonic() > deadline or exited:
                    raise AssertionError("no %r after %r; got:\n%s" % (
                        want, line, out.decode("utf-8", "replace")[-1500:]))
                time.sleep(0.02)
    finally:
        p.kill()
        p.wait(10)
    return out.decode("utf-8", "replace")


@timeout(90)
def test_tls13_every_cipher_suite_and_starttls(ctx):
    mp, _ = _setup(ctx)
    before = _offloaded(ctx, mp)
    runs = 0
    for suite in ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                  "TLS_CHACHA20_POLY1305_SHA256"):
        for port, extra in ((port_of(mp, "imap", ssl=True), []),
                            (port_of(mp, "imap"), ["-starttls", "imap"])):
            out = _s_client(port, ["-ciphersuites", suite] + extra,
                            [b"a LOGIN alice alicepw", b"b SELECT INBOX", b"c NOOP",
                             b"d LOGOUT"],
                            [b"a OK", b"b OK", b"c OK", b"d OK"])
            assert "Cipher is %s" % suite in out or suite in out, out[-800:]
            runs += 1
    wait_until(lambda: _offloaded(ctx, mp) == before + runs, 10, what="tls_offloaded")


@timeout(60)
def test_tls13_key_update_from_the_client(ctx):
    """k: the client's KeyUpdate; K: one that asks for ours. Commands keep working
    before and after each, several times over."""
    mp, _ = _setup(ctx)
    before = _offloaded(ctx, mp)
    out = _s_client(port_of(mp, "imap", ssl=True), [],
                    [b"a LOGIN alice alicepw", b"k", b"b NOOP", b"K", b"c NOOP", b"K",
                     b"k", b"d NOOP", b"e LOGOUT"],
                    [b"a OK", b"KEYUPDATE", b"b OK", b"KEYUPDATE", b"c OK", b"KEYUPDATE",
                     b"KEYUPDATE", b"d OK", b"e OK"])
    assert "e OK" in out
    assert _offloaded(ctx, mp) == before + 1


def _keyupdate_client(ctx):
    """tools/keyupdate_client.c built into the test's temp dir (with $CC, else cc)."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools",
                       "keyupdate_client.c")
    exe = ctx.path("keyupdate_client")
    cc = shlex.split(os.environ.get("CC") or "cc")
    r = subprocess.run(cc + ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-o", exe, src,
                             "-lssl", "-lcrypto"], capture_output=True, timeout=120)
    assert r.returncode == 0, (r.stdout + r.stderr).decode("utf-8", "replace")
    return exe


@timeout(300)
def test_tls13_key_update_before_every_command_in_one_burst(ctx):
    """A logged-in client rotating its keys before each command: 10,000 KeyUpdate +
    NOOP pairs sealed ahead and written in one burst, so that many arrive in one
    read. Records without data count only in a row (QUIET_MAX): every NOOP is
    answered, in order, and the session goes on (LOGOUT)."""
    exe = _keyupdate_client(ctx)
    mp, _ = _setup(ctx)
    before = _offloaded(ctx, mp)
    r = subprocess.run([exe, str(port_of(mp, "imap", ssl=True)), "alice", "alicepw", "10000",
                        "240"], capture_output=True, timeout=270)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    assert r.returncode == 0, out
    assert "answered 10000 of 10000" in out, out
    assert _offloaded(ctx, mp) == before + 1, "the records were not utls.c's to open"


def _raw_tls(port):
    """A TLS 1.3 client over a raw socket with memory BIOs: the test decides how the
    bytes of each record reach the proxy."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cctx = client_context()
    cctx.minimum_version = ssl.TLSVersion.TLSv1_3
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = cctx.wrap_bio(inc, outg, server_hostname="localhost")

    def pump_out(drip=False):
        data = outg.read()
        if drip:
            for i in range(len(data)):
                sock.sendall(data[i:i + 1])
                time.sleep(0.001)
        elif data:
            sock.sendall(data)

    def pump_in():
        data = sock.recv(65536)
        if not data:
            raise EOFError
        inc.write(data)

    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pump_out()
            pump_in()
    pump_out()

    def read_until(marker, limit=15.0):
        buf = b""
        deadline = time.monotonic() + limit
        while marker not in buf:
            assert time.monotonic() < deadline, buf
            try:
                buf += obj.read(65536)
            except ssl.SSLWantReadError:
                pump_in()
        return buf

    return sock, obj, outg, pump_out, read_until


@timeout(60)
def test_tls13_records_a_byte_at_a_time_and_many_in_one_segment(ctx):
    mp, _ = _setup(ctx)
    sock, obj, outg, pump_out, read_until = _raw_tls(port_of(mp, "imap", ssl=True))
    with sock:
        read_until(b"* OK")
        obj.write(b"a LOGIN alice alicepw\r\n")
        pump_out()
        read_until(b"a OK")
        wait_until(lambda: _offloaded(ctx, mp) >= 1, 10, what="tls_offloaded")
        obj.write(b"b NOOP\r\n")
        pump_out(drip=True)              # header and body split over many segments
        read_until(b"b OK")
        for i in range(50):              # fifty records, one segment
            obj.write(b"c%d NOOP\r\n" % i)
        pump_out()
        read_until(b"c49 OK")


@timeout(60)
def test_tls13_forged_record_closes_only_that_session(ctx):
    mp, _ = _setup(ctx)
    port = port_of(mp, "imap", ssl=True)
    good = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=client_context(), timeout=15)
    assert good.login("alice", "alicepw")[0] == "OK"
    sock, obj, outg, pump_out, read_until = _raw_tls(port)
    with sock:
        read_until(b"* OK")
        obj.write(b"a LOGIN alice alicepw\r\n")
        pump_out()
        read_until(b"a OK")
        wait_until(lambda: _offloaded(ctx, mp) >= 2, 10, what="tls_offloaded")
        obj.write(b"b NOOP\r\n")
        rec = bytearray(outg.read())
        rec[-3] ^= 0x40                  # inside the tag: the AEAD check must fail
        sock.sendall(bytes(rec))
        sock.settimeout(10)
        assert sock.recv(4096) == b"", "the proxy answered a forged record"
    mp.wait_log(r"client connection failed")
    assert good.noop()[0] == "OK"        # the other session goes on
    good.logout()


@timeout(60)
def test_tls12_stays_with_openssl(ctx):
    mp, _ = _setup(ctx)
    before = _offloaded(ctx, mp)
    c12 = client_context()
    c12.maximum_version = ssl.TLSVersion.TLSv1_2
    m = imaplib.IMAP4_SSL("127.0.0.1", port_of(mp, "imap", ssl=True), ssl_context=c12,
                          timeout=15)
    assert m.sock.version() == "TLSv1.2"
    assert m.login("alice", "alicepw")[0] == "OK"
    assert m.select("INBOX")[0] == "OK"
    m.logout()
    assert _offloaded(ctx, mp) == before


@timeout(60)
def test_tls13_session_resumes_after_takeover_without_tickets(ctx):
    """The session a taken-over connection made stays in the shared cache (freeing
    OpenSSL's object must not count as a failed connection, which drops it)."""
    mp, _ = _setup(ctx, ssl_session_tickets=False, ssl_session_cache="shared:OFFLOAD:1m")
    port = port_of(mp, "imap", ssl=True)
    cctx = client_context()
    before = _offloaded(ctx, mp)
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=cctx, timeout=15)
    assert m.login("alice", "alicepw")[0] == "OK"
    wait_until(lambda: _offloaded(ctx, mp) == before + 1, 10, what="tls_offloaded")
    session = m.sock.session
    assert m.logout()[0] == "BYE"
    for _ in range(2):
        raw = socket.create_connection(("127.0.0.1", port), timeout=15)
        with cctx.wrap_socket(raw, server_hostname="localhost", session=session) as t:
            assert t.recv(100).startswith(b"* OK")
            assert t.session_reused, "the session was dropped from the cache"
            session = t.session
