/* SPDX-License-Identifier: MIT */
/* misuse.h: the one reporter of misuse and errors: what went wrong, where, and the policy. */
#ifndef DOG_MISUSE_H
#define DOG_MISUSE_H

#include <stdarg.h>
#include <stddef.h>
#include "compiler.h"

/* What a caller found. The policy (DOGMALLOC_MISUSE, options.c) decides whether
 * dog__misuse() returns: under "report" it prints and returns for every kind but
 * DOG_MISUSE_CORRUPT, and the caller then leaves the block alone (a free is skipped and
 * the block leaks; a query returns its error value). Under "abort", the default, it
 * never returns. Callers must therefore be correct both ways: return at once after the
 * call, touching nothing that the bad pointer names. */
enum {
    DOG_MISUSE_INVALID_FREE,    /* free of a pointer dogmalloc never handed out */
    DOG_MISUSE_INTERIOR_FREE,   /* free of a pointer into a block */
    DOG_MISUSE_DOUBLE_FREE,     /* free of a block that is free already */
    DOG_MISUSE_BAD_POINTER,     /* realloc, usable_size of what is not a live block */
    DOG_MISUSE_FREE_SIZE,       /* free_sized with more than the block holds */
    DOG_MISUSE_BAD_HEAP,        /* a heap handle that is not a live heap */
    DOG_MISUSE_CORRUPT,         /* the allocator's own lists are corrupt: never continues */
    DOG_MISUSE_KINDS
};

/* misuse.c */
DOG_COLD void dog__misuse(int kind, const void *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
DOG_NORETURN DOG_COLD void dog__corrupt(const void *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* An allocation failed (ENOMEM, EINVAL): a message if DOGMALLOC_SHOW_ERRORS is on. */
DOG_COLD void dog__error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* How many misuse reports the process has seen (for tests and the verbose report). */
size_t dog__misuse_count(void);
/* A snprintf without allocation or locale: %s %.*s %p %d %u %ld %lu %zu %x %%, and
 * nothing else. Always NUL-terminates (cap > 0); returns the length written. */
size_t dog__format(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t dog__vformat(char *buf, size_t cap, const char *fmt, va_list ap);

#endif
