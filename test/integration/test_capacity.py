"""docs/capacity.md is what test/bench/capacity.py computes from the bench output
kept beside it, and the script refuses results that lack a measured input."""

import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "test", "bench", "capacity.py")


def run(*args):
    return subprocess.run([sys.executable, SCRIPT] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_capacity_doc_matches_the_script(ctx):
    r = run("docs/capacity-results.md")
    assert r.returncode == 0, r.stderr
    with open(os.path.join(ROOT, "docs", "capacity.md"), encoding="utf-8") as f:
        doc = f.read()
    begin = "<!-- capacity.py docs/capacity-results.md: begin -->\n"
    end = "<!-- capacity.py: end -->"
    assert begin in doc and end in doc
    kept = doc.split(begin, 1)[1].split(end, 1)[0]
    assert kept == r.stdout, "docs/capacity.md is stale: rerun test/bench/capacity.py"
    assert "| **nodes** " in r.stdout and "measured: " in r.stdout


def test_capacity_refuses_missing_measurements(ctx):
    path = os.path.join(ctx.tmp, "partial.md")
    with open(path, "w") as f:
        f.write("| metric | nginx | mailproxy | ratio | mailproxy + auth_http_keepalive | ratio |\n"
                "|---|---:|---:|---:|---:|---:|\n"
                "| IMAP proxy CPU per login (lower is better) | 70 us | 64 us | 0.9 | 50 us | 0.7 |\n")
    r = run(path)
    assert r.returncode == 2
    assert "cpu_tls13_full_us" in r.stderr and "cpu_login_us" not in r.stderr


def test_capacity_assumptions_change_the_sizing(ctx):
    base = run("docs/capacity-results.md")
    more = run("docs/capacity-results.md", "--set", "mailboxes=40000000")
    assert base.returncode == 0 and more.returncode == 0

    def nodes(out):
        line = next(l for l in out.splitlines() if l.startswith("| **nodes**"))
        return int(line.split("**")[-2])
    assert nodes(more.stdout) > nodes(base.stdout)
    assert run("docs/capacity-results.md", "--set", "nonsense=1").returncode != 0
