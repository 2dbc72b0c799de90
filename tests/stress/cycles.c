/* SPDX-License-Identifier: MIT */
/* cycles.c: heap lifecycles under load, a thousand rounds each: heaps created, used on many
 * threads and destroyed (the shapes of mimalloc's #1231, #1250 and #1320), destroys racing
 * thread exit, pages of exited threads adopted and reused, and exact statistics for blocks
 * whose threads have exited; each run ends with the memory held back at its baseline.
 *
 * Usage: cycles -m MODE [-r ROUNDS] [-t THREADS] [-c CYCLES] [-S SEED]
 *
 * Modes (the defaults are the full scale that make check-stress runs; the TSan run of
 * mk/stress.mk passes smaller ones):
 *   1231   ROUNDS (1000) times: create a heap, use it on THREADS (32) threads at once
 *          (each allocates, hands half of its blocks to the next thread, which frees them
 *          while the others allocate, frees a quarter of the rest itself and exits with
 *          the others live), check the heap's statistics against the live blocks, destroy
 *          it with them.
 *   1250   one thread A (main) and one B: ROUNDS (20000) times A creates a heap, B uses it
 *          (blocks left live, blocks in its cache, blocks handed to A), A frees B's
 *          hand-over and destroys the heap with B's blocks in it. B keeps a heap and
 *          dog_default blocks of its own for the whole run and checks them every round;
 *          every 16th round B is a new thread, and the old one exits while A destroys.
 *   1320   ROUNDS (50) waves of THREADS (512) threads alive at once, each creating,
 *          using and destroying CYCLES (4) heaps of its own, freeing a block of its
 *          neighbour's heap into it each cycle before the neighbour destroys it.
 *   race   ROUNDS (1000) times: THREADS (32) threads use a heap and stop; the main thread
 *          destroys it while they exit (their thread caches of it still hold blocks), and
 *          a quarter of them stay alive, go on with a new heap (which may lie where the
 *          dead one did), trim and then exit: their state for the dead heap must be found
 *          dead, and nothing they do may touch its freed metadata (ThreadSanitizer sees
 *          such a touch as a race with the heap's next user).
 *   adopt  ROUNDS (1000) generations of THREADS (8) threads replace the blocks of a
 *          shared array of 4096 (of dog_default and of one heap), each thread a part of it,
 *          so that every free is of a block whose thread has exited. dog_heap_stats' pages and dogmalloc's mapped bytes are
 *          sampled each generation: the peaks of the second half may not pass those of
 *          the first by half, as they would if exited threads' pages were stranded
 *          instead of reused.
 *   stats  ROUNDS (1000) times: THREADS (16) threads allocate from a heap and dog_default
 *          (small, medium and huge blocks, some freed into their caches) and exit; the
 *          statistics must count exactly the blocks left live (blocks, bytes, huge blocks,
 *          per size class, allocations and frees since the heap's creation); another
 *          thread frees them and the counts must come back exactly. Every other round the
 *          counts are first read while the threads exit, and must be as exact.
 *
 * Every block is filled with a pattern derived from its address and a tag naming the thread
 * and step that allocated it (all of it, or its first and last 4 KiB above 8 KiB), checked
 * before it is freed and, for blocks a destroy releases, before the destroy. The first bad
 * block ends the run with a message and abort().
 *
 * Baseline: the mode runs one round first, from its set-up to its tear-down; then, every
 * thread joined and dog_trim() called (which empties the page pool and the huge cache:
 * src/page_pool.c, src/huge.c), the program notes dog_stats' bytes_mapped and heaps and
 * the number of lines of /proc/self/maps. After the ROUNDS rounds and their tear-down, the
 * same must be within FOOTPRINT_SLACK bytes and FOOTPRINT_LINES lines of it (the lines are
 * not compared under a sanitizer), and the heaps equal. Only dogmalloc's own metadata
 * (heap, shard and thread-cache records, src/meta.c) is never unmapped: the first round
 * brings it to about its peak. The threads run on stacks this program maps once, so that
 * the C library's cache of thread stacks does not change /proc/self/maps. Output: what each check saw, and the time; exit
 * status 0 when all is well. Public header only. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <dogmalloc.h>

#include "../programs/say.h"
#include "stress.h"

/* Under a sanitizer, /proc/self/maps also shows the sanitizer's own mappings (shadow
 * memory, its allocator), which grow as it sees more memory and threads: the lines are
 * reported, not compared. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define CYCLES_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define CYCLES_SANITIZED 1
#endif
#endif
#ifndef CYCLES_SANITIZED
#define CYCLES_SANITIZED 0
#endif

#define FULL_MAX        8192        /* larger blocks carry the pattern at both ends only */
#define END_BYTES       4096
#define STACK_SIZE      ((size_t)2 << 20)     /* TSan needs more than 1 MiB */
#define THREADS_MAX     1024
#define FOOTPRINT_SLACK ((size_t)4 << 20)   /* 8 metadata frames (src/meta.c) */
#define FOOTPRINT_LINES 8
#define ADOPT_SLOTS     4096
#define PAGE_BYTES      ((size_t)512 << 10)

#define die(...) (say("cycles: "), say(__VA_ARGS__), say("\n"), abort())

/* Random numbers: rnd() and mix(), stress.h. */

/* --- Blocks: a pattern from the address and the tag of the allocating thread --- */

