#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh: proof that unmodified real programs run under an LD_PRELOAD malloc replacement.
#
# Usage: tests/programs/run.sh [-b BINDIR] [-k] OVERRIDE.so [TEST...]
#   OVERRIDE.so  build/libdogmalloc-override.so, or another allocator to validate this
#                script with (libmimalloc.so.2, libjemalloc.so.2: their own statistics
#                are checked instead; any other library: statistics are not checked).
#   TEST         any of: python git sqlite perl sort cxx_threads fork_stress fork_stdio
#                fork_signal lifecycle libc_names one_allocator
#                (default: all of them).
#   -b BINDIR    where `make check-programs` built cxx_threads, fork_stress and
#                one_allocator; without it they are compiled into the temporary directory.
#   -k           keep the temporary directory (it is printed) for inspection.
#
# Each test runs its program(s) twice in fresh directories: once as they are ("base")
# and once with LD_PRELOAD=OVERRIDE plus the allocator's show-statistics option ("dog").
# A test passes when both runs exit 0, their outputs are equal after normalising what
# legitimately differs (timings and the allocator's own statistics), and the statistics
# printed at exit show that the preloaded allocator served allocations. Each test prints
# one PASS or FAIL line; the last line is "N passed, N failed"; the exit status is 1 if
# anything failed.
# Environment: PYTHON (default /usr/bin/python3), CC, CXX, CFLAGS, CXXFLAGS (when
# building the helpers), PROGRAMS_TIMEOUT (seconds per step, default 150; python 420).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ALL_TESTS=(python git sqlite perl sort cxx_threads fork_stress fork_stdio fork_signal lifecycle
    libc_names one_allocator)
PYTHON=${PYTHON:-/usr/bin/python3}

usage()
{
    sed -n '3,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
}

BIN=""
KEEP=0
while getopts "b:kh" opt; do
    case $opt in
    b) BIN=$(cd "$OPTARG" && pwd) ;;
    k) KEEP=1 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[[ $# -ge 1 ]] || usage
OVERRIDE=$(readlink -f "$1")
shift
if [[ ! -f $OVERRIDE ]]; then
    echo "run.sh: no such library: $OVERRIDE (run make first)" >&2
    exit 2
fi
if (($# > 0)); then TESTS=("$@"); else TESTS=("${ALL_TESTS[@]}"); fi
for t in "${TESTS[@]}"; do
    [[ " ${ALL_TESTS[*]} " == *" $t "* ]] || { echo "run.sh: unknown test '$t'" >&2; usage; }
done

# Options of the allocators from the caller's environment would change their output.
for v in $(compgen -e); do
    case $v in DOGMALLOC_* | MIMALLOC_* | MALLOC_CONF | LD_PRELOAD) unset "$v" ;; esac
done

# --- Which allocator: how to ask it for statistics, and how to recognise them ---
# STATS_ENV: variables that make it print statistics at exit (to stderr).
# DIAG_RE: an extended regexp for its own warnings and errors, which fail a test wherever
# they appear (even in output that is not compared, such as Python's stderr).
# STATS_BEGIN / STATS_END: extended regexps for the first and last line of one printout
# (STATS_END empty: the printout goes on while lines are indented); these lines are
# removed from stderr before it is compared.
case "$(basename "$OVERRIDE")" in
*mimalloc*)
    KIND=mimalloc
    STATS_ENV=(MIMALLOC_SHOW_STATS=1)
    STATS_BEGIN='^heap stats:'
    DIAG_RE='^(remote: )?mimalloc: (warning|error)'
    STATS_END='^ *process:'
    ;;
*jemalloc*)
    KIND=jemalloc
    STATS_ENV=(MALLOC_CONF=stats_print:true)
    STATS_BEGIN='^___ Begin jemalloc statistics ___'
    DIAG_RE='^(remote: )?<jemalloc>'
    STATS_END='^--- End jemalloc statistics ---'
    ;;
*dogmalloc*)
    KIND=dogmalloc
    STATS_ENV=(DOGMALLOC_SHOW_STATS=1)
    STATS_BEGIN='^dogmalloc heap( |s: )'   # then indented "allocs: N", heap rows etc.
    DIAG_RE='^(remote: )?dogmalloc:'        # its warnings and error reports
    STATS_END=''
    ;;
