/* SPDX-License-Identifier: MIT */
/* fault.h: fault injection into the OS layer, for tests. In a build with DOG_FAULT_INJECT
 * (`make FAULTS=1`, into build-faults/) every system call of os_posix.c that can fail
 * asks dog__fault() first and, when told to, fails the way the kernel does (NULL or -1,
 * with the errno the kernel gives), so that a test can fail exactly the Nth call an
 * operation makes and watch every caller cope. In any other build dog__fault() is the
 * constant false: the calls compile to what they were, at no cost.
 *
 * Operations, one bit each, so that a test can count or fail one kind only. */
#ifndef DOG_FAULT_H
#define DOG_FAULT_H

#include <stdbool.h>
#include <stddef.h>

enum {
    DOG_FAULT_MAP = 1u << 0,        /* mmap of fresh memory (dog__os_map_aligned) */
    DOG_FAULT_RESERVE = 1u << 1,    /* mmap of address space only (dog__os_reserve) */
    DOG_FAULT_COMMIT = 1u << 2,     /* mmap over a reservation (dog__os_commit) */
    DOG_FAULT_TRIM = 1u << 3,       /* munmap of the slack around an aligned mapping */
    DOG_FAULT_UNMAP = 1u << 4,      /* munmap (dog__os_unmap) */
    DOG_FAULT_PURGE = 1u << 5,      /* madvise(MADV_DONTNEED) (dog__os_purge) */
    DOG_FAULT_REMAP = 1u << 6,      /* mremap, in place or moving */
    DOG_FAULT_RANDOM = 1u << 7,     /* getrandom (dog__os_random) */
    DOG_FAULT_ALL = (1u << 8) - 1,
};

#ifdef DOG_FAULT_INJECT
/* os_posix.c: one call of an op of kind op is about to be made; true: fail it. */
bool dog__fault(unsigned op);
/* From now on count the calls of the kinds in ops, and fail the nth of them (the first
 * is 1; 0 fails none); with sticky, fail every one from the nth on (an OS that stays out
 * of memory). Not meant to race with other threads' calls, but safe if it does. */
void dog__fault_arm(unsigned long nth, unsigned ops, bool sticky);
/* Stop failing; the count goes on. */
void dog__fault_disarm(void);
/* Calls of the armed kinds since the last dog__fault_arm. */
unsigned long dog__fault_calls(void);
/* Faults injected since the process started; the kinds injected since the last arm. */
unsigned long dog__fault_injected(void);
unsigned dog__fault_kinds(void);

/* For the tests' leak checks: entries of the address map that mark a frame
 * (segmap.c); bytes mapped for dogmalloc's own structures, which are never given back,
 * with the map leaves that hold their frames (meta.c); and how many frames of the map
 * those structures mark (DOG_FRAME_META). */
size_t dog__segmap_marked(void);
size_t dog__meta_mapped(void);
size_t dog__meta_frames(void);
#else
static inline bool dog__fault(unsigned op)
{
    (void)op;
    return false;
}
#endif

#endif
