//! The fleet indexed for fast placement: one bitset of workers per arch, hostarch, host
//! label, sandbox, linux flavor and version, and CPU flag, and the numbers in plain arrays.
//! A job's constraints become bitset intersections (a few hundred words for 10,000
//! workers) and integer comparisons over the workers left; no worker's strings are compared.
//! [`Index::compliant`] gives exactly the workers [`check`](super::check) accepts.

use std::collections::HashMap;
use std::time::Duration;

use super::constraints::{Constraints, SECURE_SANDBOXES, Size};
use super::matching::verscmp;
use super::{Candidate, Choice, Gathered, Member, Request, Settings, State, decide_gathered};
use crate::model::Arch;
use crate::worker::runs_natively;

/// A set of worker positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    pub fn empty(n: usize) -> BitSet {
        BitSet {
            words: vec![0; n.div_ceil(64)],
        }
    }

    pub fn full(n: usize) -> BitSet {
        let mut s = BitSet::empty(n);
        for i in 0..n {
            s.insert(i);
        }
        s
    }

    pub fn insert(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }

    pub fn remove(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
    }

    pub fn contains(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    pub fn and(&mut self, o: &BitSet) {
        self.words
            .iter_mut()
            .zip(&o.words)
            .for_each(|(a, b)| *a &= b);
    }

    pub fn and_not(&mut self, o: &BitSet) {
        self.words
            .iter_mut()
            .zip(&o.words)
            .for_each(|(a, b)| *a &= !b);
    }

    pub fn or(&mut self, o: &BitSet) {
        self.words
            .iter_mut()
            .zip(&o.words)
            .for_each(|(a, b)| *a |= b);
    }

    pub fn clear(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
    }

    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// The positions in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }
}

/// The workers' capabilities, indexed; positions are the members' order by id.
#[derive(Debug, Clone)]
pub struct Index {
    pub ids: Vec<String>,
    n: usize,
    all: BitSet,
    buildarch: HashMap<String, BitSet>,
    hostarch: HashMap<Arch, BitSet>,
    nativeonly: BitSet,
    labels: HashMap<String, BitSet>,
    sandbox: HashMap<String, BitSet>,
    has_linux: BitSet,
    flavor: HashMap<String, BitSet>,
    versions: Vec<(String, BitSet)>,
    has_hardware: BitSet,
    flags: HashMap<String, BitSet>,
    processors: Vec<u64>,
    jobs: Vec<u64>,
    memory: Vec<u64>,
    swap: Vec<u64>,
    disk: Vec<u64>,
}

fn add(map: &mut HashMap<String, BitSet>, key: &str, n: usize, i: usize) {
    map.entry(key.to_string())
        .or_insert_with(|| BitSet::empty(n))
        .insert(i);
}

