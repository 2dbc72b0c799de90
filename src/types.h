/* SPDX-License-Identifier: MIT */
/* types.h: the data structures and their invariants: blocks, pages, page queues, heap
 * shards and heaps. Functions live in page.c, heap.c, heap_pool.c and huge.c. */
#ifndef DOG_TYPES_H
#define DOG_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "atomic.h"
#include "compiler.h"
#include "config.h"
#include "block.h"
#include "lock.h"
#include "dogmalloc.h"

struct dog_shard;
struct dog_heap;

/* A page is a DOG_PAGE_SIZE-aligned region: this header, the live bitmap, then blocks of
 * one size from block_start on. Any block finds its header with one mask (page.h).
 *
 * Two free lists, so that the owner never needs an atomic to allocate:
 *   free          malloc pops, owner frees push                 (shard lock held)
 *   xthread_free  other threads CAS-push; page_collect takes it whole with one exchange
 *                 (its links are encoded, so that a block on it is known to be freed:
 *                 block.h)
 * The live bitmap has one bit per carved block, set while the block is handed out and
 * not yet freed back (locally or by collection). It is written under the shard lock and
 * read by remote frees; it catches double frees and frees into a free block.
 * Invariants (lock held): |free| + used == capacity; capacity <= reserved;
 *   live blocks == used - |xthread_free|; popcount(live) == used.
 * The owner fields share the first cache line; the fields that other threads write live
 * on the second, so remote frees do not bounce the owner's line. */
typedef struct dog_page {
    dog_block_t *free;              /* local free list (owner) */
    uint32_t used;                  /* handed out, not freed back or collected */
    uint32_t capacity;              /* blocks carved into the free list so far */
    uint32_t reserved;              /* blocks that fit */
    uint32_t block_size;            /* bytes */
    uint32_t block_start;           /* offset of block 0 from the page */
    uint16_t bin;
    uint8_t in_full;                /* on the shard's full list, not its bin queue */
    uint8_t retire_wait;            /* slow paths this empty only page may still wait */
    uint64_t block_magic;           /* index = (offset * magic) >> 48, exact (page.h) */
    struct dog_page *next, *prev;   /* bin queue, full list or page pool */
    struct dog_shard *shard;        /* owner; NULL while pooled */
    struct dog_heap *heap;          /* shard->heap, one load closer */
    /* The shard's token, if thread caches may hold this page's blocks (a page of a
     * cached bin), else 0: dog_free's one test for "into my cache" is this against the
     * token of the cache in slot tc_slot of the freeing thread (alloc.c, tcache.h). */
    uint64_t tc_token;
    uint8_t tc_slot;                /* heap->tc_slot */
    /* bin * DOG_TCACHE_BIN_DESC: where a thread cache's descriptor of this page's bin
     * lies in the cache (tcache.h), for dog_free's push without a multiply. */
    uint16_t tc_bin_off;
    size_t touched;                 /* bytes from the page start that may be resident */
    uint32_t unsorted;              /* blocks pushed onto free since it was last in address
                                       order (tcache.c rebuilds it: dog__page_reorder) */
    uint8_t remote_fed;             /* free was last fed by collecting xthread_free, not by
                                       a thread cache's flush (tcache.c: refill_count) */
    /* DOG_SECURE_LINKS: the local free list's links are next ^ secret (block.h), drawn
     * for each use of the page (page.c: dog__page_init); 0 in the default build. */
    uint64_t secret;
    /* -((uintptr_t)this + block_start): a block's offset is p + block_neg, one add on
     * dog_free's path (page.h: dog__page_offset). Negated so that the header holds no
     * pointer to block 0: memcheck's leak check would take it for a reference and call a
     * leaked block 0 "still reachable" (track.h). 0 until the page's first use, which
     * puts every pointer of its frame at an offset >= DOG_PAGE_SIZE: no block. */
    uintptr_t block_neg;

    _Atomic(dog_block_t *) xthread_free DOG_CACHE_ALIGN;
    _Atomic int xnotify;            /* DOG_NOTIFY_*: the delayed-free protocol (heap.c) */
    struct dog_page *delayed_next;  /* link on the shard's xdelayed list */
    uint64_t pool_stamp;            /* page_pool.c: when it entered the pool (ms) */

    _Atomic uint64_t live[] DOG_CACHE_ALIGN;  /* the live bitmap, then the blocks */
} dog_page_t;

/* Bytes of a thread cache's bin descriptor (tcache.h asserts it). */
#define DOG_TCACHE_BIN_DESC 16

/* Layout claims of the page header (page.c lays the page out from them). */
_Static_assert(offsetof(dog_page_t, xthread_free) == 128,
               "the owner's fields fit the first two cache lines; remote frees write the third");
_Static_assert(offsetof(dog_page_t, live) % 64 == 0, "the bitmaps start on a cache line");
_Static_assert(offsetof(dog_page_t, live) + 2 * DOG_BITMAP_WORDS_MAX * 8 <= DOG_GUARD_META_OFF,
               "the header and both bitmaps of the smallest blocks end before the metadata guard");
_Static_assert(DOG_GUARD_META_OFF % DOG_OS_PAGE_SIZE == 0 && DOG_GUARD_END_OFF % DOG_OS_PAGE_SIZE == 0,
               "guards are whole OS pages");

