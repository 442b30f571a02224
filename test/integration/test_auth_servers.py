"""auth_http over HTTPS and to several auth services (issue #14 item 2).

HTTPS: the certificate is verified against auth_http_ssl_trusted_certificate
(a failure gives the client the internal error and the log the reason), the
name goes as SNI, and the TLS session of one request is resumed by the next.

Several services (auth_http given a list): a request goes to the next one on a
refused connection, a timeout with nothing answered or a 5xx status line; a
service whose answer had begun is never asked again elsewhere. A failing
service is skipped for auth_http_fail_timeout by every request, then probed
again; `-s status` shows each one's state and counts. Kept-alive connections
are pooled per service."""

import re
import socket
import threading

from harness import free_port, timeout, wait_until
from harness.dovecot import make_cert
from imap_support import INTERNAL_ERROR, closed_after, connect, imap_server, status, tagged
from test_auth_keepalive import KeepAliveAuth


def login(port, user="alice", pw="alicepw"):
    """LOGIN through the proxy: the tagged answer line (or the internal error line)."""
    with connect(port) as c:
        c.cmd("a LOGIN %s %s" % (user, pw))
        line = c.readline(timeout=20)
        if line.startswith(b"a OK"):
            c.cmd("b LOGOUT")
            tagged(c, "b")
        elif line == INTERNAL_ERROR:
            assert closed_after(c) == b""
        return line


def proxy(ctx, urls, **mail):
    mail["auth_http"] = urls
    return ctx.mailproxy(servers=[imap_server()], mail=mail, main={"worker_processes": 1})


def auth_servers(ctx, mp):
    return status(ctx, mp)["auth_servers"]


def https_service(ctx, dv):
    cert, key = make_cert(ctx.path(), "auth")
    au = ctx.auth_service(dovecot=dv, extra_args=["--tls-cert", cert, "--tls-key", key])
    return au, cert, "https://127.0.0.1:%d/mail/auth" % au.port


# ------------------------------------------------------------------ HTTPS

def test_https_verified_with_sni_and_session_reuse(ctx):
    dv = ctx.dovecot()
    au, cert, url = https_service(ctx, dv)
    mp = proxy(ctx, url, auth_http_ssl_verify=True, auth_http_ssl_trusted_certificate=cert,
               auth_http_ssl_name="localhost")
    assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
    au.wait_log(r"tls connection sni=localhost resumed=0")
    au.wait_request(user="alice", result="OK")
    # One HTTP/1.0 connection per request: the second resumes the first's session.
    assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
    au.wait_log(r"tls connection sni=localhost resumed=1")
    au.wait_request(user="alice", result="OK", count=2)


def test_https_session_reuse_off_does_full_handshakes(ctx):
    dv = ctx.dovecot()
    au, cert, url = https_service(ctx, dv)
    mp = proxy(ctx, url, auth_http_ssl_session_reuse=False, auth_http_ssl_server_name=False)
    for n in (1, 2, 3):
        assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
        au.wait_request(user="alice", result="OK", count=n)
    au.stop()                                   # its log is complete now
    assert len(re.findall(r"tls connection sni=- resumed=0", au.log())) == 3, au.log()
    assert "resumed=1" not in au.log()


def test_https_unknown_ca_is_an_internal_error_with_the_reason_logged(ctx):
    dv = ctx.dovecot()
    au, _, url = https_service(ctx, dv)
    other, _ = make_cert(ctx.path(), "other")
    mp = proxy(ctx, url, auth_http_ssl_verify=True, auth_http_ssl_trusted_certificate=other,
               auth_http_ssl_name="localhost")
    assert login(mp.ports["imap"]) == INTERNAL_ERROR
    mp.wait_log(r"auth http server SSL certificate verify error: \(\d+:")
    au.stop()                                   # its log is complete now
    assert 'user="alice"' not in au.log()


def test_https_wrong_name_fails_verification(ctx):
    dv = ctx.dovecot()
    au, cert, url = https_service(ctx, dv)
    mp = proxy(ctx, url, auth_http_ssl_verify=True, auth_http_ssl_trusted_certificate=cert,
               auth_http_ssl_name="wrong.example")
    assert login(mp.ports["imap"]) == INTERNAL_ERROR
    mp.wait_log(r"SSL certificate verify error: \(62:hostname mismatch\)")


