/* SPDX-License-Identifier: MIT */
/* check_faults.c: when the OS refuses memory, every entry point fails cleanly (NULL and
 * ENOMEM, or its documented answer), leaks nothing and leaves dogmalloc working.
 *
 * Two ways to make the OS refuse:
 *   "inject" (a FAULTS=1 build only, src/fault.h): for each entry point, a child process
 *            sets up a starting state and counts the OS calls the operation makes; then
 *            for every N up to that count a fresh child from the same state fails the
 *            Nth call. The operation must either fail the documented way or succeed
 *            through a fallback; either way the statistics, the address map and the
 *            mappings must come back to what they were (only the documented caches and
 *            dogmalloc's own never-returned structures may differ), and the operation
 *            must then work without faults and give a usable, distinct block.
 *   "rlimit" (every build but the sanitizers', whose shadow memory needs the address
 *            space): 8 threads allocate through every entry point under RLIMIT_AS in a
 *            child until each entry point has failed; every NULL must come with ENOMEM,
 *            every block keeps its pattern, and after everything is freed the child
 *            allocates again and its statistics are back at the baseline.
 * Each case runs in children of its own (fork), so that its counts are reproducible
 * and a crash is reported, not suffered. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"
#include "suites.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define PAGE ((size_t)512 << 10)
#define RSS_NOISE ((size_t)128 << 10)

/* --- Children: their own assertions, reported through a pipe ------------------------ */

static int child_fd = -1;

static void __attribute__((format(printf, 2, 3), noreturn))
child_fail(int line, const char *fmt, ...)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "line %d: ", line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    if (write(child_fd, buf, strlen(buf)) < 0)
        _exit(3);
    _exit(1);
}

#define CREQ(cond, ...)                                                                    \
    do {                                                                                   \
        if (!(cond))                                                                       \
            child_fail(__LINE__, "'" #cond "' failed: " __VA_ARGS__);                      \
    } while (0)

static void child_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void child_say(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (write(child_fd, buf, strlen(buf)) < 0)
        _exit(3);
}

/* Run fn(arg) in a child; its output (child_say, or the failure) goes into out. Returns
 * the wait status. Our own fork, so it works under CK_FORK=no too. */
static int child_run(void (*fn)(void *), void *arg, char *out, size_t cap)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        close(fds[0]);
        child_fd = fds[1];
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    for (;;) {
        char buf[512];
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t take = (size_t)n < cap - 1 - len ? (size_t)n : cap - 1 - len;
        memcpy(out + len, buf, take);
        len += take;
    }
    out[len] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    return status;
}

static void expect_clean_exit(int status, const char *what, const char *out)
{
    ck_assert_msg(!WIFSIGNALED(status), "%s: child died of signal %d (%s); output: %s", what,
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0,
                  strsignal(WIFSIGNALED(status) ? WTERMSIG(status) : 0), out);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: child failed: %s", what,
                  out);
}

/* --- Snapshots of the statistics ---------------------------------------------------- */

typedef struct snap {
    dog_heap_stats_t def, own;      /* dog_default, and the case's own heap if it has one */
    dog_stats_t all;
    size_t meta, marked;            /* fault builds only (fault.h) */
    size_t vm, rss;                 /* the process's mapped and resident bytes */
} snap_t;

static size_t vm_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0;
    if (f != NULL) {
        if (fscanf(f, "%lu", &size) != 1)
            size = 0;
        fclose(f);
    }
    return (size_t)size * (size_t)sysconf(_SC_PAGESIZE);
}

static void snap_take(snap_t *s, dog_heap_t *own)
{
    memset(s, 0, sizeof *s);
    CREQ(dog_heap_stats(dog_default, &s->def) == 0, "dog_heap_stats");
    if (own != NULL)
        CREQ(dog_heap_stats(own, &s->own) == 0, "dog_heap_stats(own)");
    CREQ(dog_stats(&s->all) == 0, "dog_stats");
#ifdef DOG_FAULT_INJECT
    s->meta = dog__meta_mapped();
    s->marked = dog__segmap_marked() - dog__meta_frames();   /* frames of blocks and pages */
#endif
    s->vm = vm_bytes();
    s->rss = test_resident_bytes();
}

#ifdef DOG_FAULT_INJECT
/* Mapped memory that is neither a documented cache (pool, huge cache) nor dogmalloc's
 * own structures, which are never given back (meta.c). */
static size_t snap_held(const snap_t *s)
{
    return s->all.bytes_mapped - s->meta - s->all.pool_pages * PAGE - s->all.huge_cache_bytes;
}

/* After a failed operation: nothing the caller can see changed, and nothing more is held. */
static void snap_expect_unchanged(const snap_t *before, const snap_t *after, const char *what)
{
    CREQ(after->def.blocks_in_use == before->def.blocks_in_use &&
             after->def.bytes_in_use == before->def.bytes_in_use,
         "%s: dog_default has %zu blocks, %zu bytes in use (before: %zu, %zu)", what,
         after->def.blocks_in_use, after->def.bytes_in_use, before->def.blocks_in_use,
         before->def.bytes_in_use);
    CREQ(after->own.blocks_in_use == before->own.blocks_in_use &&
             after->own.bytes_in_use == before->own.bytes_in_use &&
             after->own.huge_blocks == before->own.huge_blocks,
         "%s: the heap has %zu blocks, %zu bytes in use (before: %zu, %zu)", what,
         after->own.blocks_in_use, after->own.bytes_in_use, before->own.blocks_in_use,
         before->own.bytes_in_use);
    CREQ(after->def.bytes_mapped <= before->def.bytes_mapped &&
             after->own.bytes_mapped <= before->own.bytes_mapped,
         "%s: heaps charged %zu + %zu bytes (before: %zu + %zu)", what, after->def.bytes_mapped,
         after->own.bytes_mapped, before->def.bytes_mapped, before->own.bytes_mapped);
    CREQ(after->all.heaps == before->all.heaps, "%s: %zu heaps (before: %zu)", what,
         after->all.heaps, before->all.heaps);
    CREQ(snap_held(after) <= snap_held(before),
         "%s: %zu bytes mapped outside the caches (before: %zu)", what, snap_held(after),
         snap_held(before));
}

