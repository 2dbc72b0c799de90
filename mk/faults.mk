# SPDX-License-Identifier: MIT
# mk/faults.mk: the fault-injection tests (tests/check_faults.c), included by the main Makefile.
#   make check-faults   build the library and the Check suite with FAULTS=1 (src/fault.h:
#                       every system call of os_posix.c can be failed on demand) into
#                       build-faults/, then run the "faults" suite: each OS call that each
#                       entry point makes, failed in turn, and threads allocating to
#                       exhaustion under RLIMIT_AS. Ends with the number of faults injected.
# With SANITIZE=... the build goes to build-<san>-faults/. The RLIMIT_AS cases also run in
# the ordinary suite (check-unit); the injection cases exist only in a FAULTS=1 build.

FAULTS_BUILD := $(if $(FAULTS),$(BUILD),$(BUILD)-faults)

.PHONY: check-faults

check-faults: deps-check
	@$(MAKE) --no-print-directory FAULTS=1 BUILD=$(FAULTS_BUILD) $(FAULTS_BUILD)/tests/check_dogmalloc
	@rc=0; CK_RUN_SUITE=faults CK_VERBOSITY=$${CK_VERBOSITY:-normal} \
	    $(FAULTS_BUILD)/tests/check_dogmalloc > $(FAULTS_BUILD)/check-faults.log 2>&1 || rc=$$?; \
	cat $(FAULTS_BUILD)/check-faults.log; \
	sed -n 's/.* \([0-9][0-9]*\) faults injected.*/\1/p' $(FAULTS_BUILD)/check-faults.log | \
	    awk '{ s += $$1; n++ } END { printf "check-faults: %d entry-point cases, %d faults " \
	        "injected (each OS call alone, then every mapping call from each on)\n", n, s }'; \
	exit $$rc
