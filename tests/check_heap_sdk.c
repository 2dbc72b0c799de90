/* SPDX-License-Identifier: MIT */
/* check_heap_sdk.c: the heap SDK of 0.2: string copies, zalloc, aligned realloc, in-place
 * resizing, dog_good_size, dog_heap_contains, run-time budgets and their handler, the
 * table and JSON forms of the statistics, and the sized (growable) structs.
 *
 * Public header only. Threads are oversubscribed (more than the machine's cores) and
 * start together; no test depends on timing. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dogmalloc.h>

#include "suites.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define THREADS 8                       /* four per core on the 2-core CI machine */

static char static_bytes[64];

static dog_heap_t *heap_new(const char *name, size_t limit)
{
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = name, .limit = limit });
    ck_assert_ptr_nonnull(h);
    return h;
}

/* --- Strings and zalloc --- */

START_TEST(test_sdk_strdup)
{
    dog_heap_t *h = heap_new("strings", 0);
    char *a = dog_strdup("hello, heap");
    ck_assert_str_eq(a, "hello, heap");
    ck_assert_ptr_eq(dog_heap_of(a), dog_default);
    char *b = dog_heap_strdup(h, "");
    ck_assert_str_eq(b, "");
    ck_assert_ptr_eq(dog_heap_of(b), h);

    char *c = dog_strndup("abcdef", 3);                 /* cut */
    ck_assert_str_eq(c, "abc");
    char *d = dog_heap_strndup(h, "abc", 100);          /* shorter than n */
    ck_assert_str_eq(d, "abc");
    ck_assert_ptr_eq(dog_heap_of(d), h);
    char raw[4] = { 'w', 'x', 'y', 'z' };               /* not terminated: only n read */
    char *e = dog_heap_strndup(h, raw, sizeof raw);
    ck_assert_str_eq(e, "wxyz");
    char *f = dog_strndup("abc", 0);
    ck_assert_str_eq(f, "");

    char *big = malloc(200 * KiB + 1);                  /* a huge copy */
    memset(big, 'q', 200 * KiB);
    big[200 * KiB] = '\0';
    char *g = dog_heap_strdup(h, big);
    ck_assert_uint_eq(strlen(g), 200 * KiB);
    ck_assert_int_eq(memcmp(g, big, 200 * KiB), 0);
    ck_assert(dog_heap_contains(h, g + 150 * KiB));
    free(big);

    errno = 0;
    ck_assert_ptr_null(dog_strdup(NULL));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(dog_heap_strndup(h, NULL, 4));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(dog_heap_strdup(NULL, "x"));
    ck_assert_int_eq(errno, EINVAL);

    dog_free(a);
    dog_free(c);
    dog_free(f);
    dog_free(b);                                        /* the rest goes with the heap */
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_sdk_zalloc)
{
    dog_heap_t *h = heap_new("zalloc", 0);
    static const size_t sizes[] = { 0, 1, 16, 100, 4000, 65536, 70000, 3 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        for (int round = 0; round < 3; round++) {       /* reused memory, made dirty first */
            unsigned char *p = dog_heap_zalloc(h, sizes[i]);
            ck_assert_ptr_nonnull(p);
            ck_assert_ptr_eq(dog_heap_of(p), h);
            for (size_t k = 0; k < sizes[i]; k++)
                REQUIRE(p[k] == 0, "size %zu byte %zu", sizes[i], k);
            memset(p, 0xff, dog_usable_size(p));
            dog_free(p);
        }
    }
    errno = 0;
    ck_assert_ptr_null(dog_heap_zalloc(NULL, 8));
    ck_assert_int_eq(errno, EINVAL);
    dog_heap_destroy(h);
}
END_TEST

/* --- Sizes: good_size and expand --- */

START_TEST(test_sdk_good_size)
{
    dog_heap_t *h = heap_new("good", 0);
    for (size_t n = 0; n <= 66 * KiB; n += n < 2048 ? 1 : 61) {
        size_t g = dog_good_size(n);
        REQUIRE(g >= n && g >= 1, "good_size(%zu) = %zu", n, g);
        void *p = dog_malloc(n), *q = dog_heap_malloc(h, n);
        size_t up = dog_usable_size(p), uq = dog_usable_size(q);
        if (n <= 64 * KiB)
            REQUIRE(up == g && uq == g, "n %zu: good %zu, usable %zu/%zu", n, g, up, uq);
        else
            REQUIRE(up >= g && uq >= g, "n %zu: good %zu, usable %zu/%zu", n, g, up, uq);
        REQUIRE(dog_good_size(g) == g, "good_size is not idempotent at %zu", n);
        dog_free(p);
        dog_free(q);
    }
    for (size_t n = 100 * KiB; n < 64 * MiB; n = n * 3 + 17) {
        size_t g = dog_good_size(n);
        void *p = dog_heap_malloc(h, n);
        ck_assert_uint_ge(g, n);
        ck_assert_uint_lt(g - n, 8 * KiB);                  /* whole OS pages, no more */
        ck_assert_uint_ge(dog_usable_size(p), g);
        dog_free(p);
    }
    ck_assert_uint_eq(dog_good_size(SIZE_MAX), SIZE_MAX);   /* no block that large */
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_sdk_expand_small)
{
    dog_heap_t *h = heap_new("expand", 0);
    for (size_t n = 1; n <= 64 * KiB; n = n * 2 + 3) {
        char *p = dog_heap_malloc(h, n);
        size_t usable = dog_usable_size(p);
        bytes_fill(p, usable, 7);
        ck_assert_ptr_eq(dog_expand(p, usable), p);          /* all of its class */
        ck_assert_ptr_eq(dog_expand(p, 1), p);               /* shrinks in place */
        ck_assert_ptr_eq(dog_expand(p, 0), p);
        errno = 0;
        ck_assert_ptr_null(dog_expand(p, usable + 1));       /* never moves */
        ck_assert_int_eq(errno, ENOMEM);
        ck_assert_uint_eq(dog_usable_size(p), usable);
        ck_assert_uint_eq(bytes_check(p, usable, 7), SIZE_MAX);
        dog_free(p);
    }
    errno = 0;
    ck_assert_ptr_null(dog_expand(NULL, 8));
    ck_assert_int_eq(errno, EINVAL);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_sdk_expand_huge)
{
    dog_heap_t *h = heap_new("expand-huge", 16 * MiB);
    char *p = dog_heap_malloc(h, 4 * MiB);
    bytes_fill(p, 4 * MiB, 3);
    ck_assert_ptr_eq(dog_expand(p, 1 * MiB), p);             /* shrink gives pages back */
    size_t usable = dog_usable_size(p);
    ck_assert_uint_ge(usable, 1 * MiB);
    ck_assert_uint_lt(usable, 2 * MiB);
    ck_assert_uint_eq(bytes_check(p, 1 * MiB, 3), SIZE_MAX);
    ck_assert_uint_lt(test_heap_stats(h).bytes_mapped, 2 * MiB);
    /* Growth: in place or not at all. */
    char *q = dog_expand(p, 3 * MiB);
    if (q != NULL) {
        ck_assert_ptr_eq(q, p);
        ck_assert_uint_ge(dog_usable_size(p), 3 * MiB);
    } else {
        ck_assert_int_eq(errno, ENOMEM);
        ck_assert_uint_eq(dog_usable_size(p), usable);
    }
    ck_assert_uint_eq(bytes_check(p, 1 * MiB, 3), SIZE_MAX);
    /* Past the budget: refused, the block as it was. */
    size_t before = dog_usable_size(p);
    errno = 0;
    ck_assert_ptr_null(dog_expand(p, 64 * MiB));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(dog_usable_size(p), before);
    ck_assert_uint_eq(bytes_check(p, 1 * MiB, 3), SIZE_MAX);
    ck_assert_uint_le(test_heap_stats(h).bytes_mapped, 16 * MiB);
    /* An over-aligned block keeps its alignment and may shrink in place. */
    char *a = dog_heap_aligned_alloc(h, 1 * MiB, 2 * MiB);
    ck_assert_ptr_eq(dog_expand(a, 100 * KiB), a);
    ck_assert_uint_eq((uintptr_t)a % MiB, 0);
    dog_free(a);
    dog_free(p);
    dog_heap_destroy(h);
}
END_TEST

