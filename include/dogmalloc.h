/* SPDX-License-Identifier: MIT */
/**
 * @file dogmalloc.h
 * @brief dogmalloc: a fast, thread-safe allocator with first-class heaps.
 *
 * This is the whole public API of dogmalloc and the only installed header.
 *
 * Threads: every function is safe to call from any thread, with no set-up and no
 * clean-up per thread. A block from any heap may be freed by any thread with dog_free().
 *
 * fork(): the child of a multi-threaded process gets a usable allocator (atfork handlers
 * hold every lock across the fork; on glibc they take the stdio list lock first, in the
 * order of glibc's own fork, so threads inside stdio cannot deadlock with them). fork()
 * from a signal handler that interrupted a dogmalloc call hangs neither the parent nor
 * the child in a single-threaded process, as with glibc's malloc; the child, as POSIX
 * says, should only make async-signal-safe calls before it execs or exits. No function
 * here is async-signal-safe: one called from a signal handler that interrupted dogmalloc
 * in the same thread aborts with a message if it needs a lock the interrupted call holds.
 *
 * Ownership: a block belongs to the heap it was allocated from (#dog_default for the
 * dog_malloc() family, unless the thread routes it: dog_thread_set_heap()) and lives until it is freed or, for a block of an explicit
 * heap, until that heap is destroyed with dog_heap_destroy(). Blocks do not belong to
 * threads: a thread that exits leaves its blocks valid.
 *
 * Errors: a function that fails returns NULL (or -1, or an error number where POSIX
 * says so) and sets `errno`; out-of-memory is never a crash. Misuse that would corrupt
 * memory (freeing a pointer that dogmalloc never handed out, a double free) aborts
 * with a message on stderr that names the pointer, or, with #DOG_MISUSE_REPORT, is
 * reported and skipped (see #DOG_OPTION_MISUSE).
 *
 * Structs that grow (#dog_heap_options_t, #dog_heap_stats_t, #dog_stats_t): a minor
 * version may add fields at their end, never move or remove one. So that a library never
 * reads or writes past a struct that a caller compiled against an older header, every
 * call that takes one also takes its size, and the header passes it for you:
 * dog_heap_new(), dog_heap_stats() and dog_stats() are macros that call
 * dog_heap_new_sized(), dog_heap_stats_sized() and dog_stats_sized() with the `sizeof`
 * of the struct as this header declares it. The library reads only that many bytes of
 * options (the fields past them mean their zero default) and writes only that many bytes
 * of statistics. A zero-initialised options struct means the defaults, in every version:
 * every new field is 0 for "as before". The functions of 0.1 keep their names and ABI in
 * the library for programs built against the 0.1 header (they take the 0.1 sizes); code
 * that needs one of them by address writes `(dog_heap_new)`, which the macro leaves alone.
 * @since 0.1
 */
