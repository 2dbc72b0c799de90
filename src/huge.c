/* SPDX-License-Identifier: MIT */
/* huge.c: blocks above DOG_SMALL_SIZE_MAX go straight to the OS, one mapping each, with
 * a header at a frame start so that dog_free() needs no size (the seed's C shim paid a
 * 16-byte header on every block for this; here only huge blocks have one).
 *
 * Mapping and faulting fresh memory on every request is what makes naive allocators
 * lose large-block workloads 5x (DESIGN.md), so freed mappings go to a cache
 * (DOG_HUGE_CACHE_*) that splits and merges them and hands them out again, resident.
 * realloc grows into the cached frames after a block, or in place with mremap, or into
 * a cached mapping (a copy), or moves the pages without copying them. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "heap.h"
#include "huge.h"
#include "os.h"
#include "page_pool.h"
#include "segmap.h"
#include "validate.h"

/* init.c */
void dog__init(void);

#define DOG_HUGE_CACHE_MS 1000      /* cached mappings unused this long are unmapped */

static dog_lock_t cache_lock = DOG_LOCK_INIT;
static dog_huge_t *cache_first, *cache_last;    /* newest first */
static size_t cache_count;
static _Atomic size_t cache_bytes;

static size_t round_os(size_t n)
{
    return (n + DOG_OS_PAGE_SIZE - 1) & ~(size_t)(DOG_OS_PAGE_SIZE - 1);
}

/* DOG_SECURE_GUARDS: the last OS page of every huge mapping, a live block's or a cached
 * one's, is inaccessible, so that a linear overflow off the end of a huge block faults at
 * the first byte past its usable size (mimalloc's MI_SECURE and hardened_malloc put a
 * guard after large allocations too). A mapping's size counts its guard; the block's
 * usable bytes stop before it. Whatever moves a mapping's end moves its guard: a split or
 * a trim sets the new guard before the old one goes; a join or a growth clears the guard
 * that ends up inside first (mremap takes one memory area, and a guard is one of its
 * own). Where the OS refuses a guard (out of memory areas, vm.max_map_count) a fresh
 * mapping or a split is refused; a trim or a growth, which cannot be undone, leaves its
 * mapping without a guard, which is no worse than the default build. errno is kept. */
#define GUARD ((size_t)(DOG_SECURE_GUARDS ? DOG_GUARD_SIZE : 0))

/* The last OS page of the mapping [base, base + map_size) becomes its guard (on) or
 * memory again (!on). */
static bool guard_turn(char *base, size_t map_size, bool on)
{
    if (!DOG_SECURE_GUARDS)
        return true;
    int saved = errno;
    char *guard = base + map_size - GUARD;
    bool done = on ? dog__os_protect_none(guard, GUARD) : dog__os_protect_rw(guard, GUARD);
    errno = saved;
    return done;
}

static bool guard_set(char *base, size_t map_size)
{
    return guard_turn(base, map_size, true);
}

static bool guard_clear(char *base, size_t map_size)
{
    return guard_turn(base, map_size, false);
}

/* The usable bytes of h: from its ptr to its mapping's end, or to the guard. */
static size_t usable_of(const dog_huge_t *h)
{
    return (size_t)(h->map_base + h->map_size - GUARD - h->ptr);
}

static void unlink_from(dog_huge_t **first, dog_huge_t **last, dog_huge_t *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        *first = h->next;
    if (h->next)
        h->next->prev = h->prev;
    else if (last != NULL)
        *last = h->prev;
    h->next = h->prev = NULL;
}

static void push_front(dog_huge_t **first, dog_huge_t **last, dog_huge_t *h)
{
    h->prev = NULL;
    h->next = *first;
    if (*first)
        (*first)->prev = h;
    else if (last != NULL)
        *last = h;
    *first = h;
}

static void unmap_range(char *base, size_t size)
{
    dog__segmap_set(base, size, DOG_FRAME_NONE, DOG_FRAME_NONE);
    dog__os_unmap(base, size);
    dog__fetch_sub_relaxed(&dog__os_mapped, size);
}

/* Cut a mapping down to size bytes, giving the tail back to the OS. The frames that the
 * tail covered entirely are no longer ours. */
static void trim_tail(char *base, size_t map_size, size_t size)
{
    if (size >= map_size)
        return;
    guard_set(base, size);      /* refused: the mapping has none (see GUARD) */
    uintptr_t keep_frames = ((uintptr_t)base + size + DOG_PAGE_MASK) & ~(uintptr_t)DOG_PAGE_MASK;
    uintptr_t end = (uintptr_t)base + map_size;
    if (keep_frames < end)
        dog__segmap_set((void *)keep_frames, end - keep_frames, DOG_FRAME_NONE, DOG_FRAME_NONE);
    dog__os_unmap(base + size, map_size - size);
    dog__fetch_sub_relaxed(&dog__os_mapped, map_size - size);
}

