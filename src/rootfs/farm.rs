//! Hard-link farms: a root assembled from unpacked packages, and a copy of a cached root
//! whose files are links to the same inodes.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use anyhow::{Context, Result};
use nix::dir::{Dir, Type};
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};

use super::store::Unpacked;
use crate::packages::extract::{
    Extractor, MAX_DEPTH, Options, file_id, list_dir, open_dir_at, open_parent,
};
use crate::packages::{Entry, EntryKind, EntryMeta, Sink};

/// Lays the packages' trees down in order into `dst` through the safe extractor: a
/// package's symlinks cannot lead a later package's files out of the root.
pub fn merge(packages: &[Unpacked], dst: &Path) -> Result<()> {
    merge_with(packages, dst, false)
}

/// As [`merge`], into a root on another file system than the store (an overlay being
/// installed): every file is copied through the extractor instead of linked, so the root
/// gets inodes of its own.
pub fn merge_copying(packages: &[Unpacked], dst: &Path) -> Result<()> {
    merge_with(packages, dst, true)
}

fn merge_with(packages: &[Unpacked], dst: &Path, copy: bool) -> Result<()> {
    let mut extractor = Extractor::new(dst, "rootfs", Options::default())?;
    for package in packages {
        let label = format!("{}={}", package.info.name, package.info.version);
        extractor.begin_archive(&label);
        let tree = package.tree();
        let dir = open_dir(&tree).with_context(|| format!("cannot open {}", tree.display()))?;
        merge_dir(&mut extractor, &dir, &mut Vec::new(), copy)
            .with_context(|| format!("cannot lay down {label}"))?;
    }
    extractor.finish()?;
    Ok(())
}

/// Feeds the tree `top` (a package in the store) to the extractor in name order, directories
/// before their contents. Iterative: a stack of sorted listings, one directory open at a
/// time (`..` checked on the way up); deeper than [`MAX_DEPTH`] is refused.
fn merge_dir(
    extractor: &mut Extractor,
    top: &OwnedFd,
    prefix: &mut Vec<u8>,
    copy: bool,
) -> Result<()> {
    struct Level {
        names: std::vec::IntoIter<CString>,
        prefix_len: usize,
        parent: (u64, u64),
    }
    let mut dir = top.try_clone()?;
    let mut stack = vec![Level {
        names: names(&dir)?.into_iter(),
        prefix_len: prefix.len(),
        parent: (0, 0),
    }];
    while let Some(level) = stack.last_mut() {
        let Some(name) = level.names.next() else {
            let done = stack.pop().expect("not empty");
            prefix.truncate(done.prefix_len);
            if !stack.is_empty() {
                dir = open_parent(&dir, done.parent)?;
            }
            continue;
        };
        let st = nix::sys::stat::fstatat(
            Some(dir.as_raw_fd()),
            name.as_c_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(name.as_bytes());
        let meta = EntryMeta {
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            mtime: st.st_mtime,
            capability: None,
        };
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        if kind == SFlag::S_IFDIR {
            let entry = Entry {
                path: prefix.clone(),
                kind: EntryKind::Dir,
                meta,
            };
            // The extractor refuses a path deeper than MAX_DEPTH, before the walk goes there.
            extractor.entry(&entry, &mut std::io::empty())?;
            let parent = file_id(&dir)?;
            let child = open_dir_at(&dir, &name)?;
            stack.push(Level {
                names: names(&child)?.into_iter(),
                prefix_len: len,
                parent,
            });
            dir = child;
            continue;
        } else if kind == SFlag::S_IFLNK {
            let target = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), name.as_c_str())?;
            let entry = Entry {
                path: prefix.clone(),
                kind: EntryKind::Symlink {
                    target: target.as_bytes().to_vec(),
                },
                meta,
            };
            extractor.entry(&entry, &mut std::io::empty())?;
        } else if copy && kind == SFlag::S_IFREG {
            let mut file = std::fs::File::from(crate::sys::openat(
                &dir,
                name.as_c_str(),
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?);
            let entry = Entry {
                path: prefix.clone(),
                kind: EntryKind::File {
                    size: st.st_size as u64,
                },
                meta,
            };
            extractor.entry(&entry, &mut file)?;
        } else {
            extractor.link_existing(prefix, dir.as_fd(), &name)?;
        }
        prefix.truncate(len);
    }
    Ok(())
}

