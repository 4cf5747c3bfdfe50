//! Resolutions remembered: which cached root a request's repositories gave last time.
//!
//! A warm root costs reading and parsing every repository index and resolving the set
//! again (≈ 7 ms for a 1 MB `Packages`) before the cached root is even looked up. A Debian
//! suite's `Release` and an rpm-md repository's `repomd.xml` name every index by its sum, so
//! their SHA-256 stands for everything the resolver read. A file under `CACHE/resolved/`,
//! named by the hash of the request (arch, mode, repositories, names, build relations), the
//! identities of its repositories and the obsbox binary (its size and modification time: a
//! new resolver resolves again), records the root the resolution gave and its packages.
//!
//! The root is still looked up and checked as always ([`Store::rootfs`]): a root gone or
//! corrupt sends the request down the whole way again. A repository without such an index
//! file (flat, a directory of packages) is never remembered for.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::store::Store;
use super::{Built, Request, RootPackage};

/// The subdirectory of the cache holding remembered resolutions.
const DIR: &str = "resolved";

#[derive(Serialize, Deserialize)]
struct Remembered {
    /// The cached root's key (its directory under `CACHE/rootfs/`).
    rootfs: String,
    /// Its packages: name, version, arch.
    packages: Vec<(String, String, String)>,
}

/// Where the resolution of `request` with its repositories as they are now is remembered,
/// when it can be. Computed once per root (it reads each repository's `Release`), for
/// [`lookup`] and then [`remember`].
pub(super) fn path(request: &Request, store: &Store) -> Option<PathBuf> {
    let binary = crate::runtime::seal::binary_path().ok()?;
    let meta = fs::metadata(binary).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    let mut h = sha2::Sha256::new();
    h.update(format!(
        "obsbox resolution 1\n{} {}\n{}\n{}\n",
        meta.len(),
        mtime.as_nanos(),
        request.arch,
        request.mode.cache_key()
    ));
    for spec in &request.repos {
        let identity = crate::repo::index_identity(spec).ok()??;
        h.update(format!("repo {spec}\n{identity}\n"));
    }
    for name in &request.names {
        h.update(format!("name {name}\n"));
    }
    h.update(format!("{:?}\n", request.needs));
    Some(store.dir().join(DIR).join(hex::encode(h.finalize())))
}

/// The root remembered at `file` (from [`path`]), when it is still cached and intact.
pub(super) fn lookup(file: &Path, store: &Store) -> Option<Built> {
    let text = fs::read(file).ok()?;
    let Ok(remembered) = serde_json::from_slice::<Remembered>(&text) else {
        let _ = fs::remove_file(file);
        return None;
    };
    let tree = store.rootfs(&remembered.rootfs)?;
    tracing::debug!(root = %remembered.rootfs, "resolution remembered");
    Some(Built {
        tree,
        packages: remembered
            .packages
            .into_iter()
            .map(|(name, version, arch)| RootPackage {
                name,
                version,
                arch,
            })
            .collect(),
        cache_hit: true,
        fetched: 0,
        unpacked: 0,
    })
}

/// Remembers at `file` (from [`path`]) that the request resolved to `built` (best effort:
/// a resolution not remembered is made again next time).
pub(super) fn remember(file: &Path, store: &Store, built: &Built) {
    let Some(key) = built
        .tree
        .parent()
        .and_then(|entry| entry.file_name())
        .and_then(|k| k.to_str())
    else {
        return;
    };
    let remembered = Remembered {
        rootfs: key.to_string(),
        packages: built
            .packages
            .iter()
            .map(|p| (p.name.clone(), p.version.clone(), p.arch.clone()))
            .collect(),
    };
    let Ok(text) = serde_json::to_vec(&remembered) else {
        return;
    };
    // Written whole under a temporary name, then renamed: readers see all or nothing.
    let tmp = file.with_file_name(format!(".tmp.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        fs::create_dir_all(store.dir().join(DIR))?;
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&text)?;
        drop(f);
        fs::rename(&tmp, file)
    };
    if let Err(err) = write() {
        let _ = fs::remove_file(&tmp);
        tracing::debug!("resolution not remembered: {err}");
    }
}

/// Removes the remembered resolutions whose root is no longer cached.
pub(super) fn prune(store: &Store) {
    let Ok(entries) = fs::read_dir(store.dir().join(DIR)) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".tmp.") {
            // Being written now, or left by a writer that died: the latter go with their
            // process.
            let pid = entry.file_name().to_string_lossy()[5..].parse::<i32>().ok();
            if pid.is_some_and(|pid| !crate::proc::alive(pid)) {
                let _ = fs::remove_file(entry.path());
            }
            continue;
        }
        let stale = fs::read(entry.path())
            .ok()
            .and_then(|t| serde_json::from_slice::<Remembered>(&t).ok())
            .is_none_or(|r| !store.dir().join("rootfs").join(&r.rootfs).is_dir());
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}
