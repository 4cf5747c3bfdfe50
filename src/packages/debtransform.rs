//! OBS's Debian source layouts made into a source package `dpkg-source -x` unpacks, as
//! obs-build's `debtransform` makes them when the sources of a `.dsc` hold a `debian.*`
//! file.
//!
//! The layouts: an upstream tarball (`DEBTRANSFORM-TAR`, or the one tarball there is), the
//! Debian files as `debian.NAME` files (`debian.control`, `debian.rules`, …) and/or in
//! debian tarballs (`DEBTRANSFORM-FILES-TAR`, or `debian.tar[.gz|.xz]`), more files for the
//! top of the tree (`DEBTRANSFORM-FILES`), and quilt-style patches named by a series file
//! (`DEBTRANSFORM-SERIES`, `debian.series` or `patches.series`). The result is a 1.0
//! (non-native) source package: `NAME_UPSTREAM.orig.tar.EXT`, a `NAME_VERSION.diff.gz` that
//! creates the Debian files and carries the patches, and a `.dsc` with `Files` and
//! checksums. With `DEBTRANSFORM-RELEASE` the build's release goes into the version
//! (`VERSION+RELEASE`), and the changelog gets an entry for the new version.
//!
//! Everything here is the job's: names are plain file names of the sources directory
//! (never followed through a link), tarball members are regular files below `debian/`,
//! and every size is bounded. A broken layout is one error naming the file and the problem.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use sha2::Digest;

use super::deb822;
use super::tarball::{Whiteouts, read_tar};
use super::{Entry, EntryKind, Sink};

/// The largest `.dsc`, `debian.*` file, series file, patch or debian tarball member read.
pub const MAX_FILE: u64 = 16 << 20;
/// The most bytes read out of one tarball (the upstream one is read through for its
/// `debian/` files).
pub const MAX_EXPANDED: u64 = 16 << 30;
/// The most members of one tarball.
pub const MAX_MEMBERS: usize = 1 << 20;
/// The largest diff made.
pub const MAX_DIFF: u64 = 256 << 20;

/// The tags that say how to transform; they do not go into the transformed `.dsc`.
const TRANSFORM_TAGS: [&str; 5] = [
    "DEBTRANSFORM-SERIES",
    "DEBTRANSFORM-TAR",
    "DEBTRANSFORM-FILES-TAR",
    "DEBTRANSFORM-FILES",
    "DEBTRANSFORM-RELEASE",
];

/// What a transformation is given beside the sources.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The build's release, as the Debian build takes it (see
    /// [`crate::bundle::recipe::deb_release`]); used with `DEBTRANSFORM-RELEASE`.
    pub release: Option<String>,
    /// The date of a changelog entry debtransform adds (RFC 2822, as `date -R`).
    pub date: String,
}

/// A transformed source package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transformed {
    /// The `.dsc` written (a file name in the output directory).
    pub dsc: String,
    /// What was done, a line each, for the job log.
    pub notes: Vec<String>,
}

