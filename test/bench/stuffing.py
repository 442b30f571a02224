"""Credential stuffing, for run.py: thousands of wrong-password logins from
many loopback addresses against a few accounts, mixed with honest logins,
through nginx (no limits), mailproxy without limits, mailproxy with its
failed-login limits (benchlib.STUFFING_LIMITS), and the same limits shared
through Redis (login_limit_store) by two mailproxy nodes that split the load
as behind a load balancer. Then what a refused login costs against a failed
one, and whether limits that never trigger (with and without Redis) slow the
honest logins down. The case has an auth service of its own (fakeauth
--require-pass) whose /stats counts the auth requests each run made, and a
redis-server of its own (benchlib.Redis: 127.0.0.1, nothing persisted)."""

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
REDIS = "mailproxy+limits+redis"
# login_limit_store at the bench's redis-server; timeout stays the default (100ms)
STORE = '  login_limit_store: "redis 127.0.0.1:{redis_port}"\n'
FLEET = 2                      # mailproxy nodes sharing Redis in the attack runs,
FLEET_WORKERS = 1              # of one worker each: 2 workers in all, as the others
SYSTEMS = (("nginx", "nginx", ""), ("mailproxy", "mailproxy", ""),
           ("mailproxy+limits", "mailproxy", bl.STUFFING_LIMITS),
           (REDIS, "mailproxy", bl.STUFFING_LIMITS + STORE))


def merge(rs):
    """Several loadgen results of one load split over nodes, as one."""
    if len(rs) == 1:
        return rs[0]
    out = dict(rs[0])
    for k in ("ok", "refused", "refused_temp", "errors", "aborted"):
        out[k] = sum(r[k] for r in rs)
    out["seconds"] = max(r["seconds"] for r in rs)
    out["first_error"] = next((r["first_error"] for r in rs if r["first_error"]), "")
    return out


def redis_delta(c0, c1):
    """Commands Redis processed between two Redis.counts(), less the two INFO
    commands of c0's reading; 'evalsha' and the other commands by name."""
    calls = {k: v - c0["calls"].get(k, 0) for k, v in c1["calls"].items()}
    calls["info"] = calls.get("info", 0) - 2
    return {"total": c1["total"] - c0["total"] - 2,
            "calls": {k: v for k, v in calls.items() if v}}


