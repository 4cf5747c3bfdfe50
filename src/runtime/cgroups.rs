//! A container's cgroup v1 directories, found and removed as libcgroups' v1 manager does.
//!
//! libcgroups finds them one controller at a time, each time reading `/proc/self/mountinfo`
//! and `/proc/self/cgroup` through freshly checked procfs handles: ≈ 500 system calls and
//! ≈ 1.3 ms on this kind of host, paid by every `delete`. The same answer comes from one
//! reading of each file. Used only to remove a stopped container's cgroups (creating them and
//! everything else stays with libcgroups), and only on a cgroup v1 (legacy or hybrid) host.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::sys::statfs::{TMPFS_MAGIC, statfs};
use nix::unistd::Pid;

use crate::mountinfo::{self, Mount};

/// Where the cgroup hierarchies are mounted (libcgroups' default root).
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The v1 controllers libcgroups puts a container's processes in, in its order, and the
/// named `systemd` hierarchy obsbox puts them in (see [`super::cgroup_mounts`]).
const V1_CONTROLLERS: [&str; 13] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
    "name=systemd",
];

/// The directories of cgroup `path` (a `cgroupsPath`) in every v1 hierarchy, or `None` when
/// this host's cgroups are not v1 (a unified host: libcgroups' v2 manager applies).
pub fn v1_dirs(path: &Path) -> Result<Option<Vec<PathBuf>>> {
    Ok(v1_view()?.map(|(mounts, own)| dirs_in(&mounts, &own, path)))
}

/// The directory of cgroup `path` in the v1 hierarchy of `controller`, when this host has
/// one (`None` on a unified host, or without that hierarchy).
pub fn v1_dir(path: &Path, controller: &str) -> Result<Option<PathBuf>> {
    Ok(v1_view()?.and_then(|(mounts, own)| {
        dirs_for(&mounts, &own, path, &[controller])
            .into_iter()
            .next()
    }))
}

/// This process's mounts and its own cgroups (`/proc/self/cgroup`), or `None` when the
/// host's cgroups are not v1.
fn v1_view() -> Result<Option<(Vec<Mount>, String)>> {
    // The same test as libcgroups: a tmpfs at the root means v1 hierarchies below it.
    let root = statfs(CGROUP_ROOT).with_context(|| format!("cannot stat {CGROUP_ROOT}"))?;
    if root.filesystem_type() != TMPFS_MAGIC {
        return Ok(None);
    }
    let mounts =
        fs::read_to_string("/proc/self/mountinfo").context("cannot read /proc/self/mountinfo")?;
    let own = fs::read_to_string("/proc/self/cgroup").context("cannot read /proc/self/cgroup")?;
    Ok(Some((mountinfo::parse(&mounts), own)))
}

/// For each controller this process is in and that has a `cgroup` mount: that mount joined
/// with `path` (a leading `/` dropped), each directory once.
fn dirs_in(mounts: &[Mount], own: &str, path: &Path) -> Vec<PathBuf> {
    dirs_for(mounts, own, path, &V1_CONTROLLERS)
}

