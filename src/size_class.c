/* SPDX-License-Identifier: MIT */
/* size_class.c: the one size-class search that is not O(1). */
#include "size_class.h"

/* dog__bin_of(w) for w <= DOG_DIRECT_WSIZE_MAX, one load instead of a bit scan on the
 * fast path; tests/check_size_class.c checks every entry against dog__bin_of. */
const uint8_t dog__bin_direct[DOG_DIRECT_WSIZE_MAX + 1] = {
    0, 0, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8,
    8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11, 12, 12, 12,
    12, 13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 14, 14, 14,
    14, 15, 15, 15, 15, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16, 16,
    16, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17,
    17, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18,
    18, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19,
    19, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20,
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
