/* SPDX-License-Identifier: MIT */
/* atomic.h: C11 atomics named by their memory order, so every use says what it needs. */
#ifndef DOG_ATOMIC_H
#define DOG_ATOMIC_H

#include <stdatomic.h>
#include "compiler.h"

#define dog__load_relaxed(p)       atomic_load_explicit((p), memory_order_relaxed)
#define dog__load_acquire(p)       atomic_load_explicit((p), memory_order_acquire)
#define dog__load_seqcst(p)        atomic_load_explicit((p), memory_order_seq_cst)
#define dog__store_relaxed(p, v)   atomic_store_explicit((p), (v), memory_order_relaxed)
#define dog__store_release(p, v)   atomic_store_explicit((p), (v), memory_order_release)
#define dog__store_seqcst(p, v)    atomic_store_explicit((p), (v), memory_order_seq_cst)
#define dog__exchange_relaxed(p, v) atomic_exchange_explicit((p), (v), memory_order_relaxed)
#define dog__exchange_acqrel(p, v) atomic_exchange_explicit((p), (v), memory_order_acq_rel)
#define dog__exchange_acquire(p, v) atomic_exchange_explicit((p), (v), memory_order_acquire)
#define dog__fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define dog__fetch_sub_relaxed(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)
#define dog__fetch_or_relaxed(p, v) atomic_fetch_or_explicit((p), (v), memory_order_relaxed)
#define dog__fetch_and_relaxed(p, v) atomic_fetch_and_explicit((p), (v), memory_order_relaxed)
#define dog__cas_weak_release(p, e, d) \
    atomic_compare_exchange_weak_explicit((p), (e), (d), memory_order_release, memory_order_relaxed)
#define dog__cas_weak_acqrel(p, e, d) \
    atomic_compare_exchange_weak_explicit((p), (e), (d), memory_order_acq_rel, memory_order_acquire)
#define dog__cas_strong_acquire(p, e, d) \
    atomic_compare_exchange_strong_explicit((p), (e), (d), memory_order_acquire, memory_order_relaxed)
#define dog__cas_strong_seqcst(p, e, d) atomic_compare_exchange_strong((p), (e), (d))

/* A counter that only its lock holder writes and anybody may read: plain loads and
 * stores (no lock prefix), but atomic so that racy readers are well defined. */
#define dog__counter_add(p, v) dog__store_relaxed((p), dog__load_relaxed(p) + (v))

/* An event counter of plain size_t that one thread writes and others read with
 * __atomic_load_n (a thread cache's: tcache.h): add one. The portable form is a relaxed
 * load and store, three instructions, since compilers do not fuse atomics. On x86-64 it
 * is one add to memory: its store is one aligned 8-byte write, single-copy atomic, and
 * with one writer a reader sees the old count or the new one, as after the relaxed
 * store. Not under ThreadSanitizer, which must see the store (compiler.h). */
#if DOG_X86_64_ADD_MEM
#define dog__owner_bump(field)                                                   \
    do {                                                                         \
        _Static_assert(sizeof(field) == 8, "dog__owner_bump: an 8-byte counter"); \
        __asm__ volatile("addq $1, %0" : "+m"(field));                           \
    } while (0)
#else
#define dog__owner_bump(field) __atomic_store_n(&(field), (field) + 1, __ATOMIC_RELAXED)
#endif

#endif
