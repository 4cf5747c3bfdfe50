//! Debian repositories: deb822 control data, relation fields, `Release` and `Packages`.
//!
//! Two layouts are read:
//! - an archive with suites: `dists/SUITE/Release` (or `InRelease`) lists the `Packages`
//!   indexes with their sizes and SHA256 sums, and each index is verified against it;
//! - a flat repository: `Packages[.xz|.gz]` at the top (or below a `./`-style suite), checked
//!   against a `Release` there when one exists.
//!
//! **No signature is verified.** An `InRelease` file's OpenPGP armor is stripped and its
//! signature ignored: obsbox reads repositories the worker controls (a local mirror or the
//! OBS backend's cache on loopback), and the index and package checksums protect against
//! corruption, not against a hostile mirror.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::budget::{IndexBudget, Relations};
use super::index_cache::IndexEntry;
use super::source::{Location, Source};
use super::{Checksum, Format, Op, PackageMeta, Relation};
use crate::packages::deb822::{
    Paragraph, clip, paragraphs_after, parse_paragraphs, strip_clearsign,
};

/// Parses a relation field (`Depends`, `Provides`, …): comma-separated groups of
/// `|`-separated alternatives. Architecture qualifiers (`:any`, `:native`) are dropped from
/// names; `[arch]` and `<profile>` restrictions are ignored, as they only matter when
/// building from source. The obsolete `<` and `>` mean `<=` and `>=`.
pub fn parse_relations(field: &str) -> Result<Vec<Vec<Relation>>> {
    let mut out = Vec::new();
    for group in field.split(',') {
        if group.trim().is_empty() {
            // A trailing comma, or a line break in a folded field.
            continue;
        }
        // Sized exactly: most groups are one relation, and a collected Vec starts with
        // room for four (Debian's whole index held 60 MB of such room).
        let mut alts = Vec::with_capacity(group.matches('|').count() + 1);
        for alt in group.split('|') {
            alts.push(
                parse_relation(alt)
                    .with_context(|| format!("relation `{}`", clip(group.trim())))?,
            );
        }
        out.push(alts);
    }
    out.shrink_to_fit();
    Ok(out)
}

fn parse_relation(text: &str) -> Result<Relation> {
    let s = text.trim();
    let end = s
        .find(|c: char| c.is_whitespace() || "([<".contains(c))
        .unwrap_or(s.len());
    let full = &s[..end];
    let name = full.split_once(':').map_or(full, |(n, _)| n);
    if name.is_empty() {
        bail!("no package name");
    }
    if let Some(c) = name.chars().find(|c| ")]>=".contains(*c)) {
        bail!("unexpected `{c}` in package name `{name}`");
    }
    let mut version = None;
    let mut rest = s[end..].trim_start();
    while let Some(first) = rest.chars().next() {
        let close = match first {
            '(' => ')',
            '[' => ']',
            '<' => '>',
            other => bail!("unexpected `{other}` after `{name}`"),
        };
        let Some(stop) = rest.find(close) else {
            bail!("unclosed `{first}`");
        };
        if first == '(' {
            if version.is_some() {
                bail!("two version constraints");
            }
            version = Some(parse_constraint(&rest[1..stop])?);
        }
        rest = rest[stop + 1..].trim_start();
    }
    Ok(Relation {
        name: name.into(),
        version: version.map(|(op, v)| (op, v.into())),
    })
}

/// The operator of a relation's version constraint (the text inside `( )`, trimmed) and
/// the version text after it, trimmed. `<` and `>` are the
/// obsolete spellings of `<=` and `>=`.
pub(super) fn split_operator(inner: &str) -> Result<(Op, &str)> {
    let op_len = inner
        .find(|c: char| !"<>=".contains(c))
        .unwrap_or(inner.len());
    let op = match &inner[..op_len] {
        "" => bail!("no operator in `({})`", crate::text::one_line(inner)),
        text => Op::parse_deb(text)
            .with_context(|| format!("unknown operator `{}`", crate::text::one_line(text)))?,
    };
    Ok((op, inner[op_len..].trim()))
}

