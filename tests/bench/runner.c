/* SPDX-License-Identifier: MIT */
/* runner: run one benchmark process and report its wall time and peak RSS.
 *
 *   runner [-p preload.so] [-t timeout_s] [-o logfile] program [args...]
 *
 * Starts the program (with LD_PRELOAD=preload.so in its environment only, so that the
 * runner itself never runs on the allocator under test), waits for it, and prints one
 * line to stdout:
 *     <status> <wall_seconds> <peak_rss_kib>
 * where status is "ok", "exit=N", "signal=N" or "timeout". The program's stdout and
 * stderr go to logfile (appended), or to /dev/null. The peak RSS is the child's
 * ru_maxrss from wait4(). Exits 0 whenever the measurement itself worked. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(void)
{
    fputs("usage: runner [-p preload.so] [-t timeout_s] [-o logfile] program [args...]\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *preload = NULL, *logfile = "/dev/null";
    unsigned timeout = 0;
    int opt;
    while ((opt = getopt(argc, argv, "+p:t:o:")) != -1) {
        switch (opt) {
        case 'p': preload = optarg; break;
        case 't': timeout = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'o': logfile = optarg; break;
        default: usage();
        }
    }
    if (optind >= argc)
        usage();

    int log = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) {
        fprintf(stderr, "runner: %s: %s\n", logfile, strerror(errno));
        return 2;
    }
    struct sigaction sa = { .sa_handler = on_alarm };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);      /* no SA_RESTART: wait4 returns EINTR */

    double start = now();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "runner: fork: %s\n", strerror(errno));
        return 2;
    }
    if (pid == 0) {
        setpgid(0, 0);
        dup2(log, STDOUT_FILENO);
        dup2(log, STDERR_FILENO);
        if (preload != NULL && preload[0] != '\0')
            setenv("LD_PRELOAD", preload, 1);
        else
            unsetenv("LD_PRELOAD");
        execvp(argv[optind], &argv[optind]);
        fprintf(stderr, "runner: exec %s: %s\n", argv[optind], strerror(errno));
        _exit(127);
    }
    if (timeout > 0)
        alarm(timeout);

    int status;
    struct rusage ru;
    for (;;) {
        if (wait4(pid, &status, 0, &ru) == pid)
            break;
        if (errno != EINTR) {
            fprintf(stderr, "runner: wait4: %s\n", strerror(errno));
            return 2;
        }
        if (timed_out) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
        }
    }
    double wall = now() - start;
    alarm(0);

    char what[32];
    if (timed_out)
        snprintf(what, sizeof(what), "timeout");
    else if (WIFSIGNALED(status))
        snprintf(what, sizeof(what), "signal=%d", WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
        snprintf(what, sizeof(what), "exit=%d", WEXITSTATUS(status));
    else
        snprintf(what, sizeof(what), "ok");
    printf("%s %.4f %ld\n", what, wall, ru.ru_maxrss);
    return 0;
}
