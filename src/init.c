/* SPDX-License-Identifier: MIT */
/* init.c: one-time initialisation (options.c reads the environment), fork safety and
 * the version. Nothing here allocates: it runs inside malloc, before main, and in a
 * child after fork. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>
#include "heap.h"
#include "huge.h"
#include "misuse.h"
#include "options.h"
#include "os.h"
#include "page_pool.h"
#include "segmap.h"
#include "tcache.h"

size_t dog__heap_stats_format(const dog_heap_t *heap, char *buf, size_t len);
void dog__stats_table_exit(void);

static _Atomic int init_state;      /* 0 not yet, 1 drawing the key and applying the
                                       options, 2 done */
static DOG_TLS bool init_self;      /* this thread is the one in dog__init */

/* --- fork: take every lock so that the child starts with consistent structures -------
 *
 * The order matters beyond dogmalloc's own locks. glibc's fork() runs the atfork prepare
 * handlers, then takes its stdio list lock, then its own malloc's locks (posix/fork.c:
 * "malloc locks ... need to come last"): a thread in fflush(NULL) holds the list lock
 * and waits for a FILE's lock, whose holder (getline) may be waiting in malloc. A handler
 * that takes the malloc locks before the list lock closes that cycle (glibc's test
 * tst-malloc-fork-deadlock). jemalloc (jemalloc_prefork) and gperftools' tcmalloc
 * (CentralCacheLockAll) register pthread_atfork handlers as we do and take the same risk;
 * FreeBSD's libc instead calls jemalloc's _malloc_prefork from inside fork, after its
 * own locks. We cannot be called from inside glibc's fork, so the prepare handler takes
 * the list lock itself, first (dog__os_fork_lock_libc), and gets glibc's order.
 *
 * fork() may also run in a signal handler that interrupted dogmalloc in the same thread
 * (glibc supports this in single-threaded programs: tst-mallocfork2). The locks that the
 * interrupted code holds are skipped (lock.h: dog__lock_fork_acquire) and stay held in
 * both processes; the interrupted code releases them when the handler returns. In a
 * multi-threaded program such a fork can still deadlock, as glibc's malloc can: another
 * thread may wait for a lock the interrupted code holds while holding one we need.
 *
 * State per thread and per depth (a signal handler may fork while this thread is in the
 * handlers of another fork): whether the libc lock was taken, and whether a lock was
 * skipped. */
DOG_TLS uint64_t dog__tl_lock_self;
DOG_TLS unsigned dog__tl_fork_depth;
static DOG_TLS struct {
    bool libc_locked;
    bool skipped;
} fork_state[DOG_LOCK_FORK_DEPTH_MAX + 1];

void dog__lock_reentered(void)
{
    dog__fatal("a lock is wanted by the thread that holds it: malloc or free was called "
               "from a signal handler or a fork handler that interrupted malloc or free");
}

static void fork_lock(dog_lock_t *l)
{
    if (!dog__lock_fork_acquire(l))
        fork_state[dog__tl_fork_depth].skipped = true;
}

static void fork_prepare(void)
{
    unsigned depth = dog__tl_fork_depth + 1;
    if (depth > DOG_LOCK_FORK_DEPTH_MAX)
        dog__fatal("fork() nested %u deep in signal handlers", depth);
    fork_state[depth].libc_locked = dog__os_fork_lock_libc();
    fork_state[depth].skipped = false;
    dog__tl_fork_depth = depth;
    /* With dog__heaps_lock skipped, the interrupted code may be linking or unlinking a
     * heap: the walk may miss it, but it reads only memory that stays mapped (meta.c),
     * and no other thread can change the list while the interrupted code holds it. */
    fork_lock(&dog__heaps_lock);
    for (dog_heap_t *heap = dog__heaps; heap != NULL; heap = heap->list_next) {
        fork_lock(&heap->grow_lock);
        unsigned n = dog__load_acquire(&heap->xshard_count);
        for (unsigned i = 0; i < n; i++)
            fork_lock(&dog__load_relaxed(&heap->shards[i])->lock);
        fork_lock(&heap->huge_lock);
    }
    /* The thread caches' registry after the heaps: dog_stats_print_all holds
     * dog__heaps_lock while dog_heap_stats takes the registry lock, and whoever holds
     * the registry lock (a thread exit flushing an explicit heap's cache) only try-locks
     * shards, so it never waits for a lock taken above. */
    bool all = dog__tcache_fork_lock();
    all &= dog__meta_fork_lock();
    all &= dog__pool_fork_lock();
    all &= dog__huge_fork_lock();
    all &= dog__segmap_fork_lock();
    if (!all)
        fork_state[depth].skipped = true;
}

