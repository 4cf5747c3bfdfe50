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
    dpkg-dev apt-utils                 # test Debian repository: dpkg-scanpackages, apt-ftparchive
    rpm createrepo-c                   # test RPMs (rpmbuild) and their rpm-md repository
    cpio zstd xz-utils libcap2-bin     # payload and file-capability checks of the test RPMs
    skopeo umoci                       # reading the OCI images imaging makes (never kiwi:
                                       # the imaging test needs a host without it)
    obs-server                         # OBS's dispatcher modules for the dispatch_constraint test
)
# The arm64 test packages are downloaded as arm64 builds through the host's apt.
update=false
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    update=true
fi
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
command -v cargo >/dev/null || { echo "cargo (Rust) is needed" >&2; exit 1; }
cargo nextest --version >/dev/null 2>&1 || cargo install --locked cargo-nextest
