//! Processes as `/proc` shows them, read through the `procfs` crate: whether a process
//! still runs, whether it is the one that made something (pids are reused), its
//! descendants, a pending SIGKILL, this process's own cgroups. The one place obsbox asks
//! these questions.

use std::time::{Duration, SystemTime};

use procfs::process::Process;

/// A process named so that a later process with the same pid is not taken for it: its pid
/// and its start time (clock ticks since boot, `/proc/PID/stat` field 22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub pid: i32,
    pub start: u64,
}

impl Identity {
    /// The identity of process `pid`, when it exists.
    pub fn of(pid: i32) -> Option<Identity> {
        let stat = Process::new(pid).ok()?.stat().ok()?;
        Some(Identity {
            pid,
            start: stat.starttime,
        })
    }

    /// This process.
    pub fn myself() -> Option<Identity> {
        Identity::of(std::process::id() as i32)
    }

    /// Whether this very process still runs (exists, is not a zombie, was not replaced by
    /// another process with the same pid).
    pub fn alive(self) -> bool {
        let Some(stat) = Process::new(self.pid).ok().and_then(|p| p.stat().ok()) else {
            return false;
        };
        stat.starttime == self.start && running(stat.state)
    }
}

/// Whether a process in `state` (`/proc/PID/stat` field 3) runs: not a zombie, which a
/// killed process stays until its parent reaps it, and not dead.
fn running(state: char) -> bool {
    state != 'Z' && state != 'X'
}

/// Whether process `pid` runs: it exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    Process::new(pid)
        .ok()
        .and_then(|p| p.stat().ok())
        .is_some_and(|stat| running(stat.state))
}

/// Whether process `pid` runs and started no later than `since`: the process that made
/// something at `since`, not a later one that got the same pid after it died (pids wrap
/// quickly on a busy worker: `pid_max` is often 32768). Where the start time cannot be
/// read, as [`alive`].
pub fn alive_since(pid: i32, since: SystemTime) -> bool {
    if !alive(pid) {
        return false;
    }
    match started(pid) {
        // Clock ticks are 10 ms, and the wall clock may have been slewed since: a second
        // of slack keeps the owner from ever looking younger than what it made.
        Some(start) => start <= since + Duration::from_secs(1),
        None => true,
    }
}

/// When process `pid` started, from its start in clock ticks since boot and the time since
/// boot now.
pub fn started(pid: i32) -> Option<SystemTime> {
    let ticks = Identity::of(pid)?.start;
    let per_second = procfs::ticks_per_second();
    if per_second == 0 {
        return None;
    }
    let since_boot = Duration::from_nanos(
        (u128::from(ticks) * 1_000_000_000 / u128::from(per_second))
            .try_into()
            .ok()?,
    );
    let now_boot = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).ok()?;
    let age = Duration::from(now_boot).checked_sub(since_boot)?;
    SystemTime::now().checked_sub(age)
}

/// The processes below `pid` (children, their children, …), parents before their
/// children. A container's processes are all below its init: orphans in its PID namespace
/// are reparented to it.
pub fn descendants(pid: i32) -> Vec<i32> {
    let parent_of: Vec<(i32, i32)> = procfs::process::all_processes()
        .map(|all| {
            all.filter_map(|p| p.ok()?.stat().ok())
                .map(|stat| (stat.pid, stat.ppid))
                .collect()
        })
        .unwrap_or_default();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        for &(p, ppid) in &parent_of {
            if ppid == parent && !found.contains(&p) {
                found.push(p);
            }
        }
        i += 1;
    }
    found.remove(0);
    found
}

/// Whether process `pid` has a SIGKILL pending (it is being killed).
pub fn sigkill_pending(pid: i32) -> bool {
    let Some(status) = Process::new(pid).ok().and_then(|p| p.status().ok()) else {
        return false;
    };
    let kill_bit = 1u64 << (libc::SIGKILL - 1);
    (status.sigpnd | status.shdpnd) & kill_bit != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_the_owner_only_of_what_it_could_have_made() {
        let me = std::process::id() as i32;
        let now = SystemTime::now();
        assert!(alive_since(me, now));
        // Something made before this process started belongs to an earlier one.
        assert!(!alive_since(
            me,
            now - Duration::from_secs(3600 * 24 * 365 * 30)
        ));
        let start = started(me).unwrap();
        assert!(start <= now && now.duration_since(start).unwrap().as_secs() < 3600);
    }

    #[test]
    fn identities_survive_pid_reuse() {
        let me = Identity::myself().unwrap();
        assert!(me.alive());
        assert!(
            !Identity {
                start: me.start + 1,
                ..me
            }
            .alive()
        );
    }

    #[test]
    fn descendants_and_pending_kills() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(descendants(std::process::id() as i32).contains(&pid));
        assert!(alive(pid));
        assert!(!sigkill_pending(pid));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!alive(pid));
        assert!(Identity::of(pid).is_none());
    }
}
