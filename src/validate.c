/* SPDX-License-Identifier: MIT */
/* validate.c: checks the invariants written on the structs (types.h, page.h, heap.h,
 * tcache.h, huge.h), in DOG_DEBUG >= 3 builds only (validate.h says where they run).
 *
 * Each check quotes, in its message, the invariant it checks and where it is written, so
 * that a failure reads as the promise that was broken. The checks read only what the
 * caller's locks make stable: a page's fields under its shard's lock, the thread free
 * lists and delayed lists by their heads (other threads only push in front of them, and
 * only the lock holder takes them), a thread cache by its own thread. The idea is
 * mimalloc's debug build (MI_DEBUG 3: mi_heap_validate, built on the page visitor of
 * its heap.c); the code is our own. */
#include <stdarg.h>
#include "validate.h"

#if DOG_DEBUG >= 3
#include "heap.h"
#include "huge.h"
#include "misuse.h"
#include "segmap.h"
#include "size_class.h"
#include "tcache.h"

void dog__invariant_fail(const char *what, const void *obj, const char *where,
                         const char *fmt, ...)
{
    char buf[440];
    size_t n = dog__format(buf, sizeof buf, "invariant broken in %s %p (found by %s): ", what,
                           obj, where);
    va_list ap;
    va_start(ap, fmt);
    dog__vformat(buf + n, sizeof buf - n, fmt, ap);
    va_end(ap);
    dog__corrupt(obj, "%s", buf);
}

#define PAGE_FAIL(...)  dog__invariant_fail("page", page, where, __VA_ARGS__)
#define SHARD_FAIL(...) dog__invariant_fail("shard", shard, where, __VA_ARGS__)
#define HEAP_FAIL(...)  dog__invariant_fail("heap", heap, where, __VA_ARGS__)
#define TC_FAIL(...)    dog__invariant_fail("thread cache", tc, where, __VA_ARGS__)

/* --- A page ---------------------------------------------------------------------------- */

/* The first set bit of map's words [from, to), or SIZE_MAX if they are all zero. */
static size_t zero_from(_Atomic uint64_t *map, size_t from, size_t to)
{
    for (size_t w = from; w < to; w++)
        if (dog__load_relaxed(&map[w]) != 0)
            return w * 64 + (size_t)__builtin_ctzll(dog__load_relaxed(&map[w]));
    return SIZE_MAX;
}

/* The index of block b of page, which must be the start of a carved block of the page
 * (what both free lists may hold), else a report naming list. */
static size_t list_block(dog_page_t *page, const dog_block_t *b, const char *list,
                         const char *where)
{
    /* A block of the page, before anything reads it. */
    if (dog__page_of(b) != page)
        PAGE_FAIL("every block on the %s is within the page (types.h): %p is not", list,
                  (const void *)b);
    uintptr_t off = (uintptr_t)b - (uintptr_t)page;
    if (off < page->block_start)
        PAGE_FAIL("every block on the %s is within the page's blocks: %p lies before "
                  "block_start (%u)", list, (const void *)b, page->block_start);
    off -= page->block_start;
    size_t index = off / page->block_size;
    if (index * page->block_size != off)
        PAGE_FAIL("every block on the %s is at an exact block start: %p is %zu bytes into "
                  "block %zu", list, (const void *)b, (size_t)(off - index * page->block_size),
                  index);
    if (index >= page->capacity)
        PAGE_FAIL("every block on the %s is carved (index < capacity): %p is block %zu, "
                  "capacity %u", list, (const void *)b, index, page->capacity);
    if (dog__page_index(page, off) != index)
        PAGE_FAIL("block_magic indexes every block exactly (page.h: dog__page_index): block "
                  "%zu of %u bytes gives %zu", index, page->block_size,
                  dog__page_index(page, off));
    return index;
}

