/* SPDX-License-Identifier: MIT */
/* check_options.c: the options: parsing of their values (options.c), dog_option_set/get,
 * and their effects: the misuse policy (misuse.c), the purge delay of the page pool. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "options.h"
#include "suites.h"

#define KiB ((long)1 << 10)
#define MiB ((long)1 << 20)
#define GiB ((long)1 << 30)

/* --- Parsing --- */

START_TEST(test_option_parse_sizes)
{
    static const struct { const char *s; long v; } ok[] = {
        { "0", 0 }, { "4096", 4096 }, { "1K", KiB }, { "1k", KiB }, { "1KB", KiB },
        { "1KiB", KiB }, { "1kib", KiB }, { "64M", 64 * MiB }, { "64MiB", 64 * MiB },
        { "64mb", 64 * MiB }, { "2G", 2 * GiB }, { "3GiB", 3 * GiB }, { "1T", 1024 * GiB },
        { "100B", 100 }, { "8 M", 8 * MiB },
    };
    static const char *const bad[] = { "", "M", "-1", "1X", "1KK", "1.5G", "0x10",
                                       "99999999999999999999", "9000000000000000000K", "1Mi" };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        long v = -7;
        ck_assert_msg(dog__option_parse(DOG_OPTION_LIMIT, ok[i].s, &v), "\"%s\" rejected", ok[i].s);
        ck_assert_msg(v == ok[i].v, "\"%s\" parsed as %ld, want %ld", ok[i].s, v, ok[i].v);
        ck_assert(dog__option_parse(DOG_OPTION_RESERVE, ok[i].s, &v) && v == ok[i].v);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        long v = -7;
        ck_assert_msg(!dog__option_parse(DOG_OPTION_LIMIT, bad[i], &v), "\"%s\" accepted", bad[i]);
    }
}
END_TEST

START_TEST(test_option_parse_words)
{
    long v;
    static const char *const on[] = { "1", "yes", "TRUE", "On" };
    static const char *const off[] = { "0", "no", "false", "OFF", "" };
    for (size_t i = 0; i < 4; i++)
        ck_assert(dog__option_parse(DOG_OPTION_VERBOSE, on[i], &v) && v == 1);
    for (size_t i = 0; i < 5; i++)
        ck_assert(dog__option_parse(DOG_OPTION_SHOW_ERRORS, off[i], &v) && v == 0);
    ck_assert(!dog__option_parse(DOG_OPTION_SHOW_STATS, "2", &v));
    ck_assert(!dog__option_parse(DOG_OPTION_SHOW_STATS, "maybe", &v));
    ck_assert(dog__option_parse(DOG_OPTION_MISUSE, "report", &v) && v == DOG_MISUSE_REPORT);
    ck_assert(dog__option_parse(DOG_OPTION_MISUSE, "Abort", &v) && v == DOG_MISUSE_ABORT);
    ck_assert(!dog__option_parse(DOG_OPTION_MISUSE, "ignore", &v));
    ck_assert(dog__option_parse(DOG_OPTION_THP, "on", &v) && v == DOG_THP_ON);
    ck_assert(dog__option_parse(DOG_OPTION_THP, "madvise", &v) && v == DOG_THP_ON);
    ck_assert(dog__option_parse(DOG_OPTION_THP, "off", &v) && v == DOG_THP_OFF);
    ck_assert(dog__option_parse(DOG_OPTION_THP, "never", &v) && v == DOG_THP_OFF);
    ck_assert(dog__option_parse(DOG_OPTION_THP, "default", &v) && v == DOG_THP_DEFAULT);
    ck_assert(!dog__option_parse(DOG_OPTION_THP, "huge", &v));
    ck_assert(dog__option_parse(DOG_OPTION_PURGE_DELAY, "0", &v) && v == 0);
    ck_assert(dog__option_parse(DOG_OPTION_PURGE_DELAY, "250ms", &v) && v == 250);
    ck_assert(dog__option_parse(DOG_OPTION_PURGE_DELAY, "never", &v) && v == -1);
    ck_assert(dog__option_parse(DOG_OPTION_PURGE_DELAY, "-1", &v) && v == -1);
    ck_assert(!dog__option_parse(DOG_OPTION_PURGE_DELAY, "-2", &v));
    ck_assert(!dog__option_parse(DOG_OPTION_PURGE_DELAY, "5s", &v));
    ck_assert(!dog__option_parse(DOG_OPTION_COUNT, "1", &v));
    ck_assert(!dog__option_parse(DOG_OPTION_LIMIT, NULL, &v));
}
END_TEST

