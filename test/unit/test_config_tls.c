/*
 * Valid TLS values: ssl_session_cache variants and shared zones,
 * ssl_protocols, every TLS file directive pointing at a real file, the
 * seed's "ssl: on" and "so_keepalive", and ssl_conf_command files found
 * under the prefix when the contexts are built.
 */
#include <limits.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "config/cycle.h"
#include "test/unit/config_helpers.h"
#include "worker/tls/tls.h"

TestSuite(config_tls, .init = th_setup, .fini = th_teardown);

Test(config_tls, ssl_session_cache_variants)
{
	static const struct {
		const char *text;
		unsigned mode;
		long builtin;
		const char *name;
		size_t size;
	} cases[] = {
		{ "off", SSL_CACHE_OFF, -1, NULL, 0 },
		{ "none", SSL_CACHE_NONE, -1, NULL, 0 },
		{ "builtin", SSL_CACHE_BUILTIN, -1, NULL, 0 },
		{ "builtin:1000", SSL_CACHE_BUILTIN, 1000, NULL, 0 },
		{ "shared:MAIL:10m", SSL_CACHE_SHARED, -1, "MAIL", 10 * 1048576 },
		{ "\"builtin:1000 shared:MAIL:10m\"", SSL_CACHE_BUILTIN | SSL_CACHE_SHARED, 1000, "MAIL",
		  10 * 1048576 },
		{ "[\"shared:a_b-1:1m\", builtin]", SSL_CACHE_BUILTIN | SSL_CACHE_SHARED, -1, "a_b-1",
		  1048576 },
		{ "shared:z:64m", SSL_CACHE_SHARED, -1, "z", 64 * 1048576 },
	};
	char yaml[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cf;
		snprintf(yaml, sizeof(yaml), SRV("      ssl_session_cache: %s\n"), cases[i].text);
		LOAD_OK(cf, yaml);
		const struct ssl_cache_conf *c = &cf->servers[0].ssl_session_cache;
		cr_assert_eq(c->mode, cases[i].mode, "%s", cases[i].text);
		cr_assert_eq(c->builtin_size, cases[i].builtin, "%s", cases[i].text);
		if (cases[i].name) {
			cr_assert_str_eq(c->shared_name, cases[i].name);
			cr_assert_eq(c->shared_size, cases[i].size, "%s", cases[i].text);
		}
		config_free(cf);
	}
}

/* The smallest zone: eight pages. */
Test(config_tls, smallest_shared_zone)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t min = 8 * (ps > 0 ? (size_t)ps : 4096);
	char yaml[512];
	struct config *cf;

	snprintf(yaml, sizeof(yaml), SRV("      ssl_session_cache: shared:z:%zu\n"), min);
	LOAD_OK(cf, yaml);
	cr_assert_eq(cf->servers[0].ssl_session_cache.shared_size, min);
	config_free(cf);
}

/* Two servers may share a zone when they agree on its size. */
Test(config_tls, shared_zone_in_two_servers)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD "  ssl_session_cache: shared:MAIL:1m\n"
	    "  servers:\n    - listen: \"143\"\n    - listen: \"110\"\n"
	    "      ssl_session_cache: \"builtin shared:MAIL:1m\"\n");
	cr_assert_str_eq(cf->servers[1].ssl_session_cache.shared_name, "MAIL");
	config_free(cf);
}

Test(config_tls, ssl_protocols_and_strings)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD
	    "  ssl_protocols: [TLSv1.2]\n"
	    "  ssl_ciphers: \"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256\"\n"
	    "  ssl_ecdh_curve: X25519:prime256v1\n"
	    "  servers:\n"
	    "    - listen: \"143\"\n"
	    "    - listen: \"110\"\n      ssl_protocols: \"TLSv1 TLSv1.1 TLSv1.2 TLSv1.3\"\n");
	cr_assert_eq(cf->servers[0].ssl_protocols, SSLP_TLSv1_2);
	cr_assert_str_eq(cf->servers[0].ssl_ciphers,
	    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
	cr_assert_str_eq(cf->servers[0].ssl_ecdh_curve, "X25519:prime256v1");
	cr_assert_eq(cf->servers[1].ssl_protocols,
	    SSLP_TLSv1 | SSLP_TLSv1_1 | SSLP_TLSv1_2 | SSLP_TLSv1_3);
	/* Old protocols are accepted as in nginx, with a warning. */
	cr_assert_eq(cf->warnings.n, 2);
	cr_assert_str_eq(cf->warnings.v[0], "t.yaml:9:22: \"ssl_protocols\": TLSv1 is deprecated; "
	    "OpenSSL refuses it at its default security level");
	cr_assert_str_eq(cf->warnings.v[1], "t.yaml:9:22: \"ssl_protocols\": TLSv1.1 is deprecated; "
	    "OpenSSL refuses it at its default security level");
	config_free(cf);
}

