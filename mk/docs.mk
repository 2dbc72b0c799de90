# SPDX-License-Identifier: MIT
# mk/docs.mk: the Doxygen reference.
#   make docs            public API reference into $(BUILD)/docs/html/ (any warning fails),
#                        and the man page dogmalloc(3) into $(BUILD)/docs/dogmalloc.3
#   make man             the same (the man page comes from the same Doxygen run)
#   make docs-internal   the implementation (src/) into $(BUILD)/docs-internal/html/
# Doxygen reads the Doxyfile and then the two lines appended here, so the output goes under
# $(BUILD) and the pages carry the version from the header.

DOCS_INDEX   := $(BUILD)/docs/html/index.html
DOCS_MAN     := $(BUILD)/docs/dogmalloc.3
# The version string alone, even when a comment with quotes follows it on its line.
DOCS_VERSION := $(shell sed -n 's/.*define DOG_VERSION_STRING "\([^"]*\)".*/\1/p' \
                  include/dogmalloc.h)

.PHONY: docs docs-internal man

# Doxygen's man pages (one per group and struct) are joined into one dogmalloc(3) by
# tools/man-page.sh; the per-group pages are not installed.
docs: deps-docs
	@rm -rf $(BUILD)/docs && mkdir -p $(BUILD)/docs
	@{ cat docs/Doxyfile; echo 'OUTPUT_DIRECTORY = $(BUILD)/docs'; \
	   echo 'PROJECT_NUMBER = $(DOCS_VERSION)'; \
	   echo 'GENERATE_MAN = YES'; echo 'MAN_LINKS = NO'; } | doxygen - \
	    || { echo "make docs: doxygen failed (warnings are errors, see above)" >&2; exit 1; }
	@tools/man-page.sh $(BUILD)/docs/man/man3 $(DOCS_MAN) $(DOCS_VERSION)
	@echo "API reference: $(DOCS_INDEX)"
	@echo "Man page: $(DOCS_MAN) (man -l $(DOCS_MAN))"

man: docs

docs-internal: deps-docs
	@rm -rf $(BUILD)/docs-internal && mkdir -p $(BUILD)/docs-internal
	@{ cat docs/Doxyfile.internal; echo 'OUTPUT_DIRECTORY = $(BUILD)/docs-internal'; \
	   echo 'PROJECT_NUMBER = $(DOCS_VERSION)'; } | doxygen -
	@echo "Internals: $(BUILD)/docs-internal/html/index.html"
