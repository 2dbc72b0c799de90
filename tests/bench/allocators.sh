# SPDX-License-Identifier: MIT
# allocators.sh: sourced by run.sh and callgrind.sh. preload_of NAME prints the library to
# LD_PRELOAD for allocator NAME (empty for glibc); BUILD must be set.
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
find_lib() {
    local d
    for d in "/usr/lib/$multiarch" /usr/lib64 /usr/lib /usr/local/lib; do
        [ -e "$d/$1" ] && { echo "$d/$1"; return 0; }
    done
    /sbin/ldconfig -p 2>/dev/null | awk -v so="$1" '$1 == so { print $NF; exit }'
}
preload_of() {
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