/* --- dog_option_set / dog_option_get --- */

START_TEST(test_option_set_get_runtime)
{
    static const struct { dog_option_t opt; long v; } sets[] = {
        { DOG_OPTION_PURGE_DELAY, 0 }, { DOG_OPTION_PURGE_DELAY, -1 },
        { DOG_OPTION_PURGE_DELAY, 1000 }, { DOG_OPTION_SHOW_ERRORS, 1 },
        { DOG_OPTION_MISUSE, DOG_MISUSE_REPORT }, { DOG_OPTION_MISUSE, DOG_MISUSE_ABORT },
        { DOG_OPTION_VERBOSE, 0 }, { DOG_OPTION_SHOW_ERRORS, 0 },
    };
    dog_free(dog_malloc(16));      /* after the first allocation: these still change */
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
        long old = dog_option_get(sets[i].opt);
        errno = 1234;
        ck_assert_int_eq(dog_option_set(sets[i].opt, sets[i].v), 0);
        ck_assert_int_eq(errno, 1234);
        ck_assert_int_eq(dog_option_get(sets[i].opt), sets[i].v);
        ck_assert_int_eq(errno, 1234);
        ck_assert_int_eq(dog_option_set(sets[i].opt, old), 0);
    }
}
END_TEST

START_TEST(test_option_set_invalid)
{
    errno = 1234;
    ck_assert_int_eq(dog_option_set((dog_option_t)-1, 0), EINVAL);
    ck_assert_int_eq(dog_option_set(DOG_OPTION_COUNT, 0), EINVAL);
    ck_assert_int_eq(dog_option_set(DOG_OPTION_VERBOSE, 2), EINVAL);
    ck_assert_int_eq(dog_option_set(DOG_OPTION_MISUSE, 7), EINVAL);
    ck_assert_int_eq(dog_option_set(DOG_OPTION_PURGE_DELAY, -2), EINVAL);
    ck_assert_int_eq(dog_option_set(DOG_OPTION_THP, 3), EINVAL);
    ck_assert_int_eq(dog_option_set(DOG_OPTION_LIMIT, -1), EINVAL);
    ck_assert_int_eq(errno, 1234);
    ck_assert_int_eq(dog_option_get(DOG_OPTION_COUNT), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(dog_option_get((dog_option_t)99), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* LIMIT, THP and RESERVE are fixed once dogmalloc has allocated (it has: Check itself
 * and this test allocate), and a refused set leaves the value as it was. */
START_TEST(test_option_set_after_start_is_busy)
{
    static const dog_option_t fixed[] = { DOG_OPTION_LIMIT, DOG_OPTION_THP, DOG_OPTION_RESERVE };
    void *p = dog_malloc(32);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        long old = dog_option_get(fixed[i]);
        ck_assert_int_eq(dog_option_set(fixed[i], 1), EBUSY);
        ck_assert_int_eq(dog_option_get(fixed[i]), old);
    }
    dog_free(p);
}
END_TEST

/* The defaults, when the environment sets nothing (make check runs without DOGMALLOC_*). */
START_TEST(test_option_defaults)
{
    if (getenv("DOGMALLOC_PURGE_DELAY") == NULL)
        ck_assert_int_eq(dog_option_get(DOG_OPTION_PURGE_DELAY), 50);
    if (getenv("DOGMALLOC_MISUSE") == NULL)
        ck_assert_int_eq(dog_option_get(DOG_OPTION_MISUSE), DOG_MISUSE_ABORT);
    if (getenv("DOGMALLOC_LIMIT") == NULL)
        ck_assert_int_eq(dog_option_get(DOG_OPTION_LIMIT), 0);
    if (getenv("DOGMALLOC_THP") == NULL)
        ck_assert_int_eq(dog_option_get(DOG_OPTION_THP), DOG_THP_DEFAULT);
}
END_TEST

/* --- The misuse policy: report and continue where that is safe --- */

static void *remote_double_free(void *p)
{
    dog_free(p);
    return NULL;
}

static void *xheap_block(void)
{
    static dog_heap_t *heap;
    if (heap == NULL)
        heap = dog_heap_new(NULL);
    return dog_heap_malloc(heap, 48);
}

/* Each misuse in a child, under MISUSE=report; the child then checks that what the call
 * returns is the documented error, and that the allocator still works, and exits 0.
 * Exit codes above 0 name what went wrong. */
static void misuse_child(void *arg)
{
    int which = (int)(intptr_t)arg;
    char stack[64];
    if (dog_option_set(DOG_OPTION_MISUSE, DOG_MISUSE_REPORT) != 0)
        _exit(2);
    char *p = dog_malloc(64), *big = dog_malloc(3 << 20), *x = xheap_block();
    if (p == NULL || big == NULL || x == NULL)
        _exit(3);
    switch (which) {
    case 0:         /* double free of a small block (thread cache) */
        dog_free(p);
        dog_free(p);
        break;
    case 1:         /* double free of a huge block */
        dog_free(big);
        dog_free(big);
        break;
    case 2:         /* interior pointers */
        dog_free(p + 8);
        dog_free(big + 4096);
        dog_free(p);
        break;
    case 3:         /* not ours */
        dog_free(stack);
        break;
    case 4:         /* double free of an explicit heap's block (through the shard lock) */
        dog_free(x);
        dog_free(x);
        break;
    case 5: {       /* double free from another thread */
        pthread_t t;
        dog_free(x);
        pthread_create(&t, NULL, remote_double_free, x);
        pthread_join(t, NULL);
        break;
    }
    case 6:         /* free_sized with too large a size: skipped, the block stays live */
        dog_free_sized(p, 4096);
        if (dog_usable_size(p) < 64)
            _exit(4);
        p[63] = 1;
        dog_free(p);
        break;
    case 7:         /* realloc and usable_size of what is not a block */
        errno = 0;
        if (dog_realloc(stack, 100) != NULL || errno != EINVAL)
            _exit(5);
        if (dog_usable_size(stack) != 0)
            _exit(6);
        break;
    case 8:         /* destroying dog_default */
        dog_heap_destroy(dog_default);
        break;
    }
    /* The allocator still works: a few thousand blocks of mixed sizes, freed. */
    void *keep[2000];
    for (int i = 0; i < 2000; i++) {
        keep[i] = dog_malloc((size_t)(i % 300) * 8 + 1);
        if (keep[i] == NULL)
            _exit(7);
        memset(keep[i], i, (size_t)(i % 300) * 8 + 1);
    }
    for (int i = 0; i < 2000; i++)
        dog_free(keep[i]);
    _exit(0);
}

START_TEST(test_misuse_report_continues)
{
    char msg[4096];
    int status = death_run(misuse_child, (void *)(intptr_t)_i, msg, sizeof msg);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "case %d: the child did not continue (status %d, signal %d): \"%s\"", _i,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0, msg);
    ck_assert_msg(strstr(msg, "dogmalloc: misuse (reported, continuing): ") != NULL,
                  "case %d: no report: \"%s\"", _i, msg);
}
END_TEST

/* Under MISUSE=abort (set explicitly, whatever the environment says) the same misuse
 * aborts: the report policy is what made the difference above. */
static void double_free_abort(void *arg)
{
    (void)arg;
    dog_option_set(DOG_OPTION_MISUSE, DOG_MISUSE_ABORT);
    void *p = dog_malloc(64);
    dog_free(p);
    dog_free(p);
}

START_TEST(test_misuse_abort_aborts)
{
    ck_assert_dies(double_free_abort, NULL, "double free under MISUSE=abort");
}
END_TEST

/* A free list that links a live block is corruption found inside the allocator: not safe
 * to go on, so even MISUSE=report aborts. Blocks of 32 KiB are above the thread caches'
 * sizes, so the freed block goes on its page's local free list. */
static void corrupt_list(void *arg)
{
    (void)arg;
    dog_option_set(DOG_OPTION_MISUSE, DOG_MISUSE_REPORT);
    dog_heap_t *heap = dog_heap_new(NULL);
    void **p = dog_heap_malloc(heap, 32768), *q = dog_heap_malloc(heap, 32768);
    dog_free(p);
    *p = q;                     /* a write after free: the list now links q, which is live */
    void *again = dog_heap_malloc(heap, 32768);
    void *bad = dog_heap_malloc(heap, 32768);
    (void)again, (void)bad;
    _exit(0);
}

START_TEST(test_misuse_report_corruption_still_aborts)
{
    /* Under ASan the block is poisoned once freed (src/track.h), and ASan stops the
     * write after free itself, before dogmalloc meets the broken list. */
    if (test_asan_poisons())
        death_expect_asan(corrupt_list, NULL, "ERROR: AddressSanitizer: use-after-poison",
                          "write after free under ASan");
    else
        ck_assert_dies(corrupt_list, NULL, "free-list corruption under MISUSE=report");
}
END_TEST

/* --- The purge delay of the page pool --- */

/* How many of the OS pages of [p, p + len) are resident. */
static size_t resident_pages(void *p, size_t len)
{
    unsigned char vec[128];
    size_t n = len / 4096, count = 0;
    ck_assert(n <= sizeof vec);
    ck_assert_int_eq(mincore(p, len, vec), 0);
    for (size_t i = 0; i < n; i++)
        count += vec[i] & 1;
    return count;
}

/* A heap's page filled with 32 touched 4 KiB blocks and destroyed: the page goes to the
 * pool. With the delay at 0 its memory goes back at once (all but the header's OS page);
 * with never it stays resident. */
static size_t pooled_page_resident(long delay)
{
    ck_assert_int_eq(dog_option_set(DOG_OPTION_PURGE_DELAY, delay), 0);
    dog_heap_t *heap = dog_heap_new(NULL);
    char *first = NULL;         /* the lowest: blocks start after the page's metadata */
    for (int i = 0; i < 32; i++) {
        char *b = dog_heap_malloc(heap, 4096);
        ck_assert_ptr_nonnull(b);
        memset(b, 1, 4096);
        if (first == NULL || b < first)
            first = b;
    }
    dog_heap_destroy(heap);
    return resident_pages(first, 32 * 4096);
}

START_TEST(test_option_purge_delay)
{
    long old = dog_option_get(DOG_OPTION_PURGE_DELAY);
    size_t kept = pooled_page_resident(-1), purged = pooled_page_resident(0);
    ck_assert_int_eq(dog_option_set(DOG_OPTION_PURGE_DELAY, old), 0);
    ck_assert_msg(kept >= 30, "PURGE_DELAY=never: %zu of 32 pages resident", kept);
    ck_assert_msg(purged <= 2, "PURGE_DELAY=0: %zu of 32 pages still resident", purged);
}
END_TEST

Suite *options_suite(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_option_parse_sizes);
    tcase_add_test(tc, test_option_parse_words);
    tcase_add_test(tc, test_option_set_get_runtime);
    tcase_add_test(tc, test_option_set_invalid);
    tcase_add_test(tc, test_option_set_after_start_is_busy);
    tcase_add_test(tc, test_option_defaults);
    tcase_add_test(tc, test_option_purge_delay);
    suite_add_tcase(s, tc);
    TCase *misuse = tcase_create("misuse");
    tcase_add_loop_test(misuse, test_misuse_report_continues, 0, 9);
    tcase_add_test(misuse, test_misuse_abort_aborts);
    tcase_add_test(misuse, test_misuse_report_corruption_still_aborts);
    tcase_set_timeout(misuse, 30);
    suite_add_tcase(s, misuse);
    return s;
}