/* The delayed-free protocol of full pages (heap.c: page_to_full, dog__free_remote). */
enum {
    DOG_NOTIFY_NONE = 0,    /* not full: remote frees only push */
    DOG_NOTIFY_WANTED = 1,  /* on the full list: the next remote free queues the page */
    DOG_NOTIFY_QUEUED = 2,  /* on the shard's xdelayed list, waiting for the owner */
};

typedef struct dog_page_queue {
    dog_page_t *first, *last;
} dog_page_queue_t;

/* A shard is the unit of locking: its own pages, one queue per bin, the direct table,
 * the full list and the delayed-free list. A heap is a set of shards (heap_pool.c).
 * Every field but the x-ones is touched only with the lock held. */
typedef struct dog_shard {
    dog_lock_t lock;
    unsigned index;
    struct dog_heap *heap;
    /* Names this shard for thread caches, unique over the life of the process (shards of
     * a destroyed heap never share a token with later ones, even at the same address),
     * and >= 2: a cache with no home has token 1 and a page no cache may hold 0. */
    uint64_t token;
    /* pages_direct[w]: the first page of the bin of w words, or &dog__page_empty:
     * malloc of up to 1 KiB finds its page with one load and one test. */
    dog_page_t *pages_direct[DOG_DIRECT_WSIZE_MAX + 1];
    dog_page_queue_t queues[DOG_BIN_COUNT];
    dog_page_queue_t full;
    size_t pages;
    /* Bins whose only page is empty (heap.c:page_retire): it is kept for a few slow
     * paths, so that a loop of malloc and free of one size does not go to the pool each
     * time, and then retired, so that a bin used once does not hold a page forever. */
    uint64_t retire_bins;
    /* Statistics of small blocks, exact at every lock release. */
    size_t in_use, peak, allocs, frees;
    _Atomic size_t xpublished;      /* in_use as of the last slow path, for heap peaks */
    _Atomic(dog_page_t *) xdelayed DOG_CACHE_ALIGN;  /* full pages with remote frees */
    /* Thread caches whose home this shard is (tcache.c). Read by other threads' frees,
     * written only when a cache moves home or its thread exits: on a line of its own. */
    _Atomic unsigned xhomes DOG_CACHE_ALIGN;
} dog_shard_t;

typedef struct dog_huge dog_huge_t;

#define DOG_HEAP_MAGIC 0x646f676865617021ull    /* "doghea p!" */

struct dog_heap {
    uint64_t magic;                 /* DOG_HEAP_MAGIC while live, 0 once destroyed */
    /* Thread caches (tcache.h): a thread keeps this heap's cache in its slot tc_slot
     * (0 for dog_default, 1..DOG_TCACHE_SLOTS-1 shared as evenly as heaps allow), and a
     * cache is this heap's if it carries tc_id, which no other heap ever has (0 for
     * dog_default). Both are set at creation; dog_heap_reset gives the heap a new tc_id
     * (a new generation of caches), under dog__heaps_lock. */
    uint64_t tc_id;
    unsigned tc_slot;
    uint64_t serial;                /* unique over the process's life, set at creation */
    char name[DOG_HEAP_NAME_MAX];
    size_t limit;                   /* budget of xmapped; 0 for none. Atomic access only
                                       (dog__heap_limit): dog_heap_set_limit changes it */
    dog_limit_fn on_limit;          /* heap_api.c: called past the budget; set at creation */
    void *on_limit_arg;
    unsigned flags;                 /* DOG_HEAP_* of the options; set at creation */
    dog_visit_fn on_leak;           /* visit.c: the leak report's handler, or NULL */
    void *on_leak_arg;
    _Atomic size_t xmapped;         /* bytes held from the OS: pages and huge mappings */
    /* xmapped of this heap and of all its descendants: what the limit counts. Every heap's
     * memory is counted in its own xtree and in each ancestor's (heap.c: budget_try). */
    _Atomic size_t xtree;
    /* The heap tree (dog_heap_options_t.parent), under dog__heaps_lock; parent is set at
     * creation and outlives the child (destroying a heap destroys its children first). */
    struct dog_heap *parent;
    struct dog_heap *first_child, *next_sibling, *prev_sibling;
    unsigned depth;                 /* 0 for a heap without a parent */
    bool dying;                     /* its children are being destroyed: no new child */
    _Atomic size_t xpeak;           /* peak of the sum of shards' xpublished + huge */
    _Atomic unsigned xshard_count;  /* shards[0 .. count) exist */
    unsigned shard_max;
    dog_lock_t grow_lock;           /* creating shards */
    dog_shard_t *_Atomic shards[DOG_SHARDS_MAX];
    /* Huge blocks (huge.c), under huge_lock. */
    dog_lock_t huge_lock;
    dog_huge_t *huge_first;
    size_t huge_blocks, huge_bytes, huge_allocs, huge_frees;
    /* Counters of this heap's thread caches whose thread has exited (tcache.c, under its
     * registry lock). */
    size_t tc_retired_pushes, tc_retired_refilled, tc_retired_flushed;
    /* Odd while an exiting thread hands one of this heap's caches back (tcache.c:
     * tcache_retire, registry lock held): its blocks move from the cache to their pages and
     * its counters to tc_retired_*. A statistics call reads the shards, then the caches;
     * one that this count shows a hand-back overlapped reads both again (stats.c), so that
     * the blocks of a thread that exits meanwhile are counted once. */
    _Atomic unsigned xretiring;
    struct dog_heap *list_next, *list_prev;   /* all heaps (heap.c), for fork and stats */
};

#endif