/// Whether obs-build transforms the sources of a `.dsc` in `sources`: a regular file named
/// `debian.*` is there.
pub fn applies(sources: &Path) -> Result<bool> {
    for entry in
        std::fs::read_dir(sources).with_context(|| format!("cannot read {}", sources.display()))?
    {
        let entry = entry?;
        let name = entry.file_name();
        if name.as_encoded_bytes().starts_with(b"debian.") && entry.file_type()?.is_file() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The date debtransform writes into a changelog entry: `SOURCE_DATE_EPOCH` (UTC) when the
/// environment has it, else now in the local time zone.
pub fn changelog_date() -> Result<String> {
    use chrono::TimeZone;
    const FORMAT: &str = "%a, %d %b %Y %H:%M:%S %z";
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => {
            let secs: i64 = text
                .trim()
                .parse()
                .map_err(|_| anyhow!("SOURCE_DATE_EPOCH {text:?}: not a number of seconds"))?;
            let when = chrono::Utc
                .timestamp_opt(secs, 0)
                .single()
                .ok_or_else(|| anyhow!("SOURCE_DATE_EPOCH {text:?}: out of range"))?;
            Ok(when.format(FORMAT).to_string())
        }
        Err(_) => Ok(chrono::Local::now().format(FORMAT).to_string()),
    }
}

/// Transforms the `.dsc` named `dsc` and the files beside it in `sources` into a source
/// package in `out` (created, must not hold another `.dsc`).
pub fn transform(sources: &Path, dsc: &str, options: &Options, out: &Path) -> Result<Transformed> {
    let dir = SourceDir::new(sources)?;
    let text = String::from_utf8(dir.read(dsc, MAX_FILE)?)
        .map_err(|_| anyhow!("{dsc}: not UTF-8 text"))?;
    let text = deb822::strip_clearsign(&text).unwrap_or(text);
    let paragraphs =
        deb822::parse_paragraphs(&text).map_err(|e| anyhow!("{dsc}: not a control file: {e}"))?;
    let Some(paragraph) = paragraphs.first() else {
        bail!("{dsc}: no fields");
    };
    let mut fields = Fields::of(paragraph);
    let mut notes = Vec::new();

    // The tarballs: named, or found among the sources.
    let names = dir.names()?;
    let mut tarfile = fields.truthy("DEBTRANSFORM-TAR").map(str::to_string);
    let mut debtars: Vec<String> = fields
        .truthy("DEBTRANSFORM-FILES-TAR")
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    if tarfile.is_none() || debtars.is_empty() {
        let tars: Vec<&String> = names.iter().filter(|n| looks_like_tarball(n)).collect();
        let debian_tars: Vec<&String> = tars
            .iter()
            .copied()
            .filter(|n| is_debian_tarball(n))
            .collect();
        if tarfile.is_none() {
            let upstream: Vec<&String> = tars
                .iter()
                .copied()
                .filter(|n| !is_debian_tarball(n) && !debtars.contains(n))
                .collect();
            match upstream.as_slice() {
                [] => bail!(
                    "{dsc}: no DEBTRANSFORM-TAR and no file in the sources looks like a source tarball"
                ),
                [one] => tarfile = Some(one.to_string()),
                more => bail!(
                    "{dsc}: no DEBTRANSFORM-TAR and more than one file looks like a source tarball: {}",
                    more.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            }
        }
        if fields.get("DEBTRANSFORM-FILES-TAR").is_none() {
            match debian_tars.as_slice() {
                [] => {}
                [one] => debtars = vec![one.to_string()],
                _ => bail!("{dsc}: more than one debian archive in the sources"),
            }
        }
    }
    let tarfile = tarfile.expect("chosen above");
    plain_name(&tarfile).map_err(|e| anyhow!("{dsc}: DEBTRANSFORM-TAR {tarfile}: {e}"))?;
    for t in &debtars {
        plain_name(t).map_err(|e| anyhow!("{dsc}: DEBTRANSFORM-FILES-TAR {t}: {e}"))?;
    }

    // Name and version of the result.
    let name = fields
        .get("SOURCE")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| anyhow!("{dsc}: no Source field"))?
        .to_string();
    if !valid_source_name(&name) {
        bail!("{dsc}: Source {name}: not a Debian source package name");
    }
    let original_version = fields
        .get("VERSION")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| anyhow!("{dsc}: no Version field"))?
        .to_string();
    if !original_version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c))
        || !original_version.starts_with(|c: char| c.is_ascii_digit())
    {
        bail!("{dsc}: Version {original_version}: not a Debian version");
    }
    // No epoch, always a Debian revision (a 1.0 non-native package).
    let mut version = match original_version.split_once(':') {
        Some((epoch, rest)) if epoch.chars().all(|c| c.is_ascii_digit()) => rest.to_string(),
        _ => original_version.clone(),
    };
    if version.contains(':') {
        bail!("{dsc}: Version {original_version}: not a Debian version");
    }
    if !version.contains('-') {
        version.push_str("-1");
    }
    if fields.truthy("DEBTRANSFORM-RELEASE").is_some()
        && let Some(release) = options.release.as_deref().filter(|r| truthy(r))
    {
        version = format!("{version}+{release}");
    }
    if version != original_version {
        notes.push(format!(
            "debtransform: version {original_version} becomes {version}"
        ));
    }
    fields.set("VERSION", version.clone());
    let upstream_version = match version.rfind('-') {
        Some(i) => &version[..i],
        None => version.as_str(),
    };

    // The upstream tarball, as a gzip or plain tarball (what a 1.0 package may hold).
    let source_tar = dir.open(&tarfile)?;
    let (tarname, converted) = if let Some(stem) = tarfile.strip_suffix(".tgz") {
        (format!("{stem}.tar.gz"), false)
    } else if tarfile.contains(".tar.xz") {
        (tarfile.replacen(".tar.xz", ".tar.gz", 1), true)
    } else if tarfile.contains(".tar.bz2") || tarfile.contains(".zip") {
        bail!(
            "{dsc}: {tarfile}: bzip2 and zip source archives are not supported (use .tar.gz or .tar.xz)"
        );
    } else {
        (tarfile.clone(), false)
    };
    let Some(ext_at) = tarname.rfind(".tar") else {
        bail!("{dsc}: {tarfile}: not a tarball name (.tar, .tar.gz, .tgz, .tar.xz)");
    };
    let orig_name = format!("{name}_{upstream_version}.orig{}", &tarname[ext_at..]);
    let tardir = {
        let t = tarname.replacen(".orig.tar", ".tar", 1);
        let cut = t.find(".tar").expect("has .tar");
        t[..cut].to_string()
    };
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let orig_path = out.join(&orig_name);
    let mut orig_out = File::options()
        .write(true)
        .create_new(true)
        .open(&orig_path)
        .with_context(|| format!("cannot create {}", orig_path.display()))?;
    if converted {
        let mut plain = super::compress::Limited::new(
            super::compress::decompress(source_tar).map_err(|e| anyhow!("{tarfile}: {e}"))?,
            MAX_EXPANDED,
            "an expanded source tarball",
        );
        let mut gz = flate2::write::GzEncoder::new(&mut orig_out, flate2::Compression::default());
        std::io::copy(&mut plain, &mut gz).map_err(|e| anyhow!("{tarfile}: {e}"))?;
        gz.finish()?;
        notes.push(format!(
            "debtransform: {tarfile} recompressed as {orig_name}"
        ));
    } else {
        let mut limited = source_tar.take(MAX_EXPANDED + 1);
        let n = std::io::copy(&mut limited, &mut orig_out)?;
        if n > MAX_EXPANDED {
            bail!("{tarfile}: larger than {MAX_EXPANDED} bytes");
        }
        notes.push(format!("debtransform: {tarfile} is {orig_name}"));
    }
    drop(orig_out);
    let mut files = vec![Sums::of_file(&orig_path, &orig_name)?];

    // The diff: what creates the Debian files and the patches, in debtransform's order.
    let mut sections: Vec<Section> = Vec::new();
    if let Some(list) = fields.truthy("DEBTRANSFORM-FILES") {
        for file in list.split_whitespace() {
            plain_name(file).map_err(|e| anyhow!("{dsc}: DEBTRANSFORM-FILES {file}: {e}"))?;
            sections.push(Section::new(
                &tardir,
                file,
                chomped_lines(&dir.read(file, MAX_FILE)?),
            ));
        }
    }
    // Members of the debian tarballs; a name in several tarballs comes from the last.
    let mut members: Vec<(String, Vec<Member>)> = Vec::new();
    for debtar in &debtars {
        let listed = read_debian_tarball(&dir, debtar)?;
        for (member, _) in &listed {
            if names.iter().any(|n| n == &format!("debian.{member}")) {
                bail!(
                    "{debtar}: {member} is both in the debian archive and a debian.{member} file of the sources"
                );
            }
        }
        members.push((debtar.clone(), listed));
    }
    for (i, (_, listed)) in members.iter().enumerate() {
        for (member, content) in listed {
            let later = members[i + 1..]
                .iter()
                .any(|(_, l)| l.iter().any(|(m, _)| m == member));
            if !later {
                sections.push(Section::new(
                    &tardir,
                    &format!("debian/{member}"),
                    split_lines(content),
                ));
            }
        }
    }
    for file in &names {
        let Some(rest) = file.strip_prefix("debian.") else {
            continue;
        };
        if file == "debian.series" || file.ends_with(".tar") || file.contains(".tar.") {
            continue;
        }
        if rest.is_empty() {
            bail!("{file}: names no file of debian/");
        }
        sections.push(Section::new(
            &tardir,
            &format!("debian/{rest}"),
            chomped_lines(&dir.read(file, MAX_FILE)?),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for s in &sections {
        if !seen.insert(s.path.clone()) {
            bail!("{dsc}: {} is given twice by the layout", s.path);
        }
    }
    let changelog = format!("{tardir}/debian/changelog");
    for s in &mut sections {
        if s.new_name == changelog {
            s.lines = with_version_entry(std::mem::take(&mut s.lines), &version, &options.date)
                .map_err(|e| anyhow!("{}: {e}", s.path))?;
        }
    }
    // What the upstream tarball already has of the same names: replaced, not created.
    let wanted: std::collections::HashMap<String, usize> = sections
        .iter()
        .enumerate()
        .map(|(i, s)| (s.new_name.clone(), i))
        .collect();
    let mut old = OldContent {
        wanted: &wanted,
        found: vec![None; sections.len()],
        members: 0,
        has: Default::default(),
    };
    let reader = File::open(&orig_path)?;
    read_tarball(
        reader,
        &orig_name,
        MAX_EXPANDED,
        "an expanded source tarball",
        &mut old,
    )?;
    let found = old.found;
    for needed in ["control", "changelog"] {
        let path = format!("debian/{needed}");
        if !sections.iter().any(|s| s.path == path) && !old.has.contains(&path) {
            bail!(
                "{dsc}: no {path}: no debian.{needed} file, no member of a debian archive and none in {tarfile}"
            );
        }
    }

    let mut diff = Vec::new();
    for (s, old) in sections.iter().zip(found) {
        s.write(old.as_deref(), &mut diff);
        if diff.len() as u64 > MAX_DIFF {
            bail!("{dsc}: the diff grows larger than {MAX_DIFF} bytes");
        }
    }
    let series = match fields.truthy("DEBTRANSFORM-SERIES") {
        Some(series) => {
            plain_name(series).map_err(|e| anyhow!("{dsc}: DEBTRANSFORM-SERIES {series}: {e}"))?;
            Some(series.to_string())
        }
        None => ["debian.series", "patches.series"]
            .into_iter()
            .find(|s| names.iter().any(|n| n == s))
            .map(str::to_string),
    };
    if let Some(series) = &series {
        append_series(&dir, series, &tardir, &mut diff)?;
        if diff.len() as u64 > MAX_DIFF {
            bail!("{dsc}: the diff grows larger than {MAX_DIFF} bytes");
        }
        notes.push(format!("debtransform: patches of {series} applied"));
    }
    if !diff.is_empty() {
        let diff_name = format!("{name}_{version}.diff.gz");
        let path = out.join(&diff_name);
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut gz = flate2::GzBuilder::new()
            .operating_system(3)
            .write(file, flate2::Compression::best());
        gz.write_all(&diff)?;
        gz.finish()?;
        files.push(Sums::of_file(&path, &diff_name)?);
    }

    fields.set("FORMAT", "1.0".to_string());
    let list = |f: fn(&Sums) -> &str| -> String {
        files
            .iter()
            .map(|s| format!("\n{} {} {}", f(s), s.size, s.name))
            .collect()
    };
    fields.set("CHECKSUMS-SHA1", list(|s| &s.sha1));
    fields.set("CHECKSUMS-SHA256", list(|s| &s.sha256));
    fields.set("FILES", list(|s| &s.md5));
    for tag in TRANSFORM_TAGS {
        fields.remove(tag);
    }
    let new_dsc = format!("{name}_{version}.dsc");
    let path = out.join(&new_dsc);
    std::fs::write(&path, fields.render())
        .with_context(|| format!("cannot write {}", path.display()))?;
    notes.push(format!(
        "debtransform: {dsc} made into {new_dsc} (source archive {tarfile}{})",
        if debtars.is_empty() {
            String::new()
        } else {
            format!(", debian archives {}", debtars.join(" "))
        }
    ));
    Ok(Transformed {
        dsc: new_dsc,
        notes,
    })
}

/// A `.dsc`'s fields in file order; tags compare case-insensitively, a later one of the
/// same tag gives the value for both.
struct Fields {
    order: Vec<String>,
    values: std::collections::HashMap<String, Option<String>>,
}

impl Fields {
    fn of(paragraph: &deb822::Paragraph) -> Fields {
        let mut fields = Fields {
            order: Vec::new(),
            values: Default::default(),
        };
        for (tag, value) in &paragraph.fields {
            fields.order.push(tag.to_string());
            fields
                .values
                .insert(tag.to_ascii_uppercase(), Some(value.trim().to_string()));
        }
        fields
    }

    fn get(&self, tag: &str) -> Option<&str> {
        self.values.get(tag).and_then(|v| v.as_deref())
    }

    /// The value when it is one in Perl's sense (debtransform's): not empty, not `0`.
    fn truthy(&self, tag: &str) -> Option<&str> {
        self.get(tag).filter(|v| truthy(v))
    }

    fn set(&mut self, tag: &str, value: String) {
        self.values.insert(tag.to_string(), Some(value));
    }

    fn remove(&mut self, tag: &str) {
        self.values.insert(tag.to_string(), None);
    }

    /// The paragraph: the tags in their order, then new ones (sorted, spelled
    /// `Checksums-Sha1`), a value starting on a new line as a list.
    fn render(&self) -> String {
        let mut order = self.order.clone();
        let known: std::collections::HashSet<String> =
            order.iter().map(|t| t.to_ascii_uppercase()).collect();
        let mut new: Vec<&String> = self
            .values
            .iter()
            .filter(|(k, v)| v.is_some() && !known.contains(*k))
            .map(|(k, _)| k)
            .collect();
        new.sort();
        for tag in new {
            let camel: String = tag
                .split('-')
                .map(|w| {
                    let lower = w.to_ascii_lowercase();
                    let mut c = lower.chars();
                    match c.next() {
                        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                        None => String::new(),
                    }
                })
                .collect::<Vec<_>>()
                .join("-");
            order.push(camel);
        }
        let mut out = String::new();
        for tag in order {
            let Some(Some(value)) = self.values.get(&tag.to_ascii_uppercase()) else {
                continue;
            };
            let value = value.replace('\n', "\n ");
            if value.starts_with('\n') {
                out.push_str(&format!("{tag}:{value}\n"));
            } else {
                out.push_str(&format!("{tag}: {value}\n"));
            }
        }
        out.push('\n');
        out
    }
}

fn truthy(value: &str) -> bool {
    !value.is_empty() && value != "0"
}

fn valid_source_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-".contains(c))
}

/// A name of a file in the sources directory: no directory, no parent, not hidden.
fn plain_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') || name.contains('\0') {
        bail!("not a plain file name of the sources directory");
    }
    Ok(())
}

