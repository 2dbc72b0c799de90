/* SPDX-License-Identifier: MIT */
/* anchors.c: the stress shape of the anchor allocators' CI (mimalloc's test-stress: many
 * threads restarted in rounds, blocks handed across threads through a shared array) run
 * on the dog_* API, with every block's contents checked and the statistics exact at the end.
 *
 * Usage: anchors [-t THREADS] [-r ROUNDS] [-n ALLOCATIONS] [-s SLOTS] [-f FORKS] [-S SEED]
 *        anchors -l LIFETIMES [-c AT_ONCE] [-s SLOTS] [-S SEED]
 *
 * Rounds (the default: 32 threads, 50 rounds, 50,000,000 allocations, 4096 slots, 2 forks
 * a round): each round starts THREADS threads and joins them all, so the next round's
 * threads take over the blocks of threads that have exited. A thread keeps 512 blocks of
 * its own and makes ALLOCATIONS / (THREADS x ROUNDS) steps. A step picks one of the 512:
 * if it holds a block, one time in 8 the step resizes it with dog_realloc and is done;
 * otherwise the block is freed (dog_free, or dog_free_sized one time in 4) or, 3 times in
 * 8, handed to a random slot of the shared array with an atomic exchange (the block it
 * displaces, most often another thread's, is checked and freed). Then a new block goes
 * there: dog_malloc, dog_calloc, dog_aligned_alloc, dog_realloc(NULL), or
 * dog_heap_malloc, _calloc or _aligned_alloc of one of two shared explicit heaps. A
 * thread exits with half of its blocks handed over and half freed. Sizes are mostly 8 to
 * 1024 bytes, 2% up to 64 KiB, 0.1% huge blocks of 64 KiB to 4 MiB. While a round runs,
 * the main thread forks FORKS times; each child checks and frees every block in the
 * shared array, allocates and frees on its own and on a new thread, and exits (a child
 * that has not exited after CHILD_TIMEOUT seconds is deadlocked: it is killed, and the run
 * fails).
 *
 * Lifetimes (-l): LIFETIMES short threads, AT_ONCE (8) at a time; each allocates 48
 * blocks, frees a third, hands a third to the shared array, resizes the last third with
 * dog_realloc and frees it just before it exits. The resident size (/proc/self/statm) and
 * dogmalloc's mapped bytes are sampled every LIFETIMES/10 threads; the run fails if the
 * last sample is above twice the first plus RSS_SLACK (see lifetimes()).
 *
 * Every block starts with a header word (its size, heap and a tag naming the thread that
 * allocated it) and carries a pattern derived from its address and header over its whole
 * size, or over its first and last 4 KiB when it is larger than 8 KiB. The pattern is
 * checked before every free and realloc, calloc's zeros before the pattern is written, and
 * what a realloc kept after it moved. A slot of the shared array holds the pointer with 19
 * bits of the tag in the bits an address leaves free, so a block handed out twice shows as
 * a header that does not match. The first bad block ends the run with a message and
 * abort(). At the end every block is freed, and dog_heap_stats of dog_default and of both
 * heaps must be back to where they started (blocks and bytes in use, allocations equal to
 * frees), and after dog_trim dog_default must hold no page. Output: the counts, the wall time, the peak RSS; exit status 0 when all is well.
 * Public header only. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dogmalloc.h>

#include "../programs/say.h"
#include "stress.h"

#if defined(__SANITIZE_THREAD__)
#define ANCHORS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ANCHORS_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(ANCHORS_TSAN)
#define ANCHORS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define ANCHORS_SANITIZED 1
#endif
#endif

_Static_assert(sizeof(void *) == 8 && sizeof(uintptr_t) == 8, "anchors packs tags into 64-bit pointers");

#define OWN            512          /* blocks a rounds-mode thread keeps */
#define LIFE_BLOCKS    48           /* blocks a lifetimes-mode thread allocates */
#define FULL_MAX       8192         /* larger blocks carry the pattern at both ends only */
#define END_BYTES      4096
#define SMALL_MAX      1024
#define MEDIUM_MAX     65536        /* dogmalloc's largest size class */
#define HUGE_MAX       (4u << 20)
#define CHILD_TIMEOUT  60           /* seconds before a forked child counts as deadlocked */
#define INDEX_BITS     18           /* thread numbers in a tag */
#define RSS_SLACK      (32u << 20)  /* see lifetimes() */

/* --- Failing: write(2) and abort(), no stdio and no allocation (safe in a child) --- */

/* say(): say.h */

#define die(...) (say("anchors[%d]: ", (int)getpid()), say(__VA_ARGS__), say("\n"), abort())

/* Random numbers: rnd() and mix(), stress.h. */

/* --- Blocks: the header word and the pattern ---
 * header = tag << 26 | heap << 24 | size; tag = thread number << 20 | 20 random bits. */

static dog_heap_t *heaps[3];        /* [0] dog_default, [1] and [2] shared explicit heaps */

