/* SPDX-License-Identifier: MIT */
/* check_misuse.c: the misuse matrix: every documented misuse, under both policies.
 *
 * One table of cases. Each case prepares its blocks in the test process (so that the
 * pointer its message names is known here), then acts in a forked child (death_run):
 * the legitimate steps, then the misuse. Every case runs twice:
 *   abort   (the default policy, set explicitly): the child dies of SIGABRT, and its
 *           stderr holds exactly one dogmalloc line, the expected one, pointer included;
 *   report  (dog_option_set(DOG_OPTION_MISUSE, DOG_MISUSE_REPORT)): the same line after
 *           "misuse (reported, continuing): ", the call returns its documented error,
 *           and the allocator is intact: the heap's block count moved by what the
 *           legitimate steps did only (the bad free was skipped), the blocks kept live
 *           are unchanged, and hundreds of new blocks of the same size are distinct from
 *           each other and from the live ones and keep their contents.
 * Cases flagged QUIET are not misuse (a NULL heap, dog_heap_of of any pointer): no
 * message, no abort, the documented error value, under both policies.
 * docs/misuse.md lists the same cases and what the default build does with each.
 * Public header only. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <dogmalloc.h>

#include "suites.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define FRAME ((uintptr_t)512 * KiB)

#define FREE_INVALID "invalid pointer: not allocated by dogmalloc, or already freed"
#define NOT_LIVE_HEAP "not a live heap (destroyed, or never created by dog_heap_new)"
#define KEEP_MAX 4

typedef struct mctx {
    void *p;                    /* the block the case is about */
    void *bad;                  /* the pointer the misuse passes (the message names it) */
    dog_heap_t *heap;           /* a heap the case made, or NULL */
    dog_heap_t *home;           /* the live heap the health check looks at (NULL: default) */
    size_t size;                /* the health check allocates blocks of this size */
    long delta;                 /* blocks_in_use of home after the case, less before */
    void *keep[KEEP_MAX];       /* live blocks that must come through unchanged */
    size_t keep_size[KEEP_MAX];
    char expect[256];           /* the message, without "dogmalloc: " and the newline */
    char expect_alt[256];       /* another acceptable one (which thread's cache), or "" */
} mctx_t;

typedef struct mcase {
    const char *name;
    void (*prepare)(mctx_t *c);     /* the test process */
    void (*act)(mctx_t *c);         /* the child */
    unsigned flags;
} mcase_t;

#define QUIET 1u                    /* not a misuse: no message, under either policy */

static int policy_report;           /* in the child: which policy this run has */
static char static_junk[256];

static void expect(mctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void expect(mctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->expect, sizeof c->expect, fmt, ap);
    va_end(ap);
}

static void expect_alt(mctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void expect_alt(mctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->expect_alt, sizeof c->expect_alt, fmt, ap);
    va_end(ap);
}

/* A live block the misuse must not disturb, filled with its pattern. */
static void *keep(mctx_t *c, void *p, size_t size)
{
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < KEEP_MAX; i++) {
        if (c->keep[i] == NULL) {
            c->keep[i] = p;
            c->keep_size[i] = size;
            pattern_fill(p, size);
            return p;
        }
    }
    ck_abort_msg("too many kept blocks");
    return NULL;
}

/* In the child, under the report policy only: the call's return value was wrong. */
static void require(int ok, int code)
{
    if (policy_report && !ok)
        _exit(code);
}

/* In the child, under both policies (QUIET cases). */
static void require_always(int ok, int code)
{
    if (!ok)
        _exit(code);
}

/* --- Threads ---------------------------------------------------------------------- */

typedef struct other {
    void *p;
    int frees;
    int warm;                   /* give the thread a cache (and a shard) of its own first */
} other_t;

static void *other_main(void *arg)
{
    other_t *o = arg;
    if (o->warm)
        warm_thread_cache();
    for (int i = 0; i < o->frees; i++)
        dog_free(o->p);
    return NULL;
}

/* Free p frees times on another thread, with or without a thread cache of its own. */
static void other_frees(void *p, int frees, int warm)
{
    other_t o = { p, frees, warm };
    pthread_t t;
    if (pthread_create(&t, NULL, other_main, &o) != 0)
        _exit(40);
    pthread_join(t, NULL);
}

/* --- Double frees ------------------------------------------------------------------ */

/* A block of size from heap (NULL: dog_malloc), with a neighbour kept live so that the
 * page stays in use after the block's free (an empty page may go back to the pool). */
static void block_with_neighbour(mctx_t *c, dog_heap_t *heap, size_t size)
{
    warm_thread_cache();
    if (size > 64 * KiB)
        dog_trim();             /* no cached huge mapping to merge with */
    c->heap = heap;
    c->home = heap;
    c->size = size;
    c->p = heap ? dog_heap_malloc(heap, size) : dog_malloc(size);
    ck_assert_ptr_nonnull(c->p);
    if (size <= 64 * KiB)
        keep(c, heap ? dog_heap_malloc(heap, size) : dog_malloc(size), size);
    c->bad = c->p;
    c->delta = -1;
}

static void free_twice(mctx_t *c)
{
    dog_free(c->p);
    dog_free(c->p);
}

static void prep_df_small(mctx_t *c)
{
    block_with_neighbour(c, NULL, 64);
    expect(c, "dog_free(%p): invalid pointer: double free (the block is already in a thread "
           "cache)", c->bad);
}

static void prep_df_large(mctx_t *c)
{
    block_with_neighbour(c, NULL, 32 * KiB);    /* above the thread caches' 16 KiB */
    expect(c, "dog_free(%p): invalid pointer: double free", c->bad);
}

static void prep_df_huge(mctx_t *c)
{
    block_with_neighbour(c, NULL, 2 * MiB);
    expect(c, "dog_free(%p): invalid pointer: double free of a huge block", c->bad);
}

static void prep_df_aligned_small(mctx_t *c)
{
    block_with_neighbour(c, NULL, 100);
    dog_free(c->p);
    c->p = c->bad = dog_aligned_alloc(4096, 100);  /* a 4 KiB block of a bin */
    ck_assert_ptr_nonnull(c->p);
    ck_assert_uint_eq((uintptr_t)c->p % 4096, 0);
    expect(c, "dog_free(%p): invalid pointer: double free (the block is already in a thread "
           "cache)", c->bad);
}

