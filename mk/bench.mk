# SPDX-License-Identifier: MIT
# mk/bench.mk: the benchmark suite (tests/bench/), included by the main Makefile.
#   make bench            full suite under every allocator: table, results.csv, plots (~15 min)
#   make bench-quick      a subset at smaller sizes (~2 min)
#   make bench-callgrind  instructions per malloc+free pair under callgrind
#   make check-bench      every benchmark once at a tiny size under glibc and dogmalloc
# BENCH_RUNS=N sets the runs per cell (default 3); BENCH_ONLY="larson mpsc" picks benchmarks;
# BENCH_ALLOCATORS="glibc dogmalloc mimalloc" picks allocators.
# PEERS="mimalloc3=/path/libmimalloc.so snmalloc=/path/libsnmallocshim.so" adds allocators
# built outside the repository (anything LD_PRELOAD-able), to bench and bench-callgrind.

BENCH_DIR    := $(BUILD)/bench
BENCH_CFLAGS := -std=gnu11 -Wall -Wextra -pthread -D_GNU_SOURCE
BENCH_LIBS   := -pthread
BENCH_RUNS   ?= 3
BENCH_ONLY   ?=
BENCH_ALLOCATORS ?=
# Extra preloadable peers, "name=/path/lib.so ..." (tests/bench/allocators.sh).
PEERS        ?=
export DOG_BENCH_PEERS := $(PEERS)

# Workloads that use only the malloc family: one source, one binary, any allocator preloaded.
BENCH_PROGS  := symmetric asymmetric mpsc larson xmalloc cache loop mstress rptest large leak \
                pairs runner

APR_CFLAGS   := $(shell pkg-config --cflags apr-1 2>/dev/null || echo -I/usr/include/apr-1.0)
APR_LIBS     := $(shell pkg-config --libs apr-1 2>/dev/null || echo -lapr-1)

# The heap-API variants of heapdrop need the peers' headers (deps-bench installs them);
# without a header its variant is left out and run.sh skips it, so check-bench still works.
BENCH_HASH   := \#
bench_has = $(shell echo '$(BENCH_HASH)include <$(1)>' | $(CC) $(2) -E -x c - >/dev/null 2>&1 \
                    && echo y)
BENCH_HEAPS  := heapdrop-free heapdrop-dog \
                $(if $(call bench_has,mimalloc.h),heapdrop-mi) \
                $(if $(call bench_has,talloc.h),heapdrop-talloc) \
                $(if $(call bench_has,apr_pools.h,$(APR_CFLAGS)),heapdrop-apr)
BENCH_BINS   := $(BENCH_PROGS:%=$(BENCH_DIR)/%) $(BENCH_HEAPS:%=$(BENCH_DIR)/%)

BENCH_RUN_ARGS = --build $(BUILD) --runs $(BENCH_RUNS) \
                 $(if $(BENCH_ONLY),--only "$(BENCH_ONLY)") \
                 $(if $(BENCH_ALLOCATORS),--allocators "$(BENCH_ALLOCATORS)")

.PHONY: bench bench-quick bench-callgrind bench-build check-bench

$(BENCH_DIR):
	@mkdir -p $@

# Benchmarks are built with the user's CFLAGS (-O2 -g by default), never sanitized: they
# measure the allocator that is preloaded into them.
$(BENCH_DIR)/%: tests/bench/%.c tests/bench/bench.h | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) $(CFLAGS) -o $@ $< $(BENCH_LIBS)

$(BENCH_DIR)/heapdrop-free: tests/bench/heapdrop.c tests/bench/bench.h | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) $(CFLAGS) -DHEAPDROP_FREE -o $@ $< $(BENCH_LIBS)
$(BENCH_DIR)/heapdrop-dog: tests/bench/heapdrop.c tests/bench/bench.h $(STATIC) | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) $(CFLAGS) -Iinclude -DHEAPDROP_DOG -o $@ $< $(STATIC) $(BENCH_LIBS)
$(BENCH_DIR)/heapdrop-mi: tests/bench/heapdrop.c tests/bench/bench.h | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) $(CFLAGS) -DHEAPDROP_MI -o $@ $< -lmimalloc $(BENCH_LIBS)
$(BENCH_DIR)/heapdrop-talloc: tests/bench/heapdrop.c tests/bench/bench.h | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) $(CFLAGS) -DHEAPDROP_TALLOC -o $@ $< -ltalloc $(BENCH_LIBS)
$(BENCH_DIR)/heapdrop-apr: tests/bench/heapdrop.c tests/bench/bench.h | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) $(APR_CFLAGS) $(CFLAGS) -DHEAPDROP_APR -o $@ $< $(APR_LIBS) $(BENCH_LIBS)

bench-build: $(BENCH_BINS)

# bench-build runs in a sub-make, after deps-bench may have installed the peers' headers.
bench: deps-bench lib
	@$(MAKE) --no-print-directory bench-build
	tests/bench/run.sh $(BENCH_RUN_ARGS)

bench-quick: deps-bench lib
	@$(MAKE) --no-print-directory bench-build
	tests/bench/run.sh --quick $(BENCH_RUN_ARGS)

bench-callgrind: deps-bench lib $(BENCH_DIR)/pairs
	tests/bench/callgrind.sh --build $(BUILD) \
	    $(if $(BENCH_ALLOCATORS),--allocators "$(BENCH_ALLOCATORS)")

# No timing thresholds: only that every benchmark runs to completion and checks itself.
# A sanitized override cannot be preloaded into the uninstrumented benchmarks, so
# `make SANITIZE=... check` skips this part.
ifeq ($(SANITIZE),)
check-bench: lib bench-build
	tests/bench/run.sh --check --build $(BUILD)
else
check-bench:
	@echo "check-bench: skipped under SANITIZE=$(SANITIZE) (benchmarks preload the override)"
endif
