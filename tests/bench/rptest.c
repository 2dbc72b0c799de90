/* SPDX-License-Identifier: MIT */
/* rptest: random sizes up to 32 KiB across threads, in the style of rpmalloc's benchmark.
 *
 *   rptest [threads=2] [ops=6000000] [slots=4096] [max=32768]
 *
 * Each thread keeps `slots` live blocks and does `ops` replacements of a random one with
 * a block of a log-uniform random size in [16, max] (as many blocks of 16-31 bytes as of
 * 16-32 KiB), writing both ends. Every 256 replacements it hands 32 live blocks to the
 * next thread's inbox and frees what other threads handed to it, so about one free in
 * nine is remote.
 *
 * Self-check: each block carries its size and a tag of its address at the start and the
 * low byte of its size at the end. */
#include "bench.h"

#define TAG 0x7270746573742121ULL
#define INBOX_MAX 4096
#define HANDOFF_EVERY 256
#define HANDOFF_COUNT 32

typedef struct worker {
    pthread_t thread;
    size_t index;
    pthread_mutex_t mutex;
    size_t inbox_len;
    void *inbox[INBOX_MAX];
} worker_t;

static size_t nthreads, ops_per_thread, nslots, max_size;
static worker_t *workers;
static atomic_size_t bad_blocks;

static void *block_new(uint64_t *rng)
{
    size_t size = bench_range_log(rng, 16, max_size);
    unsigned char *p = bench_xmalloc(size);
    uint64_t head[2] = { size, TAG ^ (uint64_t)(uintptr_t)p ^ size };
    memcpy(p, head, sizeof(head));
    if (size > sizeof(head))   /* the end byte must not overlap the head */
        p[size - 1] = (unsigned char)size;
    return p;
}

static void block_free(void *block)
{
    unsigned char *p = block;
    uint64_t head[2];
    memcpy(head, p, sizeof(head));
    if (head[1] != (TAG ^ (uint64_t)(uintptr_t)p ^ head[0]) || head[0] > max_size ||
        (head[0] > sizeof(head) && p[head[0] - 1] != (unsigned char)head[0]))
        atomic_fetch_add(&bad_blocks, 1);
    else
        memset(p, 0xdd, sizeof(head));
    free(block);
}

/* Free everything other threads handed to w. Swaps the inbox out under the lock. */
static void inbox_drain(worker_t *w, void **scratch)
{
    pthread_mutex_lock(&w->mutex);
    size_t n = w->inbox_len;
    memcpy(scratch, w->inbox, n * sizeof(void *));
    w->inbox_len = 0;
    pthread_mutex_unlock(&w->mutex);
    for (size_t i = 0; i < n; i++)
        block_free(scratch[i]);
}

static void *worker_main(void *arg)
{
    worker_t *self = arg;
    worker_t *next = &workers[(self->index + 1) % nthreads];
    uint64_t rng = bench_seed(self->index + 1);
    void **slots = bench_xmalloc(nslots * sizeof(void *));
    void **scratch = bench_xmalloc(INBOX_MAX * sizeof(void *));
    for (size_t i = 0; i < nslots; i++)
        slots[i] = block_new(&rng);

    for (size_t i = 1; i <= ops_per_thread; i++) {
        size_t k = (size_t)(bench_rand(&rng) % nslots);
        block_free(slots[k]);
        slots[k] = block_new(&rng);
        if (i % HANDOFF_EVERY != 0 || nthreads == 1)
            continue;
        pthread_mutex_lock(&next->mutex);
        for (size_t h = 0; h < HANDOFF_COUNT && next->inbox_len < INBOX_MAX; h++) {
            k = (size_t)(bench_rand(&rng) % nslots);
            next->inbox[next->inbox_len++] = slots[k];
            slots[k] = block_new(&rng);
        }
        pthread_mutex_unlock(&next->mutex);
        inbox_drain(self, scratch);
    }
    for (size_t i = 0; i < nslots; i++)
        block_free(slots[i]);
    free(slots);
    free(scratch);
    return NULL;
}

int main(int argc, char **argv)
{
    nthreads = (size_t)bench_arg(argc, argv, 1, 2);
    ops_per_thread = (size_t)bench_arg(argc, argv, 2, 6000000);
    nslots = (size_t)bench_arg(argc, argv, 3, 4096);
    max_size = (size_t)bench_arg(argc, argv, 4, 32768);
    if (nthreads == 0 || nthreads > 256 || nslots == 0 || max_size < 16)
        bench_fail("rptest: need 1..256 threads, slots >= 1 and max >= 16");

    workers = bench_xmalloc(nthreads * sizeof(worker_t));
    for (size_t t = 0; t < nthreads; t++) {
        workers[t].index = t;
        workers[t].inbox_len = 0;
        pthread_mutex_init(&workers[t].mutex, NULL);
    }
    for (size_t t = 0; t < nthreads; t++)
        bench_thread(&workers[t].thread, worker_main, &workers[t]);
    for (size_t t = 0; t < nthreads; t++)
        bench_join(workers[t].thread);
    for (size_t t = 0; t < nthreads; t++) {
        for (size_t i = 0; i < workers[t].inbox_len; i++)
            block_free(workers[t].inbox[i]);
    }
    free(workers);

    if (atomic_load(&bad_blocks) != 0)
        bench_fail("rptest: %zu corrupted blocks", atomic_load(&bad_blocks));
    printf("rptest: %zu threads x %zu ops ok\n", nthreads, ops_per_thread);
    return 0;
}
