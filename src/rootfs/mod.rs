//! Rootfs assembly from packages and the content-addressed cache.
//!
//! `create` is the whole path: repositories → resolved closure → packages fetched (only
//! those the store lacks) → unpacked in parallel into the store → a root laid down from the
//! store (and, in `install` mode, registered and configured by its own package manager) →
//! cached under the set's key → linked into the output directory. A repeated request finds
//! the cached root and only links it.
//!
//! Each of those is a named step of `build_with`, in order: `Available::open` (the
//! repositories), `Assembly::resolve` (the set, checked against the mode),
//! `Assembly::in_store` and `Assembly::cached_root` (a cached root for the set ends the
//! build here), `Assembly::verified`, `Assembly::fetch_plan`, `Assembly::fetch`,
//! `Assembly::unpack` and `Assembly::lay_down` (into the cache).

pub mod accounts;
pub mod farm;
pub mod install;
pub mod overlay;
mod remembered;
pub mod rootdir;
pub mod store;

pub use rootdir::RootDir;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::model::Arch;
use crate::repo::{self, Format, PackageMeta, Relation, fetch, source::Location};
use store::{Store, Unpacked};

/// How much of a package's installation a root gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Files only: fast, enough for a toolbox of static tools.
    Extract,
    /// Files, the package database and the maintainer scripts, run in a container.
    Install,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Extract => "extract",
            Mode::Install => "install 2",
        }
    }

    /// What the cache key of a root says about its mode: the name and a revision, bumped
    /// when the mode makes a different root of the same packages, so roots cached before
    /// the change are not reused. Extract 2: `/etc/passwd` and `/etc/group` from
    /// base-passwd's masters.
    pub fn cache_key(self) -> &'static str {
        match self {
            Mode::Extract => "extract 2",
            Mode::Install => "install 2",
        }
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct Request {
    pub arch: Arch,
    /// Repository arguments, see [`repo::source`].
    pub repos: Vec<String>,
    /// Package names (or `name (>= version)` relations) the root must contain.
    pub names: Vec<String>,
    /// Build relations of a recipe (OR-groups and conflicts, with their origins) the root
    /// must satisfy besides `names`.
    pub needs: repo::build_deps::Needs,
    pub mode: Mode,
    /// For an install-mode root this machine cannot run natively: the toolbox whose
    /// host-arch dpkg installs it, and the qemu that runs its maintainer scripts.
    pub foreign: Option<Foreign>,
    /// A host-arch toolbox with rpm, which registers an install-mode rpm root whose set
    /// has no rpm of its own (a foreign root uses `foreign`'s toolbox).
    pub toolbox: Option<PathBuf>,
}

impl Request {
    /// A root of `names` for `arch` from `repos`, assembled in `mode`; no recipe relations,
    /// native, no toolbox (see the `with_*` methods).
    pub fn new(mode: Mode, arch: &Arch, repos: Vec<String>, names: Vec<String>) -> Request {
        Request {
            arch: arch.clone(),
            repos,
            names,
            needs: Default::default(),
            mode,
            foreign: None,
            toolbox: None,
        }
    }

    /// With a recipe's build relations besides the names.
    pub fn with_needs(mut self, needs: repo::build_deps::Needs) -> Request {
        self.needs = needs;
        self
    }

    /// Installed by a foreign toolbox (see [`Foreign`]).
    pub fn with_foreign(mut self, foreign: Option<Foreign>) -> Request {
        self.foreign = foreign;
        self
    }

    /// With a host-arch toolbox whose rpm registers the root.
    pub fn with_toolbox(mut self, toolbox: Option<PathBuf>) -> Request {
        self.toolbox = toolbox;
        self
    }
}

/// How a foreign-arch root is installed: dpkg or rpm from the toolbox (`dpkg --root`,
/// `rpm --root --ignorearch`), so only the maintainer scripts run emulated.
#[derive(Debug, Clone)]
pub struct Foreign {
    pub toolbox: PathBuf,
    pub emulation: crate::binfmt::Emulation,
}

