#!/bin/bash
# The shipped example, end to end: obsbox builds the Debian source package
# integration/pkgs/hello-obsbox in a buildroot it installs from a real Debian repository
# (the test packages of integration/testdata.sh, served over HTTP on loopback), checks the
# result from its toolbox, and then runs the built program in an obsbox container.
source "$(dirname "$0")/lib/common.sh"
source "$REPO/integration/lib/serve.sh"
data=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test}
"$REPO/integration/testdata.sh" >/dev/null

work=$(mktemp -d /tmp/obsbox-example.XXXXXX)
trap 'serve_stop; rm -rf "$work"' EXIT
serve_dir "$data/deb-repo" >/dev/null

example_job "$work" "$SERVE_URL bookworm main"

echo "== obsbox build $work/job.toml"
"$OBSBOX" --root "$work/state" build "$work/job.toml" --out "$work/results" --config "$REPO/runtime-config" |
    grep -E '^(\[ *[0-9]+s\] )?(\[(obsbox|check-package-info)\]|\[build\] (dpkg-buildpackage|.*PASS|.*tests? passed))' || true
code=${PIPESTATUS[0]}
[ "$code" = 0 ] || { echo "build failed with exit code $code; log: $work/results/logfile" >&2; tail -n 30 "$work/results/logfile" >&2; exit 1; }
echo "== results (OBS layout)"
(cd "$work/results" && find . -type f | sort)

echo "== the built program, in an obsbox container"
busybox_bundle "$work/bundle"
# The program is linked against the C library: add it from the same repository.
dpkg-deb -x "$(ls "$data"/debs/amd64/libc6_*_amd64.deb | head -n1)" "$work/bundle/rootfs"
dpkg-deb -x "$work/results/DEBS/hello-obsbox_1.0_amd64.deb" "$work/bundle/rootfs"
bundle_args "$work/bundle" /usr/bin/hello-obsbox
"$OBSBOX" --root "$work/state" run --bundle "$work/bundle" example
