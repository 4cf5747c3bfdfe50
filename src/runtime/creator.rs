//! Creating obsbox's own containers in a fresh, single-threaded obsbox process.
//!
//! libcontainer forks the container's intermediate process with a raw `clone3`, which skips
//! glibc's fork handlers: a lock another thread held at that moment (glibc's malloc arena,
//! a Rust mutex) stays locked forever in the child, and the child allocates before it
//! executes anything. obsbox's own runs (a build's phases, install scripts, callbacks) have
//! helper threads, so such a creation hangs now and then. So they never fork into a
//! container themselves: a new obsbox process, executed from the sealed binary and
//! single-threaded by construction, creates the container (hooks included) and exits; the
//! container's init is then this process's child again (it is a subreaper), and
//! [`crate::runtime::load`] finds the container in the state directory.
//!
//! The creation has a deadline, and SIGINT, SIGTERM or SIGHUP pending in this process stop
//! it; either way the creating process and what it started are killed and the half-made
//! container is deleted.
//!
//! The runtime commands (`create`, `run`, `exec`) fork in-process: they run no other thread
//! before the fork, which [`ensure_single_threaded`] checks.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd as _, AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use libcontainer::container::Container;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use oci_spec::runtime::Spec;

use super::{container, delete};
use crate::oserror::Relayed;

/// The name of the hidden command the creating process runs.
pub const COMMAND: &str = "create-for-run";

/// Time for a creation apart from its hooks.
pub const BASE_DEADLINE: Duration = Duration::from_secs(60);

/// What a creation hook without its own `timeout` adds to the deadline.
const HOOK_WITHOUT_TIMEOUT: Duration = Duration::from_secs(600);

/// Descriptors of the creating process: its report pipe and the container's stdio.
const REPORT_FD: RawFd = 3;
const STDIO_FDS: [RawFd; 3] = [4, 5, 6];

/// Longest error text the creating process reports.
const REPORT_MAX: usize = 16 * 1024;

/// A creation stopped by a signal this process received.
#[derive(Debug)]
pub struct Interrupted(pub Signal);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted by {}", self.0)
    }
}

impl std::error::Error for Interrupted {}

