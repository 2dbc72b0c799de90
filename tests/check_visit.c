/* SPDX-License-Identifier: MIT */
/* check_visit.c: dog_heap_visit (every live block once, no free one: not cached, not
 * waiting on a thread free list) and the leak report (DOG_HEAP_LEAK_REPORT, on_leak,
 * DOGMALLOC_LEAK_REPORT at exit). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "suites.h"

/* What a visit saw: every block, so that a test can match them against what it holds. */
typedef struct seen {
    const dog_heap_t *heap;
    void **blocks;
    size_t *usable;
    size_t count, cap;
    size_t wrong_heap;
} seen_t;

static void record(const dog_heap_t *heap, void *block, size_t usable, void *arg)
{
    seen_t *s = arg;
    if (heap != s->heap)
        s->wrong_heap++;
    if (s->count < s->cap) {
        s->blocks[s->count] = block;
        s->usable[s->count] = usable;
    }
    s->count++;
}

static seen_t seen_new(const dog_heap_t *heap, size_t cap)
{
    seen_t s = { .heap = heap, .cap = cap };
    s.blocks = malloc(cap * sizeof *s.blocks);
    s.usable = malloc(cap * sizeof *s.usable);
    ck_assert(s.blocks != NULL && s.usable != NULL);
    return s;
}

static void seen_free(seen_t *s)
{
    free(s->blocks);
    free(s->usable);
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return x < y ? -1 : x > y;
}

/* The visit of heap saw exactly the n blocks of want (in any order), each once, with its
 * usable size. */
static void expect_visit(dog_heap_t *heap, void **want, size_t n)
{
    seen_t s = seen_new(heap, n + 64);
    ck_assert_int_eq(dog_heap_visit(heap, record, &s), 0);
    ck_assert_uint_eq(s.wrong_heap, 0);
    ck_assert_uint_eq(s.count, n);
    for (size_t i = 0; i < n; i++)
        REQUIRE(s.usable[i] == dog_usable_size(s.blocks[i]), "block %p: usable %zu, not %zu",
                s.blocks[i], s.usable[i], dog_usable_size(s.blocks[i]));
    void **sorted = malloc((n + 1) * sizeof *sorted);
    ck_assert_ptr_nonnull(sorted);
    memcpy(sorted, want, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_ptr);
    qsort(s.blocks, n, sizeof *s.blocks, cmp_ptr);
    for (size_t i = 0; i < n; i++)
        REQUIRE(sorted[i] == s.blocks[i], "visit %zu: saw %p, holds %p", i, s.blocks[i],
                sorted[i]);
    free(sorted);
    seen_free(&s);
}

/* A size for block i: every small class often, a few over-aligned and a few huge. */
static void *alloc_mixed(dog_heap_t *h, size_t i)
{
    if (i % 97 == 0)
        return dog_heap_malloc(h, 300000 + i);                  /* huge */
    if (i % 31 == 0)
        return dog_heap_aligned_alloc(h, 4096, 100 + i % 5000); /* over-aligned */
    return dog_heap_malloc(h, 1 + (i * 37) % 20000);
}

START_TEST(test_visit_sees_every_live_block_once)
{
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "visit" });
    ck_assert_ptr_nonnull(h);
    expect_visit(h, NULL, 0);
    enum { N = 3000 };
    void **p = malloc(N * sizeof *p);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < N; i++) {
        p[i] = alloc_mixed(h, i);
        ck_assert_ptr_nonnull(p[i]);
    }
    expect_visit(h, p, N);
    /* Free every third block: most go to this thread's cache, the rest to the shards. */
    size_t kept = 0;
    for (size_t i = 0; i < N; i++) {
        if (i % 3 == 0)
            dog_free(p[i]);
        else
            p[kept++] = p[i];
    }
    expect_visit(h, p, kept);
    ck_assert_uint_eq(test_heap_stats(h).blocks_in_use, kept);
    dog_heap_destroy(h);
    free(p);
}
END_TEST

