#!/usr/bin/env python3
"""The capacity model of docs/capacity.md, computed from measured figures.

    python3 test/bench/capacity.py [results.md ...] [--set NAME=VALUE ...]

Reads the tables and notes that `make bench` writes (test/bench/results/results.md;
several files may be given, later ones win, so a full run and a later `--only`
run combine), takes the per-operation costs from them (proxy CPU per login and
per TLS handshake, memory per idle session, kernel memory per session, Redis
round trips per login), and sizes a fleet for a workload: by default ten
million mailboxes (every workload figure is an assumption, printed as such,
and can be changed with --set). Prints a markdown report: each input marked
measured (with the row it came from) or assumed, then the sizing.

Standard library only; no figure is invented: a measured input that the
results lack is reported as missing and the model stops, unless --set gives it.
"""

import argparse
import math
import re
import sys

# Measured inputs: name -> (row label regex, column, unit, what it is).
# Column "mp" is mailproxy, "mpk" mailproxy with auth_http_keepalive, "col4"
# the fourth column of a table of its own (stuffing: with Redis).
MEASURED = {
    "cpu_login_us": (r"^IMAP proxy CPU per login", "mpk", "µs",
                     "proxy CPU per IMAP login (auth_http_keepalive on)"),
    "cpu_tls13_full_us": (r"^proxy CPU per handshake, TLS 1\.3 full \(tickets on\)", "mp", "µs",
                          "proxy CPU per TLS 1.3 full handshake"),
    "cpu_tls13_res_us": (r"^proxy CPU per handshake, TLS 1\.3 resumed \(tickets on\)", "mp", "µs",
                         "proxy CPU per TLS 1.3 resumed handshake (ticket)"),
    "cpu_tls12_full_us": (r"^proxy CPU per handshake, TLS 1\.2 full \(tickets on\)", "mp", "µs",
                          "proxy CPU per TLS 1.2 full handshake"),
    "cpu_tls12_res_us": (r"^proxy CPU per handshake, TLS 1\.2 resumed \(tickets on\)", "mp", "µs",
                         "proxy CPU per TLS 1.2 resumed handshake (ticket)"),
    "pss_plain_b": (r"^PSS per idle session, plaintext, K=\d+", "mp", "B",
                    "memory (PSS) per idle session, plaintext"),
    "pss_tls13_b": (r"^PSS per idle session, TLS, K=\d+", "mp", "B",
                    "memory (PSS) per idle session, TLS 1.3 (records sealed by mailproxy)"),
    "pss_tls12_b": (r"^PSS per idle session, TLS 1\.2, K=\d+", "mp", "B",
                    "memory (PSS) per idle session, TLS 1.2 (OpenSSL keeps the connection)"),
    "redis_rt_per_login": (r"^Redis round trips \(EVALSHA\) per honest login", "col4", "",
                           "Redis round trips per login (login limits shared through Redis)"),
    "redis_cmds_per_login": (r"^Redis commands per honest login", "col4", "",
                             "Redis commands per login (the scripts' commands counted)"),
    "redis_cpu_us": (r"^Redis CPU per honest login", "col4", "µs",
                     "Redis CPU per login (login limits shared through Redis)"),
}
KERNEL_NOTE = re.compile(r"kernel memory per idle proxied session .*?, (plaintext|TLS 1\.2|TLS), "
                         r"K=\d+: .*?mailproxy (\d+) B")

KERNEL_WHAT = {
    "kernel_plain_b": "kernel memory per idle session, plaintext (the proxy's 2 sockets)",
    "kernel_tls13_b": "kernel memory per idle session, TLS 1.3 (the proxy's 2 sockets)",
    "kernel_tls12_b": "kernel memory per idle session, TLS 1.2 (the proxy's 2 sockets)",
}

# Workload and node assumptions: name -> (default, what it is).
ASSUMED = {
    "mailboxes": (10_000_000, "mailboxes served"),
    "idle_share": (0.20, "share of mailboxes with a client holding an IMAP session (IDLE) at the "
                         "evening peak"),
    "sessions_per_idle_mailbox": (1.5, "sessions per such mailbox (phone and desktop; a "
                                       "desktop client often watches two folders)"),
    "tls13_share": (0.75, "share of sessions on TLS 1.3 (the rest TLS 1.2; plaintext ignored)"),
    "logins_per_mailbox_day": (30, "logins per mailbox per day (webmail clicks, POP3 and IMAP "
                                   "polling, mobile reconnects)"),
    "peak_factor": (2.5, "peak hour rate over the day's average"),
    "resumed_share": (0.6, "share of logins that resume a TLS session"),
    "storm_seconds": (60, "seconds in which the clients of a lost node reconnect"),
    "cores_per_node": (16, "CPUs per node given to mailproxy workers"),
    "ram_per_node_gb": (64, "RAM per node, GB"),
    "target_util": (0.5, "CPU use aimed at, at peak with one node lost (headroom)"),
    "ram_share": (0.5, "share of a node's RAM the sessions may take (kernel + mailproxy)"),
    "backend_addrs": (40, "backend address:port pairs (IMAP servers) a node connects to"),
    "local_ports": (28232, "source ports per (source address, backend address:port): Linux's "
                           "default ip_local_port_range 32768-60999"),
    "min_nodes": (3, "fewest nodes (one lost, two left)"),
}


