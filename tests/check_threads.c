/* SPDX-License-Identifier: MIT */
/* check_threads.c: multi-threaded stress and fork.
 *
 * More threads than cores allocate random sizes (1 byte .. 1 MiB, mostly small) from
 * the default heap and from explicit heaps they share, hand a share of their blocks to
 * other threads through a locked queue, and check every block's pattern before it is
 * freed. Meanwhile another thread keeps creating heaps, sharing each between two
 * helper threads, and destroying it with blocks still live. At the end every explicit
 * heap is back to zero blocks in use and the default heap to where it started.
 *
 * DOG_TEST_SCALE scales the iteration counts (see check_main.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dogmalloc.h>

#include "suites.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* --- Shared error reporting: threads record the first failure, main asserts --- */

static atomic_size_t errors;
static pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_error[512];

static void thread_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void thread_fail(const char *fmt, ...)
{
    if (atomic_fetch_add(&errors, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        pthread_mutex_lock(&error_lock);
        vsnprintf(first_error, sizeof first_error, fmt, ap);
        pthread_mutex_unlock(&error_lock);
        va_end(ap);
    }
}

static void errors_reset(void)
{
    atomic_store(&errors, 0);
    first_error[0] = '\0';
}

static void errors_assert_none(void)
{
    char first[sizeof first_error];
    pthread_mutex_lock(&error_lock);
    memcpy(first, first_error, sizeof first);
    pthread_mutex_unlock(&error_lock);
    size_t n = atomic_load(&errors);
    ck_assert_msg(n == 0, "%zu errors in threads, first: %s", n, first);
}

/* --- Random numbers (xorshift64*) --- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* 1 byte .. 1 MiB, skewed towards small sizes */
static size_t random_size(uint64_t *rng)
{
    uint64_t r = rng_next(rng) % 1000;
    uint64_t v = rng_next(rng);
    if (r < 700)
        return 1 + v % 256;
    if (r < 940)
        return 257 + v % (4096 - 256);
    if (r < 992)
        return 4097 + v % (65536 - 4096);
    return 65537 + v % (MiB - 65536);
}

/* --- Blocks and the hand-over queue --- */

typedef struct item {
    unsigned char *p;
    size_t size;
    dog_heap_t *heap;       /* the heap it must belong to */
} item_t;

static int item_check(const item_t *it, const char *where)
{
    size_t bad = pattern_check(it->p, it->size);
    if (bad != SIZE_MAX) {
        thread_fail("%s: block %p (%zu bytes) corrupted at byte %zu", where, (void *)it->p,
                    it->size, bad);
        return 0;
    }
    dog_heap_t *h = dog_heap_of(it->p);
    if (h != it->heap) {
        thread_fail("%s: dog_heap_of(%p) = %p, expected %p", where, (void *)it->p, (void *)h,
                    (void *)it->heap);
        return 0;
    }
    if (dog_usable_size(it->p) < it->size) {
        thread_fail("%s: usable size of %p < %zu", where, (void *)it->p, it->size);
        return 0;
    }
    return 1;
}

static void item_free(item_t *it, uint64_t *rng)
{
    if (rng_next(rng) % 4 == 0)
        dog_free_sized(it->p, it->size);
    else
        dog_free(it->p);
    it->p = NULL;
}

typedef struct queue {
    pthread_mutex_t lock;
    size_t head, count, cap;
    item_t *items;
} queue_t;

static void queue_init(queue_t *q, size_t cap)
{
    pthread_mutex_init(&q->lock, NULL);
    q->head = q->count = 0;
    q->cap = cap;
    q->items = malloc(cap * sizeof *q->items);
    ck_assert_ptr_nonnull(q->items);
}

static void queue_fini(queue_t *q)
{
    free(q->items);
    pthread_mutex_destroy(&q->lock);
}

static int queue_push(queue_t *q, const item_t *it)
{
    int ok = 0;
    pthread_mutex_lock(&q->lock);
    if (q->count < q->cap) {
        q->items[(q->head + q->count) % q->cap] = *it;
        q->count++;
        ok = 1;
    }
    pthread_mutex_unlock(&q->lock);
    return ok;
}

static int queue_pop(queue_t *q, item_t *it)
{
    int ok = 0;
    pthread_mutex_lock(&q->lock);
    if (q->count > 0) {
        *it = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        ok = 1;
    }
    pthread_mutex_unlock(&q->lock);
    return ok;
}

/* --- The stress workers --- */

enum { N_WORKERS = 12, N_SHARED = 2, SLOTS = 128 };

typedef struct stress {
    queue_t queue;
    dog_heap_t *shared[N_SHARED];
    size_t iterations;
    atomic_int churn_stop;
    atomic_size_t handed, received, churn_rounds;
} stress_t;

typedef struct worker {
    stress_t *st;
    unsigned id;
} worker_t;

static int alloc_item(stress_t *st, item_t *it, uint64_t *rng)
{
    size_t size = random_size(rng);
    uint64_t how = rng_next(rng) % 100;
    dog_heap_t *heap = dog_default;
    unsigned char *p;
    if (how < 60) {
        p = dog_malloc(size);
    } else if (how < 70) {
        p = dog_calloc(1, size);
        if (p != NULL)
            for (size_t i = 0; i < size; i++)
                if (p[i] != 0) {
                    thread_fail("dog_calloc(1, %zu) = %p: byte %zu is not zero", size,
                                (void *)p, i);
                    break;
                }
    } else if (how < 75) {
        size_t align = (size_t)1 << (1 + rng_next(rng) % 13);       /* 2 .. 8 KiB */
        p = dog_aligned_alloc(align, size);
        if (p != NULL && (uintptr_t)p % align != 0)
            thread_fail("dog_aligned_alloc(%zu, %zu) = %p misaligned", align, size, (void *)p);
    } else if (how < 90) {
        heap = st->shared[rng_next(rng) % N_SHARED];
        p = dog_heap_malloc(heap, size);
    } else {
        heap = st->shared[rng_next(rng) % N_SHARED];
        p = dog_heap_calloc(heap, size, 1);
    }
    if (p == NULL) {
        thread_fail("allocation of %zu bytes (method %u) failed: errno %d", size, (unsigned)how,
                    errno);
        return 0;
    }
    it->p = p;
    it->size = size;
    it->heap = heap;
    pattern_fill(p, size);
    return 1;
}

/* realloc an item to a new random size: contents of the common prefix survive */
static void realloc_item(item_t *it, uint64_t *rng)
{
    size_t size = random_size(rng);
    uint64_t seed = pattern_seed(it->p, it->size);
    size_t keep = size < it->size ? size : it->size;
    unsigned char *q = dog_realloc(it->p, size);
    if (q == NULL) {
        thread_fail("dog_realloc(%p, %zu) failed: errno %d", (void *)it->p, size, errno);
        return;                         /* the old block is still ours */
    }
    size_t bad = pattern_check_seed(q, keep, seed);
    if (bad != SIZE_MAX)
        thread_fail("dog_realloc(%zu -> %zu) lost byte %zu", it->size, size, bad);
    if (dog_heap_of(q) != it->heap)
        thread_fail("dog_realloc moved %p out of its heap", (void *)q);
    it->p = q;
    it->size = size;
    pattern_fill(q, size);
}

static void take_from_queue(stress_t *st, uint64_t *rng)
{
    item_t it;
    if (queue_pop(&st->queue, &it)) {
        item_check(&it, "handed-over block");
        item_free(&it, rng);
        atomic_fetch_add(&st->received, 1);
    }
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    stress_t *st = w->st;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (w->id + 1);
    item_t slots[SLOTS];
    memset(slots, 0, sizeof slots);
    for (size_t iter = 0; iter < st->iterations; iter++) {
        item_t *it = &slots[rng_next(&rng) % SLOTS];
        if (it->p != NULL) {
            item_check(it, "own block");
            uint64_t r = rng_next(&rng) % 100;
            if (r < 10) {
                realloc_item(it, &rng);
                continue;
            }
            if (r < 40 && queue_push(&st->queue, it)) {
                atomic_fetch_add(&st->handed, 1);
                it->p = NULL;
            } else {
                item_free(it, &rng);
            }
        }
        alloc_item(st, it, &rng);
        if (rng_next(&rng) % 3 != 0)
            take_from_queue(st, &rng);
        if (iter % 4096 == 0) {       /* stats of busy heaps: they collect remote frees */
            dog_heap_stats_t s;
            if (dog_heap_stats(st->shared[iter / 4096 % N_SHARED], &s) != 0 ||
                dog_heap_stats(dog_default, &s) != 0)
                thread_fail("dog_heap_stats failed on a busy heap");
            else if (s.peak_bytes_in_use < s.bytes_in_use)
                thread_fail("default heap: peak %zu < in use %zu", s.peak_bytes_in_use,
                            s.bytes_in_use);
        }
    }
    /* exit with blocks in flight: half of what is left goes to the queue */
    for (size_t i = 0; i < SLOTS; i++) {
        item_t *it = &slots[i];
        if (it->p == NULL)
            continue;
        item_check(it, "own block at exit");
        if (i % 2 == 0 && queue_push(&st->queue, it))
            atomic_fetch_add(&st->handed, 1);
        else
            item_free(it, &rng);
    }
    return NULL;
}

/* --- Heap churn: create, share between two helpers, destroy with live blocks --- */

typedef struct churn_round {
    dog_heap_t *heap;
    queue_t queue;
    size_t per_helper;
    atomic_size_t kept_blocks, kept_bytes;
} churn_round_t;

typedef struct helper {
    churn_round_t *round;
    uint64_t seed;
} helper_t;

static void *helper_main(void *arg)
{
    helper_t *hp = arg;
    churn_round_t *cr = hp->round;
    uint64_t rng = hp->seed;
    for (size_t i = 0; i < cr->per_helper; i++) {
        item_t it;
        it.size = rng_next(&rng) % 50 == 0 ? 65537 + rng_next(&rng) % (3 * MiB)
                                           : 1 + rng_next(&rng) % 2000;
        it.heap = cr->heap;
        it.p = dog_heap_malloc(cr->heap, it.size);
        if (it.p == NULL) {
            thread_fail("churn: dog_heap_malloc(%zu) failed: errno %d", it.size, errno);
            continue;
        }
        pattern_fill(it.p, it.size);
        while (!queue_push(&cr->queue, &it))
            sched_yield();
    }
    /* take as many blocks as we gave: some our own, some the other helper's */
    size_t blocks = 0, bytes = 0;
    for (size_t taken = 0; taken < cr->per_helper;) {
        item_t it;
        if (!queue_pop(&cr->queue, &it)) {
            sched_yield();
            continue;
        }
        taken++;
        item_check(&it, "churn block");
        if (rng_next(&rng) % 3 == 0) {               /* left for dog_heap_destroy */
            blocks++;
            bytes += dog_usable_size(it.p);
        } else {
            dog_free(it.p);
        }
    }
    atomic_fetch_add(&cr->kept_blocks, blocks);
    atomic_fetch_add(&cr->kept_bytes, bytes);
    return NULL;
}

static void *churn_main(void *arg)
{
    stress_t *st = arg;
    uint64_t rng = 12345;
    for (size_t round = 0; !atomic_load(&st->churn_stop) || round < 3; round++) {
        char name[32];
        snprintf(name, sizeof name, "churn-%zu", round);
        dog_heap_options_t opts = { .name = name, .limit = 0 };
        churn_round_t cr;
        cr.heap = dog_heap_new(&opts);
        if (cr.heap == NULL) {
            thread_fail("churn: dog_heap_new failed: errno %d", errno);
            return NULL;
        }
        queue_init(&cr.queue, 2048);     /* holds both helpers' blocks */
        cr.per_helper = 200 + rng_next(&rng) % 400;
        atomic_init(&cr.kept_blocks, 0);
        atomic_init(&cr.kept_bytes, 0);
        helper_t hp[2] = { { &cr, rng_next(&rng) | 1 }, { &cr, rng_next(&rng) | 1 } };
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            if (pthread_create(&th[i], NULL, helper_main, &hp[i]) != 0) {
                thread_fail("churn: pthread_create failed");
                return NULL;
            }
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        dog_heap_stats_t s;
        if (dog_heap_stats(cr.heap, &s) != 0)
            thread_fail("churn: dog_heap_stats failed");
        else if (s.blocks_in_use != atomic_load(&cr.kept_blocks) ||
                 s.bytes_in_use != atomic_load(&cr.kept_bytes))
            thread_fail("churn heap %s: %zu blocks / %zu bytes in use, expected %zu / %zu",
                        name, s.blocks_in_use, s.bytes_in_use,
                        (size_t)atomic_load(&cr.kept_blocks),
                        (size_t)atomic_load(&cr.kept_bytes));
        else if (strcmp(dog_heap_name(cr.heap), name) != 0)
            thread_fail("churn heap name %s, expected %s", dog_heap_name(cr.heap), name);
        dog_heap_destroy(cr.heap);                   /* live blocks go with it */
        queue_fini(&cr.queue);
        /* process-wide calls while the workers are busy */
        dog_stats_t ps;
        if (dog_stats(&ps) != 0 || ps.heaps < 1 + N_SHARED)
            thread_fail("churn: dog_stats failed or counts %zu heaps", ps.heaps);
        if (round % 4 == 0)
            dog_trim();
        atomic_fetch_add(&st->churn_rounds, 1);
    }
    return NULL;
}

START_TEST(test_threads_stress)
{
    errors_reset();
    static stress_t st;
    queue_init(&st.queue, 4096);
    st.iterations = test_scaled(30000);
    atomic_init(&st.churn_stop, 0);
    atomic_init(&st.handed, 0);
    atomic_init(&st.received, 0);
    atomic_init(&st.churn_rounds, 0);
    for (int i = 0; i < N_SHARED; i++) {
        char name[24];                  /* "shared-" and any int */
        snprintf(name, sizeof name, "shared-%d", i);
        dog_heap_options_t opts = { .name = name };
        st.shared[i] = dog_heap_new(&opts);
        ck_assert_ptr_nonnull(st.shared[i]);
    }
    dog_heap_stats_t d0;
    ck_assert_int_eq(dog_heap_stats(dog_default, &d0), 0);

    pthread_t churn;
    ck_assert_int_eq(pthread_create(&churn, NULL, churn_main, &st), 0);
    pthread_t th[N_WORKERS];
    worker_t w[N_WORKERS];
    for (unsigned i = 0; i < N_WORKERS; i++) {
        w[i] = (worker_t){ &st, i };
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (unsigned i = 0; i < N_WORKERS; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    atomic_store(&st.churn_stop, 1);
    ck_assert_int_eq(pthread_join(churn, NULL), 0);

    /* the blocks still in flight: their threads are gone, main frees them */
    uint64_t rng = 99;
    item_t it;
    while (queue_pop(&st.queue, &it)) {
        item_check(&it, "block left in the queue");
        item_free(&it, &rng);
        atomic_fetch_add(&st.received, 1);
    }
    errors_assert_none();
    ck_assert_uint_eq(atomic_load(&st.handed), atomic_load(&st.received));
    ck_assert_uint_gt(atomic_load(&st.handed), 0);
    ck_assert_uint_ge(atomic_load(&st.churn_rounds), 3);

    for (int i = 0; i < N_SHARED; i++) {
        dog_heap_stats_t s;
        ck_assert_int_eq(dog_heap_stats(st.shared[i], &s), 0);
        ck_assert_msg(s.blocks_in_use == 0 && s.bytes_in_use == 0,
                      "shared heap %d: %zu blocks, %zu bytes in use after all frees", i,
                      s.blocks_in_use, s.bytes_in_use);
        ck_assert_uint_eq(s.huge_blocks, 0);
        ck_assert_uint_eq(s.huge_bytes, 0);
        ck_assert_uint_eq(s.allocs, s.frees);
        ck_assert_uint_gt(s.allocs, 0);
        ck_assert_uint_ge(s.peak_bytes_in_use, 1);
        dog_heap_destroy(st.shared[i]);
    }
    dog_heap_stats_t d1;
    ck_assert_int_eq(dog_heap_stats(dog_default, &d1), 0);
    ck_assert_msg(d1.blocks_in_use == d0.blocks_in_use && d1.bytes_in_use == d0.bytes_in_use,
                  "default heap: %zu blocks / %zu bytes in use before, %zu / %zu after",
                  d0.blocks_in_use, d0.bytes_in_use, d1.blocks_in_use, d1.bytes_in_use);
    ck_assert_uint_eq(d1.allocs - d0.allocs, d1.frees - d0.frees);
    queue_fini(&st.queue);
}
END_TEST

/* --- Producer / consumer: one thread allocates, another frees (remote frees) --- */

typedef struct pc {
    queue_t queue;
    dog_heap_t *heap;
    size_t count;
    size_t max_pages;       /* most pages the heap held, sampled by the producer */
    atomic_int done;
} pc_t;

static void *producer_main(void *arg)
{
    pc_t *pc = arg;
    uint64_t rng = 777;
    for (size_t i = 0; i < pc->count; i++) {
        item_t it;
        it.size = 1 + rng_next(&rng) % 512;
        it.heap = pc->heap;
        it.p = dog_heap_malloc(pc->heap, it.size);
        if (it.p == NULL) {
            thread_fail("producer: dog_heap_malloc(%zu) failed", it.size);
            break;
        }
        pattern_fill(it.p, it.size);
        while (!queue_push(&pc->queue, &it))
            sched_yield();
        if (i % 1024 == 0) {
            dog_heap_stats_t s;
            if (dog_heap_stats(pc->heap, &s) == 0 && s.pages > pc->max_pages)
                pc->max_pages = s.pages;
        }
    }
    atomic_store(&pc->done, 1);
    return NULL;
}

static void *consumer_main(void *arg)
{
    pc_t *pc = arg;
    uint64_t rng = 778;
    for (;;) {
        item_t it;
        if (queue_pop(&pc->queue, &it)) {
            item_check(&it, "consumer");
            item_free(&it, &rng);
        } else if (atomic_load(&pc->done)) {
            if (!queue_pop(&pc->queue, &it))
                break;
            item_check(&it, "consumer");
            item_free(&it, &rng);
        } else {
            sched_yield();
        }
    }
    return NULL;
}

START_TEST(test_threads_producer_consumer)
{
    /* every block is freed by a thread that did not allocate it; the heap's figures are
     * exact afterwards and its memory stays bounded (pages come back and are reused) */
    errors_reset();
    size_t classes = 0;     /* the size classes of 1..512 bytes: their block sizes */
    for (size_t size = 1, last = 0; size <= 512; size++) {
        void *p = dog_malloc(size);
        ck_assert_ptr_nonnull(p);
        size_t usable = dog_usable_size(p);
        dog_free(p);
        classes += usable != last;
        last = usable;
    }
    for (int pass = 0; pass < 2; pass++) {
        pc_t pc;
        queue_init(&pc.queue, 256);
        dog_heap_options_t opts = { .name = "mpsc" };
        pc.heap = pass == 0 ? dog_heap_new(&opts) : dog_default;
        ck_assert_ptr_nonnull(pc.heap);
        pc.count = test_scaled(200000);
        pc.max_pages = 0;
        atomic_init(&pc.done, 0);
        dog_heap_stats_t s0;
        ck_assert_int_eq(dog_heap_stats(pc.heap, &s0), 0);
        pthread_t p, c;
        ck_assert_int_eq(pthread_create(&p, NULL, producer_main, &pc), 0);
        ck_assert_int_eq(pthread_create(&c, NULL, consumer_main, &pc), 0);
        pthread_join(p, NULL);
        pthread_join(c, NULL);
        errors_assert_none();
        dog_heap_stats_t s;
        ck_assert_int_eq(dog_heap_stats(pc.heap, &s), 0);
        ck_assert_uint_eq(s.blocks_in_use, s0.blocks_in_use);
        ck_assert_uint_eq(s.bytes_in_use, s0.bytes_in_use);
        ck_assert_uint_eq(s.allocs - s0.allocs, pc.count);
        ck_assert_uint_eq(s.frees - s0.frees, pc.count);
        if (pass == 0) {
            /* One page per size class of 1..512 bytes, exactly, however the threads are
             * scheduled. One shard: the producer is the heap's only allocating thread and
             * the consumer's frees never take its lock (a free by a thread with no cache
             * of the heap goes onto the thread free list), so its refills never find the
             * shard busy and add another one with a page per class. One page per class:
             * a page leaves its bin only when every block it holds is handed out or
             * cached, but at most 258 blocks are (256 queued, one in each thread's hand)
             * and the producer's cache bin is empty when it refills, while a page holds
             * 968 blocks of 512 bytes or more; the freed blocks come back through the
             * thread free lists. */
            ck_assert_msg(pc.max_pages <= classes, "mpsc heap grew to %zu pages for < 128 KiB "
                          "live in %zu size classes", pc.max_pages, classes);
            dog_heap_destroy(pc.heap);
        }
        queue_fini(&pc.queue);
    }
}
END_TEST

/* --- A budgeted heap shared by threads that all run into its limit --- */

typedef struct budget {
    dog_heap_t *heap;
    size_t limit;
    atomic_size_t refusals;
    uint64_t seed;
} budget_t;

static void *budget_main(void *arg)
{
    budget_t *b = arg;
    uint64_t rng = b->seed;
    enum { MAX = 4096 };
    item_t *items = malloc(MAX * sizeof *items);
    if (items == NULL)
        return NULL;
    for (int round = 0; round < 6; round++) {
        size_t n = 0;
        while (n < MAX) {
            item_t *it = &items[n];
            it->size = rng_next(&rng) % 16 == 0 ? 65537 + rng_next(&rng) % (512 * KiB)
                                                : 1 + rng_next(&rng) % 3000;
            it->heap = b->heap;
            errno = 0;
            it->p = dog_heap_malloc(b->heap, it->size);
            if (it->p == NULL) {
                if (errno != ENOMEM)
                    thread_fail("budget heap: NULL with errno %d, not ENOMEM", errno);
                atomic_fetch_add(&b->refusals, 1);
                if (rng_next(&rng) % 4 == 0)
                    break;                    /* sometimes keep trying other sizes */
                continue;
            }
            pattern_fill(it->p, it->size);
            n++;
            if (n % 64 == 0) {
                dog_heap_stats_t s;
                if (dog_heap_stats(b->heap, &s) == 0 && s.bytes_mapped > b->limit)
                    thread_fail("budget heap maps %zu bytes, budget %zu", s.bytes_mapped,
                                b->limit);
            }
        }
        for (size_t i = 0; i < n; i++) {
            item_check(&items[i], "budget heap block");
            item_free(&items[i], &rng);
        }
    }
    free(items);
    return NULL;
}

START_TEST(test_threads_heap_limit_shared)
{
    errors_reset();
    enum { T = 4 };
    budget_t b;
    b.limit = 8 * MiB;
    dog_heap_options_t opts = { .name = "shared-budget", .limit = b.limit };
    b.heap = dog_heap_new(&opts);
    ck_assert_ptr_nonnull(b.heap);
    atomic_init(&b.refusals, 0);
    budget_t per[T];
    pthread_t th[T];
    for (int t = 0; t < T; t++) {
        per[t] = b;                          /* same heap, own seed; refusals summed below */
        atomic_init(&per[t].refusals, 0);
        per[t].seed = 1000 + (uint64_t)t;
        ck_assert_int_eq(pthread_create(&th[t], NULL, budget_main, &per[t]), 0);
    }
    size_t refusals = 0;
    for (int t = 0; t < T; t++) {
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
        refusals += atomic_load(&per[t].refusals);
    }
    errors_assert_none();
    ck_assert_uint_gt(refusals, 0);
    dog_heap_stats_t s;
    ck_assert_int_eq(dog_heap_stats(b.heap, &s), 0);
    ck_assert_uint_eq(s.blocks_in_use, 0);
    ck_assert_uint_eq(s.bytes_in_use, 0);
    ck_assert_uint_le(s.bytes_mapped, b.limit);
    ck_assert_uint_eq(s.allocs, s.frees);
    /* the budget is whole again: an empty heap can use it */
    void *p = dog_heap_malloc(b.heap, 1000);
    ck_assert_ptr_nonnull(p);
    dog_free(p);
    dog_heap_destroy(b.heap);
}
END_TEST

/* --- Blocks parked in a live thread's cache --- */

typedef struct parked {
    void **ptrs;
    size_t n;
    pthread_barrier_t *freed, *done;
} parked_t;

static void *free_and_wait(void *arg)
{
    parked_t *pk = arg;
    for (size_t i = 0; i < pk->n; i++)
        dog_free(pk->ptrs[i]);
    pthread_barrier_wait(pk->freed);      /* frees have returned; stay alive */
    pthread_barrier_wait(pk->done);
    return NULL;
}

START_TEST(test_threads_stats_exact_with_live_thread)
{
    /* another thread frees small blocks and stays alive (whatever it caches stays with
     * it): the figures are exact once its frees have returned, and the blocks are not
     * live any more */
    enum { N = 300 };
    void *ptrs[N];
    dog_heap_stats_t d0, d1;
    ck_assert_int_eq(dog_heap_stats(dog_default, &d0), 0);
    for (size_t i = 0; i < N; i++) {
        ptrs[i] = dog_malloc(16 + (i % 64) * 16);
        ck_assert_ptr_nonnull(ptrs[i]);
    }
    pthread_barrier_t freed, done;
    pthread_barrier_init(&freed, NULL, 2);
    pthread_barrier_init(&done, NULL, 2);
    parked_t pk = { ptrs, N, &freed, &done };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, free_and_wait, &pk), 0);
    pthread_barrier_wait(&freed);
    ck_assert_int_eq(dog_heap_stats(dog_default, &d1), 0);
    size_t live = 0;
    for (size_t i = 0; i < N; i++)
        live += dog_heap_of(ptrs[i]) != NULL;
    pthread_barrier_wait(&done);          /* let it go before asserting */
    pthread_join(t, NULL);
    pthread_barrier_destroy(&freed);
    pthread_barrier_destroy(&done);
    ck_assert_msg(d1.blocks_in_use == d0.blocks_in_use && d1.bytes_in_use == d0.bytes_in_use,
                  "default heap after another thread freed %d blocks: %zu blocks / %zu bytes "
                  "in use, %zu / %zu before", N, d1.blocks_in_use, d1.bytes_in_use,
                  d0.blocks_in_use, d0.bytes_in_use);
    ck_assert_uint_eq(d1.frees - d0.frees, N);
    ck_assert_msg(live == 0, "%zu freed blocks still look live to dog_heap_of", live);
}
END_TEST

/* --- Every bin of a thread cache full at once --- */

/* More blocks of each size class up to 16 KiB than a thread cache holds of it (256 at most
 * of the smallest, 16 KiB worth of the others), so that every bin fills up and sends half
 * back while the others are full: the bins' ranges of the one slot array must not
 * overlap, and the statistics stay exact while the thread lives and after it exits. */
#define CACHE_CLASSES_MAX 64
#define CACHE_SMALL_BLOCKS 300

typedef struct cache_fill {
    size_t classes, total;
    size_t size[CACHE_CLASSES_MAX], count[CACHE_CLASSES_MAX];
    void **blocks;                      /* total pointers, class by class */
    dog_heap_stats_t before;            /* taken by the main thread */
} cache_fill_t;

static int ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return x < y ? -1 : x > y;
}

