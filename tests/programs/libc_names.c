/* SPDX-License-Identifier: MIT */
/* libc_names: the glibc-internal and legacy allocation names (__libc_malloc and friends,
 * memalign, valloc, pvalloc; cfree is only a compatibility symbol that new programs cannot
 * link) that glibc itself or old programs call must reach the
 * same allocator as malloc: blocks move freely between the two families. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);

static int fails;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "libc_names: %s\n", what);
        fails++;
    }
}

int main(void)
{
    for (size_t size = 1; size < (1 << 20); size = size * 3 + 1) {
        char *p = __libc_malloc(size);
        memset(p, 0x5a, size);
        p = realloc(p, size * 2);                       /* __libc block, C realloc */
        check(p[size - 1] == 0x5a, "contents after realloc");
        char *q = __libc_realloc(malloc(size), size + 7);
        free(p);                                        /* __libc block, C free */
        __libc_free(q);                                 /* C block, __libc free */
        char *z = __libc_calloc(size, 1);
        check(z[0] == 0 && z[size - 1] == 0, "__libc_calloc zeroes");
        __libc_free(z);
        char *m = __libc_memalign(256, size);
        check(((uintptr_t)m & 255) == 0, "__libc_memalign alignment");
        free(m);
        char *v = valloc(size), *pv = pvalloc(size);
        check(((uintptr_t)v & 4095) == 0 && ((uintptr_t)pv & 4095) == 0, "valloc alignment");
        check(malloc_usable_size(pv) >= ((size + 4095) & ~(size_t)4095), "pvalloc rounds up");
        free(v);
        free(pv);
    }
    puts(fails ? "libc_names: FAILED" : "libc_names: ok");
    return fails != 0;
}
