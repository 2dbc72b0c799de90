/* SPDX-License-Identifier: MIT */
/* fork_stress.c: fork() from several threads while other threads allocate and free.
 *
 * Usage: fork_stress [SECONDS [WORKERS [FORKERS]]]   (defaults: 3 s, 3 workers, 2 forkers)
 *
 * Workers allocate and free continuously (sizes from 1 byte to 4 MiB, so huge blocks
 * above 64 KiB too; malloc, calloc, realloc, posix_memalign, aligned_alloc), hand blocks
 * to each other through a shared pool (cross-thread frees), and exit after a random
 * number of steps, leaving blocks behind for others to free (thread exit with blocks in
 * flight); the main thread starts a new worker for each one that ends.
 * Forkers allocate a few blocks of their own, fork() while holding the pool lock (so
 * the pool is consistent in the child), and in the child: check and free the blocks
 * the parent allocated before the fork (their own and every pool block), allocate and
 * free, run a thread, sometimes fork a grandchild, then _exit(). The parent waits for
 * each child at most CHILD_TIMEOUT seconds: a child that does not exit by then is
 * deadlocked, it is killed and the run fails (FORK_STRESS_GDB=1 prints its stacks
 * with gdb first).
 *
 * Every block carries a pattern made from a unique id; it is checked before every free
 * and realloc, so a block handed out twice, overwritten or lost shows up. At the end
 * every block allocated has been freed exactly once (allocs == frees).
 * Nothing here uses stdio or other locks of the C library while threads run, so that
 * a hang can only come from the allocator. Exit status 0 when all is well.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "say.h"
#include <unistd.h>

#define SLOTS 256              /* private blocks per worker */
#define POOL 512               /* blocks shared by all threads */
#define OWN 24                 /* blocks a forker allocates before each fork */
#define MAX_WORKERS 16
#define MAX_FORKERS 16
#define CHILD_TIMEOUT 10       /* seconds before a child counts as deadlocked */
#define HUGE_MAX (4u << 20)

typedef struct block {
    unsigned char *p;
    size_t size;
    uint64_t id;
} block_t;

static block_t pool[POOL];
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

static atomic_uint_fast64_t next_id = 1;
static atomic_uint_fast64_t n_allocs, n_frees, n_checked, n_forks, n_children_ok;
static atomic_uint_fast64_t n_errors;
static atomic_bool stop;

/* --- Reporting without stdio (safe in children and while other threads run) --- */

/* say(): say.h */

static void report(const char *what, const block_t *b, size_t at)
{
    atomic_fetch_add(&n_errors, 1);
    say("fork_stress[%d]: %s: block %p size %zu id %llu, byte %zu\n", (int)getpid(), what,
        (void *)b->p, b->size, (unsigned long long)b->id, at);
}

/* --- Random numbers: xorshift64*, one state per thread --- */

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

/* Mostly small, some medium, a few huge (> 64 KiB, up to 4 MiB). */
static size_t random_size(uint64_t *s)
{
    uint64_t r = rnd(s);
    unsigned pick = (unsigned)(r % 100);
    r >>= 8;
    if (pick < 55)
        return 1 + r % 256;
    if (pick < 80)
        return 257 + r % 8000;
    if (pick < 95)
        return 8193 + r % (65536 - 8192);
    return 65537 + r % (HUGE_MAX - 65536);
}

/* --- Patterns: the 8 bytes at offset 8 * i of block id hold word_of(id, i), so any
 * prefix of a block (after a realloc) has a well-defined pattern too --- */

static uint64_t word_of(uint64_t id, size_t i)
{
    return id * 0x9E3779B97F4A7C15ULL + i;
}

static unsigned char byte_of(uint64_t id, size_t j)
{
    unsigned char w[8];
    uint64_t v = word_of(id, j / 8);
    memcpy(w, &v, 8);
    return w[j % 8];
}

