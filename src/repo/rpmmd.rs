//! rpm-md repositories: `repodata/repomd.xml` points at `primary.xml`, which describes every
//! package with its dependencies and the file paths others may require.
//!
//! Only the requested architecture and `noarch` are kept: an `x86_64` job does not get
//! `i686` packages (OBS builds biarch sets through baselibs, not by mixing repositories).

use std::path::Path;

use anyhow::{Context, Result, bail};
use quick_xml::Reader;
use quick_xml::events::Event;

use super::budget::{IndexBudget, Relations};
use super::index_cache::IndexEntry;
use super::source::{Location, Source};
use super::{Checksum, Format, Op, PackageMeta, Relation};
// Attributes by local name (`rpm:flags` and `flags` alike), unescaped.
use crate::xmltree::attrs;

/// Where `repomd.xml` says the primary metadata is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryRef {
    /// Relative to the repository base (`repodata/…-primary.xml.zst`).
    pub href: String,
    pub checksum: Checksum,
    /// Size of the (compressed) file; 0 when not given.
    pub size: u64,
    /// The uncompressed primary's sum and size (`open-checksum`, `open-size`; size 0 when
    /// not given), when `repomd.xml` has them: the name it is kept under in the cache.
    pub open: Option<IndexEntry>,
}

fn xml_err(what: &Location, reader_pos: u64, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{what}: broken XML near byte {reader_pos}: {e}")
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Parses `repomd.xml` and returns the primary metadata's reference.
pub fn parse_repomd(xml: &[u8], what: &Location) -> Result<PrimaryRef> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut depth = 0usize;
    let mut in_primary = false;
    let mut in_checksum: Option<String> = None;
    let mut in_open_checksum: Option<String> = None;
    let mut in_size = false;
    let mut in_open_size = false;
    let mut text = String::new();
    let (mut href, mut checksum, mut size) = (None, None, 0u64);
    let (mut open_checksum, mut open_size) = (None, 0u64);
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_err(what, reader.error_position(), e))?;
        let empty = matches!(ev, Event::Empty(_));
        match ev {
            Event::Start(e) | Event::Empty(e) => {
                if !empty {
                    depth += 1;
                }
                let a = attrs(&e).map_err(|err| xml_err(what, reader.error_position(), err))?;
                match e.local_name().as_ref() {
                    b"data" => in_primary = attr(&a, "type") == Some("primary"),
                    b"checksum" if in_primary && !empty => {
                        in_checksum = Some(attr(&a, "type").unwrap_or("sha256").to_string());
                        text.clear();
                    }
                    b"open-checksum" if in_primary && !empty => {
                        in_open_checksum = Some(attr(&a, "type").unwrap_or("sha256").to_string());
                        text.clear();
                    }
                    b"size" if in_primary && !empty => {
                        in_size = true;
                        text.clear();
                    }
                    b"open-size" if in_primary && !empty => {
                        in_open_size = true;
                        text.clear();
                    }
                    b"location" if in_primary => href = attr(&a, "href").map(str::to_string),
                    _ => {}
                }
            }
            Event::Text(t)
                if in_checksum.is_some()
                    || in_size
                    || in_open_checksum.is_some()
                    || in_open_size =>
            {
                let pos = reader.buffer_position();
                text.push_str(&t.decode().map_err(|e| xml_err(what, pos, e))?);
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                match e.local_name().as_ref() {
                    b"data" => in_primary = false,
                    b"checksum" => {
                        if let Some(algo) = in_checksum.take() {
                            checksum = Some(Checksum {
                                algo: normalize_algo(&algo),
                                hex: text.trim().to_ascii_lowercase(),
                            });
                        }
                    }
                    b"open-checksum" => {
                        if let Some(algo) = in_open_checksum.take() {
                            open_checksum = Some(Checksum {
                                algo: normalize_algo(&algo),
                                hex: text.trim().to_ascii_lowercase(),
                            });
                        }
                    }
                    b"size" if in_size => {
                        in_size = false;
                        size = text
                            .trim()
                            .parse()
                            .with_context(|| format!("{what}: bad <size> `{}`", text.trim()))?;
                    }
                    b"open-size" if in_open_size => {
                        in_open_size = false;
                        open_size = text.trim().parse().with_context(|| {
                            format!("{what}: bad <open-size> `{}`", text.trim())
                        })?;
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if depth > 0 {
        bail!("{what}: broken XML: file ends inside an element");
    }
    let (Some(href), Some(checksum)) = (href, checksum) else {
        bail!("{what}: no <data type=\"primary\"> with a <location> and a <checksum>");
    };
    Ok(PrimaryRef {
        href,
        checksum,
        size,
        open: open_checksum.map(|checksum| IndexEntry {
            size: open_size,
            checksum,
        }),
    })
}

/// createrepo writes `sha` for SHA-1; the rest are already lower-case names.
fn normalize_algo(algo: &str) -> String {
    match algo.to_ascii_lowercase().as_str() {
        "sha" => "sha1".to_string(),
        other => other.to_string(),
    }
}

/// `[epoch:]ver-rel`, the epoch left out when it is 0 or absent.
fn evr(epoch: Option<&str>, ver: &str, rel: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(e) = epoch.filter(|e| !e.is_empty() && *e != "0") {
        s.push_str(e);
        s.push(':');
    }
    s.push_str(ver);
    if let Some(r) = rel.filter(|r| !r.is_empty()) {
        s.push('-');
        s.push_str(r);
    }
    s
}

/// An `<rpm:entry name flags epoch ver rel>`.
fn entry_relation(a: &[(String, String)]) -> Result<Relation> {
    let name = attr(a, "name")
        .filter(|n| !n.is_empty())
        .context("<entry> without a name")?;
    let version = match attr(a, "flags") {
        None => None,
        Some(flags) => {
            let op = match flags {
                "EQ" => Op::Eq,
                "LT" => Op::Lt,
                "LE" => Op::Le,
                "GT" => Op::Gt,
                "GE" => Op::Ge,
                other => bail!("<entry name=\"{name}\">: unknown flags `{other}`"),
            };
            let ver = attr(a, "ver").with_context(|| {
                format!("<entry name=\"{name}\" flags=\"{flags}\"> without ver")
            })?;
            Some((op, evr(attr(a, "epoch"), ver, attr(a, "rel"))))
        }
    };
    Ok(Relation {
        name: name.into(),
        version: version.map(|(op, v)| (op, v.into())),
    })
}

#[derive(Clone, Copy, PartialEq)]
enum TextField {
    None,
    Name,
    Arch,
    Checksum,
    File,
}

#[derive(Clone, Copy, PartialEq)]
enum RelField {
    None,
    Provides,
    Requires,
    Conflicts,
    Obsoletes,
}

#[derive(Default)]
struct Pkg {
    name: String,
    arch: String,
    version: Option<String>,
    checksum_algo: String,
    checksum: Option<Checksum>,
    size: u64,
    location: Option<String>,
    provides: Vec<Relation>,
    depends: Vec<Vec<Relation>>,
    conflicts: Vec<Relation>,
    files: Vec<String>,
}

impl Pkg {
    /// The lengths of the strings the package keeps besides its relations and files.
    fn strings(&self) -> [usize; 6] {
        let checksum = self.checksum.as_ref();
        [
            self.name.len(),
            self.arch.len(),
            self.version.as_ref().map_or(0, String::len),
            self.location.as_ref().map_or(0, String::len),
            checksum.map_or(0, |c| c.algo.len()),
            checksum.map_or(0, |c| c.hex.len()),
        ]
    }

    fn finish(self, repo: usize) -> Result<PackageMeta> {
        if self.name.is_empty() {
            bail!("a <package> without <name>");
        }
        crate::names::rpm_package(&self.name)?;
        let name = self.name;
        let ctx = |what: &str| format!("package `{name}`: no {what}");
        if let Some(version) = &self.version {
            // `[epoch:]version-release`: each part by rpm's rules.
            let (_, evr) = version.split_once(':').unwrap_or(("", version));
            let (ver, rel) = evr.rsplit_once('-').unwrap_or((evr, ""));
            crate::names::rpm_version("Version", ver)
                .with_context(|| format!("package `{name}`"))?;
            if !rel.is_empty() {
                crate::names::rpm_version("Release", rel)
                    .with_context(|| format!("package `{name}`"))?;
            }
        }
        if !self.arch.is_empty() {
            crate::names::arch(&self.arch).with_context(|| format!("package `{name}`"))?;
        }
        Ok(PackageMeta {
            format: Format::Rpm,
            version: self.version.with_context(|| ctx("<version ver=…>"))?,
            location: self.location.with_context(|| ctx("<location href=…>"))?,
            arch: if self.arch.is_empty() {
                bail!(ctx("<arch>"))
            } else {
                self.arch
            },
            name,
            // Held for the whole resolution: without the room their growth left.
            depends: exact(self.depends),
            provides: exact(self.provides),
            conflicts: exact(self.conflicts),
            files: exact(self.files),
            essential: false,
            priority: String::new(),
            multi_arch: String::new(),
            checksum: self.checksum,
            size: self.size,
            repo,
        })
    }
}

/// The longest tag or text `primary.xml` may hold: the XML reader holds one whole. Real
/// ones are a few KB (a description).
const MAX_MARKUP: u64 = 16 << 20;

/// A reader of XML that fails once more than [`MAX_MARKUP`] bytes passed without a `<` or
/// `>` (quick-xml collects a tag or a text whole, however long).
struct MarkupBounded<R> {
    inner: R,
    /// Bytes since the last `<` or `>`.
    run: u64,
    /// The longest run seen.
    longest: u64,
}

impl<R> MarkupBounded<R> {
    fn new(inner: R) -> Self {
        MarkupBounded {
            inner,
            run: 0,
            longest: 0,
        }
    }
}

impl<R: std::io::BufRead> std::io::Read for MarkupBounded<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = std::io::Read::read(&mut std::io::BufRead::fill_buf(self)?, out)?;
        std::io::BufRead::consume(self, n);
        Ok(n)
    }
}

impl<R: std::io::BufRead> std::io::BufRead for MarkupBounded<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.longest > MAX_MARKUP {
            return Err(std::io::Error::other(format!(
                "a tag or text longer than {} MiB",
                MAX_MARKUP >> 20
            )));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let mut runs = buf[..n.min(buf.len())].split(|&b| b == b'<' || b == b'>');
            self.run += runs.next().map_or(0, <[u8]>::len) as u64;
            for run in runs {
                self.longest = self.longest.max(self.run);
                self.run = run.len() as u64;
            }
            self.longest = self.longest.max(self.run);
        }
        self.inner.consume(n);
    }
}

