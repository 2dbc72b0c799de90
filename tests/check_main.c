/* SPDX-License-Identifier: MIT */
/* check_main.c: one SRunner for every suite; the exit status is the number of failures.
 *
 * Also home of the helpers that suites.h declares: the scale of long tests and the
 * fork-based death tests (our own fork, so they work under CK_FORK=no too). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "suites.h"

/* --- Scale --- */

#if defined(__SANITIZE_THREAD__)
#define TEST_SAN_DIVISOR 8.0
#define TEST_TSAN 1
#elif defined(__SANITIZE_ADDRESS__)
#define TEST_SAN_DIVISOR 4.0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_SAN_DIVISOR 8.0
#define TEST_TSAN 1
#elif __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define TEST_SAN_DIVISOR 4.0
#endif
#endif
#if !defined(TEST_SAN_DIVISOR) && defined(DOG_SANITIZE)
#define TEST_SAN_DIVISOR 4.0   /* -fsanitize=undefined under gcc defines no macro */
#endif
#ifndef TEST_SAN_DIVISOR
#define TEST_SAN_DIVISOR 1.0
#endif

/* Under ThreadSanitizer the secure build's guard-page tests (check_secure.c) expect the
 * test process to die of SIGSEGV; TSan's own handler would catch it and exit with 66, a
 * failure. Leave SIGSEGV alone (TSAN_OPTIONS still overrides this). */
#ifdef TEST_TSAN
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "handle_segv=0";
}
#endif

double test_scale(void)
{
    double scale = 1.0;
    const char *env = getenv("DOG_TEST_SCALE");
    if (env != NULL && *env != '\0') {
        char *end;
        double v = strtod(env, &end);
        if (end != env && v > 0)
            scale = v;
    }
    return scale / TEST_SAN_DIVISOR;
}

int test_sanitized(void)
{
    return TEST_SAN_DIVISOR != 1.0;
}

size_t test_scaled(size_t n)
{
    double v = (double)n * test_scale();
    return v < 1.0 ? 1 : (size_t)v;
}

/* --- Death tests --- */

int death_run(death_fn fn, void *arg, char *msg, size_t cap)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        close(fds[0]);
        if (dup2(fds[1], STDERR_FILENO) < 0)
            _exit(125);
        close(fds[1]);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    for (;;) {
        char buf[512];
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t take = (size_t)n;
        if (take > cap - 1 - len)
            take = cap - 1 - len;
        memcpy(msg + len, buf, take);
        len += take;
    }
    msg[len] = '\0';
    close(fds[0]);
    int status;
    pid_t w;
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    ck_assert_int_eq(w, pid);
    return status;
}

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

int test_asan_poisons(void)
{
#ifdef TEST_ASAN
    return 1;
#else
    return 0;
#endif
}

void death_expect_asan(death_fn fn, void *arg, const char *report, const char *what)
{
    char msg[4096];
    int status = death_run(fn, arg, msg, sizeof msg);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0,
                  "%s: expected ASan to stop the child; status %d; stderr: \"%s\"", what,
                  status, msg);
    ck_assert_msg(strstr(msg, report) != NULL, "%s: no \"%s\" in stderr: \"%s\"", what,
                  report, msg);
}

void death_expect(death_fn fn, void *arg, const void *ptr, int ptr_named, const char *what)
{
    char msg[4096];
    int status = death_run(fn, arg, msg, sizeof msg);
    ck_assert_msg(WIFSIGNALED(status),
                  "%s: expected an abort, child exited with status %d; stderr: \"%s\"",
                  what, WIFEXITED(status) ? WEXITSTATUS(status) : -1, msg);
    ck_assert_msg(WTERMSIG(status) == SIGABRT,
                  "%s: expected SIGABRT, child died of signal %d (%s); stderr: \"%s\"",
                  what, WTERMSIG(status), strsignal(WTERMSIG(status)), msg);
    ck_assert_msg(strstr(msg, "dogmalloc") != NULL,
                  "%s: abort message does not mention dogmalloc: \"%s\"", what, msg);
    if (ptr_named) {
        char pstr[32];
        snprintf(pstr, sizeof pstr, "%p", ptr);
        ck_assert_msg(strstr(msg, pstr) != NULL,
                      "%s: abort message does not name the pointer %s: \"%s\"", what, pstr, msg);
    }
}

void death_expect_saying(death_fn fn, void *arg, const void *ptr, const char *text,
                         const char *what)
{
    char msg[4096], pstr[32];
    int status = death_run(fn, arg, msg, sizeof msg);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "%s: expected SIGABRT; status %d; stderr: \"%s\"", what, status, msg);
    snprintf(pstr, sizeof pstr, "%p", ptr);
    ck_assert_msg(strstr(msg, "dogmalloc: ") != NULL && strstr(msg, text) != NULL &&
                  strstr(msg, pstr) != NULL,
                  "%s: expected a dogmalloc message naming %s and saying \"%s\"; got \"%s\"",
                  what, pstr, text, msg);
}

/* --- Runner --- */

int main(void)
{
    /* a fresh process for test_threads_process_first_use: nothing has touched dogmalloc */
    if (getenv("DOG_TEST_FIRST_USE") != NULL) {
        int failures = threads_first_use(NULL);
        return failures > 60 ? 60 : failures;       /* 66 is a sanitizer report */
    }
    if (getenv("DOG_TEST_MISUSE_ENV") != NULL)
        return misuse_env_main();
    SRunner *sr = srunner_create(size_class_suite());
    srunner_add_suite(sr, api_suite());
    srunner_add_suite(sr, heap_api_suite());
    srunner_add_suite(sr, heap_sdk_suite());
    srunner_add_suite(sr, reset_suite());
    srunner_add_suite(sr, visit_suite());
    srunner_add_suite(sr, route_suite());
    srunner_add_suite(sr, tree_suite());
    srunner_add_suite(sr, delete_suite());
    srunner_add_suite(sr, secure_suite());
    srunner_add_suite(sr, validate_suite());
    srunner_add_suite(sr, bad_input_suite());
    srunner_add_suite(sr, misuse_suite());
    srunner_add_suite(sr, threads_suite());
    srunner_add_suite(sr, lifecycle_suite());
    srunner_add_suite(sr, fork_suite());
    srunner_add_suite(sr, options_suite());
    srunner_add_suite(sr, limits_suite());
    srunner_add_suite(sr, stress_suite());
    srunner_add_suite(sr, faults_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : (failed < 125 ? failed : 125);
}