/* Grow the mapping [base, base + old) that holds a huge block whose header is at base to
 * size bytes: in place if the OS can, else by moving its pages (mremap, no copy) to a new
 * 512 KiB-aligned range. The address map follows. Returns the new base, or NULL with the
 * mapping unchanged. The guard is grow_mapping's. */
static char *remap_grow(char *base, size_t old, size_t size, bool may_move)
{
    uintptr_t old_end = ((uintptr_t)base + old + DOG_PAGE_MASK) & ~(uintptr_t)DOG_PAGE_MASK;
    uintptr_t new_end = (uintptr_t)base + size;
    if (dog__os_remap_inplace(base, old, size)) {
        if (new_end <= old_end ||
            dog__segmap_set((void *)old_end, new_end - old_end, DOG_FRAME_HUGE_CONT,
                            DOG_FRAME_HUGE_CONT)) {
            dog__fetch_add_relaxed(&dog__os_mapped, size - old);
            return base;
        }
        dog__segmap_set((void *)old_end, new_end - old_end, DOG_FRAME_NONE, DOG_FRAME_NONE);
        dog__os_remap_inplace(base, size, old);
        return NULL;
    }
    if (!may_move)
        return NULL;
    /* The old range leaves the map before the move: once mremap has moved the pages,
     * another thread may map that range at once and mark it as its own. */
    char *dst = dog__os_map_aligned(size, DOG_PAGE_SIZE);
    if (dst == NULL)
        return NULL;
    if (dog__segmap_set(dst, size, DOG_FRAME_HUGE, DOG_FRAME_HUGE_CONT)) {
        dog__segmap_set(base, old, DOG_FRAME_NONE, DOG_FRAME_NONE);
        if (dog__os_remap_move(base, old, dst, size)) {
            dog__fetch_add_relaxed(&dog__os_mapped, size - old);
            return dst;
        }
        dog__segmap_set(base, old, DOG_FRAME_HUGE, DOG_FRAME_HUGE_CONT);
    }
    dog__segmap_set(dst, size, DOG_FRAME_NONE, DOG_FRAME_NONE);
    dog__os_unmap(dst, size);
    return NULL;
}

/* remap_grow, with the guard (GUARD) moved to the new end; on failure it is set again at
 * the old one. */
static char *grow_mapping(char *base, size_t old, size_t size, bool may_move)
{
    if (!guard_clear(base, old))
        return NULL;
    char *moved = remap_grow(base, old, size, may_move);
    if (moved != NULL)
        guard_set(moved, size);
    else
        guard_set(base, old);
    return moved;
}

/* --- The cache of freed mappings ----------------------------------------------------- */

/* The cache is a small span allocator over freed mappings, in the manner of the page heaps
 * of tcmalloc and jemalloc's extents, reduced to a list: a mapping taken for a smaller
 * block is split at a frame boundary and its tail stays cached, a block shrunk by realloc
 * leaves its tail here, a freed mapping merges with the cached ones next to it, and a
 * block grown by realloc absorbs the cached mapping that follows it. Each piece keeps its
 * pages resident, so none of this faults memory in or hands it back to the OS; only
 * eviction (age, count, bytes) unmaps. Pieces that came from separate mmaps may merge
 * into a range that the kernel keeps as two VMAs, which mremap refuses: growing such a
 * range falls back to a fresh mapping or a copy, as any failed mremap does. */

static size_t round_frame(size_t n)
{
    return (n + DOG_PAGE_MASK) & ~(size_t)DOG_PAGE_MASK;
}

/* Make [at, at + size) (frame aligned) a free mapping with its header at at. */
static dog_huge_t *piece_init(char *at, size_t size)
{
    dog_huge_t *t = (dog_huge_t *)at;
    dog__track_undefined(t, sizeof *t);     /* it may lie where a freed block was */
    dog__store_relaxed(&t->xstate, DOG_HUGE_FREE);
    t->map_base = at;
    t->map_size = size;
    t->ptr = at + DOG_HUGE_HEADER;
    t->usable = 0;
    t->heap = NULL;
    t->next = t->prev = NULL;
    dog__segmap_set(at, DOG_PAGE_SIZE, DOG_FRAME_HUGE, DOG_FRAME_HUGE);   /* leaf exists */
    return t;
}

/* Cut the mapping of h (header at its base) after keep bytes, rounded up to a frame, and
 * return the tail as a free mapping, or NULL (h unchanged) if it would be less than a
 * frame. */
static dog_huge_t *split_tail(dog_huge_t *h, size_t keep)
{
    size_t cut = round_frame(keep);
    if (cut >= h->map_size || h->map_size - cut < DOG_PAGE_SIZE || !guard_set(h->map_base, cut))
        return NULL;
    dog_huge_t *t = piece_init(h->map_base + cut, h->map_size - cut);
    h->map_size = cut;
    return t;
}

