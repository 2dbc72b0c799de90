/* SPDX-License-Identifier: MIT */
/* check_secure.c: the secure build's mitigations (make SECURE=1), each shown catching the
 * misuse it is for; in the default build, what the secure build changes is shown absent.
 *
 * Public header only: each test does what a buggy or hostile program does (writes into
 * a freed block, overflows into a free neighbour, forges a free-list link, frees a block
 * again after overwriting it) and checks the message. The mitigations are described in
 * docs/secure.md. Under ASan the
 * freed blocks are poisoned (src/track.h) and ASan reports these writes itself, so the
 * tests that write into free blocks are skipped there. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <stdbool.h>

#include <dogmalloc.h>

#include "suites.h"

#define DOG_TEST_UNUSED __attribute__((unused))    /* helpers of one build's tests */
#define PAGE_SHIFT 19
#define SECURE_FILL_MAX 64      /* src/page.h: DOG_SECURE_FILL_MAX, the bytes zeroed on free */           /* dogmalloc's pages: 512 KiB, aligned */

static DOG_TEST_UNUSED uint64_t word_of(const void *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

static DOG_TEST_UNUSED void set_word(void *p, uint64_t w)
{
    memcpy(p, &w, sizeof w);
}

/* Two live blocks of size, b right after a, from dog_default; the other blocks taken to
 * find them stay live until pair_release. */
enum { PAIR_N = 256 };
static char *pair_blocks[PAIR_N];

static DOG_TEST_UNUSED void adjacent_pair(size_t size, char **a, char **b)
{
    warm_thread_cache();
    for (int i = 0; i < PAIR_N; i++)
        pair_blocks[i] = dog_malloc(size);
    for (int i = 0; i < PAIR_N; i++)
        for (int j = 0; j < PAIR_N; j++)
            if (pair_blocks[j] == pair_blocks[i] + size) {
                *a = pair_blocks[i];
                *b = pair_blocks[j];
                return;
            }
    ck_abort_msg("no two adjacent blocks of %zu bytes among %d", size, PAIR_N);
}

static DOG_TEST_UNUSED void pair_release(void)
{
    for (int i = 0; i < PAIR_N; i++)
        dog_free(pair_blocks[i]);
}

/* A block of a heap that was destroyed, and a new heap that allocates 4 MiB of blocks of
 * the same size; returns the new heap. */
static dog_heap_t *destroyed_then_reused(char **stale)
{
    dog_heap_t *a = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(a);
    *stale = dog_heap_malloc(a, 64);
    dog_heap_destroy(a);
    dog_heap_t *b = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 65536; i++)
        ck_assert_ptr_nonnull(dog_heap_malloc(b, 64));
    return b;
}

/* --- The secure build ----------------------------------------------------------------- */
#if DOG_SECURE_BUILD

static void *target;            /* the pointer a test's child names */

/* Free, write into the freed block past its first word, allocate it again. */
static void write_after_free(void *arg)
{
    (void)arg;
    warm_thread_cache();
    char *p = dog_malloc(100);
    dog_free(p);
    p[50] = 1;                  /* a use after free */
    void *q = dog_malloc(100);  /* the cache hands p out again: its zeros are checked */
    (void)q;
}

START_TEST(test_secure_write_after_free)
{
    warm_thread_cache();
    char *p = dog_malloc(100);
    dog_free(p);
    target = p;                 /* the child's p: the same address, the same order */
    death_expect_saying(write_after_free, NULL, target, "was written after it was freed",
                        "write after free");
}
END_TEST

/* The same at the last byte that a free zeroes, in blocks of each size whose zeroed
 * bytes differ (8, 24, 40 and 56 of them: src/page.h, dog__fill_any): every word of them
 * is checked. */
static const size_t fill_sizes[] = { 16, 32, 48, 64, 4096 };

static void write_last_after_free(void *arg)
{
    size_t size = *(const size_t *)arg, end = size < SECURE_FILL_MAX ? size : SECURE_FILL_MAX;
    warm_thread_cache();
    char *p = dog_malloc(size);
    dog_free(p);
    p[end - 1] = 1;
    void *q = dog_malloc(size);
    (void)q;
}

