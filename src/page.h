/* SPDX-License-Identifier: MIT */
/* page.h: finding a block's page, indexing blocks, and the inline pop of the fast path. */
#ifndef DOG_PAGE_H
#define DOG_PAGE_H

#include <stddef.h>
#include <string.h>
#include "size_class.h"
#include "types.h"

/* A page whose free list is always empty: empty bins point here, so the fast path has
 * one test (page->free == NULL) and no NULL check on the page. */
extern DOG_HIDDEN dog_page_t dog__page_empty;

static DOG_INLINE dog_page_t *dog__page_of(const void *p)
{
    return (dog_page_t *)((uintptr_t)p & ~(uintptr_t)DOG_PAGE_MASK);
}

/* Block index of the byte at offset off from block 0: a multiply and a shift instead of a
 * division. magic = floor(2^48 / size) + 1 is exact for every off < 2^19 (page.c). */
static DOG_INLINE size_t dog__page_index(const dog_page_t *page, uintptr_t off)
{
    return (size_t)((off * page->block_magic) >> 48);
}

/* The offset of p from block 0 of page, p in page's frame: below DOG_PAGE_SIZE for a
 * pointer at or past block 0, above it (wrapped) for one into the header. */
static DOG_INLINE uintptr_t dog__page_offset(const dog_page_t *page, const void *p)
{
    return (uintptr_t)p + page->block_neg;
}

static DOG_INLINE dog_block_t *dog__page_block(const dog_page_t *page, size_t index)
{
    return (dog_block_t *)((char *)page + page->block_start + index * page->block_size);
}

/* --- DOG_SECURE_FREED: the freed bitmap --------------------------------------------------
 * DOG_BITMAP_WORDS_MAX words after the live bitmap (config.h), one bit per 8 bytes of the
 * page, indexed by address: a block's bit is the one of its first word. So a hand-out
 * finds the bit from the block's address alone (a mask and two shifts), with no block
 * index and no multiply; the bits of the page header's words are never used. Set by the
 * free that parks a block (in a thread cache, or on the thread free list) with one atomic
 * or, which also tells whether it was parked already (a double free, whatever the
 * block's words say); cleared, with one atomic and, when the block is handed out.
 * Invariant: a live block's bit is set if and only if the block is parked. A block on
 * the local free list (live bit clear) keeps whatever bit it had: set if a flush or a
 * collection put it there, clear if a locked free did. Every free path tests the live bit
 * first, so that bit is never asked; dog__page_pop clears it if set, and
 * dog__page_pop_cached sets it if clear, so that a flush or a collection, and the refill
 * that takes those blocks into a cache again, cost no atomic at all.
 * Other threads set bits of the same words at any time: every write is an atomic
 * read-modify-write, and a test of a bit a relaxed load. */
static DOG_INLINE _Atomic uint64_t *dog__page_freed_map(dog_page_t *page)
{
    return page->live + DOG_BITMAP_WORDS_MAX;
}

static DOG_INLINE _Atomic uint64_t *dog__page_freed_word(dog_page_t *page, const void *p)
{
    return dog__page_freed_map(page) + (((uintptr_t)p & DOG_PAGE_MASK) >> 9);
}

static DOG_INLINE uint64_t dog__page_freed_bit(const void *p)
{
    return (uint64_t)1 << (((uintptr_t)p >> 3) & 63);
}

/* Park the live block p (a free put it in a thread cache or on the thread free list):
 * true if it was parked already, a double free, whatever the block's words say. Any
 * thread; one atomic or. Nothing, and false, in the default build, where the block's
 * first word alone tells (block.h). */
static DOG_INLINE bool dog__page_park(dog_page_t *page, const void *p)
{
    if (!DOG_SECURE_FREED)
        return false;
    uint64_t bit = dog__page_freed_bit(p);
    return (dog__fetch_or_relaxed(dog__page_freed_word(page, p), bit) & bit) != 0;
}

/* The parked block p is handed out (from a thread cache): one atomic and. */
static DOG_INLINE void dog__page_unpark(dog_page_t *page, const void *p)
{
    if (DOG_SECURE_FREED)
        dog__fetch_and_relaxed(dog__page_freed_word(page, p), ~dog__page_freed_bit(p));
}

/* The freed bit of p, whose live bit the caller holds set (shard lock held): p leaves
 * the local free list for the user (parked false: the bit must be clear) or for a thread
 * cache (parked true: set). The atomic is paid only when the bit changes, which a block
 * that a flush or a collection put on the list (bit set) spares its refill. */
static DOG_INLINE void dog__page_freed_set(dog_page_t *page, const void *p, bool parked)
{
    if (!DOG_SECURE_FREED)
        return;
    _Atomic uint64_t *w = dog__page_freed_word(page, p);
    uint64_t bit = dog__page_freed_bit(p);
    if (((dog__load_relaxed(w) & bit) != 0) == parked)
        return;
    if (parked)
        dog__fetch_or_relaxed(w, bit);
    else
        dog__fetch_and_relaxed(w, ~bit);
}

