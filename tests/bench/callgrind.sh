#!/bin/bash
# SPDX-License-Identifier: MIT
# callgrind.sh: instructions per small malloc+free pair, counted by callgrind.
#
#   tests/bench/callgrind.sh [--build DIR] [--pairs N] [--size BYTES] [--batch N]
#                            [--allocators "..."]
#
# Runs build/bench/pairs under `valgrind --tool=callgrind` for each allocator (preloaded
# as in run.sh) and each pattern: same (malloc then free at once), batch (256 mallocs then
# 256 frees; --batch sets the count, for cross too), b4096 (batches of 4096), cross (one
# thread mallocs, another frees); then the same four through the allocator's explicit-heap
# API (h-same ... h-cross: dog_heap_malloc or mi_heap_malloc on one heap, pairs.c; "-"
# for an allocator without one). The count is the inclusive cost of the calls to malloc and free, taken from
# callgrind_annotate's inclusive and self counts of the two non-inlined wrappers in
# pairs.c, divided by the number of pairs; one-time costs stay out because the program
# warms up through direct calls first. Deterministic, so one run suffices. Writes
# build/bench/callgrind.csv (pattern,allocator,instructions_per_pair).
set -u
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
pairs=1000000
size=32
batch=256
allocators="glibc dogmalloc mimalloc jemalloc tcmalloc tbbmalloc"
while [ $# -gt 0 ]; do
    case "$1" in
    --build) BUILD=$2; shift ;;
    --pairs) pairs=$2; shift ;;
    --size) size=$2; shift ;;
    --batch) batch=$2; shift ;;
    --allocators) allocators=$2; shift ;;
    *) echo "callgrind.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
BUILD=$(cd "$BUILD" && pwd) || exit 2
OUT=$BUILD/bench
PAIRS=$OUT/pairs
if [ ! -x "$PAIRS" ]; then
    echo "callgrind.sh: $PAIRS missing; build it with make bench-callgrind" >&2
    exit 2
fi
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not installed" >&2; exit 2; }
mkdir -p "$OUT/callgrind"

. "$here/allocators.sh"

# inclusive - self of the wrappers (pair_malloc or pair_heap_malloc, and pair_free),
# summed over every thread.
count() {
    local file=$1 incl self
    incl=$(callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$file" 2>/dev/null)
    self=$(callgrind_annotate --inclusive=no --threshold=100 --auto=no "$file" 2>/dev/null)
    { echo "$incl" | sed 's/^/I /'; echo "$self" | sed 's/^/S /'; } | awk '
        # The name is the field before the [object]: a percentage below 10 prints as
        # "( 5.32%)", two fields, so its position varies.
        $(NF - 1) ~ /:pair_(heap_)?(malloc|free)$/ { n = $2; gsub(/,/, "", n); v[$1] += n }
        END { print (v["I"] > 0 ? v["I"] - v["S"] : -1) }'
}

csv=$OUT/callgrind.csv
echo "pattern,allocator,instructions_per_pair" > "$csv"
modes="same batch b4096 cross h-same h-batch h-b4096 h-cross"
printf '%-10s' allocator
for mode in $modes; do printf ' %8s' "$mode"; done
printf '   (instructions per malloc+free pair of %d bytes, batches of %d)\n' "$size" "$batch"
status=0
for a in $allocators; do
    lib=$(preload_of "$a")
    if [ "$a" != glibc ] && [ -z "$lib" ]; then
        echo "callgrind.sh: allocator $a not found, skipped" >&2
        continue
    fi
    line=$(printf '%-10s' "$a")
    for mode in $modes; do
        f=$OUT/callgrind/$mode-$a.out
        arg=${mode/#h-/heap-}
        b=$batch
        case $arg in *b4096) arg=${arg%b4096}batch; b=4096 ;; esac
        LD_PRELOAD=$lib valgrind --tool=callgrind --callgrind-out-file="$f" \
            "$PAIRS" "$arg" "$pairs" "$size" "$b" > "$OUT/callgrind/$mode-$a.log" 2>&1
        rc=$?
        if [ "$rc" -eq 3 ]; then        # no explicit-heap API
            line="$line $(printf '%8s' -)"
            continue
        fi
        total=$(count "$f")
        if [ "$rc" -ne 0 ] || [ "$total" -lt 0 ]; then
            echo "callgrind.sh: $a $mode failed (exit $rc), see $OUT/callgrind/$mode-$a.log" >&2
            line="$line $(printf '%8s' FAIL)"
            status=1
            continue
        fi
        per=$(awk -v t="$total" -v n="$pairs" 'BEGIN { printf "%.1f", t / n }')
        echo "$mode,$a,$per" >> "$csv"
        line="$line $(printf '%8s' "$per")"
    done
    echo "$line"
done
echo "results: $csv; callgrind files: $OUT/callgrind/"
exit $status