*)
    KIND=other
    STATS_ENV=()
    STATS_BEGIN='^$.'                       # matches nothing
    DIAG_RE='^$.'
    STATS_END=''
    ;;
esac

# Print the stats printouts of stderr file $1 removed.
strip_stats()
{
    # A git server process's stderr reaches the client as "remote: LINE   " (sideband).
    awk -v begin="$STATS_BEGIN" -v end="$STATS_END" '
        { line = $0; sub(/^remote: /, "", line); sub(/[ \t]+$/, "", line) }
        line ~ begin { inside = 1; next }
        inside && end != "" { if (line ~ end) inside = 0; next }
        inside && line ~ /^[ \t]/ { next }
        { inside = 0; print }' "$1"
}

# Succeed when stderr file $1 shows that the preloaded allocator served allocations.
stats_ok()
{
    case $KIND in
    dogmalloc)
        grep -qi dogmalloc "$1" &&
            grep -Eio 'allocs[: =]+[0-9]+' "$1" | grep -Eq '[1-9][0-9]*$' ;;
    mimalloc)
        grep -Eq "$STATS_BEGIN" "$1" && grep -Eq '^ *reserved: +[0-9.]+ [KMG]i?B' "$1" ;;
    jemalloc)
        grep -Eq "$STATS_BEGIN" "$1" && grep -Eq '^Allocated: [1-9]' "$1" ;;
    other)
        true ;;
    esac
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/dogmalloc-programs.XXXXXX")
cleanup()
{
    if ((KEEP)); then
        echo "run.sh: kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Running programs: `run CMD...` runs CMD as is (base) or preloaded (dog) ---

SIDE=base
STEP_TIMEOUT=${PROGRAMS_TIMEOUT:-150}
run()
{
    local rc=0
    if [[ $SIDE == dog ]]; then
        timeout -k 10 "$STEP_TIMEOUT" env LD_PRELOAD="$OVERRIDE" "${STATS_ENV[@]}" "$@" || rc=$?
    else
        timeout -k 10 "$STEP_TIMEOUT" "$@" || rc=$?
    fi
    ((rc == 0)) || echo "run.sh: exit status $rc from: $*" >&2
    return "$rc"
}

# Print "LABEL: SHA-256 of the output of CMD...". An assignment, not `echo "$(...)"`, so
# that errexit and pipefail see CMD fail even when it fails after writing all its output.
digest()
{
    local label=$1 sum
    shift
    sum=$(run "$@" | sha256sum)
    echo "$label: ${sum%% *}"
}

# --- Helper programs (C and C++), built here unless -b gave a directory ---

build_helper()
{
    local name=$1 out=$TMP/bin/$1
    [[ -n $BIN ]] && { echo "$BIN/$name"; return; }
    mkdir -p "$TMP/bin"
    if [[ ! -x $out ]]; then
        local cflags=${CFLAGS:--O2 -g} cxxflags=${CXXFLAGS:--O2 -g}
        # shellcheck disable=SC2086 # the flags are lists of words
        case $name in
        cxx_threads)
            ${CXX:-g++} -std=c++17 -Wall -Wextra -fsized-deallocation $cxxflags -pthread \
                -o "$out" "$HERE/cxx_threads.cpp" >&2 ;;
        fork_stress|fork_stdio|fork_signal|lifecycle|libc_names)
            ${CC:-cc} -std=gnu11 -Wall -Wextra $cflags -pthread -o "$out" "$HERE/$name.c" >&2 ;;
        one_allocator)
            local lib
            lib=$(dirname "$OVERRIDE")
            ${CC:-cc} -std=c11 -Wall -Wextra $cflags -I"$ROOT/include" -o "$out" \
                "$HERE/one_allocator.c" -L"$lib" -ldogmalloc -Wl,-rpath,"$lib" -pthread >&2 ;;
        esac
    fi
    echo "$out"
}

# --- The tests: t_NAME prints its results on stdout; norm_NAME (optional) filters them ---
# They run with `set -euo pipefail` in their own working directory.

# Python's own regression tests, one per area the issue names. PYTHONMALLOC=malloc in
# both runs: by default CPython serves objects up to 512 bytes from its own arenas,
# which it maps with mmap, so malloc would only see larger blocks; this way every
# object goes through the allocator under test. -j2 runs the tests in two worker
# processes (which inherit LD_PRELOAD); test_multiprocessing_fork is first because it
# is the longest (about 65 s, mostly waiting), so the others run beside it. All of
# test_multiprocessing_fork runs: fork from a threaded process is what matters most.
PY_TESTS=(test_multiprocessing_fork test_subprocess test_threading test_dict test_list
    test_set test_unicode test_bytes test_gc test_pickle test_json test_re)
