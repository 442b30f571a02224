# mailproxy — see README.md.
#   make            build ./mailproxy
#   make check      install deps, the size and include checks, build, unit + integration tests,
#                   then both again under ASan+UBSan, then the fuzz corpora
#   make demo       run the proxy against real Dovecot/Postfix with the example auth service
#   make bench      side-by-side benchmark against nginx's mail proxy
#   make fuzz       every libFuzzer harness in test/fuzz/ for FUZZ_SECONDS (default 60) each
#   make fuzz-replay  the committed fuzz corpora through every harness (part of make check)
#   make install    binary, man pages, systemd unit, logrotate file, config (PREFIX, DESTDIR)
#   make deb        a Debian package (dpkg-buildpackage) in build-deb/

CC ?= cc
PKG_CONFIG ?= pkg-config
PYTHON ?= python3
PKGS := openssl yaml-0.1 jansson libcares hiredis
BUILD ?= build
SAN ?= 0
# The sanitizer pass uses clang: its UBSan also checks pointer arithmetic (NULL + 0),
# which gcc's does not, and it ships libFuzzer for the harnesses in test/fuzz/.
SAN_CC ?= clang
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 2

PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS))
CRIT_CFLAGS = $(shell $(PKG_CONFIG) --cflags criterion)
CRIT_LIBS = $(shell $(PKG_CONFIG) --libs criterion)

WARN := -std=c11 -Wall -Wextra -Werror
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ifeq ($(SAN),1)
OPT := -O1 -g $(SAN_FLAGS)
else ifeq ($(SAN),fuzz)
# Coverage-guided: the library and the harnesses are instrumented for libFuzzer.
OPT := -O1 -g $(SAN_FLAGS) -fsanitize=fuzzer-no-link
else
OPT := -O2 -g
endif
CPPFLAGS += -D_GNU_SOURCE -I.
CFLAGS_ALL = $(WARN) $(OPT) $(CPPFLAGS) $(PKG_CFLAGS) -MMD -MP \
	-DMAILPROXY_BUILD_FLAGS='"$(WARN) $(OPT)"'
LDLIBS_ALL = $(PKG_LIBS) -lpthread

