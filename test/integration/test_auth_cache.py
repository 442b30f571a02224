"""auth_http_cache through the real binary, the example auth service and Dovecot:
a login seen lately skips the auth service (counted on the service's own log, one
line per request), a refused password is refused again with the same answer without
a request while the login limits still count it, Auth-Cache-Valid: 0 forbids
caching, entries expire after valid=, `-s reload` and `-s flush-auth-cache` empty
the zone, a password changed at the service is seen once the entry is gone, APOP
and CRAM-MD5 are never cached, and the zone holds neither login nor password."""

import glob
import hashlib
import hmac
import json
import os
import re

from harness import LineClient, wait_until

IMAP_LIMITED = b"NO [UNAVAILABLE] Temporary authentication failure\r\n"
IMAP_REFUSED = b"NO Invalid login or password\r\n"


def setup(ctx, protocol="imap", cache="shared:authc:1m valid=60s invalid=60s", au_args=(),
          users=None, **conf):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv, extra_args=list(au_args), users=users)
    srv = {"protocol": protocol, "auth_http_cache": cache}
    srv.update(conf)
    mp = ctx.mailproxy(auth=au, servers=[srv], main={"worker_processes": 2})
    return mp, mp.ports[protocol], au


def imap_login(port, user, password, tag="a1"):
    """One IMAP LOGIN on a fresh connection; the tagged reply without the tag."""
    with LineClient(port) as c:
        assert c.readline().startswith(b"* OK")
        c.cmd("%s LOGIN %s %s" % (tag, user, password))
        line = c.read_until(tag.encode() + b" ")[-1]
        return line[len(tag) + 1:]


def assert_requests(au, user, n, protocol="imap"):
    """Exactly n auth requests for user, once everything before now is logged."""
    au.assert_log_count(r'user="%s" protocol=%s ' % (re.escape(user), protocol), n,
                        after=au.sentinel())


def status(ctx, mp):
    r = ctx.cli("-s", "status", "-p", mp.prefix, "-c", mp.config_path)
    assert r.rc == 0, r.out
    return json.loads(r.stdout)["auth_http_caches"]["authc"]


def flush(ctx, mp):
    r = ctx.cli("-s", "flush-auth-cache", "-p", mp.prefix, "-c", mp.config_path)
    assert r.rc == 0, r.out
    return r


def test_second_login_same_password_skips_auth_service(ctx):
    mp, port, au = setup(ctx)
    assert imap_login(port, "alice", "alicepw").startswith(b"OK")
    assert imap_login(port, "alice", "alicepw").startswith(b"OK")
    assert_requests(au, "alice", 1)
    st = status(ctx, mp)
    assert st["hits"] == 1 and st["misses"] == 1 and st["entries"] == 1, st
    assert st["stores"] == 1 and st["evictions"] == 0, st
    # both sessions reached Dovecot: the cached answer routes like the fresh one
    mp.wait_log(r"client logged in", count=2)


def test_off_by_default_every_login_asks(ctx):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    mp = ctx.mailproxy(auth=au, servers=[{"protocol": "imap"}])
    for _ in range(2):
        assert imap_login(mp.ports["imap"], "alice", "alicepw").startswith(b"OK")
    assert_requests(au, "alice", 2)


def test_other_password_is_another_key(ctx):
    mp, port, au = setup(ctx)
    assert imap_login(port, "alice", "alicepw").startswith(b"OK")
    assert imap_login(port, "alice", "wrong") == IMAP_REFUSED
    assert imap_login(port, "bob", "bobpw").startswith(b"OK")
    assert_requests(au, "alice", 2)
    assert_requests(au, "bob", 1)


def test_wrong_password_cached_same_answer_and_limits_still_count(ctx):
    mp, port, au = setup(ctx, login_limit_zone="shared:logins:1m",
                         login_limit_user="1/m burst=2 block=10m",
                         login_limit_tarpit="100ms")
    assert imap_login(port, "alice", "wrong") == IMAP_REFUSED
    assert imap_login(port, "alice", "wrong") == IMAP_REFUSED
    # the third failure, answered from the cache, still counts and blocks the login
    assert imap_login(port, "alice", "wrong") == IMAP_REFUSED
    mp.wait_log(r'login limit: login over the limit with \d+ failures.*login: "alice"')
    assert imap_login(port, "alice", "alicepw") == IMAP_LIMITED
    assert_requests(au, "alice", 1)
    st = status(ctx, mp)
    assert st["hits"] == 2, st


