//! The content-addressed store under the cache directory (`--cache`, default
//! `/var/cache/obsbox`):
//!
//! ```text
//! CACHE/store/<sha256 of the package file>/tree/       the package unpacked, once
//!                                         /info.json   name, version, arch, size
//!                                         /control/    .deb control members (dpkg db),
//!                                                      or header.rpm: an rpm's lead and
//!                                                      headers without the payload (rpm db)
//! CACHE/rootfs/<sha256 of mode + package set>/tree/    a root assembled from the store
//!                                            /info.json
//! CACHE/indexes/<sha256 of the text>                   a repository index, decompressed
//!                                                      (see crate::repo::index_cache)
//! CACHE/tmp/                                           work in progress, renamed when done
//! ```
//!
//! Entries are immutable once renamed into place; a root is a farm of hard links into the
//! store, so it costs directories and inodes' link counts, not file data. The mtime of an
//! entry's `info.json` records its last use (for `cache gc`).
//!
//! Each `info.json` holds the digest of its tree's shape ([`tree_digest`]: every path, its
//! type, and the size and mtime of files and symlinks). A cached root is checked against it
//! whenever it is used, and a package entry whenever a root is laid down from it; an entry
//! whose tree differs (a file rewritten, truncated, removed or added; a broken `info.json`)
//! is reported, removed and made again from the packages. A write that keeps a file's size
//! and restores its mtime is not seen: that would take reading every file on every use.
//!
//! What the check is for: no job can write the store. Whatever runs code on a root gets an
//! overlay whose lower layers are store trees (see [`super::overlay`]), so a hostile job's
//! writes, in place or not, land in its own upper directory; that, not the digest, is what
//! keeps one job from changing what another sees. The digest catches what reaches the cache
//! outside obsbox's runs (a program or person on the host editing it, a damaged file
//! system), so that such a root is made again instead of handed out. It is therefore taken
//! whole on every use, every entry stat'ed: Linux offers no cheaper sign that some inode of a
//! tree changed (a file's ctime also moves when another root hard-links it, and directory
//! times do not see writes in place), and a verdict remembered from an earlier use would not
//! see a change made since. What makes it cheap is the walk: on every core, each directory
//! opened once and listed once, no file opened.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::packages::{deb, extract};
use crate::repo::index_cache::touch;
use crate::repo::{Format, PackageMeta};

/// Bumped when the layout of an entry changes, so old entries are not misread.
const STORE_VERSION: &str = "1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageInfo {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub format: Format,
    /// Bytes of file content unpacked.
    pub bytes: u64,
    /// Size of the package file.
    pub package_size: u64,
    /// [`tree_digest`] of `tree/` when the entry was made.
    #[serde(default)]
    pub tree: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RootfsInfo {
    pub mode: String,
    /// `name=version.arch` of each package, in the order they were laid down.
    pub packages: Vec<String>,
    /// The store keys of the packages.
    pub keys: Vec<String>,
    pub bytes: u64,
    /// [`tree_digest`] of `tree/` when the entry was made.
    #[serde(default)]
    pub tree: Option<String>,
}

/// One unpacked package in the store.
#[derive(Debug, Clone)]
pub struct Unpacked {
    pub key: String,
    pub dir: PathBuf,
    pub info: PackageInfo,
}

impl Unpacked {
    pub fn tree(&self) -> PathBuf {
        self.dir.join("tree")
    }
    pub fn control_dir(&self) -> PathBuf {
        self.dir.join("control")
    }
    /// An rpm's lead, signature and header, without the payload: what `rpm --justdb`
    /// registers in an install-mode root.
    pub fn rpm_header(&self) -> PathBuf {
        self.control_dir().join("header.rpm")
    }
}

pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens (creating) the cache directory. Its path is kept absolute: the cached trees
    /// become the roots and mount sources of install containers, which would resolve a
    /// relative path (`--cache DIR`) against their own bundle.
    pub fn open(dir: &Path) -> Result<Store> {
        let dir = &std::path::absolute(dir)
            .with_context(|| format!("cache directory {}", dir.display()))?;
        for sub in ["store", "rootfs", "tmp"] {
            fs::create_dir_all(dir.join(sub)).with_context(|| {
                format!("cannot create cache directory {}", dir.join(sub).display())
            })?;
        }
        // The cache is root's alone: its trees hold setuid programs and whatever packages
        // ship, which no other user of the host may run or write through.
        fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .with_context(|| format!("cannot make {} private", dir.display()))?;
        let version = dir.join("VERSION");
        match fs::read_to_string(&version) {
            Ok(v) if v.trim() == STORE_VERSION => {}
            Ok(v) => bail!(
                "{}: cache layout version {} is not {STORE_VERSION}; use another --cache or remove it",
                dir.display(),
                v.trim()
            ),
            Err(_) => fs::write(&version, format!("{STORE_VERSION}\n"))
                .with_context(|| format!("cannot write {}", version.display()))?,
        }
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn tmp_dir(&self, what: &str) -> Result<PathBuf> {
        let path = self.dir.join("tmp").join(format!(
            "{what}.{}.{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(path)
    }

    /// The unpacked package with this key, if the store has it (and marks it used).
    /// An entry whose `info.json` cannot be read is removed.
    pub fn package(&self, key: &str) -> Option<Unpacked> {
        let dir = self.dir.join("store").join(key);
        if !dir.exists() {
            return None;
        }
        let info: PackageInfo = match read_info(&dir.join("info.json")) {
            Ok(info) => info,
            Err(err) => {
                self.discard(&dir, key, &format!("{err:#}"));
                return None;
            }
        };
        let found = Unpacked {
            key: key.to_string(),
            dir,
            info,
        };
        if found.info.format == Format::Rpm && !found.rpm_header().is_file() {
            // Entries of obsbox versions that did not keep the header are made again.
            self.discard(&found.dir, key, "it has no control/header.rpm");
            return None;
        }
        touch(&found.dir.join("info.json"));
        Some(found)
    }

    /// As [`Store::package`], with the entry's tree checked against its digest: a corrupt
    /// entry is removed (and `None` returned), so it is unpacked again.
    pub fn verified_package(&self, key: &str) -> Option<Unpacked> {
        let found = self.package(key)?;
        match check_tree(&found.tree(), found.info.tree.as_deref()) {
            Ok(()) => Some(found),
            Err(why) => {
                let name = format!("{}={}", found.info.name, found.info.version);
                self.discard(&found.dir, &name, &why);
                None
            }
        }
    }

    /// Removes a corrupt entry (first moved aside, so a new one can take its place at once).
    fn discard(&self, dir: &Path, what: &str, why: &str) {
        tracing::warn!(
            "cache entry {} ({what}) is corrupt: {why}; making it again",
            dir.display()
        );
        let aside = self
            .tmp_dir("corrupt")
            .map(|t| t.join("entry"))
            .and_then(|to| fs::rename(dir, &to).map(|_| to).map_err(Into::into));
        // A job running on it keeps it (renamed away) until `gc` finds it unused.
        if super::overlay::lower_in_use(aside.as_deref().unwrap_or(dir)) {
            return;
        }
        let _ = remove_tree(aside.as_deref().unwrap_or(dir));
        if let Ok(to) = aside
            && let Some(parent) = to.parent()
        {
            let _ = fs::remove_dir(parent);
        }
    }

    /// Unpacks the package file into the store (unless it is there already) and returns
    /// it. The key is the SHA-256 of the file; `meta.checksum`, when it is a SHA-256, must
    /// match.
    pub fn unpack(&self, file: &Path, meta: &PackageMeta) -> Result<Unpacked> {
        let key = sha256_file(file)?;
        if let Some(expected) = &meta.checksum
            && expected.algo == "sha256"
            && !expected.hex.eq_ignore_ascii_case(&key)
        {
            bail!(
                "{}: checksum mismatch: the repository says sha256 {}, the file has {key}",
                file.display(),
                expected.hex
            );
        }
        if let Some(found) = self.verified_package(&key) {
            return Ok(found);
        }
        let work = self.tmp_dir(&key)?;
        let result = self.unpack_into(file, meta, &work);
        let info = match result {
            Ok(info) => info,
            Err(err) => {
                let _ = remove_tree(&work);
                return Err(err);
            }
        };
        let dir = self.dir.join("store").join(&key);
        if let Err(err) = fs::rename(&work, &dir) {
            // Another run put the same package in place first: use that one.
            let _ = remove_tree(&work);
            if !dir.join("info.json").exists() {
                return Err(err)
                    .with_context(|| format!("cannot move {} into the store", work.display()));
            }
        }
        Ok(Unpacked { key, dir, info })
    }

    fn unpack_into(&self, file: &Path, meta: &PackageMeta, work: &Path) -> Result<PackageInfo> {
        let tree = work.join("tree");
        let package_size = fs::metadata(file)
            .with_context(|| format!("cannot open {}", file.display()))?
            .len();
        let bytes = match meta.format {
            Format::Deb => {
                let extracted = deb::extract(file, &tree, extract::Options::default())?;
                let control_dir = work.join("control");
                fs::create_dir_all(&control_dir)?;
                fs::write(control_dir.join("control"), &extracted.control.control)?;
                for (name, content, _) in &extracted.control.members {
                    fs::write(control_dir.join(name), content)?;
                }
                write_file_list(&work.join("files"), &extracted.paths)?;
                extracted.bytes
            }
            Format::Rpm => {
                let package = crate::packages::rpm::RpmPackage::open(file)?;
                let mut extractor = extract::Extractor::new(
                    &tree,
                    &file.display().to_string(),
                    extract::Options::default(),
                )?;
                extractor.set_input_size(package_size);
                package.extract(&mut extractor)?;
                let control_dir = work.join("control");
                fs::create_dir_all(&control_dir)?;
                let mut header = Vec::new();
                fs::File::open(file)?
                    .take(package.payload_offset())
                    .read_to_end(&mut header)?;
                fs::write(control_dir.join("header.rpm"), header)?;
                let bytes = extractor.written();
                let paths = extractor.finish()?;
                write_file_list(&work.join("files"), &paths)?;
                bytes
            }
        };
        let info = PackageInfo {
            name: meta.name.clone(),
            version: meta.version.clone(),
            arch: meta.arch.clone(),
            format: meta.format,
            bytes,
            package_size,
            tree: Some(tree_digest(&tree)?),
        };
        fs::write(work.join("info.json"), serde_json::to_vec_pretty(&info)?)?;
        Ok(info)
    }

    /// The key of a root made of `packages` in `mode` (its [`super::Mode::cache_key`]).
    pub fn rootfs_key(mode: &str, packages: &[Unpacked]) -> String {
        let mut h = Sha256::new();
        h.update(format!("obsbox rootfs {STORE_VERSION}\n{mode}\n"));
        for p in packages {
            h.update(&p.key);
            h.update("\n");
        }
        hex::encode(h.finalize())
    }

    /// The cached root for `key`, if there is one and its tree is intact (and marks it
    /// used). A corrupt one is removed, so the caller builds it again.
    pub fn rootfs(&self, key: &str) -> Option<PathBuf> {
        let (tree, recorded) = self.rootfs_unchecked(key)?;
        let started = std::time::Instant::now();
        let checked = check_tree(&tree, Some(&recorded));
        tracing::debug!(
            elapsed_us = started.elapsed().as_micros() as u64,
            "cached root checked"
        );
        if let Err(why) = checked {
            self.discard(&self.dir.join("rootfs").join(key), "a root", &why);
            return None;
        }
        Some(tree)
    }

    /// The cached root for `key` and the digest its tree must have, not checked here: the
    /// caller checks it while copying the tree (see [`super::farm::link_tree_with_digest`])
    /// and calls [`Store::discard_rootfs`] when it differs. An entry without a digest is
    /// removed.
    pub fn rootfs_unchecked(&self, key: &str) -> Option<(PathBuf, String)> {
        let dir = self.dir.join("rootfs").join(key);
        if !dir.exists() {
            return None;
        }
        let recorded = read_info::<RootfsInfo>(&dir.join("info.json"))
            .map_err(|e| format!("{e:#}"))
            .and_then(|info| {
                info.tree
                    .ok_or_else(|| "it has no recorded digest".to_string())
            });
        match recorded {
            Ok(digest) => {
                touch(&dir.join("info.json"));
                Some((dir.join("tree"), digest))
            }
            Err(why) => {
                self.discard(&dir, "a root", &why);
                None
            }
        }
    }

    /// Removes the cached root whose tree is `tree`, found corrupt by the caller.
    pub fn discard_rootfs(&self, tree: &Path) {
        if let Some(dir) = tree.parent() {
            self.discard(dir, "a root", &changed(tree));
        }
    }

    /// Builds the root for `key`: the packages laid down in order (later ones win where
    /// two ship the same path), then `finish` (e.g. the install step) on the tree, then
    /// the entry is renamed into place. Returns the tree. A package whose entry in `laid`
    /// is false is left out of the farm: `finish` lays it down itself (after its preinst);
    /// `laid` shorter than `packages` lays the rest.
    pub fn build_rootfs(
        &self,
        key: &str,
        mode: &str,
        packages: &[Unpacked],
        laid: &[bool],
        finish: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<PathBuf> {
        let work = self.tmp_dir(&format!("rootfs-{key}"))?;
        let tree = work.join("tree");
        let result = (|| -> Result<()> {
            let farm: Vec<Unpacked> = packages
                .iter()
                .zip(laid.iter().chain(std::iter::repeat(&true)))
                .filter(|(_, laid)| **laid)
                .map(|(p, _)| p.clone())
                .collect();
            super::farm::merge(&farm, &tree)?;
            finish(&tree)?;
            let info = RootfsInfo {
                mode: mode.to_string(),
                packages: packages
                    .iter()
                    .map(|p| format!("{}={}.{}", p.info.name, p.info.version, p.info.arch))
                    .collect(),
                keys: packages.iter().map(|p| p.key.clone()).collect(),
                bytes: packages.iter().map(|p| p.info.bytes).sum(),
                tree: Some(tree_digest(&tree)?),
            };
            fs::write(work.join("info.json"), serde_json::to_vec_pretty(&info)?)?;
            Ok(())
        })();
        if let Err(err) = result {
            let _ = remove_tree(&work);
            return Err(err);
        }
        let dir = self.dir.join("rootfs").join(key);
        if fs::rename(&work, &dir).is_err() {
            let _ = remove_tree(&work);
            if !dir.join("info.json").exists() {
                bail!("cannot move {} into the cache", work.display());
            }
        }
        Ok(dir.join("tree"))
    }

    /// Every entry of the cache, oldest use first.
    pub fn entries(&self) -> Result<Vec<CacheEntry>> {
        let mut out = Vec::new();
        for (kind, sub) in [(EntryKind::Package, "store"), (EntryKind::Rootfs, "rootfs")] {
            let dir = self.dir.join(sub);
            for entry in
                fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
            {
                let path = entry?.path();
                let info_path = path.join("info.json");
                let Ok(info_meta) = fs::metadata(&info_path) else {
                    continue;
                };
                let (name, size) = match kind {
                    EntryKind::Package => match read_info::<PackageInfo>(&info_path) {
                        Ok(i) => (format!("{}={}.{}", i.name, i.version, i.arch), i.bytes),
                        Err(_) => continue,
                    },
                    EntryKind::Rootfs => match read_info::<RootfsInfo>(&info_path) {
                        // The files are hard links into the store; the root's own cost is
                        // its directories, which a walk would have to count: report 0.
                        Ok(i) => (
                            format!("{} root of {} packages", i.mode, i.packages.len()),
                            0,
                        ),
                        Err(_) => continue,
                    },
                    EntryKind::Index => unreachable!("indexes are listed below"),
                };
                out.push(CacheEntry {
                    kind,
                    key: path
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned(),
                    name,
                    size,
                    last_used: info_meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    path,
                });
            }
        }
        let indexes = crate::repo::index_cache::dir(&self.dir);
        for entry in fs::read_dir(&indexes).into_iter().flatten().flatten() {
            let key = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if key.starts_with('.') || !meta.is_file() {
                continue;
            }
            out.push(CacheEntry {
                kind: EntryKind::Index,
                key,
                name: "repository index".to_string(),
                size: meta.len(),
                last_used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                path: entry.path(),
            });
        }
        out.sort_by_key(|e| e.last_used);
        Ok(out)
    }

    /// Removes the least recently used entries until the recorded sizes add up to at most
    /// `max_size` bytes; also clears leftovers of interrupted runs in `tmp/`. Returns what
    /// was removed.
    pub fn gc(&self, max_size: u64) -> Result<Vec<CacheEntry>> {
        let tmp = self.dir.join("tmp");
        for entry in fs::read_dir(&tmp)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Only leftovers of processes that are gone.
            let pid = name.rsplit('.').nth(1).and_then(|p| p.parse::<i32>().ok());
            if pid.is_some_and(|pid| !crate::proc::alive(pid)) {
                // An install's overlay a dead process left mounted.
                super::overlay::unmount_under(&entry.path());
                // A corrupt root put aside that a job still runs on stays for now.
                if !super::overlay::lower_in_use(&entry.path()) {
                    remove_tree(&entry.path())?;
                }
            }
        }
        // Indexes half written by processes that are gone (`.tmp.PID.N`).
        let indexes = crate::repo::index_cache::dir(&self.dir);
        for entry in fs::read_dir(&indexes).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix(".tmp.")
                .and_then(|rest| rest.split('.').next())
                .and_then(|p| p.parse::<i32>().ok());
            if pid.is_some_and(|pid| !crate::proc::alive(pid)) {
                let _ = fs::remove_file(entry.path());
            }
        }
        let entries = self.entries()?;
        let mut total: u64 = entries.iter().map(|e| e.size).sum();
        let mut removed = Vec::new();
        let mut kept = Vec::new();
        for entry in entries {
            if total > max_size && entry.kind != EntryKind::Rootfs {
                if entry.kind == EntryKind::Index {
                    fs::remove_file(&entry.path)
                        .with_context(|| format!("cannot remove {}", entry.path.display()))?;
                } else {
                    remove_tree(&entry.path)?;
                }
                total -= entry.size;
                removed.push(entry);
            } else {
                kept.push(entry);
            }
        }
        // A root whose packages left the store goes too: the store is what a root is
        // verified and rebuilt from; but not while a job runs on it (a lower layer of its
        // overlay): the next gc takes it. (Private copies keep their files: hard links.)
        let present: std::collections::HashSet<&str> = kept
            .iter()
            .filter(|e| e.kind == EntryKind::Package)
            .map(|e| e.key.as_str())
            .collect();
        let mut stale = Vec::new();
        for entry in &kept {
            if entry.kind != EntryKind::Rootfs {
                continue;
            }
            let info = read_info::<RootfsInfo>(&entry.path.join("info.json"));
            if info.is_ok_and(|i| i.keys.iter().any(|k| !present.contains(k.as_str())))
                && !super::overlay::lower_in_use(&entry.path)
            {
                stale.push(entry.clone());
            }
        }
        for entry in stale {
            remove_tree(&entry.path)?;
            removed.push(entry);
        }
        super::remembered::prune(self);
        Ok(removed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Package,
    Rootfs,
    Index,
}

#[derive(Debug, Clone)]
pub struct CacheEntry {
    pub kind: EntryKind,
    pub key: String,
    pub name: String,
    pub size: u64,
    pub last_used: SystemTime,
    pub path: PathBuf,
}

/// The package's paths, one per line with a leading `/` (dpkg's `.list` format).
fn write_file_list(dest: &Path, paths: &[Vec<u8>]) -> Result<()> {
    let mut list = Vec::new();
    for path in paths {
        list.push(b'/');
        list.extend_from_slice(path);
        list.push(b'\n');
    }
    fs::write(dest, list).with_context(|| format!("cannot write {}", dest.display()))
}

/// Checks `tree` against the digest its entry recorded.
fn check_tree(tree: &Path, recorded: Option<&str>) -> std::result::Result<(), String> {
    let Some(recorded) = recorded else {
        return Err("it has no recorded digest".to_string());
    };
    match tree_digest(tree) {
        Ok(now) if now == recorded => Ok(()),
        Ok(_) => Err(changed(tree)),
        Err(err) => Err(format!("{err:#}")),
    }
}

/// Why a tree whose digest no longer matches is discarded.
fn changed(tree: &Path) -> String {
    format!(
        "{} differs from when it was made (a file changed, went or came)",
        tree.display()
    )
}

/// SHA-256 over a tree's shape, in name order: each path with its type, and the size and
/// mtime of regular files and symlinks. Reads directories and inodes, never file data.
/// Directories are walked on every core ([`super::farm::walk_parallel`]) and read once,
/// each opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`: by its name in its
/// parent (kept open until its subdirectories are opened) down to [`OPEN_BY_PARENT`] levels,
/// and by its path from the top below that, so the descriptors a walk holds stay few
/// however deep or wide the tree is. A directory renamed or replaced by a symlink during
/// the walk cannot lead it out of the tree. A tree nesting deeper than
/// [`extract::MAX_DEPTH`] directories is refused: no package makes one. The digest is that
/// of a sequential walk in name order.
pub fn tree_digest(root: &Path) -> Result<String> {
    use std::cell::RefCell;
    use std::mem::MaybeUninit;
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::sync::{Arc, Mutex};

    /// A directory to list: opened from `parent` by its last name, or from the top by its
    /// path when `parent` is `None`.
    struct Job {
        parent: Option<Arc<OwnedFd>>,
        rel: Vec<u8>,
        depth: usize,
    }
    thread_local! {
        /// The `getdents64` buffer of each walker, kept across directories.
        static LISTING: RefCell<Vec<MaybeUninit<u8>>> =
            RefCell::new(vec![MaybeUninit::uninit(); 32 * 1024]);
    }
    let top = Arc::new(
        super::farm::open_dir(root).with_context(|| format!("cannot open {}", root.display()))?,
    );
    let all = Mutex::new(super::farm::Shapes::default());
    let first = Job {
        parent: None,
        rel: Vec::new(),
        depth: 0,
    };
    super::farm::walk_parallel(first, |job: Job| {
        let opened = match (&job.parent, job.rel.iter().rposition(|&b| b == b'/')) {
            _ if job.rel.is_empty() => top.try_clone().map_err(Into::into),
            (Some(parent), slash) => {
                let name = &job.rel[slash.map_or(0, |at| at + 1)..];
                std::ffi::CString::new(name)
                    .context("NUL in a file name")
                    .and_then(|name| Ok(extract::open_dir_beneath(parent, &name)?))
            }
            (None, _) => std::ffi::CString::new(job.rel.as_slice())
                .context("NUL in a file name")
                .and_then(|path| Ok(extract::open_dir_beneath(&top, &path)?)),
        };
        let dir = opened.with_context(|| {
            format!(
                "cannot open {} in {}",
                crate::text::one_line_bytes(&job.rel),
                root.display()
            )
        })?;
        drop(job.parent);
        let dir = Arc::new(dir);
        let mut shapes = super::farm::DirShape::default();
        let mut subdirs = Vec::new();
        LISTING.with_borrow_mut(|buf| -> Result<()> {
            // getdents64 straight into a buffer: no `fdopendir` (its stat, fcntls and seek
            // cost four system calls a directory) and no copy of each entry.
            let mut listing = rustix::fs::RawDir::new(&*dir, buf);
            while let Some(entry) = listing.next() {
                let entry = entry.with_context(|| format!("cannot read {}", root.display()))?;
                let name = entry.file_name();
                if name.to_bytes() == b"." || name.to_bytes() == b".." {
                    continue;
                }
                let is_dir = shapes
                    .add(dir.as_raw_fd(), name, d_type(entry.file_type()))
                    .with_context(|| format!("cannot stat {}", root.display()))?;
                if !is_dir {
                    continue;
                }
                let mut path = Vec::with_capacity(job.rel.len() + 1 + name.to_bytes().len());
                path.extend_from_slice(&job.rel);
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(name.to_bytes());
                if job.depth >= extract::MAX_DEPTH {
                    bail!(
                        "{}: {} nests deeper than {} directories",
                        root.display(),
                        crate::text::one_line_bytes(&path),
                        extract::MAX_DEPTH
                    );
                }
                subdirs.push(Job {
                    parent: (job.depth < OPEN_BY_PARENT).then(|| Arc::clone(&dir)),
                    rel: path,
                    depth: job.depth + 1,
                });
            }
            Ok(())
        })?;
        all.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(&job.rel, shapes);
        Ok(subdirs)
    })?;
    Ok(all.into_inner().unwrap_or_else(|p| p.into_inner()).digest())
}

/// How many levels down [`tree_digest`] opens a directory by its name in its parent, which
/// keeps the parent's descriptor open while its subdirectories wait: at most this many per
/// walker then. Real roots are at most a dozen or so directories deep.
const OPEN_BY_PARENT: usize = 32;

/// A directory entry's type as rustix reads it, as nix names it (`None`: not told).
fn d_type(kind: rustix::fs::FileType) -> Option<nix::dir::Type> {
    use nix::dir::Type;
    use rustix::fs::FileType;
    Some(match kind {
        FileType::RegularFile => Type::File,
        FileType::Directory => Type::Directory,
        FileType::Symlink => Type::Symlink,
        FileType::Fifo => Type::Fifo,
        FileType::Socket => Type::Socket,
        FileType::CharacterDevice => Type::CharacterDevice,
        FileType::BlockDevice => Type::BlockDevice,
        FileType::Unknown => return None,
    })
}

fn read_info<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("{}: broken cache entry", path.display()))
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Removes a tree the cache owns (or a file, or nothing). Iterative, never following a
/// symlink: std's `remove_dir_all` recurses once per level, and a tree built by a hostile
/// package or maintainer script may be deeper than any stack.
pub fn remove_tree(path: &Path) -> Result<()> {
    let fail = |e: nix::errno::Errno| anyhow::anyhow!("cannot remove {}: {e}", path.display());
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        bail!("cannot remove {}: not a removable path", path.display());
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let dir = match super::farm::open_dir(parent) {
        Ok(dir) => dir,
        Err(e) if e.downcast_ref::<nix::errno::Errno>() == Some(&nix::errno::Errno::ENOENT) => {
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
    };
    let name = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(name))
        .context("NUL in a path")?;
    match extract::remove_tree_at(&dir, &name) {
        Ok(()) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// A chain of `depth` directories `d/d/…` below `top`, made one level at a time from the
    /// last one's descriptor (so no path is ever longer than one name), a file at the bottom.
    fn chain(top: &Path, depth: usize) {
        use nix::fcntl::OFlag;
        use nix::sys::stat::{Mode, mkdirat};
        fs::create_dir_all(top).unwrap();
        let mut dir = super::super::farm::open_dir(top).unwrap();
        for _ in 0..depth {
            mkdirat(Some(dir.as_raw_fd()), c"d", Mode::from_bits_truncate(0o755)).unwrap();
            dir = crate::sys::openat(
                &dir,
                c"d",
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .unwrap();
        }
        crate::sys::openat(
            &dir,
            c"file",
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .unwrap();
    }

    /// A tree 100,000 directories deep (as a maintainer script may leave in a root) is
    /// walked without recursion: its digest, a copy and a merge of it are refused as deeper
    /// than any package goes, and it is removed whole. (Recursive walks overflowed the
    /// stack here: the test process died of SIGABRT.)
    #[test]
    fn walks_of_a_tree_100000_deep_neither_overflow_nor_recurse() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("store-entry");
        let tree = top.join("tree");
        chain(&tree, 100_000);
        let err = format!("{:#}", tree_digest(&tree).unwrap_err());
        assert!(err.contains("nests deeper than 1024 directories"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");

        let copy = dir.path().join("copy");
        let err = format!(
            "{:#}",
            super::super::farm::link_tree(&tree, &copy).unwrap_err()
        );
        assert!(err.contains("nests deeper than 1024 directories"), "{err}");
        remove_tree(&copy).unwrap();

        let package = Unpacked {
            key: "k".into(),
            dir: top.clone(),
            info: PackageInfo {
                name: "deep".into(),
                version: "1".into(),
                arch: "amd64".into(),
                format: Format::Deb,
                bytes: 0,
                package_size: 0,
                tree: None,
            },
        };
        let merged = dir.path().join("merged");
        let err = format!(
            "{:#}",
            super::super::farm::merge(&[package], &merged).unwrap_err()
        );
        assert!(err.contains("nests deeper than 1024 directories"), "{err}");
        remove_tree(&merged).unwrap();

        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
        // Removing what is not there is done.
        remove_tree(&tree).unwrap();
    }

    /// The bound is exact: 1024 nested directories are walked, 1025 are not.
    #[test]
    fn tree_digest_walks_up_to_the_depth_bound() {
        let dir = tempfile::tempdir().unwrap();
        chain(&dir.path().join("ok"), extract::MAX_DEPTH);
        chain(&dir.path().join("deep"), extract::MAX_DEPTH + 1);
        let ok = tree_digest(&dir.path().join("ok")).unwrap();
        assert_eq!(ok.len(), 64);
        assert!(tree_digest(&dir.path().join("deep")).is_err());
        let copy = dir.path().join("copy");
        super::super::farm::link_tree(&dir.path().join("ok"), &copy).unwrap();
        assert_eq!(tree_digest(&copy).unwrap(), ok);
    }

    /// The digest of the parallel walk is the one a plain sequential walk in name order
    /// takes (so entries recorded by earlier obsbox versions still match), and it sees a file
    /// rewritten in place with its mtime put back, a file added, removed or renamed, and a
    /// symlink pointed elsewhere.
    #[test]
    fn tree_digest_is_the_sequential_walks_and_sees_changes() {
        use std::os::unix::fs::MetadataExt;
        /// The records in name order with `/` first, as the sequential walk hashed them.
        fn reference(root: &Path) -> String {
            let mut records: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            let mut todo = vec![PathBuf::new()];
            while let Some(rel) = todo.pop() {
                for e in fs::read_dir(root.join(&rel)).unwrap() {
                    let e = e.unwrap();
                    let path = rel.join(e.file_name());
                    let text = format!("/{}", path.display());
                    let md = fs::symlink_metadata(e.path()).unwrap();
                    let tail = if md.is_dir() {
                        todo.push(path);
                        "\0Directory\n".to_string()
                    } else {
                        let tag = if md.is_file() { 'f' } else { 'l' };
                        format!("\0{tag} {} {}.{}\n", md.size(), md.mtime(), md.mtime_nsec())
                    };
                    let key = text
                        .bytes()
                        .map(|b| if b == b'/' { 0 } else { b })
                        .collect();
                    records.push((key, [text.as_bytes(), tail.as_bytes()].concat()));
                }
            }
            records.sort();
            let mut h = Sha256::new();
            for (_, r) in records {
                h.update(r);
            }
            hex::encode(h.finalize())
        }
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        for d in [
            "usr/bin",
            "usr/lib/x86_64-linux-gnu/perl",
            "usr/share/doc/a",
            "usr/share/doc/a-b",
            "etc",
        ] {
            fs::create_dir_all(tree.join(d)).unwrap();
        }
        for i in 0..300 {
            fs::write(tree.join(format!("usr/share/doc/a/f{i}")), vec![b'x'; i]).unwrap();
        }
        fs::write(tree.join("usr/bin/gcc"), b"compiler").unwrap();
        fs::write(tree.join("usr/share/doc/a-b/copyright"), b"text").unwrap();
        fs::write(tree.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("usr/bin", tree.join("bin")).unwrap();
        let digest = tree_digest(&tree).unwrap();
        assert_eq!(digest, reference(&tree));
        assert_eq!(tree_digest(&tree).unwrap(), digest, "the same every time");

        let gcc = tree.join("usr/bin/gcc");
        let mtime = fs::metadata(&gcc).unwrap().modified().unwrap();
        fs::write(&gcc, b"a compiler of another project").unwrap();
        fs::File::options()
            .write(true)
            .open(&gcc)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let rewritten = tree_digest(&tree).unwrap();
        assert_ne!(rewritten, digest, "a file rewritten in place");
        assert_eq!(rewritten, reference(&tree));

        fs::write(tree.join("usr/lib/x86_64-linux-gnu/perl/new.pm"), b"1;").unwrap();
        let added = tree_digest(&tree).unwrap();
        assert_ne!(added, rewritten, "a file added deep in the tree");
        fs::rename(
            tree.join("usr/lib/x86_64-linux-gnu/perl/new.pm"),
            tree.join("usr/lib/x86_64-linux-gnu/perl/old.pm"),
        )
        .unwrap();
        let renamed = tree_digest(&tree).unwrap();
        assert_ne!(renamed, added, "a file renamed");
        fs::remove_file(tree.join("usr/lib/x86_64-linux-gnu/perl/old.pm")).unwrap();
        assert_eq!(
            tree_digest(&tree).unwrap(),
            rewritten,
            "the file removed again"
        );
        fs::remove_file(tree.join("bin")).unwrap();
        std::os::unix::fs::symlink("usr/sbin", tree.join("bin")).unwrap();
        assert_ne!(
            tree_digest(&tree).unwrap(),
            rewritten,
            "a symlink pointed elsewhere"
        );
        assert_eq!(tree_digest(&tree).unwrap(), reference(&tree));
    }
}
