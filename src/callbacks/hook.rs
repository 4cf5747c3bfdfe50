//! The hook entry: `obsbox callback hook BUNDLE`, which the build phase's OCI hooks call.
//!
//! It runs in the runtime's namespaces (the host), reads the callback bundle's
//! annotations, runs its container with obsbox's runtime (or a builtin natively), copies
//! every output line into the job log with the callback's name as prefix, kills it at its
//! timeout, and writes its status. It exits non-zero only when a gating callback failed, so
//! a gating pre-build callback aborts the build container's creation (OCI semantics).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use oci_spec::runtime::Spec;

use super::annotations as key;
use super::config::{HookPoint, OnFailure};
use super::{Outcome, Status};
use crate::runtime::oneshot::{self, RunOptions};

/// The hook is a child of the job's obsbox process: when that dies (SIGKILL, a crash), the
/// hook is told to stop too (SIGTERM: its container is stopped and deleted) instead of
/// running on for up to its timeout. A job already gone means stop now.
fn follow_the_job() {
    let parent = nix::unistd::getppid();
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
    if nix::unistd::getppid() != parent {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM);
    }
}

/// What the annotations of a callback bundle say.
struct Info {
    name: String,
    hook: HookPoint,
    gating: bool,
    on_failure: OnFailure,
    timeout: Duration,
    builtin: Option<String>,
    log: Option<PathBuf>,
    /// When the job started (epoch seconds), for the log's stamps.
    log_start: u64,
    status: Option<PathBuf>,
    annotations: HashMap<String, String>,
}

impl Info {
    fn read(spec: &Spec, bundle: &Path) -> Result<Info> {
        let annotations = spec.annotations().clone().unwrap_or_default();
        let get = |k: &str| annotations.get(k).cloned();
        let name = get(key::NAME).with_context(|| {
            format!(
                "{}: not a callback bundle (no {} annotation)",
                bundle.display(),
                key::NAME
            )
        })?;
        // The enum annotations hold the names the TOML files use (`post-build`, `badhost`).
        let named = |k: &str| serde_json::Value::String(get(k).unwrap_or_default());
        let hook: HookPoint = serde_json::from_value(named(key::HOOK))
            .with_context(|| format!("{}: bad {} annotation", bundle.display(), key::HOOK))?;
        let on_failure: OnFailure =
            serde_json::from_value(named(key::ON_FAILURE)).unwrap_or(OnFailure::Failed);
        let timeout = get(key::TIMEOUT)
            .and_then(|t| t.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(super::config::DEFAULT_TIMEOUT);
        Ok(Info {
            name,
            hook,
            gating: get(key::GATING).as_deref() == Some("true"),
            on_failure,
            timeout,
            builtin: get(key::BUILTIN),
            log: get(key::LOG).map(PathBuf::from),
            // A bundle run on its own counts from now.
            log_start: get(key::LOG_START)
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or_else(|| crate::joblog::epoch_secs(std::time::SystemTime::now())),
            status: get(key::STATUS).map(PathBuf::from),
            annotations,
        })
    }

    fn path(&self, k: &str) -> Option<PathBuf> {
        self.annotations.get(k).map(PathBuf::from)
    }
}

/// The job log, shared with the obsbox that runs the job: lines are appended whole,
/// stamped as the job's own.
struct JobLog {
    prefix: String,
    file: Option<File>,
    start: u64,
}

impl JobLog {
    fn open(name: &str, path: Option<&Path>, start: u64) -> JobLog {
        let file = path.and_then(|p| OpenOptions::new().append(true).open(p).ok());
        JobLog {
            prefix: format!("[callback {name}]"),
            file,
            start,
        }
    }

