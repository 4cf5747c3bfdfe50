#!/bin/bash
# The build-essential closure (the .debs of integration/testdata.sh) laid down as a root:
# obsbox rootfs create from a cold cache and from a warm one (an overlay mount, `--mount`,
# and a private copy, `--out` alone), against a sequential `dpkg-deb -x` loop over the same
# .debs into one directory and the floor of decompressing them on both cores. Rounds
# alternate so drift of the machine hits all alike; prints medians, ratios and peak RSS.
#   integration/bench-rootfs.sh [ROUNDS]   (default 3)
source "$(dirname "$0")/lib/common.sh"
rounds=${1:-3}
(cd "$REPO" && cargo build --release --locked --example walk-floor -q)
data=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test}
"$REPO/integration/testdata.sh" >/dev/null

work=$(mktemp -d /tmp/obsbox-bench-rootfs.XXXXXX)
# Mounted roots first, then the rest.
cleanup() {
    grep -o " $work/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
names=$data/lists/build-essential.txt
repo="file://$data/deb-repo bookworm main"
# One run first: the loop then unpacks exactly the set obsbox resolved (the list holds
# alternatives that conflict, e.g. make and make-guile, of which a root gets one).
"$OBSBOX" --root "$work/state" --cache "$work/cache" rootfs create --arch amd64 --repo "$repo" \
    --packages-from "$names" --out "$work/out" 2>/dev/null
mapfile -t debs < <(python3 - "$data/deb-repo" "$work"/cache/rootfs/*/info.json <<'PY'
import gzip, json, sys
repo, info = sys.argv[1], json.load(open(sys.argv[2]))
chosen = {p.split("=")[0] for p in info["packages"]}
text = gzip.open(f"{repo}/dists/bookworm/main/binary-amd64/Packages.gz", "rt").read()
for para in text.split("\n\n"):
    fields = dict(l.split(": ", 1) for l in para.splitlines() if ": " in l and not l.startswith(" "))
    if fields.get("Package") in chosen:
        print(f"{repo}/{fields['Filename']}")
PY
)
size=$(du -cb "${debs[@]}" | tail -n1 | cut -f1)
echo "input: ${#debs[@]} .debs, $((size / 1024 / 1024)) MB; obsbox: $("$OBSBOX" --version)"
now() { date +%s%N; }

: >"$work/times"
# Every run writes into fresh directories and nothing is deleted until the end: ext4
# slows down creating inodes for a few minutes after mass deletions (its allocator skips
# recently freed inodes), which would tax whichever command ran after a cleanup.
n=0
fresh() { n=$((n + 1)); FRESH=$work/run$n; }
obsbox_into() { "$OBSBOX" --root "$work/state" --cache "$1" rootfs create --arch amd64 --repo "$repo" --packages-from "$names" --out "$2" "${@:3}" 2>/dev/null; }
# The floor of a cold run: every data.tar decompressed (nothing written), two at a time.
floor() { printf '%s\n' "${debs[@]}" | xargs -P2 -I{} sh -c 'dpkg-deb --fsys-tarfile "$1" >/dev/null' _ {}; }
for r in $(seq "$rounds"); do
    fresh; out=$FRESH
    t0=$(now); for d in "${debs[@]}"; do dpkg-deb -x "$d" "$out"; done; t1=$(now)
    echo "dpkg $(( t1 - t0 ))" >>"$work/times"
    t0=$(now); floor; t1=$(now)
    echo "floor $(( t1 - t0 ))" >>"$work/times"
    fresh; cache=$FRESH; fresh; out=$FRESH
    t0=$(now); obsbox_into "$cache" "$out"; t1=$(now)
    echo "cold $(( t1 - t0 ))" >>"$work/times"
    for _ in 1 2 3 4 5; do
        fresh; out=$FRESH
        t0=$(now); obsbox_into "$cache" "$out" --mount; t1=$(now)
        echo "warm $(( t1 - t0 ))" >>"$work/times"
    done
    fresh; out=$FRESH
    t0=$(now); obsbox_into "$cache" "$out"; t1=$(now)
    echo "copy $(( t1 - t0 ))" >>"$work/times"
done
# A worker's cycle: the previous job's root is deleted, then the next one is made from the
# warm cache. Run after the rounds above, as the deletions would tax whatever comes next.
prev=$out
for _ in $(seq $((rounds * 3))); do
    umount "$prev" 2>/dev/null || true
    rm -rf "$prev" "$prev.upper" "$prev.work"
    fresh; out=$FRESH
    t0=$(now); obsbox_into "$cache" "$out" --mount; t1=$(now)
    echo "cycle $(( t1 - t0 ))" >>"$work/times"
    prev=$out
done
# Peak RSS of one cold and one warm run.
fresh; cache=$FRESH; fresh
/usr/bin/time -o "$work/cold.rss" -f %M "$OBSBOX" --root "$work/state" --cache "$cache" rootfs create --arch amd64 --repo "$repo" --packages-from "$names" --out "$FRESH" >/dev/null 2>&1
fresh
/usr/bin/time -o "$work/warm.rss" -f %M "$OBSBOX" --root "$work/state" --cache "$cache" rootfs create --arch amd64 --repo "$repo" --packages-from "$names" --out "$FRESH" --mount >/dev/null 2>&1
# The warm check's floor: the cached root listed and every inode looked at, nothing else,
# alternating with obsbox's digest of it.
"$REPO/target/release/examples/walk-floor" "$(ls -d "$cache"/rootfs/*/tree)" $((rounds * 10)) | sed 's/^/cached root check: /'
python3 - "$work/times" "$(cat "$work/cold.rss")" "$(cat "$work/warm.rss")" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    kind, t = line.split()
    times.setdefault(kind, []).append(int(t) / 1e9)
d, f, c, w, p, y = (statistics.median(times[k]) for k in ("dpkg", "floor", "cold", "warm", "copy", "cycle"))
print(f"dpkg-deb -x loop  median {d:7.3f} s  ({len(times['dpkg'])} runs)")
print(f"decompression floor (2 cores) median {f:7.3f} s")
print(f"obsbox cold       median {c:7.3f} s  ({len(times['cold'])} runs)  loop/cold = {d/c:.2f}x  (target >= 3x), cold/floor = {c/f:.2f}x (target <= 1.3x)")
print(f"obsbox warm, mounted median {w*1000:7.1f} ms ({len(times['warm'])} runs)  (target <= 20 ms)")
print(f"obsbox warm, private copy median {p*1000:7.1f} ms ({len(times['copy'])} runs)")
print(f"  mounted after unmounting and deleting the previous root (a worker's cycle): median {y*1000:.1f} ms ({len(times['cycle'])} runs)")
cold_rss, warm_rss = int(sys.argv[2]) / 1024, int(sys.argv[3]) / 1024
print(f"peak RSS          cold {cold_rss:.1f} MB, warm {warm_rss:.1f} MB  (target <= 200 MB)")
PY
