//! Allocation: which worker of a fleet takes a job, the OBS way, with every decision
//! explained.
//!
//! - [`constraints`]: the constraints model, its three sources and OBS's merge/overwrite.
//! - [`matching`]: one job against one worker, rule by rule as OBS's dispatcher checks.
//! - [`fleet`]: the workers with their state (idle, building, away, down).
//! - [`settings`]: `allocation.toml`: the emulation factor, the expected build time and
//!   site-wide soft constraints.
//! - [`index`]: the fleet as bitsets, for placing job after job fast ([`index::Allocator`]).
//! - [`callbacks`]: external programs (callbacks hooked at `allocate`) that accept, reject
//!   or score each compliant worker.
//! - [`decide`]: the fleet: a compliant idle worker — native before emulated unless waiting
//!   for a native one is expected to take longer than emulating, then the best score of the
//!   soft constraints, then name order; else OBS's "waiting for N compliant workers" when
//!   compliant workers exist but none is idle, or "no compliant workers" with the
//!   constraint that excludes the most workers.

pub mod callbacks;
pub mod constraints;
pub mod fleet;
pub mod index;
pub mod k8s;
pub mod matching;
pub mod obsdata;
pub mod settings;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

pub use constraints::{Constraints, Preference, Sources};
pub use fleet::{Member, State, load_fleet};
pub use matching::{Failure, check};
pub use settings::Settings;

use crate::model::Arch;
use crate::worker::{self, Worker};

/// The job as far as allocation is concerned.
#[derive(Debug, Clone, Default)]
pub struct JobInfo {
    pub arch: Option<Arch>,
    pub package: Option<String>,
}

