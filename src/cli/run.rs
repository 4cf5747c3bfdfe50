//! `obsbox run`: create and start a container; in the foreground, wait for it, pass signals
//! on, return its exit code and delete it.

use anyhow::{Context as _, Result};
use liboci_cli::Run;

use super::Context;
use crate::runtime::{self, container::bundle_dir, foreground, hooks::delete_with_poststop};

pub fn run(args: Run, ctx: &Context) -> Result<i32> {
    let bundle = bundle_dir(&args.bundle)?;
    let id = &args.container_id;
    if !args.detach && !args.no_subreaper {
        // Processes the container leaves behind are reparented to us and reaped.
        nix::sys::prctl::set_child_subreaper(true).context("cannot become a subreaper")?;
    }
    let mut container = runtime::create_builder(&ctx.root, id)?
        .with_pid_file(args.pid_file.as_ref())?
        .with_console_socket(args.console_socket.as_ref())
        .with_preserved_fds(args.preserve_fds)
        .validate_id()?
        .as_init(&bundle)
        .with_systemd(ctx.systemd_cgroup)
        .with_detach(args.detach)
        .with_no_pivot(args.no_pivot)
        .build()
        .with_context(|| format!("container {id}: create failed"))?;
    if let Err(err) = container.start() {
        let _ = delete_with_poststop(&mut container, true);
        return Err(err).with_context(|| format!("container {id}: start failed"));
    }
    if args.detach {
        return Ok(0);
    }
    let init = container
        .pid()
        .with_context(|| format!("container {id}: no init process recorded"))?;
    let code = foreground::wait_forwarding_signals(init)?;
    if !args.keep {
        // A cleanup failure must not hide the workload's exit code; it is logged.
        if let Err(err) = delete_with_poststop(&mut container, true) {
            tracing::error!("container {id}: {err:#}");
        }
    }
    Ok(code)
}
