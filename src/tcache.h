/* SPDX-License-Identifier: MIT */
/* tcache.h: the thread cache in front of dog_default's shards.
 *
 * Taking a shard lock costs two atomic instructions per malloc/free pair, which is most
 * of the time of a small malloc. So each thread keeps, for dog_default only and blocks of
 * up to 16 KiB, a few free blocks per bin: malloc pops one and free pushes one with no
 * lock and no atomic. A miss refills a few blocks from the shard in one lock hold (half
 * the bin's cap, carved straight from the page's fresh end, when it has nothing to
 * reuse: dog__page_carve_cached); a full bin sends its older half back. The properties of the shared-heap design stay: a
 * thread's cache goes back to the shards when it exits (a pthread key destructor), so
 * nothing is stranded, and no thread waits for another's cache.
 *
 * Layout: one flat array of slots per cache, after its header, cut into one range per
 * bin. A bin's descriptor holds its count, its cap and a pointer to its range, 16 bytes
 * in one cache line, so a pop or a push touches that line and the slot. Caps follow the
 * bytes a bin holds (the idea of tcmalloc's per-size-class limits): 16 KiB of blocks per
 * bin, but at most 256 blocks, and at least 16 blocks up to 1 KiB and 2 above (tcache.c,
 * tcache_cap), so a burst of a few hundred small blocks fits without a flush. With
 * today's 37 bins that is 2,568 slots: 21 KiB per thread with the header, where 64 slots
 * for every bin took 19 KiB and held at most 64 of the smallest blocks.
 *
 * Blocks in a cache are live for their page (live bit set) but free for the user. Each
 * carries a cookie in its first word, key ^ its address (block.h), so that a double free
 * (or dog_heap_of, dog_usable_size, realloc on a freed block) is told apart from a live
 * block without a search; the same test also knows a block waiting on a thread free
 * list.
 * Explicit heaps have no thread cache: dog_heap_destroy could not reach blocks cached by
 * other threads. */
#ifndef DOG_TCACHE_H
#define DOG_TCACHE_H

#include "heap.h"

#define DOG_TCACHE_BINS     37          /* bins 0..36: blocks of up to 16 KiB */
#define DOG_TCACHE_SIZE_MAX 16384
#define DOG_TCACHE_BIN_BYTES 16384      /* a bin caches up to this many bytes of blocks, */
#define DOG_TCACHE_CAP_MAX  256         /* ... and up to this many blocks (tcache_cap) */
#define DOG_TCACHE_REFILL   8           /* blocks fetched per miss beyond the one returned */
#define DOG_TCACHE_BATCH_BIN_MAX 20     /* ... for bins up to 1 KiB only (tcache.c) */

/* 16 bytes aligned to 16 (and a cache is 64-aligned, dog__meta_alloc): a bin's count, cap
 * and range never straddle two cache lines. */
typedef struct __attribute__((aligned(16))) dog_tcache_bin {
    uint32_t count;                     /* cached blocks: slots[0 .. count) */
    uint32_t cap;                       /* at most this many: slots[0 .. cap) is the bin's */
    void **slots;                       /* its range of the cache's flat slot array */
} dog_tcache_bin_t;

typedef struct dog_tcache {
    /* First, so that a bin's address is the cache's plus bin * 16 and the fast paths
     * reach count, cap and slots from one register. */
    dog_tcache_bin_t bins[DOG_TCACHE_BINS];
    /* The shard of the last refill: only blocks of its pages are cached on free. Blocks
     * that other threads allocated go back to their own shards, as in mimalloc, so a
     * thread never reuses memory next to another thread's live blocks (false sharing). */
    struct dog_shard *home;
    /* Counters for exact statistics (stats.c): written by the owner, read by anyone. The
     * blocks handed out from the cache need no counter of their own: they are
     * refilled + pushes - flushed - cached. */
    size_t pushes, refilled, flushed;
    struct dog_tcache *next, *prev;     /* the registry of live caches */
    /* The bins' ranges, back to back in bin order; tcache.c sizes the allocation
     * (dog__tcache_bytes). */
    void *slots[];
} dog_tcache_t;

