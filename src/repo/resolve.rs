//! Dependency resolution: which packages a request pulls in, solved with resolvo.
//!
//! Mapping onto resolvo's model:
//! - every package is a solvable; every distinct package name a resolvo name, so resolvo's
//!   "one solvable per name" rule is "at most one version per package".
//! - a relation expands into version sets that list the exact solvables satisfying it: one on
//!   the real package of that name, then one per package that provides it (a virtual package,
//!   an RPM provide or a file). Several version sets make a resolvo union, in preference order:
//!   real package first, then providers; for a Debian OR-group, alternatives in written order.
//! - a conflict becomes, per package name it hits, a `constrains` version set holding the
//!   solvables it forbids, negated: "any chosen solvable of that name must not be one of these".
//!
//! Version sets are built lazily, when resolvo asks for a package's dependencies, so only the
//! part of a large repository that the request reaches costs anything.
//!
//! A resolution is bounded ([`MAX_CLOSURE`]): resolvo's decisions cost time quadratic in the
//! packages chosen (a chain of 100,000 packages, each depending on the next, took minutes).
//! The names a request forces (single dependencies of single candidates, followed from the
//! request) are counted before solving, which refuses a long chain at once; resolvo's own
//! exploration is counted while solving, which refuses what alternatives hide from that count.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::ops::Range;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use resolvo::conflict::{ConflictCause, ConflictEdge, ConflictGraph, ConflictNode};
use resolvo::{
    Candidates, Condition, ConditionId, ConditionalRequirement, Dependencies, DependencyProvider,
    Interner, KnownDependencies, LogicalOperator, NameId, Problem, Requirement, SolvableId, Solver,
    SolverCache, StringId, UnsolvableOrCancelled, VersionSetId, VersionSetUnionId,
};

use super::build_deps::Needs;
use super::version::satisfies;
use super::{Format, Op, PackageMeta, Relation};
use crate::model::rich::Rich;

/// Resolves `request` against `packages` and returns the full closure as indices into
/// `packages`, sorted by package name, then version.
///
/// The highest version wins where there is a choice, a real package wins over one that merely
/// provides the name, and an earlier Debian alternative over a later one. The answer does not
/// depend on the order of `packages`. An unresolvable request fails with a message naming the
/// missing or conflicting package and the chain of packages that needed it.
pub fn resolve(packages: &[PackageMeta], request: &[Relation]) -> Result<Vec<usize>> {
    resolve_needs(packages, request, &[], &[])
}

/// [`resolve`] with, besides the single relations of `request`, OR-groups (`groups`: one
/// alternative of each must be installed, the first one that can be is preferred) and
/// `conflicts` (no package satisfying one may be installed), each with its origin for
/// messages (`Build-Depends of hello_2.10-3.dsc`).
pub fn resolve_needs(
    packages: &[PackageMeta],
    request: &[Relation],
    groups: &[(Vec<Relation>, String)],
    conflicts: &[(Relation, String)],
) -> Result<Vec<usize>> {
    let needs = Needs {
        depends: groups.to_vec(),
        conflicts: conflicts.to_vec(),
        ..Needs::default()
    };
    resolve_with(packages, request, &needs)
}

/// [`resolve`] with everything a recipe asks ([`Needs`]): OR-groups and conflicts as in
/// [`resolve_needs`]; rich dependencies, solved as obs-build's expander reads them (a
/// leaf is any package satisfying its relation; `(a if b)` requires `a` once a package
/// satisfying `b` is in the root, `(a unless b)` is `a` and not `b`, `(a with b)` a package
/// satisfying both; a rich conflict keeps out whatever would make it true), turned into
/// clauses of resolvo's conditional requirements and constraints; and ignored names, whose
/// requirement by a package of the root is not followed (nor one any of whose providers is
/// ignored).
pub fn resolve_with(
    packages: &[PackageMeta],
    request: &[Relation],
    needs: &Needs,
) -> Result<Vec<usize>> {
    resolve_bounded(
        packages,
        request,
        needs,
        Bounds {
            packages: MAX_CLOSURE,
            relations: MAX_RELATIONS,
            time: MAX_SOLVE_TIME,
        },
    )
}

/// The most packages a resolution may pull in. Real build roots are far smaller: Debian
/// bookworm's build-essential is 75 packages, GNOME, KDE, texlive-full and LibreOffice
/// together 1,806, and a build root of big build dependencies stays below 3,000. resolvo's
/// time grows with the square of what it explores: 10,000 packages behind alternatives
/// take about 5 s, 20,000 over 30 s.
pub const MAX_CLOSURE: usize = 10_000;

/// How long resolvo may search: real resolutions take a second or two; a small but hard
/// set of conflicts could otherwise keep it backtracking for hours.
pub const MAX_SOLVE_TIME: Duration = Duration::from_secs(120);

/// The most dependencies and conflicts of the packages a resolution explores it may follow:
/// resolvo holds about a kilobyte for each, and one package of a hostile index may have a
/// million. Real resolutions follow far fewer: Debian bookworm's build-essential and
/// debhelper 667, GNOME, KDE, texlive-full and LibreOffice together (2,142 packages) 19,515.
pub const MAX_RELATIONS: usize = 30_000;

/// The bounds of one resolution.
#[derive(Clone, Copy)]
struct Bounds {
    packages: usize,
    relations: usize,
    time: Duration,
}

/// Why resolvo was stopped.
enum Stop {
    Packages,
    Relations,
    Time,
}

/// [`resolve_with`] refusing a request that pulls in more than `bounds.packages` packages
/// or searches longer than `bounds.time`.
fn resolve_bounded(
    packages: &[PackageMeta],
    request: &[Relation],
    needs: &Needs,
    bounds: Bounds,
) -> Result<Vec<usize>> {
    let groups = &needs.depends;
    let conflicts = &needs.conflicts;
    let format = packages.first().map_or(Format::Deb, |p| p.format);
    if let Some(other) = packages.iter().find(|p| p.format != format) {
        bail!(
            "cannot resolve {:?} and {:?} packages together ({} is {:?})",
            format,
            other.format,
            other.nevra(),
            other.format
        );
    }
    let mut pool = Pool::new(format, packages);
    pool.ignores = needs.ignores.iter().cloned().collect();
    let roots = request.iter().chain(
        groups
            .iter()
            .filter(|(g, _)| g.len() == 1)
            .map(|(g, _)| &g[0]),
    );
    if let Some(root) = pool.forced_closure_exceeds(roots, bounds.packages) {
        bail!(
            "{}",
            too_many(bounds.packages, &relation_text(format, root))
        );
    }
    pool.bounds = bounds;
    let mut requirements: Vec<ConditionalRequirement> = request
        .iter()
        .filter(|r| !pool.ignored(r))
        .map(|r| pool.requirement(&[r]).into())
        .collect();
    for (group, origin) in groups {
        let group: Vec<&Relation> = group.iter().filter(|r| !pool.ignored(r)).collect();
        if group.is_empty() {
            continue;
        }
        let req = pool.requirement(&group);
        pool.lazy
            .borrow_mut()
            .origins
            .entry(req)
            .or_insert_with(|| origin.clone());
        requirements.push(req.into());
    }
    let mut constraints = Vec::new();
    for (rel, origin) in conflicts {
        let label = relation_text(format, rel);
        for (name, members) in pool.expand(rel, None) {
            let vs = pool.version_set(name, members, true, label.clone());
            pool.lazy
                .borrow_mut()
                .conflict_origins
                .entry(vs)
                .or_insert_with(|| origin.clone());
            constraints.push(vs);
        }
    }
    for (rich, conflict, origin) in &needs.rich {
        pool.add_rich(rich, *conflict, origin, &mut requirements, &mut constraints)?;
    }
    let mut solver = Solver::new(pool);
    match solver.solve(
        Problem::new()
            .requirements(requirements)
            .constraints(constraints),
    ) {
        Ok(solvables) => {
            // A name's ids follow version order, so (name, id) is (name, version).
            let pool = solver.provider();
            tracing::debug!(
                explored = pool.explored.get(),
                followed = pool.followed.get(),
                chosen = solvables.len(),
                "resolved"
            );
            let mut ids: Vec<u32> = solvables.into_iter().map(|s| s.0).collect();
            ids.sort_unstable_by_key(|&s| {
                (pool.names[pool.solvable_name[s as usize].0 as usize], s)
            });
            Ok(ids
                .into_iter()
                .map(|s| pool.order[s as usize] as usize)
                .collect())
        }
        Err(UnsolvableOrCancelled::Unsolvable(conflict)) => {
            tracing::debug!(
                "resolvo's account of the conflict:\n{}",
                conflict.display_user_friendly(&solver)
            );
            let graph = conflict.graph(&solver);
            bail!("{}", explain(solver.provider(), &graph))
        }
        Err(UnsolvableOrCancelled::Cancelled(why)) => match why.downcast_ref::<Stop>() {
            Some(Stop::Packages) => bail!(
                "{}",
                too_many(bounds.packages, &request_text(format, request, needs))
            ),
            Some(Stop::Relations) => bail!(
                "dependency resolution of {} follows more than {} dependencies and conflicts; \
                 refused",
                request_text(format, request, needs),
                bounds.relations
            ),
            Some(Stop::Time) => bail!(
                "dependency resolution of {} took more than {} s; refused",
                request_text(format, request, needs),
                bounds.time.as_secs()
            ),
            None => bail!("dependency resolution was cancelled"),
        },
    }
}

fn too_many(max_closure: usize, what: &str) -> String {
    format!(
        "the request pulls in more than {max_closure} packages (the closure of {what}); refused"
    )
}

/// The request for a message: its first relations, and how many more there are.
fn request_text(format: Format, request: &[Relation], needs: &Needs) -> String {
    let all: Vec<String> = request
        .iter()
        .map(|r| relation_text(format, r))
        .chain(needs.depends.iter().map(|(group, _)| {
            group
                .iter()
                .map(|r| relation_text(format, r))
                .collect::<Vec<_>>()
                .join(" | ")
        }))
        .chain(
            needs
                .rich
                .iter()
                .filter(|(_, conflict, _)| !conflict)
                .map(|(rich, _, _)| rich.to_string()),
        )
        .collect();
    let mut text = all.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if all.len() > 3 {
        write!(text, " and {} more", all.len() - 3).expect("to a string");
    }
    text
}

