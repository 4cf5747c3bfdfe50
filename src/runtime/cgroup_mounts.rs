//! The container's view of its cgroup v1 hierarchies, made what runc makes it.
//!
//! For a `cgroup` mount on a cgroup v1 host libcontainer 0.7 mounts a tmpfs and binds into it
//! each hierarchy at the cgroup the container's init is in, read-write and without
//! nosuid/nodev/noexec. It does not put the container in a `name=systemd` cgroup of its own,
//! so that hierarchy shows the caller's cgroup, often the host's root: a root process in the
//! container could create cgroups on the host, leave its own cgroup and raise its limits.
//!
//! runc puts the container's processes in `name=systemd:<cgroupsPath>` too and binds every
//! hierarchy read-only (unless the spec's mount says `rw`) with nosuid, nodev and noexec,
//! scoped to the container's own cgroup. So once libcontainer has created the container, and
//! before anything of it runs, obsbox does the same from the host: it joins the init to its
//! `name=systemd` cgroup, then in the container's mount namespace replaces every hierarchy
//! libcontainer bound by a bind of the container's own cgroup directory with those flags and
//! makes the tmpfs read-only as well. The mounts are prepared detached on the host
//! (`open_tree`, `mount_setattr`) and moved into place (`move_mount`), so no host path needs to
//! be visible inside the container. A spec without a `cgroup` mount, or a unified host, is
//! left as libcontainer made it.

use std::fs::{self, File};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use libcontainer::config::YoukiConfig;
use libcontainer::container::Container;
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::statfs::{TMPFS_MAGIC, statfs};
use oci_spec::runtime::Spec;

use crate::mountinfo::{self, Mount};

/// Where libcontainer looks for the host's hierarchies (and only there).
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

use crate::sys::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};

/// One hierarchy as the container will see it: the host directory of the container's cgroup
/// in it (`None` when the container has no cgroup of its own there: nothing is shown) and
/// the name of its directory below the `cgroup` mount's destination.
#[derive(Debug, PartialEq, Eq)]
struct Hierarchy {
    source: Option<PathBuf>,
    name: PathBuf,
}

/// Confines the `cgroup` mounts of the just created `container` (see the module's comment).
/// Must run before the container is started.
pub fn confine(container: &Container, spec: &Spec) -> Result<()> {
    let destinations: Vec<(PathBuf, bool)> = spec
        .mounts()
        .iter()
        .flatten()
        .filter(|m| m.typ().as_deref() == Some("cgroup"))
        .map(|m| (m.destination().clone(), writable(m.options().as_deref())))
        .collect();
    if destinations.is_empty() {
        return Ok(());
    }
    let on_tmpfs = statfs(CGROUP_ROOT)
        .with_context(|| format!("cannot stat {CGROUP_ROOT}"))?
        .filesystem_type()
        == TMPFS_MAGIC;
    if !on_tmpfs {
        return Ok(());
    }
    let pid = container
        .pid()
        .context("no init process recorded")?
        .as_raw();
    let mounts = mountinfo::parse(
        &fs::read_to_string("/proc/self/mountinfo").context("cannot read /proc/self/mountinfo")?,
    );
    if !container.systemd() {
        let path = YoukiConfig::load(&container.root)
            .context("cannot read the saved config")?
            .cgroup_path;
        join_named_systemd(&mounts, pid, &path)?;
    }
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .with_context(|| format!("cannot read /proc/{pid}/cgroup"))?;
    let hierarchies = plan(&mounts, &own);
    for (destination, writable) in destinations {
        remount(pid, &destination, &hierarchies, writable).with_context(|| {
            format!("cannot confine the cgroup mount {}", destination.display())
        })?;
    }
    Ok(())
}

/// Whether a `cgroup` mount's options ask for it writable: only an explicit `rw` (the last
/// of `ro`/`rw` counts); without either it is read-only, as in runc's spec template.
fn writable(options: Option<&[String]>) -> bool {
    options
        .unwrap_or_default()
        .iter()
        .rev()
        .find_map(|o| match o.as_str() {
            "rw" => Some(true),
            "ro" => Some(false),
            _ => None,
        })
        .unwrap_or(false)
}

/// The v1 hierarchies libcontainer binds (cgroup mounts below `/sys/fs/cgroup`) and, for
/// each, the host directory of the cgroup that `own` (a `/proc/PID/cgroup`) lists for it.
fn plan(mounts: &[Mount], own: &str) -> Vec<Hierarchy> {
    mounts
        .iter()
        .filter(|m| m.fstype == "cgroup" && m.point.starts_with(CGROUP_ROOT))
        .filter_map(|m| {
            let name = PathBuf::from(m.point.file_name()?);
            let options: Vec<&str> = m.super_options.split(',').collect();
            let source = own.lines().find_map(|line| {
                let mut fields = line.splitn(3, ':');
                let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
                let ours =
                    !controllers.is_empty() && controllers.split(',').all(|c| options.contains(&c));
                if !ours {
                    return None;
                }
                // The path is relative to the hierarchy's root, the mount may show a part.
                let below = Path::new(path).strip_prefix(&m.root).ok()?;
                // A container in the hierarchy's root has no cgroup of its own to show.
                (!below.as_os_str().is_empty()).then(|| m.point.join(below))
            });
            Some(Hierarchy { source, name })
        })
        .collect()
}