# The launcher removes the show-statistics variables from the environment before
# regrtest starts, so that only this process prints statistics: child processes whose
# stderr the tests compare (test_subprocess) or parse (the -j workers' result line)
# must not print any. The allocator has read its options by then.
PY_LAUNCH='import os, runpy, sys
for k in ("DOGMALLOC_SHOW_STATS", "MIMALLOC_SHOW_STATS", "MALLOC_CONF"):
    os.environ.pop(k, None)
sys.argv[0] = "python3 -m test"
runpy.run_module("test", run_name="__main__", alter_sys=True)'
t_python()
{
    STEP_TIMEOUT=${PROGRAMS_TIMEOUT:-420}
    export PYTHONMALLOC=malloc LC_ALL=C.UTF-8
    run "$PYTHON" -c "$PY_LAUNCH" -j2 --timeout=300 "${PY_TESTS[@]}"
}
# Worker order and timings differ from run to run: keep each test's verdict and the summary.
norm_python()
{
    awk 'match($0, /\] test_[A-Za-z0-9_.]+ [a-z]+/) {
             print "verdict: " substr($0, RSTART + 2, RLENGTH - 2); next }
         /^== Tests result:|^All [0-9]+ tests OK|^[0-9]+ tests? (OK|failed|skipped)/ { print }' |
        sort
}
# Tests whose stderr is not compared: regrtest's holds warnings from child processes
# that vary between runs (its verdicts are on stdout).
STDERR_NOT_COMPARED=(python)

t_git()
{
    export HOME=$PWD GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null LC_ALL=C TZ=UTC
    export GIT_AUTHOR_NAME="Dog Malloc" GIT_AUTHOR_EMAIL=dog@example.org
    export GIT_COMMITTER_NAME="Dog Malloc" GIT_COMMITTER_EMAIL=dog@example.org
    local day=10
    # Fixed dates, so that commit hashes are the same in both runs.
    at_day() { GIT_AUTHOR_DATE="2024-01-$day 12:00:00 +0000" \
        GIT_COMMITTER_DATE="2024-01-$day 12:00:00 +0000" "$@"; day=$((day + 1)); }
    # Write files f000..f(N-1) over 12 directories; round R rewrites every fifth file.
    gen() {
        awk -v n="$1" -v round="$2" 'BEGIN {
            for (i = 0; i < n; i++) {
                if (round > 1 && (i + round) % 5 != 0 && i < n - 20) continue
                f = sprintf("repo/d%02d/f%03d.txt", i % 12, i)
                for (l = 0; l < 20 + i % 40; l++)
                    printf "file %d line %d round %d %s\n", i, l, (l % 7 == 0 ? round : 1),
                        substr("abcdefghijklmnopqrstuvwxyz", 1 + (i * l) % 26) > f
                close(f)
            } }'
    }
    run git init -q -b main repo
    mkdir -p repo/d{00..11}
    local n=300 round
    for round in 1 2 3 4 5 6; do
        gen "$n" "$round"
        if ((round > 1)); then
            run git -C repo rm -q -f "d0$round/f$(printf %03d $((round * 12 + round)))".txt
            run git -C repo mv "d1$((round % 2))/f$(printf %03d $((round * 24 + 10 + round % 2)))".txt \
                "d1$((round % 2))/renamed$round.txt"
        fi
        run git -C repo add -A
        at_day run git -C repo commit -q -m "round $round: $n files"
        n=$((n + 20))
    done
    run git -C repo checkout -q -b feature HEAD~2
    mkdir -p repo/feature
    seq 1 500 > repo/feature/numbers.txt
    run git -C repo add feature
    at_day run git -C repo commit -q -m "feature: numbers"
    run git -C repo checkout -q main
    at_day run git -C repo merge -q --no-ff -m "merge feature" feature
    at_day run git -C repo tag -a v1 -m "release v1"

    echo "== log"
    run git -C repo log --graph --format='%h %ad %an: %s' --date=iso-strict --all
    digest "== log --stat" git -C repo log --stat --format=%H%n%B
    local line
    line=$(run git -C repo diff --stat v1~3 v1 | tail -n 1)
    echo "== diff v1~3 v1: $line"
    digest "== blame" git -C repo blame -s d01/f013.txt
    line=$(run git -C repo grep -c 'round 6' | wc -l)
    echo "== grep: $line files"
    run git -C repo gc --quiet
    echo "== after gc"
    run git -C repo count-objects -v | grep -E '^(count|in-pack|packs|garbage):'
    run git -C repo fsck --full --strict --no-progress
    line=$(run git -C repo cat-file --batch-all-objects --batch-check | sort | sha256sum)
    echo "== objects: $line"
    digest "== archive" git -C repo archive --format=tar v1
    run git -C repo repack -a -d -f -q --window=50 --depth=20 --threads=2
    run git -C repo fsck --full --strict --no-progress
    run git clone -q --no-local repo clone
    line=$(run git -C clone rev-list --objects --all | sort | sha256sum)
    echo "== clone: $line"
    run git -C clone fsck --full --no-progress
    line=$(run git -C clone describe --tags)
    echo "== describe: $line"
    echo "changed" >> clone/d03/f003.txt
    run git -C clone status --porcelain
}

