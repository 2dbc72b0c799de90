/* SPDX-License-Identifier: MIT */
/* check_api.c: the global allocation functions of include/dogmalloc.h.
 *
 * Public header only. Every test passes under CK_FORK=no: the default heap is shared
 * with the other tests, so nothing here assumes a pristine heap. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dogmalloc.h>

#include "suites.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return x < y ? -1 : x > y;
}

/* --- Version --- */

START_TEST(test_version_matches_header)
{
    ck_assert_int_eq(dog_version(), DOG_VERSION);
    ck_assert_ptr_nonnull(dog_version_string());
    ck_assert_str_eq(dog_version_string(), DOG_VERSION_STRING);
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", DOG_VERSION_MAJOR, DOG_VERSION_MINOR,
             DOG_VERSION_PATCH);
    ck_assert_str_eq(dog_version_string(), buf);
}
END_TEST

/* --- malloc / free / usable_size --- */

START_TEST(test_malloc_size_sweep)
{
    /* every size from 0 to 70000: usable >= size, the whole usable size is writable,
     * natural alignment, and usable size never shrinks as the request grows (small). */
    size_t prev_usable = 0;
    for (size_t size = 0; size <= 70000; size++) {
        unsigned char *p = launder(dog_malloc(size));     /* written up to its usable size */
        REQUIRE(p != NULL, "dog_malloc(%zu) failed", size);
        size_t usable = dog_usable_size(p);
        REQUIRE(usable >= size, "usable_size %zu < %zu", usable, size);
        if (size <= 65536) {
            REQUIRE(usable >= prev_usable, "usable(%zu) = %zu < usable(%zu) = %zu", size,
                    usable, size - 1, prev_usable);
            /* size classes: at most 25% waste above 64 bytes, a word at most below */
            size_t bound = size <= 64 ? (size + 15) / 8 * 8 : size + size / 4 + 8;
            REQUIRE(usable <= bound, "usable(%zu) = %zu, more than %zu", size, usable, bound);
        }
        prev_usable = usable;
        REQUIRE((uintptr_t)p % (size >= 16 ? 16 : 8) == 0, "dog_malloc(%zu) = %p misaligned",
                size, (void *)p);
        REQUIRE(dog_heap_of(p) == dog_default, "dog_malloc(%zu) = %p", size, (void *)p);
        memset(p, 0xa5, usable);
        REQUIRE(usable == 0 || (p[0] == 0xa5 && p[usable - 1] == 0xa5), "size %zu", size);
        REQUIRE(dog_usable_size(p) == usable, "size %zu", size);
        dog_free(p);
    }
}
END_TEST

START_TEST(test_malloc_alignment_live_blocks)
{
    /* the promise holds for every block of a class, not only the first of a page:
     * many live blocks of each size from 1 to 1100 bytes */
    enum { N = 64 };
    void *ptrs[N];
    for (size_t size = 1; size <= 1100; size++) {
        size_t align = size >= 16 ? 16 : 8;
        for (size_t i = 0; i < N; i++) {
            ptrs[i] = dog_malloc(size);
            REQUIRE(ptrs[i] != NULL, "dog_malloc(%zu)", size);
            REQUIRE((uintptr_t)ptrs[i] % align == 0, "dog_malloc(%zu) = %p (block %zu of %d "
                    "live) is not %zu-aligned", size, ptrs[i], i, N, align);
        }
        for (size_t i = 0; i < N; i++)
            dog_free(ptrs[i]);
    }
}
END_TEST

START_TEST(test_malloc_many_live_distinct)
{
    /* many live blocks of mixed sizes never overlap: each keeps its own pattern */
    enum { N = 4000 };
    static void *ptrs[N];
    static size_t sizes[N];
    for (size_t i = 0; i < N; i++) {
        sizes[i] = (i * 7919) % (i % 10 == 0 ? 70000 : 1100);
        ptrs[i] = dog_malloc(sizes[i]);
        REQUIRE(ptrs[i] != NULL, "dog_malloc(%zu)", sizes[i]);
        pattern_fill(ptrs[i], sizes[i]);
    }
    for (size_t i = 0; i < N; i++)
        REQUIRE(pattern_check(ptrs[i], sizes[i]) == SIZE_MAX,
                "block %zu (%p, %zu bytes) was overwritten", i, ptrs[i], sizes[i]);
    for (size_t i = 0; i < N; i += 2)
        dog_free(ptrs[i]);
    for (size_t i = 1; i < N; i += 2)
        REQUIRE(pattern_check(ptrs[i], sizes[i]) == SIZE_MAX, "block %zu", i);
    for (size_t i = 0; i < N; i += 2) {       /* refill the holes */
        ptrs[i] = dog_malloc(sizes[i]);
        REQUIRE(ptrs[i] != NULL, "block %zu", i);
        pattern_fill(ptrs[i], sizes[i]);
    }
    for (size_t i = 0; i < N; i++) {
        REQUIRE(pattern_check(ptrs[i], sizes[i]) == SIZE_MAX, "block %zu after refill", i);
        dog_free(ptrs[i]);
    }
}
END_TEST

START_TEST(test_malloc_zero_unique)
{
    enum { N = 1000 };
    void **ptrs = malloc(N * sizeof *ptrs);
    ck_assert_ptr_nonnull(ptrs);
    for (size_t i = 0; i < N; i++) {
        ptrs[i] = dog_malloc(0);
        REQUIRE(ptrs[i] != NULL, "block %zu", i);
        REQUIRE(dog_heap_of(ptrs[i]) == dog_default, "block %zu", i);
    }
    qsort(ptrs, N, sizeof *ptrs, cmp_ptr);
    for (size_t i = 1; i < N; i++)
        REQUIRE(ptrs[i - 1] != ptrs[i], "dog_malloc(0) returned %p twice", ptrs[i]);
    for (size_t i = 0; i < N; i++)
        dog_free(ptrs[i]);
    free(ptrs);
}
END_TEST

