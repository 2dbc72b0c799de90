/* SPDX-License-Identifier: MIT */
/* config.h: the constants every other file is built on. */
#ifndef DOG_CONFIG_H
#define DOG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#ifndef DOG_DEBUG
#define DOG_DEBUG 0                     /* 1: misuse asserts, 2: internal, 3: expensive */
#endif

#define DOG_WORD_SIZE       8           /* size classes count in machine words */
#define DOG_PAGE_SHIFT      19          /* a page is 512 KiB, aligned to 512 KiB */
#define DOG_PAGE_SIZE       ((size_t)1 << DOG_PAGE_SHIFT)
#define DOG_PAGE_MASK       (DOG_PAGE_SIZE - 1)
#define DOG_OS_PAGE_SIZE    4096        /* free lists grow one OS page at a time */

/* Size classes (size_class.h): 8 and 16-byte steps to 64 bytes, then 4 per doubling up
 * to 64 KiB, one eighth of a page. Larger requests are huge (huge.c). */
#define DOG_SMALL_WSIZE_MAX 8192
#define DOG_SMALL_SIZE_MAX  ((size_t)DOG_SMALL_WSIZE_MAX * DOG_WORD_SIZE)
#define DOG_BIN_COUNT       45
#define DOG_DIRECT_WSIZE_MAX 128        /* requests up to 1 KiB use pages_direct[] */

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
