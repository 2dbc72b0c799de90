/* SPDX-License-Identifier: MIT */
/* fuzz_api.c: a libFuzzer harness that drives operation sequences over the whole dog_*
 * API and checks every answer.
 *
 * The input is a program: each operation is one opcode byte and a few argument bytes
 * (fuzz.h reads them; a short input just ends the program). It works on 64 slots of
 * blocks and up to 4 explicit heaps, and exercises every allocation entry point, frees,
 * sized frees, realloc across classes and into huge blocks (in place, moving, into
 * another heap), usable sizes, heap_of, heap budgets, heap reset, delete and destroy with
 * blocks still live, stats, visits (every live block exactly), trim, and frees made by
 * another thread (the remote path). Every live block holds a pattern over its whole
 * usable size, verified before it is freed or resized and at the end, so a block handed
 * out twice, overlapping another, or losing its contents shows up; stats must match the
 * slots exactly. Any mismatch aborts, which libFuzzer reports as a crash with the input
 * that caused it.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined by `make fuzz`, and with the
 * replay main (replay.c) by `make check-fuzz`, which runs the kept corpus. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dogmalloc.h>
#include "fuzz.h"
#include "fuzz_worker.h"

enum { SLOTS = 64, HEAPS = 4 };

typedef fuzz_slot_t slot_t;     /* fuzz.h */

static slot_t slots[SLOTS];
static dog_heap_t *heaps[HEAPS];
static size_t heap_limit[HEAPS];
static unsigned next_tag;

/* --- The second thread (fuzz_worker.h): the remote free path --- */

static void worker_warm(void)
{
    for (int i = 0; i < 64; i++)        /* a cache and a home shard of its own */
        dog_free(dog_malloc(16 + (size_t)i * 8));
}

static void free_in_worker(void *p)
{
    fuzz_worker_start(worker_warm, dog_free);
    fuzz_free_in_worker(p);
}

/* --- Slots --------------------------------------------------------------------------- */

static dog_heap_t *heap_at(int h)
{
    return h < 0 ? dog_default : heaps[h];
}

/* A block just returned for slot s: check what the API promises of it (alignment, usable
 * size, heap), then let fuzz_slot_set fill it or check its zeros as mode says. */
static void slot_take(slot_t *s, void *p, size_t size, int heap, size_t align, int mode)
{
    if (align > 1 && ((uintptr_t)p & (align - 1)) != 0)
        fuzz_fail("block %p not aligned to %zu", p, align);
    size_t usable = dog_usable_size(p);
    if (usable < size)
        fuzz_fail("block %p: usable size %zu below the %zu requested", p, usable, size);
    if (dog_heap_of(p) != heap_at(heap))
        fuzz_fail("dog_heap_of(%p) = %p, expected %p", p, (void *)dog_heap_of(p),
                  (void *)heap_at(heap));
    fuzz_slot_set(s, p, size, usable, align, heap, next_tag++, mode);
}

static void slot_drop(slot_t *s)
{
    s->p = NULL;
}

/* A NULL answer must come with errno ENOMEM (or EINVAL where asked) and is fine only
 * where memory or a budget can run out: the sizes here go up to a few MiB. */
static void expect_null_ok(void *p, int err, size_t size, int heap)
{
    if (p != NULL)
        return;
    if (errno != err)
        fuzz_fail("NULL for %zu bytes with errno %d, expected %d", size, errno, err);
    if (err == ENOMEM && size < ((size_t)1 << 30) && (heap < 0 || heap_limit[heap] == 0))
        fuzz_fail("NULL/ENOMEM for %zu bytes from a heap without a budget", size);
}

static void slot_free(slot_t *s, int how)
{
    fuzz_slot_verify(s);
    switch (how % 3) {
    case 0: dog_free(s->p); break;
    case 1: dog_free_sized(s->p, s->size); break;
    default: free_in_worker(s->p); break;
    }
    slot_drop(s);
}

/* --- Heaps --------------------------------------------------------------------------- */

static void heap_destroy(int h)
{
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p != NULL && slots[i].heap == h) {
            fuzz_slot_verify(&slots[i]);         /* what destroy frees was still intact */
            slot_drop(&slots[i]);
        }
    dog_heap_destroy(heaps[h]);
    heaps[h] = NULL;
}

static void heap_check_stats(int h);

/* dog_heap_delete: the heap goes, its live blocks become dog_default's, intact. */
static void heap_delete(int h)
{
    dog_heap_delete(heaps[h]);
    heaps[h] = NULL;
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p != NULL && slots[i].heap == h) {
            slots[i].heap = -1;
            fuzz_slot_verify(&slots[i]);         /* contents and heap_of: dog_default now */
        }
    heap_check_stats(-1);
}

