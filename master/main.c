/*
 * Entry point: the command line (nginx's flags, see CONFIG.md), then either a
 * one-shot action (-t, -T, -s, -v) or the master process.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>
#include <jansson.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/version.h"
#include "config/config.h"
#include "config/config_nginx.h"
#include "master/master.h"
#include "master/signals.h"
#include "worker/worker.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "Usage: mailproxy [-?hvVtTq] [-s signal] [-p prefix] [-c filename] [-g directives]\n"
	    "\n"
	    "Options:\n"
	    "  -?,-h         : this help\n"
	    "  -v            : show version and exit\n"
	    "  -V            : show version, build options and libraries, and exit\n"
	    "  -t            : test configuration and exit\n"
	    "  -T            : test configuration, print it with defaults filled in, and exit\n"
	    "  -q            : suppress non-error messages during configuration testing\n"
	    "  -s signal     : send signal to a master process: stop, quit, reopen, reload, status,\n                  flush-auth-cache\n"
	    "  -p prefix     : set prefix path (default: directory of the configuration file)\n"
	    "  -c filename   : set configuration file (default: PREFIX/mailproxy.yaml)\n"
	    "  -g directives : set main-context directives, e.g. -g \"daemon: off\"\n"
	    "  --reference   : print the directive reference (Markdown) and exit\n"
	    "  --reference-man : the same as the mailproxy.yaml(5) man page (roff)\n"
	    "  --from-nginx file : print an nginx configuration's main, events and mail\n"
	    "                  directives as mailproxy YAML, and exit\n");
}

/* --from-nginx FILE: the YAML on stdout, or the error and exit status 1. */
static int
from_nginx(const char *path)
{
	struct buf b = { 0 };
	char err[2048];

	if (config_from_nginx(path, &b, err, sizeof(err)) < 0) {
		fprintf(stderr, "mailproxy: %s\n", err);
		buf_release(&b);
		return 1;
	}
	fwrite(buf_rptr(&b), 1, buf_len(&b), stdout);
	buf_release(&b);
	return fflush(stdout) == 0 ? 0 : 1;
}

static void
version(int full)
{
	fprintf(stderr, "mailproxy version: mailproxy/%s\n", MAILPROXY_VERSION);
	if (!full)
		return;
	/* As nginx -V: the OpenSSL it runs with only when it is another one. */
	if (strcmp(OpenSSL_version(OPENSSL_VERSION), OPENSSL_VERSION_TEXT) == 0)
		fprintf(stderr, "built with %s\n", OPENSSL_VERSION_TEXT);
	else
		fprintf(stderr, "built with %s (running with %s)\n", OPENSSL_VERSION_TEXT,
		    OpenSSL_version(OPENSSL_VERSION));
	fprintf(stderr, "libyaml %s, jansson %s\n", yaml_get_version_string(), JANSSON_VERSION);
	fprintf(stderr, "build options: %s\n", MAILPROXY_BUILD_FLAGS);
}

int
main(int argc, char **argv)
{
	const char *conf = NULL, *prefix = NULL, *globals = NULL, *sig = NULL;
	int test = 0, dump = 0, quiet = 0;
	char prefbuf[PATH_MAX], confbuf[PATH_MAX + 32], err[2048];

	proctitle_init(argc, argv);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--reference") == 0 || strcmp(a, "--reference-man") == 0) {
			struct buf b = { 0 };
			if (a[11] == '\0')
				config_reference(&b);
			else
				config_reference_man(&b);
			fwrite(b.data, 1, buf_len(&b), stdout);
			buf_release(&b);
			return 0;
		}
		if (strcmp(a, "--from-nginx") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "mailproxy: option \"--from-nginx\" requires file name\n");
				return 1;
			}
			return from_nginx(argv[i + 1]);
		}
		if (a[0] != '-' || a[1] == '\0' || a[2] != '\0') {
			fprintf(stderr, "mailproxy: invalid option: \"%s\"\n", a);
			usage(stderr);
			return 1;
		}
		switch (a[1]) {
		case '?': case 'h': usage(stdout); return 0;
		case 'v': version(0); return 0;
		case 'V': version(1); return 0;
		case 't': test = 1; break;
		case 'T': test = dump = 1; break;
		case 'q': quiet = 1; break;
		case 'c': case 'p': case 'g': case 's':
			if (i + 1 >= argc) {
				fprintf(stderr, "mailproxy: option \"-%c\" requires %s\n", a[1],
				    a[1] == 'c' ? "file name" : a[1] == 'p' ? "directory name" :
				    a[1] == 'g' ? "parameter" : "signal name");
				return 1;
			}
			if (a[1] == 'c')
				conf = argv[++i];
			else if (a[1] == 'p')
				prefix = argv[++i];
			else if (a[1] == 'g')
				globals = argv[++i];
			else
				sig = argv[++i];
			break;
		default:
			fprintf(stderr, "mailproxy: invalid option: \"%s\"\n", a);
			usage(stderr);
			return 1;
		}
	}

	/* The prefix: -p, else the configuration file's directory, else the cwd. */
	if (prefix == NULL) {
		if (conf != NULL && strchr(conf, '/') != NULL) {
			snprintf(prefbuf, sizeof(prefbuf), "%s", conf);
			*strrchr(prefbuf, '/') = '\0';
			if (prefbuf[0] == '\0')
				snprintf(prefbuf, sizeof(prefbuf), "/");
		} else if (getcwd(prefbuf, sizeof(prefbuf)) == NULL) {
			snprintf(prefbuf, sizeof(prefbuf), ".");
		}
		prefix = prefbuf;
	}
	char absprefix[PATH_MAX];
	if (realpath(prefix, absprefix) == NULL) {
		fprintf(stderr, "mailproxy: prefix \"%s\": %s\n", prefix, strerror(errno));
		return 1;
	}
	prefix = absprefix;
	if (conf == NULL) {
		snprintf(confbuf, sizeof(confbuf), "%s/mailproxy.yaml", prefix);
		conf = confbuf;
	}

	if (sig != NULL)
		return signal_master(conf, prefix, globals, sig);

	struct config *cf = config_load(conf, prefix, globals, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "mailproxy: %s\n", err);
		if (test)
			fprintf(stderr, "mailproxy: configuration file %s test failed\n", conf);
		return 1;
	}
	if (test && worker_config_test(cf, err, sizeof(err)) < 0) {
		fprintf(stderr, "mailproxy: %s\n", err);
		fprintf(stderr, "mailproxy: configuration file %s test failed\n", conf);
		config_free(cf);
		return 1;
	}
	if (test) {
		for (size_t i = 0; i < cf->warnings.n; i++)
			fprintf(stderr, "mailproxy: [warn] %s\n", cf->warnings.v[i]);
		if (!quiet) {
			fprintf(stderr, "mailproxy: the configuration file %s syntax is ok\n", conf);
			fprintf(stderr, "mailproxy: configuration file %s test is successful\n", conf);
		}
		if (dump) {
			struct buf b = { 0 };
			config_dump(cf, &b);
			fwrite(b.data, 1, buf_len(&b), stdout);
			buf_release(&b);
		}
		config_free(cf);
		return 0;
	}
	return master_main(cf, globals, argc, argv);
}
