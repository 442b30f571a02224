"""The scaling case of run.py (`--only scaling`): nginx and mailproxy, each with
`worker_cpu_affinity auto`, at 1 and 2 workers (`--workers 1,2,4` on a bigger
box): IMAP logins/s and TLS handshakes/s, proxy CPU per login and per
handshake, each worker's share of the sessions, and the scaling factor (N
workers / 1 worker).

Per-worker share: utime+stime of each worker from /proc/PID/stat over the run
(nginx has no per-worker counter, so this is the share both proxies get), and
for mailproxy also each worker's `accepted` counter from `mailproxy -s status`.

Every load loop is bounded in count and seconds; loopback only; only the
processes started here are stopped, by PID (benchlib)."""

import os

import benchlib as bl


def parse_workers(text):
    ws = sorted({int(x) for x in str(text).split(",") if x.strip()})
    if not ws or ws[0] < 1:
        raise SystemExit("--workers: a comma-separated list of worker counts >= 1, e.g. 1,2,4")
    return ws


def cpus_allowed(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def accepted_by_pid(b, px):
    """mailproxy's per-worker `accepted` counters, by worker pid (nginx: {})."""
    if px.kind != "mailproxy":
        return {}
    st = bl.mailproxy_status(b.bin, px.conf)
    return {w["pid"]: w["accepted"] for w in st["workers"] if w.get("state") == "running"}


def measured(b, px, args):
    """One loadgen run against px; adds proxy CPU (master + workers), each
    worker's CPU seconds and (mailproxy) accepted sessions over the run."""
    workers = px.workers()
    procs = [px.proc.pid] + workers
    c0 = bl.cpu_seconds(procs)
    w0 = {w: bl.cpu_seconds([w]) for w in workers}
    a0 = accepted_by_pid(b, px)
    r = bl.loadgen(b.tools, args, timeout=90)
    r["proxy_cpu"] = bl.cpu_seconds(procs) - c0
    r["worker_cpu"] = sorted((bl.cpu_seconds([w]) - w0[w] for w in workers), reverse=True)
    a1 = accepted_by_pid(b, px)
    r["worker_accepted"] = sorted((a1[p] - a0.get(p, 0) for p in a1), reverse=True)
    return r


def shares(xs):
    t = float(sum(xs))
    return [x / t for x in xs] if t > 0 else []


def fmt_shares(lists):
    """Median, position by position, of the sorted (largest first) shares of each round."""
    lists = [x for x in lists if x]
    if not lists:
        return "n/a"
    n = min(len(x) for x in lists)
    return " / ".join("%.0f%%" % (100 * bl.median([x[i] for x in lists])) for i in range(n))


def bench_scaling(b):
    ws = parse_workers(getattr(b.a, "workers", "1,2"))
    n_login = 8000 if b.a.quick else 20000
    n_full = 1000 if b.a.quick else 2000
    n_res = 2000 if b.a.quick else 5000
    # (key, label, loadgen arguments but the target, port, count)
    cases = [
        ("login", "IMAP logins/s", ["--mode", "login", "--proto", "imap", "--concurrency", 50],
         "imap", n_login),
        ("tls13", "TLS 1.3 full handshakes/s (tickets on)",
         ["--mode", "tls", "--tls", "--tls-version", "1.3", "--concurrency", 20], "imaps", n_full),
        ("tls12r", "TLS 1.2 resumed handshakes/s (session cache)",
         ["--mode", "tls", "--tls", "--tls-version", "1.2", "--resume", "--tickets", "off",
          "--concurrency", 20], "imapsnt", n_res),
    ]
    names = ("nginx", "mailproxy")
    res = {(w, n, c[0]): [] for w in ws for n in names for c in cases}
    affinity = {}
    for _ in range(b.a.rounds):
        for w in ws:
            for px in b.proxies():
                if px.name not in names:
                    continue

                def run(px):
                    affinity[(w, px.name)] = ", ".join(cpus_allowed(p) for p in sorted(px.workers()))
                    out = {}
                    for key, _, args, port, n in cases:
                        out[key] = measured(b, px, args + [
                            "--target", "127.0.0.1:%d" % px.ports[port], "--count", n,
                            "--seconds", 60])
                    return out
                out = b.with_proxy(px, run, workers=w, affinity="auto",
                                   cpus=getattr(b.a, "proxy_cpus", None))
                for key, r in out.items():
                    if r["errors"]:
                        b.notes.append("scaling: %s, %d workers, %s: %d errors (%s)" % (
                            px.name, w, key, r["errors"], r["first_error"]))
                    res[(w, px.name, key)].append(r)

    def med(w, name, key, f):
        return bl.median([f(r) for r in res[(w, name, key)]])

    w1 = ws[0]
    for key, label, _, _, _ in cases:
        short = {"login": "IMAP login", "tls13": "TLS 1.3 full handshake",
                 "tls12r": "TLS 1.2 resumed handshake"}[key]
        for w in ws:
            rate = {n: med(w, n, key, lambda r: r["rate"]) for n in names}
            b.add("scaling", "%s, %d worker%s" % (label, w, "s" if w > 1 else ""), "/s", rate)
            b.add("scaling", "proxy CPU per %s, %d worker%s" % (
                short, w, "s" if w > 1 else ""), "us",
                {n: med(w, n, key, lambda r: r["proxy_cpu"] / max(r["ok"], 1) * 1e6)
                 for n in names}, better="lower")
        for w in ws:
            if w == w1:
                continue
            b.add("scaling", "scaling of %s, %d / %d worker%s" % (
                label, w, w1, "s" if w1 > 1 else ""), "x",
                {n: (med(w, n, key, lambda r: r["rate"]) /
                     max(med(w1, n, key, lambda r: r["rate"]), 1e-9)) for n in names})
        for w in ws:
            if w == 1:
                continue
            parts = []
            for n in names:
                rs = res[(w, n, key)]
                s = "%s CPU %s" % (n, fmt_shares([shares(r["worker_cpu"]) for r in rs]))
                if n == "mailproxy":
                    s += " (accepted %s)" % fmt_shares([shares(r["worker_accepted"]) for r in rs])
                # How busy the busiest worker was: CPU seconds / the run's seconds.
                s += ", busiest worker %.0f%% of a CPU" % (100 * bl.median(
                    [r["worker_cpu"][0] / max(r["seconds"], 1e-9) for r in rs if r["worker_cpu"]]))
                parts.append(s)
            b.notes.append("scaling, per-worker share of %s, %d workers (largest first): %s" % (
                label.replace("/s", ""), w, "; ".join(parts)))
    for w in ws:
        b.notes.append("scaling, %d worker%s with worker_cpu_affinity auto, Cpus_allowed_list "
                       "of each worker: nginx %s; mailproxy %s" % (
                           w, "s" if w > 1 else "", affinity.get((w, "nginx"), "?"),
                           affinity.get((w, "mailproxy"), "?")))
    b.notes.append("scaling: nginx's TLS 1.3 full handshakes wait ~44 ms each for the client's "
                   "delayed ACK (no TCP_NODELAY, see README Performance), so at 20 at once they "
                   "stay near 20 / 0.045 s whatever the workers: their scaling factor measures "
                   "that stall, not the workers; its CPU per handshake still compares")
    if max(ws) > (os.cpu_count() or 1):
        b.notes.append("scaling: %d workers on %d CPUs: auto wraps, several workers share a CPU"
                       % (max(ws), os.cpu_count() or 1))