static uint64_t hdr_make(size_t size, unsigned heap, uint64_t tag)
{
    return tag << 26 | (uint64_t)heap << 24 | size;
}
static size_t hdr_size(uint64_t h) { return (size_t)(h & 0xFFFFFF); }
static unsigned hdr_heap(uint64_t h) { return (unsigned)(h >> 24 & 3); }
static uint64_t hdr_tag(uint64_t h) { return h >> 26; }
static unsigned hdr_thread(uint64_t h) { return (unsigned)(hdr_tag(h) >> 20); }

/* The pattern byte at offset i of a block whose pattern seed is seed. */
static unsigned char pattern_byte(uint64_t seed, size_t i)
{
    uint64_t w = seed ^ (uint64_t)(i / 8) * 0x9E3779B97F4A7C15ULL;
    return (unsigned char)(w >> (8 * (i % 8)));
}

static uint64_t pattern_seed(const void *p, uint64_t hdr)
{
    return mix((uint64_t)(uintptr_t)p ^ hdr);
}

/* The byte ranges of a block of size bytes that carry the pattern: [8, size), or the
 * first and last END_BYTES (the header word included in the first). */
typedef struct {
    size_t from[2], to[2];
    int n;
} ranges_t;

static ranges_t ranges_of(size_t size)
{
    if (size <= FULL_MAX)
        return (ranges_t){ { 8, 0 }, { size, 0 }, 1 };
    return (ranges_t){ { 8, size - END_BYTES }, { END_BYTES, size }, 2 };
}

static void fill_range(unsigned char *p, uint64_t seed, size_t from, size_t to)
{
    size_t i = from;
    for (; i < to && i % 8 != 0; i++)
        p[i] = pattern_byte(seed, i);
    for (; i + 8 <= to; i += 8) {
        uint64_t w = seed ^ (uint64_t)(i / 8) * 0x9E3779B97F4A7C15ULL;
        unsigned char b[8];
        for (int k = 0; k < 8; k++)
            b[k] = (unsigned char)(w >> (8 * k));
        memcpy(p + i, b, 8);
    }
    for (; i < to; i++)
        p[i] = pattern_byte(seed, i);
}

/* The first offset in [from, to) whose byte is not the pattern's, or to. */
static size_t check_range(const unsigned char *p, uint64_t seed, size_t from, size_t to)
{
    size_t i = from;
    for (; i < to && i % 8 != 0; i++)
        if (p[i] != pattern_byte(seed, i))
            return i;
    for (; i + 8 <= to; i += 8) {
        uint64_t w = seed ^ (uint64_t)(i / 8) * 0x9E3779B97F4A7C15ULL;
        unsigned char b[8];
        for (int k = 0; k < 8; k++)
            b[k] = (unsigned char)(w >> (8 * k));
        if (memcmp(p + i, b, 8) != 0)
            break;
    }
    for (; i < to; i++)
        if (p[i] != pattern_byte(seed, i))
            return i;
    return to;
}

static void block_write(unsigned char *p, uint64_t hdr)
{
    memcpy(p, &hdr, sizeof hdr);
    ranges_t r = ranges_of(hdr_size(hdr));
    uint64_t seed = pattern_seed(p, hdr);
    for (int k = 0; k < r.n; k++)
        fill_range(p, seed, r.from[k], r.to[k]);
}

/* Check the pattern that a block written as `hdr` at address `at` left in q, up to
 * `limit` bytes (what a realloc keeps); q == at for a block that did not move. */
static void block_check_moved(const unsigned char *q, const void *at, uint64_t hdr, size_t limit,
                              const char *what)
{
    uint64_t seen;
    memcpy(&seen, q, sizeof seen);
    if (seen != hdr)
        die("%s: block %p (size %zu, heap %u, thread %u): header %#llx, expected %#llx", what,
            (const void *)q, hdr_size(hdr), hdr_heap(hdr), hdr_thread(hdr),
            (unsigned long long)seen, (unsigned long long)hdr);
    ranges_t r = ranges_of(hdr_size(hdr));
    uint64_t seed = pattern_seed(at, hdr);
    for (int k = 0; k < r.n; k++) {
        size_t to = r.to[k] < limit ? r.to[k] : limit;
        if (r.from[k] >= to)
            continue;
        size_t bad = check_range(q, seed, r.from[k], to);
        if (bad != to)
            die("%s: block %p (size %zu, heap %u, thread %u): byte %zu is %#x, expected %#x",
                what, (const void *)q, hdr_size(hdr), hdr_heap(hdr), hdr_thread(hdr), bad,
                q[bad], pattern_byte(seed, bad));
    }
}

static void block_check(const unsigned char *p, uint64_t hdr, const char *what)
{
    size_t usable = dog_usable_size(p);
    if (usable < hdr_size(hdr))
        die("%s: block %p of %zu bytes has a usable size of %zu", what, (const void *)p,
            hdr_size(hdr), usable);
    if (dog_heap_of(p) != heaps[hdr_heap(hdr)])
        die("%s: block %p of heap %u: dog_heap_of says %p, not %p", what, (const void *)p,
            hdr_heap(hdr), (void *)dog_heap_of(p), (void *)heaps[hdr_heap(hdr)]);
    block_check_moved(p, p, hdr, hdr_size(hdr), what);
}