static void do_expand(void *arg)
{
    (void)dog_expand(arg, 16);
}

START_TEST(test_sdk_expand_bad_pointer)
{
    char on_stack[32] = { 0 };
    ck_assert_dies_naming(do_expand, on_stack, on_stack, "dog_expand(stack)");
    char *p = dog_malloc(64);
    ck_assert_dies_naming(do_expand, p + 16, p + 16, "dog_expand(interior)");
    dog_free(p);
}
END_TEST

/* --- realloc_aligned --- */

START_TEST(test_sdk_realloc_aligned)
{
    dog_heap_t *h = heap_new("aligned", 0), *other = heap_new("other", 0);
    for (size_t align = 1; align <= 2 * MiB; align <<= 1) {
        size_t n = 24;
        char *p = dog_heap_realloc_aligned(h, NULL, n, align);
        ck_assert_ptr_nonnull(p);
        bytes_fill(p, n, 5);
        static const size_t sizes[] = { 100, 5000, 70000, 300000, 40, 1, 90000 };
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            char *q = dog_heap_realloc_aligned(h, p, sizes[i], align);
            ck_assert_ptr_nonnull(q);
            ck_assert_uint_eq((uintptr_t)q % align, 0);
            ck_assert_ptr_eq(dog_heap_of(q), h);
            size_t keep = n < sizes[i] ? n : sizes[i];
            REQUIRE(bytes_check(q, keep, 5) == SIZE_MAX, "align %zu size %zu", align, sizes[i]);
            bytes_fill(q, sizes[i], 5);
            p = q;
            n = sizes[i];
        }
        /* A block of another heap moves into h. */
        char *o = dog_heap_malloc(other, 50);
        bytes_fill(o, 50, 9);
        char *m = dog_heap_realloc_aligned(h, o, 60, align);
        ck_assert_ptr_eq(dog_heap_of(m), h);
        ck_assert_uint_eq((uintptr_t)m % align, 0);
        ck_assert_uint_eq(bytes_check(m, 50, 9), SIZE_MAX);
        dog_free(m);
        dog_free(p);
    }
    char *p = dog_heap_malloc(h, 10);
    errno = 0;
    ck_assert_ptr_null(dog_heap_realloc_aligned(h, p, 20, 3));       /* not a power of two */
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(dog_heap_realloc_aligned(NULL, p, 20, 16));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_eq(dog_heap_of(p), h);                             /* p intact */
    dog_free(p);
    dog_heap_destroy(other);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_sdk_realloc_aligned_budget)
{
    dog_heap_t *h = heap_new("aligned-budget", 4 * MiB);
    char *p = dog_heap_realloc_aligned(h, NULL, 1 * MiB, 64);
    bytes_fill(p, 1 * MiB, 1);
    errno = 0;
    ck_assert_ptr_null(dog_heap_realloc_aligned(h, p, 8 * MiB, 4096));   /* over budget */
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(bytes_check(p, 1 * MiB, 1), SIZE_MAX);            /* p intact */
    dog_free(p);
    dog_heap_destroy(h);
}
END_TEST

/* --- contains --- */

