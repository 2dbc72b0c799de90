/* SPDX-License-Identifier: MIT */
/* suites.h: the Check suites of tests/check_*.c and the helpers they share.
 *
 * check_main.c runs every suite in one SRunner. The helpers below are defined in
 * check_main.c (death tests, scale) or inline here (fill patterns); they use only libc,
 * so API tests stay on the public header. */
#ifndef DOG_TESTS_SUITES_H
#define DOG_TESTS_SUITES_H

#include <check.h>
#include <dogmalloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The build under test is the secure one (make SECURE=1 compiles the tests with it too). */
#ifdef DOG_SECURE
#define DOG_SECURE_BUILD DOG_SECURE
#else
#define DOG_SECURE_BUILD 0
#endif

/* --- Suites, one per file --- */
Suite *api_suite(void);          /* check_api.c */
Suite *heap_api_suite(void);     /* check_heap_api.c */
Suite *heap_sdk_suite(void);     /* check_heap_sdk.c */
Suite *reset_suite(void);        /* check_reset.c */
Suite *route_suite(void);        /* check_route.c */
Suite *bad_input_suite(void);    /* check_bad_input.c */
Suite *threads_suite(void);      /* check_threads.c */
Suite *fork_suite(void);         /* check_fork.c */
Suite *size_class_suite(void);   /* check_size_class.c */
Suite *lifecycle_suite(void);    /* check_lifecycle.c */
Suite *options_suite(void);      /* check_options.c */
Suite *limits_suite(void);       /* check_limits.c */
Suite *stress_suite(void);       /* check_stress.c */
Suite *faults_suite(void);       /* check_faults.c */
Suite *misuse_suite(void);       /* check_misuse.c */
Suite *visit_suite(void);        /* check_visit.c */
Suite *tree_suite(void);         /* check_tree.c */
Suite *delete_suite(void);       /* check_delete.c */
Suite *secure_suite(void);       /* check_secure.c */
Suite *validate_suite(void);     /* check_validate.c */

/* check_threads.c: 16 threads allocate from heap (NULL: dog_malloc) starting at the same
 * moment; returns the number of failed allocations. check_main.c runs it in a fresh
 * process when DOG_TEST_FIRST_USE is set. */
typedef struct dog_heap dog_heap_t;
int threads_first_use(dog_heap_t *heap);

/* check_misuse.c: three misuses under DOGMALLOC_MISUSE=report from the environment, in a
 * fresh process; check_main.c runs it when DOG_TEST_MISUSE_ENV is set. 0 if all is well. */
int misuse_env_main(void);

/* --- Scale of the long-running tests (check_main.c) ---
 * DOG_TEST_SCALE=<n> multiplies iteration counts (default 1.0). Sanitizer builds divide
 * it by 4 (ASan/UBSan) or 8 (TSan), so that they finish in a reasonable time. */
double test_scale(void);
/* n * test_scale(), at least 1. */
size_t test_scaled(size_t n);
/* True in a sanitizer build: the process's resident size then includes the sanitizer's
 * own memory (ASan's quarantine, shadow), which says nothing about dogmalloc's. */
int test_sanitized(void);

/* --- Death tests (check_main.c) ---
 * Run fn(arg) in a forked child whose stderr goes to a pipe. The child sets RLIMIT_CORE
 * to 0 and calls _exit(0) if fn returns. The parent collects up to cap-1 bytes of the
 * child's stderr into msg (NUL-terminated) and returns the wait status.
 * Works under CK_FORK=no as well: the fork is our own. */
typedef void (*death_fn)(void *arg);
int death_run(death_fn fn, void *arg, char *msg, size_t cap);

/* Assert that fn(arg) aborts (SIGABRT) with a message that contains "dogmalloc" and, if
 * ptr_named is true, the pointer `ptr` printed as %p. */
void death_expect(death_fn fn, void *arg, const void *ptr, int ptr_named, const char *what);

/* Assert that fn(arg) aborts with a dogmalloc message that names ptr and contains text. */
void death_expect_saying(death_fn fn, void *arg, const void *ptr, const char *text,
                         const char *what);

#define ck_assert_dies_naming(fn, arg, ptr, what) death_expect((fn), (arg), (ptr), 1, (what))
#define ck_assert_dies(fn, arg, what) death_expect((fn), (arg), NULL, 0, (what))

/* True in an ASan build, where dogmalloc poisons its free blocks (src/track.h): a test's
 * deliberate use after free is then ASan's to report, before dogmalloc can see it. */
int test_asan_poisons(void);
/* Assert that fn(arg) is stopped by an ASan report whose first line contains report
 * (ASan exits with status 1 after it). */
void death_expect_asan(death_fn fn, void *arg, const char *report, const char *what);

