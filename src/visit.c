/* SPDX-License-Identifier: MIT */
/* visit.c: visiting the live blocks of a heap (dog_heap_visit), and the leak report built
 * on it (DOG_HEAP_LEAK_REPORT, DOGMALLOC_LEAK_REPORT).
 *
 * A visit takes each shard's lock in turn only to copy which blocks are handed out: the
 * live bitmap of every page, less the blocks parked in a thread cache or on a thread
 * free list (page.c: dog__page_live_snapshot), into memory mapped for the purpose. The
 * visitor runs on that copy with no lock held, so it may allocate, print, and free the
 * block it is given; the copy holds each page's block size and address, so nothing of a
 * page is read once its lock is released. Huge blocks are copied the same way under the
 * heap's huge lock. Time and the copy's size are proportional to the heap's pages (a bit
 * per block) plus its huge blocks; the lock of a shard is held for one pass over its
 * pages' bitmaps and the first word of each live block. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "heap.h"
#include "huge.h"
#include "misuse.h"
#include "options.h"
#include "os.h"
#include "segmap.h"
#include "track.h"
#include "validate.h"

/* One page of the copy, followed by its bitmap: (capacity + 63) / 64 words. */
typedef struct visit_page {
    uintptr_t base;                 /* block 0 */
    uint32_t block_size;
    uint32_t words;
} visit_page_t;

/* One huge block of the copy. */
typedef struct visit_huge {
    void *ptr;
    size_t usable;
} visit_huge_t;

typedef struct visit_buf {
    char *mem;
    size_t cap;
} visit_buf_t;

/* Make the copy at least need bytes (no lock held: it maps). False with ENOMEM. */
static bool buf_reserve(visit_buf_t *b, size_t need)
{
    if (need <= b->cap)
        return true;
    size_t cap = b->cap != 0 ? b->cap : 64 * 1024;
    while (cap < need)
        cap *= 2;
    char *mem = dog__os_map_aligned(cap, DOG_OS_PAGE_SIZE);
    if (mem == NULL)
        return false;
    dog__fetch_add_relaxed(&dog__os_mapped, cap);
    if (b->mem != NULL) {
        dog__os_unmap(b->mem, b->cap);
        dog__fetch_sub_relaxed(&dog__os_mapped, b->cap);
    }
    b->mem = mem;
    b->cap = cap;
    return true;
}

static void buf_release(visit_buf_t *b)
{
    if (b->mem != NULL) {
        dog__os_unmap(b->mem, b->cap);
        dog__fetch_sub_relaxed(&dog__os_mapped, b->cap);
    }
}

static size_t bitmap_words(const dog_page_t *page)
{
    return ((size_t)page->capacity + 63) / 64;
}

/* Bytes that the copy of shard needs now. Lock held. */
static size_t shard_need(dog_shard_t *shard)
{
    size_t need = 0;
    for (size_t bin = 0; bin <= DOG_BIN_COUNT; bin++) {
        dog_page_queue_t *q = bin < DOG_BIN_COUNT ? &shard->queues[bin] : &shard->full;
        for (dog_page_t *page = q->first; page != NULL; page = page->next)
            need += sizeof(visit_page_t) + bitmap_words(page) * sizeof(uint64_t);
    }
    return need;
}

/* Copy the handed-out blocks of shard into b->mem (which holds shard_need bytes). Lock
 * held. Returns the bytes written; pages with no block handed out are left out. */
static size_t shard_copy(dog_shard_t *shard, visit_buf_t *b)
{
    size_t len = 0;
    for (size_t bin = 0; bin <= DOG_BIN_COUNT; bin++) {
        dog_page_queue_t *q = bin < DOG_BIN_COUNT ? &shard->queues[bin] : &shard->full;
        for (dog_page_t *page = q->first; page != NULL; page = page->next) {
            if (page->used == 0)
                continue;
            visit_page_t *vp = (visit_page_t *)(void *)(b->mem + len);
            uint64_t *bits = (uint64_t *)(vp + 1);
            vp->base = (uintptr_t)page + page->block_start;
            vp->block_size = page->block_size;
            vp->words = (uint32_t)bitmap_words(page);
            if (dog__page_live_snapshot(page, bits) != 0)
                len += sizeof *vp + vp->words * sizeof(uint64_t);
        }
    }
    return len;
}

