"""mailproxy --from-nginx: nginx's documented mail configurations convert to YAML that
passes -t; a distribution-style nginx.conf with globbed includes; errors with file:line;
and the round trip: mailproxy YAML -> nginx mail config (yaml_to_nginx below) ->
--from-nginx -> YAML gives the same effective configuration (-T) for the harness's
configurations and the example file."""

import json
import os
import re
import shutil

from harness import Raw, free_port, make_cert

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "nginx")


# ---- the test helper: mailproxy YAML -> nginx mail configuration ------------------------
#
# The YAML is read through mailproxy's own -T (every value in one canonical, simple shape:
# "key: scalar" or "key: [flow, items]"), so any configuration the binary loads can be
# written back as nginx directives, defaults included.

# Directives whose arguments are a list (a scalar of them is split on blanks, as mailproxy does).
MULTI = {"user", "worker_cpu_affinity", "server_name", "resolver", "auth_http",
         "imap_capabilities", "pop3_capabilities", "smtp_capabilities", "imap_auth",
         "pop3_auth", "smtp_auth", "ssl_protocols", "auth_http_ssl_protocols",
         "proxy_ssl_protocols", "ssl_session_cache", "ssl_session_ticket_key_store",
         "login_limit_store", "login_limit_addr", "login_limit_user", "login_limit_pair",
         "auth_http_cache"}
# Repeated directives: each item is one occurrence.
JOIN = {"listen", "error_log", "access_log"}         # the item is the arguments
TAKE1 = {"ssl_certificate", "ssl_certificate_key", "ssl_session_ticket_key",
         "set_real_ip_from", "login_limit_allow", "env"}
TAKE2 = {"auth_http_header", "ssl_conf_command"}    # "name value"
CAPS = {"imap_capabilities", "pop3_capabilities", "smtp_capabilities"}


def _unquote(q):
    """A double-quoted -T scalar (print_quoted: \\" \\\\ \\xNN \\uNNNN) -> its text."""
    out, i = [], 1
    while q[i] != '"':
        c = q[i]
        if c == "\\":
            e = q[i + 1]
            if e == "x":
                out.append(chr(int(q[i + 2:i + 4], 16)))
                i += 4
                continue
            if e == "u":
                out.append(chr(int(q[i + 2:i + 6], 16)))
                i += 6
                continue
            out.append(e)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out), i + 1


def parse_value(s):
    s = s.strip()
    if s.startswith('"'):
        return _unquote(s)[0]
    if s.startswith("{"):
        return json.loads(s)            # log_format's {name: format}, printed as JSON
    if not s.startswith("["):
        return s
    items, i = [], 1
    while s[i] != "]":
        if s[i] in ", ":
            i += 1
        elif s[i] == '"':
            text, n = _unquote(s[i:])
            items.append(text)
            i += n
        else:
            j = i
            while s[j] not in ",]":
                j += 1
            items.append(s[i:j].strip())
            i = j
    return items


def parse_dump(text):
    """-T output -> {"main": [(k, v)], "events": [...], "mail": [...], "servers": [[...]],
    "has_mail": whether there is a mail block}."""
    cf = {"main": [], "events": [], "mail": [], "servers": [], "has_mail": False}
    block = "main"
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line in ("events:", "mail:"):
            block = line[:-1]
            cf["has_mail"] = cf["has_mail"] or block == "mail"
            continue
        if line.startswith("  servers:"):
            block = "servers"
            continue
        m = re.match(r"^( *)(- )?([a-z0-9_]+): (.*)$", line)
        assert m, "unexpected -T line %r" % line
        if m.group(2):
            cf["servers"].append([])
        key, val = m.group(3), parse_value(m.group(4))
        (cf["servers"][-1] if block == "servers" else cf[block]).append((key, val))
    return cf


def nginx_word(s):
    if s and re.fullmatch(r"[A-Za-z0-9_./:=+*@!,%~^\[\]$-]+", s):
        return s
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
        .replace("\t", "\\t").replace("\r", "\\r")


def nginx_directives(key, v):
    """The nginx directives (argument lists) that say key: v."""
    if isinstance(v, dict):
        # log_format: NAME [escape=E] FORMAT, one directive per format.
        return [[key, name] + (fmt.split(" ", 1) if fmt.startswith("escape=") else [fmt])
                for name, fmt in v.items()]
    if isinstance(v, list):
        if not v:
            # Empty capabilities are written ""; other empty lists are the default.
            return [[key, ""]] if key in CAPS else []
        if key in JOIN:
            return [[key] + it.split() for it in v]
        if key in TAKE2:
            return [[key] + it.split(" ", 1) for it in v]
        if key in TAKE1:
            return [[key, it] for it in v]
        return [[key] + v]
    if key in JOIN or key in MULTI:
        return [[key] + v.split()]
    return [[key, v]]