def zone_delta(z0, z1):
    return {k: sum(b[k] for b in z1) - sum(a[k] for a in z0)
            for k in ("store_answers", "fallbacks", "blocked_logins", "failures",
                      "limit_blocked")}


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
        self.n_serial = 300 if self.quick else 1000     # the same, one at a time: latency
        # limits never triggered: 6 alternations of no limits / limits / limits
        # with Redis in all, spread over the rounds (a few per cent is the
        # question, on a shared box)
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

    def proxy(self, name, kind, extra, fn, nodes=1):
        """fn(list of proxies): one with 2 workers, or `nodes` of FLEET_WORKERS each."""
        b = self.b
        extra = extra.replace("{redis_port}", str(self.redis.port if self.redis else 0))
        pxs = []
        try:
            for i in range(nodes):
                px = bl.Proxy(name, kind, os.path.join(b.tmp, "stuffing-%s-%d" % (name, i)))
                pxs.append(px)
                bl.start_proxy(px, b.bin, "127.0.0.1:%d/auth" % self.auth_port, b.cert, b.key,
                               extra=extra, workers=2 if nodes == 1 else FLEET_WORKERS)
            return fn(pxs)
        finally:
            for px in pxs:
                px.stop()

    def flush(self, pxs):
        """Empties the bench's Redis before a run of the Redis system."""
        if self.redis is not None and pxs[0].name == REDIS:
            self.redis.call("FLUSHALL")

    def store_state(self, pxs):
        """Redis's command counts and CPU, and each node's limit zone, or None."""
        if self.redis is None or pxs[0].name != REDIS:
            return None
        return {"redis": self.redis.counts(), "cpu": bl.cpu_seconds([self.redis.pid]),
                "zones": [bl.limit_zone_status(self.b.bin, px.conf) for px in pxs]}

    def store_delta(self, s0, s1, logins):
        if s0 is None:
            return None
        d = redis_delta(s0["redis"], s1["redis"])
        d.update(zone_delta(s0["zones"], s1["zones"]))
        d["cpu"] = s1["cpu"] - s0["cpu"]
        d["logins"] = logins
        d["per_login"] = d["total"] / max(logins, 1)
        d["cpu_us"] = d["cpu"] / max(logins, 1) * 1e6
        return d

    def attack(self, pxs):
        """The mixed run, then (same proxy, accounts now blocked if limited)
        the unpaced attack that measures CPU per attacker login. With several
        nodes (pxs), every attacker's guesses are split evenly over them (each
        node gets all 200 addresses and 4 accounts at 1/n of the rate), the
        known client warms up on the first node and logs in on the last, the
        new client logs in on the first."""
        b, n = self.b, len(pxs)
        ports = [px.ports["imap"] for px in pxs]
        tmp = os.path.join(b.tmp, "stuffing-" + pxs[0].name)
        self.flush(pxs)
        warm = bl.loadgen(b.tools, honest_args(ports[0], KNOWN, ACCOUNTS[0], 1, 1), timeout=30)
        procs = [p for px in pxs for p in px.pids()]
        st0 = self.store_state(pxs)
        s0, c0 = bl.auth_stats(self.auth_port), bl.cpu_seconds(procs)
        started = []
        try:
            for i, port in enumerate(ports):
                started.append(bl.loadgen_start(
                    b.tools, attack_args(port, int(ATTACK_RATE * self.dur) // n, 100 // n,
                                         ATTACK_RATE // n), "%s-attack-%d.log" % (tmp, i)))
            started.append(bl.loadgen_start(b.tools, honest_args(
                ports[-1], KNOWN, ACCOUNTS[0], KNOWN_RATE, self.dur), tmp + "-known.log"))
            time.sleep(NEW_DELAY)
            started.append(bl.loadgen_start(b.tools, honest_args(
                ports[0], NEW, ACCOUNTS[1], NEW_RATE, self.dur - NEW_DELAY), tmp + "-new.log"))
            res = [bl.loadgen_result(p, 60) for p in started]
        finally:
            for p in started:
                p.stop()
        r = {"attack": merge(res[:n]), "known": res[n], "new": res[n + 1]}
        s1, c1 = bl.auth_stats(self.auth_port), bl.cpu_seconds(procs)
        r["nodes"] = n
        r["warm"] = warm["ok"]
        r["cpu"] = c1 - c0
        r["auth_fail"] = s1["fail"] - s0["fail"]
        r["auth_ok"] = s1["ok"] - s0["ok"]
        logins = attempts(r["attack"]) + attempts(r["known"]) + attempts(r["new"])
        r["cpu_us"] = r["cpu"] / max(logins, 1) * 1e6
        st1 = self.store_state(pxs)
        r["store"] = self.store_delta(st0, st1, logins)
        # Full speed, attackers alone: each login fails at the auth service
        # (no limits) or is refused by the limits (every account is blocked by now).
        c0, s0 = bl.cpu_seconds(procs), bl.auth_stats(self.auth_port)
        started = []
        try:
            for i, port in enumerate(ports):
                started.append(bl.loadgen_start(b.tools, attack_args(port, self.n_fast // n,
                                                                     50 // n),
                                                "%s-fast-%d.log" % (tmp, i)))
            f = merge([bl.loadgen_result(p, 60) for p in started])
        finally:
            for p in started:
                p.stop()
        r["fast"] = f
        r["fast_cpu_us"] = (bl.cpu_seconds(procs) - c0) / max(attempts(f), 1) * 1e6
        r["fast_auth"] = bl.auth_stats(self.auth_port)["requests"] - s0["requests"]
        r["fast_store"] = self.store_delta(st1, self.store_state(pxs), attempts(f))
        return r

    def honest(self, pxs):
        """Honest logins only, at full speed, as the logins section (one node)."""
        px = pxs[0]
        procs = px.pids()
        self.flush(pxs)
        st0 = self.store_state(pxs)
        c0, u0 = bl.cpu_seconds(procs), bl.user_cpu_seconds(procs)
        r = bl.loadgen(self.b.tools, ["--mode", "login", "--proto", "imap", "--target",
                                      "127.0.0.1:%d" % px.ports["imap"], "--pass", RIGHT,
                                      "--count", self.n_honest, "--concurrency", 50,
                                      "--seconds", 60], timeout=90)
        r["cpu_us"] = (bl.cpu_seconds(procs) - c0) / max(r["ok"], 1) * 1e6
        r["user_us"] = (bl.user_cpu_seconds(procs) - u0) / max(r["ok"], 1) * 1e6
        r["store"] = self.store_delta(st0, self.store_state(pxs), attempts(r))
        # One at a time: a login's latency without the queueing of 50 at once,
        # where a Redis round trip would show in full.
        r["serial"] = bl.loadgen(self.b.tools, ["--mode", "login", "--proto", "imap",
                                                "--target", "127.0.0.1:%d" % px.ports["imap"],
                                                "--pass", RIGHT, "--count", self.n_serial,
                                                "--concurrency", 1, "--seconds", 30],
                                 timeout=60)
        return r

    def run(self):
        b = self.b
        mixed = {name: [] for name, _, _ in SYSTEMS}
        honest = {name: [] for name, _, _ in SYSTEMS}
        self.redis = None
        self.start_auth()
        try:
            self.redis = bl.Redis(os.path.join(b.tmp, "stuffing-redis"))
            for _ in range(b.a.rounds):
                for name, kind, extra in SYSTEMS:
                    mixed[name].append(self.proxy(name, kind, extra, self.attack,
                                                  nodes=FLEET if name == REDIS else 1))
                # limits configured but never triggered against none, and with
                # Redis against without, one node each, alternating
                for name, kind, extra in SYSTEMS[:1] + SYSTEMS[1:] * self.pairs:
                    honest[name].append(self.proxy(name, kind, extra, self.honest))
        finally:
            if self.redis is not None:
                self.redis.stop()
            self.auth.stop()
        self.report(mixed, honest)

    def report(self, mixed, honest):
        b = self.b

        def med(d, fn):
            return {k: bl.median([fn(r) for r in v]) for k, v in d.items()}

        def add(metric, unit, vals, better="higher"):
            b.add("stuffing", metric, unit, vals, better=better, third="mailproxy+limits",
                  fourth=REDIS)

        def store(d, fn):
            """A figure of the Redis runs only (the other columns stay empty)."""
            runs = [r for r in d.get(REDIS, []) if r.get("store")]
            return {REDIS: bl.median([fn(r) for r in runs])} if runs else {}

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
        add("stuffing: Redis round trips (EVALSHA) per login during the attack", "",
            store(mixed, lambda r: r["store"]["calls"].get("evalsha", 0)
                  / max(r["store"]["logins"], 1)),
            better="lower")
        add("stuffing: Redis commands per login during the attack (INFO "
            "total_commands_processed)", "", store(mixed, lambda r: r["store"]["per_login"]),
            better="lower")
        add("stuffing: Redis CPU per login during the attack", "us",
            store(mixed, lambda r: r["store"]["cpu_us"]), better="lower")
        add("stuffing: login checks Redis answered (store_answers)", "",
            store(mixed, lambda r: r["store"]["store_answers"]))
        add("stuffing: login checks or failures the local zone decided, Redis too slow "
            "or down (fallbacks)", "", store(mixed, lambda r: r["store"]["fallbacks"]),
            better="lower")
        add("proxy CPU per attacker login at full speed: failed (auth refuses) / "
            "with limits refused (no auth request)", "us",
            med(mixed, lambda r: r["fast_cpu_us"]), better="lower")
        add("full-speed attack: fallbacks", "",
            store(mixed, lambda r: r["fast_store"]["fallbacks"]), better="lower")
        add("honest IMAP logins/s, limits configured, never triggered", "/s",
            med(honest, lambda r: r["rate"]))
        add("honest login p50, limits never triggered", "ms",
            med(honest, lambda r: r["p50_ms"]), better="lower")
        add("proxy CPU per honest login, limits never triggered", "us",
            med(honest, lambda r: r["cpu_us"]), better="lower")
        add("honest login p50, 1 at a time, limits never triggered", "ms",
            med(honest, lambda r: r["serial"]["p50_ms"]), better="lower")
        add("honest login p99, 1 at a time, limits never triggered", "ms",
            med(honest, lambda r: r["serial"]["p99_ms"]), better="lower")
        add("Redis round trips (EVALSHA) per honest login, limits never triggered", "",
            store(honest, lambda r: r["store"]["calls"].get("evalsha", 0)
                  / max(r["store"]["logins"], 1)), better="lower")
        add("Redis commands per honest login, limits never triggered", "",
            store(honest, lambda r: r["store"]["per_login"]), better="lower")
        add("Redis CPU per honest login, limits never triggered", "us",
            store(honest, lambda r: r["store"]["cpu_us"]), better="lower")
        add("fallbacks, limits never triggered", "",
            store(honest, lambda r: r["store"]["fallbacks"]), better="lower")

        b.notes.append(
            "stuffing: %d attacker addresses (127.0.1.1-127.0.1.%d) guess wrong passwords for "
            "%d accounts (%s), %d logins/s offered for %.0f s, 100 at once, one guess per "
            "connection; meanwhile an honest client that logged in from %s before the attack "
            "logs in as %s (%d/s), and from %.1f s on a client new to %s logs in as %s "
            "(%d/s). Limits (mailproxy+limits): %s; tarpit 0 so that refusals keep the "
            "attack's full rate (a tarpit holds the attacker's session open and only slows "
            "an attacker that waits for its answer). The auth service refuses wrong "
            "passwords with Auth-Wait: 0." % (
                len(ATTACKERS), len(ATTACKERS), len(ACCOUNTS), ", ".join(ACCOUNTS),
                ATTACK_RATE, self.dur, KNOWN, ACCOUNTS[0], KNOWN_RATE, NEW_DELAY, NEW,
                ACCOUNTS[1], NEW_RATE,
                "; ".join(l.strip() for l in bl.STUFFING_LIMITS.splitlines()[1:-1])))
        b.notes.append(
            "stuffing, %s: the same limits plus login_limit_store \"redis 127.0.0.1:PORT\" "
            "(timeout left at its default, 100ms) at a redis-server the bench starts itself "
            "(127.0.0.1, save \"\", appendonly no; FLUSHALL before each attack run). In the "
            "attack runs %d mailproxy nodes of %d worker(s) each share it, as behind a load "
            "balancer: every attacker address guesses through all nodes (%d logins/s, %d at "
            "once per node), the known client warms up on the first node and logs in through "
            "the last, the new client through the first; proxy CPU is the nodes' together, "
            "Redis's CPU apart. Limits never triggered: one node of 2 workers, as the "
            "others. Redis commands: the difference of INFO stats total_commands_processed "
            "(the bench's own INFO commands taken out) over all logins of the run." % (
                REDIS, FLEET, FLEET_WORKERS, ATTACK_RATE // FLEET, 100 // FLEET))
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
                for phase, st, logins in (("attack", r["store"], attempts(a) + attempts(k)
                                            + attempts(n)),
                                           ("full-speed attack", r["fast_store"],
                                            attempts(r["fast"]))):
                    if st:
                        b.notes.append(
                            "stuffing raw, %s round %d, %s (%d nodes): %d logins; Redis %d "
                            "commands (%.2f per login: %s), Redis CPU %.2f s (%.1f us per "
                            "login); the nodes' zones: store_answers %d, fallbacks %d, "
                            "failures %d; refused logins %d (workers' limit_blocked), of "
                            "them %d in the zones' blocked_logins" % (
                                name, i + 1, phase, r["nodes"], logins, st["total"],
                                st["per_login"], ", ".join(
                                    "%s %d" % kv for kv in sorted(st["calls"].items(),
                                                                  key=lambda kv: -kv[1])),
                                st["cpu"], st["cpu_us"], st["store_answers"], st["fallbacks"],
                                st["failures"], st["limit_blocked"], st["blocked_logins"]))
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
        if fast.get(REDIS) and fast.get("mailproxy+limits"):
            b.notes.append(
                "stuffing: with Redis (%d nodes) a refused login cost %.1f us of proxy CPU, "
                "%.2f of a refused login with the limits alone (every check is a Redis round "
                "trip, blocked or not)" % (FLEET, fast[REDIS],
                                           fast[REDIS] / fast["mailproxy+limits"]))
        for name in ("mailproxy", "mailproxy+limits", REDIS):
            runs = honest[name]
            b.notes.append(
                "limits never triggered, %s, %d runs of %d IMAP logins (50 at once): "
                "logins/s %s; p50 %s ms; p99 %s ms; 1 at a time (%d logins) p50 %s ms, p99 %s "
                "ms; proxy CPU per login %s us, of which user mode %s us%s" % (
                    name, len(runs), self.n_honest,
                    ", ".join("%.0f" % r["rate"] for r in runs),
                    ", ".join("%.2f" % r["p50_ms"] for r in runs),
                    ", ".join("%.2f" % r["p99_ms"] for r in runs),
                    self.n_serial,
                    ", ".join("%.3f" % r["serial"]["p50_ms"] for r in runs),
                    ", ".join("%.3f" % r["serial"]["p99_ms"] for r in runs),
                    ", ".join("%.1f" % r["cpu_us"] for r in runs),
                    ", ".join("%.1f" % r["user_us"] for r in runs),
                    "" if not runs or not runs[0].get("store") else
                    "; Redis commands per login %s, Redis CPU per login %s us, "
                    "store_answers %s, fallbacks %s" % (
                        ", ".join("%.2f" % r["store"]["per_login"] for r in runs),
                        ", ".join("%.1f" % r["store"]["cpu_us"] for r in runs),
                        ", ".join("%d" % r["store"]["store_answers"] for r in runs),
                        ", ".join("%d" % r["store"]["fallbacks"] for r in runs))))
        for base, other, what in (("mailproxy", "mailproxy+limits",
                                   "limits never triggered against no limits"),
                                  ("mailproxy+limits", REDIS,
                                   "limits never triggered, with Redis against the limits "
                                   "alone (the cost of the Redis round trip)")):
            pairs = list(zip(honest[base], honest[other]))
            if not pairs:
                continue
            b.notes.append(
                "%s, median of the %d back-to-back pairs: logins/s %+.1f %%, p50 %+.3f ms, "
                "p99 %+.3f ms (1 at a time: p50 %+.3f ms, p99 %+.3f ms), proxy CPU per login "
                "%+.1f %% (%+.1f us), user-mode CPU per login %+.1f us" % (
                    what, len(pairs),
                    100.0 * (bl.median([w["rate"] / max(o["rate"], 1e-9) for o, w in pairs]) - 1),
                    bl.median([w["p50_ms"] - o["p50_ms"] for o, w in pairs]),
                    bl.median([w["p99_ms"] - o["p99_ms"] for o, w in pairs]),
                    bl.median([w["serial"]["p50_ms"] - o["serial"]["p50_ms"] for o, w in pairs]),
                    bl.median([w["serial"]["p99_ms"] - o["serial"]["p99_ms"] for o, w in pairs]),
                    100.0 * (bl.median([w["cpu_us"] / max(o["cpu_us"], 1e-9)
                                        for o, w in pairs]) - 1),
                    bl.median([w["cpu_us"] - o["cpu_us"] for o, w in pairs]),
                    bl.median([w["user_us"] - o["user_us"] for o, w in pairs])))
        for name, runs in honest.items():
            for r in runs:
                for what, x in (("", r), (", 1 at a time", r["serial"])):
                    if x["errors"]:
                        b.notes.append("limits never triggered%s, %s: %d errors (%s)" % (
                            what, name, x["errors"], x["first_error"]))


def bench_stuffing(b):
    Stuffing(b).run()
