/* SPDX-License-Identifier: MIT */
/* check_lifecycle.c: heaps and threads that come and go: heaps created, used on many
 * threads and destroyed in a loop (the shapes of mimalloc's crash reports #1231, #1250
 * and #1320), destroy racing thread exit, 10^5 thread lifetimes with the resident size
 * sampled, exact statistics for blocks whose allocating threads have exited (read after
 * they exited and while they exit), and the thread caches of explicit heaps (live caches
 * counted, dead ones never touched, more heaps than a thread has cache slots). Every block
 * is content-checked; the memory held must come back to where it started. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "suites.h"

/* --- Measuring what the process holds --- */

static size_t mapped_bytes(void)
{
    dog_stats_t st;
    ck_assert_int_eq(dog_stats(&st), 0);
    return st.bytes_mapped;
}

/* What dogmalloc holds after giving back all it can, against a baseline taken the same
 * way: the pool and the huge cache may keep a little, never a round's worth per round. */
static void expect_back_to(size_t base, size_t slack, const char *what)
{
    dog_trim();
    size_t now = mapped_bytes();
    ck_assert_msg(now <= base + slack, "%s: %zu bytes mapped, %zu at the start (slack %zu)",
                  what, now, base, slack);
}

/* A few blocks of several classes (and one huge block), filled and checked; half freed
 * here, the rest left for the heap's destroy. */
static void use_heap(dog_heap_t *h, unsigned seed)
{
    enum { N = 48 };
    void *p[N];
    size_t size[N];
    for (int i = 0; i < N; i++) {
        size[i] = i == N - 1 ? 200000 : 8 + (size_t)((seed * 131u + (unsigned)i * 37u) % 3000);
        p[i] = dog_heap_malloc(h, size[i]);
        REQUIRE(p[i] != NULL, "dog_heap_malloc(%zu)", size[i]);
        REQUIRE(dog_heap_of(p[i]) == h, "block %d not of its heap", i);
        pattern_fill(p[i], size[i]);
    }
    for (int i = 0; i < N; i++)
        REQUIRE(pattern_check(p[i], size[i]) == SIZE_MAX, "block %d of %zu bytes changed", i,
                size[i]);
    for (int i = 0; i < N; i += 2)
        dog_free(p[i]);
}

/* --- mimalloc #1231: create, use on 32 threads, destroy, repeat --- */

typedef struct round {
    dog_heap_t *heap;
    unsigned seed;
    pthread_barrier_t *used;    /* NULL: the thread is joined before the destroy */
} round_t;

static void *use_and_leave(void *arg)
{
    round_t *r = arg;
    use_heap(r->heap, r->seed);
    for (int i = 0; i < 8; i++)         /* dog_default too: this thread's cache */
        dog_free(dog_malloc(16 + (size_t)i * 40));
    if (r->used != NULL)
        pthread_barrier_wait(r->used);  /* done with the heap; exits while it is destroyed */
    return NULL;
}

START_TEST(test_lifecycle_heap_destroy_after_many_threads)
{
    enum { THREADS = 32 };
    size_t rounds = test_scaled(1000);
    size_t base = mapped_bytes();
    for (size_t k = 0; k < rounds; k++) {
        dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "round" });
        ck_assert_ptr_nonnull(h);
        pthread_t t[THREADS];
        round_t r[THREADS];
        for (int i = 0; i < THREADS; i++) {
            r[i] = (round_t){ h, (unsigned)(k * THREADS + (size_t)i), NULL };
            ck_assert_int_eq(pthread_create(&t[i], NULL, use_and_leave, &r[i]), 0);
        }
        for (int i = 0; i < THREADS; i++)
            ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        dog_heap_stats_t st;
        ck_assert_int_eq(dog_heap_stats(h, &st), 0);
        ck_assert_uint_eq(st.blocks_in_use, THREADS * 24);     /* half of each thread's */
        dog_heap_destroy(h);
    }
    expect_back_to(base, 8u << 20, "after the rounds");
}
END_TEST

/* --- Destroy racing thread exit: the threads have stopped using the heap and are
 * exiting (their thread-exit hooks running) while it is destroyed. --- */

