"""Failed-login limits (login_limit_*) through the real binary, the example auth
service and Dovecot: a blocked address, login or pair gets no auth request, then
the protocol's temporary failure (IMAP NO [UNAVAILABLE], POP3 -ERR [SYS/TEMP] with
RESP-CODES in CAPA, SMTP 454 4.7.0); an honest user who logged in from an address
keeps logging in from it while others' guesses block it; the allow-list is never
limited; dry run blocks nothing and says what it would block; counters live in the
shared zone, so every worker sees them and they survive a reload.

Clients bind to distinct 127.0.0.x addresses to be distinct client addresses. Every
rule here is "1/m burst=2 block=10m": the third quick failure of a key blocks it."""

import base64
import os
import signal

from harness import LineClient, free_port, wait_pid_gone

RULE = "1/m burst=2 block=10m"
IMAP_LIMITED = b"NO [UNAVAILABLE] Temporary authentication failure\r\n"
POP3_LIMITED = b"-ERR [SYS/TEMP] Temporary authentication failure\r\n"
SMTP_LIMITED = b"454 4.7.0 Temporary authentication failure\r\n"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def setup(ctx, protocol="imap", workers=1, **limits):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    conf = {"protocol": protocol, "login_limit_zone": "shared:logins:1m",
            "login_limit_tarpit": "100ms"}
    conf.update(limits)
    mp = ctx.mailproxy(auth=au, servers=[conf], main={"worker_processes": workers})
    return mp, mp.ports[protocol], au


def imap_login(port, user, password, source="127.0.0.1", tag="a1"):
    """One IMAP login on a fresh connection; the tagged reply without the tag."""
    with LineClient(port, source=(source, 0)) as c:
        assert c.readline().startswith(b"* OK")
        c.cmd("%s LOGIN %s %s" % (tag, user, password))
        line = c.read_until(tag.encode() + b" ")[-1]
        return line[len(tag) + 1:]


def fail_times(port, user, n, source):
    for _ in range(n):
        assert imap_login(port, user, "wrong", source) == b"NO Invalid login or password\r\n"


def assert_requests(au, user, n):
    """Exactly n auth requests for user, once everything before now is logged."""
    au.assert_log_count(r'user="%s" protocol' % user, n, after=au.sentinel())


# ---------------------------------------------------------------- per address

def test_address_blocked_imap_no_auth_request_then_unavailable(ctx):
    mp, port, au = setup(ctx, login_limit_addr=RULE)
    fail_times(port, "alice", 3, "127.0.0.11")
    mp.wait_log(r"login limit: address 127\.0\.0\.11 over the limit with \d+ failures")
    # the right password too: the address is blocked, the auth service is not asked
    assert imap_login(port, "alice", "alicepw", "127.0.0.11") == IMAP_LIMITED
    assert imap_login(port, "bob", "bobpw", "127.0.0.11") == IMAP_LIMITED
    assert_requests(au, "alice", 3)
    assert_requests(au, "bob", 0)
    mp.wait_log(r"login limit: address 127\.0\.0\.11 blocked for \d+ s more")
    # logged once per key and block, not per attempt
    mp.assert_log_count(r"address 127\.0\.0\.11 blocked for", 1, after=r"over the limit")
    # another address is not affected
    assert imap_login(port, "alice", "alicepw", "127.0.0.12").startswith(b"OK")


def test_address_blocked_pop3_sys_temp_and_resp_codes(ctx):
    mp, port, au = setup(ctx, "pop3", login_limit_addr=RULE)
    for _ in range(3):
        # the auth service sends no Auth-Wait: each refusal closes, as nginx
        with LineClient(port, source=("127.0.0.21", 0)) as c:
            assert c.readline().startswith(b"+OK")
            c.cmd("USER alice")
            assert c.readline() == b"+OK\r\n"
            c.cmd("PASS wrong")
            assert c.readline() == b"-ERR Invalid login or password\r\n"
            assert c.closed()
    with LineClient(port, source=("127.0.0.21", 0)) as c:
        assert c.readline().startswith(b"+OK")
        c.cmd("CAPA")
        capa = c.read_until(b".")
        assert b"RESP-CODES\r\n" in capa, capa
        c.cmd("USER alice")
        assert c.readline() == b"+OK\r\n"
        c.cmd("PASS alicepw")
        assert c.readline() == POP3_LIMITED
        # still open: the client may try again later on the same connection
        c.cmd("NOOP")
        assert c.readline() == b"+OK\r\n"
    assert_requests(au, "alice", 3)


