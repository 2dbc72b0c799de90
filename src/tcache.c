/* SPDX-License-Identifier: MIT */
/* tcache.c: creating, refilling, flushing and retiring thread caches (see tcache.h). */
#include <pthread.h>
#include <string.h>
#include "os.h"
#include "page_pool.h"
#include "segmap.h"
#include "tcache.h"
#include "validate.h"

/* The cache that stands for "none" (tcache.h): every bin empty for ever (a pop from an
 * empty bin writes nothing, and no page's token is its home token, so no free pushes into
 * it), a heap id that no heap gets (ids count up from 1; dog_default's is 0), and a home
 * token that no page has (pages have 0 or a shard's, >= 2). So the fast paths never read
 * through NULL, and dog_free needs no NULL test of its slot. */
dog_tcache_t dog__tcache_none = { .heap_id = UINT64_MAX, .home_token = DOG_TCACHE_NO_HOME };
DOG_TLS dog_tcache_t *dog__tcs[DOG_TCACHE_SLOTS] = {
    [0 ... DOG_TCACHE_SLOTS - 1] = &dog__tcache_none,
};
DOG_TLS dog_tl_last_t dog__tl_last = { NULL, &dog__tcache_none };
DOG_TLS dog_tcache_t *dog__tl_malloc = &dog__tcache_none;
static DOG_TLS uint8_t tc_dead;         /* this thread's caches are gone: make no more */
static DOG_TLS uint8_t tc_keyed;        /* the pthread key is set: its destructor runs */

static pthread_key_t tc_pthread_key;
static _Atomic int tc_ready;            /* dog__tcache_init has run */
static dog_lock_t registry_lock = DOG_LOCK_INIT;
static dog_tcache_t *registry;         /* every cache, live or dead, under registry_lock */
static size_t tc_slots_total;           /* the sum of the bins' caps (dog__tcache_init) */

static void tcache_retire_all(void *arg);

/* Blocks bin may cache: 16 KiB of them, but at most DOG_TCACHE_CAP_MAX, and at least 16
 * for blocks up to 1 KiB and 2 above. */
static uint32_t tcache_cap(size_t bin)
{
    size_t size = dog__bin_size(bin), cap = DOG_TCACHE_BIN_BYTES / size;
    size_t floor = size <= 1024 ? 16 : 2;
    cap = cap > DOG_TCACHE_CAP_MAX ? DOG_TCACHE_CAP_MAX : cap < floor ? floor : cap;
    return (uint32_t)cap;
}

/* Bytes of one cache: its header and every bin's range of slots. */
size_t dog__tcache_bytes(void)
{
    return offsetof(dog_tcache_t, slots) + tc_slots_total * sizeof(void *);
}

void dog__tcache_init(void)
{
    size_t total = 0;
    for (size_t bin = 0; bin < DOG_TCACHE_BINS; bin++)
        total += tcache_cap(bin);
    tc_slots_total = total;             /* before tc_ready: no cache exists yet */
    if (pthread_key_create(&tc_pthread_key, tcache_retire_all) == 0)
        dog__store_release(&tc_ready, 1);
}

/* tc is heap's cache as of now, empty and with no home: a new cache, or the caller's own
 * cache of a heap it resets (dog__tcache_heap_dead). */
static void tcache_bind(dog_tcache_t *tc, dog_heap_t *heap)
{
    for (size_t bin = 0; bin < DOG_TCACHE_BINS; bin++)
        __atomic_store_n(&tc->bins[bin].count, 0, __ATOMIC_RELAXED);
    tc->heap_id = heap->tc_id;
    tc->heap = heap;
    tc->slot = heap->tc_slot;
    tc->home_token = DOG_TCACHE_NO_HOME;
    tc->home = (dog_shard_t *)(void *)tc;   /* no shard yet, and never NULL (alloc.c) */
    tc->pushes = tc->refilled = tc->flushed = 0;
}

