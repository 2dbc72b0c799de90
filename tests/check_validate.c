/* SPDX-License-Identifier: MIT */
/* check_validate.c: the invariant validator of make DEBUG=3 (src/validate.c), shown
 * failing: each test breaks one invariant that a struct's comment promises, in a forked
 * child, then makes dogmalloc validate (dog_heap_stats, dog_heap_visit, a destroy or a huge
 * request) and checks that it stops naming the invariant and the structure. Below
 * DEBUG=3 the one test shows the validator absent: the same corruption goes unnoticed.
 *
 * Internal: the tests reach into page headers and shards (src/heap.h, src/huge.h), as
 * only a bug of dogmalloc itself, or a wild write, would. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "suites.h"
#include "heap.h"
#include "huge.h"

#define DOG_TEST_UNUSED __attribute__((unused))    /* helpers of one build's tests */

static DOG_TEST_UNUSED dog_heap_t *heap_fresh(const char *name)
{
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = name });
    ck_assert_ptr_nonnull(h);
    return h;
}

/* dog_heap_stats validates every shard of the heap, every page of each (stats.c), after
 * the collection that each shard validates first, without its pages (heap.c). */
static DOG_TEST_UNUSED void stats_of(dog_heap_t *h)
{
    dog_heap_stats_t st;
    dog_heap_stats(h, &st);
}

static DOG_TEST_UNUSED void visit_none(const dog_heap_t *heap, void *block, size_t usable,
                                       void *arg)
{
    (void)heap, (void)block, (void)usable, (void)arg;
}

/* dog_heap_visit validates every page of every shard first, with nothing collected. */
static DOG_TEST_UNUSED void visit_of(dog_heap_t *h)
{
    dog_heap_visit(h, visit_none, NULL);
}

#if DOG_DEBUG >= 3

/* What a child is given: the heap, and the blocks and page the test picked. */
typedef struct scene {
    dog_heap_t *heap;
    char *a, *b, *c;
    dog_page_t *page;
} scene_t;

static scene_t scene;

/* Three blocks of a bin above the thread caches' (20 KiB: no cache holds them), so that
 * freeing a and b puts them on their page's local free list: b, then a. */
enum { BIG = 20 * 1024 };

static void local_list_scene(void)
{
    scene.heap = heap_fresh("validate");
    scene.a = dog_heap_malloc(scene.heap, BIG);
    scene.b = dog_heap_malloc(scene.heap, BIG);
    scene.c = dog_heap_malloc(scene.heap, BIG);
    ck_assert(scene.a != NULL && scene.b != NULL && scene.c != NULL);
    scene.page = dog__page_of(scene.a);
    ck_assert_ptr_eq(dog__page_of(scene.b), scene.page);
    dog_free(scene.a);
    dog_free(scene.b);
    ck_assert_ptr_eq(scene.page->free, (dog_block_t *)(void *)scene.b);
}

/* --- A page ------------------------------------------------------------------------------ */

static void used_off_by_one(void *arg)
{
    (void)arg;
    scene.page->used++;
    visit_of(scene.heap);
}

START_TEST(test_validate_page_used_popcount)
{
    scene.heap = heap_fresh("validate");
    char *p = dog_heap_malloc(scene.heap, 32);
    ck_assert_ptr_nonnull(p);
    scene.page = dog__page_of(p);
    death_expect_saying(used_off_by_one, NULL, scene.page, "popcount(live) == used",
                        "a page's used one above its live bits");
    dog_heap_destroy(scene.heap);
}
END_TEST

static void block_size_wrong(void *arg)
{
    (void)arg;
    scene.page->block_size += 16;
    visit_of(scene.heap);
}

START_TEST(test_validate_page_block_size)
{
    scene.heap = heap_fresh("validate");
    char *p = dog_heap_malloc(scene.heap, 64);
    ck_assert_ptr_nonnull(p);
    scene.page = dog__page_of(p);
    death_expect_saying(block_size_wrong, NULL, scene.page,
                        "block_size is the size of the page's bin", "a page's block_size changed");
    dog_heap_destroy(scene.heap);
}
END_TEST

