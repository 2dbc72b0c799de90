# SPDX-License-Identifier: MIT
# mk/install.mk: install and uninstall (GNU conventions: PREFIX, DESTDIR, LIBDIR, ...).
#   make install [PREFIX=/usr/local] [DESTDIR=/tmp/stage]
#   make uninstall (same PREFIX and DESTDIR): removes exactly the files install put there
#   make check-install: install into a temporary DESTDIR, build and run every example
#                       against that copy through pkg-config, CMake and Meson consumers,
#                       static override programs, render the man page, uninstall, check
#                       nothing is left (tools/check-install.sh)
# $(BUILD)/dogmalloc.pc and the CMake config (mk/cmake.mk) are regenerated on every run, so
# a PREFIX given only here is what the installed copies say. The HTML reference and the man
# page are installed when they have been built (`make docs`; check-install builds them).

INSTALL      ?= install
INSTALL_DATA ?= $(INSTALL) -m 644
INSTALL_LIB  ?= $(INSTALL) -m 755

DOCS_HTML_DIR := $(BUILD)/docs/html
MANDIR        ?= $(PREFIX)/share/man

# What install puts under $(DESTDIR) (the library files are relative to LIBDIR, the headers
# to INCLUDEDIR: the C API and the two C++ headers over it).
INSTALLED_HEADERS := dogmalloc.h dogmalloc.hpp dogmalloc-new-delete.h
INSTALLED_LIBS := libdogmalloc.a libdogmalloc.so.$(VERSION) $(SONAME) libdogmalloc.so \
                  libdogmalloc-override.so libdogmalloc-override.a
# The CMake package config (mk/cmake.mk) lives in a directory of its own under LIBDIR.
CMAKEDIR       := $(LIBDIR)/cmake/dogmalloc
INSTALLED_CMAKE := dogmalloc-config.cmake dogmalloc-config-version.cmake

.PHONY: check-install

install: lib cmake-config
	$(INSTALL) -d "$(DESTDIR)$(INCLUDEDIR)" "$(DESTDIR)$(LIBDIR)" "$(DESTDIR)$(PKGCONFIGDIR)" \
	    "$(DESTDIR)$(CMAKEDIR)"
	$(INSTALL_DATA) $(INSTALLED_HEADERS:%=include/%) "$(DESTDIR)$(INCLUDEDIR)/"
	$(INSTALL_DATA) $(STATIC) "$(DESTDIR)$(LIBDIR)/libdogmalloc.a"
	$(INSTALL_LIB) $(SHARED) "$(DESTDIR)$(LIBDIR)/libdogmalloc.so.$(VERSION)"
	ln -sf libdogmalloc.so.$(VERSION) "$(DESTDIR)$(LIBDIR)/$(SONAME)"
	ln -sf $(SONAME) "$(DESTDIR)$(LIBDIR)/libdogmalloc.so"
	$(INSTALL_LIB) $(OVERRIDE) "$(DESTDIR)$(LIBDIR)/libdogmalloc-override.so"
	$(INSTALL_DATA) $(OVERRIDE_STATIC) "$(DESTDIR)$(LIBDIR)/libdogmalloc-override.a"
	$(INSTALL_DATA) $(BUILD)/dogmalloc.pc "$(DESTDIR)$(PKGCONFIGDIR)/dogmalloc.pc"
	$(INSTALL_DATA) $(CMAKE_CONFIG) $(CMAKE_VERSION) "$(DESTDIR)$(CMAKEDIR)/"
	$(INSTALL) -d "$(DESTDIR)$(DOCDIR)"
	$(INSTALL_DATA) LICENSE "$(DESTDIR)$(DOCDIR)/LICENSE"
	$(INSTALL_DATA) CHANGELOG.md "$(DESTDIR)$(DOCDIR)/CHANGELOG.md"
	@if [ -f $(DOCS_MAN) ]; then \
	    echo "installing dogmalloc(3) into $(DESTDIR)$(MANDIR)/man3"; \
	    $(INSTALL) -d "$(DESTDIR)$(MANDIR)/man3" && \
	    $(INSTALL_DATA) $(DOCS_MAN) "$(DESTDIR)$(MANDIR)/man3/dogmalloc.3"; \
	else \
	    echo "(no man page installed: run 'make docs' first to include it)"; \
	fi
	@if [ -f $(DOCS_HTML_DIR)/index.html ]; then \
	    echo "installing the HTML reference into $(DESTDIR)$(DOCDIR)/html"; \
	    $(INSTALL) -d "$(DESTDIR)$(DOCDIR)/html" && \
	    cp -R $(DOCS_HTML_DIR)/. "$(DESTDIR)$(DOCDIR)/html/"; \
	else \
	    echo "(no HTML reference installed: run 'make docs' first to include it)"; \
	fi
	@echo "dogmalloc $(VERSION) installed under $(DESTDIR)$(PREFIX)"

# The HTML tree is ours alone (DOCDIR is dogmalloc's own directory), so it goes whole;
# shared directories such as LIBDIR and PKGCONFIGDIR stay.
uninstall:
	rm -f $(INSTALLED_HEADERS:%="$(DESTDIR)$(INCLUDEDIR)/%")
	rm -f $(INSTALLED_LIBS:%="$(DESTDIR)$(LIBDIR)/%")
	rm -f "$(DESTDIR)$(PKGCONFIGDIR)/dogmalloc.pc"
	rm -f $(INSTALLED_CMAKE:%="$(DESTDIR)$(CMAKEDIR)/%")
	@rmdir "$(DESTDIR)$(CMAKEDIR)" 2>/dev/null || true
	rm -rf "$(DESTDIR)$(DOCDIR)/html"
	rm -f "$(DESTDIR)$(DOCDIR)/LICENSE" "$(DESTDIR)$(DOCDIR)/CHANGELOG.md"
	rm -f "$(DESTDIR)$(MANDIR)/man3/dogmalloc.3"
	@rmdir "$(DESTDIR)$(DOCDIR)" 2>/dev/null || true
	@echo "dogmalloc uninstalled from $(DESTDIR)$(PREFIX)"

check-install: deps-install lib docs
	@BUILD="$(BUILD)" CC="$(CC)" CXX="$(CXX)" MAKE="$(MAKE)" tools/check-install.sh
