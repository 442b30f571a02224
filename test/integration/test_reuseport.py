"""listen's default reuseport: a socket per worker and a steering program that sends each
connection to the worker a hash of the client's address and port picks. Clients here bind
their own ports, so where each connection lands is known in advance (the hash is
common/reuseport.c's, recomputed below). A reload to fewer workers keeps the retired
workers' sockets, and what is queued on them still gets its greeting; a binary upgrade
inherits the group in its order. reuseport=off is nginx's one shared socket."""

import json
import os
import random
import signal
import socket
import threading
import time

from harness import children_of, free_port, wait_pid_gone, wait_until
from harness.util import send_signal
from harness.yamlgen import to_yaml

M32 = 0xffffffff


def rp_hash(addr, port):
    """common/reuseport.c's reuseport_hash()."""
    h = (addr ^ port) & M32
    h = (h * 0x9e3779b1) & M32
    h ^= h >> 16
    h = (h * 0x85ebca6b) & M32
    h ^= h >> 13
    return h


LOOPBACK_INT = 0x7f000001


def imap(port, extra=""):
    return {"protocol": "imap", "listen": ["127.0.0.1:%d%s" % (port, extra)]}


def status(ctx, mp):
    r = ctx.cli("-c", mp.config_path, "-s", "status")
    assert r.rc == 0, r
    return json.loads(r.stdout)


def accepted_by_pid(ctx, mp):
    return {w["pid"]: w["accepted"] for w in status(ctx, mp)["workers"]}


def client_ports(n):
    """n even ports (as ephemeral ones go) from a random base, not in the ephemeral range."""
    base = random.randrange(10000, 30000 - 2 * n) & ~1
    return [base + 2 * i for i in range(n)]


