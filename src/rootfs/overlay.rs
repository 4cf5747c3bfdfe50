//! Overlay mounts: how code runs on a root without reaching the store.
//!
//! Package trees in the store and the roots cached from them are hard-link farms of the same
//! inodes. Whatever runs code on a root (maintainer scripts, prepare, the build, callbacks
//! running as root) gets an overlay instead: the shared tree is a read-only lower layer and
//! every write, also one in place that keeps size and mtime, copies the file up into an upper
//! directory of its own. The store's inodes are never opened for writing.
//!
//! An install-mode root is made this way too: its maintainer scripts run on an overlay of the
//! package farm, and their upper directory is then folded into the farm ([`fold`]): changed
//! and new files replace the links (they are the root's own inodes), whiteouts remove, and
//! device nodes a script made are dropped. The cached root holds no writable path into the
//! store.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{FileStat, Mode, SFlag};

use super::rootdir::{depth_first, remove_at};

/// A mount obsbox made at `target` (an overlay, or a bind of one); unmounted when dropped.
#[derive(Debug)]
pub struct Mount {
    target: PathBuf,
    mounted: bool,
}

/// Escapes a path for the overlay option string (`,` `:` `\` are separators there).
fn escape(path: &Path) -> Result<String> {
    let text = path
        .to_str()
        .with_context(|| format!("{}: not UTF-8, cannot be an overlay layer", path.display()))?;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}

impl Mount {
    /// Mounts an overlay of `lower` (top layer first) with `upper` and `work` (both on one file system,
    /// created when missing) at `target` (created when missing). Metacopy and the inode
    /// index are off, so a copy-up copies the whole file; directory renames are redirects
    /// (scripts such as usrmerge's rename directories and give up on `EXDEV`).
    pub fn overlay(lower: &[&Path], upper: &Path, work: &Path, target: &Path) -> Result<Mount> {
        for dir in [upper, work, target] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let lowers = lower
            .iter()
            .map(|l| escape(l))
            .collect::<Result<Vec<_>>>()?
            .join(":");
        let options = format!(
            "lowerdir={lowers},upperdir={},workdir={},redirect_dir=on,index=off,metacopy=off",
            escape(upper)?,
            escape(work)?
        );
        nix::mount::mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(options.as_str()),
        )
        .with_context(|| format!("cannot mount an overlay at {}", target.display()))?;
        Ok(Mount {
            target: target.to_path_buf(),
            mounted: true,
        })
    }

    /// Binds `source` (a root obsbox mounted) at `target` (created when missing): the same
    /// mount seen at a second place, e.g. a phase bundle's `rootfs`. Private, so that what
    /// a container mounts below its root does not come back to the host.
    pub fn bind(source: &Path, target: &Path) -> Result<Mount> {
        std::fs::create_dir_all(target)
            .with_context(|| format!("cannot create {}", target.display()))?;
        nix::mount::mount(
            Some(source),
            target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("cannot bind {} at {}", source.display(), target.display()))?;
        let mount = Mount {
            target: target.to_path_buf(),
            mounted: true,
        };
        nix::mount::mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .with_context(|| format!("cannot make {} private", target.display()))?;
        Ok(mount)
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Leaves it mounted for its user to unmount.
    pub fn keep(mut self) {
        self.mounted = false;
    }

    /// Unmounts it (detached when busy: nothing more is written through it).
    pub fn unmount(mut self) -> Result<()> {
        self.mounted = false;
        unmount(&self.target)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = unmount(&self.target);
        }
    }
}

/// A root for code to run on: `lowers` (top first, shared and never written) under an
/// upper directory of its own, mounted at `dir/name` (upper and work directories beside it
/// as `name.upper` and `name.work`).
pub fn mount_root(lowers: &[&Path], dir: &Path, name: &str) -> Result<Mount> {
    Mount::overlay(
        lowers,
        &dir.join(format!("{name}.upper")),
        &dir.join(format!("{name}.work")),
        &dir.join(name),
    )
}

