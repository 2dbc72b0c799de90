/* SPDX-License-Identifier: MIT */
/* alloc.c: the public allocation entry points: the global functions on dog_default and
 * the dog_heap_* ones. They check their arguments here, once, and then take the inline
 * fast paths of heap.h or the huge path of huge.c. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "heap.h"
#include "huge.h"
#include "segmap.h"
#include "tcache.h"

/* --- Shared helpers ------------------------------------------------------------------ */

/* A small block p (or NULL) goes to the caller for size bytes: a memory checker learns of
 * it here (track.h; huge.c tells it of huge blocks). Nothing in the default build. */
static DOG_INLINE void *small_out(void *p, size_t size)
{
    if (p != NULL)
        dog__track_alloc(p, size, dog__page_of(p)->block_size, false);
    return p;
}

/* A block of size bytes, of which the caller asked for asked (an aligned request takes
 * a larger class: heap_aligned). */
static DOG_INLINE void *heap_alloc_as(dog_heap_t *heap, size_t size, size_t asked)
{
    if (DOG_LIKELY(size <= DOG_TCACHE_SIZE_MAX))
        return small_out(dog__tcache_malloc(dog__tcache_of(heap), heap, size), asked);
    if (DOG_LIKELY(size <= DOG_SMALL_SIZE_MAX))
        return small_out(dog__heap_malloc_small(heap, size), asked);
    return dog__huge_alloc(heap, size, DOG_WORD_SIZE, false);
}

static DOG_INLINE void *heap_alloc(dog_heap_t *heap, size_t size)
{
    return heap_alloc_as(heap, size, size);
}

static void *heap_calloc(dog_heap_t *heap, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        dog__error("calloc(%zu, %zu): the size overflows", count, size);
        errno = ENOMEM;
        return NULL;
    }
    if (total > DOG_SMALL_SIZE_MAX)
        return dog__huge_alloc(heap, total, DOG_WORD_SIZE, true);
    void *p = heap_alloc(heap, total);
    if (p != NULL)
        memset(p, 0, total);
    return p;
}

static void *heap_aligned(dog_heap_t *heap, size_t align, size_t size)
{
    if (align == 0 || (align & (align - 1)) != 0) {
        dog__error("aligned_alloc(%zu, %zu): the alignment is not a power of two", align, size);
        errno = EINVAL;
        return NULL;
    }
    if (align <= DOG_WORD_SIZE || (align <= 16 && size >= 16 && size <= DOG_SMALL_SIZE_MAX))
        return heap_alloc(heap, size);          /* every block of >= 16 bytes is 16-aligned */
    if (size > PTRDIFF_MAX) {
        dog__error("aligned_alloc(%zu, %zu): the size is above PTRDIFF_MAX", align, size);
        errno = ENOMEM;
        return NULL;
    }
    if (align <= DOG_SMALL_SIZE_MAX) {
        /* page.c aligns the blocks of a bin to the largest power of two dividing their
         * size, so an aligned block is a plain block of a suitable bin. */
        size_t bin = dog__bin_for_aligned(size, align);
        if (bin < DOG_BIN_COUNT)
            return heap_alloc_as(heap, dog__bin_size(bin), size);
    }
    return dog__huge_alloc(heap, size, align, false);
}

/* The page of a live small block p (kind DOG_FRAME_PAGE), or NULL. */
static dog_page_t *live_block_page(const void *p)
{
    dog_page_t *page = dog__page_of(p);
    size_t index;
    if (!dog__page_is_block(page, p, &index) || !dog__page_live(page, index) ||
        dog__block_parked(p))
        return NULL;
    return page;
}

/* The live huge block p, or NULL. */
static dog_huge_t *live_huge(const void *p, unsigned kind)
{
    dog_huge_t *h = dog__huge_of(p, kind);
    return h != NULL && dog__load_relaxed(&h->xstate) == DOG_HUGE_LIVE ? h : NULL;
}

/* realloc of what is not a live block: reported (misuse.c); if that returns, p is left
 * alone and the call fails with EINVAL. */
