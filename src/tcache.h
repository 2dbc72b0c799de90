/* SPDX-License-Identifier: MIT */
/* tcache.h: the thread caches in front of every heap's shards.
 *
 * Taking a shard lock costs two atomic instructions per malloc/free pair, which is most
 * of the time of a small malloc. So each thread keeps, per heap it uses and for blocks of
 * up to 16 KiB, a few free blocks per bin: malloc pops one and free pushes one with no
 * lock and no atomic. A miss refills a few blocks from the shard in one lock hold (half
 * the bin's cap, carved straight from the page's fresh end, when it has nothing to
 * reuse: dog__page_carve_cached); a full bin sends its older half back. The properties of
 * the shared-heap design stay: a thread's caches go back to the shards when it exits (a
 * pthread key destructor), so nothing is stranded, and no thread waits for another's
 * cache.
 *
 * Which cache: a thread has DOG_TCACHE_SLOTS of them at most, one per slot; a heap's
 * slot is heap->tc_slot (dog_default's is 0, and heaps share the others as evenly as
 * their number allows), and the cache in it is the heap's if its heap_id is the heap's
 * tc_id. A thread that uses two live heaps of one slot caches for the first it used and
 * goes to the shards' locks for the other (the path every explicit heap took before).
 * dog_heap_destroy needs no other thread's help (the mimalloc 3 design, where a heap's
 * per-thread parts are found dead later): it marks the heap's caches dead under the
 * registry lock and frees its pages; a dead cache's blocks are never touched again, and
 * its thread frees the cache itself when it next needs the slot, trims or exits. A
 * thread's exit and trim flush an explicit heap's cache under the same lock, so they
 * never write into pages that a destroy has freed.
 *
 * Layout: one flat array of slots per cache, after its header, cut into one range per
 * bin. A bin's descriptor holds its count, its cap and a pointer to its range, 16 bytes
 * in one cache line, so a pop or a push touches that line and the slot. Caps follow the
 * bytes a bin holds (the idea of tcmalloc's per-size-class limits): 16 KiB of blocks per
 * bin, but at most 256 blocks, and at least 16 blocks up to 1 KiB and 2 above (tcache.c,
 * tcache_cap), so a burst of a few hundred small blocks fits without a flush. With
 * today's 37 bins that is 2,568 slots: 21 KiB per cache with the header, where 64 slots
 * for every bin took 19 KiB and held at most 64 of the smallest blocks.
 *
 * Blocks in a cache are live for their page (live bit set) but free for the user. Each
 * carries a cookie in its first word, key ^ its address (block.h), so that a double free
 * (or dog_heap_of, dog_usable_size, realloc on a freed block) is told apart from a live
 * block without a search; the same test also knows a block waiting on a thread free
 * list. */
#ifndef DOG_TCACHE_H
#define DOG_TCACHE_H

#include "heap.h"

#define DOG_TCACHE_BINS     37          /* bins 0..36: blocks of up to 16 KiB */
#define DOG_TCACHE_SIZE_MAX 16384
#define DOG_TCACHE_BIN_BYTES 16384      /* a bin caches up to this many bytes of blocks, */
#define DOG_TCACHE_CAP_MAX  256         /* ... and up to this many blocks (tcache_cap) */
#define DOG_TCACHE_REFILL   32          /* blocks fetched per miss beyond the one returned */
#define DOG_TCACHE_BATCH_BIN_MAX 20     /* ... for bins up to 1 KiB only (tcache.c) */
#define DOG_TCACHE_SLOTS    64          /* caches per thread: dog_default's and 63 more */
#define DOG_TCACHE_NO_HOME  1           /* the home token of a cache with no home yet */

/* dog__tcache_pop finds every cached size's bin in one table load (size_class.c). */
_Static_assert(DOG_TCACHE_SIZE_MAX == DOG_BIN_TABLE_WSIZE_MAX * DOG_WORD_SIZE,
               "dog__bin_direct must cover every thread-cached size");

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
    uint64_t heap_id;                   /* heap->tc_id: whose cache this is */
    /* The shard of the last refill, and its token: only blocks of its pages are cached on
     * free (the pages carry the token, types.h). Blocks that other threads allocated go
     * back to their own shards, as in mimalloc, so a thread never reuses memory next to
     * another thread's live blocks (false sharing). Until the first refill the token is
     * DOG_TCACHE_NO_HOME and home is the cache itself, never a shard. */
    uint64_t home_token;
    /* Its heap was destroyed or reset (registry lock): its blocks are not its own any more,
     * and its bins were emptied. */
    _Atomic int xdead;
    unsigned slot;                      /* heap->tc_slot: where its thread keeps it */
    struct dog_shard *home;
    struct dog_heap *heap;              /* read only while xdead is 0 */
    /* Counters for exact statistics (stats.c): written by the owner, read by anyone. The
     * blocks handed out from the cache need no counter of their own: they are
     * refilled + pushes - flushed - cached. */
    size_t pushes, refilled, flushed;
    struct dog_tcache *next, *prev;     /* the registry of live caches */
    /* The bins' ranges, back to back in bin order; tcache.c sizes the allocation
     * (dog__tcache_bytes). */
    void *slots[];
} dog_tcache_t;