t_sqlite()
{
    run sqlite3 db.sqlite < "$HERE/sqlite.sql"
    echo "== reopened"
    run sqlite3 db.sqlite 'PRAGMA integrity_check; SELECT count(*), sum(grp) FROM item;'
    digest "== dump" sqlite3 db.sqlite .dump
}

t_perl()
{
    run perl "$HERE/words.pl" 300000
}

# About 20 MB of lines: a word, integers, a signed decimal, a comma list, a version, a size.
prepare_sort()
{
    [[ -f $TMP/sort-input.txt ]] && return
    awk 'BEGIN { srand(7); for (i = 0; i < 390000; i++) {
        w = ""; n = 3 + int(rand() * 10)
        for (j = 0; j < n; j++) w = w sprintf("%c", 97 + int(rand() * rand() * 26))
        printf "%s\t%d\t%.4f\t%s,%d,%x\tv%d.%d.%d\t%dK\n", w, int(rand() * 1000000),
            rand() * 2000 - 1000, toupper(substr(w, 1, 3)), i % 1000, i * 2654435761 % 4294967296,
            int(rand() * 20), int(rand() * 20), int(rand() * 100), int(rand() * 5000) } }' \
        > "$TMP/sort-input.txt"
}
t_sort()
{
    local in=$TMP/sort-input.txt tab=$'\t'
    export LC_ALL=C
    mkdir tmp
    echo "input: $(wc -l < "$in") lines, $(wc -c < "$in") bytes"
    # Small buffers (-S) force temporary files and multi-level merges; --parallel=2 threads.
    run sort -S 1M --parallel=2 -T tmp -o sorted "$in"
    digest "plain" cat sorted
    run sort -c sorted
    digest "numeric" sort -S 2M --parallel=2 -T tmp -t "$tab" -k2,2n -k1,1 "$in"
    digest "general" sort -S 4M -T tmp -t "$tab" -k3,3gr -k1,1 "$in"
    digest "unique" sort -u -S 1M -T tmp -t "$tab" -k4,4 "$in"
    digest "version" sort -s -S 8M --parallel=2 -T tmp -t "$tab" -k5,5V -k6,6h "$in"
    digest "random" sort -R --random-source="$in" -S 16M -T tmp "$in"
    LC_ALL=C.UTF-8 digest "utf8" sort -f -S 1M -T tmp -t "$tab" -k4,4 -k1,1r "$in"
    digest "merge" sort -m -T tmp sorted sorted
}

t_cxx_threads()
{
    run "$(build_helper cxx_threads)" 8 100000     # more threads than cores
}

t_fork_stress()
{
    run "$(build_helper fork_stress)" 3 3 2
}
# Its counts of forks and blocks depend on scheduling; the verdict line does not.
norm_fork_stress()
{
    sed -E '/^fork_stress: [0-9]+ s,/s/[0-9]+/N/g'
}

# glibc's tst-malloc-fork-deadlock shape (2 forkers x 100 forks, 2 getline readers, one
# fflush(NULL) loop): 1-3 s. A hang shows as the program's own watchdog (60 s) or the
# step timeout, never as a blocked CI job.
t_fork_stdio()
{
    STEP_TIMEOUT=90
    run "$(build_helper fork_stdio)" 100 2 2
}

