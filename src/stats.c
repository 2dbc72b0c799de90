/* SPDX-License-Identifier: MIT */
/* stats.c: per-heap and process-wide statistics, and trimming.
 *
 * The fast paths keep exact per-shard counters under the shard lock; a stats call takes
 * each shard's lock in turn, collects its pending cross-thread frees, and adds up. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "heap.h"
#include "size_class.h"
#include "misuse.h"
#include "huge.h"
#include "os.h"
#include "page_pool.h"
#include "tcache.h"
#include "validate.h"

/* The 0.1 structs' sizes: callers built against the 0.1 header pass no more. */
#define HEAP_STATS_SIZE_0_1 (offsetof(dog_heap_stats_t, limit) + sizeof(size_t))
#define STATS_SIZE_0_1 (offsetof(dog_stats_t, huge_cache_bytes) + sizeof(size_t))

/* Give the caller size bytes of *st (the rule for structs that grow, dogmalloc.h): our
 * fields up to size, zeros for a newer header's fields past ours. */
static void copy_out(void *out, size_t size, const void *st, size_t st_size)
{
    memcpy(out, st, size < st_size ? size : st_size);
    if (size > st_size)
        memset((char *)out + st_size, 0, size - st_size);
}

/* How many times at most dog_heap_stats and dog_heap_class_stats scan a heap, while
 * threads' caches of it go back meanwhile (types.h: xretiring). */
#define STATS_TRIES 8

/* dog_heap_stats: the shards, then the caches; returns heap->xretiring as of the caches. */
static unsigned heap_stats_scan(dog_heap_t *heap, dog_heap_stats_t *out, size_t *peak_out)
{
    unsigned seq;
    dog_heap_stats_t st = {0};
    size_t max_shard_peak = 0;
    unsigned n = dog__load_acquire(&heap->xshard_count);
    for (unsigned i = 0; i < n; i++) {
        dog_shard_t *shard = dog__load_relaxed(&heap->shards[i]);
        dog__lock_acquire(&shard->lock);
        dog__shard_collect_all(shard, false);
        DOG_VALIDATE(dog__validate_shard(shard, true, "dog_heap_stats"));
        size_t blocks = 0;
        for (size_t bin = 0; bin <= DOG_BIN_COUNT; bin++) {
            dog_page_queue_t *q = bin < DOG_BIN_COUNT ? &shard->queues[bin] : &shard->full;
            for (dog_page_t *page = q->first; page != NULL; page = page->next)
                blocks += page->used;
        }
        st.blocks_in_use += blocks;
        st.bytes_in_use += shard->in_use;
        st.pages += shard->pages;
        st.allocs += shard->allocs;
        st.frees += shard->frees;
        if (shard->peak > max_shard_peak)
            max_shard_peak = shard->peak;
        dog__store_relaxed(&shard->xpublished, shard->in_use);
        dog__lock_release(&shard->lock);
    }
    dog__lock_acquire(&heap->huge_lock);
    st.huge_blocks = heap->huge_blocks;
    st.huge_bytes = heap->huge_bytes;
    st.allocs += heap->huge_allocs;
    st.frees += heap->huge_frees;
    dog__lock_release(&heap->huge_lock);
    st.blocks_in_use += st.huge_blocks;
    st.bytes_in_use += st.huge_bytes;
    DOG_VALIDATE(dog__validate_huge(heap, DOG_VALIDATE_LIVE, "dog_heap_stats"));
    DOG_VALIDATE(dog__validate_tcache(dog__tcache_of(heap), DOG_TCACHE_BINS, "dog_heap_stats"));
    {
        /* Blocks in thread caches are allocated for the shards, free for the user. */
        size_t blocks, bytes, pushes, refilled, flushed;
        seq = dog__tcache_stats(heap, &blocks, &bytes, &pushes, &refilled, &flushed);
        /* The shards and the caches are read at different moments, while their threads
         * go on: each figure is exact when no thread uses the heap, and is kept from
         * wrapping below zero (or frees above allocs) when threads do. */
        size_t in = refilled + pushes, out = flushed + blocks;
        size_t pops = in > out ? in - out : 0;                  /* handed out from caches */
        st.blocks_in_use = st.blocks_in_use > blocks ? st.blocks_in_use - blocks : 0;
        st.bytes_in_use = st.bytes_in_use > bytes ? st.bytes_in_use - bytes : 0;
        st.allocs = st.allocs > refilled ? st.allocs - refilled + pops : pops;
        st.frees = st.frees > flushed ? st.frees - flushed + pushes : pushes;
        if (st.frees > st.allocs)
            st.frees = st.allocs;
    }
    *out = st;
    *peak_out = max_shard_peak;
    return seq;
}

