"""Small fake servers (threads) for fault injection.

FakeServer(mode, ...)  a TCP server on a free loopback port:
    "silent"  accepts and never answers (a hung backend, or a hung auth service)
    "close"   accepts and closes at once
    "banner"  sends `banner`, then behaves as `then` ("silent" or "close")
    "script"  handler(conn, server) does whatever it likes (conn is a socket)
  .port, .host, .connections (count), .received (list of bytes, one per connection),
  .start(), .stop(). Use as a context manager or stop it (ctx.fake_server does).

FakeRedis(mode)  a FakeServer answering like a broken Redis: "garbage" (not RESP),
  "half" (a reply cut short, then close), "hang" (reads, never answers), "close".

FakeAuth(respond=None)  an auth_http server that records every request and answers
  with respond(request) -> list of (name, value) headers, or bytes sent verbatim, or
  None to close without answering. Default: Auth-Status OK to 127.0.0.1:backend_port.
  .requests: list of AuthRequest (.line, .headers dict lower-case, .header(name),
  .user, .password (both unescaped str)).
"""

import socket
import threading
import time
import urllib.parse

from .util import LOOPBACK, register_live, unregister_live, wait_until


class FakeServer:
    def __init__(self, mode="silent", banner=b"", then="silent", handler=None,
                 host=LOOPBACK, port=0):
        if mode not in ("silent", "close", "banner", "script"):
            raise ValueError(mode)
        self.mode, self.banner, self.then, self.handler = mode, banner, then, handler
        self.host = host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.received = []
        self._conns = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        self._token = None

    @property
    def url(self):
        return "%s:%d/mail/auth" % (self.host, self.port)

    def start(self):
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()
        self._token = register_live(self.stop)
        return self

    def __enter__(self):
        return self.start()

    # The records (connections, received, FakeAuth.requests) are filled by the
    # server's threads: wait for them, never read them once right after an event.
    def wait_connections(self, n=1, timeout=20.0):
        """Wait until at least n connections were accepted; return the count."""
        return wait_until(lambda: self.connections if self.connections >= n else 0,
                          timeout, what="%d connection(s) to the fake on port %d (have %d)"
                          % (n, self.port, self.connections))

    def wait_received(self, data, index=None, timeout=20.0):
        """Wait until connection number index (None: any) has received bytes
        containing data; return those bytes."""
        def found():
            with self._lock:
                got = list(self.received) if index is None else self.received[index:index + 1]
            return next((b for b in got if data in b), None)
        try:
            return wait_until(found, timeout, what="%r received by the fake" % (data,))
        except TimeoutError as e:
            raise TimeoutError("%s; received: %r" % (e, [b[-300:] for b in self.received]))

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._conns.append(conn)
                idx = len(self.received)
                self.received.append(b"")
            threading.Thread(target=self._serve, args=(conn, idx), daemon=True).start()

    def _serve(self, conn, idx):
        try:
            if self.mode == "script":
                self.handler(conn, self)
                return
            mode = self.mode
            if mode == "banner":
                conn.sendall(self.banner)
                mode = self.then
            if mode == "close":
                conn.close()
                return
            self._take_input(conn, idx)          # silent: swallow input until stopped
        except OSError:
            pass

    def _take_input(self, conn, idx, on_data=None):
        """Reads conn until EOF or stop, keeping what comes in received[idx];
        on_data(data) after each read may answer, and returns True to stop."""
        conn.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return
            with self._lock:
                self.received[idx] += data
            if on_data is not None and on_data(data):
                return

    def stop(self):
        self._stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)    # wakes a blocked accept() at once
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        with self._lock:
            for c in self._conns:
                try:
                    c.close()
                except OSError:
                    pass
            self._conns = []
        if self._thread is not None:
            self._thread.join(2)
        if self._token:
            unregister_live(self._token)
            self._token = None


class FakeRedis(FakeServer):
    """A fault-injecting "Redis" on a free loopback port (a FakeServer thread):
    "garbage"  answers every read with bytes that are not RESP (b"@@nonsense\\r\\n")
    "half"     answers the first command with the start of a valid reply
               (b"*3\\r\\n:1\\r\\n") and closes
    "hang"     accepts and reads, never answers
    "close"    accepts and closes at once
    reply=     other bytes for garbage / half. Members of FakeServer: port, host,
    connections, received, wait_connections(n), wait_received(data), start(), stop().
    """

    MODES = {"garbage": b"@@nonsense\r\n", "half": b"*3\r\n:1\r\n", "hang": None,
             "close": None}

    def __init__(self, mode="hang", reply=None, host=LOOPBACK, port=0):
        if mode not in self.MODES:
            raise ValueError("FakeRedis mode must be one of %s" % ", ".join(self.MODES))
        super().__init__("script", handler=None, host=host, port=port)
        self.redis_mode = mode
        self.reply = self.MODES[mode] if reply is None else reply

    def _serve(self, conn, idx):
        try:
            if self.redis_mode == "close":
                return

            def answer(_data):
                if self.redis_mode in ("garbage", "half"):
                    conn.sendall(self.reply)
                return self.redis_mode == "half"
            self._take_input(conn, idx, answer)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