/// The container's standard streams.
pub struct Stdio3 {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// The deadline of creating a container from `spec`: [`BASE_DEADLINE`] plus the time limits
/// of the hooks that run during creation (`createRuntime`, `createContainer`, `prestart`).
pub fn deadline_for(spec: &Spec) -> Duration {
    let Some(hooks) = spec.hooks() else {
        return BASE_DEADLINE;
    };
    [
        hooks.create_runtime(),
        hooks.create_container(),
        #[allow(deprecated)]
        hooks.prestart(),
    ]
    .into_iter()
    .flatten()
    .flatten()
    .map(|hook| match hook.timeout() {
        Some(secs) if secs > 0 => Duration::from_secs(secs as u64),
        _ => HOOK_WITHOUT_TIMEOUT,
    })
    .fold(BASE_DEADLINE, |sum, d| sum + d)
}

/// Creates container `id` from the bundle `bundle` under `state_root`
/// in a fresh obsbox process, with `stdio` as the container's streams. Fails after
/// `deadline`, or with [`Interrupted`] when SIGINT, SIGTERM or SIGHUP is pending.
pub fn create(
    bundle: &Path,
    id: &str,
    state_root: &Path,
    stdio: Stdio3,
    deadline: Duration,
) -> Result<Container> {
    container::check_id(id)?;
    // The container's init is the creating process's child; once that exits, init must
    // come to us (so we can wait for it), not to the host's init.
    nix::sys::prctl::set_child_subreaper(true).context("cannot become a subreaper")?;
    let (report_read, report_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("cannot create a pipe")?;
    // Moved above the target numbers, so that placing one cannot overwrite another.
    let sources = [
        high(report_write)?,
        high(stdio.stdin)?,
        high(stdio.stdout)?,
        high(stdio.stderr)?,
    ];
    let raw: [RawFd; 4] = [
        sources[0].as_raw_fd(),
        sources[1].as_raw_fd(),
        sources[2].as_raw_fd(),
        sources[3].as_raw_fd(),
    ];
    let mut command = Command::new(program()?);
    // Whatever the binary's file is called (bs_worker's `build` may be a copy of obsbox), it
    // must run as obsbox, not as bs_worker's entries.
    command
        .arg0("obsbox")
        .arg("--root")
        .arg(state_root)
        .arg(COMMAND)
        .arg("--bundle")
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null());
    // Killed with the thread that waits for it; a group of its own, so that a deadline
    // kills the hooks it runs too; the pipe and streams at the numbers `serve` takes.
    crate::sys::process::die_with_parent_in_own_group(
        &mut command,
        [
            (raw[0], REPORT_FD),
            (raw[1], STDIO_FDS[0]),
            (raw[2], STDIO_FDS[1]),
            (raw[3], STDIO_FDS[2]),
        ],
    );
    let started = Instant::now();
    let mut child = command
        .spawn()
        .context("cannot start obsbox to create the container")?;
    drop(sources);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let stopped = wait(&mut child, started + deadline);
    let report = read_report(report_read);
    match stopped {
        Ok(status) if status.success() => container::load(state_root, id)
            .with_context(|| format!("container {id}: create failed")),
        Ok(status) => {
            let text = report.text.trim();
            if text.is_empty() {
                bail!("container {id}: create failed (the creating process ended: {status})");
            }
            Err(anyhow::Error::new(Relayed {
                text: text.to_string(),
                errno: report.errno,
            }))
        }
        Err(stop) => {
            // Whatever the creating process started goes with it (the container's init is
            // in the container's cgroup and goes with the container).
            let _ = nix::sys::signal::killpg(pid, Signal::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
            if let Ok(mut made) = container::load(state_root, id) {
                let _ = made.kill(Signal::SIGKILL, true);
                let _ = delete::delete(&mut made, true);
            } else {
                let _ = std::fs::remove_dir_all(state_root.join(id));
            }
            match stop {
                Stop::Deadline => bail!(
                    "container {id}: create did not finish within {} s; stopped it",
                    deadline.as_secs()
                ),
                Stop::Signal(sig) => Err(anyhow::Error::new(Interrupted(sig))
                    .context(format!("container {id}: create stopped"))),
                Stop::Error(err) => Err(err.context(format!("container {id}: create failed"))),
            }
        }
    }
}

/// What the creating process reports of its failure: the error's text and the OS error
/// number of its cause. On the pipe: the number in decimal (0: none), a newline, the text.
struct Report {
    text: String,
    errno: Option<Errno>,
}

impl Report {
    fn of(err: &anyhow::Error) -> Report {
        Report {
            text: format!("{err:#}"),
            errno: crate::oserror::errno_in(err),
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let number = self.errno.map_or(0, |e| e as i32);
        format!("{number}\n{}", self.text).into_bytes()
    }

    fn parse(bytes: &[u8]) -> Report {
        let text = String::from_utf8_lossy(bytes);
        if let Some((number, rest)) = text.split_once('\n')
            && let Ok(number) = number.parse::<i32>()
        {
            return Report {
                text: rest.to_string(),
                errno: (number != 0).then(|| Errno::from_raw(number)),
            };
        }
        Report {
            text: text.into_owned(),
            errno: None,
        }
    }
}

/// What the creating process wrote on its report pipe before it ended. Read without
/// waiting for the pipe's end: the container's processes, forked before they close their
/// descriptors, may still hold its write end.
fn read_report(pipe: OwnedFd) -> Report {
    let _ = rustix::fs::fcntl_setfl(&pipe, rustix::fs::OFlags::NONBLOCK);
    let mut bytes = Vec::new();
    let _ = File::from(pipe)
        .take(REPORT_MAX as u64)
        .read_to_end(&mut bytes);
    Report::parse(&bytes)
}

enum Stop {
    Deadline,
    Signal(Signal),
    Error(anyhow::Error),
}

/// Waits for the creating process until `until`, watching for termination signals.
fn wait(child: &mut std::process::Child, until: Instant) -> Result<std::process::ExitStatus, Stop> {
    let pidfd = pidfd_open(child.id() as i32).map_err(Stop::Error)?;
    loop {
        if let Some(sig) = pending_termination() {
            return Err(Stop::Signal(sig));
        }
        let now = Instant::now();
        if now >= until {
            return Err(Stop::Deadline);
        }
        // Short enough that a signal is seen soon; a pidfd is readable once the process ended.
        let slice = (until - now).min(Duration::from_millis(100));
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::from(slice.as_millis() as u16)).unwrap_or(0);
        if ready > 0 {
            return child
                .wait()
                .context("waiting for the creating process")
                .map_err(Stop::Error);
        }
    }
}

fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid).context("pidfd_open: no such pid")?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).context("pidfd_open")
}