START_TEST(test_sdk_contains)
{
    dog_heap_t *h = heap_new("contains", 0), *other = heap_new("not-it", 0);
    static const size_t sizes[] = { 1, 16, 200, 4096, 65536, 70000, 1 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char *p = dog_heap_malloc(h, sizes[i]);
        size_t usable = dog_usable_size(p);
        ck_assert(dog_heap_contains(h, p));
        ck_assert(dog_heap_contains(h, p + usable / 2));
        ck_assert(dog_heap_contains(h, p + usable - 1));
        ck_assert(!dog_heap_contains(other, p));
        ck_assert(!dog_heap_contains(dog_default, p + usable - 1));
        if (sizes[i] > 64 * KiB)
            ck_assert(!dog_heap_contains(h, p - 1));            /* the huge header */
        dog_free(p);
        ck_assert(!dog_heap_contains(h, p));                     /* freed */
    }
    /* Over-aligned huge: its first frame is marked apart from its header's. */
    char *a = dog_heap_aligned_alloc(h, 1 * MiB, 3 * MiB);
    ck_assert(dog_heap_contains(h, a));
    ck_assert(dog_heap_contains(h, a + 2 * MiB + 12345));
    ck_assert(!dog_heap_contains(h, a - 1));
    dog_free(a);
    ck_assert(!dog_heap_contains(h, a + 2 * MiB));

    char *d = dog_malloc(40);                                    /* dog_default's blocks */
    ck_assert(dog_heap_contains(dog_default, d + 39));
    ck_assert(!dog_heap_contains(h, d));
    warm_thread_cache();
    dog_free(d);                                                 /* into the thread cache */
    ck_assert(!dog_heap_contains(dog_default, d));

    char on_stack[16] = { 0 };                                   /* memory not ours */
    void *libc = malloc(32);
    const void *foreign[] = { on_stack, static_bytes, libc, (void *)1, (void *)UINTPTR_MAX,
                              (void *)(uintptr_t)0xfffffffff000ull, NULL };
    for (size_t i = 0; i < sizeof foreign / sizeof *foreign; i++) {
        ck_assert(!dog_heap_contains(h, foreign[i]));
        ck_assert(!dog_heap_contains(dog_default, foreign[i]));
    }
    free(libc);
    ck_assert(!dog_heap_contains(NULL, on_stack));
    dog_heap_destroy(other);
    ck_assert(!dog_heap_contains(other, on_stack));              /* a dead handle: false */
    /* Handles that are no heap at all, unmapped memory among them: false, never read. */
    const dog_heap_t *junk[] = { (const dog_heap_t *)(uintptr_t)0xdead0000ull,
                                 (const dog_heap_t *)(void *)on_stack,
                                 (const dog_heap_t *)(uintptr_t)0x7ff000000000ull };
    void *mine = dog_heap_malloc(h, 64);
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++)
        ck_assert(!dog_heap_contains(junk[i], mine));
    dog_free(mine);
    dog_heap_destroy(h);
}
END_TEST

/* Threads allocate and free in one heap while asking about their own blocks and about
 * blocks that stay live throughout (small and huge, made before they start): always
 * true. */
#define STABLE 64

typedef struct contains_arg {
    dog_heap_t *heap;
    pthread_barrier_t *start;
    char **stable;
    unsigned id;
    size_t wrong;
} contains_arg_t;

static size_t stable_size(size_t i)
{
    return i % 8 == 7 ? 100 * KiB + i : 16 + i * 40;
}

static void *contains_worker(void *argp)
{
    contains_arg_t *a = argp;
    void *ring[16] = { 0 };
    pthread_barrier_wait(a->start);
    for (size_t i = 0; i < test_scaled(20000); i++) {
        size_t n = (i * 7919 + a->id * 131) % (i % 64 == 0 ? 200000 : 2000) + 1;
        char *p = dog_heap_malloc(a->heap, n);
        if (!dog_heap_contains(a->heap, p) || !dog_heap_contains(a->heap, p + n - 1))
            a->wrong++;
        dog_free(ring[i % 16]);
        ring[i % 16] = p;
        size_t k = (i + a->id) % STABLE;
        char *s = a->stable[k];
        if (!dog_heap_contains(a->heap, s + stable_size(k) - 1) ||
            dog_heap_contains(dog_default, s))
            a->wrong++;
    }
    for (size_t i = 0; i < 16; i++)
        dog_free(ring[i]);
    return NULL;
}

