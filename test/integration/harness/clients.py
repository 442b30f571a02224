"""A raw line-oriented client for speaking IMAP/POP3/SMTP by hand in tests."""

import socket
import time

from .dovecot import client_tls_context
from .util import LOOPBACK


class LineClient:
    """TCP (optionally TLS) client with bounded reads.

    LineClient(port, host="127.0.0.1", timeout=10, tls=False)
      .readline() -> bytes with its CRLF (b"" at EOF)
      .expect(prefix) -> the line; AssertionError unless it starts with prefix
      .send(bytes|str) raw; .cmd(line) sends line + CRLF and returns nothing
      .read_until(prefix) -> list of lines up to and including the first line
                             starting with prefix (e.g. b"A1 " for a tagged reply)
      .starttls() wraps the socket in TLS (after the server said go ahead)
      .closed() -> True when the server has closed (reads EOF within timeout)
      .close()
    """

    def __init__(self, port, host=LOOPBACK, timeout=10.0, tls=False, source=None):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=source)
        if tls:
            self.sock = client_tls_context().wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def readline(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            if time.monotonic() >= deadline:
                raise TimeoutError("no complete line within timeout; have %r" % self.buf)
            try:
                if not self._fill(deadline):
                    line, self.buf = self.buf, b""
                    return line
            except socket.timeout:
                raise TimeoutError("no complete line within timeout; have %r" % self.buf)
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def expect(self, prefix, timeout=None):
        if isinstance(prefix, str):
            prefix = prefix.encode()
        line = self.readline(timeout)
        assert line.startswith(prefix), "expected %r..., got %r" % (prefix, line)
        return line

    def read_until(self, prefix, timeout=None):
        if isinstance(prefix, str):
            prefix = prefix.encode()
        lines = []
        while True:
            line = self.readline(timeout)
            if not line:
                raise AssertionError("EOF before %r; got %r" % (prefix, lines))
            lines.append(line)
            if line.startswith(prefix):
                return lines

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, line):
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def starttls(self):
        assert not self.buf, "unread plaintext before STARTTLS: %r" % self.buf
        self.sock = client_tls_context().wrap_socket(self.sock, server_hostname="localhost")

    def closed(self, timeout=None):
        """True if the peer closes (EOF) within timeout; data read meanwhile is kept."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            try:
                if not self._fill(deadline):
                    return True
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
