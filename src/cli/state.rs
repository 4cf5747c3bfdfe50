//! `obsbox state`: runc's state JSON.

use anyhow::Result;
use liboci_cli::State;

use super::Context;
use crate::runtime::{self, state::runc_state};

pub fn state(args: State, ctx: &Context) -> Result<()> {
    let mut container = runtime::load(&ctx.root, &args.container_id)?;
    let state = runc_state(&mut container)?;
    println!("{}", serde_json::to_string_pretty(&state)?);
    Ok(())
}
