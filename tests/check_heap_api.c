/* SPDX-License-Identifier: MIT */
/* check_heap_api.c: first-class heaps, dog_heap_of, statistics and trim.
 *
 * Public header only. The default heap is shared with the other tests (CK_FORK=no),
 * so its figures are compared as deltas; explicit heaps start empty and are exact. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <dogmalloc.h>

#include "suites.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define PAGE_SIZE_DOG (512 * KiB)

static char static_array[256];
int global_int;

static dog_heap_t *heap_named(const char *name, size_t limit)
{
    dog_heap_options_t opts = { .name = name, .limit = limit };
    dog_heap_t *h = dog_heap_new(&opts);
    ck_assert_ptr_nonnull(h);
    return h;
}

static size_t mapped_now(void)
{
    dog_stats_t s;
    ck_assert_int_eq(dog_stats(&s), 0);
    return s.bytes_mapped;
}

static size_t heaps_now(void)
{
    dog_stats_t s;
    ck_assert_int_eq(dog_stats(&s), 0);
    return s.heaps;
}

/* --- dog_heap_new / dog_heap_name --- */

START_TEST(test_heap_new_defaults)
{
    dog_heap_t *a = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(a);
    dog_heap_options_t zero;
    memset(&zero, 0, sizeof zero);
    dog_heap_t *b = dog_heap_new(&zero);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    ck_assert_ptr_ne(a, dog_default);
    ck_assert_str_eq(dog_heap_name(a), "heap");
    ck_assert_str_eq(dog_heap_name(b), "heap");

    dog_heap_stats_t s = test_heap_stats(a);              /* a new heap is empty */
    ck_assert_uint_eq(s.bytes_in_use, 0);
    ck_assert_uint_eq(s.blocks_in_use, 0);
    ck_assert_uint_eq(s.peak_bytes_in_use, 0);
    ck_assert_uint_eq(s.pages, 0);
    ck_assert_uint_eq(s.huge_blocks, 0);
    ck_assert_uint_eq(s.huge_bytes, 0);
    ck_assert_uint_eq(s.allocs, 0);
    ck_assert_uint_eq(s.frees, 0);
    ck_assert_uint_eq(s.limit, 0);
    ck_assert_uint_eq(s.bytes_mapped, 0);            /* takes memory only when used */

    void *p = dog_heap_malloc(a, 10), *q = dog_heap_malloc(b, 10);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_eq(dog_heap_of(p), a);
    ck_assert_ptr_eq(dog_heap_of(q), b);
    dog_free(p);
    dog_free(q);
    dog_heap_destroy(a);
    dog_heap_destroy(b);
}
END_TEST

START_TEST(test_heap_new_name_copied)
{
    char name[32];
    strcpy(name, "parser");
    dog_heap_t *h = heap_named(name, 0);
    strcpy(name, "XXXXXX");                            /* the heap keeps its own copy */
    ck_assert_str_eq(dog_heap_name(h), "parser");
    ck_assert_str_eq(dog_heap_name(dog_default), "default");

    /* up to 31 bytes are kept */
    const char *longname = "a-very-long-heap-name-that-exceeds-31-bytes-by-far";
    dog_heap_t *l = heap_named(longname, 0);
    const char *got = dog_heap_name(l);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_le(strlen(got), 31);
    ck_assert_uint_ge(strlen(got), 1);
    ck_assert_int_eq(strncmp(got, longname, strlen(got)), 0);
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_uint_eq(s.limit, 0);
    dog_heap_destroy(h);
    dog_heap_destroy(l);
}
END_TEST

START_TEST(test_heap_new_counts_heaps)
{
    size_t before = heaps_now();
    ck_assert_uint_ge(before, 1);                      /* dog_default */
    dog_heap_t *h[5];
    for (int i = 0; i < 5; i++) {
        h[i] = dog_heap_new(NULL);
        ck_assert_ptr_nonnull(h[i]);
    }
    ck_assert_uint_eq(heaps_now(), before + 5);
    for (int i = 0; i < 5; i++)
        dog_heap_destroy(h[i]);
    ck_assert_uint_eq(heaps_now(), before);
    dog_heap_destroy(NULL);                            /* no-op */
    ck_assert_uint_eq(heaps_now(), before);
}
END_TEST

/* --- Allocation from a heap --- */