static void prep_df_aligned_huge(mctx_t *c)
{
    /* aligned to 1 MiB: the header sits a frame below, and the free unmaps it */
    block_with_neighbour(c, NULL, 100);
    dog_free(c->p);
    c->size = 100;
    c->p = c->bad = dog_aligned_alloc(MiB, 200 * KiB);
    ck_assert_ptr_nonnull(c->p);
    expect(c, "dog_free(%p): " FREE_INVALID, c->bad);
}

static void prep_df_heap_small(mctx_t *c)
{
    /* Explicit heaps have thread caches too (tcache.h). */
    block_with_neighbour(c, dog_heap_new(&(dog_heap_options_t){ .name = "misuse" }), 64);
    expect(c, "dog_free(%p): invalid pointer: double free (the block is already in a thread "
           "cache)", c->bad);
}

static void prep_df_heap_large(mctx_t *c)
{
    block_with_neighbour(c, dog_heap_new(&(dog_heap_options_t){ .name = "misuse" }), 32 * KiB);
    expect(c, "dog_free(%p): invalid pointer: double free", c->bad);
}

static void prep_df_heap_huge(mctx_t *c)
{
    block_with_neighbour(c, dog_heap_new(&(dog_heap_options_t){ .name = "misuse" }), 3 * MiB);
    expect(c, "dog_free(%p): invalid pointer: double free of a huge block", c->bad);
}

static void prep_df_flushed(mctx_t *c)
{
    block_with_neighbour(c, NULL, 64);
    expect(c, "dog_free(%p): invalid pointer: double free", c->bad);
}

static void act_df_flushed(mctx_t *c)
{
    dog_free(c->p);
    dog_trim();                 /* the thread cache goes back to the page */
    dog_free(c->p);
}

#define CROSS_OTHER "dog_free(%p): invalid pointer: double free (another thread freed the " \
                    "block already)"
#define CROSS_CACHED "dog_free(%p): invalid pointer: double free (the block is already in a " \
                     "thread cache)"

static void prep_cross_owner_other(mctx_t *c)
{
    block_with_neighbour(c, NULL, 48);
    expect(c, CROSS_CACHED, c->bad);
}

static void act_owner_then_other_warm(mctx_t *c)
{
    dog_free(c->p);
    other_frees(c->p, 1, 1);
}

static void act_owner_then_other_cold(mctx_t *c)
{
    dog_free(c->p);
    other_frees(c->p, 1, 0);
}

static void prep_cross_other_owner(mctx_t *c)
{
    block_with_neighbour(c, NULL, 48);
    expect(c, CROSS_OTHER, c->bad);
    /* if the other thread took the owner's shard, its free went into its own cache */
    expect_alt(c, CROSS_CACHED, c->bad);
}

static void act_other_warm_then_owner(mctx_t *c)
{
    other_frees(c->p, 1, 1);
    dog_free(c->p);
}

static void act_other_warm_twice(mctx_t *c)
{
    other_frees(c->p, 2, 1);
}

static void prep_cross_cold(mctx_t *c)
{
    /* a thread without a cache of the heap calls none of its shards home, and this
     * thread's cache calls the block's shard home: the other thread's free goes onto the
     * page's thread free list, as one by a thread with a cache does (alloc.c:
     * free_to_shard) */
    block_with_neighbour(c, NULL, 48);
    expect(c, CROSS_OTHER, c->bad);
}

static void act_other_cold_then_owner(mctx_t *c)
{
    other_frees(c->p, 1, 0);
    dog_free(c->p);
}

static void act_other_cold_twice(mctx_t *c)
{
    other_frees(c->p, 2, 0);
}

static void prep_cross_heap(mctx_t *c)
{
    block_with_neighbour(c, dog_heap_new(&(dog_heap_options_t){ .name = "cross" }), 48);
    expect(c, CROSS_CACHED, c->bad);
}

static void act_heap_owner_then_other(mctx_t *c)
{
    dog_free(c->p);
    other_frees(c->p, 1, 1);
}

/* --- Foreign pointers -------------------------------------------------------------- */

static void prep_quiet_default(mctx_t *c)
{
    warm_thread_cache();
    c->size = 64;
    keep(c, dog_malloc(64), 64);
}

static void act_free_bad(mctx_t *c)
{
    dog_free(c->bad);
}

/* A stack buffer of run_case, live while the child runs (the same address there). */
static char *stack_buf;

static char *stack_junk(void)
{
    memset(stack_buf, 0xa5, 64);
    return stack_buf + 8;
}

static void prep_foreign_stack(mctx_t *c)
{
    prep_quiet_default(c);
    c->bad = stack_junk();
    expect(c, "dog_free(%p): " FREE_INVALID, c->bad);
}

static void prep_foreign_static(mctx_t *c)
{
    prep_quiet_default(c);
    c->bad = static_junk + 16;
    expect(c, "dog_free(%p): " FREE_INVALID, c->bad);
}

static void prep_foreign_glibc(mctx_t *c)
{
    prep_quiet_default(c);
    c->bad = malloc(100);      /* never freed: the child's copy is gone with it */
    ck_assert_ptr_nonnull(c->bad);
    expect(c, "dog_free(%p): " FREE_INVALID, c->bad);
}

static void prep_foreign_unmapped(mctx_t *c)
{
    prep_quiet_default(c);
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(m != MAP_FAILED);
    munmap(m, 4096);
    c->bad = (char *)m + 64;
    expect(c, "dog_free(%p): " FREE_INVALID, c->bad);
}

static void prep_foreign_uncarved(mctx_t *c)
{
    /* the last block of a page of 64-byte blocks: never carved, so never handed out */
    prep_quiet_default(c);
    c->bad = (char *)((uintptr_t)c->keep[0] & ~(FRAME - 1)) + FRAME - 64;
    expect(c, "dog_free(%p): " FREE_INVALID, c->bad);
}

static void prep_foreign_uncarved_heap(mctx_t *c)
{
    prep_quiet_default(c);
    c->heap = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(c->heap);
    void *p = keep(c, dog_heap_malloc(c->heap, 64), 64);
    c->bad = (char *)((uintptr_t)p & ~(FRAME - 1)) + FRAME - 64;
    expect(c, "dog_free(%p): " FREE_INVALID, c->bad);
}

/* The bytes after the last block of a page whose block size does not divide it (48 KiB
 * blocks): block-aligned, inside a page, but past every block it has. The blocks of a
 * fresh heap fill its first page before it takes a second, so the last of that page is
 * the highest of them in its frame. */
