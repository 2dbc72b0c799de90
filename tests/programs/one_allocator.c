/* SPDX-License-Identifier: MIT */
/* one_allocator.c: a program linked against libdogmalloc.so and run with
 * libdogmalloc-override.so preloaded sees one allocator: malloc() hands out blocks of
 * dog_default, dog_heap_of() says so, dog_free() takes them, free() takes blocks
 * from dog_malloc() and from explicit heaps, and a thread routed to an explicit heap
 * (dog_thread_set_heap) gets its malloc() blocks from that heap.
 *
 * Usage: one_allocator dog    (run with LD_PRELOAD=libdogmalloc-override.so)
 *        one_allocator base   (run without it: malloc is the C library's, and
 *                              dog_heap_of() must answer NULL for its blocks)
 * Prints the same lines in both modes when all is well; exit status 0.
 */
#define _GNU_SOURCE
#include <dogmalloc.h>

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define EXPECT(cond)                                                                     \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "one_allocator: %s:%d: expected %s\n", __FILE__, __LINE__,  \
                    #cond);                                                              \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

/* Every entry point of the C library's malloc family, checked against dog_heap_of(). */
static void libc_blocks_are_dogmalloc(int preloaded)
{
    dog_heap_t *want = preloaded ? dog_default : NULL;
    void *blocks[14];
    size_t n = 0;
    blocks[n++] = malloc(100);
    blocks[n++] = malloc(0);
    blocks[n++] = calloc(10, 1000);
    blocks[n++] = realloc(NULL, 5000);
    blocks[n++] = malloc(3u << 20);                     /* huge */
    blocks[n++] = aligned_alloc(4096, 8192);
    blocks[n++] = memalign(256, 300);
    blocks[n++] = strdup("a string copied by the C library");
    blocks[n++] = strndup("a string cut short", 8);
    blocks[n++] = reallocarray(NULL, 10, 30);
    blocks[n++] = valloc(100);
    blocks[n++] = pvalloc(100);
    if (posix_memalign(&blocks[n], 64, 640) == 0)
        n++;
    else
        EXPECT(!"posix_memalign failed");
    blocks[n++] = valloc(100);
    for (size_t i = 0; i < n; i++) {
        EXPECT(blocks[i] != NULL);
        EXPECT(dog_heap_of(blocks[i]) == want);
    }
    if (preloaded) {
        /* Blocks from malloc() go to dog_free(), and their sizes agree. */
        for (size_t i = 0; i < n; i++) {
            EXPECT(dog_usable_size(blocks[i]) == malloc_usable_size(blocks[i]));
            if (i % 2)
                dog_free(blocks[i]);
            else
                free(blocks[i]);
        }
    } else {
        for (size_t i = 0; i < n; i++)
            free(blocks[i]);
    }
    printf("malloc family: %zu blocks checked\n", n);
}

/* Blocks from dog_malloc() and from explicit heaps are freed by free(). */
static void dog_blocks_go_to_free(int preloaded)
{
    void *p = dog_malloc(200);
    EXPECT(p != NULL && dog_heap_of(p) == dog_default);
    if (preloaded) {
        EXPECT(malloc_usable_size(p) == dog_usable_size(p));
        p = realloc(p, 100000);                          /* libc realloc of a dog block */
        EXPECT(p != NULL && dog_heap_of(p) == dog_default);
        free(p);
    } else {
        dog_free(p);
    }

    dog_heap_options_t opts = { .name = "one_allocator", .limit = 0 };
    dog_heap_t *h = dog_heap_new(&opts);
    EXPECT(h != NULL);
    void *q = dog_heap_malloc(h, 64);
    void *r = dog_heap_malloc(h, 1u << 20);
    EXPECT(q != NULL && r != NULL);
    EXPECT(dog_heap_of(q) == h && dog_heap_of(r) == h);
    EXPECT(strcmp(dog_heap_name(h), "one_allocator") == 0);
    if (preloaded) {
        free(q);                                         /* free() of an explicit-heap block */
        free(r);
    } else {
        dog_free(q);
        dog_free(r);
    }
    dog_heap_stats_t st;
    EXPECT(dog_heap_stats(h, &st) == 0);
    EXPECT(st.blocks_in_use == 0 && st.allocs == 2 && st.frees == 2);
    dog_heap_destroy(h);
    printf("dog_malloc and heap blocks: freed\n");
}