def test_https_keepalive_reuses_one_tls_connection(ctx):
    import ssl
    dv = ctx.dovecot()
    cert, key = make_cert(ctx.path(), "auth")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)

    class TlsKeepAliveAuth(KeepAliveAuth):
        def _serve(self, c):
            try:
                c = tls.wrap_socket(c, server_side=True)
            except (OSError, ssl.SSLError):
                return
            super()._serve(c)
    au = TlsKeepAliveAuth(dv.imap_port)
    ctx.cleanup(au.stop)
    mp = proxy(ctx, "https://127.0.0.1:%d/auth" % au.port, auth_http_keepalive=4,
               auth_http_ssl_verify=True, auth_http_ssl_trusted_certificate=cert)
    for _ in range(4):
        assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
    assert len(au.requests) == 4 and au.connections == 1, (au.connections, au.requests)
    assert all(r.split(b"\r\n", 1)[0].endswith(b"HTTP/1.1") for r in au.requests)


def test_https_verify_failure_fails_over_to_the_next_server(ctx):
    dv = ctx.dovecot()
    au, _, url = https_service(ctx, dv)
    other, _ = make_cert(ctx.path(), "other")
    second = ctx.fake_auth(backend_port=dv.imap_port)
    mp = proxy(ctx, [url, second.url], auth_http_ssl_verify=True,
               auth_http_ssl_trusted_certificate=other)
    assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
    second.wait_requests(1)
    mp.wait_log(r"SSL certificate verify error: \(\d+:[^)]*\) \(%s\), trying the next" % re.escape(url))
    assert auth_servers(ctx, mp)[url]["failures"] == 1


# ------------------------------------------------------------------ several servers

def test_refused_first_server_goes_to_the_second_and_backs_off(ctx):
    dv = ctx.dovecot()
    second = ctx.fake_auth(backend_port=dv.imap_port)
    dead = "127.0.0.1:%d/auth" % free_port()
    mp = proxy(ctx, [dead, second.url], auth_http_fail_timeout="60s")
    for n in (1, 2, 3):
        assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
    assert len(second.wait_requests(3)) >= 3
    mp.wait_log(r"connect\(\) to auth http server failed \(%s\), trying the next" % dead)
    st = auth_servers(ctx, mp)
    # Only the first login tried the dead server: the others skipped it.
    assert st[dead]["state"] == "backoff" and st[dead]["requests"] == 1, st
    assert st[dead]["failures"] == 1 and st[dead]["backoffs"] == 1, st
    assert st[second.url]["state"] == "up" and st[second.url]["requests"] == 3, st
    assert st[second.url]["failures"] == 0, st


def test_backoff_is_shared_by_the_workers(ctx):
    dv = ctx.dovecot()
    second = ctx.fake_auth(backend_port=dv.imap_port)
    dead = "127.0.0.1:%d/auth" % free_port()
    mp = ctx.mailproxy(servers=[imap_server()], main={"worker_processes": 2},
                       mail={"auth_http": [dead, second.url], "auth_http_fail_timeout": "60s"})
    for _ in range(8):
        assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
    second.wait_requests(8)
    # Whichever worker took each login, only the first one tried the dead service.
    st = auth_servers(ctx, mp)
    assert st[dead]["requests"] == 1 and st[dead]["state"] == "backoff", st
    assert st[second.url]["requests"] == 8, st


@timeout(60)
def test_silent_first_server_times_out_then_the_second_answers(ctx):
    dv = ctx.dovecot()
    hung = ctx.fake_server("silent")
    second = ctx.fake_auth(backend_port=dv.imap_port)
    mp = proxy(ctx, [hung.url, second.url], auth_http_timeout="4s")
    assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
    hung.wait_received(b"GET /mail/auth")
    second.wait_requests(1)
    mp.wait_log(r"auth http server timed out \(%s\), trying the next" % hung.url)
    assert auth_servers(ctx, mp)[hung.url]["state"] == "backoff"


def test_5xx_from_the_first_server_goes_to_the_second(ctx):
    dv = ctx.dovecot()
    first = ctx.fake_auth(respond=lambda r: b"HTTP/1.0 503 Service Unavailable\r\n\r\n")
    second = ctx.fake_auth(backend_port=dv.imap_port)
    mp = proxy(ctx, [first.url, second.url])
    assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
    assert len(first.wait_requests(1)) == 1
    assert second.wait_requests(1)[0].user == "alice"
    mp.wait_log(r"5xx status \(%s\), trying the next" % first.url)


