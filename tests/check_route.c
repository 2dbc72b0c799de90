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
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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
    char msg[4096];
    int status = death_run(malloc_after_other_destroys, NULL, msg, sizeof msg);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %d: %s", status,
                  msg);
    ck_assert_msg(strstr(msg, "route (dog_thread_set_heap) is to ") != NULL &&
                  strstr(msg, "a destroyed heap") != NULL, "message: %s", msg);
}
END_TEST

/* The routed heap destroyed by another thread, and its memory taken by a new heap: the
 * handle is a live heap again, but not the routed one. Still reported (the heap's serial),
 * never an allocation from the stranger. */
static void malloc_after_reuse(void *unused)
{
    (void)unused;
    dog_heap_t *h = dog_heap_new(NULL);
    if (h == NULL)
        _exit(3);
    dog_thread_set_heap(h);
    pthread_t t;
    if (pthread_create(&t, NULL, destroy_heap, h) != 0)
        _exit(4);
    pthread_join(t, NULL);
    dog_heap_t *stranger = NULL;
    for (int i = 0; i < 1000 && stranger == NULL; i++) {
        dog_heap_t *g = dog_heap_new(&(dog_heap_options_t){ .name = "stranger" });
        if (g == h)
            stranger = g;
        else
            dog_heap_destroy(g);
    }
    if (stranger == NULL)
        _exit(5);                   /* the slot was never reused: nothing to test */
    void *volatile p = dog_malloc(32);
    if (p != NULL && dog_heap_of(p) == stranger)
        _exit(6);                   /* allocated from a heap the thread never routed to */
}

START_TEST(test_route_dead_after_reuse_reported)
{
    char msg[4096];
    int status = death_run(malloc_after_reuse, NULL, msg, sizeof msg);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "status %d (exit %d): %s", status, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                  msg);
    ck_assert_msg(strstr(msg, "a destroyed heap") != NULL, "message: %s", msg);
}
END_TEST

/* Under DOGMALLOC_MISUSE=report the dead route is reported once and ends: the call, and
 * the thread's later ones, allocate from dog_default. */
static void dead_route_report(void *unused)
{
    (void)unused;
    if (dog_option_set(DOG_OPTION_MISUSE, DOG_MISUSE_REPORT) != 0)
        _exit(3);
    dog_heap_t *h = dog_heap_new(NULL);
    if (h == NULL)
        _exit(4);
    dog_thread_set_heap(h);
    pthread_t t;
    if (pthread_create(&t, NULL, destroy_heap, h) != 0)
        _exit(5);
    pthread_join(t, NULL);
    void *p = dog_malloc(32), *q = dog_calloc(2, 8);
    void *r = NULL;
    if (p == NULL || q == NULL || dog_posix_memalign(&r, 64, 64) != 0)
        _exit(6);
    if (dog_heap_of(p) != dog_default || dog_heap_of(q) != dog_default ||
        dog_heap_of(r) != dog_default || dog_thread_heap() != NULL)
        _exit(7);
    dog_free(p);
    dog_free(q);
    dog_free(r);
    _exit(0);
}

START_TEST(test_route_dead_under_report_ends)
{
    char msg[4096];
    int status = death_run(dead_route_report, NULL, msg, sizeof msg);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d (exit %d): %s",
                  status, WIFEXITED(status) ? WEXITSTATUS(status) : -1, msg);
    const char *first = strstr(msg, "a destroyed heap");
    ck_assert_msg(first != NULL, "no report: %s", msg);
    ck_assert_msg(strstr(first + 1, "a destroyed heap") == NULL, "reported twice: %s", msg);
}
END_TEST

/* realloc in routed code grows a block of the routed heap through the heap API: the
 * heap's on_limit handler is called as for its mallocs. The handler runs unrouted, so its
 * own allocations go to dog_default, not into the heap that is out of budget. */
static _Atomic int grow_calls;
static void *handler_block;

static int raise_limit(dog_heap_t *heap, size_t request, void *arg)
{
    (void)arg;
    atomic_fetch_add(&grow_calls, 1);
    handler_block = dog_malloc(64);
    return dog_heap_set_limit(heap, request + 4 * MiB) == 0;
}

START_TEST(test_route_realloc_calls_handler)
{
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){
        .name = "grow", .limit = 2 * MiB, .on_limit = raise_limit });
    ck_assert_ptr_nonnull(h);
    atomic_store(&grow_calls, 0);
    handler_block = NULL;
    dog_thread_set_heap(h);
    char *p = dog_malloc(1000);
    ck_assert_ptr_nonnull(p);
    memset(p, 'x', 1000);
    char *q = dog_realloc(p, 8 * MiB);                  /* past the budget */
    ck_assert_ptr_eq(dog_thread_heap(), h);             /* the handler left the route */
    dog_thread_set_heap(NULL);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(atomic_load(&grow_calls), 1);
    ck_assert_ptr_eq(dog_heap_of(q), h);
    ck_assert(q[0] == 'x' && q[999] == 'x');
    ck_assert_ptr_nonnull(handler_block);
    ck_assert_ptr_eq(dog_heap_of(handler_block), dog_default);
    dog_free(handler_block);
    /* A block of another heap is resized in its own heap, handler or not. */
    void *d = dog_malloc(100);
    dog_thread_set_heap(h);
    void *e = dog_reallocarray(d, 30, 100);
    dog_thread_set_heap(NULL);
    ck_assert_ptr_eq(dog_heap_of(e), dog_default);
    dog_free(e);
    dog_free(q);
    dog_heap_destroy(h);
}
END_TEST

/* A reset of the routed heap keeps the route; the blocks that follow are the heap's. */
START_TEST(test_route_survives_reset)
{
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    dog_thread_set_heap(h);
    for (int i = 0; i < 100; i++)
        ck_assert_ptr_nonnull(dog_malloc((size_t)i * 30 + 1));
    dog_heap_reset(h);
    ck_assert_ptr_eq(dog_thread_heap(), h);
    void *p = dog_malloc(48);
    dog_thread_set_heap(NULL);
    ck_assert_ptr_eq(dog_heap_of(p), h);
    ck_assert_uint_eq(stats_of(h).blocks_in_use, 1);
    dog_free(p);
    dog_heap_destroy(h);
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
    tcase_add_test(tc, test_route_dead_after_reuse_reported);
    tcase_add_test(tc, test_route_dead_under_report_ends);
    tcase_add_test(tc, test_route_realloc_calls_handler);
    tcase_add_test(tc, test_route_survives_reset);
    suite_add_tcase(s, tc);
    TCase *threads = tcase_create("threads");
    tcase_add_test(threads, test_route_per_thread);
    tcase_set_timeout(threads, 120);
    suite_add_tcase(s, threads);
    return s;
}
