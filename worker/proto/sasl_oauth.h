/*
 * OAUTHBEARER (RFC 7628) and XOAUTH2 client messages: parsed into the
 * identity and the bearer token the auth service gets (as freenginx sends
 * them: Auth-User, Auth-Pass), and rebuilt for the backend. Pure functions.
 */
#ifndef MP_SASL_OAUTH_H
#define MP_SASL_OAUTH_H

#include <stddef.h>

#include "worker/proto/proto.h"

/* The largest bearer token taken (16 KB, as clients and services use). */
#define SASL_OAUTH_TOKEN_MAX	16384
/*
 * A client line that carries such a token: base64 of the token plus a GS2
 * header, key/value pairs and an IMAP tag; the client buffer of a server
 * with an OAuth mechanism is at least this.
 */
#define SASL_OAUTH_LINE_MAX	24576
/* The most an Auth-Error-SASL value may be (base64 of a small JSON object). */
#define SASL_OAUTH_ERROR_MAX	2048

/*
 * Parses the decoded message msg[0..n) of method (AUTHM_OAUTHBEARER or
 * AUTHM_XOAUTH2). OAUTHBEARER: GS2 header "n,a=<authzid>," (or "y,";
 * channel binding "p=" is refused), =2C and =3D decoded, then ^A-separated
 * key=value pairs ending in ^A^A. XOAUTH2: "user=<id>^Aauth=Bearer <t>^A^A".
 * auth= is required once, as "Bearer" (any case), one or more spaces and a
 * token of visible ASCII. On SASL_OK *user (maybe "", never NULL) and
 * *token are heap strings. SASL_HOSTILE for CR, LF or NUL anywhere in the
 * identity or token, SASL_INVALID for every other deviation.
 */
int sasl_oauth_parse(unsigned method, const unsigned char *msg, size_t n, char **user,
    char **token);
/* The base64 client message of method into cr (login = identity, passwd = token). */
int sasl_oauth(unsigned method, const char *b64, size_t len, struct creds *cr);
/*
 * The base64 message for the backend: OAUTHBEARER "n,a=<user>,^Aauth=Bearer
 * <token>^A^A" (user escaped =2C/=3D; no a= when user is empty) or XOAUTH2
 * "user=<user>^Aauth=Bearer <token>^A^A". Heap string, or NULL.
 */
char *sasl_oauth_build(unsigned method, const char *user, const char *token);
/* Auth-Error-SASL: strict base64, 4..SASL_OAUTH_ERROR_MAX chars, of printable text. */
int sasl_oauth_error_valid(const char *b64, size_t len);

#endif
