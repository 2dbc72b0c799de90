/* SPDX-License-Identifier: MIT */
/* size_class.h: request size <-> word size <-> bin <-> block size.
 * 8 bytes, then 16-byte steps up to 64 bytes (16, 32, 48, 64), then 4 classes per
 * doubling (at most 25% and on average ~12.5% internal waste), up to
 * DOG_SMALL_WSIZE_MAX words = 64 KiB: 45 bins. The seed also has 24, 40 and 56 byte
 * classes; they are left out because their blocks could only be 8-byte aligned, while C17
 * and glibc give every request of 16 bytes or more 16-byte alignment (a long double or an
 * SSE vector may live in it). Pure functions, tested exhaustively by
 * tests/check_size_class.c. */
#ifndef DOG_SIZE_CLASS_H
#define DOG_SIZE_CLASS_H

#include <stddef.h>
#include <stdint.h>
#include "compiler.h"

/* Words needed for size bytes; 0 for size 0 (pages_direct[0] serves malloc(0)). */
static DOG_INLINE size_t dog__wsize(size_t size)
{
    return (size + DOG_WORD_SIZE - 1) / DOG_WORD_SIZE;
}

/* The bin of a block of wsize words, 1 <= wsize <= DOG_SMALL_WSIZE_MAX. Up to 8 words,
 * one bin per two words (one word: bin 0). Above, w = wsize - 1 has its top bit b and
 * the two bits below it pick one of 4 steps. */
static DOG_INLINE size_t dog__bin_of(size_t wsize)
{
    if (wsize <= 8)
        return (wsize + (wsize > 1)) / 2;
    size_t w = wsize - 1;
    unsigned b = 63u - (unsigned)__builtin_clzl(w);
    return ((size_t)b << 2) + ((w >> (b - 2)) & 3) - 7;
}

/* Block size in bytes of bin (the inverse of dog__bin_of for full blocks). */
static DOG_INLINE size_t dog__bin_size(size_t bin)
{
    if (bin < 5)
        return bin == 0 ? DOG_WORD_SIZE : bin * 2 * DOG_WORD_SIZE;
    unsigned b = (unsigned)((bin + 7) >> 2), m = (unsigned)((bin + 7) & 3);
    return (((size_t)1 << b) + ((size_t)(m + 1) << (b - 2))) * DOG_WORD_SIZE;
}

/* size_class.c: the bin of every word size up to 16 KiB. */
extern DOG_HIDDEN const uint8_t dog__bin_direct[DOG_BIN_TABLE_WSIZE_MAX + 1];

/* size_class.c: the smallest bin whose blocks hold size bytes and are aligned to align
 * (a power of two <= 64 KiB); blocks of bin b are aligned to the largest power of two
 * dividing dog__bin_size(b) (page.c lays them out so). DOG_BIN_COUNT if none. */
size_t dog__bin_for_aligned(size_t size, size_t align);

#endif