/* Call fn for every block of the copy [mem, mem + len). */
static void visit_copy(const dog_heap_t *heap, const char *mem, size_t len, dog_visit_fn fn,
                       void *arg)
{
    for (size_t off = 0; off < len;) {
        const visit_page_t *vp = (const visit_page_t *)(const void *)(mem + off);
        const uint64_t *bits = (const uint64_t *)(vp + 1);
        for (size_t w = 0; w < vp->words; w++) {
            for (uint64_t m = bits[w]; m != 0; m &= m - 1) {
                size_t i = w * 64 + (size_t)__builtin_ctzll(m);
                fn(heap, (void *)(vp->base + i * vp->block_size), vp->block_size, arg);
            }
        }
        off += sizeof *vp + vp->words * sizeof(uint64_t);
    }
}

/* The small blocks of one shard: copy under the lock (growing the copy with the lock
 * released until it fits), then visit with no lock. */
static bool visit_shard(dog_heap_t *heap, dog_shard_t *shard, visit_buf_t *b, dog_visit_fn fn,
                        void *arg)
{
    size_t len;
    for (;;) {
        dog__lock_acquire(&shard->lock);
        DOG_VALIDATE(dog__validate_shard(shard, true, "dog_heap_visit"));
        size_t need = shard_need(shard);
        if (need <= b->cap) {
            len = shard_copy(shard, b);
            dog__lock_release(&shard->lock);
            break;
        }
        dog__lock_release(&shard->lock);
        if (!buf_reserve(b, need + need / 4))   /* room for pages added meanwhile */
            return false;
    }
    visit_copy(heap, b->mem, len, fn, arg);
    return true;
}

static bool visit_huge(dog_heap_t *heap, visit_buf_t *b, dog_visit_fn fn, void *arg)
{
    size_t n;
    for (;;) {
        dog__lock_acquire(&heap->huge_lock);
        size_t need = heap->huge_blocks * sizeof(visit_huge_t);
        if (need <= b->cap) {
            visit_huge_t *v = (visit_huge_t *)(void *)b->mem;
            n = 0;
            for (dog_huge_t *h = heap->huge_first; h != NULL; h = h->next)
                v[n++] = (visit_huge_t){ dog__track_ref_read((void *const *)&h->ptr),
                                         h->usable };     /* hidden from a checker */
            dog__lock_release(&heap->huge_lock);
            break;
        }
        dog__lock_release(&heap->huge_lock);
        if (!buf_reserve(b, need + need / 4))
            return false;
    }
    const visit_huge_t *v = (const visit_huge_t *)(const void *)b->mem;
    for (size_t i = 0; i < n; i++)
        fn(heap, v[i].ptr, v[i].usable, arg);
    return true;
}

/* The visit of a live heap. */
static int heap_visit(dog_heap_t *heap, dog_visit_fn fn, void *arg)
{
    visit_buf_t b = { NULL, 0 };
    bool ok = true;
    unsigned n = dog__load_acquire(&heap->xshard_count);
    for (unsigned i = 0; i < n && ok; i++)
        ok = visit_shard(heap, dog__load_relaxed(&heap->shards[i]), &b, fn, arg);
    if (ok)
        ok = visit_huge(heap, &b, fn, arg);
    DOG_VALIDATE(dog__validate_huge(heap, DOG_VALIDATE_LIVE, "dog_heap_visit"));
    int saved = errno;
    buf_release(&b);
    errno = saved;
    return ok ? 0 : -1;
}