static void prep_foreign_page_tail(mctx_t *c)
{
    enum { N = 24 };
    prep_quiet_default(c);
    c->heap = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(c->heap);
    char *p[N], *last = NULL;
    uintptr_t frame = 0;
    for (int i = 0; i < N; i++) {
        p[i] = dog_heap_malloc(c->heap, 48 * KiB);
        ck_assert_ptr_nonnull(p[i]);
        if (i == 0)
            frame = (uintptr_t)p[0] & ~(FRAME - 1);
        if (((uintptr_t)p[i] & ~(FRAME - 1)) == frame && (last == NULL || p[i] > last))
            last = p[i];
    }
    c->bad = last + dog_usable_size(last);
    /* no block fits after it (the secure build's end guard takes the last 4 KiB) */
    ck_assert_msg((uintptr_t)c->bad < frame + FRAME &&
                  (uintptr_t)c->bad + 48 * KiB > frame + FRAME - 4 * KiB,
                  "%p: not in the tail of the page at %#lx", c->bad, (unsigned long)frame);
    expect(c, "dog_free(%p): " FREE_INVALID, c->bad);
}

static void act_free_bad_other(mctx_t *c)
{
    other_frees(c->bad, 1, 1);
}

/* A block of a heap that was destroyed: its page went back to the pool. */
static void prep_destroyed_heap_block(mctx_t *c, size_t size)
{
    prep_quiet_default(c);
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    if (size > 64 * KiB)
        dog_trim();
    c->bad = dog_heap_malloc(h, size);
    ck_assert_ptr_nonnull(c->bad);
    dog_heap_destroy(h);
    if (size > 64 * KiB)
        expect(c, "dog_free(%p): invalid pointer: double free of a huge block", c->bad);
    else
        expect(c, "dog_free(%p): " FREE_INVALID, c->bad);
}

static void prep_destroyed_small(mctx_t *c) { prep_destroyed_heap_block(c, 64); }
static void prep_destroyed_huge(mctx_t *c) { prep_destroyed_heap_block(c, 2 * MiB); }

static void prep_foreign_heap_handle(mctx_t *c)
{
    /* dogmalloc's own memory, but no block */
    prep_quiet_default(c);
    c->heap = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(c->heap);
    c->bad = c->heap;
    expect(c, "dog_free(%p): " FREE_INVALID, c->bad);
}

static void prep_foreign_page_header(mctx_t *c)
{
    prep_quiet_default(c);
    c->bad = (void *)((uintptr_t)c->keep[0] & ~(FRAME - 1));
    ck_assert_ptr_ne(c->bad, c->keep[0]);
    expect(c, "dog_free(%p): " FREE_INVALID, c->bad);
}

/* A huge block of 2 MiB, live, kept. */
static void prep_huge_kept(mctx_t *c)
{
    warm_thread_cache();
    dog_trim();
    c->size = 2 * MiB;
    c->p = keep(c, dog_malloc(2 * MiB), 2 * MiB);
}

static void prep_huge_frame_start(mctx_t *c)
{
    prep_huge_kept(c);
    c->bad = (void *)((uintptr_t)c->p & ~(FRAME - 1));    /* its header */
    ck_assert_ptr_ne(c->bad, c->p);
    expect(c, "dog_free(%p): invalid pointer: into the header of a huge block", c->bad);
}

static void prep_huge_past_end(mctx_t *c)
{
    prep_huge_kept(c);
    c->bad = (char *)c->p + dog_usable_size(c->p);
    expect(c, "dog_free(%p): invalid pointer: past the end of a huge block", c->bad);
}

static void prep_huge_freed_inside(mctx_t *c)
{
    warm_thread_cache();
    dog_trim();
    c->size = 2 * MiB;
    c->p = dog_malloc(2 * MiB);
    ck_assert_ptr_nonnull(c->p);
    c->bad = (char *)c->p + MiB;
    c->delta = -1;
    expect(c, "dog_free(%p): invalid pointer: inside a huge block that is already freed "
           "(double free?)", c->bad);
}

static void act_free_p_then_bad(mctx_t *c)
{
    dog_free(c->p);
    dog_free(c->bad);
}

static void act_free_null(mctx_t *c)
{
    (void)c;
    int saved = errno = 4321;
    dog_free(NULL);
    dog_free_sized(NULL, 100);
    require_always(errno == saved, 41);
}

/* --- Interior pointers ------------------------------------------------------------- */

static void prep_interior(mctx_t *c, size_t size, size_t offset)
{
    warm_thread_cache();
    if (size > 64 * KiB)
        dog_trim();
    c->size = size;
    c->p = keep(c, dog_malloc(size), size);
    c->bad = (char *)c->p + (offset == SIZE_MAX ? dog_usable_size(c->p) - 1 : offset);
    if (size > 64 * KiB)
        expect(c, "dog_free(%p): invalid pointer: into the middle of a huge block", c->bad);
    else
        expect(c, "dog_free(%p): invalid pointer: into the middle of a block", c->bad);
}

/* A block aligned to 1 MiB: its header is alone in the frame below it. */
static void prep_interior_aligned(mctx_t *c, long offset)
{
    warm_thread_cache();
    c->size = 200 * KiB;
    c->p = keep(c, dog_aligned_alloc(MiB, 200 * KiB), 200 * KiB);
    c->bad = (char *)c->p + offset;
    if (offset < 0)
        expect(c, "dog_free(%p): invalid pointer: into the header of a huge block", c->bad);
    else
        expect(c, "dog_free(%p): invalid pointer: into the middle of a huge block", c->bad);
}

static void prep_interior_aligned_8(mctx_t *c) { prep_interior_aligned(c, 8); }
static void prep_interior_aligned_header(mctx_t *c) { prep_interior_aligned(c, -4096); }
static void prep_interior_small_1(mctx_t *c) { prep_interior(c, 64, 1); }
static void prep_interior_small_8(mctx_t *c) { prep_interior(c, 64, 8); }
static void prep_interior_small_last(mctx_t *c) { prep_interior(c, 64, SIZE_MAX); }
static void prep_interior_large_8(mctx_t *c) { prep_interior(c, 40 * KiB, 8); }
static void prep_interior_huge_1(mctx_t *c) { prep_interior(c, 2 * MiB, 1); }
static void prep_interior_huge_8(mctx_t *c) { prep_interior(c, 2 * MiB, 8); }
static void prep_interior_huge_last(mctx_t *c) { prep_interior(c, 2 * MiB, SIZE_MAX); }

/* --- dog_free_sized ---------------------------------------------------------------- */

