/* SPDX-License-Identifier: MIT */
/* leak: a long-lived process whose memory slowly grows, like a service with a small leak.
 *
 *   leak [rounds=2000] [objects=10000] [keep=1000] [max=1024]
 *
 * Each round allocates `objects` blocks of log-uniform sizes in [8, max] and writes them;
 * one block in `keep` (at random) is retained for the rest of the run, the others are
 * freed one round later (so two rounds' worth are live at a time, interleaved with the
 * survivors). The retained set grows steadily over every size class, to about
 * rounds * objects / keep blocks. Peak RSS shows how well an allocator reuses the
 * freed space around long-lived blocks: a good one stays near the live bytes.
 *
 * Self-check: every block holds a tag of its address and size in its first word, checked
 * when it is freed; the retained blocks are checked and freed at the end. */
#include "bench.h"

#define TAG 0x6c65616b6c65616bULL

static atomic_size_t bad_blocks;

static inline uint64_t tag_of(const void *p, size_t size)
{
    return TAG ^ (uint64_t)(uintptr_t)p ^ ((uint64_t)size << 50);
}

typedef struct item {
    void *p;
    size_t size;
} item_t;

static void item_free(item_t *it)
{
    uint64_t v;
    memcpy(&v, it->p, sizeof(v));
    if (v != tag_of(it->p, it->size))
        atomic_fetch_add(&bad_blocks, 1);
    free(it->p);
}

int main(int argc, char **argv)
{
    size_t rounds = (size_t)bench_arg(argc, argv, 1, 2000);
    size_t objects = (size_t)bench_arg(argc, argv, 2, 10000);
    size_t keep = (size_t)bench_arg(argc, argv, 3, 1000);
    size_t max_size = (size_t)bench_arg(argc, argv, 4, 1024);
    if (objects == 0 || keep == 0 || max_size < 8)
        bench_fail("leak: need objects >= 1, keep >= 1 and max >= 8");

    uint64_t rng = bench_seed(42);
    item_t *prev = bench_xmalloc(objects * sizeof(item_t));
    item_t *cur = bench_xmalloc(objects * sizeof(item_t));
    size_t prev_n = 0, kept = 0, kept_cap = 0;
    item_t *retained = NULL;

    for (size_t r = 0; r < rounds; r++) {
        size_t n = 0;
        for (size_t i = 0; i < objects; i++) {
            size_t size = bench_range_log(&rng, 8, max_size);
            unsigned char *p = bench_xmalloc(size);
            uint64_t v = tag_of(p, size);
            memcpy(p, &v, sizeof(v));
            memset(p + sizeof(v), (int)(i & 0xff), size - sizeof(v) < 56 ? size - sizeof(v) : 56);
            item_t it = { p, size };
            if (bench_rand(&rng) % keep == 0) {
                if (kept == kept_cap) {
                    kept_cap = kept_cap ? kept_cap * 2 : 256;
                    retained = realloc(retained, kept_cap * sizeof(item_t));
                    if (retained == NULL)
                        bench_fail("realloc returned NULL");
                }
                retained[kept++] = it;
            } else {
                cur[n++] = it;
            }
        }
        /* Free the previous round's transients in a scrambled order: i * 7919 mod n visits
         * every index once because 7919 is prime (and n is not a multiple of it). */
        int scramble = prev_n % 7919 != 0;
        for (size_t i = 0; i < prev_n; i++)
            item_free(&prev[scramble ? i * 7919 % prev_n : i]);
        item_t *tmp = prev;
        prev = cur;
        cur = tmp;
        prev_n = n;
    }
    for (size_t i = 0; i < prev_n; i++)
        item_free(&prev[i]);
    for (size_t i = 0; i < kept; i++)
        item_free(&retained[i]);
    free(retained);
    free(prev);
    free(cur);

    if (atomic_load(&bad_blocks) != 0)
        bench_fail("leak: %zu corrupted blocks", atomic_load(&bad_blocks));
    printf("leak: %zu rounds x %zu objects, %zu retained ok\n", rounds, objects, kept);
    return 0;
}
