//! Allocation: which worker of a fleet takes a job, the OBS way, with every decision
//! explained.
//!
//! - [`constraints`]: the constraints model, its three sources and OBS's merge/overwrite.
//! - [`matching`]: one job against one worker, rule by rule as OBS's dispatcher checks.
//! - [`fleet`]: the workers with their state (idle, building, away, down).
//! - [`decide`]: the fleet: the first compliant idle worker in name order; else OBS's
//!   "waiting for N compliant workers" when compliant workers exist but none is idle, or
//!   "no compliant workers" with the constraint that excludes the most workers.

pub mod constraints;
pub mod fleet;
pub mod matching;

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

pub use constraints::{Constraints, apply_overwrites, merge};
pub use fleet::{Member, State, load_fleet};
pub use matching::{Failure, check};

use crate::worker::{self, Worker};

/// The job as far as allocation is concerned.
#[derive(Debug, Clone, Default)]
pub struct JobInfo {
    pub arch: Option<String>,
    pub package: Option<String>,
}

/// A job to place: who it is, the arch it needs and its merged constraints (before the
/// `<overwrite>`s, which depend on arch and package).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Request {
    /// `project/repository/package/arch` when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The job's arch (OBS name); selects `<overwrite>` conditions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// The arch the worker must build: OBS's `hostarch || arch` (a cross build runs on a
    /// worker of its hostarch). `None` means `arch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_arch: Option<String>,
    #[serde(skip)]
    pub constraints: Constraints,
}

impl Request {
    pub fn new(c: Constraints, job: &JobInfo) -> Request {
        Request {
            arch: job.arch.clone(),
            package: job.package.clone(),
            constraints: c,
            ..Request::default()
        }
    }

    /// The arch workers are matched for.
    pub fn build_arch(&self) -> Option<&str> {
        self.worker_arch.as_deref().or(self.arch.as_deref())
    }

    /// The constraints with the job's `<overwrite>`s applied.
    pub fn effective(&self) -> Constraints {
        apply_overwrites(
            &self.constraints,
            self.arch.as_deref(),
            self.package.as_deref(),
        )
    }

    /// A job file as obsbox reads it (job.toml, buildinfo XML, .build.rpmlist), with its
    /// constraints from where OBS takes them, merged in OBS's order: the job's constraint
    /// lines (a buildinfo's `<prjconfconstraint>`/`<constraint>`, job.toml `constraints`),
    /// the package's `_constraints` next to the recipe, the recipe's `#!BuildConstraint:`
    /// lines (a `.spec` or `Dockerfile`), then `extra` (e.g. `--constraints` files).
    /// Arches are turned into OBS's names (`amd64` → `x86_64`).
    pub fn from_job(path: &Path, extra: Vec<Constraints>) -> Result<Request> {
        let job = crate::job::load(path)?;
        let file = path.display().to_string();
        let mut sources = Vec::new();
        sources.push(constraints::from_list(&job.constraints, &file)?);
        let underscore = job.sources.join("_constraints");
        if underscore.is_file() {
            sources.push(load_constraints(&underscore)?);
        }
        let recipe = job.sources.join(&job.recipe);
        if (job.recipe.ends_with(".spec") || job.recipe == "Dockerfile") && recipe.is_file() {
            sources.push(load_constraints(&recipe)?);
        }
        sources.extend(extra);
        // A source that constrains nothing is left out rather than merged: OBS's merge
        // takes the first source whole, so an empty first one would lose a later
        // memoryperjob.
        sources.retain(|c| *c != Constraints::default());
        let obs = |a: &str| {
            crate::repo::rpm_arch(a)
                .map(str::to_string)
                .unwrap_or_else(|_| a.to_string())
        };
        let arch = obs(&job.arch);
        // job.toml's hostarch is where obsbox itself runs the job (it emulates when it
        // differs); OBS's hostarch is the worker a cross build needs.
        let native = path.extension().is_some_and(|e| e == "toml");
        let worker_arch = (!native && !job.hostarch.is_empty()).then(|| obs(&job.hostarch));
        Ok(Request {
            id: Some(job.id.clone()),
            project: Some(job.project.clone()),
            package: Some(job.package.clone()),
            arch: Some(arch),
            worker_arch,
            constraints: merge(&sources),
        })
    }
}

/// One worker's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub worker: String,
    pub state: State,
    /// `None` when the worker complies.
    pub failure: Option<Failure>,
}

/// The rule that excludes the most workers, for the "no compliant workers" answer.
#[derive(Debug, Clone, Serialize)]
pub struct Hint {
    pub rule: String,
    pub excluded: usize,
    pub of: usize,
    /// The explanation for the first worker it excludes, as an example.
    pub example: String,
}