START_TEST(test_sdk_contains_threads)
{
    dog_heap_t *h = heap_new("contains-mt", 0);
    static char *stable[STABLE];
    for (size_t i = 0; i < STABLE; i++)
        stable[i] = dog_heap_malloc(h, stable_size(i));
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    contains_arg_t args[THREADS];
    pthread_t t[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        args[i] = (contains_arg_t){ .heap = h, .start = &start, .stable = stable, .id = i };
        ck_assert_int_eq(pthread_create(&t[i], NULL, contains_worker, &args[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_uint_eq(args[i].wrong, 0);
    }
    pthread_barrier_destroy(&start);
    for (size_t i = 0; i < STABLE; i++)
        dog_free(stable[i]);
    ck_assert_uint_eq(test_heap_stats(h).blocks_in_use, 0);
    dog_heap_destroy(h);
}
END_TEST

/* Statistics read while another thread allocates and frees through its cache of the heap:
 * the shards and the caches are read at different moments, and the figures once wrapped
 * below zero (a blocks_in_use near 2^64, frees above allocs). They must stay within what
 * the worker can hold. */
typedef struct churn_arg {
    dog_heap_t *heap;
    atomic_int stop;
} churn_arg_t;

static void *churn_worker(void *argp)
{
    churn_arg_t *a = argp;
    enum { BATCH = 1000 };
    static void *blocks[BATCH];
    while (!atomic_load(&a->stop)) {
        for (int i = 0; i < BATCH; i++)
            blocks[i] = dog_heap_malloc(a->heap, 32);
        for (int i = 0; i < BATCH; i++)
            dog_free(blocks[i]);
    }
    return NULL;
}

START_TEST(test_sdk_stats_under_churn)
{
    churn_arg_t a = { .heap = heap_new("churn", 0) };
    atomic_init(&a.stop, 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, churn_worker, &a), 0);
    size_t readings = test_scaled(100000), bad = 0, worst = 0;
    for (size_t i = 0; i < readings; i++) {
        dog_heap_stats_t st = test_heap_stats(a.heap);
        if (st.blocks_in_use > 2000 || st.bytes_in_use > 2000 * 32 || st.frees > st.allocs) {
            bad++;
            worst = st.blocks_in_use;
        }
    }
    atomic_store(&a.stop, 1);
    pthread_join(t, NULL);
    ck_assert_msg(bad == 0, "%zu of %zu readings out of range (blocks_in_use %zu)", bad,
                  readings, worst);
    dog_heap_stats_t st = test_heap_stats(a.heap);
    ck_assert_uint_eq(st.blocks_in_use, 0);     /* exact once the worker is gone */
    ck_assert_uint_eq(st.allocs, st.frees);
    dog_heap_destroy(a.heap);
}
END_TEST

/* --- Budgets: the minimum, dog_heap_set_limit --- */

START_TEST(test_sdk_limit_minimum)
{
    static const size_t small[] = { 1, 4096, DOG_HEAP_LIMIT_MIN - 1 };
    for (size_t i = 0; i < sizeof small / sizeof *small; i++) {
        errno = 0;
        ck_assert_ptr_null(dog_heap_new(&(dog_heap_options_t){ .limit = small[i] }));
        ck_assert_int_eq(errno, EINVAL);
    }
    dog_heap_t *h = heap_new("one-page", DOG_HEAP_LIMIT_MIN);
    void *p = dog_heap_malloc(h, 100);                       /* the one page it can hold */
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(dog_heap_set_limit(h, DOG_HEAP_LIMIT_MIN - 1), EINVAL);
    ck_assert_int_eq(dog_heap_set_limit(h, 1), EINVAL);
    ck_assert_uint_eq(test_heap_stats(h).limit, DOG_HEAP_LIMIT_MIN);    /* unchanged */
    ck_assert_int_eq(dog_heap_set_limit(NULL, 0), EINVAL);
    dog_free(p);
    dog_heap_destroy(h);
}
END_TEST

/* At the budget, the caller's own cache of the heap goes back to its pages first: a page
 * that only blocks in that cache kept held is then empty and given back, so a request of
 * another size class that needs a page of its own fits. */
START_TEST(test_sdk_budget_takes_back_own_cache)
{
    dog_heap_t *h = heap_new("one-page", DOG_HEAP_LIMIT_MIN);
    enum { N = 100 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = dog_heap_malloc(h, 4000);
        ck_assert_ptr_nonnull(p[i]);
    }
    for (int i = 0; i < N; i++)
        dog_free(p[i]);                     /* the last few stay in this thread's cache */
    dog_heap_stats_t st = test_heap_stats(h);
    ck_assert_uint_eq(st.blocks_in_use, 0);
    ck_assert_uint_eq(st.bytes_mapped, DOG_HEAP_LIMIT_MIN);    /* the page is still held */
    void *q = dog_heap_malloc(h, 100);      /* another class: needs the budget's one page */
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_eq(dog_heap_of(q), h);
    ck_assert_uint_eq(test_heap_stats(h).bytes_mapped, DOG_HEAP_LIMIT_MIN);
    dog_free(q);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_sdk_set_limit)
{
    dog_heap_t *h = heap_new("set-limit", 1 * MiB);
    enum { MAX = 4096 };
    static void *blocks[MAX];
    size_t n = 0;
    errno = 0;
    while (n < MAX && (blocks[n] = dog_heap_malloc(h, 4000)) != NULL)
        n++;
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_lt(n, MAX);
    size_t at_first = n;

    ck_assert_int_eq(dog_heap_set_limit(h, 3 * MiB), 0);         /* raise: room again */
    ck_assert_uint_eq(test_heap_stats(h).limit, 3 * MiB);
    while (n < MAX && (blocks[n] = dog_heap_malloc(h, 4000)) != NULL)
        n++;
    ck_assert_uint_gt(n, 2 * at_first);
    ck_assert_uint_le(test_heap_stats(h).bytes_mapped, 3 * MiB);

    /* Lower below what it holds: accepted; it keeps its blocks and refuses to grow. */
    ck_assert_int_eq(dog_heap_set_limit(h, 1 * MiB), 0);
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_uint_eq(s.limit, 1 * MiB);
    ck_assert_uint_gt(s.bytes_mapped, 1 * MiB);
    ck_assert_uint_eq(s.blocks_in_use, n);
    errno = 0;
    ck_assert_ptr_null(dog_heap_malloc(h, 200 * KiB));           /* a huge block: new memory */
    ck_assert_int_eq(errno, ENOMEM);
    for (size_t i = 0; i < n; i++)
        dog_free(blocks[i]);
    /* Under the limit again once the frees are in: it serves. */
    void *p = dog_heap_malloc(h, 200 * KiB);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_le(test_heap_stats(h).bytes_mapped, 1 * MiB);
    dog_free(p);

    ck_assert_int_eq(dog_heap_set_limit(h, 0), 0);               /* none */
    p = dog_heap_malloc(h, 8 * MiB);
    ck_assert_ptr_nonnull(p);
    dog_free(p);
    dog_heap_destroy(h);
}
END_TEST

/* --- The budget handler --- */

typedef struct victims {
    dog_heap_t *heap;
    void *blocks[4096];
    size_t count, calls, last_request;
    int mode;                   /* 0 free the oldest half, 1 raise the limit, 2 decline,
                                   3 allocate from the heap inside, then say retry */
    void *inner;
} victims_t;

static int on_limit(dog_heap_t *heap, size_t request, void *arg)
{
    victims_t *v = arg;
    ck_assert_ptr_eq(heap, v->heap);
    v->calls++;
    v->last_request = request;
    switch (v->mode) {
    case 0: {
        size_t half = (v->count + 1) / 2;
        for (size_t i = 0; i < half; i++)
            dog_free(v->blocks[i]);
        memmove(v->blocks, v->blocks + half, (v->count - half) * sizeof *v->blocks);
        v->count -= half;
        return half > 0;
    }
    case 1: {
        dog_heap_stats_t s;
        dog_heap_stats(heap, &s);
        return dog_heap_set_limit(heap, s.limit + 8 * MiB) == 0;
    }
    case 2:
        return 0;
    default:
        v->inner = dog_heap_malloc(heap, request);              /* fails: no second call */
        return 1;
    }
}

static dog_heap_t *heap_with_handler(const char *name, size_t limit, victims_t *v, int mode)
{
    memset(v, 0, sizeof *v);
    v->mode = mode;
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = name, .limit = limit,
                                                        .on_limit = on_limit,
                                                        .on_limit_arg = v });
    ck_assert_ptr_nonnull(h);
    v->heap = h;
    return h;
}