/// A relation's identity for caching: name, operator, version.
type RelKey<'a> = (&'a str, Option<(Op, &'a str)>);

/// An explicit set of solvables of one name; `negated` sets (conflicts) match the others.
struct VersionSet {
    name: NameId,
    members: Vec<SolvableId>,
    negated: bool,
    label: String,
}

/// Packages indexed for resolvo, plus everything built lazily while solving.
struct Pool<'a> {
    format: Format,
    packages: &'a [PackageMeta],
    /// Solvable id → index into `packages`. A name's solvables have consecutive ids, lowest
    /// version first; which name comes first follows the input and must not matter.
    order: Vec<u32>,
    solvable_name: Vec<NameId>,
    /// Real package names, by name id; ids past the end are names no package has, interned
    /// when a relation mentions one.
    names: Vec<&'a str>,
    name_ids: HashMap<&'a str, NameId, FastHash>,
    /// Solvable ids of each real name.
    candidates: Vec<Range<u32>>,
    /// Provided name → (provider, index into its `provides`), in solvable order.
    provides: MultiMap<'a, (SolvableId, u32)>,
    /// File path → packages shipping it, in solvable order.
    files: MultiMap<'a, SolvableId>,
    /// Names whose requirement by a package is not followed.
    ignores: HashSet<String>,
    lazy: RefCell<Lazy<'a>>,
    /// Solvables whose dependencies resolvo asked for, since when, and how many and how
    /// long it may ask.
    explored: Cell<usize>,
    /// Dependencies and conflicts of the explored solvables.
    followed: Cell<usize>,
    started: Instant,
    bounds: Bounds,
}

#[derive(Default)]
struct Lazy<'a> {
    unknown_names: Vec<String>,
    unknown_name_ids: HashMap<String, NameId>,
    version_sets: Vec<VersionSet>,
    version_set_ids: HashMap<(NameId, bool, Vec<SolvableId>), VersionSetId>,
    unions: Vec<Rc<[VersionSetId]>>,
    requirements: HashMap<Vec<RelKey<'a>>, Requirement>,
    requirement_labels: HashMap<Requirement, String>,
    constraints: HashMap<(RelKey<'a>, NameId), Rc<[VersionSetId]>>,
    strings: Vec<String>,
    /// Where a requirement of the request came from, when the caller said.
    origins: HashMap<Requirement, String>,
    /// Where a conflict of the request came from.
    conflict_origins: HashMap<VersionSetId, String>,
    /// Conditions of conditional requirements, by `ConditionId`.
    conditions: Vec<Condition>,
}

/// A string-keyed multimap in two flat vectors: building it for a whole distribution costs
/// one hash insert per key and no allocation per key.
struct MultiMap<'a, T> {
    /// Key → first and last entry.
    ends: HashMap<&'a str, (u32, u32), FastHash>,
    /// Value and the index of the next entry of the same key (`u32::MAX` at the end).
    entries: Vec<(T, u32)>,
}

impl<'a, T: Copy> MultiMap<'a, T> {
    /// A map with room for `entries` entries (and as many keys).
    fn with_capacity(entries: usize) -> Self {
        let mut ends = HashMap::default();
        ends.reserve(entries);
        MultiMap {
            ends,
            entries: Vec::with_capacity(entries),
        }
    }

    fn push(&mut self, key: &'a str, value: T) {
        let at = self.entries.len() as u32;
        self.entries.push((value, u32::MAX));
        match self.ends.get_mut(key) {
            Some((_, last)) => {
                self.entries[*last as usize].1 = at;
                *last = at;
            }
            None => {
                self.ends.insert(key, (at, at));
            }
        }
    }

    fn get(&self, key: &str) -> impl Iterator<Item = T> + '_ {
        let mut at = self.ends.get(key).map_or(u32::MAX, |&(first, _)| first);
        std::iter::from_fn(move || {
            let (value, next) = *self.entries.get(at as usize)?;
            at = next;
            Some(value)
        })
    }
}

/// A multiply-rotate hash for package names: SipHash's flood resistance buys nothing for
/// repository metadata, and indexing a whole distribution is dominated by hashing.
#[derive(Default, Clone, Copy)]
struct NameHasher(u64);

type FastHash = std::hash::BuildHasherDefault<NameHasher>;

impl NameHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl std::hash::Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.mix(u64::from_le_bytes(tail) ^ bytes.len() as u64);
    }

    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    fn finish(&self) -> u64 {
        // The multiply leaves the low bits weakest; hashbrown picks buckets from them.
        self.0 ^ (self.0 >> 29)
    }
}

impl<'a> Pool<'a> {
    fn new(format: Format, packages: &'a [PackageMeta]) -> Self {
        // Group by name (first seen, first numbered), then number each name's packages in
        // version order: a counting sort, since a full sort of a distribution is slow.
        let mut names: Vec<&str> = Vec::new();
        let mut name_ids: HashMap<&str, NameId, FastHash> = HashMap::default();
        name_ids.reserve(packages.len());
        let mut name_of = Vec::with_capacity(packages.len());
        let mut counts: Vec<u32> = Vec::new();
        for pkg in packages {
            let id = *name_ids.entry(pkg.name.as_str()).or_insert_with(|| {
                names.push(&pkg.name);
                counts.push(0);
                NameId(names.len() as u32 - 1)
            });
            counts[id.0 as usize] += 1;
            name_of.push(id);
        }
        let mut candidates = Vec::with_capacity(names.len());
        let mut start = 0;
        for &count in &counts {
            candidates.push(start..start + count);
            start += count;
        }
        let mut fill: Vec<u32> = candidates.iter().map(|r| r.start).collect();
        let mut order = vec![0u32; packages.len()];
        let mut solvable_name = vec![NameId(0); packages.len()];
        for (p, &name) in name_of.iter().enumerate() {
            let at = &mut fill[name.0 as usize];
            order[*at as usize] = p as u32;
            solvable_name[*at as usize] = name;
            *at += 1;
        }
        for range in &candidates {
            if range.len() > 1 {
                order[range.start as usize..range.end as usize].sort_by(|&a, &b| {
                    let (a, b) = (&packages[a as usize], &packages[b as usize]);
                    format
                        .compare(&a.version, &b.version)
                        // Equal versions: the earlier repository sorts last, so it is tried
                        // first; the rest only makes the order total.
                        .then_with(|| b.repo.cmp(&a.repo))
                        .then_with(|| a.arch.cmp(&b.arch))
                        .then_with(|| a.location.cmp(&b.location))
                });
            }
        }
        // Sized once: growing a map of a million names holds its old and new tables at once.
        let mut provides = MultiMap::with_capacity(packages.iter().map(|p| p.provides.len()).sum());
        let mut files = MultiMap::with_capacity(packages.iter().map(|p| p.files.len()).sum());
        for (s, &p) in order.iter().enumerate() {
            let pkg = &packages[p as usize];
            let solvable = SolvableId(s as u32);
            for (i, provide) in pkg.provides.iter().enumerate() {
                provides.push(relation_name(format, &provide.name), (solvable, i as u32));
            }
            for file in &pkg.files {
                files.push(file.as_str(), solvable);
            }
        }
        Pool {
            format,
            packages,
            order,
            solvable_name,
            names,
            name_ids,
            candidates,
            provides,
            files,
            ignores: HashSet::new(),
            lazy: RefCell::default(),
            explored: Cell::new(0),
            followed: Cell::new(0),
            started: Instant::now(),
            bounds: Bounds {
                packages: usize::MAX,
                relations: usize::MAX,
                time: Duration::MAX,
            },
        }
    }

