# SPDX-License-Identifier: MIT
# dogmalloc: plain GNU make (modelled on zstd's lib/Makefile).
#   make                 libraries into build/
#   make check           Check test suite, C++ tests, examples, real programs under the override
#   make demo            build and run the examples
#   make SANITIZE=address check   (or thread, undefined): sanitizer build in build-<san>/
#   make check-faults    OS calls failed one by one (FAULTS=1 build in build-faults/)
#   make check-stress    the anchors' stress shape, full scale (SANITIZE=thread: reduced; mk/stress.mk)
#   make TRACK=valgrind            libraries with Valgrind client requests in build-valgrind/
#   make SECURE=1        the secure build in build-secure/ (libdogmalloc-secure.so: docs/secure.md)
#   make DEBUG=3 check-unit   the unit suite on a debug build in build-debug3/ (DEBUG=1, 2
#                        likewise); 3 validates the structs' invariants (docs/debugging.md)
#   make check-track               faulty programs under memcheck and ASan (docs/debugging.md)
#   make bench / bench-quick, make docs, make install [PREFIX=... DESTDIR=...]

PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DOCDIR       ?= $(PREFIX)/share/doc/dogmalloc
# The project's home, written into the .pc file's URL field.
URL          ?= https://github.com/dogmalloc/dogmalloc

CC      ?= cc
CFLAGS  ?= -O2 -g
VERSION := $(shell sed -n 's/.*define DOG_VERSION_STRING "\([^"]*\)".*/\1/p' include/dogmalloc.h)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
SONAME  := libdogmalloc.so.$(MAJOR)

# FAULTS=1: the OS layer's system calls fail on demand (src/fault.h), for the fault tests
# (mk/faults.mk); its own build directory, as a sanitizer build has.
FAULT_SUFFIX := $(if $(FAULTS),-faults)
FAULT_FLAGS  := $(if $(FAULTS),-DDOG_FAULT_INJECT)

# TRACK=valgrind: memcheck sees every dog block (src/track.h); ASan builds get the same
# through poisoning without a flag. One checker per build.
ifneq ($(TRACK),)
ifneq ($(TRACK),valgrind)
$(error TRACK=$(TRACK): the only tracking backend is valgrind (ASan: SANITIZE=address))
endif
ifneq ($(SANITIZE),)
$(error TRACK=valgrind and SANITIZE=$(SANITIZE) exclude each other: one checker per build)
endif
endif
TRACK_FLAGS := $(if $(TRACK),-DDOG_TRACK_VALGRIND=1)

# SECURE=1: the mitigations of src/config.h, in a build directory of their own; the
# override of that build is also named libdogmalloc-secure.so, the name to preload.
ifneq ($(filter-out 0 1,$(SECURE)),)
$(error SECURE=$(SECURE): SECURE=1 builds the secure build, SECURE=0 (or nothing) the default one)
endif
SECURE_ON     := $(filter 1,$(SECURE))
SECURE_SUFFIX := $(if $(SECURE_ON),-secure)
SECURE_FLAGS  := $(if $(SECURE_ON),-DDOG_SECURE=1)

# DEBUG=1, 2 or 3: DOG_DEBUG of src/config.h (1: misuse asserts, 2: internal asserts, 3:
# the invariant validator of src/validate.c too), at -O0, in a build directory of its own
# (build-debug3/, build-secure-debug3/, ...). The tests are compiled with the same
# DOG_DEBUG, so that a test of the validator exists only where the validator does.
ifneq ($(filter-out 0 1 2 3,$(DEBUG)),)
$(error DEBUG=$(DEBUG): DEBUG=1, 2 or 3 builds a debug build (config.h: DOG_DEBUG), DEBUG=0 (or nothing) the default one)
endif
DEBUG_ON     := $(filter 1 2 3,$(DEBUG))
DEBUG_SUFFIX := $(if $(DEBUG_ON),-debug$(DEBUG_ON))
DEBUG_FLAGS  := $(if $(DEBUG_ON),-DDOG_DEBUG=$(DEBUG_ON))

