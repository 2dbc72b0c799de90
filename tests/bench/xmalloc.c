/* SPDX-License-Identifier: MIT */
/* xmalloc: producer/consumer threads in the style of Lever and Boreham's xmalloc-test.
 *
 *   xmalloc [producers=2] [consumers=2] [blocks=16000000] [batch=256] [min=8] [max=256]
 *
 * Each producer mallocs `blocks` blocks of random sizes in [min, max], writes a tag into
 * each and hands them over in malloc'd batches of `batch` pointers through one
 * mutex-protected queue (at most 64 batches in flight); consumers check and free every
 * block and the batch itself. All frees are remote, from several threads into blocks of
 * several others, in batches: the pattern of a request pipeline.
 *
 * Self-check: each block's first word is a tag of its address and size; every block must
 * come back intact exactly once. */
#include "bench.h"

#define TAG 0x786d616c6c6f63ULL          /* "xmalloc" */
#define MAX_IN_FLIGHT 64

typedef struct batch {
    struct batch *next;
    size_t count;
    struct { void *p; size_t size; } items[];
} batch_t;

static struct {
    pthread_mutex_t mutex;
    pthread_cond_t not_empty, not_full;
    batch_t *head, *tail;
    size_t queued;
    size_t producers_left;
} queue = { .mutex = PTHREAD_MUTEX_INITIALIZER, .not_empty = PTHREAD_COND_INITIALIZER,
            .not_full = PTHREAD_COND_INITIALIZER };

static size_t blocks_per_producer, batch_size, min_size, max_size;
static atomic_size_t freed, bad_blocks;

static inline uint64_t tag_of(const void *p, size_t size)
{
    return TAG ^ (uint64_t)(uintptr_t)p ^ ((uint64_t)size << 48);
}

static void queue_put(batch_t *b)
{
    pthread_mutex_lock(&queue.mutex);
    while (queue.queued == MAX_IN_FLIGHT)
        pthread_cond_wait(&queue.not_full, &queue.mutex);
    b->next = NULL;
    if (queue.tail != NULL)
        queue.tail->next = b;
    else
        queue.head = b;
    queue.tail = b;
    queue.queued++;
    pthread_cond_signal(&queue.not_empty);
    pthread_mutex_unlock(&queue.mutex);
}

/* Returns NULL once every producer has finished and the queue is empty. */
static batch_t *queue_take(void)
{
    pthread_mutex_lock(&queue.mutex);
    while (queue.head == NULL && queue.producers_left > 0)
        pthread_cond_wait(&queue.not_empty, &queue.mutex);
    batch_t *b = queue.head;
    if (b != NULL) {
        queue.head = b->next;
        if (queue.head == NULL)
            queue.tail = NULL;
        queue.queued--;
        pthread_cond_signal(&queue.not_full);
    }
    pthread_mutex_unlock(&queue.mutex);
    return b;
}

static void *producer_main(void *arg)
{
    uint64_t rng = bench_seed((uintptr_t)arg);
    batch_t *b = NULL;
    for (size_t i = 0; i < blocks_per_producer; i++) {
        if (b == NULL) {
            b = bench_xmalloc(sizeof(batch_t) + batch_size * sizeof(b->items[0]));
            b->count = 0;
        }
        size_t size = bench_range(&rng, min_size, max_size);
        void *p = bench_xmalloc(size);
        uint64_t tag = tag_of(p, size);
        memcpy(p, &tag, sizeof(tag));
        b->items[b->count].p = p;
        b->items[b->count].size = size;
        if (++b->count == batch_size) {
            queue_put(b);
            b = NULL;
        }
    }
    if (b != NULL)
        queue_put(b);
    pthread_mutex_lock(&queue.mutex);
    if (--queue.producers_left == 0)
        pthread_cond_broadcast(&queue.not_empty);
    pthread_mutex_unlock(&queue.mutex);
    return NULL;
}

static void *consumer_main(void *arg)
{
    (void)arg;
    batch_t *b;
    size_t count = 0;
    while ((b = queue_take()) != NULL) {
        for (size_t i = 0; i < b->count; i++) {
            uint64_t tag;
            memcpy(&tag, b->items[i].p, sizeof(tag));
            if (tag != tag_of(b->items[i].p, b->items[i].size))
                atomic_fetch_add(&bad_blocks, 1);
            free(b->items[i].p);
        }
        count += b->count;
        free(b);
    }
    atomic_fetch_add(&freed, count);
    return NULL;
}

int main(int argc, char **argv)
{
    size_t producers = (size_t)bench_arg(argc, argv, 1, 2);
    size_t consumers = (size_t)bench_arg(argc, argv, 2, 2);
    blocks_per_producer = (size_t)bench_arg(argc, argv, 3, 16000000);
    batch_size = (size_t)bench_arg(argc, argv, 4, 256);
    min_size = (size_t)bench_arg(argc, argv, 5, 8);
    max_size = (size_t)bench_arg(argc, argv, 6, 256);
    if (producers == 0 || consumers == 0 || producers > 64 || consumers > 64 ||
        batch_size == 0 || min_size < 8 || max_size < min_size)
        bench_fail("xmalloc: need 1..64 threads of each kind, batch >= 1, 8 <= min <= max");

    queue.producers_left = producers;
    pthread_t tp[64], tc[64];
    for (size_t i = 0; i < consumers; i++)
        bench_thread(&tc[i], consumer_main, NULL);
    for (size_t i = 0; i < producers; i++)
        bench_thread(&tp[i], producer_main, (void *)(uintptr_t)(i + 1));
    for (size_t i = 0; i < producers; i++)
        bench_join(tp[i]);
    for (size_t i = 0; i < consumers; i++)
        bench_join(tc[i]);

    if (atomic_load(&bad_blocks) != 0)
        bench_fail("xmalloc: %zu corrupted blocks", atomic_load(&bad_blocks));
    if (atomic_load(&freed) != producers * blocks_per_producer)
        bench_fail("xmalloc: %zu blocks freed, expected %zu", atomic_load(&freed),
                   producers * blocks_per_producer);
    printf("xmalloc: %zu producers x %zu blocks -> %zu consumers ok\n", producers,
           blocks_per_producer, consumers);
    return 0;
}
