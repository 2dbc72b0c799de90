/* SPDX-License-Identifier: MIT */
/* fork_stdio.c: fork() from threads while others hold stdio locks and allocate under them.
 *
 * Usage: fork_stdio [FORKS [FORKERS [READERS]]]   (defaults: 20 forks each, 2 forkers, 4 readers)
 *
 * The shape of glibc's malloc/tst-malloc-fork-deadlock (its code is not used here):
 * reader threads call getline() on a file whose only line is 50,000 bytes long, so
 * getline allocates and reallocates while it holds the FILE's lock; one thread calls
 * fflush(NULL), which holds the stdio list lock while it waits for each FILE's lock; and
 * forking threads fork() children that _exit(17) at once. An allocator whose atfork
 * prepare handler takes its locks before fork() takes the stdio list lock deadlocks:
 * the forker waits for the list lock (fflush), fflush waits for a FILE (a reader), the
 * reader waits in malloc for a lock that the forker holds.
 * The work is bounded (FORKS forks per forker, then everyone stops); a watchdog alarm
 * turns a hang into exit status 3 and a message, after killing the child it waits for.
 * Output: one verdict line that does not depend on timing. Exit status 0 when all is well.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FORKERS_MAX 8
#define READERS_MAX 16
#define LINE_LEN 50000
#define WATCHDOG_SECONDS 60     /* the run takes a few seconds; a hang takes forever */

static atomic_bool stop;
static int forkers = 2, readers = 4;
static atomic_int forkers_left;
static char path[] = "fork_stdio.XXXXXX";
static long forks_per_forker = 20;
static _Atomic pid_t waiting_for[FORKERS_MAX];

static void die(const char *what)
{
    fprintf(stderr, "fork_stdio: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* A hang: say so without stdio (its locks are what may be stuck), kill the children
 * that forkers are waiting for, and exit. */
static void on_watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "fork_stdio: not done after 60 s: deadlocked\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing more to do */
    }
    for (int i = 0; i < FORKERS_MAX; i++) {
        pid_t pid = atomic_load(&waiting_for[i]);
        if (pid > 0)
            kill(pid, SIGKILL);
    }
    unlink(path);
    _exit(3);
}

static void *forker(void *arg)
{
    int slot = (int)(intptr_t)arg;
    for (long i = 0; i < forks_per_forker; i++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0)
            _exit(17);
        atomic_store(&waiting_for[slot], pid);
        int status;
        while (waitpid(pid, &status, 0) < 0) {
            if (errno != EINTR)
                die("waitpid");
        }
        atomic_store(&waiting_for[slot], 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 17) {
            fprintf(stderr, "fork_stdio: child status %#x, expected exit 17\n", status);
            exit(1);
        }
    }
    if (atomic_fetch_sub(&forkers_left, 1) == 1)
        atomic_store(&stop, true);
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        die("fopen");
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        rewind(f);
        char *line = NULL;      /* a fresh buffer each time: getline allocates and grows it */
        size_t cap = 0;
        ssize_t n = getline(&line, &cap, f);
        if (n != LINE_LEN + 1) {
            fprintf(stderr, "fork_stdio: getline returned %zd, expected %d\n", n, LINE_LEN + 1);
            exit(1);
        }
        free(line);
    }
    fclose(f);
    return NULL;
}

static void *flusher(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed))
        if (fflush(NULL) != 0)
            die("fflush(NULL)");
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        forks_per_forker = atol(argv[1]);
    if (argc > 2)
        forkers = atoi(argv[2]);
    if (argc > 3)
        readers = atoi(argv[3]);
    if (forkers < 1 || forkers > FORKERS_MAX || readers < 1 || readers > READERS_MAX) {
        fprintf(stderr, "fork_stdio: 1-%d forkers and 1-%d readers\n", FORKERS_MAX, READERS_MAX);
        return 2;
    }
    atomic_store(&forkers_left, forkers);
    int fd = mkstemp(path);
    if (fd < 0)
        die("mkstemp");
    FILE *f = fdopen(fd, "w");
    if (f == NULL)
        die("fdopen");
    for (int i = 0; i < LINE_LEN; i++)
        fputc('x', f);
    fputc('\n', f);
    if (fclose(f) != 0)
        die("fclose");

    signal(SIGALRM, on_watchdog);
    alarm(WATCHDOG_SECONDS);
    pthread_t t[FORKERS_MAX + READERS_MAX + 1];
    int n = 0;
    for (int i = 0; i < readers; i++)
        if (pthread_create(&t[n++], NULL, reader, NULL) != 0)
            die("pthread_create");
    if (pthread_create(&t[n++], NULL, flusher, NULL) != 0)
        die("pthread_create");
    for (int i = 0; i < forkers; i++)
        if (pthread_create(&t[n++], NULL, forker, (void *)(intptr_t)i) != 0)
            die("pthread_create");
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    alarm(0);
    unlink(path);
    printf("fork_stdio: %d forkers x %ld forks with %d getline readers and fflush(NULL): ok\n",
           forkers, forks_per_forker, readers);
    return 0;
}