_Static_assert(sizeof(dog_tcache_bin_t) == DOG_TCACHE_BIN_DESC && offsetof(dog_tcache_t, bins) == 0,
               "a page's tc_bin_off is its bin's descriptor's offset in a cache");
_Static_assert(DOG_TCACHE_BINS * DOG_TCACHE_BIN_DESC <= UINT16_MAX, "tc_bin_off fits 16 bits");

/* The thread's caches by slot; &dog__tcache_none where it has none (never NULL). */
extern DOG_HIDDEN DOG_TLS dog_tcache_t *dog__tcs[DOG_TCACHE_SLOTS];
/* The heap whose cache this thread found last, and that cache: dog_heap_malloc's test of
 * its heap argument and its cache in one compare, with no read of the heap (alloc.c).
 * One struct, so that both are reached through one thread-pointer offset. At first, and
 * when the cache goes, the heap is NULL and the cache an empty one that is never filled
 * (tcache.c), so that a match there (dog_heap_malloc(NULL)) pops nothing and the slow
 * path reports it. The cache stays readable until this thread frees it, and it clears
 * both first; a destroy or reset of the heap empties the cache's bins
 * (dog__tcache_heap_dead), so the fast path never pops a block of a dead generation. */
typedef struct dog_tl_last {
    const struct dog_heap *heap;
    dog_tcache_t *tc;
} dog_tl_last_t;
extern DOG_HIDDEN DOG_TLS dog_tl_last_t dog__tl_last;

/* The cache that dog_malloc pops from: this thread's cache of dog_default, or while the
 * thread routes (dog_thread_set_heap) its cache of the routed heap, so that routing costs
 * the fast path nothing. dog__tcache_none (an empty cache, never filled) when it is not
 * known yet: the route changed, or the cache went (tcache.c: tcache_forget). A pop from it
 * fails, and dog_malloc's miss finds the cache again (alloc.c: malloc_miss). A cache of
 * a heap that another thread destroys or resets is emptied under the registry lock
 * (dog__tcache_heap_dead), so a pop never returns a block of a dead generation. */
extern DOG_HIDDEN dog_tcache_t dog__tcache_none;
extern DOG_HIDDEN DOG_TLS dog_tcache_t *dog__tl_malloc;

/* tcache.c */
void *dog__tcache_miss(dog_heap_t *heap, size_t size);
void dog__tcache_flush(dog_tcache_t *tc, size_t bin, uint32_t keep);
void dog__tcache_free_full(dog_tcache_t *tc, size_t bin, void *p);
void dog__tcache_flush_mine(void);
void dog__tcache_flush_heap(const dog_heap_t *heap);
/* Reports a double free (misuse.c: aborts, or returns under DOGMALLOC_MISUSE=report). Not
 * declared noreturn: called in tail position, it leaves the fast free path a leaf with no
 * stack frame (a noreturn call must be a real call, with the stack aligned for it).
 * Callers return right after it. */
DOG_COLD void dog__tcache_bad_free(const void *p);
/* These two return heap->xretiring as read under the registry lock (types.h). */
unsigned dog__tcache_bin_counts(const dog_heap_t *heap, size_t counts[DOG_TCACHE_BINS]);
void dog__tcache_init(void);
size_t dog__tcache_bytes(void);
void dog__tcache_heap_dead(dog_heap_t *heap, uint64_t id);
void dog__tcache_heap_give_back(dog_heap_t *heap);
unsigned dog__tcache_stats(const dog_heap_t *heap, size_t *blocks, size_t *bytes,
                           size_t *pushes, size_t *refilled, size_t *flushed);
bool dog__tcache_fork_lock(void);
void dog__tcache_fork_parent(void);
void dog__tcache_fork_child(bool give_back);

/* The secure build's checks of a cached block p of bin that leaves its cache for the
 * caller: its cookie (block.h) and its zeros (page.h) are intact, all or'ed into one
 * word and tested with one branch. Any write after free, or an overflow from the block
 * before it, into those bytes makes it false. From p and bin alone: no page header read. */
static DOG_INLINE bool dog__tcache_secure_ok(const void *p, size_t bin)
{
    if (!DOG_SECURE_LINKS && !DOG_SECURE_FREED && !DOG_FILL_ON)
        return true;
    uint64_t bad = dog__block_word(p) ^ dog__block_cookie(p);
    if (DOG_FILL_ON)
        bad |= dog__fill_any(p, bin);
    return bad == 0;
}

/* The report of a cached block that failed dog__tcache_secure_ok (tcache.c). Never
 * returns, but is not declared so: the hand-out calls it in tail position, which keeps
 * the fast malloc path a leaf with no stack frame (as dog__tcache_bad_free). Declared
 * never to return NULL, so that the callers' test of a pop's result folds away. */