/// A package of a root, as a job log lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootPackage {
    pub name: String,
    pub version: String,
    pub arch: String,
}

impl RootPackage {
    fn of(meta: &PackageMeta) -> RootPackage {
        RootPackage {
            name: meta.name.clone(),
            version: meta.version.clone(),
            arch: meta.arch.clone(),
        }
    }
}

/// What was built, for the caller to report.
#[derive(Debug, Clone)]
pub struct Built {
    /// The cached root (shared, read-only by convention).
    pub tree: PathBuf,
    /// The root's packages, by name.
    pub packages: Vec<RootPackage>,
    /// True when the root came from the cache.
    pub cache_hit: bool,
    pub fetched: usize,
    pub unpacked: usize,
}

/// Resolves, fetches, unpacks and assembles the root for `request` in the cache; returns
/// the cached tree. `state_root` is the runtime state directory (install mode runs a
/// container).
pub fn build(request: &Request, store: &Store, state_root: &Path) -> Result<Built> {
    let memo = remembered::path(request, store);
    if let Some(built) = memo
        .as_deref()
        .and_then(|file| remembered::lookup(file, store))
    {
        return Ok(built);
    }
    let (built, _) = build_with(request, store, state_root, false)?;
    if let Some(file) = &memo {
        remembered::remember(file, store, &built);
    }
    Ok(built)
}

/// Builds the root and copies it into `out` (which must not exist) as a hard-link farm
/// whose regular files below `copy` are private copies. A root from the cache is checked
/// against its recorded digest during the copy, not before it (one walk of the tree
/// instead of two); a corrupt one is removed and made again.
pub fn build_into(
    request: &Request,
    store: &Store,
    state_root: &Path,
    out: &Path,
    copy: &[&str],
) -> Result<Built> {
    for _ in 0..2 {
        let (built, expected) = build_with(request, store, state_root, true)?;
        let linked = match &expected {
            None => farm::link_tree_copying(&built.tree, out, copy).map(|_| None),
            Some(_) => farm::link_tree_with_digest(&built.tree, out, copy).map(|(_, d)| Some(d)),
        };
        let digest = match linked {
            Ok(digest) => digest,
            Err(err) => {
                // Nothing half-copied stays.
                let _ = store::remove_tree(out);
                return Err(err);
            }
        };
        if digest == expected {
            if let Some(file) = remembered::path(request, store) {
                remembered::remember(&file, store, &built);
            }
            return Ok(built);
        }
        store::remove_tree(out)?;
        store.discard_rootfs(&built.tree);
    }
    bail!(
        "the root made again for {} is corrupt at once",
        out.display()
    )
}

/// [`build`]; with `defer_check`, a root from the cache is returned with the digest it must
/// have, unchecked.
///
/// The steps, in order: [`Available::open`] (the repositories), [`Assembly::resolve`] (the
/// package set, checked against the mode), [`Assembly::in_store`] and
/// [`Assembly::cached_root`] (a root cached for this set ends here), [`Assembly::verified`],
/// [`Assembly::fetch_plan`], then [`Assembly::fetch`], [`Assembly::unpack`] and
/// [`Assembly::lay_down`] (with the downloads removed after them, whatever happened).
fn build_with(
    request: &Request,
    store: &Store,
    state_root: &Path,
    defer_check: bool,
) -> Result<(Built, Option<String>)> {
    let started = Instant::now();
    let available = Available::open(request, store)?;
    let assembly = Assembly::resolve(request, store, state_root, &available, started)?;
    let known = assembly.in_store();
    if let Some(cached) = assembly.cached_root(&known, defer_check) {
        return Ok(cached);
    }
    let known = assembly.verified(known);
    let plan = assembly.fetch_plan(&known)?;
    let result = assembly
        .fetch(&plan)
        .and_then(|()| assembly.unpack(&plan, known))
        .and_then(|unpacked| assembly.lay_down(&plan, &unpacked));
    let _ = store::remove_tree(&plan.downloads);
    let built = result?;
    tracing::info!(
        packages = built.packages.len(),
        fetched = built.fetched,
        unpacked = built.unpacked,
        cache_hit = built.cache_hit,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "root ready"
    );
    Ok((built, None))
}

