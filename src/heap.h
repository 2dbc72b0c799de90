/* SPDX-License-Identifier: MIT */
/* heap.h: the small-block fast paths of a heap: acquire a shard, pop or push a block,
 * release. Everything that is not the common case is out of line in heap.c. */
#ifndef DOG_HEAP_H
#define DOG_HEAP_H

#include <errno.h>
#include "misuse.h"
#include "page.h"
#include "page_pool.h"
#include "segmap.h"
#include "size_class.h"

/* heap_pool.c: a thread's hint, the index of the shard it last locked. */
extern DOG_HIDDEN DOG_TLS unsigned dog__tl_shard;     /* for dog_default */
extern DOG_HIDDEN DOG_TLS unsigned dog__tl_xshard;    /* for explicit heaps */
/* dog_thread_set_heap: the heap that the calling thread's dog_malloc family allocates
 * from, NULL for dog_default (alloc.c). */
typedef struct dog_route {
    dog_heap_t *heap;               /* NULL: no route */
    uint64_t serial;                /* heap->serial when the route was set */
} dog_route_t;
extern DOG_HIDDEN DOG_TLS dog_route_t dog__tl_route;
dog_heap_t *dog__route_heap(void);

dog_shard_t *dog__shard_acquire_slow(dog_heap_t *heap);
uint64_t dog__shard_token_new(void);

/* heap.c */
void *dog__shard_malloc_generic(dog_shard_t *shard, size_t size);
void dog__page_free_slow(dog_shard_t *shard, dog_page_t *page);
void dog__free_remote(dog_page_t *page, dog_block_t *block, size_t index);
void dog__free_remote_cached(dog_page_t *page, dog_block_t *block, size_t index);
void dog__free_orphan(dog_page_t *page, dog_block_t *block, size_t index);
/* Bad frees (misuse.h): these return when the policy is "report"; the caller then returns
 * at once, leaving the block alone. */
DOG_COLD void dog__free_reject(dog_page_t *page, const void *p);
DOG_COLD void dog__free_invalid(const void *p, int kind, const char *why);
DOG_COLD const char *dog__free_why(const void *p, int *kind);
DOG_COLD void dog__free_not_live(dog_page_t *page, const void *block, size_t index);
const char *dog__free_why_parked(const void *p);
/* The words of the bad-free messages that more than one file gives. */
#define DOG_WHY_FOREIGN "not allocated by dogmalloc, or already freed"
#define DOG_WHY_HUGE_INSIDE "inside a huge block, or a huge block already freed (double free?)"
void dog__shard_collect_all(dog_shard_t *shard, bool force);
bool dog__heap_budget_take(dog_heap_t *heap, size_t bytes, dog_shard_t *held);
/* bytes of OS memory that heap gave back: out of its xmapped and of its and its ancestors'
 * xtree (the other side of dog__heap_budget_take). */
void dog__heap_unmapped(dog_heap_t *heap, size_t bytes);
DOG_COLD dog_heap_t *dog__heap_bad(const dog_heap_t *heap, const char *func);
void dog__heap_release_empty(dog_heap_t *heap, dog_shard_t *held);
/* dog__heap_release_empty of heap and of every heap below it (child heaps). */
void dog__heap_release_tree(dog_heap_t *heap, dog_shard_t *held);
void dog__heap_publish(dog_heap_t *heap, dog_shard_t *shard);
extern DOG_HIDDEN dog_lock_t dog__heaps_lock;
extern DOG_HIDDEN dog_heap_t *dog__heaps;
extern DOG_HIDDEN struct dog_heap dog__default_heap;   /* dog_default, without the GOT */
/* The heap a dog_malloc-family call of this thread allocates from. */
static inline dog_heap_t *dog__route(void)
{
    return dog__tl_route.heap != NULL ? dog__route_heap() : &dog__default_heap;
}

/* heap, if it is a live heap; else NULL, after a report (misuse.c) unless heap is NULL.
 * A heap is dog_default or a DOG_META_ALIGN slot of a META frame (meta.c), readable even
 * after dog_heap_destroy; any other pointer (unmapped, a block, a stack address) is not
 * one, told without reading it. Then the magic tells a live heap from a dead one, or
 * from another structure of meta.c. */
static DOG_INLINE bool dog__heap_is_live(const dog_heap_t *heap)
{
    return heap == &dog__default_heap ||
           ((((uintptr_t)heap & (DOG_META_ALIGN - 1)) == 0 && heap != NULL &&
             dog__segmap_kind(heap) == DOG_FRAME_META && heap->magic == DOG_HEAP_MAGIC));
}

static DOG_INLINE dog_heap_t *dog__heap_check(const dog_heap_t *heap, const char *func)
{
    if (DOG_LIKELY(dog__heap_is_live(heap)))
        return (dog_heap_t *)heap;
    return dog__heap_bad(heap, func);
}

/* heap_api.c: the budget handler (on_limit). A budget refusal of a heap that has one
 * records the heap here; the dog_heap_* entry point that sees the NULL, with no lock
 * held, then calls dog__limit_begin, and tries once more if it returns true. */