/// Unmounts every mount at or below `dir` (deepest first, detached): what a process that
/// died left mounted in its work directory.
pub fn unmount_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut points: Vec<PathBuf> = crate::mountinfo::parse(&text)
        .into_iter()
        .map(|m| m.point)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    points.dedup();
    points
        .into_iter()
        .filter(|p| nix::mount::umount2(p, MntFlags::MNT_DETACH).is_ok())
        .collect()
}

/// Whether a mounted overlay (of this mount namespace, where jobs mount theirs) has a
/// lower layer at or below `dir`: a cached root a job is running on. Removing its files
/// would pull them from under the job; renaming it away does not.
pub fn lower_in_use(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        // Unknown: keep it.
        return true;
    };
    crate::mountinfo::parse(&text)
        .iter()
        .filter(|m| m.fstype == "overlay")
        .any(|m| {
            lowers_of(&m.super_options)
                .iter()
                .any(|l| l.starts_with(dir))
        })
}

/// The lower layers of an overlay's super options as mountinfo shows them
/// (`lowerdir=A:B,upperdir=…`, the kernel's octal escapes in the values), with those and
/// the escapes of [`escape`] undone.
fn lowers_of(options: &str) -> Vec<PathBuf> {
    let Some(value) = options
        .split(',')
        .find_map(|option| option.strip_prefix("lowerdir="))
    else {
        return Vec::new();
    };
    let value = crate::mountinfo::unescape(value).into_os_string();
    let mut lowers = Vec::new();
    let mut current = Vec::new();
    let mut bytes = value.as_encoded_bytes().iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => current.extend(bytes.next()),
            b':' => lowers.push(std::mem::take(&mut current)),
            _ => current.push(b),
        }
    }
    lowers.push(current);
    lowers
        .into_iter()
        .filter(|l| !l.is_empty())
        .map(|l| PathBuf::from(std::ffi::OsString::from_vec(l)))
        .collect()
}

/// Unmounts the overlay at `target`.
pub fn unmount(target: &Path) -> Result<()> {
    match nix::mount::umount2(target, MntFlags::empty()) {
        Ok(()) => Ok(()),
        Err(Errno::EBUSY) => nix::mount::umount2(target, MntFlags::MNT_DETACH)
            .with_context(|| format!("cannot unmount {}", target.display())),
        Err(err) => Err(err).with_context(|| format!("cannot unmount {}", target.display())),
    }
}

/// What [`fold`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Folded {
    /// Files, symlinks and FIFOs that replaced or joined the tree's.
    pub moved: u64,
    /// Paths removed by whiteouts.
    pub removed: u64,
    /// Device nodes and sockets a script made, not kept.
    pub dropped: Vec<String>,
}

/// The directory at `rel` below `tree`, which [`fold`] made of real directories only.
fn tree_dir(tree: &OwnedFd, rel: &[u8]) -> Result<OwnedFd> {
    let path = if rel.is_empty() {
        CString::from(c".")
    } else {
        CString::new(rel).context("NUL in a path")?
    };
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    rustix::fs::openat2(
        tree,
        path.as_c_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
    )
    .with_context(|| format!("cannot open {} in the root", String::from_utf8_lossy(rel)))
}

/// Removes every `trusted.overlay.*` attribute of `name` in `dir` (not following it).
fn strip_overlay_xattrs(dir: &OwnedFd, name: &CStr) -> Result<()> {
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name.to_bytes());
    let path = CString::new(path).context("NUL in a path")?;
    let mut buf = vec![0u8; 4096];
    let n = match rustix::fs::llistxattr(path.as_c_str(), &mut buf[..]) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP | rustix::io::Errno::RANGE) => return Ok(()),
        Err(err) => return Err(err).context("cannot list extended attributes"),
    };
    for attr in buf[..n].split(|b| *b == 0) {
        if attr.starts_with(b"trusted.overlay.") {
            let attr = CString::new(attr).context("NUL in an attribute")?;
            rustix::fs::lremovexattr(path.as_c_str(), attr.as_c_str())
                .context("cannot remove an overlay attribute")?;
        }
    }
    Ok(())
}

/// The value of the extended attribute `attr` of `name` in `dir` (not following it).
fn xattr(dir: &OwnedFd, name: &CStr, attr: &CStr) -> Option<Vec<u8>> {
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name.to_bytes());
    let path = CString::new(path).ok()?;
    let mut value = vec![0u8; 4096];
    let n = rustix::fs::lgetxattr(path.as_c_str(), attr, &mut value[..]).ok()?;
    value.truncate(n);
    Some(value)
}