START_TEST(test_sdk_on_limit_frees)
{
    static victims_t v;
    dog_heap_t *h = heap_with_handler("evicting", 2 * MiB, &v, 0);
    for (size_t i = 0; i < 20000; i++) {
        size_t n = i % 100 == 99 ? 300 * KiB : 3000;            /* small and huge */
        void *p = dog_heap_malloc(h, n);
        REQUIRE(p != NULL, "request %zu of %zu bytes failed (handler calls %zu)", i, n, v.calls);
        if (v.count == sizeof v.blocks / sizeof *v.blocks) {
            dog_free(p);
            continue;
        }
        v.blocks[v.count++] = p;
    }
    ck_assert_uint_gt(v.calls, 0);
    ck_assert_uint_le(test_heap_stats(h).bytes_mapped, 2 * MiB);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_sdk_on_limit_raises)
{
    static victims_t v;
    dog_heap_t *h = heap_with_handler("raising", 1 * MiB, &v, 1);
    void *big = dog_heap_malloc(h, 3 * MiB);                    /* over: raised, retried */
    ck_assert_ptr_nonnull(big);
    ck_assert_uint_eq(v.calls, 1);
    ck_assert_uint_eq(v.last_request, 3 * MiB);
    ck_assert_uint_eq(test_heap_stats(h).limit, 9 * MiB);
    void *z = dog_heap_calloc(h, 1, 3 * MiB);                   /* fits: no call */
    ck_assert_ptr_nonnull(z);
    ck_assert_uint_eq(v.calls, 1);
    void *m = dog_heap_malloc(h, 4 * MiB);                      /* 10 MiB: over again */
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(v.calls, 2);
    ck_assert_uint_eq(v.last_request, 4 * MiB);
    /* calloc, realloc and aligned_alloc reach the handler too. */
    void *r = dog_heap_realloc(h, z, 10 * MiB);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(v.calls, 3);
    ck_assert_uint_eq(v.last_request, 10 * MiB);
    void *a = dog_heap_aligned_alloc(h, 1 * MiB, 9 * MiB);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(v.calls, 4);
    void *c = dog_heap_calloc(h, 2, 5 * MiB);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(v.calls, 5);
    ck_assert_uint_eq(v.last_request, 10 * MiB);
    ck_assert_uint_le(test_heap_stats(h).bytes_mapped, test_heap_stats(h).limit);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_sdk_on_limit_declines)
{
    static victims_t v;
    dog_heap_t *h = heap_with_handler("declining", 1 * MiB, &v, 2);
    errno = 0;
    ck_assert_ptr_null(dog_heap_malloc(h, 2 * MiB));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(v.calls, 1);
    ck_assert_uint_eq(v.last_request, 2 * MiB);
    errno = 0;
    ck_assert_ptr_null(dog_heap_strdup(h, NULL));               /* EINVAL: not the budget */
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(dog_heap_aligned_alloc(h, 3, 10));
    ck_assert_uint_eq(v.calls, 1);
    void *p = dog_heap_malloc(h, 100);                          /* within budget: no call */
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(v.calls, 1);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_sdk_on_limit_nested)
{
    static victims_t v;
    dog_heap_t *h = heap_with_handler("nested", 1 * MiB, &v, 3);
    errno = 0;
    ck_assert_ptr_null(dog_heap_malloc(h, 2 * MiB));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(v.calls, 1);                              /* not from inside itself */
    ck_assert_ptr_null(v.inner);
    dog_heap_destroy(h);
}
END_TEST

/* Oversubscribed threads share a budget; each frees its own blocks when the handler runs
 * in it, one thread moves the limit up and down meanwhile. A thread keeps up to 1024
 * blocks of about 10 KiB, more than the budget on its own, so the handler runs however
 * the threads are scheduled (and at any DOG_TEST_SCALE). */
#define MINE_MAX 1024
typedef struct budget_shared {
    dog_heap_t *heap;
    pthread_barrier_t start;
    _Atomic size_t calls, failures;
    _Atomic int done;
} budget_shared_t;

static _Thread_local struct {
    void *blocks[MINE_MAX];
    size_t count;
} mine;

static int on_limit_mine(dog_heap_t *heap, size_t request, void *arg)
{
    budget_shared_t *b = arg;
    (void)heap;
    (void)request;
    atomic_fetch_add(&b->calls, 1);
    for (size_t i = 0; i < mine.count; i++)
        dog_free(mine.blocks[i]);
    int again = mine.count > 0;
    mine.count = 0;
    return again;
}

static void *budget_worker(void *arg)
{
    budget_shared_t *b = arg;
    pthread_barrier_wait(&b->start);
    size_t rounds = test_scaled(6000) > 1500 ? test_scaled(6000) : 1500;
    for (size_t i = 0; i < rounds; i++) {
        size_t n = i % 50 == 0 ? 100 * KiB : 8000 + i % 4000;
        void *p = dog_heap_malloc(b->heap, n);
        if (p == NULL) {
            atomic_fetch_add(&b->failures, 1);     /* others hold the budget: allowed */
            continue;
        }
        if (mine.count == MINE_MAX) {
            dog_free(mine.blocks[0]);
            memmove(mine.blocks, mine.blocks + 1, (MINE_MAX - 1) * sizeof *mine.blocks);
            mine.count--;
        }
        mine.blocks[mine.count++] = p;
    }
    for (size_t i = 0; i < mine.count; i++)
        dog_free(mine.blocks[i]);
    mine.count = 0;
    return NULL;
}

static void *limit_mover(void *arg)
{
    budget_shared_t *b = arg;
    pthread_barrier_wait(&b->start);
    for (size_t i = 0; !atomic_load(&b->done); i++) {
        ck_assert_int_eq(dog_heap_set_limit(b->heap, i % 2 ? 4 * MiB : 6 * MiB), 0);
        sched_yield();
    }
    return NULL;
}

START_TEST(test_sdk_on_limit_threads)
{
    static budget_shared_t b;
    memset(&b, 0, sizeof b);
    b.heap = dog_heap_new(&(dog_heap_options_t){ .name = "shared", .limit = 4 * MiB,
                                                  .on_limit = on_limit_mine, .on_limit_arg = &b });
    ck_assert_ptr_nonnull(b.heap);
    pthread_barrier_init(&b.start, NULL, THREADS + 1);
    pthread_t t[THREADS], mover;
    for (unsigned i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, budget_worker, &b), 0);
    ck_assert_int_eq(pthread_create(&mover, NULL, limit_mover, &b), 0);
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&b.done, 1);
    pthread_join(mover, NULL);
    pthread_barrier_destroy(&b.start);
    dog_heap_stats_t s = test_heap_stats(b.heap);
    ck_assert_uint_gt(atomic_load(&b.calls), 0);
    ck_assert_uint_eq(s.blocks_in_use, 0);
    ck_assert_uint_le(s.bytes_mapped, 6 * MiB);
    dog_heap_destroy(b.heap);
}
END_TEST

