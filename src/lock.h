/* SPDX-License-Identifier: MIT */
/* lock.h: the heap-shard lock. Callers try-lock first and move on to another shard when
 * it is busy (heap_pool.c), so the blocking path is rare; it spins briefly, then yields.
 *
 * The lock word holds its owner: 0 when free, else an id of the thread that holds it
 * (dog__lock_self), plus a small mark when fork's prepare handler took it (init.c). So a
 * thread can tell the locks it holds itself, which matters in one case only: a signal
 * handler that calls fork() while the interrupted code of the same thread is inside
 * dogmalloc. The prepare handler must then skip those locks (waiting for them would wait
 * forever), and the parent and child handlers must leave them to the interrupted code. */
#ifndef DOG_LOCK_H
#define DOG_LOCK_H

#include <stdbool.h>
#include <stdint.h>
#include "atomic.h"
#include "compiler.h"

typedef struct dog_lock {
    _Atomic uintptr_t owner;
} dog_lock_t;

#define DOG_LOCK_INIT {0}

/* os_posix.c */
void dog__os_yield(void);

/* init.c: a per-thread variable whose address is the thread's id in lock words. Threads
 * that run at the same time have different addresses, it is never 0, and it is 8-aligned,
 * so id + a mark below 8 (fork's, below) is no other thread's id. Taking its address costs no load of
 * a variable that may be cold, and no branch to give a new thread an id. */
extern DOG_HIDDEN DOG_TLS uint64_t dog__tl_lock_self;

static DOG_INLINE uintptr_t dog__lock_self(void)
{
    return (uintptr_t)&dog__tl_lock_self;
}

static DOG_INLINE bool dog__lock_try_as(dog_lock_t *l, uintptr_t id)
{
    /* Test before the compare-and-swap so a busy lock's cache line is only read, not
     * stolen. A compare-and-swap, not an exchange: a failed exchange would write our id
     * over the owner's. */
    uintptr_t free_word = 0;
    return dog__load_relaxed(&l->owner) == 0 && dog__cas_strong_acquire(&l->owner, &free_word, id);
}

static DOG_INLINE bool dog__lock_try(dog_lock_t *l)
{
    return dog__lock_try_as(l, dog__lock_self());
}

static DOG_INLINE void dog__lock_release(dog_lock_t *l)
{
    dog__store_release(&l->owner, 0);
}

/* Fork's prepare handler can run in a signal handler that interrupted another fork of
 * the same thread, so it marks its locks with its depth: self + 1 for a fork, self + 2
 * for one called from a signal handler while the first was in its handlers, and so on
 * (init.c keeps the depth). Ids are 8-aligned and ids of two threads are at least 8
 * apart, so [self, self + DOG_LOCK_FORK_DEPTH_MAX] names this thread only. */
#define DOG_LOCK_FORK_DEPTH_MAX 7u
extern DOG_HIDDEN DOG_TLS unsigned dog__tl_fork_depth;     /* init.c */

/* Does the calling thread hold l, in its own code or in one of its fork handlers? Only
 * this thread writes its own ids into a lock word, so a relaxed load is enough. */
static inline bool dog__lock_held_by_self(dog_lock_t *l)
{
    return dog__load_relaxed(&l->owner) - dog__lock_self() <= DOG_LOCK_FORK_DEPTH_MAX;
}

/* init.c: a thread waits for a lock it holds itself: dogmalloc was called from a signal
 * handler (or an atfork handler) while this thread was inside it. Aborts with a message
 * instead of waiting forever. */
DOG_NORETURN DOG_COLD void dog__lock_reentered(void);

static inline void dog__lock_acquire_as(dog_lock_t *l, uintptr_t id)
{
    for (unsigned spins = 0; !dog__lock_try_as(l, id); spins++) {
        if (spins < 64) {
            dog__cpu_relax();
        } else {
            if (spins == 64 && dog__lock_held_by_self(l))
                dog__lock_reentered();
            dog__os_yield();
        }
    }
}

static inline void dog__lock_acquire(dog_lock_t *l)
{
    dog__lock_acquire_as(l, dog__lock_self());
}

/* --- For fork's handlers (init.c and the modules' *_fork_lock) ------------------------- */

/* Take l for the prepare handler at the current fork depth, unless this thread holds it
 * already (the code that a signal handler interrupted, or an outer fork's handler): then
 * it stays as it is, and so does the structure it guards. False for such a lock. */
static inline bool dog__lock_fork_acquire(dog_lock_t *l)
{
    if (dog__lock_held_by_self(l))
        return false;
    dog__lock_acquire_as(l, dog__lock_self() + dog__tl_fork_depth);
    return true;
}

/* Release l if this fork's prepare handler took it (dog__lock_fork_acquire). */
static inline void dog__lock_fork_release(dog_lock_t *l)
{
    if (dog__load_relaxed(&l->owner) == dog__lock_self() + dog__tl_fork_depth)
        dog__lock_release(l);
}

#endif
