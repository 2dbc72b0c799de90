/* SPDX-License-Identifier: MIT */
/* asymmetric: the seed's "one producer thread, one consumer thread".
 *
 *   asymmetric [items=10000000]
 *
 * A re-implementation of CarmensPlayground bench/asymmetric.zig in its `c` mode (see
 * ../shared/bench/seed-workloads.md, section 2). The producer mallocs each string
 * "n*n = n^2" (7..32 bytes, no NUL) and appends it to a mutex-protected list; the consumer
 * swaps the list out whole, sums the bytes and frees every string: 100% remote frees in
 * allocation order. The two list buffers ping-pong between the threads and only the
 * producer grows them (malloc 128, then realloc along Zig's ArrayList growth). */
#include "bench.h"

typedef struct slice {
    const char *ptr;
    size_t len;
} slice_t;

typedef struct list {
    slice_t *items;
    size_t len, cap;
} list_t;

/* ThreadSafeQueue: the consumer owns worker_owned, the producer appends to shared. */
static struct {
    list_t worker_owned, shared;
    pthread_mutex_t mutex;
    int waiting;            /* state == .wait */
} queue = { .mutex = PTHREAD_MUTEX_INITIALIZER };

static bench_event_t event;
static const char end_marker[] = "end";     /* a static literal, never freed */
static size_t item_count;
static uint64_t consumer_sum;

/* ArrayListUnmanaged.append: new capacity = cap + cap/2 + 8 until it fits. */
static void list_append(list_t *list, slice_t item)
{
    if (list->len + 1 > list->cap) {
        size_t cap = list->cap;
        do
            cap += cap / 2 + 8;
        while (cap < list->len + 1);
        list->items = list->cap == 0 ? bench_xmalloc(cap * sizeof(slice_t))
                                     : realloc(list->items, cap * sizeof(slice_t));
        if (list->items == NULL)
            bench_fail("realloc returned NULL");
        list->cap = cap;
    }
    list->items[list->len++] = item;
}

/* Returns whether the consumer was waiting, i.e. whether the event must be set. */
static int enqueue(slice_t item)
{
    pthread_mutex_lock(&queue.mutex);
    list_append(&queue.shared, item);
    int was_waiting = queue.waiting;
    queue.waiting = 0;
    pthread_mutex_unlock(&queue.mutex);
    return was_waiting;
}

/* Takes everything queued, or returns 0 (and marks the consumer as waiting). */
static int check(slice_t **batch, size_t *count)
{
    pthread_mutex_lock(&queue.mutex);
    if (queue.shared.len == 0) {
        queue.waiting = 1;
        pthread_mutex_unlock(&queue.mutex);
        return 0;
    }
    list_t tmp = queue.worker_owned;
    queue.worker_owned = queue.shared;
    queue.shared = tmp;
    queue.shared.len = 0;
    pthread_mutex_unlock(&queue.mutex);
    *batch = queue.worker_owned.items;
    *count = queue.worker_owned.len;
    queue.worker_owned.len = 0;
    return 1;
}

static void *producer_main(void *arg)
{
    (void)arg;
    for (size_t n = 0; n < item_count; n++) {
        size_t len;
        char *s = bench_alloc_square(n, &len);
        if (enqueue((slice_t){ s, len }))
            bench_event_set(&event);
    }
    if (enqueue((slice_t){ end_marker, 3 }))
        bench_event_set(&event);
    return NULL;
}

static void *consumer_main(void *arg)
{
    (void)arg;
    uint64_t sum = 0;
    for (;;) {
        bench_event_reset(&event);
        slice_t *batch;
        size_t count;
        while (check(&batch, &count)) {
            for (size_t i = 0; i < count; i++) {
                if (batch[i].ptr == end_marker)
                    goto done;
                const unsigned char *s = (const unsigned char *)batch[i].ptr;
                for (size_t k = 0; k < batch[i].len; k++)
                    sum += s[k];
                free((void *)batch[i].ptr);
            }
        }
        bench_event_wait(&event);
    }
done:
    consumer_sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    item_count = (size_t)bench_arg(argc, argv, 1, 10000000);
    pthread_t producer, consumer;
    bench_thread(&producer, producer_main, NULL);
    bench_thread(&consumer, consumer_main, NULL);
    bench_join(consumer);
    bench_join(producer);
    /* The queue's two buffers are never freed, as in the original. */

    uint64_t want = bench_square_sum(item_count);
    if (consumer_sum != want)
        bench_fail("asymmetric: sum %llu, expected %llu", (unsigned long long)consumer_sum,
                   (unsigned long long)want);
    printf("asymmetric: %zu items, sum %llu ok\n", item_count, (unsigned long long)consumer_sum);
    return 0;
}
