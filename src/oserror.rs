//! The OS error (errno) an error carries, however it travelled: an `io::Error`, a nix or
//! rustix `Errno`, or [`Relayed`] text that crossed a process boundary with its number
//! beside it. Errors are told apart by this number (a full disk is the host's fault, not
//! the job's), never by their text.

use nix::errno::Errno;

/// An error that reached this process as text (a creating process's report, a container
/// init's cause), with the OS error number of its cause when it had one.
#[derive(Debug)]
pub struct Relayed {
    pub text: String,
    pub errno: Option<Errno>,
}

impl std::fmt::Display for Relayed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Relayed {}

/// The OS error number of `cause` itself (not of its sources).
pub fn errno_of(cause: &(dyn std::error::Error + 'static)) -> Option<Errno> {
    if let Some(io) = cause.downcast_ref::<std::io::Error>() {
        return io.raw_os_error().map(Errno::from_raw);
    }
    if let Some(errno) = cause.downcast_ref::<Errno>() {
        return Some(*errno);
    }
    if let Some(errno) = cause.downcast_ref::<rustix::io::Errno>() {
        return Some(Errno::from_raw(errno.raw_os_error()));
    }
    cause.downcast_ref::<Relayed>().and_then(|r| r.errno)
}

/// Whether `errno` says the file system is full (or the quota exhausted).
pub fn is_disk_full(errno: Errno) -> bool {
    matches!(errno, Errno::ENOSPC | Errno::EDQUOT)
}

/// The OS error number to relay with `err`'s text: a full disk's when the chain has one,
/// else the first in the chain.
pub fn errno_in(err: &anyhow::Error) -> Option<Errno> {
    let mut numbers = err.chain().filter_map(errno_of);
    let first = numbers.next()?;
    if is_disk_full(first) {
        return Some(first);
    }
    numbers.find(|e| is_disk_full(*e)).or(Some(first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn numbers_are_found_through_contexts_and_relays() {
        let io: anyhow::Result<()> =
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC)).context("cannot write x");
        let err = io.unwrap_err().context("entry y");
        assert_eq!(errno_in(&err), Some(Errno::ENOSPC));
        let nix = anyhow::Error::new(Errno::EACCES).context("cannot open");
        assert_eq!(errno_in(&nix), Some(Errno::EACCES));
        let rustix = anyhow::Error::new(rustix::io::Errno::DQUOT).context("cannot create");
        assert_eq!(errno_in(&rustix), Some(Errno::EDQUOT));
        let relayed = anyhow::Error::new(Relayed {
            text: format!("{err:#}"),
            errno: errno_in(&err),
        });
        assert_eq!(errno_in(&relayed), Some(Errno::ENOSPC));
        assert_eq!(format!("{relayed:#}"), format!("{err:#}"));
        let plain = anyhow::anyhow!("No space left on device").context("only text");
        assert_eq!(errno_in(&plain), None);
    }

    #[test]
    fn full_disks_are_told() {
        assert!(is_disk_full(Errno::ENOSPC) && is_disk_full(Errno::EDQUOT));
        assert!(!is_disk_full(Errno::EIO));
    }
}
