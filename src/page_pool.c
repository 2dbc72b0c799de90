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


/* Three locks, none of them held by a thread that another one waits for while that thread
 * is in a system call, except where the waiter would have to make the same call:
 *   pool_lock    the queues and counts below; never held across a system call.
 *   work_lock    held by the one thread that purges and unmaps pooled pages (pool_work);
 *                every other thread only tries it and leaves the work to that one.
 *   region_lock  the region being carved and the reserve; held across the mmap of a new
 *                region, which a thread that waits for it needs as much (the pool had no
 *                page for either of them).
 * No thread holds pool_lock and waits for another of them; fork's prepare handler takes
 * region_lock, work_lock, then pool_lock, so that no work is halfway done in the child. */
static dog_lock_t pool_lock = DOG_LOCK_INIT;
static dog_lock_t work_lock = DOG_LOCK_INIT;
static dog_lock_t region_lock = DOG_LOCK_INIT;
static dog_page_queue_t resident;     /* newest first */
static dog_page_queue_t purged;
static size_t resident_count, purged_count;
/* DOG_SECURE_QUARANTINE: pages given back wait here, newest first, before they join
 * resident. A page in the pool has no shard, so a free into it is refused as a foreign
 * pointer (heap.h: dog__page_is_block); the wait keeps a stale pointer into a destroyed
 * heap from landing in another heap's live block (hardened_malloc quarantines freed
 * slabs for the same reason). Counted in the pool; purged after the purge delay as
 * resident pages are (page_purge is a no-op on a purged page), unmapped by trim. While
 * pool_work purges some of them in place, none leaves (quarantine_busy): a page may wait
 * longer than DOG_SECURE_QUARANTINE_PAGES gives, never less. */
static dog_page_queue_t quarantine;
static size_t quarantine_count;
static bool quarantine_busy;
/* Pages that pool_work took out of resident to purge, on their way to purged. */
static size_t purging_count;
static _Atomic size_t pool_count;
/* Fresh pages are mapped DOG_POOL_REGION_PAGES at a time (one mmap and two trimming
 * munmaps for all of them) and handed out from [region_next, region_end) untouched
 * (region_lock). */
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

/* Unmap a list of pages linked by next, none of them in the pool any more. */
static void unmap_list(dog_page_t *page)
{
    while (page != NULL) {
        dog_page_t *next = page->next;
        page_unmap(page);
        page = next;
    }
}

static bool pool_expired(const dog_page_t *page, uint64_t now, long delay)
{
    return delay >= 0 && now - STAMP(page) >= (uint64_t)delay;
}

/* Pool lock held: the count that dog__pool_pages reports. */
static void count_publish(void)
{
    dog__store_relaxed(&pool_count,
                       resident_count + purged_count + quarantine_count + purging_count);
}

/* Pool lock held: the pages that have waited out the quarantine join resident (unless
 * some of them are being purged in place: then later). */
static void quarantine_release(uint64_t now)
{
    while (!quarantine_busy && quarantine_count > DOG_SECURE_QUARANTINE_PAGES) {
        dog_page_t *page = queue_pop(&quarantine, false);     /* the one that waited longest */
        quarantine_count--;
        dog__queue_push_front(&resident, page);
        STAMP(page) = now;
        resident_count++;
    }
}

/* What pool_work does outside the pool lock. */
typedef struct pool_work {
    dog_page_t *purge;          /* from resident, to purge then push onto purged */
    dog_page_t *unmap;          /* from purged, beyond DOG_POOL_MAPPED_MAX */
    dog_page_t *in_place[DOG_SECURE_QUARANTINE_PAGES];  /* quarantined, purged where they are */
    unsigned in_place_count;
} pool_work_t;

/* Pool and work locks held: take out what is old or too much (the purge delay, the
 * resident and mapped caps). */
static bool work_pick(pool_work_t *w, uint64_t now)
{
    long delay = dog__option(DOG_OPTION_PURGE_DELAY);      /* -1: never by age */
    w->purge = w->unmap = NULL;
    w->in_place_count = 0;
    dog_page_t **tail = &w->purge;      /* oldest first, as they leave resident */
    while (resident.last != NULL &&
           (resident_count > DOG_POOL_RESIDENT_MAX || pool_expired(resident.last, now, delay))) {
        dog_page_t *page = queue_pop(&resident, false);
        resident_count--;
        purging_count++;
        *tail = page;
        tail = &page->next;
    }
    *tail = NULL;
    /* Quarantined pages wait resident no longer than the purge delay either. */
    for (dog_page_t *page = quarantine.last;
         page != NULL && pool_expired(page, now, delay) &&
         w->in_place_count < DOG_SECURE_QUARANTINE_PAGES;
         page = page->prev)
        if (page->touched > DOG_OS_PAGE_SIZE)
            w->in_place[w->in_place_count++] = page;
    quarantine_busy = w->in_place_count != 0;
    while (resident_count + purged_count + purging_count > DOG_POOL_MAPPED_MAX &&
           purged.last != NULL) {
        dog_page_t *page = queue_pop(&purged, false);
        purged_count--;
        page->next = w->unmap;
        w->unmap = page;
    }
    count_publish();
    return w->purge != NULL || w->unmap != NULL || w->in_place_count != 0;
}

/* Pool lock held, work taken by the caller (dog__lock_try succeeded): purge what is old
 * or too much and unmap what is beyond the cap, with the pool lock released while the
 * system calls run. Returns with the pool lock released and work_lock free. */
