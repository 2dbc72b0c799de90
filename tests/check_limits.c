/* SPDX-License-Identifier: MIT */
/* check_limits.c: requests beyond what the machine has fail as glibc's do (NULL, ENOMEM),
 * and the address map holds memory for what is mapped, not for the addresses once used. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "segmap.h"
#include "suites.h"

/* /proc/sys/vm/overcommit_memory: 0 heuristic (the default), 1 always, 2 strict. */
static int overcommit_mode(void)
{
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int mode = -1;
    if (f != NULL) {
        if (fscanf(f, "%d", &mode) != 1)
            mode = -1;
        fclose(f);
    }
    return mode;
}

/* RAM plus swap, in bytes, from /proc/meminfo. */
static size_t memory_total(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    size_t total = 0, kb;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "MemTotal: %zu kB", &kb) == 1 || sscanf(line, "SwapTotal: %zu kB", &kb) == 1)
            total += kb << 10;
    if (f != NULL)
        fclose(f);
    return total;
}

static void expect_enomem(void *p, const char *call, size_t size)
{
    int err = errno;
    if (p != NULL)
        dog_free(p);
    ck_assert_msg(p == NULL && err == ENOMEM, "%s(%zu) = %p, errno %d: expected NULL/ENOMEM",
                  call, size, p, err);
}

/* 2^36 .. 2^46 bytes through every entry point: the kernel's overcommit policy refuses
 * a mapping that large (mode 0 refuses one beyond RAM + swap; mode 2 beyond the commit
 * limit), and dogmalloc passes that on. Under mode 1 ("always overcommit") the kernel
 * grants anything, as it does to glibc's malloc, so there is nothing to check. */
START_TEST(test_limits_absurd_sizes_fail)
{
    int mode = overcommit_mode();
    if (mode == 1) {
        fprintf(stderr, "check_limits: vm.overcommit_memory = 1: the kernel grants any size\n");
        return;
    }
    size_t total = memory_total();
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "absurd" });
    ck_assert_ptr_nonnull(h);
    void *small = dog_malloc(100);
    ck_assert_ptr_nonnull(small);
    size_t checked = 0;
    for (unsigned k = 36; k <= 46; k++) {
        size_t size = (size_t)1 << k;
        if (size < 2 * total)
            continue;           /* a machine this large may grant it */
        checked++;
        errno = 0;
        expect_enomem(dog_malloc(size), "dog_malloc", size);
        errno = 0;
        expect_enomem(dog_calloc(size / 16, 16), "dog_calloc", size);
        errno = 0;
        expect_enomem(dog_aligned_alloc(1 << 20, size), "dog_aligned_alloc", size);
        void *q = NULL;
        ck_assert_int_eq(dog_posix_memalign(&q, 4096, size), ENOMEM);
        ck_assert_ptr_null(q);
        errno = 0;
        expect_enomem(dog_heap_malloc(h, size), "dog_heap_malloc", size);
        errno = 0;
        void *r = dog_realloc(small, size);
        expect_enomem(r, "dog_realloc", size);
        ck_assert_uint_ge(dog_usable_size(small), 100);    /* untouched */
    }
    ck_assert_msg(checked > 0, "no size of 2^36..2^46 exceeds twice RAM + swap (%zu)", total);
    dog_free(small);
    dog_heap_destroy(h);
}
END_TEST

/* A failed absurd request leaves nothing behind: neither mapped bytes nor resident
 * memory (the address map once kept the leaves for its whole span: 160 MB after one
 * malloc(2^46)). */
