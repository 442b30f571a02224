"""Packaging (scripts/dist/, README "Install and run"): the man pages render without
warnings and the generated one matches the directive table; `make install` into a
temporary root gives a unit that `systemd-analyze verify` accepts and keeps an
operator's configuration; the logrotate file rotates a running proxy's log and the
proxy writes on in the new file (USR1); `make deb` builds a lintian-clean package
that installs with `dpkg -i`, whose binary accepts its own configuration with -t, and
that purges without leftovers. The .deb build takes about 30 s on two cores."""

import glob
import os
import re
import shutil
import subprocess

import pwd
import signal
import socket

from harness import LineClient, LogWaits, MailProxy, read_text, timeout, wait_until

MAN8 = os.path.join("docs", "mailproxy.8")
MAN5 = os.path.join("docs", "mailproxy.yaml.5")


def run(argv, cwd=None, env=None, timeout=120):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(argv, cwd=cwd, env=e, capture_output=True, text=True,
                          timeout=timeout)


def need(ctx, *tools):
    for t in tools:
        if shutil.which(t) is None:
            ctx.skip("%s is not installed (scripts/deps.sh test installs it)" % t)


def render(page):
    """man -l's output and its warnings (stderr)."""
    return run(["man", "-l", "--warnings", page], env={"MANWIDTH": "80", "MAN_KEEP_FORMATTING": ""})


def test_man_pages_render_without_warnings(ctx):
    need(ctx, "man", "groff")
    for page, sections in ((MAN8, ("SYNOPSIS", "OPTIONS", "SIGNALS", "FILES")),
                           (MAN5, ("DESCRIPTION", "MAIN CONTEXT", "EVENTS", "MAIL AND SERVER"))):
        path = os.path.join(ctx.repo, page)
        r = render(path)
        assert r.returncode == 0, (page, r.stderr)
        assert r.stderr == "", (page, r.stderr)
        for s in sections:
            assert re.search(r"^%s$" % s, r.stdout, re.M), (page, s, r.stdout[:2000])
        g = run(["groff", "-ww", "-z", "-man", path])
        assert g.returncode == 0 and g.stderr == "", (page, g.stderr)


def test_man5_is_the_directive_table(ctx):
    """docs/mailproxy.yaml.5 is what the binary generates (make check-docs checks the
    same), and every directive of the reference has its entry in the rendered page."""
    r = run([ctx.bin, "--reference-man"])
    assert r.returncode == 0, r.stderr
    assert read_text(os.path.join(ctx.repo, MAN5)) == r.stdout, \
        "docs/mailproxy.yaml.5 is stale: run make docs"
    ref = run([ctx.bin, "--reference"]).stdout
    names = re.findall(r"^\| `([a-z0-9_]+)` \|", ref, re.M)
    assert len(names) > 80, names
    page = render(os.path.join(ctx.repo, MAN5)).stdout
    entries = set(re.findall(r"^       ([a-z0-9_]+)\b", page, re.M))
    missing = [n for n in names if n not in entries]
    assert missing == [], missing


def not_under_sanitizer(ctx):
    """make install and make deb build and ship ./mailproxy, never the binary under
    test: the sanitizer pass of make check would only repeat the plain one."""
    if ctx.sanitizer:
        ctx.skip("packages the plain build; run in the plain pass")


def make_install(ctx, root, *extra):
    return run(["make", "-s", "install", "PREFIX=" + root,
                "LOGROTATEDIR=" + os.path.join(root, "etc", "logrotate.d")] + list(extra),
               cwd=ctx.repo, timeout=600)


