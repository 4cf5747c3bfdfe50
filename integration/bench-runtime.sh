#!/bin/bash
# obsbox run vs runc run on the same busybox bundle running /bin/true, alternately, with
# hyperfine; prints both medians and the ratio, then peak RSS of each from /usr/bin/time -v.
# A third column, for reference: examples/bare-libcontainer.rs, which only builds, starts,
# waits for and deletes the container with libcontainer (no sealing, no hooks of obsbox):
# the part of a start that is libcontainer's own.
#   integration/bench-runtime.sh [RUNS]   (default 40 runs each)
source "$(dirname "$0")/lib/common.sh"
runs=${1:-40}
(cd "$REPO" && cargo build --release --locked --example bare-libcontainer -q)
bare_bin=$REPO/target/release/examples/bare-libcontainer

work=$(mktemp -d /tmp/obsbox-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
busybox_bundle "$work/bundle"
bundle_args "$work/bundle" /bin/true
mkdir -p "$work/obsbox-root" "$work/runc-root" "$work/bare-root"
cd "$work/bundle"
obsbox_cmd="$OBSBOX --root $work/obsbox-root run bench-obsbox"
runc_cmd="runc --root $work/runc-root run bench-runc"
bare_cmd="$bare_bin $work/bare-root bench-bare $work/bundle"
$obsbox_cmd && $runc_cmd && $bare_cmd || { echo "a runtime cannot run the bundle" >&2; exit 1; }

echo "obsbox: $("$OBSBOX" --version)   runc: $(runc --version | head -n1)"
# The layout the peak RSS depends on: how much of link/code-order.txt the binary still has
# (renamed or new runtime code falls outside it: run integration/code-order.sh, rebuild).
ordered=$(grep -c . "$REPO/link/code-order.txt")
present=$(nm --defined-only "$OBSBOX" | awk '{print $3}' | sort -u | comm -12 - <(sort -u "$REPO/link/code-order.txt") | wc -l)
echo "code order: $present of $ordered ordered functions are in the binary"
# Alternate the three in rounds of 5 runs each, so drift of the machine hits all alike.
rounds=$(( (runs + 4) / 5 ))
for r in $(seq "$rounds"); do
    hyperfine -N --warmup 2 --runs 5 --export-json "$work/h$r.json" "$obsbox_cmd" "$runc_cmd" "$bare_cmd" >/dev/null 2>&1
done
python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
times = {0: [], 1: [], 2: []}
for r in range(1, rounds + 1):
    for i, res in enumerate(json.load(open(f"{work}/h{r}.json"))["results"]):
        times[i] += res["times"]
o, c, b = (statistics.median(times[i]) for i in range(3))
print(f"runs    {len(times[0])} each, alternating in rounds of 5")
print(f"median  obsbox {o*1000:7.2f} ms   runc {c*1000:7.2f} ms   runc/obsbox = {c/o:.2f}x")
print(f"        bare libcontainer {b*1000:7.2f} ms (runc/bare = {c/b:.2f}x, obsbox/bare = {o/b:.2f})")
print(f"p10-p90 obsbox {statistics.quantiles(times[0], n=10)[0]*1000:.2f}-{statistics.quantiles(times[0], n=10)[-1]*1000:.2f} ms"
      f"   runc {statistics.quantiles(times[1], n=10)[0]*1000:.2f}-{statistics.quantiles(times[1], n=10)[-1]*1000:.2f} ms")
PY

peak() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ {print $2}'; }
o_rss=0; r_rss=0
for _ in 1 2 3 4 5; do
    o=$(peak $obsbox_cmd); r=$(peak $runc_cmd)
    [ "$o" -gt "$o_rss" ] && o_rss=$o
    [ "$r" -gt "$r_rss" ] && r_rss=$r
done
python3 -c "
o, r = $o_rss, $r_rss
print(f'peak RSS  obsbox {o/1024:.1f} MB   runc {r/1024:.1f} MB   obsbox/runc = {o/r*100:.0f}%')"
