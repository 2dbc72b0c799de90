/* SPDX-License-Identifier: MIT */
/* lifecycle: allocation at every stage of a process's life, for the override: in a
 * constructor before main, in threads that exit with blocks still in flight and that
 * allocate in their thread-specific-data destructors, in an atexit handler, and in a
 * destructor after it. Every block carries a pattern checked before it is freed; the
 * output is the same with any correct malloc. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct node {
    struct node *next;
    size_t size;
    unsigned char data[];
} node_t;

static node_t *early;               /* allocated before main, freed at exit */
static pthread_key_t key;
static void *handed[8][64];          /* blocks threads leave behind for main to free */
static int failures;

static node_t *node_new(size_t size, node_t *next)
{
    node_t *n = malloc(sizeof *n + size);
    if (n == NULL) {
        failures++;
        return next;
    }
    n->next = next;
    n->size = size;
    memset(n->data, (int)(size & 0xff), size);
    return n;
}

static void list_free(node_t *n, const char *where)
{
    while (n != NULL) {
        node_t *next = n->next;
        for (size_t i = 0; i < n->size; i += 97)
            if (n->data[i] != (unsigned char)(n->size & 0xff)) {
                fprintf(stderr, "lifecycle: block of %zu bytes corrupted (%s)\n", n->size, where);
                failures++;
                break;
            }
        free(n);
        n = next;
    }
}

static node_t *list_new(unsigned count, unsigned seed)
{
    node_t *list = NULL;
    for (unsigned i = 0; i < count; i++)
        list = node_new(i % 50 == 0 ? 100000 + i : (i * seed) % 3000 + 1, list);
    return list;
}

__attribute__((constructor)) static void before_main(void)
{
    early = list_new(1000, 7);
}

static void tsd_destructor(void *p)
{
    list_free(list_new(100, 13), "TSD destructor");   /* malloc while the thread exits */
    list_free(p, "TSD value");
}

static void *thread_main(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    pthread_setspecific(key, list_new(200, id + 3));
    node_t *mine = list_new(500, id + 11);
    for (int i = 0; i < 64; i++)
        handed[id][i] = node_new((size_t)(id * 64 + i) % 5000 + 1, NULL);
    list_free(mine, "thread");
    return NULL;                     /* the handed blocks stay in flight */
}

static void at_exit(void)
{
    list_free(list_new(300, 5), "atexit");
    list_free(early, "constructor");
    printf("atexit: %s\n", failures ? "FAILED" : "ok");
    fflush(stdout);
}

__attribute__((destructor)) static void after_main(void)
{
    void *p = malloc(123);
    free(realloc(p, 4567));
    if (failures)
        _exit(1);
}

int main(void)
{
    printf("constructor: %s\n", early != NULL ? "ok" : "FAILED");
    pthread_key_create(&key, tsd_destructor);
    atexit(at_exit);
    pthread_t t[8];
    for (unsigned i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, thread_main, (void *)(uintptr_t)i);
    for (unsigned i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    for (unsigned i = 0; i < 8; i++)
        for (int j = 0; j < 64; j++)
            list_free(handed[i][j], "handed over");
    printf("threads: %s\n", failures ? "FAILED" : "ok");
    fflush(stdout);
    return failures != 0;
}
