"""max_commands (freenginx 1.25.5) through the real binary, one test per protocol.

With `max_commands: 5` the fifth command before login is still served; the sixth
gets the protocol's invalid-command reply (as freenginx answers it, and as
max_errors closes), the connection closes and the log says "client sent too many
commands". The count is per connection until login: a failed login, a SASL answer
line, STARTTLS and the handshake do not reset it, and pipelined commands count
one by one, also those that waited in the buffer while the auth service decided.
The auth service here always refuses with Auth-Wait: 1, so the client may go on
(without a wait, or with Auth-Wait: 0, the proxy answers and closes, as nginx)."""

import base64

from harness import LineClient, make_cert, wait_until

TOO_MANY = "client sent too many commands"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def refuse(req):
    return [("Auth-Status", "Invalid login or password"), ("Auth-Wait", "1")]


def setup(ctx, protocol):
    cert, key = make_cert(ctx.tmp)
    au = ctx.fake_auth(respond=refuse)
    mp = ctx.mailproxy(auth=au, servers=[{
        "protocol": protocol, "max_commands": 5, "starttls": "on",
        "ssl_certificate": cert, "ssl_certificate_key": key}])
    return mp, mp.ports[protocol], au


def ask(c, line, reply):
    c.cmd(line)
    got = c.readline()
    assert got == reply, "%r: expected %r, got %r" % (line, reply, got)


def refused_then_closed(c, reply):
    """The refusal, then EOF with nothing after it (a pipelined 7th stays unanswered)."""
    got = c.readline()
    assert got == reply, "expected %r, got %r" % (reply, got)
    assert c.closed(5.0), "still open after the command past max_commands"
    assert c.buf == b"", "answered something after the refusal: %r" % c.buf


def wait_log_count(mp, n):
    wait_until(lambda: mp.log().count(TOO_MANY) >= n, 10, what="%d x %r in the log" % (n, TOO_MANY))


def test_max_commands_imap(ctx):
    mp, port, au = setup(ctx, "imap")
    with LineClient(port) as c:
        assert c.readline() == b"* OK IMAP4 ready\r\n"
        ask(c, "a1 NOOP", b"a1 OK completed\r\n")
        ask(c, "a2 LOGIN bob wrong", b"a2 NO Invalid login or password\r\n")
        ask(c, "a3 STARTTLS", b"a3 OK completed\r\n")
        c.starttls()
        ask(c, "a4 NOOP", b"a4 OK completed\r\n")
        ask(c, "a5 NOOP", b"a5 OK completed\r\n")
        c.cmd("a6 NOOP")
        refused_then_closed(c, b"a6 BAD invalid command\r\n")
    mp.wait_log(TOO_MANY)
    # One write: LOGIN goes to the auth service, the NOOPs behind it wait, then count.
    with LineClient(port) as c:
        assert c.readline() == b"* OK IMAP4 ready\r\n"
        c.send(b"b1 LOGIN bob wrong\r\n" + b"".join(b"b%d NOOP\r\n" % i for i in range(2, 8)))
        assert c.readline() == b"b1 NO Invalid login or password\r\n"
        for i in range(2, 6):
            assert c.readline() == b"b%d OK completed\r\n" % i
        refused_then_closed(c, b"b6 BAD invalid command\r\n")
    wait_log_count(mp, 2)
    assert len(au.wait_requests(2)) == 2


def test_max_commands_pop3(ctx):
    mp, port, au = setup(ctx, "pop3")
    with LineClient(port) as c:
        assert c.readline() == b"+OK POP3 ready\r\n"
        ask(c, "USER bob", b"+OK\r\n")
        ask(c, "PASS wrong", b"-ERR Invalid login or password\r\n")
        ask(c, "AUTH PLAIN", b"+ \r\n")
        ask(c, b64("\0bob\0wrong"), b"-ERR Invalid login or password\r\n")
        ask(c, "STLS", b"+OK\r\n")
        c.starttls()
        c.cmd("NOOP")
        refused_then_closed(c, b"-ERR invalid command\r\n")
    mp.wait_log(TOO_MANY)
    with LineClient(port) as c:
        assert c.readline() == b"+OK POP3 ready\r\n"
        c.send(b"NOOP\r\n" * 7)
        for _ in range(5):
            assert c.readline() == b"+OK\r\n"
        refused_then_closed(c, b"-ERR invalid command\r\n")
    wait_log_count(mp, 2)


def test_max_commands_smtp(ctx):
    mp, port, au = setup(ctx, "smtp")
    with LineClient(port) as c:
        assert c.readline().startswith(b"220 ")
        c.cmd("EHLO client.test")
        c.read_until(b"250 ")
        ask(c, "STARTTLS", b"220 2.0.0 Start TLS\r\n")
        c.starttls()
        c.cmd("EHLO client.test")
        assert b"250 AUTH PLAIN LOGIN\r\n" in c.read_until(b"250 ")
        ask(c, "AUTH PLAIN", b"334 \r\n")
        ask(c, b64("\0bob\0wrong"), b"535 5.7.0 Invalid login or password\r\n")
        c.cmd("NOOP")
        refused_then_closed(c, b"500 5.5.1 Invalid command\r\n")
    mp.wait_log(TOO_MANY)
    with LineClient(port) as c:
        assert c.readline().startswith(b"220 ")
        c.send(b"NOOP\r\n" * 7)
        for _ in range(5):
            assert c.readline() == b"250 2.0.0 OK\r\n"
        refused_then_closed(c, b"500 5.5.1 Invalid command\r\n")
    wait_log_count(mp, 2)
