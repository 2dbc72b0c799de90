#!/bin/sh
# SPDX-License-Identifier: MIT
# preload.sh: run programs you did not write on dogmalloc, without rebuilding them.
#
# LD_PRELOAD puts libdogmalloc-override.so in front of the C library, so every malloc,
# free, calloc, realloc, ... of the program goes to dogmalloc's shared default heap.
# DOGMALLOC_SHOW_STATS=1 prints that heap's statistics on stderr at exit (the proof that
# dogmalloc served the program) and DOGMALLOC_VERBOSE=1 names the version at start-up.
#
# Usage: preload.sh [path/to/libdogmalloc-override.so]
#   Without an argument: build/ of this source tree, else the installed copy that
#   pkg-config knows of.
set -eu

lib=${1:-}
tree=$(dirname "$0")/..
if [ -z "$lib" ] && [ -f "$tree/build/libdogmalloc-override.so" ]; then
    lib=$tree/build/libdogmalloc-override.so
elif [ -z "$lib" ]; then
    lib=$(pkg-config --variable=libdir dogmalloc 2>/dev/null || true)/libdogmalloc-override.so
fi
[ -f "$lib" ] || { echo "preload.sh: no override library at '$lib' (run make)" >&2; exit 1; }
case $lib in /*) ;; *) lib=$(pwd)/$lib ;; esac   # the program may change directory

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The report of DOGMALLOC_SHOW_STATS names the heap and counts its allocations.
served() {
    allocs=$(sed -n 's/^ *allocs: *\([0-9]*\).*/\1/p' "$1" | head -n 1)
    grep -q '^dogmalloc heap "default"' "$1" && [ "${allocs:-0}" -gt 0 ] ||
        { echo "preload.sh: no statistics from dogmalloc: it did not serve $2" >&2; exit 1; }
    echo "$2: dogmalloc served $allocs allocations"
}

# 1. sort(1) on 200000 numbers: the same output as without dogmalloc.
awk 'BEGIN { srand(42); for (i = 0; i < 200000; i++) print int(rand() * 1e9) }' > "$tmp/in"
sort -n "$tmp/in" > "$tmp/glibc.out"
echo "\$ LD_PRELOAD=$lib DOGMALLOC_SHOW_STATS=1 DOGMALLOC_VERBOSE=1 sort -n (200000 lines)"
LD_PRELOAD=$lib DOGMALLOC_SHOW_STATS=1 DOGMALLOC_VERBOSE=1 sort -n "$tmp/in" \
    > "$tmp/dog.out" 2> "$tmp/stats"
cat "$tmp/stats"
cmp -s "$tmp/glibc.out" "$tmp/dog.out" || { echo "preload.sh: sort output differs" >&2; exit 1; }
echo "sort: output identical to the run without dogmalloc ($(wc -l < "$tmp/dog.out") lines)"
served "$tmp/stats" sort

# 2. Python, when installed: an interpreter and its extension modules, unmodified.
#    (The system's interpreter, not a wrapper script that would spawn more processes.)
python=$(command -v /usr/bin/python3 || command -v python3 || true)
if [ -n "$python" ]; then
    echo
    echo "\$ LD_PRELOAD=$lib DOGMALLOC_SHOW_STATS=1 $python -c '...json, zlib...'"
    LD_PRELOAD=$lib DOGMALLOC_SHOW_STATS=1 "$python" -c '
import json, zlib
data = {str(i): list(range(i % 100)) for i in range(20000)}
blob = zlib.compress(json.dumps(data).encode())
print("python: %d keys, %d bytes compressed, round trip %s"
      % (len(data), len(blob), json.loads(zlib.decompress(blob)) == data))' 2> "$tmp/stats"
    cat "$tmp/stats"
    served "$tmp/stats" python3
fi