/* --- Statistics: JSON, the table, the peak --- */

START_TEST(test_sdk_stats_json)
{
    dog_heap_t *h = heap_new("j\"s\\on\n", 2 * MiB);
    void *p = dog_heap_malloc(h, 1000), *q = dog_heap_malloc(h, 100 * KiB);
    dog_heap_stats_t s = test_heap_stats(h);
    char buf[1024], want[256];
    int n = dog_heap_stats_json(h, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq(strlen(buf), (size_t)n);
    const char *head = "{\"name\":\"j\\\"s\\\\on\\u000a\",";
    ck_assert_msg(strncmp(buf, head, strlen(head)) == 0, "%s", buf);
    snprintf(want, sizeof want, "\"bytes_in_use\":%zu,\"blocks_in_use\":%zu,", s.bytes_in_use,
             s.blocks_in_use);
    ck_assert_ptr_nonnull(strstr(buf, want));
    snprintf(want, sizeof want, "\"huge_blocks\":1,\"huge_bytes\":%zu,", s.huge_bytes);
    ck_assert_ptr_nonnull(strstr(buf, want));
    snprintf(want, sizeof want, ",\"limit\":2097152,\"tree_bytes_mapped\":%zu}",
             s.tree_bytes_mapped);
    ck_assert_msg(strstr(buf, want) != NULL, "%s", buf);
    ck_assert_int_eq(buf[n - 1], '}');

    char small[16];                                 /* snprintf's contract */
    memset(small, 'x', sizeof small);
    ck_assert_int_eq(dog_heap_stats_json(h, small, 10), n);
    ck_assert_uint_eq(strlen(small), 9);
    ck_assert_int_eq(strncmp(small, buf, 9), 0);
    ck_assert_int_eq(small[10], 'x');
    ck_assert_int_eq(dog_heap_stats_json(h, NULL, 0), n);
    ck_assert_int_eq(dog_heap_stats_json(h, buf, 1), n);
    ck_assert_str_eq(buf, "");

    errno = 0;
    ck_assert_int_eq(dog_heap_stats_json(NULL, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(dog_heap_stats_json(h, NULL, 5), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_gt(dog_heap_stats_json(dog_default, buf, sizeof buf), 0);
    ck_assert_ptr_nonnull(strstr(buf, "{\"name\":\"default\","));
    dog_free(p);
    dog_free(q);
    dog_heap_destroy(h);
}
END_TEST

/* The table printed into a temporary file, read back. */
static char *print_all_text(void)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(dog_stats_print_all(f), 0);
    long len = ftell(f);
    char *text = calloc(1, (size_t)len + 1);
    rewind(f);
    ck_assert_uint_eq(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return text;
}

START_TEST(test_sdk_print_all)
{
    dog_heap_t *a = heap_new("sdk-table-a", 0), *b = heap_new("sdk-table-b", 8 * MiB);
    void *p = dog_heap_malloc(a, 3000), *q = dog_heap_malloc(b, 200 * KiB);
    char *text = print_all_text();
    ck_assert_ptr_eq(strstr(text, "dogmalloc heaps: "), text);
    ck_assert_ptr_nonnull(strstr(text, "\n  default "));
    char want[200];
    dog_heap_stats_t s = test_heap_stats(a);
    snprintf(want, sizeof want, "  %-20s %10zu %14zu %14zu %14zu %14s\n", "sdk-table-a",
             s.blocks_in_use, s.bytes_in_use, s.peak_bytes_in_use, s.bytes_mapped, "none");
    ck_assert_ptr_nonnull(strstr(text, want));
    ck_assert_ptr_nonnull(strstr(text, "  sdk-table-b "));
    ck_assert_ptr_nonnull(strstr(text, " 8388608\n"));
    ck_assert(strstr(text, "\n  default ") < strstr(text, "  sdk-table-a"));   /* first */
    free(text);
    dog_heap_destroy(a);
    text = print_all_text();
    ck_assert_ptr_null(strstr(text, "sdk-table-a"));
    ck_assert_ptr_nonnull(strstr(text, "sdk-table-b"));
    free(text);
    errno = 0;
    ck_assert_int_eq(dog_stats_print_all(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    (void)p;
    dog_free(q);
    dog_heap_destroy(b);
}
END_TEST

/* Heaps come and go on some threads while others print the table. */
typedef struct churn {
    pthread_barrier_t start;
    _Atomic int done;
} churn_t;

static void *churn_heaps(void *arg)
{
    churn_t *c = arg;
    pthread_barrier_wait(&c->start);
    for (size_t i = 0; i < test_scaled(400); i++) {
        dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "churn" });
        REQUIRE(h != NULL, "dog_heap_new");
        dog_free(dog_heap_malloc(h, i % 2 ? 100 : 100 * KiB));
        void *left = dog_heap_malloc(h, 64);       /* goes with the heap */
        (void)left;
        dog_heap_destroy(h);
    }
    return NULL;
}

static void *print_tables(void *arg)
{
    churn_t *c = arg;
    FILE *null = fopen("/dev/null", "w");
    pthread_barrier_wait(&c->start);
    char buf[512];
    while (!atomic_load(&c->done)) {
        REQUIRE(dog_stats_print_all(null) == 0, "print_all");
        REQUIRE(dog_heap_stats_json(dog_default, buf, sizeof buf) > 0, "json");
    }
    fclose(null);
    return NULL;
}

START_TEST(test_sdk_print_all_threads)
{
    churn_t c;
    memset(&c, 0, sizeof c);
    pthread_barrier_init(&c.start, NULL, THREADS);
    pthread_t t[THREADS];
    for (unsigned i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, i < 2 ? print_tables : churn_heaps, &c), 0);
    for (unsigned i = 2; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&c.done, 1);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    pthread_barrier_destroy(&c.start);
}
END_TEST

START_TEST(test_sdk_peak)
{
    /* An explicit heap used by one thread: exact. */
    dog_heap_t *h = heap_new("peak", 0);
    void *blocks[100];
    for (int i = 0; i < 100; i++)
        blocks[i] = dog_heap_malloc(h, 10);
    for (int i = 0; i < 100; i++)
        dog_free(blocks[i]);
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_uint_eq(s.bytes_in_use, 0);
    ck_assert_uint_eq(s.peak_bytes_in_use, 100 * dog_good_size(10));
    dog_heap_destroy(h);
    /* dog_default: never below what is in use, at most the thread caches' share above
     * (the blocks one refill took: documented in dog_heap_stats_t). */
    warm_thread_cache();
    void *p = dog_malloc(10);
    s = test_heap_stats(dog_default);
    ck_assert_uint_ge(s.peak_bytes_in_use, s.bytes_in_use);
    ck_assert_uint_ge(s.bytes_in_use, dog_good_size(10));
    dog_free(p);
}
END_TEST

/* --- Growable structs: the sizes that callers pass --- */

#define OPTIONS_0_1 (sizeof(const char *) + sizeof(size_t))     /* name, limit */
#define HEAP_STATS_0_1 (10 * sizeof(size_t))
#define STATS_0_1 (4 * sizeof(size_t))

static int never_called(dog_heap_t *heap, size_t request, void *arg)
{
    (void)heap, (void)request, (void)arg;
    ck_abort_msg("a handler past the caller's struct was read");
    return 0;
}

START_TEST(test_sdk_abi_options)
{
    /* A 0.1 caller's struct is two fields; what lies after it is not the library's. */
    dog_heap_options_t o = { .name = "old-caller", .limit = 1 * MiB, .on_limit = never_called };
    dog_heap_t *h = dog_heap_new_sized(&o, OPTIONS_0_1);
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(dog_heap_name(h), "old-caller");
    errno = 0;
    ck_assert_ptr_null(dog_heap_malloc(h, 2 * MiB));                /* no handler */
    ck_assert_int_eq(errno, ENOMEM);
    dog_heap_destroy(h);
    h = (dog_heap_new)(&o);                                         /* the 0.1 symbol */
    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_null(dog_heap_malloc(h, 2 * MiB));
    dog_heap_destroy(h);
    ck_assert_ptr_nonnull(h = (dog_heap_new)(NULL));
    dog_heap_destroy(h);

    /* A newer caller's larger struct: zeros past ours are defaults, anything else is an
     * option this library cannot honour. */
    struct { dog_heap_options_t o; uint64_t newer[3]; } big;
    memset(&big, 0, sizeof big);
    big.o.name = "newer-caller";
    h = dog_heap_new_sized(&big.o, sizeof big);
    ck_assert_ptr_nonnull(h);
    dog_heap_destroy(h);
    big.newer[2] = 1;
    errno = 0;
    ck_assert_ptr_null(dog_heap_new_sized(&big.o, sizeof big));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(dog_heap_new_sized(&o, OPTIONS_0_1 - 1));     /* smaller than any */
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_nonnull(h = dog_heap_new_sized(NULL, 0));          /* NULL: defaults */
    dog_heap_destroy(h);
    dog_heap_options_t zero;                                         /* zero: defaults */
    memset(&zero, 0, sizeof zero);
    ck_assert_ptr_nonnull(h = dog_heap_new(&zero));
    ck_assert_uint_eq(test_heap_stats(h).limit, 0);
    ck_assert_str_eq(dog_heap_name(h), "heap");
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_sdk_abi_stats)
{
    dog_heap_t *h = heap_new("abi-stats", 4 * MiB);
    void *p = dog_heap_malloc(h, 100);
    unsigned char buf[sizeof(dog_heap_stats_t) + 64];
    /* An older caller's struct: exactly its bytes written, the next ones untouched. */
    memset(buf, 0xee, sizeof buf);
    ck_assert_int_eq(dog_heap_stats_sized(h, (dog_heap_stats_t *)buf, HEAP_STATS_0_1), 0);
    for (size_t i = HEAP_STATS_0_1; i < sizeof buf; i++)
        REQUIRE(buf[i] == 0xee, "byte %zu written", i);
    dog_heap_stats_t s;
    memcpy(&s, buf, HEAP_STATS_0_1);
    ck_assert_uint_eq(s.blocks_in_use, 1);
    ck_assert_uint_eq(s.limit, 4 * MiB);
    /* A smaller one still: refused, nothing written. */
    memset(buf, 0xee, sizeof buf);
    errno = 0;
    ck_assert_int_eq(dog_heap_stats_sized(h, (dog_heap_stats_t *)buf, HEAP_STATS_0_1 - 8), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(buf[0], 0xee);
    /* A newer caller's: its fields past ours read zero. */
    memset(buf, 0xee, sizeof buf);
    ck_assert_int_eq(dog_heap_stats_sized(h, (dog_heap_stats_t *)buf, sizeof buf), 0);
    for (size_t i = sizeof(dog_heap_stats_t); i < sizeof buf; i++)
        REQUIRE(buf[i] == 0, "byte %zu not zeroed", i);
    memset(&s, 0, sizeof s);
    ck_assert_int_eq((dog_heap_stats)(h, &s), 0);                   /* the 0.1 symbol */
    ck_assert_uint_eq(s.blocks_in_use, 1);

    unsigned char pbuf[sizeof(dog_stats_t) + 32];
    memset(pbuf, 0xee, sizeof pbuf);
    ck_assert_int_eq(dog_stats_sized((dog_stats_t *)pbuf, STATS_0_1), 0);
    for (size_t i = STATS_0_1; i < sizeof pbuf; i++)
        REQUIRE(pbuf[i] == 0xee, "byte %zu written", i);
    dog_stats_t ps;
    memcpy(&ps, pbuf, STATS_0_1);
    ck_assert_uint_ge(ps.heaps, 2);
    ck_assert_int_eq(dog_stats_sized((dog_stats_t *)pbuf, STATS_0_1 - 1), -1);
    ck_assert_int_eq((dog_stats)(&ps), 0);
    ck_assert_int_eq(dog_stats(&ps), 0);                            /* the macro */
    dog_free(p);
    dog_heap_destroy(h);
}
END_TEST

/* --- Statistics by size class --- */

/* The rows of h, checked against dog_heap_stats: ascending, and summing to its small
 * blocks, bytes and pages. */
static int class_rows(dog_heap_t *h, dog_class_stats_t *rows, size_t cap)
{
    int n = dog_heap_class_stats(h, rows, cap);
    ck_assert_int_ge(n, 0);
    ck_assert_uint_le((size_t)n, cap);
    dog_heap_stats_t st = test_heap_stats(h);
    size_t blocks = 0, bytes = 0, pages = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0)
            ck_assert_uint_lt(rows[i - 1].block_size, rows[i].block_size);
        ck_assert_uint_eq(rows[i].bytes_in_use, rows[i].blocks_in_use * rows[i].block_size);
        blocks += rows[i].blocks_in_use;
        bytes += rows[i].bytes_in_use;
        pages += rows[i].pages;
    }
    ck_assert_uint_eq(blocks + st.huge_blocks, st.blocks_in_use);
    ck_assert_uint_eq(bytes + st.huge_bytes, st.bytes_in_use);
    ck_assert_uint_eq(pages, st.pages);
    return n;
}

static const dog_class_stats_t *class_of(const dog_class_stats_t *rows, int n, size_t size)
{
    for (int i = 0; i < n; i++)
        if (rows[i].block_size == dog_good_size(size))
            return &rows[i];
    return NULL;
}

static void *free_all(void *arg)
{
    void **p = arg;
    for (int i = 0; p[i] != NULL; i++)
        dog_free(p[i]);
    return NULL;
}

START_TEST(test_sdk_class_stats)
{
    dog_heap_t *h = heap_new("classes", 0);
    dog_class_stats_t rows[64];
    ck_assert_int_eq(class_rows(h, rows, 64), 0);
    void *small[101] = { 0 }, *mid[10], *big[3];
    for (int i = 0; i < 100; i++)
        small[i] = dog_heap_malloc(h, 24);
    for (int i = 0; i < 10; i++)
        mid[i] = dog_heap_malloc(h, 1000);
    for (int i = 0; i < 3; i++)
        big[i] = dog_heap_malloc(h, 20000);
    void *huge = dog_heap_malloc(h, 300000);
    int n = class_rows(h, rows, 64);
    ck_assert_int_eq(n, 3);
    ck_assert_uint_eq(class_of(rows, n, 24)->blocks_in_use, 100);
    ck_assert_uint_eq(class_of(rows, n, 1000)->blocks_in_use, 10);
    ck_assert_uint_eq(class_of(rows, n, 20000)->blocks_in_use, 3);
    /* Freed blocks in this thread's cache are not in use. */
    for (int i = 0; i < 5; i++)
        dog_free(mid[i]);
    n = class_rows(h, rows, 64);
    ck_assert_uint_eq(class_of(rows, n, 1000)->blocks_in_use, 5);
    /* Nor those freed by another thread. */
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, free_all, small + 50), 0);
    pthread_join(t, NULL);
    n = class_rows(h, rows, 64);
    ck_assert_uint_eq(class_of(rows, n, 24)->blocks_in_use, 50);
    /* n 0 counts; a short array gets the first rows; a larger row gets zeros past ours. */
    ck_assert_int_eq(dog_heap_class_stats(h, NULL, 0), 3);
    dog_class_stats_t one[2];
    memset(one, 0x55, sizeof one);
    ck_assert_int_eq(dog_heap_class_stats(h, one, 1), 3);
    ck_assert_uint_eq(one[0].block_size, rows[0].block_size);
    ck_assert_uint_eq(one[1].block_size, 0x5555555555555555ull);
    struct { dog_class_stats_t row; size_t later; } wide[3];
    memset(wide, 0x55, sizeof wide);
    ck_assert_int_eq(dog_heap_class_stats_sized(h, &wide[0].row, 3, sizeof wide[0]), 3);
    ck_assert_uint_eq(wide[2].row.blocks_in_use, rows[2].blocks_in_use);
    ck_assert_uint_eq(wide[1].later, 0);
    errno = 0;
    ck_assert_int_eq(dog_heap_class_stats_sized(h, one, 1, 8), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(dog_heap_class_stats(NULL, one, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    for (int i = 0; i < 50; i++)
        dog_free(small[i]);
    for (int i = 5; i < 10; i++)
        dog_free(mid[i]);
    for (int i = 0; i < 3; i++)
        dog_free(big[i]);
    dog_free(huge);
    n = class_rows(h, rows, 64);
    for (int i = 0; i < n; i++)
        ck_assert_uint_eq(rows[i].blocks_in_use, 0);
    dog_heap_destroy(h);
}
END_TEST

Suite *heap_sdk_suite(void)
{
    Suite *s = suite_create("heap_sdk");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_sdk_strdup);
    tcase_add_test(tc, test_sdk_zalloc);
    tcase_add_test(tc, test_sdk_good_size);
    tcase_add_test(tc, test_sdk_expand_small);
    tcase_add_test(tc, test_sdk_expand_huge);
    tcase_add_test(tc, test_sdk_expand_bad_pointer);
    tcase_add_test(tc, test_sdk_realloc_aligned);
    tcase_add_test(tc, test_sdk_contains);
    tcase_add_test(tc, test_sdk_stats_json);
    tcase_add_test(tc, test_sdk_class_stats);
    tcase_add_test(tc, test_sdk_print_all);
    tcase_add_test(tc, test_sdk_peak);
    tcase_add_test(tc, test_sdk_abi_options);
    tcase_add_test(tc, test_sdk_abi_stats);
    suite_add_tcase(s, tc);

    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, test_sdk_realloc_aligned_budget);
    tcase_add_test(limits, test_sdk_limit_minimum);
    tcase_add_test(limits, test_sdk_budget_takes_back_own_cache);
    tcase_add_test(limits, test_sdk_set_limit);
    tcase_add_test(limits, test_sdk_on_limit_frees);
    tcase_add_test(limits, test_sdk_on_limit_raises);
    tcase_add_test(limits, test_sdk_on_limit_declines);
    tcase_add_test(limits, test_sdk_on_limit_nested);
    suite_add_tcase(s, limits);

    TCase *threads = tcase_create("threads");
    tcase_set_timeout(threads, 120);
    tcase_add_test(threads, test_sdk_contains_threads);
    tcase_add_test(threads, test_sdk_on_limit_threads);
    tcase_add_test(threads, test_sdk_print_all_threads);
    tcase_add_test(threads, test_sdk_stats_under_churn);
    suite_add_tcase(s, threads);
    return s;
}