static void prep_sized_larger(mctx_t *c)
{
    warm_thread_cache();
    c->size = 64;
    c->p = c->bad = keep(c, dog_malloc(64), 64);
    expect(c, "dog_free_sized(%p, %zu): the block has only %zu usable bytes", c->bad,
           dog_usable_size(c->p) + 1, dog_usable_size(c->p));
}

static void act_sized_larger(mctx_t *c)
{
    dog_free_sized(c->p, dog_usable_size(c->p) + 1);
    require(dog_usable_size(c->p) >= 64, 42);    /* skipped: still live */
}

static void prep_sized_larger_huge(mctx_t *c)
{
    prep_huge_kept(c);
    c->bad = c->p;
    expect(c, "dog_free_sized(%p, %zu): the block has only %zu usable bytes", c->bad,
           dog_usable_size(c->p) + 1, dog_usable_size(c->p));
}

static void prep_sized_smaller(mctx_t *c)
{
    /* Not detected (include/dogmalloc.h, dog_free_sized): the block is freed. */
    warm_thread_cache();
    c->size = 64;
    c->p = dog_malloc(64);
    ck_assert_ptr_nonnull(c->p);
    keep(c, dog_malloc(64), 64);
    c->delta = -1;
}

static void act_sized_smaller(mctx_t *c)
{
    dog_free_sized(c->p, 1);
    require_always(dog_heap_of(c->p) == NULL, 43);
}

static void prep_sized_freed(mctx_t *c)
{
    block_with_neighbour(c, NULL, 64);
    expect(c, "dog_free_sized(%p, %zu): invalid pointer: double free (the block is already "
           "in a thread cache)", c->bad, (size_t)64);
}

static void act_sized_freed(mctx_t *c)
{
    dog_free_sized(c->p, c->size);
    dog_free_sized(c->p, c->size);
}

static void prep_sized_freed_huge(mctx_t *c)
{
    block_with_neighbour(c, NULL, 2 * MiB);
    expect(c, "dog_free_sized(%p, %zu): invalid pointer: double free of a huge block", c->bad,
           c->size);
}

static void prep_sized_interior(mctx_t *c)
{
    prep_interior(c, 64, 8);
    expect(c, "dog_free_sized(%p, %zu): invalid pointer: into the middle of a block", c->bad,
           (size_t)8);
}

static void prep_sized_foreign(mctx_t *c)
{
    prep_quiet_default(c);
    c->bad = stack_junk();
    expect(c, "dog_free_sized(%p, %zu): " FREE_INVALID, c->bad, (size_t)8);
}

static void act_sized_bad(mctx_t *c)
{
    dog_free_sized(c->bad, 8);
}

/* --- Queries and realloc of what is not a live block -------------------------------- */

static void prep_freed_small(mctx_t *c)
{
    block_with_neighbour(c, NULL, 64);
}

static void prep_freed_huge(mctx_t *c)
{
    block_with_neighbour(c, NULL, 2 * MiB);
}

static void prep_realloc_freed(mctx_t *c)
{
    prep_freed_small(c);
    expect(c, "dog_realloc(%p): not a live block of dogmalloc", c->bad);
}

static void prep_realloc_freed_huge(mctx_t *c)
{
    prep_freed_huge(c);
    expect(c, "dog_realloc(%p): not a live block of dogmalloc", c->bad);
}

static void act_realloc_freed(mctx_t *c)
{
    dog_free(c->p);
    errno = 0;
    void *q = dog_realloc(c->p, 100);
    require(q == NULL && errno == EINVAL, 44);
}

static void prep_realloc_foreign(mctx_t *c)
{
    prep_quiet_default(c);
    c->bad = stack_junk();
    expect(c, "dog_realloc(%p): not a live block of dogmalloc", c->bad);
}

static void act_realloc_bad(mctx_t *c)
{
    errno = 0;
    void *q = dog_realloc(c->bad, 100);
    require(q == NULL && errno == EINVAL, 45);
}

static void prep_heap_realloc_freed(mctx_t *c)
{
    prep_freed_small(c);
    c->heap = dog_heap_new(NULL);
    expect(c, "dog_heap_realloc(%p): not a live block of dogmalloc", c->bad);
}

static void act_heap_realloc_freed(mctx_t *c)
{
    dog_free(c->p);
    errno = 0;
    void *q = dog_heap_realloc(c->heap, c->p, 100);
    require(q == NULL && errno == EINVAL, 46);
}

static void prep_heap_realloc_foreign(mctx_t *c)
{
    prep_quiet_default(c);
    c->heap = dog_heap_new(NULL);
    c->bad = malloc(100);
    ck_assert_ptr_nonnull(c->bad);
    expect(c, "dog_heap_realloc(%p): not a live block of dogmalloc", c->bad);
}

static void act_heap_realloc_bad(mctx_t *c)
{
    errno = 0;
    void *q = dog_heap_realloc(c->heap, c->bad, 100);
    require(q == NULL && errno == EINVAL, 47);
}

static void prep_usable_freed(mctx_t *c)
{
    prep_freed_small(c);
    expect(c, "dog_usable_size(%p): invalid pointer: not a live block of dogmalloc", c->bad);
}

static void act_usable_freed(mctx_t *c)
{
    dog_free(c->p);
    int saved = errno = 4321;
    require(dog_usable_size(c->p) == 0 && errno == saved, 48);
}

static void prep_usable_foreign(mctx_t *c)
{
    prep_quiet_default(c);
    c->bad = static_junk;
    expect(c, "dog_usable_size(%p): invalid pointer: not a live block of dogmalloc", c->bad);
}

static void act_usable_bad(mctx_t *c)
{
    require(dog_usable_size(c->bad) == 0, 49);
}

static void act_heap_of_freed(mctx_t *c)
{
    dog_free(c->p);
    require_always(dog_heap_of(c->p) == NULL, 50);
}

static void prep_heap_of_foreign(mctx_t *c)
{
    prep_quiet_default(c);
    c->bad = stack_junk();
}

static void act_heap_of_bad(mctx_t *c)
{
    int saved = errno = 4321;
    require_always(dog_heap_of(c->bad) == NULL && errno == saved, 51);
    require_always(dog_heap_of(static_junk) == NULL, 52);
    require_always(dog_heap_of((char *)c->keep[0] + 8) == NULL, 53);
}

/* --- Heap handles ------------------------------------------------------------------ */

/* The eight functions that take a heap, called with c->bad as the heap. Under report (or
 * for a NULL heap, always) each returns its documented error: NULL or -1 with EINVAL. */