/// What the request's repositories offer: their packages, and where each repository is
/// (a package's `repo` indexes `sources`).
struct Available {
    packages: Vec<PackageMeta>,
    sources: Vec<repo::source::Source>,
}

impl Available {
    /// Step "repositories": every repository of the request opened (its index from the
    /// cache when current).
    fn open(request: &Request, store: &Store) -> Result<Available> {
        let mut packages = Vec::new();
        let mut sources = Vec::new();
        // One bound on what the parsed indexes of all the root's repositories hold.
        let budget = repo::IndexBudget::configured()?;
        for (i, spec) in request.repos.iter().enumerate() {
            let repository = repo::open_cached(spec, &request.arch, i, Some(store.dir()), &budget)?;
            if packages.is_empty() {
                // Taken as it is: a copy would hold the packages twice for a moment.
                packages = repository.packages;
            } else {
                packages.extend(repository.packages);
            }
            sources.push(repository.source);
        }
        if packages.is_empty() {
            bail!("the repositories have no packages for {}", request.arch);
        }
        Ok(Available { packages, sources })
    }
}

/// One root being assembled: what every step reads, and the package set it is made of.
struct Assembly<'a> {
    request: &'a Request,
    store: &'a Store,
    state_root: &'a Path,
    started: Instant,
    sources: &'a [repo::source::Source],
    /// The resolved set, by name and version.
    chosen: Vec<&'a PackageMeta>,
    /// The set is of rpm packages.
    rpm_root: bool,
}

/// The packages to fetch and where every package's file is ([`Assembly::fetch_plan`]).
struct FetchPlan {
    /// This build's download directory in the store, removed after it.
    downloads: PathBuf,
    /// Per chosen package: its file, `None` when the store has it unpacked.
    files: Vec<Option<PathBuf>>,
    items: Vec<fetch::FetchItem>,
}