# glibc's tst-mallocfork2 shape (fork in SIGUSR1 handlers while malloc and free run):
# 2-3 s.
t_fork_signal()
{
    STEP_TIMEOUT=90
    run "$(build_helper fork_signal)" 8000
}

t_lifecycle()
{
    run "$(build_helper lifecycle)"
}

t_libc_names()
{
    run "$(build_helper libc_names)"
}

t_one_allocator()
{
    run "$(build_helper one_allocator)" "$SIDE"
}

# --- Driver ---

PASSED=0
FAILED=0
FAILED_NAMES=()

fail()
{
    local name=$1 secs=$2
    shift 2
    echo "FAIL $name (${secs} s): $*"
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$name")
}

# Show file $2 under title $1, indented, at most 40 lines.
show()
{
    [[ -s $2 ]] || return 0
    echo "    --- $1"
    head -n 40 "$2" | sed 's/^/    | /'
}

run_test()
{
    local t=$1 side rc
    if [[ $t == one_allocator && $KIND != dogmalloc ]]; then
        echo "SKIP $t (it checks dogmalloc's own API; the override is $KIND)"
        return
    fi
    if declare -F "prepare_$t" > /dev/null; then "prepare_$t"; fi
    local -A took
    for side in base dog; do
        local dir=$TMP/$t/$side t0=$EPOCHREALTIME
        mkdir -p "$dir/work"
        set +e
        (
            set -euo pipefail
            cd "$dir/work"
            SIDE=$side
            "t_$t"
        ) > "$dir/out" 2> "$dir/err"
        rc=$?
        set -e
        echo "$rc" > "$dir/rc"
        took[$side]=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    done

    local b=$TMP/$t/base d=$TMP/$t/dog secs="base ${took[base]} s, override ${took[dog]}"
    local brc dogrc
    brc=$(cat "$b/rc")
    dogrc=$(cat "$d/rc")
    local norm=cat
    if declare -F "norm_$t" > /dev/null; then norm="norm_$t"; fi
    "$norm" < "$b/out" > "$b/out.norm"
    "$norm" < "$d/out" > "$d/out.norm"
    strip_stats "$d/err" > "$d/err.nostats"

    if [[ $brc != 0 ]]; then
        fail "$t" "$secs" "fails without the override (exit $brc): environment problem, not the allocator"
        show "stdout (base)" "$b/out"
        show "stderr (base)" "$b/err"
    elif [[ $dogrc != 0 ]]; then
        local why="exit $dogrc"
        ((dogrc == 124 || dogrc == 137)) && why="timed out after ${STEP_TIMEOUT} s (hang?)"
        ((dogrc > 128 && dogrc != 137)) && why="killed by signal $((dogrc - 128))"
        fail "$t" "$secs" "under the override: $why"
        tail -n 40 "$d/out" > "$d/out.tail"
        show "stdout (override), last lines" "$d/out.tail"
        show "stderr (override)" "$d/err.nostats"
    elif ! diff -u "$b/out.norm" "$d/out.norm" > "$TMP/$t/diff.out"; then
        fail "$t" "$secs" "output differs under the override"
        show "diff -u base override" "$TMP/$t/diff.out"
    elif [[ " ${STDERR_NOT_COMPARED[*]} " != *" $t "* ]] &&
        ! diff -u "$b/err" "$d/err.nostats" > "$TMP/$t/diff.err"; then
        fail "$t" "$secs" "stderr differs under the override (statistics removed)"
        show "diff -u base override" "$TMP/$t/diff.err"
    elif grep -Eh "$DIAG_RE" "$d/out" "$d/err" > "$TMP/$t/diag"; then
        fail "$t" "$secs" "the allocator reported problems"
        show "its messages" "$TMP/$t/diag"
    elif ! stats_ok "$d/err"; then
        fail "$t" "$secs" "no $KIND statistics with allocations > 0 on stderr: was it preloaded?"
        show "stderr (override)" "$d/err"
    else
        echo "PASS $t (${secs} s)"
        PASSED=$((PASSED + 1))
    fi
}

echo "run.sh: ${#TESTS[@]} tests under LD_PRELOAD=$OVERRIDE ($KIND)"
for t in "${TESTS[@]}"; do
    run_test "$t"
done
((FAILED == 0)) || echo "failed: ${FAILED_NAMES[*]}"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