static DOG_COLD void *bad_pointer(void *p, const char *func)
{
    dog__misuse(DOG_MISUSE_BAD_POINTER, p, "%s(%p): not a live block of dogmalloc", func, p);
    errno = EINVAL;
    return NULL;
}

/* Resize p; the result belongs to target, or to p's heap when target is NULL. */
static void *heap_realloc(dog_heap_t *target, void *p, size_t size, const char *func)
{
    if (p == NULL)
        return heap_alloc(target ? target : &dog__default_heap, size);
    if (size == 0)
        size = 1;       /* documented: a minimal block, never a free + NULL */
    if (size > PTRDIFF_MAX) {
        dog__error("%s(%p, %zu): the size is above PTRDIFF_MAX", func, p, size);
        errno = ENOMEM;
        return NULL;
    }
    unsigned kind = dog__segmap_kind(p);
    dog_heap_t *heap;
    size_t old_usable;
    if (kind == DOG_FRAME_PAGE) {
        dog_page_t *page = live_block_page(p);
        if (page == NULL)
            return bad_pointer(p, func);
        heap = page->heap;
        old_usable = page->block_size;
        if ((target == NULL || target == heap) && size <= old_usable &&
            (size > old_usable / 2 || old_usable <= 2 * DOG_WORD_SIZE)) {
            dog__track_resize(p, old_usable, size);
            return p;
        }
    } else {
        dog_huge_t *h = live_huge(p, kind);
        if (h == NULL)
            return bad_pointer(p, func);
        heap = h->heap;
        old_usable = h->usable;
        if ((target == NULL || target == heap) && size > DOG_SMALL_SIZE_MAX) {
            void *q = dog__huge_resize(h, size);
            if (q != NULL)
                return q;
        }
    }
    int saved = errno;
    void *q = heap_alloc(target ? target : heap, size);
    if (q == NULL) {
        /* A shrink moves to a smaller class only to save memory; when that class needs a
         * page (or a heap's budget has no room for one), the block stays where it is: a
         * shrink never fails for want of memory (include/dogmalloc.h, dog_realloc). */
        if ((target == NULL || target == heap) && size <= old_usable) {
            errno = saved;
            dog__track_resize(p, old_usable, size);
            return p;
        }
        return NULL;
    }
    /* Under a memory checker only the bytes the block was asked for are readable. */
    size_t old_size = dog__track_extent(p, old_usable);
    memcpy(q, p, size < old_size ? size : old_size);
    dog_free(p);
    return q;
}

static DOG_NOINLINE void free_other(void *p, unsigned kind)
{
    if (p == NULL)              /* dog_free(NULL): frame 0 is never ours (dog_free) */
        return;
    if (kind == DOG_FRAME_NONE || kind == DOG_FRAME_META) {
        dog__free_invalid(p, DOG_MISUSE_INVALID_FREE, NULL);
        return;
    }
    dog_huge_t *h = dog__huge_of(p, kind);
    if (h == NULL) {
        dog__free_invalid(p, DOG_MISUSE_INTERIOR_FREE, dog__huge_why(p, kind));
        return;
    }
    int saved = errno;
    dog__huge_free(h);
    errno = saved;
}

/* --- The global allocator ------------------------------------------------------------ */

/* dog_thread_set_heap: while it is set, this thread's dog_malloc family (and the C
 * library's names under the override) allocates from that heap through the heap API, with
 * its checks and budget handler; frees and the resizing of existing blocks go to each
 * block's own heap as always. */
DOG_TLS dog_route_t dog__tl_route;

DOG_API dog_heap_t *dog_thread_set_heap(dog_heap_t *heap)
{
    dog_heap_t *previous = dog__tl_route.heap;
    if (heap == &dog__default_heap)
        heap = NULL;
    if (heap != NULL && dog__heap_check(heap, "dog_thread_set_heap") == NULL) {
        errno = EINVAL;     /* reported: the route stays as it was */
        return previous;
    }
    dog__tl_route.heap = heap;
    dog__tl_route.serial = heap != NULL ? heap->serial : 0;
    dog__tl_malloc = &dog__tcache_none;     /* dog_malloc's next miss finds its cache */
    return previous;
}

