"""A private Postfix (smtpd on a loopback port, virtual Maildir delivery), per
/work/shared/reference/test-peers.md."""

import glob
import os
import re
import shutil
import socket
import subprocess
import time

from .util import (LOOPBACK, LogWaits, Skip, free_port, mkdir, pid_alive, read_text,
                   register_live, stop_pid, tail, unregister_live, wait_pid_gone)

MASTER_CF_SERVICES = """pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix(LogWaits):
    """Private Postfix: every *@test.example lands in one Maildir (mail/inbox/).

    workdir  directory to create it in (parents traversable, 0755).
    extra_main_cf  lines appended to main.cf.
    lmtp     None, or a peer with host and lmtp_port (a Dovecot started with
             sieve=True): *@test.example is then delivered there over LMTP (each
             user's own mailbox, filed by their Sieve script) instead of mail/inbox/.
    Attributes: host, smtp_port, pid (master, after start), dir, etc_dir.
    XCLIENT is allowed from 127.0.0.0/8; other domains are refused (relay) unless the
    client is in mynetworks (127.0.0.0/8), and then bounce via the error transport.
    """

    def __init__(self, workdir, extra_main_cf="", lmtp=None):
        if shutil.which("postfix") is None:
            raise Skip("postfix is not installed (scripts/deps.sh test)")
        if os.geteuid() != 0:
            raise Skip("the private Postfix needs root")
        self.dir = mkdir(os.path.abspath(workdir))
        self.etc_dir = os.path.join(self.dir, "etc")
        self.spool_dir = os.path.join(self.dir, "spool")
        self.mail_dir = os.path.join(self.dir, "mail")
        self.maillog_path = os.path.join(self.dir, "maillog")
        self.host = LOOPBACK
        self.smtp_port = free_port()
        self.extra_main_cf = extra_main_cf
        self.lmtp = "" if lmtp is None else \
            "virtual_transport = lmtp:inet:%s:%d\n" % (lmtp.host, lmtp.lmtp_port)
        self.pid = None
        self._token = None

    def _main_cf(self):
        return """compatibility_level = 3.6
queue_directory = {p}/spool
data_directory = {p}/data
maillog_file = {p}/maillog
maillog_file_prefixes = {p}
myhostname = mx.test.example
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_sasl_authenticated_header = yes
local_transport = error:local delivery disabled
default_transport = error:outbound delivery disabled
virtual_mailbox_domains = test.example
virtual_mailbox_base = {p}/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
alias_maps =
alias_database =
{lmtp}{extra}
""".format(p=self.dir, lmtp=self.lmtp, extra=self.extra_main_cf)

    def _postfix(self, *args, timeout=30):
        return subprocess.run(["postfix", "-c", self.etc_dir] + list(args),
                              capture_output=True, timeout=timeout)

    def start(self, timeout=15.0):
        os.chmod(self.dir, 0o755)
        mkdir(self.etc_dir)
        mkdir(self.spool_dir)
        mkdir(self.mail_dir)
        os.chown(self.mail_dir, 65534, 65534)
        with open(os.path.join(self.etc_dir, "main.cf"), "w") as f:
            f.write(self._main_cf())
        with open(os.path.join(self.etc_dir, "master.cf"), "w") as f:
            f.write("%s:%d inet n  -       n       -       -       smtpd\n" % (
                LOOPBACK, self.smtp_port) + MASTER_CF_SERVICES)
        r = self._postfix("start")
        # register at once: even a failed start may have left a master behind
        self._token = register_live(self.stop)
        pidfile = os.path.join(self.spool_dir, "pid", "master.pid")
        deadline = time.monotonic() + timeout
        try:
            while True:
                txt = read_text(pidfile).strip()
                if txt.isdigit() and pid_alive(int(txt)):
                    self.pid = int(txt)
                    break
                if time.monotonic() >= deadline:
                    raise RuntimeError("postfix start failed (rc %d): %s\n%s" % (
                        r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace"),
                        self.describe()))
                time.sleep(0.05)
            while not self._banner():
                if not pid_alive(self.pid):
                    raise RuntimeError("postfix master exited\n%s" % self.describe())
                if time.monotonic() >= deadline:
                    raise RuntimeError("postfix smtpd not ready within %.0fs\n%s" % (
                        timeout, self.describe()))
                time.sleep(0.1)
        except Exception:
            self.stop()
            raise
        return self

    def _banner(self):
        try:
            with socket.create_connection((self.host, self.smtp_port), timeout=2) as s:
                s.settimeout(3)
                data = b""
                while b"\n" not in data:
                    chunk = s.recv(1024)
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return True
        except OSError:
            pass
        return False

    def alive(self):
        return self.pid is not None and pid_alive(self.pid)

    def stop(self, timeout=15.0):
        """`postfix -c ETC stop`, then wait for the master PID (SIGTERM/SIGKILL if it
        does not go away)."""
        if os.path.exists(os.path.join(self.spool_dir, "pid", "master.pid")):
            try:
                self._postfix("stop", timeout=15)
            except subprocess.TimeoutExpired:
                pass
        if self.pid is not None and not wait_pid_gone(self.pid, timeout):
            stop_pid(self.pid, timeout=5.0)
        if self._token:
            unregister_live(self._token)
            self._token = None

    # -- logs and mail
    def maillog(self):
        return read_text(self.maillog_path)

    def log(self):
        """The maillog (for util.LogWaits: assert_not_logged(), assert_log_count(),
        wait_log_rx(); wait_log() here takes literal text, see below)."""
        return self.maillog()

    def describe(self, lines=30):
        return "--- postfix maillog (tail)\n%s" % tail(self.maillog(), lines)

    def message_files(self):
        base = os.path.join(self.mail_dir, "inbox")
        return sorted(glob.glob(os.path.join(base, "new", "*")) +
                      glob.glob(os.path.join(base, "cur", "*")))

    def messages(self):
        """Raw bytes of every delivered message (all recipients share one Maildir)."""
        out = []
        for p in self.message_files():
            try:
                with open(p, "rb") as f:
                    out.append(f.read())
            except OSError:
                pass
        return out

    def wait_for_message(self, marker, timeout=15.0):
        """Wait until a delivered message contains marker (bytes or str); return it."""
        if isinstance(marker, str):
            marker = marker.encode("utf-8")
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages():
                if marker in m:
                    return m
            if time.monotonic() >= deadline:
                raise TimeoutError("no delivered message contains %r within %.0fs\n%s" % (
                    marker, timeout, self.describe()))
            time.sleep(0.1)

    def wait_log(self, text, timeout=20.0, count=1, since=0):
        """Wait until the maillog contains the literal text (count times, from
        since); return the maillog text (from since). For a regex and its match:
        wait_log_rx()."""
        return LogWaits.wait_log(self, re.escape(text), timeout=timeout, count=count,
                                 since=since).string

    def wait_log_rx(self, pattern, timeout=20.0, count=1, since=0):
        """LogWaits.wait_log: the count-th match of the regex pattern."""
        return LogWaits.wait_log(self, pattern, timeout=timeout, count=count, since=since)