/* --- The shared array: a pointer and 19 bits of its tag in one word --- */

static _Atomic uintptr_t *slots;
static size_t nslots;

#define ADDR_MASK ((uintptr_t)0x0000FFFFFFFFFFF8ULL)

static uintptr_t slot_pack(const void *p, uint64_t hdr)
{
    uintptr_t a = (uintptr_t)p;
    if ((a & ~ADDR_MASK) != 0)
        die("block %p: above 2^48 or not 8-aligned, its slot word cannot carry a tag", p);
    uint64_t t = hdr_tag(hdr);
    return a | (uintptr_t)(t & 7) | (uintptr_t)(t >> 3 & 0xFFFF) << 48;
}

static void *slot_ptr(uintptr_t w) { return (void *)(w & ADDR_MASK); }
static uint64_t slot_tag19(uintptr_t w) { return (w & 7) | (w >> 48) << 3; }

/* --- Counts, per thread, summed at its exit --- */

enum { API_MALLOC, API_CALLOC, API_ALIGNED, API_REALLOC_NULL, API_HEAP_MALLOC, API_HEAP_CALLOC,
       API_HEAP_ALIGNED, API_REALLOC, API_COUNT };
static const char *const api_names[API_COUNT] = {
    "dog_malloc", "dog_calloc", "dog_aligned_alloc", "dog_realloc(NULL)", "dog_heap_malloc",
    "dog_heap_calloc", "dog_heap_aligned_alloc", "dog_realloc"
};

typedef struct {
    uint64_t api[API_COUNT];
    uint64_t allocs[3], frees[3], moved[3];     /* per heap: blocks, and reallocs that moved */
    uint64_t frees_sized, frees_other, frees_exited, handed, huge;
} counts_t;

static pthread_mutex_t totals_lock = PTHREAD_MUTEX_INITIALIZER;
static counts_t totals;
static _Atomic unsigned exited_below;       /* threads numbered below this have exited */
static _Atomic uint64_t progress;           /* steps done in this round (updated in batches) */

static void counts_add(counts_t *to, const counts_t *c)
{
    const uint64_t *s = (const uint64_t *)c;
    uint64_t *d = (uint64_t *)to;
    for (size_t i = 0; i < sizeof *c / sizeof *s; i++)
        d[i] += s[i];
}

typedef struct {
    uint64_t rng;
    unsigned index;                 /* this thread's number */
    counts_t c;
} thread_t;

/* --- Allocating, resizing and freeing one block --- */

/* Mostly 8..1024 bytes (small sizes likelier), 2% 1 KiB..64 KiB, 0.1% 64 KiB..4 MiB. */
static size_t pick_size(uint64_t *s)
{
    uint64_t r = rnd(s);
    unsigned k = (unsigned)(r % 1000);
    r >>= 10;
    if (k == 0) {
        unsigned shift = 16 + (unsigned)(r % 6);
        return ((size_t)1 << shift) + (size_t)((r >> 3) % ((uint64_t)1 << shift));
    }
    if (k <= 20) {
        unsigned shift = 10 + (unsigned)(r % 6);
        size_t n = ((size_t)1 << shift) + (size_t)((r >> 3) % ((uint64_t)1 << shift));
        return n < MEDIUM_MAX ? n : MEDIUM_MAX;
    }
    size_t n = 8 + (size_t)((r >> 3) % (8u << (r % 8)));
    return n < SMALL_MAX ? n : SMALL_MAX;
}

static void expect_zero(const unsigned char *p, size_t size, const char *what)
{
    ranges_t r = ranges_of(size);
    for (int k = 0; k < r.n; k++)
        for (size_t i = r.from[k] - (k == 0 ? 8 : 0); i < r.to[k]; i++)
            if (p[i] != 0)
                die("%s(%zu) = %p: byte %zu is %#x, not 0", what, size, (const void *)p, i, p[i]);
}

static uint64_t new_tag(thread_t *t)
{
    return (uint64_t)t->index << 20 | (rnd(&t->rng) & 0xFFFFF);
}

/* A new block, with its header and pattern written; its header in *hdr. */
static void *block_alloc(thread_t *t, uint64_t *hdr)
{
    size_t size = pick_size(&t->rng);
    uint64_t r = rnd(&t->rng);
    unsigned pick = (unsigned)(r % 100), heap = 0, api;
    size_t align = (size_t)16 << (r >> 8) % 9;          /* 16 .. 4096 */
    dog_heap_t *h = heaps[1 + (r >> 16) % 2];
    unsigned char *p;
    if (pick < 45) {
        api = API_MALLOC;
        p = dog_malloc(size);
    } else if (pick < 55) {
        api = API_CALLOC;
        p = size % 8 == 0 ? dog_calloc(size / 8, 8) : dog_calloc(1, size);
    } else if (pick < 60) {
        api = API_ALIGNED;
        p = dog_aligned_alloc(align, size);
    } else if (pick < 62) {
        api = API_REALLOC_NULL;
        p = dog_realloc(NULL, size);
    } else {
        heap = h == heaps[1] ? 1 : 2;
        if (pick < 85) {
            api = API_HEAP_MALLOC;
            p = dog_heap_malloc(h, size);
        } else if (pick < 95) {
            api = API_HEAP_CALLOC;
            p = dog_heap_calloc(h, 1, size);
        } else {
            api = API_HEAP_ALIGNED;
            p = dog_heap_aligned_alloc(h, align, size);
        }
    }
    if (p == NULL)
        die("%s of %zu bytes failed: %s", api_names[api], size, strerror(errno));
    if ((api == API_ALIGNED || api == API_HEAP_ALIGNED) && ((uintptr_t)p & (align - 1)) != 0)
        die("%s(%zu, %zu) = %p: not aligned", api_names[api], align, size, (void *)p);
    if (api == API_CALLOC || api == API_HEAP_CALLOC)
        expect_zero(p, size, api_names[api]);
    t->c.api[api]++;
    t->c.allocs[heap]++;
    t->c.huge += size > MEDIUM_MAX;
    *hdr = hdr_make(size, heap, new_tag(t));
    block_write(p, *hdr);
    return p;
}

