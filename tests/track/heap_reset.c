/* SPDX-License-Identifier: MIT */
/* heap_reset.c: a write into a block of a heap after dog_heap_reset. memcheck:
 * "Invalid write", inside a block free'd by dog_heap_reset; ASan: use-after-poison. */
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
    dog_heap_reset(h);      /* the heap stays, and keeps the block's page warm */
    p[10] = 1;
    return EXIT_SUCCESS;
}