def test_auth_cache_valid_zero_not_cached(ctx):
    mp, port, au = setup(ctx, au_args=["--cache-valid", "0"])
    assert imap_login(port, "alice", "alicepw").startswith(b"OK")
    assert imap_login(port, "alice", "alicepw").startswith(b"OK")
    assert imap_login(port, "alice", "wrong") == IMAP_REFUSED
    assert imap_login(port, "alice", "wrong") == IMAP_REFUSED
    assert_requests(au, "alice", 4)
    st = status(ctx, mp)
    assert st["entries"] == 0 and st["stores"] == 0 and st["hits"] == 0, st


def test_auth_cache_valid_longer_than_valid_does_not_lengthen(ctx):
    # valid=1s; the service says 3600: the entry still goes after about a second
    mp, port, au = setup(ctx, cache="shared:authc:1m valid=1s", au_args=["--cache-valid", "3600"])
    assert imap_login(port, "alice", "alicepw").startswith(b"OK")
    au.wait_request(user="alice", result="OK")

    def asked_again():
        assert imap_login(port, "alice", "alicepw").startswith(b"OK")
        return len(re.findall(r'user="alice" protocol=imap ', au.log())) >= 2

    wait_until(asked_again, 20, what="a second auth request once the entry expired")


def test_entry_expires_after_valid(ctx):
    mp, port, au = setup(ctx, cache="shared:authc:1m valid=1s")
    assert imap_login(port, "alice", "alicepw").startswith(b"OK")
    au.wait_request(user="alice", result="OK")

    def asked_again():
        assert imap_login(port, "alice", "alicepw").startswith(b"OK")
        return len(re.findall(r'user="alice" protocol=imap ', au.log())) >= 2

    wait_until(asked_again, 20, what="a second auth request once the entry expired")
    assert status(ctx, mp)["expired"] >= 1


def test_reload_empties_the_cache(ctx):
    mp, port, au = setup(ctx)
    assert imap_login(port, "alice", "alicepw").startswith(b"OK")
    assert status(ctx, mp)["entries"] == 1
    gen = json.loads(ctx.cli("-s", "status", "-p", mp.prefix, "-c", mp.config_path).stdout)["generation"]
    mp.reload()
    wait_until(lambda: json.loads(ctx.cli("-s", "status", "-p", mp.prefix, "-c",
                                          mp.config_path).stdout)["generation"] > gen,
               20, what="the reload")
    st = status(ctx, mp)
    assert st["entries"] == 0 and st["flushes"] >= 1, st
    assert imap_login(port, "alice", "alicepw").startswith(b"OK")
    assert_requests(au, "alice", 2)


def test_flush_auth_cache_command_empties_it(ctx):
    mp, port, au = setup(ctx)
    assert imap_login(port, "alice", "alicepw").startswith(b"OK")
    assert imap_login(port, "alice", "wrong") == IMAP_REFUSED
    assert status(ctx, mp)["entries"] == 2
    flush(ctx, mp)
    st = status(ctx, mp)
    assert st["entries"] == 0 and st["flushes"] >= 1, st
    assert imap_login(port, "alice", "alicepw").startswith(b"OK")
    assert imap_login(port, "alice", "wrong") == IMAP_REFUSED
    assert_requests(au, "alice", 4)


def test_flush_without_cache_configured_fails(ctx):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    mp = ctx.mailproxy(auth=au, servers=[{"protocol": "imap"}])
    r = ctx.cli("-s", "flush-auth-cache", "-p", mp.prefix, "-c", mp.config_path)
    assert r.rc == 1
    assert "no auth_http_cache is configured" in r.stderr


def test_changed_password_stale_until_entry_goes(ctx):
    mp, port, au = setup(ctx)
    assert imap_login(port, "alice", "alicepw").startswith(b"OK")
    au.add_user("alice", "newpw")
    # the documented trade-off: the old password works while its entry lives
    # (valid=60s here) ...
    assert imap_login(port, "alice", "alicepw").startswith(b"OK")
    assert_requests(au, "alice", 1)
    # ... and is refused once the entry is gone (expired, flushed or reloaded)
    flush(ctx, mp)
    assert imap_login(port, "alice", "alicepw") == IMAP_REFUSED
    assert_requests(au, "alice", 2)


