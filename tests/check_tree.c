/* SPDX-License-Identifier: MIT */
/* check_tree.c: child heaps (dog_heap_options_t.parent): a child's memory counts against
 * every ancestor's budget, destroying or resetting a heap destroys its subtree first
 * (children before parents), the tree shows in dog_stats_print_all, and every heap of a
 * tree stays usable from any thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "suites.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define PAGE (512 * KiB)

static dog_heap_t *heap_child(dog_heap_t *parent, const char *name, size_t limit)
{
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = name, .limit = limit,
                                                         .parent = parent });
    ck_assert_msg(h != NULL, "dog_heap_new(%s): errno %d", name, errno);
    return h;
}

START_TEST(test_tree_parent_and_stats)
{
    dog_heap_t *root = heap_child(NULL, "root", 0);
    dog_heap_t *a = heap_child(root, "a", 0), *b = heap_child(a, "b", 0);
    ck_assert_ptr_null(dog_heap_parent(root));
    ck_assert_ptr_eq(dog_heap_parent(a), root);
    ck_assert_ptr_eq(dog_heap_parent(b), a);
    ck_assert_ptr_null(dog_heap_parent(dog_default));
    void *pb = dog_heap_malloc(b, 100), *pa = dog_heap_malloc(a, 3 * MiB);
    ck_assert(pb != NULL && pa != NULL);
    ck_assert_ptr_eq(dog_heap_of(pb), b);
    dog_heap_stats_t sr = test_heap_stats(root), sa = test_heap_stats(a),
                     sb = test_heap_stats(b);
    /* Each heap's own memory, and its tree's: b's in a's and root's, a's in root's. */
    ck_assert_uint_eq(sr.bytes_mapped, 0);
    ck_assert_uint_eq(sb.bytes_mapped, PAGE);
    ck_assert_uint_ge(sa.bytes_mapped, 3 * MiB);
    ck_assert_uint_eq(sb.tree_bytes_mapped, sb.bytes_mapped);
    ck_assert_uint_eq(sa.tree_bytes_mapped, sa.bytes_mapped + sb.bytes_mapped);
    ck_assert_uint_eq(sr.tree_bytes_mapped, sa.tree_bytes_mapped);
    ck_assert_uint_eq(sb.blocks_in_use, 1);
    ck_assert_uint_eq(sr.blocks_in_use, 0);      /* blocks are counted in their own heap */
    /* A huge block shrunk in place gives memory back up the tree too. */
    pa = dog_realloc(pa, 1 * MiB);
    ck_assert_ptr_nonnull(pa);
    sr = test_heap_stats(root), sa = test_heap_stats(a), sb = test_heap_stats(b);
    ck_assert_uint_lt(sa.bytes_mapped, 3 * MiB);
    ck_assert_uint_eq(sa.tree_bytes_mapped, sa.bytes_mapped + sb.bytes_mapped);
    ck_assert_uint_eq(sr.tree_bytes_mapped, sa.tree_bytes_mapped);
    dog_free(pa);
    dog_heap_destroy(b);
    ck_assert_uint_eq(test_heap_stats(root).tree_bytes_mapped, test_heap_stats(a).bytes_mapped);
    dog_heap_destroy(root);                     /* a with it */
}
END_TEST

/* The budget of an ancestor holds the whole subtree: children without budgets of their
 * own cannot take the parent past its limit, together or alone. */