def parse_results(paths):
    """{row label: {column: number}} and the notes, from bench results.md files."""
    rows, notes = {}, []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        head = None
        for line in text.splitlines():
            if line.startswith("- "):
                notes.append(line[2:])
                continue
            if not line.startswith("|"):
                head = None
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] == "metric":
                head = cells
                continue
            if head is None or set(cells[0]) <= set("-: "):
                continue
            label = re.sub(r" \((higher|lower) is better\)$", "", cells[0])
            cols = {}
            names = ["nginx", "mp", "ratio", "mpk", "ratio3", "col4", "ratio4"]
            for name, cell in zip(names, cells[1:]):
                m = re.match(r"^(-?[\d,]+(?:\.\d+)?)", cell.replace("*", ""))
                if m:
                    cols[name] = float(m.group(1).replace(",", ""))
            rows[label] = cols
    return rows, notes


def measured_inputs(rows, notes, overrides):
    got, missing = {}, []
    for name, (rx, col, unit, what) in MEASURED.items():
        if name in overrides:
            got[name] = (overrides[name], "--set")
            continue
        hits = [(label, cols[col]) for label, cols in rows.items()
                if re.search(rx, label) and col in cols]
        if not hits:
            missing.append(name)
            continue
        # Several K: the largest K is the steadiest per-session figure.
        label, val = sorted(hits, key=lambda h: int((re.findall(r"K=(\d+)", h[0]) or ["0"])[0]))[-1]
        got[name] = (val, label)
    kern = {}
    for n in notes:
        m = KERNEL_NOTE.search(n)
        if m:
            kern[m.group(1)] = float(m.group(2))
    for key, what in (("kernel_plain_b", "plaintext"), ("kernel_tls13_b", "TLS"),
                      ("kernel_tls12_b", "TLS 1.2")):
        if key in overrides:
            got[key] = (overrides[key], "--set")
        elif what in kern:
            got[key] = (kern[what], "note: kernel memory per idle proxied session, " + what)
        else:
            missing.append(key)
    return got, missing


def model(m, a):
    """The sizing, from measured m and assumed a (plain numbers)."""
    r = {"bound": ["the fewest nodes"]}
    sessions = a["mailboxes"] * a["idle_share"] * a["sessions_per_idle_mailbox"]
    r["sessions"] = sessions
    t13 = a["tls13_share"]
    mem_session = (t13 * (m["pss_tls13_b"] + m["kernel_tls13_b"])
                   + (1 - t13) * (m["pss_tls12_b"] + m["kernel_tls12_b"]))
    r["bytes_per_session"] = mem_session
    r["mem_total_gb"] = sessions * mem_session / 1e9
    logins = a["mailboxes"] * a["logins_per_mailbox_day"] / 86400 * a["peak_factor"]
    r["peak_logins"] = logins
    res = a["resumed_share"]
    hs = (t13 * (res * m["cpu_tls13_res_us"] + (1 - res) * m["cpu_tls13_full_us"])
          + (1 - t13) * (res * m["cpu_tls12_res_us"] + (1 - res) * m["cpu_tls12_full_us"]))
    r["cpu_per_login_us"] = m["cpu_login_us"] + hs
    r["cores_peak"] = logins * r["cpu_per_login_us"] / 1e6

    # Nodes: enough that, with one lost, the rest carry the peak plus the lost
    # node's clients coming back within storm_seconds, and hold every session.
    n = int(a["min_nodes"])
    while True:
        per_node_sessions = sessions / (n - 1)
        storm = sessions / n / a["storm_seconds"]
        # Reconnecting clients resume if every node decrypts every ticket
        # (shared keys); otherwise every one is a full handshake.
        full = (t13 * m["cpu_tls13_full_us"] + (1 - t13) * m["cpu_tls12_full_us"])
        resumed = (t13 * m["cpu_tls13_res_us"] + (1 - t13) * m["cpu_tls12_res_us"])
        cpu_storm_shared = storm * (m["cpu_login_us"] + resumed) / 1e6
        cpu_storm_local = storm * (m["cpu_login_us"] + full) / 1e6
        cores_left = (n - 1) * a["cores_per_node"] * a["target_util"]
        mem_node_gb = per_node_sessions * mem_session / 1e9
        ports_node = a["backend_addrs"] * a["local_ports"]
        short = []
        if r["cores_peak"] + cpu_storm_shared > cores_left:
            short.append("CPU")
        if mem_node_gb > a["ram_per_node_gb"] * a["ram_share"]:
            short.append("memory")
        if per_node_sessions > ports_node:
            short.append("source ports toward the backends")
        if not short or n > 10000:
            break
        r["bound"] = short
        n += 1
    r.update(nodes=n, per_node_sessions_one_lost=per_node_sessions,
             per_node_sessions=sessions / n, storm_logins=storm,
             cores_storm_shared=cpu_storm_shared, cores_storm_local=cpu_storm_local,
             mem_node_gb=mem_node_gb, fds_node=2 * per_node_sessions + 64,
             ports_node=ports_node, ports_per_backend=per_node_sessions / a["backend_addrs"])
    r["redis_ops"] = logins * m["redis_rt_per_login"]
    r["redis_cmds"] = logins * m["redis_cmds_per_login"]
    r["redis_cpus"] = logins * m["redis_cpu_us"] / 1e6
    return r