fn dirs_for(mounts: &[Mount], own: &str, path: &Path, controllers: &[&str]) -> Vec<PathBuf> {
    let relative = path.strip_prefix("/").unwrap_or(path);
    let mut dirs: Vec<PathBuf> = Vec::new();
    // A container in the hierarchies' roots: those are never removed (nor their processes
    // killed).
    if relative.as_os_str().is_empty() {
        return dirs;
    }
    for &name in controllers {
        let joined = own.lines().any(|line| {
            line.split(':')
                .nth(1)
                .is_some_and(|controllers| controllers.split(',').any(|c| c == name))
        });
        if !joined {
            continue;
        }
        let Some(mount) = mounts
            .iter()
            .find(|m| m.fstype == "cgroup" && mounted_for(&m.point, name))
        else {
            continue;
        };
        let dir = mount.point.join(relative);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// Whether a v1 hierarchy mounted at `point` is the one for controller `name`, judged by the
/// mount point's last component as libcgroups does (`cpu,cpuacct` serves both).
fn mounted_for(point: &Path, name: &str) -> bool {
    let names: &[&str] = match name {
        "net_cls" => &["net_cls,net_prio", "net_prio,net_cls", "net_cls"],
        "net_prio" => &["net_cls,net_prio", "net_prio,net_cls", "net_prio"],
        "cpu" => &["cpu,cpuacct", "cpu"],
        "cpuacct" => &["cpu,cpuacct", "cpuacct"],
        "name=systemd" => &["systemd"],
        _ => return point.ends_with(name),
    };
    names.iter().any(|n| point.ends_with(n))
}

/// Removes cgroup directories as libcgroups' v1 manager does: a process still in one is
/// killed, and an `rmdir` refused while the kernel releases it is tried again (four tries,
/// ≈ 0.1 s in all).
pub fn remove(dirs: &[PathBuf]) -> Result<()> {
    for dir in dirs {
        if !dir.exists() {
            continue;
        }
        let procs = dir.join("cgroup.procs");
        let listed = fs::read_to_string(&procs)
            .with_context(|| format!("cannot read {}", procs.display()))?;
        for line in listed.lines() {
            let pid: i32 = line
                .trim()
                .parse()
                .with_context(|| format!("{}: odd line {line:?}", procs.display()))?;
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        remove_with_retry(dir)?;
    }
    Ok(())
}

fn remove_with_retry(dir: &Path) -> Result<()> {
    let mut delay = Duration::from_millis(10);
    for attempt in 1..=4u32 {
        if fs::remove_dir(dir).is_ok() {
            return Ok(());
        }
        std::thread::sleep(delay);
        delay = (delay * attempt).min(Duration::from_millis(100));
    }
    bail!("cannot remove cgroup {}: still busy", dir.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A usual systemd host's layout: v1 controllers (cpu and cpuacct together, net_cls and
    /// net_prio together), a named systemd hierarchy and the unified one beside them.
    const MOUNTS: &str = "\
27 22 0:25 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
28 27 0:26 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
29 27 0:27 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
30 27 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
31 27 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory
32 27 0:30 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
33 27 0:31 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,pids
34 27 0:32 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,freezer
";
    const OWN: &str = "\
6:freezer:/
5:pids:/user.slice
4:net_cls,net_prio:/
3:memory:/user.slice
2:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/session-1.scope
0::/user.slice/session-1.scope
";

    fn names(dirs: &[PathBuf]) -> Vec<String> {
        dirs.iter().map(|d| d.display().to_string()).collect()
    }

    #[test]
    fn one_directory_per_mounted_controller_in_libcgroups_order() {
        let mounts = mountinfo::parse(MOUNTS);
        assert_eq!(
            names(&dirs_in(&mounts, OWN, Path::new("/:youki:c1"))),
            [
                "/sys/fs/cgroup/cpu,cpuacct/:youki:c1",
                "/sys/fs/cgroup/memory/:youki:c1",
                "/sys/fs/cgroup/pids/:youki:c1",
                "/sys/fs/cgroup/net_cls,net_prio/:youki:c1",
                "/sys/fs/cgroup/freezer/:youki:c1",
                "/sys/fs/cgroup/systemd/:youki:c1",
            ]
        );
        // A relative cgroupsPath is joined as it is.
        assert_eq!(
            names(&dirs_in(&mounts, OWN, Path::new("obs/job"))),
            [
                "/sys/fs/cgroup/cpu,cpuacct/obs/job",
                "/sys/fs/cgroup/memory/obs/job",
                "/sys/fs/cgroup/pids/obs/job",
                "/sys/fs/cgroup/net_cls,net_prio/obs/job",
                "/sys/fs/cgroup/freezer/obs/job",
                "/sys/fs/cgroup/systemd/obs/job",
            ]
        );
    }

    #[test]
    fn a_controller_needs_both_a_mount_and_a_line_in_own_cgroups() {
        let mounts = mountinfo::parse(MOUNTS);
        // Not in our own cgroups: memory. Not mounted: blkio.
        let own = "3:blkio:/\n2:cpu,cpuacct:/\n";
        assert_eq!(
            names(&dirs_in(&mounts, own, Path::new("/c"))),
            ["/sys/fs/cgroup/cpu,cpuacct/c"]
        );
        // Separately mounted cpu and cpuacct (as on the development VM) give two directories.
        let split = "\
40 27 0:40 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
41 27 0:41 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct
";
        assert_eq!(
            names(&dirs_in(
                &mountinfo::parse(split),
                "2:cpu:/\n3:cpuacct:/\n",
                Path::new("/c")
            )),
            ["/sys/fs/cgroup/cpu/c", "/sys/fs/cgroup/cpuacct/c"]
        );
    }
}
