/* SPDX-License-Identifier: MIT */
/* page_pool.c: empty pages, shared by all heaps, reused before anything new is mapped.
 *
 * Pages come back when a heap is destroyed or a page empties (heap.c:page_retire). The
 * most recent ones stay resident so that a heap rebuilt right after a destroy reuses
 * them without a page fault; a page that stays in the pool longer than the purge delay
 * (DOGMALLOC_PURGE_DELAY, 50 ms by default), or beyond DOG_POOL_RESIDENT_MAX pages, gives
 * its memory back (madvise); beyond DOG_POOL_MAPPED_MAX pages the oldest are unmapped.
 *
 * Fresh pages come from regions of DOG_POOL_REGION_PAGES pages: carved from the address
 * space reserved at start-up (DOGMALLOC_RESERVE) while it lasts, else mapped one region
 * at a time. DOGMALLOC_THP advises each region for or against transparent huge pages. */
#include <errno.h>
#include "options.h"
#include "os.h"
#include "page.h"
#include "page_pool.h"
#include "segmap.h"
#include "validate.h"


static dog_lock_t pool_lock = DOG_LOCK_INIT;
static dog_page_queue_t resident;     /* newest first */
static dog_page_queue_t purged;
static size_t resident_count, purged_count;
/* DOG_SECURE_QUARANTINE: pages given back wait here, newest first, before they join
 * resident. A page in the pool has no shard, so a free into it is refused as a foreign
 * pointer (heap.h: dog__page_is_block); the wait keeps a stale pointer into a destroyed
 * heap from landing in another heap's live block (hardened_malloc quarantines freed
 * slabs for the same reason). Counted in the pool; purged after the purge delay as
 * resident pages are (page_purge is a no-op on a purged page), unmapped by trim. */
static dog_page_queue_t quarantine;
static size_t quarantine_count;
static _Atomic size_t pool_count;
/* Fresh pages are mapped DOG_POOL_REGION_PAGES at a time (one mmap and two trimming
 * munmaps for all of them) and handed out from [region_next, region_end) untouched. */
#define DOG_POOL_REGION_PAGES 8
static char *region_next, *region_end;
/* The address space reserved at start-up (dog__pool_reserve), not yet carved. */
static char *reserve_next, *reserve_end;
/* With DOGMALLOC_THP=on, regions are 2 MiB-aligned, so that each is whole huge pages. */
#define DOG_POOL_THP_ALIGN ((size_t)2 << 20)


#define STAMP(page) ((page)->pool_stamp)

static dog_page_t *queue_pop(dog_page_queue_t *q, bool front)
{
    dog_page_t *page = front ? q->first : q->last;
    if (page != NULL)
        dog__queue_remove(q, page);
    return page;
}

/* Keep the first OS page: it holds the header and the pool's links. In the secure build
 * the guard after the metadata is left out of the range (dog__os_purge may write zeros
 * where madvise fails). */
static void page_purge(dog_page_t *page)
{
    char *base = (char *)page;
    size_t touched = page->touched, meta_end = DOG_GUARD_META_OFF;
    if (DOG_SECURE_GUARDS && touched > meta_end) {
        dog__os_purge(base + DOG_OS_PAGE_SIZE, meta_end - DOG_OS_PAGE_SIZE);
        if (touched > meta_end + DOG_GUARD_SIZE)
            dog__os_purge(base + meta_end + DOG_GUARD_SIZE, touched - meta_end - DOG_GUARD_SIZE);
    } else if (touched > DOG_OS_PAGE_SIZE) {
        dog__os_purge(base + DOG_OS_PAGE_SIZE, touched - DOG_OS_PAGE_SIZE);
    }
    page->touched = DOG_OS_PAGE_SIZE;
}

/* DOG_SECURE_GUARDS: the two guard OS pages of every page of a fresh region (config.h),
 * set once, for as long as the region's pages are mapped (purging leaves them alone, and
 * a page keeps them whatever its size class). Two mprotect calls per page, which make it
 * four areas of the process's mappings (header and bitmaps, guard, blocks, guard), so
 * that vm.max_map_count, 65530 by default, bounds the process to about 16,000 pages,
 * 8 GiB of small blocks. The model is hardened_malloc's
 * guard slabs and mimalloc's MI_SECURE >= 2 guard pages. */
static bool region_guard(char *region, size_t size)
{
    if (!DOG_SECURE_GUARDS)
        return true;
    for (char *page = region; page < region + size; page += DOG_PAGE_SIZE)
        if (!dog__os_protect_none(page + DOG_GUARD_META_OFF, DOG_GUARD_SIZE) ||
            !dog__os_protect_none(page + DOG_GUARD_END_OFF, DOG_GUARD_SIZE))
            return false;
    return true;
}

static void page_unmap(dog_page_t *page)
{
    dog__segmap_set(page, DOG_PAGE_SIZE, DOG_FRAME_NONE, DOG_FRAME_NONE);
    dog__os_unmap(page, DOG_PAGE_SIZE);
    dog__fetch_sub_relaxed(&dog__os_mapped, DOG_PAGE_SIZE);
}

