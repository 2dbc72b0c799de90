/* SPDX-License-Identifier: MIT */
/* loop: tight malloc/free loops of small random sizes, the allocator's fast paths.
 *
 *   loop [threads=1] [pairs=50000000] [max=512]
 *
 * Each thread does `pairs` malloc/free pairs of sizes drawn from [8, max]: half of them
 * as immediate pairs (malloc, write, free), half in batches of 256 (256 mallocs, then
 * 256 frees in allocation order). Every free is local. With threads > 1 the threads run
 * the same loop side by side, which shows contention on anything shared.
 *
 * Self-check: each block holds a tag written after malloc and checked before free. */
#include "bench.h"

#define BATCH 256
#define SIZES 4096          /* sizes come from a table, to keep the RNG off the hot path */

static size_t pairs, max_size;
static atomic_size_t bad_blocks;

static void *worker_main(void *arg)
{
    uint64_t rng = bench_seed((uintptr_t)arg);
    static __thread size_t sizes[SIZES];
    for (size_t i = 0; i < SIZES; i++)
        sizes[i] = bench_range(&rng, 8, max_size);

    size_t bad = 0, s = 0;
    size_t half = pairs / 2;
    for (size_t i = 0; i < half; i++) {
        size_t size = sizes[s++ % SIZES];
        volatile uint64_t *p = bench_xmalloc(size);
        *p = i;
        bad += *p != i;
        free((void *)p);
    }

    void *batch[BATCH];
    for (size_t done = half; done < pairs; done += BATCH) {
        size_t n = pairs - done < BATCH ? pairs - done : BATCH;
        for (size_t k = 0; k < n; k++) {
            uint64_t *p = bench_xmalloc(sizes[s++ % SIZES]);
            *p = (uint64_t)(uintptr_t)p;
            batch[k] = p;
        }
        for (size_t k = 0; k < n; k++) {
            bad += *(uint64_t *)batch[k] != (uint64_t)(uintptr_t)batch[k];
            free(batch[k]);
        }
    }
    atomic_fetch_add(&bad_blocks, bad);
    return NULL;
}

int main(int argc, char **argv)
{
    size_t nthreads = (size_t)bench_arg(argc, argv, 1, 1);
    pairs = (size_t)bench_arg(argc, argv, 2, 50000000);
    max_size = (size_t)bench_arg(argc, argv, 3, 512);
    if (nthreads == 0 || nthreads > 256 || max_size < 8)
        bench_fail("loop: need 1..256 threads and max >= 8");

    if (nthreads == 1) {
        worker_main((void *)1);
    } else {
        pthread_t threads[256];
        for (size_t t = 0; t < nthreads; t++)
            bench_thread(&threads[t], worker_main, (void *)(uintptr_t)(t + 1));
        for (size_t t = 0; t < nthreads; t++)
            bench_join(threads[t]);
    }
    if (atomic_load(&bad_blocks) != 0)
        bench_fail("loop: %zu corrupted blocks", atomic_load(&bad_blocks));
    printf("loop: %zu threads x %zu pairs ok\n", nthreads, pairs);
    return 0;
}
