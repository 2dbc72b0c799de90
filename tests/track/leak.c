/* SPDX-License-Identifier: MIT */
/* leak.c: a dog_malloc(100) block that nothing points to at exit. memcheck: "definitely
 * lost" with dog_malloc in the allocation stack. */
#include <stdlib.h>
#include <string.h>
#include <dogmalloc.h>

static void *volatile sink;

int main(void)
{
    char *p = dog_malloc(100);
    if (p == NULL)
        return EXIT_FAILURE;
    memset(p, 1, 100);
    sink = p;
    sink = NULL;        /* the only reference is gone */
    return EXIT_SUCCESS;
}
