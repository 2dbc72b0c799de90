/* SPDX-License-Identifier: MIT */
/* mstress: mixed-lifetime stress with thread churn, in the style of mimalloc's test-stress.
 *
 *   mstress [threads=4] [rounds=10] [ops=400000]
 *
 * Every round starts `threads` fresh threads. Each does `ops` random steps on a private
 * list of live blocks: allocate (45%), free a random one (35%), grow one with realloc
 * (5%), or swap one with a slot of a process-wide transfer table (15%), whose blocks are
 * later freed by some other thread, often of a later round after their allocating
 * thread has exited. At its end a thread frees its remaining blocks, except that it
 * leaves one in four in the transfer table. Sizes are mostly small (90% up to 256 bytes)
 * with a tail of medium (to 8 KiB), large (to 64 KiB) and rare huge (to 1 MiB) blocks.
 *
 * Self-check: every block carries its size and a tag of its address at the start and the
 * low byte of its size at the end; a mismatch on free or realloc fails the run. */
#include "bench.h"

#define TRANSFER_SLOTS 1024
#define TAG 0x6d73747265737321ULL

static size_t ops_per_thread;
static _Atomic(void *) transfer[TRANSFER_SLOTS];
static atomic_size_t bad_blocks;

static size_t pick_size(uint64_t *rng)
{
    uint64_t r = bench_rand(rng) % 1000;
    if (r < 900)
        return bench_range_log(rng, 16, 256);
    if (r < 990)
        return bench_range_log(rng, 257, 8192);
    if (r < 999)
        return bench_range_log(rng, 8193, 65536);
    return bench_range_log(rng, 65537, 1 << 20);
}

static void block_stamp(unsigned char *p, size_t size)
{
    uint64_t head[2] = { size, TAG ^ (uint64_t)(uintptr_t)p ^ size };
    memcpy(p, head, sizeof(head));
    if (size > sizeof(head))   /* the end byte must not overlap the head */
        p[size - 1] = (unsigned char)size;
}

/* Returns the block's size, or 0 (and counts it) when the block is not intact. */
static size_t block_check(const unsigned char *p)
{
    uint64_t head[2];
    memcpy(head, p, sizeof(head));
    if (head[1] != (TAG ^ (uint64_t)(uintptr_t)p ^ head[0]) || head[0] < 16 ||
        head[0] > ((size_t)1 << 21) ||
        (head[0] > sizeof(head) && p[head[0] - 1] != (unsigned char)head[0])) {
        atomic_fetch_add(&bad_blocks, 1);
        return 0;
    }
    return head[0];
}

static void block_free(void *p)
{
    if (p == NULL)
        return;
    if (block_check(p) != 0)
        memset(p, 0xdd, 16);    /* a double free would fail the next check */
    free(p);
}

static void *block_new(uint64_t *rng)
{
    size_t size = pick_size(rng);
    unsigned char *p = bench_xmalloc(size);
    block_stamp(p, size);
    return p;
}

static void *worker_main(void *arg)
{
    uint64_t rng = bench_seed((uintptr_t)arg);
    size_t cap = 1024, n = 0;
    void **live = bench_xmalloc(cap * sizeof(void *));
    for (size_t i = 0; i < ops_per_thread; i++) {
        uint64_t r = bench_rand(&rng) % 100;
        if (r < 45 || n == 0) {
            if (n == cap) {
                cap *= 2;
                live = realloc(live, cap * sizeof(void *));
                if (live == NULL)
                    bench_fail("realloc returned NULL");
            }
            live[n++] = block_new(&rng);
        } else if (r < 80) {
            size_t k = (size_t)(bench_rand(&rng) % n);
            block_free(live[k]);
            live[k] = live[--n];
        } else if (r < 85) {
            size_t k = (size_t)(bench_rand(&rng) % n);
            size_t old = block_check(live[k]);
            if (old == 0 || old > ((size_t)1 << 20))
                continue;
            size_t size = old + bench_range(&rng, 1, old < 4096 ? old : 4096);
            unsigned char *p = realloc(live[k], size);
            if (p == NULL)
                bench_fail("realloc(%zu) returned NULL", size);
            block_stamp(p, size);
            live[k] = p;
        } else {
            size_t k = (size_t)(bench_rand(&rng) % n);
            size_t x = (size_t)(bench_rand(&rng) % TRANSFER_SLOTS);
            void *got = atomic_exchange(&transfer[x], live[k]);
            if (got != NULL)
                live[k] = got;
            else
                live[k] = live[--n];
        }
    }
    /* Leave one block in four behind for a later thread, free the rest. */
    for (size_t k = 0; k < n; k++) {
        if ((bench_rand(&rng) & 3) == 0) {
            size_t x = (size_t)(bench_rand(&rng) % TRANSFER_SLOTS);
            block_free(atomic_exchange(&transfer[x], live[k]));
        } else {
            block_free(live[k]);
        }
    }
    free(live);
    return NULL;
}

int main(int argc, char **argv)
{
    size_t nthreads = (size_t)bench_arg(argc, argv, 1, 4);
    size_t rounds = (size_t)bench_arg(argc, argv, 2, 10);
    ops_per_thread = (size_t)bench_arg(argc, argv, 3, 400000);
    if (nthreads == 0 || nthreads > 256)
        bench_fail("mstress: need 1..256 threads");

    pthread_t threads[256];
    for (size_t round = 0; round < rounds; round++) {
        for (size_t t = 0; t < nthreads; t++)
            bench_thread(&threads[t], worker_main, (void *)(uintptr_t)(round * 1000 + t + 1));
        for (size_t t = 0; t < nthreads; t++)
            bench_join(threads[t]);
    }
    for (size_t x = 0; x < TRANSFER_SLOTS; x++)
        block_free(atomic_load(&transfer[x]));

    if (atomic_load(&bad_blocks) != 0)
        bench_fail("mstress: %zu corrupted blocks", atomic_load(&bad_blocks));
    printf("mstress: %zu rounds x %zu threads x %zu ops ok\n", rounds, nthreads, ops_per_thread);
    return 0;
}