START_TEST(test_secure_write_after_free_last_byte)
{
    size_t size = fill_sizes[_i], end = size < SECURE_FILL_MAX ? size : SECURE_FILL_MAX;
    char text[64];
    snprintf(text, sizeof text, "was written after it was freed, at byte %zu", end - 8);
    warm_thread_cache();
    char *p = dog_malloc(size);
    dog_free(p);
    target = p;
    death_expect_saying(write_last_after_free, &size, target, text, "write after free");
}
END_TEST

/* A block's neighbour is freed, then the block overflows into it: into its first word
 * (the cache's cookie), or just past it. */
typedef struct {
    char *a, *b;
    int into_word;
} overflow_t;

static void overflow(void *arg)
{
    overflow_t *o = arg;
    dog_free(o->b);
    memset(o->a + 48 + (o->into_word ? 0 : 8), 'A', 8);
    void *q = dog_malloc(48);   /* b again: the cache is LIFO */
    (void)q;
}

static void overflow_case(int into_word, const char *text, const char *what)
{
    overflow_t o = { NULL, NULL, into_word };
    adjacent_pair(48, &o.a, &o.b);
    death_expect_saying(overflow, &o, o.b, text, what);
    pair_release();
}

START_TEST(test_secure_overflow_into_free_link)
{
    overflow_case(1, "was overwritten", "overflow into a free neighbour's first word");
}
END_TEST

START_TEST(test_secure_overflow_into_free_body)
{
    overflow_case(0, "at byte 8", "overflow into a free neighbour past its first word");
}
END_TEST

/* Forge the local free-list link of a freed block of 32 KiB (a size no thread cache
 * holds: freed blocks go straight to their page's list) so that it points at a block of
 * the program's choosing, as an exploit of a use after free does; the next malloc
 * follows it, and would hand the forged block out two mallocs later. */
static char forged[64];

typedef struct {
    char *a, *b, *keep;
    int within_page;
} forge_t;

/* The parent frees b, then a: a's link leads to b. */
static void forge_prepare(forge_t *f, int within_page)
{
    f->a = dog_malloc(32768);
    f->b = dog_malloc(32768);
    f->keep = dog_malloc(32768);
    f->within_page = within_page;
    dog_free(f->b);
    dog_free(f->a);
}

static void forge_link(void *arg)
{
    forge_t *f = arg;
    if (f->within_page)
        set_word(f->a, word_of(f->a) ^ 0x40);   /* a low byte: b + 64 (or - 64) */
    else
        set_word(f->a, (uint64_t)(uintptr_t)forged);
    void *x = dog_malloc(32768);                /* a, whose link is followed */
    void *y = dog_malloc(32768);                /* the forged block, in the default build */
    (void)x, (void)y;
}

START_TEST(test_secure_forged_link)
{
    forge_t f;
    forge_prepare(&f, 0);
    death_expect_saying(forge_link, &f, f.a, "free-list link of free block",
                        "a link forged to point outside the page");
    dog_free(f.keep);
}
END_TEST

START_TEST(test_secure_forged_link_low_byte)
{
    /* The link still decodes into the page, to no block's start: the pop of b +- 64 is
     * refused (page.h: dog__page_pop). */
    forge_t f;
    forge_prepare(&f, 1);
    char msg[4096];
    int status = death_run(forge_link, &f, msg, sizeof msg);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
                  strstr(msg, "dogmalloc: heap corruption") != NULL,
                  "a link with its low byte changed: status %d, \"%s\"", status, msg);
    dog_free(f.keep);
}
END_TEST

/* A block freed, its first word overwritten (so that it reads as a live block), freed
 * again: by the same thread, or with another thread on either side. */
typedef struct {
    char *p;
    int first_other, second_other;
} twice_t;

static void *free_it(void *arg)
{
    warm_thread_cache();
    dog_free(arg);
    return NULL;
}

