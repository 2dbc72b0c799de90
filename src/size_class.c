/* size_class.c: the one size-class search that is not O(1). */
#include "size_class.h"

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