static void visit_nothing(const dog_heap_t *heap, void *block, size_t usable, void *arg)
{
    (void)heap, (void)block, (void)usable, (void)arg;
    _exit(68);                      /* a dead or bad handle has nothing to visit */
}

static void heap_call(mctx_t *c, int which, int always)
{
    dog_heap_t *h = c->bad;
    void (*check)(int, int) = always ? require_always : require;
    errno = 0;
    switch (which) {
    case 0:
        check(dog_heap_malloc(h, 64) == NULL && errno == EINVAL, 60);
        break;
    case 1:
        check(dog_heap_calloc(h, 4, 16) == NULL && errno == EINVAL, 61);
        break;
    case 2:
        check(dog_heap_aligned_alloc(h, 64, 64) == NULL && errno == EINVAL, 62);
        break;
    case 3:     /* a live block of dog_default, which must stay as it is */
        check(dog_heap_realloc(h, c->keep[0], 200) == NULL && errno == EINVAL, 63);
        break;
    case 4:
        dog_heap_destroy(h);
        break;
    case 5: {
        dog_heap_stats_t st;
        check(dog_heap_stats(h, &st) == -1 && errno == EINVAL, 65);
        break;
    }
    case 6: {
        FILE *f = fopen("/dev/null", "w");
        if (f == NULL)
            _exit(66);
        check(dog_heap_stats_print(h, f) == -1 && errno == EINVAL, 66);
        fclose(f);
        break;
    }
    case 7:
        check(dog_heap_name(h) == NULL && errno == EINVAL, 67);
        break;
    case 8:
        dog_heap_reset(h);
        break;
    case 9:
        check(dog_heap_visit(h, visit_nothing, NULL) == -1 && errno == EINVAL, 69);
        break;
    case 10:
        check(dog_heap_parent(h) == NULL && errno == EINVAL, 70);
        break;
    case 12:
        dog_heap_delete(h);
        break;
    case 11: {  /* a NULL parent is none: the heap is made */
        dog_heap_t *child = dog_heap_new(&(dog_heap_options_t){ .parent = h });
        check(h == NULL ? child != NULL : child == NULL && errno == EINVAL, 71);
        dog_heap_destroy(child);
        break;
    }
    }
}

static const char *const heap_funcs[] = {
    "dog_heap_malloc", "dog_heap_calloc", "dog_heap_aligned_alloc", "dog_heap_realloc",
    "dog_heap_destroy", "dog_heap_stats", "dog_heap_stats_print", "dog_heap_name",
    "dog_heap_reset", "dog_heap_visit", "dog_heap_parent", "dog_heap_new(parent)",
    "dog_heap_delete",
};

static void prep_heap_common(mctx_t *c)
{
    warm_thread_cache();
    c->size = 64;
    keep(c, dog_malloc(64), 64);
}

static void prep_heap_dead(mctx_t *c, int which)
{
    prep_heap_common(c);
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "doomed" });
    ck_assert_ptr_nonnull(h);
    void *p = dog_heap_malloc(h, 100), *q = dog_heap_malloc(h, 2 * MiB);
    ck_assert(p != NULL && q != NULL);
    dog_heap_destroy(h);
    c->bad = h;
    expect(c, "%s(%p): " NOT_LIVE_HEAP, heap_funcs[which], c->bad);
}

static void prep_heap_dead_later(mctx_t *c, int which)
{
    /* more heaps come and go after it: the stale handle is still not one of theirs */
    prep_heap_dead(c, which);
    dog_heap_t *live[40];
    for (int i = 0; i < 40; i++) {
        live[i] = dog_heap_new(NULL);
        ck_assert_ptr_nonnull(live[i]);
        ck_assert_ptr_ne(live[i], c->bad);
        ck_assert_ptr_nonnull(dog_heap_malloc(live[i], 16));
    }
    for (int i = 0; i < 40; i++)
        dog_heap_destroy(live[i]);
    for (int i = 0; i < 20; i++) {
        live[i] = dog_heap_new(NULL);
        ck_assert_ptr_ne(live[i], c->bad);
    }
}

static void prep_heap_junk(mctx_t *c, int which)
{
    prep_heap_common(c);
    memset(static_junk, 0x5a, sizeof static_junk);
    c->bad = static_junk;
    expect(c, "%s(%p): " NOT_LIVE_HEAP, heap_funcs[which], c->bad);
}

static void prep_heap_block(mctx_t *c, int which)
{
    /* a live block of dogmalloc taken for a heap */
    prep_heap_common(c);
    c->bad = keep(c, dog_malloc(512), 512);
    expect(c, "%s(%p): " NOT_LIVE_HEAP, heap_funcs[which], c->bad);
}

static void prep_heap_wild(mctx_t *c, int which)
{
    /* an address where nothing is mapped */
    prep_heap_common(c);
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(m != MAP_FAILED);
    munmap(m, 4096);
    c->bad = m;
    expect(c, "%s(%p): " NOT_LIVE_HEAP, heap_funcs[which], c->bad);
}

static void prep_heap_tiny(mctx_t *c, int which)
{
    /* (dog_heap_t *)1, which is what a thread that has no heap cache remembers as its
     * last heap (tcache.h): still reported, never dereferenced */
    prep_heap_common(c);
    c->bad = (void *)(uintptr_t)1;
    expect(c, "%s(%p): " NOT_LIVE_HEAP, heap_funcs[which], c->bad);
}

static void prep_heap_null(mctx_t *c, int which)
{
    (void)which;
    prep_heap_common(c);
    c->bad = NULL;
}

/* One prepare per heap function (which), for each kind of handle. */
#define HEAP_CASES(kind)                                                                     \
    static void prep_heap_##kind##_0(mctx_t *c) { prep_heap_##kind(c, 0); }                \
    static void prep_heap_##kind##_1(mctx_t *c) { prep_heap_##kind(c, 1); }                \
    static void prep_heap_##kind##_2(mctx_t *c) { prep_heap_##kind(c, 2); }                \
    static void prep_heap_##kind##_3(mctx_t *c) { prep_heap_##kind(c, 3); }                \
    static void prep_heap_##kind##_4(mctx_t *c) { prep_heap_##kind(c, 4); }                \
    static void prep_heap_##kind##_5(mctx_t *c) { prep_heap_##kind(c, 5); }                \
    static void prep_heap_##kind##_6(mctx_t *c) { prep_heap_##kind(c, 6); }                \
    static void prep_heap_##kind##_7(mctx_t *c) { prep_heap_##kind(c, 7); }              \
    static void prep_heap_##kind##_8(mctx_t *c) { prep_heap_##kind(c, 8); }                \
    static void prep_heap_##kind##_9(mctx_t *c) { prep_heap_##kind(c, 9); }                \
    static void prep_heap_##kind##_10(mctx_t *c) { prep_heap_##kind(c, 10); }              \
    static void prep_heap_##kind##_11(mctx_t *c) { prep_heap_##kind(c, 11); }              \
    static void prep_heap_##kind##_12(mctx_t *c) { prep_heap_##kind(c, 12); }

