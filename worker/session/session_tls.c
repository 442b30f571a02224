/*
 * A session's TLS: the client handshake for implicit TLS and STARTTLS, the
 * client certificate check nginx makes right after it, SNI choosing the
 * server, the Auth-SSL-* facts for the auth service, and the handshake with
 * the backend (proxy_ssl, proxy_starttls) with its sessions kept for reuse.
 * The contexts and the callbacks that need no session are in worker/tls/.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/net.h"
#include "common/stats.h"
#include "worker/lookup/auth_http.h"
#include "worker/session/session.h"
#include "worker/session/session_int.h"
#include "worker/tls/tls.h"
#include "worker/tls/utls.h"

static char *v_cert;

void
session_tls_shutdown(void)
{
	free(v_cert);
	v_cert = NULL;
	backend_tls_forget();
}

void
session_tls_start(struct session *s, int greet)
{
	SSL_CTX *ctx = s->cy->tls ? s->cy->tls[s->le->server] : NULL;

	if (ctx == NULL || (s->c.ssl = SSL_new(ctx)) == NULL) {
		session_close(s, LL_ALERT, "cannot create a TLS connection");
		return;
	}
	SSL_set_fd(s->c.ssl, s->c.io.fd);
	SSL_set_app_data(s->c.ssl, s);
	SSL_set_accept_state(s->c.ssl);
	utls_attach(&s->c);
	s->greet_after_tls = (uint8_t)greet;
	session_set_state(s, SS_HANDSHAKE);
	session_arm_timeout(s, s->conf->timeout);
	session_tls_handshake_run(s);
}

/*
 * How well name matches a server_name pattern: exact beats the longest
 * "*.domain" / ".domain" suffix; 0 = no match. "_" matches nothing.
 */
static size_t
name_score(const char *pattern, const char *name)
{
	size_t pl = strlen(pattern), nl = strlen(name);

	if (strcasecmp(pattern, name) == 0)
		return 100000;
	if (pattern[0] == '*' && pattern[1] == '.' && nl > pl - 1 &&
	    strcasecmp(name + nl - (pl - 1), pattern + 1) == 0)
		return pl;
	if (pattern[0] == '.') {
		if (strcasecmp(name, pattern + 1) == 0)
			return pl + 1;
		if (nl > pl && strcasecmp(name + nl - pl, pattern) == 0)
			return pl;
	}
	return 0;
}

/*
 * The client certificate settings of a server, as a digest: a session keeps
 * the one of the server that made it (its ticket appdata, which tickets and
 * the shared cache carry). 0, or -1 when it cannot be made.
 */
static int
verify_tag(const struct srv_conf *c, unsigned char tag[SHA256_DIGEST_LENGTH])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const char *files[] = { c->ssl_client_certificate, c->ssl_trusted_certificate, c->ssl_crl };
	char head[64];
	int ok;

	if (md == NULL)
		return -1;
	snprintf(head, sizeof(head), "mailproxy verify %d %u", c->ssl_verify_client, c->ssl_verify_depth);
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, head, strlen(head) + 1) == 1;
	for (size_t i = 0; ok && i < sizeof(files) / sizeof(files[0]); i++)
		ok = EVP_DigestUpdate(md, files[i] ? files[i] : "", strlen(files[i] ? files[i] : "") + 1) == 1;
	for (size_t i = 0; ok && i < c->ssl_conf_command.n; i++)
		ok = EVP_DigestUpdate(md, c->ssl_conf_command.v[i].name,
		    strlen(c->ssl_conf_command.v[i].name) + 1) == 1 &&
		    EVP_DigestUpdate(md, c->ssl_conf_command.v[i].value,
		    strlen(c->ssl_conf_command.v[i].value) + 1) == 1;
	ok = ok && EVP_DigestFinal_ex(md, tag, NULL) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/*
 * Whether the handshake's session may go on in server c. OpenSSL resumes a
 * TLS 1.3 session (ticket or cache) before this callback picks the server,
 * and every session made on one address carries the first server's session
 * id context: without this a session from a server that checks no client
 * certificate, or checks them against another CA, would skip c's check
 * (nginx's CVE-2025-23419). A new session is marked with c's settings.
 */
static int
session_fits(SSL *ssl, const struct srv_conf *c)
{
	SSL_SESSION *sess = SSL_get0_session(ssl);
	unsigned char tag[SHA256_DIGEST_LENGTH];
	void *have = NULL;
	size_t hlen = 0;

	if (sess == NULL)
		return 1;
	if (!SSL_session_reused(ssl)) {
		if (verify_tag(c, tag) == 0)
			SSL_SESSION_set1_ticket_appdata(sess, tag, sizeof(tag));
		return 1;
	}
	if (c->ssl_verify_client == VERIFY_OFF)
		return 1;
	if (verify_tag(c, tag) < 0 || SSL_SESSION_get0_ticket_appdata(sess, &have, &hlen) != 1)
		return 0;
	return hlen == sizeof(tag) && memcmp(have, tag, sizeof(tag)) == 0;
}