fn is_opaque(dir: &OwnedFd, name: &CStr) -> bool {
    xattr(dir, name, c"trusted.overlay.opaque").is_some_and(|v| v == b"y")
}

fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = parent.to_vec();
    if !out.is_empty() {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// The directories of `upper` that are renamed lower directories (redirects), each with the
/// path of the lower directory it shows, both relative to the layer's top.
fn redirects(upper: &Path) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let top = crate::sys::open(
        upper,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {}", upper.display()))?;
    // The lower path each upper directory shows (its own path unless redirected).
    let mut origin: std::collections::HashMap<Vec<u8>, Vec<u8>> = Default::default();
    let mut found = Vec::new();
    depth_first_paths(top, |dir, name, rel_parent, st| {
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
            return Ok(false);
        }
        let rel = join(rel_parent, name.to_bytes());
        let parent_origin = origin
            .get(rel_parent)
            .cloned()
            .unwrap_or_else(|| rel_parent.to_vec());
        let shown = match xattr(dir, name, c"trusted.overlay.redirect") {
            Some(target) if target.starts_with(b"/") => {
                let start = target
                    .iter()
                    .position(|b| *b != b'/')
                    .unwrap_or(target.len());
                let target = target[start..].to_vec();
                found.push((rel.clone(), target.clone()));
                target
            }
            Some(target) => {
                let target = join(&parent_origin, &target);
                found.push((rel.clone(), target.clone()));
                target
            }
            None => join(&parent_origin, name.to_bytes()),
        };
        origin.insert(rel, shown);
        Ok(true)
    })?;
    Ok(found)
}

