//! The lifecycle of a build job: assemble the buildroot and the toolbox, write the phase
//! bundles, run them in order with obsbox's runtime, collect the results in OBS's layout
//! and answer with OBS's exit codes.
//!
//! A job is a sequence of named steps, each one function on one context, in this order
//! (a pending SIGINT/SIGTERM/SIGHUP is taken between them):
//!
//! | step | function | what it does |
//! |---|---|---|
//! | start | `Running::start` | results layout, job log, what dead runs left removed, work directory |
//! | plan | `Preparing::plan` | recipe (debtransform), callbacks, native/emulated/sysroot, package sets |
//! | toolbox | `Preparing::toolbox` | host-arch toolbox laid down at `WORK/toolbox` |
//! | emulation | `Preparing::emulation` | qemu from the toolbox in binfmt_misc (emulated jobs) |
//! | buildroot | `Preparing::buildroot_request` | what the buildroot is made of, and how it is installed |
//! | sysroot | `Preparing::sysroot` | a sysroot cross build's target packages, assembled |
//! | buildroot | `Preparing::buildroot` | the buildroot (with the sysroot) laid down at `WORK/buildroot` |
//! | bundles | `Preparing::bundles`, `Preparing::paths` | callback and phase bundles, their roots mounted or exported |
//! | report | `Running::report` | the roots' packages in the job log |
//! | phases | `Running::phases`, `Running::phase` | each phase's container, its statistics, what its code means |
//! | results | `Running::results` | after the build: results collected, the callbacks' verdict |
//! | exit code | `Running::exit_code` | an error made into OBS's code (interrupted, bad host, setup failed) |
//! | finish | `Running::finish` | clean-up, `_statistics`, the final log line |
//!
//! [`build`] runs them all; [`prepare`] (plan to bundles) is also what `obsbox bundle`
//! runs. Callbacks hook into the phases as OCI hooks (`bundle::PhaseHooks`), not into
//! these steps.

pub mod gc;
mod report;
pub mod results;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{SigSet, Signal};

use crate::bundle::PhaseHooks;
use crate::bundle::{self, Paths, Phase, PhaseKind, RootOf, recipe::Recipe};
use crate::callbacks::bundle::CallbackSetup;
use crate::callbacks::{self, HookPoint, config::OnFailure};
use crate::job::Job;
use crate::model::Arch;
use crate::repo;
use crate::rootfs::{self, Mode, store::Store};

/// How a build job ended; [`Outcome::exit_code`] is OBS's exit code for it, as bs_worker
/// reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// The build (or a gating check or callback) failed: the package's fault.
    Failed,
    /// build-compare found the results the same as the previous ones.
    Unchanged,
    /// The worker cannot do this job (a full disk, a callback's `badhost`): OBS gives it to
    /// another worker.
    BadHost,
    /// The job could not be set up (unresolvable dependencies, broken repositories, a
    /// failing prepare phase): OBS marks such jobs "dead"/"failed setup".
    SetupFailed,
    /// SIGINT, SIGTERM or SIGHUP stopped the job.
    Interrupted(Signal),
}

impl Outcome {
    /// OBS's exit code: 0 succeeded, 1 failed, 2 unchanged, 3 bad host, 4 setup failed;
    /// 128 + the signal's number after an interruption, as a shell reports it.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Succeeded => 0,
            Outcome::Failed => 1,
            Outcome::Unchanged => 2,
            Outcome::BadHost => 3,
            Outcome::SetupFailed => 4,
            Outcome::Interrupted(sig) => 128 + sig as i32,
        }
    }
}

/// Where a job's work happens and where its results go.
#[derive(Debug, Clone)]
pub struct Options {
    pub results: PathBuf,
    pub cache: PathBuf,
    pub state_root: PathBuf,
    /// The runtime configuration directory (toolbox package lists), if any.
    pub config: Option<PathBuf>,
    /// Keep the work directory (buildroot, bundles) for inspection.
    pub keep_work: bool,
    /// The previous results of the job (OBS's old packages), for build-compare.
    pub old_results: Option<PathBuf>,
    /// Where the build log goes: `None` is `RESULTS/logfile`, created afresh; a given file
    /// is appended to (its owner started it, e.g. obs-build's `--logfile`).
    pub log: Option<PathBuf>,
    /// When the job started, what the log's stamps count from: `None` is when
    /// [`build`] is called (a given `log`'s owner started the job earlier).
    pub log_start: Option<SystemTime>,
    /// Where the phases' cgroups go.
    pub cgroups: bundle::CgroupPlace,
    /// How the job gets its buildroot and toolbox.
    pub roots: Roots,
}

/// How a job's roots are laid down from the cached ones. Either way nothing the job runs
/// can write a file of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// Overlay mounts over the cached roots, each with an upper directory of its own in
    /// the work directory; unmounted when the job ends (`obsbox gc` after a crash).
    Mounted,
    /// Private copies: for `obsbox bundle`, whose bundles outlive the command.
    Copied,
}

impl Options {
    /// The build log's path.
    pub fn log_path(&self) -> PathBuf {
        self.log
            .clone()
            .unwrap_or_else(|| self.results.join("logfile"))
    }
}

/// One line of `_statistics`.
#[derive(Debug, Clone)]
pub struct PhaseStats {
    pub name: String,
    pub wall: Duration,
    pub peak_memory: Option<u64>,
    pub code: i32,
}

/// A job made ready to run: roots assembled, bundles written.
pub struct Prepared {
    pub phases: Vec<Phase>,
    pub paths: Paths,
    /// The job's callbacks, hooked into the build phase (none without a configuration).
    pub callbacks: Option<CallbackSetup>,
    /// How long assembling the buildroot and the toolbox took.
    pub assembly: Duration,
    /// The buildroot's packages and whether its root came from the cache.
    pub buildroot_packages: Vec<rootfs::RootPackage>,
    pub buildroot_cached: bool,
    /// The toolbox's packages (none: the job has no toolbox).
    pub toolbox_packages: Vec<rootfs::RootPackage>,
    /// How the buildroot's code runs when it is of a foreign arch.
    pub emulation: Option<crate::binfmt::Emulation>,
    /// The job's entry in the host's binfmt_misc (global mode): removed when dropped.
    pub global_entry: Option<crate::binfmt::GlobalEntry>,
    /// The buildroot's and the toolbox's overlays and the bundles' `rootfs` binds of them
    /// ([`Roots::Mounted`]): unmounted when dropped.
    pub mounts: Vec<rootfs::overlay::Mount>,
    /// What preparing did that the job log should say (debtransform's work).
    pub notes: Vec<String>,
}

