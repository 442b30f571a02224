/*
 * YAML edge cases: anchors, aliases and merge keys work as YAML says; what
 * the loader refuses (several documents, tabs, invalid UTF-8, deep nesting,
 * huge files and values) is refused with a position and a clear message,
 * quickly and without a crash. Big inputs are generated in the test's
 * temporary directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test/unit/config_helpers.h"

TestSuite(yaml_edge, .init = th_setup, .fini = th_teardown);

/* ---- anchors, aliases, merge keys ---- */

Test(yaml_edge, alias_reuses_a_server_mapping)
{
	struct config *cf;

	LOAD_OK(cf, "x-servers:\n"
	    "  imap: &imap\n"
	    "    listen: \"143\"\n"
	    "    timeout: 5s\n"
	    "    imap_capabilities: &caps [IMAP4rev1, IDLE]\n"
	    MAIL_HEAD
	    "  servers:\n"
	    "    - *imap\n"
	    "    - listen: \"993\"\n"
	    "      imap_capabilities: *caps\n");
	cr_assert_eq(cf->nservers, 2);
	cr_assert_eq(cf->servers[0].timeout, 5000);
	cr_assert_eq(cf->servers[0].protocol, MP_PROTO_IMAP);
	/* An aliased node keeps the position where it was written (its anchor). */
	cr_assert_eq(cf->servers[0].line, 2, "line %d", cf->servers[0].line);
	cr_assert_eq(cf->servers[0].col, 9, "col %d", cf->servers[0].col);
	cr_assert_eq(cf->servers[0].listen[0].line, 3);
	cr_assert_eq(cf->servers[1].imap_capabilities.n, 2);
	cr_assert_str_eq(cf->servers[1].imap_capabilities.v[1], "IDLE");
	config_free(cf);
}

Test(yaml_edge, alias_used_twice_is_the_same_server_twice)
{
	/* The same mapping twice means the same listen twice: nginx's duplicate pair. */
	EXPECT_ERR("x-s: &s\n  listen: \"143\"\n" MAIL_HEAD "  servers:\n    - *s\n    - *s\n",
	    "t.yaml:2:11: \"listen\": duplicate address and port pair \"0.0.0.0:143\" "
	    "(first at line 2; " NOT_SNI ")");
}

Test(yaml_edge, merge_keys_with_override)
{
	struct config *cf;

	LOAD_OK(cf, "x-base: &base\n"
	    "  protocol: imap\n"
	    "  timeout: 5s\n"
	    "  proxy: on\n"
	    "x-slow: &slow\n"
	    "  timeout: 1m\n"
	    "  proxy_timeout: 2h\n"
	    MAIL_HEAD
	    "  servers:\n"
	    "    - <<: *base\n"
	    "      listen: \"1143\"\n"
	    "    - <<: *base\n"
	    "      listen: \"1144\"\n"
	    "      timeout: 7s\n"
	    "    - <<: [*slow, *base]\n"
	    "      listen: \"1145\"\n"
	    "    - listen: \"1146\"\n"
	    "      <<: {protocol: smtp, xclient: off}\n");
	cr_assert_eq(cf->nservers, 4);
	cr_assert_eq(cf->servers[0].timeout, 5000);
	cr_assert_eq(cf->servers[0].proxy, 1);
	cr_assert_eq(cf->servers[0].protocol, MP_PROTO_IMAP);
	cr_assert_eq(cf->servers[1].timeout, 7000, "an explicit key wins over the merged one");
	cr_assert_eq(cf->servers[1].proxy, 1);
	cr_assert_eq(cf->servers[2].timeout, 60000, "the first mapping of a merge list wins");
	cr_assert_eq(cf->servers[2].proxy_timeout, 7200000);
	cr_assert_eq(cf->servers[2].protocol, MP_PROTO_IMAP);
	cr_assert_eq(cf->servers[3].protocol, MP_PROTO_SMTP);
	cr_assert_eq(cf->servers[3].xclient, 0);
	config_free(cf);
}

Test(yaml_edge, merge_key_errors)
{
	EXPECT_ERR("mail:\n  <<: 5\n", "t.yaml:2:7: \"<<\" merges mappings only");
	EXPECT_ERR("mail:\n  <<: [{timeout: 1s}, 5]\n", "t.yaml:2:23: \"<<\" merges mappings only");
	/* Only a plain << is a merge key; quoted, it is an ordinary (unknown) key. */
	EXPECT_ERR("\"<<\": {daemon: off}\n", "t.yaml:1:1: \"<<\": unknown directive in \"main\"");
	/* A merged key is checked like a written one. */
	EXPECT_ERR("x-b: &b {tiemout: 5s}\nmail:\n  <<: *b\n",
	    "t.yaml:1:10: \"tiemout\": unknown directive in \"mail\" (did you mean \"timeout\"?)");
}

