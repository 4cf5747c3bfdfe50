#!/bin/bash
# Real Debian bookworm source packages (integration/corpus/packages.txt), each built by
# obsbox and by OBS's own build script (obs-build, --vm-type chroot) from the same
# repository, and compared: both must succeed and make the same binary packages with the
# same `dpkg-deb -c` file lists and control fields; byte-identical ones are reported.
#   integration/corpus/run.sh          the CI subset (SET ci)
#   integration/corpus/run.sh --all    the whole corpus
#   integration/corpus/run.sh NAME…    these packages
# An entry NAME@LAYOUT is the source package NAME remade at run time in one of OBS's Debian
# layouts, which both sides transform (obsbox's own debtransform, obs-build's debtransform
# script), built with OBS's release RELEASE (below) and a fixed SOURCE_DATE_EPOCH, the date
# of debtransform's changelog entry on both sides:
#   debian-tar    the upstream tarball, debian/ as debian.tar.gz, the quilt patches as a
#                 series, a .dsc with DEBTRANSFORM-TAR, -FILES-TAR, -SERIES and -RELEASE
#   debian-files  the upstream tarball (found without a tag), debian/'s files as debian.NAME
#                 files (its subdirectories as debian.tar.gz), the patches as debian.series
#   dch-release   the source package as it is, its .dsc with OBS-DCH-RELEASE: 1
# Sources come at run time through apt with a private deb-src configuration made from the
# machine's own apt sources (the system's configuration is not changed); each package's
# build dependencies (apt's choice, from an empty dpkg status, plus the Priority: required
# set, build-essential and fakeroot) are downloaded with apt into a local repository. Everything
# fetched is kept in $OBSBOX_TEST_CACHE/corpus. obsbox reads the repository over loopback
# HTTP, obs-build as a local directory (this obs-build mishandles HTTP repositories).
# With CORPUS_TIMES=FILE (integration/bench-job.sh), obsbox builds each package from an
# empty cache (cold) and again (warm), obs-build twice on the same root (its second run
# has its cache directory), and a line `NAME OBSBOX_COLD OBSBOX_WARM OBS_COLD OBS_WARM`
# (milliseconds) is appended to FILE.
source "$(dirname "$0")/../lib/common.sh"
source "$REPO/integration/lib/serve.sh"
data=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test}
"$REPO/integration/testdata.sh" >/dev/null
corpus=$data/corpus
obs_build=${OBS_BUILD:-/usr/lib/obs-build/build}
[ -x "$obs_build" ] || { echo "obs-build's $obs_build missing: integration/setup.sh" >&2; exit 1; }

names=()
case "${1:-}" in
    "") mapfile -t names < <(awk '!/^#/ && $2 == "ci" {print $1}' "$REPO/integration/corpus/packages.txt") ;;
    --all) mapfile -t names < <(awk '!/^#/ && NF >= 2 {print $1}' "$REPO/integration/corpus/packages.txt") ;;
    -*) echo "usage: $0 [--all | NAME…]" >&2; exit 2 ;;
    *) names=("$@") ;;
esac
for name in "${names[@]}"; do
    [[ $name =~ ^[a-z0-9][a-z0-9+.-]+(@(debian-tar|debian-files|dch-release))?$ ]] ||
        { echo "not a source package name (or NAME@LAYOUT): $name" >&2; exit 2; }
done
release=7.1
export SOURCE_DATE_EPOCH=1700000000