/* types.h, page.h, page.c: dog__page_init. */
static void page_header(dog_page_t *page, const char *where)
{
    /* types.h: a page is a DOG_PAGE_SIZE-aligned region, in a frame of the address map
     * that says so (segmap.h: DOG_FRAME_PAGE, its header starts the frame). */
    if (((uintptr_t)page & DOG_PAGE_MASK) != 0)
        PAGE_FAIL("a page is DOG_PAGE_SIZE-aligned (types.h)");
    if (dog__segmap_kind(page) != DOG_FRAME_PAGE)
        PAGE_FAIL("the address map marks a page's frame DOG_FRAME_PAGE (segmap.h): it holds %u",
                  dog__segmap_kind(page));
    /* types.h: shard is the owner, NULL only while pooled; heap is shard->heap. */
    dog_shard_t *shard = page->shard;
    if (shard == NULL)
        PAGE_FAIL("a page in use has an owner (types.h: shard is NULL only while pooled)");
    if (page->heap != shard->heap)
        PAGE_FAIL("heap == shard->heap (types.h): heap %p, its shard's %p",
                  (void *)page->heap, (void *)shard->heap);
    /* The size class: block_size is its bin's, and block_magic indexes it exactly. */
    if (page->bin >= DOG_BIN_COUNT)
        PAGE_FAIL("bin < DOG_BIN_COUNT: bin %u", page->bin);
    size_t size = dog__bin_size(page->bin);
    if (page->block_size != size)
        PAGE_FAIL("block_size is the size of the page's bin (size_class.h): bin %u holds "
                  "%zu bytes, block_size is %u", page->bin, size, page->block_size);
    if (page->block_magic != ((uint64_t)1 << 48) / size + 1)
        PAGE_FAIL("block_magic == 2^48 / block_size + 1 (page.h: dog__page_index)");
    /* page.c (dog__page_init): blocks start at an offset aligned to the largest power of
     * two dividing their size (16 bytes to 64 KiB), after the header and the bitmaps
     * (types.h: "this header, the live bitmap, then blocks"), and reserved blocks fit
     * before the end (the end guard, in the secure build). */
    size_t align = size & (~size + 1);
    align = align > 65536 ? 65536 : align < 16 ? 16 : align;
    if (page->block_start % align != 0)
        PAGE_FAIL("block_start is aligned to the largest power of two dividing block_size "
                  "(page.c: dog__page_init): %u is not a multiple of %zu", page->block_start,
                  align);
    size_t words = ((size_t)page->reserved + 63) / 64;
    size_t meta = offsetof(dog_page_t, live) +
                  (DOG_SECURE_FREED ? DOG_BITMAP_WORDS_MAX * 8 : 0) + words * 8;
    if (DOG_SECURE_GUARDS && meta < DOG_GUARD_META_OFF + DOG_GUARD_SIZE)
        meta = DOG_GUARD_META_OFF + DOG_GUARD_SIZE;
    if (page->block_start < meta)
        PAGE_FAIL("blocks start after the header and its bitmaps (types.h): block_start %u, "
                  "metadata ends at %zu", page->block_start, meta);
    size_t end = DOG_SECURE_GUARDS ? DOG_GUARD_END_OFF : DOG_PAGE_SIZE;
    if (page->block_start >= end || page->reserved != (end - page->block_start) / size)
        PAGE_FAIL("reserved is the number of blocks that fit (types.h): %u, where %zu fit",
                  page->reserved, page->block_start < end ? (end - page->block_start) / size : 0);
    /* types.h: capacity <= reserved; and used counts carved blocks only. */
    if (page->capacity > page->reserved)
        PAGE_FAIL("capacity <= reserved (types.h): capacity %u, reserved %u", page->capacity,
                  page->reserved);
    if (page->used > page->capacity)
        PAGE_FAIL("used <= capacity (types.h: |free| + used == capacity): used %u, capacity %u",
                  page->used, page->capacity);
    /* types.h: touched is the extent that may be resident, so it covers every carved
     * block (page.c: carved). */
    size_t carved_end = page->block_start + (size_t)page->capacity * size;
    if (page->touched < carved_end || page->touched > DOG_PAGE_SIZE)
        PAGE_FAIL("touched covers the carved blocks and no more than the page (page.c: "
                  "carved): touched %zu, carved blocks end at %zu", page->touched, carved_end);
    /* types.h: the thread-cache token is the shard's for a page of a cached bin, else 0;
     * tc_slot is the heap's. */
    uint64_t token = page->bin < DOG_TCACHE_BINS ? shard->token : 0;
    if (page->tc_token != token)
        PAGE_FAIL("tc_token is its shard's token if its bin is cached, else 0 (types.h): "
                  "%zu, expected %zu", (size_t)page->tc_token, (size_t)token);
    if (page->heap != NULL && page->tc_slot != page->heap->tc_slot)
        PAGE_FAIL("tc_slot == heap->tc_slot (types.h): %u, the heap's %u", page->tc_slot,
                  page->heap->tc_slot);
    if (!DOG_SECURE_LINKS && page->secret != 0)
        PAGE_FAIL("secret is 0 in a build without DOG_SECURE_LINKS (types.h)");
    if (page->in_full > 1 || page->remote_fed > 1)
        PAGE_FAIL("in_full and remote_fed are flags (0 or 1): %u, %u", page->in_full,
                  page->remote_fed);
    int notify = dog__load_relaxed(&page->xnotify);
    if (notify != DOG_NOTIFY_NONE && notify != DOG_NOTIFY_WANTED && notify != DOG_NOTIFY_QUEUED)
        PAGE_FAIL("xnotify is one of DOG_NOTIFY_* (types.h): %d", notify);
}