START_TEST(test_heap_alloc_functions)
{
    dog_heap_t *h = heap_named("alloc", 0);
    static const size_t sizes[] = { 0, 1, 8, 24, 100, 1024, 65536, 65537, 300000, 3 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        unsigned char *p = dog_heap_malloc(h, n);
        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_eq(dog_heap_of(p), h);
        ck_assert_uint_ge(dog_usable_size(p), n);
        ck_assert_uint_eq((uintptr_t)p % (n >= 16 ? 16 : 8), 0);
        pattern_fill(p, n);
        const uint64_t seed = pattern_seed(p, n);

        unsigned char *c = dog_heap_calloc(h, n, 1);
        ck_assert_ptr_nonnull(c);
        ck_assert_ptr_eq(dog_heap_of(c), h);
        for (size_t k = 0; k < n; k++)
            REQUIRE(c[k] == 0, "dog_heap_calloc(%zu): byte %zu", n, k);

        unsigned char *a = dog_heap_aligned_alloc(h, 4096, n);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_eq(dog_heap_of(a), h);
        ck_assert_uint_eq((uintptr_t)a % 4096, 0);
        ck_assert_uint_ge(dog_usable_size(a), n);
        memset(a, 0x77, n);

        unsigned char *r = dog_heap_realloc(h, p, n * 2 + 1);   /* same heap: stays in h */
        ck_assert_ptr_nonnull(r);
        ck_assert_ptr_eq(dog_heap_of(r), h);
        ck_assert(pattern_check_seed(r, n, seed) == SIZE_MAX);

        unsigned char *g = dog_realloc(r, n + 100000);        /* dog_realloc keeps the heap */
        ck_assert_ptr_nonnull(g);
        ck_assert_ptr_eq(dog_heap_of(g), h);
        ck_assert(pattern_check_seed(g, n, seed) == SIZE_MAX);

        dog_free(g);
        dog_free(c);
        dog_free(a);
    }
    void *r = dog_heap_realloc(h, NULL, 100);                   /* NULL: heap malloc */
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_eq(dog_heap_of(r), h);
    dog_free(r);
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, 0);
    ck_assert_uint_eq(s.bytes_in_use, 0);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_aligned_alloc_powers_of_two)
{
    dog_heap_t *h = heap_named("aligned", 0);
    static const size_t sizes[] = { 1, 7, 8, 100, 4095, 65536, 70000, MiB + 1 };
    for (size_t align = 1; align <= MiB; align *= 2) {
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            void *p = dog_heap_aligned_alloc(h, align, sizes[k]);
            REQUIRE(p != NULL, "align %zu size %zu", align, sizes[k]);
            REQUIRE((uintptr_t)p % align == 0, "align %zu size %zu: %p", align, sizes[k], p);
            REQUIRE(dog_heap_of(p) == h, "align %zu size %zu", align, sizes[k]);
            REQUIRE(dog_usable_size(p) >= sizes[k], "align %zu size %zu", align, sizes[k]);
            pattern_fill(p, sizes[k]);
            REQUIRE(pattern_check(p, sizes[k]) == SIZE_MAX, "align %zu", align);
            dog_free(p);
        }
    }
    void *big = dog_heap_aligned_alloc(h, 64 * MiB, 100);
    ck_assert_ptr_nonnull(big);
    ck_assert_uint_eq((uintptr_t)big % (64 * MiB), 0);
    ck_assert_ptr_eq(dog_heap_of(big), h);
    memset(big, 1, 100);
    dog_free(big);
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, 0);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_null_heap_einval)
{
    errno = 0;
    ck_assert_ptr_null(dog_heap_malloc(NULL, 10));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(dog_heap_calloc(NULL, 1, 10));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(dog_heap_aligned_alloc(NULL, 16, 10));
    ck_assert_int_eq(errno, EINVAL);
    unsigned char *p = dog_malloc(32);
    ck_assert_ptr_nonnull(p);
    memset(p, 0x3c, 32);
    errno = 0;
    ck_assert_ptr_null(dog_heap_realloc(NULL, p, 64));
    ck_assert_int_eq(errno, EINVAL);
    for (int i = 0; i < 32; i++)
        ck_assert_uint_eq(p[i], 0x3c);                  /* p untouched and still live */
    ck_assert_ptr_eq(dog_heap_of(p), dog_default);
    dog_free(p);

    dog_heap_stats_t s;
    errno = 0;
    ck_assert_int_eq(dog_heap_stats(NULL, &s), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(dog_heap_stats(dog_default, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(dog_heap_stats_print(NULL, stderr), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(dog_heap_stats_print(dog_default, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* --- dog_heap_of --- */

START_TEST(test_heap_of_default_and_explicit)
{
    dog_heap_t *h = heap_named("of", 0);
    void *d = dog_malloc(40), *e = dog_heap_malloc(h, 40);
    void *dh = dog_malloc(2 * MiB), *eh = dog_heap_malloc(h, 2 * MiB);
    void *dd = dog_heap_malloc(dog_default, 40);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_nonnull(dh);
    ck_assert_ptr_nonnull(eh);
    ck_assert_ptr_nonnull(dd);
    ck_assert_ptr_eq(dog_heap_of(d), dog_default);
    ck_assert_ptr_eq(dog_heap_of(dd), dog_default);
    ck_assert_ptr_eq(dog_heap_of(dh), dog_default);
    ck_assert_ptr_eq(dog_heap_of(e), h);
    ck_assert_ptr_eq(dog_heap_of(eh), h);
    dog_free(d);
    dog_free(dd);
    dog_free(dh);
    dog_free(e);
    dog_free(eh);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_of_foreign_pointers)
{
    int on_stack = 0;
    void *glibc = malloc(64);
    ck_assert_ptr_nonnull(glibc);
    void *glibc_big = malloc(4 * MiB);                  /* mmap'd by the C library */
    ck_assert_ptr_nonnull(glibc_big);
    ck_assert_ptr_null(dog_heap_of(NULL));
    ck_assert_ptr_null(dog_heap_of(&on_stack));
    ck_assert_ptr_null(dog_heap_of(static_array));
    ck_assert_ptr_null(dog_heap_of(&global_int));
    ck_assert_ptr_null(dog_heap_of(glibc));
    ck_assert_ptr_null(dog_heap_of(glibc_big));
    ck_assert_ptr_null(dog_heap_of((void *)(uintptr_t)&heap_named));   /* code */
    ck_assert_ptr_null(dog_heap_of("a string literal"));
    free(glibc);
    free(glibc_big);
}
END_TEST

START_TEST(test_heap_of_default_stats_delta)
{
    /* the default heap counts global blocks: deltas, since other tests share it */
    dog_heap_stats_t a = test_heap_stats(dog_default);
    void *p = dog_malloc(100), *q = dog_malloc(3 * MiB);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(q);
    dog_heap_stats_t b = test_heap_stats(dog_default);
    ck_assert_uint_eq(b.blocks_in_use, a.blocks_in_use + 2);
    ck_assert_uint_eq(b.bytes_in_use, a.bytes_in_use + dog_usable_size(p) + dog_usable_size(q));
    ck_assert_uint_eq(b.huge_blocks, a.huge_blocks + 1);
    ck_assert_uint_eq(b.huge_bytes, a.huge_bytes + dog_usable_size(q));
    ck_assert_uint_eq(b.allocs, a.allocs + 2);
    ck_assert_uint_ge(b.peak_bytes_in_use, b.bytes_in_use);
    dog_free(p);
    dog_free(q);
    dog_heap_stats_t c = test_heap_stats(dog_default);
    ck_assert_uint_eq(c.blocks_in_use, a.blocks_in_use);
    ck_assert_uint_eq(c.bytes_in_use, a.bytes_in_use);
    ck_assert_uint_eq(c.huge_blocks, a.huge_blocks);
    ck_assert_uint_eq(c.frees, a.frees + 2);
    ck_assert_uint_eq(c.limit, 0);
}
END_TEST

/* --- Statistics --- */

enum { STATS_N = 3000, STATS_HUGE = 5 };

START_TEST(test_heap_stats_exact)
{
    dog_heap_t *h = heap_named("stats", 0);
    static void *ptrs[STATS_N + STATS_HUGE];
    size_t sum = 0, huge_sum = 0;
    for (size_t i = 0; i < STATS_N; i++) {
        size_t size = (i * 7919) % (i % 50 == 0 ? 65536 : 2000);
        ptrs[i] = i % 3 == 0 ? dog_heap_calloc(h, 1, size) : dog_heap_malloc(h, size);
        REQUIRE(ptrs[i] != NULL, "block %zu", i);
        sum += dog_usable_size(ptrs[i]);
    }
    for (size_t i = 0; i < STATS_HUGE; i++) {
        void *p = dog_heap_malloc(h, MiB + i * 300000);
        ck_assert_ptr_nonnull(p);
        ptrs[STATS_N + i] = p;
        sum += dog_usable_size(p);
        huge_sum += dog_usable_size(p);
    }
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, STATS_N + STATS_HUGE);
    ck_assert_uint_eq(s.bytes_in_use, sum);
    ck_assert_uint_eq(s.allocs, STATS_N + STATS_HUGE);
    ck_assert_uint_eq(s.frees, 0);
    /* One thread at a time: exact but for the blocks that the thread cache held at the
     * peak (include/dogmalloc.h): at most 16 KiB of each of its 37 classes, or two
     * blocks of the largest ones. */
    ck_assert_uint_ge(s.peak_bytes_in_use, sum);
    ck_assert_uint_le(s.peak_bytes_in_use, sum + 37 * 32 * KiB);
    ck_assert_uint_eq(s.huge_blocks, STATS_HUGE);
    ck_assert_uint_eq(s.huge_bytes, huge_sum);
    ck_assert_uint_gt(s.pages, 0);
    ck_assert_uint_ge(s.bytes_mapped, s.pages * PAGE_SIZE_DOG + huge_sum);
    ck_assert_uint_eq(s.limit, 0);

    /* free the odd blocks: figures follow exactly */
    size_t freed = 0, freed_bytes = 0;
    for (size_t i = 1; i < STATS_N; i += 2) {
        freed_bytes += dog_usable_size(ptrs[i]);
        dog_free(ptrs[i]);
        ptrs[i] = NULL;
        freed++;
    }
    s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, STATS_N + STATS_HUGE - freed);
    ck_assert_uint_eq(s.bytes_in_use, sum - freed_bytes);
    ck_assert_uint_eq(s.frees, freed);
    ck_assert_uint_ge(s.peak_bytes_in_use, sum);        /* unchanged by the frees */
    ck_assert_uint_le(s.peak_bytes_in_use, sum + 37 * 32 * KiB);

    /* realloc within the heap: block count unchanged, bytes follow the new usable size */
    size_t before = s.bytes_in_use, old_usable = dog_usable_size(ptrs[0]);
    ptrs[0] = dog_heap_realloc(h, ptrs[0], 5000);
    ck_assert_ptr_nonnull(ptrs[0]);
    s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, STATS_N + STATS_HUGE - freed);
    ck_assert_uint_eq(s.bytes_in_use, before - old_usable + dog_usable_size(ptrs[0]));

    for (size_t i = 0; i < STATS_N + STATS_HUGE; i++)
        dog_free(ptrs[i]);
    s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, 0);
    ck_assert_uint_eq(s.bytes_in_use, 0);
    ck_assert_uint_eq(s.huge_blocks, 0);
    ck_assert_uint_eq(s.huge_bytes, 0);
    ck_assert_uint_eq(s.allocs - s.frees, 0);
    ck_assert_uint_ge(s.peak_bytes_in_use, sum);
    dog_heap_destroy(h);
}
END_TEST

struct free_slice {
    void **ptrs;
    size_t from, to;
};

static void *free_slice_thread(void *arg)
{
    struct free_slice *fs = arg;
    for (size_t i = fs->from; i < fs->to; i++) {
        if (pattern_check(fs->ptrs[i], 1 + i % 700) != SIZE_MAX)
            return (void *)1;
        dog_free(fs->ptrs[i]);
    }
    return NULL;
}

START_TEST(test_heap_stats_cross_thread_frees)
{
    enum { N = 8000, T = 4 };
    dog_heap_t *h = heap_named("remote", 0);
    void **ptrs = malloc(N * sizeof *ptrs);
    ck_assert_ptr_nonnull(ptrs);
    for (size_t i = 0; i < N; i++) {
        ptrs[i] = dog_heap_malloc(h, 1 + i % 700);
        REQUIRE(ptrs[i] != NULL, "block %zu", i);
        pattern_fill(ptrs[i], 1 + i % 700);
    }
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, N);
    /* other threads free all the blocks (interleaved slices, so pages are shared) */
    pthread_t th[T];
    struct free_slice fs[T];
    for (size_t t = 0; t < T; t++) {
        fs[t] = (struct free_slice){ ptrs, t * N / T, (t + 1) * N / T };
        ck_assert_int_eq(pthread_create(&th[t], NULL, free_slice_thread, &fs[t]), 0);
    }
    for (size_t t = 0; t < T; t++) {
        void *ret;
        ck_assert_int_eq(pthread_join(th[t], &ret), 0);
        ck_assert_msg(ret == NULL, "thread %zu found a corrupted block", t);
    }
    s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, 0);
    ck_assert_uint_eq(s.bytes_in_use, 0);
    ck_assert_uint_eq(s.allocs, N);
    ck_assert_uint_eq(s.frees, N);

    /* the freed blocks are reusable by the owner again */
    for (size_t i = 0; i < N; i++) {
        ptrs[i] = dog_heap_malloc(h, 1 + i % 700);
        REQUIRE(ptrs[i] != NULL, "block %zu", i);
    }
    s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, N);
    for (size_t i = 0; i < N; i++)
        dog_free(ptrs[i]);
    s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, 0);
    free(ptrs);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_stats_print)
{
    dog_heap_t *h = heap_named("printme", 0);
    enum { N = 1237 };
    static void *ptrs[N];
    for (size_t i = 0; i < N; i++) {
        ptrs[i] = dog_heap_malloc(h, 48);
        REQUIRE(ptrs[i] != NULL, "block %zu", i);
    }
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, N);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(dog_heap_stats_print(h, f), 0);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_ptr_nonnull(buf);
    ck_assert_msg(strstr(buf, "printme") != NULL, "report lacks the heap name:\n%s", buf);
    char num[32];
    snprintf(num, sizeof num, "%zu", s.blocks_in_use);
    ck_assert_msg(strstr(buf, num) != NULL, "report lacks blocks in use (%s):\n%s", num, buf);
    free(buf);

    /* to a real file as well; the default heap reports its name */
    FILE *t = tmpfile();
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(dog_heap_stats_print(dog_default, t), 0);
    long size = ftell(t);
    ck_assert_int_gt(size, 0);
    rewind(t);
    char *text = calloc(1, (size_t)size + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(fread(text, 1, (size_t)size, t), (size_t)size);
    ck_assert_msg(strstr(text, "default") != NULL, "report lacks the name:\n%s", text);
    free(text);
    fclose(t);

    for (size_t i = 0; i < N; i++)
        dog_free(ptrs[i]);
    dog_heap_destroy(h);
}
END_TEST