typedef struct blk {
    unsigned char *p;
    size_t size;
    uint64_t tag;           /* thread << 40 | a count of its allocations */
    dog_heap_t *heap;
} blk_t;

static uint64_t word_at(uint64_t seed, size_t i)
{
    return seed ^ (uint64_t)i * 0x9E3779B97F4A7C15ULL;
}

/* Fill or check bytes [from, to) of b; a check returns the first bad offset, or to. */
static size_t range_do(const blk_t *b, size_t from, size_t to, bool fill)
{
    uint64_t seed = mix((uint64_t)(uintptr_t)b->p ^ b->tag);
    for (size_t i = from; i < to; i += 8) {
        uint64_t w = word_at(seed, i / 8);
        size_t n = to - i < 8 ? to - i : 8;
        if (fill)
            memcpy(b->p + i, &w, n);
        else if (memcmp(b->p + i, &w, n) != 0)
            return i;
    }
    return to;
}

static void blk_fill(const blk_t *b)
{
    if (b->size <= FULL_MAX) {
        range_do(b, 0, b->size, true);
    } else {
        range_do(b, 0, END_BYTES, true);
        range_do(b, b->size - END_BYTES, b->size, true);
    }
}

static void blk_check(const blk_t *b, const char *what)
{
    size_t bad, end = b->size;
    if (b->size <= FULL_MAX) {
        bad = range_do(b, 0, b->size, false);
    } else if ((bad = range_do(b, 0, END_BYTES, false)) == END_BYTES) {
        bad = range_do(b, b->size - END_BYTES, b->size, false);
    } else {
        end = END_BYTES;
    }
    if (bad != end)
        die("%s: block %p of %zu bytes (thread %llu, allocation %llu): byte %zu changed", what,
            (void *)b->p, b->size, (unsigned long long)(b->tag >> 40),
            (unsigned long long)(b->tag & 0xFFFFFFFFFFULL), bad);
    if (dog_heap_of(b->p) != b->heap)
        die("%s: block %p of heap %p: dog_heap_of says %p", what, (void *)b->p,
            (void *)b->heap, (void *)dog_heap_of(b->p));
    if (dog_usable_size(b->p) < b->size)
        die("%s: block %p of %zu bytes: usable size %zu", what, (void *)b->p, b->size,
            dog_usable_size(b->p));
}

/* A thread's allocation state: its number and random state. */
typedef struct actor {
    uint64_t rng;
    uint64_t id;
    uint64_t count;
} actor_t;

static actor_t actor_make(uint64_t id, uint64_t seed)
{
    return (actor_t){ .rng = mix(seed ^ id * 0x100000001B3ULL) | 1, .id = id };
}

/* Sizes: mostly 8..1024 bytes, 1 in 16 up to 16 KiB (the largest blocks thread caches
 * take), 1 in 64 up to 64 KiB (the largest size class), and 1 in huge_one (0: never) a
 * huge block of 64 KiB to 1 MiB. */
static size_t pick_size(actor_t *a, unsigned huge_one)
{
    uint64_t r = rnd(&a->rng);
    if (huge_one != 0 && r % huge_one == 0)
        return ((size_t)64 << 10) + 1 + (size_t)(r >> 20) % ((size_t)960 << 10);
    unsigned k = (unsigned)(r >> 8) % 64;
    size_t span = k == 0 ? (size_t)64 << 10 : k < 4 ? (size_t)16 << 10 : 1024;
    return 8 + (size_t)(r >> 16) % (span - 8);
}

static blk_t blk_new(actor_t *a, dog_heap_t *heap, size_t size)
{
    blk_t b = { .size = size, .heap = heap, .tag = a->id << 40 | a->count++ };
    b.p = heap == dog_default ? dog_malloc(size) : dog_heap_malloc(heap, size);
    if (b.p == NULL)
        die("dog_heap_malloc(%p, %zu) failed: %s", (void *)heap, size, strerror(errno));
    blk_fill(&b);
    return b;
}

static void blk_free(blk_t *b, const char *what)
{
    blk_check(b, what);
    dog_free(b->p);
    b->p = NULL;
}

/* --- Threads on stacks of our own --- */

static char *stacks;

static void stacks_init(void)
{
    stacks = mmap(NULL, STACK_SIZE * THREADS_MAX, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (stacks == MAP_FAILED)
        die("no address space for %d thread stacks", THREADS_MAX);
}

/* Start fn(arg) on stack number slot, which no running thread uses. */
static void spawn(pthread_t *t, unsigned slot, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    if (slot >= THREADS_MAX)
        die("thread stack %u of %d", slot, THREADS_MAX);
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stacks + (size_t)slot * STACK_SIZE, STACK_SIZE);
    int e = pthread_create(t, &attr, fn, arg);
    if (e != 0)
        die("pthread_create: %s", strerror(e));
    pthread_attr_destroy(&attr);
}

static void join(pthread_t t)
{
    int e = pthread_join(t, NULL);
    if (e != 0)
        die("pthread_join: %s", strerror(e));
}

/* --- What the process holds --- */

typedef struct footprint {
    size_t mapped, lines, heaps;
} footprint_t;

/* Lines of /proc/self/maps, read with no allocation (the C library's malloc could map). */
static size_t maps_lines(void)
{
    static char buf[1 << 16];
    int fd = open("/proc/self/maps", O_RDONLY);
    if (fd < 0)
        die("/proc/self/maps: %s", strerror(errno));
    size_t lines = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    close(fd);
    return lines;
}

