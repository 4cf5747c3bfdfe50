//! Forks whose child runs only async-signal-safe code, the set-up of a spawned child
//! between its fork and exec, and descriptors inherited at fixed numbers.

use std::ffi::CStr;
use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt as _;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::unistd::{ForkResult, Pid, fork};

/// Forks a child that writes its own process id, in decimal, to `file` and exits with
/// status 0 (a failed write included); the parent returns at once. Whoever reaps this
/// process's children reaps it.
pub fn fork_writing_own_pid(file: &File) -> nix::Result<()> {
    // SAFETY: the child makes only async-signal-safe calls (getpid, write, _exit) on a
    // buffer on its stack: it allocates nothing and takes no lock, so it is sound even
    // when other threads held locks at the fork.
    match unsafe { fork() }? {
        ForkResult::Child => {
            let mut digits = [0u8; 10];
            let mut out = file;
            let _ = out.write_all(decimal(std::process::id(), &mut digits));
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { .. } => Ok(()),
    }
}

/// `n` in decimal, written into the end of `buf`.
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[start..];
        }
    }
}

/// Forks a child that tries a mount in namespaces of its own, and returns its pid. The
/// child unshares a user and a mount namespace and writes one byte to `ready` (1: it did);
/// then it reads one byte from `go` (1: the parent has mapped its ids), mounts a file
/// system of type `fstype` (with the same source name) on `dir`, and checks that `expect`
/// exists. It exits with status 0 when every step worked, 1 otherwise.
pub fn fork_mount_probe(
    ready: BorrowedFd<'_>,
    go: BorrowedFd<'_>,
    fstype: &CStr,
    dir: &CStr,
    expect: &CStr,
) -> nix::Result<Pid> {
    // SAFETY: the child only makes raw system calls on memory prepared before the fork,
    // then _exits.
    match unsafe { fork() }? {
        // SAFETY: unshare, write, read, mount, access and _exit are async-signal-safe system
        // calls on descriptors and NUL-terminated strings made before the fork; nothing
        // allocates or takes a lock, and the child never returns.
        ForkResult::Child => unsafe {
            let mut ok = libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) == 0;
            let byte = [ok as u8];
            libc::write(ready.as_raw_fd(), byte.as_ptr().cast(), 1);
            let mut byte = [0u8];
            ok = ok && libc::read(go.as_raw_fd(), byte.as_mut_ptr().cast(), 1) == 1 && byte[0] == 1;
            ok = ok
                && libc::mount(
                    fstype.as_ptr(),
                    dir.as_ptr(),
                    fstype.as_ptr(),
                    0,
                    std::ptr::null(),
                ) == 0;
            ok = ok && libc::access(expect.as_ptr(), libc::F_OK) == 0;
            libc::_exit(if ok { 0 } else { 1 });
        },
        ForkResult::Parent { child } => Ok(child),
    }
}

/// Sets up `command`'s child between its fork and exec: it is killed (SIGKILL) when the
/// thread that spawned it ends, leads a process group of its own, and has each `(from, to)`
/// descriptor of `dups` duplicated onto the number `to`, in order. Only async-signal-safe
/// system calls run there (prctl, setpgid, dup2), nothing allocates.
pub fn die_with_parent_in_own_group<const N: usize>(
    command: &mut Command,
    dups: [(RawFd, RawFd); N],
) {
    // SAFETY: the hook makes only async-signal-safe system calls on the numbers copied into
    // it and reads errno on failure; it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            for (from, to) in dups {
                if libc::dup2(from, to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

static INHERITED_TAKEN: AtomicBool = AtomicBool::new(false);

/// Takes over the descriptors `fds` that the parent placed at these numbers before
/// executing this process (as [`die_with_parent_in_own_group`] places them). Once per
/// process: a second call gets `None`, so no descriptor gets two owners.
pub fn take_inherited_fds<const N: usize>(fds: [RawFd; N]) -> Option<[OwnedFd; N]> {
    if INHERITED_TAKEN.swap(true, Ordering::SeqCst) {
        return None;
    }
    // SAFETY: the numbers are descriptors the parent left open across the exec for this
    // process to take over (the caller's protocol); nothing else in the process opened
    // them, and the flag above lets this happen once.
    Some(fds.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_in_decimal() {
        let mut buf = [0u8; 10];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(7, &mut buf), b"7");
        assert_eq!(decimal(4_194_304, &mut buf), b"4194304");
        assert_eq!(decimal(u32::MAX, &mut buf), b"4294967295");
    }

    #[test]
    fn the_child_writes_its_pid() {
        let (read, write) = nix::unistd::pipe().expect("pipe");
        let file = File::from(write);
        fork_writing_own_pid(&file).expect("fork");
        drop(file);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut File::from(read), &mut text).expect("read the pipe");
        let pid: i32 = text.parse().expect("a decimal pid");
        let status = nix::sys::wait::waitpid(Pid::from_raw(pid), None).expect("waitpid");
        assert_eq!(
            status,
            nix::sys::wait::WaitStatus::Exited(Pid::from_raw(pid), 0)
        );
    }

    #[test]
    fn inherited_fds_are_taken_once() {
        let first = take_inherited_fds::<0>([]);
        assert!(first.is_some());
        assert!(take_inherited_fds::<0>([]).is_none());
    }
}