#ifndef DOGMALLOC_H
#define DOGMALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @defgroup version Version and options
 *  Compile-time and run-time version of the library, and its environment options.
 *
 *  The version macros describe the header; dog_version() and dog_version_string()
 *  describe the library that is running. The major version is the soname's
 *  (`libdogmalloc.so.0`): it changes only when the ABI breaks.
 *
 *  Options (#dog_option_t) are read once from the environment, when dogmalloc first
 *  allocates (before `main` under the override), without allocating and without stdio.
 *  Each has a variable and an enumerator; dog_option_set() and dog_option_get() reach
 *  them from code:
 *
 *  | Variable | Values | Default | Can change |
 *  |----------|--------|---------|------------|
 *  | `DOGMALLOC_SHOW_STATS` | 0 or 1 | 0 | at run time |
 *  | `DOGMALLOC_VERBOSE` | 0 or 1 | 0 | at run time |
 *  | `DOGMALLOC_SHOW_ERRORS` | 0 or 1 | 0 | at run time |
 *  | `DOGMALLOC_MISUSE` | `abort`, `report` | `abort` | at run time |
 *  | `DOGMALLOC_PURGE_DELAY` | milliseconds, `0` (at once), `-1` or `never` | 50 | at run time |
 *  | `DOGMALLOC_LIMIT` | bytes, `0` for none | 0 | before the first allocation |
 *  | `DOGMALLOC_THP` | `default`, `off`, `on` (or `madvise`) | `default` | before the first allocation |
 *  | `DOGMALLOC_RESERVE` | bytes, `0` for none | 0 | before the first allocation |
 *
 *  Sizes take a suffix, in powers of 1024 and any case: `K`, `M`, `G`, `T`, also
 *  written `KB`, `KiB` and so on (`DOGMALLOC_LIMIT=512M`). Flags take `1`, `yes`, `true`,
 *  `on` and `0`, `no`, `false`, `off`. A value that does not parse draws a warning on
 *  stderr and leaves the default, and any other `DOGMALLOC_*` variable draws a warning,
 *  so a misspelt option does not go unnoticed. With `DOGMALLOC_VERBOSE=1`, start-up
 *  prints the version and every option's effective value with where it came from
 *  (default, environment or dog_option_set()).
 *  @since 0.1
 *  @{ */
/** Major version: a change breaks the ABI (and the soname). @since 0.1 */
#define DOG_VERSION_MAJOR 0
/** Minor version: new features, same ABI. @since 0.1 */
#define DOG_VERSION_MINOR 1
/** Patch version: fixes only. @since 0.1 */
#define DOG_VERSION_PATCH 0
/** The version as a string, "MAJOR.MINOR.PATCH". @since 0.1 */
#define DOG_VERSION_STRING "0.1.0"
/** The version as one number, `MAJOR * 10000 + MINOR * 100 + PATCH`. @since 0.1 */
#define DOG_VERSION (DOG_VERSION_MAJOR * 10000 + DOG_VERSION_MINOR * 100 + DOG_VERSION_PATCH)
/** @} */

#if defined(DOG_BUILDING) && defined(__GNUC__)
#define DOG_API __attribute__((visibility("default")))
#else
/** Marks a symbol that the shared library exports (empty outside the library's build).
 *  @since 0.1 */
#define DOG_API
#endif

#if defined(__GNUC__)
#define DOG_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#define DOG_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#else
/** Marks a function that returns fresh memory that aliases nothing, and whose result
 *  must be used (GCC and Clang; empty elsewhere). @since 0.1 */
#define DOG_MALLOC_ATTR
/** Tells the compiler which arguments give the size of the returned block (GCC and
 *  Clang; empty elsewhere), for `__builtin_object_size` and its checks. @since 0.1 */
#define DOG_ALLOC_SIZE(...)
#endif

/** @addtogroup version
 *  @{ */
/**
 * Return the version of the library that is running, as #DOG_VERSION computes it.
 *
 * Compare it with #DOG_VERSION to detect a header/library mismatch. Safe from any
 * thread; never fails and never changes `errno`.
 * @return the run-time version number, e.g. 100 for 0.1.0.
 * @since 0.1
 */
DOG_API int dog_version(void);

/**
 * Return the version of the library that is running as a string.
 *
 * Safe from any thread; never fails and never changes `errno`.
 * @return a static string such as "0.1.0", never NULL; the caller must not free it.
 * @since 0.1
 */
DOG_API const char *dog_version_string(void);

/** The options of dog_option_set() and dog_option_get(); each is also read from the
 *  environment variable named in its description. @since 0.2 */
typedef enum dog_option {
    /** `DOGMALLOC_SHOW_STATS`: 1 prints the statistics of #dog_default to stderr at
     *  exit (the report of dog_heap_stats_print()), then the table of every live heap
     *  (dog_stats_print_all()), with no allocation. Changes at run time. */
    DOG_OPTION_SHOW_STATS = 0,
    /** `DOGMALLOC_VERBOSE`: 1 prints the version and every option at start-up, with
     *  where its value came from. Changes at run time (it matters at start-up only). */
    DOG_OPTION_VERBOSE = 1,
    /** `DOGMALLOC_SHOW_ERRORS`: 1 prints a message on stderr for each allocation that
     *  fails (out of memory, over the #DOG_OPTION_LIMIT, a bad alignment), up to 100
     *  messages. Misuse is always reported, whatever this says. Changes at run time. */
    DOG_OPTION_SHOW_ERRORS = 2,
    /** `DOGMALLOC_MISUSE`: what a detected misuse does, #DOG_MISUSE_ABORT (the default)
     *  or #DOG_MISUSE_REPORT. Changes at run time. */
    DOG_OPTION_MISUSE = 3,
    /** `DOGMALLOC_PURGE_DELAY`: milliseconds that an empty page stays resident in the
     *  reuse pool before its memory goes back to the OS (`madvise`); 0 purges at once,
     *  -1 never purges by age (the pool's cap of 64 resident pages still applies).
     *  Default 50. Changes at run time; pages already pooled follow the new delay. */
    DOG_OPTION_PURGE_DELAY = 4,
    /** `DOGMALLOC_LIMIT`: a budget in bytes for #dog_default, as dog_heap_options_t.limit
     *  is for an explicit heap: past it, the dog_malloc() family (and `malloc` under the
     *  override) returns NULL with `errno` = ENOMEM. 0 (the default) for none. Only
     *  before the first allocation. */
    DOG_OPTION_LIMIT = 5,
    /** `DOGMALLOC_THP`: transparent huge pages for the mappings that pages are carved
     *  from: #DOG_THP_DEFAULT, #DOG_THP_OFF or #DOG_THP_ON. Only before the first
     *  allocation. */
    DOG_OPTION_THP = 6,
    /** `DOGMALLOC_RESERVE`: bytes of address space to reserve at start-up (mapped
     *  without access and without swap reservation, so it costs no memory); pages are
     *  carved from it before anything else is mapped, so they lie together. 0 (the
     *  default) for none. Only before the first allocation. */
    DOG_OPTION_RESERVE = 7,
    /** `DOGMALLOC_LEAK_REPORT`: 1 gives every heap the leak report of
     *  #DOG_HEAP_LEAK_REPORT: at dog_heap_destroy(), and at exit for every heap still
     *  live, #dog_default included (under the override, its blocks include those the C
     *  library keeps to the end). Changes at run time. @since 0.2 */
    DOG_OPTION_LEAK_REPORT = 8,
    /** The number of options (not an option). */
    DOG_OPTION_COUNT = 9
} dog_option_t;

/** #DOG_OPTION_MISUSE: an invalid or double free and the other misuses abort the
 *  process after a message on stderr (the default). @since 0.2 */
#define DOG_MISUSE_ABORT 0
/** #DOG_OPTION_MISUSE: a misuse prints its message and the program continues where
 *  that is safe: an invalid, interior or double free, or a dog_free_sized() with too
 *  large a size, is skipped (the block, if it is one, leaks rather than corrupts
 *  anything); dog_realloc() of a pointer that is not a live block returns NULL with
 *  `errno` = EINVAL; dog_usable_size() of one returns 0; a dead heap handle counts as
 *  NULL (EINVAL). Corruption found inside the allocator (a free list that links a live
 *  block) still aborts. @since 0.2 */
#define DOG_MISUSE_REPORT 1

/** #DOG_OPTION_THP: no `madvise`; the kernel's setting in
 *  `/sys/kernel/mm/transparent_hugepage/enabled` decides (the default). @since 0.2 */
#define DOG_THP_DEFAULT 0
/** #DOG_OPTION_THP: `madvise(MADV_NOHUGEPAGE)`: never huge pages, even when the kernel
 *  uses them everywhere (a purge then always returns memory). @since 0.2 */
#define DOG_THP_OFF 1
/** #DOG_OPTION_THP: `madvise(MADV_HUGEPAGE)` on 2 MiB-aligned mappings, so the kernel
 *  backs them with huge pages when its setting is `always` or `madvise` (the variable
 *  also takes `madvise` for this). @since 0.2 */
#define DOG_THP_ON 2

/**
 * Set option @p opt to @p value, overriding its environment variable.
 *
 * Options marked "changes at run time" in #dog_option_t take effect at once, from any
 * thread. The others are read when dogmalloc first allocates (the first dog_malloc(),
 * or before `main` under the override) and can be set only before that; a call
 * before it also reads the environment, so the value given here wins over the
 * variable. `errno` is not changed.
 * @param opt    the option.
 * @param value  its new value, in the unit of its description (0 or 1 for a flag).
 * @return 0; or EINVAL if @p opt is not an option or @p value not one of its values;
 *         or EBUSY if @p opt can only be set before the first allocation and that has
 *         happened.
 * @since 0.2
 */
DOG_API int dog_option_set(dog_option_t opt, long value);

/**
 * Return the effective value of option @p opt.
 *
 * Reads the environment first if dogmalloc has not yet. Safe from any thread.
 * @param opt  the option.
 * @return its value (#DOG_OPTION_PURGE_DELAY may be -1, for never), or -1 with
 *         `errno` = EINVAL if @p opt is not an option.
 * @since 0.2
 */
DOG_API long dog_option_get(dog_option_t opt);
/** @} */

/** @defgroup malloc Global allocation
 *  The C allocation functions, served by the shared default heap #dog_default.
 *
 *  They follow the contracts of their C11/POSIX namesakes. On failure they return
 *  NULL and set `errno` (ENOMEM for exhaustion or a size above `PTRDIFF_MAX`, EINVAL
 *  for an impossible alignment). dog_free() never changes `errno`.
 *  Blocks are at least 8-byte aligned, and 16-byte aligned when the request is
 *  16 bytes or more.
 *
 *  Every function here is safe to call from any thread, concurrently. The blocks
 *  they return belong to #dog_default, or to the heap the calling thread routes to with
 *  dog_thread_set_heap() (dog_realloc() keeps a block in the heap it came from), and
 *  live until dog_free(); any thread may free them. The same
 *  functions back `malloc` and friends when libdogmalloc-override.so is preloaded.
 *  @since 0.1
 *  @{ */

/**
 * Allocate @p size bytes from #dog_default (or the thread's route: dog_thread_set_heap()).
 *
 * `dog_malloc(0)` returns a unique pointer that dog_free() accepts. The block is
 * uninitialised and may hold more than @p size bytes (see dog_usable_size()).
 * Safe from any thread; the caller owns the block until dog_free().
 * @param size  bytes wanted.
 * @return the block, or NULL with `errno` = ENOMEM.
 * @since 0.1
 */
DOG_API void *dog_malloc(size_t size) DOG_MALLOC_ATTR DOG_ALLOC_SIZE(1);

/**
 * Allocate a zeroed array of @p count elements of @p size bytes from #dog_default (or
 * the thread's route: dog_thread_set_heap()).
 *
 * Safe from any thread; the caller owns the block until dog_free().
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
 * the OS allows (mremap). A shrink never fails: when the smaller block would
 * need memory that cannot be had (a page of a smaller size class beyond a heap's
 * budget, say), @p p is returned as it is. On success @p p must no longer be used: only the
 * returned pointer is valid. Safe from any thread, but no other thread may use
 * or free @p p during the call.
 * @param p     a live block of any dogmalloc heap, or NULL.
 * @param size  the new size in bytes.
 * @return the resized block (possibly moved), or NULL with `errno` = ENOMEM, in
 *         which case @p p is untouched and still owned by the caller.
 * @since 0.1
 */
DOG_API void *dog_realloc(void *p, size_t size) DOG_ALLOC_SIZE(2);

/**
 * Resize @p p to an array of @p count elements of @p size bytes (OpenBSD, glibc 2.26).
 *
 * Ownership and threading as dog_realloc().
 * @param p      a live block of any dogmalloc heap, or NULL.
 * @param count  number of elements.
 * @param size   size of one element.
 * @return as dog_realloc(); NULL with `errno` = ENOMEM when `count * size`
 *         overflows, leaving @p p intact.
 * @since 0.1
 */
DOG_API void *dog_reallocarray(void *p, size_t count, size_t size) DOG_ALLOC_SIZE(2, 3);

/**
 * Allocate @p size bytes aligned to @p alignment from #dog_default (C11; or the
 * thread's route: dog_thread_set_heap()).
 *
 * Any power of two works, up to at least 1 GiB. @p size need not be a multiple
 * of @p alignment. Free the block with dog_free(), as any other. Safe from any
 * thread.
 * @param alignment  a power of two.
 * @param size       bytes wanted.
 * @return the block, or NULL with `errno` = EINVAL (alignment not a power of
 *         two) or ENOMEM.
 * @since 0.1
 */
DOG_API void *dog_aligned_alloc(size_t alignment, size_t size) DOG_MALLOC_ATTR DOG_ALLOC_SIZE(2);

/**
 * Allocate @p size bytes aligned to @p alignment into `*out` (POSIX).
 *
 * Free the block with dog_free(). Safe from any thread.
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
 * aborts with a message that names the pointer (under #DOG_MISUSE_REPORT the message
 * is printed and the free skipped). `errno` is preserved.
 *
 * What the always-on double-free check promises: a second free of a block aborts,
 * whichever threads made the two frees and in whichever order, as long as the
 * program did not write to the block between them (writing to a freed block is a use
 * after free, which this build does not promise to catch). A freed block whose first
 * 8 bytes were overwritten may be accepted a second time when it was freed into a
 * thread cache; when it was freed by another thread, the overwritten link is found,
 * and the process stopped with a message, when the owner collects the block. Two
 * frees of one block racing at the same instant on two threads are a data race in
 * the program and may go unseen. A live block is mistaken for a freed one with
 * probability 2^-45 (its first word would have to match a random per-process key).
 * The block goes back to the heap it came from, whichever thread frees it; a free
 * from another thread never waits for the heap's lock. The block must not be used
 * afterwards, and blocks of a destroyed heap must not be freed.
 * @param p  a live block, or NULL.
 * @since 0.1
 */
DOG_API void dog_free(void *p);

/**
 * Free a block whose requested size is known (C23 `free_sized`).
 *
 * As dog_free(), including its threading and `errno` rules; aborts with a message
 * if @p size is larger than the block's usable size. A smaller @p size than the one
 * requested is not detected: dogmalloc keeps no per-block request size (a block
 * may legitimately be larger than its request after dog_realloc() shrank it in
 * place, or after an aligned allocation), so only the upper bound is checked.
 * @param p     a live block, or NULL.
 * @param size  the size that was requested for @p p.
 * @since 0.1
 */
DOG_API void dog_free_sized(void *p, size_t size);

/**
 * Return how many bytes of the block @p p may be used (at least the size asked for).
 *
 * The usable size is the block's size class (or the mapped size of a huge block);
 * all of it may be written. Aborts with a message for a pointer that is not a live
 * dogmalloc block. Safe from any thread; does not change `errno`.
 * @param p  a live block, or NULL.
 * @return the usable size, 0 for NULL.
 * @since 0.1
 */
DOG_API size_t dog_usable_size(const void *p);

/**
 * Copy the string @p s into a new block of #dog_default (POSIX `strdup`; or of the
 * thread's route: dog_thread_set_heap()).
 *
 * Safe from any thread; the caller owns the copy until dog_free().
 * @param s  a NUL-terminated string.
 * @return the copy, or NULL with `errno` = ENOMEM, or EINVAL if @p s is NULL.
 * @since 0.2
 */
DOG_API char *dog_strdup(const char *s) DOG_MALLOC_ATTR;

/**
 * Copy at most @p n bytes of the string @p s, and a NUL, into a new block of
 * #dog_default (POSIX `strndup`; or of the thread's route: dog_thread_set_heap()).
 *
 * Reads @p s up to its NUL or @p n bytes, whichever comes first, so @p s need not be
 * terminated within @p n bytes. Safe from any thread; the caller owns the copy until
 * dog_free().
 * @param s  a string, or an array of at least @p n bytes.
 * @param n  the most bytes to copy.
 * @return the NUL-terminated copy, or NULL with `errno` = ENOMEM, or EINVAL if @p s is
 *         NULL.
 * @since 0.2
 */
DOG_API char *dog_strndup(const char *s, size_t n) DOG_MALLOC_ATTR;

/**
 * Grow or shrink the block @p p in place to hold @p size bytes, or fail and leave it.
 *
 * Never moves the block: on success the result is @p p, its first
 * `min(size, old usable size)` bytes are unchanged and dog_usable_size() is at least
 * @p size. A block of a size class stays that size (a shrink succeeds and keeps the
 * block's memory, a growth succeeds only within its usable size); a huge block (above
 * 64 KiB) gives back or takes in whole OS pages at its end, within its heap's budget
 * (the heap's `on_limit` handler is not called: see #dog_limit_fn). Safe from any
 * thread, but no other thread may use or free @p p during the call.
 * @param p     a live block of any dogmalloc heap.
 * @param size  the size wanted, in bytes (0 counts as 1).
 * @return @p p, or NULL when the block cannot hold @p size bytes where it is (`errno` =
 *         ENOMEM; @p p untouched and still valid), or NULL with `errno` = EINVAL when @p p
 *         is NULL or not a live block (reported as a misuse first: see #DOG_OPTION_MISUSE).
 * @since 0.2
 */
DOG_API void *dog_expand(void *p, size_t size);

/**
 * Return the usable size that a request for @p size bytes gets.
 *
 * Up to 64 KiB this is the size class: dog_usable_size(dog_malloc(size)) equals it,
 * from any heap. Above, it is the request rounded up to whole OS pages (less the block's
 * header), and a block may get more when it reuses a larger freed mapping. Rounding a
 * request up to this size costs nothing, so a growing buffer can ask for it. Pure: no
 * allocation, safe from any thread, never changes `errno`.
 * @param size  a request, in bytes.
 * @return the usable size (at least @p size; 0 counts as 1), or @p size itself when no
 *         block that large can exist (the request would fail with ENOMEM).
 * @since 0.2
 */
DOG_API size_t dog_good_size(size_t size);
/** @} */

/** @defgroup heap First-class heaps
 *  Heaps that a subsystem creates, names, budgets, measures and destroys wholesale.
 *
 *  Every heap, #dog_default included, is built from the same machinery and may be
 *  used by any number of threads at once. A block of a heap may be freed with
 *  dog_free() from any thread; blocks still allocated when the heap is destroyed
 *  are released with it.
 *  @since 0.1
 *  @{ */

/** An opaque heap handle: #dog_default, or a heap from dog_heap_new() that is valid
 *  until dog_heap_destroy().
 *
 *  A handle that is not a live heap, given to a `dog_heap_*` function (one already
 *  destroyed, or any other pointer: garbage, a block, an address where nothing is
 *  mapped), aborts with a message that names it, or under #DOG_MISUSE_REPORT counts as
 *  NULL (EINVAL); the handle is looked up, not read, unless it may be a heap. A destroyed
 *  heap's memory is reused by dog_heap_new() only after 64 more heaps have been
 *  destroyed, and until then its handle is recognised; from then on it may name a new
 *  heap. @since 0.1 */
typedef struct dog_heap dog_heap_t;

/**
 * The global shared heap behind dog_malloc() and friends.
 *
 * Usable wherever a heap handle is expected, except dog_heap_destroy(). It lives
 * as long as the process, is shared by all threads, and serves `malloc` when
 * libdogmalloc-override.so is preloaded.
 * @since 0.1
 */
extern DOG_API dog_heap_t *const dog_default;

/** The smallest budget a heap may have (other than 0, none): one 512 KiB page, the
 *  memory a heap needs for its first small block. dog_heap_new() and
 *  dog_heap_set_limit() refuse a smaller one with EINVAL. @since 0.2 */
#define DOG_HEAP_LIMIT_MIN ((size_t)512 * 1024)

/**
 * The budget handler of a heap, dog_heap_options_t.on_limit.
 *
 * Called when an allocation from @p heap, or from one of its descendants (child heaps:
 * dog_heap_options_t.parent), would take @p heap past its budget, after the heaps have
 * given back the empty pages they keep; it is the handler of the heap whose budget is
 * exceeded, called with that heap. The functions that name the heap call it:
 * dog_heap_malloc(), dog_heap_calloc(), dog_heap_realloc(), dog_heap_aligned_alloc() and
 * the helpers built on them (dog_heap_zalloc(), dog_heap_strdup(), dog_heap_strndup(),
 * dog_heap_realloc_aligned()), and the dog_malloc() family of a thread routed to the heap
 * (dog_thread_set_heap(), which makes dog_realloc() of the heap's blocks call it too);
 * otherwise dog_realloc() and dog_expand() of a block of the heap fail with ENOMEM
 * without calling it. It runs in the thread that asked, with no lock of dogmalloc held
 * and no route (its dog_malloc() allocates from #dog_default), so it may free blocks of
 * @p heap (or any other), call
 * dog_heap_set_limit(), dog_heap_stats() and allocate; an allocation from @p heap that
 * fails inside the handler returns NULL without calling the handler again. It must not
 * destroy, reset or delete @p heap or any heap below it (dog_heap_destroy(),
 * dog_heap_reset(), dog_heap_delete()): the request it answers may be a
 * dog_heap_realloc() of one of the blocks of the heap that asked, which may be a child
 * of @p heap. If the heap that asked is gone when the handler returns, that is reported
 * as a dead heap, and the request fails with EINVAL instead of being tried again.
 * @param heap     the heap that is out of budget.
 * @param request  the size of the allocation that failed, in bytes (for a realloc, the
 *                 new size).
 * @param arg      dog_heap_options_t.on_limit_arg.
 * @return nonzero to have the allocation tried once more (the handler made room or
 *         raised the limit); 0 to let it fail with NULL and `errno` = ENOMEM.
 * @since 0.2
 */
typedef int (*dog_limit_fn)(dog_heap_t *heap, size_t request, void *arg);

/**
 * A visitor of live blocks: dog_heap_visit() and the leak report's handler,
 * dog_heap_options_t.on_leak.
 *
 * Called once for each block that is handed out: allocated and not yet freed (a block
 * that a thread cache holds, or that waits on a thread free list after another thread
 * freed it, is free and never visited). Runs in the thread that asked, with no lock of
 * dogmalloc held: it may allocate and free in any heap, print, and free @p block itself,
 * but no other block of @p heap that the visit has yet to reach (the visit would then
 * hand it over although it is freed).
 * @param heap         the heap being visited.
 * @param block        the block's start, as the allocation returned it.
 * @param usable_size  its usable size, as dog_usable_size() gives it (under a memory
 *                     checker's build only the requested bytes are accessible, until the
 *                     program calls dog_usable_size(): see the debugging page).
 * @param arg          the argument given with the visitor.
 * @since 0.2
 */
typedef void (*dog_visit_fn)(const dog_heap_t *heap, void *block, size_t usable_size,
                             void *arg);

/** dog_heap_options_t.flags: report the blocks still live when the heap is destroyed
 *  (dog_heap_destroy()) or, for a heap still live then, at exit: by default a table on
 *  stderr with the heap's name, its live blocks and bytes, and a row per size class
 *  (its blocks, bytes and first few addresses), huge blocks last; nothing when no block
 *  is live. With dog_heap_options_t.on_leak set, that handler gets each live block
 *  instead. `DOGMALLOC_LEAK_REPORT=1` (#DOG_OPTION_LEAK_REPORT) turns it on for every
 *  heap. Costs nothing until the report. @since 0.2 */
#define DOG_HEAP_LEAK_REPORT 1u

/** Options for dog_heap_new(). A zero-initialised struct means the defaults, and will in
 *  every later version (see the rule for structs that grow in dogmalloc.h).
 *  dog_heap_new() copies what it needs, so the struct may be temporary. @since 0.1 */
typedef struct dog_heap_options {
    /** A name for reports (copied, up to 31 bytes), or NULL for "heap". @since 0.1 */
    const char *name;
    /** A budget in bytes of memory the heap may hold from the OS; 0 for none, else at
     *  least #DOG_HEAP_LIMIT_MIN (one page). It counts 512 KiB per page held and the
     *  mapped size of each huge block, so give a heap at least a few pages' worth.
     *  Free blocks that other threads' caches hold for the heap (up to 16 KiB per size
     *  class and thread) keep the pages they lie in held, a whole page for as little as
     *  one cached block, until those threads use the heap again, trim or exit; the
     *  caller's own cache of the heap is given back before a request is refused. For a
     *  heap with children (dog_heap_options_t.parent) it counts their memory too
     *  (`tree_bytes_mapped`). dog_heap_set_limit() changes it later. @since 0.1 */
    size_t limit;
    /** Called when an allocation would exceed the budget (see #dog_limit_fn), or NULL:
     *  such an allocation fails with ENOMEM at once. @since 0.2 */
    dog_limit_fn on_limit;
    /** Passed to on_limit as it is. @since 0.2 */
    void *on_limit_arg;
    /** #DOG_HEAP_LEAK_REPORT, or 0. dog_heap_new() refuses a flag it does not know with
     *  EINVAL. @since 0.2 */
    unsigned flags;
    /** The leak report's handler (#DOG_HEAP_LEAK_REPORT), or NULL for the table on
     *  stderr: called for each block live at dog_heap_destroy() or at exit, as
     *  dog_heap_visit() calls its visitor; at exit with the heap list's lock held, so it
     *  must not call what takes that lock: dog_heap_new(), dog_heap_destroy(),
     *  dog_heap_reset(), dog_heap_delete(), dog_stats(), dog_stats_print_all(), dog_trim()
     *  or fork(). @since 0.2 */
    dog_visit_fn on_leak;
    /** Passed to on_leak as it is. @since 0.2 */
    void *on_leak_arg;
    /** The parent of the new heap, or NULL for none: a live explicit heap (not
     *  #dog_default), at most 62 levels below a heap without a parent. The child is a heap
     *  like any other, usable from any thread, with its own name, budget and statistics,
     *  and also part of its parent's: the memory it holds counts against the budget of
     *  every ancestor (a request that would take any of them past its limit fails, after
     *  that heap's `on_limit` handler had its say), dog_heap_destroy() and
     *  dog_heap_reset() of an ancestor destroy it first (children before parents, the
     *  newest child first), and dog_stats_print_all() shows it under its parent.
     *  @since 0.2 */
    dog_heap_t *parent;
} dog_heap_options_t;

/**
 * Create a heap, reading @p size bytes of options (what the dog_heap_new() macro calls).
 *
 * The heap starts empty; it takes memory only when blocks are allocated. The caller
 * owns the heap: release it, and every block still in it, with dog_heap_destroy().
 * The new heap may be used from any thread. Safe from any thread.
 *
 * Only the first @p size bytes of @p opts are read; fields past them take their zero
 * default. A @p size larger than this library's struct (a program built against a newer
 * header) is accepted when the bytes past the struct that this library knows are all
 * zero (options left at their defaults), and refused with EINVAL otherwise, since the
 * library cannot honour an option it does not know.
 * @param opts  the options, or NULL for the defaults (no name, no budget).
 * @param size  `sizeof(dog_heap_options_t)` as the caller's header declares it; at least
 *              the 0.1 struct's (a name and a limit).
 * @return the heap, or NULL with `errno` = ENOMEM, or EINVAL for a limit below
 *         #DOG_HEAP_LIMIT_MIN (other than 0), a @p size too small, or an option unknown
 *         to this library.
 * @since 0.2
 */
DOG_API dog_heap_t *dog_heap_new_sized(const dog_heap_options_t *opts, size_t size);

/**
 * Create a heap (the 0.1 entry point; the macro of the same name is what code calls).
 *
 * As dog_heap_new_sized() with the size of the 0.1 struct (a name and a limit), for
 * programs built against the 0.1 header. Source code calls the dog_heap_new() macro,
 * which passes the struct's size.
 * @param opts  the options (the 0.1 fields only), or NULL for the defaults.
 * @return as dog_heap_new_sized().
 * @since 0.1
 */
DOG_API dog_heap_t *(dog_heap_new)(const dog_heap_options_t *opts);
/** Create a heap with the options @p ... (a `const dog_heap_options_t *`, or NULL):
 *  dog_heap_new_sized() given the size of #dog_heap_options_t as this header declares it.
 *  A macro so that the size is never forgotten; variadic so that a compound literal
 *  argument (`&(dog_heap_options_t){ .name = "x", .limit = n }`) needs no parentheses.
 *  @since 0.1 (a macro since 0.2) */
#define dog_heap_new(...) dog_heap_new_sized((__VA_ARGS__), sizeof(dog_heap_options_t))

/**
 * Change the budget of @p heap at run time.
 *
 * The new limit applies to every later request that takes memory from the OS, and
 * counts the memory of the heap's children too (`tree_bytes_mapped`). A limit below what
 * the heap holds now is accepted: the heap and its children first give back the empty
 * pages they keep for reuse, keep their live blocks, and refuse to grow (NULL, ENOMEM,
 * with `on_limit` called) until frees bring them under the new limit; dog_heap_stats()
 * then shows `tree_bytes_mapped` above `limit` for a while. Safe from any thread, concurrently with
 * allocations from @p heap (a request racing the change is judged by the old or the new
 * limit), and from the heap's `on_limit` handler. Works on #dog_default too (as
 * `DOGMALLOC_LIMIT` does at start-up).
 * @param heap   a live heap.
 * @param limit  the new budget in bytes, 0 for none, else at least #DOG_HEAP_LIMIT_MIN.
 * @return 0; or EINVAL (NULL or dead heap, or a limit below #DOG_HEAP_LIMIT_MIN);
 *         `errno` is not changed.
 * @since 0.2
 */
DOG_API int dog_heap_set_limit(dog_heap_t *heap, size_t limit);

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
 * Free every block of @p heap at once and keep the heap: its name, budget, budget
 * handler and handle stay, and it is ready for new allocations at once.
 *
 * Takes time proportional to the heap's pages, not its blocks: no block is visited.
 * Each of the heap's shards keeps the first page of up to 8 size classes in use, empty
 * and still mapped (a loop that fills the heap and resets it reuses them); the other
 * pages go back to the reuse pool and huge blocks to the huge cache or the OS, so
 * `bytes_mapped` falls and the budget is free again. In dog_heap_stats() afterwards
 * `bytes_in_use`, `blocks_in_use`, `allocs` and `frees` start again from zero, and
 * `peak_bytes_in_use` keeps the heap's high-water mark.
 *
 * Thread-safety: callable from any thread, once the program has stopped using the
 * heap's blocks and no other thread allocates from or frees into @p heap during the call
 * (the same contract as dog_heap_destroy()). No other thread needs to cooperate: the
 * thread caches that other threads keep for the heap are recognised as stale and
 * replaced on their next use, whether those threads are still running or exit later.
 * Ownership: every pointer the heap handed out before the call is dangling; freeing one
 * afterwards is a misuse (it may abort as a double free, or free a new block that now
 * lies at that address).
 * @param heap  a heap from dog_heap_new(), or NULL (no-op). Resetting #dog_default
 *              aborts with a message (its blocks include the C library's); a destroyed
 *              heap is reported as a dead handle.
 * @since 0.2
 */
DOG_API void dog_heap_reset(dog_heap_t *heap);

/**
 * Route the calling thread's allocations to @p heap: until the route is changed again,
 * dog_malloc(), dog_calloc(), dog_realloc() and dog_reallocarray() of `NULL`,
 * dog_aligned_alloc(), dog_posix_memalign(), dog_strdup() and dog_strndup() called by
 * this thread allocate from @p heap, as the `dog_heap_*` calls do, with its budget and
 * `on_limit` handler. Under the override (`LD_PRELOAD` or the linked override library)
 * that includes the C library's names: `malloc`, `calloc`, `realloc(NULL, n)`,
 * `reallocarray(NULL, ...)`, `aligned_alloc`, `memalign`, `posix_memalign`, `valloc`,
 * `pvalloc`, `strdup`, `strndup` (and what calls them: `asprintf`, `getline`, ...) and C++
 * `operator new`, so a subsystem's third-party code is accounted and budgeted in the
 * subsystem's heap.
 *
 * Frees are not routed: dog_free() returns every block to its own heap, and dog_realloc()
 * of an existing block keeps it in its heap, whichever route is set (a block of the
 * routed heap grows through dog_heap_realloc(), so the heap's `on_limit` handler is
 * called for it too). The route belongs to the calling thread only (a new thread starts
 * with none); it costs dog_malloc() nothing (its fast path pops from the cache of whichever heap
 * the thread's route names). Save and restore
 * it around the routed code:
 * @code
 * dog_heap_t *saved = dog_thread_set_heap(parser_heap);
 * third_party_parse(input);           // its mallocs go to parser_heap
 * dog_thread_set_heap(saved);
 * @endcode
 * **Lifetime**: a block allocated under the route belongs to @p heap and dies with it:
 * dog_heap_destroy() and dog_heap_reset() free it, whoever holds it. Route only code whose
 * allocations end before the heap does. State that the C library or another library
 * allocates once and keeps (the buffer of a `FILE` at its first use, a thread's own
 * data in `pthread_create`, locale data, `dlopen`, lazily built caches) must not be made
 * under a route to a heap that goes away first: the program would later use freed
 * memory. Do such first uses before setting the route.
 *
 * Destroying the routed heap from this thread ends the route; destroying it from another
 * thread while a route to it is set is a misuse: this thread's next routed allocation
 * reports it (`... the calling thread's route (dog_thread_set_heap) is to H, a destroyed
 * heap`), also after a new heap took its memory; under `DOGMALLOC_MISUSE=report` the
 * route then ends and that call and later ones allocate from #dog_default. The
 * `on_limit` handler runs with no route, so its own allocations come from #dog_default.
 * @param heap  a live heap, or NULL or #dog_default for no route.
 * @return the route before the call (NULL for #dog_default). A handle that is not a live
 *         heap is reported as a misuse (an abort, by default); under
 *         `DOGMALLOC_MISUSE=report` the route stays as it was and `errno` is EINVAL.
 * @since 0.2
 */
DOG_API dog_heap_t *dog_thread_set_heap(dog_heap_t *heap);

/**
 * The calling thread's route (dog_thread_set_heap()). Safe from any thread; reads only
 * the caller's own state.
 * @return the heap the thread's dog_malloc() family allocates from, or NULL when that is
 *         #dog_default.
 * @since 0.2
 */
DOG_API dog_heap_t *dog_thread_heap(void);

/**
 * Retire @p heap without freeing its blocks: the heap goes, and every block still live
 * in it becomes a block of #dog_default, where it stays valid (mimalloc's
 * `mi_heap_delete`).
 *
 * The blocks do not move: their pages and huge mappings change hands, in time
 * proportional to the heap's pages, and dog_heap_of() answers #dog_default for them from
 * then on; any thread may use, resize and free them as before. Empty pages go back to the
 * reuse pool, and the free blocks that thread caches held for the heap (this thread's and
 * others') are taken back first, so nothing of the heap is stranded. The heap's children
 * (dog_heap_options_t.parent) are deleted with it, first. #dog_default's statistics count
 * the adopted blocks and memory from then on, even past a `DOGMALLOC_LIMIT` (the memory
 * is held already); the heap's budget and handler go with the heap.
 *
 * Thread-safety: callable from any thread, once no other thread allocates from or frees
 * into @p heap during the call (the contract of dog_heap_destroy()); the blocks may be
 * used again, by any thread, as soon as it returns. No other thread needs to cooperate.
 * @param heap  a heap from dog_heap_new(), or NULL (no-op). Deleting #dog_default aborts
 *              with a message; a destroyed heap is reported as a dead handle. If
 *              #dog_default has no shard yet and none can be made (out of memory), nothing
 *              happens and `errno` is ENOMEM.
 * @since 0.2
 */
DOG_API void dog_heap_delete(dog_heap_t *heap);

/**
 * Allocate @p size bytes from @p heap.
 *
 * The block belongs to @p heap: free it with dog_free() from any thread, or let
 * dog_heap_destroy() release it. Safe from any thread, concurrently with other
 * calls on the same heap.
 * @param heap  a live heap.
 * @param size  bytes wanted.
 * @return the block, or NULL with `errno` = ENOMEM (also when the heap's budget
 *         would be exceeded) or EINVAL (@p heap is NULL).
 * @since 0.1
 */
DOG_API void *dog_heap_malloc(dog_heap_t *heap, size_t size) DOG_MALLOC_ATTR DOG_ALLOC_SIZE(2);

/**
 * Allocate a zeroed array from @p heap.
 *
 * Ownership and threading as dog_heap_malloc().
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
 * dog_realloc(), including its threading rules; the result belongs to @p heap.
 * @param heap  a live heap.
 * @param p     a live block of any heap, or NULL.
 * @param size  the new size in bytes.
 * @return the block, or NULL with `errno` set, leaving @p p intact.
 * @since 0.1
 */
DOG_API void *dog_heap_realloc(dog_heap_t *heap, void *p, size_t size) DOG_ALLOC_SIZE(3);

/**
 * Allocate @p size bytes aligned to @p alignment from @p heap.
 *
 * Ownership and threading as dog_heap_malloc().
 * @param heap       a live heap.
 * @param alignment  a power of two (up to at least 1 GiB).
 * @param size       bytes wanted.
 * @return the block, or NULL with `errno` = EINVAL or ENOMEM.
 * @since 0.1
 */
DOG_API void *dog_heap_aligned_alloc(dog_heap_t *heap, size_t alignment, size_t size)
    DOG_MALLOC_ATTR DOG_ALLOC_SIZE(3);

/**
 * Allocate @p size zeroed bytes from @p heap (dog_heap_calloc(heap, 1, size)).
 *
 * Ownership and threading as dog_heap_malloc().
 * @param heap  a live heap.
 * @param size  bytes wanted.
 * @return the zeroed block, or NULL with `errno` = ENOMEM or EINVAL (@p heap is NULL).
 * @since 0.2
 */
DOG_API void *dog_heap_zalloc(dog_heap_t *heap, size_t size) DOG_MALLOC_ATTR DOG_ALLOC_SIZE(2);

/**
 * Copy the string @p s into a new block of @p heap.
 *
 * Ownership and threading as dog_heap_malloc().
 * @param heap  a live heap.
 * @param s     a NUL-terminated string.
 * @return the copy, or NULL with `errno` = ENOMEM, or EINVAL (@p heap or @p s NULL).
 * @since 0.2
 */
DOG_API char *dog_heap_strdup(dog_heap_t *heap, const char *s) DOG_MALLOC_ATTR;

/**
 * Copy at most @p n bytes of the string @p s, and a NUL, into a new block of @p heap.
 *
 * As dog_strndup(), from @p heap. Ownership and threading as dog_heap_malloc().
 * @param heap  a live heap.
 * @param s     a string, or an array of at least @p n bytes.
 * @param n     the most bytes to copy.
 * @return the copy, or NULL with `errno` = ENOMEM, or EINVAL (@p heap or @p s NULL).
 * @since 0.2
 */
DOG_API char *dog_heap_strndup(dog_heap_t *heap, const char *s, size_t n) DOG_MALLOC_ATTR;

/**
 * Resize @p p to @p size bytes aligned to @p alignment; the result is a block of @p heap.
 *
 * The block stays where it is when it is aligned already, belongs to @p heap and can
 * hold @p size bytes there (as dog_heap_realloc() decides, or by growing a huge block in
 * place); otherwise the contents move into a new aligned block of @p heap and @p p is
 * freed. `dog_heap_realloc_aligned(heap, NULL, size, a)` is
 * `dog_heap_aligned_alloc(heap, a, size)`. Threading as dog_realloc().
 * @param heap       a live heap.
 * @param p          a live block of any heap, or NULL.
 * @param size       the new size in bytes (0 counts as 1).
 * @param alignment  a power of two (up to at least 1 GiB).
 * @return the block, or NULL with `errno` = ENOMEM or EINVAL (bad heap or alignment, or
 *         @p p not a live block), leaving @p p intact.
 * @since 0.2
 */
DOG_API void *dog_heap_realloc_aligned(dog_heap_t *heap, void *p, size_t size,
                                       size_t alignment) DOG_ALLOC_SIZE(3);

/**
 * Tell whether @p p points into a live block of @p heap.
 *
 * True for the start of the block and for any byte inside its usable size, small or
 * huge; false for freed blocks, for blocks of other heaps and for memory that dogmalloc
 * does not own. Never reads memory that dogmalloc does not own, so any pointer may be
 * asked about, and never reports a misuse. Safe from any thread, while other threads
 * allocate from and free into @p heap; does not change `errno`. The block that @p p
 * points into must not be freed or resized by another thread during the call (that is a
 * data race, as reading the block would be).
 * @param heap  a live heap (#dog_default for the dog_malloc() family's blocks).
 * @param p     any pointer.
 * @return true if @p p lies in a live block of @p heap; false otherwise, and for a NULL
 *         or dead @p heap.
 * @since 0.2
 */
DOG_API bool dog_heap_contains(const dog_heap_t *heap, const void *p);

/**
 * Call @p fn for every live block of @p heap, small and huge.
 *
 * Each block that is handed out (allocated, not yet freed) is visited once; the blocks of
 * child heaps (dog_heap_options_t.parent) are theirs, not @p heap's, and are not visited;
 * free blocks,
 * including those in thread caches and those waiting on a thread free list, never are.
 * The order is unspecified. The visit copies which blocks are live, a shard of the heap
 * at a time under that shard's lock (a bit per block), into memory it maps for the
 * purpose, and runs @p fn on the copy with no lock held: see #dog_visit_fn for what
 * @p fn may do. Time is proportional to the heap's pages and live blocks.
 *
 * Thread-safety: safe from any thread while other threads allocate and free in other
 * heaps. No other thread may allocate from or free into @p heap during the call (the
 * contract of dog_heap_reset()): the visit reads the first word of each live block to
 * tell it from a cached one, and a block freed or allocated meanwhile may or may not be
 * visited. For #dog_default that means a quiet moment of the whole program.
 * @param heap  a live heap (#dog_default too).
 * @param fn    the visitor.
 * @param arg   passed to @p fn as it is.
 * @return 0 once every live block was visited; -1 with `errno` = EINVAL (NULL or dead
 *         @p heap, NULL @p fn) or ENOMEM (no memory for the copy; some blocks may have
 *         been visited).
 * @since 0.2
 */
DOG_API int dog_heap_visit(const dog_heap_t *heap, dog_visit_fn fn, void *arg);

/**
 * Return the heap that the live block @p p belongs to.
 *
 * Never reads memory that dogmalloc does not own, so any pointer may be asked about.
 * Safe from any thread; does not change `errno`. The answer for a block that
 * another thread is freeing at the same moment may be either.
 * @param p  any pointer.
 * @return the heap (#dog_default for global blocks), or NULL when @p p is not the
 *         start of a live dogmalloc block.
 * @since 0.1
 */
DOG_API dog_heap_t *dog_heap_of(const void *p);

/**
 * Return the name given to @p heap at creation ("default" for #dog_default).
 *
 * Names longer than 31 bytes are cut; a heap created without a name is "heap".
 * Safe from any thread.
 * @param heap  a live heap.
 * @return the name; valid until the heap is destroyed. NULL with `errno` = EINVAL for
 *         a NULL heap (and, under #DOG_MISUSE_REPORT, for one that is not live).
 * @since 0.1
 */
DOG_API const char *dog_heap_name(const dog_heap_t *heap);

/**
 * Return the parent of @p heap (dog_heap_options_t.parent), or NULL if it has none.
 *
 * Safe from any thread; does not change `errno` unless @p heap is NULL.
 * @param heap  a live heap (#dog_default has no parent).
 * @return the parent, or NULL: for a heap without one, and with `errno` = EINVAL for a
 *         NULL heap (and, under #DOG_MISUSE_REPORT, for one that is not live).
 * @since 0.2
 */
DOG_API dog_heap_t *dog_heap_parent(const dog_heap_t *heap);
/** @} */

/** @defgroup stats Introspection and statistics
 *  Always-on counters, per heap and for the whole process.
 *
 *  The counters are kept exact by the allocation paths at no extra locking; reading
 *  them takes each of the heap's locks briefly. All functions here are safe from any
 *  thread.
 *  @since 0.1
 *  @{ */

/** Statistics of one heap, filled in by dog_heap_stats(). @since 0.1 */
typedef struct dog_heap_stats {
    size_t bytes_in_use;      /**< Usable bytes of live blocks. */
    size_t blocks_in_use;     /**< Live blocks. */
    size_t peak_bytes_in_use; /**< Highest bytes_in_use seen (exact while one thread at a
                                   time uses the heap, otherwise within 64 KiB); never below
                                   bytes_in_use. It counts the blocks that the heap's
                                   thread caches held at that moment as in use, because the
                                   caches hand blocks out with no counting at all (that is
                                   what keeps dog_malloc() and dog_heap_malloc() fast): a
                                   cache takes a few blocks of a size class at a time, up to
                                   16 KiB per class and thread. So after one dog_malloc(10)
                                   in a thread that has allocated before, the peak may read
                                   144 (the nine 16-byte blocks that one refill took) while
                                   bytes_in_use reads 16. */
    size_t bytes_mapped;      /**< Memory the heap holds from the OS (pages and huge blocks). */
    size_t pages;             /**< 512 KiB pages held. */
    size_t huge_blocks;       /**< Live huge blocks (larger than the largest size class). */
    size_t huge_bytes;        /**< Usable bytes of live huge blocks. */
    size_t allocs;            /**< Blocks allocated since the heap was created. */
    size_t frees;             /**< Blocks freed since the heap was created. */
    size_t limit;             /**< The heap's budget, 0 for none. */
    size_t tree_bytes_mapped; /**< bytes_mapped of the heap and of all its descendants
                                   (dog_heap_options_t.parent): what its budget counts.
                                   @since 0.2 */
} dog_heap_stats_t;

/**
 * Fill the @p size bytes at @p out with the statistics of @p heap (what the
 * dog_heap_stats() macro calls).
 *
 * Collects pending cross-thread frees first, so the figures are exact when the
 * call is made after all frees have returned, also while threads that are done with the
 * heap exit (their caches going back). Safe from any thread, while other
 * threads use the heap (the figures are then a snapshot). Writes exactly @p size bytes:
 * the fields this library knows, up to @p size, and zeros past them (fields of a newer
 * header that this library does not fill).
 * @param heap  a live heap.
 * @param out   where to store them.
 * @param size  `sizeof(dog_heap_stats_t)` as the caller's header declares it; at least
 *              the 0.1 struct's.
 * @return 0, or -1 with `errno` = EINVAL for a NULL argument or a @p size too small.
 * @since 0.2
 */
DOG_API int dog_heap_stats_sized(const dog_heap_t *heap, dog_heap_stats_t *out, size_t size);

/**
 * Fill @p out with the statistics of @p heap (the 0.1 entry point).
 *
 * As dog_heap_stats_sized() with the size of the 0.1 struct, for programs built against
 * the 0.1 header.
 * @param heap  a live heap.
 * @param out   where to store them (the 0.1 fields).
 * @return as dog_heap_stats_sized().
 * @since 0.1
 */
#if defined(__cplusplus) && defined(__GNUC__)
/* In C++ a function named as a struct hides the struct's constructor (-Wshadow): the
 * 0.1 names dog_heap_stats and dog_stats are both, kept for the ABI. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#endif
DOG_API int (dog_heap_stats)(const dog_heap_t *heap, dog_heap_stats_t *out);
#if defined(__cplusplus) && defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
/** Fill `*out` (the second argument) with the statistics of a heap (the first):
 *  dog_heap_stats_sized() given the size of #dog_heap_stats_t as this header declares it.
 *  @since 0.1 (a macro since 0.2) */
#define dog_heap_stats(heap, ...) \
    dog_heap_stats_sized((heap), (__VA_ARGS__), sizeof(dog_heap_stats_t))

/** One size class of a heap, from dog_heap_class_stats(). @since 0.2 */
typedef struct dog_class_stats {
    size_t block_size;        /**< The class's block size: the usable size of its blocks. */
    size_t blocks_in_use;     /**< Its live blocks (thread caches' free blocks not counted). */
    size_t bytes_in_use;      /**< blocks_in_use * block_size. */
    size_t pages;             /**< 512 KiB pages of the class that the heap holds. */
} dog_class_stats_t;

/**
 * Fill up to @p n rows at @p out with the statistics of @p heap by size class (what the
 * dog_heap_class_stats() macro calls).
 *
 * One row per size class of which the heap holds a page, in ascending block size; huge
 * blocks are in dog_heap_stats() (`huge_blocks`, `huge_bytes`). Rows are @p size bytes
 * apart and each is written as dog_heap_stats_sized() writes its struct. The figures are
 * as exact as dog_heap_stats(): exact when no other thread uses the heap, else a
 * snapshot. Allocates nothing; safe from any thread. Call with @p n 0 to learn how many
 * rows there are (at most 64).
 * @param heap  a live heap.
 * @param out   the rows, or NULL when @p n is 0.
 * @param n     how many rows fit at @p out.
 * @param size  `sizeof(dog_class_stats_t)` as the caller's header declares it.
 * @return the number of rows the heap has (more than @p n means some were left out), or
 *         -1 with `errno` = EINVAL (NULL or dead heap, NULL @p out with @p n > 0, a
 *         @p size too small).
 * @since 0.2
 */
DOG_API int dog_heap_class_stats_sized(const dog_heap_t *heap, dog_class_stats_t *out,
                                       size_t n, size_t size);
/** Fill the rows at `out` (the second argument, room for the third) with the statistics
 *  of a heap (the first) by size class: dog_heap_class_stats_sized() given the size of
 *  #dog_class_stats_t as this header declares it. @since 0.2 */
#define dog_heap_class_stats(heap, out, n) \
    dog_heap_class_stats_sized((heap), (out), (n), sizeof(dog_class_stats_t))

/**
 * Print a readable report of @p heap's statistics to @p out.
 *
 * The report names the heap, then gives the bytes and blocks in use, the peak, the
 * memory mapped and the pages, the budget, the huge blocks, and the allocation and
 * free counts. Safe from any thread.
 * @param heap  a live heap.
 * @param out   a stream, e.g. stderr.
 * @return 0, or -1 with `errno` set (EINVAL, or the stream's error).
 * @since 0.1
 */
DOG_API int dog_heap_stats_print(const dog_heap_t *heap, FILE *out);

/** Statistics of the whole process's use of dogmalloc, from dog_stats(). @since 0.1 */
typedef struct dog_stats {
    size_t bytes_mapped;      /**< All memory dogmalloc holds from the OS right now. */
    size_t heaps;             /**< Live heaps, #dog_default included. */
    size_t pool_pages;        /**< Empty pages kept for reuse (part of bytes_mapped). */
    size_t huge_cache_bytes;  /**< Freed huge blocks kept for reuse (part of bytes_mapped). */
} dog_stats_t;

/**
 * Fill the @p size bytes at @p out with process-wide statistics (what the dog_stats()
 * macro calls).
 *
 * Safe from any thread. Writes exactly @p size bytes, as dog_heap_stats_sized() does.
 * @param out   where to store them.
 * @param size  `sizeof(dog_stats_t)` as the caller's header declares it; at least the 0.1
 *              struct's.
 * @return 0, or -1 with `errno` = EINVAL for NULL or a @p size too small.
 * @since 0.2
 */
DOG_API int dog_stats_sized(dog_stats_t *out, size_t size);

/**
 * Fill @p out with process-wide statistics (the 0.1 entry point).
 *
 * As dog_stats_sized() with the size of the 0.1 struct.
 * @param out  where to store them.
 * @return as dog_stats_sized().
 * @since 0.1
 */
#if defined(__cplusplus) && defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#endif
DOG_API int (dog_stats)(dog_stats_t *out);
#if defined(__cplusplus) && defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
/** Fill `*out` with process-wide statistics: dog_stats_sized() given the size of
 *  #dog_stats_t as this header declares it. @since 0.1 (a macro since 0.2) */
#define dog_stats(...) dog_stats_sized((__VA_ARGS__), sizeof(dog_stats_t))

/**
 * Print one table of every live heap to @p out: name, blocks and bytes in use, peak,
 * bytes mapped and budget.
 *
 * #dog_default comes first, then the explicit heaps, newest first. The figures are
 * those of dog_heap_stats() (for each heap a snapshot; the table as a whole is taken
 * with heap creation and destruction held off, so no heap is missed or seen twice).
 * The table is formatted in memory mapped for the purpose and written after every lock
 * is released, so @p out may be any stream, even one whose writes allocate. Safe from
 * any thread. `DOGMALLOC_SHOW_STATS=1` prints it at exit, after the report of
 * #dog_default.
 * @param out  a stream, e.g. stderr.
 * @return 0, or -1 with `errno` set (EINVAL for NULL, ENOMEM, or the stream's error).
 * @since 0.2
 */
DOG_API int dog_stats_print_all(FILE *out);

/**
 * Write the statistics of @p heap as one JSON object into @p buf, as snprintf does.
 *
 * The object has the heap's `name` (a JSON string, escaped) and every field of
 * #dog_heap_stats_t as a number, on one line, e.g.
 * `{"name":"cache","bytes_in_use":4096,...,"limit":0}`. At most @p len bytes are
 * written, the last of them a NUL; the return value says how long the whole object is,
 * so a return >= @p len means it was cut (call again with a larger buffer). Allocates
 * nothing; safe from any thread.
 * @param heap  a live heap.
 * @param buf   where to write; may be NULL when @p len is 0.
 * @param len   the size of @p buf.
 * @return the length of the object (not counting the NUL), or -1 with `errno` = EINVAL
 *         (NULL or dead heap, or NULL @p buf with @p len > 0).
 * @since 0.2
 */
DOG_API int dog_heap_stats_json(const dog_heap_t *heap, char *buf, size_t len);

/**
 * Return all memory that no heap uses to the OS now (reuse pool and huge cache).
 *
 * The calling thread's cache of freed blocks goes back to the heaps first, so the
 * pages it held can go too (other threads' caches stay: at most 16 KiB per size
 * class each). Live blocks and the pages that hold them are untouched; dogmalloc also returns
 * unused memory by itself over time, so calling this is never required. Safe from
 * any thread; does not change `errno`. `malloc_trim()` calls it under the override.
 * @since 0.1
 */
DOG_API void dog_trim(void);
/** @} */

#ifdef __cplusplus
}
#endif

#endif /* DOGMALLOC_H */