extern DOG_HIDDEN DOG_TLS dog_tcache_t *dog__tc;

/* tcache.c */
void *dog__tcache_miss(size_t size);
void dog__tcache_flush(dog_tcache_t *tc, size_t bin, uint32_t keep);
void dog__tcache_free_full(dog_tcache_t *tc, size_t bin, void *p);
void dog__tcache_flush_mine(void);
/* Reports a double free (misuse.c: aborts, or returns under DOGMALLOC_MISUSE=report). Not
 * declared noreturn: called in tail position, it leaves the fast free path a leaf with no
 * stack frame (a noreturn call must be a real call, with the stack aligned for it).
 * Callers return right after it. */
DOG_COLD void dog__tcache_bad_free(const void *p);
void dog__tcache_init(void);
size_t dog__tcache_bytes(void);
void dog__tcache_stats(size_t *blocks, size_t *bytes, size_t *pushes, size_t *refilled,
                       size_t *flushed);
bool dog__tcache_fork_lock(void);
void dog__tcache_fork_parent(void);
void dog__tcache_fork_child(bool give_back);

#define dog__tc_bump(field) __atomic_store_n(&(field), (field) + 1, __ATOMIC_RELAXED)

/* malloc of up to DOG_TCACHE_SIZE_MAX bytes from dog_default. */
static DOG_INLINE void *dog__tcache_malloc(size_t size)
{
    dog_tcache_t *tc = dog__tc;
    if (DOG_LIKELY(tc != NULL)) {
        size_t w = dog__wsize(size);
        size_t bin = DOG_LIKELY(w <= DOG_DIRECT_WSIZE_MAX) ? dog__bin_direct[w] : dog__bin_of(w);
        dog_tcache_bin_t *b = &tc->bins[bin];
        uint32_t n = b->count;
        if (DOG_LIKELY(n != 0)) {
            void *p = b->slots[n - 1];
            __atomic_store_n(&b->count, n - 1, __ATOMIC_RELAXED);
            dog__block_unmark(p);       /* no longer a cached block */
            dog__track_stale(&b->slots[n - 1]);
            return p;
        }
    }
    return dog__tcache_miss(size);
}

/* Cache p in bin, which has room; cookie is dog__block_cookie(p). */
static DOG_INLINE void dog__tcache_push(dog_tcache_t *tc, size_t bin, void *p, uint64_t cookie)
{
    dog_tcache_bin_t *b = &tc->bins[bin];
    uint32_t n = b->count;
    dog__block_mark_cached(p, cookie);
    b->slots[n] = p;
    __atomic_store_n(&b->count, n + 1, __ATOMIC_RELAXED);
    dog__tc_bump(tc->pushes);
}

/* free of block index of page, a page of dog_default with bin < DOG_TCACHE_BINS, into
 * this thread's cache. The block must be live and not parked (in a cache, or on a thread
 * free list after another thread's free: block.h); one xor and shift test both. A full
 * bin is emptied by half out of line (dog__tcache_free_full), which keeps this path a
 * leaf. */
static DOG_INLINE void dog__tcache_free(dog_tcache_t *tc, dog_page_t *page, void *p, size_t index)
{
    uint64_t cookie = dog__block_cookie(p);  /* one load of the key for the test and push */
    if (DOG_UNLIKELY(dog__block_parked_word(dog__block_word(p), cookie) ||
                     !dog__page_live(page, index))) {
        dog__tcache_bad_free(p);
        return;
    }
    size_t bin = page->bin;
    dog__track_free(p, page->block_size);
    if (DOG_UNLIKELY(tc->bins[bin].count >= tc->bins[bin].cap))
        dog__tcache_free_full(tc, bin, p);
    else
        dog__tcache_push(tc, bin, p, cookie);
}

#endif
