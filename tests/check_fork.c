/* SPDX-License-Identifier: MIT */
/* check_fork.c: fork() from a signal handler that interrupts dog_malloc and dog_free, and
 * fork() while another thread gives an address-map leaf back, and fork() while another
 * thread prints every heap's statistics.
 *
 * A profiling timer delivers SIGPROF every millisecond of CPU time while the test thread
 * frees and allocates blocks of random sizes (thread cache, shards, huge blocks), so
 * signals land inside dogmalloc, often while it holds a lock. The handler forks; the
 * child allocates, writes and frees two blocks, then _exits; the parent waits for it and
 * the loop goes on. Before dogmalloc's locks knew their owner, the fork handler spun
 * forever on the lock that the interrupted call held (issue 13, item 3).
 *
 * The child's blocks come from what the loop never touches, a thread-cache bin of 32-byte
 * blocks and an explicit heap with a page ready: the interrupted call may be halfway
 * through changing any structure the loop uses, and a child forked in a signal handler
 * may only rely on what nothing was changing (POSIX allows it async-signal-safe calls
 * only). A child that hangs is killed after 10 s and counts as a failure; a parent that
 * hangs fails on the test case's timeout. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "segmap.h"
#include "suites.h"

#define CHILD_TIMEOUT_MS 10000

static dog_heap_t *child_heap;
static volatile sig_atomic_t forks, child_failures;

/* Wait for pid to _exit(0); kill it if it has not exited after timeout_ms (a deadlocked
 * child). Async-signal-safe calls only. */
static int reap_child_within(pid_t pid, int timeout_ms)
{
    for (int ms = 0; ms < timeout_ms; ms++) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (r < 0 && errno != EINTR)
            return 0;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

static int reap_child(pid_t pid)
{
    return reap_child_within(pid, CHILD_TIMEOUT_MS);
}

static void on_sigprof(int sig)
{
    (void)sig;
    int saved = errno;
    pid_t pid = fork();
    if (pid == 0) {
        char *a = dog_malloc(24);
        char *b = dog_heap_malloc(child_heap, 200);
        int ok = a != NULL && b != NULL;
        if (ok) {
            memset(a, 0x5a, 24);
            memset(b, 0xa5, 200);
            ok = a[23] == 0x5a && b[199] == (char)0xa5;
        }
        dog_free(a);
        dog_free(b);
        _exit(ok ? 0 : 1);
    }
    if (pid < 0 || !reap_child(pid))
        child_failures = child_failures + 1;
    else
        forks = forks + 1;
    errno = saved;
}

START_TEST(test_fork_in_signal_handler_during_malloc)
{
    warm_thread_cache();
    /* Ready for the child: a few 32-byte blocks in this thread's cache, and a page of the
     * child's heap that stays (one block kept live) with free blocks on it. */
    void *warm[8];
    for (int i = 0; i < 8; i++)
        warm[i] = dog_malloc(24);
    for (int i = 0; i < 8; i++)
        dog_free(warm[i]);
    child_heap = dog_heap_new(&(dog_heap_options_t){.name = "fork child"});
    ck_assert_ptr_nonnull(child_heap);
    void *keep = dog_heap_malloc(child_heap, 200);
    dog_free(dog_heap_malloc(child_heap, 200));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigprof;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ck_assert_int_eq(sigaction(SIGPROF, &sa, NULL), 0);
    struct itimerval every_ms = {{0, 1000}, {0, 1000}};
    ck_assert_int_eq(setitimer(ITIMER_PROF, &every_ms, NULL), 0);

    enum { SLOTS = 512 };
    static void *slots[SLOTS];
    size_t target = test_scaled(200), max_iterations = test_scaled(50000000);
    unsigned seed = 13;
    size_t it = 0;
    for (; forks < (sig_atomic_t)target && child_failures == 0 && it < max_iterations; it++) {
        unsigned r = (unsigned)rand_r(&seed);
        size_t slot = r % SLOTS;
        /* 100 bytes to 70,000: never the child's 32-byte bin; huge above 64 KiB. */
        size_t size = 100 + (size_t)rand_r(&seed) % 69900;
        dog_free(slots[slot]);
        slots[slot] = dog_malloc(size);
        REQUIRE(slots[slot] != NULL, "dog_malloc(%zu)", size);
        *(char *)slots[slot] = 1;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    signal(SIGPROF, SIG_IGN);
    for (size_t i = 0; i < SLOTS; i++) {
        dog_free(slots[i]);
        slots[i] = NULL;
    }
    ck_assert_msg(child_failures == 0, "%d children forked in the handler failed or hung",
                  (int)child_failures);
    ck_assert_msg(forks > 0, "no signal arrived in %zu iterations", it);
    /* The allocator still works in the parent, and the child's heap is intact. */
    void *p = dog_malloc(1000);
    ck_assert_ptr_nonnull(p);
    dog_free(p);
    dog_free(keep);
    dog_heap_destroy(child_heap);
}
END_TEST

/* --- fork while a leaf of the address map is given back ------------------------------ */

/* A leaf of the map (segmap.c) whose last entry is cleared is purged: for a moment it is
 * neither in use nor free, and a writer that wants to mark it waits. A child forked in
 * that moment must not inherit the state with no thread left to end it. One thread marks
 * and clears a page of a leaf nothing else uses, so that its memory is given back on
 * every round; the test thread forks, and each child marks a frame of that leaf. Through
 * the internal API, on addresses nothing is mapped at (the map never reads the memory
 * it describes). Before the purge ran under a lock that fork takes, the second or third
 * child already waited forever (5 s here; a child that marks one frame takes 1 ms). */
static const uintptr_t purge_base = (uintptr_t)0x7d0000000000ull;
static _Atomic int purge_stop;

static void *purge_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&purge_stop)) {
        if (!dog__segmap_set((void *)purge_base, DOG_PAGE_SIZE, DOG_FRAME_HUGE, DOG_FRAME_HUGE_CONT))
            return (void *)1;
        dog__segmap_set((void *)purge_base, DOG_PAGE_SIZE, DOG_FRAME_NONE, DOG_FRAME_NONE);
    }
    return NULL;
}

