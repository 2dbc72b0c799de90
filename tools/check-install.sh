#!/bin/sh
# SPDX-License-Identifier: MIT
# check-install.sh: prove that an installed dogmalloc is usable as a system library.
#
# 1. `make install` into a temporary DESTDIR (PREFIX=/usr/local, as a user would).
# 2. Build every examples/*.c against that copy with only
#    `pkg-config --cflags --libs dogmalloc`, shared (run with LD_LIBRARY_PATH, and checked
#    to load the installed libdogmalloc.so) and static (`pkg-config --static`, linked
#    with -static so libdogmalloc.a is the only copy), and run each build.
#    The C++ examples (examples/*.cpp) the same way with $CXX -std=c++17, and
#    tests/cxx/new_delete.cpp (dogmalloc-new-delete.h) against the installed headers and
#    libdogmalloc.so.
# 3. Run examples/preload.sh with the installed override library.
# 4. The static override: tests/install/static_override.{c,cpp} linked -static with
#    libdogmalloc-override.a, every block checked to be dog_default's.
# 5. CMake: tests/install/cmake-package (find_package through CMAKE_PREFIX_PATH, shared,
#    static, a C++ program on dogmalloc.hpp, and the static override) and
#    tests/install/cmake-subproject (add_subdirectory of a copy of this tree; its libraries
#    must define the symbols the Makefile's do).
# 6. Meson: tests/install/meson, dependency('dogmalloc') through pkg-config, shared and static.
# 7. The man page: dogmalloc(3) is installed and `man -l` renders it.
# 8. `make uninstall` and check that no file is left in DESTDIR.
# PKG_CONFIG_SYSROOT_DIR makes pkg-config prefix its -I and -L paths with DESTDIR.
# Environment: BUILD (build), CC (cc), CXX (c++), MAKE (make), PREFIX (/usr/local).
set -eu

BUILD=${BUILD:-build}
CC=${CC:-cc}
CXX=${CXX:-c++}
MAKE=${MAKE:-make}
PREFIX=${PREFIX:-/usr/local}
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/dogmalloc-check-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest=$work/dest
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "PASS: $*"; }
ko() { fail=$((fail + 1)); echo "FAIL: $*"; }

echo "== make install DESTDIR=$dest PREFIX=$PREFIX"
$MAKE --no-print-directory -s install DESTDIR="$dest" PREFIX="$PREFIX" BUILD="$BUILD" \
    > "$work/install.log" 2>&1 || { cat "$work/install.log"; echo "FAIL: make install"; exit 1; }
find "$dest" ! -type d | sed "s|^$dest||" | sort > "$work/installed.txt"
echo "installed $(wc -l < "$work/installed.txt") files and links:"
grep -v '/share/doc/dogmalloc/html/' "$work/installed.txt" | sed 's/^/    /'
grep -q '/share/doc/dogmalloc/html/index.html$' "$work/installed.txt" &&
    echo "    ... and the HTML reference"

grep -q "^$PREFIX/share/doc/dogmalloc/LICENSE\$" "$work/installed.txt" &&
    ok "the MIT licence is installed in the doc folder" || ko "no LICENSE in the doc folder"

libdir=$dest$PREFIX/lib
export PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest"
export PKG_CONFIG_LIBDIR="$libdir/pkgconfig"      # only the copy under test
pkg-config --exists dogmalloc || { echo "FAIL: pkg-config does not find dogmalloc"; exit 1; }
echo "pkg-config: dogmalloc $(pkg-config --modversion dogmalloc):" \
     "$(pkg-config --cflags --libs dogmalloc)"
echo "pkg-config --static: $(pkg-config --static --cflags --libs dogmalloc)"

