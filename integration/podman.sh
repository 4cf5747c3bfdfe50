#!/bin/bash
# podman 4.3 drives obsbox as its OCI runtime (`--runtime <abs path>`): run, run -d -t, exec,
# stop, rm, and an error from obsbox shown by podman. Private storage; everything is removed.
source "$(dirname "$0")/lib/common.sh"

work=$(mktemp -d /tmp/obsbox-podman.XXXXXX)
podman=(podman --root "$work/root" --runroot "$work/runroot" --storage-driver vfs
        --cgroup-manager cgroupfs --events-backend file --runtime "$OBSBOX")
limits=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)
image=localhost/obsbox-busybox:test
cleanup() {
    "${podman[@]}" rm -af >/dev/null 2>&1 || true
    "${podman[@]}" system reset -f >/dev/null 2>&1 || true
    grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "podman with obsbox ($OBSBOX)"
busybox_bundle "$work/bundle"
tar -C "$work/bundle/rootfs" -c . | "${podman[@]}" import -q - "$image" >/dev/null

out=$("${podman[@]}" run --rm "${limits[@]}" "$image" sh -c 'echo hello-podman; hostname')
expect "run --rm prints the container's output" test "$(echo "$out" | head -n1)" = hello-podman

"${podman[@]}" run -d -t --name obsbox-c1 "${limits[@]}" "$image" sh >/dev/null
expect "run -d -t: container is running" \
    test "$("${podman[@]}" inspect -f '{{.State.Status}}' obsbox-c1)" = running
expect "exec runs in the container" \
    test "$("${podman[@]}" exec obsbox-c1 sh -c 'echo in-exec')" = in-exec
tty_out=$("${podman[@]}" exec -t obsbox-c1 tty | tr -d '\r')
expect "exec -t gets a pty ($tty_out)" grep -q '^/dev/pts/' <<<"$tty_out"
pids=$("${podman[@]}" top obsbox-c1 pid | tail -n +2 | wc -l)
expect "top lists the container's process" test "$pids" -ge 1
"${podman[@]}" stop -t 1 obsbox-c1 >/dev/null 2>&1
expect "stop stops it" test "$("${podman[@]}" inspect -f '{{.State.Status}}' obsbox-c1)" = exited
"${podman[@]}" rm obsbox-c1 >/dev/null
expect "rm removes it" test -z "$("${podman[@]}" ps -aq)"

set +e
err=$("${podman[@]}" run --rm "${limits[@]}" "$image" /no/such/binary 2>&1)
code=$?
set -e
expect "a bad process fails the run (exit $code)" test "$code" -ne 0
expect "podman shows obsbox's error" grep -q 'obsbox.*/no/such/binary' <<<"$err"
echo "    podman said: $(echo "$err" | tail -n1 | cut -c1-200)"

expect "no obsbox state left behind" test -z "$(ls /run/obsbox 2>/dev/null)"
finish
