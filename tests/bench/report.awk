# SPDX-License-Identifier: MIT
# report.awk: print the suite's tables from results.csv (benchmark,allocator,time_s,peak_rss_kib).
#
#   awk -F, -v allocs="glibc dogmalloc mimalloc ..." [-v failed="bench|alloc ..."] \
#       -f report.awk results.csv
#
# For time and for peak RSS: the medians, each allocator's ratio to glibc and its ratio to
# the best peer (the lowest value among the allocators other than dogmalloc), per
# benchmark and as geometric means over the benchmarks where every allocator has a value.
# Allocators outside `allocs` (the heap-API variants of heapdrop) get their own section.
# Cells listed in `failed` had runs that failed: their medians (of the runs that passed)
# are marked with a "*".
# Plain POSIX awk (mawk works).

function fmt(v) {
    if (v == "" || v == "nan") return "-"
    if (v >= 100) return sprintf("%.0f", v)
    if (v >= 10) return sprintf("%.1f", v)
    if (v >= 1) return sprintf("%.2f", v)
    return sprintf("%.3f", v)
}
function rfmt(v) { return v == "" ? "-" : sprintf("%.2f", v) }
function ok(v) { return v != "" && v != "nan" && v > 0 }
function is_dog(a) { return a ~ /^dog/ }

function best_peer(b, col,    i, a, v, best) {
    best = ""
    for (i = 1; i <= na; i++) {
        a = A[i]
        if (is_dog(a) || !ok(val[b, a, col])) continue
        v = val[b, a, col] + 0
        if (best == "" || v < best) { best = v; bestname[b, col] = a }
    }
    return best
}

# One section: values, ratios to glibc, ratios to the best peer; col 1 = time, 2 = RSS.
function section(col, title, unit, scale,    i, j, b, a, v, line, g, bp, complete, n, sum) {
    printf "\n== %s (%s, median) ==\n", title, unit
    line = sprintf("%-14s", "benchmark")
    for (i = 1; i <= na; i++) line = line sprintf(" %9s", A[i])
    print line "   best peer"
    for (j = 1; j <= nb; j++) {
        b = B[j]
        line = sprintf("%-14s", b)
        for (i = 1; i <= na; i++)
            line = line sprintf(" %9s", ok(val[b, A[i], col]) ? fmt(val[b, A[i], col] / scale) \
                                (((b "|" A[i]) in failcell) ? "*" : "") : \
                                (seen[b, A[i]] ? "FAIL" : "-"))
        bp = best_peer(b, col)
        print line "   " (bp == "" ? "-" : bestname[b, col])
    }
    if (nfailed > 0)
        print "* some runs of this cell failed; the median is of the runs that passed"

    for (g = 1; g <= 2; g++) {
        printf "\n%s: ratio to %s (lower is better)\n", title, g == 1 ? "glibc" : "the best peer"
        line = sprintf("%-14s", "benchmark")
        for (i = 1; i <= na; i++) line = line sprintf(" %9s", A[i])
        print line
        for (i = 1; i <= na; i++) { sum[i] = 0; n[i] = 0 }
        for (j = 1; j <= nb; j++) {
            b = B[j]
            ref = g == 1 ? val[b, "glibc", col] : best_peer(b, col)
            complete = ok(ref)
            for (i = 1; i <= na; i++) complete = complete && ok(val[b, A[i], col])
            line = sprintf("%-14s", b)
            for (i = 1; i <= na; i++) {
                a = A[i]
                if (ok(ref) && ok(val[b, a, col])) {
                    r = val[b, a, col] / ref
                    mark = (g == 2 && is_dog(a) && r > 1.25) ? "!" : " "
                    line = line sprintf(" %8s%s", rfmt(r), mark)
                    if (complete) { sum[i] += log(r); n[i]++ }
                } else {
                    line = line sprintf(" %8s ", "-")
                }
            }
            print line
        }
        line = sprintf("%-14s", "geomean")
        for (i = 1; i <= na; i++)
            line = line sprintf(" %8s ", n[i] ? rfmt(exp(sum[i] / n[i])) : "-")
        print line
        if (g == 1) for (i = 1; i <= na; i++) gm[col, A[i]] = n[i] ? exp(sum[i] / n[i]) : ""
        if (g == 2) for (i = 1; i <= na; i++) gb[col, A[i]] = n[i] ? exp(sum[i] / n[i]) : ""
    }
}

