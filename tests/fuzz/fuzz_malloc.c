/* SPDX-License-Identifier: MIT */
/* fuzz_malloc.c: a libFuzzer harness that drives operation sequences over the malloc
 * family of the override (src/override.c) and checks every answer against its contract.
 *
 * The input is a program, read as fuzz_api.c reads its own (fuzz.h): one opcode byte, a
 * slot byte, a few argument bytes. It works on 64 slots of blocks and calls every name
 * override.c defines: malloc, calloc, realloc, reallocarray, aligned_alloc,
 * posix_memalign, memalign, valloc, pvalloc, malloc_usable_size, free, free_sized,
 * free_aligned_sized, malloc_trim, cfree and glibc's internal aliases (__libc_malloc, ...),
 * with the edge cases of each: malloc(0), calloc(0, n), realloc(NULL, n), realloc(p, 0)
 * (a minimal block, not NULL: docs/override.md), memalign's rounding of an alignment that
 * is not a power of two, pvalloc(0), overflowing products, sizes above PTRDIFF_MAX, bad
 * alignments, each with the errno it must set (and free, posix_memalign and
 * malloc_usable_size must leave errno alone). It also copies strings (strdup, strndup),
 * frees from a second thread, routes the thread's malloc into a heap with a budget
 * (dog_thread_set_heap, what a subsystem does to account third-party code) and destroys
 * or resets that heap with its blocks live. Every live block holds a pattern over its
 * whole usable size, verified before it is freed or resized and at the end; calloc's
 * bytes must read zero, realloc must keep the min(old, new) prefix, every block must be
 * aligned as asked (and 8 or 16 bytes at least), its usable size at least the request,
 * its heap the one the route named, and the heaps' stats must match the slots exactly.
 *
 * How it reaches the override's functions. Under AddressSanitizer, ASan's own malloc
 * serves the process (libFuzzer's operator new and the C library's internal calls
 * included), and a second allocator under the names malloc and free would meet ASan's in
 * one process (a block of one freed by the other). So `make fuzz` takes src/override.c
 * as it is compiled for the library and renames its defined symbols with objcopy
 * (malloc -> fuzz_ovr_malloc, ...; mk/fuzz.mk): the code the harness calls is the
 * override's, byte for byte, and ASan, through dogmalloc's poisoning (src/track.h),
 * still reports an access past a block's usable size or into a freed one. What renaming
 * cannot show is the interposition itself: that the C library's strdup reaches
 * dogmalloc's malloc. The same harness built with FUZZ_MALLOC_REAL calls the real names,
 * linked from the override into the process so that everything in it runs on dogmalloc,
 * as a program linked with -ldogmalloc-override does; its strdup and strndup are the C
 * library's, checked to be blocks of the routed heap. `make check-fuzz` replays the kept
 * corpus through that build (the renamed one under SANITIZE=). The dog_strdup/strndup of
 * the library stand in for them in the renamed build. A libFuzzer build on the real names
 * would run the fuzzer's own allocations on dogmalloc too, but without ASan; the renamed
 * ASan build finds more per execution, and the real-name replay keeps the interposition
 * checked. The harness is built with -fno-builtin so that the compiler knows nothing of
 * these names (it could otherwise assume that free leaves errno as it was). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dogmalloc.h>
#include "fuzz.h"
#include "fuzz_worker.h"

#ifdef FUZZ_MALLOC_REAL
#define OVR(name) name
#define STRDUP(s) strdup(s)
#define STRNDUP(s, n) strndup(s, n)
#else
#define OVR(name) fuzz_ovr_##name
#define STRDUP(s) dog_strdup(s)
#define STRNDUP(s, n) dog_strndup(s, n)
#endif

/* The override's names (the standard ones repeat what <stdlib.h> declares in the real
 * build; free_sized is C23, the __libc_ names and cfree are in no header). */