static dog_tcache_t *tcache_new(dog_heap_t *heap)
{
    if (tc_dead || !dog__load_acquire(&tc_ready))
        return NULL;
    dog_tcache_t *tc = dog__meta_alloc(dog__tcache_bytes());
    if (tc == NULL)
        return NULL;
    tcache_bind(tc, heap);
    /* Each bin's range starts where the previous one ends; the caps add up to
     * tc_slots_total, so the last range ends at the end of the allocation. */
    void **next = tc->slots;
    for (size_t bin = 0; bin < DOG_TCACHE_BINS; bin++) {
        tc->bins[bin].cap = tcache_cap(bin);
        tc->bins[bin].slots = next;
        next += tc->bins[bin].cap;
    }
    dog__lock_acquire(&registry_lock);
    tc->next = registry;
    if (registry)
        registry->prev = tc;
    registry = tc;
    dog__lock_release(&registry_lock);
    dog__tcs[heap->tc_slot] = tc;
    DOG_VALIDATE(dog__validate_tcache(tc, DOG_TCACHE_BINS, "tcache_new"));
    if (!tc_keyed) {
        tc_keyed = 1;
        /* Any nonzero value makes the destructor run; it retires every slot. Keys < 32
         * need no allocation in glibc. */
        pthread_setspecific(tc_pthread_key, tc);
    }
    return tc;
}

static bool tcache_dead(const dog_tcache_t *tc)
{
    return dog__load_acquire(&tc->xdead) != 0;
}

/* tc leaves this thread: dog_heap_malloc must not find it any more (tcache.h). */
static void tcache_forget(const dog_tcache_t *tc)
{
    if (dog__tl_last.tc == tc)
        dog__tcache_remember(NULL, &dog__tcache_none);
    if (dog__tl_malloc == tc)
        dog__tl_malloc = &dog__tcache_none;         /* and dog_malloc neither */
}

/* The cache's home is a shard (not the placeholder of a cache that never refilled). */
static bool tcache_has_home(const dog_tcache_t *tc)
{
    return tc->home_token != DOG_TCACHE_NO_HOME;
}

/* The cache now calls shard home: the shards' counts of homes follow (dog_free sends
 * blocks of a shard that nobody calls home through its lock, dog__free_orphan). */
static void tcache_move_home(dog_tcache_t *tc, dog_shard_t *shard)
{
    /* Count the new home before leaving the old one, and name it before uncounting the
     * old: a fork in between leaves a count one too high (dog__tcache_fork_child), never
     * one too low. */
    dog_shard_t *old = tcache_has_home(tc) ? tc->home : NULL;
    dog__fetch_add_relaxed(&shard->xhomes, 1);
    tc->home = shard;
    tc->home_token = shard->token;
    if (old != NULL)
        dog__fetch_sub_relaxed(&old->xhomes, 1);
}

/* Blocks fetched beyond the one returned: a few for small blocks; none above 1 KiB, where
 * fetching ahead only touches cold memory that random sizes rarely ask for again (those
 * bins cache what the thread frees). */
static uint32_t refill_count(const dog_tcache_t *tc, size_t bin, const dog_page_t *page)
{
    if (bin > DOG_TCACHE_BATCH_BIN_MAX)
        return 0;
    uint32_t half = tc->bins[bin].cap / 2;
    /* Blocks that other threads freed and this page collected were just walked by the
     * collection, so their lines are here: take half a cache of them in this lock hold
     * (a producer fed by its consumer: xmalloc 0.45-0.7 s -> 0.3 s). */
    if (page->remote_fed)
        return half;
    /* Blocks this thread's cache flushed back: a few. Taking half a cache here too makes
     * a batch as large as the cache flush and refill half of it every time (callgrind,
     * pairs batch: 99 -> 137 instructions per pair). A fully carved page's list is
     * blocks freed long ago, often by other threads, whose lines are elsewhere: walking
     * many of them in a row serialises the misses, so take just a couple. */
    uint32_t want = page->capacity < page->reserved ? DOG_TCACHE_REFILL : 2;
    return half < want ? half : want;
}

/* Refill bin from a shard of the cache's heap: one block to return and a few more from
 * the same page (refill_count), all in one lock hold. */
