# SPDX-License-Identifier: MIT
# mk/examples.mk: the programs in examples/, built against the in-tree library.
#   make examples         build them into $(BUILD)/examples/
#   make demo             install what the build needs, build everything, run every example
#   make check-examples   build and run them all; fails if one fails (part of `make check`)
# The same sources build against an installed copy with pkg-config: tools/check-install.sh.

# The demo's order tells a story; any other example found in examples/ runs after these.
EXAMPLE_ORDER := basic subsystems heap_arena requests threads budget evict strings routing leaks tree
EXAMPLE_FOUND := $(patsubst examples/%.c,%,$(sort $(wildcard examples/*.c)))
EXAMPLE_NAMES := $(filter $(EXAMPLE_FOUND),$(EXAMPLE_ORDER)) \
                 $(filter-out $(EXAMPLE_ORDER),$(EXAMPLE_FOUND))
EXAMPLE_BINS  := $(EXAMPLE_NAMES:%=$(BUILD)/examples/%)
EXAMPLE_DIR   := $(BUILD)/examples

# Examples are user code: strict C11, public header only, the static library.
EXAMPLE_CFLAGS := -std=c11 -Wall -Wextra -pedantic -Iinclude

.PHONY: examples demo check-examples

examples: $(EXAMPLE_BINS)

$(EXAMPLE_DIR)/%: examples/%.c include/dogmalloc.h $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(EXAMPLE_CFLAGS) $(SAN_FLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) -pthread

# preload.sh puts the override under programs that are not ours; a sanitizer runtime must
# come first in the process, so sanitizer builds skip it.
EXAMPLE_PRELOAD := $(if $(SAN_FLAGS),,preload.sh)

# `make demo` is the README's first command: deps-build first (it may install gcc), then
# the build in a sub-make so that nothing compiles before the packages are there.
demo: deps-build
	@echo "Building the library and the examples into $(BUILD)/ ..."
	@$(MAKE) --no-print-directory -s lib examples
	@for x in $(EXAMPLE_NAMES); do \
	    printf '\n==> examples/%s.c\n' "$$x"; \
	    $(EXAMPLE_DIR)/$$x || { echo "demo: examples/$$x.c failed (exit $$?)"; exit 1; }; \
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
	for x in $(EXAMPLE_NAMES:%=%.c) $(EXAMPLE_PRELOAD); do \
	    case $$x in \
	        *.c) cmd=$(EXAMPLE_DIR)/$${x%.c} ;; \
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
