/* SPDX-License-Identifier: MIT */
/* replay.c: a main for the fuzz harnesses without libFuzzer: runs each input file given
 * (or every file of each directory given) once, so that `make check-fuzz` replays the
 * kept corpus with any compiler. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    uint8_t *copy = malloc(n ? n : 1);      /* exactly n bytes, as libFuzzer passes them */
    if (copy == NULL)
        return 1;
    memcpy(copy, buf, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 0;
}

int main(int argc, char **argv)
{
    int runs = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            while (d != NULL && (e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.')
                    continue;
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
                bad += run_file(path);
                runs++;
            }
            if (d != NULL)
                closedir(d);
        } else {
            bad += run_file(argv[i]);
            runs++;
        }
    }
    printf("replay: %d inputs run, %d unreadable\n", runs, bad);
    return bad != 0 || runs == 0;
}
