"""The binary's command line: -t, -T, errors with positions, -v, -V, bad options."""

import os
import shutil
import subprocess

EXAMPLE = "mailproxy.yaml.example"


def example_dir(ctx):
    """The repo root when `make` has generated cert.pem/cert.key there; otherwise a
    copy of the example with a freshly generated pair (so the test stands alone)."""
    if os.path.exists(os.path.join(ctx.repo, "cert.pem")) and \
            os.path.exists(os.path.join(ctx.repo, "cert.key")):
        return ctx.repo
    d = ctx.path("example")
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(ctx.repo, EXAMPLE), d)
    subprocess.run([os.path.join(ctx.repo, "scripts", "gen-cert.sh"), d, "cert"],
                   check=True, capture_output=True, timeout=30)
    return d


def test_example_config_is_valid(ctx):
    d = example_dir(ctx)
    r = ctx.cli("-t", "-c", EXAMPLE, cwd=d)
    assert r.rc == 0, r
    assert "syntax is ok" in r.out and "test is successful" in r.out, r


def test_quiet_test_prints_nothing_on_success(ctx):
    d = example_dir(ctx)
    r = ctx.cli("-t", "-q", "-c", EXAMPLE, cwd=d)
    assert r.rc == 0 and "syntax is ok" not in r.out, r


def test_dump_round_trip(ctx):
    d = example_dir(ctx)
    r = ctx.cli("-T", "-c", EXAMPLE, cwd=d)
    assert r.rc == 0, r
    assert "mail:" in r.stdout and "servers:" in r.stdout, r
    dumped = ctx.path("dumped.yaml")
    with open(dumped, "w") as f:
        f.write(r.stdout)
    r2 = ctx.cli("-t", "-c", dumped, "-p", d)
    assert r2.rc == 0, r2
    assert "test is successful" in r2.out
    # dumping the dump changes nothing but the comment naming the file
    r3 = ctx.cli("-T", "-c", dumped, "-p", d)
    assert r3.rc == 0, r3
    body = lambda t: [l for l in t.splitlines() if not l.startswith("#")]
    assert body(r3.stdout) == body(r.stdout), "second dump differs from the first"


def test_misspelled_key_names_file_line_column(ctx):
    cf = ctx.path("bad.yaml")
    with open(cf, "w") as f:
        f.write("mail:\n"
                "  auth_http: 127.0.0.1:9000/mail/auth\n"
                "  servers:\n"
                "    - listen: [\"127.0.0.1:11143\"]\n"
                "      protocol: imap\n"
                "      timout: 5s\n")
    r = ctx.cli("-t", "-c", cf)
    assert r.rc == 1, r
    assert "bad.yaml:6:7" in r.stderr, r
    assert 'did you mean "timeout"' in r.stderr, r
    assert "test failed" in r.stderr, r


def test_wrong_type_and_missing_file(ctx):
    cf = ctx.path("type.yaml")
    with open(cf, "w") as f:
        f.write("worker_processes: many\n"
                "mail:\n"
                "  auth_http: 127.0.0.1:9000/mail/auth\n"
                "  servers:\n"
                "    - listen: [\"127.0.0.1:11143\"]\n"
                "      protocol: imap\n")
    r = ctx.cli("-t", "-c", cf)
    assert r.rc == 1 and "type.yaml:1:" in r.stderr, r
    r = ctx.cli("-t", "-c", ctx.path("does-not-exist.yaml"))
    assert r.rc == 1 and "does-not-exist.yaml" in r.stderr, r


def test_global_directive_from_command_line(ctx):
    cf = ctx.path("g.yaml")
    with open(cf, "w") as f:
        f.write("mail:\n"
                "  auth_http: 127.0.0.1:9000/mail/auth\n"
                "  servers:\n"
                "    - listen: [\"127.0.0.1:11143\"]\n"
                "      protocol: imap\n")
    r = ctx.cli("-T", "-c", cf, "-g", "daemon: off")
    assert r.rc == 0, r
    assert "daemon: off" in r.stdout.splitlines(), r


def test_version(ctx):
    r = ctx.cli("-v")
    assert r.rc == 0, r
    assert "mailproxy version: mailproxy/" in r.out, r


def test_build_info(ctx):
    r = ctx.cli("-V")
    assert r.rc == 0, r
    assert "mailproxy version: mailproxy/" in r.out
    assert "OpenSSL" in r.out and "build options" in r.out, r


def test_help_and_unknown_option(ctx):
    r = ctx.cli("-h")
    assert r.rc == 0 and "Usage: mailproxy" in r.out, r
    r = ctx.cli("-Z")
    assert r.rc == 1, r
    assert "invalid option" in r.stderr, r
    r = ctx.cli("-c")
    assert r.rc == 1, r
