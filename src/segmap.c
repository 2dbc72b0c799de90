/* SPDX-License-Identifier: MIT */
/* segmap.c: leaves of the address-range map, mapped on first use and given back when
 * they mark nothing, so that the map holds memory in proportion to what dogmalloc has
 * mapped, not to the span of addresses it ever used.
 *
 * Each leaf has a count of its entries that are not DOG_FRAME_NONE. A writer counts the
 * frames it is about to mark before it writes them, and uncounts those that were marked
 * already, so a leaf's count never reads 0 while an entry of it is set or about to be.
 * The writer that takes a count from 1 to 0 sets it to PURGING instead, gives the leaf's
 * memory back (it reads as zeros, DOG_FRAME_NONE, afterwards: readers read the map
 * without a lock, so the mapping itself stays), counts it out of dog__os_mapped, and
 * stores 0; a writer that finds PURGING waits for that.
 *
 * The purge runs under purge_lock, taken before the count goes to PURGING, so that fork's
 * prepare handler, which takes that lock too, never lets a child inherit a leaf stuck in
 * PURGING with no thread left to finish it (the child's first mark there would wait
 * forever). */
#include <errno.h>
#include <stdbool.h>
#include "fault.h"
#include "lock.h"
#include "os.h"
#include "segmap.h"

#define LEAF_ENTRIES ((size_t)1 << DOG_SEGMAP_LEAF_BITS)
#define PURGING UINT32_MAX

_Atomic(_Atomic uint8_t *) dog__segmap_top[DOG_SEGMAP_TOP_COUNT];
static _Atomic uint32_t leaf_count[DOG_SEGMAP_TOP_COUNT];
static dog_lock_t purge_lock = DOG_LOCK_INIT;

static _Atomic uint8_t *leaf_get(size_t top)
{
    _Atomic uint8_t *leaf = dog__load_acquire(&dog__segmap_top[top]);
    if (leaf != NULL)
        return leaf;
    _Atomic uint8_t *fresh = dog__os_map_aligned(LEAF_ENTRIES, DOG_OS_PAGE_SIZE);
    if (fresh == NULL)
        return NULL;
    _Atomic uint8_t *expected = NULL;
    if (dog__cas_strong_seqcst(&dog__segmap_top[top], &expected, fresh))
        return fresh;
    dog__os_unmap((void *)fresh, LEAF_ENTRIES);   /* another thread won the race */
    return expected;
}

/* n more entries of leaf top will be marked: count them first (a leaf going from 0 to
 * in use is memory dogmalloc holds again). */
static void leaf_count_add(size_t top, uint32_t n)
{
    uint32_t c = dog__load_relaxed(&leaf_count[top]);
    for (;;) {
        if (c == PURGING) {
            dog__os_yield();
            c = dog__load_relaxed(&leaf_count[top]);
            continue;
        }
        if (dog__cas_weak_acqrel(&leaf_count[top], &c, c + n))
            break;
    }
    if (c == 0)
        dog__fetch_add_relaxed(&dog__os_mapped, LEAF_ENTRIES);
}

/* n entries of leaf top are no longer marked (or were counted by leaf_count_add but had
 * been marked already); the last one out gives the leaf's memory back. */
static void leaf_count_sub(size_t top, uint32_t n)
{
    uint32_t c = dog__load_relaxed(&leaf_count[top]);
    for (;;) {
        if (c != n) {
            if (dog__cas_weak_acqrel(&leaf_count[top], &c, c - n))
                return;
            continue;
        }
        /* The last entries go: purge under the lock, unless another writer counts more
         * in first. */
        dog__lock_acquire(&purge_lock);
        if (dog__cas_strong_seqcst(&leaf_count[top], &c, PURGING))
            break;
        dog__lock_release(&purge_lock);
    }
    dog__os_purge((void *)dog__load_relaxed(&dog__segmap_top[top]), LEAF_ENTRIES);
    dog__fetch_sub_relaxed(&dog__os_mapped, LEAF_ENTRIES);
    dog__store_release(&leaf_count[top], 0);
    dog__lock_release(&purge_lock);
}

bool dog__segmap_fork_lock(void)
{
    return dog__lock_fork_acquire(&purge_lock);
}

void dog__segmap_fork_unlock(void)
{
    dog__lock_fork_release(&purge_lock);
}

bool dog__segmap_set(const void *start, size_t size, unsigned first, unsigned rest)
{
    uintptr_t a = (uintptr_t)start, end = a + size;
    if ((end - 1) >> DOG_SEGMAP_ADDR_BITS) {
        errno = ENOMEM;         /* outside the address space the map covers */
        return false;
    }
    unsigned kind = first;
    while (a < end) {
        /* The frames of [a, end) in one leaf. */
        uintptr_t frame = a >> DOG_PAGE_SHIFT;
        size_t top = frame >> DOG_SEGMAP_LEAF_BITS;
        uintptr_t leaf_end = (uintptr_t)(top + 1) << (DOG_SEGMAP_LEAF_BITS + DOG_PAGE_SHIFT);
        uintptr_t stop = end < leaf_end ? end : leaf_end;
        uint32_t frames = (uint32_t)((stop - a + DOG_PAGE_SIZE - 1) >> DOG_PAGE_SHIFT);
        bool marking = kind != DOG_FRAME_NONE || (rest != DOG_FRAME_NONE && frames > 1);
        _Atomic uint8_t *leaf;
        if (marking) {
            leaf = leaf_get(top);
            if (leaf == NULL) {
                errno = ENOMEM;
                return false;
            }
            leaf_count_add(top, frames);
        } else {
            leaf = dog__load_acquire(&dog__segmap_top[top]);
            if (leaf == NULL) {     /* nothing to clear where no leaf was ever mapped */
                a = stop;
                kind = rest;
                continue;
            }
        }
        /* was: entries of these frames marked before; now: marked after. The count
         * becomes what it was, less was, plus now: a marking writer counted all frames
         * first, so it takes back frames + was - now; a clearing writer, was. */
        uint32_t was = 0, now = 0;
        for (; a < stop; a += DOG_PAGE_SIZE, kind = rest) {
            uint8_t old = dog__exchange_relaxed(&leaf[(a >> DOG_PAGE_SHIFT) & (LEAF_ENTRIES - 1)],
                                                (uint8_t)kind);
            was += old != DOG_FRAME_NONE;
            now += kind != DOG_FRAME_NONE;
        }
        uint32_t drop = marking ? frames + was - now : was;
        if (drop != 0)
            leaf_count_sub(top, drop);
    }
    return true;
}

#ifdef DOG_FAULT_INJECT
size_t dog__segmap_marked(void)
{
    size_t n = 0;
    for (size_t top = 0; top < DOG_SEGMAP_TOP_COUNT; top++) {
        uint32_t c = dog__load_relaxed(&leaf_count[top]);
        n += c == PURGING ? 0 : c;
    }
    return n;
}
#endif
