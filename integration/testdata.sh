#!/bin/bash
# Builds the test data of the packages/repositories work into the shared test cache
# ($OBSBOX_TEST_CACHE, default /var/cache/obsbox-test), once: real Debian packages and
# a Debian repository of them (enough for a buildroot that builds integration/pkgs/ and
# for a toolbox), and small RPMs built from integration/rpm/*.spec with
# their rpm-md repositories. Needs root and integration/setup.sh; downloads with apt.
# A stamp holds the data version and a hash of this script and the specs, so a change
# to either rebuilds; the downloaded .debs are kept across rebuilds unless apt's
# candidate changed. Delete the stamp to rebuild against a newer Debian point release.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test}
data_version=5
suite=bookworm
stamp=$cache/testdata.stamp
want_stamp="$data_version $(cat "${BASH_SOURCE[0]}" "$here"/rpm/*.spec | sha256sum | cut -c1-16)"

layout() {
    cat <<EOF
test data in $cache:
  debs/amd64/            build-essential closure + Priority: required closure (amd64, all),
                         and the packages of rpm-build.txt fakeroot.txt toolbox.txt
                         callbacks.txt
  debs/arm64/            $(echo "${arm64_packages[*]}" | tr ' ' ',') (arm64 builds)
  lists/                 build-essential.txt required.txt all-amd64.txt arm64.txt rpms.txt
                         rpm-build.txt: what a .spec buildroot needs on top of all-amd64.txt
                         fakeroot.txt: what a root-needing .dsc build needs on top of all-amd64.txt
                         toolbox.txt: ${toolbox_packages[*]} and their whole closure
                         callbacks.txt: the toolbox packages of the shipped callbacks
                         (rpmlint, mkbaselibs, kiwi) and their whole closure
                         cross.txt: ${cross_packages[*]} and their whole closure
                         cross-arm64.txt, cross-s390x.txt: foreign buildroots, as
                         ARCH-config apt resolves them (name or name:ARCH per line)
  debs/cross-amd64/      cross.txt minus what debs/amd64 has
  debs/cross-arm64/      arm64 build-essential + required + lintian (arm64, all)
  debs/cross-s390x/      $(echo "${s390x_packages[*]}" | tr ' ' ',') (s390x, all)
  deb-repo/              Debian repository: deb [trusted=yes] file:$cache/deb-repo $suite main
  rpm-repo/              rpm-md repository (gzip metadata) of rpmbuild/RPMS
  rpm-repo-xz/           the same RPMs, xz-compressed metadata (and sqlite)
  rpm-repo-zst/          the same RPMs, zstd-compressed metadata (no sqlite)
  rpm-repo-aarch64/      obsbox-test-shell (arm64 busybox) and obsbox-test-base built for
                         aarch64 (a foreign rpm root)
EOF
}

# A few arm64 packages: hello and what it needs, and a static binary.
arm64_packages=(hello libc6 libgcc-s1 gcc-12-base busybox-static)
# A buildroot for integration/pkgs/hello-obsbox-rpm: Debian's rpmbuild, and file, which
# rpm's brp-strip runs to find ELF files (missing, it only says "not found" and strips
# nothing).
rpm_build_packages=(rpm file)
# The toolbox: a shell and utilities, the host dpkg (dpkg-deb and the maintainer script
# runner for foreign roots) and rpm.
toolbox_packages=(busybox-static dpkg rpm)
# The toolbox packages of the shipped callbacks (runtime-config/callbacks/*.toml): rpmlint;
# mkbaselibs (obs-build) with the rpm tools; kiwi with what it runs but does not declare
# (rsync, umoci, skopeo, debootstrap and Essential tools; the toolbox is unpacked without
# maintainer scripts, so nothing Essential comes by itself).
# Cross-arch builds (tests/cross.rs, bench-cross.sh): qemu-user-static for the toolbox (the
# worker's OS never gets it) and lintian, the check run natively from the toolbox.
cross_packages=(qemu-user-static lintian)
# The foreign buildroots: arm64 builds integration/pkgs/hello-obsbox (build-essential and
# the required set; lintian for the emulated side of bench-cross.sh); s390x is the small
# second foreign arch of the concurrency test (a static busybox and what maintainer scripts
# use of the Essential set: a shell, grep, sed, coreutils, ldconfig, diff).
cross_arm64_packages=(build-essential lintian)
s390x_packages=(busybox-static dash grep sed coreutils libc-bin diffutils)
callback_packages=(rpmlint rpm obs-build cpio rpm2cpio kiwi rsync umoci skopeo debootstrap
    coreutils bash dash tar xz-utils gzip bzip2 grep sed findutils mount util-linux diffutils
    debianutils perl-base dpkg base-files base-passwd libc-bin hostname)

