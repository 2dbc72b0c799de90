/* SPDX-License-Identifier: MIT */
/* check_route.c: dog_thread_set_heap, which routes the calling thread's dog_malloc family
 * to a heap: every entry point follows the route, frees and resizes go to each block's own
 * heap, the route is per thread, budgets and handlers apply, destroying the routed heap
 * ends the route, and a dead handle is refused.
 *
 * Public header only. Threads are oversubscribed (more than the machine's cores) and
 * start together; no test depends on timing. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dogmalloc.h>

#include "suites.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define THREADS 8                       /* four per core on the 2-core CI machine */

static dog_heap_stats_t stats_of(const dog_heap_t *h)
{
    dog_heap_stats_t s;
    ck_assert_int_eq(dog_heap_stats(h, &s), 0);
    return s;
}

enum { ENTRY_POINTS = 11 };

/* One block from each allocating entry point of the dog_malloc family. */
static void alloc_each(void **b)
{
    size_t n = 0;
    b[n++] = dog_malloc(24);
    b[n++] = dog_malloc(5000);
    b[n++] = dog_malloc(2 * MiB);                       /* huge */
    b[n++] = dog_calloc(10, 100);
    b[n++] = dog_realloc(NULL, 300);
    b[n++] = dog_reallocarray(NULL, 4, 50);
    b[n++] = dog_aligned_alloc(4096, 4096);
    b[n++] = dog_aligned_alloc(MiB, 100);               /* huge, over-aligned */
    if (dog_posix_memalign(&b[n], 64, 640) != 0)
        b[n] = NULL;
    n++;
    b[n++] = dog_strdup("routed");
    b[n++] = dog_strndup("routed string", 6);
    ck_assert_uint_eq(n, ENTRY_POINTS);
    for (size_t i = 0; i < n; i++)
        ck_assert_ptr_nonnull(b[i]);
}

START_TEST(test_route_every_entry_point)
{
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "routed" });
    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_null(dog_thread_heap());
    ck_assert_ptr_null(dog_thread_set_heap(h));         /* no route before */
    ck_assert_ptr_eq(dog_thread_heap(), h);
    void *b[ENTRY_POINTS];
    alloc_each(b);
    for (size_t i = 0; i < ENTRY_POINTS; i++)
        ck_assert_msg(dog_heap_of(b[i]) == h, "entry point %zu not routed", i);
    ck_assert_str_eq(b[9], "routed");
    ck_assert_str_eq(b[10], "routed");
    ck_assert_uint_eq(stats_of(h).blocks_in_use, ENTRY_POINTS);

    ck_assert_ptr_eq(dog_thread_set_heap(NULL), h);     /* restored: dog_default */
    ck_assert_ptr_null(dog_thread_heap());
    void *d[ENTRY_POINTS];
    alloc_each(d);
    for (size_t i = 0; i < ENTRY_POINTS; i++) {
        ck_assert_msg(dog_heap_of(d[i]) == dog_default, "entry point %zu still routed", i);
        dog_free(d[i]);
    }
    for (size_t i = 0; i < ENTRY_POINTS; i++)            /* freed unrouted: to h */
        dog_free(b[i]);
    ck_assert_uint_eq(stats_of(h).blocks_in_use, 0);
    ck_assert_uint_eq(stats_of(h).frees, ENTRY_POINTS);
    dog_heap_destroy(h);
}
END_TEST

/* Resizing an existing block keeps it in its own heap, routed or not; a route to
 * dog_default is no route. */
