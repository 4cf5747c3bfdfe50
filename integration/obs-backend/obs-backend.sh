#!/bin/bash
# A whole real OBS backend (Debian's obs-server, installed by integration/setup.sh, its
# services masked) with a fleet of bs_workers whose build program is obsbox, offline on
# loopback: the way to try obsbox with OBS.
#
#   integration/obs-backend/obs-backend.sh run DIR [COMMAND…]
#       in a new network namespace with only lo: start, run COMMAND (default: a shell)
#       with the environment of DIR/env, then stop. Ctrl-C, TERM or a failure stop too.
#   integration/obs-backend/obs-backend.sh start DIR
#       start in the caller's network namespace, which must have no interface but lo (the
#       servers listen on every address); returns when the backend and the workers are up
#       and the base distribution's metadata is in
#   integration/obs-backend/obs-backend.sh stop DIR
#       stop every process started by `start` (by PID), end the builds, remove DIR
#   integration/obs-backend/obs-backend.sh restart-worker DIR N
#       start bs_worker N again after it was killed (a test of OBS's recovery)
# With OBS_BACKEND_OWNER=PID, `start` leaves a guard that runs `stop` once PID has ended
# (a caller killed before it could stop the backend).
#
# DIR (new or empty) gets:
#   server/      a private copy of /usr/lib/obs/server with its own BSConfig.pm
#   srv/         the backend's data ($bsdir), log/ the logs of every program
#   workerN/     each bs_worker's root, state (obsbox as build and hostcheck), obsbox's
#                runtime configuration and state
#   env          SRCSERVER REPSERVER DEB_URL RPM_URL WORKERS (shell assignments), and
#                BUILDSET_URL with OBS_BACKEND_RPM_BUILDSET
#
# The backend: source server (127.0.0.1:5352), repository server (:5252), schedulers for
# x86_64 and i586, the dispatcher with obsbox's dispatch_constraint hook
# (integration/obs/dispatch_constraint.pl), the download-on-demand updater. The base
# distribution: project Debian:12, repository main, downloading on demand from the test
# data's Debian repository served on loopback; Fedora:rpm, repository main, from the test
# RPMs' rpm-md repository; with OBS_BACKEND_RPM_BUILDSET=DIR (an rpm-md repository, e.g.
# what integration/rpm-buildset.sh prints) also Debian:12:rpm, repository main, downloading
# on demand from DIR: an all-rpm base that builds `.spec` packages.
#
# The workers (bs_worker, ids obsbox-1 … obsbox-3), each with its own obsbox state and
# cache and different capabilities, as bs_worker reports them to the dispatcher:
#   obsbox-1  4 GB memory, 20 GB disk
#   obsbox-2  hostlabel `big`, 16 GB memory, 40 GB disk
#   obsbox-3  4 GB memory, 20 GB disk
#   obsbox-4  with OBS_BACKEND_EMULATED=aarch64 only: registered as an aarch64 host
#             (bs_worker --arch aarch64: 2.9.4's dispatcher gives a worker the arches its
#             hostarch builds by OBS's arch table, and x86_64 builds no aarch64), obsbox
#             emulating aarch64 (worker.toml emulated_arches, qemu-user from the toolbox);
#             4 GB memory, 20 GB disk. Debian:12/main then has aarch64 too (the test
#             repository's arm64 packages), with a scheduler for it.
# A chroot-type bs_worker reports no memory or disk unless told (--vm-memory,
# --vmdisk-rootsize); obsbox's own hostcheck judges the real machine.
#
# Environment: OBSBOX (default target/release/obsbox), OBSBOX_TEST_CACHE (the test data,
# integration/testdata.sh), OBS_BACKEND_CACHES (a directory kept between runs for the
# workers' obsbox caches, one per worker; default: inside DIR, removed by stop),
# OBS_BACKEND_WORKERS (how many workers, 1–3, default 3), OBS_BACKEND_BUILD (what each
# worker builds with, one word per worker: `obsbox`, the default, or `obs-build`, obs-build's
# own build script, chroot type), OBS_BACKEND_LABELS (each worker's host label, one word
# per worker, `-` for none; default `- big -`), OBS_BACKEND_EMULATED (`aarch64`: add the
# emulating worker obsbox-4 and the aarch64 side of the backend), OBS_BACKEND_RPM_BUILDSET
# (see above).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
server_code=/usr/lib/obs/server
data=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test}
srcport=5352
repport=5252
debport=8001
rpmport=8002
buildsetport=8003
buildset=${OBS_BACKEND_RPM_BUILDSET:-}
emulated=${OBS_BACKEND_EMULATED:-}
case $emulated in '' | aarch64) ;; *)
    echo "obs-backend: OBS_BACKEND_EMULATED: $emulated is not aarch64" >&2
    exit 2
    ;;
