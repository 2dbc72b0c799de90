/* SPDX-License-Identifier: MIT */
/* options.c: the DOGMALLOC_* options: one table of names, kinds and defaults; reading
 * them from the environment without allocating (this runs inside the first malloc,
 * before main); dog_option_set/get; and the start-up report of DOGMALLOC_VERBOSE. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include "misuse.h"
#include "options.h"
#include "os.h"

enum { KIND_FLAG, KIND_MS, KIND_BYTES, KIND_MISUSE, KIND_THP };
enum { SOURCE_DEFAULT, SOURCE_ENV, SOURCE_API };

typedef struct option_info {
    const char *name;
    unsigned char kind;
    bool runtime;           /* may change after the first allocation */
    long def;
} option_info_t;

static const option_info_t table[DOG_OPTION_COUNT] = {
    [DOG_OPTION_SHOW_STATS]  = { "DOGMALLOC_SHOW_STATS", KIND_FLAG, true, 0 },
    [DOG_OPTION_VERBOSE]     = { "DOGMALLOC_VERBOSE", KIND_FLAG, true, 0 },
    [DOG_OPTION_SHOW_ERRORS] = { "DOGMALLOC_SHOW_ERRORS", KIND_FLAG, true, 0 },
    [DOG_OPTION_MISUSE]      = { "DOGMALLOC_MISUSE", KIND_MISUSE, true, DOG_MISUSE_ABORT },
    [DOG_OPTION_PURGE_DELAY] = { "DOGMALLOC_PURGE_DELAY", KIND_MS, true, 50 },
    [DOG_OPTION_LIMIT]       = { "DOGMALLOC_LIMIT", KIND_BYTES, false, 0 },
    [DOG_OPTION_THP]         = { "DOGMALLOC_THP", KIND_THP, false, DOG_THP_DEFAULT },
    [DOG_OPTION_RESERVE]     = { "DOGMALLOC_RESERVE", KIND_BYTES, false, 0 },
    [DOG_OPTION_LEAK_REPORT] = { "DOGMALLOC_LEAK_REPORT", KIND_FLAG, true, 0 },
};

/* The defaults of the table, so that a read before dog__options_load is right. */
_Atomic long dog__options[DOG_OPTION_COUNT] = { [DOG_OPTION_PURGE_DELAY] = 50 };
static _Atomic unsigned char source[DOG_OPTION_COUNT];
static _Atomic int load_state;      /* 0 not yet, 1 loading, 2 loaded */
static _Atomic int frozen;          /* the first allocation has happened */
static _Atomic int stderr_kept;

/* --- Parsing: ASCII only, no locale, no allocation ---------------------------------- */

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool same(const char *a, const char *b)     /* case-insensitive a == b */
{
    while (*a != '\0' && lower(*a) == lower(*b))
        a++, b++;
    return *a == '\0' && *b == '\0';
}

/* A decimal number at *s, advancing *s; false if there is none or it overflows a long. */
static bool parse_number(const char **s, long *out)
{
    const char *p = *s;
    long v = 0;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
            return false;
    }
    *s = p;
    *out = v;
    return true;
}

static bool parse_bytes(const char *s, long *out)
{
    static const char *const units[] = { "", "k", "m", "g", "t" };
    long v;
    if (!parse_number(&s, &v))
        return false;
    while (*s == ' ')
        s++;
    for (unsigned i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t n = strlen(units[i]);
        if (i > 0 && lower(*s) != units[i][0])
            continue;
        const char *rest = s + n;
        /* "", "B"; "K", "KB", "KiB" (and any case): all powers of 1024. */
        if (*rest == '\0' || same(rest, "b") || (i > 0 && same(rest, "ib"))) {
            for (unsigned k = 0; k < i; k++)
                if (__builtin_mul_overflow(v, 1024L, &v))
                    return false;
            *out = v;
            return true;
        }
    }
    return false;
}

static bool parse_ms(const char *s, long *out)
{
    if (same(s, "never") || same(s, "-1")) {
        *out = -1;
        return true;
    }
    long v;
    if (!parse_number(&s, &v))
        return false;
    if (*s != '\0' && !same(s, "ms"))
        return false;
    *out = v;
    return true;
}

