"""Helpers shared by test_pop3.py and test_pop3_faults.py (not a test module: the
runner only collects test_*.py): the proxy set-up against the shared Dovecot, fresh
users with empty mailboxes, raw-socket and poplib clients, nginx's POP3 replies."""

import base64
import poplib
import uuid

from harness import LineClient

GREETING = b"+OK POP3 ready"
INVALID = b"-ERR invalid command\r\n"
INTERNAL = b"-ERR internal server error\r\n"
CAPA_HEAD = b"+OK Capability list follows\r\n"


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def uniq():
    return uuid.uuid4().hex[:10]


def pop3_server(**kw):
    d = {"protocol": "pop3"}
    d.update(kw)
    return d


def setup(ctx, users=None, auth_kw=None, mail=None, main=None, **srv):
    """Shared Dovecot, the example auth service routing to it, a proxy with one POP3
    server; returns (dovecot, auth, proxy, port)."""
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv, users=users, **(auth_kw or {}))
    mp = ctx.mailproxy(servers=[pop3_server(**srv)], auth=au, mail=mail, main=main)
    return dv, au, mp, mp.ports["pop3"]


def fresh_user(dv, prefix="pop"):
    """A new Dovecot user with an empty mailbox (Dovecot.fresh_user)."""
    return dv.fresh_user(prefix)


def connect(port, timeout=10.0):
    """A LineClient that has read the greeting; returns (client, greeting line)."""
    c = LineClient(port, timeout=timeout)
    g = c.readline()
    assert g.startswith(GREETING), g
    return c, g


def multiline(c, timeout=None):
    """A multi-line POP3 answer up to and including '.'."""
    return b"".join(c.read_until(b".\r\n", timeout))


def closed_after(c, timeout=5.0):
    """The server closes: returns whatever it still sent first (expected b"")."""
    assert c.closed(timeout), "connection still open; buffered %r" % c.buf
    return c.buf


def message(subject, body_lines=3):
    return ("From: tester@example.org\r\nTo: someone@test.example\r\nSubject: %s\r\n\r\n"
            % subject + "".join("line %d of %s\r\n" % (i, subject)
                                for i in range(body_lines))).encode()


def pop(port, timeout=15):
    return poplib.POP3("127.0.0.1", port, timeout=timeout)