/* Allocate count[c] blocks of every class, round-robin over the classes. */
static int cache_fill_alloc(cache_fill_t *cf, const char *round)
{
    for (size_t i = 0, done = 0; done < cf->total; i++)
        for (size_t c = 0, at = 0; c < cf->classes; at += cf->count[c], c++) {
            if (i >= cf->count[c])
                continue;
            void *p = dog_malloc(cf->size[c]);
            if (p == NULL || dog_usable_size(p) != cf->size[c]) {
                thread_fail("%s: dog_malloc(%zu) = %p, usable %zu", round, cf->size[c], p,
                            p ? dog_usable_size(p) : 0);
                return 0;
            }
            pattern_fill(launder(p), cf->size[c]);
            cf->blocks[at + i] = p;
            done++;
        }
    return 1;
}

/* Check every block's pattern and that no two blocks overlap. */
static int cache_fill_check(cache_fill_t *cf, const char *round)
{
    for (size_t c = 0, at = 0; c < cf->classes; at += cf->count[c], c++)
        for (size_t i = 0; i < cf->count[c]; i++) {
            size_t bad = pattern_check(cf->blocks[at + i], cf->size[c]);
            if (bad != SIZE_MAX) {
                thread_fail("%s: block %p of %zu bytes corrupted at byte %zu", round,
                            cf->blocks[at + i], cf->size[c], bad);
                return 0;
            }
        }
    void **sorted = malloc(cf->total * sizeof *sorted);
    if (sorted == NULL) {
        thread_fail("%s: no memory for the check", round);
        return 0;
    }
    memcpy(sorted, cf->blocks, cf->total * sizeof *sorted);
    qsort(sorted, cf->total, sizeof *sorted, ptr_cmp);
    int ok = 1;
    for (size_t i = 1; i < cf->total && ok; i++)
        if ((uintptr_t)sorted[i - 1] + dog_usable_size(sorted[i - 1]) > (uintptr_t)sorted[i]) {
            thread_fail("%s: blocks %p and %p overlap", round, sorted[i - 1], sorted[i]);
            ok = 0;
        }
    free(sorted);
    return ok;
}