START_TEST(test_lifecycle_heap_destroy_races_thread_exit)
{
    enum { THREADS = 12 };
    size_t rounds = test_scaled(400);
    size_t base = mapped_bytes();
    for (size_t k = 0; k < rounds; k++) {
        dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "racing" });
        ck_assert_ptr_nonnull(h);
        pthread_barrier_t used;
        pthread_barrier_init(&used, NULL, THREADS + 1);
        pthread_t t[THREADS];
        round_t r[THREADS];
        for (int i = 0; i < THREADS; i++) {
            r[i] = (round_t){ h, (unsigned)(k + (size_t)i), &used };
            ck_assert_int_eq(pthread_create(&t[i], NULL, use_and_leave, &r[i]), 0);
        }
        pthread_barrier_wait(&used);
        dog_heap_destroy(h);            /* while the threads return and exit */
        for (int i = 0; i < THREADS; i++)
            ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        pthread_barrier_destroy(&used);
    }
    expect_back_to(base, 8u << 20, "after destroys racing thread exits");
}
END_TEST

/* --- mimalloc #1250: a heap created on A, used on B, destroyed on A; then again with a
 * new heap, B still alive and still allocating elsewhere. --- */

typedef struct ping {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    dog_heap_t *heap;           /* B's work: use this heap (NULL: stop) */
    int turn;                   /* 0: B's turn, 1: A's */
    unsigned seed;
} ping_t;

static void *b_main(void *arg)
{
    ping_t *pg = arg;
    void *mine = dog_malloc(100);       /* B's own dog_default block, alive throughout */
    pattern_fill(mine, 100);
    pthread_mutex_lock(&pg->mu);
    for (;;) {
        while (pg->turn != 0)
            pthread_cond_wait(&pg->cv, &pg->mu);
        if (pg->heap == NULL)
            break;
        use_heap(pg->heap, pg->seed);
        REQUIRE(pattern_check(mine, 100) == SIZE_MAX, "B's own block changed");
        pg->turn = 1;
        pthread_cond_broadcast(&pg->cv);
    }
    pthread_mutex_unlock(&pg->mu);
    dog_free(mine);
    return NULL;
}

START_TEST(test_lifecycle_heap_used_on_b_destroyed_on_a)
{
    size_t rounds = test_scaled(1000);
    size_t base = mapped_bytes();
    ping_t pg = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .turn = 1 };
    pthread_t b;
    ck_assert_int_eq(pthread_create(&b, NULL, b_main, &pg), 0);
    for (size_t k = 0; k < rounds; k++) {
        dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "a-and-b" });
        ck_assert_ptr_nonnull(h);
        pthread_mutex_lock(&pg.mu);
        pg.heap = h;
        pg.seed = (unsigned)k;
        pg.turn = 0;
        pthread_cond_broadcast(&pg.cv);
        while (pg.turn != 1)
            pthread_cond_wait(&pg.cv, &pg.mu);
        pthread_mutex_unlock(&pg.mu);
        use_heap(h, (unsigned)k + 7);   /* A uses it too, then destroys it */
        dog_heap_destroy(h);
    }
    pthread_mutex_lock(&pg.mu);
    pg.heap = NULL;
    pg.turn = 0;
    pthread_cond_broadcast(&pg.cv);
    pthread_mutex_unlock(&pg.mu);
    ck_assert_int_eq(pthread_join(b, NULL), 0);
    expect_back_to(base, 8u << 20, "after create on A / use on B / destroy on A");
}
END_TEST

/* --- mimalloc #1320: 512 threads each creating, using and destroying heaps --- */

static void *own_heaps(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int c = 0; c < 3; c++) {
        char name[32];
        snprintf(name, sizeof name, "t%u.%d", seed, c);
        dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = name });
        REQUIRE(h != NULL, "dog_heap_new in thread %u", seed);
        REQUIRE(strcmp(dog_heap_name(h), name) == 0, "heap name");
        use_heap(h, seed * 3 + (unsigned)c);
        dog_heap_destroy(h);
    }
    return NULL;
}