/* After dog_trim(), against a reference child that did the same minus the fault. */
static void snap_expect_trimmed(const snap_t *ref, const snap_t *now, bool unmap_failed,
                                size_t vm_slack, const char *what)
{
    CREQ(now->def.blocks_in_use == ref->def.blocks_in_use &&
             now->def.bytes_in_use == ref->def.bytes_in_use &&
             now->def.bytes_mapped == ref->def.bytes_mapped && now->def.pages == ref->def.pages,
         "%s, trimmed: dog_default %zu blocks, %zu bytes, %zu mapped, %zu pages (reference: "
         "%zu, %zu, %zu, %zu)", what, now->def.blocks_in_use, now->def.bytes_in_use,
         now->def.bytes_mapped, now->def.pages, ref->def.blocks_in_use, ref->def.bytes_in_use,
         ref->def.bytes_mapped, ref->def.pages);
    CREQ(now->own.blocks_in_use == ref->own.blocks_in_use &&
             now->own.bytes_mapped == ref->own.bytes_mapped,
         "%s, trimmed: the heap has %zu blocks, %zu mapped (reference: %zu, %zu)", what,
         now->own.blocks_in_use, now->own.bytes_mapped, ref->own.blocks_in_use,
         ref->own.bytes_mapped);
    CREQ(now->all.bytes_mapped - now->meta == ref->all.bytes_mapped - ref->meta,
         "%s, trimmed: %zu bytes mapped besides metadata (reference: %zu)", what,
         now->all.bytes_mapped - now->meta, ref->all.bytes_mapped - ref->meta);
    CREQ(now->all.pool_pages == 0 && now->all.huge_cache_bytes == 0,
         "%s, trimmed: %zu pooled pages, %zu cached huge bytes", what, now->all.pool_pages,
         now->all.huge_cache_bytes);
    CREQ(now->marked == ref->marked, "%s, trimmed: %zu frames in the address map (reference: %zu)",
         what, now->marked, ref->marked);
    /* The process's own count: an address range dogmalloc no longer counts but left
     * mapped shows here. Not after a munmap that failed: that range stays mapped, as
     * the OS decided. */
    /* Where the range stays, its memory must not: at most the page-table noise of a
     * process that ran a little more code than the reference. */
    CREQ(!unmap_failed || now->rss <= ref->rss + RSS_NOISE,
         "%s, trimmed: a failed munmap kept %zd bytes resident", what,
         (ssize_t)(now->rss - ref->rss));
    CREQ(unmap_failed || now->vm - now->meta <= ref->vm - ref->meta + vm_slack,
         "%s, trimmed: the process maps %zd bytes more than the reference", what,
         (ssize_t)(now->vm - now->meta - (ref->vm - ref->meta)));
}

#endif

/* --- Blocks -------------------------------------------------------------------------- */

static void block_check_usable(void *p, size_t size, bool zero, const char *what)
{
    CREQ(p != NULL, "%s: NULL", what);
    size_t usable = dog_usable_size(p);
    CREQ(usable >= size, "%s: %zu usable bytes for %zu", what, usable, size);
    if (zero) {
        const unsigned char *b = p;
        for (size_t i = 0; i < size; i++)
            CREQ(b[i] == 0, "%s: byte %zu of a calloc block is %u", what, i, b[i]);
    }
    void *q = launder(p);
    pattern_fill(q, usable);
    CREQ(pattern_check(q, usable) == SIZE_MAX, "%s: the block does not keep its contents", what);
}


/* --- RLIMIT_AS: threads allocate to exhaustion ---------------------------------------- */

#define RL_THREADS 8
#define RL_SLOTS 4096
#define RL_ROOM (256 * MIB)            /* address space granted beyond what is mapped */
#define RL_ROUNDS 200000                /* per thread: far more than exhaustion takes */
#define RL_CYCLES 3                     /* exhaust, free, recover: three times */

enum {
    RL_MALLOC_SMALL, RL_MALLOC_LARGE, RL_MALLOC_HUGE, RL_CALLOC, RL_ALIGNED, RL_MEMALIGN,
    RL_REALLOC, RL_REALLOCARRAY, RL_HEAP_MALLOC, RL_HEAP_CALLOC, RL_HEAP_ALIGNED,
    RL_HEAP_REALLOC, RL_HEAP_NEW, RL_OPS
};
static const char *const rl_names[RL_OPS] = {
    "malloc small", "malloc large", "malloc huge", "calloc", "aligned_alloc", "posix_memalign",
    "realloc", "reallocarray", "heap_malloc", "heap_calloc", "heap_aligned_alloc",
    "heap_realloc", "heap_new",
};

typedef struct rl_slot {
    void *p;
    size_t size;
    uint64_t seed;
} rl_slot_t;

typedef struct rl_thread {
    pthread_t tid;
    unsigned id;
    dog_heap_t *heap;
    uint64_t rng;
    rl_slot_t slots[RL_SLOTS];
    unsigned count;
    unsigned long calls[RL_OPS], fails[RL_OPS], fails_total;
    int bad_errno, bad_op;
    size_t bad_offset;
} rl_thread_t;

static rl_thread_t rl_threads[RL_THREADS];     /* static: nothing to allocate under the limit */
static pthread_barrier_t rl_start, rl_exhausted, rl_freed;

static uint64_t rl_next(rl_thread_t *t)
{
    t->rng ^= t->rng << 13;
    t->rng ^= t->rng >> 7;
    t->rng ^= t->rng << 17;
    return t->rng;
}

/* A size of 1 to max bytes, small ones likelier. */
static size_t rl_size(rl_thread_t *t, size_t max)
{
    unsigned bits = (unsigned)(rl_next(t) % 64);
    size_t cap = bits >= 63 ? max : ((size_t)1 << (bits % 23)) + 1;
    if (cap > max)
        cap = max;
    return 1 + (size_t)(rl_next(t) % cap);
}

static void rl_store(rl_thread_t *t, void *p, size_t size, bool zero)
{
    if (zero) {
        const unsigned char *b = p;
        for (size_t i = 0; i < size; i++)
            if (b[i] != 0) {
                t->bad_offset = i;
                t->bad_op = RL_CALLOC;
                break;
            }
    }
    rl_slot_t *s = &t->slots[t->count++];
    s->p = p;
    s->size = size;
    s->seed = pattern_seed(p, size);
    pattern_fill_seed(p, size, s->seed);
}

static bool rl_check(rl_thread_t *t, const rl_slot_t *s, size_t n)
{
    size_t bad = pattern_check_seed(s->p, n, s->seed);
    if (bad != SIZE_MAX && t->bad_offset == 0)
        t->bad_offset = bad + 1;
    return bad == SIZE_MAX;
}

/* Resize a random block of the thread; on failure the block must be intact. */
static void *rl_resize(rl_thread_t *t, int op)
{
    if (t->count == 0)
        return dog_malloc(1);
    rl_slot_t *s = &t->slots[rl_next(t) % t->count];
    size_t size = s->size * 2 + rl_size(t, 4 * MIB);
    void *q;
    if (op == RL_REALLOC)
        q = dog_realloc(s->p, size);
    else if (op == RL_REALLOCARRAY)
        q = dog_reallocarray(s->p, size / 8 + 1, 8);
    else
        q = dog_heap_realloc(dog_heap_of(s->p) == t->heap ? t->heap : dog_default, s->p, size);
    if (op == RL_REALLOCARRAY)
        size = (size / 8 + 1) * 8;
    int err = errno;
    if (q != NULL) {        /* the contents moved with the block; else they stayed */
        s->p = q;
        rl_check(t, s, s->size < size ? s->size : size);
        s->size = size;
        pattern_fill_seed(q, size, s->seed);    /* prefix-stable: the old part stays */
    } else {
        rl_check(t, s, s->size);
    }
    errno = err;
    return q;
}