impl<'a> Assembly<'a> {
    /// Step "resolve": the closure of the request's names and build relations, and the
    /// checks of the set against the mode (an install-mode root is of one format, with an
    /// rpm to register it, and runs natively unless a foreign toolbox installs it).
    fn resolve(
        request: &'a Request,
        store: &'a Store,
        state_root: &'a Path,
        available: &'a Available,
        started: Instant,
    ) -> Result<Assembly<'a>> {
        let packages = &available.packages;
        let relations = request
            .names
            .iter()
            .map(|n| parse_request(n))
            .collect::<Result<Vec<_>>>()?;
        let chosen = repo::resolve::resolve_with(packages, &relations, &request.needs)?;
        let mut chosen: Vec<&PackageMeta> = chosen.iter().map(|&i| &packages[i]).collect();
        chosen.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
        tracing::info!(
            packages = chosen.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "resolved"
        );
        let rpm_root = chosen.iter().any(|p| p.format == Format::Rpm);
        if request.mode == Mode::Install && rpm_root {
            if chosen.iter().any(|p| p.format != Format::Rpm) {
                bail!("install mode cannot mix .deb and .rpm packages in one root");
            }
            if request.foreign.is_none()
                && request.toolbox.is_none()
                && !chosen.iter().any(|p| p.name == "rpm")
            {
                bail!(
                    "install mode for an rpm root needs rpm to register the packages: put rpm in \
                     the set, or give a host-arch toolbox that has it (--toolbox DIR)"
                );
            }
        }
        if request.mode == Mode::Install
            && request.foreign.is_none()
            && crate::binfmt::needs_emulation(&Arch::native(), &request.arch)?
        {
            bail!(
                "install mode for {} on this {} machine runs the root's maintainer scripts through \
                 qemu from a toolbox: give one (--toolbox DIR), build it as a job (with toolbox_repos), \
                 or use --mode extract",
                request.arch,
                std::env::consts::ARCH
            );
        }
        Ok(Assembly {
            request,
            store,
            state_root,
            started,
            sources: &available.sources,
            chosen,
            rpm_root,
        })
    }

    /// Step "store": per chosen package, its entry in the store when the store has it (by
    /// its metadata checksum): such a package needs no file at all.
    fn in_store(&self) -> Vec<Option<Unpacked>> {
        self.chosen
            .iter()
            .map(|p| {
                p.checksum
                    .as_ref()
                    .filter(|c| c.algo == "sha256")
                    .and_then(|c| self.store.package(&c.hex.to_ascii_lowercase()))
            })
            .collect()
    }

    /// Step "cache": the root cached for exactly this set, if there is one (and, with
    /// `defer_check`, the digest it must have).
    fn cached_root(
        &self,
        known: &[Option<Unpacked>],
        defer_check: bool,
    ) -> Option<(Built, Option<String>)> {
        if !known.iter().all(Option::is_some) {
            return None;
        }
        let unpacked: Vec<Unpacked> = known.iter().flatten().cloned().collect();
        let key = Store::rootfs_key(self.request.mode.cache_key(), &unpacked);
        let (tree, digest) = if defer_check {
            self.store
                .rootfs_unchecked(&key)
                .map(|(tree, digest)| (tree, Some(digest)))
        } else {
            self.store.rootfs(&key).map(|tree| (tree, None))
        }?;
        let built = Built {
            tree,
            packages: self.packages(),
            cache_hit: true,
            fetched: 0,
            unpacked: 0,
        };
        Some((built, digest))
    }

    /// Step "verify": the store entries the root is laid down from are checked first; a
    /// corrupt one is unpacked again like a missing one.
    fn verified(&self, known: Vec<Option<Unpacked>>) -> Vec<Option<Unpacked>> {
        known
            .into_iter()
            .map(|k| k.and_then(|u| self.store.verified_package(&u.key)))
            .collect()
    }

    /// Step "fetch plan": what is missing from the store; packages of local repositories
    /// are read in place, remote ones downloaded.
    fn fetch_plan(&self, known: &[Option<Unpacked>]) -> Result<FetchPlan> {
        let downloads = self
            .store
            .dir()
            .join("tmp")
            .join(format!("downloads.{}.0", std::process::id()));
        let mut files: Vec<Option<PathBuf>> = vec![None; self.chosen.len()];
        let mut items = Vec::new();
        for (i, p) in self.chosen.iter().enumerate() {
            if known[i].is_some() {
                continue;
            }
            match self.sources[p.repo].join(&p.location)? {
                Location::Path(path) => files[i] = Some(path),
                location => {
                    let name = p
                        .location
                        .rsplit('/')
                        .next()
                        .unwrap_or(&p.location)
                        .to_string();
                    let dest = downloads.join(&name);
                    files[i] = Some(dest.clone());
                    items.push(fetch::FetchItem {
                        location,
                        dest,
                        checksum: p.checksum.clone(),
                        size: p.size,
                    });
                }
            }
        }
        Ok(FetchPlan {
            downloads,
            files,
            items,
        })
    }

    /// Step "fetch": the downloads, checksums verified.
    fn fetch(&self, plan: &FetchPlan) -> Result<()> {
        if !plan.items.is_empty() {
            std::fs::create_dir_all(&plan.downloads)?;
            fetch::fetch_all(&plan.items, 4)?;
        }
        Ok(())
    }

    /// Step "unpack": every package file into the store (in parallel); returns the store
    /// entry of every chosen package, in the set's order.
    fn unpack(&self, plan: &FetchPlan, known: Vec<Option<Unpacked>>) -> Result<Vec<Unpacked>> {
        let todo: Vec<(usize, PathBuf)> = plan
            .files
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.clone().map(|f| (i, f)))
            .collect();
        let unpacked_now = unpack_all(self.store, &self.chosen, &todo)?;
        tracing::info!(
            packages = todo.len(),
            elapsed_ms = self.started.elapsed().as_millis() as u64,
            "unpacked into the store"
        );
        let mut unpacked: Vec<Unpacked> = Vec::with_capacity(self.chosen.len());
        for (i, k) in known.into_iter().enumerate() {
            match k {
                Some(u) => unpacked.push(u),
                None => unpacked.push(
                    unpacked_now
                        .iter()
                        .find(|(j, _)| *j == i)
                        .map(|(_, u)| u.clone())
                        .context("package missing after unpacking")?,
                ),
            }
        }
        Ok(unpacked)
    }

    /// Step "lay down": the root of the set's store entries in the cache, unless another
    /// build cached it meanwhile: a hard-link farm, in install mode registered and
    /// configured by its package manager.
    fn lay_down(&self, plan: &FetchPlan, unpacked: &[Unpacked]) -> Result<Built> {
        let request = self.request;
        let key = Store::rootfs_key(request.mode.cache_key(), unpacked);
        let (tree, cache_hit) = match self.store.rootfs(&key) {
            Some(tree) => (tree, true),
            None => {
                let logs = self.store.dir().join("logs");
                std::fs::create_dir_all(&logs)?;
                let log = logs.join(format!("install-{key}.log"));
                let mode = request.mode;
                // Debian packages with a preinst (outside the base) are unpacked after it.
                let deferred = if mode == Mode::Install && !self.rpm_root {
                    install::deb_deferred(unpacked)?
                } else {
                    Vec::new()
                };
                let laid: Vec<bool> = deferred.iter().map(|d| !d).collect();
                let tree = self
                    .store
                    .build_rootfs(&key, mode.name(), unpacked, &laid, |tree| match mode {
                        // No maintainer scripts run: what base-passwd's would make is copied.
                        Mode::Extract => accounts::write_from_base_passwd(tree).map(|_| ()),
                        // The scripts run on an overlay of the package farm: what they write
                        // is copied up, never into the store, and folded into the root after.
                        Mode::Install => {
                            let work = tree.parent().context("root has no parent")?;
                            overlay::run_folded(tree, work, |tree| {
                                install_into(
                                    request,
                                    tree,
                                    unpacked,
                                    &deferred,
                                    self.rpm_root,
                                    work,
                                    self.state_root,
                                    &log,
                                )
                            })
                        }
                    })?;
                tracing::info!(
                    elapsed_ms = self.started.elapsed().as_millis() as u64,
                    "root laid down in the cache"
                );
                (tree, false)
            }
        };
        Ok(Built {
            tree,
            packages: self.packages(),
            cache_hit,
            fetched: plan.items.len(),
            unpacked: plan.files.iter().flatten().count(),
        })
    }

    /// The set as the job log lists it.
    fn packages(&self) -> Vec<RootPackage> {
        self.chosen.iter().map(|p| RootPackage::of(p)).collect()
    }
}