/* The free mapping second, which starts where first ends, becomes part of first: its
 * header's frame is an interior one now. The inverse of split_tail. first's guard must be
 * memory again (join). */
static void merge(dog_huge_t *first, dog_huge_t *second)
{
    dog__segmap_set(second->map_base, DOG_PAGE_SIZE, DOG_FRAME_HUGE_CONT, DOG_FRAME_HUGE_CONT);
    first->map_size += second->map_size;
}

/* merge, with first's guard made memory first. False, with nothing changed, if the OS
 * refused. */
static bool join(dog_huge_t *first, dog_huge_t *second)
{
    if (!guard_clear(first->map_base, first->map_size))
        return false;
    merge(first, second);
    return true;
}

#if DOG_DEBUG >= 3
/* DOG_DEBUG >= 3, cache lock held: the cache is what this file says of it. Its list is
 * well formed and counted (cache_count, cache_bytes), within its caps once evicted
 * (cache_evict runs after every insert that could pass them). Each entry is a free mapping
 * (DOG_HUGE_FREE, no heap) whose header starts it, in a frame marked HUGE, with the block
 * at DOG_HUGE_HEADER (cache_put keeps no other), and no two entries touch: "Cached
 * neighbours were merged when they came in" (cache_insert), unless the OS refused to
 * clear a guard for the merge (DOG_SECURE_GUARDS: not checked then). */
static void cache_validate(const char *where)
{
    size_t n = 0, bytes = 0;
    const dog_huge_t *prev = NULL;
    for (const dog_huge_t *h = cache_first; h != NULL; prev = h, h = h->next) {
        if (++n > cache_count)
            dog__invariant_fail("huge cache", h, where, "cache_count counts the cached "
                                "mappings: more than %zu (a cycle?)", cache_count);
        if (h->prev != prev)
            dog__invariant_fail("huge cache", h, where, "prev and next agree on the cache "
                                "(huge.h): prev %p after %p", (void *)h->prev,
                                (const void *)prev);
        if (dog__load_relaxed(&h->xstate) != DOG_HUGE_FREE || h->heap != NULL)
            dog__invariant_fail("huge cache", h, where, "a cached mapping is free and has no "
                                "heap (huge.h: heap is NULL while cached)");
        if (h->map_base != (const char *)h || ((uintptr_t)h & DOG_PAGE_MASK) != 0 ||
            h->ptr != h->map_base + DOG_HUGE_HEADER || h->map_size == 0 ||
            h->map_size % DOG_OS_PAGE_SIZE != 0 || dog__segmap_kind(h) != DOG_FRAME_HUGE)
            dog__invariant_fail("huge cache", h, where, "a cached mapping's header starts it, "
                                "in a frame marked HUGE, its block DOG_HUGE_HEADER in "
                                "(cache_put): %zu bytes, the map says %u", h->map_size,
                                dog__segmap_kind(h));
        for (const dog_huge_t *e = cache_first; !DOG_SECURE_GUARDS && e != h; e = e->next)
            if (e->map_base + e->map_size == h->map_base ||
                h->map_base + h->map_size == e->map_base)
                dog__invariant_fail("huge cache", h, where, "cached neighbours are merged "
                                    "(cache_insert): %p touches %p", (const void *)h,
                                    (const void *)e);
        bytes += h->map_size;
    }
    if (cache_last != prev || n != cache_count || bytes != dog__load_relaxed(&cache_bytes))
        dog__invariant_fail("huge cache", cache_first, where, "cache_last, cache_count and "
                            "cache_bytes describe the cache: %zu mappings of %zu bytes found, "
                            "%zu of %zu counted", n, bytes, cache_count,
                            dog__load_relaxed(&cache_bytes));
    if (cache_count > DOG_HUGE_CACHE_ENTRIES || bytes > DOG_HUGE_CACHE_BYTES)
        dog__invariant_fail("huge cache", cache_first, where, "the cache keeps within "
                            "DOG_HUGE_CACHE_ENTRIES and _BYTES (cache_evict): %zu mappings, "
                            "%zu bytes", cache_count, bytes);
}
#endif

/* Cache lock held: remove h from the cache. */
static void cache_unlink(dog_huge_t *h)
{
    unlink_from(&cache_first, &cache_last, h);
    cache_count--;
    dog__fetch_sub_relaxed(&cache_bytes, h->map_size);
}

/* Cache lock held: the cached mapping that starts at addr, or NULL. */
static dog_huge_t *cache_at(const char *addr)
{
    for (dog_huge_t *e = cache_first; e != NULL; e = e->next)
        if (e->map_base == addr)
            return e;
    return NULL;
}

/* Cache lock held: take out the entries that are too old or beyond the caps, as a list
 * for cache_unmap, so that no munmap runs under the lock. */