    fn line(&mut self, text: &str) {
        let line = format!("{} {text}", self.prefix);
        // Our stdout is discarded by the hook runner; stderr reaches the terminal.
        let _ = writeln!(std::io::stderr(), "{line}");
        if let Some(file) = &mut self.file {
            let _ = file.write_all(crate::joblog::stamped(self.start, &line).as_bytes());
        }
    }
}

/// Runs the callback of `bundle`; returns the hook's exit code.
pub fn run(bundle: &Path, state_root: &Path) -> Result<i32> {
    follow_the_job();
    let config = bundle.join("config.json");
    let spec = Spec::load(&config).with_context(|| format!("{}: cannot load", config.display()))?;
    let info = Info::read(&spec, bundle)?;
    let mut log = JobLog::open(&info.name, info.log.as_deref(), info.log_start);
    let started = Instant::now();
    let (outcome, code, message) = match skip_reason(&info) {
        Some(reason) => (Outcome::Skipped, None, reason),
        None => match info.builtin.as_deref() {
            Some(builtin) => run_builtin(builtin, &info, &mut log),
            None => run_container(bundle, &spec, &info, state_root, &mut log),
        },
    };
    let status = Status {
        name: info.name.clone(),
        hook: info.hook,
        outcome,
        code,
        gating: info.gating,
        on_failure: info.on_failure,
        seconds: started.elapsed().as_secs_f64(),
        message: message.clone(),
    };
    let failed = outcome.is_failure();
    let verdict = match (failed, info.gating) {
        (true, true) => " (gating: the job fails)",
        (true, false) => " (advisory: ignored)",
        _ => "",
    };
    log.line(&format!("{message}{verdict} [{:.1} s]", status.seconds));
    if let Some(path) = &info.status {
        status.save(path)?;
    }
    Ok(if failed && info.gating { 1 } else { 0 })
}

/// Post-build callbacks run only after a successful build.
fn skip_reason(info: &Info) -> Option<String> {
    if info.hook != HookPoint::PostBuild {
        return None;
    }
    let file = info.path(key::BUILD_EXIT)?;
    match fs::read_to_string(&file) {
        Ok(text) if text.trim() == "0" => None,
        Ok(text) => Some(format!(
            "skipped: the build failed (exit code {})",
            text.trim()
        )),
        Err(_) => Some("skipped: the build did not finish".to_string()),
    }
}

fn run_container(
    bundle: &Path,
    spec: &Spec,
    info: &Info,
    state_root: &Path,
    log: &mut JobLog,
) -> (Outcome, Option<i32>, String) {
    // A buildroot-copy callback gets a fresh copy of the assembled buildroot: an overlay of
    // the cached root with an upper directory of its own, gone when it ends.
    let copy = match (info.path(key::COPY_FROM), spec.root()) {
        (Some(from), Some(root)) => {
            let to = root.path().clone();
            let mounted = (|| {
                let dir = to.parent().context("the callback's root has no parent")?;
                let name = to
                    .file_name()
                    .context("the callback's root has no name")?
                    .to_string_lossy()
                    .into_owned();
                for leftover in [
                    to.clone(),
                    dir.join(format!("{name}.upper")),
                    dir.join(format!("{name}.work")),
                ] {
                    crate::rootfs::store::remove_tree(&leftover)?;
                }
                crate::rootfs::overlay::mount_root(&[from.as_path()], dir, &name)
                    .map(|overlay| (overlay, dir.to_path_buf(), name))
            })();
            match mounted {
                Ok(mounted) => Some(mounted),
                Err(err) => {
                    return (
                        Outcome::NotStarted,
                        None,
                        format!("cannot copy the buildroot: {err:#}"),
                    );
                }
            }
        }
        _ => None,
    };
    let id: String = format!(
        "obsbox-cb-{}-{}",
        crate::bundle::sanitize(&info.name),
        std::process::id()
    )
    .chars()
    .take(200)
    .collect();
    // A callback in a foreign buildroot runs its target code through qemu, registered
    // the way the build container's is.
    let emulation = match super::cross::from_annotations(&info.annotations) {
        Ok(emulation) => emulation,
        Err(err) => {
            return (
                Outcome::NotStarted,
                None,
                format!("bad emulation annotations: {err:#}"),
            );
        }
    };
    let options = RunOptions {
        timeout: Some(info.timeout),
        exit_file: None,
        after_create: emulation
            .as_ref()
            .map(crate::binfmt::Emulation::after_create),
        ..Default::default()
    };
    let result = oneshot::run_with(bundle, &id, state_root, &options, |line| log.line(line));
    if let Some((overlay, dir, name)) = copy {
        let target = overlay.target().to_path_buf();
        let removed = overlay.unmount().and_then(|()| {
            for path in [
                target,
                dir.join(format!("{name}.upper")),
                dir.join(format!("{name}.work")),
            ] {
                crate::rootfs::store::remove_tree(&path)?;
            }
            Ok(())
        });
        if let Err(err) = removed {
            tracing::warn!("cannot remove the buildroot copy: {err:#}");
        }
    }
    match result {
        Err(err) => (
            Outcome::NotStarted,
            None,
            format!("could not start: {err:#}"),
        ),
        Ok(run) if run.timed_out => (
            Outcome::TimedOut,
            Some(run.code),
            format!("killed at its timeout of {} s", info.timeout.as_secs()),
        ),
        Ok(run) if run.code == 0 => (Outcome::Ok, Some(0), "ok".to_string()),
        Ok(run) => (
            Outcome::Failed,
            Some(run.code),
            format!("failed with exit code {}", run.code),
        ),
    }
}

fn run_builtin(name: &str, info: &Info, log: &mut JobLog) -> (Outcome, Option<i32>, String) {
    use super::config::Builtin;
    let result = match Builtin::from_name(name) {
        Some(Builtin::BuildCompare) => build_compare(info, log),
        Some(Builtin::VerifyClean) => verify_clean(info, log),
        Some(Builtin::CrossBuild) => super::cross::run_hook(&info.annotations),
        None => Err(anyhow::anyhow!("unknown builtin {name:?}")),
    };
    match result {
        Ok(done) => done,
        Err(err) => (Outcome::NotStarted, None, format!("error: {err:#}")),
    }
}

/// build-compare: the new results against the previous ones, ignoring build noise.
fn build_compare(info: &Info, log: &mut JobLog) -> Result<(Outcome, Option<i32>, String)> {
    let new = info
        .path(key::NEW_RESULTS)
        .context("no new results given")?;
    let Some(old) = info.path(key::OLD_RESULTS).filter(|p| p.is_dir()) else {
        return Ok((
            Outcome::Skipped,
            None,
            "skipped: no previous results to compare with".to_string(),
        ));
    };
    let verdict = super::compare::compare_results(&old, &new)?;
    if verdict.same {
        return Ok((
            Outcome::Unchanged,
            None,
            "the results are the same as the previous ones: unchanged".to_string(),
        ));
    }
    const SHOWN: usize = 20;
    for difference in verdict.differences.iter().take(SHOWN) {
        log.line(difference);
    }
    if verdict.differences.len() > SHOWN {
        log.line(&format!(
            "… and {} more differences",
            verdict.differences.len() - SHOWN
        ));
    }
    Ok((
        Outcome::Ok,
        None,
        format!(
            "the results differ from the previous ones ({} differences)",
            verdict.differences.len()
        ),
    ))
}

/// verify-clean: nothing the build made is left on the worker — no mount under the job's
/// work directory (but the job's own roots, overlays that go when the job ends), no process
/// rooted there, no build cgroup, no binfmt_misc entry of the job. What is found is
/// reported, then removed.
fn verify_clean(info: &Info, log: &mut JobLog) -> Result<(Outcome, Option<i32>, String)> {
    let mut found = Vec::new();
    if let Some(work) = info.path(key::WORK) {
        let canonical = fs::canonicalize(&work).unwrap_or_else(|_| work.clone());
        let own_roots = [canonical.join("buildroot"), canonical.join("toolbox")];
        // The bundles' roots: binds of those two.
        let bundle_root = |mount: &Path| {
            mount.file_name() == Some(std::ffi::OsStr::new(crate::bundle::ROOTFS))
                && mount.parent().and_then(Path::parent) == Some(&canonical.join("bundles"))
        };
        for mount in mounts_under(&work)? {
            if own_roots.contains(&mount) || bundle_root(&mount) {
                continue;
            }
            found.push(format!("mount {}", mount.display()));
            let _ = nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH);
        }
        for (pid, root) in processes_rooted_under(&work) {
            found.push(format!("process {pid} (root {})", root.display()));
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    if let Some(cgroup) = info.annotations.get(key::BUILD_CGROUP) {
        let rel = cgroup.trim_start_matches('/');
        if let Ok(controllers) = fs::read_dir("/sys/fs/cgroup") {
            for controller in controllers.flatten() {
                let dir = controller.path().join(rel);
                if !dir.is_dir() {
                    continue;
                }
                let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    found.push(format!("process {pid} in {}", dir.display()));
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                found.push(format!("cgroup {}", dir.display()));
                // The killed processes need a moment to leave the cgroup.
                for _ in 0..50 {
                    if fs::remove_dir(&dir).is_ok() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
    if let Some(prefix) = info.annotations.get(key::BINFMT_PREFIX) {
        let in_use = info.annotations.get(key::BINFMT_IN_USE);
        if let Ok(entries) = fs::read_dir(crate::binfmt::GLOBAL_DIR) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(prefix.as_str()) && in_use != Some(&name) {
                    found.push(format!("binfmt_misc entry {name}"));
                    let _ = fs::write(entry.path(), "-1");
                }
            }
        }
    }
    if found.is_empty() {
        return Ok((
            Outcome::Ok,
            None,
            "clean: no mount, process, cgroup or binfmt entry of the build is left".to_string(),
        ));
    }
    for item in &found {
        log.line(&format!("left behind: {item} (removed)"));
    }
    Ok((
        Outcome::Failed,
        None,
        format!("{} things were left behind by the build", found.len()),
    ))
}

/// Mount points at or below `dir` in our mount namespace (the host's).
fn mounts_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let text = fs::read_to_string("/proc/self/mountinfo").context("cannot read mountinfo")?;
    let mut found: Vec<PathBuf> = crate::mountinfo::parse(&text)
        .into_iter()
        .map(|mount| mount.point)
        .filter(|point| point.starts_with(&dir))
        .collect();
    // Innermost first, so each can be detached.
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    Ok(found)
}

/// Processes whose root directory is at or below `dir`.
fn processes_rooted_under(dir: &Path) -> Vec<(i32, PathBuf)> {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let me = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter_map(|pid| {
            let root = fs::read_link(format!("/proc/{pid}/root")).ok()?;
            root.starts_with(&dir).then_some((pid, root))
        })
        .collect()
}
