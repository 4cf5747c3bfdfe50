#!/bin/bash
# An all-rpm build set for `.spec` builds: the Debian binary packages a buildroot needs to
# run rpmbuild (rpm, a shell, coreutils and the tools rpmbuild's scripts call, with their
# whole dependency closure as apt resolves it), each repackaged by rpmbuild into an rpm
# whose Name, Epoch, Version, Release, Provides and Requires mirror the .deb's
# (integration/rpm/debian-repack.spec.in), as an rpm-md repository made by createrepo_c.
#
#   integration/rpm-buildset.sh      prints the repository's directory
#
# The .debs come from this machine's apt configuration (apt-get download; the test data's
# debs/amd64 is used when it has the same file). The result is cached in
# $OBSBOX_TEST_CACHE/rpm-buildset/KEY, KEY a hash of this script, the template and the
# closure's names and versions: a new Debian point release or a change here makes a new
# one, and the older ones are removed. Needs root (the .debs' owners go into the RPMs).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test}
base=$cache/rpm-buildset
template=$here/rpm/debian-repack.spec.in
# What the build phase runs (src/bundle/recipe.rs: sh, rm, mkdir, cp, rpmbuild) and what
# rpmbuild's own scripts call (brp-strip finds ELF files with file).
wanted=(rpm dash bash coreutils sed grep findutils gzip tar diffutils file)

log() { echo "rpm-buildset: $*" >&2; }
die() {
    log "$*"
    exit 1
}
[ "$(id -u)" = 0 ] || die "run as root (apt-get download, the files' owners)"
for tool in apt-get dpkg-deb rpmbuild createrepo_c python3; do
    command -v "$tool" >/dev/null || die "$tool is missing: run integration/setup.sh"
done

mkdir -p "$base"
work=$(mktemp -d "$base/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The closure: what apt installs for `wanted` into an empty root, native arch only, no
# Recommends. One line per package: name version arch.
touch "$work/empty-status"
apt-get -s -qq -o Dir::State::status="$work/empty-status" -o APT::Install-Recommends=false \
    -o APT::Architectures::="$(dpkg --print-architecture)" install "${wanted[@]}" |
    awk '/^Inst / && match($0, /\[[a-z0-9]+\]\)/) {
        print $2, substr($3, 2), substr($0, RSTART + 1, RLENGTH - 3)
    }' | sort >"$work/closure"
[ -s "$work/closure" ] || die "apt resolved nothing for ${wanted[*]}"
key=$(cat "${BASH_SOURCE[0]}" "$template" "$work/closure" | sha256sum | cut -c1-16)
repo=$base/$key
if [ -f "$repo/repodata/repomd.xml" ]; then
    echo "$repo"
    exit 0
fi
started=$(date +%s)
log "building $(wc -l <"$work/closure") RPMs into $repo"