/* --- Destroy --- */

static void heap_fill(dog_heap_t *h, size_t nsmall, size_t nhuge)
{
    for (size_t i = 0; i < nsmall; i++) {
        size_t size = (i * 7919) % (i % 64 == 0 ? 65536 : 3000);
        void *p = dog_heap_malloc(h, size);
        REQUIRE(p != NULL, "block %zu", i);
        memset(p, 0x5e, size);
    }
    for (size_t i = 0; i < nhuge; i++) {
        void *p = dog_heap_malloc(h, MiB + i * 500000);
        ck_assert_ptr_nonnull(p);
        memset(p, 0x5f, MiB);
    }
}

static void warm_up_heaps(void)
{
    /* a first heap may map lasting metadata; measure after one round trip */
    dog_heap_t *w = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(w);
    heap_fill(w, 100, 1);
    dog_heap_destroy(w);
}

START_TEST(test_heap_destroy_releases_memory)
{
    warm_up_heaps();
    unsigned char *keep = dog_malloc(1000);            /* a default block lives on */
    ck_assert_ptr_nonnull(keep);
    bytes_fill(keep, 1000, 3);
    dog_trim();
    size_t before = mapped_now(), heaps = heaps_now();

    dog_heap_t *h = heap_named("doomed", 0);
    heap_fill(h, 20000, 6);
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, 20006);
    ck_assert_uint_eq(s.huge_blocks, 6);
    ck_assert_uint_gt(s.pages, 1);
    ck_assert_uint_ge(mapped_now(), before + s.bytes_mapped);
    ck_assert_uint_eq(heaps_now(), heaps + 1);

    dog_heap_destroy(h);                               /* no per-block frees */
    ck_assert_uint_eq(heaps_now(), heaps);
    dog_trim();
    size_t after = mapped_now();
    ck_assert_msg(after <= before, "bytes_mapped %zu before the heap, %zu after destroy+trim",
                  before, after);
    ck_assert(bytes_check(keep, 1000, 3) == SIZE_MAX);
    ck_assert_ptr_eq(dog_heap_of(keep), dog_default);
    dog_free(keep);
}
END_TEST