START_TEST(test_usable_size_null)
{
    ck_assert_uint_eq(dog_usable_size(NULL), 0);
}
END_TEST

START_TEST(test_free_null)
{
    errno = 77;
    dog_free(NULL);
    dog_free_sized(NULL, 0);
    dog_free_sized(NULL, 100);
    ck_assert_int_eq(errno, 77);
}
END_TEST

START_TEST(test_free_sized_accepts_requested_size)
{
    static const size_t sizes[] = { 0, 1, 8, 24, 100, 1000, 4096, 65536, 65537, 200000, 3 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = dog_malloc(sizes[i]);
        ck_assert_ptr_nonnull(p);
        memset(p, 1, sizes[i]);
        dog_free_sized(p, sizes[i]);
        /* the usable size is not larger than the block either */
        p = dog_malloc(sizes[i]);
        ck_assert_ptr_nonnull(p);
        dog_free_sized(p, dog_usable_size(p));
    }
}
END_TEST

START_TEST(test_free_reuses_memory)
{
    /* a long malloc/free loop of one size does not grow the process's mappings */
    dog_stats_t before, after;
    for (int i = 0; i < 1000; i++)
        dog_free(dog_malloc(100));
    ck_assert_int_eq(dog_stats(&before), 0);
    for (int i = 0; i < 200000; i++) {
        void *p = dog_malloc(100);
        REQUIRE(p != NULL, "iteration %d", i);
        dog_free(p);
    }
    ck_assert_int_eq(dog_stats(&after), 0);
    ck_assert_uint_le(after.bytes_mapped, before.bytes_mapped);
}
END_TEST

/* --- calloc --- */

static void assert_zero(const unsigned char *p, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (p[i] != 0)
            ck_abort_msg("byte %zu of %p (%zu bytes) is 0x%02x, not 0", i, (void *)p, size,
                         p[i]);
}

START_TEST(test_calloc_zeroes)
{
    static const size_t sizes[] = { 0, 1, 7, 8, 16, 100, 1024, 4095, 4096, 65536, 65537, 100000,
                                    MiB, 5 * MiB + 3 };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        unsigned char *p = dog_calloc(1, sizes[i]);
        ck_assert_ptr_nonnull(p);
        assert_zero(p, sizes[i]);
        dog_free(p);
        p = dog_calloc(sizes[i], 1);
        ck_assert_ptr_nonnull(p);
        assert_zero(p, sizes[i]);
        dog_free(p);
    }
    unsigned char *p = dog_calloc(1000, 12);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_ge(dog_usable_size(p), 12000);
    assert_zero(p, 12000);
    dog_free(p);
    p = dog_calloc(0, 0);
    ck_assert_ptr_nonnull(p);
    dog_free(p);
}
END_TEST

START_TEST(test_calloc_zeroes_reused_memory)
{
    /* malloc, dirty the whole usable size, free, calloc the same size: always zero,
     * for small blocks (free-list reuse) and huge ones (huge cache reuse). */
    static const size_t sizes[] = { 8, 24, 48, 100, 512, 1024, 3000, 16384, 65536, 65537, 300000,
                                    2 * MiB, 9 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t size = sizes[i];
        int rounds = size > 65536 ? 8 : 64;
        for (int r = 0; r < rounds; r++) {
            unsigned char *p = launder(dog_malloc(size));
            ck_assert_ptr_nonnull(p);
            memset(p, 0xff, dog_usable_size(p));
            dog_free(p);
            unsigned char *q = launder(dog_calloc(1, size));
            ck_assert_ptr_nonnull(q);
            assert_zero(q, size);
            memset(q, 0xff, dog_usable_size(q));
            dog_free(q);
        }
        /* many dirty blocks freed at once, then calloc'd back */
        enum { M = 64 };
        void *blocks[M];
        int m = size > MiB ? 4 : M;
        for (int j = 0; j < m; j++) {
            blocks[j] = launder(dog_malloc(size));
            ck_assert_ptr_nonnull(blocks[j]);
            memset(blocks[j], 0xff, dog_usable_size(blocks[j]));
        }
        for (int j = 0; j < m; j++)
            dog_free(blocks[j]);
        for (int j = 0; j < m; j++) {
            blocks[j] = dog_calloc(size, 1);
            ck_assert_ptr_nonnull(blocks[j]);
            assert_zero(blocks[j], size);
        }
        for (int j = 0; j < m; j++)
            dog_free(blocks[j]);
    }
}
END_TEST

/* --- realloc --- */

START_TEST(test_realloc_null_is_malloc)
{
    static const size_t sizes[] = { 0, 1, 100, 65536, 65537, 3 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = dog_realloc(NULL, sizes[i]);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_ge(dog_usable_size(p), sizes[i]);
        ck_assert_ptr_eq(dog_heap_of(p), dog_default);
        memset(p, 3, sizes[i]);
        dog_free(p);
        p = dog_reallocarray(NULL, sizes[i], 1);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_ge(dog_usable_size(p), sizes[i]);
        dog_free(p);
    }
}
END_TEST