static dog_huge_t *cache_evict(uint64_t now)
{
    dog_huge_t *victims = NULL;
    while (cache_last != NULL &&
           (cache_count > DOG_HUGE_CACHE_ENTRIES ||
            dog__load_relaxed(&cache_bytes) > DOG_HUGE_CACHE_BYTES ||
            now - cache_last->stamp > DOG_HUGE_CACHE_MS)) {
        dog_huge_t *h = cache_last;
        cache_unlink(h);
        h->next = victims;
        victims = h;
    }
    return victims;
}

static void cache_unmap(dog_huge_t *victims)
{
    while (victims != NULL) {
        dog_huge_t *next = victims->next;
        unmap_range(victims->map_base, victims->map_size);
        victims = next;
    }
}

/* Cache lock held: add the free mapping h, merged with the cached mappings just before
 * and just after it (their frames become one mapping's), as the newest entry. */
static void cache_insert(dog_huge_t *h, uint64_t now)
{
    dog_huge_t *e;
    /* Cached neighbours were merged when they came in: one on each side at most. */
    if ((e = cache_at(h->map_base + h->map_size)) != NULL && join(h, e))
        cache_unlink(e);            /* e's size is what the cache counted */
    for (e = cache_first; e != NULL; e = e->next) {
        if (e->map_base + e->map_size == h->map_base) {
            if (guard_clear(e->map_base, e->map_size)) {    /* else both stay, apart */
                cache_unlink(e);        /* by the size the cache counted */
                merge(e, h);
                h = e;
            }
            break;
        }
    }
    h->stamp = now;
    push_front(&cache_first, &cache_last, h);
    cache_count++;
    dog__fetch_add_relaxed(&cache_bytes, h->map_size);
}

/* A cached mapping for a block that needs map_size bytes: the smallest one that is large
 * enough, with what it has beyond map_size (whole frames) left in the cache; else the
 * largest one, grown with mremap (its pages are resident already, so only the growth is
 * faulted in). NULL if the cache is empty or the growth fails. */
static dog_huge_t *cache_take(size_t map_size)
{
    if (dog__load_relaxed(&cache_bytes) == 0)
        return NULL;
    dog__lock_acquire(&cache_lock);
    dog_huge_t *best = NULL, *largest = NULL;
    for (dog_huge_t *h = cache_first; h != NULL; h = h->next) {
        if (h->map_size >= map_size && (best == NULL || h->map_size < best->map_size))
            best = h;
        if (largest == NULL || h->map_size > largest->map_size)
            largest = h;
    }
    if (best == NULL)
        best = largest;
    if (best != NULL) {
        cache_unlink(best);
        if (best->map_size > map_size) {
            dog_huge_t *tail = split_tail(best, map_size);
            if (tail != NULL)
                cache_insert(tail, dog__os_clock_ms());     /* the list stays newest first */
        }
    }
    DOG_VALIDATE(cache_validate("cache_take"));
    dog__lock_release(&cache_lock);
    if (best == NULL)
        return NULL;
    if (best->map_size < map_size) {
        char *base = grow_mapping(best->map_base, best->map_size, map_size, true);
        if (base == NULL) {
            unmap_range(best->map_base, best->map_size);    /* a fresh mapping will serve */
            return NULL;
        }
        best = (dog_huge_t *)base;      /* the header moved with the pages, if they moved */
        best->map_base = base;
        best->ptr = base + DOG_HUGE_HEADER;
        best->map_size = map_size;
    }
    return best;
}

/* Is there a cached mapping of at least map_size bytes? */
static bool cache_fits(size_t map_size)
{
    if (dog__load_relaxed(&cache_bytes) < map_size)
        return false;
    dog__lock_acquire(&cache_lock);
    dog_huge_t *h = cache_first;
    while (h != NULL && h->map_size < map_size)
        h = h->next;
    dog__lock_release(&cache_lock);
    return h != NULL;
}

/* h, a free mapping, goes to the cache (or back to the OS if it is too large to keep). */
static void cache_put(dog_huge_t *h)
{
    /* Too large to keep, or over-aligned (its header is not where a cached mapping keeps
     * it): back to the OS. */
    if (h->map_size > DOG_HUGE_CACHE_BYTES / 2 || h->ptr != h->map_base + DOG_HUGE_HEADER) {
        unmap_range(h->map_base, h->map_size);
        return;
    }
    uint64_t now = dog__os_clock_ms();
    dog__lock_acquire(&cache_lock);
    cache_insert(h, now);
    dog_huge_t *victims = cache_evict(now);
    DOG_VALIDATE(cache_validate("cache_put"));
    dog__lock_release(&cache_lock);
    cache_unmap(victims);
}

/* Grow the mapping of h, a live block, to map_size bytes with the cached mapping that
 * follows it, if there is one and it is large enough; what is left of it beyond a frame
 * stays cached. The pages are resident already: no system call, no fault. */
