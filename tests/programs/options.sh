#!/bin/bash
# SPDX-License-Identifier: MIT
# options.sh OVERRIDE: the DOGMALLOC_* environment options of the override library.
# DOGMALLOC_VERBOSE names the version at start-up, DOGMALLOC_SHOW_STATS=1 prints the report
# at exit (and =0 does not), and an unknown DOGMALLOC_* name gets a warning. Prints
# "N passed, N failed"; exits nonzero on a failure.
set -u
ovr=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
version=$(sed -n 's/.*define DOG_VERSION_STRING "\([^"]*\)".*/\1/p' "$(dirname "$0")/../../include/dogmalloc.h")
passed=0 failed=0
run() { env -u DOGMALLOC_SHOW_STATS -u DOGMALLOC_VERBOSE LD_PRELOAD="$ovr" "$@" ls / 2>&1 >/dev/null; }
expect() {   # name, output, regexp, want (1: must match, 0: must not)
    if grep -Eq "$3" <<<"$2"; then got=1; else got=0; fi
    if [ "$got" = "$4" ]; then passed=$((passed + 1)); echo "PASS options: $1"
    else failed=$((failed + 1)); echo "FAIL options: $1"; printf '%s\n' "$2" | sed 's/^/    | /'; fi
}
expect "DOGMALLOC_VERBOSE=1 names the version" "$(run env DOGMALLOC_VERBOSE=1)" \
    "^dogmalloc: version $version active" 1
expect "DOGMALLOC_SHOW_STATS=1 prints the report" "$(run env DOGMALLOC_SHOW_STATS=1)" \
    '^dogmalloc heap "default"' 1
expect "DOGMALLOC_SHOW_STATS=0 prints nothing" "$(run env DOGMALLOC_SHOW_STATS=0)" 'dogmalloc' 0
expect "an unknown option is named in a warning" "$(run env DOGMALLOC_SHOW_STAT=1)" \
    '^dogmalloc: warning: unknown option DOGMALLOC_SHOW_STAT' 1
expect "no option, no output" "$(run env)" 'dogmalloc' 0
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
