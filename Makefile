# mailproxy — see README.md.
#   make            build ./mailproxy
#   make check      install deps, build, unit + integration tests, then both again under ASan+UBSan
#   make demo       run the proxy against real Dovecot/Postfix with the example auth service
#   make bench      side-by-side benchmark against nginx's mail proxy

CC ?= cc
PKG_CONFIG ?= pkg-config
PYTHON ?= python3
PKGS := openssl yaml-0.1 jansson libcares
BUILD ?= build
SAN ?= 0

PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS))
CRIT_CFLAGS = $(shell $(PKG_CONFIG) --cflags criterion)
CRIT_LIBS = $(shell $(PKG_CONFIG) --libs criterion)

WARN := -std=c11 -Wall -Wextra -Werror
ifeq ($(SAN),1)
OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
OPT := -O2 -g
endif
CPPFLAGS += -D_GNU_SOURCE -I.
CFLAGS_ALL = $(WARN) $(OPT) $(CPPFLAGS) $(PKG_CFLAGS) -MMD -MP \
	-DMAILPROXY_BUILD_FLAGS='"$(WARN) $(OPT)"'
LDLIBS_ALL = $(PKG_LIBS) -lpthread

SRCS := $(wildcard common/*.c config/*.c worker/*.c master/*.c)
LIB_SRCS := $(filter-out master/main.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(BUILD)/master/main.o
UNIT_SRCS := $(wildcard test/unit/*.c)
UNIT_OBJS := $(UNIT_SRCS:%.c=$(BUILD)/%.o)
BENCH_SRCS := $(wildcard test/bench/*.c)
BENCH_BINS := $(BENCH_SRCS:test/bench/%.c=$(BUILD)/bench/%)

ifeq ($(SAN),1)
BIN := $(BUILD)/mailproxy
else
BIN := mailproxy
endif

.PHONY: all check unit integration asan deps demo bench bench-tools clean size docs check-docs

all: $(BIN) cert.pem

# A self-signed pair for mailproxy.yaml.example and the demo (not committed).
cert.pem:
	scripts/gen-cert.sh . cert

$(BIN): $(LIB_OBJS) $(MAIN_OBJ)
	$(CC) $(OPT) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/test/unit/%.o: test/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CRIT_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/unit-tests: $(LIB_OBJS) $(UNIT_OBJS)
	$(CC) $(OPT) -o $@ $^ $(LDLIBS_ALL) $(CRIT_LIBS)

$(BUILD)/bench/%: test/bench/%.c test/bench/bench_common.h
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

docs: $(BIN)
	./$(BIN) --reference > docs/directives.md

check-docs: $(BIN)
	@./$(BIN) --reference | diff -u docs/directives.md - \
	  || { echo "docs/directives.md is stale: run 'make docs'"; exit 1; }

asan:
	$(MAKE) SAN=1 BUILD=build-asan all build-asan/unit-tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  build-asan/unit-tests --jobs 2 --short-filename
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(PYTHON) test/integration/run.py --bin $(abspath build-asan/mailproxy) --sanitizer

check: deps
	$(MAKE) size
	$(MAKE) all
	$(MAKE) check-docs
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) asan

demo: deps all
	scripts/demo.sh

bench-tools: $(BENCH_BINS)

bench: all
	@scripts/deps.sh bench
	$(MAKE) bench-tools
	$(PYTHON) test/bench/run.py --bin $(abspath mailproxy) --tools $(abspath $(BUILD)/bench)

clean:
	rm -rf build build-asan mailproxy cert.pem cert.key

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
