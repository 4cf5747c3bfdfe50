#!/bin/bash
# Builds an OCI bundle from Debian's real busybox-static package:
#   integration/busybox-bundle.sh OBSBOX_BINARY BUNDLE_DIR
# The .deb is downloaded once with `apt-get download` into the shared test cache
# ($OBSBOX_TEST_CACHE, default /var/cache/obsbox-test) and reused. config.json is what
# `obsbox spec` writes (runc's defaults), with terminal off so it runs unattended.
set -euo pipefail
obsbox=$1
bundle=$2
cache=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test}/debs
mkdir -p "$cache"
deb=$(ls "$cache"/busybox-static_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
    (cd "$cache" && apt-get download -q -o APT::Sandbox::User=root busybox-static >/dev/null)
    deb=$(ls "$cache"/busybox-static_*.deb | head -n1)
fi
mkdir -p "$bundle/rootfs"
dpkg-deb -x "$deb" "$bundle/rootfs"
rootfs=$bundle/rootfs
# One link per applet, where the applet says it lives; the binary reports the list itself.
"$rootfs/bin/busybox" --list-full | while read -r applet; do
    [ -e "$rootfs/$applet" ] || { mkdir -p "$rootfs/$(dirname "$applet")"; ln -s /bin/busybox "$rootfs/$applet"; }
done
mkdir -p "$rootfs"/{proc,sys,dev,tmp,etc,root}
echo "root:x:0:0:root:/root:/bin/sh" > "$rootfs/etc/passwd"
echo "root:x:0:" > "$rootfs/etc/group"
rm -f "$bundle/config.json"
"$obsbox" spec --bundle "$bundle"
python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["process"]["terminal"] = False
json.dump(config, open(path, "w"), indent=2)
PY
