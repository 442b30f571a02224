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

#include "common/version.h"
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

/* One field of the reference: a Markdown table cell, or roff text on a line of its own. */
static void
ref_text(struct buf *out, int man, const char *s)
{
	if (man)
		buf_puts(out, "\\&");	/* a line never starts a request, whatever s holds */
	for (; *s; s++) {
		if (!man && *s == '|')
			buf_puts(out, "\\|");
		else if (man && *s == '\\')
			buf_puts(out, "\\e");
		else if (man && *s == '-')
			buf_puts(out, "\\-");	/* option words, copied and pasted, stay ASCII */
		else
			buf_append(out, s, 1);
	}
}

static void
ref_header(struct buf *out, int man)
{
	static const char intro[] = "Every directive mailproxy accepts, with its context and "
	    "default. Names, meanings and defaults are nginx's; %s go beyond nginx, %s come from "
	    "the nginx chapter mailproxy was specified from and have since left nginx.";

	if (!man) {
		buf_puts(out, "<!-- Generated by `mailproxy --reference` from config/config_table.c; "
		    "test/unit/test_config_reference.c fails if this page drifts. -->\n");
		buf_puts(out, "# Directive reference\n\n");
		buf_printf(out, intro, "rows marked *mailproxy only*", "rows marked *seed*");
		buf_puts(out, " See CONFIG.md rules for the YAML notation (a multi-argument directive "
		    "takes a sequence or a space-separated string).\n");
		return;
	}
	buf_puts(out, ".\\\" Generated by mailproxy --reference-man from config/config_table.c;\n"
	    ".\\\" make check-docs fails if this page drifts.\n"
	    ".TH MAILPROXY.YAML 5 \"\" \"mailproxy " MAILPROXY_VERSION "\" \"File Formats\"\n"
	    ".SH NAME\nmailproxy.yaml \\- mailproxy configuration file\n"
	    ".SH DESCRIPTION\n"
	    "The configuration of\n.BR mailproxy (8)\n"
	    "is nginx's\n.B mail {}\nblock written as YAML: one nginx directive is one key of the "
	    "same name, in the same context. A multi\\-argument directive takes a sequence or a "
	    "space\\-separated string; nginx's repeated\n.B server {}\nblocks are the sequence\n"
	    ".BR mail.servers .\n"
	    "Directives allowed in both\n.B mail\nand\n.B server\nare inherited by servers as "
	    "nginx merges them. Times use nginx units (500ms 5s 1h; a bare number is seconds), "
	    "sizes k or m. Relative paths resolve against the prefix\n(\\fB\\-p\\fR, "
	    "by default the directory of the configuration file).\n"
	    ".PP\n");
	buf_printf(out, intro, "directives marked \"mailproxy only\"", "those marked \"seed\"");
	buf_puts(out, "\n.PP\n\\fBmailproxy \\-t\\fR checks a file, \\fBmailproxy \\-T\\fR prints it "
	    "with every default filled in.\n");
}

static void
ref_row(struct buf *out, int man, const struct directive *d, const char *ctx)
{
	const char *dflt = d->dflt && strcmp(d->dflt, "page") == 0 ? "page size (4k)" : d->dflt;

	if (man) {
		buf_printf(out, ".TP\n.B %s\n", d->name);
		ref_text(out, 1, d->syntax ? d->syntax : "");
		buf_printf(out, "\n.br\nContext: %s. Default: ", ctx);
		if (dflt)
			ref_text(out, 1, dflt);
		else
			buf_puts(out, "none");
		buf_puts(out, ".\n.br\n");
		ref_text(out, 1, d->doc ? d->doc : "");
		buf_puts(out, (d->flags & DF_MAILPROXY) ? " (mailproxy only)" : "");
		buf_puts(out, (d->flags & DF_SEED) ? " (seed)" : "");
		buf_puts(out, "\n");
		return;
	}
	buf_printf(out, "| `%s` | %s | ", d->name, ctx);
	ref_text(out, 0, d->syntax ? d->syntax : "");
	buf_puts(out, " | ");
	if (dflt)
		ref_text(out, 0, dflt);
	else
		buf_puts(out, "—");
	buf_puts(out, " | ");
	ref_text(out, 0, d->doc ? d->doc : "");
	if (d->flags & DF_MAILPROXY)
		buf_puts(out, " *(mailproxy only)*");
	if (d->flags & DF_SEED)
		buf_puts(out, " *(seed)*");
	buf_puts(out, " |\n");
}

/* The directive reference, as docs/directives.md (Markdown) or mailproxy.yaml(5) (roff). */
static void
reference(struct buf *out, int man)
{
	static const struct {
		unsigned ctx;
		const char *title, *man_title;
	} groups[] = {
		{ CTX_MAIN, "Main context", "MAIN CONTEXT" },
		{ CTX_EVENTS, "`events`", "EVENTS" },
		{ CTX_MAIL | CTX_SERVER, "`mail` and `server` (`mail.servers[]`)", "MAIL AND SERVER" },
	};

	ref_header(out, man);
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		if (man) {
			buf_printf(out, ".SH %s\n", groups[g].man_title);
		} else {
			buf_printf(out, "\n## %s\n\n", groups[g].title);
			buf_puts(out, "| directive | context | syntax | default | description |\n");
			buf_puts(out, "|---|---|---|---|---|\n");
		}
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
			ref_row(out, man, d, ctx);
		}
	}
	if (man)
		buf_puts(out, ".SH FILES\n.TP\n.I /etc/mailproxy/mailproxy.yaml\n"
		    "the configuration of the packaged service (\\fBmake install\\fR: "
		    "\\fIPREFIX\\fB/etc/mailproxy/mailproxy.yaml\\fR)\n"
		    ".SH SEE ALSO\n.BR mailproxy (8)\n");
}

void
config_reference(struct buf *out)
{
	reference(out, 0);
}

void
config_reference_man(struct buf *out)
{
	reference(out, 1);
}
