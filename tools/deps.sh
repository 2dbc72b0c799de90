#!/bin/sh
# SPDX-License-Identifier: MIT
# deps.sh PACKAGE...: make sure these Debian packages are installed.
# As root it installs the missing ones with apt-get; otherwise it prints the exact
# command to run and fails, so that `make demo` / `make check` say what they need.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "dogmalloc: installing missing Debian packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -q --no-install-recommends $missing ||
      { apt-get update -q && apt-get install -y -q --no-install-recommends $missing; }; } >&2 ||
        { echo "dogmalloc: apt-get failed for:$missing" >&2; exit 1; }
    exit 0
fi
echo "dogmalloc: missing Debian packages:$missing" >&2
echo "dogmalloc: install them with:  sudo apt-get install -y$missing" >&2
exit 1
