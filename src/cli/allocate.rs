//! `obsbox allocate`: place one job on a fleet of workers the way OBS's dispatcher would, and
//! say why every other worker cannot take it.
//!
//! Exit codes: 0 placed, 1 no compliant worker, 2 unreadable or invalid input.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use crate::alloc::{self, JobInfo};

/// Exit code when no worker complies.
pub const NOT_PLACED: i32 = 1;
/// Exit code for unreadable or invalid input.
pub const BAD_INPUT: i32 = 2;

#[derive(Args, Debug)]
pub struct AllocateArgs {
    /// A constraints source: `_constraints` XML, a project config (`_config`, `prjconf`,
    /// `*.prjconf`: its `Constraint:` lines) or a spec/Dockerfile (`#!BuildConstraint:`).
    /// Repeat to merge several; they are merged in OBS's order (project config, _constraints,
    /// recipe) whatever the order given.
    #[arg(long, required = true)]
    pub constraints: Vec<PathBuf>,
    /// The job's build arch (selects `<overwrite>` conditions and workers by buildarch).
    #[arg(long)]
    pub arch: Option<String>,
    /// The job's package name (selects `<overwrite>` conditions).
    #[arg(long)]
    pub package: Option<String>,
    /// A worker XML file or a directory of them.
    #[arg(long)]
    pub workers: PathBuf,
    /// List every worker with the first rule it fails.
    #[arg(long)]
    pub explain: bool,
    #[arg(long, value_enum, default_value_t = AllocFormat::Text)]
    pub format: AllocFormat,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocFormat {
    Text,
    Json,
}

/// The source kinds in OBS's merge order.
fn source_rank(path: &std::path::Path) -> u8 {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "_config" || name == "prjconf" || name.ends_with(".prjconf") {
        0
    } else if name.ends_with(".spec") || name == "Dockerfile" {
        2
    } else {
        1
    }
}

pub fn allocate(args: AllocateArgs) -> Result<i32> {
    let mut paths = args.constraints.clone();
    paths.sort_by_key(|p| source_rank(p));
    let sources = paths
        .iter()
        .map(|p| alloc::load_constraints(p))
        .collect::<Result<Vec<_>>>()?;
    let constraints = alloc::merge(&sources);
    let workers = alloc::load_workers(&args.workers)?;
    let job = JobInfo {
        arch: args.arch.clone(),
        package: args.package.clone(),
    };
    let d = alloc::allocate(&workers, &constraints, &job);
    match args.format {
        AllocFormat::Json => {
            let mut v = serde_json::json!({
                "placed": d.placed(),
                "worker": d.worker,
            });
            if !d.placed() {
                v["reason"] = "no compliant workers".into();
                v["hint"] = serde_json::to_value(&d.hint)?;
            }
            if args.explain {
                v["workers"] = serde_json::to_value(&d.verdicts)?;
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        AllocFormat::Text => {
            if args.explain {
                let rows: Vec<[String; 2]> = d
                    .verdicts
                    .iter()
                    .map(|v| {
                        [
                            v.worker.clone(),
                            v.failure
                                .as_ref()
                                .map_or("ok".to_string(), |f| f.explanation.clone()),
                        ]
                    })
                    .collect();
                print!("{}", super::table(&rows));
            }
            match (&d.worker, &d.hint) {
                (Some(w), _) => println!("placed on {w}"),
                (None, Some(h)) => println!(
                    "no compliant workers: {} excludes {} of {} workers (e.g. {})",
                    h.rule, h.excluded, h.of, h.example
                ),
                (None, None) => println!("no compliant workers"),
            }
        }
    }
    Ok(if d.placed() { 0 } else { NOT_PLACED })
}
