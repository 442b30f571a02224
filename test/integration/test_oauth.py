"""OAUTHBEARER (RFC 7628) and XOAUTH2 through the proxy (#14 item 1), end to end: the
example auth service issues and validates HMAC-signed bearer tokens, mailproxy asks it
as freenginx does (Auth-Method oauthbearer|xoauth2, Auth-User the identity, Auth-Pass
the token), and logs in to a real Dovecot with the same mechanism and the token, which
Dovecot's oauth2 passdb checks at the service's introspection endpoint. Clients: raw
dialogues, curl --oauth2-bearer, msmtp."""

import base64
import json
import re

from harness import (LineClient, oauth_peers, oauthbearer, raw_b64, timeout, xoauth2)

GREETING = b"* OK IMAP4 ready\r\n"
MECHS = ["plain", "oauthbearer", "xoauth2"]
SASL_ERROR = base64.b64encode(json.dumps(
    {"status": "invalid_token", "schemes": "bearer", "scope": "mail"},
    separators=(",", ":")).encode()).decode()


def _imap_proxy(ctx, au, **kw):
    srv = {"protocol": "imap", "imap_auth": MECHS,
           "imap_capabilities": ["IMAP4", "IMAP4rev1", "SASL-IR"]}
    srv.update(kw)
    return ctx.mailproxy(servers=[srv], auth=au)


def _imap(port):
    c = LineClient(port, timeout=10)
    assert c.readline() == GREETING
    return c


def _tagged(c, tag):
    lines = c.read_until(tag + " ")
    return lines[:-1], lines[-1]


# ------------------------------------------------------------------------- IMAP

def test_oauth_imap_capability_advertises_both(ctx):
    dv, au = oauth_peers(ctx)
    mp = _imap_proxy(ctx, au)
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a1 CAPABILITY")
        assert c.readline() == (b"* CAPABILITY IMAP4 IMAP4rev1 SASL-IR AUTH=PLAIN "
                                b"AUTH=OAUTHBEARER AUTH=XOAUTH2\r\n")
        assert c.readline() == b"a1 OK completed\r\n"


def test_oauth_imap_oauthbearer_initial_response_to_dovecot(ctx):
    dv, au = oauth_peers(ctx)
    mp = _imap_proxy(ctx, au)
    tok = au.token("bob")
    with _imap(mp.ports["imap"]) as c:
        c.cmd("a1 AUTHENTICATE OAUTHBEARER " + oauthbearer("bob", tok))
        untagged, final = _tagged(c, "a1")
        assert final.startswith(b"a1 OK "), (untagged, final)
        c.cmd("a2 SELECT INBOX")
        _, final = _tagged(c, "a2")
        assert final.startswith(b"a2 OK ")
    # freenginx's request: method, identity, the token as the password
    au.wait_request(user="bob", protocol="imap", method="oauthbearer", result="OK")
    # Dovecot's oauth2 passdb checked the token at the introspection endpoint
    au.wait_log(r"introspect result=active user=bob")
    dv.wait_log(r"imap-login: Info: Login: user=<bob>, method=OAUTHBEARER")