/* With the thread routed to an explicit heap (dog_thread_set_heap), every entry point of
 * the C library's malloc family allocates from that heap when preloaded; free() returns
 * the blocks to it, and the route ends when restored. */
static void routed_libc_blocks(int preloaded)
{
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "routed" });
    EXPECT(h != NULL);
    EXPECT(dog_thread_set_heap(h) == NULL);
    dog_heap_t *want = preloaded ? h : NULL;
    void *blocks[12];
    size_t n = 0;
    blocks[n++] = malloc(100);
    blocks[n++] = calloc(10, 1000);
    blocks[n++] = realloc(NULL, 5000);
    blocks[n++] = malloc(3u << 20);                     /* huge */
    blocks[n++] = aligned_alloc(4096, 8192);
    blocks[n++] = memalign(256, 300);
    blocks[n++] = strdup("a string copied by the C library");
    blocks[n++] = strndup("a string cut short", 8);
    blocks[n++] = reallocarray(NULL, 10, 30);
    blocks[n++] = valloc(100);
    blocks[n++] = pvalloc(100);
    if (posix_memalign(&blocks[n], 64, 640) == 0)
        n++;
    else
        EXPECT(!"posix_memalign failed");
    for (size_t i = 0; i < n; i++) {
        EXPECT(blocks[i] != NULL);
        EXPECT(dog_heap_of(blocks[i]) == want);
    }
    EXPECT(dog_thread_set_heap(NULL) == h);
    dog_heap_stats_t st;
    EXPECT(dog_heap_stats(h, &st) == 0);
    EXPECT(st.blocks_in_use == (preloaded ? n : 0));
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    EXPECT(dog_heap_stats(h, &st) == 0);
    EXPECT(st.blocks_in_use == 0);
    void *p = malloc(100);                              /* the route has ended */
    EXPECT(dog_heap_of(p) == (preloaded ? dog_default : NULL));
    free(p);
    dog_heap_destroy(h);
    printf("routed malloc family: %zu blocks checked\n", n);
}

/* The statistics of dog_default see malloc() calls when (and only when) preloaded. */
static void default_stats_count_malloc(int preloaded)
{
    dog_heap_stats_t before, after;
    EXPECT(dog_heap_stats(dog_default, &before) == 0);
    void *p[100];
    for (int i = 0; i < 100; i++)
        p[i] = malloc(48);
    EXPECT(dog_heap_stats(dog_default, &after) == 0);
    size_t grew = after.allocs - before.allocs;
    if (preloaded)
        EXPECT(grew >= 100);
    else
        EXPECT(grew == 0);
    for (int i = 0; i < 100; i++)
        free(p[i]);
    errno = 1234;
    free(malloc(10));
    EXPECT(errno == 1234);                               /* free preserves errno */
    printf("dog_default statistics: consistent\n");
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "dog") != 0 && strcmp(argv[1], "base") != 0)) {
        fprintf(stderr, "usage: one_allocator dog|base\n");
        return 2;
    }
    int preloaded = strcmp(argv[1], "dog") == 0;
    EXPECT(dog_version() == DOG_VERSION);
    libc_blocks_are_dogmalloc(preloaded);
    dog_blocks_go_to_free(preloaded);
    routed_libc_blocks(preloaded);
    default_stats_count_malloc(preloaded);
    if (failures != 0) {
        printf("one_allocator: FAILED (%d checks)\n", failures);
        return 1;
    }
    printf("one_allocator: OK\n");
    return 0;
}