/* Every thread but the caller has exited: what dogmalloc holds once it has given back all
 * it can. */
static footprint_t footprint(void)
{
    dog_trim();
    dog_stats_t st;
    if (dog_stats(&st) != 0)
        die("dog_stats failed");
    return (footprint_t){ st.bytes_mapped, maps_lines(), st.heaps };
}

static dog_heap_stats_t heap_stats(const dog_heap_t *h)
{
    dog_heap_stats_t st;
    if (dog_heap_stats(h, &st) != 0)
        die("dog_heap_stats(%p) failed", (const void *)h);
    return st;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --- Options --- */

static unsigned opt_rounds, opt_threads, opt_cycles;
static uint64_t opt_seed = 0xC1C1E5D06ULL;

/* The live blocks that a round left to a destroy: checked, counted against the heap's
 * statistics (exact: no thread uses the heap), then released with it. */
static void destroy_checked(dog_heap_t *h, const blk_t *live, size_t n, const char *what)
{
    dog_heap_stats_t st = heap_stats(h);
    size_t bytes = 0, huge = 0;
    for (size_t i = 0; i < n; i++) {
        blk_check(&live[i], what);
        bytes += dog_usable_size(live[i].p);
        huge += live[i].size > ((size_t)64 << 10);
    }
    if (st.blocks_in_use != n || st.bytes_in_use != bytes || st.huge_blocks != huge ||
        st.allocs - st.frees != n)
        die("%s: heap %p counts %zu blocks, %zu bytes, %zu huge, %zu allocations and %zu frees; "
            "%zu blocks of %zu bytes (%zu huge) are live", what, (void *)h, st.blocks_in_use,
            st.bytes_in_use, st.huge_blocks, st.allocs, st.frees, n, bytes, huge);
    dog_heap_destroy(h);
}

/* --- 1231: create, use on THREADS threads, destroy, repeat --- */

#define U_BLOCKS 96

typedef struct user {
    pthread_barrier_t *start, *mid;
    dog_heap_t *heap;
    actor_t a;
    blk_t own[U_BLOCKS];
    struct user *next;      /* frees next->own[0 .. U_BLOCKS/2) */
    size_t live;            /* own[U_BLOCKS/2 .. +live) stay for the destroy */
} user_t;

static void *user_main(void *arg)
{
    user_t *u = arg;
    blk_t mine[8];
    pthread_barrier_wait(u->start);
    for (int i = 0; i < 8; i++)
        mine[i] = blk_new(&u->a, dog_default, pick_size(&u->a, 0));
    for (int i = 0; i < U_BLOCKS; i++)
        u->own[i] = blk_new(&u->a, u->heap, pick_size(&u->a, 64));
    pthread_barrier_wait(u->mid);       /* every thread's blocks exist */
    for (int i = 0; i < U_BLOCKS / 2; i++)
        blk_free(&u->next->own[i], "handed to the next thread");
    /* Of the rest, a quarter freed here and the others left live. */
    size_t live = 0;
    for (int i = U_BLOCKS / 2; i < U_BLOCKS; i++) {
        if (i % 4 == 0)
            blk_free(&u->own[i], "freed by its thread");
        else
            u->own[U_BLOCKS / 2 + live++] = u->own[i];
    }
    u->live = live;
    for (int i = 0; i < 8; i++)
        blk_free(&mine[i], "dog_default block of a heap user");
    return NULL;
}

static void mode_1231_round(unsigned r, user_t *users, pthread_t *t)
{
    unsigned n = opt_threads;
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "1231" });
    if (h == NULL)
        die("dog_heap_new failed");
    pthread_barrier_t start, mid;
    pthread_barrier_init(&start, NULL, n);
    pthread_barrier_init(&mid, NULL, n);
    for (unsigned i = 0; i < n; i++) {
        users[i] = (user_t){ .start = &start, .mid = &mid, .heap = h,
                             .a = actor_make((uint64_t)r * n + i, opt_seed),
                             .next = &users[(i + 1) % n] };
        spawn(&t[i], i, user_main, &users[i]);
    }
    for (unsigned i = 0; i < n; i++)
        join(t[i]);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&mid);
    static blk_t live[THREADS_MAX * U_BLOCKS];
    size_t nlive = 0;
    for (unsigned i = 0; i < n; i++)
        for (size_t j = 0; j < users[i].live; j++)
            live[nlive++] = users[i].own[U_BLOCKS / 2 + j];
    destroy_checked(h, live, nlive, "1231: live at the destroy");
}

/* --- 1250: create on A, use on B, destroy on A --- */

#define B_BLOCKS 64

typedef struct bstate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int turn;                   /* 0: B's, 1: A's */
    bool quit;                  /* B exits after this turn */
    dog_heap_t *heap;           /* this round's heap */
    actor_t a;
    blk_t handed[B_BLOCKS / 4]; /* for A to free */
    blk_t live[B_BLOCKS / 4];   /* for the destroy */
    blk_t keep[16];             /* B's own: its heap's and dog_default's, across rounds */
    dog_heap_t *own_heap;
} bstate_t;

