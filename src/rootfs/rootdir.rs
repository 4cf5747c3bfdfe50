//! The one way host-side code touches the files of a root.
//!
//! A root is hostile: its packages and maintainer scripts decide what every path in it is,
//! symlinks and FIFOs included. [`RootDir`] holds the root as a descriptor and resolves
//! every path below it with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, so a symlink
//! (absolute or with `..`) resolves as it would inside the container, never above the root.
//! Last components are never followed: a file is created exclusively under a fresh name and
//! renamed over the last component (which replaces a symlink there instead of writing
//! through it), and a file is read only after its descriptor, opened without following and
//! without blocking, says it is a regular file. Walks are iterative. Code that works on a
//! root from the host goes through this type; a plain `std::fs` call on a path inside a
//! root is a bug.

use std::ffi::{CStr, CString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, ResolveFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};

/// A root directory, held open.
#[derive(Debug)]
pub struct RootDir {
    fd: OwnedFd,
    /// For messages only: never used to reach a file.
    path: PathBuf,
}

/// What a path in a root is, without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device node.
    Special,
}

fn kind_of(st: &FileStat) -> Kind {
    match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
        SFlag::S_IFREG => Kind::File,
        SFlag::S_IFDIR => Kind::Dir,
        SFlag::S_IFLNK => Kind::Symlink,
        _ => Kind::Special,
    }
}

/// The resolve flags of every lookup: the root is `/`, magic links are refused.
fn in_root() -> ResolveFlag {
    ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS
}

/// `rel` as a relative path of plain components; `/x` is taken as `x`. `..` and empty paths
/// are refused: obsbox names the paths it touches, and none of them climbs.
fn split(rel: &Path) -> Result<(PathBuf, CString)> {
    let mut parts = Vec::new();
    for component in rel.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => parts.push(name),
            _ => bail!("{}: not a plain path inside a root", rel.display()),
        }
    }
    let Some(last) = parts.pop() else {
        bail!("{}: not a path below a root", rel.display());
    };
    let parent: PathBuf = parts.iter().collect();
    let last = CString::new(last.as_bytes())
        .with_context(|| format!("{}: NUL in a path", rel.display()))?;
    Ok((parent, last))
}

/// A name for a file being written, unique in this process and unlikely anywhere else.
fn temporary_name() -> CString {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    CString::new(format!(".obsbox-new.{}.{n}", std::process::id())).expect("no NUL")
}

impl RootDir {
    /// Opens the root at `path` (a path the host chose; it is followed).
    pub fn open(path: &Path) -> Result<RootDir> {
        let fd = crate::sys::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("cannot open the root {}", path.display()))?;
        Ok(RootDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The root's path on the host, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn show(&self, rel: &Path) -> String {
        format!("{} in the root {}", rel.display(), self.path.display())
    }

    /// `openat2` of `rel` below the root.
    fn resolve(&self, rel: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        crate::sys::openat2(&self.fd, rel, flags | OFlag::O_CLOEXEC, in_root())
    }

    /// The directory `rel` (symlinks on the way resolved inside the root).
    fn dir(&self, rel: &Path) -> Result<OwnedFd, Errno> {
        self.resolve(rel, OFlag::O_PATH | OFlag::O_DIRECTORY)
    }

    /// The parent directory of `rel`, opened, and the last component.
    fn parent(&self, rel: &Path) -> Result<(OwnedFd, CString)> {
        let (parent, last) = split(rel)?;
        let dir = self
            .dir(&parent)
            .with_context(|| format!("cannot open {}", self.show(&parent)))?;
        Ok((dir, last))
    }

    /// What `rel` is, not following its last component; `None` when it does not exist.
    pub fn kind(&self, rel: &Path) -> Result<Option<Kind>> {
        Ok(self.stat(rel)?.map(|st| kind_of(&st)))
    }

