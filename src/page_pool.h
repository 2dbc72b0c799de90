/* SPDX-License-Identifier: MIT */
/* page_pool.h: the process-wide pool of empty pages, shared by all heaps, and the small
 * allocator for internal metadata (shards, heap structs). */
#ifndef DOG_PAGE_POOL_H
#define DOG_PAGE_POOL_H

#include "types.h"

/* page_pool.c */
dog_page_t *dog__pool_take(void);               /* a mapped page; NULL + ENOMEM */
void dog__pool_give(dog_page_t *first);         /* a list linked by next */
void dog__pool_trim(void);                      /* unmap every pooled page */
void dog__pool_reserve(size_t bytes);           /* init: DOGMALLOC_RESERVE */
size_t dog__pool_pages(void);
bool dog__pool_fork_lock(void);
void dog__pool_fork_unlock(void);

/* meta.c: zeroed, DOG_META_ALIGN-aligned internal memory in DOG_FRAME_META frames;
 * never returned to the OS. */
#define DOG_META_ALIGN 64
void *dog__meta_alloc(size_t size);
void dog__meta_free(void *p, size_t size);
/* The same, after the last DOG_META_QUARANTINE structures given here (dog_heap_destroy). */
void dog__meta_free_late(void *p, size_t size);
bool dog__meta_fork_lock(void);
void dog__meta_fork_unlock(void);

#endif
