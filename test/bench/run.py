#!/usr/bin/env python3
"""`make bench`: nginx's mail proxy and mailproxy side by side, same machine,
same run, alternating, with the same workers, auth service (build/bench/fakeauth)
and backend (build/bench/fakebackend). Prints one table of mailproxy/nginx
ratios with the absolute figures behind them, and writes it as Markdown and a
PNG chart (gnuplot) under test/bench/results/.

    python3 test/bench/run.py --bin ./mailproxy --tools build/bench [--rounds 3] [--quick]

Every figure is the median of --rounds rounds; the proxies alternate within a
round. Load loops are bounded in count and seconds; only loopback is used.
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import benchmem  # noqa: E402
import metrics  # noqa: E402
import scaling  # noqa: E402
import sieve  # noqa: E402
import spread  # noqa: E402
import stuffing  # noqa: E402
import webmail  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


class Bench:
    def __init__(self, args):
        self.a = args
        self.tools = os.path.abspath(args.tools)
        self.bin = os.path.abspath(args.bin)
        self.tmp = tempfile.mkdtemp(prefix="mailproxy-bench-")
        self.rows = []          # (section, metric, unit, nginx, mailproxy, third, better, fourth)
        # Sections whose third column is not mailproxy + auth_http_keepalive get a
        # table of their own: section -> that column's heading.
        self.third = {"stuffing": "mailproxy + login limits", "webmail": "mailproxy + auth_http_cache",
                      "metrics": "mailproxy + /metrics scraped every second + access_log"}
        # ... and those with a fourth column: section -> its heading.
        self.fourth = {"stuffing": "mailproxy + login limits + Redis (login_limit_store)"}
        # Sections with only the nginx and mailproxy columns (a table of their own).
        self.two = {"scaling", "spread"}
        self.notes = []
        self.started = []
        subprocess.run([os.path.join(REPO, "scripts", "gen-cert.sh"), self.tmp, "cert"], check=True)
        self.cert = os.path.join(self.tmp, "cert.pem")
        self.key = os.path.join(self.tmp, "cert.key")

    # -- peers
    def start_peers(self):
        bi, bp, bs, ba = bl.free_ports(4)
        self.backend = bl.Proc([os.path.join(self.tools, "fakebackend"), "--literal-plus",
                                "--imap", "127.0.0.1:%d" % bi, "--pop3", "127.0.0.1:%d" % bp,
                                "--smtp", "127.0.0.1:%d" % bs],
                               os.path.join(self.tmp, "fakebackend.log"), ready="ready")
        self.started.append(self.backend)
        self.auth = bl.Proc([os.path.join(self.tools, "fakeauth"), "--listen", "127.0.0.1:%d" % ba,
                             "--imap", "127.0.0.1:%d" % bi, "--pop3", "127.0.0.1:%d" % bp,
                             "--smtp", "127.0.0.1:%d" % bs],
                            os.path.join(self.tmp, "fakeauth.log"), ready="listening")
        self.started.append(self.auth)
        self.auth_url = "127.0.0.1:%d/auth" % ba
        self.backend_ports = {"imap": bi, "pop3": bp, "smtp": bs}

    def proxies(self):
        """The systems compared: nginx, mailproxy as nginx is configured, and
        mailproxy with its auth_http_keepalive."""
        out = []
        for name, kind, ka in (("nginx", "nginx", 0), ("mailproxy", "mailproxy", 0),
                               ("mailproxy+ka", "mailproxy", 32)):
            px = bl.Proxy(name, kind, os.path.join(self.tmp, name))
            px.keepalive = ka
            out.append(px)
        return out

    def with_proxy(self, px, fn, **kw):
        if self.a.access_log and px.kind == "mailproxy":
            # README "Access log": the predefined format, one write(2) per session
            kw["extra"] = kw.get("extra", "") + '  access_log: "%s"\n' % (
                self.a.access_log if self.a.access_log != "on" else
                os.path.join(px.dir, "access.log"))
        bl.start_proxy(px, self.bin, self.auth_url, self.cert, self.key,
                       keepalive=px.keepalive, **kw)
        try:
            return fn(px)
        finally:
            px.stop()

    def add(self, section, metric, unit, vals, better="higher", third="mailproxy+ka",
            fourth=None):
        self.rows.append((section, metric, unit, vals.get("nginx"), vals.get("mailproxy"),
                          vals.get(third), better, vals.get(fourth) if fourth else None))

    # -- login handoffs
    def bench_logins(self):
        n = 8000 if self.a.quick else 20000
        for proto in ("imap", "pop3", "smtp"):
            res = {px.name: [] for px in self.proxies()}
            auth_share = []
            for _ in range(self.a.rounds):
                for px in self.proxies():
                    def run(px):
                        procs = px.pids()
                        c0 = bl.cpu_seconds(procs)
                        a0 = bl.cpu_seconds([self.auth.pid])
                        b0 = bl.cpu_seconds([self.backend.pid])
                        r = bl.loadgen(self.tools, ["--mode", "login", "--proto", proto,
                                                    "--target", "127.0.0.1:%d" % px.ports[proto],
                                                    "--count", n, "--concurrency", 50,
                                                    "--seconds", 60], timeout=90)
                        cpu = bl.cpu_seconds(procs) - c0
                        acpu = bl.cpu_seconds([self.auth.pid]) - a0
                        bcpu = bl.cpu_seconds([self.backend.pid]) - b0
                        r["proxy_cpu_us"] = cpu / max(r["ok"], 1) * 1e6
                        r["auth_share"] = acpu / max(cpu + acpu + bcpu, 1e-9)
                        return r
                    r = self.with_proxy(px, run)
                    if r["errors"]:
                        self.notes.append("%s %s logins: %d errors (%s)" % (
                            px.name, proto, r["errors"], r["first_error"]))
                    res[px.name].append(r)
                    auth_share.append(r["auth_share"])
            med = {k: {f: bl.median([x[f] for x in v]) for f in
                       ("rate", "p50_ms", "p99_ms", "proxy_cpu_us")} for k, v in res.items()}
            self.add("logins", "%s logins/s" % proto.upper(), "/s",
                     {k: v["rate"] for k, v in med.items()})
            self.add("logins", "%s login p50" % proto.upper(), "ms",
                     {k: v["p50_ms"] for k, v in med.items()}, better="lower")
            self.add("logins", "%s login p99" % proto.upper(), "ms",
                     {k: v["p99_ms"] for k, v in med.items()}, better="lower")
            self.add("logins", "%s proxy CPU per login" % proto.upper(), "us",
                     {k: v["proxy_cpu_us"] for k, v in med.items()}, better="lower")
            self.notes.append("auth service CPU share during %s logins: median %.0f%% of the "
                              "proxy+auth+backend CPU" % (proto.upper(), 100 * bl.median(auth_share)))

    # -- TLS handshakes
    def bench_tls(self):
        n_full = 1000 if self.a.quick else 2000
        n_res = 2000 if self.a.quick else 5000
        for ver in ("1.3", "1.2"):
            for label, port_key in (("tickets on", "imaps"), ("tickets off", "imapsnt")):
                for resume in (False, True):
                    self.tls_case(ver, label, port_key, resume, n_res if resume else n_full)

    def tls_case(self, ver, label, port_key, resume, n):
        res = {px.name: [] for px in self.proxies() if px.name != "mailproxy+ka"}
        for _ in range(self.a.rounds):
            for px in self.proxies():
                if px.name == "mailproxy+ka":
                    continue
                def run(px):
                    a = ["--mode", "tls", "--tls", "--tls-version", ver, "--target",
                         "127.0.0.1:%d" % px.ports[port_key], "--count", n,
                         "--concurrency", 20, "--seconds", 60]
                    if resume:
                        a += ["--resume", "--tickets", "on" if port_key == "imaps" else "off"]
                    procs = px.pids()
                    c0 = bl.cpu_seconds(procs)
                    r = bl.loadgen(self.tools, a, timeout=90)
                    r["proxy_cpu_us"] = (bl.cpu_seconds(procs) - c0) / max(r["ok"], 1) * 1e6
                    return r
                res[px.name].append(self.with_proxy(px, run))
        what = "TLS %s %s (%s)" % (ver, "resumed" if resume else "full", label)
        self.add("tls", "handshakes/s, " + what, "/s",
                 {k: bl.median([x["rate"] for x in v]) for k, v in res.items()})
        self.add("tls", "proxy CPU per handshake, " + what, "us",
                 {k: bl.median([x["proxy_cpu_us"] for x in v]) for k, v in res.items()},
                 better="lower")
        self.add("tls", "connect to greeting p50, " + what, "ms",
                 {k: bl.median([x["p50_ms"] for x in v]) for k, v in res.items()},
                 better="lower")
        if resume:
            self.add("tls", "resumption hit rate, TLS %s (%s, 2 workers)" % (ver, label), "%",
                     {k: 100 * bl.median([x["resume_rate"] for x in v])
                      for k, v in res.items()})

    # -- relay throughput
    def bench_stream(self):
        # 4 streams run for about a tenth of a second, where /proc's CPU ticks
        # are coarse; 16 streams run long enough for the CPU figure to settle.
        for streams in (4, 16):
            self.stream_case(streams, "64m")

    def stream_case(self, streams, size):
        res = {"direct": [], "nginx": [], "mailproxy": []}
        cpu = {"nginx": [], "mailproxy": []}
        box = {"direct": [], "nginx": [], "mailproxy": []}   # whole machine, s per GB
        args = ["--mode", "stream", "--streams", streams, "--bytes", size, "--seconds", 60]
        for _ in range(self.a.rounds):
            b0 = bl.box_cpu_seconds()
            r = bl.loadgen(self.tools, args + ["--target",
                                               "127.0.0.1:%d" % self.backend_ports["imap"]],
                           timeout=90)
            box["direct"].append((bl.box_cpu_seconds() - b0) / (r["bytes"] / 1e9))
            res["direct"].append(r["mbps"])
            for px in self.proxies():
                if px.name == "mailproxy+ka":
                    continue

                def run(px):
                    procs = px.pids()
                    c0, b0 = bl.cpu_seconds(procs), bl.box_cpu_seconds()
                    r = bl.loadgen(self.tools, args + ["--target", "127.0.0.1:%d" % px.ports["imap"]],
                                   timeout=90)
                    gb = r["bytes"] / 1e9
                    r["cpu_per_gb"] = (bl.cpu_seconds(procs) - c0) / gb
                    r["box_per_gb"] = (bl.box_cpu_seconds() - b0) / gb
                    return r
                r = self.with_proxy(px, run)
                res[px.name].append(r["mbps"])
                cpu[px.name].append(r["cpu_per_gb"])
                box[px.name].append(r["box_per_gb"])
        what = "%d x %s streams" % (streams, size)
        direct = bl.median(res["direct"])
        self.add("relay", "throughput, " + what, "MB/s",
                 {"nginx": bl.median(res["nginx"]), "mailproxy": bl.median(res["mailproxy"])})
        self.add("relay", "proxy CPU per GB, " + what, "s",
                 {k: bl.median(v) for k, v in cpu.items()}, better="lower")
        self.notes.append("%s direct (load generator straight to the backend): %.0f MB/s; "
                          "mailproxy reaches %.2f of it" % (
                              what, direct, bl.median(res["mailproxy"]) / direct))
        # Why not 0.9 of direct: with every CPU busy, throughput follows the whole
        # machine's CPU per GB, and the proxy's hop adds a second loopback TCP trip.
        self.notes.append("%s, CPU of the whole machine per GB moved: direct %.2f s, through "
                          "nginx %.2f s, through mailproxy %.2f s (of which mailproxy's own "
                          "%.2f s)" % (what, bl.median(box["direct"]), bl.median(box["nginx"]),
                                       bl.median(box["mailproxy"]),
                                       bl.median(cpu["mailproxy"])))

    def run(self):
        t0 = time.monotonic()
        self.start_peers()
        try:
            steps = [("logins", self.bench_logins), ("tls", self.bench_tls),
                     ("relay", self.bench_stream), ("memory", lambda: benchmem.bench_memory(self)),
                     ("max sessions", lambda: benchmem.bench_max(self)),
                     ("stuffing", lambda: stuffing.bench_stuffing(self)),
                     ("webmail", lambda: webmail.bench_webmail(self)),
                     ("scaling", lambda: scaling.bench_scaling(self)),
                     ("spread", lambda: spread.bench_spread(self)),
                     ("metrics", lambda: metrics.bench_metrics(self)),
                     ("sieve", lambda: sieve.bench_sieve(self))]
            for name, fn in steps:
                if self.a.only and name not in self.a.only:
                    continue
                s = time.monotonic()
                print("bench: %s ..." % name, flush=True)
                fn()
                print("bench: %s done in %.0f s" % (name, time.monotonic() - s), flush=True)
        finally:
            for p in reversed(self.started):
                p.stop()
        self.seconds = time.monotonic() - t0
        self.report()

    # -- output
    def report(self):
        lines = []
        cpu = ""
        try:
            with open("/proc/cpuinfo") as f:
                cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
        except (OSError, StopIteration):
            pass
        nginx_v = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
        lines.append("Benchmark of %s, %d rounds each (median), %s, %d CPUs, %s; %s; "
                     "total %.0f s." % (time.strftime("%Y-%m-%d"), self.a.rounds, cpu,
                                        os.cpu_count(), platform.release(), nginx_v, self.seconds))
        tables = [("mailproxy + auth_http_keepalive", None,
                   [r for r in self.rows if r[0] not in self.third and r[0] not in self.two])]
        tables += [(None, None, [r for r in self.rows if r[0] == sec]) for sec in sorted(self.two)]
        tables += [(head, self.fourth.get(sec), [r for r in self.rows if r[0] == sec])
                   for sec, head in self.third.items()]
        for head, head4, rows in tables:
            if not rows:
                continue
            lines.append("")
            if head is None:
                lines.append("| metric | nginx | mailproxy | ratio |")
                lines.append("|---|---:|---:|---:|")
            elif head4:
                lines.append("| metric | nginx | mailproxy | ratio | %s | ratio | %s | ratio |"
                             % (head, head4))
                lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
            else:
                lines.append("| metric | nginx | mailproxy | ratio | %s | ratio |" % head)
                lines.append("|---|---:|---:|---:|---:|---:|")
            for sec, metric, unit, ng, mp, mpk, better, mp4 in rows:
                def fmt(v):
                    if v is None:
                        return "—"
                    return ("%.0f" % v if abs(v) >= 100 else "%.2f" % v) + " " + unit

                def ratio(v):
                    if v is None or not ng:
                        return "—"
                    return "%.2f" % (v / ng)
                line = "| %s (%s is better) | %s | %s | %s | %s | %s |" % (
                    metric, better, fmt(ng), fmt(mp), ratio(mp), fmt(mpk), ratio(mpk))
                if head is None:
                    line = "| %s (%s is better) | %s | %s | %s |" % (
                        metric, better, fmt(ng), fmt(mp), ratio(mp))
                elif head4:
                    line += " %s | %s |" % (fmt(mp4), ratio(mp4))
                lines.append(line)
        lines.append("")
        for n in self.notes:
            lines.append("- " + n)
        text = "\n".join(lines) + "\n"
        print()
        print(text)
        out = os.path.abspath(self.a.out)
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "results.md"), "w") as f:
            f.write(text)
        self.chart(out)

    def chart(self, out):
        gp = shutil.which("gnuplot")
        data = os.path.join(out, "ratios.dat")

        def ratio(v, ng, better):
            if not v or not ng:
                return "?"
            return "%.3f" % (v / ng if better == "higher" else ng / v)
        with open(data, "w") as f:
            for sec, metric, unit, ng, mp, mpk, better, _ in self.rows:
                if sec in self.third or sec in self.two:
                    continue    # its third column is not the chart's (or it has none)
                if ng and mp and unit in ("/s", "MB/s", "us", "s", "B"):
                    label = metric.replace('"', "'").replace(" (tickets ", " (t. ")
                    label = label.replace("PSS per idle session", "idle PSS")
                    if " workers)" in label:
                        label = label[:label.rindex(" (")]
                    f.write('"%s" %s %s\n' % (label, ratio(mp, ng, better),
                                              ratio(mpk, ng, better)))
        if gp is None:
            self.notes.append("gnuplot not found: no chart")
            return
        png = os.path.join(out, "ratios.png")
        script = """set terminal png size 1200,760 noenhanced
