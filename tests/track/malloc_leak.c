/* SPDX-License-Identifier: MIT */
/* malloc_leak.c: plain malloc, for the override: run with LD_PRELOAD of
 * build-valgrind/libdogmalloc-override.so and valgrind --soname-synonyms=somalloc=NONE,
 * memcheck reports the block "definitely lost" with malloc and dog_malloc in its stack. */
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

int main(void)
{
    char *p = malloc(100);
    if (p == NULL)
        return EXIT_FAILURE;
    memset(p, 1, 100);
    sink = p;
    sink = NULL;
    return EXIT_SUCCESS;
}
