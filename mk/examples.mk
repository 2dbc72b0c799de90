# SPDX-License-Identifier: MIT
# mk/examples.mk: the programs in examples/ (C, and C++ for dogmalloc.hpp), built against
# the in-tree library.
#   make examples         build them into $(BUILD)/examples/
#   make demo             install what the build needs, build everything, run every example
#   make check-examples   build and run them all; fails if one fails (part of `make check`)
# The same sources build against an installed copy with pkg-config: tools/check-install.sh.

# The demo's order tells a story; any other example found in examples/ runs after these.
EXAMPLE_ORDER := basic subsystems heap_arena requests threads budget evict strings routing leaks tree \
                 containers
EXAMPLE_FOUND := $(patsubst examples/%.c,%,$(sort $(wildcard examples/*.c))) \
                 $(patsubst examples/%.cpp,%,$(sort $(wildcard examples/*.cpp)))
EXAMPLE_NAMES := $(filter $(EXAMPLE_FOUND),$(EXAMPLE_ORDER)) \
                 $(filter-out $(EXAMPLE_ORDER),$(EXAMPLE_FOUND))
EXAMPLE_BINS  := $(EXAMPLE_NAMES:%=$(BUILD)/examples/%)
EXAMPLE_DIR   := $(BUILD)/examples

# Examples are user code: strict C11 (C++17 for the .cpp ones), public headers only, the
# static library. Each example's source file, .c or .cpp, for the logs and the loops.
EXAMPLE_CFLAGS   := -std=c11 -Wall -Wextra -pedantic -Iinclude
EXAMPLE_CXXFLAGS := -std=c++17 -Wall -Wextra -pedantic -Iinclude
EXAMPLE_SRCS     := $(foreach n,$(EXAMPLE_NAMES),\
                        $(notdir $(wildcard examples/$(n).c examples/$(n).cpp)))
# `make demo` builds the C++ example too.
DEPS_DEMO := $(DEPS_BUILD) g++

.PHONY: examples demo check-examples deps-demo

examples: $(EXAMPLE_BINS)

deps-demo:
	@tools/deps.sh $(DEPS_DEMO)

$(EXAMPLE_DIR)/%: examples/%.c include/dogmalloc.h $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(EXAMPLE_CFLAGS) $(SAN_FLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) -pthread

$(EXAMPLE_DIR)/%: examples/%.cpp include/dogmalloc.h include/dogmalloc.hpp $(STATIC)
	@mkdir -p $(@D)
	$(CXX) $(EXAMPLE_CXXFLAGS) $(SAN_FLAGS) $(CPPFLAGS) $(if $(CXXFLAGS),$(CXXFLAGS),-O2 -g) \
	    $(LDFLAGS) -o $@ $< $(STATIC) -pthread

# preload.sh puts the override under programs that are not ours; a sanitizer runtime must
# come first in the process, so sanitizer builds skip it.
EXAMPLE_PRELOAD := $(if $(SAN_FLAGS),,preload.sh)

# `make demo` is the README's first command: deps-demo first (it may install gcc and g++), then
# the build in a sub-make so that nothing compiles before the packages are there.
demo: deps-demo
	@echo "Building the library and the examples into $(BUILD)/ ..."
	@$(MAKE) --no-print-directory -s lib examples
	@for x in $(EXAMPLE_SRCS); do \
	    printf '\n==> examples/%s\n' "$$x"; \
	    $(EXAMPLE_DIR)/$${x%.*} || { echo "demo: examples/$$x failed (exit $$?)"; exit 1; }; \
	done; \
	for x in $(EXAMPLE_PRELOAD); do \
	    printf '\n==> examples/%s\n' "$$x"; \
	    examples/$$x $(OVERRIDE) || { echo "demo: examples/$$x failed"; exit 1; }; \
	done
	@printf '\nAll examples ran. Sources: examples/, binaries: %s/, tests: make check\n' \
	    "$(EXAMPLE_DIR)"

# Each example's output goes to a log next to it, shown only when it fails.
check-examples: lib examples
	@pass=0; fail=0; \
	for x in $(EXAMPLE_SRCS) $(EXAMPLE_PRELOAD); do \
	    case $$x in \
	        *.c|*.cpp) cmd=$(EXAMPLE_DIR)/$${x%.*} ;; \
	        *) cmd="examples/$$x $(OVERRIDE)" ;; \
	    esac; \
	    $$cmd > $(EXAMPLE_DIR)/$$x.log 2>&1; rc=$$?; \
	    if [ $$rc -eq 0 ]; then \
	        pass=$$((pass + 1)); echo "PASS: examples/$$x"; \
	    else \
	        fail=$$((fail + 1)); echo "FAIL: examples/$$x (exit $$rc), output:"; \
	        sed 's/^/    /' $(EXAMPLE_DIR)/$$x.log; \
	    fi; \
	done; \
	echo "check-examples: $$pass passed, $$fail failed"; \
	test $$fail -eq 0