extern DOG_HIDDEN DOG_TLS dog_heap_t *dog__tl_limit_hit;
bool dog__limit_begin(dog_heap_t *heap, size_t request);
void dog__limit_end(void);

/* visit.c: the leak report (DOG_HEAP_LEAK_REPORT, DOGMALLOC_LEAK_REPORT) of a live heap,
 * at dog_heap_destroy, and of every live heap that wants one at exit. */
bool dog__leak_wanted(const dog_heap_t *heap);
void dog__leak_report(dog_heap_t *heap, const char *when);
void dog__leak_report_exit(void);

/* Whether heap or any ancestor has a budget. */
static inline bool dog__heap_budgeted(const dog_heap_t *heap)
{
    for (; heap != NULL; heap = heap->parent)
        if (__atomic_load_n(&heap->limit, __ATOMIC_RELAXED) != 0)
            return true;
    return false;
}

/* The heap's budget (0: none); dog_heap_set_limit may change it at any time. */
static inline size_t dog__heap_limit(const dog_heap_t *heap)
{
    return __atomic_load_n(&heap->limit, __ATOMIC_RELAXED);
}

/* Lock a shard of heap: the thread's last one if it is free, else the next free one
 * (heap_pool.c); no thread waits while a shard of the heap is free. NULL only when the
 * heap has no shard yet and none can be made (ENOMEM). */
static DOG_INLINE dog_shard_t *dog__shard_acquire(dog_heap_t *heap)
{
    unsigned i = heap == &dog__default_heap ? dog__tl_shard : dog__tl_xshard;
    if (DOG_LIKELY(i < dog__load_acquire(&heap->xshard_count))) {
        dog_shard_t *shard = dog__load_relaxed(&heap->shards[i]);
        if (DOG_LIKELY(dog__lock_try(&shard->lock)))
            return shard;
    }
    return dog__shard_acquire_slow(heap);
}

/* Allocate a small block (size <= DOG_SMALL_SIZE_MAX) from heap. */
static DOG_INLINE void *dog__heap_malloc_small(dog_heap_t *heap, size_t size)
{
    dog_shard_t *shard = dog__shard_acquire(heap);
    if (DOG_UNLIKELY(shard == NULL))
        return NULL;
    dog_page_t *page;
    if (DOG_LIKELY(size <= DOG_DIRECT_WSIZE_MAX * DOG_WORD_SIZE)) {
        page = shard->pages_direct[dog__wsize(size)];
    } else {
        page = shard->queues[dog__bin_of(dog__wsize(size))].first;
        if (page == NULL)
            page = &dog__page_empty;
    }
    void *p = dog__page_pop(shard, page);
    if (DOG_UNLIKELY(p == NULL))
        p = dog__shard_malloc_generic(shard, size);
    dog__lock_release(&shard->lock);
    return p;
}

/* The locked half of a small free: the block must be live (a clear bit is a double free
 * or a free of a block never handed out), then it goes on the local free list. */
static DOG_INLINE void dog__page_free_locked(dog_shard_t *shard, dog_page_t *page,
                                              dog_block_t *block, size_t index)
{
    if (DOG_UNLIKELY(index >= page->capacity || !dog__page_live(page, index) ||
                     (DOG_SECURE_FREED && dog__page_parked(page, block)))) {
        if (index >= page->capacity)
            dog__free_invalid(block, DOG_MISUSE_INVALID_FREE, NULL);
        else
            dog__free_invalid(block, DOG_MISUSE_DOUBLE_FREE,
                              DOG_SECURE_FREED && dog__page_live(page, index)
                                  ? dog__free_why_parked(block) : "double free");
        return;
    }
    dog__page_live_flip(page, index);
    dog__track_free(block, page->block_size);
    dog__page_fill(page, block);
    dog__block_set_next(block, page->free, page->secret);
    page->free = block;
    page->used--;
    page->unsorted++;
    shard->in_use -= page->block_size;
    shard->frees++;
    if (DOG_UNLIKELY(page->used == 0 || page->in_full))
        dog__page_free_slow(shard, page);
}

/* Is p the start of a block of page, a page in use (not pooled)? Sets *index. p has
 * been found in a DOG_FRAME_PAGE frame, so the page header is ours to read. */
static DOG_INLINE bool dog__page_is_block(const dog_page_t *page, const void *p, size_t *index)
{
    uintptr_t off = dog__page_offset(page, p);
    *index = dog__page_index(page, off);
    return off < DOG_PAGE_SIZE && *index * page->block_size == off &&
           *index < page->reserved && page->shard != NULL;
}

/* Free a block of a small page: the owner's lock taken with one try pushes onto the
 * local list; a busy shard means another thread is allocating there, so we push onto the
 * page's thread free list instead (dog__free_remote) and never wait. */
static DOG_INLINE void dog__page_free(dog_page_t *page, void *p, size_t index)
{
    dog_shard_t *shard = page->shard;
    if (DOG_LIKELY(dog__lock_try(&shard->lock))) {
        dog__page_free_locked(shard, page, p, index);
        dog__lock_release(&shard->lock);
    } else {
        dog__free_remote(page, p, index);
    }
}

#endif
