/* SPDX-License-Identifier: MIT */
/* option.h: a numeric command-line option of the stress programs, checked against its
 * range; a bad one ends the program with status 2 and a line naming the option. */
#ifndef DOG_TESTS_OPTION_H
#define DOG_TESTS_OPTION_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

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