static bool absorb_next(dog_huge_t *h, size_t map_size)
{
    if (dog__load_relaxed(&cache_bytes) < map_size - h->map_size)
        return false;
    dog__lock_acquire(&cache_lock);
    dog_huge_t *e = cache_at(h->map_base + h->map_size);
    bool done = e != NULL && h->map_size + e->map_size >= map_size && join(h, e);
    if (done) {
        cache_unlink(e);            /* e's size is what the cache counted */
        dog_huge_t *tail = split_tail(h, map_size);
        if (tail != NULL)
            cache_insert(tail, dog__os_clock_ms());     /* the list stays newest first */
    }
    DOG_VALIDATE(cache_validate("absorb_next"));
    dog__lock_release(&cache_lock);
    return done;
}

void dog__huge_trim(void)
{
    dog__lock_acquire(&cache_lock);
    dog_huge_t *h;
    while ((h = cache_first) != NULL) {
        unlink_from(&cache_first, &cache_last, h);
        dog__fetch_sub_relaxed(&cache_bytes, h->map_size);
        unmap_range(h->map_base, h->map_size);
    }
    cache_count = 0;
    DOG_VALIDATE(cache_validate("dog__huge_trim"));
    dog__lock_release(&cache_lock);
}

size_t dog__huge_cache_bytes(void)
{
    return dog__load_relaxed(&cache_bytes);
}

bool dog__huge_fork_lock(void)
{
    return dog__lock_fork_acquire(&cache_lock);
}

void dog__huge_fork_unlock(void)
{
    dog__lock_fork_release(&cache_lock);
}

/* --- Allocation ---------------------------------------------------------------------- */

/* Where the user block starts in a mapping that the header starts (align < 512 KiB). */
static size_t user_offset(size_t align)
{
    return align > DOG_HUGE_HEADER ? align : DOG_HUGE_HEADER;
}

/* The mapping that a block of size bytes aligned to align keeps (and that its heap's
 * budget is charged): header and block, or for align >= 512 KiB one frame for the header
 * below the aligned block; then the guard, if any. */
static size_t mapping_size(size_t size, size_t align)
{
    return (align < DOG_PAGE_SIZE ? round_os(user_offset(align) + size)
                                  : DOG_PAGE_SIZE + round_os(size)) + GUARD;
}

/* Map a block of map_size bytes (mapping_size): the header at a frame start, ptr at
 * user_offset (align < 512 KiB), or ptr aligned to align with the header one frame below
 * it (align >= 512 KiB). Sizes and alignments are at most DOG_HUGE_SIZE_MAX. */
static dog_huge_t *huge_map(size_t map_size, size_t align, bool *fresh)
{
    *fresh = true;
    if (align < DOG_PAGE_SIZE) {
        size_t offset = user_offset(align);
        dog_huge_t *h = offset == DOG_HUGE_HEADER ? cache_take(map_size) : NULL;
        if (h != NULL) {
            *fresh = false;
            return h;
        }
        char *base = dog__os_map_aligned(map_size, DOG_PAGE_SIZE);
        if (base == NULL)
            return NULL;
        if (!dog__segmap_set(base, map_size, DOG_FRAME_HUGE, DOG_FRAME_HUGE_CONT) ||
            !guard_set(base, map_size)) {
            /* A mapping across two leaves may have marked the first: clear what was set. */
            dog__segmap_set(base, map_size, DOG_FRAME_NONE, DOG_FRAME_NONE);
            dog__os_unmap(base, map_size);
            return NULL;
        }
        dog__fetch_add_relaxed(&dog__os_mapped, map_size);
        h = (dog_huge_t *)base;
        h->map_base = base;
        h->map_size = map_size;
        h->ptr = base + offset;
        return h;
    }
    char *raw = dog__os_map_aligned(align - DOG_PAGE_SIZE + map_size, align);
    if (raw == NULL)
        return NULL;
    char *ptr = raw + align, *base = ptr - DOG_PAGE_SIZE;
    if (base > raw)
        dog__os_unmap(raw, (size_t)(base - raw));
    if (!dog__segmap_set(base, map_size, DOG_FRAME_HUGE_CONT, DOG_FRAME_HUGE_CONT) ||
        !dog__segmap_set(ptr, DOG_PAGE_SIZE, DOG_FRAME_HUGE_PREV, DOG_FRAME_HUGE_PREV) ||
        !guard_set(base, map_size)) {
        dog__segmap_set(base, map_size, DOG_FRAME_NONE, DOG_FRAME_NONE);
        dog__os_unmap(base, map_size);
        return NULL;
    }
    dog__fetch_add_relaxed(&dog__os_mapped, map_size);
    dog_huge_t *h = (dog_huge_t *)base;
    h->map_base = base;
    h->map_size = map_size;
    h->ptr = ptr;
    return h;
}

