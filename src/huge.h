/* SPDX-License-Identifier: MIT */
/* huge.h: blocks larger than the largest size class, each its own mapping. */
#ifndef DOG_HUGE_H
#define DOG_HUGE_H

#include <stdbool.h>
#include "types.h"

#define DOG_HUGE_LIVE  0x6875676521ull
#define DOG_HUGE_FREE  0x6672656564ull

/* The header of a huge mapping starts a 512 KiB frame, so the block finds it by masking
 * (or, for alignments of 512 KiB and more, one frame lower: segmap.h). */
struct dog_huge {
    _Atomic uint64_t xstate;        /* DOG_HUGE_LIVE or DOG_HUGE_FREE */
    char *ptr;                      /* the user's block */
    size_t usable;                  /* bytes usable from ptr to the end of the mapping,
                                       or to its guard page (huge.c: GUARD) */
    char *map_base;                 /* == this header */
    size_t map_size;
    dog_heap_t *heap;               /* NULL while cached */
    struct dog_huge *next, *prev;   /* the heap's huge list, or the cache */
    uint64_t stamp;                 /* when it entered the cache (ms) */
};
#define DOG_HUGE_HEADER 128         /* the user block starts at least this far in */

/* huge.c */
void *dog__huge_alloc(dog_heap_t *heap, size_t size, size_t align, bool zero);
dog_huge_t *dog__huge_of(const void *p, unsigned kind);
const char *dog__huge_why(const void *p, unsigned kind);
void dog__huge_free(dog_huge_t *huge);
void *dog__huge_resize(dog_huge_t *huge, size_t size);
void *dog__huge_expand(dog_huge_t *huge, size_t size);
size_t dog__huge_good_size(size_t size);
void dog__huge_free_all(dog_heap_t *heap);
size_t dog__huge_move_all(dog_heap_t *heap, dog_heap_t *to);
void dog__huge_trim(void);
size_t dog__huge_cache_bytes(void);
bool dog__huge_fork_lock(void);
void dog__huge_fork_unlock(void);

#endif