/// A recipe the build cannot use (a broken OBS Debian layout): the job fails as a failed
/// build does (exit code 1), as obs-build's "debian transforming failed".
#[derive(Debug)]
pub struct BrokenRecipe(pub String);

impl std::fmt::Display for BrokenRecipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BrokenRecipe {}

/// OBS's Debian layout made into a source package in `work/sources.deb`, when the recipe
/// is a `.dsc` whose sources hold a `debian.*` file (as obs-build decides); the directory
/// and the `.dsc` made.
fn debtransform(
    job: &Job,
    recipe: &Recipe,
    work: &Path,
) -> Result<Option<(PathBuf, crate::packages::debtransform::Transformed)>> {
    use crate::packages::debtransform;
    let Recipe::Dsc(dsc) = recipe else {
        return Ok(None);
    };
    if !debtransform::applies(&job.sources)? {
        return Ok(None);
    }
    let broken = |e: anyhow::Error| anyhow::Error::new(BrokenRecipe(format!("{e:#}")));
    let release = bundle::recipe::deb_release(job.release.as_deref()).map_err(broken)?;
    let options = debtransform::Options {
        release,
        date: debtransform::changelog_date()?,
    };
    let out = work.join("sources.deb");
    if out.exists() {
        fs::remove_dir_all(&out).with_context(|| format!("cannot remove {}", out.display()))?;
    }
    let transformed = debtransform::transform(&job.sources, dsc, &options, &out).map_err(broken)?;
    Ok(Some((fs::canonicalize(&out)?, transformed)))
}

/// The packages of the toolbox for `job`: the runtime configuration's list (default and
/// per project) plus the job's own.
pub fn toolbox_packages(job: &Job, config: Option<&Path>) -> Result<Vec<String>> {
    let mut names = crate::config::toolbox::ToolboxConfig::load(config)?.packages_for(&job.project);
    names.extend(job.toolbox.iter().cloned());
    names.sort();
    names.dedup();
    Ok(names)
}

/// The host repositories of the runtime configuration (`repos` in `toolbox.toml`): where
/// the toolbox comes from for jobs that name none (bs_worker's jobs name only the
/// packages of the buildroot). Empty when not configured.
pub fn configured_toolbox_repos(config: Option<&Path>) -> Result<Vec<String>> {
    Ok(crate::config::toolbox::ToolboxConfig::load(config)?.repos())
}

/// Assembles the buildroot (install mode, from the job's repositories) and the toolbox
/// (extract mode, from the host repositories) in the cache, lays the buildroot down in
/// `work/buildroot`, and writes the phase bundles under `work/bundles`.
///
/// Cross-arch jobs: an emulated one (target arch foreign to the host, no `crossarch`) gets
/// its toolbox first, because the toolbox's dpkg installs the foreign buildroot and its
/// qemu runs the maintainer scripts; a sysroot one (`crossarch`) gets a host-arch
/// buildroot with the `sysroot` packages unpacked into the cross sysroot.
///
/// The steps, in order (see the module doc): `Preparing::plan`, `Preparing::toolbox`,
/// `Preparing::emulation`, `Preparing::buildroot_request`, `Preparing::sysroot`,
/// `Preparing::buildroot`, `Preparing::bundles`.
pub fn prepare(job: &Job, store: &Store, options: &Options, work: &Path) -> Result<Prepared> {
    let started = Instant::now();
    // The roots, the bundles and the callbacks' statuses are paths below `work`, written
    // into the configs of containers (a toolbox's install container, the phases, their
    // hooks) that resolve a relative path against their own bundle: a relative work
    // directory (`obsbox bundle JOB --out DIR`) is made absolute here, once.
    let work = std::path::absolute(work)
        .with_context(|| format!("job {}: work directory {}", job.id, work.display()))?;
    let mut preparing = Preparing::new(job, store, options, &work);
    let plan = preparing.plan()?;
    let toolbox = preparing.toolbox(&plan)?;
    stop_if_interrupted()?;
    let emulated = preparing.emulation(&plan, &toolbox.root)?;
    let request = preparing.buildroot_request(&plan, &toolbox.root, &emulated)?;
    let sysroot = preparing.sysroot(&plan)?;
    let buildroot = preparing.buildroot(&request, sysroot)?;
    stop_if_interrupted()?;
    let bundles = preparing.bundles(&plan, &toolbox.root, &buildroot, &emulated)?;
    Ok(Prepared {
        phases: bundles.phases,
        paths: bundles.paths,
        callbacks: bundles.callbacks,
        assembly: started.elapsed(),
        buildroot_packages: buildroot.built.packages,
        buildroot_cached: buildroot.built.cache_hit,
        toolbox_packages: toolbox.packages,
        emulation: emulated.emulation,
        global_entry: emulated.global_entry,
        mounts: preparing.mounts,
        notes: plan.transformed.map(|(_, t)| t.notes).unwrap_or_default(),
    })
}

/// A job being prepared: what every step of [`prepare`] reads, and the mounts the steps
/// have made so far (unmounted when dropped, so a failing step leaves none).
struct Preparing<'a> {
    job: &'a Job,
    store: &'a Store,
    options: &'a Options,
    work: &'a Path,
    mounts: Vec<rootfs::overlay::Mount>,
}

/// What a job needs, decided before any root is assembled ([`Preparing::plan`]).
struct Plan {
    /// OBS's Debian layout made into a source package: its directory and what was made.
    transformed: Option<(PathBuf, crate::packages::debtransform::Transformed)>,
    /// The job's callbacks (none without a runtime configuration).
    callbacks: Vec<callbacks::Callback>,
    cross: Cross,
    /// The buildroot's packages, and the recipe's build relations on top of them.
    buildroot_names: Vec<String>,
    needs: repo::build_deps::Needs,
    /// The toolbox's packages, the callbacks' included.
    toolbox_names: Vec<String>,
}

/// The toolbox laid down for the job ([`Preparing::toolbox`]).
struct Toolbox {
    root: PathBuf,
    /// Its packages (none: the job has no toolbox, `root` is an empty directory).
    packages: Vec<rootfs::RootPackage>,
}

/// How the buildroot's foreign code runs ([`Preparing::emulation`]); empty for a job
/// that is not emulated.
#[derive(Default)]
struct Emulated {
    emulation: Option<crate::binfmt::Emulation>,
    global_entry: Option<crate::binfmt::GlobalEntry>,
}