fn parse_constraint(inner: &str) -> Result<(Op, String)> {
    let inner = inner.trim();
    let (op, ver) = split_operator(inner)?;
    if ver.is_empty() || ver.contains(char::is_whitespace) {
        bail!("bad version `{ver}` in `({inner})`");
    }
    Ok((op, ver.to_string()))
}

/// Flattens a field whose entries take no alternatives (`Provides`, `Conflicts`).
fn flat_relations(p: &Paragraph, fields: &[&str]) -> Result<Vec<Relation>> {
    let mut out = Vec::new();
    for f in fields {
        if let Some(v) = p.get(f) {
            let groups = parse_relations(v).with_context(|| format!("field `{f}`"))?;
            out.extend(groups.into_iter().flatten());
        }
    }
    out.shrink_to_fit();
    Ok(out)
}

/// Builds the package model from a binary package's control paragraph (a `Packages` entry
/// or a `.deb`'s `control` file). `location`, `checksum` and `size` describe the file.
pub fn meta_from_control(
    p: &Paragraph,
    location: String,
    checksum: Option<Checksum>,
    size: u64,
    repo: usize,
) -> Result<PackageMeta> {
    let inner = || -> Result<PackageMeta> {
        let name = p.require("Package")?;
        crate::names::deb_package(name)?;
        crate::names::deb_version(p.require("Version")?)?;
        crate::names::arch(p.require("Architecture")?)?;
        let mut depends = Vec::new();
        for f in ["Pre-Depends", "Depends"] {
            if let Some(v) = p.get(f) {
                depends.extend(parse_relations(v).with_context(|| format!("field `{f}`"))?);
            }
        }
        depends.shrink_to_fit();
        Ok(PackageMeta {
            format: Format::Deb,
            name: name.to_string(),
            version: p.require("Version")?.to_string(),
            arch: p.require("Architecture")?.to_string(),
            depends,
            provides: flat_relations(p, &["Provides"])?,
            conflicts: flat_relations(p, &["Conflicts", "Breaks"])?,
            files: Vec::new(),
            essential: p
                .get("Essential")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            priority: p.get("Priority").unwrap_or("").to_string(),
            multi_arch: p.get("Multi-Arch").unwrap_or("").to_string(),
            location,
            checksum,
            size,
            repo,
        })
    };
    inner().with_context(|| p.describe())
}

/// Parses a `Packages` index, keeping packages of `arch` and `all`. `what` names the file
/// in errors.
pub fn parse_packages(
    text: &str,
    what: &Location,
    arch: &str,
    repo: usize,
) -> Result<Vec<PackageMeta>> {
    let budget = IndexBudget::default();
    parse_packages_from(&mut text.as_bytes(), what, arch, repo, &budget)
}

/// The longest paragraph an index may hold. Debian's largest (a package providing
/// thousands of names) are a few hundred KB.
const MAX_PARAGRAPH: usize = 16 << 20;

/// [`parse_packages`] over an index read from `reader` a paragraph at a time: only one
/// paragraph's text is held, not the index's (50 MB for Debian's main). Each package is
/// charged to `budget` before it is parsed.
pub fn parse_packages_from(
    reader: &mut dyn BufRead,
    what: &Location,
    arch: &str,
    repo: usize,
    budget: &IndexBudget,
) -> Result<Vec<PackageMeta>> {
    let mut out = Vec::new();
    let mut chunk = Vec::new();
    // Lines before the paragraph in `chunk`, and lines in it.
    let (mut before, mut lines) = (0, 0);
    loop {
        let start = chunk.len();
        let room = (MAX_PARAGRAPH + 1 - start) as u64;
        let n = std::io::Read::take(&mut *reader, room)
            .read_until(b'\n', &mut chunk)
            .with_context(|| format!("{what}: cannot read"))?;
        if n > 0 {
            lines += 1;
        }
        if chunk.len() > MAX_PARAGRAPH {
            bail!(
                "{what}: line {}: a paragraph longer than {} MiB",
                before + 1,
                MAX_PARAGRAPH >> 20
            );
        }
        let ends = n == 0 || chunk[start..].iter().all(u8::is_ascii_whitespace);
        if !ends {
            continue;
        }
        let text = std::str::from_utf8(&chunk)
            .map_err(|_| anyhow::anyhow!("{what}: line {}: not UTF-8", before + 1))?;
        for p in paragraphs_after(text, before) {
            let p = &p.with_context(|| what.to_string())?;
            if let Some(meta) = package_of(p, repo, arch, what, budget)? {
                out.push(meta);
            }
        }
        if n == 0 {
            return Ok(out);
        }
        before += lines;
        lines = 0;
        chunk.clear();
    }
}