/* types.h: popcount(live) == used, and no bit at or past capacity. The secure build's
 * freed bitmap (page.h): a parked block is live, so freed implies live. */
static void page_bitmaps(dog_page_t *page, const char *where)
{
    size_t capacity = page->capacity, words = (capacity + 63) / 64;
    size_t all = ((size_t)page->reserved + 63) / 64, live = 0;
    for (size_t w = 0; w < words; w++) {
        uint64_t bits = dog__load_relaxed(&page->live[w]);
        if (capacity - w * 64 < 64) {
            uint64_t past = bits & ~(((uint64_t)1 << (capacity - w * 64)) - 1);
            if (past != 0)
                PAGE_FAIL("the live bitmap has bits only below capacity (types.h: one bit per "
                          "carved block): block %zu of capacity %zu is live",
                          w * 64 + (size_t)__builtin_ctzll(past), capacity);
        }
        live += (size_t)__builtin_popcountll(bits);
    }
    size_t stray = zero_from(page->live, words, all);
    if (stray != SIZE_MAX)
        PAGE_FAIL("the live bitmap has bits only below capacity (types.h): block %zu of "
                  "capacity %zu is live", stray, capacity);
    if (live != page->used)
        PAGE_FAIL("popcount(live) == used (types.h): popcount %zu, used %u", live, page->used);
    /* DOG_SECURE_FREED: no page-wide rule. The freed bits are found by address (page.h),
     * and a block on the local free list keeps whichever bit it had; only a parked block's
     * bit is known (set): page_thread_list and tcache_block check those. */
}

/* DOG_SECURE_FREED: is block b parked (its freed bit set: page.h)? True in a build
 * without the bitmap, where only its first word tells. */
static bool freed_bit(dog_page_t *page, const void *b)
{
    return !DOG_SECURE_FREED ||
           (dog__load_relaxed(dog__page_freed_word(page, b)) & dog__page_freed_bit(b)) != 0;
}

/* types.h: |free| + used == capacity, and every block on free is a carved block of the
 * page, at a block start, with its live bit clear, on the list once. The walk stops after
 * capacity - used blocks: a list longer than that has a block twice (it cannot end), one
 * shorter has lost blocks. */
static void page_local_list(dog_page_t *page, const char *where)
{
    size_t limit = (size_t)page->capacity - page->used, n = 0;
    for (dog_block_t *b = page->free; b != NULL; n++) {
        size_t index = list_block(page, b, "local free list", where);
        if (dog__page_live(page, index))
            PAGE_FAIL("a block on the local free list has its live bit clear (types.h): "
                      "block %zu (%p) is live", index, (void *)b);
        if (n == limit)
            PAGE_FAIL("|free| + used == capacity (types.h): more than the capacity - used = "
                      "%zu free blocks on the local free list (a block on it twice?), %p the "
                      "next", limit, (void *)b);
        dog__page_fill_check(page, b);      /* DOG_SECURE_FILL: its zeros (page.h) */
        b = dog__block_next(b, page->secret);
    }
    if (n != limit)
        PAGE_FAIL("|free| + used == capacity (types.h): %zu blocks on the local free list, "
                  "used %u, capacity %u", n, page->used, page->capacity);
}

