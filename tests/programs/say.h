/* SPDX-License-Identifier: MIT */
/* say.h: a message to stderr with one write(2), no stdio and no allocation: what the test
 * programs print from forked children and while other threads may hold stdio's locks. */
#ifndef DOG_TESTS_SAY_H
#define DOG_TESTS_SAY_H

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    ssize_t w = write(STDERR_FILENO, buf, (size_t)n);
    (void)w;
}

#endif