    /// `lstat` of `rel`; `None` when it (or a directory above it) does not exist.
    pub fn stat(&self, rel: &Path) -> Result<Option<FileStat>> {
        let (parent, last) = match split(rel) {
            Ok(split) => split,
            Err(_) => {
                // The root itself.
                return nix::sys::stat::fstat(self.fd.as_raw_fd())
                    .map(Some)
                    .with_context(|| format!("cannot stat {}", self.path.display()));
            }
        };
        let dir = match self.dir(&parent) {
            Ok(dir) => dir,
            Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(None),
            Err(err) => {
                return Err(err).with_context(|| format!("cannot open {}", self.show(&parent)));
            }
        };
        match nix::sys::stat::fstatat(
            Some(dir.as_raw_fd()),
            last.as_c_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::ENOENT) => Ok(None),
            Err(err) => Err(err).with_context(|| format!("cannot stat {}", self.show(rel))),
        }
    }

    /// True when `rel` is a directory (following symlinks inside the root).
    pub fn is_dir(&self, rel: &Path) -> bool {
        self.dir(rel).is_ok()
    }

    /// Creates the directory `rel` and its parents (mode 0755) where missing; symlinks on
    /// the way resolve inside the root.
    pub fn create_dir_all(&self, rel: &Path) -> Result<()> {
        let mut done = PathBuf::new();
        for component in rel.components() {
            let Component::Normal(name) = component else {
                if matches!(component, Component::RootDir | Component::CurDir) {
                    continue;
                }
                bail!("{}: not a plain path inside a root", rel.display());
            };
            let parent = self
                .dir(&done)
                .with_context(|| format!("cannot open {}", self.show(&done)))?;
            done.push(name);
            match nix::sys::stat::mkdirat(
                Some(parent.as_raw_fd()),
                name,
                Mode::from_bits_truncate(0o755),
            ) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot create {}", self.show(&done)));
                }
            }
        }
        // It must be a directory now (an existing file or dangling symlink there is not).
        self.dir(rel)
            .map(|_| ())
            .with_context(|| format!("{} is not a directory", self.show(rel)))
    }

    /// Writes `content` to `rel` with `mode`, replacing whatever non-directory is there (a
    /// symlink is replaced, not written through). The file appears whole or not at all.
    pub fn write(&self, rel: &Path, content: &[u8], mode: u32) -> Result<()> {
        self.write_from(rel, &mut &content[..], mode)
    }

    /// [`RootDir::write`] with the content read from `from`.
    pub fn write_from(&self, rel: &Path, from: &mut dyn Read, mode: u32) -> Result<()> {
        let (dir, last) = self.parent(rel)?;
        let tmp = temporary_name();
        let fd = crate::sys::openat(
            &dir,
            tmp.as_c_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .with_context(|| format!("cannot create a file in {}", self.show(rel)))?;
        let mut file = std::fs::File::from(fd);
        let written = (|| -> Result<()> {
            std::io::copy(from, &mut file)?;
            file.flush()?;
            nix::sys::stat::fchmod(file.as_raw_fd(), Mode::from_bits_truncate(mode & 0o7777))?;
            nix::fcntl::renameat(
                Some(dir.as_raw_fd()),
                tmp.as_c_str(),
                Some(dir.as_raw_fd()),
                last.as_c_str(),
            )?;
            Ok(())
        })();
        if let Err(err) = written {
            let _ = nix::unistd::unlinkat(
                Some(dir.as_raw_fd()),
                tmp.as_c_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
            return Err(err).with_context(|| format!("cannot write {}", self.show(rel)));
        }
        Ok(())
    }

    /// Creates `rel` with `content` and `mode`; false (and nothing written) when something
    /// is there already, even a dangling symlink.
    pub fn create_new(&self, rel: &Path, content: &[u8], mode: u32) -> Result<bool> {
        let (dir, last) = self.parent(rel)?;
        let fd = match crate::sys::openat(
            &dir,
            last.as_c_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        ) {
            Ok(fd) => fd,
            Err(Errno::EEXIST) => return Ok(false),
            Err(err) => {
                return Err(err).with_context(|| format!("cannot create {}", self.show(rel)));
            }
        };
        let mut file = std::fs::File::from(fd);
        file.write_all(content)
            .with_context(|| format!("cannot write {}", self.show(rel)))?;
        nix::sys::stat::fchmod(file.as_raw_fd(), Mode::from_bits_truncate(mode & 0o7777))?;
        Ok(true)
    }

    /// The content of the regular file `rel` (its last component not followed), at most
    /// `limit` bytes; `None` when there is nothing there. A FIFO, device, directory or
    /// symlink there is an error, and nothing blocks on it.
    pub fn read(&self, rel: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
        let (parent, last) = split(rel)?;
        let dir = match self.dir(&parent) {
            Ok(dir) => dir,
            Err(Errno::ENOENT) => return Ok(None),
            Err(err) => {
                return Err(err).with_context(|| format!("cannot open {}", self.show(&parent)));
            }
        };
        let fd = match crate::sys::openat(
            &dir,
            last.as_c_str(),
            OFlag::O_RDONLY
                | OFlag::O_NOFOLLOW
                | OFlag::O_NONBLOCK
                | OFlag::O_NOCTTY
                | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => bail!("{} is a symlink, not a file", self.show(rel)),
            Err(err) => return Err(err).with_context(|| format!("cannot open {}", self.show(rel))),
        };
        let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
        if kind_of(&st) != Kind::File {
            bail!("{} is not a regular file", self.show(rel));
        }
        let Some(content) = crate::io::read_at_most(std::fs::File::from(fd), limit)
            .with_context(|| format!("cannot read {}", self.show(rel)))?
        else {
            bail!("{} is larger than {limit} bytes", self.show(rel));
        };
        Ok(Some(content))
    }

    /// Removes `rel` and, when it is a directory, everything below it (iteratively, never
    /// following a symlink). Nothing there is not an error.
    pub fn remove_all(&self, rel: &Path) -> Result<()> {
        let (dir, last) = self.parent(rel)?;
        remove_at(dir.as_fd(), &last).with_context(|| format!("cannot remove {}", self.show(rel)))
    }

    /// Calls `f` for every entry below the directory `rel` (not `rel` itself), parents
    /// before their children, with the open parent directory, the entry's name and its
    /// `lstat`. Symlinks are reported, not followed. A missing `rel` is walked as empty.
    pub fn walk(
        &self,
        rel: &Path,
        mut f: impl FnMut(&OwnedFd, &CStr, &FileStat) -> Result<()>,
    ) -> Result<()> {
        let top = match self.resolve(rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(()),
            Err(err) => return Err(err).with_context(|| format!("cannot open {}", self.show(rel))),
        };
        depth_first(
            top,
            |dir, name, st| {
                f(dir, name, st)?;
                Ok(kind_of(st) == Kind::Dir)
            },
            |_, _| Ok(()),
        )
        .with_context(|| format!("cannot walk {}", self.show(rel)))
    }
}

/// Walks the tree below `top` depth-first without recursion and with one directory open at
/// a time, so neither the stack nor the descriptor table grows with the depth: `visit` sees
/// each entry (its directory, name and `lstat`) and says whether to descend into it (only
/// directories are descended into); `leave` is called with the parent and the name of each
/// directory descended into, after its entries. The way up is `..`, checked to be the
/// directory the walk came from. Nothing else may move directories of the tree meanwhile.
pub fn depth_first(
    top: OwnedFd,
    mut visit: impl FnMut(&OwnedFd, &CStr, &FileStat) -> Result<bool>,
    mut leave: impl FnMut(&OwnedFd, &CStr) -> Result<()>,
) -> Result<()> {
    struct Level {
        names: Vec<CString>,
        next: usize,
        /// This directory's name in its parent, and the parent's device and inode.
        name: CString,
        parent: (u64, u64),
    }
    let id = |fd: &OwnedFd| -> Result<(u64, u64)> {
        let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
        Ok((st.st_dev, st.st_ino))
    };
    let mut current = top;
    let mut levels = vec![Level {
        names: crate::packages::extract::list_dir(&current)?,
        next: 0,
        name: CString::default(),
        parent: (0, 0),
    }];
    while let Some(level) = levels.last_mut() {
        if level.next < level.names.len() {
            let name = std::mem::take(&mut level.names[level.next]);
            level.next += 1;
            let st = match nix::sys::stat::fstatat(
                Some(current.as_raw_fd()),
                name.as_c_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(st) => st,
                Err(Errno::ENOENT) => continue,
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("cannot stat {}", name.to_string_lossy()));
                }
            };
            if visit(&current, &name, &st)? && kind_of(&st) == Kind::Dir {
                let parent = id(&current)?;
                let sub = open_subdir(&current, &name)?;
                levels.push(Level {
                    names: crate::packages::extract::list_dir(&sub)?,
                    next: 0,
                    name,
                    parent,
                });
                current = sub;
            }
        } else {
            let done = levels.pop().expect("a level");
            if levels.is_empty() {
                break;
            }
            let up = open_subdir(&current, c"..")?;
            if id(&up)? != done.parent {
                bail!(
                    "the directory above {} changed during the walk",
                    done.name.to_string_lossy()
                );
            }
            current = up;
            leave(&current, &done.name)?;
        }
    }
    Ok(())
}