static void block_free(thread_t *t, void *p, uint64_t hdr, const char *what)
{
    block_check(p, hdr, what);
    unsigned owner = hdr_thread(hdr), heap = hdr_heap(hdr);
    t->c.frees_other += owner != t->index;
    t->c.frees_exited += owner < atomic_load_explicit(&exited_below, memory_order_relaxed);
    t->c.frees[heap]++;
    if (rnd(&t->rng) % 4 == 0) {
        t->c.frees_sized++;
        dog_free_sized(p, hdr_size(hdr));
    } else {
        dog_free(p);
    }
}

/* dog_realloc of a block to a new size: what it kept must be the old pattern, then the
 * block gets a new header and pattern. */
static void *block_realloc(thread_t *t, void *p, uint64_t *hdr)
{
    block_check(p, *hdr, "before dog_realloc");
    size_t old = hdr_size(*hdr), size = pick_size(&t->rng);
    unsigned heap = hdr_heap(*hdr);
    unsigned char *q = dog_realloc(p, size);
    if (q == NULL)
        die("dog_realloc(%p, %zu) failed: %s", p, size, strerror(errno));
    if (dog_heap_of(q) != heaps[heap])
        die("dog_realloc(%p, %zu) = %p moved the block out of heap %u", p, size, (void *)q, heap);
    block_check_moved(q, p, *hdr, old < size ? old : size, "after dog_realloc");
    t->c.api[API_REALLOC]++;
    t->c.moved[heap] += q != p;
    t->c.huge += size > MEDIUM_MAX;
    *hdr = hdr_make(size, heap, new_tag(t));
    block_write(q, *hdr);
    return q;
}

/* Check and free the block of a slot word (the tag bits must match its header). */
static void slot_free(thread_t *t, uintptr_t w, const char *what)
{
    unsigned char *p = slot_ptr(w);
    size_t usable = dog_usable_size(p);
    uint64_t hdr;
    if (usable < 8)
        die("%s: block %p has a usable size of %zu", what, (void *)p, usable);
    memcpy(&hdr, p, sizeof hdr);
    if ((hdr_tag(hdr) & 0x7FFFF) != slot_tag19(w))
        die("%s: block %p: header %#llx has tag bits %#llx, its slot says %#llx: handed out "
            "twice or overwritten", what, (void *)p, (unsigned long long)hdr,
            (unsigned long long)(hdr_tag(hdr) & 0x7FFFF), (unsigned long long)slot_tag19(w));
    if (hdr_size(hdr) < 8 || hdr_size(hdr) > usable)
        die("%s: block %p: header %#llx names %zu bytes, usable size %zu", what, (void *)p,
            (unsigned long long)hdr, hdr_size(hdr), usable);
    block_free(t, p, hdr, what);
}

/* Put a block in a random slot; check and free the block it displaces. */
static void hand_over(thread_t *t, void *p, uint64_t hdr)
{
    size_t i = (size_t)(rnd(&t->rng) % nslots);
    uintptr_t old = atomic_exchange_explicit(&slots[i], slot_pack(p, hdr), memory_order_acq_rel);
    t->c.handed++;
    if (old != 0)
        slot_free(t, old, "displaced from the shared array");
}

static void thread_done(thread_t *t)
{
    pthread_mutex_lock(&totals_lock);
    counts_add(&totals, &t->c);
    pthread_mutex_unlock(&totals_lock);
}

typedef struct {
    void *p;
    uint64_t hdr;
} own_t;

/* --- Rounds: THREADS threads per round, each making steps_per_thread allocations --- */

static size_t steps_per_thread;

