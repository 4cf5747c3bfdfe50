//! The system accounts of an extract-mode root.
//!
//! Debian's `/etc/passwd` and `/etc/group` are no package's files: base-passwd's postinst
//! makes them from its masters. Extract mode runs no maintainer script, so a toolbox would
//! have no `root` user at all, and tools that look it up (kiwi: `getpwnam(): name not
//! found: 'root'`, tar and rsync when they map owners) fail. The masters are copied into
//! place instead, as new files: the root is a hard-link farm of the package store, whose
//! inodes must never change.

use std::ffi::CStr;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::packages::extract::open_dir_beneath;

/// base-passwd's masters, the files made from them in `etc`, and their paths in the root.
const MASTERS: &[(&CStr, &CStr, &str)] = &[
    (c"passwd.master", c"passwd", "etc/passwd"),
    (c"group.master", c"group", "etc/group"),
];

/// Writes `etc/passwd` and `etc/group` of the root at `tree` from
/// `usr/share/base-passwd/{passwd,group}.master` where the root has the master and not the
/// file. Returns the files written. Nothing on the way may be a symlink: a package cannot
/// point the write elsewhere.
pub fn write_from_base_passwd(tree: &Path) -> Result<Vec<&'static str>> {
    let root = crate::rootfs::farm::open_dir(tree)
        .with_context(|| format!("cannot open {}", tree.display()))?;
    let masters = match open_dir_beneath(&root, c"usr/share/base-passwd") {
        Ok(dir) => dir,
        Err(Errno::ENOENT) => return Ok(Vec::new()),
        Err(err) => return Err(err).context("cannot open usr/share/base-passwd"),
    };
    let etc = match open_dir_beneath(&root, c"etc") {
        Ok(dir) => dir,
        Err(Errno::ENOENT) => {
            nix::sys::stat::mkdirat(
                Some(root.as_raw_fd()),
                c"etc",
                Mode::from_bits_truncate(0o755),
            )
            .context("cannot create etc")?;
            open_dir_beneath(&root, c"etc").context("cannot open etc")?
        }
        Err(err) => return Err(err).context("cannot open etc"),
    };
    let mut written = Vec::new();
    for (master, file, path) in MASTERS {
        let Some(content) = read_at(&masters, master)? else {
            continue;
        };
        // O_EXCL: an existing file (or a symlink, even a dangling one) is left alone.
        let fd = match crate::sys::openat(
            &etc,
            *file,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        ) {
            Ok(fd) => fd,
            Err(Errno::EEXIST) => continue,
            Err(err) => {
                return Err(err).with_context(|| format!("cannot create {path}"));
            }
        };
        let mut out = std::fs::File::from(fd);
        out.write_all(&content)
            .with_context(|| format!("cannot write {path}"))?;
        // The umask may have narrowed the mode given at creation.
        nix::sys::stat::fchmod(out.as_raw_fd(), Mode::from_bits_truncate(0o644))?;
        written.push(*path);
    }
    Ok(written)
}

/// The content of regular file `name` in `dir`, or None when there is none.
fn read_at(dir: &OwnedFd, name: &CStr) -> Result<Option<Vec<u8>>> {
    let fd = match crate::sys::openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT | Errno::ELOOP) => return Ok(None),
        Err(err) => {
            return Err(err).with_context(|| format!("cannot open {}", name.to_string_lossy()));
        }
    };
    let mut file = std::fs::File::from(fd);
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    let mut content = Vec::new();
    file.read_to_end(&mut content)
        .with_context(|| format!("cannot read {}", name.to_string_lossy()))?;
    Ok(Some(content))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::MetadataExt;

    fn root_with_masters() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let masters = dir.path().join("usr/share/base-passwd");
        fs::create_dir_all(&masters).unwrap();
        fs::write(
            masters.join("passwd.master"),
            "root:*:0:0:root:/root:/bin/sh\n",
        )
        .unwrap();
        fs::write(masters.join("group.master"), "root:*:0:\n").unwrap();
        dir
    }

    #[test]
    fn copies_the_masters_as_new_files() {
        let dir = root_with_masters();
        fs::create_dir(dir.path().join("etc")).unwrap();
        let written = write_from_base_passwd(dir.path()).unwrap();
        assert_eq!(written, ["etc/passwd", "etc/group"]);
        let passwd = dir.path().join("etc/passwd");
        assert_eq!(
            fs::read_to_string(&passwd).unwrap(),
            "root:*:0:0:root:/root:/bin/sh\n"
        );
        assert_eq!(fs::metadata(&passwd).unwrap().mode() & 0o7777, 0o644);
        // A copy: the master (a store inode in a real root) keeps its single link.
        let master = dir.path().join("usr/share/base-passwd/passwd.master");
        assert_eq!(fs::metadata(&master).unwrap().nlink(), 1);
        assert_ne!(
            fs::metadata(&master).unwrap().ino(),
            fs::metadata(&passwd).unwrap().ino()
        );
        // Done once: a second call finds the files.
        assert!(write_from_base_passwd(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn leaves_existing_files_and_symlinks_alone() {
        let dir = root_with_masters();
        fs::create_dir(dir.path().join("etc")).unwrap();
        fs::write(dir.path().join("etc/passwd"), "own\n").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path().join("group"), dir.path().join("etc/group"))
            .unwrap();
        assert!(write_from_base_passwd(dir.path()).unwrap().is_empty());
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/passwd")).unwrap(),
            "own\n"
        );
        assert!(!outside.path().join("group").exists());
    }

    #[test]
    fn refuses_an_etc_that_is_a_symlink() {
        let dir = root_with_masters();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("etc")).unwrap();
        assert!(write_from_base_passwd(dir.path()).is_err());
        assert!(!outside.path().join("passwd").exists());
    }

    #[test]
    fn nothing_without_base_passwd() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_from_base_passwd(dir.path()).unwrap().is_empty());
        assert!(!dir.path().join("etc").exists());
    }
}
