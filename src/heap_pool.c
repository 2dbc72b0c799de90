/* SPDX-License-Identifier: MIT */
/* heap_pool.c: a heap's shards and which one a thread locks.
 *
 * The seed's design: heaps are shared, not owned by threads. A thread keeps a hint to
 * the shard it used last and try-locks it; if it is busy it tries the others in turn,
 * and only when all are busy does it add a shard (up to 4 per CPU) or, at the maximum,
 * wait. No thread ever waits while a shard of the heap is free, threads may outnumber
 * shards, and a thread that exits leaves nothing behind (its hint is all it had). */
#include <errno.h>
#include "heap.h"
#include "os.h"
#include "page_pool.h"

/* A new thread has no shard yet (an index no heap has): its first call to dog_default
 * takes a shard of its own while there are fewer than the maximum, so that threads
 * start spread out rather than all on shard 0 (heap_pool.c, dog__shard_acquire_slow). */
DOG_TLS unsigned dog__tl_shard = DOG_SHARDS_MAX;
/* The same hint for explicit heaps, kept apart so that using one does not move the
 * thread off its dog_default shard (and with it its thread cache's home). */
DOG_TLS unsigned dog__tl_xshard;

/* init.c */
void dog__init(void);

static _Atomic unsigned shard_max;     /* 4 per CPU, set once by the first shard_grow */
static _Atomic uint64_t shard_tokens = 2;   /* the next shard's token (types.h) */

/* A token no shard has had (types.h): for a new shard, and for a shard that
 * dog_heap_reset empties, so that no cache of the shard's past finds its pages. */
uint64_t dog__shard_token_new(void)
{
    return dog__fetch_add_relaxed(&shard_tokens, 1);
}

static dog_shard_t *shard_new(dog_heap_t *heap, unsigned index)
{
    dog_shard_t *shard = dog__meta_alloc(sizeof *shard);
    if (shard == NULL)
        return NULL;
    shard->index = index;
    shard->heap = heap;
    shard->token = dog__shard_token_new();
    for (size_t w = 0; w <= DOG_DIRECT_WSIZE_MAX; w++)
        shard->pages_direct[w] = &dog__page_empty;
    return shard;
}

/* Add a shard, returned locked; NULL if the heap is at its maximum or out of memory. */
static dog_shard_t *shard_grow(dog_heap_t *heap)
{
    /* Acquire, paired with the release below: a thread that sees max set sees what
     * dog__init set before it (the block key, the default heap's limit). */
    unsigned max = dog__load_acquire(&shard_max);
    if (max == 0) {
        dog__init();
        max = dog__os_cpu_count() * DOG_SHARDS_PER_CPU;
        max = max > DOG_SHARDS_MAX ? DOG_SHARDS_MAX : max;
        dog__store_release(&shard_max, max);
    }
    dog_shard_t *shard = NULL;
    dog__lock_acquire(&heap->grow_lock);
    unsigned n = dog__load_relaxed(&heap->xshard_count);
    if (n < max) {
        shard = shard_new(heap, n);
        if (shard != NULL) {
            dog__lock_try(&shard->lock);    /* nobody else can see it yet */
            dog__store_relaxed(&heap->shards[n], shard);
            dog__store_release(&heap->xshard_count, n + 1);
        }
    }
    dog__lock_release(&heap->grow_lock);
    return shard;
}

dog_shard_t *dog__shard_acquire_slow(dog_heap_t *heap)
{
    bool is_default = heap == &dog__default_heap;
    unsigned *hint = is_default ? &dog__tl_shard : &dog__tl_xshard;
    unsigned start = *hint;
    if (is_default && start >= dog__load_acquire(&heap->xshard_count)) {
        dog_shard_t *shard = shard_grow(heap);
        if (shard != NULL) {
            dog__tl_shard = shard->index;
            return shard;
        }
    }
    for (unsigned round = 0;; round++) {
        unsigned n = dog__load_acquire(&heap->xshard_count);
        for (unsigned k = 0; k < n; k++) {
            unsigned i = (start + k) % n;
            dog_shard_t *shard = dog__load_relaxed(&heap->shards[i]);
            if (dog__lock_try(&shard->lock)) {
                *hint = i;
                return shard;
            }
        }
        dog_shard_t *shard = shard_grow(heap);
        if (shard != NULL) {
            *hint = shard->index;
            return shard;
        }
        if (dog__load_acquire(&heap->xshard_count) == 0) {
            /* No shard could be made: out of memory for metadata. */
            errno = ENOMEM;
            return NULL;
        }
        if (round > 2)
            dog__os_yield();
        else
            dog__cpu_relax();
    }
}