static void rl_exhaust(rl_thread_t *t)
{
    bool all_failed = false;
    memset(t->fails, 0, sizeof t->fails);
    for (unsigned long round = 0; round < RL_ROUNDS && !all_failed; round++) {
        int op = (int)(round % RL_OPS);
        if (t->count == RL_SLOTS) {         /* full: free one, after checking it */
            rl_slot_t *s = &t->slots[rl_next(t) % t->count];
            rl_check(t, s, s->size);
            dog_free(s->p);
            *s = t->slots[--t->count];
        }
        void *p = NULL;
        size_t size = 0;
        bool zero = false, stored = false;
        int rc = 0;
        errno = 0;
        switch (op) {
        case RL_MALLOC_SMALL: p = dog_malloc(size = rl_size(t, 16 * KIB)); break;
        case RL_MALLOC_LARGE: p = dog_malloc(size = 16 * KIB + rl_size(t, 48 * KIB)); break;
        case RL_MALLOC_HUGE: p = dog_malloc(size = 64 * KIB + rl_size(t, 4 * MIB)); break;
        case RL_CALLOC:
            size = rl_size(t, 2 * MIB);
            p = dog_calloc(size / 8 + 1, 8);
            size = (size / 8 + 1) * 8;
            zero = true;
            break;
        case RL_ALIGNED:
            p = dog_aligned_alloc((size_t)1 << (rl_next(t) % 22), size = rl_size(t, MIB));
            break;
        case RL_MEMALIGN:
            errno = EDOM;
            rc = dog_posix_memalign(&p, (size_t)8 << (rl_next(t) % 19), size = rl_size(t, MIB));
            if (rc != 0) {
                if (errno != EDOM)
                    t->bad_errno = errno, t->bad_op = op;
                errno = rc;
                p = NULL;
            }
            break;
        case RL_REALLOC:
        case RL_REALLOCARRAY:
        case RL_HEAP_REALLOC:
            p = rl_resize(t, op);
            stored = true;
            break;
        case RL_HEAP_MALLOC: p = dog_heap_malloc(t->heap, size = rl_size(t, 256 * KIB)); break;
        case RL_HEAP_CALLOC:
            size = rl_size(t, 2 * MIB);
            p = dog_heap_calloc(t->heap, 1, size);
            zero = true;
            break;
        case RL_HEAP_ALIGNED:
            p = dog_heap_aligned_alloc(t->heap, (size_t)1 << (rl_next(t) % 22),
                                       size = rl_size(t, MIB));
            break;
        case RL_HEAP_NEW: {
            dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "rlimit" });
            if (h != NULL) {
                void *b = dog_heap_malloc(h, 100);
                if (b != NULL)
                    memset(b, 1, 100);
                dog_heap_destroy(h);
            }
            p = h;
            stored = true;
            break;
        }
        }
        t->calls[op]++;
        if (p == NULL) {
            if (errno != ENOMEM && t->bad_errno == 0)
                t->bad_errno = errno, t->bad_op = op;
            t->fails[op]++;
        } else if (!stored) {
            rl_store(t, p, size, zero);
        }
        all_failed = true;
        for (int k = 0; k < RL_OPS; k++)
            if (k != RL_HEAP_NEW && t->fails[k] == 0)
                all_failed = false;
    }
}

/* Each cycle: exhaust, wait until every thread has, free everything, give the cache back
 * (dog_trim flushes the calling thread's), and let the main thread compare. */
static void *rl_thread_main(void *arg)
{
    rl_thread_t *t = arg;
    for (int cycle = 0; cycle < RL_CYCLES; cycle++) {
        pthread_barrier_wait(&rl_start);
        rl_exhaust(t);
        for (int k = 0; k < RL_OPS; k++)
            t->fails_total += t->fails[k];
        pthread_barrier_wait(&rl_exhausted);
        for (unsigned i = 0; i < t->count; i++) {
            rl_check(t, &t->slots[i], t->slots[i].size);
            dog_free(t->slots[i].p);
        }
        t->count = 0;
        dog_trim();
        pthread_barrier_wait(&rl_freed);
    }
    return NULL;
}

