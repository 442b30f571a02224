"""A private Dovecot (IMAP + POP3, and on request ManageSieve + LMTP with Sieve) on
loopback, per /work/shared/reference/test-peers.md."""

import glob
import imaplib
import os
import shutil
import socket
import ssl as ssl_mod
import subprocess
import tempfile
import time
import uuid

from .util import (LOOPBACK, LogWaits, Skip, free_ports, mkdir, read_text, register_live,
                   tail, unregister_live, wait_until)

DEFAULT_USERS = {"alice": "alicepw", "bob": "bobpw"}


def make_cert(directory, name="cert", cn="localhost"):
    """Self-signed RSA pair DIR/NAME.pem, DIR/NAME.key; returns (cert, key) paths."""
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                    "-subj", "/CN=%s" % cn, "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=30)
    return cert, key


def client_tls_context():
    """A TLS client context that does not verify (test certificates are self-signed)."""
    ctx = ssl_mod.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl_mod.CERT_NONE
    return ctx


def sieve_installed():
    """Pigeonhole's managesieve and Dovecot's LMTP are there (scripts/deps.sh test)."""
    return all(os.path.exists("/usr/lib/dovecot/" + f) for f in ("managesieve-login", "lmtp"))


class Dovecot(LogWaits):
    """Private Dovecot with passwd-file users, plain IMAP and POP3 listeners.

    workdir  directory to create it in (its parents must be traversable: 0755).
    users    {name: password} (default alice/alicepw, bob/bobpw), {PLAIN} with
             nodelay=yes, so PLAIN, LOGIN, CRAM-MD5 and APOP all work.
    ssl      "no" (default), "yes" (adds implicit-TLS listeners imaps/pop3s and
             STARTTLS/STLS) or "required" (as yes, and plaintext auth needs TLS).
    extra_conf  text appended to dovecot.conf.
    oauth2   None, or the URL of an RFC 7662 introspection endpoint (the example
             auth service's /oauth/introspect): adds OAUTHBEARER and XOAUTH2 with an
             oauth2 passdb asking it (oauth2_mode "post" or "get"), for those two
             mechanisms only; the passwd-file passdb keeps serving the others.
    sieve    True: also Pigeonhole's managesieve (sieve_port; sieves_port, implicit
             TLS, when ssl != "no"; sieve_haproxy_port, a listener that takes a PROXY
             protocol header from 127.0.0.0/8) and LMTP (lmtp_port) with the sieve
             plugin: a message delivered there to USER@any.domain is filed by USER's
             active script (stored in mail/USER/sieve/, as managesieve puts it).
    Attributes after start(): host, imap_port, pop3_port, imaps_port, pop3s_port
    (None when ssl="no"), the sieve ports above (None without sieve), pid, dir,
    cert/key (when ssl != "no").
    """

    def __init__(self, workdir, users=None, ssl="no", extra_conf="", oauth2=None,
                 oauth2_mode="post", sieve=False):
        if shutil.which("dovecot") is None:
            raise Skip("dovecot is not installed (scripts/deps.sh test)")
        if os.geteuid() != 0:
            raise Skip("the private Dovecot needs root (it drops to dovecot/dovenull/nobody)")
        if ssl not in ("no", "yes", "required"):
            raise ValueError("ssl must be no, yes or required")
        self.dir = mkdir(os.path.abspath(workdir))
        self.users = dict(DEFAULT_USERS if users is None else users)
        self._fresh = []            # fresh_user()'s batch
        self.ssl = ssl
        self.extra_conf = extra_conf
        self.oauth2 = oauth2
        self.oauth2_mode = oauth2_mode
        self.oauth2_path = os.path.join(self.dir, "oauth2.conf.ext")
        self.host = LOOPBACK
        self.proc = None
        self._token = None
        ports = free_ports(4)
        self.imap_port, self.pop3_port = ports[0], ports[1]
        self.imaps_port = ports[2] if ssl != "no" else None
        self.pop3s_port = ports[3] if ssl != "no" else None
        self.sieve = bool(sieve)
        self.sieve_port = self.sieves_port = self.sieve_haproxy_port = self.lmtp_port = None
        if self.sieve:
            if not sieve_installed():
                raise Skip("dovecot-managesieved/dovecot-lmtpd are not installed "
                           "(scripts/deps.sh test)")
            sp = free_ports(4)
            self.sieve_port, self.sieve_haproxy_port, self.lmtp_port = sp[0], sp[1], sp[2]
            self.sieves_port = sp[3] if ssl != "no" else None
        self.conf_path = os.path.join(self.dir, "dovecot.conf")
        self.log_path = os.path.join(self.dir, "dovecot.log")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.passwd_path = os.path.join(self.dir, "passwd")
        self.mail_dir = os.path.join(self.dir, "mail")
        self.cert = self.key = None
        # Unix socket paths are limited to 108 bytes: the sockets (base_dir) live in a
        # short directory of their own, removed by stop().
        self.run_parent = None
        self.run_dir = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def _write_passwd(self):
        lines = ["%s:{PLAIN}%s::::::nodelay=yes" % (u, p) for u, p in self.users.items()]
        tmp = self.passwd_path + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.passwd_path)

    def add_user(self, name, password):
        """Add or change a user (Dovecot re-reads the passwd-file on change)."""
        self.users[name] = password
        if self.proc is not None:
            self._write_passwd()

    def fresh_user(self, prefix="u"):
        """(name, password) of a new user with an empty mailbox and no scripts (the
        shared Dovecot keeps mail). Dovecot looks at a changed passwd-file at most
        once a second, so users are made 10 at a time with one write and one wait."""
        if not self._fresh:
            batch = [("%s%s" % (prefix, uuid.uuid4().hex[:10]), "pw" + uuid.uuid4().hex[:10])
                     for _ in range(10)]
            for name, pw in batch[:-1]:
                self.users[name] = pw
            self.add_user(*batch[-1])
            wait_until(lambda: self._can_login(batch[-1][0]), 20, interval=0.1,
                       what="Dovecot to see the new users")
            self._fresh = batch
        return self._fresh.pop()

    def _can_login(self, name):
        try:
            self.imap(name).logout()
            return True
        except (imaplib.IMAP4.error, OSError):
            return False

    def _oauth2_conf(self):
        return """introspection_url = {url}
introspection_mode = {mode}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
""".format(url=self.oauth2, mode=self.oauth2_mode)

    def _passdbs(self):
        plain = "passdb {\n  driver = passwd-file\n  args = %s/passwd\n%s}\n"
        if not self.oauth2:
            return plain % (self.dir, "")
        return ("passdb {\n  driver = oauth2\n  mechanisms = oauthbearer xoauth2\n"
                "  args = %s\n}\n" % self.oauth2_path) + \
            plain % (self.dir, "  mechanisms = plain login cram-md5 apop\n")

    def _conf(self):
        d = self.dir
        ssl_lines = "ssl = no\n"
        if self.ssl != "no":
            ssl_lines = "ssl = %s\nssl_cert = <%s\nssl_key = <%s\n" % (self.ssl, self.cert,
                                                                     self.key)
        return """protocols = imap pop3{sieve_protocols}
listen = 127.0.0.1
base_dir = {run}
state_dir = {d}/state
instance_name = mailproxy-test-{port}
log_path = {d}/dovecot.log
{ssl}disable_plaintext_auth = {dpa}
auth_mechanisms = plain login cram-md5 apop{oauth_mechs}
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
{passdbs}userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/mail/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service anvil {{
  # No auth penalty: auth cannot reach this socket, so Dovecot disables the
  # per-IP delay (4 s after one failure) that would slow down the next test.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
{sieve}{extra}
""".format(d=d, sieve_protocols=" sieve lmtp" if self.sieve else "",
           sieve=self._sieve_conf() if self.sieve else "", run=self.run_dir, port=self.imap_port, ssl=ssl_lines,
           dpa="yes" if self.ssl == "required" else "no",
           imap=self.imap_port, pop3=self.pop3_port, imaps=self.imaps_port or 0,
           pop3s=self.pop3s_port or 0, extra=self.extra_conf,
           oauth_mechs=" oauthbearer xoauth2" if self.oauth2 else "", passdbs=self._passdbs())

    def _sieve_conf(self):
        return """haproxy_trusted_networks = 127.0.0.0/8
service managesieve-login {{
  inet_listener sieve {{
    port = {sieve}
  }}
  inet_listener sieves {{
    port = {sieves}
    ssl = yes
  }}
  inet_listener sieve_haproxy {{
    port = {haproxy}
    haproxy = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
protocol lmtp {{
  mail_plugins = $mail_plugins sieve
  # RCPT TO:<alice@test.example> is the user alice
  auth_username_format = %Ln
}}
plugin {{
  sieve = file:~/sieve;active=~/.dovecot.sieve
}}
""".format(sieve=self.sieve_port, sieves=self.sieves_port or 0,
           haproxy=self.sieve_haproxy_port, lmtp=self.lmtp_port)

    def start(self, timeout=15.0):
        os.chmod(self.dir, 0o755)
        self.run_parent = tempfile.mkdtemp(prefix="mpdv-", dir="/tmp")
        os.chmod(self.run_parent, 0o755)
        self.run_dir = os.path.join(self.run_parent, "run")
        mkdir(self.mail_dir)
        os.chown(self.mail_dir, 65534, 65534)   # nobody:nogroup (first_valid_uid 500)
        if self.ssl != "no":
            self.cert, self.key = make_cert(self.dir)
            os.chmod(self.key, 0o600)
        self._write_passwd()
        if self.oauth2:
            with open(self.oauth2_path, "w") as f:
                f.write(self._oauth2_conf())
            os.chmod(self.oauth2_path, 0o644)
        with open(self.conf_path, "w") as f:
            f.write(self._conf())
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(["dovecot", "-c", self.conf_path, "-F"],
                                     stdin=subprocess.DEVNULL, stdout=self._stderr,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._token = register_live(self.stop)
        try:
            self._wait_ready(timeout)
        except Exception:
            self.stop()
            raise
        return self

    def _banner(self, port, tls, want):
        try:
            s = socket.create_connection((self.host, port), timeout=2)
        except OSError:
            return False
        try:
            if tls:
                s = client_tls_context().wrap_socket(s, server_hostname="localhost")
            data = b""
            while b"\n" not in data:
                chunk = s.recv(1024)
                if not chunk:
                    break
                data += chunk
            return data.startswith(want)
        except OSError:
            return False
        finally:
            s.close()

    def _wait_ready(self, timeout):
        """Ready = a banner on every port (an open port is not enough: auth may lag)."""
        todo = [(self.imap_port, False, b"* OK"), (self.pop3_port, False, b"+OK")]
        if self.ssl != "no":
            todo += [(self.imaps_port, True, b"* OK"), (self.pop3s_port, True, b"+OK")]
        if self.sieve:
            todo += [(self.sieve_port, False, b"\"IMPLEMENTATION\""),
                     (self.lmtp_port, False, b"220 ")]
            if self.ssl != "no":
                todo.append((self.sieves_port, True, b"\"IMPLEMENTATION\""))
        deadline = time.monotonic() + timeout
        while todo:
            if self.proc.poll() is not None:
                raise RuntimeError("dovecot exited with %s\n%s" % (self.proc.returncode,
                                                                    self.describe()))
            todo = [t for t in todo if not self._banner(*t)]
            if todo and time.monotonic() >= deadline:
                raise RuntimeError("dovecot not ready within %.0fs (ports %s)\n%s" % (
                    timeout, [t[0] for t in todo], self.describe()))
            if todo:
                time.sleep(0.1)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10.0):
        """SIGTERM to the master (children exit with it), wait; SIGKILL if it hangs."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except Exception:
                self.proc.kill()
                self.proc.wait(5)
        if self._token:
            unregister_live(self._token)
            self._token = None
        self._stderr.close()
        if self.run_parent:
            shutil.rmtree(self.run_parent, ignore_errors=True)
            self.run_parent = None

    def reload(self):
        self.proc.send_signal(1)  # SIGHUP

    # -- logs and mail
    # wait_log(), assert_not_logged(), assert_log_count(), log_mark(): util.LogWaits.
    # Dovecot's processes log through its log process: a line lands some time after
    # the client saw the answer, so never read log() once after an event.
    def log(self):
        return read_text(self.log_path)

    def describe(self, lines=30):
        return "--- dovecot stderr\n%s\n--- dovecot.log (tail)\n%s" % (
            tail(read_text(self.stderr_path), lines), tail(self.log(), lines))

    def imap(self, user=None, password=None, tls=False):
        """imaplib client connected to Dovecot (logged in when user is given)."""
        if tls:
            m = imaplib.IMAP4_SSL(self.host, self.imaps_port, ssl_context=client_tls_context(),
                                  timeout=10)
        else:
            m = imaplib.IMAP4(self.host, self.imap_port, timeout=10)
        if user is not None:
            m.login(user, self.users[user] if password is None else password)
        return m

    def append(self, user, message, mailbox="INBOX", flags=""):
        """Store message (bytes or str) in user's mailbox via IMAP APPEND; returns its UID
        line from the server."""
        if isinstance(message, str):
            message = message.encode("utf-8")
        message = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        m = self.imap(user)
        try:
            typ, data = m.append(mailbox, flags or None, None, message)
            if typ != "OK":
                raise RuntimeError("APPEND failed: %r" % (data,))
            return data
        finally:
            try:
                m.logout()
            except Exception:
                pass

    def message_files(self, user):
        base = os.path.join(self.mail_dir, user, "Maildir")
        return sorted(glob.glob(os.path.join(base, "new", "*")) +
                      glob.glob(os.path.join(base, "cur", "*")))

    def messages(self, user):
        """Raw bytes of every message in user's INBOX (Maildir new/ and cur/)."""
        out = []
        for p in self.message_files(user):
            try:
                with open(p, "rb") as f:
                    out.append(f.read())
            except OSError:
                pass
        return out
