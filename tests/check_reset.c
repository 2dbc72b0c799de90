/* SPDX-License-Identifier: MIT */
/* check_reset.c: dog_heap_reset, which frees every block of a heap at once and keeps the
 * heap: exact statistics after it, stale pointers no longer the heap's, the budget free
 * again, warm pages bounded over many rounds, and resets from any thread while other
 * threads hold caches of the heap or exit.
 *
 * Public header only. Threads are oversubscribed (more than the machine's cores) and
 * meet at barriers; no test depends on timing. */
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
#define PAGE (512 * KiB)
#define KEEP 8                          /* warm pages a shard keeps (dogmalloc.h) */
#define THREADS 8                       /* four per core on the 2-core CI machine */

/* Sizes over the small classes, the large ones and, every 97th, a huge block. */
static size_t mixed_size(size_t i)
{
    if (i % 97 == 96)
        return 100 * KiB + (i % 5) * 300 * KiB;
    static const size_t sizes[] = { 8, 16, 24, 48, 64, 100, 256, 1000, 3000, 9000, 20000,
                                    65536 };
    return sizes[i % (sizeof sizes / sizeof *sizes)] + i % 7;
}

enum { MIXED = 2000 };

/* Allocate n mixed blocks from h, filled; their total size goes to *bytes. */
static void fill_mixed(dog_heap_t *h, void **p, size_t n, size_t *bytes)
{
    *bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t size = mixed_size(i);
        p[i] = dog_heap_malloc(h, size);
        REQUIRE(p[i] != NULL, "block %zu of %zu bytes", i, size);
        pattern_fill(p[i], size);
        *bytes += dog_usable_size(p[i]);
    }
}

static void check_mixed(void *const *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        REQUIRE(pattern_check(p[i], mixed_size(i)) == SIZE_MAX, "block %zu changed", i);
}

/* --- One thread --- */

START_TEST(test_reset_frees_every_block)
{
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "frame" });
    ck_assert_ptr_nonnull(h);
    static void *p[MIXED];
    size_t bytes;
    fill_mixed(h, p, MIXED, &bytes);
    dog_heap_stats_t before = test_heap_stats(h);
    ck_assert_uint_eq(before.blocks_in_use, MIXED);
    ck_assert_uint_eq(before.bytes_in_use, bytes);
    ck_assert_uint_gt(before.huge_blocks, 0);

    dog_heap_reset(h);
    dog_heap_stats_t after = test_heap_stats(h);
    ck_assert_uint_eq(after.blocks_in_use, 0);
    ck_assert_uint_eq(after.bytes_in_use, 0);
    ck_assert_uint_eq(after.huge_blocks, 0);
    ck_assert_uint_eq(after.huge_bytes, 0);
    ck_assert_uint_eq(after.allocs, 0);
    ck_assert_uint_eq(after.frees, 0);
    ck_assert_uint_ge(after.peak_bytes_in_use, before.bytes_in_use);  /* kept */
    ck_assert_uint_le(after.pages, KEEP);               /* one thread: one shard */
    ck_assert_uint_eq(after.bytes_mapped, after.pages * PAGE);
    ck_assert_str_eq(dog_heap_name(h), "frame");
    ck_assert_ptr_eq(dog_heap_name(h), dog_heap_name(h));
    /* Nothing the heap handed out is its block any more (before any new allocation could
     * reuse an address). */
    for (size_t i = 0; i < MIXED; i++)
        REQUIRE(!dog_heap_contains(h, p[i]), "block %zu still in the heap", i);

    /* The heap works as a new one, from its warm pages first. */
    fill_mixed(h, p, MIXED, &bytes);
    check_mixed(p, MIXED);
    dog_heap_stats_t again = test_heap_stats(h);
    ck_assert_uint_eq(again.blocks_in_use, MIXED);
    ck_assert_uint_eq(again.bytes_in_use, bytes);
    ck_assert_uint_eq(again.allocs, MIXED);
    for (size_t i = 0; i < MIXED; i++) {
        REQUIRE(dog_heap_of(p[i]) == h, "block %zu", i);
        dog_free(p[i]);
    }
    dog_heap_stats_t freed = test_heap_stats(h);
    ck_assert_uint_eq(freed.blocks_in_use, 0);
    ck_assert_uint_eq(freed.frees, MIXED);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_reset_empty_and_null)
{
    dog_heap_reset(NULL);                               /* a no-op, as dog_heap_destroy */
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    dog_heap_reset(h);                                  /* never used */
    dog_heap_reset(h);
    ck_assert_uint_eq(test_heap_stats(h).bytes_mapped, 0);
    void *p = dog_heap_malloc(h, 40);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_eq(dog_heap_of(p), h);
    dog_heap_reset(h);
    dog_heap_reset(h);                                  /* twice in a row */
    ck_assert_uint_eq(test_heap_stats(h).blocks_in_use, 0);
    ck_assert_uint_le(test_heap_stats(h).pages, 1);
    dog_heap_destroy(h);
}
END_TEST