/* One act per heap function; always: a QUIET case, whose results hold under both policies. */
#define HEAP_ACTS(always)                                                                    \
    static void act_heap_##always##_0(mctx_t *c) { heap_call(c, 0, always); }              \
    static void act_heap_##always##_1(mctx_t *c) { heap_call(c, 1, always); }              \
    static void act_heap_##always##_2(mctx_t *c) { heap_call(c, 2, always); }              \
    static void act_heap_##always##_3(mctx_t *c) { heap_call(c, 3, always); }              \
    static void act_heap_##always##_4(mctx_t *c) { heap_call(c, 4, always); }              \
    static void act_heap_##always##_5(mctx_t *c) { heap_call(c, 5, always); }              \
    static void act_heap_##always##_6(mctx_t *c) { heap_call(c, 6, always); }              \
    static void act_heap_##always##_7(mctx_t *c) { heap_call(c, 7, always); }              \
    static void act_heap_##always##_8(mctx_t *c) { heap_call(c, 8, always); }              \
    static void act_heap_##always##_9(mctx_t *c) { heap_call(c, 9, always); }              \
    static void act_heap_##always##_10(mctx_t *c) { heap_call(c, 10, always); }            \
    static void act_heap_##always##_11(mctx_t *c) { heap_call(c, 11, always); }            \
    static void act_heap_##always##_12(mctx_t *c) { heap_call(c, 12, always); }

HEAP_CASES(dead)
HEAP_CASES(dead_later)
HEAP_CASES(junk)
HEAP_CASES(block)
HEAP_CASES(wild)
HEAP_CASES(tiny)
HEAP_CASES(null)
HEAP_ACTS(0)
HEAP_ACTS(1)

static void prep_destroy_default(mctx_t *c)
{
    prep_heap_common(c);
    c->bad = dog_default;
    expect(c, "dog_heap_destroy(dog_default): the default heap cannot be destroyed");
}

static void prep_reset_default(mctx_t *c)
{
    prep_heap_common(c);
    c->bad = dog_default;
    expect(c, "dog_heap_reset(dog_default): the default heap cannot be reset");
}

#define HEAP_ROW(kind, n, name, flags) { "heap " #kind ": " name, prep_heap_##kind##_##n,     \
                                         (flags) ? act_heap_1_##n : act_heap_0_##n, (flags) }
#define HEAP_ROWS(kind, flags)                                                               \
    HEAP_ROW(kind, 0, "dog_heap_malloc", flags), HEAP_ROW(kind, 1, "dog_heap_calloc", flags), \
    HEAP_ROW(kind, 2, "dog_heap_aligned_alloc", flags),                                      \
    HEAP_ROW(kind, 3, "dog_heap_realloc", flags), HEAP_ROW(kind, 4, "dog_heap_destroy", flags), \
    HEAP_ROW(kind, 5, "dog_heap_stats", flags),                                              \
    HEAP_ROW(kind, 6, "dog_heap_stats_print", flags), HEAP_ROW(kind, 7, "dog_heap_name", flags), \
    HEAP_ROW(kind, 8, "dog_heap_reset", flags), HEAP_ROW(kind, 9, "dog_heap_visit", flags), \
    HEAP_ROW(kind, 10, "dog_heap_parent", flags), HEAP_ROW(kind, 11, "dog_heap_new(parent)", flags), \
    HEAP_ROW(kind, 12, "dog_heap_delete", flags)

/* --- The table --------------------------------------------------------------------- */