START_TEST(test_route_resize_keeps_heap)
{
    dog_heap_t *h = dog_heap_new(NULL), *g = dog_heap_new(NULL);
    ck_assert(h != NULL && g != NULL);
    char *mine = dog_malloc(16);                        /* dog_default's */
    char *theirs = dog_heap_malloc(g, 16);
    memset(mine, 'm', 16);
    memset(theirs, 't', 16);
    ck_assert_ptr_null(dog_thread_set_heap(h));
    mine = dog_realloc(mine, 100000);                   /* moves: small to huge */
    theirs = dog_realloc(theirs, 10000);
    ck_assert_ptr_eq(dog_heap_of(mine), dog_default);
    ck_assert_ptr_eq(dog_heap_of(theirs), g);
    ck_assert(mine[15] == 'm' && theirs[15] == 't');
    ck_assert_uint_eq(stats_of(h).blocks_in_use, 0);
    ck_assert_ptr_eq(dog_thread_set_heap(dog_default), h);
    ck_assert_ptr_null(dog_thread_heap());              /* dog_default means no route */
    ck_assert_ptr_null(dog_thread_set_heap(NULL));
    dog_free(mine);
    dog_free(theirs);
    dog_heap_destroy(g);
    dog_heap_destroy(h);
}
END_TEST

/* The route takes the heap's budget and handler: dog_malloc fails with ENOMEM when the
 * routed heap is full, after its on_limit handler declined. */
static atomic_int handler_calls;

static int count_and_decline(dog_heap_t *h, size_t request, void *arg)
{
    (void)h;
    (void)request;
    (void)arg;
    atomic_fetch_add(&handler_calls, 1);
    return 0;
}

START_TEST(test_route_budget)
{
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){
        .name = "small", .limit = DOG_HEAP_LIMIT_MIN, .on_limit = count_and_decline });
    ck_assert_ptr_nonnull(h);
    atomic_store(&handler_calls, 0);
    dog_thread_set_heap(h);
    void *big = dog_malloc(2 * MiB);                    /* more than the budget */
    int err = errno;
    void *small = dog_malloc(100);                      /* fits */
    dog_thread_set_heap(NULL);
    ck_assert_ptr_null(big);
    ck_assert_int_eq(err, ENOMEM);
    ck_assert_int_eq(atomic_load(&handler_calls), 1);
    ck_assert_ptr_nonnull(small);
    ck_assert_ptr_eq(dog_heap_of(small), h);
    void *p = dog_malloc(2 * MiB);                      /* unrouted: dog_default has room */
    ck_assert_ptr_nonnull(p);
    dog_free(p);
    dog_free(small);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_route_ends_with_destroy)
{
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    dog_thread_set_heap(h);
    void *p = dog_malloc(64);
    ck_assert_ptr_eq(dog_heap_of(p), h);
    dog_heap_destroy(h);                                /* from the routed thread */
    ck_assert_ptr_null(dog_thread_heap());
    void *q = dog_malloc(64);
    ck_assert_ptr_eq(dog_heap_of(q), dog_default);
    dog_free(q);
}
END_TEST

static void set_dead_heap(void *h)
{
    dog_thread_set_heap(h);
}

static void *destroy_heap(void *h)
{
    dog_heap_destroy(h);
    return NULL;
}

/* The routed heap destroyed by another thread: the routed thread's next dog_malloc is a
 * call on a dead heap, and is reported as one. */
static void malloc_after_other_destroys(void *unused)
{
    (void)unused;
    dog_heap_t *h = dog_heap_new(NULL);
    if (h == NULL)
        _exit(3);
    dog_thread_set_heap(h);
    dog_free(dog_malloc(32));
    pthread_t t;
    if (pthread_create(&t, NULL, destroy_heap, h) != 0)
        _exit(4);
    pthread_join(t, NULL);
    void *volatile p = dog_malloc(32);
    (void)p;
}

START_TEST(test_route_dead_handle_refused)
{
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    dog_heap_destroy(h);
    ck_assert_dies_naming(set_dead_heap, h, h, "dog_thread_set_heap(destroyed heap)");
    ck_assert_ptr_null(dog_thread_heap());
    ck_assert_dies(malloc_after_other_destroys, NULL, "dog_malloc routed to a destroyed heap");
}
END_TEST