static void rlimit_child(void *arg)
{
    (void)arg;
    dog_option_set(DOG_OPTION_PURGE_DELAY, -1);
    warm_thread_cache();
    for (unsigned i = 0; i < RL_THREADS; i++) {
        rl_thread_t *t = &rl_threads[i];
        t->id = i;
        t->rng = 0x9e3779b97f4a7c15ull * (i + 1);
        t->heap = dog_heap_new(&(dog_heap_options_t){ .name = "rlimit" });
        CREQ(t->heap != NULL, "dog_heap_new");
    }
    CREQ(pthread_barrier_init(&rl_start, NULL, RL_THREADS + 1) == 0, "barrier");
    CREQ(pthread_barrier_init(&rl_exhausted, NULL, RL_THREADS) == 0, "barrier");
    CREQ(pthread_barrier_init(&rl_freed, NULL, RL_THREADS + 1) == 0, "barrier");
    for (unsigned i = 0; i < RL_THREADS; i++)
        CREQ(pthread_create(&rl_threads[i].tid, NULL, rl_thread_main, &rl_threads[i]) == 0,
             "pthread_create");
    dog_trim();
    snap_t base, now;
    snap_take(&base, NULL);
    size_t limit = vm_bytes() + RL_ROOM;
    struct rlimit rl = { limit, limit };
    CREQ(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit: %s", strerror(errno));
    for (int cycle = 0; cycle < RL_CYCLES; cycle++) {
        pthread_barrier_wait(&rl_start);
        pthread_barrier_wait(&rl_freed);
        for (unsigned i = 0; i < RL_THREADS; i++) {
            rl_thread_t *t = &rl_threads[i];
            CREQ(t->bad_errno == 0, "cycle %d, thread %u: %s failed with errno %d, not ENOMEM",
                 cycle, i, rl_names[t->bad_op], t->bad_errno);
            CREQ(t->bad_offset == 0, "cycle %d, thread %u: a block lost its contents (offset "
                 "%zu)", cycle, i, t->bad_offset - 1);
            for (int k = 0; k < RL_OPS; k++)
                CREQ(k == RL_HEAP_NEW || t->fails[k] > 0,
                     "cycle %d, thread %u: %s never failed in %lu calls", cycle, i, rl_names[k],
                     t->calls[k]);
            dog_heap_stats_t hs;
            CREQ(dog_heap_stats(t->heap, &hs) == 0, "dog_heap_stats");
            CREQ(hs.blocks_in_use == 0 && hs.bytes_in_use == 0,
                 "cycle %d, thread %u's heap: %zu blocks, %zu bytes in use after every free",
                 cycle, i, hs.blocks_in_use, hs.bytes_in_use);
        }
        /* Everything is back: the statistics are the baseline's, under the same limit. */
        dog_trim();
        snap_take(&now, NULL);
        CREQ(now.def.blocks_in_use == base.def.blocks_in_use &&
                 now.def.bytes_in_use == base.def.bytes_in_use &&
                 now.def.bytes_mapped == base.def.bytes_mapped,
             "cycle %d: dog_default: %zu blocks, %zu bytes, %zu mapped (baseline %zu, %zu, %zu)",
             cycle, now.def.blocks_in_use, now.def.bytes_in_use, now.def.bytes_mapped,
             base.def.blocks_in_use, base.def.bytes_in_use, base.def.bytes_mapped);
        CREQ(now.all.bytes_mapped - now.meta == base.all.bytes_mapped - base.meta ||
                 now.meta == 0,     /* without fault.h's count, metadata may have grown */
             "cycle %d: %zu bytes mapped besides metadata (baseline %zu)", cycle,
             now.all.bytes_mapped - now.meta, base.all.bytes_mapped - base.meta);
        CREQ(now.marked == base.marked, "cycle %d: %zu frames in the address map (baseline %zu)",
             cycle, now.marked, base.marked);
        for (unsigned i = 0; i < RL_THREADS; i++) {
            dog_heap_stats_t hs;
            CREQ(dog_heap_stats(rl_threads[i].heap, &hs) == 0 && hs.bytes_mapped == 0,
                 "cycle %d: thread %u's heap still holds %zu bytes", cycle, i, hs.bytes_mapped);
        }
    }
    unsigned long calls = 0, fails = 0;
    for (unsigned i = 0; i < RL_THREADS; i++) {
        CREQ(pthread_join(rl_threads[i].tid, NULL) == 0, "pthread_join");
        for (int k = 0; k < RL_OPS; k++)
            calls += rl_threads[i].calls[k];
        fails += rl_threads[i].fails_total;
    }
    /* And allocations work again, through every entry point. */
    void *p[12];
    int n = 0;
    p[n++] = dog_malloc(100);
    p[n++] = dog_malloc(40000);
    p[n++] = dog_malloc(8 * MIB);
    p[n++] = dog_calloc(3, 3 * MIB);
    p[n++] = dog_aligned_alloc(2 * MIB, 5000);
    CREQ(dog_posix_memalign(&p[n++], 4096, 70000) == 0, "posix_memalign");
    p[n] = dog_realloc(dog_malloc(10), 5 * MIB);
    n++;
    p[n++] = dog_heap_malloc(rl_threads[0].heap, 3000);
    p[n++] = dog_heap_calloc(rl_threads[1].heap, 1, 2 * MIB);
    p[n++] = dog_heap_aligned_alloc(rl_threads[2].heap, MIB, 100);
    for (int i = 0; i < n; i++)
        block_check_usable(p[i], 100, false, "after the exhaustion");
    for (int i = 0; i < n; i++)
        dog_free(p[i]);
    for (unsigned i = 0; i < RL_THREADS; i++)
        dog_heap_destroy(rl_threads[i].heap);
    child_say("%d cycles: %lu calls by %d threads, %lu of them refused with ENOMEM", RL_CYCLES,
              calls, RL_THREADS, fails);
}

/* --- A purge that fails -------------------------------------------------------------- */

/* madvise(MADV_DONTNEED) fails on mlock()ed memory (EINVAL). page_pool.c purges pooled
 * pages beyond the resident cap and then takes their memory past the first OS page for
 * zero (page.c:dog__page_init clears the live bitmap only up to what it recorded as
 * touched): a page purged in vain came back with its old contents in the bitmap of its
 * next size class. 70 pages of 64-byte blocks, every byte written, go to the pool at once
 * (dog_heap_destroy); the 6 beyond the cap of 64 are purged, and every purge fails. A
 * heap takes the 64 resident pages; dog_default's 8-byte class then gets a purged one,
 * whose bitmap of 8 KiB reaches past the first OS page, and fills it. The purges fail by
 * injection in a FAULTS=1 build, and for real under mlockall() in any other (where the
 * process may lock that much memory: root, or a high RLIMIT_MEMLOCK). */
static void purge_child(void *arg)
{
    bool real = arg != NULL;
    if (real && mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
        child_say("skip: mlockall: %s", strerror(errno));
        return;
    }
    dog_option_set(DOG_OPTION_PURGE_DELAY, -1);
    dog_heap_t *dirty = dog_heap_new(&(dog_heap_options_t){ .name = "dirty" });
    CREQ(dirty != NULL, "dog_heap_new");
    dog_heap_stats_t hs;
    do {
        for (int i = 0; i < 4096; i++) {
            void *p = dog_heap_malloc(dirty, 64);
            CREQ(p != NULL, "dog_heap_malloc");
            memset(p, 0xff, 64);
        }
        CREQ(dog_heap_stats(dirty, &hs) == 0, "dog_heap_stats");
    } while (hs.pages < (DOG_SECURE_BUILD ? 70 + 32 : 70));   /* 32 wait in the quarantine */
#ifdef DOG_FAULT_INJECT
    if (!real)
        dog__fault_arm(1, DOG_FAULT_PURGE, true);
#endif
    dog_heap_destroy(dirty);
    unsigned long purges = 0;
#ifdef DOG_FAULT_INJECT
    if (!real) {
        purges = dog__fault_calls();
        dog__fault_disarm();
        CREQ(purges > 0, "no page was purged");
    }
#endif
    dog_heap_t *taker = dog_heap_new(&(dog_heap_options_t){ .name = "taker" });
    CREQ(taker != NULL, "dog_heap_new");
    do {
        CREQ(dog_heap_malloc(taker, 65536) != NULL, "dog_heap_malloc");
        CREQ(dog_heap_stats(taker, &hs) == 0, "dog_heap_stats");
    } while (hs.pages < 64);
    dog_stats_t st;
    CREQ(dog_stats(&st) == 0 && st.pool_pages > 0, "no purged page left in the pool");
    enum { N = 66000 };     /* more than a page of 8-byte blocks */
    static void *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = dog_malloc(8);
        CREQ(blocks[i] != NULL, "dog_malloc(8)");
        memcpy(blocks[i], &i, sizeof i);
    }
    for (int i = 0; i < N; i++) {
        int v;
        memcpy(&v, blocks[i], sizeof v);
        CREQ(v == i, "block %d was handed out twice", i);
        dog_free(blocks[i]);
    }
    dog_heap_destroy(taker);
    if (real)
        child_say("under mlockall, madvise(MADV_DONTNEED) refused");
    else
        child_say("%lu purges failed by injection", purges);
}

#ifdef DOG_FAULT_INJECT
START_TEST(test_faults_purge_failure)
{
    char out[2048];
    int status = child_run(purge_child, NULL, out, sizeof out);
    expect_clean_exit(status, "failed purges", out);
    fprintf(stderr, "check_faults: purge: %s, the pages came back clean\n", out);
}
END_TEST
#endif

START_TEST(test_faults_purge_mlocked)
{
    if (test_sanitized()) {
        fprintf(stderr, "check_faults: mlock: skipped under a sanitizer (its shadow memory)\n");
        return;
    }
    char out[2048];
    int status = child_run(purge_child, (void *)1, out, sizeof out);
    expect_clean_exit(status, "purges of mlocked pages", out);
    fprintf(stderr, "check_faults: mlock: %s\n", out);
}
END_TEST

START_TEST(test_faults_rlimit_threads_exhaust)
{
    if (test_sanitized()) {
        fprintf(stderr, "check_faults: rlimit: skipped under a sanitizer (its shadow memory "
                "needs the address space)\n");
        return;
    }
    char out[2048];
    int status = child_run(rlimit_child, NULL, out, sizeof out);
    expect_clean_exit(status, "RLIMIT_AS", out);
    fprintf(stderr, "check_faults: rlimit: %s\n", out);
}
END_TEST

#ifdef DOG_FAULT_INJECT
/* --- The entry points ---------------------------------------------------------------- */

enum {
    K_ALLOC,        /* a pointer, or NULL + ENOMEM */
    K_REALLOC,      /* a pointer with old's contents, or NULL + ENOMEM and old intact */
    K_SHRINK,       /* a realloc that never fails */
    K_MEMALIGN,     /* posix_memalign: 0, or ENOMEM with *out and errno untouched */
    K_HEAP_NEW,     /* a heap, or NULL + ENOMEM */
    K_VOID,         /* no answer (trim, destroy, free): never crashes, leaks nothing */
};

typedef struct fstate {
    dog_heap_t *heap;           /* the case's own heap, or NULL */
    void *old;                  /* realloc: the block resized */
    size_t old_size;
    void *keep[4];              /* blocks that stay live across the case */
    size_t keep_size[4];
    int nkeep;
    void *junk[64];             /* setup: blocks the VOID operations free */
    int njunk;
} fstate_t;

