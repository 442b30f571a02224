"""A private redis-server on loopback, a fault-injecting fake Redis, and a small RESP
(RESP2) codec and client of our own (standard library only).

Redis(workdir, password=None, acl_user=None, port=None, extra_conf="")
    redis-server from WORKDIR/redis.conf on 127.0.0.1, nothing persisted; start(),
    stop(), kill() (a crash), restart() (same port), freeze()/thaw() (SIGSTOP/SIGCONT:
    alive but silent), cmd(*args), keys(), flushall(), the log waits of util.LogWaits.
RespClient(port), resp_call(port, *args, auth=None)  talk RESP to it or to a
    fakes.FakeRedis ("garbage", "half", "hang", "close").
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time

from .util import (LOOPBACK, LogWaits, Skip, free_port, mkdir, read_text, register_live,
                   tail, unregister_live, wait_until)

REDIS_SERVER = "redis-server"


# ------------------------------------------------------------------ RESP codec

class RedisError(Exception):
    """An error reply ("-ERR ...", "-WRONGPASS ..."). .message is its text, .code its
    first word. Raised by RespClient.call()/Redis.cmd() for a top-level error; an
    error inside an array (EXEC) is left in the list as a RedisError value."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message
        self.code = message.split(" ", 1)[0] if message else ""


class ProtocolError(Exception):
    """The peer sent bytes that are not RESP."""


class ClosedError(ConnectionError):
    """The peer closed before a whole reply arrived; .data holds what did (b"" when
    nothing did)."""

    def __init__(self, data):
        super().__init__("connection closed after %d byte(s) of a reply: %r"
                         % (len(data), data[:200]))
        self.data = data


class Incomplete(Exception):
    """decode(): the buffer ends before the reply does (read more)."""


class Status(bytes):
    """A simple-string reply (+OK): bytes, so cmd("SET", ...) == b"OK" holds."""


_INT_RX = re.compile(rb"-?[0-9]+\Z")
_MAX_LINE = 64 * 1024


def _arg(v):
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    return str(v).encode("utf-8")