/* Free every block, round-robin over the classes, so that all bins fill up together. */
static void cache_fill_free(cache_fill_t *cf)
{
    for (size_t i = 0, done = 0; done < cf->total; i++)
        for (size_t c = 0, at = 0; c < cf->classes; at += cf->count[c], c++)
            if (i < cf->count[c]) {
                dog_free(cf->blocks[at + i]);
                done++;
            }
}

/* The default heap has moved by blocks (in use), allocs and frees since cf->before. */
static int cache_fill_stats(cache_fill_t *cf, const char *round, size_t blocks, size_t bytes,
                            size_t allocs, size_t frees)
{
    dog_heap_stats_t now;
    if (dog_heap_stats(dog_default, &now) != 0) {
        thread_fail("%s: dog_heap_stats failed", round);
        return 0;
    }
    const dog_heap_stats_t *b = &cf->before;
    if (now.blocks_in_use != b->blocks_in_use + blocks ||
        now.bytes_in_use != b->bytes_in_use + bytes || now.allocs != b->allocs + allocs ||
        now.frees != b->frees + frees) {
        thread_fail("%s: %zu blocks / %zu bytes in use, %zu allocs, %zu frees; expected "
                    "%zu / %zu, %zu, %zu", round, now.blocks_in_use, now.bytes_in_use,
                    now.allocs, now.frees, b->blocks_in_use + blocks, b->bytes_in_use + bytes,
                    b->allocs + allocs, b->frees + frees);
        return 0;
    }
    return 1;
}

