//! Build-compare: whether a rebuild produced the same packages as the build before it, so the
//! job can end "unchanged" (exit code 2) and OBS keeps publishing the old binaries.
//!
//! Packages pair by name and architecture, not by file name: file names carry the release,
//! which OBS raises on every rebuild. A pair is equal when all but build noise is equal:
//! - RPM: release, build time and host, DistURL, distribution, vendor, packager, signatures
//!   and digests, payload compressor, file mtimes, and the release in versioned relations
//!   on names the build's own packages provide (`foo-devel` requiring `foo = 1.0-3`). Only
//!   the header fields read here count (see `rpm_summary`); the changelog is one of them.
//! - .deb: file mtimes, the order of members and entries, control.tar mtimes, and
//!   `md5sums` (digests of the raw bytes, which a gzip mtime changes; the files themselves
//!   are compared).
//! - Files of both: kind, mode, owner, symlink target and content count. Gzip files (`.gz`)
//!   compare by their decompressed content: the gzip header holds an mtime and a name. A
//!   source package's spec file compares without its `Release:` lines, where OBS writes the
//!   release.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::packages::rpm::{RpmFile, RpmPackage, ScriptKind};
use crate::packages::{Entry, EntryKind, Sink, deb};
use crate::repo::{Format, Relation};

/// The outcome of comparing two builds' results.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Both hold the same packages, equal but for build noise.
    pub same: bool,
    /// One short line per difference, for the build log.
    pub differences: Vec<String>,
}

/// Compares the packages of two results directories (`RPMS/<arch>/*.rpm`, `SRPMS/*.rpm`,
/// `DEBS/*.deb`, or all in one directory as `.build.oldpackages` has them).
pub fn compare_results(old: &Path, new: &Path) -> Result<Verdict> {
    let old = Results::read(old)?;
    let new = Results::read(new)?;
    // A versioned relation on a name these builds provide is on a sibling package, and
    // the sibling's release is the build's: noise.
    let own: HashSet<String> = old.own_names().chain(new.own_names()).collect();
    let mut differences = Vec::new();
    for (key, new_package) in &new.packages {
        let Some(old_package) = old.packages.get(key) else {
            differences.push(format!("package {key} is new"));
            continue;
        };
        let before = summary(old_package, &own)?;
        let after = summary(new_package, &own)?;
        before.diff(&after, &new_package.label, &mut differences);
    }
    for key in old.packages.keys() {
        if !new.packages.contains_key(key) {
            differences.push(format!("package {key} is gone"));
        }
    }
    Ok(Verdict {
        same: differences.is_empty(),
        differences,
    })
}

/// What pairs packages across builds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    name: String,
    arch: String,
    format: Format,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.arch)
    }
}

struct Found {
    path: PathBuf,
    /// The path relative to the results directory, for messages.
    label: String,
    /// The RPM as opened for pairing; `None` for a .deb.
    rpm: Option<RpmPackage>,
}

/// The packages of one build by key.
struct Results {
    packages: BTreeMap<Key, Found>,
}

impl Results {
    fn read(dir: &Path) -> Result<Results> {
        let mut packages: BTreeMap<Key, Found> = BTreeMap::new();
        for path in package_files(dir)? {
            let (key, rpm) = identify(&path)?;
            if let Some(other) = packages.get(&key) {
                bail!(
                    "{} and {} are both package {key}",
                    other.path.display(),
                    path.display()
                );
            }
            let label = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            packages.insert(key, Found { path, label, rpm });
        }
        Ok(Results { packages })
    }

    /// The names the RPMs provide (their own names among them).
    fn own_names(&self) -> impl Iterator<Item = String> + '_ {
        self.packages
            .values()
            .filter_map(|found| found.rpm.as_ref())
            .flat_map(|rpm| {
                rpm.provides
                    .iter()
                    .map(|p| p.name.to_string())
                    .chain([rpm.name.clone()])
            })
    }
}

/// The `.rpm` and `.deb` files at most two directory levels below `dir`, without `OTHER/`
/// (build logs, statistics, buildinfo), sorted.
fn package_files(dir: &Path) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) -> Result<()> {
        let entries =
            fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
            let path = entry.path();
            let file_type = entry
                .file_type()
                .with_context(|| format!("cannot stat {}", path.display()))?;
            if file_type.is_dir() {
                if depth < 2 && entry.file_name() != "OTHER" {
                    walk(&path, depth + 1, out)?;
                }
            } else if path.extension().is_some_and(|e| e == "rpm" || e == "deb")
                // Followed: old packages may be linked in rather than copied.
                && path.is_file()
            {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, 0, &mut out)?;
    out.sort();
    Ok(out)
}

