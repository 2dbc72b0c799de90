/* SPDX-License-Identifier: MIT */
/* heap_api.c: the heap SDK's conveniences, built on the entry points of alloc.c: string
 * copies, zeroed and aligned reallocation, in-place resizing, size rounding, ownership
 * tests, and the run-time budget with its handler (on_limit). Nothing here is on the
 * malloc/free fast path. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "heap.h"
#include "huge.h"
#include "segmap.h"
#include "track.h"

void dog__init(void);

/* --- The budget handler -------------------------------------------------------------- */

DOG_TLS dog_heap_t *dog__tl_limit_hit;
/* The thread is in a handler or in the retry after one: a failure there is final, so a
 * handler that returns nonzero without making room cannot loop (include/dogmalloc.h). */
static DOG_TLS bool tl_limit_busy;

/* An allocation from heap returned NULL. If it was refused at the budget of heap or of
 * one of its ancestors (dog__heap_budget_take recorded which) and that heap has a
 * handler, call it, with no lock held: true means "try once more", and the caller then
 * calls dog__limit_end. */
bool dog__limit_begin(dog_heap_t *heap, size_t request)
{
    dog_heap_t *hit = dog__tl_limit_hit;
    if (hit == NULL || tl_limit_busy)
        return false;
    dog_heap_t *up = heap;
    while (up != NULL && up != hit)
        up = up->parent;
    if (up == NULL || hit->on_limit == NULL)
        return false;           /* recorded by another heap's request, or no handler */
    dog__tl_limit_hit = NULL;
    if (errno != ENOMEM)
        return false;
    tl_limit_busy = true;
    /* The handler runs unrouted (dog_thread_set_heap): its own dog_malloc goes to
     * dog_default, not into the heap that is out of budget. */
    dog_route_t route = dog__tl_route;
    dog__tl_route.heap = NULL;
    int again = hit->on_limit(hit, request, hit->on_limit_arg);
    if (dog__tl_route.heap == NULL)
        dog__tl_route = route;      /* unless the handler set a route of its own */
    if (!again) {
        tl_limit_busy = false;
        errno = ENOMEM;
        return false;
    }
    return true;
}

void dog__limit_end(void)
{
    tl_limit_busy = false;
    dog__tl_limit_hit = NULL;
}

DOG_API int dog_heap_set_limit(dog_heap_t *heap, size_t limit)
{
    if (dog__heap_check(heap, "dog_heap_set_limit") == NULL)
        return EINVAL;
    if (limit != 0 && limit < DOG_HEAP_LIMIT_MIN)
        return EINVAL;
    dog__init();        /* so that DOGMALLOC_LIMIT, read at the first allocation, is not
                           applied over this later */
    __atomic_store_n(&heap->limit, limit, __ATOMIC_RELAXED);
    /* Below what the heap holds: the empty pages it keeps go now, the rest as frees come
     * (documented: accepted, and growth fails until the heap is under it). */
    if (limit != 0 && dog__load_relaxed(&heap->xtree) > limit) {
        int saved = errno;
        dog__heap_release_tree(heap, NULL);         /* its children's pages count too */
        errno = saved;
    }
    return 0;
}

/* --- Strings and zeroed blocks ------------------------------------------------------- */