START_TEST(test_realloc_zero_returns_unique_block)
{
    /* documented: realloc(p, 0) is realloc(p, 1): a minimal unique block, not NULL */
    void *a = dog_malloc(100), *b = dog_malloc(100000);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    memset(a, 0x5a, 100);
    memset(b, 0x5b, 100000);
    volatile size_t zero = 0;      /* alloc_size(2) would tell gcc the result has 0 bytes */
    void *a0 = dog_realloc(a, zero);
    void *b0 = dog_realloc(b, zero);
    ck_assert_ptr_nonnull(a0);
    ck_assert_ptr_nonnull(b0);
    ck_assert_ptr_ne(a0, b0);
    ck_assert_uint_ge(dog_usable_size(a0), 1);
    ck_assert_uint_ge(dog_usable_size(b0), 1);
    ck_assert_uint_eq(*(unsigned char *)a0, 0x5a);   /* realloc(p, 1) keeps the first byte */
    ck_assert_uint_eq(*(unsigned char *)b0, 0x5b);
    ck_assert_ptr_eq(dog_heap_of(a0), dog_default);
    void *c0 = dog_realloc(NULL, 0);
    ck_assert_ptr_nonnull(c0);
    ck_assert_ptr_ne(c0, a0);
    ck_assert_ptr_ne(c0, b0);
    void *d0 = dog_reallocarray(dog_malloc(10), 0, 10);
    ck_assert_ptr_nonnull(d0);
    dog_free(a0);
    dog_free(b0);
    dog_free(c0);
    dog_free(d0);
}
END_TEST

START_TEST(test_realloc_keeps_contents_across_classes)
{
    /* grow a block by ~1/8 at a time from 1 byte to 3 MiB (every class, into huge),
     * then shrink it back the same way (out of huge, down every class) */
    size_t size = 1;
    unsigned char *p = dog_malloc(size);
    ck_assert_ptr_nonnull(p);
    bytes_fill(p, size, 7);
    while (size < 3 * MiB) {
        size_t next = size + size / 8 + 1;
        p = dog_realloc(p, next);
        ck_assert_msg(p != NULL, "realloc to %zu failed", next);
        ck_assert_uint_ge(dog_usable_size(p), next);
        size_t bad = bytes_check(p, size, 7);
        ck_assert_msg(bad == SIZE_MAX, "growing %zu -> %zu lost byte %zu", size, next, bad);
        bytes_fill(p + size, next - size, (unsigned)(size * 131 + 7) & 0xff);
        ck_assert(bytes_check(p, next, 7) == SIZE_MAX);
        size = next;
    }
    while (size > 1) {
        size_t next = size - size / 8 - 1;
        if (next == 0)
            next = 1;
        p = dog_realloc(p, next);
        ck_assert_msg(p != NULL, "realloc to %zu failed", next);
        ck_assert_uint_ge(dog_usable_size(p), next);
        size_t bad = bytes_check(p, next, 7);
        ck_assert_msg(bad == SIZE_MAX, "shrinking %zu -> %zu lost byte %zu", size, next, bad);
        size = next;
    }
    dog_free(p);
}
END_TEST

START_TEST(test_realloc_small_huge_roundtrip)
{
    /* straight jumps between far-apart sizes: small -> huge -> small -> huge */
    static const size_t steps[] = { 24, 70000, 100, 65536, 65537, 8, 5 * MiB, 1000, 2 * MiB,
                                    64, 65535, 300000, 16 };
    size_t size = steps[0];
    unsigned char *p = dog_malloc(size);
    ck_assert_ptr_nonnull(p);
    bytes_fill(p, size, 1);
    for (size_t i = 1; i < sizeof steps / sizeof *steps; i++) {
        size_t next = steps[i], kept = next < size ? next : size;
        p = dog_realloc(p, next);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_ge(dog_usable_size(p), next);
        ck_assert_msg(bytes_check(p, kept, 1) == SIZE_MAX, "step %zu -> %zu lost contents",
                      size, next);
        bytes_fill(p, next, 1);
        size = next;
    }
    dog_free(p);
}
END_TEST

START_TEST(test_realloc_huge_grow_shrink)
{
    /* a huge block grows 1 -> 64 MiB and shrinks back, keeping its contents each time;
     * the pattern is prefix-stable, so each step checks what the previous one wrote */
    const uint64_t seed = 0x1234567887654321ull;
    size_t size = MiB;
    void *p = dog_malloc(size);
    ck_assert_ptr_nonnull(p);
    pattern_fill_seed(p, size, seed);
    while (size < 64 * MiB) {
        size_t next = size * 2;
        p = dog_realloc(p, next);
        ck_assert_msg(p != NULL, "huge realloc to %zu failed", next);
        ck_assert_uint_ge(dog_usable_size(p), next);
        size_t bad = pattern_check_seed(p, size, seed);
        ck_assert_msg(bad == SIZE_MAX, "huge grow %zu -> %zu lost byte %zu", size, next, bad);
        pattern_fill_seed(p, next, seed);
        size = next;
    }
    static const size_t down[] = { 33 * MiB, 16 * MiB + 1, 4 * MiB, MiB + 1, MiB, 300000,
                                   65537, 65536, 1000 };
    for (size_t i = 0; i < sizeof down / sizeof *down; i++) {
        size_t next = down[i];
        p = dog_realloc(p, next);
        ck_assert_msg(p != NULL, "huge realloc to %zu failed", next);
        ck_assert_uint_ge(dog_usable_size(p), next);
        size_t bad = pattern_check_seed(p, next, seed);
        ck_assert_msg(bad == SIZE_MAX, "huge shrink %zu -> %zu lost byte %zu", size, next, bad);
        size = next;
    }
    dog_free(p);
}
END_TEST

