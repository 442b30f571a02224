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
    """Opens k idle logged-in sessions through px; returns (held, loadgens).
    tls: False, True (any version, which is TLS 1.3 here) or "1.2"."""
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
        if tls == "1.2":
            args += ["--tls-version", "1.2"]
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


def kernel_kb():
    """The kernel's slab memory and TCP buffer memory of the whole machine, in KB:
    what sockets cost outside the processes (struct sock, inode, file, epoll item,
    and any queued bytes)."""
    slab = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                slab = int(line.split()[1])
    pages = 0
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                w = line.split()
                pages = int(w[w.index("mem") + 1])
    return slab + pages * os.sysconf("SC_PAGE_SIZE") // 1024


def measure(b, px, k, tls, workers):
    """(held, PSS bytes per session, kernel bytes per proxied session). The
    kernel figure is the machine's slab + TCP memory growth over 4 sockets a
    session (client, the proxy's two, backend: all on this box) times the
    proxy's 2; other activity on the box makes it noisy, so it is a note."""
    peers, auth_url = peers_for(b, k)
    saved = b.auth_url
    b.auth_url = auth_url
    try:
        bl.start_proxy(px, b.bin, auth_url, b.cert, b.key, workers=workers, conns=19500,
                       keepalive=px.keepalive)
        time.sleep(0.5)
        before, kbefore = bl.pss_kb(px.pids()), kernel_kb()
        held, gens = idle_sessions(b, px, k, tls)
        time.sleep(1.0)
        after, kafter = bl.pss_kb(px.pids()), kernel_kb()
        stop_all(gens)
        px.stop()
    finally:
        b.auth_url = saved
        stop_all(peers)
    per = (after - before) * 1024.0 / held if held else None
    kper = (kafter - kbefore) * 1024.0 / held / 2 if held else None
    return held, per, kper


def bench_memory(b):
    ks = (10000,) if b.a.quick else (10000, 50000)
    for tls in (False, True, "1.2"):
        for k in ks if tls != "1.2" else ks[:1]:
            workers = max(2, math.ceil(2 * k / 12000))
            vals, held, kern = {}, {}, {}
            what = {False: "plaintext", True: "TLS", "1.2": "TLS 1.2"}[tls]
            for px in b.proxies():
                if px.name == "mailproxy+ka":
                    continue
                h, per, kper = measure(b, px, k, tls, workers)
                vals[px.name], held[px.name], kern[px.name] = per, h, kper
                if h < k:
                    b.notes.append("memory, %s, %s, K=%d: only %d sessions held" % (
                        px.name, what, k, h))
            b.add("memory", "PSS per idle session, %s, K=%d (%d workers)" % (
                what, k, workers), "B", vals, better="lower")
            b.notes.append("kernel memory per idle proxied session (2 sockets; slab + TCP "
                           "buffers of the whole box), %s, K=%d: %s" % (what, k, ", ".join(
                               "%s %.0f B" % (n, v) for n, v in kern.items() if v is not None)))


def bench_max(b):
    """The most concurrent idle relayed sessions mailproxy holds (aim 100,000)."""
    k = 30000 if b.a.quick else 100000
    workers = max(2, math.ceil(2 * k / 17000))
    px = [p for p in b.proxies() if p.name == "mailproxy"][0]
    h, per, _ = measure(b, px, k, False, workers)
    b.notes.append("most concurrent idle relayed sessions: mailproxy held %d of %d asked "
                   "(%d workers, %d load generators, %d fake backends; %.0f B PSS each)" % (
                       h, k, workers, math.ceil(k / PER_PROCESS), math.ceil(k / PER_PROCESS),
                       per or 0))