static void *tcache_refill(dog_tcache_t *tc, size_t bin)
{
    size_t size = dog__bin_size(bin);
    dog_shard_t *shard = dog__shard_acquire(tc->heap);
    if (shard == NULL)
        return NULL;
    if (tc->home != shard)
        tcache_move_home(tc, shard);
    dog_page_t *page = size <= DOG_DIRECT_WSIZE_MAX * DOG_WORD_SIZE
                           ? shard->pages_direct[size / DOG_WORD_SIZE]
                           : shard->queues[bin].first ? shard->queues[bin].first : &dog__page_empty;
    void **slots = tc->bins[bin].slots;
    void *first;
    uint32_t n = 0, got = 0;
    if (page->free == NULL && bin <= DOG_TCACHE_BATCH_BIN_MAX) {
        /* Nothing on the local list: half a cache straight into the slots, as no free
         * list needs walking twice. Blocks that other threads freed into the page come
         * first, taken as they are collected, still live (a producer fed by its
         * consumer: xmalloc, asymmetric); else fresh blocks carved from the page's
         * untouched end (the leaking tiny strings of symmetric, a graph being built). */
        uint32_t want = tc->bins[bin].cap / 2 + 1;
        if (dog__load_relaxed(&page->xthread_free) != NULL)
            got = dog__page_collect_cached(shard, page, slots, want);
        else if (page->capacity < page->reserved)
            got = dog__page_carve_cached(shard, page, slots, want, dog__block_key_get());
    }
    if (got != 0) {
        dog__lock_release(&shard->lock);
        n = got - 1;
        first = slots[n];               /* a carve's lowest address */
        if (DOG_UNLIKELY(!dog__tcache_secure_ok(first, bin)))
            dog__tcache_out_broken(first);
        dog__tcache_secure_out(first);
        dog__block_unmark(first);       /* handed out, not cached */
        dog__track_stale(&slots[n]);    /* no longer a slot's: not a reference */
    } else {
        /* A mostly free page whose list has taken back over half a page of blocks in
         * whatever order they were freed: hand them out in address order again, so
         * that what is built next lies together (heapdrop: 82% of same-size neighbours
         * within 512 bytes every round, instead of falling by rounds to 64%). Each
         * rebuild follows capacity / 2 pushes, so it costs O(1) per push. */
        if (!DOG_SECURE_SHUFFLE && page->unsorted > page->capacity / 2)
            dog__page_reorder(page);
        first = dog__page_pop(shard, page);
        if (first == NULL)
            first = dog__shard_malloc_generic(shard, size);
        if (first != NULL) {
            dog_page_t *from = dog__page_of(first);
            n = dog__page_pop_cached(shard, from, slots, refill_count(tc, bin, from), dog__block_key_get());
            if (from->free == NULL)
                from->remote_fed = 0;
            DOG_VALIDATE(dog__validate_page(from, "tcache_refill"));
        }
        dog__lock_release(&shard->lock);
        if (first == NULL)
            return NULL;
        /* The blocks were popped in the list's order (address order after a reorder)
         * and lie top down in the slots, so they are handed out in that order too. */
    }
    __atomic_store_n(&tc->bins[bin].count, n, __ATOMIC_RELAXED);
    __atomic_store_n(&tc->refilled, tc->refilled + n + 1, __ATOMIC_RELAXED);
    DOG_VALIDATE(dog__validate_tcache(tc, bin, "tcache_refill"));
    return first;
}

static void tcache_unregister(dog_tcache_t *tc);

/* Take tc out of its slot and free it: a dead cache, whose blocks are not ours to touch
 * any more (they went with its heap's pages). */
static void tcache_drop(dog_tcache_t *tc)
{
    tcache_forget(tc);
    dog__lock_acquire(&registry_lock);
    tcache_unregister(tc);
    dog__lock_release(&registry_lock);
    dog__meta_free(tc, dog__tcache_bytes());
}

/* A malloc that the calling thread's cache of heap could not serve: refill it, or make
 * it first. The heap's slot may hold a dead cache (its heap was destroyed: freed now and
 * replaced) or a live cache of another heap (kept: this heap goes to its shards). */
void *dog__tcache_miss(dog_heap_t *heap, size_t size)
{
    dog_tcache_t *tc = dog__tcs[heap->tc_slot];
    if (tc->heap_id != heap->tc_id) {
        if (tc != &dog__tcache_none) {
            if (!tcache_dead(tc))
                return dog__heap_malloc_small(heap, size);
            dog__tcs[heap->tc_slot] = &dog__tcache_none;
            tcache_drop(tc);
        }
        if ((tc = tcache_new(heap)) == NULL)
            return dog__heap_malloc_small(heap, size);
    }
    dog__tcache_remember(heap, tc);
    size_t w = dog__wsize(size);
    return tcache_refill(tc, dog__bin_of(w ? w : 1));
}