static bool parse_word(const char *s, const char *const *words, const long *values, size_t n,
                       long *out)
{
    for (size_t i = 0; i < n; i++) {
        if (same(s, words[i])) {
            *out = values[i];
            return true;
        }
    }
    return false;
}

bool dog__option_parse(dog_option_t opt, const char *s, long *out)
{
    static const char *const flags[] = { "1", "yes", "true", "on", "0", "no", "false", "off", "" };
    static const long flag_v[] = { 1, 1, 1, 1, 0, 0, 0, 0, 0 };
    static const char *const misuse[] = { "abort", "report", "0", "1" };
    static const long misuse_v[] = { DOG_MISUSE_ABORT, DOG_MISUSE_REPORT, 0, 1 };
    static const char *const thp[] = { "default", "system", "off", "never", "0", "on",
                                       "always", "madvise", "1" };
    static const long thp_v[] = { DOG_THP_DEFAULT, DOG_THP_DEFAULT, DOG_THP_OFF, DOG_THP_OFF,
                                  DOG_THP_OFF, DOG_THP_ON, DOG_THP_ON, DOG_THP_ON, DOG_THP_ON };
    if ((unsigned)opt >= DOG_OPTION_COUNT || s == NULL)
        return false;
    switch (table[opt].kind) {
    case KIND_FLAG:
        return parse_word(s, flags, flag_v, sizeof flag_v / sizeof *flag_v, out);
    case KIND_MISUSE:
        return parse_word(s, misuse, misuse_v, sizeof misuse_v / sizeof *misuse_v, out);
    case KIND_THP:
        return parse_word(s, thp, thp_v, sizeof thp_v / sizeof *thp_v, out);
    case KIND_MS:
        return parse_ms(s, out);
    default:
        return parse_bytes(s, out);
    }
}

static bool value_valid(dog_option_t opt, long v)
{
    switch (table[opt].kind) {
    case KIND_FLAG:
    case KIND_MISUSE:
        return v == 0 || v == 1;
    case KIND_THP:
        return v >= DOG_THP_DEFAULT && v <= DOG_THP_ON;
    case KIND_MS:
        return v >= -1;
    default:
        return v >= 0;
    }
}

static const char *hint(dog_option_t opt)
{
    switch (table[opt].kind) {
    case KIND_FLAG:
        return "0 or 1";
    case KIND_MISUSE:
        return "abort or report";
    case KIND_THP:
        return "default, off, on or madvise";
    case KIND_MS:
        return "milliseconds, or never";
    default:
        return "bytes, with an optional K, M, G or T suffix";
    }
}

/* --- Values as the variables take them (the report, the warnings) ------------------ */

static size_t format_value(char *buf, size_t cap, dog_option_t opt, long v)
{
    static const char *const thp[] = { "default", "off", "on" };
    switch (table[opt].kind) {
    case KIND_MISUSE:
        return dog__format(buf, cap, "%s", v == DOG_MISUSE_REPORT ? "report" : "abort");
    case KIND_THP:
        return dog__format(buf, cap, "%s", thp[v >= 0 && v <= 2 ? v : 0]);
    case KIND_MS:
        return v < 0 ? dog__format(buf, cap, "never") : dog__format(buf, cap, "%ld ms", v);
    case KIND_BYTES: {
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
        size_t n = dog__format(buf, cap, "%ld", v);
        int u = -1;
        long whole = v;
        while (u < 3 && whole >= 1024 && whole % 1024 == 0)
            whole /= 1024, u++;
        if (u >= 0)
            n += dog__format(buf + n, cap - n, " (%ld %s)", whole, units[u]);
        return n;
    }
    default:
        return dog__format(buf, cap, "%ld", v);
    }
}

/* --- Loading --------------------------------------------------------------------------- */

static void say(const char *buf, size_t n)
{
    dog__os_write_stderr(buf, n);
}

