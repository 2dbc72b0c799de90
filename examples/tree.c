/* SPDX-License-Identifier: MIT */
/* tree.c: child heaps. A server heap holds a budget for everything it serves; each
 * connection gets a child heap of it, and each request a child of its connection's.
 *
 * A child is a heap like any other (any thread may use it), but its memory also counts
 * against its ancestors' budgets, so the server's limit caps all its connections
 * together, and destroying a heap destroys its children first: closing a connection
 * ends its requests, and shutting the server down ends everything in one call.
 * dog_heap_delete retires a heap without freeing: its blocks become dog_default's.
 * Build: cc tree.c $(pkg-config --cflags --libs dogmalloc)
 */
#include <dogmalloc.h>
#include <stdio.h>
#include <stdlib.h>

static dog_heap_t *child(dog_heap_t *parent, const char *name)
{
    return dog_heap_new(&(dog_heap_options_t){ .name = name, .parent = parent });
}

int main(void)
{
    dog_heap_t *server = dog_heap_new(&(dog_heap_options_t){ .name = "server",
                                                              .limit = 8 << 20 });
    dog_heap_t *conn[3];
    for (int i = 0; i < 3; i++) {
        conn[i] = child(server, "connection");
        dog_heap_t *req = child(conn[i], "request");
        if (conn[i] == NULL || req == NULL || dog_heap_malloc(conn[i], 4096) == NULL ||
            dog_heap_malloc(req, 100000) == NULL)
            return EXIT_FAILURE;
    }
    dog_stats_print_all(stdout);                /* the tree, children indented */

    /* Connections without budgets of their own are held to the server's together. */
    size_t got = 0;
    while (dog_heap_malloc(conn[got % 3], 1 << 20) != NULL)
        got++;
    dog_heap_stats_t st;
    dog_heap_stats(server, &st);
    printf("1 MiB blocks granted to the connections: %zu; the server's tree holds %zu KiB "
           "of its %zu KiB budget\n", got, st.tree_bytes_mapped >> 10, st.limit >> 10);

    dog_heap_destroy(conn[0]);                  /* a connection closes: its request too */
    char *kept = dog_heap_strdup(conn[1], "a result the program keeps");
    dog_heap_delete(conn[1]);                   /* retired: its blocks go to dog_default */
    dog_heap_destroy(server);                   /* and the rest, children first */
    printf("after the server is gone: \"%s\" lives on in heap \"%s\"\n", kept,
           dog_heap_name(dog_heap_of(kept)));
    dog_free(kept);
    dog_stats_t all;
    dog_stats(&all);
    printf("heaps left: %zu (dog_default)\n", all.heaps);
    return got > 0 && all.heaps == 1 ? EXIT_SUCCESS : EXIT_FAILURE;
}