START_TEST(test_lifecycle_512_threads_create_and_destroy_heaps)
{
    size_t threads = test_scaled(512);
    size_t base = mapped_bytes();
    pthread_t *t = calloc(threads, sizeof *t);
    ck_assert_ptr_nonnull(t);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 << 10);
    size_t started = 0;
    for (; started < threads; started++)
        if (pthread_create(&t[started], &attr, own_heaps, (void *)(uintptr_t)started) != 0)
            break;
    ck_assert_msg(started >= threads / 2, "only %zu of %zu threads started", started, threads);
    for (size_t i = 0; i < started; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    pthread_attr_destroy(&attr);
    free(t);
    expect_back_to(base, 16u << 20, "after 512 threads made and destroyed their heaps");
}
END_TEST

/* --- 10^5 thread lifetimes: nothing stranded, the resident size stays bounded --- */

static dog_heap_t *shared_heap;

static void *short_life(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *p[16];
    for (int i = 0; i < 16; i++) {
        size_t size = 16 + (size_t)((seed + (unsigned)i * 97u) % 2000);
        p[i] = (i & 1) ? dog_heap_malloc(shared_heap, size) : dog_malloc(size);
        REQUIRE(p[i] != NULL, "allocation %d", i);
        memset(p[i], (int)i, size);
    }
    for (int i = 0; i < 16; i++)
        dog_free(p[i]);
    return NULL;
}

START_TEST(test_lifecycle_many_thread_lifetimes_bounded_rss)
{
    enum { BATCH = 8 };
    size_t lifetimes = test_scaled(100000), samples = 10;
    shared_heap = dog_heap_new(&(dog_heap_options_t){ .name = "lifetimes" });
    ck_assert_ptr_nonnull(shared_heap);
    size_t rss[11] = {0}, mapped[11] = {0};     /* samples + 1 */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 128 << 10);
    size_t done = 0;
    for (size_t s = 0; s <= samples; s++) {
        size_t until = lifetimes * s / samples;
        while (done < until) {
            pthread_t t[BATCH];
            size_t n = until - done < BATCH ? until - done : BATCH;
            for (size_t i = 0; i < n; i++)
                ck_assert_int_eq(pthread_create(&t[i], &attr, short_life,
                                                (void *)(uintptr_t)(done + i)), 0);
            for (size_t i = 0; i < n; i++)
                ck_assert_int_eq(pthread_join(t[i], NULL), 0);
            done += n;
        }
        rss[s] = test_resident_bytes();
        mapped[s] = mapped_bytes();
    }
    pthread_attr_destroy(&attr);
    /* How much is held at one moment depends on how many threads overlapped (each may
     * take a shard and pages of its own), so compare peaks: stranding anything per
     * lifetime would make the second half's peak climb far above the first half's (a
     * page per 1000 lifetimes is 25 MiB over 50,000), while a bounded allocator keeps
     * both within the same few pages. */
    size_t first_rss = 0, second_rss = 0, first_map = 0, second_map = 0;
    char series[1024];
    int len = 0;
    for (size_t k = 1; k <= samples; k++) {
        size_t *r = k <= samples / 2 ? &first_rss : &second_rss;
        size_t *m = k <= samples / 2 ? &first_map : &second_map;
        *r = rss[k] > *r ? rss[k] : *r;
        *m = mapped[k] > *m ? mapped[k] : *m;
        if (len < (int)sizeof series - 40)
            len += snprintf(series + len, sizeof series - (size_t)len, " %zu/%zu",
                            mapped[k] >> 20, rss[k] >> 20);
    }
    if (test_sanitized())
        second_rss = first_rss;     /* the sanitizer's memory grows with every thread */
    /* The secure build's quarantine (docs/secure.md: DOG_SECURE_QUARANTINE_PAGES, 32 pages
     * of 512 KiB) fills as pages are given back and holds them mapped, purged: up to
     * 16 MiB more mapped, none of it resident, whenever it fills. */
    size_t quarantine = DOG_SECURE_BUILD ? (size_t)32 << 19 : 0;
    ck_assert_msg(second_map <= first_map + (12u << 20) + quarantine &&
                  second_rss <= first_rss + (12u << 20),
                  "over %zu thread lifetimes the peak grew: mapped %zu -> %zu, resident %zu -> "
                  "%zu (MiB mapped/resident per tenth:%s)", lifetimes, first_map, second_map,
                  first_rss, second_rss, series);
    dog_heap_stats_t st;
    ck_assert_int_eq(dog_heap_stats(shared_heap, &st), 0);
    ck_assert_uint_eq(st.blocks_in_use, 0);
    ck_assert_uint_eq(st.allocs, st.frees);
    dog_heap_destroy(shared_heap);
}
END_TEST