/// Puts process `pid` in `path` of the `name=systemd` hierarchy, as runc does (libcontainer
/// leaves it in its caller's). A relative path starts at the hierarchy's root, as for the
/// other hierarchies.
fn join_named_systemd(mounts: &[Mount], pid: i32, path: &Path) -> Result<()> {
    let Some(mount) = mounts.iter().find(|m| {
        m.fstype == "cgroup"
            && m.point.starts_with(CGROUP_ROOT)
            && m.super_options.split(',').any(|o| o == "name=systemd")
    }) else {
        return Ok(());
    };
    let relative = path.strip_prefix("/").unwrap_or(path);
    if relative.as_os_str().is_empty() {
        return Ok(());
    }
    let dir = mount.point.join(relative);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    fs::write(dir.join("cgroup.procs"), pid.to_string())
        .with_context(|| format!("cannot move process {pid} into {}", dir.display()))
}

/// A detached bind mount of the host directory `source` with the attributes `set`.
fn detached_bind(source: &Path, set: u64) -> Result<OwnedFd> {
    use rustix::mount::{OpenTreeFlags, open_tree};
    let fd = open_tree(
        rustix::fs::CWD,
        source,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .with_context(|| format!("open_tree {}", source.display()))?;
    crate::sys::mount_setattr(
        Some(fd.as_fd()),
        Path::new(""),
        libc::AT_EMPTY_PATH as _,
        set,
    )?;
    Ok(fd)
}

/// Removes whatever is mounted on `target` (a path inside the current root).
fn unmount_all(target: &Path) -> Result<()> {
    for _ in 0..16 {
        match rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH) {
            Ok(()) => {}
            // EINVAL: nothing (more) is mounted there.
            Err(rustix::io::Errno::INVAL) => return Ok(()),
            Err(err) => bail!("umount {}: {err}", target.display()),
        }
    }
    bail!("umount {}: too many mounts stacked", target.display())
}

/// A new, empty tmpfs like the one libcontainer mounts for the hierarchies (mode 0755,
/// nosuid, nodev, noexec), detached: nothing sees it until it is moved into place.
fn detached_tmpfs() -> Result<OwnedFd> {
    super::seal::detached_mount(
        "tmpfs",
        &[("source", "tmpfs"), ("mode", "755")],
        &[],
        rustix::mount::MountAttrFlags::MOUNT_ATTR_NOSUID
            | rustix::mount::MountAttrFlags::MOUNT_ATTR_NODEV
            | rustix::mount::MountAttrFlags::MOUNT_ATTR_NOEXEC,
    )
}