/// Folds the upper directory `upper` of an overlay (no longer mounted) into its lower
/// layer `tree`: what the upper layer holds replaces what the tree has at the same path,
/// whiteouts remove, opaque directories hide what was below them; directories get the
/// upper layer's owner, mode and times. Device nodes and sockets are dropped. Nothing in
/// `upper` is followed; `upper` is left empty of files.
pub fn fold(upper: &Path, tree: &Path) -> Result<Folded> {
    let open =
        |p: &Path| super::farm::open_dir(p).with_context(|| format!("cannot open {}", p.display()));
    let tree_fd = open(tree)?;
    // Renamed directories first: each lower directory a redirect shows is moved aside
    // (deepest first, so one inside another goes with its own redirect) and put in place
    // when the walk reaches its new path.
    let mut redirected = redirects(upper)?;
    redirected.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| b.1.cmp(&a.1)));
    let mut held: std::collections::HashMap<Vec<u8>, CString> = Default::default();
    for (i, (new, old)) in redirected.iter().enumerate() {
        let (parent, name) = match old.iter().rposition(|b| *b == b'/') {
            Some(at) => (&old[..at], &old[at + 1..]),
            None => (&old[..0], &old[..]),
        };
        let Ok(from) = tree_dir(&tree_fd, parent) else {
            continue;
        };
        let name = CString::new(name).context("NUL in a redirect")?;
        let hold = CString::new(format!(".obsbox-redirect.{}.{i}", std::process::id()))?;
        match nix::fcntl::renameat(
            Some(from.as_raw_fd()),
            name.as_c_str(),
            Some(tree_fd.as_raw_fd()),
            hold.as_c_str(),
        ) {
            Ok(()) => {
                held.insert(new.clone(), hold);
            }
            Err(Errno::ENOENT) => {}
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("cannot move {} aside", String::from_utf8_lossy(old))
                });
            }
        }
    }
    let upper_fd = open(upper)?;
    let mut folded = Folded::default();
    // The tree directory of the upper directory being visited, by its path.
    let mut current: Option<(Vec<u8>, OwnedFd)> = None;
    // Directories to give their upper owner, mode and times once their entries are in.
    let mut finish: Vec<(Vec<u8>, FileStat)> = Vec::new();
    depth_first_paths(upper_fd, |dir, name, rel_parent, st| {
        if current.as_ref().map(|(p, _)| p.as_slice()) != Some(rel_parent) {
            current = Some((rel_parent.to_vec(), tree_dir(&tree_fd, rel_parent)?));
        }
        let here = &current.as_ref().expect("just set").1;
        let mut rel = rel_parent.to_vec();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name.to_bytes());
        let shown = String::from_utf8_lossy(&rel).into_owned();
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        let there =
            nix::sys::stat::fstatat(Some(here.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)
                .ok()
                .map(|t| SFlag::from_bits_truncate(t.st_mode) & SFlag::S_IFMT);
        match kind {
            SFlag::S_IFCHR if st.st_rdev == 0 => {
                // A whiteout: the path was removed.
                remove_at(here.as_fd(), name).with_context(|| format!("cannot remove {shown}"))?;
                folded.removed += 1;
                Ok(false)
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFSOCK => {
                folded.dropped.push(shown);
                Ok(false)
            }
            SFlag::S_IFDIR => {
                let opaque = is_opaque(dir, name);
                if let Some(hold) = held.remove(&rel) {
                    if there.is_some() {
                        remove_at(here.as_fd(), name)
                            .with_context(|| format!("cannot replace {shown}"))?;
                    }
                    nix::fcntl::renameat(
                        Some(tree_fd.as_raw_fd()),
                        hold.as_c_str(),
                        Some(here.as_raw_fd()),
                        name,
                    )
                    .with_context(|| format!("cannot move the renamed {shown} in place"))?;
                } else if there.is_some() && (there != Some(SFlag::S_IFDIR) || opaque) {
                    remove_at(here.as_fd(), name)
                        .with_context(|| format!("cannot replace {shown}"))?;
                }
                match nix::sys::stat::mkdirat(
                    Some(here.as_raw_fd()),
                    name,
                    Mode::from_bits_truncate(0o700),
                ) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(err) => return Err(err).with_context(|| format!("cannot create {shown}")),
                }
                finish.push((rel, *st));
                Ok(true)
            }
            _ => {
                if there == Some(SFlag::S_IFDIR) {
                    remove_at(here.as_fd(), name)
                        .with_context(|| format!("cannot replace {shown}"))?;
                }
                nix::fcntl::renameat(Some(dir.as_raw_fd()), name, Some(here.as_raw_fd()), name)
                    .with_context(|| format!("cannot move {shown} into the root"))?;
                strip_overlay_xattrs(here, name)
                    .with_context(|| format!("{shown}: overlay attributes"))?;
                folded.moved += 1;
                Ok(false)
            }
        }
    })?;
    drop(current);
    for hold in held.into_values() {
        remove_at(tree_fd.as_fd(), &hold)?;
    }
    // Deepest first, so a directory's times are set after everything below it changed.
    finish.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| b.0.cmp(&a.0)));
    for (rel, st) in finish {
        let fd = tree_dir(&tree_fd, &rel)?;
        let name = CString::from(c".");
        strip_overlay_xattrs(&fd, &name)?;
        super::farm::set_dir_meta(&fd, &st)?;
    }
    if !folded.dropped.is_empty() {
        tracing::warn!(
            nodes = folded.dropped.len(),
            first = %folded.dropped[0],
            "device nodes or sockets made by maintainer scripts are not kept in the root"
        );
    }
    Ok(folded)
}

/// [`depth_first`] with each entry's parent path relative to the top.
fn depth_first_paths(
    top: OwnedFd,
    mut visit: impl FnMut(&OwnedFd, &CStr, &[u8], &FileStat) -> Result<bool>,
) -> Result<()> {
    let path = std::cell::RefCell::new(Vec::<u8>::new());
    let lens = std::cell::RefCell::new(Vec::<usize>::new());
    depth_first(
        top,
        |dir, name, st| {
            let descend = visit(dir, name, &path.borrow(), st)?;
            if descend && SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
                let mut p = path.borrow_mut();
                lens.borrow_mut().push(p.len());
                if !p.is_empty() {
                    p.push(b'/');
                }
                p.extend_from_slice(name.to_bytes());
            }
            Ok(descend)
        },
        |_, _| {
            let len = lens.borrow_mut().pop().unwrap_or(0);
            path.borrow_mut().truncate(len);
            Ok(())
        },
    )
}

