"""Small fake servers (threads) for fault injection.

FakeServer(mode, ...)  a TCP server on a free loopback port:
    "silent"  accepts and never answers (a hung backend, or a hung auth service)
    "close"   accepts and closes at once
    "banner"  sends `banner`, then behaves as `then` ("silent" or "close")
    "script"  handler(conn, server) does whatever it likes (conn is a socket)
  .port, .host, .connections (count), .received (list of bytes, one per connection),
  .start(), .stop(). Use as a context manager or stop it (ctx.fake_server does).

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

from .util import LOOPBACK, register_live, unregister_live


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
            conn.settimeout(0.2)
            while not self._stop.is_set():       # silent: swallow input until stopped
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
                with self._lock:
                    self.received[idx] += data
        except OSError:
            pass

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

    def _handle(self, conn, server):
        conn.settimeout(10)
        data = b""
        try:
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            req = AuthRequest(data)
            with self._lock:
                self.requests.append(req)
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
            conn.close()
