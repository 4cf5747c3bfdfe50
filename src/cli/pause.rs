//! `obsbox pause` and `obsbox resume`: freeze and thaw every process of a container.

use anyhow::{Context as _, Result};
use liboci_cli::{Pause, Resume};

use super::Context;
use crate::runtime;

pub fn pause(args: Pause, ctx: &Context) -> Result<()> {
    let mut container = runtime::load(&ctx.root, &args.container_id)?;
    container
        .pause()
        .with_context(|| format!("container {}: pause failed", args.container_id))
}

pub fn resume(args: Resume, ctx: &Context) -> Result<()> {
    let mut container = runtime::load(&ctx.root, &args.container_id)?;
    container
        .resume()
        .with_context(|| format!("container {}: resume failed", args.container_id))
}
