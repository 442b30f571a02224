#!/usr/bin/env python3
"""The mailproxy demo: real Dovecot (IMAP, POP3, ManageSieve) and Postfix (SMTP,
XCLIENT), the example auth service and mailproxy, all on loopback in a temporary
directory; then a mail client session through the proxy for each protocol (for
ManageSieve sieve-connect's, when the binary knows `protocol: sieve` and the
Debian packages are there; otherwise the demo says why it leaves it out).
The proxy keeps running until Ctrl-C (or exits at once with --once).

    make demo            # or: python3 scripts/demo.py [--once] [--bin ./mailproxy]
"""

import argparse
import imaplib
import os
import poplib
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "test", "integration"))

from harness.auth import AuthService  # noqa: E402
from harness.dovecot import Dovecot, sieve_installed  # noqa: E402
from harness.postfix import Postfix  # noqa: E402
from harness.proxy import MailProxy  # noqa: E402
from harness.util import free_port  # noqa: E402


def port_or_free(preferred):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()


def say(*a):
    print("demo:", *a, flush=True)


def show(label, value):
    text = value if isinstance(value, str) else repr(value)
    print("   %-28s %s" % (label, text[:110]), flush=True)


def sieve_support(binary, base):
    """None when this binary and machine can show ManageSieve, else the reason."""
    if not sieve_installed():
        return "Dovecot's managesieve is not installed (scripts/deps.sh test)"
    if shutil.which("sieve-connect") is None:
        return "sieve-connect is not installed (scripts/deps.sh test)"
    d = os.path.join(base, "sieve-probe")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "probe.yaml")
    with open(conf, "w") as f:
        f.write('error_log: "stderr"\nmail:\n  auth_http: "127.0.0.1:9/auth"\n'
                '  servers:\n    - protocol: sieve\n      listen: ["127.0.0.1:%d"]\n'
                % free_port())
    r = subprocess.run([binary, "-t", "-p", d, "-c", conf], capture_output=True, text=True,
                       timeout=20)
    if r.returncode != 0:
        why = (r.stdout + r.stderr).strip().splitlines() or ["-t failed"]
        return "this mailproxy has no `protocol: sieve` (%s)" % why[0].split(": ", 1)[-1]
    return None


def run_sieve(ports, dovecot, base):
    say("ManageSieve through the proxy (127.0.0.1:%d), sieve-connect with STARTTLS" %
        ports["sieve"])
    script = os.path.join(base, "demo.sieve")
    with open(script, "w") as f:
        f.write('require ["fileinto", "mailbox"];\n'
                'if header :contains "subject" "[demo]" { fileinto :create "Demo"; }\n')

    def sc(label, *action):
        r = subprocess.run(["sieve-connect", "--nosrv", "--server", "127.0.0.1", "--port",
                            str(ports["sieve"]), "--user", "alice", "--passwordfd", "0",
                            "--authmech", "PLAIN", "--notlsverify"] + list(action),
                           input="alicepw\n", capture_output=True, text=True, timeout=30)
        out = (r.stdout + r.stderr).strip().replace("\n", " | ")
        show(label, "rc %d%s" % (r.returncode, (", " + out) if out else ""))
        return r

    sc("--upload demo.sieve", "--upload", "--localsieve", script, "--remotesieve", "demo")
    sc("--activate demo", "--activate", "--remotesieve", "demo")
    sc("--list", "--list")
    back = os.path.join(base, "downloaded.sieve")
    sc("--download demo", "--download", "--remotesieve", "demo", "--localsieve", back)
    same = os.path.exists(back) and open(back, "rb").read() == open(script, "rb").read()
    show("downloaded == uploaded", str(same))
    for line in dovecot.log().splitlines():
        if "managesieve-login: Info: Login:" in line:
            show("Dovecot log", line.split(": ", 1)[-1])
            break