static void *b_main(void *arg)
{
    bstate_t *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->turn != 0)
            pthread_cond_wait(&s->cv, &s->mu);
        blk_t tmp[B_BLOCKS / 2];
        for (int i = 0; i < 16; i++)
            blk_check(&s->keep[i], "B's own block");
        for (int i = 0; i < B_BLOCKS / 4; i++) {
            s->handed[i] = blk_new(&s->a, s->heap, pick_size(&s->a, 32));
            s->live[i] = blk_new(&s->a, s->heap, pick_size(&s->a, 32));
        }
        for (int i = 0; i < B_BLOCKS / 2; i++)     /* into B's cache of the heap */
            tmp[i] = blk_new(&s->a, s->heap, 16 + (size_t)i * 24);
        for (int i = 0; i < B_BLOCKS / 2; i++)
            blk_free(&tmp[i], "B's short-lived block");
        for (int i = 0; i < 16; i++) {          /* B's own heaps go on meanwhile */
            blk_free(&s->keep[i], "B's own block");
            s->keep[i] = blk_new(&s->a, i & 1 ? s->own_heap : dog_default, pick_size(&s->a, 0));
        }
        bool quit = s->quit;                    /* the next B takes over B's own blocks */
        s->turn = 1;
        pthread_cond_broadcast(&s->cv);
        if (quit)
            break;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;            /* exits while A frees its hand-over and destroys the heap */
}

/* --- 1320: many threads at once, each creating and destroying heaps --- */

typedef struct mail {
    blk_t b;
    _Atomic int freed;
} mail_t;

typedef struct owner {
    actor_t a;
    unsigned index;
    _Atomic(mail_t *) box;          /* a block of the previous thread's heap, to free */
} owner_t;

static owner_t owners[THREADS_MAX];
static _Atomic unsigned owners_done;

/* Free what the previous thread posted, if anything. */
static void serve(owner_t *o)
{
    mail_t *m = atomic_exchange_explicit(&o->box, NULL, memory_order_acquire);
    if (m != NULL) {
        blk_free(&m->b, "1320: posted by the previous thread");
        atomic_store_explicit(&m->freed, 1, memory_order_release);
    }
}

static void *owner_main(void *arg)
{
    owner_t *o = arg;
    owner_t *next = &owners[(o->index + 1) % opt_threads];
    for (unsigned c = 0; c < opt_cycles; c++) {
        char name[32];
        snprintf(name, sizeof name, "t%u.%u", o->index, c);
        dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = name });
        if (h == NULL)
            die("dog_heap_new in thread %u failed", o->index);
        if (strcmp(dog_heap_name(h), name) != 0)
            die("heap %p is named \"%s\", not \"%s\"", (void *)h, dog_heap_name(h), name);
        blk_t b[24];
        for (int i = 0; i < 24; i++)
            b[i] = blk_new(&o->a, h, pick_size(&o->a, 96));
        for (int i = 0; i < 24; i += 3)
            blk_free(&b[i], "1320: freed by its thread");
        mail_t m = { .b = blk_new(&o->a, h, pick_size(&o->a, 0)) };
        atomic_store_explicit(&next->box, &m, memory_order_release);
        while (!atomic_load_explicit(&m.freed, memory_order_acquire)) {
            serve(o);
            sched_yield();
        }
        serve(o);
        blk_t live[16];
        size_t n = 0;
        for (int i = 0; i < 24; i++)
            if (i % 3 != 0)
                live[n++] = b[i];
        destroy_checked(h, live, n, "1320: live at the destroy");
    }
    /* The previous thread may still post: serve until every thread is done. */
    atomic_fetch_add(&owners_done, 1);
    while (atomic_load(&owners_done) < opt_threads) {
        serve(o);
        sched_yield();
    }
    serve(o);
    return NULL;
}

static void mode_1320_round(unsigned r, pthread_t *t)
{
    atomic_store(&owners_done, 0);
    for (unsigned i = 0; i < opt_threads; i++) {
        owners[i].a = actor_make((uint64_t)r * opt_threads + i, opt_seed);
        owners[i].index = i;
        atomic_store(&owners[i].box, NULL);
    }
    for (unsigned i = 0; i < opt_threads; i++)
        spawn(&t[i], i, owner_main, &owners[i]);
    for (unsigned i = 0; i < opt_threads; i++)
        join(t[i]);
}

/* --- race: destroy while the heap's users exit --- */

typedef struct racer {
    pthread_barrier_t *done, *after;
    dog_heap_t *heap, *_Atomic next;
    actor_t a;
    bool stays;                 /* lives on after the destroy */
    blk_t live[24];
} racer_t;

static void *racer_main(void *arg)
{
    racer_t *r = arg;
    blk_t tmp[64];
    for (int i = 0; i < 24; i++)
        r->live[i] = blk_new(&r->a, r->heap, pick_size(&r->a, 128));
    for (int i = 0; i < 64; i++)                /* into the thread's cache of the heap */
        tmp[i] = blk_new(&r->a, r->heap, pick_size(&r->a, 0));
    for (int i = 0; i < 64; i++)
        blk_free(&tmp[i], "freed by a racer");
    blk_t d = blk_new(&r->a, dog_default, 100);
    blk_free(&d, "a racer's dog_default block");
    for (int i = 0; i < 24; i++)                /* left live for the destroy */
        blk_check(&r->live[i], "live before the destroy");
    pthread_barrier_wait(r->done);
    if (!r->stays)
        return NULL;                            /* exits while the heap is destroyed */
    pthread_barrier_wait(r->after);
    dog_heap_t *h = atomic_load(&r->next);
    for (int i = 0; i < 64; i++)
        tmp[i] = blk_new(&r->a, i & 1 ? h : dog_default, pick_size(&r->a, 0));
    for (int i = 0; i < 64; i++)
        blk_free(&tmp[i], "freed by a racer after the destroy");
    if (r->a.id & 1)
        dog_trim();                             /* frees the dead cache */
    return NULL;
}