typedef struct fcase {
    const char *name;
    int kind;
    size_t size;                /* of the block asked for */
    bool zero;                  /* calloc */
    void (*setup)(fstate_t *st);
    void *(*op)(fstate_t *st);
    /* Address space that may stay mapped beyond the reference's: a reservation
     * (DOGMALLOC_RESERVE) that a failed commit left uncarved. */
    size_t vm_slack;
} fcase_t;

static void keep(fstate_t *st, size_t size)
{
    void *p = dog_malloc(size);
    CREQ(p != NULL, "setup: dog_malloc(%zu)", size);
    bytes_fill(p, size, (unsigned)st->nkeep + 7);
    st->keep[st->nkeep] = p;
    st->keep_size[st->nkeep++] = size;
}

/* A running program: the thread has a cache with a home and a block of its own. */
static void setup_warm(fstate_t *st)
{
    warm_thread_cache();
    keep(st, 24);
}

/* The same, with nothing cached or pooled: the operation must go to the OS. */
static void setup_trimmed(fstate_t *st)
{
    setup_warm(st);
    dog_trim();
}

static void setup_none(fstate_t *st)
{
    (void)st;
}

static void setup_reserve(fstate_t *st)
{
    (void)st;
    if (dog_option_set(DOG_OPTION_RESERVE, (long)(64 * MIB)) != 0)
        child_fail(__LINE__, "skip: dogmalloc was initialised before the test (CK_FORK=no)");
}

static void set_old(fstate_t *st, dog_heap_t *heap, size_t size)
{
    st->old = heap != NULL ? dog_heap_malloc(heap, size) : dog_malloc(size);
    CREQ(st->old != NULL, "setup: a block of %zu", size);
    st->old_size = size;
    bytes_fill(st->old, size, 99);
}

/* A block to resize, and nothing cached or pooled. */
static void setup_old(fstate_t *st, size_t size)
{
    setup_warm(st);
    set_old(st, NULL, size);
    dog_trim();
}

static void setup_old_100(fstate_t *st) { setup_old(st, 100); }
static void setup_old_40k(fstate_t *st) { setup_old(st, 40000); }
static void setup_old_1m(fstate_t *st) { setup_old(st, MIB); }
static void setup_old_8m(fstate_t *st) { setup_old(st, 8 * MIB); }
static void setup_old_600k(fstate_t *st) { setup_old(st, 600 * KIB); }

static void setup_huge_cached(fstate_t *st)
{
    setup_trimmed(st);
    dog_free(dog_malloc(MIB));      /* a cached mapping, grown for the next request */
}

static void setup_heap(fstate_t *st)
{
    setup_trimmed(st);
    st->heap = dog_heap_new(&(dog_heap_options_t){ .name = "faults" });
    CREQ(st->heap != NULL, "setup: dog_heap_new");
}

static void setup_heap_budget(fstate_t *st)
{
    setup_trimmed(st);
    st->heap = dog_heap_new(&(dog_heap_options_t){ .name = "budget", .limit = 16 * MIB });
    CREQ(st->heap != NULL, "setup: dog_heap_new");
}

static void setup_heap_old(fstate_t *st)
{
    setup_heap(st);
    set_old(st, st->heap, 300);
    dog_trim();
}

/* Memory for dog_trim and dog_heap_destroy to give back: pooled pages, cached huge
 * mappings, a region's pages not handed out, pages of a heap. */
static void setup_garbage(fstate_t *st)
{
    setup_warm(st);
    for (int i = 0; i < 32; i++)
        st->junk[st->njunk++] = dog_malloc(60000);
    st->junk[st->njunk++] = dog_malloc(3 * MIB);
    st->junk[st->njunk++] = dog_malloc(MIB);
    for (int i = 0; i < st->njunk; i++)
        CREQ(st->junk[i] != NULL, "setup: block %d", i);
}

static void setup_freed_garbage(fstate_t *st)
{
    setup_garbage(st);
    for (int i = 0; i < st->njunk; i++)
        dog_free(st->junk[i]);
    st->njunk = 0;
}

static void setup_heap_garbage(fstate_t *st)
{
    setup_heap(st);
    for (int i = 0; i < 20; i++)
        st->junk[st->njunk++] = dog_heap_malloc(st->heap, 50000);
    st->junk[st->njunk++] = dog_heap_malloc(st->heap, 2 * MIB);
    for (int i = 0; i < st->njunk; i++)
        CREQ(st->junk[i] != NULL, "setup: block %d", i);
}

static void setup_heap_huge_200m(fstate_t *st)
{
    setup_heap(st);
    st->junk[st->njunk++] = dog_heap_malloc(st->heap, 200 * MIB);
    CREQ(st->junk[0] != NULL, "setup: 200 MiB");
    memset(st->junk[0], 1, 200 * MIB);
}

static void setup_huge_200m(fstate_t *st)
{
    setup_warm(st);
    st->junk[st->njunk++] = dog_malloc(200 * MIB);     /* too large to cache: unmapped */
    CREQ(st->junk[0] != NULL, "setup: 200 MiB");
    memset(st->junk[0], 1, 200 * MIB);
}

static void *op_malloc_100(fstate_t *st) { (void)st; return dog_malloc(100); }
static void *op_malloc_3000(fstate_t *st) { (void)st; return dog_malloc(3000); }
static void *op_malloc_40k(fstate_t *st) { (void)st; return dog_malloc(40000); }
static void *op_malloc_1m(fstate_t *st) { (void)st; return dog_malloc(MIB + 5); }
static void *op_malloc_3m(fstate_t *st) { (void)st; return dog_malloc(3 * MIB); }
static void *op_calloc_small(fstate_t *st) { (void)st; return dog_calloc(100, 30); }
static void *op_calloc_huge(fstate_t *st) { (void)st; return dog_calloc(1000, 1000); }
static void *op_aligned_2m(fstate_t *st) { (void)st; return dog_aligned_alloc(2 * MIB, 100000); }
static void *op_aligned_256k(fstate_t *st) { (void)st; return dog_aligned_alloc(256 * KIB, 1000); }
static void *op_aligned_4k(fstate_t *st) { (void)st; return dog_aligned_alloc(4096, 4096); }

static void *memalign_out;
static int memalign_rc;
static void *op_memalign(fstate_t *st)
{
    (void)st;
    memalign_out = &memalign_out;       /* a sentinel that a failure must leave */
    memalign_rc = dog_posix_memalign(&memalign_out, MIB, 300000);
    return memalign_rc == 0 ? memalign_out : NULL;
}

static void *op_realloc_40k(fstate_t *st) { return dog_realloc(st->old, 40000); }
static void *op_realloc_2m(fstate_t *st) { return dog_realloc(st->old, 2 * MIB); }
static void *op_realloc_9m(fstate_t *st) { return dog_realloc(st->old, 9 * MIB); }
static void *op_realloc_to_1m(fstate_t *st) { return dog_realloc(st->old, MIB + 1); }
static void *op_realloc_to_100(fstate_t *st) { return dog_realloc(st->old, 100); }
static void *op_realloc_to_100k(fstate_t *st) { return dog_realloc(st->old, 100 * KIB); }
static void *op_realloc_to_50(fstate_t *st) { return dog_realloc(st->old, 50); }
static void *op_reallocarray(fstate_t *st) { return dog_reallocarray(st->old, 1000, 300); }

static void *op_heap_new(fstate_t *st)
{
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "new" });
    (void)st;
    return h;
}