static const mcase_t cases[] = {
    /* double frees */
    { "double free: small, same thread (thread cache)", prep_df_small, free_twice, 0 },
    { "double free: small, after the cache went back to the page", prep_df_flushed,
      act_df_flushed, 0 },
    { "double free: large class (32 KiB)", prep_df_large, free_twice, 0 },
    { "double free: huge (2 MiB)", prep_df_huge, free_twice, 0 },
    { "double free: over-aligned small (4 KiB aligned)", prep_df_aligned_small, free_twice, 0 },
    { "double free: over-aligned huge (1 MiB aligned)", prep_df_aligned_huge, free_twice, 0 },
    { "double free: explicit heap, small", prep_df_heap_small, free_twice, 0 },
    { "double free: explicit heap, large class (32 KiB)", prep_df_heap_large, free_twice, 0 },
    { "double free: explicit heap, huge", prep_df_heap_huge, free_twice, 0 },
    { "double free: owner, then another thread with a cache", prep_cross_owner_other,
      act_owner_then_other_warm, 0 },
    { "double free: owner, then another thread without a cache", prep_cross_owner_other,
      act_owner_then_other_cold, 0 },
    { "double free: another thread with a cache, then owner", prep_cross_other_owner,
      act_other_warm_then_owner, 0 },
    { "double free: another thread with a cache, twice", prep_cross_other_owner,
      act_other_warm_twice, 0 },
    { "double free: another thread without a cache, then owner", prep_cross_cold,
      act_other_cold_then_owner, 0 },
    { "double free: another thread without a cache, twice", prep_cross_cold,
      act_other_cold_twice, 0 },
    { "double free: explicit heap, owner then another thread", prep_cross_heap,
      act_heap_owner_then_other, 0 },
    /* foreign pointers */
    { "foreign: stack", prep_foreign_stack, act_free_bad, 0 },
    { "foreign: static", prep_foreign_static, act_free_bad, 0 },
    { "foreign: glibc malloc block", prep_foreign_glibc, act_free_bad, 0 },
    { "foreign: unmapped address", prep_foreign_unmapped, act_free_bad, 0 },
    { "foreign: page header", prep_foreign_page_header, act_free_bad, 0 },
    { "foreign: a heap handle", prep_foreign_heap_handle, act_free_bad, 0 },
    { "foreign: a block never carved (thread cache path)", prep_foreign_uncarved,
      act_free_bad, 0 },
    { "foreign: a block never carved, freed by another thread", prep_foreign_uncarved,
      act_free_bad_other, 0 },
    { "foreign: a block never carved, explicit heap", prep_foreign_uncarved_heap,
      act_free_bad, 0 },
    { "foreign: past a page's last block", prep_foreign_page_tail, act_free_bad, 0 },
    { "foreign: a block of a destroyed heap", prep_destroyed_small, act_free_bad, 0 },
    { "foreign: a huge block of a destroyed heap", prep_destroyed_huge, act_free_bad, 0 },
    { "foreign: first byte of a huge block's frame", prep_huge_frame_start, act_free_bad, 0 },
    { "foreign: just past a huge block", prep_huge_past_end, act_free_bad, 0 },
    { "foreign: inside a freed huge block", prep_huge_freed_inside, act_free_p_then_bad, 0 },
    { "foreign: NULL is fine", prep_quiet_default, act_free_null, QUIET },
    /* interior pointers */
    { "interior: small + 1", prep_interior_small_1, act_free_bad, 0 },
    { "interior: small + 8", prep_interior_small_8, act_free_bad, 0 },
    { "interior: small, last byte", prep_interior_small_last, act_free_bad, 0 },
    { "interior: large class + 8", prep_interior_large_8, act_free_bad, 0 },
    { "interior: huge + 1", prep_interior_huge_1, act_free_bad, 0 },
    { "interior: huge + 8", prep_interior_huge_8, act_free_bad, 0 },
    { "interior: huge, last byte", prep_interior_huge_last, act_free_bad, 0 },
    { "interior: 1 MiB-aligned huge + 8", prep_interior_aligned_8, act_free_bad, 0 },
    { "interior: 1 MiB-aligned huge, its header's frame", prep_interior_aligned_header,
      act_free_bad, 0 },
    /* dog_free_sized */
    { "free_sized: larger than the block", prep_sized_larger, act_sized_larger, 0 },
    { "free_sized: larger than a huge block", prep_sized_larger_huge, act_sized_larger, 0 },
    { "free_sized: smaller (not detected, freed)", prep_sized_smaller, act_sized_smaller,
      QUIET },
    { "free_sized: a freed block", prep_sized_freed, act_sized_freed, 0 },
    { "free_sized: a freed huge block", prep_sized_freed_huge, act_sized_freed, 0 },
    { "free_sized: an interior pointer", prep_sized_interior, act_sized_bad, 0 },
    { "free_sized: a foreign pointer", prep_sized_foreign, act_sized_bad, 0 },
    /* what is not a live block, to realloc and the queries */
    { "dog_realloc: freed block", prep_realloc_freed, act_realloc_freed, 0 },
    { "dog_realloc: freed huge block", prep_realloc_freed_huge, act_realloc_freed, 0 },
    { "dog_realloc: foreign pointer", prep_realloc_foreign, act_realloc_bad, 0 },
    { "dog_heap_realloc: freed block", prep_heap_realloc_freed, act_heap_realloc_freed, 0 },
    { "dog_heap_realloc: foreign pointer", prep_heap_realloc_foreign, act_heap_realloc_bad, 0 },
    { "dog_usable_size: freed block", prep_usable_freed, act_usable_freed, 0 },
    { "dog_usable_size: foreign pointer", prep_usable_foreign, act_usable_bad, 0 },
    { "dog_heap_of: freed block (NULL)", prep_freed_small, act_heap_of_freed, QUIET },
    { "dog_heap_of: foreign pointers (NULL)", prep_heap_of_foreign, act_heap_of_bad, QUIET },
    /* heap handles */
    HEAP_ROWS(dead, 0),
    HEAP_ROWS(dead_later, 0),
    HEAP_ROWS(junk, 0),
    HEAP_ROWS(block, 0),
    HEAP_ROWS(wild, 0),
    HEAP_ROWS(tiny, 0),
    HEAP_ROWS(null, QUIET),
    { "heap: dog_heap_destroy(dog_default)", prep_destroy_default, act_heap_0_4, 0 },
    { "heap: dog_heap_reset(dog_default)", prep_reset_default, act_heap_0_8, 0 },
};
#define N_CASES ((int)(sizeof cases / sizeof *cases))

/* --- Running a case ---------------------------------------------------------------- */

typedef struct run {
    const mcase_t *mc;
    mctx_t *c;
    int report;
} run_t;

static size_t blocks_of(dog_heap_t *h)
{
    dog_heap_stats_t st;
    if (dog_heap_stats(h, &st) != 0)
        _exit(20);
    return st.blocks_in_use;
}

/* After a reported misuse: nothing was corrupted, and the bad call changed nothing. */
static void health(const mctx_t *c, size_t before)
{
    dog_heap_t *h = c->home ? c->home : dog_default;
    size_t after = blocks_of(h);        /* collects every pending cross-thread free */
    if ((long)after - (long)before != c->delta)
        _exit(21);
    for (int k = 0; k < KEEP_MAX && c->keep[k] != NULL; k++)
        if (pattern_check(c->keep[k], c->keep_size[k]) != SIZE_MAX)
            _exit(22);
    enum { N = 600 };
    static void *got[N];
    size_t n = c->size > 64 * KiB ? 8 : N;
    for (size_t i = 0; i < n; i++) {
        got[i] = dog_heap_malloc(h, c->size);
        if (got[i] == NULL)
            _exit(23);
        for (size_t j = 0; j < i; j++)
            if (got[j] == got[i])
                _exit(24);      /* handed out twice */
        for (int k = 0; k < KEEP_MAX; k++)
            if (got[i] == c->keep[k])
                _exit(25);      /* a live block handed out */
        pattern_fill(got[i], c->size);
    }
    for (size_t i = 0; i < n; i++)
        if (pattern_check(got[i], c->size) != SIZE_MAX)
            _exit(26);          /* blocks overlap */
    for (int k = 0; k < KEEP_MAX && c->keep[k] != NULL; k++)
        if (pattern_check(c->keep[k], c->keep_size[k]) != SIZE_MAX)
            _exit(27);
    for (size_t i = 0; i < n; i++)
        dog_free(got[i]);
    if (blocks_of(h) != after)
        _exit(28);
}

static void child(void *arg)
{
    run_t *r = arg;
    policy_report = r->report;
    if (dog_option_set(DOG_OPTION_MISUSE, r->report ? DOG_MISUSE_REPORT : DOG_MISUSE_ABORT) != 0)
        _exit(10);
    size_t before = blocks_of(r->c->home ? r->c->home : dog_default);
    r->mc->act(r->c);
    if (!r->report && !(r->mc->flags & QUIET))
        _exit(11);              /* survived the abort policy */
    health(r->c, before);
    _exit(0);
}