/// The buildroot laid down for the job ([`Preparing::buildroot`]).
struct Buildroot {
    root: PathBuf,
    built: rootfs::Built,
}

/// A sysroot cross build's target packages: their cached tree and the directory
/// (relative) of the buildroot they go to.
struct Sysroot {
    tree: PathBuf,
    dir: PathBuf,
}

/// The job's bundles, written and given their roots ([`Preparing::bundles`]).
struct Bundles {
    phases: Vec<Phase>,
    paths: Paths,
    callbacks: Option<CallbackSetup>,
}

impl<'a> Preparing<'a> {
    fn new(job: &'a Job, store: &'a Store, options: &'a Options, work: &'a Path) -> Self {
        Preparing {
            job,
            store,
            options,
            work,
            mounts: Vec::new(),
        }
    }

    /// Step "plan": the recipe (a broken OBS Debian layout fails the job here, before any
    /// root is assembled), the job's callbacks, native, emulated or sysroot cross build,
    /// and the package sets of the buildroot and the toolbox.
    fn plan(&self) -> Result<Plan> {
        let job = self.job;
        let recipe = Recipe::of(job)?;
        if job.repos.is_empty() {
            bail!("job {}: no repositories for the buildroot", job.id);
        }
        let transformed = debtransform(job, &recipe, self.work)?;
        let mut callbacks: Vec<callbacks::Callback> = match self.options.config.as_deref() {
            Some(config) => callbacks::config::enabled(config, &callback_selector(job))?
                .into_iter()
                .filter(|c| c.hook != HookPoint::Allocate)
                .collect(),
            None => Vec::new(),
        };
        let cross = cross_plan(job, &callbacks)?;
        if !matches!(cross, Cross::Emulated { .. }) {
            // Nothing to register: the callback (and the qemu it brings) is not needed.
            callbacks.retain(|c| !callbacks::cross::is_cross_build(c));
        }
        let mut buildroot_names: Vec<String> = job
            .bdeps
            .iter()
            .filter(|b| !b.noinstall && !b.vminstall && !b.sysroot)
            .map(|b| b.name.clone())
            .collect();
        buildroot_names.sort();
        buildroot_names.dedup();
        // An OBS job's bdeps are the package set its scheduler expanded (obs-build installs
        // them as they are); any other job gets the recipe's own build relations on top.
        let needs = if job.expanded {
            repo::build_deps::Needs::default()
        } else {
            let arch = match &cross {
                Cross::Sysroot { .. } => job.host_arch(),
                _ => &job.arch,
            };
            let ctx = repo::build_deps::BuildContext {
                arch: arch.to_deb().unwrap_or_else(|_| arch.clone()),
                profiles: job.build_profiles.clone(),
            };
            // obs-build's `%_target_cpu`: the cpu of `--target` when there is one.
            let target_cpu = match job.rpm_target.split('-').next() {
                Some(cpu) if !cpu.is_empty() => cpu.to_string(),
                _ => arch.to_string(),
            };
            let spec = repo::spec_deps::SpecContext {
                target_cpu,
                macros: job.rpm_macros.clone(),
                project: job.project.clone(),
            };
            recipe
                .build_needs(&job.sources, &ctx, &spec)
                .with_context(|| format!("job {}", job.id))?
        };
        let mut toolbox_names = toolbox_packages(job, self.options.config.as_deref())?;
        // What the callbacks run comes from the toolbox too.
        for callback in &callbacks {
            toolbox_names.extend(callback.packages.iter().cloned());
        }
        toolbox_names.sort();
        toolbox_names.dedup();
        Ok(Plan {
            transformed,
            callbacks,
            cross,
            buildroot_names,
            needs,
            toolbox_names,
        })
    }

    /// Step "toolbox": the host-arch toolbox (extract mode, from the toolbox repositories)
    /// laid down at `work/toolbox`; an empty directory when the job needs no toolbox.
    fn toolbox(&mut self, plan: &Plan) -> Result<Toolbox> {
        let job = self.job;
        if plan.toolbox_names.is_empty() {
            // Nothing to run from a toolbox: checks (if any) see an empty root and fail clearly.
            let empty = self.work.join("toolbox");
            fs::create_dir_all(&empty)?;
            return Ok(Toolbox {
                root: empty,
                packages: Vec::new(),
            });
        }
        let repos = if job.toolbox_repos.is_empty() {
            if !job.host_arch().same_as(&job.arch)? {
                bail!(
                    "job {}: the toolbox needs host-arch repositories (toolbox_repos / syspath)",
                    job.id
                );
            }
            self.repo_urls(&job.repos, "repository")?
        } else {
            self.repo_urls(&job.toolbox_repos, "toolbox repository")?
        };
        let request = rootfs::Request::new(
            Mode::Extract,
            job.host_arch(),
            repos,
            plan.toolbox_names.clone(),
        );
        // Containers run from the toolbox get their mount points made in it: in the job's
        // own layer, so the cached tree stays as its digest recorded it.
        let (root, built) = self
            .lay_down(&request, "toolbox", None)
            .with_context(|| format!("job {}: cannot set up the toolbox", job.id))?;
        Ok(Toolbox {
            root,
            packages: built.packages,
        })
    }

    /// Step "emulation": for an emulated job, qemu from the toolbox, registered before any
    /// target code runs (in a private binfmt_misc per container, or one global entry).
    fn emulation(&self, plan: &Plan, toolbox: &Path) -> Result<Emulated> {
        let job = self.job;
        let Cross::Emulated { settings } = &plan.cross else {
            return Ok(Emulated::default());
        };
        let mode = crate::binfmt::Mode::choose(&settings.binfmt)?;
        let emulation = crate::binfmt::Emulation::from_toolbox(&job.arch, toolbox, mode)
            .with_context(|| {
                format!(
                    "job {}: {} on this {} worker is an emulated build",
                    job.id,
                    job.arch,
                    job.host_arch()
                )
            })?;
        let global_entry = match mode {
            crate::binfmt::Mode::Global => Some(crate::binfmt::GlobalEntry::register(&emulation)?),
            crate::binfmt::Mode::Private => None,
        };
        tracing::info!(
            arch = %job.arch,
            interpreter = %emulation.interpreter.display(),
            binfmt = mode.name(),
            "emulated build"
        );
        Ok(Emulated {
            emulation: Some(emulation),
            global_entry,
        })
    }

