"""Credential stuffing, for run.py: thousands of wrong-password logins from
many loopback addresses against a few accounts, mixed with honest logins,
through nginx (no limits), mailproxy without limits and mailproxy with its
failed-login limits (benchlib.STUFFING_LIMITS). Then what a refused login
costs against a failed one, and whether limits that never trigger slow the
honest logins down. The case has an auth service of its own (fakeauth
--require-pass) whose /stats counts the auth requests each run made."""

import os
import time

import benchlib as bl

RIGHT = "right-pass"           # the only password fakeauth accepts here
WRONG = "guess-123456"         # the attackers'
ACCOUNTS = ("alice", "bob", "carol", "dave")
ATTACKERS = ["127.0.1.%d" % i for i in range(1, 201)]   # 200 source addresses
KNOWN = "127.0.0.5"            # honest client that logged in from here before the attack
NEW = "127.0.0.6"              # honest client logging in from here for the first time, mid-attack
ATTACK_RATE = 4000             # attacker logins offered per second
KNOWN_RATE = 200               # honest logins per second, as alice (an attacked account)
NEW_RATE = 50                  # first logins per second, as bob (an attacked account)
NEW_DELAY = 0.5                # the new client starts this long after the attack
SYSTEMS = (("nginx", "nginx", ""), ("mailproxy", "mailproxy", ""),
           ("mailproxy+limits", "mailproxy", bl.STUFFING_LIMITS))


def attack_args(port, count, conc, rate=None):
    a = ["--mode", "login", "--proto", "imap", "--target", "127.0.0.1:%d" % port,
         "--pass", WRONG, "--refusals", "--count", count, "--concurrency", conc,
         "--seconds", 30, "--timeout", 10]
    for u in ACCOUNTS:
        a += ["--user", u]
    for ip in ATTACKERS:
        a += ["--bind", ip]
    if rate:
        a += ["--rate", rate]
    return a


def honest_args(port, bind, user, rate, seconds):
    return ["--mode", "login", "--proto", "imap", "--target", "127.0.0.1:%d" % port,
            "--bind", bind, "--user", user, "--pass", RIGHT, "--refusals",
            "--count", max(1, int(rate * seconds)), "--rate", rate, "--concurrency", 20,
            "--seconds", seconds + 10]


def attempts(r):
    return r["ok"] + r["refused"] + r["errors"] + r["aborted"]


def ok_pct(r):
    return 100.0 * r["ok"] / max(attempts(r), 1)


