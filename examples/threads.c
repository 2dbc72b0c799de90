/* SPDX-License-Identifier: MIT */
/* threads.c: allocate on one thread, free on another.
 * A producer thread allocates messages from a heap and queues them; the main thread takes
 * them and frees them with dog_free(), which accepts a block of any heap from any thread.
 * dog_heap_of() tells the consumer which heap each message came from.
 * Build: cc threads.c $(pkg-config --cflags --libs dogmalloc)
 */
#include <dogmalloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

enum { MESSAGES = 100000 };
typedef struct msg { struct msg *next; int seq; char body[100]; } msg_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready = PTHREAD_COND_INITIALIZER;
static msg_t *queue;                        /* a stack is enough for this demo */

static void *producer(void *heap)
{
    for (int i = 0; i < MESSAGES; i++) {
        msg_t *m = dog_heap_malloc(heap, sizeof *m);
        if (m == NULL)
            abort();
        m->seq = i;
        pthread_mutex_lock(&lock);
        m->next = queue;
        queue = m;
        pthread_cond_signal(&ready);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int main(void)
{
    dog_heap_t *heap = dog_heap_new(&(dog_heap_options_t){ .name = "messages" });
    pthread_t thread;
    if (heap == NULL || pthread_create(&thread, NULL, producer, heap) != 0)
        return EXIT_FAILURE;
    size_t from_heap = 0;
    for (int done = 0; done < MESSAGES; done++) {   /* the consumer: this thread */
        pthread_mutex_lock(&lock);
        while (queue == NULL)
            pthread_cond_wait(&ready, &lock);
        msg_t *m = queue;
        queue = m->next;
        pthread_mutex_unlock(&lock);
        from_heap += dog_heap_of(m) == heap;
        dog_free(m);                        /* a remote free: the producer allocated m */
    }
    pthread_join(thread, NULL);

    dog_heap_stats_t st;                    /* the stats call collects pending remote frees */
    dog_heap_stats(heap, &st);
    printf("%d messages allocated on one thread, freed on another; %zu from heap \"%s\"\n",
           MESSAGES, from_heap, dog_heap_name(heap));
    printf("heap \"%s\": allocs %zu, frees %zu, blocks in use %zu\n",
           dog_heap_name(heap), st.allocs, st.frees, st.blocks_in_use);
    dog_heap_destroy(heap);
    return st.blocks_in_use == 0 && from_heap == MESSAGES ? EXIT_SUCCESS : EXIT_FAILURE;
}
