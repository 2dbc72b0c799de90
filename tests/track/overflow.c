/* SPDX-License-Identifier: MIT */
/* overflow.c: a write one byte past a 16-byte block. memcheck: "Invalid write", 0 bytes
 * after a block of size 16; ASan: use-after-poison. */
#include <stdlib.h>
#include <string.h>
#include <dogmalloc.h>

int main(void)
{
    volatile char *p = dog_malloc(16);
    if (p == NULL)
        return EXIT_FAILURE;
    memset((char *)p, 0, 16);
    volatile size_t past = 16;  /* not a constant: the compiler would warn */
    p[past] = 1;
    dog_free((char *)p);
    return EXIT_SUCCESS;
}
