# sfn-agent: one binary, two halves.
#   agent/    everything that talks to AWS
#   wrapper/  everything about the command
#   src/      main, the run mode where the halves meet, and shared helpers
#
#   make            ./sfn-agent (dynamic, for development)
#   make test       every test (unit, integration against the local lab); ends "N passed, N failed"
#   make demo       a whole waitForTaskToken workflow on the local emulator
#   make asan       build/asan/sfn-agent with AddressSanitizer + UBSan
#   make static     dist/sfn-agent, static, stripped (see scripts/static.sh)
#   make bench      benchmarks against the bash trap + AWS CLI handler

VERSION := 0.1.0
CC      ?= cc
OPT     ?= -O2 -g
O       ?= build/dev
BIN     ?= sfn-agent

STD_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
              -Wno-missing-field-initializers -DSFN_AGENT_VERSION='"$(VERSION)"'
CFLAGS  += $(OPT) $(STD_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  += -lcurl -lcjson -lcrypto

SRCS      := $(sort $(wildcard src/*.c agent/*.c wrapper/*.c))
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
OBJS      := $(SRCS:%.c=$(O)/%.o)
LIB_OBJS  := $(LIB_SRCS:%.c=$(O)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)

.PHONY: all test unit asan static demo bench check-deps clean
all: $(BIN)

$(BIN): $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/%.o: %.c $(wildcard src/*.h agent/*.h wrapper/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# Unit tests link against an archive, so each pulls in only the objects it uses.
$(O)/libsfn.a: $(LIB_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

$(O)/tests/%: tests/unit/%.c tests/unit/check.h $(O)/libsfn.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(O)/libsfn.a $(LDLIBS)

unit: $(UNIT_BINS)

asan:
	$(MAKE) O=build/asan BIN=build/asan/sfn-agent OPT="-O1 -g -fno-omit-frame-pointer" \
		EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" build/asan/sfn-agent unit

check-deps:
	@tests/setup.sh

test: check-deps $(BIN) unit
	@python3 tests/run.py --bin ./$(BIN) --unit-dir $(O)/tests

demo: check-deps $(BIN)
	@python3 tests/lab/demo.py --bin ./$(BIN)

static:
	@scripts/static.sh

# For scripts/static.sh, which builds with these rules and flags under musl.
.PHONY: print-cflags
print-cflags:
	@echo $(STD_CFLAGS)

bench: check-deps static
	@python3 tests/bench/bench.py

clean:
	rm -rf build dist $(BIN)
