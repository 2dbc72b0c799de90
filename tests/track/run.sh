#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh: the programs of tests/track/ under real memory checkers, each report checked.
#
#   tests/track/run.sh [--cc CC] [--valgrind DIR] [--asan DIR] [--programs]
#
# --valgrind DIR  a `make TRACK=valgrind` build (build-valgrind/): each faulty program runs
#                 under memcheck and its report must name the fault; clean.c, clean.c under
#                 the override and (--programs) a few real programs under the override
#                 must give 0 errors
# --asan DIR      a `make SANITIZE=address` build (build-address/): the faults ASan can see
#                 must be reported as use-after-poison at the faulty line; clean.c, none
# Programs are built into DIR/track/, logs kept next to them (shown when a case fails).
set -u
CC=${CC:-cc}
VG_DIR=
ASAN_DIR=
REAL=
while [ $# -gt 0 ]; do
    case "$1" in
    --cc) CC=$2; shift ;;
    --valgrind) VG_DIR=$2; shift ;;
    --asan) ASAN_DIR=$2; shift ;;
    --programs) REAL=1 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
SRC=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$SRC/../.." && pwd)
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "PASS: $1"; }
bad() {
    fail=$((fail + 1)); echo "FAIL: $1: $2"
    [ -f "$3" ] && sed 's/^/    /' "$3" | head -60
}

# build DIR NAME [FLAGS...]: DIR/track/NAME from tests/track/NAME.c and DIR/libdogmalloc.a
# (DWARF 4: Valgrind 3.19 cannot read clang 14's DWARF 5)
build() {
    dir=$1 name=$2; shift 2
    mkdir -p "$dir/track"
    $CC -std=gnu11 -O1 -g -gdwarf-4 -Wall -Wextra -I"$TOP/include" "$@" -o "$dir/track/$name" \
        "$SRC/$name.c" "$dir/libdogmalloc.a" -pthread
}

# expect LOG CASE PATTERN...: every pattern (grep -E) is in the log
expect() {
    log=$1 what=$2; shift 2
    for pat in "$@"; do
        if ! grep -Eq -- "$pat" "$log"; then
            bad "$what" "no \"$pat\" in the report" "$log"
            return 1
        fi
    done
    ok "$what"
}

# The stack of the first loss record that says "definitely lost" holds dog_malloc.
lost_in_dog_malloc() {
    awk '/definitely lost in loss record/ { on = 1 } on && /^==[0-9]+== *$/ { exit }
         on && /dog_malloc/ { found = 1 } END { exit !found }' "$1"
}