/* types.h, block.h: a block on the thread free list is a carved block that is still live
 * (until collected), linked with key ^ next, the list ending at the page header; each is
 * counted in used, so there are at most used of them. Other threads push in front of the
 * head meanwhile; what lies behind it stays until the lock holder collects it. */
static void page_thread_list(dog_page_t *page, const char *where)
{
    const uint64_t key = dog__block_key_get();
    const dog_block_t *end = (const dog_block_t *)(const void *)page;
    size_t n = 0;
    dog_block_t *b = dog__load_acquire(&page->xthread_free);
    while (b != NULL && b != end) {
        size_t index = list_block(page, b, "thread free list", where);
        if (n++ == page->used)
            PAGE_FAIL("live blocks == used - |xthread_free| (types.h): more than used = %u "
                      "blocks on the thread free list (a block on it twice?)", page->used);
        if (!dog__page_live(page, index))
            PAGE_FAIL("a block on the thread free list keeps its live bit until collected "
                      "(types.h): block %zu (%p) is not live", index, (void *)b);
        if (!freed_bit(page, b))
            PAGE_FAIL("a block on the thread free list is parked (page.h: its freed bit is "
                      "set): block %zu", index);
        uint64_t word = dog__block_word(b);
        if (!dog__block_parked_word(word, dog__block_cookie(b)) || word == dog__block_cookie(b))
            PAGE_FAIL("a block on the thread free list holds key ^ the next block (block.h): "
                      "block %zu (%p) holds %p", index, (void *)b, (void *)(uintptr_t)word);
        b = (dog_block_t *)(uintptr_t)(word ^ key);
    }
    if (b == NULL && n != 0)
        PAGE_FAIL("the thread free list ends at the page header (block.h), not at NULL");
}

void dog__validate_page(dog_page_t *page, const char *where)
{
    page_header(page, where);
    page_bitmaps(page, where);
    page_local_list(page, where);
    page_thread_list(page, where);
}

/* --- A shard ----------------------------------------------------------------------------- */