/* Is the live block p parked: its first word says so (block.h), or, in the secure
 * build, its freed bit, which no write into the block can clear. */
static DOG_INLINE bool dog__page_parked(dog_page_t *page, const void *p)
{
    if (DOG_SECURE_FREED && (dog__load_relaxed(dog__page_freed_word(page, p)) & dog__page_freed_bit(p)))
        return true;
    return dog__block_parked(p);
}

/* --- DOG_SECURE_FILL: free blocks hold zeros after their first word ----------------------
 * A free writes zeros over bytes [8, fill) of the block (fill: its size, at most
 * DOG_SECURE_FILL_MAX), a carve finds them zero (memory a page never touched is zero
 * from the OS, and blocks below page->touched are zeroed: page.c), and every hand-out
 * checks them (the model is hardened_malloc's zero-on-free with its write-after-free
 * check), so a write after free, or an overflow into a free neighbour, is caught when
 * that block is next handed out, and a read after free sees zeros, not the old data. Off
 * under a memory checker, which sees those accesses itself and would report the
 * allocator's own writes into free blocks.
 * With the default 64 bytes, the bytes to fill follow from the bin alone: bins 0 to 4 are
 * blocks of 8, 16, 32, 48 and 64 bytes (size_class.h), and every larger one has all 56,
 * so that the zeroing and the check are a few plain word stores and loads, unrolled and
 * branching on the bin, with no call to memset and no loop. */
#define DOG_FILL_ON (DOG_SECURE_FILL && !DOG_TRACK_ENABLED)
#ifndef DOG_SECURE_FILL_MAX
#define DOG_SECURE_FILL_MAX 64
#endif
_Static_assert(DOG_SECURE_FILL_MAX % 8 == 0 && DOG_SECURE_FILL_MAX >= 8,
               "DOG_SECURE_FILL_MAX is a whole number of words");

/* page.c: the report of a free block whose zeros are gone. */
DOG_NORETURN DOG_COLD void dog__page_fill_broken(const void *block);

/* Zero bytes [8, fill) of the block p of bin. */
static DOG_INLINE void dog__fill_zero(void *p, size_t bin)
{
    if (!DOG_FILL_ON)
        return;
    uint64_t *w = p;
    if (DOG_SECURE_FILL_MAX == 64) {
        if (DOG_LIKELY(bin >= 4)) {
            w[1] = w[2] = w[3] = w[4] = w[5] = w[6] = w[7] = 0;
        } else if (bin >= 2) {
            w[1] = w[2] = w[3] = 0;
            if (bin == 3)
                w[4] = w[5] = 0;
        } else if (bin == 1) {
            w[1] = 0;
        }
    } else {
        size_t size = dog__bin_size(bin);
        size_t n = (size < DOG_SECURE_FILL_MAX ? size : DOG_SECURE_FILL_MAX) / 8;
        memset(w + 1, 0, (n - 1) * 8);
    }
}

/* Bytes [8, fill) of the block p of bin, or'ed together: zero if intact. */
static DOG_INLINE uint64_t dog__fill_any(const void *p, size_t bin)
{
    const uint64_t *w = p;
    uint64_t any = 0;
    if (DOG_SECURE_FILL_MAX == 64) {
        if (DOG_LIKELY(bin >= 4))
            return w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7];
        if (bin >= 2) {
            any = w[1] | w[2] | w[3];
            if (bin == 3)
                any |= w[4] | w[5];
        } else if (bin == 1) {
            any = w[1];
        }
    } else {
        size_t size = dog__bin_size(bin);
        for (size_t i = 1, n = (size < DOG_SECURE_FILL_MAX ? size : DOG_SECURE_FILL_MAX) / 8;
             i < n; i++)
            any |= w[i];
    }
    return any;
}

/* The free block p of bin is handed out: its zeros must be intact. */
static DOG_INLINE void dog__fill_check(const void *p, size_t bin)
{
    if (DOG_FILL_ON && DOG_UNLIKELY(dog__fill_any(p, bin) != 0))
        dog__page_fill_broken(p);
}

static DOG_INLINE void dog__page_fill(const dog_page_t *page, void *p)
{
    dog__fill_zero(p, page->bin);
}

static DOG_INLINE void dog__page_fill_check(const dog_page_t *page, const void *p)
{
    dog__fill_check(p, page->bin);
}

/* The live bit of block index (see types.h). Lock held to write; anyone may read. */
static DOG_INLINE bool dog__page_live(dog_page_t *page, size_t index)
{
    return (dog__load_relaxed(&page->live[index >> 6]) >> (index & 63)) & 1;
}

static DOG_INLINE void dog__page_live_flip(dog_page_t *page, size_t index)
{
    _Atomic uint64_t *w = &page->live[index >> 6];
    dog__store_relaxed(w, dog__load_relaxed(w) ^ ((uint64_t)1 << (index & 63)));
}

/* --- Page queues: doubly linked through next/prev (bin queues, full list, pool) --- */

static inline void dog__queue_remove(dog_page_queue_t *q, dog_page_t *page)
{
    if (page->prev)
        page->prev->next = page->next;
    else
        q->first = page->next;
    if (page->next)
        page->next->prev = page->prev;
    else
        q->last = page->prev;
    page->next = page->prev = NULL;
}