static void free_by(char *p, int other)
{
    if (!other) {
        dog_free(p);
        return;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, free_it, p) != 0)
        _exit(40);
    pthread_join(t, NULL);
}

static void free_overwrite_free(void *arg)
{
    twice_t *t = arg;
    warm_thread_cache();
    free_by(t->p, t->first_other);
    memset(t->p, 0x41, 64);     /* the cookie or link is gone: the words say "live" */
    free_by(t->p, t->second_other);
}

static void double_free_overwritten(int first_other, int second_other)
{
    warm_thread_cache();
    twice_t t = { dog_malloc(64), first_other, second_other };
    void *keep = dog_malloc(64);        /* the page stays in use */
    (void)keep;
    death_expect_saying(free_overwrite_free, &t, t.p,
                        "double free (the freed block was written since its first free)",
                        "double free after the freed block was overwritten");
}

START_TEST(test_secure_double_free_overwritten)
{
    static const int order[4][2] = { { 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 1 } };
    double_free_overwritten(order[_i][0], order[_i][1]);
}
END_TEST

/* The same on an explicit heap's block. */
static void heap_free_overwrite_free(void *arg)
{
    dog_heap_t *h = arg;
    char *p = dog_heap_malloc(h, 200);
    void *keep = dog_heap_malloc(h, 200);
    (void)keep;
    dog_free(p);
    memset(p, 0, 200);
    dog_free(p);
}

START_TEST(test_secure_double_free_overwritten_heap)
{
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    char msg[4096];
    int status = death_run(heap_free_overwrite_free, h, msg, sizeof msg);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
                  strstr(msg, "the freed block was written since its first free") != NULL,
                  "explicit heap: status %d, \"%s\"", status, msg);
    dog_heap_destroy(h);
}
END_TEST

/* A freed block reads as zeros after its first word, at once and after a flush. */
START_TEST(test_secure_freed_zeroed)
{
    warm_thread_cache();
    const size_t sizes[] = { 8, 16, 32, 48, 64, 200, 1000, 4000, 16384, 32768 };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t size = sizes[k];
        unsigned char *p = dog_malloc(size), *keep = dog_malloc(size);
        memset(p, 0x5a, size);
        dog_free(p);
        size_t end = size < SECURE_FILL_MAX ? size : SECURE_FILL_MAX, nonzero = 0;
        for (size_t i = 8; i < end; i++)
            nonzero += p[i] != 0;
        ck_assert_msg(nonzero == 0, "%zu-byte block: %zu of its bytes 8..%zu not zero after free",
                      size, nonzero, end);
        dog_free(keep);
    }
}
END_TEST

/* Blocks that went back to their pages (frees past the thread cache's capacity flush
 * them there) and out again (a refill takes them from the page's list, with the freed
 * bits that the flush left set: src/page.h) free as any block does; and a double free of
 * one of them after it was overwritten is still caught. */
enum { FLUSHED_N = 2048 };
static char *flushed[FLUSHED_N];

static void flushed_overwrite_free(void *arg)
{
    char *p = arg;
    dog_free(p);
    memset(p, 0x41, 64);
    dog_free(p);
}

START_TEST(test_secure_double_free_after_flush)
{
    warm_thread_cache();
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < FLUSHED_N; i++)
            ck_assert_ptr_nonnull(flushed[i] = dog_malloc(64));
        for (int i = 0; i < FLUSHED_N; i++)
            dog_free(flushed[i]);
    }
    for (int i = 0; i < FLUSHED_N; i++)
        flushed[i] = dog_malloc(64);
    char *p = flushed[FLUSHED_N / 2];   /* taken from its page's list by a refill */
    death_expect_saying(flushed_overwrite_free, p, p,
                        "double free (the freed block was written since its first free)",
                        "double free of a block that came back from its page");
    for (int i = 0; i < FLUSHED_N; i++)
        dog_free(flushed[i]);
}
END_TEST

