/* SPDX-License-Identifier: MIT */
/* check_delete.c: dog_heap_delete retires a heap without freeing: its live blocks become
 * dog_default's, stay intact and may be freed by any thread; the free blocks that caches
 * held for it are taken back; children go with it; bad handles are reported. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

typedef struct held {
    void *p;
    size_t size;
} held_t;

static size_t mixed_size(size_t i)
{
    if (i % 101 == 0)
        return 200 * KiB + i;                       /* huge */
    return 1 + (i * 53) % 9000;
}

static void fill(held_t *b, dog_heap_t *h, size_t i)
{
    b->size = mixed_size(i);
    b->p = i % 37 == 0 ? dog_heap_aligned_alloc(h, 4096, b->size) : dog_heap_malloc(h, b->size);
    ck_assert_ptr_nonnull(b->p);
    pattern_fill(b->p, b->size);
}

static void expect_adopted(held_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i].p == NULL)
            continue;
        REQUIRE(pattern_check(b[i].p, b[i].size) == SIZE_MAX, "block %zu lost its contents", i);
        REQUIRE(dog_heap_of(b[i].p) == dog_default, "block %zu: heap %p", i,
                (void *)dog_heap_of(b[i].p));
        REQUIRE(dog_heap_contains(dog_default, b[i].p), "block %zu not in dog_default", i);
    }
}

START_TEST(test_delete_blocks_move_to_default)
{
    dog_heap_stats_t before = test_heap_stats(dog_default);
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "retired" });
    ck_assert_ptr_nonnull(h);
    enum { N = 3000 };
    held_t *b = calloc(N, sizeof *b);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < N; i++)
        fill(&b[i], h, i);
    size_t live = 0, bytes = 0;
    for (size_t i = 0; i < N; i++) {
        if (i % 3 == 0) {                           /* freed: into this thread's cache */
            dog_free(b[i].p);
            b[i].p = NULL;
        } else {
            live++;
            bytes += dog_usable_size(b[i].p);
        }
    }
    dog_heap_delete(h);
    expect_adopted(b, N);
    dog_heap_stats_t after = test_heap_stats(dog_default);
    ck_assert_uint_eq(after.blocks_in_use, before.blocks_in_use + live);
    ck_assert_uint_eq(after.bytes_in_use, before.bytes_in_use + bytes);
    /* New dog_malloc blocks come from wherever dog_default has room, adopted pages
     * included, and never overlap the adopted blocks. */
    held_t *more = calloc(N, sizeof *more);
    ck_assert_ptr_nonnull(more);
    for (size_t i = 0; i < N; i++) {
        more[i].size = mixed_size(i + 7);
        more[i].p = dog_malloc(more[i].size);
        ck_assert_ptr_nonnull(more[i].p);
        pattern_fill(more[i].p, more[i].size);
    }
    expect_adopted(b, N);
    expect_adopted(more, N);
    for (size_t i = 0; i < N; i++) {
        dog_free(b[i].p);
        dog_free(more[i].p);
    }
    after = test_heap_stats(dog_default);
    ck_assert_uint_eq(after.blocks_in_use, before.blocks_in_use);
    ck_assert_uint_eq(after.bytes_in_use, before.bytes_in_use);
    free(b);
    free(more);
}
END_TEST

/* Other threads allocated from the heap and hold freed blocks of it in their caches while
 * they wait: the delete takes those back (no page stays held for them), and the adopted
 * blocks are freed afterwards by yet other threads. */
enum { THREADS = 8, PER = 600 };

typedef struct worker {
    dog_heap_t *heap;
    held_t blocks[PER];
    pthread_barrier_t *go, *deleted;
} worker_t;

static void *use_then_wait(void *arg)
{
    worker_t *w = arg;
    for (size_t i = 0; i < PER; i++)
        fill(&w->blocks[i], w->heap, i * 3 + 1);
    for (size_t i = 0; i < PER; i += 2) {           /* half into this thread's cache */
        dog_free(w->blocks[i].p);
        w->blocks[i].p = NULL;
    }
    pthread_barrier_wait(w->go);                    /* the main thread deletes now */
    pthread_barrier_wait(w->deleted);
    return NULL;
}

static void *free_other(void *arg)
{
    worker_t *w = arg;
    for (size_t i = 0; i < PER; i++) {
        if (w->blocks[i].p != NULL && pattern_check(w->blocks[i].p, w->blocks[i].size) != SIZE_MAX)
            return (void *)1;
        dog_free(w->blocks[i].p);
    }
    return NULL;
}

