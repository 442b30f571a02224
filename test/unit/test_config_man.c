/*
 * mailproxy.yaml(5) as config_reference_man() prints it from the table: one
 * entry per row of the Markdown reference, every line either one of the few
 * requests it uses or text that cannot start one, and every backslash an
 * escape groff knows (a syntax or doc string holding "\" or a leading "."
 * must not turn into roff). docs/mailproxy.yaml.5 drifting is make check-docs'.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/buf.h"
#include "config/config.h"
#include "config/config_int.h"

static char *
text_of(void (*gen)(struct buf *))
{
	struct buf b = { 0 };
	char *s;

	gen(&b);
	s = malloc(buf_len(&b) + 1);
	cr_assert_not_null(s);
	memcpy(s, buf_rptr(&b), buf_len(&b));
	s[buf_len(&b)] = '\0';
	buf_release(&b);
	return s;
}

static size_t
count(const char *s, const char *what)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what))
		n++;
	return n;
}

Test(config_man, one_entry_per_reference_row)
{
	char *md = text_of(config_reference), *man = text_of(config_reference_man);
	char want[128];

	cr_assert_eq(count(man, "\n.TP\n.B "), count(md, "\n| `"),
	    "man entries %zu, reference rows %zu", count(man, "\n.TP\n.B "), count(md, "\n| `"));
	for (size_t i = 0; i < ndirectives; i++) {
		snprintf(want, sizeof(want), "\n| `%s` |", directives[i].name);
		if (strstr(md, want) == NULL)
			continue;
		snprintf(want, sizeof(want), "\n.TP\n.B %s\n", directives[i].name);
		cr_assert_not_null(strstr(man, want), "no entry for %s", directives[i].name);
	}
	cr_assert(strncmp(strstr(man, ".TH "), ".TH MAILPROXY.YAML 5 ", 21) == 0);
	free(md);
	free(man);
}

Test(config_man, only_known_requests_and_escapes)
{
	static const char *requests[] = { ".\\\" ", ".TH ", ".SH ", ".TP\n", ".B ", ".BR ",
	    ".I ", ".br\n", ".PP\n" };
	char *man = text_of(config_reference_man);

	for (char *line = man; *line; line = strchr(line, '\n') + 1) {
		if (line[0] == '.' || line[0] == '\'') {
			int known = 0;
			for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
				known |= strncmp(line, requests[i], strlen(requests[i])) == 0;
			cr_assert(known, "unexpected request: %.40s", line);
		}
		cr_assert_not_null(strchr(line, '\n'), "the page ends without a newline");
	}
	for (const char *p = man; (p = strchr(p, '\\')) != NULL; p += 2)
		cr_assert_not_null(strchr("e-&f\"", p[1]), "bare backslash: %.20s", p);
	free(man);
}
