#!/bin/bash
# SPDX-License-Identifier: MIT
# plot.sh: draw the suite's charts with gnuplot.
#
#   tests/bench/plot.sh results.csv outdir "allocator ..." ["caption: machine, date"]
#
# time.png and memory.png: grouped bars, one group per benchmark, one bar per allocator
# that has a value there (heapdrop's group also holds the heap-API variants), log scale.
# mpsc-rss.png: the RSS of the last mpsc run over time, one line per allocator, from
# outdir/rss/mpsc-<allocator>.txt.
set -eu
export LC_ALL=C
results=$1
out=$2
order=$3
caption=${4:-}
dat=$out/plot.dat

# Fixed colours: dogmalloc stands out; each heap-API variant shades its allocator.
colors="dogmalloc 0xd62728 glibc 0x7f7f7f mimalloc 0x1f77b4 jemalloc 0x2ca02c tcmalloc 0xff7f0e
        tbbmalloc 0x9467bd dog-heap 0x8c1010 mi-heap 0x6baed6 talloc 0x8c564b apr 0xbcbd22"

# plot.dat: x position, allocator index, time, RSS in MiB; an empty slot between groups.
# plot.gp: the xtics, the allocator names and their colours.
awk -F, -v order="$order" -v spec="$(echo $colors)" -v gp="$out/plot.gp" '
BEGIN {
    na = split(order, A, " "); for (i = 1; i <= na; i++) idx[A[i]] = i
    n = split(spec, s, " "); for (i = 1; i < n; i += 2) color[s[i]] = s[i + 1]
}
NR == 1 { next }
{
    if (!($1 in bseen)) { bseen[$1] = 1; B[++nb] = $1 }
    if (!($2 in idx)) { A[++na] = $2; idx[$2] = na }
    t[$1, $2] = $3; m[$1, $2] = $4; has[$1, $2] = 1
}
END {
    x = 0; tl = ""
    for (j = 1; j <= nb; j++) {
        first = x
        for (i = 1; i <= na; i++) {
            if (!has[B[j], A[i]]) continue
            tv = t[B[j], A[i]]; mv = m[B[j], A[i]]
            printf "%d %d %s %s\n", x, i, tv == "nan" ? "NaN" : tv, mv == "nan" ? "NaN" : mv / 1024
            if (tv == "nan")    # a cell whose every run failed: say so where its bar would be
                labels = labels sprintf("set label \"%s failed\" at first %d, graph 0.02 " \
                                        "left rotate by 90 front tc rgb \"#d62728\"\n", A[i], x)
            x++
        }
        tl = tl sprintf("%s\"%s\" %.1f", j > 1 ? ", " : "", B[j], (first + x - 1) / 2)
        x++
    }
    names = ""
    for (i = 1; i <= na; i++) names = names (i > 1 ? " " : "") A[i]
    printf "set xtics (%s)\nnames = \"%s\"\nna = %d\nxmax = %d\narray colors[%d]\n", tl, names,
           na, x - 1, na > gp
    for (i = 1; i <= na; i++)
        printf "colors[%d] = %s\n", i, (A[i] in color) ? color[A[i]] : "0x000000" > gp
    printf "%s", labels > gp
}' "$results" > "$dat"

plot_one() {    # column ylabel title file
    gnuplot <<EOF
set terminal pngcairo size 1600,700 font "sans,11"
set output "$4"
set xtics rotate by -30 nomirror
load "$out/plot.gp"
set title "$3${caption:+\\n$caption}"
set ylabel "$2"
set logscale y
set grid ytics mytics
set style fill solid 0.9 border -1
set boxwidth 0.85
set xrange [-1:xmax + 1]
set key outside right top vertical
set bmargin 6
plot for [i=1:na] "$dat" using (\$2 == i ? \$1 : NaN):$1 with boxes lc rgb colors[i] \\
     title word(names, i)
EOF
}

plot_one 3 "wall time (s, log scale)" "Time per benchmark (median; lower is better)" "$out/time.png"
plot_one 4 "peak RSS (MiB, log scale)" "Peak RSS per benchmark (median; lower is better)" \
    "$out/memory.png"

# mpsc: RSS over time, one line per allocator that left a series.
series=""
for a in $order; do
    f=$out/rss/mpsc-$a.txt
    c=$(echo $colors | awk -v a="$a" '{ for (i = 1; i < NF; i += 2) if ($i == a) print $(i + 1) }')
    [ -s "$f" ] && series="$series${series:+, }\"$f\" using 1:(\$2/1024) with lines lw 2 \
lc rgb ${c:-0x000000} title \"$a\""
done
if [ -n "$series" ]; then
    gnuplot <<EOF
set terminal pngcairo size 1000,500 font "sans,11"
set output "$out/mpsc-rss.png"
set title "mpsc: resident memory over the run (flat is the goal)"
set xlabel "seconds"
set ylabel "RSS (MiB)"
set yrange [0:*]
set grid
set key outside right top
plot $series
EOF
fi