/* Each thread routes to a heap of its own and allocates; its neighbour checks and frees
 * the blocks (frees follow the block, not the freeing thread's route). A thread that
 * never routes allocates from dog_default all along. */
enum { PER_THREAD = 5000 };

typedef struct route_shared {
    dog_heap_t *heaps[THREADS];
    void *blocks[THREADS][PER_THREAD];
    pthread_barrier_t phase;
    atomic_uint wrong;
} route_shared_t;

typedef struct route_arg {
    route_shared_t *sh;
    unsigned id;
} route_arg_t;

static size_t route_size(size_t i)
{
    return i % 500 == 499 ? 70 * KiB + i : 8 + (i * 37) % 3000;
}

static void *route_worker(void *argp)
{
    route_arg_t *a = argp;
    route_shared_t *sh = a->sh;
    bool routed = a->id != 0;               /* thread 0 keeps dog_default */
    if (dog_thread_heap() != NULL)          /* a new thread starts with no route */
        atomic_fetch_add(&sh->wrong, 1);
    if (routed)
        dog_thread_set_heap(sh->heaps[a->id]);
    dog_heap_t *want = routed ? sh->heaps[a->id] : dog_default;
    pthread_barrier_wait(&sh->phase);
    for (size_t i = 0; i < PER_THREAD; i++) {
        size_t size = route_size(i);
        void *p = i % 3 ? dog_malloc(size) : dog_calloc(1, size);
        if (p == NULL || dog_heap_of(p) != want) {
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
        if (p == NULL || pattern_check(p, route_size(i)) != SIZE_MAX)
            atomic_fetch_add(&sh->wrong, 1);
        dog_free(p);
    }
    if (dog_thread_heap() != (routed ? sh->heaps[a->id] : NULL))
        atomic_fetch_add(&sh->wrong, 1);
    return NULL;
}

START_TEST(test_route_per_thread)
{
    static route_shared_t sh;
    memset(&sh, 0, sizeof sh);
    for (unsigned i = 0; i < THREADS; i++) {
        sh.heaps[i] = dog_heap_new(NULL);
        ck_assert_ptr_nonnull(sh.heaps[i]);
    }
    dog_heap_t *main_route = sh.heaps[1];
    dog_thread_set_heap(main_route);        /* the main thread's route is its own */
    pthread_barrier_init(&sh.phase, NULL, THREADS);
    route_arg_t args[THREADS];
    pthread_t t[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        args[i] = (route_arg_t){ .sh = &sh, .id = i };
        ck_assert_int_eq(pthread_create(&t[i], NULL, route_worker, &args[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&sh.phase);
    ck_assert_ptr_eq(dog_thread_set_heap(NULL), main_route);
    ck_assert_uint_eq(atomic_load(&sh.wrong), 0);
    for (unsigned i = 1; i < THREADS; i++) {
        dog_heap_stats_t st = stats_of(sh.heaps[i]);
        ck_assert_uint_eq(st.blocks_in_use, 0);
        ck_assert_uint_eq(st.allocs, PER_THREAD);
        ck_assert_uint_eq(st.frees, PER_THREAD);
    }
    ck_assert_uint_eq(stats_of(sh.heaps[0]).allocs, 0);   /* thread 0 never routed */
    for (unsigned i = 0; i < THREADS; i++)
        dog_heap_destroy(sh.heaps[i]);
}
END_TEST

Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_route_every_entry_point);
    tcase_add_test(tc, test_route_resize_keeps_heap);
    tcase_add_test(tc, test_route_budget);
    tcase_add_test(tc, test_route_ends_with_destroy);
    tcase_add_test(tc, test_route_dead_handle_refused);
    suite_add_tcase(s, tc);
    TCase *threads = tcase_create("threads");
    tcase_add_test(threads, test_route_per_thread);
    tcase_set_timeout(threads, 120);
    suite_add_tcase(s, threads);
    return s;
}