/// Makes `dst` (which must not exist) a copy of the tree `src` in which every non-directory
/// is a hard link to the same inode. Directories get the source's owner, mode and mtime.
/// Nothing is followed: `dst` is created here, so no symlink can redirect a write. Runs on
/// every core: directories are handed out from a shared queue.
pub fn link_tree(src: &Path, dst: &Path) -> Result<u64> {
    link_tree_copying(src, dst, &[])
}

/// As [`link_tree`], but regular files below the directories `copy` (relative paths such
/// as `etc` or `var/lib/rpm`; `""` for the whole tree) are private copies, so a root that edits them in place
/// (appending to `/etc/passwd`, rpm opening its database) leaves the cache alone.
pub fn link_tree_copying(src: &Path, dst: &Path, copy: &[&str]) -> Result<u64> {
    link_tree_shaped(src, dst, copy, false).map(|(links, _)| links)
}

/// As [`link_tree_copying`], and returns the digest of `src` as
/// [`super::store::tree_digest`] computes it, from the same walk.
pub fn link_tree_with_digest(src: &Path, dst: &Path, copy: &[&str]) -> Result<(u64, String)> {
    let (links, shapes) = link_tree_shaped(src, dst, copy, true)?;
    Ok((links, shapes.unwrap_or_default().digest()))
}

fn link_tree_shaped(
    src: &Path,
    dst: &Path,
    copy: &[&str],
    shaped: bool,
) -> Result<(u64, Option<Shapes>)> {
    let src_root = open_dir(src).with_context(|| format!("cannot open {}", src.display()))?;
    nix::unistd::mkdir(dst, Mode::from_bits_truncate(0o700))
        .with_context(|| format!("cannot create {}", dst.display()))?;
    let dst_root = open_dir(dst).with_context(|| format!("cannot open {}", dst.display()))?;
    crate::packages::extract::mark_top(&dst_root);
    let work = Work {
        src_root,
        dst_root,
        copy: copy.iter().map(|c| c.as_bytes().to_vec()).collect(),
        done: Mutex::new(Vec::new()),
        links: AtomicU64::new(0),
        shape: shaped.then(|| Mutex::new(Shapes::default())),
    };
    let context = || format!("cannot copy {} to {}", src.display(), dst.display());
    walk_parallel((Vec::new(), 0), |(rel, depth)| work.copy_dir(&rel, depth))
        .with_context(context)?;
    // The metadata of directories that had to wait, deepest first.
    let mut done = std::mem::take(&mut *work.done.lock().unwrap_or_else(|p| p.into_inner()));
    done.sort_by_key(|(_, depth)| std::cmp::Reverse(*depth));
    for (rel, _) in &done {
        let src_dir = work.open(&work.src_root, rel).with_context(context)?;
        let dst_dir = work.open(&work.dst_root, rel).with_context(context)?;
        copy_dir_meta(&src_dir, &dst_dir).with_context(context)?;
    }
    let shape = work
        .shape
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()));
    Ok((work.links.load(Ordering::Relaxed), shape))
}

/// The records of one directory's entries for a tree's digest (see [`Shapes`]): each
/// entry's name and the rest of its record, sorted by name once the directory is read.
#[derive(Default)]
pub(super) struct DirShape {
    /// Each entry's name followed by the rest of its record.
    bytes: Vec<u8>,
    /// Per entry: where its name starts, where the name ends and the rest begins, where
    /// it ends, and whether it is a directory.
    spans: Vec<(u32, u32, u32, bool)>,
}