/* --- Exact statistics for blocks whose allocating threads have exited --- */

typedef struct handoff {
    dog_heap_t *heap;
    void **out;
    size_t *sizes;
    size_t n;
} handoff_t;

static void *allocate_and_exit(void *arg)
{
    handoff_t *ho = arg;
    for (size_t i = 0; i < ho->n; i++) {
        ho->sizes[i] = 8 + (i * 53) % 5000;
        ho->out[i] = (i & 1) ? dog_heap_malloc(ho->heap, ho->sizes[i]) : dog_malloc(ho->sizes[i]);
        REQUIRE(ho->out[i] != NULL, "allocation %zu", i);
        pattern_fill(ho->out[i], ho->sizes[i]);
    }
    return NULL;
}

/* The bytes of ho's blocks that went to its heap (the odd ones: allocate_and_exit). */
static size_t handoff_heap_bytes(const handoff_t *ho)
{
    size_t bytes = 0;
    for (size_t j = 1; j < ho->n; j += 2)
        bytes += dog_usable_size(ho->out[j]);
    return bytes;
}

/* Every block of ho (thread i's) kept its pattern after its thread exited: freed. */
static void handoff_check_free(const handoff_t *ho, int i)
{
    for (size_t j = 0; j < ho->n; j++) {
        REQUIRE(pattern_check(ho->out[j], ho->sizes[j]) == SIZE_MAX,
                "block %d/%zu changed after its thread exited", i, j);
        dog_free(ho->out[j]);
    }
}