/* dog_heap_reset: the heap stays, with nothing in use and its budget kept. */
static void heap_reset(int h)
{
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p != NULL && slots[i].heap == h) {
            fuzz_slot_verify(&slots[i]);         /* what the reset frees was still intact */
            slot_drop(&slots[i]);
        }
    dog_heap_reset(heaps[h]);
    heap_check_stats(h);                    /* no slot of h: nothing in use */
    dog_heap_stats_t st;
    if (dog_heap_stats(heaps[h], &st) != 0 || st.allocs != 0 || st.frees != 0 ||
        st.limit != heap_limit[h])
        fuzz_fail("heap %d after reset: %zu allocs, %zu frees, limit %zu", h, st.allocs,
                  st.frees, st.limit);
}

/* The stats of heap h (or dog_default) against the slots: exact, single-threaded. */
static void heap_check_stats(int h)
{
    dog_heap_stats_t st;
    if (dog_heap_stats(heap_at(h), &st) != 0)
        fuzz_fail("dog_heap_stats failed");
    size_t blocks = 0, bytes = 0;
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p != NULL && slots[i].heap == h) {
            blocks++;
            bytes += slots[i].usable;
        }
    if (st.blocks_in_use != blocks || st.bytes_in_use != bytes)
        fuzz_fail("heap %d stats: %zu blocks, %zu bytes in use; the slots hold %zu, %zu", h,
                  st.blocks_in_use, st.bytes_in_use, blocks, bytes);
    if (st.peak_bytes_in_use < st.bytes_in_use)
        fuzz_fail("heap %d: peak %zu below in use %zu", h, st.peak_bytes_in_use,
                  st.bytes_in_use);
    if (h >= 0 && heap_limit[h] != 0 && st.bytes_mapped > heap_limit[h])
        fuzz_fail("heap %d holds %zu bytes from the OS, over its budget %zu", h,
                  st.bytes_mapped, heap_limit[h]);
}

/* dog_heap_visit of heap h (or dog_default) against the slots: every block it hands over
 * is a slot of h with its usable size, once, and it hands over every such slot. */
typedef struct visit_seen {
    int h;
    size_t count;
    unsigned char seen[SLOTS];
} visit_seen_t;

static void visit_one(const dog_heap_t *heap, void *block, size_t usable, void *arg)
{
    visit_seen_t *v = arg;
    if (heap != heap_at(v->h))
        fuzz_fail("visit of heap %d: called with heap %p", v->h, (const void *)heap);
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].p == block && slots[i].heap == v->h) {
            if (usable != slots[i].usable || v->seen[i]++ != 0)
                fuzz_fail("visit of heap %d: block %p seen again or with usable %zu, not %zu",
                          v->h, block, usable, slots[i].usable);
            v->count++;
            return;
        }
    }
    fuzz_fail("visit of heap %d: %p is not a live block of it", v->h, block);
}

static void heap_check_visit(int h)
{
    visit_seen_t v = { .h = h };
    if (dog_heap_visit(heap_at(h), visit_one, &v) != 0)
        fuzz_fail("dog_heap_visit failed");
    size_t want = 0;
    for (int i = 0; i < SLOTS; i++)
        want += slots[i].p != NULL && slots[i].heap == h;
    if (v.count != want)
        fuzz_fail("visit of heap %d: %zu blocks, the slots hold %zu", h, v.count, want);
}

/* A heap for an operation: dog_default, or an explicit one (made if needed). */
static int pick_heap(void)
{
    unsigned b = fuzz_byte();
    if (b < 128)
        return -1;
    int h = (int)(b % HEAPS);
    if (heaps[h] == NULL) {
        char name[16];
        snprintf(name, sizeof name, "fuzz%d", h);
        unsigned l = fuzz_byte();
        heap_limit[h] = l < 192 ? 0 : (size_t)(l - 191) << 18;  /* none, or 256 KiB.. 16 MiB */
        heaps[h] = dog_heap_new(&(dog_heap_options_t){ .name = name, .limit = heap_limit[h] });
        if (heaps[h] == NULL) {
            if (heap_limit[h] != 0 && errno == EINVAL)
                return -1;      /* a budget too small for one page is refused: fine */
            fuzz_fail("dog_heap_new: errno %d", errno);
        }
        if (strcmp(dog_heap_name(heaps[h]), name) != 0)
            fuzz_fail("dog_heap_name");
    }
    return h;
}

/* --- The program ---------------------------------------------------------------------- */

static void op_alloc(slot_t *s, unsigned kind)
{
    int h = pick_heap();
    dog_heap_t *heap = heap_at(h);
    size_t size = fuzz_size(), align = 1;
    void *p = NULL;
    int mode = FUZZ_TAKE_FILL, err = ENOMEM;
    errno = 0;
    switch (kind % 5) {
    case 0:
        p = h < 0 ? dog_malloc(size) : dog_heap_malloc(heap, size);
        break;
    case 1: {
        size_t count = 1 + fuzz_byte() % 16;
        size /= count;
        p = h < 0 ? dog_calloc(count, size) : dog_heap_calloc(heap, count, size);
        size *= count;
        mode = FUZZ_TAKE_CALLOC;
        break;
    }
    case 2:
        align = (size_t)1 << (fuzz_byte() % 21);
        p = h < 0 ? dog_aligned_alloc(align, size) : dog_heap_aligned_alloc(heap, align, size);
        break;
    case 3: {
        align = (size_t)1 << (3 + fuzz_byte() % 18);
        void *q = NULL;
        h = -1;
        int rc = dog_posix_memalign(&q, align, size);
        if (rc != 0 && rc != ENOMEM)
            fuzz_fail("dog_posix_memalign(%zu, %zu) = %d", align, size, rc);
        p = q;
        errno = rc;
        break;
    }
    default:
        p = h < 0 ? dog_malloc(size) : dog_heap_malloc(heap, size);
        break;
    }
    expect_null_ok(p, err, size, h);
    if (p != NULL)
        slot_take(s, p, size, h, align, mode);
}

