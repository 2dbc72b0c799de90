/* SPDX-License-Identifier: MIT */
/* os_posix.c: the only code that talks to the kernel (see os.h for the contract). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/auxv.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "atomic.h"
#include "fault.h"
#include "track.h"
#include "os.h"

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

_Atomic size_t dog__os_mapped;

/* --- The system calls that can fail, each behind one check (fault.h) ------------------
 * A test build fails them on demand the way the kernel does: mmap and mremap with ENOMEM
 * (out of memory or of mappings), munmap with ENOMEM (a split beyond vm.max_map_count),
 * madvise with EINVAL (MADV_DONTNEED on mlock()ed memory), getrandom with ENOSYS (a
 * kernel before 3.17). In any other build the check is constant false and these are the
 * plain calls. Not checked: the transparent huge page hints (their failure is ignored by
 * design), the clock, and the CPU count (it has a fallback of its own). */

static void *sys_mmap(unsigned op, void *addr, size_t size, int prot, int flags)
{
    if (DOG_UNLIKELY(dog__fault(op))) {
        /* Before 6.12 ("avoid MAP_FIXED gap exposure"), Linux's mmap_region unmaps what a
         * MAP_FIXED mapping replaces before it checks the overcommit limit: a failure
         * there leaves the range unmapped. Injected faults do the worst the kernel does. */
        if (flags & MAP_FIXED)
            munmap(addr, size);
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return mmap(addr, size, prot, flags, -1, 0);
}

static int sys_munmap(unsigned op, void *p, size_t size)
{
    if (DOG_UNLIKELY(dog__fault(op))) {
        errno = ENOMEM;
        return -1;
    }
    return munmap(p, size);
}

static int sys_madvise_dontneed(void *p, size_t size)
{
    if (DOG_UNLIKELY(dog__fault(DOG_FAULT_PURGE))) {
        errno = EINVAL;
        return -1;
    }
    return madvise(p, size, MADV_DONTNEED);
}

/* Memory that will be written is mapped without MAP_NORESERVE, so that the kernel's
 * overcommit policy applies to it as to glibc's: a request far beyond what the machine
 * has (malloc(2^40) on 24 GiB) fails with ENOMEM instead of succeeding and failing
 * later. Only address space reserved and not yet committed (dog__os_reserve) is
 * NORESERVE. */
static void *map_plain(size_t size)
{
    void *p = sys_mmap(DOG_FAULT_MAP, NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS);
    return p == MAP_FAILED ? NULL : p;
}

/* raw maps size + align bytes: keep the size bytes at the first align boundary and unmap
 * both ends (two munmaps instead of a retry loop). A trim that the kernel refuses
 * (ENOMEM: the split would pass vm.max_map_count) would leave its slack mapped for good,
 * outside anything dogmalloc counts or ever unmaps: then what is left of raw goes too
 * (a whole mapping needs no split), and the caller gets NULL. */
static void *trim_to_alignment(char *raw, size_t size, size_t align)
{
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = start - (uintptr_t)raw, tail = align - head;
    if (head && sys_munmap(DOG_FAULT_TRIM, raw, head) != 0) {
        sys_munmap(DOG_FAULT_TRIM, raw, size + align);
        return NULL;
    }
    if (tail && sys_munmap(DOG_FAULT_TRIM, (char *)start + size, tail) != 0) {
        sys_munmap(DOG_FAULT_TRIM, (void *)start, size + tail);
        return NULL;
    }
    return (void *)start;
}

void *dog__os_map_aligned(size_t size, size_t align)
{
    int saved = errno;
    if (size + align < size) {
        errno = ENOMEM;
        return NULL;
    }
    char *raw = map_plain(size + align);
    if (raw == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = trim_to_alignment(raw, size, align);
    errno = p != NULL ? saved : ENOMEM;
    return p;
}

void *dog__os_reserve(size_t size, size_t align)
{
    int saved = errno;
    if (size + align < size)
        return NULL;
    char *raw = sys_mmap(DOG_FAULT_RESERVE, NULL, size + align, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
    if (raw == MAP_FAILED) {
        errno = saved;
        return NULL;
    }
    void *p = trim_to_alignment(raw, size, align);
    errno = saved;
    return p;
}

/* Committing part of a reservation maps it again in place, without MAP_NORESERVE, rather
 * than mprotect it: on Linux, memory of a NORESERVE mapping made writable by mprotect is
 * never charged to the overcommit accounting, so pages carved from DOGMALLOC_RESERVE
 * would escape the policy that applies to every other mapping. */
bool dog__os_commit(void *p, size_t size)
{
    int saved = errno;
    void *q = sys_mmap(DOG_FAULT_COMMIT, p, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    errno = saved;
    return q == p;
}

void dog__os_advise_thp(void *p, size_t size, bool huge)
{
    int saved = errno;
#if defined(MADV_HUGEPAGE) && defined(MADV_NOHUGEPAGE)
    madvise(p, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
#else
    (void)p, (void)size, (void)huge;
#endif
    errno = saved;
}

/* The callers count [p, p + size) as given back whatever happens. A munmap that the kernel
 * refuses (ENOMEM: unmapping part of a mapping splits it, and the split would pass
 * vm.max_map_count) leaves the range mapped; its memory at least goes back
 * (MADV_DONTNEED splits nothing), so that only address space stays behind. */
void dog__os_unmap(void *p, size_t size)
{
    int saved = errno;
    dog__track_unmapped(p, size);
    if (sys_munmap(DOG_FAULT_UNMAP, p, size) != 0)
        sys_madvise_dontneed(p, size);
    errno = saved;
}

static bool sys_mprotect(void *p, size_t size, int prot)
{
    if (DOG_UNLIKELY(dog__fault(DOG_FAULT_MAP)) || mprotect(p, size, prot) != 0) {
        errno = ENOMEM;     /* the kernel's answer when a split needs one mapping too many */
        return false;
    }
    return true;
}

bool dog__os_protect_none(void *p, size_t size)
{
    return sys_mprotect(p, size, PROT_NONE);
}

bool dog__os_protect_rw(void *p, size_t size)
{
    return sys_mprotect(p, size, PROT_READ | PROT_WRITE);
}

/* The callers take purged memory for zero (page_pool.c: a pooled page's live bitmap past
 * what it had touched). MADV_DONTNEED fails on mlock()ed memory (mlockall(MCL_FUTURE)
 * in a real-time program) with EINVAL, and leaves the old contents: then zero them here.
 * The memory stays resident, as the program's lock asks. */
void dog__os_purge(void *p, size_t size)
{
    int saved = errno;
    if (sys_madvise_dontneed(p, size) != 0)
        memset(p, 0, size);
    errno = saved;
}

/* ThreadSanitizer intercepts mmap and munmap but not mremap, so memory that mremap adds
 * to a mapping in place keeps the shadow state of what was mapped at those addresses
 * before (a huge block moved away by mremap, say), and the first write reports a race
 * that never was. Under TSan, growth in place is an mmap of the range right after the
 * mapping instead, which TSan sees; the kernel merges the two ranges. */
#if defined(__SANITIZE_THREAD__)
#define DOG_OS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DOG_OS_TSAN 1
#endif
#endif

bool dog__os_remap_inplace(void *p, size_t old_size, size_t new_size)
{
    int saved = errno;
#if defined(DOG_OS_TSAN) && defined(MAP_FIXED_NOREPLACE)
    if (new_size > old_size) {
        char *want = (char *)p + old_size;
        void *got = sys_mmap(DOG_FAULT_REMAP, want, new_size - old_size, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE);
        if (got != MAP_FAILED && got != want)
            munmap(got, new_size - old_size);   /* a kernel that took the address as a hint */
        errno = saved;
        return got == want;
    }
#endif
    /* What leaves the mapping may be another thread's mapping at once: a checker's state
     * of it goes first (track.h). */
    if (new_size < old_size)
        dog__track_unmapped((char *)p + new_size, old_size - new_size);
    void *q = DOG_UNLIKELY(dog__fault(DOG_FAULT_REMAP)) ? MAP_FAILED
                                                        : mremap(p, old_size, new_size, 0);
    errno = saved;
    return q == p;
}

bool dog__os_remap_move(void *p, size_t old_size, void *dst, size_t new_size)
{
    int saved = errno;
    dog__track_unmapped(p, old_size);
    void *q;
    if (DOG_UNLIKELY(dog__fault(DOG_FAULT_REMAP))) {
        munmap(dst, new_size);      /* as mremap_to does before it can fail (sys_mmap) */
        q = MAP_FAILED;
    } else {
        q = mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    }
    errno = saved;
    return q == dst;
}

uint64_t dog__os_clock_ms(void)
{
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

unsigned dog__os_cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return (unsigned)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

void dog__os_yield(void)
{
    sched_yield();
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

void dog__os_write_stderr(const char *buf, size_t len)
{
    int saved = errno;
    write_all(2, buf, len);
    errno = saved;
}

static int report_fd = 2;

void dog__os_keep_stderr(void)
{
    int fd = fcntl(2, F_DUPFD_CLOEXEC, 64);
    if (fd >= 0)
        report_fd = fd;
}

void dog__os_write_report(const char *buf, size_t len)
{
    write_all(report_fd, buf, len);
}

uint64_t dog__os_random(void)
{
    /* The kernel's generator, without blocking (early boot: not yet seeded). Failing
     * that, the 16 random bytes the kernel gives every process (AT_RANDOM): glibc takes
     * the first 8 for its stack canary and the next 8 for its pointer guard, so reusing
     * them shares a secret with glibc; mixed with an address and the clock, they are the
     * fallback only. */
    uint64_t x = 0;
    if (!dog__fault(DOG_FAULT_RANDOM) &&
        getrandom(&x, sizeof x, GRND_NONBLOCK) == (ssize_t)sizeof x && x != 0)
        return x | 1;
    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
    if (r != NULL)
        memcpy(&x, r + 8, sizeof x);
    x ^= (uint64_t)(uintptr_t)&x * 0x9e3779b97f4a7c15ull ^ dog__os_clock_ms();
    return x | 1;
}

const char *dog__os_getenv(const char *name)
{
    return getenv(name);    /* glibc's getenv reads environ and never allocates */
}

/* --- fork and the C library's locks (init.c: fork_prepare) --------------------------- */

#ifdef __GLIBC__
/* glibc exports these from libio/genops.c for its own fork (posix/fork.c): the list lock
 * is a recursive lock, so taking it here and again in fork is fine. Weak, so that a libc
 * without them still links and we do nothing (the address is then NULL). */
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));
extern void _IO_list_resetlock(void) __attribute__((weak));
/* <sys/single_threaded.h> (glibc 2.32): true until the first pthread_create. glibc's
 * fork takes its stdio and malloc locks only when the process is not single-threaded,
 * and resets them in the child only then; we follow the same test. */
extern char __libc_single_threaded __attribute__((weak));
#endif

bool dog__os_fork_lock_libc(void)
{
#ifdef __GLIBC__
    if (_IO_list_lock == NULL || _IO_list_unlock == NULL || _IO_list_resetlock == NULL)
        return false;
    if (&__libc_single_threaded != NULL && __libc_single_threaded)
        return false;
    _IO_list_lock();
    return true;
#else
    return false;
#endif
}

void dog__os_fork_unlock_libc(bool child)
{
#ifdef __GLIBC__
    /* In the parent glibc's fork has released its own hold already (a recursive lock:
     * ours is the last). In the child it has reset the lock, as the other threads'
     * holds are gone; resetting once more also covers a fork that did not take it. */
    if (child)
        _IO_list_resetlock();
    else
        _IO_list_unlock();
#else
    (void)child;
#endif
}

/* --- Fault injection (fault.h), in test builds only ---------------------------------- */

#ifdef DOG_FAULT_INJECT
static _Atomic unsigned fault_ops;          /* kinds counted; 0: none */
static _Atomic unsigned long fault_nth;     /* the call to fail; 0: none */
static _Atomic bool fault_sticky;
static _Atomic unsigned long fault_calls, fault_injected;
static _Atomic unsigned fault_kinds;

bool dog__fault(unsigned op)
{
    if ((dog__load_relaxed(&fault_ops) & op) == 0)
        return false;
    unsigned long call = dog__fetch_add_relaxed(&fault_calls, 1) + 1;
    unsigned long nth = dog__load_relaxed(&fault_nth);
    if (nth == 0 || call < nth ||
        (call > nth && !dog__load_relaxed(&fault_sticky)))
        return false;
    dog__fetch_or_relaxed(&fault_kinds, op);
    dog__fetch_add_relaxed(&fault_injected, 1);
    return true;
}

void dog__fault_arm(unsigned long nth, unsigned ops, bool sticky)
{
    dog__store_relaxed(&fault_ops, 0);
    dog__store_relaxed(&fault_calls, 0);
    dog__store_relaxed(&fault_kinds, 0);
    dog__store_relaxed(&fault_nth, nth);
    dog__store_relaxed(&fault_sticky, sticky);
    dog__store_relaxed(&fault_ops, ops);
}

void dog__fault_disarm(void)
{
    dog__store_relaxed(&fault_nth, 0);
}

unsigned long dog__fault_calls(void)
{
    return dog__load_relaxed(&fault_calls);
}

unsigned long dog__fault_injected(void)
{
    return dog__load_relaxed(&fault_injected);
}

unsigned dog__fault_kinds(void)
{
    return dog__load_relaxed(&fault_kinds);
}
#endif