static void pool_work(uint64_t now)
{
    pool_work_t w;
    bool any = work_pick(&w, now);
    dog__lock_release(&pool_lock);
    if (any) {
        for (dog_page_t *page = w.purge; page != NULL; page = page->next)
            page_purge(page);
        for (unsigned i = 0; i < w.in_place_count; i++)
            page_purge(w.in_place[i]);
        unmap_list(w.unmap);
        dog__lock_acquire(&pool_lock);
        for (dog_page_t *page = w.purge, *next; page != NULL; page = next) {
            next = page->next;
            uint64_t stamp = STAMP(page);
            dog__queue_push_front(&purged, page);
            STAMP(page) = stamp;
            purged_count++;
            purging_count--;
        }
        quarantine_busy = false;
        quarantine_release(now);
        count_publish();
        dog__lock_release(&pool_lock);
    }
    dog__lock_release(&work_lock);
}

/* Pool lock held: release it, after the pool's work if no other thread is doing it. */
static void pool_release(uint64_t now)
{
    if (dog__lock_try(&work_lock))
        pool_work(now);
    else
        dog__lock_release(&pool_lock);
}

/* A page from the current region, or from a new one; region lock held. */
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
    /* The resident and mapped caps are not checked: a give or take whose thread finds
     * work_lock busy leaves the pool over them until the next pool_work. */
    if (!quarantine_busy &&
        quarantine_count > (DOG_SECURE_QUARANTINE ? DOG_SECURE_QUARANTINE_PAGES : 0))
        dog__invariant_fail("page pool", &quarantine, where, "the quarantine keeps within "
                            "its size unless pages in it are being purged (quarantine_busy): "
                            "%zu quarantined", quarantine_count);
    size_t held = resident_count + purged_count + quarantine_count + purging_count;
    if (dog__load_relaxed(&pool_count) != held)
        dog__invariant_fail("page pool", &resident, where, "pool_count is the pages of the "
                            "pool's lists and those being purged: %zu, they hold %zu",
                            dog__load_relaxed(&pool_count), held);
}

/* Region lock held. */
static void region_validate(const char *where)
{
    if (region_next > region_end || (size_t)(region_end - region_next) % DOG_PAGE_SIZE != 0 ||
        reserve_next > reserve_end)
        dog__invariant_fail("page pool", region_next, where, "the region and the reserve are "
                            "whole pages not handed out yet ([region_next, region_end), "
                            "[reserve_next, reserve_end))");
}
#endif

dog_page_t *dog__pool_take(void)
{
    uint64_t now = dog__os_clock_ms();      /* not under the lock (a vDSO call, or not) */
    dog__lock_acquire(&pool_lock);
    dog_page_t *page = queue_pop(&resident, true);
    if (page != NULL) {
        resident_count--;
    } else if ((page = queue_pop(&purged, true)) != NULL) {
        purged_count--;
    }
    count_publish();
    DOG_VALIDATE(pool_validate("dog__pool_take"));
    if (page != NULL) {
        pool_release(now);
        page->delayed_next = NULL;
        return page;
    }
    dog__lock_release(&pool_lock);
    dog__lock_acquire(&region_lock);
    page = region_take();   /* fresh memory: the header is zero */
    DOG_VALIDATE(region_validate("dog__pool_take"));
    dog__lock_release(&region_lock);
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
            quarantine_count++;
            quarantine_release(now);
            continue;
        }
        dog__queue_push_front(&resident, page);
        STAMP(page) = now;
        resident_count++;
    }
    count_publish();
    DOG_VALIDATE(pool_validate("dog__pool_give"));
    pool_release(now);
}

void dog__pool_trim(void)
{
    dog__lock_acquire(&work_lock);      /* no page is being purged in place meanwhile */
    dog__lock_acquire(&pool_lock);
    dog_page_t *all = NULL, *page;
    dog_page_queue_t *queues[] = { &resident, &purged, &quarantine };
    for (size_t i = 0; i < sizeof queues / sizeof queues[0]; i++)
        while ((page = queue_pop(queues[i], true)) != NULL) {
            page->next = all;
            all = page;
        }
    resident_count = purged_count = quarantine_count = 0;
    count_publish();
    DOG_VALIDATE(pool_validate("dog__pool_trim"));
    dog__lock_release(&pool_lock);
    dog__lock_release(&work_lock);
    unmap_list(all);
    dog__lock_acquire(&region_lock);
    char *rest_at = region_next;            /* the pages of the region not handed out yet */
    size_t rest = (size_t)(region_end - region_next);
    region_next = region_end = NULL;
    dog__lock_release(&region_lock);
    if (rest != 0) {
        dog__segmap_set(rest_at, rest, DOG_FRAME_NONE, DOG_FRAME_NONE);
        dog__os_unmap(rest_at, rest);
        dog__fetch_sub_relaxed(&dog__os_mapped, rest);
    }
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
    dog__lock_acquire(&region_lock);
    reserve_next = base;
    reserve_end = base + bytes;
    dog__lock_release(&region_lock);
}

size_t dog__pool_pages(void)
{
    return dog__load_relaxed(&pool_count);
}

bool dog__pool_fork_lock(void)
{
    bool all = dog__lock_fork_acquire(&region_lock);
    all &= dog__lock_fork_acquire(&work_lock);
    all &= dog__lock_fork_acquire(&pool_lock);
    return all;
}

void dog__pool_fork_unlock(void)
{
    dog__lock_fork_release(&pool_lock);
    dog__lock_fork_release(&work_lock);
    dog__lock_fork_release(&region_lock);
}
