# geak-c - one shared object list (libgeak), several binaries.
#
#   make            build everything into build/bin
#   make test       build with ASan+UBSan into build/san and run every test
#   make demo       run the demo (see README.md)
#   make deps       install missing Debian and Python packages (safe to re-run)
#   make fuzz       build libFuzzer targets (clang) into build/fuzz
#   make clean
#
# Layout: lib/*.c -> libgeak.a; cmd/<tool>/*.c -> build/bin/<tool>;
# services/<role>/*.c -> build/bin/geak-<role>; tests/c/*.c -> build/tests/<name>.
# New files are picked up by wildcard: no Makefile edit is needed to add one.

BUILD   ?= build
SAN     ?= 0
CC      ?= cc
PYTHON  ?= python3
PKGS    := libzmq libprotobuf-c hiredis libcurl libcjson libseccomp

ifeq ($(SAN),1)
  OPT      := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  SANLD    := -fsanitize=address,undefined
else
  OPT      := -O2
  SANLD    :=
endif

CFLAGS  ?=
CFLAGS  += -std=gnu11 -g $(OPT) -Wall -Wextra -Werror -Wno-unused-parameter \
           -D_GNU_SOURCE -Ilib -I$(BUILD)/gen -MMD -MP \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ldl -lpthread -lm
LDFLAGS += $(SANLD)

PROTO_SRC := proto/geak.proto
PROTO_C   := $(BUILD)/gen/geak.pb-c.c
PROTO_H   := $(BUILD)/gen/geak.pb-c.h

LIB_SRC   := $(wildcard lib/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/geak.pb-c.o $(BUILD)/obj/gen/taskimport_py.o
# Python the library carries (the importer's templates), kept as Python files and embedded here
EMBED_PY  := spec=lib/taskimport/spec.py bench_glue=lib/taskimport/bench_glue.py
EMBED_DEP := $(foreach e,$(EMBED_PY),$(word 2,$(subst =, ,$(e)))) scripts/embed_py.py
EMBED_ARGS = $(foreach e,$(EMBED_PY),geak_taskimport_$(word 1,$(subst =, ,$(e)))_py=$(word 2,$(subst =, ,$(e))))
LIB_A     := $(BUILD)/lib/libgeak.a

TOOLS     := $(notdir $(wildcard cmd/*))
ROLES     := generator evaluator reflector optimizer
TOOL_BINS := $(TOOLS:%=$(BUILD)/bin/%)
ROLE_BINS := $(ROLES:%=$(BUILD)/bin/geak-%)
TEST_SRC  := $(wildcard tests/c/*.c)
TEST_BINS := $(TEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BINS:= $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test demo deps clean fuzz bench check-tools
all: $(TOOL_BINS) $(ROLE_BINS) $(TEST_BINS) $(BENCH_BINS)

$(PROTO_C) $(PROTO_H): $(PROTO_SRC)
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen $(PROTO_SRC)

$(BUILD)/obj/gen/geak.pb-c.o: $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-error -c $< -o $@

$(BUILD)/gen/taskimport_py.c: $(EMBED_DEP)
	@mkdir -p $(dir $@)
	$(PYTHON) scripts/embed_py.py $@ $(EMBED_ARGS)

$(BUILD)/obj/gen/taskimport_py.o: $(BUILD)/gen/taskimport_py.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

.SECONDARY:
.SECONDEXPANSION:
$(ROLE_BINS): $(BUILD)/bin/geak-%: $$(addprefix $(BUILD)/obj/,$$(subst .c,.o,$$(wildcard services/$$*/*.c))) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIB_A) $(LDLIBS)

$(TOOL_BINS): $(BUILD)/bin/%: $$(addprefix $(BUILD)/obj/,$$(subst .c,.o,$$(wildcard cmd/$$*/*.c))) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIB_A) $(LDLIBS)

# whole-archive: the selftest registry refers to class tests weakly
$(BUILD)/tests/%: $(BUILD)/obj/tests/c/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< -Wl,--whole-archive $(LIB_A) -Wl,--no-whole-archive $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

# Tests run against the sanitizer build; the runner prints "N passed, N failed".
test:
	$(MAKE) SAN=1 BUILD=build/san all
	$(MAKE) fuzz
	$(PYTHON) tests/run.py --build build/san --fuzz-build build/fuzz

demo: all
	@bash scripts/demo.sh

deps:
	@bash scripts/deps.sh

# libFuzzer targets: fuzz/<name>.c linked with the library sources built by clang.
FUZZ_SRC  := $(wildcard fuzz/*.c)
FUZZ_BINS := $(FUZZ_SRC:fuzz/%.c=build/fuzz/%)
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ilib -Ibuild/fuzz/gen \
               $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_OBJ  := $(LIB_SRC:lib/%.c=build/fuzz/obj/%.o) build/fuzz/obj/geak.pb-c.o build/fuzz/obj/taskimport_py.o
fuzz: $(FUZZ_BINS)
build/fuzz/gen/geak.pb-c.c build/fuzz/gen/geak.pb-c.h: $(PROTO_SRC)
	@mkdir -p build/fuzz/gen
	protoc-c --proto_path=proto --c_out=build/fuzz/gen $(PROTO_SRC)
build/fuzz/obj/geak.pb-c.o: build/fuzz/gen/geak.pb-c.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS:-fsanitize=fuzzer,%=-fsanitize=fuzzer-no-link,%) -c $< -o $@
build/fuzz/gen/taskimport_py.c: $(EMBED_DEP)
	@mkdir -p $(dir $@)
	$(PYTHON) scripts/embed_py.py $@ $(EMBED_ARGS)
build/fuzz/obj/taskimport_py.o: build/fuzz/gen/taskimport_py.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS:-fsanitize=fuzzer,%=-fsanitize=fuzzer-no-link,%) -c $< -o $@
build/fuzz/obj/%.o: lib/%.c build/fuzz/gen/geak.pb-c.h
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS:-fsanitize=fuzzer,%=-fsanitize=fuzzer-no-link,%) -MMD -MP -c $< -o $@
build/fuzz/%: fuzz/%.c $(FUZZ_OBJ)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
-include $(wildcard build/fuzz/obj/*.d)