static void *round_thread(void *arg)
{
    thread_t *t = arg;
    own_t own[OWN];
    memset(own, 0, sizeof own);
    uint64_t batch = 0;
    for (size_t step = 0; step < steps_per_thread; step++) {
        own_t *o = &own[rnd(&t->rng) % OWN];
        unsigned r = (unsigned)(rnd(&t->rng) % 16);
        if (o->p != NULL && r < 2) {
            o->p = block_realloc(t, o->p, &o->hdr);
        } else {
            if (o->p != NULL && r < 8)
                hand_over(t, o->p, o->hdr);
            else if (o->p != NULL)
                block_free(t, o->p, o->hdr, "freed by its thread");
            o->p = block_alloc(t, &o->hdr);
        }
        if (++batch == 1024) {
            atomic_fetch_add_explicit(&progress, batch, memory_order_relaxed);
            batch = 0;
        }
    }
    atomic_fetch_add_explicit(&progress, batch, memory_order_relaxed);
    /* Exit with half of the blocks in the shared array, for the next round's threads. */
    for (size_t i = 0; i < OWN; i++) {
        if (own[i].p == NULL)
            continue;
        if (rnd(&t->rng) & 1)
            hand_over(t, own[i].p, own[i].hdr);
        else
            block_free(t, own[i].p, own[i].hdr, "freed by its thread at exit");
    }
    thread_done(t);
    return NULL;
}

/* --- fork while the round's threads run --- */

#ifdef ANCHORS_TSAN
static const bool child_threads = false;    /* TSan ends a child that starts a thread after a
                                               multi-threaded fork (die_after_fork) */
#else
static const bool child_threads = true;
#endif
#define CHILD_INDEX (((unsigned)1 << INDEX_BITS) - 1)   /* thread number of a child's threads */

static void child_work(thread_t *t)
{
    own_t own[64];
    for (int i = 0; i < 64; i++)
        own[i].p = block_alloc(t, &own[i].hdr);
    for (int i = 0; i < 64; i += 4)
        own[i].p = block_realloc(t, own[i].p, &own[i].hdr);
    for (int i = 0; i < 64; i++)
        block_free(t, own[i].p, own[i].hdr, "in a forked child");
}

static void *child_thread(void *arg)
{
    child_work(arg);
    return NULL;
}

/* In the child, the only thread: every block in the shared array was allocated and
 * handed over by the parent's threads, which the child does not have. */
static _Noreturn void child_main(uint64_t seed)
{
    thread_t t = { .rng = seed | 1, .index = CHILD_INDEX };
    for (size_t i = 0; i < nslots; i++) {
        uintptr_t w = atomic_exchange_explicit(&slots[i], 0, memory_order_relaxed);
        if (w != 0)
            slot_free(&t, w, "in a forked child");
    }
    child_work(&t);
    if (child_threads) {
        thread_t t2 = { .rng = mix(seed) | 1, .index = CHILD_INDEX };
        pthread_t th;
        if (pthread_create(&th, NULL, child_thread, &t2) != 0)
            die("pthread_create in a forked child failed");
        pthread_join(th, NULL);
    }
    dog_heap_stats_t st;
    for (int h = 0; h < 3; h++)
        if (dog_heap_stats(heaps[h], &st) != 0)
            die("dog_heap_stats in a forked child failed");
    _exit(0);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { 0, ms * 1000000 };
    nanosleep(&ts, NULL);
}

/* Fork; true when the child exits 0 within CHILD_TIMEOUT seconds (not a timing test:
 * a child that does not exit at all is deadlocked, and is killed so the run ends). */
static bool fork_one(uint64_t seed)
{
    pid_t pid = fork();
    if (pid == 0)
        child_main(seed);
    if (pid < 0) {
        say("anchors: fork: %s\n", strerror(errno));
        return false;
    }
    double deadline = now() + CHILD_TIMEOUT;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            say("anchors: waitpid: %s\n", strerror(errno));
            return false;
        }
        if (now() > deadline) {
            say("anchors: child %d did not exit within %d s: deadlocked\n", (int)pid,
                CHILD_TIMEOUT);
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return false;
        }
        sleep_ms(1);
    }
    if (WIFSIGNALED(st)) {
        say("anchors: child %d killed by signal %d (%s)\n", (int)pid, WTERMSIG(st),
            strsignal(WTERMSIG(st)));
        return false;
    }
    if (WEXITSTATUS(st) != 0) {
        say("anchors: child %d exited with status %d\n", (int)pid, WEXITSTATUS(st));
        return false;
    }
    return true;
}

static unsigned forks_done, forks_failed;

static void rounds(unsigned nthreads, unsigned nrounds, uint64_t allocations, unsigned forks,
                   uint64_t seed)
{
    uint64_t per_round = (allocations + nrounds - 1) / nrounds;
    steps_per_thread = (size_t)((per_round + nthreads - 1) / nthreads);
    thread_t *ts = calloc(nthreads, sizeof *ts);
    pthread_t *th = calloc(nthreads, sizeof *th);
    if (ts == NULL || th == NULL)
        die("out of memory for %u threads", nthreads);
    double start = now();
    for (unsigned r = 0; r < nrounds; r++) {
        unsigned first = r * nthreads;
        atomic_store(&exited_below, first);
        atomic_store(&progress, 0);
        for (unsigned i = 0; i < nthreads; i++) {
            ts[i] = (thread_t){ .rng = mix(seed + first + i) | 1, .index = first + i };
            if (pthread_create(&th[i], NULL, round_thread, &ts[i]) != 0)
                die("pthread_create failed");
        }
        uint64_t steps = (uint64_t)steps_per_thread * nthreads;
        for (unsigned f = 0; f < forks; f++) {
            while (atomic_load_explicit(&progress, memory_order_relaxed) <
                   steps * (f + 1) / (forks + 1))
                sleep_ms(1);
            forks_done++;
            forks_failed += !fork_one(mix(seed ^ ((uint64_t)r << 32 | f)));
        }
        for (unsigned i = 0; i < nthreads; i++)
            pthread_join(th[i], NULL);
        if ((r + 1) % 10 == 0 || r + 1 == nrounds)
            printf("anchors: round %u/%u done, %.1f s\n", r + 1, nrounds, now() - start);
        fflush(stdout);
    }
    atomic_store(&exited_below, nrounds * nthreads);
    free(ts);
    free(th);
}

