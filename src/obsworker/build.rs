//! `build` for bs_worker: the job it prepared in its build root, run with obsbox's
//! lifecycle; results, log and exit code where bs_worker reads them.
//!
//! What bs_worker leaves in ROOT before it calls `build`: `.build-srcdir/` (the sources,
//! the recipe is the last argument), `.pkgs/` (the packages of the buildinfo, one file per
//! package), `.build.rpmlist` (`NAME PATH` and the flag lines), `.build.config` (the
//! project config), `.build.meta`, and `.build.oldpackages/` (the previous results).
//!
//! What it reads afterwards: the exit code (0 succeeded, 2 unchanged, 3 bad host, anything
//! else failed), the log at `--logfile` (a build with an empty log failed), and
//! `ROOT/.build.packages/{RPMS/ARCH,SRPMS,DEBS,KIWI,OTHER}` (it dies without `OTHER/`; it
//! writes `OTHER/_statistics` and `OTHER/_buildenv` itself).
//!
//! A running build is registered under the state directory by its root
//! (`STATE/obs-build/<hash of ROOT>`: the pid and start time of the obsbox process), so
//! that `build --root ROOT --kill` finds it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use nix::sys::signal::{self, SigSet, Signal};
use nix::unistd::Pid;
use sha2::{Digest, Sha256};

use super::Settings;
use super::args::{Action, BuildCall};
use super::prjconf;
use crate::job::{Bdep, Job, RepoRef, rpmlist};
use crate::lifecycle::{self, Options, Outcome, results::Log};
use crate::model::Arch;

/// What bs_worker makes of how a job ended: its codes 0, 1, 2 and 3 as they are; anything
/// else (obsbox's 4 for a job that could not be set up, 128 + N after a signal) is a failed
/// build.
pub fn obs_outcome(outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Succeeded | Outcome::Failed | Outcome::Unchanged | Outcome::BadHost => outcome,
        Outcome::SetupFailed | Outcome::Interrupted(_) => Outcome::Failed,
    }
}

/// How long `--kill` waits for the build to stop by itself (it stops its containers and
/// cleans up on SIGTERM) before it kills the build's processes.
const KILL_GRACE: Duration = Duration::from_secs(20);

/// Runs one call of `build` and returns the exit code for bs_worker.
pub fn run(call: &BuildCall, settings: &Settings) -> i32 {
    let result = match &call.action {
        Action::Build(recipe) => return build(call, recipe, settings).exit_code(),
        Action::Kill => kill(&call.root, settings),
        Action::Wipe => wipe(&call.root, settings),
        Action::Help => {
            print!("{}", super::args::USAGE);
            Ok(())
        }
    };
    match result {
        Ok(()) => Outcome::Succeeded,
        Err(err) => {
            eprintln!("obsbox: error: {err:#}");
            tracing::error!(target: crate::logging::ERROR_TARGET, "{err:#}");
            Outcome::Failed
        }
    }
    .exit_code()
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{}: not a usable path", path.display()))
}