START_TEST(test_limits_absurd_request_leaves_nothing)
{
    dog_trim();
    dog_stats_t before, after;
    ck_assert_int_eq(dog_stats(&before), 0);
    size_t rss_before = test_resident_bytes();
    for (unsigned k = 36; k <= 46; k++) {
        void *p = dog_malloc((size_t)1 << k);
        if (p != NULL)
            dog_free(p);        /* mode 1: granted; its map entries must go again */
    }
    dog_trim();
    ck_assert_int_eq(dog_stats(&after), 0);
    ck_assert_msg(after.bytes_mapped <= before.bytes_mapped + (1u << 20),
                  "mapped bytes %zu -> %zu after absurd requests", before.bytes_mapped,
                  after.bytes_mapped);
    size_t rss_after = test_resident_bytes();
    ck_assert_msg(rss_after <= rss_before + (8u << 20),
                  "resident size %zu -> %zu after absurd requests", rss_before, rss_after);
}
END_TEST

/* Marking frames far apart (here 64 GiB of addresses, as a huge block of that size would
 * under overcommit mode 1) maps the map's leaves for them and counts them in
 * bytes_mapped; clearing them gives the leaves' memory back. Through the internal API,
 * on addresses nothing is mapped at (the map never reads the memory it describes). */
START_TEST(test_limits_segmap_leaves_come_back)
{
    const size_t leaf_span = (size_t)1 << (DOG_SEGMAP_LEAF_BITS + DOG_PAGE_SHIFT);  /* 32 GiB */
    const size_t leaf_bytes = (size_t)1 << DOG_SEGMAP_LEAF_BITS;
    /* Two whole leaves high in the address space, away from anything of ours. */
    uintptr_t base = (uintptr_t)0x7e0000000000ull;
    ck_assert_uint_eq(base % leaf_span, 0);
    ck_assert_uint_eq(dog__segmap_kind((void *)base), DOG_FRAME_NONE);
    dog_stats_t s0, s1, s2;
    ck_assert_int_eq(dog_stats(&s0), 0);
    ck_assert(dog__segmap_set((void *)base, 2 * leaf_span, DOG_FRAME_HUGE, DOG_FRAME_HUGE_CONT));
    ck_assert_uint_eq(dog__segmap_kind((void *)base), DOG_FRAME_HUGE);
    ck_assert_uint_eq(dog__segmap_kind((void *)(base + leaf_span + 12345)), DOG_FRAME_HUGE_CONT);
    ck_assert_int_eq(dog_stats(&s1), 0);
    ck_assert_uint_eq(s1.bytes_mapped - s0.bytes_mapped, 2 * leaf_bytes);
    /* Re-marking part of it (a split) counts nothing twice. */
    ck_assert(dog__segmap_set((void *)(base + leaf_span), DOG_PAGE_SIZE, DOG_FRAME_HUGE,
                              DOG_FRAME_HUGE_CONT));
    ck_assert(dog__segmap_set((void *)base, 2 * leaf_span, DOG_FRAME_NONE, DOG_FRAME_NONE));
    ck_assert_uint_eq(dog__segmap_kind((void *)(base + leaf_span)), DOG_FRAME_NONE);
    ck_assert_int_eq(dog_stats(&s2), 0);
    ck_assert_uint_eq(s2.bytes_mapped, s0.bytes_mapped);
    /* And the leaves' memory is no longer resident. */
    _Atomic uint8_t *leaf = dog__segmap_top[base >> (DOG_SEGMAP_LEAF_BITS + DOG_PAGE_SHIFT)];
    ck_assert_ptr_nonnull((void *)leaf);
    unsigned char vec[16];
    size_t os_pages = leaf_bytes / (size_t)sysconf(_SC_PAGESIZE);
    ck_assert_uint_le(os_pages, sizeof vec);
    ck_assert_int_eq(mincore((void *)leaf, leaf_bytes, vec), 0);
    for (size_t i = 0; i < os_pages; i++)
        ck_assert_msg((vec[i] & 1) == 0, "leaf page %zu still resident after its last entry went",
                      i);
}
END_TEST

Suite *limits_suite(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("limits");
    tcase_add_test(tc, test_limits_absurd_sizes_fail);
    tcase_add_test(tc, test_limits_absurd_request_leaves_nothing);
    tcase_add_test(tc, test_limits_segmap_leaves_come_back);
    suite_add_tcase(s, tc);
    return s;
}
