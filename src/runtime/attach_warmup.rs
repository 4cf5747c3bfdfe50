//! Starting the cgroup attach lock's RCU grace period early, beside the set-up work.
//!
//! Moving a process into a cgroup (writing its pid to `cgroup.procs`, which libcontainer does
//! for a container's first process) takes the kernel's global `cgroup_threadgroup_rwsem`
//! for writing. When nobody has taken it for a while, that waits for an RCU grace period:
//! ≈ 5–16 ms on this kind of machine (measured alone: 5.8 ms median), the largest single
//! wait in starting a container, and paid by runc too. The lock stays cheap for about a grace
//! period after its last writer.
//!
//! So a command that is about to create a container starts such a write at once, from a
//! short-lived child process that moves itself into the cgroup it is already in, which changes
//! nothing. The grace period then runs while obsbox seals itself, parses the bundle, writes
//! its state and forks, instead of after. (The child holds the kernel's cgroup mutex while it
//! waits, so libcontainer's own cgroup work queues behind it: what overlaps is everything
//! before that.) A child process rather than a thread: the helper
//! must outlive the re-execution that seals obsbox (a thread in that wait would hold the
//! `execve` up), and it receives none of the signals a foreground `run` passes on.

use std::path::PathBuf;

/// Starts the grace period in the background. Best effort: when no cgroup file can be
/// opened or no child forked, nothing happens and containers start as they would have.
/// The child exits once the kernel let it through; whoever reaps this process's children
/// (a foreground `run`, or the subreaper that inherits them) reaps it.
pub fn start() {
    let Some(file) = candidates()
        .iter()
        .find_map(|path| std::fs::OpenOptions::new().write(true).open(path).ok())
    else {
        return;
    };
    // A failed move (e.g. EBUSY in a cgroup v2 inner node) has still taken the lock, which
    // is all this is for.
    if let Err(err) = crate::sys::process::fork_writing_own_pid(&file) {
        tracing::debug!("no attach warm-up child: {err}");
    }
}

/// The `cgroup.procs` files of this process's own cgroups, v1 hierarchies first (where
/// libcontainer's v1 manager attaches on a hybrid host), then the unified hierarchy.
fn candidates() -> Vec<PathBuf> {
    let Ok(own) = std::fs::read_to_string("/proc/self/cgroup") else {
        return Vec::new();
    };
    parse(&own)
}

fn parse(own: &str) -> Vec<PathBuf> {
    let mut v1 = Vec::new();
    let mut v2 = Vec::new();
    for line in own.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let path = path.trim_start_matches('/');
        if path.split('/').any(|part| part == "..") {
            continue;
        }
        if controllers.is_empty() {
            for mount in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
                v2.push(PathBuf::from(mount).join(path).join("cgroup.procs"));
            }
        } else if !controllers.starts_with("name=") {
            v1.push(
                PathBuf::from("/sys/fs/cgroup")
                    .join(controllers)
                    .join(path)
                    .join("cgroup.procs"),
            );
        }
    }
    v1.extend(v2);
    v1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cgroups_v1_first_then_unified() {
        let own = "12:freezer:/user.slice\n\
                   4:cpu,cpuacct:/user.slice\n\
                   1:name=systemd:/user.slice/session-1.scope\n\
                   0::/user.slice/session-1.scope\n";
        let paths: Vec<String> = parse(own).iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            paths,
            [
                "/sys/fs/cgroup/freezer/user.slice/cgroup.procs",
                "/sys/fs/cgroup/cpu,cpuacct/user.slice/cgroup.procs",
                "/sys/fs/cgroup/unified/user.slice/session-1.scope/cgroup.procs",
                "/sys/fs/cgroup/user.slice/session-1.scope/cgroup.procs",
            ]
        );
    }

    #[test]
    fn pure_v2_root_and_odd_lines() {
        assert_eq!(
            parse("0::/\ngarbage\n3:pids:/../x\n"),
            [
                PathBuf::from("/sys/fs/cgroup/unified/cgroup.procs"),
                PathBuf::from("/sys/fs/cgroup/cgroup.procs"),
            ]
        );
    }
}