DOG_API dog_heap_t *dog_thread_heap(void)
{
    return dog__tl_route.heap;
}

/* The heap of the thread's route, which is set. A heap destroyed by another thread is
 * told by its handle (no longer a live heap) or, once its memory went to a new heap, by
 * that heap's serial: reported, and the route ends (under DOGMALLOC_MISUSE=report the
 * call then allocates from dog_default). */
dog_heap_t *dog__route_heap(void)
{
    dog_heap_t *heap = dog__tl_route.heap;
    if (DOG_LIKELY(dog__heap_is_live(heap) && heap->serial == dog__tl_route.serial))
        return heap;
    dog__tl_route.heap = NULL;
    dog__tl_malloc = &dog__tcache_none;
    dog__misuse(DOG_MISUSE_BAD_HEAP, heap, "dog_malloc(): the calling thread's route "
                "(dog_thread_set_heap) is to %p, a destroyed heap", (void *)heap);
    return &dog__default_heap;
}

/* The routed forms of the dog_malloc family: the calls of the heap API (below), on the
 * heap the thread routes to. Out of line, so that the unrouted paths pay one test of
 * dog__tl_route and nothing more (dog_malloc not even that: dog__tl_malloc). */
static DOG_NOINLINE void *routed_malloc(size_t size)
{
    return dog_heap_malloc(dog__route_heap(), size);
}

/* dog_realloc of a block while a route is set: a new block comes from the routed heap; a
 * block of the routed heap grows through the heap API, so that its on_limit handler is
 * called as for the heap's other requests; any other block stays in its own heap. */
static DOG_NOINLINE void *routed_realloc(void *p, size_t size, const char *func)
{
    if (p == NULL)
        return routed_malloc(size);
    dog_heap_t *heap = dog__route_heap();
    if (heap != &dog__default_heap && dog_heap_of(p) == heap)
        return dog_heap_realloc(heap, p, size);
    return heap_realloc(NULL, p, size, func);
}

static DOG_NOINLINE void *malloc_large(size_t size)
{
    if (size <= DOG_SMALL_SIZE_MAX)
        return small_out(dog__heap_malloc_small(&dog__default_heap, size), size);
    return dog__huge_alloc(&dog__default_heap, size, DOG_WORD_SIZE, false);
}

/* dog_malloc's cache had no block of the size (or is not known: dog__tl_malloc): the
 * heap API's malloc on the routed heap, or dog_default's miss; then the cache that
 * served it is dog_malloc's, if it is the heap's (a slot shared with another heap
 * leaves dog__tcache_none, and every call comes here). */
static DOG_NOINLINE void *malloc_miss(size_t size)
{
    if (DOG_UNLIKELY(dog__tl_route.heap != NULL)) {
        dog_heap_t *heap = dog__route_heap();
        void *p = dog_heap_malloc(heap, size);
        dog_tcache_t *tc = dog__tcache_of(heap);
        if (tc != NULL && dog__tl_route.heap == heap)
            dog__tl_malloc = tc;
        return p;
    }
    /* dog_default's cache may hold a block of the size although dog__tl_malloc did not
     * know it: pop first, since a refill expects an empty bin (tcache.c). */
    dog_tcache_t *tc = dog__tcs[0];
    if (tc != &dog__tcache_none) {
        dog__tl_malloc = tc;
        void *p = dog__tcache_pop(tc, size);
        if (p != NULL)
            return small_out(p, size);
    }
    void *p = small_out(dog__tcache_miss(&dog__default_heap, size), size);
    if (dog__tcs[0] != &dog__tcache_none)
        dog__tl_malloc = dog__tcs[0];
    return p;
}

/* The fast path: a pop from dog__tl_malloc, the cache of the heap that the thread's
 * dog_malloc allocates from (dog_default's, or the routed heap's): no test of the route,
 * and no test for a missing cache (an empty one stands in: tcache.h). */
