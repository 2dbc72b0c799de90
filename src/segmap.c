/* SPDX-License-Identifier: MIT */
/* segmap.c: leaves of the address-range map are mapped on first use and never freed
 * (64 KiB per 32 GiB of address space in use). */
#include <errno.h>
#include <stdbool.h>
#include "os.h"
#include "segmap.h"

#define LEAF_ENTRIES ((size_t)1 << DOG_SEGMAP_LEAF_BITS)

_Atomic(_Atomic uint8_t *) dog__segmap_top[DOG_SEGMAP_TOP_COUNT];

static _Atomic uint8_t *leaf_get(size_t top)
{
    _Atomic uint8_t *leaf = dog__load_acquire(&dog__segmap_top[top]);
    if (leaf != NULL)
        return leaf;
    _Atomic uint8_t *fresh = dog__os_map_aligned(LEAF_ENTRIES, DOG_OS_PAGE_SIZE);
    if (fresh == NULL)
        return NULL;
    _Atomic uint8_t *expected = NULL;
    if (atomic_compare_exchange_strong(&dog__segmap_top[top], &expected, fresh))
        return fresh;
    dog__os_unmap((void *)fresh, LEAF_ENTRIES);   /* another thread won the race */
    return expected;
}

bool dog__segmap_set(const void *start, size_t size, unsigned first, unsigned rest)
{
    uintptr_t a = (uintptr_t)start, end = a + size;
    if ((end - 1) >> DOG_SEGMAP_ADDR_BITS) {
        errno = ENOMEM;         /* outside the address space the map covers */
        return false;
    }
    for (unsigned kind = first; a < end; a += DOG_PAGE_SIZE, kind = rest) {
        uintptr_t frame = a >> DOG_PAGE_SHIFT;
        _Atomic uint8_t *leaf = kind == DOG_FRAME_NONE
            ? dog__load_acquire(&dog__segmap_top[frame >> DOG_SEGMAP_LEAF_BITS])
            : leaf_get(frame >> DOG_SEGMAP_LEAF_BITS);
        if (leaf == NULL && kind == DOG_FRAME_NONE)
            continue;           /* nothing to clear where no leaf was ever mapped */
        if (leaf == NULL) {
            errno = ENOMEM;
            return false;
        }
        dog__store_relaxed(&leaf[frame & (LEAF_ENTRIES - 1)], (uint8_t)kind);
    }
    return true;
}
