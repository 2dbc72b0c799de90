/* SPDX-License-Identifier: MIT */
/* meta.c: memory for dogmalloc's own structures (heaps, shards), which cannot come from
 * malloc because we are malloc. A bump allocator over 256 KiB mappings, with one free
 * list per size; freed structures are recycled, never unmapped, so a stale heap handle
 * still points at readable memory (dog__heap_check reads its magic). */
#include <string.h>
#include "fault.h"
#include "os.h"
#include "page_pool.h"

#define META_CHUNK  ((size_t)256 << 10)
#define META_SIZES  8

typedef struct meta_free {
    struct meta_free *next;
} meta_free_t;

static dog_lock_t meta_lock = DOG_LOCK_INIT;
static char *bump, *bump_end;
#ifdef DOG_FAULT_INJECT
static _Atomic size_t meta_mapped;      /* fault.h: dog__meta_mapped */
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
    size = (size + 63) & ~(size_t)63;
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
        size_t chunk = size > META_CHUNK ? (size + 4095) & ~(size_t)4095 : META_CHUNK;
        char *fresh = dog__os_map_aligned(chunk, DOG_OS_PAGE_SIZE);
        if (fresh == NULL) {
            dog__lock_release(&meta_lock);
            return NULL;
        }
        dog__fetch_add_relaxed(&dog__os_mapped, chunk);
#ifdef DOG_FAULT_INJECT
        dog__fetch_add_relaxed(&meta_mapped, chunk);
#endif
        bump = fresh;
        bump_end = fresh + chunk;
    }
    p = bump;
    bump += size;
    dog__lock_release(&meta_lock);
    return p;       /* fresh mappings are zero */
}

void dog__meta_free(void *p, size_t size)
{
    size = (size + 63) & ~(size_t)63;
    dog__lock_acquire(&meta_lock);
    meta_free_t **list = free_list_of(size);
    if (list != NULL) {
        meta_free_t *node = p;
        node->next = *list;
        *list = node;
    }
    dog__lock_release(&meta_lock);
}

#ifdef DOG_FAULT_INJECT
size_t dog__meta_mapped(void)
{
    return dog__load_relaxed(&meta_mapped);
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
