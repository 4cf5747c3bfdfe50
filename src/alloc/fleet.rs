//! A fleet as the dispatcher sees it: every worker's capabilities and its state.
//!
//! The state comes from OBS's own layout of the dispatcher's workers directory
//! (`$rundir/workers/`): one subdirectory per state — `idle/`, `building/`, `away/`, `down/`,
//! `dead/` — holding one worker document per worker, named `HOSTARCH:HOST:SLOT`. A file in
//! `building/` is written when a job is assigned, so its modification time says since when the
//! worker is busy. A worker listed in several states counts in the first of idle, building,
//! away, down (as OBS's `checkconstraints` reads them); `dead/` workers are left out, as OBS
//! does. A directory without state subdirectories is read as `*.xml` files of idle workers, and
//! a single file as one idle worker.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use crate::worker::{self, Worker};

/// A worker's state in the dispatcher's workers directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for a job: the only state a job is assigned in.
    Idle,
    /// Running a job; free again when it ends.
    Building,
    /// Did not ping the dispatcher in time; may come back.
    Away,
    /// Unreachable or broken.
    Down,
}

/// The states in the order OBS reads them, with their directory names.
pub const STATES: [(State, &str); 4] = [
    (State::Idle, "idle"),
    (State::Building, "building"),
    (State::Away, "away"),
    (State::Down, "down"),
];

impl State {
    pub fn as_str(self) -> &'static str {
        STATES
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("", |(_, n)| n)
    }

    /// Compliant but busy: the job waits for it to finish.
    pub fn busy(self) -> bool {
        self == State::Building
    }

    /// Compliant but unreachable (away or down): not expected back at any known time.
    pub fn unavailable(self) -> bool {
        matches!(self, State::Away | State::Down)
    }
}

/// One worker of a fleet.
#[derive(Debug, Clone)]
pub struct Member {
    /// The worker's id: its `workerid`, else the file name (without `.xml`).
    pub id: String,
    pub worker: Worker,
    pub state: State,
    /// For a building worker, how long it has been at its job (the age of its file).
    pub busy_for: Option<Duration>,
}

impl Member {
    /// An idle worker, named by its `workerid` or by `fallback`.
    pub fn idle(worker: Worker, fallback: &str) -> Member {
        Member {
            id: worker
                .workerid
                .clone()
                .unwrap_or_else(|| fallback.to_string()),
            worker,
            state: State::Idle,
            busy_for: None,
        }
    }
}

/// Reads a fleet (see the module documentation for the layouts); members are sorted by id.
pub fn load_fleet(path: &Path) -> Result<Vec<Member>> {
    let mut members = Vec::new();
    if !path.is_dir() {
        let w = worker::load(path)?;
        members.push(Member::idle(w, ""));
        return Ok(members);
    }
    let has_states = STATES
        .iter()
        .map(|(_, d)| *d)
        .chain(["dead"])
        .any(|d| path.join(d).is_dir());
    if !has_states {
        members = super::load_idle_members(path)?;
    } else {
        let mut reader = worker::Reader::default();
        let now = SystemTime::now();
        for (state, dir) in STATES {
            let dir = path.join(dir);
            if !dir.is_dir() {
                continue;
            }
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && p.file_name()
                            .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
                })
                .collect();
            files.sort();
            for file in files {
                let name = file.file_name().unwrap_or_default().to_string_lossy();
                let name = name.strip_suffix(".xml").unwrap_or(&name).to_string();
                let w = reader.load_exact(&file)?;
                let mut m = Member::idle(w, &name);
                if members.iter().any(|o: &Member| o.id == m.id) {
                    continue;
                }
                m.state = state;
                if state == State::Building {
                    m.busy_for = std::fs::metadata(&file)
                        .and_then(|md| md.modified())
                        .ok()
                        .map(|t| now.duration_since(t).unwrap_or_default());
                }
                members.push(m);
            }
        }
        if members.is_empty() {
            bail!(
                "{}: no worker documents in its idle/, building/, away/ or down/",
                path.display()
            );
        }
    }
    // Usually sorted already (ids are the file names): no sort's scratch space then.
    if !members.is_sorted_by(|a, b| a.id <= b.id) {
        members.sort_by(|a, b| a.id.cmp(&b.id));
    }
    Ok(members)
}