def yaml_to_nginx(dump_text):
    """nginx configuration text with the effective configuration of a -T output."""
    cf = parse_dump(dump_text)
    out = ["# written by test_from_nginx.yaml_to_nginx"]

    def put(pairs, indent):
        for k, v in pairs:
            for args in nginx_directives(k, v):
                out.append("%s%s %s;" % (indent, args[0], " ".join(nginx_word(a) for a in args[1:])))

    put(cf["main"], "")
    out.append("events {")
    put(cf["events"], "    ")
    out.append("}")
    if not cf["has_mail"]:
        return "\n".join(out) + "\n"
    out.append("mail {")
    put(cf["mail"], "    ")
    for srv in cf["servers"]:
        out.append("    server {")
        put(srv, "        ")
        out.append("    }")
    out.append("}")
    return "\n".join(out) + "\n"


# ---- helpers ----------------------------------------------------------------------------

def _effective(ctx, conf, prefix):
    """-T's output for conf, without its first line (which names the file)."""
    r = ctx.cli("-T", "-p", prefix, "-c", conf)
    assert r.rc == 0, r
    assert r.stdout.startswith("# effective configuration of "), r
    return r.stdout.split("\n", 1)[1]


def _convert(ctx, nginx_conf, out_yaml, cwd=None):
    r = ctx.cli("--from-nginx", nginx_conf, cwd=cwd)
    assert r.rc == 0, r
    assert r.stderr == "", r
    with open(out_yaml, "w") as f:
        f.write(r.stdout)
    return r.stdout


def _copy_fixture(ctx, name):
    dst = ctx.path("nginx")
    if os.path.isdir(os.path.join(FIXTURES, name)):
        shutil.copytree(os.path.join(FIXTURES, name), dst)
    else:
        os.mkdir(dst)
        shutil.copy(os.path.join(FIXTURES, name), os.path.join(dst, "nginx.conf"))
    return dst


def _round_trip(ctx, yaml_path, prefix):
    before = _effective(ctx, yaml_path, prefix)
    nginx_conf = os.path.join(prefix, "nginx.conf")
    with open(nginx_conf, "w") as f:
        f.write(yaml_to_nginx(before))
    out = os.path.join(prefix, "from-nginx.yaml")
    text = _convert(ctx, nginx_conf, out)
    assert "not carried" not in text, text
    after = _effective(ctx, out, prefix)
    assert after == before, "round trip changed the configuration\n--- nginx.conf\n%s\n" \
        "--- converted\n%s\n--- before\n%s\n--- after\n%s" % (
            open(nginx_conf).read(), text, before, after)


# ---- (a) nginx's documented examples ------------------------------------------------------

def test_doc_example_mail_core(ctx):
    d = _copy_fixture(ctx, "mail_core.conf")
    out = os.path.join(d, "mailproxy.yaml")
    text = _convert(ctx, os.path.join(d, "nginx.conf"), out)
    assert "not carried" not in text, text
    r = ctx.cli("-t", "-p", d, "-c", out)
    assert r.rc == 0 and "test is successful" in r.stderr, r
    eff = _effective(ctx, out, d)
    for line in ("worker_processes: auto\n", 'error_log: ["/var/log/nginx/error.log info"]\n',
                 "  worker_connections: 1024\n", '  server_name: ["mail.example.com"]\n',
                 '  auth_http: "localhost:9000/cgi-bin/nginxauth.cgi"\n',
                 '  imap_capabilities: ["IMAP4rev1", "UIDPLUS", "IDLE", "LITERAL+", "QUOTA"]\n',
                 "  pop3_auth: [plain, apop, cram-md5]\n",
                 '  pop3_capabilities: ["LAST", "TOP", "USER", "PIPELINING", "UIDL"]\n',
                 "  smtp_auth: [plain, login, cram-md5]\n",
                 '  smtp_capabilities: ["SIZE 10485760", "ENHANCEDSTATUSCODES", "8BITMIME", '
                 '"DSN"]\n', "  xclient: off\n"):
        assert line in eff, "%r not in\n%s" % (line, eff)
    servers = re.findall(r'    - listen: \["0\.0\.0\.0:(\d+)"\]\n      protocol: (\w+)\n', eff)
    assert servers == [("25", "smtp"), ("110", "pop3"), ("143", "imap"), ("587", "smtp")], eff
    assert re.search(r'listen: \["0\.0\.0\.0:110"\]\n      protocol: pop3\n'
                     r'      proxy_pass_error_message: on\n', eff), eff