/// Opens the directory `name` in `dir` for reading, never following a symlink.
pub fn open_subdir(dir: &OwnedFd, name: &CStr) -> Result<OwnedFd> {
    let fd = crate::sys::openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open the directory {}", name.to_string_lossy()))?;
    Ok(fd)
}

/// Removes `name` in `dir` and everything below it, iteratively, never following a
/// symlink. Nothing there is not an error.
pub fn remove_at(dir: std::os::fd::BorrowedFd<'_>, name: &CStr) -> Result<()> {
    let dir = dir.try_clone_to_owned()?;
    match crate::packages::extract::remove_tree_at(&dir, name) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn canary() -> (tempfile::TempDir, PathBuf) {
        let outside = tempfile::tempdir().unwrap();
        let file = outside.path().join("status");
        fs::write(&file, b"host\n").unwrap();
        (outside, file)
    }

    #[test]
    fn writes_through_symlinked_parents_stay_in_the_root() {
        let (outside, host_file) = canary();
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("var/lib")).unwrap();
        symlink(outside.path(), root.path().join("var/lib/dpkg")).unwrap();
        let r = RootDir::open(root.path()).unwrap();
        // The absolute link resolves inside the root, where nothing is: as dangling as it
        // is in a container of the root.
        assert!(r.create_dir_all(Path::new("var/lib/dpkg/info")).is_err());
        assert!(
            r.write(Path::new("var/lib/dpkg/status"), b"root\n", 0o644)
                .is_err()
        );
        assert!(
            r.read(Path::new("var/lib/dpkg/status"), 100)
                .unwrap()
                .is_none()
        );
        // Once the root has that directory, writes land there.
        let inside = root.path().join(outside.path().strip_prefix("/").unwrap());
        fs::create_dir_all(&inside).unwrap();
        r.create_dir_all(Path::new("var/lib/dpkg/info")).unwrap();
        r.write(Path::new("var/lib/dpkg/status"), b"root\n", 0o644)
            .unwrap();
        assert_eq!(fs::read(inside.join("status")).unwrap(), b"root\n");
        assert!(inside.join("info").is_dir());
        // A relative link climbing out stays in the root as well.
        symlink("../../../../../../..", root.path().join("var/up")).unwrap();
        r.write(Path::new("var/up/escaped"), b"x", 0o644).unwrap();
        assert!(root.path().join("escaped").is_file());
        assert_eq!(fs::read(&host_file).unwrap(), b"host\n");
        assert!(!outside.path().join("info").exists());
        assert!(!Path::new("/escaped").exists());
    }

    #[test]
    fn a_symlink_as_last_component_is_replaced_not_followed() {
        let (_outside, host_file) = canary();
        let root = tempfile::tempdir().unwrap();
        symlink(&host_file, root.path().join("status")).unwrap();
        let r = RootDir::open(root.path()).unwrap();
        assert!(!r.create_new(Path::new("status"), b"x", 0o644).unwrap());
        r.write(Path::new("status"), b"root\n", 0o4755).unwrap();
        assert_eq!(fs::read(&host_file).unwrap(), b"host\n");
        let meta = fs::symlink_metadata(root.path().join("status")).unwrap();
        assert!(meta.is_file());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o7777, 0o4755);
        assert!(r.read(Path::new("status"), 100).unwrap().unwrap() == b"root\n");
    }

    #[test]
    fn reads_refuse_fifos_symlinks_and_oversized_files_without_blocking() {
        let (_outside, host_file) = canary();
        let root = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(&root.path().join("fifo"), Mode::from_bits_truncate(0o644)).unwrap();
        symlink(&host_file, root.path().join("link")).unwrap();
        fs::write(root.path().join("big"), vec![0u8; 100]).unwrap();
        let r = RootDir::open(root.path()).unwrap();
        let err = r.read(Path::new("fifo"), 10).unwrap_err();
        assert!(format!("{err:#}").contains("not a regular file"), "{err:#}");
        assert!(r.read(Path::new("link"), 10).is_err());
        assert!(r.read(Path::new("big"), 99).is_err());
        assert_eq!(r.read(Path::new("big"), 100).unwrap().unwrap().len(), 100);
        assert!(r.read(Path::new("missing"), 10).unwrap().is_none());
        assert!(split(Path::new("../x")).is_err());
    }

    #[test]
    fn removal_and_walks_are_iterative_and_never_follow_links() {
        let (outside, host_file) = canary();
        let root = tempfile::tempdir().unwrap();
        let mut deep = root.path().join("top");
        for _ in 0..3000 {
            deep.push("d");
        }
        // Deeper than PATH_MAX: made one level at a time through descriptors.
        let mut dir = crate::sys::open(
            root.path(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        nix::sys::stat::mkdirat(
            Some(dir.as_raw_fd()),
            "top",
            Mode::from_bits_truncate(0o755),
        )
        .unwrap();
        dir = open_subdir(&dir, c"top").unwrap();
        for _ in 0..3000 {
            nix::sys::stat::mkdirat(Some(dir.as_raw_fd()), "d", Mode::from_bits_truncate(0o755))
                .unwrap();
            dir = open_subdir(&dir, c"d").unwrap();
        }
        symlinkat_in(&dir, outside.path(), c"escape");
        let r = RootDir::open(root.path()).unwrap();
        let mut seen = 0;
        r.walk(Path::new("top"), |_, _, _| {
            seen += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, 3001);
        r.remove_all(Path::new("top")).unwrap();
        assert!(!root.path().join("top").exists());
        assert_eq!(fs::read(&host_file).unwrap(), b"host\n");
    }

    fn symlinkat_in(dir: &OwnedFd, target: &Path, name: &CStr) {
        nix::unistd::symlinkat(target, Some(dir.as_raw_fd()), name).unwrap();
    }
}
