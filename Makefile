# sfn-agent: one binary, two halves, in layers (a file includes only from its own folder or below):
#   src/      the program: main, one file per subcommand, the shared CLI helper
#   agent/    everything that talks to AWS (agent/creds: credentials, agent/asl: state machines)
#   wrapper/  everything about the command
#   base/     buffers, JSON, logging, the clock/environment seam, errors
#
#   make            ./sfn-agent (dynamic, for development)
#   make test       every test (unit, integration against the local lab); ends "N passed, N failed"
#   make demo       a whole waitForTaskToken workflow on the local emulator
#   make asan       build/asan/sfn-agent with AddressSanitizer + UBSan
#   make static     dist/sfn-agent, static, stripped (see scripts/static.sh); ARCH=arm64: dist/arm64/
#   make dist       release archives (amd64, arm64), SHA256SUMS, SBOM, multi-arch OCI image
#   make bench      benchmarks against the bash trap + AWS CLI handler

VERSION := 0.1.0
CC      ?= cc
OPT     ?= -O2 -g
O       ?= build/dev
BIN     ?= sfn-agent

STD_CFLAGS := -std=c11 -D_GNU_SOURCE -I. -Wall -Wextra -Werror -Wshadow -Wformat=2 \
              -Wno-missing-field-initializers -DSFN_AGENT_VERSION='"$(VERSION)"'
CFLAGS  += $(OPT) $(STD_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  += -lcurl -lcjson -lcrypto
# The Python that has the emulator: $(PYTHON) when given, else the tree's .venv, else python3.
PYTHON  ?= $(shell tests/setup.sh --python)

SRCS      := $(sort $(wildcard src/*.c agent/*.c agent/*/*.c wrapper/*.c base/*.c))
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
OBJS      := $(SRCS:%.c=$(O)/%.o)
LIB_OBJS  := $(LIB_SRCS:%.c=$(O)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)

.PHONY: all test unit asan asan-test static dist demo demo-deps bench check-deps clean layers mutants mutants-apply
all: $(BIN)

$(BIN): $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/%.o: %.c $(wildcard src/*.h agent/*.h agent/*/*.h wrapper/*.h base/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# Unit tests link against an archive, so each pulls in only the objects it uses.
$(O)/libsfn.a: $(LIB_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

$(O)/tests/%: tests/unit/%.c tests/unit/check.h $(O)/libsfn.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(O)/libsfn.a $(LDLIBS)

unit: $(UNIT_BINS)

ASAN_O ?= build/asan
asan:
	$(MAKE) O=$(ASAN_O) BIN=$(ASAN_O)/sfn-agent OPT="-O1 -g -fno-omit-frame-pointer" \
		EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" $(ASAN_O)/sfn-agent unit

# The unit tests and the integration tests, with the sanitized binaries:
# leaks, errors and undefined behaviour all stop the program.
asan-test: asan
	@$(SAN_ENV) $(PYTHON) tests/run.py --bin $(ASAN_O)/sfn-agent --unit-dir $(ASAN_O)/tests $(if $(K),-k $(K))

check-deps:
	@PYTHON=$(PYTHON) tests/setup.sh

# Only what the demo uses: a compiler, the three -dev packages and Python with moto.
demo-deps:
	@PYTHON=$(PYTHON) tests/setup.sh --demo

# Folders are layers: a file includes only from its own folder or one below (scripts/layers.sh).
layers:
	@scripts/layers.sh

# Every deliberate breakage in tests/mutants/ still applies to today's code.
mutants-apply:
	@scripts/mutants.sh --check

# Every test, in one run that ends "N passed, M failed": the unit tests built
# normally and with sanitizers, each fuzz target for FUZZ_SECONDS, and the
# integration suite against the development, static and sanitized binaries,
# one after the other in one lab.
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# The arm64 binary (cross-built, its libraries once into the shared cache) and what `make dist`
# ships are built before the run; the arm64 run goes under qemu-aarch64-static.
test: check-deps layers mutants-apply $(BIN) unit fuzz-units asan static dist
	@$(SAN_ENV) $(PYTHON) tests/run.py --unit-dir $(O)/tests --unit-dir asan=$(ASAN_O)/tests \
		--bin $(abspath $(BIN)) --bin static=$(abspath dist/sfn-agent) \
		--bin asan=$(abspath $(ASAN_O)/sfn-agent) --bin arm64=$(abspath dist/arm64/sfn-agent)

demo: demo-deps $(BIN)
	@$(PYTHON) tests/lab/demo.py --bin $(abspath $(BIN))

# ARCH=arm64 (or amd64) cross-builds dist/ARCH/sfn-agent; without it, dist/sfn-agent for this machine.
static:
	@scripts/static.sh $(if $(ARCH),--arch $(ARCH))

# What a user downloads (scripts/dist.sh): both architectures' archives, SHA256SUMS, the SPDX
# SBOM and one OCI image index for linux/amd64 and linux/arm64.  Builds dist/amd64 and dist/arm64.
dist:
	@scripts/dist.sh $(VERSION)

# For scripts/static.sh, which builds with these rules and flags under musl.
.PHONY: print-cflags
print-cflags:
	@echo $(STD_CFLAGS)

# Each deliberate breakage in tests/mutants/ must make its named test fail (not part of make test).
mutants: check-deps
	@scripts/mutants.sh $(M)

bench: check-deps static
	@$(PYTHON) tests/bench/bench.py

clean:
	rm -rf build dist $(BIN)

# ---- fuzzing (tests/fuzz) --------------------------------------------------
# libFuzzer targets, one per parser of untrusted bytes, built with clang
# against a copy of the library compiled for coverage and ASan+UBSan.
# `make fuzz` runs each for FUZZ_SECONDS on a copy of its seeds (never in the
# tree); `make test` runs them as unit programs through one small wrapper each
# in $(O)/tests, so tests/run.py counts their PASS/FAIL lines.  Warnings are
# errors here too: the code builds clean with both gcc and clang.
FUZZ_CC      ?= clang
# build/fuzz beside the default build; inside $(O) for a build placed elsewhere.
FUZZ_O       ?= $(if $(filter build/dev,$(O)),build/fuzz,$(O)/fuzz)
FUZZ_SECONDS ?= 20
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_O)/fuzz_%)

.PHONY: fuzz fuzz-build fuzz-units
fuzz-build:
	$(MAKE) CC=$(FUZZ_CC) O=$(FUZZ_O)/obj OPT="-O1 -g -fno-omit-frame-pointer" \
		EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" $(FUZZ_O)/obj/libsfn.a
	$(MAKE) $(FUZZ_BINS)

$(FUZZ_O)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_O)/obj/libsfn.a
	$(FUZZ_CC) -O1 -g -fno-omit-frame-pointer $(STD_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) \
		-o $@ $< $(FUZZ_O)/obj/libsfn.a $(LDLIBS)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh -d $(FUZZ_O) $(FUZZ_NAMES)

fuzz-units: fuzz-build
	@mkdir -p $(O)/tests
	@for n in $(FUZZ_NAMES); do \
		printf '#!/bin/sh\nFUZZ_SECONDS=$${FUZZ_SECONDS:-%s} exec tests/fuzz/run.sh -d %s %s\n' \
			'$(FUZZ_SECONDS)' '$(abspath $(FUZZ_O))' $$n > $(O)/tests/test_fuzz_$$n; \
		chmod +x $(O)/tests/test_fuzz_$$n; \
	done