/* Release what fork_prepare took, at this depth; locks it skipped stay held. */
static void fork_release_locks(void)
{
    dog__segmap_fork_unlock();
    dog__huge_fork_unlock();
    dog__pool_fork_unlock();
    dog__meta_fork_unlock();
    for (dog_heap_t *heap = dog__heaps; heap != NULL; heap = heap->list_next) {
        dog__lock_fork_release(&heap->huge_lock);
        unsigned n = dog__load_acquire(&heap->xshard_count);
        for (unsigned i = 0; i < n; i++)
            dog__lock_fork_release(&dog__load_relaxed(&heap->shards[i])->lock);
        dog__lock_fork_release(&heap->grow_lock);
    }
    dog__lock_fork_release(&dog__heaps_lock);
}

static void fork_parent(void)
{
    unsigned depth = dog__tl_fork_depth;
    fork_release_locks();
    dog__tcache_fork_parent();
    if (fork_state[depth].libc_locked)
        dog__os_fork_unlock_libc(false);
    dog__tl_fork_depth = depth - 1;
}

static void fork_child(void)
{
    unsigned depth = dog__tl_fork_depth;
    fork_release_locks();
    dog__tcache_fork_child(!fork_state[depth].skipped);
    if (fork_state[depth].libc_locked)
        dog__os_fork_unlock_libc(true);
    dog__tl_fork_depth = depth - 1;
}

/* Called from every slow path that makes a page or a huge block of a heap before it
 * exists; runs once. A thread that comes while another initialises waits until it is
 * done: the block key (block.h) must be drawn before any page exists, or blocks freed
 * under a zero key would be read under the real one, and no page or huge block of
 * dog_default may be made before its limit is set. Nor may another thread go on before
 * the fork handlers are registered (a fork in that moment would copy whatever locks
 * were held); but pthread_atfork may itself allocate, which comes back here in the
 * initialising thread: that one goes on, the key and the options being set by then. */
void dog__init(void)
{
    int expected = 0;
    if (dog__load_acquire(&init_state) == 2 || init_self)
        return;
    if (!atomic_compare_exchange_strong(&init_state, &expected, 1)) {
        while (dog__load_acquire(&init_state) != 2)
            dog__os_yield();
        return;
    }
    dog__block_key_init(dog__os_random());
    dog__options_freeze();      /* the environment (options.c); no allocation */
    __atomic_store_n(&dog__default_heap.limit, (size_t)dog__option(DOG_OPTION_LIMIT),
                     __ATOMIC_RELAXED);
    dog__pool_reserve((size_t)dog__option(DOG_OPTION_RESERVE));
    init_self = true;       /* from here on, a malloc in this thread may make pages */
    if (dog__option(DOG_OPTION_VERBOSE)) {
        char buf[128];
        size_t n = dog__format(buf, sizeof buf, "dogmalloc: version %s active (pid %d)\n",
                               DOG_VERSION_STRING, (int)getpid());
        dog__os_write_stderr(buf, n);
        dog__options_report();
    }
    dog__tcache_init();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    init_self = false;
    dog__store_release(&init_state, 2);
}

/* At exit, DOGMALLOC_SHOW_STATS=1 prints the default heap's report and the table of all
 * live heaps to stderr, with write(2) and no allocation. */
__attribute__((destructor)) static void dog__stats_at_exit(void)
{
    dog__leak_report_exit();            /* the heaps that want a leak report (visit.c) */
    if (!dog__option(DOG_OPTION_SHOW_STATS))
        return;
    char buf[1024];
    size_t n = dog__heap_stats_format(&dog__default_heap, buf, sizeof buf);
    dog__os_write_report(buf, n);
    dog__stats_table_exit();            /* then every live heap, one line each (stats.c) */
}

DOG_API int dog_version(void)
{
    return DOG_VERSION;
}

DOG_API const char *dog_version_string(void)
{
    return DOG_VERSION_STRING;
}