START_TEST(test_lifecycle_stats_exact_after_threads_exit)
{
    enum { THREADS = 8, PER = 500 };
    static void *blocks[THREADS][PER];
    static size_t sizes[THREADS][PER];
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "orphans" });
    ck_assert_ptr_nonnull(h);
    dog_heap_stats_t d0, d1, d2, s1;
    ck_assert_int_eq(dog_heap_stats(dog_default, &d0), 0);
    pthread_t t[THREADS];
    handoff_t ho[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ho[i] = (handoff_t){ h, blocks[i], sizes[i], PER };
        ck_assert_int_eq(pthread_create(&t[i], NULL, allocate_and_exit, &ho[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    /* Every allocating thread has exited: its blocks are still live and counted. */
    size_t heap_bytes = 0;
    for (int i = 0; i < THREADS; i++)
        heap_bytes += handoff_heap_bytes(&ho[i]);
    ck_assert_int_eq(dog_heap_stats(h, &s1), 0);
    ck_assert_uint_eq(s1.blocks_in_use, THREADS * PER / 2);
    ck_assert_uint_eq(s1.bytes_in_use, heap_bytes);
    ck_assert_int_eq(dog_heap_stats(dog_default, &d1), 0);
    ck_assert_uint_eq(d1.blocks_in_use - d0.blocks_in_use, THREADS * PER / 2);
    for (int i = 0; i < THREADS; i++)
        handoff_check_free(&ho[i], i);
    ck_assert_int_eq(dog_heap_stats(h, &s1), 0);
    ck_assert_uint_eq(s1.blocks_in_use, 0);
    ck_assert_uint_eq(s1.bytes_in_use, 0);
    ck_assert_int_eq(dog_heap_stats(dog_default, &d2), 0);
    ck_assert_uint_eq(d2.blocks_in_use, d0.blocks_in_use);
    dog_heap_destroy(h);
}
END_TEST

/* The same counts read while the threads exit: they are done with the heaps (every
 * allocation and free has returned), and their caches go back to the pages as the counts
 * are read, which must not make them inexact (src/types.h: xretiring). */
typedef struct leaver {
    handoff_t ho;
    pthread_barrier_t *done;
} leaver_t;

static void *allocate_and_leave(void *arg)
{
    leaver_t *l = arg;
    void *tmp[64];
    for (int i = 0; i < 64; i++)                /* freed at once: cached, not in use */
        tmp[i] = dog_heap_malloc(l->ho.heap, 16 + (size_t)i * 8);
    allocate_and_exit(&l->ho);
    for (int i = 0; i < 64; i++)
        dog_free(tmp[i]);
    fill_heap_cache(dog_default, 48);
    pthread_barrier_wait(l->done);              /* done with the heaps: exits now */
    return NULL;
}

START_TEST(test_lifecycle_stats_exact_as_threads_exit)
{
    enum { THREADS = 8, PER = 60 };
    static void *blocks[THREADS][PER];
    static size_t sizes[THREADS][PER];
    size_t rounds = test_scaled(40);
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "leavers" });
    ck_assert_ptr_nonnull(h);
    for (size_t k = 0; k < rounds; k++) {
        dog_heap_stats_t d0 = test_heap_stats(dog_default);
        pthread_barrier_t done;
        pthread_barrier_init(&done, NULL, THREADS + 1);
        pthread_t t[THREADS];
        leaver_t l[THREADS];
        for (int i = 0; i < THREADS; i++) {
            l[i] = (leaver_t){ { h, blocks[i], sizes[i], PER }, &done };
            ck_assert_int_eq(pthread_create(&t[i], NULL, allocate_and_leave, &l[i]), 0);
        }
        pthread_barrier_wait(&done);
        dog_heap_stats_t s1 = test_heap_stats(h), d1 = test_heap_stats(dog_default);
        dog_class_stats_t rows[64];
        int n = dog_heap_class_stats(h, rows, 64);
        for (int i = 0; i < THREADS; i++)
            ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        pthread_barrier_destroy(&done);
        size_t heap_bytes = 0, class_blocks = 0;
        for (int i = 0; i < THREADS; i++)
            heap_bytes += handoff_heap_bytes(&l[i].ho);
        ck_assert_int_ge(n, 1);
        for (int i = 0; i < n && i < 64; i++)
            class_blocks += rows[i].blocks_in_use;
        ck_assert_uint_eq(s1.blocks_in_use, THREADS * PER / 2);
        ck_assert_uint_eq(s1.bytes_in_use, heap_bytes);
        ck_assert_uint_eq(s1.allocs - s1.frees, THREADS * PER / 2);
        ck_assert_uint_eq(class_blocks, THREADS * PER / 2);
        ck_assert_uint_eq(d1.blocks_in_use - d0.blocks_in_use, THREADS * PER / 2);
        for (int i = 0; i < THREADS; i++)
            handoff_check_free(&l[i].ho, i);
        dog_heap_stats_t s2 = test_heap_stats(h);
        ck_assert_uint_eq(s2.blocks_in_use, 0);
        ck_assert_uint_eq(s2.allocs, s2.frees);
    }
    dog_heap_destroy(h);
}
END_TEST

/* --- Thread caches of explicit heaps (src/tcache.h) --- */

/* Threads that stay alive with blocks of h in their caches while another thread reads
 * the statistics, destroys h, and the threads then go on with a new heap (their slot
 * holds a dead cache), trim (which frees a dead cache) and exit. */
typedef struct cached {
    dog_heap_t *heap, *next;
    pthread_barrier_t *phase;
    unsigned seed;
    size_t live;                /* blocks of heap this thread left live */
    void *kept[64];
} cached_t;

static void *cache_and_wait(void *arg)
{
    cached_t *c = arg;
    void *tmp[200];
    for (int i = 0; i < 200; i++) {                 /* freed again: cached, not live */
        tmp[i] = dog_heap_malloc(c->heap, 16 + (size_t)((c->seed + (unsigned)i) % 8) * 16);
        REQUIRE(tmp[i] != NULL, "block %d", i);
        pattern_fill(tmp[i], 16);
    }
    for (int i = 0; i < 64; i++) {
        c->kept[i] = dog_heap_malloc(c->heap, 24 + (size_t)i * 8);
        REQUIRE(c->kept[i] != NULL, "kept block %d", i);
        pattern_fill(c->kept[i], 24 + (size_t)i * 8);
    }
    for (int i = 0; i < 200; i++) {
        REQUIRE(pattern_check(tmp[i], 16) == SIZE_MAX, "block %d changed", i);
        dog_free(tmp[i]);
    }
    c->live = 64;
    pthread_barrier_wait(c->phase);     /* 1: the main thread counts, then destroys */
    pthread_barrier_wait(c->phase);     /* 2: destroyed; a new heap in c->next */
    use_heap(c->next, c->seed);
    if (c->seed & 1)
        dog_trim();                     /* frees the dead cache, if the slot still has it */
    return NULL;
}

START_TEST(test_lifecycle_cached_blocks_counted_then_destroyed)
{
    enum { THREADS = 6 };
    size_t rounds = test_scaled(60);
    size_t base = mapped_bytes();
    for (size_t k = 0; k < rounds; k++) {
        dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "cached" });
        ck_assert_ptr_nonnull(h);
        pthread_barrier_t phase;
        pthread_barrier_init(&phase, NULL, THREADS + 1);
        pthread_t t[THREADS];
        static cached_t c[THREADS];
        for (int i = 0; i < THREADS; i++) {
            c[i] = (cached_t){ .heap = h, .phase = &phase, .seed = (unsigned)(k * 7 + (size_t)i) };
            ck_assert_int_eq(pthread_create(&t[i], NULL, cache_and_wait, &c[i]), 0);
        }
        pthread_barrier_wait(&phase);
        /* Blocks in the threads' caches are free for the user: only the kept ones count. */
        dog_heap_stats_t st;
        ck_assert_int_eq(dog_heap_stats(h, &st), 0);
        ck_assert_uint_eq(st.blocks_in_use, THREADS * 64);
        ck_assert_uint_eq(st.allocs, THREADS * 264);
        ck_assert_uint_eq(st.frees, THREADS * 200);
        for (int i = 0; i < THREADS; i++)
            for (int j = 0; j < 64; j++)
                REQUIRE(pattern_check(c[i].kept[j], 24 + (size_t)j * 8) == SIZE_MAX,
                        "kept block %d/%d changed", i, j);
        dog_heap_destroy(h);            /* the threads' caches of h still hold blocks */
        dog_heap_t *next = dog_heap_new(&(dog_heap_options_t){ .name = "next" });
        ck_assert_ptr_nonnull(next);
        for (int i = 0; i < THREADS; i++)
            c[i].next = next;
        pthread_barrier_wait(&phase);
        for (int i = 0; i < THREADS; i++)
            ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        ck_assert_int_eq(dog_heap_stats(next, &st), 0);
        ck_assert_uint_eq(st.blocks_in_use, THREADS * 24);
        dog_heap_destroy(next);
        pthread_barrier_destroy(&phase);
    }
    expect_back_to(base, 8u << 20, "after cached rounds");
}
END_TEST

