//! `obsbox ps`: the processes of a container, from its cgroup; `--format json` lists pids,
//! the table is the host's `ps` output (options after the id) limited to those pids.

use std::collections::HashSet;
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use libcgroups::common::{CgroupConfig, CgroupManager, create_cgroup_manager};
use libcontainer::config::YoukiConfig;
use liboci_cli::Ps;

use super::Context;
use crate::runtime;

pub fn ps(args: Ps, ctx: &Context) -> Result<()> {
    let container = runtime::load(&ctx.root, &args.container_id)?;
    let config = YoukiConfig::load(&container.root)
        .with_context(|| format!("container {}: no saved config", args.container_id))?;
    let manager = create_cgroup_manager(CgroupConfig {
        cgroup_path: config.cgroup_path.clone(),
        systemd_cgroup: container.systemd(),
        container_name: args.container_id.clone(),
    })?;
    let mut pids: Vec<i32> = manager
        .get_all_pids()
        .with_context(|| format!("container {}: cannot read its cgroup", args.container_id))?
        .into_iter()
        .map(|p| p.as_raw())
        .collect();
    pids.sort_unstable();
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => {
            let options = if args.ps_options.is_empty() {
                vec!["-ef".to_string()]
            } else {
                args.ps_options.clone()
            };
            let output = Command::new("ps")
                .args(&options)
                .output()
                .context("cannot run ps")?;
            if !output.status.success() {
                bail!(
                    "ps {}: {}",
                    options.join(" "),
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
            let text = String::from_utf8_lossy(&output.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let column = header
                .split_whitespace()
                .position(|h| h == "PID")
                .context("ps output has no PID column")?;
            let wanted: HashSet<i32> = pids.into_iter().collect();
            println!("{header}");
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(column)
                    .and_then(|p| p.parse().ok());
                if pid.is_some_and(|p| wanted.contains(&p)) {
                    println!("{line}");
                }
            }
        }
        other => bail!("--format {other:?}: use table or json"),
    }
    Ok(())
}