static void heap_link(dog_heap_t *heap, dog_huge_t *h)
{
    h->heap = heap;
    h->usable = usable_of(h);
    dog__lock_acquire(&heap->huge_lock);
    push_front(&heap->huge_first, NULL, h);
    heap->huge_blocks++;
    __atomic_store_n(&heap->huge_bytes, heap->huge_bytes + h->usable, __ATOMIC_RELAXED);
    heap->huge_allocs++;
    dog__lock_release(&heap->huge_lock);
}

/* A live block of heap now has usable bytes: the heap's count follows. */
static void set_usable(dog_heap_t *heap, dog_huge_t *h, size_t usable)
{
    dog__lock_acquire(&heap->huge_lock);
    __atomic_store_n(&heap->huge_bytes, heap->huge_bytes - h->usable + usable, __ATOMIC_RELAXED);
    h->usable = usable;
    dog__lock_release(&heap->huge_lock);
}

static void heap_unlink(dog_heap_t *heap, dog_huge_t *h)
{
    dog__lock_acquire(&heap->huge_lock);
    unlink_from(&heap->huge_first, NULL, h);
    heap->huge_blocks--;
    __atomic_store_n(&heap->huge_bytes, heap->huge_bytes - h->usable, __ATOMIC_RELAXED);
    heap->huge_frees++;
    dog__lock_release(&heap->huge_lock);
}

void *dog__huge_alloc(dog_heap_t *heap, size_t size, size_t align, bool zero)
{
    dog__init();        /* the options (DOGMALLOC_LIMIT) hold for a first block that is huge */
    /* A block holds at least a byte, as malloc(0)'s does: a huge block of none (an aligned
     * request for 0 bytes above the largest class's alignment) would end where it
     * starts, and dog_free would not find it (the block leaked, uncounted). */
    if (size == 0)
        size = 1;
    if (size > DOG_HUGE_SIZE_MAX || align > DOG_HUGE_SIZE_MAX) {
        dog__error("heap \"%s\": a block of %zu bytes is more than any address space holds",
                   heap->name, size);
        errno = ENOMEM;     /* more than any address space this runs in can hold */
        return NULL;
    }
    /* The budget is checked against the largest mapping this request can make. */
    size_t need = mapping_size(size, align);
    if (!dog__heap_budget_take(heap, need, NULL))
        return NULL;
    bool fresh;
    dog_huge_t *h = huge_map(need, align, &fresh);
    if (h == NULL) {
        dog__error("heap \"%s\": out of memory mapping %zu bytes", heap->name, need);
        dog__heap_unmapped(heap, need);
        errno = ENOMEM;
        return NULL;
    }
    if (h->map_size > need && !dog__heap_budget_take(heap, h->map_size - need, NULL)) {
        trim_tail(h->map_base, h->map_size, need);  /* a cached mapping a little larger */
        h->map_size = need;
    }
    dog__store_relaxed(&h->xstate, DOG_HUGE_LIVE);
    heap_link(heap, h);
    dog__heap_publish(heap, NULL);
    /* For a memory checker (track.h): the block is size bytes, zero if fresh from the OS
     * and asked zeroed; between the header and the block nothing is accessible. */
    char *ptr = h->ptr;
    dog__track_noaccess(h->map_base + sizeof *h, (size_t)(ptr - h->map_base) - sizeof *h);
    dog__track_alloc(ptr, size, h->usable, zero && fresh);
    dog__track_ref_hidden(&h->ptr);
    if (zero && !fresh)
        memset(ptr, 0, size);
    return ptr;
}

/* The header of the huge block that starts at p, or NULL if p is inside one. */
dog_huge_t *dog__huge_of(const void *p, unsigned kind)
{
    uintptr_t frame = (uintptr_t)p & ~(uintptr_t)DOG_PAGE_MASK;
    if (kind == DOG_FRAME_HUGE_PREV)
        frame -= DOG_PAGE_SIZE;
    else if (kind != DOG_FRAME_HUGE)
        return NULL;
    dog_huge_t *h = (dog_huge_t *)frame;
    return dog__track_ref_read((void *const *)&h->ptr) == p ? h : NULL;
}

/* The header of the mapping whose frame of kind (a huge one) holds p, or NULL: found in
 * the address map, frame by frame down to the one the header starts (HUGE) or the one
 * above it (PREV), so that only headers dogmalloc wrote are read. The header frame of an
 * over-aligned block is a CONT frame below a PREV one. Cold: bad frees only. */