# The .debs: from the test data when it has them, else downloaded; named as in the archive
# (apt-get download escapes an epoch's colon).
mkdir -p "$work/debs"
missing=()
while read -r name version arch; do
    file=${name}_${version#*:}_$arch.deb
    if [ -f "$cache/debs/amd64/$file" ]; then
        ln "$cache/debs/amd64/$file" "$work/debs/$file" 2>/dev/null || cp "$cache/debs/amd64/$file" "$work/debs/"
    else
        missing+=("$name:$arch=$version")
    fi
done <"$work/closure"
if [ ${#missing[@]} -gt 0 ]; then
    log "downloading ${#missing[@]} packages"
    (cd "$work/debs" && apt-get download -qq -o APT::Sandbox::User=root "${missing[@]}")
    for f in "$work"/debs/*%3a*.deb; do
        [ -e "$f" ] || continue
        mv "$f" "$(echo "$f" | sed 's/_[0-9]*%3a/_/')"
    done
fi

# One spec per .deb from the template.
mkdir -p "$work/specs"
python3 - "$template" "$work/debs" "$work/specs" <<'PY'
import io, os, re, subprocess, sys, tarfile

template, debs, specs = sys.argv[1:4]
template = open(template).read()
ARCH = {"amd64": "x86_64", "all": "noarch"}
OPS = {"<<": "<", ">>": ">", "<=": "<=", ">=": ">=", "=": "="}

def fields(deb):
    text = subprocess.run(["dpkg-deb", "-f", deb], check=True, capture_output=True,
                          text=True).stdout
    out, key = {}, None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            out[key] += "\n" + line
        else:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out

def relations(text, what):
    """[[(name, op, version)], …]: the groups of alternatives of a Debian relation field."""
    groups = []
    for group in filter(None, (g.strip() for g in text.split(","))):
        alts = []
        for alt in group.split("|"):
            m = re.fullmatch(r"\s*([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9-]+)?\s*"
                             r"(?:\(\s*(<<|>>|<=|>=|=|<|>)\s*([^ )]+)\s*\))?\s*", alt)
            if not m:
                sys.exit(f"rpm-buildset: {what}: cannot read the relation `{alt.strip()}`")
            alts.append(m.groups())
        groups.append(alts)
    return groups

packages = {}
for deb in sorted(os.listdir(debs)):
    path = os.path.join(debs, deb)
    packages[path] = fields(path)
names = {f["Package"] for f in packages.values()}
provided = set(names)
for f in packages.values():
    for alts in relations(f.get("Provides", ""), f["Package"] + " Provides"):
        provided.update(a[0] for a in alts)

for path, f in packages.items():
    name, version = f["Package"], f["Version"]
    epoch, _, rest = version.rpartition(":")
    upstream, _, revision = rest.rpartition("-")
    if not upstream:
        upstream, revision = revision, "0"
    lines = []
    for field in ("Pre-Depends", "Depends"):
        for alts in relations(f.get(field, ""), f"{name} {field}"):
            # The member apt can have picked: the first one the set holds.
            chosen = next((a for a in alts if a[0] in provided), None)
            if chosen is None:
                sys.exit(f"rpm-buildset: {name} {field}: nothing in the set satisfies "
                         f"{' | '.join(a[0] for a in alts)}")
            dep, op, ver = chosen
            lines.append(f"Requires: {dep} {OPS[op]} {ver}" if op else f"Requires: {dep}")
    for alts in relations(f.get("Provides", ""), f"{name} Provides"):
        dep, op, ver = alts[0]
        lines.append(f"Provides: {dep} = {ver}" if op else f"Provides: {dep}")
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", path], check=True,
                         capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        tops = sorted({m.name.lstrip("./").split("/")[0] for m in t.getmembers()} - {""})
    summary = f.get("Description", name).split("\n")[0].replace("%", "%%") or name
    spec = template
    for k, v in {
        "@NAME@": name,
        "@EPOCH@": f"Epoch:          {epoch}\n" if epoch else "",
        "@VERSION@": upstream,
        "@RELEASE@": revision,
        "@ARCH@": ARCH[f["Architecture"]],
        "@SUMMARY@": summary,
        "@RELATIONS@": "\n".join(lines),
        "@DEBVERSION@": version.replace("%", "%%"),
        "@DEBFILE@": os.path.basename(path),
        "@DEB@": path,
        "@FILES@": "\n".join("/" + t for t in tops),
    }.items():
        spec = spec.replace(k, v)
    open(os.path.join(specs, name + ".spec"), "w").write(spec)
PY

# rpmbuild, two at a time, each with its own top directory; fixed build time and host.
build_one() {
    local spec=$1 top
    top=$work/top/$(basename "$spec" .spec)
    mkdir -p "$top"
    SOURCE_DATE_EPOCH=1700000000 rpmbuild -bb --nodeps --quiet --define "_topdir $top" \
        --define 'use_source_date_epoch_as_buildtime 1' --define '_buildhost obsbox-test' \
        "$spec" >"$top.log" 2>&1 || { cat "$top.log" >&2; return 1; }
}
export -f build_one
export work
find "$work/specs" -name '*.spec' -print0 | xargs -0 -n1 -P2 bash -c 'build_one "$1"' _ ||
    die "rpmbuild failed"
mkdir -p "$work/repo"
find "$work/top" -name '*.rpm' -exec mv -t "$work/repo" {} +
built=$(find "$work/repo" -name '*.rpm' | wc -l)
[ "$built" = "$(wc -l <"$work/closure")" ] || die "built $built RPMs for $(wc -l <"$work/closure") packages"
createrepo_c --quiet "$work/repo"
cp "$work/closure" "$work/repo/closure.txt"
# Only the current set stays (and the work of a run still going: a killed run's is old).
find "$base" -mindepth 1 -maxdepth 1 ! -name ".work.*" ! -name "$key" -exec rm -rf {} +
find "$base" -mindepth 1 -maxdepth 1 -name ".work.*" -mmin +60 -exec rm -rf {} +
# A run beside this one may have finished the same set first.
mv -T "$work/repo" "$repo" 2>/dev/null || [ -f "$repo/repodata/repomd.xml" ] ||
    die "cannot move the set to $repo"
log "built in $(($(date +%s) - started)) s"
echo "$repo"
