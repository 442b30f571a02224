"""The include check of make check (scripts/check-includes.sh): the tree as it is
passes, and each layering rule of README's Layout, broken once in a copy of the
tree, fails the check with the file and line of the include that breaks it."""

import os
import shutil
import subprocess

SCRIPT = os.path.join("scripts", "check-includes.sh")
FOLDERS = ("common", "config", "master", "worker")


def run_check(root):
    return subprocess.run(["sh", os.path.join(root, SCRIPT), root], capture_output=True,
                          text=True, timeout=60)


def copy_tree(ctx):
    root = ctx.path("tree")
    os.makedirs(os.path.join(root, "scripts"), exist_ok=True)
    shutil.copy(os.path.join(ctx.repo, SCRIPT), os.path.join(root, SCRIPT))
    for d in FOLDERS:
        shutil.copytree(os.path.join(ctx.repo, d), os.path.join(root, d),
                        ignore=shutil.ignore_patterns("*.o", "*.d", "*.md"))
    return root


def add_include(root, path, include):
    """Appends one include line to path; returns its line number."""
    full = os.path.join(root, path)
    with open(full) as f:
        n = sum(1 for _ in f)
    with open(full, "a") as f:
        f.write("#include %s\n" % include)
    return n + 1


def test_the_tree_passes(ctx):
    r = run_check(ctx.repo)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "every dependency points down" in r.stdout, r.stdout


# One wrong-way include per rule: (file, include it may not have).
BROKEN = [
    ("common/log.c", '"config/config.h"'),            # common/ uses nothing above it
    ("common/buf.h", '"worker/worker.h"'),
    ("config/config_load.c", '"master/cycle.h"'),     # config/ uses only common/
    ("master/master.c", '"worker/event/timer.h"'),    # master/: only worker/worker.h
    ("master/cycle.c", '"worker/tls/tls.h"'),
    ("worker/worker.c", '"master/privs.h"'),          # worker/ never uses master/
    ("worker/event/conn.c", '"worker/tls/utls.h"'),   # event/ uses only common/
    ("worker/event/timer.c", '"config/config.h"'),
    ("worker/tls/utls.c", '"worker/session/session.h"'),
    ("worker/lookup/auth_http.c", '"worker/session/session.h"'),
    ("worker/proto/pop3_backend.c", '"worker/session/backend_facts.h"'),  # proto/ is pure
    ("worker/proto/imap.c", '"worker/event/timer.h"'),
    ("worker/proto/smtp.c", '"worker/tls/tls.h"'),
    ("worker/proto/sasl.c", '"common/log.h"'),
    ("worker/proto/pop3.c", "<unistd.h>"),
    ("worker/proto/proto.h", "<openssl/ssl.h>"),
    ("worker/proto/imap_parse.c", "<sys/epoll.h>"),
]


def test_each_rule_broken_once_fails_with_its_position(ctx):
    for path, include in BROKEN:
        root = copy_tree(ctx)
        line = add_include(root, path, include)
        r = run_check(root)
        assert r.returncode == 1, (path, include, r.stdout)
        assert "%s:%d: includes %s" % (path, line, include) in r.stdout, (path, include, r.stdout)
        assert "1 include(s) point the wrong way" in r.stdout, (path, r.stdout)
        shutil.rmtree(root)


def test_allowed_includes_pass(ctx):
    """Down and sideways stay allowed: the check does not simply refuse new includes."""
    root = copy_tree(ctx)
    for path, include in [
        ("master/master.c", '"worker/worker.h"'),
        ("worker/session/relay.c", '"worker/lookup/resolver.h"'),
        ("worker/lookup/resolver.c", '"worker/proto/proto.h"'),
        ("worker/tls/utls.c", '"worker/event/timer.h"'),
        ("worker/proto/smtp.c", '"common/net.h"'),
        ("worker/proto/smtp.c", "<openssl/rand.h>"),
        ("config/config_load.c", '"common/shm.h"'),
    ]:
        add_include(root, path, include)
    r = run_check(root)
    assert r.returncode == 0, r.stdout


def build_objects(ctx, proto_source):
    """A build folder with one proto/ object made of proto_source, beside empty buf.o/net.o."""
    b = ctx.path("build-pure")
    for d in ("worker/proto", "common"):
        os.makedirs(os.path.join(b, d), exist_ok=True)
    sources = {"worker/proto/machine": proto_source, "common/buf": "int buf_stub;\n",
               "common/net": "int net_stub;\n"}
    for name, text in sources.items():
        src = os.path.join(b, name + ".c")
        with open(src, "w") as f:
            f.write(text)
        subprocess.run(["cc", "-c", "-O0", "-fno-builtin", "-o", os.path.join(b, name + ".o"), src],
                       check=True, capture_output=True, timeout=60)
    return b


def run_pure(ctx, build):
    return subprocess.run(["sh", os.path.join(ctx.repo, "scripts", "check-pure.sh"), build],
                          capture_output=True, text=True, timeout=60)


def test_the_built_machines_pass_the_purity_check(ctx):
    build = os.path.dirname(ctx.bin) if os.path.basename(os.path.dirname(ctx.bin)).startswith("build") \
        else os.path.join(ctx.repo, "build")
    r = run_pure(ctx, build)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "uses no I/O" in r.stdout, r.stdout


def test_purity_check_names_each_io_call(ctx):
    """A machine that logs, sends, reads the clock of the loop or speaks TLS fails the
    check, each call named; string and memory functions alone pass."""
    calls = ["log_write", "send", "timer_set", "SSL_read", "ev_post", "session_close"]
    text = "#include <string.h>\n"
    text += "".join("extern int %s();\n" % c for c in calls)
    text += "int machine(char *d, const char *s) {\n  memcpy(d, s, strlen(s));\n"
    text += "".join("  %s();\n" % c for c in calls)
    text += "  return 0;\n}\n"
    r = run_pure(ctx, build_objects(ctx, text))
    assert r.returncode == 1, r.stdout
    for c in calls:
        assert "worker/proto/machine.o: uses %s," % c in r.stdout, (c, r.stdout)
    assert "%d use(s)" % len(calls) in r.stdout, r.stdout
    clean = "#include <string.h>\nint machine(char *d, const char *s) { memcpy(d, s, strlen(s)); return 0; }\n"
    r = run_pure(ctx, build_objects(ctx, clean))
    assert r.returncode == 0, r.stdout
