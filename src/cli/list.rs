//! `obsbox list`: the containers in the state directory, as a table, JSON or bare ids.

use anyhow::{Result, bail};
use liboci_cli::List;

use super::Context;
use crate::runtime::{self, container::list_ids, state::runc_state};

pub fn list(args: List, ctx: &Context) -> Result<()> {
    let ids = list_ids(&ctx.root)?;
    if args.quiet {
        for id in ids {
            println!("{id}");
        }
        return Ok(());
    }
    // A container removed while we list is skipped, not an error.
    let states: Vec<_> = ids
        .iter()
        .filter_map(|id| runtime::load(&ctx.root, id).ok())
        .filter_map(|mut c| runc_state(&mut c).ok())
        .collect();
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&states)?),
        "table" => {
            let mut rows = vec![[
                "ID".to_string(),
                "PID".to_string(),
                "STATUS".to_string(),
                "BUNDLE".to_string(),
                "CREATED".to_string(),
                "OWNER".to_string(),
            ]];
            for s in &states {
                rows.push([
                    s.id.clone(),
                    s.pid.to_string(),
                    s.status.to_string(),
                    s.bundle.display().to_string(),
                    s.created.clone(),
                    s.owner.clone(),
                ]);
            }
            print!("{}", crate::cli::table(&rows));
        }
        other => bail!("--format {other:?}: use table or json"),
    }
    Ok(())
}