/// A name debtransform takes for a tarball.
fn looks_like_tarball(name: &str) -> bool {
    name.ends_with(".tgz")
        || [".tar", ".tar.gz", ".tar.bz2", ".tar.xz"]
            .iter()
            .any(|e| name.ends_with(e))
}

fn is_debian_tarball(name: &str) -> bool {
    [
        "debian.tar",
        "debian.tar.gz",
        "debian.tar.bz2",
        "debian.tar.xz",
    ]
    .contains(&name)
}

/// The sources directory; files are opened without following links.
struct SourceDir<'a> {
    path: &'a Path,
}

impl<'a> SourceDir<'a> {
    fn new(path: &'a Path) -> Result<SourceDir<'a>> {
        if !path.is_dir() {
            bail!("{}: not a directory", path.display());
        }
        Ok(SourceDir { path })
    }

    /// The names of the regular files (sorted; other names are not listed).
    fn names(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(self.path)
            .with_context(|| format!("cannot read {}", self.path.display()))?
        {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn open(&self, name: &str) -> Result<File> {
        plain_name(name).map_err(|e| anyhow!("{name}: {e}"))?;
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(self.path.join(name))
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => anyhow!("{name}: a link, not a file"),
                Some(libc::ENOENT) => anyhow!("{name}: no such file in the sources"),
                _ => anyhow!("{name}: cannot open: {e}"),
            })?;
        if !file.metadata()?.is_file() {
            bail!("{name}: not a regular file");
        }
        Ok(file)
    }

    fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>> {
        match crate::io::read_at_most(self.open(name)?, limit)? {
            Some(data) => Ok(data),
            None => bail!("{name}: larger than {limit} bytes"),
        }
    }
}

/// Sizes and digests of a file of the result.
struct Sums {
    name: String,
    size: u64,
    md5: String,
    sha1: String,
    sha256: String,
}

impl Sums {
    fn of_file(path: &Path, name: &str) -> Result<Sums> {
        let mut file = File::open(path)?;
        let mut md5 = md5::Md5::new();
        let mut sha1 = sha1::Sha1::new();
        let mut sha256 = sha2::Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
            sha1.update(&buf[..n]);
            sha256.update(&buf[..n]);
            size += n as u64;
        }
        Ok(Sums {
            name: name.to_string(),
            size,
            md5: hex::encode(md5.finalize()),
            sha1: hex::encode(sha1.finalize()),
            sha256: hex::encode(sha256.finalize()),
        })
    }
}