work=$(mktemp -d /tmp/obsbox-corpus.XXXXXX)
cleanup() {
    serve_stop
    # obs-build's chroots may hold mounts (proc, devpts) when a build was interrupted.
    for root in "$work"/*/obs-root; do
        [ -d "$root" ] && "$(dirname "$obs_build")/killchroot" -s 9 "$root" >/dev/null 2>&1 || true
        grep -o " $root/[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    done
    if [ "$failures" -eq 0 ]; then
        rm -rf "$work"
    else
        echo "kept for inspection: $work" >&2
    fi
}
trap cleanup EXIT

# The private apt configuration: the machine's sources, for binaries and sources, an empty
# dpkg status (so apt resolves whole closures), amd64 only.
apt_dir=$corpus/apt
mkdir -p "$apt_dir/sources.d" "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/cache" "$corpus/pool" "$corpus/src"
[ -e "$apt_dir/status" ] || : > "$apt_dir/status"
{
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] || continue
        sed -E 's/^Types:.*/Types: deb deb-src/' "$f"
        echo
    done
} > "$apt_dir/sources.d/corpus.sources"
{
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -e "$f" ] || continue
        grep -E '^deb ' "$f" | sed -e 'p' -e 's/^deb /deb-src /'
    done
} > "$apt_dir/sources.d/corpus.list"
[ -s "$apt_dir/sources.d/corpus.sources" ] || [ -s "$apt_dir/sources.d/corpus.list" ] ||
    { echo "no apt sources on this machine" >&2; exit 1; }
APT=(apt-get -q -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir/sources.d"
     -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/status"
     -o "Dir::Cache=$apt_dir/cache" -o "Dir::Cache::Archives=$apt_dir/archives"
     -o APT::Architectures::=amd64 -o APT::Architecture=amd64 -o Debug::NoLocking=1
     -o APT::Sandbox::User=root)
if ! ls "$apt_dir/lists/"*Sources* >/dev/null 2>&1 ||
        [ -n "$(find "$apt_dir/lists" -maxdepth 1 -name '*InRelease' -mtime +7)" ]; then
    "${APT[@]}" update >/dev/null
fi

