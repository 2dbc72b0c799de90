# SPDX-License-Identifier: MIT
# mk/fuzz.mk: the libFuzzer harnesses of tests/fuzz/, included by the main Makefile.
#   make fuzz                     build the library and each harness with clang and
#                                 -fsanitize=fuzzer,address,undefined into build-fuzz/,
#                                 then fuzz each from the kept corpus
#                                 tests/fuzz/corpus/<harness>/ for its share of
#                                 FUZZ_SECONDS (the whole run, default 120: split evenly)
#   make fuzz FUZZ_HARNESSES=malloc   one harness only (api: the dog_* API; malloc: the
#                                 override's malloc family), for all of FUZZ_SECONDS
#   make fuzz FUZZ_MERGE=1        afterwards, merge what the run found into the kept corpus
#                                 (libFuzzer -merge=1 keeps only inputs that add coverage)
#   make check-fuzz               replay the kept corpus through each harness, built with
#                                 $(CC) and no libFuzzer (part of make check)
# A crash leaves its input in build-fuzz/crash-<harness>-*; replay it with
# `build-fuzz/fuzz_<harness> FILE`, fix the bug, and add the input to the corpus (or a
# unit test) so that the fix stays checked.

FUZZ_BUILD     := build-fuzz
FUZZ_HARNESSES := api malloc
FUZZ_SECONDS   ?= 120
FUZZ_MERGE     ?=
FUZZ_FLAGS     := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                  -fno-omit-frame-pointer
FUZZ_LIB_SAN   := fuzzer-no-link,address,undefined
DEPS_FUZZ      := clang libclang-rt-14-dev

.PHONY: fuzz check-fuzz deps-fuzz

deps-fuzz:
	@tools/deps.sh $(DEPS_FUZZ)

# fuzz_malloc calls the override's malloc family (src/override.c) under other names:
# ASan serves malloc itself in a sanitized process, and a second malloc beside it would
# free blocks of the first (tests/fuzz/fuzz_malloc.c says more). $(call fuzz_rename,IN,OUT)
# makes OUT, the object IN with every function it defines renamed fuzz_ovr_NAME, so the
# code is the override's byte for byte; it fails if a defined symbol escaped the renaming.
# Its replay in a build without a sanitizer links the real names instead: the static
# override, --whole-archive (docs/override.md), so that the whole process, the C library's
# strdup included, runs on dogmalloc. -fno-builtin: the compiler must not know these names.
FUZZ_CFLAGS_malloc := -fno-builtin
fuzz_rename = nm --defined-only $(1) | awk '$$2 ~ /^[TW]$$/ { print $$3, "fuzz_ovr_" $$3 }' \
                  > $(2).syms && objcopy --redefine-syms=$(2).syms $(1) $(2) && \
              ! nm --defined-only $(2) | grep -E ' [A-Z] ' | grep -v ' fuzz_ovr_'

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h FORCE_FUZZ_LIB
	@mkdir -p $(@D)
	clang -std=gnu11 -O1 -g -Wall -Wextra -Iinclude $(FUZZ_FLAGS) $(FUZZ_CFLAGS_$*) -o $@ $< \
	    $(filter %.o,$^) $(FUZZ_BUILD)/libdogmalloc.a -pthread

$(FUZZ_BUILD)/fuzz_malloc: $(FUZZ_BUILD)/override-renamed.o
$(FUZZ_BUILD)/override-renamed.o: FORCE_FUZZ_LIB
	$(call fuzz_rename,$(FUZZ_BUILD)/override.o,$@)

# The library with coverage and sanitizers, by the main Makefile's SANITIZE machinery.
.PHONY: FORCE_FUZZ_LIB
FORCE_FUZZ_LIB: deps-fuzz
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang SANITIZE=$(FUZZ_LIB_SAN) \
	    CFLAGS="-O1 -g" $(FUZZ_BUILD)/libdogmalloc.a $(FUZZ_BUILD)/override.o

fuzz: $(FUZZ_HARNESSES:%=$(FUZZ_BUILD)/fuzz_%)
	@secs=$$(( $(FUZZ_SECONDS) / $(words $(FUZZ_HARNESSES)) )); [ $$secs -ge 1 ] || secs=1; \
	for h in $(FUZZ_HARNESSES); do \
	    work=$(FUZZ_BUILD)/corpus-$$h; mkdir -p $$work tests/fuzz/corpus/$$h; \
	    echo "== fuzz_$$h: $$secs s from tests/fuzz/corpus/$$h ($$(ls tests/fuzz/corpus/$$h | wc -l) inputs)"; \
	    rc=0; $(FUZZ_BUILD)/fuzz_$$h -max_total_time=$$secs -timeout=30 -rss_limit_mb=4096 \
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
	$(CC) -std=gnu11 -Wall -Wextra -Iinclude $(SAN_FLAGS) $(FUZZ_CFLAGS_$*) $(CFLAGS) -o $@ $< \
	    tests/fuzz/replay.c $(filter %.o,$^) $(or $(FUZZ_LINK_$*),$(STATIC)) -pthread

ifeq ($(SANITIZE),)
$(BUILD)/fuzz/replay_malloc: FUZZ_CFLAGS_malloc += -DFUZZ_MALLOC_REAL
$(BUILD)/fuzz/replay_malloc: $(OVERRIDE_STATIC)
FUZZ_LINK_malloc := -Wl,--whole-archive $(OVERRIDE_STATIC) -Wl,--no-whole-archive
else
$(BUILD)/fuzz/replay_malloc: $(BUILD)/fuzz/override-renamed.o
$(BUILD)/fuzz/override-renamed.o: $(BUILD)/override.o
	@mkdir -p $(@D)
	$(call fuzz_rename,$<,$@)
endif

check-fuzz: $(FUZZ_REPLAY)
	@for h in $(FUZZ_HARNESSES); do \
	    printf 'check-fuzz: fuzz_%s: ' $$h; $(BUILD)/fuzz/replay_$$h tests/fuzz/corpus/$$h || exit 1; \
	done
