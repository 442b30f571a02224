"""auth_http_keepalive: HTTP/1.1 connections to the auth service are reused;
a connection the service closed while idle is replaced without the client
noticing; without the directive every request has its own HTTP/1.0 connection,
as nginx does."""

import socket
import threading

from harness import LineClient, wait_until


class KeepAliveAuth:
    """An auth service that keeps HTTP/1.1 connections open, counts connections
    and requests, and can close every idle connection on demand."""

    def __init__(self, backend_port):
        self.backend_port = backend_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = "127.0.0.1:%d/auth" % self.port
        self.connections = 0
        self.requests = []
        self.lock = threading.Lock()
        self.conns = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        c.settimeout(10)
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(4096)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                line = head.split(b"\r\n", 1)[0]
                with self.lock:
                    self.requests.append(head)
                v11 = line.endswith(b"HTTP/1.1")
                resp = (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" if v11 else
                        b"HTTP/1.0 200 OK\r\n")
                resp += (b"Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: %d\r\n\r\n"
                         % self.backend_port)
                c.sendall(resp)
                if not v11:
                    return
        except OSError:
            return
        finally:
            c.close()

    def close_idle(self):
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.conns = []

    def stop(self):
        self.stopped = True
        self.sock.close()
        self.close_idle()


def login(port):
    with LineClient(port) as c:
        c.expect("* OK")
        c.cmd("a LOGIN alice alicepw")
        line = c.read_until("a ")[-1].decode()
        c.cmd("b LOGOUT")
        c.read_until("b ")
        return line


def start(ctx, keepalive):
    dv = ctx.dovecot()
    au = KeepAliveAuth(dv.imap_port)
    ctx.cleanup(au.stop)
    mail = {"auth_http": au.url}
    if keepalive:
        mail["auth_http_keepalive"] = keepalive
    mp = ctx.mailproxy(servers=[{"protocol": "imap"}], mail=mail, main={"worker_processes": 1})
    return au, mp


def test_keepalive_reuses_auth_connections(ctx):
    au, mp = start(ctx, 8)
    for _ in range(10):
        assert login(mp.ports["imap"]).startswith("a OK"), mp.log()
    assert len(au.requests) == 10
    assert au.connections < 10, "each login opened its own connection"
    assert all(r.split(b"\r\n", 1)[0].endswith(b"HTTP/1.1") for r in au.requests)
    assert all(b"Connection: keep-alive" in r for r in au.requests)


def test_keepalive_survives_the_service_closing_idle_connections(ctx):
    au, mp = start(ctx, 8)
    assert login(mp.ports["imap"]).startswith("a OK")
    au.close_idle()
    # The kept connection is now closed by the service: the next login must
    # still work (a fresh connection, or the request sent again on one).
    for _ in range(3):
        assert login(mp.ports["imap"]).startswith("a OK"), mp.log()
    assert wait_until(lambda: len(au.requests) >= 4, 5)


def test_without_keepalive_one_http10_request_per_connection(ctx):
    au, mp = start(ctx, 0)
    for _ in range(4):
        assert login(mp.ports["imap"]).startswith("a OK")
    assert au.connections == 4 and len(au.requests) == 4
    assert all(r.split(b"\r\n", 1)[0].endswith(b"HTTP/1.0") for r in au.requests)
    assert not any(b"Connection:" in r for r in au.requests)
