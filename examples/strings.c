/* SPDX-License-Identifier: MIT */
/* strings.c: the everyday helpers on a heap of its own: string copies, zeroed blocks, a
 * buffer that grows in place when it can, aligned reallocation, and ownership tests.
 * Build: cc strings.c $(pkg-config --cflags --libs dogmalloc)
 */
#include <dogmalloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = "strings" });
    char *name = dog_heap_strdup(h, "dogmalloc");
    char *word = dog_heap_strndup(h, "heap SDK", 4);            /* "heap" */
    int *counts = dog_heap_zalloc(h, 26 * sizeof *counts);
    if (h == NULL || name == NULL || word == NULL || counts == NULL)
        return EXIT_FAILURE;
    for (const char *c = name; *c; c++)
        counts[*c - 'a']++;
    printf("\"%s\", \"%s\": two o in the name? %s\n", name, word,
           counts['o' - 'a'] == 2 ? "yes" : "no");

    /* A buffer sized to what its size class holds anyway, then grown in place while it
     * can be; dog_expand never moves it, so pointers into it stay valid. */
    size_t cap = dog_good_size(100);
    char *buf = dog_heap_malloc(h, cap);
    printf("asked for 100, got %zu usable; in place to %zu: %s, to %zu: %s\n", cap, cap,
           dog_expand(buf, cap) ? "yes" : "no", cap + 1, dog_expand(buf, cap + 1) ? "yes" : "no");

    /* The same buffer, now 4 KiB-aligned for a device, contents kept. */
    memcpy(buf, "payload", 8);
    buf = dog_heap_realloc_aligned(h, buf, 8192, 4096);
    if (buf == NULL || (uintptr_t)buf % 4096 != 0 || strcmp(buf, "payload") != 0)
        return EXIT_FAILURE;

    /* Whose is this pointer? Interior pointers count; foreign ones are simply false. */
    int local = 0;
    printf("buf+100 in \"%s\": %d, in dog_default: %d, a stack address: %d\n",
           dog_heap_name(h), dog_heap_contains(h, buf + 100),
           dog_heap_contains(dog_default, buf + 100), dog_heap_contains(h, &local));
    char *copy = dog_strdup(word);                              /* the same on dog_default */
    printf("copy of \"%s\" in dog_default: %d\n", copy, dog_heap_contains(dog_default, copy));
    dog_free(copy);
    dog_heap_destroy(h);                                        /* all the heap's blocks */
    return EXIT_SUCCESS;
}
