/* SPDX-License-Identifier: MIT */
/* options.h: the run-time options (DOGMALLOC_* and dog_option_set): their values, read
 * with one relaxed load wherever a slow path needs one. */
#ifndef DOG_OPTIONS_H
#define DOG_OPTIONS_H

#include <stdbool.h>
#include "atomic.h"
#include "compiler.h"
#include "dogmalloc.h"

/* Every option's effective value; the defaults until dog__options_load() has run. */
extern DOG_HIDDEN _Atomic long dog__options[DOG_OPTION_COUNT];

static inline long dog__option(dog_option_t opt)
{
    return dog__load_relaxed(&dog__options[opt]);
}

/* options.c */
void dog__options_load(void);       /* the environment, once; no allocation, no stdio */
void dog__options_freeze(void);     /* the first allocation: init-only options are fixed */
void dog__options_report(void);     /* DOGMALLOC_VERBOSE: every option, value and source */
/* Parse s as a value of opt into *out; false if it is not one. */
bool dog__option_parse(dog_option_t opt, const char *s, long *out);

#endif
