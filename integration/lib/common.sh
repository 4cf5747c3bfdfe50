# Shared helpers for the integration scripts (sourced).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OBSBOX=${OBSBOX:-$REPO/target/release/obsbox}
[ -x "$OBSBOX" ] || { echo "obsbox binary $OBSBOX missing: cargo build --release first" >&2; exit 1; }
OBSBOX=$(realpath "$OBSBOX")

failures=0
pass() { echo "  ok   $*"; }
fail() { echo "  FAIL $*"; failures=$((failures + 1)); }
# expect "what" COMMAND…: the command must succeed.
expect() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
finish() {
    if [ "$failures" -gt 0 ]; then echo "$failures check(s) failed"; exit 1; fi
    echo "all checks passed"
}

# busybox_bundle DIR: the busybox bundle from Debian's busybox-static package.
busybox_bundle() { "$REPO/integration/busybox-bundle.sh" "$OBSBOX" "$1" >/dev/null; }

# bundle_args BUNDLE ARG…: set the process args of BUNDLE/config.json.
bundle_args() {
    local bundle=$1; shift
    python3 - "$bundle/config.json" "$@" <<'PY'
import json, sys
path, args = sys.argv[1], sys.argv[2:]
config = json.load(open(path))
config["process"]["args"] = args
json.dump(config, open(path, "w"), indent=2)
PY
}

# example_job DIR REPO: the shipped example job in DIR/job.toml with its sources in
# DIR/sources as OBS hands them to a worker (a .dsc and its tarball), building from the
# Debian repository REPO ("URL SUITE COMPONENT") on the test data's base packages.
example_job() {
    local dir=$1 repo=$2 data=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test} packages
    cp -a "$REPO/integration/pkgs/hello-obsbox" "$dir/"
    (cd "$dir" && dpkg-source -q -b hello-obsbox >/dev/null)
    mkdir "$dir/sources"
    mv "$dir"/hello-obsbox_1.0.dsc "$dir"/hello-obsbox_1.0.tar.* "$dir/sources/"
    packages=$( (cat "$data/lists/required.txt"; echo build-essential) | sed 's/.*/"&"/' | paste -sd, -)
    sed -e "s|@REPO@|$repo|" -e "s|@PACKAGES@|$packages|" \
        "$REPO/integration/example/job.toml" > "$dir/job.toml"
}
