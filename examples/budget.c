/* SPDX-License-Identifier: MIT */
/* budget.c: a heap with a budget refuses to grow past it, and nothing else notices.
 *
 * The heap "images" may hold at most 2 MiB from the OS. Filling it ends in NULL with
 * errno == ENOMEM; the program handles that by dropping half of its images, after which
 * the heap serves requests again. dog_malloc() and other heaps are never affected.
 *
 * Build: cc budget.c $(pkg-config --cflags --libs dogmalloc)
 */
#include <dogmalloc.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_IMAGES = 10000, IMAGE_SIZE = 4096 };

int main(void)
{
    dog_heap_t *images = dog_heap_new(&(dog_heap_options_t){ .name = "images",
                                                             .limit = 2u << 20 });
    static void *image[MAX_IMAGES];
    int n = 0;
    if (images == NULL)
        return EXIT_FAILURE;

    /* Fill the heap until its budget says no. */
    errno = 0;
    while (n < MAX_IMAGES && (image[n] = dog_heap_malloc(images, IMAGE_SIZE)) != NULL)
        memset(image[n++], 0xab, IMAGE_SIZE);
    printf("budget hit after %d images of %d bytes: NULL, errno = %s (%s)\n", n, IMAGE_SIZE,
           errno == ENOMEM ? "ENOMEM" : "?", strerror(errno));
    if (errno != ENOMEM)
        return EXIT_FAILURE;

    /* The rest of the program is unaffected: the default heap still serves. */
    char *note = dog_malloc(1 << 20);
    printf("dog_malloc(1 MiB) meanwhile: %s\n", note != NULL ? "fine" : "failed");
    dog_free(note);

    /* Handle it: evict the older half, and the heap has room again. */
    for (int i = 0; i < n / 2; i++)
        dog_free(image[i]);
    void *fresh = dog_heap_malloc(images, IMAGE_SIZE);
    printf("after freeing %d images, a new one: %s\n", n / 2, fresh != NULL ? "fine" : "NULL");

    dog_heap_stats_t st;
    dog_heap_stats(images, &st);
    printf("heap \"%s\": %zu KiB in use, %zu KiB mapped, limit %zu KiB\n", dog_heap_name(images),
           st.bytes_in_use / 1024, st.bytes_mapped / 1024, st.limit / 1024);
    dog_heap_destroy(images);
    return note != NULL && fresh != NULL ? EXIT_SUCCESS : EXIT_FAILURE;
}