static void free_list_cycle(void *arg)
{
    (void)arg;
    /* a links back to b: the list b, a, b, a, ... never ends. */
    dog__block_set_next((dog_block_t *)(void *)scene.a, (dog_block_t *)(void *)scene.b,
                        scene.page->secret);
    stats_of(scene.heap);
}

START_TEST(test_validate_free_list_block_twice)
{
    local_list_scene();
    death_expect_saying(free_list_cycle, NULL, scene.page, "a block on it twice?",
                        "a local free list that cycles");
    dog_free(scene.c);
    dog_heap_destroy(scene.heap);
}
END_TEST

static void free_list_interior(void *arg)
{
    (void)arg;
    /* a links into the middle of b. */
    dog__block_set_next((dog_block_t *)(void *)scene.a, (dog_block_t *)(void *)(scene.b + 8),
                        scene.page->secret);
    stats_of(scene.heap);
}

START_TEST(test_validate_free_list_block_start)
{
    local_list_scene();
    death_expect_saying(free_list_interior, NULL, scene.page, "at an exact block start",
                        "a local free list link into a block");
    dog_free(scene.c);
    dog_heap_destroy(scene.heap);
}
END_TEST

static void free_list_live(void *arg)
{
    (void)arg;
    /* a links to c, which is handed out. */
    dog__block_set_next((dog_block_t *)(void *)scene.a, (dog_block_t *)(void *)scene.c,
                        scene.page->secret);
    stats_of(scene.heap);
}

START_TEST(test_validate_free_list_live_block)
{
    local_list_scene();
    death_expect_saying(free_list_live, NULL, scene.page, "has its live bit clear",
                        "a local free list that links a live block");
    dog_free(scene.c);
    dog_heap_destroy(scene.heap);
}
END_TEST

static void thread_list_cycle(void *arg)
{
    (void)arg;
    /* The thread free list is b, a: a now links back to b. A visit validates the list
     * without collecting it (a collection would stop at the second b itself: page.c,
     * collect). */
    dog__block_set_remote_next((dog_block_t *)(void *)scene.a, (dog_block_t *)(void *)scene.b,
                               scene.page);
    visit_of(scene.heap);
}

/* Push p onto its page's thread free list, as another thread's free does. */
static void free_remote(void *p)
{
    dog_page_t *page = dog__page_of(p);
    size_t index = dog__page_index(page, (uintptr_t)p - (uintptr_t)page - page->block_start);
    dog__free_remote(page, p, index);
}

START_TEST(test_validate_thread_list_block_twice)
{
    scene.heap = heap_fresh("validate");
    scene.a = dog_heap_malloc(scene.heap, 32);
    scene.b = dog_heap_malloc(scene.heap, 32);
    ck_assert(scene.a != NULL && scene.b != NULL);
    scene.page = dog__page_of(scene.a);
    ck_assert_ptr_eq(dog__page_of(scene.b), scene.page);
    free_remote(scene.a);
    free_remote(scene.b);
    ck_assert_ptr_eq(dog__load_relaxed(&scene.page->xthread_free), (dog_block_t *)(void *)scene.b);
    death_expect_saying(thread_list_cycle, NULL, scene.page, "used - |xthread_free|",
                        "a thread free list that cycles");
    dog_heap_destroy(scene.heap);
}
END_TEST

/* --- A shard ----------------------------------------------------------------------------- */

static void queue_prev_broken(void *arg)
{
    dog_page_t *second = arg;
    second->prev = NULL;
    stats_of(scene.heap);
}

