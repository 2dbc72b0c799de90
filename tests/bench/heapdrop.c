/* SPDX-License-Identifier: MIT */
/* heapdrop: build a large object graph and drop it, in a loop (the subsystem-heap workload).
 *
 *   heapdrop-<variant> [iterations=60] [nodes=100000] [threads=2]
 *
 * Each thread repeatedly builds a parse-tree-like graph of about `nodes` nodes (node
 * records of 48-144 bytes, exact-size child pointer arrays, NUL-terminated names of 2-32
 * bytes and an occasional literal of up to 1 KiB: about 3 allocations per node), walks it
 * once to check it, and drops it. The same source is compiled once per way of dropping:
 *   free     malloc every object, free every object (preload any allocator into it)
 *   dog      dog_heap_new per graph, dog_heap_malloc, dog_heap_destroy    (libdogmalloc)
 *   mi       mi_heap_new per graph, mi_heap_malloc, mi_heap_destroy         (-lmimalloc)
 *   talloc   talloc_new per graph, talloc_size under the parent node, talloc_free(root)
 *   apr      apr_pool_create per graph, apr_palloc, apr_pool_destroy        (-lapr-1)
 * Select one with -DHEAPDROP_<VARIANT>.
 *
 * Self-check: the walk recounts nodes and string bytes and compares them with what the
 * build produced; a mismatch fails the run. */
#include "bench.h"

#if defined(HEAPDROP_FREE)
#define VARIANT "free"
typedef int arena_t;
static arena_t no_arena;
static void arena_init(void) { }
static arena_t *arena_begin(void) { return &no_arena; }
static void *arena_alloc(arena_t *a, void *parent, size_t size)
{
    (void)a, (void)parent;
    return malloc(size);
}
#define ARENA_FREES_EACH 1

#elif defined(HEAPDROP_DOG)
#include <dogmalloc.h>
#define VARIANT "dog"
typedef dog_heap_t arena_t;
static void arena_init(void) { }
static arena_t *arena_begin(void) { return dog_heap_new(NULL); }
static void *arena_alloc(arena_t *a, void *parent, size_t size)
{
    (void)parent;
    return dog_heap_malloc(a, size);
}
static void arena_end(arena_t *a, void *root)
{
    (void)root;
    dog_heap_destroy(a);
}

#elif defined(HEAPDROP_MI)
#include <mimalloc.h>
#define VARIANT "mi"
typedef mi_heap_t arena_t;
static void arena_init(void) { }
static arena_t *arena_begin(void) { return mi_heap_new(); }
static void *arena_alloc(arena_t *a, void *parent, size_t size)
{
    (void)parent;
    return mi_heap_malloc(a, size);
}
static void arena_end(arena_t *a, void *root)
{
    (void)root;
    mi_heap_destroy(a);
}

#elif defined(HEAPDROP_TALLOC)
#include <talloc.h>
#define VARIANT "talloc"
typedef void arena_t;
static void arena_init(void) { }
static arena_t *arena_begin(void) { return talloc_new(NULL); }
/* The natural talloc use: each object hangs under its parent, the root under the context. */
static void *arena_alloc(arena_t *a, void *parent, size_t size)
{
    return talloc_size(parent != NULL ? parent : a, size);
}
static void arena_end(arena_t *a, void *root)
{
    (void)root;
    talloc_free(a);
}

#elif defined(HEAPDROP_APR)
#include <apr_general.h>
#include <apr_pools.h>
#define VARIANT "apr"
typedef apr_pool_t arena_t;
static void arena_init(void)
{
    if (apr_initialize() != APR_SUCCESS)
        bench_fail("apr_initialize failed");
}
static arena_t *arena_begin(void)
{
    apr_pool_t *pool = NULL;
    return apr_pool_create(&pool, NULL) == APR_SUCCESS ? pool : NULL;
}
static void *arena_alloc(arena_t *a, void *parent, size_t size)
{
    (void)parent;
    return apr_palloc(a, size);
}
static void arena_end(arena_t *a, void *root)
{
    (void)root;
    apr_pool_destroy(a);
}

#else
#error "define one of HEAPDROP_FREE, HEAPDROP_DOG, HEAPDROP_MI, HEAPDROP_TALLOC, HEAPDROP_APR"
#endif

typedef struct node {
    uint32_t kind;
    uint32_t nchildren;
    struct node **children;     /* exactly nchildren pointers, or NULL */
    char *name;                 /* NUL-terminated, or NULL */
    size_t name_len;
    uint64_t payload_len;       /* bytes of payload[] that the kind carries */
    unsigned char payload[];
} node_t;

typedef struct build {
    arena_t *arena;
    uint64_t rng;
    size_t budget;              /* nodes still to create */
    size_t nodes, name_bytes;   /* what was built, for the check */
} build_t;

