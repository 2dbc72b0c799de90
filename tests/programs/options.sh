#!/bin/bash
# SPDX-License-Identifier: MIT
# options.sh OVERRIDE: the DOGMALLOC_* environment options of the override library, each
# through an effect that a program run under it can see: VERBOSE lists every option with
# its value and source, SHOW_STATS prints the report at exit, LIMIT makes a large
# allocation fail (Python's MemoryError), SHOW_ERRORS says why, MISUSE=report lets a
# double free continue, THP shows in /proc/self/smaps (VmFlags hg/nh), RESERVE as a large
# PROT_NONE mapping in /proc/self/maps, PURGE_DELAY in the resident size after a free,
# LEAK_REPORT as the table of dog_default's live blocks at exit;
# values that do not parse and unknown names get warnings. Prints "N passed, N failed";
# exits nonzero on a failure.
set -u
ovr=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
version=$(sed -n 's/.*define DOG_VERSION_STRING "\([^"]*\)".*/\1/p' "$(dirname "$0")/../../include/dogmalloc.h")
passed=0 failed=0 skipped=0
# The command (default ls /) under the override with no DOGMALLOC_* variable but those given.
clean_env() { env | sed -n 's/^\(DOGMALLOC_[A-Za-z0-9_]*\)=.*/-u \1/p'; }
run() {
    local vars=()
    while [ $# -gt 0 ] && [[ "$1" == *=* ]]; do vars+=("$1"); shift; done
    [ $# -eq 0 ] && set -- ls /
    # shellcheck disable=SC2046
    env $(clean_env) LD_PRELOAD="$ovr" "${vars[@]}" "$@" 2>&1 >/dev/null
}
run_out() {   # as run, but stdout and stderr both
    local vars=()
    while [ $# -gt 0 ] && [[ "$1" == *=* ]]; do vars+=("$1"); shift; done
    # shellcheck disable=SC2046
    env $(clean_env) LD_PRELOAD="$ovr" "${vars[@]}" "$@" 2>&1
}
expect() {   # name, output, regexp, want (1: must match, 0: must not)
    if grep -Eq -- "$3" <<<"$2"; then got=1; else got=0; fi
    if [ "$got" = "$4" ]; then passed=$((passed + 1)); echo "PASS options: $1"
    else failed=$((failed + 1)); echo "FAIL options: $1"; printf '%s\n' "$2" | sed 's/^/    | /'; fi
}
skip() { skipped=$((skipped + 1)); echo "SKIP options: $1"; }

# --- VERBOSE, SHOW_STATS, unknown names, bad values ---
expect "DOGMALLOC_VERBOSE=1 names the version" "$(run DOGMALLOC_VERBOSE=1)" \
    "^dogmalloc: version $version active" 1
out=$(run DOGMALLOC_VERBOSE=1 DOGMALLOC_LIMIT=1G DOGMALLOC_PURGE_DELAY=never)
for o in SHOW_STATS VERBOSE SHOW_ERRORS MISUSE PURGE_DELAY LIMIT THP RESERVE LEAK_REPORT; do
    expect "DOGMALLOC_VERBOSE=1 lists DOGMALLOC_$o" "$out" "^dogmalloc: option DOGMALLOC_$o = " 1
done
expect "DOGMALLOC_VERBOSE=1 gives a value from the environment and its source" "$out" \
    '^dogmalloc: option DOGMALLOC_LIMIT = 1073741824 \(1 GiB\) \(environment' 1
expect "DOGMALLOC_VERBOSE=1 says never for PURGE_DELAY=never" "$out" \
    '^dogmalloc: option DOGMALLOC_PURGE_DELAY = never \(environment\)' 1
expect "DOGMALLOC_VERBOSE=1 marks a default as such" "$out" \
    '^dogmalloc: option DOGMALLOC_MISUSE = abort \(default\)' 1
expect "DOGMALLOC_SHOW_STATS=1 prints the report" "$(run DOGMALLOC_SHOW_STATS=1)" \
    '^dogmalloc heap "default"' 1
expect "DOGMALLOC_SHOW_STATS=1 prints the table of every heap" "$(run DOGMALLOC_SHOW_STATS=1)" \
    '^  default +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +none$' 1
expect "DOGMALLOC_SHOW_STATS=0 prints nothing" "$(run DOGMALLOC_SHOW_STATS=0)" 'dogmalloc' 0
leak='import ctypes; ctypes.CDLL(None).malloc(70000); ctypes.CDLL(None).malloc(40)'
out=$(run DOGMALLOC_LEAK_REPORT=1 python3 -c "$leak")
expect "DOGMALLOC_LEAK_REPORT=1 reports dog_default's live blocks at exit" "$out" \
    '^dogmalloc: leak report of heap "default" at exit: [0-9]+ live blocks, [0-9]+ bytes \(pid [0-9]+\)$' 1
expect "DOGMALLOC_LEAK_REPORT=1 gives the huge row (the 70000-byte block)" "$out" \
    '^ +huge +[1-9][0-9]* +[0-9]+  0x' 1
expect "an unknown option is named in a warning" "$(run DOGMALLOC_SHOW_STAT=1)" \
    '^dogmalloc: warning: unknown option DOGMALLOC_SHOW_STAT ' 1
expect "a value that does not parse is named in a warning" "$(run DOGMALLOC_LIMIT=12Q)" \
    '^dogmalloc: warning: DOGMALLOC_LIMIT=12Q is not a valid value' 1
expect "no option, no output" "$(run)" 'dogmalloc' 0

# --- LIMIT and SHOW_ERRORS: Python's bytearray of 100 MiB under a 64 MiB budget ---
big='
try:
    b = bytearray(100 << 20)
    print("allocated")
except MemoryError:
    print("MemoryError")'
expect "without DOGMALLOC_LIMIT a 100 MiB allocation succeeds" \
    "$(run_out python3 -c "$big")" '^allocated$' 1
expect "DOGMALLOC_LIMIT=64M makes a 100 MiB allocation fail (ENOMEM)" \
    "$(run_out DOGMALLOC_LIMIT=64M python3 -c "$big")" '^MemoryError$' 1
expect "DOGMALLOC_LIMIT=64MiB is the same" \
    "$(run_out DOGMALLOC_LIMIT=64MiB python3 -c "$big")" '^MemoryError$' 1
expect "DOGMALLOC_LIMIT alone prints no error" \
    "$(run_out DOGMALLOC_LIMIT=64M python3 -c "$big")" '^dogmalloc: error' 0
expect "DOGMALLOC_SHOW_ERRORS=1 says why the allocation failed" \
    "$(run_out DOGMALLOC_LIMIT=64M DOGMALLOC_SHOW_ERRORS=1 python3 -c "$big")" \
    '^dogmalloc: error: heap "default": [0-9]+ more bytes would exceed its budget of 67108864' 1

# --- MISUSE: a double free through ctypes ---
double='
import ctypes
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
for size in (32, 3000, 1 << 20):
    p = libc.malloc(size)
    libc.free(p)
    libc.free(p)
print("survived")'
out=$(run_out python3 -c "$double"; echo "exit $?")
expect "a double free aborts by default" "$out" '^exit 134$' 1
expect "a double free aborts with a message" "$out" 'dogmalloc: dog_free\(0x[0-9a-f]+\): invalid pointer: double free' 1
out=$(run_out DOGMALLOC_MISUSE=report python3 -c "$double"; echo "exit $?")
expect "DOGMALLOC_MISUSE=report lets a double free continue" "$out" '^survived$' 1
expect "DOGMALLOC_MISUSE=report exits normally" "$out" '^exit 0$' 1
expect "DOGMALLOC_MISUSE=report reports each double free" \
    "$(grep -c 'misuse (reported, continuing): dog_free(0x[0-9a-f]*): invalid pointer: double free' <<<"$out")" '^3$' 1

# --- THP: the VmFlags of the page mappings (hg: MADV_HUGEPAGE, nh: MADV_NOHUGEPAGE) ---
if [ -r /sys/kernel/mm/transparent_hugepage/enabled ] && grep -q VmFlags /proc/self/smaps; then
    # grep mallocs before it reads its own smaps, so dogmalloc's first region is there.
    expect "DOGMALLOC_THP=on marks the page mappings hg" \
        "$(run_out DOGMALLOC_THP=on grep -c 'VmFlags:.* hg' /proc/self/smaps)" '^[1-9]' 1
    expect "DOGMALLOC_THP=madvise is the same" \
        "$(run_out DOGMALLOC_THP=madvise grep -c 'VmFlags:.* hg' /proc/self/smaps)" '^[1-9]' 1
    expect "DOGMALLOC_THP=off marks them nh" \
        "$(run_out DOGMALLOC_THP=off grep -c 'VmFlags:.* nh' /proc/self/smaps)" '^[1-9]' 1
    expect "without DOGMALLOC_THP nothing is marked" \
        "$(run_out grep -c 'VmFlags:.* \(hg\|nh\)' /proc/self/smaps)" '^0$' 1
else
    skip "DOGMALLOC_THP (no transparent huge pages or no VmFlags in smaps)"
fi

# --- RESERVE: a PROT_NONE mapping of (nearly) the reserved size in the process's maps ---
largest_none() {   # the largest ---p mapping of a maps listing on stdin, in MiB
    local range perms rest max=0 s e
    while read -r range perms rest; do
        [ "$perms" = "---p" ] || continue
        s=$((16#${range%-*})); e=$((16#${range#*-}))
        [ $(((e - s) >> 20)) -gt "$max" ] && max=$(((e - s) >> 20))
    done
    echo "$max"
}
expect "DOGMALLOC_RESERVE=1G reserves 1 GiB of address space (less what is carved)" \
    "$(run_out DOGMALLOC_RESERVE=1G cat /proc/self/maps | largest_none)" '^10[0-9][0-9]$' 1
expect "without DOGMALLOC_RESERVE there is no such reservation" \
    "$(run_out cat /proc/self/maps | largest_none)" '^[0-9]{1,3}$' 1

# --- PURGE_DELAY: 60 MiB of 1 KiB blocks freed; the empty pages' memory goes back at
# once with 0 and stays resident (up to the pool's 32 MiB cap) with never ---
rss='
import re
def rss():
    return int(re.search(r"VmRSS:\s+(\d+)", open("/proc/self/status").read()).group(1)) // 1024
x = [bytearray(1000) for _ in range(60000)]
del x
y = bytearray(1 << 20)      # a pool operation after the free
print("rss", rss())'
now=$(run_out DOGMALLOC_PURGE_DELAY=0 python3 -c "$rss" | sed -n 's/^rss //p')
never=$(run_out DOGMALLOC_PURGE_DELAY=never python3 -c "$rss" | sed -n 's/^rss //p')
if [ -n "$now" ] && [ -n "$never" ] && [ $((never - now)) -ge 16 ]; then
    passed=$((passed + 1)); echo "PASS options: DOGMALLOC_PURGE_DELAY=0 returns memory that =never keeps ($now MiB vs $never MiB resident)"
else
    failed=$((failed + 1)); echo "FAIL options: DOGMALLOC_PURGE_DELAY: resident ${now:-?} MiB with 0, ${never:-?} MiB with never (want 16 MiB less)"
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
