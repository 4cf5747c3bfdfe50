//! Socket calls that take over received descriptors or need an ioctl.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use anyhow::{Context as _, Result, bail};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

/// Receives one message on `socket` and takes over the first descriptor it passes
/// (`SCM_RIGHTS`); `None` when it passes none. Errors of the receipt say `{what}: recvmsg`.
pub fn recv_fd(socket: BorrowedFd<'_>, what: &str) -> Result<Option<OwnedFd>> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .with_context(|| format!("{what}: recvmsg"))?;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                // SAFETY: SCM_RIGHTS gave this process a new descriptor that nothing else
                // owns; it is taken over exactly once.
                return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
    }
    Ok(None)
}

/// Sets the flag `IFF_UP` of the interface `lo` through `sock` (an `AF_INET` socket of the
/// network namespace whose `lo` it is): `SIOCGIFFLAGS`, then `SIOCSIFFLAGS`.
pub fn set_loopback_up(sock: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: ifreq is plain data; the name is NUL-terminated within its array.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (to, from) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *to = *from as libc::c_char;
    }
    // SAFETY: a valid socket and a valid ifreq for both calls; SIOCGIFFLAGS fills the
    // flags member of the union, which is then read and written back.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            bail!("SIOCGIFFLAGS lo: {}", std::io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            bail!("SIOCSIFFLAGS lo: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{ControlMessage, sendmsg};
    use std::io::IoSlice;
    use std::os::fd::AsFd as _;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_passed_descriptor_is_received_and_owned() {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        let (pipe_read, pipe_write) = nix::unistd::pipe().expect("pipe");
        let fds = [pipe_write.as_raw_fd()];
        sendmsg::<()>(
            theirs.as_raw_fd(),
            &[IoSlice::new(b"x")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .expect("sendmsg");
        drop(pipe_write);
        let received = recv_fd(ours.as_fd(), "test socket")
            .expect("recv_fd")
            .expect("a descriptor");
        nix::unistd::write(&received, b"y").expect("write through the received end");
        let mut byte = [0u8];
        assert_eq!(nix::unistd::read(pipe_read.as_raw_fd(), &mut byte), Ok(1));
        assert_eq!(&byte, b"y");

        nix::unistd::write(&theirs, b"z").expect("write without a descriptor");
        assert!(
            recv_fd(ours.as_fd(), "test socket")
                .expect("recv_fd")
                .is_none()
        );
    }
}
