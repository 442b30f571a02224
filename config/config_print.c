/*
 * Printing the configuration: -T's effective configuration (YAML that
 * config_load() accepts again and prints identically; servers list what
 * they do not inherit from mail) and the directive reference page, both
 * generated from the directive table so neither can drift from it.
 * config_load() runs config_dump_check() so -T never prints past a file.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config/config_int.h"

static int
printable(const struct directive *d, const void *conf, unsigned ctx)
{
	const void *field = (const char *)conf + d->off;

	if (!(d->ctx & ctx) || (d->flags & DF_NOPRINT) || d->type == DT_RENAMED)
		return 0;
	if ((d->type == DT_STR || d->type == DT_PATH) && *(char *const *)field == NULL)
		return 0;
	if (d->type == DT_NUM && d->dflt == NULL &&
	    (d->size == sizeof(long) ? *(const long *)field == 0 : *(const unsigned *)field == 0))
		return 0;
	if (strcmp(d->name, "auth_http") == 0 && ((const struct auth_http_url *)field)->url == NULL)
		return 0;
	if (strcmp(d->name, "worker_rlimit_core") == 0 && !((const struct main_conf *)conf)->worker_rlimit_core_set)
		return 0;
	if (strcmp(d->name, "worker_cpu_affinity") == 0 &&
	    ((const struct main_conf *)conf)->cpu_affinity_text.n == 0)
		return 0;
	if (strcmp(d->name, "protocol") == 0 && *(const int *)field == MP_PROTO_NONE)
		return 0;
	return 1;
}

/*
 * Whether a server's value of d prints as the mail level's: then the server
 * inherits it and -T leaves it out. An inherited value is the mail level's
 * bytes (pointers included); one set again to the same value prints the
 * same. Printing servers in full made -T grow with servers x directives:
 * 10,000 servers passed the 16 MB a file may have.
 */
static int
inherited(const struct directive *d, const void *srv, const void *mail)
{
	struct buf a = { 0 }, b = { 0 };
	int same;

	if (memcmp((const char *)srv + d->off, (const char *)mail + d->off, d->size) == 0)
		return 1;
	config_print_directive(d, srv, &a);
	config_print_directive(d, mail, &b);
	same = buf_len(&a) == buf_len(&b) && memcmp(buf_rptr(&a), buf_rptr(&b), buf_len(&a)) == 0;
	buf_release(&a);
	buf_release(&b);
	return same;
}

/*
 * Prints the directives of ctx; for a server (mail != NULL) only those it
 * does not inherit. Stops once out holds more than max bytes.
 */
static void
print_block(const void *conf, const void *mail, unsigned ctx, const char *indent,
    struct buf *out, size_t max)
{
	for (size_t i = 0; i < ndirectives && buf_len(out) <= max; i++) {
		const struct directive *d = &directives[i];
		if (!printable(d, conf, ctx))
			continue;
		if (mail != NULL && (d->ctx & CTX_MAIL) && inherited(d, conf, mail))
			continue;
		buf_printf(out, "%s%s: ", indent, d->name);
		config_print_directive(d, conf, out);
		buf_puts(out, "\n");
	}
}

/* config_dump(), stopping early once the output passes max bytes. */
static void
dump_max(const struct config *cf, struct buf *out, size_t max)
{
	buf_printf(out, "# effective configuration of %s (defaults filled in)\n", cf->file);
	print_block(&cf->main, NULL, CTX_MAIN, "", out, max);
	buf_puts(out, "events:\n");
	print_block(&cf->main, NULL, CTX_EVENTS, "  ", out, max);
	if (!cf->has_mail)
		return;
	buf_puts(out, "mail:\n");
	print_block(&cf->mail, NULL, CTX_MAIL, "  ", out, max);
	if (cf->nservers == 0)
		return;
	buf_puts(out, "  servers:   # each inherits from mail what it does not list\n");
	for (size_t i = 0; i < cf->nservers && buf_len(out) <= max; i++) {
		const struct srv_conf *srv = &cf->servers[i];
		const struct directive *ld = directive_find("listen");

		buf_puts(out, "    - listen: ");
		ld->print(ld, (const char *)srv + ld->off, out);
		buf_puts(out, "\n");
		print_block(srv, &cf->mail, CTX_SERVER, "      ", out, max);
	}
}