/// SIGINT, SIGTERM or SIGHUP pending (blocked) in this process or thread; left pending.
pub fn pending_termination() -> Option<Signal> {
    crate::sys::signal::first_pending(&[Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP])
}

/// A copy of `fd` numbered above the descriptors the creating process is given.
fn high(fd: OwnedFd) -> Result<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(&fd, 10).context("cannot duplicate a descriptor")
}

static PROGRAM: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Names the obsbox binary that creates containers, for programs that use this library
/// without being obsbox (tests); obsbox itself never needs it.
pub fn set_program(path: PathBuf) {
    let _ = PROGRAM.set(path);
}

/// The binary the creating process runs: our own when it is sealed (so is the copy that
/// runs), otherwise the obsbox binary on the host, which seals itself.
fn program() -> Result<PathBuf> {
    if let Some(path) = PROGRAM.get() {
        return Ok(path.clone());
    }
    if super::seal::is_sealed() {
        return Ok(PathBuf::from("/proc/self/exe"));
    }
    super::seal::binary_path()
}

/// The creating process's side (the hidden command): creates the container with fds 4–6
/// as its stdio and reports a failure on fd 3. Returns the exit code.
pub fn serve(state_root: &Path, bundle: &Path, id: &str) -> i32 {
    // The parent placed these descriptors for us (`create` dups them to these numbers
    // before exec); this is the one place that takes them over.
    let Some([report, stdin, stdout, stderr]) = crate::sys::process::take_inherited_fds([
        REPORT_FD,
        STDIO_FDS[0],
        STDIO_FDS[1],
        STDIO_FDS[2],
    ]) else {
        eprintln!("obsbox: error: internal error: the inherited descriptors were taken before");
        return 1;
    };
    let mut report = File::from(report);
    // Hooks must not inherit the report pipe (its reader waits for our exit, not EOF, but
    // a hook left running must not hold it either).
    let _ = rustix::io::fcntl_setfd(&report, rustix::io::FdFlags::CLOEXEC);
    let created = (|| -> Result<()> {
        ensure_single_threaded()?;
        let (spec_dir, spec) = container::open_bundle(bundle)?;
        let builder = container::create_builder(state_root, id)?
            .with_stdin(stdin)
            .with_stdout(stdout)
            .with_stderr(stderr)
            .validate_id()?
            .as_init(&spec_dir)
            .with_systemd(false)
            .with_detach(true);
        container::create(builder, id, &spec)?;
        Ok(())
    })();
    match created {
        Ok(()) => 0,
        Err(err) => {
            let _ = report.write_all(&Report::of(&err).to_bytes());
            1
        }
    }
}

/// Fails unless this process has a single thread: libcontainer's fork would otherwise risk
/// a deadlock in the child (see the module's documentation).
pub fn ensure_single_threaded() -> Result<()> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("cannot read /proc/self/status")?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .context("/proc/self/status: no thread count")?;
    if threads != 1 {
        bail!(
            "internal error: {threads} threads run where obsbox forks into a container (one \
             must, or the fork may deadlock)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The creating process's report keeps the OS error of the failure's cause beside its
    /// text, so that a full disk there is still told by its number.
    #[test]
    fn a_report_carries_the_errno_across() {
        let err = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::ENOSPC))
            .context("cannot write state.json");
        let got = Report::parse(&Report::of(&err).to_bytes());
        assert_eq!(got.errno, Some(Errno::ENOSPC));
        assert_eq!(got.text, format!("{err:#}"));
        let plain = Report::parse(&Report::of(&anyhow::anyhow!("bad\nspec: 12")).to_bytes());
        assert_eq!((plain.errno, plain.text.as_str()), (None, "bad\nspec: 12"));
        // Text without the number (a creating process of another version) stays text.
        let old = Report::parse(b"container x: create failed");
        assert_eq!(
            (old.errno, old.text.as_str()),
            (None, "container x: create failed")
        );
    }
}