DOG_API int dog_heap_visit(const dog_heap_t *cheap, dog_visit_fn fn, void *arg)
{
    dog_heap_t *heap = dog__heap_check(cheap, "dog_heap_visit");
    if (heap == NULL || fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    return heap_visit(heap, fn, arg);
}

/* --- The leak report ------------------------------------------------------------------ */

#define LEAK_ROWS   (DOG_BIN_COUNT + 1)     /* a row per size class, and one for huge */
#define LEAK_SHOWN  4                       /* addresses shown per row */

typedef struct leak_row {
    size_t size;                    /* usable size of the row's blocks; 0: huge */
    size_t blocks, bytes;
    void *first[LEAK_SHOWN];
} leak_row_t;

typedef struct leak_table {
    leak_row_t rows[LEAK_ROWS];
    size_t count, blocks, bytes;
} leak_table_t;

static void leak_count(const dog_heap_t *heap, void *block, size_t usable, void *arg)
{
    (void)heap;
    leak_table_t *t = arg;
    /* Huge by where it lies, not by its size: an over-aligned huge block may be small. */
    size_t key = dog__segmap_kind(block) == DOG_FRAME_PAGE ? usable : 0;
    size_t r = 0;
    while (r < t->count && t->rows[r].size != key)
        r++;
    if (r == t->count) {
        if (t->count == LEAK_ROWS)
            r = LEAK_ROWS - 1;      /* cannot happen: one row per small class, one huge */
        else
            t->rows[t->count++] = (leak_row_t){ .size = key };
    }
    leak_row_t *row = &t->rows[r];
    if (row->blocks < LEAK_SHOWN)
        row->first[row->blocks] = block;
    row->blocks++;
    row->bytes += usable;
    t->blocks++;
    t->bytes += usable;
}

/* Rows in order of size, huge last: an insertion sort of at most 46 rows. */
static void leak_sort(leak_table_t *t)
{
    for (size_t i = 1; i < t->count; i++) {
        leak_row_t row = t->rows[i];
        size_t key = row.size == 0 ? SIZE_MAX : row.size, j = i;
        for (; j > 0; j--) {
            size_t prev = t->rows[j - 1].size == 0 ? SIZE_MAX : t->rows[j - 1].size;
            if (prev <= key)
                break;
            t->rows[j] = t->rows[j - 1];
        }
        t->rows[j] = row;
    }
}

/* snprintf's count, clamped to what it wrote into cap bytes. */
static size_t clamp(int n, size_t cap)
{
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* The table: snprintf for the columns (it allocates nothing for these conversions), and
 * write(2) through dog__os_write_report, so that no heap changes for the report. */
static void leak_print(const dog_heap_t *heap, leak_table_t *t, const char *when)
{
    char name[DOG_HEAP_NAME_MAX], line[256];
    size_t i = 0;
    for (; heap->name[i] != '\0' && i < sizeof name - 1; i++)    /* one line, whatever */
        name[i] = (unsigned char)heap->name[i] < 0x20 ? '?' : heap->name[i];
    name[i] = '\0';
    size_t n = clamp(snprintf(line, sizeof line, "dogmalloc: leak report of heap \"%s\" at "
                              "%s: %zu live blocks, %zu bytes (pid %d)\n  %10s %10s %14s  blocks at\n",
                              name, when, t->blocks, t->bytes, (int)getpid(), "size",
                              "blocks", "bytes"),
                     sizeof line);
    dog__os_write_report(line, n);
    leak_sort(t);
    for (size_t r = 0; r < t->count; r++) {
        const leak_row_t *row = &t->rows[r];
        char size[24];
        if (row->size == 0)
            snprintf(size, sizeof size, "huge");
        else
            snprintf(size, sizeof size, "%zu", row->size);
        n = clamp(snprintf(line, sizeof line, "  %10s %10zu %14zu ", size, row->blocks,
                           row->bytes), sizeof line);
        for (size_t k = 0; k < row->blocks && k < LEAK_SHOWN; k++)
            n += clamp(snprintf(line + n, sizeof line - n, " %p", row->first[k]),
                       sizeof line - n);
        n += clamp(snprintf(line + n, sizeof line - n, "%s\n",
                            row->blocks > LEAK_SHOWN ? " ..." : ""), sizeof line - n);
        dog__os_write_report(line, n);
    }
}

bool dog__leak_wanted(const dog_heap_t *heap)
{
    return (heap->flags & DOG_HEAP_LEAK_REPORT) != 0 || dog__option(DOG_OPTION_LEAK_REPORT);
}

/* The leak report of a live heap, at dog_heap_destroy or exit (when: which). Its
 * on_leak handler gets every live block; without one, stderr gets a table by size class,
 * and nothing if no block is live. */
void dog__leak_report(dog_heap_t *heap, const char *when)
{
    int saved = errno;
    if (heap->on_leak != NULL) {
        if (heap_visit(heap, heap->on_leak, heap->on_leak_arg) != 0)
            dog__error("leak report of %p at %s: no memory to visit its blocks", (void *)heap,
                       when);
    } else {
        leak_table_t t;
        t.count = t.blocks = t.bytes = 0;
        if (heap_visit(heap, leak_count, &t) != 0) {
            char line[128];
            size_t n = dog__format(line, sizeof line, "dogmalloc: leak report of heap %p at "
                                   "%s: out of memory\n", (void *)heap, when);
            dog__os_write_report(line, n);
        } else if (t.blocks != 0) {
            leak_print(heap, &t, when);
        }
    }
    errno = saved;
}

/* At exit (init.c): the report of every live heap that wants one. Heap creation and
 * destruction are held off meanwhile, so on_leak handlers must not create or destroy a
 * heap. */
void dog__leak_report_exit(void)
{
    dog__lock_acquire(&dog__heaps_lock);
    for (dog_heap_t *h = dog__heaps; h != NULL; h = h->list_next)
        if (dog__leak_wanted(h))
            dog__leak_report(h, "exit");
    dog__lock_release(&dog__heaps_lock);
}
