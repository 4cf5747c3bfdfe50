//! `obsbox kill ID [SIGNAL]`: signal names (`KILL`, `SIGKILL`) and numbers (`9`).

use anyhow::{Context as _, Result};
use libcontainer::signal::Signal;
use liboci_cli::Kill;

use super::Context;
use crate::runtime;

pub fn kill(args: Kill, ctx: &Context) -> Result<()> {
    let signal = Signal::try_from(args.signal.as_str())
        .map_err(|_| anyhow::anyhow!("unknown signal {:?}", args.signal))?;
    let mut container = runtime::load(&ctx.root, &args.container_id)?;
    container
        .kill(signal, args.all)
        .with_context(|| format!("container {}: kill failed", args.container_id))
}