START_TEST(test_heap_destroy_memory_reused)
{
    /* a destroyed heap's memory serves the next heap (from the reuse pool, or else it
     * went back to the OS): two identical heaps in a row map no more than one */
    warm_up_heaps();
    dog_heap_t *a = heap_named("first", 0);
    heap_fill(a, 5000, 2);
    size_t with_a = mapped_now();
    dog_heap_destroy(a);
    dog_heap_t *b = heap_named("second", 0);
    heap_fill(b, 5000, 2);
    size_t with_b = mapped_now();
    /* The secure build's pages wait behind the last 32 given back (docs/secure.md: the
     * quarantine) before they are reused: the second heap may map that many more. */
    size_t quarantine = DOG_SECURE_BUILD ? (size_t)32 << 19 : 0;
    ck_assert_msg(with_b <= with_a + quarantine,
                  "bytes_mapped %zu with the first heap, %zu with the second", with_a, with_b);
    dog_heap_destroy(b);
}
END_TEST

START_TEST(test_heap_create_destroy_loop)
{
    warm_up_heaps();
    dog_trim();
    size_t before = mapped_now(), heaps = heaps_now();
    for (int round = 0; round < 200; round++) {
        char name[32];
        snprintf(name, sizeof name, "loop-%d", round);
        dog_heap_t *h = heap_named(name, round % 2 ? 0 : 64 * MiB);
        ck_assert_str_eq(dog_heap_name(h), name);
        heap_fill(h, 50 + (size_t)round % 200, round % 10 == 0 ? 1 : 0);
        void *p = dog_heap_malloc(h, 100);
        ck_assert_ptr_nonnull(p);
        dog_free(p);                                   /* some freed, most not */
        dog_heap_destroy(h);
    }
    ck_assert_uint_eq(heaps_now(), heaps);
    dog_trim();
    size_t after = mapped_now();
    ck_assert_msg(after <= before, "bytes_mapped grew from %zu to %zu over 200 heaps", before,
                  after);
}
END_TEST

static void destroy_default(void *arg)
{
    (void)arg;
    dog_heap_destroy(dog_default);
}

START_TEST(test_heap_destroy_default_aborts)
{
    char msg[4096];
    int status = death_run(destroy_default, NULL, msg, sizeof msg);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "destroying dog_default did not abort (status %#x); stderr: \"%s\"", status,
                  msg);
    ck_assert_msg(strstr(msg, "dogmalloc") != NULL, "message: \"%s\"", msg);
    ck_assert_msg(strstr(msg, "default") != NULL, "message does not say which heap: \"%s\"",
                  msg);
    /* the parent's default heap is untouched */
    void *p = dog_malloc(10);
    ck_assert_ptr_nonnull(p);
    dog_free(p);
}
END_TEST

START_TEST(test_heap_destroy_then_calloc_zeroes)
{
    /* pages of a destroyed heap (dirty, possibly still resident in the reuse pool) serve
     * the next heap: calloc must still hand out zeroes, and other classes work there */
    static const size_t sizes[] = { 16, 100, 1000, 4000, 30000 };
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t size = sizes[k];
        size_t n = 6 * MiB / size;
        dog_heap_t *a = heap_named("dirty", 0);
        for (size_t i = 0; i < n; i++) {
            void *p = launder(dog_heap_malloc(a, size));
            REQUIRE(p != NULL, "block %zu", i);
            memset(p, 0xff, dog_usable_size(p));
        }
        dog_heap_destroy(a);
        dog_heap_t *b = heap_named("clean", 0);
        for (size_t i = 0; i < n; i++) {
            unsigned char *p = dog_heap_calloc(b, 1, size);
            REQUIRE(p != NULL, "block %zu", i);
            for (size_t j = 0; j < size; j++)
                REQUIRE(p[j] == 0, "calloc(%zu) block %zu byte %zu is %#x after a destroy",
                        size, i, j, p[j]);
        }
        dog_heap_destroy(b);
        /* and the default heap gets zeroes from such pages too */
        a = heap_named("dirty2", 0);
        for (size_t i = 0; i < n; i++) {
            void *p = launder(dog_heap_malloc(a, size));
            REQUIRE(p != NULL, "block %zu", i);
            memset(p, 0xff, dog_usable_size(p));
        }
        dog_heap_destroy(a);
        void **keep = malloc(n * sizeof *keep);
        ck_assert_ptr_nonnull(keep);
        for (size_t i = 0; i < n; i++) {
            unsigned char *p = dog_calloc(size, 1);
            REQUIRE(p != NULL, "block %zu", i);
            for (size_t j = 0; j < size; j++)
                REQUIRE(p[j] == 0, "dog_calloc(%zu) block %zu byte %zu is %#x after a destroy",
                        size, i, j, p[j]);
            keep[i] = p;
        }
        for (size_t i = 0; i < n; i++)
            dog_free(keep[i]);
        free(keep);
    }
}
END_TEST

START_TEST(test_heap_destroy_pages_change_class)
{
    /* a destroyed heap's pages come back with another block size: blocks do not overlap */
    dog_heap_t *a = heap_named("small-blocks", 0);
    for (size_t i = 0; i < 40000; i++)
        ck_assert_ptr_nonnull(dog_heap_malloc(a, 48));
    dog_heap_destroy(a);
    dog_heap_t *b = heap_named("other-blocks", 0);
    enum { N = 3000 };
    static void *p[N];
    for (size_t i = 0; i < N; i++) {
        size_t size = 100 + (i * 977) % 8000;
        p[i] = dog_heap_malloc(b, size);
        REQUIRE(p[i] != NULL, "block %zu", i);
        pattern_fill(p[i], size);
    }
    for (size_t i = 0; i < N; i++)
        REQUIRE(pattern_check(p[i], 100 + (i * 977) % 8000) == SIZE_MAX, "block %zu", i);
    dog_heap_destroy(b);
}
END_TEST

