/* SPDX-License-Identifier: MIT */
/* subsystems.c: one heap per subsystem, each named, measured and destroyed on its own.
 * The parser keeps its tokens in the heap "parser"; the word cache keeps its entries in
 * "cache", which has a budget: past it, allocations fail with ENOMEM and the cache stops
 * caching while the rest of the program carries on.
 * Build: cc subsystems.c $(pkg-config --cflags --libs dogmalloc)
 */
#include <dogmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct token { struct token *next; char text[]; } token_t;
typedef struct entry { struct entry *next; size_t hits; char key[]; } entry_t;

/* Parser: split a line into words; every token is a block of the parser's heap. */
static token_t *parse(dog_heap_t *heap, const char *line, token_t *list)
{
    for (size_t len; *line != '\0'; line += len + (line[len] == ' ')) {
        len = strcspn(line, " ");
        token_t *t = dog_heap_malloc(heap, sizeof *t + len + 1);
        if (t == NULL)
            break;
        memcpy(t->text, line, len);
        t->text[len] = '\0';
        t->next = list;
        list = t;
    }
    return list;
}

/* Cache: one entry per distinct word; a failed insert (budget hit) is not an error. */
static entry_t *cache_count(dog_heap_t *heap, entry_t *cache, const char *word)
{
    for (entry_t *e = cache; e != NULL; e = e->next)
        if (strcmp(e->key, word) == 0) {
            e->hits++;
            return cache;
        }
    entry_t *e = dog_heap_malloc(heap, sizeof *e + strlen(word) + 1);
    if (e == NULL)                          /* errno == ENOMEM: over budget, don't cache */
        return cache;
    *e = (entry_t){ .next = cache, .hits = 1 };
    strcpy(e->key, word);
    return e;
}

int main(void)
{
    dog_heap_t *parser = dog_heap_new(&(dog_heap_options_t){ .name = "parser" });
    dog_heap_t *cache = dog_heap_new(&(dog_heap_options_t){ .name = "cache", .limit = 4 << 20 });
    if (parser == NULL || cache == NULL)
        return EXIT_FAILURE;
    token_t *tokens = NULL;
    entry_t *words = NULL;
    for (int i = 0; i < 2000; i++)          /* 2000 lines of 9 words */
        tokens = parse(parser, "the quick brown fox jumps over the lazy dog", tokens);
    for (token_t *t = tokens; t != NULL; t = t->next)
        words = cache_count(cache, words, t->text);
    for (entry_t *e = words; e != NULL; e = e->next)
        printf("%s %s:%zu", e == words ? "word counts in the cache:" : "", e->key, e->hits);
    printf("\n");

    dog_heap_stats_print(parser, stdout);   /* each subsystem's own figures */
    dog_heap_stats_print(cache, stdout);
    dog_heap_destroy(parser);               /* every token gone at once, no walk needed */
    dog_heap_destroy(cache);
    return EXIT_SUCCESS;
}