    /// Step "buildroot", its request: install mode from the job's repositories, for the
    /// target arch (the host's in a sysroot cross build, whose target is in the sysroot);
    /// a foreign one installed by the toolbox's package manager, an rpm one registered by
    /// the toolbox's rpm.
    fn buildroot_request(
        &self,
        plan: &Plan,
        toolbox: &Path,
        emulated: &Emulated,
    ) -> Result<rootfs::Request> {
        let arch = match &plan.cross {
            Cross::Sysroot { .. } => self.job.host_arch(),
            _ => &self.job.arch,
        };
        Ok(rootfs::Request::new(
            Mode::Install,
            arch,
            self.repo_urls(&self.job.repos, "repository")?,
            plan.buildroot_names.clone(),
        )
        .with_needs(plan.needs.clone())
        .with_foreign(emulated.emulation.clone().map(|emulation| rootfs::Foreign {
            toolbox: toolbox.to_path_buf(),
            emulation,
        }))
        .with_toolbox(Some(toolbox.to_path_buf())))
    }

    /// Step "sysroot": a sysroot cross build's target-arch packages, assembled in the cache
    /// for the buildroot step to lay into the sysroot directory of the host-arch buildroot.
    fn sysroot(&self, plan: &Plan) -> Result<Option<Sysroot>> {
        let job = self.job;
        let Cross::Sysroot { arch, dir } = &plan.cross else {
            return Ok(None);
        };
        let names: Vec<String> = job
            .bdeps
            .iter()
            .filter(|b| b.sysroot && !b.noinstall)
            .map(|b| b.name.clone())
            .collect();
        if names.is_empty() {
            bail!("job {}: crossarch {arch} but no sysroot packages", job.id);
        }
        let request = rootfs::Request::new(
            Mode::Extract,
            arch,
            self.repo_urls(&job.repos, "repository")?,
            names,
        );
        let built = rootfs::build(&request, self.store, &self.options.state_root)
            .with_context(|| format!("job {}: cannot set up the {arch} sysroot", job.id))?;
        tracing::info!(arch = %arch, sysroot = %dir.display(), packages = built.packages.len(), "sysroot ready");
        Ok(Some(Sysroot {
            tree: built.tree,
            dir: dir.clone(),
        }))
    }

    /// Step "buildroot": the buildroot assembled for `request` and laid down at
    /// `work/buildroot`, with the sysroot in it.
    fn buildroot(
        &mut self,
        request: &rootfs::Request,
        sysroot: Option<Sysroot>,
    ) -> Result<Buildroot> {
        let sysroot = sysroot
            .as_ref()
            .map(|s| (s.tree.as_path(), s.dir.as_path()));
        let (root, built) = self
            .lay_down(request, "buildroot", sysroot)
            .with_context(|| format!("job {}: cannot set up the buildroot", self.job.id))?;
        Ok(Buildroot { root, built })
    }

    /// Step "bundles": the callbacks' bundles and the hooks they give the build phase, the
    /// phase bundles, and every bundle's root (mounted, or exported with the prepare phase
    /// run in the copied buildroot).
    fn bundles(
        &mut self,
        plan: &Plan,
        toolbox: &Path,
        buildroot: &Buildroot,
        emulated: &Emulated,
    ) -> Result<Bundles> {
        let (job, options, work) = (self.job, self.options, self.work);
        let paths = self.paths(plan, toolbox, buildroot)?;
        let templates = bundle::Templates::load(options.config.as_deref())
            .with_context(|| format!("job {}", job.id))?;
        let dir = work.join("bundles");
        fs::create_dir_all(&dir)?;
        let dir = fs::canonicalize(&dir)?;
        let (callbacks, hooks, mut roots) = if plan.callbacks.is_empty() {
            (None, PhaseHooks::default(), Vec::new())
        } else {
            let setup = CallbackSetup {
                callbacks: plan.callbacks.clone(),
                status_dir: work.join("callbacks"),
                log: options.log_path(),
                log_start: crate::joblog::epoch_secs(
                    options.log_start.unwrap_or_else(SystemTime::now),
                ),
                old_results: options.old_results.clone(),
                assembled_buildroot: buildroot.built.tree.clone(),
                work: fs::canonicalize(work)?,
                state_root: options.state_root.clone(),
                emulation: emulated.emulation.clone(),
                binfmt_in_use: emulated.global_entry.as_ref().map(|e| e.name()),
            };
            let (hooks, roots) = crate::callbacks::bundle::write_callback_bundles(
                &templates, job, &paths, &setup, &dir,
            )?;
            (Some(setup), hooks, roots)
        };
        let mut phases = bundle::write_bundles(
            &templates,
            job,
            &paths,
            &dir,
            &hooks,
            emulated.emulation.as_ref(),
        )?;
        roots.extend(phases.iter().map(Phase::root));
        match options.roots {
            Roots::Mounted => give_roots(&roots, &paths, &mut self.mounts)?,
            Roots::Copied => {
                export_roots(
                    job,
                    options,
                    &roots,
                    &paths,
                    &phases,
                    emulated.emulation.as_ref(),
                )?;
                phases.retain(|p| p.kind != PhaseKind::Prepare);
            }
        }
        Ok(Bundles {
            phases,
            paths,
            callbacks,
        })
    }

    /// The paths the bundles are written with: the roots, the sources, the results'
    /// staging directory (made, owned by the build user), OBS's Debian layout transformed.
    fn paths(&self, plan: &Plan, toolbox: &Path, buildroot: &Buildroot) -> Result<Paths> {
        let (job, options, work) = (self.job, self.options, self.work);
        let staging = work.join("results");
        fs::create_dir_all(&staging)?;
        nix::unistd::chown(
            &staging,
            Some(bundle::BUILD_UID.into()),
            Some(bundle::BUILD_GID.into()),
        )?;
        Ok(Paths {
            buildroot: fs::canonicalize(&buildroot.root)?,
            toolbox: fs::canonicalize(toolbox)?,
            sources: fs::canonicalize(&job.sources)
                .with_context(|| format!("job {}: sources {}", job.id, job.sources.display()))?,
            results: fs::canonicalize(&staging)?,
            transformed: plan
                .transformed
                .as_ref()
                .map(|(dir, t)| (dir.clone(), t.dsc.clone())),
            cgroups: options.cgroups,
        })
    }

    /// The URLs of the job's repositories `refs` (`what` they are, for the error).
    fn repo_urls(&self, refs: &[crate::job::RepoRef], what: &str) -> Result<Vec<String>> {
        refs.iter()
            .map(|r| {
                if r.url.is_empty() {
                    bail!(
                        "job {}: {what} {}/{} has no URL (give one in the job or the runtime configuration)",
                        self.job.id,
                        r.project.as_deref().unwrap_or("?"),
                        r.repository.as_deref().unwrap_or("?")
                    );
                }
                Ok(r.url.clone())
            })
            .collect()
    }