START_TEST(test_heap_limit_realloc_grow_with_cache_warm)
{
    /* Growing a huge block of a budgeted heap is charged the growth only, even when a
     * freed mapping in the cache would fit the new size (copying into it would hold old
     * and new at once, over the budget). */
    dog_heap_t *h = heap_named("grow-budget", 5 * MiB / 2);
    char *p = dog_heap_malloc(h, MiB - 4096);
    ck_assert_ptr_nonnull(p);
    memset(p, 7, MiB - 4096);
    void *warm = dog_malloc(5 * MiB / 2 - 4096);        /* a mapping that would fit */
    ck_assert_ptr_nonnull(warm);
    dog_free(warm);
    errno = 0;
    char *q = dog_heap_realloc(h, p, 2 * MiB - 4096);
    ck_assert_msg(q != NULL, "growth within the budget refused (errno %d)", errno);
    for (size_t i = 0; i < MiB - 4096; i += 4096)
        REQUIRE(q[i] == 7, "byte %zu", i);
    ck_assert_uint_le(test_heap_stats(h).bytes_mapped, 5 * MiB / 2);
    dog_free(q);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_limit_huge_cache_between_heaps)
{
    /* freed huge mappings are cached process-wide; a budgeted heap that reuses one is
     * charged only what it keeps, and a mapping it gave back no longer counts */
    const size_t limit = 4 * MiB;
    dog_heap_t *h = heap_named("cache-budget", limit), *other = heap_named("other", 0);
    void *big = dog_malloc(20 * MiB);                 /* to the cache when freed */
    ck_assert_ptr_nonnull(big);
    memset(big, 1, 20 * MiB);
    dog_free(big);
    void *p = dog_heap_malloc(h, MiB);
    ck_assert_msg(p != NULL, "a 1 MiB block in a 4 MiB heap failed (errno %d)", errno);
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_msg(s.bytes_mapped <= limit, "heap charged %zu for a 1 MiB block", s.bytes_mapped);
    ck_assert_uint_eq(s.huge_blocks, 1);
    dog_free(p);
    void *q = dog_heap_malloc(other, 3 * MiB);        /* may take h's old mapping */
    ck_assert_ptr_nonnull(q);
    p = dog_heap_malloc(h, 3 * MiB);
    ck_assert_msg(p != NULL, "a 3 MiB block in an empty 4 MiB heap failed (errno %d)", errno);
    s = test_heap_stats(h);
    ck_assert_uint_le(s.bytes_mapped, limit);
    dog_heap_stats_t so = test_heap_stats(other);
    ck_assert_uint_eq(so.huge_blocks, 1);
    ck_assert_uint_eq(so.huge_bytes, dog_usable_size(q));
    dog_free(p);
    dog_free(q);
    dog_heap_destroy(h);
    dog_heap_destroy(other);
}
END_TEST

/* --- Moving blocks between heaps --- */

START_TEST(test_heap_realloc_moves_between_heaps)
{
    dog_heap_t *a = heap_named("a", 0), *b = heap_named("b", 0);
    static const size_t sizes[] = { 1, 100, 4000, 65536, 200000, 3 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        unsigned char *p = dog_heap_malloc(a, n);
        ck_assert_ptr_nonnull(p);
        bytes_fill(p, n, 5);
        /* a -> b, same size, larger and smaller */
        const size_t targets[] = { n, n * 2 + 10, n / 2 + 1 };
        dog_heap_t *to[] = { b, a, dog_default };
        size_t have = n;
        for (size_t t = 0; t < 3; t++) {
            unsigned char *q = dog_heap_realloc(to[t], p, targets[t]);
            ck_assert_ptr_nonnull(q);
            ck_assert_ptr_eq(dog_heap_of(q), to[t]);
            size_t kept = have < targets[t] ? have : targets[t];
            ck_assert_msg(bytes_check(q, kept, 5) == SIZE_MAX, "size %zu move %zu", n, t);
            bytes_fill(q, targets[t], 5);
            have = targets[t];
            p = q;
        }
        /* default -> b */
        unsigned char *q = dog_heap_realloc(b, p, have);
        ck_assert_ptr_nonnull(q);
        ck_assert_ptr_eq(dog_heap_of(q), b);
        ck_assert(bytes_check(q, have, 5) == SIZE_MAX);
        dog_heap_stats_t sa = test_heap_stats(a), sb = test_heap_stats(b);
        ck_assert_uint_eq(sa.blocks_in_use, 0);
        ck_assert_uint_eq(sb.blocks_in_use, 1);
        ck_assert_uint_eq(sb.bytes_in_use, dog_usable_size(q));
        dog_free(q);
    }
    dog_heap_destroy(a);
    dog_heap_destroy(b);
}
END_TEST

START_TEST(test_heap_stats_huge_realloc)
{
    /* in-place growth (mremap) and moves between huge and small keep the figures exact */
    dog_heap_t *h = heap_named("hugerealloc", 0);
    void *p = dog_heap_malloc(h, 2 * MiB);
    ck_assert_ptr_nonnull(p);
    const size_t steps[] = { 10 * MiB, 40 * MiB, 5 * MiB, 100, 3 * MiB, 65536 };
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
        p = dog_realloc(p, steps[k]);
        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_eq(dog_heap_of(p), h);
        dog_heap_stats_t s = test_heap_stats(h);
        int huge = steps[k] > 65536;
        ck_assert_uint_eq(s.blocks_in_use, 1);
        ck_assert_msg(s.bytes_in_use == dog_usable_size(p), "after realloc to %zu: bytes in use "
                      "%zu, usable %zu", steps[k], s.bytes_in_use, dog_usable_size(p));
        ck_assert_uint_eq(s.huge_blocks, huge ? 1 : 0);
        ck_assert_uint_eq(s.huge_bytes, huge ? dog_usable_size(p) : 0);
        ck_assert_uint_ge(s.bytes_mapped, s.pages * PAGE_SIZE_DOG + s.huge_bytes);
        ck_assert_uint_ge(s.peak_bytes_in_use, s.bytes_in_use);
    }
    dog_free(p);
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, 0);
    ck_assert_uint_eq(s.bytes_in_use, 0);
    ck_assert_uint_eq(s.huge_bytes, 0);
    ck_assert_uint_ge(s.peak_bytes_in_use, 40 * MiB);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_many_live_heaps)
{
    enum { N = 1000 };
    size_t heaps = heaps_now();
    dog_heap_t **h = malloc(N * sizeof *h);
    void **p = malloc(N * sizeof *p);
    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < N; i++) {
        h[i] = dog_heap_new(NULL);
        REQUIRE(h[i] != NULL, "heap %zu: errno %d", i, errno);
        p[i] = dog_heap_malloc(h[i], 16 + i % 100);
        REQUIRE(p[i] != NULL, "heap %zu", i);
        pattern_fill(p[i], 16 + i % 100);
    }
    ck_assert_uint_eq(heaps_now(), heaps + N);
    for (size_t i = 0; i < N; i++) {
        REQUIRE(dog_heap_of(p[i]) == h[i], "block of heap %zu", i);
        REQUIRE(pattern_check(p[i], 16 + i % 100) == SIZE_MAX, "block of heap %zu", i);
    }
    for (size_t i = 0; i < N; i += 2)
        dog_free(p[i]);
    for (size_t i = 0; i < N; i++)
        dog_heap_destroy(h[i]);
    ck_assert_uint_eq(heaps_now(), heaps);
    free(h);
    free(p);
}
END_TEST