static void *cache_fill_thread(void *arg)
{
    cache_fill_t *cf = arg;
    size_t bytes = 0;
    for (size_t c = 0; c < cf->classes; c++)
        bytes += cf->count[c] * cf->size[c];
    const size_t n = cf->total;
    if (!cache_fill_alloc(cf, "first round") || !cache_fill_check(cf, "first round") ||
        !cache_fill_stats(cf, "first round", n, bytes, n, 0))
        return NULL;
    cache_fill_free(cf);
    /* what the cache holds now counts as free */
    if (!cache_fill_stats(cf, "all freed", 0, 0, n, n))
        return NULL;
    /* the second round comes from the full bins first */
    if (!cache_fill_alloc(cf, "second round") || !cache_fill_check(cf, "second round") ||
        !cache_fill_stats(cf, "second round", n, bytes, 2 * n, n))
        return NULL;
    cache_fill_free(cf);
    cache_fill_stats(cf, "all freed again", 0, 0, 2 * n, 2 * n);
    return NULL;
}

START_TEST(test_threads_cache_every_bin_full)
{
    errors_reset();
    static cache_fill_t cf;
    memset(&cf, 0, sizeof cf);
    /* The block size of every class up to 16 KiB, through the public API. */
    for (size_t want = 1; want <= 16 * KiB;) {
        void *p = dog_malloc(want);
        ck_assert_ptr_nonnull(p);
        size_t size = dog_usable_size(p);
        dog_free(p);
        ck_assert_uint_lt(cf.classes, CACHE_CLASSES_MAX);
        cf.size[cf.classes] = size;
        cf.count[cf.classes] = size <= KiB ? CACHE_SMALL_BLOCKS : 24;
        cf.total += cf.count[cf.classes];
        cf.classes++;
        want = size + 1;
    }
    ck_assert_uint_ge(cf.classes, 30);
    cf.blocks = calloc(cf.total, sizeof *cf.blocks);
    ck_assert_ptr_nonnull(cf.blocks);
    ck_assert_int_eq(dog_heap_stats(dog_default, &cf.before), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, cache_fill_thread, &cf), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    errors_assert_none();
    /* the thread's cache went back to the shards at its exit */
    dog_heap_stats_t after;
    ck_assert_int_eq(dog_heap_stats(dog_default, &after), 0);
    ck_assert_uint_eq(after.blocks_in_use, cf.before.blocks_in_use);
    ck_assert_uint_eq(after.bytes_in_use, cf.before.bytes_in_use);
    ck_assert_uint_eq(after.allocs - cf.before.allocs, 2 * cf.total);
    ck_assert_uint_eq(after.frees - cf.before.frees, 2 * cf.total);
    free(cf.blocks);
}
END_TEST

