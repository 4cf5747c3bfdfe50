#!/bin/bash
# The shipped example: a container from Debian's busybox-static package, run by obsbox.
source "$(dirname "$0")/lib/common.sh"
work=$(mktemp -d /tmp/obsbox-example.XXXXXX)
trap 'rm -rf "$work"' EXIT
busybox_bundle "$work/bundle"
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["sh", "-c",
    "echo \"hello from $(hostname), a busybox container run by obsbox\"; "
    "echo \"pid $$ in its own namespace; uid $(id -u); root fs read-only: "
    "$(touch /x 2>/dev/null && echo no || echo yes)\""]
json.dump(c, open(p, "w"), indent=2)
PY
echo "bundle: $work/bundle (config.json from 'obsbox spec')"
"$OBSBOX" --root "$work/state" run --bundle "$work/bundle" example