esac

usage() {
    echo "usage: $0 run DIR [COMMAND…] | start DIR | stop DIR" >&2
    exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
shift 2

log() { echo "obs-backend: $*" >&2; }
die() {
    log "$*"
    show_logs
    exit 1
}

# The end of every log, for a failure's report (DIR goes away with stop).
show_logs() {
    local f
    for f in "$dir"/log/*; do
        [ -s "$f" ] || continue
        echo "--- ${f##*/} (last lines)" >&2
        tail -n 15 "$f" >&2
    done
}

# The processes started, one "NAME PID" a line; each runs in its own session, so its PID is
# also its process group's id.
pids_file() { echo "$dir/pids"; }

# launch NAME COMMAND…: run in the background in a session of its own, output to log/NAME.
launch() {
    local name=$1
    shift
    setsid "$@" </dev/null >>"$dir/log/$name" 2>&1 &
    echo "$name $!" >>"$(pids_file)"
}

# wait_for WHAT SECONDS COMMAND…: until COMMAND succeeds.
wait_for() {
    local what=$1 limit=$2 i
    shift 2
    for ((i = 0; i < limit * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        check_alive
        sleep 0.2
    done
    die "timed out after ${limit}s waiting for $what"
}

# Every started program still runs.
check_alive() {
    local name pid
    while read -r name pid; do
        kill -0 "$pid" 2>/dev/null || {
            tail -n 20 "$dir/log/$name" >&2 || true
            die "$name (pid $pid) ended"
        }
    done <"$(pids_file)"
}

# group_alive PGID: a process of the group still runs (zombies, which this machine's PID 1
# may reap late, do not count).
group_alive() {
    ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

http_ok() { curl -sf -o /dev/null "$1"; }
# answers URL: an HTTP server answers there (with any status).
answers() { curl -s -o /dev/null "$1"; }

only_loopback() {
    local links
    links=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -vx lo || true)
    [ -z "$links" ] || die "this network namespace has interfaces besides lo ($links): use \`$0 run\`"
    ip link set lo up
}

write_bsconfig() {
    cat >"$dir/server/BSConfig.pm" <<EOF
# obs-backend.sh: a private backend on loopback, run as root, data in $dir/srv.
package BSConfig;
our \$ipaccess = { '127\\..*' => 'rw,worker' };
our \$srcserver = 'http://127.0.0.1:$srcport';
our \$reposerver = 'http://127.0.0.1:$repport';
our \$bsdir = '$dir/srv';
our \$rundir = '$dir/srv/run';
our \$logdir = '$dir/log';
our \$bsuser;
our \$bsgroup;
our \$schedulerarchs = [ 'x86_64', 'i586'${emulated:+, '$emulated'} ];
our \$enable_download_on_demand = 1;
our \$nosharedtrees = 2;
our \$obsbox = '$obsbox';
our @obsbox_args = ('--config', '$dir/obsbox-config');
require '$repo/integration/obs/dispatch_constraint.pl';
1;
EOF
}

# The Debian 12 project config: obs-build's Debian setup (the dpkg base and the libraries
# it runs on preinstalled: OBS's scheduler does not expand Preinstall, and obs-build's
# chroot runs them before anything else; the required set supported), and a choice for every alternative the test repository holds.
debian_prjconf() {
    cat <<'EOF'
Repotype: debian
Type: dsc
Binarytype: deb
Preinstall: base-files base-passwd bash coreutils dash debconf debianutils diffutils dpkg
Preinstall: findutils grep gzip init-system-helpers libc-bin mawk perl-base sed tar
Preinstall: libc6 libgcc-s1 gcc-12-base libcrypt1 libacl1 libattr1 libselinux1 libpcre2-8-0
Preinstall: libbz2-1.0 liblzma5 libzstd1 libmd0 zlib1g libtinfo6 libgmp10 libdebconfclient0
Preinstall: liblzma5 libzstd1 libmd0 zlib1g libtinfo6 libgmp10 libdebconfclient0 gcc-12-base
Runscripts: base-passwd base-files
Required: build-essential
Prefer: make mawk libsystemd0 debconf usrmerge libpam-runtime sysvinit-utils
Prefer: -systemd-sysv -busybox-static -busybox
EOF
    sed 's/^/Support: /' "$data/lists/required.txt"
}

rpm_prjconf() {
    cat <<'EOF'
Repotype: rpm-md
Type: spec
Binarytype: rpm
EOF
}

# put PATH FILE: PUT a file to the source server.
put() {
    curl -sf -X PUT -T "$2" "http://127.0.0.1:$srcport$1" >/dev/null || die "PUT $1 failed"
}

# rpmmd_project NAME TITLE PORT: a project whose x86_64 repository `main` is the rpm-md
# repository served on PORT, downloaded on demand.
rpmmd_project() {
    cat >"$dir/tmp/meta" <<EOF
<project name="$1">
  <title>$2</title>
  <description/>
  <repository name="main">
    <download arch="x86_64" url="http://127.0.0.1:$3/" repotype="rpmmd"/>
    <arch>x86_64</arch>
  </repository>
</project>
EOF
    put "/source/$1/_meta" "$dir/tmp/meta"
}

setup_base_projects() {
    local tmp=$dir/tmp
    mkdir -p "$tmp"
    cat >"$tmp/meta" <<EOF
<project name="Debian:12">
  <title>Debian 12, downloaded on demand from the test repository</title>
  <description/>
  <repository name="main">
    <download arch="x86_64" url="http://127.0.0.1:$debport/bookworm/main" repotype="deb"/>
$([ -z "$emulated" ] || echo "    <download arch=\"$emulated\" url=\"http://127.0.0.1:$debport/bookworm/main\" repotype=\"deb\"/>")
    <arch>x86_64</arch>
$([ -z "$emulated" ] || echo "    <arch>$emulated</arch>")
  </repository>
</project>
EOF
    put /source/Debian:12/_meta "$tmp/meta"
    debian_prjconf >"$tmp/config"
    put /source/Debian:12/_config "$tmp/config"
    rpmmd_project Fedora:rpm "The test RPMs, downloaded on demand" "$rpmport"
    rpm_prjconf >"$tmp/config"
    put /source/Fedora:rpm/_config "$tmp/config"
    [ -n "$buildset" ] || return 0
    rpmmd_project Debian:12:rpm "Debian 12's rpm and its closure repackaged as RPMs, downloaded on demand" "$buildsetport"
    put /source/Debian:12:rpm/_config "$tmp/config"
}

# obsbox's runtime configuration for worker N: the shipped one, the toolbox from the
# loopback Debian repository, the worker's host labels and the arches it emulates.
obsbox_config() {
    local to=$1 labels=$2 emulates=$3
    cp -a "$repo/runtime-config" "$to"
    sed -i "1i repos = [\"http://127.0.0.1:$debport bookworm main\"]" "$to/toolbox.toml"
    sed -i "s/^hostlabels = .*/hostlabels = [$labels]/" "$to/worker.toml"
    sed -i "s/^emulated_arches = .*/emulated_arches = [$emulates]/" "$to/worker.toml"
}

# The arch worker N registers as: the emulating worker's, else this machine's.
worker_arch() {
    if [ "$1" = 4 ] && [ -n "$emulated" ]; then echo "$emulated"; else echo x86_64; fi
}

# nth N WORDS DEFAULT: the Nth word of WORDS, DEFAULT when there is none.
nth() {
    local words
    read -ra words <<<"$2"
    echo "${words[$1 - 1]:-$3}"
}

# Memory and disk (MB) worker N reports.
worker_size() {
    case $1 in
        2) echo 16384 40960 ;;
        *) echo 4096 20480 ;;
    esac
}

