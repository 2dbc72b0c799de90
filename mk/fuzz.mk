# SPDX-License-Identifier: MIT
# mk/fuzz.mk: the libFuzzer harnesses of tests/fuzz/, included by the main Makefile.
#   make fuzz                     build the library and each harness with clang and
#                                 -fsanitize=fuzzer,address,undefined into build-fuzz/,
#                                 then fuzz each for FUZZ_SECONDS (default 60) from the
#                                 kept corpus tests/fuzz/corpus/<harness>/
#   make fuzz FUZZ_MERGE=1        afterwards, merge what the run found into the kept corpus
#                                 (libFuzzer -merge=1 keeps only inputs that add coverage)
#   make check-fuzz               replay the kept corpus through each harness, built with
#                                 $(CC) and no libFuzzer (part of make check)
# A crash leaves its input in build-fuzz/crash-<harness>-*; replay it with
# `build-fuzz/fuzz_<harness> FILE`, fix the bug, and add the input to the corpus (or a
# unit test) so that the fix stays checked.

FUZZ_BUILD     := build-fuzz
FUZZ_HARNESSES := api
FUZZ_SECONDS   ?= 60
FUZZ_MERGE     ?=
FUZZ_FLAGS     := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                  -fno-omit-frame-pointer
FUZZ_LIB_SAN   := fuzzer-no-link,address,undefined
DEPS_FUZZ      := clang libclang-rt-14-dev

.PHONY: fuzz check-fuzz deps-fuzz

deps-fuzz:
	@tools/deps.sh $(DEPS_FUZZ)

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h FORCE_FUZZ_LIB
	@mkdir -p $(@D)
	clang -std=gnu11 -O1 -g -Wall -Wextra -Iinclude $(FUZZ_FLAGS) -o $@ $< \
	    $(FUZZ_BUILD)/libdogmalloc.a -pthread

# The library with coverage and sanitizers, by the main Makefile's SANITIZE machinery.
.PHONY: FORCE_FUZZ_LIB
FORCE_FUZZ_LIB: deps-fuzz
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang SANITIZE=$(FUZZ_LIB_SAN) \
	    CFLAGS="-O1 -g" $(FUZZ_BUILD)/libdogmalloc.a

fuzz: $(FUZZ_HARNESSES:%=$(FUZZ_BUILD)/fuzz_%)
	@for h in $(FUZZ_HARNESSES); do \
	    work=$(FUZZ_BUILD)/corpus-$$h; mkdir -p $$work tests/fuzz/corpus/$$h; \
	    echo "== fuzz_$$h: $(FUZZ_SECONDS) s from tests/fuzz/corpus/$$h ($$(ls tests/fuzz/corpus/$$h | wc -l) inputs)"; \
	    rc=0; $(FUZZ_BUILD)/fuzz_$$h -max_total_time=$(FUZZ_SECONDS) -timeout=30 -rss_limit_mb=4096 \
	        -max_len=4096 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crash-$$h- \
	        $$work tests/fuzz/corpus/$$h > $(FUZZ_BUILD)/fuzz_$$h.log 2>&1 || rc=$$?; \
	    grep -E '^(#[0-9]+ +DONE|Done|stat::number_of_executed_units|stat::peak_rss|==|SUMMARY|fuzz:|dogmalloc:)' \
	        $(FUZZ_BUILD)/fuzz_$$h.log; \
	    if [ $$rc -ne 0 ]; then tail -40 $(FUZZ_BUILD)/fuzz_$$h.log; \
	        echo "fuzz_$$h: FAILED (input in $(FUZZ_BUILD)/crash-$$h-*)"; exit 1; fi; \
	    if [ -n "$(FUZZ_MERGE)" ]; then \
	        $(FUZZ_BUILD)/fuzz_$$h -merge=1 -max_len=4096 tests/fuzz/corpus/$$h $$work 2>&1 | tail -1; fi; \
	    echo "fuzz_$$h: passed"; \
	done

FUZZ_REPLAY := $(FUZZ_HARNESSES:%=$(BUILD)/fuzz/replay_%)

$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(STATIC)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -Iinclude $(SAN_FLAGS) $(CFLAGS) -o $@ $< tests/fuzz/replay.c \
	    $(STATIC) -pthread

check-fuzz: $(FUZZ_REPLAY)
	@for h in $(FUZZ_HARNESSES); do \
	    printf 'check-fuzz: fuzz_%s: ' $$h; $(BUILD)/fuzz/replay_$$h tests/fuzz/corpus/$$h || exit 1; \
	done
