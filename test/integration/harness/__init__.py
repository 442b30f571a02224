"""mailproxy integration-test harness (standard library only). See ../README.md."""

from .auth import (AUTH_SCRIPT, AuthResponse, AuthService, auth_module, auth_request,
                   escape, unescape)
from .clients import LineClient
from .context import Context, Session, SANITIZER_PATTERNS
from .dovecot import Dovecot, client_tls_context, make_cert, sieve_installed
from .oauth import TOKEN_KEY, gs2_escape, oauth_peers, oauth_smtp_peers, oauthbearer, raw_b64, xoauth2
from .haproxy import HAProxy
from .fakes import AuthRequest, FakeAuth, FakeRedis, FakeServer
from .postfix import Postfix
from .proxy import CliResult, MailProxy, parse_listen, run_cli
from .redis import (ClosedError, Incomplete, ProtocolError, Redis, RedisError, RespClient,
                    Status, decode, encode, encode_command, resp_call)
from .util import (LOOPBACK, LogWaits, Skip, TestTimeout, can_connect, children_of, free_port,
                   timeout, free_ports, is_listening, pid_alive, read_text, stop_pid,
                   tcp_sockets, wait_pid_gone, wait_until)
from .yamlgen import Raw, to_yaml

__all__ = [n for n in dir() if not n.startswith("_")]