impl Index {
    /// Indexes `members` in id order.
    pub fn new(members: &[Member]) -> Index {
        let mut sorted: Vec<&Member> = members.iter().collect();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        let n = sorted.len();
        let mut x = Index {
            ids: sorted.iter().map(|m| m.id.clone()).collect(),
            n,
            all: BitSet::full(n),
            buildarch: HashMap::new(),
            hostarch: HashMap::new(),
            nativeonly: BitSet::empty(n),
            labels: HashMap::new(),
            sandbox: HashMap::new(),
            has_linux: BitSet::empty(n),
            flavor: HashMap::new(),
            versions: Vec::new(),
            has_hardware: BitSet::empty(n),
            flags: HashMap::new(),
            processors: vec![0; n],
            jobs: vec![0; n],
            memory: vec![0; n],
            swap: vec![0; n],
            disk: vec![0; n],
        };
        let mut versions: HashMap<String, BitSet> = HashMap::new();
        for (i, m) in sorted.iter().enumerate() {
            let w = &m.worker;
            for a in w.build_arches() {
                add(&mut x.buildarch, a, n, i);
            }
            x.hostarch
                .entry(w.hostarch.clone())
                .or_insert_with(|| BitSet::empty(n))
                .insert(i);
            for l in &w.hostlabel {
                add(&mut x.labels, l, n, i);
            }
            if let Some(s) = &w.sandbox {
                add(&mut x.sandbox, s, n, i);
            }
            if let Some(l) = &w.linux {
                x.has_linux.insert(i);
                add(&mut x.flavor, l.flavor.as_deref().unwrap_or(""), n, i);
                if let Some(v) = &l.version {
                    add(&mut versions, v, n, i);
                }
            }
            if let Some(h) = &w.hardware {
                x.has_hardware.insert(i);
                if h.nativeonly {
                    x.nativeonly.insert(i);
                }
                for f in h.cpu_flags.iter().flatten() {
                    add(&mut x.flags, f, n, i);
                }
                x.processors[i] = h.processors.unwrap_or(0);
                x.jobs[i] = h.jobs.unwrap_or(0);
                x.memory[i] = h.memory.unwrap_or(0);
                x.swap[i] = h.swap.unwrap_or(0);
                x.disk[i] = h.disk.unwrap_or(0);
            }
        }
        x.versions = versions.into_iter().collect();
        x
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn get<'a>(&self, map: &'a HashMap<String, BitSet>, key: &str) -> Option<&'a BitSet> {
        map.get(key)
    }

    /// The workers for whose CPU `arch` is native (its hostarch or a compatible one).
    pub fn natives(&self, arch: &Arch) -> BitSet {
        let mut s = BitSet::empty(self.n);
        for (h, set) in &self.hostarch {
            if runs_natively(h, arch) {
                s.or(set);
            }
        }
        s
    }

    /// The workers that meet `c` for a job of `arch`, as [`check`](super::check) decides.
    pub fn compliant(&self, c: &Constraints, arch: Option<&Arch>) -> BitSet {
        let mut s = self.all.clone();
        let require = |s: &mut BitSet, set: Option<&BitSet>| match set {
            Some(set) => s.and(set),
            None => s.clear(),
        };
        if let Some(a) = arch {
            require(&mut s, self.get(&self.buildarch, a.as_str()));
            // nativeonly workers whose hostarch needs a helper for this arch.
            let mut helped = BitSet::empty(self.n);
            for (h, set) in &self.hostarch {
                if crate::worker::cando(h)
                    .iter()
                    .any(|(x, helper)| *x == a && !helper.is_empty())
                {
                    helped.or(set);
                }
            }
            helped.and(&self.nativeonly);
            s.and_not(&helped);
        }
        for l in &c.hostlabel {
            match (l.exclude, self.get(&self.labels, &l.value)) {
                (true, Some(set)) => s.and_not(set),
                (true, None) => {}
                (false, set) => require(&mut s, set),
            }
        }
        for sb in &c.sandbox {
            // A worker without a sandbox has the empty one.
            let none = || {
                let mut some = BitSet::empty(self.n);
                for set in self.sandbox.values() {
                    some.or(set);
                }
                let mut none = BitSet::full(self.n);
                none.and_not(&some);
                none
            };
            let set = if sb.value.is_empty() {
                let mut n = none();
                if let Some(e) = self.get(&self.sandbox, "") {
                    n.or(e);
                }
                Some(n)
            } else {
                self.get(&self.sandbox, &sb.value).cloned()
            };
            if sb.exclude {
                if let Some(set) = set {
                    s.and_not(&set);
                }
            } else if sb.value == "secure" {
                let mut u = BitSet::empty(self.n);
                for v in SECURE_SANDBOXES {
                    if let Some(set) = self.get(&self.sandbox, v) {
                        u.or(set);
                    }
                }
                s.and(&u);
            } else {
                require(&mut s, set.as_ref());
            }
        }
        if let Some(lc) = &c.linux {
            s.and(&self.has_linux);
            if let Some(f) = lc.flavor.as_ref().filter(|f| !f.is_empty()) {
                require(&mut s, self.get(&self.flavor, f));
            }
            if lc.version {
                // Each distinct version is compared once, not once per worker.
                let mut ok = BitSet::empty(self.n);
                for (v, set) in &self.versions {
                    let min_ok = lc
                        .min
                        .as_ref()
                        .filter(|m| !m.is_empty())
                        .is_none_or(|m| verscmp(m, v) != std::cmp::Ordering::Greater);
                    let max_ok = lc
                        .max
                        .as_ref()
                        .filter(|m| !m.is_empty())
                        .is_none_or(|m| verscmp(m, v) != std::cmp::Ordering::Less);
                    if min_ok && max_ok {
                        ok.or(set);
                    }
                }
                s.and(&ok);
            }
        }
        if let Some(hc) = &c.hardware {
            s.and(&self.has_hardware);
            if let Some(flags) = &hc.cpu {
                for f in flags {
                    match (f.exclude, self.get(&self.flags, &f.value)) {
                        (true, Some(set)) => s.and_not(set),
                        (true, None) => {}
                        (false, set) => require(&mut s, set),
                    }
                }
            }
            let asked = |z: &Option<Size>| z.as_ref().map(Size::mb).filter(|&mb| mb > 0.0);
            let processors = hc.processors.filter(|&p| p > 0);
            let jobs = hc.jobs.filter(|&j| j > 0);
            let disk = asked(&hc.disk);
            let memory = asked(&hc.memory);
            let perjob = asked(&hc.memoryperjob);
            let physical = asked(&hc.physicalmemory);
            let numeric = processors.is_some()
                || jobs.is_some()
                || disk.is_some()
                || memory.is_some()
                || perjob.is_some()
                || physical.is_some();
            if numeric {
                let failing: Vec<usize> = s
                    .iter()
                    .filter(|&i| {
                        let total = (self.memory[i] + self.swap[i]) as f64;
                        processors.is_some_and(|p| p > self.processors[i])
                            || jobs.is_some_and(|j| j > self.jobs[i])
                            || disk.is_some_and(|d| d > self.disk[i] as f64)
                            || memory.is_some_and(|m| m > total)
                            || perjob.is_some_and(|m| m * self.jobs[i].max(1) as f64 > total)
                            || physical.is_some_and(|m| m > self.memory[i] as f64)
                    })
                    .collect();
                for i in failing {
                    s.remove(i);
                }
            }
        }
        s
    }
}