# start_worker N: bs_worker N with its state, configuration and cache.
start_worker() {
    local n=$1 w=$dir/worker$1 build label memory disk hostarch emulates=
    hostarch=$(worker_arch "$n")
    [ "$hostarch" = x86_64 ] || emulates="\"$hostarch\""
    read -r memory disk <<<"$(worker_size "$n")"
    build=$(nth "$n" "${OBS_BACKEND_BUILD:-}" obsbox)
    label=$(nth "$n" "${OBS_BACKEND_LABELS:-- big -}" -)
    [ "$label" != - ] || label=
    case $build in obsbox | obs-build) ;; *) die "OBS_BACKEND_BUILD: $build is neither obsbox nor obs-build" ;; esac
    local cache=${OBS_BACKEND_CACHES:-$dir/caches}/worker$n args=()
    mkdir -p "$w/root" "$cache"
    if [ "$build" = obsbox ]; then
        "$repo/integration/obs-worker/setup-worker.sh" "$w/state" "$obsbox"
        args+=(--hostcheck "$w/state/hostcheck")
        rm -rf "$w/config"
        obsbox_config "$w/config" "${label:+\"$label\"}" "$emulates"
    else
        mkdir -p "$w/state"
        ln -sfn /usr/lib/obs-build "$w/state/build"
    fi
    [ -z "$label" ] || args+=(--hostlabel "$label")
    [ "$hostarch" = x86_64 ] || args+=(--arch "$hostarch")
    launch "worker$n" env OBSBOX_CONFIG="$w/config" OBSBOX_CACHE="$cache" OBSBOX_ROOT="$w/obsbox-state" \
        "$dir/server/bs_worker" --root "$w/root" --statedir "$w/state" --id "obsbox-$n" \
        --port $((5400 + n)) --nobuildupdate --srcserver "http://127.0.0.1:$srcport" \
        --reposerver "http://127.0.0.1:$repport" --vm-memory "$memory" --vmdisk-rootsize "$disk" \
        --cachedir "$cache/bs_worker" --cachesize 2000000000 --jobs 2 "${args[@]}"
    echo "worker$n obsbox-$n $((5400 + n)) $w $build $hostarch" >>"$dir/workers"
}