DOG_COLD __attribute__((returns_nonnull)) void *dog__tcache_out_broken(const void *p);

/* The cached block p is handed out: in the secure build it leaves the parking (page.h:
 * its freed bit, found by address). */
static DOG_INLINE void dog__tcache_secure_out(void *p)
{
    dog__page_unpark(dog__page_of(p), p);
}

/* Pop a block for size bytes (<= DOG_TCACHE_SIZE_MAX) from tc, or NULL if its bin is
 * empty. */
static DOG_INLINE void *dog__tcache_pop(dog_tcache_t *tc, size_t size)
{
    DOG_ASSERT_INTERNAL(size <= DOG_TCACHE_SIZE_MAX);
    size_t bin = dog__bin_direct[dog__wsize(size)];                      /* no range test */
    dog_tcache_bin_t *b = &tc->bins[bin];
    uint32_t n = b->count;
    if (DOG_UNLIKELY(n == 0))
        return NULL;
    void *p = b->slots[n - 1];
    __atomic_store_n(&b->count, n - 1, __ATOMIC_RELAXED);
    if (DOG_UNLIKELY(!dog__tcache_secure_ok(p, bin)))
        return dog__tcache_out_broken(p);
    dog__tcache_secure_out(p);
    dog__block_unmark(p);       /* no longer a cached block */
    dog__track_stale(&b->slots[n - 1]);
    return p;
}

/* malloc of up to DOG_TCACHE_SIZE_MAX bytes from heap, whose cache in this thread is tc
 * (or NULL if it has none). */
static DOG_INLINE void *dog__tcache_malloc(dog_tcache_t *tc, dog_heap_t *heap, size_t size)
{
    if (DOG_LIKELY(tc != NULL)) {
        void *p = dog__tcache_pop(tc, size);
        if (DOG_LIKELY(p != NULL))
            return p;
    }
    return dog__tcache_miss(heap, size);
}

/* The calling thread's cache of heap, or NULL: the cache in the heap's slot, if it is
 * this heap's (another heap of the same slot, or a destroyed one, may hold the slot). */
static DOG_INLINE dog_tcache_t *dog__tcache_of(const dog_heap_t *heap)
{
    dog_tcache_t *tc = dog__tcs[heap->tc_slot];   /* dog__tcache_none matches no heap */
    return DOG_LIKELY(tc->heap_id == heap->tc_id) ? tc : NULL;
}

/* The calling thread uses heap, whose live cache is tc: dog_heap_malloc's next call
 * with heap finds tc at once. */
static DOG_INLINE void dog__tcache_remember(const dog_heap_t *heap, dog_tcache_t *tc)
{
    dog__tl_last.heap = heap;
    dog__tl_last.tc = tc;
}

/* Cache p in bin, which has room; cookie is dog__block_cookie(p). */
static DOG_INLINE void dog__tcache_push(dog_tcache_t *tc, size_t bin, void *p, uint64_t cookie)
{
    dog_tcache_bin_t *b = &tc->bins[bin];
    uint32_t n = b->count;
    dog__block_mark_cached(p, cookie);
    b->slots[n] = p;
    __atomic_store_n(&b->count, n + 1, __ATOMIC_RELAXED);
    dog__owner_bump(tc->pushes);   /* one add (atomic.h) */
}

/* free of block index of page, a page of a cached bin of tc's home shard, into tc. The
 * block must be live and not parked (in a cache, or on a thread free list after another
 * thread's free: block.h); one xor and shift test the latter. The live bit is tested
 * first: a clear one is also every index past the page's carved blocks, whose memory is
 * not read (in the secure build it may be the page's end guard). A full
 * bin is emptied by half out of line (dog__tcache_free_full), which keeps this path a
 * leaf. */
static DOG_INLINE void dog__tcache_free(dog_tcache_t *tc, dog_page_t *page, void *p, size_t index)
{
    uint64_t cookie = dog__block_cookie(p);  /* one load of the key for the test and push */
    if (DOG_UNLIKELY(!dog__page_live(page, index) ||
                     dog__block_parked_word(dog__block_word(p), cookie) ||
                     dog__page_park(page, p))) {
        dog__tcache_bad_free(p);
        return;
    }
    dog__track_free(p, page->block_size);
    dog__page_fill(page, p);
    /* The page's bin descriptor in tc, found without a multiply (types.h: tc_bin_off). */
    dog_tcache_bin_t *b = (dog_tcache_bin_t *)(void *)((char *)tc + page->tc_bin_off);
    DOG_ASSERT_INTERNAL(b == &tc->bins[page->bin]);
    uint32_t n = b->count;
    if (DOG_UNLIKELY(n >= b->cap)) {
        dog__tcache_free_full(tc, page->bin, p);
        return;
    }
    dog__block_mark_cached(p, cookie);
    b->slots[n] = p;
    __atomic_store_n(&b->count, n + 1, __ATOMIC_RELAXED);
    dog__owner_bump(tc->pushes);   /* one add (atomic.h) */
}

#endif