void dog__validate_shard(dog_shard_t *shard, bool deep, const char *where)
{
    /* page.h: the empty page's free list is always empty, so the fast path has one test;
     * it never has a block, carved or not. */
    if (dog__page_empty.free != NULL || dog__page_empty.capacity != 0 ||
        dog__page_empty.used != 0 || dog__page_empty.reserved != 0 ||
        dog__load_relaxed(&dog__page_empty.xthread_free) != NULL)
        SHARD_FAIL("dog__page_empty has no block and an empty free list (page.h)");
    /* types.h: a token is >= 2 (1 is a homeless cache's, 0 a page no cache may hold). */
    if (shard->token < 2)
        SHARD_FAIL("token >= 2 (types.h): %zu", (size_t)shard->token);
    /* Every queue (the bins', then the full list): prev and next agree, last is the last
     * page, each page's owner is this shard, its state matches the list it is on, and
     * the pages add up to the shard's counts. */
    size_t pages = 0, in_use = 0, used = 0;
    for (size_t bin = 0; bin <= DOG_BIN_COUNT; bin++) {
        dog_page_queue_t *q = bin < DOG_BIN_COUNT ? &shard->queues[bin] : &shard->full;
        dog_page_t *prev = NULL;
        for (dog_page_t *page = q->first; page != NULL; prev = page, page = page->next) {
            if (++pages > shard->pages)
                SHARD_FAIL("pages counts the pages of its queues and full list (types.h): "
                           "more than %zu found (a page on two lists, or a cycle?) in %s %zu",
                           shard->pages, bin < DOG_BIN_COUNT ? "bin" : "the full list", bin);
            if (page->prev != prev)
                SHARD_FAIL("prev and next agree on every queue (page.h): page %p of %s %zu has "
                           "prev %p after %p", (void *)page,
                           bin < DOG_BIN_COUNT ? "bin" : "the full list", bin,
                           (void *)page->prev, (void *)prev);
            if (page->shard != shard)
                SHARD_FAIL("each page's owner is the shard whose queue holds it (types.h): page "
                           "%p has shard %p", (void *)page, (void *)page->shard);
            int notify = dog__load_relaxed(&page->xnotify);
            if (bin < DOG_BIN_COUNT) {
                if (page->bin != bin || page->in_full)
                    SHARD_FAIL("a bin queue holds pages of its bin that are not full (types.h: "
                               "in_full): page %p of bin %u (in_full %u) in queue %zu",
                               (void *)page, page->bin, page->in_full, bin);
                /* heap.c: only page_to_full sets WANTED, and only page_unfull and
                 * process_delayed clear it, both as the page leaves the full list. */
                if (notify == DOG_NOTIFY_WANTED)
                    SHARD_FAIL("a page off the full list has xnotify != WANTED (heap.c: the "
                               "delayed-free protocol): page %p", (void *)page);
                /* heap.c (page_retire): an empty page goes to the pool, unless it is the
                 * only page of its bin, kept for retire_wait slow paths (other pages may
                 * join the bin meanwhile), or the delayed-free protocol still holds it. */
                if (page->used == 0 && !(q->first == page && page->next == NULL) &&
                    page->retire_wait == 0 && notify == DOG_NOTIFY_NONE)
                    SHARD_FAIL("an empty page stays in its bin's queue only as the bin's only "
                               "page or while it waits (heap.c: page_retire): page %p of bin "
                               "%zu, retire_wait 0", (void *)page, bin);
            } else {
                /* heap.c (page_to_full): a page on the full list has no free block and
                 * nothing left to carve, and waits for the delayed-free protocol. */
                if (!page->in_full)
                    SHARD_FAIL("the full list holds pages with in_full set (types.h): page %p",
                               (void *)page);
                if (page->free != NULL || page->capacity != page->reserved)
                    SHARD_FAIL("a full page has no free block and nothing left to carve "
                               "(heap.c: page_to_full): page %p, free %p, capacity %u of %u",
                               (void *)page, (void *)page->free, page->capacity,
                               page->reserved);
                if (notify == DOG_NOTIFY_NONE)
                    SHARD_FAIL("a page on the full list has xnotify WANTED or QUEUED (heap.c: "
                               "page_to_full): page %p", (void *)page);
            }
            in_use += (size_t)page->used * page->block_size;
            used += page->used;
            if (deep)
                dog__validate_page(page, where);
        }
        if (q->last != prev)
            SHARD_FAIL("last is the last page of the queue (page.h): %p, the last is %p (%s %zu)",
                       (void *)q->last, (void *)prev,
                       bin < DOG_BIN_COUNT ? "bin" : "the full list", bin);
    }
    if (pages != shard->pages)
        SHARD_FAIL("pages counts the pages of its queues and full list (types.h): %zu, %zu "
                   "found", shard->pages, pages);
    /* types.h: "Statistics of small blocks, exact at every lock release". */
    if (shard->in_use != in_use)
        SHARD_FAIL("in_use is the sum over its pages of used * block_size (types.h: exact at "
                   "every lock release): %zu, the sum is %zu", shard->in_use, in_use);
    if (shard->allocs - shard->frees != used)
        SHARD_FAIL("allocs - frees is the sum of its pages' used (types.h: exact at every lock "
                   "release): %zu - %zu, the sum is %zu", shard->allocs, shard->frees, used);
    if (shard->peak < shard->in_use)
        SHARD_FAIL("peak >= in_use: %zu < %zu", shard->peak, shard->in_use);
    /* types.h: pages_direct[w] is the first page of the bin of w words (w = 0 is served
     * by the smallest bin), or &dog__page_empty. */
    for (size_t w = 0; w <= DOG_DIRECT_WSIZE_MAX; w++) {
        size_t bin = dog__bin_of(w != 0 ? w : 1);
        dog_page_t *first = shard->queues[bin].first;
        if (shard->pages_direct[w] != (first != NULL ? first : &dog__page_empty))
            SHARD_FAIL("pages_direct[w] is the first page of the bin of w words, or "
                       "&dog__page_empty (types.h): w %zu holds %p, bin %zu's first is %p", w,
                       (void *)shard->pages_direct[w], bin, (void *)first);
    }
    if (DOG_BIN_COUNT < 64 && (shard->retire_bins >> DOG_BIN_COUNT) != 0)
        SHARD_FAIL("retire_bins names bins only (types.h): 0x%x above bin %u",
                   (unsigned)(shard->retire_bins >> DOG_BIN_COUNT), DOG_BIN_COUNT);
    /* types.h, heap.c: a page on the shard's xdelayed list is one of its own, QUEUED. */
    size_t n = 0;
    for (dog_page_t *page = dog__load_acquire(&shard->xdelayed); page != NULL;
         page = page->delayed_next) {
        if (n++ == shard->pages)
            SHARD_FAIL("the delayed-free list holds pages of the shard, once each (heap.c): "
                       "more than its %zu pages", shard->pages);
        if (page->shard != shard || dog__load_relaxed(&page->xnotify) != DOG_NOTIFY_QUEUED)
            SHARD_FAIL("a page on the delayed-free list is the shard's and QUEUED (types.h): "
                       "page %p, shard %p, xnotify %d", (void *)page, (void *)page->shard,
                       dog__load_relaxed(&page->xnotify));
    }
}

