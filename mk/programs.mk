# SPDX-License-Identifier: MIT
# mk/programs.mk: real programs under build/libdogmalloc-override.so (tests/programs/).
#   make check-programs                         Python's regression tests, git, sqlite3,
#                                               perl, sort, and the C/C++ helpers below,
#                                               each run with and without the override
#                                               (about 3-4 minutes on 2 cores)
#   make check-programs PROGRAMS="git sqlite"   only these (names as in run.sh)
# The helper programs are built into $(BUILD)/programs/: cxx_threads (std:: containers
# and every operator new/delete variant from several threads), fork_stress (fork from
# several threads while others allocate), fork_stdio (fork while other threads hold stdio
# locks and allocate under them), fork_signal (fork from a signal handler that
# interrupts malloc) and one_allocator (linked against libdogmalloc.so and preloaded:
# one set of heaps).

PROGRAMS_BIN      := $(BUILD)/programs
PROGRAMS_HELPERS  := $(PROGRAMS_BIN)/cxx_threads $(PROGRAMS_BIN)/fork_stress \
                     $(PROGRAMS_BIN)/fork_stdio $(PROGRAMS_BIN)/fork_signal \
                     $(PROGRAMS_BIN)/lifecycle $(PROGRAMS_BIN)/libc_names \
                     $(PROGRAMS_BIN)/one_allocator
PROGRAMS          ?=
PROGRAMS_WARN     := -Wall -Wextra
PROGRAMS_CXXFLAGS := $(if $(CXXFLAGS),$(CXXFLAGS),-O2 -g)

.PHONY: check-programs programs-helpers

programs-helpers: $(PROGRAMS_HELPERS)

# deps-check installs g++ and the programs; order-only, so that it never forces a rebuild.
$(PROGRAMS_HELPERS): | deps-check $(PROGRAMS_BIN)

$(PROGRAMS_BIN):
	@mkdir -p $@

$(PROGRAMS_BIN)/fork_stress: tests/programs/fork_stress.c tests/programs/say.h
	$(CC) -std=c11 $(PROGRAMS_WARN) $(CPPFLAGS) $(CFLAGS) -pthread -o $@ $< $(LDFLAGS)

$(PROGRAMS_BIN)/lifecycle $(PROGRAMS_BIN)/libc_names $(PROGRAMS_BIN)/fork_stdio \
$(PROGRAMS_BIN)/fork_signal: $(PROGRAMS_BIN)/%: tests/programs/%.c
	$(CC) -std=gnu11 $(PROGRAMS_WARN) $(CPPFLAGS) $(CFLAGS) -pthread -o $@ $< $(LDFLAGS)

$(PROGRAMS_BIN)/cxx_threads: tests/programs/cxx_threads.cpp
	$(CXX) -std=c++17 $(PROGRAMS_WARN) -fsized-deallocation $(CPPFLAGS) $(PROGRAMS_CXXFLAGS) \
	    -pthread -o $@ $< $(LDFLAGS)

# Linked against the shared library (found through the rpath), run with the override.
$(PROGRAMS_BIN)/one_allocator: tests/programs/one_allocator.c include/dogmalloc.h \
                               $(BUILD)/libdogmalloc.so $(BUILD)/$(SONAME)
	$(CC) -std=c11 $(PROGRAMS_WARN) -Iinclude $(CPPFLAGS) $(CFLAGS) -o $@ $< \
	    -L$(BUILD) -ldogmalloc -Wl,-rpath,$(abspath $(BUILD)) $(LDFLAGS) -pthread

ifeq ($(SANITIZE),)
check-programs: deps-check lib $(PROGRAMS_HELPERS)
	tests/programs/run.sh -b $(PROGRAMS_BIN) $(OVERRIDE) $(PROGRAMS)
	$(if $(PROGRAMS),,tests/programs/options.sh $(OVERRIDE))
else
# A sanitizer-instrumented override cannot be preloaded into uninstrumented programs.
check-programs:
	@echo "check-programs: skipped with SANITIZE=$(SANITIZE) (run it on a normal build)"
endif