for src in examples/*.c; do
    name=$(basename "$src" .c)
    # Shared: the executable must load the installed libdogmalloc.so.
    # shellcheck disable=SC2046  # pkg-config output is meant to be split
    if "$CC" -o "$work/$name.shared" "$src" $(pkg-config --cflags --libs dogmalloc) \
            > "$work/$name.cc.log" 2>&1 &&
       LD_LIBRARY_PATH=$libdir ldd "$work/$name.shared" | grep -q "=> $libdir/libdogmalloc.so" &&
       LD_LIBRARY_PATH=$libdir "$work/$name.shared" > "$work/$name.out" 2>&1; then
        ok "$name (shared)"
    else
        ko "$name (shared)"; cat "$work/$name.cc.log" "$work/$name.out" 2>/dev/null || true
    fi
    # Static: pkg-config --static gives the private libraries too; -static takes the .a.
    # shellcheck disable=SC2046
    if "$CC" -static -o "$work/$name.static" "$src" \
            $(pkg-config --static --cflags --libs dogmalloc) > "$work/$name.cc.log" 2>&1 &&
       ! ldd "$work/$name.static" > /dev/null 2>&1 &&
       "$work/$name.static" > "$work/$name.out" 2>&1; then
        ok "$name (static)"
    else
        ko "$name (static)"; cat "$work/$name.cc.log" "$work/$name.out" 2>/dev/null || true
    fi
done

for src in examples/*.cpp; do
    name=$(basename "$src" .cpp)
    # shellcheck disable=SC2046
    if "$CXX" -std=c++17 -o "$work/$name.shared" "$src" $(pkg-config --cflags --libs dogmalloc) \
            > "$work/$name.cc.log" 2>&1 &&
       LD_LIBRARY_PATH=$libdir ldd "$work/$name.shared" | grep -q "=> $libdir/libdogmalloc.so" &&
       LD_LIBRARY_PATH=$libdir "$work/$name.shared" > "$work/$name.out" 2>&1; then
        ok "$name.cpp (shared)"
    else
        ko "$name.cpp (shared)"; cat "$work/$name.cc.log" "$work/$name.out" 2>/dev/null || true
    fi
    # shellcheck disable=SC2046
    if "$CXX" -std=c++17 -static -o "$work/$name.static" "$src" \
            $(pkg-config --static --cflags --libs dogmalloc) > "$work/$name.cc.log" 2>&1 &&
       ! ldd "$work/$name.static" > /dev/null 2>&1 &&
       "$work/$name.static" > "$work/$name.out" 2>&1; then
        ok "$name.cpp (static)"
    else
        ko "$name.cpp (static)"; cat "$work/$name.cc.log" "$work/$name.out" 2>/dev/null || true
    fi
done
# The installed dogmalloc-new-delete.h: only the test harness comes from the source tree.
# shellcheck disable=SC2046
if "$CXX" -std=c++17 -o "$work/new_delete" tests/cxx/new_delete.cpp \
        $(pkg-config --cflags --libs dogmalloc) > "$work/new_delete.cc.log" 2>&1 &&
   LD_LIBRARY_PATH=$libdir "$work/new_delete" > "$work/new_delete.out" 2>&1; then
    ok "dogmalloc-new-delete.h (installed): $(tail -n 1 "$work/new_delete.out")"
else
    ko "dogmalloc-new-delete.h (installed)"
    cat "$work/new_delete.cc.log" "$work/new_delete.out" 2>/dev/null || true
fi

if sh examples/preload.sh "$libdir/libdogmalloc-override.so" \
        > "$work/preload.out" 2>&1; then
    ok "preload.sh (installed override)"
else
    ko "preload.sh (installed override)"; cat "$work/preload.out"
fi

# shellcheck disable=SC2086  # the link line is meant to be split
link_override="-Wl,--whole-archive -ldogmalloc-override -Wl,--no-whole-archive -pthread"
echo "== static override: -static, $link_override"
for src in tests/install/static_override.c tests/install/static_override.cpp; do
    case $src in *.c) cc=$CC; kind=C ;; *) cc=$CXX; kind=C++ ;; esac
    # shellcheck disable=SC2086
    if "$cc" -static -o "$work/override-$kind" "$src" -I"$dest$PREFIX/include" -L"$libdir" \
            $link_override > "$work/override.cc.log" 2>&1 &&
       ! ldd "$work/override-$kind" > /dev/null 2>&1 &&
       "$work/override-$kind" > "$work/override.out" 2>&1; then
        ok "static override ($kind): $(tail -n 1 "$work/override.out")"
    else
        ko "static override ($kind)"; cat "$work/override.cc.log" "$work/override.out" || true
    fi
done
# What docs/override.md warns of: without --whole-archive, a program that never calls malloc
# itself (only operator new) takes glibc's malloc from libc.a, and the check above would fail.
if "$CXX" -static -o "$work/override-plain" tests/install/static_override.cpp \
        -I"$dest$PREFIX/include" -L"$libdir" -ldogmalloc-override -pthread \
        > "$work/override.cc.log" 2>&1 &&
   ! "$work/override-plain" > "$work/override.out" 2>&1; then
    ok "static override (C++) without --whole-archive falls back to glibc, as documented"
else
    ko "static override (C++) without --whole-archive: expected glibc's malloc to serve it"
    cat "$work/override.cc.log" "$work/override.out" || true
fi

# A consumer project gets an example as app.c (threads.c: it needs the Threads dependency).
consumer() {    # consumer DIR: a fresh copy of tests/install/DIR in $work/DIR
    rm -rf "${work:?}/$1"
    cp -R "tests/install/$1" "$work/$1"
    cp examples/threads.c "$work/$1/app.c"
    cp tests/install/static_override.c examples/containers.cpp "$work/$1/"
}
# run_pair DIR WHAT: the shared app must load the installed library (ldd, with no
# LD_LIBRARY_PATH: the build system put the library's directory in the RUNPATH) or, for
# add_subdirectory, the one it built; the static app must not need libdogmalloc.so at all.
run_pair() {
    bin=$work/$1/build
    if ldd "$bin/app-shared" | grep -q "libdogmalloc.so.$MAJOR => $3" &&
       "$bin/app-shared" > "$bin/out" 2>&1; then
        ok "$2: app-shared (loads $(ldd "$bin/app-shared" | awk '/libdogmalloc/ {print $3}'))"
    else
        ko "$2: app-shared"; ldd "$bin/app-shared"; cat "$bin/out" 2>/dev/null || true
    fi
    if ! readelf -d "$bin/app-static" | grep -q 'NEEDED.*libdogmalloc' &&
       nm "$bin/app-static" | grep -q ' T dog_malloc$' &&
       "$bin/app-static" > "$bin/out" 2>&1; then
        ok "$2: app-static (libdogmalloc.a linked in)"
    else
        ko "$2: app-static"; readelf -d "$bin/app-static" | grep NEEDED; cat "$bin/out" || true
    fi
}
MAJOR=$(sed -n 's/.*define DOG_VERSION_STRING "\([0-9]*\)\..*/\1/p' include/dogmalloc.h)

