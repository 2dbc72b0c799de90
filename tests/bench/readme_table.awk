# SPDX-License-Identifier: MIT
# readme_table.awk: the README's benchmark table from a results.csv of `make bench`.
#
#   awk -f tests/bench/readme_table.awk build/bench/results.csv
#
# Prints a Markdown table, one row per benchmark, "time / peak RSS" per allocator in the
# order dogmalloc, glibc, mimalloc, jemalloc, tcmalloc, tbbmalloc, then one line with the
# heapdrop rows run through each library's own heap API (dog-heap, mi-heap, talloc, apr).
BEGIN {
    FS = ","
    n_alloc = split("dogmalloc glibc mimalloc jemalloc tcmalloc tbbmalloc", alloc, " ")
    n_api = split("dog-heap mi-heap talloc apr", api, " ")
}
NR == 1 { next }
{
    if (!($1 in seen)) {
        seen[$1] = 1
        order[++n_bench] = $1
    }
    cell[$1, $2] = sprintf("%s / %s", secs($3), mib($4))
}
function secs(t) { return t >= 10 ? sprintf("%.1f s", t) : sprintf("%.2f s", t) }
function mib(k,   m) {
    m = k / 1024
    return m >= 100 ? sprintf("%.0f MiB", m) : sprintf("%.1f MiB", m)
}
END {
    printf "| Benchmark |"
    for (a = 1; a <= n_alloc; a++)
        printf " %s |", alloc[a]
    printf "\n|---|"
    for (a = 1; a <= n_alloc; a++)
        printf "---:|"
    printf "\n"
    for (b = 1; b <= n_bench; b++) {
        if ((order[b], "dogmalloc") in cell) {
            printf "| %s |", order[b]
            for (a = 1; a <= n_alloc; a++)
                printf " %s |", ((order[b], alloc[a]) in cell) ? cell[order[b], alloc[a]] : "-"
            printf "\n"
        }
    }
    line = ""
    for (a = 1; a <= n_api; a++)
        if (("heapdrop", api[a]) in cell)
            line = line (line == "" ? "" : ", ") api[a] " " cell["heapdrop", api[a]]
    if (line != "")
        printf "\nheapdrop through each library's own heap API: %s.\n", line
}
