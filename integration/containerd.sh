#!/bin/bash
# containerd 1.6 drives obsbox through its runc shim: `ctr run --runc-binary <obsbox> --rootfs`,
# and a detached task on `--runtime io.containerd.runc.v2` (BinaryName = obsbox) with exec,
# kill and delete. containerd runs on a private root and socket and is stopped by PID.
source "$(dirname "$0")/lib/common.sh"

work=$(mktemp -d /tmp/obsbox-containerd.XXXXXX)
sock=$work/containerd.sock
ctr=(ctr --address "$sock")
containerd_pid=
cleanup() {
    "${ctr[@]}" task kill -s SIGKILL obsbox-t2 >/dev/null 2>&1 || true
    "${ctr[@]}" task delete -f obsbox-t2 >/dev/null 2>&1 || true
    "${ctr[@]}" container delete obsbox-t2 >/dev/null 2>&1 || true
    if [ -n "$containerd_pid" ]; then
        kill "$containerd_pid" 2>/dev/null || true
        wait "$containerd_pid" 2>/dev/null || true
    fi
    grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "containerd with obsbox ($OBSBOX)"
busybox_bundle "$work/bundle"
rootfs=$work/bundle/rootfs
cat > "$work/config.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$work/containerd-ttrpc.sock"
TOML
containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
containerd_pid=$!
for _ in $(seq 100); do "${ctr[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done

out=$("${ctr[@]}" run --rm --runc-binary "$OBSBOX" --env PATH=/bin:/usr/bin --rootfs "$rootfs" \
      obsbox-t1 sh -c 'echo hello-ctr')
expect "ctr run --runc-binary prints the container's output" test "$out" = hello-ctr

# No --env PATH here: the shim's spec then has none, and obsbox still finds the program.
"${ctr[@]}" run -d --runtime io.containerd.runc.v2 --runc-binary "$OBSBOX" --rootfs "$rootfs" \
    obsbox-t2 sleep 300 >/dev/null
expect "detached task is running" grep -q 'obsbox-t2.*RUNNING' <<<"$("${ctr[@]}" task ls)"
state_dir=$(dirname "$(find /run/containerd/runc -maxdepth 3 -path '*/obsbox-t2/state.json' | head -n1)")
expect "the shim's runtime was obsbox (libcontainer state in $state_dir)" \
    test -f "$state_dir/youki_config.json"
expect "task exec runs in the container" \
    test "$("${ctr[@]}" task exec --exec-id e1 obsbox-t2 sh -c 'echo in-exec')" = in-exec
pids=$("${ctr[@]}" task ps obsbox-t2 | tail -n +2 | wc -l)
expect "task ps lists the process" test "$pids" -ge 1
"${ctr[@]}" task kill -s SIGKILL obsbox-t2
for _ in $(seq 50); do grep -q STOPPED <<<"$("${ctr[@]}" task ls)" && break; sleep 0.1; done
expect "kill stops the task" grep -q 'obsbox-t2.*STOPPED' <<<"$("${ctr[@]}" task ls)"
"${ctr[@]}" task delete obsbox-t2 >/dev/null
"${ctr[@]}" container delete obsbox-t2
expect "delete removes obsbox's state" test ! -e "$state_dir"
expect "no task left" test -z "$("${ctr[@]}" task ls -q)"

kill "$containerd_pid"; wait "$containerd_pid" 2>/dev/null || true; containerd_pid=
expect "containerd stopped" test -z "$(jobs -rp)"
finish
