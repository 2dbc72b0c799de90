#!/bin/bash
# SPDX-License-Identifier: MIT
# plot.sh: draw the suite's charts with gnuplot, for a reader choosing an allocator.
#
#   tests/bench/plot.sh results.csv outdir "allocator ..." ["caption: machine, date, runs"]
#   PLOT_REF=glibc tests/bench/plot.sh ...     ratios to glibc instead of the best peer
#
# time.png and memory.png: per workload, each allocator's median wall time (peak RSS) as a
# ratio to the best peer's (the lowest median among the allocators that are not dogmalloc,
# as in report.awk), on a linear axis where 1.0 is the best peer and lower is better. Bars
# above 3x are cut at 3 with their ratio written on them, so one outlier (tcmalloc's 15 s
# on cache-scratch) does not flatten the rest. When results.csv has the min and max of the
# runs (columns 5-8, written by run.sh), each bar has a min-max error bar. dogmalloc is
# solid red; the heap-API rows of heapdrop (dog-heap, mi-heap, talloc, apr) are hatched,
# dog-heap in dogmalloc's red. The right panel: the geometric mean of each allocator's
# ratios over the workloads where every allocator has a value (report.awk's geomean).
# mpsc-rss.png: the RSS of the last mpsc run over time, one line per allocator, from
# outdir/rss/mpsc-<allocator>.txt.
set -eu
export LC_ALL=C
results=$1
out=$2
order=$3
caption=${4:-}
ref=${PLOT_REF:-best}
cap=3           # ratios above this are cut, with a label

# Fixed colours: dogmalloc stands out; each heap-API variant is its library's colour, hatched.
colors="dogmalloc 0xd62728 glibc 0x7f7f7f mimalloc 0x1f77b4 jemalloc 0x2ca02c tcmalloc 0xff7f0e
        tbbmalloc 0x9467bd dog-heap 0xd62728 mi-heap 0x1f77b4 talloc 0x8c564b apr 0xbcbd22"
heap_api="dog-heap mi-heap talloc apr"

# prepare COL NAME: NAME.dat (x, allocator index, ratio cut at $cap, min, max: NaN when the
# csv has no spread), NAME-sum.dat (allocator index, geomean) and NAME.gp (xtics, names,
# colours, hatching, labels of cut bars and of the geomeans).
prepare() {
awk -F, -v col="$1" -v order="$order" -v spec="$(echo $colors)" -v api="$heap_api" \
    -v ref="$ref" -v cap="$cap" -v gp="$out/$2.gp" -v sum="$out/$2-sum.dat" '
function ok(v) { return v != "" && v != "nan" && v + 0 > 0 }
BEGIN {
    na = split(order, A, " "); for (i = 1; i <= na; i++) idx[A[i]] = i
    n = split(spec, s, " "); for (i = 1; i < n; i += 2) color[s[i]] = s[i + 1]
    n = split(api, s, " "); for (i = 1; i <= n; i++) isapi[s[i]] = 1
}
NR == 1 { next }
{
    if (!($1 in bseen)) { bseen[$1] = 1; B[++nb] = $1 }
    if (!($2 in idx)) { A[++na] = $2; idx[$2] = na }
    has[$1, $2] = 1
    v[$1, $2] = col == 1 ? $3 : $4
    if (NF >= 8) {      # min and max of the runs
        lo[$1, $2] = col == 1 ? $5 : $7; hi[$1, $2] = col == 1 ? $6 : $8
    }
}
END {
    x = 0; tl = ""; labels = ""; lastcut = -2; high = 0
    for (j = 1; j <= nb; j++) {
        b = B[j]
        # The reference: glibc, or the best peer (not dogmalloc, not a heap-API row).
        r = ""
        if (ref == "glibc") r = v[b, "glibc"]
        else for (i = 1; i <= na; i++) {
            a = A[i]
            if (a ~ /^dog/ || (a in isapi) || !ok(v[b, a])) continue
            if (r == "" || v[b, a] + 0 < r + 0) r = v[b, a]
        }
        first = x
        complete = ok(r)
        for (i = 1; i <= na; i++)
            if (!(A[i] in isapi)) complete = complete && ok(v[b, A[i]])
        for (i = 1; i <= na; i++) {
            a = A[i]
            if (!has[b, a]) continue
            if (!ok(r) || !ok(v[b, a])) {
                printf "%d %d NaN NaN NaN\n", x, i
                labels = labels sprintf("set label \"%s failed\" at first %d, first 0.05 " \
                                        "left rotate by 90 front tc rgb \"#d62728\"\n", a, x)
                x++; continue
            }
            q = v[b, a] / r
            l = ok(lo[b, a]) ? lo[b, a] / r : "NaN"; h = ok(hi[b, a]) ? hi[b, a] / r : "NaN"
            if (h != "NaN" && h > cap) h = cap
            if (l != "NaN" && l > cap) l = cap
            if (q > cap) {      # neighbouring cut bars get their labels at two heights
                high = !(x - 1 == lastcut && high)
                labels = labels sprintf("set label \"%.1fx\" at first %d, first %g center " \
                                        "rotate by 90 front boxed font \",9\"\n",
                                        q, x, cap * (high ? 0.86 : 0.62))
                lastcut = x
            }
            printf "%d %d %.4f %s %s\n", x, i, (q > cap ? cap : q), l, h
            if (complete && !(a in isapi)) { lsum[i] += log(q); ln[i]++ }
            x++
        }
        tl = tl sprintf("%s\"%s\" %.1f", j > 1 ? ", " : "", b, (first + x - 1) / 2)
        x++
    }
    names = ""
    for (i = 1; i <= na; i++) names = names (i > 1 ? " " : "") A[i]
    printf "set xtics (%s)\nnames = \"%s\"\nna = %d\nxmax = %d\narray colors[%d]\n" \
           "array hatched[%d]\n", tl, names, na, x - 1, na, na > gp
    for (i = 1; i <= na; i++) {
        printf "colors[%d] = %s\nhatched[%d] = %d\n", i,
               (A[i] in color) ? color[A[i]] : "0x000000", i, (A[i] in isapi) > gp
    }
    printf "%s", labels > gp
    # The summary panel: one bar per allocator with a geomean, in order.
    ns = 0; st = ""
    for (i = 1; i <= na; i++) {
        if (!ln[i]) continue
        g = exp(lsum[i] / ln[i])
        printf "%d %d %.4f\n", ns, i, g > sum
        st = st sprintf("%s\"%s\" %d", ns ? ", " : "", A[i], ns)
        printf "set label \"%.2f\" at first %d, first %g center front font \",10\"\n",
               g, ns, (g > cap ? cap : g) + 0.08 > (gp ".sum")
        ns++
    }
    if (ns) printf "set xtics (%s)\nnsum = %d\n", st, ns > (gp ".sum")
    else printf "nsum = 0\nset label \"no workload has every allocator\" at graph 0.5, " \
                "graph 0.5 center\n" > (gp ".sum")
}' "$results" > "$out/$2.dat"
}

