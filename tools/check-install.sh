#!/bin/sh
# SPDX-License-Identifier: MIT
# check-install.sh: prove that an installed dogmalloc is usable as a system library.
#
# 1. `make install` into a temporary DESTDIR (PREFIX=/usr/local, as a user would).
# 2. Build every examples/*.c against that copy with only
#    `pkg-config --cflags --libs dogmalloc`, shared (run with LD_LIBRARY_PATH, and checked
#    to load the installed libdogmalloc.so) and static (`pkg-config --static`, linked
#    with -static so libdogmalloc.a is the only copy), and run each build.
# 3. Run examples/preload.sh with the installed override library.
# 4. `make uninstall` and check that no file is left in DESTDIR.
# PKG_CONFIG_SYSROOT_DIR makes pkg-config prefix its -I and -L paths with DESTDIR.
# Environment: BUILD (build), CC (cc), MAKE (make), PREFIX (/usr/local).
set -eu

BUILD=${BUILD:-build}
CC=${CC:-cc}
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

if sh examples/preload.sh "$libdir/libdogmalloc-override.so" \
        > "$work/preload.out" 2>&1; then
    ok "preload.sh (installed override)"
else
    ko "preload.sh (installed override)"; cat "$work/preload.out"
fi

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