static char *copy_string(dog_heap_t *heap, const char *s, size_t n, const char *func)
{
    if (s == NULL) {
        dog__error("%s(NULL): no string", func);
        errno = EINVAL;
        return NULL;
    }
    size_t len = strnlen(s, n);
    char *p = dog_heap_malloc(heap, len + 1);      /* with the budget handler */
    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

#define HEAP_ARG(heap, func)                                                                 \
    do {                                                                                     \
        if (DOG_UNLIKELY(dog__heap_check(heap, func) == NULL)) {                             \
            errno = EINVAL;                                                                  \
            return NULL;                                                                     \
        }                                                                                    \
    } while (0)

DOG_API char *dog_strdup(const char *s)
{
    return copy_string(dog__route(), s, SIZE_MAX, "dog_strdup");
}

DOG_API char *dog_strndup(const char *s, size_t n)
{
    return copy_string(dog__route(), s, n, "dog_strndup");
}

DOG_API char *dog_heap_strdup(dog_heap_t *heap, const char *s)
{
    HEAP_ARG(heap, "dog_heap_strdup");
    return copy_string(heap, s, SIZE_MAX, "dog_heap_strdup");
}

DOG_API char *dog_heap_strndup(dog_heap_t *heap, const char *s, size_t n)
{
    HEAP_ARG(heap, "dog_heap_strndup");
    return copy_string(heap, s, n, "dog_heap_strndup");
}

DOG_API void *dog_heap_zalloc(dog_heap_t *heap, size_t size)
{
    return dog_heap_calloc(heap, 1, size);
}

/* --- Finding a block ----------------------------------------------------------------- */

/* The live block that p points into (its start, or any byte of its usable size): its
 * start, its usable size and its heap, or NULL. Reads only memory that the address map
 * says is ours. */
static void *block_around(const void *p, size_t *usable, dog_heap_t **heap)
{
    uintptr_t a = (uintptr_t)p;
    unsigned kind = dog__segmap_kind(p);
    if (kind == DOG_FRAME_NONE)
        return NULL;
    if (kind == DOG_FRAME_PAGE) {
        dog_page_t *page = dog__page_of(p);
        uintptr_t off = a - (uintptr_t)page - page->block_start;
        if (page->shard == NULL || page->block_size == 0 ||
            off >= (uintptr_t)page->reserved * page->block_size)
            return NULL;
        /* Only fields fixed while the page holds a live block, and the atomic live bits
         * (set only below capacity, which carving changes), as dog_heap_of reads. */
        size_t index = off / page->block_size;
        void *block = dog__page_block(page, index);
        if (!dog__page_live(page, index) || dog__block_parked(block))
            return NULL;
        *usable = page->block_size;
        *heap = page->heap;
        return block;
    }
    /* A huge block: its header starts the frame of a HUGE mark, or the one below a
     * HUGE_PREV mark (over-aligned); CONT frames lie after either. */
    uintptr_t frame = a & ~(uintptr_t)DOG_PAGE_MASK;
    while (kind == DOG_FRAME_HUGE_CONT) {
        frame -= DOG_PAGE_SIZE;
        kind = dog__segmap_kind((const void *)frame);
    }
    if (kind == DOG_FRAME_HUGE_PREV)
        frame -= DOG_PAGE_SIZE;
    else if (kind != DOG_FRAME_HUGE)
        return NULL;
    dog_huge_t *h = (dog_huge_t *)frame;
    if (dog__load_relaxed(&h->xstate) != DOG_HUGE_LIVE)
        return NULL;
    char *start = dog__track_ref_read((void *const *)&h->ptr);     /* hidden: track.h */
    size_t size = h->usable;
    if (a < (uintptr_t)start || a - (uintptr_t)start >= size)
        return NULL;
    *usable = size;
    *heap = h->heap;
    return start;
}

DOG_API bool dog_heap_contains(const dog_heap_t *heap, const void *p)
{
    if (p == NULL || !dog__heap_is_live(heap))     /* a garbage handle is not read */
        return false;
    size_t usable;
    dog_heap_t *owner;
    return block_around(p, &usable, &owner) != NULL && owner == heap;
}

/* --- Sizes and in-place resizing ----------------------------------------------------- */

DOG_API size_t dog_good_size(size_t size)
{
    if (size <= DOG_SMALL_SIZE_MAX) {
        size_t wsize = dog__wsize(size);
        return dog__bin_size(dog__bin_of(wsize ? wsize : 1));
    }
    return dog__huge_good_size(size);
}

static DOG_COLD void *bad_pointer(const void *p, const char *func)
{
    dog__misuse(DOG_MISUSE_BAD_POINTER, p, "%s(%p): not a live block of dogmalloc", func, p);
    errno = EINVAL;
    return NULL;
}

/* The live block that starts at p, or NULL (as block_around, but only its start). */
static void *block_at(const void *p, size_t *usable, dog_heap_t **heap)
{
    void *start = block_around(p, usable, heap);
    return start == p ? start : NULL;
}

DOG_API void *dog_expand(void *p, size_t size)
{
    size_t usable;
    dog_heap_t *heap;
    if (p == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if (block_at(p, &usable, &heap) == NULL)
        return bad_pointer(p, "dog_expand");
    if (size == 0)
        size = 1;
    if (dog__segmap_kind(p) != DOG_FRAME_PAGE) {
        void *q = dog__huge_expand(dog__huge_of(p, dog__segmap_kind(p)), size);
        if (q != NULL)
            return q;
    } else if (size <= usable) {
        dog__track_resize(p, usable, size);     /* a memory checker's extent: size bytes */
        return p;
    }
    errno = ENOMEM;
    return NULL;
}

DOG_API void *dog_heap_realloc_aligned(dog_heap_t *heap, void *p, size_t size, size_t alignment)
{
    HEAP_ARG(heap, "dog_heap_realloc_aligned");
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        dog__error("dog_heap_realloc_aligned(%p, %zu, %zu): the alignment is not a power of "
                   "two", p, size, alignment);
        errno = EINVAL;
        return NULL;
    }
    if (p == NULL)
        return dog_heap_aligned_alloc(heap, alignment, size);
    size_t usable;
    dog_heap_t *owner;
    if (block_at(p, &usable, &owner) == NULL)
        return bad_pointer(p, "dog_heap_realloc_aligned");
    if (size == 0)
        size = 1;
    if (owner == heap && (uintptr_t)p % alignment == 0) {
        /* In place: a huge block grows or shrinks where it is if it can; a small one stays
         * while the size fits and wastes at most half (dog_heap_realloc's rule). */
        int saved = errno;
        if (usable > DOG_SMALL_SIZE_MAX && dog_expand(p, size) != NULL)
            return p;
        errno = saved;
        if (size <= usable && (size > usable / 2 || usable <= 2 * DOG_WORD_SIZE)) {
            dog__track_resize(p, usable, size);     /* a memory checker's extent: size */
            return p;
        }
    }
    void *q = dog_heap_aligned_alloc(heap, alignment, size);      /* with the handler */
    if (q == NULL)
        return NULL;
    /* Under a memory checker only the bytes the block was asked for are readable. */
    size_t old_size = dog__track_extent(p, usable);
    memcpy(q, p, size < old_size ? size : old_size);
    dog_free(p);
    return q;
}
