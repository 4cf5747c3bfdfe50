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
use std::os::fd::{AsRawFd, OwnedFd};
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
    // obsbox again (callbacks) need that path, so it travels in the environment of the
    // re-execution (set there, not here: changing this process's environment is unsound
    // once a thread may read it).
    let binary = match std::env::var_os(BINARY_ENV) {
        Some(_) => None,
        None => std::env::current_exe().ok(),
    };
    match sealed_overlay_exe() {
        Ok(exe) => {
            let err = reexec(&exe, binary.as_deref());
            tracing::debug!("re-exec through the sealed overlay failed: {err:#}");
        }
        Err(err) => tracing::debug!("no sealed overlay: {err:#}"),
    }
    Err(reexec_sealed_copy(binary.as_deref())).context("cannot seal /proc/self/exe")
}

/// Executes a sealed memfd copy of our binary (pentacle's) with our arguments and
/// environment, plus `binary` as [`BINARY_ENV`]; returns only on failure.
fn reexec_sealed_copy(binary: Option<&Path>) -> std::io::Error {
    use std::os::unix::process::CommandExt as _;
    let mut exe = match fs::File::open("/proc/self/exe") {
        Ok(exe) => exe,
        Err(err) => return err,
    };
    let mut command = match pentacle::SealedCommand::new(&mut exe) {
        Ok(command) => command,
        Err(err) => return err,
    };
    let mut args = std::env::args_os();
    if let Some(arg0) = args.next() {
        command.arg0(arg0);
    }
    command.args(args);
    if let Some(binary) = binary {
        command.env(BINARY_ENV, binary);
    }
    command.exec()
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
    let (Ok(st), Ok(vfs)) = (rustix::fs::fstatfs(&exe), rustix::fs::fstatvfs(&exe)) else {
        return false;
    };
    st.f_type == OVERLAYFS_SUPER_MAGIC && vfs.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY)
}

/// A new mount of the file system `fstype`, made with the mount API (`fsopen`, `fsconfig`,
/// `fsmount`) from the string options `options` (and those of `optional` the kernel takes)
/// with the mount attributes `attrs`, and detached: nothing sees it until it is moved into
/// place or opened through.
pub(crate) fn detached_mount(
    fstype: &str,
    options: &[(&str, &str)],
    optional: &[(&str, &str)],
    attrs: rustix::mount::MountAttrFlags,
) -> Result<OwnedFd> {
    use rustix::mount::{
        FsMountFlags, FsOpenFlags, fsconfig_create, fsconfig_set_string, fsmount, fsopen,
    };
    let ctx =
        fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC).with_context(|| format!("fsopen {fstype}"))?;
    for (key, value) in options {
        fsconfig_set_string(&ctx, *key, *value)
            .with_context(|| format!("fsconfig {fstype} {key}"))?;
    }
    for (key, value) in optional {
        let _ = fsconfig_set_string(&ctx, *key, *value);
    }
    fsconfig_create(&ctx).with_context(|| format!("fsconfig {fstype} create"))?;
    fsmount(&ctx, FsMountFlags::FSMOUNT_CLOEXEC, attrs).with_context(|| format!("fsmount {fstype}"))
}

/// Opens our binary (O_PATH) through a detached, read-only, lower-only overlay mount.
fn sealed_overlay_exe() -> Result<OwnedFd> {
    use rustix::mount::MountAttrFlags;

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
        MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NOSUID
            | MountAttrFlags::MOUNT_ATTR_NODEV,
    )?;
    rustix::fs::openat(
        &mnt,
        name.as_os_str(),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .context("open the binary through the overlay")
}

/// `:` and `\` separate and escape overlay layers.
fn escape_lowerdir(dir: &Path) -> String {
    dir.to_string_lossy()
        .replace('\\', "\\\\")
        .replace(':', "\\:")
}

/// Executes `exe` with our arguments and environment, plus `binary` as [`BINARY_ENV`];
/// returns only on failure.
fn reexec(exe: &OwnedFd, binary: Option<&Path>) -> anyhow::Error {
    let to_c = |items: Vec<OsString>| -> Result<Vec<CString>> {
        items
            .iter()
            .map(|s| Ok(CString::new(s.as_bytes())?))
            .collect()
    };
    let args = match to_c(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(err) => return err,
    };
    let extra = binary.map(|binary| (OsString::from(BINARY_ENV), binary.as_os_str().to_owned()));
    let env = match to_c(
        std::env::vars_os()
            .chain(extra)
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
    let Err(err) = nix::unistd::execveat(
        Some(exe.as_raw_fd()),
        c"",
        &args,
        &env,
        nix::fcntl::AtFlags::AT_EMPTY_PATH,
    );
    anyhow::anyhow!("execveat: {err}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowerdir_escaping() {
        assert_eq!(escape_lowerdir(Path::new("/a:b\\c")), "/a\\:b\\\\c");
    }
}