/* Blocks in this thread's cache are free: a visit must not hand them over. */
START_TEST(test_visit_skips_cached_blocks)
{
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    void *keep[8], *gone[8];
    for (int i = 0; i < 8; i++) {
        keep[i] = dog_heap_malloc(h, 48);
        gone[i] = dog_heap_malloc(h, 48);
    }
    for (int i = 0; i < 8; i++)
        dog_free(gone[i]);
    expect_visit(h, keep, 8);
    for (int i = 0; i < 8; i++)
        dog_free(keep[i]);
    expect_visit(h, NULL, 0);
    dog_heap_destroy(h);
}
END_TEST

typedef struct span {
    void **p;
    size_t from, to;
} span_t;

static void *free_span(void *arg)
{
    span_t *s = arg;
    for (size_t i = s->from; i < s->to; i++)
        dog_free(s->p[i]);
    return NULL;
}

/* Blocks that another thread freed wait on their page's thread free list until the
 * owner collects them: free already, never visited. */
START_TEST(test_visit_skips_blocks_freed_by_other_threads)
{
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    enum { N = 2000 };
    void **p = malloc(N * sizeof *p);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < N; i++)
        p[i] = dog_heap_malloc(h, 16 + (i % 64) * 16);
    /* The second half freed by four other threads at once. */
    pthread_t t[4];
    span_t spans[4];
    for (int k = 0; k < 4; k++) {
        spans[k] = (span_t){ p, N / 2 + (size_t)k * N / 8, N / 2 + (size_t)(k + 1) * N / 8 };
        ck_assert_int_eq(pthread_create(&t[k], NULL, free_span, &spans[k]), 0);
    }
    for (int k = 0; k < 4; k++)
        pthread_join(t[k], NULL);
    expect_visit(h, p, N / 2);
    dog_heap_destroy(h);
    free(p);
}
END_TEST

static void free_it(const dog_heap_t *heap, void *block, size_t usable, void *arg)
{
    (void)heap;
    (void)usable;
    memset(block, 0xee, 1);         /* the block is the program's */
    dog_free(block);
    (*(size_t *)arg)++;
}

/* The visitor runs with no lock held: it may free the block it is given (and allocate,
 * which dog_free's cache flushes and refills do underneath). */
START_TEST(test_visit_fn_may_free_its_block)
{
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    enum { N = 5000 };
    for (size_t i = 0; i < N; i++)
        ck_assert_ptr_nonnull(alloc_mixed(h, i));
    size_t freed = 0;
    ck_assert_int_eq(dog_heap_visit(h, free_it, &freed), 0);
    ck_assert_uint_eq(freed, N);
    dog_heap_stats_t st = test_heap_stats(h);
    ck_assert_uint_eq(st.blocks_in_use, 0);
    ck_assert_uint_eq(st.huge_blocks, 0);
    expect_visit(h, NULL, 0);
    dog_heap_destroy(h);
}
END_TEST

/* dog_default is visited like any heap: it holds this test's dog_malloc blocks. */
typedef struct find {
    void *const *want;
    size_t n, found;
} find_t;

static void find_ours(const dog_heap_t *heap, void *block, size_t usable, void *arg)
{
    (void)usable;
    find_t *f = arg;
    ck_assert_ptr_eq(heap, dog_default);
    for (size_t i = 0; i < f->n; i++)
        if (f->want[i] == block)
            f->found++;
}

START_TEST(test_visit_default_heap)
{
    void *p[5] = { dog_malloc(24), dog_malloc(1000), dog_malloc(1 << 20),
                   dog_aligned_alloc(256, 300), dog_calloc(3, 50) };
    for (int i = 0; i < 5; i++)
        ck_assert_ptr_nonnull(p[i]);
    find_t f = { p, 5, 0 };
    ck_assert_int_eq(dog_heap_visit(dog_default, find_ours, &f), 0);
    ck_assert_uint_eq(f.found, 5);
    dog_free(p[1]);
    f.found = 0;
    ck_assert_int_eq(dog_heap_visit(dog_default, find_ours, &f), 0);
    ck_assert_uint_eq(f.found, 4);
    for (int i = 0; i < 5; i++)
        if (i != 1)
            dog_free(p[i]);
}
END_TEST

