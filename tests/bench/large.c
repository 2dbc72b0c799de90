/* SPDX-License-Identifier: MIT */
/* large: large blocks, 5-25 MiB, and realloc growth of a large buffer.
 *
 *   large [iterations=500] [threads=2] [min_mib=5] [max_mib=25]
 *
 * Each thread keeps two live blocks and `iterations` times replaces one of them with a new
 * block of a random size in [min_mib, max_mib] MiB, writing one word in every 4 KiB page
 * (so that fresh memory is faulted in, as a program that fills its buffers would). Every
 * 50th iteration it also grows a buffer from 1 MiB to 64 MiB by realloc in steps of 1.5x,
 * writing the new part each time (a growing vector or string builder). An allocator that
 * returns every large block to the OS and maps a new one each time pays the kernel for
 * mapping and zeroing; one that reuses freed large blocks does not.
 *
 * Self-check: the words written in each page are read back before the block is freed,
 * and the grown buffer keeps its contents across every realloc. */
#include "bench.h"

#define STEP 4096

static size_t iterations, min_size, max_size;
static atomic_size_t bad_words;

static void fill(unsigned char *p, size_t from, size_t to, uint64_t salt)
{
    for (size_t off = (from + STEP - 1) / STEP * STEP; off + sizeof(uint64_t) <= to; off += STEP) {
        uint64_t v = salt ^ off;
        memcpy(p + off, &v, sizeof(v));
    }
}

static size_t verify(const unsigned char *p, size_t to, uint64_t salt)
{
    size_t bad = 0;
    for (size_t off = 0; off + sizeof(uint64_t) <= to; off += STEP) {
        uint64_t v;
        memcpy(&v, p + off, sizeof(v));
        bad += v != (salt ^ off);
    }
    return bad;
}

typedef struct slot {
    unsigned char *p;
    size_t size;
} slot_t;

static void *worker_main(void *arg)
{
    uint64_t rng = bench_seed((uintptr_t)arg);
    slot_t slots[2] = { { NULL, 0 }, { NULL, 0 } };
    size_t bad = 0;
    for (size_t i = 0; i < iterations; i++) {
        slot_t *s = &slots[bench_rand(&rng) & 1];
        if (s->p != NULL) {
            bad += verify(s->p, s->size, (uint64_t)(uintptr_t)s->p);
            free(s->p);
        }
        s->size = bench_range(&rng, min_size, max_size);
        s->p = bench_xmalloc(s->size);
        fill(s->p, 0, s->size, (uint64_t)(uintptr_t)s->p);

        if (i % 50 != 49)
            continue;
        size_t size = (size_t)1 << 20;
        unsigned char *g = bench_xmalloc(size);
        fill(g, 0, size, 0x5eed);
        while (size < ((size_t)64 << 20)) {
            size_t new_size = size + size / 2;
            g = realloc(g, new_size);
            if (g == NULL)
                bench_fail("realloc(%zu) returned NULL", new_size);
            fill(g, size, new_size, 0x5eed);
            size = new_size;
        }
        bad += verify(g, size, 0x5eed);
        free(g);
    }
    for (int k = 0; k < 2; k++) {
        if (slots[k].p != NULL)
            bad += verify(slots[k].p, slots[k].size, (uint64_t)(uintptr_t)slots[k].p);
        free(slots[k].p);
    }
    atomic_fetch_add(&bad_words, bad);
    return NULL;
}

int main(int argc, char **argv)
{
    iterations = (size_t)bench_arg(argc, argv, 1, 500);
    size_t nthreads = (size_t)bench_arg(argc, argv, 2, 2);
    min_size = (size_t)bench_arg(argc, argv, 3, 5) << 20;
    max_size = (size_t)bench_arg(argc, argv, 4, 25) << 20;
    if (nthreads == 0 || nthreads > 64 || min_size == 0 || max_size < min_size)
        bench_fail("large: need 1..64 threads and 0 < min <= max");

    pthread_t threads[64];
    for (size_t t = 0; t < nthreads; t++)
        bench_thread(&threads[t], worker_main, (void *)(uintptr_t)(t + 1));
    for (size_t t = 0; t < nthreads; t++)
        bench_join(threads[t]);
    if (atomic_load(&bad_words) != 0)
        bench_fail("large: %zu words read back wrong", atomic_load(&bad_words));
    printf("large: %zu threads x %zu blocks ok\n", nthreads, iterations);
    return 0;
}