/// The job bs_worker prepared in `call`'s root, run; how it ended, as bs_worker reads it.
fn build(call: &BuildCall, recipe: &Path, settings: &Settings) -> Outcome {
    // SIGTERM (from --kill) and friends are taken by the lifecycle when it suits; blocked
    // from the start, one that comes early stops the job at its first step.
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    let _ = set.thread_block();

    let root = match absolute(&call.root) {
        Ok(root) => root,
        Err(err) => return refuse(&err),
    };
    let logfile = match &call.logfile {
        Some(path) => path.clone(),
        None => root.join(".build.log"),
    };
    // The log's stamps count from here, as obs-build's from its start.
    let started = std::time::SystemTime::now();
    // A build root obsbox cannot write to is this host's problem, not the package's.
    let mut log = match Log::create(&logfile, started) {
        Ok(log) => log,
        Err(err) => return refuse(&err),
    };
    log.note(&format!(
        "obsbox {} runs this job for bs_worker (obs-build's build, --root {})",
        env!("CARGO_PKG_VERSION"),
        root.display()
    ));
    if !call.ignored.is_empty() {
        log.note(&format!(
            "taken without effect here: {} (obsbox builds in a fresh buildroot as the build \
             user; post-build tools are the project's callbacks)",
            call.ignored.join(" ")
        ));
    }
    let _registration = match Registration::claim(&settings.state_root, &root) {
        Ok(r) => r,
        Err(err) => {
            log.note(&format!("{err:#}"));
            return refuse(&err);
        }
    };
    if call.clean {
        clean_root(&root, &mut log);
    }
    let results = root.join(".build.packages");
    let job = match read_job(call, recipe, &root, settings, &mut log) {
        Ok(job) => job,
        Err(err) => {
            log.note(&format!("cannot read the job: {err:#}"));
            eprintln!("obsbox: error: {err:#}");
            let _ = fresh_results(&results);
            log.note("exit code 1 for bs_worker");
            return Outcome::Failed;
        }
    };
    if let Err(err) = fresh_results(&results) {
        log.note(&format!("{err:#}"));
        return refuse(&err);
    }
    let old_results = call.oldpackages.clone().filter(|d| d.is_dir());
    let options = Options {
        results: results.clone(),
        cache: settings.cache.clone(),
        state_root: settings.state_root.clone(),
        config: settings.config.clone(),
        keep_work: false,
        old_results,
        log: Some(logfile.clone()),
        log_start: Some(started),
        cgroups: crate::bundle::CgroupPlace::owned(),
        roots: crate::lifecycle::Roots::Mounted,
    };
    drop(log);
    let outcome = match lifecycle::build(&job, &options) {
        Ok(outcome) => outcome,
        Err(err) => {
            eprintln!("obsbox: error: {err:#}");
            if let Ok(mut log) = Log::append(&logfile, started) {
                log.note(&format!("{err:#}"));
            }
            Outcome::Failed
        }
    };
    let mut log = Log::append(&logfile, started).ok();
    if let Err(err) = place_results(&results) {
        eprintln!("obsbox: error: {err:#}");
        if let Some(log) = log.as_mut() {
            log.note(&format!("{err:#}"));
        }
        return Outcome::Failed;
    }
    let obs = obs_outcome(outcome);
    if let Some(log) = log.as_mut() {
        log.note(&format!("exit code {} for bs_worker", obs.exit_code()));
    }
    obs
}

/// `--clean`: what an earlier build left in ROOT goes, as obs-build's chroot set-up removes
/// it: every entry but the hidden ones bs_worker wrote for this build (`.build-srcdir`,
/// `.pkgs`, `.build.rpmlist`, `.build.config`, the log, the old packages), and obs-build's
/// own hidden state. Whatever is still mounted below ROOT (an old chroot's /proc, /dev/pts)
/// is unmounted first, so the removal cannot reach the host through it.
fn clean_root(root: &Path, log: &mut Log) {
    const OBS_BUILD_STATE: &[&str] = &[".build", ".root", ".init_b_cache", ".preinstall_image"];
    // Strictly below ROOT: ROOT itself may be the worker's own mount (bs_worker --tmpfs).
    let below = || {
        let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<PathBuf> = crate::mountinfo::parse(&text)
            .into_iter()
            .map(|m| m.point)
            .filter(|p| p.starts_with(root) && p != root)
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        points.dedup();
        points
    };
    let mut unmounted = Vec::new();
    for point in below() {
        if nix::mount::umount2(&point, nix::mount::MntFlags::MNT_DETACH).is_ok() {
            unmounted.push(point);
        }
    }
    if let Some(point) = below().first() {
        log.note(&format!(
            "--clean: {} is still mounted; nothing removed",
            point.display()
        ));
        return;
    }
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let old = !name.starts_with('.')
            || OBS_BUILD_STATE.contains(&name.as_ref())
            || name.starts_with(".preinstallimage")
            || name.starts_with(".build.kernel.")
            || name.starts_with(".build.initrd.");
        if !old {
            continue;
        }
        match crate::rootfs::store::remove_tree(&entry.path()) {
            Ok(()) => removed += 1,
            Err(err) => log.note(&format!("--clean: {err:#}")),
        }
    }
    if removed > 0 || !unmounted.is_empty() {
        log.note(&format!(
            "--clean: removed {removed} entries an earlier build left in {}{}",
            root.display(),
            if unmounted.is_empty() {
                String::new()
            } else {
                format!(" ({} mounts unmounted)", unmounted.len())
            }
        ));
    }
}