if [ "$(cat "$stamp" 2>/dev/null)" = "$want_stamp" ] &&
    [ -f "$cache/deb-repo/dists/$suite/Release" ] && [ -f "$cache/rpm-repo-zst/repodata/repomd.xml" ]; then
    layout
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "testdata.sh: run as root (apt-get download, rpmbuild)" >&2; exit 1; }
foreign_archs=$(dpkg --print-foreign-architectures)
for arch in arm64 s390x; do
    grep -qx $arch <<< "$foreign_archs" ||
        { echo "testdata.sh: $arch is not a dpkg architecture: run integration/setup.sh" >&2; exit 1; }
done
rm -f "$stamp"
mkdir -p "$cache/lists"
lists=$cache/lists
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# closure NAME…: the dependency closure as the task defines it (every alternative,
# Pre-Depends and Depends only), real packages of the native architecture only.
closure() {
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances "$@" | grep -v '^ ' | grep -v '^<' | grep -v : | sort -u
}

echo "resolving package lists"
closure build-essential > "$lists/build-essential.txt"
# The Priority: required packages of the archive, as apt's candidates say (the archive's
# overrides, not the .deb's own control field).
apt-cache dumpavail | awk -v RS= '
    /\nPriority: required\n/ && /\nArchitecture: (amd64|all)\n/ { sub(/^Package: /, ""); sub(/\n.*/, ""); print }
' | sort -u > "$lists/required.txt"
# shellcheck disable=SC2046  # one name per line, no spaces
closure $(cat "$lists/required.txt") | sort -u - "$lists/build-essential.txt" > "$lists/all-amd64.txt"
printf '%s\n' "${arm64_packages[@]}" | sort > "$lists/arm64.txt"
closure "${rpm_build_packages[@]}" | comm -23 - "$lists/all-amd64.txt" > "$lists/rpm-build.txt"
closure fakeroot | comm -23 - "$lists/all-amd64.txt" > "$lists/fakeroot.txt"
closure "${toolbox_packages[@]}" > "$lists/toolbox.txt"
closure "${callback_packages[@]}" > "$lists/callbacks.txt"
closure "${cross_packages[@]}" > "$lists/cross.txt"
# foreign_set ARCH NAME…: the packages an ARCH-only apt installs for NAMEs into an empty
# root (arch-qualified, "all" ones bare). apt-cache depends on this multiarch host would
# resolve arch: all dependencies to amd64 ones; an ARCH-native apt config does not.
foreign_set() {
    local arch=$1
    shift
    touch "$work/empty-status"
    apt-get -s -qq -o APT::Architecture="$arch" -o APT::Architectures::="$arch" \
        -o Dir::State::status="$work/empty-status" -o APT::Install-Recommends=false \
        install "$@" | awk -v a="$arch" '/^Inst / && match($0, /\[[a-z0-9]+\]\)/) {
            print (substr($0, RSTART + 1, RLENGTH - 3) == "all" ? $2 : $2 ":" a)
        }' | sort -u
}
# shellcheck disable=SC2046
foreign_set arm64 "${cross_arm64_packages[@]}" $(cat "$lists/required.txt") > "$lists/cross-arm64.txt"
foreign_set s390x "${s390x_packages[@]}" > "$lists/cross-s390x.txt"

