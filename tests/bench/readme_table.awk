# SPDX-License-Identifier: MIT
# readme_table.awk: the README's benchmark table from a results.csv of `make bench`.
#
#   awk -f tests/bench/readme_table.awk [-v runs=N] build/bench/results.csv
#
# Prints a Markdown table, one row per benchmark, "time / peak RSS" per allocator in the
# order dogmalloc, glibc, mimalloc, jemalloc, tcmalloc, tbbmalloc, then one line with the
# heapdrop rows run through each library's own heap API (dog-heap, mi-heap, talloc, apr),
# then one line with the number of runs and their spread: (max - min) / median of each
# cell, its median over the cells and the largest, for time and for peak RSS. A results.csv
# from before run.sh recorded min and max has no spread: the line says so, and names the
# number of runs only if it is given with -v runs=N.
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
    if (NF >= 9 && $3 > 0 && $4 > 0) {     # min, max and the number of runs
        tsp[++ns] = ($6 - $5) / $3; msp[ns] = ($8 - $7) / $4; where[ns] = $2 " on " $1
        if ($9 + 0 > nruns) nruns = $9 + 0
    }
}
# spread(v, label): "median X%, at most Y% (where)" over v[1..ns].
function spread(v, label,    i, j, t, w, s, top) {
    for (i = 1; i <= ns; i++) s[i] = v[i]
    for (i = 2; i <= ns; i++)
        for (j = i; j > 1 && s[j - 1] > s[j]; j--) { t = s[j]; s[j] = s[j - 1]; s[j - 1] = t }
    top = 1
    for (i = 2; i <= ns; i++) if (v[i] > v[top]) top = i
    return sprintf("%s %.0f%% in the median cell, at most %.0f%% (%s)", label,
                   100 * (ns % 2 ? s[(ns + 1) / 2] : (s[ns / 2] + s[ns / 2 + 1]) / 2),
                   100 * v[top], where[top])
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
    if (ns > 0)
        printf "\nEach cell is the median of %d runs. Spread of the runs, (max - min) / median: " \
               "%s; %s.\n", nruns, spread(tsp, "time"), spread(msp, "peak RSS")
    else
        printf "\nEach cell is the median of %s runs; this results.csv does not record the " \
               "runs' spread (min and max).\n", runs != "" ? runs : "several"
}