    /// Lays the root for `request` down at `work/name` as `options.roots` says: an overlay
    /// over the cached root, or a private copy; with `sysroot` (a cached tree and the
    /// relative directory it goes to), a sysroot cross build's target packages in it.
    /// Returns the root's path and what was built.
    fn lay_down(
        &mut self,
        request: &rootfs::Request,
        name: &str,
        sysroot: Option<(&Path, &Path)>,
    ) -> Result<(PathBuf, rootfs::Built)> {
        let (store, options, work) = (self.store, self.options, self.work);
        // A private copy of the buildroot is the build bundle's own root (`obsbox bundle`).
        let target = match (options.roots, name) {
            (Roots::Copied, "buildroot") => work
                .join("bundles")
                .join(bundle::BUILD)
                .join(bundle::ROOTFS),
            _ => work.join(name),
        };
        let place = |dir: &Path| format!("sysroot /{}", dir.display());
        match options.roots {
            Roots::Mounted => {
                let built = rootfs::build(request, store, &options.state_root)?;
                let mut lowers = Vec::new();
                let layer = work.join(format!("{name}.sysroot"));
                if let Some((tree, dir)) = sysroot {
                    // A layer of its own above the root, checked against the root first: the
                    // layer's directories would hide a symlink of the root on the way.
                    check_place(&built.tree, dir).with_context(|| place(dir))?;
                    fs::create_dir(&layer)?;
                    let at = make_dirs_inside(&layer, dir).with_context(|| place(dir))?;
                    rootfs::farm::link_tree(tree, &at)
                        .with_context(|| format!("cannot lay down the {}", place(dir)))?;
                    lowers.push(layer.as_path());
                }
                lowers.push(&built.tree);
                self.mounts
                    .push(rootfs::overlay::mount_root(&lowers, work, name)?);
                Ok((target, built))
            }
            Roots::Copied => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                let built =
                    rootfs::build_into(request, store, &options.state_root, &target, &[""])?;
                if let Some((tree, dir)) = sysroot {
                    let at = make_dirs_inside(&target, dir).with_context(|| place(dir))?;
                    rootfs::farm::link_tree_copying(tree, &at, &[""])
                        .with_context(|| format!("cannot lay down the {}", place(dir)))?;
                }
                Ok((target, built))
            }
        }
    }
}

/// Gives every bundle its root as a bind of the job's mounted buildroot or toolbox at the
/// bundle's `rootfs`: prepare, the build and buildroot callbacks share one buildroot, as
/// in OBS, while each bundle is a complete OCI bundle. A buildroot-copy callback mounts
/// its own when it runs.
fn give_roots(
    roots: &[bundle::BundleRoot],
    paths: &Paths,
    mounts: &mut Vec<rootfs::overlay::Mount>,
) -> Result<()> {
    for root in roots {
        let source = match root.of {
            RootOf::Buildroot => &paths.buildroot,
            RootOf::Toolbox => &paths.toolbox,
            RootOf::Copy => continue,
        };
        mounts.push(rootfs::overlay::Mount::bind(source, &root.rootfs())?);
    }
    Ok(())
}

/// The roots of exported bundles (`obsbox bundle`), which outlive obsbox and so cannot
/// share a mount: the build's `rootfs` is the buildroot itself; obsbox runs the prepare
/// phase in it (the build needs its user) and leaves the prepare bundle out; every other
/// bundle gets a private copy of the root it shows (buildroot callbacks: after prepare).
fn export_roots(
    job: &Job,
    options: &Options,
    roots: &[bundle::BundleRoot],
    paths: &Paths,
    phases: &[Phase],
    emulation: Option<&crate::binfmt::Emulation>,
) -> Result<()> {
    if let Some(prepare) = phases.iter().find(|p| p.kind == PhaseKind::Prepare) {
        let mut spec = oci_spec::runtime::Spec::load(prepare.dir.join("config.json"))?;
        if let Some(root) = spec.root().clone() {
            let mut root = root;
            root.set_path(paths.buildroot.clone());
            spec.set_root(Some(root));
        }
        // This run is obsbox's own: a cgroup of this process, not the exported bundles'
        // shared place, where a concurrent `obsbox bundle` of the same job stopping its own
        // prepare would kill this one.
        if let Some(linux) = spec.linux_mut() {
            linux.set_cgroups_path(Some(bundle::CgroupPlace::owned().of(job, "prepare")));
        }
        let run_dir = prepare.dir.with_file_name(".prepare-run");
        fs::create_dir_all(&run_dir)?;
        spec.save(run_dir.join("config.json"))?;
        let id: String = format!(
            "obsbox-{}-export-prepare-{}",
            bundle::sanitize(&job.id),
            std::process::id()
        )
        .chars()
        .take(200)
        .collect();
        let run_options = crate::runtime::oneshot::RunOptions {
            after_create: emulation.map(crate::binfmt::Emulation::after_create),
            ..Default::default()
        };
        let outcome = crate::runtime::oneshot::run_with(
            &run_dir,
            &id,
            &options.state_root,
            &run_options,
            |line| tracing::info!(target: "prepare", "{line}"),
        );
        rootfs::store::remove_tree(&run_dir)?;
        let outcome = outcome.context("cannot run the prepare phase")?;
        if outcome.code != 0 {
            bail!("the prepare phase failed (exit code {})", outcome.code);
        }
        rootfs::store::remove_tree(&prepare.dir)?;
    }
    for root in roots {
        let target = root.rootfs();
        if target == paths.buildroot || !root.dir.exists() {
            continue;
        }
        let source = match root.of {
            RootOf::Buildroot => &paths.buildroot,
            RootOf::Toolbox => &paths.toolbox,
            RootOf::Copy => {
                fs::create_dir_all(&target)?;
                continue;
            }
        };
        rootfs::farm::link_tree_copying(source, &target, &[""])
            .with_context(|| format!("cannot copy {} to {}", source.display(), target.display()))?;
    }
    Ok(())
}

/// What kind of cross-arch job a job is.
#[derive(Debug)]
enum Cross {
    /// The buildroot runs on this machine's arch.
    Native,
    /// The buildroot is of a foreign arch and runs through qemu.
    Emulated {
        settings: callbacks::cross::Settings,
    },
    /// A host-arch buildroot with `arch` packages unpacked at `dir` (relative).
    Sysroot { arch: Arch, dir: PathBuf },
}