/// A job to place: who it is, the arch it needs and its constraints (the `<overwrite>`s of
/// its package already applied for its arch and package, as OBS's dispatcher does before
/// merging).
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
    pub arch: Option<Arch>,
    /// The arch the worker must build: OBS's `hostarch || arch` (a cross build runs on a
    /// worker of its hostarch). `None` means `arch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_arch: Option<Arch>,
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
    pub fn build_arch(&self) -> Option<&Arch> {
        self.worker_arch.as_ref().or(self.arch.as_ref())
    }

    /// The constraints the workers are checked against.
    pub fn effective(&self) -> Constraints {
        self.constraints.clone()
    }

    /// A job file as obsbox reads it (job.toml, buildinfo XML, .build.rpmlist), with its
    /// constraints from where OBS takes them: the job's constraint lines (a buildinfo's
    /// `<prjconfconstraint>` then `<constraint>`, job.toml `constraints`), the recipe's
    /// `#!BuildConstraint:` lines (a `.spec` or `Dockerfile`), the package's `_constraints`
    /// next to the recipe, then the `extra` files (e.g. `--constraints`), combined as OBS's
    /// dispatcher does ([`Sources::combine`]). Arches are turned into OBS's names (`amd64` →
    /// `x86_64`).
    pub fn from_job(path: &Path, extra: &[std::path::PathBuf]) -> Result<Request> {
        let job = crate::job::load(path)?;
        let file = path.display().to_string();
        let obs = |a: &Arch| a.to_rpm().unwrap_or_else(|_| a.clone());
        let arch = obs(&job.arch);
        let mut sources = constraints::from_list(&job.constraints, &file)?;
        let recipe = job.sources.join(&job.recipe);
        if (job.recipe.ends_with(".spec") || job.recipe == "Dockerfile") && recipe.is_file() {
            sources.add(constraints::load(&recipe, Some(&arch))?);
        }
        let underscore = job.sources.join("_constraints");
        if underscore.is_file() {
            sources.add(constraints::load(&underscore, Some(&arch))?);
        }
        for p in extra {
            sources.add(constraints::load(p, Some(&arch))?);
        }
        // job.toml's hostarch is where obsbox itself runs the job (it emulates when it
        // differs); OBS's hostarch is the worker a cross build needs.
        let native = path.extension().is_some_and(|e| e == "toml");
        let worker_arch = job.hostarch.as_ref().filter(|_| !native).map(obs);
        let constraints = sources.combine(Some(&arch), Some(&job.package))?;
        Ok(Request {
            id: Some(job.id.clone()),
            project: Some(job.project.clone()),
            package: Some(job.package.clone()),
            arch: Some(arch),
            worker_arch,
            constraints,
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
    /// A compliant worker that builds the job's arch under emulation.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub emulated: bool,
    /// The sum of the weights of the soft constraints a compliant worker meets.
    #[serde(skip_serializing_if = "is_zero")]
    pub score: f64,
    /// The soft constraints it meets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preferred: Vec<String>,
}

fn is_zero(f: &f64) -> bool {
    *f == 0.0
}

impl Verdict {
    /// The verdict in words: the first failing rule, or `ok` with what ranks the worker.
    pub fn text(&self) -> String {
        let Some(f) = &self.failure else {
            let mut s = "ok".to_string();
            if self.emulated {
                s.push_str(" (emulated)");
            }
            if self.score != 0.0 {
                s.push_str(&format!(", score {}", number(self.score)));
                if !self.preferred.is_empty() {
                    s.push_str(&format!(" ({})", self.preferred.join("; ")));
                }
            }
            return s;
        };
        f.explanation.clone()
    }
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
    /// Compliant workers exist, but none is idle (or only emulating ones, and a native one
    /// is expected sooner than emulation would take): the job waits.
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
    /// The chosen worker builds the job's arch under emulation.
    pub emulated: bool,
    /// Why native or emulated, when a compliant worker emulates the job's arch.
    pub choice: Option<String>,
    /// Compliant workers in any state, how many of them are building, how many away/down.
    pub compliant: usize,
    pub busy: usize,
    pub down: usize,
    /// Every worker in name order with its first failing rule.
    pub verdicts: Vec<Verdict>,
    /// Only when no worker complies.
    pub hint: Option<Hint>,
    /// Only when no worker complies: OBS's own hint, every part of the constraints no
    /// worker of the job's arch meets on its own (`hardware:memory sandbox`).
    pub obs_hint: Option<String>,
}

impl Decision {
    pub fn placed(&self) -> bool {
        self.worker.is_some()
    }
}

/// How a decision is made beyond the job and the fleet.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub settings: Settings,
    /// Enabled callbacks with hook `allocate`, in their order.
    pub callbacks: Vec<crate::callbacks::Callback>,
}

/// Checks every worker (all idle, sorted by id) and picks the first compliant one. Workers
/// without an id are named by position.
pub fn allocate(workers: &[Worker], c: &Constraints, job: &JobInfo) -> Decision {
    let members: Vec<Member> = workers
        .iter()
        .enumerate()
        .map(|(i, w)| Member::idle(w.clone(), &format!("#{i}")))
        .collect();
    decide(&members, &Request::new(c.clone(), job), &Options::default())
}

/// Places a job on a fleet, rule by rule: each worker is checked with [`check`], scored by
/// the soft constraints (the job's, then the settings'), and [`choose`] decides.
pub fn decide(members: &[Member], req: &Request, opts: &Options) -> Decision {
    let effective = req.effective();
    let arch = req.build_arch();
    let prefs: Vec<&Preference> = effective
        .prefer
        .iter()
        .chain(&opts.settings.prefer)
        .collect();
    let mut sorted: Vec<&Member> = members.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let verdicts: Vec<Verdict> = sorted
        .iter()
        .map(|m| {
            let failure = check(&m.worker, &effective, arch).err();
            let mut v = Verdict {
                worker: m.id.clone(),
                state: m.state,
                failure,
                emulated: false,
                score: 0.0,
                preferred: Vec::new(),
            };
            if v.failure.is_none() {
                v.emulated = arch.is_some_and(|a| m.worker.emulates(a));
                for p in &prefs {
                    if check(&m.worker, &p.constraints, None).is_ok() {
                        v.score += p.weight as f64;
                        v.preferred.push(p.line.clone());
                    }
                }
            }
            v
        })
        .collect();
    let mut verdicts = verdicts;
    if !opts.callbacks.is_empty() {
        run_callbacks(&mut verdicts, &sorted, req, &effective, &opts.callbacks);
    }
    let candidates = verdicts
        .iter()
        .zip(&sorted)
        .enumerate()
        .filter_map(|(i, (v, m))| {
            v.failure.is_none().then_some(Candidate {
                index: i,
                state: m.state,
                emulated: v.emulated,
                score: v.score,
                busy_for: m.busy_for,
            })
        });
    let c = choose(candidates, &opts.settings, |i| verdicts[i].worker.as_str());
    let (hint, obs_hint) = if c.outcome == Outcome::NoCompliant && !sorted.is_empty() {
        let workers: Vec<&Worker> = sorted.iter().map(|m| &m.worker).collect();
        (
            hint(&sorted, &verdicts, &effective, arch),
            matching::obs_hint(&workers, &effective, arch),
        )
    } else {
        (None, None)
    };
    Decision {
        worker: c.pick.map(|(i, _)| verdicts[i].worker.clone()),
        outcome: c.outcome,
        details: c.details,
        emulated: c.pick.is_some_and(|(_, e)| e),
        choice: c.choice,
        compliant: c.compliant,
        busy: c.busy,
        down: c.down,
        verdicts,
        hint,
        obs_hint,
    }
}

/// A compliant worker as [`choose`] sees it; `index` is its position in name order.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub index: usize,
    pub state: State,
    pub emulated: bool,
    pub score: f64,
    pub busy_for: Option<Duration>,
}