def test_5xx_from_the_only_server_is_read_as_nginx_does(ctx):
    # nginx ignores the status code: an Auth-Status in a 500 answer still counts.
    first = ctx.fake_auth(respond=lambda r: b"HTTP/1.0 500 Oops\r\nAuth-Status: Go away\r\n\r\n")
    mp = proxy(ctx, first.url)
    assert login(mp.ports["imap"]) == b"a NO Go away\r\n"


def test_answer_cut_short_is_not_sent_to_the_next_server(ctx):
    dv = ctx.dovecot()
    first = ctx.fake_auth(respond=lambda r: b"HTTP/1.0 200 OK\r\nAuth-Status: O")
    second = ctx.fake_auth(backend_port=dv.imap_port)
    mp = proxy(ctx, [first.url, second.url])
    assert login(mp.ports["imap"]) == INTERNAL_ERROR
    mp.wait_log(r"auth http server closed the connection before the end of headers")
    first.wait_requests(1)
    second.sync()
    assert second.requests == [], second.requests
    st = auth_servers(ctx, mp)
    assert st[first.url]["failures"] == 1 and st[second.url]["requests"] == 0, st


@timeout(60)
def test_answer_started_then_silent_times_out_without_a_second_try(ctx):
    dv = ctx.dovecot()
    gate = threading.Event()
    ctx.cleanup(gate.set)

    def start_then_hang(conn, server):
        conn.recv(65536)
        conn.sendall(b"HTTP/1.0 200 OK\r\nAuth-Status: OK\r\n")
        gate.wait(30)
        conn.close()
    first = ctx.fake_server("script", handler=start_then_hang)
    second = ctx.fake_auth(backend_port=dv.imap_port)
    mp = proxy(ctx, [first.url, second.url], auth_http_timeout="2s")
    assert login(mp.ports["imap"]) == INTERNAL_ERROR
    mp.wait_log(r"auth http server timed out")
    second.sync()
    assert second.requests == [], second.requests


