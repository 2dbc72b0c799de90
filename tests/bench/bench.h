/* SPDX-License-Identifier: MIT */
/* bench.h: small helpers shared by the benchmark workloads in tests/bench/.
 *
 * Every workload is a standalone program that uses only the C library's malloc family
 * (so that an LD_PRELOADed allocator sees every call), takes its size from argv, checks
 * its own result and exits nonzero when the check fails. Nothing here allocates from the
 * heap: argument parsing, the random generator and the RSS sampler use the stack, static
 * storage and raw system calls, so that helpers do not disturb the allocator under test. */
#ifndef DOG_BENCH_H
#define DOG_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_UNUSED __attribute__((unused))
#define BENCH_NOINLINE __attribute__((noinline))

/* --- Failure --- */

/* Print "name: message" to stderr and exit(1). Used for failed self-checks. */
static BENCH_UNUSED __attribute__((noreturn, format(printf, 1, 2)))
void bench_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: FAILED: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* malloc that treats NULL as a failed run (the workloads never ask for absurd sizes). */
static inline void *bench_xmalloc(size_t size)
{
    void *p = malloc(size);
    if (__builtin_expect(p == NULL, 0))
        bench_fail("malloc(%zu) returned NULL", size);
    return p;
}

/* --- Arguments --- */

/* argv[i] as a non-negative integer (accepts 1e6, 10M, 64k), or def when absent. */
static BENCH_UNUSED long bench_arg(int argc, char **argv, int i, long def)
{
    if (i >= argc || argv[i][0] == '\0')
        return def;
    char *end;
    double v = strtod(argv[i], &end);
    switch (*end) {
    case 'k': case 'K': v *= 1e3; end++; break;
    case 'm': case 'M': v *= 1e6; end++; break;
    case 'g': case 'G': v *= 1e9; end++; break;
    default: break;
    }
    if (*end != '\0' || v < 0 || v > 9e18) {
        fprintf(stderr, "bench: bad argument %d: '%s'\n", i, argv[i]);
        exit(2);
    }
    return (long)v;
}

/* Number of CPUs this process may run on (what Zig's getCpuCount() returns). */
static BENCH_UNUSED int bench_cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return 1;
    int n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

/* --- Random numbers: splitmix64 seeding a xorshift64*; one state per thread --- */

static inline uint64_t bench_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t bench_seed(uint64_t n)
{
    uint64_t z = n + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z ? z : 1;
}

/* Uniform in [lo, hi]. */
static inline size_t bench_range(uint64_t *state, size_t lo, size_t hi)
{
    return lo + (size_t)(bench_rand(state) % (hi - lo + 1));
}

/* Log-uniform in [lo, hi]: every doubling is equally likely, so small sizes dominate by
 * count while large ones still dominate by bytes (the shape of real programs). */
static inline size_t bench_range_log(uint64_t *state, size_t lo, size_t hi)
{
    uint64_t r = bench_rand(state);
    int lo_bits = 63 - __builtin_clzll(lo), hi_bits = 63 - __builtin_clzll(hi);
    int bits = lo_bits + (int)(r % (uint64_t)(hi_bits - lo_bits + 1));
    size_t base = (size_t)1 << bits;
    size_t size = base + (size_t)((r >> 8) % base);
    return size < lo ? lo : size > hi ? hi : size;
}

/* --- Time --- */

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --- Threads --- */

/* pthread_create that fails the run instead of returning an error. */
static BENCH_UNUSED void bench_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int err = pthread_create(t, NULL, fn, arg);
    if (err != 0)
        bench_fail("pthread_create: %s", strerror(err));
}

static BENCH_UNUSED void bench_join(pthread_t t)
{
    int err = pthread_join(t, NULL);
    if (err != 0)
        bench_fail("pthread_join: %s", strerror(err));
}

/* --- A reset event like Zig's std.Thread.ResetEvent (futex based, no allocation) --- */

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>

typedef struct bench_event {
    atomic_uint state;      /* 0 unset, 1 unset with waiters, 2 set */
} bench_event_t;

static inline void bench_futex_wait(atomic_uint *addr, unsigned expect)
{
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expect, NULL, NULL, 0);
}

