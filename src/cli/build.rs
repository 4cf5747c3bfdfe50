//! `obsbox build JOB --out RESULTS` and `obsbox bundle JOB --out DIR`.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::Args;

use super::Context;
use crate::lifecycle::{self, Options};
use crate::rootfs::store::Store;

/// What `build` and `bundle` both take.
#[derive(Args, Debug)]
pub struct JobArgs {
    /// The job: a job.toml, an OBS buildinfo XML or a .build.rpmlist.
    pub job: PathBuf,
    /// The runtime configuration directory (toolbox.toml, …); default: OBSBOX_CONFIG, else /etc/obsbox, else the sources' runtime-config/
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The previous results of this job (OBS's old packages): build-compare compares
    /// with them, and an unchanged rebuild exits with 2.
    #[arg(long)]
    pub old: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    #[command(flatten)]
    pub common: JobArgs,
    /// The results directory (OBS layout: RPMS/ SRPMS/ DEBS/ OTHER/ logfile _statistics).
    #[arg(long)]
    pub out: PathBuf,
    /// Keep the work directory (buildroot and phase bundles) for inspection.
    #[arg(long)]
    pub keep_work: bool,
}

#[derive(Args, Debug)]
pub struct BundleArgs {
    #[command(flatten)]
    pub common: JobArgs,
    /// Where the phase bundles go (DIR/prepare, DIR/build, DIR/check-NAME, DIR/buildroot).
    #[arg(long)]
    pub out: PathBuf,
}

fn config_dir(given: Option<PathBuf>) -> Result<Option<PathBuf>> {
    crate::config::find(given.as_deref())
}

/// Returns OBS's exit code; a job that cannot even be read is a setup failure.
pub fn build(args: BuildArgs, ctx: &Context) -> Result<i32> {
    let job = match crate::job::load(&args.common.job) {
        Ok(job) => job,
        Err(err) => {
            eprintln!("obsbox: error: {err:#}");
            tracing::error!(target: crate::logging::ERROR_TARGET, "{err:#}");
            return Ok(lifecycle::Outcome::SetupFailed.exit_code());
        }
    };
    let options = Options {
        results: args.out,
        cache: ctx.cache.clone(),
        state_root: ctx.root.clone(),
        config: config_dir(args.common.config)?,
        keep_work: args.keep_work,
        old_results: args.common.old,
        log: None,
        log_start: None,
        cgroups: crate::bundle::CgroupPlace::owned(),
        roots: crate::lifecycle::Roots::Mounted,
    };
    Ok(lifecycle::build(&job, &options)?.exit_code())
}

pub fn bundle(args: BundleArgs, ctx: &Context) -> Result<()> {
    let job = crate::job::load(&args.common.job)?;
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        bail!("{}: the output directory is not empty", args.out.display());
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let store = Store::open(&ctx.cache)?;
    let options = Options {
        results: args.out.join("results"),
        cache: ctx.cache.clone(),
        state_root: ctx.root.clone(),
        config: config_dir(args.common.config)?,
        keep_work: true,
        old_results: args.common.old,
        log: None,
        log_start: None,
        cgroups: crate::bundle::CgroupPlace::Exported,
        roots: crate::lifecycle::Roots::Copied,
    };
    let prepared = lifecycle::prepare(&job, &store, &options, &args.out)?;
    for phase in &prepared.phases {
        println!("{}", phase.dir.display());
    }
    Ok(())
}

pub fn gc(ctx: &Context) -> Result<()> {
    let collected = lifecycle::gc::gc(&ctx.root, &ctx.cache)?;
    for id in &collected.containers {
        println!("container {id}");
    }
    for dir in &collected.work_dirs {
        println!("work directory {}", dir.display());
    }
    for cgroup in &collected.cgroups {
        println!("cgroup {}", cgroup.display());
    }
    for entry in &collected.binfmt_entries {
        println!("binfmt_misc entry {entry}");
    }
    if collected.cache_entries > 0 {
        println!("{} unfinished cache entries", collected.cache_entries);
    }
    Ok(())
}