/* --- Assertions for hot loops ---
 * Check's ck_assert_* record their location with I/O on every call that passes; inside
 * loops of many thousand iterations use REQUIRE, which only calls Check on failure. */
#define REQUIRE(expr, fmt, ...)                                                            \
    do {                                                                                   \
        if (!(expr))                                                                       \
            ck_abort_msg("'%s' failed: " fmt, #expr, ##__VA_ARGS__);                       \
    } while (0)

/* Make sure the calling thread has a thread cache with a home shard, as any thread that
 * has allocated a little does (a process's very first allocation runs before the caches
 * exist, and a cache takes its home at its first refill), so that frees take the paths
 * of a running program: the cache for its own blocks, the thread free list for others'. */
static inline void warm_thread_cache(void)
{
    for (int i = 0; i < 100; i++)
        dog_free(dog_malloc(16));
}

/* The statistics of heap h, asserted to succeed. The struct is filled with junk first, so
 * a field that dog_heap_stats leaves unwritten does not read as a plausible 0. */
static inline dog_heap_stats_t test_heap_stats(const dog_heap_t *h)
{
    dog_heap_stats_t s;
    memset(&s, 0xee, sizeof s);
    ck_assert_int_eq(dog_heap_stats(h, &s), 0);
    return s;
}

/* Leave free blocks of size bytes in the calling thread's cache of heap h, and make h the
 * heap the thread used last (its dog_heap_malloc fast path): 40 allocated, then freed. */
static inline void fill_heap_cache(dog_heap_t *h, size_t size)
{
    void *p[40];
    for (int i = 0; i < 40; i++)
        p[i] = dog_heap_malloc(h, size);
    for (int i = 0; i < 40; i++)
        dog_free(p[i]);
}

/* The process's resident size in bytes (/proc/self/statm), 0 if it cannot be read. */
static inline size_t test_resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f != NULL) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* Hide where p came from. The API lets a caller use all dog_usable_size(p) bytes, but
 * alloc_size tells the compiler (and -fsanitize=object-size, _FORTIFY_SOURCE=3) that the
 * block has only the bytes requested; write beyond those only through a laundered pointer. */
static inline void *launder(void *p)
{
    __asm__("" : "+r"(p));
    return p;
}

/* --- Fill patterns ---
 * A block is filled with a pattern derived from its address and size, so that a block
 * that is handed out twice, overlaps another or loses its contents shows up as a
 * mismatch. The check functions return the offset of the first bad byte, or SIZE_MAX.
 * Patterns are prefix-stable for a given seed: the first n bytes of a fill of m >= n
 * bytes equal a fill of n bytes, so a realloc'd block can be checked on its prefix. */
static inline uint64_t pattern_seed(const void *p, size_t size)
{
    uint64_t x = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull ^ (uint64_t)size;
    x ^= x >> 29;
    return x * 0xbf58476d1ce4e5b9ull | 1;
}

static inline uint64_t pattern_word(uint64_t seed, size_t i)
{
    return seed ^ ((uint64_t)i * 0x94d049bb133111ebull);
}

static inline void pattern_fill_seed(void *p, size_t size, uint64_t seed)
{
    unsigned char *b = p;
    size_t words = size / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = pattern_word(seed, i);
        memcpy(b + i * 8, &w, 8);
    }
    if (size % 8) {
        uint64_t w = pattern_word(seed, words);
        memcpy(b + words * 8, &w, size % 8);
    }
}

static inline size_t pattern_check_seed(const void *p, size_t size, uint64_t seed)
{
    const unsigned char *b = p;
    size_t words = size / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = pattern_word(seed, i);
        if (memcmp(b + i * 8, &w, 8) != 0)
            return i * 8;
    }
    if (size % 8) {
        uint64_t w = pattern_word(seed, words);
        if (memcmp(b + words * 8, &w, size % 8) != 0)
            return words * 8;
    }
    return SIZE_MAX;
}

/* The pattern of block p of size bytes. */
static inline void pattern_fill(void *p, size_t size)
{
    pattern_fill_seed(p, size, pattern_seed(p, size));
}

static inline size_t pattern_check(const void *p, size_t size)
{
    return pattern_check_seed(p, size, pattern_seed(p, size));
}

/* A byte-wise pattern that does not depend on the address: byte i of any block filled
 * with tag t is (i * 131 + t) & 0xff. Used where contents move (realloc). */
static inline void bytes_fill(void *p, size_t size, unsigned tag)
{
    unsigned char *b = p;
    for (size_t i = 0; i < size; i++)
        b[i] = (unsigned char)(i * 131 + tag);
}

static inline size_t bytes_check(const void *p, size_t size, unsigned tag)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < size; i++)
        if (b[i] != (unsigned char)(i * 131 + tag))
            return i;
    return SIZE_MAX;
}

#endif /* DOG_TESTS_SUITES_H */
