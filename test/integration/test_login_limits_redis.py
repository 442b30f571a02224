"""login_limit_store: failed-login counters shared by several mailproxy nodes through
a real Redis started by the harness on loopback.

Two instances ("nodes" A and B) share one Redis and one auth service: a client
address, login or pair that failed on A is blocked on B, which then sends no auth
request. Redis killed: logins go on without a client error, decided by each node's
own zone (fallback, logged once, counted in -s status); Redis back: shared again.
A frozen Redis (alive, answering nothing) costs its logins the store's timeout and
nothing else. A peer that answers garbage, half a reply or closes costs only the
fallback. AUTH with a password or an ACL user, a database number and a key prefix.

Each node logs "over the limit ... on all nodes" once Redis has counted the failure
that started a block; tests wait for that line before they try the other node.
Every rule here is "1/m burst=2 block=10m": the third quick failure blocks."""

import json
import re
import threading
import time

from harness import LineClient
from test_login_limits import IMAP_LIMITED, RULE, assert_requests, fail_times, imap_login


def node(ctx, au, rd, store_extra="", port=None, **limits):
    """A mailproxy with its own zone, sharing Redis rd (or the store address port)."""
    conf = {"protocol": "imap", "login_limit_zone": "shared:logins:1m",
            "login_limit_tarpit": "0s",
            "login_limit_store": ("redis 127.0.0.1:%d %s" % (port or rd.port, store_extra)).strip()}
    conf.update(limits)
    mp = ctx.mailproxy(auth=au, servers=[conf], main={"worker_processes": 1})
    return mp, mp.ports["imap"]


def zone_status(ctx, mp):
    out = ctx.cli("-c", mp.config_path, "-s", "status").out
    st = json.loads(out[out.index("{"):])
    zones = st["login_limit_zones"]
    return zones[0] if isinstance(zones, list) else next(iter(zones.values()))


def setup_two(ctx, **limits):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    rd = ctx.redis()
    a, pa = node(ctx, au, rd, **limits)
    b, pb = node(ctx, au, rd, **limits)
    return au, rd, (a, pa), (b, pb)


# ---------------------------------------------------------------- shared between nodes

def test_address_blocked_on_a_is_blocked_on_b(ctx):
    au, rd, (a, pa), (b, pb) = setup_two(ctx, login_limit_addr=RULE)
    fail_times(pa, "alice", 3, "127.0.0.51")
    a.wait_log(r"login limit: address 127\.0\.0\.51 over the limit with 3 failures on all nodes")
    # B never saw this address fail: Redis tells it, and the auth service is not asked
    assert imap_login(pb, "alice", "alicepw", "127.0.0.51") == IMAP_LIMITED
    assert imap_login(pb, "bob", "bobpw", "127.0.0.51") == IMAP_LIMITED
    assert_requests(au, "bob", 0)
    b.wait_log(r"login limit: address 127\.0\.0\.51 blocked for \d+ s more")
    # another address logs in on either node
    assert imap_login(pb, "bob", "bobpw", "127.0.0.52").startswith(b"OK")
    # the keys in Redis are the prefix and a hash, never the address or login
    keys = rd.keys("*")
    assert keys and all(re.fullmatch(rb"mailproxy:[0-9a-f]{32}", k) for k in keys), keys
    st = zone_status(ctx, b)
    assert st["store_answers"] >= 3 and st["fallbacks"] == 0, st
    assert st["blocked_logins"] == 2 and st["blocks"] == 1, st


def test_failures_add_up_across_nodes(ctx):
    """Two failures on A and one on B make the three that block: Redis counts them all."""
    au, rd, (a, pa), (b, pb) = setup_two(ctx, login_limit_user=RULE)
    fail_times(pa, "carol", 2, "127.0.0.53")
    fail_times(pb, "carol", 1, "127.0.0.54")
    b.wait_log(r"login limit: login over the limit with 3 failures on all nodes")
    # the login is blocked from any address, on both nodes
    assert imap_login(pa, "carol", "x", "127.0.0.55") == IMAP_LIMITED
    assert imap_login(pb, "carol", "x", "127.0.0.56") == IMAP_LIMITED
    assert_requests(au, "carol", 3)


def test_good_pair_on_a_passes_a_block_seen_on_b(ctx):
    """alice logged in from her address through A; guesses through B block that
    address, yet alice keeps logging in from it through B (the good mark is shared)."""
    au, rd, (a, pa), (b, pb) = setup_two(ctx, login_limit_addr=RULE,
                                          login_limit_pair=RULE)
    assert imap_login(pa, "alice", "alicepw", "127.0.0.57").startswith(b"OK")
    fail_times(pb, "bob", 3, "127.0.0.57")
    b.wait_log(r"address 127\.0\.0\.57 over the limit with 3 failures on all nodes")
    assert imap_login(pb, "bob", "bobpw", "127.0.0.57") == IMAP_LIMITED
    assert imap_login(pb, "alice", "alicepw", "127.0.0.57").startswith(b"OK")


# ---------------------------------------------------------------- Redis away and back

