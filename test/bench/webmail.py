"""The webmail pattern, for run.py: 200 users logging in again and again (a
webmail opens a new IMAP session per click), through nginx, mailproxy as
nginx is configured, and mailproxy with auth_http_cache. Logins/s, the auth
requests each run made (counted by the case's own fakeauth, GET /stats), the
proxy CPU per login, and the cache's hits and misses from `mailproxy -s
status`. The load is 13 loadgen processes at once, each cycling through 16
of the 200 users (loadgen takes at most 16 --user), each login a new
connection; every loop is bounded by a count and by seconds."""

import os

import benchlib as bl

PASSWORD = "webmail-pass"
USERS = ["wm%03d" % i for i in range(200)]
PER_GEN = 16                   # loadgen's --user limit
CACHE = '  auth_http_cache: "shared:authc:10m valid=60s invalid=10s"\n'
SYSTEMS = (("nginx", "nginx", ""), ("mailproxy", "mailproxy", ""),
           ("mailproxy+cache", "mailproxy", CACHE))


def attempts(r):
    return r["ok"] + r["refused"] + r["errors"] + r["aborted"]


class Webmail:
    def __init__(self, b):
        self.b = b
        self.n = 6000 if b.a.quick else 20000
        self.conc = 48

    def start_auth(self):
        b = self.b
        self.auth_port = bl.free_ports(1)[0]
        ports = b.backend_ports
        self.auth = bl.Proc([os.path.join(b.tools, "fakeauth"), "--listen",
                             "127.0.0.1:%d" % self.auth_port,
                             "--imap", "127.0.0.1:%d" % ports["imap"],
                             "--pop3", "127.0.0.1:%d" % ports["pop3"],
                             "--smtp", "127.0.0.1:%d" % ports["smtp"],
                             "--require-pass", PASSWORD],
                            os.path.join(b.tmp, "webmail-auth.log"), ready="listening")

    def load(self, px):
        """One run: every user logs in again and again, the whole load split
        over the generators; the merged result."""
        b = self.b
        groups = [USERS[i:i + PER_GEN] for i in range(0, len(USERS), PER_GEN)]
        per = self.n // len(groups)
        started = []
        try:
            for i, g in enumerate(groups):
                a = ["--mode", "login", "--proto", "imap",
                     "--target", "127.0.0.1:%d" % px.ports["imap"], "--pass", PASSWORD,
                     "--count", per, "--concurrency", max(1, self.conc // len(groups)),
                     "--seconds", 60, "--timeout", 10]
                for u in g:
                    a += ["--user", u]
                started.append(bl.loadgen_start(b.tools, a, os.path.join(
                    b.tmp, "webmail-%s-%d.log" % (px.name, i))))
            res = [bl.loadgen_result(p, 90) for p in started]
        finally:
            for p in started:
                p.stop()
        out = {k: sum(r[k] for r in res) for k in ("ok", "refused", "errors", "aborted")}
        out["seconds"] = max(r["seconds"] for r in res)
        out["p50_ms"] = bl.median([r["p50_ms"] for r in res])
        out["first_error"] = next((r["first_error"] for r in res if r["first_error"]), "")
        return out

    def one(self, name, kind, extra):
        b = self.b
        px = bl.Proxy(name, kind, os.path.join(b.tmp, "webmail-" + name))
        try:
            bl.start_proxy(px, b.bin, "127.0.0.1:%d/auth" % self.auth_port, b.cert, b.key,
                           extra=extra, workers=2)
            procs = px.pids()
            s0, c0 = bl.auth_stats(self.auth_port), bl.cpu_seconds(procs)
            r = self.load(px)
            s1, c1 = bl.auth_stats(self.auth_port), bl.cpu_seconds(procs)
            r["auth"] = s1["requests"] - s0["requests"]
            r["cpu_us"] = (c1 - c0) / max(r["ok"], 1) * 1e6
            r["rate"] = r["ok"] / max(r["seconds"], 1e-9)
            if extra:
                st = bl.mailproxy_status(b.bin, px.conf)["auth_http_caches"]["authc"]
                r["cache"] = {k: st[k] for k in ("hits", "misses", "entries", "evictions")}
            return r
        finally:
            px.stop()

    def run(self):
        b = self.b
        res = {name: [] for name, _, _ in SYSTEMS}
        self.start_auth()
        try:
            for _ in range(b.a.rounds):
                for name, kind, extra in SYSTEMS:
                    res[name].append(self.one(name, kind, extra))
        finally:
            self.auth.stop()
        self.report(res)

    def report(self, res):
        b = self.b

        def med(fn):
            return {k: bl.median([fn(r) for r in v]) for k, v in res.items()}

        def add(metric, unit, vals, better="higher"):
            b.add("webmail", metric, unit, vals, better=better, third="mailproxy+cache")

        add("webmail: IMAP logins/s, 200 users again and again", "/s", med(lambda r: r["rate"]))
        add("webmail: auth requests per 1000 logins", "",
            med(lambda r: 1000.0 * r["auth"] / max(attempts(r), 1)), better="lower")
        add("webmail: login p50", "ms", med(lambda r: r["p50_ms"]), better="lower")
        add("webmail: proxy CPU per login", "us", med(lambda r: r["cpu_us"]), better="lower")
        b.notes.append(
            "webmail: %d users (%s..%s, one password), %d IMAP logins per run, %d at once, "
            "each a new connection (LOGIN, backend OK, LOGOUT), from %d loadgen processes of "
            "%d users each; its own fakeauth --require-pass counts the auth requests. "
            "mailproxy+cache: %s" % (len(USERS), USERS[0], USERS[-1], self.n, self.conc,
                                     -(-len(USERS) // PER_GEN), PER_GEN, CACHE.strip()))
        for name, runs in res.items():
            for i, r in enumerate(runs):
                b.notes.append(
                    "webmail raw, %s round %d: %d logins OK of %d in %.2f s (%.0f/s), refused "
                    "%d, errors %d, aborted %d; auth requests %d; proxy CPU %.1f us per login%s%s"
                    % (name, i + 1, r["ok"], attempts(r), r["seconds"], r["rate"],
                       r["refused"], r["errors"], r["aborted"], r["auth"], r["cpu_us"],
                       "; cache %s" % ", ".join("%s %d" % kv for kv in r["cache"].items())
                       if "cache" in r else "",
                       "; first error: %s" % r["first_error"] if r["first_error"] else ""))


def bench_webmail(b):
    Webmail(b).run()