/// A call obsbox cannot serve on this host (its build root or state cannot be written, it
/// is busy): bs_worker's "bad host", so that OBS gives the job to another worker.
fn refuse(err: &anyhow::Error) -> Outcome {
    eprintln!("obsbox: error: {err:#}");
    tracing::error!(target: crate::logging::ERROR_TARGET, "{err:#}");
    Outcome::BadHost
}

/// `ROOT/.build.packages` emptied, with the directories bs_worker looks into.
fn fresh_results(results: &Path) -> Result<()> {
    if fs::symlink_metadata(results).is_ok() {
        crate::rootfs::store::remove_tree(results)
            .with_context(|| format!("cannot remove {}", results.display()))?;
    }
    lifecycle::results::create_layout(results)
}

/// obsbox's results layout in the shape bs_worker uploads: everything at the top of
/// `.build.packages` would be sent as a result file too, so obsbox's `_statistics` goes to
/// `OTHER/` (where obs-build's VM builds leave theirs; bs_worker writes its own there).
fn place_results(results: &Path) -> Result<()> {
    fs::create_dir_all(results.join("OTHER"))
        .with_context(|| format!("cannot create {}/OTHER", results.display()))?;
    let stats = results.join("_statistics");
    if stats.exists() {
        fs::rename(&stats, results.join("OTHER/_statistics"))
            .with_context(|| format!("cannot move {}", stats.display()))?;
    }
    Ok(())
}

/// The names of the job: from the disturl (`obs://OBSNAME/PROJECT/REPOSITORY/SRCMD5-PACKAGE`),
/// else from the reason bs_worker writes, else placeholders.
fn job_names(call: &BuildCall, recipe_file: &str) -> (String, String, String) {
    if let Some(rest) = call
        .disturl
        .as_deref()
        .and_then(|u| u.strip_prefix("obs://"))
    {
        let parts: Vec<&str> = rest.splitn(4, '/').collect();
        if let [_, project, repository, last] = parts.as_slice() {
            if let Some((_, package)) = last.split_once('-') {
                if !project.is_empty() && !repository.is_empty() && !package.is_empty() {
                    return (
                        project.to_string(),
                        repository.to_string(),
                        package.to_string(),
                    );
                }
            }
        }
    }
    if let Some(names) = call.reason.as_deref().and_then(names_from_reason) {
        return names;
    }
    let package = call.obspackage.clone().unwrap_or_else(|| {
        recipe_file
            .rsplit_once('.')
            .map_or(recipe_file, |(stem, _)| stem)
            .to_string()
    });
    ("local".into(), "local".into(), package)
}

/// `Building PACKAGE for project 'P' repository 'R' arch 'A' …`
fn names_from_reason(reason: &str) -> Option<(String, String, String)> {
    let rest = reason.strip_prefix("Building ")?;
    let (package, rest) = rest.split_once(" for project '")?;
    let (project, rest) = rest.split_once("' repository '")?;
    let (repository, _) = rest.split_once("' arch '")?;
    Some((project.into(), repository.into(), package.into()))
}