/* --- Lifetimes: many short threads, the resident size sampled --- */

static void *life_thread(void *arg)
{
    thread_t *t = arg;
    own_t own[LIFE_BLOCKS];
    for (int i = 0; i < LIFE_BLOCKS; i++)
        own[i].p = block_alloc(t, &own[i].hdr);
    for (int i = 0; i < LIFE_BLOCKS; i++) {
        if (i % 3 == 0)
            block_free(t, own[i].p, own[i].hdr, "freed by its thread");
        else if (i % 3 == 1)
            hand_over(t, own[i].p, own[i].hdr);
    }
    for (int i = 2; i < LIFE_BLOCKS; i += 3) {
        own[i].p = block_realloc(t, own[i].p, &own[i].hdr);
        block_free(t, own[i].p, own[i].hdr, "freed by its thread before exit");
    }
    thread_done(t);
    return NULL;
}

static size_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size, resident;
    int n = f != NULL ? fscanf(f, "%lu %lu", &size, &resident) : 0;
    if (f != NULL)
        fclose(f);
    return n == 2 ? (size_t)resident * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

/* What dogmalloc holds from the OS, but for its cache of freed huge mappings. */
static size_t mapped_bytes(void)
{
    dog_stats_t st;
    return dog_stats(&st) == 0 ? st.bytes_mapped - st.huge_cache_bytes : 0;
}

/* The bound: the last sample at most twice the first plus RSS_SLACK. The first sample
 * comes after LIFETIMES/10 threads, long after the shared array filled (within the first
 * SLOTS/16 threads), so it holds the steady state: at 10^5 lifetimes on 2 cores, 34-40 MiB
 * resident at the first sample and 44-49 MiB at the last, level from about the fourth
 * sample on, and the same at 250,000 threads. What varies between samples without a leak:
 * the freed huge mappings that dogmalloc keeps for reuse (a realloc copies up to 4 MiB
 * into a huge block, so one can be wholly resident: 8-22 MiB of them were measured), the
 * pool of empty pages, and the thread stacks that glibc keeps for new threads. The factor
 * 2 covers these at full scale; RSS_SLACK covers them at a small scale, where the first
 * sample comes early (-l 10000: 12 MiB after 1,000 threads, 34 MiB at the end). Memory
 * held per thread (a shard, a cache, a page) has no such bound: one 512 KiB page per 100
 * threads would be 500 MiB over 10^5. The mapped figure leaves out the cache of huge
 * mappings, which dogmalloc bounds itself. */