@timeout(600)
def test_make_install_and_the_unit_verifies(ctx):
    need(ctx, "systemd-analyze", "make")
    not_under_sanitizer(ctx)
    root = ctx.path("root")
    r = make_install(ctx, root)
    assert r.returncode == 0, r.stdout + r.stderr
    conf = os.path.join(root, "etc", "mailproxy", "mailproxy.yaml")
    unit = os.path.join(root, "lib", "systemd", "system", "mailproxy.service")
    modes = {
        "sbin/mailproxy": 0o755, "etc/mailproxy/mailproxy.yaml": 0o640,
        "lib/systemd/system/mailproxy.service": 0o644, "etc/logrotate.d/mailproxy": 0o644,
        "share/man/man8/mailproxy.8": 0o644, "share/man/man5/mailproxy.yaml.5": 0o644,
        "share/doc/mailproxy/mailproxy.yaml.example": 0o644,
    }
    for rel, mode in modes.items():
        st = os.stat(os.path.join(root, rel))
        assert st.st_mode & 0o777 == mode, (rel, oct(st.st_mode))

    text = read_text(unit)
    sbin = os.path.join(root, "sbin", "mailproxy")
    assert "ExecStart=%s -c %s\n" % (sbin, conf) in text, text
    assert "ExecStartPre=%s -t -q -c %s\n" % (sbin, conf) in text, text
    assert "ExecReload=/bin/kill -HUP $MAINPID\n" in text, text
    assert "@" not in text.replace("$MAINPID", ""), text
    cf = read_text(conf)
    for line in ("pid: /run/mailproxy/mailproxy.pid", "error_log: /var/log/mailproxy/error.log",
                 "user: mailproxy mailproxy"):
        assert line in cf, (line, cf)
    # The unit's paths and the config's agree with the logrotate file's.
    assert "PIDFile=/run/mailproxy/mailproxy.pid" in text and "LogsDirectory=mailproxy" in text
    # systemd-analyze checks the binary exists and the Documentation= man pages open.
    v = run(["systemd-analyze", "verify", unit], env={"MANPATH": os.path.join(root, "share", "man")})
    assert v.returncode == 0 and v.stderr == "", v.stderr

    # An operator's configuration is never replaced.
    with open(conf, "a") as f:
        f.write("# mine\n")
    r = make_install(ctx, root)
    assert r.returncode == 0, r.stderr
    assert "exists, kept" in r.stdout, r.stdout
    assert read_text(conf).endswith("# mine\n")

    r = run(["make", "-s", "uninstall", "PREFIX=" + root,
             "LOGROTATEDIR=" + os.path.join(root, "etc", "logrotate.d")], cwd=ctx.repo)
    assert r.returncode == 0, r.stderr
    for rel in modes:
        assert os.path.exists(os.path.join(root, rel)) == (rel == "etc/mailproxy/mailproxy.yaml"), rel


class FileLog(LogWaits):
    def __init__(self, path):
        self.path = path

    def log(self):
        return read_text(self.path) if os.path.exists(self.path) else ""

    def describe(self):
        return "--- %s\n%s" % (self.path, self.log()[-3000:])


