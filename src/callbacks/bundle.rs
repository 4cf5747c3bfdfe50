//! Callback bundles (`callback-NAME`) and the OCI hooks of the build phase that run them.
//!
//! A callback bundle is a plain OCI bundle: its root is the read-only toolbox (or the
//! buildroot, or a fresh copy of it), the job's directories are bind-mounted at
//! `/buildroot`, `/sources`, `/results` and `/oldresults` as the callback asks, `/tmp` is a
//! tmpfs, and its `scratch` directories are bind mounts of directories under the job's work
//! directory. What only obsbox needs (the log, the status file, the timeout) is in
//! `org.openbuildservice.callback.*` annotations.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use oci_spec::runtime::{
    HookBuilder, LinuxNamespaceType, MountBuilder, ProcessBuilder, Spec, UserBuilder,
};

use crate::bundle::{
    BundleRoot, Paths, PhaseHooks, RootOf, Templates, bind, build_user_process, env, finish,
    sanitize, tmpfs,
};
use crate::callbacks::annotations as key;
use crate::callbacks::config::{
    Action, Callback, HookPoint, MountMode, OnFailure, Placeholders, RunsIn, User,
};
use crate::job::Job;

/// Where a job's callbacks find what they work on, and where they report.
#[derive(Debug, Clone)]
pub struct CallbackSetup {
    /// The enabled callbacks, in run order.
    pub callbacks: Vec<Callback>,
    /// Where each callback leaves `NAME.json` (and the build its `build.exit`).
    pub status_dir: PathBuf,
    /// The job log the callbacks append to.
    pub log: PathBuf,
    /// When the job started (epoch seconds): what the callbacks' log lines are stamped from.
    pub log_start: u64,
    /// The previous results (OBS's old packages), if any.
    pub old_results: Option<PathBuf>,
    /// The assembled buildroot, as cached (for `buildroot-copy`).
    pub assembled_buildroot: PathBuf,
    /// The job's work directory.
    pub work: PathBuf,
    /// The container state directory the hook entry uses.
    pub state_root: PathBuf,
    /// How target code runs when the buildroot is of a foreign arch.
    pub emulation: Option<crate::binfmt::Emulation>,
    /// The job's entry in the host's binfmt_misc (global mode), alive until the job ends.
    pub binfmt_in_use: Option<String>,
}

impl CallbackSetup {
    /// The file the build phase's exit code goes to.
    pub fn build_exit(&self) -> PathBuf {
        self.status_dir.join("build.exit")
    }
}