# plot_one NAME YLABEL TITLE PNG: the workload panel and the geomean panel side by side.
plot_one() {
    local what="to the best peer"
    [ "$ref" = glibc ] && what="to glibc"
    local spread=""     # min-max error bars when results.csv has the runs' min and max
    [ "$(head -n 1 "$results" | awk -F, '{ print NF }')" -ge 8 ] &&
        spread=", \"$out/$1.dat\" using 1:4:(0):(\$5 - \$4) with vectors nohead lw 1.5 lc rgb \"#000000\" notitle"
    gnuplot <<EOF
set terminal pngcairo size 1600,720 font "sans,11"
set output "$4"
set multiplot title "$3 $what (1 = the reference; lower is better)${caption:+\\n$caption}"
set style fill solid 0.9 border -1
set boxwidth 0.85
set grid ytics
set yrange [0:$cap * 1.06]
set ytics 0.5
set bars small
set style textbox opaque noborder margins 1, 1
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5 lc rgb "#000000" front

# Left: every workload.
set origin 0, 0
set size 0.78, 0.94
set lmargin 9
set bmargin 7
set xtics rotate by -30 nomirror
set ylabel "$2"
load "$out/$1.gp"
set xrange [-1:xmax + 1]
set key outside top center horizontal samplen 1.5 width -1
plot for [i=1:na] "$out/$1.dat" using (\$2 == i && !hatched[i] ? \$1 : NaN):3 with boxes \\
         lc rgb colors[i] fs solid 0.9 title (hatched[i] ? "" : word(names, i)), \\
     for [i=1:na] "$out/$1.dat" using (\$2 == i && hatched[i] ? \$1 : NaN):3 with boxes \\
         lc rgb colors[i] fs pattern 4 border lc rgb colors[i] \\
         title (hatched[i] ? word(names, i) . " (heap API)" : "")$spread

# Right: the geometric means over the workloads.
unset label
set origin 0.78, 0
set size 0.22, 0.94
set lmargin 6
set rmargin 5
set bmargin 7
set xtics rotate by -45
unset ylabel
set title "geometric mean over the workloads" font ",11"
load "$out/$1.gp.sum"
set xrange [-0.7:nsum - 0.3]
unset key
plot for [i=1:na] "$out/$1-sum.dat" using (\$2 == i ? \$1 : NaN):3 with boxes \\
         lc rgb colors[i] fs solid 0.9
unset multiplot
EOF
}

prepare 1 plot-time
prepare 2 plot-rss
plot_one plot-time "wall time / reference's" "Wall time per workload, as a ratio" "$out/time.png"
plot_one plot-rss "peak RSS / reference's" "Peak RSS per workload, as a ratio" "$out/memory.png"
rm -f "$out"/plot-time* "$out"/plot-rss*

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
