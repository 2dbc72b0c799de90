/* SPDX-License-Identifier: MIT */
/* lock.h: the heap-shard lock. Callers try-lock first and move on to another shard when
 * it is busy (heap_pool.c), so the blocking path is rare; it spins briefly, then yields. */
#ifndef DOG_LOCK_H
#define DOG_LOCK_H

#include <stdbool.h>
#include "atomic.h"
#include "compiler.h"

typedef struct dog_lock {
    _Atomic int locked;
} dog_lock_t;

#define DOG_LOCK_INIT {0}

/* os_posix.c */
void dog__os_yield(void);

static DOG_INLINE bool dog__lock_try(dog_lock_t *l)
{
    /* Test before the exchange so a busy lock's cache line is only read, not stolen. */
    return dog__load_relaxed(&l->locked) == 0 && dog__exchange_acquire(&l->locked, 1) == 0;
}

static DOG_INLINE void dog__lock_release(dog_lock_t *l)
{
    dog__store_release(&l->locked, 0);
}

static inline void dog__lock_acquire(dog_lock_t *l)
{
    for (unsigned spins = 0; !dog__lock_try(l); spins++) {
        if (spins < 64)
            dog__cpu_relax();
        else
            dog__os_yield();
    }
}

#endif
