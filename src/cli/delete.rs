//! `obsbox delete [--force] ID`: remove a stopped (or, forced, a running) container, then run
//! its poststop hooks.

use std::time::{Duration, Instant};

use anyhow::Result;
use libcontainer::container::{Container, ContainerStatus};
use liboci_cli::Delete;

use super::Context;
use crate::runtime::{self, delete};

/// How long `delete` waits for a SIGKILLed container process to be gone.
const DYING_WAIT: Duration = Duration::from_secs(10);

pub fn delete(args: Delete, ctx: &Context) -> Result<()> {
    let mut container = match runtime::load(&ctx.root, &args.container_id) {
        Ok(container) => container,
        // runc: deleting a container that does not exist is not an error with --force.
        Err(_) if args.force && !ctx.root.join(&args.container_id).exists() => return Ok(()),
        Err(err) => return Err(err),
    };
    if !args.force {
        wait_while_dying(&mut container);
    }
    delete::delete(&mut container, args.force)
}

/// `kill ID 9` returns once the signal is sent; the kernel takes a moment to end the
/// process, and until then it still runs. A `delete` right after waits for that, as runc's
/// does, instead of refusing a container that is about to stop.
fn wait_while_dying(container: &mut Container) {
    let Some(pid) = container.pid() else {
        return;
    };
    if container.status() != ContainerStatus::Running || !crate::proc::sigkill_pending(pid.as_raw())
    {
        return;
    }
    let until = Instant::now() + DYING_WAIT;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(2));
        if container.refresh_status().is_err() || container.status() == ContainerStatus::Stopped {
            return;
        }
    }
}