def test_address_blocked_smtp_454(ctx):
    dv = ctx.dovecot()
    pf = ctx.postfix()
    au = ctx.auth_service(dovecot=dv, postfix=pf)
    mp = ctx.mailproxy(auth=au, servers=[{
        "protocol": "smtp", "smtp_auth": ["plain", "login"], "xclient": "off",
        "login_limit_zone": "shared:logins:1m", "login_limit_tarpit": "0s",
        "login_limit_addr": RULE}])
    port = mp.ports["smtp"]
    def ehlo(c):
        assert c.readline().startswith(b"220 ")
        c.cmd("EHLO client.test")
        c.read_until(b"250 ")

    for _ in range(3):
        with LineClient(port, source=("127.0.0.31", 0)) as c:
            ehlo(c)
            c.cmd("AUTH PLAIN " + b64("\0alice\0wrong"))
            assert c.readline().startswith(b"535 "), "a refusal before the block"
    with LineClient(port, source=("127.0.0.31", 0)) as c:
        ehlo(c)
        c.cmd("AUTH PLAIN " + b64("\0alice\0alicepw"))
        assert c.readline() == SMTP_LIMITED
        # still open: the client may try again later on the same connection
        c.cmd("NOOP")
        assert c.readline().startswith(b"250 ")
    assert_requests(au, "alice", 3)


# ---------------------------------------------------------------- per login, per pair

def test_login_blocked_from_any_address(ctx):
    """An account under attack from many addresses: its login is blocked everywhere,
    except from an address it logged in from before."""
    mp, port, au = setup(ctx, login_limit_user=RULE)
    assert imap_login(port, "alice", "alicepw", "127.0.0.40").startswith(b"OK")
    for i in range(3):
        assert imap_login(port, "ALICE", "wrong", "127.0.0.%d" % (41 + i)) == \
            b"NO Invalid login or password\r\n"
    mp.wait_log(r"login limit: login over the limit")
    assert imap_login(port, "alice", "alicepw", "127.0.0.49") == IMAP_LIMITED
    # the real user, from where she logged in before, is not locked out
    assert imap_login(port, "alice", "alicepw", "127.0.0.40").startswith(b"OK")
    # another login is not limited
    assert imap_login(port, "bob", "bobpw", "127.0.0.49").startswith(b"OK")


def test_pair_blocked_other_login_from_same_address_goes_on(ctx):
    mp, port, au = setup(ctx, login_limit_pair=RULE)
    fail_times(port, "alice", 3, "127.0.0.51")
    assert imap_login(port, "alice", "alicepw", "127.0.0.51") == IMAP_LIMITED
    assert imap_login(port, "bob", "bobpw", "127.0.0.51").startswith(b"OK")
    assert imap_login(port, "alice", "alicepw", "127.0.0.52").startswith(b"OK")


def test_success_clears_the_pair(ctx):
    mp, port, au = setup(ctx, login_limit_pair=RULE)
    for _ in range(3):
        fail_times(port, "alice", 2, "127.0.0.55")
        assert imap_login(port, "alice", "alicepw", "127.0.0.55").startswith(b"OK")
    assert_requests(au, "alice", 9)


def pop3_login(port, user, password, source):
    with LineClient(port, source=(source, 0)) as c:
        assert c.readline().startswith(b"+OK")
        c.cmd("USER %s" % user)
        assert c.readline() == b"+OK\r\n"
        c.cmd("PASS %s" % password)
        return c.readline()


def smtp_login(port, user, password, source):
    with LineClient(port, source=(source, 0)) as c:
        assert c.readline().startswith(b"220 ")
        c.cmd("EHLO client.test")
        c.read_until(b"250 ")
        c.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (user, password)))
        return c.readline()


