#!/bin/bash
# Regenerates link/code-order.txt: the functions of the obsbox binary that the OCI runtime's
# commands run, in the order they first run them. build.rs hands the file to the linker
# (lld's --symbol-ordering-file), which lays those functions out together at the start of
# the code. The kernel maps a binary's code 64 KiB around every page a process touches, so
# runtime code scattered over the 6 MB of code makes `obsbox run` map most of it; laid out
# together it maps a fraction (peak RSS, integration/bench-runtime.sh).
#   integration/code-order.sh      (then cargo build --release again)
# The tracer stops once at each function's first call (a breakpoint per function), so the
# whole trace takes seconds. Run it on the final binary after changes to the runtime path or
# its dependencies (symbol names carry hashes that change with the code and the toolchain):
# names that no longer exist are skipped by the linker, new code lands after the ordered
# code, so a stale file costs memory, never correctness.
source "$(dirname "$0")/lib/common.sh"
cd "$REPO"
cargo build --release --locked --example code-trace
tracer=$REPO/target/release/examples/code-trace

work=$(mktemp -d /tmp/obsbox-code-order.XXXXXX)
trap 'rm -rf "$work"' EXIT
busybox_bundle "$work/bundle"
bundle_args "$work/bundle" /bin/true
trace=$work/trace
root=$work/state
# The functions' start addresses (offsets from the load base of the position-independent
# binary), where the tracer sets its breakpoints.
funcs=$work/functions
nm -nS --defined-only "$OBSBOX" | awk 'NF == 4 && $3 ~ /^[tTwW]$/ && $2 !~ /^0+$/ {print $1}' > "$funcs"
cd "$work/bundle"
# The paths podman, containerd and a plain `run` take: every command once.
# `run` with the processes it forks: libcontainer's intermediate and init processes, the
# latter the biggest part of a start (and the process with the highest peak RSS).
"$tracer" --follow-forks "$trace" "$funcs" "$OBSBOX" --root "$root" run t1
"$tracer" "$trace" "$funcs" "$OBSBOX" --root "$root" --log "$work/log" --log-format json create --pid-file "$work/pid" t2
"$tracer" "$trace" "$funcs" "$OBSBOX" --root "$root" state t2 >/dev/null
"$tracer" "$trace" "$funcs" "$OBSBOX" --root "$root" start t2
"$tracer" "$trace" "$funcs" "$OBSBOX" --root "$root" delete --force t2
bundle_args "$work/bundle" /bin/sleep 100000
"$OBSBOX" --root "$root" run -d t3
"$tracer" "$trace" "$funcs" "$OBSBOX" --root "$root" exec t3 /bin/true
"$tracer" "$trace" "$funcs" "$OBSBOX" --root "$root" list >/dev/null
"$tracer" "$trace" "$funcs" "$OBSBOX" --root "$root" kill t3 9
"$OBSBOX" --root "$root" delete --force t3

nm -nS --defined-only "$OBSBOX" > "$work/symbols"
python3 - "$work/symbols" "$trace" "$REPO/link/code-order.txt" <<'PY'
import bisect, sys
symbols, trace, out = sys.argv[1:]
funcs = []
for line in open(symbols):
    fields = line.split()
    if len(fields) == 4 and fields[2] in "tTwW":
        start, size = int(fields[0], 16), int(fields[1], 16)
        funcs.append((start, start + size, fields[3]))
funcs.sort()
starts = [f[0] for f in funcs]
order, seen = [], set()
for line in open(trace):
    at = int(line, 16)
    i = bisect.bisect_right(starts, at) - 1
    if i >= 0 and funcs[i][0] <= at < funcs[i][1] and funcs[i][2] not in seen:
        seen.add(funcs[i][2])
        order.append(funcs[i][2])
with open(out, "w") as f:
    f.write("\n".join(order) + "\n")
size = sum(e - s for s, e, n in funcs if n in seen)
print(f"{len(order)} functions, {size / 1024:.0f} KiB of code, into {out}")
PY