ifeq ($(SANITIZE),)
BUILD   ?= $(if $(TRACK),build-$(TRACK),$(if $(SECURE_ON),build-secure,build))$(if $(TRACK),$(SECURE_SUFFIX))$(DEBUG_SUFFIX)$(FAULT_SUFFIX)
SAN_FLAGS :=
else
comma   := ,
BUILD   ?= build-$(subst $(comma),-,$(SANITIZE))$(SECURE_SUFFIX)$(DEBUG_SUFFIX)$(FAULT_SUFFIX)
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -DDOG_SANITIZE=1
endif

# Required flags stay out of CFLAGS so that `make CFLAGS=-O3` keeps them.
DOG_CFLAGS := -std=gnu11 -Wall -Wextra -fPIC -fvisibility=hidden -DDOG_BUILDING \
              -Iinclude -Isrc -MMD -MP -pthread
LIBS       := -pthread

OS_SRC   := src/os_posix.c
LIB_SRCS := src/size_class.c src/segmap.c src/page.c src/page_pool.c src/heap.c \
            src/heap_pool.c src/meta.c src/tcache.c src/huge.c src/alloc.c src/heap_api.c src/stats.c src/visit.c \
            src/options.c src/misuse.c src/init.c src/validate.c $(OS_SRC)
LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/%.o)
OVR_OBJS := $(LIB_OBJS) $(BUILD)/override.o

STATIC   := $(BUILD)/libdogmalloc.a
SHARED   := $(BUILD)/libdogmalloc.so.$(VERSION)
OVERRIDE := $(BUILD)/libdogmalloc-override.so
OVERRIDE_STATIC := $(BUILD)/libdogmalloc-override.a

# Debian packages each job needs; tools/deps.sh installs them as root, else prints the command.
DEPS_BUILD := gcc make pkgconf
DEPS_CHECK := $(DEPS_BUILD) check g++ sqlite3 git perl python3 libpython3.11-testsuite coreutils \
              valgrind libclang-rt-14-dev clang
DEPS_BENCH := $(DEPS_BUILD) g++ libmimalloc-dev libjemalloc-dev libgoogle-perftools-dev libtbb-dev \
              libtalloc-dev libapr1-dev gnuplot-nox valgrind
DEPS_DOCS  := doxygen graphviz
# check-install builds consumers with CMake and Meson and renders the man page.
DEPS_INSTALL := $(DEPS_BUILD) g++ cmake meson ninja-build man-db


.PHONY: check-exports check-license
.PHONY: all lib check check-unit check-cxx check-examples check-install check-programs check-bench demo \
        examples bench bench-quick docs docs-internal install uninstall clean \
        deps-build deps-check deps-bench deps-docs deps-install \
        $(BUILD)/dogmalloc.pc
.DEFAULT_GOAL := all

all: lib

# `make check` is the README's test command: every part registers its own check-* target
# in mk/*.mk (check-unit: Check suite, check-cxx: the C++ headers with g++ and clang++,
# check-fuzz: the fuzz corpora replayed, check-examples, check-programs: real programs under
# the override, check-bench: every benchmark binary on a tiny size).
check: check-exports check-license check-unit check-cxx check-fuzz check-examples check-programs \
       check-bench
	@echo "make check: all parts passed"

# The shared library exports the public API and nothing else (internal names are dog__ and
# hidden); the override exports that API plus the malloc family.
check-exports: lib
	@bad=$$(nm -D --defined-only $(SHARED) | awk '{print $$3}' | grep -v '^dog_'); \
	if [ -n "$$bad" ]; then echo "check-exports: $(SHARED) exports non-API symbols: $$bad"; exit 1; fi; \
	bad=$$(nm -D --defined-only $(SHARED) | awk '{print $$3}' | grep '^dog__'); \
	if [ -n "$$bad" ]; then echo "check-exports: internal symbols exported: $$bad"; exit 1; fi; \
	echo "check-exports: $(SHARED) exports $$(nm -D --defined-only $(SHARED) | wc -l) dog_* symbols only"