/// Reads just enough of a package to pair it.
fn identify(path: &Path) -> Result<(Key, Option<RpmPackage>)> {
    if path.extension().is_some_and(|e| e == "deb") {
        let control = deb::read_control_of(path)?;
        let field = |name: &str| {
            deb::field(&control.control, name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .with_context(|| format!("{}: the control file has no {name}", path.display()))
        };
        let key = Key {
            name: field("Package")?,
            arch: field("Architecture")?,
            format: Format::Deb,
        };
        return Ok((key, None));
    }
    let rpm = RpmPackage::open(path)?;
    let key = Key {
        name: rpm.name.clone(),
        arch: rpm.arch.clone(),
        format: Format::Rpm,
    };
    Ok((key, Some(rpm)))
}

/// A metadata value: text, or a set whose members are reported one by one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Text(String),
    Set(BTreeSet<String>),
}

/// A file as compared: no mtime, and content by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    /// `file`, `directory`, `symlink`, `fifo`, `character device 1:3`, …
    kind: String,
    /// Permission bits.
    mode: u32,
    /// `user:group` (RPM: names; .deb: numbers).
    owner: String,
    /// Symlink target.
    target: String,
    /// RPM file flags (`%config`, `%doc`, …) and capabilities.
    attributes: String,
    /// Regular files: the sha256 of the content (after gunzip for `.gz`).
    digest: Option<String>,
}

/// A package with the noise taken out.
#[derive(Debug, Default)]
struct Summary {
    /// Header or control fields by name.
    fields: BTreeMap<String, Value>,
    /// Files by absolute path.
    files: BTreeMap<String, Node>,
}

fn summary(found: &Found, own: &HashSet<String>) -> Result<Summary> {
    match &found.rpm {
        Some(rpm) => rpm_summary(rpm, own),
        None => deb_summary(&found.path),
    }
}

/// The header fields compared: epoch and version, the descriptive texts, changelog,
/// scriptlets, relations (with the own release taken out) and the file list.
fn rpm_summary(rpm: &RpmPackage, own: &HashSet<String>) -> Result<Summary> {
    let details = rpm.details()?;
    let mut fields = BTreeMap::new();
    let mut text = |name: &str, value: String| fields.insert(name.to_owned(), Value::Text(value));
    text(
        "Version",
        match rpm.epoch {
            Some(epoch) => format!("{epoch}:{}", rpm.version),
            None => rpm.version.clone(),
        },
    );
    text("Summary", details.summary);
    text("Description", details.description);
    text("License", details.license);
    text("Group", details.group);
    text("URL", details.url);
    let changelog: Vec<String> = details
        .changelog
        .iter()
        .map(|c| format!("{} {}\n{}", c.time, c.author, c.text))
        .collect();
    text("changelog", changelog.join("\n"));
    for script in &rpm.scripts {
        let name = match script.kind {
            ScriptKind::PreIn => "%pre",
            ScriptKind::PostIn => "%post",
            ScriptKind::PreUn => "%preun",
            ScriptKind::PostUn => "%postun",
        };
        text(
            name,
            format!("{}\n{}", script.interpreter.join(" "), script.body),
        );
    }
    for (tag, values) in details.other_scripts {
        text(tag, values.join("\n"));
    }
    for (name, relations) in [
        ("Provides", &rpm.provides),
        ("Requires", &rpm.requires),
        ("Conflicts", &rpm.conflicts),
        ("Obsoletes", &rpm.obsoletes),
        ("Recommends", &details.recommends),
        ("Suggests", &details.suggests),
        ("Supplements", &details.supplements),
        ("Enhances", &details.enhances),
    ] {
        let set = relations.iter().map(|r| relation_text(r, own)).collect();
        fields.insert(name.to_owned(), Value::Set(set));
    }

    let source = rpm.arch == "src" || rpm.arch == "nosrc";
    let mut payload = Hashes::new(source);
    rpm.extract(&mut payload)?;
    let files = rpm
        .files
        .iter()
        .map(|file| {
            let path = normalize(file.path.as_bytes());
            let digest = payload.nodes.get(&path).and_then(|n| n.digest.clone());
            let node = Node {
                kind: mode_kind(file.mode, file.rdev),
                mode: file.mode & 0o7777,
                owner: format!("{}:{}", file.user, file.group),
                target: file.link_target.clone(),
                attributes: rpm_attributes(file),
                digest,
            };
            (path, node)
        })
        .collect();
    Ok(Summary { fields, files })
}