/* A block that a refill put in a thread cache ahead of use, never handed out, whose
 * cookie an overflow overwrote, freed through a forged or stale pointer: refused, since
 * a refill parks every block it caches (src/page.h: dog__page_freed_set, and page.c:
 * carve_park). A fresh heap's first malloc carves the first OS page of a page (64 blocks
 * of 64 bytes) onto its list and caches 8 more blocks from it; 64 mallocs take all of
 * them, and the 65th carves the next 64 straight into the cache. After each, a first
 * child allocates one block more and prints where it is (a cache pops in a fixed order),
 * and a second child, forked from the same state, overwrites that block and frees it. */
static void print_cached(void *arg)
{
    fprintf(stderr, "%p\n", dog_heap_malloc(arg, 64));
}

static void overwrite_free_cached(void *arg)
{
    memset(arg, 0x41, 64);
    dog_free(arg);
}

START_TEST(test_secure_cached_block_overwritten_freed)
{
    static const int before[2] = { 1, 65 };     /* from the page's list; from a carve */
    warm_thread_cache();                /* the caches exist: the heap's first malloc refills */
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    void *first = NULL;
    for (int i = 0; i < before[_i]; i++) {
        void *p = dog_heap_malloc(h, 64);
        ck_assert_ptr_nonnull(p);
        if (first == NULL)
            first = p;
    }
    char msg[4096];
    int status = death_run(print_cached, h, msg, sizeof msg);
    void *ahead = NULL;
    ck_assert_msg(WIFEXITED(status) && sscanf(msg, "%p", &ahead) == 1 && ahead != NULL &&
                  ((uintptr_t)ahead ^ (uintptr_t)first) >> PAGE_SHIFT == 0,
                  "the next block cached: status %d, \"%s\"", status, msg);
    death_expect_saying(overwrite_free_cached, ahead, ahead,
                        "double free (the freed block was written since its first free)",
                        "a free of a cached block never handed out, its cookie overwritten");
    dog_heap_destroy(h);
}
END_TEST

/* A page that a destroyed heap filled with data, reused by another heap: the blocks it
 * carves again read as zeros past their first word, as blocks of fresh memory do (a carve
 * zeroes what lies below the page's touched extent: src/page.c, carve_zero), and so pass
 * the check when they are handed out. 48 pages of blocks, more than the quarantine. */
START_TEST(test_secure_reused_page_zeroed)
{
    enum { SIZE = 64, N = 48 * 8000 };
    dog_heap_t *a = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(a);
    for (int i = 0; i < N; i++) {
        char *p = dog_heap_malloc(a, SIZE);
        ck_assert_ptr_nonnull(p);
        memset(p, 0xff, SIZE);
    }
    dog_heap_destroy(a);
    dog_heap_t *b = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < N; i++) {
        unsigned char *p = dog_heap_malloc(b, SIZE);
        ck_assert_ptr_nonnull(p);
        for (size_t k = 8; k < SIZE; k++)
            REQUIRE(p[k] == 0, "block %d of the second heap: byte %zu is %#x", i, k, p[k]);
    }
    dog_heap_destroy(b);
}
END_TEST

/* Blocks of a fresh heap come in no address order: of 1,000 consecutive mallocs fewer
 * than 3/4 are above the one before (in address order every one but the page changes
 * is), and two heaps built the same way get different orders. */
static void heap_order(char **out, int n)
{
    dog_heap_t *h = dog_heap_new(NULL);
    ck_assert_ptr_nonnull(h);
    for (int i = 0; i < n; i++)
        out[i] = dog_heap_malloc(h, 64);
    for (int i = 0; i < n; i++)         /* offsets in their pages: comparable across heaps */
        out[i] = (char *)((uintptr_t)out[i] & (((uintptr_t)1 << PAGE_SHIFT) - 1));
    dog_heap_destroy(h);
}

