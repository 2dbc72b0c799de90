/* SPDX-License-Identifier: MIT */
/* heap.c: the slow paths of small blocks (page queues, full pages, delayed frees, page
 * retirement), bad frees, and creating and destroying heaps. */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include "heap.h"
#include "huge.h"
#include "page_pool.h"
#include "segmap.h"
#include "tcache.h"
#include "validate.h"

/* --- Page queues --------------------------------------------------------------------- */

/* Keep pages_direct[] equal to the first page of each bin of up to 1 KiB. */
static void direct_update(dog_shard_t *shard, size_t bin)
{
    size_t hi = dog__bin_size(bin) / DOG_WORD_SIZE;
    if (hi > DOG_DIRECT_WSIZE_MAX)
        return;
    size_t lo = bin == 0 ? 0 : dog__bin_size(bin - 1) / DOG_WORD_SIZE + 1;
    dog_page_t *page = shard->queues[bin].first ? shard->queues[bin].first : &dog__page_empty;
    for (size_t w = lo; w <= hi; w++)
        shard->pages_direct[w] = page;
}

/* The bin queues keep pages_direct[] in step: every change of a bin's first page goes
 * through these, so the fast path never pops from a page that left the queue. */
static void bin_remove(dog_shard_t *shard, dog_page_t *page)
{
    dog_page_queue_t *q = &shard->queues[page->bin];
    bool first = q->first == page;
    dog__queue_remove(q, page);
    if (first)
        direct_update(shard, page->bin);
}

static void bin_push_front(dog_shard_t *shard, dog_page_t *page)
{
    dog__queue_push_front(&shard->queues[page->bin], page);
    direct_update(shard, page->bin);
}

static void bin_push_back(dog_shard_t *shard, dog_page_t *page)
{
    dog_page_queue_t *q = &shard->queues[page->bin];
    dog__queue_push_back(q, page);
    if (q->first == page)
        direct_update(shard, page->bin);
}

/* --- Full pages and the delayed-free list -------------------------------------------- */

/* A page with no free block and nothing left to carve leaves its bin queue, so malloc
 * never searches it. A remote free into it then queues it on the shard's xdelayed list
 * (dog__free_remote) for the owner to bring back. Storing WANTED and then reading
 * xthread_free, while remote frees push and then read xnotify (both seq_cst), means that
 * a free racing with this move is seen by at least one side: never lost.
 * Returns false if remote frees had arrived and the page stays in the queue. */
static bool page_to_full(dog_shard_t *shard, dog_page_t *page)
{
    bin_remove(shard, page);
    dog__queue_push_back(&shard->full, page);
    page->in_full = 1;
    dog__store_seqcst(&page->xnotify, DOG_NOTIFY_WANTED);
    if (dog__load_seqcst(&page->xthread_free) == NULL)
        return true;
    int expected = DOG_NOTIFY_WANTED;
    if (!dog__cas_strong_seqcst(&page->xnotify, &expected, DOG_NOTIFY_NONE))
        return true;        /* already QUEUED: process_delayed brings it back */
    dog__queue_remove(&shard->full, page);
    page->in_full = 0;
    bin_push_front(shard, page);
    dog__page_collect(shard, page);
    return false;
}

/* Bring a full page back to its bin queue (lock held). */
static void page_unfull(dog_shard_t *shard, dog_page_t *page)
{
    int expected = DOG_NOTIFY_WANTED;
    dog__cas_strong_seqcst(&page->xnotify, &expected, DOG_NOTIFY_NONE);
    dog__queue_remove(&shard->full, page);
    page->in_full = 0;
    bin_push_back(shard, page);
}

#define DOG_RETIRE_WAIT 16

/* An empty page goes back to the pool. The only page of its bin waits DOG_RETIRE_WAIT
 * slow paths of the shard first (retire_expired), so that a loop that allocates and
 * frees one block does not go to the pool every time (mimalloc's retire_expire). */
static void page_retire(dog_shard_t *shard, dog_page_t *page, bool force)
{
    if (page->in_full || page->used != 0 ||
        dog__load_relaxed(&page->xnotify) != DOG_NOTIFY_NONE)
        return;
    dog_page_queue_t *q = &shard->queues[page->bin];
    if (q->first == page && page->next == NULL && !force) {
        if (page->retire_wait == 0)
            page->retire_wait = DOG_RETIRE_WAIT;
        shard->retire_bins |= (uint64_t)1 << page->bin;
        return;
    }
    DOG_VALIDATE(dog__validate_page(page, "page_retire"));
    bin_remove(shard, page);
    shard->pages--;
    dog__heap_unmapped(shard->heap, DOG_PAGE_SIZE);
    page->shard = NULL;
    page->heap = NULL;
    page->tc_token = 0;
    dog__pool_give(page);
}

static void process_delayed(dog_shard_t *shard)
{
    if (dog__load_relaxed(&shard->xdelayed) == NULL)
        return;
    dog_page_t *page = dog__exchange_acquire(&shard->xdelayed, NULL);
    while (page != NULL) {
        dog_page_t *next = page->delayed_next;
        page->delayed_next = NULL;
        dog__store_seqcst(&page->xnotify, DOG_NOTIFY_NONE);
        if (page->in_full)
            page_unfull(shard, page);
        dog__page_collect(shard, page);
        if (page->used == 0)
            page_retire(shard, page, false);
        page = next;
    }
}

