//! Foreground `run`: wait for the container's init, passing on the signals we receive.

use anyhow::{Context as _, Result};
use nix::sys::signal::{self, SigSet, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// How often the wait reaps again without having seen a signal.
const REAP_POLL: Duration = Duration::from_millis(200);

/// Spawns a helper thread with every signal blocked, so that signals meant for the
/// container reach the thread that waits for them and passes them on.
pub fn spawn_deaf<F, T>(f: F) -> std::thread::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let previous = SigSet::all().thread_swap_mask(signal::SigmaskHow::SIG_BLOCK);
    let handle = std::thread::spawn(f);
    if let Ok(previous) = previous {
        let _ = previous.thread_set_mask();
    }
    handle
}

/// Blocks every signal, forwards each one to `init` (SIGCHLD and SIGURG excepted) and returns
/// init's exit code, 128 + the signal number when a signal ended it, as a shell reports it.
/// Only init gets them, as runc's foreground `run` does.
pub fn wait_forwarding_signals(init: Pid) -> Result<i32> {
    wait(init, None, None, false).map(|w| w.code)
}

/// How a waited-for container ended.
#[derive(Debug, Clone, Copy)]
pub struct Waited {
    pub code: i32,
    /// SIGINT, SIGTERM or SIGHUP came while waiting (and was passed on).
    pub interrupted: Option<Signal>,
    /// The container was killed because it ran past its time limit.
    pub timed_out: bool,
}

/// As [`wait_forwarding_signals`], and also says whether SIGINT, SIGTERM or SIGHUP came
/// (the caller stops its own work then, after the container has ended). Such a signal goes
/// to every process of the container, not to init alone: init is PID 1 of its PID namespace,
/// which ignores every signal it has no handler for (`/bin/sh -c` has none), so the build
/// would run on; its children ended, it exits. With `kill_after`, a container still running
/// that long after such a signal is killed. With `limit`, a container still running that
/// long after the wait began is killed.
pub fn wait_reporting_signals(
    init: Pid,
    kill_after: Option<Duration>,
    limit: Option<Duration>,
) -> Result<Waited> {
    wait(init, kill_after, limit, true)
}

/// Signals blocked for the wait; a stopping signal to init alone or to every process of
/// the container (`stop_all`).
fn wait(
    init: Pid,
    kill_after: Option<Duration>,
    limit: Option<Duration>,
    stop_all: bool,
) -> Result<Waited> {
    let all = SigSet::all();
    let previous = all.thread_swap_mask(signal::SigmaskHow::SIG_BLOCK)?;
    let mut waited = Waited {
        code: 0,
        interrupted: None,
        timed_out: false,
    };
    let limit_at = limit.map(|d| Instant::now() + d);
    let result = forward_until_exit(init, &all, &mut waited, kill_after, limit_at, stop_all);
    let _ = previous.thread_set_mask();
    result.map(|code| Waited { code, ..waited })
}

fn forward_until_exit(
    init: Pid,
    all: &SigSet,
    waited: &mut Waited,
    kill_after: Option<Duration>,
    mut limit_at: Option<Instant>,
    stop_all: bool,
) -> Result<i32> {
    let mut stop_at: Option<Instant> = None;
    loop {
        // Reap before waiting: init may have exited before the signals were blocked.
        if let Some(code) = reap(init)? {
            return Ok(code);
        }
        // Wake up now and then to reap again even without a signal: a SIGCHLD that another
        // thread of this process took (one spawned with signals open) must not hang us.
        let poll = Instant::now() + REAP_POLL;
        let wake = [Some(poll), stop_at, limit_at].into_iter().flatten().min();
        let Some(sig) = wait_until(all, wake.unwrap_or(poll))? else {
            let now = Instant::now();
            if let (Some(at), Some(after)) = (stop_at, kill_after)
                && now >= at
            {
                tracing::warn!(
                    "the container did not stop within {} s of the signal: killing it",
                    after.as_secs_f64()
                );
                let _ = signal::kill(init, Signal::SIGKILL);
                stop_at = None;
            }
            if limit_at.is_some_and(|at| now >= at) {
                waited.timed_out = true;
                let _ = signal::kill(init, Signal::SIGKILL);
                limit_at = None;
            }
            continue;
        };
        match sig {
            Signal::SIGCHLD | Signal::SIGURG => {}
            sig => {
                if matches!(sig, Signal::SIGINT | Signal::SIGTERM | Signal::SIGHUP)
                    && waited.interrupted.is_none()
                {
                    waited.interrupted = Some(sig);
                    stop_at = kill_after.map(|d| Instant::now() + d);
                }
                if let Err(err) = signal::kill(init, sig) {
                    tracing::warn!("cannot forward {sig} to the container: {err}");
                }
                if stop_all && matches!(sig, Signal::SIGINT | Signal::SIGTERM | Signal::SIGHUP) {
                    for pid in crate::proc::descendants(init.as_raw()) {
                        let _ = signal::kill(Pid::from_raw(pid), sig);
                    }
                }
            }
        }
    }
}

/// Waits for a signal of `set` until `at`; `None` when the time is up. Signals without a
/// name (real-time ones) come back as SIGURG, which the caller ignores.
fn wait_until(set: &SigSet, at: Instant) -> Result<Option<Signal>> {
    loop {
        let left = at.saturating_duration_since(Instant::now());
        match crate::sys::signal::sigtimedwait(set, left) {
            Ok(sig) => return Ok(Some(Signal::try_from(sig).unwrap_or(Signal::SIGURG))),
            Err(nix::errno::Errno::EAGAIN) => return Ok(None),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("sigtimedwait"),
        }
    }
}

/// Reaps every exited child (we are a subreaper, so orphans of the container land here);
/// returns init's exit code once it is among them.
fn reap(init: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == init => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == init => {
                return Ok(Some(128 + sig as i32));
            }
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return Ok(None),
            Ok(_) => {}
            Err(err) => return Err(err).context("waitpid"),
        }
    }
}
