/* SPDX-License-Identifier: MIT */
/* block.h: the one place that reads and writes the words of a free block.
 *
 * A block that is not handed out is in one of four places, and its first word says which
 * (mimalloc keeps the same choke point in mi_block_next/mi_block_set_next, where its
 * secure mode encodes the links):
 *   never carved      nothing written; its live bit is clear and its index >= capacity
 *   local free list   word 0 = the next block, raw (the secure build: xor the page's
 *                     secret, checked before it is followed); live bit clear
 *                     (shard lock held)
 *   thread cache      word 0 = key ^ the block's own address; live bit set
 *   thread free list  word 0 = key ^ the next block, or key ^ the page header at the
 *                     end of the list; live bit set until the owner collects it
 * The last two are "parked": freed, but still live for the page. The key has random bits
 * above the page offset (dog__block_key_init), and a parked block's word 0 xor key xor
 * its address is an offset inside its own 512 KiB page: one xor and one shift tell a
 * parked block from a live one (dog__block_parked), whoever freed it. A live block's
 * first word matches by chance with probability 2^-45. So a second free of a parked
 * block, by any thread, is refused at once, before it can put the block in a cache or a
 * list twice; a free of a block on the local free list is refused by its clear live bit.
 * What this cannot see: a program that writes the first word of a parked block before
 * freeing it again (a use after free); a collection then finds the broken link and stops
 * with a message (page.c: collect), but a cached block whose cookie was overwritten is
 * taken for a live one.
 * Under a memory checker (track.h) a free block is not accessible: each access below
 * opens its first word for the one load or store and closes it again. In the default
 * build that is nothing, and the code is what it was. */
#ifndef DOG_BLOCK_H
#define DOG_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include "compiler.h"
#include "config.h"
#include "track.h"

typedef struct dog_block {
    struct dog_block *next;
} dog_block_t;

/* Set once, by dog__init before the first page exists (page.c), never changed. */
extern DOG_HIDDEN uint64_t dog__block_key;

/* page.c: draw the key (nonzero above the page offset). */
void dog__block_key_init(uint64_t random);

static DOG_INLINE uint64_t dog__block_key_get(void)
{
    return __atomic_load_n(&dog__block_key, __ATOMIC_RELAXED);
}

static DOG_INLINE uint64_t dog__block_word(const void *p)
{
    dog_track_word_t t = dog__track_word_open(p);
    uint64_t w = *(const uint64_t *)p;
    dog__track_word_close(p, t);
    return w;
}

static DOG_INLINE void dog__block_set_word(void *p, uint64_t w)
{
    dog_track_word_t t = dog__track_word_open(p);
    *(uint64_t *)p = w;
    dog__track_word_close(p, t);
}

/* --- Local free list ------------------------------------------------------------------- */

/* A local free-list link that decodes to no block of its own page (DOG_SECURE_LINKS): the
 * block was written after it was freed, or by an overflow of the block before it
 * (page.c). Never returns, whatever the misuse policy: the list cannot be followed. */
DOG_NORETURN DOG_COLD void dog__block_bad_link(const void *b, uint64_t word);

/* The next block after b on its page's local free list, whose secret is secret (the
 * page's; ignored unless DOG_SECURE_LINKS). In the secure build the link must lead into
 * b's own page, or be the end of the list: a random word passes with probability 2^-45,
 * and an overwrite of its low bytes only is left to the callers' start-of-block and live
 * bit tests (page.h: dog__page_pop). */
static DOG_INLINE dog_block_t *dog__block_next(const dog_block_t *b, uint64_t secret)
{
    dog_track_word_t t = dog__track_word_open(b);
    dog_block_t *next = b->next;
    dog__track_word_close(b, t);
    if (!DOG_SECURE_LINKS)
        return next;
    uint64_t word = (uint64_t)(uintptr_t)next;
    next = (dog_block_t *)(uintptr_t)(word ^ secret);
    if (DOG_UNLIKELY(next != NULL && (((uintptr_t)next ^ (uintptr_t)b) >> DOG_PAGE_SHIFT) != 0))
        dog__block_bad_link(b, word);
    return next;
}

static DOG_INLINE void dog__block_set_next(dog_block_t *b, dog_block_t *next, uint64_t secret)
{
    if (DOG_SECURE_LINKS)
        next = (dog_block_t *)((uintptr_t)next ^ secret);
    dog_track_word_t t = dog__track_word_open(b);
    b->next = next;
    dog__track_word_close(b, t);
}

/* Build a list in order: *tail is the list's head (a variable, not a block) or the link
 * of its last block; b goes after it. head names the variable, so that only a block's
 * link is opened and closed (and encoded, in the secure build: the head is raw). */
static DOG_INLINE void dog__block_append(dog_block_t ***tail, dog_block_t **head, dog_block_t *b,
                                         uint64_t secret)
{
    if ((DOG_TRACK_ENABLED || DOG_SECURE_LINKS) && *tail != head) {
        dog__block_set_next((dog_block_t *)(void *)*tail, b, secret);
    } else {
        **tail = b;
    }
    *tail = &b->next;
}

/* End the list that dog__block_append built with rest. */
static DOG_INLINE void dog__block_append_end(dog_block_t **tail, dog_block_t **head,
                                             dog_block_t *rest, uint64_t secret)
{
    if ((DOG_TRACK_ENABLED || DOG_SECURE_LINKS) && tail != head)
        dog__block_set_next((dog_block_t *)(void *)tail, rest, secret);
    else
        *tail = rest;
}

/* --- Parked blocks: thread caches and thread free lists -------------------------------- */

/* The cookie of a cached block p: cookie_of(p) = key ^ p (one load of the key for the
 * test and the mark on the free path). */
static DOG_INLINE uint64_t dog__block_cookie(const void *p)
{
    return dog__block_key_get() ^ (uint64_t)(uintptr_t)p;
}

static DOG_INLINE void dog__block_mark_cached(void *p, uint64_t cookie)
{
    dog__block_set_word(p, cookie);
}

/* p leaves a cache for the user: its word no longer says "parked". */
static DOG_INLINE void dog__block_unmark(void *p)
{
    dog__block_set_word(p, 0);
}

/* Is a block whose first word is word and whose cookie is cookie parked (cached, or
 * waiting on its page's thread free list)? See the top of this file. */
static DOG_INLINE bool dog__block_parked_word(uint64_t word, uint64_t cookie)
{
    return ((word ^ cookie) >> DOG_PAGE_SHIFT) == 0;
}

static DOG_INLINE bool dog__block_parked(const void *p)
{
    return dog__block_parked_word(dog__block_word(p), dog__block_cookie(p));
}

/* Is p in a thread cache (its cookie exactly)? */
static DOG_INLINE bool dog__block_cached(const void *p)
{
    return dog__block_word(p) == dog__block_cookie(p);
}

/* Link b in front of next on a thread free list of the page at page_base; next NULL ends
 * the list (encoded as the page header, which is never a block). */
static DOG_INLINE void dog__block_set_remote_next(dog_block_t *b, dog_block_t *next,
                                                  const void *page_base)
{
    const void *link = next != NULL ? (const void *)next : page_base;
    dog__block_set_word(b, dog__block_key_get() ^ (uint64_t)(uintptr_t)link);
}

#endif