static void op_realloc(slot_t *s)
{
    size_t size = fuzz_size();
    unsigned how = fuzz_byte();
    int target = s->heap;
    void *q;
    fuzz_slot_verify(s);
    errno = 0;
    if (how % 3 == 0) {
        q = dog_realloc(s->p, size);
    } else if (how % 3 == 1) {
        size_t count = 1 + (how >> 4);
        size = size / count * count;
        q = dog_reallocarray(s->p, count, size / count);
    } else {
        target = pick_heap();
        q = target < 0 ? dog_realloc(s->p, size) : dog_heap_realloc(heap_at(target), s->p, size);
        if (target < 0)
            target = s->heap;
    }
    if (q == NULL) {
        expect_null_ok(q, ENOMEM, size, target);
        fuzz_slot_verify(s);             /* the old block is untouched */
        return;
    }
    /* The old contents up to the smaller size survive: the pattern, or calloc's zeros. */
    size_t keep = size < s->usable ? size : s->usable;
    if (s->zeroed && keep > s->size)
        keep = s->size;             /* calloc zeroed the requested bytes only */
    size_t bad = s->zeroed ? fuzz_nonzero(q, keep) : fuzz_check_upto(q, s->usable, keep, s->tag);
    if (bad != SIZE_MAX)
        fuzz_fail("realloc %p -> %p (%zu bytes): byte %zu not kept", (void *)s->p, q, size, bad);
    slot_take(s, q, size ? size : 1, target, 1, FUZZ_TAKE_KEEP);
    fuzz_fill(s->p, s->usable, s->tag);
}

/* Requests that must fail: sizes past PTRDIFF_MAX and overflowing products. */
static void op_impossible(unsigned kind)
{
    size_t huge = (size_t)PTRDIFF_MAX + 1 + fuzz_byte();
    __asm__("" : "+r"(huge));       /* the compiler would warn of the size it can see */
    void *p;
    errno = 0;
    switch (kind % 4) {
    case 0: p = dog_malloc(huge); break;
    case 1: p = dog_calloc(huge / 2, 4); break;
    case 2: p = dog_aligned_alloc(4096, huge); break;
    default: p = dog_aligned_alloc(3 + 2 * (fuzz_byte() | 1), 64); break;  /* not a power of 2 */
    }
    if (p != NULL || (errno != ENOMEM && errno != EINVAL))
        fuzz_fail("impossible request %u: %p, errno %d", kind % 4, p, errno);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin(data, size);
    while (!fuzz_done()) {
        unsigned op = fuzz_byte();
        slot_t *s = &slots[fuzz_byte() % SLOTS];
        switch (op % 16) {
        case 0: case 1: case 2: case 3: case 4: case 5:
            if (s->p != NULL)
                slot_free(s, op >> 4);
            op_alloc(s, op >> 4);
            break;
        case 6: case 7: case 8:
            if (s->p != NULL)
                slot_free(s, op >> 4);
            break;
        case 9: case 10:
            if (s->p != NULL)
                op_realloc(s);
            break;
        case 11: {
            int h = (int)((op >> 4) % HEAPS);
            if (heaps[h] != NULL) {
                if ((op >> 6) == 3)
                    heap_delete(h);
                else if (op >> 6)
                    heap_reset(h);
                else
                    heap_destroy(h);
            }
            break;
        }
        case 12: {
            int h = (int)((op >> 4) % (HEAPS + 1)) - 1;
            heap_check_stats(h >= 0 && heaps[h] != NULL ? h : -1);
            heap_check_visit(h >= 0 && heaps[h] != NULL ? h : -1);
            break;
        }
        case 13:
            if (s->p != NULL) {
                fuzz_slot_verify(s);
                if (dog_usable_size(s->p) != s->usable)
                    fuzz_fail("usable size of %p changed", (void *)s->p);
            }
            break;
        case 14:
            op_impossible(op >> 4);
            break;
        default:
            if ((op >> 4) == 0)
                dog_trim();
            else {
                dog_stats_t st;
                if (dog_stats(&st) != 0 || st.heaps < 1)
                    fuzz_fail("dog_stats");
            }
            break;
        }
    }
    /* Leave the process as it was for the next input: everything freed, heaps gone. */
    heap_check_stats(-1);
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p != NULL)
            slot_free(&slots[i], 0);
    for (int h = 0; h < HEAPS; h++)
        if (heaps[h] != NULL) {
            heap_check_stats(h);
            heap_destroy(h);
        }
    heap_check_stats(-1);
    return 0;
}
