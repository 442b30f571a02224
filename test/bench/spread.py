#!/usr/bin/env python3
"""How evenly accepts spread over workers: the default listen options (a socket per
worker, steered by a hash of the client's address and port) against `reuseport=off`
(nginx's one shared socket, EPOLLEXCLUSIVE).

For each worker count and mode it starts mailproxy, opens N connections (read the
greeting, close) sequentially and then from C threads at once, and reads each worker's
"accepted" counter from `mailproxy -s status`. The figure is busiest / average (1.0 is
perfectly even; the target is at most 1.2). Also the `spread` case of run.py
(`make bench`), at 2, 4 and 8 workers.

    python3 test/bench/spread.py --bin ./mailproxy [--workers 2,4,8] [--count 2000] [--threads 32]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness.proxy import MailProxy  # noqa: E402
from harness.util import free_port  # noqa: E402

MODES = (("default listen (per-worker sockets)", ""), ("`reuseport=off` (shared socket)", " reuseport=off"))


def touch(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.recv(64)


def accepted(binary, mp):
    out = subprocess.run([binary, "-c", mp.config_path, "-s", "status"], capture_output=True,
                         text=True, check=True).stdout
    return sorted(w["accepted"] for w in json.loads(out)["workers"])


def run(binary, workers, count, threads, extra):
    """(sequential counts, burst counts), each sorted, one per worker."""
    tmp = tempfile.mkdtemp(prefix="spread-")
    port = free_port()
    mp = MailProxy(binary, tmp, servers=[{"protocol": "imap", "listen": ["127.0.0.1:%d%s" % (port, extra)]}],
                   mail={"auth_http": "127.0.0.1:9/"},
                   main={"worker_processes": workers, "error_log": "%s/error.log warn" % tmp})
    mp.start()
    try:
        for _ in range(count):
            touch(port)
        seq = accepted(binary, mp)
        per = count // threads

        def burst():
            for _ in range(per):
                touch(port)

        ts = [threading.Thread(target=burst) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        total = accepted(binary, mp)
        return seq, sorted(a - b for a, b in zip(total, seq))
    finally:
        mp.stop()


def peak(counts):
    """busiest / average."""
    t = sum(counts)
    return max(counts) * len(counts) / t if t else 0.0


def share(counts):
    t = sum(counts) or 1
    return " / ".join("%.0f%%" % (100.0 * c / t) for c in sorted(counts, reverse=True))


def bench_spread(b):
    """run.py's spread case: busiest/avg under a burst, 2, 4 and 8 workers."""
    count = 1000 if b.a.quick else 2000
    for w in (2, 4, 8):
        res = {}
        for name, extra in MODES:
            seq, conc = run(b.bin, w, count, 32, extra)
            res[extra] = (seq, conc)
            b.notes.append("spread, %d workers, %s: sequential %s, burst %s" % (
                w, name, share(seq), share(conc)))
        b.rows.append(("spread", "busiest worker / average, burst of %d from 32 threads, %d workers, "
                       "default listen" % (count, w), "x", None, peak(res[""][1]), None, "lower", None))
        b.rows.append(("spread", "the same with reuseport=off (nginx's shared socket)" if w == 2 else
                       "the same, reuseport=off, %d workers" % w, "x", None,
                       peak(res[" reuseport=off"][1]), None, "lower", None))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="./mailproxy")
    ap.add_argument("--workers", default="2,4,8")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=32)
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    print("| accept spread | workers | sequential (%d connections) | busiest/avg | %d threads at once | busiest/avg |"
          % (a.count, a.threads))
    print("|---|---:|---|---:|---|---:|")
    for w in (int(x) for x in a.workers.split(",")):
        for name, extra in MODES:
            seq, conc = run(binary, w, a.count, a.threads, extra)
            print("| %s | %d | %s | %.2f | %s | %.2f |" % (name, w, share(seq), peak(seq),
                                                          share(conc), peak(conc)), flush=True)


if __name__ == "__main__":
    main()
