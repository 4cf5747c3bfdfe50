//! The least a program can do to run a bundle with libcontainer: build, start, wait, delete,
//! nothing else (no sealing, no state beyond libcontainer's own, no hooks of obsbox, no
//! signal forwarding). `integration/bench-runtime.sh` times it beside `obsbox run` and
//! `runc run`, to show how much of a start is libcontainer's own work.
//!
//!   cargo build --release --example bare-libcontainer
//!   bare-libcontainer STATE_ROOT ID BUNDLE
//!
//! Not a runtime: it must never be given to podman or containerd.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{WaitStatus, waitpid};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, id, bundle] = args.as_slice() else {
        bail!("usage: bare-libcontainer STATE_ROOT ID BUNDLE");
    };
    let mut container = ContainerBuilder::new(id.clone(), SyscallType::default())
        .with_root_path(PathBuf::from(root))?
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(false)
        .build()
        .context("create")?;
    container.start().context("start")?;
    let pid = container.pid().context("no init process")?;
    let code = match waitpid(pid, None)? {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
        _ => 1,
    };
    container.delete(true).context("delete")?;
    std::process::exit(code);
}