fn deb_summary(path: &Path) -> Result<Summary> {
    let mut data = Hashes::new(false);
    let control = deb::read(path, Some(&mut data))?;
    let mut fields: BTreeMap<String, Value> = control_fields(&control.control)
        .into_iter()
        .map(|(name, value)| (name, Value::Text(value)))
        .collect();
    for (name, content, executable) in &control.members {
        if name == "md5sums" {
            continue;
        }
        let mode = if *executable { "executable" } else { "plain" };
        let value = format!("{mode}\n{}", String::from_utf8_lossy(content));
        fields.insert(format!("control.tar {name}"), Value::Text(value));
    }
    Ok(Summary {
        fields,
        files: data.nodes,
    })
}

impl Summary {
    fn diff(&self, new: &Summary, label: &str, out: &mut Vec<String>) {
        let names: BTreeSet<&String> = self.fields.keys().chain(new.fields.keys()).collect();
        for name in names {
            diff_value(
                label,
                name,
                self.fields.get(name),
                new.fields.get(name),
                out,
            );
        }
        for (path, old) in &self.files {
            match new.files.get(path) {
                None => out.push(format!("{label}: {path}: removed")),
                Some(new) => diff_node(label, path, old, new, out),
            }
        }
        for path in new.files.keys() {
            if !self.files.contains_key(path) {
                out.push(format!("{label}: {path}: added"));
            }
        }
    }
}

/// Longest value shown in a difference line; longer ones are only said to differ.
const SHOW_MAX: usize = 60;

/// A field missing on one side counts as empty.
fn diff_value(
    label: &str,
    name: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    out: &mut Vec<String>,
) {
    let empty_like = |other: Option<&Value>| match other {
        Some(Value::Set(_)) => Value::Set(BTreeSet::new()),
        _ => Value::Text(String::new()),
    };
    let (empty_old, empty_new) = (empty_like(new), empty_like(old));
    match (old.unwrap_or(&empty_old), new.unwrap_or(&empty_new)) {
        (Value::Set(old), Value::Set(new)) => {
            for item in old.difference(new) {
                out.push(format!("{label}: {name}: removed {item}"));
            }
            for item in new.difference(old) {
                out.push(format!("{label}: {name}: added {item}"));
            }
        }
        (Value::Text(old), Value::Text(new)) => {
            if old != new {
                out.push(format!("{label}: {name} {}", change(old, new)));
            }
        }
        // A field name always has one kind of value; say so rather than panic.
        _ => out.push(format!("{label}: {name} differs")),
    }
}

/// `a -> b` for short one-line values, `differs` otherwise.
fn change(old: &str, new: &str) -> String {
    let short = |s: &str| s.len() <= SHOW_MAX && !s.contains('\n');
    if short(old) && short(new) {
        let show = |s: &str| {
            if s.is_empty() {
                "(none)".to_owned()
            } else {
                s.to_owned()
            }
        };
        format!("{} -> {}", show(old), show(new))
    } else {
        "differs".to_owned()
    }
}

fn diff_node(label: &str, path: &str, old: &Node, new: &Node, out: &mut Vec<String>) {
    let mut say = |what: String| out.push(format!("{label}: {path}: {what}"));
    if old.kind != new.kind {
        // Nothing else compares across kinds.
        say(format!("{} -> {}", old.kind, new.kind));
        return;
    }
    if old.mode != new.mode {
        say(format!("mode {:04o} -> {:04o}", old.mode, new.mode));
    }
    if old.owner != new.owner {
        say(format!("owner {} -> {}", old.owner, new.owner));
    }
    if old.target != new.target {
        say(format!(
            "symlink target {}",
            change(&old.target, &new.target)
        ));
    }
    if old.attributes != new.attributes {
        say(format!(
            "attributes {}",
            change(&old.attributes, &new.attributes)
        ));
    }
    if old.digest != new.digest {
        say("content differs".to_owned());
    }
}

/// `name op version`; the release goes when the name is the build's own.
fn relation_text(relation: &Relation, own: &HashSet<String>) -> String {
    let Some((op, version)) = &relation.version else {
        return relation.name.to_string();
    };
    let version = if own.contains(&*relation.name) {
        strip_release(version)
    } else {
        version
    };
    format!("{} {} {version}", relation.name, op.text(Format::Rpm))
}