START_TEST(test_secure_random_order)
{
    enum { N = 1000 };
    static char *one[N], *two[N];
    heap_order(one, N);
    heap_order(two, N);
    int up = 0, same = 0;
    for (int i = 1; i < N; i++)
        up += one[i] > one[i - 1];
    for (int i = 0; i < N; i++)
        same += one[i] == two[i];
    ck_assert_msg(up < N * 3 / 4, "%d of %d blocks above the previous one", up, N - 1);
    ck_assert_msg(same < N / 4, "two heaps: %d of %d blocks at the same offset", same, N);
}
END_TEST

/* A freed block's local link is not a pointer into its page: it is encoded. */
START_TEST(test_secure_links_encoded)
{
    char *a = dog_malloc(32768), *b = dog_malloc(32768), *keep = dog_malloc(32768);
    dog_free(b);
    dog_free(a);
    uint64_t w = word_of(a);
    ck_assert_msg(((w ^ (uint64_t)(uintptr_t)a) >> PAGE_SHIFT) != 0,
                  "the free-list link %#llx of %p is a raw pointer into its page",
                  (unsigned long long)w, (void *)a);
    dog_free(keep);
}
END_TEST

/* A stale pointer into a destroyed heap is refused, however much a new heap allocates:
 * its page waits in the quarantine, with no owner. */
static void stale_free(void *p)
{
    dog_free(p);
}

START_TEST(test_secure_stale_free_quarantined)
{
    char *stale;
    dog_heap_t *b = destroyed_then_reused(&stale);
    ck_assert_ptr_null(dog_heap_of(stale));
    death_expect_saying(stale_free, stale, stale, "not allocated by dogmalloc",
                        "a stale free into a destroyed heap's page");
    dog_heap_destroy(b);
}
END_TEST

/* Guard pages (config.h: DOG_GUARD_META_OFF, DOG_GUARD_END_OFF): a write after a page's
 * metadata, or past its last block, faults. */
static char *page_of_block(size_t size)
{
    char *p = dog_malloc(size);
    ck_assert_ptr_nonnull(p);
    return (char *)((uintptr_t)p & ~(((uintptr_t)1 << PAGE_SHIFT) - 1));
}

START_TEST(test_secure_guard_after_metadata)
{
    volatile char *page = page_of_block(64);
    page[5 * 4096] = 1;                         /* SIGSEGV */
}
END_TEST

START_TEST(test_secure_guard_at_page_end)
{
    volatile char *page = page_of_block(16);
    page[((size_t)1 << PAGE_SHIFT) - 1] = 1;    /* SIGSEGV */
}
END_TEST

START_TEST(test_secure_guard_overflow_of_last_block)
{
    /* 4 KiB blocks fill a page up to the end guard exactly: a linear overflow of the
     * page's last block runs into it. */
    const uintptr_t mask = ((uintptr_t)1 << PAGE_SHIFT) - 1, at = mask + 1 - 2 * 4096;
    dog_heap_t *h = dog_heap_new(NULL);
    char *last = NULL;
    for (int i = 0; i < 200 && last == NULL; i++) {
        char *p = dog_heap_malloc(h, 4096);
        if (((uintptr_t)p & mask) == at)
            last = p;
    }
    ck_assert_ptr_nonnull(last);
    memset(last, 1, 4096);                      /* the block itself is fine */
    volatile char *past = (volatile char *)((uintptr_t)last + 4096);
    past[0] = 1;                                /* SIGSEGV */
}
END_TEST

/* Huge blocks (src/huge.c, GUARD): the OS page right after a huge block's usable bytes
 * is inaccessible, whatever made the block: a fresh mapping, a piece of a cached one, a
 * growth in place, over a cached neighbour or by moving, a shrink, an over-aligned
 * request. readable() asks the kernel, which fails a write(2) from an inaccessible
 * address with EFAULT instead of a signal. */
static DOG_TEST_UNUSED bool readable(const void *p)
{
    static int fds[2] = { -1, -1 };
    if (fds[0] < 0)
        ck_assert_int_eq(pipe(fds), 0);
    char c;
    if (write(fds[1], p, 1) != 1) {
        ck_assert_int_eq(errno, EFAULT);
        return false;
    }
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    return true;
}

