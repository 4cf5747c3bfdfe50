//! Foreground `run`: wait for the container's init, passing on the signals we receive.

use anyhow::{Context as _, Result};
use nix::sys::signal::{self, SigSet, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// Blocks every signal, forwards each one to `init` (SIGCHLD and SIGURG excepted) and returns
/// init's exit code, 128 + the signal number when a signal ended it, as a shell reports it.
pub fn wait_forwarding_signals(init: Pid) -> Result<i32> {
    wait_reporting_signals(init).map(|(code, _)| code)
}

/// As [`wait_forwarding_signals`], and also says whether SIGINT, SIGTERM or SIGHUP came
/// (the caller stops its own work then, after the container has ended).
pub fn wait_reporting_signals(init: Pid) -> Result<(i32, Option<Signal>)> {
    let all = SigSet::all();
    let previous = all.thread_swap_mask(signal::SigmaskHow::SIG_BLOCK)?;
    let mut interrupted = None;
    let result = forward_until_exit(init, &all, &mut interrupted);
    let _ = previous.thread_set_mask();
    result.map(|code| (code, interrupted))
}

fn forward_until_exit(init: Pid, all: &SigSet, interrupted: &mut Option<Signal>) -> Result<i32> {
    loop {
        // Reap before waiting: init may have exited before the signals were blocked.
        if let Some(code) = reap(init)? {
            return Ok(code);
        }
        match all.wait().context("sigwait")? {
            Signal::SIGCHLD | Signal::SIGURG => {}
            sig => {
                if matches!(sig, Signal::SIGINT | Signal::SIGTERM | Signal::SIGHUP) {
                    interrupted.get_or_insert(sig);
                }
                if let Err(err) = signal::kill(init, sig) {
                    tracing::warn!("cannot forward {sig} to the container: {err}");
                }
            }
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