START_TEST(test_validate_shard_queue_links)
{
    /* Two pages of one bin: the second's prev names the first. */
    scene.heap = heap_fresh("validate");
    char *first = dog_heap_malloc(scene.heap, BIG), *p = first;
    ck_assert_ptr_nonnull(first);
    for (int i = 0; i < 100 && dog__page_of(p) == dog__page_of(first); i++) {
        p = dog_heap_malloc(scene.heap, BIG);
        ck_assert_ptr_nonnull(p);
    }
    dog_page_t *a = dog__page_of(first), *b = dog__page_of(p);
    ck_assert_ptr_ne(a, b);
    /* The full first page went to the full list; a free brings it back behind b. */
    dog_free(first);
    ck_assert_ptr_eq(a->prev, b);
    dog_page_t *second = a;
    death_expect_saying(queue_prev_broken, second, second->shard, "prev and next agree",
                        "a bin queue whose prev and next disagree");
    dog_heap_destroy(scene.heap);
}
END_TEST

static void in_use_wrong(void *arg)
{
    (void)arg;
    scene.page->shard->in_use += 8;
    stats_of(scene.heap);
}

START_TEST(test_validate_shard_in_use)
{
    scene.heap = heap_fresh("validate");
    char *p = dog_heap_malloc(scene.heap, 32);
    ck_assert_ptr_nonnull(p);
    scene.page = dog__page_of(p);
    death_expect_saying(in_use_wrong, NULL, scene.page->shard,
                        "in_use is the sum over its pages of used * block_size",
                        "a shard's in_use off its pages' sum");
    dog_heap_destroy(scene.heap);
}
END_TEST

static void direct_stale(void *arg)
{
    (void)arg;
    /* The fast path then misses the bin's page (a harmless slow path), which is just what
     * a stale entry after a page change would do the other way round. */
    scene.page->shard->pages_direct[4] = &dog__page_empty;
    stats_of(scene.heap);
}

START_TEST(test_validate_shard_pages_direct)
{
    scene.heap = heap_fresh("validate");
    char *p = dog_heap_malloc(scene.heap, 32);      /* 4 words: pages_direct[4] */
    ck_assert_ptr_nonnull(p);
    scene.page = dog__page_of(p);
    ck_assert_ptr_eq(scene.page->shard->pages_direct[4], scene.page);
    death_expect_saying(direct_stale, NULL, scene.page->shard, "pages_direct[w] is the first page",
                        "a direct table entry that is not its bin's first page");
    dog_heap_destroy(scene.heap);
}
END_TEST

/* --- A heap, its huge blocks, the pool and the huge cache -------------------------------- */

static void huge_count_wrong(void *arg)
{
    (void)arg;
    scene.heap->huge_blocks++;
    stats_of(scene.heap);
}

START_TEST(test_validate_heap_huge_count)
{
    scene.heap = heap_fresh("validate");
    ck_assert_ptr_nonnull(dog_heap_malloc(scene.heap, 1 << 20));
    death_expect_saying(huge_count_wrong, NULL, scene.heap,
                        "huge_allocs - huge_frees == huge_blocks", "a heap's huge_blocks off its list");
    dog_heap_destroy(scene.heap);
}
END_TEST

static void pooled_page_owned(void *arg)
{
    dog_heap_t *other = arg;
    scene.page->tc_token = 12345;       /* a pooled page that a thread cache might match */
    dog_heap_destroy(other);            /* gives a page to the pool, which is validated */
}

START_TEST(test_validate_pool_page_token)
{
    dog_heap_t *other = heap_fresh("other");
    ck_assert_ptr_nonnull(dog_heap_malloc(other, 32));
    scene.heap = heap_fresh("validate");
    char *p = dog_heap_malloc(scene.heap, 32);
    ck_assert_ptr_nonnull(p);
    scene.page = dog__page_of(p);
    dog_heap_destroy(scene.heap);       /* its page goes to the pool */
    death_expect_saying(pooled_page_owned, other, scene.page, "a page in the pool has no shard",
                        "a pooled page with a thread-cache token");
    dog_heap_destroy(other);
}
END_TEST