/* p, a live huge block of at least size bytes, holds its pattern over size bytes, can be
 * written up to its usable end, and is guarded right after it. */
static DOG_TEST_UNUSED void huge_check(const unsigned char *p, size_t size, unsigned char mark)
{
    size_t usable = dog_usable_size(p);
    REQUIRE(usable >= size, "%p: usable %zu < %zu", (const void *)p, usable, size);
    for (size_t i = 0; i < size; i += 4093)
        REQUIRE(p[i] == mark, "%p: byte %zu of %zu changed", (const void *)p, i, size);
    REQUIRE(p[size - 1] == mark, "%p: last byte changed", (const void *)p);
    ((volatile unsigned char *)p)[usable - 1] = mark;
    REQUIRE(readable(p + usable - 1), "%p: last usable byte inaccessible", (const void *)p);
    REQUIRE(!readable(p + usable), "%p: no guard after %zu usable bytes", (const void *)p,
            usable);
}

START_TEST(test_secure_huge_guard_paths)
{
    enum { SLOTS = 6 };
    unsigned char *p[SLOTS] = { 0 };
    size_t size[SLOTS] = { 0 };
    bool in_h[SLOTS] = { 0 };
    uint64_t x = 0x9e3779b97f4a7c15u;
    dog_heap_t *h = dog_heap_new(NULL);
    for (int step = 0; step < 600; step++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        int i = (int)(x >> 60) % SLOTS, op = (int)(x >> 56) & 3;
        size_t n = ((size_t)1 << 16) + 1 + (size_t)((x >> 20) % ((size_t)6 << 20));
        unsigned char mark = (unsigned char)(step | 1);
        if (p[i] == NULL) {
            if (op == 0)
                p[i] = dog_aligned_alloc((size_t)1 << (16 + (x >> 40) % 6), n);
            else
                p[i] = op == 1 ? dog_heap_malloc(h, n) : dog_malloc(n);
            ck_assert_ptr_nonnull(p[i]);
            in_h[i] = op == 1;
            memset(p[i], mark, n);
            size[i] = n;
        } else if (op < 2) {
            unsigned char old = p[i][0];
            unsigned char *q = dog_realloc(p[i], n);        /* grows or shrinks */
            ck_assert_ptr_nonnull(q);
            size[i] = n < size[i] ? n : size[i];
            huge_check(q, size[i], old);
            memset(q, mark, n);
            p[i] = q;
            size[i] = n;
        } else {
            dog_free(p[i]);
            p[i] = NULL;
        }
        for (int j = 0; j < SLOTS; j++)
            if (p[j] != NULL)
                huge_check(p[j], size[j], p[j][0]);
        if (step % 100 == 99) {
            dog_heap_destroy(h);        /* its blocks' mappings go to the cache */
            h = dog_heap_new(NULL);
            for (int j = 0; j < SLOTS; j++)
                if (in_h[j])
                    p[j] = NULL;
        }
    }
    for (int j = 0; j < SLOTS; j++)
        dog_free(p[j]);
    dog_heap_destroy(h);
}
END_TEST

START_TEST(test_secure_huge_overflow)
{
    volatile char *p = dog_malloc((size_t)1 << 20);
    p[dog_usable_size((const void *)p)] = 1;      /* SIGSEGV */
}
END_TEST

/* The mitigations leave correct programs alone: blocks of every small size, freed by
 * their thread and by others, come back distinct and keep their contents. */
static void *churn(void *arg)
{
    (void)arg;
    enum { N = 512 };
    static __thread unsigned char *p[N];
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < N; i++) {
            size_t size = 8 + (size_t)((i * 37 + round * 11) % 3000);
            p[i] = dog_malloc(size);
            REQUIRE(p[i] != NULL, "malloc(%zu)", size);
            memset(p[i], i & 0xff, size);
            p[i][0] = (unsigned char)(size >> 8);
            p[i][1] = (unsigned char)size;
        }
        for (int i = 0; i < N; i++) {
            size_t size = (size_t)p[i][0] << 8 | p[i][1];
            for (size_t k = 2; k < size; k++)
                REQUIRE(p[i][k] == (i & 0xff), "block %d byte %zu", i, k);
            dog_free(p[i]);
        }
    }
    return NULL;
}