/// The package a paragraph of the `Packages` index `what` describes, if it is of `arch` (or
/// `all`), charged to `budget` before it is parsed.
fn package_of(
    p: &Paragraph,
    repo: usize,
    arch: &str,
    what: &Location,
    budget: &IndexBudget,
) -> Result<Option<PackageMeta>> {
    // A paragraph without Architecture is not skipped: meta_from_control names it.
    match p.get("Architecture") {
        Some(a) if a != arch && a != "all" => return Ok(None),
        _ => {}
    }
    charge(p, what, budget)?;
    package_parsed(p, repo)
        .with_context(|| what.to_string())
        .map(Some)
}

/// The fields whose relations a package keeps, and whether they are dependencies (groups of
/// alternatives).
const RELATION_FIELDS: [(&str, bool); 5] = [
    ("Pre-Depends", true),
    ("Depends", true),
    ("Provides", false),
    ("Conflicts", false),
    ("Breaks", false),
];

/// Charges what the package of `p` will hold, from its text: every `,` or `|` may start
/// another relation, and the strings kept are at most the fields' lengths.
fn charge(p: &Paragraph, what: &Location, budget: &IndexBudget) -> Result<()> {
    let len = |f: &str| p.get(f).map_or(0, str::len);
    budget.package(
        what,
        &[
            len("Package"),
            len("Version"),
            len("Architecture"),
            len("Priority"),
            len("Multi-Arch"),
            len("Filename"),
            len("SHA256"),
            "sha256".len(),
        ],
    )?;
    for (field, depends) in RELATION_FIELDS {
        if let Some(v) = p.get(field) {
            let count = |c| v.bytes().filter(|&b| b == c).count() as u64;
            let groups = count(b',') + 1;
            budget.relations(
                what,
                Relations {
                    count: groups + count(b'|'),
                    versioned: count(b'('),
                    groups: if depends { groups } else { 0 },
                    text: v.len() as u64,
                    indexed: field == "Provides",
                },
            )?;
        }
    }
    Ok(())
}

fn package_parsed(p: &Paragraph, repo: usize) -> Result<PackageMeta> {
    let file = || -> Result<(String, Option<Checksum>, u64)> {
        let filename = p.require("Filename")?;
        let size = match p.get("Size") {
            Some(s) => s
                .trim()
                .parse()
                .with_context(|| format!("bad `Size: {s}`"))?,
            None => 0,
        };
        let checksum = p.get("SHA256").map(|h| Checksum {
            algo: "sha256".into(),
            hex: h.trim().to_ascii_lowercase(),
        });
        Ok((
            filename.trim_start_matches("./").to_string(),
            checksum,
            size,
        ))
    };
    let (location, checksum, size) = file().with_context(|| p.describe())?;
    meta_from_control(p, location, checksum, size, repo)
}

/// The parts of a `Release` file obsbox uses.
#[derive(Debug, Clone, Default)]
pub struct Release {
    /// `Architectures:`; empty when the field is absent.
    pub architectures: Vec<String>,
    /// Path below the `Release` file's directory → size and SHA256.
    pub sha256: HashMap<String, IndexEntry>,
}

