"""OAuth2 peers: the example auth service as token issuer/validator and a private
Dovecot whose oauth2 passdb asks its /oauth/introspect (RFC 7662).

Dovecot needs the service's URL and the service needs Dovecot's ports, so the Dovecot
is built first (its ports are chosen then), the service started, then Dovecot."""

import base64

from .dovecot import Dovecot
from .postfix import Postfix
from .util import free_port

TOKEN_KEY = "mailproxy-test-token-key"


def oauth_peers(ctx, mode="post", sieve=False, **auth_kw):
    """(dovecot, auth_service): users alice/alicepw and bob/bobpw on both (sieve: the
    Dovecot runs managesieve too, and the service routes Auth-Protocol sieve to it)."""
    dv = Dovecot(ctx._subdir("dovecot"), oauth2="http://placeholder", oauth2_mode=mode,
                 sieve=sieve)
    au = ctx.auth_service(imap_port=dv.imap_port, pop3_port=dv.pop3_port,
                          sieve_port=dv.sieve_port, token_key=TOKEN_KEY, **auth_kw)
    dv.oauth2 = au.introspect_url + ("/" if mode == "get" else "")
    ctx.cleanup(dv.stop)
    dv.start()
    return dv, au


def oauth_smtp_peers(ctx, **auth_kw):
    """(dovecot, postfix, auth_service): a private Postfix offering SMTP AUTH through
    Dovecot's SASL (smtpd_sasl_type dovecot, over an inet auth-client listener), so
    OAUTHBEARER and XOAUTH2 from the proxy (proxy_smtp_auth) reach the oauth2 passdb."""
    auth_port = free_port()
    dv = Dovecot(ctx._subdir("dovecot"), oauth2="http://placeholder", extra_conf="""
service auth {
  inet_listener auth-client {
    address = 127.0.0.1
    port = %d
  }
}
""" % auth_port)
    pf = Postfix(ctx._subdir("postfix"), extra_main_cf="""smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:%d
""" % auth_port)
    au = ctx.auth_service(imap_port=dv.imap_port, pop3_port=dv.pop3_port,
                          smtp_port=pf.smtp_port, token_key=TOKEN_KEY, **auth_kw)
    dv.oauth2 = au.introspect_url
    ctx.cleanup(dv.stop)
    dv.start()
    ctx.cleanup(pf.stop)
    pf.start()
    return dv, pf, au


def gs2_escape(user):
    return user.replace("=", "=3D").replace(",", "=2C")


def oauthbearer(user, token, extra=b""):
    """base64 of an RFC 7628 client message: n,a=USER,^A[extra]auth=Bearer TOKEN^A^A."""
    u = user.encode() if isinstance(user, str) else user
    t = token.encode() if isinstance(token, str) else token
    msg = b"n," + (b"a=" + gs2_escape(u.decode("latin-1")).encode("latin-1") if u else b"") + \
        b",\x01" + extra + b"auth=Bearer " + t + b"\x01\x01"
    return base64.b64encode(msg).decode("ascii")


def xoauth2(user, token):
    """base64 of an XOAUTH2 client message: user=USER^Aauth=Bearer TOKEN^A^A."""
    u = user.encode() if isinstance(user, str) else user
    t = token.encode() if isinstance(token, str) else token
    return base64.b64encode(b"user=" + u + b"\x01auth=Bearer " + t + b"\x01\x01").decode()


def raw_b64(msg):
    return base64.b64encode(msg).decode("ascii")