/* Write the pattern into bytes [from, size) of b. */
static void fill(block_t *b, size_t from)
{
    size_t j = from;
    for (; j < b->size && j % 8 != 0; j++)
        b->p[j] = byte_of(b->id, j);
    for (; j + 8 <= b->size; j += 8) {
        uint64_t v = word_of(b->id, j / 8);
        memcpy(b->p + j, &v, 8);
    }
    for (; j < b->size; j++)
        b->p[j] = byte_of(b->id, j);
}

/* Check bytes [0, upto) of b. */
static bool check(const block_t *b, size_t upto)
{
    size_t j = 0;
    for (; j + 8 <= upto; j += 8) {
        uint64_t v;
        memcpy(&v, b->p + j, 8);
        if (v != word_of(b->id, j / 8))
            break;
    }
    for (; j < upto; j++) {
        if (b->p[j] != byte_of(b->id, j)) {
            report("corrupted block", b, j);
            return false;
        }
    }
    atomic_fetch_add(&n_checked, 1);
    return true;
}

static bool check_usable(const block_t *b)
{
    size_t usable = malloc_usable_size(b->p);
    if (usable < b->size) {
        report("malloc_usable_size smaller than the request", b, usable);
        return false;
    }
    return true;
}

/* --- Allocation with every entry point of the malloc family --- */

static void block_alloc(block_t *b, uint64_t *s)
{
    size_t size = random_size(s);
    unsigned how = (unsigned)(rnd(s) % 8);
    void *p = NULL;
    switch (how) {
    case 0: {
        p = calloc(1, size);
        if (p != NULL) {
            for (size_t i = 0; i < size; i++) {
                if (((unsigned char *)p)[i] != 0) {
                    block_t z = { p, size, 0 };
                    report("calloc block not zeroed", &z, i);
                    break;
                }
            }
        }
        break;
    }
    case 1: {
        size_t align = (size_t)16 << (rnd(s) % 9);   /* 16 .. 4096 */
        if (posix_memalign(&p, align, size) != 0)
            p = NULL;
        else if ((uintptr_t)p % align != 0) {
            block_t z = { p, size, 0 };
            report("posix_memalign misaligned", &z, align);
        }
        break;
    }
    case 2: {
        size_t align = (size_t)64 << (rnd(s) % 7);    /* 64 .. 4096 */
        p = aligned_alloc(align, (size + align - 1) / align * align);
        if (p != NULL && (uintptr_t)p % align != 0) {
            block_t z = { p, size, 0 };
            report("aligned_alloc misaligned", &z, align);
        }
        break;
    }
    default:
        p = malloc(size);
        break;
    }
    if (p == NULL) {
        block_t z = { NULL, size, 0 };
        report("allocation failed", &z, 0);
        b->p = NULL;
        return;
    }
    atomic_fetch_add(&n_allocs, 1);
    b->p = p;
    b->size = size;
    b->id = atomic_fetch_add(&next_id, 1);
    check_usable(b);
    fill(b, 0);
}

static void block_free(block_t *b)
{
    if (b->p == NULL)
        return;
    check(b, b->size);
    free(b->p);
    atomic_fetch_add(&n_frees, 1);
    b->p = NULL;
}

/* Grow or shrink; the common prefix must survive. */
static void block_realloc(block_t *b, uint64_t *s)
{
    size_t size = random_size(s);
    if (!check(b, b->size))
        return;
    unsigned char *q = realloc(b->p, size);
    if (q == NULL) {
        report("realloc failed", b, size);
        return;
    }
    size_t keep = size < b->size ? size : b->size;
    b->p = q;
    b->size = keep;
    check(b, keep);              /* the kept prefix, in its new place */
    b->size = size;
    check_usable(b);
    fill(b, keep);
}

/* Swap b with a random pool entry: the block goes to whichever thread takes it next. */
static void pool_swap(block_t *b, uint64_t *s)
{
    size_t i = (size_t)(rnd(s) % POOL);
    pthread_mutex_lock(&pool_lock);
    block_t t = pool[i];
    pool[i] = *b;
    *b = t;
    pthread_mutex_unlock(&pool_lock);
}

/* --- Workers --- */

typedef struct worker {
    pthread_t thread;
    atomic_bool done;
    bool running;
    uint64_t seed;
} worker_t;