    /// The first of `roots` whose forced closure takes the names counted past `max`: a
    /// walk from each relation satisfied by one package name only, through
    /// that name's dependencies when it has one candidate, following only dependencies
    /// without alternatives that again only one name satisfies. Every name it reaches is in
    /// any solution, so the count never exceeds the real closure; a chain of single
    /// dependencies is counted in one pass over it, without building the solver's problem.
    fn forced_closure_exceeds<'r>(
        &self,
        roots: impl Iterator<Item = &'r Relation>,
        max: usize,
    ) -> Option<&'r Relation> {
        let mut seen: HashSet<NameId> = HashSet::new();
        let mut queue: Vec<SolvableId> = Vec::new();
        let mut group: Vec<&Relation> = Vec::new();
        // The one solvable a relation forces, when it names one package with one candidate.
        let forced = |rel: &Relation, seen: &mut HashSet<NameId>| -> Option<Option<SolvableId>> {
            if self.ignored(rel) {
                return None;
            }
            let mut names = self.expand(rel, None);
            if names.len() != 1 {
                return None;
            }
            let (name, members) = names.pop()?;
            if !seen.insert(name) {
                return None;
            }
            // A forced name with several candidates counts, but its dependencies may differ.
            Some((members.len() == 1).then(|| members[0]))
        };
        for root in roots {
            if let Some(first) = forced(root, &mut seen) {
                queue.extend(first);
            }
            while let Some(s) = queue.pop() {
                if seen.len() > max {
                    return Some(root);
                }
                for alternatives in &self.package(s).depends {
                    let [rel] = alternatives.as_slice() else {
                        continue;
                    };
                    group.clear();
                    group.push(rel);
                    if self.ignored_by_request(&group) {
                        continue;
                    }
                    if let Some(next) = forced(rel, &mut seen) {
                        queue.extend(next);
                    }
                }
            }
            if seen.len() > max {
                return Some(root);
            }
        }
        None
    }

    /// Solvable ids of a real package name; none for names no package has.
    fn candidates_of(&self, name: NameId) -> impl Iterator<Item = SolvableId> + use<> {
        self.candidates
            .get(name.0 as usize)
            .cloned()
            .unwrap_or(0..0)
            .map(SolvableId)
    }

    fn package(&self, s: SolvableId) -> &'a PackageMeta {
        &self.packages[self.order[s.0 as usize] as usize]
    }

    fn name_str(&self, name: NameId) -> String {
        match self.names.get(name.0 as usize) {
            Some(n) => (*n).to_owned(),
            None => self.lazy.borrow().unknown_names[name.0 as usize - self.names.len()].clone(),
        }
    }

    fn name_id(&self, name: &str) -> NameId {
        if let Some(&id) = self.name_ids.get(name) {
            return id;
        }
        let mut lazy = self.lazy.borrow_mut();
        if let Some(&id) = lazy.unknown_name_ids.get(name) {
            return id;
        }
        let id = NameId((self.names.len() + lazy.unknown_names.len()) as u32);
        lazy.unknown_names.push(name.to_owned());
        lazy.unknown_name_ids.insert(name.to_owned(), id);
        id
    }

    /// Relations that the package manager itself satisfies, never a package.
    fn ignored(&self, r: &Relation) -> bool {
        self.format == Format::Rpm && r.name.starts_with("rpmlib(")
    }

    /// Whether a package's requirement `group` is not followed because the request ignores
    /// its name or a package satisfying it, as obs-build's expander skips it.
    fn ignored_by_request(&self, group: &[&Relation]) -> bool {
        !self.ignores.is_empty()
            && group.iter().any(|r| {
                self.ignores.contains(relation_name(self.format, &r.name))
                    || self
                        .expand(r, None)
                        .iter()
                        .any(|(name, _)| self.ignores.contains(&self.name_str(*name)))
            })
    }

    /// The formula of a rich dependency over version sets; a leaf is the union of what
    /// satisfies its relation. `positive` says whether the leaf counts for the root (an
    /// ignored name then holds trivially, as obs-build has it) or is a condition.
    fn formula(&self, rich: &Rich, positive: bool) -> Formula {
        let f = |r: &Rich, p: bool| Box::new(self.formula(r, p));
        match rich {
            Rich::Leaf(rel) => {
                if positive && self.ignores.contains(&*rel.name) {
                    return Formula::True;
                }
                let label = relation_text(self.format, rel);
                Formula::Any(
                    self.expand(rel, None)
                        .into_iter()
                        .map(|(name, members)| {
                            self.version_set(name, members, false, label.clone())
                        })
                        .collect(),
                )
            }
            Rich::And(a, b) => Formula::And(f(a, positive), f(b, positive)),
            Rich::Or(a, b) => Formula::Or(f(a, positive), f(b, positive)),
            // `a if b` is a or not b; `a unless b` is a and not b; an `else` c adds
            // (c or b), resp. is the alternative (c and b).
            Rich::If(a, b, c) => {
                let first = Formula::Or(f(a, positive), Box::new(Formula::Not(f(b, !positive))));
                match c {
                    None => first,
                    Some(c) => Formula::And(
                        Box::new(first),
                        Box::new(Formula::Or(f(c, positive), f(b, positive))),
                    ),
                }
            }
            Rich::Unless(a, b, c) => {
                let first = Formula::And(f(a, positive), Box::new(Formula::Not(f(b, !positive))));
                match c {
                    None => first,
                    Some(c) => Formula::Or(
                        Box::new(first),
                        Box::new(Formula::And(f(c, positive), f(b, positive))),
                    ),
                }
            }
            Rich::With(a, b) | Rich::Without(a, b) => {
                // Only between plain sets of packages, as obs-build allows it.
                let (Some(x), Some(y)) = (self.solvables(a), self.solvables(b)) else {
                    return Formula::Any(Vec::new());
                };
                let with = matches!(rich, Rich::With(..));
                // Sets and an index, not scans: both sides may be 100,000 providers.
                let y: HashSet<SolvableId> = y.into_iter().collect();
                let kept = x.into_iter().filter(|s| y.contains(s) == with);
                let label = rich.to_string();
                let mut by_name: Vec<(NameId, Vec<SolvableId>)> = Vec::new();
                let mut slot: HashMap<NameId, usize> = HashMap::new();
                for s in kept {
                    let n = self.solvable_name[s.0 as usize];
                    match slot.get(&n) {
                        Some(&i) => by_name[i].1.push(s),
                        None => {
                            slot.insert(n, by_name.len());
                            by_name.push((n, vec![s]));
                        }
                    }
                }
                Formula::Any(
                    by_name
                        .into_iter()
                        .map(|(n, mut members)| {
                            members.sort_unstable();
                            self.version_set(n, members, false, label.clone())
                        })
                        .collect(),
                )
            }
        }
    }

    /// The packages satisfying a plain side of `with`/`without`: a relation or an `or` of
    /// relations.
    fn solvables(&self, rich: &Rich) -> Option<Vec<SolvableId>> {
        match rich {
            Rich::Leaf(rel) => Some(
                self.expand(rel, None)
                    .into_iter()
                    .flat_map(|(_, members)| members)
                    .collect(),
            ),
            Rich::Or(a, b) => {
                let mut all = self.solvables(a)?;
                all.extend(self.solvables(b)?);
                Some(all)
            }
            _ => None,
        }
    }

    /// Adds a rich dependency of the request (or, with `conflict`, its negation) as
    /// clauses: a clause's positive sets are a requirement, its negative ones the condition
    /// under which it holds; a clause of one negative set alone is a constraint.
    fn add_rich(
        &self,
        rich: &Rich,
        conflict: bool,
        origin: &str,
        requirements: &mut Vec<ConditionalRequirement>,
        constraints: &mut Vec<VersionSetId>,
    ) -> Result<()> {
        let formula = self.formula(rich, !conflict);
        let clauses = cnf(&formula, conflict).ok_or_else(|| {
            anyhow::anyhow!("{origin}: {rich} is too complex (more than {MAX_CLAUSES} clauses or {MAX_LITERALS} alternatives)")
        })?;
        let text = if conflict {
            format!("(conflicts with {rich})")
        } else {
            rich.to_string()
        };
        for clause in clauses {
            let pos: Vec<VersionSetId> = clause.iter().filter(|l| !l.0).map(|l| l.1).collect();
            let neg: Vec<VersionSetId> = clause.iter().filter(|l| l.0).map(|l| l.1).collect();
            if pos.is_empty() && neg.is_empty() {
                if conflict {
                    bail!("{origin}: conflicts with {rich}, which always holds");
                }
                bail!("{origin} needs {rich}, which no repository provides");
            }
            if pos.is_empty() && neg.len() == 1 {
                let (name, members, label) = {
                    let lazy = self.lazy.borrow();
                    let vs = &lazy.version_sets[neg[0].0 as usize];
                    (vs.name, vs.members.clone(), vs.label.clone())
                };
                let vs = self.version_set(name, members, true, label);
                self.lazy
                    .borrow_mut()
                    .conflict_origins
                    .entry(vs)
                    .or_insert_with(|| origin.to_string());
                constraints.push(vs);
                continue;
            }
            let requirement = if pos.is_empty() {
                // Nothing can be chosen: the condition must not hold.
                let name = self.version_set_name(neg[0]);
                Requirement::Single(self.version_set(name, Vec::new(), false, text.clone()))
            } else if pos.len() == 1 {
                Requirement::Single(pos[0])
            } else {
                let mut lazy = self.lazy.borrow_mut();
                let id = VersionSetUnionId(lazy.unions.len() as u32);
                lazy.unions.push(pos.into());
                Requirement::Union(id)
            };
            let condition = neg.into_iter().fold(None, |acc, vs| {
                let mut lazy = self.lazy.borrow_mut();
                lazy.conditions.push(Condition::Requirement(vs));
                let leaf = ConditionId::new(lazy.conditions.len() as u32 - 1);
                Some(match acc {
                    None => leaf,
                    Some(prev) => {
                        lazy.conditions
                            .push(Condition::Binary(LogicalOperator::And, prev, leaf));
                        ConditionId::new(lazy.conditions.len() as u32 - 1)
                    }
                })
            });
            {
                let mut lazy = self.lazy.borrow_mut();
                lazy.requirement_labels
                    .entry(requirement)
                    .or_insert_with(|| text.clone());
                lazy.origins
                    .entry(requirement)
                    .or_insert_with(|| origin.to_string());
            }
            requirements.push(ConditionalRequirement {
                condition,
                requirement,
            });
        }
        Ok(())
    }

    /// Whether provide `p` satisfies `wanted`. Debian: a versioned relation needs a versioned
    /// provide. RPM: an unversioned provide overlaps every version, as rpm decides.
    fn provide_matches(&self, p: &Relation, wanted: &Relation) -> bool {
        match (&wanted.version, &p.version) {
            (None, _) => true,
            (Some(_), None) => self.format == Format::Rpm,
            // Provides are `=` in practice; other operators are read as `=` too.
            (Some((op, want)), Some((_, have))) => satisfies(self.format, have, *op, want),
        }
    }

    /// The solvables satisfying `rel`, grouped by package name, in preference order: the real
    /// package first, then providers by Debian priority and name. Solvables of `skip` are
    /// left out (a package never conflicts with itself).
    fn expand(&self, rel: &Relation, skip: Option<NameId>) -> Vec<(NameId, Vec<SolvableId>)> {
        let name = relation_name(self.format, &rel.name);
        let mut out = Vec::new();
        let real = self.name_ids.get(name).copied();
        if let Some(id) = real.filter(|&id| Some(id) != skip) {
            let members: Vec<SolvableId> = self
                .candidates_of(id)
                .filter(|&s| match &rel.version {
                    None => true,
                    Some((op, want)) => satisfies(self.format, &self.package(s).version, *op, want),
                })
                .collect();
            if !members.is_empty() {
                out.push((id, members));
            }
        }
        let mut others: Vec<(NameId, Vec<SolvableId>)> = Vec::new();
        let mut add = |s: SolvableId| {
            let n = self.solvable_name[s.0 as usize];
            // The real package's own (RPM self-)provide is already covered above.
            if Some(n) == real || Some(n) == skip {
                return;
            }
            match others.last_mut() {
                Some((last, members)) if *last == n => {
                    if members.last() != Some(&s) {
                        members.push(s)
                    }
                }
                _ => others.push((n, vec![s])),
            }
        };
        // Index lists are in solvable order, so each provider's solvables come together.
        for (s, i) in self.provides.get(name) {
            if self.provide_matches(&self.package(s).provides[i as usize], rel) {
                add(s);
            }
        }
        if rel.version.is_none() {
            for s in self.files.get(name) {
                add(s);
            }
        }
        // File owners and providers may both list a package: merge its entries.
        others.sort_by_key(|(n, _)| *n);
        others.dedup_by(|(n, later), (m, first)| {
            n == m && {
                first.append(later);
                first.sort_unstable();
                first.dedup();
                true
            }
        });
        others.sort_by_key(|(n, members)| {
            let rank = members
                .iter()
                .map(|&s| priority_rank(&self.package(s).priority))
                .min();
            (rank, self.names[n.0 as usize])
        });
        out.extend(others);
        out
    }

    fn version_set(
        &self,
        name: NameId,
        members: Vec<SolvableId>,
        negated: bool,
        label: String,
    ) -> VersionSetId {
        let mut lazy = self.lazy.borrow_mut();
        let key = (name, negated, members);
        if let Some(&id) = lazy.version_set_ids.get(&key) {
            return id;
        }
        let id = VersionSetId(lazy.version_sets.len() as u32);
        let (name, negated, members) = key.clone();
        lazy.version_sets.push(VersionSet {
            name,
            members,
            negated,
            label,
        });
        lazy.version_set_ids.insert(key, id);
        id
    }

    /// The requirement for an OR-group of relations (a single relation is a group of one).
    fn requirement(&self, group: &[&'a Relation]) -> Requirement {
        let key: Vec<RelKey<'a>> = group.iter().map(|r| rel_key(r)).collect();
        if let Some(&req) = self.lazy.borrow().requirements.get(&key) {
            return req;
        }
        let mut sets = Vec::new();
        let mut seen = HashSet::new();
        for rel in group {
            for (name, members) in self.expand(rel, None) {
                // A solvable listed twice in one clause gains nothing: keep its first place.
                let members: Vec<SolvableId> =
                    members.into_iter().filter(|s| seen.insert(*s)).collect();
                if !members.is_empty() {
                    let label = if Some(&name)
                        == self.name_ids.get(relation_name(self.format, &rel.name))
                    {
                        version_label(self.format, rel)
                    } else {
                        format!("(provides {})", relation_text(self.format, rel))
                    };
                    sets.push(self.version_set(name, members, false, label));
                }
            }
        }
        if sets.is_empty() {
            // Nothing satisfies it: an empty set still lets resolvo report it as missing.
            let rel = group[0];
            let name = self.name_id(relation_name(self.format, &rel.name));
            sets.push(self.version_set(name, Vec::new(), false, version_label(self.format, rel)));
        }
        let req = if sets.len() == 1 {
            Requirement::Single(sets[0])
        } else {
            let mut lazy = self.lazy.borrow_mut();
            let id = VersionSetUnionId(lazy.unions.len() as u32);
            lazy.unions.push(sets.into());
            Requirement::Union(id)
        };
        let label = group
            .iter()
            .map(|r| relation_text(self.format, r))
            .collect::<Vec<_>>()
            .join(" | ");
        let mut lazy = self.lazy.borrow_mut();
        lazy.requirements.insert(key, req);
        lazy.requirement_labels.insert(req, label);
        req
    }

    /// The `constrains` version sets for conflict `rel` declared by a package named `owner`.
    fn constraints(&self, rel: &'a Relation, owner: NameId) -> Rc<[VersionSetId]> {
        let key = (rel_key(rel), owner);
        if let Some(sets) = self.lazy.borrow().constraints.get(&key) {
            return sets.clone();
        }
        let label = relation_text(self.format, rel);
        let sets: Rc<[VersionSetId]> = self
            .expand(rel, Some(owner))
            .into_iter()
            .map(|(name, members)| self.version_set(name, members, true, label.clone()))
            .collect();
        self.lazy.borrow_mut().constraints.insert(key, sets.clone());
        sets
    }

    fn requirement_label(&self, req: Requirement) -> String {
        self.lazy
            .borrow()
            .requirement_labels
            .get(&req)
            .cloned()
            .unwrap_or_default()
    }
}