fn cross_plan(job: &Job, callbacks: &[callbacks::Callback]) -> Result<Cross> {
    let hostarch = job.host_arch();
    let callback = callbacks::cross::find(callbacks)?;
    let settings = match callback {
        Some(c) => callbacks::cross::Settings::from_args(&c.args)
            .with_context(|| format!("callback {} (from {})", c.name, origin_of(c, "args")))?,
        None => callbacks::cross::Settings::default(),
    };
    if let Some(crossarch) = &job.crossarch {
        let dir = settings.sysroot_for(crossarch)?;
        return Ok(Cross::Sysroot {
            arch: crossarch.clone(),
            dir,
        });
    }
    if !crate::binfmt::needs_emulation(hostarch, &job.arch)? {
        return Ok(Cross::Native);
    }
    if callback.is_none() {
        bail!(
            "job {}: {} on a {hostarch} worker is an emulated build, which needs the \
             cross-build callback (runtime-config/callbacks/cross-build.toml, enabled for \
             project {}) to register qemu from the toolbox",
            job.id,
            job.arch,
            job.project
        );
    }
    Ok(Cross::Emulated { settings })
}

fn origin_of(callback: &callbacks::Callback, setting: &str) -> String {
    callback
        .origin
        .get(setting)
        .cloned()
        .unwrap_or_else(|| "the definition".to_string())
}

/// Checks that `rel` (relative) can be made below `root`: no symlink a package put there on
/// the way, nothing at `rel` itself yet.
fn check_place(root: &Path, rel: &Path) -> Result<()> {
    let root_dir = rootfs::RootDir::open(root)?;
    let mut path = PathBuf::new();
    let components: Vec<_> = rel.components().collect();
    for (i, component) in components.iter().enumerate() {
        let std::path::Component::Normal(name) = component else {
            bail!("not a plain relative path");
        };
        path.push(name);
        let last = i + 1 == components.len();
        match root_dir.kind(&path)? {
            Some(rootfs::rootdir::Kind::Symlink) => {
                bail!("/{} is a symlink in the buildroot", path.display())
            }
            Some(_) if last => bail!("/{} exists already in the buildroot", path.display()),
            Some(rootfs::rootdir::Kind::Dir) => {}
            Some(_) => bail!("/{} is not a directory", path.display()),
            None => return Ok(()),
        }
    }
    Ok(())
}

/// Creates `rel` (relative) below `root` after [`check_place`], and returns it.
fn make_dirs_inside(root: &Path, rel: &Path) -> Result<PathBuf> {
    check_place(root, rel)?;
    let root_dir = rootfs::RootDir::open(root)?;
    if let Some(parent) = rel.parent() {
        root_dir.create_dir_all(parent)?;
    }
    Ok(root.join(rel))
}

/// Which job the callbacks are decided for.
pub fn callback_selector(job: &Job) -> callbacks::config::Selector {
    callbacks::config::Selector {
        project: job.project.clone(),
        package: job.package.clone(),
        arch: Some(job.arch.clone()),
    }
}

/// What the job's callbacks reported so far (none without callbacks).
fn callback_statuses(prepared: &Prepared) -> Result<Vec<callbacks::Status>> {
    match &prepared.callbacks {
        Some(setup) => callbacks::read_statuses(&setup.status_dir),
        None => Ok(Vec::new()),
    }
}

/// How a failed gating callback of `points` ends the job, if one failed.
fn failed_callback(
    statuses: &[callbacks::Status],
    points: &[HookPoint],
    log: &mut results::Log,
) -> Option<Outcome> {
    let failed = statuses
        .iter()
        .find(|s| s.gating && s.outcome.is_failure() && points.contains(&s.hook))?;
    let outcome = match failed.on_failure {
        OnFailure::Failed => Outcome::Failed,
        OnFailure::Badhost => Outcome::BadHost,
    };
    log.note(&format!(
        "gating {} callback {} failed: {}; exit code {}",
        failed.hook.as_str(),
        failed.name,
        failed.message,
        outcome.exit_code()
    ));
    Some(outcome)
}

/// SIGINT, SIGTERM and SIGHUP are blocked for the whole job and taken when it suits:
/// between steps, and by the container wait (which passes them on).
fn block_termination() -> Result<()> {
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    set.thread_block()?;
    Ok(())
}

#[derive(Debug)]
struct Interrupted(Signal);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted by {}", self.0)
    }
}

impl std::error::Error for Interrupted {}

fn stop_if_interrupted() -> Result<()> {
    match crate::runtime::creator::pending_termination() {
        Some(sig) => Err(Interrupted(sig).into()),
        None => Ok(()),
    }
}

/// Runs the whole job and returns how it ended (OBS's exit code: [`Outcome::exit_code`]); what happened is in
/// `RESULTS/logfile` and `RESULTS/_statistics`, and on the terminal.
///
/// The steps, in order (see the module doc): `Running::start`, `Running::prepare`,
/// `Running::report`, `Running::phases` (each by `Running::phase`, the build's
/// results by `Running::results`), `Running::exit_code`, `Running::finish`.
pub fn build(job: &Job, options: &Options) -> Result<Outcome> {
    block_termination()?;
    let mut running = Running::start(job, options)?;
    let ran = running.run();
    let outcome = running.exit_code(&ran);
    Ok(running.finish(outcome, ran.is_ok()))
}

/// A job being run by [`build`]: what every step reads, the job log and the phases'
/// statistics so far.
struct Running<'a> {
    job: &'a Job,
    /// The caller's options, with the log's start decided.
    options: Options,
    started: Instant,
    log: results::Log,
    store: Store,
    /// `CACHE/jobs/JOB.PID`: the job's roots, bundles and callback statuses.
    work: PathBuf,
    stats: Vec<PhaseStats>,
    /// build-compare found the results the same as the previous ones.
    unchanged: bool,
}