static void *op_heap_malloc(fstate_t *st) { return dog_heap_malloc(st->heap, 200); }
static void *op_heap_malloc_huge(fstate_t *st) { return dog_heap_malloc(st->heap, 3 * MIB); }
static void *op_heap_calloc(fstate_t *st) { return dog_heap_calloc(st->heap, 3, 400000); }
static void *op_heap_aligned(fstate_t *st) { return dog_heap_aligned_alloc(st->heap, MIB, 5000); }
static void *op_heap_realloc(fstate_t *st) { return dog_heap_realloc(st->heap, st->old, 2 * MIB); }

static void *op_trim(fstate_t *st)
{
    (void)st;
    errno = EDOM;
    dog_trim();
    CREQ(errno == EDOM, "dog_trim changed errno to %d", errno);
    return NULL;
}

static void *op_heap_destroy(fstate_t *st)
{
    dog_heap_destroy(st->heap);
    st->heap = NULL;
    st->njunk = 0;
    return NULL;
}

static void *op_free_junk(fstate_t *st)
{
    for (int i = 0; i < st->njunk; i++)
        dog_free(st->junk[i]);
    st->njunk = 0;
    return NULL;
}

static const fcase_t cases[] = {
    { "malloc, first call of the process", K_ALLOC, 100, false, setup_none, op_malloc_100, 0 },
    { "malloc, first call, with DOGMALLOC_RESERVE", K_ALLOC, 100, false, setup_reserve,
      op_malloc_100, 64 * MIB },
    { "malloc of a fresh small class", K_ALLOC, 3000, false, setup_trimmed, op_malloc_3000, 0 },
    { "malloc of a large class", K_ALLOC, 40000, false, setup_trimmed, op_malloc_40k, 0 },
    { "malloc of a huge size", K_ALLOC, MIB + 5, false, setup_trimmed, op_malloc_1m, 0 },
    { "malloc of a huge size, grown from the cache", K_ALLOC, 3 * MIB, false, setup_huge_cached,
      op_malloc_3m, 0 },
    { "calloc, small", K_ALLOC, 3000, true, setup_trimmed, op_calloc_small, 0 },
    { "calloc, huge", K_ALLOC, 1000000, true, setup_trimmed, op_calloc_huge, 0 },
    { "aligned_alloc(2 MiB)", K_ALLOC, 100000, false, setup_trimmed, op_aligned_2m, 0 },
    { "aligned_alloc(256 KiB)", K_ALLOC, 1000, false, setup_trimmed, op_aligned_256k, 0 },
    { "aligned_alloc(4 KiB)", K_ALLOC, 4096, false, setup_trimmed, op_aligned_4k, 0 },
    { "posix_memalign(1 MiB)", K_MEMALIGN, 300000, false, setup_trimmed, op_memalign, 0 },
    { "realloc small to large", K_REALLOC, 40000, false, setup_old_100, op_realloc_40k, 0 },
    { "realloc large to huge", K_REALLOC, 2 * MIB, false, setup_old_40k, op_realloc_2m, 0 },
    { "realloc huge to bigger huge", K_REALLOC, 9 * MIB, false, setup_old_1m, op_realloc_9m, 0 },
    { "realloc huge shrinking", K_SHRINK, MIB + 1, false, setup_old_8m, op_realloc_to_1m, 0 },
    { "realloc huge shrinking in place (munmap)", K_SHRINK, 100 * KIB, false, setup_old_600k,
      op_realloc_to_100k, 0 },
    { "realloc huge to small", K_SHRINK, 100, false, setup_old_1m, op_realloc_to_100, 0 },
    { "realloc large to small", K_SHRINK, 50, false, setup_old_40k, op_realloc_to_50, 0 },
    { "reallocarray small to huge", K_REALLOC, 300000, false, setup_old_100, op_reallocarray, 0 },
    { "heap_new, first call of the process", K_HEAP_NEW, 0, false, setup_none, op_heap_new, 0 },
    { "heap_new", K_HEAP_NEW, 0, false, setup_trimmed, op_heap_new, 0 },
    { "heap_malloc, first block of a heap", K_ALLOC, 200, false, setup_heap, op_heap_malloc, 0 },
    { "heap_malloc, huge", K_ALLOC, 3 * MIB, false, setup_heap, op_heap_malloc_huge, 0 },
    { "heap_malloc, huge, with a budget", K_ALLOC, 3 * MIB, false, setup_heap_budget,
      op_heap_malloc_huge, 0 },
    { "heap_calloc, huge", K_ALLOC, 1200000, true, setup_heap, op_heap_calloc, 0 },
    { "heap_aligned_alloc(1 MiB)", K_ALLOC, 5000, false, setup_heap, op_heap_aligned, 0 },
    { "heap_realloc small to huge", K_REALLOC, 2 * MIB, false, setup_heap_old, op_heap_realloc, 0 },
    { "trim", K_VOID, 0, false, setup_freed_garbage, op_trim, 0 },
    { "free of pages and huge blocks", K_VOID, 0, false, setup_garbage, op_free_junk, 0 },
    { "free of a huge block too large to cache", K_VOID, 0, false, setup_huge_200m,
      op_free_junk, 0 },
    { "heap_destroy", K_VOID, 0, false, setup_heap_garbage, op_heap_destroy, 0 },
    { "heap_destroy, a huge block too large to cache", K_VOID, 0, false,
      setup_heap_huge_200m, op_heap_destroy, 0 },
};
#define CASE_COUNT ((int)(sizeof cases / sizeof cases[0]))

/* What one run of a case did. */
typedef struct run_arg {
    const fcase_t *c;
    unsigned long nth;          /* the call to fail; 0: count only */
    bool sticky;                /* and every call after it */
    unsigned ops;               /* the kinds counted and failed */
    int mode;                   /* RUN_REF, RUN_COUNT, RUN_FAULT */
    snap_t ref;                 /* RUN_FAULT: the reference's trimmed state */
} run_arg_t;

enum { RUN_REF, RUN_COUNT, RUN_FAULT };

/* The calls that get memory (or randomness); the others give back. */
#define FAULT_GET (DOG_FAULT_MAP | DOG_FAULT_RESERVE | DOG_FAULT_COMMIT | DOG_FAULT_REMAP | \
                   DOG_FAULT_RANDOM)

/* The result of a successful operation, checked; then its blocks are given back. */
static void result_check(const fcase_t *c, fstate_t *st, void *r, const char *what)
{
    switch (c->kind) {
    case K_HEAP_NEW: {
        CREQ(r != NULL, "%s: NULL", what);
        void *p = dog_heap_malloc(r, 1000);
        block_check_usable(p, 1000, false, what);
        dog_heap_destroy(r);
        return;
    }
    case K_REALLOC:
    case K_SHRINK: {
        CREQ(r != NULL, "%s: NULL", what);
        size_t n = c->size < st->old_size ? c->size : st->old_size;
        CREQ(bytes_check(r, n, 99) == SIZE_MAX, "%s: the contents did not move with the block",
             what);
        block_check_usable(r, c->size, false, what);
        if (r != st->old)
            CREQ(dog_usable_size(r) > 0, "%s", what);
        st->old = NULL;
        break;
    }
    case K_VOID:
        return;
    default:
        block_check_usable(r, c->size, c->zero, what);
    }
    if (st->heap != NULL && dog_heap_of(r) != st->heap)
        CREQ(false, "%s: the block is not in the case's heap", what);
    for (int i = 0; i < st->nkeep; i++)
        CREQ((char *)r + c->size <= (char *)st->keep[i] ||
                 (char *)st->keep[i] + st->keep_size[i] <= (char *)r,
             "%s: the block overlaps a live one", what);
    dog_free(r);
}

