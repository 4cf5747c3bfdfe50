//! Signal calls nix 0.29 does not wrap: the pending set, a timed wait, and the kernel's
//! own `rt_sigaction` for signals the C library keeps to itself.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};

/// The first of `signals` pending (blocked) in this process or thread, left pending.
/// `None` also when `sigpending` fails.
pub fn first_pending(signals: &[Signal]) -> Option<Signal> {
    // SAFETY: sigset_t is plain data (a bit array), for which all zeroes is a valid value.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live sigset_t that sigpending writes and keeps no pointer to.
    if unsafe { libc::sigpending(&mut set) } != 0 {
        return None;
    }
    signals
        .iter()
        // SAFETY: `set` was filled by sigpending.
        .find(|s| unsafe { libc::sigismember(&set, **s as i32) } == 1)
        .copied()
}

/// `sigtimedwait(2)` for a signal of `set` (blocked by the caller) for at most `timeout`:
/// the number of the signal taken, or the error (`EAGAIN`: the time is up, `EINTR`).
pub fn sigtimedwait(set: &SigSet, timeout: Duration) -> Result<i32, Errno> {
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: valid set and timeout that the call only reads; no siginfo wanted.
    let ret = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &timeout) };
    if ret >= 0 {
        Ok(ret)
    } else {
        Err(Errno::last())
    }
}

/// Sets signal number `sig` to its default action, with the kernel's `rt_sigaction`
/// (the C library's `sigaction` refuses the real-time signals it reserves for itself).
pub fn set_default_action(sig: i32) -> std::io::Result<()> {
    // The kernel's sigaction: handler, flags, restorer (where the architecture has one) and
    // mask; all zero is SIG_DFL with no flags and an empty mask on every architecture.
    let action = [0u64; 4];
    // SAFETY: `action` outlives the call and is at least as large as the kernel's struct;
    // no old action is asked for; 8 is the size of the kernel's signal set. A default
    // action installs no handler, so no code of ours runs on the signal.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            action.as_ptr(),
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::{SigmaskHow, pthread_sigmask, raise};

    #[test]
    fn a_blocked_signal_is_pending_then_waited_for() {
        let mut set = SigSet::empty();
        set.add(Signal::SIGUSR2);
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).expect("block SIGUSR2");
        assert_eq!(first_pending(&[Signal::SIGUSR2]), None);
        raise(Signal::SIGUSR2).expect("raise SIGUSR2");
        assert_eq!(
            first_pending(&[Signal::SIGHUP, Signal::SIGUSR2]),
            Some(Signal::SIGUSR2)
        );
        assert_eq!(
            sigtimedwait(&set, Duration::from_millis(10)),
            Ok(Signal::SIGUSR2 as i32)
        );
        assert_eq!(first_pending(&[Signal::SIGUSR2]), None);
        assert_eq!(
            sigtimedwait(&set, Duration::from_millis(1)),
            Err(Errno::EAGAIN)
        );
    }
}
