/* SPDX-License-Identifier: MIT */
/* validate.h: the invariant validator of DOG_DEBUG >= 3 (make DEBUG=3): calls that check
 * what the comments on the structs promise, and stop the process naming the broken one.
 *
 * Every call site writes DOG_VALIDATE(dog__validate_...(...)): below DOG_DEBUG 3 the
 * macro drops its argument, so the default build has neither the calls nor the
 * functions (validate.c compiles to nothing). The checks walk whole lists and bitmaps,
 * so they run after slow paths only: a carve, a collection, a page given to the pool or
 * taken from it, a shard's slow path, dog_heap_stats, a visit, a trim, a reset and a
 * destroy (docs/debugging.md lists them). */
#ifndef DOG_VALIDATE_H
#define DOG_VALIDATE_H

#include <stdbool.h>
#include "types.h"

#if DOG_DEBUG >= 3
#define DOG_VALIDATE(call) (call)
#else
#define DOG_VALIDATE(call) ((void)0)
#endif
/* For a local that only DOG_VALIDATE calls use. */
#define DOG_VALIDATE_ONLY __attribute__((unused))

struct dog_tcache;

/* What the caller knows of a heap it asks to validate. */
enum {
    DOG_VALIDATE_LIVE,      /* in use: other threads may allocate and free meanwhile */
    DOG_VALIDATE_QUIET,     /* not in use (a reset): its counters are exact sums */
    DOG_VALIDATE_GONE,      /* destroyed: its shards are freed, its counters must be 0 */
};

/* validate.c. where names the caller, for the message. */
/* The page on its own: header fields, bitmaps, both free lists. Its shard's lock held. */
void dog__validate_page(dog_page_t *page, const char *where);
/* The shard's queues, full and delayed lists, direct table and statistics; with deep,
 * every page too (dog__validate_page). Lock held. */
void dog__validate_shard(dog_shard_t *shard, bool deep, const char *where);
/* Every shard (each lock taken in turn, so the caller holds none), the huge blocks, and
 * in DOG_VALIDATE_QUIET and _GONE the heap's byte counts against them. */
void dog__validate_heap(dog_heap_t *heap, int state, const char *where);
/* The heap's list of huge blocks (takes its huge lock). */
void dog__validate_huge(dog_heap_t *heap, int state, const char *where);
/* Bin bin of tc, the calling thread's own cache (DOG_TCACHE_BINS: every bin and the
 * layout); nothing if tc is NULL or dead. */
void dog__validate_tcache(const struct dog_tcache *tc, size_t bin, const char *where);
/* The report of a broken invariant: what (a "page", a "shard", ...) at obj, found by
 * where; fmt names the invariant. Never returns, whatever the misuse policy (misuse.c:
 * dog__corrupt). Also for page_pool.c and huge.c, which validate their own statics. */
DOG_NORETURN DOG_COLD void dog__invariant_fail(const char *what, const void *obj,
                                               const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