/// The job bs_worker prepared in `root`.
fn read_job(
    call: &BuildCall,
    recipe: &Path,
    root: &Path,
    settings: &Settings,
    log: &mut Log,
) -> Result<Job> {
    let recipe = absolute(recipe)?;
    let (Some(sources), Some(file)) = (recipe.parent(), recipe.file_name()) else {
        bail!("{}: not a recipe file", recipe.display());
    };
    let file = file
        .to_str()
        .with_context(|| format!("{}: the name is not UTF-8", recipe.display()))?
        .to_string();
    if !recipe.exists() {
        bail!("{}: no such recipe", recipe.display());
    }
    let rpmlist_path = match &call.rpmlist {
        Some(path) => absolute(path)?,
        None => root.join(".build.rpmlist"),
    };
    let mut job = rpmlist::load(&rpmlist_path)?;
    let (project, repository, package) = job_names(call, &file);
    let arch = call.arch.clone().unwrap_or_else(Arch::native);
    arch.deb().with_context(|| format!("--arch {arch}"))?;
    if let Some(host) = &call.hostarch {
        host.deb().with_context(|| format!("--hostarch {host}"))?;
    }
    job.id = format!("{project}/{repository}/{package}/{arch}");
    job.project = project;
    job.repository = repository;
    job.package = package;
    crate::job::names::check_job(&job)?;
    job.arch = arch;
    // Without --hostarch the buildroot runs on this machine: a bs_worker registered for
    // an arch this machine does not run (`bs_worker --arch aarch64` on x86_64) hands over
    // jobs obsbox builds under emulation.
    job.hostarch = match &call.hostarch {
        Some(host) => Some(host.clone()),
        None if crate::binfmt::needs_emulation(&Arch::native(), &job.arch)? => Some(Arch::native()),
        None => None,
    };
    job.recipe = file;
    job.sources = sources.to_path_buf();
    job.release = call.release.clone().filter(|r| !r.is_empty());
    job.jobs = call.jobs.unwrap_or(0);
    job.memory = call.memory_mb.unwrap_or(0) * (1 << 20);
    job.rpm_target = call.target.clone().unwrap_or_default();

    // The repositories of the buildroot: the directories holding the job's packages
    // (bs_worker's `.pkgs/`), as local repositories.
    let mut dirs: Vec<PathBuf> = Vec::new();
    for bdep in &job.bdeps {
        if let Some(dir) = bdep.path.as_deref().and_then(Path::parent) {
            if !dirs.iter().any(|d| d == dir) {
                dirs.push(dir.to_path_buf());
            }
        }
    }
    if dirs.is_empty() {
        dirs.push(root.join(".pkgs"));
    }

    let mut macros = String::new();
    if let Some(dist) = &call.dist {
        if dist.is_file() {
            let text = fs::read_to_string(dist)
                .with_context(|| format!("{}: cannot read", dist.display()))?;
            let config = prjconf::parse(&text, &job.arch)
                .with_context(|| format!("{}: project config", dist.display()))?;
            apply_project_config(&mut job, &config, &dirs, log);
            macros.push_str(&config.macros);
            if let Some(words) = config.substitute.get("dsc:build_cmd") {
                job.dsc_build_cmd = words.join(" ");
            }
        } else {
            log.note(&format!(
                "--dist {}: not a file (a distribution name): no project config",
                dist.display()
            ));
        }
    }
    for define in &call.defines {
        macros.push_str(define);
        macros.push('\n');
    }
    job.rpm_macros = macros;

    job.repos = dirs
        .iter()
        .map(|d| {
            let url = d.to_str().filter(|s| !s.contains(char::is_whitespace));
            url.map(|url| RepoRef {
                url: url.to_string(),
                ..RepoRef::default()
            })
            .with_context(|| {
                format!(
                    "{}: package directories with white space or non-UTF-8 names are not supported",
                    d.display()
                )
            })
        })
        .collect::<Result<_>>()?;
    let host_repos = lifecycle::configured_toolbox_repos(settings.config.as_deref())?;
    if host_repos.is_empty() {
        log.note(&match &settings.config {
            Some(dir) => format!(
                "no toolbox repositories (`repos` in {}/toolbox.toml): the toolbox comes from \
                 the job's packages",
                dir.display()
            ),
            None => "no runtime configuration: the toolbox comes from the job's packages".into(),
        });
    }
    job.toolbox_repos = host_repos
        .into_iter()
        .map(|url| RepoRef {
            url,
            ..RepoRef::default()
        })
        .collect();
    Ok(job)
}

