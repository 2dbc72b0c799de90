# SPDX-License-Identifier: MIT
# mk/stress.mk: the anchors' stress shape (tests/stress/anchors.c) against the real library.
#   make check-stress                  in $(BUILD): 32 threads x 50 rounds of thread restarts,
#                                      50,000,000 allocations, blocks handed across threads
#                                      through a shared array, 2 forks a round from a thread
#                                      while the 32 run; 10^5 short thread lifetimes with the
#                                      resident size sampled every 10^4 (about 75 s on 2
#                                      cores); then tests/stress/cycles.c, one run per mode:
#                                      a heap created, used on 32 threads and destroyed, 1000
#                                      rounds (mimalloc #1231); create on A, use on B, destroy
#                                      on A, 20,000 rounds (#1250); 50 waves of 512 threads
#                                      creating and destroying 4 heaps each (#1320); destroy
#                                      racing thread exit, 1000 rounds; 1000 generations of
#                                      threads freeing exited ones' blocks (pages adopted and
#                                      reused); exact stats for blocks of exited threads, 1000
#                                      rounds; each back to its baseline of mapped bytes and
#                                      /proc/self/maps lines (6-45 s each); then fork_stress
#                                      (fork from threads while others allocate) and
#                                      fork_signal (fork in signal handlers that interrupt
#                                      malloc) under the override, longer than check-programs
#                                      runs them
#   make check-stress SANITIZE=thread  the same programs at a reduced scale in build-thread/:
#                                      3,000,000 allocations in 10 rounds, 10^4 lifetimes
#                                      (about 40 s), cycles at a tenth of the rounds (#1320:
#                                      10 waves of 128 threads; about 10 s a mode); the fork
#                                      programs need the override, which a sanitizer build
#                                      cannot preload
# STRESS_ARGS and STRESS_LIFE_ARGS set anchors' scale (anchors.c lists its options);
# CYCLES_MODES the cycles modes to run and CYCLES_ARGS the options every run gets (cycles.c
# lists them; CYCLES_ARGS_<MODE>, if set, instead), e.g. CYCLES_MODES=race
# CYCLES_ARGS="-r 5000". A run that has not ended after STRESS_TIMEOUT seconds is a hang,
# not slowness: it is killed and the target fails. No figure is compared with a time.

STRESS_DIR     := $(BUILD)/stress
STRESS_BIN     := $(STRESS_DIR)/anchors
CYCLES_BIN     := $(STRESS_DIR)/cycles
CYCLES_MODES   ?= 1231 1250 1320 race adopt stats
STRESS_TIMEOUT ?= 900
# Built by mk/programs.mk (named here by path: the mk files are read in any order).
STRESS_FORK_BINS := $(BUILD)/programs/fork_stress $(BUILD)/programs/fork_signal
ifeq ($(SANITIZE),)
STRESS_ARGS      ?= -t 32 -r 50 -n 50000000 -f 2
STRESS_LIFE_ARGS ?= -l 100000
CYCLES_ARGS      ?=
else
STRESS_ARGS      ?= -t 32 -r 10 -n 3000000 -f 1
STRESS_LIFE_ARGS ?= -l 10000
# A tenth of the rounds, and 128 threads a wave for #1320 (TSan's memory per thread).
CYCLES_ARGS      ?= -r 100
CYCLES_ARGS_1250 ?= -r 2000
CYCLES_ARGS_1320 ?= -r 10 -t 128 -c 4
endif
# $(call cycles_args,MODE): the options of one cycles run.
cycles_args = -m $(1) $(or $(CYCLES_ARGS_$(1)),$(CYCLES_ARGS))
# A ThreadSanitizer report ends the run at once, with TSan's exit status.
STRESS_ENV := TSAN_OPTIONS="halt_on_error=1 $$TSAN_OPTIONS"

.PHONY: check-stress

# User code: C11, the public header only, the static library of this build.
$(STRESS_BIN): tests/stress/anchors.c tests/programs/say.h tests/stress/stress.h include/dogmalloc.h $(STATIC)
	@mkdir -p $(@D)
	$(CC) -std=c11 -Wall -Wextra -Iinclude $(SAN_FLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) \
	    -o $@ $< $(STATIC) -pthread

$(CYCLES_BIN): tests/stress/cycles.c tests/programs/say.h tests/stress/stress.h include/dogmalloc.h $(STATIC)
	@mkdir -p $(@D)
	$(CC) -std=c11 -Wall -Wextra -Iinclude $(SAN_FLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) \
	    -o $@ $< $(STATIC) -pthread

# $(call stress_run,COMMAND...): run it with the timeout, fail the target if it fails.
stress_run = echo "check-stress: $(1)"; \
    $(STRESS_ENV) timeout -k 10 $(STRESS_TIMEOUT) $(1) || \
        { echo "check-stress: FAILED (exit $$?): $(1)"; exit 1; }

# Under the override, with its statistics at exit: the run counts only if dogmalloc served
# the program's allocations.
stress_preload = echo "check-stress: $(1) under $(OVERRIDE)"; \
    DOGMALLOC_SHOW_STATS=1 LD_PRELOAD=$(abspath $(OVERRIDE)) \
        timeout -k 10 $(STRESS_TIMEOUT) $(1) 2> $(STRESS_DIR)/preload.log || \
        { cat $(STRESS_DIR)/preload.log; echo "check-stress: FAILED (exit $$?): $(1)"; exit 1; }; \
    grep -q '^  allocs: [1-9]' $(STRESS_DIR)/preload.log || \
        { cat $(STRESS_DIR)/preload.log; echo "check-stress: dogmalloc served nothing: $(1)"; \
          exit 1; }

ifeq ($(SANITIZE),)
check-stress: lib $(STRESS_BIN) $(CYCLES_BIN) $(STRESS_FORK_BINS)
	@$(call stress_run,$(STRESS_BIN) $(STRESS_ARGS))
	@$(call stress_run,$(STRESS_BIN) $(STRESS_LIFE_ARGS))
	@$(foreach m,$(CYCLES_MODES),$(call stress_run,$(CYCLES_BIN) $(call cycles_args,$(m)));)
	@$(call stress_preload,$(BUILD)/programs/fork_stress 10 8 2)
	@$(call stress_preload,$(BUILD)/programs/fork_signal 40000)
	@echo "check-stress: all runs passed"
else
check-stress: $(STRESS_BIN) $(CYCLES_BIN)
	@$(call stress_run,$(STRESS_BIN) $(STRESS_ARGS))
	@$(call stress_run,$(STRESS_BIN) $(STRESS_LIFE_ARGS))
	@$(foreach m,$(CYCLES_MODES),$(call stress_run,$(CYCLES_BIN) $(call cycles_args,$(m)));)
	@echo "check-stress: all runs passed under SANITIZE=$(SANITIZE) (fork programs skipped:" \
	    "they preload the override)"
endif