VG="valgrind --leak-check=full --error-exitcode=99"
if [ -n "$VG_DIR" ]; then
    command -v valgrind >/dev/null || { echo "run.sh: valgrind not installed" >&2; exit 2; }
    VG_DIR=$(cd "$VG_DIR" && pwd)
    OVR=$VG_DIR/libdogmalloc-override.so
    for p in leak read_after_free overflow uninit heap_destroy heap_reset clean; do
        build "$VG_DIR" $p || { bad "build $p" "compile failed" ""; continue; }
    done
    $CC -std=gnu11 -O1 -g -gdwarf-4 -Wall -Wextra -o "$VG_DIR/track/malloc_leak" "$SRC/malloc_leak.c" ||
        bad "build malloc_leak" "compile failed" ""
    T=$VG_DIR/track

    $VG "$T/leak" > "$T/leak.vg" 2>&1
    if expect "$T/leak.vg" "memcheck: leak of dog_malloc(100)" \
           "100 bytes in 1 blocks are definitely lost"; then
        lost_in_dog_malloc "$T/leak.vg" ||
            bad "memcheck: leak of dog_malloc(100)" "dog_malloc not in the stack" "$T/leak.vg"
    fi
    $VG "$T/read_after_free" > "$T/read_after_free.vg" 2>&1
    expect "$T/read_after_free.vg" "memcheck: read after dog_free" "Invalid read of size 1" \
        "8 bytes inside a block of size 64 free'd" "read_after_free.c:16"
    $VG "$T/overflow" > "$T/overflow.vg" 2>&1
    expect "$T/overflow.vg" "memcheck: write past a 16-byte block" "Invalid write of size 1" \
        "0 bytes after a block of size 16 alloc'd" "overflow.c:15"
    $VG "$T/uninit" > "$T/uninit.vg" 2>&1
    expect "$T/uninit.vg" "memcheck: read of uninitialised bytes" \
        "Conditional jump or move depends on uninitialised value" "uninit.c:13"
    $VG "$T/heap_destroy" > "$T/heap_destroy.vg" 2>&1
    expect "$T/heap_destroy.vg" "memcheck: write after dog_heap_destroy" \
        "Invalid write of size 1" "10 bytes inside a block of size 100 free'd" \
        "dog_heap_destroy" "heap_destroy.c:18"
    $VG "$T/heap_reset" > "$T/heap_reset.vg" 2>&1
    expect "$T/heap_reset.vg" "memcheck: write after dog_heap_reset" \
        "Invalid write of size 1" "10 bytes inside a block of size 100 free'd" \
        "dog_heap_reset" "heap_reset.c:18"
    LD_PRELOAD=$OVR $VG --soname-synonyms=somalloc=NONE "$T/malloc_leak" > "$T/malloc_leak.vg" 2>&1
    if expect "$T/malloc_leak.vg" "memcheck + override: leak of malloc(100)" \
           "100 bytes in 1 blocks are definitely lost"; then
        lost_in_dog_malloc "$T/malloc_leak.vg" ||
            bad "memcheck + override: leak of malloc(100)" "dog_malloc not in the stack" \
                "$T/malloc_leak.vg"
    fi

    # Correct programs: no error, nothing definitely or possibly lost.
    CLEAN="$VG --errors-for-leak-kinds=definite,possible"
    clean_run() {
        what=$1 log=$2; shift 2
        "$@" > "$log" 2>&1
        rc=$?
        if [ $rc -eq 0 ] && grep -q "ERROR SUMMARY: 0 errors" "$log"; then
            ok "$what"
        else
            bad "$what" "exit $rc" "$log"
        fi
    }
    clean_run "memcheck: clean.c, 0 errors" "$T/clean.vg" $CLEAN "$T/clean"
    clean_run "memcheck + override: clean.c, 0 errors" "$T/clean-override.vg" \
        env LD_PRELOAD="$OVR" $CLEAN --soname-synonyms=somalloc=NONE "$T/clean"
    if [ -n "$REAL" ]; then
        # Real programs under the override: no invalid access and no uninitialised value.
        # What they leave allocated at exit is theirs (sort and perl do not free before
        # exit), so leaks are not errors here. Python's own allocator reads memory it never
        # wrote (Python's Misc/README.valgrind): PYTHONMALLOC=malloc gives every object to
        # dogmalloc.
        seq 1 20000 | sed 's/$/ dogmalloc/' > "$T/input.txt"
        real() {
            [ -x "$1" ] || { echo "SKIP: $1 not installed"; return; } || { echo "SKIP: $1 not installed"; return; }
            clean_run "memcheck + override: $1, 0 errors" "$T/real-${1##*/}.vg" env LD_PRELOAD="$OVR" \
                PYTHONMALLOC=malloc $VG --errors-for-leak-kinds=none \
                --soname-synonyms=somalloc=NONE "$@"
        }
        real /usr/bin/sort -r "$T/input.txt" -o "$T/sorted.txt"
        real /usr/bin/sqlite3 :memory: "create table t(a, b); insert into t select value, \
            hex(randomblob(50)) from generate_series(1, 5000); select count(*) from t;"
        real /usr/bin/perl -e 'my %h; $h{$_} = [1 .. 10] for 1 .. 20000; print scalar(keys %h), "\n";'
        real /usr/bin/python3 -c 'import json; print(len(json.dumps([{"k": str(i)} for i in range(20000)])))'
    fi
fi

if [ -n "$ASAN_DIR" ]; then
    ASAN_DIR=$(cd "$ASAN_DIR" && pwd)
    for p in leak read_after_free overflow heap_destroy heap_reset clean; do
        build "$ASAN_DIR" $p -fsanitize=address -fno-omit-frame-pointer ||
            { bad "build $p (ASan)" "compile failed" ""; continue; }
    done
    T=$ASAN_DIR/track
    asan_case() {
        what=$1 name=$2 access=$3 line=$4
        ASAN_OPTIONS=detect_leaks=1 "$T/$name" > "$T/$name.asan" 2>&1
        expect "$T/$name.asan" "$what" "ERROR: AddressSanitizer: use-after-poison on address" \
            "^$access of size 1 at" "in main .*$line"
    }
    asan_case "ASan: read after dog_free" read_after_free READ read_after_free.c:16
    asan_case "ASan: write past a 16-byte block" overflow WRITE overflow.c:15
    asan_case "ASan: write after dog_heap_destroy" heap_destroy WRITE heap_destroy.c:18
    asan_case "ASan: write after dog_heap_reset" heap_reset WRITE heap_reset.c:18
    ASAN_OPTIONS=detect_leaks=1 "$T/clean" > "$T/clean.asan" 2>&1
    if [ $? -eq 0 ] && ! grep -q AddressSanitizer "$T/clean.asan"; then
        ok "ASan: clean.c, no report"
    else
        bad "ASan: clean.c, no report" "a report or a failure" "$T/clean.asan"
    fi
    # LSan has no interface for a custom allocator's blocks (docs/debugging.md): a leaked
    # dog block goes unreported. Checked, so that the day it is seen the docs change.
    ASAN_OPTIONS=detect_leaks=1 "$T/leak" > "$T/leak.asan" 2>&1
    if [ $? -eq 0 ] && ! grep -q "LeakSanitizer" "$T/leak.asan"; then
        ok "ASan: a leaked dog block is not seen by LSan (documented limitation)"
    else
        bad "ASan: leak" "LSan reported a dog block: update docs/debugging.md" "$T/leak.asan"
    fi
fi

echo "check-track: $pass passed, $fail failed"
[ $fail -eq 0 ]