def fmt(v):
    if isinstance(v, float) and not v.is_integer():
        return "{:,.2f}".format(v) if abs(v) < 100 else "{:,.0f}".format(v)
    return "{:,}".format(int(v))


def report(got, a, r, sources):
    out = ["## Inputs", "", "| input | value | source |", "|---|---:|---|"]
    for name, (val, src) in got.items():
        what = MEASURED[name][3] if name in MEASURED else KERNEL_WHAT[name]
        unit = MEASURED[name][2] if name in MEASURED else "B"
        out.append("| %s | %s %s | measured: %s |" % (what, fmt(val), unit, src))
    for name, (dflt, what) in ASSUMED.items():
        out.append("| %s | %s | assumed%s |" % (what, fmt(a[name]),
                                                 "" if a[name] == dflt else " (--set)"))
    out += ["", "Results read: " + ", ".join(sources), "", "## Sizing", "",
            "| figure | value |", "|---|---:|"]
    rows = [
        ("concurrent sessions at peak", fmt(r["sessions"])),
        ("memory per session, mailproxy + kernel, TLS mix", "%s B" % fmt(r["bytes_per_session"])),
        ("memory for all sessions", "%s GB" % fmt(r["mem_total_gb"])),
        ("peak logins/s", fmt(r["peak_logins"])),
        ("proxy CPU per login, TLS mix", "%s µs" % fmt(r["cpu_per_login_us"])),
        ("CPUs busy with logins at peak (whole fleet)", fmt(r["cores_peak"])),
        ("**nodes** (%d CPUs, %d GB each; one may be lost)" % (a["cores_per_node"],
                                                               a["ram_per_node_gb"]),
         "**%d**" % r["nodes"]),
        ("what set the node count (short with one node fewer)", ", ".join(r["bound"])),
        ("CPU use per node at peak with one lost, storm included",
         "%.0f %%" % (100 * (r["cores_peak"] + r["cores_storm_shared"])
                      / ((r["nodes"] - 1) * a["cores_per_node"]))),
        ("sessions per node / with one lost", "%s / %s" % (fmt(r["per_node_sessions"]),
                                                          fmt(r["per_node_sessions_one_lost"]))),
        ("memory per node with one lost", "%s GB" % fmt(r["mem_node_gb"])),
        ("file descriptors per node with one lost (2 per session)", fmt(r["fds_node"])),
        ("... per worker (one worker per CPU)", fmt(r["fds_node"] / a["cores_per_node"])),
        ("reconnect storm after a node loss, logins/s", fmt(r["storm_logins"])),
        ("CPUs for the storm, ticket keys shared / per node", "%s / %s" % (
            fmt(r["cores_storm_shared"]), fmt(r["cores_storm_local"]))),
        ("sessions per backend address:port per node (limit %s per source address)"
         % fmt(a["local_ports"]), fmt(r["ports_per_backend"])),
        ("Redis round trips/s at peak (login limits)", fmt(r["redis_ops"])),
        ("Redis commands/s at peak", fmt(r["redis_cmds"])),
        ("Redis CPUs busy at peak (Redis runs commands on one thread)", fmt(r["redis_cpus"])),
    ]
    out += ["| %s | %s |" % row for row in rows]
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="*", default=["test/bench/results/results.md"])
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="an assumption or a measured input; names: %s" % ", ".join(
                        list(ASSUMED) + list(MEASURED) +
                        ["kernel_plain_b", "kernel_tls13_b", "kernel_tls12_b"]))
    args = ap.parse_args(argv)
    overrides = {}
    for s in args.set:
        k, _, v = s.partition("=")
        if k not in ASSUMED and k not in MEASURED and not k.startswith("kernel_"):
            ap.error("unknown name %r" % k)
        overrides[k] = float(v)
    rows, notes = parse_results(args.results)
    got, missing = measured_inputs(rows, notes, overrides)
    if missing:
        print("capacity: not in %s: %s (run the bench sections that measure them: "
              "logins, tls, memory, stuffing; or give them with --set)" % (
                  ", ".join(args.results), ", ".join(missing)), file=sys.stderr)
        return 2
    a = {k: overrides.get(k, d) for k, (d, _) in ASSUMED.items()}
    m = {k: v for k, (v, _) in got.items()}
    sys.stdout.write(report(got, a, model(m, a), args.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
