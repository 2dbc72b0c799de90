/* SPDX-License-Identifier: MIT */
/* check_stress.c: a many-threaded stress of the dog_* API whose blocks outlive their threads.
 *
 * Public header only. Eight lineages run at once, each a chain of short-lived threads:
 * a thread allocates from dog_default and from two shared explicit heaps, frees some of
 * its own blocks, frees a batch that another (exited) thread left behind, leaves a
 * batch of its own, and exits, so that its home shard is orphaned while its blocks are
 * still live (heap.c:dog__free_orphan). One lineage calls dog_trim every round, so pages
 * go to the pool and back to the OS while others free into them. Every block carries a
 * pattern that is checked before it is freed. Sized for ThreadSanitizer (.ci/run runs
 * check-unit under it): 8 threads on 2 cores, well under a minute there. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dogmalloc.h>

#include "suites.h"

#define LINEAGES    8
#define BATCH       600         /* blocks a thread leaves behind */
#define FILL_MAX    512         /* bytes of each block that carry the pattern */

typedef struct {
    void *p;
    size_t size;
} item_t;

typedef struct batch {
    struct batch *next;
    size_t count;
    item_t items[BATCH];
} batch_t;

static pthread_mutex_t stash_lock = PTHREAD_MUTEX_INITIALIZER;
static batch_t *stash;                 /* batches left by exited threads */
static dog_heap_t *shared_heaps[2];
static int stress_failed;          /* __atomic builtins: tests do not use src/atomic.h */

static void stress_fail(const char *what, const void *p, size_t size)
{
    fprintf(stderr, "stress: %s: block %p of %zu bytes\n", what, p, size);
    __atomic_store_n(&stress_failed, 1, __ATOMIC_RELAXED);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Mostly small blocks of a few classes, so that bins hold several pages per shard (a
 * page emptied by an orphan free then goes to the pool, not to retire_wait), with the
 * uncached large bins and an occasional huge block. */
static size_t pick_size(uint64_t *rng)
{
    static const size_t sizes[] = { 24, 48, 48, 200, 1024, 1024, 4096, 4096, 4096, 20000 };
    uint64_t r = rng_next(rng);
    if (r % 200 == 0)
        return 600 * 1024;
    return sizes[(r >> 8) % (sizeof sizes / sizeof sizes[0])];
}

static void *stress_alloc(uint64_t *rng, size_t size)
{
    uint64_t r = rng_next(rng) % 8;
    void *p;
    if (r < 5)
        p = dog_malloc(size);
    else if (r < 7)
        p = dog_heap_malloc(shared_heaps[r - 5], size);
    else
        p = dog_calloc(1, size);
    if (p == NULL) {
        stress_fail("allocation failed", NULL, size);
        return NULL;
    }
    pattern_fill(p, size < FILL_MAX ? size : FILL_MAX);
    return p;
}

static void stress_free(void *p, size_t size)
{
    if (pattern_check(p, size < FILL_MAX ? size : FILL_MAX) != SIZE_MAX)
        stress_fail("contents changed", p, size);
    dog_free(p);
}

typedef struct {
    unsigned lineage, round;
} stress_arg_t;

static void *stress_thread(void *arg)
{
    stress_arg_t *a = arg;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (a->lineage * 1000 + a->round + 1);
    batch_t *mine = malloc(sizeof *mine);
    if (mine == NULL) {
        stress_fail("malloc of a batch failed", NULL, 0);
        return NULL;
    }
    mine->count = 0;
    /* Allocate twice a batch; free every other block at once (into this thread's cache),
     * keep the rest to leave behind. */
    for (size_t i = 0; i < 2 * BATCH; i++) {
        size_t size = pick_size(&rng);
        void *p = stress_alloc(&rng, size);
        if (p == NULL)
            break;
        if (i & 1)
            stress_free(p, size);
        else
            mine->items[mine->count++] = (item_t){ p, size };
    }
    /* Free what an exited thread left, in an order of its own. */
    pthread_mutex_lock(&stash_lock);
    batch_t *theirs = stash;
    if (theirs != NULL)
        stash = theirs->next;
    mine->next = stash;
    stash = mine;
    pthread_mutex_unlock(&stash_lock);
    if (theirs != NULL) {
        for (size_t i = 0; i < theirs->count; i++) {
            size_t j = (size_t)(rng_next(&rng) % (theirs->count - i)) + i;
            item_t t = theirs->items[i];
            theirs->items[i] = theirs->items[j];
            theirs->items[j] = t;
            stress_free(theirs->items[i].p, theirs->items[i].size);
        }
        free(theirs);
    }
    if (a->lineage == 0)
        dog_trim();
    return NULL;
}

static void *lineage(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    size_t rounds = test_scaled(320);
    for (size_t r = 0; r < rounds && !__atomic_load_n(&stress_failed, __ATOMIC_RELAXED); r++) {
        stress_arg_t a = { id, (unsigned)r };
        pthread_t t;
        if (pthread_create(&t, NULL, stress_thread, &a) != 0) {
            stress_fail("pthread_create failed", NULL, 0);
            break;
        }
        pthread_join(t, NULL);
    }
    return NULL;
}

START_TEST(test_stress_threads_exit_with_blocks_out)
{
    dog_heap_options_t opts = { .name = "stress-a" };
    shared_heaps[0] = dog_heap_new(&opts);
    opts.name = "stress-b";
    shared_heaps[1] = dog_heap_new(&opts);
    ck_assert_ptr_nonnull(shared_heaps[0]);
    ck_assert_ptr_nonnull(shared_heaps[1]);
    pthread_t t[LINEAGES];
    for (unsigned i = 0; i < LINEAGES; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, lineage, (void *)(uintptr_t)i), 0);
    for (unsigned i = 0; i < LINEAGES; i++)
        pthread_join(t[i], NULL);
    ck_assert_msg(!__atomic_load_n(&stress_failed, __ATOMIC_RELAXED), "see stderr");
    /* What is left: free it from this thread, then every block is back. */
    while (stash != NULL) {
        batch_t *b = stash;
        stash = b->next;
        for (size_t i = 0; i < b->count; i++)
            stress_free(b->items[i].p, b->items[i].size);
        free(b);
    }
    ck_assert_msg(!__atomic_load_n(&stress_failed, __ATOMIC_RELAXED), "see stderr");
    for (int h = 0; h < 2; h++) {
        dog_heap_stats_t st;
        ck_assert_int_eq(dog_heap_stats(shared_heaps[h], &st), 0);
        ck_assert_uint_eq(st.blocks_in_use, 0);
        dog_heap_destroy(shared_heaps[h]);
    }
    dog_trim();
}
END_TEST

Suite *stress_suite(void)
{
    Suite *s = suite_create("stress");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_stress_threads_exit_with_blocks_out);
    suite_add_tcase(s, tc);
    return s;
}