/// Parses `Release` (or `InRelease`) text.
pub fn parse_release(text: &str) -> Result<Release> {
    let text = strip_clearsign(text)?;
    let paragraphs = parse_paragraphs(&text)?;
    let Some(p) = paragraphs.first() else {
        bail!("empty Release file");
    };
    let mut rel = Release {
        architectures: p
            .get("Architectures")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        ..Release::default()
    };
    for line in p.get("SHA256").unwrap_or("").lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut w = line.split_whitespace();
        let (Some(hex), Some(size), Some(path), None) = (w.next(), w.next(), w.next(), w.next())
        else {
            bail!(
                "SHA256 section: expected `HASH SIZE PATH`, got `{}`",
                clip(line)
            );
        };
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("SHA256 section: bad hash `{}` for {path}", clip(hex));
        }
        let size = size
            .parse()
            .with_context(|| format!("SHA256 section: bad size `{size}` for {path}"))?;
        rel.sha256.insert(
            path.to_string(),
            IndexEntry {
                size,
                checksum: Checksum {
                    algo: "sha256".into(),
                    hex: hex.to_ascii_lowercase(),
                },
            },
        );
    }
    Ok(rel)
}

/// Index names in order of preference: smallest download first.
const PACKAGES_NAMES: [&str; 3] = ["Packages.xz", "Packages.gz", "Packages"];

/// The index names to try at `dir`: on a local path nothing is downloaded, so the index
/// that needs least decompressing comes first (xz costs ≈ 10 ms per MB of index).
fn packages_names(dir: &Location) -> [&'static str; 3] {
    match dir {
        Location::Path(_) => ["Packages", "Packages.gz", "Packages.xz"],
        Location::Url(_) => PACKAGES_NAMES,
    }
}

/// Fetches and parses a `Release` or `InRelease` below `dir`; `None` when neither exists.
fn fetch_release(dir: &Location) -> Result<Option<(Location, Release)>> {
    for name in ["Release", "InRelease"] {
        let loc = dir.join(name)?;
        if let Some(data) = loc.read_optional()? {
            let text = String::from_utf8(data).with_context(|| format!("{loc}: not UTF-8"))?;
            let rel = parse_release(&text).with_context(|| loc.to_string())?;
            return Ok(Some((loc, rel)));
        }
    }
    Ok(None)
}

/// Fetches an index, verifies it against its `Release` entry when given, decompresses it
/// and parses it. With `keep` (the uncompressed index's `Release` entry and the cache's
/// index directory), a copy kept there with that sum is read instead, and a fresh download
/// is kept for next time.
fn read_index(
    loc: &Location,
    entry: Option<&IndexEntry>,
    keep: Option<(&IndexEntry, &Path)>,
    arch: &str,
    repo: usize,
    budget: &IndexBudget,
) -> Result<Vec<PackageMeta>> {
    let (sum, size) = entry.map_or((None, 0), |e| (Some(&e.checksum), e.size));
    super::index_cache::read_kept_or_streamed(loc, sum, size, keep, budget, |r| {
        parse_packages_from(r, loc, arch, repo, budget)
    })
}

