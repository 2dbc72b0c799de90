/* SPDX-License-Identifier: MIT */
/* cxx_test.h: the little harness of the C++ tests in tests/cxx/: CHECK macros that count
 * failures, a runner that names each test, a death test (a child that must abort with a
 * given message) and heap statistics in one call. Each test program is one .cpp file that
 * includes this and ends with `return dog_test::run({...});`; mk/cxx.mk builds it with
 * g++ and clang++ at C++17 and C++20 and runs it. Public headers only. */
#ifndef DOG_TESTS_CXX_TEST_H
#define DOG_TESTS_CXX_TEST_H

#include <dogmalloc.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace dog_test {

inline int failures = 0;
inline int checks = 0;

inline void fail(const char *file, int line, const char *what)
{
    std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    failures++;
}

#define CHECK(cond) \
    (dog_test::checks++, (cond) ? (void)0 : dog_test::fail(__FILE__, __LINE__, #cond))

/* CHECK_THROWS(expr, type): expr must throw exactly something that is a `type`. */
#define CHECK_THROWS(expr, type)                                                          \
    do {                                                                                  \
        bool caught_ = false;                                                             \
        try {                                                                             \
            (void)(expr);                                                                 \
        } catch (const type &) {                                                          \
            caught_ = true;                                                               \
        } catch (...) {                                                                   \
        }                                                                                 \
        dog_test::checks++;                                                               \
        if (!caught_)                                                                     \
            dog_test::fail(__FILE__, __LINE__, #expr " throws " #type);                   \
    } while (0)

/* The statistics of a heap (they collect pending frees of other threads first). */
inline dog_heap_stats_t stats(const dog_heap_t *heap)
{
    dog_heap_stats_t st{};
    if (dog_heap_stats(heap, &st) != 0)
        fail(__FILE__, __LINE__, "dog_heap_stats");
    return st;
}

/* Live heaps in the process (dog_default included). */
inline std::size_t live_heaps()
{
    dog_stats_t st{};
    dog_stats(&st);
    return st.heaps;
}

inline bool aligned(const void *p, std::size_t alignment)
{
    return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}

/* Run f in a child process: true when the child died of SIGABRT with `message` in what
 * it wrote to stderr (dogmalloc's misuse report), false when it returned or died
 * otherwise. The child's stderr is captured, so an expected report stays off the log. */
template <class F> bool aborts_with(const char *message, F f)
{
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        dup2(fds[1], 2);
        close(fds[0]);
        f();
        _exit(0);
    }
    close(fds[1]);
    std::string out;
    char buf[512];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0)
        out.append(buf, static_cast<std::size_t>(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    bool ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
              out.find(message) != std::string::npos;
    if (!ok)
        std::fprintf(stderr, "aborts_with(\"%s\"): child %s %d, stderr: %s\n", message,
                     WIFSIGNALED(status) ? "died of signal" : "exited with",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                     out.c_str());
    return ok;
}

struct test {
    const char *name;
    void (*fn)();
};

/* Run every test in order, one line each; 0 when every check passed. */
inline int run(const char *program, std::initializer_list<test> tests)
{
    for (const test &t : tests) {
        int before = failures;
        t.fn();
        std::printf("%s: %s %s\n", program, failures == before ? "PASS" : "FAIL", t.name);
    }
    std::printf("%s: %d checks, %d failed\n", program, checks, failures);
    return failures == 0 ? 0 : 1;
}

} /* namespace dog_test */

#endif /* DOG_TESTS_CXX_TEST_H */