class Stuffing:
    def __init__(self, b):
        self.b = b
        self.quick = b.a.quick
        self.dur = 2.0 if self.quick else 3.0
        self.n_fast = 5000 if self.quick else 10000     # unpaced attack: CPU per login
        self.n_honest = 5000 if self.quick else 10000   # limits never triggered
        # limits never triggered: 6 alternations of no limits / limits in all,
        # spread over the rounds (a few per cent is the question, on a shared box)
        self.pairs = max(1, -(-6 // b.a.rounds))

    def start_auth(self):
        b = self.b
        self.auth_port = bl.free_ports(1)[0]
        ports = b.backend_ports
        self.auth = bl.Proc([os.path.join(b.tools, "fakeauth"), "--listen",
                             "127.0.0.1:%d" % self.auth_port,
                             "--imap", "127.0.0.1:%d" % ports["imap"],
                             "--pop3", "127.0.0.1:%d" % ports["pop3"],
                             "--smtp", "127.0.0.1:%d" % ports["smtp"],
                             "--require-pass", RIGHT],
                            os.path.join(b.tmp, "stuffing-auth.log"), ready="listening")

    def proxy(self, name, kind, extra, fn):
        b = self.b
        px = bl.Proxy(name, kind, os.path.join(b.tmp, "stuffing-" + name))
        bl.start_proxy(px, b.bin, "127.0.0.1:%d/auth" % self.auth_port, b.cert, b.key,
                       extra=extra)
        try:
            return fn(px)
        finally:
            px.stop()

    def attack(self, px):
        """The mixed run, then (same proxy, accounts now blocked if limited)
        the unpaced attack that measures CPU per attacker login."""
        b, port = self.b, px.ports["imap"]
        tmp = os.path.join(b.tmp, "stuffing-" + px.name)
        warm = bl.loadgen(b.tools, honest_args(port, KNOWN, ACCOUNTS[0], 1, 1), timeout=30)
        procs = px.pids()
        s0, c0 = bl.auth_stats(self.auth_port), bl.cpu_seconds(procs)
        att = bl.loadgen_start(b.tools, attack_args(port, int(ATTACK_RATE * self.dur), 100,
                                                    ATTACK_RATE), tmp + "-attack.log")
        known = bl.loadgen_start(b.tools, honest_args(port, KNOWN, ACCOUNTS[0], KNOWN_RATE,
                                                      self.dur), tmp + "-known.log")
        time.sleep(NEW_DELAY)
        new = bl.loadgen_start(b.tools, honest_args(port, NEW, ACCOUNTS[1], NEW_RATE,
                                                    self.dur - NEW_DELAY), tmp + "-new.log")
        r = {"attack": bl.loadgen_result(att, 60), "known": bl.loadgen_result(known, 60),
             "new": bl.loadgen_result(new, 60)}
        s1, c1 = bl.auth_stats(self.auth_port), bl.cpu_seconds(procs)
        r["warm"] = warm["ok"]
        r["cpu"] = c1 - c0
        r["auth_fail"] = s1["fail"] - s0["fail"]
        r["auth_ok"] = s1["ok"] - s0["ok"]
        n = attempts(r["attack"]) + attempts(r["known"]) + attempts(r["new"])
        r["cpu_us"] = r["cpu"] / max(n, 1) * 1e6
        # Full speed, attackers alone: each login fails at the auth service
        # (no limits) or is refused by the limits (every account is blocked by now).
        c0, s0 = bl.cpu_seconds(procs), bl.auth_stats(self.auth_port)
        f = bl.loadgen(b.tools, attack_args(port, self.n_fast, 50), timeout=60)
        r["fast"] = f
        r["fast_cpu_us"] = (bl.cpu_seconds(procs) - c0) / max(attempts(f), 1) * 1e6
        r["fast_auth"] = bl.auth_stats(self.auth_port)["requests"] - s0["requests"]
        return r

    def honest(self, px):
        """Honest logins only, at full speed, as the logins section."""
        procs = px.pids()
        c0, u0 = bl.cpu_seconds(procs), bl.user_cpu_seconds(procs)
        r = bl.loadgen(self.b.tools, ["--mode", "login", "--proto", "imap", "--target",
                                      "127.0.0.1:%d" % px.ports["imap"], "--pass", RIGHT,
                                      "--count", self.n_honest, "--concurrency", 50,
                                      "--seconds", 60], timeout=90)
        r["cpu_us"] = (bl.cpu_seconds(procs) - c0) / max(r["ok"], 1) * 1e6
        r["user_us"] = (bl.user_cpu_seconds(procs) - u0) / max(r["ok"], 1) * 1e6
        return r

    def run(self):
        b = self.b
        mixed = {name: [] for name, _, _ in SYSTEMS}
        honest = {name: [] for name, _, _ in SYSTEMS}
        self.start_auth()
        try:
            for _ in range(b.a.rounds):
                for name, kind, extra in SYSTEMS:
                    mixed[name].append(self.proxy(name, kind, extra, self.attack))
                # limits configured but never triggered against none, alternating
                for name, kind, extra in SYSTEMS[:1] + SYSTEMS[1:] * self.pairs:
                    honest[name].append(self.proxy(name, kind, extra, self.honest))
        finally:
            self.auth.stop()
        self.report(mixed, honest)

    def report(self, mixed, honest):
        b = self.b

        def med(d, fn):
            return {k: bl.median([fn(r) for r in v]) for k, v in d.items()}

        def add(metric, unit, vals, better="higher"):
            b.add("stuffing", metric, unit, vals, better=better, third="mailproxy+limits")

        add("stuffing: auth requests per 1000 attacker logins", "",
            med(mixed, lambda r: 1000.0 * r["auth_fail"] / max(attempts(r["attack"]), 1)),
            better="lower")
        add("stuffing: honest logins OK, client known to its address", "%",
            med(mixed, lambda r: ok_pct(r["known"])))
        add("stuffing: honest logins OK, first login from a new address", "%",
            med(mixed, lambda r: ok_pct(r["new"])))
        add("stuffing: honest login p50 (known client)", "ms",
            med(mixed, lambda r: r["known"]["p50_ms"]), better="lower")
        add("stuffing: honest login p99 (known client)", "ms",
            med(mixed, lambda r: r["known"]["p99_ms"]), better="lower")
        add("stuffing: proxy CPU per login during the attack", "us",
            med(mixed, lambda r: r["cpu_us"]), better="lower")
        add("proxy CPU per attacker login at full speed: failed (auth refuses) / "
            "with limits refused (no auth request)", "us",
            med(mixed, lambda r: r["fast_cpu_us"]), better="lower")
        add("honest IMAP logins/s, limits configured, never triggered", "/s",
            med(honest, lambda r: r["rate"]))
        add("honest login p50, limits never triggered", "ms",
            med(honest, lambda r: r["p50_ms"]), better="lower")
        add("proxy CPU per honest login, limits never triggered", "us",
            med(honest, lambda r: r["cpu_us"]), better="lower")

        b.notes.append(
            "stuffing: %d attacker addresses (127.0.1.1-127.0.1.%d) guess wrong passwords for "
            "%d accounts (%s), %d logins/s offered for %.0f s, 100 at once, one guess per "
            "connection; meanwhile an honest client that logged in from %s before the attack "
            "logs in as %s (%d/s), and from %.1f s on a client new to %s logs in as %s "
            "(%d/s). Limits (mailproxy+limits): %s; tarpit 0 so that refusals keep the "
            "attack's full rate (a tarpit holds the attacker's session open and only slows "
            "an attacker that waits for its answer). The auth service refuses wrong "
            "passwords with Auth-Wait: 0. No Redis column: shared counters through Redis "
            "are not implemented." % (
                len(ATTACKERS), len(ATTACKERS), len(ACCOUNTS), ", ".join(ACCOUNTS),
                ATTACK_RATE, self.dur, KNOWN, ACCOUNTS[0], KNOWN_RATE, NEW_DELAY, NEW,
                ACCOUNTS[1], NEW_RATE,
                "; ".join(l.strip() for l in bl.STUFFING_LIMITS.splitlines()[1:-1])))
        for name, runs in mixed.items():
            for i, r in enumerate(runs):
                a, k, n = r["attack"], r["known"], r["new"]
                b.notes.append(
                    "stuffing raw, %s round %d: attacker logins %d in %.2f s (%.0f/s): OK %d, "
                    "NO %d, NO [UNAVAILABLE] %d, errors %d, aborted %d; auth requests: %d "
                    "refused (attackers) + %d OK (honest), saved %d of %d (%.1f %%); honest "
                    "known %d/%d OK (refused %d, errors %d, p50 %.2f ms, p99 %.2f ms), new "
                    "%d/%d OK (refused %d, errors %d); proxy CPU %.2f s; full-speed attack %d logins "
                    "(%.0f/s): NO %d, NO [UNAVAILABLE] %d, errors %d, auth requests %d" % (
                        name, i + 1, attempts(a), a["seconds"], attempts(a) / a["seconds"],
                        a["ok"], a["refused"] - a["refused_temp"], a["refused_temp"],
                        a["errors"], a["aborted"], r["auth_fail"], r["auth_ok"],
                        attempts(a) - r["auth_fail"], attempts(a),
                        100.0 * (attempts(a) - r["auth_fail"]) / max(attempts(a), 1),
                        k["ok"], attempts(k), k["refused"], k["errors"], k["p50_ms"], k["p99_ms"],
                        n["ok"], attempts(n),
                        n["refused"], n["errors"], r["cpu"], attempts(r["fast"]),
                        attempts(r["fast"]) / max(r["fast"]["seconds"], 1e-9),
                        r["fast"]["refused"] - r["fast"]["refused_temp"],
                        r["fast"]["refused_temp"], r["fast"]["errors"], r["fast_auth"]))
                for what in ("attack", "known", "new"):
                    if r[what]["first_error"]:
                        b.notes.append("stuffing %s %s: first error %s" % (
                            name, what, r[what]["first_error"]))
        fast = med(mixed, lambda r: r["fast_cpu_us"])
        if fast.get("mailproxy") and fast.get("mailproxy+limits"):
            b.notes.append(
                "stuffing: a refused login (blocked, no auth request) cost mailproxy %.1f us of "
                "CPU, %.2f of a failed login without limits (%.1f us; nginx %.1f us), "
                "%d logins at full speed, 50 at once" % (
                    fast["mailproxy+limits"], fast["mailproxy+limits"] / fast["mailproxy"],
                    fast["mailproxy"], fast["nginx"] or 0, self.n_fast))
        for name in ("mailproxy", "mailproxy+limits"):
            runs = honest[name]
            b.notes.append(
                "limits never triggered, %s, %d runs of %d IMAP logins (50 at once): "
                "logins/s %s; proxy CPU per login %s us, of which user mode %s us" % (
                    name, len(runs), self.n_honest,
                    ", ".join("%.0f" % r["rate"] for r in runs),
                    ", ".join("%.1f" % r["cpu_us"] for r in runs),
                    ", ".join("%.1f" % r["user_us"] for r in runs)))
        pairs = list(zip(honest["mailproxy"], honest["mailproxy+limits"]))
        if pairs:
            b.notes.append(
                "limits never triggered against no limits, median of the %d back-to-back "
                "pairs: logins/s %+.1f %%, proxy CPU per login %+.1f %% (%+.1f us), user-mode "
                "CPU per login %+.1f us" % (
                    len(pairs),
                    100.0 * (bl.median([w["rate"] / max(o["rate"], 1e-9) for o, w in pairs]) - 1),
                    100.0 * (bl.median([w["cpu_us"] / max(o["cpu_us"], 1e-9)
                                        for o, w in pairs]) - 1),
                    bl.median([w["cpu_us"] - o["cpu_us"] for o, w in pairs]),
                    bl.median([w["user_us"] - o["user_us"] for o, w in pairs])))
        errs = [(name, r) for name, runs in honest.items() for r in runs if r["errors"]]
        for name, r in errs:
            b.notes.append("limits never triggered, %s: %d errors (%s)" % (
                name, r["errors"], r["first_error"]))


def bench_stuffing(b):
    Stuffing(b).run()
