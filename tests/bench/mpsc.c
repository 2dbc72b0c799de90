/* SPDX-License-Identifier: MIT */
/* mpsc: the seed's "many producer threads, one consumer thread, fixed-sized ring buffer".
 *
 *   mpsc [items_per_producer=200000] [rss_file] [producers=4] [sample_ms=50]
 *
 * A re-implementation of CarmensPlayground bench/mpsc.zig in its `c` mode (see
 * ../shared/bench/seed-workloads.md, section 3), with the item count as a parameter (the
 * original's 1e9 per producer would take hours). Four producers malloc strings
 * "n*n = n^2" and push them through a 16-slot ring guarded by one mutex and one condition
 * variable; one consumer sums and frees them all: many-to-one remote frees with a tiny
 * live set. A sampler thread records the RSS every sample_ms; the series goes to rss_file
 * and a summary line to stderr, to show whether the RSS stays flat. */
#include "bench.h"

#define RING_CAPACITY 16

typedef struct slice {
    const char *ptr;
    size_t len;
} slice_t;

static struct {
    uint64_t producer_index, consumer_index;
    slice_t *items;
    pthread_mutex_t mutex;
    pthread_cond_t cond;    /* one condition for both directions, as in the original */
} ring = { .mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static const char end_marker[] = "end";
static size_t item_count;

static void ring_push(slice_t x)
{
    pthread_mutex_lock(&ring.mutex);
    while (ring.producer_index - ring.consumer_index == RING_CAPACITY)
        pthread_cond_wait(&ring.cond, &ring.mutex);
    ring.items[ring.producer_index % RING_CAPACITY] = x;
    ring.producer_index++;
    pthread_cond_signal(&ring.cond);
    pthread_mutex_unlock(&ring.mutex);
}

static slice_t ring_pop(void)
{
    pthread_mutex_lock(&ring.mutex);
    while (ring.producer_index == ring.consumer_index)
        pthread_cond_wait(&ring.cond, &ring.mutex);
    slice_t x = ring.items[ring.consumer_index % RING_CAPACITY];
    ring.consumer_index++;
    pthread_cond_signal(&ring.cond);
    pthread_mutex_unlock(&ring.mutex);
    return x;
}

static void *producer_main(void *arg)
{
    (void)arg;
    for (size_t n = 0; n < item_count; n++) {
        size_t len;
        char *s = bench_alloc_square(n, &len);
        ring_push((slice_t){ s, len });
    }
    ring_push((slice_t){ end_marker, 3 });
    return NULL;
}

static size_t producer_count;
static uint64_t consumer_sum;

static void *consumer_main(void *arg)
{
    (void)arg;
    size_t done = 0;
    uint64_t sum = 0;
    while (done < producer_count) {
        slice_t s = ring_pop();
        if (s.ptr == end_marker) {
            done++;
            continue;
        }
        const unsigned char *p = (const unsigned char *)s.ptr;
        for (size_t k = 0; k < s.len; k++)
            sum += p[k];
        free((void *)s.ptr);
    }
    consumer_sum = sum;
    printf("sum: %llu\n", (unsigned long long)sum);
    return NULL;
}

int main(int argc, char **argv)
{
    item_count = (size_t)bench_arg(argc, argv, 1, 200000);
    const char *rss_file = argc > 2 ? argv[2] : NULL;
    producer_count = (size_t)bench_arg(argc, argv, 3, 4);
    int sample_ms = (int)bench_arg(argc, argv, 4, 50);
    if (producer_count == 0 || producer_count > 64)
        bench_fail("mpsc: producers must be 1..64");

    bench_rss_start(sample_ms);
    ring.items = bench_xmalloc(RING_CAPACITY * sizeof(slice_t));
    pthread_t producers[64], consumer;
    for (size_t i = 0; i < producer_count; i++)
        bench_thread(&producers[i], producer_main, NULL);
    bench_thread(&consumer, consumer_main, NULL);
    bench_join(consumer);
    for (size_t i = 0; i < producer_count; i++)
        bench_join(producers[i]);
    free(ring.items);
    bench_rss_stop(rss_file);

    uint64_t want = producer_count * bench_square_sum(item_count);
    if (consumer_sum != want)
        bench_fail("mpsc: sum %llu, expected %llu", (unsigned long long)consumer_sum,
                   (unsigned long long)want);
    return 0;
}