DOG_API int dog_heap_stats_sized(const dog_heap_t *cheap, dog_heap_stats_t *out, size_t size)
{
    dog_heap_t *heap = dog__heap_check(cheap, "dog_heap_stats");
    if (heap == NULL || out == NULL || size < HEAP_STATS_SIZE_0_1) {
        errno = EINVAL;
        return -1;
    }
    dog_heap_stats_t st;
    size_t max_shard_peak;
    for (unsigned attempt = 0;; attempt++) {
        /* An exiting thread's cache that goes back between the two scans would be seen
         * twice or not at all: scan again if one did (types.h: xretiring). A few tries,
         * then a snapshot: threads that exit all the time are threads that use the heap. */
        unsigned seq = dog__load_acquire(&heap->xretiring);
        unsigned seen = heap_stats_scan(heap, &st, &max_shard_peak);
        if ((seen == seq && (seq & 1) == 0) || attempt + 1 == STATS_TRIES)
            break;
    }
    dog__heap_publish(heap, NULL);

    /* Exact for one shard (huge blocks are published as they come); under concurrency
     * the highest sum seen at a slow path or a stats call. */
    size_t peak = dog__load_relaxed(&heap->xpeak);
    if (max_shard_peak > peak)
        peak = max_shard_peak;
    if (st.bytes_in_use > peak)
        peak = st.bytes_in_use;
    st.peak_bytes_in_use = peak;
    st.bytes_mapped = dog__load_relaxed(&heap->xmapped);
    st.tree_bytes_mapped = dog__load_relaxed(&heap->xtree);
    st.limit = dog__heap_limit(heap);
    copy_out(out, size, &st, sizeof st);
    return 0;
}

DOG_API int dog_heap_class_stats_sized(const dog_heap_t *cheap, dog_class_stats_t *out,
                                       size_t n, size_t size)
{
    dog_heap_t *heap = dog__heap_check(cheap, "dog_heap_class_stats");
    if (heap == NULL || (out == NULL && n > 0) || size < sizeof(size_t) * 4) {
        errno = EINVAL;
        return -1;
    }
    size_t blocks[DOG_BIN_COUNT], pages[DOG_BIN_COUNT], cached[DOG_TCACHE_BINS];
    for (unsigned attempt = 0;; attempt++) {      /* as dog_heap_stats_sized */
        unsigned seq = dog__load_acquire(&heap->xretiring);
        memset(blocks, 0, sizeof blocks);
        memset(pages, 0, sizeof pages);
        memset(cached, 0, sizeof cached);
        unsigned count = dog__load_acquire(&heap->xshard_count);
        for (unsigned i = 0; i < count; i++) {
            dog_shard_t *shard = dog__load_relaxed(&heap->shards[i]);
            dog__lock_acquire(&shard->lock);
            dog__shard_collect_all(shard, false);
            for (size_t q = 0; q <= DOG_BIN_COUNT; q++) {
                dog_page_queue_t *queue = q < DOG_BIN_COUNT ? &shard->queues[q] : &shard->full;
                for (dog_page_t *page = queue->first; page != NULL; page = page->next) {
                    blocks[page->bin] += page->used;
                    pages[page->bin]++;
                }
            }
            dog__lock_release(&shard->lock);
        }
        /* Blocks in thread caches are allocated for the pages, free for the user; read
         * after the shards, so that a block cached meanwhile is not taken off twice. */
        unsigned seen = dog__tcache_bin_counts(heap, cached);
        if ((seen == seq && (seq & 1) == 0) || attempt + 1 == STATS_TRIES)
            break;
    }
    int rows = 0;
    for (size_t bin = 0; bin < DOG_BIN_COUNT; bin++) {
        if (pages[bin] == 0)
            continue;
        size_t live = blocks[bin];
        if (bin < DOG_TCACHE_BINS)
            live = live > cached[bin] ? live - cached[bin] : 0;
        if ((size_t)rows < n) {
            dog_class_stats_t row = { .block_size = dog__bin_size(bin), .blocks_in_use = live,
                                      .bytes_in_use = live * dog__bin_size(bin),
                                      .pages = pages[bin] };
            copy_out((char *)out + (size_t)rows * size, size, &row, sizeof row);
        }
        rows++;
    }
    return rows;
}