START_TEST(test_fork_while_map_leaf_purged)
{
    ck_assert_uint_eq(purge_base % ((uintptr_t)1 << (DOG_SEGMAP_LEAF_BITS + DOG_PAGE_SHIFT)), 0);
    ck_assert_uint_eq(dog__segmap_kind((void *)purge_base), DOG_FRAME_NONE);
    dog_free(dog_malloc(100));      /* dogmalloc initialised: its fork handlers registered */
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, purge_loop, NULL), 0);
    int rounds = (int)test_scaled(300), hung = 0;
    for (int i = 0; i < rounds && hung == 0; i++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            void *frame = (void *)(purge_base + 3 * DOG_PAGE_SIZE);
            bool ok = dog__segmap_set(frame, DOG_PAGE_SIZE, DOG_FRAME_HUGE, DOG_FRAME_HUGE_CONT) &&
                      dog__segmap_kind(frame) == DOG_FRAME_HUGE &&
                      dog__segmap_set(frame, DOG_PAGE_SIZE, DOG_FRAME_NONE, DOG_FRAME_NONE);
            _exit(ok ? 0 : 1);
        }
        if (!reap_child_within(pid, 5000))
            hung = i + 1;
    }
    atomic_store(&purge_stop, 1);
    void *rc;
    pthread_join(t, &rc);
    ck_assert_ptr_null(rc);
    ck_assert_msg(hung == 0, "child %d of %d hung or failed marking a leaf being purged", hung,
                  rounds);
    ck_assert_uint_eq(dog__segmap_kind((void *)purge_base), DOG_FRAME_NONE);
}
END_TEST

/* fork() while another thread prints every heap's statistics: the printer holds the heap
 * list's lock and takes the thread caches' registry lock inside it, so fork's handler
 * must take them in the same order (it once took the registry first, and both spun
 * forever). Explicit heaps with thread caches make every dog_heap_stats visit the
 * registry. */
static atomic_int printer_stop;

static void *stats_printer(void *arg)
{
    FILE *devnull = arg;
    while (!atomic_load(&printer_stop))
        dog_stats_print_all(devnull);
    return NULL;
}

START_TEST(test_fork_while_stats_print_all)
{
    enum { HEAPS = 8 };
    dog_heap_t *heaps[HEAPS];
    for (int i = 0; i < HEAPS; i++) {
        heaps[i] = dog_heap_new(NULL);
        ck_assert_ptr_nonnull(heaps[i]);
        dog_free(dog_heap_malloc(heaps[i], 64));     /* a thread cache of the heap */
    }
    FILE *devnull = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(devnull);
    atomic_store(&printer_stop, 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, stats_printer, devnull), 0);
    int rounds = (int)test_scaled(2000), failed = 0;
    for (int i = 0; i < rounds && failed == 0; i++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            void *p = dog_heap_malloc(heaps[i % HEAPS], 100);
            _exit(p != NULL ? 0 : 1);
        }
        if (!reap_child_within(pid, 5000))
            failed = i + 1;
    }
    atomic_store(&printer_stop, 1);
    pthread_join(t, NULL);
    fclose(devnull);
    ck_assert_msg(failed == 0, "child %d of %d failed or hung", failed, rounds);
    for (int i = 0; i < HEAPS; i++)
        dog_heap_destroy(heaps[i]);
}
END_TEST

Suite *fork_suite(void)
{
    Suite *s = suite_create("fork");
    TCase *tc = tcase_create("signal");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fork_in_signal_handler_during_malloc);
    suite_add_tcase(s, tc);
    tc = tcase_create("map");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fork_while_map_leaf_purged);
    suite_add_tcase(s, tc);
    tc = tcase_create("stats");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fork_while_stats_print_all);
    suite_add_tcase(s, tc);
    return s;
}
