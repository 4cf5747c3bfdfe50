# OBS dispatcher hook: lets obsbox judge each worker for each job. Load it from BSConfig.pm
# (after `package BSConfig;`):
#
#   our $obsbox = '/usr/local/bin/obsbox';            # optional, this is the default
#   our @obsbox_args = ('--config', '/etc/obsbox');   # optional: allocation.toml, callbacks
#   require '/usr/share/obsbox/dispatch_constraint.pl';
#
# bs_dispatch calls $BSConfig::dispatch_constraint->($job, $worker, $constraints) for every
# idle worker it considers for a job (and for every worker when it explains why a job is not
# dispatched); a false answer skips the worker. The job's constraints arrive merged and
# overwritten already (their <overwrite> elements are left out of what obsbox gets); obsbox
# adds its own rules on top: allocation callbacks, and OBS's arch rules again (BSCando,
# nativeonly), which agree with the dispatcher's. If obsbox itself fails (exit 2 or worse), the worker is not held
# back: OBS's own constraint check still applies.
#
# Why obsbox refuses goes where OBS shows a waiting job's reason: once a job has been
# refused for $obsbox_details_after seconds, the reasons (each with the workers refused
# for it) become its dispatch details through the repository server's
# `cmd=setdispatchdetails` (the call the dispatcher makes for "waiting for N compliant
# workers"), shown in `_result` as `scheduled` with those details; posted again only when
# they change. OBS 2.9.4's dispatcher itself reduces the hook's answer to a yes or no: a
# job with constraints that no worker meets is failed by it ("no compliant workers
# (constraints mismatch hint: dispatch_constraint)"), a message built from the answers
# alone, and a failed job shows no dispatch details.

package BSConfig;

use strict;
use warnings;

use File::Temp ();
use File::Path ();
use Digest::MD5 ();
use JSON::XS ();
use BSRPC ();
use BSUtil ();
use BSXML ();

our $obsbox;
our @obsbox_args;
our $obsbox_details_after = 3;

# Per job: when obsbox first refused a worker for it, each refusing worker's reason, and
# the details last posted.
my %refused;

# The job's name in the repository server's queue, as OBS's scheduler makes it.
sub obsbox_jobname {
  my ($job) = @_;
  my $prp = "$job->{'project'}/$job->{'repository'}";
  my $packid = $job->{'package'};
  my $name = "$prp/$packid";
  $name =~ s/\//::/g;
  if (length($name) > 200) {
    $packid = ':'.Digest::MD5::md5_hex($packid) if length($packid) > 160;
    $name = ':'.Digest::MD5::md5_hex($prp)."::$packid";
  }
  return "$name-$job->{'srcmd5'}";
}

sub obsbox_note {
  my ($job, $worker, $why) = @_;
  return unless $job->{'project'} && $job->{'repository'} && $job->{'package'} && $job->{'srcmd5'} && $job->{'arch'};
  my $id = $worker->{'workerid'} || return;
  my $now = time();
  if (keys(%refused) > 1000) {
    delete $refused{$_} for grep {$refused{$_}->{'first'} < $now - 86400} keys %refused;
  }
  my $name = obsbox_jobname($job);
  my $r = $refused{"$job->{'arch'}/$name"} ||= { 'first' => $now, 'workers' => {}, 'posted' => '' };
  if (!defined($why)) {
    delete $r->{'workers'}->{$id};
    return;
  }
  $r->{'workers'}->{$id} = $why;
  return if $now - $r->{'first'} < $obsbox_details_after;
  # One entry per reason, with the workers that gave it.
  my %by_reason;
  push @{$by_reason{$r->{'workers'}->{$_}}}, $_ for sort keys %{$r->{'workers'}};
  my $details = 'obsbox: ' . join('; ', map {"$_ (" . join(', ', @{$by_reason{$_}}) . ')'} sort keys %by_reason);
  return if $details eq $r->{'posted'};
  my $server = $job->{'reposerver'} || $BSConfig::reposerver;
  eval {
    BSRPC::rpc({
      'uri' => "$server/jobs/$job->{'arch'}/$name",
      'request' => 'POST',
      'timeout' => 10,
    }, undef, 'cmd=setdispatchdetails', "details=$details");
  };
  if ($@) {
    warn("obsbox dispatch_constraint: cannot set the dispatch details of $name: $@");
    return;
  }
  print "obsbox: dispatch details of $job->{'arch'}/$name: $details\n";
  $r->{'posted'} = $details;
}

our $dispatch_constraint = sub {
  my ($job, $worker, $constraints) = @_;
  my $dir = File::Temp::tempdir('obsbox-dispatch-XXXXXX', TMPDIR => 1);
  my $ok = eval {
    BSUtil::writexml("$dir/.worker", "$dir/worker.xml", $worker, $BSXML::worker);
    # The overwrites were applied before the merge; applied again to the merged constraints
    # they would replace what the project config added.
    my %merged = %{$constraints || {}};
    delete $merged{'overwrite'};
    BSUtil::writexml("$dir/._constraints", "$dir/_constraints", \%merged, $BSXML::constraints);
    my @cmd = ($obsbox || '/usr/local/bin/obsbox', 'allocate', '--format', 'json',
      '--workers', "$dir/worker.xml", '--constraints', "$dir/_constraints", @obsbox_args);
    my $arch = $job->{'hostarch'} || $job->{'arch'};
    push @cmd, '--arch', $arch if $arch;
    push @cmd, '--package', $job->{'package'} if $job->{'package'};
    push @cmd, '--project', $job->{'project'} if $job->{'project'};
    open(my $fh, '-|', @cmd) || die("cannot run $cmd[0]: $!\n");
    my $out = do { local $/; <$fh> };
    close($fh);
    my $code = $? >> 8;
    if ($code == 0) {
      obsbox_note($job, $worker, undef);
      return 1;
    }
    if ($code == 1 || $code == 3) {
      my $answer = eval { JSON::XS::decode_json($out) } || {};
      my $why = $answer->{'hint'} ? "$answer->{'hint'}->{'example'}" : ($answer->{'details'} || '');
      print "obsbox: worker $worker->{'workerid'} not for $job->{'project'}/$job->{'package'}: $why\n"
        if $worker->{'workerid'} && $job->{'project'} && $job->{'package'};
      obsbox_note($job, $worker, $why);
      return 0;
    }
    die("$cmd[0] allocate exited with $code\n");
  };
  warn("obsbox dispatch_constraint: $@") if $@;
  File::Path::remove_tree($dir);
  return defined($ok) ? $ok : 1;
};

1;