/// A file the diff creates (or replaces) below the tree.
struct Section {
    /// The path below the tree, for messages (`debian/control`).
    path: String,
    old_name: String,
    new_name: String,
    lines: Vec<Vec<u8>>,
}

impl Section {
    fn new(tardir: &str, path: &str, lines: Vec<Vec<u8>>) -> Section {
        Section {
            path: path.to_string(),
            old_name: format!("{tardir}.orig/{path}"),
            new_name: format!("{tardir}/{path}"),
            lines,
        }
    }

    /// The section as a unified diff: the old content (if the upstream tarball has the
    /// file) replaced by the new. An empty file makes no section.
    fn write(&self, old: Option<&[Vec<u8>]>, diff: &mut Vec<u8>) {
        if self.lines.is_empty() {
            return;
        }
        diff.extend_from_slice(
            format!("--- {}\n+++ {}\n", self.old_name, self.new_name).as_bytes(),
        );
        match old {
            Some(old) if !old.is_empty() => {
                diff.extend_from_slice(
                    format!("@@ -1,{} +1,{} @@\n", old.len(), self.lines.len()).as_bytes(),
                );
                for line in old {
                    diff.push(b'-');
                    diff.extend_from_slice(line);
                    diff.push(b'\n');
                }
            }
            _ => diff.extend_from_slice(format!("@@ -0,0 +1,{} @@\n", self.lines.len()).as_bytes()),
        }
        for line in &self.lines {
            diff.push(b'+');
            diff.extend_from_slice(line);
            diff.push(b'\n');
        }
    }
}

