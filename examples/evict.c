/* SPDX-License-Identifier: MIT */
/* evict.c: a cache whose heap calls it back when its budget is reached, so it evicts
 * instead of failing; the budget then changes at run time, and every heap shows in one
 * table and as JSON.
 * Build: cc evict.c $(pkg-config --cflags --libs dogmalloc)
 */
#include <dogmalloc.h>
#include <stdio.h>
#include <stdlib.h>

enum { SLOTS = 4096, ENTRY = 3000 };
static void *slot[SLOTS];
static size_t oldest, newest, evictions;

/* Called with no lock held when an allocation would exceed the budget: free the older
 * half of the entries and ask for one more try (0 would let the NULL through). */
static int evict(dog_heap_t *heap, size_t request, void *arg)
{
    (void)heap, (void)request, (void)arg;
    size_t half = (newest - oldest + 1) / 2;
    for (size_t i = 0; i < half; i++)
        dog_free(slot[oldest++ % SLOTS]);
    evictions++;
    return half > 0;
}

int main(void)
{
    dog_heap_t *cache = dog_heap_new(&(dog_heap_options_t){
        .name = "cache", .limit = 2u << 20, .on_limit = evict });
    if (cache == NULL)
        return EXIT_FAILURE;
    for (int i = 0; i < 20000; i++) {           /* 60 MB of entries through a 2 MiB budget */
        if (newest - oldest == SLOTS)
            dog_free(slot[oldest++ % SLOTS]);
        if ((slot[newest++ % SLOTS] = dog_heap_malloc(cache, ENTRY)) == NULL)
            return EXIT_FAILURE;                /* never: the handler makes room */
    }
    printf("20000 inserts, %zu evictions, %zu entries live\n", evictions, newest - oldest);

    if (dog_heap_set_limit(cache, 8u << 20) != 0)   /* more room from now on */
        return EXIT_FAILURE;
    dog_stats_print_all(stdout);                /* every heap: in use, peak, mapped, limit */
    char json[512];
    if (dog_heap_stats_json(cache, json, sizeof json) >= (int)sizeof json)
        return EXIT_FAILURE;
    printf("%s\n", json);
    dog_heap_destroy(cache);
    return evictions > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