/* The same with a word pattern written directly, down to tiny sizes and back up. */
START_TEST(test_realloc_huge_shrink_keeps_prefix)
{
    size_t size = 64 * MiB;
    uint64_t *p = dog_malloc(size);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < size / 8; i++)
        p[i] = i * 0x9e3779b97f4a7c15ull + 1;
    static const size_t down[] = { 40 * MiB, 33 * MiB, 16 * MiB + 8, 4 * MiB, MiB + 8, MiB,
                                   300000, 65536, 4096, 64, 8 };
    for (size_t k = 0; k < sizeof down / sizeof *down; k++) {
        size_t next = down[k];
        p = dog_realloc(p, next);
        ck_assert_msg(p != NULL, "realloc to %zu failed", next);
        ck_assert_uint_ge(dog_usable_size(p), next);
        for (size_t i = 0; i < next / 8; i++)
            if (p[i] != i * 0x9e3779b97f4a7c15ull + 1)
                ck_abort_msg("shrink to %zu lost word %zu", next, i);
    }
    /* and grow again from small into huge */
    static const size_t up[] = { 65537, 2 * MiB, 48 * MiB };
    size_t have = 8;
    for (size_t k = 0; k < sizeof up / sizeof *up; k++) {
        size_t next = up[k];
        p = dog_realloc(p, next);
        ck_assert_ptr_nonnull(p);
        for (size_t i = 0; i < have / 8; i++)
            if (p[i] != i * 0x9e3779b97f4a7c15ull + 1)
                ck_abort_msg("grow to %zu lost word %zu", next, i);
        for (size_t i = have / 8; i < next / 8; i++)
            p[i] = i * 0x9e3779b97f4a7c15ull + 1;
        have = next;
    }
    dog_free(p);
}
END_TEST

START_TEST(test_realloc_same_size_and_in_class)
{
    unsigned char *p = launder(dog_malloc(100));
    ck_assert_ptr_nonnull(p);
    size_t usable = dog_usable_size(p);
    bytes_fill(p, usable, 9);
    unsigned char *q = dog_realloc(p, usable);      /* fits: stays */
    ck_assert_ptr_nonnull(q);
    ck_assert(bytes_check(q, usable, 9) == SIZE_MAX);
    q = dog_realloc(q, 100);
    ck_assert_ptr_nonnull(q);
    ck_assert(bytes_check(q, 100, 9) == SIZE_MAX);
    dog_free(q);
}
END_TEST

START_TEST(test_reallocarray_works)
{
    int *p = dog_reallocarray(NULL, 10, sizeof(int));
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < 10; i++)
        p[i] = i;
    p = dog_reallocarray(p, 100000, sizeof(int));
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_ge(dog_usable_size(p), 100000 * sizeof(int));
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(p[i], i);
    p[99999] = 5;
    p = dog_reallocarray(p, 3, sizeof(int));
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(p[i], i);
    dog_free(p);
}
END_TEST

/* --- aligned_alloc / posix_memalign --- */

static const size_t align_sizes[] = { 1, 7, 8, 100, 4095, 65536, 70000, MiB + 1 };
#define N_ALIGN_SIZES (sizeof align_sizes / sizeof *align_sizes)

/* The block is aligned and its whole usable size is ours: it is filled with its pattern
 * up to dog_usable_size(p), so a usable size that reaches into a neighbour shows up when
 * the neighbour is checked. */
static void check_aligned_block(void *p, size_t align, size_t size, const char *fn)
{
    ck_assert_msg(p != NULL, "%s(%zu, %zu) failed", fn, align, size);
    ck_assert_msg((uintptr_t)p % align == 0, "%s(%zu, %zu) = %p is misaligned", fn, align, size,
                  p);
    size_t usable = dog_usable_size(p);
    ck_assert_msg(usable >= size, "%s(%zu, %zu): usable %zu", fn, align, size, usable);
    p = launder(p);
    pattern_fill(p, usable);
    ck_assert(pattern_check(p, usable) == SIZE_MAX);
}

START_TEST(test_aligned_alloc_powers_of_two)        /* _i: log2 of the alignment, 0..20 */
{
    size_t align = (size_t)1 << _i;
    for (size_t k = 0; k < N_ALIGN_SIZES; k++) {
        size_t size = align_sizes[k];
        void *p = dog_aligned_alloc(align, size);
        check_aligned_block(p, align, size, "dog_aligned_alloc");
        ck_assert_ptr_eq(dog_heap_of(p), dog_default);
        void *q = dog_aligned_alloc(align, size);      /* two live ones do not overlap */
        check_aligned_block(q, align, size, "dog_aligned_alloc");
        ck_assert(pattern_check(p, dog_usable_size(p)) == SIZE_MAX);
        dog_free(p);
        dog_free(q);

        if (align >= sizeof(void *)) {
            void *r = (void *)(uintptr_t)1;
            errno = 4321;
            ck_assert_int_eq(dog_posix_memalign(&r, align, size), 0);
            ck_assert_int_eq(errno, 4321);
            check_aligned_block(r, align, size, "dog_posix_memalign");
            dog_free(r);
        }
    }
}
END_TEST

START_TEST(test_aligned_alloc_many_live)
{
    /* many live aligned blocks of one alignment keep their own contents */
    enum { N = 200 };
    void *ptrs[N];
    for (size_t align = 16; align <= 64 * KiB; align *= 4) {
        for (size_t i = 0; i < N; i++) {
            size_t size = 1 + (i * 37) % 3000;
            ptrs[i] = dog_aligned_alloc(align, size);
            check_aligned_block(ptrs[i], align, size, "dog_aligned_alloc");
        }
        for (size_t i = 0; i < N; i++) {
            REQUIRE(pattern_check(ptrs[i], dog_usable_size(ptrs[i])) == SIZE_MAX,
                    "aligned block %zu (%p, align %zu) overwritten", i, ptrs[i], align);
            dog_free(ptrs[i]);
        }
    }
}
END_TEST