START_TEST(test_tree_parent_budget_holds_children)
{
    dog_heap_t *root = heap_child(NULL, "root", 4 * PAGE);
    dog_heap_t *c1 = heap_child(root, "c1", 0), *c2 = heap_child(root, "c2", 0);
    dog_heap_t *g = heap_child(c1, "g", 0);
    dog_heap_t *kids[3] = { c1, c2, g };
    size_t got = 0;
    for (int k = 0; ; k++) {
        void *p = dog_heap_malloc(kids[k % 3], 200 * KiB);      /* huge: 256 KiB mappings */
        if (p == NULL) {
            ck_assert_int_eq(errno, ENOMEM);
            break;
        }
        got++;
        ck_assert_uint_le(test_heap_stats(root).tree_bytes_mapped, 4 * PAGE);
        ck_assert_uint_lt(got, 100);
    }
    ck_assert_uint_ge(got, 4);
    /* A refusal by the root undid what it had counted below it: each tree is its own
     * memory plus its children's trees. */
    dog_heap_stats_t sr = test_heap_stats(root), s1 = test_heap_stats(c1),
                     s2 = test_heap_stats(c2), sg = test_heap_stats(g);
    ck_assert_uint_eq(sg.tree_bytes_mapped, sg.bytes_mapped);
    ck_assert_uint_eq(s1.tree_bytes_mapped, s1.bytes_mapped + sg.tree_bytes_mapped);
    ck_assert_uint_eq(s2.tree_bytes_mapped, s2.bytes_mapped);
    ck_assert_uint_eq(sr.tree_bytes_mapped,
                      sr.bytes_mapped + s1.tree_bytes_mapped + s2.tree_bytes_mapped);
    /* A heap with no budget of its own, refused by its ancestor's; a small block too. */
    errno = 0;
    ck_assert_ptr_null(dog_heap_malloc(g, 1 * MiB));
    ck_assert_int_eq(errno, ENOMEM);
    /* dog_default and unrelated heaps are not bound by it. */
    void *big = dog_malloc(8 * MiB);
    ck_assert_ptr_nonnull(big);
    dog_free(big);
    /* Room again once a child is gone. */
    dog_heap_destroy(c2);
    ck_assert_uint_le(test_heap_stats(root).tree_bytes_mapped, 4 * PAGE);
    void *p = dog_heap_malloc(g, 200 * KiB);
    ck_assert_ptr_nonnull(p);
    dog_heap_destroy(root);
}
END_TEST

/* A child's own budget applies too, inside the parent's. */
START_TEST(test_tree_child_budget_inside_parent)
{
    dog_heap_t *root = heap_child(NULL, "root", 0);
    dog_heap_t *c = heap_child(root, "c", 2 * PAGE);
    void *p = dog_heap_malloc(c, 600 * KiB), *q = dog_heap_malloc(c, 600 * KiB);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_null(q);
    ck_assert_int_eq(errno, ENOMEM);
    void *r = dog_heap_malloc(root, 4 * MiB);   /* the parent has no budget */
    ck_assert_ptr_nonnull(r);
    dog_heap_destroy(root);
}
END_TEST

/* The handler of the heap whose budget is exceeded is called, with that heap: here the
 * parent's, for a request of its child; raising its limit lets the request through. */
static _Atomic int grow_calls;
static dog_heap_t *grow_seen;

static int grow_root(dog_heap_t *heap, size_t request, void *arg)
{
    (void)arg;
    atomic_fetch_add(&grow_calls, 1);
    grow_seen = heap;
    dog_heap_stats_t st;
    if (dog_heap_stats(heap, &st) != 0)
        return 0;
    return dog_heap_set_limit(heap, st.tree_bytes_mapped + request + 2 * PAGE) == 0;
}

START_TEST(test_tree_ancestor_handler)
{
    dog_heap_t *root = dog_heap_new(&(dog_heap_options_t){ .name = "root", .limit = 2 * PAGE,
                                                            .on_limit = grow_root });
    ck_assert_ptr_nonnull(root);
    dog_heap_t *c = heap_child(root, "c", 0), *g = heap_child(c, "g", 0);
    atomic_store(&grow_calls, 0);
    grow_seen = NULL;
    void *p = dog_heap_malloc(g, 3 * MiB);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(atomic_load(&grow_calls), 1);
    ck_assert_ptr_eq(grow_seen, root);
    ck_assert_ptr_eq(dog_heap_of(p), g);
    dog_heap_destroy(root);
}
END_TEST

/* Destroying a heap destroys its subtree first, children before parents: the leak
 * reports (one per heap with live blocks) come in that order. */
enum { ORDER_MAX = 16 };
static char order[ORDER_MAX][8];
static size_t order_n;

static void note_heap(const dog_heap_t *heap, void *block, size_t usable, void *arg)
{
    (void)block;
    (void)usable;
    (void)arg;
    const char *name = dog_heap_name(heap);
    if (order_n == 0 || strcmp(order[order_n - 1], name) != 0) {
        ck_assert_uint_lt(order_n, ORDER_MAX);
        snprintf(order[order_n++], sizeof order[0], "%s", name);
    }
}