# fetch DIR SPEC…: the candidate .debs of SPECs (name or name:arch) into DIR, named as in
# the archive (no escaped epoch, which an HTTP server would not find); files no longer
# wanted are removed. Writes DIR.fields: file, pool directory, priority, section.
fetch() {
    local dir=$1 spec file pooldir priority section f
    shift
    mkdir -p "$dir"
    local -A keep=()
    local missing=()
    apt-cache show --no-all-versions "$@" | awk -v RS= -F '\n' '{
        for (i = 1; i <= NF; i++) {
            split($i, kv, ": ")
            v[kv[1]] = substr($i, length(kv[1]) + 3)
        }
        n = split(v["Filename"], path, "/")
        # The archive pool directory minus the security archive'"'"'s "updates/" part.
        pool = v["Filename"]; sub(/\/[^\/]*$/, "", pool); sub(/^pool\/updates\//, "pool/", pool)
        spec = v["Architecture"] == "all" ? v["Package"] : v["Package"] ":" v["Architecture"]
        print spec, path[n], pool, v["Priority"], v["Section"]
        delete v
    }' > "$dir.fields"
    while read -r spec file pooldir priority section; do
        keep[$file]=1
        [ -e "$dir/$file" ] || missing+=("$spec")
    done < "$dir.fields"
    for f in "$dir"/*.deb; do
        [ -e "$f" ] || continue
        [ -n "${keep[$(basename "$f")]:-}" ] || rm -f "$f"
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "downloading ${#missing[@]} packages into $dir"
        rm -rf "$dir/.partial"
        mkdir "$dir/.partial"
        (cd "$dir/.partial" && apt-get download -qq -o APT::Sandbox::User=root "${missing[@]}")
        for f in "$dir/.partial"/*.deb; do
            file=$(basename "$f" | sed 's/_[0-9]*%3a/_/')
            mv "$f" "$dir/$file"
        done
        rmdir "$dir/.partial"
    fi
    while read -r spec file pooldir priority section; do
        [ -e "$dir/$file" ] || { echo "fetch: $file missing after download" >&2; return 1; }
    done < "$dir.fields"
}

# shellcheck disable=SC2046
fetch "$cache/debs/amd64" $(sort -u "$lists"/{all-amd64,rpm-build,fakeroot,toolbox,callbacks}.txt)
# Apart from debs/amd64, which the extraction tests unpack file by file (qemu alone is
# 380 MB unpacked): only what the lists above do not have.
# shellcheck disable=SC2046
fetch "$cache/debs/cross-amd64" $(sort -u "$lists"/{all-amd64,rpm-build,fakeroot,toolbox,callbacks}.txt |
    comm -13 - "$lists/cross.txt")
fetch "$cache/debs/arm64" "${arm64_packages[@]/%/:arm64}"
for f in "$cache"/debs/arm64/*.deb; do
    [ "$(dpkg-deb -f "$f" Architecture)" = arm64 ] || { echo "$f is not an arm64 build" >&2; exit 1; }
done
for arch in arm64 s390x; do
    # shellcheck disable=SC2046
    fetch "$cache/debs/cross-$arch" $(cat "$lists/cross-$arch.txt")
    for f in "$cache/debs/cross-$arch"/*.deb; do
        case $(dpkg-deb -f "$f" Architecture) in
            "$arch" | all) ;;
            *) echo "$f is neither $arch nor all" >&2; exit 1 ;;
        esac
    done
done

echo "building the Debian repository"
repo=$cache/deb-repo
rm -rf "$repo"
mkdir -p "$repo/indices"
for set in amd64 arm64 cross-amd64 cross-arm64 cross-s390x; do
    while read -r spec file pooldir priority section; do
        mkdir -p "$repo/$pooldir"
        # Hard links: the repository costs no space and the .debs stay where tests find them.
        ln -f "$cache/debs/$set/$file" "$repo/$pooldir/$file"
        echo "${spec%:*} $priority $section" >> "$work/override"
    done < "$cache/debs/$set.fields"
done
sort -u "$work/override" > "$repo/indices/override.$suite.main"
for arch in amd64 arm64 s390x; do
    dir=dists/$suite/main/binary-$arch
    mkdir -p "$repo/$dir"
    (cd "$repo" && apt-ftparchive -q=2 --arch "$arch" packages pool/main "indices/override.$suite.main" > "$dir/Packages")
    gzip -9nk "$repo/$dir/Packages"
    xz -k "$repo/$dir/Packages"
done
(cd "$repo" && apt-ftparchive -q=2 \
    -o APT::FTPArchive::Release::Origin=obsbox-test \
    -o APT::FTPArchive::Release::Label=obsbox-test \
    -o APT::FTPArchive::Release::Suite="$suite" \
    -o APT::FTPArchive::Release::Codename="$suite" \
    -o APT::FTPArchive::Release::Architectures="amd64 arm64 s390x" \
    -o APT::FTPArchive::Release::Components=main \
    -o APT::FTPArchive::Release::Description="obsbox test repository" \
    release "dists/$suite" > "$work/Release")
mv "$work/Release" "$repo/dists/$suite/Release"
# The override gives the archive's priorities (apt's and debconf's .debs say important,
# the archive says required): the repository's required set is the real one.
awk -v RS= '/\nPriority: required\n/ { sub(/^Package: /, ""); sub(/\n.*/, ""); print }' \
    "$repo/dists/$suite/main/binary-amd64/Packages" | sort -u | cmp -s - "$lists/required.txt" ||
    { echo "the repository's Priority: required set is not lists/required.txt" >&2; exit 1; }

