/* SPDX-License-Identifier: MIT */
/* read_after_free.c: a read of a dog block after dog_free. memcheck: "Invalid read",
 * inside a block free'd by dog_free; ASan: use-after-poison. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dogmalloc.h>

int main(void)
{
    volatile char *p = dog_malloc(64);
    if (p == NULL)
        return EXIT_FAILURE;
    memset((char *)p, 7, 64);
    dog_free((char *)p);
    printf("read after free: %d\n", p[8]);
    return EXIT_SUCCESS;
}