/* Pool lock held: purge what is old or too much, unmap what is beyond the cap. */
static bool pool_expired(const dog_page_t *page, uint64_t now, long delay)
{
    return delay >= 0 && now - STAMP(page) >= (uint64_t)delay;
}

static void pool_balance(uint64_t now)
{
    long delay = dog__option(DOG_OPTION_PURGE_DELAY);      /* -1: never by age */
    while (resident.last != NULL &&
           (resident_count > DOG_POOL_RESIDENT_MAX || pool_expired(resident.last, now, delay))) {
        dog_page_t *page = queue_pop(&resident, false);
        resident_count--;
        uint64_t stamp = STAMP(page);
        page_purge(page);
        dog__queue_push_front(&purged, page);
        STAMP(page) = stamp;
        purged_count++;
    }
    /* Quarantined pages wait resident no longer than the purge delay either. */
    for (dog_page_t *page = quarantine.last; page != NULL && pool_expired(page, now, delay);
         page = page->prev)
        page_purge(page);
    while (resident_count + purged_count > DOG_POOL_MAPPED_MAX && purged.last != NULL) {
        page_unmap(queue_pop(&purged, false));
        purged_count--;
    }
    dog__store_relaxed(&pool_count, resident_count + purged_count + quarantine_count);
}

/* A page from the current region, or from a new one; pool lock held. */
static dog_page_t *region_take(void)
{
    if (region_next == region_end) {
        size_t size = DOG_POOL_REGION_PAGES * DOG_PAGE_SIZE;
        long thp = dog__option(DOG_OPTION_THP);
        char *region = NULL;
        if ((size_t)(reserve_end - reserve_next) >= size) {
            if (dog__os_commit(reserve_next, size))
                region = reserve_next;
            /* Carved either way: a commit that failed may have left the range unmapped
             * (os.h), free for any other mmap of the process to take, and committing it
             * again would map over whatever did. */
            reserve_next += size;
        }
        if (region == NULL)
            region = dog__os_map_aligned(size, thp == DOG_THP_ON ? DOG_POOL_THP_ALIGN
                                                                 : DOG_PAGE_SIZE);
        if (region == NULL)
            return NULL;
        if (thp != DOG_THP_DEFAULT)
            dog__os_advise_thp(region, size, thp == DOG_THP_ON);
        if (!region_guard(region, size)) {
            dog__os_unmap(region, size);
            return NULL;
        }
        if (!dog__segmap_set(region, size, DOG_FRAME_PAGE, DOG_FRAME_PAGE)) {
            dog__segmap_set(region, size, DOG_FRAME_NONE, DOG_FRAME_NONE);
            dog__os_unmap(region, size);
            return NULL;
        }
        dog__fetch_add_relaxed(&dog__os_mapped, size);
        region_next = region;
        region_end = region + size;
    }
    dog_page_t *page = (dog_page_t *)region_next;
    region_next += DOG_PAGE_SIZE;
    return page;
}

#if DOG_DEBUG >= 3
/* DOG_DEBUG >= 3, pool lock held: the pool is what the comments above say. Each list is
 * well formed and counted, and holds pages without an owner: a page in the pool has no
 * shard (so a free into it is refused), no heap, and token 0 (no thread cache matches
 * it: alloc.c, dog_free). A purged page has given back all but its first OS page. The
 * balance keeps the counts within their caps, and pool_count is their sum. */
static void pool_validate(const char *where)
{
    const struct {
        const dog_page_queue_t *q;
        size_t count;
        const char *name;
    } lists[] = {
        { &resident, resident_count, "resident" },
        { &purged, purged_count, "purged" },
        { &quarantine, quarantine_count, "quarantine" },
    };
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
        size_t n = 0;
        const dog_page_t *prev = NULL;
        for (const dog_page_t *page = lists[l].q->first; page != NULL;
             prev = page, page = page->next) {
            if (++n > lists[l].count)
                dog__invariant_fail("page pool", page, where, "%s_count counts the pages of "
                                    "its list: more than %zu (a cycle?)", lists[l].name,
                                    lists[l].count);
            if (page->prev != prev)
                dog__invariant_fail("page pool", page, where, "prev and next agree on the %s "
                                    "list (page.h): prev %p after %p", lists[l].name,
                                    (const void *)page->prev, (const void *)prev);
            if (((uintptr_t)page & DOG_PAGE_MASK) != 0 ||
                dog__segmap_kind(page) != DOG_FRAME_PAGE)
                dog__invariant_fail("page pool", page, where, "a pooled page is a page: "
                                    "aligned, and its frame marked DOG_FRAME_PAGE (segmap.h)");
            if (page->shard != NULL || page->heap != NULL || page->tc_token != 0)
                dog__invariant_fail("page pool", page, where, "a page in the pool has no "
                                    "shard, no heap and token 0 (types.h, alloc.c): shard %p, "
                                    "heap %p", (void *)page->shard, (void *)page->heap);
            if (lists[l].q == &purged && page->touched != DOG_OS_PAGE_SIZE)
                dog__invariant_fail("page pool", page, where, "a purged page keeps only its "
                                    "first OS page (page_purge): touched %zu", page->touched);
        }
        if (lists[l].q->last != prev || n != lists[l].count)
            dog__invariant_fail("page pool", lists[l].q, where, "%s_count and last describe "
                                "the %s list: %zu pages counted, %zu found", lists[l].name,
                                lists[l].name, lists[l].count, n);
    }
    if (resident_count > DOG_POOL_RESIDENT_MAX ||
        resident_count + purged_count > DOG_POOL_MAPPED_MAX ||
        quarantine_count > (DOG_SECURE_QUARANTINE ? DOG_SECURE_QUARANTINE_PAGES : 0))
        dog__invariant_fail("page pool", &resident, where, "the pool's counts keep within "
                            "their caps (pool_balance): %zu resident, %zu purged, %zu "
                            "quarantined", resident_count, purged_count, quarantine_count);
    if (dog__load_relaxed(&pool_count) != resident_count + purged_count + quarantine_count)
        dog__invariant_fail("page pool", &resident, where, "pool_count is the pages of the "
                            "pool's lists: %zu, the lists hold %zu",
                            dog__load_relaxed(&pool_count),
                            resident_count + purged_count + quarantine_count);
    if (region_next > region_end || (size_t)(region_end - region_next) % DOG_PAGE_SIZE != 0 ||
        reserve_next > reserve_end)
        dog__invariant_fail("page pool", region_next, where, "the region and the reserve are "
                            "whole pages not handed out yet ([region_next, region_end), "
                            "[reserve_next, reserve_end))");
}
#endif

