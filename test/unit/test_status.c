/*
 * The status endpoint's pure parts: the request head parser
 * (worker/proto/http_req.c) on good, truncated, oversized and hostile heads,
 * and the report (config/status_report.c) written from a zone built here:
 * label escaping, exact samples, cumulative histogram buckets, and the JSON
 * of -s status. Inputs are copied to exactly sized heap buffers so the
 * sanitizer build sees over-reads.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/buf.h"
#include "common/stats.h"
#include "config/config.h"
#include "config/status_report.h"
#include "worker/proto/http_req.h"

TestSuite(status);

static enum http_req_rc
parse(const char *text, size_t len, struct http_req *r)
{
	char *copy = malloc(len ? len : 1);
	enum http_req_rc rc;

	memcpy(copy, text, len);
	rc = http_req_parse(copy, len, HTTP_REQ_MAX, r);
	free(copy);
	return rc;
}

static enum http_req_rc
parse_s(const char *text, struct http_req *r)
{
	return parse(text, strlen(text), r);
}

Test(status, get_and_head)
{
	struct http_req r;
	const char *req = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";

	cr_assert_eq(parse_s(req, &r), HTTP_REQ_DONE);
	cr_assert_str_eq(r.path, "/metrics");
	cr_assert_eq(r.head, 0);
	cr_assert_eq(r.minor, 1);
	cr_assert_eq(r.head_len, strlen(req));
	cr_assert_eq(parse_s("HEAD /status HTTP/1.0\n\n", &r), HTTP_REQ_DONE);
	cr_assert_str_eq(r.path, "/status");
	cr_assert_eq(r.head, 1);
	cr_assert_eq(r.minor, 0);
	/* A stray line end before the request line is tolerated. */
	cr_assert_eq(parse_s("\r\nGET / HTTP/1.1\r\n\r\n", &r), HTTP_REQ_DONE);
}

Test(status, every_truncation_waits)
{
	const char *req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	struct http_req r;

	for (size_t n = 0; n < strlen(req); n++)
		cr_assert_eq(parse(req, n, &r), HTTP_REQ_MORE, "prefix of %zu bytes", n);
	cr_assert_eq(parse(req, strlen(req), &r), HTTP_REQ_DONE);
}

Test(status, bad_heads)
{
	static const struct {
		const char *req;
		int status;
	} cases[] = {
		{ "POST /metrics HTTP/1.1\r\n\r\n", 405 },
		{ "DELETE / HTTP/1.1\r\n\r\n", 405 },
		{ "get /metrics HTTP/1.1\r\n\r\n", 405 },
		{ "GET /metrics HTTP/2.0\r\n\r\n", 505 },
		{ "GET /metrics HTTP/1.2\r\n\r\n", 505 },
		{ "GET /metrics HTTP/1.10\r\n\r\n", 505 },
		{ "GET /metrics FTP/1.1\r\n\r\n", 400 },
		{ "GET /metrics\r\n\r\n", 400 },
		{ "GET  /metrics HTTP/1.1\r\n\r\n", 400 },
		{ "GET metrics HTTP/1.1\r\n\r\n", 400 },
		{ " GET / HTTP/1.1\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\n folded: x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400 },
		{ "GET /\x01 HTTP/1.1\r\n\r\n", 400 },
		{ "GET /\xff HTTP/1.1\r\n\r\n", 400 },
		{ "\x16\x03\x01\x02\x01\xfc\x03\x03\n", 400 },
	};
	struct http_req r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(parse_s(cases[i].req, &r), HTTP_REQ_ERROR, "%zu: %s", i, cases[i].req);
		cr_assert_eq(r.status, cases[i].status, "%zu: %s: %d", i, cases[i].req, r.status);
	}
	/* A NUL inside a line. */
	cr_assert_eq(parse("GET /\0 HTTP/1.1\r\n\r\n", 19, &r), HTTP_REQ_ERROR);
	cr_assert_eq(r.status, 400);
}

Test(status, oversized)
{
	struct http_req r;
	size_t n = HTTP_REQ_MAX * 2;
	char *big = malloc(n);

	/* A request line that never ends. */
	memset(big, 'a', n);
	memcpy(big, "GET /", 5);
	cr_assert_eq(parse(big, HTTP_REQ_MAX, &r), HTTP_REQ_ERROR);
	cr_assert_eq(r.status, 414);
	cr_assert_eq(parse(big, HTTP_REQ_MAX - 1, &r), HTTP_REQ_MORE);
	/* A path longer than the endpoint keeps, on a complete line. */
	snprintf(big, n, "GET /%0300d HTTP/1.1\r\n\r\n", 0);
	cr_assert_eq(parse_s(big, &r), HTTP_REQ_ERROR);
	cr_assert_eq(r.status, 414);
	/* Headers past the bound, complete or not. */
	size_t o = (size_t)snprintf(big, n, "GET / HTTP/1.1\r\n");
	while (o + 8 < n)
		o += (size_t)snprintf(big + o, n - o, "X: y\r\n");
	cr_assert_eq(parse(big, o, &r), HTTP_REQ_ERROR);
	cr_assert_eq(r.status, 431);
	cr_assert_eq(parse(big, HTTP_REQ_MAX, &r), HTTP_REQ_ERROR);
	cr_assert_eq(r.status, 431);
	free(big);
}

Test(status, label_escape)
{
	struct buf b = { 0 };

	cr_assert_eq(status_label_escape(&b, "a\\b\"c\nd\te"), 0);
	buf_append(&b, "", 1);
	cr_assert_str_eq(buf_rptr(&b), "a\\\\b\\\"c\\nd\te");
	buf_release(&b);
}

