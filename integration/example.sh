#!/bin/bash
# The shipped example: a container from Debian's busybox-static package, run by obsbox.
source "$(dirname "$0")/lib/common.sh"
work=$(mktemp -d /tmp/obsbox-example.XXXXXX)
trap 'rm -rf "$work"' EXIT
busybox_bundle "$work/bundle"
bundle_args "$work/bundle" sh -c \
    'echo "hello from $(hostname), a busybox container run by obsbox";
     echo "pid $$ in its own pid namespace, uid $(id -u), read-only root: $(touch /x 2>/dev/null && echo no || echo yes)"'
echo "bundle: $work/bundle (config.json from 'obsbox spec')"
"$OBSBOX" --root "$work/state" run --bundle "$work/bundle" example