static void mode_race_round(unsigned k, racer_t *rs, pthread_t *t)
{
    unsigned n = opt_threads, stay = 0;
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "racing" });
    if (h == NULL)
        die("dog_heap_new failed");
    pthread_barrier_t done, after;
    for (unsigned i = 0; i < n; i++)
        stay += i % 4 == 0;
    pthread_barrier_init(&done, NULL, n + 1);
    pthread_barrier_init(&after, NULL, stay + 1);
    for (unsigned i = 0; i < n; i++) {
        rs[i] = (racer_t){ .done = &done, .after = &after, .heap = h,
                           .a = actor_make((uint64_t)k * n + i, opt_seed), .stays = i % 4 == 0 };
        spawn(&t[i], i, racer_main, &rs[i]);
    }
    pthread_barrier_wait(&done);
    /* The users are leaving: a few yields now and then, so that the destroy meets them at
     * every stage of their exit (most of them are still in it either way). */
    for (unsigned y = (unsigned)(mix(k) % 4); y > 0; y--)
        sched_yield();
    dog_heap_destroy(h);
    dog_heap_t *next = dog_heap_new(&(dog_heap_options_t){ .name = "after" });
    if (next == NULL)
        die("dog_heap_new failed");
    for (unsigned i = 0; i < n; i++)
        atomic_store(&rs[i].next, next);
    pthread_barrier_wait(&after);
    for (unsigned i = 0; i < n; i++)
        join(t[i]);
    pthread_barrier_destroy(&done);
    pthread_barrier_destroy(&after);
    destroy_checked(next, NULL, 0, "race: the heap after the destroy");
}

/* --- adopt: blocks of exited threads freed, their pages reused --- */

/* Generation r's thread i replaces the blocks of part (i + r) % THREADS of the array, all
 * allocated by threads of earlier generations, which have exited: no two threads of a
 * generation share a slot, and every free is of an exited thread's block. */
static blk_t adopt_slots[ADOPT_SLOTS];
static dog_heap_t *adopt_heap;

typedef struct gen {
    actor_t a;
    size_t from, to;            /* its part of adopt_slots */
} gen_t;

static void *gen_main(void *arg)
{
    gen_t *g = arg;
    for (size_t s = g->from; s < g->to; s++) {
        uint64_t r = rnd(&g->a.rng);
        blk_t *b = &adopt_slots[s];
        if (b->p != NULL)
            blk_free(b, "adopt: an exited thread's block");
        *b = blk_new(&g->a, r & 8 ? adopt_heap : dog_default, pick_size(&g->a, 512));
    }
    return NULL;
}

/* --- stats: exact counts of blocks whose threads have exited --- */

#define S_BLOCKS 80

typedef struct statser {
    pthread_barrier_t *done;
    dog_heap_t *heap;
    actor_t a;
    blk_t live[S_BLOCKS];
    size_t n;
    uint64_t heap_allocs, heap_frees;
} statser_t;

static void *statser_main(void *arg)
{
    statser_t *s = arg;
    blk_t tmp[32];
    for (int i = 0; i < 32; i++)                /* freed into the cache: not in use */
        tmp[i] = blk_new(&s->a, s->heap, pick_size(&s->a, 0));
    for (int i = 0; i < S_BLOCKS; i++)
        s->live[i] = blk_new(&s->a, i % 3 == 0 ? dog_default : s->heap, pick_size(&s->a, 48));
    for (int i = 0; i < 32; i++)
        blk_free(&tmp[i], "stats: freed by its thread");
    s->n = S_BLOCKS;
    s->heap_allocs = 32 + S_BLOCKS - (S_BLOCKS + 2) / 3;
    s->heap_frees = 32;
    pthread_barrier_wait(s->done);              /* done with the heaps; exits at once */
    return NULL;
}

typedef struct freer {
    statser_t *of;
    unsigned n;
} freer_t;

static void *freer_main(void *arg)
{
    freer_t *f = arg;
    for (unsigned i = 0; i < f->n; i++)
        for (size_t j = 0; j < f->of[i].n; j++)
            blk_free(&f->of[i].live[j], "stats: freed after its thread exited");
    return NULL;
}

/* Compare two counts; on a difference, say so and fail the run. */
#define EXPECT(what, seen, want)                                                          \
    do {                                                                                 \
        if ((size_t)(seen) != (size_t)(want))                                            \
            die("stats round %u%s: %s is %zu, expected %zu", k,                          \
                k & 1 ? " (read as the threads exit)" : "", what, (size_t)(seen),        \
                (size_t)(want));                                                         \
    } while (0)

static size_t class_blocks(const dog_heap_t *h)
{
    dog_class_stats_t rows[64];
    int n = dog_heap_class_stats(h, rows, 64);
    if (n < 0 || n > 64)
        die("dog_heap_class_stats: %d", n);
    size_t blocks = 0;
    for (int i = 0; i < n; i++)
        blocks += rows[i].blocks_in_use;
    return blocks;
}

