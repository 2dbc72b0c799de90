/* SPDX-License-Identifier: MIT */
/* requests.c: one heap per worker, reset after every request. A server that builds each
 * request's data (parsed headers, a response being assembled) in a heap of its own frees
 * all of it with one dog_heap_reset() call, and keeps the heap, its name and its budget
 * for the next request.
 *
 * Four workers each serve 2000 requests of a few hundred small blocks and a large body.
 * The figures show what a reset does: nothing in use after it, a few warm pages kept, and
 * the memory the heap maps at a request's peak no higher for the last requests than for
 * the first.
 *
 * Build: cc requests.c $(pkg-config --cflags --libs dogmalloc) -pthread
 */
#include <dogmalloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS  4
#define REQUESTS 2000

typedef struct header { struct header *next; char *name, *value; } header_t;

typedef struct worker {
    dog_heap_t *heap;
    size_t first_peak_kib, last_peak_kib, kept_kib;
    int failed;
} worker_t;

/* Serve request r in heap h: a list of headers and a body, all left for the reset. */
static int serve(dog_heap_t *h, unsigned r)
{
    header_t *list = NULL;
    for (unsigned i = 0; i < 200 + r % 100; i++) {
        header_t *hd = dog_heap_malloc(h, sizeof *hd);
        char name[32], value[64];
        snprintf(name, sizeof name, "X-Header-%u", i);
        snprintf(value, sizeof value, "value %u of request %u", i, r);
        if (hd == NULL || (hd->name = dog_heap_strdup(h, name)) == NULL ||
            (hd->value = dog_heap_strdup(h, value)) == NULL)
            return -1;
        hd->next = list;
        list = hd;
    }
    size_t body_size = 100000 + (r % 7) * 50000;    /* a huge block: above 64 KiB */
    char *body = dog_heap_malloc(h, body_size);
    if (body == NULL)
        return -1;
    size_t off = 0;
    for (header_t *hd = list; hd != NULL && off + 128 < body_size; hd = hd->next)
        off += (size_t)snprintf(body + off, 128, "%s: %s\r\n", hd->name, hd->value);
    return off > 0 ? 0 : -1;
}

static size_t mapped_kib(const dog_heap_t *h)
{
    dog_heap_stats_t st;
    return dog_heap_stats(h, &st) == 0 ? st.bytes_mapped / 1024 : 0;
}

static void *work(void *arg)
{
    worker_t *w = arg;
    for (unsigned r = 0; r < REQUESTS; r++) {
        if (serve(w->heap, r) != 0) {
            w->failed = 1;
            return NULL;
        }
        /* requests repeat their shapes every 700: compare the first 700 with the last */
        size_t kib = mapped_kib(w->heap);
        if (r < 700 && kib > w->first_peak_kib)
            w->first_peak_kib = kib;
        if (r >= REQUESTS - 700 && kib > w->last_peak_kib)
            w->last_peak_kib = kib;
        dog_heap_reset(w->heap);                /* the whole request, at once */
    }
    w->kept_kib = mapped_kib(w->heap);
    return NULL;
}

int main(void)
{
    worker_t w[WORKERS] = { 0 };
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        char name[24];
        snprintf(name, sizeof name, "worker-%d", i);
        w[i].heap = dog_heap_new(&(dog_heap_options_t){ .name = name, .limit = 8 << 20 });
        if (w[i].heap == NULL || pthread_create(&t[i], NULL, work, &w[i]) != 0)
            return EXIT_FAILURE;
    }
    int failed = 0;
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(t[i], NULL);
        dog_heap_stats_t st;
        dog_heap_stats(w[i].heap, &st);
        printf("%s: %d requests; peak mapped %zu KiB over the first 700, %zu KiB over the "
               "last 700; after the last reset %zu blocks in use, %zu KiB kept warm\n",
               dog_heap_name(w[i].heap), REQUESTS, w[i].first_peak_kib, w[i].last_peak_kib,
               st.blocks_in_use, w[i].kept_kib);
        failed |= w[i].failed || st.blocks_in_use != 0 ||
                  w[i].last_peak_kib > w[i].first_peak_kib;
        dog_heap_destroy(w[i].heap);
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