/* --- Frees from thread-specific-data destructors (after dogmalloc's own) --- */

static pthread_key_t user_key;

static void user_key_destructor(void *p)
{
    /* runs at thread exit, possibly after dogmalloc cleaned up this thread's state */
    dog_free(p);
    for (int i = 0; i < 100; i++) {
        void *q = dog_malloc(24 + (size_t)i);
        if (q == NULL) {
            thread_fail("dog_malloc in a TSD destructor failed");
            return;
        }
        memset(q, 1, 24 + (size_t)i);
        dog_free(q);
    }
}

static void *tsd_thread(void *arg)
{
    (void)arg;
    void *keep[64];
    for (int i = 0; i < 64; i++)
        keep[i] = dog_malloc(32);
    for (int i = 0; i < 64; i++)
        dog_free(keep[i]);
    void *p = dog_malloc(100);
    if (p == NULL)
        thread_fail("tsd thread: dog_malloc failed");
    pthread_setspecific(user_key, p);
    return NULL;
}

START_TEST(test_threads_free_in_tsd_destructor)
{
    errors_reset();
    dog_free(dog_malloc(8));               /* dogmalloc's own keys exist before ours */
    ck_assert_int_eq(pthread_key_create(&user_key, user_key_destructor), 0);
    dog_heap_stats_t d0, d1;
    ck_assert_int_eq(dog_heap_stats(dog_default, &d0), 0);
    for (int round = 0; round < 20; round++) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(pthread_create(&t[i], NULL, tsd_thread, NULL), 0);
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    }
    errors_assert_none();
    ck_assert_int_eq(dog_heap_stats(dog_default, &d1), 0);
    ck_assert_uint_eq(d1.blocks_in_use, d0.blocks_in_use);
    ck_assert_uint_eq(d1.bytes_in_use, d0.bytes_in_use);
    pthread_key_delete(user_key);
}
END_TEST

