/* SPDX-License-Identifier: MIT */
/* init.c: one-time initialisation (options.c reads the environment), fork safety and
 * the version. Nothing here allocates: it runs inside malloc, before main, and in a
 * child after fork. */
#define _GNU_SOURCE
#include <pthread.h>
#include <unistd.h>
#include "heap.h"
#include "huge.h"
#include "misuse.h"
#include "options.h"
#include "os.h"
#include "page_pool.h"
#include "tcache.h"

size_t dog__heap_stats_format(const dog_heap_t *heap, char *buf, size_t len);

static _Atomic int init_state;      /* 0 not yet, 1 applying the options, 2 done */

/* --- fork: take every lock so that the child starts with consistent structures ------- */

static void fork_prepare(void)
{
    dog__lock_acquire(&dog__heaps_lock);
    for (dog_heap_t *heap = dog__heaps; heap != NULL; heap = heap->list_next) {
        dog__lock_acquire(&heap->grow_lock);
        unsigned n = dog__load_acquire(&heap->xshard_count);
        for (unsigned i = 0; i < n; i++)
            dog__lock_acquire(&dog__load_relaxed(&heap->shards[i])->lock);
        dog__lock_acquire(&heap->huge_lock);
    }
    dog__tcache_fork_lock();
    dog__meta_fork_lock();
    dog__pool_fork_lock();
    dog__huge_fork_lock();
}

static void fork_release_locks(void)
{
    dog__huge_fork_unlock();
    dog__pool_fork_unlock();
    dog__meta_fork_unlock();
    for (dog_heap_t *heap = dog__heaps; heap != NULL; heap = heap->list_next) {
        dog__lock_release(&heap->huge_lock);
        unsigned n = dog__load_acquire(&heap->xshard_count);
        for (unsigned i = 0; i < n; i++)
            dog__lock_release(&dog__load_relaxed(&heap->shards[i])->lock);
        dog__lock_release(&heap->grow_lock);
    }
    dog__lock_release(&dog__heaps_lock);
}

static void fork_parent(void)
{
    fork_release_locks();
    dog__tcache_fork_parent();
}

static void fork_child(void)
{
    fork_release_locks();
    dog__tcache_fork_child();
}

/* Called once, from the first slow path that creates a shard (heap_pool.c). */
void dog__init(void)
{
    int expected = 0;
    if (dog__load_acquire(&init_state) == 2)
        return;
    if (!atomic_compare_exchange_strong(&init_state, &expected, 1)) {
        /* Another thread is applying the options: wait, so that no page or huge block
         * of dog_default is made before its limit is set. */
        while (dog__load_acquire(&init_state) != 2)
            dog__cpu_relax();
        return;
    }
    dog__options_freeze();      /* the environment (options.c); no allocation */
    dog__default_heap.limit = (size_t)dog__option(DOG_OPTION_LIMIT);
    dog__pool_reserve((size_t)dog__option(DOG_OPTION_RESERVE));
    /* Done before the rest, which might reach malloc again (pthread_atfork). */
    dog__store_release(&init_state, 2);
    if (dog__option(DOG_OPTION_VERBOSE)) {
        char buf[128];
        size_t n = dog__format(buf, sizeof buf, "dogmalloc: version %s active (pid %d)\n",
                               DOG_VERSION_STRING, (int)getpid());
        dog__os_write_stderr(buf, n);
        dog__options_report();
    }
    dog__tcache_init();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* At exit, DOGMALLOC_SHOW_STATS=1 prints the default heap's report to stderr. */
__attribute__((destructor)) static void dog__stats_at_exit(void)
{
    if (!dog__option(DOG_OPTION_SHOW_STATS))
        return;
    char buf[1024];
    size_t n = dog__heap_stats_format(&dog__default_heap, buf, sizeof buf);
    dog__os_write_report(buf, n);
}

DOG_API int dog_version(void)
{
    return DOG_VERSION;
}

DOG_API const char *dog_version_string(void)
{
    return DOG_VERSION_STRING;
}
