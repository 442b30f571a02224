/*
 * Building the per-server SSL_CTX in the master (so a bad certificate fails
 * the reload, not the workers): certificates (RSA and ECDSA side by side),
 * protocols and ciphers, the session cache (OpenSSL's builtin one and/or the
 * shared zone), session tickets with keys from files or kept in the zone,
 * client certificate verification and ALPN.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/shm.h"
#include "config/cycle.h"
#include "worker/tls/tickets.h"
#include "worker/tls/tls.h"
#include "worker/tls/utls.h"

int tls_srv_index = -1;
static const struct tls_hooks *hooks;

void
tls_set_hooks(const struct tls_hooks *h)
{
	hooks = h;
}

/* The contexts are built before the session layer exists (in the master). */
static int
servername_cb(SSL *ssl, int *alert, void *arg)
{
	(void)arg;
	return hooks != NULL && hooks->servername != NULL ? hooks->servername(ssl, alert) :
	    SSL_TLSEXT_ERR_OK;
}

static int
client_new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	return hooks != NULL && hooks->client_new_session != NULL ?
	    hooks->client_new_session(ssl, sess) : 0;
}

char *
tls_error_string(char *buf, size_t len)
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

/* ---- shared session cache ---- */

static int
new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_srv *ts = tls_srv_of(ssl);
	unsigned char buf[SSLCACHE_MAX_DATA], *p = buf;
	const unsigned char *id;
	unsigned int idlen;
	int len;

	if (ts == NULL || ts->cache == NULL)
		return 0;
	/* Serialized outside the lock; the lock covers a memcpy only. */
	len = i2d_SSL_SESSION(sess, NULL);
	if (len <= 0 || len > (int)sizeof(buf))
		return 0;
	i2d_SSL_SESSION(sess, &p);
	id = SSL_SESSION_get_id(sess, &idlen);
	uint64_t now = (uint64_t)time(NULL);
	sslcache_store(ts->cache, id, idlen, buf, (size_t)len,
	    now + (uint64_t)SSL_SESSION_get_timeout(sess), now);
	return 0;	/* we keep no reference */
}

static SSL_SESSION *
get_session_cb(SSL *ssl, const unsigned char *id, int idlen, int *copy)
{
	struct tls_srv *ts = tls_srv_of(ssl);
	unsigned char buf[SSLCACHE_MAX_DATA];
	const unsigned char *p = buf;
	long len;

	*copy = 0;
	if (ts == NULL || ts->cache == NULL || idlen <= 0)
		return NULL;
	len = sslcache_fetch(ts->cache, id, (size_t)idlen, buf, sizeof(buf), (uint64_t)time(NULL));
	if (len <= 0)
		return NULL;
	return d2i_SSL_SESSION(NULL, &p, len);
}

static void
remove_session_cb(SSL_CTX *ctx, SSL_SESSION *sess)
{
	struct tls_srv *ts = SSL_CTX_get_ex_data(ctx, tls_srv_index);
	const unsigned char *id;
	unsigned int idlen;

	if (ts == NULL || ts->cache == NULL)
		return;
	id = SSL_SESSION_get_id(sess, &idlen);
	sslcache_remove(ts->cache, id, idlen);
}

/* ---- client certificates and ALPN ---- */

static int
verify_cb(int ok, X509_STORE_CTX *x)
{
	(void)ok;
	(void)x;
	/* The result is judged after the handshake (tls.c), as nginx does, so
	 * that the client gets the protocol's own error line. */
	return 1;
}

