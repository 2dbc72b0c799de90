# SPDX-License-Identifier: MIT
# mk/check.mk: the Check unit test suite in tests/.
#   make check-unit                   build $(BUILD)/tests/check_dogmalloc and run it
#   make check-unit SANITIZE=address  the same under ASan (or thread, undefined) in build-<san>/
#   make DEBUG=3 check-unit           the same on the debug build that validates invariants
# Useful environment for a run: CK_FORK=no (debuggers, valgrind), CK_RUN_SUITE=threads,
# CK_RUN_CASE=limits, CK_VERBOSITY=verbose, DOG_TEST_SCALE=4 (longer stress tests).
# The binary links the static library, so tests may include src/ headers (check_size_class.c).

TEST_SRCS := $(sort $(wildcard tests/*.c))
TEST_OBJS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%.o)
TEST_BIN  := $(BUILD)/tests/check_dogmalloc

# Recursively expanded: pkg-config runs when a test is built, after deps-check installed it.
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS   = $(shell pkg-config --libs check)
TEST_CFLAGS  := -std=gnu11 -Wall -Wextra -Iinclude -Isrc -MMD -MP -pthread

.PHONY: check-unit tests

tests: $(TEST_BIN)

# deps-check is order-only: it runs first (and installs `check` when missing) but does not
# force a rebuild.
$(BUILD)/tests/%.o: tests/%.c | deps-check
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $(SAN_FLAGS) $(FAULT_FLAGS) $(TRACK_FLAGS) $(SECURE_FLAGS) $(DEBUG_FLAGS) $(CHECK_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(TEST_BIN): $(TEST_OBJS) $(STATIC)
	$(CC) $(SAN_FLAGS) $(LDFLAGS) -o $@ $(TEST_OBJS) $(STATIC) $(CHECK_LIBS) -pthread

check-unit: deps-check $(TEST_BIN)
	CK_VERBOSITY=$${CK_VERBOSITY:-normal} $(TEST_BIN)

-include $(TEST_OBJS:.o=.d)
