# fuzz.mk: fuzz harnesses (included by the top-level Makefile). See docs/FUZZING.md.
#
#   make fuzz-smoke   build every harness with ASan+UBSan and run each under AFL++ for
#                     FUZZ_SMOKE_SECONDS (CI); fails on any crash, hang or leak
#   make fuzz         campaign: AFL++ main + secondaries on all cores (FUZZ_TIME seconds per
#                     harness per round, FUZZ_ROUNDS rounds, 0 = until stopped; FUZZ_HARNESS)
#   make fuzz-build   AFL++ (build/fuzz/afl) and libFuzzer (build/fuzz/libfuzzer) binaries
#   make fuzz-seeds   regenerate fuzz/corpus/ from the codec's encoders
#   make fuzz-coverage  line coverage the corpora reach (llvm-cov), per harness
#
# AFL++ builds use afl-clang-fast with -fsanitize=fuzzer: with Debian's afl++ 4.04c that
# links libAFLDriver (persistent mode, shared-memory input) around LLVMFuzzerTestOneInput.
# The same harness sources build as plain libFuzzer targets with clang.

FUZZ_HARNESSES := mqtt_decode ipc_decode config topic session jwt policy cert
FUZZ_OUT := build/fuzz
FUZZ_AFL_CC ?= afl-clang-fast
FUZZ_CLANG ?= clang
FUZZ_SMOKE_SECONDS ?= 30
FUZZ_TIME ?= 1800
FUZZ_ROUNDS ?= 0
FUZZ_HARNESS ?=

FUZZ_CFLAGS := -std=c17 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer $(INCLUDES) -Ifuzz \
  -Wall -Wextra -Wshadow -Wformat=2 -Wvla $(PKG_CFLAGS)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_COV := -fprofile-instr-generate -fcoverage-mapping

# Library code goes into one archive per build flavour, so each harness links only the
# objects it actually reaches (edge counts stay meaningful). broker/ and common/ whole (the
# worker reaches into both, more each release); from auth/, acl.c (the decision code
# fuzz_session's stand-in auth daemon uses), what fuzz_jwt verifies tokens with, and the
# certificate checks fuzz_cert drives.
FUZZ_LIB_SRC := $(wildcard broker/*.c common/*.c policy/*.c) \
  $(addprefix auth/,acl.c backend_jwt.c base64url.c json_min.c jwt.c cert_fields.c cert_check.c)

FUZZ_AFL_BIN := $(FUZZ_HARNESSES:%=$(FUZZ_OUT)/afl/fuzz_%)
FUZZ_LF_BIN := $(FUZZ_HARNESSES:%=$(FUZZ_OUT)/libfuzzer/fuzz_%)
FUZZ_CMPLOG_BIN := $(FUZZ_HARNESSES:%=$(FUZZ_OUT)/cmplog/fuzz_%)
FUZZ_COV_BIN := $(FUZZ_HARNESSES:%=$(FUZZ_OUT)/cov/fuzz_%)

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-cmplog fuzz-seeds fuzz-status fuzz-coverage

$(FUZZ_OUT)/afl/obj/%.o: %.c
	@mkdir -p $(dir $@)
	AFL_QUIET=1 $(FUZZ_AFL_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -MMD -MP -c $< -o $@

$(FUZZ_OUT)/libfuzzer/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CLANG) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

# CmpLog copies for the campaign's comparison-solving instance (no sanitizers, as AFL++
# recommends: it only traces comparisons; crashes are confirmed on the ASan build).
$(FUZZ_OUT)/cmplog/obj/%.o: %.c
	@mkdir -p $(dir $@)
	AFL_QUIET=1 AFL_LLVM_CMPLOG=1 $(FUZZ_AFL_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

# Source-based coverage copies, to see what a corpus reaches (fuzz/coverage).
$(FUZZ_OUT)/cov/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CLANG) $(FUZZ_CFLAGS) $(FUZZ_COV) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

define FUZZ_ARCHIVE_RULE
$(FUZZ_OUT)/$(1)/libbulwark.a: $(FUZZ_LIB_SRC:%.c=$(FUZZ_OUT)/$(1)/obj/%.o)
	@rm -f $$@
	ar rcs $$@ $$^
endef
$(foreach f,afl libfuzzer cmplog cov,$(eval $(call FUZZ_ARCHIVE_RULE,$(f))))

define FUZZ_HARNESS_RULES
$(FUZZ_OUT)/afl/fuzz_$(1): $(FUZZ_OUT)/afl/obj/fuzz/fuzz_$(1).o $(FUZZ_OUT)/afl/libbulwark.a
	AFL_QUIET=1 $(FUZZ_AFL_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $$@ $$^ $(PKG_LIBS)

$(FUZZ_OUT)/libfuzzer/fuzz_$(1): $(FUZZ_OUT)/libfuzzer/obj/fuzz/fuzz_$(1).o $(FUZZ_OUT)/libfuzzer/libbulwark.a
	$(FUZZ_CLANG) $(FUZZ_SAN) -fsanitize=fuzzer -o $$@ $$^ $(PKG_LIBS)

$(FUZZ_OUT)/cmplog/fuzz_$(1): $(FUZZ_OUT)/cmplog/obj/fuzz/fuzz_$(1).o $(FUZZ_OUT)/cmplog/libbulwark.a
	AFL_QUIET=1 AFL_LLVM_CMPLOG=1 $(FUZZ_AFL_CC) -fsanitize=fuzzer -o $$@ $$^ $(PKG_LIBS)

$(FUZZ_OUT)/cov/fuzz_$(1): $(FUZZ_OUT)/cov/obj/fuzz/fuzz_$(1).o $(FUZZ_OUT)/cov/libbulwark.a
	$(FUZZ_CLANG) $(FUZZ_COV) -fsanitize=fuzzer -o $$@ $$^ $(PKG_LIBS)
endef
$(foreach h,$(FUZZ_HARNESSES),$(eval $(call FUZZ_HARNESS_RULES,$(h))))

# Regression tests written by fuzz/triage #include a harness: rebuild them when it changes
# (the generic test rule only knows the test's own source). Same recipe otherwise.
FUZZ_REGRESS_BIN := $(patsubst tests/unit/%.c,build/asan/tests/%,\
  $(wildcard tests/unit/test_fuzz_regress_*.c))
$(FUZZ_REGRESS_BIN): build/asan/tests/%: tests/unit/%.c $(SAN_OBJ) $(wildcard fuzz/*.c fuzz/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(SAN_FLAGS) $(PKG_CFLAGS) -o $@ $< $(SAN_OBJ) $(PKG_LIBS) -lcmocka

fuzz-build: $(FUZZ_AFL_BIN) $(FUZZ_LF_BIN)

fuzz-cmplog: $(FUZZ_CMPLOG_BIN)

$(FUZZ_OUT)/seedgen: fuzz/seedgen.c broker/mqtt_codec.c broker/mqtt_props.c common/ipc.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -o $@ $^

fuzz-seeds: $(FUZZ_OUT)/seedgen
	fuzz/gen-seeds

fuzz-smoke: deps
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_SMOKE_SECONDS=$(FUZZ_SMOKE_SECONDS) fuzz/smoke $(FUZZ_HARNESS)

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build fuzz-cmplog
	fuzz/campaign run -t $(FUZZ_TIME) -r $(FUZZ_ROUNDS) $(FUZZ_HARNESS)

fuzz-status:
	@fuzz/campaign status

fuzz-coverage: $(FUZZ_COV_BIN)
	@fuzz/coverage $(FUZZ_HARNESS)
