/* SPDX-License-Identifier: MIT */
/* misuse.c: the one place that reports misuse and errors, and holds the policy: the
 * message format, and whether the process aborts or carries on (DOGMALLOC_MISUSE).
 * Nothing here allocates or uses stdio: it runs inside malloc and free. */
#include <stdint.h>
#include <stdlib.h>
#include "misuse.h"
#include "options.h"
#include "os.h"

/* Messages after this many are counted but not printed, so that a program that
 * carries on past a misuse in a loop (MISUSE=report) does not flood stderr. */
#define DOG_MESSAGES_MAX 100

static _Atomic size_t misuse_count, message_count;

/* --- A small formatter ------------------------------------------------------------- */

typedef struct out {
    char *buf;
    size_t cap, len;        /* len < cap: room for the NUL */
} out_t;

static void put(out_t *o, char c)
{
    if (o->len + 1 < o->cap)
        o->buf[o->len++] = c;
}

static void put_str(out_t *o, const char *s, size_t max)
{
    if (s == NULL)
        s = "(null)";
    for (size_t i = 0; i < max && s[i] != '\0'; i++)
        put(o, s[i]);
}

static void put_unsigned(out_t *o, uint64_t v, unsigned base)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0);
    while (n > 0)
        put(o, digits[--n]);
}

static void put_signed(out_t *o, int64_t v)
{
    if (v < 0) {
        put(o, '-');
        put_unsigned(o, (uint64_t)0 - (uint64_t)v, 10);
    } else {
        put_unsigned(o, (uint64_t)v, 10);
    }
}

size_t dog__vformat(char *buf, size_t cap, const char *fmt, va_list ap)
{
    out_t o = { buf, cap, 0 };
    if (cap == 0)
        return 0;
    for (const char *f = fmt; *f != '\0'; f++) {
        if (*f != '%') {
            put(&o, *f);
            continue;
        }
        f++;
        if (f[0] == '.' && f[1] == '*' && f[2] == 's') {
            int max = va_arg(ap, int);
            put_str(&o, va_arg(ap, const char *), max < 0 ? SIZE_MAX : (size_t)max);
            f += 2;
        } else if (f[0] == 's') {
            put_str(&o, va_arg(ap, const char *), SIZE_MAX);
        } else if (f[0] == 'p') {
            const void *p = va_arg(ap, const void *);
            if (p == NULL) {
                put_str(&o, "(nil)", SIZE_MAX);     /* as glibc's printf */
            } else {
                put_str(&o, "0x", SIZE_MAX);
                put_unsigned(&o, (uintptr_t)p, 16);
            }
        } else if (f[0] == 'd') {
            put_signed(&o, va_arg(ap, int));
        } else if (f[0] == 'u') {
            put_unsigned(&o, va_arg(ap, unsigned), 10);
        } else if (f[0] == 'x') {
            put_unsigned(&o, va_arg(ap, unsigned), 16);
        } else if (f[0] == 'l' && f[1] == 'd') {
            put_signed(&o, va_arg(ap, long));
            f++;
        } else if (f[0] == 'l' && f[1] == 'u') {
            put_unsigned(&o, va_arg(ap, unsigned long), 10);
            f++;
        } else if (f[0] == 'z' && f[1] == 'u') {
            put_unsigned(&o, va_arg(ap, size_t), 10);
            f++;
        } else if (f[0] == '%') {
            put(&o, '%');
        } else {
            put(&o, '%');               /* not ours: printed as it stands */
            if (f[0] == '\0')
                break;
            put(&o, f[0]);
        }
    }
    o.buf[o.len] = '\0';
    return o.len;
}

size_t dog__format(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = dog__vformat(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

/* "dogmalloc: " + the message + a newline, in one write. */
static void emit(const char *prefix, const char *fmt, va_list ap)
{
    char buf[512];
    size_t n = dog__format(buf, sizeof buf - 1, "dogmalloc: %s", prefix);
    n += dog__vformat(buf + n, sizeof buf - 1 - n, fmt, ap);
    buf[n++] = '\n';
    dog__os_write_stderr(buf, n);
}

static bool message_allowed(void)
{
    size_t n = dog__fetch_add_relaxed(&message_count, 1);
    if (n == DOG_MESSAGES_MAX) {
        static const char last[] = "dogmalloc: further errors are not shown\n";
        dog__os_write_stderr(last, sizeof last - 1);
    }
    return n < DOG_MESSAGES_MAX;
}

/* --- Policy -------------------------------------------------------------------------- */

void dog__fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("", fmt, ap);
    va_end(ap);
    abort();
}

void dog__misuse(int kind, const void *p, const char *fmt, ...)
{
    (void)p;            /* named in the message; kept for a tracking hook */
    bool report = kind != DOG_MISUSE_CORRUPT &&
                  dog__option(DOG_OPTION_MISUSE) == DOG_MISUSE_REPORT;
    dog__fetch_add_relaxed(&misuse_count, 1);
    if (report && !message_allowed())
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(report ? "misuse (reported, continuing): " : "", fmt, ap);
    va_end(ap);
    if (!report)
        abort();
}

void dog__corrupt(const void *p, const char *fmt, ...)
{
    (void)p;
    dog__fetch_add_relaxed(&misuse_count, 1);
    va_list ap;
    va_start(ap, fmt);
    emit("", fmt, ap);
    va_end(ap);
    abort();
}

void dog__error(const char *fmt, ...)
{
    if (dog__option(DOG_OPTION_SHOW_ERRORS) == 0 || !message_allowed())
        return;
    va_list ap;
    va_start(ap, fmt);
    emit("error: ", fmt, ap);
    va_end(ap);
}

size_t dog__misuse_count(void)
{
    return dog__load_relaxed(&misuse_count);
}
