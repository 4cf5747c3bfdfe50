#!/bin/bash
# Allocation at scale: a simulated fleet of 10,000 workers and 100,000 queued jobs with a
# realistic constraint mix, placed one after the other on the indexed fleet (see
# examples/bench-alloc.rs). Prints decisions per second, p50/p99 latency of one placement
# and peak RSS. Usage: bench-alloc.sh [WORKERS [JOBS]]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --example bench-alloc
exec ./target/release/examples/bench-alloc "${1:-10000}" "${2:-100000}"
