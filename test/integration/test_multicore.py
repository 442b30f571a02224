"""Workers and CPUs: worker_cpu_affinity (masks and auto), worker_processes auto under
taskset, and the attributes nginx gives each worker after fork (worker_priority,
worker_rlimit_core, working_directory, env), read back from /proc/PID of each worker.
A test that needs two CPUs skips on a machine (or a taskset) with fewer."""

import os
import re
import shutil
import tempfile

from harness import wait_until

AFFINITY_RX = r"(\d+)#\d+: sched_setaffinity\((0x[0-9a-f]+)\)"


def imap_server():
    return {"protocol": "imap"}


def need_cpus(ctx, n):
    if len(os.sched_getaffinity(0)) < n:
        ctx.skip("needs %d CPUs, this process may use %d" % (n, len(os.sched_getaffinity(0))))


def cpus_allowed(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return None


def nice_of(pid):
    """Field 19 of /proc/PID/stat (the title has blanks: split after the ')')."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[19 - 3])


def core_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max core file size"):
                return line.split()[4:6]
    return None


def affinity_by_pid(mp, n):
    """Waits for n "sched_setaffinity(0x..)" lines; {worker pid: mask}."""
    mp.wait_log(AFFINITY_RX, count=n)
    return {int(p): m for p, m in re.findall(AFFINITY_RX, mp.log())}


def test_affinity_masks_one_per_worker(ctx):
    need_cpus(ctx, 2)
    au = ctx.auth_service()
    mp = ctx.mailproxy(servers=[imap_server()], auth=au,
                       main={"worker_processes": 2, "worker_cpu_affinity": "01 10"})
    masks = affinity_by_pid(mp, 2)
    workers = mp.workers()
    assert sorted(masks) == sorted(workers), (masks, workers)
    assert sorted(masks.values()) == ["0x1", "0x2"], masks
    for pid, m in masks.items():
        want = "0" if m == "0x1" else "1"
        wait_until(lambda: cpus_allowed(pid) == want, 10,
                   what="worker %d on CPU %s (%s)" % (pid, want, cpus_allowed(pid)))


def test_affinity_last_mask_applies_to_the_rest(ctx):
    need_cpus(ctx, 2)
    au = ctx.auth_service()
    mp = ctx.mailproxy(servers=[imap_server()], auth=au,
                       main={"worker_processes": 3, "worker_cpu_affinity": ["01", "10"]})
    masks = affinity_by_pid(mp, 3)
    assert sorted(masks.values()) == ["0x1", "0x2", "0x2"], masks


def test_affinity_auto_spreads_workers(ctx):
    need_cpus(ctx, 2)
    allowed = sorted(os.sched_getaffinity(0))
    au = ctx.auth_service()
    mp = ctx.mailproxy(servers=[imap_server()], auth=au,
                       main={"worker_processes": 2, "worker_cpu_affinity": "auto"})
    masks = affinity_by_pid(mp, 2)
    want = sorted("0x%x" % (1 << c) for c in allowed[:2])
    assert sorted(masks.values()) == want, (masks, allowed)
    got = set()
    for pid in masks:
        wait_until(lambda: cpus_allowed(pid) in {str(c) for c in allowed[:2]}, 10,
                   what="worker %d on one CPU (%s)" % (pid, cpus_allowed(pid)))
        got.add(cpus_allowed(pid))
    assert got == {str(c) for c in allowed[:2]}, got


def test_affinity_auto_mask_restricts(ctx):
    need_cpus(ctx, 2)
    allowed = sorted(os.sched_getaffinity(0))
    cpu = allowed[1]
    mask = "1" + "0" * cpu
    au = ctx.auth_service()
    mp = ctx.mailproxy(servers=[imap_server()], auth=au,
                       main={"worker_processes": 2, "worker_cpu_affinity": "auto " + mask})
    masks = affinity_by_pid(mp, 2)
    assert set(masks.values()) == {"0x%x" % (1 << cpu)}, masks
    for pid in masks:
        wait_until(lambda: cpus_allowed(pid) == str(cpu), 10, what="worker %d on CPU %d" % (pid, cpu))


def test_affinity_mask_without_allowed_cpu_is_an_alert(ctx):
    au = ctx.auth_service()
    big = "1" + "0" * 1000     # CPU 1000: not on this machine
    mp = ctx.mailproxy(servers=[imap_server()], auth=au,
                       main={"worker_processes": 1, "worker_cpu_affinity": big})
    mp.wait_log(r"\[alert\].*worker_cpu_affinity: the mask .* has no CPU this process is "
                r"allowed to run on, affinity left unchanged")
    before = cpus_allowed(os.getpid())
    for pid in mp.workers():
        assert cpus_allowed(pid) == before


def test_worker_processes_auto_under_taskset(ctx):
    cpu = sorted(os.sched_getaffinity(0))[0]
    au = ctx.auth_service()
    mp = ctx.mailproxy(start=False, servers=[imap_server()], auth=au,
                       main={"worker_processes": "auto", "worker_cpu_affinity": "auto"})
    wrapper = os.path.join(mp.prefix, "taskset-mailproxy")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec taskset -c %d %s \"$@\"\n" % (cpu, mp.binary))
    os.chmod(wrapper, 0o755)
    mp.binary = wrapper
    mp.start()
    mp.wait_log(r"start worker process")
    masks = affinity_by_pid(mp, 1)
    assert list(masks.values()) == ["0x%x" % (1 << cpu)], masks
    assert len(mp.workers()) == 1, mp.workers()
    assert mp.log_count(r"start worker process") == 1


def test_priority_core_limit_cwd_and_env(ctx):
    wd = tempfile.mkdtemp(prefix="mp-wd-", dir="/tmp")
    os.chmod(wd, 0o755)
    ctx.cleanup(lambda: shutil.rmtree(wd, ignore_errors=True))
    au = ctx.auth_service()
    mp = ctx.mailproxy(servers=[imap_server()], auth=au,
                       env={"MP_KEEP": "kept", "MP_DROP": "dropped"},
                       main={"worker_processes": 2, "worker_priority": 5,
                             "worker_rlimit_core": "10m", "working_directory": wd,
                             "env": ["MP_KEEP", "MP_SET=value with blanks", "MP_ABSENT"]})
    mp.wait_log(r"worker environment: ", count=2)
    workers = mp.workers()
    assert len(workers) == 2
    for pid in workers:
        assert nice_of(pid) == 5, nice_of(pid)
        assert core_limit(pid) == ["10485760", "10485760"], core_limit(pid)
        wait_until(lambda: os.readlink("/proc/%d/cwd" % pid) == wd, 10,
                   what="worker %d in %s" % (pid, wd))
    assert nice_of(mp.pid) == nice_of(os.getpid()), "the master keeps its priority"
    # /proc/PID/environ is the exec-time area the process title is written over, so
    # the worker logs the names it kept (values may be secrets).
    line = mp.wait_log(r"worker environment: ([^\n]*)").group(1).split()
    assert "MP_KEEP" in line and "MP_SET" in line, line
    assert "MP_DROP" not in line and "MP_ABSENT" not in line and "PATH" not in line, line


def test_event_methods_and_accept_mutex(ctx):
    au = ctx.auth_service()
    mp = ctx.mailproxy(servers=[imap_server()], auth=au,
                       main={"worker_processes": 1, "timer_resolution": "100ms",
                             "events": {"use": "epoll", "accept_mutex": True,
                                        "accept_mutex_delay": "100ms", "multi_accept": True}})
    r = ctx.cli("-T", "-p", mp.prefix, "-c", mp.config_path)
    assert r.rc == 0, r
    for want in ("use: epoll", "accept_mutex: on", "accept_mutex_delay: 100ms",
                 "timer_resolution: 100ms"):
        assert want in r.stdout, (want, r.stdout)
    bad = ctx.path("kq.yaml")
    with open(bad, "w") as f:
        f.write("events:\n  worker_connections: 10\n  use: kqueue\n")
    r = ctx.cli("-t", "-c", bad)
    assert r.rc == 1, r
    assert "kq.yaml:3:8:" in r.stderr and "epoll" in r.stderr, r


def test_dump_round_trip_of_process_directives(ctx):
    cf = ctx.path("p.yaml")
    with open(cf, "w") as f:
        f.write("worker_processes: auto\n"
                "worker_cpu_affinity: [auto, \"0110\"]\n"
                "worker_priority: -3\n"
                "worker_rlimit_core: 500m\n"
                "working_directory: /var/tmp\n"
                "env: [TZ, \"A=b c\"]\n"
                "timer_resolution: 10ms\n"
                "events:\n  use: epoll\n  accept_mutex: off\n")
    r = ctx.cli("-T", "-c", cf)
    assert r.rc == 0, r
    dumped = ctx.path("dumped.yaml")
    with open(dumped, "w") as f:
        f.write(r.stdout)
    r2 = ctx.cli("-T", "-c", dumped)
    assert r2.rc == 0, r2
    body = lambda t: [l for l in t.splitlines() if not l.startswith("#")]
    assert body(r2.stdout) == body(r.stdout)
    for want in ('worker_cpu_affinity: ["auto", "0110"]', "worker_priority: -3",
                 "worker_rlimit_core: 500m", 'env: ["TZ", "A=b c"]'):
        assert want in r.stdout, (want, r.stdout)