def test_pop3_user_pass_cached(ctx):
    mp, port, au = setup(ctx, protocol="pop3")
    for _ in range(2):
        with LineClient(port) as c:
            assert c.readline().startswith(b"+OK")
            c.cmd("USER alice")
            assert c.readline().startswith(b"+OK")
            c.cmd("PASS alicepw")
            assert c.readline().startswith(b"+OK")
            c.cmd("QUIT")
    assert_requests(au, "alice", 1, protocol="pop3")


def test_cram_md5_never_cached(ctx):
    mp, port, au = setup(ctx, imap_auth=["plain", "cram-md5"])
    import base64
    for _ in range(2):
        with LineClient(port) as c:
            assert c.readline().startswith(b"* OK")
            c.cmd("a1 AUTHENTICATE CRAM-MD5")
            line = c.readline()
            assert line.startswith(b"+ "), line
            chal = base64.b64decode(line[2:].strip())
            digest = hmac.new(b"alicepw", chal, hashlib.md5).hexdigest()
            c.cmd(base64.b64encode(b"alice " + digest.encode()).decode())
            assert c.read_until(b"a1 ")[-1].startswith(b"a1 OK")
    assert_requests(au, "alice", 2)
    st = status(ctx, mp)
    assert st["entries"] == 0 and st["misses"] == 0, st


def test_zone_holds_neither_login_nor_password(ctx):
    users = {"alice": {"password": "alicepw-Zq81x", "passwd": "backendpw-Kw77"},
             "carol-login-Yy3": "carolpw-Hh52"}
    mp, port, au = setup(ctx, users=users)
    # the service says OK to both; Dovecot knows neither, which does not matter here
    for user, pw in (("alice", "alicepw-Zq81x"), ("carol-login-Yy3", "carolpw-Hh52")):
        with LineClient(port) as c:
            assert c.readline().startswith(b"* OK")
            c.cmd("a1 LOGIN %s %s" % (user, pw))
            assert c.readline()
        au.wait_request(user=user, result="OK")
    assert imap_login(port, "carol-login-Yy3", "wrongpw-Jj09") == IMAP_REFUSED
    assert status(ctx, mp)["entries"] == 3
    zone = None
    for fd in glob.glob("/proc/%d/fd/*" % mp.pid):
        try:
            if os.readlink(fd).startswith("/memfd:mailproxy:authc"):
                with open(fd, "rb") as f:
                    zone = f.read()
        except OSError:
            pass
    assert zone is not None
    for secret in (b"alicepw-Zq81x", b"carolpw-Hh52", b"wrongpw-Jj09", b"carol-login-Yy3"):
        assert secret not in zone, secret
    # Auth-Pass is a backend password: stored, as the README says
    assert b"backendpw-Kw77" in zone


def test_cached_auth_pass_logs_in_to_the_backend(ctx):
    # the client's password is not Dovecot's: the service answers with Auth-Pass,
    # and the cached answer must carry it to the backend login
    users = {"alice": {"password": "front-pw", "passwd": "alicepw"}}
    mp, port, au = setup(ctx, users=users)
    assert imap_login(port, "alice", "front-pw").startswith(b"OK")
    assert imap_login(port, "alice", "front-pw").startswith(b"OK")
    assert_requests(au, "alice", 1)
    assert status(ctx, mp)["hits"] == 1


def test_smtp_auth_plain_cached_with_error_code(ctx):
    import smtplib
    pf = ctx.postfix()
    au = ctx.auth_service(postfix=pf)
    mp = ctx.mailproxy(auth=au, servers=[{"protocol": "smtp",
                                          "auth_http_cache": "shared:authc:1m"}])
    for _ in range(2):
        s = smtplib.SMTP("127.0.0.1", mp.ports["smtp"], timeout=15)
        s.ehlo("client.example")
        assert s.login("alice", "alicepw") == (235, b"2.0.0 OK")
        s.quit()
    # a wrong password: refused with the service's code both times, asked once
    for _ in range(2):
        s = smtplib.SMTP("127.0.0.1", mp.ports["smtp"], timeout=15)
        s.ehlo("client.example")
        s.user, s.password = "alice", "wrong"
        try:
            s.auth("PLAIN", s.auth_plain)
            raise AssertionError("wrong password accepted")
        except smtplib.SMTPAuthenticationError as e:
            assert (e.smtp_code, e.smtp_error) == (535, b"5.7.8 Invalid login or password"), e
        s.close()
    assert_requests(au, "alice", 2, protocol="smtp")
    assert status(ctx, mp)["hits"] == 2
