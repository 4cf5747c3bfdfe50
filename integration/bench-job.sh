#!/bin/bash
# The shipped example job (integration/pkgs/hello-obsbox, a Debian source package) built
# twice by obsbox: from an empty cache (cold), then again (warm). Prints the per-phase
# times from RESULTS/_statistics and the warm/cold ratio of the prepare phase (which
# includes assembling the buildroot and the toolbox), and the warm job's overhead: its wall
# time (to the exit of obsbox, work directory removed) less its build phase. Targets: warm
# prepare <= 5% of cold, warm overhead <= 0.3 s.
# Then real corpus packages of different sizes (BENCH_CORPUS, default mbw, a small C
# program, and fribidi, a library of five binary packages; empty: none) side by side with
# OBS's own build script: each built by obsbox from an empty cache (cold) and again
# (warm), and by obs-build (--vm-type chroot) twice on one root, through
# integration/corpus/run.sh, which also checks that both make the same packages. Prints
# the wall times and obs-build's time over obsbox's (cold and warm).
#   integration/bench-job.sh
source "$(dirname "$0")/lib/common.sh"
source "$REPO/integration/lib/serve.sh"
data=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test}
"$REPO/integration/testdata.sh" >/dev/null

work=$(mktemp -d /tmp/obsbox-bench-job.XXXXXX)
trap 'serve_stop; rm -rf "$work"' EXIT
serve_dir "$data/deb-repo" >/dev/null
example_job "$work" "$SERVE_URL bookworm main"

for run in cold warm warm2 warm3; do
    t0=$(date +%s%N)
    "$OBSBOX" --root "$work/state" --cache "$work/cache" build "$work/job.toml" \
        --out "$work/$run" --config "$REPO/runtime-config" >/dev/null ||
        { echo "$run build failed: $work/$run/logfile" >&2; tail -n 20 "$work/$run/logfile" >&2; exit 1; }
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 )) > "$work/$run.wall"
done
python3 - "$work/cold/_statistics" "$work/warm/_statistics" "$work" <<'PY'
import statistics, sys, xml.etree.ElementTree as ET
def phases(path):
    return {p.get("name"): int(p.find("time").text) for p in ET.parse(path).getroot().iter("phase")}
cold, warm = phases(sys.argv[1]), phases(sys.argv[2])
print(f"{'phase':<22} {'cold ms':>9} {'warm ms':>9}")
for name in cold:
    print(f"{name:<22} {cold[name]:>9} {warm.get(name, 0):>9}")
ratio = warm["prepare"] / cold["prepare"] * 100
print(f"warm prepare = {ratio:.1f}% of cold (target <= 5%)")
over = []
for run in ("warm", "warm2", "warm3"):
    wall = int(open(f"{sys.argv[3]}/{run}.wall").read())
    over.append(wall - phases(f"{sys.argv[3]}/{run}/_statistics")["build"])
print(f"warm overhead (wall less the build phase) median {statistics.median(over)} ms of 3 runs {over} (target <= 300 ms)")
PY

corpus=${BENCH_CORPUS-mbw fribidi}
[ -n "$corpus" ] || exit 0
: > "$work/corpus-times"
# shellcheck disable=SC2086 # a list of names
CORPUS_TIMES=$work/corpus-times "$REPO/integration/corpus/run.sh" $corpus > "$work/corpus.out" 2>&1 ||
    { cat "$work/corpus.out" >&2; echo "the corpus builds failed" >&2; exit 1; }
python3 - "$work/corpus-times" <<'PY'
import sys
print(f"{'package':<12} {'obsbox cold':>12} {'obs-build cold':>15} {'ratio':>7} {'obsbox warm':>12} {'obs-build warm':>15} {'ratio':>7}")
for line in open(sys.argv[1]):
    name, ours_cold, ours_warm, obs_cold, obs_warm = line.split()
    oc, ow, bc, bw = (int(x) / 1000 for x in (ours_cold, ours_warm, obs_cold, obs_warm))
    print(f"{name:<12} {oc:>11.1f}s {bc:>14.1f}s {bc / oc:>6.1f}x {ow:>11.1f}s {bw:>14.1f}s {bw / ow:>6.1f}x")
PY