START_TEST(test_aligned_alloc_large_alignments)     /* _i: log2 of the alignment, 21..30 */
{
    size_t align = (size_t)1 << _i;
    static const size_t sizes[] = { 1, 64, 4096, 70000 };
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t size = sizes[k];
        unsigned char *p = launder(dog_aligned_alloc(align, size));
        ck_assert_msg(p != NULL, "dog_aligned_alloc(%zu, %zu) failed", align, size);
        ck_assert_msg((uintptr_t)p % align == 0, "%p is not %zu-aligned", (void *)p, align);
        size_t usable = dog_usable_size(p);
        ck_assert_uint_ge(usable, size);
        p[0] = 0x11;                          /* writable at both ends */
        p[size - 1] = 0x22;
        p[usable - 1] = 0x33;
        ck_assert_uint_eq(p[0], size == 1 ? 0x22 : 0x11);
        ck_assert_ptr_eq(dog_heap_of(p), dog_default);
        dog_free(p);

        void *r = NULL;
        ck_assert_int_eq(dog_posix_memalign(&r, align, size), 0);
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq((uintptr_t)r % align, 0);
        ((unsigned char *)r)[size - 1] = 1;
        dog_free(r);
    }
}
END_TEST

START_TEST(test_realloc_aligned_blocks)
{
    /* realloc of an aligned block (small page, or huge with the block past a gap) keeps
     * its contents whether it grows in place, moves, or shrinks */
    static const size_t aligns[] = { 64, 4096, 65536, MiB, 2 * MiB, 16 * MiB };
    static const size_t sizes[] = { 100, 5000, 70000, 3 * MiB };
    for (size_t a = 0; a < sizeof aligns / sizeof *aligns; a++) {
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            size_t size = sizes[k];
            unsigned char *p = dog_aligned_alloc(aligns[a], size);
            ck_assert_ptr_nonnull(p);
            ck_assert_uint_eq((uintptr_t)p % aligns[a], 0);
            bytes_fill(p, size, 21);
            const size_t steps[] = { size * 3, size * 3 + 12 * MiB, size / 2 + 1 };
            size_t have = size;
            for (size_t s = 0; s < 3; s++) {
                p = dog_realloc(p, steps[s]);
                ck_assert_msg(p != NULL, "realloc of a %zu-aligned block to %zu", aligns[a],
                              steps[s]);
                size_t kept = have < steps[s] ? have : steps[s];
                ck_assert_msg(bytes_check(p, kept, 21) == SIZE_MAX,
                              "realloc of a %zu-aligned %zu-byte block to %zu lost contents",
                              aligns[a], size, steps[s]);
                ck_assert_uint_ge(dog_usable_size(p), steps[s]);
                ck_assert_ptr_eq(dog_heap_of(p), dog_default);
                bytes_fill(p, steps[s], 21);
                have = steps[s];
            }
            dog_free(p);
        }
    }
}
END_TEST

START_TEST(test_posix_memalign_size_zero)
{
    void *p = (void *)(uintptr_t)1;
    ck_assert_int_eq(dog_posix_memalign(&p, 64, 0), 0);
    ck_assert_ptr_ne(p, (void *)(uintptr_t)1);
    ck_assert_uint_eq((uintptr_t)p % 64, 0);
    dog_free(p);                                      /* NULL or a block: both free */
    void *q = dog_aligned_alloc(4096, 0);
    if (q != NULL) {
        ck_assert_uint_eq((uintptr_t)q % 4096, 0);
        dog_free(q);
    }
}
END_TEST

/* A request for 0 bytes at any alignment is a block as malloc(0)'s is: unique, with a
 * usable size, counted, and given back by dog_free_sized(p, 0). Above the largest
 * class's alignment (64 KiB) it is a huge block, which held 0 bytes before, reported a
 * usable size of 0, and was taken by dog_free_sized for a pointer it did not know: the
 * block leaked and stayed in the stats (found by fuzz_api). _i: log2 of the alignment. */
START_TEST(test_aligned_alloc_size_zero_every_alignment)
{
    size_t align = (size_t)1 << _i;
    dog_heap_stats_t before, live, after;
    ck_assert_int_eq(dog_heap_stats(dog_default, &before), 0);
    void *p = dog_aligned_alloc(align, 0), *q = NULL;
    ck_assert_int_eq(dog_posix_memalign(&q, align < sizeof(void *) ? sizeof(void *) : align, 0), 0);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_ne(p, q);
    ck_assert_uint_eq((uintptr_t)p % align, 0);
    ck_assert_uint_eq((uintptr_t)q % align, 0);
    ck_assert_uint_ge(dog_usable_size(p), 1);
    ck_assert_uint_ge(dog_usable_size(q), 1);
    ck_assert_ptr_eq(dog_heap_of(p), dog_default);
    ck_assert_int_eq(dog_heap_stats(dog_default, &live), 0);
    ck_assert_uint_eq(live.blocks_in_use, before.blocks_in_use + 2);
    dog_free_sized(p, 0);
    dog_free(q);
    ck_assert_int_eq(dog_heap_stats(dog_default, &after), 0);
    ck_assert_uint_eq(after.blocks_in_use, before.blocks_in_use);
    ck_assert_uint_eq(after.bytes_in_use, before.bytes_in_use);
}
END_TEST

/* --- Huge blocks --- */