def encode_command(*args):
    """A command as RESP: an array of bulk strings (str is UTF-8, numbers as text)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = _arg(a)
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def encode(value):
    """A reply as RESP: None -> nil bulk, int, Status -> +, RedisError -> -, bytes/str ->
    bulk string, list/tuple -> array."""
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, Status):
        return b"+" + bytes(value) + b"\r\n"
    if isinstance(value, RedisError):
        return b"-" + value.message.encode("utf-8") + b"\r\n"
    if isinstance(value, (list, tuple)):
        return b"*%d\r\n" % len(value) + b"".join(encode(v) for v in value)
    v = _arg(value)
    return b"$%d\r\n%s\r\n" % (len(v), v)


def _int(line):
    if not _INT_RX.match(line):
        raise ProtocolError("not an integer: %r" % line[:100])
    return int(line)


def decode(buf, pos=0):
    """Decode one reply from buf[pos:] -> (value, next_pos). Simple string -> Status,
    error -> RedisError (returned, not raised), integer -> int, bulk string -> bytes,
    array -> list, nil bulk/array -> None. Raises Incomplete when buf ends first,
    ProtocolError when the bytes are not RESP."""
    if pos >= len(buf):
        raise Incomplete()
    kind = buf[pos:pos + 1]
    if kind not in (b"+", b"-", b":", b"$", b"*"):
        raise ProtocolError("not a RESP type byte: %r" % buf[pos:pos + 40])
    end = buf.find(b"\r\n", pos)
    if end < 0:
        if len(buf) - pos > _MAX_LINE:
            raise ProtocolError("header line longer than %d bytes" % _MAX_LINE)
        raise Incomplete()
    line, nxt = buf[pos + 1:end], end + 2
    if kind == b"+":
        return Status(line), nxt
    if kind == b"-":
        return RedisError(line.decode("utf-8", "replace")), nxt
    n = _int(line)
    if kind == b":":
        return n, nxt
    if n == -1:
        return None, nxt
    if n < -1:
        raise ProtocolError("negative length %d" % n)
    if kind == b"$":
        if len(buf) < nxt + n + 2:
            raise Incomplete()
        if buf[nxt + n:nxt + n + 2] != b"\r\n":
            raise ProtocolError("bulk string of %d bytes not followed by CRLF" % n)
        return bytes(buf[nxt:nxt + n]), nxt + n + 2
    items = []
    for _ in range(n):
        v, nxt = decode(buf, nxt)
        items.append(v)
    return items, nxt


def _auth_args(auth):
    if auth is None:
        return None
    if isinstance(auth, (tuple, list)):
        return ("AUTH",) + tuple(auth)
    return ("AUTH", auth)


class RespClient:
    """One TCP connection speaking RESP, every read bounded by timeout (socket.timeout,
    i.e. TimeoutError, when the peer says nothing).

    RespClient(port, host="127.0.0.1", timeout=5.0, auth=None)  auth: a password or
      (user, password), sent as AUTH first (RedisError if refused).
    .call(*args) -> decoded reply (raises RedisError for an error reply, ProtocolError
      for non-RESP bytes, ClosedError when the peer closes mid-reply)
    .send(*args) (no read), .read() -> next reply (errors returned, not raised),
    .close(); a context manager."""

    def __init__(self, port, host=LOOPBACK, timeout=5.0, auth=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        try:
            a = _auth_args(auth)
            if a:
                self.call(*a)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, *args):
        self.sock.sendall(encode_command(*args))

    def read(self):
        while True:
            try:
                value, n = decode(self.buf)
                self.buf = self.buf[n:]
                return value
            except Incomplete:
                pass
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ClosedError(self.buf)
            self.buf += chunk

    def call(self, *args):
        self.send(*args)
        value = self.read()
        if isinstance(value, RedisError):
            raise value
        return value

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def resp_call(port, *args, host=LOOPBACK, auth=None, timeout=5.0):
    """One command on a fresh connection (AUTH first when auth is given)."""
    with RespClient(port, host=host, timeout=timeout, auth=auth) as c:
        return c.call(*args)


# ------------------------------------------------------------------ redis-server

_DEFAULT = object()


def _q(text):
    """A redis.conf argument, double-quoted (sdssplitargs escapes)."""
    text = _arg(text)
    return '"%s"' % "".join(chr(b) if 0x20 <= b < 0x7f and b not in (0x22, 0x5c)
                            else "\\x%02x" % b for b in text)


def _proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2]
    except (OSError, ValueError, IndexError):
        return None


class Redis(LogWaits):
    """A private redis-server on 127.0.0.1, from its own directory, nothing persisted.

    workdir   its directory (redis.conf, redis.log, stderr; also its `dir`).
    password  requirepass (the default user's password).
    acl_user  (name, password): `user NAME on >PASSWORD ~* &* +@all` and `user default
              off`; cmd() then authenticates as NAME (password does not matter then).
    port      a fixed port (default: a free one, chosen once: restart() keeps it).
    extra_conf  text appended to redis.conf.
    Attributes: host, port, pid, dir, conf_path, log_path, auth (what cmd() sends as
    AUTH: None, the password or (name, password)), frozen.
    """

    def __init__(self, workdir, password=None, acl_user=None, port=None, extra_conf=""):
        if shutil.which(REDIS_SERVER) is None:
            raise Skip("redis-server is not installed (scripts/deps.sh test)")
        self.dir = mkdir(os.path.abspath(workdir))
        self.host = LOOPBACK
        self.port = port or free_port()
        self.password, self.acl_user, self.extra_conf = password, acl_user, extra_conf
        self.auth = tuple(acl_user) if acl_user else password
        self.conf_path = os.path.join(self.dir, "redis.conf")
        self.log_path = os.path.join(self.dir, "redis.log")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.proc = None
        self.frozen = False
        self._stderr = None
        self._token = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def _conf(self):
        lines = ["bind 127.0.0.1", "port %d" % self.port, 'save ""', "appendonly no",
                 "daemonize no", "logfile %s" % _q(self.log_path), "dir %s" % _q(self.dir),
                 "protected-mode no"]
        if self.password is not None:
            lines.append("requirepass %s" % _q(self.password))
        if self.acl_user:
            name, pw = self.acl_user
            lines.append("user %s on %s ~* &* +@all" % (_q(name), _q(">%s" % pw)))
            lines.append("user default off")
        return "\n".join(lines) + "\n" + self.extra_conf + "\n"

    def start(self, timeout=10.0):
        """Start redis-server and wait (bounded) until it answers PING."""
        if self.alive():
            raise RuntimeError("redis on port %d is already running" % self.port)
        with open(self.conf_path, "w") as f:
            f.write(self._conf())
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([REDIS_SERVER, self.conf_path], cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=self._stderr,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.frozen = False
        self._token = register_live(self.stop)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _ping(self):
        try:
            return self.cmd("PING", timeout=1.0) == b"PONG"
        except (OSError, RedisError, ProtocolError):
            return False

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while not self._ping():
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited with %s\n%s" % (
                    self.proc.returncode, self.describe()))
            if time.monotonic() >= deadline:
                raise RuntimeError("redis-server did not answer PING on port %d within "
                                   "%.0fs\n%s" % (self.port, timeout, self.describe()))
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _done(self):
        if self._token:
            unregister_live(self._token)
            self._token = None
        if self._stderr:
            self._stderr.close()
            self._stderr = None
        self.frozen = False

    def stop(self, timeout=10.0):
        """SIGTERM to the pid (SIGCONT too, should it be frozen), wait; SIGKILL after
        timeout. Returns the exit status (None if it was never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.send_signal(signal.SIGCONT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._done()
        return self.proc.returncode

    def kill(self, timeout=5.0):
        """SIGKILL (a crash: nothing is saved, clients see resets); waits for the pid."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout)
        self._done()

    def restart(self, timeout=10.0):
        """Stop it if running, start it again on the same port (the data is gone)."""
        self.stop()
        return self.start(timeout)

    def freeze(self, timeout=5.0):
        """SIGSTOP: the port still accepts connections (the kernel's backlog) but
        nothing is answered until thaw()."""
        self.proc.send_signal(signal.SIGSTOP)
        self.frozen = True
        wait_until(lambda: _proc_state(self.pid) in ("T", "t"), timeout,
                   what="redis-server (pid %d) to stop" % self.pid)

    def thaw(self, timeout=5.0):
        """SIGCONT after freeze(); returns when it answers PING again."""
        self.proc.send_signal(signal.SIGCONT)
        self.frozen = False
        wait_until(self._ping, timeout, what="redis-server to answer after SIGCONT")

    def cmd(self, *args, timeout=5.0, auth=_DEFAULT):
        """One command on a fresh connection, AUTH first when a password or ACL user is
        configured (auth= overrides: None, a password or (user, password)). Returns the
        decoded reply; raises RedisError for an error reply, TimeoutError when nothing
        comes within timeout."""
        return resp_call(self.port, *args, host=self.host, timeout=timeout,
                         auth=self.auth if auth is _DEFAULT else auth)

    def keys(self, pattern="*"):
        """The keys matching pattern, sorted (bytes)."""
        return sorted(self.cmd("KEYS", pattern))

    def flushall(self):
        return self.cmd("FLUSHALL")

    # wait_log(), assert_not_logged(), assert_log_count(), log_mark(): util.LogWaits.
    def log(self):
        return read_text(self.log_path)

    def describe(self, lines=30):
        return "--- redis stderr\n%s\n--- redis.log (tail)\n%s" % (
            tail(read_text(self.stderr_path), lines), tail(self.log(), lines))
