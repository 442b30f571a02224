"""The object every test receives (Context) and the per-run shared peers (Session)."""

import os
import threading

from .auth import AuthService
from .dovecot import Dovecot, sieve_installed
from .fakes import FakeAuth, FakeRedis, FakeServer
from .haproxy import HAProxy
from .postfix import Postfix
from .proxy import MailProxy, run_cli
from .redis import Redis
from .util import Skip, mkdir

SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")


class Session:
    """State shared by all tests of one run: the binary, the base temp dir, and the
    lazily started shared Dovecot and Postfix (stopped by close())."""

    def __init__(self, binary, repo, base, sanitizer=False):
        self.bin, self.repo, self.base, self.sanitizer = binary, repo, base, sanitizer
        self._peers = {}
        self._errors = {}
        self._lock = threading.Lock()

    def _shared(self, kind, factory):
        with self._lock:
            p = self._peers.get(kind)
            if p is not None and p.alive():
                return p
            if kind in self._errors:           # failed once: do not retry every test
                raise self._errors[kind]
            if p is not None:                  # died: start a fresh one
                p.stop()
            try:
                p = factory(os.path.join(self.base, "shared-%s" % kind)).start()
            except (Skip, Exception) as e:
                self._errors[kind] = e
                raise
            self._peers[kind] = p
            return p

    def dovecot(self):
        # With ManageSieve and LMTP when installed: they cost no measurable start
        # or stop time (0.3-0.5 s and 1.1 s either way), and the sieve tests share it.
        return self._shared("dovecot", lambda d: Dovecot(d, sieve=sieve_installed()))

    def postfix(self):
        return self._shared("postfix", Postfix)

    def close(self):
        with self._lock:
            for p in self._peers.values():
                try:
                    p.stop()
                except Exception as e:
                    print("harness: stopping shared peer: %r" % (e,), flush=True)
            self._peers.clear()


class Context:
    """What a test function gets.

    .bin        absolute path of the mailproxy binary under test
    .repo       repository root
    .tmp        a fresh directory for this test (mode 0755)
    .name       "module::test_name"
    .sanitizer  True when run with --sanitizer
    .path(*parts)           path under .tmp
    .cleanup(fn)            run fn() at teardown (LIFO)
    .skip(reason)           end the test as SKIP
    .dovecot(**kw)          no kw: the run's shared Dovecot (users alice, bob; mail
                            accumulates, so use unique subjects; ManageSieve and LMTP
                            when installed); with kw (users=, ssl=, extra_conf=,
                            sieve=): a private one, stopped at teardown
    .postfix(**kw)          same for Postfix (private when extra_main_cf= is given)
    .auth_service(**kw)     AuthService(...) started, stopped at teardown
    .fake_server(mode, ...) FakeServer started, stopped at teardown
    .fake_auth(respond=None, ...)  FakeAuth started, stopped at teardown
    .redis(start=True, **kw)  a private Redis(dir, password=, acl_user=, port=,
                            extra_conf=) on 127.0.0.1, started unless start=False,
                            stopped at teardown
    .fake_redis(mode, ...)  FakeRedis ("garbage", "half", "hang", "close") started,
                            stopped at teardown
    .haproxy(config, **kw)  HAProxy(dir, config) (Debian's haproxy, runtime API on a
                            unix socket) started, stopped at teardown
    .mailproxy(**kw)        MailProxy(self.bin, prefix, **kw) started (start=False to
                            only write the config), stopped at teardown; its logs are
                            scanned under --sanitizer
    .cli(*args, cwd=None, timeout=20, env=None)  run_cli(self.bin, ...); output scanned
    """

    def __init__(self, session, name, tmp):
        self.session = session
        self.bin = session.bin
        self.repo = session.repo
        self.sanitizer = session.sanitizer
        self.name = name
        self.tmp = mkdir(tmp)
        self._cleanups = []
        self._scan_files = []
        self._scan_texts = []
        self.proxies = []
        self._n = 0

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def _subdir(self, kind):
        self._n += 1
        return mkdir(self.path("%s%d" % (kind, self._n)))

    def cleanup(self, fn):
        self._cleanups.append(fn)
        return fn

    def skip(self, reason):
        raise Skip(reason)

    def dovecot(self, **kw):
        if not kw:
            return self.session.dovecot()
        d = Dovecot(self._subdir("dovecot"), **kw)
        self.cleanup(d.stop)
        return d.start()

    def postfix(self, **kw):
        if not kw:
            return self.session.postfix()
        p = Postfix(self._subdir("postfix"), **kw)
        self.cleanup(p.stop)
        return p.start()

    def auth_service(self, **kw):
        a = AuthService(self._subdir("auth"), **kw)
        self.cleanup(a.stop)
        return a.start()

    def fake_server(self, mode="silent", **kw):
        f = FakeServer(mode, **kw)
        self.cleanup(f.stop)
        return f.start()

    def fake_auth(self, respond=None, **kw):
        f = FakeAuth(respond, **kw)
        self.cleanup(f.stop)
        return f.start()

    def redis(self, start=True, **kw):
        r = Redis(self._subdir("redis"), **kw)
        self.cleanup(r.stop)
        return r.start() if start else r

    def fake_redis(self, mode="hang", **kw):
        f = FakeRedis(mode, **kw)
        self.cleanup(f.stop)
        return f.start()

    def haproxy(self, config, start=True, **kw):
        h = HAProxy(self._subdir("haproxy"), config, **kw)
        self.cleanup(h.stop)
        return h.start() if start else h

    def mailproxy(self, start=True, **kw):
        mp = MailProxy(self.bin, self._subdir("mailproxy"), **kw)
        self.proxies.append(mp)
        self._scan_files.extend(mp.log_files())
        self.cleanup(mp.stop)
        return mp.start() if start else mp

    def cli(self, *args, **kw):
        r = run_cli(self.bin, *args, **kw)
        self._scan_texts.append(("%s %s" % (os.path.basename(self.bin),
                                            " ".join(map(str, args))), r.out))
        return r

    # -- used by the runner
    def teardown(self):
        errors = []
        while self._cleanups:
            fn = self._cleanups.pop()
            try:
                fn()
            except Exception as e:
                errors.append(e)
        return errors

    def sanitizer_findings(self):
        """[(where, excerpt)] for every sanitizer report in the proxy logs / CLI output."""
        found = []
        sources = [(p, None) for p in self._scan_files] + \
                  [(name, text) for name, text in self._scan_texts]
        for where, text in sources:
            if text is None:
                try:
                    with open(where, "rb") as f:
                        text = f.read().decode("utf-8", "replace")
                except OSError:
                    continue
            for pat in SANITIZER_PATTERNS:
                i = text.find(pat)
                if i >= 0:
                    start = text.rfind("\n", 0, max(0, i - 200)) + 1
                    found.append((where, text[start:i + 1500]))
                    break
        return found

    def log_tails(self, lines=25):
        """Tails of every proxy's stderr and error log (printed for failing tests)."""
        out = []
        for mp in self.proxies:
            if mp.started:           # a failed start already put this in its exception
                out.append(mp.describe(lines))
        return "\n".join(out)