/* Merging is quadratic in the keys; a huge merge is refused, not ground through. */
static char *
merge_doc(int nkeys)
{
	size_t cap = (size_t)nkeys * 32 + 256, o = 0;
	char *s = malloc(cap);

	cr_assert_not_null(s);
	o += (size_t)snprintf(s + o, cap - o, "x-a: &a {");
	for (int i = 0; i < nkeys; i++)
		o += (size_t)snprintf(s + o, cap - o, "%sk%d: 1", i ? ", " : "", i);
	o += (size_t)snprintf(s + o, cap - o, "}\nx-b: {<<: *a");
	for (int i = 0; i < nkeys; i++)
		o += (size_t)snprintf(s + o, cap - o, ", j%d: 1", i);
	snprintf(s + o, cap - o, "}\ndaemon: off\n");
	return s;
}

Test(yaml_edge, huge_merge_is_refused)
{
	char *yaml = merge_doc(50000);
	struct config *cf;

	EXPECT_ERR(yaml, "t.yaml:2:6: mappings merged with \"<<\" are too large");
	free(yaml);
	yaml = merge_doc(1000);
	LOAD_OK(cf, yaml);
	config_free(cf);
	free(yaml);
}

Test(yaml_edge, x_keys_are_ignored_everywhere)
{
	struct config *cf;

	cf = th_load_g("x-top: &t {anything: [1, 2, {deep: true}]}\n"
	    "events:\n  x-note: events\n  multi_accept: on\n"
	    "mail:\n  x-note: mail\n  auth_http: 127.0.0.1\n"
	    "  servers:\n    - x-note: server\n      listen: \"143\"\n      x-more: *t\n",
	    "{x-g: 1, daemon: off}");
	cr_assert_not_null(cf, "%s", th_err());
	cr_assert_eq(cf->main.multi_accept, 1);
	cr_assert_eq(cf->main.daemon, 0);
	cr_assert_eq(cf->nservers, 1);
	config_free(cf);
}

Test(yaml_edge, scalar_aliases_and_redefined_anchors)
{
	struct config *cf;

	/* A later anchor of the same name shadows the earlier one. */
	LOAD_OK(cf, "x-a: &t 5s\nx-b: &t 9s\n" MAIL_HEAD "  timeout: *t\n"
	    "  servers:\n    - listen: \"143\"\n      proxy_timeout: *t\n");
	cr_assert_eq(cf->servers[0].timeout, 9000);
	cr_assert_eq(cf->servers[0].proxy_timeout, 9000);
	config_free(cf);
}

Test(yaml_edge, unknown_and_self_referencing_alias)
{
	EXPECT_ERR("mail:\n  timeout: *nope\n", "t.yaml:2:12: unknown anchor \"nope\"");
	/* An anchor exists once its node is complete, so a cycle cannot be built. */
	EXPECT_ERR("mail: &m\n  timeout: 5s\n  servers: [*m]\n", "t.yaml:3:13: unknown anchor \"m\"");
	EXPECT_ERR("x: &l [1, *l]\n", "t.yaml:1:11: unknown anchor \"l\"");
	EXPECT_ERR("mail:\n  <<: *m\n", "t.yaml:2:7: unknown anchor \"m\"");
}

/* Aliases share nodes instead of copying them: a "billion laughs" is cheap. */
Test(yaml_edge, billion_laughs_is_not_expanded)
{
	struct config *cf;

	LOAD_OK(cf, "x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
	    "x-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	    "x-c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	    "x-d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	    "x-e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	    "x-f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
	    "x-g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
	    "x-h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
	    "x-i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n"
	    "daemon: off\n");
	config_free(cf);
	/* Used where values are read, the first non-scalar item stops the walk. */
	EXPECT_ERR("x-a: &a [lol, lol]\nx-b: &b [*a, *a]\nx-c: &c [*b, *b]\n"
	    MAIL_HEAD "  imap_capabilities: *c\n",
	    "t.yaml:2:6: \"imap_capabilities\": expected a value, got a sequence");
}

Test(yaml_edge, too_many_anchors)
{
	size_t cap = 4200 * 32, o = 0;
	char *yaml = malloc(cap);

	cr_assert_not_null(yaml);
	for (int i = 0; i < 4097; i++)
		o += (size_t)snprintf(yaml + o, cap - o, "x-%d: &a%d 1\n", i, i);
	EXPECT_ERR(yaml, "t.yaml:4097:9: more than 4096 anchors");
	free(yaml);
}

/* ---- documents, whitespace, encodings ---- */

