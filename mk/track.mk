# SPDX-License-Identifier: MIT
# mk/track.mk: memory checkers that see dog blocks (src/track.h, docs/debugging.md).
#   make TRACK=valgrind lib     the libraries with memcheck client requests, in build-valgrind/
#   make check-track            build that and a SANITIZE=address library (build-address/),
#                               then run the faulty programs of tests/track/ under memcheck
#                               and under ASan and check that each report names the fault;
#                               clean.c, sort, sqlite3, perl and python3 under the override
#                               (CHECK_TRACK_PROGRAMS=0 leaves the real programs out) and
#                               the Check suites of CHECK_TRACK_SUITES under memcheck must
#                               give 0 errors (about 2 minutes on 2 cores)
#   make check-track-unit       the whole Check suite of the TRACK=valgrind build under
#                               memcheck: slow (api, heap_api, bad_input and threads take
#                               about 10 minutes on 2 cores, lifecycle alone more than 9);
#                               CK_RUN_SUITE=api picks one suite. In threads,
#                               test_threads_process_first_use fails: it runs
#                               /proc/self/exe again, which under Valgrind is Valgrind's
#                               tool ("You cannot run 'check_dogmalloc' directly")

TRACK_VG_BUILD   := build-valgrind
TRACK_ASAN_BUILD := build-address
DEPS_TRACK       := $(DEPS_BUILD) valgrind check
CHECK_TRACK_PROGRAMS ?= 1
# bad_input: every misuse message, death tests included (22 s under memcheck); api and
# heap_api pass too, at a minute each.
CHECK_TRACK_SUITES   ?= bad_input
TRACK_VALGRIND := valgrind -q --error-exitcode=99

.PHONY: check-track check-track-unit deps-track

deps-track:
	@tools/deps.sh $(DEPS_TRACK)

# Sub-makes with their own build modes: TRACK and SANITIZE exclude each other, so each
# clears the other's variable (a command-line value would reach it through MAKEFLAGS).
# Valgrind 3.19 cannot read clang 14's DWARF 5 ("unhandled dwarf2 abbrev form code"),
# so the memcheck build asks for DWARF 4 (gcc's DWARF 5 it reads; version 4 serves both).
TRACK_VG_CFLAGS := $(if $(CFLAGS),$(CFLAGS),-O2 -g) -gdwarf-4

check-track: deps-track
	@$(MAKE) --no-print-directory TRACK=valgrind SANITIZE= BUILD=$(TRACK_VG_BUILD) \
	    CFLAGS="$(TRACK_VG_CFLAGS)" lib tests
	@$(MAKE) --no-print-directory TRACK= SANITIZE=address BUILD=$(TRACK_ASAN_BUILD) \
	    CFLAGS="-O1 -g" lib
	tests/track/run.sh --cc "$(CC)" --valgrind $(TRACK_VG_BUILD) --asan $(TRACK_ASAN_BUILD) \
	    $(if $(filter 1,$(CHECK_TRACK_PROGRAMS)),--programs)
	@for s in $(CHECK_TRACK_SUITES); do \
	    echo "check-track: Check suite $$s under memcheck"; \
	    CK_RUN_SUITE=$$s CK_FORK=no $(TRACK_VALGRIND) $(TRACK_VG_BUILD)/tests/check_dogmalloc || exit 1; \
	done

check-track-unit: deps-track
	@$(MAKE) --no-print-directory TRACK=valgrind SANITIZE= BUILD=$(TRACK_VG_BUILD) \
	    CFLAGS="$(TRACK_VG_CFLAGS)" tests
	CK_FORK=no $(TRACK_VALGRIND) $(TRACK_VG_BUILD)/tests/check_dogmalloc
