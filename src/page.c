/* SPDX-License-Identifier: MIT */
/* page.c: laying out, extending and collecting a page (see types.h for the invariants). */
#include <stddef.h>
#include <string.h>
#include "misuse.h"
#include "page.h"
#include "size_class.h"
#include "validate.h"

dog_page_t dog__page_empty;
uint64_t dog__block_key;

/* The key needs random bits above the page offset (block.h): a key whose high bits were
 * all zero would take any pointer into a block's own page for a parked block. */
void dog__block_key_init(uint64_t random)
{
    if ((random >> DOG_PAGE_SHIFT) == 0)
        random |= (uint64_t)1 << 63;
    __atomic_store_n(&dog__block_key, random, __ATOMIC_RELAXED);
}

/* --- The secure build's secrets and shuffles ------------------------------------------- */

/* A thread's random numbers (splitmix64, seeded from the block key and the thread's own
 * address): page secrets and carve orders. Not for cryptography: what it protects is
 * that an attacker who cannot read the heap cannot predict them. */
static DOG_TLS uint64_t secure_rng;

static uint64_t secure_random(void)
{
    if (DOG_UNLIKELY(secure_rng == 0))
        secure_rng = dog__block_key_get() ^ ((uint64_t)(uintptr_t)&secure_rng << 16) ^ 1;
    uint64_t z = (secure_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A page's secret for its local links (block.h): random bits above the page offset that
 * also differ there from the block key's, so that an encoded link is never taken for a
 * parked block's word (block.h: dog__block_parked_word). */
static uint64_t page_secret(void)
{
    if (!DOG_SECURE_LINKS)
        return 0;
    uint64_t s = secure_random();
    if (((s ^ dog__block_key_get()) >> DOG_PAGE_SHIFT) == 0 || (s >> DOG_PAGE_SHIFT) == 0)
        s ^= (uint64_t)1 << 62;
    return s;
}

/* DOG_SECURE_SHUFFLE: put out[0 .. n) in a random order (Fisher-Yates), so that the
 * blocks of a carve are handed out in an order an attacker cannot predict, and an
 * overflow does not know its neighbour (mimalloc's secure mode randomises its free-list
 * extension the same way: page.c, mi_page_free_list_extend_secure). */
static void shuffle(void **out, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(((secure_random() >> 32) * (uint64_t)i) >> 32);
        void *t = out[i - 1];
        out[i - 1] = out[j];
        out[j] = t;
    }
}

void dog__block_bad_link(const void *b, uint64_t word)
{
    dog__corrupt(b, "heap corruption: the free-list link of free block %p was overwritten "
                 "(it reads %p): a write after free, or an overflow of the block before it",
                 b, (void *)(uintptr_t)word);
}

void dog__page_fill_broken(const void *block)
{
    const dog_page_t *page = dog__page_of(block);
    const uint64_t *w = block;
    size_t at = 1;
    while (w[at] == 0)
        at++;
    dog__corrupt(block, "heap corruption: free block %p (%u bytes) was written after it was "
                 "freed, at byte %zu: a use after free, or an overflow of the block before it",
                 block, page->block_size, at * 8);
}

void dog__page_corrupt(const dog_page_t *page, const void *block)
{
    dog__corrupt(block, "heap corruption in page %p: free block %p is linked twice or was "
                 "written after free (double free?)", (const void *)page, block);
}

/* Blocks of size bytes start at an offset aligned to the largest power of two dividing
 * size (capped at 64 KiB), so every block is naturally aligned to it. That is what makes
 * dog_aligned_alloc() a bin choice (size_class.c) and lets free() reject any pointer that
 * is not the start of a block. The bitmap comes first; its bound uses the whole page. */
void dog__page_init(dog_page_t *page, dog_shard_t *shard, size_t bin)
{
    size_t size = dog__bin_size(bin);
    size_t align = size & (~size + 1);
    if (align > 65536)
        align = 65536;
    if (align < 16)
        align = 16;
    size_t head = offsetof(dog_page_t, live);
    size_t bitmap = ((DOG_PAGE_SIZE - head) / size + 63) / 64 * 8;
    /* The secure build's freed bitmap sits at a fixed distance after the live one, and
     * has a bit for every 8 bytes of the page, whatever the block size (page.h). */
    size_t meta = head + (DOG_SECURE_FREED ? 2 * DOG_BITMAP_WORDS_MAX * 8 : bitmap);
    size_t end = DOG_PAGE_SIZE;
    if (DOG_SECURE_GUARDS) {
        /* Blocks lie between the two guard OS pages that page_pool.c set up. */
        meta = DOG_GUARD_META_OFF + DOG_GUARD_SIZE;
        end = DOG_GUARD_END_OFF;
    }
    size_t start = (meta + align - 1) & ~(align - 1);

    /* A memory checker (track.h) may read and write the bitmap, which may lie where
     * blocks of the page's last use were, and no block until it is handed out. */
    dog__track_defined((char *)page + head, start - head);
    dog__track_noaccess((char *)page + start, DOG_PAGE_SIZE - start);
    /* A reused page may hold stale bits (dog_heap_destroy frees wholesale) and old data
     * where the new bitmap goes; memory beyond touched is still zero from the OS. */
    if (page->touched > head) {
        size_t dirty = page->touched - head;
        memset((void *)page->live, 0, dirty < bitmap ? dirty : bitmap);
        /* The freed bits of the last use: one byte of them per 64 bytes it touched. */
        size_t freed = (page->touched + 63) / 64;
        if (DOG_SECURE_FREED)
            memset((void *)dog__page_freed_map(page), 0,
                   freed < DOG_BITMAP_WORDS_MAX * 8 ? freed : DOG_BITMAP_WORDS_MAX * 8);
    }
    page->free = NULL;
    page->used = 0;
    page->capacity = 0;
    page->unsorted = 0;
    page->remote_fed = 0;
    page->reserved = (uint32_t)((end - start) / size);
    page->block_size = (uint32_t)size;
    page->block_start = (uint32_t)start;
    page->block_neg = 0 - ((uintptr_t)page + start);
    page->bin = (uint16_t)bin;
    page->tc_bin_off = (uint16_t)(bin * DOG_TCACHE_BIN_DESC);
    page->in_full = 0;
    page->retire_wait = 0;
    page->block_magic = ((uint64_t)1 << 48) / size + 1;
    page->next = page->prev = NULL;
    page->shard = shard;
    page->heap = shard->heap;
    dog__store_relaxed(&page->xthread_free, NULL);
    dog__store_relaxed(&page->xnotify, DOG_NOTIFY_NONE);
    page->delayed_next = NULL;
    page->secret = page_secret();
    if (page->touched < start)
        page->touched = start;
}

/* How many blocks to carve next: up to the end of the OS page that the next block ends
 * in (one block at least, none beyond reserved), so that memory is touched only as it is
 * used. */
static size_t carve_count(const dog_page_t *page)
{
    size_t size = page->block_size, first = page->capacity;
    uintptr_t begin = page->block_start + first * size;
    uintptr_t limit = (begin + size + DOG_OS_PAGE_SIZE - 1) & ~(uintptr_t)(DOG_OS_PAGE_SIZE - 1);
    size_t n = (limit - begin) / size;
    if (n == 0)
        n = 1;
    return n < page->reserved - first ? n : page->reserved - first;
}

/* n more blocks are carved: capacity and the touched extent follow. */
static void carved(dog_page_t *page, size_t n)
{
    page->capacity += (uint32_t)n;
    size_t end = page->block_start + (size_t)page->capacity * page->block_size;
    if (end > page->touched)
        page->touched = end;
}

/* DOG_SECURE_FILL: the blocks [first, first + n) that a carve hands to a free list or a
 * cache must read as zeros after their first word (page.h). Memory at or beyond
 * page->touched is zero already: fresh from the OS, or purged (page_pool.c: page_purge;
 * dog__os_purge writes zeros where madvise fails). Only blocks of an earlier use of the
 * page, below it, are zeroed. Before carved(). */
static void carve_zero(dog_page_t *page, size_t first, size_t n)
{
    if (!DOG_FILL_ON)
        return;
    size_t size = page->block_size, bin = page->bin;
    char *p = (char *)dog__page_block(page, first), *end = p + n * size;
    char *fresh = (char *)page + page->touched;
    for (; p < end && p < fresh; p += size)
        dog__fill_zero(p, bin);
}

/* Carve the next blocks into the free list (carve_count). Lock held, free list empty. */
void dog__page_extend(dog_page_t *page)
{
    size_t size = page->block_size, first = page->capacity, n = carve_count(page);
    DOG_ASSERT_INTERNAL(n > 0 && page->free == NULL);

    dog_block_t *block = dog__page_block(page, first);
    /* DOG_SECURE_SHUFFLE: the list in a random order of the n blocks (at most an OS page
     * of blocks of 8 bytes, plus one: carve_count), else in address order. */
    void *order[DOG_SECURE_SHUFFLE ? DOG_OS_PAGE_SIZE / DOG_WORD_SIZE + 1 : 1];
    if (DOG_SECURE_SHUFFLE) {
        order[0] = block;
        for (size_t i = 1; i < n; i++)
            order[i] = (char *)block + i * size;
        shuffle(order, n);
        block = order[0];
    }
    page->free = block;
    carve_zero(page, first, n);
    for (size_t i = 1; i < n; i++) {
        dog_block_t *next = DOG_SECURE_SHUFFLE ? order[i] : (dog_block_t *)((char *)block + size);
        dog__block_set_next(block, next, page->secret);
        block = next;
    }
    dog__block_set_next(block, NULL, page->secret);
    carved(page, n);
    DOG_VALIDATE(dog__validate_page(page, "dog__page_extend"));
}

/* DOG_SECURE_FREED: the blocks [first, first + n), carved into a cache, are parked
 * (page.h): their freed bits set, one atomic or per word of the freed map they share
 * (remote frees may set other bits of a word at the same time). */
static void carve_park(dog_page_t *page, size_t first, size_t n)
{
    size_t size = page->block_size;
    uintptr_t p = (uintptr_t)dog__page_block(page, first), end = p + n * size;
    while (p < end) {
        _Atomic uint64_t *w = dog__page_freed_word(page, (const void *)p);
        uint64_t mask = 0;
        do {
            mask |= dog__page_freed_bit((const void *)p);
            p += size;
        } while (p < end && dog__page_freed_word(page, (const void *)p) == w);
        dog__fetch_or_relaxed(w, mask);
    }
}

/* Carve up to want blocks of page's untouched end straight into out[], for a thread
 * cache: the batch form of dog__page_extend and dog__page_pop, which builds no free list
 * to walk again at once. Blocks go into out[] in descending address order (a cache pops
 * from the end, so it hands them out ascending, as the prefetcher likes), each marked
 * live and cached (key ^ its address). Lock held, free list empty, capacity < reserved.
 * Returns how many (at least one). */
uint32_t dog__page_carve_cached(dog_shard_t *shard, dog_page_t *page, void **out, uint32_t want,
                                uint64_t key)
{
    /* No further than dog__page_extend would carve: a refill does not fault in memory
     * ahead of use. */
    size_t first = page->capacity, size = page->block_size, n = carve_count(page);
    if (n > want)
        n = want;
    DOG_ASSERT_INTERNAL(n > 0 && page->free == NULL);
    char *p = (char *)dog__page_block(page, first);
    carve_zero(page, first, n);
    for (size_t i = 0; i < n; i++, p += size) {
        dog__block_mark_cached(p, key ^ (uint64_t)(uintptr_t)p);
        out[n - 1 - i] = p;
    }
    if (DOG_SECURE_SHUFFLE)
        shuffle(out, n);
    /* The live bits of [first, first + n), a word at a time; all clear before. */
    for (size_t i = first, end = first + n; i < end;) {
        size_t lo = i & 63, span = end - i < 64 - lo ? end - i : 64 - lo;
        uint64_t mask = (span == 64 ? ~(uint64_t)0 : (((uint64_t)1 << span) - 1)) << lo;
        _Atomic uint64_t *w = &page->live[i >> 6];
        uint64_t bits = dog__load_relaxed(w);
        if (DOG_UNLIKELY(bits & mask))
            dog__page_corrupt(page, dog__page_block(page, i + (size_t)__builtin_ctzll(bits & mask) - lo));
        dog__store_relaxed(w, bits | mask);
        i += span;
    }
    if (DOG_SECURE_FREED)
        carve_park(page, first, n);
    carved(page, n);
    dog__page_took(shard, page, (uint32_t)n);
    DOG_VALIDATE(dog__validate_page(page, "dog__page_carve_cached"));
    return (uint32_t)n;
}

/* Rebuild the local free list of page in address order from its live bitmap: the free
 * blocks are exactly the clear bits below capacity (blocks freed remotely keep their bit
 * until collected, cached blocks are live). Lock held. */
void dog__page_reorder(dog_page_t *page)
{
    size_t capacity = page->capacity, size = page->block_size;
    char *base = (char *)page + page->block_start;
    dog_block_t *head = NULL, **tail = &head;
    for (size_t w = 0; w * 64 < capacity; w++) {
        uint64_t clear = ~dog__load_relaxed(&page->live[w]);
        if (capacity - w * 64 < 64)
            clear &= ((uint64_t)1 << (capacity - w * 64)) - 1;
        while (clear != 0) {
            size_t i = w * 64 + (size_t)__builtin_ctzll(clear);
            clear &= clear - 1;
            dog__block_append(&tail, &head, (dog_block_t *)(base + i * size), page->secret);
        }
    }
    dog__block_append_end(tail, &head, NULL, page->secret);
    page->free = head;
    page->unsorted = 0;
    DOG_VALIDATE(dog__validate_page(page, "dog__page_reorder"));
}

/* dog_heap_destroy, under a memory checker (track.h): the blocks of page that are still
 * handed out (live, and not parked on the thread free list) are freed for the checker,
 * all at once, so that a use afterwards is reported as a use after free. Lock held. */
void dog__page_untrack(dog_page_t *page)
{
    for (size_t i = 0; i < page->capacity; i++) {
        void *b = dog__page_block(page, i);
        if (dog__page_live(page, i) && !dog__block_parked(b))
            dog__track_free(b, page->block_size);
    }
}

/* dog_heap_visit (visit.c): copy into bits[0 .. (capacity + 63) / 64) the bitmap of the
 * blocks of page that are handed out: live, and not parked in a thread cache or on the
 * thread free list (block.h). Returns how many. Lock held; reads the first word of every
 * live block, so no other thread may be writing the page's blocks. */
size_t dog__page_live_snapshot(dog_page_t *page, uint64_t *bits)
{
    size_t capacity = page->capacity, size = page->block_size, n = 0;
    const char *base = (const char *)page + page->block_start;
    for (size_t w = 0; w * 64 < capacity; w++) {
        uint64_t live = dog__load_relaxed(&page->live[w]), out = live;
        while (live != 0) {
            size_t i = w * 64 + (size_t)__builtin_ctzll(live);
            live &= live - 1;
            if (dog__block_parked(base + i * size))
                out &= ~((uint64_t)1 << (i & 63));
        }
        bits[w] = out;
        n += (size_t)__builtin_popcountll(out);
    }
    return n;
}

/* A link on a thread free list that no free wrote: the block was written after it was
 * freed, or freed twice at the same moment by two threads. The list cannot be trusted
 * past it, so this never continues, whatever the misuse policy (misuse.h). */
static DOG_NORETURN DOG_COLD void collect_broken(const dog_page_t *page, const void *b,
                                                 uint64_t word, bool twice)
{
    if (twice)
        dog__corrupt(b, "double free of %p (block of %u bytes, found while collecting "
                     "cross-thread frees)", b, page->block_size);
    dog__corrupt(b, "heap corruption in page %p: block %p was written after it was freed by "
                 "another thread (its free-list link reads %p)", (const void *)page, b,
                 (void *)(uintptr_t)word);
}

/* Take the blocks that other threads freed into page, with one exchange: up to want of
 * them go into out[] for a thread cache, still live (a remotely freed block keeps its
 * live bit until collected, and a cached block has it set) and marked cached (key ^ its
 * address); the rest go in front of the local free list, their bits cleared. The walk
 * is a collection's anyway, so caching many blocks costs no extra miss, and the cached
 * ones skip a clear-and-set of their bits and a lock hold of their own. Each link must
 * be one a remote free wrote (block.h) and lead to a live block of this page, met once:
 * a clear bit, or a block already cached by this walk (a block pushed twice links back
 * into the list), is a double free; any other link is a write after free. Lock held.
 * Returns how many were collected; *cached says how many of them went into out[]. */
static size_t collect(dog_shard_t *shard, dog_page_t *page, void **out, uint32_t want,
                      uint32_t *cached)
{
    dog_block_t *list = dog__exchange_acquire(&page->xthread_free, NULL);
    const uintptr_t base = (uintptr_t)page + page->block_start;
    const uint64_t magic = page->block_magic, key = dog__block_key_get();
    _Atomic uint64_t *const live = page->live;
    uint32_t n = 0, rest = 0;
    dog_block_t *head = NULL, **tail = &head;
    /* The list ends at the page header (block.h), or is empty. */
    const dog_block_t *end = list != NULL ? (const dog_block_t *)(const void *)page : NULL;
    for (dog_block_t *b = list, *next; b != end; b = next) {
        /* A link a free wrote differs from the block's cookie in the page offset bits
         * only, and is not the cookie itself (block.h): one subtraction and shift test
         * both. A random word passes with probability 2^-45, so a link that passes leads
         * to a block of this page. */
        uint64_t word = dog__block_word(b), cookie = key ^ (uint64_t)(uintptr_t)b;
        if (DOG_UNLIKELY(((word ^ cookie) - 1) >> DOG_PAGE_SHIFT))
            collect_broken(page, b, word, word == cookie);
        size_t index = (size_t)((((uintptr_t)b - base) * magic) >> 48);
        _Atomic uint64_t *w = &live[index >> 6];
        uint64_t bits = dog__load_relaxed(w), bit = (uint64_t)1 << (index & 63);
        if (DOG_UNLIKELY((bits & bit) == 0))
            collect_broken(page, b, word, true);
        next = (dog_block_t *)(uintptr_t)(word ^ key);     /* the page header ends it */
        if (n < want) {
            dog__block_mark_cached(b, cookie);
            out[n++] = b;
        } else {
            dog__store_relaxed(w, bits ^ bit);    /* its freed bit stays: page.h */
            dog__block_append(&tail, &head, b, page->secret);
            rest++;
        }
    }
    dog__block_append_end(tail, &head, page->free, page->secret);
    page->free = head;
    page->used -= rest;
    page->unsorted += rest;
    if (rest != 0)
        page->remote_fed = 1;
    shard->in_use -= (size_t)rest * page->block_size;
    shard->frees += n + rest;
    shard->allocs += n;
    *cached = n;
    DOG_VALIDATE(dog__validate_page(page, "page collect"));
    return n + rest;
}

uint32_t dog__page_collect_cached(dog_shard_t *shard, dog_page_t *page, void **out,
                                  uint32_t want)
{
    uint32_t cached;
    collect(shard, page, out, want, &cached);
    return cached;
}

/* Take the blocks that other threads freed into page and give them to the local free
 * list (collect, caching none). Returns how many. */
size_t dog__page_collect(dog_shard_t *shard, dog_page_t *page)
{
    if (dog__load_relaxed(&page->xthread_free) == NULL)
        return 0;
    uint32_t cached;
    return collect(shard, page, NULL, 0, &cached);
}