/* Is line (with its newline) one of the lines of out, and the only dogmalloc line? */
static int only_line(const char *out, const char *line)
{
    int found = 0;
    for (const char *l = out; *l != '\0';) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        if (strncmp(l, "dogmalloc:", 10) == 0) {
            if (len + 1 != strlen(line) || strncmp(l, line, len + 1) != 0)
                return 0;
            found++;
        }
        l += len + (nl != NULL);
    }
    return found == 1;
}

static void run_case(int i, int report)
{
    const mcase_t *mc = &cases[i];
    static mctx_t c;
    char stack[64];
    memset(&c, 0, sizeof c);
    stack_buf = stack;
    mc->prepare(&c);
    run_t r = { mc, &c, report };
    char out[8192];
    int status = death_run(child, &r, out, sizeof out);
    const char *policy = report ? "report" : "abort";
    if (mc->flags & QUIET) {
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "%s (%s): exit %d, signal %d; stderr \"%s\"", mc->name, policy,
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                      WIFSIGNALED(status) ? WTERMSIG(status) : 0, out);
        ck_assert_msg(strstr(out, "dogmalloc") == NULL, "%s (%s): a message: \"%s\"", mc->name,
                      policy, out);
        return;
    }
    char line[512], alt[512];
    snprintf(line, sizeof line, "dogmalloc: %s%s\n",
             report ? "misuse (reported, continuing): " : "", c.expect);
    snprintf(alt, sizeof alt, "dogmalloc: %s%s\n",
             report ? "misuse (reported, continuing): " : "", c.expect_alt);
    int ok = only_line(out, line) || (c.expect_alt[0] != '\0' && only_line(out, alt));
    if (report)
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "%s (report): did not continue safely: exit %d, signal %d; "
                      "stderr \"%s\"", mc->name, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                      WIFSIGNALED(status) ? WTERMSIG(status) : 0, out);
    else
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                      "%s (abort): expected SIGABRT, got exit %d, signal %d; stderr \"%s\"",
                      mc->name, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                      WIFSIGNALED(status) ? WTERMSIG(status) : 0, out);
    ck_assert_msg(ok, "%s (%s): expected the one line \"%s\", got \"%s\"", mc->name, policy,
                  line, out);
}

START_TEST(test_misuse_abort)
{
    run_case(_i, 0);
}
END_TEST

START_TEST(test_misuse_report)
{
    run_case(_i, 1);
}
END_TEST

/* --- The policy from the environment ----------------------------------------------
 * DOGMALLOC_MISUSE=report read at start-up, not set with dog_option_set: a fresh copy of
 * the test binary (check_main.c runs misuse_env_main when DOG_TEST_MISUSE_ENV is set)
 * makes three misuses, writes the line it expects for each on stdout before making them,
 * and checks what the calls return and that the allocator is intact. No Check here. */
int misuse_env_main(void)
{
    char stack[64];
    memset(stack, 0, sizeof stack);
    warm_thread_cache();
    void *p = dog_malloc(64), *kept = dog_malloc(64);
    dog_heap_t *h = dog_heap_new(NULL);
    if (p == NULL || kept == NULL || h == NULL)
        return 2;
    dog_heap_destroy(h);
    if (dog_option_get(DOG_OPTION_MISUSE) != DOG_MISUSE_REPORT)
        return 3;
    printf("dogmalloc: misuse (reported, continuing): dog_free(%p): invalid pointer: double free "
           "(the block is already in a thread cache)\n", p);
    printf("dogmalloc: misuse (reported, continuing): dog_free(%p): " FREE_INVALID "\n",
           (void *)(stack + 8));
    printf("dogmalloc: misuse (reported, continuing): dog_heap_malloc(%p): " NOT_LIVE_HEAP "\n",
           (void *)h);
    fflush(stdout);
    pattern_fill(kept, 64);
    dog_free(p);
    dog_free(p);
    dog_free(launder(stack + 8));
    errno = 0;
    if (dog_heap_malloc(h, 64) != NULL || errno != EINVAL)
        return 4;
    static void *got[600];
    for (int i = 0; i < 600; i++) {
        got[i] = dog_malloc(64);
        if (got[i] == NULL || got[i] == kept)
            return 5;
        for (int j = 0; j < i; j++)
            if (got[j] == got[i])
                return 6;
        pattern_fill(got[i], 64);
    }
    for (int i = 0; i < 600; i++)
        if (pattern_check(got[i], 64) != SIZE_MAX)
            return 7;
    if (pattern_check(kept, 64) != SIZE_MAX)
        return 8;
    return 0;
}

static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && ((n = read(fd, buf + len, cap - 1 - len)) > 0 ||
                             (n < 0 && errno == EINTR)))
        len += n > 0 ? (size_t)n : 0;
    buf[len] = '\0';
    return len;
}

START_TEST(test_misuse_report_from_environment)
{
    int out[2], err[2];
    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(pipe(err), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        close(out[0]), close(out[1]), close(err[0]), close(err[1]);
        setenv("DOGMALLOC_MISUSE", "report", 1);
        setenv("DOG_TEST_MISUSE_ENV", "1", 1);
        execl("/proc/self/exe", "check_dogmalloc", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    char expected[2048], got[8192];
    read_all(out[0], expected, sizeof expected);   /* written, and closed, before stderr */
    read_all(err[0], got, sizeof got);
    close(out[0]);
    close(err[0]);
    int status;
    pid_t w;
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    ck_assert_int_eq(w, pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "DOGMALLOC_MISUSE=report: exit %d, signal %d; stderr \"%s\"",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0, got);
    ck_assert_msg(strstr(got, expected) != NULL, "expected \"%s\" on stderr, got \"%s\"",
                  expected, got);
}
END_TEST

/* The table has the cases that docs/misuse.md lists: at least 40 of them. */
START_TEST(test_misuse_matrix_size)
{
    ck_assert_int_ge(N_CASES, 40);
}
END_TEST

Suite *misuse_suite(void)
{
    Suite *s = suite_create("misuse");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_misuse_matrix_size);
    tcase_add_test(tc, test_misuse_report_from_environment);
    tcase_add_loop_test(tc, test_misuse_abort, 0, N_CASES);
    tcase_add_loop_test(tc, test_misuse_report, 0, N_CASES);
    suite_add_tcase(s, tc);
    return s;
}