def test_login_and_pair_blocked_pop3_and_smtp(ctx):
    """The login's and the pair's blocks answer with each protocol's code too."""
    dv = ctx.dovecot()
    pf = ctx.postfix()
    au = ctx.auth_service(dovecot=dv, postfix=pf)
    limits = {"login_limit_tarpit": "0s", "login_limit_user": RULE, "login_limit_pair": RULE}
    # a zone each: in one zone a login is one login whatever the protocol
    mp = ctx.mailproxy(auth=au, servers=[
        dict(protocol="pop3", login_limit_zone="shared:pop3:1m", **limits),
        dict(protocol="smtp", smtp_auth=["plain", "login"], xclient="off",
             login_limit_zone="shared:smtp:1m", **limits)])
    for proto, login, limited, refused in (
            ("pop3", pop3_login, POP3_LIMITED, b"-ERR Invalid login or password\r\n"),
            ("smtp", smtp_login, SMTP_LIMITED, b"535 5.7.8 Invalid login or password\r\n")):
        port = mp.ports[proto]
        base = 110 if proto == "pop3" else 120
        # the pair: three guesses at alice from one address block alice there only
        for _ in range(3):
            got = login(port, "alice", "wrong", "127.0.1.%d" % base)
            assert got == refused, (proto, got)
        assert login(port, "alice", "alicepw", "127.0.1.%d" % base) == limited
        assert login(port, "bob", "bobpw", "127.0.1.%d" % base) != limited
        # the login: bob guessed at from three more addresses is blocked everywhere new
        for i in range(3):
            assert login(port, "bob", "wrong", "127.0.1.%d" % (base + 1 + i)) == refused
        assert login(port, "bob", "bobpw", "127.0.1.%d" % (base + 9)) == limited, proto
        # but not where bob logged in before
        assert login(port, "bob", "bobpw", "127.0.1.%d" % base) != limited


# ---------------------------------------------------------------- the honest user next door

def test_honest_user_on_attackers_address_keeps_logging_in(ctx):
    mp, port, au = setup(ctx, login_limit_addr=RULE, login_limit_pair=RULE)
    nat = "127.0.0.61"
    assert imap_login(port, "alice", "alicepw", nat).startswith(b"OK")
    for user in ("bob", "carol", "dave", "erin"):
        imap_login(port, user, "guess", nat)
    mp.wait_log(r"login limit: address 127\.0\.0\.61 over the limit")
    assert imap_login(port, "bob", "bobpw", nat) == IMAP_LIMITED
    for _ in range(3):
        assert imap_login(port, "alice", "alicepw", nat).startswith(b"OK")


# ---------------------------------------------------------------- allow-list, dry run

def test_allow_list_is_never_limited(ctx):
    mp, port, au = setup(ctx, login_limit_addr=RULE, login_limit_user=RULE,
                         login_limit_allow=["127.0.0.64/30"])
    fail_times(port, "bob", 6, "127.0.0.65")
    assert imap_login(port, "bob", "bobpw", "127.0.0.65").startswith(b"OK")
    assert_requests(au, "bob", 7)
    mp.assert_not_logged(r"login limit", after=r"client login failed")


def test_dry_run_logs_but_blocks_nothing(ctx):
    mp, port, au = setup(ctx, login_limit_addr=RULE, login_limit_dry_run="on")
    fail_times(port, "alice", 4, "127.0.0.71")
    mp.wait_log(r"login limit: address 127\.0\.0\.71 over the limit with \d+ failures "
                r"\(dry run: not blocked\)")
    assert imap_login(port, "alice", "alicepw", "127.0.0.71").startswith(b"OK")
    mp.wait_log(r"address 127\.0\.0\.71 blocked for \d+ s more \(dry run: let through\)")
    assert_requests(au, "alice", 5)


# ---------------------------------------------------------------- guesses without a request