void
config_dump(const struct config *cf, struct buf *out)
{
	dump_max(cf, out, SIZE_MAX);
}

int
config_dump_check(const struct config *cf, size_t max, char *err, size_t errlen)
{
	struct buf b = { 0 };
	struct ytree t;
	char why[512];
	int rc = 0;

	dump_max(cf, &b, max);
	if (buf_len(&b) > max) {
		snprintf(err, errlen, "the configuration expands to more than -T can print as "
		    "one file (%zu MB; alias expansion?)", max >> 20);
		rc = -1;
	} else {
		/* The loader's other limits: nodes and the length of one value. */
		if (ytree_parse(&t, "-T", buf_rptr(&b), buf_len(&b), why, sizeof(why)) < 0) {
			snprintf(err, errlen, "the configuration expands to more than -T can "
			    "print as one file (%s; alias expansion?)", why);
			rc = -1;
		}
		ytree_free(&t);
	}
	buf_release(&b);
	return rc;
}

static void
md_cell(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			buf_puts(out, "\\|");
		else
			buf_append(out, s, 1);
	}
}

void
config_reference(struct buf *out)
{
	static const struct {
		unsigned ctx;
		const char *title;
	} groups[] = {
		{ CTX_MAIN, "Main context" },
		{ CTX_EVENTS, "`events`" },
		{ CTX_MAIL | CTX_SERVER, "`mail` and `server` (`mail.servers[]`)" },
	};

	buf_puts(out, "<!-- Generated by `mailproxy --reference` from config/config_table.c; "
	    "test/unit/test_config_reference.c fails if this page drifts. -->\n");
	buf_puts(out, "# Directive reference\n\n");
	buf_puts(out, "Every directive mailproxy accepts, with its context and default. Names, "
	    "meanings and defaults are nginx's; rows marked *mailproxy only* go beyond nginx, "
	    "rows marked *seed* come from the nginx chapter mailproxy was specified from and "
	    "have since left nginx. See CONFIG.md rules for the YAML notation "
	    "(a multi-argument directive takes a sequence or a space-separated string).\n");
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		buf_printf(out, "\n## %s\n\n", groups[g].title);
		buf_puts(out, "| directive | context | syntax | default | description |\n");
		buf_puts(out, "|---|---|---|---|---|\n");
		for (size_t i = 0; i < ndirectives; i++) {
			const struct directive *d = &directives[i];
			char ctx[64] = "";

			int in;

			if (groups[g].ctx == CTX_MAIN)
				in = d->ctx & CTX_MAIN;
			else if (groups[g].ctx == CTX_EVENTS)
				in = d->ctx & CTX_EVENTS;
			else
				in = (d->ctx & (CTX_MAIL | CTX_SERVER)) && !(d->ctx & CTX_MAIN);
			if (!in)
				continue;
			if (d->ctx & CTX_MAIN)
				strcat(ctx, "main");
			if (d->ctx & CTX_EVENTS)
				strcat(ctx, "events");
			if (d->ctx & CTX_MAIL)
				strcat(ctx, ctx[0] ? ", mail" : "mail");
			if (d->ctx & CTX_SERVER)
				strcat(ctx, ctx[0] ? ", server" : "server");
			buf_printf(out, "| `%s` | %s | ", d->name, ctx);
			md_cell(out, d->syntax ? d->syntax : "");
			buf_puts(out, " | ");
			if (d->dflt && strcmp(d->dflt, "page") == 0)
				buf_puts(out, "page size (4k)");
			else if (d->dflt)
				md_cell(out, d->dflt);
			else
				buf_puts(out, "—");
			buf_puts(out, " | ");
			md_cell(out, d->doc ? d->doc : "");
			if (d->flags & DF_MAILPROXY)
				buf_puts(out, " *(mailproxy only)*");
			if (d->flags & DF_SEED)
				buf_puts(out, " *(seed)*");
			buf_puts(out, " |\n");
		}
	}
}
