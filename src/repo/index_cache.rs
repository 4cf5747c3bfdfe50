//! Decompressed repository indexes kept in the cache directory (`CACHE/indexes/<sha256>`),
//! named by the SHA256 the repository's metadata gives for the uncompressed index (a
//! Debian `Release`'s entry for `Packages`, an rpm-md `repomd.xml`'s `open-checksum`).
//!
//! A job reads the same `Packages.xz` over and over (once for its toolbox, once for its
//! buildroot, again for the next job): decompressing it is most of reading a repository
//! (≈ 15 ms for an index of 800 packages). A kept copy is used only while the repository's
//! current metadata still names it, and only with content that has that sum, so a changed
//! repository or a damaged copy is never used; a damaged copy is removed.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Checksum;
use super::fetch::Hasher;

/// The cache's directory of indexes below the cache directory `cache`.
pub fn dir(cache: &Path) -> PathBuf {
    cache.join("indexes")
}

/// An index file as a `Release` file lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub size: u64,
    pub checksum: Checksum,
}

/// Where the index with `entry`'s sum lives, if the sum can name a file.
fn path(dir: &Path, entry: &IndexEntry) -> Option<PathBuf> {
    let hex = &entry.checksum.hex;
    (entry.checksum.algo == "sha256"
        && hex.len() == 64
        && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    .then(|| dir.join(hex.to_ascii_lowercase()))
}

/// Reads the kept index with `entry`'s sum through `read` (for indexes too large to hold in
/// memory, as an rpm-md primary can be), hashing what `read` takes and the rest after it.
/// `None` when there is no such copy, when its content does not have the sum (the copy is
/// then removed and whatever `read` made of it dropped), or when `read` fails (the caller
/// then reads the repository itself and reports its errors).
fn read_kept<T>(
    dir: &Path,
    entry: &IndexEntry,
    read: impl FnOnce(&mut dyn BufRead) -> anyhow::Result<T>,
) -> Option<T> {
    let path = path(dir, entry)?;
    let file = fs::File::open(&path).ok()?;
    let mut checked = super::fetch::Verifying::new(file, Some(&entry.checksum)).ok()?;
    let made = read(&mut BufReader::with_capacity(256 * 1024, &mut checked));
    let intact = checked
        .verify(entry.size, &super::source::Location::Path(path.clone()))
        .is_ok();
    if !intact {
        tracing::warn!(path = %path.display(), "kept repository index damaged: removed");
        let _ = fs::remove_file(&path);
        return None;
    }
    touch(&path);
    made.ok()
}

/// The index at `loc` read by `read`: its kept copy in the cache (`keep`) when that is
/// intact, else as it arrives ([`read_streamed`]). What reading a damaged kept copy charged
/// to `budget` is given back: that parse is dropped and the index read again.
pub fn read_kept_or_streamed<T>(
    loc: &super::source::Location,
    expected: Option<&super::Checksum>,
    size: u64,
    keep: Option<(&IndexEntry, &Path)>,
    budget: &super::IndexBudget,
    read: impl Fn(&mut dyn BufRead) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if let Some((entry, dir)) = keep {
        let before = budget.saved();
        if let Some(made) = read_kept(dir, entry, &read) {
            tracing::debug!(index = %loc, "repository index kept in the cache");
            return Ok(made);
        }
        budget.restore(before);
    }
    read_streamed(loc, expected, size, keep, read)
}

/// Reads the index at `loc` as it streams in: decompressed when it is compressed, kept
/// (see [`read_keeping`]) and taken by `read`, then checked against `expected` and `size`
/// (when not 0) at its end. A sum that does not match is reported rather than whatever
/// `read` found in the damaged index; nothing but a buffer of it is held.
fn read_streamed<T>(
    loc: &super::source::Location,
    expected: Option<&super::Checksum>,
    size: u64,
    keep: Option<(&IndexEntry, &Path)>,
    read: impl FnOnce(&mut dyn BufRead) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    use anyhow::Context as _;
    let raw = loc
        .open_optional()?
        .with_context(|| format!("{loc}: not found"))?;
    let mut checked = super::fetch::Verifying::new(raw, expected)?;
    let made = crate::packages::compress::decompress(&mut checked)
        .with_context(|| format!("{loc}: cannot decompress"))
        .and_then(|reader| read_keeping(keep, reader, read));
    checked.verify(size, loc)?;
    made
}

/// Runs `read` over `reader` (an index just downloaded, verified and being decompressed)
/// and, with `keep` (its uncompressed sum and the cache's index directory), keeps what
/// passes through for the next read: renamed into place only when `read` took all of it
/// and it has that sum. Keeping is best effort: a cache that cannot be written only costs
/// the next read its decompression.
pub fn read_keeping<T>(
    keep: Option<(&IndexEntry, &Path)>,
    reader: impl Read,
    read: impl FnOnce(&mut dyn BufRead) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    read_keeping_up_to(keep, reader, super::MAX_INDEX, read)
}

fn read_keeping_up_to<T>(
    keep: Option<(&IndexEntry, &Path)>,
    reader: impl Read,
    limit: u64,
    read: impl FnOnce(&mut dyn BufRead) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let reader = crate::packages::compress::Limited::new(reader, limit, "a repository index");
    let mut keeper = keep.and_then(|(entry, dir)| Keeper::new(dir, entry));
    let made = match &mut keeper {
        Some(k) => read(&mut BufReader::new(k.tee(reader)))?,
        None => read(&mut BufReader::new(reader))?,
    };
    if let Some(k) = keeper {
        k.finish();
    }
    Ok(made)
}

/// Keeps an index while it streams past (see [`Keeper::tee`]): written to a temporary file
/// and hashed, renamed into place by [`Keeper::finish`] only with the expected sum.
struct Keeper {
    tmp: PathBuf,
    path: PathBuf,
    entry: IndexEntry,
    file: Option<fs::File>,
    hasher: Option<Hasher>,
    len: u64,
}

impl Keeper {
    /// A keeper for the index with `entry`'s sum; `None` when it is kept already or cannot be.
    fn new(dir: &Path, entry: &IndexEntry) -> Option<Keeper> {
        let path = path(dir, entry)?;
        if path.exists() {
            return None;
        }
        let hasher = Hasher::new(&entry.checksum.algo).ok()?;
        let tmp = temporary(dir);
        let file = fs::create_dir_all(dir)
            .and_then(|()| fs::File::create(&tmp))
            .ok()?;
        Some(Keeper {
            tmp,
            path,
            entry: entry.clone(),
            file: Some(file),
            hasher: Some(hasher),
            len: 0,
        })
    }

    /// `reader`, with everything read through it kept.
    fn tee<R: Read>(&mut self, reader: R) -> impl Read {
        Tee {
            inner: reader,
            keeper: self,
        }
    }

    fn write(&mut self, data: &[u8]) {
        if let Some(h) = &mut self.hasher {
            h.update(data);
        }
        self.len += data.len() as u64;
        if let Some(file) = &mut self.file
            && file.write_all(data).is_err()
        {
            self.file = None;
        }
    }

    /// Renames the copy into place when it is complete and has the sum.
    fn finish(mut self) {
        let (Some(file), Some(hasher)) = (self.file.take(), self.hasher.take()) else {
            return;
        };
        drop(file);
        let intact = (self.entry.size == 0 || self.len == self.entry.size)
            && hasher
                .finish()
                .eq_ignore_ascii_case(&self.entry.checksum.hex);
        if intact && fs::rename(&self.tmp, &self.path).is_ok() {
            return;
        }
        tracing::debug!(path = %self.path.display(), "repository index not kept");
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        // Whatever was not renamed into place.
        let _ = fs::remove_file(&self.tmp);
    }
}

struct Tee<'a, R> {
    inner: R,
    keeper: &'a mut Keeper,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.keeper.write(&buf[..n]);
        Ok(n)
    }
}

