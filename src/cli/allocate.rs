//! `obsbox allocate`: place one job on a fleet of workers the way OBS's dispatcher would, and
//! say why every other worker cannot take it.
//!
//! Exit codes: 0 placed, 1 no compliant worker, 2 unreadable or invalid input, 3 waiting
//! (compliant workers exist, none is idle).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args, ValueEnum};

use crate::alloc::{self, JobInfo, Options, Outcome, Request, Settings};
use crate::callbacks::config::{Action, Callback, HookPoint, Selector};
use crate::model::Arch;

/// Exit code when no worker complies.
pub const NOT_PLACED: i32 = 1;
/// Exit code for unreadable or invalid input.
pub const BAD_INPUT: i32 = 2;
/// Exit code when compliant workers exist but the job has to wait for one.
pub const WAITING: i32 = 3;

#[derive(Args, Debug)]
pub struct AllocateArgs {
    /// The job: a job.toml, OBS buildinfo XML or .build.rpmlist. Its arch, package and
    /// constraint lines are used, with `_constraints` and the spec's `#!BuildConstraint:`
    /// lines from its sources directory.
    #[arg(long, required_unless_present = "constraints")]
    pub job: Option<PathBuf>,
    /// A constraints source: `_constraints` XML, a project config (`_config`, `prjconf`,
    /// `*.prjconf`, `*.conf`: read for the job's arch), a spec/Dockerfile
    /// (`#!BuildConstraint:`) or a file of bare constraint lines.
    /// Repeat to merge several; they are merged in OBS's order (project config, _constraints,
    /// recipe) whatever the order given, and after the job's own.
    #[arg(long)]
    pub constraints: Vec<PathBuf>,
    /// The job's build arch (selects `<overwrite>` conditions and workers by buildarch).
    #[arg(long, conflicts_with = "job")]
    pub arch: Option<Arch>,
    /// The job's package name (selects `<overwrite>` conditions).
    #[arg(long, conflicts_with = "job")]
    pub package: Option<String>,
    /// The job's project (selects the project's allocation callbacks).
    #[arg(long, conflicts_with = "job")]
    pub project: Option<String>,
    /// A worker XML file, a directory of them (all idle), or a dispatcher workers directory
    /// with idle/ building/ away/ down/ subdirectories.
    #[arg(long)]
    pub workers: PathBuf,
    /// List every worker with the first rule it fails (or its score), and why native or
    /// emulated.
    #[arg(long)]
    pub explain: bool,
    /// The runtime configuration directory (allocation.toml, callbacks hooked at
    /// `allocate`); default: OBSBOX_CONFIG, else /etc/obsbox, else the sources' runtime-config/
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// How many times longer a build takes emulated than native (overrides allocation.toml).
    #[arg(long)]
    pub emulation_factor: Option<f64>,
    /// The expected native build time, e.g. 10m (overrides allocation.toml).
    #[arg(long)]
    pub build_time: Option<String>,
    #[arg(long, value_enum, default_value_t = AllocFormat::Text)]
    pub format: AllocFormat,
    /// Instead of a decision, write a manifest: `k8s` is a Pod (JSON) with
    /// `runtimeClassName: obsbox` and a node affinity derived from the constraints.
    #[arg(long, value_enum)]
    pub emit: Option<Emit>,
    /// The Pod's container image (with `--emit k8s`).
    #[arg(long, default_value = "obsbox-build")]
    pub image: String,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    K8s,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocFormat {
    Text,
    Json,
}

/// The enabled callbacks hooked at `allocate` for the job's project, package and arch.
fn allocation_callbacks(config: &Path, request: &Request) -> Result<Vec<Callback>> {
    let selector = Selector {
        project: request.project.clone().unwrap_or_default(),
        package: request.package.clone().unwrap_or_default(),
        arch: request.arch.clone(),
    };
    let callbacks: Vec<Callback> = crate::callbacks::config::enabled(config, &selector)?
        .into_iter()
        .filter(|c| c.hook == HookPoint::Allocate)
        .collect();
    for c in &callbacks {
        if let Action::Builtin(b) = &c.action {
            bail!(
                "callback {}: an allocation callback runs a command, not the builtin {b} ({})",
                c.name,
                c.origin.get("builtin").map_or("", String::as_str)
            );
        }
    }
    Ok(callbacks)
}

pub fn allocate(args: AllocateArgs) -> Result<i32> {
    let mut paths = args.constraints.clone();
    paths.sort_by_key(|p| alloc::source_rank(p));
    let request = match &args.job {
        Some(job) => Request::from_job(job, &paths)?,
        None => {
            let mut sources = alloc::Sources::default();
            for p in &paths {
                sources.add(alloc::load_constraints(p, args.arch.as_ref())?);
            }
            Request {
                project: args.project.clone(),
                ..Request::new(
                    sources.combine(args.arch.as_ref(), args.package.as_deref())?,
                    &JobInfo {
                        arch: args.arch.clone(),
                        package: args.package.clone(),
                    },
                )
            }
        }
    };
    let config = crate::config::find(args.config.as_deref())?;
    let mut settings = match &config {
        Some(dir) => Settings::load(dir)?,
        None => Settings::default(),
    };
    if let Some(f) = args.emulation_factor {
        settings.emulation_factor = alloc::settings::check_factor(f)
            .map_err(|e| anyhow::anyhow!("--emulation-factor: {e}"))?;
    }
    if let Some(t) = &args.build_time {
        settings.build_time = alloc::settings::check_build_time(t).context("--build-time")?;
    }
    let callbacks = match &config {
        Some(dir) => allocation_callbacks(dir, &request)?,
        None => Vec::new(),
    };
    let fleet = alloc::load_fleet(&args.workers)?;
    if args.emit == Some(Emit::K8s) {
        let pod = alloc::k8s::pod(&request, &fleet, &settings, &args.image)?;
        println!("{}", serde_json::to_string_pretty(&pod)?);
        return Ok(0);
    }
    let started = std::time::Instant::now();
    let d = alloc::decide(
        &fleet,
        &request,
        &Options {
            settings,
            callbacks,
        },
    );
    let decision_us = started.elapsed().as_micros() as u64;
    match args.format {
        AllocFormat::Json => {
            let mut v = serde_json::json!({
                "placed": d.placed(),
                "worker": d.worker,
                "outcome": d.outcome,
                "details": d.details,
                "emulated": d.emulated,
                "choice": d.choice,
                "compliant": d.compliant,
                "busy": d.busy,
                "down": d.down,
                "job": request,
                "workers_checked": fleet.len(),
                "decision_us": decision_us,
            });
            if !d.placed() {
                v["reason"] = d.details.clone().into();
                v["hint"] = serde_json::to_value(&d.hint)?;
                v["obs_hint"] = serde_json::to_value(&d.obs_hint)?;
            }
            if args.explain {
                v["workers"] = serde_json::to_value(&d.verdicts)?;
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        AllocFormat::Text => {
            if args.explain {
                let rows: Vec<[String; 3]> = d
                    .verdicts
                    .iter()
                    .map(|v| [v.worker.clone(), v.state.as_str().to_string(), v.text()])
                    .collect();
                print!("{}", super::table(&rows));
                println!("decision: {decision_us} µs for {} workers", fleet.len());
                if let Some(choice) = &d.choice {
                    println!("choice: {choice}");
                }
            }
            match &d.hint {
                Some(h) => println!(
                    "{}: {} excludes {} of {} workers (e.g. {})",
                    d.details, h.rule, h.excluded, h.of, h.example
                ),
                None if d.emulated => println!("{} (emulated)", d.details),
                None => println!("{}", d.details),
            }
            if let Some(h) = &d.obs_hint {
                println!("OBS's dispatcher: no compliant workers (constraints mismatch hint: {h})");
            }
        }
    }
    let code = match d.outcome {
        Outcome::Placed => 0,
        Outcome::Waiting => WAITING,
        Outcome::NoCompliant => NOT_PLACED,
    };
    // The process ends with this command: the fleet and the decision (hundreds of thousands
    // of small allocations for a large fleet) are left to the exit instead of freed one by one.
    std::mem::forget((fleet, d));
    Ok(code)
}
