#!/bin/bash
# A real OBS worker building through obsbox, end to end on loopback: Debian's bs_worker
# (obs-server) with obsbox as its build program, one job (`bs_worker --build BUILDINFO`)
# that builds integration/pkgs/hello-obsbox from sources and real Debian packages served by
# the stand-in for OBS's source and repository servers (obs_standin.py). Needs
# integration/setup.sh, integration/testdata.sh and `cargo build --release`.
source "$(dirname "$0")/../lib/common.sh"
source "$REPO/integration/lib/serve.sh"
data=${OBSBOX_TEST_CACHE:-/var/cache/obsbox-test}
"$REPO/integration/testdata.sh" >/dev/null
project=home:example repository=Debian_12 package=hello-obsbox

work=$(mktemp -d /tmp/obsbox-obs-worker.XXXXXX)
standin=
trap '[ -z "$standin" ] || kill "$standin" 2>/dev/null; serve_stop; rm -rf "$work"' EXIT

echo "== the worker's state directory: obs-build's files, obsbox as build"
"$REPO/integration/obs-worker/setup-worker.sh" "$work/state" "$OBSBOX"
ls -l "$work/state/build/build"

echo "== the stand-in for the source and repository servers"
mkdir -p "$work/data/sources/$project/$package" "$work/data/binaries/Debian:12/main" "$work/root"
ln -s "$data/debs/amd64" "$work/data/binaries/Debian:12/main/x86_64"
cp -a "$REPO/integration/pkgs/hello-obsbox" "$work/"
(cd "$work" && dpkg-source -q -b hello-obsbox >/dev/null &&
    mv hello-obsbox_1.0.dsc hello-obsbox_1.0.tar.* "data/sources/$project/$package/")
python3 "$REPO/integration/obs-worker/obs_standin.py" "$work/data" >"$work/standin.out" 2>"$work/standin.log" &
standin=$!
for _ in $(seq 1 100); do grep -q listening "$work/standin.out" && break; sleep 0.05; done
url=$(sed -n 's/^listening on //p' "$work/standin.out")
echo "$url"

echo "== obsbox's runtime configuration: the toolbox from a loopback Debian repository"
serve_dir "$data/deb-repo" >/dev/null
cp -a "$REPO/runtime-config" "$work/config"
sed -i "1i repos = [\"$SERVE_URL bookworm main\"]" "$work/config/toolbox.toml"
export OBSBOX_CONFIG=$work/config OBSBOX_CACHE=${OBSBOX_CACHE:-/var/cache/obsbox} OBSBOX_ROOT=$work/obsbox-state

echo "== the job, as OBS's scheduler hands it out"
srcmd5=$(curl -s "$url/source/$project/$package" | sed -n 's/.*srcmd5="\([0-9a-f]*\)".*/\1/p')
{
    echo "<buildinfo project=\"$project\" repository=\"$repository\" package=\"$package\" srcserver=\"$url\" reposerver=\"$url\">"
    echo "  <job>$project::$repository::$package-$srcmd5</job>"
    echo "  <arch>x86_64</arch>"
    echo "  <srcmd5>$srcmd5</srcmd5>"
    echo "  <verifymd5>$srcmd5</verifymd5>"
    echo "  <reason>new build</reason>"
    echo "  <file>hello-obsbox_1.0.dsc</file>"
    echo "  <release>1.1</release>"
    while read -r name; do
        pre=; grep -qx "$name" "$data/lists/required.txt" && pre=' preinstall="1"'
        echo "  <bdep name=\"$name\"$pre project=\"Debian:12\" repository=\"main\"/>"
    done < "$data/lists/all-amd64.txt"
    echo "  <path project=\"Debian:12\" repository=\"main\" server=\"$url\"/>"
    echo "</buildinfo>"
} > "$work/buildinfo.xml"
grep -c '<bdep ' "$work/buildinfo.xml" | sed 's/$/ build dependencies/'

echo "== bs_worker --build"
(cd /usr/lib/obs/server && ./bs_worker --root "$work/root" --statedir "$work/state" --nobuildupdate \
    --srcserver "$url" --reposerver "$url" --build "$work/buildinfo.xml") |
    grep -E "^[0-9-]+ [0-9:]+: |^\[obsbox\]|^\[build\] dpkg-deb" || true
echo "== the results bs_worker reads (ROOT/.build.packages)"
(cd "$work/root/.build.packages" && find . -type f | sort)
echo "== the log (ROOT/.build.log)"
grep -E '^\[ *[0-9]+s\] \[obsbox\]' "$work/root/.build.log"
[ -f "$work/root/.build.packages/DEBS/hello-obsbox_1.0_amd64.deb" ] ||
    { echo "no package built" >&2; exit 1; }
