/* SPDX-License-Identifier: MIT */
/* routing.c: library code that knows nothing of heaps, accounted and budgeted in one.
 *
 * legacy_join stands for third-party code: it allocates with the global allocator
 * (dog_malloc here, malloc under the override). Routed with dog_thread_set_heap, its
 * blocks land in the heap "plugin", whose statistics count them and whose 1 MiB budget
 * stops a runaway request with NULL and ENOMEM while the rest of the program carries on.
 * Routed blocks belong to the heap: free them, or let the heap go, before destroying it.
 * Build: cc routing.c $(pkg-config --cflags --libs dogmalloc)
 */
#include <dogmalloc.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *legacy_join(const char *word, size_t times)
{
    size_t n = strlen(word);
    char *s = dog_malloc(n * times + 1);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * n, word, n);
    s[n * times] = '\0';
    return s;
}

int main(void)
{
    dog_heap_t *plugin = dog_heap_new(&(dog_heap_options_t){ .name = "plugin",
                                                              .limit = 1 << 20 });
    if (plugin == NULL)
        return EXIT_FAILURE;
    dog_heap_t *saved = dog_thread_set_heap(plugin);    /* the plugin's calls start */
    char *small = legacy_join("ab", 1000);
    char *huge = legacy_join("ab", 10u << 20);          /* 20 MiB: over the budget */
    int err = errno;
    dog_thread_set_heap(saved);                         /* and end */

    dog_heap_stats_t st;
    dog_heap_stats(plugin, &st);
    printf("plugin: %zu block of %zu bytes in heap \"%s\"; the 20 MiB request: %s\n",
           st.blocks_in_use, st.bytes_in_use, dog_heap_name(dog_heap_of(small)),
           huge == NULL && err == ENOMEM ? "refused (ENOMEM)" : "allowed?");
    char *mine = legacy_join("ab", 10u << 20);          /* unrouted: dog_default */
    printf("the same request outside the plugin: %s\n", mine != NULL ? "granted" : "failed");
    dog_free(mine);
    dog_free(small);
    dog_heap_destroy(plugin);
    return huge == NULL && mine != NULL ? EXIT_SUCCESS : EXIT_FAILURE;
}