static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
    unsigned int inlen, void *arg)
{
	struct tls_srv *ts = tls_srv_of(ssl);
	size_t want = strlen(ts->alpn);

	(void)arg;
	for (unsigned int i = 0; i < inlen;) {
		unsigned int l = in[i];
		if (i + 1 + l > inlen)
			break;
		if (l == want && memcmp(in + i + 1, ts->alpn, want) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)l;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + l;
	}
	/* A client that offers ALPN without our protocol is refused (nginx 1.21.4). */
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int
setup_verify(SSL_CTX *ctx, const struct config *cf, const struct srv_conf *srv,
    char *err, size_t errlen)
{
	char path[4096], e[256];

	if (srv->ssl_verify_client == VERIFY_OFF)
		return 0;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	SSL_CTX_set_verify_depth(ctx, (int)srv->ssl_verify_depth);
	if (srv->ssl_client_certificate != NULL) {
		config_path(cf, srv->ssl_client_certificate, path, sizeof(path));
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(path);
		if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1 || names == NULL) {
			snprintf(err, errlen, "cannot load ssl_client_certificate \"%.512s\": %s", path,
			    tls_error_string(e, sizeof(e)));
			return -1;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
	}
	if (srv->ssl_trusted_certificate != NULL) {
		config_path(cf, srv->ssl_trusted_certificate, path, sizeof(path));
		if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
			snprintf(err, errlen, "cannot load ssl_trusted_certificate \"%.512s\": %s", path,
			    tls_error_string(e, sizeof(e)));
			return -1;
		}
	}
	if (srv->ssl_crl != NULL) {
		X509_STORE *st = SSL_CTX_get_cert_store(ctx);
		X509_LOOKUP *lk = X509_STORE_add_lookup(st, X509_LOOKUP_file());
		config_path(cf, srv->ssl_crl, path, sizeof(path));
		if (lk == NULL || X509_load_crl_file(lk, path, X509_FILETYPE_PEM) <= 0) {
			snprintf(err, errlen, "cannot load ssl_crl \"%.512s\": %s", path, tls_error_string(e, sizeof(e)));
			return -1;
		}
		X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	}
	return 0;
}

/*
 * What the client-facing and the backend contexts have in common: the
 * protocol range, buffers given back while a connection is idle, no
 * compression or renegotiation, a peer that closes without close_notify
 * ending the stream rather than failing it, and the cipher list (NULL:
 * OpenSSL's default) named after its directive in errors.
 */