echo "checking that apt accepts the Debian repository (over loopback HTTP)"
# shellcheck source=lib/serve.sh
source "$here/lib/serve.sh"
trap 'serve_stop; rm -rf "$work"' EXIT
serve_dir "$repo" >/dev/null
apt_dir=$work/apt
mkdir -p "$apt_dir"/{lists/partial,cache/archives/partial,parts,download}
touch "$apt_dir/status"
echo "deb [trusted=yes] $SERVE_URL $suite main" > "$apt_dir/sources.list"
# An empty dpkg status: apt must find every dependency in this repository alone.
apt_opts=(
    -o Dir::Etc::sourcelist="$apt_dir/sources.list" -o Dir::Etc::sourceparts="$apt_dir/parts"
    -o Dir::Etc::preferencesparts="$apt_dir/parts" -o Dir::State::Lists="$apt_dir/lists"
    -o Dir::Cache="$apt_dir/cache" -o Dir::State::status="$apt_dir/status"
    -o Dir::State::extended_states="$apt_dir/extended_states"
    -o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o APT::Architectures::=arm64
    -o APT::Sandbox::User=root -o Debug::NoLocking=1
)
apt-get -qq "${apt_opts[@]}" update
# shellcheck disable=SC2046
apt-get -qq "${apt_opts[@]}" -s install build-essential $(cat "$lists/required.txt") \
    "${arm64_packages[@]/%/:arm64}" > "$work/simulated"
echo "  apt would install $(grep -c '^Inst ' "$work/simulated") packages from it"
# Each root on its own, as obsbox installs them (not with the arm64 packages: the two
# busybox-static conflict): what apt picks (no Recommends) must resolve from the
# repository alone and lie within the lists that describe that root.
# simulate_root LIST… -- NAME…: LISTs are files in $lists.
simulate_root() {
    local listed=()
    while [ "$1" != -- ]; do listed+=("$lists/$1"); shift; done
    shift
    apt-get -qq "${apt_opts[@]}" -o APT::Install-Recommends=false -s install "$@" > "$work/simulated" ||
        { echo "apt cannot install $* from the repository alone" >&2; exit 1; }
    local outside
    outside=$(awk '/^Inst / { print $2 }' "$work/simulated" | sort -u | comm -23 - <(sort -u "${listed[@]}"))
    [ -z "$outside" ] || { echo "apt installs packages outside ${listed[*]}: $outside" >&2; exit 1; }
}
mapfile -t required < "$lists/required.txt"
simulate_root all-amd64.txt rpm-build.txt -- build-essential "${required[@]}" "${rpm_build_packages[@]}"
simulate_root all-amd64.txt fakeroot.txt -- build-essential "${required[@]}" fakeroot
simulate_root toolbox.txt -- "${toolbox_packages[@]}"
simulate_root callbacks.txt -- "${callback_packages[@]}"
# A package with an epoch: its file name must be found and its checksum must match.
(cd "$apt_dir/download" && apt-get -qq "${apt_opts[@]}" download login)
[ "$(apt-cache "${apt_opts[@]}" show login | sed -n 's/^Priority: //p')" = required ] ||
    { echo "login is not Priority: required in the repository" >&2; exit 1; }