/// `[epoch:]version-release` → `[epoch:]version`; RPM versions cannot contain `-`.
fn strip_release(evr: &str) -> &str {
    evr.rsplit_once('-').map_or(evr, |(ev, _)| ev)
}

/// The kind of an RPM header file mode; `rdev` is rpm's 16-bit `major << 8 | minor`.
fn mode_kind(mode: u32, rdev: u32) -> String {
    let (major, minor) = (rdev >> 8 & 0xff, rdev & 0xff);
    match mode & libc::S_IFMT {
        libc::S_IFREG => "file".to_owned(),
        libc::S_IFDIR => "directory".to_owned(),
        libc::S_IFLNK => "symlink".to_owned(),
        libc::S_IFIFO => "fifo".to_owned(),
        libc::S_IFCHR => format!("character device {major}:{minor}"),
        libc::S_IFBLK => format!("block device {major}:{minor}"),
        other => format!("file type {other:o}"),
    }
}

/// The RPM file flags and capabilities that change what gets installed or how rpm treats
/// the file.
fn rpm_attributes(file: &RpmFile) -> String {
    const FLAGS: [(u32, &str); 10] = [
        (1 << 0, "%config"),
        (1 << 1, "%doc"),
        (1 << 3, "missingok"),
        (1 << 4, "noreplace"),
        (1 << 5, "specfile"),
        (1 << 6, "%ghost"),
        (1 << 7, "%license"),
        (1 << 8, "%readme"),
        (1 << 11, "pubkey"),
        (1 << 12, "%artifact"),
    ];
    let mut words: Vec<String> = FLAGS
        .iter()
        .filter(|(bit, _)| file.flags & bit != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect();
    let known = FLAGS.iter().fold(0, |mask, (bit, _)| mask | bit);
    if file.flags & !known != 0 {
        words.push(format!("flags {:#x}", file.flags & !known));
    }
    if let Some(capability) = &file.capability {
        words.push(format!("%caps({capability})"));
    }
    words.join(" ")
}

/// Control file fields by name; continuation lines stay with their field.
fn control_fields(text: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(value) = current.as_ref().and_then(|name| out.get_mut(name)) {
                value.push('\n');
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_owned();
            out.insert(name.clone(), value.trim().to_owned());
            current = Some(name);
        }
    }
    out
}

/// An archive name as an absolute path: `./usr/bin/x`, `usr/bin/x/` and `/usr/bin/x` are
/// all `/usr/bin/x`.
fn normalize(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    let mut name = name.as_ref();
    while let Some(rest) = name.strip_prefix("./") {
        name = rest;
    }
    let name = name.trim_start_matches('/').trim_end_matches('/');
    if name == "." {
        return "/".to_owned();
    }
    format!("/{name}")
}

/// A sink that keeps each entry's metadata and a digest of its content instead of writing.
struct Hashes {
    /// A source package: its spec files compare without `Release:` lines.
    source: bool,
    nodes: BTreeMap<String, Node>,
}

impl Hashes {
    fn new(source: bool) -> Hashes {
        Hashes {
            source,
            nodes: BTreeMap::new(),
        }
    }
}