DOG_API void *dog_malloc(size_t size)
{
    if (DOG_LIKELY(size <= DOG_TCACHE_SIZE_MAX)) {
        void *p = dog__tcache_pop(dog__tl_malloc, size);
        if (DOG_LIKELY(p != NULL))
            return small_out(p, size);
        p = malloc_miss(size);
        if (DOG_TRACK_ENABLED)          /* no tail call: a checker's stack shows dog_malloc */
            __asm__ volatile("" ::: "memory");
        return p;
    }
    if (DOG_UNLIKELY(dog__tl_route.heap != NULL))   /* dog_thread_set_heap */
        return routed_malloc(size);
    return malloc_large(size);
}

DOG_API void *dog_calloc(size_t count, size_t size)
{
    if (DOG_UNLIKELY(dog__tl_route.heap != NULL))
        return dog_heap_calloc(dog__route_heap(), count, size);
    return heap_calloc(&dog__default_heap, count, size);
}

DOG_API void *dog_realloc(void *p, size_t size)
{
    if (DOG_UNLIKELY(dog__tl_route.heap != NULL))
        return routed_realloc(p, size, "dog_realloc");
    return heap_realloc(NULL, p, size, "dog_realloc");
}

DOG_API void *dog_reallocarray(void *p, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        dog__error("reallocarray(%p, %zu, %zu): the size overflows", p, count, size);
        errno = ENOMEM;
        return NULL;
    }
    if (DOG_UNLIKELY(dog__tl_route.heap != NULL))
        return routed_realloc(p, total, "dog_reallocarray");
    return heap_realloc(NULL, p, total, "dog_reallocarray");
}

DOG_API void *dog_aligned_alloc(size_t alignment, size_t size)
{
    if (DOG_UNLIKELY(dog__tl_route.heap != NULL))
        return dog_heap_aligned_alloc(dog__route_heap(), alignment, size);
    return heap_aligned(&dog__default_heap, alignment, size);
}

DOG_API int dog_posix_memalign(void **out, size_t alignment, size_t size)
{
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
        return EINVAL;
    int saved = errno;
    void *p = DOG_UNLIKELY(dog__tl_route.heap != NULL)
                  ? dog_heap_aligned_alloc(dog__route_heap(), alignment, size)
                  : heap_aligned(&dog__default_heap, alignment, size);
    int err = errno;
    errno = saved;      /* on success too: a budget may refuse on the way (huge.c) */
    if (p == NULL)
        return err;
    *out = p;
    return 0;
}

/* Free into the shards: blocks of this thread's shard in bins that are not cached, or of
 * a heap this thread has no cache of (tc is dog__tcache_none: the heap's slot is empty,
 * or its caches are retired). A thread without a cache calls no shard home, so unless no cache does
 * (then nobody would collect), its free goes onto the page's thread free list, as
 * dog_free's remote branch does: through the lock, a consumer that only frees would
 * hold its producer's shard now and then, and the producer's refill, finding it busy,
 * would add a shard with a fresh page per size class (heap_pool.c; the mpsc test held
 * 51 pages for 17 classes). Else through the lock, if it is free. */
static DOG_NOINLINE void free_to_shard(dog_page_t *page, void *p, const dog_tcache_t *tc)
{
    size_t index;
    if (DOG_UNLIKELY(!dog__page_is_block(page, p, &index))) {
        dog__free_reject(page, p);
        return;
    }
    if (DOG_UNLIKELY(dog__block_parked(p))) {
        dog__tcache_bad_free(p);
        return;
    }
    if (tc == &dog__tcache_none && dog__load_relaxed(&page->shard->xhomes) != 0)
        dog__free_remote(page, p, index);
    else
        dog__page_free(page, p, index);
}


/* Free: one lookup in the address map (NULL included), one branch on the kind of frame; then
 * a block of up to 16 KiB of the home shard of the thread's cache of the block's heap
 * goes into that cache (tcache.h), and any other small block to its shard. */