/// Writes `out/callback-NAME` for every callback of `setup` and returns the hooks that run
/// them and the roots the bundles need.
pub fn write_callback_bundles(
    templates: &Templates,
    job: &Job,
    paths: &Paths,
    setup: &CallbackSetup,
    out: &Path,
) -> Result<(PhaseHooks, Vec<BundleRoot>)> {
    let binary = crate::runtime::seal::binary_path()?;
    std::fs::create_dir_all(&setup.status_dir)
        .with_context(|| format!("cannot create {}", setup.status_dir.display()))?;
    let mut hooks = PhaseHooks::default();
    let mut roots = Vec::new();
    for callback in &setup.callbacks {
        let name = format!("callback-{}", sanitize(&callback.name));
        let dir = out.join(&name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        roots.push(BundleRoot {
            dir: dir.clone(),
            of: match callback.runs_in {
                RunsIn::Toolbox => RootOf::Toolbox,
                RunsIn::Buildroot => RootOf::Buildroot,
                RunsIn::BuildrootCopy => RootOf::Copy,
            },
        });
        let spec = callback_spec(templates, job, paths, setup, callback, &dir)?;
        let spec = finish(spec, job, paths, &name)?;
        let spec = annotate(spec, job, paths, setup, callback)?;
        spec.save(dir.join("config.json"))
            .with_context(|| format!("cannot write {}", dir.join("config.json").display()))?;
        let hook = HookBuilder::default()
            .path(&binary)
            .args(vec![
                "obsbox".to_string(),
                "--root".to_string(),
                setup.state_root.to_string_lossy().into_owned(),
                "callback".to_string(),
                "hook".to_string(),
                dir.to_string_lossy().into_owned(),
            ])
            .env(vec![format!("PATH={}", crate::bundle::PATH)])
            // The hook entry kills the callback at its timeout; this is the backstop.
            .timeout((callback.timeout.as_secs() + 60) as i64)
            .build()?;
        match callback.hook {
            HookPoint::PreBuild => hooks.create_runtime.push(hook),
            HookPoint::PostBuild | HookPoint::Cleanup => hooks.poststop.push(hook),
            HookPoint::Allocate => {}
        }
    }
    Ok((hooks, roots))
}

fn callback_spec(
    templates: &Templates,
    job: &Job,
    paths: &Paths,
    setup: &CallbackSetup,
    callback: &Callback,
    dir: &Path,
) -> Result<Spec> {
    let mut spec = templates.callback(dir, callback.runs_in == RunsIn::Toolbox)?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    let empty_old = setup.work.join("no-old-results");
    for (place, mode) in &callback.mounts {
        let source = match place.as_str() {
            "buildroot" => paths.buildroot.clone(),
            "sources" => paths.sources.clone(),
            "results" => paths.results.clone(),
            _ => match &setup.old_results {
                Some(old) => old.clone(),
                None => {
                    std::fs::create_dir_all(&empty_old)?;
                    empty_old.clone()
                }
            },
        };
        mounts.push(bind(
            &source,
            &format!("/{place}"),
            *mode == MountMode::ReadOnly,
        )?);
    }
    // Scratch space: tmpfs and directories on disk, outer ones first so that one inside
    // another is not hidden by it.
    let mut scratch: Vec<(String, Option<PathBuf>)> = vec![("/tmp".to_string(), None)];
    for dir in &callback.tmpfs {
        if !scratch.iter().any(|(d, _)| d == dir) {
            scratch.push((dir.clone(), None));
        }
    }
    for dir in &callback.scratch {
        scratch.push((dir.clone(), Some(scratch_dir(&setup.work, callback, dir))));
    }
    scratch.sort_by_key(|(dir, _)| dir.split('/').filter(|c| !c.is_empty()).count());
    for (dir, on_disk) in scratch {
        let mount = match on_disk {
            Some(source) => {
                std::fs::create_dir_all(&source)
                    .with_context(|| format!("cannot create {}", source.display()))?;
                // As /var/tmp and a tmpfs are: anyone may write, only the owner removes.
                std::fs::set_permissions(
                    &source,
                    std::os::unix::fs::PermissionsExt::from_mode(0o1777),
                )
                .with_context(|| format!("cannot set the mode of {}", source.display()))?;
                // Without nodev: a root built there may hold device nodes (debootstrap
                // makes and writes a /dev/null in its target to check); which devices
                // may be opened is still the device cgroup's decision.
                MountBuilder::default()
                    .destination(dir)
                    .typ("bind")
                    .source(source)
                    .options(vec![
                        "rbind".to_string(),
                        "nosuid".to_string(),
                        "rw".to_string(),
                    ])
                    .build()?
            }
            None => tmpfs(&dir)?,
        };
        mounts.push(mount);
    }
    spec.set_mounts(Some(mounts));

    let values = Placeholders {
        arch: Some(job.arch.clone()),
        hostarch: Some(job.host_arch().clone()),
        project: job.project.clone(),
        package: job.package.clone(),
    };
    let argv = match &callback.action {
        Action::Command(_) => callback.argv(&values),
        // Not run as a container: obsbox does the work in the hook entry. The process is
        // what it would print, for whoever inspects the bundle.
        Action::Builtin(name) => vec!["/bin/true".to_string(), format!("obsbox-builtin-{name}")],
    };
    let mut environment = env(job, "/tmp");
    environment.extend([
        format!("OBSBOX_CALLBACK={}", callback.name),
        format!("OBSBOX_ARCH={}", job.arch),
        format!("OBSBOX_HOSTARCH={}", job.host_arch()),
        format!("OBSBOX_PROJECT={}", values.project),
        format!("OBSBOX_PACKAGE={}", values.package),
        // OBS's build counter, when the job has one (imaging names its images by it).
        format!(
            "OBSBOX_RELEASE={}",
            job.release.as_deref().unwrap_or_default()
        ),
        // The job's target repositories, one per line, as `rootfs create --repo` takes
        // them (`URL [SUITE COMPONENT…]`): what imaging builds its image from.
        format!(
            "OBSBOX_REPOS={}",
            job.repos
                .iter()
                .map(|r| r.url.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    ]);
    // The callback's own env replaces a default of the same name: with both in the list,
    // C's getenv would see the first and Python the last.
    environment.retain(|e| {
        let key = e.split('=').next().unwrap_or_default();
        !callback.env.contains_key(key)
    });
    environment.extend(callback.env.iter().map(|(k, v)| format!("{k}={v}")));
    let process = if callback.privileged {
        ProcessBuilder::default()
            .terminal(false)
            .user(UserBuilder::default().uid(0u32).gid(0u32).build()?)
            .args(argv)
            .env(environment)
            .cwd("/")
            .capabilities(crate::runtime::spec::held_capabilities()?)
            .build()?
    } else {
        match callback.user {
            User::Root => ProcessBuilder::default()
                .terminal(false)
                .user(UserBuilder::default().uid(0u32).gid(0u32).build()?)
                .args(argv)
                .env(environment)
                .cwd("/")
                .capabilities(crate::runtime::spec::root_capabilities()?)
                .no_new_privileges(true)
                .build()?,
            User::Build => {
                let mut process = build_user_process(job, argv)?;
                process.set_env(Some(environment));
                process.set_cwd(PathBuf::from("/"));
                process
            }
        }
    };
    spec.set_process(Some(process));
    let mut linux = spec.linux().clone().unwrap_or_default();
    if callback.network {
        if let Some(namespaces) = linux.namespaces().clone() {
            linux.set_namespaces(Some(
                namespaces
                    .into_iter()
                    .filter(|n| n.typ() != LinuxNamespaceType::Network)
                    .collect(),
            ));
        }
    }
    if callback.privileged {
        // Tools that mount (kiwi) need /proc and /sys as they are.
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    }
    // A cgroup of the job's, as its phases have: `obsbox gc` collects it with theirs when
    // the job's obsbox is gone (libcontainer's default would be at the hierarchies' roots).
    linux.set_cgroups_path(Some(
        paths
            .cgroups
            .of(job, &format!("callback-{}", callback.name)),
    ));
    spec.set_linux(Some(linux));
    if let (Some(emulation), RunsIn::Buildroot | RunsIn::BuildrootCopy) =
        (&setup.emulation, callback.runs_in)
    {
        if let Action::Command(_) = callback.action {
            emulation.adapt_spec(&mut spec)?;
        }
    }
    Ok(spec)
}

/// Where the scratch directory `dir` of `callback` is on the host: below the job's work
/// directory (`scratch/NAME/var/tmp` for `/var/tmp`), so it goes with the job.
pub fn scratch_dir(work: &Path, callback: &Callback, dir: &str) -> PathBuf {
    work.join("scratch")
        .join(sanitize(&callback.name))
        .join(dir.trim_start_matches('/'))
}

fn annotate(
    mut spec: Spec,
    job: &Job,
    paths: &Paths,
    setup: &CallbackSetup,
    callback: &Callback,
) -> Result<Spec> {
    let mut annotations = spec.annotations().clone().unwrap_or_default();
    let mut put = |k: &str, v: String| {
        annotations.insert(k.to_string(), v);
    };
    put(key::NAME, callback.name.clone());
    put(key::HOOK, callback.hook.as_str().to_string());
    put(key::GATING, callback.gating.to_string());
    put(
        key::ON_FAILURE,
        match callback.on_failure {
            OnFailure::Failed => "failed",
            OnFailure::Badhost => "badhost",
        }
        .to_string(),
    );
    put(key::TIMEOUT, callback.timeout.as_secs().to_string());
    put(key::LOG, setup.log.to_string_lossy().into_owned());
    put(key::LOG_START, setup.log_start.to_string());
    put(
        key::STATUS,
        setup
            .status_dir
            .join(format!("{}.json", sanitize(&callback.name)))
            .to_string_lossy()
            .into_owned(),
    );
    if callback.hook == HookPoint::PostBuild {
        put(
            key::BUILD_EXIT,
            setup.build_exit().to_string_lossy().into_owned(),
        );
    }
    if callback.runs_in == RunsIn::BuildrootCopy {
        put(
            key::COPY_FROM,
            setup.assembled_buildroot.to_string_lossy().into_owned(),
        );
    }
    // The hook entry registers qemu for callbacks that run buildroot code (and the
    // cross-build builtin does it for the build container).
    let runs_target_code = match &callback.action {
        Action::Command(_) => callback.runs_in != RunsIn::Toolbox,
        Action::Builtin(builtin) => builtin.runs_target_code(),
    };
    if let (Some(emulation), true) = (&setup.emulation, runs_target_code) {
        let mut extra = std::collections::HashMap::new();
        crate::callbacks::cross::annotate(emulation, &mut extra);
        for (k, v) in extra {
            put(&k, v);
        }
    }
    if let Action::Builtin(name) = &callback.action {
        put(key::BUILTIN, name.name().to_string());
        put(
            key::NEW_RESULTS,
            paths.results.to_string_lossy().into_owned(),
        );
        if let Some(old) = &setup.old_results {
            put(key::OLD_RESULTS, old.to_string_lossy().into_owned());
        }
        put(key::WORK, setup.work.to_string_lossy().into_owned());
        put(
            key::BUILD_CGROUP,
            paths
                .cgroups
                .of(job, "build")
                .to_string_lossy()
                .into_owned(),
        );
        put(
            key::BINFMT_PREFIX,
            crate::binfmt::global_prefix(std::process::id()),
        );
        if let Some(entry) = &setup.binfmt_in_use {
            put(key::BINFMT_IN_USE, entry.clone());
        }
    }
    spec.set_annotations(Some(annotations));
    Ok(spec)
}