/* Fill h with 4000-byte blocks until its budget refuses one; returns how many. */
static size_t fill_to_budget(dog_heap_t *h, void **p, size_t max)
{
    size_t n = 0;
    errno = 0;
    while (n < max && (p[n] = dog_heap_malloc(h, 4000)) != NULL)
        memset(p[n++], 0x5a, 4000);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_lt(n, max);
    return n;
}

START_TEST(test_reset_frees_the_budget)
{
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "budget", .limit = 4 * PAGE });
    ck_assert_ptr_nonnull(h);
    enum { MAX = 4096 };
    static void *p[MAX];
    size_t first = fill_to_budget(h, p, MAX);
    ck_assert_uint_gt(first, 100);
    for (int round = 0; round < 20; round++) {
        dog_heap_reset(h);
        ck_assert_uint_eq(test_heap_stats(h).limit, 4 * PAGE);
        ck_assert_uint_le(test_heap_stats(h).bytes_mapped, 4 * PAGE);
        /* a huge block fits the freed budget, and goes with the next reset */
        void *big = dog_heap_malloc(h, 1 * MiB);
        ck_assert_ptr_nonnull(big);
        memset(big, 1, 1 * MiB);
        dog_heap_reset(h);
        ck_assert_uint_eq(test_heap_stats(h).huge_blocks, 0);
        ck_assert_uint_eq(fill_to_budget(h, p, MAX), first);   /* the same every round */
    }
    dog_heap_destroy(h);
}
END_TEST

/* Many rounds of fill and reset do not grow the heap: what it maps at a round's peak stays
 * what the first round mapped, and what it keeps between rounds stays bounded. */
START_TEST(test_reset_rounds_stay_bounded)
{
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "rounds" });
    ck_assert_ptr_nonnull(h);
    enum { N = 20000 };
    static void *p[N];
    size_t first_peak = 0, rounds = test_scaled(50);
    for (size_t round = 0; round < rounds; round++) {
        for (size_t i = 0; i < N; i++) {
            size_t size = i % 4 ? 64 : 16 + (i / 4) % 2000;  /* one big class, many small */
            p[i] = dog_heap_malloc(h, size);
            REQUIRE(p[i] != NULL, "round %zu block %zu", round, i);
            memset(p[i], (int)round, size < 16 ? size : 16);
        }
        dog_heap_stats_t st = test_heap_stats(h);
        ck_assert_uint_eq(st.blocks_in_use, N);
        if (round == 0)
            first_peak = st.bytes_mapped;
        ck_assert_uint_le(st.bytes_mapped, first_peak);
        dog_heap_reset(h);
        ck_assert_uint_le(test_heap_stats(h).pages, KEEP);
    }
    dog_heap_destroy(h);
}
END_TEST

/* --- Threads --- */

enum { PER_THREAD = 300 };

typedef struct reset_shared {
    dog_heap_t *heap;
    pthread_barrier_t phase;
    void *blocks[THREADS][PER_THREAD];
    size_t rounds;
    atomic_uint wrong;
} reset_shared_t;

typedef struct reset_arg {
    reset_shared_t *sh;
    unsigned id;
} reset_arg_t;

/* Each round: every thread allocates and fills its row; checks and frees half of its
 * neighbour's row (frees of blocks other threads cached or allocated); then one thread,
 * a different one each round, resets the heap while the others wait with their caches of
 * the heap full of blocks of the old generation. */
