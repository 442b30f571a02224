/* TLS towards an https:// auth service; see auth_http_tls.h. */
#include <errno.h>
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/authsrv.h"
#include "common/net.h"
#include "worker/event/conn.h"
#include "worker/lookup/auth_http_tls.h"
#include "worker/tls/tls.h"

/* The last session per service (authsrv slot), for auth_http_ssl_session_reuse. */
static struct {
	SSL_SESSION *sess;
	SSL_CTX *ctx;
} kept[AUTHSRV_SLOTS];

static char reason_buf[320];

int
auth_tls_begin(struct conn *c, SSL_CTX *ctx, const struct srv_conf *conf,
    const struct auth_http_url *u, int slot)
{
	const char *name = conf->auth_http_ssl_name ? conf->auth_http_ssl_name : u->host;
	struct sockaddr_storage tmp;
	socklen_t tl;
	int is_ip = net_parse_ip(name, &tmp, &tl) == 0;
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL)
		return -1;
	SSL_set_fd(ssl, c->io.fd);
	SSL_set_connect_state(ssl);
	/* SNI carries host names only (RFC 6066). */
	int ok = !conf->auth_http_ssl_server_name || is_ip || SSL_set_tlsext_host_name(ssl, name) == 1;
	if (ok && conf->auth_http_ssl_verify) {
		/* Without the name to check, any valid chain would pass: fail closed. */
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
		ok = (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, name) :
		    X509_VERIFY_PARAM_set1_host(vp, name, 0)) == 1;
	}
	if (!ok) {
		SSL_free(ssl);
		return -1;
	}
	if (conf->auth_http_ssl_session_reuse && slot >= 0 && slot < AUTHSRV_SLOTS &&
	    kept[slot].sess != NULL && kept[slot].ctx == ctx)
		SSL_set_session(ssl, kept[slot].sess);
	c->ssl = ssl;
	return 0;
}

int
auth_tls_step(struct conn *c, const char **reason)
{
	char e[256];
	int code = 0;
	enum tls_hs hs = tls_handshake_step(c, &code);

	if (hs == TLS_HS_AGAIN)
		return 0;
	if (hs == TLS_HS_DONE)
		return 1;
	long vr = SSL_get_verify_result(c->ssl);
	if (vr != X509_V_OK) {
		snprintf(reason_buf, sizeof(reason_buf),
		    "auth http server SSL certificate verify error: (%ld:%s)", vr,
		    X509_verify_cert_error_string(vr));
		ERR_clear_error();
	} else {
		snprintf(reason_buf, sizeof(reason_buf), "TLS handshake with auth http server failed: %s",
		    tls_error_string(e, sizeof(e)));
	}
	if (code == SSL_ERROR_SYSCALL && c->last_errno == 0)
		c->last_errno = errno;
	c->err = 1;
	*reason = reason_buf;
	return -1;
}

void
auth_tls_keep_session(struct conn *c, int slot)
{
	SSL_SESSION *sess;

	if (c->ssl == NULL || slot < 0 || slot >= AUTHSRV_SLOTS ||
	    (sess = SSL_get1_session(c->ssl)) == NULL)
		return;
	if (!SSL_SESSION_is_resumable(sess)) {
		SSL_SESSION_free(sess);
		return;
	}
	SSL_SESSION_free(kept[slot].sess);
	kept[slot].sess = sess;
	kept[slot].ctx = SSL_get_SSL_CTX(c->ssl);
}

void
auth_tls_shutdown(void)
{
	for (size_t i = 0; i < AUTHSRV_SLOTS; i++) {
		SSL_SESSION_free(kept[i].sess);
		kept[i].sess = NULL;
	}
}
