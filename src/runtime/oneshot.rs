//! Running a bundle to completion inside obsbox (no CLI round trip): create, start, pump
//! its output, wait (passing signals on), read its peak memory, delete. This is how
//! obsbox runs its own work: install scripts, lifecycle phases, checks.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::Signal;

use super::{container, creator, delete, foreground, hooks};

/// How long a container gets to stop after obsbox passed SIGINT/SIGTERM/SIGHUP on.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How a container run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Exit code of the container's process (128 + signal when a signal ended it).
    pub code: i32,
    /// SIGINT, SIGTERM or SIGHUP received by obsbox while waiting (and passed on).
    pub interrupted: Option<Signal>,
    pub wall: Duration,
    /// Peak memory of the container's cgroup in bytes, when the kernel reports it.
    pub peak_memory: Option<u64>,
    /// Killed at its time limit.
    pub timed_out: bool,
}

/// Work on a created container before its process starts, given its init's pid (e.g.
/// registering qemu for it: [`crate::binfmt::Emulation::after_create`]). A failure ends the
/// run before the container's process has run.
pub type AfterCreate = std::sync::Arc<dyn Fn(i32) -> Result<()> + Send + Sync>;

/// What a run may be given beyond the bundle.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Kill the container this long after it started.
    pub timeout: Option<Duration>,
    /// Write the process's exit code here once it has ended, before the container is
    /// deleted: its poststop hooks (post-build callbacks) read it there.
    pub exit_file: Option<PathBuf>,
    /// Done once the container is created, before its process starts.
    pub after_create: Option<AfterCreate>,
    /// How long creating the container (its creation hooks included) may take; by default
    /// [`creator::deadline_for`] the spec.
    pub create_deadline: Option<Duration>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("timeout", &self.timeout)
            .field("exit_file", &self.exit_file)
            .field("after_create", &self.after_create.is_some())
            .field("create_deadline", &self.create_deadline)
            .finish()
    }
}

/// Runs the bundle at `bundle` as container `id` (state under `state_root`), with a time
/// limit and an exit-code file as `options` say. Every line the container writes on stdout
/// or stderr is handed to `line`, in order.
pub fn run_with(
    bundle: &Path,
    id: &str,
    state_root: &Path,
    options: &RunOptions,
    mut line: impl FnMut(&str) + Send,
) -> Result<Outcome> {
    let started = Instant::now();
    let (spec_dir, spec) = container::open_bundle(bundle)?;
    let cgroup = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    let (reader, writer) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("cannot create a pipe")?;
    let writer: OwnedFd = writer;
    let stdio = creator::Stdio3 {
        stdin: File::open("/dev/null")?.into(),
        stdout: writer.try_clone()?,
        stderr: writer,
    };
    let deadline = options
        .create_deadline
        .unwrap_or_else(|| creator::deadline_for(&spec));
    let mut created = creator::create(&spec_dir, id, state_root, stdio, deadline)?;
    if let Some(after_create) = &options.after_create {
        let done = created
            .pid()
            .with_context(|| format!("container {id}: no init process"))
            .and_then(|pid| after_create(pid.as_raw()));
        if let Err(err) = done {
            let _ = created.kill(Signal::SIGKILL, true);
            let _ = delete::delete(&mut created, true);
            return Err(err.context(format!("container {id}: cannot set it up")));
        }
    }
    // Our copies of the pipe's write end went to the creating process: the reader sees EOF
    // when the container's processes have all exited. Signals stay blocked in the pump
    // thread (it inherits this mask), so they reach the waiting thread and get passed on.
    let previous = nix::sys::signal::SigSet::all()
        .thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK)?;
    let result = std::thread::scope(|scope| {
        let pump = scope.spawn(move || {
            let mut reader = BufReader::new(File::from(reader));
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&buf);
                        line(text.trim_end_matches('\n'));
                    }
                }
            }
        });
        let waited = hooks::start_with_poststart(&mut created)
            .with_context(|| format!("container {id}: start failed"))
            .and_then(|()| {
                let pid = created
                    .pid()
                    .with_context(|| format!("container {id}: no init process"))?;
                foreground::wait_reporting_signals(pid, Some(STOP_TIMEOUT), options.timeout)
            });
        // On a start failure nothing holds the pipe but the container's (dead) init.
        if waited.is_err() {
            let _ = created.kill(Signal::SIGKILL, true);
        }
        let _ = pump.join();
        waited
    });
    let _ = previous.thread_set_mask();
    if let (Ok(waited), Some(file)) = (&result, &options.exit_file) {
        if let Err(err) = std::fs::write(file, format!("{}\n", waited.code)) {
            tracing::warn!("cannot write {}: {err}", file.display());
        }
    }
    let peak_memory = cgroup.as_deref().and_then(peak_memory_of);
    if let Err(err) = delete::delete(&mut created, true) {
        tracing::warn!("container {id}: {err:#}");
    }
    let waited = result?;
    Ok(Outcome {
        code: waited.code,
        interrupted: waited.interrupted,
        timed_out: waited.timed_out,
        wall: started.elapsed(),
        peak_memory,
    })
}

/// The peak memory of a cgroup: `memory.max_usage_in_bytes` on cgroup v1, `memory.peak`
/// on v2.
fn peak_memory_of(cgroup: &Path) -> Option<u64> {
    let rel = cgroup.strip_prefix("/").unwrap_or(cgroup);
    let candidates: [PathBuf; 2] = [
        Path::new("/sys/fs/cgroup/memory")
            .join(rel)
            .join("memory.max_usage_in_bytes"),
        Path::new("/sys/fs/cgroup").join(rel).join("memory.peak"),
    ];
    candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| s.trim().parse().ok())
}
