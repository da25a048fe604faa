# bulwark: `make run` and `make test` install what is missing, build, and go.
CC ?= gcc
PYTHON := /usr/bin/python3
PKGS := yaml-0.1 libsodium libseccomp wolfssl

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

INCLUDES := -Icommon -Ibroker -Iauth -Isupervisor -Icli -Ipolicy
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla
BASE_CFLAGS := -std=c17 -D_GNU_SOURCE -g $(WARN) $(INCLUDES)
REL_CFLAGS := -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
REL_LDFLAGS := -pie -Wl,-z,relro,-z,now
SAN_FLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# Library sources: everything but the files that hold a main().
LIB_SRC := $(wildcard common/*.c broker/*.c auth/*.c supervisor/*.c policy/*.c)
LIB_SRC := $(filter-out supervisor/bulwarkd_main.c,$(LIB_SRC))
CLI_SRC := $(wildcard cli/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
BENCH_SRC := $(wildcard bench/*.c)

REL_OBJ := $(LIB_SRC:%.c=build/obj/%.o)
SAN_OBJ := $(LIB_SRC:%.c=build/asan/obj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)

.PHONY: all deps run test unit integration asan bench clean format lint tidy
all: build/bulwarkd build/bulwark

deps:
	@scripts/install-deps.sh
	@scripts/ensure-users.sh

# -MMD: each object depends on exactly the headers it includes.
build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(REL_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

build/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(SAN_FLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find build -name '*.d' 2>/dev/null)

build/bulwarkd: build/obj/supervisor/bulwarkd_main.o $(REL_OBJ)
	$(CC) $(REL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

build/bulwark: $(CLI_SRC:%.c=build/obj/%.o) $(REL_OBJ)
	$(CC) $(REL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

build/asan/bulwarkd: build/asan/obj/supervisor/bulwarkd_main.o $(SAN_OBJ)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS)

build/asan/bulwark: $(CLI_SRC:%.c=build/asan/obj/%.o) $(SAN_OBJ)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS)

build/asan/tests/%: tests/unit/%.c $(SAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(SAN_FLAGS) $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

build/bench/bulwark-tls-bench: bench/tls/tls_bench.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(REL_CFLAGS) $(PKG_CFLAGS) -o $@ $< -lwolfssl -lpthread

build/bench/bulwark-bench: $(BENCH_SRC) build/obj/broker/mqtt_codec.o build/obj/broker/mqtt_props.o
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(REL_CFLAGS) -o $@ $^ -lm

asan: build/asan/bulwarkd build/asan/bulwark $(UNIT_BIN)

# Unit tests (cmocka) and integration tests (pytest, real processes), all under ASan+UBSan.
test: deps
	@$(MAKE) --no-print-directory all asan
	@$(MAKE) --no-print-directory unit integration

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

integration: build/asan/bulwarkd build/asan/bulwark
	BULWARKD=$(CURDIR)/build/asan/bulwarkd BULWARK=$(CURDIR)/build/asan/bulwark \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run-dev.sh

bench: deps
	@$(MAKE) --no-print-directory all build/bench/bulwark-bench build/bench/bulwark-tls-bench
	@bench/run.sh
	@bench/tls.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --std=c11 \
	  --suppress=missingIncludeSystem $(INCLUDES) common broker auth supervisor cli

clean:
	rm -rf build

TIDY_SRC := $(wildcard common/*.c broker/*.c auth/*.c supervisor/*.c cli/*.c)
tidy:
	@clang-tidy -quiet $(TIDY_SRC) -- -std=c17 -D_GNU_SOURCE $(INCLUDES) $(PKG_CFLAGS)

include fuzz/fuzz.mk

# ---- auth plugins (auth/plugin.h): the example plugin and the unit tests' test plugin ----
# Shared objects, loaded with dlopen by the auth daemon; go-w because the loader refuses a
# plugin that others could rewrite.
PLUGIN_CFLAGS := $(BASE_CFLAGS) -fPIC -shared
PLUGIN_LIBS = $(shell pkg-config --libs libsodium 2>/dev/null)
ASAN_PLUGINS := build/asan/plugins/example_plugin.so build/asan/plugins/test_plugin.so

build/plugins/example_plugin.so: auth/plugins/example_plugin.c auth/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) $(filter-out -fPIE,$(REL_CFLAGS)) $(PKG_CFLAGS) -Wl,-z,relro,-z,now \
	  -o $@ $< $(PLUGIN_LIBS)
	@chmod go-w $@

build/asan/plugins/example_plugin.so: auth/plugins/example_plugin.c auth/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) $(SAN_FLAGS) $(PKG_CFLAGS) -o $@ $< $(PLUGIN_LIBS)
	@chmod go-w $@

build/asan/plugins/test_plugin.so: tests/unit/test_plugin.c auth/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) $(SAN_FLAGS) -DBULWARK_TEST_PLUGIN -o $@ $<
	@chmod go-w $@

all: build/plugins/example_plugin.so
asan unit: $(ASAN_PLUGINS)
build/asan/tests/test_plugin: | $(ASAN_PLUGINS)
# ---- end auth plugins ----