echo "== CMake: find_package(dogmalloc) with CMAKE_PREFIX_PATH=$dest$PREFIX"
consumer cmake-package
if cmake -S "$work/cmake-package" -B "$work/cmake-package/build" -DCMAKE_C_COMPILER="$CC" \
        -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_PREFIX_PATH="$dest$PREFIX" > "$work/cmake.log" 2>&1 &&
   cmake --build "$work/cmake-package/build" >> "$work/cmake.log" 2>&1; then
    ok "CMake find_package: configured and built"
    run_pair cmake-package "CMake find_package" "$libdir/"
    if "$work/cmake-package/build/app-cxx" > "$work/cxx.out" 2>&1; then
        ok "CMake find_package: C++ on dogmalloc.hpp ($(tail -n 1 "$work/cxx.out"))"
    else
        ko "CMake find_package: C++ on dogmalloc.hpp"; cat "$work/cxx.out" || true
    fi
    if "$work/cmake-package/build/override-static" > "$work/override.out" 2>&1 &&
       ! ldd "$work/cmake-package/build/override-static" > /dev/null 2>&1; then
        ok "CMake find_package: static override linked WHOLE_ARCHIVE"
    else
        ko "CMake find_package: static override"; cat "$work/override.out" || true
    fi
else
    ko "CMake find_package"; cat "$work/cmake.log"
fi
# The version file: a request for the next major version is refused.
if cmake -S "$work/cmake-package" -B "$work/cmake-package/build-v" -DCMAKE_C_COMPILER="$CC" \
        -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_PREFIX_PATH="$dest$PREFIX" \
        -DDOG_WANT_VERSION=$((MAJOR + 1)).0 \
        > "$work/cmake-v.log" 2>&1; then
    ko "CMake find_package(dogmalloc $((MAJOR + 1)).0) accepted version $MAJOR"
elif grep -q 'version: ' "$work/cmake-v.log"; then
    ok "CMake find_package(dogmalloc $((MAJOR + 1)).0) is refused by the version file"
else
    ko "CMake version check failed for another reason"; cat "$work/cmake-v.log"
