/* SPDX-License-Identifier: MIT */
/* symmetric: the seed's "thread pool with all threads doing roughly the same thing".
 *
 *   symmetric [rounds=20] [tasks=2000] [workers=ncpu]
 *
 * A re-implementation of CarmensPlayground bench/symmetric.zig in its `c` mode (see
 * ../shared/bench/seed-workloads.md, section 1): a std.Thread.Pool of `workers` threads with
 * a LIFO run queue; the main thread mallocs a 56-byte closure per task under the pool lock
 * and the worker frees it under the same lock. Task n grows a u64 array to n elements
 * (malloc 64, then realloc along Zig's ArrayList growth), formats each element into a fresh
 * malloc'd string of exactly its digits and stores it in a one-entry map under the key n,
 * so every string but the last is leaked, as in the original (about 40M tiny blocks). */
#include "bench.h"

/* --- Zig's WaitGroup: a counter of 2 per pending task plus an is-waiting bit --- */

typedef struct wait_group {
    atomic_size_t state;
    bench_event_t event;
} wait_group_t;

#define WG_WAITING ((size_t)1)
#define WG_ONE     ((size_t)2)

static void wg_start(wait_group_t *wg)
{
    atomic_fetch_add(&wg->state, WG_ONE);
}

static void wg_finish(wait_group_t *wg)
{
    size_t state = atomic_fetch_sub(&wg->state, WG_ONE);
    if (state == (WG_ONE | WG_WAITING))
        bench_event_set(&wg->event);
}

static void wg_wait(wait_group_t *wg)
{
    size_t state = atomic_fetch_add(&wg->state, WG_WAITING);
    if (state / WG_ONE != 0)
        bench_event_wait(&wg->event);
}

/* --- Zig's std.Thread.Pool with spawnWg --- */

/* The 56-byte closure that spawnWg allocates: allocator interface (16), argument (8),
 * pool pointer (8), run-queue node (next + function, 16), wait group pointer (8). */
typedef struct closure {
    void *allocator[2];
    size_t n;
    struct pool *pool;
    struct closure *next;
    void (*run)(struct closure *);
    wait_group_t *wg;
} closure_t;

_Static_assert(sizeof(closure_t) == 56, "the seed's closure is 56 bytes");

typedef struct pool {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    closure_t *head;        /* LIFO: spawn pushes at the head, workers pop the head */
    int running;
    size_t nthreads;
    pthread_t *threads;
} pool_t;

static atomic_size_t tasks_done;
static atomic_int check_failed;

/* Task n, as symmetric.zig's run(). */
static void run_task(size_t n)
{
    uint64_t *numbers = NULL;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < n; i++) {
        if (len + 1 > cap) {
            size_t new_cap = cap;
            do
                new_cap += new_cap / 2 + 8;
            while (new_cap < len + 1);
            /* First buffer: alloc (remap of an empty slice fails); later: remap = realloc. */
            numbers = cap == 0 ? bench_xmalloc(new_cap * sizeof(*numbers))
                               : realloc(numbers, new_cap * sizeof(*numbers));
            if (numbers == NULL)
                bench_fail("realloc returned NULL");
            cap = new_cap;
        }
        numbers[len++] = i;
    }

    /* AutoArrayHashMapUnmanaged(usize, []const u8) with at most one key (n): the first put
     * allocates the entry storage (capacity 8 x 24 bytes), later puts overwrite the value
     * and leak the previous string. */
    void *map_storage = NULL;
    char *value = NULL;
    size_t value_len = 0;
    for (size_t k = 0; k < len; k++) {
        char buf[24];
        size_t slen = (size_t)snprintf(buf, sizeof(buf), "%llu", (unsigned long long)numbers[k]);
        char *s = bench_xmalloc(slen);
        memcpy(s, buf, slen);
        if (map_storage == NULL)
            map_storage = bench_xmalloc(192);
        value = s;          /* the previous value stays allocated: the seed's leak */
        value_len = slen;
    }

    if (n > 0) {
        char want[24];
        size_t want_len = (size_t)snprintf(want, sizeof(want), "%zu", n - 1);
        if (value_len != want_len || memcmp(value, want, want_len) != 0 ||
            numbers[n - 1] != n - 1 || numbers[0] != 0)
            atomic_store(&check_failed, 1);
    }
    /* The deferred frees, in symmetric.zig's order. */
    if (map_storage != NULL) {
        free(value);
        free(map_storage);
    }
    if (cap > 0)
        free(numbers);
    atomic_fetch_add(&tasks_done, 1);
}