static dog_heap_t *reporting(dog_heap_t *parent, const char *name)
{
    dog_heap_t *h = dog_heap_new(&(dog_heap_options_t){ .name = name, .parent = parent,
                                                         .flags = DOG_HEAP_LEAK_REPORT,
                                                         .on_leak = note_heap });
    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_nonnull(dog_heap_malloc(h, 64));
    return h;
}

static const char *order_str(void)
{
    static char s[ORDER_MAX * 9];
    s[0] = '\0';
    for (size_t i = 0; i < order_n; i++) {
        strcat(s, order[i]);
        strcat(s, i + 1 < order_n ? " " : "");
    }
    return s;
}

static size_t live_heaps(void)
{
    dog_stats_t st;
    ck_assert_int_eq(dog_stats(&st), 0);
    return st.heaps;
}

START_TEST(test_tree_destroy_depth_first)
{
    size_t heaps = live_heaps();
    dog_heap_t *r = reporting(NULL, "r");
    dog_heap_t *a = reporting(r, "a");
    reporting(a, "a1");
    reporting(a, "a2");                 /* newest child of a: destroyed first */
    dog_heap_t *b = reporting(r, "b");
    reporting(b, "b1");
    order_n = 0;
    dog_heap_destroy(r);
    ck_assert_str_eq(order_str(), "b1 b a2 a1 a r");
    ck_assert_uint_eq(live_heaps(), heaps);     /* every heap of the tree is gone */
}
END_TEST

static void name_of(void *h)
{
    dog_heap_name(h);
}

START_TEST(test_tree_children_dead_after_parent_destroy)
{
    dog_heap_t *r = heap_child(NULL, "r", 0), *c = heap_child(r, "c", 0);
    dog_heap_destroy(r);
    ck_assert_dies_naming(name_of, c, c, "dog_heap_name(child of a destroyed heap)");
}
END_TEST

/* A reset of a parent destroys its children and keeps the parent. */
START_TEST(test_tree_reset_destroys_children)
{
    dog_heap_t *r = reporting(NULL, "r");
    dog_heap_t *c = reporting(r, "c");
    reporting(c, "g");
    order_n = 0;
    dog_heap_reset(r);
    ck_assert_str_eq(order_str(), "g c");
    dog_heap_stats_t st = test_heap_stats(r);
    ck_assert_uint_eq(st.blocks_in_use, 0);
    ck_assert_uint_eq(st.tree_bytes_mapped, st.bytes_mapped);
    ck_assert_ptr_nonnull(dog_heap_malloc(r, 10));
    dog_heap_t *again = heap_child(r, "again", 0);
    ck_assert_ptr_eq(dog_heap_parent(again), r);
    order_n = 0;
    dog_heap_destroy(r);
    ck_assert_str_eq(order_str(), "r");
}
END_TEST

START_TEST(test_tree_bad_parents)
{
    size_t heaps = live_heaps();
    errno = 0;
    ck_assert_ptr_null(dog_heap_new(&(dog_heap_options_t){ .parent = dog_default }));
    ck_assert_int_eq(errno, EINVAL);
    /* At most DOG_HEAP_DEPTH_MAX levels: a chain of 64 heaps, and no 65th. */
    dog_heap_t *chain[64];
    chain[0] = heap_child(NULL, "0", 0);
    for (int i = 1; i < 64; i++)
        chain[i] = heap_child(chain[i - 1], "link", 0);
    errno = 0;
    ck_assert_ptr_null(dog_heap_new(&(dog_heap_options_t){ .parent = chain[63] }));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_nonnull(dog_heap_malloc(chain[63], 100));
    ck_assert_uint_eq(test_heap_stats(chain[0]).tree_bytes_mapped, PAGE);
    dog_heap_destroy(chain[0]);
    ck_assert_uint_eq(live_heaps(), heaps);
}
END_TEST

static void child_of_dead(void *parent)
{
    dog_heap_new(&(dog_heap_options_t){ .parent = parent });
}

START_TEST(test_tree_dead_parent_reported)
{
    dog_heap_t *r = heap_child(NULL, "r", 0);
    dog_heap_destroy(r);
    ck_assert_dies_naming(child_of_dead, r, r, "dog_heap_new(destroyed parent)");
}
END_TEST

