/* SPDX-License-Identifier: MIT */
/* meta.c: memory for dogmalloc's own structures (heaps, shards), which cannot come from
 * malloc because we are malloc. A bump allocator over frame-aligned mappings of whole
 * 512 KiB frames, marked DOG_FRAME_META in the address map, with one free list per size;
 * freed structures are recycled, never unmapped. So dog__heap_check can tell a pointer
 * that may be a heap (in a META frame, where every byte is readable, even a stale
 * handle's) from garbage without touching it, and only then read its magic. */
#include <string.h>
#include "fault.h"
#include "os.h"
#include "page_pool.h"
#include "segmap.h"

#define META_SIZES  8

typedef struct meta_free {
    struct meta_free *next;
} meta_free_t;

static dog_lock_t meta_lock = DOG_LOCK_INIT;
static char *bump, *bump_end;
#ifdef DOG_FAULT_INJECT
static _Atomic size_t meta_mapped;      /* fault.h: dog__meta_mapped */
static _Atomic size_t meta_frames;      /* fault.h: dog__meta_frames */

/* The bytes of the address map's leaves that [p, p + size), just marked META, is the
 * first META range of: such a leaf is never given back either (META entries are never
 * cleared), so the tests count it as metadata. Meta lock held. */
static size_t meta_leaves_new(const void *p, size_t size)
{
    enum { LEAVES_MAX = 64 };
    static size_t leaves[LEAVES_MAX], count;
    const unsigned shift = DOG_PAGE_SHIFT + DOG_SEGMAP_LEAF_BITS;
    size_t bytes = 0;
    for (size_t top = (uintptr_t)p >> shift; top <= ((uintptr_t)p + size - 1) >> shift; top++) {
        size_t i = 0;
        while (i < count && leaves[i] != top)
            i++;
        if (i == count && count < LEAVES_MAX) {
            leaves[count++] = top;
            bytes += (size_t)1 << DOG_SEGMAP_LEAF_BITS;
        }
    }
    return bytes;
}
#endif
static struct {
    size_t size;
    meta_free_t *first;
} free_lists[META_SIZES];

static meta_free_t **free_list_of(size_t size)
{
    for (size_t i = 0; i < META_SIZES; i++) {
        if (free_lists[i].size == size)
            return &free_lists[i].first;
        if (free_lists[i].size == 0) {
            free_lists[i].size = size;
            return &free_lists[i].first;
        }
    }
    return NULL;
}

void *dog__meta_alloc(size_t size)
{
    size = (size + DOG_META_ALIGN - 1) & ~(size_t)(DOG_META_ALIGN - 1);
    dog__lock_acquire(&meta_lock);
    meta_free_t **list = free_list_of(size);
    void *p = NULL;
    if (list != NULL && *list != NULL) {
        p = *list;
        *list = (*list)->next;
        dog__lock_release(&meta_lock);
        memset(p, 0, size);
        return p;
    }
    if (bump == NULL || (size_t)(bump_end - bump) < size) {
        /* Whole frames, so that no other mapping shares a META frame: any address in
         * one is readable (dog__heap_check). Untouched, the rest costs no memory. */
        size_t chunk = (size + DOG_PAGE_MASK) & ~(size_t)DOG_PAGE_MASK;
        char *fresh = dog__os_map_aligned(chunk, DOG_PAGE_SIZE);
        if (fresh == NULL) {
            dog__lock_release(&meta_lock);
            return NULL;
        }
        if (!dog__segmap_set(fresh, chunk, DOG_FRAME_META, DOG_FRAME_META)) {
            dog__os_unmap(fresh, chunk);
            dog__lock_release(&meta_lock);
            return NULL;
        }
        dog__fetch_add_relaxed(&dog__os_mapped, chunk);
#ifdef DOG_FAULT_INJECT
        dog__fetch_add_relaxed(&meta_mapped, chunk + meta_leaves_new(fresh, chunk));
        dog__fetch_add_relaxed(&meta_frames, chunk >> DOG_PAGE_SHIFT);
#endif
        bump = fresh;
        bump_end = fresh + chunk;
    }
    p = bump;
    bump += size;
    dog__lock_release(&meta_lock);
    return p;       /* fresh mappings are zero */
}

/* Meta lock held: p (size rounded) goes onto its free list. */
static void free_locked(void *p, size_t size)
{
    meta_free_t **list = free_list_of(size);
    if (list != NULL) {
        meta_free_t *node = p;
        node->next = *list;
        *list = node;
    }
}

void dog__meta_free(void *p, size_t size)
{
    size = (size + DOG_META_ALIGN - 1) & ~(size_t)(DOG_META_ALIGN - 1);
    dog__lock_acquire(&meta_lock);
    free_locked(p, size);
    dog__lock_release(&meta_lock);
}

/* Destroyed heaps wait here, oldest first, before their memory is reused: a stale handle
 * keeps reading a dead heap (magic 0), and is reported, until DOG_META_QUARANTINE more
 * heaps have been destroyed after it, instead of naming the very next dog_heap_new's
 * heap. One size only: struct dog_heap's. */
#define DOG_META_QUARANTINE 64
static void *quarantine[DOG_META_QUARANTINE];
static unsigned quarantine_head, quarantine_count;
static size_t quarantine_size;

void dog__meta_free_late(void *p, size_t size)
{
    size = (size + DOG_META_ALIGN - 1) & ~(size_t)(DOG_META_ALIGN - 1);
    dog__lock_acquire(&meta_lock);
    if (quarantine_size != 0 && quarantine_size != size) {
        free_locked(p, size);           /* not the size waiting here: at once */
    } else if (quarantine_count < DOG_META_QUARANTINE) {
        quarantine_size = size;
        quarantine[(quarantine_head + quarantine_count++) % DOG_META_QUARANTINE] = p;
    } else {
        free_locked(quarantine[quarantine_head], size);
        quarantine[quarantine_head] = p;
        quarantine_head = (quarantine_head + 1) % DOG_META_QUARANTINE;
    }
    dog__lock_release(&meta_lock);
}

#ifdef DOG_FAULT_INJECT
size_t dog__meta_mapped(void)
{
    return dog__load_relaxed(&meta_mapped);
}

size_t dog__meta_frames(void)
{
    return dog__load_relaxed(&meta_frames);
}
#endif

bool dog__meta_fork_lock(void)
{
    return dog__lock_fork_acquire(&meta_lock);
}

void dog__meta_fork_unlock(void)
{
    dog__lock_fork_release(&meta_lock);
}