static inline void dog__queue_push_front(dog_page_queue_t *q, dog_page_t *page)
{
    page->prev = NULL;
    page->next = q->first;
    if (q->first)
        q->first->prev = page;
    else
        q->last = page;
    q->first = page;
}

static inline void dog__queue_push_back(dog_page_queue_t *q, dog_page_t *page)
{
    page->next = NULL;
    page->prev = q->last;
    if (q->last)
        q->last->next = page;
    else
        q->first = page;
    q->last = page;
}

/* page.c */
DOG_NORETURN DOG_COLD void dog__page_corrupt(const dog_page_t *page, const void *block);
void dog__page_init(dog_page_t *page, struct dog_shard *shard, size_t bin);
void dog__page_extend(dog_page_t *page);
size_t dog__page_collect(struct dog_shard *shard, dog_page_t *page);
void dog__page_reorder(dog_page_t *page);
void dog__page_untrack(dog_page_t *page);
size_t dog__page_live_snapshot(dog_page_t *page, uint64_t *bits);
uint32_t dog__page_collect_cached(struct dog_shard *shard, dog_page_t *page, void **out,
                                  uint32_t want);
uint32_t dog__page_carve_cached(struct dog_shard *shard, dog_page_t *page, void **out,
                                uint32_t want, uint64_t key);

/* n blocks of page were handed out or cached: the page's and the shard's counters
 * follow. Lock held. */
static DOG_INLINE void dog__page_took(dog_shard_t *shard, dog_page_t *page, uint32_t n)
{
    page->used += n;
    shard->in_use += (size_t)n * page->block_size;
    if (shard->in_use > shard->peak)
        shard->peak = shard->in_use;
    shard->allocs += n;
}

/* Pop a block of page for the shard that holds its lock, or NULL if the local free list
 * is empty. The block's live bit must be clear: a set bit means that a free list links a
 * live block (a double free or a write after free), which we stop at once. */
static DOG_INLINE void *dog__page_pop(dog_shard_t *shard, dog_page_t *page)
{
    dog_block_t *block = page->free;
    if (DOG_UNLIKELY(block == NULL))
        return NULL;
    uintptr_t off = (uintptr_t)block - (uintptr_t)page - page->block_start;
    size_t index = dog__page_index(page, off);
    _Atomic uint64_t *w = &page->live[index >> 6];
    uint64_t bits = dog__load_relaxed(w), bit = (uint64_t)1 << (index & 63);
    if (DOG_UNLIKELY((bits & bit) != 0 || index >= page->capacity ||
                     (DOG_SECURE_LINKS && index * page->block_size != off)))
        dog__page_corrupt(page, block);
    dog__store_relaxed(w, bits | bit);
    page->free = dog__block_next(block, page->secret);
    dog__page_fill_check(page, block);
    dog__page_freed_set(page, block, false);
    dog__page_took(shard, page, 1);
    return block;
}

/* Pop up to want more blocks of page into out[0 .. n), each marked as a cached block with
 * key ^ its address (tcache.h): the batch form of dog__page_pop, with one update of the
 * counters. Returns n. The first block popped ends up in out[n - 1], the last in out[0]:
 * a thread cache pops from the top, so it hands them out in the list's order. */
static inline uint32_t dog__page_pop_cached(dog_shard_t *shard, dog_page_t *page, void **out,
                                            uint32_t want, uint64_t key)
{
    dog_block_t *block = page->free;
    /* Locals, so that the stores to blocks and bits do not reload them each time. */
    const uintptr_t base = (uintptr_t)page + page->block_start;
    const uint64_t magic = page->block_magic;
    const size_t capacity = page->capacity;
    _Atomic uint64_t *const live = page->live;
    uint32_t n = 0;
    for (; n < want && block != NULL; n++) {
        uintptr_t off = (uintptr_t)block - base;
        size_t index = (size_t)((off * magic) >> 48);
        _Atomic uint64_t *w = &live[index >> 6];
        uint64_t bits = dog__load_relaxed(w), bit = (uint64_t)1 << (index & 63);
        if (DOG_UNLIKELY((bits & bit) != 0 || index >= capacity ||
                         (DOG_SECURE_LINKS && index * page->block_size != off)))
            dog__page_corrupt(page, block);
        dog__store_relaxed(w, bits | bit);
        dog__page_freed_set(page, block, true);
        dog_block_t *next = dog__block_next(block, page->secret);
        dog__block_mark_cached(block, key ^ (uint64_t)(uintptr_t)block);
        out[want - 1 - n] = block;      /* top down */
        block = next;
    }
    page->free = block;
    dog__page_took(shard, page, n);
    if (DOG_UNLIKELY(n < want)) {       /* the list ran out: close the gap */
        memmove(out, out + (want - n), n * sizeof *out);
        for (uint32_t i = n; i < want; i++)
            dog__track_stale(&out[i]);  /* copies above the count: no references */
    }
    return n;
}

#endif
