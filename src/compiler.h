/* SPDX-License-Identifier: MIT */
/* compiler.h: the only place with compiler-specific #ifs, plus the assert macros. */
#ifndef DOG_COMPILER_H
#define DOG_COMPILER_H

#include "config.h"

#define DOG_LIKELY(x)    __builtin_expect(!!(x), 1)
#define DOG_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define DOG_INLINE       inline __attribute__((always_inline))
#define DOG_NOINLINE     __attribute__((noinline))
#define DOG_COLD         __attribute__((cold, noinline))
#define DOG_NORETURN     __attribute__((noreturn))
#define DOG_TLS          __thread __attribute__((tls_model("initial-exec")))
#define DOG_CACHE_ALIGN  __attribute__((aligned(64)))
/* Internal data declared in headers: hidden, so that the library reaches it without the
 * GOT (functions are resolved at link time anyway; -fvisibility=hidden covers them). */
#define DOG_HIDDEN       __attribute__((visibility("hidden")))

/* AddressSanitizer in this build (gcc defines the macro, clang has the feature test):
 * track.h then poisons free blocks. */
#if defined(__SANITIZE_ADDRESS__)
#define DOG_HAS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DOG_HAS_ASAN 1
#endif
#endif
#ifndef DOG_HAS_ASAN
#define DOG_HAS_ASAN 0
#endif

/* ThreadSanitizer in this build: it must see every store of a shared counter, so atomic.h
 * keeps its portable form then. */
#if defined(__SANITIZE_THREAD__)
#define DOG_HAS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DOG_HAS_TSAN 1
#endif
#endif
#ifndef DOG_HAS_TSAN
#define DOG_HAS_TSAN 0
#endif

/* atomic.h may bump an owner-written counter with one add to memory (dog__owner_bump). */
#if defined(__x86_64__) && !DOG_HAS_TSAN
#define DOG_X86_64_ADD_MEM 1
#else
#define DOG_X86_64_ADD_MEM 0
#endif

#if defined(__x86_64__) || defined(__i386__)
#define dog__cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define dog__cpu_relax() __asm__ volatile("yield" ::: "memory")
#else
#define dog__cpu_relax() ((void)0)
#endif


/* init.c: write a message naming the problem to stderr, without allocating, and abort. */
DOG_NORETURN DOG_COLD void dog__fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#if DOG_DEBUG >= 1
#define DOG_ASSERT(c) ((c) ? (void)0 : dog__fatal("assertion failed: %s (%s:%d)", #c, __FILE__, __LINE__))
#else
#define DOG_ASSERT(c) ((void)0)
#endif
#if DOG_DEBUG >= 2
#define DOG_ASSERT_INTERNAL(c) DOG_ASSERT(c)
#else
#define DOG_ASSERT_INTERNAL(c) ((void)0)
#endif
#if DOG_DEBUG >= 3
#define DOG_ASSERT_EXPENSIVE(c) DOG_ASSERT(c)
#else
#define DOG_ASSERT_EXPENSIVE(c) ((void)0)
#endif

#endif