/// What [`choose`] decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The chosen candidate's index and whether it emulates.
    pub pick: Option<(usize, bool)>,
    pub outcome: Outcome,
    pub details: String,
    pub choice: Option<String>,
    pub compliant: usize,
    pub busy: usize,
    pub down: usize,
}

/// The expected time until a building native worker is free: the expected build time less
/// what it has been building already, but at least a tenth of the build time (a build that
/// overran its expected time is taken to need a little more); half the build time when the
/// start is unknown.
pub fn remaining(busy_for: Option<Duration>, build_time: Duration) -> Duration {
    match busy_for {
        None => build_time / 2,
        Some(b) => build_time.saturating_sub(b).max(build_time / 10),
    }
}

/// The decision among the compliant workers (given in name order):
///
/// 1. An idle native worker takes the job: the one with the best score, the first in name
///    order among equals.
/// 2. Else an idle emulating worker (best score, then name order) takes it if emulating is
///    expected to finish sooner than waiting for a native worker: `build_time ×
///    emulation_factor < wait + build_time`, where `wait` is the [`remaining`] time of the
///    building native worker that is free first (none building: emulate). On a tie the job
///    waits for the native worker.
/// 3. Else, with compliant workers in other states, the job waits; with none, no compliant
///    workers.
pub fn choose<'a>(
    candidates: impl Iterator<Item = Candidate>,
    settings: &Settings,
    id: impl Fn(usize) -> &'a str,
) -> Choice {
    let mut g = Gathered::default();
    for c in candidates {
        g.compliant += 1;
        g.busy += c.state.busy() as usize;
        g.down += c.state.unavailable() as usize;
        g.any_emulated |= c.emulated;
        if !c.emulated {
            g.native_all += 1;
            g.native_busy += c.state.busy() as usize;
            g.native_down += c.state.unavailable() as usize;
        }
        match (c.state, c.emulated) {
            (State::Idle, _) => g.offer(c),
            (State::Building, false) => g.building_native(c.busy_for, settings.build_time),
            _ => {}
        }
    }
    decide_gathered(g, settings, id)
}

/// What [`choose`] needs to know of the compliant workers, gathered in one pass (or, by
/// [`index::Allocator`], from bitset counts and the few idle workers).
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    pub compliant: usize,
    pub busy: usize,
    pub down: usize,
    pub native_all: usize,
    pub native_busy: usize,
    pub native_down: usize,
    pub any_emulated: bool,
    pub best_native: Option<Candidate>,
    pub best_emulated: Option<Candidate>,
    /// The [`remaining`] time of the building native worker free first.
    pub first_free: Option<Duration>,
}

impl Gathered {
    /// An idle compliant worker, given in name order: kept when it scores better.
    pub fn offer(&mut self, c: Candidate) {
        let best = if c.emulated {
            &mut self.best_emulated
        } else {
            &mut self.best_native
        };
        if best.is_none_or(|b| c.score > b.score) {
            *best = Some(c);
        }
    }

    /// A building compliant native worker.
    pub fn building_native(&mut self, busy_for: Option<Duration>, build_time: Duration) {
        let r = remaining(busy_for, build_time);
        if self.first_free.is_none_or(|f| r < f) {
            self.first_free = Some(r);
        }
    }
}

