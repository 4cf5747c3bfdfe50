#!/bin/bash
# Installs what obsbox needs to build and to be tested on Debian 12 (run as root). Idempotent.
set -euo pipefail
packages=(
    pkg-config libseccomp-dev          # libcontainer's seccomp support
    runc podman containerd             # peer runtime and the real clients
    uidmap                             # podman's user namespace helpers
    hyperfine time                     # benchmarks
    python3 python3-jsonschema         # schema checks of config.json and features
    golang-github-opencontainers-specs-dev  # the runtime-spec JSON schemas
    golang-go golang-github-opencontainers-runtime-tools-dev  # runtime-tools' bundle validator (integration/oci-validate)
    dpkg-dev apt-utils                 # test Debian repository: dpkg-scanpackages, apt-ftparchive
    rpm createrepo-c                   # test RPMs (rpmbuild) and their rpm-md repository
    cpio zstd xz-utils libcap2-bin     # payload and file-capability checks of the test RPMs
    lz4                                # apt's own lists, read by the real-data parser test
    skopeo umoci                       # reading the OCI images imaging makes (never kiwi:
                                       # the imaging test needs a host without it)
)
# The arm64 and s390x test packages (foreign buildroots of the cross-arch tests) are
# downloaded as such through the host's apt; nothing of those arches is installed here.
update=false
foreign_archs=$(dpkg --print-foreign-architectures)
for arch in arm64 s390x; do
    if ! grep -qx $arch <<< "$foreign_archs"; then
        dpkg --add-architecture $arch
        update=true
    fi
done
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || $update; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
fi
if [ ${#missing[@]} -gt 0 ]; then
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The real OBS worker for the obs-worker tests: bs_worker is obs-server's code
# (/usr/lib/obs/server), obs-build its Perl build modules. Only that code is used: obs-server's
# own services (source and repository servers, scheduler, …) must never start, so they are
# kept from starting while it installs and masked afterwards.
if ! dpkg-query -W -f='${Status}' obs-server 2>/dev/null | grep -q "install ok installed"; then
    policy=/usr/sbin/policy-rc.d
    own_policy=false
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy"
        own_policy=true
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends obs-server obs-build
    $own_policy && rm -f "$policy"
    for unit in $(dpkg -L obs-server | grep -E '^/lib/systemd/system/[^/]+\.service$'); do
        ln -sf /dev/null "/etc/systemd/system/$(basename "$unit")"
    done
    rm -f /etc/systemd/system/multi-user.target.wants/obs*.service
fi
command -v cargo >/dev/null || { echo "cargo (Rust) is needed" >&2; exit 1; }
cargo nextest --version >/dev/null 2>&1 || cargo install --locked cargo-nextest