DOG_API int (dog_heap_stats)(const dog_heap_t *heap, dog_heap_stats_t *out)
{
    return dog_heap_stats_sized(heap, out, HEAP_STATS_SIZE_0_1);
}

static void human(char *buf, size_t len, size_t bytes)
{
    if (bytes >= ((size_t)1 << 30))
        snprintf(buf, len, "%.1f GiB", (double)bytes / (1 << 30));
    else if (bytes >= ((size_t)1 << 20))
        snprintf(buf, len, "%.1f MiB", (double)bytes / (1 << 20));
    else if (bytes >= ((size_t)1 << 10))
        snprintf(buf, len, "%.1f KiB", (double)bytes / (1 << 10));
    else
        snprintf(buf, len, "%zu B", bytes);
}

/* Format the report of heap into buf (no allocation; dog__stats_exit uses it too). */
size_t dog__heap_stats_format(const dog_heap_t *heap, char *buf, size_t len)
{
    dog_heap_stats_t st;
    if (dog_heap_stats(heap, &st) != 0)
        return 0;
    char in_use[32], peak[32], mapped[32], huge[32], limit[32];
    human(in_use, sizeof in_use, st.bytes_in_use);
    human(peak, sizeof peak, st.peak_bytes_in_use);
    human(mapped, sizeof mapped, st.bytes_mapped);
    human(huge, sizeof huge, st.huge_bytes);
    if (st.limit)
        human(limit, sizeof limit, st.limit);
    else
        snprintf(limit, sizeof limit, "none");
    int n = snprintf(buf, len,
                     "dogmalloc heap \"%s\"\n"
                     "  bytes in use:  %zu (%s) in %zu blocks\n"
                     "  peak in use:   %zu (%s)\n"
                     "  mapped:        %zu (%s) in %zu pages of 512 KiB, budget %s\n"
                     "  huge:          %zu blocks, %zu bytes (%s)\n"
                     "  allocs: %zu\n"
                     "  frees:  %zu\n",
                     heap->name, st.bytes_in_use, in_use, st.blocks_in_use,
                     st.peak_bytes_in_use, peak, st.bytes_mapped, mapped, st.pages, limit,
                     st.huge_blocks, st.huge_bytes, huge, st.allocs, st.frees);
    return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

DOG_API int dog_heap_stats_print(const dog_heap_t *heap, FILE *out)
{
    if (dog__heap_check(heap, "dog_heap_stats_print") == NULL || out == NULL) {
        errno = EINVAL;
        return -1;
    }
    char buf[1024];
    size_t n = dog__heap_stats_format(heap, buf, sizeof buf);
    if (fwrite(buf, 1, n, out) != n || fflush(out) != 0)
        return -1;
    return 0;
}

/* --- All heaps in one table, and JSON ------------------------------------------------- */

#define TABLE_LINE 192      /* one row: a name of up to 31 bytes, its indent, six numbers */

typedef void (*emit_fn)(void *ctx, const char *line, size_t n);

/* The row of heap h, indented by its depth in the heap tree, then its children's (newest
 * first), depth-first: at most DOG_HEAP_DEPTH_MAX calls deep. */
static void stats_row(const dog_heap_t *h, emit_fn emit, void *ctx)
{
    dog_heap_stats_t st;
    if (dog_heap_stats(h, &st) == 0) {
        char limit[24], line[TABLE_LINE];
        if (st.limit != 0)
            snprintf(limit, sizeof limit, "%zu", st.limit);
        else
            snprintf(limit, sizeof limit, "none");
        char name[DOG_HEAP_NAME_MAX + 16];   /* one row per heap, whatever its name holds */
        size_t i = 0, indent = h->depth < 8 ? h->depth : 8;
        for (; i < 2 * indent; i++)
            name[i] = ' ';
        for (size_t k = 0; h->name[k] != '\0' && i < sizeof name - 1; k++, i++)
            name[i] = (unsigned char)h->name[k] < 0x20 ? '?' : h->name[k];
        name[i] = '\0';
        int n = snprintf(line, sizeof line, "  %-20s %10zu %14zu %14zu %14zu %14s\n", name,
                         st.blocks_in_use, st.bytes_in_use, st.peak_bytes_in_use,
                         st.bytes_mapped, limit);
        emit(ctx, line, n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
    for (const dog_heap_t *c = h->first_child; c != NULL; c = c->next_sibling)
        stats_row(c, emit, ctx);
}

/* Format the table of every live heap, a line at a time, into emit(ctx, line, n). The heap
 * list's lock is held throughout (no heap comes or goes), so emit must not create or
 * destroy a heap: write(2) at exit (dog__stats_table_exit), a buffer for a FILE. */
static void stats_table(emit_fn emit, void *ctx)
{
    char line[TABLE_LINE];
    dog__lock_acquire(&dog__heaps_lock);
    size_t heaps = 0;
    for (dog_heap_t *h = dog__heaps; h != NULL; h = h->list_next)
        heaps++;
    int n = snprintf(line, sizeof line, "dogmalloc heaps: %zu live\n  %-20s %10s %14s %14s "
                     "%14s %14s\n", heaps, "name", "blocks", "bytes in use", "peak", "mapped",
                     "limit");
    emit(ctx, line, n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    /* dog_default first, then the heaps without a parent, newest first (the list's order:
     * dog_heap_new_sized), each followed by its subtree. */
    stats_row(&dog__default_heap, emit, ctx);
    for (dog_heap_t *h = dog__heaps; h != NULL; h = h->list_next)
        if (h != &dog__default_heap && h->parent == NULL)
            stats_row(h, emit, ctx);
    dog__lock_release(&dog__heaps_lock);
}

static void emit_report(void *ctx, const char *line, size_t n)
{
    (void)ctx;
    dog__os_write_report(line, n);
}

/* DOGMALLOC_SHOW_STATS at exit (init.c): straight to stderr's private copy, allocating
 * nothing from any heap, whatever state the program left its heaps in. */
void dog__stats_table_exit(void)
{
    stats_table(emit_report, NULL);
}

typedef struct table_buf {
    char *buf;
    size_t cap, len, dropped;
} table_buf_t;

static void emit_buffer(void *ctx, const char *line, size_t n)
{
    table_buf_t *t = ctx;
    if (t->len + n > t->cap) {
        t->dropped++;
        return;
    }
    memcpy(t->buf + t->len, line, n);
    t->len += n;
}

DOG_API int dog_stats_print_all(FILE *out)
{
    if (out == NULL) {
        errno = EINVAL;
        return -1;
    }
    /* The table goes into memory of its own (no heap's figures change for it) and to the
     * stream only after the lock is released: a stream's write may allocate, even create
     * a heap, without deadlocking against the heap list. Room for heaps created between
     * the count and the table: 16 rows more, and a line that says what did not fit. */
    dog_stats_t ps;
    dog_stats(&ps);
    size_t cap = (ps.heaps + 16 + 2) * TABLE_LINE;
    cap = (cap + DOG_OS_PAGE_SIZE - 1) & ~(size_t)(DOG_OS_PAGE_SIZE - 1);
    table_buf_t t = { .buf = dog__os_map_aligned(cap, DOG_OS_PAGE_SIZE), .cap = cap - 64 };
    if (t.buf == NULL)
        return -1;          /* ENOMEM */
    dog__fetch_add_relaxed(&dog__os_mapped, cap);
    stats_table(emit_buffer, &t);
    if (t.dropped != 0) {
        int n = snprintf(t.buf + t.len, 64, "  (%zu more heaps created meanwhile)\n", t.dropped);
        t.len += n < 0 ? 0 : (size_t)n < 64 ? (size_t)n : 63;
    }
    int rc = fwrite(t.buf, 1, t.len, out) == t.len && fflush(out) == 0 ? 0 : -1;
    int saved = errno;
    dog__os_unmap(t.buf, cap);
    dog__fetch_sub_relaxed(&dog__os_mapped, cap);
    errno = saved;
    return rc;
}

/* Append s to the JSON string being built, escaped (RFC 8259: quote, backslash, control
 * characters; other bytes as they are). */
static size_t json_string(char *buf, size_t cap, const char *s)
{
    size_t n = 0;
    buf[n++] = '"';
    for (; *s != '\0' && n + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(buf + n, cap - n, "\\u%04x", c);
        } else {
            buf[n++] = (char)c;
        }
    }
    buf[n++] = '"';
    return n;
}

DOG_API int dog_heap_stats_json(const dog_heap_t *heap, char *buf, size_t len)
{
    dog_heap_stats_t st;
    if ((buf == NULL && len > 0) || dog__heap_check(heap, "dog_heap_stats_json") == NULL ||
        dog_heap_stats(heap, &st) != 0) {
        errno = EINVAL;
        return -1;
    }
    char json[768];     /* a name of 31 bytes escaped is at most 188, 11 numbers 440 */
    size_t n = dog__format(json, sizeof json, "{\"name\":");
    n += json_string(json + n, sizeof json - n, heap->name);
    n += dog__format(json + n, sizeof json - n,
                     ",\"bytes_in_use\":%zu,\"blocks_in_use\":%zu,\"peak_bytes_in_use\":%zu,"
                     "\"bytes_mapped\":%zu,\"pages\":%zu,\"huge_blocks\":%zu,\"huge_bytes\":%zu,"
                     "\"allocs\":%zu,\"frees\":%zu,\"limit\":%zu,\"tree_bytes_mapped\":%zu}",
                     st.bytes_in_use, st.blocks_in_use, st.peak_bytes_in_use, st.bytes_mapped,
                     st.pages, st.huge_blocks, st.huge_bytes, st.allocs, st.frees, st.limit,
                     st.tree_bytes_mapped);
    if (len > 0) {
        size_t k = n < len ? n : len - 1;
        memcpy(buf, json, k);
        buf[k] = '\0';
    }
    return (int)n;
}

DOG_API int dog_stats_sized(dog_stats_t *out, size_t size)
{
    if (out == NULL || size < STATS_SIZE_0_1) {
        errno = EINVAL;
        return -1;
    }
    dog_stats_t st;
    size_t heaps = 0;
    dog__lock_acquire(&dog__heaps_lock);
    for (dog_heap_t *h = dog__heaps; h != NULL; h = h->list_next)
        heaps++;
    dog__lock_release(&dog__heaps_lock);
    st.bytes_mapped = dog__load_relaxed(&dog__os_mapped);
    st.heaps = heaps;
    st.pool_pages = dog__pool_pages();
    st.huge_cache_bytes = dog__huge_cache_bytes();
    copy_out(out, size, &st, sizeof st);
    return 0;
}

DOG_API int (dog_stats)(dog_stats_t *out)
{
    return dog_stats_sized(out, STATS_SIZE_0_1);
}

DOG_API void dog_trim(void)
{
    int saved = errno;
    /* The calling thread's cached blocks hold their pages: back to the shards first, so
     * that the pages they emptied go to the pool and the OS below. Other threads' caches
     * are theirs alone (no lock guards them) and stay. */
    dog__tcache_flush_mine();
    dog__lock_acquire(&dog__heaps_lock);
    for (dog_heap_t *heap = dog__heaps; heap != NULL; heap = heap->list_next) {
        unsigned n = dog__load_acquire(&heap->xshard_count);
        for (unsigned i = 0; i < n; i++) {
            dog_shard_t *shard = dog__load_relaxed(&heap->shards[i]);
            dog__lock_acquire(&shard->lock);
            dog__shard_collect_all(shard, true);
            DOG_VALIDATE(dog__validate_shard(shard, true, "dog_trim"));
            dog__lock_release(&shard->lock);
        }
    }
    dog__lock_release(&dog__heaps_lock);
    dog__pool_trim();
    dog__huge_trim();
    errno = saved;
}
