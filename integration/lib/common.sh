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