def test_redis_killed_falls_back_then_shares_again(ctx):
    au, rd, (a, pa), (b, pb) = setup_two(ctx, login_limit_addr=RULE)
    assert imap_login(pa, "alice", "alicepw", "127.0.0.61").startswith(b"OK")
    rd.kill()
    # no client sees Redis go: logins work, failures count in each node's zone
    assert imap_login(pa, "alice", "alicepw", "127.0.0.61").startswith(b"OK")
    a.wait_log(r"login_limit_store redis 127\.0\.0\.1:\d+: .*the limits count locally")
    fail_times(pa, "bob", 3, "127.0.0.62")
    a.wait_log(r"address 127\.0\.0\.62 over the limit with 3 failures, client")
    assert imap_login(pa, "bob", "bobpw", "127.0.0.62") == IMAP_LIMITED
    # B has not seen those failures and cannot ask Redis: it lets the address try
    assert imap_login(pb, "bob", "bobpw", "127.0.0.62").startswith(b"OK")
    for _ in range(5):
        assert imap_login(pb, "alice", "alicepw", "127.0.0.63").startswith(b"OK")
    a.assert_log_count(r"the limits count locally", 1, after=r"127\.0\.0\.62 over the limit")
    assert zone_status(ctx, b)["fallbacks"] >= 1
    # Redis back (empty): once reconnected, the nodes share again
    rd.restart()
    def shared_again():
        # a login on B reconnects it (at most one attempt a second)
        imap_login(pb, "alice", "alicepw", "127.0.0.64")
        return "the limits are shared again" in b.log()
    deadline = time.monotonic() + 20
    while not shared_again():
        assert time.monotonic() < deadline, "B did not reconnect to Redis"
        time.sleep(0.2)
    fail_times(pb, "bob", 3, "127.0.0.65")
    b.wait_log(r"address 127\.0\.0\.65 over the limit with 3 failures on all nodes")
    deadline = time.monotonic() + 20
    while imap_login(pa, "bob", "bobpw", "127.0.0.65") != IMAP_LIMITED:
        # A reconnects on its first login after Redis came back; that one may pass
        assert time.monotonic() < deadline, "A does not see B's block"
        time.sleep(0.2)


def test_frozen_redis_costs_its_logins_the_timeout_and_nothing_else(ctx):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    rd = ctx.redis()
    conf = {"protocol": "imap", "login_limit_zone": "shared:logins:1m",
            "login_limit_store": "redis 127.0.0.1:%d timeout=300ms" % rd.port,
            "login_limit_addr": RULE}
    mp = ctx.mailproxy(auth=au, servers=[conf, {"protocol": "imap"}],
                       main={"worker_processes": 1})
    limited_port, plain_port = [port for _h, port, _p, _proto in mp.listens]
    assert imap_login(limited_port, "alice", "alicepw").startswith(b"OK")
    # a session already logged in, on the same worker
    with LineClient(plain_port) as idle:
        assert idle.readline().startswith(b"* OK")
        idle.cmd("i1 LOGIN bob bobpw")
        assert idle.read_until(b"i1 ")[-1].startswith(b"i1 OK")
        rd.freeze()
        try:
            results = []
            t = threading.Thread(target=lambda: results.append(
                [imap_login(limited_port, "alice", "alicepw", "127.0.0.%d" % (70 + i))
                 for i in range(3)]))
            t.start()
            # meanwhile the worker serves everyone else
            idle.cmd("i2 NOOP")
            assert idle.read_until(b"i2 ")[-1].startswith(b"i2 OK")
            assert imap_login(plain_port, "bob", "bobpw").startswith(b"OK")
            t.join(60)
            assert results and all(r.startswith(b"OK") for r in results[0]), results
        finally:
            rd.thaw()
    assert zone_status(ctx, mp)["fallbacks"] >= 3


def _fake_peer_costs_only_the_fallback(ctx, mode):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    fr = ctx.fake_redis(mode)
    mp, port = node(ctx, au, None, port=fr.port, store_extra="timeout=200ms",
                    login_limit_addr=RULE)
    for i in range(3):
        assert imap_login(port, "alice", "alicepw", "127.0.0.8%d" % i).startswith(b"OK")
    fr.wait_connections(1)
    # the zone still counts and blocks locally
    fail_times(port, "bob", 3, "127.0.0.89")
    assert imap_login(port, "bob", "bobpw", "127.0.0.89") == IMAP_LIMITED
    st = zone_status(ctx, mp)
    assert st["fallbacks"] >= 4 and st["store_answers"] == 0, st
    mp.wait_log(r"login_limit_store redis 127\.0\.0\.1:\d+: .*the limits count locally")
    assert mp.alive()


def test_redis_answering_garbage_costs_only_the_fallback(ctx):
    _fake_peer_costs_only_the_fallback(ctx, "garbage")


def test_redis_closing_mid_reply_costs_only_the_fallback(ctx):
    _fake_peer_costs_only_the_fallback(ctx, "half")


def test_redis_closing_at_once_costs_only_the_fallback(ctx):
    _fake_peer_costs_only_the_fallback(ctx, "close")


def test_redis_hanging_costs_only_the_fallback(ctx):
    _fake_peer_costs_only_the_fallback(ctx, "hang")


