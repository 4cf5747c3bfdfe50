//! `obsbox gc`: removes what obsbox runs that died (SIGKILL, a crash, a power cut) left
//! behind: their containers (killed, then deleted), work directories, unfinished cache
//! entries, empty phase cgroups and binfmt_misc entries. Only what obsbox itself made is
//! touched: containers whose id obsbox generated (`obsbox-…-PID`, owned by process PID) and
//! whose owner is gone, work directories named after a dead process, cgroups below
//! `/obsbox`, and entries of the host's binfmt_misc named `obsbox-PID-ARCH`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use nix::sys::signal::Signal;

use crate::rootfs::store::{Store, remove_tree};
use crate::runtime;

/// What `gc` removed.
#[derive(Debug, Default)]
pub struct Collected {
    pub containers: Vec<String>,
    pub work_dirs: Vec<PathBuf>,
    pub cgroups: Vec<PathBuf>,
    pub cache_entries: usize,
    /// Entries of the host's binfmt_misc (`obsbox-PID-ARCH`) of a dead obsbox.
    pub binfmt_entries: Vec<String>,
}

impl Collected {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
            && self.work_dirs.is_empty()
            && self.cgroups.is_empty()
            && self.cache_entries == 0
    }

    /// One line for a log: what was removed, counted.
    pub fn summary(&self) -> String {
        format!(
            "{} containers, {} work directories, {} cgroups, {} unfinished cache entries",
            self.containers.len(),
            self.work_dirs.len(),
            self.cgroups.len(),
            self.cache_entries
        )
    }
}

/// Whether the process `pid` that made `path` still runs: a process of that pid started
/// after `path` was made is another one.
fn alive(pid: i32, path: &Path) -> bool {
    match fs::symlink_metadata(path).and_then(|m| m.created().or_else(|_| m.modified())) {
        Ok(made) => crate::proc::alive_since(pid, made),
        Err(_) => crate::proc::alive(pid),
    }
}

/// The pid of the obsbox process that owns a container id it generated, if it is one.
fn owner_of(id: &str) -> Option<i32> {
    let rest = id.strip_prefix("obsbox-")?;
    rest.rsplit('-').next()?.parse().ok()
}

/// The pid in a work directory name `NAME.PID`.
fn pid_suffix(name: &str) -> Option<i32> {
    name.rsplit('.').next()?.parse().ok()
}

/// Kills and deletes the containers in `state_root` that this process owns (ids ending in
/// its pid) or whose owner is gone: what an interrupted job left, e.g. a callback
/// container whose hook process was killed with the build container's creation. Returns
/// their ids.
pub fn own_leftovers(state_root: &Path) -> Vec<String> {
    let me = std::process::id() as i32;
    let mut removed = Vec::new();
    for id in runtime::container::list_ids(state_root).unwrap_or_default() {
        let Some(owner) = owner_of(&id) else { continue };
        if owner == me || !alive(owner, &state_root.join(&id)) {
            remove_container(state_root, &id);
            removed.push(id);
        }
    }
    removed
}

/// Kills container `id` and deletes it; without usable state only its directory goes.
fn remove_container(state_root: &Path, id: &str) {
    let mut container = match runtime::load(state_root, id) {
        Ok(c) => c,
        Err(err) => {
            tracing::warn!("container {id}: {err:#}; removing its state directory");
            let _ = fs::remove_dir_all(state_root.join(id));
            return;
        }
    };
    let _ = container.kill(Signal::SIGKILL, true);
    if let Err(err) = runtime::delete::delete(&mut container, true) {
        // E.g. killed while it was being created: libcontainer will not delete a
        // container it cannot signal. Its processes go with its cgroups.
        tracing::warn!("container {id}: {err:#}; removing its state directory");
        if let Some(pid) = container.pid() {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        }
        let _ = fs::remove_dir_all(state_root.join(id));
    }
}

pub fn gc(state_root: &Path, cache: &Path) -> Result<Collected> {
    let mut collected = Collected::default();
    for id in runtime::container::list_ids(state_root).unwrap_or_default() {
        let Some(owner) = owner_of(&id) else { continue };
        if alive(owner, &state_root.join(&id)) {
            continue;
        }
        remove_container(state_root, &id);
        collected.containers.push(id);
    }

    if cache.is_dir() {
        let jobs = cache.join("jobs");
        if let Ok(entries) = fs::read_dir(&jobs) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if pid_suffix(&name).is_some_and(|pid| !alive(pid, &entry.path())) {
                    // Its roots' overlays first: removing through them is slow and ends
                    // at their mount points.
                    crate::rootfs::overlay::unmount_under(&entry.path());
                    remove_tree(&entry.path())?;
                    collected.work_dirs.push(entry.path());
                }
            }
        }
        // Leftovers of interrupted unpacking live in the store's tmp/: gc with no size
        // limit removes only those.
        let store = Store::open(cache)?;
        collected.cache_entries = store.gc(u64::MAX)?.len();
    }

    // qemu registered in the host's table by a job that never got to remove it.
    collected.binfmt_entries = crate::binfmt::remove_stale_global();

    // Phase and install cgroups (`/obsbox/<job>-<phase>-<pid>`, `/obsbox/install-<pid>`) of
    // a dead obsbox, emptied above; and libcontainer's default name for the install
    // containers of older obsbox versions (`:youki:obsbox-install-<pid>`), top level.
    if let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") {
        for hierarchy in hierarchies.flatten() {
            let top = hierarchy.path();
            for (base, prefix) in [(top.join("obsbox"), ""), (top, ":youki:obsbox-install-")] {
                let Ok(children) = fs::read_dir(&base) else {
                    continue;
                };
                for child in children.flatten() {
                    let name = child.file_name().to_string_lossy().into_owned();
                    if !name.starts_with(prefix) {
                        continue;
                    }
                    let owner = name.rsplit('-').next().and_then(|p| p.parse::<i32>().ok());
                    if owner.is_none_or(|pid| alive(pid, &child.path())) {
                        continue;
                    }
                    if child.path().is_dir() && remove_cgroup(&child.path()) {
                        collected.cgroups.push(child.path());
                    }
                }
            }
        }
    }
    Ok(collected)
}

/// Removes a cgroup of a dead obsbox: whatever still runs in it (a container caught half
/// created) is thawed and killed first.
fn remove_cgroup(dir: &Path) -> bool {
    let procs = || -> Vec<i32> {
        fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    };
    if !procs().is_empty() {
        let _ = fs::write(dir.join("freezer.state"), "THAWED");
        let _ = fs::write(dir.join("cgroup.freeze"), "0");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let left = procs();
            if left.is_empty() || std::time::Instant::now() > deadline {
                break;
            }
            for pid in left {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    fs::remove_dir(dir).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_generated_ids_have_owners() {
        assert_eq!(owner_of("obsbox-home_x_pkg_x86_64-build-4242"), Some(4242));
        assert_eq!(owner_of("obsbox-install-17"), Some(17));
        assert_eq!(owner_of("podman-abc"), None);
        assert_eq!(owner_of("obsbox-no-pid-here"), None);
        assert_eq!(pid_suffix("home_x_pkg.1234"), Some(1234));
        assert_eq!(pid_suffix("nopid"), None);
    }
}
