/* SPDX-License-Identifier: MIT */
/* pairs: the microbenchmark of the fast paths, meant to run under callgrind.
 *
 *   pairs [heap-]same|batch|cross [pairs=1000000] [size=32] [batch=256]
 *
 *   same   malloc(size) then free it at once, on one thread
 *   batch  `batch` mallocs, then their frees in allocation order, on one thread
 *   cross  one thread mallocs batches of `batch`, another frees them (remote frees)
 *   heap-  the same through the preloaded allocator's explicit-heap API, on one heap
 *          made at the start: dog_heap_malloc of dogmalloc or mi_heap_malloc of
 *          mimalloc, found with dlsym; blocks are freed with free. An allocator with
 *          neither exits with status 3 (callgrind.sh prints "-").
 *
 * Every measured call goes through pair_malloc (pair_heap_malloc in the heap- modes) and
 * pair_free, non-inlined wrappers, so that `callgrind_annotate --inclusive=yes` gives the
 * instructions spent inside malloc and free however the threads interleave: instructions
 * per pair = (inclusive - self of the malloc wrapper + inclusive - self of pair_free) /
 * pairs. The loops call the malloc wrapper through a pointer, so that pair_malloc is
 * the same code with or without the heap- modes.
 * A warm-up of the same pattern through direct calls runs first, so one-time costs (lazy
 * binding, the allocator's initialisation, the first pages) stay out of the count. */
#include <dlfcn.h>
#include "bench.h"

#define BATCH_MAX 4096

static size_t nbatch = 256;     /* blocks per batch, at most BATCH_MAX */

/* The heap- modes: the allocator's heap_malloc and the heap, or NULL for malloc. */
static void *(*heap_malloc)(void *heap, size_t size);
static void *heap;

static void *any_malloc(size_t size)
{
    return heap_malloc != NULL ? heap_malloc(heap, size) : malloc(size);
}

/* Find an explicit-heap API in the preloaded allocator and make one heap. */
static int heap_api_open(void)
{
    void *(*heap_new)(const void *) = (void *(*)(const void *))dlsym(RTLD_DEFAULT, "dog_heap_new");
    heap_malloc = (void *(*)(void *, size_t))dlsym(RTLD_DEFAULT, "dog_heap_malloc");
    if (heap_new != NULL && heap_malloc != NULL) {
        heap = heap_new(NULL);
        return heap != NULL;
    }
    void *(*mi_new)(void) = (void *(*)(void))dlsym(RTLD_DEFAULT, "mi_heap_new");
    heap_malloc = (void *(*)(void *, size_t))dlsym(RTLD_DEFAULT, "mi_heap_malloc");
    if (mi_new != NULL && heap_malloc != NULL) {
        heap = mi_new();
        return heap != NULL;
    }
    heap_malloc = NULL;
    return 0;
}

BENCH_NOINLINE void *pair_malloc(size_t size)
{
    void *p = malloc(size);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

BENCH_NOINLINE void *pair_heap_malloc(size_t size)
{
    void *p = heap_malloc(heap, size);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

static void *(*volatile pair_alloc)(size_t) = pair_malloc;

BENCH_NOINLINE void pair_free(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
}

static size_t npairs, size;

/* Direct calls, same shapes: warms the allocator without touching the wrappers. */
static void warm_up(void)
{
    void *a[BATCH_MAX];
    for (size_t i = 0; i < 4 * nbatch; i++) {
        void *p = any_malloc(size);
        __asm__ volatile("" : : "r"(p) : "memory");
        free(p);
    }
    for (int r = 0; r < 4; r++) {
        for (size_t k = 0; k < nbatch; k++)
            if ((a[k] = any_malloc(size)) == NULL)
                bench_fail("pairs: out of memory");
        for (size_t k = 0; k < nbatch; k++)
            free(a[k]);
    }
}

/* --- cross: a two-slot mailbox of batches between the threads --- */

static struct {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    void **full;            /* a batch waiting to be freed, or NULL */
    size_t full_count;
    int done;
} box = { .mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static atomic_int warm_count;

static void *freer_main(void *arg)
{
    (void)arg;
    warm_up();
    atomic_fetch_add(&warm_count, 1);
    void *mine[BATCH_MAX];
    for (;;) {
        pthread_mutex_lock(&box.mutex);
        while (box.full == NULL && !box.done)
            pthread_cond_wait(&box.cond, &box.mutex);
        if (box.full == NULL) {
            pthread_mutex_unlock(&box.mutex);
            break;
        }
        size_t n = box.full_count;
        memcpy(mine, box.full, n * sizeof(void *));
        box.full = NULL;
        pthread_cond_broadcast(&box.cond);
        pthread_mutex_unlock(&box.mutex);
        for (size_t k = 0; k < n; k++)
            pair_free(mine[k]);
    }
    return NULL;
}

static void run_cross(void)
{
    pthread_t freer;
    bench_thread(&freer, freer_main, NULL);
    while (atomic_load(&warm_count) == 0)
        sched_yield();
    void *batch[BATCH_MAX];
    for (size_t done = 0; done < npairs; done += nbatch) {
        size_t n = npairs - done < nbatch ? npairs - done : nbatch;
        for (size_t k = 0; k < n; k++)
            batch[k] = pair_alloc(size);
        pthread_mutex_lock(&box.mutex);
        while (box.full != NULL)
            pthread_cond_wait(&box.cond, &box.mutex);
        box.full = batch;
        box.full_count = n;
        pthread_cond_broadcast(&box.cond);
        /* Wait until the freer has copied the batch out before refilling it. */
        while (box.full != NULL)
            pthread_cond_wait(&box.cond, &box.mutex);
        pthread_mutex_unlock(&box.mutex);
    }
    pthread_mutex_lock(&box.mutex);
    box.done = 1;
    pthread_cond_broadcast(&box.cond);
    pthread_mutex_unlock(&box.mutex);
    bench_join(freer);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strncmp(mode, "heap-", 5) == 0) {
        if (!heap_api_open()) {
            fprintf(stderr, "pairs: the allocator has no explicit-heap API\n");
            return 3;
        }
        mode += 5;
        pair_alloc = pair_heap_malloc;
    }
    npairs = (size_t)bench_arg(argc, argv, 2, 1000000);
    size = (size_t)bench_arg(argc, argv, 3, 32);
    nbatch = (size_t)bench_arg(argc, argv, 4, 256);
    if (nbatch == 0 || nbatch > BATCH_MAX)
        bench_fail("pairs: batch must be 1 .. 4096");
    warm_up();
    if (strcmp(mode, "same") == 0) {
        for (size_t i = 0; i < npairs; i++)
            pair_free(pair_alloc(size));
    } else if (strcmp(mode, "batch") == 0) {
        void *a[BATCH_MAX];
        for (size_t done = 0; done < npairs; done += nbatch) {
            size_t n = npairs - done < nbatch ? npairs - done : nbatch;
            for (size_t k = 0; k < n; k++)
                a[k] = pair_alloc(size);
            for (size_t k = 0; k < n; k++)
                pair_free(a[k]);
        }
    } else if (strcmp(mode, "cross") == 0) {
        run_cross();
    } else {
        bench_fail("usage: pairs [heap-]same|batch|cross [pairs] [size] [batch]");
    }
    printf("pairs %s%s: %zu pairs of %zu bytes (batches of %zu) ok\n", heap_malloc ? "heap-" : "", mode, npairs, size, nbatch);
    return 0;
}