void *OVR(malloc)(size_t size);
void *OVR(calloc)(size_t count, size_t size);
void *OVR(realloc)(void *p, size_t size);
void *OVR(reallocarray)(void *p, size_t count, size_t size);
void *OVR(aligned_alloc)(size_t alignment, size_t size);
int OVR(posix_memalign)(void **out, size_t alignment, size_t size);
void *OVR(memalign)(size_t alignment, size_t size);
void *OVR(valloc)(size_t size);
void *OVR(pvalloc)(size_t size);
size_t OVR(malloc_usable_size)(void *p);
void OVR(free)(void *p);
void OVR(free_sized)(void *p, size_t size);
void OVR(free_aligned_sized)(void *p, size_t alignment, size_t size);
int OVR(malloc_trim)(size_t pad);
void OVR(cfree)(void *p);
void *OVR(__libc_malloc)(size_t size);
void OVR(__libc_free)(void *p);
void *OVR(__libc_calloc)(size_t count, size_t size);
void *OVR(__libc_realloc)(void *p, size_t size);
void *OVR(__libc_memalign)(size_t alignment, size_t size);
void *OVR(__libc_valloc)(size_t size);
void *OVR(__libc_pvalloc)(size_t size);
int OVR(__posix_memalign)(void **out, size_t alignment, size_t size);

enum { SLOTS = 64, HEAPS = 2, PAGE = 4096, ERRNO_MARK = 4242 };

typedef fuzz_slot_t slot_t;     /* fuzz.h */

static slot_t slots[SLOTS];
static dog_heap_t *heaps[HEAPS];
static size_t heap_limit[HEAPS];
static int route = -1;      /* the heap this thread's malloc goes to: -1 for dog_default */
static unsigned next_tag;
static size_t base_blocks, base_bytes;  /* dog_default's blocks not the harness's */

/* strdup's sources, of non-NUL bytes: text ends with a NUL, raw has none, so that
 * strndup reading past its n bytes of raw is a global-buffer-overflow under ASan. */
static char text[(size_t)80 << 10], raw[(size_t)80 << 10];

/* --- The second thread (fuzz_worker.h): the remote free path --- */

static void worker_warm(void)
{
    for (int i = 0; i < 64; i++)        /* a cache and a home shard of its own */
        OVR(free)(OVR(malloc)(16 + (size_t)i * 8));
}

static void worker_release(void *p)
{
    errno = ERRNO_MARK;
    OVR(free)(p);
    if (errno != ERRNO_MARK)
        fuzz_fail("free on the worker changed errno to %d", errno);
}

/* Started before the first input's baseline is taken: pthread_create allocates (the
 * thread's TLS vector), through dogmalloc in the real-name build. */
static void worker_start(void)
{
    fuzz_worker_start(worker_warm, worker_release);
}

/* --- Slots --------------------------------------------------------------------------- */

static dog_heap_t *heap_at(int h)
{
    return h < 0 ? dog_default : heaps[h];
}

static size_t usable_size(void *p)
{
    errno = ERRNO_MARK;
    size_t n = OVR(malloc_usable_size)(p);
    if (errno != ERRNO_MARK)
        fuzz_fail("malloc_usable_size(%p) changed errno to %d", p, errno);
    return n;
}

/* A block just returned for slot s: check what the family promises of it (alignment:
 * align and at least 8, or 16 for 16 bytes or more; usable size; heap; no slot holds it
 * already), then let fuzz_slot_set fill it or check its zeros as mode says. */
static void slot_take(slot_t *s, void *p, size_t size, int heap, size_t align, int mode)
{
    size_t need = size >= 16 ? 16 : 8;
    if (align > need)
        need = align;
    if (((uintptr_t)p & (need - 1)) != 0)
        fuzz_fail("block %p of %zu bytes not aligned to %zu", p, size, need);
    size_t usable = usable_size(p);
    if (usable < size)
        fuzz_fail("block %p: usable size %zu below the %zu requested", p, usable, size);
    if (dog_heap_of(p) != heap_at(heap))
        fuzz_fail("dog_heap_of(%p) = %p, expected heap %d (%p)", p, (void *)dog_heap_of(p),
                  heap, (void *)heap_at(heap));
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p == p && &slots[i] != s)
            fuzz_fail("block %p handed out while slot %d holds it", p, i);
    fuzz_slot_set(s, p, size, usable, align, heap, next_tag++, mode);
}

/* A NULL answer must come with errno ENOMEM and is fine only where a budget can run
 * out: the sizes here go up to a few MiB, and dog_default has none. */