/// A file's lines as a line reader gives them: a last line without newline counts, a
/// final newline starts no line.
fn chomped_lines(data: &[u8]) -> Vec<Vec<u8>> {
    if data.is_empty() {
        return Vec::new();
    }
    let data = data.strip_suffix(b"\n").unwrap_or(data);
    data.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
}

/// A tarball member's lines as debtransform splits them: trailing empty lines are dropped.
fn split_lines(data: &[u8]) -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = data.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// A changelog whose first entry is not of `version` gets an entry that is.
fn with_version_entry(lines: Vec<Vec<u8>>, version: &str, date: &str) -> Result<Vec<Vec<u8>>> {
    let Some(first) = lines.first() else {
        bail!("an empty changelog");
    };
    let first = String::from_utf8_lossy(first).into_owned();
    let current = match (first.rfind(')'), first.find('(')) {
        (Some(close), Some(_)) => match first[..close].rfind('(') {
            Some(open) => &first[open + 1..close],
            None => first.as_str(),
        },
        _ => first.as_str(),
    };
    if current == version {
        return Ok(lines);
    }
    let heading = match (first.find('('), first.rfind(')')) {
        (Some(open), Some(close)) if open < close => {
            format!("{}({version}){}", &first[..open], &first[close + 1..])
        }
        _ => first.clone(),
    };
    let mut out: Vec<Vec<u8>> = [
        heading.as_str(),
        "",
        "  * version number update by debtransform",
        "",
        &format!(" -- debtransform <build@opensuse.org>  {date}"),
        "",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    out.extend(lines);
    Ok(out)
}

/// Feeds the members of the (compressed) tarball `file`, called `name`, to `sink`, reading
/// at most `limit` bytes out of it (`what` names the limit).
fn read_tarball(
    file: File,
    name: &str,
    limit: u64,
    what: &'static str,
    sink: &mut dyn Sink,
) -> Result<()> {
    let plain = super::compress::decompress(file).map_err(|e| anyhow!("{name}: {e}"))?;
    read_tar(
        super::compress::Limited::new(plain, limit, what),
        sink,
        Whiteouts::Keep,
        name,
    )
}

/// A member of a debian tarball: its name below `debian/` and its content.
type Member = (String, Vec<u8>);

/// The members of a debian tarball: regular files, named below `debian/` (a leading `./`
/// and `debian/` taken off), with their content.
fn read_debian_tarball(dir: &SourceDir, name: &str) -> Result<Vec<Member>> {
    struct Members<'n> {
        tar: &'n str,
        out: Vec<Member>,
    }
    impl Sink for Members<'_> {
        fn entry(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<()> {
            let tar = self.tar;
            let shown = entry.display();
            match entry.kind {
                EntryKind::Dir => Ok(()),
                EntryKind::File { size } => {
                    if self.out.len() >= MAX_MEMBERS {
                        bail!("{tar}: more than {MAX_MEMBERS} members");
                    }
                    if size > MAX_FILE {
                        bail!("{tar}: {shown}: larger than {MAX_FILE} bytes");
                    }
                    let name = std::str::from_utf8(&entry.path)
                        .map_err(|_| anyhow!("{tar}: {shown}: not a UTF-8 name"))?;
                    let name = name.strip_prefix("./").unwrap_or(name);
                    let name = name.strip_prefix("debian/").unwrap_or(name);
                    if name.is_empty()
                        || name.starts_with('/')
                        || name
                            .split('/')
                            .any(|c| c.is_empty() || c == "." || c == "..")
                    {
                        bail!("{tar}: {shown}: a member name outside debian/");
                    }
                    let mut content = Vec::with_capacity(size as usize);
                    data.take(size).read_to_end(&mut content)?;
                    if content.len() as u64 != size {
                        bail!("{tar}: {shown}: truncated");
                    }
                    self.out.push((name.to_string(), content));
                    Ok(())
                }
                EntryKind::Symlink { .. } | EntryKind::HardLink { .. } => {
                    bail!("{tar}: {shown}: a link (debian archives hold regular files only)")
                }
                _ => bail!("{tar}: {shown}: not a regular file"),
            }
        }
    }
    let file = dir.open(name)?;
    let mut sink = Members {
        tar: name,
        out: Vec::new(),
    };
    read_tarball(
        file,
        name,
        MAX_FILE * 4,
        "an expanded debian archive",
        &mut sink,
    )?;
    Ok(sink.out)
}

