/* SPDX-License-Identifier: MIT */
/* heap_destroy.c: a write into a block of a heap after dog_heap_destroy. memcheck:
 * "Invalid write", inside a block free'd by dog_heap_destroy; ASan: use-after-poison. */
#include <stdlib.h>
#include <string.h>
#include <dogmalloc.h>

int main(void)
{
    dog_heap_t *h = dog_heap_new(NULL);
    if (h == NULL)
        return EXIT_FAILURE;
    volatile char *p = dog_heap_malloc(h, 100);
    if (p == NULL)
        return EXIT_FAILURE;
    memset((char *)p, 3, 100);
    dog_heap_destroy(h);
    p[10] = 1;
    return EXIT_SUCCESS;
}
