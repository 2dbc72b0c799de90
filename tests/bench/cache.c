/* SPDX-License-Identifier: MIT */
/* cache: false-sharing probes in the style of Hoard's cache-scratch and cache-thrash.
 *
 *   cache scratch|thrash [threads=2] [iterations=4000] [objsize=8] [repetitions=100000]
 *
 * Each thread repeats `iterations` times: malloc an object of `objsize` bytes, write
 * every byte `repetitions` times, free it. Nothing is shared by the program, so any
 * cache-line ping-pong between the threads comes from the allocator placing different
 * threads' objects on one cache line.
 *   thrash   (active false sharing): the threads start from nothing, so an allocator
 *            that hands consecutive small blocks to different threads makes them thrash.
 *   scratch  (passive false sharing): the main thread first mallocs one object per thread
 *            (adjacent in memory) and each thread starts by freeing its object; an
 *            allocator that then reuses that freed block for the thread's own objects
 *            keeps the threads on one line.
 *
 * Self-check: every object must read back what the thread wrote. */
#include "bench.h"

static size_t iterations, objsize, repetitions;
static atomic_size_t bad_objects;

typedef struct worker {
    pthread_t thread;
    void *initial;          /* scratch: the object the main thread allocated for us */
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    free(w->initial);
    size_t bad = 0;
    for (size_t i = 0; i < iterations; i++) {
        volatile unsigned char *p = bench_xmalloc(objsize);
        for (size_t k = 0; k < objsize; k++)
            p[k] = (unsigned char)i;
        for (size_t r = 0; r < repetitions; r++) {
            for (size_t k = 0; k < objsize; k++)
                p[k] = (unsigned char)(p[k] + 1);
        }
        unsigned char want = (unsigned char)(i + repetitions);
        for (size_t k = 0; k < objsize; k++)
            bad += p[k] != want;
        free((void *)p);
    }
    atomic_fetch_add(&bad_objects, bad);
    return NULL;
}

int main(int argc, char **argv)
{
    int scratch;
    if (argc > 1 && strcmp(argv[1], "scratch") == 0)
        scratch = 1;
    else if (argc > 1 && strcmp(argv[1], "thrash") == 0)
        scratch = 0;
    else
        bench_fail("usage: cache scratch|thrash [threads] [iterations] [objsize] [repetitions]");
    size_t nthreads = (size_t)bench_arg(argc, argv, 2, 2);
    iterations = (size_t)bench_arg(argc, argv, 3, 4000);
    objsize = (size_t)bench_arg(argc, argv, 4, 8);
    repetitions = (size_t)bench_arg(argc, argv, 5, 100000);
    if (nthreads == 0 || nthreads > 256 || objsize == 0)
        bench_fail("cache: need 1..256 threads and objsize >= 1");

    worker_t workers[256];
    for (size_t t = 0; t < nthreads; t++)
        workers[t].initial = scratch ? bench_xmalloc(objsize) : NULL;
    for (size_t t = 0; t < nthreads; t++)
        bench_thread(&workers[t].thread, worker_main, &workers[t]);
    for (size_t t = 0; t < nthreads; t++)
        bench_join(workers[t].thread);

    if (atomic_load(&bad_objects) != 0)
        bench_fail("cache: %zu bytes read back wrong", atomic_load(&bad_objects));
    printf("cache %s: %zu threads x %zu objects of %zu bytes ok\n", argv[1], nthreads,
           iterations, objsize);
    return 0;
}
