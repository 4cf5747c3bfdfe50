#!/bin/bash
# Fuzzes obsbox's readers of hostile input (fuzz/, cargo-fuzz with libFuzzer): each target
# runs for SECONDS (default 600), seeded with real packages and documents, and the script
# prints per target the executions, the coverage (libFuzzer's cov and ft), the corpus size
# and the crashes, timeouts and out-of-memory inputs it found (saved under
# fuzz/artifacts/TARGET/). Crashing inputs do not stop a run (libFuzzer's fork mode).
#
#   integration/fuzz.sh [SECONDS] [TARGET…]      targets: deb rpm layer buildinfo rpmlist
#                                                constraints config_json (default: all)
#   FUZZ_PARALLEL=2   targets run at the same time (default 1)
#   FUZZ_RSS_MB=2048  memory limit per input (libFuzzer's -rss_limit_mb)
#   FUZZ_TIMEOUT=20   seconds one input may take before it counts as a hang
#
# Needs the nightly Rust toolchain (cargo-fuzz builds with sanitizers); installs cargo-fuzz
# when it is missing. The seed corpora are built at run time from the test data
# (integration/testdata.sh: real .debs and rpmbuild RPMs), tests/fixtures, `obsbox spec`
# and fuzz/seeds/; what libFuzzer finds is kept in fuzz/corpus/TARGET for the next run.
# Runs under `nice`: fuzzing should not slow down a shared machine's other work.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cache=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test}
all_targets=(deb rpm layer buildinfo rpmlist constraints config_json)
seconds=${1:-600}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
parallel=${FUZZ_PARALLEL:-1}
rss_mb=${FUZZ_RSS_MB:-2048}
timeout=${FUZZ_TIMEOUT:-20}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS must be a positive number, not $seconds" >&2; exit 1; }
for t in "${targets[@]}"; do
    [[ " ${all_targets[*]} " == *" $t "* ]] ||
        { echo "fuzz.sh: unknown target $t (targets: ${all_targets[*]})" >&2; exit 1; }
done

cargo +nightly --version >/dev/null 2>&1 ||
    { echo "fuzz.sh: the nightly Rust toolchain is missing (rustup toolchain install nightly)" >&2; exit 1; }
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
"$here/testdata.sh" >/dev/null
obsbox=$repo/target/release/obsbox
[ -x "$obsbox" ] || (cd "$repo" && cargo build --release)

work=$(mktemp -d /dev/shm/obsbox-fuzz.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "building the fuzz targets (nightly, address sanitizer, debug assertions)"
(cd "$repo" && nice -n 10 cargo +nightly fuzz build) > "$work/build.log" 2>&1 ||
    { tail -30 "$work/build.log" >&2; echo "fuzz.sh: building the fuzz targets failed" >&2; exit 1; }
fuzz_bin=$repo/fuzz/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release
seeds=$work/seeds

# ---------------------------------------------------------------------------------------
# Seed corpora. Only small packages (under 24 KiB; the RPMs under 64 KiB): libFuzzer
# mutates and runs small inputs much faster, and they have the same structure.
small() { local size=$1; shift; find "$@" -maxdepth 1 -type f -size "-$size" | sort; }
mkdir -p "$seeds"/{deb,rpm,layer,buildinfo,rpmlist,constraints,config_json} "$work/unpack"

# .deb: real packages as they are, and some repacked with uncompressed members, so the
# mutations reach the ar and tar readers rather than dying in the decompressor.
n=0
for deb in $(small 24k "$cache/debs/amd64" "$cache/debs/arm64"); do
    cp "$deb" "$seeds/deb/"
    n=$((n + 1))
    [ $n -le 8 ] || continue
    u=$work/unpack/$n
    mkdir -p "$u"
    (cd "$u" && ar x "$deb" && for m in control.tar.* data.tar.*; do
        case $m in
            *.xz) xz -dc "$m" > "${m%.xz}" ;; *.gz) gzip -dc "$m" > "${m%.gz}" ;;
            *.zst) zstd -qdc "$m" > "${m%.zst}" ;; *) continue ;;
        esac
        rm "$m"
    done && ar rc "$seeds/deb/plain-$(basename "$deb")" debian-binary control.tar data.tar)
    # The data of the same packages is a layer: plain, gzip and zstd.
    cp "$u/data.tar" "$seeds/layer/data-$n.tar"
    [ $((n % 2)) = 0 ] && gzip -9nc "$u/data.tar" > "$seeds/layer/data-$n.tar.gz"
    [ $((n % 2)) = 1 ] && zstd -q19c "$u/data.tar" > "$seeds/layer/data-$n.tar.zst"