/// The project config's package lists: flags for a list without any (bs_worker does the
/// same for a job with a build environment), and its Preinstall/Required/Support packages
/// the list lacks, when their files are there.
fn apply_project_config(
    job: &mut Job,
    config: &prjconf::ProjectConfig,
    dirs: &[PathBuf],
    log: &mut Log,
) {
    if !job.bdeps.iter().any(|b| b.preinstall) {
        for b in job.bdeps.iter_mut().filter(|b| !b.sysroot) {
            b.preinstall |= config.preinstall.contains(&b.name);
            b.vminstall |= config.vminstall.contains(&b.name);
            b.runscripts |= config.runscripts.contains(&b.name);
        }
    }
    let wanted = config
        .preinstall
        .iter()
        .chain(&config.required)
        .chain(&config.support);
    let mut skipped = Vec::new();
    for name in wanted {
        if job.bdeps.iter().any(|b| &b.name == name && !b.sysroot) {
            continue;
        }
        let file = dirs.iter().find_map(|d| {
            ["deb", "rpm"]
                .iter()
                .map(|ext| d.join(format!("{name}.{ext}")))
                .find(|p| p.is_file())
        });
        match file {
            Some(path) => job.bdeps.push(Bdep {
                name: name.clone(),
                preinstall: config.preinstall.contains(name),
                path: Some(path),
                ..Bdep::default()
            }),
            None => skipped.push(name.as_str()),
        }
    }
    if !skipped.is_empty() {
        log.note(&format!(
            "project config packages without a file in the job (OBS's scheduler left them \
             out): {}",
            skipped.join(" ")
        ));
    }
}

/// A build registered under the state directory by its root, for `--kill`.
struct Registration {
    path: PathBuf,
}

/// The build that registered a root: its process (see [`crate::proc::Identity`]).
type Owner = crate::proc::Identity;

fn registry(state_root: &Path) -> PathBuf {
    state_root.join("obs-build")
}

fn registration_path(state_root: &Path, root: &Path) -> PathBuf {
    let hash = Sha256::digest(root.as_os_str().as_encoded_bytes());
    registry(state_root).join(&hex::encode(hash)[..32])
}

impl Registration {
    fn claim(state_root: &Path, root: &Path) -> Result<Registration> {
        let path = registration_path(state_root, root);
        if let Some(owner) = read_owner(&path) {
            if owner.alive() && owner.pid != std::process::id() as i32 {
                bail!(
                    "a build is already running in {} (obsbox pid {})",
                    root.display(),
                    owner.pid
                );
            }
        }
        let dir = registry(state_root);
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let me = Owner::myself().context("cannot read /proc/self/stat")?;
        let tmp = path.with_extension(format!("{}.tmp", me.pid));
        fs::write(
            &tmp,
            format!("{} {}\n{}\n", me.pid, me.start, root.display()),
        )
        .with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Registration { path })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
        if let Some(dir) = self.path.parent() {
            // Only when empty: another worker slot may be building.
            let _ = fs::remove_dir(dir);
        }
    }
}

fn read_owner(path: &Path) -> Option<Owner> {
    let text = fs::read_to_string(path).ok()?;
    let mut words = text.split_whitespace();
    Some(Owner {
        pid: words.next()?.parse().ok()?,
        start: words.next()?.parse().ok()?,
    })
}