static SSL_CTX *
new_ctx(const SSL_METHOD *method, unsigned protocols, const char *ciphers_directive,
    const char *ciphers, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(method);
	char e[256];

	if (ctx == NULL) {
		snprintf(err, errlen, "SSL_CTX_new() failed: %s", tls_error_string(e, sizeof(e)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, proto_version(protocols, 1));
	SSL_CTX_set_max_proto_version(ctx, proto_version(protocols, 0));
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (ciphers != NULL && SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		snprintf(err, errlen, "%s \"%s\": %s", ciphers_directive, ciphers,
		    tls_error_string(e, sizeof(e)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static SSL_CTX *
build_ctx(const struct config *cf, const struct srv_conf *srv, struct tls_srv *ts,
    char *err, size_t errlen)
{
	char path[4096], e[256];
	struct pw_list pw = { 0 };
	SSL_CTX *ctx = new_ctx(TLS_server_method(), srv->ssl_protocols, "ssl_ciphers",
	    srv->ssl_ciphers, err, errlen);

	if (ctx == NULL)
		return NULL;
	/* Whether to capture TLS 1.3 traffic secrets (utls.h) is decided per
	 * connection when its ClientHello is in. */
	SSL_CTX_set_client_hello_cb(ctx, utls_client_hello_cb, NULL);
	if (srv->ssl_prefer_server_ciphers)
		SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (srv->ssl_ecdh_curve && strcmp(srv->ssl_ecdh_curve, "auto") != 0 &&
	    SSL_CTX_set1_groups_list(ctx, srv->ssl_ecdh_curve) != 1) {
		snprintf(err, errlen, "ssl_ecdh_curve \"%s\": %s", srv->ssl_ecdh_curve,
		    tls_error_string(e, sizeof(e)));
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
			snprintf(err, errlen, "cannot load certificate \"%.512s\": %s", path, tls_error_string(e, sizeof(e)));
			goto fail;
		}
		config_path(cf, srv->ssl_certificate_key.v[i], path, sizeof(path));
		pw.next = 0;
		SSL_CTX_set_default_passwd_cb_userdata(ctx, &pw);
		if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1) {
			snprintf(err, errlen, "cannot load certificate key \"%.512s\": %s", path, tls_error_string(e, sizeof(e)));
			goto fail;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			snprintf(err, errlen, "certificate key \"%.512s\" does not match its certificate: %s",
			    path, tls_error_string(e, sizeof(e)));
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
			snprintf(err, errlen, "cannot load ssl_dhparam \"%.512s\": %s", path, tls_error_string(e, sizeof(e)));
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
	SSL_CTX_set_ex_data(ctx, tls_srv_index, ts);
	unsigned mode = srv->ssl_session_cache.mode;
	if (mode & SSL_CACHE_OFF) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	} else if (mode & (SSL_CACHE_BUILTIN | SSL_CACHE_SHARED)) {
		long m = SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_AUTO_CLEAR;
		if (!(mode & SSL_CACHE_BUILTIN))
			m |= SSL_SESS_CACHE_NO_INTERNAL;
		SSL_CTX_set_session_cache_mode(ctx, m);
		if ((mode & SSL_CACHE_BUILTIN) && srv->ssl_session_cache.builtin_size > 0)
			SSL_CTX_sess_set_cache_size(ctx, srv->ssl_session_cache.builtin_size);
		if (mode & SSL_CACHE_SHARED) {
			SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
			SSL_CTX_sess_set_get_cb(ctx, get_session_cb);
			SSL_CTX_sess_set_remove_cb(ctx, remove_session_cb);
		}
	} else {
		/* "none": claim reuse but store nothing (nginx's default for mail). */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	}
	tickets_setup(ctx, ts);
	if (setup_verify(ctx, cf, srv, err, errlen) < 0)
		goto fail;
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
	SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
	if (srv->ssl_conf_command.n > 0) {
		SSL_CONF_CTX *cctx = SSL_CONF_CTX_new();
		SSL_CONF_CTX_set_flags(cctx, SSL_CONF_FLAG_FILE | SSL_CONF_FLAG_SERVER |
		    SSL_CONF_FLAG_CERTIFICATE | SSL_CONF_FLAG_SHOW_ERRORS);
		SSL_CONF_CTX_set_ssl_ctx(cctx, ctx);
		for (size_t i = 0; i < srv->ssl_conf_command.n; i++) {
			const struct kv *c = &srv->ssl_conf_command.v[i];
			const char *value = c->value;
			/* A file or directory (Certificate, ChainCAFile...) is relative to
			 * the prefix, like ssl_certificate (nginx: ngx_conf_full_name). */
			int type = SSL_CONF_cmd_value_type(cctx, c->name);
			if (type == SSL_CONF_TYPE_FILE || type == SSL_CONF_TYPE_DIR)
				value = config_path(cf, c->value, path, sizeof(path));
			if (SSL_CONF_cmd(cctx, c->name, value) <= 0) {
				snprintf(err, errlen, "ssl_conf_command \"%s %s\" failed: %s", c->name,
				    value, tls_error_string(e, sizeof(e)));
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

/* What a client context is made of: proxy_ssl_* or auth_http_ssl_*. */
struct client_opts {
	const char *prefix;	/* "proxy_ssl" or "auth_http_ssl", for messages */
	unsigned protocols;
	const char *ciphers;
	int verify;
	unsigned verify_depth;
	const char *trusted, *cert, *key;
};

/* A context for TLS as a client: towards backends or the auth service. */
static SSL_CTX *
build_client_ctx(const struct config *cf, const struct client_opts *o, char *err, size_t errlen)
{
	char path[4096], e[256], what[64];
	SSL_CTX *ctx;

	snprintf(what, sizeof(what), "%s_ciphers", o->prefix);
	ctx = new_ctx(TLS_client_method(), o->protocols, what, o->ciphers, err, errlen);
	if (ctx == NULL)
		return NULL;
	/* Sessions are kept by their users per peer (*_ssl_session_reuse). */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	if (o->verify) {
		if (o->trusted == NULL) {
			snprintf(err, errlen, "%s_verify needs %s_trusted_certificate", o->prefix, o->prefix);
			goto fail;
		}
		config_path(cf, o->trusted, path, sizeof(path));
		if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
			snprintf(err, errlen, "cannot load %s_trusted_certificate \"%.512s\": %s",
			    o->prefix, path, tls_error_string(e, sizeof(e)));
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_verify_depth(ctx, (int)o->verify_depth);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (o->cert != NULL) {
		config_path(cf, o->cert, path, sizeof(path));
		if (SSL_CTX_use_certificate_chain_file(ctx, path) != 1) {
			snprintf(err, errlen, "cannot load %s_certificate \"%.512s\": %s", o->prefix, path,
			    tls_error_string(e, sizeof(e)));
			goto fail;
		}
		config_path(cf, o->key ? o->key : o->cert, path, sizeof(path));
		if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			snprintf(err, errlen, "cannot load %s_certificate_key \"%.512s\": %s", o->prefix,
			    path, tls_error_string(e, sizeof(e)));
			goto fail;
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static SSL_CTX *
build_backend_ctx(const struct config *cf, const struct srv_conf *srv, char *err, size_t errlen)
{
	struct client_opts o = {
		"proxy_ssl", srv->proxy_ssl_protocols, srv->proxy_ssl_ciphers, srv->proxy_ssl_verify,
		srv->proxy_ssl_verify_depth, srv->proxy_ssl_trusted_certificate,
		srv->proxy_ssl_certificate, srv->proxy_ssl_certificate_key,
	};
	SSL_CTX *ctx = build_client_ctx(cf, &o, err, errlen);

	/* Backend sessions are kept by the session layer, from this callback. */
	if (ctx != NULL)
		SSL_CTX_sess_set_new_cb(ctx, client_new_session_cb);
	return ctx;
}

static int
uses_https_auth(const struct srv_conf *srv)
{
	for (const struct auth_http_url *u = &srv->auth_http; u != NULL; u = u->next)
		if (u->ssl)
			return 1;
	return 0;
}

static SSL_CTX *
build_auth_ctx(const struct config *cf, const struct srv_conf *srv, char *err, size_t errlen)
{
	struct client_opts o = {
		"auth_http_ssl", srv->auth_http_ssl_protocols, srv->auth_http_ssl_ciphers,
		srv->auth_http_ssl_verify, srv->auth_http_ssl_verify_depth,
		srv->auth_http_ssl_trusted_certificate, srv->auth_http_ssl_certificate,
		srv->auth_http_ssl_certificate_key,
	};

	return build_client_ctx(cf, &o, err, errlen);
}

/* The cycles built in this process, for tls_auth_ctx(). */
static struct cycle *built[32];

SSL_CTX *
tls_auth_ctx(const struct srv_conf *conf)
{
	for (size_t c = 0; c < sizeof(built) / sizeof(built[0]); c++) {
		if (built[c] == NULL || built[c]->tls_srv == NULL)
			continue;
		for (size_t i = 0; i < built[c]->cf->nservers; i++)
			if (built[c]->tls_srv[i].conf == conf)
				return built[c]->tls_srv[i].auth;
	}
	return NULL;
}

static void
free_srvs(struct tls_srv *ts, size_t n)
{
	if (ts == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		SSL_CTX_free(ts[i].client);
		SSL_CTX_free(ts[i].auth);
		if (ts[i].file_keys != NULL)
			memset(ts[i].file_keys, 0, ts[i].nfile_keys * sizeof(*ts[i].file_keys));
		free(ts[i].file_keys);
		OPENSSL_cleanse(ts[i].zone_keys, sizeof(ts[i].zone_keys));
		OPENSSL_cleanse(ts[i].ring_keys, sizeof(ts[i].ring_keys));
	}
	free(ts);
}

static int
build_all(struct cycle *cy, int with_zones, char *err, size_t errlen)
{
	const struct config *cf = cy->cf;
	struct tls_srv *ts;

	if (tls_srv_index < 0)
		tls_srv_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	cy->tls = calloc(cf->nservers ? cf->nservers : 1, sizeof(*cy->tls));
	ts = calloc(cf->nservers ? cf->nservers : 1, sizeof(*ts));
	cy->tls_srv = ts;
	if (cy->tls == NULL || ts == NULL) {
		snprintf(err, errlen, "out of memory");
		tls_cycle_free(cy);
		return -1;
	}
	for (size_t i = 0; i < cf->nservers; i++) {
		const struct srv_conf *srv = &cf->servers[i];
		char e[1024];

		ts[i].conf = srv;
		if (srv->proxy_ssl || srv->proxy_starttls) {
			ts[i].client = build_backend_ctx(cf, srv, e, sizeof(e));
			if (ts[i].client == NULL) {
				snprintf(err, errlen, "%s:%d:%d: server: %s", cf->file, srv->line, srv->col, e);
				tls_cycle_free(cy);
				return -1;
			}
		}
		if (uses_https_auth(srv)) {
			ts[i].auth = build_auth_ctx(cf, srv, e, sizeof(e));
			if (ts[i].auth == NULL) {
				snprintf(err, errlen, "%s:%d:%d: server: %s", cf->file, srv->line, srv->col, e);
				tls_cycle_free(cy);
				return -1;
			}
		}
		if (!uses_tls(srv))
			continue;
		ts[i].alpn = config_proto_name(srv->protocol);
		e[0] = '\0';
		if (with_zones && (srv->ssl_session_cache.mode & SSL_CACHE_SHARED)) {
			const struct ssl_cache_conf *c = &srv->ssl_session_cache;
			struct shm_zone *z = shm_zone_get(c->shared_name, c->shared_size, e, sizeof(e));
			if (z != NULL && sslcache_init(z->data, z->size) < 0)
				snprintf(e, sizeof(e), "zone \"%s\" is too small for a session cache",
				    c->shared_name);
			else if (z != NULL)
				ts[i].cache = z->data;
		}
		if (e[0] == '\0' && with_zones && ts[i].cache != NULL &&
		    srv->ssl_session_ticket_key_store.redis.spec != NULL)
			tickets_attach_ring(&ts[i], e, sizeof(e));
		if (e[0] == '\0' && srv->ssl_session_ticket_key.n > 0)
			tickets_load_files(cf, srv, &ts[i], e, sizeof(e));
		if (e[0] == '\0')
			cy->tls[i] = build_ctx(cf, srv, &ts[i], e, sizeof(e));
		if (cy->tls[i] == NULL) {
			snprintf(err, errlen, "%s:%d:%d: server: %s", cf->file, srv->line, srv->col, e);
			tls_cycle_free(cy);
			return -1;
		}
	}
	return 0;
}

int
tls_cycle_build(struct cycle *cy, char *err, size_t errlen)
{
	if (build_all(cy, 1, err, errlen) < 0)
		return -1;
	size_t c = 0;
	while (c < sizeof(built) / sizeof(built[0]) - 1 && built[c] != NULL)
		c++;
	/* All taken (cycles are freed as their workers go): the last slot is reused. */
	built[c] = cy;
	return 0;
}

void
tls_cycle_free(struct cycle *cy)
{
	for (size_t c = 0; c < sizeof(built) / sizeof(built[0]); c++)
		if (built[c] == cy)
			built[c] = NULL;
	if (cy->tls != NULL)
		for (size_t i = 0; i < cy->cf->nservers; i++)
			SSL_CTX_free(cy->tls[i]);
	free(cy->tls);
	cy->tls = NULL;
	free_srvs(cy->tls_srv, cy->cf->nservers);
	cy->tls_srv = NULL;
}

int
tls_validate(const struct config *cf, char *err, size_t errlen)
{
	struct cycle cy = { .cf = (struct config *)cf };
	int rc = build_all(&cy, 0, err, errlen);

	tls_cycle_free(&cy);
	return rc;
}
