/* SPDX-License-Identifier: MIT */
/* segmap.h: the map of the address ranges dogmalloc owns, one byte per 512 KiB frame.
 *
 * It lets dog_free(), dog_usable_size() and dog_heap_of() tell a foreign pointer from one
 * of ours without reading memory we do not own, and it finds huge-block headers that
 * masking alone cannot (over-aligned blocks). Two levels: a static top table of leaf
 * pointers, and 64 KiB leaves mapped on first use, each covering 32 GiB of address space.
 * Writers: page_pool.c and huge.c, when they map or unmap. Readers: anyone, racily; an
 * entry only changes while nobody may legitimately hold a pointer into its frame. */
#ifndef DOG_SEGMAP_H
#define DOG_SEGMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "atomic.h"
#include "compiler.h"

enum {
    DOG_FRAME_NONE = 0,      /* not ours */
    DOG_FRAME_PAGE = 1,      /* a small-block page; its header starts the frame */
    DOG_FRAME_HUGE = 2,      /* a huge block whose header starts this frame */
    DOG_FRAME_HUGE_PREV = 3, /* the first user frame of an over-aligned huge block: its
                                header starts the previous frame */
    DOG_FRAME_HUGE_CONT = 4, /* further frames of a huge block: only interior pointers */
    DOG_FRAME_META = 5,      /* dogmalloc's own structures (meta.c): heaps, shards, caches;
                                never a block, never unmapped */
};

#define DOG_SEGMAP_ADDR_BITS 48
#define DOG_SEGMAP_LEAF_BITS 16
#define DOG_SEGMAP_TOP_COUNT \
    ((size_t)1 << (DOG_SEGMAP_ADDR_BITS - DOG_PAGE_SHIFT - DOG_SEGMAP_LEAF_BITS))

extern DOG_HIDDEN _Atomic(_Atomic uint8_t *) dog__segmap_top[DOG_SEGMAP_TOP_COUNT];

static DOG_INLINE unsigned dog__segmap_kind(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    /* One shift gives the top index and, by its range, whether a is below 2^48. */
    uintptr_t top = a >> (DOG_PAGE_SHIFT + DOG_SEGMAP_LEAF_BITS);
    if (DOG_UNLIKELY(top >= DOG_SEGMAP_TOP_COUNT))
        return DOG_FRAME_NONE;
    _Atomic uint8_t *leaf = dog__load_relaxed(&dog__segmap_top[top]);
    if (DOG_UNLIKELY(leaf == NULL))
        return DOG_FRAME_NONE;
    return dog__load_relaxed(&leaf[(a >> DOG_PAGE_SHIFT) & (((uintptr_t)1 << DOG_SEGMAP_LEAF_BITS) - 1)]);
}

/* segmap.c: mark [start, start + size) (frame aligned): its first frame as first, the
 * others as rest. Returns false (errno = ENOMEM) if a leaf could not be mapped. */
bool dog__segmap_set(const void *start, size_t size, unsigned first, unsigned rest);

/* For fork's handlers (init.c): the lock under which a leaf is purged. */
bool dog__segmap_fork_lock(void);
void dog__segmap_fork_unlock(void);

#endif