/* --- A heap ------------------------------------------------------------------------------- */

/* The heap's huge list (huge lock held): returns the bytes of its mappings. While the heap
 * is in use, a free marks its block free before it leaves the list, and a resize takes
 * its block off the list while it works (huge.c), so only the list's shape and owners are
 * checked then; a quiet heap's list is exact. */
static size_t huge_list(dog_heap_t *heap, int state, const char *where)
{
    size_t n = 0, bytes = 0, mapped = 0;
    dog_huge_t *prev = NULL;
    for (dog_huge_t *h = heap->huge_first; h != NULL; prev = h, h = h->next) {
        if (++n > heap->huge_blocks)
            HEAP_FAIL("huge_blocks counts the blocks of the huge list (types.h): more than %zu "
                      "(a cycle?)", heap->huge_blocks);
        if (h->prev != prev)
            HEAP_FAIL("prev and next agree on the huge list (huge.h): block %p has prev %p "
                      "after %p", (void *)h, (void *)h->prev, (void *)prev);
        if (h->heap != heap || h->map_base != (char *)h)
            HEAP_FAIL("a huge block on the heap's list is the heap's, its header at its "
                      "mapping's base (huge.h): %p has heap %p, map_base %p", (void *)h,
                      (void *)h->heap, (void *)h->map_base);
        if (state == DOG_VALIDATE_LIVE)
            continue;
        const char *ptr = dog__track_ref_read((void *const *)&h->ptr);
        size_t off = (size_t)(ptr - h->map_base);
        if (dog__load_relaxed(&h->xstate) != DOG_HUGE_LIVE)
            HEAP_FAIL("a block on the huge list is DOG_HUGE_LIVE (huge.h): %p", (void *)h);
        /* huge.h: the header starts a frame marked HUGE, or, for an over-aligned block,
         * the frame below the block's first, which is marked HUGE_PREV. */
        bool plain = off >= DOG_HUGE_HEADER && off < DOG_PAGE_SIZE &&
                     dog__segmap_kind(h) == DOG_FRAME_HUGE;
        bool over = off == DOG_PAGE_SIZE && dog__segmap_kind(h) == DOG_FRAME_HUGE_CONT &&
                    dog__segmap_kind(ptr) == DOG_FRAME_HUGE_PREV;
        if (!plain && !over)
            HEAP_FAIL("a huge block's header starts a frame that masking or HUGE_PREV finds "
                      "(huge.h): block %p, %zu bytes past its header", (const void *)ptr, off);
        size_t guard = DOG_SECURE_GUARDS ? DOG_GUARD_SIZE : 0;    /* huge.c: GUARD */
        if (h->map_size % DOG_OS_PAGE_SIZE != 0 || h->usable != h->map_size - guard - off)
            HEAP_FAIL("usable is the bytes from ptr to the end of the mapping or its guard "
                      "(huge.h): block %p, usable %zu, mapping of %zu bytes", (const void *)ptr, h->usable,
                      h->map_size);
        bytes += h->usable;
        mapped += h->map_size;
    }
    /* huge.c counts both sides of every block that joins or leaves the list; a deleted
     * heap's blocks leave it uncounted (dog__huge_move_all), and nobody reads its counters
     * again. */
    if (state != DOG_VALIDATE_GONE && heap->huge_allocs - heap->huge_frees != heap->huge_blocks)
        HEAP_FAIL("huge_allocs - huge_frees == huge_blocks (huge.c): %zu - %zu, %zu blocks",
                  heap->huge_allocs, heap->huge_frees, heap->huge_blocks);
    if (state != DOG_VALIDATE_LIVE && (n != heap->huge_blocks || bytes != heap->huge_bytes))
        HEAP_FAIL("huge_blocks and huge_bytes count the huge list (types.h): %zu blocks of "
                  "%zu bytes, counted %zu of %zu", n, bytes, heap->huge_blocks,
                  heap->huge_bytes);
    return mapped;
}