# Every source, build and script file carries the project's SPDX licence line near its top
# (see LICENSE); data files (benchmark results, plots, fuzz inputs) and Markdown do not.
check-license:
	@bad=$$(git ls-files 2>/dev/null | grep -v -e '^docs/bench/.*\.\(csv\|png\|txt\)$$' \
	        -e '^tests/fuzz/corpus/' \
	        -e '\.md$$' -e '^LICENSE$$' | while read -r f; do \
	    head -n 3 "$$f" | grep -q 'SPDX-License-Identifier: MIT' || echo "$$f"; done); \
	if [ -n "$$bad" ]; then echo "check-license: no SPDX-License-Identifier line in:"; \
	    echo "$$bad" | sed 's/^/    /'; exit 1; fi; \
	test -f LICENSE && grep -q '^MIT License' LICENSE || { echo "check-license: LICENSE missing"; exit 1; }; \
	echo "check-license: LICENSE (MIT) and an SPDX line in every tracked source file"

deps-build:
	@tools/deps.sh $(DEPS_BUILD)
deps-check:
	@tools/deps.sh $(DEPS_CHECK)
deps-bench:
	@tools/deps.sh $(DEPS_BENCH)
deps-docs:
	@tools/deps.sh $(DEPS_DOCS)
deps-install:
	@tools/deps.sh $(DEPS_INSTALL)
lib: $(STATIC) $(SHARED) $(BUILD)/libdogmalloc.so $(BUILD)/$(SONAME) $(OVERRIDE) $(OVERRIDE_STATIC) \
     $(BUILD)/dogmalloc.pc $(if $(SECURE_ON),$(BUILD)/libdogmalloc-secure.so)

$(BUILD):
	@mkdir -p $(BUILD)

# The DEBUG flags go last so that their -O0 wins over CFLAGS.
$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(DOG_CFLAGS) $(SAN_FLAGS) $(FAULT_FLAGS) $(TRACK_FLAGS) $(SECURE_FLAGS) $(CPPFLAGS) $(CFLAGS) \
	    $(if $(DEBUG_ON),-O0 $(DEBUG_FLAGS)) -c -o $@ $<

$(STATIC): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(SHARED): $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,$(SONAME) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/$(SONAME): $(SHARED)
	ln -sf $(notdir $<) $@
$(BUILD)/libdogmalloc.so: $(SHARED)
	ln -sf $(notdir $<) $@

# The override library carries the whole allocator plus the malloc family; it has no
# soname dependency on libdogmalloc.so, so that LD_PRELOAD needs only this one file.
$(OVERRIDE): $(OVR_OBJS)
	$(CC) -shared -Wl,-soname,libdogmalloc-override.so -Wl,-Bsymbolic-functions $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# The secure build's override, under the name users preload (docs/secure.md).
$(BUILD)/libdogmalloc-secure.so: $(OVR_OBJS)
	$(CC) -shared -Wl,-soname,libdogmalloc-secure.so -Wl,-Bsymbolic-functions $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# The static override: the same objects in an archive, for programs linked with -static
# (which cannot preload). Linked with -Wl,--whole-archive so that its malloc is taken
# even when nothing outside libc calls malloc (docs/override.md says why).
$(OVERRIDE_STATIC): $(OVR_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

# The .pc file is regenerated on every run (zstd does the same), so that a PREFIX given
# only at install time is honoured.
$(BUILD)/dogmalloc.pc: pkgconfig/dogmalloc.pc.in | $(BUILD)
	@sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	     -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@URL@|$(URL)|' $< > $@

-include $(LIB_OBJS:.o=.d) $(BUILD)/override.d

# Pieces that live in their own files: tests, examples, benchmarks, docs, install.
include $(wildcard mk/*.mk)

clean:
	rm -rf build build-*
