# SPDX-License-Identifier: MIT
# allocators.sh: sourced by run.sh and callgrind.sh. preload_of NAME prints the library to
# LD_PRELOAD for allocator NAME (empty for glibc); BUILD must be set.
# DOG_BENCH_PEERS="name=/path/lib.so ..." (make bench PEERS=...) adds any preloadable
# allocator, e.g. mimalloc 3 or snmalloc built from source outside the repository: each
# name joins the list of allocators to run, and its library is what is preloaded.
for peer in ${DOG_BENCH_PEERS:-}; do
    case $peer in
    ?*=?*) ;;
    *) echo "allocators.sh: PEERS entry '$peer' is not name=/path/lib.so" >&2; exit 2 ;;
    esac
    if [ ! -f "${peer#*=}" ]; then
        echo "allocators.sh: PEERS: no such library: ${peer#*=}" >&2
        exit 2
    fi
    case " $allocators " in
    *" ${peer%%=*} "*) ;;
    *) allocators="$allocators ${peer%%=*}" ;;
    esac
done
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
find_lib() {
    local d
    for d in "/usr/lib/$multiarch" /usr/lib64 /usr/lib /usr/local/lib; do
        [ -e "$d/$1" ] && { echo "$d/$1"; return 0; }
    done
    /sbin/ldconfig -p 2>/dev/null | awk -v so="$1" '$1 == so { print $NF; exit }'
}
preload_of() {
    local peer
    for peer in ${DOG_BENCH_PEERS:-}; do
        [ "${peer%%=*}" = "$1" ] && { readlink -f "${peer#*=}"; return 0; }
    done
    case "$1" in
    glibc) echo "" ;;
    dogmalloc) [ -e "$BUILD/libdogmalloc-override.so" ] && echo "$BUILD/libdogmalloc-override.so" ;;
    mimalloc) find_lib libmimalloc.so.2 ;;
    jemalloc) find_lib libjemalloc.so.2 ;;
    tcmalloc) find_lib libtcmalloc_minimal.so.4 ;;
    tbbmalloc) find_lib libtbbmalloc_proxy.so.2 ;;
    *) return 1 ;;
    esac
}
