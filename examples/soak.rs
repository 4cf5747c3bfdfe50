//! Soak: one long-lived obsbox process runs N container lifecycles in a row (create, start,
//! wait, delete: the path every phase and callback of a job takes) and shows that what it
//! holds stays flat: open file descriptors, mounts, obsbox cgroups, processes, RSS.
//!
//!   cargo run --release --example soak -- BUNDLE [N]
//!
//! Exits non-zero when something grew (RSS may grow by at most 2 MB: allocator arenas).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use obsbox::runtime::oneshot::{self, RunOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    fds: usize,
    mounts: usize,
    cgroups: usize,
    processes: usize,
    rss_kb: u64,
}

fn count(dir: &str) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Directories below `obsbox/` in every cgroup hierarchy.
fn obsbox_cgroups() -> usize {
    let mut n = 0;
    for hierarchy in fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(children) = fs::read_dir(hierarchy.path().join("obsbox")) else {
            continue;
        };
        n += children
            .flatten()
            .filter(|c| c.file_type().is_ok_and(|t| t.is_dir()))
            .count();
    }
    n
}

/// This process's children (processes whose parent it is) plus its threads.
fn processes() -> usize {
    let me = std::process::id().to_string();
    let mut n = count("/proc/self/task");
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid …; comm may hold spaces: split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1));
        if ppid == Some(me.as_str()) {
            n += 1;
        }
    }
    n
}

fn held() -> Held {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Held {
        fds: count("/proc/self/fd"),
        mounts: fs::read_to_string("/proc/self/mountinfo")
            .map(|m| m.lines().count())
            .unwrap_or(0),
        cgroups: obsbox_cgroups(),
        processes: processes(),
        rss_kb,
    }
}

fn print(when: &str, h: &Held) {
    println!(
        "{when:<6} fds {:>3}  mounts {:>3}  obsbox cgroups {:>2}  processes {:>2}  RSS {:>6} kB",
        h.fds, h.mounts, h.cgroups, h.processes, h.rss_kb
    );
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let bundle = PathBuf::from(args.next().context("usage: soak BUNDLE [N]")?);
    let n: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(500);
    let state = tempfile::tempdir()?;
    let run = |i: usize, state: &Path| -> Result<()> {
        let outcome = oneshot::run_with(
            &bundle,
            &format!("soak-{i}"),
            state,
            &RunOptions::default(),
            |_| {},
        )?;
        if outcome.code != 0 {
            bail!("lifecycle {i}: exit code {}", outcome.code);
        }
        Ok(())
    };
    // A few lifecycles first: one-time allocations (thread pools, caches) are not leaks.
    for i in 0..5 {
        run(i, state.path())?;
    }
    let start = held();
    print("start", &start);
    let began = Instant::now();
    for i in 5..n + 5 {
        run(i, state.path())?;
    }
    let elapsed = began.elapsed();
    let end = held();
    print("end", &end);
    println!(
        "{n} lifecycles in {:.1} s ({:.1} ms each)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / n as f64
    );
    let left = count(&state.path().to_string_lossy());
    let mut grew = Vec::new();
    if end.fds > start.fds {
        grew.push("file descriptors");
    }
    if end.mounts > start.mounts {
        grew.push("mounts");
    }
    if end.cgroups > start.cgroups {
        grew.push("cgroups");
    }
    if end.processes > start.processes {
        grew.push("processes");
    }
    if end.rss_kb > start.rss_kb + 2048 {
        grew.push("RSS");
    }
    if left > 0 {
        grew.push("container state directories");
    }
    if !grew.is_empty() {
        bail!("grew over {n} lifecycles: {}", grew.join(", "));
    }
    println!("flat: nothing grew");
    Ok(())
}