/* --- First use of a heap by many threads at once --- */

typedef struct first_use {
    dog_heap_t *heap;
    pthread_barrier_t *go;
    int failures;
} first_use_t;

static void *first_use_main(void *arg)
{
    first_use_t *f = arg;
    pthread_barrier_wait(f->go);
    for (int i = 0; i < 200; i++) {
        errno = 0;
        size_t size = 1 + (size_t)(i * 97) % 5000;
        void *p = f->heap ? dog_heap_malloc(f->heap, size) : dog_malloc(size);
        if (p == NULL) {
            f->failures++;
            continue;
        }
        dog_free(p);
    }
    return NULL;
}

/* 16 threads start allocating from `heap` (NULL: dog_malloc) at the same moment;
 * returns how many allocations failed. */
int threads_first_use(dog_heap_t *heap)
{
    enum { T = 16 };
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, T);
    first_use_t f[T];
    pthread_t th[T];
    int started = 0, failures = 0;
    for (int t = 0; t < T; t++) {
        f[t] = (first_use_t){ heap, &go, 0 };
        if (pthread_create(&th[t], NULL, first_use_main, &f[t]) != 0)
            break;
        started++;
    }
    if (started < T)            /* cannot happen in practice; do not hang on the barrier */
        abort();
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        failures += f[t].failures;
    }
    pthread_barrier_destroy(&go);
    return failures;
}

START_TEST(test_threads_new_heap_first_use)
{
    /* a new heap has no shards yet: 16 threads reach for one at once */
    for (int round = 0; round < 30; round++) {
        dog_heap_t *h = dog_heap_new(NULL);
        ck_assert_ptr_nonnull(h);
        int failures = threads_first_use(h);
        ck_assert_msg(failures == 0, "round %d: %d allocations from a new heap failed when 16 "
                      "threads used it first at once", round, failures);
        dog_heap_stats_t s;
        ck_assert_int_eq(dog_heap_stats(h, &s), 0);
        ck_assert_uint_eq(s.blocks_in_use, 0);
        dog_heap_destroy(h);
    }
}
END_TEST

START_TEST(test_threads_process_first_use)
{
    /* dogmalloc's very first calls in a process come from 16 threads at once. This
     * process has used dogmalloc already, so run fresh copies of the test binary
     * (main() in check_main.c sees DOG_TEST_FIRST_USE and runs threads_first_use). */
    for (int run = 0; run < 40; run++) {
        fflush(NULL);
        pid_t pid = fork();
        ck_assert_int_ne(pid, -1);
        if (pid == 0) {
            setenv("DOG_TEST_FIRST_USE", "1", 1);
            execl("/proc/self/exe", "check_dogmalloc", (char *)NULL);
            _exit(127);
        }
        int status;
        pid_t w;
        while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
            ;
        ck_assert_int_eq(w, pid);
        ck_assert_msg(WIFEXITED(status), "run %d: fresh process died of signal %d", run,
                      WIFSIGNALED(status) ? WTERMSIG(status) : -1);
        ck_assert_msg(WEXITSTATUS(status) != 127, "could not run /proc/self/exe");
        ck_assert_msg(WEXITSTATUS(status) == 0, "run %d: fresh process exited with %d: the "
                      "number of dog_malloc calls that failed when 16 threads made its first "
                      "calls at once (66: a sanitizer report, see stderr)", run,
                      WEXITSTATUS(status));
    }
}
END_TEST

/* --- Fork while other threads allocate --- */

typedef struct forker {
    dog_heap_t *heap;
    atomic_int stop;
    unsigned id;
} forker_t;

static void *busy_main(void *arg)
{
    forker_t *f = arg;
    uint64_t rng = 0x1234567ull * (f->id + 1);
    item_t slots[32];
    memset(slots, 0, sizeof slots);
    while (!atomic_load(&f->stop)) {
        item_t *it = &slots[rng_next(&rng) % 32];
        if (it->p != NULL) {
            item_check(it, "busy thread");
            item_free(it, &rng);
        }
        it->size = rng_next(&rng) % 64 == 0 ? 65537 + rng_next(&rng) % MiB
                                            : 1 + rng_next(&rng) % 3000;
        it->heap = rng_next(&rng) % 2 ? dog_default : f->heap;
        it->p = dog_heap_malloc(it->heap, it->size);
        if (it->p == NULL) {
            thread_fail("busy thread: allocation failed");
            break;
        }
        pattern_fill(it->p, it->size);
    }
    for (int i = 0; i < 32; i++)
        if (slots[i].p != NULL) {
            item_check(&slots[i], "busy thread at exit");
            dog_free(slots[i].p);
        }
    return NULL;
}