impl DirShape {
    /// Adds the entry `name` of the directory open as `dir` whose directory-entry type is
    /// `d_type`; says whether it is a directory. Only regular files, symlinks and entries
    /// of unknown type cost a `stat`.
    pub(super) fn add(
        &mut self,
        dir: impl AsRawFd,
        name: &std::ffi::CStr,
        d_type: Option<Type>,
    ) -> Result<bool> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(name.to_bytes());
        let name_end = self.bytes.len();
        let kind = match d_type {
            Some(k) if k != Type::File && k != Type::Symlink => k,
            _ => {
                let st = match nix::sys::stat::fstatat(
                    Some(dir.as_raw_fd()),
                    name,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                ) {
                    Ok(st) => st,
                    Err(e) => {
                        self.bytes.truncate(start);
                        return Err(e.into());
                    }
                };
                let k = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
                match k {
                    SFlag::S_IFREG | SFlag::S_IFLNK => {
                        let mut number = itoa::Buffer::new();
                        self.bytes.extend_from_slice(if k == SFlag::S_IFREG {
                            b"\0f "
                        } else {
                            b"\0l "
                        });
                        self.bytes
                            .extend_from_slice(number.format(st.st_size).as_bytes());
                        self.bytes.push(b' ');
                        self.bytes
                            .extend_from_slice(number.format(st.st_mtime).as_bytes());
                        self.bytes.push(b'.');
                        self.bytes
                            .extend_from_slice(number.format(st.st_mtime_nsec).as_bytes());
                        self.bytes.push(b'\n');
                        self.push_span(start, name_end, false)?;
                        return Ok(false);
                    }
                    SFlag::S_IFDIR => Type::Directory,
                    SFlag::S_IFCHR => Type::CharacterDevice,
                    SFlag::S_IFBLK => Type::BlockDevice,
                    SFlag::S_IFIFO => Type::Fifo,
                    _ => Type::Socket,
                }
            }
        };
        self.bytes.push(0);
        self.bytes.extend_from_slice(match kind {
            Type::Directory => b"Directory\n".as_slice(),
            Type::CharacterDevice => b"CharacterDevice\n",
            Type::BlockDevice => b"BlockDevice\n",
            Type::Fifo => b"Fifo\n",
            Type::Socket => b"Socket\n",
            Type::File => b"File\n",
            Type::Symlink => b"Symlink\n",
        });
        let is_dir = kind == Type::Directory;
        self.push_span(start, name_end, is_dir)?;
        Ok(is_dir)
    }

    fn push_span(&mut self, start: usize, name_end: usize, is_dir: bool) -> Result<()> {
        let offset = |at: usize| u32::try_from(at).context("a directory's listing over 4 GiB");
        self.spans.push((
            offset(start)?,
            offset(name_end)?,
            offset(self.bytes.len())?,
            is_dir,
        ));
        Ok(())
    }
}

/// The records of a tree's digest, gathered a directory at a time in any order (by
/// parallel walkers) and hashed in the order of their paths with `/` sorting before every
/// other byte: a depth-first walk with each directory's names in order. An entry's record
/// is its path (from `/`) and type, and for regular files and symlinks their size and
/// mtime.
#[derive(Default)]
pub(super) struct Shapes {
    /// Each directory's records, by its path relative to the top (`""` the top).
    dirs: std::collections::HashMap<Vec<u8>, DirShape>,
}

impl Shapes {
    /// Takes in the records of directory `rel`, sorting them by name.
    pub(super) fn insert(&mut self, rel: &[u8], mut dir: DirShape) {
        let bytes = &dir.bytes;
        dir.spans.sort_unstable_by(|a, b| {
            bytes[a.0 as usize..a.1 as usize].cmp(&bytes[b.0 as usize..b.1 as usize])
        });
        self.dirs.insert(rel.to_vec(), dir);
    }

