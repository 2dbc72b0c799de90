/* SPDX-License-Identifier: MIT */
/* static_override.c: a fully static program (-static) linked with libdogmalloc-override.a,
 * whose malloc family, and the C library's own allocations, are all served by dog_default.
 * Exits non-zero, naming the call, if any block comes from another allocator. */
#define _GNU_SOURCE
#include <dogmalloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

static void expect_dog(const char *what, void *p)
{
    if (p == NULL || dog_heap_of(p) != dog_default) {
        fprintf(stderr, "static_override: %s: %p is not a block of dog_default\n", what, p);
        failures++;
    }
}

static void *thread_main(void *arg)
{
    (void)arg;
    void *p = malloc(200);
    expect_dog("malloc on a second thread", p);
    return p;                               /* freed by the main thread */
}

int main(void)
{
    void *a = malloc(40), *c = calloc(10, 10), *al = NULL;
    expect_dog("malloc", a);
    expect_dog("calloc", c);
    a = realloc(a, 100000);                 /* a huge block */
    expect_dog("realloc", a);
    if (posix_memalign(&al, 4096, 100) != 0)
        al = NULL;
    expect_dog("posix_memalign", al);
    char *s = strdup("allocated inside the C library");
    expect_dog("strdup (libc's own malloc call)", s);
    FILE *f = open_memstream(&s, &(size_t){0});   /* the C library allocates the buffer */
    fprintf(f, "%d", 42);
    fclose(f);
    expect_dog("open_memstream's buffer", s);

    pthread_t t;
    void *from_thread = NULL;
    if (pthread_create(&t, NULL, thread_main, NULL) != 0 || pthread_join(t, &from_thread) != 0)
        failures++;
    free(from_thread);

    pid_t pid = fork();                     /* the child allocates after fork */
    if (pid == 0)
        _exit(dog_heap_of(malloc(16)) == dog_default ? 0 : 1);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "static_override: malloc after fork is not dogmalloc's\n");
        failures++;
    }

    free(a);
    free(c);
    free(al);
    free(s);
    dog_heap_stats_t st;
    dog_heap_stats(dog_default, &st);
    printf("static_override: %s, dog_default made %zu allocations\n",
           failures ? "FAILED" : "every block came from dog_default", (size_t)st.allocs);
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
