#!/usr/bin/env python3
"""How evenly accepts spread over workers: EPOLLEXCLUSIVE on one shared socket
(the default) against SO_REUSEPORT (listen ... reuseport).

For each mode it starts mailproxy with W workers, opens N connections (read the
greeting, close) sequentially and then from C threads at once, and reads each
worker's "accepted" counter from `mailproxy -s status`.

    python3 test/bench/spread.py --bin ./mailproxy [--workers 2] [--count 2000] [--threads 32]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness.proxy import MailProxy  # noqa: E402
from harness.util import free_port  # noqa: E402


def touch(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.recv(64)


def accepted(binary, mp):
    out = subprocess.run([binary, "-c", mp.config_path, "-s", "status"], capture_output=True,
                         text=True, check=True).stdout
    return sorted(w["accepted"] for w in json.loads(out)["workers"])


def run(binary, workers, count, threads, reuseport):
    tmp = tempfile.mkdtemp(prefix="spread-")
    port = free_port()
    listen = "127.0.0.1:%d%s" % (port, " reuseport" if reuseport else "")
    mp = MailProxy(binary, tmp, servers=[{"protocol": "imap", "listen": [listen]}],
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
        conc = sorted(a - b for a, b in zip(total, seq))
        return seq, conc
    finally:
        mp.stop()


def share(counts):
    t = sum(counts) or 1
    return " / ".join("%.0f%%" % (100.0 * c / t) for c in sorted(counts, reverse=True))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="./mailproxy")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=32)
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    print("| accept spread, %d workers | sequential (%d connections) | %d threads at once |"
          % (a.workers, a.count, a.threads))
    print("|---|---|---|")
    for name, rp in (("EPOLLEXCLUSIVE (default)", False), ("SO_REUSEPORT (`reuseport`)", True)):
        seq, conc = run(binary, a.workers, a.count, a.threads, rp)
        print("| %s | %s | %s |" % (name, share(seq), share(conc)))


if __name__ == "__main__":
    main()