Test(yaml_edge, several_documents)
{
	struct config *cf;

	EXPECT_ERR("daemon: on\n---\ndaemon: off\n",
	    "t.yaml:2:1: more than one YAML document in the file");
	EXPECT_ERR("daemon: on\n...\n---\ndaemon: off\n",
	    "t.yaml:3:1: more than one YAML document in the file");
	EXPECT_ERR("---\ndaemon: on\n--- \n",
	    "t.yaml:3:1: more than one YAML document in the file");
	/* One explicit document, with a directive and an end marker, is fine. */
	LOAD_OK(cf, "%YAML 1.1\n---\ndaemon: off\n...\n");
	cr_assert_eq(cf->main.daemon, 0);
	config_free(cf);
}

Test(yaml_edge, tabs)
{
	struct config *cf;

	EXPECT_ERR("events:\n\tmulti_accept: on\n",
	    "t.yaml:2:1: YAML syntax error: found character that cannot start any token while "
	    "scanning for the next token (use spaces, not tabs)");
	EXPECT_ERR(MAIL_HEAD "  servers:\n  \t- listen: \"143\"\n",
	    "t.yaml:4:3: YAML syntax error: found character that cannot start any token while "
	    "scanning for the next token (use spaces, not tabs)");
	/* Tabs inside a quoted value or a comment are not indentation. */
	LOAD_OK(cf, "daemon: off\t# a comment after a tab\n"
	    MAIL_HEAD "  imap_capabilities: \"IMAP4rev1\tIDLE\"\n");
	cr_assert_eq(cf->mail.imap_capabilities.n, 2);
	config_free(cf);
}

Test(yaml_edge, invalid_utf8)
{
	EXPECT_ERR("user: \"bo\xff" "b\"\n", "t.yaml:1:10: YAML syntax error: invalid leading UTF-8 octet");
	EXPECT_ERR("daemon: off\nuser: b\xc3(\n",
	    "t.yaml:2:9: YAML syntax error: invalid trailing UTF-8 octet");
	EXPECT_ERR("user: bo\xc3", "t.yaml:1:9: YAML syntax error: incomplete UTF-8 octet sequence");
	EXPECT_ERR("# \xc0\xaf overlong\n", "t.yaml:1:3: YAML syntax error: invalid length of a UTF-8 sequence");
}

Test(yaml_edge, valid_utf8_bom_and_crlf)
{
	struct config *cf;

	LOAD_OK(cf, "\xef\xbb\xbf# h\xc3\xa9llo\r\nuser: \"\xc3\xb1obody\"\r\ndaemon: off\r\n");
	cr_assert_str_eq(cf->main.user, "\xc3\xb1obody");
	cr_assert_eq(cf->main.daemon, 0);
	config_free(cf);
}

Test(yaml_edge, error_position_at_end_without_newline)
{
	EXPECT_ERR("mail: {timeout: [1s, 2s",
	    "t.yaml:1:24: YAML syntax error: did not find expected ',' or ']' while parsing a flow "
	    "sequence");
	EXPECT_ERR("daemon: off\nmail: [",
	    "t.yaml:2:8: YAML syntax error: did not find expected node content while parsing a flow node");
}

Test(yaml_edge, empty_inputs)
{
	EXPECT_ERR("", "t.yaml: the configuration is empty (expected a mapping)");
	EXPECT_ERR("# only\n   # comments\n\n", "t.yaml: the configuration is empty (expected a mapping)");
	EXPECT_ERR("---\n", "t.yaml: the configuration is empty (expected a mapping)");
	EXPECT_ERR("~\n", "t.yaml: the configuration is empty (expected a mapping)");
	EXPECT_ERR("\"\"\n", "t.yaml:1:1: expected a mapping, got a scalar");
	EXPECT_ERR("[]\n", "t.yaml:1:1: expected a mapping, got a sequence");
}

Test(yaml_edge, nul_bytes)
{
	struct config *cf;

	th_write("t.yaml", "user: a\0b\n", 10);
	cf = th_load_file("t.yaml", th_dir(), NULL);
	cr_assert_null(cf);
	cr_assert_str_eq(th_err(), "t.yaml:1:8: YAML syntax error: control characters are not allowed");
	/* An escaped NUL passes YAML, but no directive value may hold one. */
	EXPECT_ERR("user: \"a\\0b\"\n", "t.yaml:1:7: value contains a NUL byte");
}

/* ---- size and depth limits ---- */

static char *
repeat(const char *head, const char *unit, size_t times, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(hl + ul * times + tl + 1), *p = s;

	cr_assert_not_null(s);
	memcpy(p, head, hl);
	p += hl;
	for (size_t i = 0; i < times; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, tail, tl + 1);
	return s;
}

Test(yaml_edge, ten_megabyte_comment_is_accepted)
{
	char *yaml = repeat("# ", "padding ", 10 * 1024 * 1024 / 8, "\ndaemon: off\n");
	struct config *cf;

	LOAD_OK(cf, yaml);
	cr_assert_eq(cf->main.daemon, 0);
	config_free(cf);
	free(yaml);
}