static void expect_null_ok(void *p, size_t size, int heap, const char *func)
{
    if (p != NULL)
        return;
    if (errno != ENOMEM)
        fuzz_fail("%s: NULL for %zu bytes with errno %d, expected ENOMEM", func, size, errno);
    if (heap < 0 || heap_limit[heap] == 0)
        fuzz_fail("%s: NULL/ENOMEM for %zu bytes from heap %d, which has no budget", func,
                  size, heap);
}

static void slot_free(slot_t *s, unsigned how)
{
    fuzz_slot_verify(s);
    if (how % 6 == 5) {
        fuzz_free_in_worker(s->p);
        s->p = NULL;
        return;
    }
    errno = ERRNO_MARK;
    switch (how % 6) {
    case 0: OVR(free)(s->p); break;
    case 1: OVR(cfree)(s->p); break;
    case 2: OVR(__libc_free)(s->p); break;
    case 3: OVR(free_sized)(s->p, s->size); break;
    default:
        if (s->align != 0)
            OVR(free_aligned_sized)(s->p, s->align, s->size);
        else
            OVR(free_sized)(s->p, s->size);
        break;
    }
    if (errno != ERRNO_MARK)
        fuzz_fail("free (way %u) of %p changed errno to %d", how % 6, (void *)s->p, errno);
    s->p = NULL;
}

/* --- Heaps and the route ------------------------------------------------------------- */

static void check_stats(int h)
{
    dog_heap_stats_t st;
    if (dog_heap_stats(heap_at(h), &st) != 0)
        fuzz_fail("dog_heap_stats failed");
    size_t blocks = h < 0 ? base_blocks : 0, bytes = h < 0 ? base_bytes : 0;
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p != NULL && slots[i].heap == h) {
            blocks++;
            bytes += slots[i].usable;
        }
    if (st.blocks_in_use != blocks || st.bytes_in_use != bytes)
        fuzz_fail("heap %d stats: %zu blocks, %zu bytes in use; expected %zu, %zu", h,
                  st.blocks_in_use, st.bytes_in_use, blocks, bytes);
    if (h >= 0 && heap_limit[h] != 0 && st.bytes_mapped > heap_limit[h])
        fuzz_fail("heap %d holds %zu bytes from the OS, over its budget %zu", h,
                  st.bytes_mapped, heap_limit[h]);
}

static void set_route(int h)
{
    dog_heap_t *prev = dog_thread_set_heap(h < 0 ? NULL : heaps[h]);
    if (prev != (route < 0 ? NULL : heaps[route]))
        fuzz_fail("dog_thread_set_heap returned %p, the route was heap %d", (void *)prev, route);
    route = h;
    if (dog_thread_heap() != (h < 0 ? NULL : heaps[h]))
        fuzz_fail("dog_thread_heap after routing to heap %d", h);
}

/* Destroy or reset heap h with its blocks live: they go with it, intact until then. A
 * destroy of the routed heap ends the route. */
static void heap_end(int h, int reset)
{
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p != NULL && slots[i].heap == h) {
            fuzz_slot_verify(&slots[i]);
            slots[i].p = NULL;
        }
    if (reset) {
        dog_heap_reset(heaps[h]);
        check_stats(h);
        return;
    }
    dog_heap_destroy(heaps[h]);
    heaps[h] = NULL;
    if (route == h) {
        if (dog_thread_heap() != NULL)
            fuzz_fail("the route outlived its heap's destroy");
        route = -1;
    }
}

/* A heap to route to: none (dog_default), or an explicit one, made if needed, with no
 * budget or one of 512 KiB .. 24 MiB. */
static int pick_heap(void)
{
    unsigned b = fuzz_byte();
    if (b < 128)
        return -1;
    int h = (int)(b % HEAPS);
    if (heaps[h] == NULL) {
        unsigned l = fuzz_byte();
        heap_limit[h] = l < 160 ? 0 : (size_t)(l - 158) << 18;
        heaps[h] = dog_heap_new(&(dog_heap_options_t){ .name = h ? "route1" : "route0",
                                                       .limit = heap_limit[h] });
        if (heaps[h] == NULL)
            fuzz_fail("dog_heap_new (limit %zu): errno %d", heap_limit[h], errno);
    }
    return h;
}

/* --- The family ---------------------------------------------------------------------- */

