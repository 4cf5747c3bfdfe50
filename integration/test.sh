#!/bin/bash
# All tests: the cargo suites (real containers, real packages and repositories), podman,
# containerd, then the benchmarks.
# One release build serves everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export OBSBOX_TEST_CACHE=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test}
cargo build --release --locked
# Real Debian packages and RPMs, and repositories of them (downloaded once, then cached).
./integration/testdata.sh
cargo nextest run --release --locked --no-fail-fast
# Real Debian source packages built by obsbox and by obs-build (the CI subset; --all for
# the whole corpus).
./integration/corpus/run.sh
./integration/podman.sh
./integration/containerd.sh
./integration/soak.sh 500 20
./integration/bench-runtime.sh 30
./integration/bench-rootfs.sh 3
# The CI subset of bench-job's corpus packages (the script alone runs mbw and fribidi).
BENCH_CORPUS=mbw ./integration/bench-job.sh
./integration/bench-cross.sh
./integration/bench-alloc.sh