START_TEST(test_heap_name_boundaries)
{
    char name31[32], name32[33];
    memset(name31, 'x', 31);
    name31[31] = '\0';
    memset(name32, 'y', 32);
    name32[32] = '\0';
    dog_heap_t *a = heap_named(name31, 0), *b = heap_named(name32, 0), *c = heap_named("", 0);
    ck_assert_str_eq(dog_heap_name(a), name31);          /* 31 bytes fit */
    name32[31] = '\0';
    ck_assert_str_eq(dog_heap_name(b), name32);          /* the 32nd is cut */
    ck_assert_ptr_nonnull(dog_heap_name(c));
    dog_heap_destroy(a);
    dog_heap_destroy(b);
    dog_heap_destroy(c);
}
END_TEST

START_TEST(test_heap_destroy_after_remote_frees)
{
    /* other threads free blocks of h (pending on thread free lists), then h is destroyed
     * straight away, with no stats call to collect them first */
    enum { N = 6000, T = 3 };
    warm_up_heaps();
    dog_trim();
    size_t before = mapped_now();
    for (int round = 0; round < 3; round++) {
        dog_heap_t *h = heap_named("remote-destroy", 0);
        void **ptrs = malloc(N * sizeof *ptrs);
        ck_assert_ptr_nonnull(ptrs);
        for (size_t i = 0; i < N; i++) {
            ptrs[i] = dog_heap_malloc(h, 1 + i % 700);
            REQUIRE(ptrs[i] != NULL, "block %zu", i);
            pattern_fill(ptrs[i], 1 + i % 700);
        }
        pthread_t th[T];
        struct free_slice fs[T];
        for (size_t t = 0; t < T; t++) {              /* frees the first half */
            fs[t] = (struct free_slice){ ptrs, t * N / 2 / T, (t + 1) * N / 2 / T };
            ck_assert_int_eq(pthread_create(&th[t], NULL, free_slice_thread, &fs[t]), 0);
        }
        for (size_t t = 0; t < T; t++) {
            void *ret;
            ck_assert_int_eq(pthread_join(th[t], &ret), 0);
            ck_assert_ptr_null(ret);
        }
        dog_heap_destroy(h);
        free(ptrs);
    }
    dog_trim();
    ck_assert_uint_le(mapped_now(), before);
}
END_TEST

/* --- Limits --- */