class AuthRequest:
    def __init__(self, raw):
        self.raw = raw
        head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        lines = head.split("\r\n")
        self.line = lines[0]
        self.header_list = []
        self.headers = {}
        for l in lines[1:]:
            k, sep, v = l.partition(":")
            if sep:
                self.header_list.append((k.strip(), v.strip()))
                self.headers[k.strip().lower()] = v.strip()

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def _unesc(self, name):
        v = self.header(name, "")
        return urllib.parse.unquote_to_bytes(v.encode("latin-1")).decode("utf-8", "replace")

    @property
    def user(self):
        return self._unesc("Auth-User")

    @property
    def password(self):
        return self._unesc("Auth-Pass")

    def __repr__(self):
        return "AuthRequest(%r)" % self.raw[:600]


class FakeAuth(FakeServer):
    def __init__(self, respond=None, backend_port=143, backend_host=LOOPBACK, delay=0.0):
        super().__init__(mode="script", handler=self._handle)
        self.requests = []
        self.respond = respond or (lambda req: [("Auth-Status", "OK"),
                                                ("Auth-Server", backend_host),
                                                ("Auth-Port", str(backend_port))])
        self.delay = delay
        self._handled = 0            # connections whose request was read (or failed)
        self._sentinels = []

    def sync(self, timeout=20.0):
        """Send a sentinel request straight to this fake and wait until it, and every
        connection accepted before it, has been read: what reached the fake before the
        call is in .requests now (the sentinel itself is kept out of it). Use before
        asserting that something did NOT ask the auth service."""
        name = "sentinel-%d" % time.monotonic_ns()
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            s.sendall(b"GET /mail/auth HTTP/1.0\r\nAuth-User: " + name.encode() +
                      b"\r\nAuth-Protocol: sentinel\r\n\r\n")
            s.settimeout(timeout)
            while s.recv(4096):
                pass
        finally:
            s.close()
        with self._lock:
            n = self.connections
        wait_until(lambda: self._handled >= n and any(r.user == name for r in self._sentinels),
                   timeout, what="the fake auth service to read its requests")

    def wait_requests(self, n=1, timeout=20.0):
        """Wait until at least n requests were recorded; return a copy of the list."""
        def have():
            with self._lock:
                return list(self.requests) if len(self.requests) >= n else None
        try:
            return wait_until(have, timeout, what="%d auth request(s)" % n)
        except TimeoutError as e:
            raise TimeoutError("%s; have %r" % (e, self.requests))

    def wait_request(self, pred=lambda r: True, timeout=20.0):
        """Wait for the first recorded request for which pred(request) is true."""
        def have():
            with self._lock:
                return next((r for r in self.requests if pred(r)), None)
        try:
            return wait_until(have, timeout, what="an auth request matching pred")
        except TimeoutError as e:
            raise TimeoutError("%s; have %r" % (e, self.requests))

    def _handle(self, conn, server):
        conn.settimeout(10)
        data = b""
        counted = False
        try:
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            req = AuthRequest(data)
            if req.header("Auth-Protocol") == "sentinel" and req.user.startswith("sentinel-"):
                with self._lock:
                    self._sentinels.append(req)
                    self._handled += 1
                    counted = True
                conn.sendall(b"HTTP/1.0 200 OK\r\nAuth-Status: sentinel\r\n\r\n")
                return
            with self._lock:
                self.requests.append(req)
                self._handled += 1
                counted = True
            if self.delay:
                time.sleep(self.delay)
            ans = self.respond(req)
            if ans is None:
                return
            if not isinstance(ans, (bytes, bytearray)):
                ans = ("HTTP/1.0 200 OK\r\n" + "".join("%s: %s\r\n" % kv for kv in ans)
                       + "\r\n").encode("utf-8")
            conn.sendall(ans)
        except OSError:
            pass
        finally:
            if not counted:                  # read failed: done with it all the same
                with self._lock:
                    self._handled += 1
            conn.close()
