#!/bin/bash
# Sets up a state directory for the real OBS worker (bs_worker from Debian's obs-server,
# installed by integration/setup.sh) with obsbox as its build program:
#
#   integration/obs-worker/setup-worker.sh STATEDIR [OBSBOX]
#
#   STATEDIR/build/           obs-build's files from the installed obs-build package (links),
#                             except `build`, which is OBSBOX (default: target/release/obsbox)
#   STATEDIR/build/build      -> OBSBOX: bs_worker runs every job as `$statedir/build/build …`
#   STATEDIR/hostcheck        -> OBSBOX: give it to bs_worker as `--hostcheck STATEDIR/hostcheck`
#
# Run the worker with --nobuildupdate, so that it keeps this build directory instead of
# fetching obs-build from the repository server:
#
#   /usr/lib/obs/server/bs_worker --root ROOT --statedir STATEDIR --nobuildupdate \
#       --srcserver URL --reposerver URL [--hostcheck STATEDIR/hostcheck] [--build BUILDINFO]
#
# obsbox finds its runtime configuration, cache and state through the worker's environment:
# OBSBOX_CONFIG (default /etc/obsbox), OBSBOX_CACHE (/var/cache/obsbox), OBSBOX_ROOT
# (/run/obsbox).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 STATEDIR [OBSBOX]" >&2; exit 2; }
statedir=$1
obsbox=${2:-$here/../../target/release/obsbox}
obs_build=/usr/lib/obs-build
[ -x /usr/lib/obs/server/bs_worker ] && [ -f "$obs_build/Build.pm" ] ||
    { echo "$0: bs_worker or obs-build is not installed: run integration/setup.sh" >&2; exit 1; }
[ -x "$obsbox" ] || { echo "$0: $obsbox: no obsbox binary (cargo build --release)" >&2; exit 1; }
obsbox=$(realpath "$obsbox")

mkdir -p "$statedir"
rm -rf "$statedir/build"
mkdir "$statedir/build"
for f in "$obs_build"/*; do
    [ "$(basename "$f")" = build ] || ln -s "$f" "$statedir/build/"
done
ln -s "$obsbox" "$statedir/build/build"
ln -sfn "$obsbox" "$statedir/hostcheck"
