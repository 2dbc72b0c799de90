#!/bin/bash
# SPDX-License-Identifier: MIT
# run.sh: run the benchmark suite under every allocator and report medians, ratios, plots.
#
#   tests/bench/run.sh [--quick | --check] [--runs N] [--only "bench ..."]
#                      [--allocators "name ..."] [--build DIR] [--timeout S]
#
# Every malloc-based workload runs under every allocator by preloading it into the same
# binary (glibc: nothing preloaded). Runs are interleaved: run 1 of every cell, then run 2,
# and the allocator order rotates from run to run, so that drift of the machine hits all
# allocators alike. Each cell is the median of N runs (wall time and peak RSS, measured by
# runner.c). The heap-API variants of heapdrop (dog-heap, mi-heap, talloc, apr) link their
# library directly and appear as extra allocators of the heapdrop benchmark.
#
# Outputs in $BUILD/bench/: results.csv (benchmark,allocator,time_s,peak_rss_kib: medians;
# then time_min_s,time_max_s,rss_min_kib,rss_max_kib,runs: the spread of the runs that
# passed, for the plots' error bars and the README's spread line), report.txt (the tables,
# also printed on stdout), raw.csv (every run), time.png and memory.png (ratios to the best
# peer, min-max bars, geomeans: plot.sh), mpsc-rss.png and rss/ (the mpsc RSS series), logs/
# (each cell's output in its last run).
#
#   --quick   a subset at smaller sizes (make bench-quick)
#   --check   every workload once at a tiny size under glibc and dogmalloc; checks the exit
#             status only, never a time (make check-bench)
# Needs bash, awk and gnuplot (plots are skipped without it).
set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
mode=full
runs=3
only=""
allocators="glibc dogmalloc mimalloc jemalloc tcmalloc tbbmalloc"
timeout=180

while [ $# -gt 0 ]; do
    case "$1" in
    --quick) mode=quick ;;
    --check) mode=check ;;
    --runs) runs=$2; shift ;;
    --only) only=$2; shift ;;
    --allocators) allocators=$2; shift ;;
    --build) BUILD=$2; shift ;;
    --timeout) timeout=$2; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "run.sh: no build directory" >&2; exit 2; }
BIN=$BUILD/bench
OUT=$BUILD/bench
RUNNER=$BIN/runner
[ -x "$RUNNER" ] || { echo "run.sh: $RUNNER missing; build with make bench" >&2; exit 2; }
if [ "$mode" = check ]; then
    runs=1
    allocators="glibc dogmalloc"
    timeout=60
fi

# --- The suite: name | full size | quick size (- = not in quick) | tiny size (check) ---
# Sizes make each run take about 1-3 s under glibc on the 2-core reference machine.
# name@allocator rows are heap-API variants: run once per run, nothing preloaded.
suite() {
    cat <<'EOF'
symmetric         | symmetric 20 2000      | symmetric 3 2000      | symmetric 2 1000
asymmetric        | asymmetric 10000000    | asymmetric 1500000    | asymmetric 500000
mpsc              | mpsc 200000 @RSS@ 4 50 | mpsc 30000 @RSS@ 4 50 | mpsc 10000 @RSS@ 4 20
larson            | larson 2 40 1000000    | larson 2 6 1000000    | larson 2 10 50000 500
xmalloc           | xmalloc 2 2 16000000   | xmalloc 2 2 2500000   | xmalloc 2 2 500000
cache-scratch     | cache scratch          | -                     | cache scratch 2 200 8 5000
cache-thrash      | cache thrash           | -                     | cache thrash 2 200 8 5000
loop-st           | loop 1 200000000       | loop 1 40000000       | loop 1 5000000
loop-mt           | loop 2 150000000       | -                     | loop 2 3000000
mstress           | mstress 4 10 400000    | mstress 4 2 300000    | mstress 4 3 50000
rptest            | rptest 2 6000000       | rptest 2 1500000      | rptest 2 200000 1024
large             | large 500              | large 60              | large 20 2
leak              | leak 2000              | -                     | leak 100 5000
heapdrop          | heapdrop-free          | heapdrop-free 10      | heapdrop-free 12 30000 2
heapdrop@dog-heap | heapdrop-dog           | heapdrop-dog 10       | heapdrop-dog 12 30000 2
heapdrop@mi-heap  | heapdrop-mi            | heapdrop-mi 10        | heapdrop-mi 12 30000 2
heapdrop@talloc   | heapdrop-talloc        | heapdrop-talloc 10    | heapdrop-talloc 12 30000 2
heapdrop@apr      | heapdrop-apr           | heapdrop-apr 10       | heapdrop-apr 12 30000 2
pairs-same        | -                      | -                     | pairs same 200000
pairs-batch       | -                      | -                     | pairs batch 200000
pairs-cross       | -                      | -                     | pairs cross 200000
EOF
}