/// Registers the packages laid down in `tree` and runs their maintainer scripts, with the
/// package manager `request` calls for.
#[allow(clippy::too_many_arguments)]
fn install_into(
    request: &Request,
    tree: &Path,
    unpacked: &[Unpacked],
    deferred: &[bool],
    rpm_root: bool,
    work: &Path,
    state_root: &Path,
    log: &Path,
) -> Result<()> {
    if rpm_root {
        let via = match (&request.foreign, &request.toolbox) {
            (Some(foreign), _) => install::RpmVia::Toolbox {
                toolbox: &foreign.toolbox,
                emulation: Some(&foreign.emulation),
            },
            // The set's own rpm first: it knows the root's database.
            _ if unpacked.iter().any(|p| p.info.name == "rpm") => install::RpmVia::Own,
            (None, Some(toolbox)) => install::RpmVia::Toolbox {
                toolbox,
                emulation: None,
            },
            (None, None) => install::RpmVia::Own,
        };
        return install::install_rpm(tree, unpacked, work, state_root, log, via);
    }
    let foreign = request.foreign.as_ref();
    install::install_deb(tree, unpacked, deferred, work, state_root, log, foreign)
}

/// How [`create`] hands a root out. Neither way shares a writable inode with the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    /// A private copy of every file.
    Copy,
    /// An overlay mount of the cached root, its changes in `OUT.upper` (work directory
    /// `OUT.work`); it stays mounted until `umount OUT`.
    Mount,
}