@timeout(60)
def test_logrotate_rotates_a_running_proxy(ctx):
    """The shipped logrotate file, its paths moved to a temp dir, run with -f: the log
    is renamed, the proxy gets USR1 through the pid file, and its next lines (the
    master's and a worker's) go to a new error.log."""
    need(ctx, "logrotate")
    logs = ctx.path("logs")
    rundir = ctx.path("run")
    os.makedirs(logs)
    os.makedirs(rundir)
    mp = ctx.mailproxy(servers=[{"protocol": "pop3"}],
                       mail={"auth_http": "127.0.0.1:9/auth"},
                       main={"error_log": os.path.join(logs, "error.log") + " debug",
                             "pid": os.path.join(rundir, "mailproxy.pid")})
    mp.wait_log(r"start worker process")
    conf = read_text(os.path.join(ctx.repo, "scripts", "dist", "mailproxy.logrotate"))
    assert "/var/log/mailproxy/" in conf and "/run/mailproxy/mailproxy.pid" in conf, conf
    conf = conf.replace("/var/log/mailproxy", logs).replace("/run/mailproxy", rundir)
    conf_path = ctx.path("logrotate.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    os.chmod(conf_path, 0o644)

    r = run(["logrotate", "-f", "-s", ctx.path("logrotate.state"), conf_path], timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    old = FileLog(os.path.join(logs, "error.log.1"))
    # Written after the rename, by the master and the workers, before they reopen.
    old.wait_log(r"start worker process")
    old.wait_log(r"reopening logs", count=1 + 2)
    # The new file: the proxy writes on in it (a client's session is logged there).
    with LineClient(mp.ports["pop3"]) as c:
        c.expect("+OK")
        c.cmd("QUIT")
        c.expect("+OK")
    mp.wait_log(r"client connected, client: 127\.0\.0\.1, server: 127\.0\.0\.1:%d\n"
                % mp.ports["pop3"])
    new = read_text(os.path.join(logs, "error.log"))
    assert "start worker process" not in new and "reopening logs" not in new, new
    assert "client connected" not in old.log(), old.log()
    assert glob.glob(os.path.join(logs, "error.log.*")) == [old.path]


def free_low_port():
    """A port below 1024 free on 127.0.0.1 (binding it needs CAP_NET_BIND_SERVICE)."""
    for port in range(1000, 600, -1):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port below 1024")


@timeout(60)
def test_the_units_capabilities_are_enough(ctx):
    """The master started as systemd starts it: root, NoNewPrivileges and only the
    unit's CapabilityBoundingSet (setpriv does the same to the process). It binds a
    port below 1024, its workers switch to nobody, the logs are handed to them, a
    client is served, and a graceful stop reaches the workers (signals to another
    user's process need CAP_KILL); a set without CAP_SETGID fails the workers, so
    the check has teeth."""
    need(ctx, "setpriv")
    if os.geteuid() != 0:
        ctx.skip("needs root")
    unit = read_text(os.path.join(ctx.repo, "scripts", "dist", "mailproxy.service.in"))
    caps = re.search(r"^CapabilityBoundingSet=(.*)$", unit, re.M).group(1).split()
    assert "NoNewPrivileges=yes" in unit.splitlines()

    def wrapper(name, keep):
        path = ctx.path(name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexec setpriv --no-new-privs --bounding-set -all,%s %s \"$@\"\n" % (
                ",".join("+" + c[len("CAP_"):].lower() for c in keep), ctx.bin))
        os.chmod(path, 0o755)
        return path

    port = free_low_port()
    mp = MailProxy(wrapper("as-systemd", caps), ctx.path("mp"),
                   servers=[{"protocol": "pop3", "listen": ["127.0.0.1:%d" % port]}],
                   mail={"auth_http": "127.0.0.1:9/auth"},
                   main={"user": "nobody nogroup", "error_log": "error.log info"})
    ctx.cleanup(mp.stop)
    mp.start()
    mp.wait_log(r"start worker process")
    wait_until(lambda: len(mp.workers()) == 2, 10, what="two workers")
    for w in mp.workers():
        uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)", read_text("/proc/%d/status" % w), re.M)
        assert uids.group(1) == uids.group(2) == str(pwd.getpwnam("nobody").pw_uid), uids.group(0)
    assert os.stat(mp.error_log_path).st_uid != 0
    with LineClient(port) as c:
        c.expect("+OK")
        c.cmd("QUIT")
        c.expect("+OK")
    mp.wait_log(r"client connected, client: 127\.0\.0\.1, server: 127\.0\.0\.1:%d\n" % port)
    workers = mp.workers()
    os.kill(mp.pid, signal.SIGQUIT)
    for w in workers:
        mp.wait_log(r"worker process %d exited with code 0" % w)
    mp.wait_log(r"\] \d+#\d+: exit\n")
    assert not re.search(r"failed|\[alert\]|\[emerg\]", mp.log()), mp.log()

    # Without CAP_SETGID the workers cannot switch users: the same start fails.
    mp2 = MailProxy(wrapper("no-setgid", [c for c in caps if c != "CAP_SETGID"]), ctx.path("mp2"),
                    servers=[{"protocol": "pop3"}], mail={"auth_http": "127.0.0.1:9/auth"},
                    main={"user": "nobody nogroup", "error_log": "error.log info"})
    ctx.cleanup(mp2.stop)
    mp2.start(timeout=2)    # returns with the port open and the workers gone
    mp2.wait_log(r"setgid\(\d+\) failed")


def installed(pkg):
    r = run(["dpkg-query", "-W", "-f=${db:Status-Status}", pkg])
    return r.returncode == 0 and r.stdout.strip() not in ("", "not-installed", "config-files")


@timeout(600)
def test_deb_builds_installs_and_purges(ctx):
    need(ctx, "dpkg-buildpackage", "dh", "lintian", "systemd-analyze")
    not_under_sanitizer(ctx)
    if os.geteuid() != 0:
        ctx.skip("dpkg -i needs root")
    if installed("mailproxy"):
        ctx.skip("a mailproxy package is already installed here; not replacing it")
    out = ctx.path("deb")
    r = run(["make", "deb", "DEB_DIR=" + out], cwd=ctx.repo, timeout=600)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    debs = glob.glob(os.path.join(out, "mailproxy_*.deb"))
    changes = glob.glob(os.path.join(out, "mailproxy_*.changes"))
    assert len(debs) == 1 and len(changes) == 1, os.listdir(out)

    # Every tag left is explained in scripts/dist/debian/mailproxy.lintian-overrides.
    li = run(["lintian", "--info", "--pedantic", changes[0]], timeout=300)
    tags = [l for l in li.stdout.splitlines() if re.match(r"^[EWIPX]: ", l)]
    assert tags == [], li.stdout
    assert li.returncode == 0, li.stdout + li.stderr

    ctx.cleanup(lambda: run(["dpkg", "--purge", "mailproxy"], timeout=120))
    r = run(["dpkg", "-i", debs[0]], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert run(["id", "mailproxy"]).returncode == 0
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "mailproxy"]).stdout
    assert "/etc/mailproxy/mailproxy.yaml" in conffiles and "/etc/logrotate.d/mailproxy" in conffiles, \
        conffiles
    t = run(["/usr/sbin/mailproxy", "-t", "-c", "/etc/mailproxy/mailproxy.yaml"])
    assert t.returncode == 0, t.stderr
    assert "test is successful" in t.stderr, t.stderr
    v = run(["systemd-analyze", "verify", "/lib/systemd/system/mailproxy.service"])
    assert v.returncode == 0 and v.stderr == "", v.stderr
    assert run(["man", "-w", "mailproxy.yaml"]).returncode == 0
    # Installed, neither enabled nor started (the configuration needs auth_http first).
    assert not os.path.exists("/etc/systemd/system/multi-user.target.wants/mailproxy.service")

    r = run(["dpkg", "--purge", "mailproxy"], timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    for path in ("/usr/sbin/mailproxy", "/etc/mailproxy", "/lib/systemd/system/mailproxy.service",
                 "/etc/logrotate.d/mailproxy", "/var/log/mailproxy"):
        assert not os.path.exists(path), path
    assert not installed("mailproxy")