/// Reads an archive with suites: `dists/SUITE/Release`, then each component's
/// `binary-ARCH/Packages` index. `arch` is a Debian or RPM architecture name.
/// `indexes`: the cache's directory of decompressed indexes (see [`super::index_cache`]).
pub fn read_suite(
    source: &Source,
    arch: &super::Arch,
    repo: usize,
    indexes: Option<&Path>,
    budget: &IndexBudget,
) -> Result<Vec<PackageMeta>> {
    let arch = arch.deb()?;
    let Some(suite) = &source.suite else {
        bail!("repository `{}`: no suite given", source.spec);
    };
    let dist = source.join(&format!("dists/{suite}"))?;
    let Some((release_loc, release)) = fetch_release(&dist)? else {
        bail!(
            "{}: not found (nor InRelease): no suite `{suite}` in repository `{}`",
            dist.join("Release")?,
            source.spec
        );
    };
    if !release.architectures.is_empty() && !release.architectures.iter().any(|a| a == arch) {
        bail!(
            "{release_loc}: suite `{suite}` has no architecture `{arch}` (it has: {})",
            release.architectures.join(" ")
        );
    }
    let mut out = Vec::new();
    for comp in &source.components {
        let local = matches!(dist, Location::Path(_));
        let found = packages_names(&dist).iter().find_map(|n| {
            let path = format!("{comp}/binary-{arch}/{n}");
            let entry = release.sha256.get(&path)?;
            // Release files list the uncompressed index, which mirrors often leave out.
            if local && !dist.join(&path).and_then(|l| l.exists()).unwrap_or(false) {
                return None;
            }
            Some((path, entry))
        });
        let Some((path, entry)) = found else {
            bail!("{release_loc}: lists no {comp}/binary-{arch}/Packages index with a SHA256 sum");
        };
        let loc = dist.join(&path)?;
        // A download's uncompressed form, as `Release` lists it, may be kept in the cache.
        let plain = (!local)
            .then(|| {
                release
                    .sha256
                    .get(&format!("{comp}/binary-{arch}/Packages"))
            })
            .flatten();
        let packages = read_index(&loc, Some(entry), plain.zip(indexes), arch, repo, budget)?;
        if out.is_empty() {
            // Taken as it is: a copy would hold the packages twice for a moment.
            out = packages;
        } else {
            out.extend(packages);
        }
    }
    Ok(out)
}

/// Where a flat repository's `Packages` lives: the base, or below a `./`-style suite.
fn flat_dir(source: &Source) -> Result<Location> {
    match &source.suite {
        Some(s) => source.join(s),
        None => Ok(source.base.clone()),
    }
}