static bool lifetimes(unsigned nlife, unsigned at_once, uint64_t seed)
{
    enum { SAMPLES = 10 };
    size_t rss[SAMPLES], mapped[SAMPLES];
    thread_t *ts = calloc(at_once, sizeof *ts);
    pthread_t *th = calloc(at_once, sizeof *th);
    if (ts == NULL || th == NULL)
        die("out of memory for %u threads", at_once);
    unsigned done = 0;
    double start = now();
    for (unsigned s = 0; s < SAMPLES; s++) {
        unsigned until = (unsigned)((uint64_t)nlife * (s + 1) / SAMPLES);
        while (done < until) {
            unsigned n = until - done < at_once ? until - done : at_once;
            atomic_store(&exited_below, done);
            for (unsigned i = 0; i < n; i++) {
                ts[i] = (thread_t){ .rng = mix(seed + done + i) | 1, .index = done + i };
                if (pthread_create(&th[i], NULL, life_thread, &ts[i]) != 0)
                    die("pthread_create failed after %u threads", done + i);
            }
            for (unsigned i = 0; i < n; i++)
                pthread_join(th[i], NULL);
            done += n;
        }
        rss[s] = resident_bytes();
        mapped[s] = mapped_bytes();
    }
    atomic_store(&exited_below, nlife);
    double secs = now() - start;
    printf("anchors: %u thread lifetimes, %u at a time, %.1f s; every %u threads, MiB "
           "resident / mapped by dogmalloc (less its huge cache):", nlife, at_once, secs, nlife / SAMPLES);
    for (unsigned s = 0; s < SAMPLES; s++)
        printf(" %.1f/%.1f", (double)rss[s] / 1048576, (double)mapped[s] / 1048576);
    printf("\n");
    free(ts);
    free(th);
    bool ok = true;
    size_t rss_bound = 2 * rss[0] + RSS_SLACK, map_bound = 2 * mapped[0] + RSS_SLACK;
    (void)rss_bound;                /* not checked under a sanitizer */
#ifdef ANCHORS_SANITIZED
    printf("anchors: resident size not bounded under a sanitizer (its own memory grows with "
           "every thread)\n");
#else
    if (rss[0] == 0 || rss[SAMPLES - 1] > rss_bound) {
        printf("anchors: FAILED: resident size grew from %.1f MiB to %.1f MiB, above the bound "
               "2 x first + %u MiB = %.1f MiB\n", (double)rss[0] / 1048576,
               (double)rss[SAMPLES - 1] / 1048576, RSS_SLACK >> 20, (double)rss_bound / 1048576);
        ok = false;
    }
#endif
    if (mapped[SAMPLES - 1] > map_bound) {
        printf("anchors: FAILED: dogmalloc's mapped bytes grew from %.1f MiB to %.1f MiB, above "
               "the bound %.1f MiB\n", (double)mapped[0] / 1048576,
               (double)mapped[SAMPLES - 1] / 1048576, (double)map_bound / 1048576);
        ok = false;
    }
#ifdef ANCHORS_SANITIZED
    if (ok)
        printf("anchors: last sample within 2 x first + %u MiB (mapped %.1f <= %.1f MiB)\n",
               RSS_SLACK >> 20, (double)mapped[SAMPLES - 1] / 1048576,
               (double)map_bound / 1048576);
#else
    if (ok)
        printf("anchors: last sample within 2 x first + %u MiB (resident %.1f <= %.1f MiB, "
               "mapped %.1f <= %.1f MiB)\n", RSS_SLACK >> 20,
               (double)rss[SAMPLES - 1] / 1048576, (double)rss_bound / 1048576,
               (double)mapped[SAMPLES - 1] / 1048576, (double)map_bound / 1048576);
#endif
    return ok;
}

/* --- The end: everything freed, the statistics back to where they were --- */

static bool stats_exact(const dog_heap_stats_t base[3])
{
    static const char *const names[3] = { "dog_default", "anchors-a", "anchors-b" };
    bool ok = true;
    for (int h = 0; h < 3; h++) {
        dog_heap_stats_t st;
        if (dog_heap_stats(heaps[h], &st) != 0)
            die("dog_heap_stats failed");
        uint64_t allocs = st.allocs - base[h].allocs, frees = st.frees - base[h].frees;
        uint64_t mine = totals.allocs[h], moved = totals.moved[h];
        bool good = st.blocks_in_use == base[h].blocks_in_use &&
                    st.bytes_in_use == base[h].bytes_in_use &&
                    st.huge_blocks == base[h].huge_blocks && allocs == frees &&
                    totals.frees[h] == mine && allocs >= mine && allocs <= mine + moved;
        printf("anchors: %-11s %s: %zu blocks, %zu bytes in use (at the start %zu, %zu); "
               "%llu allocations, %llu frees counted (the test made %llu, freed %llu, and "
               "%llu reallocs moved)\n", names[h], good ? "exact" : "WRONG", st.blocks_in_use,
               st.bytes_in_use, base[h].blocks_in_use, base[h].bytes_in_use,
               (unsigned long long)allocs, (unsigned long long)frees, (unsigned long long)mine,
               (unsigned long long)totals.frees[h], (unsigned long long)moved);
        ok &= good;
    }
    return ok;
}

/* stress.h's option, in this program's name. */
static unsigned long long option(const char *arg, char opt, unsigned long long min,
                                 unsigned long long max)
{
    return stress_option("anchors", arg, opt, min, max);
}