/// Moves the detached mount `fd` onto `target` (a path inside the current root).
fn attach(fd: &OwnedFd, target: &Path) -> Result<()> {
    rustix::mount::move_mount(
        fd,
        "",
        rustix::fs::CWD,
        target,
        rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .with_context(|| format!("move_mount onto {}", target.display()))
}

/// In the mount namespace of process `pid`: the tmpfs at `destination`, with libcontainer's
/// binds of every hierarchy below it, replaced by a new tmpfs holding the same directories
/// and symlinks, in which each hierarchy's directory gets its prepared bind (or stays
/// empty); then the tmpfs gets the same attributes. The old tree goes in one lazy unmount:
/// every unmount waits for an RCU grace period, which on a busy host takes milliseconds,
/// so one per hierarchy made this the slowest step of starting a container. The new tree
/// is assembled where it is (in the container's namespace, before anything of it runs),
/// since a detached tmpfs cannot take mounts on older kernels.
/// Runs in a thread of its own, which alone changes namespace and root.
fn remount(pid: i32, destination: &Path, hierarchies: &[Hierarchy], writable: bool) -> Result<()> {
    let mut set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    if !writable {
        set |= MOUNT_ATTR_RDONLY;
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> Result<()> {
                // A thread shares its root and working directory with the process unless it
                // unshares them; setns into a mount namespace requires that.
                unshare(CloneFlags::CLONE_FS).context("unshare CLONE_FS")?;
                let namespace = File::open(format!("/proc/{pid}/ns/mnt"))
                    .with_context(|| format!("cannot open /proc/{pid}/ns/mnt"))?;
                let ours = fs::metadata("/proc/self/ns/mnt")?;
                let theirs = namespace.metadata()?;
                if (ours.dev(), ours.ino()) == (theirs.dev(), theirs.ino()) {
                    bail!("the container has no mount namespace of its own");
                }
                let root = File::open(format!("/proc/{pid}/root"))
                    .with_context(|| format!("cannot open /proc/{pid}/root"))?;
                // Made before the binds, so it lists before them in mountinfo (by mount id).
                let tmpfs = detached_tmpfs()?;
                let binds: Vec<(Option<OwnedFd>, &Path)> = hierarchies
                    .iter()
                    .map(|h| {
                        let fd = h
                            .source
                            .as_deref()
                            .map(|s| detached_bind(s, set))
                            .transpose()?;
                        Ok((fd, h.name.as_path()))
                    })
                    .collect::<Result<_>>()?;
                setns(&namespace, CloneFlags::CLONE_NEWNS).context("setns")?;
                nix::unistd::fchdir(root.as_raw_fd()).context("fchdir")?;
                nix::unistd::chroot(".").context("chroot")?;
                let top = Path::new("/").join(destination);
                // What libcontainer made there: a directory per hierarchy, and a symlink per
                // controller of a co-mounted one (`cpu` -> `cpu,cpuacct`).
                let mut dirs = Vec::new();
                let mut links = Vec::new();
                for entry in
                    fs::read_dir(&top).with_context(|| format!("cannot read {}", top.display()))?
                {
                    let entry = entry?;
                    let kind = entry.file_type()?;
                    if kind.is_symlink() {
                        links.push((entry.file_name(), fs::read_link(entry.path())?));
                    } else if kind.is_dir() {
                        dirs.push(entry.file_name());
                    }
                }
                unmount_all(&top)?;
                attach(&tmpfs, &top)?;
                for name in &dirs {
                    fs::DirBuilder::new()
                        .mode(0o755)
                        .create(top.join(name))
                        .with_context(|| format!("cannot create {}", top.join(name).display()))?;
                }
                for (name, target) in &links {
                    std::os::unix::fs::symlink(target, top.join(name))
                        .with_context(|| format!("cannot create {}", top.join(name).display()))?;
                }
                for (fd, name) in &binds {
                    let Some(fd) = fd else { continue };
                    if !dirs.iter().any(|d| Path::new(d) == *name) {
                        continue;
                    }
                    attach(fd, &top.join(name))?;
                }
                crate::sys::mount_setattr(None, &top, 0, set)
            })
            .join()
            .unwrap_or_else(|_| bail!("the remounting thread panicked"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
27 22 0:25 / /sys/fs/cgroup rw shared:9 - tmpfs tmpfs rw,mode=755
28 27 0:26 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw
29 27 0:27 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,name=systemd
30 27 0:28 / /sys/fs/cgroup/cpu,cpuacct rw shared:12 - cgroup cgroup rw,cpu,cpuacct
31 27 0:29 /outer /sys/fs/cgroup/memory rw shared:13 - cgroup cgroup rw,memory
32 27 0:30 / /sys/fs/cgroup/pids rw shared:15 - cgroup cgroup rw,pids
33 22 0:31 / /mnt/elsewhere rw - cgroup cgroup rw,freezer
";

    #[test]
    fn each_hierarchy_shows_the_containers_own_cgroup() {
        let own = "\
5:pids:/
3:memory:/outer/obsbox/c
2:cpu,cpuacct:/obsbox/c
1:name=systemd:/obsbox/c
0::/
";
        let plan = plan(&mountinfo::parse(MOUNTS), own);
        let shown: Vec<(String, Option<String>)> = plan
            .iter()
            .map(|h| {
                (
                    h.name.display().to_string(),
                    h.source.as_ref().map(|s| s.display().to_string()),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "systemd".into(),
                    Some("/sys/fs/cgroup/systemd/obsbox/c".into())
                ),
                (
                    "cpu,cpuacct".into(),
                    Some("/sys/fs/cgroup/cpu,cpuacct/obsbox/c".into())
                ),
                // The host mount shows /outer only: the path is taken relative to it.
                (
                    "memory".into(),
                    Some("/sys/fs/cgroup/memory/obsbox/c".into())
                ),
                // At the hierarchy's root: nothing of the host is shown.
                ("pids".into(), None),
            ]
        );
    }

    #[test]
    fn writable_only_when_asked_explicitly() {
        let opts = |o: &[&str]| o.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(!writable(None));
        assert!(!writable(Some(&opts(&["nosuid", "noexec"]))));
        assert!(!writable(Some(&opts(&["rw", "ro"]))));
        assert!(writable(Some(&opts(&["ro", "nosuid", "rw"]))));
    }
}
