#!/bin/sh
# SPDX-License-Identifier: MIT
# man-page.sh MANDIR OUT VERSION: assemble dogmalloc(3) from the pages Doxygen generated
# (GENERATE_MAN, from include/dogmalloc.h, the same source as the HTML reference).
# Doxygen writes one page per group and per struct; a system cannot take them as they are
# (the "malloc" group would shadow malloc(3)), so this joins them into one page:
# NAME, SYNOPSIS, DESCRIPTION (the header's own text), one section per @defgroup (first
# malloc, heap, stats, then the others in the header's order), DATA STRUCTURES, SEE ALSO.
# Each group keeps its description and its function documentation; Doxygen's "Author" and
# per-page SYNOPSIS lists are dropped.
set -eu
mandir=$1
out=$2
version=$3
cd "$(dirname "$0")/.."

header=include/dogmalloc.h
groups=$(sed -n 's/.*@defgroup \([A-Za-z_]*\) .*/\1/p' "$header")
ordered="malloc heap stats"
for g in $groups; do
    case " $ordered " in *" $g "*) ;; *) ordered="$ordered $g" ;; esac
done
structs=$(sed -n 's/^} \(dog_[a-z_]*_t\);/\1/p' "$header")

# body FILE: the page from its "Detailed Description" to its end, without "Author"; the
# .SH headings inside become .SS (and the .SS entries of members become .TP paragraphs).
body() {
    awk '
        /^\.SH "Detailed Description"/ { on = 1; next }
        /^\.SH "Author"/ { on = 0 }
        !on { next }
        /^\.SH "(Function|Variable|Macro Definition|Typedef|Enumeration Type|Field) Documentation"/ {
            next }
        /^\.SH / { sub(/^\.SH /, ".SS "); print; next }
        /^\.SS / { sub(/^\.SS /, ""); gsub(/^"|"$/, ""); print ".TP"; print "\\fB" $0 "\\fP"; next }
        { print }
    ' "$1"
}
# fields FILE: a struct page's field list (type, name and brief of each), as .TP entries.
fields() {
    awk '
        /^\.SS "Data Fields"/ { on = 1; n = 0; next }
        on && /^\.in -1c/ { exit }
        on && /^\.RI / {
            sub(/^\.RI "/, ""); sub(/" *$/, "")
            if (n++ % 2 == 0) { print ".TP"; print "\\fB" $0 "\\fP" } else print
        }
    ' "$1"
}
# title FILE: the group title from its NAME line ("malloc \- Global allocation").
title() {
    sed -n '/^\.SH NAME/{n;s/^[^ ]* \\- //;p;q}' "$1"
}

{
    printf '.TH DOGMALLOC 3 "%s" "dogmalloc %s" "dogmalloc manual"\n' \
        "$(git log -1 --format=%cs 2>/dev/null || date +%Y-%m-%d)" "$version"
    printf '.ad l\n.nh\n.SH NAME\ndogmalloc \\- a fast, thread-safe allocator with first-class heaps\n'
    printf '.SH SYNOPSIS\n.nf\n.B #include <dogmalloc.h>\n.PP\n'
    printf 'cc app.c $(pkg-config \\-\\-cflags \\-\\-libs dogmalloc)\n'
    printf 'LD_PRELOAD=libdogmalloc\\-override.so program\n.fi\n'
    printf '.SH DESCRIPTION\n'
    awk '/^\.SH "Detailed Description"/ { on = 1; next } on && /^\.SH / { exit } on' \
        "$mandir/dogmalloc.h.3"
    for g in $ordered; do
        page=$mandir/$g.3
        [ -f "$page" ] || { echo "man-page.sh: no page for group $g in $mandir" >&2; exit 1; }
        printf '.SH "%s"\n' "$(title "$page" | tr '[:lower:]' '[:upper:]')"
        body "$page"
    done
    printf '.SH "DATA STRUCTURES"\n'
    for s in $structs; do
        page=$mandir/$s.3
        [ -f "$page" ] || continue
        printf '.SS "%s"\n' "$s"
        fields "$page"
        body "$page"
    done
    printf '.SH "SEE ALSO"\n.BR malloc (3),\n.BR mallopt (3)\n.PP\n'
    printf 'The HTML reference (the model, task pages for building, the override, options,\n'
    printf 'debugging, misuse, C++ and platforms, and the examples) is installed, when make\n'
    printf 'docs ran before make install, in\n'
    printf '.I share/doc/dogmalloc/html/index.html\n'
    printf 'under the installation prefix\n'
    printf '.RI ( /usr/local\n'
    printf 'by default), next to the licence and\n'
    printf '.IR CHANGELOG.md .\n'
} > "$out"
