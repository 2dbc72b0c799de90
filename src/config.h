/* SPDX-License-Identifier: MIT */
/* config.h: the constants every other file is built on. */
#ifndef DOG_CONFIG_H
#define DOG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* --- Build modes ------------------------------------------------------------------------
 * One table of what a build adds to the default one (each is a make variable too):
 *   DOG_DEBUG   (make DEBUG=1..3)  1: DOG_ASSERT, 2: internal asserts, 3: expensive
 *                                  checks and the invariant validator (validate.h); in
 *                                  build-debug<N>/, at -O0 (docs/debugging.md)
 *   DOG_SECURE  (make SECURE=1)    the mitigations below, in build-secure/ and
 *                                  libdogmalloc-secure.so (docs/secure.md)
 *   TRACK       (make TRACK=valgrind, or an ASan build): memory checkers see dog blocks
 *                                  (track.h)
 * Each mitigation of the secure build has its own switch, on with DOG_SECURE (the names
 * follow snmalloc's mitigations.h; mimalloc's MI_SECURE levels bundle the same ideas):
 *   DOG_SECURE_LINKS    local free-list links encoded with a per-page secret and checked
 *                       before they are followed (block.h)
 *   DOG_SECURE_FREED    a per-page bitmap of freed blocks, so that a double free is caught
 *                       whatever the freed block's words now hold (page.h)
 *   DOG_SECURE_FILL     free blocks filled with a pattern, checked when handed out again:
 *                       a write after free, or an overflow into a free neighbour, is caught
 *                       (off under a memory checker, which sees those writes itself)
 *   DOG_SECURE_SHUFFLE  blocks carved in random order within a page, and the free list
 *                       never rebuilt in address order
 *   DOG_SECURE_GUARDS   an inaccessible OS page after each page's metadata and at the end
 *                       of each page (page_pool.c), and after each huge block (huge.c)
 *   DOG_SECURE_QUARANTINE  an emptied page (a destroyed or reset heap's, or one that a
 *                       heap gave back) waits behind DOG_SECURE_QUARANTINE_PAGES others
 *                       before any heap reuses it, so a stale free into it is refused
 *                       (page_pool.c) */
#ifndef DOG_DEBUG
#define DOG_DEBUG 0
#endif
#ifndef DOG_SECURE
#define DOG_SECURE 0
#endif
#ifndef DOG_SECURE_LINKS
#define DOG_SECURE_LINKS DOG_SECURE
#endif
#ifndef DOG_SECURE_FREED
#define DOG_SECURE_FREED DOG_SECURE
#endif
#ifndef DOG_SECURE_FILL
#define DOG_SECURE_FILL DOG_SECURE
#endif
#ifndef DOG_SECURE_SHUFFLE
#define DOG_SECURE_SHUFFLE DOG_SECURE
#endif
#ifndef DOG_SECURE_GUARDS
#define DOG_SECURE_GUARDS DOG_SECURE
#endif
#ifndef DOG_SECURE_QUARANTINE
#define DOG_SECURE_QUARANTINE DOG_SECURE
#endif
#ifndef DOG_SECURE_QUARANTINE_PAGES
#define DOG_SECURE_QUARANTINE_PAGES 32
#endif

#define DOG_WORD_SIZE       8           /* size classes count in machine words */
#define DOG_PAGE_SHIFT      19          /* a page is 512 KiB, aligned to 512 KiB */
#define DOG_PAGE_SIZE       ((size_t)1 << DOG_PAGE_SHIFT)
#define DOG_PAGE_MASK       (DOG_PAGE_SIZE - 1)
#define DOG_OS_PAGE_SIZE    4096        /* free lists grow one OS page at a time */

/* The live bitmap of a page of the smallest blocks (8 bytes) has this many words; the
 * secure build's freed bitmap follows it at this fixed distance (page.h). */
#define DOG_BITMAP_WORDS_MAX (DOG_PAGE_SIZE / 8 / 64)
/* DOG_SECURE_GUARDS: every page has two guard OS pages at fixed offsets, whatever its size
 * class: one right after the largest metadata (header and both bitmaps of the smallest
 * blocks, rounded up to an OS page: types.h checks it) and one at the page's end. Blocks
 * lie between them. */
#define DOG_GUARD_SIZE      DOG_OS_PAGE_SIZE
#define DOG_GUARD_META_OFF  ((size_t)5 * DOG_OS_PAGE_SIZE)
#define DOG_GUARD_END_OFF   (DOG_PAGE_SIZE - DOG_GUARD_SIZE)

/* Size classes (size_class.h): 8 and 16-byte steps to 64 bytes, then 4 per doubling up
 * to 64 KiB, one eighth of a page. Larger requests are huge (huge.c). */
#define DOG_SMALL_WSIZE_MAX 8192
#define DOG_SMALL_SIZE_MAX  ((size_t)DOG_SMALL_WSIZE_MAX * DOG_WORD_SIZE)
#define DOG_BIN_COUNT       45
#define DOG_DIRECT_WSIZE_MAX 128        /* requests up to 1 KiB use pages_direct[] */
#define DOG_BIN_TABLE_WSIZE_MAX 2048    /* dog__bin_direct: word sizes up to 16 KiB */

/* Shards of a heap (heap_pool.c): the default heap gets up to 4 per CPU, as the seed. */
#define DOG_SHARDS_PER_CPU  4
#define DOG_SHARDS_MAX      64

/* Reuse of empty pages (page_pool.c): this many stay resident for instant reuse;
 * beyond that, pooled pages are purged (madvise), and beyond DOG_POOL_MAPPED_MAX
 * they are unmapped. */
#define DOG_POOL_RESIDENT_MAX 64
#define DOG_POOL_MAPPED_MAX   512

/* The largest huge request tried at all: the address map covers 2^48 bytes, and no
 * x86-64 or AArch64 Linux process gets more than that; larger sizes fail at once with
 * ENOMEM (and no size arithmetic near SIZE_MAX can overflow). */
#define DOG_HUGE_SIZE_MAX   ((size_t)1 << 47)

/* Reuse of freed huge mappings (huge.c). */
#define DOG_HUGE_CACHE_ENTRIES 16
#define DOG_HUGE_CACHE_BYTES   ((size_t)192 << 20)

#define DOG_HEAP_NAME_MAX   32
/* The deepest heap tree (dog_heap_options_t.parent): a heap at depth 63 has no child. */
#define DOG_HEAP_DEPTH_MAX  64
/* The dog_heap_options_t.flags this library knows (dogmalloc.h): others are refused. */
#define DOG_HEAP_FLAGS_KNOWN DOG_HEAP_LEAK_REPORT

#endif