/* Malloc's slow path: count down the empty only pages, retire those whose wait is over. */
static void retire_expired(dog_shard_t *shard)
{
    for (uint64_t bins = shard->retire_bins; bins != 0; bins &= bins - 1) {
        size_t bin = (size_t)__builtin_ctzll(bins);
        dog_page_t *page = shard->queues[bin].first;
        if (page == NULL || page->used != 0 || page->retire_wait == 0) {
            if (page != NULL)
                page->retire_wait = 0;
            shard->retire_bins &= ~((uint64_t)1 << bin);
        } else if (--page->retire_wait == 0) {
            shard->retire_bins &= ~((uint64_t)1 << bin);
            page_retire(shard, page, true);
        }
    }
}

/* Called by dog__page_free after a local free left page empty or it was full. */
void dog__page_free_slow(dog_shard_t *shard, dog_page_t *page)
{
    if (page->in_full)
        page_unfull(shard, page);
    if (page->used == 0)
        page_retire(shard, page, false);
    DOG_VALIDATE(dog__validate_shard(shard, false, "dog__page_free_slow"));
}

/* --- Remote and bad frees ------------------------------------------------------------ */

/* Push block onto its page's thread free list (parked from then on), and hand a full
 * page to its owner through the delayed-free list. */
static DOG_INLINE void remote_push(dog_page_t *page, dog_block_t *block)
{
    dog_block_t *head = dog__load_relaxed(&page->xthread_free);
    do {
        dog__block_set_remote_next(block, head, page);    /* parked from now on: block.h */
    } while (!atomic_compare_exchange_weak(&page->xthread_free, &head, block));
    if (dog__load_seqcst(&page->xnotify) != DOG_NOTIFY_WANTED)
        return;
    int expected = DOG_NOTIFY_WANTED;
    if (!dog__cas_strong_seqcst(&page->xnotify, &expected, DOG_NOTIFY_QUEUED))
        return;
    dog_shard_t *shard = page->shard;
    dog_page_t *first = dog__load_relaxed(&shard->xdelayed);
    do {
        page->delayed_next = first;
    } while (!dog__cas_weak_release(&shard->xdelayed, &first, page));
}

/* A free onto the thread free list. The caller has checked that the block is not parked
 * already (dog__block_parked); the live bit stays set until the owner collects, and a
 * clear one is a free of a block that is on the local free list. */
void dog__free_remote(dog_page_t *page, dog_block_t *block, size_t index)
{
    if (DOG_UNLIKELY(!dog__page_live(page, index))) {
        dog__free_not_live(page, block, index);
        return;
    }
    if (DOG_UNLIKELY(dog__page_park(page, block))) {
        dog__free_invalid(block, DOG_MISUSE_DOUBLE_FREE, dog__free_why_parked(block));
        return;
    }
    dog__track_free(block, page->block_size);
    dog__page_fill(page, block);
    remote_push(page, block);
}

/* A thread cache's block (live for its page, already free for the user and for a memory
 * checker) goes onto its page's thread free list. index is dog__free_remote's, unused. */
void dog__free_remote_cached(dog_page_t *page, dog_block_t *block, size_t index)
{
    (void)index;
    remote_push(page, block);
}

/* A block of a shard that no thread cache calls home (its threads have exited): nobody
 * allocates there to collect a remote free, so the block would stay counted in use and
 * its page held. Free it under the lock instead, with whatever else was freed into the
 * page remotely, so that the page can empty and go back to the pool. A busy lock means
 * the shard has a user again: the remote free serves. */
void dog__free_orphan(dog_page_t *page, dog_block_t *block, size_t index)
{
    dog_shard_t *shard = page->shard;
    if (!dog__lock_try(&shard->lock)) {
        dog__free_remote(page, block, index);
        return;
    }
    if (page->shard != shard) {         /* retired to the pool meanwhile: not a live block */
        dog__lock_release(&shard->lock);
        dog__free_invalid(block, DOG_MISUSE_INVALID_FREE, NULL);
        return;
    }
    dog__page_collect(shard, page);
    size_t bin = page->bin;
    dog__page_free_locked(shard, page, block, index);
    /* The free may have given the page to the pool already (page_retire), where another
     * thread can take it or dog_trim unmap it, so its header is not read again unless the
     * shard still has it. The one case where an emptied page stays is the only page of
     * its bin, kept for a slow path (retire_wait) that an orphaned shard may never run:
     * it heads its bin's queue, which only the shard's lock holder changes, so the
     * pointer compare tells, without touching the page, that it is still ours. */
    if (shard->queues[bin].first == page && page->used == 0)
        page_retire(shard, page, true);
    DOG_VALIDATE(dog__validate_shard(shard, false, "dog__free_orphan"));
    dog__lock_release(&shard->lock);
}

/* p, found in a page frame, is not the start of a block of page (dog__page_is_block):
 * say which way. Not declared noreturn, and in another file than its callers, so that
 * the compiler calls it in tail position and the fast free path needs no stack frame
 * (dog__tcache_bad_free). */
void dog__free_reject(dog_page_t *page, const void *p)
{
    uintptr_t off = (uintptr_t)p - (uintptr_t)page - page->block_start;
    if (off >= (uintptr_t)page->reserved * page->block_size || page->shard == NULL)
        dog__free_invalid(p, DOG_MISUSE_INVALID_FREE, NULL);
    else
        dog__free_invalid(p, DOG_MISUSE_INTERIOR_FREE, "into the middle of a block");
}