/* A complete TLS server: every file directive pointing at a real file. */
Test(config_tls, tls_files)
{
	struct config *cf;
	char key48[48], key80[80];

	th_certs();
	memset(key48, 'k', sizeof(key48));
	memset(key80, 'K', sizeof(key80));
	th_write("t48.key", key48, sizeof(key48));
	th_write("t80.key", key80, sizeof(key80));
	th_write("pass.txt", "secret\n", -1);
	th_write("dh.pem", "dh\n", -1);
	th_write("ca.pem", "ca\n", -1);
	th_write("crl.pem", "crl\n", -1);
	LOAD_OK(cf, MAIL_HEAD
	    "  ssl_certificate: [cert.pem, cert.pem]\n"
	    "  ssl_certificate_key: [cert.key, cert.key]\n"
	    "  ssl_password_file: pass.txt\n"
	    "  ssl_dhparam: dh.pem\n"
	    "  ssl_client_certificate: ca.pem\n"
	    "  ssl_trusted_certificate: ca.pem\n"
	    "  ssl_crl: crl.pem\n"
	    "  ssl_verify_client: on\n"
	    "  ssl_verify_depth: 3\n"
	    "  ssl_session_ticket_key: [t80.key, t48.key]\n"
	    "  ssl_session_tickets: on\n"
	    "  ssl_prefer_server_ciphers: on\n"
	    "  ssl_certificate_compression: on\n"
	    "  auth_http_pass_client_cert: on\n"
	    "  servers:\n"
	    "    - listen: \"993 ssl\"\n"
	    "    - listen: \"143\"\n      starttls: only\n      ssl_verify_client: optional\n");
	const struct srv_conf *s = &cf->servers[0];
	cr_assert_eq(s->listen[0].ssl, 1);
	cr_assert_eq(s->ssl_certificate.n, 2);
	cr_assert_str_eq(s->ssl_certificate.v[0], "cert.pem", "paths are kept as written");
	cr_assert_eq(s->ssl_certificate_key.n, 2);
	cr_assert_str_eq(s->ssl_password_file, "pass.txt");
	cr_assert_str_eq(s->ssl_dhparam, "dh.pem");
	cr_assert_str_eq(s->ssl_client_certificate, "ca.pem");
	cr_assert_str_eq(s->ssl_trusted_certificate, "ca.pem");
	cr_assert_str_eq(s->ssl_crl, "crl.pem");
	cr_assert_eq(s->ssl_verify_client, VERIFY_ON);
	cr_assert_eq(s->ssl_verify_depth, 3);
	cr_assert_eq(s->ssl_session_ticket_key.n, 2);
	cr_assert_str_eq(s->ssl_session_ticket_key.v[1], "t48.key");
	cr_assert_eq(s->ssl_session_tickets, 1);
	cr_assert_eq(s->ssl_prefer_server_ciphers, 1);
	cr_assert_eq(s->ssl_certificate_compression, 1);
	cr_assert_eq(s->auth_http_pass_client_cert, 1);
	cr_assert_eq(cf->servers[1].starttls, STARTTLS_ONLY);
	cr_assert_eq(cf->servers[1].ssl_verify_client, VERIFY_OPTIONAL);
	config_free(cf);
}

/* Seed directives: "ssl: on" still works (TLS on every listen), with a warning. */
Test(config_tls, seed_ssl_and_so_keepalive)
{
	struct config *cf;

	th_certs();
	LOAD_OK(cf, MAIL_HEAD "  ssl_certificate: cert.pem\n  ssl_certificate_key: cert.key\n"
	    "  so_keepalive: on\n"
	    "  servers:\n"
	    "    - listen: [\"993\", \"127.0.0.1:1993\"]\n"
	    "      protocol: imap\n"
	    "      ssl: on\n"
	    "    - listen: \"143\"\n"
	    "      so_keepalive: off\n");
	cr_assert_eq(cf->servers[0].ssl, 1);
	cr_assert_eq(cf->servers[0].listen[0].ssl, 1);
	cr_assert_eq(cf->servers[0].listen[1].ssl, 1);
	cr_assert_eq(cf->servers[1].listen[0].ssl, 0);
	cr_assert_eq(cf->servers[0].so_keepalive, 1);
	cr_assert_eq(cf->servers[1].so_keepalive, 0);
	cr_assert_eq(cf->warnings.n, 1);
	cr_assert_str_eq(cf->warnings.v[0], "t.yaml:9:7: \"ssl\": the \"ssl\" directive is deprecated, "
	    "use \"listen ... ssl\" instead");
	config_free(cf);
}

