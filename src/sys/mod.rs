//! Everything in obsbox that needs `unsafe`, each use behind a small safe function with a
//! `// SAFETY:` note; the rest of obsbox reaches the system through nix and rustix only
//! (the crate denies `unsafe` outside this module).
//!
//! - here: nix's `open`/`openat`/`openat2` with the new descriptor owned (nix 0.29 returns
//!   a raw one; rustix makes the call), and `mount_setattr`, which neither wraps;
//! - [`process`]: forks whose child runs only async-signal-safe code, a spawned child's
//!   set-up between fork and exec, descriptors inherited at fixed numbers;
//! - [`signal`]: the pending set, a timed wait, the kernel's `rt_sigaction`;
//! - [`net`]: a descriptor received over a socket, the loopback interface's flags;
//! - [`shared`]: a page of memory shared with forked processes.

pub mod net;
pub mod process;
pub mod shared;
pub mod signal;

pub use shared::SharedText;

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Context as _, Result};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// `openat(2)` of `path` relative to `dir`, as `nix::fcntl::openat` takes it, returning the
/// descriptor owned.
pub fn openat<P: rustix::path::Arg>(
    dir: impl AsFd,
    path: P,
    flags: OFlag,
    mode: Mode,
) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        dir,
        path,
        oflags(flags),
        rustix::fs::Mode::from_raw_mode(mode.bits()),
    )
    .map_err(errno)
}

/// `openat2(2)` of `path` below `dir` (mode 0), as `nix::fcntl::openat2` takes it, returning
/// the descriptor owned.
pub fn openat2<P: rustix::path::Arg>(
    dir: impl AsFd,
    path: P,
    flags: OFlag,
    resolve: nix::fcntl::ResolveFlag,
) -> Result<OwnedFd, Errno> {
    rustix::fs::openat2(
        dir,
        path,
        oflags(flags),
        rustix::fs::Mode::empty(),
        rustix::fs::ResolveFlags::from_bits_retain(resolve.bits()),
    )
    .map_err(errno)
}

/// `open(2)`, as `nix::fcntl::open` takes it, returning the descriptor owned.
pub fn open<P: rustix::path::Arg>(path: P, flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno> {
    rustix::fs::open(
        path,
        oflags(flags),
        rustix::fs::Mode::from_raw_mode(mode.bits()),
    )
    .map_err(errno)
}

/// nix's open flags as rustix's (both are the kernel's `O_*` bits).
fn oflags(flags: OFlag) -> rustix::fs::OFlags {
    rustix::fs::OFlags::from_bits_retain(flags.bits() as u32)
}

/// rustix's errno as nix's.
fn errno(err: rustix::io::Errno) -> Errno {
    Errno::from_raw(err.raw_os_error())
}

/// `MOUNT_ATTR_*` bits of `mount_setattr(2)`.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(dirfd, path, flags, {attr_set: set})`: sets the attributes `set` on the
/// mount at `path` relative to `dirfd` (`None`: the working directory), or on `dirfd`
/// itself with an empty path and `AT_EMPTY_PATH` in `flags`.
pub fn mount_setattr(
    dirfd: Option<BorrowedFd<'_>>,
    path: &Path,
    flags: libc::c_uint,
    set: u64,
) -> Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let c_path = CString::new(path.as_os_str().as_bytes())?;
    let dirfd = dirfd.map_or(libc::AT_FDCWD, |fd| fd.as_raw_fd());
    // SAFETY: the path is a NUL-terminated string and the attribute structure a live
    // `struct mount_attr` of the size passed; the kernel reads both and keeps neither.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            c_path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("mount_setattr {}", path.display()));
    }
    Ok(())
}