NR == 1 {
    nfailed = split(failed, F, " ")
    for (i = 1; i <= nfailed; i++) failcell[F[i]] = 1
    next
}
{
    b = $1; a = $2
    if (!(b in bseen)) { bseen[b] = 1; B[++nb] = b }
    seen[b, a] = 1
    val[b, a, 1] = $3; val[b, a, 2] = $4
    if (!((" " allocs " ") ~ (" " a " "))) {
        if (!(a in xseen)) { xseen[a] = 1; X[++nx] = a }
    }
}
END {
    na = split(allocs, A, " ")
    section(1, "Time", "s", 1)
    section(2, "Peak RSS", "MiB", 1024)

    # The summary against the issue's targets.
    printf "\n== dogmalloc against the peers ==\n"
    if (!(" " allocs " " ~ / dogmalloc /)) print "(dogmalloc was not measured)"
    for (col = 1; col <= 2; col++) {
        what = col == 1 ? "time" : "peak RSS"
        bestgm = ""; bestgma = ""
        for (i = 1; i <= na; i++) {
            a = A[i]
            if (is_dog(a) || gm[col, a] == "") continue
            if (bestgm == "" || gm[col, a] < bestgm) { bestgm = gm[col, a]; bestgma = a }
        }
        if (gm[col, "dogmalloc"] != "" && bestgm != "")
            printf "%-9s geomean vs the best peer overall (%s): %.2fx; " \
                   "geomean of per-benchmark ratios to the best peer: %.2fx\n", what, bestgma,
                   gm[col, "dogmalloc"] / bestgm, gb[col, "dogmalloc"]
        worst = ""; wr = 0
        for (j = 1; j <= nb; j++) {
            b = B[j]
            bp = best_peer(b, col)
            if (!ok(bp) || !ok(val[b, "dogmalloc", col])) continue
            r = val[b, "dogmalloc", col] / bp
            if (r > 1)
                losses = losses sprintf("  %-8s %-14s %.2fx the best peer (%s)\n", what, b, r,
                                        bestname[b, col])
        }
    }
    if (losses != "") printf "dogmalloc behind the best peer:\n%s", losses
    else if (gm[1, "dogmalloc"] != "") print "dogmalloc is at or ahead of the best peer everywhere"

    if (nx > 0) {
        for (j = 1; j <= nb; j++) {
            b = B[j]
            has = 0
            for (k = 1; k <= nx; k++) if (seen[b, X[k]]) has = 1
            if (!has) continue
            printf "\n== %s: every variant (free = free each object under the allocator) ==\n", b
            printf "%-20s %9s %8s %8s %9s %8s %8s\n", "variant", "time_s", "x glibc", "x best",
                   "rss_MiB", "x glibc", "x best"
            for (col = 1; col <= 2; col++) {
                best[col] = ""
                for (i = 1; i <= na + nx; i++) {
                    a = i <= na ? A[i] : X[i - na]
                    if (is_dog(a) || !ok(val[b, a, col])) continue
                    if (best[col] == "" || val[b, a, col] + 0 < best[col]) {
                        best[col] = val[b, a, col] + 0; bn[col] = a
                    }
                }
            }
            for (i = 1; i <= na + nx; i++) {
                a = i <= na ? A[i] : X[i - na]
                if (!seen[b, a]) continue
                t = val[b, a, 1]; m = val[b, a, 2]
                printf "%-20s %9s %8s %8s %9s %8s %8s\n", a (i <= na ? " (free)" : ""),
                       ok(t) ? fmt(t) (((b "|" a) in failcell) ? "*" : "") : "FAIL",
                       ok(t) && ok(val[b, "glibc", 1]) ? rfmt(t / val[b, "glibc", 1]) : "-",
                       ok(t) && best[1] != "" ? rfmt(t / best[1]) : "-",
                       ok(m) ? fmt(m / 1024) : "FAIL",
                       ok(m) && ok(val[b, "glibc", 2]) ? rfmt(m / val[b, "glibc", 2]) : "-",
                       ok(m) && best[2] != "" ? rfmt(m / best[2]) : "-"
            }
            printf "best peer: time %s, memory %s\n", bn[1], bn[2]
        }
    }
}