void dog__validate_huge(dog_heap_t *heap, int state, const char *where)
{
    dog__lock_acquire(&heap->huge_lock);
    huge_list(heap, state, where);
    dog__lock_release(&heap->huge_lock);
}

void dog__validate_heap(dog_heap_t *heap, int state, const char *where)
{
    if (heap->magic != (state == DOG_VALIDATE_GONE ? 0 : DOG_HEAP_MAGIC))
        HEAP_FAIL("magic is DOG_HEAP_MAGIC while the heap is live, 0 once destroyed (types.h)");
    unsigned count = dog__load_acquire(&heap->xshard_count);
    if (count > DOG_SHARDS_MAX)
        HEAP_FAIL("xshard_count <= DOG_SHARDS_MAX: %u", count);
    size_t pages = 0;
    for (unsigned i = 0; i < count && state != DOG_VALIDATE_GONE; i++) {
        dog_shard_t *shard = dog__load_relaxed(&heap->shards[i]);
        if (shard == NULL || shard->index != i || shard->heap != heap)
            HEAP_FAIL("shards[0 .. xshard_count) exist, each the heap's with its own index "
                      "(types.h): shards[%u] is %p", i, (void *)shard);
        dog__lock_acquire(&shard->lock);
        dog__validate_shard(shard, true, where);
        pages += shard->pages;
        dog__lock_release(&shard->lock);
    }
    dog__lock_acquire(&heap->huge_lock);
    size_t huge = huge_list(heap, state, where);
    dog__lock_release(&heap->huge_lock);
    if (state == DOG_VALIDATE_LIVE)
        return;
    /* types.h: xmapped is the bytes held from the OS, pages and huge mappings; xtree adds
     * the descendants' (none here: a reset or destroy ends the children first). */
    size_t mapped = dog__load_relaxed(&heap->xmapped), tree = dog__load_relaxed(&heap->xtree);
    if (mapped != pages * DOG_PAGE_SIZE + huge)
        HEAP_FAIL("xmapped is the bytes of its pages and huge mappings (types.h): %zu, where "
                  "%zu pages and %zu bytes of huge mappings make %zu", mapped, pages, huge,
                  pages * DOG_PAGE_SIZE + huge);
    if (heap->first_child == NULL && tree != mapped)
        HEAP_FAIL("xtree is xmapped plus the descendants' (types.h): %zu for a heap without "
                  "children that holds %zu", tree, mapped);
}

/* --- A thread cache ----------------------------------------------------------------------- */

/* tcache.h: a cached block is a live block of a page of the cache's heap, in the bin it is
 * cached in, marked with its cookie (and parked, in the secure build). Read without the
 * page's lock: the fields read are fixed while the page has a live block, but capacity,
 * which only grows meanwhile. */