impl<'a> Running<'a> {
    /// Step "start": the results layout, the job log, the store, what dead runs left
    /// removed, a fresh work directory.
    fn start(job: &'a Job, options: &Options) -> Result<Self> {
        let started = Instant::now();
        results::create_layout(&options.results)?;
        let log_start = options.log_start.unwrap_or_else(SystemTime::now);
        let options = Options {
            log_start: Some(log_start),
            ..options.clone()
        };
        let mut log = match &options.log {
            Some(path) => results::Log::append(path, log_start)?,
            None => results::Log::create(&options.results.join("logfile"), log_start)?,
        };
        log.note(&format!("obsbox build of {} for {}", job.id, job.arch));
        let store = Store::open(&options.cache)?;
        // What earlier runs on this cache and state that died (SIGKILL, a crash, a power cut)
        // left behind goes first, as `obsbox gc` would remove it.
        match gc::gc(&options.state_root, &options.cache) {
            Ok(collected) if !collected.is_empty() => log.note(&format!(
                "removed what a run that died left: {}",
                collected.summary()
            )),
            Ok(_) => {}
            Err(err) => tracing::warn!("cannot collect what earlier runs left: {err:#}"),
        }
        let work = options.cache.join("jobs").join(format!(
            "{}.{}",
            bundle::sanitize(&job.id),
            std::process::id()
        ));
        rootfs::overlay::unmount_under(&work);
        let _ = rootfs::store::remove_tree(&work);
        fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
        Ok(Running {
            job,
            options,
            started,
            log,
            store,
            work,
            stats: Vec::new(),
            unchanged: false,
        })
    }

    /// The job from its roots to its results: how it ended, or what stopped it.
    fn run(&mut self) -> Result<Outcome> {
        let Some(prepared) = self.prepare()? else {
            return Ok(Outcome::Failed);
        };
        self.report(&prepared);
        // The prepared job's mounts and binfmt entry go when it is dropped, here.
        self.phases(&prepared)
    }

    /// Step "prepare": [`prepare`] in the work directory; `None` when the recipe is broken,
    /// which fails the job as a failed build does.
    fn prepare(&mut self) -> Result<Option<Prepared>> {
        match prepare(self.job, &self.store, &self.options, &self.work) {
            Ok(prepared) => Ok(Some(prepared)),
            Err(err) => {
                if let Some(broken) = err.downcast_ref::<BrokenRecipe>() {
                    self.log
                        .note(&format!("debian transforming failed: {broken}"));
                    eprintln!("obsbox: error: debian transforming failed: {broken}");
                    return Ok(None);
                }
                Err(err)
            }
        }
    }

    /// Step "report": what preparing did, the system, and the roots' packages, in the log.
    fn report(&mut self, prepared: &Prepared) {
        let log = &mut self.log;
        for note in &prepared.notes {
            log.note(note);
        }
        log.note(&format!(
            "buildroot and toolbox ready in {:.2} s",
            prepared.assembly.as_secs_f64()
        ));
        report::system(log, &self.job.arch);
        let from = if prepared.buildroot_cached {
            "from the cache"
        } else {
            "installed"
        };
        report::packages(
            log,
            &format!("Packages in the buildroot, {from}"),
            &prepared.buildroot_packages,
        );
        report::packages(log, "Packages in the toolbox", &prepared.toolbox_packages);
    }

    /// Step "phases": every phase in order, until one ends the job; then how it ended.
    fn phases(&mut self, prepared: &Prepared) -> Result<Outcome> {
        for phase in &prepared.phases {
            stop_if_interrupted()?;
            if phase.kind == PhaseKind::ResultsInfo && prepared.toolbox_packages.is_empty() {
                self.log
                    .note("no toolbox: the results' package information is not shown");
                continue;
            }
            if let Some(outcome) = self.phase(prepared, phase)? {
                return Ok(outcome);
            }
            if phase.kind == PhaseKind::Build
                && let Some(outcome) = self.results(prepared)?
            {
                return Ok(outcome);
            }
        }
        if self.unchanged {
            // As obs-build does, for bs_worker.
            fs::write(self.options.results.join("OTHER/same_result_marker"), b"")?;
            self.log.note("the results are unchanged: exit code 2");
            return Ok(Outcome::Unchanged);
        }
        Ok(Outcome::Succeeded)
    }

    /// One phase: its container run, its line of `_statistics`, and what its exit code
    /// means for the job (`Some(outcome)`: the job ends so).
    fn phase(&mut self, prepared: &Prepared, phase: &Phase) -> Result<Option<Outcome>> {
        self.log.note(&format!("phase {} starts", phase.name));
        let ran = match self.run_container(prepared, phase) {
            Ok(ran) => ran,
            Err(err) => {
                // A gating pre-build callback that failed aborts the build container's
                // creation: the job ends as that callback says, not as a setup failure.
                let statuses = callback_statuses(prepared)?;
                if let Some(outcome) =
                    failed_callback(&statuses, &[HookPoint::PreBuild], &mut self.log)
                {
                    return Ok(Some(outcome));
                }
                return Err(err);
            }
        };
        let mut wall = ran.wall;
        if phase.kind == PhaseKind::Prepare {
            // The prepare phase is the roots' assembly plus the container that finishes it.
            wall += prepared.assembly;
        }
        self.stats.push(PhaseStats {
            name: phase.name.clone(),
            wall,
            peak_memory: ran.peak_memory,
            code: ran.code,
        });
        self.log.note(&format!(
            "phase {} exited with {} after {:.2} s",
            phase.name,
            ran.code,
            ran.wall.as_secs_f64()
        ));
        if let Some(sig) = ran.interrupted {
            return Err(Interrupted(sig).into());
        }
        self.judge(phase, ran.code)
    }

    /// The phase's bundle run as a container of obsbox's runtime, its output in the log.
    fn run_container(
        &mut self,
        prepared: &Prepared,
        phase: &Phase,
    ) -> Result<crate::runtime::oneshot::Outcome> {
        let id = format!(
            "obsbox-{}-{}-{}",
            bundle::sanitize(&self.job.id),
            phase.name,
            std::process::id()
        );
        let id: String = id.chars().take(200).collect();
        let mut run_options = crate::runtime::oneshot::RunOptions::default();
        match phase.kind {
            PhaseKind::Build => {
                // The cross-build callback (createRuntime) registers qemu for the build.
                run_options.exit_file = prepared.callbacks.as_ref().map(|c| c.build_exit());
            }
            PhaseKind::Prepare => {
                run_options.after_create = prepared
                    .emulation
                    .as_ref()
                    .map(crate::binfmt::Emulation::after_create)
            }
            PhaseKind::ResultsInfo | PhaseKind::Check { .. } => {}
        }
        let log = &mut self.log;
        crate::runtime::oneshot::run_with(
            &phase.dir,
            &id,
            &self.options.state_root,
            &run_options,
            |line| log.line(&phase.name, line),
        )
    }

