#!/bin/bash
# Cross-arch builds: what running the tools that serve a build natively from the toolbox
# saves against running them emulated inside the target buildroot, and what emulation
# costs the build itself.
#   integration/bench-cross.sh [ROUNDS]
# 1. The shipped example package (integration/pkgs/hello-obsbox) is built for arm64 (an
#    arm64 buildroot run through qemu from the toolbox) and for amd64, alternately, ROUNDS
#    times each (default 2; the roots come from a cache kept in the test data directory,
#    assembled by the first run on a machine); the build phase's time
#    from _statistics gives the emulation slowdown of a build.
# 2. lintian checks the arm64 .deb, alternately from the host-arch toolbox (native) and
#    inside the arm64 buildroot (emulated), ROUNDS+3 times each, each as a callback of the
#    job run through `obsbox callback hook` (the entry the build phase's OCI hooks call).
#    Both must report the same tags. Target: native at least 7x faster.
source "$(dirname "$0")/lib/common.sh"
source "$REPO/integration/lib/serve.sh"
rounds=${1:-2}
data=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test}
"$REPO/integration/testdata.sh" >/dev/null

work=$(mktemp -d /tmp/obsbox-bench-cross.XXXXXX)
# Roots of package sets no longer in the test data are dropped when the cache grows.
trap 'serve_stop; rm -rf "$work"; "$OBSBOX" cache gc --cache "$cache" --max-size 4G >/dev/null 2>&1 || true' EXIT
serve_dir "$data/deb-repo" >/dev/null
repo="$SERVE_URL bookworm main"
# The roots are kept in the test data directory between runs: assembling the arm64 ones
# takes minutes (their maintainer scripts run under qemu) and is not what is measured.
cache=$data/bench-cross-cache
run() { "$OBSBOX" --root "$work/state" --cache "$cache" "$@"; }

# The same package and base for both arches; the arm64 job gets its toolbox from the
# archive's amd64 packages, and lintian in both its roots. The toolbox is unpacked, not
# installed, so what lintian runs of the Essential set is named.
for arch in amd64 arm64; do
    mkdir "$work/$arch"
    example_job "$work/$arch" "$repo"
done
sed -i -e 's/^arch = "amd64"/arch = "arm64"/' \
    -e "s|^packages = \[|toolbox_repos = [\"$repo\"]\ntoolbox = [\"lintian\", \"findutils\", \"tar\", \"gzip\", \"xz-utils\", \"bzip2\", \"diffutils\", \"sed\", \"grep\", \"dash\"]\npackages = [\"lintian\", |" \
    "$work/arm64/job.toml"

# build ARCH N: one build of the example for ARCH; prints the build phase's ms.
build() {
    local arch=$1 out=$work/results-$1-$2
    run build "$work/$arch/job.toml" --out "$out" --config "$REPO/runtime-config" >/dev/null 2>&1 ||
        { echo "$arch build failed: $out/logfile" >&2; tail -n 20 "$out/logfile" >&2; exit 1; }
    python3 - "$out/_statistics" <<'PY'
import sys, xml.etree.ElementTree as ET
for p in ET.parse(sys.argv[1]).getroot().iter("phase"):
    if p.get("name") == "build":
        print(p.find("time").text)
PY
}
arm_ms=() amd_ms=()
for i in $(seq "$rounds"); do
    ms=$(build arm64 "$i") && arm_ms+=("$ms")
    ms=$(build amd64 "$i") && amd_ms+=("$ms")
done
# (The log's lines start with their time stamp, `[   12s] `.)
grep -qE '^\[ *[0-9]+s\] checks run on aarch64$' "$work/results-arm64-1/logfile" ||
    { echo "the arm64 unit test did not run as aarch64" >&2; exit 1; }

# The lint callbacks: cleanup hooks (they run whatever the build did), one per side, with
# the same arguments. The profile is named: an unpacked toolbox has no
# /etc/dpkg/origins/default (base-files' postinst makes it), which lintian would read.
cp -a "$REPO/runtime-config" "$work/config"
mkdir -p "$work/config/projects"
cat > "$work/config/projects/home:obsbox.toml" <<'EOF'
[callback.lint-native]
hook = "cleanup"
runs-in = "toolbox"
command = ["lintian", "--profile", "debian", "/results/DEBS/hello-obsbox_1.0_arm64.deb"]
mounts = { results = "ro" }
env = { HOME = "/tmp", LC_ALL = "C" }
enabled = true