# Downloads into the pool what a closure (lines PACKAGE=VERSION) names and the pool lacks.
fetch_closure() {
    local closure=$1 errors=$2 pkg version missing=()
    while IFS='=' read -r pkg version; do
        ls "$corpus/pool/${pkg}_${version#*:}_"*.deb >/dev/null 2>&1 || missing+=("$pkg=$version")
    done < "$closure"
    [ ${#missing[@]} -gt 0 ] || return 0
    (cd "$corpus/pool" && "${APT[@]}" download "${missing[@]}" >/dev/null 2>"$errors") || return 1
    # apt escapes the epoch's colon in file names (1%3a…): name them as the archive does.
    for f in "$corpus/pool/"*%3a*.deb; do
        [ -e "$f" ] && mv "$f" "$(sed 's/_[0-9]*%3a/_/' <<<"$f")"
    done
    return 0
}

# A repository (hard links into the pool and a Packages index) of a closure.
link_closure() {
    local closure=$1 repo=$2 pkg version
    while IFS='=' read -r pkg version; do
        ln "$corpus/pool/${pkg}_${version#*:}_"*.deb "$repo/"
    done < "$closure"
    (cd "$repo" && apt-ftparchive packages . > Packages 2>/dev/null)
}

# The fields of the .dsc $1 (one paragraph, without its signature), less the file lists
# when $2 is "nofiles".
dsc_fields() {
    awk -v nofiles="${2:-}" '
        /^-----BEGIN PGP SIGNED MESSAGE/ { head = 1; next }
        head && /^$/ { head = 0; next }
        head { next }
        /^-----BEGIN PGP SIGNATURE/ { exit }
        /^$/ { next }
        /^[^ \t]/ { drop = nofiles == "nofiles" && $1 ~ /^(Files|Checksums-Sha1|Checksums-Sha256):$/ }
        !drop { print }' "$1"
}

# make_layout LAYOUT SRC OUT: the source package in SRC remade in OBS's layout LAYOUT in OUT
# (see the head of this file); prints the recipe's file name.
make_layout() {
    local layout=$1 src=$2 out=$3 dsc base orig upstream ext tree series=""
    dsc=$(ls "$src"/*.dsc | head -1)
    base=$(basename "$dsc")
    rm -rf "$out" "$out.tree" && mkdir -p "$out"
    if [ "$layout" = dch-release ]; then
        for f in "$src"/*; do [ "$f" = "$dsc" ] || cp "$f" "$out/"; done
        { dsc_fields "$dsc"; echo "OBS-DCH-RELEASE: 1"; } > "$out/$base"
        echo "$base"
        return 0
    fi
    orig=$(ls "$src"/*.orig.tar.* 2>/dev/null | head -1)
    [ -n "$orig" ] || { echo "$base: a native package has no upstream tarball" >&2; return 1; }
    upstream=$(basename "$orig"); upstream=${upstream#*_}; upstream=${upstream%%.orig.tar*}
    ext=.tar${orig##*.orig.tar}
    tree=$out.tree
    dpkg-source --no-check -x "$dsc" "$tree" >/dev/null 2>&1 || { echo "$base: dpkg-source -x failed" >&2; return 1; }
    cp "$orig" "$out/${base%%_*}-$upstream$ext"
    if [ -f "$tree/debian/patches/series" ]; then
        series=$( [ "$layout" = debian-tar ] && echo quilt.series || echo debian.series )
        sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$tree/debian/patches/series" > "$out/$series"
        while read -r patch rest; do
            [[ $patch =~ ^[A-Za-z0-9][A-Za-z0-9_.+-]*$ ]] || { echo "$base: patch $patch: not a plain name" >&2; return 1; }
            cp "$tree/debian/patches/$patch" "$out/$patch"
        done < "$out/$series"
    fi
    rm -rf "$tree/debian/patches" "$tree/debian/source"
    [ -z "$(find "$tree/debian" ! -type f ! -type d)" ] || { echo "$base: debian/ holds links" >&2; return 1; }
    local tarflags=(--sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -czf "$out/debian.tar.gz")
    case $layout in
    debian-tar)
        (cd "$tree" && tar "${tarflags[@]}" debian)
        {
            dsc_fields "$dsc" nofiles
            echo "DEBTRANSFORM-TAR: ${base%%_*}-$upstream$ext"
            echo "DEBTRANSFORM-FILES-TAR: debian.tar.gz"
            [ -z "$series" ] || echo "DEBTRANSFORM-SERIES: $series"
            echo "DEBTRANSFORM-RELEASE: 1"
        } > "$out/$base"
        ;;
    debian-files)
        for f in "$tree"/debian/*; do
            [ -f "$f" ] && cp -p "$f" "$out/debian.$(basename "$f")"
        done
        local nested
        nested=$(cd "$tree" && find debian -mindepth 2 -type f | sort)
        [ -z "$nested" ] || (cd "$tree" && tar "${tarflags[@]}" $nested)
        dsc_fields "$dsc" nofiles > "$out/$base"
        ;;
    esac
    rm -rf "$tree"
    echo "$base"
}

# obs-build's project config for Debian 12: the Priority: required set and everything it
# depends on preinstalled (as debootstrap's base: what a shell and dpkg need; obs-build
# does not expand Preinstall), base-passwd and base-files' scripts run, build-essential
# and fakeroot required (as sbuild and OBS's Debian configurations give every build: a
# package without Rules-Requires-Root: no is built under fakeroot); Prefer: where a name
# is both a package and provided by another, the package itself, as apt takes it
# (pkg-config, which pkgconf provides too).
base=$("${APT[@]}" -s install $(cat "$data/lists/required.txt") | sed -n 's/^Inst \([^ ]*\) .*/\1/p' | sort -u | paste -sd' ')
[ -n "$base" ] || { echo "apt cannot resolve the required set" >&2; exit 1; }
cat > "$work/debian12.conf" <<EOF
Repotype: debian
Type: dsc
Binarytype: deb
Preinstall: $base
Runscripts: base-passwd base-files
Required: build-essential fakeroot
Prefer: make libsystemd0 pkg-config
EOF

# The toolbox (runtime-config/toolbox.toml's default packages, what obsbox's checks run
# from) comes from a host repository of its own, as on a worker: the job's repository stays
# exactly the one obs-build gets.
toolbox_names=$(sed -n '/^\[default\]/,/^\[/s/^packages *= *\[\(.*\)\]/\1/p' "$REPO/runtime-config/toolbox.toml" | tr -d '",')
[ -n "$toolbox_names" ] || { echo "runtime-config/toolbox.toml: no [default] packages" >&2; exit 1; }
mkdir -p "$work/toolbox/repo"
"${APT[@]}" -s install $toolbox_names 2>"$work/toolbox/apt-resolve.err" |
    sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p' | sort -u > "$work/toolbox/closure.txt"
[ -s "$work/toolbox/closure.txt" ] || { cat "$work/toolbox/apt-resolve.err" >&2; echo "apt cannot resolve the toolbox ($toolbox_names)" >&2; exit 1; }
fetch_closure "$work/toolbox/closure.txt" "$work/toolbox/apt-download.err" || { cat "$work/toolbox/apt-download.err" >&2; exit 1; }
link_closure "$work/toolbox/closure.txt" "$work/toolbox/repo"

serve_dir "$work" >/dev/null
required=$( (cat "$data/lists/required.txt"; echo build-essential; echo fakeroot) | sed 's/.*/"&"/' | paste -sd, -)
printf '%-22s %-9s %-9s %7s %7s  %s\n' package obsbox obs-build "obsbox" "obs" "binary packages (identical of all)"
for entry in "${names[@]}"; do
    name=${entry%@*}
    layout=""; [ "$entry" = "$name" ] || layout=${entry#*@}
    dir=$work/$entry
    mkdir -p "$dir/repo"
    src=$corpus/src/$name
    if ! ls "$src"/*.dsc >/dev/null 2>&1; then
        rm -rf "$src" && mkdir -p "$src"
        (cd "$src" && "${APT[@]}" source --download-only "$name" >/dev/null 2>"$dir/apt-source.err") ||
            { cat "$dir/apt-source.err" >&2; fail "$name: apt-get source"; continue; }
    fi
    dsc=$(ls "$src"/*.dsc | head -1)
    sources=$src recipe=$(basename "$dsc") release_args=() release_line=""
    if [ -n "$layout" ]; then
        sources=$dir/layout
        recipe=$(make_layout "$layout" "$src" "$sources") || { fail "$entry: cannot make the $layout layout"; continue; }
        release_args=(--release "$release") release_line="release = \"$release\""
    fi
    # The build dependencies as apt resolves them, and the base every build has.
    {
        "${APT[@]}" -s build-dep "$dsc"
        "${APT[@]}" -s install $(cat "$data/lists/required.txt") build-essential fakeroot
    } 2>"$dir/apt-resolve.err" | sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p' | sort -u > "$dir/closure.txt" ||
        { cat "$dir/apt-resolve.err" >&2; fail "$name: apt cannot resolve the build dependencies"; continue; }
    fetch_closure "$dir/closure.txt" "$dir/apt-download.err" ||
        { cat "$dir/apt-download.err" >&2; fail "$name: apt-get download"; continue; }
    link_closure "$dir/closure.txt" "$dir/repo"

    # obsbox, from the repository over loopback.
    cat > "$dir/job.toml" <<EOF
package = "$name"
arch = "amd64"
recipe = "$recipe"
sources = "$sources"
$release_line
jobs = 2
repos = ["$SERVE_URL/$entry/repo"]
toolbox_repos = ["$SERVE_URL/toolbox/repo"]
packages = [$required]
EOF
    obsbox_cache=$data/corpus/obsbox-cache
    [ -z "${CORPUS_TIMES:-}" ] || obsbox_cache=$dir/obsbox-cold-cache
    obsbox_build() {
        "$OBSBOX" --root "$work/state" --cache "$obsbox_cache" build "$dir/job.toml" --out "$1" >"$1.out" 2>&1
    }
    # obs-build, from the same repository as a local directory.
    obs_build_run() {
        "$obs_build" --root "$dir/obs-root" --vm-type chroot --dist "$work/debian12.conf" \
            --repo "$dir/repo" --cachedir "$dir/obs-cache" --arch x86_64 --clean \
            --norootforbuild --jobs 2 "${release_args[@]}" --logfile "$1" "$sources/$recipe" >/dev/null 2>&1
    }
    t0=$(date +%s%N)
    if obsbox_build "$dir/obsbox"; then obsbox_status=ok; else obsbox_status="exit $?"; fi
    t1=$(date +%s%N)
    if obs_build_run "$dir/obs.log"; then obs_status=ok; else obs_status="exit $?"; fi
    t2=$(date +%s%N)
    if [ -n "${CORPUS_TIMES:-}" ] && [ "$obsbox_status" = ok ] && [ "$obs_status" = ok ]; then
        # The warm runs, when the results above are kept (obs-build's go into its root).
        cp -a "$dir/obs-root/usr/src/packages/DEBS" "$dir/obs-debs"
        t3=$(date +%s%N)
        obsbox_build "$dir/obsbox-warm" || fail "$name: obsbox's warm build"
        t4=$(date +%s%N)
        obs_build_run "$dir/obs-warm.log" || fail "$name: obs-build's warm build"
        t5=$(date +%s%N)
        rm -rf "$dir/obs-root/usr/src/packages/DEBS" && mv "$dir/obs-debs" "$dir/obs-root/usr/src/packages/DEBS"
        rm -rf "$obsbox_cache"
        echo "$entry $(((t1 - t0) / 1000000)) $(((t4 - t3) / 1000000)) $(((t2 - t1) / 1000000)) $(((t5 - t4) / 1000000))" >> "$CORPUS_TIMES"
    fi

    ours=$dir/obsbox/DEBS
    theirs=$dir/obs-root/usr/src/packages/DEBS
    ours_list=$( (cd "$ours" 2>/dev/null && ls *.deb 2>/dev/null) | sort | paste -sd' ' || true)
    theirs_list=$( (cd "$theirs" 2>/dev/null && ls *.deb 2>/dev/null) | sort | paste -sd' ' || true)
    identical=0 total=0 detail=""
    if [ "$obsbox_status" = ok ] && [ "$obs_status" = ok ] && [ -n "$ours_list" ] && [ "$ours_list" = "$theirs_list" ]; then
        for deb in $ours_list; do
            total=$((total + 1))
            if cmp -s "$ours/$deb" "$theirs/$deb"; then
                identical=$((identical + 1))
                continue
            fi
            diff <(dpkg-deb -c "$ours/$deb") <(dpkg-deb -c "$theirs/$deb") > "$dir/$deb.contents.diff" ||
                detail+=" $deb: file lists differ ($dir/$deb.contents.diff);"
            diff <(dpkg-deb -f "$ours/$deb") <(dpkg-deb -f "$theirs/$deb") > "$dir/$deb.control.diff" ||
                detail+=" $deb: control fields differ ($dir/$deb.control.diff);"
        done
    fi
    printf '%-22s %-9s %-9s %6ss %6ss  %s (%d/%d)\n' "$entry" "$obsbox_status" "$obs_status" \
        $(((t1 - t0) / 1000000000)) $(((t2 - t1) / 1000000000)) "${ours_list:-none}" "$identical" "$total"
    if [ "$obsbox_status" != ok ]; then
        fail "$entry: obsbox failed"; tail -n 25 "$dir/obsbox/logfile" 2>/dev/null || cat "$dir/obsbox.out"
    fi
    if [ "$obs_status" != ok ]; then
        fail "$entry: obs-build failed"; tail -n 25 "$dir/obs.log" 2>/dev/null
    fi
    if [ "$obsbox_status" = ok ] && [ "$obs_status" = ok ]; then
        expect "$entry: the same binary packages ($ours_list | $theirs_list)" [ "$ours_list" = "$theirs_list" ]
        expect "$entry: same file lists and control fields${detail:+:$detail}" [ -z "$detail" ]
    fi
    # obs-build's chroot is large; keep only its results and log.
    "$(dirname "$obs_build")/killchroot" -s 9 "$dir/obs-root" >/dev/null 2>&1 || true
    grep -o " $dir/obs-root/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    if [ "$failures" -eq 0 ]; then
        rm -rf "$dir/obs-root" "$dir/obs-cache"
    fi
done
finish