/* A report at exit must reach the terminal even if the program closes fd 2 first. */
static void keep_stderr_once(void)
{
    if (dog__exchange_acqrel(&stderr_kept, 1) == 0)
        dog__os_keep_stderr();
}

static void set_value(dog_option_t opt, long v, unsigned char from)
{
    dog__store_relaxed(&dog__options[opt], v);
    dog__store_relaxed(&source[opt], from);
    if ((opt == DOG_OPTION_SHOW_STATS || opt == DOG_OPTION_LEAK_REPORT) && v != 0)
        keep_stderr_once();
}

static void warn_unknown(const char *var, size_t len)
{
    char buf[512];
    size_t n = dog__format(buf, sizeof buf, "dogmalloc: warning: unknown option %.*s (known:",
                           (int)len, var);
    for (unsigned i = 0; i < DOG_OPTION_COUNT; i++)
        n += dog__format(buf + n, sizeof buf - n, "%s %s", i ? "," : "", table[i].name);
    n += dog__format(buf + n, sizeof buf - n, ")\n");
    say(buf, n);
}

void dog__options_load(void)
{
    if (dog__load_acquire(&load_state) == 2)
        return;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&load_state, &expected, 1)) {
        while (dog__load_acquire(&load_state) != 2)     /* another thread is reading */
            dog__cpu_relax();
        return;
    }
    for (unsigned i = 0; i < DOG_OPTION_COUNT; i++) {
        const char *v = dog__os_getenv(table[i].name);
        if (v == NULL)
            continue;
        long value;
        if (dog__option_parse((dog_option_t)i, v, &value) && value_valid((dog_option_t)i, value)) {
            set_value((dog_option_t)i, value, SOURCE_ENV);
        } else {
            char buf[320];
            size_t n = dog__format(buf, sizeof buf, "dogmalloc: warning: %s=%.*s is not a "
                                   "valid value (%s); keeping ", table[i].name, 64, v,
                                   hint((dog_option_t)i));
            n += format_value(buf + n, sizeof buf - n, (dog_option_t)i,
                              dog__option((dog_option_t)i));
            n += dog__format(buf + n, sizeof buf - n, "\n");
            say(buf, n);
        }
    }
    extern char **environ;
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, "DOGMALLOC_", 10) != 0)
            continue;
        size_t len = strcspn(*e, "=");
        bool known = false;
        for (unsigned i = 0; i < DOG_OPTION_COUNT && !known; i++)
            known = strlen(table[i].name) == len && strncmp(*e, table[i].name, len) == 0;
        if (!known)
            warn_unknown(*e, len);
    }
    dog__store_release(&load_state, 2);
}

void dog__options_freeze(void)
{
    dog__options_load();
    dog__store_release(&frozen, 1);
}

/* --- The report (DOGMALLOC_VERBOSE) ----------------------------------------------- */

void dog__options_report(void)
{
    static const char *const from[] = { "default", "environment", "dog_option_set" };
    for (unsigned i = 0; i < DOG_OPTION_COUNT; i++) {
        char buf[256];
        size_t n = dog__format(buf, sizeof buf, "dogmalloc: option %s = ", table[i].name);
        n += format_value(buf + n, sizeof buf - n, (dog_option_t)i, dog__option((dog_option_t)i));
        n += dog__format(buf + n, sizeof buf - n, " (%s%s)\n", from[dog__load_relaxed(&source[i])],
                         table[i].runtime ? "" : ", fixed at start-up");
        say(buf, n);
    }
}

/* --- The API ----------------------------------------------------------------------- */

DOG_API int dog_option_set(dog_option_t opt, long value)
{
    if ((unsigned)opt >= DOG_OPTION_COUNT || !value_valid(opt, value))
        return EINVAL;
    dog__options_load();
    if (!table[opt].runtime && dog__load_acquire(&frozen))
        return EBUSY;
    set_value(opt, value, SOURCE_API);
    return 0;
}

DOG_API long dog_option_get(dog_option_t opt)
{
    if ((unsigned)opt >= DOG_OPTION_COUNT) {
        errno = EINVAL;
        return -1;
    }
    dog__options_load();
    return dog__option(opt);
}