/* Pool.spawnWg's closure function: run, finish, then free the closure under the lock. */
static void run_closure(closure_t *c)
{
    pool_t *pool = c->pool;
    run_task(c->n);
    wg_finish(c->wg);
    pthread_mutex_lock(&pool->mutex);
    free(c);
    pthread_mutex_unlock(&pool->mutex);
}

static void *worker_main(void *arg)
{
    pool_t *pool = arg;
    pthread_mutex_lock(&pool->mutex);
    for (;;) {
        closure_t *c;
        while ((c = pool->head) != NULL) {
            pool->head = c->next;
            pthread_mutex_unlock(&pool->mutex);
            c->run(c);
            pthread_mutex_lock(&pool->mutex);
        }
        if (!pool->running)
            break;
        pthread_cond_wait(&pool->cond, &pool->mutex);
    }
    pthread_mutex_unlock(&pool->mutex);
    return NULL;
}

static void pool_init(pool_t *pool, size_t nthreads)
{
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pool->head = NULL;
    pool->running = 1;
    pool->nthreads = nthreads;
    pool->threads = bench_xmalloc(nthreads * sizeof(pthread_t));

    pthread_attr_t attr;    /* Zig's default_stack_size for spawned threads: 16 MiB */
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)16 << 20);
    for (size_t i = 0; i < nthreads; i++) {
        int err = pthread_create(&pool->threads[i], &attr, worker_main, pool);
        if (err != 0)
            bench_fail("pthread_create: %s", strerror(err));
    }
    pthread_attr_destroy(&attr);
}

static void pool_spawn_wg(pool_t *pool, wait_group_t *wg, size_t n)
{
    wg_start(wg);
    pthread_mutex_lock(&pool->mutex);
    closure_t *c = bench_xmalloc(sizeof(*c));
    *c = (closure_t){ .n = n, .pool = pool, .next = pool->head, .run = run_closure, .wg = wg };
    pool->head = c;
    pthread_mutex_unlock(&pool->mutex);
    pthread_cond_signal(&pool->cond);
}

static void pool_deinit(pool_t *pool)
{
    pthread_mutex_lock(&pool->mutex);
    pool->running = 0;
    pthread_mutex_unlock(&pool->mutex);
    pthread_cond_broadcast(&pool->cond);
    for (size_t i = 0; i < pool->nthreads; i++)
        bench_join(pool->threads[i]);
    free(pool->threads);
}

int main(int argc, char **argv)
{
    size_t rounds = (size_t)bench_arg(argc, argv, 1, 20);
    size_t tasks = (size_t)bench_arg(argc, argv, 2, 2000);
    size_t workers = (size_t)bench_arg(argc, argv, 3, bench_cpu_count());
    if (workers == 0)
        workers = 1;

    pool_t pool;
    pool_init(&pool, workers);
    for (size_t round = 0; round < rounds; round++) {
        wait_group_t wg = { 0 };
        for (size_t i = 0; i < tasks; i++)
            pool_spawn_wg(&pool, &wg, i);
        wg_wait(&wg);
    }
    pool_deinit(&pool);

    if (atomic_load(&check_failed))
        bench_fail("symmetric: a task's array or last string was wrong");
    if (atomic_load(&tasks_done) != rounds * tasks)
        bench_fail("symmetric: %zu tasks ran, expected %zu", atomic_load(&tasks_done),
                   rounds * tasks);
    printf("symmetric: %zu rounds x %zu tasks on %zu workers ok\n", rounds, tasks, workers);
    return 0;
}
