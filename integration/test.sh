#!/bin/bash
# All tests: the cargo suites (real containers), podman, containerd, then the runtime benchmark.
# One release build serves everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export OBSBOX_TEST_CACHE=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test}
cargo build --release --locked
cargo nextest run --release --locked --no-fail-fast
./integration/podman.sh
./integration/containerd.sh
./integration/bench-runtime.sh 30
