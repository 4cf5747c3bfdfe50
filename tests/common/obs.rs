//! What the OBS worker tests share: the HTTP agent they talk to OBS's servers (or the
//! stand-in) with, and what a job leaves behind.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::time::Duration;

/// An agent that hands every HTTP status back instead of failing on it.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .new_agent()
}

/// What is left of a job (`job`: its id as obsbox names its work directory and cgroups) on
/// one worker, whose obsbox keeps work directories in `work` and state in `state_root`:
/// work directories, state entries, mounts, cgroups and live processes. Nothing may be.
pub fn job_leftovers(work: &Path, state_root: &Path, job: &str) -> Vec<String> {
    let mut left = Vec::new();
    for e in fs::read_dir(work).into_iter().flatten().flatten() {
        if e.file_name()
            .to_string_lossy()
            .starts_with(&format!("{job}."))
        {
            left.push(format!("work directory {}", e.path().display()));
        }
    }
    for e in fs::read_dir(state_root).into_iter().flatten().flatten() {
        left.push(format!("state {}", e.path().display()));
    }
    for line in super::mounts_mentioning(&format!("{}/{job}.", work.display())) {
        left.push(format!("mount {line}"));
    }
    for h in fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        for g in fs::read_dir(h.path().join("obsbox"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if g.file_name().to_string_lossy().contains(job) {
                left.push(format!("cgroup {}", g.path().display()));
            }
        }
    }
    for p in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(root) = fs::read_link(p.path().join("root"))
            && root.starts_with(work)
            && root.to_string_lossy().contains(job)
            && super::process_alive(pid)
        {
            left.push(format!("process {pid} in {}", root.display()));
        }
    }
    left
}

/// The host's binfmt_misc entries obsbox registers globally (`obsbox-PID-qemu-…`), when
/// binfmt_misc is mounted: a finished job leaves none.
pub fn obsbox_binfmt_entries() -> Vec<String> {
    fs::read_dir("/proc/sys/fs/binfmt_misc")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("obsbox-"))
        .collect()
}