START_TEST(test_tree_print_all_indents)
{
    dog_heap_t *r = heap_child(NULL, "tree-root", 0);
    dog_heap_t *c = heap_child(r, "tree-child", 0);
    heap_child(c, "tree-grandchild", 0);
    dog_heap_t *other = heap_child(NULL, "tree-other", 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(dog_stats_print_all(f), 0);
    fclose(f);
    const char *root = strstr(text, "\n  tree-root "), *child = strstr(text, "\n    tree-child ");
    const char *grand = strstr(text, "\n      tree-grandchild ");
    ck_assert_msg(root != NULL && child != NULL && grand != NULL && root < child && child < grand,
                  "table: %s", text);
    ck_assert_msg(strstr(text, "\n  tree-other ") != NULL, "table: %s", text);
    free(text);
    dog_heap_destroy(r);
    dog_heap_destroy(other);
}
END_TEST

/* Many threads create children of one parent at once, fill and check them, free half;
 * the parent's tree count is the sum of its children's; destroying the parent from the
 * main thread, after the threads exit, takes everything back. */
enum { THREADS = 8, ROUNDS = 30, BLOCKS = 200 };

typedef struct tree_work {
    dog_heap_t *root;
    dog_heap_t *mine;
    size_t bad;
} tree_work_t;

static void *fill_child(void *arg)
{
    tree_work_t *w = arg;
    w->mine = dog_heap_new(&(dog_heap_options_t){ .name = "kid", .parent = w->root });
    if (w->mine == NULL) {
        w->bad++;
        return NULL;
    }
    dog_heap_t *sub = dog_heap_new(&(dog_heap_options_t){ .name = "sub", .parent = w->mine });
    void *p[BLOCKS];
    for (size_t i = 0; i < BLOCKS; i++) {
        size_t size = 16 + (i * 77) % 5000;
        p[i] = dog_heap_malloc(i % 3 ? w->mine : sub, size);
        if (p[i] == NULL)
            w->bad++;
        else
            pattern_fill(p[i], size);
    }
    for (size_t i = 0; i < BLOCKS; i += 2) {
        size_t size = 16 + (i * 77) % 5000;
        if (p[i] != NULL && pattern_check(p[i], size) != SIZE_MAX)
            w->bad++;
        dog_free(p[i]);
    }
    return NULL;
}

START_TEST(test_tree_threads_create_use_destroy)
{
    size_t heaps = live_heaps();
    size_t rounds = test_scaled(ROUNDS);
    for (size_t r = 0; r < rounds; r++) {
        dog_heap_t *root = dog_heap_new(&(dog_heap_options_t){ .name = "root" });
        ck_assert_ptr_nonnull(root);
        tree_work_t w[THREADS];
        pthread_t t[THREADS];
        for (int k = 0; k < THREADS; k++) {
            w[k] = (tree_work_t){ .root = root };
            ck_assert_int_eq(pthread_create(&t[k], NULL, fill_child, &w[k]), 0);
        }
        size_t sum = 0;
        for (int k = 0; k < THREADS; k++) {
            pthread_join(t[k], NULL);
            ck_assert_uint_eq(w[k].bad, 0);
            sum += test_heap_stats(w[k].mine).tree_bytes_mapped;
        }
        dog_heap_stats_t st = test_heap_stats(root);
        ck_assert_uint_eq(st.tree_bytes_mapped, sum + st.bytes_mapped);
        dog_heap_destroy(root);
    }
    ck_assert_uint_eq(live_heaps(), heaps);
}
END_TEST

/* The empty pages a sibling keeps count against the parent's budget; a request at the
 * budget gets them back before it is refused. */
START_TEST(test_tree_sibling_pages_given_back)
{
    dog_heap_t *root = heap_child(NULL, "root", PAGE);
    dog_heap_t *c1 = heap_child(root, "c1", 0), *c2 = heap_child(root, "c2", 0);
    dog_free(dog_heap_malloc(c1, 40));          /* c1 keeps its emptied page for reuse */
    ck_assert_uint_eq(test_heap_stats(c1).bytes_mapped, PAGE);
    void *p = dog_heap_malloc(c2, 3000);        /* another class: a page of its own */
    ck_assert_msg(p != NULL, "refused (errno %d) while a sibling kept an empty page", errno);
    dog_heap_destroy(root);
}
END_TEST

/* A child's huge block grows under the parent's budget as under its own: in place, not
 * by a copy that holds the old and the new block at once. */
START_TEST(test_tree_huge_realloc_under_parent_budget)
{
    dog_heap_t *root = heap_child(NULL, "root", 8 * MiB);
    dog_heap_t *c = heap_child(root, "c", 0);
    char *p = dog_heap_malloc(c, 3 * MiB);
    ck_assert_ptr_nonnull(p);
    void *big = dog_malloc(12 * MiB);           /* leaves a cached mapping that would fit */
    dog_free(big);
    p[0] = 'a';
    char *q = dog_realloc(p, 6 * MiB);
    ck_assert_msg(q != NULL, "refused (errno %d)", errno);
    ck_assert_int_eq(q[0], 'a');
    dog_heap_destroy(root);
}
END_TEST

/* A parent's handler that destroys the child that asked: the retry does not run on the
 * dead child; it is reported. */
static dog_heap_t *asker;

static int destroy_asker(dog_heap_t *heap, size_t request, void *arg)
{
    (void)heap;
    (void)request;
    (void)arg;
    dog_heap_destroy(asker);
    return 1;
}

static void handler_kills_child(void *unused)
{
    (void)unused;
    dog_heap_t *root = dog_heap_new(&(dog_heap_options_t){ .limit = PAGE,
                                                            .on_limit = destroy_asker });
    asker = root != NULL ? dog_heap_new(&(dog_heap_options_t){ .parent = root }) : NULL;
    if (asker == NULL)
        _exit(3);
    void *volatile p = dog_heap_malloc(asker, 2 * MiB);   /* past the root's budget */
    (void)p;
    _exit(4);                       /* not reported */
}

START_TEST(test_tree_handler_destroying_asker_reported)
{
    char msg[4096];
    int status = death_run(handler_kills_child, NULL, msg, sizeof msg);
    ck_assert_msg(WIFSIGNALED(status), "status %d (exit %d): %s", status,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1, msg);
    ck_assert_msg(strstr(msg, "not a live heap") != NULL, "message: %s", msg);
}
END_TEST

/* A child asked for while its parent's destroy is under way (here from a leak handler
 * that the destroy calls for a sibling) is refused, never linked to a dying parent. */
static dog_heap_t *dying_parent;

static void make_child(const dog_heap_t *heap, void *block, size_t usable, void *arg)
{
    (void)heap, (void)block, (void)usable, (void)arg;
    dog_heap_new(&(dog_heap_options_t){ .parent = dying_parent });
}

static void child_of_dying(void *unused)
{
    (void)unused;
    dying_parent = dog_heap_new(NULL);
    dog_heap_t *c = dog_heap_new(&(dog_heap_options_t){ .parent = dying_parent,
                                                         .flags = DOG_HEAP_LEAK_REPORT,
                                                         .on_leak = make_child });
    if (c == NULL || dog_heap_malloc(c, 10) == NULL)
        _exit(3);
    dog_heap_destroy(dying_parent);
    _exit(4);
}

START_TEST(test_tree_child_of_dying_parent_refused)
{
    char msg[4096];
    int status = death_run(child_of_dying, NULL, msg, sizeof msg);
    ck_assert_msg(WIFSIGNALED(status), "status %d (exit %d): %s", status,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1, msg);
    ck_assert_msg(strstr(msg, "the parent is being destroyed") != NULL, "message: %s", msg);
}
END_TEST

Suite *tree_suite(void)
{
    Suite *s = suite_create("tree");
    TCase *tc = tcase_create("tree");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tree_parent_and_stats);
    tcase_add_test(tc, test_tree_parent_budget_holds_children);
    tcase_add_test(tc, test_tree_child_budget_inside_parent);
    tcase_add_test(tc, test_tree_ancestor_handler);
    tcase_add_test(tc, test_tree_destroy_depth_first);
    tcase_add_test(tc, test_tree_children_dead_after_parent_destroy);
    tcase_add_test(tc, test_tree_reset_destroys_children);
    tcase_add_test(tc, test_tree_bad_parents);
    tcase_add_test(tc, test_tree_dead_parent_reported);
    tcase_add_test(tc, test_tree_print_all_indents);
    tcase_add_test(tc, test_tree_threads_create_use_destroy);
    tcase_add_test(tc, test_tree_sibling_pages_given_back);
    tcase_add_test(tc, test_tree_huge_realloc_under_parent_budget);
    tcase_add_test(tc, test_tree_handler_destroying_asker_reported);
    tcase_add_test(tc, test_tree_child_of_dying_parent_refused);
    suite_add_tcase(s, tc);
    return s;
}
