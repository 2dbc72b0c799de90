#!/usr/bin/perl
# SPDX-License-Identifier: MIT
# words.pl: heavy use of Perl hashes, arrays and strings; prints a deterministic digest.
#
# Usage: perl words.pl [WORDS]   (default 400000)
#
# Generates a text from its own pseudo-random generator (Perl's rand() differs between
# builds), counts words in a hash, keeps positions in a hash of arrays, sorts, builds
# and rewrites long strings, and deletes most of what it built, then prints the top
# words and SHA-256 digests of the intermediate results. Hash order is never printed
# unsorted (Perl randomises it per process).
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);

my $nwords = shift // 400000;
my $seed = 12345;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed >> 8; }

my @syll = qw(ka to ri mu se na po li ve da zu ho an ex ul is or et);
my (@text, %count, %where, %bigram);
for my $i (0 .. $nwords - 1) {
    my $n = 1 + rnd() % 3 + (rnd() % 7 == 0 ? 2 : 0);
    my $w = join '', map { $syll[rnd() % @syll] } 1 .. $n;
    push @text, $w;
    $count{$w}++;
    push @{ $where{$w} }, $i;
    $bigram{"$text[$i - 1] $w"}++ if $i > 0;
}

my @sorted = sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count;
print "words: $nwords, distinct: ", scalar(@sorted), ", bigrams: ", scalar(keys %bigram), "\n";
printf "%-14s %6d %s\n", $_, $count{$_}, join(',', @{ $where{$_} }[0 .. 2]) for @sorted[0 .. 9];

my $listing = join "\n", map { "$_ $count{$_} @{$where{$_}}" } @sorted;
print "listing: ", sha256_hex($listing), "\n";

# Strings: a long text, rewritten by regular expressions, split, reversed, sprintf'd.
my $str = join ' ', @text;
(my $upper = $str) =~ s/\b(\w)(\w*)/\U$1\E$2/g;
my $vowels = () = $str =~ /[aeiou]/g;
my @chunks = map { scalar reverse $_ } unpack '(A4096)*', $upper;
my $rebuilt = join '|', map { sprintf '%05d:%s', length $_, substr($_, 0, 16) } @chunks;
print "text: ", length($str), " bytes, $vowels vowels, ", scalar(@chunks), " chunks, ",
    sha256_hex($rebuilt), "\n";

# Bigrams: sorted by count then text; most deleted afterwards.
my @top = (sort { $bigram{$b} <=> $bigram{$a} || $a cmp $b } keys %bigram)[0 .. 4];
print "bigram: $_ $bigram{$_}\n" for @top;
delete @bigram{ grep { $bigram{$_} < 3 } keys %bigram };
print "bigrams kept: ", scalar(keys %bigram), "\n";

# Arrays: splice, nested structures, numeric sort.
my @nums = map { rnd() % 1000000 } 1 .. 200000;
splice @nums, 1000, 50000, reverse @nums[0 .. 999];
my @snums = sort { $a <=> $b } @nums;
my %tree;
$tree{ $_ % 97 }{ $_ % 89 }[ $_ % 7 ] .= "$_;" for @snums[0 .. 49999];
my $tree_digest = sha256_hex(join '/', map {
    my $k = $_;
    map { "$k.$_=" . join(',', map { $_ // '' } @{ $tree{$k}{$_} }) } sort { $a <=> $b } keys %{ $tree{$k} }
} sort { $a <=> $b } keys %tree);
print "numbers: ", scalar(@snums), " min $snums[0] max $snums[-1], tree $tree_digest\n";

undef %where;
undef @text;
print "done\n";