def test_doc_example_mail_ssl(ctx):
    d = _copy_fixture(ctx, "mail_ssl.conf")
    make_cert(d)
    out = os.path.join(d, "mailproxy.yaml")
    text = _convert(ctx, os.path.join(d, "nginx.conf"), out)
    assert "not carried" not in text, text
    r = ctx.cli("-t", "-p", d, "-c", out)
    assert r.rc == 0 and "test is successful" in r.stderr, r
    eff = _effective(ctx, out, d)
    srv = eff.split("  servers:", 1)[1]
    for line in ('    - listen: ["0.0.0.0:993 ssl"]\n', "      protocol: imap\n",
                 '      ssl_certificate: ["cert.pem"]\n', '      ssl_certificate_key: ["cert.key"]\n',
                 '      ssl_ciphers: "AES128-SHA:AES256-SHA:RC4-SHA:DES-CBC3-SHA:RC4-MD5"\n',
                 '      ssl_session_cache: "shared:SSL:10m"\n', "      ssl_session_timeout: 10m\n"):
        assert line in srv, "%r not in\n%s" % (line, srv)


def test_doc_example_realip_auth_http(ctx):
    d = _copy_fixture(ctx, "mail_realip_auth.conf")
    out = os.path.join(d, "mailproxy.yaml")
    text = _convert(ctx, os.path.join(d, "nginx.conf"), out)
    assert "not carried" not in text, text
    r = ctx.cli("-t", "-p", d, "-c", out)
    assert r.rc == 0 and "test is successful" in r.stderr, r
    eff = _effective(ctx, out, d)
    assert '  auth_http_header: ["X-Auth-Key secret_string"]\n' in eff, eff
    assert '    - listen: ["0.0.0.0:110 proxy_protocol"]\n' in eff, eff
    assert '      set_real_ip_from: ["192.168.1.0/24", "192.168.2.1/32", "2001:db8::/32"]\n' in eff, eff


# ---- (c) includes with globs, relative to nginx.conf's directory ----------------------------

def test_distro_layout_includes(ctx):
    d = _copy_fixture(ctx, "distro")
    out = ctx.path("mailproxy.yaml")
    # From another directory, by absolute path: includes resolve against nginx.conf's.
    text = _convert(ctx, os.path.join(d, "nginx.conf"), out, cwd=ctx.tmp)
    conf = os.path.join(d, "nginx.conf")
    assert "# not carried: %s/modules-enabled/50-mod-mail.conf:1: load_module " \
        "modules/ngx_mail_module.so; (not a mailproxy directive)\n" % d in text, text
    assert "# not carried: %s:14: http { ... } (a block mailproxy does not read)\n" % conf \
        in text, text
    r = ctx.cli("-t", "-p", d, "-c", out)
    assert r.rc == 0, r
    eff = _effective(ctx, out, d)
    for line in ('user: ["www-data"]\n', "worker_processes: auto\n", 'pid: "/run/nginx.pid"\n',
                 "  worker_connections: 768\n", "  multi_accept: off\n",
                 '  server_name: ["mail.example.com"]\n',
                 '  auth_http_header: ["X-Auth-Key it\'s \\"quoted\\" \\\\ here"]\n',
                 '  imap_capabilities: ["IMAP4rev1", "UIDPLUS", "IDLE"]\n',
                 "  proxy_pass_error_message: on\n"):
        assert line in eff, "%r not in\n%s" % (line, eff)
    # The servers of the glob, in its (sorted) order.
    assert re.search(r'    - listen: \["127\.0\.0\.1:1143"\]\n      protocol: imap\n'
                     r'    - listen: \["127\.0\.0\.1:1110"\]\n      protocol: pop3\n'
                     r'      timeout: 30s\n', eff), eff


# ---- (d) errors -------------------------------------------------------------------------------