static void count_only(const dog_heap_t *heap, void *block, size_t usable, void *arg)
{
    (void)heap;
    (void)block;
    (void)usable;
    (*(size_t *)arg)++;
}

START_TEST(test_visit_bad_arguments)
{
    size_t n = 0;
    errno = 0;
    ck_assert_int_eq(dog_heap_visit(NULL, count_only, &n), -1);
    ck_assert_int_eq(errno, EINVAL);
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    errno = 0;
    ck_assert_int_eq(dog_heap_visit(h, NULL, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    dog_heap_destroy(h);
    ck_assert_uint_eq(n, 0);
}
END_TEST

static void visit_dead(void *h)
{
    size_t n = 0;
    dog_heap_visit(h, count_only, &n);
}

START_TEST(test_visit_dead_heap_reported)
{
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    dog_heap_destroy(h);
    ck_assert_dies_naming(visit_dead, h, h, "dog_heap_visit(destroyed heap)");
}
END_TEST

/* Other threads allocate, fill, check and free in their own heaps while this thread
 * visits a heap of its own over and over: the visits stay exact (and TSan clean). */
typedef struct churn {
    _Atomic int *stop;
    size_t bad;
} churn_t;

static void *churn_own_heap(void *arg)
{
    churn_t *c = arg;
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "churn" });
    if (h == NULL) {
        c->bad++;
        return NULL;
    }
    void *slots[64] = { 0 };
    size_t sizes[64] = { 0 };
    for (size_t i = 0; !atomic_load_explicit(c->stop, memory_order_relaxed); i++) {
        size_t k = (i * 7) % 64;
        if (slots[k] != NULL) {
            if (pattern_check(slots[k], sizes[k]) != SIZE_MAX)
                c->bad++;
            dog_free(slots[k]);
        }
        sizes[k] = 8 + (i * 131) % 3000;
        slots[k] = i % 2 ? dog_heap_malloc(h, sizes[k]) : dog_malloc(sizes[k]);
        if (slots[k] == NULL)
            c->bad++;
        else
            pattern_fill(slots[k], sizes[k]);
    }
    for (int k = 0; k < 64; k++)
        dog_free(slots[k]);
    dog_heap_destroy(h);
    return NULL;
}

START_TEST(test_visit_while_other_heaps_churn)
{
    enum { THREADS = 6, N = 500 };
    _Atomic int stop = 0;
    churn_t c[THREADS];
    pthread_t t[THREADS];
    for (int k = 0; k < THREADS; k++) {
        c[k] = (churn_t){ &stop, 0 };
        ck_assert_int_eq(pthread_create(&t[k], NULL, churn_own_heap, &c[k]), 0);
    }
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    void *p[N];
    for (size_t i = 0; i < N; i++)
        p[i] = alloc_mixed(h, i + 1);
    size_t rounds = test_scaled(200);
    for (size_t r = 0; r < rounds; r++) {
        size_t n = 0;
        REQUIRE(dog_heap_visit(h, count_only, &n) == 0 && n == N, "round %zu: %zu blocks",
                r, n);
    }
    atomic_store(&stop, 1);
    for (int k = 0; k < THREADS; k++) {
        pthread_join(t[k], NULL);
        ck_assert_uint_eq(c[k].bad, 0);
    }
    expect_visit(h, p, N);
    dog_heap_destroy(h);
}
END_TEST

/* Blocks allocated by many threads (so over several shards) and left live. */
static void *alloc_into(void *arg)
{
    span_t *s = arg;
    dog_heap_t *h = s->p[0];
    for (size_t i = s->from; i < s->to; i++)
        s->p[i] = dog_heap_malloc(h, 16 + (i % 200) * 8);
    return NULL;
}