/// A temporary name in `dir`, unique per process and call (a worker may read repositories
/// from several threads); `cache gc` removes those of processes that are gone.
fn temporary(dir: &Path) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".tmp.{}.{n}", std::process::id()))
}

/// Marks a cache entry (an index, a package, a root) used (its mtime is its last use, for `cache gc`).
pub(crate) fn touch(path: &Path) {
    let now = nix::sys::time::TimeSpec::UTIME_NOW;
    let _ = nix::sys::stat::utimensat(
        None,
        path,
        &now,
        &now,
        nix::sys::stat::UtimensatFlags::FollowSymlink,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::Checksum;

    #[test]
    fn an_index_expanding_past_the_limit_is_refused() {
        let read = |r: &mut dyn BufRead| -> anyhow::Result<usize> {
            let mut text = String::new();
            r.read_to_string(&mut text)?;
            Ok(text.len())
        };
        let data = vec![b'a'; 100_000];
        assert_eq!(
            read_keeping_up_to(None, &data[..], 100_000, read).unwrap(),
            100_000
        );
        let e = read_keeping_up_to(None, &data[..], 99_999, read).unwrap_err();
        assert_eq!(
            e.to_string(),
            "expands to more than 99999 bytes, the limit for a repository index \
             (decompression bomb?)"
        );
    }

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

    /// Reads a whole index as text (what the Debian reader does).
    fn as_text(r: &mut dyn BufRead) -> anyhow::Result<String> {
        let mut t = String::new();
        r.read_to_string(&mut t)?;
        Ok(t)
    }

    /// A kept index is read back only with the size and sum it was kept under; one whose
    /// content changed since is removed, not read.
    #[test]
    fn kept_index_is_read_back_only_with_its_sum() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"Package: a\nVersion: 1\n\n";
        let entry = entry_for(text);
        assert_eq!(read_kept(dir.path(), &entry, as_text), None);
        read_keeping(Some((&entry, dir.path())), &text[..], as_text).unwrap();
        assert_eq!(
            read_kept(dir.path(), &entry, as_text).as_deref(),
            Some("Package: a\nVersion: 1\n\n")
        );
        // Data that does not have the sum it is offered under is not kept.
        let other = entry_for(b"Package: b\n");
        read_keeping(Some((&other, dir.path())), &text[..], as_text).unwrap();
        assert_eq!(read_kept(dir.path(), &other, as_text), None);
        // A copy damaged in the cache is removed.
        let file = dir.path().join(&entry.checksum.hex);
        fs::write(&file, b"Package: a\nVersion: 2\n\n").unwrap();
        assert_eq!(read_kept(dir.path(), &entry, as_text), None);
        assert!(!file.exists());
    }

    /// A streamed index is kept only when all of it went through and it has the sum; a
    /// keeper dropped half-way, or fed other data, leaves nothing behind.
    #[test]
    fn streamed_index_kept_only_whole_and_with_its_sum() {
        use std::io::Read as _;
        let dir = tempfile::tempdir().unwrap();
        let text = b"<metadata>...</metadata>".repeat(1000);
        let entry = entry_for(&text);
        let stream = |keeper: &mut Keeper, data: &[u8], upto: usize| {
            let mut out = vec![0; upto];
            keeper.tee(data).read_exact(&mut out).unwrap();
        };
        // Dropped half-way.
        let mut k = Keeper::new(dir.path(), &entry).unwrap();
        stream(&mut k, &text, text.len() / 2);
        drop(k);
        // Other data under this sum.
        let mut k = Keeper::new(dir.path(), &entry).unwrap();
        let other = b"<metadata>!!!</metadata>".repeat(1000);
        stream(&mut k, &other, other.len());
        k.finish();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        // The whole index.
        let mut k = Keeper::new(dir.path(), &entry).unwrap();
        stream(&mut k, &text, text.len());
        k.finish();
        let read = read_kept(dir.path(), &entry, |r| {
            let mut all = Vec::new();
            r.read_to_end(&mut all)?;
            Ok(all)
        });
        assert_eq!(read.as_deref(), Some(&text[..]));
        assert!(Keeper::new(dir.path(), &entry).is_none(), "kept twice");
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
        read_keeping(Some((&entry, dir.path())), &b"x"[..], as_text).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
