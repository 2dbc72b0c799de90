/* SPDX-License-Identifier: MIT */
/* stress.h: what the stress programs (anchors.c, cycles.c) share: their random numbers
 * and their numeric command-line options. */
#ifndef DOG_TESTS_STRESS_H
#define DOG_TESTS_STRESS_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* xorshift64*, one state per thread. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

/* splitmix64's finaliser: a well-mixed 64-bit value of x. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* A numeric option in [min, max]; a bad one ends the program with status 2 and a line
 * naming the option. */
static unsigned long long stress_option(const char *prog, const char *arg, char opt,
                                        unsigned long long min, unsigned long long max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 0);
    if (errno != 0 || *end != '\0' || end == arg || v < min || v > max) {
        fprintf(stderr, "%s: -%c must be %llu..%llu\n", prog, opt, min, max);
        exit(2);
    }
    return v;
}

#endif