static void keep_check(const fstate_t *st, const char *what)
{
    for (int i = 0; i < st->nkeep; i++)
        CREQ(bytes_check(st->keep[i], st->keep_size[i], (unsigned)i + 7) == SIZE_MAX,
             "%s: a live block lost its contents", what);
    if (st->old != NULL) {
        CREQ(bytes_check(st->old, st->old_size, 99) == SIZE_MAX,
             "%s: the old block lost its contents", what);
        CREQ(dog_usable_size(st->old) >= st->old_size, "%s: the old block is not live", what);
    }
}

/* Did the operation fail the documented way? Checks what it must, returns true if so. */
static bool failed_cleanly(const fcase_t *c, const fstate_t *st, void *r, int err, int saved)
{
    switch (c->kind) {
    case K_SHRINK:
        CREQ(r != NULL, "a shrink failed (errno %d)", err);
        return false;
    case K_VOID:
        return false;
    case K_MEMALIGN:
        if (memalign_rc == 0)
            return false;
        CREQ(memalign_rc == ENOMEM, "posix_memalign returned %d", memalign_rc);
        CREQ(memalign_out == &memalign_out, "posix_memalign wrote *out on failure");
        CREQ(err == saved, "posix_memalign changed errno to %d on failure", err);
        return true;
    default:
        if (r != NULL)
            return false;
        CREQ(err == ENOMEM, "NULL with errno %d", err);
        (void)st;
        return true;
    }
}

static void case_child(void *arg)
{
    run_arg_t *a = arg;
    const fcase_t *c = a->c;
    fstate_t st = { 0 };
    /* Pooled pages are purged by age only: the count of calls must not depend on time. */
    dog_option_set(DOG_OPTION_PURGE_DELAY, -1);
    c->setup(&st);
    if (a->mode == RUN_REF) {
        /* What the operation leaves when it works, its block freed: the most a failed one
         * may leave (it maps no more than a successful one, and less may stay: an
         * address-map leaf it did not get, a reservation it could not make). A resized
         * block is the case's own: the reference keeps it. */
        if (c->kind != K_REALLOC && c->kind != K_SHRINK) {
            errno = EDOM;
            void *r = c->op(&st);
            CREQ(!failed_cleanly(c, &st, r, errno, EDOM), "the operation failed unprovoked");
            result_check(c, &st, r, "the reference");
        }
        dog_trim();
        snap_t s;
        snap_take(&s, st.heap);
        if (write(child_fd, &s, sizeof s) != (ssize_t)sizeof s)
            _exit(2);
        return;
    }
    snap_t before, after;
    snap_take(&before, st.heap);
#ifdef DOG_FAULT_INJECT
    unsigned long injected = dog__fault_injected();
    dog__fault_arm(a->nth, a->ops, a->sticky);
#endif
    int saved = EDOM;
    errno = saved;
    void *r = c->op(&st);
    int err = errno;
#ifdef DOG_FAULT_INJECT
    unsigned long calls = dog__fault_calls();
    dog__fault_disarm();
    injected = dog__fault_injected() - injected;
#else
    unsigned long calls = 0, injected = 0;
#endif
    if (a->mode == RUN_COUNT) {
        CREQ(failed_cleanly(c, &st, r, err, saved) == false, "the operation failed unprovoked");
        result_check(c, &st, r, "without faults");
        child_say("%lu", calls);
        return;
    }
    CREQ(a->sticky ? injected >= 1 : injected == 1, "call %lu was not made (%lu calls)", a->nth,
         calls);
    bool failed = failed_cleanly(c, &st, r, err, saved);
    if (failed) {
        keep_check(&st, "after the failure");
        snap_take(&after, st.heap);
        snap_expect_unchanged(&before, &after, "after the failure");
    } else {
        result_check(c, &st, r, "succeeded despite the fault");
        keep_check(&st, "after the fault");
    }
    /* Everything it mapped is accounted for: trimmed, the state is the reference's (a
     * resized block that moved is not the reference's: left out). */
    if (failed || (c->kind != K_REALLOC && c->kind != K_SHRINK)) {
        dog_trim();
        snap_take(&after, st.heap);
        snap_expect_trimmed(&a->ref, &after, (dog__fault_kinds() & DOG_FAULT_UNMAP) != 0,
                            c->vm_slack, "after the fault");
    }
    /* And dogmalloc still works: the same operation, no fault. */
    if (c->kind != K_VOID && st.old == NULL && (c->kind == K_REALLOC || c->kind == K_SHRINK))
        set_old(&st, st.heap, st.old_size);     /* the block was resized: a new one */
    if (c->kind != K_VOID) {
        errno = saved;
        r = c->op(&st);
        CREQ(!failed_cleanly(c, &st, r, errno, saved), "the operation fails after the fault");
        result_check(c, &st, r, "the next call");
    }
    void *p = dog_malloc(5000), *q = dog_malloc(2 * MIB);
    block_check_usable(p, 5000, false, "a malloc after the fault");
    block_check_usable(q, 2 * MIB, false, "a huge malloc after the fault");
    keep_check(&st, "at the end");
    dog_free(p);
    dog_free(q);
    child_say("%s %lu", failed ? "failed" : "succeeded", injected);
}

START_TEST(test_faults_inject_each_call)
{
    const fcase_t *c = &cases[_i];
    char out[2048];
    run_arg_t a = { .c = c, .mode = RUN_REF };
    int status = child_run(case_child, &a, out, sizeof out);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && strstr(out, "skip:") != NULL) {
        fprintf(stderr, "check_faults: %s: %s\n", c->name, strstr(out, "skip:"));
        return;
    }
    expect_clean_exit(status, c->name, out);
    memcpy(&a.ref, out, sizeof a.ref);      /* binary: the snapshot (no NUL inside is ok) */
    /* Counted twice: every call, and the calls that get memory (or randomness) only. */
    a.mode = RUN_COUNT;
    a.ops = DOG_FAULT_ALL;
    status = child_run(case_child, &a, out, sizeof out);
    expect_clean_exit(status, c->name, out);
    unsigned long calls = strtoul(out, NULL, 10);
    a.ops = FAULT_GET;
    status = child_run(case_child, &a, out, sizeof out);
    expect_clean_exit(status, c->name, out);
    unsigned long gets = strtoul(out, NULL, 10);
    /* Each call alone; then from each call that gets memory on, every one that does (an
     * OS that stays out of memory: the fallbacks fail too, giving back still works). */
    unsigned long failed = 0, survived = 0, injected = 0;
    for (int sticky = 0; sticky <= 1; sticky++) {
        for (unsigned long n = 1; n <= (sticky ? gets : calls); n++) {
            a.mode = RUN_FAULT;
            a.nth = n;
            a.sticky = sticky;
            a.ops = sticky ? FAULT_GET : DOG_FAULT_ALL;
            status = child_run(case_child, &a, out, sizeof out);
            char what[160];
            snprintf(what, sizeof what, "%s, %s %lu of %lu failed%s", c->name,
                     sticky ? "mapping call" : "OS call", n, sticky ? gets : calls,
                     sticky ? ", and every one after it" : "");
            expect_clean_exit(status, what, out);
            char outcome[16];
            unsigned long k = 0;
            ck_assert_msg(sscanf(out, "%15s %lu", outcome, &k) == 2, "%s: output %s", what, out);
            injected += k;
            if (strcmp(outcome, "failed") == 0)
                failed++;
            else
                survived++;
        }
    }
    fprintf(stderr, "check_faults: %-46s %2lu OS calls, %3lu faults injected in %2lu runs: "
            "%2lu failed cleanly, %2lu survived\n", c->name, calls, injected, calls + gets, failed,
            survived);
}
END_TEST