def test_errors_name_file_and_line(ctx):
    d = _copy_fixture(ctx, "distro")
    conf = os.path.join(d, "nginx.conf")
    cases = [
        # an unbalanced block in an included file: that file's line
        ("mail.d/servers/30-bad.conf", "server {\n\tlisten 1; protocol imap;\n",
         "%s/mail.d/servers/30-bad.conf:3: unexpected end of file, expecting \"}\"" % d),
        ("mail.d/servers/30-bad.conf", "server {\n\tlisten 1;\n}\n}\n",
         "%s/mail.d/servers/30-bad.conf:4: unexpected \"}\"" % d),
        ("mail.d/servers/30-bad.conf", "server {\n\tlisten 1;\n\tprotocol \"imap;\n}\n",
         "%s/mail.d/servers/30-bad.conf:5: unexpected end of file in a quoted parameter "
         "(opened at line 3)" % d),
        ("mail.d/servers/30-bad.conf", "server {\n\tlisten 1;\n\ttimeout 1s;\n\ttimeout 2s;\n}\n",
         "%s/mail.d/servers/30-bad.conf:4: \"timeout\" directive is duplicate (first at "
         "%s/mail.d/servers/30-bad.conf:3)" % (d, d)),
        ("mail.d/servers/30-bad.conf", "listen 1;\n",
         "%s/mail.d/servers/30-bad.conf:1: \"listen\" directive is not allowed here" % d),
        ("mail.d/servers/30-bad.conf", "include mail.d/nowhere.inc;\n",
         "%s/mail.d/servers/30-bad.conf:1: cannot open \"%s/mail.d/nowhere.inc\": "
         "No such file or directory" % (d, d)),
    ]
    for name, body, msg in cases:
        with open(os.path.join(d, name), "w") as f:
            f.write(body)
        r = ctx.cli("--from-nginx", conf)
        assert r.rc == 1, r
        assert r.stdout == "", r
        assert r.stderr == "mailproxy: %s\n" % msg, r
    r = ctx.cli("--from-nginx", ctx.path("missing.conf"))
    assert r.rc == 1 and r.stderr == 'mailproxy: %s: cannot open "%s": No such file or ' \
        'directory\n' % (ctx.path("missing.conf"), ctx.path("missing.conf")), r
    r = ctx.cli("--from-nginx")
    assert r.rc == 1 and "requires file name" in r.stderr, r


# ---- (b) round trip ---------------------------------------------------------------------------

AUTH = "127.0.0.1:9/mail/auth"