START_TEST(test_huge_blocks_sizes)
{
    /* 1 MiB .. 64 MiB, also off-by-one sizes: usable >= size, contents fully writable */
    for (size_t size = MiB; size <= 64 * MiB; size *= 2) {
        const size_t variants[] = { size - 1, size, size + 1, size + 4096 + 7 };
        for (size_t v = 0; v < 4; v++) {
            size_t n = variants[v];
            void *p = launder(dog_malloc(n));
            ck_assert_msg(p != NULL, "dog_malloc(%zu) failed", n);
            ck_assert_uint_eq((uintptr_t)p % 16, 0);
            size_t usable = dog_usable_size(p);
            ck_assert_uint_ge(usable, n);
            ck_assert_ptr_eq(dog_heap_of(p), dog_default);
            pattern_fill(p, usable);
            ck_assert(pattern_check(p, usable) == SIZE_MAX);
            dog_free(p);
        }
    }
}
END_TEST

START_TEST(test_huge_blocks_live_together)
{
    /* several live huge blocks do not overlap; freeing one leaves the others intact */
    enum { N = 12 };
    void *p[N];
    size_t sz[N];
    for (size_t i = 0; i < N; i++) {
        sz[i] = MiB + i * 777777;
        p[i] = dog_malloc(sz[i]);
        ck_assert_ptr_nonnull(p[i]);
        pattern_fill(p[i], sz[i]);
    }
    for (size_t i = 0; i < N; i += 3) {
        dog_free(p[i]);
        p[i] = dog_malloc(sz[i]);            /* likely from the huge cache */
        ck_assert_ptr_nonnull(p[i]);
        pattern_fill(p[i], sz[i]);
    }
    for (size_t i = 0; i < N; i++) {
        ck_assert_msg(pattern_check(p[i], sz[i]) == SIZE_MAX, "huge block %zu corrupted", i);
        dog_free(p[i]);
    }
}
END_TEST

START_TEST(test_calloc_zeroes_after_huge_shrink)
{
    /* a huge block dirtied, shrunk in place, freed (to the huge cache), then calloc'd at
     * larger and smaller sizes: no old byte may show through */
    static const size_t again[] = { 8 * MiB, 3 * MiB, 2 * MiB + 5, 8 * MiB - 4096, 12 * MiB };
    for (size_t k = 0; k < sizeof again / sizeof *again; k++) {
        unsigned char *p = dog_malloc(8 * MiB);
        ck_assert_ptr_nonnull(p);
        memset(p, 0xff, 8 * MiB);
        p = dog_realloc(p, 2 * MiB);
        ck_assert_ptr_nonnull(p);
        memset(launder(p), 0xee, dog_usable_size(p));
        dog_free(p);
        unsigned char *q = dog_calloc(again[k], 1);
        ck_assert_ptr_nonnull(q);
        assert_zero(q, again[k]);
        dog_free(q);
    }
}
END_TEST

START_TEST(test_realloc_huge_grow_after_shrink_keeps_contents)
{
    /* shrink in place, grow back in place (mremap): the prefix survives both ways */
    uint64_t *p = dog_malloc(16 * MiB);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < 16 * MiB / 8; i++)
        p[i] = i ^ 0x5555;
    p = dog_realloc(p, 3 * MiB);
    ck_assert_ptr_nonnull(p);
    p = dog_realloc(p, 20 * MiB);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < 3 * MiB / 8; i++)
        REQUIRE(p[i] == (i ^ 0x5555), "word %zu", i);
    memset(p, 0, 20 * MiB);                           /* the whole new size is writable */
    dog_free(p);
}
END_TEST

/* --- Free-list order --- */