dog_page_t *dog__pool_take(void)
{
    dog__lock_acquire(&pool_lock);
    dog_page_t *page = queue_pop(&resident, true);
    if (page != NULL) {
        resident_count--;
    } else if ((page = queue_pop(&purged, true)) != NULL) {
        purged_count--;
    }
    if (page != NULL) {
        pool_balance(dog__os_clock_ms());
        page->delayed_next = NULL;
    } else {
        page = region_take();   /* fresh memory: the header is zero */
    }
    DOG_VALIDATE(pool_validate("dog__pool_take"));
    dog__lock_release(&pool_lock);
    return page;
}

void dog__pool_give(dog_page_t *first)
{
    uint64_t now = dog__os_clock_ms();
    dog__lock_acquire(&pool_lock);
    for (dog_page_t *page = first, *next; page != NULL; page = next) {
        next = page->next;
        if (DOG_SECURE_QUARANTINE) {
            dog__queue_push_front(&quarantine, page);
            STAMP(page) = now;
            if (++quarantine_count <= DOG_SECURE_QUARANTINE_PAGES)
                continue;
            page = queue_pop(&quarantine, false);     /* the one that waited longest */
            quarantine_count--;
        }
        dog__queue_push_front(&resident, page);
        STAMP(page) = now;
        resident_count++;
    }
    pool_balance(now);
    DOG_VALIDATE(pool_validate("dog__pool_give"));
    dog__lock_release(&pool_lock);
}

void dog__pool_trim(void)
{
    dog__lock_acquire(&pool_lock);
    dog_page_t *page;
    while ((page = queue_pop(&resident, true)) != NULL)
        page_unmap(page);
    while ((page = queue_pop(&purged, true)) != NULL)
        page_unmap(page);
    while ((page = queue_pop(&quarantine, true)) != NULL)
        page_unmap(page);
    resident_count = purged_count = quarantine_count = 0;
    dog__store_relaxed(&pool_count, 0);
    if (region_next != region_end) {      /* the pages of the region not handed out yet */
        size_t rest = (size_t)(region_end - region_next);
        dog__segmap_set(region_next, rest, DOG_FRAME_NONE, DOG_FRAME_NONE);
        dog__os_unmap(region_next, rest);
        dog__fetch_sub_relaxed(&dog__os_mapped, rest);
        region_next = region_end = NULL;
    }
    DOG_VALIDATE(pool_validate("dog__pool_trim"));
    dog__lock_release(&pool_lock);
}

/* Init (before any page exists): reserve bytes of address space, rounded up to whole
 * regions, for region_take to carve. Nothing is counted as mapped until carved. */
void dog__pool_reserve(size_t bytes)
{
    size_t region = DOG_POOL_REGION_PAGES * DOG_PAGE_SIZE;
    if (bytes == 0 || bytes > SIZE_MAX / 2)
        return;
    bytes = (bytes + region - 1) / region * region;
    size_t align = dog__option(DOG_OPTION_THP) == DOG_THP_ON ? DOG_POOL_THP_ALIGN : DOG_PAGE_SIZE;
    char *base = dog__os_reserve(bytes, align);
    if (base == NULL)
        return;             /* no reserve: pages are mapped as they are needed */
    dog__lock_acquire(&pool_lock);
    reserve_next = base;
    reserve_end = base + bytes;
    dog__lock_release(&pool_lock);
}

size_t dog__pool_pages(void)
{
    return dog__load_relaxed(&pool_count);
}

bool dog__pool_fork_lock(void)
{
    return dog__lock_fork_acquire(&pool_lock);
}

void dog__pool_fork_unlock(void)
{
    dog__lock_fork_release(&pool_lock);
}
