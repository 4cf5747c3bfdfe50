//! `obsbox create`: set up a container from a bundle; its process waits for `start`.

use anyhow::{Context as _, Result};
use liboci_cli::Create;

use super::Context;
use crate::runtime::{self, container::bundle_dir};

pub fn create(args: Create, ctx: &Context) -> Result<()> {
    let bundle = bundle_dir(&args.bundle)?;
    // --no-new-keyring is accepted: libcontainer never creates a session keyring.
    runtime::create_builder(&ctx.root, &args.container_id)?
        .with_pid_file(args.pid_file.as_ref())?
        .with_console_socket(args.console_socket.as_ref())
        .with_preserved_fds(args.preserve_fds)
        .validate_id()?
        .as_init(&bundle)
        .with_systemd(ctx.systemd_cgroup)
        .with_detach(true)
        .with_no_pivot(args.no_pivot)
        .build()
        .with_context(|| format!("container {}: create failed", args.container_id))?;
    Ok(())
}