start() {
    [ "$(id -u)" = 0 ] || die "run as root"
    [ -x "$server_code/bs_srcserver" ] && [ -d /usr/lib/obs-build ] ||
        die "obs-server or obs-build is not installed: run integration/setup.sh"
    [ -f "$data/deb-repo/dists/bookworm/Release" ] || die "no test data in $data: run integration/testdata.sh"
    obsbox=$(realpath "${OBSBOX:-$repo/target/release/obsbox}")
    [ -x "$obsbox" ] || die "$obsbox: no obsbox binary (cargo build --release)"
    only_loopback
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    dir=$(realpath "$dir")
    mkdir -p "$dir/log" "$dir/srv/run"
    : >"$(pids_file)"
    : >"$dir/workers"
    # A private copy of the backend's code: every bs_* loads the BSConfig.pm beside it.
    cp -a "$server_code" "$dir/server"
    rm -f "$dir/server/BSConfig.pm" "$dir/server/build"
    ln -s /usr/lib/obs-build "$dir/server/build"
    write_bsconfig
    cp -a "$repo/runtime-config" "$dir/obsbox-config"

    launch serve-deb python3 -m http.server "$debport" --bind 127.0.0.1 --directory "$data/deb-repo"
    launch serve-rpm python3 -m http.server "$rpmport" --bind 127.0.0.1 --directory "$data/rpm-repo"
    if [ -n "$buildset" ]; then
        [ -f "$buildset/repodata/repomd.xml" ] || die "OBS_BACKEND_RPM_BUILDSET: $buildset is no rpm-md repository"
        launch serve-buildset python3 -m http.server "$buildsetport" --bind 127.0.0.1 --directory "$buildset"
    fi
    # The programs find their modules and BSConfig.pm by their own path.
    local prog
    for prog in bs_srcserver bs_repserver; do
        launch "$prog" "$dir/server/$prog"
    done
    wait_for "the source server" 60 answers "http://127.0.0.1:$srcport/"
    wait_for "the repository server" 60 answers "http://127.0.0.1:$repport/"
    launch bs_sched-x86_64 "$dir/server/bs_sched" x86_64
    launch bs_sched-i586 "$dir/server/bs_sched" i586
    [ -z "$emulated" ] || launch "bs_sched-$emulated" "$dir/server/bs_sched" "$emulated"
    launch bs_dispatch "$dir/server/bs_dispatch"
    launch bs_dodup "$dir/server/bs_dodup"
    wait_for "the Debian repository" 10 http_ok "http://127.0.0.1:$debport/dists/bookworm/Release"
    setup_base_projects

    local workers=${OBS_BACKEND_WORKERS:-3}
    local n
    for ((n = 1; n <= workers; n++)); do
        start_worker "$n"
    done
    [ -z "$emulated" ] || start_worker 4
    # Each worker is idle at the repository server once it has registered.
    local name id port w build hostarch
    while read -r name id port w build hostarch; do
        wait_for "$id to register" 60 test -e "$dir/srv/workers/idle/$hostarch:$id"
    done <"$dir/workers"
    # bs_dodup polls every 10 s; a build before the metadata is in finds nothing.
    for hostarch in x86_64 $emulated; do
        wait_for "the download-on-demand metadata of Debian:12 for $hostarch" 120 \
            test -s "$dir/srv/build/Debian:12/main/$hostarch/:full.solv"
    done
    [ -z "$buildset" ] || wait_for "the download-on-demand metadata of Debian:12:rpm" 120 \
        test -s "$dir/srv/build/Debian:12:rpm/main/x86_64/:full.solv"
    {
        echo "SRCSERVER=http://127.0.0.1:$srcport"
        echo "REPSERVER=http://127.0.0.1:$repport"
        echo "DEB_URL=http://127.0.0.1:$debport"
        echo "RPM_URL=http://127.0.0.1:$rpmport"
        [ -z "$buildset" ] || echo "BUILDSET_URL=http://127.0.0.1:$buildsetport"
        echo "WORKERS=\"$(awk '{print $2 ":" $3 ":" $4}' "$dir/workers" | tr '\n' ' ' | sed 's/ $//')\""
    } >"$dir/env"
    # A caller that may die without calling stop (a test killed at its time limit) names
    # itself: a guard stops everything once that process is gone.
    if [ -n "${OBS_BACKEND_OWNER:-}" ]; then
        setsid "$0" guard "$dir" "$OBS_BACKEND_OWNER" </dev/null >/dev/null 2>&1 &
        echo "$!" >"$dir/guard"
    fi
    log "up: source server http://127.0.0.1:$srcport, repository server http://127.0.0.1:$repport, $(wc -l <"$dir/workers") workers"
}