[callback.lint-emulated]
hook = "cleanup"
runs-in = "buildroot"
command = ["lintian", "--profile", "debian", "/results/DEBS/hello-obsbox_1.0_arm64.deb"]
mounts = { results = "ro" }
env = { HOME = "/tmp", LC_ALL = "C" }
enabled = true
EOF
run bundle "$work/arm64/job.toml" --out "$work/bundle" --config "$work/config" >/dev/null 2>&1
mkdir -p "$work/bundle/results/DEBS"
cp "$work/results-arm64-1/DEBS/hello-obsbox_1.0_arm64.deb" "$work/bundle/results/DEBS/"

# lint SIDE: runs one lint callback; prints its wall time and its CPU time (user + system
# of the container's processes, which the hook entry waits for), in s, keeps its tags.
lint() {
    local side=$1
    /usr/bin/time -o "$work/time-$side" -f "%e %U %S" \
        "$OBSBOX" --root "$work/state" --cache "$cache" \
        callback hook "$work/bundle/bundles/callback-lint-$side" 2> "$work/lint-$side.log" ||
        { echo "lint-$side: the hook failed" >&2; cat "$work/lint-$side.log" >&2; exit 1; }
    grep -q "^\[callback lint-$side\] ok\|failed with exit code" "$work/lint-$side.log" ||
        { echo "lint-$side did not run:" >&2; cat "$work/lint-$side.log" >&2; exit 1; }
    sed -n "s/^\[callback lint-$side\] \([EWIPXO]: .*\)/\1/p" "$work/lint-$side.log" > "$work/tags-$side"
    awk '{ printf "%s/%.2f\n", $1, $2 + $3 }' "$work/time-$side"
}
native_ms=() emulated_ms=()
for i in $(seq $((rounds + 3))); do
    ms=$(lint native) && native_ms+=("$ms")
    ms=$(lint emulated) && emulated_ms+=("$ms")
done
cmp -s "$work/tags-native" "$work/tags-emulated" ||
    { echo "lintian reports differ:"; diff "$work/tags-native" "$work/tags-emulated"; exit 1; } >&2

python3 - "${arm_ms[*]}" "${amd_ms[*]}" "${native_ms[*]}" "${emulated_ms[*]}" "$(wc -l < "$work/tags-native")" <<'PY'
import statistics, sys
arm, amd = ([int(x) for x in a.split()] for a in sys.argv[1:3])
# WALL/CPU pairs in seconds.
native, emulated = ([tuple(float(v) for v in x.split("/")) for x in a.split()] for a in sys.argv[3:5])
tags = sys.argv[5]
med = statistics.median
def side(name, runs):
    wall, cpu = med(r[0] for r in runs), med(r[1] for r in runs)
    print(f"  {name:<29} median {wall:6.2f} s wall, {cpu:6.2f} s CPU  (wall: {' '.join(f'{r[0]:.2f}' for r in runs)})")
    return wall, cpu
print(f"lintian over the arm64 .deb ({tags} tags, the same on both sides), {len(native)} runs each, alternated:")
nw, nc = side("native, from the toolbox", native)
ew, ec = side("emulated, in the buildroot", emulated)
print(f"  native is {ew / nw:.1f}x faster in wall time (target >= 7x: {'met' if ew / nw >= 7 else 'MISSED'}), "
      f"{ec / nc:.1f}x in CPU time")
print(f"build phase of hello-obsbox, {len(arm)} builds each:")
print(f"  arm64 under qemu              median {med(arm) / 1000:6.2f} s  ({' '.join(f'{x / 1000:.2f}' for x in arm)})")
print(f"  amd64 native                  median {med(amd) / 1000:6.2f} s  ({' '.join(f'{x / 1000:.2f}' for x in amd)})")
print(f"  emulation slowdown of the build: {med(arm) / med(amd):.1f}x")
PY