static void mode_stats_round(unsigned k, dog_heap_t *h, uint64_t *allocs, uint64_t *frees,
                             statser_t *ss, pthread_t *t)
{
    unsigned n = opt_threads;
    dog_heap_stats_t d0 = heap_stats(dog_default), s1 = { 0 }, d1 = { 0 };
    size_t c1 = 0;
    pthread_barrier_t done;
    pthread_barrier_init(&done, NULL, n + 1);
    for (unsigned i = 0; i < n; i++) {
        ss[i] = (statser_t){ .done = &done, .heap = h,
                             .a = actor_make((uint64_t)k * n + i, opt_seed) };
        spawn(&t[i], i, statser_main, &ss[i]);
    }
    /* Every other round the counts are read while the threads exit (their caches going
     * back to the heaps): the threads are done with the heaps, so the counts must be as
     * exact as after they have exited. */
    bool racing = k & 1;
    pthread_barrier_wait(&done);
    if (racing) {
        s1 = heap_stats(h);
        d1 = heap_stats(dog_default);
        c1 = class_blocks(h);
    }
    for (unsigned i = 0; i < n; i++)
        join(t[i]);
    pthread_barrier_destroy(&done);
    if (!racing) {
        s1 = heap_stats(h);
        d1 = heap_stats(dog_default);
        c1 = class_blocks(h);
    }
    size_t hb = 0, hbytes = 0, hhuge = 0, hsmall = 0, db = 0, dbytes = 0;
    for (unsigned i = 0; i < n; i++) {
        *allocs += ss[i].heap_allocs;
        *frees += ss[i].heap_frees;
        for (size_t j = 0; j < ss[i].n; j++) {
            const blk_t *b = &ss[i].live[j];
            blk_check(b, "stats: live after its thread exited");
            size_t u = dog_usable_size(b->p);
            if (b->heap == h) {
                hb++;
                hbytes += u;
                hhuge += b->size > ((size_t)64 << 10);
                hsmall += b->size <= ((size_t)64 << 10);
            } else {
                db++;
                dbytes += u;
            }
        }
    }
    /* Every allocating thread is done, so nothing is in flight: the counts are exact. */
    EXPECT("the heap's blocks_in_use", s1.blocks_in_use, hb);
    EXPECT("the heap's bytes_in_use", s1.bytes_in_use, hbytes);
    EXPECT("the heap's huge_blocks", s1.huge_blocks, hhuge);
    EXPECT("the heap's allocs", s1.allocs, *allocs);
    EXPECT("the heap's frees", s1.frees, *frees);
    EXPECT("the heap's blocks by size class", c1, hsmall);
    EXPECT("dog_default's new blocks_in_use", d1.blocks_in_use - d0.blocks_in_use, db);
    EXPECT("dog_default's new bytes_in_use", d1.bytes_in_use - d0.bytes_in_use, dbytes);
    EXPECT("dog_default's new allocs - frees", (d1.allocs - d1.frees) - (d0.allocs - d0.frees), db);
    freer_t f = { ss, n };
    spawn(&t[0], 0, freer_main, &f);
    join(t[0]);
    *frees += hb;
    dog_heap_stats_t s2 = heap_stats(h), d2 = heap_stats(dog_default);
    EXPECT("the heap's blocks_in_use after the frees", s2.blocks_in_use, 0);
    EXPECT("the heap's bytes_in_use after the frees", s2.bytes_in_use, 0);
    EXPECT("the heap's huge_blocks after the frees", s2.huge_blocks, 0);
    EXPECT("the heap's allocs after the frees", s2.allocs, *allocs);
    EXPECT("the heap's frees after the frees", s2.frees, *frees);
    EXPECT("the heap's blocks by size class after the frees", class_blocks(h), 0);
    EXPECT("dog_default's blocks_in_use after the frees", d2.blocks_in_use, d0.blocks_in_use);
    EXPECT("dog_default's bytes_in_use after the frees", d2.bytes_in_use, d0.bytes_in_use);
    EXPECT("dog_default's allocs - frees after the frees", d2.allocs - d2.frees,
           d0.allocs - d0.frees);
}

/* --- The rounds, the baseline and the checks --- */

static bool footprint_check(const char *mode, footprint_t first, footprint_t base,
                            footprint_t end)
{
    bool ok = end.mapped <= base.mapped + FOOTPRINT_SLACK &&
              (CYCLES_SANITIZED || end.lines <= base.lines + FOOTPRINT_LINES) &&
              end.heaps == base.heaps;
    printf("cycles %s: footprint %s: %.1f MiB mapped, %zu lines in /proc/self/maps, %zu heaps "
           "(after the first round %.1f MiB, %zu lines, %zu heaps; before it %.1f MiB, %zu "
           "lines; allowed %zu MiB and %d lines more%s)\n", mode, ok ? "back" : "NOT BACK",
           (double)end.mapped / 1048576, end.lines, end.heaps, (double)base.mapped / 1048576,
           base.lines, base.heaps, (double)first.mapped / 1048576, first.lines,
           FOOTPRINT_SLACK >> 20, FOOTPRINT_LINES,
           CYCLES_SANITIZED ? ", lines not compared under a sanitizer" : "");
    return ok;
}

/* Rounds r0 .. r1 - 1 of mode, from the set-up of what lives across rounds to its
 * tear-down, with dog_default's counts back where they were at the end. */
