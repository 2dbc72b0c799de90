/* SPDX-License-Identifier: MIT */
/* fork_signal.c: fork() from a signal handler that interrupts malloc or free.
 *
 * Usage: fork_signal [ITERATIONS]   (default 8000)
 *
 * The shape of glibc's malloc/tst-mallocfork2 (its code is not used here): a
 * single-threaded program frees and allocates blocks of random sizes up to 70,000 bytes
 * in a loop, and now and then forks itself; sender processes send it SIGUSR1 at random
 * moments, and the handler forks a child that _exits at once, then waits for it. glibc
 * supports fork in a signal handler of a single-threaded process; an allocator whose
 * fork handlers wait for a lock that the interrupted malloc holds spins forever (the
 * same when the signal interrupts the loop's own fork inside the fork handlers).
 * The loop is bounded; a watchdog alarm turns a hang into exit status 3 and a message,
 * after killing the senders and the child being waited for. Every block carries a
 * pattern checked before its free, so corruption shows too.
 * Output: one verdict line that does not depend on timing. Exit status 0 when all is well.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OBJECTS 1009
#define SIZE_MAX_ 70000
#define SENDERS 2
#define WATCHDOG_SECONDS 60

static pid_t senders[SENDERS];
static volatile sig_atomic_t handler_errors, child_pid;

static void say(const char *msg)
{
    if (write(STDERR_FILENO, msg, strlen(msg)) < 0) {
        /* nothing more to do */
    }
}

static void kill_helpers(void)
{
    for (int i = 0; i < SENDERS; i++)
        if (senders[i] > 0)
            kill(senders[i], SIGKILL);
}

static void on_watchdog(int sig)
{
    (void)sig;
    say("fork_signal: not done after 60 s: deadlocked\n");
    if (child_pid > 0)
        kill(child_pid, SIGKILL);
    kill_helpers();
    _exit(3);
}

/* Wait for pid, which must _exit(0); false otherwise. Only async-signal-safe calls. */
static int reap(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void on_usr1(int sig)
{
    (void)sig;
    int saved = errno;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    if (pid < 0) {
        say("fork_signal: fork in the handler failed\n");
        handler_errors = handler_errors + 1;
    } else {
        child_pid = pid;
        if (!reap(pid)) {
            say("fork_signal: a child forked in the handler did not exit 0\n");
            handler_errors = handler_errors + 1;
        }
        child_pid = 0;
    }
    errno = saved;
}

/* The loop's iteration count, in memory shared with the senders. */
static volatile long *progress;

/* Send SIGUSR1 to the parent at random intervals of 0.5-2.5 ms, until the parent is gone,
 * but never twice while the loop has not moved on: a fork from the handler takes about
 * 1.5 ms in a process of 700 memory areas (the secure build's guard pages: 4 per page),
 * and two senders at a mean interval of 0.75 ms would keep the parent in its handlers
 * for ever, which is no deadlock of the allocator's. */
static void sender(pid_t parent, unsigned seed)
{
    long seen = -1;
    while (getppid() == parent) {
        if (*progress != seen) {
            seen = *progress;
            kill(parent, SIGUSR1);
        }
        struct timespec ts = {0, 500000 + (long)(rand_r(&seed) % 2000) * 1000};
        nanosleep(&ts, NULL);
    }
    _exit(0);
}

static void fill(unsigned char *p, size_t size, unsigned tag)
{
    size_t n = size < 64 ? size : 64;
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(tag + i);
}

static int check(const unsigned char *p, size_t size, unsigned tag)
{
    size_t n = size < 64 ? size : 64;
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(tag + i))
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 8000;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_usr1;
    if (sigaction(SIGUSR1, &sa, NULL) != 0) {
        perror("fork_signal: sigaction");
        return 1;
    }
    sa.sa_handler = on_watchdog;
    sigaction(SIGALRM, &sa, NULL);
    alarm(WATCHDOG_SECONDS);
    pid_t self = getpid();
    progress = mmap(NULL, sizeof *progress, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                    -1, 0);
    if (progress == MAP_FAILED) {
        perror("fork_signal: mmap");
        return 1;
    }
    *progress = 0;
    for (int i = 0; i < SENDERS; i++) {
        senders[i] = fork();
        if (senders[i] < 0) {
            perror("fork_signal: fork");
            kill_helpers();
            return 1;
        }
        if (senders[i] == 0)
            sender(self, (unsigned)i * 7919u + 1);
    }

    static unsigned char *objects[OBJECTS];
    static size_t sizes[OBJECTS];
    static unsigned tags[OBJECTS];
    unsigned seed = 1;
    int bad = 0;
    for (long it = 0; it < iterations && !bad; it++) {
        int slot = rand_r(&seed) % OBJECTS;
        size_t size = (size_t)(rand_r(&seed) % SIZE_MAX_);
        if (rand_r(&seed) % 20 == 0) {
            /* The loop's own fork: a signal may land inside its fork handlers. */
            pid_t pid = fork();
            if (pid == 0)
                _exit(0);
            if (pid < 0 || !reap(pid)) {
                say("fork_signal: a child of the loop did not exit 0\n");
                bad = 1;
            }
        }
        if (objects[slot] != NULL && !check(objects[slot], sizes[slot], tags[slot])) {
            say("fork_signal: a block lost its contents\n");
            bad = 1;
        }
        free(objects[slot]);
        objects[slot] = malloc(size);
        if (objects[slot] == NULL && size != 0) {
            say("fork_signal: malloc failed\n");
            bad = 1;
        }
        sizes[slot] = objects[slot] != NULL ? size : 0;
        tags[slot] = (unsigned)it;
        *progress = it + 1;
        if (objects[slot] != NULL)
            fill(objects[slot], size, tags[slot]);
    }
    kill_helpers();
    for (int i = 0; i < SENDERS; i++)
        waitpid(senders[i], NULL, 0);
    alarm(0);
    for (int i = 0; i < OBJECTS; i++)
        free(objects[i]);
    if (bad || handler_errors != 0)
        return 1;
    printf("fork_signal: %ld iterations of free and malloc with fork in SIGUSR1 handlers: ok\n",
           iterations);
    return 0;
}