static void cached_mapping_owned(void *arg)
{
    dog_huge_t *cached = arg;
    cached->heap = scene.heap;
    /* A request that the other cached mapping serves: the cache is validated with this
     * one still in it. */
    ck_assert_ptr_nonnull(dog_heap_malloc(scene.heap, 2 << 20));
}

START_TEST(test_validate_huge_cache_entry)
{
    scene.heap = heap_fresh("validate");
    char *a = dog_heap_malloc(scene.heap, 1 << 20);
    char *spacer = dog_heap_malloc(scene.heap, 1 << 20);   /* a and b do not touch */
    char *b = dog_heap_malloc(scene.heap, 2 << 20);
    ck_assert(a != NULL && spacer != NULL && b != NULL);
    dog_free(a);
    dog_free(b);                        /* both cached (huge.c), apart */
    dog_huge_t *cached = (dog_huge_t *)(void *)((char *)launder(a) - DOG_HUGE_HEADER);
    ck_assert_ptr_null(cached->heap);
    death_expect_saying(cached_mapping_owned, cached, cached,
                        "a cached mapping is free and has no heap", "a cached huge mapping with a heap");
    dog_free(spacer);
    dog_heap_destroy(scene.heap);
}
END_TEST

/* --- A thread cache ---------------------------------------------------------------------- */

static void cookie_lost(void *arg)
{
    (void)arg;
    dog__block_set_word(scene.b, 0);    /* the cached block now reads as a live one */
    stats_of(scene.heap);
}

START_TEST(test_validate_tcache_cookie)
{
    scene.heap = heap_fresh("validate");
    scene.a = dog_heap_malloc(scene.heap, 32);
    scene.b = dog_heap_malloc(scene.heap, 32);
    ck_assert(scene.a != NULL && scene.b != NULL);
    dog_free(scene.b);                  /* into this thread's cache of the heap */
    ck_assert(dog__block_cached(scene.b));
    death_expect_saying(cookie_lost, NULL, scene.b, "a cached block carries its cookie",
                        "a cached block whose cookie was overwritten");
    dog_heap_destroy(scene.heap);
}
END_TEST

#else   /* DOG_DEBUG < 3 */

static void used_off_by_one_unseen(void *arg)
{
    dog_heap_t *h = arg;
    char *p = dog_heap_malloc(h, 32);
    dog__page_of(p)->used++;
    stats_of(h);                        /* no validator: nothing stops */
}

START_TEST(test_validate_absent_below_debug3)
{
    dog_heap_t *h = heap_fresh("validate");
    char msg[1024];
    int status = death_run(used_off_by_one_unseen, h, msg, sizeof msg);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "a build below DEBUG=3 validated (status %d): \"%s\"", status, msg);
    dog_heap_destroy(h);
}
END_TEST

#endif

Suite *validate_suite(void)
{
    Suite *s = suite_create("validate");
    TCase *tc = tcase_create("core");
#if DOG_DEBUG >= 3
    tcase_add_test(tc, test_validate_page_used_popcount);
    tcase_add_test(tc, test_validate_page_block_size);
    tcase_add_test(tc, test_validate_free_list_block_twice);
    tcase_add_test(tc, test_validate_free_list_block_start);
    tcase_add_test(tc, test_validate_free_list_live_block);
    tcase_add_test(tc, test_validate_thread_list_block_twice);
    tcase_add_test(tc, test_validate_shard_queue_links);
    tcase_add_test(tc, test_validate_shard_in_use);
    tcase_add_test(tc, test_validate_shard_pages_direct);
    tcase_add_test(tc, test_validate_heap_huge_count);
    tcase_add_test(tc, test_validate_pool_page_token);
    tcase_add_test(tc, test_validate_huge_cache_entry);
    tcase_add_test(tc, test_validate_tcache_cookie);
#else
    tcase_add_test(tc, test_validate_absent_below_debug3);
#endif
    suite_add_tcase(s, tc);
    return s;
}