    /// What a phase's exit `code` means for the job: `Some(outcome)` ends it.
    fn judge(&mut self, phase: &Phase, code: i32) -> Result<Option<Outcome>> {
        match (&phase.kind, code) {
            (_, 0) => {}
            (PhaseKind::Prepare, code) => bail!("phase prepare failed with exit code {code}"),
            (PhaseKind::Build, _) => return Ok(Some(Outcome::Failed)),
            // As obs-build's listing, it informs and never fails the job.
            (PhaseKind::ResultsInfo, code) => self.log.note(&format!(
                "the results' package information is incomplete (exit code {code})"
            )),
            (PhaseKind::Check { gating: true }, _) => {
                self.log
                    .note(&format!("gating check {} failed", phase.name));
                return Ok(Some(Outcome::Failed));
            }
            (PhaseKind::Check { gating: false }, code) => {
                self.log.note(&format!(
                    "advisory check {} failed with {code} (ignored)",
                    phase.name
                ));
            }
        }
        Ok(None)
    }

    /// Step "results", after the build phase (whose post-build callbacks ran at its
    /// poststop): the results handed back in OBS's layout, then the callbacks' verdict
    /// (`Some(outcome)`: a gating one failed and ends the job).
    fn results(&mut self, prepared: &Prepared) -> Result<Option<Outcome>> {
        let count = results::collect(&prepared.paths.results, &self.options.results)?;
        self.log.note(&format!("{count} result files collected"));
        let points = [
            HookPoint::PreBuild,
            HookPoint::PostBuild,
            HookPoint::Cleanup,
        ];
        let statuses = callback_statuses(prepared)?;
        if let Some(outcome) = failed_callback(&statuses, &points, &mut self.log) {
            return Ok(Some(outcome));
        }
        self.unchanged = statuses
            .iter()
            .any(|s| s.outcome == callbacks::Outcome::Unchanged);
        Ok(None)
    }

    /// Step "exit code": how the job ended when the steps failed: interrupted, a full
    /// disk (bad host), anything else a failed setup.
    fn exit_code(&mut self, ran: &Result<Outcome>) -> Outcome {
        let err = match ran {
            Ok(outcome) => return *outcome,
            Err(err) => err,
        };
        let log = &mut self.log;
        match err.downcast_ref::<Interrupted>().map(|i| i.0).or_else(|| {
            err.downcast_ref::<crate::runtime::creator::Interrupted>()
                .map(|i| i.0)
        }) {
            Some(sig) => {
                log.note(&format!(
                    "build interrupted by {sig}; finished phases are kept"
                ));
                Outcome::Interrupted(sig)
            }
            None if disk_full(err) => {
                // Not the job's fault: OBS gives it to another worker.
                log.note(&format!("the worker's disk is full: {err:#}"));
                tracing::error!(target: crate::logging::ERROR_TARGET, "{err:#}");
                eprintln!("obsbox: error: {err:#}");
                Outcome::BadHost
            }
            None => {
                log.note(&format!("setup failed: {err:#}"));
                tracing::error!(target: crate::logging::ERROR_TARGET, "{err:#}");
                eprintln!("obsbox: error: {err:#}");
                Outcome::SetupFailed
            }
        }
    }

    /// Step "finish": what the job left removed, `_statistics` written, the final log
    /// line; how the job ended, unless the results could not be written in full.
    /// `told_none`: no error of the steps was shown yet.
    fn finish(mut self, mut outcome: Outcome, told_none: bool) -> Outcome {
        let (options, work, log) = (&self.options, &self.work, &mut self.log);
        // Containers of this job an interruption left (a callback whose hook was killed).
        for id in gc::own_leftovers(&options.state_root) {
            tracing::warn!("container {id} was left by the interrupted job: removed");
        }
        // The roots' overlays went with the prepared job; whatever a container left mounted
        // below the work directory goes now, and the work directory with it, before the time
        // is taken: a worker waits for the clean-up too.
        rootfs::overlay::unmount_under(work);
        if options.keep_work {
            log.note(&format!("work directory kept: {}", work.display()));
        } else if let Err(err) = rootfs::store::remove_tree(work) {
            tracing::warn!("cannot remove {}: {err:#}", work.display());
        }
        let written = results::write_statistics(
            &options.results.join("_statistics"),
            &self.stats,
            self.started.elapsed(),
        );
        log.note(&format!(
            "finished with exit code {} after {:.1} s",
            outcome.exit_code(),
            self.started.elapsed().as_secs_f64()
        ));
        // Results that could not be written in full (a full disk) are not handed back as a
        // result: the worker is at fault.
        if let Some(err) = written.err().or_else(|| log.take_error()) {
            // One line: an error already told (the same full disk) is not told twice.
            if told_none {
                tracing::error!(target: crate::logging::ERROR_TARGET, "{err:#}");
                eprintln!("obsbox: error: {err:#}");
            }
            outcome = if disk_full(&err) {
                Outcome::BadHost
            } else {
                Outcome::SetupFailed
            };
        }
        outcome
    }
}

/// Whether the error comes from a full file system (or an exhausted quota): told by the
/// OS error its causes carry (see [`crate::oserror`]), never by their text.
fn disk_full(err: &anyhow::Error) -> bool {
    crate::oserror::errno_in(err).is_some_and(crate::oserror::is_disk_full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_obs_exit_codes() {
        let codes = [
            (Outcome::Succeeded, 0),
            (Outcome::Failed, 1),
            (Outcome::Unchanged, 2),
            (Outcome::BadHost, 3),
            (Outcome::SetupFailed, 4),
            (Outcome::Interrupted(Signal::SIGINT), 130),
            (Outcome::Interrupted(Signal::SIGTERM), 143),
            (Outcome::Interrupted(Signal::SIGHUP), 129),
        ];
        for (outcome, code) in codes {
            assert_eq!(outcome.exit_code(), code, "{outcome:?}");
        }
    }

    #[test]
    fn a_full_disk_is_told_by_its_errno_not_its_text() {
        let full: Result<()> = Err(std::io::Error::from_raw_os_error(libc::ENOSPC).into());
        assert!(disk_full(
            &full.context("cannot write RESULTS/x").unwrap_err()
        ));
        let quota = anyhow::Error::new(nix::errno::Errno::EDQUOT).context("cannot create");
        assert!(disk_full(&quota));
        let relayed = anyhow::Error::new(crate::oserror::Relayed {
            text: "container x: create failed: No space left on device".into(),
            errno: Some(nix::errno::Errno::ENOSPC),
        });
        assert!(disk_full(&relayed));
        // A build's own words about a full disk are the package's business.
        assert!(!disk_full(&anyhow::anyhow!(
            "phase build: cc1: No space left on device"
        )));
        assert!(!disk_full(&anyhow::Error::new(nix::errno::Errno::EIO)));
    }
}