# --- Allocators: name -> preload path ---
. "$here/allocators.sh"

declare -A PRELOAD
active=""
for a in $allocators; do
    p=$(preload_of "$a")
    if [ "$a" != glibc ] && [ -z "$p" ]; then
        echo "run.sh: allocator $a not found, skipped" >&2
        continue
    fi
    PRELOAD[$a]=$p
    active="$active $a"
done
active=${active# }
nalloc=$(echo "$active" | wc -w)
[ "$nalloc" -gt 0 ] || { echo "run.sh: no allocator to run" >&2; exit 2; }

# --- Cells: "bench|allocator-or-*|command" ---
cells=()
while IFS='|' read -r name full quick tiny; do
    name=$(echo $name); full=$(echo $full); quick=$(echo $quick); tiny=$(echo $tiny)
    case "$mode" in full) cmd=$full ;; quick) cmd=$quick ;; check) cmd=$tiny ;; esac
    [ "$cmd" = - ] && continue
    bench=${name%@*}
    if [ -n "$only" ] && ! [[ " $only " == *" $bench "* || " $only " == *" $name "* ]]; then
        continue
    fi
    prog=${cmd%% *}
    if [ ! -x "$BIN/$prog" ]; then
        echo "run.sh: $BIN/$prog not built, $name skipped" >&2
        continue
    fi
    if [ "$name" != "$bench" ]; then
        cells+=("$bench|${name#*@}|$cmd")
    else
        cells+=("$bench|*|$cmd")
    fi
done < <(suite)

mkdir -p "$OUT/logs" "$OUT/rss"
raw=$OUT/raw.csv
echo "benchmark,allocator,run,status,time_s,peak_rss_kib" > "$raw"

run_cell() {    # bench allocator preload command... -> appends to raw.csv, prints "time"
    local bench=$1 alloc=$2 preload=$3 r=$4
    shift 4
    local prog=$1
    shift
    local args=() x
    for x in "$@"; do
        [ "$x" = @RSS@ ] && x="$OUT/rss/$bench-$alloc.txt"
        args+=("$x")
    done
    local log="$OUT/logs/$bench-$alloc.log"
    : > "$log"
    local res
    res=$("$RUNNER" -p "$preload" -t "$timeout" -o "$log" "$BIN/$prog" "${args[@]}")
    set -- $res
    echo "$bench,$alloc,$r,$1,$2,$3" >> "$raw"
    if [ "$1" != ok ]; then
        echo "run.sh: FAILED: $bench under $alloc: $1 (log: $log)" >&2
        printf '%s' "$1"
    else
        printf '%.2f' "$2"
    fi
}

start=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= runs; r++)); do
    # Rotate the allocator order from run to run.
    read -r -a list <<< "$active"
    order=""
    for ((i = 0; i < nalloc; i++)); do
        order="$order ${list[(i + r - 1) % nalloc]}"
    done
    for cell in "${cells[@]}"; do
        IFS='|' read -r bench alloc cmd <<< "$cell"
        line=""
        if [ "$alloc" = "*" ]; then
            for a in $order; do
                t=$(run_cell "$bench" "$a" "${PRELOAD[$a]}" "$r" $cmd)
                line="$line $a=$t"
            done
        else
            t=$(run_cell "$bench" "$alloc" "" "$r" $cmd)
            line=" $alloc=$t"
        fi
        printf '[run %d/%d] %-14s%s\n' "$r" "$runs" "$bench" "$line" >&2
    done
done
# run_cell runs in a subshell: count the failures from the raw file.
failures=$(awk -F, 'NR > 1 && $4 != "ok"' "$raw" | wc -l)

