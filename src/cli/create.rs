//! `obsbox create`: set up a container from a bundle; its process waits for `start`.

use anyhow::Result;
use liboci_cli::Create;

use super::Context;
use crate::runtime::{self, container::open_bundle};

pub fn create(args: Create, ctx: &Context) -> Result<()> {
    let (bundle, spec) = open_bundle(&args.bundle)?;
    let id = &args.container_id;
    // --no-new-keyring is accepted: libcontainer never creates a session keyring.
    let builder = runtime::create_builder(&ctx.root, id)?
        .with_pid_file(args.pid_file.as_ref())?
        .with_console_socket(args.console_socket.as_ref())
        .with_preserved_fds(args.preserve_fds)
        .validate_id()?
        .as_init(&bundle)
        .with_systemd(ctx.systemd_cgroup)
        .with_detach(true)
        .with_no_pivot(args.no_pivot);
    runtime::container::give_default_cgroup(&ctx.root, id, &bundle, &spec)?;
    runtime::container::create(builder, id, &spec)?;
    Ok(())
}
