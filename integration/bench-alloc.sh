#!/bin/bash
# Allocation at scale.
#
# 1. The placement itself: a simulated fleet of 10,000 workers and 100,000 queued jobs with a
#    realistic constraint mix, placed one after the other on the indexed fleet (see
#    examples/bench-alloc.rs). Prints decisions per second, p50/p99 latency of one placement
#    and peak RSS.
# 2. The whole command: one job against the same 10,000 workers as files (one worker
#    document each, named as OBS's dispatcher names them), `obsbox allocate` side by side
#    with OBS's own Perl matcher (integration/obs/obs-matcher.pl: BSDispatcher::Constraints
#    of the installed obs-server) reading the same files; both must find the same compliant
#    workers. Prints both times, the ratio, the decision's own time (obsbox's json
#    decision_us) and obsbox's peak RSS.
#
# Usage: bench-alloc.sh [WORKERS [JOBS]]
set -euo pipefail
cd "$(dirname "$0")/.."
workers="${1:-10000}"
jobs="${2:-100000}"
cargo build --release --locked --example bench-alloc --bin obsbox
target="${CARGO_TARGET_DIR:-target}/release"
"$target/examples/bench-alloc" "$workers" "$jobs"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$target/examples/bench-alloc" --write-fleet "$tmp/workers" "$workers"
cat >"$tmp/_constraints" <<'XML'
<constraints>
  <hostlabel exclude="true">SLOW</hostlabel>
  <linux><version><min>5.3</min></version></linux>
  <hardware>
    <disk><size unit="G">20</size></disk>
    <memory><size unit="G">8</size></memory>
  </hardware>
</constraints>
XML
mkdir -p "$tmp/config"  # an empty configuration directory: the defaults
obsbox=("$target/obsbox" allocate --config "$tmp/config" --arch x86_64 --constraints "$tmp/_constraints" --workers "$tmp/workers")
perl=(perl integration/obs/obs-matcher.pl x86_64 "$tmp/_constraints" - "$tmp/workers")

# The same answer: obsbox's compliant workers (by --explain) against OBS's. obsbox also
# counts its emulating workers (sandbox obsbox, a foreign <buildarch>), which OBS's table
# leaves out: none for an x86_64 job on this fleet's x86_64 hosts.
"${obsbox[@]}" --explain | awk '$2 == "idle" && $3 ~ /^ok/ {print $1}' | sort >"$tmp/obsbox.ok"
"${perl[@]}" 2>/dev/null | sort >"$tmp/obs.ok"
if ! cmp -s "$tmp/obsbox.ok" "$tmp/obs.ok"; then
  echo "obsbox and OBS's matcher disagree:" >&2
  diff "$tmp/obsbox.ok" "$tmp/obs.ok" | head >&2
  exit 1
fi
echo "whole command: one job against $workers worker files, $(wc -l <"$tmp/obs.ok") compliant (obsbox and OBS's matcher agree)"

decision_us="$("${obsbox[@]}" --format json | sed -n 's/.*"decision_us": \([0-9]*\).*/\1/p')"
rss_kb="$( { /usr/bin/time -f '%M' "${obsbox[@]}" >/dev/null; } 2>&1 | tail -1)"
# Alternate the two in rounds (obsbox 3 runs, the Perl 1), so drift of a shared machine hits
# both alike; medians over the rounds.
rounds=3
"${obsbox[@]}" >/dev/null  # warm-up
for r in $(seq "$rounds"); do
  hyperfine --style none --runs 3 --export-json "$tmp/obsbox$r.json" "${obsbox[*]}" >/dev/null
  hyperfine --style none --runs 1 --export-json "$tmp/obs$r.json" "${perl[*]}" >/dev/null
done
python3 - "$tmp" "$rounds" "$decision_us" "$rss_kb" <<'PY'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
def runs(name):
    out = {"times": [], "cpu": []}
    for r in range(1, rounds + 1):
        res = json.load(open(f"{tmp}/{name}{r}.json"))["results"][0]
        out["times"] += res["times"]
        out["cpu"].append(res["user"] + res["system"])  # the round's mean
    return out
o, p = runs("obsbox"), runs("obs")
om, pm = statistics.median(o["times"]), statistics.median(p["times"])
print(f"obsbox allocate: median {om*1000:.0f} ms over {len(o['times'])} runs (of which the decision {int(sys.argv[3])/1000:.1f} ms), peak RSS {int(sys.argv[4])/1024:.1f} MB")
print(f"OBS's Perl matcher: median {pm:.2f} s over {len(p['times'])} runs")
print(f"ratio: obsbox is {pm/om:.0f}× faster in wall time (target ≥ 50×), alternating in {rounds} rounds")
oc, pc = statistics.median(o["cpu"]), statistics.median(p["cpu"])
print(f"CPU time (user + system): obsbox {oc*1000:.0f} ms (on all cores), OBS {pc:.2f} s: {pc/oc:.0f}×")
PY