/* malloc, its alias, a tiny malloc (0 included), realloc(NULL, n), reallocarray(NULL, ...). */
static void op_malloc(slot_t *s, unsigned kind)
{
    size_t size = fuzz_size();
    void *p;
    errno = 0;
    switch (kind % 5) {
    case 0: p = OVR(malloc)(size); break;
    case 1: p = OVR(__libc_malloc)(size); break;
    case 2: size &= 15; p = OVR(malloc)(size); break;
    case 3: p = (kind & 8) ? OVR(__libc_realloc)(NULL, size) : OVR(realloc)(NULL, size); break;
    default: {
        size_t count = 1 + fuzz_byte() % 8;
        size /= count;
        p = OVR(reallocarray)(NULL, count, size);
        size *= count;
        break;
    }
    }
    expect_null_ok(p, size, route, "malloc");
    if (p != NULL)
        slot_take(s, p, size, route, 0, FUZZ_TAKE_FILL);
}

/* calloc and its alias, with 0 elements or 0 bytes now and then. */
static void op_calloc(slot_t *s, unsigned kind)
{
    size_t size = fuzz_size(), count = fuzz_byte() % 17;
    if (count != 0)
        size /= count;
    errno = 0;
    void *p = kind & 1 ? OVR(__libc_calloc)(count, size) : OVR(calloc)(count, size);
    expect_null_ok(p, count * size, route, "calloc");
    if (p != NULL)
        slot_take(s, p, count * size, route, 0, FUZZ_TAKE_CALLOC);
}

/* The smallest power of two >= a (memalign's rounding; 0 and 1 give 1). */
static size_t pow2_up(size_t a)
{
    size_t r = 1;
    while (r < a)
        r <<= 1;
    return r;
}

/* aligned_alloc, posix_memalign, memalign (any alignment: rounded up), valloc, pvalloc,
 * and their aliases. */
static void op_aligned(slot_t *s, unsigned kind)
{
    size_t size = fuzz_size(), align, want;
    unsigned a = fuzz_byte();
    void *p = NULL;
    errno = 0;
    switch (kind % 5) {
    case 0:
        align = (size_t)1 << (a % 21);
        p = OVR(aligned_alloc)(align, size);
        break;
    case 1: {
        align = sizeof(void *) << (a % 18);
        void *q = &q;
        int rc = kind & 8 ? OVR(__posix_memalign)(&q, align, size)
                          : OVR(posix_memalign)(&q, align, size);
        if (rc != 0 && rc != ENOMEM)
            fuzz_fail("posix_memalign(%zu, %zu) = %d", align, size, rc);
        if (errno != 0)
            fuzz_fail("posix_memalign(%zu, %zu) changed errno to %d", align, size, errno);
        if (rc != 0 && q != &q)
            fuzz_fail("posix_memalign(%zu, %zu) failed and wrote *out", align, size);
        p = rc == 0 ? q : NULL;
        if (rc == 0 && p == NULL)
            fuzz_fail("posix_memalign(%zu, %zu) = 0 with a NULL block", align, size);
        errno = rc;
        break;
    }
    case 2:     /* a fuzzed alignment, 0 to 1 MiB, mostly not a power of two */
        align = a < 64 ? a : a < 192 ? ((size_t)a << 4 | fuzz_byte()) : (size_t)a << 12;
        p = kind & 8 ? OVR(__libc_memalign)(align, size) : OVR(memalign)(align, size);
        align = pow2_up(align);
        break;
    case 3:
        align = PAGE;
        p = a & 1 ? OVR(__libc_valloc)(size) : OVR(valloc)(size);
        break;
    default:
        align = PAGE;
        if (a & 2)
            size &= 4095;           /* pvalloc(0) and sizes under a page, often */
        p = a & 1 ? OVR(__libc_pvalloc)(size) : OVR(pvalloc)(size);
        want = size == 0 ? PAGE : (size + PAGE - 1) & ~(size_t)(PAGE - 1);
        if (p != NULL && usable_size(p) < want)
            fuzz_fail("pvalloc(%zu): usable size %zu below %zu", size, usable_size(p), want);
        break;
    }
    expect_null_ok(p, size, route, "aligned");
    if (p != NULL)
        slot_take(s, p, size, route, align, FUZZ_TAKE_FILL);
}