/* "ssl: on" at the mail level is inherited by every server and warned about once. */
Test(config_tls, seed_ssl_at_the_mail_level_is_warned_about_too)
{
	struct config *cf;

	th_certs();
	LOAD_OK(cf, MAIL_HEAD "  ssl_certificate: cert.pem\n  ssl_certificate_key: cert.key\n"
	    "  ssl: on\n"
	    "  servers:\n"
	    "    - listen: \"993\"\n"
	    "      protocol: imap\n"
	    "    - listen: \"995\"\n"
	    "      protocol: pop3\n");
	cr_assert_eq(cf->servers[0].listen[0].ssl, 1);
	cr_assert_eq(cf->servers[1].listen[0].ssl, 1);
	cr_assert_eq(cf->warnings.n, 1);
	cr_assert_str_eq(cf->warnings.v[0], "t.yaml:5:3: \"ssl\": the \"ssl\" directive is deprecated, "
	    "use \"listen ... ssl\" instead");
	config_free(cf);
}

Test(config_tls, ssl_protocols_any_case)
{
	struct config *cf;

	LOAD_OK(cf, SRV("      ssl_protocols: tlsv1.2 TLSV1.3\n"));
	cr_assert_eq(cf->servers[0].ssl_protocols, SSLP_TLSv1_2 | SSLP_TLSv1_3);
	config_free(cf);
}

/* mailproxy beyond nginx: TLS servers told apart by SNI may share an address:port. */
Test(config_tls, servers_share_an_address_by_sni)
{
	struct config *cf;

	th_certs();
	LOAD_OK(cf, MAIL_HEAD "  ssl_certificate: cert.pem\n  ssl_certificate_key: cert.key\n"
	    "  servers:\n"
	    "    - {listen: \"993 ssl\", server_name: a.example}\n"
	    "    - {listen: \"993 ssl\", server_name: [b.example, \"*.b.example\"]}\n"
	    "    - {listen: \"143\", server_name: a.example, starttls: only}\n"
	    "    - {listen: \"143\", server_name: b.example, starttls: on}\n");
	cr_assert_eq(cf->nservers, 4);
	config_free(cf);
}

/* A self-signed RSA certificate with CN=cn, written to cert and key (PEM). */
static void
make_cert(const char *cert, const char *key, const char *cn)
{
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	X509 *x = X509_new();
	FILE *f;

	cr_assert_not_null(pk);
	cr_assert_not_null(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 2);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	cr_assert_gt(X509_sign(x, pk, EVP_sha256()), 0);
	cr_assert_not_null(f = fopen(cert, "w"));
	PEM_write_X509(f, x);
	fclose(f);
	cr_assert_not_null(f = fopen(key, "w"));
	PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
}

static void
subject_cn(SSL_CTX *ctx, char *out, size_t len)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);

	cr_assert_not_null(x);
	cr_assert_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out,
	    (int)len), 0);
}

/*
 * ssl_conf_command values OpenSSL types as a file or directory (Certificate,
 * PrivateKey, ChainCAFile, VerifyCAPath...) resolve against the prefix, as
 * ssl_certificate does (nginx: ngx_conf_full_name), whatever the cwd; the
 * others are passed as written. -T keeps the path as written.
 */
Test(config_tls, ssl_conf_command_files_resolve_against_the_prefix)
{
	struct config *cf;
	char err[2048], cn[64];

	th_certs();
	cr_assert_eq(mkdir("sub", 0755), 0);
	make_cert("sub/override.pem", "sub/override.key", "override.example");
	LOAD_OK(cf, MAIL_HEAD "  ssl_certificate: cert.pem\n  ssl_certificate_key: cert.key\n"
	    "  servers:\n"
	    "    - listen: \"993 ssl\"\n"
	    "      ssl_conf_command: {Certificate: sub/override.pem, PrivateKey: sub/override.key,\n"
	    "                         ChainCAFile: sub/override.pem, Options: -SessionTicket}\n");
	/* The cwd is no longer the prefix: only the prefix can find the files. */
	cr_assert_eq(chdir("/"), 0);
	cr_assert_eq(tls_validate(cf, err, sizeof(err)), 0, "-t: %s", err);
	struct cycle cy = { .cf = cf };
	cr_assert_eq(tls_cycle_build(&cy, err, sizeof(err)), 0, "%s", err);
	subject_cn(cy.tls[0], cn, sizeof(cn));
	cr_assert_str_eq(cn, "override.example", "the override replaced ssl_certificate");
	tls_cycle_free(&cy);

	struct buf b = { 0 };
	config_dump(cf, &b);
	buf_append(&b, "", 1);
	cr_assert_not_null(strstr(b.data, "\"Certificate sub/override.pem\""),
	    "-T prints the path as written:\n%s", b.data);
	buf_release(&b);
	config_free(cf);
}