/* Why p, which is not a live block, cannot be freed: the misuse kind and the words that
 * dog_free's message would give, found the way the free paths find them, for a caller
 * that knows only that p is not live (dog_free_sized). Reads only memory dogmalloc owns,
 * as the free paths do. */
const char *dog__free_why(const void *p, int *kind)
{
    unsigned frame = dog__segmap_kind(p);
    *kind = DOG_MISUSE_DOUBLE_FREE;
    if (frame == DOG_FRAME_NONE || frame == DOG_FRAME_META) {
        *kind = DOG_MISUSE_INVALID_FREE;
        return DOG_WHY_FOREIGN;
    }
    if (frame != DOG_FRAME_PAGE) {
        if (dog__huge_of(p, frame) != NULL)
            return "double free of a huge block";
        *kind = DOG_MISUSE_INTERIOR_FREE;
        return dog__huge_why(p, frame);
    }
    dog_page_t *page = dog__page_of(p);
    size_t index;
    if (!dog__page_is_block(page, p, &index)) {
        uintptr_t off = (uintptr_t)p - (uintptr_t)page - page->block_start;
        *kind = off >= (uintptr_t)page->reserved * page->block_size || page->shard == NULL
                    ? DOG_MISUSE_INVALID_FREE : DOG_MISUSE_INTERIOR_FREE;
        return *kind == DOG_MISUSE_INVALID_FREE ? DOG_WHY_FOREIGN : "into the middle of a block";
    }
    if (index >= page->capacity) {
        *kind = DOG_MISUSE_INVALID_FREE;
        return DOG_WHY_FOREIGN;
    }
    if (!dog__page_live(page, index) || !dog__page_parked(page, p))
        return "double free";
    return dog__free_why_parked(p);
}

/* The words of a double free of p, a parked block (block.h, page.h). */
const char *dog__free_why_parked(const void *p)
{
    if (dog__block_cached(p))
        return "double free (the block is already in a thread cache)";
    if (dog__block_parked(p))
        return "double free (another thread freed the block already)";
    /* Only the secure build's freed bitmap knows it: the words of the block say "live". */
    return "double free (the freed block was written since its first free)";
}

/* A free of block index of page, whose live bit is clear: a block that was freed, or one
 * that was never carved (index >= capacity), which no malloc can have returned. capacity
 * is the owner's, written under the shard lock that the caller may not hold: a relaxed
 * read, as it only grows while the page is in use and picks the words of a message. */
void dog__free_not_live(dog_page_t *page, const void *block, size_t index)
{
    if (index >= __atomic_load_n(&page->capacity, __ATOMIC_RELAXED))
        dog__free_invalid(block, DOG_MISUSE_INVALID_FREE, NULL);
    else
        dog__free_invalid(block, DOG_MISUSE_DOUBLE_FREE, "double free");
}

/* Every bad free is reported here, through the one policy of misuse.c. */
void dog__free_invalid(const void *p, int kind, const char *why)
{
    if (why != NULL)
        dog__misuse(kind, p, "dog_free(%p): invalid pointer: %s", p, why);
    else
        dog__misuse(kind, p, "dog_free(%p): invalid pointer: " DOG_WHY_FOREIGN, p);
}

/* --- The generic allocation path ----------------------------------------------------- */

/* Publish the shard's in-use bytes and raise the heap's peak if the sum is higher. */
void dog__heap_publish(dog_heap_t *heap, dog_shard_t *shard)
{
    if (shard != NULL)
        dog__store_relaxed(&shard->xpublished, shard->in_use);
    size_t sum = __atomic_load_n(&heap->huge_bytes, __ATOMIC_RELAXED);
    unsigned n = dog__load_acquire(&heap->xshard_count);
    for (unsigned i = 0; i < n; i++)
        sum += dog__load_relaxed(&dog__load_relaxed(&heap->shards[i])->xpublished);
    size_t peak = dog__load_relaxed(&heap->xpeak);
    while (sum > peak && !atomic_compare_exchange_weak(&heap->xpeak, &peak, sum)) {
    }
}

/* Retire every empty page the heap keeps: held is a shard whose lock the caller has (or
 * NULL); the other shards are visited only if they are free right now. */
void dog__heap_release_empty(dog_heap_t *heap, dog_shard_t *held)
{
    if (held != NULL)
        dog__shard_collect_all(held, true);
    unsigned n = dog__load_acquire(&heap->xshard_count);
    for (unsigned i = 0; i < n; i++) {
        dog_shard_t *other = dog__load_relaxed(&heap->shards[i]);
        if (other != held && dog__lock_try(&other->lock)) {
            dog__shard_collect_all(other, true);
            dog__lock_release(&other->lock);
        }
    }
}

/* Count bytes more in heap's tree (its own and its descendants' memory) against its
 * budget. The check and the add are one compare-and-swap, so xtree never reads above the
 * limit and two racing requests cannot both fail when one fits. */
