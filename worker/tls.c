/*
 * TLS contexts and handshakes; see tls.h. Each server that uses TLS gets one
 * SSL_CTX holding all its certificates (RSA and ECDSA side by side), its
 * protocols, ciphers and session settings.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/stats.h"
#include "worker/auth_http.h"
#include "worker/session.h"
#include "worker/session_int.h"
#include "worker/tls.h"

static char *
ssl_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static int
uses_tls(const struct srv_conf *srv)
{
	if (srv->starttls != STARTTLS_OFF)
		return 1;
	for (size_t i = 0; i < srv->nlisten; i++)
		if (srv->listen[i].ssl)
			return 1;
	return 0;
}

struct pw_list {
	char **v;
	size_t n, next;
};

/* Tries the lines of ssl_password_file one by one, as nginx does. */
static int
password_cb(char *buf, int size, int rwflag, void *u)
{
	struct pw_list *pw = u;

	(void)rwflag;
	if (pw == NULL || pw->next >= pw->n)
		return 0;
	const char *p = pw->v[pw->next++];
	int n = (int)strlen(p);
	if (n > size)
		n = size;
	memcpy(buf, p, (size_t)n);
	return n;
}

static int
read_passwords(const char *path, struct pw_list *pw, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[1024];

	memset(pw, 0, sizeof(*pw));
	if (f == NULL) {
		snprintf(err, errlen, "cannot open \"%s\": %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		char **v = realloc(pw->v, (pw->n + 1) * sizeof(*v));
		if (v == NULL)
			break;
		pw->v = v;
		pw->v[pw->n++] = strdup(line);
	}
	fclose(f);
	return 0;
}

static void
free_passwords(struct pw_list *pw)
{
	for (size_t i = 0; i < pw->n; i++) {
		memset(pw->v[i], 0, strlen(pw->v[i]));
		free(pw->v[i]);
	}
	free(pw->v);
}

static int
proto_version(unsigned mask, int lowest)
{
	static const struct {
		unsigned bit;
		int v;
	} map[] = {
		{ SSLP_TLSv1, TLS1_VERSION }, { SSLP_TLSv1_1, TLS1_1_VERSION },
		{ SSLP_TLSv1_2, TLS1_2_VERSION }, { SSLP_TLSv1_3, TLS1_3_VERSION },
	};
	int found = 0;

	for (size_t i = 0; i < 4; i++) {
		size_t k = lowest ? i : 3 - i;
		if (mask & map[k].bit) {
			found = map[k].v;
			break;
		}
	}
	return found;
}

static SSL_CTX *
build_ctx(const struct config *cf, const struct srv_conf *srv, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char path[4096], e[256];
	struct pw_list pw = { 0 };

	if (ctx == NULL) {
		snprintf(err, errlen, "SSL_CTX_new() failed: %s", ssl_error(e, sizeof(e)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, proto_version(srv->ssl_protocols, 1));
	SSL_CTX_set_max_proto_version(ctx, proto_version(srv->ssl_protocols, 0));
	/* Idle connections give their read/write buffers back to OpenSSL. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (srv->ssl_prefer_server_ciphers)
		SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_set_cipher_list(ctx, srv->ssl_ciphers) != 1) {
		snprintf(err, errlen, "ssl_ciphers \"%s\": %s", srv->ssl_ciphers, ssl_error(e, sizeof(e)));
		goto fail;
	}
	if (srv->ssl_ecdh_curve && strcmp(srv->ssl_ecdh_curve, "auto") != 0 &&
	    SSL_CTX_set1_groups_list(ctx, srv->ssl_ecdh_curve) != 1) {
		snprintf(err, errlen, "ssl_ecdh_curve \"%s\": %s", srv->ssl_ecdh_curve,
		    ssl_error(e, sizeof(e)));
		goto fail;
	}
	if (srv->ssl_password_file != NULL) {
		if (read_passwords(config_path(cf, srv->ssl_password_file, path, sizeof(path)), &pw,
		    err, errlen) < 0)
			goto fail;
		SSL_CTX_set_default_passwd_cb(ctx, password_cb);
	}
	for (size_t i = 0; i < srv->ssl_certificate.n; i++) {
		config_path(cf, srv->ssl_certificate.v[i], path, sizeof(path));
		if (SSL_CTX_use_certificate_chain_file(ctx, path) != 1) {
			snprintf(err, errlen, "cannot load certificate \"%.512s\": %s", path, ssl_error(e, sizeof(e)));
			goto fail;
		}
		config_path(cf, srv->ssl_certificate_key.v[i], path, sizeof(path));
		pw.next = 0;
		SSL_CTX_set_default_passwd_cb_userdata(ctx, &pw);
		if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1) {
			snprintf(err, errlen, "cannot load certificate key \"%.512s\": %s", path, ssl_error(e, sizeof(e)));
			goto fail;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			snprintf(err, errlen, "certificate key \"%.512s\" does not match its certificate: %s",
			    path, ssl_error(e, sizeof(e)));
			goto fail;
		}
	}
	SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
	free_passwords(&pw);
	if (srv->ssl_dhparam != NULL) {
		config_path(cf, srv->ssl_dhparam, path, sizeof(path));
		BIO *bio = BIO_new_file(path, "r");
		EVP_PKEY *dh = bio ? PEM_read_bio_Parameters(bio, NULL) : NULL;
		BIO_free(bio);
		if (dh == NULL || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
			EVP_PKEY_free(dh);
			snprintf(err, errlen, "cannot load ssl_dhparam \"%.512s\": %s", path, ssl_error(e, sizeof(e)));
			goto fail;
		}
	}
	/* Sessions of one server never resume on another (CVE-2014-3616). */
	unsigned char sid[SSL_MAX_SID_CTX_LENGTH];
	unsigned int sidlen = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char idx[64];
	snprintf(idx, sizeof(idx), "MAIL:%zu", (size_t)(srv - cf->servers));
	EVP_DigestInit_ex(md, EVP_sha1(), NULL);
	EVP_DigestUpdate(md, idx, strlen(idx));
	for (size_t i = 0; i < srv->ssl_certificate.n; i++)
		EVP_DigestUpdate(md, srv->ssl_certificate.v[i], strlen(srv->ssl_certificate.v[i]));
	EVP_DigestFinal_ex(md, sid, &sidlen);
	EVP_MD_CTX_free(md);
	SSL_CTX_set_session_id_context(ctx, sid, sidlen > SSL_MAX_SID_CTX_LENGTH ?
	    SSL_MAX_SID_CTX_LENGTH : sidlen);
	SSL_CTX_set_timeout(ctx, (long)(srv->ssl_session_timeout / 1000));
	if (!srv->ssl_session_tickets)
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	if (srv->ssl_session_cache.mode & SSL_CACHE_OFF) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	} else if (srv->ssl_session_cache.mode & SSL_CACHE_BUILTIN) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
		if (srv->ssl_session_cache.builtin_size > 0)
			SSL_CTX_sess_set_cache_size(ctx, srv->ssl_session_cache.builtin_size);
	} else {
		/* "none": claim reuse but store nothing (nginx's default for mail). */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	}
	if (srv->ssl_conf_command.n > 0) {
		SSL_CONF_CTX *cctx = SSL_CONF_CTX_new();
		SSL_CONF_CTX_set_flags(cctx, SSL_CONF_FLAG_FILE | SSL_CONF_FLAG_SERVER |
		    SSL_CONF_FLAG_CERTIFICATE | SSL_CONF_FLAG_SHOW_ERRORS);
		SSL_CONF_CTX_set_ssl_ctx(cctx, ctx);
		for (size_t i = 0; i < srv->ssl_conf_command.n; i++) {
			const struct kv *c = &srv->ssl_conf_command.v[i];
			if (SSL_CONF_cmd(cctx, c->name, c->value) <= 0) {
				snprintf(err, errlen, "ssl_conf_command \"%s %s\" failed: %s", c->name,
				    c->value, ssl_error(e, sizeof(e)));
				SSL_CONF_CTX_free(cctx);
				goto fail;
			}
		}
		SSL_CONF_CTX_finish(cctx);
		SSL_CONF_CTX_free(cctx);
	}
	return ctx;
fail:
	SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
	free_passwords(&pw);
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_cycle_build(struct cycle *cy, char *err, size_t errlen)
{
	const struct config *cf = cy->cf;

	cy->tls = calloc(cf->nservers ? cf->nservers : 1, sizeof(*cy->tls));
	if (cy->tls == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < cf->nservers; i++) {
		if (!uses_tls(&cf->servers[i]))
			continue;
		char e[1024];
		cy->tls[i] = build_ctx(cf, &cf->servers[i], e, sizeof(e));
		if (cy->tls[i] == NULL) {
			snprintf(err, errlen, "%s:%d:%d: server: %s", cf->file, cf->servers[i].line,
			    cf->servers[i].col, e);
			tls_cycle_free(cy);
			return -1;
		}
	}
	return 0;
}

void
tls_cycle_free(struct cycle *cy)
{
	if (cy->tls == NULL)
		return;
	for (size_t i = 0; i < cy->cf->nservers; i++)
		SSL_CTX_free(cy->tls[i]);
	free(cy->tls);
	cy->tls = NULL;
}

int
tls_validate(const struct config *cf, char *err, size_t errlen)
{
	struct cycle cy = { .cf = (struct config *)cf };
	int rc = tls_cycle_build(&cy, err, errlen);

	tls_cycle_free(&cy);
	return rc;
}

int
tls_init(struct cycle *cy)
{
	(void)cy;
	return 0;
}

void
tls_shutdown(void)
{
}

void
tls_start(struct session *s, int greet)
{
	SSL_CTX *ctx = s->cy->tls ? s->cy->tls[s->le->server] : NULL;

	if (ctx == NULL || (s->c.ssl = SSL_new(ctx)) == NULL) {
		session_close(s, LL_ALERT, "cannot create a TLS connection");
		return;
	}
	SSL_set_fd(s->c.ssl, s->c.io.fd);
	SSL_set_accept_state(s->c.ssl);
	s->greet_after_tls = (uint8_t)greet;
	session_set_state(s, SS_HANDSHAKE);
	session_arm_timeout(s, s->conf->timeout);
	tls_handshake_run(s);
}

void
tls_handshake_run(struct session *s)
{
	char e[256];
	int rc, code;

	if (s->c.hs_wait != CONN_WAIT_NONE)
		return;
	ERR_clear_error();
	rc = SSL_do_handshake(s->c.ssl);
	if (rc == 1) {
		STAT_ADD(tls_handshakes, 1);
		if (SSL_session_reused(s->c.ssl))
			STAT_ADD(tls_resumed, 1);
		s->pa->ctx.tls = 1;
		if (log_enabled(s->log, LL_DEBUG))
			session_log(s, LL_DEBUG, 0, "TLS handshake done: %s %s%s", SSL_get_version(s->c.ssl),
			    SSL_get_cipher_name(s->c.ssl), SSL_session_reused(s->c.ssl) ? " (resumed)" : "");
		if (s->greet_after_tls) {
			session_greet(s);
			return;
		}
		session_set_state(s, SS_PREAUTH);
		session_arm_timeout(s, s->conf->timeout);
		session_run(s);
		return;
	}
	code = SSL_get_error(s->c.ssl, rc);
	if (code == SSL_ERROR_WANT_READ) {
		s->c.hs_wait = CONN_WAIT_READ;
		return;
	}
	if (code == SSL_ERROR_WANT_WRITE) {
		s->c.hs_wait = CONN_WAIT_WRITE;
		return;
	}
	if (code == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		session_log(s, LL_INFO, errno, "client closed connection in TLS handshake");
	else
		session_log(s, LL_INFO, 0, "TLS handshake failed: %s", ssl_error(e, sizeof(e)));
	session_close(s, LL_INFO, NULL);
}

void
tls_auth_params(struct session *s, struct auth_params *p)
{
	if (s->c.ssl == NULL)
		return;
	p->ssl = 1;
	p->ssl_protocol = SSL_get_version(s->c.ssl);
	p->ssl_cipher = SSL_get_cipher_name(s->c.ssl);
}
