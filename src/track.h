/* SPDX-License-Identifier: MIT */
/* track.h: the one place that tells a memory checker which bytes of dogmalloc's memory
 * the program may touch, so that it reports misuse of dog blocks as it does of malloc's.
 *
 * The contract (mimalloc keeps the same idea in its track.h, MI_TRACK_VALGRIND/_ASAN):
 *   a live block        [p, p + requested) accessible, undefined unless zeroed;
 *                       [p + requested, p + usable) not accessible
 *   a free block        not accessible at all (local or thread free list, thread cache,
 *                       never carved, or on a page of a destroyed heap)
 *   allocator metadata  page headers, live bitmaps, huge headers: accessible (see below)
 * The allocator's own reads and writes of a block's first word (block.h, the only code
 * that touches it) sit between dog__track_word_open and _close, which open that word for
 * the one access and then restore what the checker knew of it.
 *
 * Backends, chosen at build time:
 *   DOG_TRACK_VALGRIND=1  (make TRACK=valgrind, build-valgrind/): memcheck client
 *                         requests; malloc-like blocks, so leaks, invalid reads and
 *                         writes, uninitialised values and bad frees name dog blocks
 *   ASan                  (make SANITIZE=address, detected by compiler.h): poisoning;
 *                         ASan reports "use-after-poison" (it cannot tell use after free
 *                         from overflow, and LSan has no interface for a custom
 *                         allocator's blocks: docs/debugging.md)
 *   neither               every function below is empty and inlined away: the default
 *                         build's code is the same instruction for instruction.
 *
 * Extent: requested bytes, not usable ones, so that a write past the 16 bytes asked for
 * is reported even when the size class has 24. dog_usable_size() promises the caller
 * every usable byte, so it widens the block to its usable size (dog__track_usable):
 * asking is the way to be allowed. mimalloc marks the usable size at once and reports
 * only past the class; we prefer the report, since the size class is dogmalloc's
 * business, and code that uses the slack calls malloc_usable_size first.
 *
 * Not covered: page headers and bitmaps stay accessible (every malloc and free reads
 * them, and wrapping each read would make the tracking build a different allocator), so
 * a write before a page's first block is not reported; a huge block's header likewise. */
#ifndef DOG_TRACK_H
#define DOG_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compiler.h"

#if defined(DOG_TRACK_VALGRIND) && DOG_TRACK_VALGRIND
#include <valgrind/memcheck.h>
#define DOG_TRACK_ENABLED 1
#define DOG_TRACK_NAME "valgrind"
/* memcheck knows a block by its address: one that mremap would move is copied instead
 * (huge.c, realloc), which also keeps what memcheck knows of each byte. */
#define DOG_TRACK_MOVES 0
#elif DOG_HAS_ASAN
#include <sanitizer/asan_interface.h>
#define DOG_TRACK_ENABLED 1
#define DOG_TRACK_NAME "asan"
#define DOG_TRACK_MOVES 1
#else
#define DOG_TRACK_ENABLED 0
#define DOG_TRACK_NAME "none"
#define DOG_TRACK_MOVES 1
#endif

#if DOG_TRACK_ENABLED && defined(DOG_TRACK_VALGRIND) && DOG_TRACK_VALGRIND
/* --- Valgrind memcheck --------------------------------------------------------------- */

/* Bytes of [p, p + usable) that memcheck lets the program address, from p on: a live
 * block's requested size (its tail and every free block are no-access). GET_VBITS on
 * one byte answers 3 for an unaddressable byte without reporting anything. */