# Stops what `start` started, by the PIDs it wrote: first the builds (obsbox's --kill for
# each worker's root), then every process group, then what obsbox keeps per worker.
stop() {
    [ -d "$dir" ] || return 0
    dir=$(realpath "$dir")
    local name id port w build hostarch pid i left guard
    guard=$(cat "$dir/guard" 2>/dev/null || true)
    if [ -n "$guard" ] && [ "$guard" != $$ ]; then
        kill -- "-$guard" 2>/dev/null || true
    fi
    if [ -f "$dir/workers" ]; then
        while read -r name id port w build hostarch; do
            [ -x "$w/state/build/build" ] && [ -d "$w/root" ] || continue
            env OBSBOX_CONFIG="$w/config" OBSBOX_ROOT="$w/obsbox-state" \
                OBSBOX_CACHE="${OBS_BACKEND_CACHES:-$dir/caches}/$name" \
                "$w/state/build/build" --root "$w/root" --kill >>"$dir/log/stop" 2>&1 || true
        done <"$dir/workers"
    fi
    if [ -f "$(pids_file)" ]; then
        while read -r name pid; do
            kill -TERM -- "-$pid" 2>/dev/null || true
        done <"$(pids_file)"
        for ((i = 0; i < 50; i++)); do
            left=
            while read -r name pid; do
                group_alive "$pid" && left+=" $name"
            done <"$(pids_file)"
            [ -n "$left" ] || break
            sleep 0.1
        done
        while read -r name pid; do
            kill -KILL -- "-$pid" 2>/dev/null || true
        done <"$(pids_file)"
    fi
    # What a killed obsbox left: containers, mounts, cgroups, binfmt entries.
    if [ -f "$dir/workers" ] && [ -n "${obsbox:-}" ]; then
        while read -r name id port w build hostarch; do
            env OBSBOX_ROOT="$w/obsbox-state" "$obsbox" --root "$w/obsbox-state" \
                --cache "${OBS_BACKEND_CACHES:-$dir/caches}/$name" gc >>"$dir/log/stop" 2>&1 || true
        done <"$dir/workers"
    fi
    if grep -q " $dir/" /proc/self/mountinfo; then
        log "mounts left under $dir:"
        grep " $dir/" /proc/self/mountinfo >&2
        return 1
    fi
    rm -rf "$dir"
}