static bool scenario(const char *mode, unsigned r0, unsigned r1)
{
    static pthread_t t[THREADS_MAX];
    static user_t users[THREADS_MAX];
    static racer_t racers[THREADS_MAX];
    static statser_t statsers[THREADS_MAX];
    static bstate_t bs = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
                           .turn = 1 };
    bool ok = true;
    dog_heap_stats_t d0 = heap_stats(dog_default);
    double start = now();
    pthread_t b = 0;
    dog_heap_t *stats_heap = NULL;
    uint64_t stats_allocs = 0, stats_frees = 0;
    size_t adopt_pages[2] = { 0, 0 }, adopt_mapped[2] = { 0, 0 };

    if (strcmp(mode, "1250") == 0) {
        bs.own_heap = dog_heap_new(&(dog_heap_options_t){ .name = "B's own" });
        if (bs.own_heap == NULL)
            die("dog_heap_new failed");
        actor_t a0 = actor_make(0, opt_seed);
        for (int i = 0; i < 16; i++)
            bs.keep[i] = blk_new(&a0, i & 1 ? bs.own_heap : dog_default, pick_size(&a0, 0));
    } else if (strcmp(mode, "adopt") == 0) {
        adopt_heap = dog_heap_new(&(dog_heap_options_t){ .name = "adopt" });
        if (adopt_heap == NULL)
            die("dog_heap_new failed");
    } else if (strcmp(mode, "stats") == 0) {
        stats_heap = dog_heap_new(&(dog_heap_options_t){ .name = "stats" });
        if (stats_heap == NULL)
            die("dog_heap_new failed");
    }

    for (unsigned r = r0; r < r1; r++) {
        if (strcmp(mode, "1231") == 0) {
            mode_1231_round(r, users, t);
        } else if (strcmp(mode, "1320") == 0) {
            mode_1320_round(r, t);
        } else if (strcmp(mode, "race") == 0) {
            mode_race_round(r, racers, t);
        } else if (strcmp(mode, "1250") == 0) {
            dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "1250" });
            if (h == NULL)
                die("dog_heap_new failed");
            actor_t a = actor_make(1u << 20 | r, opt_seed);
            blk_t mine[8];
            for (int i = 0; i < 8; i++)
                mine[i] = blk_new(&a, h, pick_size(&a, 16));
            if (b == 0) {
                bs.a = actor_make(2u << 20 | r, opt_seed);
                spawn(&b, 0, b_main, &bs);
            }
            pthread_mutex_lock(&bs.mu);
            bs.heap = h;
            bs.quit = r % 16 == 15 || r + 1 == r1;
            bs.turn = 0;
            pthread_cond_broadcast(&bs.cv);
            while (bs.turn != 1)
                pthread_cond_wait(&bs.cv, &bs.mu);
            bool quit = bs.quit;
            pthread_mutex_unlock(&bs.mu);
            /* If B is quitting, it exits now, while A frees and destroys. */
            for (int i = 0; i < B_BLOCKS / 4; i++)
                blk_free(&bs.handed[i], "1250: B's block freed by A");
            blk_t live[B_BLOCKS / 4 + 8];
            size_t n = 0;
            for (int i = 0; i < B_BLOCKS / 4; i++)
                live[n++] = bs.live[i];
            for (int i = 0; i < 8; i++)
                live[n++] = mine[i];
            destroy_checked(h, live, n, "1250: live at the destroy on A");
            if (quit) {
                join(b);
                b = 0;
            }
        } else if (strcmp(mode, "adopt") == 0) {
            gen_t g[THREADS_MAX];
            for (unsigned i = 0; i < opt_threads; i++) {
                size_t part = (i + r) % opt_threads;
                g[i] = (gen_t){ actor_make((uint64_t)r * opt_threads + i, opt_seed),
                                ADOPT_SLOTS * part / opt_threads,
                                ADOPT_SLOTS * (part + 1) / opt_threads };
                spawn(&t[i], i, gen_main, &g[i]);
            }
            for (unsigned i = 0; i < opt_threads; i++)
                join(t[i]);
            dog_heap_stats_t a = heap_stats(adopt_heap), d = heap_stats(dog_default);
            dog_stats_t st;
            if (dog_stats(&st) != 0)
                die("dog_stats failed");
            size_t half = r - r0 < (r1 - r0) / 2 ? 0 : 1;
            size_t pages = a.pages + d.pages;
            /* The heaps' memory: the pool's empty pages and the huge cache are bounded by
             * dogmalloc itself (src/config.h: DOG_POOL_*, DOG_HUGE_CACHE_*). */
            size_t mapped = st.bytes_mapped - st.huge_cache_bytes - st.pool_pages * PAGE_BYTES;
            if (r > r0) {       /* the first generation fills the array */
                adopt_pages[half] = pages > adopt_pages[half] ? pages : adopt_pages[half];
                adopt_mapped[half] = mapped > adopt_mapped[half] ? mapped : adopt_mapped[half];
            }
        } else if (strcmp(mode, "stats") == 0) {
            mode_stats_round(r, stats_heap, &stats_allocs, &stats_frees, statsers, t);
            if (r % 100 == 99) {        /* a new heap now and then: its counts from zero */
                dog_heap_destroy(stats_heap);
                stats_heap = dog_heap_new(&(dog_heap_options_t){ .name = "stats" });
                if (stats_heap == NULL)
                    die("dog_heap_new failed");
                stats_allocs = stats_frees = 0;
            }
        } else {
            die("no mode %s", mode);
        }
        unsigned done = r + 1 - r0, all = r1 - r0;
        if (all >= 10 && done % (all / 10) == 0) {
            printf("cycles %s: round %u/%u, %.1f s\n", mode, done, all, now() - start);
            fflush(stdout);
        }
    }
    double secs = now() - start;

    if (strcmp(mode, "adopt") == 0) {
        for (size_t i = 0; i < ADOPT_SLOTS; i++)
            if (adopt_slots[i].p != NULL)
                blk_free(&adopt_slots[i], "adopt: left at the end");
        /* How many pages the heaps hold follows how the threads of a generation spread
         * over the shards (a page per shard and size class in use), 170-290 pages at full
         * scale; a page stranded per exited thread would add 8 a generation. */
        bool bounded = adopt_pages[1] <= adopt_pages[0] + adopt_pages[0] / 2 &&
                       adopt_mapped[1] <= adopt_mapped[0] + adopt_mapped[0] / 2;
        if (r1 - r0 >= 4) {             /* no halves to compare in the first round */
            printf("cycles adopt: peaks of the first and second half: %zu and %zu pages "
                   "held, %.1f and %.1f MiB mapped by the heaps: %s (allowed: half as much "
                   "again)\n", adopt_pages[0], adopt_pages[1], (double)adopt_mapped[0] / 1048576,
                   (double)adopt_mapped[1] / 1048576, bounded ? "bounded" : "GREW");
            ok &= bounded;
        }
        dog_heap_destroy(adopt_heap);
    } else if (strcmp(mode, "1250") == 0) {
        for (int i = 0; i < 16; i++)
            blk_free(&bs.keep[i], "B's own block at the end");
        dog_heap_destroy(bs.own_heap);
    } else if (strcmp(mode, "stats") == 0) {
        dog_heap_destroy(stats_heap);
    }
    dog_heap_stats_t d1 = heap_stats(dog_default);
    bool exact = d1.blocks_in_use == d0.blocks_in_use && d1.bytes_in_use == d0.bytes_in_use &&
                 d1.allocs - d1.frees == d0.allocs - d0.frees;
    printf("cycles %s: dog_default %s: %zu blocks, %zu bytes in use (%zu, %zu at the start)\n",
           mode, exact ? "exact" : "WRONG", d1.blocks_in_use, d1.bytes_in_use,
           d0.blocks_in_use, d0.bytes_in_use);
    ok &= exact;
    if (r1 - r0 > 1)
        printf("cycles %s: %u rounds, %u threads, %.1f s\n", mode, r1 - r0, opt_threads, secs);
    return ok;
}