done

# .rpm: the test RPMs rpmbuild made from integration/rpm/*.spec (gzip, xz, zstd
# payloads), and the small ones again with an uncompressed payload.
cp $(small 64k "$cache"/rpmbuild/RPMS/*) "$seeds/rpm/"
if command -v rpmbuild >/dev/null; then
    for spec in "$repo"/integration/rpm/obsbox-test-{base,legacy,tools}.spec; do
        sed 's/^%define _binary_payload .*/%define _binary_payload w.ufdio/' "$spec" > "$work/unpack/$(basename "$spec")"
        SOURCE_DATE_EPOCH=1700000000 rpmbuild -bb --nodeps --quiet --define "_topdir $work/rpmbuild" \
            --define '_build_id_links none' --define 'debug_package %{nil}' \
            "$work/unpack/$(basename "$spec")" >/dev/null 2>&1 ||
            echo "fuzz.sh: rpmbuild of $(basename "$spec") failed; seeding without it" >&2
    done
    for rpm in "$work"/rpmbuild/RPMS/*/*.rpm; do
        [ -f "$rpm" ] && cp "$rpm" "$seeds/rpm/plain-$(basename "$rpm")"
    done
fi

# Layers with what only layers have, and the shapes of attacks the extractor refuses:
# whiteouts, an opaque directory, a file capability (pax), symlinks and hard links aimed
# at the traps the targets put in the root, a write through the archive's own symlink.
python3 - "$seeds/layer" <<'PY'
import io, sys, tarfile
out = sys.argv[1]
def layer(name, entries, fmt=tarfile.PAX_FORMAT):
    with tarfile.open(f"{out}/{name}", "w", format=fmt) as t:
        for e in entries:
            info = tarfile.TarInfo(e[0])
            info.mtime, info.mode = 1700000000, 0o755
            kind = e[1]
            data = None
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "file":
                data = e[2]
                info.size, info.mode = len(data), 0o644
                if len(e) > 3:
                    info.pax_headers = e[3]
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, e[2]
            elif kind == "link":
                info.type, info.linkname = tarfile.LNKTYPE, e[2]
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            t.addfile(info, io.BytesIO(data) if data is not None else None)
cap = {"SCHILY.xattr.security.capability":
       "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}
layer("whiteouts.tar", [("etc/", "dir"), ("etc/.wh.passwd", "file", b""),
    ("usr/", "dir"), ("usr/.wh..wh..opq", "file", b""), ("usr/lib/", "dir"),
    ("usr/lib/x", "file", b"x\n"), (".wh.bin", "file", b"")])
layer("capability.tar", [("usr/bin/", "dir"), ("usr/bin/ping", "file", b"\x7fELF", cap)])
layer("links.tar", [("own", "sym", "../outside"), ("own/victim", "file", b"x"),
    ("hard", "link", "etc/passwd"), ("abs/victim", "file", b"x"), ("fifo", "fifo")])
layer("traps.tar", [("escape/victim", "file", b"x"), ("up/outside/victim", "file", b"x"),
    ("bin/sh", "file", b"#!/bin/sh\n"), ("etc/passwd", "file", b"root:x:0:0::/root:/bin/sh\n"),
    ("abs/.wh.victim", "file", b""), ("escape/.wh..wh..opq", "file", b"")])
layer("gnu-long.tar", [("d/" + "n" * 150, "file", b"long name\n"),
    ("l", "sym", "t" * 150)], fmt=tarfile.GNU_FORMAT)
PY

# Documents: buildinfo and rpmlist shapes (fuzz/seeds), an rpmlist as bs_worker writes it
# for the build-essential closure of the test data, the constraint fixtures of the tests,
# and the default config.json of `obsbox spec` (root and rootless).
cp "$repo"/fuzz/seeds/buildinfo/* "$seeds/buildinfo/"
cp "$repo"/fuzz/seeds/rpmlist/* "$seeds/rpmlist/"
{
    while read -r name; do
        f=$(ls "$cache"/debs/amd64/"${name}"_*.deb 2>/dev/null | head -1) || true
        [ -n "$f" ] && echo "$name $f"
    done < "$cache/lists/build-essential.txt"
    echo "preinstall: $(head -5 "$cache/lists/build-essential.txt" | tr '\n' ' ')"
    echo "runscripts: $(head -2 "$cache/lists/build-essential.txt" | tr '\n' ' ')"
} > "$seeds/rpmlist/build-essential.rpmlist"
cp "$repo"/tests/fixtures/constraints/*.{xml,spec,prjconf} "$seeds/constraints/"
for mode in root rootless; do
    mkdir -p "$work/spec-$mode"
    "$obsbox" spec --bundle "$work/spec-$mode" $([ $mode = rootless ] && echo --rootless)
    cp "$work/spec-$mode/config.json" "$seeds/config_json/$mode.json"
done

# ---------------------------------------------------------------------------------------
run_target() {
    local t=$1 log=$work/$t.log artifacts=$repo/fuzz/artifacts/$t before
    mkdir -p "$repo/fuzz/corpus/$t" "$artifacts"
    before=$(ls "$artifacts" | wc -l)
    # The targets unpack into $OBSBOX_FUZZ_DIR: memory, and removed with $work.
    (cd "$repo/fuzz" && OBSBOX_FUZZ_DIR=$work nice -n 10 "$fuzz_bin/$t" \
        "corpus/$t" "$seeds/$t" -dict="dict/$t.dict" -artifact_prefix="$artifacts/" \
        -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout="$timeout" \
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 > "$log" 2>&1) || true
    # Fork mode's status lines: #EXECS: cov: C ft: F corp: N exec/s: E oom/timeout/crash: a/b/c …
    local last
    last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
    if [ -z "$last" ]; then
        printf '%-12s did not run (see below)\n' "$t" > "$work/$t.result"
        tail -20 "$log" >> "$work/$t.result"
        return
    fi
    awk -v t="$t" -v new="$(($(ls "$artifacts" | wc -l) - before))" -v dir="fuzz/artifacts/$t" '{
        execs = substr($1, 2, length($1) - 2)
        for (i = 2; i <= NF; i++) {
            if ($i == "cov:") cov = $(i + 1); if ($i == "ft:") ft = $(i + 1)
            if ($i == "corp:") corp = $(i + 1); if ($i == "oom/timeout/crash:") otc = $(i + 1)
            if ($i == "time:") time = $(i + 1)
        }
        split(otc, c, "/")
        printf "%-12s %12s %7s %7s %7s %7s %9s %5s %7s  %s\n", t, execs, cov, ft, corp,
            c[3], c[2], c[1], time, (new > 0 ? new " new input(s) in " dir : "")
    }' <<< "$last" > "$work/$t.result"
}

echo "fuzzing ${targets[*]} for ${seconds}s each, $parallel at a time"
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
    echo "  $t: $(ls "$seeds/$t" | wc -l) seeds, $(ls "$repo/fuzz/corpus/$t" 2>/dev/null | wc -l) corpus inputs"
    run_target "$t" &
done
wait

printf '\n%-12s %12s %7s %7s %7s %7s %9s %5s %7s\n' target executions cov ft corpus crashes timeouts ooms time
status=0
for t in "${targets[@]}"; do
    cat "$work/$t.result"
    read -r _ _ _ _ _ crashes timeouts ooms _ < "$work/$t.result" || true
    [ "${crashes:-1}${timeouts:-1}${ooms:-1}" = 000 ] || status=1
done
exit $status