/* The child of a fork: checks, allocates and frees; its exit code says what failed. */
static int fork_child(item_t *pre, size_t npre, dog_heap_t *heap)
{
    alarm(60);                          /* a deadlock after fork shows as SIGALRM */
    for (size_t i = 0; i < npre; i++) {
        if (pattern_check(pre[i].p, pre[i].size) != SIZE_MAX)
            return 2;
        if (dog_heap_of(pre[i].p) != pre[i].heap)
            return 3;
    }
    uint64_t rng = 4242;
    enum { N = 500 };
    item_t mine[N];
    for (size_t i = 0; i < N; i++) {
        mine[i].size = i % 50 == 0 ? 65537 + rng_next(&rng) % (2 * MiB) : 1 + rng_next(&rng) % 4000;
        mine[i].heap = i % 3 == 0 ? heap : dog_default;
        mine[i].p = dog_heap_malloc(mine[i].heap, mine[i].size);
        if (mine[i].p == NULL)
            return 4;
        pattern_fill(mine[i].p, mine[i].size);
    }
    for (size_t i = 0; i < N; i++) {
        if (pattern_check(mine[i].p, mine[i].size) != SIZE_MAX)
            return 5;
        dog_free(mine[i].p);
    }
    for (size_t i = 0; i < npre; i++)   /* blocks allocated before the fork */
        dog_free(pre[i].p);
    dog_heap_t *h = dog_heap_new(NULL);
    if (h == NULL)
        return 6;
    void *p = dog_heap_malloc(h, 100000);
    if (p == NULL)
        return 7;
    dog_heap_destroy(h);
    dog_heap_stats_t s;
    if (dog_heap_stats(heap, &s) != 0)
        return 8;
    return 0;
}

START_TEST(test_threads_fork_while_allocating)
{
    errors_reset();
    enum { BUSY = 4, PRE = 40 };
    forker_t f[BUSY];
    dog_heap_options_t opts = { .name = "forked" };
    dog_heap_t *heap = dog_heap_new(&opts);
    ck_assert_ptr_nonnull(heap);
    item_t pre[PRE];
    for (size_t i = 0; i < PRE; i++) {
        pre[i].size = i % 10 == 0 ? 2 * MiB + i : 8 + i * 37;
        pre[i].heap = i % 2 ? heap : dog_default;
        pre[i].p = dog_heap_malloc(pre[i].heap, pre[i].size);
        ck_assert_ptr_nonnull(pre[i].p);
        pattern_fill(pre[i].p, pre[i].size);
    }
    pthread_t th[BUSY];
    for (unsigned i = 0; i < BUSY; i++) {
        f[i].heap = heap;
        f[i].id = i;
        atomic_init(&f[i].stop, 0);
        ck_assert_int_eq(pthread_create(&th[i], NULL, busy_main, &f[i]), 0);
    }
    size_t forks = test_scaled(40);
    for (size_t k = 0; k < forks; k++) {
        fflush(NULL);
        pid_t pid = fork();
        ck_assert_int_ne(pid, -1);
        if (pid == 0)
            _exit(fork_child(pre, PRE, heap));
        int status;
        pid_t w;
        while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
            ;
        ck_assert_int_eq(w, pid);
        ck_assert_msg(!WIFSIGNALED(status), "fork %zu: child killed by signal %d (%s)", k,
                      WTERMSIG(status), strsignal(WTERMSIG(status)));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "fork %zu: child failed with exit code %d", k, WEXITSTATUS(status));
    }
    for (unsigned i = 0; i < BUSY; i++)
        atomic_store(&f[i].stop, 1);
    for (unsigned i = 0; i < BUSY; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    errors_assert_none();
    for (size_t i = 0; i < PRE; i++) {
        ck_assert(pattern_check(pre[i].p, pre[i].size) == SIZE_MAX);
        dog_free(pre[i].p);
    }
    dog_heap_stats_t s;
    ck_assert_int_eq(dog_heap_stats(heap, &s), 0);
    ck_assert_uint_eq(s.blocks_in_use, 0);
    dog_heap_destroy(heap);
}
END_TEST

/* --- Thread exit with blocks still live: another thread frees them later --- */

static void *alloc_and_exit(void *arg)
{
    item_t *items = arg;
    for (size_t i = 0; i < 1000; i++) {
        items[i].size = 1 + (i * 97) % 5000;
        items[i].heap = dog_default;
        items[i].p = dog_malloc(items[i].size);
        if (items[i].p == NULL) {
            thread_fail("alloc_and_exit: dog_malloc failed");
            return NULL;
        }
        pattern_fill(items[i].p, items[i].size);
    }
    return NULL;
}

START_TEST(test_threads_exit_with_live_blocks)
{
    errors_reset();
    dog_heap_stats_t d0;
    ck_assert_int_eq(dog_heap_stats(dog_default, &d0), 0);
    enum { T = 16 };
    item_t *items = calloc(T * 1000, sizeof *items);
    ck_assert_ptr_nonnull(items);
    for (int round = 0; round < 2; round++) {
        pthread_t th[T];
        for (int t = 0; t < T; t++)
            ck_assert_int_eq(pthread_create(&th[t], NULL, alloc_and_exit, items + t * 1000), 0);
        for (int t = 0; t < T; t++)
            ck_assert_int_eq(pthread_join(th[t], NULL), 0);
        errors_assert_none();
        uint64_t rng = 5;
        for (size_t i = 0; i < T * 1000; i++) {
            REQUIRE(item_check(&items[i], "block of an exited thread"), "%s", first_error);
            item_free(&items[i], &rng);
        }
    }
    free(items);
    dog_heap_stats_t d1;
    ck_assert_int_eq(dog_heap_stats(dog_default, &d1), 0);
    ck_assert_uint_eq(d1.blocks_in_use, d0.blocks_in_use);
    ck_assert_uint_eq(d1.bytes_in_use, d0.bytes_in_use);
}
END_TEST

/* --- Huge blocks moved by realloc while other threads map pages --- */

typedef struct mover {
    _Atomic int *stop;
    int failures;
} mover_t;