def _harness_configs(ctx):
    """Configurations built the way the integration tests build theirs (MailProxy), one
    per family of tests, covering the directives they use."""
    cert, key = make_cert(ctx.tmp)
    tls = {"ssl_certificate": cert, "ssl_certificate_key": key}
    return [
        ("imap_pop3_smtp", dict(servers=[{"protocol": "imap"}, {"protocol": "pop3"},
                                         {"protocol": "smtp"}], mail={"auth_http": AUTH})),
        ("tls_starttls", dict(servers=[{"protocol": "imap", "ssl_listen": True},
                                       {"protocol": "imap", "starttls": Raw("only")},
                                       {"protocol": "pop3", "starttls": True}],
                              mail=dict(tls, auth_http=AUTH,
                                        ssl_session_cache="builtin:100 shared:MAIL:1m",
                                        ssl_protocols=["TLSv1.2", "TLSv1.3"],
                                        ssl_session_timeout="10m",
                                        ssl_conf_command=["Options -ServerPreference"],
                                        ssl_prefer_server_ciphers=True))),
        ("auth_headers_vars", dict(servers=[{"protocol": "imap"}],
                                   mail={"auth_http": AUTH, "auth_http_timeout": "3s",
                                         "auth_http_header": {"X-Auth-Key": "two words",
                                                              "X-Client": "$remote_addr:$remote_port",
                                                              "X-Cost": "$$5"}})),
        ("auth_servers", dict(servers=[{"protocol": "pop3"}],
                              mail={"auth_http": ["http://127.0.0.1:9/a", "http://127.0.0.2:9/b"],
                                    "auth_http_keepalive": 8, "auth_http_fail_timeout": "5s",
                                    "auth_http_pass_client_cert": True})),
        ("smtp", dict(servers=[{"protocol": "smtp", "smtp_auth": ["login", "plain"],
                                "xclient": False, "proxy_smtp_auth": True,
                                "smtp_greeting_delay": "500ms",
                                "smtp_capabilities": ["SIZE 10485760", "8BITMIME"]},
                               {"protocol": "smtp", "smtp_auth": ["none"],
                                "resolver": "127.0.0.1:5353 valid=5s ipv6=off",
                                "resolver_timeout": "2s"}],
                      mail={"auth_http": AUTH, "smtp_client_buffer": "8k"})),
        ("login_limits", dict(servers=[{"protocol": "imap", "login_limit_dry_run": True},
                                       {"protocol": "pop3", "login_limit_addr": "off"}],
                              mail={"auth_http": AUTH, "login_limit_zone": "shared:lim:1m",
                                    "login_limit_addr": "5/m burst=2 block=10s",
                                    "login_limit_user": ["10/h", "burst=3"],
                                    "login_limit_allow": ["127.0.0.2/32", "::1"],
                                    "login_limit_log_level": "notice",
                                    "limit_sessions_user": 4})),
        ("process", dict(servers=[{"protocol": "imap"}], mail={"auth_http": AUTH},
                         main={"worker_processes": Raw("auto"), "worker_rlimit_nofile": 4096,
                               "worker_shutdown_timeout": "1m 30s", "master_process": False,
                               "env": ["TZ", "MAILPROXY_X=a b"], "worker_priority": -2,
                               "error_log": ["error.log info", "stderr warn"],
                               "events": {"worker_connections": 256, "multi_accept": True,
                                          "accept_mutex_delay": "100ms"}})),
        ("proxy_protocol_realip", dict(
            servers=[{"protocol": "pop3",
                      "listen": ["127.0.0.1:%d proxy_protocol backlog=64" % _port(ctx)],
                      "set_real_ip_from": ["127.0.0.0/8", "::1", "unix:"],
                      "proxy_protocol": Raw("v2")}],
            mail={"auth_http": AUTH})),
        ("backend_tls", dict(servers=[{"protocol": "imap", "proxy_ssl": True,
                                       "proxy_ssl_verify": False, "proxy_ssl_name": "mail.test",
                                       "proxy_ssl_protocols": ["TLSv1.3"]},
                                      {"protocol": "pop3", "proxy_starttls": True}],
                             mail={"auth_http": AUTH, "imap_id_forward": True})),
        ("overrides", dict(servers=[{"protocol": "imap", "timeout": "20s",
                                     "error_log": "stderr debug",
                                     "server_name": ["imap.example.com", "*.example.com"],
                                     "imap_capabilities": ["IMAP4rev1", "IDLE", "ID"],
                                     "imap_auth": ["plain", "login", "cram-md5"]},
                                    {"protocol": "pop3", "pop3_auth": "plain apop",
                                     "pop3_capabilities": [], "max_errors": 0,
                                     "listen": ["127.0.0.1:%d" % _port(ctx),
                                                "[::1]:%d ipv6only=on" % _port(ctx)]}],
                            mail={"auth_http": AUTH, "timeout": "10s", "max_commands": 50,
                                  "proxy_timeout": "1h", "proxy_buffer": "16k",
                                  "proxy_pass_error_message": True,
                                  "imap_client_buffer": "8k"})),
        ("odd_values", dict(servers=[{"protocol": "imap"}],
                            mail={"auth_http": AUTH,
                                  "ssl_ciphers": "ECDHE+AESGCM:!aNULL",
                                  "server_name": ["mail.example.com"],
                                  "auth_http_header": {"X-Text": "a;b {c} #d 'e' \"f\""}})),
    ]


def _port(ctx):
    return free_port()


def test_round_trip_harness_configs(ctx):
    for name, kw in _harness_configs(ctx):
        mp = ctx.mailproxy(start=False, **kw)
        try:
            _round_trip(ctx, mp.config_path, mp.prefix)
        except AssertionError as e:
            raise AssertionError("%s: %s" % (name, e))


def test_round_trip_example_file(ctx):
    d = ctx.path("example")
    os.mkdir(d)
    shutil.copy(os.path.join(ctx.repo, "mailproxy.yaml.example"), os.path.join(d, "mailproxy.yaml"))
    make_cert(d)
    _round_trip(ctx, os.path.join(d, "mailproxy.yaml"), d)


def test_round_trip_without_mail_block(ctx):
    d = ctx.path("nomail")
    os.mkdir(d)
    with open(os.path.join(d, "p.yaml"), "w") as f:
        f.write('worker_processes: auto\nworker_cpu_affinity: [auto, "0110"]\nenv: [TZ, "A=b c"]\n'
                "events:\n  use: epoll\n")
    _round_trip(ctx, os.path.join(d, "p.yaml"), d)


def test_helper_writes_nginx_syntax(ctx):
    """yaml_to_nginx quotes what nginx's tokenizer would split or end on."""
    text = yaml_to_nginx('# effective\nuser: ["a b", "c"]\nevents:\nmail:\n'
                         '  auth_http_header: ["X-T a;b {c} #d \\"q\\" \\\\ e"]\n'
                         '  smtp_capabilities: []\n')
    assert 'user "a b" c;' in text, text
    assert 'auth_http_header X-T "a;b {c} #d \\"q\\" \\\\ e";' in text, text
    assert 'smtp_capabilities "";' in text, text