static dog_huge_t *header_of(const void *p, unsigned kind)
{
    uintptr_t frame = (uintptr_t)p & ~(uintptr_t)DOG_PAGE_MASK;
    if (kind == DOG_FRAME_HUGE_CONT &&
        dog__segmap_kind((const void *)(frame + DOG_PAGE_SIZE)) == DOG_FRAME_HUGE_PREV)
        return (dog_huge_t *)frame;
    for (;;) {
        if (kind == DOG_FRAME_HUGE)
            return (dog_huge_t *)frame;
        if (kind == DOG_FRAME_HUGE_PREV)
            return (dog_huge_t *)(frame - DOG_PAGE_SIZE);
        if (kind != DOG_FRAME_HUGE_CONT || frame < DOG_PAGE_SIZE)
            return NULL;
        frame -= DOG_PAGE_SIZE;
        kind = dog__segmap_kind((const void *)frame);
    }
}

/* Why p, in a frame of a huge mapping but not the start of a live huge block, cannot be
 * freed: the words of the message. */
const char *dog__huge_why(const void *p, unsigned kind)
{
    dog_huge_t *h = header_of(p, kind);
    if (h == NULL)
        return DOG_WHY_HUGE_INSIDE;
    const char *ptr = dog__track_ref_read((void *const *)&h->ptr);    /* hidden: track.h */
    if (dog__load_relaxed(&h->xstate) != DOG_HUGE_LIVE)
        return ptr == p ? "double free of a huge block"
                        : "inside a huge block that is already freed (double free?)";
    const char *c = p;
    if (c < ptr)
        return "into the header of a huge block";
    if (c >= ptr + h->usable)
        return "past the end of a huge block";
    return "into the middle of a huge block";
}

void dog__huge_free(dog_huge_t *h)
{
    if (atomic_exchange(&h->xstate, DOG_HUGE_FREE) != DOG_HUGE_LIVE) {
        dog__free_invalid(h->ptr, DOG_MISUSE_DOUBLE_FREE, "double free of a huge block");
        return;
    }
    dog__track_ref_shown(&h->ptr);
    dog__track_free(h->ptr, h->usable);
    dog_heap_t *heap = h->heap;
    heap_unlink(heap, h);
    dog__heap_unmapped(heap, h->map_size);
    h->heap = NULL;
    cache_put(h);
}

/* Resize in place (into the cached frames after the block, or with mremap) or, if
 * may_move, by moving the pages (no copy). NULL if none works, or if copying into a cached
 * mapping is cheaper than faulting the growth in: the caller then copies. Under memcheck
 * the pages never move (DOG_TRACK_MOVES): the caller copies instead. */
static void *resize(dog_huge_t *h, size_t size, bool may_move)
{
    if (size > DOG_HUGE_SIZE_MAX || h->ptr - h->map_base >= (ptrdiff_t)DOG_PAGE_SIZE)
        return !may_move && size <= h->usable ? h->ptr : NULL;
    dog_heap_t *heap = h->heap;
    size_t offset = (size_t)(h->ptr - h->map_base);
    size_t map_size = round_os(offset + size) + GUARD;
    size_t old_map = h->map_size;
    /* What a memory checker allows of the block now: after a growth its extent cannot
     * be probed (the grown part was never the block's). */
    size_t asked = dog__track_extent(h->ptr, h->usable);
    /* A shrink: the block holds size bytes for a memory checker (track.h) before a piece
     * of its tail becomes a cached mapping (split_tail writes a header there). */
    if (map_size <= old_map)
        dog__track_resized(h->ptr, asked, size, h->usable);
    if (map_size == old_map)
        return h->ptr;
    if (map_size < old_map) {
        /* Whole frames past the new end go to the cache, resident; less is unmapped if
         * it is worth a system call. */
        dog_huge_t *tail = split_tail(h, map_size);
        if (tail == NULL) {
            if (old_map - map_size < DOG_PAGE_SIZE && size >= h->usable / 2)
                return h->ptr;
            trim_tail(h->map_base, old_map, map_size);
            h->map_size = map_size;
        }
        dog__heap_unmapped(heap, old_map - h->map_size);
        set_usable(heap, h, usable_of(h));
        if (tail != NULL)
            cache_put(tail);
        return h->ptr;
    }
    if (!dog__heap_budget_take(heap, map_size - old_map, NULL))
        return NULL;
    if (absorb_next(h, map_size)) {
        if (h->map_size > map_size && !dog__heap_budget_take(heap, h->map_size - map_size, NULL)) {
            trim_tail(h->map_base, h->map_size, map_size);
            h->map_size = map_size;
        }
        set_usable(heap, h, usable_of(h));
        dog__heap_publish(heap, NULL);
        dog__track_resized(h->ptr, asked, size, h->usable);
        return h->ptr;
    }
    /* A cached mapping that fits is resident: copying the block there (heap_realloc does,
     * on NULL) costs less than faulting the growth in, if the growth is at least a third
     * of the new size (a 4 KiB page copies in about a quarter of the time it faults).
     * Not for a heap with a budget (its own or an ancestor's): the copy holds old and new at once, where growing in
     * place is charged the growth only, and a realloc that fits would fail. */
    if (may_move && offset == DOG_HUGE_HEADER && !dog__heap_budgeted(heap) &&
        old_map <= 2 * (map_size - old_map) && cache_fits(map_size)) {
        dog__heap_unmapped(heap, map_size - old_map);
        return NULL;
    }
    /* The block leaves the heap's list while the system calls run (the header may move),
     * so that the heap's lock is never held across them. */
    dog__lock_acquire(&heap->huge_lock);
    unlink_from(&heap->huge_first, NULL, h);
    dog__lock_release(&heap->huge_lock);
    char *base = grow_mapping(h->map_base, old_map, map_size, may_move && DOG_TRACK_MOVES);
    bool done = base != NULL;
    if (done) {
        h = (dog_huge_t *)base;         /* the header moved with the pages, if they moved */
        h->map_base = base;
        h->ptr = base + offset;
        h->map_size = map_size;
    } else {
        dog__heap_unmapped(heap, map_size - old_map);
    }
    dog__lock_acquire(&heap->huge_lock);
    push_front(&heap->huge_first, NULL, h);
    dog__lock_release(&heap->huge_lock);
    if (!done)
        return NULL;
    set_usable(heap, h, usable_of(h));
    dog__heap_publish(heap, NULL);
    dog__track_resized(h->ptr, asked, size, h->usable);
    return h->ptr;
}

