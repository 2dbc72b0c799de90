/* SPDX-License-Identifier: MIT */
/* heap_arena.c: a heap as an arena. Build a data structure in it, then drop the whole
 * structure with one dog_heap_destroy() call instead of freeing it node by node.
 *
 * Each round builds a binary search tree of 200000 nodes in a fresh heap, uses it, and
 * destroys the heap. The process-wide bytes_mapped shows the memory coming back: the
 * pages go to a reuse pool (so the next round maps nothing new) and dog_trim() hands
 * the pool back to the OS.
 *
 * Build: cc heap_arena.c $(pkg-config --cflags --libs dogmalloc)
 */
#include <dogmalloc.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct node { struct node *left, *right; unsigned key; } node_t;

static size_t mapped_kib(void)
{
    dog_stats_t st;
    return dog_stats(&st) == 0 ? st.bytes_mapped / 1024 : 0;
}

static size_t depth(const node_t *n)
{
    if (n == NULL)
        return 0;
    size_t l = depth(n->left), r = depth(n->right);
    return 1 + (l > r ? l : r);
}

int main(void)
{
    printf("start:          %6zu KiB mapped by dogmalloc\n", mapped_kib());
    for (int round = 1; round <= 3; round++) {
        dog_heap_t *arena = dog_heap_new(&(dog_heap_options_t){ .name = "tree" });
        if (arena == NULL)
            return EXIT_FAILURE;
        node_t *root = NULL;
        unsigned x = 12345u * (unsigned)round;
        for (int i = 0; i < 200000; i++) {   /* insert pseudo-random keys */
            x = x * 1103515245u + 12345u;
            node_t **slot = &root;
            while (*slot != NULL)
                slot = x < (*slot)->key ? &(*slot)->left : &(*slot)->right;
            if ((*slot = dog_heap_malloc(arena, sizeof **slot)) == NULL)
                return EXIT_FAILURE;
            **slot = (node_t){ NULL, NULL, x };
        }
        dog_heap_stats_t st;
        dog_heap_stats(arena, &st);
        printf("round %d: tree of %zu nodes, depth %zu, %zu KiB in use in %zu pages\n", round,
               st.blocks_in_use, depth(root), st.bytes_in_use / 1024, st.pages);
        dog_heap_destroy(arena);            /* all 200000 nodes released at once */
        printf("  destroyed:    %6zu KiB mapped (pages kept for reuse)\n", mapped_kib());
    }
    dog_trim();                             /* give unused pages back to the OS now */
    printf("after dog_trim: %6zu KiB mapped\n", mapped_kib());
    return EXIT_SUCCESS;
}
