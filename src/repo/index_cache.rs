//! Decompressed repository indexes kept in the cache directory (`CACHE/indexes/<sha256>`),
//! named by the SHA256 the repository's `Release` gives for the uncompressed index.
//!
//! A job reads the same `Packages.xz` over and over (once for its toolbox, once for its
//! buildroot, again for the next job): decompressing it is most of reading a repository
//! (≈ 15 ms for an index of 800 packages). A kept copy is used only while the repository's
//! current `Release` still names it, and only after its content has been checked against
//! that sum, so a changed repository or a damaged copy is never read; a damaged copy is
//! removed.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::debian::IndexEntry;
use super::fetch::Hasher;

/// The cache's directory of indexes below the cache directory `cache`.
pub fn dir(cache: &Path) -> PathBuf {
    cache.join("indexes")
}

/// Where the index with `entry`'s sum lives, if the sum can name a file.
fn path(dir: &Path, entry: &IndexEntry) -> Option<PathBuf> {
    let hex = &entry.checksum.hex;
    (entry.checksum.algo == "sha256"
        && hex.len() == 64
        && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    .then(|| dir.join(hex.to_ascii_lowercase()))
}

fn matches(data: &[u8], entry: &IndexEntry) -> bool {
    if data.len() as u64 != entry.size {
        return false;
    }
    let Ok(mut h) = Hasher::new(&entry.checksum.algo) else {
        return false;
    };
    h.update(data);
    h.finish().eq_ignore_ascii_case(&entry.checksum.hex)
}

/// The kept index with `entry`'s size and sum, as text; marks it used. A copy whose
/// content differs is removed.
pub fn load(dir: &Path, entry: &IndexEntry) -> Option<String> {
    let path = path(dir, entry)?;
    let data = fs::read(&path).ok()?;
    if !matches(&data, entry) {
        tracing::warn!(path = %path.display(), "kept repository index damaged: removed");
        let _ = fs::remove_file(&path);
        return None;
    }
    let now = nix::sys::time::TimeSpec::UTIME_NOW;
    let _ = nix::sys::stat::utimensat(
        None,
        &path,
        &now,
        &now,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
    String::from_utf8(data).ok()
}

/// Keeps `data` (a decompressed index just read and verified) when it has `entry`'s size
/// and sum. Best effort: a cache that cannot be written only costs the next read its
/// decompression.
pub fn save(dir: &Path, entry: &IndexEntry, data: &[u8]) {
    let Some(path) = path(dir, entry) else {
        return;
    };
    if path.exists() || !matches(data, entry) {
        return;
    }
    // Unique per process and call: a worker may read one repository from several threads.
    static SAVES: AtomicUsize = AtomicUsize::new(0);
    let n = SAVES.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".tmp.{}.{n}", std::process::id()));
    let written = fs::create_dir_all(dir)
        .and_then(|()| fs::write(&tmp, data))
        .and_then(|()| fs::rename(&tmp, &path));
    if let Err(err) = written {
        let _ = fs::remove_file(&tmp);
        tracing::debug!(path = %path.display(), %err, "repository index not kept");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::Checksum;

    fn entry_for(data: &[u8]) -> IndexEntry {
        let mut h = Hasher::new("sha256").unwrap();
        h.update(data);
        IndexEntry {
            size: data.len() as u64,
            checksum: Checksum {
                algo: "sha256".into(),
                hex: h.finish(),
            },
        }
    }

    /// A kept index is read back only with the size and sum it was kept under; one whose
    /// content changed since is removed, not read.
    #[test]
    fn kept_index_is_read_back_only_with_its_sum() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"Package: a\nVersion: 1\n\n";
        let entry = entry_for(text);
        assert_eq!(load(dir.path(), &entry), None);
        save(dir.path(), &entry, text);
        assert_eq!(
            load(dir.path(), &entry).as_deref(),
            Some("Package: a\nVersion: 1\n\n")
        );
        // Data that does not have the sum it is offered under is not kept.
        let other = entry_for(b"Package: b\n");
        save(dir.path(), &other, text);
        assert_eq!(load(dir.path(), &other), None);
        // A copy damaged in the cache is removed.
        let file = dir.path().join(&entry.checksum.hex);
        fs::write(&file, b"Package: a\nVersion: 2\n\n").unwrap();
        assert_eq!(load(dir.path(), &entry), None);
        assert!(!file.exists());
    }

    /// A sum that is not 64 hex digits names no file (it comes from a repository's
    /// `Release`, which must not choose a path).
    #[test]
    fn a_sum_cannot_name_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let entry = IndexEntry {
            size: 1,
            checksum: Checksum {
                algo: "sha256".into(),
                hex: format!("../{}", "a".repeat(61)),
            },
        };
        assert_eq!(path(dir.path(), &entry), None);
        save(dir.path(), &entry, b"x");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