Test(yaml_edge, ten_megabyte_list_is_accepted)
{
	/* 10 MB of values, 1 KB each: a long list that stays under the node limit. */
	char item[1100];
	char *yaml;
	struct config *cf;

	memset(item, 'a', sizeof(item));
	memcpy(item, "  - \"", 5);
	memcpy(item + 1020, "\"\n", 3);
	yaml = repeat("x-pad:\n", item, 10 * 1024, MINIMAL);
	LOAD_OK(cf, yaml);
	cr_assert_eq(cf->nservers, 1);
	config_free(cf);
	free(yaml);
}

/* Cross-server checks sort instead of comparing every pair of servers. */
Test(yaml_edge, ten_thousand_servers)
{
	size_t n = 10000, cap = n * 48 + 256, o = 0;
	char *yaml = malloc(cap);
	struct config *cf;

	cr_assert_not_null(yaml);
	o += (size_t)snprintf(yaml + o, cap - o, MAIL_HEAD "  ssl_session_cache: shared:Z:1m\n"
	    "  servers:\n");
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(yaml + o, cap - o, "    - {listen: \"127.0.%zu.%zu:143\"}\n",
		    i / 250, i % 250 + 1);
	LOAD_OK(cf, yaml);
	cr_assert_eq(cf->nservers, n);
	config_free(cf);
	/* The same with one repeat at the very end. */
	snprintf(yaml + o, cap - o, "    - {listen: \"127.0.0.1:143\"}\n");
	EXPECT_ERR(yaml, "t.yaml:10005:16: \"listen\": duplicate address and port pair "
	    "\"127.0.0.1:143\" (first at line 5; " NOT_SNI ")");
	free(yaml);
}

Test(yaml_edge, file_over_16_megabytes_is_refused)
{
	struct config *cf;

	/* Sparse: the size is checked before anything is read. */
	th_write("big.yaml", "daemon: off\n", -1);
	cr_assert_eq(truncate("big.yaml", 16 * 1024 * 1024 + 1), 0);
	cf = th_load_file("big.yaml", th_dir(), NULL);
	cr_assert_null(cf);
	cr_assert_str_eq(th_err(), "big.yaml: file is larger than 16 MB");
}

Test(yaml_edge, deep_flow_nesting_is_refused)
{
	char *yaml = repeat("x: ", "[", 10000, "");
	char *full = repeat(yaml, "]", 10000, "\n");

	/* The root mapping is level 1: the 64th "[" (column 67) would be level 65. */
	EXPECT_ERR(full, "t.yaml:1:67: nesting deeper than 64 levels");
	free(yaml);
	free(full);
}

Test(yaml_edge, deep_block_nesting_is_refused)
{
	char *yaml = repeat("x:\n", "- ", 10000, "a\n");
	char map[64 * 70 + 1] = "";
	size_t o = 0;

	EXPECT_ERR(yaml, "t.yaml:2:127: nesting deeper than 64 levels");
	free(yaml);
	/* Block mappings, one space deeper per level. */
	for (int i = 0; i < 66; i++)
		o += (size_t)snprintf(map + o, sizeof(map) - o, "%*sk:\n", i, "");
	EXPECT_ERR(map, "t.yaml:65:65: nesting deeper than 64 levels");
	/* Exactly 64 levels is fine as far as YAML goes. */
	char *ok = repeat("x-deep: ", "[", 63, "");
	char *okfull = repeat(ok, "]", 63, "\ndaemon: off\n");
	struct config *cf;
	LOAD_OK(cf, okfull);
	config_free(cf);
	free(ok);
	free(okfull);
}

Test(yaml_edge, long_scalar_is_refused)
{
	char *yaml = repeat("pid: ", "a", 65537, "\n");
	char *fits = repeat("pid: ", "a", 65536, "\n");
	struct config *cf;

	EXPECT_ERR(yaml, "t.yaml:1:6: value longer than 65536 bytes");
	LOAD_OK(cf, fits);
	cr_assert_eq(strlen(cf->main.pid), 65536);
	config_free(cf);
	free(yaml);
	free(fits);
}

/* ---- the path itself ---- */

Test(yaml_edge, missing_file_and_directory)
{
	struct config *cf;

	cf = th_load_file("missing.yaml", th_dir(), NULL);
	cr_assert_null(cf);
	cr_assert_str_eq(th_err(), "missing.yaml: cannot open: No such file or directory");
	cr_assert_eq(mkdir("conf.d", 0755), 0);
	cf = th_load_file("conf.d", th_dir(), NULL);
	cr_assert_null(cf);
	cr_assert_str_eq(th_err(), "conf.d: not a regular file");
}