serve_stop

echo "building the RPMs"
topdir=$cache/rpmbuild
rm -rf "$topdir"
mkdir -p "$topdir/busybox"
# obsbox-test-shell packs Debian's static busybox (the one busybox-bundle.sh uses). The
# toolbox's copy is linked to debs/, where the Rust tests look for it.
bb_deb=$(ls "$cache"/debs/amd64/busybox-static_*.deb)
find "$cache/debs" -maxdepth 1 -name 'busybox-static_*.deb' -delete
ln -f "$bb_deb" "$cache/debs/"
dpkg-deb -x "$bb_deb" "$topdir/busybox"
for spec in "$here"/rpm/*.spec; do
    # Fixed build time and host; --nodeps: Debian's rpm database is empty; no build-id
    # links or debuginfo: the content is scripts and one stripped static binary.
    if ! SOURCE_DATE_EPOCH=1700000000 rpmbuild -bb --nodeps --quiet \
        --define "_topdir $topdir" --define '_build_id_links none' \
        --define 'debug_package %{nil}' --define 'use_source_date_epoch_as_buildtime 1' \
        --define '_buildhost obsbox-test' --define "busybox $topdir/busybox/bin/busybox" \
        "$spec" > "$work/rpmbuild.log" 2>&1; then
        cat "$work/rpmbuild.log" >&2
        exit 1
    fi
    # The payload must be compressed as the spec asks.
    case $(sed -n 's/^%define _binary_payload //p' "$spec") in
        *.gzdio) want=gzip ;; *.xzdio) want=xz ;; *.zstdio) want=zstd ;; *) want=unknown ;;
    esac
    name=$(basename "$spec" .spec)
    got=$(rpm -qp --qf '%{PAYLOADCOMPRESSOR}' "$topdir"/RPMS/*/"$name"-[0-9]*.rpm)
    [ "$got" = "$want" ] || { echo "$name: payload $got, wanted $want" >&2; exit 1; }
done
rpm -qp --qf '[%{FILECAPS}\n]' "$topdir"/RPMS/*/obsbox-test-tools-*.rpm | grep -qx cap_net_raw=ep ||
    { echo "obsbox-test-tools lost its file capability" >&2; exit 1; }
(cd "$topdir/RPMS" && rpm -qp --qf '%{NAME} %|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE} %{ARCH} %{PAYLOADCOMPRESSOR}\n' ./*/*.rpm) |
    sort > "$lists/rpms.txt"

