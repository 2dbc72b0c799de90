/* SPDX-License-Identifier: MIT */
/* leaks.c: what a heap holds. dog_heap_visit() walks a heap's live blocks,
 * dog_heap_class_stats() sums them by size class, and a heap made with
 * DOG_HEAP_LEAK_REPORT says at dog_heap_destroy() which blocks were never freed.
 *
 * A "session" heap keeps a table of users; closing a session frees them all, except
 * that one code path forgets the users' nicknames. The visit counts what is live before
 * the close, and the leak report at destroy shows the forgotten nicknames.
 * DOGMALLOC_LEAK_REPORT=1 gives every heap the same report, also at exit.
 *
 * Build: cc leaks.c $(pkg-config --cflags --libs dogmalloc)
 */
#include <dogmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct user {
    char *name, *nick;
    unsigned id;
} user_t;

typedef struct census {
    size_t blocks, bytes, small;    /* small: blocks of up to 32 bytes */
} census_t;

static void count(const dog_heap_t *heap, void *block, size_t usable, void *arg)
{
    (void)heap;
    (void)block;
    census_t *c = arg;
    c->blocks++;
    c->bytes += usable;
    c->small += usable <= 32;
}

int main(void)
{
    dog_heap_t *session = dog_heap_new(&(dog_heap_options_t){
        .name = "session", .flags = DOG_HEAP_LEAK_REPORT });
    if (session == NULL)
        return EXIT_FAILURE;
    enum { USERS = 5 };
    user_t *users[USERS];
    for (unsigned i = 0; i < USERS; i++) {
        char name[32], nick[16];
        snprintf(name, sizeof name, "user number %u", i);
        snprintf(nick, sizeof nick, "u%u", i);
        users[i] = dog_heap_malloc(session, sizeof *users[i]);
        if (users[i] == NULL)
            return EXIT_FAILURE;
        users[i]->id = i;
        users[i]->name = dog_heap_strdup(session, name);
        users[i]->nick = dog_heap_strdup(session, nick);
        if (users[i]->name == NULL || users[i]->nick == NULL)
            return EXIT_FAILURE;
    }

    census_t c = { 0 };
    if (dog_heap_visit(session, count, &c) != 0)
        return EXIT_FAILURE;
    printf("session heap: %zu live blocks, %zu usable bytes, %zu of them small\n", c.blocks,
           c.bytes, c.small);
    dog_class_stats_t rows[64];             /* the same heap by size class */
    int n = dog_heap_class_stats(session, rows, 64);
    for (int i = 0; i < n; i++)
        printf("  class of %4zu bytes: %zu blocks in use\n", rows[i].block_size,
               rows[i].blocks_in_use);

    /* Closing the session: the nicknames are forgotten (the bug the report finds). */
    for (unsigned i = 0; i < USERS; i++) {
        dog_free(users[i]->name);
        dog_free(users[i]);
    }
    c = (census_t){ 0 };
    dog_heap_visit(session, count, &c);
    printf("after the close: %zu live blocks (expected 0)\n", c.blocks);
    fflush(stdout);
    dog_heap_destroy(session);      /* DOG_HEAP_LEAK_REPORT: the table goes to stderr */
    return c.blocks == USERS ? EXIT_SUCCESS : EXIT_FAILURE;
}