START_TEST(test_delete_takes_back_other_threads_caches)
{
    dog_heap_stats_t before = test_heap_stats(dog_default);
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "shared" });
    ck_assert_ptr_nonnull(h);
    pthread_barrier_t go, deleted;
    pthread_barrier_init(&go, NULL, THREADS + 1);
    pthread_barrier_init(&deleted, NULL, THREADS + 1);
    static worker_t w[THREADS];
    pthread_t t[THREADS];
    for (int k = 0; k < THREADS; k++) {
        w[k].heap = h;
        w[k].go = &go;
        w[k].deleted = &deleted;
        ck_assert_int_eq(pthread_create(&t[k], NULL, use_then_wait, &w[k]), 0);
    }
    pthread_barrier_wait(&go);
    dog_heap_stats_t hs = test_heap_stats(h);
    ck_assert_uint_eq(hs.blocks_in_use, (size_t)THREADS * PER / 2);
    dog_heap_delete(h);
    dog_heap_stats_t after = test_heap_stats(dog_default);
    ck_assert_uint_eq(after.blocks_in_use, before.blocks_in_use + hs.blocks_in_use);
    ck_assert_uint_eq(after.bytes_in_use, before.bytes_in_use + hs.bytes_in_use);
    pthread_barrier_wait(&deleted);
    for (int k = 0; k < THREADS; k++)
        pthread_join(t[k], NULL);
    /* The adopted blocks, freed by threads that never saw the heap. */
    for (int k = 0; k < THREADS; k++)
        ck_assert_int_eq(pthread_create(&t[k], NULL, free_other, &w[(k + 1) % THREADS]), 0);
    for (int k = 0; k < THREADS; k++) {
        void *bad;
        pthread_join(t[k], &bad);
        ck_assert_ptr_null(bad);
    }
    after = test_heap_stats(dog_default);
    ck_assert_uint_eq(after.blocks_in_use, before.blocks_in_use);
    pthread_barrier_destroy(&go);
    pthread_barrier_destroy(&deleted);
}
END_TEST

/* Children go with their parent, their blocks adopted too. */
START_TEST(test_delete_children_too)
{
    size_t heaps_before;
    {
        dog_stats_t st;
        dog_stats(&st);
        heaps_before = st.heaps;
    }
    dog_heap_t *p = dog_heap_new(&(dog_heap_options_t){ .name = "p" });
    dog_heap_t *c = dog_heap_new(&(dog_heap_options_t){ .name = "c", .parent = p });
    dog_heap_t *g = dog_heap_new(&(dog_heap_options_t){ .name = "g", .parent = c });
    ck_assert(p && c && g);
    held_t b[3];
    fill(&b[0], p, 1);
    fill(&b[1], c, 2);
    fill(&b[2], g, 101);                            /* huge */
    dog_heap_delete(p);
    expect_adopted(b, 3);
    dog_stats_t st;
    dog_stats(&st);
    ck_assert_uint_eq(st.heaps, heaps_before);
    for (int i = 0; i < 3; i++)
        dog_free(b[i].p);
}
END_TEST

/* Many rounds of create, use on threads, delete, free everywhere: the memory comes back
 * and no block is handed out twice (content checks). */
typedef struct round_arg {
    dog_heap_t *heap;
    held_t *blocks;
    size_t from, to;
} round_arg_t;

static void *round_fill(void *arg)
{
    round_arg_t *r = arg;
    for (size_t i = r->from; i < r->to; i++)
        fill(&r->blocks[i], r->heap, i);
    return NULL;
}

START_TEST(test_delete_rounds)
{
    enum { N = 2000, T = 4 };
    size_t rounds = test_scaled(100);
    held_t *b = calloc(N, sizeof *b);
    ck_assert_ptr_nonnull(b);
    dog_heap_stats_t before = test_heap_stats(dog_default);
    for (size_t r = 0; r < rounds; r++) {
        dog_heap_t *h = dog_heap_new(NULL);
        ck_assert_ptr_nonnull(h);
        pthread_t t[T];
        round_arg_t a[T];
        for (int k = 0; k < T; k++) {
            a[k] = (round_arg_t){ h, b, (size_t)k * N / T, (size_t)(k + 1) * N / T };
            ck_assert_int_eq(pthread_create(&t[k], NULL, round_fill, &a[k]), 0);
        }
        for (int k = 0; k < T; k++)
            pthread_join(t[k], NULL);
        for (size_t i = 0; i < N; i += 4) {
            dog_free(b[i].p);
            b[i].p = NULL;
        }
        dog_heap_delete(h);
        expect_adopted(b, N);
        for (size_t i = 0; i < N; i++) {
            dog_free(b[i].p);
            b[i].p = NULL;
        }
    }
    dog_heap_stats_t after = test_heap_stats(dog_default);
    ck_assert_uint_eq(after.blocks_in_use, before.blocks_in_use);
    dog_trim();
    dog_heap_stats_t trimmed = test_heap_stats(dog_default);
    ck_assert_uint_le(trimmed.bytes_mapped, before.bytes_mapped + 64 * MiB);
    free(b);
}
END_TEST

static void delete_default(void *unused)
{
    (void)unused;
    dog_heap_delete(dog_default);
}

static void delete_dead(void *h)
{
    dog_heap_delete(h);
}

START_TEST(test_delete_bad_handles)
{
    dog_heap_delete(NULL);                          /* a no-op */
    ck_assert_dies(delete_default, NULL, "dog_heap_delete(dog_default)");
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    dog_heap_delete(h);
    ck_assert_dies_naming(delete_dead, h, h, "dog_heap_delete(deleted heap)");
}
END_TEST

Suite *delete_suite(void)
{
    Suite *s = suite_create("delete");
    TCase *tc = tcase_create("delete");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_delete_blocks_move_to_default);
    tcase_add_test(tc, test_delete_takes_back_other_threads_caches);
    tcase_add_test(tc, test_delete_children_too);
    tcase_add_test(tc, test_delete_rounds);
    tcase_add_test(tc, test_delete_bad_handles);
    suite_add_tcase(s, tc);
    return s;
}