/* Send the oldest blocks of bin back to their pages, keeping the newest keep blocks
 * (at most half of them: the kept ones move down with one memcpy).
 * A run of blocks of one page is pushed onto its local free list with one update of the
 * counters; consecutive runs of one shard share a lock hold; a busy shard gets remote
 * frees instead. */
void dog__tcache_flush(dog_tcache_t *tc, size_t bin, uint32_t keep)
{
    void **slots = tc->bins[bin].slots;
    uint32_t n = tc->bins[bin].count, out = n - keep;
    DOG_ASSERT_INTERNAL(keep <= out);
    dog_shard_t *locked = NULL;
    for (uint32_t i = 0; i < out;) {
        dog_block_t *block = slots[i];
        dog_page_t *page = dog__page_of(block);
        dog_shard_t *shard = page->shard;
        if (shard != locked) {
            if (locked != NULL)
                dog__lock_release(&locked->lock);
            locked = dog__lock_try(&shard->lock) ? shard : NULL;
        }
        const uintptr_t base = (uintptr_t)page + page->block_start;
        const uint64_t magic = page->block_magic;
        _Atomic uint64_t *const live = page->live;
        if (locked == NULL) {
            /* A busy shard: the run goes onto the page's thread free list. */
            do {
                size_t index = (size_t)((((uintptr_t)block - base) * magic) >> 48);
                dog__free_remote_cached(page, block, index);
                if (++i == out)
                    break;
                block = slots[i];
            } while (dog__page_of(block) == page);
            continue;
        }
        dog_block_t *free_list = page->free;
        uint32_t run = 0;
        do {
            size_t index = (size_t)((((uintptr_t)block - base) * magic) >> 48);
            _Atomic uint64_t *w = &live[index >> 6];
            uint64_t bits = dog__load_relaxed(w), bit = (uint64_t)1 << (index & 63);
            if (DOG_UNLIKELY((bits & bit) == 0)) {
                /* Reported and skipped: the block stays out of every list (it leaks). */
                dog__free_invalid(block, DOG_MISUSE_DOUBLE_FREE, "double free");
            } else {
                dog__store_relaxed(w, bits ^ bit);    /* its freed bit stays: page.h */
                dog__block_set_next(block, free_list, page->secret);
                free_list = block;
                run++;
            }
            if (++i == out)
                break;
            block = slots[i];
        } while (dog__page_of(block) == page);
        page->free = free_list;
        page->used -= run;
        page->unsorted += run;
        page->remote_fed = 0;       /* blocks of this thread's: refill a few at a time */
        shard->in_use -= (size_t)run * page->block_size;
        shard->frees += run;
        if (page->used == 0 || page->in_full)
            dog__page_free_slow(shard, page);
    }
    if (locked != NULL)
        dog__lock_release(&locked->lock);
    memcpy(slots, slots + out, keep * sizeof *slots);  /* out >= keep: no overlap */
    __atomic_store_n(&tc->bins[bin].count, keep, __ATOMIC_RELAXED);
    __atomic_store_n(&tc->flushed, tc->flushed + out, __ATOMIC_RELAXED);
}

/* A free into a full bin: send the older half back, then cache p. Over batches that
 * overflow the bin (callgrind, as for refill_count), keeping a quarter instead moved the
 * instructions per pair by -4% to +2%, keeping three quarters by -5% to +11%. */
void dog__tcache_free_full(dog_tcache_t *tc, size_t bin, void *p)
{
    dog__tcache_flush(tc, bin, tc->bins[bin].count / 2);
    dog__tcache_push(tc, bin, p, dog__block_cookie(p));
    /* The calling thread's own cache (a fork's child also flushes the caches of threads
     * it did not inherit, which a fork may have caught between two stores). */
    DOG_VALIDATE(dog__validate_tcache(tc, bin, "dog__tcache_free_full"));
}

static void tcache_flush_all(dog_tcache_t *tc)
{
    for (size_t bin = 0; bin < DOG_TCACHE_BINS; bin++)
        if (tc->bins[bin].count)
            dog__tcache_flush(tc, bin, 0);
}

/* Can tc's heap be destroyed at any moment (an explicit heap's)? Then its flushes that
 * do not come from a use of the heap (trim) run under the registry lock, and only while
 * the cache is live: a destroy marks it dead under the same lock before it frees a page
 * (tcache.h). dog_default's cache needs neither at trim. (A thread's exit flushes every
 * cache of it under the lock: tcache_retire, for exact statistics.) */
