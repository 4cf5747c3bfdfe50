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

package BSConfig;

use strict;
use warnings;

use File::Temp ();
use File::Path ();
use JSON::XS ();
use BSUtil ();
use BSXML ();

our $obsbox;
our @obsbox_args;

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
    return 1 if $code == 0;
    if ($code == 1 || $code == 3) {
      my $answer = eval { JSON::XS::decode_json($out) } || {};
      my $why = $answer->{'hint'} ? "$answer->{'hint'}->{'example'}" : ($answer->{'details'} || '');
      print "obsbox: worker $worker->{'workerid'} not for $job->{'project'}/$job->{'package'}: $why\n"
        if $worker->{'workerid'} && $job->{'project'} && $job->{'package'};
      return 0;
    }
    die("$cmd[0] allocate exited with $code\n");
  };
  warn("obsbox dispatch_constraint: $@") if $@;
  File::Path::remove_tree($dir);
  return defined($ok) ? $ok : 1;
};

1;