def test_bad_sasl_counts_as_a_guess(ctx):
    mp, port, au = setup(ctx, login_limit_addr=RULE)
    with LineClient(port, source=("127.0.0.81", 0)) as c:
        assert c.readline().startswith(b"* OK")
        for i in range(3):
            c.cmd("b%d AUTHENTICATE PLAIN" % i)
            assert c.readline() == b"+ \r\n"
            c.cmd("!!!not-base64!!!")
            assert c.read_until(b"b%d " % i)[-1].startswith(b"b%d BAD" % i)
    assert imap_login(port, "alice", "alicepw", "127.0.0.81") == IMAP_LIMITED
    assert_requests(au, "alice", 0)


# ---------------------------------------------------------------- shared state

def test_counters_shared_by_workers_and_kept_across_reload(ctx):
    mp, port, au = setup(ctx, workers=2, login_limit_addr=RULE)
    fail_times(port, "alice", 3, "127.0.0.91")
    # many connections: whichever worker takes each, the block holds
    for _ in range(6):
        assert imap_login(port, "alice", "alicepw", "127.0.0.91") == IMAP_LIMITED
    mp.reload()
    mp.wait_log(r"configuration generation 1 is running")
    for _ in range(4):
        assert imap_login(port, "alice", "alicepw", "127.0.0.91") == IMAP_LIMITED
    assert_requests(au, "alice", 3)
    status = ctx.cli("-c", mp.config_path, "-s", "status")
    assert '"login_limit_zones"' in status.out and '"logins"' in status.out, status


# ---------------------------------------------------------------- sessions after login

def open_session(port, user, password, source):
    """A logged-in IMAP session kept open (relayed); None when the login was refused."""
    c = LineClient(port, source=(source, 0))
    assert c.readline().startswith(b"* OK")
    c.cmd("s1 LOGIN %s %s" % (user, password))
    line = c.read_until(b"s1 ")[-1]
    if line.startswith(b"s1 OK"):
        return c
    assert line == b"s1 " + IMAP_LIMITED, line
    c.close()
    return None


def reopen(port, user, password, source):
    """A session once an ended one has given its place back (the worker sees the
    close a moment after the client); bounded in attempts."""
    for _ in range(50):
        c = open_session(port, user, password, source)
        if c is not None:
            return c
    raise AssertionError("the place of the ended session never came back")


def test_concurrent_sessions_per_login_and_per_login_and_address(ctx):
    mp, port, au = setup(ctx, workers=2, limit_sessions_user=3, limit_sessions_user_addr=2)
    a = [open_session(port, "alice", "alicepw", "127.0.0.101") for _ in range(2)]
    assert all(a)
    # a third from the same address: the per-address cap
    assert open_session(port, "alice", "alicepw", "127.0.0.101") is None
    mp.wait_log(r"login limit: 2 sessions of this login from 127\.0\.0\.101 are open")
    # from elsewhere: the login's cap (3) lets one more in, then refuses
    b = open_session(port, "alice", "alicepw", "127.0.0.102")
    assert b is not None
    assert open_session(port, "alice", "alicepw", "127.0.0.103") is None
    mp.wait_log(r"login limit: 3 sessions of this login are open")
    # another login is not affected
    other = open_session(port, "bob", "bobpw", "127.0.0.101")
    assert other is not None
    # a session that ends gives its place back
    a[0].cmd("s2 LOGOUT")
    a[0].read_until(b"s2 ")
    a[0].close()
    mp.wait_log(r"client closed connection|upstream closed", count=1)
    c = reopen(port, "alice", "alicepw", "127.0.0.101")
    for x in [a[1], b, other, c]:
        x.close()


def test_session_caps_count_the_mailbox_not_the_alias(ctx):
    """Two logins the auth service maps to one mailbox (Auth-User) share its cap."""
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv, users={
        "alice": "alicepw", "Alias": {"password": "aliaspw", "login": "alice", "passwd": "alicepw"}})
    mp = ctx.mailproxy(auth=au, main={"worker_processes": 1}, servers=[{
        "protocol": "imap", "login_limit_zone": "shared:logins:1m", "limit_sessions_user": 1}])
    port = mp.ports["imap"]
    first = open_session(port, "alice", "alicepw", "127.0.0.104")
    assert first is not None
    assert open_session(port, "Alias", "aliaspw", "127.0.0.105") is None
    mp.wait_log(r'login limit: 1 sessions of this login are open.*login: "Alias"')
    first.close()
    second = reopen(port, "Alias", "aliaspw", "127.0.0.105")
    assert open_session(port, "alice", "alicepw", "127.0.0.104") is None
    second.close()


