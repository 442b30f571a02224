"""Memory per idle relayed session and the most concurrent sessions, for
run.py. Each process here may hold at most 20,000 descriptors (a hard limit
even for root), so the load is spread over several load generators, fake
backends and source addresses (127.0.0.2, 127.0.0.3, ...) and over enough
workers; both proxies get the same number of workers."""

import math
import os
import signal
import time

import benchlib as bl

PER_PROCESS = 15000      # sessions per loadgen / fakebackend process


def idle_sessions(b, px, k, tls, timeout=150):
    """Opens k idle logged-in sessions through px; returns (ok, errors, loadgens)."""
    n = max(1, math.ceil(k / PER_PROCESS))
    gens = []
    for i in range(n):
        count = k // n + (1 if i < k % n else 0)
        args = [os.path.join(b.tools, "loadgen"), "--mode", "idle", "--target",
                "127.0.0.1:%d" % px.ports["imaps" if tls else "imap"], "--count", count,
                "--concurrency", 200, "--hold", 0, "--seconds", timeout,
                "--bind", "127.0.0.%d" % (2 + i), "--timeout", 30]
        if tls:
            args.append("--tls")
        gens.append(bl.Proc([str(a) for a in args],
                            os.path.join(b.tmp, "idle-%s-%d.log" % (px.name, i))))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all("holding" in g.text() or '"mode"' in g.text() for g in gens):
            break
        time.sleep(0.2)
    held = 0
    for g in gens:
        for line in g.text().splitlines():
            if line.startswith("holding"):
                held += int(line.split()[1])
    return held, gens


def stop_all(procs):
    for p in procs:
        p.stop(signal.SIGTERM, timeout=20)


def peers_for(b, k):
    """Fake backends and an auth service able to take k sessions."""
    n = max(1, math.ceil(k / PER_PROCESS))
    ports = bl.free_ports(n + 1)
    backs = []
    for i in range(n):
        backs.append(bl.Proc([os.path.join(b.tools, "fakebackend"), "--imap",
                              "127.0.0.1:%d" % ports[i]],
                             os.path.join(b.tmp, "mem-backend-%d.log" % i), ready="ready"))
    argv = [os.path.join(b.tools, "fakeauth"), "--listen", "127.0.0.1:%d" % ports[-1]]
    for i in range(n):
        argv += ["--imap", "127.0.0.1:%d" % ports[i]]
    auth = bl.Proc(argv, os.path.join(b.tmp, "mem-auth.log"), ready="listening")
    return backs + [auth], "127.0.0.1:%d/auth" % ports[-1]


def measure(b, px, k, tls, workers):
    peers, auth_url = peers_for(b, k)
    saved = b.auth_url
    b.auth_url = auth_url
    try:
        bl.start_proxy(px, b.bin, auth_url, b.cert, b.key, workers=workers, conns=19500,
                       keepalive=px.keepalive)
        time.sleep(0.5)
        before = bl.pss_kb(px.pids())
        held, gens = idle_sessions(b, px, k, tls)
        time.sleep(1.0)
        after = bl.pss_kb(px.pids())
        stop_all(gens)
        px.stop()
    finally:
        b.auth_url = saved
        stop_all(peers)
    per = (after - before) * 1024.0 / held if held else None
    return held, per


def bench_memory(b):
    ks = (10000,) if b.a.quick else (10000, 50000)
    for tls in (False, True):
        for k in ks:
            workers = max(2, math.ceil(2 * k / 12000))
            vals, held = {}, {}
            for px in b.proxies():
                if px.name == "mailproxy+ka":
                    continue
                h, per = measure(b, px, k, tls, workers)
                vals[px.name], held[px.name] = per, h
                if h < k:
                    b.notes.append("memory, %s, %s, K=%d: only %d sessions held" % (
                        px.name, "TLS" if tls else "plaintext", k, h))
            b.add("memory", "PSS per idle session, %s, K=%d (%d workers)" % (
                "TLS" if tls else "plaintext", k, workers), "B", vals, better="lower")


def bench_max(b):
    """The most concurrent idle relayed sessions mailproxy holds (aim 100,000)."""
    k = 30000 if b.a.quick else 100000
    workers = max(2, math.ceil(2 * k / 17000))
    px = [p for p in b.proxies() if p.name == "mailproxy"][0]
    h, per = measure(b, px, k, False, workers)
    b.notes.append("most concurrent idle relayed sessions: mailproxy held %d of %d asked "
                   "(%d workers, %d load generators, %d fake backends; %.0f B PSS each)" % (
                       h, k, workers, math.ceil(k / PER_PROCESS), math.ceil(k / PER_PROCESS),
                       per or 0))