/// What became of the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Assigned to an idle compliant worker.
    Placed,
    /// Compliant workers exist, but none is idle: the job waits.
    Waiting,
    /// No worker of the fleet can ever take the job as it is constrained.
    NoCompliant,
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// The chosen worker's id.
    pub worker: Option<String>,
    pub outcome: Outcome,
    /// One line in OBS's words: `placed on W`, `waiting for N compliant workers (B busy, D
    /// down)`, `no compliant workers`.
    pub details: String,
    /// Compliant workers in any state, how many of them are building, how many away/down.
    pub compliant: usize,
    pub busy: usize,
    pub down: usize,
    /// Every worker in name order with its first failing rule.
    pub verdicts: Vec<Verdict>,
    /// Only when no worker complies.
    pub hint: Option<Hint>,
}

impl Decision {
    pub fn placed(&self) -> bool {
        self.worker.is_some()
    }
}

/// Checks every worker (all idle, sorted by id) and picks the first compliant one. Workers
/// without an id are named by position.
pub fn allocate(workers: &[Worker], c: &Constraints, job: &JobInfo) -> Decision {
    let members: Vec<Member> = workers
        .iter()
        .enumerate()
        .map(|(i, w)| Member::idle(w.clone(), &format!("#{i}")))
        .collect();
    decide(&members, &Request::new(c.clone(), job))
}

/// Places a job on a fleet: the first compliant idle worker in name order.
pub fn decide(members: &[Member], req: &Request) -> Decision {
    let effective = req.effective();
    let arch = req.build_arch();
    let mut sorted: Vec<&Member> = members.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let verdicts: Vec<Verdict> = sorted
        .iter()
        .map(|m| Verdict {
            worker: m.id.clone(),
            state: m.state,
            failure: check(&m.worker, &effective, arch).err(),
        })
        .collect();
    let compliant: Vec<&Verdict> = verdicts.iter().filter(|v| v.failure.is_none()).collect();
    let busy = compliant.iter().filter(|v| v.state.busy()).count();
    let down = compliant.iter().filter(|v| v.state.unavailable()).count();
    let worker = compliant
        .iter()
        .find(|v| v.state == State::Idle)
        .map(|v| v.worker.clone());
    let (outcome, details) = match (&worker, compliant.len()) {
        (Some(w), _) => (Outcome::Placed, format!("placed on {w}")),
        (None, 0) => (Outcome::NoCompliant, "no compliant workers".to_string()),
        (None, n) => (
            Outcome::Waiting,
            format!("waiting for {n} compliant workers ({busy} busy, {down} down)"),
        ),
    };
    let hint = if outcome == Outcome::NoCompliant && !sorted.is_empty() {
        hint(&sorted, &effective, arch)
    } else {
        None
    };
    Decision {
        worker,
        outcome,
        details,
        compliant: compliant.len(),
        busy,
        down,
        verdicts,
        hint,
    }
}

/// The rule that shuts out most of the fleet. Every rule a worker fails counts, not only
/// its first; ties go to OBS's rule order.
fn hint(members: &[&Member], effective: &Constraints, arch: Option<&str>) -> Option<Hint> {
    let mut counts: Vec<(String, usize, String)> = Vec::new();
    for m in members {
        let mut seen: Vec<String> = Vec::new();
        for f in matching::all_failures(&m.worker, effective, arch) {
            if seen.contains(&f.rule) {
                continue;
            }
            seen.push(f.rule.clone());
            match counts.iter_mut().find(|(r, _, _)| *r == f.rule) {
                Some(entry) => entry.1 += 1,
                None => counts.push((f.rule, 1, f.explanation)),
            }
        }
    }
    let mut best: Option<&(String, usize, String)> = None;
    for entry in &counts {
        if best.is_none_or(|b| entry.1 > b.1) {
            best = Some(entry);
        }
    }
    best.map(|(rule, n, ex)| Hint {
        rule: rule.clone(),
        excluded: *n,
        of: members.len(),
        example: ex.clone(),
    })
}

/// Reads a fleet: one worker XML file, or every `*.xml` in a directory.
pub fn load_workers(path: &Path) -> Result<Vec<Worker>> {
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("{}: no worker XML files (*.xml)", path.display());
        }
        files.iter().map(|f| worker::load(f)).collect()
    } else {
        Ok(vec![worker::load(path)?])
    }
}

/// Reads a constraints file by its kind: `*.spec` and `Dockerfile` by their
/// `#!BuildConstraint:` lines, a project config (`_config`, `*.prjconf`, `prjconf`) by its
/// `Constraint:` lines, anything else as `_constraints` XML.
pub fn load_constraints(path: &Path) -> Result<Constraints> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {file}"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text =
        || String::from_utf8(bytes.clone()).with_context(|| format!("{file}: not UTF-8 text"));
    if name.ends_with(".spec") || name == "Dockerfile" {
        constraints::from_spec(&text()?, &file)
    } else if name == "_config" || name == "prjconf" || name.ends_with(".prjconf") {
        constraints::from_prjconf(&text()?, &file)
    } else {
        constraints::from_xml(&bytes, &file)
    }
}