DOG_API void dog_free(void *p)
{
    /* NULL needs no test of its own here: frame 0 is never ours, so its kind is
     * DOG_FRAME_NONE and free_other returns. Every frame the segmap marks starts a
     * mapping of ours or follows the frame that does (segmap.h), and no mapping starts
     * at address 0 (the OS never places one there, and the OS layer would read it as
     * NULL). */
    unsigned kind = dog__segmap_kind(p);
    if (DOG_UNLIKELY(kind != DOG_FRAME_PAGE)) {
        free_other(p, kind);
        return;
    }
    dog_page_t *page = dog__page_of(p);
    dog_tcache_t *tc = dog__tcs[page->tc_slot];
    if (DOG_LIKELY(page->tc_token == tc->home_token)) {     /* tc may be dog__tcache_none */
        /* A cached bin's page of the cache's home shard: tokens are unique to a shard
         * for the life of the process, so the cache is this heap's, and live. The page
         * is not in the pool (a pooled page has token 0, and a cache that has not
         * refilled yet has a token no shard has), and a pointer past the last block
         * lands on a clear live bit (dog__tcache_free), so the start-of-block test is all
         * that is left to do. It needs no range test of its own: a pointer into the
         * header wraps its offset to at least 2^64 - DOG_PAGE_SIZE, which no
         * index * block_size (below 2^16 * 2^16) equals. */
        uintptr_t off = dog__page_offset(page, p);
        size_t index = dog__page_index(page, off);
        _Static_assert(((uint64_t)DOG_SMALL_SIZE_MAX << 16) < UINT64_MAX - DOG_PAGE_SIZE,
                       "a wrapped offset is no multiple of a block size that dog__page_index gives");
        if (DOG_UNLIKELY(index * page->block_size != off)) {
            dog__free_reject(page, p);
            return;
        }
        dog__tcache_free(tc, page, p, index);
    } else if (tc != &dog__tcache_none && page->shard != NULL && page->shard != tc->home) {
        /* A block that another thread's shard owns (producer/consumer) goes onto its
         * page's thread free list with one CAS, as in mimalloc: taking that shard's lock
         * and pushing onto the local list would pull the owner's lock, page header and
         * counters over to this core and back on every such free (xmalloc). The owner
         * collects it when it needs blocks. Same tests as free_to_shard, no call in
         * between. A shard that no thread calls home would never collect: its blocks go
         * through its lock (dog__free_orphan). tc may be another heap's cache of the
         * same slot, or a dead one: its home is only compared, and either way the
         * block goes to its own shard correctly. */
        size_t index;
        if (DOG_UNLIKELY(!dog__page_is_block(page, p, &index))) {
            dog__free_reject(page, p);
            return;
        }
        if (DOG_UNLIKELY(dog__block_parked(p))) {
            dog__tcache_bad_free(p);
            return;
        }
        if (DOG_LIKELY(dog__load_relaxed(&page->shard->xhomes) != 0))
            dog__free_remote(page, p, index);
        else
            dog__free_orphan(page, p, index);
    } else {
        free_to_shard(page, p, tc);
    }
}

/* The usable size of the live block p, or 0 if p is not one. */
static size_t live_usable(const void *p)
{
    unsigned kind = dog__segmap_kind(p);
    if (kind == DOG_FRAME_PAGE) {
        dog_page_t *page = live_block_page(p);
        if (page != NULL)
            return page->block_size;
    } else if (kind != DOG_FRAME_NONE) {
        dog_huge_t *h = live_huge(p, kind);
        if (h != NULL)
            return h->usable;
    }
    return 0;
}

/* dog_free_sized of what is not a live block: the reason dog_free would give, under the
 * name of the function that was called. */
static DOG_COLD void free_sized_invalid(const void *p, size_t size)
{
    int kind;
    const char *why = dog__free_why(p, &kind);
    dog__misuse(kind, p, "dog_free_sized(%p, %zu): invalid pointer: %s", p, size, why);
}

DOG_API void dog_free_sized(void *p, size_t size)
{
    if (p == NULL)
        return;
    size_t usable = live_usable(p);
    if (usable == 0) {
        free_sized_invalid(p, size);
        return;             /* reported (MISUSE=report): skipped */
    }
    if (size > usable) {
        dog__misuse(DOG_MISUSE_FREE_SIZE, p, "dog_free_sized(%p, %zu): the block has only %zu "
                    "usable bytes", p, size, usable);
        return;             /* reported: the free is skipped, the block leaks */
    }
    dog_free(p);
}

