# SPDX-License-Identifier: MIT
# mk/cmake.mk: the CMake package config that `make install` puts in $(LIBDIR)/cmake/dogmalloc,
# so that find_package(dogmalloc) gives the imported targets dogmalloc::dogmalloc and
# dogmalloc::dogmalloc-static. Like the .pc file, both files are regenerated on every run,
# so a PREFIX or LIBDIR given only at install time is honoured.
# The config finds the prefix from its own location (relocatable): it climbs from
# $(LIBDIR)/cmake/dogmalloc to $(PREFIX) and names the library and header directories
# relative to that. A LIBDIR or INCLUDEDIR outside PREFIX is written as an absolute path.
# (The source tree as a CMake subproject is CMakeLists.txt; it installs nothing.)

CMAKE_CONFIG  := $(BUILD)/cmake/dogmalloc-config.cmake
CMAKE_VERSION := $(BUILD)/cmake/dogmalloc-config-version.cmake

# $(call dog_under_prefix,DIR): DIR relative to PREFIX, or empty if DIR is not inside it.
dog_under_prefix = $(patsubst $(PREFIX)/%,%,$(filter $(PREFIX)/%,$(1)))
# $(call dog_cmake_dir,DIR): how the config names DIR.
dog_cmake_dir = $(if $(call dog_under_prefix,$(1)),$${_dogmalloc_prefix}/$(call dog_under_prefix,$(1)),$(1))
DOG_REL_LIBDIR     := $(call dog_under_prefix,$(LIBDIR))
DOG_UP_FROM_LIBDIR := $(subst $() ,/,$(patsubst %,..,$(subst /, ,$(DOG_REL_LIBDIR))))

.PHONY: cmake-config $(CMAKE_CONFIG) $(CMAKE_VERSION)

cmake-config: $(CMAKE_CONFIG) $(CMAKE_VERSION)

$(BUILD)/cmake:
	@mkdir -p $@

$(CMAKE_CONFIG): cmake/dogmalloc-config.cmake.in | $(BUILD)/cmake
	@sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(MAJOR)|g' \
	     -e 's|@DOG_REL_LIBDIR@|$(or $(DOG_REL_LIBDIR),$(LIBDIR) (outside the prefix))|g' \
	     -e 's|@DOG_UP_FROM_LIBDIR@|$(DOG_UP_FROM_LIBDIR)|g' \
	     -e 's|@DOG_CMAKE_LIBDIR@|$(call dog_cmake_dir,$(LIBDIR))|g' \
	     -e 's|@DOG_CMAKE_INCLUDEDIR@|$(call dog_cmake_dir,$(INCLUDEDIR))|g' $< > $@

$(CMAKE_VERSION): cmake/dogmalloc-config-version.cmake.in | $(BUILD)/cmake
	@sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(MAJOR)|g' $< > $@