/// Stream-parses `primary.xml` (already decompressed), keeping packages whose arch is in
/// `arches`. `what` names the file in errors.
pub fn parse_primary<R: std::io::BufRead>(
    input: R,
    what: &Location,
    arches: &[&str],
    repo: usize,
) -> Result<Vec<PackageMeta>> {
    parse_primary_within(input, what, arches, repo, &IndexBudget::default())
}

/// [`parse_primary`], charging what it keeps to `budget` as it is read (one package may
/// hold any number of entries and files).
pub fn parse_primary_within<R: std::io::BufRead>(
    input: R,
    what: &Location,
    arches: &[&str],
    repo: usize,
    budget: &IndexBudget,
) -> Result<Vec<PackageMeta>> {
    let mut reader = Reader::from_reader(MarkupBounded::new(input));
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut cur: Option<Pkg> = None;
    // What was charged before the current package: a package of another arch is dropped,
    // and what it was charged with it.
    let mut charged_before = budget.saved();
    let mut text_field = TextField::None;
    let mut rel_field = RelField::None;
    let mut text = String::new();
    loop {
        buf.clear();
        let pos = reader.buffer_position();
        if text.len() as u64 > MAX_MARKUP {
            // Pieces of text (CDATA sections, references) joined in one element.
            bail!(xml_err(
                what,
                pos,
                format!("a text longer than {} MiB", MAX_MARKUP >> 20)
            ));
        }
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_err(what, reader.error_position(), e))?;
        let bad = |e: anyhow::Error| xml_err(what, pos, format!("{e:#}"));
        let empty = matches!(ev, Event::Empty(_));
        match ev {
            Event::Start(e) | Event::Empty(e) => {
                if !empty {
                    depth += 1;
                }
                let local = e.local_name();
                let local = local.as_ref();
                if local == b"package" {
                    let a = attrs(&e).map_err(bad)?;
                    // Only binary rpms; other types (if any) are skipped whole.
                    cur = (attr(&a, "type").unwrap_or("rpm") == "rpm").then(Pkg::default);
                    charged_before = budget.saved();
                    continue;
                }
                let Some(pkg) = cur.as_mut() else {
                    continue;
                };
                let start_text = |f: TextField, text: &mut String, tf: &mut TextField| {
                    if !empty {
                        *tf = f;
                        text.clear();
                    }
                };
                match local {
                    b"name" if rel_field == RelField::None => {
                        start_text(TextField::Name, &mut text, &mut text_field)
                    }
                    b"arch" => start_text(TextField::Arch, &mut text, &mut text_field),
                    b"file" => start_text(TextField::File, &mut text, &mut text_field),
                    b"checksum" => {
                        let a = attrs(&e).map_err(bad)?;
                        pkg.checksum_algo = normalize_algo(attr(&a, "type").unwrap_or("sha256"));
                        start_text(TextField::Checksum, &mut text, &mut text_field);
                    }
                    b"version" => {
                        let a = attrs(&e).map_err(bad)?;
                        let ver = attr(&a, "ver")
                            .context("<version> without ver")
                            .map_err(bad)?;
                        pkg.version = Some(evr(attr(&a, "epoch"), ver, attr(&a, "rel")));
                    }
                    b"size" => {
                        let a = attrs(&e).map_err(bad)?;
                        if let Some(s) = attr(&a, "package") {
                            pkg.size = s
                                .parse()
                                .with_context(|| format!("bad <size package=\"{s}\">"))
                                .map_err(bad)?;
                        }
                    }
                    b"location" => {
                        let a = attrs(&e).map_err(bad)?;
                        pkg.location = attr(&a, "href").map(str::to_string);
                    }
                    b"provides" if !empty => rel_field = RelField::Provides,
                    b"requires" if !empty => rel_field = RelField::Requires,
                    b"conflicts" if !empty => rel_field = RelField::Conflicts,
                    b"obsoletes" if !empty => rel_field = RelField::Obsoletes,
                    b"entry" if rel_field != RelField::None => {
                        let a = attrs(&e).map_err(bad)?;
                        let r = entry_relation(&a).map_err(bad)?;
                        let version = r.version.as_ref().map(|(_, v)| v.len());
                        budget.relations(
                            what,
                            Relations {
                                count: 1,
                                versioned: u64::from(version.is_some()),
                                groups: u64::from(rel_field == RelField::Requires),
                                text: (r.name.len() + version.unwrap_or(0)) as u64,
                                indexed: rel_field == RelField::Provides,
                            },
                        )?;
                        match rel_field {
                            RelField::Provides => pkg.provides.push(r),
                            // rpmlib() names features of rpm itself, never a package.
                            // `pre="1"` only orders installation; it is a plain requirement
                            // for resolving.
                            RelField::Requires if r.name.starts_with("rpmlib(") => {}
                            RelField::Requires => pkg.depends.push(vec![r]),
                            RelField::Conflicts | RelField::Obsoletes => pkg.conflicts.push(r),
                            RelField::None => {}
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) if text_field != TextField::None => {
                text.push_str(&t.decode().map_err(|e| bad(e.into()))?);
            }
            Event::CData(t) if text_field != TextField::None => {
                text.push_str(&t.decode().map_err(|e| bad(e.into()))?);
            }
            Event::GeneralRef(r) if text_field != TextField::None => {
                if let Some(c) = r.resolve_char_ref().map_err(|e| bad(e.into()))? {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| bad(e.into()))?;
                    let Some(s) = quick_xml::escape::resolve_predefined_entity(&name) else {
                        return Err(bad(anyhow::anyhow!("unknown entity `&{name};`")));
                    };
                    text.push_str(s);
                }
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                let local = e.local_name();
                match local.as_ref() {
                    b"package" => {
                        if let Some(pkg) = cur.take() {
                            budget.package(what, &pkg.strings())?;
                            let m = pkg.finish(repo).map_err(bad)?;
                            if arches.contains(&m.arch.as_str()) {
                                out.push(m);
                            } else {
                                budget.restore(charged_before);
                            }
                        }
                    }
                    b"provides" | b"requires" | b"conflicts" | b"obsoletes" => {
                        rel_field = RelField::None
                    }
                    _ => {
                        if let Some(pkg) = cur.as_mut() {
                            let value = text.trim().to_string();
                            match text_field {
                                TextField::Name => pkg.name = value,
                                TextField::Arch => pkg.arch = value,
                                TextField::File => {
                                    budget.file(what, value.len())?;
                                    pkg.files.push(value)
                                }
                                TextField::Checksum => {
                                    pkg.checksum = Some(Checksum {
                                        algo: std::mem::take(&mut pkg.checksum_algo),
                                        hex: value.to_ascii_lowercase(),
                                    })
                                }
                                TextField::None => {}
                            }
                        }
                        text_field = TextField::None;
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth > 0 || cur.is_some() {
        bail!("{what}: broken XML: file ends inside an element");
    }
    Ok(out)
}

/// `v` without spare capacity.
fn exact<T>(mut v: Vec<T>) -> Vec<T> {
    v.shrink_to_fit();
    v
}

/// Reads an rpm-md repository for `arch` (RPM or Debian name) plus `noarch`. `indexes`:
/// the cache's directory of decompressed indexes (see [`super::index_cache`]), where a
/// remote repository's primary is kept under its `open-checksum`.
pub fn read_rpmmd(
    source: &Source,
    arch: &super::Arch,
    repo: usize,
    indexes: Option<&Path>,
    budget: &IndexBudget,
) -> Result<Vec<PackageMeta>> {
    let arch = arch.rpm()?;
    let repomd_loc = source.join("repodata/repomd.xml")?;
    let repomd = repomd_loc.read()?;
    let primary = parse_repomd(&repomd, &repomd_loc)?;
    let loc = source.join(&primary.href)?;
    let arches = [arch, "noarch"];
    let keep = match (&loc, &primary.open, indexes) {
        (Location::Url(_), Some(open), Some(dir)) => Some((open, dir)),
        _ => None,
    };
    super::index_cache::read_kept_or_streamed(
        &loc,
        Some(&primary.checksum),
        primary.size,
        keep,
        budget,
        |r| parse_primary_within(r, &loc, &arches, repo, budget),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="3">
<package type="rpm">
  <name>bash</name>
  <arch>x86_64</arch>
  <version epoch="0" ver="5.2.15" rel="1.1"/>
  <checksum type="sha256" pkgid="YES">ABCDEF</checksum>
  <summary>The GNU Bourne Again shell &amp; more</summary>
  <size package="1234" installed="5000" archive="5100"/>
  <location href="x86_64/bash-5.2.15-1.1.x86_64.rpm"/>
  <format>
    <rpm:license>GPL-3.0-or-later</rpm:license>
    <rpm:provides>
      <rpm:entry name="bash" flags="EQ" epoch="0" ver="5.2.15" rel="1.1"/>
      <rpm:entry name="/bin/sh"/>
    </rpm:provides>
    <rpm:requires>
      <rpm:entry name="rpmlib(PayloadIsZstd)" flags="LE" epoch="0" ver="5.4.18" rel="1"/>
      <rpm:entry name="libc.so.6(GLIBC_2.34)(64bit)"/>
      <rpm:entry name="glibc" flags="GE" epoch="1" ver="2.38" pre="1"/>
    </rpm:requires>
    <rpm:conflicts><rpm:entry name="ksh-bash" flags="LT" ver="1"/></rpm:conflicts>
    <rpm:obsoletes><rpm:entry name="bash-old"/></rpm:obsoletes>
    <rpm:suggests><rpm:entry name="bash-doc"/></rpm:suggests>
    <file>/usr/bin/bash</file>
    <file type="dir">/etc/bash&amp;co</file>
  </format>
</package>
<package type="rpm">
  <name>bash-i686</name><arch>i686</arch><version ver="1"/>
  <location href="i686/b.rpm"/><format/>
</package>
<package type="rpm">
  <name>filesystem</name><arch>noarch</arch><version epoch="2" ver="84" rel="8"/>
  <location href="noarch/f.rpm"/><format/>
</package>
</metadata>
"#;

    #[test]
    fn primary() {
        let what = Location::Path("primary.xml".into());
        let p = parse_primary(PRIMARY.as_bytes(), &what, &["x86_64", "noarch"], 7).unwrap();
        assert_eq!(p.len(), 2);
        let b = &p[0];
        assert_eq!(
            (b.name.as_str(), b.version.as_str()),
            ("bash", "5.2.15-1.1")
        );
        assert_eq!(b.arch, "x86_64");
        assert_eq!(b.checksum.as_ref().unwrap().hex, "abcdef");
        assert_eq!((b.size, b.repo), (1234, 7));
        assert_eq!(b.location, "x86_64/bash-5.2.15-1.1.x86_64.rpm");
        assert_eq!(b.provides.len(), 2);
        assert_eq!(b.provides[0].version, Some((Op::Eq, "5.2.15-1.1".into())));
        assert_eq!(b.depends.len(), 2, "rpmlib() dropped");
        assert_eq!(b.depends[1][0].version, Some((Op::Ge, "1:2.38".into())));
        assert_eq!(b.conflicts.len(), 2);
        assert_eq!(b.conflicts[0].version, Some((Op::Lt, "1".into())));
        assert_eq!(b.files, ["/usr/bin/bash", "/etc/bash&co"]);
        assert_eq!(p[1].version, "2:84-8");
    }

    #[test]
    fn broken_primary() {
        let what = Location::Path("/r/primary.xml".into());
        for bad in [
            &PRIMARY[..PRIMARY.len() - 20],
            "<metadata><package type=\"rpm\"><name>a</nam></package></metadata>",
            "<metadata><package type=\"rpm\"><name>a</name></package></metadata>",
        ] {
            let e = format!(
                "{:#}",
                parse_primary(bad.as_bytes(), &what, &["noarch"], 0).unwrap_err()
            );
            assert!(e.starts_with("/r/primary.xml: "), "{e}");
        }
    }

    #[test]
    fn a_primary_is_charged_as_it_is_read_and_its_tags_are_bounded() {
        let what = Location::Path("/r/primary.xml".into());
        let budget = IndexBudget::new(8 << 20);
        let p = parse_primary_within(PRIMARY.as_bytes(), &what, &["x86_64"], 0, &budget).unwrap();
        assert_eq!(p.len(), 1);
        let used = budget.used();
        assert!(used > 1000, "{used}");
        // Packages of other arches are dropped, and so is what they were charged.
        let other = IndexBudget::new(8 << 20);
        parse_primary_within(PRIMARY.as_bytes(), &what, &["s390x"], 0, &other).unwrap();
        assert_eq!(other.used(), 0);
        // One package of 200,000 provides: refused while its entries are read.
        let entries = "<rpm:entry name=\"a\"/>".repeat(200_000);
        let hostile = format!(
            "<metadata><package type=\"rpm\"><name>a</name><arch>noarch</arch>\
             <format><rpm:provides>{entries}</rpm:provides></format></package></metadata>"
        );
        let e = parse_primary_within(hostile.as_bytes(), &what, &["noarch"], 0, &budget)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("repository index /r/primary.xml holds more than")
                && e.ends_with(
                    "over the bound of 8 MiB, which OBSBOX_INDEX_MEMORY sets); refusing it"
                ),
            "{e}"
        );
        // A tag or a text longer than the bound, or one text made of many pieces.
        let name = "a".repeat(MAX_MARKUP as usize + 10);
        for long in [
            format!("<metadata><package type=\"rpm\"><name>{name}</name>"),
            format!("<metadata><package type=\"rpm\"><rpm:entry name=\"{name}\"/>"),
            format!(
                "<metadata><package type=\"rpm\"><name>{}</name>",
                "<![CDATA[aaaaaaaa]]>".repeat(MAX_MARKUP as usize / 8 + 10)
            ),
        ] {
            let e = parse_primary(long.as_bytes(), &what, &["noarch"], 0)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("/r/primary.xml: broken XML near byte")
                    && e.contains("longer than 16 MiB"),
                "{}",
                crate::text::ellipsis(&e, 200)
            );
        }
    }

    #[test]
    fn repomd() {
        let what = Location::Path("repomd.xml".into());
        let xml = br#"<repomd xmlns="http://linux.duke.edu/metadata/repo">
  <data type="other"><checksum type="sha256">11</checksum><location href="repodata/o.xml.gz"/></data>
  <data type="primary"><checksum type="sha256">AB</checksum><open-checksum type="sha256">cd</open-checksum>
   <location href="repodata/p.xml.zst"/><size>42</size><open-size>420</open-size></data>
</repomd>"#;
        let r = parse_repomd(xml, &what).unwrap();
        assert_eq!(r.href, "repodata/p.xml.zst");
        assert_eq!(r.checksum.hex, "ab");
        assert_eq!(r.size, 42);
        let open = r.open.unwrap();
        assert_eq!((open.checksum.hex.as_str(), open.size), ("cd", 420));
        assert!(parse_repomd(b"<repomd></repomd>", &what).is_err());
        assert!(parse_repomd(b"<repomd><data>", &what).is_err());
    }
}
