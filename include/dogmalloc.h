/**
 * @file dogmalloc.h
 * @brief dogmalloc: a fast, thread-safe allocator with first-class heaps.
 *
 * This is the whole public API of dogmalloc and the only installed header.
 * Every function is safe to call from any thread. A block from any heap may be
 * freed by any thread with dog_free().
 */
#ifndef DOGMALLOC_H
#define DOGMALLOC_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @defgroup version Version
 *  Compile-time and run-time version of the library.
 *  @{ */
#define DOG_VERSION_MAJOR 0   /**< Major version: changes break the ABI. */
#define DOG_VERSION_MINOR 1   /**< Minor version: new features, same ABI. */
#define DOG_VERSION_PATCH 0   /**< Patch version: fixes only. */
#define DOG_VERSION_STRING "0.1.0" /**< The version as "MAJOR.MINOR.PATCH". */
/** The version as one number, `MAJOR * 10000 + MINOR * 100 + PATCH`. */
#define DOG_VERSION (DOG_VERSION_MAJOR * 10000 + DOG_VERSION_MINOR * 100 + DOG_VERSION_PATCH)
/** @} */

#if defined(DOG_BUILDING) && defined(__GNUC__)
#define DOG_API __attribute__((visibility("default")))
#else
/** Marks a symbol that the shared library exports. */
#define DOG_API
#endif

#if defined(__GNUC__)
#define DOG_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#define DOG_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#else
/** Marks a function that returns fresh memory that aliases nothing. */
#define DOG_MALLOC_ATTR
/** Tells the compiler which arguments give the size of the returned block. */
#define DOG_ALLOC_SIZE(...)
#endif

/** @addtogroup version
 *  @{ */
/**
 * Return the version of the library that is running, as #DOG_VERSION computes it.
 *
 * Compare it with #DOG_VERSION to detect a header/library mismatch.
 * @return the run-time version number, e.g. 100 for 0.1.0.
 * @since 0.1
 */
DOG_API int dog_version(void);

/**
 * Return the version of the library that is running as a string.
 * @return a static string such as "0.1.0"; never NULL.
 * @since 0.1
 */
DOG_API const char *dog_version_string(void);
/** @} */

/** @defgroup malloc Global allocation
 *  The C allocation functions, served by the shared default heap #dog_default.
 *
 *  They follow the contracts of their C11/POSIX namesakes. On failure they return
 *  NULL and set `errno` (ENOMEM for exhaustion or a size above `PTRDIFF_MAX`, EINVAL
 *  for an impossible alignment). dog_free() never changes `errno`.
 *  Blocks are at least 8-byte aligned, and 16-byte aligned when the request is
 *  16 bytes or more.
 *  @{ */

/**
 * Allocate @p size bytes from #dog_default.
 *
 * `dog_malloc(0)` returns a unique pointer that dog_free() accepts.
 * @param size  bytes wanted.
 * @return the block, or NULL with `errno` = ENOMEM.
 * @since 0.1
 */
DOG_API void *dog_malloc(size_t size) DOG_MALLOC_ATTR DOG_ALLOC_SIZE(1);

/**
 * Allocate a zeroed array of @p count elements of @p size bytes from #dog_default.
 * @param count  number of elements.
 * @param size   size of one element.
 * @return the zeroed block, or NULL with `errno` = ENOMEM (also when
 *         `count * size` overflows).
 * @since 0.1
 */
DOG_API void *dog_calloc(size_t count, size_t size) DOG_MALLOC_ATTR DOG_ALLOC_SIZE(1, 2);

/**
 * Resize the block @p p to @p size bytes, keeping its contents.
 *
 * The block stays in the heap it came from. `dog_realloc(NULL, n)` is
 * `dog_malloc(n)`. `dog_realloc(p, 0)` is `dog_realloc(p, 1)`: it returns a
 * minimal unique block (which must be freed), not NULL; this differs from glibc,
 * which frees @p p and returns NULL. Huge blocks grow and shrink in place where
 * the OS allows (mremap).
 * @param p     a live block of any dogmalloc heap, or NULL.
 * @param size  the new size in bytes.
 * @return the resized block (possibly moved), or NULL with `errno` = ENOMEM, in
 *         which case @p p is untouched and still owned by the caller.
 * @since 0.1
 */
DOG_API void *dog_realloc(void *p, size_t size) DOG_ALLOC_SIZE(2);

/**
 * Resize @p p to an array of @p count elements of @p size bytes (OpenBSD, glibc 2.26).
 * @param p      a live block of any dogmalloc heap, or NULL.
 * @param count  number of elements.
 * @param size   size of one element.
 * @return as dog_realloc(); NULL with `errno` = ENOMEM when `count * size`
 *         overflows, leaving @p p intact.
 * @since 0.1
 */
DOG_API void *dog_reallocarray(void *p, size_t count, size_t size) DOG_ALLOC_SIZE(2, 3);

/**
 * Allocate @p size bytes aligned to @p alignment from #dog_default (C11).
 *
 * Any power of two works, up to at least 1 GiB. @p size need not be a multiple
 * of @p alignment.
 * @param alignment  a power of two.
 * @param size       bytes wanted.
 * @return the block, or NULL with `errno` = EINVAL (alignment not a power of
 *         two) or ENOMEM.
 * @since 0.1
 */
DOG_API void *dog_aligned_alloc(size_t alignment, size_t size) DOG_MALLOC_ATTR DOG_ALLOC_SIZE(2);

/**
 * Allocate @p size bytes aligned to @p alignment into `*out` (POSIX).
 * @param out        where the block is stored; untouched on failure.
 * @param alignment  a power of two and a multiple of `sizeof(void *)`.
 * @param size       bytes wanted.
 * @return 0, or EINVAL (bad alignment) or ENOMEM; `errno` is not changed.
 * @since 0.1
 */
DOG_API int dog_posix_memalign(void **out, size_t alignment, size_t size);

/**
 * Free a block of any dogmalloc heap, from any thread.
 *
 * NULL is a no-op. A pointer that dogmalloc never handed out, a pointer into the
 * middle of a block and a block that is already free are detected: the process
 * aborts with a message that names the pointer. `errno` is preserved.
 * @param p  a live block, or NULL.
 * @since 0.1
 */
DOG_API void dog_free(void *p);

/**
 * Free a block whose requested size is known (C23 `free_sized`).
 *
 * Aborts with a message if @p size is larger than the block.
 * @param p     a live block, or NULL.
 * @param size  the size that was requested for @p p.
 * @since 0.1
 */
DOG_API void dog_free_sized(void *p, size_t size);

/**
 * Return how many bytes of the block @p p may be used (at least the size asked for).
 *
 * Aborts with a message for a pointer that is not a live dogmalloc block.
 * @param p  a live block, or NULL.
 * @return the usable size, 0 for NULL.
 * @since 0.1
 */
DOG_API size_t dog_usable_size(const void *p);
/** @} */

/** @defgroup heap First-class heaps
 *  Heaps that a subsystem creates, names, budgets, measures and destroys wholesale.
 *  @{ */

/** An opaque heap handle. */
typedef struct dog_heap dog_heap_t;

/**
 * The global shared heap behind dog_malloc() and friends.
 *
 * Usable wherever a heap handle is expected, except dog_heap_destroy().
 * @since 0.1
 */
extern DOG_API dog_heap_t *const dog_default;

/** Options for dog_heap_new(). A zero-initialised struct means the defaults. */
typedef struct dog_heap_options {
    /** A name for reports (copied, up to 31 bytes), or NULL for "heap". */
    const char *name;
    /** A budget in bytes of memory the heap may hold from the OS; 0 for none.
     *  It counts 512 KiB per page held and the mapped size of each huge block,
     *  so give a heap at least a few pages' worth. */
    size_t limit;
} dog_heap_options_t;

/**
 * Create a heap.
 *
 * The heap starts empty; it takes memory only when blocks are allocated.
 * @param opts  the options, or NULL for the defaults (no name, no budget).
 * @return the heap, or NULL with `errno` = ENOMEM.
 * @since 0.1
 */
DOG_API dog_heap_t *dog_heap_new(const dog_heap_options_t *opts);

/**
 * Destroy @p heap and every block still allocated from it, in one pass.
 *
 * The memory goes back to a reuse pool (and from there to the OS when it stays
 * unused), without visiting blocks. Blocks from @p heap must not be used or freed
 * afterwards, and no other thread may be using @p heap during the call; other
 * heaps are unaffected. Destroying #dog_default aborts with a message.
 * @param heap  a heap from dog_heap_new(), or NULL (no-op).
 * @since 0.1
 */
DOG_API void dog_heap_destroy(dog_heap_t *heap);

/**
 * Allocate @p size bytes from @p heap.
 * @param heap  a live heap.
 * @param size  bytes wanted.
 * @return the block, or NULL with `errno` = ENOMEM (also when the heap's budget
 *         would be exceeded) or EINVAL (@p heap is NULL).
 * @since 0.1
 */
DOG_API void *dog_heap_malloc(dog_heap_t *heap, size_t size) DOG_MALLOC_ATTR DOG_ALLOC_SIZE(2);

/**
 * Allocate a zeroed array from @p heap.
 * @param heap   a live heap.
 * @param count  number of elements.
 * @param size   size of one element.
 * @return the zeroed block, or NULL with `errno` = ENOMEM or EINVAL.
 * @since 0.1
 */
DOG_API void *dog_heap_calloc(dog_heap_t *heap, size_t count, size_t size)
    DOG_MALLOC_ATTR DOG_ALLOC_SIZE(2, 3);

/**
 * Resize @p p to @p size bytes; the result is a block of @p heap.
 *
 * If @p p belongs to another heap, its contents move into @p heap. Otherwise as
 * dog_realloc().
 * @param heap  a live heap.
 * @param p     a live block of any heap, or NULL.
 * @param size  the new size in bytes.
 * @return the block, or NULL with `errno` set, leaving @p p intact.
 * @since 0.1
 */
DOG_API void *dog_heap_realloc(dog_heap_t *heap, void *p, size_t size) DOG_ALLOC_SIZE(3);

/**
 * Allocate @p size bytes aligned to @p alignment from @p heap.
 * @param heap       a live heap.
 * @param alignment  a power of two (up to at least 1 GiB).
 * @param size       bytes wanted.
 * @return the block, or NULL with `errno` = EINVAL or ENOMEM.
 * @since 0.1
 */
DOG_API void *dog_heap_aligned_alloc(dog_heap_t *heap, size_t alignment, size_t size)
    DOG_MALLOC_ATTR DOG_ALLOC_SIZE(3);

/**
 * Return the heap that the live block @p p belongs to.
 *
 * Never reads memory that dogmalloc does not own, so any pointer may be asked about.
 * @param p  any pointer.
 * @return the heap (#dog_default for global blocks), or NULL when @p p is not the
 *         start of a live dogmalloc block.
 * @since 0.1
 */
DOG_API dog_heap_t *dog_heap_of(const void *p);

/**
 * Return the name given to @p heap at creation ("default" for #dog_default).
 * @param heap  a live heap.
 * @return the name; valid until the heap is destroyed.
 * @since 0.1
 */
DOG_API const char *dog_heap_name(const dog_heap_t *heap);
/** @} */

/** @defgroup stats Introspection and statistics
 *  Always-on counters, per heap and for the whole process.
 *  @{ */

/** Statistics of one heap, filled in by dog_heap_stats(). */
typedef struct dog_heap_stats {
    size_t bytes_in_use;      /**< Usable bytes of live blocks. */
    size_t blocks_in_use;     /**< Live blocks. */
    size_t peak_bytes_in_use; /**< Highest bytes_in_use seen (exact while one thread at a
                                   time uses the heap, otherwise within 64 KiB). */
    size_t bytes_mapped;      /**< Memory the heap holds from the OS (pages and huge blocks). */
    size_t pages;             /**< 512 KiB pages held. */
    size_t huge_blocks;       /**< Live huge blocks (larger than the largest size class). */
    size_t huge_bytes;        /**< Usable bytes of live huge blocks. */
    size_t allocs;            /**< Blocks allocated since the heap was created. */
    size_t frees;             /**< Blocks freed since the heap was created. */
    size_t limit;             /**< The heap's budget, 0 for none. */
} dog_heap_stats_t;

/**
 * Fill @p out with the statistics of @p heap.
 *
 * Collects pending cross-thread frees first, so the figures are exact when the
 * call is made after all frees have returned.
 * @param heap  a live heap.
 * @param out   where to store them.
 * @return 0, or -1 with `errno` = EINVAL for a NULL argument.
 * @since 0.1
 */
DOG_API int dog_heap_stats(const dog_heap_t *heap, dog_heap_stats_t *out);

/**
 * Print a readable report of @p heap's statistics to @p out.
 * @param heap  a live heap.
 * @param out   a stream, e.g. stderr.
 * @return 0, or -1 with `errno` set (EINVAL, or the stream's error).
 * @since 0.1
 */
DOG_API int dog_heap_stats_print(const dog_heap_t *heap, FILE *out);

/** Statistics of the whole process's use of dogmalloc, from dog_stats(). */
typedef struct dog_stats {
    size_t bytes_mapped;      /**< All memory dogmalloc holds from the OS right now. */
    size_t heaps;             /**< Live heaps, #dog_default included. */
    size_t pool_pages;        /**< Empty pages kept for reuse (part of bytes_mapped). */
    size_t huge_cache_bytes;  /**< Freed huge blocks kept for reuse (part of bytes_mapped). */
} dog_stats_t;

/**
 * Fill @p out with process-wide statistics.
 * @param out  where to store them.
 * @return 0, or -1 with `errno` = EINVAL for NULL.
 * @since 0.1
 */
DOG_API int dog_stats(dog_stats_t *out);

/**
 * Return all memory that no heap uses to the OS now (reuse pool and huge cache).
 * @since 0.1
 */
DOG_API void dog_trim(void);
/** @} */

#ifdef __cplusplus
}
#endif

#endif /* DOGMALLOC_H */