def test_counters_survive_binary_upgrade(ctx):
    """USR2, WINCH and QUIT of the old master: the zone passes to the new binary with
    its counters, so a blocked address stays blocked."""
    mp, port, au = setup(ctx, login_limit_addr=RULE)
    fail_times(port, "alice", 3, "127.0.0.95")
    assert imap_login(port, "alice", "alicepw", "127.0.0.95") == IMAP_LIMITED
    new_master, _ = mp.upgrade(ctx, workers=1)
    assert imap_login(port, "alice", "alicepw", "127.0.0.95") == IMAP_LIMITED
    assert imap_login(port, "alice", "alicepw", "127.0.0.96").startswith(b"OK")
    assert_requests(au, "alice", 4)
    os.kill(new_master, signal.SIGQUIT)
    assert wait_pid_gone(new_master, 15), "the new master did not stop"


# ---------------------------------------------------------------- IPv6 networks

def proxied_login(port, addr, user, password):
    """An IMAP login from addr, as a PROXY v1 header says (the connection itself is
    on loopback); the tagged reply without the tag."""
    with LineClient(port) as c:
        c.send(b"PROXY TCP6 %s ::1 40000 143\r\n" % addr.encode())
        assert c.readline().startswith(b"* OK")
        c.cmd("a1 LOGIN %s %s" % (user, password))
        return c.read_until(b"a1 ")[-1][3:]


def test_ipv6_clients_counted_per_network_prefix(ctx):
    """An IPv6 host has a /64 to pick addresses from: failures from three addresses of
    one /64 block the whole network, not the next one; login_limit_ipv6_prefix: 128
    counts every address apart."""
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)

    def server(**kw):
        conf = {"protocol": "imap", "login_limit_zone": "shared:logins:1m",
                "login_limit_tarpit": "0s", "login_limit_addr": RULE,
                "listen": "127.0.0.1:%d proxy_protocol" % free_port(),
                "set_real_ip_from": "127.0.0.1"}
        conf.update(kw)
        mp = ctx.mailproxy(auth=au, servers=[conf], main={"worker_processes": 1})
        return mp, mp.ports["imap"]

    mp, port = server()
    for addr in ("2001:db8:1:2::10", "2001:db8:1:2::11", "2001:db8:1:2:2::12"):
        assert proxied_login(port, addr, "alice", "wrong") == b"NO Invalid login or password\r\n"
    mp.wait_log(r"login limit: address 2001:db8:1:2::/64 over the limit with 3 failures")
    assert proxied_login(port, "2001:db8:1:2:ffff::1", "alice", "alicepw") == IMAP_LIMITED
    assert proxied_login(port, "2001:db8:1:3::10", "alice", "alicepw").startswith(b"OK")
    assert_requests(au, "alice", 4)

    mp, port = server(login_limit_ipv6_prefix=128)
    for addr in ("2001:db8:1:2::20", "2001:db8:1:2::21", "2001:db8:1:2::22"):
        assert proxied_login(port, addr, "bob", "wrong") == b"NO Invalid login or password\r\n"
    # three addresses, one failure each: none is over
    assert proxied_login(port, "2001:db8:1:2::23", "bob", "bobpw").startswith(b"OK")
    for _ in range(2):
        assert proxied_login(port, "2001:db8:1:2::20", "bob", "wrong") == \
            b"NO Invalid login or password\r\n"
    mp.wait_log(r"login limit: address 2001:db8:1:2::20/128 over the limit with 3 failures")
    assert proxied_login(port, "2001:db8:1:2::20", "bob", "bobpw") == IMAP_LIMITED
