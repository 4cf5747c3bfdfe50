#!/bin/bash
# Commit to `succeeded` through a real OBS backend (integration/obs-backend/obs-backend.sh):
# the same Debian package (integration/pkgs/hello-obsbox, a mark added to its binary per
# build so that every build has a new result) built by a bs_worker whose `build` is obsbox
# and by one running obs-build's own `build` (chroot type), alternated, cold and warm.
#
#   integration/bench-obs.sh [ROUNDS [WARM]]     (default 1 round of 3 warm builds each)
#
# Each round starts a fresh backend with both workers and empty caches: the first build on
# each worker is cold (obsbox installs the buildroot into its empty cache; bs_worker fetches
# every package; obs-build sets up its chroot), the next WARM builds per worker are warm
# (obsbox reuses its cached buildroot; obs-build's `--clean` chroot is set up again from
# bs_worker's package cache, as on every OBS chroot worker). Which worker builds is chosen
# by host label (`_constraints`); the order of the two alternates.
#
# Reported per build: commit → succeeded (what a user waits), and from the job history:
# the scheduler (commit → job ready), the dispatcher (ready → started on a worker), the
# worker (start → end: bs_worker's download and upload, the build) and the result's way
# back (end → succeeded seen). OBS's own side is everything but the worker's part.
source "$(dirname "$0")/lib/common.sh"
export OBSBOX
die() {
    echo "bench-obs: $*" >&2
    exit 1
}
rounds=${1:-1}
warm=${2:-3}
data=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test}
"$REPO/integration/testdata.sh" >/dev/null

if [ -z "${OBS_BACKEND_DIR:-}" ]; then
    results=$(mktemp /tmp/obsbox-bench-obs.XXXXXX)
    trap 'rm -f "$results"' EXIT
    for ((round = 1; round <= rounds; round++)); do
        dir=$(mktemp -d /tmp/obsbox-bench-obs-backend.XXXXXX)
        rmdir "$dir"
        # Both workers in one backend; the caches live in DIR, so each round starts cold.
        OBS_BACKEND_WORKERS=2 OBS_BACKEND_BUILD="obsbox obs-build" OBS_BACKEND_LABELS="obsbox obs-build" \
            BENCH_ROUND=$round BENCH_WARM=$warm BENCH_RESULTS=$results \
            "$REPO/integration/obs-backend/obs-backend.sh" run "$dir" "$0"
    done
    python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
# round kind builder total scheduler dispatcher worker back
def med(kind, builder, col):
    v = [float(r[col]) for r in rows if r[1] == kind and r[2] == builder]
    return statistics.median(v) if v else float("nan"), len(v)
print()
print("%-5s %-9s %5s %9s %9s %10s %8s %6s %9s" % ("", "worker", "n", "commit→ok", "scheduler", "dispatcher", "worker", "back", "OBS side"))
for kind in ("cold", "warm"):
    for builder in ("obsbox", "obs-build"):
        total, n = med(kind, builder, 3)
        parts = [med(kind, builder, c)[0] for c in (4, 5, 6, 7)]
        print("%-5s %-9s %5d %8.1fs %8.1fs %9.1fs %7.1fs %5.1fs %8.1fs" % (
            kind, builder, n, total, *parts, total - parts[2]))
    a, _ = med(kind, "obsbox", 3)
    b, _ = med(kind, "obs-build", 3)
    print("%-5s obs-build / obsbox, commit → succeeded: %.2f×" % (kind, b / a))
PY
    exit 0
fi

# In the backend's network namespace (obs-backend.sh run … "$0").
project=home:bench
package_of() { echo "hello-$1"; }
put() { curl -sf -X PUT -T "$2" "$SRCSERVER$1" >/dev/null; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/meta" <<EOF
<project name="$project"><title/><description/>
<repository name="Debian_12"><path project="Debian:12" repository="main"/><arch>x86_64</arch></repository>
</project>
EOF
put "/source/$project/_meta" "$work/meta"
for builder in obsbox obs-build; do
    pkg=$(package_of "$builder")
    echo "<package name=\"$pkg\" project=\"$project\"><title/><description/></package>" >"$work/meta"
    put "/source/$project/$pkg/_meta" "$work/meta"
    printf '<constraints><hostlabel>%s</hostlabel></constraints>\n' "$builder" >"$work/_constraints"
    put "/source/$project/$pkg/_constraints?rev=upload" "$work/_constraints"
done

# jobs PKG: how many jobs the package has finished.
jobs() {
    curl -s "$SRCSERVER/build/$project/Debian_12/x86_64/_jobhistory?package=$1" | grep -c '<jobhist ' || true
}

# build BUILDER N KIND: commit a new greeting to the builder's package and time it.
build() {
    local builder=$1 n=$2 kind=$3 pkg before t0 t1 code hist
    pkg=$(package_of "$builder")
    rm -rf "$work/src"
    mkdir -p "$work/src"
    cp -a "$REPO/integration/pkgs/hello-obsbox" "$work/src/"
    echo "const char obsbox_bench_build[] = \"$BENCH_ROUND.$n\";" >>"$work/src/hello-obsbox/src/greet.c"
    (cd "$work/src" && dpkg-source -q -b hello-obsbox >/dev/null)
    for f in "$work"/src/hello-obsbox_1.0.dsc "$work"/src/hello-obsbox_1.0.tar.*; do
        put "/source/$project/$pkg/$(basename "$f")?rev=upload" "$f"
    done
    before=$(jobs "$pkg")
    t0=$(date +%s.%N)
    curl -sf -X POST "$SRCSERVER/source/$project/$pkg?cmd=commit" >/dev/null
    while :; do
        if [ "$(jobs "$pkg")" -gt "$before" ]; then
            code=$(curl -s "$SRCSERVER/build/$project/_result?package=$pkg" |
                sed -n 's/.*<status package="[^"]*" code="\([a-z]*\)".*/\1/p')
            [ "$code" = succeeded ] && break
            [ "$code" = failed ] && die "$pkg failed: $(curl -s "$SRCSERVER/build/$project/Debian_12/x86_64/$pkg/_log" | tail -20)"
        fi
        sleep 0.1
    done
    t1=$(date +%s.%N)
    hist=$(curl -s "$SRCSERVER/build/$project/Debian_12/x86_64/_jobhistory?package=$pkg" | grep '<jobhist ' | tail -1)
    python3 - "$t0" "$t1" "$hist" "$BENCH_ROUND" "$kind" "$builder" <<'PY' | tee -a "$BENCH_RESULTS"
import re, sys
t0, t1, hist, rnd, kind, builder = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], *sys.argv[4:]
a = dict(re.findall(r'(\w+)="([^"]*)"', hist))
ready, start, end = (float(a[k]) for k in ("readytime", "starttime", "endtime"))
# Whole seconds in the history: the parts are rounded, the total is not.
print(rnd, kind, builder, "%.1f" % (t1 - t0), "%.0f" % max(0, ready - t0), "%.0f" % max(0, start - ready),
      "%.0f" % (end - start), "%.0f" % max(0, t1 - end))
PY
}

order=(obsbox obs-build)
[ $((BENCH_ROUND % 2)) = 1 ] || order=(obs-build obsbox)
n=0
for builder in "${order[@]}"; do
    n=$((n + 1))
    build "$builder" "$n" cold
done
for ((i = 1; i <= BENCH_WARM; i++)); do
    for builder in "${order[@]}"; do
        n=$((n + 1))
        build "$builder" "$n" warm
    done
    order=("${order[1]}" "${order[0]}")
done