/* ---- the report, from a zone made here ---- */

static struct stats_zone *zone;

static const void *
fake_zone(void *ctx, const char *name, size_t *size)
{
	(void)ctx;
	if (strcmp(name, STATS_ZONE) != 0 || zone == NULL)
		return NULL;
	*size = sizeof(*zone);
	return zone;
}

static struct config *
empty_config(void)
{
	static struct config cf;

	memset(&cf, 0, sizeof(cf));
	return &cf;
}

static void
make_zone(void)
{
	zone = calloc(1, sizeof(*zone));
	zone->magic = STATS_MAGIC;
	zone->generation = 3;
	zone->reloads = 2;
	zone->worker_restarts = 1;
	zone->load_time = 1700000000;
	struct stats_slot *s = &zone->slots[4];
	s->state = SLOT_RUNNING;
	s->pid = 4242;
	s->generation = 3;
	s->accepted = 7;
	s->active = 2;
	s->logins[MP_PROTO_POP3 - 1][LOGIN_failed] = 5;
	s->tls_resumed_v[stats_tls_index(0x304)] = 6;
	s->sessions[5] = 2;
	stats_observe(&s->auth_ms, 0);
	stats_observe(&s->auth_ms, 3);
	stats_observe(&s->auth_ms, 10);
	stats_observe(&s->auth_ms, 99999);
	zone->retired.accepted = 10;
	zone->retired.logins[MP_PROTO_POP3 - 1][LOGIN_failed] = 1;
}

static int
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

Test(status, metrics_samples)
{
	struct buf b = { 0 };

	cr_assert_eq(status_metrics(empty_config(), fake_zone, NULL, &b), -1, "no zone, no report");
	make_zone();
	cr_assert_eq(status_metrics(empty_config(), fake_zone, NULL, &b), 0);
	buf_append(&b, "", 1);
	const char *t = buf_rptr(&b);
	const char *want[] = {
		"# TYPE mailproxy_connections_accepted_total counter",
		"mailproxy_connections_accepted_total{worker=\"4\"} 7",
		"mailproxy_connections_accepted_total{worker=\"retired\"} 10",
		"mailproxy_connections_active{worker=\"4\"} 2",
		"mailproxy_worker_info{worker=\"4\",pid=\"4242\",generation=\"3\",state=\"running\"} 1",
		"mailproxy_logins_total{worker=\"4\",protocol=\"pop3\",result=\"failed\"} 5",
		"mailproxy_logins_total{worker=\"retired\",protocol=\"pop3\",result=\"failed\"} 1",
		"mailproxy_logins_total{worker=\"4\",protocol=\"imap\",result=\"ok\"} 0",
		"mailproxy_tls_sessions_total{worker=\"4\",version=\"TLSv1.3\",handshake=\"resumed\"} 6",
		"mailproxy_sessions{worker=\"4\",state=\"preauth\"} 2",
		"# TYPE mailproxy_auth_http_duration_seconds histogram",
		"mailproxy_auth_http_duration_seconds_bucket{worker=\"4\",le=\"0.001\"} 1",
		"mailproxy_auth_http_duration_seconds_bucket{worker=\"4\",le=\"0.002\"} 1",
		"mailproxy_auth_http_duration_seconds_bucket{worker=\"4\",le=\"0.005\"} 2",
		"mailproxy_auth_http_duration_seconds_bucket{worker=\"4\",le=\"0.01\"} 3",
		"mailproxy_auth_http_duration_seconds_bucket{worker=\"4\",le=\"10\"} 3",
		"mailproxy_auth_http_duration_seconds_bucket{worker=\"4\",le=\"+Inf\"} 4",
		"mailproxy_auth_http_duration_seconds_count{worker=\"4\"} 4",
		"mailproxy_auth_http_duration_seconds_sum{worker=\"4\"} 100.012",
		"mailproxy_reloads_total 2",
		"mailproxy_worker_restarts_total 1",
		"mailproxy_config_generation 3",
		"mailproxy_config_load_time_seconds 1700000000",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert(has_line(t, want[i]), "missing line: %s", want[i]);
	/* Gauges only for live workers, and no "closed" sessions. */
	cr_assert_null(strstr(t, "mailproxy_connections_active{worker=\"retired\"}"));
	cr_assert_null(strstr(t, "state=\"closed\""));
	/* Every family is announced once, before its samples. */
	cr_assert_not_null(strstr(t, "# HELP mailproxy_logins_total "));
	cr_assert_null(strstr(strstr(t, "# HELP mailproxy_logins_total ") + 1, "# HELP mailproxy_logins_total "));
	buf_release(&b);
	free(zone);
	zone = NULL;
}

Test(status, json_totals)
{
	make_zone();
	json_t *j = status_json(empty_config(), fake_zone, NULL);
	cr_assert_not_null(j);
	json_t *tot = json_object_get(j, "totals");
	cr_assert_eq(json_integer_value(json_object_get(tot, "accepted")), 17);
	cr_assert_eq(json_integer_value(json_object_get(tot, "active")), 2);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(tot, "logins"),
	    "pop3"), "failed")), 6);
	cr_assert_eq(json_integer_value(json_object_get(j, "worker_restarts")), 1);
	cr_assert_eq(json_array_size(json_object_get(j, "workers")), 1);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(json_object_get(j, "workers"), 0),
	    "slot")), 4);
	json_decref(j);
	free(zone);
	zone = NULL;
}