/// Runs `f` on an overlay of `tree` mounted at `dir/merged` (upper and work directories in
/// `dir` too), then folds what it wrote into `tree`. `dir` must be on `tree`'s file system.
pub fn run_folded<T>(tree: &Path, dir: &Path, f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let upper = dir.join("upper");
    let work = dir.join("overlay-work");
    let merged = dir.join("merged");
    let overlay = Mount::overlay(&[tree], &upper, &work, &merged)?;
    let result = f(&merged);
    let unmounted = overlay.unmount();
    let value = result?;
    unmounted?;
    fold(&upper, tree)?;
    for d in [&upper, &work, &merged] {
        super::store::remove_tree(d)?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowers_are_read_from_the_options() {
        assert_eq!(
            lowers_of("rw,lowerdir=/c/rootfs/k/tree:/w/b\\:x\\054y,upperdir=/w/u,workdir=/w/w"),
            [PathBuf::from("/c/rootfs/k/tree"), PathBuf::from("/w/b:x,y")]
        );
        assert_eq!(
            lowers_of("rw,lowerdir=/a\\040b,upperdir=/u"),
            [PathBuf::from("/a b")]
        );
        assert!(lowers_of("rw,upperdir=/u").is_empty());
    }
    use anyhow::bail;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, symlink};

    /// Needs root (mounts). An in-place write through the overlay leaves the lower inode
    /// alone; after the fold the tree has the new content as its own inode, removals are
    /// gone, a device node is dropped, and nothing outside was touched.
    #[test]
    fn writes_copy_up_and_fold_into_the_tree() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the unit tests run as root"
        );
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let tree = dir.path().join("tree");
        fs::create_dir_all(&store).unwrap();
        fs::create_dir_all(tree.join("usr/bin")).unwrap();
        fs::create_dir_all(tree.join("gone/deep")).unwrap();
        fs::write(store.join("gcc"), b"real compiler").unwrap();
        fs::hard_link(store.join("gcc"), tree.join("usr/bin/gcc")).unwrap();
        fs::write(tree.join("gone/deep/x"), b"x").unwrap();
        symlink("/etc/hostname", tree.join("link")).unwrap();
        let work = dir.path().join("work");
        fs::create_dir_all(&work).unwrap();
        run_folded(&tree, &work, |merged| {
            use std::io::Write;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .open(merged.join("usr/bin/gcc"))
                .unwrap();
            f.write_all(b"evil compiler").unwrap();
            fs::remove_dir_all(merged.join("gone")).unwrap();
            fs::remove_file(merged.join("link")).unwrap();
            fs::create_dir(merged.join("link")).unwrap();
            fs::write(merged.join("link/new"), b"n").unwrap();
            // Directory renames (redirects), as usrmerge makes them: away and back.
            fs::rename(merged.join("usr/bin"), merged.join("usr/bin~")).unwrap();
            fs::rename(merged.join("usr/bin~"), merged.join("bin")).unwrap();
            symlink("../bin", merged.join("usr/bin")).unwrap();
            nix::sys::stat::mknod(
                &merged.join("usr/null"),
                SFlag::S_IFCHR,
                Mode::from_bits_truncate(0o666),
                nix::sys::stat::makedev(1, 3),
            )
            .unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!(fs::read(store.join("gcc")).unwrap(), b"real compiler");
        assert_eq!(fs::metadata(store.join("gcc")).unwrap().nlink(), 1);
        assert_eq!(
            fs::read(tree.join("usr/bin/gcc")).unwrap(),
            b"evil compiler"
        );
        assert!(!tree.join("gone").exists());
        assert!(tree.join("link").is_dir());
        assert_eq!(fs::read(tree.join("link/new")).unwrap(), b"n");
        assert!(!tree.join("usr/null").exists());
        assert_eq!(fs::read_dir(&work).unwrap().count(), 0);
        bail_if_mounted(&work.join("merged")).unwrap();
    }

    fn bail_if_mounted(path: &Path) -> Result<()> {
        let mounts = fs::read_to_string("/proc/self/mountinfo")?;
        if mounts.contains(path.to_str().unwrap()) {
            bail!("still mounted");
        }
        Ok(())
    }
}