START_TEST(test_visit_blocks_of_many_threads)
{
    enum { THREADS = 8, PER = 1000, N = 1 + THREADS * PER };
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    void **p = malloc(N * sizeof *p);
    ck_assert_ptr_nonnull(p);
    p[0] = h;
    pthread_t t[THREADS];
    span_t s[THREADS];
    for (int k = 0; k < THREADS; k++) {
        s[k] = (span_t){ p, 1 + (size_t)k * PER, 1 + (size_t)(k + 1) * PER };
        ck_assert_int_eq(pthread_create(&t[k], NULL, alloc_into, &s[k]), 0);
    }
    for (int k = 0; k < THREADS; k++)
        pthread_join(t[k], NULL);
    expect_visit(h, p + 1, N - 1);
    dog_heap_destroy(h);
    free(p);
}
END_TEST

/* --- The leak report ------------------------------------------------------------------ */

static void leak_three(void *unused)
{
    (void)unused;
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "parser",
                                                         .flags = DOG_HEAP_LEAK_REPORT });
    if (h == NULL)
        _exit(3);
    void *a = dog_heap_malloc(h, 16), *b = dog_heap_malloc(h, 16), *c = dog_heap_malloc(h, 100);
    void *d = dog_heap_malloc(h, 1 << 20);
    dog_free(dog_heap_malloc(h, 10));       /* freed: not a leak */
    fprintf(stderr, "blocks %p %p %p %p\n", a, b, c, d);
    dog_heap_destroy(h);
    _exit(0);
}

START_TEST(test_leak_report_on_destroy)
{
    char msg[4096];
    int status = death_run(leak_three, NULL, msg, sizeof msg);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, msg);
    void *a, *b, *c, *d;
    ck_assert_int_eq(sscanf(msg, "blocks %p %p %p %p", &a, &b, &c, &d), 4);
    const char *report = strstr(msg, "dogmalloc: leak report of heap \"parser\" at "
                                     "dog_heap_destroy: 4 live blocks, ");
    ck_assert_msg(report != NULL, "no report: %s", msg);
    /* Rows by size: 16 bytes (two blocks), the class of 100 bytes, then huge. */
    char row[128];
    /* Addresses in address order (the secure build hands out a page's blocks shuffled). */
    snprintf(row, sizeof row, "%10s %10d %14d  %p %p\n", "16", 2, 32, a < b ? a : b, a < b ? b : a);
    ck_assert_msg(strstr(report, row) != NULL, "no row \"%s\" in: %s", row, report);
    snprintf(row, sizeof row, "%10zu %10d %14zu  %p\n", dog_good_size(100), 1,
             dog_good_size(100), c);
    ck_assert_msg(strstr(report, row) != NULL, "no row \"%s\" in: %s", row, report);
    char *huge = strstr(report, "      huge          1 ");
    ck_assert_msg(huge != NULL && huge > strstr(report, row), "huge row missing or not last: %s",
                  report);
}
END_TEST

static void leak_none(void *unused)
{
    (void)unused;
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .flags = DOG_HEAP_LEAK_REPORT });
    if (h == NULL)
        _exit(3);
    for (int i = 0; i < 100; i++)
        dog_free(dog_heap_malloc(h, (size_t)i * 40));
    dog_heap_destroy(h);
    _exit(0);
}

START_TEST(test_leak_report_silent_when_clean)
{
    char msg[4096];
    int status = death_run(leak_none, NULL, msg, sizeof msg);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    ck_assert_msg(msg[0] == '\0', "unexpected output: %s", msg);
}
END_TEST

typedef struct leaks {
    size_t blocks, bytes;
    const dog_heap_t *heap;
} leaks_t;

static void on_leak(const dog_heap_t *heap, void *block, size_t usable, void *arg)
{
    leaks_t *l = arg;
    ck_assert_ptr_eq(heap, l->heap);
    ck_assert_uint_eq(usable, dog_usable_size(block));
    l->blocks++;
    l->bytes += usable;
}

START_TEST(test_leak_report_handler)
{
    leaks_t l = { 0 };
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .flags = DOG_HEAP_LEAK_REPORT,
                                                         .on_leak = on_leak,
                                                         .on_leak_arg = &l });
    ck_assert_ptr_nonnull(h);
    l.heap = h;
    size_t bytes = 0;
    for (size_t i = 0; i < 500; i++) {
        void *p = alloc_mixed(h, i + 1);
        ck_assert_ptr_nonnull(p);
        if (i % 2)
            dog_free(p);
        else
            bytes += dog_usable_size(p);
    }
    dog_heap_destroy(h);
    ck_assert_uint_eq(l.blocks, 250);
    ck_assert_uint_eq(l.bytes, bytes);
}
END_TEST