/* One round first, which brings dogmalloc's metadata to about its peak; then the rounds,
 * and the footprint must be back at what the first round left. */
static bool run(const char *mode)
{
    footprint_t first = footprint();
    bool ok = scenario(mode, 0, 1);
    footprint_t base = footprint();
    ok &= scenario(mode, 1, 1 + opt_rounds);
    ok &= footprint_check(mode, first, base, footprint());
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("cycles %s: peak RSS %.1f MiB: %s\n", mode, (double)ru.ru_maxrss / 1024,
           ok ? "OK" : "FAILED");
    return ok;
}

/* stress.h's option, in this program's name. */
static unsigned long long option(const char *arg, char opt, unsigned long long min,
                                 unsigned long long max)
{
    return stress_option("cycles", arg, opt, min, max);
}

int main(int argc, char **argv)
{
    const char *mode = NULL;
    unsigned rounds = 0, threads = 0, cycles = 0;
    int c;
    while ((c = getopt(argc, argv, "m:r:t:c:S:")) != -1) {
        switch (c) {
        case 'm': mode = optarg; break;
        case 'r': rounds = (unsigned)option(optarg, 'r', 1, 1000000); break;
        case 't': threads = (unsigned)option(optarg, 't', 2, THREADS_MAX); break;
        case 'c': cycles = (unsigned)option(optarg, 'c', 1, 1000000); break;
        case 'S': opt_seed = option(optarg, 'S', 0, UINT64_MAX); break;
        default: mode = NULL; optind = argc; break;
        }
    }
    static const struct { const char *name; unsigned rounds, threads, cycles; } modes[] = {
        { "1231", 1000, 32, 0 }, { "1250", 20000, 2, 0 }, { "1320", 50, 512, 4 },
        { "race", 1000, 32, 0 }, { "adopt", 1000, 8, 0 }, { "stats", 1000, 16, 0 },
    };
    size_t m = 0;
    while (mode != NULL && m < sizeof modes / sizeof modes[0] && strcmp(modes[m].name, mode) != 0)
        m++;
    if (mode == NULL || m == sizeof modes / sizeof modes[0]) {
        fprintf(stderr, "usage: cycles -m 1231|1250|1320|race|adopt|stats [-r ROUNDS] "
                "[-t THREADS] [-c CYCLES] [-S SEED]\n");
        return 2;
    }
    opt_rounds = rounds ? rounds : modes[m].rounds;
    opt_threads = threads ? threads : modes[m].threads;
    opt_cycles = cycles ? cycles : modes[m].cycles;
    stacks_init();
    printf("cycles %s: %u rounds, %u threads, seed %#llx\n", mode, opt_rounds, opt_threads,
           (unsigned long long)opt_seed);
    fflush(stdout);
    return run(mode) ? 0 : 1;
}