/// Whether the source looks like a flat repository (a `Packages` index at its top).
pub fn is_flat(source: &Source) -> Result<bool> {
    let dir = flat_dir(source)?;
    for n in PACKAGES_NAMES {
        if dir.join(n)?.exists()? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Reads a flat repository. `Filename:` paths are relative to the base, as apt has them.
pub fn read_flat(
    source: &Source,
    arch: &super::Arch,
    repo: usize,
    budget: &IndexBudget,
) -> Result<Vec<PackageMeta>> {
    let arch = arch.deb()?;
    let dir = flat_dir(source)?;
    let release = fetch_release(&dir)?;
    if release.is_none() {
        tracing::debug!(repo = %source.spec, "flat repository without Release: index unverified");
    }
    for n in packages_names(&dir) {
        let loc = dir.join(n)?;
        let entry = release.as_ref().and_then(|(_, r)| r.sha256.get(n));
        // With a Release, only listed indexes count: an unlisted one cannot be verified.
        if release.is_some() && entry.is_none() {
            continue;
        }
        if entry.is_some() || loc.exists()? {
            return read_index(&loc, entry, None, arch, repo, budget);
        }
    }
    match release {
        Some((rl, _)) => bail!("{rl}: lists no Packages index with a SHA256 sum"),
        None => bail!("{}: not found (nor .xz, .gz)", dir.join("Packages")?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(name: &str, v: Option<(Op, &str)>) -> Relation {
        Relation {
            name: name.into(),
            version: v.map(|(o, s)| (o, s.into())),
        }
    }

    #[test]
    fn relations() {
        let r = parse_relations("a (>= 1.0) | b, c:any (<< 2), d [amd64] <!nocheck>").unwrap();
        assert_eq!(
            r,
            vec![
                vec![rel("a", Some((Op::Ge, "1.0"))), rel("b", None)],
                vec![rel("c", Some((Op::Lt, "2")))],
                vec![rel("d", None)],
            ]
        );
        let r = parse_relations("x(<1),y (> 2:1.0-1~b),z (=3) , w(>>4)|v(<=5),").unwrap();
        assert_eq!(
            r,
            vec![
                vec![rel("x", Some((Op::Le, "1")))],
                vec![rel("y", Some((Op::Ge, "2:1.0-1~b")))],
                vec![rel("z", Some((Op::Eq, "3")))],
                vec![rel("w", Some((Op::Gt, "4"))), rel("v", Some((Op::Le, "5")))],
            ]
        );
        // Folded over lines, with a native qualifier and both restriction kinds.
        let r = parse_relations("libc6 (>= 2.34),\n perl:native [!hurd-any] <!cross> <stage1>")
            .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1], vec![rel("perl", None)]);
        assert!(parse_relations("").unwrap().is_empty());
    }

    #[test]
    fn bad_relations() {
        for (bad, says) in [
            ("a (>= 1.0", "unclosed `(`"),
            ("a (~= 1)", "no operator"),
            ("a (=> 1)", "unknown operator `=>`"),
            ("a (>=)", "bad version"),
            ("a (>= 1) (<< 2)", "two version constraints"),
            ("a | , b", "no package name"),
            ("a b", "unexpected `b`"),
            ("a [amd64", "unclosed `[`"),
        ] {
            let e = format!("{:#}", parse_relations(bad).unwrap_err());
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn a_packages_index_is_read_one_paragraph_at_a_time() {
        // Two million tiny paragraphs took 450 MB when all were parsed before the first
        // was looked at: now each is read when its turn comes, and the first error stops.
        let text = format!(
            "Package: aa\nVersion: 1\nArchitecture: amd64\n\n{}no colon here\n",
            "Architecture: i386\n\n".repeat(1000)
        );
        let mut ps = crate::packages::deb822::paragraphs(&text);
        assert_eq!(ps.next().unwrap().unwrap().get("Package"), Some("aa"));
        assert_eq!(ps.by_ref().take(1000).filter(|p| p.is_ok()).count(), 1000);
        assert!(format!("{}", ps.next().unwrap().unwrap_err()).contains("line 2005"));
        assert!(ps.next().is_none());
        let what = Location::Path("/r/Packages".into());
        let e = format!(
            "{:#}",
            parse_packages(&text, &what, "amd64", 0).unwrap_err()
        );
        assert!(
            e.starts_with("/r/Packages: package `aa` (line 1): no `Filename`"),
            "{e}"
        );
    }

    #[test]
    fn a_streamed_index_holds_one_paragraph_and_counts_lines_across_them() {
        let what = Location::Path("/r/Packages".into());
        let good = "Package: aa\nVersion: 1\nArchitecture: amd64\nFilename: pool/a.deb\n\n\
                    Package: bb\nVersion: 1\nArchitecture: i386\nFilename: pool/b.deb\n\n";
        let text = format!("{good}{good}Package: cc\nno colon here\n");
        let e = format!(
            "{:#}",
            parse_packages_from(
                &mut text.as_bytes(),
                &what,
                "amd64",
                0,
                &IndexBudget::default()
            )
            .unwrap_err()
        );
        assert!(e.contains("line 22:"), "{e}");
        let pkgs = parse_packages_from(
            &mut good.repeat(3).as_bytes(),
            &what,
            "amd64",
            0,
            &IndexBudget::default(),
        )
        .unwrap();
        assert_eq!(
            pkgs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["aa"; 3]
        );

        // One paragraph (no empty line) beyond the bound is refused in one line, without
        // reading it all.
        let long = format!(
            "Package: xx\nVersion: 1\nArchitecture: amd64\nFilename: x.deb\n{}",
            "Provides: yy\n".repeat(MAX_PARAGRAPH / 10)
        );
        let e = format!(
            "{:#}",
            parse_packages_from(
                &mut long.as_bytes(),
                &what,
                "amd64",
                0,
                &IndexBudget::default()
            )
            .unwrap_err()
        );
        assert_eq!(e, "/r/Packages: line 1: a paragraph longer than 16 MiB");
        let bad = b"Package: aa\nVersion: \xff\n\n";
        let e = format!(
            "{:#}",
            parse_packages_from(&mut &bad[..], &what, "amd64", 0, &IndexBudget::default())
                .unwrap_err()
        );
        assert_eq!(e, "/r/Packages: line 1: not UTF-8");
    }

    #[test]
    fn a_budget_refuses_an_index_before_its_relations_are_parsed() {
        let what = Location::Path("/r/Packages".into());
        let small = IndexBudget::new(4 << 20);
        let one = "Package: aa\nVersion: 1\nArchitecture: amd64\nFilename: pool/a.deb\n\n";
        assert_eq!(
            parse_packages_from(&mut one.as_bytes(), &what, "amd64", 0, &small)
                .unwrap()
                .len(),
            1
        );
        let used = small.used();
        assert!(used > 500 && used < 1000, "{used}");
        // 100,000 tiny relations in one paragraph (600 KB of text) are charged from the
        // text, before a relation is built, and the paragraph is refused.
        let names: Vec<String> = (0..100_000).map(|i| format!("a{i}")).collect();
        let many = format!("{}Depends: {}\n", &one[..one.len() - 1], names.join(", "));
        let e = parse_packages_from(&mut many.as_bytes(), &what, "amd64", 0, &small)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("repository index /r/Packages holds more than")
                && e.contains("2 packages and 100000 relations")
                && e.ends_with(
                    "over the bound of 4 MiB, which OBSBOX_INDEX_MEMORY sets); refusing it"
                ),
            "{e}"
        );
        // Packages of other architectures are not kept, so not charged.
        let before = small.used();
        let other = one.replace("amd64", "i386").repeat(1000);
        parse_packages_from(&mut other.as_bytes(), &what, "amd64", 0, &small).unwrap();
        assert_eq!(small.used(), before);
    }

    #[test]
    fn control_to_meta() {
        let ps = parse_paragraphs(
            "Package: dpkg\nEssential: yes\nPriority: required\nMulti-Arch: foreign\n\
             Version: 1.21.22\nArchitecture: amd64\nPre-Depends: libc6 (>= 2.34), tar (>= 1.28)\n\
             Depends: x | y\nProvides: dpkg-dev-ish (= 1.21.22), virt\n\
             Conflicts: old\nBreaks: older (<< 1)\n",
        )
        .unwrap();
        let m = meta_from_control(&ps[0], "pool/d.deb".into(), None, 5, 3).unwrap();
        assert_eq!(m.depends.len(), 3);
        assert_eq!(m.depends[2].len(), 2);
        assert_eq!(
            m.provides[0],
            rel("dpkg-dev-ish", Some((Op::Eq, "1.21.22")))
        );
        assert_eq!(
            m.conflicts,
            [rel("old", None), rel("older", Some((Op::Lt, "1")))]
        );
        assert!(m.essential);
        assert_eq!(
            (m.priority.as_str(), m.multi_arch.as_str()),
            ("required", "foreign")
        );
        assert_eq!((m.size, m.repo), (5, 3));

        let ps = parse_paragraphs("Package: xy\nArchitecture: all\n").unwrap();
        let e = format!(
            "{:#}",
            meta_from_control(&ps[0], String::new(), None, 0, 0).unwrap_err()
        );
        assert!(e.contains("package `xy`") && e.contains("`Version`"), "{e}");
        // Names are data: one that is a path is refused with the field named.
        let ps = parse_paragraphs("Package: ../x\nVersion: 1\nArchitecture: all\n").unwrap();
        let e = format!(
            "{:#}",
            meta_from_control(&ps[0], String::new(), None, 0, 0).unwrap_err()
        );
        assert!(
            e.contains("Package \"../x\" is not a Debian package name"),
            "{e}"
        );
    }

    #[test]
    fn release() {
        let h = "a".repeat(64);
        let r = parse_release(&format!(
            "Suite: s\nArchitectures: amd64 arm64\nMD5Sum:\n 00 1 main/x\nSHA256:\n {h} 12 main/binary-amd64/Packages\n"
        ))
        .unwrap();
        assert_eq!(r.architectures, ["amd64", "arm64"]);
        assert_eq!(r.sha256["main/binary-amd64/Packages"].size, 12);
        assert!(parse_release("SHA256:\n zz 1 p\n").is_err());
        assert!(parse_release(&format!("SHA256:\n {h} big p\n")).is_err());
    }
}