/// The decision of [`choose`] from what was gathered.
pub fn decide_gathered<'a>(
    g: Gathered,
    settings: &Settings,
    id: impl Fn(usize) -> &'a str,
) -> Choice {
    let Gathered {
        compliant,
        busy,
        down,
        native_all,
        native_busy,
        native_down,
        any_emulated,
        best_native,
        best_emulated,
        first_free,
    } = g;
    let t = settings.build_time.as_secs_f64();
    let f = settings.emulation_factor;
    let emulated_cost = t * f;
    let emulation = |name: &str| {
        format!(
            "emulating on {name}: {} × {} = {}",
            minutes(t),
            number(f),
            minutes(emulated_cost)
        )
    };
    let native_wait = |w: Duration| {
        format!(
            "{} wait (the first of {native_busy} building native workers frees) + {} build = {}",
            minutes(w.as_secs_f64()),
            minutes(t),
            minutes(w.as_secs_f64() + t)
        )
    };
    let mut out = Choice {
        pick: None,
        outcome: Outcome::NoCompliant,
        details: "no compliant workers".into(),
        choice: None,
        compliant,
        busy,
        down,
    };
    if let Some(n) = best_native {
        out.pick = Some((n.index, false));
        out.outcome = Outcome::Placed;
        out.details = format!("placed on {}", id(n.index));
        if any_emulated {
            out.choice = Some(format!(
                "native: an idle native worker builds in {}; emulation would take {} × {} = {}",
                minutes(t),
                minutes(t),
                number(f),
                minutes(emulated_cost)
            ));
        }
    } else if let Some(e) = best_emulated {
        let name = id(e.index);
        match first_free {
            Some(w) if emulated_cost >= w.as_secs_f64() + t => {
                out.outcome = Outcome::Waiting;
                out.details = format!(
                    "waiting for {native_all} compliant native workers ({native_busy} busy, {native_down} down)"
                );
                out.choice = Some(format!(
                    "native: {}, not later than {}",
                    native_wait(w),
                    emulation(name)
                ));
            }
            first => {
                out.pick = Some((e.index, true));
                out.outcome = Outcome::Placed;
                out.details = format!("placed on {name}");
                let why = match first {
                    Some(w) => format!("sooner than a native worker: {}", native_wait(w)),
                    None => format!(
                        "no compliant native worker is idle or building ({native_down} away or down)"
                    ),
                };
                out.choice = Some(format!("{}; {why}", emulation(name)));
            }
        }
    } else if compliant > 0 {
        out.outcome = Outcome::Waiting;
        out.details =
            format!("waiting for {compliant} compliant workers ({busy} busy, {down} down)");
    }
    out
}

fn minutes(secs: f64) -> String {
    let m = secs / 60.0;
    format!("{} min", number((m * 10.0).round() / 10.0))
}

/// A number without a needless fraction: `13`, `1.5`.
fn number(f: f64) -> String {
    if f.fract() == 0.0 {
        format!("{f:.0}")
    } else {
        format!("{}", (f * 100.0).round() / 100.0)
    }
}

/// Lets the allocation callbacks judge the compliant workers: a rejection becomes the
/// worker's failure (rule `callback:NAME`), scores add to the worker's score.
fn run_callbacks(
    verdicts: &mut [Verdict],
    members: &[&Member],
    req: &Request,
    effective: &Constraints,
    callbacks: &[crate::callbacks::Callback],
) {
    let compliant: Vec<usize> = (0..verdicts.len())
        .filter(|&i| verdicts[i].failure.is_none())
        .collect();
    let inputs: Vec<serde_json::Value> = compliant
        .iter()
        .map(|&i| {
            let mut worker = serde_json::to_value(&members[i].worker).unwrap_or_default();
            worker["id"] = verdicts[i].worker.clone().into();
            worker["state"] = members[i].state.as_str().into();
            worker["emulated"] = verdicts[i].emulated.into();
            serde_json::json!({
                "job": req,
                "worker": worker,
                "constraints": effective,
            })
        })
        .collect();
    let values = crate::callbacks::config::Placeholders {
        arch: req.arch.clone(),
        hostarch: None,
        project: req.project.clone().unwrap_or_default(),
        package: req.package.clone().unwrap_or_default(),
    };
    let answers = callbacks::judge(callbacks, &inputs, &values);
    for (&i, answers) in compliant.iter().zip(answers) {
        let v = &mut verdicts[i];
        for a in answers {
            if !a.accept {
                v.failure = Some(Failure {
                    rule: format!("callback:{}", a.callback),
                    explanation: a.reason.unwrap_or_default(),
                });
                break;
            }
            if a.score != 0.0 {
                v.score += a.score;
                v.preferred.push(format!("callback {}", a.callback));
            }
        }
        if v.failure.is_some() {
            (v.score, v.emulated) = (0.0, false);
            v.preferred.clear();
        }
    }
}

