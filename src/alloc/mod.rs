//! Allocation: which worker of a fleet takes a job, the OBS way, with every decision
//! explained.
//!
//! - [`constraints`]: the constraints model, its three sources and OBS's merge/overwrite.
//! - [`matching`]: one job against one worker, rule by rule as OBS's dispatcher checks.
//! - [`allocate`]: the fleet: the first compliant worker in name order, or OBS's
//!   "no compliant workers" with the constraint that excludes the most workers.

pub mod constraints;
pub mod matching;

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

pub use constraints::{Constraints, apply_overwrites, merge};
pub use matching::{Failure, check};

use crate::worker::{self, Worker};

/// The job as far as allocation is concerned.
#[derive(Debug, Clone, Default)]
pub struct JobInfo {
    pub arch: Option<String>,
    pub package: Option<String>,
}

/// One worker's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub worker: String,
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

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// The chosen worker's id.
    pub worker: Option<String>,
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

/// Applies the job's overwrites, then checks every worker (sorted by id) and picks the first
/// compliant one. Workers without an id are named by position.
pub fn allocate(workers: &[Worker], c: &Constraints, job: &JobInfo) -> Decision {
    let effective = apply_overwrites(c, job.arch.as_deref(), job.package.as_deref());
    let arch = job.arch.as_deref();
    let mut named: Vec<(String, &Worker)> = workers
        .iter()
        .enumerate()
        .map(|(i, w)| (w.workerid.clone().unwrap_or_else(|| format!("#{i}")), w))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let verdicts: Vec<Verdict> = named
        .iter()
        .map(|(id, w)| Verdict {
            worker: id.clone(),
            failure: check(w, &effective, arch).err(),
        })
        .collect();
    let worker = verdicts
        .iter()
        .find(|v| v.failure.is_none())
        .map(|v| v.worker.clone());
    let hint = if worker.is_none() && !named.is_empty() {
        // Count every rule a worker fails, not only its first, so that the hint names the
        // constraint that really shuts out most of the fleet. Ties go to OBS's rule order.
        let mut counts: Vec<(String, usize, String)> = Vec::new();
        for (_, w) in &named {
            let mut seen: Vec<String> = Vec::new();
            for f in matching::all_failures(w, &effective, arch) {
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
            of: named.len(),
            example: ex.clone(),
        })
    } else {
        None
    };
    Decision {
        worker,
        verdicts,
        hint,
    }
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