static void tcache_block(const dog_tcache_t *tc, size_t bin, const void *p, const char *where)
{
    if (p == NULL || dog__segmap_kind(p) != DOG_FRAME_PAGE)
        TC_FAIL("a cached block is a block of a page (tcache.h): %p in bin %zu", p, bin);
    dog_page_t *page = dog__page_of(p);
    if (page->shard == NULL || page->heap != tc->heap || page->bin != bin)
        TC_FAIL("a cached block is of a page of the cache's heap, in its own bin (tcache.h): "
                "%p in bin %zu is of page %p (heap %p, bin %u)", p, bin, (void *)page,
                (void *)page->heap, page->bin);
    uintptr_t off = (uintptr_t)p - (uintptr_t)page - page->block_start;
    size_t index = off / page->block_size;
    if (index * page->block_size != off ||
        index >= __atomic_load_n(&page->capacity, __ATOMIC_RELAXED))
        TC_FAIL("a cached block is a carved block, at its start (tcache.h): %p", p);
    if (!dog__page_live(page, index))
        TC_FAIL("blocks in a cache are live for their page (tcache.h): %p is not", p);
    if (!dog__block_cached(p))
        TC_FAIL("a cached block carries its cookie, key ^ its address (tcache.h): %p holds %p",
                p, (void *)(uintptr_t)dog__block_word(p));
    if (!freed_bit(page, p))
        TC_FAIL("a cached block is parked (page.h: its freed bit is set): %p", p);
}

void dog__validate_tcache(const dog_tcache_t *tc, size_t bin, const char *where)
{
    if (tc == NULL || tc == &dog__tcache_none || dog__load_acquire(&tc->xdead))
        return;
    /* heap_id may be its heap's previous tc_id: a reset gives the heap a new one before
     * it marks the old generation's caches dead (heap.c: dog_heap_reset), and a thread
     * exit may flush its cache in between. The slot is the heap's for its life. */
    const dog_heap_t *heap = tc->heap;
    if (tc->slot != heap->tc_slot)
        TC_FAIL("a cache's slot is its heap's tc_slot (tcache.h): %u, the heap's %u", tc->slot,
                heap->tc_slot);
    if (tc->home_token == DOG_TCACHE_NO_HOME ? tc->home != (const void *)tc
                                             : tc->home->token != tc->home_token ||
                                                   tc->home->heap != tc->heap)
        TC_FAIL("home is a shard of the cache's heap whose token is home_token, or the cache "
                "itself until its first refill (tcache.h): home %p", (void *)tc->home);
    size_t from = bin < DOG_TCACHE_BINS ? bin : 0, to = bin < DOG_TCACHE_BINS ? bin + 1
                                                                        : DOG_TCACHE_BINS;
    for (size_t b = from; b < to; b++) {
        const dog_tcache_bin_t *tb = &tc->bins[b];
        /* tcache.h: the bins' ranges lie back to back in bin order in one flat array. */
        void **start = b == 0 ? (void **)tc->slots : tc->bins[b - 1].slots + tc->bins[b - 1].cap;
        if (tb->slots != start)
            TC_FAIL("the bins' ranges lie back to back in bin order (tcache.h): bin %zu", b);
        uint32_t count = __atomic_load_n(&tb->count, __ATOMIC_RELAXED);
        if (tb->cap < 2 || tb->cap > DOG_TCACHE_CAP_MAX || count > tb->cap)
            TC_FAIL("a bin holds count <= cap blocks, 2 <= cap <= DOG_TCACHE_CAP_MAX "
                    "(tcache.h): bin %zu, count %u, cap %u", b, count, tb->cap);
        for (uint32_t i = 0; i < count; i++) {
            tcache_block(tc, b, tb->slots[i], where);
            /* A block in a bin twice would be handed out twice: only in a whole-cache
             * walk, whose callers are rare (stats, trim). */
            for (uint32_t j = 0; bin == DOG_TCACHE_BINS && j < i; j++)
                if (tb->slots[j] == tb->slots[i])
                    TC_FAIL("a block is in its cache once (tcache.h): %p in bin %zu twice",
                            tb->slots[i], b);
        }
    }
}

#endif