fi

echo "== CMake: add_subdirectory(dogmalloc) of a copy of the source tree"
consumer cmake-subproject
mkdir -p "$work/cmake-subproject/dogmalloc"
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
        xargs -0 cp --parents -t "$work/cmake-subproject/dogmalloc"
else
    tar --exclude='./build*' -cf - . | tar -xf - -C "$work/cmake-subproject/dogmalloc"
fi
sub=$work/cmake-subproject/build
if cmake -S "$work/cmake-subproject" -B "$sub" -DCMAKE_C_COMPILER="$CC" \
        > "$work/cmake-sub.log" 2>&1 &&
   cmake --build "$sub" >> "$work/cmake-sub.log" 2>&1; then
    ok "CMake add_subdirectory: configured and built"
    run_pair cmake-subproject "CMake add_subdirectory" "$sub/dogmalloc/"
    # Same sources, same visibility: the same global symbols as the Makefile's libraries.
    syms() { nm "$@" 2>/dev/null | awk '$2 ~ /^[TDBRW]$/ {print $3}' | sort -u; }
    for pair in "libdogmalloc.a:libdogmalloc.a" "libdogmalloc-override.a:libdogmalloc-override.a"; do
        mine=$sub/dogmalloc/${pair%%:*}
        syms "$mine" > "$work/syms.cmake"
        syms "$BUILD/${pair#*:}" > "$work/syms.make"
        if [ -s "$work/syms.cmake" ] && cmp -s "$work/syms.cmake" "$work/syms.make"; then
            ok "CMake add_subdirectory: ${pair%%:*} defines what the Makefile's does"
        else
            ko "CMake add_subdirectory: ${pair%%:*} differs from $BUILD/${pair#*:}:"
            diff "$work/syms.cmake" "$work/syms.make" | head -20 || true
        fi
    done
    exports() { nm -D --defined-only "$1" | awk '{print $3}' | sort; }
    if [ "$(exports "$sub/dogmalloc/libdogmalloc.so.$MAJOR")" = \
         "$(exports "$BUILD/libdogmalloc.so.$MAJOR")" ]; then
        ok "CMake add_subdirectory: libdogmalloc.so exports what the Makefile's does"
    else
        ko "CMake add_subdirectory: libdogmalloc.so exports differ"
    fi
else
    ko "CMake add_subdirectory"; cat "$work/cmake-sub.log"
fi

echo "== Meson: dependency('dogmalloc') through pkg-config"
consumer meson
if meson setup "$work/meson/build" "$work/meson" > "$work/meson.log" 2>&1 &&
   ninja -C "$work/meson/build" >> "$work/meson.log" 2>&1; then
    ok "Meson: configured and built"
    run_pair meson "Meson" "$libdir/"
else
    ko "Meson"; cat "$work/meson.log"
fi

echo "== the man page"
page=$dest$PREFIX/share/man/man3/dogmalloc.3
if [ -f "$page" ] && MANWIDTH=80 man -l "$page" > "$work/man.txt" 2> "$work/man.err" &&
   [ ! -s "$work/man.err" ] && grep -q '^NAME' "$work/man.txt" &&
   grep -q 'dog_heap_new' "$work/man.txt" && grep -q 'dog_malloc' "$work/man.txt"; then
    ok "man -l renders dogmalloc(3) ($(wc -l < "$work/man.txt") lines, no warnings)"
else
    ko "dogmalloc(3) missing or does not render"; cat "$work/man.err" 2>/dev/null || true
fi
grep -q "^$PREFIX/share/doc/dogmalloc/CHANGELOG.md\$" "$work/installed.txt" &&
    ok "the changelog is installed in the doc folder" || ko "no CHANGELOG.md in the doc folder"

echo "== make uninstall DESTDIR=$dest PREFIX=$PREFIX"
$MAKE --no-print-directory -s uninstall DESTDIR="$dest" PREFIX="$PREFIX" BUILD="$BUILD" \
    > "$work/uninstall.log" 2>&1 || { cat "$work/uninstall.log"; ko "make uninstall"; }
left=$(find "$dest" ! -type d)
if [ -z "$left" ]; then
    ok "uninstall left no file behind"
else
    ko "uninstall left:"; echo "$left" | sed 's/^/    /'
fi

echo "check-install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