echo "checking that the RPMs install together and run their scriptlets"
# Debian's rpm refuses to install without --force-debian; the root is a scratch dir.
root=$work/rpmroot
rpm --root "$root" --initdb
rpm --root "$root" --force-debian -i --quiet \
    "$topdir"/RPMS/*/obsbox-test-{base,tools,data,shell}-[0-9]*.rpm
grep -qx "base pre 1" "$root/obsbox-test-scripts.log" && grep -qx "base post 1" "$root/obsbox-test-scripts.log" ||
    { echo "the scriptlets of obsbox-test-base did not run" >&2; exit 1; }
if rpm --root "$root" --force-debian -i --test "$topdir"/RPMS/noarch/obsbox-test-legacy-*.rpm 2>/dev/null; then
    echo "obsbox-test-legacy installed beside obsbox-test-tools: Conflicts ignored" >&2
    exit 1
fi

echo "building the rpm-md repositories"
for variant in rpm-repo rpm-repo-xz rpm-repo-zst; do
    rm -rf "${cache:?}/$variant"
    mkdir -p "$cache/$variant"
    cp -al "$topdir"/RPMS/* "$cache/$variant/"
done
createrepo_c --quiet "$cache/rpm-repo"
createrepo_c --quiet --general-compress-type=xz "$cache/rpm-repo-xz"
# Debian 12's createrepo_c knows no zstd, which openSUSE's own repositories use: this
# variant recompresses its XML with zstd and points repomd.xml at the new files.
createrepo_c --quiet --no-database "$cache/rpm-repo-zst"
python3 - "$cache/rpm-repo-zst" <<'PY'
import hashlib, os, re, subprocess, sys
repo = sys.argv[1]
path = os.path.join(repo, "repodata", "repomd.xml")
repomd = open(path).read()

def recompress(match):
    block = match.group(0)
    old = re.search(r'<location href="(repodata/[^"]*)\.gz"/>', block)
    if not old:
        return block
    gz = os.path.join(repo, old.group(1) + ".gz")
    plain = subprocess.run(["gzip", "-dc", gz], check=True, capture_output=True).stdout
    packed = subprocess.run(["zstd", "-19", "-q", "-c"], input=plain, check=True,
                            capture_output=True).stdout
    digest = hashlib.sha256(packed).hexdigest()
    # Named like createrepo_c names them: the checksum, then the type.
    kind = os.path.basename(old.group(1)).split("-", 1)[1]
    name = "repodata/%s-%s.zst" % (digest, kind)
    open(os.path.join(repo, name), "wb").write(packed)
    os.remove(gz)
    block = re.sub(r'(<checksum type="sha256">)[0-9a-f]*(</checksum>)', r"\g<1>%s\2" % digest, block)
    block = re.sub(r'<location href="[^"]*"/>', '<location href="%s"/>' % name, block)
    return re.sub(r"(<size>)[0-9]*(</size>)", r"\g<1>%d\2" % len(packed), block)

open(path, "w").write(re.sub(r"<data type=.*?</data>", recompress, repomd, flags=re.S))
PY
built=$(wc -l < "$lists/rpms.txt")
for listed in "$(zcat "$cache"/rpm-repo/repodata/*-primary.xml.gz | grep -c '<package ')" \
    "$(xz -dc "$cache"/rpm-repo-xz/repodata/*-primary.xml.xz | grep -c '<package ')" \
    "$(zstd -dcq "$cache"/rpm-repo-zst/repodata/*-primary.xml.zst | grep -c '<package ')"; do
    [ "$listed" = "$built" ] || { echo "a repodata lists $listed packages, built $built" >&2; exit 1; }
done

echo "building the aarch64 RPMs"
# The shell packs Debian's arm64 static busybox; rpmbuild on this host only packs it (the
# host's strip cannot read it and says so, which is harmless).
topdir_arm=$cache/rpmbuild-aarch64
rm -rf "$topdir_arm" "$cache/rpm-repo-aarch64"
mkdir -p "$topdir_arm/busybox" "$cache/rpm-repo-aarch64"
dpkg-deb -x "$(ls "$cache"/debs/arm64/busybox-static_*.deb)" "$topdir_arm/busybox"
for name in obsbox-test-shell obsbox-test-base; do
    SOURCE_DATE_EPOCH=1700000000 rpmbuild -bb --nodeps --quiet --target aarch64 \
        --define "_topdir $topdir_arm" --define '_build_id_links none' \
        --define 'debug_package %{nil}' --define 'use_source_date_epoch_as_buildtime 1' \
        --define '_buildhost obsbox-test' --define "busybox $topdir_arm/busybox/bin/busybox" \
        "$here/rpm/$name.spec" > "$work/rpmbuild.log" 2>&1 ||
        { cat "$work/rpmbuild.log" >&2; exit 1; }
done
[ "$(rpm -qp --qf '%{ARCH}\n' "$topdir_arm"/RPMS/aarch64/*.rpm | sort -u)" = aarch64 ] ||
    { echo "the aarch64 RPMs are not aarch64" >&2; exit 1; }
cp -al "$topdir_arm"/RPMS/aarch64 "$cache/rpm-repo-aarch64/"
createrepo_c --quiet "$cache/rpm-repo-aarch64"

echo "$want_stamp" > "$stamp"
layout