static bool tcache_may_die(const dog_tcache_t *tc)
{
    return tc->heap_id != 0;
}

/* The calling thread's cache of heap, if it has one, goes back to its pages (a budget
 * refusal, heap.c). Shards whose lock is busy, the caller's own included, get remote
 * frees, which a collection then takes. */
void dog__tcache_flush_heap(const dog_heap_t *heap)
{
    dog_tcache_t *tc = dog__tcache_of(heap);
    if (tc != NULL)
        tcache_flush_all(tc);
}

/* dog_trim: every block of the calling thread's caches goes back to its page; dead
 * caches are freed. */
void dog__tcache_flush_mine(void)
{
    for (unsigned slot = 0; slot < DOG_TCACHE_SLOTS; slot++) {
        dog_tcache_t *tc = dog__tcs[slot];
        if (tc == &dog__tcache_none)
            continue;
        if (!tcache_may_die(tc)) {
            tcache_flush_all(tc);
            continue;
        }
        dog__lock_acquire(&registry_lock);
        bool dead = tcache_dead(tc);
        if (!dead)
            tcache_flush_all(tc);
        dog__lock_release(&registry_lock);
        if (dead) {
            dog__tcs[slot] = &dog__tcache_none;
            tcache_drop(tc);
        }
    }
}

void *dog__tcache_out_broken(const void *p)
{
    if (!dog__block_cached(p))
        dog__block_bad_link(p, dog__block_word(p));
    dog__page_fill_broken(p);
}

/* A free whose block is parked (block.h) or not live: find out which, and say so. */
void dog__tcache_bad_free(const void *p)
{
    dog_page_t *page = dog__page_of(p);
    size_t index = dog__page_index(page, (uintptr_t)p - (uintptr_t)page - page->block_start);
    if (!dog__page_live(page, index))
        dog__free_not_live(page, p, index);
    else
        dog__free_invalid(p, DOG_MISUSE_DOUBLE_FREE, dog__free_why_parked(p));
}

/* Registry lock held. A live cache's counters go to its heap's retired ones; a dead
 * cache's heap may be gone, and nobody asks for its statistics any more. */
static void tcache_unregister(dog_tcache_t *tc)
{
    if (tc->prev)
        tc->prev->next = tc->next;
    else
        registry = tc->next;
    if (tc->next)
        tc->next->prev = tc->prev;
    if (!tcache_dead(tc)) {
        dog_heap_t *heap = tc->heap;
        heap->tc_retired_pushes += tc->pushes;
        heap->tc_retired_refilled += tc->refilled;
        heap->tc_retired_flushed += tc->flushed;
    }
}

/* The cache of an exiting thread (or one a fork left without its thread) goes back:
 * its blocks to their pages, its home shard's count of homes down by one. Registry lock
 * held, and tc is live. */
static void tcache_give_back(dog_tcache_t *tc)
{
    tcache_flush_all(tc);
    /* Its home shard may have no user left: the empty pages it keeps for reuse would wait
     * for a slow path that might never come, so they go to the pool now (if the shard is
     * free; another thread there will retire them in time). */
    if (tcache_has_home(tc)) {
        dog_shard_t *home = tc->home;
        dog__fetch_sub_relaxed(&home->xhomes, 1);
        if (dog__lock_try(&home->lock)) {
            dog__shard_collect_all(home, true);
            dog__lock_release(&home->lock);
        }
    }
}

/* A statistics call that runs while the cache goes back sees the blocks both on their
 * pages (as allocated) and not in any cache, or neither, unless it knows (types.h:
 * xretiring). So the hand-back and the unregistering are one registry lock hold for every
 * cache, dog_default's too, with xretiring odd meanwhile (release: a reader that sees the
 * even count after it also sees the blocks on their pages and the retired counters). */
static void tcache_retire(dog_tcache_t *tc)
{
    tcache_forget(tc);
    dog__lock_acquire(&registry_lock);
    if (!tcache_dead(tc)) {
        dog_heap_t *heap = tc->heap;
        unsigned seq = dog__load_relaxed(&heap->xretiring);
        dog__store_release(&heap->xretiring, seq + 1);
        tcache_give_back(tc);
        tcache_unregister(tc);
        dog__store_release(&heap->xretiring, seq + 2);
    } else {
        tcache_unregister(tc);
    }
    dog__lock_release(&registry_lock);
    dog__meta_free(tc, dog__tcache_bytes());
}