static void *realloc_mover(void *arg)
{
    /* grows huge blocks past neighbours that stop in-place growth, so mremap moves them */
    mover_t *m = arg;
    while (!atomic_load(m->stop)) {
        size_t size = 100 << 10;
        char *p = dog_malloc(size);
        void *wall = dog_malloc(200 << 10);
        if (p == NULL || wall == NULL) {
            m->failures++;
            break;
        }
        memset(p, 0x5a, size);
        for (int i = 0; i < 12 && p != NULL; i++) {
            char *q = dog_realloc(p, size * 2);
            if (q == NULL) {
                m->failures++;
                break;
            }
            if (q[0] != 0x5a || q[size - 1] != 0x5a)
                m->failures++;
            memset(q + size, 0x5a, size);
            p = q;
            size *= 2;
        }
        dog_free(p);
        dog_free(wall);
    }
    return NULL;
}

static void *page_churner(void *arg)
{
    /* maps and frees pages: a page mapped where a moved block used to be must stay ours */
    mover_t *m = arg;
    enum { N = 4096 };
    static _Thread_local void *blocks[N];
    while (!atomic_load(m->stop)) {
        for (int i = 0; i < N; i++)
            blocks[i] = dog_malloc(2048 + (size_t)(i % 7) * 1024);
        for (int i = 0; i < N; i++) {
            if (dog_heap_of(blocks[i]) != dog_default)
                m->failures++;
            dog_free(blocks[i]);
        }
        dog_trim();                 /* unmaps the pool, so the next round maps anew */
    }
    return NULL;
}

START_TEST(test_threads_huge_realloc_moves_while_mapping)
{
    _Atomic int stop = 0;
    mover_t m[4] = {{&stop, 0}, {&stop, 0}, {&stop, 0}, {&stop, 0}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, i < 2 ? realloc_mover : page_churner, &m[i]), 0);
    struct timespec ts = {0, (long)(test_scale() * 1e9)};
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec = ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
    }
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    int failures = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        failures += m[i].failures;
    }
    ck_assert_int_eq(failures, 0);
}
END_TEST

/* --- Memory touched only as it is used --- */

#define FRESH_BLOCKS 5    /* a first refill's run, and the first block of a carve */

static void *fresh_blocks(void *arg)
{
    void **v = arg;
    for (int i = 0; i < FRESH_BLOCKS; i++) {
        v[i] = dog_malloc(700);         /* a size no other test of this file asks for */
        if (v[i] == NULL)
            return NULL;
        memset(v[i], 1, 700);
    }
    return v;
}

START_TEST(test_threads_refill_touches_only_what_is_used)
{
    /* A thread's refills of a size carve runs of fresh blocks into its cache, and only
     * as far as the OS page the run's first block ends in: of the 512 KiB page that holds
     * them, no OS page past the last block handed out is resident. */
    pthread_t t;
    void *v[FRESH_BLOCKS], *ok = NULL;
    ck_assert_int_eq(pthread_create(&t, NULL, fresh_blocks, v), 0);
    ck_assert_int_eq(pthread_join(t, &ok), 0);
    ck_assert_ptr_eq(ok, v);
    char *page = (char *)((uintptr_t)v[0] & ~(uintptr_t)(512 * KiB - 1));
    uintptr_t used_end = 0;
    for (int i = 0; i < FRESH_BLOCKS; i++) {
        ck_assert_ptr_eq((char *)((uintptr_t)v[i] & ~(uintptr_t)(512 * KiB - 1)), page);
        uintptr_t end = (uintptr_t)v[i] + 700 - (uintptr_t)page;
        used_end = end > used_end ? end : used_end;
    }
    size_t used_pages = (used_end + 4095) / 4096;
    unsigned char vec[512 * KiB / 4096];
    ck_assert_int_eq(mincore(page, 512 * KiB, vec), 0);
    size_t last = 0;
    for (size_t i = 0; i < sizeof vec; i++)
        if (vec[i] & 1)
            last = i + 1;
    const char *fork_mode = getenv("CK_FORK");
    if (last > used_pages && fork_mode != NULL && strcmp(fork_mode, "no") == 0) {
        /* in one process with the earlier tests the page may be a reused one, resident
         * from its earlier life: nothing to measure here */
    } else {
        ck_assert_msg(last <= used_pages, "OS pages resident up to %zu, blocks in use end in "
                      "page %zu", last, used_pages);
    }
    for (int i = 0; i < FRESH_BLOCKS; i++)
        dog_free(v[i]);
}
END_TEST

/* --- Blocks outliving the thread that allocated them --- */

#define ORPHAN_BLOCKS 20000

static void *alloc_orphans(void *arg)
{
    void **v = arg;
    for (size_t i = 0; i < ORPHAN_BLOCKS; i++) {
        v[i] = dog_malloc(200);
        if (v[i] == NULL)
            return NULL;
        memset(v[i], 0x6f, 200);
    }
    return v;
}

START_TEST(test_threads_exited_threads_pages_come_back)
{
    /* A thread fills pages of a shard of its own and exits; the main thread frees its
     * blocks later. Nobody calls that shard home any more, so nobody would collect
     * remote frees there: the frees go through its lock, and its pages empty and leave
     * the heap instead of waiting for a user that never comes (larson's lineages). */
    void **v = malloc(ORPHAN_BLOCKS * sizeof *v);
    ck_assert_ptr_nonnull(v);
    warm_thread_cache();
    pthread_t t;
    void *ok = NULL;
    ck_assert_int_eq(pthread_create(&t, NULL, alloc_orphans, v), 0);
    ck_assert_int_eq(pthread_join(t, &ok), 0);
    ck_assert_ptr_eq(ok, v);
    /* dog_stats, unlike dog_heap_stats, collects nothing: it sees the pool as it is */
    dog_stats_t during, after;
    ck_assert_int_eq(dog_stats(&during), 0);
    for (size_t i = 0; i < ORPHAN_BLOCKS; i++)
        dog_free(v[i]);
    ck_assert_int_eq(dog_stats(&after), 0);
    ck_assert_uint_ge(after.pool_pages, during.pool_pages + 4);    /* 20000 x 200 bytes */
    free(v);
}
END_TEST

Suite *threads_suite(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_threads_stress);
    tcase_add_test(tc, test_threads_producer_consumer);
    tcase_add_test(tc, test_threads_exit_with_live_blocks);
    tcase_add_test(tc, test_threads_heap_limit_shared);
    tcase_add_test(tc, test_threads_stats_exact_with_live_thread);
    tcase_add_test(tc, test_threads_cache_every_bin_full);
    tcase_add_test(tc, test_threads_exited_threads_pages_come_back);
    tcase_add_test(tc, test_threads_refill_touches_only_what_is_used);
    tcase_add_test(tc, test_threads_free_in_tsd_destructor);
    tcase_add_test(tc, test_threads_new_heap_first_use);
    tcase_add_test(tc, test_threads_process_first_use);
    tcase_add_test(tc, test_threads_fork_while_allocating);
    tcase_add_test(tc, test_threads_huge_realloc_moves_while_mapping);
    suite_add_tcase(s, tc);
    return s;
}
