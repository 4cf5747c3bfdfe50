//! `obsbox start`: run the user process of a created container.

use anyhow::{Context as _, Result};
use liboci_cli::Start;

use super::Context;
use crate::runtime;

pub fn start(args: Start, ctx: &Context) -> Result<()> {
    let mut container = runtime::load(&ctx.root, &args.container_id)?;
    runtime::hooks::start_with_poststart(&mut container)
        .with_context(|| format!("container {}: start failed", args.container_id))
}
