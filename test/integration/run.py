#!/usr/bin/env python3
"""mailproxy integration tests: discovers test_*.py here and runs every test_* function.

    python3 test/integration/run.py --bin /abs/path/mailproxy [--sanitizer] [--netns] [-k PATTERN]

Each test gets a harness.Context (see README.md). One line per test (PASS / FAIL /
SKIP with its duration, failures followed by the traceback and log tails), then the
last line "N passed, M failed" (", K skipped" when some were skipped). Exit status 1
when anything failed (130 on Ctrl-C). Everything started is stopped by PID, also on
failure, timeout, Ctrl-C or SIGTERM.
"""

import argparse
import fnmatch
import importlib
import inspect
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness.util import Skip, TestTimeout, stop_all_live  # noqa: E402


def discover(patterns):
    """[(name, function or None, import error text or None)] in file/definition order."""
    out = []
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        modname = fn[:-3]
        try:
            mod = importlib.import_module(modname)
        except Exception:
            name = "%s::<import>" % modname
            if selected(name, patterns, modname):
                out.append((name, None, traceback.format_exc()))
            continue
        funcs = [f for n, f in vars(mod).items()
                 if n.startswith("test_") and inspect.isfunction(f) and f.__module__ == modname]
        funcs.sort(key=lambda f: f.__code__.co_firstlineno)
        for f in funcs:
            name = "%s::%s" % (modname, f.__name__)
            if selected(name, patterns, modname):
                out.append((name, f, None))
    return out


def selected(name, patterns, modname):
    if not patterns:
        return True
    for p in patterns:
        if any(c in p for c in "*?["):
            if fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(name, "*" + p + "*"):
                return True
        elif p in name:
            return True
    return False


def indent(text, pad="    "):
    return "\n".join(pad + l for l in text.rstrip().splitlines())


def become_subreaper():
    """Orphans of what we start (the daemonized Postfix master, workers left behind by
    a dying mailproxy master) are re-parented to us, so we can reap them (PID 1 in a
    container may not). Best effort."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)          # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def reap_all():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def on_alarm(signum, frame):
    raise TestTimeout("time limit exceeded")


def on_term(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def run_one(session, name, func, tmp, timeout):
    """Returns (status, detail): status PASS/FAIL/SKIP."""
    ctx = harness.Context(session, name, tmp)
    status, detail = "PASS", ""
    limit = getattr(func, "timeout", timeout)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        func(ctx)
    except Skip as e:
        status, detail = "SKIP", str(e)
    except TestTimeout:
        status = "FAIL"
        detail = "timed out after %ss\n%s" % (limit, traceback.format_exc())
    except KeyboardInterrupt:
        signal.setitimer(signal.ITIMER_REAL, 0)
        ctx.teardown()
        raise
    except BaseException:
        status, detail = "FAIL", traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    # Teardown has its own (generous) bound; leftovers are stopped at exit anyway.
    signal.setitimer(signal.ITIMER_REAL, 90)
    try:
        errors = ctx.teardown()
    except TestTimeout:
        errors = [TestTimeout("teardown took longer than 90s")]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if errors and status != "FAIL":
        status = "FAIL"
        detail = "teardown failed: " + "; ".join(repr(e) for e in errors)
    if session.sanitizer:
        found = ctx.sanitizer_findings()
        if found:
            report = "sanitizer report(s):\n" + "\n".join(
                "in %s:\n%s" % (w, indent(t)) for w, t in found)
            detail = (detail + "\n" + report) if status == "FAIL" else report
            status = "FAIL"
    if status == "FAIL":
        tails = ctx.log_tails()
        if tails:
            detail += "\n" + tails
    return status, detail


NETNS_ENV = "MAILPROXY_IT_NETNS"


def enter_netns():
    """Re-executes this run inside a network namespace of its own (unshare(1) execs,
    so the PID stays) and brings its loopback up: two runs at once then share no
    port and no 127.0.0.x address. Needs root; returns only inside the namespace."""
    if os.environ.get(NETNS_ENV) == "1":
        r = subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("run.py: cannot bring up the namespace's loopback: " + r.stderr.strip())
        return
    os.environ[NETNS_ENV] = "1"
    try:
        os.execvp("unshare", ["unshare", "--net", "--", sys.executable] + sys.argv)
    except OSError as e:
        sys.exit("run.py: --netns needs unshare(1): %s" % e)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "mailproxy"),
                    help="absolute path of the mailproxy binary (default: REPO/mailproxy)")
    ap.add_argument("--sanitizer", action="store_true",
                    help="fail a test when its mailproxy output has an ASan/UBSan/LSan report")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="run only tests whose 'module::name' contains PATTERN (or matches "
                    "it as a glob); repeatable")
    ap.add_argument("--timeout", type=float, default=120.0, help="per-test limit, seconds")
    ap.add_argument("--keep", action="store_true", help="keep the temp directories")
    ap.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failure")
    ap.add_argument("--list", action="store_true", help="list the selected tests and exit")
    ap.add_argument("--netns", action="store_true",
                    help="run in a network namespace of its own (root; see enter_netns)")
    a = ap.parse_args()
    if a.netns and not a.list:
        enter_netns()

    binary = os.path.abspath(a.bin)
    tests = discover(a.patterns)
    if a.list:
        for name, _, _ in tests:
            print(name)
        return 0
    if not os.access(binary, os.X_OK):
        print("run.py: %s is not an executable (build it with make)" % binary, flush=True)
    if a.sanitizer:
        os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")

    become_subreaper()
    base = tempfile.mkdtemp(prefix="mailproxy-it-")
    os.chmod(base, 0o755)
    if a.keep:
        print("temp dir: %s" % base, flush=True)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    session = harness.Session(binary, REPO, base, sanitizer=a.sanitizer)
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    interrupted = False
    try:
        for i, (name, func, err) in enumerate(tests):
            t0 = time.monotonic()
            if func is None:
                status, detail = "FAIL", err
            else:
                tmp = os.path.join(base, "%03d-%s" % (i, func.__name__[5:][:40]))
                status, detail = run_one(session, name, func, tmp, a.timeout)
            counts[status] += 1
            dur = time.monotonic() - t0
            if status == "SKIP":
                print("SKIP %s (%.2fs): %s" % (name, dur, detail), flush=True)
            else:
                print("%s %s (%.2fs)" % (status, name, dur), flush=True)
            if status == "FAIL":
                print(indent(detail), flush=True)
                if a.exitfirst:
                    break
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted", flush=True)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        session.close()
        stop_all_live()
        reap_all()
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)
    line = "%d passed, %d failed" % (counts["PASS"], counts["FAIL"])
    if counts["SKIP"]:
        line += ", %d skipped" % counts["SKIP"]
    print(line, flush=True)
    if interrupted:
        return 130
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
