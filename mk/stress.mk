# SPDX-License-Identifier: MIT
# mk/stress.mk: the anchors' stress shape (tests/stress/anchors.c) against the real library.
#   make check-stress                  in $(BUILD): 32 threads x 50 rounds of thread restarts,
#                                      50,000,000 allocations, blocks handed across threads
#                                      through a shared array, 2 forks a round from a thread
#                                      while the 32 run; 10^5 short thread lifetimes with the
#                                      resident size sampled every 10^4; then fork_stress
#                                      (fork from threads while others allocate) and
#                                      fork_signal (fork in signal handlers that interrupt
#                                      malloc) under the override, longer than check-programs
#                                      runs them (about 75 s on 2 cores)
#   make check-stress SANITIZE=thread  the same program at a reduced scale in build-thread/:
#                                      3,000,000 allocations in 10 rounds, 10^4 lifetimes
#                                      (about 40 s); the fork programs need the override,
#                                      which a sanitizer build cannot preload
# STRESS_ARGS and STRESS_LIFE_ARGS set anchors' scale (anchors.c lists its options). A run
# that has not ended after STRESS_TIMEOUT seconds is a hang, not slowness: it is killed and
# the target fails. No figure is compared with a time.

STRESS_DIR     := $(BUILD)/stress
STRESS_BIN     := $(STRESS_DIR)/anchors
STRESS_TIMEOUT ?= 900
# Built by mk/programs.mk (named here by path: the mk files are read in any order).
STRESS_FORK_BINS := $(BUILD)/programs/fork_stress $(BUILD)/programs/fork_signal
ifeq ($(SANITIZE),)
STRESS_ARGS      ?= -t 32 -r 50 -n 50000000 -f 2
STRESS_LIFE_ARGS ?= -l 100000
else
STRESS_ARGS      ?= -t 32 -r 10 -n 3000000 -f 1
STRESS_LIFE_ARGS ?= -l 10000
endif
# A ThreadSanitizer report ends the run at once, with TSan's exit status.
STRESS_ENV := TSAN_OPTIONS="halt_on_error=1 $$TSAN_OPTIONS"

.PHONY: check-stress

# User code: C11, the public header only, the static library of this build.
$(STRESS_BIN): tests/stress/anchors.c tests/programs/say.h include/dogmalloc.h $(STATIC)
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
check-stress: lib $(STRESS_BIN) $(STRESS_FORK_BINS)
	@$(call stress_run,$(STRESS_BIN) $(STRESS_ARGS))
	@$(call stress_run,$(STRESS_BIN) $(STRESS_LIFE_ARGS))
	@$(call stress_preload,$(BUILD)/programs/fork_stress 10 8 2)
	@$(call stress_preload,$(BUILD)/programs/fork_signal 40000)
	@echo "check-stress: all runs passed"
else
check-stress: $(STRESS_BIN)
	@$(call stress_run,$(STRESS_BIN) $(STRESS_ARGS))
	@$(call stress_run,$(STRESS_BIN) $(STRESS_LIFE_ARGS))
	@echo "check-stress: all runs passed under SANITIZE=$(SANITIZE) (fork programs skipped:" \
	    "they preload the override)"
endif