static bool tree_try(dog_heap_t *heap, size_t bytes)
{
    size_t limit = dog__heap_limit(heap);
    if (limit == 0) {               /* none, or dog_heap_set_limit(heap, 0) meanwhile */
        dog__fetch_add_relaxed(&heap->xtree, bytes);
        return true;
    }
    size_t mapped = dog__load_relaxed(&heap->xtree);
    do {
        if (mapped > limit || bytes > limit - mapped)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&heap->xtree, &mapped, mapped + bytes,
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

/* Count bytes more against the budget of heap and of every ancestor (child heaps count
 * in their parents' budgets): NULL if every one had room, else the heap whose budget
 * refused, with nothing counted anywhere. */
static dog_heap_t *budget_try(dog_heap_t *heap, size_t bytes)
{
    for (dog_heap_t *h = heap; h != NULL; h = h->parent) {
        if (!tree_try(h, bytes)) {
            for (dog_heap_t *undo = heap; undo != h; undo = undo->parent)
                dog__fetch_sub_relaxed(&undo->xtree, bytes);
            return h;
        }
    }
    dog__fetch_add_relaxed(&heap->xmapped, bytes);
    return NULL;
}

/* Give back the empty pages that heap and every descendant keep (dog__heap_release_empty
 * each: no waiting for a busy shard). The heap list's lock keeps the tree still; it is
 * only tried, since the caller may hold a shard lock (held), and the stats table takes
 * the heap list's lock before shard locks: if it is busy, heap's own pages go only. */
static void release_subtree(dog_heap_t *heap, dog_shard_t *held)
{
    dog__heap_release_empty(heap, held);
    for (dog_heap_t *c = heap->first_child; c != NULL; c = c->next_sibling)
        release_subtree(c, held);
}

void dog__heap_release_tree(dog_heap_t *heap, dog_shard_t *held)
{
    if (heap->first_child == NULL) {        /* read racily: a heap without children */
        dog__heap_release_empty(heap, held);
        return;
    }
    if (!dog__lock_try(&dog__heaps_lock)) {
        dog__heap_release_empty(heap, held);
        return;
    }
    release_subtree(heap, held);
    dog__lock_release(&dog__heaps_lock);
}

void dog__heap_unmapped(dog_heap_t *heap, size_t bytes)
{
    dog__fetch_sub_relaxed(&heap->xmapped, bytes);
    for (dog_heap_t *h = heap; h != NULL; h = h->parent)
        dog__fetch_sub_relaxed(&h->xtree, bytes);
}

/* Count bytes more of OS memory against the heap's budget, or fail with ENOMEM. At the
 * budget, the calling thread's cache of the heap goes back to its pages and the empty
 * pages that the heap keeps for reuse (retire_wait) are given back, and the request is
 * tried once more: held is a shard whose lock the caller has, or NULL; other shards give
 * theirs back only if they are free right now (no waiting). A refill that gets here has
 * an empty bin, so the flush leaves it alone (tcache.c). */
bool dog__heap_budget_take(dog_heap_t *heap, size_t bytes, dog_shard_t *held)
{
    if (DOG_LIKELY(heap->parent == NULL) && dog__heap_limit(heap) == 0) {
        dog__fetch_add_relaxed(&heap->xtree, bytes);
        dog__fetch_add_relaxed(&heap->xmapped, bytes);
        return true;
    }
    if (budget_try(heap, bytes) == NULL)
        return true;
    dog__tcache_flush_heap(heap);
    /* Any budget from heap up may be the one: every heap under the top one keeps empty
     * pages that count against it (children and siblings included). */
    dog_heap_t *top = heap;
    while (top->parent != NULL)
        top = top->parent;
    dog__heap_release_tree(top, held);
    dog_heap_t *full = budget_try(heap, bytes);
    if (full == NULL)
        return true;
    if (full == heap)
        dog__error("heap \"%s\": %zu more bytes would exceed its budget of %zu (%zu held)",
                   heap->name, bytes, dog__heap_limit(heap), dog__load_relaxed(&heap->xtree));
    else
        dog__error("heap \"%s\": %zu more bytes would exceed the budget of %zu of its "
                   "ancestor \"%s\" (%zu held)", heap->name, bytes, dog__heap_limit(full),
                   full->name, dog__load_relaxed(&full->xtree));
    if (full->on_limit != NULL)
        dog__tl_limit_hit = full;       /* for the entry point's handler call (heap_api.c) */
    errno = ENOMEM;
    return false;
}

static dog_page_t *page_fresh(dog_shard_t *shard, size_t bin)
{
    dog_heap_t *heap = shard->heap;
    if (!dog__heap_budget_take(heap, DOG_PAGE_SIZE, shard))
        return NULL;
    dog_page_t *page = dog__pool_take();
    if (page == NULL) {
        dog__error("heap \"%s\": out of memory mapping a page", heap->name);
        dog__heap_unmapped(heap, DOG_PAGE_SIZE);
        return NULL;
    }
    dog__page_init(page, shard, bin);
    page->tc_token = bin < DOG_TCACHE_BINS ? shard->token : 0;
    page->tc_slot = (uint8_t)heap->tc_slot;
    shard->pages++;
    bin_push_front(shard, page);
    DOG_VALIDATE(dog__validate_page(page, "page_fresh"));
    return page;
}

/* malloc's slow path, lock held: bring back delayed pages, then walk the bin's queue,
 * collecting remote frees, carving, and retiring exhausted pages to the full list; map a
 * fresh page if none has a block. */
void *dog__shard_malloc_generic(dog_shard_t *shard, size_t size)
{
    process_delayed(shard);
    if (shard->retire_bins != 0)
        retire_expired(shard);
    size_t wsize = dog__wsize(size);
    size_t bin = dog__bin_of(wsize ? wsize : 1);
    dog_page_queue_t *q = &shard->queues[bin];
    dog_page_t *page = q->first;
    while (page != NULL) {
        dog_page_t *next = page->next;
        dog__page_collect(shard, page);
        if (page->free == NULL && page->capacity < page->reserved)
            dog__page_extend(page);
        if (page->free != NULL || !page_to_full(shard, page))
            break;
        page = next;
    }
    if (page == NULL) {
        page = page_fresh(shard, bin);
        if (page == NULL)
            return NULL;
        dog__page_extend(page);
    } else if (page != q->first) {
        bin_remove(shard, page);
        bin_push_front(shard, page);
    }
    void *p = dog__page_pop(shard, page);
    dog__heap_publish(shard->heap, shard);
    DOG_VALIDATE(dog__validate_shard(shard, false, "dog__shard_malloc_generic"));
    return p;
}

/* Collect every pending remote free of the shard and retire the pages that are empty
 * (dog_heap_stats, dog_trim). With force, an empty only page of its bin goes too. */
void dog__shard_collect_all(dog_shard_t *shard, bool force)
{
    process_delayed(shard);
    for (dog_page_t *page = shard->full.first, *next; page != NULL; page = next) {
        next = page->next;
        if (dog__page_collect(shard, page) != 0)
            page_unfull(shard, page);
    }
    for (size_t bin = 0; bin < DOG_BIN_COUNT; bin++) {
        for (dog_page_t *page = shard->queues[bin].first, *next; page != NULL; page = next) {
            next = page->next;
            dog__page_collect(shard, page);
            if (page->used == 0)
                page_retire(shard, page, force);
        }
    }
    DOG_VALIDATE(dog__validate_shard(shard, false, "dog__shard_collect_all"));
}

/* --- Heaps --------------------------------------------------------------------------- */

struct dog_heap dog__default_heap = {
    .magic = DOG_HEAP_MAGIC,
    .name = "default",
};
DOG_API dog_heap_t *const dog_default = &dog__default_heap;

dog_lock_t dog__heaps_lock = DOG_LOCK_INIT;
dog_heap_t *dog__heaps = &dog__default_heap;

/* Under dog__heaps_lock: the last tc_id given, and the live explicit heaps of each
 * thread-cache slot (slot 0 is dog_default's alone). */
static uint64_t heap_ids;
static unsigned slot_heaps[DOG_TCACHE_SLOTS];

/* The slot of a new heap: one that the fewest live heaps share, so that up to
 * DOG_TCACHE_SLOTS - 1 heaps each have their own. Lock held. */
static unsigned slot_take(void)
{
    unsigned best = 1;
    for (unsigned s = 2; s < DOG_TCACHE_SLOTS && slot_heaps[best] != 0; s++)
        if (slot_heaps[s] < slot_heaps[best])
            best = s;
    slot_heaps[best]++;
    return best;
}

dog_heap_t *dog__heap_bad(const dog_heap_t *heap, const char *func)
{
    if (heap != NULL)
        dog__misuse(DOG_MISUSE_BAD_HEAP, heap, "%s(%p): not a live heap (destroyed, or never "
                    "created by dog_heap_new)", func, (const void *)heap);
    return NULL;            /* reported: the caller fails with EINVAL */
}

/* The 0.1 options: a name and a limit. Older callers pass no more (dog_heap_new). */
#define OPTIONS_SIZE_0_1 (offsetof(dog_heap_options_t, limit) + sizeof(size_t))

/* Read size bytes of the caller's options into *o (the rule for structs that grow,
 * include/dogmalloc.h): what we do not know must be zero. */
static bool options_read(dog_heap_options_t *o, const dog_heap_options_t *opts, size_t size)
{
    memset(o, 0, sizeof *o);
    if (opts == NULL)
        return true;
    if (size < OPTIONS_SIZE_0_1) {
        dog__error("dog_heap_new_sized(%p, %zu): options smaller than any version's",
                   (const void *)opts, size);
        return false;
    }
    memcpy(o, opts, size < sizeof *o ? size : sizeof *o);
    for (size_t i = sizeof *o; i < size; i++) {
        if (((const unsigned char *)opts)[i] != 0) {
            dog__error("dog_heap_new_sized(%p, %zu): an option this library (%s) does not "
                       "know is set (byte %zu)", (const void *)opts, size, DOG_VERSION_STRING, i);
            return false;
        }
    }
    if ((o->flags & ~(unsigned)DOG_HEAP_FLAGS_KNOWN) != 0) {
        dog__error("dog_heap_new: flags 0x%x unknown to this library (%s)",
                   o->flags & ~(unsigned)DOG_HEAP_FLAGS_KNOWN, DOG_VERSION_STRING);
        return false;
    }
    if (o->limit != 0 && o->limit < DOG_HEAP_LIMIT_MIN) {
        dog__error("dog_heap_new: a limit of %zu bytes cannot hold a page (at least %zu)",
                   o->limit, DOG_HEAP_LIMIT_MIN);
        return false;
    }
    return true;
}

DOG_API dog_heap_t *dog_heap_new_sized(const dog_heap_options_t *opts, size_t size)
{
    dog_heap_options_t o;
    if (!options_read(&o, opts, size)) {
        errno = EINVAL;
        return NULL;
    }
    if (o.parent != NULL) {
        if (o.parent == &dog__default_heap) {
            dog__error("dog_heap_new: dog_default cannot be a parent (it is never destroyed "
                       "or reset)");
            errno = EINVAL;
            return NULL;
        }
        if (dog__heap_check(o.parent, "dog_heap_new(parent)") == NULL) {
            errno = EINVAL;             /* reported: a dead or bogus parent */
            return NULL;
        }
        if (o.parent->depth + 1 >= DOG_HEAP_DEPTH_MAX) {
            dog__error("dog_heap_new: parent \"%s\" is %u levels deep already (at most %u)",
                       o.parent->name, o.parent->depth, DOG_HEAP_DEPTH_MAX - 1);
            errno = EINVAL;
            return NULL;
        }
    }
    dog_heap_t *heap = dog__meta_alloc(sizeof *heap);
    if (heap == NULL)
        return NULL;
    const char *name = o.name ? o.name : "heap";
    size_t len = 0;     /* strnlen, which gcc -O1 wrongly warns of for the default name */
    while (len < DOG_HEAP_NAME_MAX - 1 && name[len] != '\0')
        len++;
    memcpy(heap->name, name, len);
    heap->name[len] = '\0';
    heap->limit = o.limit;
    heap->on_limit = o.on_limit;
    heap->on_limit_arg = o.on_limit_arg;
    heap->parent = o.parent;
    heap->flags = o.flags;
    heap->on_leak = o.on_leak;
    heap->on_leak_arg = o.on_leak_arg;
    dog__lock_acquire(&dog__heaps_lock);
    if (heap->parent != NULL &&
        (heap->parent->magic != DOG_HEAP_MAGIC || heap->parent->dying)) {
        /* The parent was checked above, but its destroy (or reset, delete) began since:
         * a child now would outlive it. */
        dog__lock_release(&dog__heaps_lock);
        dog__misuse(DOG_MISUSE_BAD_HEAP, heap->parent, "dog_heap_new(parent %p): the parent "
                    "is being destroyed, reset or deleted by another thread",
                    (void *)heap->parent);
        dog__meta_free(heap, sizeof *heap);
        errno = EINVAL;
        return NULL;
    }
    heap->tc_id = ++heap_ids;
    heap->serial = heap->tc_id;     /* the first tc_id: a reset changes only tc_id */
    heap->tc_slot = slot_take();
    heap->magic = DOG_HEAP_MAGIC;
    if (heap->parent != NULL) {         /* the newest child first */
        heap->depth = heap->parent->depth + 1;
        heap->next_sibling = heap->parent->first_child;
        if (heap->next_sibling != NULL)
            heap->next_sibling->prev_sibling = heap;
        heap->parent->first_child = heap;
    }
    heap->list_next = dog__heaps;
    heap->list_prev = NULL;
    dog__heaps->list_prev = heap;
    dog__heaps = heap;
    dog__lock_release(&dog__heaps_lock);
    return heap;
}

/* The 0.1 symbol, for binaries built against the 0.1 header (the macro is the API now). */
DOG_API dog_heap_t *(dog_heap_new)(const dog_heap_options_t *opts)
{
    return dog_heap_new_sized(opts, OPTIONS_SIZE_0_1);
}

/* Warm pages a shard keeps through dog_heap_reset: the first page of each of the first
 * DOG_RESET_KEEP bins in use (the smallest sizes), emptied in place, so that a loop that
 * fills a heap and resets it finds pages mapped and touched. The rest go to the pool. */
#define DOG_RESET_KEEP 8

/* Empty every page of shard (lock held) without visiting a block, for dog_heap_destroy
 * (keep_max 0) and dog_heap_reset: the first page of each of the first keep_max bins in
 * use stays, re-initialised; every other page goes to the pool. The shard starts again
 * as a new one would, with a new token: caches of its past (dead by now:
 * dog__tcache_heap_dead) hold the old one, so no dog_free matches a kept page to them. */
static void shard_empty(dog_shard_t *shard, size_t keep_max)
{
    const char *caller DOG_VALIDATE_ONLY = keep_max ? "dog_heap_reset" : "dog_heap_destroy";
    DOG_VALIDATE(dog__validate_shard(shard, true, caller));
    dog_page_t *all = NULL, *keep = NULL;
    size_t kept = 0, given = 0;
    for (size_t bin = 0; bin <= DOG_BIN_COUNT; bin++) {
        dog_page_queue_t *q = bin < DOG_BIN_COUNT ? &shard->queues[bin] : &shard->full;
        for (dog_page_t *page = q->first, *next; page != NULL; page = next) {
            next = page->next;
            if (DOG_TRACK_ENABLED)
                dog__page_untrack(page);
            if (bin < DOG_BIN_COUNT && page == q->first && kept < keep_max) {
                page->next = keep;
                keep = page;
                kept++;
                continue;
            }
            page->shard = NULL;
            page->heap = NULL;
            page->tc_token = 0;
            page->next = all;
            all = page;
            given++;
        }
        q->first = q->last = NULL;
    }
    for (size_t w = 0; w <= DOG_DIRECT_WSIZE_MAX; w++)
        shard->pages_direct[w] = &dog__page_empty;
    dog__store_relaxed(&shard->xdelayed, NULL);
    shard->token = dog__shard_token_new();
    dog__store_relaxed(&shard->xhomes, 0);      /* the caches of its past are dead */
    shard->pages = kept;
    shard->retire_bins = 0;
    shard->in_use = shard->allocs = shard->frees = 0;
    dog__store_relaxed(&shard->xpublished, 0);
    for (dog_page_t *page = keep, *next; page != NULL; page = next) {
        next = page->next;
        size_t bin = page->bin;
        dog__page_init(page, shard, bin);
        page->tc_token = bin < DOG_TCACHE_BINS ? shard->token : 0;
        bin_push_front(shard, page);
    }
    dog__heap_unmapped(shard->heap, given * DOG_PAGE_SIZE);
    if (all != NULL)
        dog__pool_give(all);
    DOG_VALIDATE(dog__validate_shard(shard, true, caller));
}

static void heap_unlink(dog_heap_t *heap);

/* End the children of heap with end (dog_heap_destroy, or heap_delete), each after its
 * own children (depth-first): a child unlinks itself from heap's list as it goes, and no
 * child can be added meanwhile. The tree is at most DOG_HEAP_DEPTH_MAX deep, which
 * bounds the recursion. */
static void end_children(dog_heap_t *heap, void (*end)(dog_heap_t *child))
{
    for (;;) {
        dog__lock_acquire(&dog__heaps_lock);
        heap->dying = true;             /* no child is added meanwhile (dog_heap_new) */
        dog_heap_t *child = heap->first_child;
        dog__lock_release(&dog__heaps_lock);
        if (child == NULL)
            return;
        end(child);
    }
}

DOG_API void dog_heap_destroy(dog_heap_t *heap)
{
    if (heap == NULL)
        return;
    if (heap == &dog__default_heap) {
        dog__misuse(DOG_MISUSE_BAD_HEAP, heap,
                    "dog_heap_destroy(dog_default): the default heap cannot be destroyed");
        return;
    }
    if (dog__heap_check(heap, "dog_heap_destroy") == NULL)
        return;
    end_children(heap, dog_heap_destroy);
    if (DOG_UNLIKELY(dog__leak_wanted(heap)))
        dog__leak_report(heap, "dog_heap_destroy");   /* visit.c: before anything goes */

    heap_unlink(heap);
    /* Other threads' caches of the heap are dead from here on: no exit or trim flushes
     * into the pages freed below (tcache.h). */
    dog__tcache_heap_dead(heap, heap->tc_id);

    unsigned n = dog__load_acquire(&heap->xshard_count);
    for (unsigned i = 0; i < n; i++) {
        dog_shard_t *shard = dog__load_relaxed(&heap->shards[i]);
        dog__lock_acquire(&shard->lock);
        shard_empty(shard, 0);
        dog__lock_release(&shard->lock);
        dog__meta_free(shard, sizeof *shard);
    }
    dog__huge_free_all(heap);
    DOG_VALIDATE(dog__validate_heap(heap, DOG_VALIDATE_GONE, "dog_heap_destroy"));
    dog__meta_free_late(heap, sizeof *heap);    /* a stale handle stays dead a while */
}

/* The handle of heap dies: out of the heap list and its parent's children, its route in
 * this thread ended, its cache slot given up. */
static void heap_unlink(dog_heap_t *heap)
{
    if (dog__tl_route.heap == heap)
        dog_thread_set_heap(NULL);      /* this thread's dog_malloc goes to dog_default again */
    dog__lock_acquire(&dog__heaps_lock);
    if (heap->parent != NULL) {
        if (heap->prev_sibling != NULL)
            heap->prev_sibling->next_sibling = heap->next_sibling;
        else
            heap->parent->first_child = heap->next_sibling;
        if (heap->next_sibling != NULL)
            heap->next_sibling->prev_sibling = heap->prev_sibling;
    }
    if (heap->list_prev)
        heap->list_prev->list_next = heap->list_next;
    else
        dog__heaps = heap->list_next;
    if (heap->list_next)
        heap->list_next->list_prev = heap->list_prev;
    heap->magic = 0;
    slot_heaps[heap->tc_slot]--;
    dog__lock_release(&dog__heaps_lock);
}

/* dog_heap_delete: the pages of shard that still hold live blocks, taken out of it (lock
 * held) into a list; the others go to the pool. Every block in a cache was freed onto
 * its page's thread free list first (dog__tcache_heap_give_back), so one collection
 * finds the pages' true state. */
static dog_page_t *shard_take_live(dog_shard_t *shard)
{
    dog__shard_collect_all(shard, true);        /* empty pages retire, even the last */
    dog_page_t *live = NULL;
    for (size_t bin = 0; bin <= DOG_BIN_COUNT; bin++) {
        dog_page_queue_t *q = bin < DOG_BIN_COUNT ? &shard->queues[bin] : &shard->full;
        for (dog_page_t *page = q->first, *next; page != NULL; page = next) {
            next = page->next;
            if (page->used == 0) {                          /* kept for retire_wait */
                if (bin < DOG_BIN_COUNT)
                    page_retire(shard, page, true);
                continue;
            }
            page->next = live;
            live = page;
        }
        q->first = q->last = NULL;
    }
    for (size_t w = 0; w <= DOG_DIRECT_WSIZE_MAX; w++)
        shard->pages_direct[w] = &dog__page_empty;
    return live;
}

/* Give dog_default the pages of list, as they are: their live blocks become its blocks,
 * in one of its shards, freed and cached there as any of its blocks are. */
static size_t pages_adopt(dog_page_t *list)
{
    if (list == NULL)
        return 0;
    /* Never NULL: dog_heap_delete made sure that dog_default has a shard, and shards
     * are never taken away. */
    dog_shard_t *shard = dog__shard_acquire(&dog__default_heap);
    size_t pages = 0;
    for (dog_page_t *page = list, *next; page != NULL; page = next) {
        next = page->next;
        page->shard = shard;
        page->heap = &dog__default_heap;
        page->tc_token = page->bin < DOG_TCACHE_BINS ? shard->token : 0;
        page->tc_slot = 0;
        page->in_full = 0;
        page->retire_wait = 0;
        dog__store_relaxed(&page->xnotify, DOG_NOTIFY_NONE);
        page->delayed_next = NULL;
        shard->pages++;
        shard->in_use += (size_t)page->used * page->block_size;
        if (shard->in_use > shard->peak)
            shard->peak = shard->in_use;
        shard->allocs += page->used;        /* allocs - frees stays the blocks in use */
        bin_push_back(shard, page);
        pages++;
    }
    DOG_VALIDATE(dog__validate_shard(shard, true, "dog_heap_delete"));
    dog__lock_release(&shard->lock);
    return pages;
}

/* The heap goes; its live blocks stay, as blocks of dog_default. */
static void heap_delete(dog_heap_t *heap)
{
    end_children(heap, heap_delete);    /* children first, depth-first */
    heap_unlink(heap);
    dog__tcache_heap_give_back(heap);
    unsigned n = dog__load_acquire(&heap->xshard_count);
    size_t moved = 0;
    for (unsigned i = 0; i < n; i++) {
        dog_shard_t *shard = dog__load_relaxed(&heap->shards[i]);
        dog__lock_acquire(&shard->lock);
        dog_page_t *live = shard_take_live(shard);
        dog__lock_release(&shard->lock);
        size_t pages = pages_adopt(live);
        dog__heap_unmapped(heap, pages * DOG_PAGE_SIZE);
        moved += pages * DOG_PAGE_SIZE;
        dog__meta_free(shard, sizeof *shard);
    }
    size_t huge = dog__huge_move_all(heap, &dog__default_heap);
    dog__heap_unmapped(heap, huge);
    moved += huge;
    /* dog_default holds them now: counted, never refused (the memory is held already). */
    dog__fetch_add_relaxed(&dog__default_heap.xtree, moved);
    dog__fetch_add_relaxed(&dog__default_heap.xmapped, moved);
    dog__heap_publish(&dog__default_heap, NULL);
    DOG_VALIDATE(dog__validate_heap(heap, DOG_VALIDATE_GONE, "dog_heap_delete"));
    dog__meta_free_late(heap, sizeof *heap);
}

DOG_API void dog_heap_delete(dog_heap_t *heap)
{
    if (heap == NULL)
        return;
    if (heap == &dog__default_heap) {
        dog__misuse(DOG_MISUSE_BAD_HEAP, heap,
                    "dog_heap_delete(dog_default): the default heap cannot be deleted");
        return;
    }
    if (dog__heap_check(heap, "dog_heap_delete") == NULL)
        return;
    dog_shard_t *shard = dog__shard_acquire(&dog__default_heap);   /* one to adopt into */
    if (shard == NULL) {
        dog__error("dog_heap_delete(%p): no memory for dog_default's first shard; the heap "
                   "stays", (void *)heap);
        errno = ENOMEM;
        return;
    }
    dog__lock_release(&shard->lock);
    heap_delete(heap);
}

DOG_API void dog_heap_reset(dog_heap_t *heap)
{
    if (heap == &dog__default_heap) {
        dog__misuse(DOG_MISUSE_BAD_HEAP, heap,
                    "dog_heap_reset(dog_default): the default heap cannot be reset");
        return;
    }
    if (heap == NULL || dog__heap_check(heap, "dog_heap_reset") == NULL)
        return;
    end_children(heap, dog_heap_destroy);   /* a reset of a parent ends its subtree first */
    dog__lock_acquire(&dog__heaps_lock);
    heap->dying = false;                /* the heap lives on: children may come again */
    dog__lock_release(&dog__heaps_lock);

    /* A new generation first, then the old one's caches die: a thread's next call with
     * the heap makes a new cache, and no old cache is found again (tcache.h). Both under
     * the heaps lock, which fork takes first: a child never sees one without the other. */
    dog__lock_acquire(&dog__heaps_lock);
    uint64_t old_id = heap->tc_id;
    heap->tc_id = ++heap_ids;
    dog__tcache_heap_dead(heap, old_id);
    dog__lock_release(&dog__heaps_lock);

    unsigned n = dog__load_acquire(&heap->xshard_count);
    for (unsigned i = 0; i < n; i++) {
        dog_shard_t *shard = dog__load_relaxed(&heap->shards[i]);
        dog__lock_acquire(&shard->lock);
        shard_empty(shard, DOG_RESET_KEEP);
        dog__lock_release(&shard->lock);
    }
    dog__huge_free_all(heap);
    DOG_VALIDATE(dog__validate_heap(heap, DOG_VALIDATE_QUIET, "dog_heap_reset"));
}

DOG_API dog_heap_t *dog_heap_parent(const dog_heap_t *heap)
{
    heap = dog__heap_check(heap, "dog_heap_parent");
    if (heap == NULL) {
        errno = EINVAL;
        return NULL;
    }
    return heap->parent;
}

DOG_API const char *dog_heap_name(const dog_heap_t *heap)
{
    heap = dog__heap_check(heap, "dog_heap_name");
    if (heap == NULL) {
        errno = EINVAL;     /* a dead heap counts as NULL (DOG_MISUSE_REPORT) */
        return NULL;
    }
    return heap->name;
}
