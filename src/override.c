/* SPDX-License-Identifier: MIT */
/* override.c: the C library's malloc family, forwarded to dog_default. Linked only into
 * libdogmalloc-override.so (LD_PRELOAD, or link it first) and libdogmalloc-override.a
 * (-static programs, linked --whole-archive: docs/override.md), so that unmodified programs,
 * glibc itself (through the __libc_* names) and libstdc++'s operator new all use one
 * allocator. Nothing here calls dlsym or the loader: dogmalloc needs nothing of the
 * allocator it replaces, so start-up cannot recurse. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include "dogmalloc.h"
#include "os.h"

#define OVR __attribute__((visibility("default")))

OVR void *malloc(size_t size)
{
    return dog_malloc(size);
}

OVR void free(void *p)
{
    dog_free(p);
}

OVR void *calloc(size_t count, size_t size)
{
    return dog_calloc(count, size);
}

OVR void *realloc(void *p, size_t size)
{
    return dog_realloc(p, size);
}

OVR void *reallocarray(void *p, size_t count, size_t size)
{
    return dog_reallocarray(p, count, size);
}

OVR void *aligned_alloc(size_t alignment, size_t size)
{
    return dog_aligned_alloc(alignment, size);
}

OVR int posix_memalign(void **out, size_t alignment, size_t size)
{
    return dog_posix_memalign(out, alignment, size);
}

/* glibc's memalign rounds an alignment that is not a power of two up to one. */
OVR void *memalign(size_t alignment, size_t size)
{
    if (alignment & (alignment - 1)) {
        if (alignment > SIZE_MAX / 2) {
            errno = EINVAL;
            return NULL;
        }
        size_t a = 1;
        while (a < alignment)
            a <<= 1;
        alignment = a;
    }
    return dog_aligned_alloc(alignment ? alignment : 1, size);
}

OVR void *valloc(size_t size)
{
    return dog_aligned_alloc(4096, size);
}

OVR void *pvalloc(size_t size)
{
    if (size > SIZE_MAX - 4095) {
        errno = ENOMEM;
        return NULL;
    }
    return dog_aligned_alloc(4096, size ? (size + 4095) & ~(size_t)4095 : 4096);
}

OVR size_t malloc_usable_size(void *p)
{
    return dog_usable_size(p);
}

OVR void free_sized(void *p, size_t size)
{
    dog_free_sized(p, size);
}

OVR void free_aligned_sized(void *p, size_t alignment, size_t size)
{
    (void)alignment;
    dog_free_sized(p, size);
}

OVR int malloc_trim(size_t pad)
{
    (void)pad;
    dog_trim();
    return 1;
}

/* The names glibc calls internally and that old programs use: the same functions. */
#if defined(__clang__)
#define OVR_ALIAS(name) OVR __attribute__((alias(#name)))
#else   /* gcc also wants the target's attributes (malloc, alloc_size, nothrow) copied */
#define OVR_ALIAS(name) OVR __attribute__((alias(#name), copy(name)))
#endif
OVR_ALIAS(malloc) void *__libc_malloc(size_t size);
OVR_ALIAS(free) void __libc_free(void *p);
OVR_ALIAS(calloc) void *__libc_calloc(size_t count, size_t size);
OVR_ALIAS(realloc) void *__libc_realloc(void *p, size_t size);
OVR_ALIAS(memalign) void *__libc_memalign(size_t alignment, size_t size);
OVR_ALIAS(valloc) void *__libc_valloc(size_t size);
OVR_ALIAS(pvalloc) void *__libc_pvalloc(size_t size);
OVR_ALIAS(posix_memalign) int __posix_memalign(void **out, size_t alignment, size_t size);
OVR_ALIAS(free) void cfree(void *p);
