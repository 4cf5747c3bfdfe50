//! `obsbox delete [--force] ID`: remove a stopped (or, forced, a running) container, then run
//! its poststop hooks.

use anyhow::Result;
use liboci_cli::Delete;

use super::Context;
use crate::runtime::{self, delete};

pub fn delete(args: Delete, ctx: &Context) -> Result<()> {
    let mut container = match runtime::load(&ctx.root, &args.container_id) {
        Ok(container) => container,
        // runc: deleting a container that does not exist is not an error with --force.
        Err(_) if args.force && !ctx.root.join(&args.container_id).exists() => return Ok(()),
        Err(err) => return Err(err),
    };
    delete::delete(&mut container, args.force)
}
