/* SPDX-License-Identifier: MIT */
/* basic.c: dogmalloc as the program's malloc.
 *
 * dog_malloc(), dog_realloc(), dog_free() and friends behave like their C namesakes and are
 * served by dog_default, the shared heap that every thread may use. No set-up and no
 * clean-up is needed, not even when a thread exits.
 *
 * Build: cc basic.c $(pkg-config --cflags --libs dogmalloc)
 */
#include <dogmalloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    printf("dogmalloc %s (header %s)\n", dog_version_string(), DOG_VERSION_STRING);

    /* A growing string: realloc keeps the contents and may move the block. */
    size_t cap = 16, len = 0;
    char *text = dog_malloc(cap);
    if (text == NULL)
        return EXIT_FAILURE;
    for (int i = 0; i < 100; i++) {
        char word[16];
        int n = snprintf(word, sizeof word, "%d ", i);
        if (len + (size_t)n + 1 > cap) {
            char *bigger = dog_realloc(text, cap * 2);
            if (bigger == NULL) {           /* on failure the old block is still ours */
                dog_free(text);
                return EXIT_FAILURE;
            }
            text = bigger;
            cap *= 2;
        }
        memcpy(text + len, word, (size_t)n + 1);
        len += (size_t)n;
    }
    /* A block may hold more than was asked: the rest of its size class. */
    printf("text: %zu bytes in a %zu-byte buffer (usable %zu): \"%.20s...\"\n",
           len, cap, dog_usable_size(text), text);

    /* Zeroed arrays and aligned blocks come from the same heap. */
    double *zeros = dog_calloc(1000, sizeof *zeros);
    void *line = dog_aligned_alloc(64, 256);
    if (zeros == NULL || line == NULL)
        return EXIT_FAILURE;
    printf("calloc: zeros[999] = %g; aligned_alloc(64): address %% 64 = %u\n",
           zeros[999], (unsigned)((uintptr_t)line % 64));

    /* Every global block belongs to dog_default, and dog_free takes any of them. */
    printf("heap of text: \"%s\" (dog_default: %s)\n", dog_heap_name(dog_heap_of(text)),
           dog_heap_of(text) == dog_default ? "yes" : "no");
    dog_free(text);
    dog_free(zeros);
    dog_free(line);
    dog_free(NULL);                         /* a no-op, as free(NULL) */
    return EXIT_SUCCESS;
}