# ---------------------------------------------------------------- AUTH, db, prefix

def _keys_in_db(rd, db):
    return rd.cmd("EVAL", "redis.call('SELECT', ARGV[1]) return redis.call('KEYS', '*')", "0",
                  str(db))


def _counts_in_db3_with_prefix(ctx, rd, store_extra, source):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    mp, port = node(ctx, au, rd, store_extra="db=3 prefix=mx1: " + store_extra,
                    login_limit_addr=RULE)
    fail_times(port, "bob", 3, source)
    mp.wait_log(r"address %s over the limit with 3 failures on all nodes" % re.escape(source))
    assert imap_login(port, "bob", "bobpw", source) == IMAP_LIMITED
    assert _keys_in_db(rd, 0) == []
    keys = _keys_in_db(rd, 3)
    assert keys and all(re.fullmatch(rb"mx1:[0-9a-f]{32}", k) for k in keys), keys
    assert zone_status(ctx, mp)["fallbacks"] == 0


def test_password_db_and_prefix(ctx):
    rd = ctx.redis(password="s3cret-pw")
    _counts_in_db3_with_prefix(ctx, rd, "password=s3cret-pw", "127.0.0.91")


# The ACL the README gives: only what the scripts and the connection set-up use.
MAILPROXY_ACL = ("user mailproxy on >pw-acl ~mx1:* +evalsha +script|load +select +time +hget "
                 "+hmget +hset +pexpire")


def test_acl_user_db_and_prefix(ctx):
    """A Redis ACL user allowed only the README's commands on the prefix's keys."""
    rd = ctx.redis(acl_user=("admin", "pw-admin"), extra_conf=MAILPROXY_ACL)
    _counts_in_db3_with_prefix(ctx, rd, "user=mailproxy password=pw-acl", "127.0.0.92")


def test_acl_refusing_a_script_command_is_logged_once_and_falls_back(ctx):
    rd = ctx.redis(acl_user=("admin", "pw-admin"), extra_conf=MAILPROXY_ACL.replace(" +hset", ""))
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    mp, port = node(ctx, au, rd, store_extra="prefix=mx1: user=mailproxy password=pw-acl",
                    login_limit_addr=RULE)
    fail_times(port, "bob", 3, "127.0.0.95")
    # Redis answers the check (not blocked: it counted nothing); the zone's block stands
    assert imap_login(port, "bob", "bobpw", "127.0.0.95") == IMAP_LIMITED
    # the check script runs (it only reads); the failure script may not write
    mp.wait_log(r'login_limit_store: Redis answered "[^"]*can.t run this command[^"]*"; '
                r'the limits count locally')
    mp.wait_log(r"address 127\.0\.0\.95 over the limit with 3 failures, client")
    mp.assert_log_count(r"login_limit_store: Redis answered", 1,
                        after=r"address 127\.0\.0\.95 blocked for")
    assert zone_status(ctx, mp)["fallbacks"] >= 1


def test_wrong_password_is_logged_and_falls_back(ctx):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    rd = ctx.redis(password="right")
    mp, port = node(ctx, au, rd, store_extra="password=wrong", login_limit_addr=RULE)
    assert imap_login(port, "alice", "alicepw", "127.0.0.93").startswith(b"OK")
    mp.wait_log(r"login_limit_store redis 127\.0\.0\.1:\d+: refused the login or database: "
                r"WRONGPASS")
    fail_times(port, "bob", 3, "127.0.0.94")
    assert imap_login(port, "bob", "bobpw", "127.0.0.94") == IMAP_LIMITED
    assert zone_status(ctx, mp)["fallbacks"] >= 1


# ---------------------------------------------------------------- configuration

def test_store_config_errors_have_positions(ctx):
    base = {"protocol": "imap", "login_limit_zone": "shared:logins:1m"}
    cases = [
        ("redis 127.0.0.1 db=x", r'invalid db in "db=x"'),
        ("redis 127.0.0.1 timeout=0", r'invalid timeout in "timeout=0"'),
        ("redis 127.0.0.1 user=u", r'user=u needs a password='),
        ("redis 127.0.0.1 color=red", r'unexpected "color=red"'),
        ("memcached 127.0.0.1", r'expected "redis ADDRESS'),
        ("redis", r'no Redis address given'),
        ("redis 127.0.0.1:99999", r'port'),
    ]
    for value, msg in cases:
        mp = ctx.mailproxy(start=False, mail={"auth_http": "127.0.0.1:9/auth"},
                           servers=[dict(base, login_limit_store=value)])
        r = mp.check()
        assert r.rc != 0 and re.search(r":\d+:\d+: \"login_limit_store\": .*" + msg, r.out), \
            (value, r.out)
    # a store without a zone: the zone is its local copy
    mp = ctx.mailproxy(start=False, mail={"auth_http": "127.0.0.1:9/auth"},
                       servers=[{"protocol": "imap", "login_limit_store": "redis 127.0.0.1"}])
    r = mp.check()
    assert r.rc != 0 and 'needs "login_limit_zone"' in r.out, r.out