/* strdup and strndup: the C library's in the real-name build, going through the
 * override's malloc; dog_strdup/dog_strndup in the renamed one. */
static void op_strdup(slot_t *s, unsigned kind)
{
    size_t len = fuzz_size() % sizeof text, n = fuzz_size();
    const char *src = text + sizeof text - 1 - len;      /* ends at text's final NUL */
    char *p;
    size_t copied = len;
    errno = 0;
    if (kind & 1) {
        p = STRDUP(src);
    } else {
        if (kind & 2) {     /* no NUL at all: the n bytes end where raw does */
            n %= sizeof raw + 1;
            src = raw + sizeof raw - n;
            len = n;
        }
        p = STRNDUP(src, n);
        copied = n < len ? n : len;
    }
    expect_null_ok(p, copied + 1, route, "strdup");
    if (p == NULL)
        return;
    slot_take(s, p, copied + 1, route, 0, FUZZ_TAKE_KEEP);
    if (memcmp(p, src, copied) != 0 || p[copied] != '\0')
        fuzz_fail("strdup/strndup (%zu bytes): not a copy", copied);
    fuzz_fill(s->p, s->usable, s->tag);
}

/* realloc, its alias and reallocarray of a live block: to any size, 0 included (a minimal
 * block: docs/override.md), keeping its heap and the min(old, new) prefix. */
static void op_realloc(slot_t *s, unsigned kind)
{
    size_t size = fuzz_size();
    void *q;
    fuzz_slot_verify(s);
    errno = 0;
    switch (kind % 4) {
    case 0: q = OVR(realloc)(s->p, size); break;
    case 1: q = OVR(__libc_realloc)(s->p, size); break;
    case 2: size &= 7; q = OVR(realloc)(s->p, size); break;     /* 0 and tiny */
    default: {
        size_t count = 1 + (kind >> 2) % 8;
        size = size / count * count;
        q = OVR(reallocarray)(s->p, count, size / count);
        break;
    }
    }
    if (q == NULL) {
        if (size <= s->usable)
            fuzz_fail("realloc %p (%zu usable) to %zu: a shrink failed", (void *)s->p,
                      s->usable, size);
        expect_null_ok(q, size, s->heap, "realloc");
        fuzz_slot_verify(s);             /* the old block is untouched */
        return;
    }
    size_t keep = size < s->usable ? size : s->usable;
    if (s->zeroed && keep > s->size)
        keep = s->size;             /* calloc zeroed the requested bytes only */
    size_t bad = s->zeroed ? fuzz_nonzero(q, keep) : fuzz_check_upto(q, s->usable, keep, s->tag);
    if (bad != SIZE_MAX)
        fuzz_fail("realloc %p -> %p (%zu bytes): byte %zu not kept", (void *)s->p, q, size, bad);
    s->p = NULL;                    /* the old block is gone: its address may come back */
    slot_take(s, q, size, s->heap, 0, FUZZ_TAKE_KEEP);
    fuzz_fill(s->p, s->usable, s->tag);
}

/* Requests that must fail, each with its errno, leaving a live block s (if any) intact;
 * and the calls on NULL that must do nothing. */