fn wait_gone(owner: Owner, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while owner.alive() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// `build --root ROOT --kill`: stops the build running in ROOT. The build gets SIGTERM and
/// stops its container, runs its cleanup and exits; one that does not within
/// [`KILL_GRACE`] is killed with everything it started. Then what dead obsbox runs left
/// (containers, work directories, cgroups) is collected, so nothing of the job runs on.
pub fn kill(root: &Path, settings: &Settings) -> Result<()> {
    let root = absolute(root)?;
    let path = registration_path(&settings.state_root, &root);
    if let Some(owner) = read_owner(&path) {
        if owner.alive() {
            let pid = Pid::from_raw(owner.pid);
            tracing::info!(pid = owner.pid, root = %root.display(), "stopping the build");
            let _ = signal::kill(pid, Signal::SIGTERM);
            if !wait_gone(owner, KILL_GRACE) {
                tracing::warn!(pid = owner.pid, "the build did not stop: killing it");
                let _ = signal::kill(pid, Signal::SIGSTOP);
                for child in crate::proc::descendants(owner.pid) {
                    let _ = signal::kill(Pid::from_raw(child), Signal::SIGKILL);
                }
                let _ = signal::kill(pid, Signal::SIGKILL);
                if !wait_gone(owner, Duration::from_secs(10)) {
                    bail!(
                        "the build in {} (pid {}) does not die",
                        root.display(),
                        owner.pid
                    );
                }
            }
        }
        let _ = fs::remove_file(&path);
        let _ = fs::remove_dir(registry(&settings.state_root));
    }
    let collected = lifecycle::gc::gc(&settings.state_root, &settings.cache)?;
    for id in &collected.containers {
        tracing::info!("removed container {id}");
    }
    Ok(())
}

/// `build --root ROOT --wipe`: as obs-build, the build environment goes: the build is
/// stopped (as by `--kill`) and ROOT is removed.
pub fn wipe(root: &Path, settings: &Settings) -> Result<()> {
    kill(root, settings)?;
    let root = absolute(root)?;
    if fs::symlink_metadata(&root).is_err() {
        return Ok(());
    }
    let real = fs::canonicalize(&root).with_context(|| format!("{}", root.display()))?;
    let depth = real
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .count();
    let keep = [&settings.cache, &settings.state_root];
    if depth < 2
        || keep
            .iter()
            .any(|k| fs::canonicalize(k).is_ok_and(|k| k.starts_with(&real)))
    {
        bail!(
            "--wipe: refusing to remove {} (a system directory or one holding obsbox's cache or state)",
            real.display()
        );
    }
    crate::rootfs::store::remove_tree(&real)
        .with_context(|| format!("cannot remove {}", real.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(disturl: Option<&str>, reason: Option<&str>) -> BuildCall {
        let mut call = super::super::args::parse(&[
            "--root".into(),
            "/r".into(),
            "/r/.build-srcdir/hello.spec".into(),
        ])
        .unwrap();
        call.disturl = disturl.map(str::to_string);
        call.reason = reason.map(str::to_string);
        call
    }

    #[test]
    fn names_from_disturl_then_reason() {
        let c = call(
            Some("obs://obs.example/home:a:b/Debian_12/0123abcd-hello:docs"),
            Some("Building x for project 'p' repository 'r' arch 'x86_64' srcmd5 's'"),
        );
        assert_eq!(
            job_names(&c, "hello.spec"),
            ("home:a:b".into(), "Debian_12".into(), "hello:docs".into())
        );
        let c = call(
            None,
            Some(
                "Building hello for project 'home:a' repository 'openSUSE_Tumbleweed' arch 'x86_64' srcmd5 's'",
            ),
        );
        assert_eq!(
            job_names(&c, "hello.spec"),
            (
                "home:a".into(),
                "openSUSE_Tumbleweed".into(),
                "hello".into()
            )
        );
        assert_eq!(
            job_names(&call(None, None), "hello.spec"),
            ("local".into(), "local".into(), "hello".into())
        );
    }

    #[test]
    fn exit_codes_for_bs_worker() {
        let obs_code = |outcome| obs_outcome(outcome).exit_code();
        assert_eq!(obs_code(Outcome::Succeeded), 0);
        assert_eq!(obs_code(Outcome::Failed), 1);
        assert_eq!(obs_code(Outcome::Unchanged), 2);
        assert_eq!(obs_code(Outcome::BadHost), 3);
        assert_eq!(obs_code(Outcome::SetupFailed), 1);
        assert_eq!(obs_code(Outcome::Interrupted(Signal::SIGTERM)), 1);
    }

    #[test]
    fn registration_is_per_root_and_released() {
        let state = tempfile::tempdir().unwrap();
        let reg = Registration::claim(state.path(), Path::new("/w/root_1")).unwrap();
        let path = registration_path(state.path(), Path::new("/w/root_1"));
        assert_eq!(
            read_owner(&path).map(|o| o.pid),
            Some(std::process::id() as i32)
        );
        assert_ne!(
            path,
            registration_path(state.path(), Path::new("/w/root_2"))
        );
        drop(reg);
        assert!(!path.exists());
        assert_eq!(fs::read_dir(state.path()).unwrap().count(), 0);
    }
}
