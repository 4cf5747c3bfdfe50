//! Re-executing obsbox from a sealed binary (CVE-2019-5736 class).
//!
//! A process that enters a container starts as a fork of obsbox, so until it executes the
//! container's program its `/proc/PID/exe` is obsbox's binary; a hostile container could
//! reopen that and overwrite the runtime on the host. So `create`, `run` and `exec` first
//! re-execute themselves from a binary that cannot be written through:
//!
//! 1. preferred, zero-copy: the binary opened through a private, read-only, lower-only
//!    overlayfs mount (created with `fsopen`/`fsmount` and never attached anywhere). A
//!    lower-only overlay has no upper layer, so it can never be remounted writable.
//! 2. fallback: a sealed memfd copy of the binary (the `pentacle` crate), which costs a copy
//!    of the whole binary on every call (≈ 7 ms here).

use std::ffi::{CString, OsString};
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;

/// An empty directory used as the second (required) lower layer of the sealing overlay.
const EMPTY_LOWER: &str = "/run/obsbox-seal-lower";

/// The environment variable that carries the path of the obsbox binary on the host.
const BINARY_ENV: &str = "OBSBOX_BINARY";

/// The obsbox binary as a path on the host, for hooks that run obsbox again.
pub fn binary_path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        return Ok(PathBuf::from(path));
    }
    std::env::current_exe().context("cannot find the obsbox binary")
}

/// Makes sure the running binary is sealed, re-executing it if it is not. Returns only when
/// running sealed (or with an error when no sealing method works).
pub fn ensure_sealed() -> Result<()> {
    if is_sealed() {
        return Ok(());
    }
    // Once sealed, /proc/self/exe no longer names a file on the host; hooks that call
    // obsbox again (callbacks) need that path, so it travels in the environment.
    if std::env::var_os(BINARY_ENV).is_none() {
        if let Ok(exe) = std::env::current_exe() {
            // SAFETY: main calls this first, before any other thread exists.
            unsafe { std::env::set_var(BINARY_ENV, exe) };
        }
    }
    match sealed_overlay_exe() {
        Ok(exe) => {
            let err = reexec(&exe);
            tracing::debug!("re-exec through the sealed overlay failed: {err:#}");
        }
        Err(err) => tracing::debug!("no sealed overlay: {err:#}"),
    }
    pentacle::ensure_sealed().context("cannot seal /proc/self/exe")
}

/// Whether this process runs from a sealed binary already.
pub fn is_sealed() -> bool {
    running_from_sealed_overlay() || pentacle::is_sealed()
}

/// Whether our binary lives on a read-only overlayfs: what `sealed_overlay_exe` produces.
fn running_from_sealed_overlay() -> bool {
    let Ok(exe) = fs::File::open("/proc/self/exe") else {
        return false;
    };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatfs(exe.as_raw_fd(), &mut st) } != 0 {
        return false;
    }
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatvfs(exe.as_raw_fd(), &mut vfs) } != 0 {
        return false;
    }
    st.f_type == OVERLAYFS_SUPER_MAGIC && (vfs.f_flag & libc::ST_RDONLY) != 0
}

fn check(ret: libc::c_long, what: &str) -> Result<libc::c_long> {
    if ret < 0 {
        bail!("{what}: {}", std::io::Error::last_os_error());
    }
    Ok(ret)
}

fn cstring(s: impl AsRef<[u8]>) -> Result<CString> {
    Ok(CString::new(s.as_ref())?)
}

/// A new mount of the file system `fstype`, made with the mount API (`fsopen`, `fsconfig`,
/// `fsmount`) from the string options `options` (and those of `optional` the kernel takes)
/// with the mount attributes `attrs`, and detached: nothing sees it until it is moved into
/// place or opened through.
pub(crate) fn detached_mount(
    fstype: &str,
    options: &[(&str, &str)],
    optional: &[(&str, &str)],
    attrs: libc::c_uint,
) -> Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;

    let fs_name = cstring(fstype)?;
    let ctx = check(
        unsafe { libc::syscall(libc::SYS_fsopen, fs_name.as_ptr(), FSOPEN_CLOEXEC) },
        &format!("fsopen {fstype}"),
    )?;
    let ctx = unsafe { OwnedFd::from_raw_fd(ctx as i32) };
    let set = |key: &str, value: &str| -> Result<()> {
        let (c_key, c_value) = (cstring(key)?, cstring(value)?);
        check(
            unsafe {
                libc::syscall(
                    libc::SYS_fsconfig,
                    ctx.as_raw_fd(),
                    FSCONFIG_SET_STRING,
                    c_key.as_ptr(),
                    c_value.as_ptr(),
                    0,
                )
            },
            &format!("fsconfig {fstype} {key}"),
        )?;
        Ok(())
    };
    for (key, value) in options {
        set(key, value)?;
    }
    for (key, value) in optional {
        let _ = set(key, value);
    }
    check(
        unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                ctx.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<u8>(),
                std::ptr::null::<u8>(),
                0,
            )
        },
        &format!("fsconfig {fstype} create"),
    )?;
    let mnt = check(
        unsafe { libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) },
        &format!("fsmount {fstype}"),
    )?;
    Ok(unsafe { OwnedFd::from_raw_fd(mnt as i32) })
}

/// Opens our binary (O_PATH) through a detached, read-only, lower-only overlay mount.
fn sealed_overlay_exe() -> Result<OwnedFd> {
    const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
    const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
    const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

    let exe: PathBuf = fs::read_link("/proc/self/exe").context("readlink /proc/self/exe")?;
    let (dir, name) = match (exe.parent(), exe.file_name()) {
        (Some(dir), Some(name)) => (dir.to_path_buf(), name.to_os_string()),
        _ => bail!("odd executable path {}", exe.display()),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(EMPTY_LOWER)
        .with_context(|| format!("mkdir {EMPTY_LOWER}"))?;
    // The binary's directory on top, so nothing in the empty layer can shadow it.
    let lowerdir = format!("{}:{EMPTY_LOWER}", escape_lowerdir(&dir));

    // Inode-number remapping is irrelevant here and only logs noise when enabled.
    let mnt = detached_mount(
        "overlay",
        &[("lowerdir", &lowerdir)],
        &[("xino", "off")],
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    )?;
    let name = cstring(name.as_bytes())?;
    let fd = check(
        unsafe {
            libc::openat(
                mnt.as_raw_fd(),
                name.as_ptr(),
                libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            ) as libc::c_long
        },
        "open the binary through the overlay",
    )?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `:` and `\` separate and escape overlay layers.
fn escape_lowerdir(dir: &Path) -> String {
    dir.to_string_lossy()
        .replace('\\', "\\\\")
        .replace(':', "\\:")
}

/// Executes `exe` with our arguments and environment; returns only on failure.
fn reexec(exe: &OwnedFd) -> anyhow::Error {
    let to_c = |items: Vec<OsString>| -> Result<Vec<CString>> {
        items.iter().map(|s| cstring(s.as_bytes())).collect()
    };
    let args = match to_c(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(err) => return err,
    };
    let env = match to_c(
        std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                kv
            })
            .collect(),
    ) {
        Ok(env) => env,
        Err(err) => return err,
    };
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let empty = c"";
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            exe.as_raw_fd(),
            empty.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    anyhow::anyhow!("execveat: {}", std::io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowerdir_escaping() {
        assert_eq!(escape_lowerdir(Path::new("/a:b\\c")), "/a\\:b\\\\c");
    }
}