/* A thread whose cache of a heap holds blocks, and whose last heap it was, calls
 * dog_heap_malloc on it after another thread destroyed it: the call must report the dead
 * heap, not hand out a block of the freed pages from the cache (the destroy empties the
 * cache, so the fast path finds nothing and the slow path checks the heap). */
typedef struct dead_cache {
    dog_heap_t *heap;
    pthread_barrier_t step;
} dead_cache_t;

static void *dead_cache_user(void *arg)
{
    dead_cache_t *d = arg;
    fill_heap_cache(d->heap, 48);
    pthread_barrier_wait(&d->step);         /* the other thread destroys the heap */
    pthread_barrier_wait(&d->step);
    void *volatile q = dog_heap_malloc(d->heap, 48);
    (void)q;
    _exit(0);                               /* not reported: the test fails */
}

static void destroy_under_a_cache(void *unused)
{
    (void)unused;
    static dead_cache_t d;
    d.heap = dog_heap_new(NULL);
    if (d.heap == NULL || pthread_barrier_init(&d.step, NULL, 2) != 0)
        _exit(3);
    pthread_t t;
    if (pthread_create(&t, NULL, dead_cache_user, &d) != 0)
        _exit(4);
    pthread_barrier_wait(&d.step);
    dog_heap_destroy(d.heap);
    pthread_barrier_wait(&d.step);
    pthread_join(t, NULL);
}