/// Placement on an indexed fleet with the workers' states, for a dispatcher that places
/// job after job: the same decision as [`decide`](super::decide) without allocation
/// callbacks, without explanations.
#[derive(Debug, Clone)]
pub struct Allocator {
    pub index: Index,
    pub settings: Settings,
    states: Vec<State>,
    idle: BitSet,
    building: BitSet,
    busy_since: Vec<Option<f64>>,
}

impl Allocator {
    /// `members`' states are taken as they are now (time 0); busy ones started `busy_for`
    /// ago.
    pub fn new(members: &[Member], settings: Settings) -> Allocator {
        let index = Index::new(members);
        let by_id: HashMap<&str, &Member> = members.iter().map(|m| (m.id.as_str(), m)).collect();
        let n = index.len();
        let mut a = Allocator {
            states: vec![State::Idle; n],
            idle: BitSet::empty(n),
            building: BitSet::empty(n),
            busy_since: vec![None; n],
            settings,
            index,
        };
        for i in 0..n {
            let m = by_id[a.index.ids[i].as_str()];
            a.set_state(i, m.state, m.busy_for.map(|d| -d.as_secs_f64()));
        }
        a
    }

    /// Sets worker `i`'s state; a building worker's start time in seconds on the caller's
    /// clock.
    pub fn set_state(&mut self, i: usize, state: State, since: Option<f64>) {
        self.states[i] = state;
        self.busy_since[i] = since;
        self.idle.remove(i);
        self.building.remove(i);
        match state {
            State::Idle => self.idle.insert(i),
            State::Building => self.building.insert(i),
            State::Away | State::Down => {}
        }
    }

    /// Decides where `req` goes at time `now` (seconds on the same clock as the start
    /// times). `pick` is the worker's position in [`Index::ids`].
    pub fn place(&self, req: &Request, now: f64) -> Choice {
        let effective = req.effective();
        let arch = req.build_arch();
        let compliant = self.index.compliant(&effective, arch);
        let prefs: Vec<(f64, BitSet)> = effective
            .prefer
            .iter()
            .chain(&self.settings.prefer)
            .map(|p| (p.weight as f64, self.index.compliant(&p.constraints, None)))
            .collect();
        // Counts come from bitsets; only the idle compliant workers are looked at one by
        // one, and the building native ones for the earliest start.
        let natives = match arch {
            Some(a) => self.index.natives(a),
            None => self.index.all.clone(),
        };
        let mut native = compliant.clone();
        native.and(&natives);
        let both = |a: &BitSet, b: &BitSet| {
            let mut x = a.clone();
            x.and(b);
            x
        };
        let idle = both(&compliant, &self.idle);
        let building = both(&compliant, &self.building);
        let native_idle = both(&native, &self.idle);
        let native_building = both(&native, &self.building);
        let compliant_n = compliant.len();
        let native_n = native.len();
        let mut g = Gathered {
            compliant: compliant_n,
            busy: building.len(),
            down: compliant_n - idle.len() - building.len(),
            native_all: native_n,
            native_busy: native_building.len(),
            native_down: native_n - native_idle.len() - native_building.len(),
            any_emulated: native_n < compliant_n,
            ..Gathered::default()
        };
        // Without scores the first idle worker of each kind in name order wins.
        let looked: Box<dyn Iterator<Item = usize>> = if prefs.is_empty() {
            let mut emulated_idle = idle.clone();
            emulated_idle.and_not(&natives);
            Box::new(
                native_idle
                    .iter()
                    .next()
                    .into_iter()
                    .chain(emulated_idle.iter().next()),
            )
        } else {
            Box::new(idle.iter())
        };
        for i in looked {
            g.offer(Candidate {
                index: i,
                state: State::Idle,
                emulated: !natives.contains(i),
                score: prefs
                    .iter()
                    .filter(|(_, set)| set.contains(i))
                    .map(|(w, _)| w)
                    .sum(),
                busy_for: None,
            });
        }
        // The earliest start frees first; an unknown start counts as half a build.
        let mut earliest: Option<f64> = None;
        let mut unknown = false;
        for i in native_building.iter() {
            match self.busy_since[i] {
                Some(s) => earliest = Some(earliest.map_or(s, |e: f64| e.min(s))),
                None => unknown = true,
            }
        }
        let bt = self.settings.build_time;
        if let Some(e) = earliest {
            g.building_native(Some(Duration::from_secs_f64((now - e).max(0.0))), bt);
        }
        if unknown {
            g.building_native(None, bt);
        }
        decide_gathered(g, &self.settings, |i| self.index.ids[i].as_str())
    }

    pub fn idle(&self) -> &BitSet {
        &self.idle
    }
}
