#!/bin/bash
# Soak: 500 container lifecycles in one long-lived obsbox process (examples/soak.rs), then
# 20 build jobs at once on one cache. Prints what is held at the start and the end: open
# file descriptors, mounts, cgroups, processes, RSS for the lifecycles; mounts, obsbox
# cgroups, container state dirs, work dirs and obsbox processes around the jobs.
# Fails when anything grew or a job did not build.
#   integration/soak.sh [LIFECYCLES] [JOBS]   (default 500 20)
source "$(dirname "$0")/lib/common.sh"
source "$REPO/integration/lib/serve.sh"
lifecycles=${1:-500}
jobs=${2:-20}
data=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test}
"$REPO/integration/testdata.sh" >/dev/null
(cd "$REPO" && cargo build --release --locked --example soak -q)

work=$(mktemp -d /tmp/obsbox-soak.XXXXXX)
trap 'serve_stop; rm -rf "$work"' EXIT

echo "== $lifecycles container lifecycles in one process"
busybox_bundle "$work/bundle"
bundle_args "$work/bundle" /bin/true
# The library creates each container in a fresh obsbox process (src/runtime/creator.rs):
# the soak program is not obsbox, so it names the binary that does that.
expect "lifecycles leave nothing held" env OBSBOX_BINARY="$OBSBOX" \
    "$REPO/target/release/examples/soak" "$work/bundle" "$lifecycles"

echo "== $jobs build jobs at once"
serve_dir "$data/deb-repo" >/dev/null
example_job "$work" "$SERVE_URL bookworm main"
cache=$work/cache state=$work/state
build() { "$OBSBOX" --root "$state" --cache "$cache" build "$work/job.toml" --out "$1" --config "$REPO/runtime-config" >/dev/null 2>&1; }
# One job fills the cache; the concurrent ones then share the cached roots.
build "$work/first" || { echo "the first build failed: $work/first/logfile" >&2; exit 1; }
held() {
    printf 'mounts %s  obsbox cgroups %s  container states %s  work dirs %s  obsbox processes %s\n' \
        "$(wc -l < /proc/self/mountinfo)" \
        "$(find /sys/fs/cgroup/*/obsbox -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)" \
        "$(find "$state" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" \
        "$(find "$cache/jobs" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" \
        "$(pgrep -c -f -- "--root $state" || true)"
}
before=$(held)
echo "start  $before"
started=$(date +%s%N)
pids=()
for i in $(seq "$jobs"); do build "$work/r$i" & pids+=($!); done
ok=0
for i in "${!pids[@]}"; do
    if wait "${pids[$i]}" && [ -f "$work/r$((i + 1))/DEBS/hello-obsbox_1.0_amd64.deb" ]; then ok=$((ok + 1)); fi
done
after=$(held)
echo "end    $after"
echo "$ok of $jobs jobs built in $(( ($(date +%s%N) - started) / 1000000 )) ms"
expect "every concurrent job built" [ "$ok" = "$jobs" ]
expect "nothing held after the jobs" [ "$before" = "$after" ]
finish
