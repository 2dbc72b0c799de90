/* SPDX-License-Identifier: MIT */
/* stats.c: per-heap and process-wide statistics, and trimming.
 *
 * The fast paths keep exact per-shard counters under the shard lock; a stats call takes
 * each shard's lock in turn, collects its pending cross-thread frees, and adds up. */
#include <errno.h>
#include <stdio.h>
#include "heap.h"
#include "huge.h"
#include "os.h"
#include "page_pool.h"
#include "tcache.h"

DOG_API int dog_heap_stats(const dog_heap_t *cheap, dog_heap_stats_t *out)
{
    dog_heap_t *heap = dog__heap_check(cheap, "dog_heap_stats");
    if (heap == NULL || out == NULL) {
        errno = EINVAL;
        return -1;
    }
    dog_heap_stats_t st = {0};
    size_t max_shard_peak = 0;
    unsigned n = dog__load_acquire(&heap->xshard_count);
    for (unsigned i = 0; i < n; i++) {
        dog_shard_t *shard = dog__load_relaxed(&heap->shards[i]);
        dog__lock_acquire(&shard->lock);
        dog__shard_collect_all(shard, false);
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
    if (heap == &dog__default_heap) {
        /* Blocks in thread caches are allocated for the shards, free for the user. */
        size_t blocks, bytes, pushes, refilled, flushed;
        dog__tcache_stats(&blocks, &bytes, &pushes, &refilled, &flushed);
        size_t pops = refilled + pushes - flushed - blocks;    /* handed out from caches */
        st.blocks_in_use -= blocks;
        st.bytes_in_use -= bytes;
        st.allocs = st.allocs - refilled + pops;
        st.frees = st.frees - flushed + pushes;
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
    st.limit = heap->limit;
    *out = st;
    return 0;
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

DOG_API int dog_stats(dog_stats_t *out)
{
    if (out == NULL) {
        errno = EINVAL;
        return -1;
    }
    size_t heaps = 0;
    dog__lock_acquire(&dog__heaps_lock);
    for (dog_heap_t *h = dog__heaps; h != NULL; h = h->list_next)
        heaps++;
    dog__lock_release(&dog__heaps_lock);
    out->bytes_mapped = dog__load_relaxed(&dog__os_mapped);
    out->heaps = heaps;
    out->pool_pages = dog__pool_pages();
    out->huge_cache_bytes = dog__huge_cache_bytes();
    return 0;
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
            dog__lock_release(&shard->lock);
        }
    }
    dog__lock_release(&dog__heaps_lock);
    dog__pool_trim();
    dog__huge_trim();
    errno = saved;
}