/* The thread is exiting: everything goes back to the shards. Frees that come later (other
 * destructors, the C library freeing the thread's own data) go straight to the shards. */
static void tcache_retire_all(void *arg)
{
    (void)arg;
    tc_dead = 1;
    for (unsigned slot = 0; slot < DOG_TCACHE_SLOTS; slot++) {
        dog_tcache_t *tc = dog__tcs[slot];
        if (tc != &dog__tcache_none) {
            dog__tcs[slot] = &dog__tcache_none;
            tcache_retire(tc);
        }
    }
}

/* dog_heap_destroy(heap) and dog_heap_reset(heap), before they free a page: every cache
 * of heap made while its tc_id was id is dead, and the statistics of caches start again
 * from zero. A dead cache's bins are emptied too (their blocks go with the pages), so
 * that dog_heap_malloc's fast path, which tests only its thread's last heap and a bin's
 * count, finds nothing there and takes the slow path, which checks the heap. The other
 * threads free their dead caches when they next need the slot, trim or exit; nothing
 * of theirs runs meanwhile (the heap is not in use: include/dogmalloc.h).
 * The caller's own cache is freed at once, on a destroy; on a reset, which has given
 * the heap a new tc_id already, it stays, empty, as the heap's new cache (one reset per
 * request then costs no cache rebuilt). */
/* dog_heap_delete: the blocks that any thread's cache of heap holds are freed into their
 * pages, as another thread's frees are (onto the pages' thread free lists), so that the
 * delete's collection finds them free; then the caches die as on a destroy. The heap is
 * not in use meanwhile (include/dogmalloc.h), so no cache's owner pops or pushes. */
void dog__tcache_heap_give_back(dog_heap_t *heap)
{
    dog__lock_acquire(&registry_lock);
    for (dog_tcache_t *tc = registry; tc != NULL; tc = tc->next) {
        if (tc->heap_id != heap->tc_id || tcache_dead(tc))
            continue;
        for (size_t bin = 0; bin < DOG_TCACHE_BINS; bin++) {
            dog_tcache_bin_t *b = &tc->bins[bin];
            for (uint32_t i = 0; i < b->count; i++) {
                dog_block_t *block = b->slots[i];
                dog_page_t *page = dog__page_of(block);
                dog__free_remote_cached(page, block, 0);
            }
            __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        }
    }
    dog__lock_release(&registry_lock);
    dog__tcache_heap_dead(heap, heap->tc_id);
}

void dog__tcache_heap_dead(dog_heap_t *heap, uint64_t id)
{
    dog_tcache_t *mine = dog__tcs[heap->tc_slot];
    if (mine->heap_id != id)            /* dog__tcache_none's never is */
        mine = NULL;
    bool keep_mine = mine != NULL && heap->tc_id != id;
    dog__lock_acquire(&registry_lock);
    for (dog_tcache_t *tc = registry; tc != NULL; tc = tc->next) {
        if (tc->heap_id != id)
            continue;
        if (tc == mine && keep_mine) {
            tcache_bind(tc, heap);
            continue;
        }
        for (size_t bin = 0; bin < DOG_TCACHE_BINS; bin++)
            __atomic_store_n(&tc->bins[bin].count, 0, __ATOMIC_RELAXED);
        dog__store_release(&tc->xdead, 1);
    }
    heap->tc_retired_pushes = heap->tc_retired_refilled = heap->tc_retired_flushed = 0;
    dog__lock_release(&registry_lock);
    if (mine != NULL && !keep_mine) {
        dog__tcs[heap->tc_slot] = &dog__tcache_none;
        tcache_drop(mine);
    }
}

/* For dog_heap_stats(heap): blocks and bytes cached now, and the counters that turn the
 * shards' view (cached blocks are allocated) into the user's. */
/* For dog_heap_class_stats(heap): add to counts[bin] the blocks that live caches of the
 * heap hold in each bin. */
