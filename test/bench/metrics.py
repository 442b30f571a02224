"""The status endpoint's and the access log's cost, for run.py: IMAP logins/s through
mailproxy without status_listen or access_log, and with both while a client GETs
/metrics every second (as a Prometheus scrape_interval of 1s would) and every session
writes its access log line, the same load otherwise. The scrapes are counted, and
each must have answered 200."""

import os
import threading
import time
import urllib.request

import benchlib as bl


def scraper(port, stop, out):
    """GET /metrics once a second until stop; out gets (ok, failed, seconds spent)."""
    ok = failed = 0
    spent = 0.0
    while not stop.wait(1.0):
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
                r.read()
                ok += r.status == 200
        except OSError:
            failed += 1
        spent += time.monotonic() - t0
    out.extend([ok, failed, spent])


def bench_metrics(b):
    # Long enough for tens of scrapes at a few thousand logins/s.
    n = 8000 if b.a.quick else 60000
    rates = {"mailproxy": [], "mailproxy+scrape+log": []}
    cpu = {"mailproxy": [], "mailproxy+scrape+log": []}
    scrapes = []
    for _ in range(b.a.rounds):
        for name in ("mailproxy", "mailproxy+scrape+log"):
            px = bl.Proxy(name, "mailproxy", "%s/metrics-%s" % (b.tmp, name))
            sport = bl.free_ports(1)[0]
            main = "status_listen: 127.0.0.1:%d\n" % sport if name != "mailproxy" else ""
            # The operator's set-up: /metrics scraped and one access log line per session.
            extra = '  access_log: "%s"\n' % os.path.join(px.dir, "access.log") if main else ""
            bl.start_proxy(px, b.bin, b.auth_url, b.cert, b.key, main=main, extra=extra)
            try:
                stop, res = threading.Event(), []
                t = None
                if main:
                    bl.wait_port(sport)
                    t = threading.Thread(target=scraper, args=(sport, stop, res), daemon=True)
                    t.start()
                c0 = bl.cpu_seconds(px.pids())
                r = bl.loadgen(b.tools, ["--mode", "login", "--proto", "imap",
                                         "--target", "127.0.0.1:%d" % px.ports["imap"],
                                         "--count", n, "--concurrency", 50, "--seconds", 60],
                               timeout=90)
                cpu[name].append((bl.cpu_seconds(px.pids()) - c0) / max(r["ok"], 1) * 1e6)
                stop.set()
                if t is not None:
                    t.join(10)
                    scrapes.append(res)
                if r["errors"]:
                    b.notes.append("metrics bench, %s: %d login errors (%s)" % (
                        name, r["errors"], r["first_error"]))
                rates[name].append(r["rate"])
            finally:
                px.stop()
    b.add("metrics", "IMAP logins/s", "/s", {k: bl.median(v) for k, v in rates.items()},
          third="mailproxy+scrape+log")
    b.add("metrics", "IMAP proxy CPU per login", "us", {k: bl.median(v) for k, v in cpu.items()},
          better="lower", third="mailproxy+scrape+log")
    off, on = bl.median(rates["mailproxy"]), bl.median(rates["mailproxy+scrape+log"])
    ok = sum(s[0] for s in scrapes if s)
    failed = sum(s[1] for s in scrapes if s)
    spent = sum(s[2] for s in scrapes if s)
    b.notes.append("status endpoint and access log: IMAP logins/s with /metrics scraped every "
                   "second and access_log on / with neither: %.3f (%d scrapes answered, "
                   "%d failed, %.1f ms each on average)"
                   % (on / off if off else 0, ok, failed, 1000 * spent / max(ok + failed, 1)))