def run_clients(mp, ports, postfix, dovecot):
    ctx = __import__("ssl").create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = __import__("ssl").CERT_NONE

    say("IMAP through the proxy (127.0.0.1:%d)" % ports["imap"])
    dovecot.append("alice", "From: demo@example.org\r\nSubject: hello from the demo\r\n\r\n"
                   "This message sits in Dovecot; you read it through mailproxy.\r\n")
    m = imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=10)
    show("greeting", m.welcome.decode())
    show("CAPABILITY", " ".join(m.capabilities))
    show("STARTTLS", m.starttls(ssl_context=ctx)[0])
    show("LOGIN alice", m.login("alice", "alicepw")[0])
    typ, data = m.select("INBOX")
    show("SELECT INBOX", "%s, %s message(s)" % (typ, data[0].decode()))
    typ, data = m.fetch(data[0], "(BODY[HEADER.FIELDS (SUBJECT)])")
    show("FETCH subject", data[0][1].decode().strip())
    m.logout()

    say("IMAPS, implicit TLS (127.0.0.1:%d)" % ports["imaps"])
    m = imaplib.IMAP4_SSL("127.0.0.1", ports["imaps"], ssl_context=ctx, timeout=10)
    show("LOGIN bob", m.login("bob", "bobpw")[0])
    show("TLS", "%s %s" % (m.sock.version(), m.sock.cipher()[0]))
    m.logout()

    try:
        imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=10).login("alice", "wrong")
    except imaplib.IMAP4.error as e:
        show("wrong password", "NO %s" % e)

    say("POP3 through the proxy (127.0.0.1:%d)" % ports["pop3"])
    p = poplib.POP3("127.0.0.1", ports["pop3"], timeout=10)
    show("greeting", p.getwelcome().decode())
    show("USER/PASS alice", p.user("alice").decode() + " / " + p.pass_("alicepw").decode())
    show("STAT", "%d message(s), %d bytes" % p.stat())
    p.quit()

    say("SMTP through the proxy (127.0.0.1:%d), XCLIENT to Postfix" % ports["smtp"])
    s = smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=10)
    code, msg = s.ehlo("demo.client.example")
    show("EHLO", "%d %s" % (code, msg.decode().replace("\n", " | ")))
    show("AUTH PLAIN alice", "%d %s" % s.login("alice", "alicepw"))
    marker = "demo-%d" % os.getpid()
    s.sendmail("alice@example.org", ["bob@test.example"],
               "From: alice@example.org\r\nTo: bob@test.example\r\nSubject: %s\r\n\r\n"
               "Sent through mailproxy.\r\n" % marker)
    s.quit()
    msg = postfix.wait_for_message(marker, timeout=15)
    for line in msg.decode("utf-8", "replace").splitlines():
        if line.startswith(("Received:", "\t(Authenticated", "\tby ")):
            show("delivered, header", line.strip())
    for line in postfix.maillog().splitlines():
        if "sasl_method=XCLIENT" in line:
            show("Postfix log", line.split(": ", 1)[-1])

    curl = shutil.which("curl")
    if curl:
        say("curl, as a user would run it")
        r = subprocess.run([curl, "-s", "imap://127.0.0.1:%d/INBOX;UID=1" % ports["imap"],
                            "-u", "alice:alicepw"], capture_output=True, text=True, timeout=20)
        show("curl imap://.../INBOX;UID=1", r.stdout.strip().splitlines()[1:2] or r.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(REPO, "mailproxy"))
    ap.add_argument("--once", action="store_true", help="run the clients, then stop everything")
    args = ap.parse_args()

    base = tempfile.mkdtemp(prefix="mailproxy-demo-")
    os.chmod(base, 0o755)
    started = []
    try:
        say("starting Dovecot and Postfix in %s" % base)
        no_sieve = sieve_support(args.bin, base)
        dovecot = Dovecot(os.path.join(base, "dovecot"), sieve=no_sieve is None).start()
        started.append(dovecot)
        postfix = Postfix(os.path.join(base, "postfix")).start()
        started.append(postfix)
        auth = AuthService(os.path.join(base, "auth"), dovecot=dovecot, postfix=postfix).start()
        started.append(auth)
        say("example auth service on %s (users alice/alicepw, bob/bobpw)" % auth.url)
        subprocess.run([os.path.join(HERE, "gen-cert.sh"), base, "cert"], check=True)
        ports = {"imap": port_or_free(11143), "imaps": port_or_free(11993),
                 "pop3": port_or_free(11110), "smtp": port_or_free(11025),
                 "sieve": port_or_free(14190)}
        sieve = [] if no_sieve else [
            {"protocol": "sieve", "listen": ["127.0.0.1:%d" % ports["sieve"]],
             "starttls": "on"}]
        mp = MailProxy(args.bin, os.path.join(base, "mailproxy"), auth=auth,
                       main={"worker_processes": 2,
                             "error_log": "%s info" % os.path.join(base, "mailproxy", "error.log")},
                       mail={"ssl_certificate": os.path.join(base, "cert.pem"),
                             "ssl_certificate_key": os.path.join(base, "cert.key"),
                             "ssl_session_cache": "shared:MAIL:10m",
                             "imap_capabilities": ["IMAP4rev1", "ID", "LITERAL+"]},
                       servers=[
                           {"protocol": "imap", "listen": ["127.0.0.1:%d" % ports["imap"]],
                            "starttls": "on"},
                           {"protocol": "imap", "listen": ["127.0.0.1:%d ssl" % ports["imaps"]]},
                           {"protocol": "pop3", "listen": ["127.0.0.1:%d" % ports["pop3"]]},
                           {"protocol": "smtp", "listen": ["127.0.0.1:%d" % ports["smtp"]],
                            "smtp_auth": ["plain", "login"], "xclient": "on",
                            "server_name": "proxy.demo.example"},
                       ] + sieve)
        mp.start()
        started.append(mp)
        say("mailproxy master %d, configuration %s" % (mp.pid, mp.config_path))
        run_clients(mp, ports, postfix, dovecot)
        if no_sieve:
            say("ManageSieve left out: %s" % no_sieve)
        else:
            run_sieve(ports, dovecot, base)
        print()
        say("all %s protocols went through the proxy. Its log: %s" % (
            "three" if no_sieve else "four", mp.error_log_path))
        if args.once:
            return 0
        say("the proxy keeps running; try for example:")
        print("     curl -v imap://127.0.0.1:%d/INBOX -u alice:alicepw" % ports["imap"])
        print("     openssl s_client -connect 127.0.0.1:%d -quiet" % ports["imaps"])
        print("     swaks --server 127.0.0.1:%d --auth-user alice --auth-password alicepw "
              "--to bob@test.example" % ports["smtp"])
        if not no_sieve:
            print("     sieve-connect --nosrv -s 127.0.0.1 -p %d -u alice --authmech PLAIN "
                  "--notlsverify --list" % ports["sieve"])
        print("     %s -c %s -s status" % (args.bin, mp.config_path))
        say("Ctrl-C stops everything.")
        signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(getattr(p, "alive", lambda: True)() for p in started):
            time.sleep(0.5)
        say("a process of the demo exited; stopping the rest")
        return 1
    except KeyboardInterrupt:
        print()
        return 0
    finally:
        say("stopping")
        for p in reversed(started):
            try:
                p.stop()
            except Exception as e:  # noqa: BLE001 - stop the rest anyway
                say("stopping %s: %r" % (type(p).__name__, e))
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
