/* SPDX-License-Identifier: MIT */
/* size_class.c: the one size-class search that is not O(1). */
#include "size_class.h"

/* dog__bin_of(w) for w <= DOG_BIN_TABLE_WSIZE_MAX (every size a thread cache holds), one
 * load instead of a bit scan and no range test on the fast path (tcache.h:
 * dog__tcache_pop); tests/check_size_class.c checks every entry against dog__bin_of. */
const uint8_t dog__bin_direct[DOG_BIN_TABLE_WSIZE_MAX + 1] = {
    /* [words] = bin: each bin holds the sizes from above the last one to its own */
    [0 ... 1] = 0, [2] = 1, [3 ... 4] = 2, [5 ... 6] = 3, [7 ... 8] = 4, [9 ... 10] = 5,
    [11 ... 12] = 6, [13 ... 14] = 7, [15 ... 16] = 8, [17 ... 20] = 9, [21 ... 24] = 10,
    [25 ... 28] = 11, [29 ... 32] = 12, [33 ... 40] = 13, [41 ... 48] = 14,
    [49 ... 56] = 15, [57 ... 64] = 16, [65 ... 80] = 17, [81 ... 96] = 18,
    [97 ... 112] = 19, [113 ... 128] = 20, [129 ... 160] = 21, [161 ... 192] = 22,
    [193 ... 224] = 23, [225 ... 256] = 24, [257 ... 320] = 25, [321 ... 384] = 26,
    [385 ... 448] = 27, [449 ... 512] = 28, [513 ... 640] = 29, [641 ... 768] = 30,
    [769 ... 896] = 31, [897 ... 1024] = 32, [1025 ... 1280] = 33, [1281 ... 1536] = 34,
    [1537 ... 1792] = 35, [1793 ... 2048] = 36,
};

size_t dog__bin_for_aligned(size_t size, size_t align)
{
    if (size == 0)
        size = 1;
    size = (size + align - 1) & ~(align - 1);
    if (size > DOG_SMALL_SIZE_MAX)
        return DOG_BIN_COUNT;
    /* Power-of-two bins are multiples of every smaller power of two, so this walks at
     * most 4 bins before it finds one. */
    for (size_t bin = dog__bin_of(dog__wsize(size)); bin < DOG_BIN_COUNT; bin++)
        if ((dog__bin_size(bin) & (align - 1)) == 0)
            return bin;
    return DOG_BIN_COUNT;
}