def connect_from(sport, port):
    """A connection from 127.0.0.1:sport, or None when that port is taken here."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", sport))
    except OSError:
        s.close()
        return None
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def greeting(s):
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(512)
        if not chunk:
            break
        data += chunk
    return data


def listeners_on(port):
    """LISTEN sockets on 127.0.0.1:port in /proc/net/tcp."""
    want = "0100007F:%04X" % port
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1] == want and parts[3] == "0A":
                n += 1
    return n


def rewrite(mp, servers=None, **main):
    mp.config.update(main)
    if servers is not None:
        mp.config["mail"]["servers"] = servers
    with open(mp.config_path, "w") as f:
        f.write(to_yaml(mp.config) + "\n")


def reload_to(mp, generation, workers):
    rewrite(mp, worker_processes=workers)
    mp.reload()
    mp.wait_log(r"configuration generation %d is running" % generation, timeout=20)


def touch_from(ports, port):
    """Connects from each port, reads the greeting; the ports used."""
    used = []
    for p in ports:
        s = connect_from(p, port)
        if s is None:
            continue
        with s:
            assert greeting(s).startswith(b"* OK"), p
        used.append(p)
    return used


def spread_matches_hash(ctx, mp, port, nworkers):
    before = accepted_by_pid(ctx, mp)
    used = touch_from(client_ports(200), port)
    assert len(used) > 150, len(used)
    want = [0] * nworkers
    for p in used:
        want[rp_hash(LOOPBACK_INT, p) % nworkers] += 1
    workers = set(mp.workers())
    after = accepted_by_pid(ctx, mp)
    got = sorted(after[pid] - before.get(pid, 0) for pid in after if pid in workers)
    assert got == sorted(want), (got, sorted(want))


def test_default_listen_spreads_by_client_hash(ctx):
    port = free_port()
    mp = ctx.mailproxy(servers=[imap(port)], mail={"auth_http": "127.0.0.1:9/"},
                       main={"worker_processes": 4})
    assert listeners_on(port) == 4
    mp.wait_log(r"127\.0\.0\.1:%d: connections steered to 4 workers" % port)
    spread_matches_hash(ctx, mp, port, 4)
    # The issue's bound (busiest <= 1.2 x average) where it is deterministic: one
    # client over Linux's whole ephemeral range, which connect() walks in steps of 2.
    for n in (2, 4, 8):
        count = [0] * n
        for p in range(32768, 61000, 2):
            count[rp_hash(LOOPBACK_INT, p) % n] += 1
        assert max(count) * n <= 1.2 * sum(count), (n, count)


def test_reuseport_off_is_one_shared_socket(ctx):
    port = free_port()
    mp = ctx.mailproxy(servers=[imap(port, " reuseport=off")], mail={"auth_http": "127.0.0.1:9/"},
                       main={"worker_processes": 3})
    assert listeners_on(port) == 1
    assert touch_from(client_ports(20), port)
    assert "steered" not in mp.log()


def test_reload_to_fewer_workers_drains_the_retired_sockets(ctx):
    """Connections queued on the sockets of workers 2 and 3 when a reload retires them
    (the workers are stopped, then killed, so nobody but the new workers can take them)
    all get a greeting; the sockets stay open and serve again after a reload to 4."""
    port = free_port()
    mp = ctx.mailproxy(servers=[imap(port)], mail={"auth_http": "127.0.0.1:9/"},
                       main={"worker_processes": 4})
    old = mp.workers()
    assert len(old) == 4
    for pid in old:
        os.kill(pid, signal.SIGSTOP)
    conns = []
    try:
        for p in client_ports(40):
            s = connect_from(p, port)
            if s is not None:
                conns.append((p, s))
        retired = [p for p, _ in conns if rp_hash(LOOPBACK_INT, p) % 4 >= 2]
        assert len(retired) >= 5, retired
        reload_to(mp, 1, 2)
    finally:
        for pid in old:
            os.kill(pid, signal.SIGKILL)
            os.kill(pid, signal.SIGCONT)
    for pid in old:
        mp.wait_log(r"worker process %d exited on signal 9" % pid)
    assert listeners_on(port) == 4, "the retired sockets are kept"
    for p, s in conns:
        with s:
            assert greeting(s).startswith(b"* OK"), "client port %d (socket %d)" % (
                p, rp_hash(LOOPBACK_INT, p) % 4)
    assert wait_until(lambda: len(mp.workers()) == 2, 20, what="2 workers")
    spread_matches_hash(ctx, mp, port, 2)
    reload_to(mp, 2, 4)
    assert wait_until(lambda: len(mp.workers()) == 4, 20, what="4 workers")
    assert listeners_on(port) == 4
    spread_matches_hash(ctx, mp, port, 4)


def test_reloads_4_2_4_under_a_burst_lose_no_connection(ctx):
    port = free_port()
    mp = ctx.mailproxy(servers=[imap(port)], mail={"auth_http": "127.0.0.1:9/"},
                       main={"worker_processes": 4, "error_log": "error.log notice"})
    stop = threading.Event()
    ok, failures = [0], []
    lock = threading.Lock()

    def burst():
        deadline = time.monotonic() + 60
        for _ in range(3000):
            if stop.is_set() or time.monotonic() > deadline:
                return
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    g = greeting(s)
                if not g.startswith(b"* OK"):
                    raise ConnectionError("greeting %r" % g)
                with lock:
                    ok[0] += 1
            except OSError as e:
                with lock:
                    failures.append(repr(e))

    ts = [threading.Thread(target=burst) for _ in range(6)]
    for t in ts:
        t.start()
    try:
        gen = 0
        for workers in (2, 4, 2, 4, 2):
            gen += 1
            before = ok[0]
            reload_to(mp, gen, workers)
            # Some connections between reloads (bounded: the loaders stop anyway).
            wait_until(lambda: ok[0] >= before + 100 or failures, 20, what="connections")
    finally:
        stop.set()
        for t in ts:
            t.join(30)
    print("%d connections, %d failed" % (ok[0], len(failures)))
    assert not failures, failures[:5]
    assert ok[0] >= 500
    assert listeners_on(port) == 4


def test_upgrade_inherits_the_group_in_order(ctx):
    port = free_port()
    mp = ctx.mailproxy(servers=[imap(port)], mail={"auth_http": "127.0.0.1:9/"},
                       main={"worker_processes": 4})
    reload_to(mp, 1, 2)
    assert wait_until(lambda: len(mp.workers()) == 2, 20, what="2 workers")
    new_master, new_workers = mp.upgrade(ctx, 2)
    assert len(new_workers) == 2
    assert listeners_on(port) == 4, "the retired sockets are handed over too"
    r = ctx.cli("-c", mp.config_path, "-s", "status")
    before = {w["pid"]: w["accepted"] for w in json.loads(r.stdout)["workers"]}
    used = touch_from(client_ports(200), port)
    want = [0] * 2
    for p in used:
        want[rp_hash(LOOPBACK_INT, p) % 2] += 1
    after = {w["pid"]: w["accepted"] for w in json.loads(
        ctx.cli("-c", mp.config_path, "-s", "status").stdout)["workers"]}
    got = sorted(after[p] - before.get(p, 0) for p in new_workers)
    assert got == sorted(want), (got, want)


def test_second_instance_on_the_address_fails_to_bind(ctx):
    """With reuseport a second bind would join the group; the master probes first."""
    port = free_port()
    ctx.mailproxy(servers=[imap(port)], mail={"auth_http": "127.0.0.1:9/"})
    second = ctx.mailproxy(start=False, servers=[imap(port)], mail={"auth_http": "127.0.0.1:9/"},
                           main={"error_log": "stderr"})
    try:
        second.start()
        raise AssertionError("a second instance started on port %d" % port)
    except RuntimeError:
        pass
    with open(second.stderr_path) as f:
        err = f.read()
    assert "bind() to 127.0.0.1:%d failed: Address already in use" % port in err, err
    assert listeners_on(port) == 2


def test_reload_brings_back_an_address_the_old_workers_still_hold(ctx):
    """A reload drops an address, and the next brings it back before the previous
    generation's workers have closed their copies (held here with SIGSTOP): the master
    tries the bind again, 500 ms apart as nginx does, and the reload succeeds once they
    let go, instead of failing with "Address already in use"."""
    keep, back = free_port(), free_port()
    mail = {"auth_http": "127.0.0.1:9/"}
    mp = ctx.mailproxy(servers=[imap(keep), imap(back)], mail=mail, main={"worker_processes": 2})
    old = mp.workers()
    for w in old:
        os.kill(w, signal.SIGSTOP)
    try:
        rewrite(mp, servers=[imap(keep)])
        mp.reload()
        mp.wait_log(r"configuration generation 1 is running", timeout=20)
        assert listeners_on(back) == 2, "the stopped workers' copies of the dropped address"
        rewrite(mp, servers=[imap(keep), imap(back)])
        mp.reload()
        mp.wait_log(r"bind\(\) to 127\.0\.0\.1:%d failed: Address already in use; "
                    r"trying again in 500 ms" % back, timeout=20)
    finally:
        for w in old:
            send_signal(w, signal.SIGCONT)
    mp.wait_log(r"configuration generation 2 is running", timeout=20)
    assert "reload failed" not in mp.log()
    with socket.create_connection(("127.0.0.1", back), timeout=10) as s:
        assert greeting(s).startswith(b"* OK"), "the address brought back serves"
    assert listeners_on(back) == 2, "one socket per new worker, the old copies gone"


def read_greeting(s):
    try:
        return greeting(s)
    except OSError:
        return b""


def test_rolled_back_upgrade_serves_what_its_extra_sockets_queued(ctx):
    """An upgrade to more workers rolled back as nginx documents it (WINCH, then HUP to
    the old master and QUIT to the new one): connections queued on the sockets that
    only the new workers had are accepted and greeted when those workers start
    draining, not reset when the sockets close. The new workers are held with SIGSTOP
    so that the connections wait in their queues."""
    port = free_port()
    mp = ctx.mailproxy(servers=[imap(port)], mail={"auth_http": "127.0.0.1:9/"},
                       main={"worker_processes": 2})
    old_workers = mp.workers()
    rewrite(mp, worker_processes=4)
    new_master, new_workers = mp.upgrade_start(ctx, 4)
    mp.signal(signal.SIGWINCH)
    for w in old_workers:
        assert wait_pid_gone(w, 15), "old worker %d still running after WINCH" % w
    for w in new_workers:
        os.kill(w, signal.SIGSTOP)
    clients = []
    try:
        # The new master's program steers by hash % 4: sockets 2 and 3 are its own.
        for p in client_ports(200):
            if rp_hash(LOOPBACK_INT, p) % 4 >= 2 and len(clients) < 6:
                s = connect_from(p, port)
                if s is not None:
                    clients.append(s)
        assert len(clients) == 6
        mp.signal(signal.SIGHUP)
        wait_until(lambda: len([c for c in children_of(mp.pid) if c != new_master]) == 2, 20,
                   what="the old master's workers back")
        os.kill(new_master, signal.SIGQUIT)
    finally:
        for w in new_workers:
            send_signal(w, signal.SIGCONT)
    got = [read_greeting(s) for s in clients]
    for s in clients:
        s.close()
    assert all(g.startswith(b"* OK") for g in got), got
    assert wait_pid_gone(new_master, 20), "the new master did not leave"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        assert greeting(s).startswith(b"* OK"), "the old master serves the address again"


def test_reload_keeps_the_kind_of_socket_an_address_has(ctx):
    """reuseport=off to the default: the shared socket stays (a group could not bind next
    to it) until a restart, with a warning; connections go on."""
    port = free_port()
    mp = ctx.mailproxy(servers=[imap(port, " reuseport=off")], mail={"auth_http": "127.0.0.1:9/"},
                       main={"worker_processes": 2})
    mp.config["mail"]["servers"][0]["listen"] = ["127.0.0.1:%d" % port]
    reload_to(mp, 1, 3)
    mp.wait_log(r"listen \"127\.0\.0\.1:%d\": keeping its shared socket until a restart" % port)
    assert listeners_on(port) == 1
    assert len(touch_from(client_ports(20), port)) > 10


def test_wildcard_and_exact_address_with_bind_share_a_port(ctx):
    """Per-worker sockets let 0.0.0.0:P and 127.0.0.2:P bind side by side (a shared
    socket cannot on Linux); the master's probe against a second instance must not
    stop it."""
    port = free_port()
    mp = ctx.mailproxy(servers=[{"protocol": "imap", "listen": ["0.0.0.0:%d" % port]},
                                {"protocol": "imap", "listen": ["127.0.0.2:%d bind" % port]}],
                       mail={"auth_http": "127.0.0.1:9/"}, main={"worker_processes": 2},
                       wait_ports=[("127.0.0.1", port)])
    for host in ("127.0.0.1", "127.0.0.2"):
        with socket.create_connection((host, port), timeout=10) as s:
            assert greeting(s).startswith(b"* OK"), host
    mp.wait_log(r"steered to 2 workers")


def test_upgrade_from_shared_sockets_keeps_them(ctx):
    """What a binary upgrade from a mailproxy whose sockets were shared meets (checked by
    hand with the previous commit's binary): the new master keeps the inherited shared
    socket, with a warning, and serves on it."""
    port = free_port()
    mp = ctx.mailproxy(servers=[imap(port, " reuseport=off")], mail={"auth_http": "127.0.0.1:9/"},
                       main={"worker_processes": 2})
    mp.config["mail"]["servers"][0]["listen"] = ["127.0.0.1:%d" % port]
    rewrite(mp)
    new_master, new_workers = mp.upgrade(ctx, 2)
    assert len(new_workers) == 2
    # Said while the new master builds its sockets, before its error log is open: on
    # the stderr it inherited, as start-up messages are.
    want = 'listen "127.0.0.1:%d": keeping its shared socket until a restart' % port

    def said():
        with open(mp.stderr_path, errors="replace") as f:
            return want in f.read()
    assert wait_until(said, 20, what=want)
    assert listeners_on(port) == 1
    assert len(touch_from(client_ports(20), port)) > 10