/// The most clauses a rich dependency may turn into.
const MAX_CLAUSES: usize = 4096;

/// The most literals its clauses may hold together: a leaf is one literal per providing
/// name, so 4096 clauses over virtuals of 100,000 providers would be gigabytes.
const MAX_LITERALS: usize = 1 << 20;

fn literals(clauses: &[Vec<Literal>]) -> usize {
    clauses.iter().map(Vec::len).sum()
}

/// A rich dependency as a formula over version sets.
enum Formula {
    True,
    /// Some package of one of these sets (none: false).
    Any(Vec<VersionSetId>),
    And(Box<Formula>, Box<Formula>),
    Or(Box<Formula>, Box<Formula>),
    Not(Box<Formula>),
}

/// A literal: (negated, version set).
type Literal = (bool, VersionSetId);

/// The conjunctive normal form of `f` (negated with `negate`): clauses of literals, none
/// for true, an empty clause for false. Tautological clauses are dropped. `None` when it
/// would exceed [`MAX_CLAUSES`].
fn cnf(f: &Formula, negate: bool) -> Option<Vec<Vec<Literal>>> {
    Some(match (f, negate) {
        (Formula::True, false) => Vec::new(),
        (Formula::True, true) => vec![Vec::new()],
        (Formula::Any(sets), false) => vec![sets.iter().map(|&s| (false, s)).collect()],
        (Formula::Any(sets), true) => sets.iter().map(|&s| vec![(true, s)]).collect(),
        (Formula::Not(x), n) => cnf(x, !n)?,
        (Formula::And(a, b), false) | (Formula::Or(a, b), true) => {
            let mut out = cnf(a, negate)?;
            out.extend(cnf(b, negate)?);
            if out.len() > MAX_CLAUSES || literals(&out) > MAX_LITERALS {
                return None;
            }
            out
        }
        (Formula::Or(a, b), false) | (Formula::And(a, b), true) => {
            let (x, y) = (cnf(a, negate)?, cnf(b, negate)?);
            if x.len().saturating_mul(y.len()) > MAX_CLAUSES {
                return None;
            }
            let mut out = Vec::new();
            let mut total = 0usize;
            for p in &x {
                for q in &y {
                    // A clause is as long as its leaves have providers (100,000 of a
                    // virtual): membership by a set, not by scanning the clause.
                    let mut c = p.clone();
                    let mut seen: HashSet<Literal> = p.iter().copied().collect();
                    for &l in q {
                        if seen.insert(l) {
                            c.push(l);
                        }
                    }
                    if !c.iter().any(|&(n, s)| seen.contains(&(!n, s))) {
                        total += c.len();
                        if total > MAX_LITERALS {
                            return None;
                        }
                        out.push(c);
                    }
                }
            }
            out
        }
    })
}

fn rel_key(r: &Relation) -> RelKey<'_> {
    (&r.name, r.version.as_ref().map(|(op, v)| (*op, &**v)))
}

/// The package a relation names: Debian's `:any`/`:native`/`:amd64` qualifiers do not change
/// which package it is.
fn relation_name(format: Format, name: &str) -> &str {
    match format {
        Format::Deb => name.split_once(':').map_or(name, |(n, _)| n),
        Format::Rpm => name,
    }
}

/// Debian priorities, most important first; a provider of higher priority is tried first, as
/// apt would (mawk before gawk for `awk`).
fn priority_rank(priority: &str) -> u8 {
    match priority {
        "required" => 0,
        "important" => 1,
        "standard" => 2,
        "optional" => 3,
        "extra" => 4,
        _ => 5,
    }
}

fn version_label(format: Format, r: &Relation) -> String {
    match (&r.version, format) {
        (None, _) => String::new(),
        (Some((op, v)), Format::Deb) => format!("({} {v})", op.text(format)),
        (Some((op, v)), Format::Rpm) => format!("{} {v}", op.text(format)),
    }
}

/// A relation as its format writes it: `libc6 (>= 2.36)`, `glibc >= 2.38`.
fn relation_text(format: Format, r: &Relation) -> String {
    match &r.version {
        None => r.name.to_string(),
        Some(_) => format!("{} {}", r.name, version_label(format, r)),
    }
}

impl Interner for Pool<'_> {
    fn display_solvable(&self, solvable: SolvableId) -> impl std::fmt::Display + '_ {
        let p = self.package(solvable);
        format!("{} {}", p.name, p.version)
    }

    fn display_name(&self, name: NameId) -> impl std::fmt::Display + '_ {
        self.name_str(name)
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl std::fmt::Display + '_ {
        let lazy = self.lazy.borrow();
        let vs = &lazy.version_sets[version_set.0 as usize];
        if vs.negated {
            format!("(conflicts with {})", vs.label)
        } else {
            vs.label.clone()
        }
    }

    fn display_string(&self, string_id: StringId) -> impl std::fmt::Display + '_ {
        self.lazy.borrow().strings[string_id.0 as usize].clone()
    }

    fn version_set_name(&self, version_set: VersionSetId) -> NameId {
        self.lazy.borrow().version_sets[version_set.0 as usize].name
    }

    fn solvable_name(&self, solvable: SolvableId) -> NameId {
        self.solvable_name[solvable.0 as usize]
    }

    fn version_sets_in_union(
        &self,
        version_set_union: VersionSetUnionId,
    ) -> impl Iterator<Item = VersionSetId> {
        // An Rc clone, not a borrow: resolvo calls this in its inner loop.
        let sets = self.lazy.borrow().unions[version_set_union.0 as usize].clone();
        (0..sets.len()).map(move |i| sets[i])
    }

    fn resolve_condition(&self, condition: ConditionId) -> Condition {
        self.lazy.borrow().conditions[condition.as_u32() as usize].clone()
    }
}