SRCS := $(wildcard common/*.c config/*.c worker/*.c worker/*/*.c master/*.c)
LIB_SRCS := $(filter-out master/main.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(BUILD)/master/main.o
UNIT_SRCS := $(wildcard test/unit/*.c)
UNIT_OBJS := $(UNIT_SRCS:%.c=$(BUILD)/%.o)
FUZZ_SRCS := $(wildcard test/fuzz/fuzz_*.c)
FUZZ_LIB_SRCS := $(wildcard test/fuzz/lib/*.c)
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(BUILD)/%.o)
FUZZ_BINS := $(FUZZ_SRCS:test/fuzz/%.c=$(BUILD)/fuzz/%)
BENCH_SRCS := $(wildcard test/bench/*.c)
BENCH_BINS := $(BENCH_SRCS:test/bench/%.c=$(BUILD)/bench/%)

ifeq ($(SAN),1)
BIN := $(BUILD)/mailproxy
else
BIN := mailproxy
endif

.PHONY: all check unit integration asan asan-unit deps demo bench bench-tools clean size check-includes check-pure docs check-docs \
	fuzz fuzz-bins fuzz-replay install uninstall deb

# Objects are rebuilt when the compiler or its flags change (a tree built without
# SAN=1 must not lend its objects to a sanitizer build): every object depends on a
# stamp that is rewritten only when the flags differ from the last build's.
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW = $(CC) $(CFLAGS_ALL) $(CRIT_CFLAGS) $(LDLIBS_ALL)
ifneq ($(file <$(FLAGS_STAMP)),$(FLAGS_NOW))
$(shell mkdir -p $(BUILD))
$(file >$(FLAGS_STAMP),$(FLAGS_NOW))
endif

all: $(BIN) cert.pem

# A self-signed pair for mailproxy.yaml.example and the demo (not committed).
cert.pem:
	scripts/gen-cert.sh . cert

$(BIN): $(LIB_OBJS) $(MAIN_OBJ) $(FLAGS_STAMP)
	$(CC) $(OPT) $(LDFLAGS) -o $@ $(LIB_OBJS) $(MAIN_OBJ) $(LDLIBS_ALL)

$(BUILD)/test/unit/%.o: test/unit/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CRIT_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

# libFuzzer harnesses (clang only): linked with the library objects of this BUILD.
$(BUILD)/fuzz/%: $(BUILD)/test/fuzz/%.o $(FUZZ_LIB_OBJS) $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(OPT) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJS) $(LIB_OBJS) $(LDLIBS_ALL)

fuzz-bins: $(FUZZ_BINS)

# Objects reached only through the pattern rule above are kept, not deleted as
# intermediates (every harness would compile them again).
.SECONDARY: $(FUZZ_LIB_OBJS) $(FUZZ_SRCS:%.c=$(BUILD)/%.o)

$(BUILD)/unit-tests: $(LIB_OBJS) $(UNIT_OBJS) $(FLAGS_STAMP)
	$(CC) $(OPT) -o $@ $(LIB_OBJS) $(UNIT_OBJS) $(LDLIBS_ALL) $(CRIT_LIBS)

$(BUILD)/bench/%: test/bench/%.c $(wildcard test/bench/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O2 -g $(CPPFLAGS) $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS)

deps:
	@scripts/deps.sh test

# Unit tests run from the repository root (fixtures are found by relative path).
unit: $(BUILD)/unit-tests
	$(BUILD)/unit-tests --jobs 2 --short-filename

integration: $(BIN)
	$(PYTHON) test/integration/run.py --bin $(abspath $(BIN))

size:
	@scripts/check-size.sh

# Every #include points down the layers of README's Layout.
check-includes:
	@scripts/check-includes.sh

# The built protocol machines call no I/O, log, timer or TLS function.
check-pure: $(BIN)
	@scripts/check-pure.sh $(BUILD)

docs: $(BIN)
	./$(BIN) --reference > docs/directives.md
	./$(BIN) --reference-man > docs/mailproxy.yaml.5

check-docs: $(BIN)
	@./$(BIN) --reference | diff -u docs/directives.md - \
	  || { echo "docs/directives.md is stale: run 'make docs'"; exit 1; }
	@./$(BIN) --reference-man | diff -u docs/mailproxy.yaml.5 - \
	  || { echo "docs/mailproxy.yaml.5 is stale: run 'make docs'"; exit 1; }

# The sanitizers' options for the integration tests (a leak or UB report fails a test).
SAN_IT_ENV := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

asan: asan-unit
	$(SAN_IT_ENV) $(PYTHON) test/integration/run.py --bin $(abspath build-asan/mailproxy) --sanitizer

asan-unit:
	$(MAKE) SAN=1 CC=$(SAN_CC) BUILD=build-asan all build-asan/unit-tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  build-asan/unit-tests --jobs 2 --short-filename

check: deps
	$(MAKE) size
	$(MAKE) check-includes
	$(MAKE) all
	$(MAKE) check-pure
	$(MAKE) check-docs
	$(MAKE) unit
	$(MAKE) asan-unit
	PYTHON=$(PYTHON) SAN_IT_ENV="$(SAN_IT_ENV)" scripts/integration-pair.sh $(abspath $(BIN)) \
	  $(abspath build-asan/mailproxy) $(abspath $(BUILD))
	$(MAKE) fuzz-replay

# Replays every committed corpus file once through its harness, in the sanitizer
# build (deterministic, seconds): an input that once crashed fails CI.
fuzz-replay:
	$(MAKE) SAN=1 CC=$(SAN_CC) BUILD=build-asan fuzz-bins
	scripts/fuzz.sh replay build-asan/fuzz

# Coverage-guided fuzzing, FUZZ_SECONDS per harness, FUZZ_JOBS at a time; new
# inputs go to build-fuzz/corpus/, crashes to build-fuzz/crashes/.
fuzz:
	$(MAKE) SAN=fuzz CC=$(FUZZ_CC) BUILD=build-fuzz fuzz-bins
	scripts/fuzz.sh run build-fuzz/fuzz $(FUZZ_SECONDS) $(FUZZ_JOBS)

demo: deps all
	scripts/demo.sh

bench-tools: $(BENCH_BINS)

bench: all
	@scripts/deps.sh bench
	$(MAKE) bench-tools
	$(PYTHON) test/bench/run.py --bin $(abspath mailproxy) --tools $(abspath $(BUILD)/bench)

# ---- Packaging (README "Install and run"; scripts/dist/README.md) ----
# The unit and the logrotate file name /run/mailproxy and /var/log/mailproxy,
# where scripts/dist/dist-config.sh points the installed configuration;
# logrotate reads only /etc/logrotate.d, whatever the prefix.
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
SYSCONFDIR ?= $(PREFIX)/etc
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/mailproxy
UNITDIR ?= $(PREFIX)/lib/systemd/system
LOGROTATEDIR ?= /etc/logrotate.d
INSTALL ?= install
CONF_DEST = $(DESTDIR)$(SYSCONFDIR)/mailproxy/mailproxy.yaml

# The configuration is written only where none is: an operator's file is never replaced.
install: $(BIN)
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(LOGROTATEDIR) $(DESTDIR)$(SYSCONFDIR)/mailproxy
	$(INSTALL) -m 755 $(BIN) $(DESTDIR)$(SBINDIR)/mailproxy
	$(INSTALL) -m 644 docs/mailproxy.8 $(DESTDIR)$(MANDIR)/man8/mailproxy.8
	$(INSTALL) -m 644 docs/mailproxy.yaml.5 $(DESTDIR)$(MANDIR)/man5/mailproxy.yaml.5
	$(INSTALL) -m 644 README.md mailproxy.yaml.example $(DESTDIR)$(DOCDIR)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	  scripts/dist/mailproxy.service.in > $(DESTDIR)$(UNITDIR)/mailproxy.service
	chmod 644 $(DESTDIR)$(UNITDIR)/mailproxy.service
	$(INSTALL) -m 644 scripts/dist/mailproxy.logrotate $(DESTDIR)$(LOGROTATEDIR)/mailproxy
	@if [ -e $(CONF_DEST) ]; then \
	  echo "make install: $(CONF_DEST) exists, kept (the new example is in $(DOCDIR))"; \
	else \
	  scripts/dist/dist-config.sh mailproxy.yaml.example $(CONF_DEST).new && \
	  chmod 640 $(CONF_DEST).new && mv $(CONF_DEST).new $(CONF_DEST) && \
	  echo "make install: wrote $(CONF_DEST)"; \
	fi

# Leaves the configuration (the operator's) and the logs.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/mailproxy $(DESTDIR)$(MANDIR)/man8/mailproxy.8 \
	  $(DESTDIR)$(MANDIR)/man5/mailproxy.yaml.5 $(DESTDIR)$(UNITDIR)/mailproxy.service \
	  $(DESTDIR)$(LOGROTATEDIR)/mailproxy $(DESTDIR)$(DOCDIR)/README.md \
	  $(DESTDIR)$(DOCDIR)/mailproxy.yaml.example
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null

# The .deb is built from a copy of the sources with debian/ generated from
# scripts/dist/debian/ (the top level stays as README's Layout has it).
DEB_DIR ?= build-deb
VERSION = $(shell sed -n 's/^\#define MAILPROXY_VERSION "\(.*\)"/\1/p' common/version.h)
DEB_SRC = $(DEB_DIR)/mailproxy-$(VERSION)

deb:
	@scripts/deps.sh deb
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_SRC)
	tar -cf - Makefile README.md mailproxy.yaml.example common config master worker scripts docs \
	  | tar -xf - -C $(DEB_SRC)
	cp -r scripts/dist/debian $(DEB_SRC)/debian
	sed -e 's|@VERSION@|$(VERSION)|' -e "s|@DATE@|$$(date -R)|" \
	  scripts/dist/debian/changelog.in > $(DEB_SRC)/debian/changelog
	rm $(DEB_SRC)/debian/changelog.in
	cd $(DEB_SRC) && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b
	@ls $(DEB_DIR)/*.deb

clean:
	rm -rf build build-asan build-fuzz build-deb mailproxy cert.pem cert.key

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