/// Collects from the upstream tarball the content of the files the diff creates.
struct OldContent<'w> {
    wanted: &'w std::collections::HashMap<String, usize>,
    found: Vec<Option<Vec<Vec<u8>>>>,
    members: usize,
    /// Which of `debian/control` and `debian/changelog` the tarball has (below its top
    /// directory, whatever that is named).
    has: std::collections::HashSet<String>,
}

impl Sink for OldContent<'_> {
    fn entry(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<()> {
        self.members += 1;
        if self.members > MAX_MEMBERS {
            bail!("more than {MAX_MEMBERS} members");
        }
        let EntryKind::File { size } = entry.kind else {
            return Ok(());
        };
        let path = entry.path.strip_prefix(b"./").unwrap_or(&entry.path);
        if let Some(i) = path.iter().position(|&b| b == b'/') {
            for known in ["debian/control", "debian/changelog"] {
                if &path[i + 1..] == known.as_bytes() {
                    self.has.insert(known.to_string());
                }
            }
        }
        let index = std::str::from_utf8(path)
            .ok()
            .and_then(|p| self.wanted.get(p).copied())
            .filter(|&i| self.found[i].is_none());
        match index {
            Some(i) if size <= MAX_FILE => {
                let mut content = Vec::new();
                data.take(size).read_to_end(&mut content)?;
                self.found[i] = Some(split_lines(&content));
            }
            Some(_) => bail!("{}: larger than {MAX_FILE} bytes", entry.display()),
            None => {
                std::io::copy(&mut data.take(size), &mut std::io::sink())?;
            }
        }
        Ok(())
    }
}