impl DependencyProvider for Pool<'_> {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let lazy = self.lazy.borrow();
        let vs = &lazy.version_sets[version_set.0 as usize];
        candidates
            .iter()
            .copied()
            .filter(|s| (vs.members.binary_search(s).is_ok() != vs.negated) != inverse)
            .collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates> {
        let candidates = self.candidates_of(name).collect();
        Some(Candidates {
            candidates,
            ..Candidates::default()
        })
    }

    async fn sort_candidates(&self, _solver: &SolverCache<Self>, solvables: &mut [SolvableId]) {
        // Within a name, a higher id is a higher version (or an earlier repository).
        solvables.sort_unstable_by(|a, b| b.cmp(a));
    }

    fn should_cancel_with_value(&self) -> Option<Box<dyn Any>> {
        if self.explored.get() > self.bounds.packages {
            return Some(Box::new(Stop::Packages));
        }
        if self.followed.get() > self.bounds.relations {
            return Some(Box::new(Stop::Relations));
        }
        if self.started.elapsed() > self.bounds.time {
            return Some(Box::new(Stop::Time));
        }
        None
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        // resolvo asks once per solvable it decides to install (or tries to).
        self.explored.set(self.explored.get() + 1);
        let pkg = self.package(solvable);
        let followed = self.followed.get() + pkg.depends.len() + pkg.conflicts.len();
        self.followed.set(followed);
        if followed > self.bounds.relations {
            // Not built: resolvo is cancelled at its next look at the bounds.
            return Dependencies::Known(KnownDependencies::default());
        }
        let mut requirements: Vec<ConditionalRequirement> = Vec::with_capacity(pkg.depends.len());
        let mut group = Vec::new();
        for alternatives in &pkg.depends {
            group.clear();
            group.extend(alternatives.iter().filter(|r| !self.ignored(r)));
            if group.is_empty() || self.ignored_by_request(&group) {
                continue;
            }
            let req: ConditionalRequirement = self.requirement(&group).into();
            if !requirements.contains(&req) {
                requirements.push(req);
            }
        }
        let owner = self.solvable_name[solvable.0 as usize];
        let mut constrains = Vec::new();
        for rel in &pkg.conflicts {
            for &vs in self.constraints(rel, owner).iter() {
                if !constrains.contains(&vs) {
                    constrains.push(vs);
                }
            }
        }
        Dependencies::Known(KnownDependencies {
            requirements,
            constrains,
        })
    }
}

/// One reason the request cannot be met, found in resolvo's conflict graph.
struct Cause {
    /// Orders causes: missing packages first, then conflicts, then version clashes, each by
    /// how deep in the chain they sit.
    rank: (u8, usize),
    text: String,
}

/// Turns resolvo's conflict graph into a message: a first line with the most direct cause,
/// then the other causes, each with the chain of packages that needed it.
fn explain(pool: &Pool, graph: &ConflictGraph) -> String {
    let nodes = graph.graph.raw_nodes();
    let edges = graph.graph.raw_edges();
    let root = graph.root_node.index();
    let solvable = |n: usize| match nodes[n].weight {
        ConflictNode::Solvable(s) => s.solvable(),
        _ => None,
    };

    // Shortest requires-path from the request to every package: "needed by a → b → c".
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, e) in edges.iter().enumerate() {
        out[e.source().index()].push(i);
    }
    let mut parent: Vec<Option<usize>> = vec![None; nodes.len()];
    let mut seen = vec![false; nodes.len()];
    seen[root] = true;
    let mut queue = std::collections::VecDeque::from([root]);
    while let Some(n) = queue.pop_front() {
        for &e in &out[n] {
            let t = edges[e].target().index();
            if matches!(edges[e].weight, ConflictEdge::Requires(_))
                && solvable(t).is_some()
                && !seen[t]
            {
                seen[t] = true;
                parent[t] = Some(n);
                queue.push_back(t);
            }
        }
    }
    let chain = |n: usize| -> Vec<String> {
        let mut names = Vec::new();
        let mut at = Some(n);
        while let Some(node) = at {
            if let Some(s) = solvable(node) {
                names.push(pool.package(s).name.clone());
            }
            at = parent[node];
        }
        names.reverse();
        names
    };
    let needed_by = |n: usize| -> String {
        let names = chain(n);
        if names.is_empty() {
            String::new()
        } else {
            format!("needed by {}", names.join(" → "))
        }
    };
    let show = |s: SolvableId| {
        let p = pool.package(s);
        format!("{} {}", p.name, p.version)
    };

    let mut causes = Vec::new();
    let mut clashes: Vec<(NameId, Vec<usize>)> = Vec::new();
    for e in edges {
        let (src, dst) = (e.source().index(), e.target().index());
        match e.weight {
            ConflictEdge::Requires(req) if Some(e.target()) == graph.unresolved_node => {
                let label = pool.requirement_label(req);
                let mut text = match solvable(src) {
                    Some(s) => format!("{} requires {label}", pool.package(s).name),
                    None => match pool.lazy.borrow().origins.get(&req) {
                        Some(origin) => format!("{origin} needs {label}"),
                        None => format!("the request needs {label}"),
                    },
                };
                let available = available_versions(pool, req);
                if available.is_empty() {
                    text.push_str(", which no repository provides");
                } else {
                    let _ = write!(
                        text,
                        ", but repositories only have {}",
                        available.join(", ")
                    );
                }
                let chain = needed_by(src);
                if !chain.is_empty() {
                    let _ = write!(text, " ({chain})");
                }
                causes.push(Cause {
                    rank: (0, chain.len()),
                    text,
                });
            }
            ConflictEdge::Conflict(ConflictCause::Constrains(vs)) if solvable(src).is_none() => {
                // A conflict of the request itself.
                let Some(hit) = solvable(dst) else { continue };
                let lazy = pool.lazy.borrow();
                let label = &lazy.version_sets[vs.0 as usize].label;
                let origin = lazy
                    .conflict_origins
                    .get(&vs)
                    .map_or("the request", String::as_str);
                let mut text = format!(
                    "{origin} conflicts with {label}, but {} is needed",
                    show(hit)
                );
                let chain = needed_by(dst);
                if !chain.is_empty() {
                    let _ = write!(text, " ({chain})");
                }
                causes.push(Cause {
                    rank: (1, chain.len()),
                    text,
                });
            }
            ConflictEdge::Conflict(ConflictCause::Constrains(vs)) => {
                let (Some(by), Some(hit)) = (solvable(src), solvable(dst)) else {
                    continue;
                };
                let label = pool.lazy.borrow().version_sets[vs.0 as usize].label.clone();
                let mut text = format!(
                    "{} conflicts with {label}, but {} is needed too",
                    show(by),
                    show(hit)
                );
                let (a, b) = (needed_by(src), needed_by(dst));
                let parts: Vec<String> = [(by, a), (hit, b)]
                    .into_iter()
                    .filter(|(_, c)| !c.is_empty())
                    .map(|(s, c)| format!("{} {c}", pool.package(s).name))
                    .collect();
                if !parts.is_empty() {
                    let _ = write!(text, " ({})", parts.join("; "));
                }
                causes.push(Cause {
                    rank: (1, chain(src).len() + chain(dst).len()),
                    text,
                });
            }
            ConflictEdge::Conflict(ConflictCause::ForbidMultipleInstances) => {
                let Some(s) = solvable(src) else { continue };
                let name = pool.solvable_name[s.0 as usize];
                let group = match clashes.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, g)) => g,
                    None => {
                        clashes.push((name, Vec::new()));
                        &mut clashes.last_mut().expect("just pushed").1
                    }
                };
                for n in [src, dst] {
                    if !group.contains(&n) {
                        group.push(n);
                    }
                }
            }
            _ => {}
        }
    }
    for (name, group) in clashes {
        let versions: Vec<String> = group
            .iter()
            .filter_map(|&n| {
                let s = solvable(n)?;
                let chain = needed_by(n);
                Some(if chain.is_empty() {
                    pool.package(s).version.clone()
                } else {
                    format!("{} ({chain})", pool.package(s).version)
                })
            })
            .collect();
        let depth = group.iter().map(|&n| chain(n).len()).sum();
        causes.push(Cause {
            rank: (2, depth),
            text: format!(
                "only one version of {} can be installed, but these are all needed: {}",
                pool.name_str(name),
                versions.join(", ")
            ),
        });
    }

    causes.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| a.text.cmp(&b.text)));
    causes.dedup_by(|a, b| a.text == b.text);
    let Some((first, rest)) = causes.split_first() else {
        return "cannot resolve the request (resolvo reported a conflict without a cause)".into();
    };
    const MORE: usize = 8;
    let mut msg = format!("cannot resolve: {}", first.text);
    for cause in rest.iter().take(MORE) {
        let _ = write!(msg, "\n  also: {}", cause.text);
    }
    if rest.len() > MORE {
        let _ = write!(msg, "\n  … and {} more", rest.len() - MORE);
    }
    msg
}