/// Builds the root and hands it out at `out` (which must not exist, or be an empty dir).
pub fn create(
    request: &Request,
    store: &Store,
    state_root: &Path,
    out: &Path,
    how: Out,
) -> Result<Built> {
    check_out(out)?;
    if how == Out::Mount {
        let built = build(request, store, state_root)?;
        let dir = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = out
            .file_name()
            .with_context(|| format!("{}: no directory name", out.display()))?
            .to_string_lossy()
            .into_owned();
        overlay::mount_root(&[built.tree.as_path()], dir, &name)?.keep();
        return Ok(built);
    }
    let existed = out.exists();
    if existed {
        std::fs::remove_dir(out).with_context(|| format!("cannot replace {}", out.display()))?;
    }
    let built = build_into(request, store, state_root, out, &[""]);
    if built.is_err() && existed && !out.exists() {
        // The empty directory the caller gave stays as it was.
        let _ = std::fs::create_dir(out);
    }
    built
}

fn check_out(out: &Path) -> Result<()> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!("{}: the output directory is not empty", out.display());
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => {
            Err(e).with_context(|| format!("{}: cannot use as output directory", out.display()))
        }
    }
}

/// `name`, `name=version` or a Debian-style `name (>= version)`.
fn parse_request(text: &str) -> Result<Relation> {
    let text = text.trim();
    if let Some((name, version)) = text.split_once('=')
        && !name.contains(['(', ' '])
    {
        return Ok(Relation {
            name: name.into(),
            version: Some((repo::Op::Eq, version.into())),
        });
    }
    let parsed = repo::debian::parse_relations(text)
        .with_context(|| format!("bad package request {text:?}"))?;
    match parsed.as_slice() {
        [group] if group.len() == 1 => Ok(group[0].clone()),
        _ => bail!("bad package request {text:?}: give one package per entry"),
    }
}

/// Unpacks `todo` (index into `chosen`, file) into the store using every core, biggest
/// packages first so the tail is short.
fn unpack_all(
    store: &Store,
    chosen: &[&PackageMeta],
    todo: &[(usize, PathBuf)],
) -> Result<Vec<(usize, Unpacked)>> {
    let mut order: Vec<&(usize, PathBuf)> = todo.iter().collect();
    order.sort_by_cached_key(|(i, f)| {
        std::cmp::Reverse(
            std::fs::metadata(f)
                .map(|m| m.len())
                .unwrap_or(chosen[*i].size),
        )
    });
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(order.len().max(1));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results = Mutex::new(Vec::with_capacity(order.len()));
    let first_error = Mutex::new(None);
    let progress = crate::progress::Progress::new("unpacking", order.len() as u64);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some((i, file)) = order.get(n) else { break };
                    match store.unpack(file, chosen[*i]) {
                        Ok(u) => {
                            progress.inc(&chosen[*i].name);
                            results
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push((*i, u));
                        }
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            first_error
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    progress.finish();
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(results.into_inner().unwrap_or_else(|p| p.into_inner()))
}