static void op_impossible(slot_t *s, unsigned kind)
{
    size_t big = (size_t)PTRDIFF_MAX + 1 + ((size_t)fuzz_byte() << 20);
    unsigned b = fuzz_byte();
    __asm__("" : "+r"(big));        /* the compiler would warn of the sizes it can see */
    void *p = NULL, *q = &q;
    int want = ENOMEM, rc;
    errno = 0;
    switch (kind % 10) {
    case 0: p = OVR(malloc)(big); break;
    case 1: p = OVR(calloc)(big / (b % 7 + 2) + 1, b % 7 + 2); break;     /* overflows */
    case 2: p = OVR(calloc)(b % 2 ? 1 : big, b % 2 ? big : 1); break;     /* too large */
    case 3: p = OVR(realloc)(s->p, big); break;
    case 4: p = OVR(reallocarray)(s->p, SIZE_MAX / (b + 2) + 1, b + 2); break;
    case 5:
        if (b & 1) {
            want = EINVAL;          /* 0, or not a power of two */
            p = OVR(aligned_alloc)(b & 2 ? 0 : 3 + 2 * (size_t)b, 64);
        } else {
            p = OVR(aligned_alloc)((size_t)8 << (b % 20), big);
        }
        break;
    case 6: {       /* posix_memalign: the error is returned; errno and *out stay */
        size_t align = b & 1 ? (b & 2 ? b >> 3 & 7 : 8 * (3 + 2 * (size_t)(b >> 2))) : 64;
        size_t size = b & 1 ? 64 : big;
        errno = ERRNO_MARK;
        rc = OVR(posix_memalign)(&q, align, size);
        if (rc != (b & 1 ? EINVAL : ENOMEM) || errno != ERRNO_MARK || q != &q)
            fuzz_fail("posix_memalign(%zu, %zu) = %d, errno %d, *out %s", align, size, rc,
                      errno, q != &q ? "written" : "kept");
        return;
    }
    case 7:
        if (b & 1) {            /* not a power of two, and none above it fits a size_t */
            want = EINVAL;
            p = OVR(memalign)(SIZE_MAX - b, 64);
        } else {
            p = OVR(memalign)((size_t)64 << (b % 16), big);
        }
        break;
    case 8: p = b & 1 ? OVR(valloc)(big) : OVR(pvalloc)(b & 2 ? big : SIZE_MAX - b); break;
    default:        /* NULL: free does nothing, a usable size of 0; errno kept */
        errno = ERRNO_MARK;
        OVR(free)(NULL);
        OVR(free_sized)(NULL, b);
        OVR(free_aligned_sized)(NULL, 64, b);
        OVR(cfree)(NULL);
        if (OVR(malloc_usable_size)(NULL) != 0 || errno != ERRNO_MARK)
            fuzz_fail("free/malloc_usable_size of NULL: errno %d", errno);
        return;
    }
    if (p != NULL || errno != want)
        fuzz_fail("impossible request %u (b %u): %p, errno %d, expected %d", kind % 10, b, p,
                  errno, want);
    if (s->p != NULL)
        fuzz_slot_verify(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (text[0] == 0) {
        memset(text, 'a', sizeof text - 1);
        memset(raw, 'b', sizeof raw);
    }
    worker_start();
    dog_heap_stats_t st;
    if (dog_heap_stats(dog_default, &st) != 0)
        fuzz_fail("dog_heap_stats failed");
    base_blocks = st.blocks_in_use;
    base_bytes = st.bytes_in_use;
    fuzz_begin(data, size);
    while (!fuzz_done()) {
        unsigned op = fuzz_byte();
        slot_t *s = &slots[fuzz_byte() % SLOTS];
        unsigned kind = op >> 4;
        if (op % 16 <= 5 && s->p != NULL)
            slot_free(s, kind);
        switch (op % 16) {
        case 0: case 1: op_malloc(s, kind); break;
        case 2: op_calloc(s, kind); break;
        case 3: case 4: op_aligned(s, kind); break;
        case 5: op_strdup(s, kind); break;
        case 6: case 7:
            if (s->p != NULL)
                slot_free(s, kind);
            break;
        case 8: case 9:
            if (s->p != NULL)
                op_realloc(s, kind);
            break;
        case 10:
            if (s->p != NULL) {
                fuzz_slot_verify(s);
                if (usable_size(s->p) != s->usable)
                    fuzz_fail("usable size of %p changed", (void *)s->p);
            }
            break;
        case 11: op_impossible(s, kind); break;
        case 12:
            check_stats(-1);
            for (int h = 0; h < HEAPS; h++)
                if (heaps[h] != NULL)
                    check_stats(h);
            break;
        case 13: set_route(pick_heap()); break;
        case 14:
            if (heaps[kind % HEAPS] != NULL)
                heap_end((int)(kind % HEAPS), kind >> 1 & 1);
            break;
        default:
            if (OVR(malloc_trim)(fuzz_byte()) != 1)
                fuzz_fail("malloc_trim did not return 1");
            break;
        }
    }
    /* Leave the process as it was for the next input: everything freed, no route, heaps
     * gone, dog_default back at its baseline. */
    check_stats(-1);
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p != NULL)
            slot_free(&slots[i], 0);
    set_route(-1);
    for (int h = 0; h < HEAPS; h++)
        if (heaps[h] != NULL) {
            check_stats(h);
            heap_end(h, 0);
        }
    check_stats(-1);
    return 0;
}