    /// SHA-256 over the records in path order (hex), walked without recursion.
    pub(super) fn digest(self) -> String {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        // The path being hashed (`/a/b`), and per open directory: its records, the next
        // one to hash, and the length of its own path.
        let mut path = Vec::new();
        let mut open: Vec<(&DirShape, usize, usize)> = Vec::new();
        if let Some(top) = self.dirs.get(b"".as_slice()) {
            open.push((top, 0, 0));
        }
        while let Some((dir, next, len)) = open.last_mut() {
            let Some(&(start, name_end, end, is_dir)) = dir.spans.get(*next) else {
                open.pop();
                continue;
            };
            *next += 1;
            path.truncate(*len);
            path.push(b'/');
            path.extend_from_slice(&dir.bytes[start as usize..name_end as usize]);
            h.update(&path);
            h.update(&dir.bytes[name_end as usize..end as usize]);
            if is_dir && let Some(sub) = self.dirs.get(&path[1..]) {
                open.push((sub, 0, path.len()));
            }
        }
        hex::encode(h.finalize())
    }
}

/// Walks a directory tree on every core: `visit(job)` handles one directory (`first` being
/// the top) and returns the jobs of its subdirectories, which are handed out from a shared
/// stack (so the walk stays mostly depth-first and its memory small). The first error stops
/// the walk and is returned.
pub(super) fn walk_parallel<J, F>(first: J, visit: F) -> Result<()>
where
    J: Send,
    F: Fn(J) -> Result<Vec<J>> + Sync,
{
    struct Queue<J> {
        jobs: Vec<J>,
        /// Walkers holding a directory (more may be queued from it).
        busy: usize,
        /// Walkers waiting for a directory: woken only when there are some.
        waiting: usize,
        failed: Option<anyhow::Error>,
    }
    let queue = Mutex::new(Queue {
        jobs: vec![first],
        busy: 0,
        waiting: 0,
        failed: None,
    });
    let wake = Condvar::new();
    let run = || {
        let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if q.failed.is_some() {
                q.jobs.clear();
            }
            let Some(job) = q.jobs.pop() else {
                if q.busy == 0 {
                    wake.notify_all();
                    return;
                }
                q.waiting += 1;
                q = wake.wait(q).unwrap_or_else(|p| p.into_inner());
                q.waiting -= 1;
                continue;
            };
            q.busy += 1;
            drop(q);
            let result = visit(job);
            q = queue.lock().unwrap_or_else(|p| p.into_inner());
            q.busy -= 1;
            match result {
                Ok(more) => q.jobs.extend(more),
                Err(err) => {
                    q.failed.get_or_insert(err);
                }
            }
            if q.waiting > 0 {
                wake.notify_all();
            }
        }
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(run);
        }
        run();
    });
    match queue.into_inner().unwrap_or_else(|p| p.into_inner()).failed {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// The shared state of a parallel [`link_tree`] (see [`walk_parallel`]).
struct Work {
    src_root: OwnedFd,
    dst_root: OwnedFd,
    /// Directories (relative paths) whose files are copied, not linked.
    copy: Vec<Vec<u8>>,
    /// Directories whose metadata waits for the end (see `copy_dir`): (path, depth).
    done: Mutex<Vec<(Vec<u8>, usize)>>,
    links: AtomicU64,
    /// The source tree's shape, when asked for (see [`link_tree_with_digest`]).
    shape: Option<Mutex<Shapes>>,
}

impl Work {
    /// Opens directory `rel` under `root` without following any symlink.
    fn open(&self, root: &OwnedFd, rel: &[u8]) -> Result<OwnedFd> {
        if rel.is_empty() {
            return Ok(root.try_clone()?);
        }
        let path = CString::new(rel).context("NUL in a path")?;
        crate::packages::extract::open_dir_beneath(root, &path)
            .with_context(|| format!("cannot open {}", String::from_utf8_lossy(rel)))
    }

    /// Copies the entries of directory `rel`; returns its subdirectories, to be copied next.
    fn copy_dir(&self, rel: &[u8], depth: usize) -> Result<Vec<(Vec<u8>, usize)>> {
        let src = self.open(&self.src_root, rel)?;
        let dst = self.open(&self.dst_root, rel)?;
        let mut d = Dir::openat(
            Some(src.as_raw_fd()),
            c".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let mut links = 0;
        let mut jobs = Vec::new();
        let mut shape = DirShape::default();
        // `""` copies everything.
        let copying = self.copy.iter().any(|c| {
            c.is_empty()
                || (!rel.is_empty()
                    && rel.starts_with(c)
                    && (rel.len() == c.len() || rel[c.len()] == b'/'))
        });
        for entry in d.iter() {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_bytes() == b"." || name.to_bytes() == b".." {
                continue;
            }
            if self.shape.is_some() {
                shape.add(src.as_raw_fd(), name, entry.file_type())?;
            }
            let is_dir = match entry.file_type() {
                Some(Type::Directory) => true,
                Some(_) => false,
                None => {
                    let st = nix::sys::stat::fstatat(
                        Some(src.as_raw_fd()),
                        name,
                        AtFlags::AT_SYMLINK_NOFOLLOW,
                    )?;
                    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
                }
            };
            if is_dir {
                if depth >= MAX_DEPTH {
                    anyhow::bail!(
                        "{}/{} nests deeper than {MAX_DEPTH} directories",
                        crate::text::one_line_bytes(rel),
                        crate::text::one_line_bytes(name.to_bytes())
                    );
                }
                nix::sys::stat::mkdirat(
                    Some(dst.as_raw_fd()),
                    name,
                    Mode::from_bits_truncate(0o700),
                )?;
                let mut child = rel.to_vec();
                if !child.is_empty() {
                    child.push(b'/');
                }
                child.extend_from_slice(name.to_bytes());
                jobs.push((child, depth + 1));
            } else if copying && entry.file_type() == Some(Type::File) {
                copy_file(&src, &dst, name)?;
            } else {
                match nix::unistd::linkat(
                    Some(src.as_raw_fd()),
                    name,
                    Some(dst.as_raw_fd()),
                    name,
                    AtFlags::empty(),
                ) {
                    Ok(()) => links += 1,
                    // Another file system than the cache: copy instead.
                    Err(nix::errno::Errno::EXDEV) => copy_entry(&src, &dst, name)?,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.links.fetch_add(links, Ordering::Relaxed);
        // Every entry of this directory is in place now (its subdirectories get theirs inside
        // them), so its mtime will not change again: its metadata can be set at once, with
        // the descriptors at hand. Unless a process without root's powers could then no
        // longer reach its subdirectories through it (no search permission for the owner):
        // such a directory waits for the end, where they are done deepest first.
        let st = nix::sys::stat::fstat(src.as_raw_fd())?;
        if !jobs.is_empty() && st.st_mode & 0o100 == 0 && !nix::unistd::geteuid().is_root() {
            self.done
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((rel.to_vec(), depth));
        } else {
            set_dir_meta(&dst, &st)?;
        }
        if let Some(all) = &self.shape {
            all.lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(rel, shape);
        }
        Ok(jobs)
    }
}

/// Copies a non-directory that cannot be hard-linked: regular files and symlinks.
fn copy_entry(src: &OwnedFd, dst: &OwnedFd, name: &std::ffi::CStr) -> Result<()> {
    let st = nix::sys::stat::fstatat(Some(src.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
        SFlag::S_IFREG => copy_file(src, dst, name),
        SFlag::S_IFLNK => {
            let target = nix::fcntl::readlinkat(Some(src.as_raw_fd()), name)?;
            nix::unistd::symlinkat(target.as_os_str(), Some(dst.as_raw_fd()), name)?;
            nix::unistd::fchownat(
                Some(dst.as_raw_fd()),
                name,
                Some(st.st_uid.into()),
                Some(st.st_gid.into()),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )?;
            let atime = nix::sys::time::TimeSpec::new(st.st_atime, st.st_atime_nsec);
            let mtime = nix::sys::time::TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
            nix::sys::stat::utimensat(
                Some(dst.as_raw_fd()),
                name,
                &atime,
                &mtime,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            )?;
            Ok(())
        }
        _ => anyhow::bail!(
            "{}: a special file cannot be copied to another file system",
            name.to_string_lossy()
        ),
    }
}

/// Copies regular file `name` from `src` to `dst` with its owner, mode and mtime.
fn copy_file(src: &OwnedFd, dst: &OwnedFd, name: &std::ffi::CStr) -> Result<()> {
    let mut from = std::fs::File::from(crate::sys::openat(
        src,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?);
    let st = nix::sys::stat::fstat(from.as_raw_fd())?;
    let mut to = std::fs::File::from(crate::sys::openat(
        dst,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )?);
    std::io::copy(&mut from, &mut to)?;
    nix::unistd::fchown(
        to.as_raw_fd(),
        Some(st.st_uid.into()),
        Some(st.st_gid.into()),
    )?;
    nix::sys::stat::fchmod(
        to.as_raw_fd(),
        Mode::from_bits_truncate(st.st_mode & 0o7777),
    )?;
    let atime = nix::sys::time::TimeSpec::new(st.st_atime, st.st_atime_nsec);
    let mtime = nix::sys::time::TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
    nix::sys::stat::futimens(to.as_raw_fd(), &atime, &mtime)?;
    Ok(())
}

/// Gives `dst` the owner, mode and times of `src` (after its contents are in place).
pub fn copy_dir_meta(src: &OwnedFd, dst: &OwnedFd) -> Result<()> {
    set_dir_meta(dst, &nix::sys::stat::fstat(src.as_raw_fd())?)
}

/// Gives `dst` the owner, mode and times `st` records.
/// Gives the directory `dst` the owner, mode and times of `st`.
pub(super) fn set_dir_meta(dst: &OwnedFd, st: &nix::sys::stat::FileStat) -> Result<()> {
    nix::unistd::fchown(
        dst.as_raw_fd(),
        Some(st.st_uid.into()),
        Some(st.st_gid.into()),
    )?;
    nix::sys::stat::fchmod(
        dst.as_raw_fd(),
        Mode::from_bits_truncate(st.st_mode & 0o7777),
    )?;
    let atime = nix::sys::time::TimeSpec::new(st.st_atime, st.st_atime_nsec);
    let mtime = nix::sys::time::TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
    nix::sys::stat::futimens(dst.as_raw_fd(), &atime, &mtime)?;
    Ok(())
}

/// The names in a directory, sorted, so a root is laid down the same way every time.
fn names(dir: &OwnedFd) -> Result<Vec<CString>> {
    let mut out = list_dir(dir)?;
    out.sort();
    Ok(out)
}

pub fn open_dir(path: &Path) -> Result<OwnedFd> {
    Ok(crate::sys::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every directory of the copy gets its source's owner, mode and mtime, also those whose
    /// mode forbids writing into them and those below them.
    #[test]
    fn directories_keep_owner_mode_and_mtime() {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("ro/inner/deepest")).unwrap();
        std::fs::create_dir_all(src.join("sticky")).unwrap();
        std::fs::write(src.join("ro/inner/deepest/file"), b"x").unwrap();
        std::fs::write(src.join("ro/file"), b"y").unwrap();
        let dirs = [
            ("", 0o755, 1_000_000),
            ("ro", 0o555, 1_100_000),
            ("ro/inner", 0o750, 1_200_000),
            ("ro/inner/deepest", 0o500, 1_300_000),
            ("sticky", 0o1777, 1_400_000),
        ];
        // Deepest first, as setting a mode or a time does not touch the parent.
        for (rel, mode, mtime) in dirs.iter().rev() {
            let path = src.join(rel);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
            let t = nix::sys::time::TimeSpec::new(*mtime, 0);
            nix::sys::stat::utimensat(
                None,
                &path,
                &t,
                &t,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            )
            .unwrap();
        }
        nix::unistd::chown(&src.join("ro/inner"), Some(1234.into()), Some(4321.into())).unwrap();
        let out = dir.path().join("out");
        link_tree(&src, &out).unwrap();
        for (rel, _, _) in dirs {
            let (a, b) = (
                std::fs::metadata(src.join(rel)).unwrap(),
                std::fs::metadata(out.join(rel)).unwrap(),
            );
            assert_eq!(a.mode() & 0o7777, b.mode() & 0o7777, "mode of /{rel}");
            assert_eq!((a.uid(), a.gid()), (b.uid(), b.gid()), "owner of /{rel}");
            assert_eq!(a.mtime(), b.mtime(), "mtime of /{rel}");
        }
        assert!(out.join("ro/inner/deepest/file").is_file());
    }

    /// On ext4, where the allocator reads it, a copy's top directory carries the
    /// top-of-hierarchy hint (so its subdirectories are not made among the inodes of roots
    /// just deleted next to it); the source is left as it was.
    #[test]
    fn copy_is_marked_as_a_top_directory_on_ext4() {
        const EXT4_SUPER_MAGIC: i64 = 0xef53;
        let top = |path: &Path| {
            let dir = open_dir(path).unwrap();
            rustix::fs::ioctl_getflags(&dir)
                .unwrap()
                .contains(rustix::fs::IFlags::TOPDIR)
        };
        let dir = tempfile::tempdir().unwrap();
        let fd = open_dir(dir.path()).unwrap();
        let st = rustix::fs::fstatfs(&fd).unwrap();
        if st.f_type as i64 != EXT4_SUPER_MAGIC {
            eprintln!("skipped: {} is not on ext4", dir.path().display());
            return;
        }
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("usr/bin")).unwrap();
        let out = dir.path().join("out");
        link_tree(&src, &out).unwrap();
        assert!(top(&out), "the copy is not marked");
        assert!(!top(&src), "the source was marked");
        assert!(!top(&out.join("usr")), "a subdirectory was marked");
    }

    /// The digest taken while copying is the one the store records (names sorted as a
    /// depth-first walk: `a/x` comes before `a-b`), and it changes with the tree.
    #[test]
    fn digest_while_copying_equals_the_recorded_one() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("a/deep")).unwrap();
        std::fs::create_dir_all(src.join("empty")).unwrap();
        std::fs::write(src.join("a/x"), b"one").unwrap();
        std::fs::write(src.join("a/deep/y"), b"two").unwrap();
        std::fs::write(src.join("a-b"), b"three").unwrap();
        std::os::unix::fs::symlink("a/x", src.join("link")).unwrap();
        nix::unistd::mkfifo(&src.join("fifo"), Mode::from_bits_truncate(0o644)).unwrap();
        let recorded = super::super::store::tree_digest(&src).unwrap();
        let (links, digest) = link_tree_with_digest(&src, &dir.path().join("out"), &[]).unwrap();
        assert_eq!(digest, recorded);
        assert_eq!(links, 5);
        assert!(dir.path().join("out/a/deep/y").is_file());

        std::fs::write(src.join("a/deep/y"), b"changed").unwrap();
        let (_, changed) = link_tree_with_digest(&src, &dir.path().join("out2"), &[]).unwrap();
        assert_ne!(changed, recorded);
        assert_eq!(changed, super::super::store::tree_digest(&src).unwrap());
    }
}