/* A handler without the flag is never called: the flag (or the option) asks for it. */
START_TEST(test_leak_handler_needs_the_flag)
{
    leaks_t l = { 0 };
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .on_leak = on_leak, .on_leak_arg = &l });
    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_nonnull(dog_heap_malloc(h, 40));
    dog_heap_destroy(h);
    ck_assert_uint_eq(l.blocks, 0);
}
END_TEST

START_TEST(test_leak_unknown_flag_refused)
{
    errno = 0;
    ck_assert_ptr_null(dog_heap_new(&(dog_heap_options_t){ .flags = 0x80 }));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* DOGMALLOC_LEAK_REPORT=1 (here dog_option_set): every heap reports at destroy, and the
 * heaps still live report at exit, dog_default among them. */
static void leak_at_exit(void *unused)
{
    (void)unused;
    if (dog_option_set(DOG_OPTION_LEAK_REPORT, 1) != 0)
        _exit(3);
    dog_heap_t *gone = dog_heap_new(&(dog_heap_options_t){ .name = "gone" });
    dog_heap_t *kept = dog_heap_new(&(dog_heap_options_t){ .name = "kept" });
    if (gone == NULL || kept == NULL)
        _exit(4);
    if (dog_heap_malloc(gone, 64) == NULL)
        _exit(5);
    dog_heap_destroy(gone);
    fprintf(stderr, "destroyed\n");
    if (dog_heap_malloc(kept, 64) == NULL || dog_heap_malloc(kept, 64) == NULL ||
        dog_malloc(200) == NULL)
        _exit(6);
    exit(0);                        /* destructors run: the report at exit */
}

START_TEST(test_leak_report_at_exit)
{
    char msg[8192];
    int status = death_run(leak_at_exit, NULL, msg, sizeof msg);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, msg);
    const char *gone = strstr(msg, "leak report of heap \"gone\" at dog_heap_destroy: 1 live "
                                   "blocks, 64 bytes");
    const char *mark = strstr(msg, "destroyed\n");
    const char *kept = strstr(msg, "leak report of heap \"kept\" at exit: 2 live blocks, 128 "
                                   "bytes");
    const char *def = strstr(msg, "leak report of heap \"default\" at exit: ");
    ck_assert_msg(gone != NULL && mark != NULL && gone < mark, "no report at destroy: %s", msg);
    ck_assert_msg(kept != NULL && kept > mark, "no report of \"kept\" at exit: %s", msg);
    ck_assert_msg(def != NULL && def > mark, "no report of dog_default at exit: %s", msg);
}
END_TEST

Suite *visit_suite(void)
{
    Suite *s = suite_create("visit");
    TCase *tc = tcase_create("visit");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_visit_sees_every_live_block_once);
    tcase_add_test(tc, test_visit_skips_cached_blocks);
    tcase_add_test(tc, test_visit_skips_blocks_freed_by_other_threads);
    tcase_add_test(tc, test_visit_fn_may_free_its_block);
    tcase_add_test(tc, test_visit_default_heap);
    tcase_add_test(tc, test_visit_bad_arguments);
    tcase_add_test(tc, test_visit_dead_heap_reported);
    tcase_add_test(tc, test_visit_while_other_heaps_churn);
    tcase_add_test(tc, test_visit_blocks_of_many_threads);
    suite_add_tcase(s, tc);
    TCase *leak = tcase_create("leak");
    tcase_add_test(leak, test_leak_report_on_destroy);
    tcase_add_test(leak, test_leak_report_silent_when_clean);
    tcase_add_test(leak, test_leak_report_handler);
    tcase_add_test(leak, test_leak_handler_needs_the_flag);
    tcase_add_test(leak, test_leak_unknown_flag_refused);
    tcase_add_test(leak, test_leak_report_at_exit);
    suite_add_tcase(s, leak);
    return s;
}