static void churn(block_t *slots, size_t n, uint64_t *s, long steps, bool use_pool)
{
    for (long k = 0; k < steps && !atomic_load_explicit(&stop, memory_order_relaxed); k++) {
        block_t *b = &slots[rnd(s) % n];
        unsigned op = (unsigned)(rnd(s) % 16);
        if (b->p == NULL)
            block_alloc(b, s);
        else if (op < 9)
            block_free(b);
        else if (op < 11)
            block_realloc(b, s);
        else if (use_pool && op < 14)
            pool_swap(b, s);
    }
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    uint64_t s = w->seed;
    block_t slots[SLOTS];
    memset(slots, 0, sizeof slots);
    churn(slots, SLOTS, &s, 2000 + (long)(rnd(&s) % 30000), true);
    /* Leave with blocks in flight: about half go to the pool for others to free. */
    for (size_t i = 0; i < SLOTS; i++) {
        if (slots[i].p != NULL && rnd(&s) % 2)
            pool_swap(&slots[i], &s);
        block_free(&slots[i]);
    }
    atomic_store(&w->done, true);
    return NULL;
}

/* --- Children --- */

static void *child_thread(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg | 1;
    block_t slots[64];
    memset(slots, 0, sizeof slots);
    churn(slots, 64, &s, 200, false);
    for (size_t i = 0; i < 64; i++)
        block_free(&slots[i]);
    return NULL;
}

/* Runs in the child: the only thread; the parent's pool lock is held (by us). */
static void child_main(block_t *own, uint64_t seed)
{
    uint64_t s = seed | 1;
    atomic_store(&n_errors, 0);      /* count this child's errors only */
    atomic_store(&stop, false);
    for (size_t i = 0; i < OWN; i++)
        block_free(&own[i]);
    for (size_t i = 0; i < POOL; i++)
        block_free(&pool[i]);

    block_t slots[64];
    memset(slots, 0, sizeof slots);
    churn(slots, 64, &s, 300, false);

    pthread_t t;
    if (pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)rnd(&s)) != 0) {
        say("fork_stress[%d]: pthread_create failed in the child\n", (int)getpid());
        _exit(4);
    }
    pthread_join(t, NULL);

    if (rnd(&s) % 8 == 0) {       /* a grandchild: fork from a process that forked */
        pid_t g = fork();
        if (g == 0) {
            churn(slots, 64, &s, 200, false);
            for (size_t i = 0; i < 64; i++)
                block_free(&slots[i]);
            _exit(atomic_load(&n_errors) ? 3 : 0);
        }
        int st;
        if (g < 0 || waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            say("fork_stress[%d]: grandchild failed (status %#x)\n", (int)getpid(),
                g < 0 ? 0 : (unsigned)st);
            _exit(5);
        }
    }
    for (size_t i = 0; i < 64; i++)
        block_free(&slots[i]);
    _exit(atomic_load(&n_errors) ? 3 : 0);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void show_stacks(pid_t pid)
{
    const char *gdb = getenv("FORK_STRESS_GDB");
    if (gdb == NULL || *gdb == '\0' || *gdb == '0')
        return;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "gdb -p %d -batch -ex 'thread apply all bt' 1>&2 </dev/null",
             (int)pid);
    if (system(cmd) != 0)
        say("fork_stress: gdb failed\n");
}

/* Wait for pid at most CHILD_TIMEOUT seconds; false if it deadlocked or failed. */
static bool wait_child(pid_t pid)
{
    double deadline = now() + CHILD_TIMEOUT;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            say("fork_stress: waitpid(%d): %s\n", (int)pid, strerror(errno));
            return false;
        }
        if (now() > deadline) {
            say("fork_stress: child %d did not exit within %d s: deadlock\n", (int)pid,
                CHILD_TIMEOUT);
            show_stacks(pid);
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return false;
        }
        struct timespec ts = { 0, 2000000 };
        nanosleep(&ts, NULL);
    }
    if (WIFSIGNALED(st)) {
        say("fork_stress: child %d killed by signal %d (%s)\n", (int)pid, WTERMSIG(st),
            strsignal(WTERMSIG(st)));
        return false;
    }
    if (WEXITSTATUS(st) != 0) {
        say("fork_stress: child %d exited with status %d\n", (int)pid, WEXITSTATUS(st));
        return false;
    }
    return true;
}