/// Versions of the packages a failed requirement names, when they exist but do not match.
fn available_versions(pool: &Pool, req: Requirement) -> Vec<String> {
    let lazy = pool.lazy.borrow();
    let sets: Vec<VersionSetId> = match req {
        Requirement::Single(vs) => vec![vs],
        Requirement::Union(u) => lazy.unions[u.0 as usize].to_vec(),
    };
    let mut out = Vec::new();
    for vs in sets {
        let name = lazy.version_sets[vs.0 as usize].name;
        for s in pool.candidates_of(name) {
            let p = pool.package(s);
            out.push(format!("{} {}", p.name, p.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name (op version)` the Debian way, or `name op version` the RPM way.
    fn rel(s: &str) -> Relation {
        let s = s.trim();
        let (name, rest) = s.split_once(' ').unwrap_or((s, ""));
        let rest = rest
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim();
        let version = rest.split_once(' ').map(|(op, v)| {
            let op = Op::parse_deb(op)
                .filter(|_| !matches!(op, "<" | ">"))
                .or_else(|| Op::parse_rpm(op))
                .unwrap_or_else(|| panic!("operator {op}"));
            (op, v.trim().into())
        });
        Relation {
            name: name.into(),
            version,
        }
    }

    /// `a | b (>= 1), c`: groups by comma, alternatives by bar.
    fn groups(s: &str) -> Vec<Vec<Relation>> {
        s.split(',')
            .filter(|g| !g.trim().is_empty())
            .map(|g| g.split('|').map(rel).collect())
            .collect()
    }

    fn list(s: &str) -> Vec<Relation> {
        groups(s).into_iter().flatten().collect()
    }

    fn pkg(format: Format, name: &str, version: &str) -> PackageMeta {
        PackageMeta {
            format,
            name: name.into(),
            version: version.into(),
            arch: if format == Format::Deb {
                "amd64"
            } else {
                "x86_64"
            }
            .into(),
            depends: Vec::new(),
            provides: Vec::new(),
            conflicts: Vec::new(),
            files: Vec::new(),
            essential: false,
            priority: String::new(),
            multi_arch: String::new(),
            location: format!("{name}_{version}"),
            checksum: None,
            size: 0,
            repo: 0,
        }
    }

    /// A package from a one-line spec: `name version [; depends [; provides [; conflicts]]]`.
    fn p(format: Format, spec: &str) -> PackageMeta {
        let mut parts = spec.split(';');
        let head = parts.next().unwrap();
        let (name, version) = head.trim().split_once(' ').unwrap();
        let mut meta = pkg(format, name, version.trim());
        meta.depends = groups(parts.next().unwrap_or(""));
        meta.provides = list(parts.next().unwrap_or(""));
        meta.conflicts = list(parts.next().unwrap_or(""));
        meta
    }

    fn deb(specs: &[&str]) -> Vec<PackageMeta> {
        specs.iter().map(|s| p(Format::Deb, s)).collect()
    }

    fn rpm(specs: &[&str]) -> Vec<PackageMeta> {
        specs.iter().map(|s| p(Format::Rpm, s)).collect()
    }

    /// The resolved set as `name=version`, in the order `resolve` returns.
    fn solve(packages: &[PackageMeta], request: &str) -> Result<Vec<String>> {
        let picked = resolve(packages, &list(request))?;
        Ok(picked
            .iter()
            .map(|&i| format!("{}={}", packages[i].name, packages[i].version))
            .collect())
    }

    fn ok(packages: &[PackageMeta], request: &str) -> Vec<String> {
        solve(packages, request).unwrap_or_else(|e| panic!("{request}: {e:#}"))
    }

    fn err(packages: &[PackageMeta], request: &str) -> String {
        match solve(packages, request) {
            Ok(found) => panic!("{request} resolved to {found:?}"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn closure_sorted_by_name_and_highest_version() {
        let repo = deb(&[
            "app 1; libz (>= 1), libc",
            "libz 1; libc",
            "libz 2; libc",
            "libc 3",
            "unrelated 1",
        ]);
        assert_eq!(ok(&repo, "app"), ["app=1", "libc=3", "libz=2"]);
        assert_eq!(ok(&repo, "app, libz (<< 2)"), ["app=1", "libc=3", "libz=1"]);
    }

    #[test]
    fn alternatives_prefer_the_first_that_works() {
        let repo = deb(&["a 1; b | c", "b 1", "c 1"]);
        assert_eq!(ok(&repo, "a"), ["a=1", "b=1"]);
        let repo = deb(&["a 1; b | c", "c 1"]);
        assert_eq!(ok(&repo, "a"), ["a=1", "c=1"]);
        // The first alternative wins even when a later one sorts first by name.
        let repo = deb(&["a 1; zz | aa", "zz 1", "aa 1"]);
        assert_eq!(ok(&repo, "a"), ["a=1", "zz=1"]);
        // An unsatisfiable first alternative falls through.
        let repo = deb(&["a 1; b (>= 2) | c", "b 1", "c 1"]);
        assert_eq!(ok(&repo, "a"), ["a=1", "c=1"]);
    }

    /// The request with OR-groups and conflicts, as a source package's build relations
    /// give them: `depends` as groups, `conflicts` as a list.
    fn solve_needs(
        packages: &[PackageMeta],
        depends: &str,
        conflicts: &str,
    ) -> Result<Vec<String>> {
        let groups: Vec<(Vec<Relation>, String)> = groups(depends)
            .into_iter()
            .map(|g| (g, "Build-Depends of x.dsc".to_string()))
            .collect();
        let conflicts: Vec<(Relation, String)> = list(conflicts)
            .into_iter()
            .map(|r| (r, "Build-Conflicts of x.dsc".to_string()))
            .collect();
        let picked = resolve_needs(packages, &[], &groups, &conflicts)?;
        Ok(picked
            .iter()
            .map(|&i| format!("{}={}", packages[i].name, packages[i].version))
            .collect())
    }

    #[test]
    fn request_groups_take_the_first_satisfiable_alternative() {
        let repo = deb(&["make 4", "klibc 2.0.12", "bmake 1"]);
        assert_eq!(
            solve_needs(&repo, "missing | make", "").unwrap(),
            ["make=4"]
        );
        assert_eq!(
            solve_needs(&repo, "klibc (<< 2.0.10) | klibc (>> 2.0.11)", "").unwrap(),
            ["klibc=2.0.12"]
        );
        assert_eq!(solve_needs(&repo, "make | bmake", "").unwrap(), ["make=4"]);
        let e = format!(
            "{:#}",
            solve_needs(&repo, "nonesuch (>= 1)", "").unwrap_err()
        );
        assert!(
            e.contains(
                "Build-Depends of x.dsc needs nonesuch (>= 1), which no repository provides"
            ),
            "{e}"
        );
    }

    #[test]
    fn request_conflicts_keep_packages_out() {
        // bzip2 would be the first choice; the conflict makes the resolver take xz.
        let repo = deb(&["tool 1; bzip2 | xz-utils", "bzip2 1", "xz-utils 5"]);
        assert_eq!(
            solve_needs(&repo, "tool", "").unwrap(),
            ["bzip2=1", "tool=1"]
        );
        assert_eq!(
            solve_needs(&repo, "tool", "bzip2").unwrap(),
            ["tool=1", "xz-utils=5"]
        );
        // A versioned conflict only forbids the versions it names.
        assert_eq!(
            solve_needs(&repo, "tool", "bzip2 (>> 1)").unwrap(),
            ["bzip2=1", "tool=1"]
        );
        let repo = deb(&["tool 1; bzip2", "bzip2 1"]);
        let e = format!("{:#}", solve_needs(&repo, "tool", "bzip2").unwrap_err());
        assert!(
            e.contains("Build-Conflicts of x.dsc conflicts with bzip2, but bzip2 1 is needed (needed by tool"),
            "{e}"
        );
    }

    #[test]
    fn virtual_packages() {
        let repo = deb(&[
            "app 1; mail-transport-agent",
            "postfix 3; ; mail-transport-agent",
            "exim4 4; ; mail-transport-agent",
        ]);
        // No priorities: the provider's name decides, for a stable answer.
        assert_eq!(ok(&repo, "app"), ["app=1", "exim4=4"]);
        let mut repo = repo;
        repo[1].priority = "important".into();
        repo[2].priority = "optional".into();
        assert_eq!(ok(&repo, "app"), ["app=1", "postfix=3"]);
        // A real package of the name beats any provider.
        repo.push(p(Format::Deb, "mail-transport-agent 1"));
        assert_eq!(ok(&repo, "app"), ["app=1", "mail-transport-agent=1"]);
        // Requesting the virtual name directly works too, with `:any` qualifiers ignored.
        assert_eq!(ok(&repo[..3], "postfix:any"), ["postfix=3"]);
    }

    #[test]
    fn versioned_provides() {
        let repo = deb(&[
            "app 1; libfoo (>= 2)",
            "plain 1; ; libfoo",
            "versioned 1; ; libfoo (= 2.5)",
        ]);
        // Only a versioned provide can satisfy a versioned relation in Debian.
        assert_eq!(ok(&repo, "app"), ["app=1", "versioned=1"]);
        assert_eq!(ok(&repo, "libfoo"), ["plain=1"]);
        let e = err(&repo, "libfoo (>= 3)");
        assert!(
            e.contains("the request needs libfoo (>= 3), which no repository provides"),
            "{e}"
        );
        // RPM: an unversioned provide overlaps every version.
        let repo = rpm(&["app 1-1; libfoo >= 2", "plain 1-1; ; libfoo"]);
        assert_eq!(ok(&repo, "app"), ["app=1-1", "plain=1-1"]);
    }

    #[test]
    fn conflicts_force_an_alternative() {
        let repo = deb(&["a 1; b | c", "b 1", "c 1", "x 1; ; ; b"]);
        assert_eq!(ok(&repo, "a, x"), ["a=1", "c=1", "x=1"]);
        // Versioned conflicts only hit matching versions: b 2 is fine.
        let repo = deb(&["a 1; b", "b 1", "b 2", "x 1; ; ; b (>= 2)"]);
        assert_eq!(ok(&repo, "a"), ["a=1", "b=2"]);
        assert_eq!(ok(&repo, "a, x"), ["a=1", "b=1", "x=1"]);
        // A conflict on a virtual name hits its providers.
        let repo = deb(&[
            "app 1; mta",
            "exim4 4; ; mta",
            "postfix 3; ; mta",
            "x 1; ; ; exim4",
        ]);
        assert_eq!(ok(&repo, "app, x"), ["app=1", "postfix=3", "x=1"]);
        let repo = deb(&[
            "app 1; postfix | exim4",
            "exim4 4; ; mta",
            "postfix 3; ; mta",
            "x 1; ; ; mta",
        ]);
        let e = err(&repo, "app, x");
        assert!(e.contains("x 1 conflicts with mta"), "{e}");
        // Provides+Conflicts on the same name (Debian's "only one of these") does not conflict
        // with itself.
        let repo = deb(&["exim4 4; ; mta; mta", "postfix 3; ; mta; mta"]);
        assert_eq!(ok(&repo, "exim4"), ["exim4=4"]);
        assert!(err(&repo, "exim4, postfix").contains("conflicts with mta"));
    }

    #[test]
    fn missing_dependency_names_the_chain() {
        let repo = deb(&[
            "build-essential 12.9; gcc (>= 4:12), make",
            "gcc 4:12.2.0; gcc-12 (>= 12.2.0)",
            "gcc-12 12.2.0-14; libisl23 (>= 0.15), libc6",
            "libisl23 0.14-1",
            "libc6 2.36-9",
            "make 4.3",
        ]);
        let e = err(&repo, "build-essential");
        assert!(
            e.starts_with("cannot resolve: gcc-12 requires libisl23 (>= 0.15)"),
            "{e}"
        );
        assert!(
            e.contains("but repositories only have libisl23 0.14-1"),
            "{e}"
        );
        assert!(
            e.contains("(needed by build-essential → gcc → gcc-12)"),
            "{e}"
        );
        let repo: Vec<PackageMeta> = repo.into_iter().filter(|p| p.name != "libisl23").collect();
        let e = err(&repo, "build-essential");
        assert!(
            e.starts_with(
                "cannot resolve: gcc-12 requires libisl23 (>= 0.15), which no repository provides \
                 (needed by build-essential → gcc → gcc-12)"
            ),
            "{e}"
        );
        let e = err(&repo, "make, nonesuch");
        assert_eq!(
            e,
            "cannot resolve: the request needs nonesuch, which no repository provides"
        );
    }

    #[test]
    fn conflict_and_version_clash_messages() {
        let repo = deb(&["top 1; a, b", "a 1; ; ; b (<< 2)", "b 1"]);
        let e = err(&repo, "top");
        assert!(
            e.starts_with("cannot resolve: a 1 conflicts with b (<< 2), but b 1 is needed too"),
            "{e}"
        );
        assert!(
            e.contains("a needed by top → a; b needed by top → b"),
            "{e}"
        );
        let repo = deb(&["x 1; lib (= 1)", "y 1; lib (= 2)", "lib 1", "lib 2"]);
        let e = err(&repo, "x, y");
        assert!(
            e.contains("only one version of lib can be installed"),
            "{e}"
        );
        assert!(
            e.contains("1 (needed by x → lib)") && e.contains("2 (needed by y → lib)"),
            "{e}"
        );
    }

    /// Resolves `request` with rich dependencies `(text, conflict)` and ignored names.
    fn solve_rich(
        packages: &[PackageMeta],
        request: &str,
        rich: &[(&str, bool)],
        ignores: &[&str],
    ) -> Result<Vec<String>> {
        let needs = Needs {
            rich: rich
                .iter()
                .map(|(r, c)| {
                    (
                        Rich::parse(r).unwrap(),
                        *c,
                        "BuildRequires of x.spec".into(),
                    )
                })
                .collect(),
            ignores: ignores.iter().map(|s| s.to_string()).collect(),
            ..Needs::default()
        };
        let picked = resolve_with(packages, &list(request), &needs)?;
        Ok(picked.iter().map(|&i| packages[i].name.clone()).collect())
    }

    #[test]
    fn a_rich_dependency_over_many_providers_is_bounded() {
        // 12 pairs of virtuals or'ed together are 4096 clauses of 12 leaves; each leaf is
        // one literal per providing package: 30 providers of each make 1.5 million literals.
        let specs: Vec<String> = (0..24)
            .flat_map(|v| (0..30).map(move |i| format!("p{v}-{i} 1-1;;v{v}")))
            .collect();
        let repo = rpm(&specs.iter().map(String::as_str).collect::<Vec<_>>());
        let pairs: Vec<String> = (0..12)
            .map(|i| format!("(v{} and v{})", 2 * i, 2 * i + 1))
            .collect();
        let rich = format!("({})", pairs.join(" or "));
        let e = solve_rich(&repo, "", &[(&rich, false)], &[]).unwrap_err();
        assert!(
            e.to_string().ends_with(&format!(
                "is too complex (more than {MAX_CLAUSES} clauses or {MAX_LITERALS} alternatives)"
            )),
            "{e}"
        );
        // Within the bound, `without` and `or` over their 30 providers still resolve.
        for rich in ["(v0 without v1)", "(v0 or v1)"] {
            assert_eq!(
                solve_rich(&repo, "", &[(rich, false)], &[]).unwrap().len(),
                1,
                "{rich}"
            );
        }
    }

    /// `n` packages `p0 … p{n-1}`, each depending on the next through `dep(i + 1)`.
    fn chain(n: usize, dep: impl Fn(usize) -> String) -> Vec<PackageMeta> {
        (0..n)
            .map(|i| {
                let depends = if i + 1 < n { dep(i + 1) } else { String::new() };
                p(Format::Deb, &format!("p{i} 1; {depends}"))
            })
            .collect()
    }

    #[test]
    fn a_long_chain_is_refused_before_solving() {
        // resolvo took over two minutes on this; the forced names are counted first.
        let repo = chain(100_000, |i| format!("p{i}"));
        let t = Instant::now();
        let e = err(&repo, "p0");
        assert_eq!(
            e,
            format!(
                "the request pulls in more than {MAX_CLOSURE} packages (the closure of p0); refused"
            )
        );
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
        // Through a virtual package and a versioned dependency too, named from the request.
        let mut repo = chain(30_000, |i| {
            if i % 2 == 0 {
                format!("v{i}")
            } else {
                format!("p{i} (>= 1)")
            }
        });
        for (i, pkg) in repo.iter_mut().enumerate() {
            pkg.provides = list(&format!("v{i}"));
        }
        repo.push(p(Format::Deb, "q 1"));
        let e = err(&repo, "q, p0 (= 1)");
        assert!(e.ends_with("(the closure of p0 (= 1)); refused"), "{e}");
    }

    #[test]
    fn a_chain_behind_alternatives_is_refused_while_solving() {
        // Alternatives (and several versions) hide the chain from the forced count; resolvo
        // counts what it explores. A small bound keeps the test quick.
        let needs = Needs::default();
        let small = |packages| Bounds {
            packages,
            relations: MAX_RELATIONS,
            time: MAX_SOLVE_TIME,
        };
        let bounded = |repo: &[PackageMeta], max: usize| {
            resolve_bounded(repo, &list("p0"), &needs, small(max)).map(|found| found.len())
        };
        let alternatives = chain(2_000, |i| format!("p{i} | q{i}"));
        let e = bounded(&alternatives, 500).unwrap_err().to_string();
        assert_eq!(
            e,
            "the request pulls in more than 500 packages (the closure of p0); refused"
        );
        let within = chain(400, |i| format!("p{i} | q{i}"));
        assert_eq!(bounded(&within, 500).unwrap(), 400);
        let mut versions = chain(2_000, |i| format!("p{i}"));
        versions.extend(
            chain(2_000, |i| format!("p{i}"))
                .into_iter()
                .map(|mut pkg| {
                    pkg.version = "2".into();
                    pkg
                }),
        );
        let e = bounded(&versions, 500).unwrap_err().to_string();
        assert!(
            e.starts_with("the request pulls in more than 500 packages"),
            "{e}"
        );
        // A request of many relations is named by its first ones.
        let e = resolve_bounded(
            &alternatives,
            &list("p0, p1, p2, p3, p4"),
            &needs,
            small(500),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.ends_with("(the closure of p0, p1, p2 and 2 more); refused"),
            "{e}"
        );
        // The search time is bounded too (here to nothing).
        let no_time = Bounds {
            packages: MAX_CLOSURE,
            relations: MAX_RELATIONS,
            time: Duration::ZERO,
        };
        let e = resolve_bounded(&within, &list("p0"), &needs, no_time)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "dependency resolution of p0 took more than 0 s; refused");
    }

    #[test]
    fn the_relations_a_resolution_follows_are_bounded() {
        // A package of 3,000 dependencies, each satisfied: refused before resolvo is given
        // them, with a small bound; resolved within the real one.
        let names: Vec<String> = (0..3_000).map(|i| format!("d{i}")).collect();
        let mut repo = vec![p(Format::Deb, &format!("top 1; {}", names.join(", ")))];
        repo.extend(names.iter().map(|n| p(Format::Deb, &format!("{n} 1"))));
        let bounds = |relations| Bounds {
            packages: MAX_CLOSURE,
            relations,
            time: MAX_SOLVE_TIME,
        };
        let needs = Needs::default();
        let e = resolve_bounded(&repo, &list("top"), &needs, bounds(1_000))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "dependency resolution of top follows more than 1000 dependencies and conflicts; \
             refused"
        );
        let found = resolve_bounded(&repo, &list("top"), &needs, bounds(MAX_RELATIONS)).unwrap();
        assert_eq!(found.len(), 3_001);
    }

    #[test]
    fn rich_dependencies_as_obs_build_expands_them() {
        let repo = rpm(&[
            "a 1-1",
            "b 1-1",
            "c 1-1",
            "d 1-1",
            "e 1-1",
            "needs-d 1-1; d",
            "ab 1-1;; a-cap, b-cap",
            "ao 1-1;; a-cap",
            "app 1-1; ignored-dep",
        ]);
        let ok = |request: &str, rich: &[(&str, bool)]| {
            solve_rich(&repo, request, rich, &[])
                .unwrap_or_else(|e| panic!("{request} {rich:?}: {e:#}"))
        };
        assert_eq!(ok("", &[("(a or b)", false)]), ["a"]);
        assert_eq!(ok("", &[("(missing or b)", false)]), ["b"]);
        assert_eq!(ok("", &[("(a and b)", false)]), ["a", "b"]);
        // `if`: needed once the condition is in the root, whoever brought it.
        assert!(ok("", &[("(c if d)", false)]).is_empty());
        assert_eq!(ok("d", &[("(c if d)", false)]), ["c", "d"]);
        assert_eq!(ok("needs-d", &[("(c if d)", false)]), ["c", "d", "needs-d"]);
        assert_eq!(ok("", &[("(c if d else e)", false)]), ["e"]);
        assert_eq!(ok("d", &[("(c if d else e)", false)]), ["c", "d"]);
        // `unless`: the first, and not the second.
        assert_eq!(ok("", &[("(a unless b)", false)]), ["a"]);
        assert!(solve_rich(&repo, "b", &[("(a unless b)", false)], &[]).is_err());
        assert_eq!(ok("", &[("(a unless b else c)", false)]), ["a"]);
        // `with`/`without`: one package satisfying both sides, or the first and not the
        // second.
        assert_eq!(ok("", &[("(a-cap with b-cap)", false)]), ["ab"]);
        assert_eq!(ok("", &[("(a-cap without b-cap)", false)]), ["ao"]);
        // A rich conflict keeps out what would make it true.
        assert_eq!(ok("c", &[("(a or b)", true)]), ["c"]);
        let e = format!(
            "{:#}",
            solve_rich(&repo, "b", &[("(a or b)", true)], &[]).unwrap_err()
        );
        assert!(e.contains("BuildRequires of x.spec"), "{e}");
        assert_eq!(ok("d", &[("(c if d)", true)]), ["d"]);
        assert!(solve_rich(&repo, "c, d", &[("(c if d)", true)], &[]).is_err());
        // Nothing provides it: one line naming it.
        let e = format!(
            "{:#}",
            solve_rich(&repo, "", &[("(x or y)", false)], &[]).unwrap_err()
        );
        assert_eq!(
            e,
            "BuildRequires of x.spec needs (x or y), which no repository provides"
        );
        // An ignored name is not followed when a package of the root requires it.
        assert!(solve_rich(&repo, "app", &[], &[]).is_err());
        assert_eq!(
            solve_rich(&repo, "app", &[], &["ignored-dep"]).unwrap(),
            ["app"]
        );
    }

    #[test]
    fn rpm_file_requires_and_rpmlib() {
        let mut repo = rpm(&[
            "script 1-1; /bin/sh, rpmlib(PayloadIsZstd) <= 5.4.18-1",
            "bash 5.2-1",
            "dash 0.5-1",
        ]);
        repo[1].files = vec!["/bin/sh".into(), "/usr/bin/bash".into()];
        assert_eq!(ok(&repo, "script"), ["bash=5.2-1", "script=1-1"]);
        let e = err(&rpm(&["script 1-1; /bin/sh"]), "script");
        assert!(
            e.contains("script requires /bin/sh, which no repository provides (needed by script)"),
            "{e}"
        );
    }

    #[test]
    fn rpm_self_provides_with_epoch() {
        let repo = rpm(&[
            "foo 1:2.0-1",
            "a 1-1; foo >= 1:1.5",
            "b 1-1; foo >= 3.0",
            "c 1-1; foo = 1:2.0",
            "d 1-1; foo < 3.0",
        ]);
        assert_eq!(ok(&repo, "a"), ["a=1-1", "foo=1:2.0-1"]);
        // A missing epoch is 0, which epoch 1 beats whatever the version.
        assert_eq!(ok(&repo, "b"), ["b=1-1", "foo=1:2.0-1"]);
        // No release asked for: any release of 1:2.0 will do.
        assert_eq!(ok(&repo, "c"), ["c=1-1", "foo=1:2.0-1"]);
        let e = err(&repo, "d");
        assert!(
            e.contains("d requires foo < 3.0, but repositories only have foo 1:2.0-1"),
            "{e}"
        );
        // Explicit self-provides, as rpm-md lists them, change nothing.
        let mut repo = repo;
        repo[0].provides = list("foo = 1:2.0-1");
        assert_eq!(ok(&repo, "b"), ["b=1-1", "foo=1:2.0-1"]);
    }

    #[test]
    fn mixed_formats_are_refused() {
        let mut repo = deb(&["a 1"]);
        repo.extend(rpm(&["b 1-1"]));
        assert!(err(&repo, "a").contains("cannot resolve Deb and Rpm packages together"));
    }

    #[test]
    fn deterministic_under_shuffled_input() {
        let mut repo = deb(&[
            "app 1; mta, awk, libc6 (>= 2), editor | vim | nano",
            "postfix 3; libc6; mail-transport-agent, mta",
            "exim4 4; libc6; mta",
            "mawk 1; ; awk",
            "gawk 5; ; awk",
            "libc6 2",
            "libc6 3",
            "nano 7; libc6 (>= 3)",
            "vim 9; libc6",
        ]);
        // Same version from two repositories: the earlier one wins, whatever the order.
        let mut dup = p(Format::Deb, "libc6 3");
        dup.repo = 1;
        dup.location = "mirror/libc6_3".into();
        repo.push(dup);
        let want: Vec<String> = resolve(&repo, &list("app"))
            .unwrap()
            .iter()
            .map(|&i| format!("{} {}", repo[i].nevra(), repo[i].repo))
            .collect();
        assert_eq!(
            want,
            [
                "app=1.amd64 0",
                "exim4=4.amd64 0",
                "gawk=5.amd64 0",
                "libc6=3.amd64 0",
                "vim=9.amd64 0"
            ]
        );
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..50 {
            for i in (1..repo.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                repo.swap(i, (seed % (i as u64 + 1)) as usize);
            }
            let got: Vec<String> = resolve(&repo, &list("app"))
                .unwrap()
                .iter()
                .map(|&i| format!("{} {}", repo[i].nevra(), repo[i].repo))
                .collect();
            assert_eq!(got, want);
        }
    }

    /// Against Debian bookworm's real Packages files (from apt's lists on this machine, or
    /// `OBSBOX_DEBIAN_PACKAGES=file[:file…]`). Ignored by default: it needs those files and
    /// prints timings rather than asserting them.
    /// `cargo test --release --lib bookworm -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bookworm() {
        use std::time::Instant;

        let files: Vec<String> = match std::env::var("OBSBOX_DEBIAN_PACKAGES") {
            Ok(v) => v.split(':').map(str::to_owned).collect(),
            Err(_) => [
                "bookworm_main",
                "bookworm-updates_main",
                "bookworm-security_main",
            ]
            .iter()
            .filter_map(|suite| {
                std::fs::read_dir("/var/lib/apt/lists")
                    .ok()?
                    .flatten()
                    .find_map(|e| {
                        let name = e.file_name().into_string().ok()?;
                        let wanted = format!("_{suite}_binary-amd64_Packages");
                        name.contains(&wanted)
                            .then(|| e.path().display().to_string())
                    })
            })
            .collect(),
        };
        assert!(!files.is_empty(), "no bookworm Packages lists found");
        let t = Instant::now();
        let mut repo = Vec::new();
        for (i, file) in files.iter().enumerate() {
            let text = if file.ends_with(".lz4") {
                let out = std::process::Command::new("lz4")
                    .args(["-dc", file])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "lz4 -dc {file}");
                String::from_utf8(out.stdout).unwrap()
            } else {
                std::fs::read_to_string(file).unwrap()
            };
            let at = super::super::source::Location::Path(file.into());
            repo.extend(super::super::debian::parse_packages(&text, &at, "amd64", i).unwrap());
        }
        println!(
            "{} packages from {} files, read in {:?}",
            repo.len(),
            files.len(),
            t.elapsed()
        );

        let t = Instant::now();
        let found = resolve(&repo, &list("build-essential")).unwrap();
        println!(
            "build-essential: {} packages in {:?}",
            found.len(),
            t.elapsed()
        );
        assert!(found.iter().any(|&i| repo[i].name == "gcc-12"));

        // A build root: the essential and required set plus build-essential.
        let mut request: Vec<Relation> = repo
            .iter()
            .filter(|p| p.essential || p.priority == "required")
            .map(|p| Relation {
                name: p.name.as_str().into(),
                version: None,
            })
            .collect();
        request.sort_by(|a, b| a.name.cmp(&b.name));
        request.dedup();
        request.push(rel("build-essential"));
        let t = Instant::now();
        let found = resolve(&repo, &request).unwrap();
        println!(
            "essential + required + build-essential: {} packages in {:?}",
            found.len(),
            t.elapsed()
        );
        let names: HashSet<&str> = found.iter().map(|&i| repo[i].name.as_str()).collect();
        assert_eq!(names.len(), found.len(), "one version per name");

        // Input order does not matter, on real data either.
        let reversed: Vec<PackageMeta> = repo.iter().rev().cloned().collect();
        let again = resolve(&reversed, &request).unwrap();
        let nevras = |r: &[PackageMeta], v: &[usize]| -> Vec<String> {
            v.iter().map(|&i| r[i].nevra()).collect()
        };
        assert_eq!(nevras(&reversed, &again), nevras(&repo, &found));

        // The same closure out of a repository of just those packages.
        let small: Vec<PackageMeta> = found.iter().map(|&i| repo[i].clone()).collect();
        let t = Instant::now();
        let again = resolve(&small, &request).unwrap();
        println!(
            "same request against only the {} packages: {:?}",
            small.len(),
            t.elapsed()
        );
        assert_eq!(again.len(), found.len());

        // The bound on a closure leaves a wide margin over the largest real ones.
        let t = Instant::now();
        let found = resolve(
            &repo,
            &list("task-gnome-desktop, task-kde-desktop, texlive-full, libreoffice"),
        )
        .unwrap();
        println!(
            "GNOME, KDE, texlive-full and LibreOffice: {} packages in {:?}",
            found.len(),
            t.elapsed()
        );
        assert!(found.len() * 5 < MAX_CLOSURE, "{}", found.len());

        let t = Instant::now();
        let e = resolve(&repo, &list("build-essential, gcc-12 (<< 12)")).unwrap_err();
        println!("unresolvable request failed in {:?}:\n{e:#}", t.elapsed());
        let mut broken = repo.clone();
        broken.retain(|p| p.name != "libisl23");
        let e = resolve(&broken, &list("build-essential")).unwrap_err();
        println!("without libisl23:\n{e:#}");
        assert!(format!("{e:#}").contains("libisl23"));
    }
}