static inline void bench_futex_wake(atomic_uint *addr)
{
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static inline void bench_event_set(bench_event_t *e)
{
    if (atomic_exchange(&e->state, 2) == 1)
        bench_futex_wake(&e->state);
}

static inline void bench_event_reset(bench_event_t *e)
{
    atomic_store(&e->state, 0);
}

static BENCH_UNUSED void bench_event_wait(bench_event_t *e)
{
    unsigned s = atomic_load(&e->state);
    while (s != 2) {
        if (s == 0 && !atomic_compare_exchange_weak(&e->state, &s, 1))
            continue;
        bench_futex_wait(&e->state, 1);
        s = atomic_load(&e->state);
    }
}

/* --- Resident memory --- */

/* Resident set size of this process in KiB, read from /proc/self/statm without stdio
 * (fopen would allocate). Returns 0 when /proc is unavailable. */
static BENCH_UNUSED long bench_rss_kib(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strchr(buf, ' ');
    if (p == NULL)
        return 0;
    return strtol(p + 1, NULL, 10) * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A thread that samples the RSS every interval_ms into a static array and writes the
 * samples ("seconds rss_kib" lines) to a file, or a summary to stderr, when stopped.
 * The sampler never calls malloc: its samples live in static storage and it writes with
 * write(2), so it does not change the picture it records. */
#define BENCH_RSS_MAX_SAMPLES 100000

static struct {
    pthread_t thread;
    atomic_int stop;
    int interval_ms;
    size_t count;
    double t0;
    float secs[BENCH_RSS_MAX_SAMPLES];
    long kib[BENCH_RSS_MAX_SAMPLES];
} bench_rss;

static void bench_rss_sample(void)
{
    if (bench_rss.count < BENCH_RSS_MAX_SAMPLES) {
        bench_rss.secs[bench_rss.count] = (float)(bench_now() - bench_rss.t0);
        bench_rss.kib[bench_rss.count] = bench_rss_kib();
        bench_rss.count++;
    }
}

static void *bench_rss_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&bench_rss.stop)) {
        struct timespec ts = { bench_rss.interval_ms / 1000,
                               (long)(bench_rss.interval_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        bench_rss_sample();
    }
    return NULL;
}

static BENCH_UNUSED void bench_rss_start(int interval_ms)
{
    bench_rss.interval_ms = interval_ms > 0 ? interval_ms : 100;
    bench_rss.t0 = bench_now();
    bench_rss_sample();
    bench_thread(&bench_rss.thread, bench_rss_main, NULL);
}

/* Stop the sampler, take a last sample, and write the series to path (when not NULL and
 * not empty). Prints "rss: ..." to stderr: the samples at 1/4, 1/2 and the end of the run
 * and the maximum, which is enough to see whether the RSS stays flat. */
static BENCH_UNUSED void bench_rss_stop(const char *path)
{
    atomic_store(&bench_rss.stop, 1);
    bench_join(bench_rss.thread);
    bench_rss_sample();
    size_t n = bench_rss.count;
    long max = 0;
    for (size_t i = 0; i < n; i++)
        max = bench_rss.kib[i] > max ? bench_rss.kib[i] : max;
    fprintf(stderr, "rss: samples=%zu q1=%ld half=%ld end=%ld max=%ld KiB\n", n,
            bench_rss.kib[n / 4], bench_rss.kib[n / 2], bench_rss.kib[n - 1], max);
    if (path == NULL || path[0] == '\0')
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char line[64];
        int len = snprintf(line, sizeof(line), "%.3f %ld\n", bench_rss.secs[i], bench_rss.kib[i]);
        if (write(fd, line, (size_t)len) != len)
            break;
    }
    close(fd);
}

/* --- The seed's strings: "n*n = n^2" --- */

/* Format "%zu*%zu = %zu" (n, n, n*n) into buf (no NUL needed by callers) and return the
 * length, as the seed's asymmetric and mpsc producers do with std.fmt.allocPrint. */
static inline size_t bench_format_square(char *buf, size_t cap, uint64_t n)
{
    int len = snprintf(buf, cap, "%llu*%llu = %llu", (unsigned long long)n,
                       (unsigned long long)n, (unsigned long long)(n * n));
    return (size_t)len;
}

/* The seed's allocPrint: the string for n in a block of exactly its length (no NUL),
 * malloc'd by the allocator under test; *len says how long. */
static BENCH_UNUSED char *bench_alloc_square(uint64_t n, size_t *len)
{
    char buf[64];
    *len = bench_format_square(buf, sizeof(buf), n);
    char *s = bench_xmalloc(*len);
    memcpy(s, buf, *len);
    return s;
}

/* Sum of all bytes of the strings for n = 0 .. count-1: the seed's consumer checksum.
 * The two counts the seed and our defaults use are known; others are computed. */
static BENCH_UNUSED uint64_t bench_square_sum(uint64_t count)
{
    if (count == 10000000)
        return 16002606398ULL;  /* the constant in the seed's asymmetric.zig */
    uint64_t sum = 0;
    char buf[64];
    for (uint64_t n = 0; n < count; n++) {
        size_t len = bench_format_square(buf, sizeof(buf), n);
        for (size_t i = 0; i < len; i++)
            sum += (unsigned char)buf[i];
    }
    return sum;
}

#endif /* DOG_BENCH_H */
