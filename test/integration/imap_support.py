"""Helpers shared by test_imap*.py (not a test module: the runner only collects test_*.py).

Everything here talks to loopback only and every wait is bounded."""

import base64
import hashlib
import hmac
import imaplib
import json
import os
import re
import socket
import struct
import subprocess
import time
import uuid

from harness import LineClient, wait_until

# nginx's canned pre-login lines (reference sections 2-3).
GREETING = b"* OK IMAP4 ready\r\n"
CAPS = b"* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS"
INTERNAL_ERROR = b"* BAD internal server error\r\n"


def uniq():
    return uuid.uuid4().hex[:12]


def imap_server(**kw):
    d = {"protocol": "imap"}
    d.update(kw)
    return d


def proxy(ctx, auth, servers=None, mail=None, main=None, **server_kw):
    """A mailproxy with one IMAP server (or the given servers) asking `auth`."""
    if servers is None:
        servers = [imap_server(**server_kw)]
    return ctx.mailproxy(servers=servers, auth=auth, mail=mail, main=main)


def connect(port, source=None, timeout=10.0):
    """A LineClient that has read and checked the proxy's greeting."""
    c = LineClient(port, timeout=timeout, source=source)
    assert c.readline() == GREETING
    return c


def imap(port, timeout=15):
    return imaplib.IMAP4("127.0.0.1", port, timeout=timeout)


def tagged(c, tag, timeout=None):
    """Lines up to and including the tagged reply of `tag`; returns (untagged, final)."""
    lines = c.read_until(tag + " ", timeout)
    return lines[:-1], lines[-1]


def nothing_arrives(c, seconds):
    """True when no byte (and no EOF) arrives within `seconds`."""
    try:
        c.readline(timeout=seconds)
    except TimeoutError:
        return not c.buf
    return False            # a line, or EOF


def closed_after(c, timeout=5.0):
    """Reads whatever remains until EOF; returns the remaining bytes, or raises when the
    connection stays open."""
    rest = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = c.readline(timeout=max(0.05, deadline - time.monotonic()))
        except TimeoutError:
            break
        except (ConnectionResetError, BrokenPipeError):
            return rest
        if not line:
            return rest
        rest += line
    raise AssertionError("the proxy did not close the connection within %.0fs (got %r)"
                         % (timeout, rest))


def rst_close(sock):
    """Close with RST (SO_LINGER 0): a client that vanishes abruptly."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def status(ctx, mp):
    r = ctx.cli("-c", mp.config_path, "-s", "status")
    assert r.rc == 0, r
    return json.loads(r.stdout)


def totals(ctx, mp):
    return status(ctx, mp)["totals"]


def fd_kinds(pid):
    """{"socket": n, "pipe": n, "other": n} of a process's open descriptors."""
    kinds = {"socket": 0, "pipe": 0, "other": 0}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        k = target.split(":", 1)[0]
        kinds[k if k in ("socket", "pipe") else "other"] += 1
    return kinds


def fd_list(pid):
    out = []
    for fd in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
        try:
            out.append("%s -> %s" % (fd, os.readlink("/proc/%d/fd/%s" % (pid, fd))))
        except OSError:
            pass
    return out


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def only_worker(mp):
    """The single worker of a worker_processes: 1 proxy."""
    ws = wait_until(lambda: mp.workers() if len(mp.workers()) == 1 else None, 20,
                    what="exactly one worker")
    return ws[0]


def cram_md5_answer(user, secret, challenge_line):
    """The client's line for '+ <base64 challenge>': base64('user hexdigest')."""
    assert challenge_line.startswith(b"+ "), challenge_line
    challenge = base64.b64decode(challenge_line[2:].strip(), validate=True)
    digest = hmac.new(secret.encode(), challenge, hashlib.md5).hexdigest()
    return base64.b64encode(("%s %s" % (user, digest)).encode()), challenge


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def message(subject, body=b"hello\r\n"):
    return (b"From: tester@test.example\r\nTo: alice@test.example\r\nSubject: " +
            subject.encode() + b"\r\nMessage-ID: <" + subject.encode() +
            b"@test.example>\r\n\r\n" + body)


def big_message(subject, size):
    """A message of exactly `size` bytes (CRLF lines of pseudo-random base64, so it
    survives any line-based handling but is not trivially compressible)."""
    head = message(subject, b"")
    seed = hashlib.sha256(subject.encode()).digest()
    line_len = 76
    lines = []
    have = len(head)
    i = 0
    chunk = b""
    while have < size:
        if len(chunk) < line_len:
            chunk += base64.b64encode(hashlib.sha512(seed + i.to_bytes(8, "big")).digest() * 4)
            i += 1
        take = min(line_len, size - have - 2)
        if take <= 0:
            lines.append(b"\r\n"[: size - have])
            have = size
            break
        lines.append(chunk[:take] + b"\r\n")
        chunk = chunk[take:]
        have += take + 2
    data = head + b"".join(lines)
    assert len(data) == size, (len(data), size)
    return data


def fetch_uid_literal(m, uid, item="BODY.PEEK[]"):
    """FETCH one message by UID through imaplib; returns its literal (bytes)."""
    typ, data = m.uid("FETCH", str(uid), "(%s)" % item)
    assert typ == "OK", (typ, data)
    for part in data:
        if isinstance(part, tuple):
            return part[1]
    raise AssertionError("no literal in FETCH reply: %r" % (data[:3],))


def appenduid(data):
    """UID from an APPEND reply '[APPENDUID <validity> <uid>] ...'."""
    text = data[0].decode() if isinstance(data[0], bytes) else str(data[0])
    m = re.search(r"APPENDUID \d+ (\d+)", text)
    assert m, text
    return int(m.group(1))


def gen_cert(ctx):
    """scripts/gen-cert.sh TMP cert -> (cert.pem, cert.key) paths."""
    d = ctx.path("tls")
    subprocess.run([os.path.join(ctx.repo, "scripts", "gen-cert.sh"), d, "cert"], check=True,
                   timeout=60, capture_output=True)
    return os.path.join(d, "cert.pem"), os.path.join(d, "cert.key")
