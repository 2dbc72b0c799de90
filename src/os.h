/* SPDX-License-Identifier: MIT */
/* os.h: the contract of the platform layer. os_posix.c is the only file that makes
 * system calls (mmap, munmap, madvise, mremap, sysconf, sched_yield, write). */
#ifndef DOG_OS_H
#define DOG_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compiler.h"

/* All bytes dogmalloc holds from the OS (pages, huge blocks, its own structures, the
 * address map), for dog_stats; callers of the functions below keep it up to date. */
extern DOG_HIDDEN _Atomic size_t dog__os_mapped;

/* size > 0 and a multiple of the OS page; align a power of two >= the OS page.
 * Returns zeroed memory aligned to align, or NULL with errno = ENOMEM. */
void *dog__os_map_aligned(size_t size, size_t align);
/* Reserve size bytes of address space aligned to align (as dog__os_map_aligned), with no
 * access and no swap reservation: no memory is committed. NULL with errno unchanged. */
void *dog__os_reserve(size_t size, size_t align);
/* Make [p, p + size) of a reservation readable and writable (zero); false on failure,
 * after which the range may no longer be reserved (Linux before 6.12 unmaps what a
 * MAP_FIXED mapping replaces before it checks the overcommit limit): never commit it
 * again. */
bool dog__os_commit(void *p, size_t size);
/* Advise [p, p + size) for (huge true: MADV_HUGEPAGE) or against (MADV_NOHUGEPAGE)
 * transparent huge pages; a kernel without them ignores it. */
void dog__os_advise_thp(void *p, size_t size, bool huge);
/* Unmap [p, p + size); both OS-page aligned. Where the OS refuses (out of mappings), the
 * range stays mapped but its memory is given back. */
void dog__os_unmap(void *p, size_t size);
/* Give the physical memory behind [p, p + size) back; it reads as zero afterwards, also
 * where the OS refuses (mlocked memory: then it is zeroed and stays resident). */
void dog__os_purge(void *p, size_t size);
/* Make [p, p + size) inaccessible (the secure build's guard pages). False with ENOMEM if
 * the OS refused, as a failed map; injected faults count as DOG_FAULT_MAP. */
bool dog__os_protect_none(void *p, size_t size);
/* Make [p, p + size) readable and writable again (a huge mapping's guard page, when the
 * mapping grows over it). False with ENOMEM if the OS refused; faults as above. */
bool dog__os_protect_rw(void *p, size_t size);
/* Grow or shrink the mapping [p, p + old_size) in place; false if that cannot be done. */
bool dog__os_remap_inplace(void *p, size_t old_size, size_t new_size);
/* Move the mapping [p, p + old_size) to dst (a mapping of new_size that this replaces),
 * resized to new_size, without copying. false if the OS cannot. */
bool dog__os_remap_move(void *p, size_t old_size, void *dst, size_t new_size);
/* A coarse monotonic clock in milliseconds (vDSO: no system call on Linux). */
uint64_t dog__os_clock_ms(void);
/* Number of CPUs this process may run on (>= 1). */
unsigned dog__os_cpu_count(void);
/* Let another thread run. */
void dog__os_yield(void);
/* Write all of buf to stderr; no allocation. */
void dog__os_write_stderr(const char *buf, size_t len);
/* Keep a private copy of stderr that later dog__os_write_report() calls use, so that a
 * report at exit still reaches the terminal after the program closed fd 2 (coreutils
 * close stderr in an atexit handler). */
void dog__os_keep_stderr(void);
void dog__os_write_report(const char *buf, size_t len);
/* 16 random bytes from the kernel's auxiliary vector (AT_RANDOM), or a weak fallback. */
uint64_t dog__os_random(void);
/* getenv without allocation; NULL when unset. */
const char *dog__os_getenv(const char *name);
/* fork: take the C library's locks that its fork() takes after the atfork prepare
 * handlers and whose holders may be waiting in malloc (glibc: the stdio list lock), so
 * that fork's prepare handler can take them before dogmalloc's own (init.c). Returns
 * whether it took them; false where the C library gives no way to (not glibc), or where
 * its fork takes none (glibc in a single-threaded process, which also makes this safe in
 * a signal handler). If it returned true, after fork call dog__os_fork_unlock_libc(false)
 * in the parent (releases our hold) or dog__os_fork_unlock_libc(true) in the child
 * (resets them). */
bool dog__os_fork_lock_libc(void);
void dog__os_fork_unlock_libc(bool child);

#endif