static int
servername(SSL *ssl, int *alert)
{
	struct session *s = SSL_get_app_data(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	const struct listen_entry *best = NULL;
	size_t best_score = 0;

	if (s == NULL)
		return SSL_TLSEXT_ERR_OK;
	const struct listener *l = name != NULL ? s->le->l : NULL;
	for (size_t i = 0; l != NULL && i < l->nents; i++) {
		const struct listen_entry *e = &l->ents[i];
		if (!net_addr_equal((const struct sockaddr *)&e->lc->addr,
		    (const struct sockaddr *)&s->le->lc->addr))
			continue;
		for (size_t k = 0; k < e->srv->server_name.n; k++) {
			size_t sc = name_score(e->srv->server_name.v[k], name);
			if (sc > best_score) {
				best_score = sc;
				best = e;
			}
		}
	}
	SSL_CTX *ctx = best != NULL && best != s->le ? s->cy->tls[best->server] : NULL;
	if (ctx != NULL && SSL_set_SSL_CTX(ssl, ctx) != NULL) {
		/* What SSL_new() copied from the first context must follow the switch. */
		SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
		SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
		SSL_clear_options(ssl, SSL_get_options(ssl) ^ SSL_CTX_get_options(ctx));
		SSL_set_options(ssl, SSL_CTX_get_options(ctx));
		utls_handshake_step(&s->c);	/* the key log is the new context's now */
		session_switch_server(s, best);
	}
	if (!session_fits(ssl, s->conf)) {
		session_log(s, LL_INFO, 0, "client offered a TLS session of a server with other "
		    "client certificate settings");
		*alert = SSL_AD_ACCESS_DENIED;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* nginx's list of errors optional_no_ca lets through. */
static int
error_optional(long rc)
{
	return rc == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
	    rc == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
	    rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
	    rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    rc == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
}

/* The client certificate check after a handshake; 0 when the session goes on. */
static int
verify_client(struct session *s)
{
	int mode = s->conf->ssl_verify_client;
	long rc;
	X509 *cert;

	if (mode == VERIFY_OFF)
		return 0;
	rc = SSL_get_verify_result(s->c.ssl);
	if (rc != X509_V_OK && (mode != VERIFY_OPTIONAL_NO_CA || !error_optional(rc))) {
		session_log(s, LL_INFO, 0, "client SSL certificate verify error: (%ld:%s)", rc,
		    X509_verify_cert_error_string(rc));
		SSL_CTX_remove_session(SSL_get_SSL_CTX(s->c.ssl), SSL_get0_session(s->c.ssl));
		buf_puts(&s->pa->out, s->proto->cert_error);
		return -1;
	}
	if (mode == VERIFY_ON) {
		cert = SSL_get1_peer_certificate(s->c.ssl);
		if (cert == NULL) {
			session_log(s, LL_INFO, 0, "client sent no required SSL certificate");
			SSL_CTX_remove_session(SSL_get_SSL_CTX(s->c.ssl), SSL_get0_session(s->c.ssl));
			buf_puts(&s->pa->out, s->proto->no_cert);
			return -1;
		}
		X509_free(cert);
	}
	return 0;
}

void
session_tls_handshake_run(struct session *s)
{
	char e[256];
	int code = 0;
	enum tls_hs hs = tls_handshake_step(&s->c, &code);

	if (hs == TLS_HS_AGAIN)
		return;
	if (hs == TLS_HS_DONE) {
		STAT_ADD(tls_handshakes, 1);
		if (SSL_session_reused(s->c.ssl))
			STAT_ADD(tls_resumed, 1);
		STAT_TLS(SSL_version(s->c.ssl), SSL_session_reused(s->c.ssl));
		s->pa->ctx.tls = 1;
		s->acct.tls_protocol = SSL_get_version(s->c.ssl);
		s->acct.tls_cipher = SSL_get_cipher_name(s->c.ssl);
		s->acct.tls_reused = SSL_session_reused(s->c.ssl) ? 1 : 0;
		const char *sni = SSL_get_servername(s->c.ssl, TLSEXT_NAMETYPE_host_name);
		if (sni != NULL && s->acct.sni == NULL)
			s->acct.sni = strdup(sni);
		if (log_enabled(s->log, LL_DEBUG))
			session_log(s, LL_DEBUG, 0, "TLS handshake done: %s %s%s", SSL_get_version(s->c.ssl),
			    SSL_get_cipher_name(s->c.ssl), SSL_session_reused(s->c.ssl) ? " (resumed)" : "");
		if (verify_client(s) < 0) {
			session_set_state(s, SS_CLOSING);
			session_run(s);
			return;
		}
		if (s->greet_after_tls) {
			session_greet(s);
			return;
		}
		if (s->proto->tls_up != NULL && s->proto->tls_up(&s->pa->ctx) < 0) {
			session_internal_error(s, "out of memory", 0);
			return;
		}
		session_set_state(s, SS_PREAUTH);
		session_arm_timeout(s, s->conf->timeout);
		session_run(s);
		return;
	}
	if (code == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		session_log(s, LL_INFO, errno, "client closed connection in TLS handshake");
	else
		session_log(s, LL_INFO, 0, "TLS handshake failed: %s", tls_error_string(e, sizeof(e)));
	session_close(s, LL_INFO, NULL);
}

/* Buffers for the Auth-SSL-* values: auth_http_build() copies them at once. */
static char v_verify[256], v_subject[1024], v_issuer[1024], v_serial[128], v_fp[64], v_fp256[72];

/* The certificate's digest in lower-case hex, as nginx's Auth-SSL-Fingerprint; NULL on failure. */
static const char *
cert_digest_hex(X509 *cert, const EVP_MD *md, char *out, size_t outlen)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (X509_digest(cert, md, d, &dlen) != 1 || 2 * (size_t)dlen + 1 > outlen)
		return NULL;
	for (unsigned int i = 0; i < dlen; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return out;
}

static void
name_rfc2253(X509_NAME *name, char *out, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	out[0] = '\0';
	if (b == NULL)
		return;
	X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253);
	n = BIO_get_mem_data(b, &p);
	if (n > 0)
		snprintf(out, len, "%.*s", (int)n, p);
	BIO_free(b);
}

void
session_tls_auth_params(struct session *s, struct auth_params *p)
{
	SSL *ssl = s->c.ssl;
	X509 *cert;

	if (ssl == NULL)
		return;
	p->ssl = 1;
	p->ssl_protocol = SSL_get_version(ssl);
	p->ssl_cipher = SSL_get_cipher_name(ssl);
	p->ssl_server_name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (s->conf->ssl_verify_client == VERIFY_OFF)
		return;
	cert = SSL_get1_peer_certificate(ssl);
	if (cert == NULL) {
		p->ssl_verify = "NONE";
		return;
	}
	long rc = SSL_get_verify_result(ssl);
	if (rc == X509_V_OK)
		snprintf(v_verify, sizeof(v_verify), "SUCCESS");
	else
		snprintf(v_verify, sizeof(v_verify), "FAILED:%s", X509_verify_cert_error_string(rc));
	p->ssl_verify = v_verify;
	name_rfc2253(X509_get_subject_name(cert), v_subject, sizeof(v_subject));
	name_rfc2253(X509_get_issuer_name(cert), v_issuer, sizeof(v_issuer));
	p->ssl_subject = v_subject;
	p->ssl_issuer = v_issuer;
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	snprintf(v_serial, sizeof(v_serial), "%s", hex ? hex : "");
	OPENSSL_free(hex);
	BN_free(bn);
	p->ssl_serial = v_serial;
	p->ssl_fingerprint = cert_digest_hex(cert, EVP_sha1(), v_fp, sizeof(v_fp));
	p->ssl_fingerprint_sha256 = cert_digest_hex(cert, EVP_sha256(), v_fp256, sizeof(v_fp256));
	if (s->conf->auth_http_pass_client_cert) {
		BIO *b = BIO_new(BIO_s_mem());
		char *data;
		long n;
		free(v_cert);
		v_cert = NULL;
		if (b != NULL && PEM_write_bio_X509(b, cert) == 1 && (n = BIO_get_mem_data(b, &data)) > 0 &&
		    (v_cert = malloc((size_t)n + 1)) != NULL) {
			memcpy(v_cert, data, (size_t)n);
			v_cert[n] = '\0';
			p->ssl_cert = v_cert;
		}
		BIO_free(b);
	}
	X509_free(cert);
}

/* ---- TLS towards the backend ---- */

/* The last session per backend address, for proxy_ssl_session_reuse. */
#define REUSE_SLOTS 64

struct reuse_slot {
	union sockaddr_any addr;
	const SSL_CTX *ctx;
	SSL_SESSION *sess;
};

static struct reuse_slot reuse[REUSE_SLOTS];

static struct reuse_slot *
reuse_find(const struct session *s, const SSL_CTX *ctx, int create)
{
	struct reuse_slot *free_slot = NULL;

	for (size_t i = 0; i < REUSE_SLOTS; i++) {
		if (reuse[i].sess == NULL) {
			if (free_slot == NULL)
				free_slot = &reuse[i];
			continue;
		}
		if (reuse[i].ctx == ctx && net_addr_equal(&reuse[i].addr.sa, &s->backend.sa))
			return &reuse[i];
	}
	if (!create)
		return NULL;
	if (free_slot == NULL) {
		/* Full: the slot of this address' hash goes. */
		free_slot = &reuse[(size_t)net_port(&s->backend.sa) % REUSE_SLOTS];
		SSL_SESSION_free(free_slot->sess);
		free_slot->sess = NULL;
	}
	memcpy(&free_slot->addr, &s->backend, sizeof(free_slot->addr));
	free_slot->ctx = ctx;
	return free_slot;
}

void
backend_tls_start(struct session *s)
{
	struct tls_srv *ts = s->cy->tls_srv ? &s->cy->tls_srv[s->le->server] : NULL;
	const struct srv_conf *c = s->conf;
	char ip[NET_ADDRSTRLEN];
	const char *name;
	SSL *ssl;

	if (ts == NULL || ts->client == NULL || (ssl = SSL_new(ts->client)) == NULL) {
		backend_failed(s, "cannot create a TLS connection to the upstream", 0);
		return;
	}
	s->b.ssl = ssl;
	SSL_set_fd(ssl, s->b.io.fd);
	SSL_set_app_data(ssl, s);
	SSL_set_connect_state(ssl);
	net_ntop(&s->backend.sa, ip, sizeof(ip));
	name = c->proxy_ssl_name ? c->proxy_ssl_name : ip;
	struct sockaddr_storage tmp;
	socklen_t tl;
	int is_ip = net_parse_ip(name, &tmp, &tl) == 0;
	/* SNI carries host names only (RFC 6066). */
	int ok = !c->proxy_ssl_server_name || is_ip || SSL_set_tlsext_host_name(ssl, name) == 1;
	if (ok && c->proxy_ssl_verify) {
		/* Without the name to check, any valid chain would pass: fail closed. */
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
		ok = (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, name) :
		    X509_VERIFY_PARAM_set1_host(vp, name, 0)) == 1;
	}
	if (!ok) {
		backend_failed(s, "cannot set the upstream name on the TLS connection", 0);
		return;
	}
	if (c->proxy_ssl_session_reuse) {
		struct reuse_slot *r = reuse_find(s, ts->client, 0);
		if (r != NULL)
			SSL_set_session(ssl, r->sess);
	}
	session_set_state(s, SS_BACKEND_TLS);
	session_arm_timeout(s, c->timeout);
	backend_tls_handshake_run(s);
}

void
backend_tls_handshake_run(struct session *s)
{
	char e[256];
	int code = 0;
	enum tls_hs hs = tls_handshake_step(&s->b, &code);

	if (hs == TLS_HS_AGAIN)
		return;
	if (hs == TLS_HS_DONE) {
		s->pa->ctx.be_tls = 1;
		if (log_enabled(s->log, LL_DEBUG))
			session_log(s, LL_DEBUG, 0, "upstream TLS: %s %s%s", SSL_get_version(s->b.ssl),
			    SSL_get_cipher_name(s->b.ssl), SSL_session_reused(s->b.ssl) ? " (reused)" : "");
		backend_tls_done(s);
		return;
	}
	long vr = SSL_get_verify_result(s->b.ssl);
	if (vr != X509_V_OK) {
		session_log(s, LL_ERR, 0, "upstream SSL certificate verify error: (%ld:%s)", vr,
		    X509_verify_cert_error_string(vr));
		ERR_clear_error();
		backend_failed(s, NULL, 0);
		return;
	}
	session_log(s, LL_ERR, code == SSL_ERROR_SYSCALL ? errno : 0,
	    "TLS handshake with upstream failed: %s", tls_error_string(e, sizeof(e)));
	backend_failed(s, NULL, 0);
}

/*
 * A session from a backend, kept for the next connection to the same
 * address. TLS 1.3 tickets come after the handshake, so this runs from the
 * context's new-session callback rather than when the handshake ends.
 */
static int
client_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct session *s = SSL_get_app_data(ssl);
	struct reuse_slot *r;

	if (s == NULL || !s->conf->proxy_ssl_session_reuse || !SSL_SESSION_is_resumable(sess))
		return 0;
	r = reuse_find(s, SSL_get_SSL_CTX(ssl), 1);
	if (r == NULL)
		return 0;
	SSL_SESSION_free(r->sess);
	r->sess = sess;
	return 1;	/* the reference is ours now */
}

void
backend_tls_forget(void)
{
	for (size_t i = 0; i < REUSE_SLOTS; i++) {
		SSL_SESSION_free(reuse[i].sess);
		reuse[i].sess = NULL;
	}
}

const struct tls_hooks session_tls_hooks = {
	.servername = servername,
	.client_new_session = client_new_session,
};