START_TEST(test_freed_blocks_come_back_in_address_order)
{
    /* Blocks freed in a random order come back in address order once most of their page
     * is free (its free list is rebuilt from the live bitmap), so a structure built again
     * after a teardown lies in memory the way the first one did (heapdrop). */
    enum { N = 8000 };
    static char *p[N];
    for (size_t i = 0; i < N; i++) {
        p[i] = dog_malloc(64);
        ck_assert_ptr_nonnull(p[i]);
    }
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (size_t i = N - 1; i > 0; i--) {              /* free in a shuffled order */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t j = (size_t)(x % (i + 1));
        char *t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    for (size_t i = 0; i < N; i++)
        dog_free(p[i]);
    for (size_t i = 0; i < N; i++) {
        p[i] = dog_malloc(64);
        ck_assert_ptr_nonnull(p[i]);
    }
    size_t next_door = 0;
    for (size_t i = 1; i < N; i++)
        next_door += p[i] - p[i - 1] == (ptrdiff_t)dog_usable_size(p[i - 1]);
    ck_assert_msg(next_door >= N / 2, "only %zu of %d blocks follow the previous one",
                  next_door, N - 1);
    for (size_t i = 0; i < N; i++)
        dog_free(p[i]);
}
END_TEST

START_TEST(test_own_large_blocks_pages_come_back)
{
    /* Blocks above the thread cache's sizes (16-64 KiB) that this thread allocated go
     * back through its shard's lock, so their pages empty and return to the pool at
     * once (they once went onto the thread free list, where nothing collected them). */
    enum { N = 1000 };
    static void *p[N];
    warm_thread_cache();
    for (size_t i = 0; i < N; i++) {
        p[i] = dog_malloc(32 * KiB);
        ck_assert_ptr_nonnull(p[i]);
        memset(p[i], 1, 64);
    }
    dog_stats_t before, after;
    ck_assert_int_eq(dog_stats(&before), 0);    /* dog_stats collects nothing */
    for (size_t i = 0; i < N; i++)
        dog_free(p[i]);
    ck_assert_int_eq(dog_stats(&after), 0);
    ck_assert_uint_ge(after.pool_pages, before.pool_pages + 40);   /* ~60 pages of 32 KiB blocks */
}
END_TEST

/* --- The huge cache: split, merge, absorb --- */

static size_t huge_cached(void)
{
    dog_stats_t s;
    ck_assert_int_eq(dog_stats(&s), 0);
    return s.huge_cache_bytes;
}

START_TEST(test_huge_cache_splits_and_merges)
{
    /* a freed 20 MiB mapping serves two 2 MiB blocks from its front, keeping the rest
     * cached; freeing both makes it one mapping again, which a 19 MiB block then gets */
    dog_trim();
    char *a = dog_malloc(20 * MiB);
    ck_assert_ptr_nonnull(a);
    memset(a, 0x11, 20 * MiB);
    dog_free(a);
    size_t whole = huge_cached();
    ck_assert_uint_ge(whole, 20 * MiB);

    char *b = dog_malloc(2 * MiB);
    ck_assert_ptr_eq(b, a);                         /* the front of the cached mapping */
    size_t rest = huge_cached();
    ck_assert_uint_lt(rest, whole);
    ck_assert_uint_ge(rest, whole - 3 * MiB);       /* the tail stays cached */
    char *c = dog_malloc(2 * MiB);
    ck_assert_ptr_nonnull(c);
    ck_assert_msg(c >= b + dog_usable_size(b) && c + 2 * MiB <= a + 20 * MiB,
                  "second block %p not in the tail of %p", (void *)c, (void *)a);
    memset(b, 0x22, 2 * MiB);
    memset(c, 0x33, 2 * MiB);
    for (size_t i = 0; i < 2 * MiB; i += 4096)
        REQUIRE(b[i] == 0x22 && c[i] == 0x33, "byte %zu", i);
    dog_free(b);
    dog_free(c);
    ck_assert_uint_eq(huge_cached(), whole);         /* all the pieces, back as they were */

    char *d = dog_malloc(19 * MiB);
    ck_assert_ptr_eq(d, a);                         /* one mapping again */
    memset(d, 0x44, 19 * MiB);
    dog_free(d);
    dog_trim();
    ck_assert_uint_eq(huge_cached(), 0);
}
END_TEST

START_TEST(test_huge_shrink_caches_tail_and_grow_takes_it_back)
{
    /* realloc down leaves the freed frames in the cache, resident; realloc up takes them
     * back in place: same pointer, contents kept, nothing new mapped */
    dog_trim();
    uint64_t *p = dog_malloc(16 * MiB);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < MiB / 8; i++)
        p[i] = i * 7;
    uint64_t *q = dog_realloc(p, MiB);
    ck_assert_ptr_eq(q, p);
    ck_assert_uint_ge(huge_cached(), 14 * MiB);
    dog_stats_t before, after;
    ck_assert_int_eq(dog_stats(&before), 0);
    uint64_t *r = dog_realloc(q, 12 * MiB);
    ck_assert_ptr_eq(r, p);
    ck_assert_int_eq(dog_stats(&after), 0);
    ck_assert_uint_eq(after.bytes_mapped, before.bytes_mapped);
    ck_assert_uint_ge(dog_usable_size(r), 12 * MiB);
    ck_assert_uint_lt(huge_cached(), 5 * MiB);      /* what the block did not take back */
    for (size_t i = 0; i < MiB / 8; i++)
        REQUIRE(r[i] == i * 7, "word %zu", i);
    memset(r, 0, 12 * MiB);
    dog_free(r);
}
END_TEST

START_TEST(test_huge_grow_copies_into_cached_mapping)
{
    /* a block that grows by more than a third and cannot grow in place moves into a
     * resident cached mapping that fits (a copy) instead of faulting fresh memory */
    dog_trim();
    uint64_t *g = dog_malloc(4 * MiB);
    void *spacer = dog_malloc(4 * MiB);             /* keeps x from following g */
    char *x = dog_malloc(32 * MiB);
    ck_assert(g != NULL && spacer != NULL && x != NULL);
    memset(x, 0x55, 32 * MiB);
    for (size_t i = 0; i < 4 * MiB / 8; i++)
        g[i] = i ^ 0xabc;
    dog_free(x);
    dog_stats_t before, after;
    ck_assert_int_eq(dog_stats(&before), 0);
    uint64_t *r = dog_realloc(g, 24 * MiB);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(dog_stats(&after), 0);
    ck_assert_ptr_eq(r, x);
    ck_assert_uint_eq(after.bytes_mapped, before.bytes_mapped);   /* g went to the cache */
    for (size_t i = 0; i < 4 * MiB / 8; i++)
        REQUIRE(r[i] == (i ^ 0xabc), "word %zu", i);
    memset(r, 0, 24 * MiB);
    dog_free(r);
    dog_free(spacer);
}
END_TEST

/* --- Process-wide stats and trim --- */

START_TEST(test_trim_empties_caches)
{
    void *p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = dog_malloc(2 * MiB + (size_t)i * 4096);
        ck_assert_ptr_nonnull(p[i]);
        memset(p[i], 1, 4096);
    }
    for (int i = 0; i < 8; i++)
        dog_free(p[i]);
    dog_trim();
    dog_stats_t s;
    ck_assert_int_eq(dog_stats(&s), 0);
    ck_assert_uint_eq(s.pool_pages, 0);
    ck_assert_uint_eq(s.huge_cache_bytes, 0);
    ck_assert_uint_ge(s.heaps, 1);
}
END_TEST

