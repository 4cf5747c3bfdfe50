//! Callbacks: the post-build tools and set-up steps of a build job, configured per project
//! and run from the host-arch toolbox instead of being hard-coded into the build.
//!
//! A callback becomes an OCI bundle of its own (`bundles/callback-NAME`), and the build
//! phase's bundle names obsbox as an OCI hook (`createRuntime` for pre-build, `poststop`
//! for post-build and cleanup) with `callback hook BUNDLE` as its arguments. That hook entry
//! ([`hook`]) runs the callback's container, or does the work itself for a builtin, and
//! leaves a status file the lifecycle reads to decide the job's exit code.

pub mod bundle;
pub mod compare;
pub mod config;
pub mod cross;
pub mod hook;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub use config::{Callback, HookPoint};

/// Annotations of a callback bundle: what the hook entry needs beyond the container.
pub mod annotations {
    pub const NAME: &str = "org.openbuildservice.callback.name";
    pub const HOOK: &str = "org.openbuildservice.callback.hook";
    pub const GATING: &str = "org.openbuildservice.callback.gating";
    pub const ON_FAILURE: &str = "org.openbuildservice.callback.on-failure";
    /// Seconds.
    pub const TIMEOUT: &str = "org.openbuildservice.callback.timeout";
    pub const BUILTIN: &str = "org.openbuildservice.callback.builtin";
    /// The job's log file, appended to.
    pub const LOG: &str = "org.openbuildservice.callback.log";
    /// When the job started (seconds since the epoch): the log's stamps count from it.
    pub const LOG_START: &str = "org.openbuildservice.callback.log-start";
    /// Where the status goes.
    pub const STATUS: &str = "org.openbuildservice.callback.status";
    /// The file holding the build's exit code (post-build callbacks run only after success).
    pub const BUILD_EXIT: &str = "org.openbuildservice.callback.build-exit";
    /// The assembled buildroot a `buildroot-copy` callback's root is copied from.
    pub const COPY_FROM: &str = "org.openbuildservice.callback.copy-from";
    /// The previous results (build-compare).
    pub const OLD_RESULTS: &str = "org.openbuildservice.callback.old-results";
    /// The new results (build-compare).
    pub const NEW_RESULTS: &str = "org.openbuildservice.callback.new-results";
    /// The job's work directory (verify-clean looks for what is left under it).
    pub const WORK: &str = "org.openbuildservice.callback.work";
    /// The cgroup path of the build phase (verify-clean).
    pub const BUILD_CGROUP: &str = "org.openbuildservice.callback.build-cgroup";
    /// The prefix of binfmt_misc entries the job registered (verify-clean).
    pub const BINFMT_PREFIX: &str = "org.openbuildservice.callback.binfmt-prefix";
    /// The job's own entry in the host's binfmt_misc (global mode), which obsbox removes
    /// when the job ends; verify-clean leaves it alone.
    pub const BINFMT_IN_USE: &str = "org.openbuildservice.callback.binfmt-in-use";
    /// The target arch whose code the callback's container runs through qemu (Debian name).
    pub const EMULATE_ARCH: &str = "org.openbuildservice.emulate.arch";
    /// qemu on the host (in the job's toolbox).
    pub const EMULATE_INTERPRETER: &str = "org.openbuildservice.emulate.interpreter";
    /// `private` or `global`: where qemu is registered.
    pub const EMULATE_BINFMT: &str = "org.openbuildservice.emulate.binfmt";
    /// The pid of the obsbox that runs the job (its global entries are `obsbox-PID-ARCH`).
    pub const EMULATE_OWNER: &str = "org.openbuildservice.emulate.owner";
}

/// How a callback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    /// Exited non-zero (or a builtin found a problem).
    Failed,
    /// Killed at its timeout.
    TimedOut,
    /// Its container could not be started (e.g. the command is missing from the toolbox).
    NotStarted,
    /// Not run: a post-build callback after a failed build, build-compare without old results.
    Skipped,
    /// build-compare: the results are the same as the previous ones.
    Unchanged,
}

impl Outcome {
    /// Whether this outcome fails a gating callback.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Outcome::Failed | Outcome::TimedOut | Outcome::NotStarted
        )
    }
}

/// What a callback leaves for the lifecycle (`work/callbacks/NAME.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Status {
    pub name: String,
    pub hook: HookPoint,
    pub outcome: Outcome,
    /// The exit code of the callback's process, when it ran.
    pub code: Option<i32>,
    pub gating: bool,
    pub on_failure: config::OnFailure,
    pub seconds: f64,
    pub message: String,
}

impl Status {
    /// Writes the status atomically (a reader never sees half a file).
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// The statuses the callbacks of a job left in `dir`, by name.
pub fn read_statuses(dir: &Path) -> Result<Vec<Status>> {
    let mut statuses = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(statuses);
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let data = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let status: Status = serde_json::from_slice(&data)
            .with_context(|| format!("{}: not a callback status", path.display()))?;
        statuses.push(status);
    }
    Ok(statuses)
}