START_TEST(test_heap_limit_refuses_and_recovers)
{
    const size_t limit = 4 * MiB;
    dog_heap_t *h = heap_named("budget", limit);
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_uint_eq(s.limit, limit);

    enum { MAX = 100000 };
    void **ptrs = malloc(MAX * sizeof *ptrs);
    ck_assert_ptr_nonnull(ptrs);
    size_t n = 0;
    int saved = 0;
    for (; n < MAX; n++) {
        errno = 0;
        ptrs[n] = dog_heap_malloc(h, 1000);
        if (ptrs[n] == NULL) {
            saved = errno;
            break;
        }
        memset(ptrs[n], 0x44, 1000);
    }
    ck_assert_msg(n < MAX, "a 4 MiB heap gave out %d blocks of 1000 bytes", MAX);
    ck_assert_int_eq(saved, ENOMEM);
    ck_assert_uint_gt(n, 1000);                        /* most of the budget was usable */
    s = test_heap_stats(h);
    ck_assert_uint_le(s.bytes_mapped, limit);
    ck_assert_uint_eq(s.blocks_in_use, n);

    /* other sizes and huge requests are refused too, and do not change the figures */
    errno = 0;
    ck_assert_ptr_null(dog_heap_malloc(h, 5 * MiB));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(dog_heap_calloc(h, 1, 2 * MiB));
    ck_assert_int_eq(errno, ENOMEM);
    dog_heap_stats_t s2 = test_heap_stats(h);
    ck_assert_uint_eq(s2.blocks_in_use, s.blocks_in_use);
    ck_assert_uint_le(s2.bytes_mapped, limit);

    /* the rest of the program is unaffected */
    void *d = dog_malloc(1000), *dh = dog_malloc(8 * MiB);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(dh);
    dog_heap_t *other = heap_named("other", 0);
    void *o = dog_heap_malloc(other, 8 * MiB);
    ck_assert_ptr_nonnull(o);
    dog_free(d);
    dog_free(dh);
    dog_free(o);
    dog_heap_destroy(other);

    /* after frees the heap can allocate again */
    for (size_t i = 0; i < n; i++)
        dog_free(ptrs[i]);
    s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, 0);
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = dog_heap_malloc(h, 1000);
        REQUIRE(ptrs[i] != NULL, "block %zu of %zu after freeing everything", i, n);
    }
    for (size_t i = 0; i < n; i++)
        dog_free(ptrs[i]);
    free(ptrs);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_limit_huge_blocks)
{
    const size_t limit = 4 * MiB;
    dog_heap_t *h = heap_named("huge-budget", limit);
    void *p[16];
    size_t n = 0;
    for (; n < 16; n++) {
        errno = 0;
        p[n] = dog_heap_malloc(h, MiB);
        if (p[n] == NULL)
            break;
        memset(p[n], 1, MiB);
    }
    ck_assert_uint_lt(n, 16);
    ck_assert_uint_ge(n, 1);
    ck_assert_int_eq(errno, ENOMEM);
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_uint_le(s.bytes_mapped, limit);
    ck_assert_uint_eq(s.huge_blocks, n);
    for (size_t i = 0; i < n; i++)
        dog_free(p[i]);
    s = test_heap_stats(h);
    ck_assert_uint_eq(s.huge_blocks, 0);
    /* the freed huge blocks no longer count against the budget */
    p[0] = dog_heap_malloc(h, MiB);
    ck_assert_ptr_nonnull(p[0]);
    dog_free(p[0]);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_limit_empty_pages_serve_other_classes)
{
    /* one block in each of 8 size classes takes the 8 pages of a 4 MiB budget; once they
     * are all freed the heap is empty, so a ninth class must not be refused */
    const size_t limit = 4 * MiB;
    dog_heap_t *h = heap_named("classes", limit);
    static const size_t sizes[] = { 16, 100, 300, 1000, 2000, 5000, 10000, 30000 };
    void *p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = dog_heap_malloc(h, sizes[i]);
        ck_assert_ptr_nonnull(p[i]);
    }
    for (int i = 0; i < 8; i++)
        dog_free(p[i]);
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, 0);
    errno = 0;
    void *q = dog_heap_malloc(h, 600);
    ck_assert_msg(q != NULL, "an empty heap (%zu pages held, budget %zu) refused 600 bytes: "
                  "errno %d", s.pages, limit, errno);
    dog_free(q);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_limit_empty_pages_serve_huge)
{
    /* the empty pages a budgeted heap keeps for reuse give way to a huge block, and to a
     * huge block's growth, before the budget refuses either */
    const size_t limit = 4 * MiB;
    dog_heap_t *h = heap_named("huge-after-pages", limit);
    for (size_t size = 16; size <= 1024; size *= 2) {      /* 7 classes, 7 pages */
        void *p = dog_heap_malloc(h, size);
        ck_assert_ptr_nonnull(p);
        dog_free(p);
    }
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_uint_ge(s.pages, 5);                          /* kept for reuse */
    errno = 0;
    void *big = dog_heap_malloc(h, 2 * MiB);
    ck_assert_msg(big != NULL, "2 MiB refused with %zu empty pages held (errno %d)", s.pages,
                  errno);
    bytes_fill(big, 2 * MiB, 41);
    for (size_t size = 16; size <= 1024; size *= 2)         /* the classes come back */
        dog_free(dog_heap_malloc(h, size));
    errno = 0;
    unsigned char *grown = dog_realloc(big, 3 * MiB + MiB / 2);
    ck_assert_msg(grown != NULL, "growth to 3.5 MiB refused (errno %d)", errno);
    ck_assert(bytes_check(grown, 2 * MiB, 41) == SIZE_MAX);
    ck_assert_uint_le(test_heap_stats(h).bytes_mapped, limit);
    dog_free(grown);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_limit_realloc)
{
    /* growing a block of a budgeted heap past the budget fails cleanly: NULL, ENOMEM,
     * the block intact; also for huge blocks that could grow in place (mremap) */
    const size_t limit = 4 * MiB;
    dog_heap_t *h = heap_named("realloc-budget", limit);
    unsigned char *p = dog_heap_malloc(h, MiB);
    ck_assert_ptr_nonnull(p);
    bytes_fill(p, MiB, 33);
    errno = 0;
    ck_assert_ptr_null(dog_realloc(p, 8 * MiB));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(dog_heap_realloc(h, p, 8 * MiB));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert(bytes_check(p, MiB, 33) == SIZE_MAX);
    /* step by step up to the budget: never above it */
    size_t size = MiB;
    for (;;) {
        size_t next = size + 256 * KiB;
        errno = 0;
        unsigned char *q = dog_realloc(p, next);
        dog_heap_stats_t s = test_heap_stats(h);
        ck_assert_msg(s.bytes_mapped <= limit, "realloc to %zu: heap maps %zu > budget %zu",
                      next, s.bytes_mapped, limit);
        if (q == NULL) {
            ck_assert_int_eq(errno, ENOMEM);
            break;
        }
        ck_assert_uint_le(next, limit);
        p = q;
        size = next;
    }
    ck_assert_msg(bytes_check(p, MiB, 33) == SIZE_MAX, "contents lost on the way to %zu", size);
    ck_assert_ptr_eq(dog_heap_of(p), h);
    dog_heap_stats_t s = test_heap_stats(h);
    ck_assert_uint_eq(s.blocks_in_use, 1);

    /* a block of another heap moving in is refused too, and stays where it was */
    unsigned char *d = dog_malloc(6 * MiB);
    ck_assert_ptr_nonnull(d);
    bytes_fill(d, 6 * MiB, 34);
    errno = 0;
    ck_assert_ptr_null(dog_heap_realloc(h, d, 6 * MiB));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert(bytes_check(d, 6 * MiB, 34) == SIZE_MAX);
    ck_assert_ptr_eq(dog_heap_of(d), dog_default);
    dog_free(d);
    dog_free(p);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_limit_aligned)
{
    /* aligned requests that need slack in the mapping still respect the budget */
    const size_t limit = 4 * MiB;
    dog_heap_t *h = heap_named("aligned-budget", limit);
    static const size_t aligns[] = { 4096, 65536, 512 * KiB, MiB, 2 * MiB, 4 * MiB, 64 * MiB };
    for (size_t a = 0; a < sizeof aligns / sizeof *aligns; a++) {
        const size_t sizes[] = { 100, 70000, MiB };
        for (size_t k = 0; k < 3; k++) {
            errno = 0;
            void *p = dog_heap_aligned_alloc(h, aligns[a], sizes[k]);
            dog_heap_stats_t s = test_heap_stats(h);
            ck_assert_msg(s.bytes_mapped <= limit, "aligned_alloc(%zu, %zu): heap maps %zu",
                          aligns[a], sizes[k], s.bytes_mapped);
            if (p == NULL) {
                ck_assert_int_eq(errno, ENOMEM);
                continue;
            }
            ck_assert_uint_eq((uintptr_t)p % aligns[a], 0);
            memset(p, 1, sizes[k]);
            dog_free(p);
        }
    }
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_limit_empty_heap_reusable_for_huge)
{
    /* a heap whose small blocks are all freed can spend its budget on a huge block:
     * the empty pages it holds must not keep counting against the budget */
    const size_t limit = 4 * MiB;
    dog_heap_t *h = heap_named("switch", limit);
    enum { MAX = 100000 };
    void **ptrs = malloc(MAX * sizeof *ptrs);
    ck_assert_ptr_nonnull(ptrs);
    size_t n = 0;
    while (n < MAX && (ptrs[n] = dog_heap_malloc(h, 2000)) != NULL)
        n++;
    ck_assert_uint_lt(n, MAX);
    for (size_t i = 0; i < n; i++)
        dog_free(ptrs[i]);
    free(ptrs);
    void *big = dog_heap_malloc(h, 2 * MiB);
    ck_assert_msg(big != NULL, "an empty heap with a 4 MiB budget refused a 2 MiB block");
    memset(big, 1, 2 * MiB);
    dog_free(big);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_full_page_retired_never_served)
{
    /* A page that leaves its bin queue full and is later emptied and retired must not be
     * served by the bin's direct lookup (requests up to 1 KiB) any more: it had been, so
     * a malloc returned a block of a page back in the reuse pool and freeing it aborted.
     * 1 KiB blocks; the page of a block is its address with the low 19 bits cleared. */
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "fullpages" });
    ck_assert_ptr_nonnull(h);
    enum { SIZE = 1024, MAX = 1024 };
    const uintptr_t page_mask = ~(uintptr_t)((512 << 10) - 1);
    static void *a[MAX], *b[MAX];
    int na = 0, nb = 0;
    for (;;) {                                  /* fill page 1; the next block opens page 2 */
        void *p = dog_heap_malloc(h, SIZE);
        ck_assert_ptr_nonnull(p);
        if (na > 0 && ((uintptr_t)p & page_mask) != ((uintptr_t)a[0] & page_mask)) {
            b[nb++] = p;
            break;
        }
        ck_assert_int_lt(na, MAX);
        a[na++] = p;
    }
    dog_free(a[0]);                             /* page 1 has room again: it queues behind */
    for (;;) {                                  /* fill page 2; the next block is page 1's */
        void *p = dog_heap_malloc(h, SIZE);
        ck_assert_ptr_nonnull(p);
        if (((uintptr_t)p & page_mask) != ((uintptr_t)b[0] & page_mask)) {
            a[0] = p;
            break;
        }
        ck_assert_int_lt(nb, MAX);
        b[nb++] = p;
    }
    for (int i = 0; i < nb; i++)
        dog_free(b[i]);                         /* page 2 empties and is retired */
    for (int round = 0; round < 2 * nb; round++) {
        void *p = dog_heap_malloc(h, SIZE);
        ck_assert_ptr_nonnull(p);
        ck_assert_msg(dog_heap_of(p) == h, "round %d: block %p is not a live block of its heap",
                      round, p);
        memset(p, 0x3c, SIZE);
        dog_free(p);
    }
    for (int i = 0; i < na; i++)
        dog_free(a[i]);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_limit_shrink_never_fails)
{
    /* A budget of one page, all of it taken by the page of one 64 KiB block: shrinking
     * that block to 16 bytes would move it to a class that needs a page of its own. A
     * shrink must not need more memory than it has: the block stays where it is. */
    dog_heap_t *h = heap_named("shrink", PAGE_SIZE_DOG);
    char *p = dog_heap_malloc(h, 64 * KiB);
    ck_assert_ptr_nonnull(p);
    bytes_fill(p, 64 * KiB, 7);
    errno = 0;
    char *q = dog_heap_realloc(h, p, 16);
    ck_assert_msg(q != NULL, "shrink 64 KiB -> 16 in a full budget failed (errno %d)", errno);
    ck_assert_int_eq(errno, 0);
    ck_assert_uint_eq(bytes_check(q, 16, 7), SIZE_MAX);
    ck_assert_ptr_eq(dog_heap_of(q), h);
    ck_assert_uint_le(test_heap_stats(h).bytes_mapped, PAGE_SIZE_DOG);
    dog_free(q);
    dog_heap_destroy(h);

    /* The same for a huge block whose mapping leaves less than a page of the budget. */
    h = heap_named("shrink-huge", 2 * MiB);
    p = dog_heap_malloc(h, 2 * MiB - 64 * KiB);
    ck_assert_ptr_nonnull(p);
    bytes_fill(p, 2 * MiB - 64 * KiB, 9);
    q = dog_heap_realloc(h, p, 100);
    ck_assert_msg(q != NULL, "shrink of a huge block to 100 bytes failed (errno %d)", errno);
    ck_assert_uint_eq(bytes_check(q, 100, 9), SIZE_MAX);
    ck_assert_uint_le(test_heap_stats(h).bytes_mapped, 2 * MiB);
    dog_free(q);
    dog_heap_destroy(h);
}
END_TEST