DOG_API size_t dog_usable_size(const void *p)
{
    if (p == NULL)
        return 0;
    size_t usable = live_usable(p);
    if (DOG_LIKELY(usable != 0)) {
        /* The caller may use every usable byte from now on: a memory checker is told so
         * (track.h: a block is only as large as asked until its usable size is asked). */
        dog__track_usable((void *)(uintptr_t)p, usable);
        return usable;
    }
    dog__misuse(DOG_MISUSE_BAD_POINTER, p,
                "dog_usable_size(%p): invalid pointer: not a live block of dogmalloc", p);
    return 0;
}

/* --- Heaps --------------------------------------------------------------------------- */

#define HEAP_ARG(heap, func)                                                                 \
    do {                                                                                     \
        if (DOG_UNLIKELY(dog__heap_check(heap, func) == NULL)) {                             \
            errno = EINVAL;                                                                  \
            return NULL;                                                                     \
        }                                                                                    \
    } while (0)

/* A NULL that the heap's budget caused: its on_limit handler (heap_api.c) runs, with no
 * lock held, and may have expr evaluated once more. */
#define LIMIT_RETRY(heap, request, expr)                                                     \
    ({                                                                                       \
        void *p_ = (expr);                                                                   \
        if (DOG_UNLIKELY(p_ == NULL) && dog__limit_begin((heap), (request))) {               \
            if (dog__heap_check((heap), "on_limit retry") != NULL)  /* not destroyed by it */ \
                p_ = (expr);                                                                 \
            else                                                                             \
                errno = EINVAL;                                                              \
            dog__limit_end();                                                                \
        }                                                                                    \
        p_;                                                                                  \
    })

static DOG_NOINLINE void *heap_malloc_slow(dog_heap_t *heap, size_t size)
{
    HEAP_ARG(heap, "dog_heap_malloc");
    dog_tcache_t *tc = dog__tcache_of(heap);
    if (tc != NULL)
        dog__tcache_remember(heap, tc);
    return LIMIT_RETRY(heap, size, heap_alloc(heap, size));
}

/* The heap the thread used last, when its cache has a block: one compare stands for the
 * heap check (a cache is made only for a live heap, and its heap's destroy or reset
 * empties it), and no heap field is read. Anything else takes the path with every
 * check. */
DOG_API void *dog_heap_malloc(dog_heap_t *heap, size_t size)
{
    dog_tcache_t *tc = dog__tl_last.tc;
    if (DOG_LIKELY(heap == dog__tl_last.heap && size <= DOG_TCACHE_SIZE_MAX)) {
        void *p = dog__tcache_pop(tc, size);
        if (DOG_LIKELY(p != NULL))
            return small_out(p, size);
    }
    return heap_malloc_slow(heap, size);
}

DOG_API void *dog_heap_calloc(dog_heap_t *heap, size_t count, size_t size)
{
    HEAP_ARG(heap, "dog_heap_calloc");
    return LIMIT_RETRY(heap, count * size, heap_calloc(heap, count, size));
}

DOG_API void *dog_heap_realloc(dog_heap_t *heap, void *p, size_t size)
{
    HEAP_ARG(heap, "dog_heap_realloc");
    return LIMIT_RETRY(heap, size, heap_realloc(heap, p, size, "dog_heap_realloc"));
}

DOG_API void *dog_heap_aligned_alloc(dog_heap_t *heap, size_t alignment, size_t size)
{
    HEAP_ARG(heap, "dog_heap_aligned_alloc");
    return LIMIT_RETRY(heap, size, heap_aligned(heap, alignment, size));
}

DOG_API dog_heap_t *dog_heap_of(const void *p)
{
    if (p == NULL)
        return NULL;
    unsigned kind = dog__segmap_kind(p);
    if (kind == DOG_FRAME_PAGE) {
        dog_page_t *page = live_block_page(p);
        return page ? page->heap : NULL;
    }
    if (kind == DOG_FRAME_NONE)
        return NULL;
    dog_huge_t *h = live_huge(p, kind);
    return h ? h->heap : NULL;
}
