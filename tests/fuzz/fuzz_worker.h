/* SPDX-License-Identifier: MIT */
/* fuzz_worker.h: the harnesses' second thread, which frees what it is handed, so that a
 * fuzzed program reaches the cross-thread free paths.
 *
 * fuzz_worker_start(warm, release) starts it once and returns when it has run warm
 * (allocations that give it a thread cache and a home shard of its own), so that a
 * harness's statistics taken afterwards never count a block of warm's: the malloc
 * harness failed its baseline check when one was live at that moment. fuzz_free_in_worker(p) hands
 * it p, which it passes to release, and returns when that is done. Each harness gives its
 * own allocator's free as release (and checks there what it needs, such as errno). */
#ifndef DOG_FUZZ_WORKER_H
#define DOG_FUZZ_WORKER_H

#include <pthread.h>
#include "fuzz.h"

static pthread_mutex_t fuzz_worker_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fuzz_worker_cv = PTHREAD_COND_INITIALIZER;
static void *fuzz_worker_block;
static int fuzz_worker_busy, fuzz_worker_started, fuzz_worker_ready;
static void (*fuzz_worker_warm)(void);
static void (*fuzz_worker_release)(void *);

static void *fuzz_worker_main(void *arg)
{
    (void)arg;
    fuzz_worker_warm();
    pthread_mutex_lock(&fuzz_worker_mu);
    fuzz_worker_ready = 1;
    pthread_cond_broadcast(&fuzz_worker_cv);
    for (;;) {
        while (!fuzz_worker_busy)
            pthread_cond_wait(&fuzz_worker_cv, &fuzz_worker_mu);
        fuzz_worker_release(fuzz_worker_block);
        fuzz_worker_busy = 0;
        pthread_cond_broadcast(&fuzz_worker_cv);
    }
    return NULL;
}

static void fuzz_worker_start(void (*warm)(void), void (*release)(void *))
{
    pthread_mutex_lock(&fuzz_worker_mu);
    if (!fuzz_worker_started) {
        fuzz_worker_warm = warm;
        fuzz_worker_release = release;
        pthread_t t;
        if (pthread_create(&t, NULL, fuzz_worker_main, NULL) != 0)
            fuzz_fail("pthread_create");
        pthread_detach(t);
        fuzz_worker_started = 1;
    }
    while (!fuzz_worker_ready)
        pthread_cond_wait(&fuzz_worker_cv, &fuzz_worker_mu);
    pthread_mutex_unlock(&fuzz_worker_mu);
}

static void fuzz_free_in_worker(void *p)
{
    pthread_mutex_lock(&fuzz_worker_mu);
    fuzz_worker_block = p;
    fuzz_worker_busy = 1;
    pthread_cond_broadcast(&fuzz_worker_cv);
    while (fuzz_worker_busy)
        pthread_cond_wait(&fuzz_worker_cv, &fuzz_worker_mu);
    pthread_mutex_unlock(&fuzz_worker_mu);
}

#endif
