"""The process model: master and workers, signals, reload, binary upgrade,
respawn, -s, shared counters. Real processes on loopback; every loop is bounded."""

import imaplib
import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

from harness import LineClient, children_of, free_port, pid_alive, wait_until
from tls_support import client_context, self_signed, tls_server


def proc_title(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def proc_uid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return -1


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return sorted(out)


def greeting(port, timeout=5.0):
    """Connects and reads the IMAP greeting; returns it (bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(256)
            if not chunk:
                break
            data += chunk
        return data


def imap_server(**kw):
    d = {"protocol": "imap"}
    d.update(kw)
    return d


def status(ctx, mp):
    r = ctx.cli("-c", mp.config_path, "-s", "status")
    assert r.rc == 0, r
    return json.loads(r.stdout)


def test_start_titles_users_and_stop(ctx):
    au = ctx.auth_service()
    mp = ctx.mailproxy(servers=[imap_server()], auth=au, main={"worker_processes": 3})
    assert wait_until(lambda: len(children(mp.pid)) == 3, 20, what="3 workers")
    assert proc_title(mp.pid).startswith("mailproxy: master process ")
    assert mp.config_path in proc_title(mp.pid)
    # A worker names itself and then drops privileges right after fork: wait for
    # both rather than catching a child between fork and setuid.
    for w in children(mp.pid):
        wait_until(lambda: proc_title(w) == "mailproxy: worker process", 20,
                   what="worker %d's title (%r)" % (w, proc_title(w)))
        if os.geteuid() == 0:
            wait_until(lambda: proc_uid(w) == 65534, 20, what="worker %d to run as nobody" % w)
    assert proc_uid(mp.pid) == os.geteuid()
    assert mp.pidfile_pid() == mp.pid
    assert greeting(mp.ports["imap"]).startswith(b"* OK IMAP4 ready")
    r = ctx.cli("-c", mp.config_path, "-s", "stop")
    assert r.rc == 0, r
    assert mp.wait_exit(10) == 0
    assert not os.path.exists(mp.pid_path), "the pid file goes with the master"
    mp.wait_log(r"exit")


def test_signal_command_errors(ctx):
    au = ctx.auth_service()
    mp = ctx.mailproxy(servers=[imap_server()], auth=au, start=False)
    r = ctx.cli("-c", mp.config_path, "-s", "reload")
    assert r.rc == 1
    assert "mailproxy.pid" in r.stderr and "No such file" in r.stderr, r
    with open(mp.pid_path, "w") as f:
        f.write("999999\n")           # no such process (pid_max is lower)
    r = ctx.cli("-c", mp.config_path, "-s", "quit")
    assert r.rc == 1 and "stale pid file" in r.stderr, r
    with open(mp.pid_path, "w") as f:
        f.write("%d\n" % os.getpid())   # alive, but not mailproxy
    r = ctx.cli("-c", mp.config_path, "-s", "stop")
    assert r.rc == 1 and "is not mailproxy" in r.stderr, r
    with open(mp.pid_path, "w") as f:
        f.write("garbage\n")
    r = ctx.cli("-c", mp.config_path, "-s", "stop")
    assert r.rc == 1 and "invalid PID" in r.stderr, r
    r = ctx.cli("-c", mp.config_path, "-s", "bogus")
    assert r.rc == 1 and "invalid option" in r.stderr, r


def test_quit_is_graceful_and_reopen_rotates(ctx):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    mp = ctx.mailproxy(servers=[imap_server()], auth=au,
                       main={"error_log": "%s info" % os.path.join(ctx.tmp, "mp.log")})
    log = os.path.join(ctx.tmp, "mp.log")
    m = imaplib.IMAP4("127.0.0.1", mp.ports["imap"], timeout=10)
    m.login("alice", "alicepw")
    # logrotate: move the file away, then USR1 through -s reopen.
    os.rename(log, log + ".1")
    assert ctx.cli("-c", mp.config_path, "-s", "reopen").rc == 0
    assert wait_until(lambda: os.path.exists(log), 20, what="reopened log file")
    if os.geteuid() == 0:
        # The master creates the file, then hands it over (open, then fchown).
        assert wait_until(lambda: os.stat(log).st_uid == 65534, 20,
                          what="the new log to belong to the worker user")
    # QUIT: no new connections, the open session goes on to its end.
    assert ctx.cli("-c", mp.config_path, "-s", "quit").rc == 0
    assert wait_until(lambda: not is_accepting(mp.ports["imap"]), 20, what="listener closed")
    assert m.noop()[0] == "OK"
    m.logout()
    assert mp.wait_exit(10) == 0
    assert "gracefully shutting down" in open(log).read() + open(log + ".1").read()


def is_accepting(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_worker_shutdown_timeout_bounds_draining(ctx):
    au = ctx.auth_service()
    mp = ctx.mailproxy(servers=[imap_server()], auth=au,
                       main={"worker_shutdown_timeout": "1s", "worker_processes": 1})
    c = LineClient(mp.ports["imap"])
    c.expect("* OK")
    mp.signal(signal.SIGQUIT)
    t0 = time.monotonic()
    assert mp.wait_exit(10) == 0, "the open session must not hold the worker"
    assert time.monotonic() - t0 < 8
    mp.wait_log(r"shutdown timeout")
    assert c.closed(timeout=5)


def test_reload_changes_listeners_without_refusing(ctx):
    au = ctx.auth_service()
    keep, gone, new = free_port(), free_port(), free_port()
    mp = ctx.mailproxy(servers=[imap_server(listen=["127.0.0.1:%d" % keep]),
                                imap_server(listen=["127.0.0.1:%d" % gone])], auth=au)
    stop = threading.Event()
    failures, successes = [], [0]

    def hammer():
        while not stop.is_set():
            try:
                g = greeting(keep)
                if not g.startswith(b"* OK"):
                    failures.append(g)
                else:
                    successes[0] += 1
            except OSError as e:
                failures.append(repr(e))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        # the hammer is at work before the reload (instead of sleeping 0.3 s)
        wait_until(lambda: successes[0] >= 10 or failures, 20, what="connections before")
        yaml = open(mp.config_path).read().replace(":%d" % gone, ":%d" % new)
        with open(mp.config_path, "w") as f:
            f.write(yaml)
        ctx.cli("-c", mp.config_path, "-s", "reload")
        assert wait_until(lambda: is_accepting(new), 20, what="new listener")
        assert wait_until(lambda: not is_accepting(gone), 20, what="removed listener closed")
        # A broken configuration changes nothing.
        with open(mp.config_path, "a") as f:
            f.write("bogus_directive: 1\n")
        mp.reload()
        mp.wait_log(r"unknown directive.*reload failed|reload failed")
        assert is_accepting(new) and is_accepting(keep)
        # and keeps at it after the failed reload (instead of sleeping 0.3 s)
        after = successes[0]
        wait_until(lambda: successes[0] >= after + 11 or failures, 20,
                   what="connections after the failed reload")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not failures, failures[:5]
    assert successes[0] > 20


def test_kill_worker_respawns_others_untouched(ctx):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    mp = ctx.mailproxy(servers=[imap_server(listen=["127.0.0.1:%d reuseport" % free_port()])],
                       auth=au, main={"worker_processes": 2})
    port = mp.listens[0][1]
    workers = children(mp.pid)
    assert len(workers) == 2
    # Sessions on both workers (reuseport spreads by address and port).
    sessions = []
    for i in range(16):                 # Dovecot allows 10 per user and address
        m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
        m.login(*(("bob", "bobpw") if i % 2 else ("alice", "alicepw")))
        sessions.append(m)
    st = status(ctx, mp)
    per_worker = {w["pid"]: w["active"] for w in st["workers"]}
    assert all(per_worker.get(w, 0) > 0 for w in workers), per_worker
    victim = workers[0]
    t0 = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: len(children(mp.pid)) == 2 and victim not in children(mp.pid), 20,
                      what="a respawned worker")
    respawn_ms = (time.monotonic() - t0) * 1000
    print("respawned in %.0f ms" % respawn_ms)
    mp.wait_log(r"worker process %d exited on signal 9" % victim)
    survivors = 0
    for m in sessions:
        try:
            if m.noop()[0] == "OK":
                survivors += 1
            m.logout()
        except (imaplib.IMAP4.abort, OSError):
            pass
    assert survivors >= per_worker[workers[1]], "sessions of the other worker are untouched"
    assert greeting(port).startswith(b"* OK"), "the new worker serves"


def test_crash_loop_is_backed_off(ctx):
    au = ctx.auth_service()
    mp = ctx.mailproxy(servers=[imap_server()], auth=au, main={"worker_processes": 1})
    for _ in range(4):
        kids = children(mp.pid)
        if kids:
            os.kill(kids[0], signal.SIGKILL)
        wait_until(lambda: children(mp.pid) and children(mp.pid) != kids, 20)
    mp.wait_log(r"died \d+ times in a row right after start; respawning in \d+ ms")
    assert wait_until(lambda: len(children(mp.pid)) == 1, 20, what="worker back after backoff")


def test_reload_50_times_leaks_no_fd_or_memory(ctx):
    au = ctx.auth_service()
    mp = ctx.mailproxy(servers=[imap_server()], auth=au, main={"worker_processes": 1})
    port = mp.ports["imap"]

    def settle():
        assert wait_until(lambda: len(children(mp.pid)) == 1, 20, what="old workers gone")

    generation = [0]

    def reload():
        # one HUP at a time: HUPs sent while a reload runs coalesce into one (a
        # pending signal is not queued), so wait for this one to take effect
        generation[0] += 1
        mp.reload()
        mp.wait_log(r"configuration generation %d is running" % generation[0])

    for _ in range(3):          # warm up allocator pools
        reload()
    settle()
    fds, rss = fd_count(mp.pid), rss_kb(mp.pid)
    for i in range(50):
        reload()
        if i % 10 == 9:
            settle()
    settle()
    assert greeting(port).startswith(b"* OK")
    assert fd_count(mp.pid) == fds, (fds, fd_count(mp.pid), os.listdir("/proc/%d/fd" % mp.pid))
    grown = rss_kb(mp.pid) - rss
    print("master RSS grew %d kB over 50 reloads" % grown)
    # Under ASan freed memory sits in a quarantine, so RSS says nothing there;
    # LeakSanitizer checks the master at exit instead (the runner reads its report).
    if not ctx.sanitizer:
        assert grown < 512, "master memory grows with reloads: %d kB" % grown
    st = status(ctx, mp)
    assert st["reloads"] >= 53


def test_status_counts_sessions(ctx):
    dv = ctx.dovecot()
    au = ctx.auth_service(dovecot=dv)
    mp = ctx.mailproxy(servers=[imap_server()], auth=au)
    for _ in range(3):
        m = imaplib.IMAP4("127.0.0.1", mp.ports["imap"], timeout=10)
        m.login("alice", "alicepw")
        m.logout()
    try:
        imaplib.IMAP4("127.0.0.1", mp.ports["imap"], timeout=10).login("alice", "nope")
    except imaplib.IMAP4.error:
        pass
    assert wait_until(lambda: status(ctx, mp)["totals"]["handled"] >= 4, 20)
    st = status(ctx, mp)
    t = st["totals"]
    assert st["master_pid"] == mp.pid
    assert t["accepted"] >= 4 and t["auth_ok"] == 3 and t["auth_fail"] == 1, t
    assert t["bytes_in"] > 0 and t["bytes_out"] > 0
    assert len(st["workers"]) == 2
    assert all(w["generation"] == 0 and w["state"] == "running" for w in st["workers"])


def test_binary_upgrade_failure_keeps_old_master(ctx):
    au = ctx.auth_service()
    binary = os.path.join(ctx.tmp, "mailproxy-copy")
    shutil.copy(ctx.bin, binary)
    from harness.proxy import MailProxy
    mp = MailProxy(binary, ctx.path("mp"), servers=[imap_server()], auth=au)
    ctx.cleanup(mp.stop)
    mp.start()
    os.unlink(binary)                  # the exec will fail
    mp.signal(signal.SIGUSR2)
    mp.wait_log(r"execv\(\) .* failed")
    mp.wait_log(r"new binary process \d+ exited")
    assert wait_until(lambda: os.path.exists(mp.pid_path) and mp.pidfile_pid() == mp.pid, 20)
    assert not os.path.exists(mp.pid_path + ".oldbin")
    assert greeting(mp.ports["imap"]).startswith(b"* OK")


def test_reloads_and_upgrade_under_load(ctx):
    """10 HUPs, then USR2 + WINCH + QUIT, while 200 logged-in sessions stay open
    and new connections keep coming: nothing refused, nothing reset."""
    dv = ctx.dovecot(extra_conf=(
        "default_process_limit = 400\n"
        "default_client_limit = 2000\n"
        "service imap {\n  process_limit = 400\n}\n"
        "mail_max_userip_connections = 1000\n"))
    au = ctx.auth_service(dovecot=dv)
    mp = ctx.mailproxy(servers=[imap_server()], auth=au,
                       main={"worker_processes": 2, "events": {"worker_connections": 2048}})
    port = mp.ports["imap"]
    n_long, errors, done = 200, [], threading.Event()
    long_ok = [0]
    new_ok = [0]
    lock = threading.Lock()

    def long_session(i):
        try:
            m = imaplib.IMAP4("127.0.0.1", port, timeout=30)
            m.login("alice", "alicepw")
            while not done.is_set():
                if m.noop()[0] != "OK":
                    raise RuntimeError("NOOP failed")
                done.wait(1.0 + (i % 7) * 0.1)
            m.logout()
            with lock:
                long_ok[0] += 1
        except Exception as e:      # noqa: BLE001 - every failure is counted
            with lock:
                errors.append("long %d: %r" % (i, e))

    def new_connections():
        while not done.is_set():
            try:
                with LineClient(port, timeout=10) as c:
                    c.expect("* OK")
                    c.cmd("x LOGOUT")
                    c.read_until("x OK")
                with lock:
                    new_ok[0] += 1
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append("new: %r" % (e,))

    longs = [threading.Thread(target=long_session, args=(i,)) for i in range(n_long)]
    for t in longs:
        t.start()
        time.sleep(0.005)
    news = [threading.Thread(target=new_connections) for _ in range(4)]
    for t in news:
        t.start()
    new_master = None
    try:
        for _ in range(10):
            time.sleep(0.6)
            mp.reload()
        time.sleep(1)
        mp.signal(signal.SIGUSR2)
        assert wait_until(lambda: os.path.exists(mp.pid_path + ".oldbin") and
                          mp.pidfile_pid() not in (None, mp.pid), 10, what="new master")
        new_master = mp.pidfile_pid()
        assert wait_until(lambda: len(children(new_master)) == 2, 10, what="new workers")
        time.sleep(1)
        mp.signal(signal.SIGWINCH)
        time.sleep(2)
        mp.signal(signal.SIGQUIT)
        time.sleep(3)
    finally:
        done.set()
        for t in longs + news:
            t.join(40)
        if new_master is not None:
            os.kill(new_master, signal.SIGQUIT)
            wait_until(lambda: not pid_alive(new_master), 15)
    assert not errors, "%d errors, first: %s" % (len(errors), errors[:5])
    assert long_ok[0] == n_long
    assert new_ok[0] > 50, new_ok[0]
    assert mp.wait_exit(15) == 0, "the old master leaves once its sessions are done"


def _stderr_inode(pid):
    return os.stat("/proc/%d/fd/2" % pid).st_ino


def test_daemon_mode_stderr_follows_the_rotated_log(ctx):
    """daemon: on (nginx's default): the command returns once the server runs in the
    background, the pid file names the master, and the master's and the workers'
    stderr (what OpenSSL or the C library print) is the error log; after a rotation
    and -s reopen, every one of them writes to the new file, not the moved one."""
    au = ctx.auth_service()
    log = os.path.join(ctx.tmp, "daemon.log")
    mp = ctx.mailproxy(start=False, servers=[imap_server()], auth=au,
                       main={"daemon": True, "error_log": "%s info" % log})
    r = ctx.cli("-p", mp.prefix, "-c", mp.config_path, timeout=20)
    assert r.rc == 0, r
    assert wait_until(lambda: mp.pidfile_pid() is not None, 10, what="the pid file")
    master = mp.pidfile_pid()

    def stop():
        if pid_alive(master):
            os.kill(master, signal.SIGTERM)
            wait_until(lambda: not pid_alive(master), 10, what="the daemon to exit")
    ctx.cleanup(stop)
    assert wait_until(lambda: len(children_of(master)) == 2, 10, what="two workers")
    with LineClient(mp.ports["imap"]) as c:
        c.expect("* OK")
    procs = [master] + children_of(master)
    ino = os.stat(log).st_ino
    assert all(_stderr_inode(p) == ino for p in procs), "stderr is not the error log"
    os.rename(log, log + ".1")
    assert ctx.cli("-c", mp.config_path, "-s", "reopen").rc == 0
    assert wait_until(lambda: os.path.exists(log), 20, what="the reopened log")
    new = os.stat(log).st_ino
    assert wait_until(lambda: all(_stderr_inode(p) == new for p in procs), 20,
                      what="every process's stderr on the new log"), \
        [(p, _stderr_inode(p)) for p in procs]
    assert ctx.cli("-c", mp.config_path, "-s", "stop").rc == 0
    assert wait_until(lambda: not pid_alive(master), 10, what="the daemon to stop")


def _state(pid):
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    return stat[stat.rindex(")") + 2]


def _switches(pid):
    with open("/proc/%d/status" % pid) as f:
        return sum(int(line.split()[1]) for line in f if "ctxt_switches" in line)


def test_idle_master_sleeps(ctx):
    """With nothing to do (no worker to respawn later, no stop under way) the master
    waits for a signal and does not wake on its own."""
    mp = ctx.mailproxy(servers=[imap_server()], mail={"auth_http": "127.0.0.1:9/auth"})
    # start-up is over (instead of sleeping 0.3 s): both workers run, both logged as
    # started, and the master sleeps
    wait_until(lambda: len(mp.workers()) == 2 and _state(mp.pid) == "S", 20,
               what="the workers up and the master asleep")
    mp.wait_log(r"start worker process", count=2)
    wait_until(lambda: _state(mp.pid) == "S", 20, what="the master asleep")
    before = _switches(mp.pid)
    time.sleep(1.5)
    assert _switches(mp.pid) - before <= 1, "the master woke up while idle"
    mp.signal(signal.SIGHUP)                 # and it still answers signals
    mp.wait_log(r"configuration generation 0 retired")


def _start_lines(ctx, pid):
    """The regexes of what nginx's ngx_os_status() logs at start, for master pid:
    the version (common/version.h), the OpenSSL it was built with, the OS (uname) and
    the fd limit (getrlimit; nginx prints RLIM_INFINITY as -1)."""
    with open(os.path.join(ctx.repo, "common", "version.h")) as f:
        version = re.search(r'#define MAILPROXY_VERSION "([^"]+)"', f.read()).group(1)
    u = os.uname()
    cur, mx = (-1 if v == resource.RLIM_INFINITY else v
               for v in resource.getrlimit(resource.RLIMIT_NOFILE))
    head = r"\[notice\] %d#%d: " % (pid, pid)
    return [head + r"mailproxy/%s\n" % re.escape(version),
            head + r"built with OpenSSL \d+\.\d+\.\d+\S* .*\n",
            head + r"OS: %s\n" % re.escape(" ".join((u.sysname, u.release, u.version,
                                                      u.machine))),
            head + r"getrlimit\(RLIMIT_NOFILE\): %d:%d\n" % (cur, mx)]


def test_start_logs_version_build_os_and_fd_limit_once(ctx):
    """As nginx's ngx_os_status(), the master logs at notice, once when it starts and
    before "started": its version, the OpenSSL it was built with ("(running with ...)"
    when another one is loaded), the OS and getrlimit(RLIMIT_NOFILE). Not again on a
    reload; the new master of a binary upgrade logs its own. Notice lines are filtered
    by the error_log level like any other: at nginx's default level, error, they are
    not written, as in nginx."""
    au = ctx.auth_service()
    quiet = ctx.path("quiet.log")
    mp = ctx.mailproxy(servers=[imap_server()], auth=au,
                       main={"error_log": ["error.log notice", "%s error" % quiet]})
    lines = _start_lines(ctx, mp.pid)
    for rx in lines:
        mp.wait_log(rx, timeout=10)
    started = mp.wait_log(r"\[notice\] %d#%d: mailproxy started, master process" %
                          (mp.pid, mp.pid), timeout=10)
    text = mp.log()
    assert all(re.search(rx, text).start() < started.start() for rx in lines), text
    assert "built by " in text, "the compiler, as nginx's \"built by\" line"

    mp.reload()
    mp.wait_log(r"configuration generation 1 is running", timeout=10)
    text = mp.log()
    assert [len(re.findall(rx, text)) for rx in lines] == [1] * len(lines), \
        "logged again on reload:\n" + text

    mp.signal(signal.SIGUSR2)
    assert wait_until(lambda: os.path.exists(mp.pid_path + ".oldbin") and
                      mp.pidfile_pid() not in (None, mp.pid), 10, what="new master")
    new_master = mp.pidfile_pid()

    def stop_new():
        if pid_alive(new_master):
            os.kill(new_master, signal.SIGQUIT)
            wait_until(lambda: not pid_alive(new_master), 15, what="the new master to exit")
    ctx.cleanup(stop_new)
    for rx in _start_lines(ctx, new_master):
        mp.wait_log(rx, timeout=10)
    mp.wait_log(r"\[notice\] %d#%d: mailproxy started, master process %d \(binary upgrade\)"
                % (new_master, new_master, new_master), timeout=10)
    text = mp.log()
    assert [len(re.findall(rx, text)) for rx in lines] == [1] * len(lines), text
    with open(quiet) as f:
        q = f.read()
    assert "mailproxy/" not in q and "getrlimit" not in q and "OS: " not in q, q


def test_ssl_conf_command_files_are_under_the_prefix(ctx):
    """ssl_conf_command values OpenSSL takes as a file or directory (Certificate,
    PrivateKey, ChainCAFile, ...) resolve against the prefix like ssl_certificate (nginx:
    ngx_conf_full_name), not against the cwd: started with -p PREFIX from another
    directory, the proxy serves the override certificate from PREFIX. -t finds them the
    same way; -T prints them as written."""
    pfx = ctx.path("prefix")
    cert, key = self_signed(ctx.path("pki"), "server", "localhost")
    override, _ = self_signed(pfx, "override", "override.example")
    au = ctx.auth_service()
    # The harness runs the binary from its own directory; the last -p wins.
    mp = ctx.mailproxy(servers=[tls_server("imap", cert, key, ssl_conf_command={
        "Certificate": "override.pem", "PrivateKey": "override.key"})],
        auth=au, args=["-p", pfx])
    assert os.path.abspath(mp.prefix) != os.path.abspath(pfx)
    with socket.create_connection(("127.0.0.1", mp.ports["imaps"]), timeout=10) as raw:
        with client_context().wrap_socket(raw, server_hostname="localhost") as s:
            served = s.getpeercert(binary_form=True)
    with open(override) as f:
        assert served == ssl.PEM_cert_to_DER_cert(f.read()), "not the override certificate"
    r = ctx.cli("-t", "-p", pfx, "-c", mp.config_path, cwd="/")
    assert r.rc == 0 and "test is successful" in r.stderr, r
    r = ctx.cli("-T", "-p", pfx, "-c", mp.config_path, cwd="/")
    assert r.rc == 0, r
    assert re.search(r"ssl_conf_command: .*Certificate override\.pem", r.stdout), r.stdout
    r = ctx.cli("-t", "-c", mp.config_path, cwd="/")     # prefix: the file's directory
    assert r.rc == 1 and ("%s/override.pem" % os.path.realpath(mp.prefix)) in r.stderr, r