/* The live block's ptr is hidden from memcheck's leak check (track.h) except while its
 * header is worked on here. Under memcheck a block does not move (DOG_TRACK_MOVES: it is
 * copied when it cannot grow in place), so h is still its header afterwards. */
static void *resize_tracked(dog_huge_t *h, size_t size, bool may_move)
{
    dog__track_ref_shown(&h->ptr);
    void *q = resize(h, size, may_move);
    if (DOG_TRACK_ENABLED)
        dog__track_ref_hidden(&h->ptr);
    return q;
}

/* size > DOG_SMALL_SIZE_MAX (realloc). */
void *dog__huge_resize(dog_huge_t *h, size_t size)
{
    return resize_tracked(h, size, true);
}

/* dog_expand: the block stays where it is, or NULL. size > 0. */
void *dog__huge_expand(dog_huge_t *h, size_t size)
{
    return resize_tracked(h, size, false);
}

/* The usable size of a fresh huge block of size bytes (dog_good_size). */
size_t dog__huge_good_size(size_t size)
{
    if (size > DOG_HUGE_SIZE_MAX)
        return size;
    return mapping_size(size, DOG_WORD_SIZE) - GUARD - user_offset(DOG_WORD_SIZE);
}

/* dog_heap_destroy and dog_heap_reset: every huge block of heap goes to the cache or back
 * to the OS, and the heap's huge counts start again from zero (its budget no longer
 * holds their mappings). */
/* dog_heap_delete: every live huge block of heap becomes one of to, as it is (the
 * blocks stay where they are). Returns the bytes of their mappings, which the caller
 * moves from one heap's count to the other's. */
size_t dog__huge_move_all(dog_heap_t *heap, dog_heap_t *to)
{
    dog__lock_acquire(&heap->huge_lock);
    dog_huge_t *h = heap->huge_first;
    heap->huge_first = NULL;
    heap->huge_blocks = 0;
    __atomic_store_n(&heap->huge_bytes, 0, __ATOMIC_RELAXED);
    dog__lock_release(&heap->huge_lock);
    size_t mapped = 0;
    while (h != NULL) {
        dog_huge_t *next = h->next;
        h->next = h->prev = NULL;
        mapped += h->map_size;
        h->heap = to;
        dog__lock_acquire(&to->huge_lock);
        push_front(&to->huge_first, NULL, h);
        to->huge_blocks++;
        __atomic_store_n(&to->huge_bytes, to->huge_bytes + h->usable, __ATOMIC_RELAXED);
        to->huge_allocs++;          /* allocs - frees stays the blocks in use */
        dog__lock_release(&to->huge_lock);
        h = next;
    }
    return mapped;
}

void dog__huge_free_all(dog_heap_t *heap)
{
    dog__lock_acquire(&heap->huge_lock);
    dog_huge_t *h = heap->huge_first;
    heap->huge_first = NULL;
    heap->huge_blocks = 0;
    __atomic_store_n(&heap->huge_bytes, 0, __ATOMIC_RELAXED);
    heap->huge_allocs = heap->huge_frees = 0;
    dog__lock_release(&heap->huge_lock);
    while (h != NULL) {
        dog_huge_t *next = h->next;
        dog__heap_unmapped(heap, h->map_size);
        dog__track_ref_shown(&h->ptr);
        dog__track_free(h->ptr, h->usable);     /* freed for a memory checker, all at once */
        dog__store_relaxed(&h->xstate, DOG_HUGE_FREE);
        h->heap = NULL;
        h->next = h->prev = NULL;
        cache_put(h);
        h = next;
    }
}