static void *reset_worker(void *argp)
{
    reset_arg_t *a = argp;
    reset_shared_t *sh = a->sh;
    for (size_t round = 0; round < sh->rounds; round++) {
        for (size_t i = 0; i < PER_THREAD; i++) {
            size_t size = mixed_size(i + a->id);
            void *p = dog_heap_malloc(sh->heap, size);
            if (p == NULL) {
                atomic_fetch_add(&sh->wrong, 1);
                continue;
            }
            pattern_fill(p, size);
            sh->blocks[a->id][i] = p;
        }
        pthread_barrier_wait(&sh->phase);
        unsigned next = (a->id + 1) % THREADS;
        for (size_t i = 0; i < PER_THREAD; i++) {
            void *p = sh->blocks[next][i];
            if (p == NULL || pattern_check(p, mixed_size(i + next)) != SIZE_MAX)
                atomic_fetch_add(&sh->wrong, 1);
            if (i % 2)
                dog_free(p);
            sh->blocks[next][i] = NULL;
        }
        pthread_barrier_wait(&sh->phase);
        if (round % THREADS == a->id) {
            dog_heap_reset(sh->heap);
            dog_heap_stats_t st;
            if (dog_heap_stats(sh->heap, &st) != 0 || st.blocks_in_use != 0 ||
                st.bytes_in_use != 0 || st.huge_blocks != 0)
                atomic_fetch_add(&sh->wrong, 1);
        }
        pthread_barrier_wait(&sh->phase);
    }
    return NULL;
}

START_TEST(test_reset_from_any_thread)
{
    static reset_shared_t sh;
    memset(&sh, 0, sizeof sh);
    sh.heap = dog_heap_new(&(dog_heap_options_t){ .name = "shared" });
    ck_assert_ptr_nonnull(sh.heap);
    sh.rounds = test_scaled(200);
    pthread_barrier_init(&sh.phase, NULL, THREADS);
    reset_arg_t args[THREADS];
    pthread_t t[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        args[i] = (reset_arg_t){ .sh = &sh, .id = i };
        ck_assert_int_eq(pthread_create(&t[i], NULL, reset_worker, &args[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&sh.phase);
    ck_assert_uint_eq(atomic_load(&sh.wrong), 0);
    /* The threads exited with caches of the heap's last generation: counted right. */
    dog_heap_stats_t st = test_heap_stats(sh.heap);
    ck_assert_uint_eq(st.blocks_in_use, 0);
    ck_assert_uint_eq(st.allocs, st.frees);
    dog_heap_destroy(sh.heap);
}
END_TEST

/* Threads that used the heap exit while another thread resets it: an exiting thread's
 * cache of the heap either goes back before the reset or is found dead, never written
 * into the emptied pages. The heap stays exact and usable after every round. */
typedef struct exit_arg {
    dog_heap_t *heap;
    atomic_uint *done;
    unsigned id;
} exit_arg_t;

static void *exit_worker(void *argp)
{
    exit_arg_t *a = argp;
    void *keep[64];
    for (int i = 0; i < 64; i++)
        keep[i] = dog_heap_malloc(a->heap, 16 + 16 * ((unsigned)i % 8) + a->id);
    for (int i = 0; i < 64; i += 2)     /* half into this thread's cache, half left live */
        dog_free(keep[i]);
    atomic_fetch_add(a->done, 1);
    return NULL;                        /* exits, its cache of the heap going back */
}

START_TEST(test_reset_races_thread_exit)
{
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "exits" });
    ck_assert_ptr_nonnull(h);
    size_t rounds = test_scaled(300);
    for (size_t round = 0; round < rounds; round++) {
        atomic_uint done = 0;
        exit_arg_t args[THREADS];
        pthread_t t[THREADS];
        for (unsigned i = 0; i < THREADS; i++) {
            args[i] = (exit_arg_t){ .heap = h, .done = &done, .id = i };
            ck_assert_int_eq(pthread_create(&t[i], NULL, exit_worker, &args[i]), 0);
        }
        while (atomic_load(&done) < THREADS)
            sched_yield();
        dog_heap_reset(h);              /* while the threads are exiting */
        for (unsigned i = 0; i < THREADS; i++)
            pthread_join(t[i], NULL);
        dog_heap_stats_t st = test_heap_stats(h);
        REQUIRE(st.blocks_in_use == 0 && st.allocs == st.frees,
                "round %zu: %zu blocks in use, %zu allocs, %zu frees", round,
                st.blocks_in_use, st.allocs, st.frees);
        void *p = dog_heap_malloc(h, 100);
        REQUIRE(p != NULL && dog_heap_of(p) == h, "round %zu", round);
        memset(p, 7, 100);
        dog_free(p);
    }
    dog_heap_destroy(h);
}
END_TEST

/* A thread fills its cache of a fresh heap (its last heap, too); the main thread resets
 * the heap and allocates STALE_MINE blocks; then the thread, whose cache died in the
 * reset and which has not used the heap since, frees STALE_THEIRS of those blocks
 * (frees) or allocates STALE_THEIRS blocks of its own. The blocks all come from the
 * heap's one shard, whose pages the dead cache knew. */
enum { STALE_MINE = 64, STALE_THEIRS = 32 };

typedef struct stale_run {
    dog_heap_t *heap;
    pthread_barrier_t step;
    bool frees;
    void *mine[STALE_MINE];
    void *theirs[STALE_THEIRS];
} stale_run_t;

static void *stale_worker(void *argp)
{
    stale_run_t *r = argp;
    fill_heap_cache(r->heap, 48);
    pthread_barrier_wait(&r->step);     /* the main thread resets and allocates */
    pthread_barrier_wait(&r->step);
    for (int i = 0; i < STALE_THEIRS; i++) {
        if (r->frees)
            dog_free(r->mine[i]);
        else
            r->theirs[i] = dog_heap_malloc(r->heap, 48);
    }
    return NULL;
}

static stale_run_t *stale_run(const char *name, bool frees)
{
    static stale_run_t r;
    memset(&r, 0, sizeof r);
    r.heap = dog_heap_new(&(dog_heap_options_t){ .name = name });
    ck_assert_ptr_nonnull(r.heap);
    r.frees = frees;
    pthread_barrier_init(&r.step, NULL, 2);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, stale_worker, &r), 0);
    pthread_barrier_wait(&r.step);
    dog_heap_reset(r.heap);
    for (int i = 0; i < STALE_MINE; i++) {
        r.mine[i] = dog_heap_malloc(r.heap, 48);
        ck_assert_ptr_nonnull(r.mine[i]);
    }
    pthread_barrier_wait(&r.step);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&r.step);
    return &r;
}