/// The patches a series file names, their file names made relative to the tree.
fn append_series(dir: &SourceDir, series: &str, tardir: &str, diff: &mut Vec<u8>) -> Result<()> {
    let text = dir.read(series, MAX_FILE)?;
    for raw in chomped_lines(&text) {
        let line = String::from_utf8(raw).map_err(|_| anyhow!("{series}: not UTF-8 text"))?;
        // A comment: `#` at the start or after white space.
        let line = match line
            .char_indices()
            .find(|&(i, c)| c == '#' && (i == 0 || line[..i].ends_with(char::is_whitespace)))
        {
            Some((i, _)) => line[..i].trim_end().to_string(),
            None => line,
        };
        if line.trim().is_empty() {
            continue;
        }
        let level = strip_level(&line);
        let patch = line.split(char::is_whitespace).next().unwrap_or("");
        plain_name(patch).map_err(|e| anyhow!("{series}: patch {patch:?}: {e}"))?;
        let content = dir.read(patch, MAX_FILE)?;
        for l in chomped_lines(&content) {
            let header = (l.starts_with(b"--- ") || l.starts_with(b"+++ "))
                && l.len() > 4
                && !l[3..].starts_with(b" /dev/null");
            if header {
                let mut rest: &[u8] = &l[4..];
                for _ in 0..level {
                    match rest.iter().position(|&b| b == b'/') {
                        Some(i) => rest = &rest[i + 1..],
                        None => break,
                    }
                }
                diff.extend_from_slice(&l[..4]);
                diff.extend_from_slice(tardir.as_bytes());
                if l.starts_with(b"--- ") {
                    diff.extend_from_slice(b".orig");
                }
                diff.push(b'/');
                diff.extend_from_slice(rest);
            } else {
                diff.extend_from_slice(&l);
            }
            diff.push(b'\n');
        }
        if diff.len() as u64 > MAX_DIFF {
            bail!("{series}: the patches make a diff larger than {MAX_DIFF} bytes");
        }
    }
    Ok(())
}

/// A series line's `-pN` (after the patch name): 1 when it has none.
fn strip_level(line: &str) -> usize {
    let Some(space) = line.find(char::is_whitespace) else {
        return 1;
    };
    let options = &line[space..];
    let mut level = 1;
    let mut at = 0;
    while let Some(i) = options[at..].find("-p") {
        let after = options[at + i + 2..].trim_start();
        let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(n) = digits.parse() {
            level = n;
        }
        at += i + 2;
    }
    level
}