impl Sink for Hashes {
    fn entry(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<()> {
        let path = normalize(&entry.path);
        let mut target = String::new();
        let mut digest = None;
        let kind = match &entry.kind {
            EntryKind::File { .. } => {
                digest = Some(content_digest(&path, data, self.source)?);
                "file".to_owned()
            }
            EntryKind::HardLink { target: to } => {
                // A link is what it links to; both readers hand the data with the first
                // member of a link set, so that one is known.
                let to = normalize(to);
                let linked = self
                    .nodes
                    .get(&to)
                    .with_context(|| format!("hard link to {to}, which is not an earlier entry"))?;
                target.clone_from(&linked.target);
                digest.clone_from(&linked.digest);
                linked.kind.clone()
            }
            EntryKind::Symlink { target: to } => {
                target = String::from_utf8_lossy(to).into_owned();
                "symlink".to_owned()
            }
            EntryKind::Dir => "directory".to_owned(),
            EntryKind::Fifo => "fifo".to_owned(),
            EntryKind::CharDevice { major, minor } => format!("character device {major}:{minor}"),
            EntryKind::BlockDevice { major, minor } => format!("block device {major}:{minor}"),
        };
        let attributes = match &entry.meta.capability {
            Some(capability) => format!("capability {}", hex::encode(capability)),
            None => String::new(),
        };
        let node = Node {
            kind,
            mode: entry.meta.mode,
            owner: format!("{}:{}", entry.meta.uid, entry.meta.gid),
            target,
            attributes,
            digest,
        };
        self.nodes.insert(path, node);
        Ok(())
    }
}

/// The content digest of the file `path`, as compared.
fn content_digest(path: &str, data: &mut dyn Read, source: bool) -> Result<String> {
    if path.ends_with(".gz") {
        return gunzip_digest(data);
    }
    if source && path.ends_with(".spec") {
        let mut spec = Vec::new();
        data.read_to_end(&mut spec)?;
        return Ok(spec_digest(&spec));
    }
    let mut hash = Sha256::new();
    hash_all(data, &mut hash)?;
    Ok(hex::encode(hash.finalize()))
}

/// The digest of the decompressed content, or of the bytes when they are not gzip.
fn gunzip_digest(data: &mut dyn Read) -> Result<String> {
    /// Hashes the raw bytes as the decoder pulls them, for the fallback.
    struct Tee<'a> {
        inner: &'a mut dyn Read,
        hash: Sha256,
    }
    impl Read for Tee<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.hash.update(&buf[..n]);
            Ok(n)
        }
    }
    let mut tee = Tee {
        inner: data,
        hash: Sha256::new(),
    };
    let mut plain = Sha256::new();
    let decoded = hash_all(&mut flate2::read::MultiGzDecoder::new(&mut tee), &mut plain);
    // The rest of the raw bytes, for the fallback digest and to consume the entry.
    hash_all(&mut tee, &mut Sha256::new())?;
    Ok(match decoded {
        Ok(()) => format!("gunzip {}", hex::encode(plain.finalize())),
        Err(_) => hex::encode(tee.hash.finalize()),
    })
}

/// The digest of a spec file without its `Release:` lines.
fn spec_digest(spec: &[u8]) -> String {
    let mut hash = Sha256::new();
    for line in spec.split(|&b| b == b'\n') {
        let start = line.trim_ascii_start();
        if start.len() >= 8 && start[..8].eq_ignore_ascii_case(b"release:") {
            continue;
        }
        hash.update(line);
        hash.update(b"\n");
    }
    hex::encode(hash.finalize())
}