/* --- A huge block across two address-map leaves -------------------------------------- */

/* A leaf of the address map covers 32 GiB (segmap.h). A huge mapping that crosses a leaf
 * boundary marks its frames leaf by leaf; when the second leaf cannot be mapped, the
 * frames already marked in the first must be cleared again, or the map keeps calling
 * them a huge block after the mapping is gone: dog_heap_of() of an address there reads
 * a header that is not mapped. The test makes the kernel place a 60 MiB block across a
 * boundary: a 96 GiB PROT_NONE reservation with a 72 MiB window unmapped around the
 * boundary is the highest gap that fits it. */
#define LEAF_SPAN ((uintptr_t)1 << 35)

static void leaf_child(void *arg)
{
    (void)arg;
    warm_thread_cache();
    size_t span = (size_t)96 << 30;
    char *r = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CREQ(r != MAP_FAILED, "mmap of 96 GiB of address space: %s", strerror(errno));
    uintptr_t b = ((uintptr_t)r + ((uintptr_t)1 << 30) + LEAF_SPAN - 1) & ~(LEAF_SPAN - 1);
    char *lo = (char *)b - 32 * MIB, *hi = (char *)b + 40 * MIB;
    CREQ(munmap(lo, (size_t)(hi - lo)) == 0, "munmap of the window");
    snap_t before, after;
    snap_take(&before, NULL);
    /* The mapping, then the two leaves: fail the second leaf's. */
    dog__fault_arm(3, DOG_FAULT_MAP, false);
    errno = 0;
    void *p = dog_malloc(60 * MIB);
    int err = errno;
    unsigned long maps = dog__fault_calls();
    dog__fault_disarm();
    if (p != NULL) {
        bool across = (uintptr_t)p < b && (uintptr_t)p + 60 * MIB > b;
        dog_free(p);
        if (!across) {
            child_say("skip: the kernel placed the block at %p, not across %p", p, (void *)b);
            return;
        }
        CREQ(false, "the block %p crosses %p but no leaf was refused (%lu maps)", p, (void *)b,
             maps);
    }
    CREQ(err == ENOMEM, "NULL with errno %d", err);
    CREQ(maps == 3, "%lu mapping calls, not the block's and two leaves'", maps);
    /* Nothing in the window is ours now: every frame reads as foreign, without a fault. */
    for (char *f = lo; f < hi; f += PAGE)
        CREQ(dog_heap_of(f + 64) == NULL, "dog_heap_of(%p) in the unmapped window", (void *)f);
    snap_take(&after, NULL);
    CREQ(after.marked == before.marked, "%zu frames marked in the address map, %zu before",
         after.marked, before.marked);
    CREQ(after.all.bytes_mapped == before.all.bytes_mapped, "%zu bytes mapped, %zu before",
         after.all.bytes_mapped, before.all.bytes_mapped);
    p = dog_malloc(60 * MIB);           /* and without the fault it works, across */
    block_check_usable(p, 60 * MIB, false, "the block across two leaves");
    dog_free(p);
    child_say("a 60 MiB block across the leaf boundary at %p", (void *)b);
}

START_TEST(test_faults_leaf_boundary)
{
    char out[2048];
    int status = child_run(leaf_child, NULL, out, sizeof out);
    expect_clean_exit(status, "a huge block across two leaves", out);
    fprintf(stderr, "check_faults: leaves: %s\n", out);
}
END_TEST

/* --- A commit that fails inside DOGMALLOC_RESERVE ----------------------------------- */

/* A page region carved from the reservation is committed by mapping it again in place
 * (MAP_FIXED). Linux before 6.12 (Debian 12 runs 6.1) unmaps the old range before it
 * checks the overcommit limit, so a commit that fails there leaves a hole in the
 * reservation (fault.h's injection does the same), which any other mmap of the
 * process may take; committing that range again later would map over it. The test takes
 * the hole for a "foreign" mapping at once, writes it, and makes dogmalloc carve more. */
static void reserve_child(void *arg)
{
    (void)arg;
    if (dog_option_set(DOG_OPTION_RESERVE, (long)(64 * MIB)) != 0) {
        child_say("skip: dogmalloc was initialised before the test (CK_FORK=no)");
        return;
    }
    void *first = dog_malloc(100);      /* the first region: the reservation's start */
    CREQ(first != NULL, "dog_malloc");
    char *region = (char *)((uintptr_t)first & ~(uintptr_t)(PAGE - 1));
    char *hole = region + 8 * PAGE;     /* the next region to be carved */
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "carver" });
    CREQ(h != NULL, "dog_heap_new");
    dog__fault_arm(1, DOG_FAULT_COMMIT, false);
    while (dog__fault_calls() == 0)
        CREQ(dog_heap_malloc(h, 65536) != NULL, "dog_heap_malloc with a commit refused");
    dog__fault_disarm();
    char *foreign = mmap(hole, 8 * PAGE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    CREQ(foreign == hole, "the failed commit left no hole at %p (%p)", (void *)hole,
         (void *)foreign);
    memset(foreign, 0xab, 8 * PAGE);
    /* More regions: carved from the reservation, mapped on their own, whatever; never
     * over the foreign mapping. */
    dog__fault_arm(0, DOG_FAULT_COMMIT, false);
    for (int i = 0; i < 7 * 40 && dog__fault_calls() < 3; i++)
        CREQ(dog_heap_malloc(h, 65536) != NULL, "dog_heap_malloc");
    unsigned long commits = dog__fault_calls();
    dog__fault_disarm();
    for (size_t i = 0; i < 8 * PAGE; i++)
        CREQ((unsigned char)foreign[i] == 0xab, "dogmalloc mapped over a foreign mapping "
             "(byte %zu of %p reads %u)", i, (void *)foreign, (unsigned char)foreign[i]);
    dog_heap_destroy(h);
    dog_free(first);
    child_say("%lu commits after the failed one, none over the hole", commits);
}

START_TEST(test_faults_reserve_commit)
{
    char out[2048];
    int status = child_run(reserve_child, NULL, out, sizeof out);
    expect_clean_exit(status, "a failed commit in the reservation", out);
    fprintf(stderr, "check_faults: reserve: %s\n", out);
}
END_TEST
#endif

/* The reference snapshot travels as raw bytes through the pipe: child_run's buffer holds
 * it whole (read stops at EOF, not at a NUL). */
_Static_assert(sizeof(snap_t) < 2048, "snapshot larger than the child's output buffer");

Suite *faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *rl = tcase_create("rlimit");
    tcase_set_timeout(rl, 120);
    tcase_add_test(rl, test_faults_rlimit_threads_exhaust);
    tcase_add_test(rl, test_faults_purge_mlocked);
    suite_add_tcase(s, rl);
#ifdef DOG_FAULT_INJECT
    TCase *tc = tcase_create("inject");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_faults_inject_each_call, 0, CASE_COUNT);
    tcase_add_test(tc, test_faults_purge_failure);
    tcase_add_test(tc, test_faults_leaf_boundary);
    tcase_add_test(tc, test_faults_reserve_commit);
    suite_add_tcase(s, tc);
#endif
    return s;
}
