# SPDX-License-Identifier: MIT
# mk/cxx.mk: the C++ headers (include/dogmalloc.hpp, include/dogmalloc-new-delete.h) tested
# with two compilers at two standards.
#   make check-cxx     build every tests/cxx/*.cpp with g++ and clang++, each at -std=c++17
#                      and -std=c++20, -Wall -Wextra -Wshadow -Werror, into
#                      $(BUILD)/cxx/<gcc|clang>-<std>/, and run them all (part of `make check`)
#   make check-cxx CXX_GCC=g++-13 CXX_CLANG=clang++-16   other compilers of each family
# The g++ builds link libdogmalloc.a and the clang++ builds libdogmalloc.so (through an
# rpath), so the headers meet both libraries. Debian's clang++ uses the libstdc++ of the
# newest GCC it finds (clang++ -v: "Selected GCC installation"); deps-cxx checks that it
# finds one. clang++ gets -fsized-deallocation, on by default in GCC (and in Clang 19).

CXX_GCC   ?= g++
CXX_CLANG ?= clang++
CXX_STDS  := c++17 c++20
CXX_DIR   := $(BUILD)/cxx
CXX_TESTS := $(patsubst tests/cxx/%.cpp,%,$(sort $(wildcard tests/cxx/*.cpp)))
CXX_DEPS  := include/dogmalloc.h include/dogmalloc.hpp include/dogmalloc-new-delete.h \
             tests/cxx/cxx_test.h
CXX_WARN  := -Wall -Wextra -Wshadow -Werror
CXX_OPT   := $(if $(CXXFLAGS),$(CXXFLAGS),-O2 -g)
DEPS_CXX  := $(DEPS_BUILD) g++ clang
# A sanitizer build's library carries the runtime of the compiler that built it ($(CC)), and
# the other family's runtime cannot join it in one process ("incompatible ASan runtimes"), so
# SANITIZE=... builds only that family, and says so (CC=clang runs the clang++ half).
CXX_CC_FAMILY := $(if $(SANITIZE),$(if $(findstring clang,$(shell $(CC) --version 2>/dev/null | \
                     head -n 1)),clang,gcc))
CXX_FAMILIES  := $(if $(SANITIZE),$(CXX_CC_FAMILY),gcc clang)
CXX_LEFT_OUT  := $(filter-out $(CXX_FAMILIES),gcc clang)
CXX_LEFT_OUT_MSG := check-cxx: SANITIZE=$(SANITIZE) builds only the $(CXX_CC_FAMILY) half: the \
    library is $(CC)'s, whose sanitizer runtime $(CXX_LEFT_OUT) cannot share a process with \
    (CC=$(if $(filter clang,$(CXX_LEFT_OUT)),clang,gcc) runs the $(CXX_LEFT_OUT) half)
CXX_COMPILER_gcc   = $(CXX_GCC)
CXX_COMPILER_clang = $(CXX_CLANG)
CXX_BINS  := $(foreach c,$(CXX_FAMILIES),$(foreach s,$(CXX_STDS),\
                 $(CXX_TESTS:%=$(CXX_DIR)/$(c)-$(s)/%)))

.PHONY: check-cxx deps-cxx cxx-tests

# Packages first (tools/deps.sh prints the apt-get command when they are missing); then each
# compiler must run and clang++ must find a C++ standard library, or the check stops here.
deps-cxx:
	@tools/deps.sh $(DEPS_CXX)
	@for c in $(firstword $(CXX_GCC)) $(firstword $(CXX_CLANG)); do \
	    command -v $$c > /dev/null || { echo "check-cxx: no $$c: install the compilers with" \
	        "sudo apt-get install -y g++ clang, or name others with CXX_GCC= and CXX_CLANG=" >&2; \
	        exit 1; }; \
	done
	@printf '#include <vector>\nint main() { return std::vector<int>(1)[0]; }\n' | \
	    $(CXX_CLANG) -x c++ -std=c++17 -fsyntax-only - 2> /dev/null || { \
	    echo "check-cxx: $(CXX_CLANG) finds no C++ standard library. It uses the libstdc++ of" \
	         "the GCC it selects ($(CXX_CLANG) -v | grep Selected); install that GCC's" \
	         "libstdc++-N-dev, e.g. sudo apt-get install -y libstdc++-12-dev" >&2; exit 1; }

# $(call cxx_rule,TAG,STD,COMPILER AND FLAGS,LIBRARY FILES,LINK FLAGS)
define cxx_rule
$(CXX_DIR)/$(1)-$(2)/%: tests/cxx/%.cpp $(CXX_DEPS) $(4) | deps-cxx
	@mkdir -p $$(@D)
	$(3) -std=$(2) $(CXX_WARN) -Iinclude $(SAN_FLAGS) $(CPPFLAGS) $(CXX_OPT) -pthread \
	    -o $$@ $$< $(LDFLAGS) $(5) -pthread
endef
CXX_SHARED_LINK := -L$(BUILD) -ldogmalloc -Wl,-rpath,$(abspath $(BUILD))
$(foreach s,$(CXX_STDS),$(eval $(call cxx_rule,gcc,$(s),$(CXX_GCC),$(STATIC),$(STATIC))))
$(foreach s,$(CXX_STDS),$(eval $(call cxx_rule,clang,$(s),$(CXX_CLANG) -fsized-deallocation,\
    $(SHARED) $(BUILD)/$(SONAME) $(BUILD)/libdogmalloc.so,$(CXX_SHARED_LINK))))

cxx-tests: $(CXX_BINS)

# Each program's output goes to a log next to it, shown when it fails.
check-cxx: deps-cxx lib cxx-tests
	$(if $(CXX_LEFT_OUT),@echo "$(CXX_LEFT_OUT_MSG)")
	@pass=0; fail=0; \
	for b in $(CXX_BINS); do \
	    name=$${b#$(CXX_DIR)/}; \
	    $$b > $$b.log 2>&1; rc=$$?; \
	    if [ $$rc -eq 0 ]; then \
	        pass=$$((pass + 1)); echo "PASS: $$name ($$(tail -n 1 $$b.log | sed 's/.*: //'))"; \
	    else \
	        fail=$$((fail + 1)); echo "FAIL: $$name (exit $$rc), output:"; sed 's/^/    /' $$b.log; \
	    fi; \
	done; \
	echo "check-cxx: $$pass passed, $$fail failed ($(words $(CXX_TESTS)) programs," \
	     "$(foreach f,$(CXX_FAMILIES),$(CXX_COMPILER_$(f))), $(CXX_STDS))"; \
	test $$fail -eq 0 -a $$pass -gt 0