fn hash_all(reader: &mut dyn Read, hash: &mut Sha256) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hash.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn archive_names_become_absolute_paths() {
        for (name, path) in [
            (&b"./usr/bin/x"[..], "/usr/bin/x"),
            (b"usr/bin/x", "/usr/bin/x"),
            (b"/usr/bin/x", "/usr/bin/x"),
            (b"./usr/share/", "/usr/share"),
            (b"./", "/"),
            (b".", "/"),
            (b"obscmp.spec", "/obscmp.spec"),
            (b"./.hidden", "/.hidden"),
        ] {
            assert_eq!(normalize(name), path, "{}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn release_goes_only_from_own_names() {
        let own: HashSet<String> = ["foo".to_owned()].into();
        let relation = |name: &str, version: &str| Relation {
            name: name.into(),
            version: Some((crate::repo::Op::Eq, version.into())),
        };
        assert_eq!(
            relation_text(&relation("foo", "2:1.0-3.1"), &own),
            "foo = 2:1.0"
        );
        assert_eq!(relation_text(&relation("foo", "1.0"), &own), "foo = 1.0");
        assert_eq!(
            relation_text(&relation("bar", "1.0-3"), &own),
            "bar = 1.0-3"
        );
        let unversioned = Relation {
            name: "foo".into(),
            version: None,
        };
        assert_eq!(relation_text(&unversioned, &own), "foo");
    }

    fn gzip(data: &[u8], mtime: u32, name: &str) -> Vec<u8> {
        let mut encoder = flate2::GzBuilder::new()
            .mtime(mtime)
            .filename(name)
            .write(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn digest(path: &str, data: &[u8], source: bool) -> String {
        content_digest(path, &mut &data[..], source).unwrap()
    }

    #[test]
    fn gzip_files_compare_by_their_content() {
        let a = gzip(b"text\n", 1, "a");
        let b = gzip(b"text\n", 2, "b");
        assert_ne!(a, b);
        assert_eq!(digest("/x.gz", &a, false), digest("/x.gz", &b, false));
        assert_ne!(
            digest("/x.gz", &a, false),
            digest("/x.gz", &gzip(b"other\n", 1, "a"), false)
        );
        // Only `.gz` names are decompressed.
        assert_ne!(digest("/x", &a, false), digest("/x", &b, false));
        // Not gzip after all: the bytes count, as for any file.
        assert_eq!(
            digest("/x.gz", b"plain", false),
            digest("/x", b"plain", false)
        );
        let mut broken = a.clone();
        broken.truncate(a.len() - 4);
        assert_eq!(
            digest("/x.gz", &broken, false),
            digest("/x", &broken, false)
        );
    }

    #[test]
    fn spec_release_lines_count_only_in_binary_packages() {
        let three = b"Name: x\nRelease: 3\n%description\nx\n";
        let four = b"Name: x\n  release:\t4\n%description\nx\n";
        assert_eq!(
            digest("/x.spec", three, true),
            digest("/x.spec", four, true)
        );
        assert_ne!(
            digest("/x.spec", three, false),
            digest("/x.spec", four, false)
        );
        let other = b"Name: y\nRelease: 3\n%description\nx\n";
        assert_ne!(
            digest("/x.spec", three, true),
            digest("/x.spec", other, true)
        );
    }

    #[test]
    fn control_fields_keep_continuation_lines() {
        let fields =
            control_fields("Package: a\nDescription: short\n long\n .\n more\nVersion: 1\n");
        assert_eq!(fields["Package"], "a");
        assert_eq!(fields["Description"], "short\n long\n .\n more");
        assert_eq!(fields["Version"], "1");
        assert_eq!(fields.len(), 3);
    }

    #[test]
    fn packages_are_found_two_levels_down_but_not_in_other() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for path in [
            "flat.rpm",
            "SRPMS/a.src.rpm",
            "RPMS/x86_64/b.rpm",
            "DEBS/c.deb",
            "RPMS/x86_64/deeper/d.rpm",
            "OTHER/e.rpm",
            "RPMS/x86_64/b.rpm.sig",
            "logfile",
        ] {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, b"").unwrap();
        }
        let found: Vec<String> = package_files(root)
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            found,
            [
                "DEBS/c.deb",
                "RPMS/x86_64/b.rpm",
                "SRPMS/a.src.rpm",
                "flat.rpm"
            ]
        );
        let error = format!("{:#}", package_files(&root.join("missing")).unwrap_err());
        assert!(
            error.contains("cannot read") && error.contains("missing"),
            "{error}"
        );
    }

    #[test]
    fn differences_show_short_values_and_set_members() {
        let mut out = Vec::new();
        let text = |s: &str| Value::Text(s.to_owned());
        diff_value(
            "p",
            "Version",
            Some(&text("1.0")),
            Some(&text("1.1")),
            &mut out,
        );
        diff_value(
            "p",
            "Description",
            Some(&text("a\nb")),
            Some(&text("a\nc")),
            &mut out,
        );
        diff_value("p", "URL", None, Some(&text("https://x")), &mut out);
        diff_value("p", "Same", Some(&text("x")), Some(&text("x")), &mut out);
        let set = |items: &[&str]| Value::Set(items.iter().map(|s| s.to_string()).collect());
        diff_value(
            "p",
            "Requires",
            Some(&set(&["a", "b"])),
            Some(&set(&["b", "c"])),
            &mut out,
        );
        diff_value("p", "Enhances", None, Some(&set(&[])), &mut out);
        assert_eq!(
            out,
            [
                "p: Version 1.0 -> 1.1",
                "p: Description differs",
                "p: URL (none) -> https://x",
                "p: Requires: removed a",
                "p: Requires: added c",
            ]
        );
    }

    #[test]
    fn file_differences_name_what_changed() {
        let node = Node {
            kind: "file".to_owned(),
            mode: 0o644,
            owner: "root:root".to_owned(),
            target: String::new(),
            attributes: String::new(),
            digest: Some("1".to_owned()),
        };
        let changed = Node {
            mode: 0o755,
            owner: "root:wheel".to_owned(),
            attributes: "%config".to_owned(),
            digest: Some("2".to_owned()),
            ..node.clone()
        };
        let link = Node {
            kind: "symlink".to_owned(),
            digest: None,
            ..node.clone()
        };
        let mut out = Vec::new();
        diff_node("p", "/f", &node, &node, &mut out);
        assert!(out.is_empty());
        diff_node("p", "/f", &node, &changed, &mut out);
        diff_node("p", "/f", &node, &link, &mut out);
        assert_eq!(
            out,
            [
                "p: /f: mode 0644 -> 0755",
                "p: /f: owner root:root -> root:wheel",
                "p: /f: attributes (none) -> %config",
                "p: /f: content differs",
                "p: /f: file -> symlink",
            ]
        );
    }
}