/* A relative file that is not there: the error names the path under the prefix. */
Test(config_tls, ssl_conf_command_missing_file_names_the_resolved_path)
{
	struct config *cf;
	char err[2048], want[PATH_MAX + 64];

	th_certs();
	LOAD_OK(cf, MAIL_HEAD "  ssl_certificate: cert.pem\n  ssl_certificate_key: cert.key\n"
	    "  servers:\n"
	    "    - listen: \"993 ssl\"\n"
	    "      ssl_conf_command: {Certificate: nothere.pem}\n");
	cr_assert_eq(chdir("/"), 0);
	cr_assert_eq(tls_validate(cf, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "\"Certificate %s/nothere.pem\" failed", th_dir());
	cr_assert_not_null(strstr(err, want), "%s", err);
	config_free(cf);
}

/* An https:// auth service gets its own client context; its files are checked at -t. */
Test(config_tls, auth_http_https_context)
{
	struct config *cf;
	char err[1024];

	th_certs();
	LOAD_OK(cf, "mail:\n  auth_http: [127.0.0.1:9000/a, \"https://127.0.0.1:9443/b\"]\n"
	    "  auth_http_ssl_verify: on\n  auth_http_ssl_trusted_certificate: cert.pem\n"
	    "  auth_http_ssl_certificate: cert.pem\n  auth_http_ssl_certificate_key: cert.key\n"
	    "  servers:\n    - listen: \"143\"\n");
	cr_assert(cf->servers[0].auth_http.next != NULL && cf->servers[0].auth_http.next->ssl);
	cr_assert_eq(net_port((const struct sockaddr *)&cf->servers[0].auth_http.next->addr), 9443);
	cr_assert_eq(tls_validate(cf, err, sizeof(err)), 0, "-t: %s", err);
	struct cycle cy = { .cf = cf };
	cr_assert_eq(tls_cycle_build(&cy, err, sizeof(err)), 0, "%s", err);
	cr_assert_not_null(cy.tls_srv[0].auth);
	cr_assert_eq(tls_auth_ctx(&cf->servers[0]), cy.tls_srv[0].auth);
	cr_assert_eq(SSL_CTX_get_verify_mode(cy.tls_srv[0].auth), SSL_VERIFY_PEER);
	cr_assert_null(cy.tls_srv[0].client, "no proxy_ssl: no backend context");
	tls_cycle_free(&cy);
	cr_assert_null(tls_auth_ctx(&cf->servers[0]), "a freed cycle is forgotten");
	config_free(cf);

	/* Plain HTTP only: no context at all. */
	LOAD_OK(cf, MINIMAL);
	cr_assert_eq(tls_validate(cf, err, sizeof(err)), 0, "-t: %s", err);
	config_free(cf);

	LOAD_OK(cf, "mail:\n  auth_http: \"https://127.0.0.1/b\"\n  auth_http_ssl_verify: on\n"
	    "  servers:\n    - listen: \"143\"\n");
	cr_assert_eq(tls_validate(cf, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "auth_http_ssl_verify needs auth_http_ssl_trusted_certificate"), "%s", err);
	config_free(cf);

	LOAD_OK(cf, "mail:\n  auth_http: \"https://127.0.0.1/b\"\n  auth_http_ssl_verify: on\n"
	    "  auth_http_ssl_trusted_certificate: nothere.pem\n  servers:\n    - listen: \"143\"\n");
	cr_assert_eq(tls_validate(cf, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "t.yaml:6:7: server: cannot load auth_http_ssl_trusted_certificate"), "%s", err);
	config_free(cf);

	LOAD_OK(cf, "mail:\n  auth_http: \"https://127.0.0.1/b\"\n  auth_http_ssl_ciphers: NOPE-NOPE\n"
	    "  auth_http_ssl_protocols: TLSv1.2\n  servers:\n    - listen: \"143\"\n");
	cr_assert_eq(tls_validate(cf, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "auth_http_ssl_ciphers \"NOPE-NOPE\""), "%s", err);
	config_free(cf);
}
