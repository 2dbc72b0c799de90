# SPDX-License-Identifier: MIT
# mk/docs.mk: the Doxygen reference.
#   make docs            public API reference into $(BUILD)/docs/html/ (any warning fails)
#   make docs-internal   the implementation (src/) into $(BUILD)/docs-internal/html/
# Doxygen reads the Doxyfile and then the two lines appended here, so the output goes under
# $(BUILD) and the pages carry the version from the header.

DOCS_INDEX   := $(BUILD)/docs/html/index.html
# The version string alone, even when a comment with quotes follows it on its line.
DOCS_VERSION := $(shell sed -n 's/.*define DOG_VERSION_STRING "\([^"]*\)".*/\1/p' \
                  include/dogmalloc.h)

.PHONY: docs docs-internal

docs: deps-docs
	@rm -rf $(BUILD)/docs && mkdir -p $(BUILD)/docs
	@{ cat docs/Doxyfile; echo 'OUTPUT_DIRECTORY = $(BUILD)/docs'; \
	   echo 'PROJECT_NUMBER = $(DOCS_VERSION)'; } | doxygen - \
	    || { echo "make docs: doxygen failed (warnings are errors, see above)" >&2; exit 1; }
	@echo "API reference: $(DOCS_INDEX)"

docs-internal: deps-docs
	@rm -rf $(BUILD)/docs-internal && mkdir -p $(BUILD)/docs-internal
	@{ cat docs/Doxyfile.internal; echo 'OUTPUT_DIRECTORY = $(BUILD)/docs-internal'; \
	   echo 'PROJECT_NUMBER = $(DOCS_VERSION)'; } | doxygen -
	@echo "Internals: $(BUILD)/docs-internal/html/index.html"