static void *forker_main(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg | 1;
    block_t own[OWN];
    memset(own, 0, sizeof own);
    while (!atomic_load(&stop)) {
        for (size_t i = 0; i < OWN; i++)
            block_alloc(&own[i], &s);
        uint64_t child_seed = rnd(&s);
        pthread_mutex_lock(&pool_lock);
        pid_t pid = fork();
        if (pid == 0)
            child_main(own, child_seed);          /* does not return */
        pthread_mutex_unlock(&pool_lock);
        if (pid < 0) {
            say("fork_stress: fork: %s\n", strerror(errno));
            atomic_fetch_add(&n_errors, 1);
        } else {
            atomic_fetch_add(&n_forks, 1);
            if (wait_child(pid))
                atomic_fetch_add(&n_children_ok, 1);
            else
                atomic_fetch_add(&n_errors, 1);
        }
        for (size_t i = 0; i < OWN; i++)
            block_free(&own[i]);
    }
    return NULL;
}

static int arg(int argc, char **argv, int i, int dflt, int max)
{
    if (argc <= i)
        return dflt;
    int v = atoi(argv[i]);
    if (v < 1 || v > max) {
        fprintf(stderr, "fork_stress: argument %d must be 1..%d\n", i, max);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    int seconds = arg(argc, argv, 1, 3, 3600);
    int nworkers = arg(argc, argv, 2, 3, MAX_WORKERS);
    int nforkers = arg(argc, argv, 3, 2, MAX_FORKERS);
    uint64_t seed = 0x5EED5EED12345678ULL;

    worker_t workers[MAX_WORKERS];
    pthread_t forkers[MAX_FORKERS];
    long generations = 0;
    memset(workers, 0, sizeof workers);
    for (int i = 0; i < nforkers; i++)
        if (pthread_create(&forkers[i], NULL, forker_main, (void *)(uintptr_t)rnd(&seed)) != 0) {
            perror("fork_stress: pthread_create");
            return 1;
        }

    double deadline = now() + seconds;
    while (now() < deadline) {
        for (int i = 0; i < nworkers; i++) {
            worker_t *w = &workers[i];
            if (w->running && atomic_load(&w->done)) {
                pthread_join(w->thread, NULL);
                w->running = false;
            }
            if (!w->running) {
                atomic_store(&w->done, false);
                w->seed = rnd(&seed) | 1;
                if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
                    perror("fork_stress: pthread_create");
                    return 1;
                }
                w->running = true;
                generations++;
            }
        }
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < nworkers; i++)
        if (workers[i].running)
            pthread_join(workers[i].thread, NULL);
    for (int i = 0; i < nforkers; i++)
        pthread_join(forkers[i], NULL);
    for (size_t i = 0; i < POOL; i++)
        block_free(&pool[i]);

    unsigned long long allocs = atomic_load(&n_allocs), frees = atomic_load(&n_frees);
    unsigned long long errors = atomic_load(&n_errors);
    if (allocs != frees) {
        fprintf(stderr, "fork_stress: %llu blocks allocated but %llu freed: lost blocks\n",
                allocs, frees);
        errors++;
    }
    printf("fork_stress: %d s, %d workers (%ld threads in all), %d forkers: %llu forks, "
           "%llu children ok, %llu blocks allocated and freed, %llu checked, %llu errors\n",
           seconds, nworkers, generations, nforkers,
           (unsigned long long)atomic_load(&n_forks),
           (unsigned long long)atomic_load(&n_children_ok), allocs,
           (unsigned long long)atomic_load(&n_checked), errors);
    if (errors != 0 || atomic_load(&n_forks) == 0) {
        printf("fork_stress: FAILED\n");
        return 1;
    }
    printf("fork_stress: OK (no deadlock, no lost or corrupted block)\n");
    return 0;
}