unsigned dog__tcache_bin_counts(const dog_heap_t *heap, size_t counts[DOG_TCACHE_BINS])
{
    dog__lock_acquire(&registry_lock);
    unsigned seq = dog__load_relaxed(&heap->xretiring);     /* even: the lock is ours */
    for (dog_tcache_t *tc = registry; tc != NULL; tc = tc->next) {
        if (tc->heap_id != heap->tc_id || tcache_dead(tc))
            continue;
        for (size_t bin = 0; bin < DOG_TCACHE_BINS; bin++)
            counts[bin] += __atomic_load_n(&tc->bins[bin].count, __ATOMIC_RELAXED);
    }
    dog__lock_release(&registry_lock);
    return seq;
}

unsigned dog__tcache_stats(const dog_heap_t *heap, size_t *blocks, size_t *bytes,
                           size_t *pushes_out, size_t *refilled_out, size_t *flushed_out)
{
    size_t nb = 0, nbytes = 0;
    dog__lock_acquire(&registry_lock);
    unsigned seq = dog__load_relaxed(&heap->xretiring);     /* even: the lock is ours */
    size_t pushes = heap->tc_retired_pushes;
    size_t refilled = heap->tc_retired_refilled, flushed = heap->tc_retired_flushed;
    for (dog_tcache_t *tc = registry; tc != NULL; tc = tc->next) {
        if (tc->heap_id != heap->tc_id || tcache_dead(tc))
            continue;
        for (size_t bin = 0; bin < DOG_TCACHE_BINS; bin++) {
            size_t c = __atomic_load_n(&tc->bins[bin].count, __ATOMIC_RELAXED);
            nb += c;
            nbytes += c * dog__bin_size(bin);
        }
        pushes += __atomic_load_n(&tc->pushes, __ATOMIC_RELAXED);
        refilled += __atomic_load_n(&tc->refilled, __ATOMIC_RELAXED);
        flushed += __atomic_load_n(&tc->flushed, __ATOMIC_RELAXED);
    }
    dog__lock_release(&registry_lock);
    *blocks = nb;
    *bytes = nbytes;
    *pushes_out = pushes;
    *refilled_out = refilled;
    *flushed_out = flushed;
    return seq;
}

bool dog__tcache_fork_lock(void)
{
    return dog__lock_fork_acquire(&registry_lock);
}

void dog__tcache_fork_parent(void)
{
    dog__lock_fork_release(&registry_lock);
}

/* In the child only this thread is left: the caches of the others would be stranded, so
 * their blocks go back to the shards now (their memory was copied with the rest). Called
 * after every other lock has been released, and with give_back false when the prepare
 * handler could not take every lock: a fork from a signal handler that interrupted
 * dogmalloc leaves some held by the interrupted code, and a flush could need one of them
 * (init.c: fork_child). The others' caches then stay allocated in the child, unused. */
void dog__tcache_fork_child(bool give_back)
{
    dog_tcache_t *tc = give_back ? registry : NULL;
    while (tc != NULL) {
        dog_tcache_t *next = tc->next;
        if (dog__tcs[tc->slot] == tc) {         /* this thread's: kept */
            tc = next;
            continue;
        }
        if (!tcache_dead(tc)) {
            /* Its thread may have been in the middle of a push, pop or flush when we
             * forked: keep only the slots whose block is still a cached block (its cookie
             * and its live bit), and leave the rest alone rather than free a block
             * twice. What the other thread was handing out is lost to the child. */
            for (size_t bin = 0; bin < DOG_TCACHE_BINS; bin++) {
                void **slots = tc->bins[bin].slots;
                uint32_t kept = 0;
                for (uint32_t i = 0; i < tc->bins[bin].count; i++) {
                    void *p = slots[i];
                    dog_page_t *page = dog__page_of(p);
                    size_t index;
                    if (dog__segmap_kind(p) == DOG_FRAME_PAGE && dog__page_is_block(page, p, &index) &&
                        dog__page_live(page, index) && dog__block_cached(p))
                        slots[kept++] = p;
                }
                tc->bins[bin].count = kept;
                if (kept)
                    dog__tcache_flush(tc, bin, 0);
            }
            /* Its home loses a user (a thread caught moving home may leave a count one
             * too high, which only sends frees there the remote way). */
            if (tcache_has_home(tc))
                dog__fetch_sub_relaxed(&tc->home->xhomes, 1);
        }
        tcache_unregister(tc);
        dog__meta_free(tc, dog__tcache_bytes());
        tc = next;
    }
    dog__lock_fork_release(&registry_lock);
}