@timeout(60)
def test_backoff_expires_and_the_first_server_is_probed_again(ctx):
    dv = ctx.dovecot()
    ok = [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"), ("Auth-Port", str(dv.imap_port))]
    down = {"on": True}
    first = ctx.fake_auth(respond=lambda r: b"HTTP/1.0 502 Bad Gateway\r\n\r\n" if down["on"] else ok)
    second = ctx.fake_auth(backend_port=dv.imap_port)
    mp = proxy(ctx, [first.url, second.url], auth_http_fail_timeout="1s")
    assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
    st = auth_servers(ctx, mp)[first.url]
    assert st["failures"] == 1 and st["backoffs"] == 1, st
    down["on"] = False

    # Logins go on; once the back-off is over, one probes the first server again.
    def probed():
        assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
        return len(first.requests) >= 2
    wait_until(probed, 20, interval=0.2, what="a probe of the first auth server")
    st = auth_servers(ctx, mp)
    assert st[first.url]["state"] == "up" and st[first.url]["failures"] == 1, st
    # Up again: the next login goes to it, not to the second.
    n2 = len(second.requests)
    assert login(mp.ports["imap"]).startswith(b"a OK")
    wait_until(lambda: len(first.requests) >= 3, 20, what="the first server used again")
    second.sync()
    assert len(second.requests) == n2


def test_keepalive_pools_are_per_server(ctx):
    dv = ctx.dovecot()
    a, b = KeepAliveAuth(dv.imap_port), KeepAliveAuth(dv.imap_port)
    ctx.cleanup(a.stop)
    ctx.cleanup(b.stop)
    mp = proxy(ctx, [a.url, b.url], auth_http_keepalive=4)
    for _ in range(3):
        assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
    assert len(a.requests) == 3 and a.connections == 1 and b.connections == 0, (a.requests, a.connections, b.connections)
    a.stopped = True
    a.sock.shutdown(socket.SHUT_RDWR)           # no longer listening: refused from now on
    a.stop()
    for _ in range(4):
        assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
    wait_until(lambda: len(b.requests) >= 4, 10, what="4 requests at the second server")
    assert b.connections == 1, "the second server's pool was not reused: %d" % b.connections
    assert all(r.split(b"\r\n", 1)[0].endswith(b"HTTP/1.1") for r in b.requests)
    st = auth_servers(ctx, mp)
    assert st[a.url]["state"] == "backoff" and st[b.url]["requests"] == 4, st


def test_each_server_gets_its_own_request_line_and_host(ctx):
    dv = ctx.dovecot()
    first = ctx.fake_auth(respond=lambda r: b"HTTP/1.0 500 No\r\n\r\n")
    second = ctx.fake_auth(backend_port=dv.imap_port)
    url2 = "http://localhost:%d/other/path" % second.port
    mp = proxy(ctx, [first.url, url2])
    assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
    r1, r2 = first.wait_requests(1)[0], second.wait_requests(1)[0]
    assert r1.line.startswith("GET /mail/auth HTTP/1.0"), r1.line
    assert r2.line.startswith("GET /other/path HTTP/1.0"), r2.line
    assert r2.header("Host") == "localhost" and r2.user == "alice", r2
    assert r1.password == r2.password == "alicepw"


def test_reload_keeps_counts_and_reaches_a_new_https_service(ctx):
    dv = ctx.dovecot()
    au, cert, url = https_service(ctx, dv)
    first = ctx.fake_auth(backend_port=dv.imap_port)
    mp = proxy(ctx, [first.url])
    assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
    first.wait_requests(1)
    # The new configuration puts an HTTPS service (verified) before the kept one.
    text = open(mp.config_path).read()
    text = re.sub(r"(?m)^(\s*)auth_http: .*$", lambda m: '%sauth_http: ["%s", "%s"]\n'
                  '%sauth_http_ssl_verify: on\n%sauth_http_ssl_trusted_certificate: "%s"\n'
                  '%sauth_http_ssl_name: localhost' % (m.group(1), url, first.url, m.group(1),
                                                       m.group(1), cert, m.group(1)),
                  text, count=1)
    with open(mp.config_path, "w") as f:
        f.write(text)
    mp.reload()
    mp.wait_log(r"configuration generation 1 is running")
    wait_until(lambda: url in auth_servers(ctx, mp), 20, what="the new service in -s status")
    assert login(mp.ports["imap"]).startswith(b"a OK"), mp.log()
    au.wait_request(user="alice", result="OK")
    st = auth_servers(ctx, mp)
    assert st[url]["requests"] == 1 and st[first.url]["requests"] == 1, st


# ------------------------------------------------------------------ configuration

def test_list_round_trips_through_dash_T_and_bad_entries_are_located(ctx):
    second = free_port()
    mp = proxy(ctx, ["127.0.0.1:%d/a" % free_port(), "https://127.0.0.1:%d/b" % second],
               auth_http_fail_timeout="5s")
    out = ctx.cli("-T", "-p", mp.prefix, "-c", mp.config_path)
    assert out.rc == 0, out
    assert '/a", "https://127.0.0.1:%d/b"]' % second in out.stdout, out.stdout
    assert "auth_http_fail_timeout: 5s" in out.stdout, out.stdout
    assert "auth_http_ssl_server_name: on" in out.stdout
    # TLS settings are checked at load too, against the server that uses them.
    text = open(mp.config_path).read().replace("mail:\n", "mail:\n  auth_http_ssl_verify: on\n", 1)
    path = ctx.path("verify.yaml")
    with open(path, "w") as f:
        f.write(text)
    r = ctx.cli("-t", "-p", mp.prefix, "-c", path)
    assert r.rc != 0 and re.search(r"verify\.yaml:\d+:\d+: server: auth_http_ssl_verify needs "
                                   r"auth_http_ssl_trusted_certificate", r.out), r.out
    for bad, rx in ((["127.0.0.1:1/a", "ftp://x/"], r'unsupported scheme in "ftp://x/"'),
                    ([], r"an empty list names no auth service"),
                    (["127.0.0.1:1/a", "127.0.0.1:1/a"], r'duplicate auth service')):
        text = open(mp.config_path).read()
        text = re.sub(r"(?m)^(\s*)auth_http: .*$", lambda m: m.group(1) + "auth_http: " +
                      ("[" + ", ".join('"%s"' % u for u in bad) + "]"), text, count=1)
        path = ctx.path("bad.yaml")
        with open(path, "w") as f:
            f.write(text)
        r = ctx.cli("-t", "-p", mp.prefix, "-c", path)
        assert r.rc != 0, r
        assert re.search(r"bad\.yaml:\d+:\d+: .*" + rx, r.out), r.out
