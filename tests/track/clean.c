/* SPDX-License-Identifier: MIT */
/* clean.c: correct use of every allocation path, under memcheck (0 errors, nothing lost)
 * and ASan (no report): small and huge blocks, calloc, realloc that grows and shrinks in
 * place and by moving, aligned blocks, the usable size's slack, blocks freed by another
 * thread, enough blocks to fill and flush thread caches, a heap reset and then destroyed
 * with blocks still live, dog_trim. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dogmalloc.h>

#define N 3000

static void *blocks[N];

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "clean: %s\n", what);
        exit(EXIT_FAILURE);
    }
}

static void *free_all(void *arg)
{
    (void)arg;
    for (int i = 0; i < N; i += 2)
        dog_free(blocks[i]);
    return NULL;
}

int main(void)
{
    /* Many small blocks of many sizes: caches fill, flush, refill. */
    for (int i = 0; i < N; i++) {
        size_t size = 1 + (size_t)(i * 37) % 3000;
        blocks[i] = dog_malloc(size);
        check(blocks[i] != NULL, "malloc");
        memset(blocks[i], i & 0xff, size);
    }
    pthread_t t;        /* half of them freed by another thread (thread free lists) */
    check(pthread_create(&t, NULL, free_all, NULL) == 0, "pthread_create");
    check(pthread_join(t, NULL) == 0, "pthread_join");
    for (int i = 1; i < N; i += 2)
        dog_free(blocks[i]);

    /* calloc is zero, small and huge; the slack after dog_usable_size is ours. */
    unsigned char *z = dog_calloc(100, 3);
    check(z != NULL && z[299] == 0, "calloc");
    size_t usable = dog_usable_size(z);
    check(usable >= 300, "usable");
    memset(z, 1, usable);
    dog_free(z);
    unsigned char *zh = dog_calloc(1, 300000);
    check(zh != NULL && zh[299999] == 0, "huge calloc");
    dog_free(zh);

    /* realloc: in place, to a larger class, to huge, a huge one grown and shrunk. */
    char *r = dog_malloc(40);
    check(r != NULL, "malloc 40");
    memcpy(r, "0123456789", 11);
    r = dog_realloc(r, 44);
    r = dog_realloc(r, 5000);
    check(r != NULL && strcmp(r, "0123456789") == 0, "realloc grow");
    r = dog_realloc(r, 200000);
    r = dog_realloc(r, 3000000);
    check(r != NULL && strcmp(r, "0123456789") == 0, "realloc huge");
    memset(r + 11, 2, 3000000 - 11);
    r = dog_realloc(r, 100000);
    r = dog_realloc(r, 20);
    check(r != NULL && strcmp(r, "0123456789") == 0, "realloc shrink");
    dog_free(r);
    void *ra = dog_reallocarray(NULL, 10, 10);
    check(ra != NULL, "reallocarray");
    memset(ra, 0, 100);
    dog_free_sized(ra, 100);

    /* Aligned blocks. */
    void *a = dog_aligned_alloc(256, 300), *b = NULL;
    check(a != NULL && ((size_t)a & 255) == 0, "aligned_alloc");
    memset(a, 5, 300);
    check(dog_posix_memalign(&b, 1 << 20, 100) == 0 && b != NULL, "posix_memalign");
    memset(b, 6, 100);
    dog_free(a);
    dog_free(b);

    /* A heap destroyed with its blocks live: they are all freed at once. */
    dog_heap_t *h = dog_heap_new(NULL);
    check(h != NULL, "heap_new");
    for (int i = 0; i < 500; i++) {
        char *p = dog_heap_malloc(h, 16 + (size_t)i);
        check(p != NULL, "heap_malloc");
        memset(p, 1, 16 + (size_t)i);
        if (i % 3 == 0)
            dog_free(p);
    }
    char *big = dog_heap_malloc(h, 1 << 20);
    check(big != NULL, "heap huge");
    big[0] = 1;
    /* Reset with its blocks live, then used again: its warm pages hand blocks out anew. */
    dog_heap_reset(h);
    for (int i = 0; i < 500; i++) {
        char *p = dog_heap_malloc(h, 16 + (size_t)i);
        check(p != NULL, "heap_malloc after reset");
        memset(p, 2, 16 + (size_t)i);
        if (p[i % 16] != 2)
            return EXIT_FAILURE;
        if (i % 2 == 0)
            dog_free(p);
    }
    big = dog_heap_malloc(h, 1 << 20);
    check(big != NULL, "heap huge after reset");
    big[0] = 1;
    dog_heap_destroy(h);

    dog_trim();
    puts("clean: ok");
    return EXIT_SUCCESS;
}