int main(int argc, char **argv)
{
    unsigned nthreads = 32, nrounds = 50, forks = 2, nlife = 0, at_once = 8;
    uint64_t allocations = 50000000, seed = 0x5EED0A4C4035ULL;
    size_t want_slots = 4096;
    int c;
    while ((c = getopt(argc, argv, "t:r:n:s:f:l:c:S:")) != -1) {
        switch (c) {
        case 't': nthreads = (unsigned)option(optarg, 't', 1, 1024); break;
        case 'r': nrounds = (unsigned)option(optarg, 'r', 1, 10000); break;
        case 'n': allocations = option(optarg, 'n', 1, 100000000000ULL); break;
        case 's': want_slots = (size_t)option(optarg, 's', 1, 1u << 24); break;
        case 'f': forks = (unsigned)option(optarg, 'f', 0, 100); break;
        case 'l': nlife = (unsigned)option(optarg, 'l', 10, CHILD_INDEX - 1); break;
        case 'c': at_once = (unsigned)option(optarg, 'c', 1, 1024); break;
        case 'S': seed = option(optarg, 'S', 0, UINT64_MAX); break;
        default:
            fprintf(stderr, "usage: anchors [-t THREADS] [-r ROUNDS] [-n ALLOCATIONS] "
                    "[-s SLOTS] [-f FORKS] [-S SEED]\n"
                    "       anchors -l LIFETIMES [-c AT_ONCE] [-s SLOTS] [-S SEED]\n");
            return 2;
        }
    }
    if (nlife == 0 && (uint64_t)nthreads * nrounds >= CHILD_INDEX) {
        fprintf(stderr, "anchors: THREADS x ROUNDS must stay below %u\n", CHILD_INDEX);
        return 2;
    }
    nslots = want_slots;
    slots = calloc(nslots, sizeof *slots);          /* the C library's: not counted */
    if (slots == NULL)
        die("out of memory for %zu slots", nslots);
    for (size_t i = 0; i < nslots; i++)
        atomic_init(&slots[i], 0);

    dog_heap_stats_t base[3];
    dog_stats_t g0, g1;
    if (dog_stats(&g0) != 0)
        die("dog_stats failed");
    heaps[0] = dog_default;
    heaps[1] = dog_heap_new(&(dog_heap_options_t){ .name = "anchors-a" });
    heaps[2] = dog_heap_new(&(dog_heap_options_t){ .name = "anchors-b" });
    if (heaps[1] == NULL || heaps[2] == NULL)
        die("dog_heap_new failed");
    for (int h = 0; h < 3; h++)
        if (dog_heap_stats(heaps[h], &base[h]) != 0)
            die("dog_heap_stats failed");

    double start = now();
    bool ok = true;
    if (nlife != 0) {
        printf("anchors: %u thread lifetimes, %u at a time, %zu shared slots, seed %#llx\n",
               nlife, at_once, nslots, (unsigned long long)seed);
        fflush(stdout);
        ok &= lifetimes(nlife, at_once, seed);
    } else {
        printf("anchors: %u threads x %u rounds, %llu allocations, %zu shared slots, %u forks "
               "a round, seed %#llx\n", nthreads, nrounds, (unsigned long long)allocations,
               nslots, forks, (unsigned long long)seed);
        fflush(stdout);
        rounds(nthreads, nrounds, allocations, forks, seed);
    }
    /* What is left in the shared array: freed by the main thread, every allocating thread
     * having exited. */
    thread_t self = { .rng = mix(seed) | 1, .index = CHILD_INDEX - 1 };
    size_t left = 0;
    for (size_t i = 0; i < nslots; i++) {
        uintptr_t w = atomic_exchange(&slots[i], 0);
        if (w != 0) {
            slot_free(&self, w, "left in the shared array");
            left++;
        }
    }
    counts_add(&totals, &self.c);
    double secs = now() - start;

    uint64_t allocs = 0, frees = 0;
    for (int h = 0; h < 3; h++) {
        allocs += totals.allocs[h];
        frees += totals.frees[h];
    }
    uint64_t reallocs = totals.api[API_REALLOC];
    printf("anchors: %llu allocations (%llu new blocks, %llu reallocs), %llu frees (%llu by "
           "dog_free_sized), %llu huge; %llu blocks handed over through the shared array, "
           "%llu freed by another thread than their allocator's, %llu after it had exited "
           "(%zu left at the end)\n", (unsigned long long)(allocs + reallocs),
           (unsigned long long)allocs, (unsigned long long)reallocs, (unsigned long long)frees,
           (unsigned long long)totals.frees_sized, (unsigned long long)totals.huge,
           (unsigned long long)totals.handed, (unsigned long long)totals.frees_other,
           (unsigned long long)totals.frees_exited, left);
    printf("anchors: by call:");
    for (int a = 0; a < API_COUNT; a++)
        printf(" %s %llu%s", api_names[a], (unsigned long long)totals.api[a],
               a + 1 < API_COUNT ? "," : "\n");
    if (nlife == 0)
        printf("anchors: %u forks from a thread while %u threads ran, %u failed\n", forks_done,
               nthreads, forks_failed);
    ok &= forks_failed == 0;
    ok &= stats_exact(base);

    /* Nothing lost: with every block freed and no other thread left, dog_trim gives every
     * page of dog_default back; what stays mapped is dogmalloc's own metadata. */
    dog_heap_destroy(heaps[1]);
    dog_heap_destroy(heaps[2]);
    dog_trim();
    dog_heap_stats_t d;
    if (dog_stats(&g1) != 0 || dog_heap_stats(dog_default, &d) != 0)
        die("dog_stats failed");
    bool back = g1.heaps == g0.heaps && d.pages == 0 && d.bytes_mapped == 0;
    printf("anchors: dog_stats %s: %zu heaps live (%zu at the start); after dog_trim "
           "dog_default holds %zu pages, %zu bytes; %.1f MiB mapped in all (%zu pooled pages, "
           "%.1f MiB of cached huge mappings, the rest metadata)\n", back ? "exact" : "WRONG",
           g1.heaps, g0.heaps, d.pages, d.bytes_mapped, (double)g1.bytes_mapped / 1048576,
           g1.pool_pages, (double)g1.huge_cache_bytes / 1048576);
    ok &= back;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("anchors: %.1f s, peak RSS %.1f MiB\n", secs, (double)ru.ru_maxrss / 1024);
    printf("anchors: %s\n", ok ? "OK" : "FAILED");
    free(slots);
    return ok ? 0 : 1;
}