/* dog_posix_memalign leaves errno alone, also when it succeeds with a huge block cut from
 * a cached mapping larger than the heap's budget could take whole: the budget's refusal of
 * the larger mapping set ENOMEM on the way to the success (found by fuzz_malloc, input
 * tests/fuzz/corpus/malloc/posix-memalign-errno). */
START_TEST(test_heap_limit_posix_memalign_keeps_errno)
{
    dog_trim();                                 /* no cached mapping but the one below */
    dog_heap_t *h = heap_named("errno", PAGE_SIZE_DOG);
    void *live = dog_heap_malloc(h, 240 * KiB);
    ck_assert_ptr_nonnull(live);
    dog_free(dog_malloc(284 * KiB));            /* cached: fits 256 KiB, not the budget */
    ck_assert_ptr_null(dog_thread_set_heap(h)); /* dog_posix_memalign has no heap form */
    void *p = NULL;
    errno = 4242;
    ck_assert_int_eq(dog_posix_memalign(&p, 8, 256 * KiB), 0);
    ck_assert_int_eq(errno, 4242);
    ck_assert_ptr_eq(dog_thread_set_heap(NULL), h);
    ck_assert_ptr_eq(dog_heap_of(p), h);
    ck_assert_uint_le(test_heap_stats(h).bytes_mapped, PAGE_SIZE_DOG);
    dog_free(p);
    dog_free(live);
    dog_heap_destroy(h);
}
END_TEST

Suite *heap_api_suite(void)
{
    Suite *s = suite_create("heap_api");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_heap_new_defaults);
    tcase_add_test(tc, test_heap_new_name_copied);
    tcase_add_test(tc, test_heap_new_counts_heaps);
    tcase_add_test(tc, test_heap_alloc_functions);
    tcase_add_test(tc, test_heap_aligned_alloc_powers_of_two);
    tcase_add_test(tc, test_heap_null_heap_einval);
    tcase_add_test(tc, test_heap_of_default_and_explicit);
    tcase_add_test(tc, test_heap_of_foreign_pointers);
    tcase_add_test(tc, test_heap_of_default_stats_delta);
    tcase_add_test(tc, test_heap_stats_exact);
    tcase_add_test(tc, test_heap_stats_cross_thread_frees);
    tcase_add_test(tc, test_heap_stats_print);
    tcase_add_test(tc, test_heap_destroy_releases_memory);
    tcase_add_test(tc, test_heap_destroy_memory_reused);
    tcase_add_test(tc, test_heap_create_destroy_loop);
    tcase_add_test(tc, test_heap_destroy_default_aborts);
    tcase_add_test(tc, test_heap_realloc_moves_between_heaps);
    tcase_add_test(tc, test_heap_stats_huge_realloc);
    tcase_add_test(tc, test_heap_destroy_then_calloc_zeroes);
    tcase_add_test(tc, test_heap_destroy_pages_change_class);
    tcase_add_test(tc, test_heap_many_live_heaps);
    tcase_add_test(tc, test_heap_name_boundaries);
    tcase_add_test(tc, test_heap_destroy_after_remote_frees);
    tcase_add_test(tc, test_heap_full_page_retired_never_served);
    suite_add_tcase(s, tc);

    TCase *lim = tcase_create("limits");
    tcase_set_timeout(lim, 60);
    tcase_add_test(lim, test_heap_limit_refuses_and_recovers);
    tcase_add_test(lim, test_heap_limit_huge_blocks);
    tcase_add_test(lim, test_heap_limit_empty_heap_reusable_for_huge);
    tcase_add_test(lim, test_heap_limit_empty_pages_serve_other_classes);
    tcase_add_test(lim, test_heap_limit_empty_pages_serve_huge);
    tcase_add_test(lim, test_heap_limit_realloc);
    tcase_add_test(lim, test_heap_limit_shrink_never_fails);
    tcase_add_test(lim, test_heap_limit_aligned);
    tcase_add_test(lim, test_heap_limit_huge_cache_between_heaps);
    tcase_add_test(lim, test_heap_limit_realloc_grow_with_cache_warm);
    tcase_add_test(lim, test_heap_limit_posix_memalign_keeps_errno);
    suite_add_tcase(s, lim);
    return s;
}