/* Its frees go back to the heap, not into the dead cache (the reset renames the shard for
 * caches), and none of those blocks is handed out twice afterwards. */
START_TEST(test_reset_stale_cache_frees)
{
    stale_run_t *r = stale_run("stale", true);
    dog_heap_stats_t st = test_heap_stats(r->heap);
    ck_assert_uint_eq(st.blocks_in_use, STALE_MINE - STALE_THEIRS);
    ck_assert_uint_eq(st.frees, STALE_THEIRS);
    void *p[STALE_MINE];
    for (int i = 0; i < STALE_MINE; i++) {
        p[i] = dog_heap_malloc(r->heap, 48);
        ck_assert_ptr_nonnull(p[i]);
        for (int j = 0; j < i; j++)
            ck_assert_ptr_ne(p[i], p[j]);
        for (int j = STALE_THEIRS; j < STALE_MINE; j++)
            ck_assert_ptr_ne(p[i], r->mine[j]);
    }
    for (int i = 0; i < STALE_MINE; i++)
        dog_free(p[i]);
    for (int i = STALE_THEIRS; i < STALE_MINE; i++)
        dog_free(r->mine[i]);
    ck_assert_uint_eq(test_heap_stats(r->heap).blocks_in_use, 0);
    dog_heap_destroy(r->heap);
}
END_TEST

/* Its mallocs get blocks of the new generation, never one that its cache held from before
 * the reset (the reset empties the cache), so no block is handed out twice. */
START_TEST(test_reset_stale_cache_mallocs)
{
    stale_run_t *r = stale_run("stale-malloc", false);
    for (int i = 0; i < STALE_THEIRS; i++) {
        ck_assert_ptr_nonnull(r->theirs[i]);
        for (int j = 0; j < STALE_MINE; j++)
            ck_assert_ptr_ne(r->theirs[i], r->mine[j]);
        for (int j = 0; j < i; j++)
            ck_assert_ptr_ne(r->theirs[i], r->theirs[j]);
    }
    ck_assert_uint_eq(test_heap_stats(r->heap).blocks_in_use, STALE_MINE + STALE_THEIRS);
    for (int i = 0; i < STALE_THEIRS; i++)
        dog_free(r->theirs[i]);
    for (int i = 0; i < STALE_MINE; i++)
        dog_free(r->mine[i]);
    ck_assert_uint_eq(test_heap_stats(r->heap).blocks_in_use, 0);
    dog_heap_destroy(r->heap);
}
END_TEST

Suite *reset_suite(void)
{
    Suite *s = suite_create("reset");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_reset_frees_every_block);
    tcase_add_test(tc, test_reset_empty_and_null);
    tcase_add_test(tc, test_reset_frees_the_budget);
    tcase_add_test(tc, test_reset_rounds_stay_bounded);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    TCase *threads = tcase_create("threads");
    tcase_add_test(threads, test_reset_from_any_thread);
    tcase_add_test(threads, test_reset_races_thread_exit);
    tcase_add_test(threads, test_reset_stale_cache_frees);
    tcase_add_test(threads, test_reset_stale_cache_mallocs);
    tcase_set_timeout(threads, 300);
    suite_add_tcase(s, threads);
    return s;
}
