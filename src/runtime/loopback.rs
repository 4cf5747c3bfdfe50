//! The loopback interface of a container's own network namespace, brought up before the
//! container starts, as runc does for a new network namespace: a build without network
//! still reaches 127.0.0.1 (test suites that serve and connect on loopback), as it does
//! in obs-build's chroot and VM builds.

use std::fs::File;
use std::os::fd::AsFd as _;

use anyhow::{Context, Result, bail};
use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// Whether `spec` gives the container a network namespace of its own (a new one, not one
/// named by path).
pub fn has_own_network(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|namespaces| {
            namespaces
                .iter()
                .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none())
        })
}

/// Brings `lo` up in the network namespace of process `pid`.
pub fn bring_up(pid: i32) -> Result<()> {
    let path = format!("/proc/{pid}/ns/net");
    let namespace = File::open(&path).with_context(|| format!("cannot open {path}"))?;
    // setns changes only the calling thread's network namespace: a thread of its own that
    // ends with it.
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> Result<()> {
                setns(&namespace, CloneFlags::CLONE_NEWNET).context("setns")?;
                let sock = socket(
                    AddressFamily::Inet,
                    SockType::Datagram,
                    SockFlag::SOCK_CLOEXEC,
                    None,
                )
                .context("socket")?;
                crate::sys::net::set_loopback_up(sock.as_fd())?;
                Ok(())
            })
            .join()
            .unwrap_or_else(|_| bail!("the loopback thread panicked"))
    })
    .with_context(|| format!("cannot bring up the loopback interface of process {pid}"))
}
