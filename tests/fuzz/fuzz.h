/* SPDX-License-Identifier: MIT */
/* fuzz.h: what the fuzz harnesses share: reading the input as a program, sizes drawn
 * from it, the fill-and-verify pattern and the failure report. */
#ifndef DOG_FUZZ_H
#define DOG_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The harness's own verification loops are not what is fuzzed: without coverage
 * tracing they run about ten times faster (clang's cmp tracing was 80% of the time). */
#if defined(__clang__)
#define FUZZ_NOCOV __attribute__((no_sanitize("coverage"), noinline))
#else
#define FUZZ_NOCOV
#endif

static const uint8_t *fuzz_data;
static size_t fuzz_len, fuzz_pos;

static inline void fuzz_begin(const uint8_t *data, size_t size)
{
    fuzz_data = data;
    fuzz_len = size;
    fuzz_pos = 0;
}

static inline int fuzz_done(void)
{
    return fuzz_pos >= fuzz_len;
}

/* The next input byte; 0 past the end (the program then stops at the next opcode). */
static inline unsigned fuzz_byte(void)
{
    return fuzz_pos < fuzz_len ? fuzz_data[fuzz_pos++] : 0;
}

/* A request size: mostly small blocks of every class, some large ones up to the
 * largest size class (64 KiB) and beyond, a few huge blocks of up to 4 MiB, and 0. */
static inline size_t fuzz_size(void)
{
    unsigned a = fuzz_byte(), b = fuzz_byte();
    switch (a >> 6) {
    case 0: return a & 63;                                   /* 0 .. 63 */
    case 1: return (((size_t)(a & 63) << 8 | b) & 1023) + 1;  /* 1 .. 1 KiB */
    case 2: return ((size_t)(a & 63) << 10 | (size_t)b << 2) + 1;  /* up to 64 KiB */
    default: return (size_t)(a & 63) << 16 | (size_t)b << 8;  /* up to 4 MiB */
    }
}

/* Byte i of a block filled with tag t; prefix-stable, so a resized block keeps it. */
static inline unsigned char fuzz_pattern(size_t i, unsigned tag)
{
    return (unsigned char)(i * 131 + tag * 7 + (i >> 8));
}

/* Which bytes of an n-byte block the pattern covers: all of a block up to 8 KiB; of a
 * larger one the first and last 4 KiB and one byte per 4 KiB between, so that huge
 * blocks stay cheap and overlaps and lost contents still show. fuzz_walk calls fn on
 * each covered offset below limit (limit <= n; a block cut shorter by a resize) until
 * fn returns nonzero, and returns that offset, or SIZE_MAX. */
FUZZ_NOCOV static inline size_t fuzz_walk(unsigned char *p, size_t n, size_t limit, unsigned tag,
                               int (*fn)(unsigned char *, size_t, unsigned))
{
    size_t head = n <= 8192 ? n : 4096, tail = n <= 8192 ? n : n - 4096;
    for (size_t i = 0; i < head && i < limit; i++)
        if (fn(p, i, tag))
            return i;
    for (size_t i = head; i < tail && i < limit; i += 4096)
        if (fn(p, i, tag))
            return i;
    for (size_t i = tail; i < n && i < limit; i++)
        if (fn(p, i, tag))
            return i;
    return SIZE_MAX;
}

FUZZ_NOCOV static inline int fuzz_put(unsigned char *p, size_t i, unsigned tag)
{
    p[i] = fuzz_pattern(i, tag);
    return 0;
}

FUZZ_NOCOV static inline int fuzz_differs(unsigned char *p, size_t i, unsigned tag)
{
    return p[i] != fuzz_pattern(i, tag);
}

static inline void fuzz_fill(unsigned char *p, size_t n, unsigned tag)
{
    fuzz_walk(p, n, n, tag, fuzz_put);
}

/* The first covered offset below limit of an n-byte block filled with tag that does not
 * hold the pattern, or SIZE_MAX. */
static inline size_t fuzz_check_upto(const void *p, size_t n, size_t limit, unsigned tag)
{
    return fuzz_walk((unsigned char *)p, n, limit, tag, fuzz_differs);
}

static inline size_t fuzz_check(const void *p, size_t n, unsigned tag)
{
    return fuzz_check_upto(p, n, n, tag);
}

FUZZ_NOCOV static inline int fuzz_is_nonzero(unsigned char *p, size_t i, unsigned tag)
{
    (void)tag;
    return p[i] != 0;
}

/* The first covered byte of p[0 .. n) (fuzz_walk) that is not zero, or SIZE_MAX. */
static inline size_t fuzz_nonzero(const void *p, size_t n)
{
    return fuzz_walk((unsigned char *)p, n, n, 0, fuzz_is_nonzero);
}

__attribute__((noreturn, unused, format(printf, 1, 2))) static void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* --- Slots: the live blocks a fuzzed program holds --- */

typedef struct fuzz_slot {
    unsigned char *p;
    size_t size;            /* requested (what a sized free is given) */
    size_t usable;          /* filled with the pattern */
    size_t align;           /* asked of an aligned call, else 0 */
    unsigned tag;
    int heap;               /* -1: dog_default, else an index into the harness's heaps */
    int zeroed;             /* calloc: the requested bytes must read zero until filled */
} fuzz_slot_t;

/* Slot s's block: zero up to its size if zeroed (calloc, not filled since), else the
 * pattern of its tag over its usable bytes; any other byte fails the run. */
static inline void fuzz_slot_verify(const fuzz_slot_t *s)
{
    if (s->zeroed) {
        size_t bad = fuzz_nonzero(s->p, s->size);
        if (bad != SIZE_MAX)
            fuzz_fail("calloc block %p: byte %zu of %zu is not zero", (void *)s->p, bad,
                      s->size);
        return;
    }
    size_t bad = fuzz_check(s->p, s->usable, s->tag);
    if (bad != SIZE_MAX)
        fuzz_fail("block %p (%zu usable): byte %zu changed", (void *)s->p, s->usable, bad);
}

enum { FUZZ_TAKE_FILL, FUZZ_TAKE_CALLOC, FUZZ_TAKE_KEEP };

/* Slot s now holds p, whose promises the harness has checked: fill it (FUZZ_TAKE_FILL),
 * or check that it reads zero and keep it so for a while (FUZZ_TAKE_CALLOC), or leave
 * the contents to the caller (FUZZ_TAKE_KEEP, a resized block or a string). */
static inline void fuzz_slot_set(fuzz_slot_t *s, void *p, size_t size, size_t usable,
                                 size_t align, int heap, unsigned tag, int mode)
{
    s->p = p;
    s->size = size;
    s->usable = usable;
    s->align = align;
    s->heap = heap;
    s->tag = tag;
    s->zeroed = mode == FUZZ_TAKE_CALLOC;
    if (mode == FUZZ_TAKE_CALLOC)
        fuzz_slot_verify(s);
    if (mode == FUZZ_TAKE_FILL || (mode == FUZZ_TAKE_CALLOC && fuzz_byte() & 1)) {
        s->zeroed = 0;
        fuzz_fill(s->p, s->usable, s->tag);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
