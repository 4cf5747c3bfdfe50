#!/usr/bin/perl
# OBS's own matcher over files, for comparing obsbox with it (tests/alloc_obs.rs) and timing
# it (integration/bench-alloc.sh): the worker documents read with OBS's reader
# (BSUtil::readxml against BSXML::worker), the arch offered as bs_dispatch does (the
# worker's hostarch builds the job's arch by BSCando; a nativeonly worker takes no arch that
# needs a helper), the constraints made as bs_dispatch makes them (the _constraints document,
# then the constraint lines by list2struct with the document merged over them) and every
# worker asked with BSDispatcher::Constraints::oracle. Uses the installed obs-server
# (OBS_SERVER_DIR, default /usr/lib/obs/server) and obs-build (OBS_BUILD_DIR, default
# /usr/lib/obs-build).
#
#   obs-matcher.pl ARCH CONSTRAINTS|- LINES|- WORKERDIR
#       prints the compliant workers' file names, one a line, then "N of M workers" on stderr
#   obs-matcher.pl --cases LIST
#       LIST names one case directory a line (files: arch, _constraints?, lines?, workers/);
#       prints "CASE WORKER 1|0" for every worker of every case

BEGIN {
  unshift @INC, ($ENV{'OBS_BUILD_DIR'} || '/usr/lib/obs-build');
  unshift @INC, ($ENV{'OBS_SERVER_DIR'} || '/usr/lib/obs/server');
}

use strict;
use warnings;
no warnings 'uninitialized';

use BSUtil;
use BSXML;
use BSCando;
use BSDispatcher::Constraints;

# hostarch/arch => helper ('' for none), from OBS's arch table
my %harchcando;
for my $harch (keys %BSCando::cando) {
  for my $a (@{$BSCando::cando{$harch}}) {
    my ($arch, $helper) = split(':', $a, 2);
    $harchcando{"$harch/$arch"} = $helper || '';
  }
}

sub job_constraints {
  my ($constraints_file, $lines_file) = @_;
  my $constraints;
  if ($constraints_file && -e $constraints_file) {
    $constraints = readxml($constraints_file, $BSXML::constraints, 1);
    die("$constraints_file: OBS cannot read it\n") unless $constraints;
  }
  if ($lines_file && -e $lines_file) {
    my @l = map { [ split(' ', $_) ] } grep {/\S/} split("\n", readstr($lines_file));
    if (@l) {
      my $prj = BSDispatcher::Constraints::list2struct($BSXML::constraints, \@l, 'job');
      $constraints = $constraints ? BSDispatcher::Constraints::mergeconstraints($prj, $constraints) : $prj;
    }
  }
  undef $constraints if $constraints && !%$constraints;
  return $constraints;
}

sub complies {
  my ($arch, $worker, $constraints) = @_;
  return 0 unless $worker;
  my $key = "$worker->{'hostarch'}/$arch";
  return 0 unless exists $harchcando{$key};
  return 0 if $harchcando{$key} && $worker->{'hardware'} && exists($worker->{'hardware'}->{'nativeonly'});
  return 1 unless $constraints;
  my $o = BSDispatcher::Constraints::oracle($worker, $constraints);
  return defined($o) && $o > 0 ? 1 : 0;
}

if (@ARGV == 2 && $ARGV[0] eq '--cases') {
  for my $case (split("\n", readstr($ARGV[1]))) {
    next unless $case =~ /\S/;
    my $arch = readstr("$case/arch");
    chomp $arch;
    my $constraints = job_constraints("$case/_constraints", "$case/lines");
    for my $w (sort grep {!/^\./} ls("$case/workers")) {
      my $worker = readxml("$case/workers/$w", $BSXML::worker, 1);
      print "$case $w ".complies($arch, $worker, $constraints)."\n";
    }
  }
  exit 0;
}

die("usage: obs-matcher.pl ARCH CONSTRAINTS|- LINES|- WORKERDIR\n") unless @ARGV == 4;
my ($arch, $cfile, $lfile, $dir) = @ARGV;
my $constraints = job_constraints($cfile eq '-' ? undef : $cfile, $lfile eq '-' ? undef : $lfile);
my ($n, $ok) = (0, 0);
for my $w (sort grep {!/^\./} ls($dir)) {
  $n++;
  my $worker = readxml("$dir/$w", $BSXML::worker, 1);
  next unless complies($arch, $worker, $constraints);
  $ok++;
  print "$w\n";
}
print STDERR "$ok of $n workers\n";