START_TEST(test_secure_correct_programs)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, churn, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}
END_TEST

#else  /* the default build */

/* Its local links are raw and its blocks come in address order: what the secure build
 * changes, seen absent here (a default build that encoded or shuffled would be slower for
 * nothing). */
START_TEST(test_default_links_raw)
{
    char *a = dog_malloc(32768), *b = dog_malloc(32768), *keep = dog_malloc(32768);
    dog_free(b);
    dog_free(a);
    uint64_t w = word_of(a);
    ck_assert_msg(((w ^ (uint64_t)(uintptr_t)a) >> PAGE_SHIFT) == 0,
                  "the link %#llx of %p is not a pointer into its page",
                  (unsigned long long)w, (void *)a);
    dog_free(keep);
}
END_TEST

/* The default build reuses a destroyed heap's page at once: the stale pointer now names a
 * block of the new heap (docs/misuse.md, "Not detected by the default build"). */
START_TEST(test_default_stale_pointer_reused)
{
    char *stale;
    dog_heap_t *b = destroyed_then_reused(&stale);
    ck_assert_ptr_eq(dog_heap_of(stale), b);
    dog_heap_destroy(b);
}
END_TEST

START_TEST(test_default_address_order)
{
    dog_heap_t *h = dog_heap_new(NULL);
    char *prev = dog_heap_malloc(h, 64);
    for (int i = 0; i < 60; i++) {
        char *p = dog_heap_malloc(h, 64);
        ck_assert_ptr_eq(p, prev + 64);
        prev = p;
    }
    dog_heap_destroy(h);
}
END_TEST

#endif

Suite *secure_suite(void)
{
    Suite *s = suite_create("secure");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
#if DOG_SECURE_BUILD
    if (!test_asan_poisons()) {
        tcase_add_test(tc, test_secure_write_after_free);
        tcase_add_loop_test(tc, test_secure_write_after_free_last_byte, 0,
                            sizeof fill_sizes / sizeof fill_sizes[0]);
        tcase_add_test(tc, test_secure_overflow_into_free_link);
        tcase_add_test(tc, test_secure_overflow_into_free_body);
        tcase_add_test(tc, test_secure_forged_link);
        tcase_add_test(tc, test_secure_forged_link_low_byte);
        tcase_add_loop_test(tc, test_secure_double_free_overwritten, 0, 4);
        tcase_add_test(tc, test_secure_double_free_overwritten_heap);
        tcase_add_test(tc, test_secure_freed_zeroed);
        tcase_add_test(tc, test_secure_double_free_after_flush);
        tcase_add_loop_test(tc, test_secure_cached_block_overwritten_freed, 0, 2);
        tcase_add_test(tc, test_secure_reused_page_zeroed);
        tcase_add_test(tc, test_secure_links_encoded);
    }
    tcase_add_test_raise_signal(tc, test_secure_guard_after_metadata, SIGSEGV);
    tcase_add_test_raise_signal(tc, test_secure_guard_at_page_end, SIGSEGV);
    tcase_add_test_raise_signal(tc, test_secure_guard_overflow_of_last_block, SIGSEGV);
    tcase_add_test(tc, test_secure_huge_guard_paths);
    tcase_add_test_raise_signal(tc, test_secure_huge_overflow, SIGSEGV);
    tcase_add_test(tc, test_secure_random_order);
    tcase_add_test(tc, test_secure_stale_free_quarantined);
    tcase_add_test(tc, test_secure_correct_programs);
#else
    if (!test_asan_poisons())
        tcase_add_test(tc, test_default_links_raw);
    tcase_add_test(tc, test_default_address_order);
    tcase_add_test(tc, test_default_stale_pointer_reused);
#endif
    suite_add_tcase(s, tc);
    return s;
}