START_TEST(test_lifecycle_destroyed_heap_in_a_cache_is_reported)
{
    ck_assert_dies(destroy_under_a_cache, NULL,
                   "dog_heap_malloc of a heap another thread destroyed");
}
END_TEST

/* More live heaps than a thread has cache slots: heaps share slots, the first one a
 * thread uses keeps it, and the others go to their shards; every block stays right. */
START_TEST(test_lifecycle_more_heaps_than_cache_slots)
{
    enum { HEAPS = 150, PER = 40 };
    static dog_heap_t *h[HEAPS];
    static void *p[HEAPS][PER];
    for (int i = 0; i < HEAPS; i++) {
        h[i] = dog_heap_new(&(dog_heap_options_t){ .name = "many" });
        ck_assert_ptr_nonnull(h[i]);
    }
    for (int round = 0; round < 4; round++) {
        for (int j = 0; j < PER; j++)
            for (int i = 0; i < HEAPS; i++) {
                size_t size = 8 + (size_t)((i * 13 + j * 7) % 500);
                p[i][j] = dog_heap_malloc(h[i], size);
                REQUIRE(p[i][j] != NULL, "heap %d block %d", i, j);
                REQUIRE(dog_heap_of(p[i][j]) == h[i], "heap %d block %d: wrong heap", i, j);
                pattern_fill(p[i][j], size);
            }
        for (int i = 0; i < HEAPS; i++) {
            dog_heap_stats_t st;
            ck_assert_int_eq(dog_heap_stats(h[i], &st), 0);
            ck_assert_uint_eq(st.blocks_in_use, PER);
        }
        for (int j = 0; j < PER; j++)
            for (int i = 0; i < HEAPS; i++) {
                size_t size = 8 + (size_t)((i * 13 + j * 7) % 500);
                REQUIRE(pattern_check(p[i][j], size) == SIZE_MAX, "heap %d block %d changed",
                        i, j);
                dog_free(p[i][j]);
            }
        for (int i = 0; i < HEAPS; i++) {
            dog_heap_stats_t st;
            ck_assert_int_eq(dog_heap_stats(h[i], &st), 0);
            ck_assert_uint_eq(st.blocks_in_use, 0);
            ck_assert_uint_eq(st.allocs, st.frees);
        }
        if (round == 1) {               /* half of them go; new ones take their slots */
            for (int i = 0; i < HEAPS; i += 2) {
                dog_heap_destroy(h[i]);
                h[i] = dog_heap_new(&(dog_heap_options_t){ .name = "again" });
                ck_assert_ptr_nonnull(h[i]);
            }
        }
    }
    for (int i = 0; i < HEAPS; i++)
        dog_heap_destroy(h[i]);
}
END_TEST

Suite *lifecycle_suite(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_lifecycle_heap_destroy_after_many_threads);
    tcase_add_test(tc, test_lifecycle_heap_destroy_races_thread_exit);
    tcase_add_test(tc, test_lifecycle_heap_used_on_b_destroyed_on_a);
    tcase_add_test(tc, test_lifecycle_512_threads_create_and_destroy_heaps);
    tcase_add_test(tc, test_lifecycle_many_thread_lifetimes_bounded_rss);
    tcase_add_test(tc, test_lifecycle_stats_exact_after_threads_exit);
    tcase_add_test(tc, test_lifecycle_stats_exact_as_threads_exit);
    tcase_add_test(tc, test_lifecycle_cached_blocks_counted_then_destroyed);
    tcase_add_test(tc, test_lifecycle_more_heaps_than_cache_slots);
    tcase_add_test(tc, test_lifecycle_destroyed_heap_in_a_cache_is_reported);
    suite_add_tcase(s, tc);
    return s;
}