/// The rule that shuts out most of the fleet. Every rule a worker fails counts, not only
/// its first (and a callback's rejection of a worker that meets every rule); ties go to
/// OBS's rule order.
fn hint(
    members: &[&Member],
    verdicts: &[Verdict],
    effective: &Constraints,
    arch: Option<&Arch>,
) -> Option<Hint> {
    let mut counts: Vec<(String, usize, String)> = Vec::new();
    for (m, v) in members.iter().zip(verdicts) {
        let mut seen: Vec<String> = Vec::new();
        let mut failures = matching::all_failures(&m.worker, effective, arch);
        if failures.is_empty()
            && let Some(f) = &v.failure
        {
            failures.push(f.clone());
        }
        for f in failures {
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

/// Reads a fleet: one worker XML file, or every file of a directory not starting with `.`
/// (`*.xml`, or named as OBS's dispatcher names them, `HOSTARCH:HOST:SLOT`), in name order.
pub fn load_workers(path: &Path) -> Result<Vec<Worker>> {
    if !path.is_dir() {
        return Ok(vec![worker::load(path)?]);
    }
    load_dir(path, |w| w)
}

/// The worker documents of a directory (see [`load_workers`]), as idle fleet members.
pub fn load_idle_members(path: &Path) -> Result<Vec<fleet::Member>> {
    load_dir(path, |w| fleet::Member::idle(w, ""))
}

/// The names of a directory's worker documents, sorted: regular files (or links to them)
/// whose names do not start with a dot.
fn worker_names(path: &Path) -> Result<Vec<std::ffi::OsString>> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))? {
        let e = e.with_context(|| format!("cannot read {}", path.display()))?;
        // The entry's own type: no stat per file (a symlink is followed).
        let file = match e.file_type() {
            Ok(t) if t.is_file() => true,
            Ok(t) if t.is_symlink() => e.path().is_file(),
            _ => false,
        };
        let name = e.file_name();
        if file && !name.as_encoded_bytes().starts_with(b".") {
            names.push(name);
        }
    }
    names.sort_unstable();
    if names.is_empty() {
        bail!("{}: no worker documents", path.display());
    }
    Ok(names)
}

/// Reads and parses a directory's worker documents on every core, keeping their order, each
/// turned into what the caller keeps by `wrap`. Files are opened relative to the directory
/// (no path walk per file), and the calling thread reads the first share straight into the
/// result, so a fleet's workers are moved once.
fn load_dir<T: Send>(path: &Path, wrap: impl Fn(Worker) -> T + Sync) -> Result<Vec<T>> {
    use rustix::fs::{Mode, OFlags};
    let names = worker_names(path)?;
    let dir = rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {}", path.display()))?;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(names.len().div_ceil(256))
        .max(1);
    // Each thread keeps one reader (a buffer and the flag names) for its files.
    let read = |part: &[std::ffi::OsString], out: &mut Vec<T>| -> Result<()> {
        let mut reader = worker::Reader::default();
        for name in part {
            out.push(wrap(reader.load_at(&dir, path, name.as_ref())?));
        }
        Ok(())
    };
    let mut out = Vec::with_capacity(names.len());
    let chunk = names.len().div_ceil(threads);
    let (first, rest) = names.split_at(chunk);
    let read = &read;
    let parts: Vec<Result<Vec<T>>> = std::thread::scope(|s| {
        let handles: Vec<_> = rest
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut v = Vec::with_capacity(part.len());
                    read(part, &mut v).map(|()| v)
                })
            })
            .collect();
        let mine = read(first, &mut out);
        // The first failing file's error is the one reported, as a serial read would.
        std::iter::once(mine.map(|()| Vec::new()))
            .chain(handles.into_iter().map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a worker reader panicked")))
            }))
            .collect()
    });
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// Reads a constraints file by its kind, for a job of `arch` (see [`constraints::load`]).
pub fn load_constraints(path: &Path, arch: Option<&Arch>) -> Result<Sources> {
    constraints::load(path, arch)
}

/// Reads constraints files for a job of `arch` and `package` and combines them as OBS's
/// dispatcher does ([`Sources::combine`]): project configs and bare constraint lines
/// first, then recipes, `_constraints` merged over those.
pub fn load_job_constraints(
    paths: &[std::path::PathBuf],
    arch: Option<&Arch>,
    package: Option<&str>,
) -> Result<Constraints> {
    let mut paths = paths.to_vec();
    paths.sort_by_key(|p| source_rank(p));
    let mut sources = Sources::default();
    for p in &paths {
        sources.add(load_constraints(p, arch)?);
    }
    sources.combine(arch, package)
}

/// The source kinds in OBS's order: project config lines before recipe lines (XML
/// `_constraints` are merged over both wherever they stand).
pub fn source_rank(path: &Path) -> u8 {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.ends_with(".spec") || name == "Dockerfile" {
        1
    } else {
        0
    }
}
