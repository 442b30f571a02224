#!/usr/bin/env python3
"""Proxy CPU per IMAP login (the handoff: greeting, LOGIN, auth request, backend
login), nginx against mailproxy in the same run, every proxy with 2 workers and
`worker_cpu_affinity auto`, in turn per round: nginx, mailproxy with the default
listen options, and mailproxy variants given with --variant NAME=LISTEN_PARAMS
(e.g. cpu=" reuseport=cpu", shared=" reuseport=off"). CPU is utime+stime of the
master and workers over the run / the logins that finished (scaling.py's
measured()). Issue 18 item 4's figure; the target is 0.75x nginx. The row
"mailproxy+ka" is the default listen with auth_http_keepalive 32, which nginx
does not have: two TCP connections per login (client, backend), not three.

    python3 test/bench/login_cpu.py --rounds 5 --count 20000 \\
        --variant cpu=" reuseport=cpu" --variant shared=" reuseport=off"
"""

import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import run  # noqa: E402
import scaling  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(run.REPO, "mailproxy"))
    ap.add_argument("--tools", default=os.path.join(run.REPO, "build", "bench"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--variant", action="append", default=[],
                    help='NAME=LISTEN_PARAMS, e.g. cpu=" reuseport=cpu"')
    a = ap.parse_args()
    a.quick, a.only, a.access_log, a.proxy_cpus, a.out = False, None, None, None, "/tmp"
    b = run.Bench(a)
    systems = [("nginx", "nginx", "", 0), ("mailproxy", "mailproxy", "", 0)]
    for v in a.variant:
        name, _, params = v.partition("=")
        systems.append(("mailproxy " + name, "mailproxy", params, 0))
    systems.append(("mailproxy+ka", "mailproxy", "", 32))
    res = {s[0]: [] for s in systems}
    b.start_peers()
    try:
        for _ in range(a.rounds):
            for name, kind, params, keepalive in systems:
                tag = name.replace(" ", "_").replace("+", "_")
                px = bl.Proxy(tag, kind, os.path.join(b.tmp, tag))
                px.keepalive = keepalive
                bl.start_proxy(px, b.bin, b.auth_url, b.cert, b.key, workers=a.workers,
                               keepalive=keepalive, affinity="auto", listen=params)
                try:
                    r = scaling.measured(b, px, ["--mode", "login", "--proto", "imap",
                                                 "--concurrency", 50, "--target",
                                                 "127.0.0.1:%d" % px.ports["imap"],
                                                 "--count", a.count, "--seconds", 60])
                finally:
                    px.stop()
                us = r["proxy_cpu"] / max(r["ok"], 1) * 1e6
                res[name].append((us, r["rate"], r["errors"], r["worker_cpu"], r["worker_accepted"]))
                print("%-22s %6.1f us/login  %6.0f logins/s  errors %d  worker CPU %s  accepted %s" % (
                    name, us, r["rate"], r["errors"], ["%.2f" % c for c in r["worker_cpu"]],
                    r["worker_accepted"]), flush=True)
    finally:
        for p in reversed(b.started):
            p.stop()
        shutil.rmtree(b.tmp, ignore_errors=True)
    ng = bl.median([x[0] for x in res["nginx"]])
    # The box drifts between rounds more than the proxies differ within one, so
    # the paired figure (each round's ratio to that round's nginx) is the steadier.
    print("\n| proxy (%d workers, affinity auto) | CPU per IMAP login (median of %d) | / nginx "
          "| / nginx, paired: median (range) | logins/s |" % (a.workers, a.rounds))
    print("|---|---:|---:|---:|---:|")
    for name, _, _, _ in systems:
        us = bl.median([x[0] for x in res[name]])
        paired = [x[0] / n[0] for x, n in zip(res[name], res["nginx"])]
        print("| %s | %.1f us | %.2f | %.2f (%.2f-%.2f) | %.0f |" % (
            name, us, us / ng, bl.median(paired), min(paired), max(paired),
            bl.median([x[1] for x in res[name]])))


if __name__ == "__main__":
    main()
