//! Repositories (a local directory of packages, a Debian archive, an rpm-md repository),
//! their metadata, downloads, and dependency resolution.
//!
//! Every kind of repository is read into the same [`PackageMeta`] model, so the resolver and
//! the rootfs code never care where a package came from.

pub mod budget;
pub mod build_deps;
pub mod debian;
pub mod fetch;
pub mod index_cache;
pub mod resolve;
pub mod rpmmd;
pub mod source;
pub mod spec_deps;

use std::path::Path;

use anyhow::{Context, Result, bail};

pub use crate::model::{Arch, Checksum, Format, Op, PackageMeta, Relation, version};
pub use budget::IndexBudget;

pub use source::{Location, Source};

/// The most bytes a repository index may expand to, and a repository file read whole may
/// hold (here, where fetching, reading and the index cache all find it): a distribution's
/// largest indexes are a few hundred MB, and a 7 MB `Packages.gz` of zeros took 1.6 GB.
pub const MAX_INDEX: u64 = 1 << 30;

/// What layout a repository has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoKind {
    /// `dists/SUITE/Release` with per-component `Packages` indexes.
    Debian,
    /// A `Packages` index at the top, no suites.
    DebianFlat,
    /// `repodata/repomd.xml`.
    RpmMd,
    /// A plain local directory of package files.
    Local,
}

/// A repository with its packages read.
#[derive(Debug, Clone)]
pub struct Repository {
    pub source: Source,
    pub kind: RepoKind,
    pub packages: Vec<PackageMeta>,
}

/// Opens the repository `spec` (see [`source`] for the syntax) and reads the packages for
/// `arch` (Debian or RPM name) plus arch-independent ones; `index` is recorded in each
/// package's `repo`. The kind is detected: a suite means a Debian archive; otherwise
/// `repodata/repomd.xml` means rpm-md, a top-level `Packages` index a flat Debian
/// repository, and a local directory without either a directory of package files.
pub fn open(spec: &str, arch: &Arch, index: usize) -> Result<Repository> {
    open_cached(spec, arch, index, None, &IndexBudget::configured()?)
}

/// [`open`], keeping decompressed indexes of remote repositories in the cache directory
/// `cache` (see [`index_cache`]); what its indexes hold parsed is charged to `budget`
/// (shared by the repositories of one root).
pub fn open_cached(
    spec: &str,
    arch: &Arch,
    index: usize,
    cache: Option<&Path>,
    budget: &IndexBudget,
) -> Result<Repository> {
    // A typo in the arch should fail before any network round trip.
    arch.deb()?;
    let source = Source::parse(spec)?;
    let kind = detect(&source)?;
    let packages = match kind {
        RepoKind::Debian if source.suite.as_deref().is_some_and(|s| s.ends_with('/')) => {
            debian::read_flat(&source, arch, index, budget)?
        }
        RepoKind::Debian => {
            let indexes = cache.map(index_cache::dir);
            debian::read_suite(&source, arch, index, indexes.as_deref(), budget)?
        }
        RepoKind::DebianFlat => debian::read_flat(&source, arch, index, budget)?,
        RepoKind::RpmMd => {
            let indexes = cache.map(index_cache::dir);
            rpmmd::read_rpmmd(&source, arch, index, indexes.as_deref(), budget)?
        }
        RepoKind::Local => {
            let Location::Path(dir) = &source.base else {
                bail!("repository `{spec}`: not a local directory");
            };
            open_local(dir, arch, index)?
        }
    };
    tracing::debug!(
        repo = %spec,
        ?kind,
        packages = packages.len(),
        parsed_bytes = budget.used(),
        "repository read"
    );
    Ok(Repository {
        source,
        kind,
        packages,
    })
}

/// What a repository's index is, as the file that names every other index by its sum
/// certifies it: the SHA-256 of a Debian suite's `Release` (or `InRelease`), or of an rpm-md
/// repository's `repomd.xml`. `None` for repositories without such a file (flat ones,
/// directories of packages) or without it now: a resolution cannot be remembered for them.
pub fn index_identity(spec: &str) -> Result<Option<String>> {
    use sha2::Digest as _;
    let source = Source::parse(spec)?;
    let candidates = match (detect(&source)?, &source.suite) {
        (RepoKind::Debian, Some(suite)) => {
            let dist = source.join(&format!("dists/{suite}"))?;
            vec![dist.join("Release")?, dist.join("InRelease")?]
        }
        (RepoKind::RpmMd, _) => vec![source.join("repodata/repomd.xml")?],
        _ => return Ok(None),
    };
    for top in candidates {
        if let Some(data) = top.read_optional()? {
            return Ok(Some(hex::encode(sha2::Sha256::digest(&data))));
        }
    }
    Ok(None)
}

fn detect(source: &Source) -> Result<RepoKind> {
    if let Some(suite) = &source.suite {
        // sources.list writes a flat repository as `URL ./` (a suite ending in `/`).
        return Ok(if suite.ends_with('/') {
            RepoKind::DebianFlat
        } else {
            RepoKind::Debian
        });
    }
    if source.join("repodata/repomd.xml")?.exists()? {
        return Ok(RepoKind::RpmMd);
    }
    if debian::is_flat(source)? {
        return Ok(RepoKind::DebianFlat);
    }
    match &source.base {
        Location::Path(p) if p.is_dir() => Ok(RepoKind::Local),
        Location::Path(p) if !p.exists() => bail!("repository {}: no such directory", p.display()),
        base => bail!(
            "repository {base}: no repodata/repomd.xml and no Packages index \
             (for a Debian archive, give the suite: `{base} SUITE [COMPONENT…]`)"
        ),
    }
}

/// Reads a local directory of `.deb`/`.rpm` files (not recursive), each from its own
/// header. Packages of other architectures are left out; the checksum is computed when the
/// package is unpacked (nothing to compare it with here).
pub fn open_local(dir: &Path, arch: &Arch, index: usize) -> Result<Vec<PackageMeta>> {
    let deb = arch.deb()?;
    let rpm = arch.rpm()?;
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("repository {}: cannot read the directory", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "deb" || e == "rpm"))
        .collect();
    names.sort();
    if names.is_empty() {
        bail!(
            "repository {}: no Packages index, no repodata/repomd.xml and no .deb or .rpm files",
            dir.display()
        );
    }
    let mut packages = Vec::new();
    for path in names {
        let location = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let meta = if path.extension().is_some_and(|e| e == "deb") {
            let control = crate::packages::deb::read_control_of(&path)?;
            let paragraphs = crate::packages::deb822::parse_paragraphs(&control.control)
                .with_context(|| format!("{}: control", path.display()))?;
            let first = paragraphs
                .first()
                .with_context(|| format!("{}: empty control file", path.display()))?;
            debian::meta_from_control(first, location, None, size, index)
                .with_context(|| format!("{}", path.display()))?
        } else {
            local_rpm(&path, location, index)?
        };
        if meta.arch == deb || meta.arch == rpm || meta.arch == "all" || meta.arch == "noarch" {
            packages.push(meta);
        }
    }
    Ok(packages)
}

fn local_rpm(path: &Path, location: String, index: usize) -> Result<PackageMeta> {
    let package = crate::packages::rpm::RpmPackage::open(path)?;
    crate::names::rpm_package(&package.name).with_context(|| format!("{}", path.display()))?;
    Ok(package.meta(&location, index))
}
