/* SPDX-License-Identifier: MIT */
/* check_size_class.c: exhaustive unit test of src/size_class.h.
 *
 * Contract: DOG_BIN_COUNT (45) bins; bins 0..4 are 8, 16, 32, 48 and 64 bytes (every
 * block of 16 bytes or more is a multiple of 16, so it can be 16-byte aligned), then
 * 4 classes per doubling up to DOG_SMALL_SIZE_MAX (64 KiB), which is the last bin.
 * dog__wsize(size) = (size + 7) / 8; dog__bin_of(wsize) is the smallest bin whose block
 * holds wsize words; dog__bin_size(bin) is the block size in bytes. */
#include <stddef.h>
#include <stdint.h>

#include "size_class.h"
#include "suites.h"

START_TEST(test_bin_size_roundtrip)        /* _i: bin index from tcase_add_loop_test */
{
    size_t bin = (size_t)_i, wsize = dog__bin_size(bin) / sizeof(void *);
    ck_assert_uint_eq(dog__bin_size(bin) % sizeof(void *), 0);
    ck_assert_uint_eq(dog__bin_of(wsize), bin);                /* a full block stays */
    if (bin + 1 < DOG_BIN_COUNT)
        ck_assert_uint_eq(dog__bin_of(wsize + 1), bin + 1);    /* one word more moves up */
}
END_TEST

START_TEST(test_bin_size_monotone)
{
    size_t bin = (size_t)_i;
    ck_assert_uint_gt(dog__bin_size(bin), 0);
    if (bin + 1 < DOG_BIN_COUNT)
        ck_assert_uint_lt(dog__bin_size(bin), dog__bin_size(bin + 1));
    if (bin > 0) {
        /* the smallest request of this bin is one word above the previous bin */
        size_t first_wsize = dog__bin_size(bin - 1) / sizeof(void *) + 1;
        ck_assert_uint_eq(dog__bin_of(first_wsize), bin);
    }
}
END_TEST

START_TEST(test_bin_size_waste)
{
    size_t bin = (size_t)_i;
    size_t size = dog__bin_size(bin);
    if (bin > 0)
        ck_assert_uint_eq(size % 16, 0);                       /* 16-byte alignable */
    if (bin < 5) {
        ck_assert_uint_eq(size, bin == 0 ? 8 : bin * 16);      /* 8, then 16-byte steps */
        return;
    }
    /* Worst case: the smallest request of the bin, one byte above the previous block. */
    size_t smallest = dog__bin_size(bin - 1) + 1;
    ck_assert_msg(size * 4 <= smallest * 5,
                  "bin %zu: block %zu for a request of %zu bytes wastes more than 25%%",
                  bin, size, smallest);
    /* 4 classes per doubling */
    if (bin + 4 < DOG_BIN_COUNT)
        ck_assert_uint_eq(dog__bin_size(bin + 4), 2 * size);
}
END_TEST

START_TEST(test_bin_last_is_small_max)
{
    ck_assert_uint_eq(DOG_BIN_COUNT, 45);
    ck_assert_uint_eq(DOG_SMALL_SIZE_MAX, 65536);
    ck_assert_uint_eq(dog__bin_size(DOG_BIN_COUNT - 1), DOG_SMALL_SIZE_MAX);
    ck_assert_uint_eq(dog__bin_of(DOG_SMALL_SIZE_MAX / 8), DOG_BIN_COUNT - 1);
    ck_assert_uint_eq(dog__bin_of(1), 0);
    ck_assert_uint_eq(dog__bin_size(0), 8);
}
END_TEST

START_TEST(test_wsize_rounds_up)
{
    for (size_t size = 0; size <= 70000; size++)
        REQUIRE(dog__wsize(size) == (size + 7) / 8, "size %zu", size);
    ck_assert_uint_eq(dog__wsize((size_t)1 << 40), ((size_t)1 << 40) / 8);
}
END_TEST

START_TEST(test_bin_of_smallest_fit)
{
    /* every word size maps to the smallest bin that holds it */
    for (size_t wsize = 1; wsize <= DOG_SMALL_SIZE_MAX / 8; wsize++) {
        size_t bin = dog__bin_of(wsize);
        REQUIRE(bin < DOG_BIN_COUNT, "wsize %zu -> bin %zu", wsize, bin);
        REQUIRE(dog__bin_size(bin) >= wsize * 8, "wsize %zu -> bin %zu of %zu bytes", wsize,
                bin, dog__bin_size(bin));
        if (bin > 0)
            REQUIRE(dog__bin_size(bin - 1) < wsize * 8,
                    "wsize %zu -> bin %zu, but bin %zu (%zu bytes) fits", wsize, bin, bin - 1,
                    dog__bin_size(bin - 1));
    }
}
END_TEST

START_TEST(test_bin_average_waste)
{
    /* averaged over every byte size above 64, waste stays near 12.5% (bound 15%) */
    double waste = 0;
    size_t n = 0;
    for (size_t size = 65; size <= DOG_SMALL_SIZE_MAX; size++, n++) {
        size_t block = dog__bin_size(dog__bin_of(dog__wsize(size)));
        waste += (double)(block - size) / (double)size;
    }
    ck_assert_msg(waste / (double)n <= 0.15, "average waste %.3f", waste / (double)n);
}
END_TEST

START_TEST(test_bin_for_aligned_smallest)
{
    /* the smallest bin that holds size bytes and whose blocks are aligned to align (its
     * size is a multiple of align), or DOG_BIN_COUNT when no bin is */
    for (size_t align = 1; align <= 65536; align *= 2) {
        for (size_t size = 0; size <= DOG_SMALL_SIZE_MAX + 8; size += size < 2048 ? 1 : 61) {
            size_t bin = dog__bin_for_aligned(size, align), want = DOG_BIN_COUNT;
            for (size_t b = 0; b < DOG_BIN_COUNT; b++)
                if (dog__bin_size(b) >= size && dog__bin_size(b) % align == 0) {
                    want = b;
                    break;
                }
            REQUIRE(bin == want, "size %zu align %zu: bin %zu, expected %zu", size, align, bin,
                    want);
        }
    }
}
END_TEST

START_TEST(test_bin_direct_table)
{
    /* the fast path's table agrees with dog__bin_of for every word size up to 16 KiB */
    for (size_t wsize = 1; wsize <= DOG_BIN_TABLE_WSIZE_MAX; wsize++)
        REQUIRE(dog__bin_direct[wsize] == dog__bin_of(wsize), "wsize %zu: table %u, bin_of %zu",
                wsize, (unsigned)dog__bin_direct[wsize], dog__bin_of(wsize));
    ck_assert_uint_eq(dog__bin_direct[0], 0);   /* malloc(0) */
}
END_TEST

Suite *size_class_suite(void)
{
    Suite *s = suite_create("size_class");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);                  /* exhaustive sweeps; sanitizers, valgrind */
    tcase_add_loop_test(tc, test_bin_size_roundtrip, 0, DOG_BIN_COUNT);   /* forks per _i */
    tcase_add_loop_test(tc, test_bin_size_monotone, 0, DOG_BIN_COUNT);
    tcase_add_loop_test(tc, test_bin_size_waste, 0, DOG_BIN_COUNT);
    tcase_add_test(tc, test_bin_last_is_small_max);
    tcase_add_test(tc, test_wsize_rounds_up);
    tcase_add_test(tc, test_bin_of_smallest_fit);
    tcase_add_test(tc, test_bin_average_waste);
    tcase_add_test(tc, test_bin_for_aligned_smallest);
    tcase_add_test(tc, test_bin_direct_table);
    suite_add_tcase(s, tc);
    return s;
}
