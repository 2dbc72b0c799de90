/* SPDX-License-Identifier: MIT */
/* larson: a server simulation in the style of Larson and Krishnan's benchmark.
 *
 *   larson [threads=2] [generations=40] [ops=1000000] [slots=1000] [min=16] [max=1000]
 *
 * Each of `threads` lineages owns an array of `slots` live blocks of random sizes in
 * [min, max]. A thread of a lineage replaces `ops` random blocks (free one, malloc a new
 * one, write to it), then starts its successor thread with the same array and exits, for
 * `generations` threads per lineage: every block a thread frees was allocated by an
 * earlier thread, often one that has already exited. One replacement in 16 also swaps the
 * new block with a slot of a shared exchange table, so blocks move between lineages
 * while they are live. The main thread allocates the first blocks of every lineage.
 *
 * Self-check: every block carries its size and a tag at both ends; a mismatch at free
 * time (a block handed out twice, or overwritten) fails the run. */
#include "bench.h"

#define EXCHANGE_SLOTS 256
#define TAG 0x6c6172736f6eULL          /* "larson" */

typedef struct lineage {
    void **slots;
    size_t nslots;
    size_t generation;
    uint64_t rng;
} lineage_t;

static size_t generations, ops_per_thread, min_size, max_size;
static _Atomic(void *) exchange[EXCHANGE_SLOTS];
static atomic_size_t lineages_done, bad_blocks;
static bench_event_t all_done;
static size_t lineage_count;

/* A block starts with (size, tag ^ size) and ends with the low byte of the size. */
static void *block_new(uint64_t *rng)
{
    size_t size = bench_range(rng, min_size, max_size);
    unsigned char *p = bench_xmalloc(size);
    uint64_t head[2] = { size, TAG ^ size };
    memcpy(p, head, sizeof(head));
    if (size > sizeof(head))   /* the end byte must not overlap the head */
        p[size - 1] = (unsigned char)size;
    return p;
}

static void block_free(void *block)
{
    if (block == NULL)
        return;
    unsigned char *p = block;
    uint64_t head[2];
    memcpy(head, p, sizeof(head));
    if (head[1] != (TAG ^ head[0]) || head[0] < min_size || head[0] > max_size ||
        (head[0] > sizeof(head) && p[head[0] - 1] != (unsigned char)head[0]))
        atomic_fetch_add(&bad_blocks, 1);
    else
        memset(p, 0xdd, sizeof(head));  /* a second free of this block fails the check */
    free(block);
}

static void *lineage_main(void *arg);

static void lineage_spawn(lineage_t *l)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int err = pthread_create(&t, &attr, lineage_main, l);
    if (err != 0)
        bench_fail("pthread_create: %s", strerror(err));
    pthread_attr_destroy(&attr);
}

static void *lineage_main(void *arg)
{
    lineage_t *l = arg;
    for (size_t i = 0; i < ops_per_thread; i++) {
        size_t victim = (size_t)(bench_rand(&l->rng) % l->nslots);
        block_free(l->slots[victim]);
        void *block = block_new(&l->rng);
        if ((bench_rand(&l->rng) & 15) == 0) {
            size_t x = (size_t)(bench_rand(&l->rng) % EXCHANGE_SLOTS);
            block = atomic_exchange(&exchange[x], block);
        }
        l->slots[victim] = block;
    }
    if (++l->generation < generations) {
        lineage_spawn(l);   /* the successor inherits every live block */
    } else if (atomic_fetch_add(&lineages_done, 1) + 1 == lineage_count) {
        bench_event_set(&all_done);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    lineage_count = (size_t)bench_arg(argc, argv, 1, 2);
    generations = (size_t)bench_arg(argc, argv, 2, 40);
    ops_per_thread = (size_t)bench_arg(argc, argv, 3, 1000000);
    size_t nslots = (size_t)bench_arg(argc, argv, 4, 1000);
    min_size = (size_t)bench_arg(argc, argv, 5, 16);
    max_size = (size_t)bench_arg(argc, argv, 6, 1000);
    if (lineage_count == 0 || generations == 0 || nslots == 0 || min_size < 16 ||
        max_size < min_size)
        bench_fail("larson: need threads, generations, slots >= 1 and 16 <= min <= max");

    lineage_t *lineages = bench_xmalloc(lineage_count * sizeof(lineage_t));
    for (size_t t = 0; t < lineage_count; t++) {
        lineage_t *l = &lineages[t];
        *l = (lineage_t){ .nslots = nslots, .rng = bench_seed(t + 1) };
        l->slots = bench_xmalloc(nslots * sizeof(void *));
        for (size_t i = 0; i < nslots; i++)
            l->slots[i] = block_new(&l->rng);
    }
    for (size_t t = 0; t < lineage_count; t++)
        lineage_spawn(&lineages[t]);
    bench_event_wait(&all_done);

    for (size_t t = 0; t < lineage_count; t++) {
        for (size_t i = 0; i < nslots; i++)
            block_free(lineages[t].slots[i]);
        free(lineages[t].slots);
    }
    for (size_t x = 0; x < EXCHANGE_SLOTS; x++)
        block_free(atomic_load(&exchange[x]));
    free(lineages);

    if (atomic_load(&bad_blocks) != 0)
        bench_fail("larson: %zu corrupted blocks", atomic_load(&bad_blocks));
    printf("larson: %zu lineages x %zu threads x %zu ops ok\n", lineage_count, generations,
           ops_per_thread);
    return 0;
}