static inline size_t dog__track_extent(const void *p, size_t usable)
{
    unsigned char v;
    if (RUNNING_ON_VALGRIND == 0)
        return usable;
    size_t lo = 0, hi = usable;     /* [0, lo) addressable; hi: the first that is not */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (VALGRIND_GET_VBITS((const char *)p + mid, &v, 1) == 3)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static inline void dog__track_alloc(void *p, size_t size, size_t usable, bool zeroed)
{
    if (p == NULL)
        return;
    if (usable > size)
        VALGRIND_MAKE_MEM_NOACCESS((char *)p + size, usable - size);
    VALGRIND_MALLOCLIKE_BLOCK(p, size, 0, zeroed);
}

static inline void dog__track_free(void *p, size_t usable)
{
    VALGRIND_FREELIKE_BLOCK(p, 0);
    VALGRIND_MAKE_MEM_NOACCESS(p, usable);
}

/* A live block of old bytes keeps its place and now holds size bytes, of usable. */
static inline void dog__track_resized(void *p, size_t old, size_t size, size_t usable)
{
    if (old != size && size != 0)
        VALGRIND_RESIZEINPLACE_BLOCK(p, old, size, 0);
    else if (old != size)           /* memcheck resizes to 1 byte at least */
        VALGRIND_MAKE_MEM_NOACCESS(p, old);
    if (usable > size)              /* a huge block may have grown over cached headers */
        VALGRIND_MAKE_MEM_NOACCESS((char *)p + size, usable - size);
}

/* The same, for a block whose usable size has not changed: its extent says old. */
static inline void dog__track_resize(void *p, size_t usable, size_t size)
{
    dog__track_resized(p, dog__track_extent(p, usable), size, usable);
}

static inline void dog__track_noaccess(const void *p, size_t n)
{
    VALGRIND_MAKE_MEM_NOACCESS(p, n);
}

static inline void dog__track_undefined(const void *p, size_t n)
{
    VALGRIND_MAKE_MEM_UNDEFINED(p, n);
}

static inline void dog__track_defined(const void *p, size_t n)
{
    VALGRIND_MAKE_MEM_DEFINED(p, n);
}

/* Memory goes back to the OS: memcheck follows munmap and mremap itself. */
static inline void dog__track_unmapped(const void *p, size_t n)
{
    (void)p;
    (void)n;
}

/* A word of allocator metadata that still holds a pointer to a block handed out (a
 * thread cache's slot above its count): undefined, so that the leak check does not take
 * it for a reference and call a leaked block "still reachable". */
static inline void dog__track_stale(const void *slot)
{
    VALGRIND_MAKE_MEM_UNDEFINED(slot, sizeof(void *));
}

/* A word of metadata that points to a block while the block is live (a huge header's
 * ptr): undefined while hidden, so that the leak check, which follows defined words
 * only, calls a leaked huge block "definitely lost", not "still reachable" from its own
 * header. Read it meanwhile with dog__track_ref_read. */
static inline void dog__track_ref_hidden(const void *word)
{
    VALGRIND_MAKE_MEM_UNDEFINED(word, sizeof(void *));
}

static inline void dog__track_ref_shown(const void *word)
{
    VALGRIND_MAKE_MEM_DEFINED(word, sizeof(void *));
}

/* Open the first word of a block, live or free, for one access by the allocator, and
 * remember what memcheck knew of its 8 bytes; close puts that back. A live block of
 * fewer than 8 requested bytes is partly addressable: byte by byte then. */
typedef struct dog_track_word {
    int whole;                      /* GET_VBITS of all 8: 0 not under Valgrind, 1, 3 */
    unsigned char v[8];
    unsigned char ok[8];            /* byte i was addressable (whole == 3) */
} dog_track_word_t;

static inline dog_track_word_t dog__track_word_open(const void *p)
{
    dog_track_word_t s;
    s.whole = VALGRIND_GET_VBITS(p, s.v, 8);
    if (s.whole == 3)
        for (int i = 0; i < 8; i++)
            s.ok[i] = VALGRIND_GET_VBITS((const char *)p + i, &s.v[i], 1) == 1;
    if (s.whole != 0)
        VALGRIND_MAKE_MEM_DEFINED(p, 8);
    return s;
}

static inline void dog__track_word_close(const void *p, dog_track_word_t s)
{
    if (s.whole == 1) {
        VALGRIND_SET_VBITS(p, s.v, 8);
    } else if (s.whole == 3) {
        for (int i = 0; i < 8; i++) {
            if (s.ok[i])
                VALGRIND_SET_VBITS((const char *)p + i, &s.v[i], 1);
            else
                VALGRIND_MAKE_MEM_NOACCESS((const char *)p + i, 1);
        }
    }
}

#elif DOG_TRACK_ENABLED
/* --- AddressSanitizer ---------------------------------------------------------------- */

static inline size_t dog__track_extent(const void *p, size_t usable)
{
    const char *bad = __asan_region_is_poisoned((void *)(uintptr_t)p, usable);
    return bad != NULL ? (size_t)(bad - (const char *)p) : usable;
}

static inline void dog__track_alloc(void *p, size_t size, size_t usable, bool zeroed)
{
    (void)zeroed;
    if (p == NULL)
        return;
    ASAN_UNPOISON_MEMORY_REGION(p, size);
    if (usable > size)
        ASAN_POISON_MEMORY_REGION((char *)p + size, usable - size);
}

static inline void dog__track_free(void *p, size_t usable)
{
    ASAN_POISON_MEMORY_REGION(p, usable);
}

static inline void dog__track_resized(void *p, size_t old, size_t size, size_t usable)
{
    (void)old;
    ASAN_UNPOISON_MEMORY_REGION(p, size);
    if (usable > size)
        ASAN_POISON_MEMORY_REGION((char *)p + size, usable - size);
}

static inline void dog__track_resize(void *p, size_t usable, size_t size)
{
    dog__track_resized(p, usable, size, usable);
}

static inline void dog__track_noaccess(const void *p, size_t n)
{
    ASAN_POISON_MEMORY_REGION(p, n);
}

static inline void dog__track_undefined(const void *p, size_t n)
{
    ASAN_UNPOISON_MEMORY_REGION(p, n);
}

static inline void dog__track_defined(const void *p, size_t n)
{
    ASAN_UNPOISON_MEMORY_REGION(p, n);
}

/* The shadow outlives the mapping: what we poisoned must not greet the next mmap there. */
static inline void dog__track_unmapped(const void *p, size_t n)
{
    ASAN_UNPOISON_MEMORY_REGION(p, n);
}

static inline void dog__track_stale(const void *slot)
{
    (void)slot;
}

/* LSan does not scan dogmalloc's mappings: nothing to hide. */
static inline void dog__track_ref_hidden(const void *word)
{
    (void)word;
}

static inline void dog__track_ref_shown(const void *word)
{
    (void)word;
}

/* ASan's shadow says, for each 8-byte granule, how many of its first bytes are
 * addressable: keep that number across the access. */
typedef size_t dog_track_word_t;

static inline dog_track_word_t dog__track_word_open(const void *p)
{
    const char *bad = __asan_region_is_poisoned((void *)(uintptr_t)p, 8);
    ASAN_UNPOISON_MEMORY_REGION(p, 8);
    return bad != NULL ? (size_t)(bad - (const char *)p) : 8;
}

static inline void dog__track_word_close(const void *p, dog_track_word_t open)
{
    if (open < 8)
        ASAN_POISON_MEMORY_REGION((const char *)p + open, 8 - open);
}

#else
/* --- No checker: nothing, at no cost ------------------------------------------------- */

static DOG_INLINE size_t dog__track_extent(const void *p, size_t usable)
{
    (void)p;
    return usable;
}

static DOG_INLINE void dog__track_alloc(void *p, size_t size, size_t usable, bool zeroed)
{
    (void)p, (void)size, (void)usable, (void)zeroed;
}

static DOG_INLINE void dog__track_free(void *p, size_t usable)
{
    (void)p, (void)usable;
}

static DOG_INLINE void dog__track_resized(void *p, size_t old, size_t size, size_t usable)
{
    (void)p, (void)old, (void)size, (void)usable;
}

static DOG_INLINE void dog__track_resize(void *p, size_t usable, size_t size)
{
    (void)p, (void)usable, (void)size;
}

static DOG_INLINE void dog__track_noaccess(const void *p, size_t n)
{
    (void)p, (void)n;
}

static DOG_INLINE void dog__track_undefined(const void *p, size_t n)
{
    (void)p, (void)n;
}

static DOG_INLINE void dog__track_defined(const void *p, size_t n)
{
    (void)p, (void)n;
}

static DOG_INLINE void dog__track_unmapped(const void *p, size_t n)
{
    (void)p, (void)n;
}

static DOG_INLINE void dog__track_stale(const void *slot)
{
    (void)slot;
}

static DOG_INLINE void dog__track_ref_hidden(const void *word)
{
    (void)word;
}

static DOG_INLINE void dog__track_ref_shown(const void *word)
{
    (void)word;
}

typedef int dog_track_word_t;

static DOG_INLINE dog_track_word_t dog__track_word_open(const void *p)
{
    (void)p;
    return 0;
}

static DOG_INLINE void dog__track_word_close(const void *p, dog_track_word_t s)
{
    (void)p, (void)s;
}
#endif

/* --- Derived: the same for every backend --------------------------------------------- */

/* Read a pointer that dog__track_ref_hidden hid, leaving it hidden. */
static DOG_INLINE void *dog__track_ref_read(void *const *word)
{
    dog_track_word_t t = dog__track_word_open(word);
    void *v = *word;
    dog__track_word_close(word, t);
    return v;
}

/* dog_usable_size() was asked: the caller may now use every usable byte. */
static DOG_INLINE void dog__track_usable(void *p, size_t usable)
{
    dog__track_resize(p, usable, usable);
}

#endif
