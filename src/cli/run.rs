//! `obsbox run`: create and start a container; in the foreground, wait for it, pass signals
//! on, return its exit code and delete it.

use anyhow::{Context as _, Result};
use liboci_cli::Run;

use super::Context;
use crate::runtime::console::OwnConsole;
use crate::runtime::{self, container::open_bundle, delete, foreground};

pub fn run(args: Run, ctx: &Context) -> Result<i32> {
    let (bundle, spec) = open_bundle(&args.bundle)?;
    let wants_terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let id = &args.container_id;
    if !args.detach && !args.no_subreaper {
        // Processes the container leaves behind are reparented to us and reaped.
        nix::sys::prctl::set_child_subreaper(true).context("cannot become a subreaper")?;
    }
    // A foreground process that wants a terminal and no caller to take it: we take it.
    let own_console = match (&args.console_socket, args.detach) {
        (None, false) if wants_terminal => {
            let path = ctx.root.join(format!(".{id}.console.sock"));
            let _ = std::fs::remove_file(&path);
            std::fs::create_dir_all(&ctx.root)?;
            Some(OwnConsole::listen(&path)?)
        }
        _ => None,
    };
    let console_socket = match &own_console {
        Some(console) => Some(console.path().to_path_buf()),
        None => args.console_socket.clone(),
    };
    let builder = runtime::create_builder(&ctx.root, id)?
        .with_pid_file(args.pid_file.as_ref())?
        .with_console_socket(console_socket.as_ref())
        .with_preserved_fds(args.preserve_fds)
        .validate_id()?
        .as_init(&bundle)
        .with_systemd(ctx.systemd_cgroup)
        // libcontainer only hands a pty to a console socket when "detached"; the flag has no
        // other effect on how the container is created.
        .with_detach(args.detach || own_console.is_some())
        .with_no_pivot(args.no_pivot);
    runtime::container::give_default_cgroup(&ctx.root, id, &bundle, &spec)?;
    let mut container = runtime::container::create(builder, id, &spec)?;
    if let Err(err) = crate::runtime::hooks::start_with_poststart(&mut container) {
        let _ = delete::delete(&mut container, true);
        return Err(err).with_context(|| format!("container {id}: start failed"));
    }
    if args.detach {
        return Ok(0);
    }
    let init = container
        .pid()
        .with_context(|| format!("container {id}: no init process recorded"))?;
    let attached = own_console.map(OwnConsole::attach).transpose()?;
    let code = foreground::wait_forwarding_signals(init)?;
    drop(attached);
    if !args.keep {
        // A cleanup failure must not hide the workload's exit code; it is logged.
        if let Err(err) = delete::delete(&mut container, true) {
            tracing::error!("container {id}: {err:#}");
        }
    }
    Ok(code)
}