set rmargin 10
set output '%s'
set title 'mailproxy vs nginx, same machine, same run (above 1 = mailproxy better; log scale)'
set datafile missing '?'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.7
set logscale y 2
set yrange [0.25:32]
set bmargin 16
set key top left
set xtics rotate by -40 left font ',8'
set grid ytics
plot '%s' using 2:xtic(1) title 'mailproxy', '' using 3 title 'mailproxy + auth_http_keepalive', \\
     1 with lines lc rgb 'red' title 'nginx = 1'
""" % (png, data)
        subprocess.run([gp], input=script, text=True, capture_output=True, timeout=30)
        print("bench: wrote %s and %s" % (os.path.join(out, "results.md"), png))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(REPO, "mailproxy"))
    ap.add_argument("--tools", default=os.path.join(REPO, "build", "bench"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smaller counts (a quick look)")
    ap.add_argument("--only", action="append",
                    help="logins, tls, relay, memory, max sessions, stuffing, webmail, scaling, "
                         "spread, metrics, sieve")
    ap.add_argument("--workers", default="1,2",
                    help="scaling: worker counts to compare, e.g. 1,2,4 on a bigger box (1,2)")
    ap.add_argument("--proxy-cpus", default=None,
                    help="scaling: start the proxies on these CPUs (taskset -c LIST, e.g. 0-7), "
                         "so that worker_cpu_affinity auto binds among them; run run.py itself "
                         "under taskset on other CPUs to keep the tools apart")
    ap.add_argument("--access-log", default=None, metavar="on|PATH[ FORMAT buffer=...]",
                    help="mailproxy writes an access log (on: PROXYDIR/access.log, combined), "
                         "to compare logins/s with it against a run without")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    b = Bench(args)
    try:
        b.run()
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
