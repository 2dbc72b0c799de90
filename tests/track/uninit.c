/* SPDX-License-Identifier: MIT */
/* uninit.c: a branch on a byte of a dog block that was never written. memcheck:
 * "Conditional jump or move depends on uninitialised value(s)". */
#include <stdio.h>
#include <stdlib.h>
#include <dogmalloc.h>

int main(void)
{
    volatile char *p = dog_malloc(32);
    if (p == NULL)
        return EXIT_FAILURE;
    if (p[5] == 42)
        puts("forty-two");
    dog_free((char *)p);
    return EXIT_SUCCESS;
}