#define MAX_DEPTH 24

static void *xalloc(build_t *b, void *parent, size_t size)
{
    void *p = arena_alloc(b->arena, parent, size);
    if (p == NULL)
        bench_fail("heapdrop-%s: allocation of %zu bytes failed", VARIANT, size);
    return p;
}

static node_t *build_node(build_t *b, node_t *parent, unsigned depth)
{
    static const size_t payloads[8] = { 0, 0, 8, 16, 24, 40, 64, 96 };
    size_t payload = payloads[bench_rand(&b->rng) & 7];
    node_t *n = xalloc(b, parent, sizeof(node_t) + payload);
    n->kind = (uint32_t)(bench_rand(&b->rng) % 40);
    n->payload_len = payload;
    memset(n->payload, (int)n->kind, payload);
    b->nodes++;
    b->budget--;

    n->name = NULL;
    n->name_len = 0;
    if (n->kind < 30) {         /* identifiers, keywords, operators; some long literals */
        uint64_t r = bench_rand(&b->rng);
        size_t len = r % 50 == 0 ? bench_range_log(&b->rng, 64, 1024)
                                 : bench_range_log(&b->rng, 2, 32);
        n->name = xalloc(b, n, len + 1);
        for (size_t i = 0; i < len; i++)
            n->name[i] = (char)('a' + (r >> (i % 56)) % 26);
        n->name[len] = '\0';
        n->name_len = len;
        b->name_bytes += len;
    }

    /* The first levels fan out widely; below that 0-3 children, until the budget is used. */
    uint32_t want = depth < 3 ? 6 : depth < MAX_DEPTH ? (uint32_t)(bench_rand(&b->rng) % 4) : 0;
    n->nchildren = 0;
    n->children = NULL;
    if (want > b->budget)
        want = (uint32_t)b->budget;
    if (want > 0) {
        b->budget -= want;      /* reserve the children's nodes before descending */
        n->children = xalloc(b, n, want * sizeof(node_t *));
        for (uint32_t i = 0; i < want; i++) {
            b->budget++;
            n->children[i] = build_node(b, n, depth + 1);
        }
        n->nchildren = want;
    }
    return n;
}

/* Walk the tree; returns the node count and adds the name bytes to *bytes. */
static size_t walk(const node_t *n, size_t *bytes)
{
    size_t count = 1;
    if (n->name != NULL)
        *bytes += strlen(n->name);
    for (uint32_t i = 0; i < n->nchildren; i++)
        count += walk(n->children[i], bytes);
    return count;
}

#ifdef ARENA_FREES_EACH
static void free_tree(node_t *n)
{
    for (uint32_t i = 0; i < n->nchildren; i++)
        free_tree(n->children[i]);
    free(n->children);
    free(n->name);
    free(n);
}

static void arena_end(arena_t *a, void *root)
{
    (void)a;
    free_tree(root);
}
#endif

static size_t iterations, nodes_per_graph;
static atomic_size_t failures;

static void *worker_main(void *arg)
{
    uint64_t rng = bench_seed((uintptr_t)arg);
    for (size_t it = 0; it < iterations; it++) {
        build_t b = { .rng = rng, .budget = nodes_per_graph };
        b.arena = arena_begin();
        if (b.arena == NULL)
            bench_fail("heapdrop-%s: creating the heap failed", VARIANT);
        node_t *root = build_node(&b, NULL, 0);
        size_t bytes = 0, count = walk(root, &bytes);
        if (count != b.nodes || bytes != b.name_bytes)
            atomic_fetch_add(&failures, 1);
        arena_end(b.arena, root);
        rng = b.rng;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    iterations = (size_t)bench_arg(argc, argv, 1, 60);
    nodes_per_graph = (size_t)bench_arg(argc, argv, 2, 100000);
    size_t nthreads = (size_t)bench_arg(argc, argv, 3, 2);
    if (nodes_per_graph == 0 || nthreads == 0 || nthreads > 64)
        bench_fail("heapdrop: need nodes >= 1 and 1..64 threads");

    arena_init();
    pthread_t threads[64];
    for (size_t t = 0; t < nthreads; t++)
        bench_thread(&threads[t], worker_main, (void *)(uintptr_t)(t + 1));
    for (size_t t = 0; t < nthreads; t++)
        bench_join(threads[t]);
    if (atomic_load(&failures) != 0)
        bench_fail("heapdrop-%s: %zu graphs did not walk back as built", VARIANT,
                   atomic_load(&failures));
    printf("heapdrop-%s: %zu threads x %zu graphs of %zu nodes ok\n", VARIANT, nthreads,
           iterations, nodes_per_graph);
    return 0;
}