if [ "$mode" = check ]; then
    total=$(($(wc -l < "$raw") - 1))
    if [ "$failures" -gt 0 ]; then
        echo "check-bench: $failures of $total benchmark runs FAILED:" >&2
        awk -F, 'NR > 1 && $4 != "ok" { print "  " $1 " under " $2 ": " $4 }' "$raw" >&2
        exit 1
    fi
    echo "check-bench: all $total benchmark runs passed ($(( $(date +%s) - start )) s)"
    exit 0
fi

# --- Medians, minima and maxima: results.csv ---
results=$OUT/results.csv
awk -F, -v order="$active dog-heap mi-heap talloc apr" '
# sorted(list, v): v[1..n] = the numbers of list in increasing order; returns n.
function sorted(list, v,    n, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
            t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
        }
    return n
}
function median(list,    n, v) {
    n = sorted(list, v)
    if (n == 0) return "nan"
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function lowest(list,    n, v) { n = sorted(list, v); return n ? v[1] : "nan" }
function highest(list,    n, v) { n = sorted(list, v); return n ? v[n] : "nan" }
function sec(x) { return x == "nan" ? "nan" : sprintf("%.3f", x) }
function kib(x) { return x == "nan" ? "nan" : sprintf("%d", x) }
NR == 1 { next }
{
    key = $1 SUBSEP $2
    if (!(key in seen)) { seen[key] = 1; keys[++nk] = key }
    if ($4 == "ok") { t[key] = t[key] " " $5; m[key] = m[key] " " $6; n[key]++ }
}
END {
    print "benchmark,allocator,time_s,peak_rss_kib,time_min_s,time_max_s,rss_min_kib," \
          "rss_max_kib,runs"
    for (i = 1; i <= nk; i++) {
        key = keys[i]
        split(key, k, SUBSEP)
        printf "%s,%s,%s,%s,%s,%s,%s,%s,%d\n", k[1], k[2], sec(median(t[key])),
               kib(median(m[key])), sec(lowest(t[key])), sec(highest(t[key])),
               kib(lowest(m[key])), kib(highest(m[key])), n[key]
    }
}' "$raw" > "$results"

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
machine="$(date -u '+%Y-%m-%d %H:%M UTC'), ${cpu:-$(uname -m)}, $(nproc) CPUs,\
 $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), median of $runs runs"
report() {
echo
echo "dogmalloc benchmark suite: $machine ($(( $(date +%s) - start )) s)"
echo "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)" \
     "(above $(nproc) means other work competed with the benchmarks)"
failed_cells=$(awk -F, 'NR > 1 && $4 != "ok" { print $1 "|" $2 }' "$raw" | sort -u | tr '\n' ' ')
awk -F, -v allocs="$active" -v failed="$failed_cells" -f "$here/report.awk" "$results"
if [[ " ${cells[*]} " == *" mpsc|"* ]]; then
    echo
    echo "mpsc RSS over time (KiB, last run): at 1/4, 1/2, the end, the maximum;" \
         "end vs 1/4"
    for a in $active; do
        f=$OUT/rss/mpsc-$a.txt
        [ -s "$f" ] || continue
        awk -v a="$a" '{ t[NR] = $1; v[NR] = $2; if ($2 > max) max = $2 }
            END { q = v[int(NR / 4) + 1]; printf "  %-10s %8d %8d %8d %8d   x%.2f%s\n", a, q,
                  v[int(NR / 2) + 1], v[NR], max, v[NR] / (q ? q : 1),
                  (v[NR] > 1.25 * q + 1024) ? "  (growing)" : "  (flat)" }' "$f"
    done
fi
if [ "$failures" -gt 0 ]; then
    echo
    echo "FAILED runs ($failures):"
    awk -F, 'NR > 1 && $4 != "ok" { print "  " $1 " under " $2 " (run " $3 "): " $4 }' "$raw"
fi
}
report | tee "$OUT/report.txt"

# --- Plots ---
if command -v gnuplot >/dev/null 2>&1; then
    "$here/plot.sh" "$results" "$OUT" "$active dog-heap mi-heap talloc apr" "$machine" \
        || echo "run.sh: plotting failed" >&2
else
    echo "run.sh: gnuplot not found, no plots" >&2
fi
echo
echo "results: $results, $OUT/report.txt; plots: $OUT/time.png $OUT/memory.png $OUT/mpsc-rss.png"
[ "$failures" -eq 0 ]