START_TEST(test_stats_null_is_einval)
{
    errno = 0;
    ck_assert_int_eq(dog_stats(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_stats_huge_mapped_and_released)
{
    /* a huge block shows in bytes_mapped while live; after free + trim it is gone */
    dog_trim();
    dog_stats_t before, live, after;
    ck_assert_int_eq(dog_stats(&before), 0);
    void *p = dog_malloc(32 * MiB);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(dog_stats(&live), 0);
    ck_assert_uint_ge(live.bytes_mapped, before.bytes_mapped + 32 * MiB);
    dog_free(p);
    dog_trim();
    ck_assert_int_eq(dog_stats(&after), 0);
    ck_assert_uint_le(after.bytes_mapped, before.bytes_mapped);
}
END_TEST

/* A fresh thread fills pages of every cached size class, frees everything and trims:
 * the last blocks it freed sit in its thread cache, and each held a page. */
static void *trim_after_free_all(void *arg)
{
    size_t *mapped = arg;       /* [0] before, [1] after the trim */
    enum { PER_SIZE = 80 };
    static void *v[64][PER_SIZE];
    size_t sizes = 0;
    dog_trim();
    dog_stats_t st;
    if (dog_stats(&st) != 0)
        return NULL;
    mapped[0] = st.bytes_mapped;
    for (size_t size = 16; size <= 16 * KiB && sizes < 64; size += size / 4 + 8, sizes++) {
        for (size_t i = 0; i < PER_SIZE; i++) {
            if ((v[sizes][i] = dog_malloc(size)) == NULL)
                return NULL;
            memset(v[sizes][i], 0x5a, size);
        }
    }
    for (size_t s = 0; s < sizes; s++)
        for (size_t i = 0; i < PER_SIZE; i++)
            dog_free(v[s][i]);
    dog_trim();
    if (dog_stats(&st) != 0)
        return NULL;
    mapped[1] = st.bytes_mapped;
    return arg;
}

START_TEST(test_trim_returns_callers_cached_pages)
{
    size_t mapped[2];
    pthread_t t;
    void *ok = NULL;
    ck_assert_int_eq(pthread_create(&t, NULL, trim_after_free_all, mapped), 0);
    ck_assert_int_eq(pthread_join(t, &ok), 0);
    ck_assert_ptr_eq(ok, mapped);
    /* Before dog_trim flushed the caller's cache, a page per size class stayed (about
     * 20 MiB here); a couple of pages of slack for the thread's own first pages. */
    ck_assert_msg(mapped[1] <= mapped[0] + 2 * 512 * KiB,
                  "bytes_mapped %zu before, %zu after free-all + dog_trim", mapped[0], mapped[1]);
}
END_TEST

Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_version_matches_header);
    tcase_add_test(tc, test_malloc_size_sweep);
    tcase_add_test(tc, test_malloc_alignment_live_blocks);
    tcase_add_test(tc, test_malloc_many_live_distinct);
    tcase_add_test(tc, test_malloc_zero_unique);
    tcase_add_test(tc, test_usable_size_null);
    tcase_add_test(tc, test_free_null);
    tcase_add_test(tc, test_free_sized_accepts_requested_size);
    tcase_add_test(tc, test_free_reuses_memory);
    tcase_add_test(tc, test_calloc_zeroes);
    tcase_add_test(tc, test_calloc_zeroes_reused_memory);
    tcase_add_test(tc, test_realloc_null_is_malloc);
    tcase_add_test(tc, test_realloc_zero_returns_unique_block);
    tcase_add_test(tc, test_realloc_keeps_contents_across_classes);
    tcase_add_test(tc, test_realloc_small_huge_roundtrip);
    tcase_add_test(tc, test_realloc_huge_grow_shrink);
    tcase_add_test(tc, test_realloc_huge_shrink_keeps_prefix);
    tcase_add_test(tc, test_realloc_same_size_and_in_class);
    tcase_add_test(tc, test_reallocarray_works);
    tcase_add_loop_test(tc, test_aligned_alloc_powers_of_two, 0, 21);
    tcase_add_test(tc, test_aligned_alloc_many_live);
    tcase_add_loop_test(tc, test_aligned_alloc_large_alignments, 21, 31);
    tcase_add_test(tc, test_realloc_aligned_blocks);
    tcase_add_test(tc, test_posix_memalign_size_zero);
    tcase_add_loop_test(tc, test_aligned_alloc_size_zero_every_alignment, 0, 22);
    tcase_add_test(tc, test_calloc_zeroes_after_huge_shrink);
    tcase_add_test(tc, test_realloc_huge_grow_after_shrink_keeps_contents);
    tcase_add_test(tc, test_huge_blocks_sizes);
    tcase_add_test(tc, test_huge_blocks_live_together);
    if (!DOG_SECURE_BUILD)      /* the secure build never sorts its free lists */
        tcase_add_test(tc, test_freed_blocks_come_back_in_address_order);
    tcase_add_test(tc, test_own_large_blocks_pages_come_back);
    tcase_add_test(tc, test_huge_cache_splits_and_merges);
    tcase_add_test(tc, test_huge_shrink_caches_tail_and_grow_takes_it_back);
    tcase_add_test(tc, test_huge_grow_copies_into_cached_mapping);
    tcase_add_test(tc, test_trim_empties_caches);
    tcase_add_test(tc, test_trim_returns_callers_cached_pages);
    tcase_add_test(tc, test_stats_null_is_einval);
    tcase_add_test(tc, test_stats_huge_mapped_and_released);
    suite_add_tcase(s, tc);
    return s;
}
