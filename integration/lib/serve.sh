#!/bin/bash
# Serves a directory over HTTP on loopback for the duration of a test (sourced or run).
#   source integration/lib/serve.sh; serve_dir DIR   # sets SERVE_URL, prints it
#   integration/lib/serve.sh DIR [COMMAND…]            # runs COMMAND with SERVE_URL set,
#                                                     # or serves until interrupted
# Port 0 lets the kernel pick a free port, so parallel tests never collide; the server
# says which port it got on its first line. Servers are stopped by an EXIT trap: a caller
# with its own EXIT trap calls serve_stop from it (serve_dir then leaves the traps alone).
set -euo pipefail

SERVE_PIDS=()
SERVE_DIRS=()

serve_stop() {
    local pid
    for pid in "${SERVE_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [ ${#SERVE_DIRS[@]} -eq 0 ] || rm -rf "${SERVE_DIRS[@]}"
    SERVE_PIDS=()
    SERVE_DIRS=()
}

# serve_dir DIR: start the server in the background; SERVE_URL is its base URL (no
# trailing slash). Must not run in a subshell such as $(…): the trap would stop it.
# INT, TERM and HUP are turned into an exit so that the EXIT trap runs for them too.
serve_dir() {
    local dir=$1 log port="" i
    [ -d "$dir" ] || { echo "serve_dir: no directory $dir" >&2; return 1; }
    log=$(mktemp -d)
    SERVE_DIRS+=("$log")
    if [ -z "$(trap -p EXIT)" ]; then
        trap serve_stop EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        trap 'exit 129' HUP
    fi
    # -u: unbuffered, or the "Serving HTTP on … port N" line would wait in a buffer.
    python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$dir" >"$log/out" 2>&1 &
    SERVE_PIDS+=("$!")
    for i in $(seq 1 100); do
        port=$(sed -n 's/^Serving HTTP on .* port \([0-9]*\) .*/\1/p' "$log/out")
        [ -n "$port" ] && break
        kill -0 "$!" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$port" ]; then
        echo "serve_dir: the server did not start:" >&2
        cat "$log/out" >&2
        return 1
    fi
    SERVE_URL=http://127.0.0.1:$port
    echo "$SERVE_URL"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    [ $# -ge 1 ] || { echo "usage: $0 DIR [COMMAND…]" >&2; exit 2; }
    dir=$1; shift
    serve_dir "$dir" >/dev/null
    export SERVE_URL
    if [ $# -gt 0 ]; then
        "$@"
    else
        echo "serving $dir at $SERVE_URL (Ctrl-C stops)"
        wait
    fi
fi