case $cmd in
    start)
        obsbox=
        trap 'rc=$?; [ $rc = 0 ] || stop; exit $rc' EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        start
        ;;
    stop)
        obsbox=$(realpath "${OBSBOX:-$repo/target/release/obsbox}")
        stop
        ;;
    restart-worker)
        # restart-worker DIR N: bs_worker N again (after it was killed), with its build
        # program and host label from OBS_BACKEND_BUILD and OBS_BACKEND_LABELS.
        n=${1:?restart-worker DIR N}
        obsbox=$(realpath "${OBSBOX:-$repo/target/release/obsbox}")
        dir=$(realpath "$dir")
        pid=$(awk -v w="worker$n" '$1 == w { print $2 }' "$(pids_file)")
        [ -n "$pid" ] || die "no worker $n"
        ! group_alive "$pid" || die "worker $n (pid $pid) still runs"
        sed -i "/^worker$n /d" "$dir/workers" "$(pids_file)"
        start_worker "$n"
        wait_for "obsbox-$n to register" 60 test -e "$dir/srv/workers/idle/$(worker_arch "$n"):obsbox-$n"
        ;;
    guard)
        # guard DIR PID: stop once PID has ended.
        owner=${1:?guard DIR PID}
        while kill -0 "$owner" 2>/dev/null; do sleep 1; done
        obsbox=$(realpath "${OBSBOX:-$repo/target/release/obsbox}")
        stop
        ;;
    run)
        if [ -z "${OBS_BACKEND_NETNS:-}" ]; then
            exec env OBS_BACKEND_NETNS=1 unshare --net -- "$0" run "$dir" "$@"
        fi
        obsbox=$(realpath "${OBSBOX:-$repo/target/release/obsbox}")
        trap 'stop' EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        trap 'exit 129' HUP
        start
        set -a
        # shellcheck disable=SC1091
        source "$dir/env"
        set +a
        export OBS_BACKEND_DIR=$dir
        if [ $# -gt 0 ]; then
            "$@"
        else
            log "a shell in the backend's network namespace (exit stops everything)"
            "${SHELL:-/bin/bash}" -i
        fi
        ;;
    *) usage ;;
esac
